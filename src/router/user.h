/*
 * user: the record of an account with bound sessions, on the worker that
 * owns its bare JID.  It exists from the first bind to the last unbind.
 * im/ hangs its per-account cache (roster, block list) on `im`.
 */
#ifndef PARLEY_ROUTER_USER_H
#define PARLEY_ROUTER_USER_H

#include <stddef.h>
#include <stdint.h>

#include "core/list.h"

struct shard;
struct session;
struct im_user;

struct user {
	char *bare;            /* prepared bare JID */
	uint64_t hash;
	struct user *hnext;    /* bucket chain in shard->user_buckets */
	struct list sessions;  /* struct session */
	unsigned nsessions;
	struct im_user *im;    /* owned by im/ (freed through im_user_free) */
};

/* The record for `bare` on this shard, or NULL. */
struct user *user_find(struct shard *sh, const char *bare);
/* The record, created (empty) when missing. */
struct user *user_get(struct shard *sh, const char *bare);
/* Removes and frees the record (it must have no sessions). */
void user_drop(struct shard *sh, struct user *u);
/* The session of `u` with this resource, or NULL. */
struct session *user_session(struct user *u, const char *resource);

#endif
