/*
 * connect: outgoing TCP connections on a worker's loop.  One call walks a
 * list of addresses in order (the targets a resolver found, best first):
 * for each, a non-blocking connect() polled for writability (uv_poll_t on
 * the worker's loop), SO_ERROR for the outcome, and a timer that gives up
 * on that address after `timeout_ms`.  The first address that answers wins
 * and its socket is handed over, ready for conn_new(); when none does, the
 * owner hears that instead.  Either way the owner gets what happened at
 * every address tried (refused, timed out, unreachable, another errno), so
 * that a failed link can say which addresses were tried and how each one
 * failed.
 *
 * It knows nothing of DNS (targets are IP literals), of TLS or of XMPP.
 *
 * Lifetime.  The handle belongs to the worker's thread.  The callback runs
 * exactly once, from the loop (never from inside conn_connect_start),
 * unless the owner cancels first; after conn_connect_cancel() nothing is
 * called any more and every socket and handle is released.  Once the
 * callback has returned, the handle is gone: owners forget it in the
 * callback.  Owners cancel what is in flight when they go away, and at the
 * latest from the worker's on_stop (worker_halt closes every handle of the
 * loop, and a connect still running then would leak).
 */
#ifndef PARLEY_CORE_CONNECT_H
#define PARLEY_CORE_CONNECT_H

#include <stddef.h>
#include <stdint.h>

struct worker;
struct connect;

struct connect_target {
	const char *ip; /* an IPv4 or IPv6 literal, without brackets ("::1") */
	unsigned port;
};

enum connect_result {
	CONNECT_OK = 0,
	CONNECT_REFUSED,     /* ECONNREFUSED: the host answered, nothing listens */
	CONNECT_TIMEOUT,     /* no answer within the timeout (or the kernel's ETIMEDOUT) */
	CONNECT_UNREACHABLE, /* no route, network down, address family unusable */
	CONNECT_ERROR,       /* another errno (EACCES from a firewall rule, EMFILE...) */
	CONNECT_BAD_ADDRESS, /* the target is not an IP literal with a port */
};

/* What happened at one address. */
struct connect_attempt {
	char addr[56];              /* "192.0.2.1:5269" or "[2001:db8::1]:5269" */
	enum connect_result result;
	int err;                    /* the errno behind it; 0 for OK, BAD_ADDRESS and our timeout */
	uint32_t elapsed_ms;        /* from this attempt's connect() to its outcome */
};

/* Every address tried, in order; the last one is the winner on success.
 * Addresses after the winner were not tried and are not listed. */
struct connect_report {
	const struct connect_attempt *attempts;
	size_t n;
	unsigned timeout_ms; /* per address, as used */
};

/*
 * The outcome: `fd` is a connected, non-blocking, close-on-exec socket with
 * TCP_NODELAY that the owner now owns (wrap it with conn_new()), or -1 when
 * no address answered.  `r` and what it points to are valid during the call
 * only.
 */
typedef void connect_cb(void *ud, int fd, const struct connect_report *r);

/* A per-address timeout of 0 means this. */
enum { CONNECT_TIMEOUT_DEFAULT_MS = 10000 };

/*
 * Starts connecting to targets[0], then the next on failure, and so on.
 * The targets are copied (parsed) at once: the array and its strings need
 * not outlive the call.  An empty list, or one whose addresses all fail at
 * once, still reports through the callback from the loop.  Call on w's
 * thread.  Never NULL.
 */
struct connect *conn_connect_start(struct worker *w, const struct connect_target *targets, size_t n,
				   unsigned timeout_ms, connect_cb *cb, void *ud);

/* Stops at once: closes the socket being tried, releases everything (the
 * memory goes once libuv has closed the handles) and never calls back.
 * Accepts NULL.  From inside the callback it does nothing. */
void conn_connect_cancel(struct connect *cn);

/* "refused", "timeout", "unreachable", "error", "bad-address", "ok": for
 * log keys and tests. */
const char *connect_result_name(enum connect_result r);
/* How an errno from connect() or SO_ERROR counts. */
enum connect_result connect_classify(int err);
/* "127.0.0.1:5269 refused", "[::1]:5269 timed out after 5000 ms",
 * "192.0.2.1:5269 unreachable (No route to host)"; returns buf. */
const char *connect_attempt_str(const struct connect_attempt *a, unsigned timeout_ms, char *buf,
				size_t n);
/* Every attempt, "; "-separated ("no address to try" when none), cut
 * short with "..." when buf is too small; returns buf. */
const char *connect_report_str(const struct connect_report *r, char *buf, size_t n);

#endif
