/* im internals: the per-account cache, and what the im files share. */
#ifndef PARLEY_IM_INTERNAL_H
#define PARLEY_IM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "router/router.h"
#include "router/session.h"
#include "router/shard.h"
#include "router/stanza.h"
#include "router/user.h"
#include "store/store.h"

struct arena;

/* ---- the per-account cache (while the account has sessions) ---- */

struct im_item;

/* Owner: the user record (router/user.h), freed by im_user_free. */
struct im_user {
	struct im_item **buckets; /* roster items by contact */
	size_t nbuckets;
	size_t nitems;
	uint64_t roster_version;
	uint64_t shared_digest;   /* of the shared-group contacts: part of the roster version */
	/* In a members-only group: stanzas only with these co-members
	 * (sorted bare JIDs, of every group the account is in). */
	bool members_only;
	char **peers;
	size_t npeers;
	char **blocked;           /* block list (XEP-0191) */
	size_t nblocked;
	/* The names of every group the account is in (read at login): a
	 * group change on a running server finds the accounts it touches. */
	char **groups;
	size_t ngroups;
	unsigned push_id;
};

struct im_user *im_user_load(struct shard *sh, const char *bare);
void im_user_free(struct im_user *iu);

/* qsort and bsearch order of an array of C strings (char *). */
int im_cmp_str(const void *a, const void *b);

/* ---- members-only networks (network.c) ---- */

/* Loads what the account's groups allow (at login, with the roster). */
void network_load(struct shard *sh, struct im_user *iu, const char *bare);
void network_clear(struct im_user *iu);
/* A stanza a members-only member may not send or receive is answered (or
 * dropped) here: true when it was. */
bool network_outbound(struct shard *sh, struct session *s, struct stanza *st);
bool network_inbound(struct shard *sh, struct stanza *st);

/* ---- rosters (roster.c) ---- */

static inline bool sub_has_to(enum store_sub s)
{
	return s == STORE_SUB_TO || s == STORE_SUB_BOTH;
}
static inline bool sub_has_from(enum store_sub s)
{
	return s == STORE_SUB_FROM || s == STORE_SUB_BOTH;
}

/* Reads owner's item for contact (from the cache when the owner is online
 * here, else from storage); the item's strings live in `a`.
 * STORE_OK, STORE_NOT_FOUND or STORE_ERROR. */
int roster_get(struct shard *sh, struct arena *a, const char *owner, const char *contact,
	       struct store_roster_item *out);
/* Writes an item (storage, cache) and pushes it to the owner's interested
 * sessions.  STORE_OK, STORE_FULL or STORE_ERROR. */
int roster_put(struct shard *sh, const char *owner, const struct store_roster_item *item);
/* Removes an item and pushes the removal. */
int roster_remove(struct shard *sh, const char *owner, const char *contact);
/* Calls fn for each cached item of an online user. */
void roster_for_each(struct user *u, void (*fn)(void *ud, const struct store_roster_item *it), void *ud);

/* Reads the account's roster, shared groups and network anew from storage
 * and applies the difference to the online account (issue 10): a roster
 * push per changed item, presence sent and probed for each contact that
 * now shares presence, unavailable for each that no longer does.  The
 * last push carries the new roster version, the ones before it the old
 * one, so a client that misses a push gets the whole roster next time. */
void roster_refresh(struct shard *sh, struct user *u);
/* The roster version as clients see it (storage counter, plus a digest of
 * the shared contacts when there are any). */
void roster_version_text(const struct im_user *iu, char *out, size_t n);

/* jabber:iq:roster get/set from the account itself. */
void roster_iq(struct shard *sh, struct session *s, struct stanza *st);

/* ---- presence (presence.c) ---- */

void presence_outbound(struct shard *sh, struct session *s, struct stanza *st);
void presence_inbound(struct shard *sh, struct stanza *st);
/* The session went away: unavailable to contacts, own resources, and
 * everyone it sent directed presence to. */
void presence_session_end(struct shard *sh, struct session *s);
/* Sends unavailable from every available resource of `owner` to `to`
 * (after unsubscribed, block). */
void presence_send_unavailable(struct shard *sh, struct user *u, const char *to);
/* Sends the current presence of every available resource to `to`. */
void presence_send_current(struct shard *sh, struct user *u, const char *to);

/* ---- messages (message.c) ---- */

void message_inbound(struct shard *sh, struct stanza *st);
/* Delivers stored messages to a session that became available. */
void offline_deliver(struct shard *sh, struct session *s);

/* ---- iq (iq.c) ---- */

/* An iq the account handles itself: from the owner (own == true: roster,
 * private, blocking, vCard set...) or from anyone to the bare JID. */
void iq_account(struct shard *sh, struct session *own, struct stanza *st);
void iq_server(struct shard *sh, struct stanza *st);

/* services (vcard.c, private.c, blocking.c) */
void vcard_iq(struct shard *sh, struct session *own, struct stanza *st);
void private_iq(struct shard *sh, struct session *own, struct stanza *st);
void blocking_iq(struct shard *sh, struct session *own, struct stanza *st);
/* The cached block list of an online account: (re)read from storage, or
 * released. */
void blocking_load(struct shard *sh, struct im_user *iu, const char *owner);
void blocking_clear(struct im_user *iu);
/* True when `owner` blocks `jid` (its full, bare or domain form). */
bool blocking_blocks(struct shard *sh, const char *owner, const struct jid *jid);

/* ---- helpers (hooks.c) ---- */

/* Sends a reply that this worker produced (routes it). */
void im_reply(struct shard *sh, struct stanza *r);
/* Answers st with an error and frees it. */
void im_error(struct shard *sh, struct stanza *st, enum stanza_etype t, enum stanza_cond cond, const char *text);
/* Answers an iq get/set with an empty result and frees it. */
void im_result(struct shard *sh, struct stanza *st);
/* Delivers a copy of st to every available session of u (priority >= min
 * when `min_priority` is set), skipping `except`.  Returns the count. */
unsigned im_deliver_available(struct user *u, struct stanza *st, bool use_min, int min_priority,
			      const struct session *except);
/* True when the account exists (online here or in storage). */
bool im_account_exists(struct shard *sh, const char *bare);
/* A new presence of `type` from `from` (bare or full) to `to` (string),
 * routed. */
void im_send_presence(struct shard *sh, const char *from, const char *to, enum stanza_type type);

#endif
