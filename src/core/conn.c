/*
 * conn: socket I/O on uv_poll_t.  Polling the fd (instead of uv_tcp_t
 * streams) lets OpenSSL read the socket directly with no BIO buffers, lets
 * idle connections hold no read buffer (all conns of a worker share one),
 * and lets a connection move to another loop by re-registering its fd.
 *
 * Output is a queue of chunk references.  Writes are not attempted at once:
 * the worker's prepare handle flushes every conn with output once per loop
 * iteration, so stanzas produced in one iteration share one syscall (plain
 * TCP: writev) or one TLS record.
 *
 * A virtual conn (conn_new_virtual) has no fd: an idle handle it never
 * starts stands for the poll handle (closing it defers on_close and
 * detaching to the loop as for a socket), reads never happen, and a flush
 * hands the queue to its owner's write callback instead of a socket.
 */
#include "core/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/chunk.h"
#include "core/conn_internal.h"
#include "core/list.h"
#include "core/log.h"
#include "core/worker.h"

enum {
	CONN_READS_PER_EVENT = 16,   /* fairness between conns of a worker */
	CONN_CHUNK_MIN = 4096 - 16,  /* private tail chunk size */
	CONN_LINGER_MS = 5000,       /* flushing before close, at most */
	CONN_IOV_MAX = 64,
	CONN_IDLE_TRIM_MS = 1000,    /* quiet this long: release transport buffers */
};

struct outq_entry {
	struct chunk *ch;
	uint32_t off; /* bytes of ch already written */
};

/* A transport lent to a virtual conn (conn_share_transport): freed by
 * whichever of the two conns is freed last. */
struct conn_tshare {
	atomic_uint refs;
	const struct conn_transport_ops *ops;
	void *t;
};

/* Owner: the conn's owner (a stream), through conn_close() and on_close. */
struct conn {
	uint64_t id;
	int fd; /* -1: virtual */
	struct worker *w;
	union {
		uv_poll_t poll;   /* a socket's */
		uv_idle_t vidle;  /* a virtual conn's stand-in, never started */
	};
	int poll_events; /* events currently registered */
	bool poll_attached;

	const struct conn_handler *h;
	void *owner;

	const struct conn_transport_ops *tops;
	void *t;
	const struct conn_transport_ops *next_tops; /* installed once outq drains */
	void *next_t;
	bool handshaking;
	int hs_want; /* CONN_IO_WANT_READ / _WRITE while handshaking */

	bool closing;      /* no more reads; flushing, then closing */
	bool closed;       /* uv_close issued */
	bool paused;       /* by the owner */
	bool throttled;    /* read budget spent until the next sweep */
	bool detaching;
	bool write_blocked;   /* waiting for the socket (or TLS) */
	int write_want;       /* CONN_IO_WANT_* of the blocked write */
	bool read_wants_write; /* TLS read needs the socket writable */
	bool trimmed;          /* idle: the transport's buffers were released */
	char *reason;

	/* output queue: ring of entries */
	struct outq_entry *q;
	uint32_t qhead, qlen, qcap;
	size_t qbytes;
	size_t outq_limit;

	/* budgets and facts */
	size_t rate, burst;
	int64_t tokens;
	uint64_t close_deadline;
	uint64_t last_read_ms, last_write_ms;
	uint64_t bytes_in, bytes_out;

	conn_detach_cb *detach_cb;
	void *detach_arg;

	const struct conn_virtual_ops *vops; /* NULL: a socket's conn */
	void *varg;
	struct conn_tshare *tshare;          /* the transport, when lent */

	struct list link;       /* w->conns */
	struct list flush_link; /* w->flush */
	struct list ready_link; /* w->ready */

	char peer[56]; /* "203.0.113.5:40312", "[2001:db8::1]:40312" */
};

static atomic_uint_fast64_t conn_next_id = 1;

static void conn_poll_cb(uv_poll_t *p, int status, int events);
static void conn_update_poll(struct conn *c);
static void conn_finish(struct conn *c);
static void conn_flush(struct conn *c);

/* ---- addresses ---- */

static void sockaddr_format(const struct sockaddr_storage *ss, char *full, size_t fulllen)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(full, fulllen, "%s:%d", host, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(full, fulllen, "[%s]:%d", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(full, fulllen, "unix");
	}
}

/* ---- lifecycle ---- */

struct conn *conn_new(struct worker *w, int fd, const struct conn_handler *h, void *owner)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->id = atomic_fetch_add(&conn_next_id, 1);
	c->fd = fd;
	c->w = w;
	c->h = h;
	c->owner = owner;
	list_init(&c->link);
	list_init(&c->flush_link);
	list_init(&c->ready_link);
	c->last_read_ms = c->last_write_ms = worker_now(w);

	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		sockaddr_format(&ss, c->peer, sizeof(c->peer));
	else
		snprintf(c->peer, sizeof(c->peer), "unknown");
	return c;
}

static void conn_attach_loop(struct conn *c, struct worker *w)
{
	c->w = w;
	if (c->vops) {
		uv_idle_init(&w->loop, &c->vidle);
		c->vidle.data = c;
	} else if (uv_poll_init(&w->loop, &c->poll, c->fd) != 0) {
		log_fatal("core", "uv_poll_init failed for fd %d", c->fd);
	}
	c->poll.data = c;
	c->poll_events = 0;
	c->poll_attached = true;
	list_insert_tail(&w->conns, &c->link);
	atomic_fetch_add(&w->nconns, 1);
}

void conn_start(struct conn *c)
{
	conn_attach_loop(c, c->w);
	conn_update_poll(c);
}

static void conn_set_reason(struct conn *c, const char *reason)
{
	if (!c->reason)
		c->reason = xstrdup(reason ? reason : "closed");
}

bool conn_closing(const struct conn *c)
{
	return c->closing;
}

void conn_close(struct conn *c, const char *reason)
{
	if (c->closing)
		return;
	conn_set_reason(c, reason);
	c->closing = true;
	c->close_deadline = worker_now(c->w) + CONN_LINGER_MS;
	if (c->detaching)
		return; /* finished when attached again */
	if (c->qbytes == 0 || c->handshaking)
		conn_finish(c);
	else {
		conn_flush(c);
		conn_update_poll(c);
	}
}

static void outq_drop(struct conn *c)
{
	for (uint32_t i = 0; i < c->qlen; i++)
		chunk_unref(c->q[(c->qhead + i) % c->qcap].ch);
	free(c->q);
	c->q = NULL;
	c->qhead = c->qlen = c->qcap = 0;
	c->qbytes = 0;
}

void conn_abort(struct conn *c, const char *reason)
{
	conn_set_reason(c, reason);
	c->closing = true;
	outq_drop(c);
	if (!c->detaching)
		conn_finish(c);
}

static void tshare_unref(struct conn_tshare *sh)
{
	if (atomic_fetch_sub(&sh->refs, 1) != 1)
		return;
	sh->ops->free(sh->t);
	free(sh);
}

static void conn_free(struct conn *c)
{
	if (c->tshare)
		tshare_unref(c->tshare);
	else if (c->tops)
		c->tops->free(c->t);
	if (c->next_tops)
		c->next_tops->free(c->next_t);
	outq_drop(c);
	free(c->reason);
	free(c);
}

static void conn_closed_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct worker *w = c->w;
	if (c->fd >= 0)
		close(c->fd);
	c->h->on_close(c->owner, c, c->reason);
	if (c->vops && c->vops->closed)
		c->vops->closed(c->varg, c);
	conn_free(c);
	/* Counted down only now: on_close may post work to other workers,
	 * and shutdown waits for it (worker_quiescent). */
	atomic_fetch_sub(&w->nconns, 1);
}

/* Releases the fd and, from the loop, tells the owner and frees. */
static void conn_finish(struct conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	list_remove(&c->link);
	list_remove(&c->flush_link);
	list_remove(&c->ready_link);
	if (c->tops && !c->handshaking)
		c->tops->shutdown(c->t, c->fd);
	c->poll_attached = false;
	uv_close((uv_handle_t *)&c->poll, conn_closed_cb);
}

void conn_abort_all(struct worker *w, const char *reason)
{
	list_for_each_safe(pos, &w->conns)
	{
		struct conn *c = list_entry(pos, struct conn, link);
		conn_abort(c, reason);
	}
}

/* ---- polling ---- */

static void conn_update_poll(struct conn *c)
{
	if (!c->poll_attached || c->closed || c->detaching || c->vops)
		return;
	int ev = 0;
	if (c->handshaking) {
		ev = c->hs_want == CONN_IO_WANT_WRITE ? UV_WRITABLE : UV_READABLE;
	} else {
		bool reading = !c->closing && !c->paused && !c->throttled && !c->next_tops;
		if (reading)
			ev |= c->read_wants_write ? UV_WRITABLE : UV_READABLE;
		if (c->write_blocked)
			ev |= c->write_want == CONN_IO_WANT_READ ? UV_READABLE : UV_WRITABLE;
	}
	if (ev == c->poll_events)
		return;
	c->poll_events = ev;
	if (ev)
		uv_poll_start(&c->poll, ev, conn_poll_cb);
	else
		uv_poll_stop(&c->poll);
}

static void conn_ready_cb(uv_idle_t *h);

/* Moves every node of src to the (uninitialised) head dst; src is left
 * empty. */
static void list_take_all(struct list *dst, struct list *src)
{
	list_init(dst);
	if (list_empty(src))
		return;
	dst->next = src->next;
	dst->prev = src->prev;
	dst->next->prev = dst;
	dst->prev->next = dst;
	list_init(src);
}

static void conn_schedule_read(struct conn *c)
{
	if (list_linked(&c->ready_link) || c->closed || c->detaching || c->vops)
		return;
	list_insert_tail(&c->w->ready, &c->ready_link);
	uv_idle_start(&c->w->reader, conn_ready_cb);
}

static void conn_schedule_flush(struct conn *c)
{
	if (!list_linked(&c->flush_link) && !c->closed && !c->detaching)
		list_insert_tail(&c->w->flush, &c->flush_link);
}

/* ---- transport and handshake ---- */

static void conn_handshake(struct conn *c)
{
	int r = c->tops->handshake(c->t, c->fd);
	if (r == 0) {
		c->handshaking = false;
		c->h->on_handshake(c->owner, c);
		if (c->closed)
			return;
		conn_update_poll(c);
		/* Application data may have arrived with the last flight. */
		conn_schedule_read(c);
		conn_schedule_flush(c);
		return;
	}
	if (r == CONN_IO_WANT_READ || r == CONN_IO_WANT_WRITE) {
		c->hs_want = r;
		conn_update_poll(c);
		return;
	}
	char reason[256];
	if (r == CONN_IO_EOF)
		snprintf(reason, sizeof(reason), "peer closed the connection during the TLS handshake");
	else
		snprintf(reason, sizeof(reason), "%s", c->tops->error(c->t));
	conn_abort(c, reason);
}

static void conn_install_transport(struct conn *c)
{
	c->tops = c->next_tops;
	c->t = c->next_t;
	c->next_tops = NULL;
	c->next_t = NULL;
	c->handshaking = true;
	c->hs_want = CONN_IO_WANT_READ;
	conn_handshake(c);
}

void conn_set_transport(struct conn *c, const struct conn_transport_ops *ops, void *t)
{
	if (c->tops || c->next_tops || c->closing) {
		ops->free(t);
		conn_abort(c, "second transport requested");
		return;
	}
	c->next_tops = ops;
	c->next_t = t;
	if (c->qbytes == 0 && !c->detaching)
		conn_install_transport(c);
	else {
		conn_schedule_flush(c);
		conn_update_poll(c);
	}
}

void *conn_transport(const struct conn *c)
{
	return c->t;
}

bool conn_secure(const struct conn *c)
{
	if (c->vops)
		return c->tshare != NULL;
	return c->tops != NULL && !c->handshaking;
}

/* ---- reading ---- */

static void conn_read(struct conn *c)
{
	struct worker *w = c->w;
	for (int i = 0; i < CONN_READS_PER_EVENT; i++) {
		if (c->closing || c->paused || c->throttled || c->detaching || c->handshaking ||
		    c->next_tops)
			return;
		ssize_t n;
		if (c->tops) {
			n = c->tops->read(c->t, c->fd, w->readbuf, w->readbuf_size);
		} else {
			n = read(c->fd, w->readbuf, w->readbuf_size);
			if (n == 0)
				n = CONN_IO_EOF;
			else if (n < 0)
				n = (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					    ? CONN_IO_WANT_READ
					    : CONN_IO_ERROR;
		}
		if (n > 0) {
			/* A read that wanted the socket writable polls for
			 * writability: back to readability, or later bytes
			 * from the peer are never read. */
			if (c->read_wants_write) {
				c->read_wants_write = false;
				conn_update_poll(c);
			}
			c->trimmed = false;
			c->bytes_in += (uint64_t)n;
			c->last_read_ms = worker_now(w);
			if (c->rate) {
				c->tokens -= n;
				if (c->tokens <= 0) {
					c->throttled = true;
					conn_update_poll(c);
				}
			}
			c->h->on_read(c->owner, c, w->readbuf, (size_t)n);
			continue;
		}
		if (n == CONN_IO_WANT_READ) {
			if (c->read_wants_write) {
				c->read_wants_write = false;
				conn_update_poll(c);
			}
			return;
		}
		if (n == CONN_IO_WANT_WRITE) {
			c->read_wants_write = true;
			conn_update_poll(c);
			return;
		}
		if (n == CONN_IO_EOF) {
			conn_close(c, "peer closed the connection");
			return;
		}
		char reason[256];
		if (c->tops)
			snprintf(reason, sizeof(reason), "%s", c->tops->error(c->t));
		else
			snprintf(reason, sizeof(reason), "read error: %s", strerror(errno));
		conn_abort(c, reason);
		return;
	}
	/* Budget of reads spent: come back without waiting for the socket. */
	conn_schedule_read(c);
}

static void conn_ready_cb(uv_idle_t *h)
{
	struct worker *w = h->data;
	struct list batch;
	/* Move the list aside: reads may schedule the same conn again. */
	list_take_all(&batch, &w->ready);
	while (!list_empty(&batch)) {
		struct conn *c = list_entry(batch.next, struct conn, ready_link);
		list_remove(&c->ready_link);
		conn_read(c);
	}
	if (list_empty(&w->ready))
		uv_idle_stop(&w->reader);
}

/* ---- writing ---- */

static void outq_push(struct conn *c, struct chunk *ch)
{
	if (c->qlen == c->qcap) {
		uint32_t cap = c->qcap ? c->qcap * 2 : 4;
		struct outq_entry *q = xmalloc(cap * sizeof(*q));
		for (uint32_t i = 0; i < c->qlen; i++)
			q[i] = c->q[(c->qhead + i) % c->qcap];
		free(c->q);
		c->q = q;
		c->qcap = cap;
		c->qhead = 0;
	}
	c->q[(c->qhead + c->qlen) % c->qcap] = (struct outq_entry){ch, 0};
	c->qlen++;
	c->qbytes += ch->len;
}

static bool conn_over_limit(struct conn *c)
{
	if (c->outq_limit && c->qbytes > c->outq_limit) {
		char reason[128];
		snprintf(reason, sizeof(reason),
			 "output queue over %zu bytes: the peer does not read fast enough", c->outq_limit);
		conn_abort(c, reason);
		return true;
	}
	return false;
}

void conn_write(struct conn *c, const void *p, size_t n)
{
	if (c->closing || n == 0)
		return;
	if (c->qlen) {
		struct outq_entry *tail = &c->q[(c->qhead + c->qlen - 1) % c->qcap];
		struct chunk *ch = tail->ch;
		/* Append to a tail chunk only we reference. */
		if (atomic_load_explicit(&ch->refs, memory_order_acquire) == 1 && ch->cap - ch->len >= n) {
			memcpy(ch->data + ch->len, p, n);
			ch->len += (uint32_t)n;
			c->qbytes += n;
			goto queued;
		}
	}
	struct chunk *ch = chunk_new(n > CONN_CHUNK_MIN ? n : CONN_CHUNK_MIN);
	memcpy(ch->data, p, n);
	ch->len = (uint32_t)n;
	outq_push(c, ch);
queued:
	if (!conn_over_limit(c))
		conn_schedule_flush(c);
}

void conn_write_chunk(struct conn *c, struct chunk *ch)
{
	if (c->closing || ch->len == 0)
		return;
	outq_push(c, chunk_ref(ch));
	if (!conn_over_limit(c))
		conn_schedule_flush(c);
}

size_t conn_outq_bytes(const struct conn *c)
{
	return c->qbytes;
}

size_t conn_worker_outq_bytes(struct worker *w)
{
	size_t n = 0;
	list_for_each(pos, &w->conns)
		n += list_entry(pos, struct conn, link)->qbytes;
	return n;
}

static void outq_advance(struct conn *c, size_t n)
{
	c->qbytes -= n;
	c->bytes_out += n;
	while (n > 0) {
		struct outq_entry *e = &c->q[c->qhead];
		size_t left = e->ch->len - e->off;
		if (n < left) {
			e->off += (uint32_t)n;
			return;
		}
		n -= left;
		chunk_unref(e->ch);
		c->qhead = (c->qhead + 1) % c->qcap;
		c->qlen--;
	}
	if (c->qlen == 0) {
		/* Idle connections keep no queue memory. */
		free(c->q);
		c->q = NULL;
		c->qhead = c->qcap = 0;
	}
}

/* A virtual conn's flush: the whole queue to the owner at once, so that
 * an element queued as several chunks never straddles two calls. */
static ssize_t conn_write_virtual(struct conn *c)
{
	struct iovec small[CONN_IOV_MAX];
	struct iovec *iov = c->qlen <= CONN_IOV_MAX ? small : xmalloc(c->qlen * sizeof(*iov));
	for (uint32_t i = 0; i < c->qlen; i++) {
		struct outq_entry *e = &c->q[(c->qhead + i) % c->qcap];
		iov[i].iov_base = e->ch->data + e->off;
		iov[i].iov_len = e->ch->len - e->off;
	}
	size_t n = c->qbytes;
	c->vops->write(c->varg, c, iov, c->qlen);
	if (iov != small)
		free(iov);
	return (ssize_t)n;
}

/* One write attempt: >0 bytes written, or a CONN_IO_* code. */
static ssize_t conn_write_some(struct conn *c)
{
	if (c->vops)
		return conn_write_virtual(c);
	if (!c->tops) {
		struct iovec iov[CONN_IOV_MAX];
		int n = 0;
		for (uint32_t i = 0; i < c->qlen && n < CONN_IOV_MAX; i++) {
			struct outq_entry *e = &c->q[(c->qhead + i) % c->qcap];
			iov[n].iov_base = e->ch->data + e->off;
			iov[n].iov_len = e->ch->len - e->off;
			n++;
		}
		ssize_t r = writev(c->fd, iov, n);
		if (r >= 0)
			return r;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return CONN_IO_WANT_WRITE;
		return CONN_IO_ERROR;
	}
	/* TLS: a large head goes out as is; small entries are coalesced into
	 * one record.  After WANT_* the queue's head is unchanged, so the retry
	 * passes the same leading bytes, as OpenSSL requires. */
	struct outq_entry *head = &c->q[c->qhead];
	size_t head_left = head->ch->len - head->off;
	if (head_left >= CONN_TLS_STAGING || c->qlen == 1)
		return c->tops->write(c->t, c->fd, head->ch->data + head->off, head_left);
	char *stage = c->w->tlsbuf;
	size_t len = 0;
	for (uint32_t i = 0; i < c->qlen && len < CONN_TLS_STAGING; i++) {
		struct outq_entry *e = &c->q[(c->qhead + i) % c->qcap];
		size_t take = e->ch->len - e->off;
		if (take > CONN_TLS_STAGING - len)
			take = CONN_TLS_STAGING - len;
		memcpy(stage + len, e->ch->data + e->off, take);
		len += take;
	}
	return c->tops->write(c->t, c->fd, stage, len);
}

static void conn_flush(struct conn *c)
{
	list_remove(&c->flush_link);
	if (c->closed || c->detaching || c->handshaking)
		return;
	while (c->qbytes > 0) {
		ssize_t r = conn_write_some(c);
		if (r > 0) {
			outq_advance(c, (size_t)r);
			c->last_write_ms = worker_now(c->w);
			continue;
		}
		if (r == CONN_IO_WANT_WRITE || r == CONN_IO_WANT_READ) {
			c->write_blocked = true;
			c->write_want = (int)r;
			conn_update_poll(c);
			return;
		}
		char reason[256];
		if (c->tops)
			snprintf(reason, sizeof(reason), "%s", c->tops->error(c->t));
		else
			snprintf(reason, sizeof(reason), "write error: %s", strerror(errno));
		conn_abort(c, reason);
		return;
	}
	if (c->write_blocked) {
		c->write_blocked = false;
		conn_update_poll(c);
	}
	if (c->closing) {
		conn_finish(c);
		return;
	}
	if (c->next_tops)
		conn_install_transport(c);
}

static void conn_flush_cb(uv_prepare_t *h)
{
	struct worker *w = h->data;
	while (!list_empty(&w->flush)) {
		struct conn *c = list_entry(w->flush.next, struct conn, flush_link);
		conn_flush(c);
	}
}

/* ---- events ---- */

static void conn_poll_cb(uv_poll_t *p, int status, int events)
{
	struct conn *c = p->data;
	if (c->closed)
		return;
	if (status < 0) {
		/* libuv reports EPOLLERR as a generic error: ask the socket.
		 * During a TLS handshake say so, as the transport would have
		 * had it read the reset first (a client refusing our
		 * certificate resets the connection). */
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		char reason[128];
		const char *what = c->handshaking ? "TLS handshake failed" : "socket error";
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr)
			snprintf(reason, sizeof(reason), "%s: %s", what, strerror(soerr));
		else
			snprintf(reason, sizeof(reason), "%s: %s", what, uv_strerror(status));
		conn_abort(c, reason);
		return;
	}
	if (c->handshaking) {
		conn_handshake(c);
		return;
	}
	if (c->write_blocked && (events & (c->write_want == CONN_IO_WANT_READ ? UV_READABLE : UV_WRITABLE)))
		conn_flush(c);
	if (c->closed)
		return;
	if ((events & UV_READABLE) || (c->read_wants_write && (events & UV_WRITABLE)))
		conn_read(c);
}

void conn_worker_start(struct worker *w)
{
	uv_prepare_start(&w->flusher, conn_flush_cb);
	uv_unref((uv_handle_t *)&w->flusher);
}

/* ---- budgets ---- */

void conn_set_outq_limit(struct conn *c, size_t limit)
{
	c->outq_limit = limit;
}

void conn_set_read_rate(struct conn *c, size_t rate, size_t burst)
{
	c->rate = rate;
	c->burst = burst > rate ? burst : rate;
	c->tokens = (int64_t)c->burst;
}

void conn_pause_reading(struct conn *c)
{
	c->paused = true;
	conn_update_poll(c);
}

void conn_resume_reading(struct conn *c)
{
	if (!c->paused)
		return;
	c->paused = false;
	conn_update_poll(c);
	conn_schedule_read(c);
}

void conn_sweep(struct worker *w, uint64_t now_ms)
{
	/* An owner's on_tick may close or detach any conn of this worker, not
	 * only its own, which unlinks that conn (a saved next pointer would
	 * then loop on it): take the list aside and put each conn back before
	 * its turn, so unlinking works wherever the conn is. */
	struct list todo;
	list_take_all(&todo, &w->conns);
	while (!list_empty(&todo)) {
		struct conn *c = list_entry(todo.next, struct conn, link);
		list_remove(&c->link);
		list_insert_tail(&w->conns, &c->link);
		if (c->rate) {
			c->tokens += (int64_t)c->rate;
			if (c->tokens > (int64_t)c->burst)
				c->tokens = (int64_t)c->burst;
			if (c->throttled && c->tokens > 0) {
				c->throttled = false;
				conn_update_poll(c);
				conn_schedule_read(c);
			}
		}
		if (c->closing && !c->closed && now_ms >= c->close_deadline) {
			conn_abort(c, NULL);
			continue;
		}
		if (c->closing)
			continue;
		/* A connection quiet for a sweep gives its transport's buffers
		 * back: with thousands of idle TLS sessions this is most of
		 * their memory. */
		if (!c->trimmed && c->tops && c->tops->trim && !c->handshaking && c->qbytes == 0 &&
		    now_ms - c->last_read_ms >= CONN_IDLE_TRIM_MS) {
			c->tops->trim(c->t);
			c->trimmed = true;
			w->trims++;
		}
		c->h->on_tick(c->owner, c, now_ms);
	}
}

/* ---- moving between workers ---- */

static void conn_detached_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct worker *w = c->w;
	/* After the callback the conn may already be on another thread. */
	c->detach_cb(c, c->detach_arg);
	atomic_fetch_sub(&w->nconns, 1);
}

void conn_detach(struct conn *c, conn_detach_cb *cb, void *arg)
{
	if (c->vops && c->vops->detaching)
		c->vops->detaching(c->varg, c);
	c->detaching = true;
	c->detach_cb = cb;
	c->detach_arg = arg;
	list_remove(&c->link);
	list_remove(&c->flush_link);
	list_remove(&c->ready_link);
	c->poll_attached = false;
	uv_close((uv_handle_t *)&c->poll, conn_detached_cb);
}

void conn_attach(struct conn *c, struct worker *w)
{
	c->detaching = false;
	conn_attach_loop(c, w);
	if (c->vops && c->vops->attached)
		c->vops->attached(c->varg, c, w);
	if (c->closing) {
		if (c->qbytes)
			conn_flush(c);
		else
			conn_finish(c);
		return;
	}
	if (c->next_tops && c->qbytes == 0) {
		conn_install_transport(c);
		return;
	}
	conn_update_poll(c);
	if (c->qbytes)
		conn_schedule_flush(c);
	conn_schedule_read(c);
}

void conn_set_handler(struct conn *c, const struct conn_handler *h, void *owner)
{
	c->h = h;
	c->owner = owner;
}

/* ---- virtual conns ---- */

struct conn *conn_new_virtual(struct worker *w, const struct conn_handler *h, void *owner,
			      const struct conn_virtual_ops *ops, void *arg, const char *peer)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->id = atomic_fetch_add(&conn_next_id, 1);
	c->fd = -1;
	c->w = w;
	c->h = h;
	c->owner = owner;
	c->vops = ops;
	c->varg = arg;
	list_init(&c->link);
	list_init(&c->flush_link);
	list_init(&c->ready_link);
	c->last_read_ms = c->last_write_ms = worker_now(w);
	snprintf(c->peer, sizeof(c->peer), "%s", peer ? peer : "virtual");
	conn_attach_loop(c, w);
	return c;
}

bool conn_is_virtual(const struct conn *c)
{
	return c->vops != NULL;
}

void *conn_virtual_arg(const struct conn *c)
{
	return c->varg;
}

void conn_virtual_input(struct conn *c, size_t n)
{
	c->bytes_in += n;
	c->last_read_ms = worker_now(c->w);
}

void conn_virtual_flush(struct conn *c)
{
	if (c->vops && c->qbytes && !c->closed && !c->detaching)
		conn_flush(c);
}

void conn_share_transport(struct conn *from, struct conn *v)
{
	if (!from->tops || from->handshaking || v->tshare || !v->vops)
		return;
	if (!from->tshare) {
		struct conn_tshare *sh = xcalloc(1, sizeof(*sh));
		atomic_init(&sh->refs, 1);
		sh->ops = from->tops;
		sh->t = from->t;
		from->tshare = sh;
	}
	atomic_fetch_add(&from->tshare->refs, 1);
	v->tshare = from->tshare;
	v->t = from->tshare->t;
}

/* ---- facts ---- */

uint64_t conn_id(const struct conn *c) { return c->id; }
int conn_fd(const struct conn *c) { return c->fd; }
struct worker *conn_worker(const struct conn *c) { return c->w; }
const char *conn_peer(const struct conn *c) { return c->peer; }
const char *conn_peer_ip(const struct conn *c, char *buf, size_t n)
{
	/* The stored form without its ":port" (and brackets for IPv6). */
	const char *p = c->peer;
	const char *colon = strrchr(p, ':');
	size_t len = colon ? (size_t)(colon - p) : strlen(p);
	if (*p == '[' && len >= 2) {
		p++;
		len -= 2;
	}
	snprintf(buf, n, "%.*s", (int)len, p);
	return buf;
}

const char *conn_local(const struct conn *c, char *buf, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(c->fd, (struct sockaddr *)&ss, &sl) == 0)
		sockaddr_format(&ss, buf, n);
	else
		snprintf(buf, n, "unknown");
	return buf;
}
uint64_t conn_bytes_in(const struct conn *c) { return c->bytes_in; }
uint64_t conn_bytes_out(const struct conn *c) { return c->bytes_out; }
uint64_t conn_last_read_ms(const struct conn *c) { return c->last_read_ms; }
uint64_t conn_last_write_ms(const struct conn *c) { return c->last_write_ms; }
