/*
 * Unit tests of manage/token.c and manage/admin.c (issue 11, item 3): API
 * tokens made, listed, revoked and checked, with only their hash in the
 * database; the read-only flag; the checks of form before any lookup;
 * who the administrators are, and their XMPP password checked against
 * the stored SCRAM record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/log.h"
#include "manage/manage.h"
#include "store/store.h"

#include "fixture.h"

/* The whole of a file, NUL-terminated (empty when it does not exist). */
static char *slurp(const char *path, size_t *len)
{
	*len = 0;
	char *buf = calloc(1, 1);
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return buf;
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		buf = realloc(buf, *len + n + 1);
		memcpy(buf + *len, chunk, n);
		*len += n;
		buf[*len] = '\0';
	}
	fclose(fp);
	return buf;
}

static bool file_holds(const char *path, const void *needle, size_t n)
{
	size_t len;
	char *buf = slurp(path, &len);
	bool found = len >= n && memmem(buf, len, needle, n) != NULL;
	free(buf);
	return found;
}

static void tokens_have_their_form(void **state)
{
	struct fixture *f = *state;
	char secret[MANAGE_TOKEN_LEN + 1], other[MANAGE_TOKEN_LEN + 1];
	int64_t id = 0;
	assert_int_equal(manage_token_create(f->s, "ci", false, "local:test", secret, &id, &f->err), MANAGE_OK);
	assert_int_equal(id, 1);
	assert_int_equal(strlen(secret), MANAGE_TOKEN_LEN);
	assert_memory_equal(secret, "pt_", 3);
	assert_int_equal(strspn(secret + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
			 MANAGE_TOKEN_LEN - 3);
	assert_int_equal(manage_token_create(f->s, "cd", false, NULL, other, NULL, &f->err), MANAGE_OK);
	assert_string_not_equal(secret, other);
}

/* The database holds the SHA-256 of the token, never the token. */
static void only_the_hash_is_stored(void **state)
{
	struct fixture *f = *state;
	char secret[MANAGE_TOKEN_LEN + 1];
	assert_int_equal(manage_token_create(f->s, "ci", true, "local:test", secret, NULL, &f->err), MANAGE_OK);
	unsigned char hash[32];
	unsigned int hlen = 0;
	assert_true(EVP_Digest(secret, strlen(secret), hash, &hlen, EVP_sha256(), NULL));

	struct store_token *t;
	size_t n;
	assert_int_equal(manage_token_list(f->s, f->a, &t, &n, &f->err), MANAGE_OK);
	assert_int_equal(n, 1);
	assert_memory_equal(t[0].hash, hash, sizeof(hash));

	/* Neither the token nor its random part is anywhere in the files,
	 * before or after the log is checkpointed into the database. */
	char db[128], wal[140];
	snprintf(db, sizeof(db), "%s/parley.db", f->dir);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	for (int pass = 0; pass < 2; pass++) {
		assert_false(file_holds(db, secret + 3, strlen(secret + 3)));
		assert_false(file_holds(wal, secret + 3, strlen(secret + 3)));
		assert_true(file_holds(db, hash, sizeof(hash)) || file_holds(wal, hash, sizeof(hash)));
		store_close(f->s);
		char *err = NULL;
		f->s = store_open(db, &err);
		assert_non_null(f->s);
	}
}

static void tokens_check_and_keep_their_flag(void **state)
{
	struct fixture *f = *state;
	char ro[MANAGE_TOKEN_LEN + 1], rw[MANAGE_TOKEN_LEN + 1];
	assert_int_equal(manage_token_create(f->s, "reader", true, NULL, ro, NULL, &f->err), MANAGE_OK);
	assert_int_equal(manage_token_create(f->s, "writer", false, NULL, rw, NULL, &f->err), MANAGE_OK);
	struct manage_token_auth who;
	assert_int_equal(manage_token_check(f->s, ro, &who, &f->err), MANAGE_OK);
	assert_string_equal(who.name, "reader");
	assert_true(who.read_only);
	assert_int_equal(manage_token_check(f->s, rw, &who, &f->err), MANAGE_OK);
	assert_string_equal(who.name, "writer");
	assert_false(who.read_only);

	/* The use is recorded. */
	struct store_token *t;
	size_t n;
	assert_int_equal(manage_token_list(f->s, f->a, &t, &n, &f->err), MANAGE_OK);
	assert_int_equal(n, 2);
	assert_true(t[0].last_used > 0);
	assert_true(t[0].read_only);
	assert_false(t[1].read_only);
}

/* A token that differs in its first or its last character is another
 * token: the whole hash is compared (CRYPTO_memcmp), not a prefix. */
static void near_misses_are_refused(void **state)
{
	struct fixture *f = *state;
	char secret[MANAGE_TOKEN_LEN + 1];
	struct manage_token_auth who;
	assert_int_equal(manage_token_create(f->s, "ci", false, NULL, secret, NULL, &f->err), MANAGE_OK);
	size_t positions[] = {3, MANAGE_TOKEN_LEN / 2, MANAGE_TOKEN_LEN - 1};
	for (size_t i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		char near[MANAGE_TOKEN_LEN + 1];
		memcpy(near, secret, sizeof(near));
		near[positions[i]] = near[positions[i]] == 'A' ? 'B' : 'A';
		assert_int_equal(manage_token_check(f->s, near, &who, &f->err), MANAGE_NOT_FOUND);
		assert_string_equal(f->err.msg, "no such token (revoked, or never made)");
	}
	assert_int_equal(manage_token_check(f->s, secret, &who, &f->err), MANAGE_OK);
}

/* What does not have a token's form is refused before any lookup. */
static void malformed_tokens_are_invalid(void **state)
{
	struct fixture *f = *state;
	char secret[MANAGE_TOKEN_LEN + 1];
	struct manage_token_auth who;
	assert_int_equal(manage_token_create(f->s, "ci", false, NULL, secret, NULL, &f->err), MANAGE_OK);
	char longer[MANAGE_TOKEN_LEN + 2], wrong_prefix[MANAGE_TOKEN_LEN + 1], bad_char[MANAGE_TOKEN_LEN + 1];
	snprintf(longer, sizeof(longer), "%sA", secret);
	memcpy(wrong_prefix, secret, sizeof(wrong_prefix));
	wrong_prefix[0] = 'x';
	memcpy(bad_char, secret, sizeof(bad_char));
	bad_char[10] = '+';
	const char *bad[] = {"", "pt_", "Bearer x", longer, wrong_prefix, bad_char, NULL};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(manage_token_check(f->s, bad[i], &who, &f->err), MANAGE_INVALID);
	char shorter[MANAGE_TOKEN_LEN];
	memcpy(shorter, secret, sizeof(shorter) - 1);
	shorter[sizeof(shorter) - 1] = '\0';
	assert_int_equal(manage_token_check(f->s, shorter, &who, &f->err), MANAGE_INVALID);
}

static void tokens_are_revoked_by_name_or_id(void **state)
{
	struct fixture *f = *state;
	char a[MANAGE_TOKEN_LEN + 1], b[MANAGE_TOKEN_LEN + 1];
	int64_t ida, idb;
	struct manage_token_auth who;
	struct store_token gone;
	assert_int_equal(manage_token_create(f->s, "alpha", false, NULL, a, &ida, &f->err), MANAGE_OK);
	assert_int_equal(manage_token_create(f->s, "beta", false, NULL, b, &idb, &f->err), MANAGE_OK);
	assert_int_equal(manage_token_revoke(f->s, f->a, "alpha", &gone, &f->err), MANAGE_OK);
	assert_int_equal(gone.id, ida);
	assert_int_equal(manage_token_check(f->s, a, &who, &f->err), MANAGE_NOT_FOUND);
	assert_int_equal(manage_token_check(f->s, b, &who, &f->err), MANAGE_OK);
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)idb);
	assert_int_equal(manage_token_revoke(f->s, f->a, id, &gone, &f->err), MANAGE_OK);
	assert_string_equal(gone.name, "beta");
	assert_int_equal(manage_token_check(f->s, b, &who, &f->err), MANAGE_NOT_FOUND);
	assert_int_equal(manage_token_revoke(f->s, f->a, id, NULL, &f->err), MANAGE_NOT_FOUND);
	assert_int_equal(manage_token_revoke(f->s, f->a, "alpha", NULL, &f->err), MANAGE_NOT_FOUND);
	/* A new token never takes a revoked one's id. */
	int64_t idc;
	assert_int_equal(manage_token_create(f->s, "gamma", false, NULL, a, &idc, &f->err), MANAGE_OK);
	assert_true(idc > idb);
}

static void token_names_and_limits(void **state)
{
	struct fixture *f = *state;
	char secret[MANAGE_TOKEN_LEN + 1];
	assert_int_equal(manage_token_create(f->s, "42", false, NULL, secret, NULL, &f->err), MANAGE_INVALID);
	assert_string_equal(secret, "");
	assert_int_equal(manage_token_create(f->s, "a b", false, NULL, secret, NULL, &f->err), MANAGE_INVALID);
	assert_int_equal(manage_token_create(f->s, "", false, NULL, secret, NULL, &f->err), MANAGE_INVALID);
	assert_int_equal(manage_token_name_check("ci-2.deploy_x@host", &f->err), MANAGE_OK);
	char longname[STORE_TOKEN_NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(manage_token_name_check(longname, &f->err), MANAGE_INVALID);
	assert_int_equal(manage_token_create(f->s, "ci", false, NULL, secret, NULL, &f->err), MANAGE_OK);
	assert_int_equal(manage_token_create(f->s, "ci", true, NULL, secret, NULL, &f->err), MANAGE_EXISTS);
	assert_string_equal(f->err.msg, "a token named ci exists already");
	assert_string_equal(secret, "");
	for (int i = 1; i < MANAGE_TOKENS_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "t%d", i);
		assert_int_equal(manage_token_create(f->s, name, false, NULL, secret, NULL, &f->err), MANAGE_OK);
	}
	assert_int_equal(manage_token_create(f->s, "onemore", false, NULL, secret, NULL, &f->err), MANAGE_FULL);
}

/* ---- Administrators ---- */

static void admins_are_the_configured_jids(void **state)
{
	struct fixture *f = *state;
	assert_false(manage_is_admin(&f->cfg, "boss@example.org"));
	f->cfg.admins.items = xcalloc(2, sizeof(char *));
	f->cfg.admins.items[0] = xstrdup("Boss@Example.ORG");
	f->cfg.admins.items[1] = xstrdup("ops@elsewhere.net");
	f->cfg.admins.n = 2;
	assert_true(manage_is_admin(&f->cfg, "boss@example.org"));
	assert_true(manage_is_admin(&f->cfg, "BOSS@example.org"));
	assert_true(manage_is_admin(&f->cfg, "ops@elsewhere.net"));
	assert_false(manage_is_admin(&f->cfg, "boss@example.org/phone"));
	assert_false(manage_is_admin(&f->cfg, "alice@example.org"));
	assert_false(manage_is_admin(&f->cfg, "example.org"));
	assert_false(manage_is_admin(&f->cfg, NULL));
}

static void admin_passwords_are_checked_against_scram(void **state)
{
	struct fixture *f = *state;
	f->cfg.admins.items = xcalloc(2, sizeof(char *));
	f->cfg.admins.items[0] = xstrdup("boss@example.org");
	f->cfg.admins.items[1] = xstrdup("device@example.org");
	f->cfg.admins.n = 2;
	assert_int_equal(manage_user_create(f->s, &f->cfg, "boss@example.org", "s3cret", &f->err), MANAGE_OK);
	assert_int_equal(manage_user_create(f->s, &f->cfg, "alice@example.org", "s3cret", &f->err), MANAGE_OK);
	assert_int_equal(manage_user_create(f->s, &f->cfg, "device@example.org", NULL, &f->err), MANAGE_OK);

	assert_int_equal(manage_admin_password_check(f->s, &f->cfg, "Boss@example.org", "s3cret", &f->err),
			 MANAGE_OK);
	assert_int_equal(manage_admin_password_check(f->s, &f->cfg, "boss@example.org", "wrong", &f->err),
			 MANAGE_NOT_FOUND);
	/* A user with the right password who is not an admin. */
	assert_int_equal(manage_admin_password_check(f->s, &f->cfg, "alice@example.org", "s3cret", &f->err),
			 MANAGE_NOT_FOUND);
	/* An admin without a password (certificate only), and one without
	 * an account. */
	assert_int_equal(manage_admin_password_check(f->s, &f->cfg, "device@example.org", "", &f->err),
			 MANAGE_NOT_FOUND);
	assert_int_equal(manage_user_delete(f->s, &f->cfg, "boss@example.org", &f->err), MANAGE_OK);
	assert_int_equal(manage_admin_password_check(f->s, &f->cfg, "boss@example.org", "s3cret", &f->err),
			 MANAGE_NOT_FOUND);
	assert_int_equal(manage_admin_password_check(f->s, &f->cfg, "boss@example.org/x", "s3cret", &f->err),
			 MANAGE_INVALID);
	assert_int_equal(manage_admin_password_check(f->s, &f->cfg, "boss@example.org", NULL, &f->err),
			 MANAGE_NOT_FOUND);
}

/* Only a SCRAM-SHA-1 record (an old import): PLAIN's fallback. */
static void admin_password_with_a_sha1_record(void **state)
{
	struct fixture *f = *state;
	f->cfg.admins.items = xcalloc(1, sizeof(char *));
	f->cfg.admins.items[0] = xstrdup("old@example.org");
	f->cfg.admins.n = 1;
	struct scram_cred made[SCRAM_HASH_COUNT];
	struct store_cred creds[SCRAM_HASH_COUNT];
	assert_int_equal(manage_password_creds("pw", 64, made, creds, &f->err), MANAGE_OK);
	assert_int_equal(manage_user_create_creds(f->s, &f->cfg, "old@example.org", &creds[SCRAM_SHA1], 1, &f->err),
			 MANAGE_OK);
	assert_int_equal(manage_admin_password_check(f->s, &f->cfg, "old@example.org", "pw", &f->err), MANAGE_OK);
	assert_int_equal(manage_admin_password_check(f->s, &f->cfg, "old@example.org", "pW", &f->err),
			 MANAGE_NOT_FOUND);
}

int main(void)
{
	log_setup(LOG_ERROR, open("/dev/null", O_WRONLY | O_CLOEXEC));
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(tokens_have_their_form),
		T(only_the_hash_is_stored),
		T(tokens_check_and_keep_their_flag),
		T(near_misses_are_refused),
		T(malformed_tokens_are_invalid),
		T(tokens_are_revoked_by_name_or_id),
		T(token_names_and_limits),
		T(admins_are_the_configured_jids),
		T(admin_passwords_are_checked_against_scram),
		T(admin_password_with_a_sha1_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
