/* Unit tests of admin/: request framing, parsing and dispatch (bad JSON,
 * not an object, no op, unknown op, bad arguments), and the fan-out to
 * real worker threads: parts merged in worker order, a worker that does
 * not answer in time, a call whose client left.  No server, no socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/internal.h"
#include "core/arena.h"
#include "core/worker.h"
#include "router/shard.h"

/* ---- Framing ---- */

static void frame_finds_lines_within_the_limit(void **state)
{
	size_t len = 99;
	assert_int_equal(admin_frame("", 0, 8, &len), ADMIN_FRAME_MORE);
	assert_int_equal(admin_frame("{\"op\"", 5, 8, &len), ADMIN_FRAME_MORE);
	assert_int_equal(admin_frame("{}\n{}", 5, 8, &len), ADMIN_FRAME_LINE);
	assert_int_equal(len, 2);
	assert_int_equal(admin_frame("{}\r\n", 4, 8, &len), ADMIN_FRAME_LINE);
	assert_int_equal(len, 3);
	assert_int_equal(admin_frame("\n", 1, 8, &len), ADMIN_FRAME_LINE);
	assert_int_equal(len, 0);
	/* exactly max bytes before the newline is allowed, one more is not */
	assert_int_equal(admin_frame("12345678\n", 9, 8, &len), ADMIN_FRAME_LINE);
	assert_int_equal(len, 8);
	assert_int_equal(admin_frame("123456789\n", 10, 8, &len), ADMIN_FRAME_TOO_LONG);
	assert_int_equal(admin_frame("12345678", 8, 8, &len), ADMIN_FRAME_MORE);
	assert_int_equal(admin_frame("123456789", 9, 8, &len), ADMIN_FRAME_TOO_LONG);
	/* a newline past the limit does not make the first line acceptable */
	char big[40];
	memset(big, 'x', sizeof(big));
	big[30] = '\n';
	assert_int_equal(admin_frame(big, sizeof(big), 8, &len), ADMIN_FRAME_TOO_LONG);
}

/* ---- A server of two real workers ---- */

enum { NW = 2 };
static struct config cfg;
static struct server srv;
static struct worker workers[NW];
static struct shard shards[NW];
static struct shard *shard_ptrs[NW];
static uv_loop_t loop;
static struct admin *adm;

static json_t *answer;
static unsigned answers;

static void on_reply(void *arg, json_t *response)
{
	answers++;
	json_decref(answer);
	answer = json_incref(response);
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
	adm = admin_new(&srv, &loop);
	answer = NULL;
	answers = 0;
	return 0;
}

static int teardown(void **state)
{
	for (unsigned i = 0; i < NW; i++) {
		worker_stop(&workers[i]);
		worker_halt(&workers[i]);
		worker_join(&workers[i]);
	}
	admin_free(adm);
	assert_int_equal(uv_loop_close(&loop), 0);
	json_decref(answer);
	answer = NULL;
	arena_cache_drain();
	return 0;
}

static void run_until_answered(void)
{
	while (answers == 0)
		uv_run(&loop, UV_RUN_ONCE);
}

static const char *error_of(const json_t *r)
{
	assert_non_null(r);
	assert_true(json_is_false(json_object_get(r, "ok")));
	const char *e = json_string_value(json_object_get(r, "error"));
	assert_non_null(e);
	return e;
}

/* ---- Test operations ---- */

static void op_echo(struct admin_call *call, const json_t *req)
{
	admin_call_ok(call, json_deep_copy(json_object_get(req, "value")));
}

static json_t *id_part(struct shard *sh, const void *arg)
{
	return json_integer((json_int_t)sh->w->id + 1);
}

/* Sums the parts and lists which workers answered, in order. */
static json_t *sum_merge(json_t *const *parts, unsigned n, const void *arg)
{
	json_int_t sum = 0;
	json_t *order = json_array();
	for (unsigned i = 0; i < n; i++) {
		sum += json_integer_value(parts[i]);
		json_array_append_new(order, json_integer(json_integer_value(parts[i])));
	}
	return json_pack("{s:I, s:o, s:s}", "sum", sum, "order", order, "arg", arg ? (const char *)arg : "");
}

static void op_sum(struct admin_call *call, const json_t *req)
{
	admin_call_fanout(call, id_part, sum_merge, strdup("kept"));
}

static atomic_bool release_w1;

static json_t *slow_part(struct shard *sh, const void *arg)
{
	/* Worker 1 holds its part until the test lets it go. */
	while (sh->w->id == 1 && !atomic_load(&release_w1))
		usleep(1000);
	return json_integer(1);
}

static void op_slow(struct admin_call *call, const json_t *req)
{
	admin_call_fanout(call, slow_part, sum_merge, NULL);
}

static const struct admin_op test_ops[] = {
	{.name = "echo", .run = op_echo, .help = "the request's value"},
	{.name = "sum", .run = op_sum, .help = "each worker's id + 1, summed"},
	{.name = "slow", .run = op_slow, .help = "worker 1 answers late"},
	{.name = NULL},
};

static json_t *ask(const struct admin_op *ops, const char *text)
{
	answers = 0;
	struct admin_call *call = admin_dispatch(adm, ops, text, strlen(text), on_reply, NULL);
	if (call)
		run_until_answered();
	assert_int_equal(answers, 1);
	return answer;
}

/* ---- Parsing and dispatch ---- */

static void bad_requests_get_errors(void **state)
{
	assert_non_null(strstr(error_of(ask(test_ops, "{\"op\":")), "bad JSON"));
	assert_non_null(strstr(error_of(ask(test_ops, "not json at all")), "bad JSON"));
	assert_non_null(strstr(error_of(ask(test_ops, "")), "bad JSON"));
	assert_non_null(strstr(error_of(ask(test_ops, "{\"op\":\"echo\"} trailing")), "bad JSON"));
	assert_non_null(strstr(error_of(ask(test_ops, "{\"op\":\"echo\",\"op\":\"sum\"}")), "bad JSON"));
	assert_non_null(strstr(error_of(ask(test_ops, "[\"echo\"]")), "JSON object"));
	assert_non_null(strstr(error_of(ask(test_ops, "\"echo\"")), "bad JSON"));
	assert_non_null(strstr(error_of(ask(test_ops, "{\"value\":1}")), "no \"op\""));
	assert_non_null(strstr(error_of(ask(test_ops, "{\"op\":5}")), "no \"op\""));
	assert_non_null(strstr(error_of(ask(test_ops, "{\"op\":\"nope\"}")), "unknown op \"nope\""));
	/* NUL bytes inside the line are not a way past the parser */
	assert_non_null(strstr(error_of(ask(test_ops, "{\"op\":\"ec\\u0000ho\"}")), "bad JSON"));
	const char nul[] = "{\"op\":\"echo\"}\0x";
	answers = 0;
	assert_null(admin_dispatch(adm, test_ops, nul, sizeof(nul) - 1, on_reply, NULL));
	error_of(answer);
}

static void a_known_op_answers(void **state)
{
	json_t *r = ask(test_ops, "{\"op\":\"echo\",\"value\":{\"a\":[1,2]}}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_integer_value(json_array_get(json_object_get(json_object_get(r, "result"), "a"), 1)), 2);
	/* no value: the result is null, still an answer */
	r = ask(test_ops, "{\"op\":\"echo\"}");
	assert_true(json_is_null(json_object_get(r, "result")));
}

static void server_ops_check_their_arguments(void **state)
{
	json_t *r = ask(admin_ops, "{\"op\":\"help\"}");
	const json_t *ops = json_object_get(json_object_get(r, "result"), "ops");
	bool status = false;
	size_t i;
	json_t *o;
	json_array_foreach ((json_t *)ops, i, o)
		status |= !strcmp(json_string_value(json_object_get(o, "op")), "s2s.status");
	assert_true(status);
	assert_non_null(strstr(error_of(ask(admin_ops, "{\"op\":\"s2s.report\"}")), "\"domain\""));
	assert_non_null(strstr(error_of(ask(admin_ops, "{\"op\":\"s2s.close\",\"domain\":\"\"}")), "1 to"));
	assert_non_null(strstr(error_of(ask(admin_ops, "{\"op\":\"s2s.close\",\"domain\":\"a b\"}")), "not a domain"));
	assert_non_null(strstr(error_of(ask(admin_ops, "{\"op\":\"s2s.close\",\"domain\":7}")), "\"domain\""));
	/* the public entry point uses the server's table */
	answers = 0;
	const char *unknown = "{\"op\":\"echo\"}";
	assert_null(admin_request(adm, unknown, strlen(unknown), on_reply, NULL));
	assert_non_null(strstr(error_of(answer), "unknown op"));
}

/* ---- Fan-out ---- */

static void fanout_merges_every_worker_in_order(void **state)
{
	for (int round = 0; round < 20; round++) {
		json_t *r = ask(test_ops, "{\"op\":\"sum\"}");
		assert_true(json_is_true(json_object_get(r, "ok")));
		const json_t *res = json_object_get(r, "result");
		assert_int_equal(json_integer_value(json_object_get(res, "sum")), 3);
		assert_int_equal(json_integer_value(json_array_get(json_object_get(res, "order"), 0)), 1);
		assert_int_equal(json_integer_value(json_array_get(json_object_get(res, "order"), 1)), 2);
		assert_string_equal(json_string_value(json_object_get(res, "arg")), "kept");
	}
}

static void a_late_worker_fails_the_call_not_the_process(void **state)
{
	atomic_store(&release_w1, false);
	admin_set_timeout(adm, 50);
	json_t *r = ask(test_ops, "{\"op\":\"slow\"}");
	assert_non_null(strstr(error_of(r), "worker w1 did not answer within 50 ms"));
	/* the late part still comes back and is freed (ASan would tell) */
	atomic_store(&release_w1, true);
	for (int i = 0; i < 50; i++)
		uv_run(&loop, UV_RUN_NOWAIT), usleep(2000);
	assert_int_equal(answers, 1);
	/* and the engine keeps answering */
	admin_set_timeout(adm, ADMIN_OP_TIMEOUT_MS);
	r = ask(test_ops, "{\"op\":\"sum\"}");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "sum")), 3);
}

static void a_cancelled_call_is_never_answered(void **state)
{
	answers = 0;
	const char *req = "{\"op\":\"sum\"}";
	struct admin_call *call = admin_dispatch(adm, test_ops, req, strlen(req), on_reply, NULL);
	assert_non_null(call);
	admin_call_cancel(call);
	for (int i = 0; i < 50; i++)
		uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
	assert_int_equal(answers, 0);
}

static void pending_calls_end_with_the_engine(void **state)
{
	/* Freed while a worker still holds its part: admin_free runs after
	 * the workers ended (teardown), and frees the call and fan-out. */
	atomic_store(&release_w1, false);
	answers = 0;
	const char *req = "{\"op\":\"slow\"}";
	assert_non_null(admin_dispatch(adm, test_ops, req, strlen(req), on_reply, NULL));
	usleep(20000);
	atomic_store(&release_w1, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frame_finds_lines_within_the_limit),
		cmocka_unit_test_setup_teardown(bad_requests_get_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(a_known_op_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(server_ops_check_their_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(fanout_merges_every_worker_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(a_late_worker_fails_the_call_not_the_process, setup, teardown),
		cmocka_unit_test_setup_teardown(a_cancelled_call_is_never_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(pending_calls_end_with_the_engine, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
