/*
 * blocking: the blocking command (XEP-0191).  The list is cached with the
 * account's roster while it is online, read from storage otherwise.  What
 * a block does to traffic is applied in hooks.c (both directions).
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/log.h"
#include "im/internal.h"
#include "xml/xml.h"

static bool item_matches(const char *item, const struct jid *j)
{
	if (!strcmp(item, j->full) || !strcmp(item, j->bare) || !strcmp(item, j->domain))
		return true;
	/* domain/resource items (XEP-0016 matching) */
	if (j->resource && j->local) {
		size_t dl = strlen(j->domain);
		return !strncmp(item, j->domain, dl) && item[dl] == '/' && !strcmp(item + dl + 1, j->resource);
	}
	return false;
}

bool blocking_blocks(struct shard *sh, const char *owner, const struct jid *j)
{
	struct user *u = user_find(sh, owner);
	if (u && u->im) {
		for (size_t i = 0; i < u->im->nblocked; i++)
			if (item_matches(u->im->blocked[i], j))
				return true;
		return false;
	}
	struct arena *a = arena_new();
	const char **items;
	size_t n = 0;
	bool hit = false;
	if (store_block_list(sh->store, a, owner, &items, &n) == STORE_OK)
		for (size_t i = 0; i < n && !hit; i++)
			hit = item_matches(items[i], j);
	arena_free(a);
	return hit;
}

/* Presence changes from a block or unblock reach only contacts that
 * are allowed to see our presence at all. */
static void presence_if_subscribed(struct shard *sh, struct user *u, const char *jid, bool available)
{
	struct arena *a = arena_new();
	struct jid j;
	struct store_roster_item it;
	if (jid_parse_str(a, jid, &j) == 0 && j.local &&
	    roster_get(sh, a, u->bare, j.bare, &it) == STORE_OK && sub_has_from(it.sub)) {
		if (available)
			presence_send_current(sh, u, jid);
		else
			presence_send_unavailable(sh, u, jid);
	}
	arena_free(a);
}

void blocking_clear(struct im_user *iu)
{
	for (size_t i = 0; i < iu->nblocked; i++)
		free(iu->blocked[i]);
	free(iu->blocked);
	iu->blocked = NULL;
	iu->nblocked = 0;
}

void blocking_load(struct shard *sh, struct im_user *iu, const char *owner)
{
	blocking_clear(iu);
	struct arena *a = arena_new();
	const char **items;
	size_t n;
	if (store_block_list(sh->store, a, owner, &items, &n) == STORE_OK && n) {
		iu->blocked = xcalloc(n, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			iu->blocked[i] = xstrdup(items[i]);
		iu->nblocked = n;
	}
	arena_free(a);
}

/* XEP-0191 §3.3/§3.4: every resource that asked for the list learns of
 * the change. */
static void push(struct shard *sh, struct user *u, const struct xml_node *change)
{
	list_for_each(pos, &u->sessions)
	{
		struct session *s = list_entry(pos, struct session, link);
		if (!s->blocklist_wanted)
			continue;
		struct stanza *p = stanza_new(STANZA_IQ);
		xml_node_set_attr(p->arena, p->el, "id", "block-push");
		stanza_set_type(p, STANZA_TYPE_SET);
		stanza_set_to(p, s->jid);
		xml_node_append(p->el, xml_node_copy(p->arena, change));
		router_send_to_session(s, p);
		stanza_free(p);
	}
	(void)sh;
}

static void blocklist_get(struct shard *sh, struct session *own, struct stanza *st)
{
	own->blocklist_wanted = true;
	struct im_user *iu = own->user->im;
	struct stanza *r = stanza_iq_result(st);
	struct xml_node *l = xml_node_add(r->arena, r->el, XML_NS_BLOCKING, "blocklist");
	for (size_t i = 0; i < iu->nblocked; i++)
		xml_node_set_attr(r->arena, xml_node_add(r->arena, l, XML_NS_BLOCKING, "item"), "jid", iu->blocked[i]);
	stanza_free(st);
	router_send_to_session(own, r);
	stanza_free(r);
	(void)sh;
}

void blocking_iq(struct shard *sh, struct session *own, struct stanza *st)
{
	struct arena *a = st->arena;
	struct xml_node *q = xml_node_first_element(st->el);
	bool get = st->type == STANZA_TYPE_GET;
	if (!strcmp(q->name, "blocklist")) {
		if (get)
			blocklist_get(sh, own, st);
		else
			im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_BAD_REQUEST, NULL);
		return;
	}
	if (get) {
		im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_BAD_REQUEST, NULL);
		return;
	}
	bool block = !strcmp(q->name, "block");
	/* Validate everything before changing anything. */
	unsigned n = 0;
	for (struct xml_node *it = xml_node_child(q, XML_NS_BLOCKING, "item"); it;
	     it = xml_node_next(it, XML_NS_BLOCKING, "item")) {
		const char *j = xml_node_attr(it, "jid");
		struct jid parsed;
		if (!j || jid_parse_str(a, j, &parsed) < 0) {
			im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_JID_MALFORMED, "an item has no valid jid");
			return;
		}
		xml_node_set_attr(a, it, "jid", parsed.full);
		n++;
	}
	if (block && n == 0) {
		im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_BAD_REQUEST, "block needs at least one item");
		return;
	}
	const char *me = own->jid->bare;
	struct user *u = own->user;
	if (!block && n == 0) {
		/* unblock all: everyone on the list gets our presence back */
		for (size_t i = 0; i < u->im->nblocked; i++)
			presence_if_subscribed(sh, u, u->im->blocked[i], true);
		if (store_block_remove(sh->store, me, NULL) != STORE_OK) {
			im_error(sh, st, ETYPE_WAIT, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
			return;
		}
	}
	for (struct xml_node *it = xml_node_child(q, XML_NS_BLOCKING, "item"); it;
	     it = xml_node_next(it, XML_NS_BLOCKING, "item")) {
		const char *j = xml_node_attr(it, "jid");
		int r = block ? store_block_add(sh->store, me, j, sh->srv->cfg->im.blocklist_max)
			      : store_block_remove(sh->store, me, j);
		if (r == STORE_FULL) {
			blocking_load(sh, u->im, u->bare);
			im_error(sh, st, ETYPE_WAIT, STANZA_ERR_RESOURCE_CONSTRAINT, "the block list is full (im.blocklist_max)");
			return;
		}
		if (r == STORE_ERROR) {
			log_error("im", "cannot change the block list of %s: %s", me, store_error(sh->store));
			blocking_load(sh, u->im, u->bare);
			im_error(sh, st, ETYPE_WAIT, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
			return;
		}
		presence_if_subscribed(sh, u, j, !block);
	}
	blocking_load(sh, u->im, u->bare);
	push(sh, u, q);
	im_result(sh, st);
}
