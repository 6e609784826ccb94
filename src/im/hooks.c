/*
 * im hooks: the router's entry points into im/, and the helpers every im
 * file uses.  This is the one place that lists what the server does with
 * each kind of stanza, outbound (from a local session) and inbound (to a
 * local account), so reading it tells where everything else lives.
 */
#include "im/im.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/log.h"
#include "im/internal.h"
#include "xml/xml.h"

/* ---- helpers ---- */

void im_reply(struct shard *sh, struct stanza *r)
{
	router_route(sh, r);
}

void im_error(struct shard *sh, struct stanza *st, enum stanza_etype t, enum stanza_cond cond, const char *text)
{
	router_bounce(sh, st, t, cond, text);
}

void im_result(struct shard *sh, struct stanza *st)
{
	struct stanza *r = stanza_iq_result(st);
	stanza_free(st);
	im_reply(sh, r);
}

unsigned im_deliver_available(struct user *u, struct stanza *st, bool use_min, int min_priority,
			      const struct session *except)
{
	unsigned n = 0;
	if (!u)
		return 0;
	list_for_each(pos, &u->sessions)
	{
		struct session *s = list_entry(pos, struct session, link);
		if (s == except || !s->available || (use_min && s->priority < min_priority))
			continue;
		router_send_to_session(s, st);
		n++;
	}
	return n;
}

bool im_account_exists(struct shard *sh, const char *bare)
{
	if (user_find(sh, bare))
		return true;
	return store_user_exists(sh->store, bare) == STORE_OK;
}

void im_send_presence(struct shard *sh, const char *from, const char *to, enum stanza_type type)
{
	struct stanza *p = stanza_new(STANZA_PRESENCE);
	if (jid_parse_str(p->arena, from, &p->from) < 0 || jid_parse_str(p->arena, to, &p->to) < 0) {
		stanza_free(p);
		return;
	}
	stanza_set_from(p, &p->from);
	stanza_set_to(p, &p->to);
	stanza_set_type(p, type);
	router_route(sh, p);
}

/* ---- outbound: a stanza from a local session ---- */

static bool to_own_account(const struct session *s, const struct stanza *st)
{
	return st->to_absent || (jid_is_bare(&st->to) && strcmp(st->to.bare, s->jid->bare) == 0);
}

static bool blocked_outbound(struct shard *sh, struct session *s, struct stanza *st)
{
	if (st->to_absent || !st->to.local || strcmp(st->to.bare, s->jid->bare) == 0)
		return false;
	if (!blocking_blocks(sh, s->jid->bare, &st->to))
		return false;
	/* XEP-0191 §3.4: tell the user why; presence is dropped. */
	if (st->kind == STANZA_PRESENCE || stanza_is_error(st)) {
		stanza_free(st);
		return true;
	}
	struct stanza *e = stanza_error(st, ETYPE_CANCEL, STANZA_ERR_NOT_ACCEPTABLE, "you have blocked this contact");
	struct xml_node *err = xml_node_child(e->el, NULL, "error");
	xml_node_add(e->arena, err, XML_NS_BLOCKING_ERRORS, "blocked");
	stanza_free(st);
	router_send_to_session(s, e);
	stanza_free(e);
	return true;
}

static void im_outbound(struct shard *sh, struct session *s, struct stanza *st)
{
	if (network_outbound(sh, s, st) || blocked_outbound(sh, s, st))
		return;
	switch (st->kind) {
	case STANZA_PRESENCE:
		presence_outbound(sh, s, st);
		return;
	case STANZA_IQ:
		if (to_own_account(s, st)) {
			iq_account(sh, s, st);
			return;
		}
		break;
	case STANZA_MESSAGE:
		break;
	}
	router_route(sh, st);
}

/* ---- inbound: a stanza to a local account (on its owner worker) ---- */

static bool blocked_inbound(struct shard *sh, struct stanza *st)
{
	if (!st->from.domain || strcmp(st->from.bare, st->to.bare) == 0)
		return false;
	if (!blocking_blocks(sh, st->to.bare, &st->from))
		return false;
	/* XEP-0191 §3.5: as if the account were not there. */
	if (st->kind == STANZA_PRESENCE || stanza_is_error(st) || st->type == STANZA_TYPE_RESULT)
		stanza_free(st);
	else
		im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
	return true;
}

static void im_inbound(struct shard *sh, struct stanza *st)
{
	if (network_inbound(sh, st) || blocked_inbound(sh, st))
		return;
	switch (st->kind) {
	case STANZA_MESSAGE:
		message_inbound(sh, st);
		return;
	case STANZA_PRESENCE:
		presence_inbound(sh, st);
		return;
	case STANZA_IQ:
		break;
	}
	/* iq: to a full JID it goes to that resource; to the bare JID the
	 * server answers for the account (RFC 6121 §8.5.1, §8.5.2.1.3). */
	if (!jid_is_bare(&st->to)) {
		struct user *u = user_find(sh, st->to.bare);
		struct session *s = u ? user_session(u, st->to.resource) : NULL;
		if (s) {
			router_send_to_session(s, st);
			stanza_free(st);
			return;
		}
		if (stanza_is_request(st))
			im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
		else
			stanza_free(st);
		return;
	}
	iq_account(sh, NULL, st);
}

static void im_server(struct shard *sh, struct stanza *st)
{
	if (st->kind == STANZA_IQ) {
		iq_server(sh, st);
		return;
	}
	/* Messages and presence to the server itself have no recipient. */
	if (st->kind == STANZA_MESSAGE && !stanza_is_error(st) && st->type != STANZA_TYPE_HEADLINE &&
	    st->type != STANZA_TYPE_GROUPCHAT)
		im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
	else
		stanza_free(st);
}

/* ---- sessions ---- */

static void im_session_start(struct shard *sh, struct session *s)
{
	struct user *u = s->user;
	if (!u->im)
		u->im = im_user_load(sh, u->bare);
}

static void im_session_end(struct shard *sh, struct session *s)
{
	presence_session_end(sh, s);
}

static void im_user_end(struct shard *sh, struct user *u)
{
	(void)sh;
	im_user_free(u->im);
	u->im = NULL;
}

static const struct router_hooks im_hooks = {
	.outbound = im_outbound,
	.inbound = im_inbound,
	.server = im_server,
	.session_start = im_session_start,
	.session_end = im_session_end,
	.user_end = im_user_end,
};

void im_setup(void)
{
	router_set_hooks(&im_hooks);
}
