/*
 * manage token: API tokens for the admin API.  A token is made from 32
 * random bytes (RAND_bytes), written as "pt_" and URL-safe base64
 * without padding; the store keeps its SHA-256 only.  Checking a
 * presented token hashes it, finds the stored row by that hash and
 * compares the two hashes with CRYPTO_memcmp.
 *
 * Not here: what a read-only token may do (the admin API decides per
 * operation), or where tokens come from in a request (the HTTP layer).
 */
#include "manage/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/arena.h"
#include "core/log.h"

/* A token's last use is written at most this often (seconds), so that
 * a busy client does not turn every request into a write. */
enum { TOKEN_TOUCH_EVERY = 60 };

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* URL-safe base64 of n bytes, without padding, NUL-terminated. */
static void b64url_encode(const unsigned char *p, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = b64url[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
}

static void token_hash(const char *token, unsigned char out[STORE_TOKEN_HASH_LEN])
{
	unsigned int len = 0;
	if (!EVP_Digest(token, strlen(token), out, &len, EVP_sha256(), NULL) || len != STORE_TOKEN_HASH_LEN)
		log_fatal("manage", "SHA-256 failed");
}

/* Whether `t` has a token's form: the prefix and exactly the characters
 * the encoding writes. */
static bool token_form_ok(const char *t)
{
	size_t plen = strlen(MANAGE_TOKEN_PREFIX);
	if (!t || strncmp(t, MANAGE_TOKEN_PREFIX, plen) != 0)
		return false;
	size_t n = 0;
	for (const char *p = t + plen; *p; p++, n++) {
		bool ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			  *p == '-' || *p == '_';
		if (!ok || n >= MANAGE_TOKEN_LEN)
			return false;
	}
	return plen + n == MANAGE_TOKEN_LEN;
}

enum manage_result manage_token_name_check(const char *name, struct manage_err *err)
{
	size_t n = name ? strlen(name) : 0;
	bool digits = true, ok = n > 0 && n <= STORE_TOKEN_NAME_MAX;
	for (size_t i = 0; ok && i < n; i++) {
		char c = name[i];
		bool digit = c >= '0' && c <= '9';
		digits = digits && digit;
		ok = digit || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '_' ||
		     c == '-' || c == '@';
	}
	if (!ok)
		return manage_fail(err, MANAGE_INVALID,
				   "'%s' is not a token name (1 to %d letters, digits, '.', '_', '-' or '@')",
				   name ? name : "", STORE_TOKEN_NAME_MAX);
	if (digits)
		return manage_fail(err, MANAGE_INVALID, "'%s' is not a token name: a number is a token's id",
				   name);
	return MANAGE_OK;
}

enum manage_result manage_token_create(struct store *s, const char *name, bool read_only,
				       const char *owner, char secret[MANAGE_TOKEN_LEN + 1],
				       int64_t *id, struct manage_err *err)
{
	secret[0] = '\0';
	enum manage_result r = manage_token_name_check(name, err);
	if (r != MANAGE_OK)
		return r;
	struct arena *a = arena_new();
	struct store_token *all;
	size_t n;
	r = manage_token_list(s, a, &all, &n, err);
	bool taken = false;
	for (size_t i = 0; r == MANAGE_OK && i < n; i++)
		taken = taken || !strcmp(all[i].name, name);
	arena_free(a);
	if (r != MANAGE_OK)
		return r;
	/* Checked here too, so that a refused name does not use up an id. */
	if (taken)
		return manage_fail(err, MANAGE_EXISTS, "a token named %s exists already", name);
	if (n >= MANAGE_TOKENS_MAX)
		return manage_fail(err, MANAGE_FULL, "there are %d tokens already: revoke some first",
				   MANAGE_TOKENS_MAX);
	unsigned char raw[MANAGE_TOKEN_SECRET_BYTES], hash[STORE_TOKEN_HASH_LEN];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return manage_fail(err, MANAGE_ERROR, "no randomness available for a token");
	memcpy(secret, MANAGE_TOKEN_PREFIX, strlen(MANAGE_TOKEN_PREFIX));
	b64url_encode(raw, sizeof(raw), secret + strlen(MANAGE_TOKEN_PREFIX));
	OPENSSL_cleanse(raw, sizeof(raw));
	token_hash(secret, hash);
	int64_t made = 0;
	int sr = store_token_create(s, name, hash, read_only, owner, &made);
	if (sr == STORE_EXISTS)
		r = manage_fail(err, MANAGE_EXISTS, "a token named %s exists already", name);
	else if (sr != STORE_OK)
		r = manage_fail(err, MANAGE_ERROR, "cannot store the token: %s", store_error(s));
	if (r != MANAGE_OK) {
		OPENSSL_cleanse(secret, MANAGE_TOKEN_LEN + 1);
		secret[0] = '\0';
		return r;
	}
	if (id)
		*id = made;
	return MANAGE_OK;
}

enum manage_result manage_token_list(struct store *s, struct arena *a, struct store_token **items,
				     size_t *n, struct manage_err *err)
{
	if (store_token_list(s, a, items, n) != STORE_OK)
		return manage_fail(err, MANAGE_ERROR, "cannot list tokens: %s", store_error(s));
	return MANAGE_OK;
}

enum manage_result manage_token_revoke(struct store *s, struct arena *a, const char *which,
				       struct store_token *revoked, struct manage_err *err)
{
	struct store_token *all;
	size_t n;
	if (!which || !*which)
		return manage_fail(err, MANAGE_INVALID, "say which token: its name or its id");
	enum manage_result r = manage_token_list(s, a, &all, &n, err);
	if (r != MANAGE_OK)
		return r;
	const struct store_token *t = NULL;
	for (size_t i = 0; i < n && !t; i++)
		if (!strcmp(all[i].name, which))
			t = &all[i];
	char *end;
	long long id = strtoll(which, &end, 10);
	for (size_t i = 0; i < n && !t && *end == '\0' && id > 0; i++)
		if (all[i].id == id)
			t = &all[i];
	if (!t)
		return manage_fail(err, MANAGE_NOT_FOUND, "there is no token named or numbered %s", which);
	int sr = store_token_revoke(s, t->id);
	if (sr == STORE_NOT_FOUND)
		return manage_fail(err, MANAGE_NOT_FOUND, "there is no token named or numbered %s", which);
	if (sr != STORE_OK)
		return manage_fail(err, MANAGE_ERROR, "cannot revoke the token: %s", store_error(s));
	if (revoked)
		*revoked = *t;
	return MANAGE_OK;
}

enum manage_result manage_token_check(struct store *s, const char *presented,
				      struct manage_token_auth *out, struct manage_err *err)
{
	if (!token_form_ok(presented))
		return manage_fail(err, MANAGE_INVALID, "not an API token (they begin with " MANAGE_TOKEN_PREFIX
							")");
	unsigned char hash[STORE_TOKEN_HASH_LEN];
	token_hash(presented, hash);
	struct arena *a = arena_new();
	struct store_token t;
	enum manage_result r = MANAGE_OK;
	int sr = store_token_find(s, a, hash, &t);
	if (sr == STORE_OK && CRYPTO_memcmp(t.hash, hash, sizeof(hash)) != 0)
		sr = STORE_NOT_FOUND;
	if (sr == STORE_NOT_FOUND) {
		r = manage_fail(err, MANAGE_NOT_FOUND, "no such token (revoked, or never made)");
		goto out;
	}
	if (sr != STORE_OK) {
		r = manage_fail(err, MANAGE_ERROR, "cannot check the token: %s", store_error(s));
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->id = t.id;
	snprintf(out->name, sizeof(out->name), "%s", t.name);
	out->read_only = t.read_only;
	/* Recording the use is not the check: a failure here (a busy or
	 * read-only database) does not refuse a valid token. */
	int64_t now = (int64_t)time(NULL);
	if (now - t.last_used >= TOKEN_TOUCH_EVERY)
		store_token_touch(s, t.id, now);
out:
	arena_free(a);
	return r;
}
