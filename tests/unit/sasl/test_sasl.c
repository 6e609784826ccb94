/* Unit tests of sasl/: base64, SASLprep, credential records, the SCRAM
 * server (RFC 5802 and RFC 7677 exchanges reproduced byte for byte, then
 * every way to fail), and PLAIN.  Uses the hooks of sasl/internal.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/arena.h"
#include "core/buf.h"
#include "sasl/internal.h"
#include "sasl/sasl.h"

/* ---- Helpers ---- */

static char *b64(const void *p, size_t n)
{
	struct buf b = BUF_INIT;
	sasl_base64_encode(&b, p, n);
	return buf_steal(&b);
}

static struct buf unb64(const char *s)
{
	struct buf b = BUF_INIT;
	if (sasl_base64_decode(&b, s, strlen(s)) != 0)
		fail_msg("bad base64 in test: %s", s);
	return b;
}

static struct scram_cred cred_from(enum scram_hash h, const char *password, const char *salt_b64,
				   unsigned iterations)
{
	struct scram_cred c;
	struct buf salt = unb64(salt_b64);
	assert_int_equal(scram_cred_from_salt(h, password, (unsigned char *)salt.data, salt.len,
					      iterations, &c),
			 0);
	buf_clear(&salt);
	return c;
}

/* The client side of step 3, computed independently of the server code
 * (OpenSSL directly): the client-final-message for `password`. */
static char *client_final(enum scram_hash h, const char *password, const char *first_bare,
			  const char *server_first, const char *cbind_b64)
{
	const EVP_MD *md = h == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
	unsigned hlen = (unsigned)EVP_MD_get_size(md);
	unsigned char salted[64], ckey[64], stored[64], sig[64], proof[64];
	char nonce[256], salt_b64[256];
	unsigned iter;

	if (sscanf(server_first, "r=%255[^,],s=%255[^,],i=%u", nonce, salt_b64, &iter) != 3)
		fail_msg("bad server-first: %s", server_first);
	struct buf salt = unb64(salt_b64);
	assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password),
					   (unsigned char *)salt.data, (int)salt.len, (int)iter,
					   md, (int)hlen, salted),
			 1);
	buf_clear(&salt);
	unsigned len = hlen;
	HMAC(md, salted, (int)hlen, (const unsigned char *)"Client Key", 10, ckey, &len);
	EVP_Digest(ckey, hlen, stored, NULL, md, NULL);

	struct buf without = BUF_INIT, auth = BUF_INIT;
	buf_printf(&without, "c=%s,r=%s", cbind_b64, nonce);
	buf_printf(&auth, "%s,%s,%s", first_bare, server_first, buf_cstr(&without));
	HMAC(md, stored, (int)hlen, (unsigned char *)auth.data, auth.len, sig, &len);
	for (unsigned i = 0; i < hlen; i++)
		proof[i] = ckey[i] ^ sig[i];
	char *p = b64(proof, hlen);
	buf_printf(&without, ",p=%s", p);
	free(p);
	buf_clear(&auth);
	return buf_steal(&without);
}

static enum sasl_cond first(struct scram_server *s, const char *msg)
{
	return scram_server_client_first(s, msg, strlen(msg));
}

static enum sasl_cond final(struct scram_server *s, const char *msg, struct buf *out)
{
	return scram_server_client_final(s, msg, strlen(msg), out);
}

/* Runs a whole exchange: step 1 must pass; returns the step 3 result. */
static enum sasl_cond exchange(struct scram_server *s, const struct scram_cred *cred,
			       const char *client_first, const char *password,
			       const char *cbind_b64)
{
	struct buf sf = BUF_INIT, out = BUF_INIT;
	assert_int_equal(first(s, client_first), SASL_OK);
	scram_server_first(s, cred, &sf);
	assert_true(sf.len > 0);
	const char *bare = strstr(client_first, "n=");
	enum scram_hash h = cred ? cred->hash : SCRAM_SHA256;
	char *cf = client_final(h, password, bare, buf_cstr(&sf), cbind_b64);
	enum sasl_cond cond = final(s, cf, &out);
	if (cond == SASL_OK)
		assert_memory_equal(out.data, "v=", 2);
	else
		assert_int_equal(out.len, 0);
	free(cf);
	buf_clear(&sf);
	buf_clear(&out);
	return cond;
}

/* A connection whose tls-unique is twelve fixed bytes and which has no
 * other binding. */
static const unsigned char test_cb_data[12] = "0123456789ab";

static int test_cb(void *ud, const char *type, unsigned char *out, size_t *len)
{
	int *calls = ud;
	if (calls)
		(*calls)++;
	if (strcmp(type, "tls-unique") != 0 || *len < sizeof(test_cb_data))
		return -1;
	memcpy(out, test_cb_data, sizeof(test_cb_data));
	*len = sizeof(test_cb_data);
	return 0;
}

/* A user "user" with password "pencil" for both hashes, made once (PBKDF2
 * is the slow part of these tests). */
static struct scram_cred pencil[SCRAM_HASH_COUNT];

static int make_pencil(void **state)
{
	(void)state;
	pencil[SCRAM_SHA1] = cred_from(SCRAM_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096);
	pencil[SCRAM_SHA256] = cred_from(SCRAM_SHA256, "pencil", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096);
	return 0;
}

/* ---- Names ---- */

static void names(void **state)
{
	(void)state;
	assert_string_equal(sasl_cond_name(SASL_NOT_AUTHORIZED), "not-authorized");
	assert_string_equal(sasl_cond_name(SASL_MALFORMED_REQUEST), "malformed-request");
	assert_string_equal(sasl_cond_name(SASL_INVALID_AUTHZID), "invalid-authzid");
	assert_string_equal(sasl_cond_name(SASL_TEMPORARY_AUTH_FAILURE), "temporary-auth-failure");
	assert_string_equal(sasl_cond_name(SASL_ABORTED), "aborted");
	assert_string_equal(sasl_cond_name(SASL_INCORRECT_ENCODING), "incorrect-encoding");
	assert_string_equal(sasl_cond_name((enum sasl_cond)99), "not-authorized");
	assert_string_equal(scram_hash_name(SCRAM_SHA1), "SHA-1");
	assert_string_equal(scram_hash_name(SCRAM_SHA256), "SHA-256");
	assert_int_equal(scram_hash_len(SCRAM_SHA1), 20);
	assert_int_equal(scram_hash_len(SCRAM_SHA256), 32);
	assert_null(scram_hash_name((enum scram_hash)7));
	assert_int_equal(scram_hash_len((enum scram_hash)7), 0);
}

/* ---- Base64 ---- */

static void base64_vectors(void **state)
{
	(void)state;
	/* RFC 4648 §10 */
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					  "Zm9vYmFy"};
	for (size_t i = 0; i < 7; i++) {
		char *e = b64(plain[i], strlen(plain[i]));
		assert_string_equal(e, enc[i]);
		free(e);
		struct buf d = BUF_INIT;
		assert_int_equal(sasl_base64_decode(&d, enc[i], strlen(enc[i])), 0);
		assert_int_equal(d.len, strlen(plain[i]));
		assert_memory_equal(buf_cstr(&d), plain[i], d.len);
		buf_clear(&d);
	}
	/* Every byte value survives. */
	unsigned char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	char *e = b64(all, sizeof(all));
	struct buf d = BUF_INIT;
	assert_int_equal(sasl_base64_decode(&d, e, strlen(e)), 0);
	assert_int_equal(d.len, 256);
	assert_memory_equal(d.data, all, 256);
	buf_clear(&d);
	free(e);
}

static void base64_is_strict(void **state)
{
	(void)state;
	struct buf d = BUF_INIT;
	/* "=" alone is the empty response of RFC 6120 §6.4.2. */
	assert_int_equal(sasl_base64_decode(&d, "=", 1), 0);
	assert_int_equal(d.len, 0);
	assert_int_equal(sasl_base64_decode(&d, "", 0), 0);
	assert_int_equal(d.len, 0);

	static const char *const bad[] = {
		"Zg",	    "Zg=",	"Zm9",	   "Z===",     "====",	   "==",       "Zh==",
		"Zm9=",	    "Zg==Zg==", "=Zg=",	   "Z=g=",     "Zm9v====", "Zm 9v",    "Zm9v\n",
		" Zm9v",    "Zm9v\r\n", "Zm9-",	   "Zm9_",     "@@@@",	   "Zm9v\x80", "Zm=v",
		"Zm9vYg=A", "Zm9vY===",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_append_str(&d, "keep");
		if (sasl_base64_decode(&d, bad[i], strlen(bad[i])) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		/* A failed decode appends nothing. */
		assert_int_equal(d.len, 4);
		assert_memory_equal(d.data, "keep", 4);
		buf_reset(&d);
	}
	/* Embedded NUL. */
	assert_int_equal(sasl_base64_decode(&d, "Zm\0v", 4), -1);
	buf_clear(&d);
}

/* ---- SASLprep and records ---- */

static void check_prep(const char *in, const char *want, bool stored)
{
	char *got = sasl_saslprep(in, strlen(in), stored);
	if (!want) {
		if (got)
			fail_msg("SASLprep accepted \"%s\" as \"%s\"", in, got);
		return;
	}
	if (!got)
		fail_msg("SASLprep refused \"%s\"", in);
	assert_string_equal(got, want);
	sasl_prep_free(got);
}

static void saslprep(void **state)
{
	(void)state;
	/* RFC 4013 §3 examples. */
	check_prep("I\xC2\xADX", "IX", true);	 /* soft hyphen mapped to nothing */
	check_prep("user", "user", true);
	check_prep("USER", "USER", true);	 /* no case folding */
	check_prep("\xC2\xAA", "a", true);	 /* NFKC */
	check_prep("\xE2\x85\xA8", "IX", true);	 /* NFKC */
	check_prep("\x07", NULL, true);		 /* prohibited */
	check_prep("\xD8\xA7" "1", NULL, true); /* bidi */
	check_prep("a\xC2\xA0" "b", "a b", true); /* non-ASCII space to space */
	check_prep("\xC2\xAD", NULL, true);	 /* empty after mapping */
	check_prep("", NULL, true);
	check_prep("\xC3\x28", NULL, false);	 /* not UTF-8 */
	/* U+0221 was assigned after Unicode 3.2: refused in stored strings. */
	check_prep("a\xC8\xA1", NULL, true);
	check_prep("a\xC8\xA1", "a\xC8\xA1", false);
	assert_null(sasl_saslprep("a\0b", 3, false));
}

static void cred_round_trip(void **state)
{
	(void)state;
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		struct scram_cred c;
		assert_int_equal(scram_cred_make((enum scram_hash)h, "s3cr\xC3\xA9t", 4096, &c), 0);
		assert_int_equal(c.hash, h);
		assert_int_equal(c.iterations, 4096);
		assert_int_equal(c.salt_len, 16);
		assert_true(scram_cred_check_password(&c, "s3cr\xC3\xA9t", 7));
		assert_false(scram_cred_check_password(&c, "s3cr\xC3\xA9T", 7));
		assert_false(scram_cred_check_password(&c, "s3cr\xC3\xA9", 6));
		assert_false(scram_cred_check_password(&c, "", 0));
		assert_false(scram_cred_check_password(&c, "s3cr\xC3\xA9t\0", 8));
		/* Composed and decomposed é are one password after SASLprep. */
		assert_true(scram_cred_check_password(&c, "s3cre\xCC\x81t", 8));

		struct scram_cred d;
		assert_int_equal(scram_cred_make((enum scram_hash)h, "s3cr\xC3\xA9t", 4096, &d), 0);
		assert_memory_not_equal(c.salt, d.salt, 16);

		/* SASLprep happens before derivation: I<SOFT HYPHEN>X is IX. */
		assert_int_equal(scram_cred_make((enum scram_hash)h, "I\xC2\xADX", 4096, &c), 0);
		assert_true(scram_cred_check_password(&c, "IX", 2));
		assert_false(scram_cred_check_password(&c, "ix", 2));

		assert_int_equal(scram_cred_make((enum scram_hash)h, "", 4096, &c), -1);
		assert_int_equal(scram_cred_make((enum scram_hash)h, "\xC2\xAD", 4096, &c), -1);
		assert_int_equal(scram_cred_make((enum scram_hash)h, "a\x07", 4096, &c), -1);
		assert_int_equal(scram_cred_make((enum scram_hash)h, "\xFF", 4096, &c), -1);
		assert_int_equal(scram_cred_make((enum scram_hash)h, "pw", 0, &c), -1);
	}
	struct scram_cred c;
	unsigned char salt[SCRAM_SALT_MAX + 1] = {0};
	assert_int_equal(scram_cred_from_salt(SCRAM_SHA1, "pw", salt, 0, 1, &c), -1);
	assert_int_equal(scram_cred_from_salt(SCRAM_SHA1, "pw", salt, SCRAM_SALT_MAX + 1, 1, &c), -1);
	assert_int_equal(scram_cred_from_salt(SCRAM_SHA1, "pw", salt, SCRAM_SALT_MAX, 1, &c), 0);
	assert_int_equal(scram_cred_from_salt((enum scram_hash)5, "pw", salt, 16, 1, &c), -1);
}

/* ---- SCRAM: the RFC exchanges ---- */

static void run_vector(enum scram_hash h, const char *client_first, const char *snonce,
		       const char *server_first, const char *client_final_msg,
		       const char *server_final)
{
	struct scram_server *s = scram_server_new(h, false, false, NULL, NULL);
	struct buf out = BUF_INIT;
	scram_server_set_nonce(s, snonce);
	assert_int_equal(first(s, client_first), SASL_OK);
	assert_string_equal(scram_server_username(s), "user");
	assert_null(scram_server_authzid(s));
	scram_server_first(s, &pencil[h], &out);
	assert_string_equal(buf_cstr(&out), server_first);
	buf_reset(&out);
	assert_int_equal(final(s, client_final_msg, &out), SASL_OK);
	assert_string_equal(buf_cstr(&out), server_final);
	/* Nothing after success. */
	buf_reset(&out);
	assert_int_equal(final(s, client_final_msg, &out), SASL_MALFORMED_REQUEST);
	assert_int_equal(out.len, 0);
	buf_clear(&out);
	scram_server_free(s);
}

static void rfc5802_example(void **state)
{
	(void)state;
	run_vector(SCRAM_SHA1, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j",
		   "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		   "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		   "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

static void rfc7677_example(void **state)
{
	(void)state;
	run_vector(SCRAM_SHA256, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		   "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		   "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
		   "i=4096",
		   "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		   "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		   "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

static void scram_independent_client(void **state)
{
	(void)state;
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		struct scram_server *s = scram_server_new((enum scram_hash)h, false, true, NULL, NULL);
		assert_int_equal(exchange(s, &pencil[h], "n,,n=user,r=abcdefgh", "pencil", "biws"),
				 SASL_OK);
		scram_server_free(s);
	}
}

static void scram_server_nonce_is_fresh(void **state)
{
	(void)state;
	char first_nonce[64] = "";
	for (int i = 0; i < 2; i++) {
		struct scram_server *s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
		struct buf out = BUF_INIT;
		assert_int_equal(first(s, "n,,n=user,r=abc"), SASL_OK);
		scram_server_first(s, &pencil[SCRAM_SHA256], &out);
		char nonce[64];
		assert_int_equal(sscanf(buf_cstr(&out), "r=abc%63[^,],", nonce), 1);
		assert_int_equal(strlen(nonce), 32); /* 24 random bytes */
		if (i == 1)
			assert_string_not_equal(nonce, first_nonce);
		strcpy(first_nonce, nonce);
		buf_clear(&out);
		scram_server_free(s);
	}
}

/* ---- SCRAM: failures ---- */

static void scram_wrong_password(void **state)
{
	(void)state;
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		struct scram_server *s = scram_server_new((enum scram_hash)h, false, false, NULL, NULL);
		assert_int_equal(exchange(s, &pencil[h], "n,,n=user,r=abcdefgh", "Pencil", "biws"),
				 SASL_NOT_AUTHORIZED);
		/* And nothing after a failure. */
		struct buf out = BUF_INIT;
		assert_int_equal(final(s, "c=biws,r=x,p=AAAA", &out), SASL_MALFORMED_REQUEST);
		buf_clear(&out);
		scram_server_free(s);
	}
}

/* The server-first of `user` with no record, for hash h. */
static char *unknown_first(enum scram_hash h, const char *user)
{
	struct scram_server *s = scram_server_new(h, false, false, NULL, NULL);
	struct buf out = BUF_INIT;
	char *msg = NULL;
	assert_int_equal(asprintf(&msg, "n,,n=%s,r=abc", user) > 0, 1);
	assert_int_equal(first(s, msg), SASL_OK);
	scram_server_first(s, NULL, &out);
	free(msg);
	scram_server_free(s);
	return buf_steal(&out);
}

static void scram_unknown_user(void **state)
{
	(void)state;
	/* The server-first looks like that of a real record... */
	struct scram_cred real;
	assert_int_equal(scram_cred_make(SCRAM_SHA256, "pw", SCRAM_ITERATIONS_DEFAULT, &real), 0);
	char *a = unknown_first(SCRAM_SHA256, "nobody");
	char nonce[64], salt[64];
	unsigned iter;
	assert_int_equal(sscanf(a, "r=abc%63[^,],s=%63[^,],i=%u", nonce, salt, &iter), 3);
	assert_int_equal(strlen(nonce), 32);
	assert_int_equal(strlen(salt), 24); /* 16 bytes, as scram_cred_make's */
	assert_int_equal(iter, real.iterations);

	/* ...and stays the same across probes, */
	char *b = unknown_first(SCRAM_SHA256, "nobody");
	assert_string_equal(strstr(a, ",s="), strstr(b, ",s="));
	/* while names and hashes get salts of their own. */
	char *c = unknown_first(SCRAM_SHA256, "somebody");
	char *d = unknown_first(SCRAM_SHA1, "nobody");
	assert_string_not_equal(strstr(a, ",s="), strstr(c, ",s="));
	assert_string_not_equal(strstr(a, ",s="), strstr(d, ",s="));
	free(a);
	free(b);
	free(c);
	free(d);

	/* The announced count follows the one records are made with. */
	struct scram_server *its = scram_server_new(SCRAM_SHA1, false, false, NULL, NULL);
	struct buf itout = BUF_INIT;
	scram_server_set_unknown_iterations(its, 0);
	scram_server_set_unknown_iterations(its, 10000);
	assert_int_equal(first(its, "n,,n=nobody,r=abc"), SASL_OK);
	scram_server_first(its, NULL, &itout);
	assert_non_null(strstr(buf_cstr(&itout), ",i=10000"));
	buf_clear(&itout);
	scram_server_free(its);

	/* Step 3 fails with not-authorized, whatever the password. */
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		struct scram_server *s = scram_server_new((enum scram_hash)h, false, false, NULL, NULL);
		struct buf sf = BUF_INIT, out = BUF_INIT;
		assert_int_equal(first(s, "n,,n=nobody,r=abc"), SASL_OK);
		scram_server_first(s, NULL, &sf);
		char *cf = client_final((enum scram_hash)h, "pencil", "n=nobody,r=abc", buf_cstr(&sf),
					"biws");
		assert_int_equal(final(s, cf, &out), SASL_NOT_AUTHORIZED);
		assert_int_equal(out.len, 0);
		free(cf);
		buf_clear(&sf);
		buf_clear(&out);
		scram_server_free(s);
	}

	/* A record for the wrong hash counts as no record, even with the right
	 * password. */
	struct scram_server *s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
	struct buf sf = BUF_INIT, out = BUF_INIT;
	assert_int_equal(first(s, "n,,n=user,r=abc"), SASL_OK);
	scram_server_first(s, &pencil[SCRAM_SHA1], &sf);
	char *cf = client_final(SCRAM_SHA256, "pencil", "n=user,r=abc", buf_cstr(&sf), "biws");
	assert_int_equal(final(s, cf, &out), SASL_NOT_AUTHORIZED);
	free(cf);
	buf_clear(&sf);
	buf_clear(&out);
	scram_server_free(s);
}

static void scram_channel_binding(void **state)
{
	(void)state;
	struct scram_server *s;
	int calls = 0;
	struct buf gs2 = BUF_INIT;
	buf_append_str(&gs2, "p=tls-unique,,");
	buf_append(&gs2, test_cb_data, sizeof(test_cb_data));
	char *good = b64(gs2.data, gs2.len);
	buf_clear(&gs2);

	/* The binding matches. */
	s = scram_server_new(SCRAM_SHA256, true, true, test_cb, &calls);
	assert_int_equal(exchange(s, &pencil[SCRAM_SHA256], "p=tls-unique,,n=user,r=abc", "pencil",
				  good),
			 SASL_OK);
	assert_int_equal(calls, 1);
	scram_server_free(s);

	/* The client saw other binding data (a man in the middle). */
	buf_append_str(&gs2, "p=tls-unique,,");
	buf_append_str(&gs2, "0123456789ac");
	char *other = b64(gs2.data, gs2.len);
	buf_clear(&gs2);
	s = scram_server_new(SCRAM_SHA256, true, true, test_cb, NULL);
	assert_int_equal(exchange(s, &pencil[SCRAM_SHA256], "p=tls-unique,,n=user,r=abc", "pencil",
				  other),
			 SASL_NOT_AUTHORIZED);
	scram_server_free(s);
	/* Or left the data out. */
	s = scram_server_new(SCRAM_SHA256, true, true, test_cb, NULL);
	assert_int_equal(exchange(s, &pencil[SCRAM_SHA256], "p=tls-unique,,n=user,r=abc", "pencil",
				  "cD10bHMtdW5pcXVlLCw="),
			 SASL_NOT_AUTHORIZED);
	scram_server_free(s);
	free(other);
	free(good);

	/* "y": the client supports binding but did not see -PLUS. */
	s = scram_server_new(SCRAM_SHA256, false, false, test_cb, NULL);
	assert_int_equal(exchange(s, &pencil[SCRAM_SHA256], "y,,n=user,r=abc", "pencil", "eSws"),
			 SASL_OK);
	scram_server_free(s);
	/* c= must carry the gs2-header as sent. */
	s = scram_server_new(SCRAM_SHA256, false, false, test_cb, NULL);
	assert_int_equal(exchange(s, &pencil[SCRAM_SHA256], "y,,n=user,r=abc", "pencil", "biws"),
			 SASL_NOT_AUTHORIZED);
	scram_server_free(s);
	s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
	assert_int_equal(exchange(s, &pencil[SCRAM_SHA256], "n,a=user,n=user,r=abc", "pencil",
				  "bixhPXVzZXIs"),
			 SASL_OK);
	scram_server_free(s);

	/* Step 1 refusals. */
	/* Step 1 refusals, each with the reason the throttle and the log see:
	 * none of them is a failed check of credentials. */
	struct {
		bool plus, server_plus, with_cb;
		const char *msg;
		enum scram_refusal want;
	} refused[] = {
		/* "y" where -PLUS was offered: a downgrade. */
		{false, true, true, "y,,n=user,r=abc", SCRAM_REFUSED_Y_DOWNGRADE},
		/* "p" with a non-PLUS mechanism. */
		{false, true, true, "p=tls-unique,,n=user,r=abc", SCRAM_REFUSED_P_ON_PLAIN},
		/* "n" or "y" with a PLUS mechanism. */
		{true, true, true, "n,,n=user,r=abc", SCRAM_REFUSED_N_ON_PLUS},
		{true, true, true, "y,,n=user,r=abc", SCRAM_REFUSED_Y_DOWNGRADE},
		/* A type this connection cannot supply, or nobody knows. */
		{true, true, true, "p=tls-exporter,,n=user,r=abc", SCRAM_REFUSED_CB_TYPE},
		{true, true, true, "p=tls-server-end-point,,n=user,r=abc", SCRAM_REFUSED_CB_TYPE},
		{true, true, true, "p=tls-foo,,n=user,r=abc", SCRAM_REFUSED_CB_TYPE},
		/* No binding at all on this connection. */
		{true, true, false, "p=tls-unique,,n=user,r=abc", SCRAM_REFUSED_CB_TYPE},
		/* A username SASLprep refuses (a control character). */
		{false, false, false, "n,,n=us\x07" "er,r=abc", SCRAM_REFUSED_USERNAME},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		s = scram_server_new(SCRAM_SHA256, refused[i].plus, refused[i].server_plus,
				     refused[i].with_cb ? test_cb : NULL, NULL);
		if (first(s, refused[i].msg) != SASL_NOT_AUTHORIZED)
			fail_msg("not refused: %s", refused[i].msg);
		if (scram_server_refusal(s) != refused[i].want)
			fail_msg("%s: refused as '%s', not '%s'", refused[i].msg,
				 scram_refusal_text(scram_server_refusal(s)), scram_refusal_text(refused[i].want));
		scram_server_free(s);
	}
}

/* Step 3: only a wrong proof (or no such account) is a failed check of
 * credentials; binding data that differs is not. */
static void scram_refusal_kinds(void **state)
{
	(void)state;
	struct scram_server *s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
	assert_int_equal(exchange(s, &pencil[SCRAM_SHA256], "n,,n=user,r=abc", "wrong", "biws"),
			 SASL_NOT_AUTHORIZED);
	assert_int_equal(scram_server_refusal(s), SCRAM_REFUSED_CREDENTIALS);
	scram_server_free(s);

	s = scram_server_new(SCRAM_SHA256, true, true, test_cb, NULL);
	assert_int_equal(exchange(s, &pencil[SCRAM_SHA256], "p=tls-unique,,n=user,r=abc", "pencil",
				  "cD10bHMtdW5pcXVlLCw="),
			 SASL_NOT_AUTHORIZED);
	assert_int_equal(scram_server_refusal(s), SCRAM_REFUSED_CB_MISMATCH);
	scram_server_free(s);

	/* Unknown account: credentials, whatever the password. */
	s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
	struct buf sf = BUF_INIT, out = BUF_INIT;
	assert_int_equal(first(s, "n,,n=user,r=abc"), SASL_OK);
	scram_server_first(s, NULL, &sf);
	char *cf = client_final(SCRAM_SHA256, "pencil", "n=user,r=abc", buf_cstr(&sf), "biws");
	assert_int_equal(final(s, cf, &out), SASL_NOT_AUTHORIZED);
	assert_int_equal(scram_server_refusal(s), SCRAM_REFUSED_CREDENTIALS);
	free(cf);
	buf_clear(&sf);
	buf_clear(&out);
	scram_server_free(s);

	/* Malformed is malformed, and every reason has a text. */
	s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
	assert_int_equal(first(s, "x,,n=user,r=abc"), SASL_MALFORMED_REQUEST);
	assert_int_equal(scram_server_refusal(s), SCRAM_REFUSED_MALFORMED);
	scram_server_free(s);
	for (int r = 0; r < SCRAM_REFUSAL_COUNT; r++)
		assert_non_null(scram_refusal_text((enum scram_refusal)r));
}

static void scram_authzid(void **state)
{
	(void)state;
	struct scram_server *s = scram_server_new(SCRAM_SHA1, false, false, NULL, NULL);
	assert_int_equal(first(s, "n,a=ju=2Cl=3Diet@example.com,n=us=3Der=2c,r=abc"), SASL_OK);
	assert_string_equal(scram_server_authzid(s), "ju,l=iet@example.com");
	assert_string_equal(scram_server_username(s), "us=er,");
	scram_server_free(s);

	s = scram_server_new(SCRAM_SHA1, false, false, NULL, NULL);
	assert_int_equal(first(s, "n,a=admin@example.com,n=user,r=abc"), SASL_OK);
	assert_string_equal(scram_server_authzid(s), "admin@example.com");
	scram_server_free(s);

	/* The username is SASLprep'ed; the authzid is not (it is a JID). */
	s = scram_server_new(SCRAM_SHA1, false, false, NULL, NULL);
	assert_int_equal(first(s, "n,a=A\xC2\xAD,n=I\xC2\xADX,r=abc"), SASL_OK);
	assert_string_equal(scram_server_username(s), "IX");
	assert_string_equal(scram_server_authzid(s), "A\xC2\xAD");
	scram_server_free(s);

	/* A username SASLprep refuses. */
	s = scram_server_new(SCRAM_SHA1, false, false, NULL, NULL);
	assert_int_equal(first(s, "n,,n=a\x07" "b,r=abc"), SASL_NOT_AUTHORIZED);
	assert_null(scram_server_username(s));
	scram_server_free(s);
}

static void scram_malformed_first(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"n",
		"n,",
		"n,,",
		"x,,n=user,r=abc",
		"p,,n=user,r=abc",
		"p=,,n=user,r=abc",
		"p=tls_unique,,n=user,r=abc",
		"n,n=user,r=abc",		 /* gs2-header lacks a comma */
		"n,,r=abc",			 /* no n= */
		"n,,n=,r=abc",			 /* empty username */
		"n,,n=user",			 /* no r= */
		"n,,n=user,r=",			 /* empty nonce */
		"n,,n=user,r=a b",		 /* nonce not printable */
		"n,,n=user,r=\xC3\xA9",
		"n,,r=abc,n=user",		 /* wrong order */
		"n,,m=foo,n=user,r=abc",	 /* reserved m= */
		"n,,n=user,r=abc,m=foo",
		"n,,n=user,r=abc,",		 /* empty extension */
		"n,,n=user,r=abc,x",
		"n,,n=user,r=abc,x=",
		"n,,n=user,r=abc,1=x",
		"n,,n=us=2Xer,r=abc",		 /* bad escapes */
		"n,,n=us=er,r=abc",
		"n,,n=user=,r=abc",
		"n,,n=user=2,r=abc",
		"n,,n=us=3d=3,r=abc",
		"n,a=,n=user,r=abc",		 /* empty authzid */
		"n,a=x=40y,n=user,r=abc",
		"n,b=x,n=user,r=abc",
		"n,,n=\xFF,r=abc",		 /* not UTF-8 */
		"n,a=\xC3,n=user,r=abc",
		"n,,n=user,r=abc,x=\xFF",
		"N,,n=user,r=abc",
		" n,,n=user,r=abc",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct scram_server *s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
		if (first(s, bad[i]) != SASL_MALFORMED_REQUEST)
			fail_msg("not malformed: \"%s\"", bad[i]);
		/* After a failure, nothing. */
		struct buf out = BUF_INIT;
		scram_server_first(s, &pencil[SCRAM_SHA256], &out);
		assert_int_equal(out.len, 0);
		scram_server_free(s);
	}

	/* Embedded NUL, and the size limit. */
	struct scram_server *s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
	assert_int_equal(scram_server_client_first(s, "n,,n=u\0x,r=abc", 14), SASL_MALFORMED_REQUEST);
	scram_server_free(s);
	char big[SASL_MSG_MAX + 2];
	memcpy(big, "n,,n=user,r=", 12);
	memset(big + 12, 'a', sizeof(big) - 12);
	s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
	assert_int_equal(scram_server_client_first(s, big, SASL_MSG_MAX + 1), SASL_MALFORMED_REQUEST);
	scram_server_free(s);
	s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
	assert_int_equal(scram_server_client_first(s, big, SASL_MSG_MAX), SASL_OK);
	scram_server_free(s);

	/* Extensions are ignored. */
	s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
	assert_int_equal(exchange(s, &pencil[SCRAM_SHA256], "n,,n=user,r=abc,x=1,Y=a=b", "pencil",
				  "biws"),
			 SASL_OK);
	scram_server_free(s);
}

/* Runs steps 1 and 2 with the RFC 7677 nonce, then `msg` as step 3. */
static enum sasl_cond final_after_vector(const char *msg)
{
	struct scram_server *s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
	struct buf out = BUF_INIT;
	scram_server_set_nonce(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	assert_int_equal(first(s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), SASL_OK);
	scram_server_first(s, &pencil[SCRAM_SHA256], &out);
	buf_reset(&out);
	enum sasl_cond cond = final(s, msg, &out);
	if (cond != SASL_OK)
		assert_int_equal(out.len, 0);
	buf_clear(&out);
	scram_server_free(s);
	return cond;
}

#define R "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define P "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="

static void scram_malformed_final(void **state)
{
	(void)state;
	assert_int_equal(final_after_vector("c=biws," R "," P), SASL_OK);
	/* An extension is accepted, but the proof covers it. */
	assert_int_equal(final_after_vector("c=biws," R ",x=y," P), SASL_NOT_AUTHORIZED);

	static const char *const malformed[] = {
		"",
		"c=biws," R,			     /* no proof */
		"c=biws," R ",",
		"c=biws," R "," P ",x=y",	     /* proof not last */
		R ",c=biws," P,			     /* order */
		"c=biws," P,			     /* no nonce */
		"c=bi@s," R "," P,		     /* c= not base64 */
		"c=biw," R "," P,
		"c=," R "," P,
		"c=biws," R ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",
		"c=biws," R ",p=",
		"c=biws," R ",p=dHzb ZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO," P,  /* nonce without the server's part */
		"c=biws," R "x," P,		     /* nonce mismatch */
		"c=biws,r=," P,
		"c=biws," R ",m=x," P,		     /* reserved m= */
		"c=biws," R ",=x," P,
		"c=biws," R ",," P,
		"c=biws," R ",x=\xFF," P,
	};
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		if (final_after_vector(malformed[i]) != SASL_MALFORMED_REQUEST)
			fail_msg("not malformed: \"%s\"", malformed[i]);

	static const char *const refused[] = {
		"c=eSws," R "," P,		     /* "y,," instead of "n,," */
		"c==," R "," P,			     /* "=" is valid (empty) base64 */
		"c=biws," R ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVE=",
		"c=biws," R ",p=AAAA",		     /* short proof */
		"c=biws," R ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQAAA==",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (final_after_vector(refused[i]) != SASL_NOT_AUTHORIZED)
			fail_msg("not refused: \"%s\"", refused[i]);

	/* Embedded NUL and size limit. */
	struct scram_server *s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
	struct buf out = BUF_INIT;
	scram_server_set_nonce(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	assert_int_equal(first(s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), SASL_OK);
	scram_server_first(s, &pencil[SCRAM_SHA256], &out);
	const char msg[] = "c=biws," R "," P;
	char *big = calloc(1, SASL_MSG_MAX + 1);
	memcpy(big, msg, sizeof(msg) - 1);
	assert_int_equal(scram_server_client_final(s, big, SASL_MSG_MAX + 1, &out),
			 SASL_MALFORMED_REQUEST);
	free(big);
	buf_clear(&out);
	scram_server_free(s);

	s = scram_server_new(SCRAM_SHA256, false, false, NULL, NULL);
	scram_server_set_nonce(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	assert_int_equal(first(s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), SASL_OK);
	scram_server_first(s, &pencil[SCRAM_SHA256], &out);
	const char nul[] = "c=biws," R ",x=\0," P;
	assert_int_equal(scram_server_client_final(s, nul, sizeof(nul) - 1, &out),
			 SASL_MALFORMED_REQUEST);
	buf_clear(&out);
	scram_server_free(s);
}

#undef R
#undef P

static void scram_steps_out_of_order(void **state)
{
	(void)state;
	struct buf out = BUF_INIT;

	/* Final before first. */
	struct scram_server *s = scram_server_new(SCRAM_SHA1, false, false, NULL, NULL);
	assert_int_equal(final(s, "c=biws,r=abc,p=AAAA", &out), SASL_MALFORMED_REQUEST);
	assert_int_equal(first(s, "n,,n=user,r=abc"), SASL_MALFORMED_REQUEST);
	scram_server_free(s);

	/* Server-first before client-first: nothing written, exchange over. */
	s = scram_server_new(SCRAM_SHA1, false, false, NULL, NULL);
	scram_server_first(s, &pencil[SCRAM_SHA1], &out);
	assert_int_equal(out.len, 0);
	assert_int_equal(first(s, "n,,n=user,r=abc"), SASL_MALFORMED_REQUEST);
	scram_server_free(s);

	/* Client-first twice. */
	s = scram_server_new(SCRAM_SHA1, false, false, NULL, NULL);
	assert_int_equal(first(s, "n,,n=user,r=abc"), SASL_OK);
	assert_int_equal(first(s, "n,,n=user,r=abc"), SASL_MALFORMED_REQUEST);
	scram_server_free(s);

	/* Final without server-first. */
	s = scram_server_new(SCRAM_SHA1, false, false, NULL, NULL);
	assert_int_equal(first(s, "n,,n=user,r=abc"), SASL_OK);
	assert_int_equal(final(s, "c=biws,r=abc,p=AAAA", &out), SASL_MALFORMED_REQUEST);
	scram_server_free(s);

	/* Server-first twice. */
	s = scram_server_new(SCRAM_SHA1, false, false, NULL, NULL);
	assert_int_equal(first(s, "n,,n=user,r=abc"), SASL_OK);
	scram_server_first(s, &pencil[SCRAM_SHA1], &out);
	size_t len = out.len;
	scram_server_first(s, &pencil[SCRAM_SHA1], &out);
	assert_int_equal(out.len, len);
	assert_int_equal(final(s, "c=biws,r=abc,p=AAAA", &out), SASL_MALFORMED_REQUEST);
	scram_server_free(s);

	/* Free accepts NULL and a server at any step. */
	scram_server_free(NULL);
	scram_server_free(scram_server_new(SCRAM_SHA256, true, true, test_cb, NULL));
	buf_clear(&out);
}

/* ---- PLAIN ---- */

static enum sasl_cond plain(struct arena *a, const char *msg, size_t len, const char **z,
			    const char **c, const char **p, size_t *plen)
{
	return sasl_plain_parse(a, msg, len, z, c, p, plen);
}

#define PLAIN(a, lit, z, c, p, n) plain(a, lit, sizeof(lit) - 1, z, c, p, n)

static void plain_parse(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	const char *z, *c, *p;
	size_t n;

	assert_int_equal(PLAIN(a, "\0user\0pencil", &z, &c, &p, &n), SASL_OK);
	assert_null(z);
	assert_string_equal(c, "user");
	assert_string_equal(p, "pencil");
	assert_int_equal(n, 6);

	assert_int_equal(PLAIN(a, "admin@example.com\0user\0pen cil", &z, &c, &p, &n), SASL_OK);
	assert_string_equal(z, "admin@example.com");
	assert_string_equal(c, "user");
	assert_string_equal(p, "pen cil");
	assert_int_equal(n, 7);

	/* The authcid is SASLprep'ed, the password kept as sent (checking
	 * prepares it). */
	assert_int_equal(PLAIN(a, "\0I\xC2\xADX\0I\xC2\xADX", &z, &c, &p, &n), SASL_OK);
	assert_string_equal(c, "IX");
	assert_string_equal(p, "I\xC2\xADX");
	assert_int_equal(n, 4);

	static const struct {
		const char *msg;
		size_t len;
		enum sasl_cond want;
	} cases[] = {
		{"user\0pencil", 11, SASL_MALFORMED_REQUEST},	    /* one NUL */
		{"userpencil", 10, SASL_MALFORMED_REQUEST},	    /* none */
		{"\0user", 5, SASL_MALFORMED_REQUEST},
		{"\0\0pencil", 8, SASL_MALFORMED_REQUEST},	    /* empty authcid */
		{"\0user\0", 6, SASL_MALFORMED_REQUEST},	    /* empty password */
		{"\0user\0pen\0cil", 13, SASL_MALFORMED_REQUEST},  /* extra NUL */
		{"\0user\0pencil\0", 13, SASL_MALFORMED_REQUEST},
		{"\0\0\0", 3, SASL_MALFORMED_REQUEST},
		{"", 0, SASL_MALFORMED_REQUEST},
		{"\0us\xFF\0pencil", 11, SASL_MALFORMED_REQUEST}, /* not UTF-8 */
		{"\0user\0pen\xC3", 10, SASL_MALFORMED_REQUEST},
		{"\xC3\0user\0pencil", 13, SASL_MALFORMED_REQUEST},
		{"\0us\x07r\0pencil", 12, SASL_NOT_AUTHORIZED},	    /* SASLprep refuses */
		{"\0\xC2\xAD\0pencil", 10, SASL_NOT_AUTHORIZED},	    /* prepares to nothing */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum sasl_cond got = plain(a, cases[i].msg, cases[i].len, &z, &c, &p, &n);
		if (got != cases[i].want)
			fail_msg("case %zu: %s, want %s", i, sasl_cond_name(got),
				 sasl_cond_name(cases[i].want));
		assert_null(c);
		assert_null(p);
	}

	/* Over-long. */
	char *big = malloc(SASL_MSG_MAX + 1);
	memset(big, 'a', SASL_MSG_MAX + 1);
	big[0] = '\0';
	big[5] = '\0';
	assert_int_equal(plain(a, big, SASL_MSG_MAX + 1, &z, &c, &p, &n), SASL_MALFORMED_REQUEST);
	assert_int_equal(plain(a, big, SASL_MSG_MAX, &z, &c, &p, &n), SASL_OK);
	assert_int_equal(n, SASL_MSG_MAX - 6);
	free(big);

	/* The password checks against a record. */
	assert_int_equal(PLAIN(a, "\0user\0pencil", &z, &c, &p, &n), SASL_OK);
	assert_true(scram_cred_check_password(&pencil[SCRAM_SHA1], p, n));
	assert_true(scram_cred_check_password(&pencil[SCRAM_SHA256], p, n));
	assert_int_equal(PLAIN(a, "\0user\0pencil!", &z, &c, &p, &n), SASL_OK);
	assert_false(scram_cred_check_password(&pencil[SCRAM_SHA256], p, n));

	arena_free(a);
	arena_cache_drain();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names),
		cmocka_unit_test(base64_vectors),
		cmocka_unit_test(base64_is_strict),
		cmocka_unit_test(saslprep),
		cmocka_unit_test(cred_round_trip),
		cmocka_unit_test(rfc5802_example),
		cmocka_unit_test(rfc7677_example),
		cmocka_unit_test(scram_independent_client),
		cmocka_unit_test(scram_server_nonce_is_fresh),
		cmocka_unit_test(scram_wrong_password),
		cmocka_unit_test(scram_unknown_user),
		cmocka_unit_test(scram_channel_binding),
		cmocka_unit_test(scram_refusal_kinds),
		cmocka_unit_test(scram_authzid),
		cmocka_unit_test(scram_malformed_first),
		cmocka_unit_test(scram_malformed_final),
		cmocka_unit_test(scram_steps_out_of_order),
		cmocka_unit_test(plain_parse),
	};
	return cmocka_run_group_tests_name("sasl", tests, make_pencil, NULL);
}
