/* listener: SO_REUSEPORT listening sockets polled by a worker's loop. */
#include "core/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/worker.h"

enum { LISTENER_ACCEPTS_PER_EVENT = 64 };

struct listener {
	uv_poll_t poll;
	int fd;
	unsigned port;
	struct worker *w;
	listener_accept_fn *fn;
	void *ud;
	char addr[64];
	uint64_t emfile_logged_ms;
};

static void listener_poll_cb(uv_poll_t *p, int status, int events)
{
	struct listener *l = p->data;
	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < LISTENER_ACCEPTS_PER_EVENT; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				uint64_t now = worker_now(l->w);
				if (now - l->emfile_logged_ms > 10000) {
					l->emfile_logged_ms = now;
					log_error("core",
						  "cannot accept on %s: out of file descriptors; raise the "
						  "open files limit (ulimit -n / LimitNOFILE)",
						  l->addr);
				}
			}
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		l->fn(l->w, fd, l->ud);
	}
}

/* True when something else is bound to the address: a socket without
 * SO_REUSEPORT cannot join a port held by anyone. */
static bool port_taken(const struct sockaddr_storage *ss, socklen_t sl)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	bool taken = bind(fd, (const struct sockaddr *)ss, sl) < 0 && errno == EADDRINUSE;
	close(fd);
	return taken;
}

struct listener *listener_new(struct worker *w, const char *ip, unsigned port, int backlog, bool first,
			      listener_accept_fn *fn, void *ud, char **err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	char addr[64];
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sl = sizeof(*sin);
		snprintf(addr, sizeof(addr), "%s:%u", ip, port);
	} else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*sin6);
		snprintf(addr, sizeof(addr), "[%s]:%u", ip, port);
	} else {
		char msg[160];
		snprintf(msg, sizeof(msg), "cannot listen on %s: not an IPv4 or IPv6 address", ip);
		*err = xstrdup(msg);
		return NULL;
	}

	if (first && port && port_taken(&ss, sl)) {
		errno = EADDRINUSE;
		goto fail;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog) < 0)
		goto fail_fd;

	struct listener *l = xcalloc(1, sizeof(*l));
	l->fd = fd;
	l->w = w;
	l->fn = fn;
	l->ud = ud;
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	l->port = ntohs(ss.ss_family == AF_INET ? sin->sin_port : sin6->sin6_port);
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	uv_poll_init(&w->loop, &l->poll, fd);
	l->poll.data = l;
	uv_poll_start(&l->poll, UV_READABLE, listener_poll_cb);
	return l;

fail_fd:;
	int e = errno;
	close(fd);
	errno = e;
fail:;
	char msg[256];
	snprintf(msg, sizeof(msg), "cannot listen on %s: %s%s", addr, strerror(errno),
		 errno == EADDRINUSE ? " (another program uses this port: stop it or change the port)"
		 : errno == EACCES  ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
				    : "");
	*err = xstrdup(msg);
	return NULL;
}

static void listener_closed_cb(uv_handle_t *h)
{
	struct listener *l = h->data;
	close(l->fd);
	free(l);
}

void listener_close(struct listener *l)
{
	if (!l)
		return;
	uv_close((uv_handle_t *)&l->poll, listener_closed_cb);
}

unsigned listener_port(const struct listener *l)
{
	return l->port;
}

int listener_set_open(struct listener_set *set, struct worker *w, const struct config_strlist *addrs,
		      const struct listener_port *ports, size_t nports, int backlog, listener_accept_fn *fn,
		      const char *what, char **err)
{
	for (size_t i = 0; i < addrs->n; i++) {
		for (size_t k = 0; k < nports; k++) {
			if (!ports[k].port)
				continue;
			if (set->n == LISTENER_SET_MAX) {
				char text[64];
				snprintf(text, sizeof(text), "too many %s listeners", what);
				*err = xstrdup(text);
				return -1;
			}
			/* The first worker checks that no other program holds the port. */
			struct listener *l =
				listener_new(w, addrs->items[i], ports[k].port, backlog, w->id == 0, fn, ports[k].ud, err);
			if (!l)
				return -1;
			set->items[set->n++] = l;
		}
	}
	return 0;
}

void listener_set_close(struct listener_set *set)
{
	for (unsigned i = 0; i < set->n; i++)
		listener_close(set->items[i]);
	set->n = 0;
}

void listener_set_describe(struct buf *out, const struct config_strlist *addrs, const struct listener_port *ports,
			   size_t nports)
{
	size_t first = out->len;
	for (size_t i = 0; i < addrs->n; i++)
		for (size_t k = 0; k < nports; k++)
			if (ports[k].port)
				buf_printf(out, "%s%s:%u (%s)", out->len > first ? ", " : "", addrs->items[i],
					   ports[k].port, ports[k].label);
}
