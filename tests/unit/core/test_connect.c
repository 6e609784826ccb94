/*
 * Unit tests of core/connect.c: outgoing connects on a real libuv loop (a
 * worker initialised on this thread, never started), against sockets the
 * test opens itself on loopback only:
 *   - a listener on 127.0.0.1 (and on ::1 when the machine has IPv6);
 *   - a closed port (bound to learn a free port number, then closed), which
 *     the kernel refuses;
 *   - a "black hole": a listener with listen(fd, 0) whose accept queue is
 *     filled by one connection the test never accepts.  Linux then drops
 *     further SYNs instead of answering them, so a connect to it stays in
 *     SYN_SENT and only our timer ends it: the timeout path, on loopback.
 * Cancelling is checked for callbacks that must not come, sockets left
 * open (/proc/self/fd) and handles left on the loop; ASan checks memory.
 *
 * The loop runs with UV_RUN_NOWAIT and 1 ms naps up to a deadline; alarm()
 * bounds each test in wall time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/conn.h"
#include "core/conn_internal.h"
#include "core/connect.h"
#include "core/worker.h"

enum { TEST_ALARM_S = 20, MAX_ATTEMPTS = 8 };

static struct worker W;

/* ---- what the owner hears ---- */

struct outcome {
	int calls;
	int fd;
	size_t n;
	struct connect_attempt attempts[MAX_ATTEMPTS];
	unsigned timeout_ms;
	char text[1024];
	struct connect *self;    /* for the cancel-from-the-callback case */
	bool cancel_in_cb;
};

static void on_connect(void *ud, int fd, const struct connect_report *r)
{
	struct outcome *o = ud;
	o->calls++;
	o->fd = fd;
	o->n = r->n;
	o->timeout_ms = r->timeout_ms;
	for (size_t i = 0; i < r->n && i < MAX_ATTEMPTS; i++)
		o->attempts[i] = r->attempts[i];
	connect_report_str(r, o->text, sizeof(o->text));
	if (o->cancel_in_cb)
		conn_connect_cancel(o->self); /* must do nothing */
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop until *flag is non-zero or `ms` have passed. */
static void spin_until(const int *flag, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	while ((!flag || *flag == 0) && now_ms() < end) {
		uv_run(&W.loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	uv_run(&W.loop, UV_RUN_NOWAIT);
}

static void count_handle(uv_handle_t *h, void *arg)
{
	(void)h;
	(*(int *)arg)++;
}

/* Every handle on the loop, closing or not. */
static int loop_handles(void)
{
	int n = 0;
	uv_walk(&W.loop, count_handle, &n);
	return n;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

/* ---- sockets on loopback ---- */

static int listen_on(int family, const char *ip, int backlog, unsigned *port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t sl;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &sin->sin_addr);
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &sin6->sin6_addr);
		sl = sizeof(*sin6);
	}
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog) < 0) {
		close(fd);
		return -1;
	}
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* A port on 127.0.0.1 that nothing listens on (free a moment ago). */
static unsigned closed_port(void)
{
	unsigned port = 0;
	int fd = listen_on(AF_INET, "127.0.0.1", 1, &port);
	assert_true(fd >= 0);
	close(fd);
	return port;
}

/* A listener that answers no SYN: its accept queue (backlog 0) holds one
 * connection that is never accepted.  *filler is that connection. */
static int black_hole(unsigned *port, int *filler)
{
	int fd = listen_on(AF_INET, "127.0.0.1", 0, port);
	assert_true(fd >= 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	*filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(*filler >= 0);
	int r = connect(*filler, (struct sockaddr *)&sin, sizeof(sin));
	assert_true(r == 0 || errno == EINPROGRESS);
	struct pollfd p = {.fd = *filler, .events = POLLOUT};
	assert_int_equal(poll(&p, 1, 2000), 1); /* the filler got in */

	/* Prove the hole: a second connect must not complete. */
	int probe = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	r = connect(probe, (struct sockaddr *)&sin, sizeof(sin));
	assert_true(r < 0 && errno == EINPROGRESS);
	p = (struct pollfd){.fd = probe, .events = POLLOUT};
	if (poll(&p, 1, 100) != 0)
		fail_msg("this kernel answers SYNs past a full accept queue; no black hole on loopback");
	close(probe);
	return fd;
}

static int setup(void **state)
{
	(void)state;
	alarm(TEST_ALARM_S);
	memset(&W, 0, sizeof(W));
	worker_init(&W, 0, 0);
	conn_worker_start(&W);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	worker_discard(&W);
	alarm(0);
	return 0;
}

static void assert_text_has(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("\"%s\" does not contain \"%s\"", text, needle);
}

/* ---- tests ---- */

static void connects_to_a_listener(void **state)
{
	(void)state;
	unsigned port;
	int l = listen_on(AF_INET, "127.0.0.1", 16, &port);
	assert_true(l >= 0);
	struct outcome o = {0};
	const struct connect_target t[] = {{"127.0.0.1", port}};
	conn_connect_start(&W, t, 1, 2000, on_connect, &o);
	assert_int_equal(o.calls, 0); /* never from inside the start */
	spin_until(&o.calls, 3000);

	assert_int_equal(o.calls, 1);
	assert_true(o.fd >= 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.attempts[0].result, CONNECT_OK);
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%u", port);
	assert_string_equal(o.attempts[0].addr, want);

	/* Connected to that port, non-blocking, close-on-exec, no Nagle. */
	struct sockaddr_in peer;
	socklen_t sl = sizeof(peer);
	assert_int_equal(getpeername(o.fd, (struct sockaddr *)&peer, &sl), 0);
	assert_int_equal(ntohs(peer.sin_port), port);
	assert_true(fcntl(o.fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(o.fd, F_GETFD) & FD_CLOEXEC);
	int nodelay = 0;
	sl = sizeof(nodelay);
	assert_int_equal(getsockopt(o.fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &sl), 0);
	assert_true(nodelay);
	int a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	close(a);
	close(o.fd);
	close(l);
}

static void refused_then_the_next_address(void **state)
{
	(void)state;
	unsigned dead = closed_port(), port;
	int l = listen_on(AF_INET, "127.0.0.1", 16, &port);
	const struct connect_target t[] = {{"127.0.0.1", dead}, {"127.0.0.1", port}};
	struct outcome o = {0};
	conn_connect_start(&W, t, 2, 2000, on_connect, &o);
	spin_until(&o.calls, 3000);

	assert_int_equal(o.calls, 1);
	assert_true(o.fd >= 0);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.attempts[0].result, CONNECT_REFUSED);
	assert_int_equal(o.attempts[0].err, ECONNREFUSED);
	assert_int_equal(o.attempts[1].result, CONNECT_OK);
	char want[128];
	snprintf(want, sizeof(want), "127.0.0.1:%u refused; 127.0.0.1:%u connected", dead, port);
	assert_string_equal(o.text, want);
	close(o.fd);
	close(l);
}

static void timeout_then_the_next_address(void **state)
{
	(void)state;
	unsigned hole_port, port;
	int filler;
	int hole = black_hole(&hole_port, &filler);
	int l = listen_on(AF_INET, "127.0.0.1", 16, &port);
	const struct connect_target t[] = {{"127.0.0.1", hole_port}, {"127.0.0.1", port}};
	struct outcome o = {0};
	uint64_t t0 = now_ms();
	conn_connect_start(&W, t, 2, 200, on_connect, &o);
	spin_until(&o.calls, 5000);
	uint64_t took = now_ms() - t0;

	assert_int_equal(o.calls, 1);
	assert_true(o.fd >= 0);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.attempts[0].result, CONNECT_TIMEOUT);
	assert_int_equal(o.attempts[0].err, 0);
	assert_true(o.attempts[0].elapsed_ms >= 150);
	assert_true(took >= 190 && took < 3000);
	assert_int_equal(o.attempts[1].result, CONNECT_OK);
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%u timed out after 200 ms", hole_port);
	assert_text_has(o.text, want);
	close(o.fd);
	close(l);
	close(filler);
	close(hole);
}

static void every_failure_is_reported(void **state)
{
	(void)state;
	unsigned d1 = closed_port(), d2 = closed_port(), hole_port;
	int filler;
	int hole = black_hole(&hole_port, &filler);
	const struct connect_target t[] = {
		{"127.0.0.1", d1},
		{"not-an-ip", 5269},
		{"127.0.0.1", 0},
		{"[::1]", 5269}, /* brackets are for display, not for targets */
		{"127.0.0.1", hole_port},
		{"127.0.0.1", d2},
	};
	int fds = open_fds();
	struct outcome o = {0};
	conn_connect_start(&W, t, 6, 100, on_connect, &o);
	spin_until(&o.calls, 5000);

	assert_int_equal(o.calls, 1);
	assert_int_equal(o.fd, -1);
	assert_int_equal(o.n, 6);
	assert_int_equal(o.attempts[0].result, CONNECT_REFUSED);
	assert_int_equal(o.attempts[1].result, CONNECT_BAD_ADDRESS);
	assert_int_equal(o.attempts[2].result, CONNECT_BAD_ADDRESS);
	assert_int_equal(o.attempts[3].result, CONNECT_BAD_ADDRESS);
	assert_int_equal(o.attempts[4].result, CONNECT_TIMEOUT);
	assert_int_equal(o.attempts[5].result, CONNECT_REFUSED);
	assert_text_has(o.text, "not-an-ip:5269 is not an IP address with a port");
	assert_text_has(o.text, "127.0.0.1:0 is not an IP address with a port");
	assert_text_has(o.text, "timed out after 100 ms");
	assert_int_equal(open_fds(), fds); /* every attempt's socket closed */
	close(filler);
	close(hole);
}

static void an_empty_list_reports_from_the_loop(void **state)
{
	(void)state;
	struct outcome o = {0};
	conn_connect_start(&W, NULL, 0, 0, on_connect, &o);
	assert_int_equal(o.calls, 0);
	spin_until(&o.calls, 1000);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.fd, -1);
	assert_int_equal(o.n, 0);
	assert_int_equal(o.timeout_ms, CONNECT_TIMEOUT_DEFAULT_MS);
	assert_string_equal(o.text, "no address to try");
}

static void ipv6_literal(void **state)
{
	(void)state;
	unsigned port;
	int l = listen_on(AF_INET6, "::1", 16, &port);
	if (l < 0)
		skip(); /* no IPv6 on this machine's loopback */
	unsigned dead = closed_port();
	const struct connect_target t[] = {{"127.0.0.1", dead}, {"::1", port}};
	struct outcome o = {0};
	conn_connect_start(&W, t, 2, 2000, on_connect, &o);
	spin_until(&o.calls, 3000);
	assert_int_equal(o.calls, 1);
	assert_true(o.fd >= 0);
	assert_int_equal(o.attempts[1].result, CONNECT_OK);
	char want[64];
	snprintf(want, sizeof(want), "[::1]:%u", port);
	assert_string_equal(o.attempts[1].addr, want);
	close(o.fd);
	close(l);
}

static void cancel_in_flight(void **state)
{
	(void)state;
	unsigned dead = closed_port(), hole_port;
	int filler;
	int hole = black_hole(&hole_port, &filler);
	int fds = open_fds();
	int handles = loop_handles();
	/* The first address is refused, the second hangs: the owner goes
	 * away in the middle of the walk. */
	const struct connect_target t[] = {{"127.0.0.1", dead}, {"127.0.0.1", hole_port}};
	struct outcome o = {0};
	struct connect *cn = conn_connect_start(&W, t, 2, 5000, on_connect, &o);
	spin_until(NULL, 50);
	assert_int_equal(o.calls, 0);
	assert_int_equal(open_fds(), fds + 1); /* the attempt in flight */
	assert_true(loop_handles() > handles);
	conn_connect_cancel(cn);
	assert_int_equal(open_fds(), fds); /* closed at once */
	spin_until(NULL, 50);
	assert_int_equal(loop_handles(), handles); /* and the handles too */
	assert_int_equal(o.calls, 0);
	close(filler);
	close(hole);
}

static void cancel_before_the_loop_runs(void **state)
{
	(void)state;
	unsigned port;
	int l = listen_on(AF_INET, "127.0.0.1", 16, &port);
	int fds = open_fds();
	int handles = loop_handles();
	const struct connect_target t[] = {{"127.0.0.1", port}};
	struct outcome o = {0};
	/* Loopback may connect inside connect(): the outcome then waits for
	 * the loop, holding the socket, and the cancel must close it. */
	struct connect *cn = conn_connect_start(&W, t, 1, 2000, on_connect, &o);
	conn_connect_cancel(cn);
	assert_int_equal(open_fds(), fds);
	spin_until(NULL, 50);
	assert_int_equal(o.calls, 0);
	assert_int_equal(loop_handles(), handles);

	/* Also with nothing to try: the deferred report is cancelled. */
	cn = conn_connect_start(&W, NULL, 0, 0, on_connect, &o);
	conn_connect_cancel(cn);
	conn_connect_cancel(NULL);
	spin_until(NULL, 50);
	assert_int_equal(o.calls, 0);
	assert_int_equal(loop_handles(), handles);
	close(l);
}

static void cancel_from_the_callback_does_nothing(void **state)
{
	(void)state;
	unsigned dead = closed_port();
	int handles = loop_handles();
	const struct connect_target t[] = {{"127.0.0.1", dead}};
	struct outcome o = {.cancel_in_cb = true};
	o.self = conn_connect_start(&W, t, 1, 2000, on_connect, &o);
	spin_until(&o.calls, 3000);
	assert_int_equal(o.calls, 1);
	spin_until(NULL, 50);
	assert_int_equal(o.calls, 1);
	assert_int_equal(loop_handles(), handles);
}

/* ---- the socket handed over is a conn's ---- */

struct owner {
	struct conn *c;
	struct buf in;
	int closes;
	int got;
};

static void own_read(void *ud, struct conn *c, const char *data, size_t len)
{
	struct owner *ow = ud;
	buf_append(&ow->in, data, len);
	if (ow->in.len >= 5) {
		ow->got = 1;
		conn_write(c, "world", 5);
		conn_close(c, "done");
	}
}

static void own_close(void *ud, struct conn *c, const char *reason)
{
	(void)c;
	(void)reason;
	struct owner *ow = ud;
	ow->closes++;
	ow->c = NULL;
}

static const struct conn_handler own_handler = {.on_read = own_read, .on_close = own_close};

static struct owner OW;

static void on_connect_wrap(void *ud, int fd, const struct connect_report *r)
{
	(void)r;
	struct outcome *o = ud;
	o->calls++;
	o->fd = fd;
	assert_true(fd >= 0);
	OW.c = conn_new(&W, fd, &own_handler, &OW);
	conn_start(OW.c);
}

static void the_socket_becomes_a_conn(void **state)
{
	(void)state;
	unsigned port;
	int l = listen_on(AF_INET, "127.0.0.1", 16, &port);
	const struct connect_target t[] = {{"127.0.0.1", port}};
	struct outcome o = {0};
	memset(&OW, 0, sizeof(OW));
	conn_connect_start(&W, t, 1, 2000, on_connect_wrap, &o);
	spin_until(&o.calls, 3000);
	assert_int_equal(o.calls, 1);
	int a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%u", port);
	assert_string_equal(conn_peer(OW.c), want);
	assert_int_equal(write(a, "hello", 5), 5);
	spin_until(&OW.closes, 3000);
	assert_int_equal(OW.got, 1);
	assert_int_equal(OW.closes, 1);
	char back[8] = {0};
	assert_int_equal(read(a, back, sizeof(back)), 5);
	assert_memory_equal(back, "world", 5);
	buf_clear(&OW.in);
	close(a);
	close(l);
}

/* ---- words ---- */

static void results_and_sentences(void **state)
{
	(void)state;
	assert_int_equal(connect_classify(0), CONNECT_OK);
	assert_int_equal(connect_classify(ECONNREFUSED), CONNECT_REFUSED);
	assert_int_equal(connect_classify(ETIMEDOUT), CONNECT_TIMEOUT);
	assert_int_equal(connect_classify(EHOSTUNREACH), CONNECT_UNREACHABLE);
	assert_int_equal(connect_classify(ENETUNREACH), CONNECT_UNREACHABLE);
	assert_int_equal(connect_classify(EAFNOSUPPORT), CONNECT_UNREACHABLE);
	assert_int_equal(connect_classify(EACCES), CONNECT_ERROR);
	assert_string_equal(connect_result_name(CONNECT_REFUSED), "refused");
	assert_string_equal(connect_result_name(CONNECT_TIMEOUT), "timeout");
	assert_string_equal(connect_result_name(CONNECT_UNREACHABLE), "unreachable");

	char buf[160];
	const struct connect_attempt un = {"[2001:db8::1]:5269", CONNECT_UNREACHABLE, EHOSTUNREACH, 3};
	assert_string_equal(connect_attempt_str(&un, 1000, buf, sizeof(buf)),
			    "[2001:db8::1]:5269 unreachable (No route to host)");
	const struct connect_attempt ke = {"192.0.2.1:5269", CONNECT_TIMEOUT, ETIMEDOUT, 127000};
	assert_string_equal(connect_attempt_str(&ke, 1000, buf, sizeof(buf)),
			    "192.0.2.1:5269 timed out (Connection timed out)");
	const struct connect_attempt fw = {"192.0.2.1:5269", CONNECT_ERROR, EACCES, 0};
	assert_string_equal(connect_attempt_str(&fw, 1000, buf, sizeof(buf)),
			    "192.0.2.1:5269 failed (Permission denied)");

	/* A report longer than the buffer is cut short, visibly. */
	const struct connect_attempt many[] = {
		{"192.0.2.1:5269", CONNECT_REFUSED, ECONNREFUSED, 0},
		{"192.0.2.2:5269", CONNECT_REFUSED, ECONNREFUSED, 0},
		{"192.0.2.3:5269", CONNECT_REFUSED, ECONNREFUSED, 0},
	};
	const struct connect_report r = {many, 3, 1000};
	char small[40];
	connect_report_str(&r, small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_string_equal(small + sizeof(small) - 4, "...");
	connect_report_str(&r, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.1:5269 refused; 192.0.2.2:5269 refused; 192.0.2.3:5269 refused");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(connects_to_a_listener),
		T(refused_then_the_next_address),
		T(timeout_then_the_next_address),
		T(every_failure_is_reported),
		T(an_empty_list_reports_from_the_loop),
		T(ipv6_literal),
		T(cancel_in_flight),
		T(cancel_before_the_loop_runs),
		T(cancel_from_the_callback_does_nothing),
		T(the_socket_becomes_a_conn),
		cmocka_unit_test(results_and_sentences),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
