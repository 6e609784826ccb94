/*
 * manage admin: who the administrators are (the bare JIDs of the
 * `admins` setting) and the check of an administrator's XMPP password,
 * for the admin API's HTTP Basic sign-in over HTTPS.  The password is
 * verified against the account's stored SCRAM record exactly as a SASL
 * PLAIN login is (scram_cred_check_password), and every refusal costs
 * the same PBKDF2 work as a success, so its timing does not tell an
 * account that exists from one that does not, or an admin from anyone.
 *
 * Not here: the HTTP side (parsing Authorization, TLS-only, throttling
 * failed attempts).
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

/* Whether the prepared bare JID `bare` is listed (each entry prepared
 * too, so "Admin@Example.org" in the file matches). */
static bool admin_listed(const struct config *cfg, struct arena *a, const char *bare)
{
	for (size_t i = 0; i < cfg->admins.n; i++) {
		struct jid j;
		if (jid_parse_str(a, cfg->admins.items[i], &j) == 0 && !j.resource && !strcmp(j.bare, bare))
			return true;
	}
	return false;
}

bool manage_is_admin(const struct config *cfg, const char *jid)
{
	if (!cfg->admins.n || !jid)
		return false;
	struct arena *a = arena_new();
	struct jid j;
	bool yes = jid_parse_str(a, jid, &j) == 0 && !j.resource && admin_listed(cfg, a, j.bare);
	arena_free(a);
	return yes;
}

/* The account's record for PLAIN: SCRAM-SHA-256, else SCRAM-SHA-1.
 * STORE_NOT_FOUND when it has neither. */
static int admin_cred(struct store *s, struct arena *a, const char *bare, struct scram_cred *out)
{
	static const enum scram_hash order[] = {SCRAM_SHA256, SCRAM_SHA1};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		enum scram_hash h = order[i];
		struct store_cred sc;
		int r = store_user_get_cred(s, a, bare, mech_names[h], &sc);
		if (r == STORE_NOT_FOUND)
			continue;
		if (r != STORE_OK)
			return r;
		if (sc.salt_len == 0 || sc.salt_len > SCRAM_SALT_MAX || sc.key_len != scram_hash_len(h))
			return STORE_ERROR;
		memset(out, 0, sizeof(*out));
		out->hash = h;
		out->iterations = sc.iterations;
		memcpy(out->salt, sc.salt, sc.salt_len);
		out->salt_len = sc.salt_len;
		memcpy(out->stored_key, sc.stored_key, sc.key_len);
		memcpy(out->server_key, sc.server_key, sc.key_len);
		return STORE_OK;
	}
	return STORE_NOT_FOUND;
}

enum manage_result manage_admin_password_check(struct store *s, const struct config *cfg,
					       const char *jid, const char *password,
					       struct manage_err *err)
{
	struct arena *a = arena_new();
	const char *bare;
	enum manage_result r = manage_user_jid(cfg, a, jid, &bare, err);
	if (r != MANAGE_OK)
		goto out;
	bool admin = admin_listed(cfg, a, bare), have = false;
	struct scram_cred cred;
	if (admin) {
		int sr = admin_cred(s, a, bare, &cred);
		if (sr != STORE_OK && sr != STORE_NOT_FOUND) {
			r = manage_fail(err, MANAGE_ERROR, "cannot read the credentials of %s: %s", bare,
					store_error(s));
			goto out;
		}
		have = sr == STORE_OK;
	}
	if (!have) {
		/* The work a real record costs, on a record nothing matches. */
		memset(&cred, 0, sizeof(cred));
		cred.hash = SCRAM_SHA256;
		cred.iterations = cfg->auth.scram_iterations;
		cred.salt_len = 16;
	}
	const char *pw = password ? password : "";
	bool ok = scram_cred_check_password(&cred, pw, strlen(pw)) && have;
	explicit_bzero(&cred, sizeof(cred));
	if (!ok)
		r = manage_fail(err, MANAGE_NOT_FOUND, "%s and this password do not name an administrator",
				bare);
out:
	arena_free(a);
	return r;
}
