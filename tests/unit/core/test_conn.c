/*
 * Unit tests of core/conn.c: a real conn on a real libuv loop (a worker
 * initialised on this thread, never started), one end of a socket pair as
 * its fd, the test holding the other end as the peer.
 *
 * Most tests install a scripted fake transport (struct conn_transport_ops)
 * that reads and writes the socket itself, as the TLS transport does:
 *   - reads refill an internal buffer from the socket (`record` bytes at a
 *     time, like a TLS record) and hand out at most a scripted number of
 *     bytes per call, so bytes can sit in the transport with the socket no
 *     longer readable;
 *   - writes accept at most a scripted number of bytes per call;
 *   - any call can be scripted to return WANT_READ, WANT_WRITE, EOF or
 *     ERROR instead;
 *   - the handshake consumes one byte from the socket per call (its
 *     "flight") and returns the next scripted result.
 * The fake also checks the write-retry contract of conn.h: after WANT_*,
 * the next write offers the same leading bytes, at least as many.
 *
 * The loop runs with UV_RUN_NOWAIT for a bounded number of iterations; the
 * 1 s sweep is called by hand (conn_sweep) with chosen clock values, so the
 * budgets are deterministic.  alarm() bounds every test in wall time: a
 * test that hangs dies with SIGALRM instead of stalling the suite.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/chunk.h"
#include "core/conn.h"
#include "core/conn_internal.h"
#include "core/worker.h"

enum { SPIN_MAX = 2000, TEST_ALARM_S = 20 };

/* ---- the fake transport ---- */

enum { SCRIPT_MAX = 64, WRITE_LOG_MAX = 4096 };

struct script {
	int step[SCRIPT_MAX]; /* >0: at most this many bytes; <0: a CONN_IO_* code */
	int n, i;
	int dflt; /* past the end; 0 = no limit (handshake: 0 = done) */
};

struct fake {
	struct script hs, rd, wr;
	size_t record; /* bytes taken from the socket per refill (0: 4096) */
	char err[64];

	char in[65536]; /* plaintext taken from the socket, not yet handed out */
	size_t inoff, inlen;
	char *want_buf; /* bytes offered by the last write that returned WANT_* */
	size_t want_len;

	int hs_calls, rd_calls, wr_calls, shutdowns, trims, frees;
	int retry_violations; /* writes after WANT_* not starting with the same bytes */
	size_t wr_len[WRITE_LOG_MAX]; /* bytes accepted by each successful write */
	int nwr_len;
	struct buf hs_bytes; /* what the handshake consumed */
};

/* The transport state conn owns and frees: heap-allocated, so a use after
 * the conn freed it is caught by ASan. */
struct fake_handle {
	struct fake *f;
};

static struct fake F;

static int script_next(struct script *s)
{
	return s->i < s->n ? s->step[s->i++] : s->dflt;
}

static void script_set(struct script *s, int dflt, int n, const int *steps)
{
	s->n = n;
	s->i = 0;
	s->dflt = dflt;
	for (int k = 0; k < n; k++)
		s->step[k] = steps[k];
}

#define SCRIPT(s, dflt, ...)                                                      \
	do {                                                                      \
		const int steps_[] = {__VA_ARGS__};                               \
		script_set(&(s), (dflt), (int)(sizeof(steps_) / sizeof(int)), steps_); \
	} while (0)

static struct fake *fk(void *t)
{
	return ((struct fake_handle *)t)->f;
}

static int fake_handshake(void *t, int fd)
{
	struct fake *f = fk(t);
	f->hs_calls++;
	char b;
	if (read(fd, &b, 1) == 1)
		buf_append(&f->hs_bytes, &b, 1);
	return script_next(&f->hs);
}

static ssize_t fake_read(void *t, int fd, char *out, size_t len)
{
	struct fake *f = fk(t);
	f->rd_calls++;
	int step = script_next(&f->rd);
	if (step < 0)
		return step;
	if (f->inlen == 0) {
		size_t rec = f->record ? f->record : 4096;
		ssize_t n = read(fd, f->in, rec < sizeof(f->in) ? rec : sizeof(f->in));
		if (n == 0)
			return CONN_IO_EOF;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return CONN_IO_WANT_READ;
			snprintf(f->err, sizeof(f->err), "fake: read: %s", strerror(errno));
			return CONN_IO_ERROR;
		}
		f->inoff = 0;
		f->inlen = (size_t)n;
	}
	size_t n = f->inlen;
	if (step > 0 && (size_t)step < n)
		n = (size_t)step;
	if (n > len)
		n = len;
	memcpy(out, f->in + f->inoff, n);
	f->inoff += n;
	f->inlen -= n;
	return (ssize_t)n;
}

static void fake_remember_want(struct fake *f, const char *buf, size_t len)
{
	free(f->want_buf);
	f->want_buf = malloc(len);
	memcpy(f->want_buf, buf, len);
	f->want_len = len;
}

static ssize_t fake_write(void *t, int fd, const char *buf, size_t len)
{
	struct fake *f = fk(t);
	f->wr_calls++;
	if (f->want_buf) {
		if (len < f->want_len || memcmp(buf, f->want_buf, f->want_len) != 0)
			f->retry_violations++;
		free(f->want_buf);
		f->want_buf = NULL;
		f->want_len = 0;
	}
	int step = script_next(&f->wr);
	if (step == CONN_IO_WANT_READ || step == CONN_IO_WANT_WRITE) {
		fake_remember_want(f, buf, len);
		return step;
	}
	if (step < 0)
		return step;
	size_t n = len;
	if (step > 0 && (size_t)step < n)
		n = (size_t)step;
	ssize_t r = write(fd, buf, n);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			fake_remember_want(f, buf, len);
			return CONN_IO_WANT_WRITE;
		}
		snprintf(f->err, sizeof(f->err), "fake: write: %s", strerror(errno));
		return CONN_IO_ERROR;
	}
	if (f->nwr_len < WRITE_LOG_MAX)
		f->wr_len[f->nwr_len++] = (size_t)r;
	return r;
}

static size_t fake_pending(void *t)
{
	return fk(t)->inlen;
}

static void fake_shutdown(void *t, int fd)
{
	(void)fd;
	fk(t)->shutdowns++;
}

static const char *fake_error(void *t)
{
	return fk(t)->err;
}

static void fake_trim(void *t)
{
	fk(t)->trims++;
}

static void fake_free(void *t)
{
	fk(t)->frees++;
	free(t);
}

static const struct conn_transport_ops fake_ops = {
	.name = "fake",
	.handshake = fake_handshake,
	.read = fake_read,
	.write = fake_write,
	.pending = fake_pending,
	.shutdown = fake_shutdown,
	.error = fake_error,
	.trim = fake_trim,
	.free = fake_free,
};

/* ---- the owner ---- */

enum act {
	ACT_NONE,
	ACT_CLOSE,            /* conn_close("owner closed") */
	ACT_ABORT,            /* conn_abort("owner aborted") */
	ACT_WRITE_CLOSE,      /* write "bye", conn_close */
	ACT_WRITE_ABORT,      /* write "bye", conn_abort */
	ACT_REASONS,          /* close "first", abort "second", close "third" */
	ACT_PAUSE,            /* conn_pause_reading */
	ACT_WRITE,            /* write "ack" */
};

struct rec {
	struct conn *c; /* NULL once on_close ran */
	struct buf in;  /* every byte on_read delivered, in order */
	int reads, handshakes, ticks, closes;
	int after_close; /* callbacks after on_close: must stay 0 */
	size_t max_read;
	char reason[256];
	uint64_t bytes_in, bytes_out; /* at on_close */
	enum act act;
	int act_at; /* on which on_read call (1-based) */
	struct conn *tick_victim; /* on_tick aborts this other conn */
	bool detached;
	struct buf events; /* "R" per on_read, "H" on_handshake, "C" on_close */
};

static void on_read(void *owner, struct conn *c, const char *data, size_t len)
{
	struct rec *r = owner;
	if (r->closes) {
		r->after_close++;
		return;
	}
	assert_ptr_equal(c, r->c);
	r->reads++;
	buf_append_char(&r->events, 'R');
	buf_append(&r->in, data, len);
	if (len > r->max_read)
		r->max_read = len;
	if (r->reads != r->act_at)
		return;
	switch (r->act) {
	case ACT_NONE:
		break;
	case ACT_CLOSE:
		conn_close(c, "owner closed");
		break;
	case ACT_ABORT:
		conn_abort(c, "owner aborted");
		break;
	case ACT_WRITE_CLOSE:
		conn_write(c, "bye", 3);
		conn_close(c, "owner closed");
		break;
	case ACT_WRITE_ABORT:
		conn_write(c, "bye", 3);
		conn_abort(c, "owner aborted");
		break;
	case ACT_REASONS:
		conn_close(c, "first");
		conn_abort(c, "second");
		conn_close(c, "third");
		break;
	case ACT_PAUSE:
		conn_pause_reading(c);
		break;
	case ACT_WRITE:
		conn_write(c, "ack", 3);
		break;
	}
}

static void on_handshake(void *owner, struct conn *c)
{
	struct rec *r = owner;
	if (r->closes) {
		r->after_close++;
		return;
	}
	assert_ptr_equal(c, r->c);
	r->handshakes++;
	buf_append_char(&r->events, 'H');
}

static void on_tick(void *owner, struct conn *c, uint64_t now_ms)
{
	(void)now_ms;
	struct rec *r = owner;
	if (r->closes) {
		r->after_close++;
		return;
	}
	assert_ptr_equal(c, r->c);
	r->ticks++;
	if (r->tick_victim) {
		conn_abort(r->tick_victim, "aborted from another conn's tick");
		r->tick_victim = NULL;
	}
}

static void on_close(void *owner, struct conn *c, const char *reason)
{
	struct rec *r = owner;
	if (r->closes)
		r->after_close++;
	r->closes++;
	buf_append_char(&r->events, 'C');
	snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "(null)");
	r->bytes_in = conn_bytes_in(c);
	r->bytes_out = conn_bytes_out(c);
	r->c = NULL;
}

static const struct conn_handler handler = {
	.on_read = on_read,
	.on_handshake = on_handshake,
	.on_tick = on_tick,
	.on_close = on_close,
};

/* ---- fixture: a worker, a socket pair, a started conn ---- */

struct side {
	struct conn *c; /* == r.c while open */
	int peer;       /* the test's end of the pair */
	struct rec r;
};

static struct worker W, W2;
static bool w2_used;
static struct side S, S2;

static void rec_free(struct rec *r)
{
	buf_clear(&r->in);
	buf_clear(&r->events);
}

static void side_open(struct side *s, struct worker *w)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	s->peer = sv[1];
	s->c = conn_new(w, sv[0], &handler, &s->r);
	s->r.c = s->c;
	conn_start(s->c);
}

static int setup(void **state)
{
	(void)state;
	alarm(TEST_ALARM_S);
	memset(&F, 0, sizeof(F));
	memset(&S, 0, sizeof(S));
	memset(&S2, 0, sizeof(S2));
	S.peer = S2.peer = -1;
	w2_used = false;
	memset(&W, 0, sizeof(W));
	memset(&W2, 0, sizeof(W2));
	worker_init(&W, 0, 0);
	conn_worker_start(&W);
	side_open(&S, &W);
	return 0;
}

static void spin_worker(struct worker *w, int n)
{
	for (int i = 0; i < n; i++)
		uv_run(&w->loop, UV_RUN_NOWAIT);
}

static void spin(int n)
{
	spin_worker(&W, n);
	if (w2_used)
		spin_worker(&W2, n);
}

static void side_close(struct side *s)
{
	if (s->r.c && !s->r.closes) {
		conn_abort(s->r.c, "test teardown");
		for (int i = 0; i < 10 && !s->r.closes; i++)
			spin(1);
	}
	if (s->peer >= 0)
		close(s->peer);
	s->peer = -1;
	rec_free(&s->r);
}

static int teardown(void **state)
{
	(void)state;
	side_close(&S);
	side_close(&S2);
	worker_discard(&W);
	if (w2_used)
		worker_discard(&W2);
	free(F.want_buf);
	buf_clear(&F.hs_bytes);
	alarm(0);
	return 0;
}

/* Installs the fake transport; its handshake completes at once unless the
 * test scripted F.hs first. */
static void use_fake(void)
{
	struct fake_handle *h = malloc(sizeof(*h));
	h->f = &F;
	conn_set_transport(S.c, &fake_ops, h);
}

static void peer_send(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

static void peer_sends(int fd, const char *s)
{
	peer_send(fd, s, strlen(s));
}

/* Reads what is available into b (at most `max` bytes this call); returns
 * 0 at EOF, -1 when nothing is available, else the byte count. */
static ssize_t peer_recv(int fd, struct buf *b, size_t max)
{
	char tmp[65536];
	if (max > sizeof(tmp))
		max = sizeof(tmp);
	ssize_t n = read(fd, tmp, max);
	if (n > 0)
		buf_append(b, tmp, (size_t)n);
	if (n < 0) {
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		return -1;
	}
	return n;
}

/* Spins until the peer has `want` bytes or sees EOF; returns whether it
 * saw EOF. */
static bool peer_collect(int fd, struct buf *b, size_t want)
{
	for (int i = 0; i < SPIN_MAX; i++) {
		spin(1);
		ssize_t n;
		while ((n = peer_recv(fd, b, 65536)) > 0)
			;
		if (n == 0)
			return true;
		if (b->len >= want && want)
			return false;
	}
	return false;
}

static void spin_until_closed(struct rec *r)
{
	for (int i = 0; i < SPIN_MAX && !r->closes; i++)
		spin(1);
}

static void spin_until_read(struct rec *r, size_t len)
{
	for (int i = 0; i < SPIN_MAX && r->in.len < len && !r->closes; i++)
		spin(1);
}

static void pattern(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + seed + i / 251) % 26);
}

/* ---- plain TCP (no transport) ---- */

static void plain_bytes_flow_both_ways(void **state)
{
	(void)state;
	peer_sends(S.peer, "<stream>");
	spin_until_read(&S.r, 8);
	assert_int_equal(S.r.in.len, 8);
	assert_memory_equal(S.r.in.data, "<stream>", 8);
	assert_int_equal(conn_bytes_in(S.c), 8);

	conn_write(S.c, "<reply/>", 8);
	struct buf got = BUF_INIT;
	assert_false(peer_collect(S.peer, &got, 8));
	assert_int_equal(got.len, 8);
	assert_memory_equal(got.data, "<reply/>", 8);
	assert_int_equal(conn_bytes_out(S.c), 8);
	assert_int_equal(conn_outq_bytes(S.c), 0);
	assert_false(conn_secure(S.c));
	assert_null(conn_transport(S.c));
	assert_string_equal(conn_peer(S.c), "unix");
	assert_int_equal(S.r.closes, 0);
	buf_clear(&got);
}

/* 1 MiB queued at once to a socket that takes ~200 KiB: writev hits EAGAIN,
 * the conn waits for writability while the peer drains slowly, and every
 * byte arrives in order. */
static void plain_large_write_survives_eagain(void **state)
{
	(void)state;
	size_t n = 1 << 20;
	char *p = malloc(n);
	pattern(p, n, 3);
	conn_write(S.c, p, n);
	assert_int_equal(conn_outq_bytes(S.c), n);
	struct buf got = BUF_INIT;
	for (int i = 0; i < 20 * SPIN_MAX && got.len < n; i++) {
		spin(1);
		peer_recv(S.peer, &got, 8192);
	}
	assert_int_equal(got.len, n);
	assert_memory_equal(got.data, p, n);
	assert_int_equal(conn_outq_bytes(S.c), 0);
	assert_int_equal(conn_bytes_out(S.c), n);
	assert_int_equal(S.r.closes, 0);
	buf_clear(&got);
	free(p);
}

/* The peer's last bytes are delivered, output queued in answer is still
 * flushed, then on_close runs once with the EOF reason. */
static void plain_peer_eof_flushes_then_closes_once(void **state)
{
	(void)state;
	S.r.act = ACT_WRITE;
	S.r.act_at = 1;
	peer_sends(S.peer, "last words");
	assert_int_equal(shutdown(S.peer, SHUT_WR), 0);
	struct buf got = BUF_INIT;
	assert_true(peer_collect(S.peer, &got, 0));
	spin_until_closed(&S.r);
	assert_int_equal(got.len, 3);
	assert_memory_equal(got.data, "ack", 3);
	assert_int_equal(S.r.in.len, 10);
	assert_memory_equal(S.r.in.data, "last words", 10);
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "peer closed the connection");
	assert_int_equal(S.r.bytes_in, 10);
	assert_int_equal(S.r.bytes_out, 3);
	spin(5);
	assert_int_equal(S.r.after_close, 0);
	assert_int_equal(S.r.events.len, 2);
	assert_memory_equal(S.r.events.data, "RC", 2);
	buf_clear(&got);
}

/* A peer gone for good: the write fails (EPIPE) and the conn is aborted
 * with the errno in its reason. */
static void plain_write_error_aborts_with_reason(void **state)
{
	(void)state;
	close(S.peer);
	S.peer = -1;
	conn_write(S.c, "into the void", 13);
	spin_until_closed(&S.r);
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "write error: Broken pipe");
	assert_int_equal(S.r.bytes_out, 0);
}

/* A peer that does not read: the conn keeps writing until the socket is
 * full, then its queue grows past the limit and it is aborted, once. */
static void plain_outq_limit_aborts_a_peer_that_does_not_read(void **state)
{
	(void)state;
	conn_set_outq_limit(S.c, 64 * 1024);
	char block[4096];
	pattern(block, sizeof(block), 1);
	int i;
	for (i = 0; i < SPIN_MAX && !S.r.closes; i++) {
		conn_write(S.c, block, sizeof(block));
		spin(1);
	}
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "output queue over 65536 bytes: the peer does not read fast enough");
	/* the socket took what it could before the queue grew */
	assert_true(S.r.bytes_out > 0);
	assert_true((size_t)i * sizeof(block) > S.r.bytes_out + 64 * 1024);
	spin(5);
	assert_int_equal(S.r.after_close, 0);
}

/* ---- the fake transport: reads ---- */

/* Bytes the peer sends in three pieces reach the owner through many small
 * reads (at most 7 bytes each), complete and in order. */
static void partial_reads_arrive_complete_and_in_order(void **state)
{
	(void)state;
	F.record = 64;
	SCRIPT(F.rd, 7, 7);
	use_fake();
	assert_int_equal(S.r.handshakes, 1);
	assert_true(conn_secure(S.c));
	char p[1000];
	pattern(p, sizeof(p), 5);
	peer_send(S.peer, p, 300);
	spin(3);
	peer_send(S.peer, p + 300, 1);
	spin(3);
	peer_send(S.peer, p + 301, sizeof(p) - 301);
	spin_until_read(&S.r, sizeof(p));
	assert_int_equal(S.r.in.len, sizeof(p));
	assert_memory_equal(S.r.in.data, p, sizeof(p));
	assert_int_equal(S.r.max_read, 7);
	assert_true(S.r.reads >= (int)(sizeof(p) + 6) / 7);
	assert_int_equal(conn_bytes_in(S.c), sizeof(p));
	assert_int_equal(S.r.closes, 0);
}

/* The transport took all 100 bytes off the socket at once and hands them
 * out one at a time: the socket is no longer readable, so the conn must
 * come back by itself after its 16 reads per event (the ready list). */
static void transport_buffered_bytes_are_read_without_socket_readiness(void **state)
{
	(void)state;
	SCRIPT(F.rd, 1, 1);
	use_fake();
	char p[100];
	pattern(p, sizeof(p), 9);
	peer_send(S.peer, p, sizeof(p));
	spin_until_read(&S.r, sizeof(p));
	assert_int_equal(S.r.in.len, sizeof(p));
	assert_memory_equal(S.r.in.data, p, sizeof(p));
	assert_int_equal(S.r.reads, 100);
	assert_int_equal(S.r.max_read, 1);
	assert_int_equal(F.inlen, 0);
}

/* WANT_READ with bytes still on the socket: the level-triggered poll brings
 * the conn back, nothing is lost or duplicated. */
static void read_want_read_is_retried(void **state)
{
	(void)state;
	F.record = 3;
	SCRIPT(F.rd, 0, CONN_IO_WANT_READ, 0, CONN_IO_WANT_READ, CONN_IO_WANT_READ, 0);
	use_fake();
	peer_sends(S.peer, "abcdefgh");
	spin_until_read(&S.r, 8);
	assert_int_equal(S.r.in.len, 8);
	assert_memory_equal(S.r.in.data, "abcdefgh", 8);
	assert_int_equal(S.r.reads, 3); /* "abc" "def" "gh" */
	assert_int_equal(S.r.closes, 0);
}

/* A read that needs the socket writable (TLS: a post-handshake message to
 * send) is retried on writability; afterwards the conn must be back to
 * waiting for readability, so later bytes from the peer still arrive. */
static void read_want_write_is_retried_and_reading_resumes(void **state)
{
	(void)state;
	SCRIPT(F.rd, 0, CONN_IO_WANT_WRITE);
	use_fake();
	peer_sends(S.peer, "abc");
	spin_until_read(&S.r, 3);
	assert_int_equal(S.r.in.len, 3);
	assert_memory_equal(S.r.in.data, "abc", 3);
	spin(5);
	peer_sends(S.peer, "def");
	spin_until_read(&S.r, 6);
	assert_int_equal(S.r.in.len, 6);
	assert_memory_equal(S.r.in.data, "abcdef", 6);
	assert_int_equal(S.r.closes, 0);
}

static void transport_eof_closes_once(void **state)
{
	(void)state;
	SCRIPT(F.rd, 0, 0, CONN_IO_EOF);
	use_fake();
	peer_sends(S.peer, "tail");
	spin_until_closed(&S.r);
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "peer closed the connection");
	assert_int_equal(S.r.in.len, 4);
	assert_memory_equal(S.r.in.data, "tail", 4);
	assert_int_equal(F.shutdowns, 1);
	assert_int_equal(F.frees, 1);
	spin(5);
	assert_int_equal(S.r.after_close, 0);
}

static void transport_read_error_aborts_with_its_reason(void **state)
{
	(void)state;
	snprintf(F.err, sizeof(F.err), "fake: bad record mac");
	SCRIPT(F.rd, 0, CONN_IO_ERROR);
	use_fake();
	peer_sends(S.peer, "x");
	spin_until_closed(&S.r);
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "fake: bad record mac");
	assert_int_equal(S.r.reads, 0);
	assert_int_equal(F.rd_calls, 1);
	assert_int_equal(F.shutdowns, 1);
	assert_int_equal(F.frees, 1);
	spin(5);
	assert_int_equal(S.r.after_close, 0);
}

/* ---- the fake transport: writes ---- */

/* The transport accepts few bytes per call and says WANT_WRITE in between:
 * all output arrives in order, every retry offers the same leading bytes,
 * and the queue empties. */
static void partial_writes_arrive_complete_and_in_order(void **state)
{
	(void)state;
	SCRIPT(F.wr, 1000, 300, CONN_IO_WANT_WRITE, 500, CONN_IO_WANT_WRITE, CONN_IO_WANT_WRITE, 1, 2,
	       CONN_IO_WANT_WRITE, 4000);
	use_fake();
	size_t n = 50000;
	char *p = malloc(n);
	pattern(p, n, 11);
	/* ten writes in one iteration, and one more chunk shared with "another
	 * session" */
	for (int i = 0; i < 10; i++)
		conn_write(S.c, p + (size_t)i * 4000, 4000);
	struct chunk *ch = chunk_from(p + 40000, 10000);
	conn_write_chunk(S.c, ch);
	assert_int_equal(conn_outq_bytes(S.c), n);
	struct buf got = BUF_INIT;
	peer_collect(S.peer, &got, n);
	assert_int_equal(got.len, n);
	assert_memory_equal(got.data, p, n);
	assert_int_equal(F.retry_violations, 0);
	assert_int_equal(conn_outq_bytes(S.c), 0);
	assert_int_equal(conn_bytes_out(S.c), n);
	/* the first writes took what the script allowed */
	assert_true(F.nwr_len > 6);
	assert_int_equal(F.wr_len[0], 300);
	assert_int_equal(F.wr_len[1], 500);
	assert_int_equal(F.wr_len[2], 1);
	assert_int_equal(F.wr_len[3], 2);
	assert_int_equal(F.wr_len[4], 4000);
	for (int i = 5; i < F.nwr_len; i++)
		assert_true(F.wr_len[i] <= 1000);
	assert_int_equal(atomic_load(&ch->refs), 1); /* the conn dropped its reference */
	chunk_unref(ch);
	buf_clear(&got);
	free(p);
	assert_int_equal(S.r.closes, 0);
}

/* WANT_WRITE with more output queued meanwhile: the retry offers the same
 * leading bytes and more, and everything arrives once, in order. */
static void write_retry_keeps_leading_bytes_while_output_grows(void **state)
{
	(void)state;
	SCRIPT(F.wr, 0, CONN_IO_WANT_WRITE, CONN_IO_WANT_WRITE, CONN_IO_WANT_WRITE, CONN_IO_WANT_WRITE);
	use_fake();
	conn_write(S.c, "<a/>", 4);
	spin(1);
	/* the flush, and perhaps the retry on writability, got WANT_WRITE */
	assert_true(F.wr_calls >= 1 && F.wr_calls <= 2);
	assert_int_equal(F.want_len, 4);
	struct chunk *ch = chunk_from("<b/>", 4);
	conn_write_chunk(S.c, ch); /* a second queue entry: the retry is staged */
	conn_write(S.c, "<c/>", 4);
	chunk_unref(ch);
	struct buf got = BUF_INIT;
	peer_collect(S.peer, &got, 12);
	assert_int_equal(got.len, 12);
	assert_memory_equal(got.data, "<a/><b/><c/>", 12);
	assert_int_equal(F.wr_calls, 5);
	/* one successful write carried all three */
	assert_int_equal(F.nwr_len, 1);
	assert_int_equal(F.wr_len[0], 12);
	assert_int_equal(F.retry_violations, 0);
	buf_clear(&got);
}

/* A write that wants the socket readable is not retried until it is; then
 * the output goes out and the byte that made it readable is delivered. */
static void write_want_read_waits_for_readable_socket(void **state)
{
	(void)state;
	SCRIPT(F.wr, 0, CONN_IO_WANT_READ);
	use_fake();
	conn_write(S.c, "ping", 4);
	spin(10);
	assert_int_equal(F.wr_calls, 1);
	struct buf got = BUF_INIT;
	assert_int_equal(peer_recv(S.peer, &got, 100), -1);
	peer_sends(S.peer, "x");
	peer_collect(S.peer, &got, 4);
	assert_int_equal(got.len, 4);
	assert_memory_equal(got.data, "ping", 4);
	assert_int_equal(F.wr_calls, 2);
	assert_int_equal(F.retry_violations, 0);
	spin_until_read(&S.r, 1);
	assert_int_equal(S.r.in.len, 1);
	assert_memory_equal(S.r.in.data, "x", 1);
	buf_clear(&got);
}

static void transport_write_error_aborts_with_its_reason(void **state)
{
	(void)state;
	snprintf(F.err, sizeof(F.err), "fake: write failed");
	SCRIPT(F.wr, 0, CONN_IO_ERROR);
	use_fake();
	conn_write(S.c, "doomed", 6);
	spin_until_closed(&S.r);
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "fake: write failed");
	assert_int_equal(S.r.bytes_out, 0);
	assert_int_equal(F.frees, 1);
}

/* Nothing is written when queued; the writes of one iteration share one
 * transport write (one TLS record), whether copied or shared chunks; a
 * large head goes out on its own. */
static void writes_in_one_iteration_share_one_transport_write(void **state)
{
	(void)state;
	use_fake();
	struct chunk *shared = chunk_from("<c/>", 4);
	conn_write(S.c, "<a/>", 4);
	conn_write(S.c, "<b/>", 4);
	conn_write_chunk(S.c, shared);
	conn_write(S.c, "<d/>", 4);
	assert_int_equal(F.wr_calls, 0);
	assert_int_equal(conn_outq_bytes(S.c), 16);
	struct buf got = BUF_INIT;
	peer_collect(S.peer, &got, 16);
	assert_int_equal(F.wr_calls, 1);
	assert_int_equal(F.wr_len[0], 16);
	assert_int_equal(got.len, 16);
	assert_memory_equal(got.data, "<a/><b/><c/><d/>", 16);

	/* a later iteration: a second write */
	conn_write(S.c, "<e/>", 4);
	conn_write_chunk(S.c, shared);
	peer_collect(S.peer, &got, 24);
	assert_int_equal(F.wr_calls, 2);
	assert_int_equal(F.wr_len[1], 8);
	assert_memory_equal(got.data + 16, "<e/><c/>", 8);

	/* a head of a record's size or more is written as is */
	size_t big = CONN_TLS_STAGING + 3616;
	char *p = malloc(big);
	pattern(p, big, 2);
	struct chunk *large = chunk_from(p, big);
	conn_write_chunk(S.c, large);
	conn_write(S.c, "<f/>", 4);
	peer_collect(S.peer, &got, 24 + big + 4);
	assert_int_equal(F.wr_calls, 4);
	assert_int_equal(F.wr_len[2], big);
	assert_int_equal(F.wr_len[3], 4);
	assert_int_equal(got.len, 24 + big + 4);
	assert_memory_equal(got.data + 24, p, big);
	assert_memory_equal(got.data + 24 + big, "<f/>", 4);
	assert_int_equal(F.retry_violations, 0);
	chunk_unref(large);
	chunk_unref(shared);
	free(p);
	buf_clear(&got);
}

/* A transport that never accepts a byte: up to the limit the queue holds,
 * one byte more aborts the conn with the limit in the reason. */
static void outq_limit_aborts_at_one_byte_over(void **state)
{
	(void)state;
	SCRIPT(F.wr, CONN_IO_WANT_WRITE, CONN_IO_WANT_WRITE);
	use_fake();
	conn_set_outq_limit(S.c, 10000);
	char p[10000];
	pattern(p, sizeof(p), 4);
	conn_write(S.c, p, sizeof(p));
	spin(10);
	assert_int_equal(S.r.closes, 0);
	assert_int_equal(conn_outq_bytes(S.c), 10000);
	assert_true(F.wr_calls >= 2);
	conn_write(S.c, "!", 1);
	spin_until_closed(&S.r);
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "output queue over 10000 bytes: the peer does not read fast enough");
	assert_int_equal(S.r.bytes_out, 0);
	assert_int_equal(F.frees, 1);
	spin(5);
	assert_int_equal(S.r.after_close, 0);
}

/* conn_close with output the transport never takes: the conn lingers, then
 * the sweep aborts it at the linger deadline with the owner's reason. */
static void close_lingers_until_deadline(void **state)
{
	(void)state;
	SCRIPT(F.wr, CONN_IO_WANT_WRITE, CONN_IO_WANT_WRITE);
	use_fake();
	conn_write(S.c, "stuck", 5);
	spin(2);
	uint64_t t0 = worker_now(&W);
	conn_close(S.c, "owner closed");
	assert_true(conn_closing(S.c));
	spin(10);
	assert_int_equal(S.r.closes, 0);
	conn_sweep(&W, t0 + 4999);
	spin(3);
	assert_int_equal(S.r.closes, 0);
	conn_sweep(&W, t0 + 5000);
	spin_until_closed(&S.r);
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "owner closed");
	assert_int_equal(S.r.ticks, 0); /* a closing conn gets no ticks */
	assert_int_equal(F.frees, 1);
}

/* ---- the fake transport: handshake ---- */

/* The handshake waits for readability after WANT_READ and for writability
 * after WANT_WRITE; output queued meanwhile waits for it, its bytes never
 * reach on_read, and application bytes after it do. */
static void handshake_waits_for_want_read_and_want_write(void **state)
{
	(void)state;
	SCRIPT(F.hs, 0, CONN_IO_WANT_READ, CONN_IO_WANT_WRITE, 0);
	use_fake();
	assert_int_equal(F.hs_calls, 1);
	assert_false(conn_secure(S.c));
	assert_ptr_not_equal(conn_transport(S.c), NULL);
	conn_write(S.c, "early", 5);
	spin(10);
	assert_int_equal(F.hs_calls, 1); /* nothing to read: not retried */
	assert_int_equal(F.wr_calls, 0);
	assert_int_equal(S.r.handshakes, 0);
	peer_sends(S.peer, "H");
	for (int i = 0; i < SPIN_MAX && !S.r.handshakes; i++)
		spin(1);
	assert_int_equal(F.hs_calls, 3);
	assert_int_equal(S.r.handshakes, 1);
	assert_true(conn_secure(S.c));
	assert_int_equal(F.hs_bytes.len, 1);
	assert_memory_equal(F.hs_bytes.data, "H", 1);
	struct buf got = BUF_INIT;
	peer_collect(S.peer, &got, 5);
	assert_int_equal(got.len, 5);
	assert_memory_equal(got.data, "early", 5);
	peer_sends(S.peer, "data");
	spin_until_read(&S.r, 4);
	assert_int_equal(S.r.in.len, 4);
	assert_memory_equal(S.r.in.data, "data", 4);
	assert_int_equal(S.r.events.len, 2);
	assert_memory_equal(S.r.events.data, "HR", 2);
	buf_clear(&got);
}

static void handshake_error_aborts_with_its_reason(void **state)
{
	(void)state;
	snprintf(F.err, sizeof(F.err), "fake: no shared cipher");
	SCRIPT(F.hs, 0, CONN_IO_WANT_READ, CONN_IO_ERROR);
	use_fake();
	conn_write(S.c, "never", 5);
	peer_sends(S.peer, "H");
	spin_until_closed(&S.r);
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "fake: no shared cipher");
	assert_int_equal(S.r.handshakes, 0);
	assert_int_equal(F.wr_calls, 0);
	assert_int_equal(F.shutdowns, 0); /* no close_notify before the handshake */
	assert_int_equal(F.frees, 1);
	struct buf got = BUF_INIT;
	assert_true(peer_collect(S.peer, &got, 0));
	assert_int_equal(got.len, 0);
	buf_clear(&got);
}

static void handshake_eof_closes_with_reason(void **state)
{
	(void)state;
	SCRIPT(F.hs, 0, CONN_IO_EOF);
	use_fake();
	spin_until_closed(&S.r);
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "peer closed the connection during the TLS handshake");
	assert_int_equal(F.frees, 1);
}

/* Plaintext queued before the transport is installed goes out first, in
 * the clear; reading waits; then the handshake starts. */
static void transport_waits_for_plaintext_output(void **state)
{
	(void)state;
	/* were the plaintext written through the transport, it would stall */
	SCRIPT(F.wr, 0, CONN_IO_WANT_WRITE);
	conn_write(S.c, "<proceed/>", 10);
	use_fake();
	assert_int_equal(F.hs_calls, 0);
	struct buf got = BUF_INIT;
	peer_collect(S.peer, &got, 10);
	assert_int_equal(got.len, 10);
	assert_memory_equal(got.data, "<proceed/>", 10);
	for (int i = 0; i < SPIN_MAX && !S.r.handshakes; i++)
		spin(1);
	assert_int_equal(F.hs_calls, 1);
	assert_int_equal(S.r.handshakes, 1);
	assert_int_equal(F.wr_calls, 0); /* the plaintext did not go through the transport */
	buf_clear(&got);
}

/* ---- closing from a callback ---- */

/* conn_close inside on_read: the rest of the read is not delivered, queued
 * output is flushed, on_close runs once, later, and nothing after it. */
static void close_inside_on_read(void **state)
{
	(void)state;
	SCRIPT(F.rd, 1, 1);
	use_fake();
	S.r.act = ACT_WRITE_CLOSE;
	S.r.act_at = 1;
	peer_sends(S.peer, "abcdef");
	struct buf got = BUF_INIT;
	assert_true(peer_collect(S.peer, &got, 0));
	spin_until_closed(&S.r);
	assert_int_equal(S.r.reads, 1);
	assert_int_equal(S.r.in.len, 1);
	assert_memory_equal(S.r.in.data, "a", 1);
	assert_int_equal(got.len, 3);
	assert_memory_equal(got.data, "bye", 3);
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "owner closed");
	assert_int_equal(F.rd_calls, 1);
	assert_int_equal(F.shutdowns, 1);
	assert_int_equal(F.frees, 1);
	spin(5);
	assert_int_equal(S.r.after_close, 0);
	buf_clear(&got);
}

/* conn_abort inside on_read: queued output is dropped, nothing more is
 * read, on_close runs once. */
static void abort_inside_on_read(void **state)
{
	(void)state;
	SCRIPT(F.rd, 1, 1);
	use_fake();
	S.r.act = ACT_WRITE_ABORT;
	S.r.act_at = 2;
	peer_sends(S.peer, "abcdef");
	struct buf got = BUF_INIT;
	assert_true(peer_collect(S.peer, &got, 0));
	spin_until_closed(&S.r);
	assert_int_equal(S.r.reads, 2);
	assert_memory_equal(S.r.in.data, "ab", 2);
	assert_int_equal(got.len, 0);
	assert_int_equal(F.wr_calls, 0);
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "owner aborted");
	assert_int_equal(S.r.bytes_out, 0);
	assert_int_equal(F.rd_calls, 2);
	assert_int_equal(F.frees, 1);
	spin(5);
	assert_int_equal(S.r.after_close, 0);
	buf_clear(&got);
}

/* Plain TCP, conn_abort inside on_read. */
static void plain_abort_inside_on_read(void **state)
{
	(void)state;
	S.r.act = ACT_ABORT;
	S.r.act_at = 1;
	peer_sends(S.peer, "hello");
	spin_until_closed(&S.r);
	assert_int_equal(S.r.reads, 1);
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "owner aborted");
	spin(5);
	assert_int_equal(S.r.after_close, 0);
	assert_int_equal(S.r.reads, 1);
}

/* Close, abort and close again: the first reason wins, on_close once. */
static void first_reason_wins(void **state)
{
	(void)state;
	S.r.act = ACT_REASONS;
	S.r.act_at = 1;
	peer_sends(S.peer, "x");
	spin_until_closed(&S.r);
	spin(5);
	assert_int_equal(S.r.closes, 1);
	assert_string_equal(S.r.reason, "first");
	assert_int_equal(S.r.after_close, 0);
}

/* An owner's on_tick may close another conn of the same worker: the sweep
 * must not trip over it, and the closed conn gets no tick. */
static void tick_closing_another_conn(void **state)
{
	(void)state;
	side_open(&S2, &W);
	struct side s3 = {.peer = -1};
	side_open(&s3, &W);
	S.r.tick_victim = S2.c; /* the conn after S in the worker's list */
	conn_sweep(&W, worker_now(&W));
	spin_until_closed(&S2.r);
	assert_int_equal(S.r.ticks, 1);
	assert_int_equal(S2.r.ticks, 0);
	assert_int_equal(s3.r.ticks, 1);
	assert_int_equal(S2.r.closes, 1);
	assert_string_equal(S2.r.reason, "aborted from another conn's tick");
	conn_sweep(&W, worker_now(&W));
	assert_int_equal(S.r.ticks, 2);
	assert_int_equal(s3.r.ticks, 2);
	assert_int_equal(S2.r.after_close, 0);
	side_close(&s3);
}

/* ---- budgets ---- */

/* 100 bytes/s with a burst of 100: reading stops once the bucket is spent,
 * even with bytes waiting, and each sweep lets the next portion in. */
static void read_rate_bucket_pauses_reading(void **state)
{
	(void)state;
	F.record = 60;
	SCRIPT(F.rd, 60, 60);
	use_fake();
	conn_set_read_rate(S.c, 100, 100);
	char p[250];
	pattern(p, sizeof(p), 6);
	peer_send(S.peer, p, sizeof(p));
	spin(20);
	assert_int_equal(S.r.in.len, 120); /* 100 tokens: 60, then 60 (-20) */
	spin(20);
	assert_int_equal(S.r.in.len, 120);
	conn_sweep(&W, worker_now(&W)); /* +100: 80 */
	spin(20);
	assert_int_equal(S.r.in.len, 240); /* 60, then 60 (-40) */
	conn_sweep(&W, worker_now(&W)); /* +100: 60 */
	spin(20);
	assert_int_equal(S.r.in.len, 250);
	assert_memory_equal(S.r.in.data, p, sizeof(p));
	assert_int_equal(S.r.ticks, 2);
	assert_int_equal(S.r.closes, 0);
}

static void pause_and_resume_reading(void **state)
{
	(void)state;
	SCRIPT(F.rd, 2, 2);
	use_fake();
	conn_pause_reading(S.c);
	peer_sends(S.peer, "abcdef");
	spin(20);
	assert_int_equal(S.r.reads, 0);
	assert_int_equal(F.rd_calls, 0);
	/* paused again from inside on_read, with bytes left in the transport
	 * and none on the socket */
	S.r.act = ACT_PAUSE;
	S.r.act_at = 1;
	conn_resume_reading(S.c);
	spin(20);
	assert_int_equal(S.r.reads, 1);
	assert_memory_equal(S.r.in.data, "ab", 2);
	assert_int_equal(F.inlen, 4);
	conn_resume_reading(S.c);
	spin_until_read(&S.r, 6);
	assert_int_equal(S.r.in.len, 6);
	assert_memory_equal(S.r.in.data, "abcdef", 6);
	assert_int_equal(S.r.reads, 3);
	assert_int_equal(S.r.closes, 0);
}

/* A conn quiet for a second releases its transport's buffers once; a read
 * makes it eligible again. */
static void idle_conn_trims_its_transport_once(void **state)
{
	(void)state;
	use_fake();
	uint64_t t = conn_last_read_ms(S.c);
	conn_sweep(&W, t + 999);
	assert_int_equal(F.trims, 0);
	conn_sweep(&W, t + 1000);
	assert_int_equal(F.trims, 1);
	conn_sweep(&W, t + 2000);
	assert_int_equal(F.trims, 1);
	peer_sends(S.peer, "x");
	spin_until_read(&S.r, 1);
	t = conn_last_read_ms(S.c);
	conn_sweep(&W, t + 1000);
	assert_int_equal(F.trims, 2);
	assert_int_equal(S.r.ticks, 4);
}

/* ---- moving between workers ---- */

static bool detach_done;

static void detached(struct conn *c, void *arg)
{
	(void)c;
	*(bool *)arg = true;
}

static void on_read_detach(void *owner, struct conn *c, const char *data, size_t len)
{
	on_read(owner, c, data, len);
	conn_detach(c, detached, &detach_done);
}

static const struct conn_handler detach_handler = {
	.on_read = on_read_detach,
	.on_handshake = on_handshake,
	.on_tick = on_tick,
	.on_close = on_close,
};

/* Detached from inside on_read with bytes left in the transport, output
 * queued while in transit: on the new worker both are delivered. */
static void detach_and_attach_carry_buffered_bytes(void **state)
{
	(void)state;
	SCRIPT(F.rd, 4, 4);
	use_fake();
	worker_init(&W2, 1, 0);
	conn_worker_start(&W2);
	w2_used = true;
	detach_done = false;
	conn_set_handler(S.c, &detach_handler, &S.r);
	peer_sends(S.peer, "0123456789");
	for (int i = 0; i < SPIN_MAX && !detach_done; i++)
		spin_worker(&W, 1);
	assert_true(detach_done);
	assert_int_equal(S.r.in.len, 4);
	assert_memory_equal(S.r.in.data, "0123", 4);
	conn_set_handler(S.c, &handler, &S.r);
	conn_write(S.c, "moved", 5);
	conn_attach(S.c, &W2);
	assert_ptr_equal(conn_worker(S.c), &W2);
	struct buf got = BUF_INIT;
	for (int i = 0; i < SPIN_MAX && (S.r.in.len < 10 || got.len < 5); i++) {
		spin_worker(&W2, 1);
		peer_recv(S.peer, &got, 100);
	}
	assert_int_equal(S.r.in.len, 10);
	assert_memory_equal(S.r.in.data, "0123456789", 10);
	assert_int_equal(got.len, 5);
	assert_memory_equal(got.data, "moved", 5);
	assert_int_equal(atomic_load(&W.nconns), 0);
	assert_int_equal(atomic_load(&W2.nconns), 1);
	assert_int_equal(S.r.closes, 0);
	buf_clear(&got);
}

int main(void)
{
	/* a peer gone for good must be an EPIPE, not a signal (parleyd
	 * ignores SIGPIPE too) */
	signal(SIGPIPE, SIG_IGN);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(plain_bytes_flow_both_ways),
		T(plain_large_write_survives_eagain),
		T(plain_peer_eof_flushes_then_closes_once),
		T(plain_write_error_aborts_with_reason),
		T(plain_outq_limit_aborts_a_peer_that_does_not_read),
		T(partial_reads_arrive_complete_and_in_order),
		T(transport_buffered_bytes_are_read_without_socket_readiness),
		T(read_want_read_is_retried),
		T(read_want_write_is_retried_and_reading_resumes),
		T(transport_eof_closes_once),
		T(transport_read_error_aborts_with_its_reason),
		T(partial_writes_arrive_complete_and_in_order),
		T(write_retry_keeps_leading_bytes_while_output_grows),
		T(write_want_read_waits_for_readable_socket),
		T(transport_write_error_aborts_with_its_reason),
		T(writes_in_one_iteration_share_one_transport_write),
		T(outq_limit_aborts_at_one_byte_over),
		T(close_lingers_until_deadline),
		T(handshake_waits_for_want_read_and_want_write),
		T(handshake_error_aborts_with_its_reason),
		T(handshake_eof_closes_with_reason),
		T(transport_waits_for_plaintext_output),
		T(close_inside_on_read),
		T(abort_inside_on_read),
		T(plain_abort_inside_on_read),
		T(first_reason_wins),
		T(tick_closing_another_conn),
		T(read_rate_bucket_pauses_reading),
		T(pause_and_resume_reading),
		T(idle_conn_trims_its_transport_once),
		T(detach_and_attach_carry_buffered_bytes),
	};
#undef T
	return cmocka_run_group_tests_name("conn", tests, NULL, NULL);
}
