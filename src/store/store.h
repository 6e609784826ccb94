/*
 * store: persistent data behind one interface: accounts and their SCRAM
 * credentials, rosters, offline messages, vCards, private XML, block lists.
 * SQLite is the embedded default (store_sqlite.c); the operations go through
 * a table of function pointers so that another backend (PostgreSQL, later)
 * slots in without touching the callers.
 *
 * One `struct store` per thread: each worker opens its own (SQLite
 * connections are not shared between threads), and so does parleyctl.
 * Calls are synchronous and short; routing a stanza to an online user never
 * calls this module.
 *
 * Errors: functions return 0 on success, STORE_NOT_FOUND / STORE_EXISTS /
 * STORE_FULL where the data says no, and STORE_ERROR (< 0) when the backend
 * failed; the detail is in store_error() and was logged.
 *
 * Two rules hold for every function below: a limit argument (`max`,
 * `max_items`) of 0 means no limit; a write for an owner that has no
 * account returns STORE_NOT_FOUND, a read for one finds nothing (an empty
 * list, version 0).  Lists copied into an arena are NULL when empty.
 */
#ifndef PARLEY_STORE_STORE_H
#define PARLEY_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

enum {
	STORE_OK = 0,
	STORE_NOT_FOUND = 1,
	STORE_EXISTS = 2,
	STORE_FULL = 3,
	STORE_ERROR = -1,
};

struct store;

/* ---- Lifecycle ---- */

/* Opens (creating when missing) the database and brings its schema to the
 * current version.  NULL on failure with *err set (heap string). */
struct store *store_open(const char *path, char **err);
void store_close(struct store *s);
/* Detail of the last STORE_ERROR on this handle. */
const char *store_error(const struct store *s);
/* Moves the write-ahead log into the database (SQLite: a PASSIVE
 * checkpoint).  Slow (syncs to disk): the server runs it off the loop. */
int store_checkpoint(struct store *s);

/*
 * One write transaction around several calls (a bulk import): the calls
 * between store_begin and store_commit are applied all together or, after
 * store_rollback (or store_close without a commit), not at all.  A call
 * that fails inside undoes only its own changes and leaves the transaction
 * open, so the caller decides.  The write lock is held throughout: other
 * handles (the server's workers) wait for it up to a few seconds, so do
 * slow work (password hashing) before store_begin.  Not nested: a second
 * store_begin is STORE_ERROR.
 */
int store_begin(struct store *s);
int store_commit(struct store *s);
/* Undoes everything since store_begin; STORE_OK when there was nothing
 * open (the backend may already have ended it after an I/O error). */
int store_rollback(struct store *s);

/* ---- Accounts ---- */

/* One SCRAM credential record; `mech` is "SCRAM-SHA-1" or "SCRAM-SHA-256". */
struct store_cred {
	const char *mech;
	unsigned iterations;
	const unsigned char *salt;
	size_t salt_len;
	const unsigned char *stored_key;
	const unsigned char *server_key;
	size_t key_len;
};

/* `jid` is a prepared bare JID.  STORE_EXISTS when it exists already.  n
 * may be 0: an account without a password, which only a certificate (SASL
 * EXTERNAL) can log in to, as auto-created certificate accounts are. */
int store_user_create(struct store *s, const char *jid, const struct store_cred *creds, size_t n);
/* Replaces all credentials of an existing account (STORE_NOT_FOUND). */
int store_user_set_creds(struct store *s, const char *jid, const struct store_cred *creds, size_t n);
/* Deletes the account and everything it owns (roster, offline messages,
 * vCard, private data, block list); STORE_NOT_FOUND when absent. */
int store_user_delete(struct store *s, const char *jid);
/* STORE_OK when it exists, STORE_NOT_FOUND when not. */
int store_user_exists(struct store *s, const char *jid);
/* The credential of mechanism `mech` (copied into `a`). */
int store_user_get_cred(struct store *s, struct arena *a, const char *jid, const char *mech,
			struct store_cred *out);
/* Calls fn for each account of `domain` (NULL: of every domain) in JID
 * order; fn returns non-zero to stop.  fn may call this handle again (no
 * statement is active while it runs). */
int store_user_list(struct store *s, const char *domain, int (*fn)(void *ud, const char *jid),
		    void *ud);

/* ---- Rosters (RFC 6121) ---- */

enum store_sub {
	STORE_SUB_NONE = 0,
	STORE_SUB_TO = 1,
	STORE_SUB_FROM = 2,
	STORE_SUB_BOTH = 3,
};

struct store_roster_item {
	const char *contact;     /* prepared bare JID */
	const char *name;        /* NULL when none */
	enum store_sub sub;
	bool ask_out;            /* we asked to subscribe ("ask='subscribe'") */
	bool pending_in;         /* they asked; we have not answered */
	bool approved;           /* pre-approved (RFC 6121 §3.4) */
	bool hidden;             /* exists only to hold pending_in: not in the roster */
	const char **groups;
	size_t ngroups;
};

/* The whole roster (hidden items included; callers filter), its version.
 * Items come in contact order; groups, in every item, once each and in
 * name order. */
int store_roster_get(struct store *s, struct arena *a, const char *owner,
		     struct store_roster_item **items, size_t *n, uint64_t *version);
/* One item; STORE_NOT_FOUND when absent. */
int store_roster_get_item(struct store *s, struct arena *a, const char *owner, const char *contact,
			  struct store_roster_item *out);
/* Inserts or replaces the item; bumps and returns the roster version.
 * STORE_FULL when the roster already has `max_items` items (0: no cap). */
int store_roster_put(struct store *s, const char *owner, const struct store_roster_item *item,
		     size_t max_items, uint64_t *version);
/* Removes the item; bumps and returns the version; STORE_NOT_FOUND. */
int store_roster_delete(struct store *s, const char *owner, const char *contact, uint64_t *version);
/* The current version (0 for an empty, never changed roster). */
int store_roster_version(struct store *s, const char *owner, uint64_t *version);

/* ---- Offline messages ---- */

struct store_offline_msg {
	int64_t id;
	const char *xml; /* the stanza, serialised, with its delay stamp */
	size_t len;
};

/* What an account's offline storage holds: its messages, and the sum of
 * their stored bytes (`len` of each, as store_offline_get returns them).
 * The backend keeps both as counters, so reading them costs one lookup
 * whatever the account holds. */
struct store_offline_usage {
	size_t count;
	size_t bytes;
};

/* The quota of one account's offline storage (0: no limit, each). */
struct store_offline_quota {
	size_t max;       /* messages */
	size_t max_bytes; /* stored bytes */
};

/* Which limit refused a message (store_offline_push). */
enum store_offline_limit {
	STORE_OFFLINE_UNDER = 0, /* room left: the message was stored */
	STORE_OFFLINE_COUNT,     /* the account holds quota.max messages */
	STORE_OFFLINE_BYTES,     /* the message would take it past quota.max_bytes */
};

/*
 * Appends, within the quota: STORE_FULL when the account already holds
 * `quota->max` messages, or when its stored bytes plus `len` would exceed
 * `quota->max_bytes` (so a message larger than max_bytes is never stored).
 * The count is checked first.  Nothing stored is touched either way.
 * `used` (may be NULL) gets what the account held before this call, and
 * `limit` (may be NULL) which limit refused, on STORE_OK and STORE_FULL.
 */
int store_offline_push(struct store *s, const char *owner, const char *xml, size_t len,
		       const struct store_offline_quota *quota, struct store_offline_usage *used,
		       enum store_offline_limit *limit);
/* Oldest first, at most `max` (0: all).  Each xml is NUL-terminated. */
int store_offline_get(struct store *s, struct arena *a, const char *owner, size_t max,
		      struct store_offline_msg **msgs, size_t *n);
/* Deletes messages with id <= upto (after they were queued for delivery). */
int store_offline_delete(struct store *s, const char *owner, int64_t upto);
/* Messages and bytes stored for owner (zero for an unknown account). */
int store_offline_usage(struct store *s, const char *owner, struct store_offline_usage *u);
int store_offline_count(struct store *s, const char *owner, size_t *n);
/* The rule store_offline_push applies, for backends and callers: which
 * limit, if any, refuses `len` more bytes for an account holding `used`. */
enum store_offline_limit store_offline_check(const struct store_offline_quota *quota,
					     const struct store_offline_usage *used, size_t len);

/* ---- Per-account XML documents (vCard-temp, private XML storage) ---- */

/* `kind` names the document family ("vcard", "private"); `key` the
 * document within it ("" for the vCard, "ns name" for private storage). */
int store_doc_get(struct store *s, struct arena *a, const char *owner, const char *kind,
		  const char *key, const char **xml, size_t *len);
/* Stores (replaces); a NULL xml deletes (STORE_OK when there was none).
 * STORE_FULL when len > max.  The xml returned by doc_get is
 * NUL-terminated. */
int store_doc_put(struct store *s, const char *owner, const char *kind, const char *key,
		  const char *xml, size_t len, size_t max);

/* ---- Block lists (XEP-0191) ---- */

int store_block_list(struct store *s, struct arena *a, const char *owner, const char ***jids, size_t *n);
/* STORE_FULL past `max` entries; a JID already blocked is STORE_OK. */
int store_block_add(struct store *s, const char *owner, const char *jid, size_t max);
/* jid NULL removes all; a JID not blocked is STORE_OK. */
int store_block_remove(struct store *s, const char *owner, const char *jid);

/* ---- Certificate pins (SASL EXTERNAL) ---- */

/*
 * Certificates bound to an account by the SHA-256 fingerprint of their DER
 * encoding.  An account with pins logs in by certificate only with one of
 * them (the policy is the caller's; this is the list).  `fingerprint` is
 * hex, upper or lower case, with or without ':' between bytes; anything
 * else is refused as STORE_ERROR (a caller's bug: parse it first with
 * store_fingerprint_norm).  Lists return it normalised: 64 lower-case hex
 * digits, no separators.
 */
enum { STORE_FINGERPRINT_LEN = 64 };

struct store_cert_pin {
	const char *fingerprint; /* normalised */
	int64_t created;         /* Unix time */
};

/* Normalises `in` into out (STORE_FINGERPRINT_LEN + 1 bytes); false when
 * it is not 32 bytes of hex. */
bool store_fingerprint_norm(const char *in, char *out);
/* STORE_EXISTS when already pinned; STORE_NOT_FOUND when jid has no account. */
int store_cert_pin_add(struct store *s, const char *jid, const char *fingerprint);
/* STORE_NOT_FOUND when that pin does not exist. */
int store_cert_pin_remove(struct store *s, const char *jid, const char *fingerprint);
/* STORE_OK when `fingerprint` is pinned to jid, STORE_NOT_FOUND when not. */
int store_cert_pin_find(struct store *s, const char *jid, const char *fingerprint);
/* Number of pins of jid (0 for an unknown account). */
int store_cert_pin_count(struct store *s, const char *jid, size_t *n);
/* All pins of jid, oldest first, copied into `a`. */
int store_cert_pin_list(struct store *s, struct arena *a, const char *jid,
			struct store_cert_pin **pins, size_t *n);


/* ---- Groups (shared rosters, issue 10) ---- */

/*
 * Named sets of bare JIDs.  A member may be any bare JID, of an account
 * here or elsewhere (remote members of an overlay network); an account's
 * memberships go when the account is deleted.  The flags are data for the
 * server's shared roster: `shared`, the members see each other in their
 * rosters; `members_only`, the group shows to its members only.  Each
 * login reads its own memberships (store_member_groups), one index lookup
 * whatever the other groups hold.
 *
 * A group name is 1..STORE_GROUP_NAME_MAX bytes of UTF-8 without control
 * characters; a label, 0..STORE_GROUP_LABEL_MAX bytes, the same; a member,
 * a prepared bare JID (no '/', a non-empty domain, at most one '@' with a
 * non-empty local part before it).  Anything else is refused as
 * STORE_ERROR, a caller's bug: parleyctl checks its input first
 * (store_group_name_ok, jid/).
 */
enum { STORE_GROUP_NAME_MAX = 256, STORE_GROUP_LABEL_MAX = 1024 };

struct store_group {
	const char *name;
	const char *label;  /* "" when none */
	bool shared;
	bool members_only;
	size_t nmembers;    /* a counter kept with the rows: no scan */
};

/* Whether `name` (a group name) or `label` meets the rules above. */
bool store_group_name_ok(const char *name);
bool store_group_label_ok(const char *label);
/* STORE_EXISTS when a group of that name exists.  label may be NULL (""). */
int store_group_create(struct store *s, const char *name, const char *label, bool shared,
		       bool members_only);
/* Deletes the group and its memberships; STORE_NOT_FOUND when absent. */
int store_group_delete(struct store *s, const char *name);
/* One group, copied into `a`; STORE_NOT_FOUND when absent. */
int store_group_get(struct store *s, struct arena *a, const char *name, struct store_group *out);
/* Calls fn for each group in name order; fn returns non-zero to stop, and
 * may call this handle again.  g is valid during the call only. */
int store_group_list(struct store *s, int (*fn)(void *ud, const struct store_group *g), void *ud);
/* STORE_NOT_FOUND when the group does not exist, STORE_EXISTS when
 * `member` is in it already. */
int store_group_add(struct store *s, const char *name, const char *member);
/* STORE_NOT_FOUND when the group does not exist or member is not in it. */
int store_group_remove(struct store *s, const char *name, const char *member);
/* Calls fn for each member in JID order, as store_group_list does;
 * STORE_NOT_FOUND when the group does not exist. */
int store_group_members(struct store *s, const char *name,
			int (*fn)(void *ud, const char *member), void *ud);
/* The groups `member` belongs to, in name order, copied into `a` (NULL,
 * 0 when none): what a login reads. */
int store_member_groups(struct store *s, struct arena *a, const char *member,
			struct store_group **out, size_t *n);

/* ---- API tokens (the admin API, issue 11) ---- */

/*
 * Bearer tokens for the admin API.  Only the SHA-256 of a token is
 * stored: manage/ shows the secret once, when it makes it, and nothing
 * can read it back.  Names are unique, 1..STORE_TOKEN_NAME_MAX bytes
 * without control characters (anything else is refused as STORE_ERROR,
 * a caller's bug: manage/ checks first); ids are never reused.
 */
enum { STORE_TOKEN_HASH_LEN = 32, STORE_TOKEN_NAME_MAX = 64 };

struct store_token {
	int64_t id;
	const char *name;
	unsigned char hash[STORE_TOKEN_HASH_LEN]; /* SHA-256 of the token */
	bool read_only;
	const char *owner;  /* who made it ("" when not recorded) */
	int64_t created;    /* Unix time */
	int64_t last_used;  /* Unix time; 0: never */
};

/* STORE_EXISTS when the name (or the hash) is taken; *id gets the new
 * token's id.  owner may be NULL (""). */
int store_token_create(struct store *s, const char *name, const unsigned char hash[STORE_TOKEN_HASH_LEN],
		       bool read_only, const char *owner, int64_t *id);
/* Every token, oldest first, copied into `a` (NULL, 0 when none). */
int store_token_list(struct store *s, struct arena *a, struct store_token **out, size_t *n);
/* The token whose hash is `hash`, copied into `a`; STORE_NOT_FOUND. */
int store_token_find(struct store *s, struct arena *a, const unsigned char hash[STORE_TOKEN_HASH_LEN],
		     struct store_token *out);
/* Deletes the token; STORE_NOT_FOUND when there is none of that id. */
int store_token_revoke(struct store *s, int64_t id);
/* Records that the token was used at `when` (Unix time); STORE_NOT_FOUND. */
int store_token_touch(struct store *s, int64_t id, int64_t when);

#endif
