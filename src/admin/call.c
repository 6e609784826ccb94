/*
 * call: the engine under the admin operations.  It parses a request,
 * finds its operation and gives the answer back to the transport; an
 * operation that needs the workers' state fans out: one message to every
 * worker's inbox, each worker fills its part on its own thread, and the
 * last one to finish hands the whole back to the main loop through an
 * MPSC queue and a uv_async_t of ours.  It knows nothing of sockets or
 * HTTP, and nothing of what the operations do.
 *
 * Lifetimes.  A call belongs to the main thread and ends when it is
 * answered (or cancelled and its work is over).  A fan-out belongs to the
 * workers while any of them still has its part, then to the main thread,
 * which frees it when it comes back, whether or not its call still waits
 * (a call that timed out has gone).  Workers never free anything of ours,
 * and the only thing of ours they touch after their last part is the
 * async handle, which lives until admin_free(), after the workers ended.
 * Sending on it while the main loop's last walk closes it is safe: libuv's
 * uv_close waits for senders in flight, and parleyd joins the workers
 * before it closes the main loop.
 */
#include "admin/internal.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/list.h"
#include "core/mpsc.h"
#include "core/worker.h"
#include "router/shard.h"

enum { TIMEOUT_TICK_MS = 100 };

struct admin {
	struct server *srv;
	uv_loop_t *loop;
	uv_async_t back_async; /* a fan-out came back */
	struct mpsc back;      /* fan-outs whose parts all ended */
	uv_timer_t timeouts;   /* ticks while a call waits for workers */
	uint64_t timeout_ms;
	struct list calls;     /* calls waiting for a fan-out */
	struct list fanouts;   /* every fan-out not yet freed */
};

struct admin_call {
	struct admin *a;
	struct list link; /* a->calls while it waits */
	admin_reply_fn *reply;
	void *arg;
	struct admin_fanout *fanout; /* while it waits */
	uint64_t deadline;
	bool answered;
};

/* One worker's part.  `answer` and `done` are written by that worker;
 * the main thread reads them after the fan-out came back (the queue's
 * release/acquire orders them), or reads `done` alone on a timeout. */
struct admin_part {
	struct worker_msg msg;
	struct admin_fanout *f;
	json_t *answer;
	atomic_bool done;
	bool refused; /* main thread: the worker's inbox was full */
};

struct admin_fanout {
	struct mpsc_node node; /* on a->back once every part ended */
	struct list link;      /* a->fanouts; main thread only */
	struct admin *a;
	struct admin_call *call; /* NULL once the call stopped waiting */
	admin_part_fn *part;
	admin_merge_fn *merge;
	void *arg;
	atomic_uint pending; /* parts not ended */
	unsigned n;
	struct admin_part parts[];
};

/* ---- Answers ---- */

json_t *admin_error_response(const char *text)
{
	return json_pack("{s:b, s:s}", "ok", 0, "error", text);
}

static void call_free(struct admin_call *call)
{
	list_remove(&call->link);
	free(call);
}

static void call_answer(struct admin_call *call, json_t *response)
{
	call->answered = true;
	if (call->reply)
		call->reply(call->arg, response);
	json_decref(response);
}

struct server *admin_call_server(struct admin_call *call)
{
	return call->a->srv;
}

void admin_call_ok(struct admin_call *call, json_t *result)
{
	if (!result)
		result = json_null();
	call_answer(call, json_pack("{s:b, s:o}", "ok", 1, "result", result));
}

void admin_call_fail(struct admin_call *call, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	call_answer(call, admin_error_response(text));
}

void admin_call_cancel(struct admin_call *call)
{
	call->reply = NULL;
}

/* ---- Fan-out ---- */

static void fanout_free(struct admin_fanout *f)
{
	list_remove(&f->link);
	for (unsigned i = 0; i < f->n; i++)
		json_decref(f->parts[i].answer);
	free(f->arg);
	free(f);
}

/* The last part to end hands the fan-out back.  Any thread. */
static void fanout_part_ended(struct admin_fanout *f)
{
	if (atomic_fetch_sub(&f->pending, 1) != 1)
		return;
	struct admin *a = f->a;
	mpsc_push(&a->back, &f->node);
	uv_async_send(&a->back_async);
}

static void part_run(struct worker *w, struct worker_msg *m)
{
	struct admin_part *p = (struct admin_part *)m;
	struct admin_fanout *f = p->f;
	p->answer = f->part(shard_of(w), f->arg);
	atomic_store(&p->done, true);
	fanout_part_ended(f);
}

/* Main thread: every part of `f` ended. */
static void fanout_back(struct admin_fanout *f)
{
	struct admin_call *call = f->call;
	if (call) {
		call->fanout = NULL;
		list_remove(&call->link);
		const struct server *srv = call->a->srv;
		unsigned busy = f->n;
		for (unsigned i = 0; i < f->n && busy == f->n; i++)
			if (f->parts[i].refused)
				busy = i;
		if (busy < f->n) {
			admin_call_fail(call, "worker %s is busy (its inbox is full); try again",
					srv->workers[busy].name);
		} else {
			json_t **answers = xcalloc(f->n ? f->n : 1, sizeof(*answers));
			for (unsigned i = 0; i < f->n; i++)
				answers[i] = f->parts[i].answer;
			admin_call_ok(call, f->merge(answers, f->n, f->arg));
			free(answers);
		}
		call_free(call);
	}
	fanout_free(f);
}

static void back_cb(uv_async_t *h)
{
	struct admin *a = h->data;
	struct mpsc_node *n;
	while ((n = mpsc_pop(&a->back)) != NULL)
		fanout_back(container_of(n, struct admin_fanout, node));
}

static void timeouts_cb(uv_timer_t *t)
{
	struct admin *a = t->data;
	uint64_t now = uv_now(a->loop);
	struct list *n = a->calls.next;
	while (n != &a->calls) {
		struct admin_call *call = container_of(n, struct admin_call, link);
		n = n->next;
		if (now < call->deadline)
			continue;
		struct admin_fanout *f = call->fanout;
		unsigned late = 0;
		while (late + 1 < f->n && atomic_load(&f->parts[late].done))
			late++;
		f->call = NULL;
		admin_call_fail(call, "worker %s did not answer within %llu ms", a->srv->workers[late].name,
				(unsigned long long)a->timeout_ms);
		call_free(call);
	}
	if (list_empty(&a->calls))
		uv_timer_stop(t);
}

void admin_call_fanout(struct admin_call *call, admin_part_fn *part, admin_merge_fn *merge, void *arg)
{
	struct admin *a = call->a;
	unsigned n = a->srv->nworkers;
	struct admin_fanout *f = xcalloc(1, sizeof(*f) + n * sizeof(f->parts[0]));
	f->a = a;
	f->call = call;
	f->part = part;
	f->merge = merge;
	f->arg = arg;
	f->n = n;
	/* One extra count held while posting, so that the fan-out cannot come
	 * back before every part is out. */
	atomic_init(&f->pending, n + 1);
	list_insert_tail(&a->fanouts, &f->link);
	call->fanout = f;
	call->deadline = uv_now(a->loop) + a->timeout_ms;
	list_insert_tail(&a->calls, &call->link);
	if (!uv_is_active((uv_handle_t *)&a->timeouts))
		uv_timer_start(&a->timeouts, timeouts_cb, TIMEOUT_TICK_MS, TIMEOUT_TICK_MS);
	for (unsigned i = 0; i < n; i++) {
		struct admin_part *p = &f->parts[i];
		p->f = f;
		p->msg.run = part_run;
		atomic_init(&p->done, false);
		if (!worker_post(&a->srv->workers[i], &p->msg)) {
			p->refused = true;
			atomic_store(&p->done, true);
			fanout_part_ended(f);
		}
	}
	fanout_part_ended(f);
}

/* ---- Requests ---- */

const struct admin_op *admin_op_find(const struct admin_op *ops, const char *name)
{
	for (const struct admin_op *op = ops; op->name; op++)
		if (!strcmp(op->name, name))
			return op;
	return NULL;
}

struct admin_call *admin_dispatch(struct admin *a, const struct admin_op *ops, const char *text, size_t len,
				  admin_reply_fn *reply, void *arg)
{
	struct admin_call *call = xcalloc(1, sizeof(*call));
	call->a = a;
	call->reply = reply;
	call->arg = arg;
	list_init(&call->link);
	json_error_t jerr;
	json_t *req = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	const json_t *opname = json_object_get(req, "op");
	const struct admin_op *op = NULL;
	if (!req)
		admin_call_fail(call, "bad JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
	else if (!json_is_object(req))
		admin_call_fail(call, "a request is a JSON object, such as {\"op\":\"help\"}");
	else if (!json_is_string(opname))
		admin_call_fail(call, "the request has no \"op\" string; {\"op\":\"help\"} lists the operations");
	else if (!(op = admin_op_find(ops, json_string_value(opname))))
		admin_call_fail(call, "unknown op \"%.64s\"; {\"op\":\"help\"} lists the operations",
				json_string_value(opname));
	else
		op->run(call, req);
	json_decref(req);
	if (call->answered) {
		call_free(call);
		return NULL;
	}
	return call;
}

/* ---- Lifecycle ---- */

void admin_set_timeout(struct admin *a, uint64_t ms)
{
	a->timeout_ms = ms;
}

struct admin *admin_new(struct server *srv, uv_loop_t *loop)
{
	struct admin *a = xcalloc(1, sizeof(*a));
	a->srv = srv;
	a->loop = loop;
	a->timeout_ms = ADMIN_OP_TIMEOUT_MS;
	mpsc_init(&a->back);
	list_init(&a->calls);
	list_init(&a->fanouts);
	uv_async_init(loop, &a->back_async, back_cb);
	a->back_async.data = a;
	uv_timer_init(loop, &a->timeouts);
	a->timeouts.data = a;
	return a;
}

void admin_free(struct admin *a)
{
	if (!a)
		return;
	/* Closed by the loop's last walk at shutdown; if the loop never ran
	 * (start-up failed), close them here. */
	bool run = false;
	if (!uv_is_closing((uv_handle_t *)&a->back_async)) {
		uv_close((uv_handle_t *)&a->back_async, NULL);
		run = true;
	}
	if (!uv_is_closing((uv_handle_t *)&a->timeouts)) {
		uv_close((uv_handle_t *)&a->timeouts, NULL);
		run = true;
	}
	if (run)
		uv_run(a->loop, UV_RUN_NOWAIT);
	while (!list_empty(&a->calls))
		call_free(container_of(a->calls.next, struct admin_call, link));
	while (!list_empty(&a->fanouts))
		fanout_free(container_of(a->fanouts.next, struct admin_fanout, link));
	free(a);
}
