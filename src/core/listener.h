/*
 * listener: a listening TCP socket on one worker.  Every worker binds its
 * own socket to the same address with SO_REUSEPORT, so the kernel spreads
 * new connections over the workers with no shared accept lock.
 *
 * What to do with an accepted socket is the caller's: `fn` gets the fd
 * (non-blocking, close-on-exec, TCP_NODELAY set) and owns it.
 */
#ifndef PARLEY_CORE_LISTENER_H
#define PARLEY_CORE_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

struct worker;
struct listener;

typedef void listener_accept_fn(struct worker *w, int fd, void *ud);

/* Binds and listens on ip:port (IPv4 or IPv6 literal); NULL with *err set
 * (heap string: "cannot listen on 127.0.0.1:5222: address in use") on
 * failure.  `backlog` is listen(2)'s.  `first` marks the first of this
 * process's sockets for the address: it checks that no other program
 * holds the port (SO_REUSEPORT alone would silently share it with another
 * server of the same user). */
struct listener *listener_new(struct worker *w, const char *ip, unsigned port, int backlog, bool first,
			      listener_accept_fn *fn, void *ud, char **err);
/* Stops accepting; the memory is released from the loop later. */
void listener_close(struct listener *l);
/* The bound port (useful when port 0 was asked). */
unsigned listener_port(const struct listener *l);

/*
 * The listeners of one service on one worker: every configured address on
 * each of the service's ports (STARTTLS, direct TLS, ...).  c2s and s2s
 * are two instances of the same thing.
 */
struct buf;
struct config_strlist;

enum { LISTENER_SET_MAX = 32 };

struct listener_set {
	struct listener *items[LISTENER_SET_MAX];
	unsigned n;
};

/* One port of a service; port 0 is off.  `ud` goes to the accept
 * callback, `label` to the start-up line ("STARTTLS", "direct TLS"). */
struct listener_port {
	unsigned port;
	const char *label;
	void *ud;
};

/* Opens every address on every port that is not 0.  -1 with *err (heap;
 * `what` names the service); what was opened stays in the set for
 * listener_set_close. */
int listener_set_open(struct listener_set *set, struct worker *w, const struct config_strlist *addrs,
		      const struct listener_port *ports, size_t nports, int backlog, listener_accept_fn *fn,
		      const char *what, char **err);
void listener_set_close(struct listener_set *set);
/* "ip:port (label), ..." for the start-up line; nothing when every port
 * is 0. */
void listener_set_describe(struct buf *out, const struct config_strlist *addrs, const struct listener_port *ports,
			   size_t nports);

#endif
