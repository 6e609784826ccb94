/*
 * Unit tests of the virtual conns of core/conn.c (conn_new_virtual): no
 * socket, output handed to the owner's callback once per loop iteration,
 * deferred close, detach/attach between workers, and a transport lent by
 * a socket's conn (conn_share_transport) that outlives it.
 *
 * Workers are initialised on this thread and never started; the loop runs
 * with UV_RUN_NOWAIT a bounded number of times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/chunk.h"
#include "core/conn.h"
#include "core/conn_internal.h"
#include "core/worker.h"

enum { SPIN_MAX = 200 };

static struct worker W, W2;

struct rec {
	struct buf out;
	unsigned writes;   /* calls of the write callback */
	unsigned closes;
	unsigned closed;   /* the `closed` hook */
	unsigned detaching, attached;
	struct worker *attached_to;
	char reason[128];
	char order[16];    /* 'c' on_close, 'v' closed hook */
};

static void on_read(void *o, struct conn *c, const char *d, size_t n)
{
	(void)o, (void)c, (void)d, (void)n;
	fail_msg("a virtual conn read");
}

static void on_handshake(void *o, struct conn *c)
{
	(void)o, (void)c;
}

static void on_tick(void *o, struct conn *c, uint64_t now)
{
	(void)o, (void)c, (void)now;
}

static void on_close(void *o, struct conn *c, const char *reason)
{
	(void)c;
	struct rec *r = o;
	r->closes++;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	strncat(r->order, "c", sizeof(r->order) - strlen(r->order) - 1);
}

static const struct conn_handler handler = {on_read, on_handshake, on_tick, on_close};

static void v_write(void *arg, struct conn *c, const struct iovec *iov, size_t n)
{
	(void)c;
	struct rec *r = arg;
	r->writes++;
	for (size_t i = 0; i < n; i++)
		buf_append(&r->out, iov[i].iov_base, iov[i].iov_len);
}

static void v_detaching(void *arg, struct conn *c)
{
	(void)c;
	((struct rec *)arg)->detaching++;
}

static void v_attached(void *arg, struct conn *c, struct worker *w)
{
	(void)c;
	struct rec *r = arg;
	r->attached++;
	r->attached_to = w;
}

static void v_closed(void *arg, struct conn *c)
{
	(void)c;
	struct rec *r = arg;
	r->closed++;
	strncat(r->order, "v", sizeof(r->order) - strlen(r->order) - 1);
}

static const struct conn_virtual_ops vops = {v_write, v_detaching, v_attached, v_closed};

static void spin(struct worker *w, int n)
{
	for (int i = 0; i < n; i++)
		uv_run(&w->loop, UV_RUN_NOWAIT);
}

static int setup(void **state)
{
	(void)state;
	worker_init(&W, 0, 0);
	conn_worker_start(&W);
	worker_init(&W2, 1, 0);
	conn_worker_start(&W2);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	worker_discard(&W);
	worker_discard(&W2);
	return 0;
}

static void output_goes_to_the_callback_once_per_iteration(void **state)
{
	(void)state;
	struct rec r = {.out = BUF_INIT};
	struct conn *c = conn_new_virtual(&W, &handler, &r, &vops, &r, "192.0.2.1:4000");
	assert_true(conn_is_virtual(c));
	assert_ptr_equal(conn_virtual_arg(c), &r);
	assert_false(conn_secure(c));
	assert_null(conn_transport(c));
	assert_string_equal(conn_peer(c), "192.0.2.1:4000");
	char ip[64];
	assert_string_equal(conn_peer_ip(c, ip, sizeof(ip)), "192.0.2.1");
	conn_write(c, "<a/>", 4);
	struct chunk *ch = chunk_new(16);
	memcpy(ch->data, "<b>x</b>", 8);
	ch->len = 8;
	conn_write_chunk(c, ch);
	chunk_unref(ch);
	conn_write(c, "<c/>", 4);
	assert_int_equal(r.writes, 0); /* nothing before the flush */
	spin(&W, 2);
	assert_int_equal(r.writes, 1);
	assert_int_equal(r.out.len, 16);
	assert_memory_equal(r.out.data, "<a/><b>x</b><c/>", 16);
	assert_int_equal(conn_bytes_out(c), 16);
	assert_int_equal(conn_outq_bytes(c), 0);
	conn_virtual_input(c, 7);
	assert_int_equal(conn_bytes_in(c), 7);
	/* At once, on request. */
	conn_write(c, "<d/>", 4);
	conn_virtual_flush(c);
	assert_int_equal(r.writes, 2);
	conn_close(c, "done");
	for (int i = 0; i < SPIN_MAX && !r.closed; i++)
		spin(&W, 1);
	assert_int_equal(r.closes, 1);
	assert_int_equal(r.closed, 1);
	assert_string_equal(r.order, "cv");
	assert_string_equal(r.reason, "done");
	assert_int_equal(atomic_load(&W.nconns), 0);
	buf_clear(&r.out);
}

static void close_delivers_queued_output_first(void **state)
{
	(void)state;
	struct rec r = {.out = BUF_INIT};
	struct conn *c = conn_new_virtual(&W, &handler, &r, &vops, &r, NULL);
	conn_write(c, "<last/>", 7);
	conn_close(c, "bye");
	assert_true(conn_closing(c));
	for (int i = 0; i < SPIN_MAX && !r.closed; i++)
		spin(&W, 1);
	assert_int_equal(r.out.len, 7);
	assert_int_equal(r.closed, 1);
	buf_clear(&r.out);
}

static bool moved;

static void detached_cb(struct conn *c, void *arg)
{
	(void)arg;
	(void)c;
	moved = true;
}

/* Output queued before the move goes out on the new worker. */
static void moves_between_workers(void **state)
{
	(void)state;
	struct rec r = {.out = BUF_INIT};
	struct conn *c = conn_new_virtual(&W, &handler, &r, &vops, &r, NULL);
	assert_int_equal(atomic_load(&W.nconns), 1);
	conn_write(c, "<success/>", 10);
	moved = false;
	conn_detach(c, detached_cb, NULL);
	assert_int_equal(r.detaching, 1);
	for (int i = 0; i < SPIN_MAX && !moved; i++)
		spin(&W, 1);
	assert_true(moved);
	assert_int_equal(r.writes, 0);
	assert_int_equal(atomic_load(&W.nconns), 0);
	conn_attach(c, &W2);
	assert_int_equal(r.attached, 1);
	assert_ptr_equal(r.attached_to, &W2);
	assert_ptr_equal(conn_worker(c), &W2);
	spin(&W2, 2);
	assert_int_equal(r.writes, 1);
	assert_int_equal(r.out.len, 10);
	conn_abort(c, "end");
	for (int i = 0; i < SPIN_MAX && !r.closed; i++)
		spin(&W2, 1);
	assert_int_equal(r.closed, 1);
	assert_int_equal(atomic_load(&W2.nconns), 0);
	buf_clear(&r.out);
}

/* ---- a lent transport ---- */

static unsigned tfrees;

static int t_handshake(void *t, int fd)
{
	(void)t, (void)fd;
	return 0;
}
static ssize_t t_read(void *t, int fd, char *b, size_t n)
{
	(void)t, (void)fd, (void)b, (void)n;
	return CONN_IO_WANT_READ;
}
static ssize_t t_write(void *t, int fd, const char *b, size_t n)
{
	(void)t, (void)fd, (void)b;
	return (ssize_t)n;
}
static size_t t_pending(void *t)
{
	(void)t;
	return 0;
}
static void t_shutdown(void *t, int fd)
{
	(void)t, (void)fd;
}
static const char *t_error(void *t)
{
	(void)t;
	return "none";
}
static void t_free(void *t)
{
	(void)t;
	tfrees++;
}

static const struct conn_transport_ops fake_tops = {
	"fake", t_handshake, t_read, t_write, t_pending, t_shutdown, t_error, NULL, t_free,
};

static void lent_transport_outlives_its_conn(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct rec rs = {.out = BUF_INIT}, rv = {.out = BUF_INIT};
	struct conn *s = conn_new(&W, sv[0], &handler, &rs);
	conn_start(s);
	static int tstate;
	tfrees = 0;
	conn_set_transport(s, &fake_tops, &tstate);
	spin(&W, 2);
	assert_true(conn_secure(s));
	struct conn *v = conn_new_virtual(&W, &handler, &rv, &vops, &rv, conn_peer(s));
	conn_share_transport(s, v);
	assert_true(conn_secure(v));
	assert_ptr_equal(conn_transport(v), &tstate);
	conn_abort(s, "client left");
	for (int i = 0; i < SPIN_MAX && !rs.closes; i++)
		spin(&W, 1);
	assert_int_equal(rs.closes, 1);
	assert_int_equal(tfrees, 0); /* still lent */
	assert_ptr_equal(conn_transport(v), &tstate);
	conn_close(v, "session over");
	for (int i = 0; i < SPIN_MAX && !rv.closed; i++)
		spin(&W, 1);
	assert_int_equal(tfrees, 1);
	close(sv[1]);
	buf_clear(&rs.out);
	buf_clear(&rv.out);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(20);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(output_goes_to_the_callback_once_per_iteration),
		T(close_delivers_queued_output_first),
		T(moves_between_workers),
		T(lent_transport_outlives_its_conn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
