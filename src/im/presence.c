/*
 * presence: RFC 6121 §3 (subscriptions) and §4 (presence).  Outbound
 * handling runs on the sender's owner worker (it reads and changes the
 * sender's roster); inbound handling on the recipient's owner worker.  Each
 * side changes only its own account's roster; the two meet through routed
 * presence stanzas, as between two servers.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/log.h"
#include "im/internal.h"
#include "xml/xml.h"

/* A copy of st addressed to `to`, routed. */
static void route_copy(struct shard *sh, const struct stanza *st, const char *to)
{
	struct stanza *c = stanza_copy(st);
	if (jid_parse_str(c->arena, to, &c->to) < 0) {
		stanza_free(c);
		return;
	}
	stanza_set_to(c, &c->to);
	router_route(sh, c);
}

/* A session's kept presence, addressed to `to`, routed. */
static void route_kept(struct shard *sh, const struct session *s, const char *to)
{
	struct stanza *c = stanza_thaw(s->presence);
	if (!c) {
		log_error("im", "the kept presence of %s cannot be parsed back", s->jid->full);
		return;
	}
	route_copy(sh, c, to);
	stanza_free(c);
}

/* ---- helpers used by roster.c and blocking.c too ---- */

void presence_send_current(struct shard *sh, struct user *u, const char *to)
{
	if (!u)
		return;
	list_for_each(pos, &u->sessions)
	{
		struct session *s = list_entry(pos, struct session, link);
		if (s->available && s->presence)
			route_kept(sh, s, to);
	}
}

void presence_send_unavailable(struct shard *sh, struct user *u, const char *to)
{
	if (!u)
		return;
	list_for_each(pos, &u->sessions)
	{
		struct session *s = list_entry(pos, struct session, link);
		if (s->available)
			im_send_presence(sh, s->jid->full, to, STANZA_TYPE_UNAVAILABLE);
	}
}

/* ---- broadcast ---- */

struct broadcast {
	struct shard *sh;
	const struct stanza *st;
	bool probe;         /* send probes to contacts we see (to/both) */
	const char *from_bare;
	struct user *u;
	struct arena *a;    /* contacts parsed for the block list; made on first use */
};

/* XEP-0191 §3.3 (with XEP-0016's presence-out, which it defers to): a
 * blocked contact sees the user as offline, subscription or not. */
static bool broadcast_blocked(struct broadcast *b, const char *contact)
{
	if (!b->u->im || b->u->im->nblocked == 0)
		return false;
	if (!b->a)
		b->a = arena_new();
	struct jid j;
	return jid_parse_str(b->a, contact, &j) == 0 && blocking_blocks(b->sh, b->from_bare, &j);
}

static void broadcast_item(void *ud, const struct store_roster_item *it)
{
	struct broadcast *b = ud;
	if (b->probe) {
		if (sub_has_to(it->sub))
			im_send_presence(b->sh, b->from_bare, it->contact, STANZA_TYPE_PROBE);
		return;
	}
	if (sub_has_from(it->sub) && !broadcast_blocked(b, it->contact))
		route_copy(b->sh, b->st, it->contact);
}

static void directed_forget(struct session *s, const char *jid)
{
	list_for_each_safe(pos, &s->directed)
	{
		struct directed *d = list_entry(pos, struct directed, link);
		if (strcmp(d->jid, jid) == 0) {
			list_remove(pos);
			free(d);
			s->ndirected--;
		}
	}
}

static void directed_remember(struct session *s, const char *jid)
{
	directed_forget(s, jid);
	if (s->ndirected >= 256)
		return; /* bounded: the oldest ones still get unavailable */
	size_t n = strlen(jid);
	struct directed *d = xmalloc(sizeof(*d) + n + 1);
	memcpy(d->jid, jid, n + 1);
	list_insert_tail(&s->directed, &d->link);
	s->ndirected++;
}

/* Entities that got directed presence and are not covered by broadcast. */
static void directed_unavailable(struct shard *sh, struct session *s, const struct stanza *unavail)
{
	list_for_each_safe(pos, &s->directed)
	{
		struct directed *d = list_entry(pos, struct directed, link);
		route_copy(sh, unavail, d->jid);
		list_remove(pos);
		free(d);
	}
	s->ndirected = 0;
}

struct pending_ctx {
	struct shard *sh;
	struct session *s;
};

static void pending_item(void *ud, const struct store_roster_item *it)
{
	struct pending_ctx *c = ud;
	if (!it->pending_in)
		return;
	struct stanza *p = stanza_new(STANZA_PRESENCE);
	if (jid_parse_str(p->arena, it->contact, &p->from) == 0) {
		stanza_set_from(p, &p->from);
		stanza_set_to(p, c->s->jid);
		stanza_set_type(p, STANZA_TYPE_SUBSCRIBE);
		router_send_to_session(c->s, p);
	}
	stanza_free(p);
}

static int presence_priority(struct stanza *st)
{
	struct xml_node *p = xml_node_child(st->el, NULL, "priority");
	if (!p)
		return 0;
	long v = strtol(xml_node_text(st->arena, p), NULL, 10);
	return v < -128 ? -128 : v > 127 ? 127 : (int)v;
}

/* Initial or updated available presence, or unavailable, without 'to'. */
static void presence_broadcast(struct shard *sh, struct session *s, struct stanza *st)
{
	struct user *u = s->user;
	struct broadcast b = {.sh = sh, .st = st, .from_bare = u->bare, .u = u};
	if (st->type == STANZA_TYPE_UNAVAILABLE) {
		bool was = s->available;
		s->available = false;
		if (was) {
			roster_for_each(u, broadcast_item, &b);
			im_deliver_available(u, st, false, 0, s);
		}
		directed_unavailable(sh, s, st);
		stanza_frozen_free(s->presence);
		s->presence = NULL;
		stanza_free(st);
		arena_free(b.a);
		return;
	}
	bool initial = !s->initial_sent || !s->available;
	s->initial_sent = true;
	s->available = true;
	s->priority = presence_priority(st);
	stanza_frozen_free(s->presence);
	s->presence = stanza_freeze(st);

	/* One body for every contact's copy: only start tags are written per
	 * contact (a group of thousands shares one serialisation). */
	stanza_share_tail(st);
	roster_for_each(u, broadcast_item, &b);
	/* RFC 6121 §4.2.2, §4.4.2: to all of the user's available resources,
	 * the one that sent it included. */
	im_deliver_available(u, st, false, 0, NULL);
	if (initial) {
		b.probe = true;
		roster_for_each(u, broadcast_item, &b);
		/* RFC 6121 §4.4.2: the new resource learns of its siblings. */
		list_for_each(pos, &u->sessions)
		{
			struct session *o = list_entry(pos, struct session, link);
			struct stanza *c = o != s && o->available && o->presence ? stanza_thaw(o->presence) : NULL;
			if (c) {
				stanza_set_to(c, s->jid);
				router_send_to_session(s, c);
				stanza_free(c);
			}
		}
		struct pending_ctx pc = {sh, s};
		roster_for_each(u, pending_item, &pc);
		if (s->priority >= 0)
			offline_deliver(sh, s);
	}
	stanza_free(st);
	arena_free(b.a);
}

void presence_session_end(struct shard *sh, struct session *s)
{
	if (!s->available && list_empty(&s->directed))
		return;
	struct stanza *p = stanza_new(STANZA_PRESENCE);
	stanza_set_from(p, s->jid);
	stanza_set_type(p, STANZA_TYPE_UNAVAILABLE);
	p->to = jid_bare(s->jid);
	p->to_absent = true;
	presence_broadcast(sh, s, p);
}

/* ---- outbound subscriptions (RFC 6121 §3, the user's server) ---- */

static void subscription_outbound(struct shard *sh, struct session *s, struct stanza *st)
{
	struct arena *a = st->arena;
	const char *me = s->jid->bare;
	struct jid contact = jid_bare(&st->to);
	if (!contact.local && !contact.domain) {
		stanza_free(st);
		return;
	}
	struct store_roster_item it;
	bool have = roster_get(sh, a, me, contact.bare, &it) == STORE_OK;
	if (!have) {
		memset(&it, 0, sizeof(it));
		it.contact = contact.bare;
		it.hidden = true;
	}
	bool route = true;
	bool changed = false;
	if (st->type == STANZA_TYPE_SUBSCRIBE) {
		if (!sub_has_to(it.sub) && !it.ask_out) {
			it.ask_out = true;
			changed = true;
		}
		if (it.hidden) {
			it.hidden = false;
			changed = true;
		}
	} else if (st->type == STANZA_TYPE_SUBSCRIBED) {
		if (sub_has_from(it.sub)) {
			route = false;
		} else if (it.pending_in) {
			it.sub = it.sub == STORE_SUB_TO ? STORE_SUB_BOTH : STORE_SUB_FROM;
			it.pending_in = false;
			it.approved = false;
			it.hidden = false;
			changed = true;
		} else {
			/* RFC 6121 §3.4: pre-approval, kept until they ask. */
			route = false;
			if (!it.approved) {
				it.approved = true;
				it.hidden = false;
				changed = true;
			}
		}
	} else if (st->type == STANZA_TYPE_UNSUBSCRIBE) {
		if (sub_has_to(it.sub) || it.ask_out) {
			it.sub = it.sub == STORE_SUB_BOTH ? STORE_SUB_FROM : sub_has_to(it.sub) ? STORE_SUB_NONE : it.sub;
			it.ask_out = false;
			changed = true;
		}
	} else { /* unsubscribed */
		if (sub_has_from(it.sub) || it.pending_in || it.approved) {
			bool had_from = sub_has_from(it.sub);
			it.sub = it.sub == STORE_SUB_BOTH ? STORE_SUB_TO : had_from ? STORE_SUB_NONE : it.sub;
			it.pending_in = false;
			it.approved = false;
			changed = true;
			if (had_from)
				presence_send_unavailable(sh, s->user, contact.bare);
		}
	}
	if (changed) {
		int r;
		if (it.hidden && it.sub == STORE_SUB_NONE && !it.ask_out && !it.pending_in && !it.approved)
			r = have ? roster_remove(sh, me, contact.bare) : STORE_OK;
		else
			r = roster_put(sh, me, &it);
		if (r == STORE_FULL) {
			im_error(sh, st, ETYPE_WAIT, STANZA_ERR_RESOURCE_CONSTRAINT, "your roster is full (im.roster_max)");
			return;
		}
	}
	if (!route) {
		stanza_free(st);
		return;
	}
	/* Decided before routing: router_route takes st (and its arena, where
	 * contact.bare lives too) and may free it at once. */
	bool approved = st->type == STANZA_TYPE_SUBSCRIBED && changed;
	char *to = approved ? xstrdup(contact.bare) : NULL;
	/* Subscription stanzas travel between bare JIDs (RFC 6121 §3.1.2). */
	struct jid from = jid_bare(s->jid);
	stanza_set_from(st, &from);
	stanza_set_to(st, &contact);
	router_route(sh, st);
	/* After approving, they get our presence at once (§3.1.5). */
	if (approved)
		presence_send_current(sh, s->user, to);
	free(to);
}

/* Available, unavailable or error: broadcast, or directed. */
static void availability_outbound(struct shard *sh, struct session *s, struct stanza *st)
{
	if (st->to_absent) {
		presence_broadcast(sh, s, st);
		return;
	}
	/* Directed presence (RFC 6121 §4.6): remembered so the target gets
	 * unavailable when this session ends. */
	if (st->type == STANZA_TYPE_UNAVAILABLE)
		directed_forget(s, st->to.full);
	else if (st->type == STANZA_TYPE_AVAILABLE && s->available)
		directed_remember(s, st->to.full);
	router_route(sh, st);
}

/* Clients do not probe (RFC 6121 §4.3). */
static void probe_outbound(struct shard *sh, struct session *s, struct stanza *st)
{
	(void)sh;
	(void)s;
	stanza_free(st);
}

/* A type RFC 6121 §4.7.1 does not define (type='available' too). */
static void unknown_outbound(struct shard *sh, struct session *s, struct stanza *st)
{
	(void)s;
	im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_BAD_REQUEST, "unknown presence type");
}

typedef void presence_outbound_fn(struct shard *sh, struct session *s, struct stanza *st);

/* Every presence type (stanza_type_parse gives no other to a presence). */
static presence_outbound_fn *const outbound_by_type[STANZA_TYPE_COUNT] = {
	[STANZA_TYPE_UNKNOWN] = unknown_outbound,
	[STANZA_TYPE_ERROR] = availability_outbound,
	[STANZA_TYPE_AVAILABLE] = availability_outbound,
	[STANZA_TYPE_UNAVAILABLE] = availability_outbound,
	[STANZA_TYPE_SUBSCRIBE] = subscription_outbound,
	[STANZA_TYPE_SUBSCRIBED] = subscription_outbound,
	[STANZA_TYPE_UNSUBSCRIBE] = subscription_outbound,
	[STANZA_TYPE_UNSUBSCRIBED] = subscription_outbound,
	[STANZA_TYPE_PROBE] = probe_outbound,
};

void presence_outbound(struct shard *sh, struct session *s, struct stanza *st)
{
	presence_outbound_fn *fn = outbound_by_type[st->type];
	(fn ? fn : unknown_outbound)(sh, s, st);
}

/* ---- inbound (the contact's server) ---- */

static void subscription_inbound(struct shard *sh, struct stanza *st)
{
	struct arena *a = st->arena;
	const char *me = st->to.bare;
	struct jid from = jid_bare(&st->from);
	struct user *u = user_find(sh, me);
	if (!im_account_exists(sh, me)) {
		/* RFC 6121 §3.1.3: no such user: tell the requester. */
		if (st->type == STANZA_TYPE_SUBSCRIBE)
			im_send_presence(sh, me, from.bare, STANZA_TYPE_UNSUBSCRIBED);
		stanza_free(st);
		return;
	}
	struct store_roster_item it;
	bool have = roster_get(sh, a, me, from.bare, &it) == STORE_OK;
	if (!have) {
		memset(&it, 0, sizeof(it));
		it.contact = from.bare;
		it.hidden = true;
	}
	bool deliver = false, changed = false;
	if (st->type == STANZA_TYPE_SUBSCRIBE) {
		if (sub_has_from(it.sub)) {
			im_send_presence(sh, me, from.bare, STANZA_TYPE_SUBSCRIBED);
		} else if (it.approved) {
			it.sub = it.sub == STORE_SUB_TO ? STORE_SUB_BOTH : STORE_SUB_FROM;
			it.approved = false;
			it.hidden = false;
			changed = true;
			im_send_presence(sh, me, from.bare, STANZA_TYPE_SUBSCRIBED);
		} else {
			if (!it.pending_in) {
				it.pending_in = true;
				changed = true;
			}
			deliver = true;
		}
	} else if (st->type == STANZA_TYPE_SUBSCRIBED) {
		if (it.ask_out) {
			it.sub = it.sub == STORE_SUB_FROM ? STORE_SUB_BOTH : STORE_SUB_TO;
			it.ask_out = false;
			changed = deliver = true;
		}
	} else if (st->type == STANZA_TYPE_UNSUBSCRIBE) {
		if (sub_has_from(it.sub) || it.pending_in) {
			/* RFC 6121 §3.3.3: they stop seeing us, so they get
			 * unavailable from each of our available resources. */
			if (sub_has_from(it.sub))
				presence_send_unavailable(sh, u, from.bare);
			it.sub = it.sub == STORE_SUB_BOTH ? STORE_SUB_TO : sub_has_from(it.sub) ? STORE_SUB_NONE : it.sub;
			it.pending_in = false;
			changed = deliver = true;
		}
	} else { /* unsubscribed */
		if (sub_has_to(it.sub) || it.ask_out) {
			it.sub = it.sub == STORE_SUB_BOTH ? STORE_SUB_FROM : sub_has_to(it.sub) ? STORE_SUB_NONE : it.sub;
			it.ask_out = false;
			changed = deliver = true;
		}
	}
	if (changed) {
		int r;
		if (it.hidden && it.sub == STORE_SUB_NONE && !it.ask_out && !it.pending_in && !it.approved)
			r = have ? roster_remove(sh, me, from.bare) : STORE_OK;
		else
			r = roster_put(sh, me, &it);
		if (r != STORE_OK)
			deliver = false;
	}
	if (st->type == STANZA_TYPE_SUBSCRIBE && changed && !deliver) {
		/* pre-approved: they see us now */
		presence_send_current(sh, u, from.bare);
	}
	if (deliver && u) {
		stanza_set_from(st, &from);
		im_deliver_available(u, st, false, 0, NULL);
	}
	stanza_free(st);
}

static void probe_inbound(struct shard *sh, struct stanza *st)
{
	struct arena *a = st->arena;
	const char *me = st->to.bare;
	if (!im_account_exists(sh, me)) {
		im_send_presence(sh, me, st->from.bare, STANZA_TYPE_UNSUBSCRIBED);
		stanza_free(st);
		return;
	}
	struct store_roster_item it;
	bool allowed = roster_get(sh, a, me, st->from.bare, &it) == STORE_OK && sub_has_from(it.sub);
	if (!allowed) {
		/* RFC 6121 §4.3.2: reveal nothing. */
		stanza_free(st);
		return;
	}
	struct user *u = user_find(sh, me);
	bool any = false;
	if (u) {
		list_for_each(pos, &u->sessions)
		{
			struct session *s = list_entry(pos, struct session, link);
			if (s->available && s->presence) {
				route_kept(sh, s, st->from.full);
				any = true;
			}
		}
	}
	if (!any)
		im_send_presence(sh, me, st->from.full, STANZA_TYPE_UNAVAILABLE);
	stanza_free(st);
}

/* Available, unavailable or error (and an unknown type, which a local
 * sender cannot send): to the resources. */
static void availability_inbound(struct shard *sh, struct stanza *st)
{
	struct user *u = user_find(sh, st->to.bare);
	if (!u) {
		stanza_free(st);
		return;
	}
	if (!jid_is_bare(&st->to)) {
		struct session *s = user_session(u, st->to.resource);
		if (s)
			router_send_to_session(s, st);
		stanza_free(st);
		return;
	}
	im_deliver_available(u, st, false, 0, NULL);
	stanza_free(st);
}

typedef void presence_inbound_fn(struct shard *sh, struct stanza *st);

static presence_inbound_fn *const inbound_by_type[STANZA_TYPE_COUNT] = {
	[STANZA_TYPE_SUBSCRIBE] = subscription_inbound,
	[STANZA_TYPE_SUBSCRIBED] = subscription_inbound,
	[STANZA_TYPE_UNSUBSCRIBE] = subscription_inbound,
	[STANZA_TYPE_UNSUBSCRIBED] = subscription_inbound,
	[STANZA_TYPE_PROBE] = probe_inbound,
};

void presence_inbound(struct shard *sh, struct stanza *st)
{
	presence_inbound_fn *fn = inbound_by_type[st->type];
	(fn ? fn : availability_inbound)(sh, st);
}
