/*
 * cred: SCRAM credential records (RFC 5802 §3): SaltedPassword by PBKDF2,
 * then StoredKey = H(HMAC(SaltedPassword, "Client Key")) and ServerKey =
 * HMAC(SaltedPassword, "Server Key").  The password itself is never kept;
 * PLAIN logins are checked by deriving again.  Storage of the records is
 * store/'s business.
 */
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/log.h"
#include "sasl/internal.h"

static const struct {
	const char *name;
	size_t len;
} scram_hashes[SCRAM_HASH_COUNT] = {
	[SCRAM_SHA1] = {"SHA-1", 20},
	[SCRAM_SHA256] = {"SHA-256", 32},
};

bool scram_hash_valid(enum scram_hash h)
{
	return (unsigned)h < SCRAM_HASH_COUNT;
}

const char *scram_hash_name(enum scram_hash h)
{
	return scram_hash_valid(h) ? scram_hashes[h].name : NULL;
}

size_t scram_hash_len(enum scram_hash h)
{
	return scram_hash_valid(h) ? scram_hashes[h].len : 0;
}

static const EVP_MD *scram_md(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

void scram_digest(enum scram_hash h, const void *p, size_t n, unsigned char *out)
{
	if (!EVP_Digest(p, n, out, NULL, scram_md(h), NULL))
		log_fatal("sasl", "EVP_Digest failed");
}

void scram_hmac(enum scram_hash h, const void *key, size_t key_len, const void *p, size_t n,
		unsigned char *out)
{
	if (key_len > INT_MAX || !HMAC(scram_md(h), key, (int)key_len, p, n, out, NULL))
		log_fatal("sasl", "HMAC failed");
}

/* Fills the keys of `out` from an already SASLprep'ed password. */
static int scram_derive(enum scram_hash h, const char *prepped, const unsigned char *salt,
			size_t salt_len, unsigned iterations, unsigned char *stored_key,
			unsigned char *server_key)
{
	unsigned char salted[SCRAM_KEY_MAX], client_key[SCRAM_KEY_MAX];
	size_t hlen = scram_hash_len(h);

	if (iterations > INT_MAX)
		return -1;
	if (!PKCS5_PBKDF2_HMAC(prepped, (int)strlen(prepped), salt, (int)salt_len, (int)iterations,
			       scram_md(h), (int)hlen, salted))
		log_fatal("sasl", "PKCS5_PBKDF2_HMAC failed");
	scram_hmac(h, salted, hlen, "Client Key", 10, client_key);
	scram_digest(h, client_key, hlen, stored_key);
	scram_hmac(h, salted, hlen, "Server Key", 10, server_key);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return 0;
}

int scram_cred_from_salt(enum scram_hash h, const char *password, const unsigned char *salt,
			 size_t salt_len, unsigned iterations, struct scram_cred *out)
{
	if (!scram_hash_valid(h) || !password || !salt || salt_len == 0 ||
	    salt_len > SCRAM_SALT_MAX || iterations == 0 || iterations > INT_MAX)
		return -1;
	char *prepped = sasl_saslprep(password, strlen(password), true);
	if (!prepped)
		return -1;

	memset(out, 0, sizeof(*out));
	out->hash = h;
	out->iterations = iterations;
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	int rc = scram_derive(h, prepped, salt, salt_len, iterations, out->stored_key,
			      out->server_key);
	sasl_prep_free(prepped);
	return rc;
}

int scram_cred_make(enum scram_hash h, const char *password, unsigned iterations,
		    struct scram_cred *out)
{
	unsigned char salt[SCRAM_SALT_LEN];

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		log_fatal("sasl", "RAND_bytes failed");
	return scram_cred_from_salt(h, password, salt, sizeof(salt), iterations, out);
}

bool scram_cred_check_password(const struct scram_cred *c, const char *password, size_t len)
{
	unsigned char stored_key[SCRAM_KEY_MAX], server_key[SCRAM_KEY_MAX];

	if (!c || !password || !scram_hash_valid(c->hash) || c->salt_len == 0 ||
	    c->salt_len > SCRAM_SALT_MAX || c->iterations == 0)
		return false;
	char *prepped = sasl_saslprep(password, len, true);
	if (!prepped)
		return false;
	int rc = scram_derive(c->hash, prepped, c->salt, c->salt_len, c->iterations, stored_key,
			      server_key);
	sasl_prep_free(prepped);
	if (rc != 0)
		return false;
	size_t hlen = scram_hash_len(c->hash);
	/* Both keys, and both compared whatever the first gave. */
	int diff = CRYPTO_memcmp(stored_key, c->stored_key, hlen) |
		   CRYPTO_memcmp(server_key, c->server_key, hlen);
	OPENSSL_cleanse(stored_key, sizeof(stored_key));
	OPENSSL_cleanse(server_key, sizeof(server_key));
	return diff == 0;
}
