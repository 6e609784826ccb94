/*
 * service: what each worker keeps for BOSH (the table of sessions by sid
 * and a 1 s tick), and how a request finds its session.
 *
 * A sid names the worker that made the session ("3-<32 hex>"), so the
 * HTTP worker that receives a request posts it there without asking
 * anyone.  After SASL the session moves with its c2s stream to the
 * worker that owns the account; the worker that made it keeps a
 * forwarding entry (sid -> worker) until the session ends there and says
 * so.  While the session is in transit, requests wait in the entry, in
 * order.  We forward rather than re-key because a sid cannot change for
 * the client (XEP-0124), and a table shared by the workers would be the
 * only shared mutable state on the request path; the cost is one more
 * inbox hop for an authenticated session whose account another worker
 * owns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bosh/bosh.h"
#include "bosh/internal.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "router/service.h"
#include "router/shard.h"

enum { BOSH_BUCKETS = 256, BOSH_MAX_HOPS = 4 };

struct bosh_global {
	struct bosh_worker *workers;
	unsigned n;
};

static struct bosh_global *bosh_g;

struct bosh_worker *bosh_worker_of(struct worker *w)
{
	return &bosh_g->workers[w->id];
}

/* ---- the table ---- */

static unsigned bucket_of(const char *sid)
{
	uint32_t h = 2166136261u;
	for (const char *p = sid; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % BOSH_BUCKETS;
}

struct bosh_entry *bosh_entry_find(struct bosh_worker *bw, const char *sid)
{
	struct list *b = &bw->buckets[bucket_of(sid)];
	list_for_each(pos, b)
	{
		struct bosh_entry *e = list_entry(pos, struct bosh_entry, link);
		if (strcmp(e->sid, sid) == 0)
			return e;
	}
	return NULL;
}

struct bosh_entry *bosh_entry_add(struct bosh_worker *bw, const char *sid, struct bosh_session *s)
{
	struct bosh_entry *e = xcalloc(1, sizeof(*e));
	snprintf(e->sid, sizeof(e->sid), "%s", sid);
	e->s = s;
	list_init(&e->queue);
	list_insert_tail(&bw->buckets[bucket_of(sid)], &e->link);
	return e;
}

void bosh_entry_remove(struct bosh_worker *bw, struct bosh_entry *e)
{
	(void)bw;
	list_remove(&e->link);
	while (!list_empty(&e->queue)) {
		struct bosh_req *r = list_entry(e->queue.next, struct bosh_req, qlink);
		list_remove(&r->qlink);
		bosh_req_terminate(r, "item-not-found");
	}
	free(e);
}

int bosh_sid_worker(const char *sid, unsigned nworkers)
{
	unsigned v = 0;
	const char *p = sid;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9' && v < 100000; p++)
		v = v * 10 + (unsigned)(*p - '0');
	if (*p != '-' || strlen(p + 1) != 32 || v >= nworkers)
		return -1;
	return (int)v;
}

/* ---- moving ---- */

static void forward_run(struct worker *w, struct worker_msg *m)
{
	bosh_dispatch(w, container_of(m, struct bosh_req, msg));
}

/* Sends r on to the worker that has its session now. */
static void forward(struct server *srv, unsigned to, struct bosh_req *r)
{
	r->hops++;
	r->msg.run = forward_run;
	worker_post_force(&srv->workers[to], &r->msg);
}

struct bosh_note {
	struct worker_msg msg;
	char sid[BOSH_SID_MAX];
	int to; /* the worker it arrived on; -1: it ended */
};

static void note_run(struct worker *w, struct worker_msg *m)
{
	struct bosh_note *n = container_of(m, struct bosh_note, msg);
	struct bosh_worker *bw = bosh_worker_of(w);
	struct bosh_entry *e = bosh_entry_find(bw, n->sid);
	if (e && !e->s) {
		if (n->to < 0) {
			bosh_entry_remove(bw, e);
		} else {
			e->moving = false;
			e->to = (unsigned)n->to;
			while (!list_empty(&e->queue)) {
				struct bosh_req *r = list_entry(e->queue.next, struct bosh_req, qlink);
				list_remove(&r->qlink);
				forward(bw->srv, e->to, r);
			}
		}
	}
	free(n);
}

static void note_home(struct bosh_session *s, struct server *srv, int to)
{
	struct bosh_note *n = xcalloc(1, sizeof(*n));
	snprintf(n->sid, sizeof(n->sid), "%s", bosh_session_sid(s));
	n->to = to;
	n->msg.run = note_run;
	worker_post_force(&srv->workers[bosh_sid_worker(n->sid, srv->nworkers)], &n->msg);
}

void bosh_session_leaving(struct bosh_session *s)
{
	/* On the worker it leaves, before the move. */
	const char *sid = bosh_session_sid(s);
	struct worker *w = bosh_session_worker(s);
	struct bosh_worker *bw = bosh_worker_of(w);
	struct bosh_entry *e = bosh_entry_find(bw, sid);
	if (!e)
		return;
	if (bosh_sid_worker(sid, bosh_g->n) == (int)w->id) {
		e->s = NULL;
		e->moving = true;
	} else {
		bosh_entry_remove(bw, e);
	}
}

void bosh_session_arrived(struct bosh_session *s, struct worker *w)
{
	struct bosh_worker *bw = bosh_worker_of(w);
	const char *sid = bosh_session_sid(s);
	int home = bosh_sid_worker(sid, bosh_g->n);
	struct bosh_entry *e = bosh_entry_find(bw, sid);
	if (e) {
		e->s = s;
		e->moving = false;
	} else {
		bosh_entry_add(bw, sid, s);
	}
	if (home != (int)w->id)
		note_home(s, bw->srv, (int)w->id);
	else if (e) {
		/* Back home (cannot happen today: a session moves once). */
		while (!list_empty(&e->queue)) {
			struct bosh_req *r = list_entry(e->queue.next, struct bosh_req, qlink);
			list_remove(&r->qlink);
			forward(bw->srv, w->id, r);
		}
	}
}

void bosh_session_gone(struct bosh_session *s)
{
	struct worker *w = bosh_session_worker(s);
	struct bosh_worker *bw = bosh_worker_of(w);
	const char *sid = bosh_session_sid(s);
	struct bosh_entry *e = bosh_entry_find(bw, sid);
	if (e && e->s == s)
		bosh_entry_remove(bw, e);
	int home = bosh_sid_worker(sid, bosh_g->n);
	if (home >= 0 && home != (int)w->id)
		note_home(s, bw->srv, -1);
}

/* ---- dispatch ---- */

void bosh_dispatch(struct worker *w, struct bosh_req *r)
{
	struct bosh_worker *bw = bosh_worker_of(w);
	struct bosh_entry *e = bw->started ? bosh_entry_find(bw, r->body.sid) : NULL;
	if (!e) {
		log_info("bosh", "a request for sid %.8s..., which is no session here (item-not-found)", r->body.sid);
		bosh_req_terminate(r, "item-not-found");
		return;
	}
	if (e->s) {
		bosh_session_request(e->s, r);
		return;
	}
	if (e->moving) {
		list_insert_tail(&e->queue, &r->qlink);
		return;
	}
	if (r->hops >= BOSH_MAX_HOPS) {
		bosh_req_terminate(r, "item-not-found");
		return;
	}
	forward(bw->srv, e->to, r);
}

/* ---- the tick ---- */

static void tick_cb(uv_timer_t *t)
{
	struct bosh_worker *bw = t->data;
	uint64_t now = worker_now(bw->w);
	for (unsigned i = 0; i < BOSH_BUCKETS; i++) {
		list_for_each_safe(pos, &bw->buckets[i])
		{
			struct bosh_entry *e = list_entry(pos, struct bosh_entry, link);
			if (e->s)
				bosh_session_tick(e->s, now);
		}
	}
}

/* ---- the service ---- */

static int bosh_setup(struct server *srv, char **err)
{
	(void)err;
	bosh_g = xcalloc(1, sizeof(*bosh_g));
	bosh_g->n = srv->cfg->workers;
	bosh_g->workers = xcalloc(bosh_g->n, sizeof(*bosh_g->workers));
	return 0;
}

static void bosh_teardown(struct server *srv)
{
	(void)srv;
	if (!bosh_g)
		return;
	for (unsigned i = 0; i < bosh_g->n; i++) {
		struct bosh_worker *bw = &bosh_g->workers[i];
		if (!bw->buckets)
			continue;
		for (unsigned b = 0; b < BOSH_BUCKETS; b++)
			while (!list_empty(&bw->buckets[b])) {
				struct bosh_entry *e = list_entry(bw->buckets[b].next, struct bosh_entry, link);
				list_remove(&e->link);
				/* Requests that waited for a move the stop cut
				 * short: their connections are gone. */
				while (!list_empty(&e->queue)) {
					struct bosh_req *r = list_entry(e->queue.next, struct bosh_req, qlink);
					list_remove(&r->qlink);
					bosh_req_free(r);
				}
				free(e);
			}
		free(bw->buckets);
	}
	free(bosh_g->workers);
	free(bosh_g);
	bosh_g = NULL;
}

static int bosh_listen(struct shard *sh, char **err)
{
	(void)err;
	struct bosh_worker *bw = bosh_worker_of(sh->w);
	bw->srv = sh->srv;
	bw->w = sh->w;
	bw->buckets = xcalloc(BOSH_BUCKETS, sizeof(*bw->buckets));
	for (unsigned i = 0; i < BOSH_BUCKETS; i++)
		list_init(&bw->buckets[i]);
	uv_timer_init(&sh->w->loop, &bw->tick);
	bw->tick.data = bw;
	uv_timer_start(&bw->tick, tick_cb, 1000, 1000);
	uv_unref((uv_handle_t *)&bw->tick);
	bw->started = true;
	return 0;
}

static void bosh_stop(struct shard *sh)
{
	if (!bosh_g)
		return;
	struct bosh_worker *bw = bosh_worker_of(sh->w);
	if (!bw->started || bw->stopping)
		return;
	bw->stopping = true;
	uv_timer_stop(&bw->tick);
	for (unsigned i = 0; i < BOSH_BUCKETS; i++) {
		list_for_each_safe(pos, &bw->buckets[i])
		{
			struct bosh_entry *e = list_entry(pos, struct bosh_entry, link);
			if (e->s)
				bosh_session_shutdown(e->s);
		}
	}
}

bool bosh_worker_stopping(struct worker *w)
{
	return bosh_g && bosh_worker_of(w)->stopping;
}

static void bosh_stats(struct shard *sh, struct buf *out)
{
	struct bosh_worker *bw = bosh_worker_of(sh->w);
	size_t here = 0, fwd = 0;
	for (unsigned i = 0; bw->buckets && i < BOSH_BUCKETS; i++)
		list_for_each(pos, &bw->buckets[i])
		{
			struct bosh_entry *e = list_entry(pos, struct bosh_entry, link);
			if (e->s)
				here++;
			else
				fwd++;
		}
	buf_printf(out, "%zu session%s, %zu forwarded", here, here == 1 ? "" : "s", fwd);
}

const struct service_ops bosh_service = {
	.name = "bosh",
	.settings = "bosh.*",
	.setup = bosh_setup,
	.teardown = bosh_teardown,
	.listen = bosh_listen,
	.stop = bosh_stop,
	.stats = bosh_stats,
};
