/*
 * roster: the account's contact list (RFC 6121 §2).  While the account has
 * sessions its roster is cached on its owner worker (presence broadcast and
 * probes read it on every presence change); storage is written through on
 * every change, and every change is pushed to the sessions that asked for
 * the roster.  Roster versioning (RFC 6121 §2.6): a counter per account,
 * bumped by storage on each change; a client holding the current version
 * gets an empty result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/hash.h"
#include "core/log.h"
#include "im/internal.h"
#include "xml/xml.h"

enum { ROSTER_NAME_MAX = 1024, ROSTER_GROUPS_MAX = 64 };

/* A cached item: one heap block per item plus its strings.  A contact
 * that a shared group gives (issue 10) carries the groups' labels; `it`
 * is then the effective item (subscription both, the labels among its
 * groups), `stored` says whether the account has an item of its own. */
struct im_item {
	struct im_item *next; /* bucket chain */
	uint64_t hash;
	struct store_roster_item it;
	char **shared;        /* labels of the shared groups that give this contact */
	size_t nshared;
	bool stored;          /* the account's own item exists in storage */
};

static const char *const sub_names[] = {
	[STORE_SUB_NONE] = "none",
	[STORE_SUB_TO] = "to",
	[STORE_SUB_FROM] = "from",
	[STORE_SUB_BOTH] = "both",
};

/* ---- cache ---- */

static struct im_item *item_new(const struct store_roster_item *src)
{
	struct im_item *i = xcalloc(1, sizeof(*i));
	i->it = *src;
	i->it.contact = xstrdup(src->contact);
	i->it.name = src->name ? xstrdup(src->name) : NULL;
	i->it.groups = src->ngroups ? xcalloc(src->ngroups, sizeof(char *)) : NULL;
	for (size_t g = 0; g < src->ngroups; g++)
		i->it.groups[g] = xstrdup(src->groups[g]);
	i->hash = hash_str(src->contact);
	return i;
}

static void item_free(struct im_item *i)
{
	free((char *)i->it.contact);
	free((char *)i->it.name);
	for (size_t g = 0; g < i->it.ngroups; g++)
		free((char *)i->it.groups[g]);
	free(i->it.groups);
	for (size_t g = 0; g < i->nshared; g++)
		free(i->shared[g]);
	free(i->shared);
	free(i);
}

/* A shared contact's effective item: subscription both (presence flows
 * without a request), the group labels added to its own groups. */
static void item_apply_shared(struct im_item *i)
{
	if (!i->nshared)
		return;
	i->it.sub = STORE_SUB_BOTH;
	i->it.ask_out = false;
	i->it.hidden = false;
	for (size_t s = 0; s < i->nshared; s++) {
		bool have = false;
		for (size_t g = 0; g < i->it.ngroups && !have; g++)
			have = strcmp(i->it.groups[g], i->shared[s]) == 0;
		if (have || !i->shared[s][0])
			continue;
		i->it.groups = xrealloc(i->it.groups, (i->it.ngroups + 1) * sizeof(char *));
		i->it.groups[i->it.ngroups++] = xstrdup(i->shared[s]);
	}
}

/* The chain link where `contact` is or would go; NULL before the first
 * item (an empty roster allocates no table). */
static struct im_item **cache_slot(struct im_user *iu, const char *contact)
{
	if (!iu->nbuckets)
		return NULL;
	uint64_t h = hash_str(contact);
	struct im_item **pp = &iu->buckets[h & (iu->nbuckets - 1)];
	while (*pp && ((*pp)->hash != h || strcmp((*pp)->it.contact, contact) != 0))
		pp = &(*pp)->next;
	return pp;
}

static void cache_grow(struct im_user *iu)
{
	size_t n = iu->nbuckets ? iu->nbuckets * 2 : 16;
	struct im_item **b = xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < iu->nbuckets; i++) {
		struct im_item *it = iu->buckets[i];
		while (it) {
			struct im_item *next = it->next;
			it->next = b[it->hash & (n - 1)];
			b[it->hash & (n - 1)] = it;
			it = next;
		}
	}
	free(iu->buckets);
	iu->buckets = b;
	iu->nbuckets = n;
}

static void cache_put(struct im_user *iu, const struct store_roster_item *src)
{
	struct im_item **pp = cache_slot(iu, src->contact);
	if (pp && *pp) {
		struct im_item *old = *pp;
		struct im_item *n = item_new(src);
		n->next = old->next;
		n->stored = true;
		/* The group still gives the contact: keep its labels. */
		n->shared = old->shared;
		n->nshared = old->nshared;
		old->shared = NULL;
		old->nshared = 0;
		item_apply_shared(n);
		*pp = n;
		item_free(old);
		return;
	}
	if (iu->nitems >= iu->nbuckets) {
		cache_grow(iu);
		pp = cache_slot(iu, src->contact);
	}
	*pp = item_new(src);
	(*pp)->stored = true;
	iu->nitems++;
}

static void cache_remove(struct im_user *iu, const char *contact)
{
	struct im_item **pp = cache_slot(iu, contact);
	if (pp && *pp) {
		struct im_item *old = *pp;
		if (old->nshared) {
			/* Its own item is gone; the group still gives it. */
			struct store_roster_item bare = {.contact = old->it.contact};
			struct im_item *n = item_new(&bare);
			n->next = old->next;
			n->shared = old->shared;
			n->nshared = old->nshared;
			old->shared = NULL;
			old->nshared = 0;
			item_apply_shared(n);
			*pp = n;
			item_free(old);
			return;
		}
		*pp = old->next;
		item_free(old);
		iu->nitems--;
	}
}

/* Adds a shared group's label to `contact` (making the item when the
 * account has none of its own). */
static void cache_share(struct im_user *iu, const char *contact, const char *label)
{
	struct im_item **pp = cache_slot(iu, contact);
	if (!pp || !*pp) {
		struct store_roster_item bare = {.contact = contact};
		if (iu->nitems >= iu->nbuckets)
			cache_grow(iu);
		pp = cache_slot(iu, contact);
		*pp = item_new(&bare);
		iu->nitems++;
	}
	struct im_item *i = *pp;
	for (size_t s = 0; s < i->nshared; s++)
		if (strcmp(i->shared[s], label) == 0)
			return;
	i->shared = xrealloc(i->shared, (i->nshared + 1) * sizeof(char *));
	i->shared[i->nshared++] = xstrdup(label);
	item_apply_shared(i);
}

struct share_ctx {
	struct im_user *iu;
	const char *owner;
	const char *label;
};

static int share_member(void *ud, const char *member)
{
	struct share_ctx *sc = ud;
	if (strcmp(member, sc->owner) == 0)
		return 0;
	cache_share(sc->iu, member, sc->label);
	/* The version changes with the set of shared contacts. */
	sc->iu->shared_digest = sc->iu->shared_digest * 1099511628211ULL ^ hash_str(member) ^ hash_str(sc->label);
	return 0;
}

/* Every member of every shared group the account is in, on its roster
 * (issue 10): what a login reads is its own memberships, then the members
 * of those groups. */
static void load_shared(struct shard *sh, struct im_user *iu, const char *bare)
{
	struct arena *a = arena_new();
	struct store_group *groups = NULL;
	size_t n = 0;
	if (store_member_groups(sh->store, a, bare, &groups, &n) != STORE_OK) {
		log_error("im", "cannot load the groups of %s: %s; its shared contacts are missing", bare,
			  store_error(sh->store));
		n = 0;
	}
	iu->groups = n ? xcalloc(n, sizeof(char *)) : NULL;
	for (size_t i = 0; i < n; i++)
		iu->groups[iu->ngroups++] = xstrdup(groups[i].name);
	for (size_t i = 0; i < n; i++) {
		if (!groups[i].shared)
			continue;
		struct share_ctx sc = {iu, bare, groups[i].label[0] ? groups[i].label : groups[i].name};
		if (store_group_members(sh->store, groups[i].name, share_member, &sc) != STORE_OK)
			log_error("im", "cannot load the members of group %s: %s", groups[i].name, store_error(sh->store));
	}
	arena_free(a);
}

struct im_user *im_user_load(struct shard *sh, const char *bare)
{
	struct im_user *iu = xcalloc(1, sizeof(*iu));
	struct arena *a = arena_new();
	struct store_roster_item *items;
	size_t n;
	if (store_roster_get(sh->store, a, bare, &items, &n, &iu->roster_version) == STORE_OK) {
		for (size_t i = 0; i < n; i++)
			cache_put(iu, &items[i]);
	} else {
		log_error("im", "cannot load the roster of %s: %s; presence will not reach contacts",
			  bare, store_error(sh->store));
	}
	arena_free(a);
	load_shared(sh, iu, bare);
	network_load(sh, iu, bare);
	blocking_load(sh, iu, bare);
	return iu;
}

void im_user_free(struct im_user *iu)
{
	if (!iu)
		return;
	for (size_t i = 0; i < iu->nbuckets; i++) {
		struct im_item *it = iu->buckets[i];
		while (it) {
			struct im_item *next = it->next;
			item_free(it);
			it = next;
		}
	}
	free(iu->buckets);
	for (size_t g = 0; g < iu->ngroups; g++)
		free(iu->groups[g]);
	free(iu->groups);
	blocking_clear(iu);
	network_clear(iu);
	free(iu);
}

void roster_for_each(struct user *u, void (*fn)(void *ud, const struct store_roster_item *it), void *ud)
{
	struct im_user *iu = u->im;
	if (!iu)
		return;
	for (size_t i = 0; i < iu->nbuckets; i++)
		for (struct im_item *it = iu->buckets[i]; it; it = it->next)
			fn(ud, &it->it);
}

/* ---- items ---- */

static void item_copy(struct arena *a, const struct store_roster_item *src, struct store_roster_item *dst)
{
	*dst = *src;
	dst->contact = arena_strdup(a, src->contact);
	dst->name = src->name ? arena_strdup(a, src->name) : NULL;
	dst->groups = src->ngroups ? arena_alloc(a, src->ngroups * sizeof(char *)) : NULL;
	for (size_t g = 0; g < src->ngroups; g++)
		dst->groups[g] = arena_strdup(a, src->groups[g]);
}

int roster_get(struct shard *sh, struct arena *a, const char *owner, const char *contact,
	       struct store_roster_item *out)
{
	struct user *u = user_find(sh, owner);
	if (u && u->im) {
		struct im_item **pp = cache_slot(u->im, contact);
		if (!pp || !*pp)
			return STORE_NOT_FOUND;
		item_copy(a, &(*pp)->it, out);
		return STORE_OK;
	}
	return store_roster_get_item(sh->store, a, owner, contact, out);
}

static void item_to_xml(struct arena *a, struct xml_node *q, const struct store_roster_item *it, bool removed)
{
	struct xml_node *x = xml_node_add(a, q, XML_NS_ROSTER, "item");
	xml_node_set_attr(a, x, "jid", it->contact);
	if (removed) {
		xml_node_set_attr(a, x, "subscription", "remove");
		return;
	}
	if (it->name)
		xml_node_set_attr(a, x, "name", it->name);
	xml_node_set_attr(a, x, "subscription", sub_names[it->sub]);
	if (it->ask_out)
		xml_node_set_attr(a, x, "ask", "subscribe");
	if (it->approved)
		xml_node_set_attr(a, x, "approved", "true");
	for (size_t g = 0; g < it->ngroups; g++) {
		struct xml_node *gn = xml_node_add(a, x, XML_NS_ROSTER, "group");
		xml_node_add_text(a, gn, it->groups[g], strlen(it->groups[g]));
	}
}

void roster_version_text(const struct im_user *iu, char *out, size_t n)
{
	/* XEP-0237: the version must change when the shared contacts do. */
	if (iu->shared_digest)
		snprintf(out, n, "%llu-%llx", (unsigned long long)iu->roster_version,
			 (unsigned long long)iu->shared_digest);
	else
		snprintf(out, n, "%llu", (unsigned long long)iu->roster_version);
}

/* The version a push carries after a change that made `version`. */
static void push_version(struct user *u, uint64_t version, char *out, size_t n)
{
	if (u && u->im)
		roster_version_text(u->im, out, n);
	else
		snprintf(out, n, "%llu", (unsigned long long)version);
}

/* RFC 6121 §2.1.6: a push to every interested resource of the owner. */
static void roster_push(struct shard *sh, const char *owner, const struct store_roster_item *it, bool removed,
			const char *ver)
{
	struct user *u = user_find(sh, owner);
	if (!u)
		return;
	list_for_each(pos, &u->sessions)
	{
		struct session *s = list_entry(pos, struct session, link);
		if (!s->interested)
			continue;
		struct stanza *p = stanza_new(STANZA_IQ);
		char id[32];
		snprintf(id, sizeof(id), "push%u", ++u->im->push_id);
		xml_node_set_attr(p->arena, p->el, "id", id);
		stanza_set_type(p, STANZA_TYPE_SET);
		stanza_set_to(p, s->jid);
		struct xml_node *q = xml_node_add(p->arena, p->el, XML_NS_ROSTER, "query");
		xml_node_set_attr(p->arena, q, "ver", ver);
		item_to_xml(p->arena, q, it, removed);
		router_send_to_session(s, p);
		stanza_free(p);
	}
}

int roster_put(struct shard *sh, const char *owner, const struct store_roster_item *item)
{
	uint64_t version;
	int r = store_roster_put(sh->store, owner, item, sh->srv->cfg->im.roster_max, &version);
	if (r != STORE_OK) {
		if (r == STORE_ERROR)
			log_error("im", "cannot store roster item %s of %s: %s", item->contact, owner,
				  store_error(sh->store));
		return r;
	}
	struct user *u = user_find(sh, owner);
	if (u && u->im) {
		cache_put(u->im, item);
		u->im->roster_version = version;
	}
	/* Hidden items only hold a pending request: clients never see them. */
	if (!item->hidden) {
		char ver[48];
		push_version(u, version, ver, sizeof(ver));
		roster_push(sh, owner, item, false, ver);
	}
	return STORE_OK;
}

int roster_remove(struct shard *sh, const char *owner, const char *contact)
{
	uint64_t version;
	struct arena *a = arena_new();
	struct store_roster_item old;
	bool was_visible = roster_get(sh, a, owner, contact, &old) == STORE_OK && !old.hidden;
	int r = store_roster_delete(sh->store, owner, contact, &version);
	if (r == STORE_OK) {
		struct user *u = user_find(sh, owner);
		if (u && u->im) {
			cache_remove(u->im, contact);
			u->im->roster_version = version;
		}
		if (was_visible) {
			char ver[48];
			push_version(u, version, ver, sizeof(ver));
			roster_push(sh, owner, &old, true, ver);
		}
	} else if (r == STORE_ERROR) {
		log_error("im", "cannot remove roster item %s of %s: %s", contact, owner, store_error(sh->store));
	}
	arena_free(a);
	return r;
}

/* ---- group changes on a running server ---- */

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Whether a client would see a difference between the two items. */
static bool item_same(const struct store_roster_item *a, const struct store_roster_item *b)
{
	if (a->sub != b->sub || a->ask_out != b->ask_out || a->approved != b->approved || a->hidden != b->hidden ||
	    !same_str(a->name, b->name) || a->ngroups != b->ngroups)
		return false;
	for (size_t g = 0; g < a->ngroups; g++)
		if (strcmp(a->groups[g], b->groups[g]) != 0)
			return false;
	return true;
}

static struct im_item *cache_find(struct im_user *iu, const char *contact)
{
	struct im_item **pp = cache_slot(iu, contact);
	return pp ? *pp : NULL;
}

/* What one contact's change means: the item to push (or its removal) and
 * the presence that must follow. */
struct roster_change {
	const struct store_roster_item *it;
	bool removed;
	enum store_sub was, now; /* none for a missing or hidden item */
};

static enum store_sub visible_sub(const struct im_item *i)
{
	return i && !i->it.hidden ? i->it.sub : STORE_SUB_NONE;
}

static void change_presence(struct shard *sh, struct user *u, const struct roster_change *c)
{
	const char *contact = c->it->contact;
	/* Both ends of a shared pair are refreshed, each on its own worker
	 * and in either order: each sends its own presence and probes the
	 * other's, so whichever runs second completes the exchange. */
	if (!sub_has_from(c->was) && sub_has_from(c->now))
		presence_send_current(sh, u, contact);
	if (!sub_has_to(c->was) && sub_has_to(c->now))
		im_send_presence(sh, u->bare, contact, STANZA_TYPE_PROBE);
	if (sub_has_from(c->was) && !sub_has_from(c->now))
		presence_send_unavailable(sh, u, contact);
}

void roster_refresh(struct shard *sh, struct user *u)
{
	struct im_user *old = u->im;
	if (!old)
		return;
	struct im_user *now = im_user_load(sh, u->bare);
	now->push_id = old->push_id;

	/* The differences, both ways. */
	struct roster_change *changes = NULL;
	size_t n = 0, cap = 0;
	for (int pass = 0; pass < 2; pass++) {
		struct im_user *from = pass == 0 ? now : old, *other = pass == 0 ? old : now;
		for (size_t b = 0; b < from->nbuckets; b++)
			for (struct im_item *i = from->buckets[b]; i; i = i->next) {
				struct im_item *o = cache_find(other, i->it.contact);
				if (pass == 1 && o)
					continue; /* seen in the first pass */
				if (o && item_same(&i->it, &o->it))
					continue;
				if (o ? i->it.hidden && o->it.hidden : i->it.hidden)
					continue; /* never visible either way */
				if (n == cap) {
					cap = cap ? cap * 2 : 16;
					changes = xrealloc(changes, cap * sizeof(*changes));
				}
				struct im_item *was = pass == 0 ? o : i, *is = pass == 0 ? i : NULL;
				changes[n++] = (struct roster_change){
					.it = is && !is->it.hidden ? &is->it : &was->it,
					.removed = !is || is->it.hidden,
					.was = visible_sub(was),
					.now = visible_sub(is),
				};
			}
	}

	char old_ver[48], new_ver[48];
	roster_version_text(old, old_ver, sizeof(old_ver));
	roster_version_text(now, new_ver, sizeof(new_ver));
	/* The new state first: presence routed from here may come straight
	 * back to this account (a contact owned by this worker). */
	u->im = now;
	for (size_t k = 0; k < n; k++) {
		roster_push(sh, u->bare, changes[k].it, changes[k].removed, k + 1 == n ? new_ver : old_ver);
		change_presence(sh, u, &changes[k]);
	}
	if (n)
		log_info("im", "%s: %zu roster item%s changed by a group change", u->bare, n, n == 1 ? "" : "s");
	free(changes);
	im_user_free(old);
}

/* The label of a shared group that gives `contact` to the user, or NULL. */
static const char *shared_label(struct user *u, const char *contact)
{
	if (!u || !u->im)
		return NULL;
	struct im_item **pp = cache_slot(u->im, contact);
	return pp && *pp && (*pp)->nshared ? (*pp)->shared[0] : NULL;
}

/* ---- jabber:iq:roster ---- */

static void roster_iq_get(struct shard *sh, struct session *s, struct stanza *st, struct xml_node *q)
{
	struct user *u = s->user;
	s->interested = true;
	char ver[48];
	roster_version_text(u->im, ver, sizeof(ver));
	const char *have = xml_node_attr(q, "ver");
	struct stanza *r = stanza_iq_result(st);
	if (!have || strcmp(have, ver) != 0) {
		struct xml_node *rq = xml_node_add(r->arena, r->el, XML_NS_ROSTER, "query");
		xml_node_set_attr(r->arena, rq, "ver", ver);
		for (size_t i = 0; i < u->im->nbuckets; i++)
			for (struct im_item *it = u->im->buckets[i]; it; it = it->next)
				if (!it->it.hidden)
					item_to_xml(r->arena, rq, &it->it, false);
	}
	/* else: the client's copy is current; an empty result says so. */
	stanza_free(st);
	router_send_to_session(s, r);
	stanza_free(r);
}

static void roster_iq_remove(struct shard *sh, struct session *s, struct stanza *st, const struct jid *contact)
{
	struct arena *a = st->arena;
	struct store_roster_item old;
	if (roster_get(sh, a, s->jid->bare, contact->bare, &old) != STORE_OK || old.hidden) {
		im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_ITEM_NOT_FOUND, NULL);
		return;
	}
	/* RFC 6121 §2.5.2: cancel both directions before forgetting. */
	if (sub_has_from(old.sub) || old.pending_in || old.approved)
		im_send_presence(sh, s->jid->bare, contact->bare, STANZA_TYPE_UNSUBSCRIBED);
	if (sub_has_to(old.sub) || old.ask_out)
		im_send_presence(sh, s->jid->bare, contact->bare, STANZA_TYPE_UNSUBSCRIBE);
	if (sub_has_from(old.sub))
		presence_send_unavailable(sh, s->user, contact->bare);
	if (roster_remove(sh, s->jid->bare, contact->bare) == STORE_ERROR) {
		im_error(sh, st, ETYPE_WAIT, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
		return;
	}
	im_result(sh, st);
}

static void roster_iq_set(struct shard *sh, struct session *s, struct stanza *st, struct xml_node *q)
{
	struct arena *a = st->arena;
	struct xml_node *x = xml_node_child(q, XML_NS_ROSTER, "item");
	if (!x || xml_node_next(x, XML_NS_ROSTER, "item") || xml_node_count_elements(q) != 1) {
		im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_BAD_REQUEST, "a roster set carries exactly one item");
		return;
	}
	const char *jid = xml_node_attr(x, "jid");
	struct jid contact;
	if (!jid || jid_parse_str(a, jid, &contact) < 0) {
		im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_BAD_REQUEST, "the item has no valid jid");
		return;
	}
	contact = jid_bare(&contact);
	const char *label = shared_label(s->user, contact.bare);
	if (label) {
		char text[400];
		snprintf(text, sizeof(text), "%.200s comes from the shared group '%.60s': the operator manages it "
			     "(parleyctl group)", contact.bare, label);
		im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_NOT_ALLOWED, text);
		return;
	}
	const char *subattr = xml_node_attr(x, "subscription");
	if (subattr && !strcmp(subattr, "remove")) {
		roster_iq_remove(sh, s, st, &contact);
		return;
	}
	if (subattr && strcmp(subattr, "none") != 0 && strcmp(subattr, "to") != 0 &&
	    strcmp(subattr, "from") != 0 && strcmp(subattr, "both") != 0) {
		im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_BAD_REQUEST, "subscription may only be 'remove' in a roster set");
		return;
	}
	/* The subscription state is the server's (RFC 6121 §2.1.2.5): take
	 * name and groups from the client, keep the rest. */
	struct store_roster_item item;
	if (roster_get(sh, a, s->jid->bare, contact.bare, &item) != STORE_OK) {
		memset(&item, 0, sizeof(item));
		item.contact = contact.bare;
	}
	item.hidden = false;
	const char *name = xml_node_attr(x, "name");
	if (name && strlen(name) > ROSTER_NAME_MAX) {
		im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_NOT_ACCEPTABLE, "the item name is too long");
		return;
	}
	item.name = name && *name ? name : NULL;
	unsigned ng = 0;
	for (struct xml_node *g = xml_node_child(x, XML_NS_ROSTER, "group"); g; g = xml_node_next(g, XML_NS_ROSTER, "group"))
		ng++;
	if (ng > ROSTER_GROUPS_MAX) {
		im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_NOT_ACCEPTABLE, "too many groups");
		return;
	}
	const char **groups = ng ? arena_alloc(a, ng * sizeof(char *)) : NULL;
	size_t n = 0;
	for (struct xml_node *g = xml_node_child(x, XML_NS_ROSTER, "group"); g; g = xml_node_next(g, XML_NS_ROSTER, "group")) {
		const char *gname = xml_node_text(a, g);
		if (!*gname || strlen(gname) > ROSTER_NAME_MAX) {
			im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_NOT_ACCEPTABLE, "a group name is empty or too long");
			return;
		}
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			dup |= strcmp(groups[k], gname) == 0;
		if (!dup)
			groups[n++] = gname;
	}
	item.groups = groups;
	item.ngroups = n;
	int r = roster_put(sh, s->jid->bare, &item);
	if (r == STORE_FULL) {
		char text[96];
		snprintf(text, sizeof(text), "the roster holds %u contacts already (im.roster_max)", sh->srv->cfg->im.roster_max);
		im_error(sh, st, ETYPE_WAIT, STANZA_ERR_RESOURCE_CONSTRAINT, text);
		return;
	}
	if (r != STORE_OK) {
		im_error(sh, st, ETYPE_WAIT, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
		return;
	}
	im_result(sh, st);
}

void roster_iq(struct shard *sh, struct session *s, struct stanza *st)
{
	struct xml_node *q = xml_node_first_element(st->el);
	if (!s) {
		/* Nobody reads another account's roster. */
		im_error(sh, st, ETYPE_AUTH, STANZA_ERR_FORBIDDEN, NULL);
		return;
	}
	if (st->type == STANZA_TYPE_GET)
		roster_iq_get(sh, s, st, q);
	else
		roster_iq_set(sh, s, st, q);
}
