/*
 * store internals: the table of operations a backend provides, and the
 * header every backend's handle begins with.  store.c checks arguments
 * that do not depend on the backend and dispatches through `ops`; a backend
 * file (store_sqlite.c, later a PostgreSQL one) fills the table.
 *
 * Not for use outside src/store/ (unit tests excepted).
 */
#ifndef PARLEY_STORE_INTERNAL_H
#define PARLEY_STORE_INTERNAL_H

#include "store/store.h"

/* The backend's operations, one per public function, with the same
 * arguments and return codes.  store.c has already checked what it can
 * (limits, enum ranges), and passes a non-NULL `version` to the roster
 * writes. */
struct store_ops {
	const char *name;
	void (*close)(struct store *s);
	int (*checkpoint)(struct store *s);
	int (*begin)(struct store *s);
	int (*commit)(struct store *s);
	int (*rollback)(struct store *s);

	int (*user_create)(struct store *s, const char *jid, const struct store_cred *creds,
			   size_t n);
	int (*user_set_creds)(struct store *s, const char *jid, const struct store_cred *creds,
			      size_t n);
	int (*user_delete)(struct store *s, const char *jid);
	int (*user_exists)(struct store *s, const char *jid);
	int (*user_get_cred)(struct store *s, struct arena *a, const char *jid, const char *mech,
			     struct store_cred *out);
	int (*user_list)(struct store *s, const char *domain,
			 int (*fn)(void *ud, const char *jid), void *ud);

	int (*roster_get)(struct store *s, struct arena *a, const char *owner,
			  struct store_roster_item **items, size_t *n, uint64_t *version);
	int (*roster_get_item)(struct store *s, struct arena *a, const char *owner,
			       const char *contact, struct store_roster_item *out);
	int (*roster_put)(struct store *s, const char *owner, const struct store_roster_item *item,
			  size_t max_items, uint64_t *version);
	int (*roster_delete)(struct store *s, const char *owner, const char *contact,
			     uint64_t *version);
	int (*roster_version)(struct store *s, const char *owner, uint64_t *version);

	/* quota, used and limit are never NULL here; the backend reads the
	 * usage, applies store_offline_check() and inserts in one write
	 * transaction, so that two handles cannot both take the last room. */
	int (*offline_push)(struct store *s, const char *owner, const char *xml, size_t len,
			    const struct store_offline_quota *quota,
			    struct store_offline_usage *used, enum store_offline_limit *limit);
	int (*offline_get)(struct store *s, struct arena *a, const char *owner, size_t max,
			   struct store_offline_msg **msgs, size_t *n);
	int (*offline_delete)(struct store *s, const char *owner, int64_t upto);
	int (*offline_usage)(struct store *s, const char *owner, struct store_offline_usage *u);

	int (*doc_get)(struct store *s, struct arena *a, const char *owner, const char *kind,
		       const char *key, const char **xml, size_t *len);
	/* xml is never NULL here: store.c routes a NULL xml to doc_delete. */
	int (*doc_put)(struct store *s, const char *owner, const char *kind, const char *key,
		       const char *xml, size_t len);
	int (*doc_delete)(struct store *s, const char *owner, const char *kind, const char *key);

	int (*block_list)(struct store *s, struct arena *a, const char *owner, const char ***jids,
			  size_t *n);
	int (*block_add)(struct store *s, const char *owner, const char *jid, size_t max);
	int (*block_remove)(struct store *s, const char *owner, const char *jid);

	/* store.c has normalised the fingerprint (64 lower-case hex digits). */
	int (*cert_pin_add)(struct store *s, const char *jid, const char *fingerprint);
	int (*cert_pin_remove)(struct store *s, const char *jid, const char *fingerprint);
	int (*cert_pin_find)(struct store *s, const char *jid, const char *fingerprint);
	int (*cert_pin_count)(struct store *s, const char *jid, size_t *n);
	int (*cert_pin_list)(struct store *s, struct arena *a, const char *jid,
			     struct store_cert_pin **pins, size_t *n);

	/* store.c has checked names, labels and members (their form). */
	int (*group_create)(struct store *s, const char *name, const char *label, bool shared,
			    bool members_only);
	int (*group_delete)(struct store *s, const char *name);
	int (*group_get)(struct store *s, struct arena *a, const char *name,
			 struct store_group *out);
	int (*group_list)(struct store *s, int (*fn)(void *ud, const struct store_group *g),
			  void *ud);
	int (*group_add)(struct store *s, const char *name, const char *member);
	int (*group_remove)(struct store *s, const char *name, const char *member);
	int (*group_members)(struct store *s, const char *name,
			     int (*fn)(void *ud, const char *member), void *ud);
	int (*member_groups)(struct store *s, struct arena *a, const char *member,
			     struct store_group **out, size_t *n);

	/* store.c has checked the name, the owner and that hash is not NULL. */
	int (*token_create)(struct store *s, const char *name, const unsigned char *hash,
			    bool read_only, const char *owner, int64_t *id);
	int (*token_list)(struct store *s, struct arena *a, struct store_token **out, size_t *n);
	int (*token_find)(struct store *s, struct arena *a, const unsigned char *hash,
			  struct store_token *out);
	int (*token_revoke)(struct store *s, int64_t id);
	int (*token_touch)(struct store *s, int64_t id, int64_t when);
};

enum { STORE_ERROR_MAX = 256 };

/* The first member of every backend's handle.  Owner: whoever called
 * store_open(); one thread at a time. */
struct store {
	const struct store_ops *ops;
	char err[STORE_ERROR_MAX];
};

/* Records the detail of a failure in s->err, logs it, and returns
 * STORE_ERROR so that backends can `return store_fail(...)`. */
int store_fail(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The SQLite backend (store_sqlite.c).  NULL on failure with *err set to a
 * heap string. */
struct store *store_sqlite_open(const char *path, char **err);

#endif
