/*
 * manage user: accounts and their certificate pins.  Passwords become
 * SCRAM-SHA-1 and SCRAM-SHA-256 records here (sasl/); the password itself
 * is never stored.  An account may have no credentials at all: only a
 * client certificate (SASL EXTERNAL) logs in to it.
 *
 * Not here: reading passwords from a terminal, making up random ones, or
 * ending the sessions of a deleted account (the front ends').
 */
#include "manage/internal.h"

#include <string.h>

#include "core/arena.h"
#include "core/config.h"
#include "jid/jid.h"

static const char *const mech_names[SCRAM_HASH_COUNT] = {
	[SCRAM_SHA1] = "SCRAM-SHA-1",
	[SCRAM_SHA256] = "SCRAM-SHA-256",
};

enum manage_result manage_user_jid(const struct config *cfg, struct arena *a, const char *jid,
				   const char **bare, struct manage_err *err)
{
	struct jid j;
	if (!jid || jid_parse_str(a, jid, &j) < 0 || !j.local || j.resource)
		return manage_fail(err, MANAGE_INVALID, "'%s' is not an account JID (like alice@%s)",
				   jid ? jid : "", cfg->hosts[0].domain);
	if (!config_host_find(cfg, j.domain))
		return manage_fail(err, MANAGE_INVALID, "%s is not a host of this server (see hosts in %s)",
				   j.domain, cfg->path);
	*bare = j.bare;
	return MANAGE_OK;
}

/* ---- Listing ---- */

struct user_page {
	struct manage_pager pager;
	struct arena *a;
	struct manage_vec items; /* const char * */
};

static int user_page_add(void *ud, const char *jid)
{
	struct user_page *p = ud;
	if (manage_pager_match(&p->pager, jid) && manage_pager_take(&p->pager))
		*(const char **)manage_vec_push(&p->items, p->a, sizeof(const char *)) = arena_strdup(p->a, jid);
	return 0;
}

enum manage_result manage_user_list(struct store *s, const struct config *cfg, struct arena *a,
				    const char *domain, const struct manage_page *page,
				    const char ***items, size_t *n, size_t *total,
				    struct manage_err *err)
{
	*items = NULL;
	*n = 0;
	if (total)
		*total = 0;
	if (domain && !config_host_find(cfg, domain))
		return manage_fail(err, MANAGE_INVALID, "%s is not a host of this server (see hosts in %s)",
				   domain, cfg->path);
	struct user_page p = {.a = a};
	manage_pager_init(&p.pager, page);
	/* Hosts are lower case in the configuration, as in the database. */
	const char *d = domain ? config_host_find(cfg, domain)->domain : NULL;
	int r = store_user_list(s, d, user_page_add, &p);
	if (r != STORE_OK)
		return manage_fail(err, MANAGE_ERROR, "cannot list accounts: %s", store_error(s));
	*items = p.items.n ? p.items.v : NULL;
	*n = p.items.n;
	if (total)
		*total = p.pager.matched;
	return MANAGE_OK;
}

enum manage_result manage_user_info(struct store *s, const struct config *cfg, const char *jid,
				    struct manage_user_info *out, struct manage_err *err)
{
	struct arena *a = arena_new();
	const char *bare;
	memset(out, 0, sizeof(*out));
	enum manage_result r = manage_user_jid(cfg, a, jid, &bare, err);
	if (r != MANAGE_OK)
		goto out;
	int sr = store_user_exists(s, bare);
	if (sr == STORE_NOT_FOUND) {
		r = manage_fail(err, MANAGE_NOT_FOUND, "%s does not exist", bare);
		goto out;
	}
	for (int h = 0; sr == STORE_OK && h < SCRAM_HASH_COUNT && !out->password; h++) {
		struct store_cred sc;
		sr = store_user_get_cred(s, a, bare, mech_names[h], &sc);
		out->password = sr == STORE_OK;
		if (sr == STORE_NOT_FOUND)
			sr = STORE_OK;
	}
	if (sr == STORE_OK)
		sr = store_cert_pin_count(s, bare, &out->pins);
	if (sr != STORE_OK)
		r = manage_fail(err, MANAGE_ERROR, "cannot read %s: %s", bare, store_error(s));
out:
	arena_free(a);
	return r;
}

/* ---- Passwords and accounts ---- */

enum manage_result manage_password_creds(const char *password, unsigned iterations,
					 struct scram_cred made[SCRAM_HASH_COUNT],
					 struct store_cred creds[SCRAM_HASH_COUNT],
					 struct manage_err *err)
{
	if (!password || !*password)
		return manage_fail(err, MANAGE_INVALID, "the password is empty");
	if (strlen(password) > MANAGE_PASSWORD_MAX)
		return manage_fail(err, MANAGE_INVALID, "the password is longer than %d bytes",
				   MANAGE_PASSWORD_MAX);
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		if (scram_cred_make((enum scram_hash)h, password, iterations, &made[h]) < 0) {
			explicit_bzero(made, SCRAM_HASH_COUNT * sizeof(*made));
			return manage_fail(err, MANAGE_INVALID, "the password is not acceptable (it must be "
								"valid UTF-8 and pass SASLprep)");
		}
		creds[h] = (struct store_cred){
			.mech = mech_names[h],
			.iterations = made[h].iterations,
			.salt = made[h].salt,
			.salt_len = made[h].salt_len,
			.stored_key = made[h].stored_key,
			.server_key = made[h].server_key,
			.key_len = scram_hash_len((enum scram_hash)h),
		};
	}
	return MANAGE_OK;
}

enum manage_result manage_user_create_creds(struct store *s, const struct config *cfg,
					    const char *jid, const struct store_cred *creds,
					    size_t n, struct manage_err *err)
{
	struct arena *a = arena_new();
	const char *bare;
	enum manage_result r = manage_user_jid(cfg, a, jid, &bare, err);
	if (r != MANAGE_OK)
		goto out;
	int sr = store_user_create(s, bare, n ? creds : NULL, n);
	r = manage_from_store(sr);
	if (sr == STORE_EXISTS)
		manage_fail(err, r, "%s exists already", bare);
	else if (sr != STORE_OK)
		r = manage_fail(err, MANAGE_ERROR, "cannot write %s: %s", bare, store_error(s));
out:
	arena_free(a);
	return r;
}

enum manage_result manage_user_create(struct store *s, const struct config *cfg, const char *jid,
				      const char *password, struct manage_err *err)
{
	struct arena *a = arena_new();
	const char *bare;
	struct scram_cred made[SCRAM_HASH_COUNT];
	struct store_cred creds[SCRAM_HASH_COUNT];
	size_t n = 0;
	/* The account first: no hashing for a JID that cannot be one. */
	enum manage_result r = manage_user_jid(cfg, a, jid, &bare, err);
	if (r == MANAGE_OK && password) {
		r = manage_password_creds(password, cfg->auth.scram_iterations, made, creds, err);
		n = SCRAM_HASH_COUNT;
	}
	if (r == MANAGE_OK)
		r = manage_user_create_creds(s, cfg, bare, creds, n, err);
	explicit_bzero(made, sizeof(made));
	arena_free(a);
	return r;
}

enum manage_result manage_user_set_password(struct store *s, const struct config *cfg,
					    const char *jid, const char *password,
					    struct manage_err *err)
{
	struct arena *a = arena_new();
	const char *bare;
	struct scram_cred made[SCRAM_HASH_COUNT];
	struct store_cred creds[SCRAM_HASH_COUNT];
	enum manage_result r = manage_user_jid(cfg, a, jid, &bare, err);
	if (r == MANAGE_OK)
		r = manage_password_creds(password, cfg->auth.scram_iterations, made, creds, err);
	if (r != MANAGE_OK)
		goto out;
	int sr = store_user_set_creds(s, bare, creds, SCRAM_HASH_COUNT);
	r = manage_from_store(sr);
	if (sr == STORE_NOT_FOUND)
		manage_fail(err, r, "%s does not exist", bare);
	else if (sr != STORE_OK)
		r = manage_fail(err, MANAGE_ERROR, "cannot write %s: %s", bare, store_error(s));
out:
	explicit_bzero(made, sizeof(made));
	arena_free(a);
	return r;
}

enum manage_result manage_user_delete(struct store *s, const struct config *cfg, const char *jid,
				      struct manage_err *err)
{
	struct arena *a = arena_new();
	const char *bare;
	enum manage_result r = manage_user_jid(cfg, a, jid, &bare, err);
	if (r != MANAGE_OK)
		goto out;
	int sr = store_user_delete(s, bare);
	r = manage_from_store(sr);
	if (sr == STORE_NOT_FOUND)
		manage_fail(err, r, "%s does not exist", bare);
	else if (sr != STORE_OK)
		r = manage_fail(err, MANAGE_ERROR, "cannot delete %s: %s", bare, store_error(s));
out:
	arena_free(a);
	return r;
}

/* ---- Certificate pins ---- */

/* The normalised fingerprint in `fp`, or MANAGE_INVALID. */
static enum manage_result pin_fingerprint(const char *in, char fp[STORE_FINGERPRINT_LEN + 1],
					  struct manage_err *err)
{
	if (!store_fingerprint_norm(in, fp))
		return manage_fail(err, MANAGE_INVALID, "'%s' is not a SHA-256 fingerprint", in ? in : "");
	return MANAGE_OK;
}

enum manage_result manage_user_pin_list(struct store *s, const struct config *cfg,
					struct arena *a, const char *jid,
					struct store_cert_pin **pins, size_t *n,
					struct manage_err *err)
{
	*pins = NULL;
	*n = 0;
	const char *bare;
	enum manage_result r = manage_user_jid(cfg, a, jid, &bare, err);
	if (r != MANAGE_OK)
		return r;
	int sr = store_user_exists(s, bare);
	if (sr == STORE_NOT_FOUND)
		return manage_fail(err, MANAGE_NOT_FOUND, "%s does not exist", bare);
	if (sr == STORE_OK)
		sr = store_cert_pin_list(s, a, bare, pins, n);
	if (sr != STORE_OK)
		return manage_fail(err, MANAGE_ERROR, "cannot list pins: %s", store_error(s));
	return MANAGE_OK;
}

enum manage_result manage_user_pin_add(struct store *s, const struct config *cfg, const char *jid,
				       const char *fingerprint, struct manage_err *err)
{
	struct arena *a = arena_new();
	const char *bare;
	char fp[STORE_FINGERPRINT_LEN + 1];
	enum manage_result r = manage_user_jid(cfg, a, jid, &bare, err);
	if (r == MANAGE_OK)
		r = pin_fingerprint(fingerprint, fp, err);
	if (r != MANAGE_OK)
		goto out;
	int sr = store_cert_pin_add(s, bare, fp);
	r = manage_from_store(sr);
	if (sr == STORE_NOT_FOUND)
		manage_fail(err, r, "%s does not exist", bare);
	else if (sr == STORE_EXISTS)
		manage_fail(err, r, "%s is pinned to %s already", fp, bare);
	else if (sr != STORE_OK)
		r = manage_fail(err, MANAGE_ERROR, "cannot pin: %s", store_error(s));
out:
	arena_free(a);
	return r;
}

enum manage_result manage_user_pin_remove(struct store *s, const struct config *cfg,
					  const char *jid, const char *fingerprint, size_t *left,
					  struct manage_err *err)
{
	struct arena *a = arena_new();
	const char *bare;
	char fp[STORE_FINGERPRINT_LEN + 1];
	if (left)
		*left = 0;
	enum manage_result r = manage_user_jid(cfg, a, jid, &bare, err);
	if (r == MANAGE_OK)
		r = pin_fingerprint(fingerprint, fp, err);
	if (r != MANAGE_OK)
		goto out;
	int sr = store_cert_pin_remove(s, bare, fp);
	r = manage_from_store(sr);
	if (sr == STORE_NOT_FOUND) {
		manage_fail(err, r, "%s is not pinned to %s", fp, bare);
		goto out;
	}
	if (sr != STORE_OK) {
		r = manage_fail(err, MANAGE_ERROR, "cannot remove the pin: %s", store_error(s));
		goto out;
	}
	size_t k = 0;
	store_cert_pin_count(s, bare, &k);
	if (left)
		*left = k;
out:
	arena_free(a);
	return r;
}
