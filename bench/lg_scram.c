/*
 * lg_scram: the client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) for the
 * load generator, on OpenSSL.  PBKDF2 runs once per distinct (password,
 * salt, iterations) and its derived keys are cached, so that logging in
 * thousands of times costs the generator two HMACs each, not 4096.
 * No channel binding (gs2 header "n,,"): every server gets the same
 * mechanism.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

unsigned long scram_pbkdf2_runs;

size_t b64_encode(const void *in, size_t n, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

long b64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
	while (n > 0 && (in[n - 1] == '\n' || in[n - 1] == '\r' || in[n - 1] == ' '))
		n--;
	if (n % 4 != 0 || n / 4 * 3 > cap + 2)
		return -1;
	unsigned char *tmp = malloc(n / 4 * 3 + 1);
	if (!tmp)
		abort();
	int len = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)n);
	if (len < 0) {
		free(tmp);
		return -1;
	}
	/* EVP_DecodeBlock counts padding as zero bytes. */
	if (n >= 1 && in[n - 1] == '=')
		len--;
	if (n >= 2 && in[n - 2] == '=')
		len--;
	if ((size_t)len > cap) {
		free(tmp);
		return -1;
	}
	memcpy(out, tmp, (size_t)len);
	free(tmp);
	return len;
}

/* ---- the salted-password cache ---- */

struct cache_ent {
	char *key;	/* password \0 salt, with lengths below */
	size_t pwlen, saltlen;
	unsigned iterations;
	struct scram_keys keys;
};

static struct cache_ent *cache;
static size_t cache_n, cache_cap;

static void hmac256(const unsigned char *key, size_t klen, const void *data, size_t n, unsigned char out[32])
{
	unsigned int len = 32;
	if (!HMAC(EVP_sha256(), key, (int)klen, data, n, out, &len))
		abort();
}

const struct scram_keys *scram_keys(const char *password, const unsigned char *salt, size_t saltlen,
				    unsigned iterations)
{
	size_t pwlen = strlen(password);
	for (size_t i = 0; i < cache_n; i++) {
		struct cache_ent *e = &cache[i];
		if (e->iterations == iterations && e->pwlen == pwlen && e->saltlen == saltlen &&
		    memcmp(e->key, password, pwlen) == 0 && memcmp(e->key + pwlen, salt, saltlen) == 0)
			return &e->keys;
	}
	/* A linear cache is enough: servers that give every account its own
	 * salt get one entry per account, looked up once per login; past
	 * 4096 entries the oldest half goes. */
	if (cache_n == 4096) {
		for (size_t i = 0; i < 2048; i++)
			free(cache[i].key);
		memmove(cache, cache + 2048, 2048 * sizeof *cache);
		cache_n = 2048;
	}
	if (cache_n == cache_cap) {
		cache_cap = cache_cap ? cache_cap * 2 : 64;
		cache = realloc(cache, cache_cap * sizeof *cache);
		if (!cache)
			abort();
	}
	struct cache_ent *e = &cache[cache_n++];
	e->key = malloc(pwlen + saltlen + 1);
	if (!e->key)
		abort();
	memcpy(e->key, password, pwlen);
	memcpy(e->key + pwlen, salt, saltlen);
	e->pwlen = pwlen;
	e->saltlen = saltlen;
	e->iterations = iterations;
	unsigned char salted[32];
	if (!PKCS5_PBKDF2_HMAC(password, (int)pwlen, salt, (int)saltlen, (int)iterations, EVP_sha256(), 32,
			       salted))
		abort();
	scram_pbkdf2_runs++;
	hmac256(salted, 32, "Client Key", 10, e->keys.client_key);
	SHA256(e->keys.client_key, 32, e->keys.stored_key);
	hmac256(salted, 32, "Server Key", 10, e->keys.server_key);
	return &e->keys;
}

/* Finds "k=" at the start of a comma-separated attribute; returns its
 * value and length. */
static const char *scram_attr(const char *msg, char k, size_t *len)
{
	const char *p = msg;
	while (p && *p) {
		if (p[0] == k && p[1] == '=') {
			const char *v = p + 2;
			const char *end = strchr(v, ',');
			*len = end ? (size_t)(end - v) : strlen(v);
			return v;
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return NULL;
}

bool scram_client_final(const char *password, const char *cfirst_bare, const char *cnonce,
			const char *server_first, char *out, size_t outcap, char *server_sig, size_t sigcap)
{
	size_t rlen = 0, slen = 0, ilen = 0;
	const char *r = scram_attr(server_first, 'r', &rlen);
	const char *s = scram_attr(server_first, 's', &slen);
	const char *i = scram_attr(server_first, 'i', &ilen);
	size_t cnlen = strlen(cnonce);
	if (!r || !s || !i || rlen <= cnlen || strncmp(r, cnonce, cnlen) != 0 || slen > 256)
		return false;
	unsigned char salt[200];
	long saltlen = b64_decode(s, slen, salt, sizeof salt);
	unsigned iterations = (unsigned)strtoul(i, NULL, 10);
	if (saltlen <= 0 || iterations == 0 || iterations > 10000000)
		return false;
	const struct scram_keys *k = scram_keys(password, salt, (size_t)saltlen, iterations);

	char without_proof[512];
	int wl = snprintf(without_proof, sizeof without_proof, "c=biws,r=%.*s", (int)rlen, r);
	if (wl < 0 || (size_t)wl >= sizeof without_proof)
		return false;
	size_t amlen = strlen(cfirst_bare) + strlen(server_first) + (size_t)wl + 3;
	char *authmsg = malloc(amlen);
	if (!authmsg)
		abort();
	snprintf(authmsg, amlen, "%s,%s,%s", cfirst_bare, server_first, without_proof);

	unsigned char sig[32], proof[32], ssig[32];
	hmac256(k->stored_key, 32, authmsg, strlen(authmsg), sig);
	for (int b = 0; b < 32; b++)
		proof[b] = k->client_key[b] ^ sig[b];
	hmac256(k->server_key, 32, authmsg, strlen(authmsg), ssig);
	free(authmsg);

	char proof64[48], final[640];
	b64_encode(proof, 32, proof64);
	int fl = snprintf(final, sizeof final, "%s,p=%s", without_proof, proof64);
	if (fl < 0 || (size_t)fl >= sizeof final || outcap < 4 * (((size_t)fl + 2) / 3) + 1 || sigcap < 48)
		return false;
	b64_encode(final, (size_t)fl, out);
	b64_encode(ssig, 32, server_sig);
	return true;
}
