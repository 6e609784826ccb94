/* user: the per-worker table of accounts with bound sessions (chained hash
 * table keyed by SipHash of the bare JID, doubled when it fills). */
#include "router/user.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "router/session.h"
#include "router/shard.h"

struct user *user_find(struct shard *sh, const char *bare)
{
	if (!sh->user_nbuckets)
		return NULL;
	uint64_t h = hash_str(bare);
	for (struct user *u = sh->user_buckets[h & (sh->user_nbuckets - 1)]; u; u = u->hnext)
		if (u->hash == h && strcmp(u->bare, bare) == 0)
			return u;
	return NULL;
}

static void user_table_grow(struct shard *sh)
{
	size_t n = sh->user_nbuckets ? sh->user_nbuckets * 2 : 64;
	struct user **b = xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < sh->user_nbuckets; i++) {
		struct user *u = sh->user_buckets[i];
		while (u) {
			struct user *next = u->hnext;
			u->hnext = b[u->hash & (n - 1)];
			b[u->hash & (n - 1)] = u;
			u = next;
		}
	}
	free(sh->user_buckets);
	sh->user_buckets = b;
	sh->user_nbuckets = n;
}

struct user *user_get(struct shard *sh, const char *bare)
{
	struct user *u = user_find(sh, bare);
	if (u)
		return u;
	if (sh->nusers >= sh->user_nbuckets)
		user_table_grow(sh);
	u = xcalloc(1, sizeof(*u));
	u->bare = xstrdup(bare);
	u->hash = hash_str(bare);
	list_init(&u->sessions);
	size_t i = u->hash & (sh->user_nbuckets - 1);
	u->hnext = sh->user_buckets[i];
	sh->user_buckets[i] = u;
	sh->nusers++;
	return u;
}

void user_drop(struct shard *sh, struct user *u)
{
	struct user **pp = &sh->user_buckets[u->hash & (sh->user_nbuckets - 1)];
	while (*pp && *pp != u)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = u->hnext;
	sh->nusers--;
	free(u->bare);
	free(u);
}

struct session *user_session(struct user *u, const char *resource)
{
	list_for_each(pos, &u->sessions)
	{
		struct session *s = list_entry(pos, struct session, link);
		if (strcmp(s->jid->resource, resource) == 0)
			return s;
	}
	return NULL;
}
