/* remote: links to other domains, their queues and states (see remote.h). */
#include "router/remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/chunk.h"
#include "core/hash.h"
#include "core/log.h"
#include "router/router.h"
#include "router/shard.h"

/* The links of one worker: a chained hash table, doubled when it fills. */
struct remote_table {
	struct remote_link **buckets;
	size_t nbuckets; /* a power of two, or 0 */
	size_t n;
};

static const struct remote_transport *transport;

/* What a sender gets without a transport: the answer from before
 * federation, unchanged. */
static const char no_federation[] = "this server does not federate with other domains";

void router_remote_set_transport(const struct remote_transport *t)
{
	transport = t;
}

bool router_remote_enabled(void)
{
	return transport != NULL;
}

const char *remote_state_name(enum remote_state s)
{
	switch (s) {
	case REMOTE_IDLE:
		return "idle";
	case REMOTE_CONNECTING:
		return "connecting";
	case REMOTE_UP:
		return "up";
	case REMOTE_FAILED:
		return "failed";
	}
	return "?";
}

/* ---- the table ---- */

static uint64_t pair_hash(const char *local, const char *remote)
{
	/* Both are SipHash values of names a peer may choose; mixing them
	 * keeps one remote domain's pairs apart without a key buffer. */
	return hash_str(remote) * 0x9e3779b97f4a7c15ULL ^ hash_str(local);
}

struct remote_link *remote_link_find(struct shard *sh, const char *local, const char *remote)
{
	struct remote_table *t = sh->remote;
	if (!t || !t->nbuckets)
		return NULL;
	uint64_t h = pair_hash(local, remote);
	for (struct remote_link *l = t->buckets[h & (t->nbuckets - 1)]; l; l = l->hnext)
		if (l->hash == h && strcmp(l->remote, remote) == 0 && strcmp(l->local, local) == 0)
			return l;
	return NULL;
}

size_t remote_link_count(const struct shard *sh)
{
	return sh->remote ? sh->remote->n : 0;
}

static void table_grow(struct remote_table *t)
{
	size_t n = t->nbuckets ? t->nbuckets * 2 : 16;
	struct remote_link **b = xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct remote_link *l = t->buckets[i];
		while (l) {
			struct remote_link *next = l->hnext;
			l->hnext = b[l->hash & (n - 1)];
			b[l->hash & (n - 1)] = l;
			l = next;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

static struct remote_link *link_get(struct shard *sh, const char *local, const char *remote)
{
	struct remote_link *l = remote_link_find(sh, local, remote);
	if (l)
		return l;
	if (!sh->remote)
		sh->remote = xcalloc(1, sizeof(*sh->remote));
	struct remote_table *t = sh->remote;
	if (t->n >= t->nbuckets)
		table_grow(t);
	l = xcalloc(1, sizeof(*l));
	l->sh = sh;
	l->local = xstrdup(local);
	l->remote = xstrdup(remote);
	l->hash = pair_hash(local, remote);
	l->state = REMOTE_IDLE;
	size_t i = l->hash & (t->nbuckets - 1);
	l->hnext = t->buckets[i];
	t->buckets[i] = l;
	t->n++;
	log_debug("router", "link %s -> %s made on worker %u", local, remote, sh->w->id);
	return l;
}

static void link_unlink(struct remote_link *l)
{
	struct remote_table *t = l->sh->remote;
	struct remote_link **pp = &t->buckets[l->hash & (t->nbuckets - 1)];
	while (*pp && *pp != l)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = l->hnext;
	t->n--;
}

static void link_free(struct remote_link *l)
{
	free(l->q);
	free(l->local);
	free(l->remote);
	free(l);
}

/* ---- the queue ---- */

static unsigned queue_max(const struct remote_link *l)
{
	return l->sh->srv->cfg->s2s.queue_max;
}

/* Appends st; false (st still the caller's) when the queue is full. */
static bool queue_push(struct remote_link *l, struct stanza *st)
{
	if (l->qlen >= queue_max(l))
		return false;
	if (l->qlen == l->qcap) {
		/* Grow as the queue does, not to queue_max at once: most links
		 * hold a stanza or two while they come up. */
		unsigned cap = l->qcap ? l->qcap * 2 : 8;
		struct stanza **q = xmalloc(cap * sizeof(*q));
		for (unsigned i = 0; i < l->qlen; i++)
			q[i] = l->q[(l->qhead + i) % l->qcap];
		free(l->q);
		l->q = q;
		l->qcap = cap;
		l->qhead = 0;
	}
	l->q[(l->qhead + l->qlen) % l->qcap] = st;
	l->qlen++;
	return true;
}

/* Puts st back at the head (it was popped, so there is room). */
static void queue_unpop(struct remote_link *l, struct stanza *st)
{
	if (l->qlen == l->qcap) {
		/* Only when it was never queued: make room as push would. */
		unsigned cap = l->qcap ? l->qcap * 2 : 8;
		struct stanza **q = xmalloc(cap * sizeof(*q));
		for (unsigned i = 0; i < l->qlen; i++)
			q[i] = l->q[(l->qhead + i) % l->qcap];
		free(l->q);
		l->q = q;
		l->qcap = cap;
		l->qhead = 0;
	}
	l->qhead = (l->qhead + l->qcap - 1) % l->qcap;
	l->q[l->qhead] = st;
	l->qlen++;
}

static struct stanza *queue_pop(struct remote_link *l)
{
	if (!l->qlen)
		return NULL;
	struct stanza *st = l->q[l->qhead];
	l->qhead = (l->qhead + 1) % l->qcap;
	l->qlen--;
	return st;
}

/* Takes the whole queue out of the link, so that whatever the bounces
 * cause cannot meet a half-emptied queue. */
struct taken {
	struct stanza **q;
	unsigned head, len, cap;
};

static struct taken queue_take(struct remote_link *l)
{
	struct taken tk = {l->q, l->qhead, l->qlen, l->qcap};
	l->q = NULL;
	l->qhead = l->qlen = l->qcap = 0;
	l->qfull_logged = false;
	return tk;
}

static unsigned taken_bounce(struct shard *sh, struct taken *tk, enum stanza_etype etype,
			     enum stanza_cond cond, const char *text)
{
	unsigned errors = 0;
	for (unsigned i = 0; i < tk->len; i++) {
		struct stanza *st = tk->q[(tk->head + i) % tk->cap];
		if (stanza_is_error(st))
			errors++;
		router_bounce(sh, st, etype, cond, text);
	}
	free(tk->q);
	return errors;
}

/* ---- writing ---- */

/* Writes st; false when the transport could not take it (its stream is
 * closing): st is back at the head of the queue and the link is idle. */
static bool link_send(struct remote_link *l, struct stanza *st)
{
	struct chunk *wire = stanza_wire_ns(st, XML_NS_SERVER);
	if (!transport->send(l, wire)) {
		queue_unpop(l, st);
		if (l->state == REMOTE_UP)
			l->state = REMOTE_IDLE;
		log_debug("router", "link %s -> %s: its stream is closing; %u stanzas wait for the next one", l->local,
			  l->remote, l->qlen);
		return false;
	}
	metrics_stanza(&l->sh->w->metrics, st->kind, METRIC_OUTCOME_REMOTE);
	/* The transport holds its own reference to the chunk. */
	stanza_free(st);
	l->sent++;
	return true;
}

static void link_start(struct remote_link *l)
{
	l->state = REMOTE_CONNECTING;
	log_debug("router", "link %s -> %s: starting", l->local, l->remote);
	/* Last: start may call back (up, fail) before it returns. */
	transport->start(l);
}

/* On the owner worker: st is for l->remote, from l->local. */
static void link_enqueue(struct shard *sh, struct stanza *st)
{
	struct remote_link *l = link_get(sh, st->from.domain, st->to.domain);
	if (l->state == REMOTE_UP && l->qlen == 0) {
		if (!link_send(l, st))
			link_start(l);
		return;
	}
	if (!queue_push(l, st)) {
		if (!l->qfull_logged) {
			l->qfull_logged = true;
			log_warn("router",
				 "link %s -> %s is %s with %u stanzas queued: further stanzas are answered "
				 "with resource-constraint; raise s2s.queue_max if this persists",
				 l->local, l->remote, remote_state_name(l->state), l->qlen);
		}
		char text[160];
		snprintf(text, sizeof(text), "too many stanzas waiting for %s (s2s.queue_max = %u)",
			 l->remote, queue_max(l));
		router_bounce(sh, st, ETYPE_WAIT, STANZA_ERR_RESOURCE_CONSTRAINT, text);
		return;
	}
	if (l->state == REMOTE_IDLE || l->state == REMOTE_FAILED)
		link_start(l);
}

static void remote_run(struct worker *w, struct worker_msg *m)
{
	struct stanza *st = container_of(m, struct stanza, msg);
	link_enqueue(shard_of(w), st);
}

void router_remote_route(struct shard *sh, struct stanza *st)
{
	struct server *srv = sh->srv;
	if (!transport) {
		/* Federation is not there yet: say so to the sender. */
		router_bounce(sh, st, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, no_federation);
		return;
	}
	if (!server_is_local(srv, st->from.domain)) {
		/* Never a relay between two other domains (nor for a stanza
		 * without a sender, which nobody could be answered about). */
		router_bounce(sh, st, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
			      "this server does not relay stanzas between other domains");
		return;
	}
	unsigned owner = server_owner(srv, st->to.domain);
	if (owner == sh->w->id) {
		link_enqueue(sh, st);
		return;
	}
	router_post(sh, st, owner, remote_run);
}

/* ---- the transport's calls ---- */

void remote_link_up(struct remote_link *l)
{
	l->state = REMOTE_UP;
	l->qfull_logged = false;
	log_debug("router", "link %s -> %s: up, %u stanzas queued", l->local, l->remote, l->qlen);
	/* One at a time: a send may fail the link, which bounces the rest,
	 * or find the new stream closing already (the stanza goes back; the
	 * next stanza, or the transport's report, starts the link again). */
	while (l->state == REMOTE_UP && l->qlen)
		if (!link_send(l, queue_pop(l)))
			break;
}

void remote_link_fail(struct remote_link *l, enum stanza_etype etype, enum stanza_cond cond,
		      const char *text)
{
	l->state = REMOTE_FAILED;
	l->fail_etype = etype;
	l->fail_cond = cond;
	l->failed_ms = worker_now(l->sh->w);
	struct taken tk = queue_take(l);
	unsigned errors = taken_bounce(l->sh, &tk, etype, cond, text);
	log_info("router", "link %s -> %s failed: %s; %u queued stanzas answered with %s, %u errors dropped",
		 l->local, l->remote, text ? text : "no reason given", tk.len - errors,
		 stanza_cond_name(cond), errors);
}

void remote_link_down(struct remote_link *l)
{
	if (l->state == REMOTE_CONNECTING) {
		remote_link_fail(l, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
				 "the link closed before it came up");
		return;
	}
	l->state = REMOTE_IDLE;
	log_debug("router", "link %s -> %s: down, %u stanzas queued", l->local, l->remote, l->qlen);
	/* Stanzas a closing stream refused wait for a new one. */
	if (l->qlen)
		link_start(l);
}

void remote_link_drop(struct remote_link *l)
{
	if (l->qlen) {
		struct taken tk = queue_take(l);
		taken_bounce(l->sh, &tk, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
			     "the link was dropped");
	}
	link_unlink(l);
	link_free(l);
}

void router_remote_shutdown(struct shard *sh)
{
	struct remote_table *t = sh->remote;
	if (!t)
		return;
	unsigned dropped = 0;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct remote_link *l = t->buckets[i];
		while (l) {
			struct remote_link *next = l->hnext;
			if (transport && transport->close)
				transport->close(l);
			/* The senders are being disconnected too: nobody to
			 * answer. */
			struct stanza *st;
			while ((st = queue_pop(l)) != NULL) {
				stanza_free(st);
				dropped++;
			}
			link_free(l);
			l = next;
		}
	}
	if (dropped)
		log_info("router", "shutting down: %u stanzas queued for other domains dropped", dropped);
	free(t->buckets);
	free(t);
	sh->remote = NULL;
}
