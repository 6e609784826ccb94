/*
 * dns: asynchronous resolution for outgoing server-to-server links, with
 * libunbound, on a worker's libuv loop.
 *
 * One resolver per worker (one ub_ctx each, in libunbound's threaded async
 * mode: its thread does the network work, and the worker's loop polls
 * ub_fd() and runs ub_process(), so every callback runs on the worker's
 * thread).  Workers stay independent: nothing here is shared.
 *
 * dns_resolve_xmpp_server() does what RFC 6120 §3.2 and XEP-0368 ask:
 *   1. `_xmpps-server._tcp.<domain>` (direct TLS) and
 *      `_xmpp-server._tcp.<domain>` (STARTTLS) SRV, in parallel;
 *   2. both record sets merged into one list, ordered by priority and,
 *      within a priority, by RFC 2782's weighted random selection
 *      (dns_srv_order(), with an injectable random source);
 *   3. a single target "." (on every record found) means the service is
 *      decidedly not available: DNS_NO_SERVICE, no fallback;
 *   4. AAAA and A of every target, giving (ip, port, direct_tls) entries in
 *      the SRV order, AAAA before A for each target;
 *   5. when neither SRV has records (NXDOMAIN, no data, or a failure), the
 *      domain's own AAAA and A on port 5269 with STARTTLS.
 * The owner gets the list, ready for core/connect.h (dns_connect_targets()),
 * and a report of every query made and how it ended, for log lines and
 * stable failure codes.
 *
 * Lifetime.  Everything belongs to the loop's thread.  The callback runs
 * exactly once, from the loop (never from inside dns_resolve_xmpp_server),
 * unless the owner cancels first; after dns_resolve_cancel() nothing is
 * called any more.  Once the callback has returned the request is gone.
 * The whole resolution is bounded by its timeout: when it fires, queries
 * still running are cancelled and reported as timed out, and the result
 * holds the addresses found so far (DNS_OK when there are some, else
 * DNS_TIMEOUT).
 * dns_resolver_free() cancels every request still running (no callbacks)
 * and releases the resolver once libuv has closed its handle: run the loop
 * afterwards (the worker does).  Owners free it, at the latest, from the
 * worker's on_stop.
 */
#ifndef PARLEY_DNS_DNS_H
#define PARLEY_DNS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct connect_target;
struct dns_resolver;
struct dns_request;

struct dns_resolver_config {
	/* The resolver to forward every query to: "127.0.0.1@5353",
	 * "::1@53", "192.0.2.53" (port 53).  NULL: the system's
	 * /etc/resolv.conf (and /etc/hosts). */
	const char *forward;
	/* Zones that libunbound would otherwise answer itself (RFC 6761 names
	 * such as "test", "localhost", "invalid" get NXDOMAIN by default):
	 * each becomes `local-zone: "<zone>." transparent` and
	 * `domain-insecure: "<zone>."`, so that the forwarder answers them. */
	const char *const *zones;
	size_t nzones;
};

/* Random source: a uniformly distributed 32-bit value. */
typedef uint32_t dns_random_fn(void *ud);

/*
 * A resolver on `loop`.  With a forwarder, `do-not-query-localhost: no` is
 * set, so that a resolver on loopback is asked at all.  NULL with *err set
 * (free() it) when libunbound refuses the configuration (a bad forwarder
 * address, an unknown zone).
 */
struct dns_resolver *dns_resolver_new(uv_loop_t *loop, const struct dns_resolver_config *cfg,
				      char **err);
/* Replaces the random source of the SRV weighting (default: arc4random). */
void dns_resolver_set_random(struct dns_resolver *r, dns_random_fn *fn, void *ud);
/* Cancels every request (no callback runs) and releases the resolver once
 * the loop has closed its handle.  Accepts NULL.  May be called from a
 * resolution callback. */
void dns_resolver_free(struct dns_resolver *r);

/* ---- results ---- */

enum dns_status {
	DNS_OK = 0,      /* at least one address */
	DNS_NO_SERVICE,  /* SRV target ".": the service is decidedly not available */
	DNS_NXDOMAIN,    /* no SRV, and the domain itself does not exist */
	DNS_NO_ADDRESS,  /* the names exist but none has an A or AAAA record */
	DNS_SERVFAIL,    /* no address, and a query failed (SERVFAIL, REFUSED, resolver error) */
	DNS_TIMEOUT,     /* no address within the timeout */
	DNS_BAD_NAME,    /* the domain is not a name we can query */
};

/* How one query ended. */
enum dns_outcome {
	DNS_Q_ANSWER = 0, /* `count` records */
	DNS_Q_NODATA,     /* the name exists, without records of this type */
	DNS_Q_NXDOMAIN,
	DNS_Q_SERVFAIL,
	DNS_Q_REFUSED,
	DNS_Q_ERROR,      /* another rcode, a libunbound error, or a malformed answer */
	DNS_Q_TIMEOUT,    /* still running when the timeout fired */
	DNS_Q_PENDING,    /* not used in reports: the query is running */
};

enum { DNS_TYPE_A = 1, DNS_TYPE_AAAA = 28, DNS_TYPE_SRV = 33 };

struct dns_query_report {
	char name[256];         /* "_xmpps-server._tcp.example.org" */
	uint16_t type;          /* DNS_TYPE_* */
	enum dns_outcome outcome;
	unsigned count;         /* records in the answer (SRV: including a "." record) */
	int rcode;              /* as the resolver answered; -1 when none */
	uint32_t elapsed_ms;    /* from the start of the resolution to this outcome */
};

struct dns_target {
	char ip[46];            /* IPv4 or IPv6 literal, without brackets */
	unsigned port;
	bool direct_tls;        /* XEP-0368 _xmpps-server; else STARTTLS */
	const char *host;       /* the SRV target (or the domain on fallback), no trailing dot */
};

struct dns_result {
	enum dns_status status;
	const char *domain;
	const struct dns_target *targets; /* best first */
	size_t n;
	bool srv;               /* from SRV records; false: the fallback to <domain>:5269 */
	const struct dns_query_report *queries; /* every query, in the order made */
	size_t nqueries;
	unsigned timeout_ms;    /* as used */
	uint32_t elapsed_ms;
};

/* `res` and everything it points to are valid during the call only. */
typedef void dns_xmpp_cb(void *ud, const struct dns_result *res);

enum {
	DNS_TIMEOUT_DEFAULT_MS = 10000, /* a timeout of 0 means this */
	DNS_MAX_SRV = 32,               /* SRV records kept, both services together */
	DNS_MAX_HOSTS = 16,             /* distinct SRV targets resolved */
	DNS_MAX_ADDRS = 8,              /* addresses kept per host and family */
	DNS_MAX_TARGETS = 64,           /* entries in a result */
	DNS_XMPP_SERVER_PORT = 5269,
};

/*
 * Starts resolving `domain` (an A-label name, with or without the trailing
 * dot).  `timeout_ms` bounds the whole resolution.  Call on the loop's
 * thread, not after dns_resolver_free().  Never NULL: a name that cannot
 * be queried reports DNS_BAD_NAME from the loop.
 */
struct dns_request *dns_resolve_xmpp_server(struct dns_resolver *r, const char *domain,
					    unsigned timeout_ms, dns_xmpp_cb *cb, void *ud);
/* Stops at once; the callback never runs.  Accepts NULL.  From inside the
 * callback it does nothing. */
void dns_resolve_cancel(struct dns_request *q);

/* Fills out[0..max) with the result's targets (pointing into `res`, valid
 * as long as it is); returns how many. */
size_t dns_connect_targets(const struct dns_result *res, struct connect_target *out, size_t max);

/* ---- SRV ordering (pure) ---- */

struct dns_srv {
	char target[256];      /* without trailing dot; "." for "not available" */
	uint16_t priority;
	uint16_t weight;
	uint16_t port;
	bool direct_tls;
};

/*
 * Orders srv[0..n) in place: ascending priority; within a priority, RFC
 * 2782's selection: weight-0 records first, then repeatedly a uniform
 * number in [0, sum of the remaining weights], and the first record whose
 * running sum reaches it comes next.  `rnd` is called once per selection.
 */
void dns_srv_order(struct dns_srv *srv, size_t n, dns_random_fn *rnd, void *ud);

/* ---- names for logs and tests ---- */

/* "ok", "no-service", "nxdomain", "no-address", "servfail", "timeout", "bad-name" */
const char *dns_status_name(enum dns_status s);
/* "answer", "nodata", "nxdomain", "servfail", "refused", "error", "timeout", "pending" */
const char *dns_outcome_name(enum dns_outcome o);
/* "SRV", "AAAA", "A" (else "TYPE<n>") */
const char *dns_type_name(uint16_t type, char *buf, size_t n);
/* "SRV _xmpp-server._tcp.a.example: 2 answers; A a.example: nxdomain; ...",
 * cut with "..." when buf is too small; returns buf. */
const char *dns_report_str(const struct dns_result *res, char *buf, size_t n);

#endif
