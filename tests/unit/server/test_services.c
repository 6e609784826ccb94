/* Unit tests of the table of services (server/services.c): start order,
 * stop order, a failed listen stopping what had started, stats and
 * descriptions; and c2s registered through it (c2s/service.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "c2s/c2s.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/worker.h"
#include "router/shard.h"
#include "server/services.h"

/* ---- fake services: each call is appended to `calls` ---- */

static struct buf calls;
static const char *failing; /* name of the service whose listen fails */
static struct shard *seen;   /* every call must get the shard it was given */

static void record(const char *what, const char *name, struct shard *sh)
{
	assert_ptr_equal(sh, seen);
	buf_printf(&calls, "%s%s %s", calls.len ? ", " : "", what, name);
}

#define FAKE(N)                                                                 \
	static int listen_##N(struct shard *sh, char **err)                     \
	{                                                                       \
		record("listen", #N, sh);                                       \
		if (failing && strcmp(failing, #N) == 0) {                      \
			*err = xstrdup("cannot listen on " #N);                 \
			return -1;                                              \
		}                                                               \
		return 0;                                                       \
	}                                                                       \
	static void stop_##N(struct shard *sh)                                  \
	{                                                                       \
		record("stop", #N, sh);                                         \
	}
FAKE(a)
FAKE(b)
FAKE(c)

static void stats_a(struct shard *sh, struct buf *out)
{
	buf_append_str(out, "1 stream");
}

static void stats_c(struct shard *sh, struct buf *out)
{
	buf_append_str(out, "2 links");
}

static void describe_b(const struct server *srv, struct buf *out)
{
	buf_append_str(out, "b on :1");
}

static void describe_c(const struct server *srv, struct buf *out)
{
	buf_append_str(out, "c on :2");
}

static const struct service_ops svc_a = {.name = "a", .settings = "a.port", .listen = listen_a, .stop = stop_a,
					 .stats = stats_a};
static const struct service_ops svc_b = {.name = "b", .settings = "b.port", .listen = listen_b, .stop = stop_b,
					 .describe = describe_b};
static const struct service_ops svc_c = {.name = "c", .settings = "c.port", .listen = listen_c, .stop = stop_c,
					 .stats = stats_c, .describe = describe_c};
static const struct service_ops *const table[] = {&svc_a, &svc_b, &svc_c, NULL};
static const struct service_ops *const empty[] = {NULL};

static struct shard fake_shard;

static int setup(void **state)
{
	buf_reset(&calls);
	failing = NULL;
	seen = &fake_shard;
	return 0;
}

static int teardown(void **state)
{
	buf_clear(&calls);
	return 0;
}

static void test_start_in_order_stop_in_reverse(void **state)
{
	char *err = NULL;
	assert_null(services_listen(table, &fake_shard, &err));
	assert_null(err);
	assert_string_equal(buf_cstr(&calls), "listen a, listen b, listen c");
	buf_reset(&calls);
	services_stop(table, &fake_shard);
	assert_string_equal(buf_cstr(&calls), "stop c, stop b, stop a");
}

static void test_failed_listen_stops_those_started(void **state)
{
	char *err = NULL;
	failing = "b";
	assert_ptr_equal(services_listen(table, &fake_shard, &err), &svc_b);
	assert_string_equal(err, "cannot listen on b");
	free(err);
	/* b may have opened part of its listeners: it is stopped too; c was
	 * never started and is not touched. */
	assert_string_equal(buf_cstr(&calls), "listen a, listen b, stop b, stop a");
}

static void test_first_listen_fails(void **state)
{
	char *err = NULL;
	failing = "a";
	assert_ptr_equal(services_listen(table, &fake_shard, &err), &svc_a);
	assert_string_equal(err, "cannot listen on a");
	free(err);
	assert_string_equal(buf_cstr(&calls), "listen a, stop a");
}

static void test_last_listen_fails(void **state)
{
	char *err = NULL;
	failing = "c";
	assert_ptr_equal(services_listen(table, &fake_shard, &err), &svc_c);
	free(err);
	assert_string_equal(buf_cstr(&calls), "listen a, listen b, listen c, stop c, stop b, stop a");
}

static void test_stats_and_descriptions(void **state)
{
	struct buf out = BUF_INIT;
	services_stats(table, &fake_shard, &out);
	assert_string_equal(buf_cstr(&out), "a: 1 stream; c: 2 links");
	buf_reset(&out);
	services_describe(table, NULL, &out);
	assert_string_equal(buf_cstr(&out), "b on :1; c on :2");
	/* appending keeps what the buffer held */
	buf_reset(&out);
	buf_append_str(&out, "x");
	services_stats(table, &fake_shard, &out);
	assert_string_equal(buf_cstr(&out), "xa: 1 stream; c: 2 links");
	buf_clear(&out);
	assert_int_equal(calls.len, 0);
}

static void test_empty_table(void **state)
{
	char *err = NULL;
	struct buf out = BUF_INIT;
	assert_null(services_listen(empty, &fake_shard, &err));
	services_stop(empty, &fake_shard);
	services_stats(empty, &fake_shard, &out);
	services_describe(empty, NULL, &out);
	assert_int_equal(out.len, 0);
	assert_int_equal(calls.len, 0);
	assert_null(err);
}

/* ---- c2s through the table ---- */

static unsigned free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t sl = sizeof(sin);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

struct c2s_fixture {
	struct config cfg;
	struct server srv;
	struct worker w;
	struct shard sh;
	char *items[2];
};

static void c2s_fixture_init(struct c2s_fixture *f, const char *ip1, const char *ip2, unsigned port,
			     unsigned tls_port)
{
	memset(f, 0, sizeof(*f)); /* only what c2s reads: no allocations */
	f->items[0] = (char *)ip1;
	f->items[1] = (char *)ip2;
	f->cfg.c2s.listen.items = f->items;
	f->cfg.c2s.listen.n = ip2 ? 2 : 1;
	f->cfg.c2s.port = port;
	f->cfg.c2s.tls_port = tls_port;
	f->cfg.c2s.backlog = 16;
	f->srv.cfg = &f->cfg;
	f->srv.nworkers = 1;
	f->srv.workers = &f->w;
	worker_init(&f->w, 0, 0);
	f->sh.srv = &f->srv;
	f->sh.w = &f->w;
	list_init(&f->sh.streams);
	f->w.ctx = &f->sh;
}

static void c2s_fixture_free(struct c2s_fixture *f)
{
	worker_discard(&f->w);
}

static void test_c2s_service(void **state)
{
	assert_string_equal(c2s_service.name, "c2s");
	assert_string_equal(c2s_service.settings, "c2s.listen, c2s.port and c2s.tls_port");
	assert_non_null(c2s_service.listen);
	assert_non_null(c2s_service.stop);

	static const struct service_ops *const c2s_only[] = {&c2s_service, NULL};
	unsigned port = free_port(), tls_port = free_port();
	struct c2s_fixture f;
	c2s_fixture_init(&f, "127.0.0.1", NULL, port, tls_port);
	char *err = NULL;
	assert_null(services_listen(c2s_only, &f.sh, &err));
	assert_int_equal(f.sh.listeners.n, 2);

	/* the start-up line's part, as parleyd wrote it before the table */
	struct buf out = BUF_INIT, want = BUF_INIT;
	services_describe(c2s_only, &f.srv, &out);
	buf_printf(&want, "clients on 127.0.0.1:%u (STARTTLS), 127.0.0.1:%u (direct TLS)", port, tls_port);
	assert_string_equal(buf_cstr(&out), buf_cstr(&want));
	buf_reset(&out);
	services_stats(c2s_only, &f.sh, &out);
	assert_string_equal(buf_cstr(&out), "c2s: 0 streams, 2 listeners");

	services_stop(c2s_only, &f.sh);
	assert_int_equal(f.sh.listeners.n, 0);
	buf_reset(&out);
	services_stats(c2s_only, &f.sh, &out);
	assert_string_equal(buf_cstr(&out), "c2s: 0 streams, 0 listeners");
	buf_clear(&out);
	buf_clear(&want);
	c2s_fixture_free(&f);
}

static void test_c2s_describe(void **state)
{
	static const struct service_ops *const c2s_only[] = {&c2s_service, NULL};
	struct c2s_fixture f;
	c2s_fixture_init(&f, "127.0.0.1", "::1", 5222, 0);
	struct buf out = BUF_INIT;
	services_describe(c2s_only, &f.srv, &out);
	assert_string_equal(buf_cstr(&out), "clients on 127.0.0.1:5222 (STARTTLS), ::1:5222 (STARTTLS)");
	c2s_fixture_free(&f);
	buf_reset(&out);
	c2s_fixture_init(&f, "127.0.0.1", NULL, 0, 0);
	services_describe(c2s_only, &f.srv, &out);
	assert_string_equal(buf_cstr(&out), "clients on ");
	buf_clear(&out);
	c2s_fixture_free(&f);
}

/* The second address cannot be bound after the first was: the listeners
 * already open are closed by the rollback, and nothing leaks. */
static void test_c2s_partial_listen_is_rolled_back(void **state)
{
	static const struct service_ops *const c2s_only[] = {&c2s_service, NULL};
	struct c2s_fixture f;
	c2s_fixture_init(&f, "127.0.0.1", "192.0.2.1", free_port(), 0);
	char *err = NULL;
	assert_ptr_equal(services_listen(c2s_only, &f.sh, &err), &c2s_service);
	assert_non_null(err);
	assert_non_null(strstr(err, "192.0.2.1"));
	free(err);
	assert_int_equal(f.sh.listeners.n, 0);
	c2s_fixture_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_in_order_stop_in_reverse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_listen_stops_those_started, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_listen_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_listen_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_and_descriptions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_table, setup, teardown),
		cmocka_unit_test(test_c2s_service),
		cmocka_unit_test(test_c2s_describe),
		cmocka_unit_test(test_c2s_partial_listen_is_rolled_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
