/*
 * groups: a group changed in storage while the server runs (parleyctl
 * group, the admin API): every online account it touches gets its roster,
 * shared contacts and members-only network again, with roster pushes and
 * presence (roster.c, roster_refresh).  The accounts touched on a worker
 * are those online there that are in the group now (storage) or were in
 * it when they logged in (their cached memberships), so a member removed
 * or a group deleted is found too.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "im/im.h"
#include "im/internal.h"

struct touched {
	struct shard *sh;
	char **v;
	size_t n, cap;
};

static void touched_add(struct touched *t, const char *bare)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->v = xrealloc(t->v, t->cap * sizeof(char *));
	}
	t->v[t->n++] = xstrdup(bare);
}

static int member_online(void *ud, const char *member)
{
	struct touched *t = ud;
	struct user *u = user_find(t->sh, member);
	if (u && u->im)
		touched_add(t, member);
	return 0;
}

static bool was_member(const struct im_user *iu, const char *group)
{
	for (size_t g = 0; g < iu->ngroups; g++)
		if (strcmp(iu->groups[g], group) == 0)
			return true;
	return false;
}

unsigned im_group_changed(struct shard *sh, const char *group)
{
	struct touched t = {.sh = sh};
	/* NOT_FOUND: a deleted group, whose members are found below. */
	if (store_group_members(sh->store, group, member_online, &t) == STORE_ERROR)
		log_error("im", "group %s changed, but its members cannot be read: %s; online members see the change "
			  "at their next login", group, store_error(sh->store));
	for (size_t b = 0; b < sh->user_nbuckets; b++)
		for (struct user *u = sh->user_buckets[b]; u; u = u->hnext)
			if (u->im && was_member(u->im, group))
				touched_add(&t, u->bare);
	if (t.n)
		qsort(t.v, t.n, sizeof(char *), im_cmp_str);
	unsigned done = 0;
	for (size_t i = 0; i < t.n; i++) {
		if (i && strcmp(t.v[i - 1], t.v[i]) == 0)
			continue;
		/* Looked up again: refreshing one account routes presence,
		 * which never drops another's record, but cheap to be sure. */
		struct user *u = user_find(sh, t.v[i]);
		if (u && u->im) {
			roster_refresh(sh, u);
			done++;
		}
	}
	for (size_t i = 0; i < t.n; i++)
		free(t.v[i]);
	free(t.v);
	return done;
}
