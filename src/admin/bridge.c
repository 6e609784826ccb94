/*
 * bridge: admin requests asked from a worker's thread.  The operations
 * run on the main thread (admin_request); a transport that lives on the
 * workers, the HTTP admin API, hands its request to the bridge, which
 * carries it across on an MPSC queue woken by a uv_async_t of its own,
 * asks it there, and posts the answer back to the asking worker's inbox.
 * It knows nothing of HTTP and nothing of what the operations do.
 *
 * Lifetimes.  A bridge call is the asking worker's until it is pushed,
 * then the main thread's (on the queue, then in `inflight` while the
 * operation works), then the worker's again once its answer is posted:
 * the worker frees it after running (or, when cancelled, skipping) the
 * reply.  Only `cancelled` is touched by two threads, atomically.  At
 * shutdown the main loop's last walk closes our handle after the workers
 * are quiet; what is still queued or in flight then is freed by
 * admin_bridge_free (the operations' admin_free drops their calls
 * without replying).  An answer that comes back while its worker is
 * halting is freed here rather than posted to an inbox nobody reads.
 */
#include "admin/internal.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/list.h"
#include "core/mpsc.h"
#include "core/worker.h"

struct admin_bridge {
	struct admin *admin;
	uv_async_t async;   /* requests were pushed */
	struct mpsc queue;  /* requests from the workers */
	struct list inflight; /* main thread: asked, not answered */
};

struct admin_bridge_call {
	struct worker_msg msg; /* its node is on b->queue first, then on w's inbox */
	struct admin_bridge *b;
	struct worker *w;
	admin_bridge_reply_fn *reply;
	void *arg;
	atomic_bool cancelled;
	/* Main thread: */
	struct list link; /* b->inflight while the operation works */
	bool dispatching; /* inside admin_request */
	json_t *response;
	size_t len;
	char text[];
};

static void call_free(struct admin_bridge_call *c)
{
	json_decref(c->response);
	free(c);
}

/* ---- On the asking worker ---- */

static void call_back(struct worker *w, struct worker_msg *m)
{
	struct admin_bridge_call *c = (struct admin_bridge_call *)m;
	if (!atomic_load(&c->cancelled))
		c->reply(c->arg, c->response);
	call_free(c);
}

struct admin_bridge_call *admin_request_from_worker(struct admin_bridge *b, struct worker *w, const char *text,
						    size_t len, admin_bridge_reply_fn *reply, void *arg)
{
	struct admin_bridge_call *c = xcalloc(1, sizeof(*c) + len + 1);
	c->b = b;
	c->w = w;
	c->reply = reply;
	c->arg = arg;
	atomic_init(&c->cancelled, false);
	list_init(&c->link);
	memcpy(c->text, text, len);
	c->len = len;
	c->msg.run = call_back;
	mpsc_push(&b->queue, &c->msg.node);
	uv_async_send(&b->async);
	return c;
}

void admin_bridge_cancel(struct admin_bridge_call *call)
{
	atomic_store(&call->cancelled, true);
}

/* ---- On the main thread ---- */

static void post_back(struct admin_bridge_call *c)
{
	if (atomic_load(&c->cancelled) || atomic_load(&c->w->halting)) {
		call_free(c);
		return;
	}
	worker_post_force(c->w, &c->msg);
}

static void call_answered(void *arg, json_t *response)
{
	struct admin_bridge_call *c = arg;
	list_remove(&c->link);
	c->response = json_incref(response);
	/* Posted once admin_request returned: the worker may free it at once. */
	if (!c->dispatching)
		post_back(c);
}

static void async_cb(uv_async_t *h)
{
	struct admin_bridge *b = h->data;
	struct mpsc_node *n;
	while ((n = mpsc_pop(&b->queue)) != NULL) {
		struct admin_bridge_call *c = container_of(n, struct admin_bridge_call, msg.node);
		if (atomic_load(&c->cancelled)) {
			call_free(c);
			continue;
		}
		list_insert_tail(&b->inflight, &c->link);
		c->dispatching = true;
		admin_request(b->admin, c->text, c->len, call_answered, c);
		c->dispatching = false;
		if (c->response)
			post_back(c);
	}
}

struct admin_bridge *admin_bridge_new(struct server *srv, uv_loop_t *loop)
{
	struct admin_bridge *b = xcalloc(1, sizeof(*b));
	b->admin = admin_new(srv, loop);
	mpsc_init(&b->queue);
	list_init(&b->inflight);
	uv_async_init(loop, &b->async, async_cb);
	b->async.data = b;
	return b;
}

void admin_bridge_free(struct admin_bridge *b)
{
	if (!b)
		return;
	if (!uv_is_closing((uv_handle_t *)&b->async)) {
		uv_close((uv_handle_t *)&b->async, NULL);
		uv_run(b->async.loop, UV_RUN_NOWAIT);
	}
	/* Drops pending operations without calling call_answered. */
	admin_free(b->admin);
	while (!list_empty(&b->inflight)) {
		struct admin_bridge_call *c = container_of(b->inflight.next, struct admin_bridge_call, link);
		list_remove(&c->link);
		call_free(c);
	}
	struct mpsc_node *n;
	while ((n = mpsc_pop(&b->queue)) != NULL)
		call_free(container_of(n, struct admin_bridge_call, msg.node));
	free(b);
}
