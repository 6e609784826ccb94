/*
 * manage: the management operations on accounts, certificate pins,
 * groups, trust stores and API tokens, and who the administrators are,
 * as typed functions that return data.
 * parleyctl, the control socket and the HTTP admin API are front ends
 * over them: they parse their own input (arguments, JSON), call one of
 * these, and print or serialise what comes back.  The rules (which JIDs
 * are accounts of ours, what a group name or a password may be, which
 * certificates a trust store takes) are checked here and nowhere else.
 *
 * What this is not: a front end.  Nothing here prints, reads files the
 * caller did not name, asks a running server anything or reloads it:
 * ending a deleted account's sessions, telling the server of a group
 * change and reloading trust stores (SIGHUP) are the front end's, after
 * the call returned MANAGE_OK.
 *
 * Every function returns an enum manage_result; anything but MANAGE_OK
 * comes with one sentence for a person in `err` (which may be NULL), free
 * of any front end's hints ("see parleyctl ..."): a front end adds its
 * own.  Storage failures are MANAGE_ERROR with the store's detail in the
 * sentence (the store logged it too).
 *
 * Threads: a call uses only the store handle it is given (one thread at a
 * time, store.h) and the read-only configuration.  Calls marked CPU-heavy
 * (PBKDF2) belong off an event loop, on a thread pool.
 */
#ifndef PARLEY_MANAGE_MANAGE_H
#define PARLEY_MANAGE_MANAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sasl/sasl.h"
#include "store/store.h"

struct arena;
struct config;

/* ---- Results ---- */

enum manage_result {
	MANAGE_OK = 0,
	MANAGE_NOT_FOUND,  /* no such account, group, member, pin, file, token */
	MANAGE_EXISTS,     /* it exists already */
	MANAGE_INVALID,    /* the input breaks a rule; nothing was written */
	MANAGE_FULL,       /* a limit is reached */
	MANAGE_ERROR,      /* storage or the file system failed */
	MANAGE_RESULT_COUNT
};

/* "ok", "not-found", "exists", "invalid", "full", "error": stable names,
 * for the admin API's answers; NULL for a value out of range. */
const char *manage_result_name(enum manage_result r);

enum { MANAGE_ERR_MAX = 512 };

/* Why a call did not return MANAGE_OK: one sentence, NUL-terminated,
 * truncated to fit.  Untouched on MANAGE_OK. */
struct manage_err {
	char msg[MANAGE_ERR_MAX];
};

/* A page of a listing.  Listings are in key order (JID, group name); the
 * total counts every item the search matches, whatever the page. */
struct manage_page {
	size_t offset;      /* matching items skipped */
	size_t limit;       /* items returned at most; 0: all */
	const char *search; /* items containing it, ASCII case ignored; NULL or "": all */
};

/* ---- Accounts ---- */

enum { MANAGE_PASSWORD_MAX = 1023 };

/* The prepared bare JID of an account of one of cfg's hosts (in `a`);
 * MANAGE_INVALID for anything else (a full JID, a domain, a host not
 * ours). */
enum manage_result manage_user_jid(const struct config *cfg, struct arena *a, const char *jid,
				   const char **bare, struct manage_err *err);

/* The accounts of `domain`, one of cfg's hosts (NULL: of every domain),
 * the page of them in JID order into `a`: *items is NULL when *n is 0.
 * `page` may be NULL (all).  `total` (may be NULL) gets the number
 * matching the search. */
enum manage_result manage_user_list(struct store *s, const struct config *cfg, struct arena *a,
				    const char *domain, const struct manage_page *page,
				    const char ***items, size_t *n, size_t *total,
				    struct manage_err *err);

/* What a listing of accounts may show of each. */
struct manage_user_info {
	bool password; /* it has SCRAM credentials: a password logs in */
	size_t pins;   /* certificates pinned to it */
};

/* MANAGE_NOT_FOUND when there is no such account. */
enum manage_result manage_user_info(struct store *s, const struct config *cfg, const char *jid,
				    struct manage_user_info *out, struct manage_err *err);

/* The SCRAM-SHA-1 and SCRAM-SHA-256 records of a password, with
 * `iterations` (cfg->auth.scram_iterations): creds[h] points into
 * made[h], so keep both.  MANAGE_INVALID for an empty password, one over
 * MANAGE_PASSWORD_MAX bytes or one that is not valid UTF-8 or fails
 * SASLprep.  CPU-heavy. */
enum manage_result manage_password_creds(const char *password, unsigned iterations,
					 struct scram_cred made[SCRAM_HASH_COUNT],
					 struct store_cred creds[SCRAM_HASH_COUNT],
					 struct manage_err *err);

/* Creates an account.  `password` NULL makes it certificate-only: no
 * credential at all, so no password ever logs in to it (SASL EXTERNAL
 * does).  MANAGE_EXISTS when it exists.  CPU-heavy with a password. */
enum manage_result manage_user_create(struct store *s, const struct config *cfg, const char *jid,
				      const char *password, struct manage_err *err);
/* The same with credential records made already (an import: hashed in
 * parallel, or SCRAM records exported elsewhere); n may be 0.  Works
 * inside the caller's store_begin transaction. */
enum manage_result manage_user_create_creds(struct store *s, const struct config *cfg,
					    const char *jid, const struct store_cred *creds,
					    size_t n, struct manage_err *err);
/* Replaces the account's credentials with the password's.
 * MANAGE_NOT_FOUND when there is no such account.  CPU-heavy. */
enum manage_result manage_user_set_password(struct store *s, const struct config *cfg,
					    const char *jid, const char *password,
					    struct manage_err *err);
/* Deletes the account and everything it stored (roster, offline
 * messages, pins, memberships).  Its open sessions are the caller's to
 * end (op user.kick).  MANAGE_NOT_FOUND when there is no such account. */
enum manage_result manage_user_delete(struct store *s, const struct config *cfg, const char *jid,
				      struct manage_err *err);

/* ---- Certificate pins ---- */

/* An account with pins logs in by certificate only with one of them; the
 * certificate must still verify against the client trust store.  A pin
 * is the SHA-256 fingerprint of the DER certificate, in hex with or
 * without ':' (store_fingerprint_norm); lists give it normalised. */

/* The account's pins, oldest first, into `a` (NULL when none).
 * MANAGE_NOT_FOUND when there is no such account. */
enum manage_result manage_user_pin_list(struct store *s, const struct config *cfg,
					struct arena *a, const char *jid,
					struct store_cert_pin **pins, size_t *n,
					struct manage_err *err);
/* MANAGE_NOT_FOUND when there is no such account, MANAGE_EXISTS when it
 * is pinned already, MANAGE_INVALID for a fingerprint that is not one.
 * Works inside the caller's store_begin transaction. */
enum manage_result manage_user_pin_add(struct store *s, const struct config *cfg, const char *jid,
				       const char *fingerprint, struct manage_err *err);
/* MANAGE_NOT_FOUND when that pin does not exist; `left` (may be NULL)
 * gets the pins the account keeps. */
enum manage_result manage_user_pin_remove(struct store *s, const struct config *cfg,
					  const char *jid, const char *fingerprint, size_t *left,
					  struct manage_err *err);

/* ---- Certificates ---- */

enum { MANAGE_FINGERPRINT_HEX = 64, MANAGE_CERT_BYTES_MAX = 1024 * 1024 };

/* What the trust stores and pins need to know of a certificate. */
struct manage_cert {
	char fingerprint[MANAGE_FINGERPRINT_HEX + 1]; /* SHA-256 of the DER, lower-case hex */
	char subject[256];                            /* "CN=Test CA,O=Example" */
	char not_after[64];                           /* "2030-01-01 00:00:00 UTC" */
	bool ca;                                      /* basicConstraints CA:TRUE */
	bool expired;
};

/* Every certificate of `len` bytes of PEM (or of one DER certificate),
 * described into `a`.  MANAGE_INVALID when none can be read, or one of
 * them cannot, or there are more than MANAGE_CERT_BYTES_MAX bytes. */
enum manage_result manage_certs_parse(struct arena *a, const void *data, size_t len,
				      struct manage_cert **certs, size_t *n,
				      struct manage_err *err);
/* The same from a file (PEM, or one DER certificate): MANAGE_INVALID when
 * it cannot be read or holds none. */
enum manage_result manage_certs_read_file(struct arena *a, const char *path,
					  struct manage_cert **certs, size_t *n,
					  struct manage_err *err);

/* ---- Trust stores ---- */

/*
 * The CA certificates the server trusts, a directory of PEM files per
 * store: client (certificates of clients, SASL EXTERNAL: c2s.client_ca)
 * and s2s (certificates of peer servers: s2s.ca).  The server reads them
 * at start and again on SIGHUP (tls/clientauth.c): after a change the
 * front end reloads it, or says how.  Only CA certificates go in, each
 * as NAME-FINGERPRINT.pem, NAME from its CN (letters, digits, '-', '_',
 * '.'), so that names are stable, safe and unique.
 */
enum manage_trust_store {
	MANAGE_TRUST_CLIENT = 0,
	MANAGE_TRUST_S2S = 1,
	MANAGE_TRUST_STORES = 2,
};

/* "client", "s2s"; NULL out of range. */
const char *manage_trust_store_name(enum manage_trust_store t);
/* The store a name names; false for any other name. */
bool manage_trust_store_parse(const char *name, enum manage_trust_store *out);
/* The store's directory (in `a`): MANAGE_INVALID when the setting names
 * none, or names a file (the server reads that, but it cannot be managed
 * as a directory). */
enum manage_result manage_trust_dir(const struct config *cfg, enum manage_trust_store t,
				    struct arena *a, const char **dir, struct manage_err *err);

/* One certificate given to manage_trust_add_*. */
struct manage_trust_added {
	struct manage_cert cert;
	const char *path; /* the file written, or the one that holds it already */
	bool already;     /* trusted already: nothing was written */
};

/*
 * Adds every certificate of `len` bytes of PEM to the store: all or
 * nothing as far as checks go (each must be a CA and not expired, else
 * MANAGE_INVALID naming it, and nothing is written); a certificate the
 * store holds already is reported, not written again.  `source` names
 * the input in sentences ("ca.crt"; NULL: "the certificate").  *added
 * (in `a`) lists each certificate in input order, also when a write
 * fails (MANAGE_ERROR: those before it were written).  MANAGE_EXISTS when
 * every one was trusted already.  Creates the directory when missing.
 */
enum manage_result manage_trust_add_pem(const struct config *cfg, enum manage_trust_store t,
					struct arena *a, const void *pem, size_t len,
					const char *source, struct manage_trust_added **added,
					size_t *n, struct manage_err *err);
/* The same from a file (PEM, or one DER certificate). */
enum manage_result manage_trust_add_file(const struct config *cfg, enum manage_trust_store t,
					 struct arena *a, const char *path,
					 struct manage_trust_added **added, size_t *n,
					 struct manage_err *err);

/* One file of a trust directory. */
struct manage_trust_file {
	const char *name;         /* within the directory */
	bool read_by_server;      /* *.pem, *.crt, *.cer or a c_rehash link */
	const char *unreadable;   /* why it cannot be read; NULL when it can */
	struct manage_cert *certs;
	size_t ncerts;
};

struct manage_trust_list {
	const char *dir;
	struct manage_trust_file *files; /* in name order; hidden files skipped */
	size_t nfiles;
	size_t ncas;                     /* CAs the server reads: what can verify */
};

/* Everything in the store's directory, parsed, into `a` (an empty list
 * when the directory does not exist). */
enum manage_result manage_trust_list(const struct config *cfg, enum manage_trust_store t,
				     struct arena *a, struct manage_trust_list *out,
				     struct manage_err *err);
/* Removes the files that are named `what` (the file name, or the name
 * without .pem) or hold a certificate whose fingerprint it is.  *removed
 * (in `a`) gets the paths removed, also when an unlink fails
 * (MANAGE_ERROR).  MANAGE_NOT_FOUND when nothing matches. */
enum manage_result manage_trust_remove(const struct config *cfg, enum manage_trust_store t,
				       struct arena *a, const char *what, const char ***removed,
				       size_t *n, struct manage_err *err);
/* The same for the certificate of a file (its first one), by
 * fingerprint: MANAGE_INVALID when the file cannot be read. */
enum manage_result manage_trust_remove_file(const struct config *cfg, enum manage_trust_store t,
					    struct arena *a, const char *path,
					    const char ***removed, size_t *n,
					    struct manage_err *err);

/* ---- Groups ---- */

/* Named sets of bare JIDs (store.h has the rules and the flags): members
 * may be accounts here or JIDs of other servers. */

/* MANAGE_INVALID unless `name` is a group name (1 to STORE_GROUP_NAME_MAX
 * bytes, no control characters). */
enum manage_result manage_group_name_check(const char *name, struct manage_err *err);
/* MANAGE_INVALID unless `label` (NULL: "") is a label. */
enum manage_result manage_group_label_check(const char *label, struct manage_err *err);
/* A member: the prepared bare JID (in `a`) of any server's account or
 * domain; MANAGE_INVALID for a full JID or what is no JID. */
enum manage_result manage_group_member_jid(struct arena *a, const char *jid, const char **bare,
					   struct manage_err *err);

struct manage_group_spec {
	const char *name;
	const char *label; /* NULL: "" */
	bool shared;
	bool members_only;
};

/* MANAGE_EXISTS when a group of that name exists.  Works inside the
 * caller's store_begin transaction. */
enum manage_result manage_group_create(struct store *s, const struct manage_group_spec *g,
				       struct manage_err *err);
/* Deletes the group and its memberships; MANAGE_NOT_FOUND. */
enum manage_result manage_group_delete(struct store *s, const char *name, struct manage_err *err);
/* One group, into `a`; MANAGE_NOT_FOUND. */
enum manage_result manage_group_get(struct store *s, struct arena *a, const char *name,
				    struct store_group *out, struct manage_err *err);
/* The page of groups whose name matches, in name order, into `a`. */
enum manage_result manage_group_list(struct store *s, struct arena *a,
				     const struct manage_page *page, struct store_group **items,
				     size_t *n, size_t *total, struct manage_err *err);
/* The page of a group's members, in JID order, into `a`;
 * MANAGE_NOT_FOUND when there is no such group. */
enum manage_result manage_group_members(struct store *s, struct arena *a, const char *name,
					const struct manage_page *page, const char ***items,
					size_t *n, size_t *total, struct manage_err *err);
/* One member in: MANAGE_NOT_FOUND when there is no such group,
 * MANAGE_EXISTS when it is a member already.  Works inside the caller's
 * store_begin transaction. */
enum manage_result manage_group_add(struct store *s, const char *name, const char *member,
				    struct manage_err *err);
/* One member out: MANAGE_NOT_FOUND when there is no such group or it is
 * not a member. */
enum manage_result manage_group_remove(struct store *s, const char *name, const char *member,
				       struct manage_err *err);

/* What became of one member of manage_group_change. */
struct manage_member_change {
	const char *member;         /* prepared, or as given when invalid */
	enum manage_result result;
	const char *why;            /* NULL on MANAGE_OK */
};

/*
 * Adds (or removes) several members in one transaction of its own, all or
 * nothing: every JID is checked first (MANAGE_INVALID, nothing opened),
 * then the group must exist (MANAGE_NOT_FOUND), then each change is
 * made; any member refused (in the group already, or not in it) and
 * nothing changes, the result being the first refusal's.  *each (in `a`,
 * may be NULL) says what became of every member, in order; *now (may be
 * NULL) is the group's member count after a change.  Not inside the
 * caller's store_begin transaction (store_begin does not nest).
 */
enum manage_result manage_group_change(struct store *s, struct arena *a, const char *name, bool add,
				       const char *const *members, size_t n,
				       struct manage_member_change **each, size_t *now,
				       struct manage_err *err);

/* ---- API tokens (token.c) ---- */

/*
 * Bearer tokens for the admin API: "pt_" and 43 characters of URL-safe
 * base64 (32 random bytes from RAND_bytes), shown once when made.  Only
 * their SHA-256 is stored (store.h), so the database gives none away; a
 * token may be limited to reading.  A name is 1 to STORE_TOKEN_NAME_MAX
 * bytes of letters, digits, '.', '_', '-' and '@', and is not a number
 * (numbers are ids).
 */
#define MANAGE_TOKEN_PREFIX "pt_"
enum {
	MANAGE_TOKEN_SECRET_BYTES = 32,
	MANAGE_TOKEN_LEN = 3 + 43, /* the prefix and the base64url of the secret */
	MANAGE_TOKENS_MAX = 1000,
};

/* MANAGE_INVALID unless `name` is a token name. */
enum manage_result manage_token_name_check(const char *name, struct manage_err *err);
/* Makes a token: its secret into `secret` (to show once, then wipe), its
 * id into *id (may be NULL).  `owner` says who made it (NULL: "").
 * MANAGE_EXISTS when the name is taken, MANAGE_FULL past
 * MANAGE_TOKENS_MAX tokens. */
enum manage_result manage_token_create(struct store *s, const char *name, bool read_only,
				       const char *owner, char secret[MANAGE_TOKEN_LEN + 1],
				       int64_t *id, struct manage_err *err);
/* Every token, oldest first, into `a` (the hashes too: they are not
 * secret, but a front end has no reason to show them). */
enum manage_result manage_token_list(struct store *s, struct arena *a, struct store_token **items,
				     size_t *n, struct manage_err *err);
/* Revokes the token named `which`, or else the one whose id it is;
 * *revoked (may be NULL) gets what it was, in `a`.  MANAGE_NOT_FOUND. */
enum manage_result manage_token_revoke(struct store *s, struct arena *a, const char *which,
				       struct store_token *revoked, struct manage_err *err);

/* Who a valid token is. */
struct manage_token_auth {
	int64_t id;
	char name[STORE_TOKEN_NAME_MAX + 1];
	bool read_only;
};

/*
 * Checks a token presented to the admin API: MANAGE_OK with *out filled,
 * MANAGE_INVALID when it does not have a token's form (refused before
 * any lookup), MANAGE_NOT_FOUND when no stored token has its hash
 * (revoked, or never made).  The stored hash is compared in constant
 * time; the lookup by hash reveals nothing of a secret (finding a
 * matching hash prefix needs a preimage).  Records the use, at most once
 * a minute per token.
 */
enum manage_result manage_token_check(struct store *s, const char *presented,
				      struct manage_token_auth *out, struct manage_err *err);

/* ---- Administrators (admin.c) ---- */

/* Whether `jid` (a bare JID; prepared here) is one of cfg's admins. */
bool manage_is_admin(const struct config *cfg, const char *jid);

/*
 * Checks an administrator's XMPP password against the account's stored
 * SCRAM record (SCRAM-SHA-256, else SCRAM-SHA-1), as a PLAIN login does:
 * for HTTP Basic over HTTPS.  MANAGE_OK only for an admin whose password
 * it is; MANAGE_NOT_FOUND for anything else (not an admin, no such
 * account, no password, a wrong one), after the same PBKDF2 work, so
 * that the answer's time tells nothing; MANAGE_INVALID for what is no
 * account JID of ours.  CPU-heavy.
 */
enum manage_result manage_admin_password_check(struct store *s, const struct config *cfg,
					       const char *jid, const char *password,
					       struct manage_err *err);

#endif
