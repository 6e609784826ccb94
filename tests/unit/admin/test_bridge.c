/* Unit tests of admin/bridge.c: an admin request asked on a worker's
 * thread is answered by the operations on the main loop and the reply
 * runs back on that worker's thread; a request cancelled by its worker
 * never gets its reply; requests still in the bridge when it is freed
 * are freed with it (LeakSanitizer checks).  Two real worker threads, the
 * real table of operations, no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/worker.h"
#include "router/shard.h"

enum { NW = 2, WAIT_MS = 5000 };

static struct config cfg;
static struct server srv;
static struct worker workers[NW];
static struct shard shards[NW];
static struct shard *shard_ptrs[NW];
static uv_loop_t loop;
static struct admin_bridge *bridge;

/* What a worker saw of its reply. */
struct ask {
	struct worker_msg msg;
	const char *text;
	bool cancel;
	struct admin_bridge_call *call;
	atomic_int replies;
	atomic_uint on_worker; /* id + 1 of the worker the reply ran on */
	char op_error[128];
	atomic_bool ok;
	unsigned nops;
};

static void on_reply(void *arg, json_t *response)
{
	struct ask *a = arg;
	a->ok = json_is_true(json_object_get(response, "ok"));
	const json_t *ops = json_object_get(json_object_get(response, "result"), "ops");
	a->nops = (unsigned)json_array_size(ops);
	const char *e = json_string_value(json_object_get(response, "error"));
	if (e)
		strncpy(a->op_error, e, sizeof(a->op_error) - 1);
	uv_thread_t self = uv_thread_self();
	for (unsigned i = 0; i < NW; i++)
		if (uv_thread_equal(&self, &workers[i].thread))
			atomic_store(&a->on_worker, i + 1);
	atomic_fetch_add(&a->replies, 1);
}

static void ask_run(struct worker *w, struct worker_msg *m)
{
	struct ask *a = (struct ask *)m;
	a->call = admin_request_from_worker(bridge, w, a->text, strlen(a->text), on_reply, a);
	if (a->cancel)
		admin_bridge_cancel(a->call);
}

static int setup(void **state)
{
	srv.cfg = &cfg;
	srv.nworkers = NW;
	srv.workers = workers;
	srv.shards = shard_ptrs;
	for (unsigned i = 0; i < NW; i++) {
		worker_init(&workers[i], i, 16);
		shards[i].srv = &srv;
		shards[i].w = &workers[i];
		workers[i].ctx = &shards[i];
		shard_ptrs[i] = &shards[i];
		assert_int_equal(worker_start(&workers[i]), 0);
	}
	assert_int_equal(uv_loop_init(&loop), 0);
	bridge = admin_bridge_new(&srv, &loop);
	return 0;
}

static int teardown(void **state)
{
	for (unsigned i = 0; i < NW; i++) {
		worker_stop(&workers[i]);
		worker_halt(&workers[i]);
		worker_join(&workers[i]);
	}
	admin_bridge_free(bridge);
	bridge = NULL;
	assert_int_equal(uv_loop_close(&loop), 0);
	arena_cache_drain();
	return 0;
}

/* Runs the main loop until `done` or WAIT_MS. */
static void run_main_until(atomic_int *done, int want)
{
	uint64_t until = uv_hrtime() / 1000000 + WAIT_MS;
	while (atomic_load(done) < want && uv_hrtime() / 1000000 < until) {
		uv_run(&loop, UV_RUN_NOWAIT);
		uv_sleep(1);
	}
}

static void reply_runs_on_the_asking_worker(void **state)
{
	struct ask a[NW];
	memset(a, 0, sizeof(a));
	for (unsigned i = 0; i < NW; i++) {
		a[i].text = "{\"op\":\"help\"}";
		a[i].msg.run = ask_run;
		worker_post_force(&workers[i], &a[i].msg);
	}
	for (unsigned i = 0; i < NW; i++) {
		run_main_until(&a[i].replies, 1);
		assert_int_equal(atomic_load(&a[i].replies), 1);
		assert_true(a[i].ok);
		assert_true(a[i].nops > 5);
		assert_int_equal(atomic_load(&a[i].on_worker), i + 1);
	}
}

static void operation_errors_come_back_as_answers(void **state)
{
	struct ask a;
	memset(&a, 0, sizeof(a));
	a.text = "{\"op\":\"user.kick\",\"jid\":\"no-at-sign\"}";
	a.msg.run = ask_run;
	worker_post_force(&workers[1], &a.msg);
	run_main_until(&a.replies, 1);
	assert_int_equal(atomic_load(&a.replies), 1);
	assert_false(a.ok);
	assert_non_null(strstr(a.op_error, "bare"));
	/* A fan-out to both workers, asked from one of them. */
	struct ask b;
	memset(&b, 0, sizeof(b));
	b.text = "{\"op\":\"sessions.list\"}";
	b.msg.run = ask_run;
	worker_post_force(&workers[0], &b.msg);
	run_main_until(&b.replies, 1);
	assert_true(b.ok);
	assert_int_equal(atomic_load(&b.on_worker), 1);
}

static void a_cancelled_request_gets_no_reply(void **state)
{
	struct ask a;
	memset(&a, 0, sizeof(a));
	a.text = "{\"op\":\"help\"}";
	a.cancel = true;
	a.msg.run = ask_run;
	worker_post_force(&workers[0], &a.msg);
	/* Long enough for the request to cross, be answered and come back. */
	uint64_t until = uv_hrtime() / 1000000 + 300;
	while (uv_hrtime() / 1000000 < until) {
		uv_run(&loop, UV_RUN_NOWAIT);
		uv_sleep(1);
	}
	assert_int_equal(atomic_load(&a.replies), 0);
}

static void requests_left_in_the_bridge_are_freed_with_it(void **state)
{
	/* Asked, and the main loop never runs: the bridge's queue holds
	 * them when the teardown frees it. */
	static struct ask a[3];
	memset(a, 0, sizeof(a));
	for (unsigned i = 0; i < 3; i++) {
		a[i].text = "{\"op\":\"help\"}";
		a[i].msg.run = ask_run;
		worker_post_force(&workers[i % NW], &a[i].msg);
	}
	uv_sleep(100);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(atomic_load(&a[i].replies), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(reply_runs_on_the_asking_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(operation_errors_come_back_as_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(a_cancelled_request_gets_no_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(requests_left_in_the_bridge_are_freed_with_it, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
