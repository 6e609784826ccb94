/*
 * network: members-only groups (issue 10).  A member of a group created
 * with --members-only exchanges stanzas only with members of a group they
 * share (any of its groups), with itself and with our server; anything
 * else is refused with <not-allowed/> naming the policy (presence is
 * dropped, so nobody outside can probe a member's presence).  The server
 * enforces it both ways, so a node whose credentials leak cannot reach
 * another network.
 *
 * What an account may reach is read at login with its roster (its own
 * memberships, then the members of those groups) and kept sorted in its
 * cache; a stanza to an account that is offline here reads the same from
 * storage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/log.h"
#include "im/internal.h"

struct peers_ctx {
	char **v;
	size_t n, cap;
	const char *self;
};

static int add_peer(void *ud, const char *member)
{
	struct peers_ctx *pc = ud;
	if (strcmp(member, pc->self) == 0)
		return 0;
	if (pc->n == pc->cap) {
		pc->cap = pc->cap ? pc->cap * 2 : 16;
		pc->v = xrealloc(pc->v, pc->cap * sizeof(char *));
	}
	pc->v[pc->n++] = xstrdup(member);
	return 0;
}

int im_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether `bare` is in a members-only group, and if so its co-members
 * (sorted, duplicates removed) into *peers. */
static bool load(struct shard *sh, const char *bare, char ***peers, size_t *npeers)
{
	struct arena *a = arena_new();
	struct store_group *groups = NULL;
	size_t n = 0;
	bool members_only = false;
	if (store_member_groups(sh->store, a, bare, &groups, &n) != STORE_OK) {
		log_error("im", "cannot load the groups of %s: %s", bare, store_error(sh->store));
		n = 0;
	}
	for (size_t i = 0; i < n; i++)
		members_only = members_only || groups[i].members_only;
	struct peers_ctx pc = {.self = bare};
	for (size_t i = 0; members_only && i < n; i++)
		if (store_group_members(sh->store, groups[i].name, add_peer, &pc) != STORE_OK)
			log_error("im", "cannot load the members of group %s: %s", groups[i].name, store_error(sh->store));
	arena_free(a);
	if (pc.n) {
		qsort(pc.v, pc.n, sizeof(char *), im_cmp_str);
		size_t k = 0;
		for (size_t i = 0; i < pc.n; i++) {
			if (k && strcmp(pc.v[k - 1], pc.v[i]) == 0) {
				free(pc.v[i]);
				continue;
			}
			pc.v[k++] = pc.v[i];
		}
		pc.n = k;
	}
	*peers = pc.v;
	*npeers = pc.n;
	return members_only;
}

static void free_peers(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void network_load(struct shard *sh, struct im_user *iu, const char *bare)
{
	iu->members_only = load(sh, bare, &iu->peers, &iu->npeers);
}

void network_clear(struct im_user *iu)
{
	free_peers(iu->peers, iu->npeers);
	iu->peers = NULL;
	iu->npeers = 0;
}

static bool is_peer(char *const *peers, size_t n, const char *bare)
{
	return n && bsearch(&bare, peers, n, sizeof(char *), im_cmp_str) != NULL;
}

/* What a members-only member may exchange stanzas with besides
 * co-members: itself and our server (a domain of ours, no local part). */
static bool always_allowed(struct shard *sh, const char *self, const struct jid *other)
{
	if (!other->domain)
		return true;
	if (!other->local)
		return server_is_local(sh->srv, other->domain);
	return strcmp(other->bare, self) == 0;
}

static void refuse(struct shard *sh, struct stanza *st, const char *who, const char *other)
{
	/* Presence (and errors and results) go nowhere: no probing. */
	if (st->kind == STANZA_PRESENCE || stanza_is_error(st) || st->type == STANZA_TYPE_RESULT) {
		stanza_free(st);
		return;
	}
	char text[600];
	snprintf(text, sizeof(text), "%.250s is in a members-only network and %.250s is not a member of a group it "
		     "shares",
		 who, other);
	im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_NOT_ALLOWED, text);
}

bool network_outbound(struct shard *sh, struct session *s, struct stanza *st)
{
	struct im_user *iu = s->user->im;
	if (!iu || !iu->members_only || st->to_absent || always_allowed(sh, s->jid->bare, &st->to))
		return false;
	if (is_peer(iu->peers, iu->npeers, st->to.bare))
		return false;
	log_info("im", "%s -> %s: refused: members-only network (parleyctl group)", s->jid->bare, st->to.bare);
	if (st->kind == STANZA_PRESENCE || stanza_is_error(st) || st->type == STANZA_TYPE_RESULT) {
		stanza_free(st);
		return true;
	}
	/* Straight back to the session: routed, the error would come from
	 * the outsider and be refused on the way in. */
	char text[600];
	snprintf(text, sizeof(text), "%.250s is in a members-only network and %.250s is not a member of a group it "
		     "shares",
		 s->jid->bare, st->to.bare);
	struct stanza *e = stanza_error(st, ETYPE_CANCEL, STANZA_ERR_NOT_ALLOWED, text);
	stanza_free(st);
	router_send_to_session(s, e);
	stanza_free(e);
	return true;
}

bool network_inbound(struct shard *sh, struct stanza *st)
{
	if (!st->from.domain || always_allowed(sh, st->to.bare, &st->from))
		return false;
	/* Unavailable presence reveals nothing and asks for nothing: it lets
	 * a member removed from the network say goodbye even when the other
	 * side has already applied the change. */
	if (st->kind == STANZA_PRESENCE && st->type == STANZA_TYPE_UNAVAILABLE)
		return false;
	struct user *u = user_find(sh, st->to.bare);
	bool members_only, peer;
	if (u && u->im) {
		members_only = u->im->members_only;
		peer = members_only && is_peer(u->im->peers, u->im->npeers, st->from.bare);
	} else {
		/* Offline here: the same, from storage (rare: most stanzas for
		 * an offline account are messages to store). */
		char **peers = NULL;
		size_t n = 0;
		members_only = load(sh, st->to.bare, &peers, &n);
		peer = members_only && is_peer(peers, n, st->from.bare);
		free_peers(peers, n);
	}
	if (!members_only || peer)
		return false;
	log_info("im", "%s -> %s: refused: members-only network (parleyctl group)", st->from.bare, st->to.bare);
	refuse(sh, st, st->to.bare, st->from.bare);
	return true;
}
