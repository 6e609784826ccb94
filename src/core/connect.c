/*
 * connect: non-blocking outgoing TCP connects over a list of addresses,
 * one at a time, each with its own timeout, on the worker's loop.
 *
 * Each attempt gets its own uv_poll_t: a poll handle is bound to one fd,
 * and libuv closes handles asynchronously, so the next attempt's socket may
 * exist before the last attempt's handle is gone.  Closing a poll handle
 * stops watching its fd at once (uv_close), so the socket is closed right
 * after.  One timer serves the whole walk: it is the attempt's timeout
 * while a connect is in flight, and a zero-delay wake-up when the outcome
 * is known without waiting (so the callback always runs from the loop).
 *
 * Memory: the struct lives until its last handle is closed.  `done` marks
 * that the owner has heard the outcome or cancelled: from then on nothing
 * calls back, and the close callbacks free what is left.
 */
#include "core/connect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/worker.h"

struct connect_addr {
	struct sockaddr_storage ss;
	socklen_t len; /* 0: not an IP literal with a port */
	char addr[56];
};

/* Owner: the caller of conn_connect_start until the callback or
 * conn_connect_cancel; then its own close callbacks. */
struct connect {
	struct worker *w;
	uv_timer_t timer;  /* the attempt's timeout, or the deferred report */
	uv_poll_t *poll;   /* the attempt in flight; NULL between attempts */
	int fd;            /* the socket being tried, or the winner not yet reported */
	struct connect_addr *addrs;
	size_t n, next;
	struct connect_attempt *attempts; /* n entries at most */
	size_t nattempts;
	unsigned timeout_ms;
	uint64_t attempt_ns;  /* uv_hrtime() when the attempt began */
	connect_cb *cb;
	void *ud;
	unsigned handles;     /* uv handles not yet closed (timer, polls) */
	bool done;            /* reported or cancelled: no more callbacks */
};

static void connect_try_next(struct connect *cn);

/* ---- describing ---- */

const char *connect_result_name(enum connect_result r)
{
	switch (r) {
	case CONNECT_OK:
		return "ok";
	case CONNECT_REFUSED:
		return "refused";
	case CONNECT_TIMEOUT:
		return "timeout";
	case CONNECT_UNREACHABLE:
		return "unreachable";
	case CONNECT_ERROR:
		return "error";
	case CONNECT_BAD_ADDRESS:
		return "bad-address";
	}
	return "error";
}

enum connect_result connect_classify(int err)
{
	switch (err) {
	case 0:
		return CONNECT_OK;
	case ECONNREFUSED:
		return CONNECT_REFUSED;
	case ETIMEDOUT:
		return CONNECT_TIMEOUT;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
	case EAFNOSUPPORT:
		return CONNECT_UNREACHABLE;
	default:
		return CONNECT_ERROR;
	}
}

const char *connect_attempt_str(const struct connect_attempt *a, unsigned timeout_ms, char *buf,
				size_t n)
{
	char tmp[128];
	const char *why = a->err ? strerror_r(a->err, tmp, sizeof(tmp)) : "";
	switch (a->result) {
	case CONNECT_OK:
		snprintf(buf, n, "%s connected", a->addr);
		break;
	case CONNECT_REFUSED:
		snprintf(buf, n, "%s refused", a->addr);
		break;
	case CONNECT_TIMEOUT:
		if (a->err)
			snprintf(buf, n, "%s timed out (%s)", a->addr, why);
		else
			snprintf(buf, n, "%s timed out after %u ms", a->addr, timeout_ms);
		break;
	case CONNECT_UNREACHABLE:
		snprintf(buf, n, "%s unreachable (%s)", a->addr, why);
		break;
	case CONNECT_ERROR:
		snprintf(buf, n, "%s failed (%s)", a->addr, why);
		break;
	case CONNECT_BAD_ADDRESS:
		snprintf(buf, n, "%s is not an IP address with a port", a->addr);
		break;
	}
	return buf;
}

const char *connect_report_str(const struct connect_report *r, char *buf, size_t n)
{
	if (n == 0)
		return buf;
	buf[0] = '\0';
	if (r->n == 0) {
		snprintf(buf, n, "no address to try");
		return buf;
	}
	size_t used = 0;
	for (size_t i = 0; i < r->n; i++) {
		char one[256];
		connect_attempt_str(&r->attempts[i], r->timeout_ms, one, sizeof(one));
		int w = snprintf(buf + used, n - used, "%s%s", i ? "; " : "", one);
		if (w < 0 || (size_t)w >= n - used) {
			/* Cut short: end with "..." where it still fits. */
			if (n >= 4)
				memcpy(buf + n - 4, "...", 4);
			return buf;
		}
		used += (size_t)w;
	}
	return buf;
}

/* ---- addresses ---- */

static void connect_parse(struct connect_addr *a, const struct connect_target *t)
{
	memset(a, 0, sizeof(*a));
	const char *ip = t->ip ? t->ip : "(none)";
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
	bool port_ok = t->port > 0 && t->port <= 65535;
	if (t->ip && inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)t->port);
		a->len = port_ok ? sizeof(*sin) : 0;
		snprintf(a->addr, sizeof(a->addr), "%s:%u", ip, t->port);
	} else if (t->ip && inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)t->port);
		a->len = port_ok ? sizeof(*sin6) : 0;
		snprintf(a->addr, sizeof(a->addr), "[%s]:%u", ip, t->port);
	} else {
		snprintf(a->addr, sizeof(a->addr), "%.40s:%u", ip, t->port);
	}
}

/* ---- handles ---- */

static void connect_handle_closed(uv_handle_t *h)
{
	struct connect *cn = h->data;
	if (h->type == UV_POLL)
		free(h);
	if (--cn->handles > 0 || !cn->done)
		return;
	free(cn->addrs);
	free(cn->attempts);
	free(cn);
}

/* Stops watching the attempt's socket (at once) and lets libuv close the
 * handle later; the socket itself may be closed right after. */
static void connect_poll_release(struct connect *cn)
{
	if (!cn->poll)
		return;
	uv_close((uv_handle_t *)cn->poll, connect_handle_closed);
	cn->poll = NULL;
}

static void connect_fd_release(struct connect *cn)
{
	if (cn->fd >= 0)
		close(cn->fd);
	cn->fd = -1;
}

static void connect_record(struct connect *cn, size_t idx, enum connect_result r, int err)
{
	struct connect_attempt *a = &cn->attempts[cn->nattempts++];
	uint64_t ms = (uv_hrtime() - cn->attempt_ns) / 1000000u;
	snprintf(a->addr, sizeof(a->addr), "%s", cn->addrs[idx].addr);
	a->result = r;
	a->err = err;
	a->elapsed_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* ---- the walk ---- */

static void connect_report(struct connect *cn)
{
	cn->done = true; /* from here on, conn_connect_cancel is a no-op */
	uv_timer_stop(&cn->timer);
	connect_poll_release(cn);
	int fd = cn->fd;
	cn->fd = -1;
	if (fd >= 0) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	const struct connect_report r = {
		.attempts = cn->attempts,
		.n = cn->nattempts,
		.timeout_ms = cn->timeout_ms,
	};
	cn->cb(cn->ud, fd, &r);
	uv_close((uv_handle_t *)&cn->timer, connect_handle_closed);
}

static void connect_deferred_cb(uv_timer_t *t)
{
	connect_report(t->data);
}

/* The outcome is known: report it from the next loop iteration. */
static void connect_defer(struct connect *cn)
{
	uv_timer_start(&cn->timer, connect_deferred_cb, 0, 0);
}

static void connect_poll_cb(uv_poll_t *p, int status, int events)
{
	(void)events;
	struct connect *cn = p->data;
	size_t idx = cn->next - 1;
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(cn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0 && status < 0)
		err = -status;
	if (err == 0) {
		/* Writable and no error means connected; anything else would
		 * make us poll a dead socket until the timeout. */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getpeername(cn->fd, (struct sockaddr *)&ss, &sl) < 0)
			err = errno == ENOTCONN ? ECONNABORTED : errno;
	}
	uv_timer_stop(&cn->timer);
	connect_poll_release(cn);
	if (err == 0) {
		connect_record(cn, idx, CONNECT_OK, 0);
		connect_report(cn);
		return;
	}
	connect_fd_release(cn);
	connect_record(cn, idx, connect_classify(err), err);
	connect_try_next(cn);
}

static void connect_timeout_cb(uv_timer_t *t)
{
	struct connect *cn = t->data;
	connect_poll_release(cn);
	connect_fd_release(cn);
	connect_record(cn, cn->next - 1, CONNECT_TIMEOUT, 0);
	connect_try_next(cn);
}

/* Starts the next address that gets as far as waiting for an answer, or
 * schedules the report when one connects at once or none is left. */
static void connect_try_next(struct connect *cn)
{
	while (cn->next < cn->n) {
		size_t idx = cn->next++;
		const struct connect_addr *a = &cn->addrs[idx];
		cn->attempt_ns = uv_hrtime();
		if (a->len == 0) {
			connect_record(cn, idx, CONNECT_BAD_ADDRESS, 0);
			continue;
		}
		int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			int e = errno;
			connect_record(cn, idx, connect_classify(e), e);
			continue;
		}
		cn->fd = fd;
		/* A signal during a non-blocking connect leaves it in progress. */
		if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0) {
			connect_record(cn, idx, CONNECT_OK, 0);
			connect_defer(cn);
			return;
		}
		int e = errno;
		if (e == EINPROGRESS || e == EINTR) {
			uv_poll_t *p = xmalloc(sizeof(*p));
			int rc = uv_poll_init(&cn->w->loop, p, fd);
			if (rc == 0) {
				p->data = cn;
				cn->poll = p;
				cn->handles++;
				uv_poll_start(p, UV_WRITABLE, connect_poll_cb);
				/* The loop's clock was read when this iteration
				 * began (or, before the loop runs, long ago): the
				 * timeout counts from now. */
				uv_update_time(&cn->w->loop);
				uv_timer_start(&cn->timer, connect_timeout_cb, cn->timeout_ms, 0);
				return;
			}
			free(p);
			e = -rc;
		}
		connect_fd_release(cn);
		connect_record(cn, idx, connect_classify(e), e);
	}
	connect_defer(cn);
}

struct connect *conn_connect_start(struct worker *w, const struct connect_target *targets, size_t n,
				   unsigned timeout_ms, connect_cb *cb, void *ud)
{
	struct connect *cn = xcalloc(1, sizeof(*cn));
	cn->w = w;
	cn->fd = -1;
	cn->cb = cb;
	cn->ud = ud;
	cn->timeout_ms = timeout_ms ? timeout_ms : CONNECT_TIMEOUT_DEFAULT_MS;
	cn->n = n;
	cn->addrs = xcalloc(n ? n : 1, sizeof(*cn->addrs));
	cn->attempts = xcalloc(n ? n : 1, sizeof(*cn->attempts));
	for (size_t i = 0; i < n; i++)
		connect_parse(&cn->addrs[i], &targets[i]);
	uv_timer_init(&w->loop, &cn->timer);
	cn->timer.data = cn;
	cn->handles = 1;
	connect_try_next(cn);
	return cn;
}

void conn_connect_cancel(struct connect *cn)
{
	if (!cn || cn->done)
		return;
	cn->done = true;
	connect_poll_release(cn);
	connect_fd_release(cn);
	uv_close((uv_handle_t *)&cn->timer, connect_handle_closed);
}
