/*
 * store: the public face of the storage module.  Each function checks what
 * does not depend on the backend (argument shapes, size limits: a document
 * too large is refused before any I/O) and then calls the backend through
 * the handle's operations table.
 *
 * This file holds no SQL and no knowledge of any backend beyond the name of
 * the function that opens it; see store_sqlite.c for the SQLite one.
 */
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "store/internal.h"

int store_fail(struct store *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	log_error("store", "%s", s->err);
	return STORE_ERROR;
}

/* ---- Lifecycle ---- */

struct store *store_open(const char *path, char **err)
{
	if (err)
		*err = NULL;
	if (!path || !*path) {
		log_error("store", "no database path given");
		if (err)
			*err = xstrdup("no database path given");
		return NULL;
	}
	/* One backend so far.  When PostgreSQL lands, the choice is made
	 * here from the form of `path` (a "postgresql://" URI or a file). */
	return store_sqlite_open(path, err);
}

void store_close(struct store *s)
{
	if (!s)
		return;
	s->ops->close(s);
}

const char *store_error(const struct store *s)
{
	return s->err;
}

int store_checkpoint(struct store *s)
{
	return s->ops->checkpoint(s);
}

int store_begin(struct store *s)
{
	return s->ops->begin(s);
}

int store_commit(struct store *s)
{
	return s->ops->commit(s);
}

int store_rollback(struct store *s)
{
	return s->ops->rollback(s);
}

/* ---- Accounts ---- */

/* Credentials come from sasl/ or parleyctl; a malformed one is a bug in
 * the caller, and storing it would only turn into a failed login later. */
static int creds_check(struct store *s, const char *what, const struct store_cred *creds, size_t n)
{
	if (n && !creds)
		return store_fail(s, "%s: %zu credentials but no array", what, n);
	for (size_t i = 0; i < n; i++) {
		const struct store_cred *c = &creds[i];
		if (!c->mech || !*c->mech)
			return store_fail(s, "%s: credential %zu has no mechanism", what, i);
		if (c->iterations == 0 || c->key_len == 0 || !c->stored_key || !c->server_key ||
		    (c->salt_len && !c->salt))
			return store_fail(s, "%s: credential %s is incomplete", what, c->mech);
	}
	return STORE_OK;
}

int store_user_create(struct store *s, const char *jid, const struct store_cred *creds, size_t n)
{
	int rc = creds_check(s, "user create", creds, n);
	if (rc != STORE_OK)
		return rc;
	return s->ops->user_create(s, jid, creds, n);
}

int store_user_set_creds(struct store *s, const char *jid, const struct store_cred *creds, size_t n)
{
	int rc = creds_check(s, "user set credentials", creds, n);
	if (rc != STORE_OK)
		return rc;
	return s->ops->user_set_creds(s, jid, creds, n);
}

int store_user_delete(struct store *s, const char *jid)
{
	return s->ops->user_delete(s, jid);
}

int store_user_exists(struct store *s, const char *jid)
{
	return s->ops->user_exists(s, jid);
}

int store_user_get_cred(struct store *s, struct arena *a, const char *jid, const char *mech,
			struct store_cred *out)
{
	return s->ops->user_get_cred(s, a, jid, mech, out);
}

int store_user_list(struct store *s, const char *domain, int (*fn)(void *ud, const char *jid),
		    void *ud)
{
	return s->ops->user_list(s, domain, fn, ud);
}

/* ---- Rosters ---- */

int store_roster_get(struct store *s, struct arena *a, const char *owner,
		     struct store_roster_item **items, size_t *n, uint64_t *version)
{
	uint64_t v = 0;
	int rc = s->ops->roster_get(s, a, owner, items, n, &v);
	if (rc == STORE_OK && version)
		*version = v;
	return rc;
}

int store_roster_get_item(struct store *s, struct arena *a, const char *owner, const char *contact,
			  struct store_roster_item *out)
{
	return s->ops->roster_get_item(s, a, owner, contact, out);
}

int store_roster_put(struct store *s, const char *owner, const struct store_roster_item *item,
		     size_t max_items, uint64_t *version)
{
	if (!item->contact || !*item->contact)
		return store_fail(s, "roster put for %s: item without a contact", owner);
	if ((unsigned)item->sub > STORE_SUB_BOTH)
		return store_fail(s, "roster put for %s: subscription %d out of range", owner,
				  (int)item->sub);
	if (item->ngroups && !item->groups)
		return store_fail(s, "roster put for %s: %zu groups but no array", owner,
				  item->ngroups);
	for (size_t i = 0; i < item->ngroups; i++)
		if (!item->groups[i])
			return store_fail(s, "roster put for %s: group %zu is NULL", owner, i);

	uint64_t v = 0;
	int rc = s->ops->roster_put(s, owner, item, max_items, &v);
	if (rc == STORE_OK && version)
		*version = v;
	return rc;
}

int store_roster_delete(struct store *s, const char *owner, const char *contact, uint64_t *version)
{
	uint64_t v = 0;
	int rc = s->ops->roster_delete(s, owner, contact, &v);
	if (rc == STORE_OK && version)
		*version = v;
	return rc;
}

int store_roster_version(struct store *s, const char *owner, uint64_t *version)
{
	return s->ops->roster_version(s, owner, version);
}

/* ---- Offline messages ---- */

enum store_offline_limit store_offline_check(const struct store_offline_quota *quota,
					     const struct store_offline_usage *used, size_t len)
{
	if (!quota)
		return STORE_OFFLINE_UNDER;
	if (quota->max && used->count >= quota->max)
		return STORE_OFFLINE_COUNT;
	/* Written so that it cannot overflow: bytes + len > max_bytes. */
	if (quota->max_bytes && (used->bytes > quota->max_bytes || len > quota->max_bytes - used->bytes))
		return STORE_OFFLINE_BYTES;
	return STORE_OFFLINE_UNDER;
}

int store_offline_push(struct store *s, const char *owner, const char *xml, size_t len,
		       const struct store_offline_quota *quota, struct store_offline_usage *used,
		       enum store_offline_limit *limit)
{
	static const struct store_offline_quota unlimited = {0, 0};
	struct store_offline_usage u = {0, 0};
	enum store_offline_limit l = STORE_OFFLINE_UNDER;
	int rc = s->ops->offline_push(s, owner, xml, len, quota ? quota : &unlimited, &u, &l);
	if (used)
		*used = u;
	if (limit)
		*limit = l;
	return rc;
}

int store_offline_get(struct store *s, struct arena *a, const char *owner, size_t max,
		      struct store_offline_msg **msgs, size_t *n)
{
	return s->ops->offline_get(s, a, owner, max, msgs, n);
}

int store_offline_delete(struct store *s, const char *owner, int64_t upto)
{
	return s->ops->offline_delete(s, owner, upto);
}

int store_offline_usage(struct store *s, const char *owner, struct store_offline_usage *u)
{
	return s->ops->offline_usage(s, owner, u);
}

int store_offline_count(struct store *s, const char *owner, size_t *n)
{
	struct store_offline_usage u = {0, 0};
	int rc = s->ops->offline_usage(s, owner, &u);
	*n = u.count;
	return rc;
}

/* ---- Documents ---- */

int store_doc_get(struct store *s, struct arena *a, const char *owner, const char *kind,
		  const char *key, const char **xml, size_t *len)
{
	return s->ops->doc_get(s, a, owner, kind, key, xml, len);
}

int store_doc_put(struct store *s, const char *owner, const char *kind, const char *key,
		  const char *xml, size_t len, size_t max)
{
	if (!xml)
		return s->ops->doc_delete(s, owner, kind, key);
	if (max && len > max)
		return STORE_FULL;
	return s->ops->doc_put(s, owner, kind, key, xml, len);
}

/* ---- Block lists ---- */

int store_block_list(struct store *s, struct arena *a, const char *owner, const char ***jids,
		     size_t *n)
{
	return s->ops->block_list(s, a, owner, jids, n);
}

int store_block_add(struct store *s, const char *owner, const char *jid, size_t max)
{
	return s->ops->block_add(s, owner, jid, max);
}

int store_block_remove(struct store *s, const char *owner, const char *jid)
{
	return s->ops->block_remove(s, owner, jid);
}

/* ---- Certificate pins ---- */

bool store_fingerprint_norm(const char *in, char *out)
{
	size_t n = 0;
	if (!in)
		return false;
	for (const char *p = in; *p; p++) {
		char c = *p;
		if (c == ':' && n > 0 && n % 2 == 0 && p[1] && p[1] != ':')
			continue;
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || n == STORE_FINGERPRINT_LEN)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return n == STORE_FINGERPRINT_LEN;
}

/* The normalised fingerprint in `norm`, or STORE_ERROR. */
static int pin_arg(struct store *s, const char *what, const char *jid, const char *fingerprint,
		   char *norm)
{
	if (!store_fingerprint_norm(fingerprint, norm))
		return store_fail(s, "%s for %s: '%s' is not a SHA-256 fingerprint", what, jid,
				  fingerprint ? fingerprint : "(null)");
	return STORE_OK;
}

int store_cert_pin_add(struct store *s, const char *jid, const char *fingerprint)
{
	char fp[STORE_FINGERPRINT_LEN + 1];
	int rc = pin_arg(s, "certificate pin", jid, fingerprint, fp);
	return rc != STORE_OK ? rc : s->ops->cert_pin_add(s, jid, fp);
}

int store_cert_pin_remove(struct store *s, const char *jid, const char *fingerprint)
{
	char fp[STORE_FINGERPRINT_LEN + 1];
	int rc = pin_arg(s, "certificate pin removal", jid, fingerprint, fp);
	return rc != STORE_OK ? rc : s->ops->cert_pin_remove(s, jid, fp);
}

int store_cert_pin_find(struct store *s, const char *jid, const char *fingerprint)
{
	char fp[STORE_FINGERPRINT_LEN + 1];
	int rc = pin_arg(s, "certificate pin lookup", jid, fingerprint, fp);
	return rc != STORE_OK ? rc : s->ops->cert_pin_find(s, jid, fp);
}

int store_cert_pin_count(struct store *s, const char *jid, size_t *n)
{
	return s->ops->cert_pin_count(s, jid, n);
}

int store_cert_pin_list(struct store *s, struct arena *a, const char *jid,
			struct store_cert_pin **pins, size_t *n)
{
	return s->ops->cert_pin_list(s, a, jid, pins, n);
}

/* ---- Groups ---- */

/* 1..max bytes (0..max when empty_ok) without ASCII control characters.
 * UTF-8 validity is the caller's (parleyctl reads text, SQLite stores
 * bytes). */
static bool group_text_ok(const char *t, size_t max, bool empty_ok)
{
	if (!t)
		return empty_ok;
	size_t n = strlen(t);
	if ((n == 0 && !empty_ok) || n > max)
		return false;
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

bool store_group_name_ok(const char *name)
{
	return group_text_ok(name, STORE_GROUP_NAME_MAX, false);
}

bool store_group_label_ok(const char *label)
{
	return group_text_ok(label, STORE_GROUP_LABEL_MAX, true);
}

/* The form of a prepared bare JID (jid/ prepared it; this only keeps a
 * full JID or an empty part out of the table). */
static bool member_ok(const char *m)
{
	if (!m || !*m || strchr(m, '/') || strlen(m) > 3 * 1023 + 1)
		return false;
	const char *at = strchr(m, '@');
	if (at && (at == m || !at[1] || strchr(at + 1, '@')))
		return false;
	for (const unsigned char *p = (const unsigned char *)m; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int group_arg(struct store *s, const char *what, const char *name)
{
	if (!store_group_name_ok(name))
		return store_fail(s, "%s: '%s' is not a group name", what, name ? name : "(null)");
	return STORE_OK;
}

static int member_arg(struct store *s, const char *what, const char *name, const char *member)
{
	int rc = group_arg(s, what, name);
	if (rc == STORE_OK && !member_ok(member))
		rc = store_fail(s, "%s %s: '%s' is not a bare JID", what, name,
				member ? member : "(null)");
	return rc;
}

int store_group_create(struct store *s, const char *name, const char *label, bool shared,
		       bool members_only)
{
	int rc = group_arg(s, "group create", name);
	if (rc != STORE_OK)
		return rc;
	if (!store_group_label_ok(label))
		return store_fail(s, "group create %s: the label is too long or has control characters",
				  name);
	return s->ops->group_create(s, name, label ? label : "", shared, members_only);
}

int store_group_delete(struct store *s, const char *name)
{
	int rc = group_arg(s, "group delete", name);
	return rc != STORE_OK ? rc : s->ops->group_delete(s, name);
}

int store_group_get(struct store *s, struct arena *a, const char *name, struct store_group *out)
{
	int rc = group_arg(s, "group get", name);
	return rc != STORE_OK ? rc : s->ops->group_get(s, a, name, out);
}

int store_group_list(struct store *s, int (*fn)(void *ud, const struct store_group *g), void *ud)
{
	return s->ops->group_list(s, fn, ud);
}

int store_group_add(struct store *s, const char *name, const char *member)
{
	int rc = member_arg(s, "group add", name, member);
	return rc != STORE_OK ? rc : s->ops->group_add(s, name, member);
}

int store_group_remove(struct store *s, const char *name, const char *member)
{
	int rc = member_arg(s, "group remove", name, member);
	return rc != STORE_OK ? rc : s->ops->group_remove(s, name, member);
}

int store_group_members(struct store *s, const char *name,
			int (*fn)(void *ud, const char *member), void *ud)
{
	int rc = group_arg(s, "group members", name);
	return rc != STORE_OK ? rc : s->ops->group_members(s, name, fn, ud);
}

int store_member_groups(struct store *s, struct arena *a, const char *member,
			struct store_group **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!member_ok(member))
		return store_fail(s, "member groups: '%s' is not a bare JID", member ? member : "(null)");
	return s->ops->member_groups(s, a, member, out, n);
}

/* ---- API tokens ---- */

int store_token_create(struct store *s, const char *name, const unsigned char hash[STORE_TOKEN_HASH_LEN],
		       bool read_only, const char *owner, int64_t *id)
{
	int64_t v = 0;
	if (!group_text_ok(name, STORE_TOKEN_NAME_MAX, false))
		return store_fail(s, "token create: '%s' is not a token name", name ? name : "(null)");
	if (!hash)
		return store_fail(s, "token create %s: no hash", name);
	if (!group_text_ok(owner, STORE_GROUP_LABEL_MAX, true))
		return store_fail(s, "token create %s: the owner is too long or has control characters", name);
	int rc = s->ops->token_create(s, name, hash, read_only, owner ? owner : "", &v);
	if (rc == STORE_OK && id)
		*id = v;
	return rc;
}

int store_token_list(struct store *s, struct arena *a, struct store_token **out, size_t *n)
{
	return s->ops->token_list(s, a, out, n);
}

int store_token_find(struct store *s, struct arena *a, const unsigned char hash[STORE_TOKEN_HASH_LEN],
		     struct store_token *out)
{
	return s->ops->token_find(s, a, hash, out);
}

int store_token_revoke(struct store *s, int64_t id)
{
	return s->ops->token_revoke(s, id);
}

int store_token_touch(struct store *s, int64_t id, int64_t when)
{
	return s->ops->token_touch(s, id, when);
}
