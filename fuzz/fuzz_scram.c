/*
 * fuzz_scram: libFuzzer target for the parsers of sasl/.  The input is cut
 * at its first '\n' into a client-first and a client-final message, which
 * run through SCRAM servers of both hashes in every binding mode (no
 * binding offered, -PLUS offered but not used, -PLUS with tls-unique).
 * The user "user" has a fixed record and each server a fixed nonce, so the
 * seeds in fuzz/corpus/scram/ reach a successful step 3; any other user
 * takes the unknown-user path.  The whole input also goes through
 * sasl_plain_parse (and the password it yields through a cheap record)
 * and sasl_base64_decode, whose strictness is checked by re-encoding.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "sasl/internal.h"
#include "sasl/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Server nonces of the RFC 5802 and RFC 7677 examples, so the examples
 * themselves are seeds that log in. */
static const char *const fuzz_nonce[SCRAM_HASH_COUNT] = {
	[SCRAM_SHA1] = "3rfcNHYJY1ZVvWVs7j",
	[SCRAM_SHA256] = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
};
static const char *const fuzz_salt[SCRAM_HASH_COUNT] = {
	[SCRAM_SHA1] = "QSXCR+Q6sek8bf92",
	[SCRAM_SHA256] = "W22ZaJ0SNY7soEsUEjb6gQ==",
};
static const unsigned char fuzz_cb_data[12] = "0123456789ab";

static struct scram_cred fuzz_cred[SCRAM_HASH_COUNT];
static struct scram_cred fuzz_cheap; /* one iteration: PLAIN checks stay fast */
static bool fuzz_ready;

static void fuzz_setup(void)
{
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		struct buf salt = BUF_INIT;
		if (sasl_base64_decode(&salt, fuzz_salt[h], strlen(fuzz_salt[h])) != 0 ||
		    scram_cred_from_salt((enum scram_hash)h, "pencil", (unsigned char *)salt.data,
					 salt.len, 4096, &fuzz_cred[h]) != 0)
			abort();
		buf_clear(&salt);
	}
	if (scram_cred_from_salt(SCRAM_SHA256, "pencil", (const unsigned char *)"salt", 4, 1,
				 &fuzz_cheap) != 0)
		abort();
	fuzz_ready = true;
}

static int fuzz_cb(void *ud, const char *type, unsigned char *out, size_t *len)
{
	(void)ud;
	if (strcmp(type, "tls-unique") != 0 || *len < sizeof(fuzz_cb_data))
		return -1;
	memcpy(out, fuzz_cb_data, sizeof(fuzz_cb_data));
	*len = sizeof(fuzz_cb_data);
	return 0;
}

static void fuzz_scram_run(enum scram_hash h, bool plus, bool server_plus, const char *first,
			   size_t first_len, const char *final, size_t final_len)
{
	struct scram_server *s = scram_server_new(h, plus, server_plus, plus ? fuzz_cb : NULL, NULL);
	struct buf out = BUF_INIT;

	scram_server_set_nonce(s, fuzz_nonce[h]);
	if (scram_server_client_first(s, first, first_len) != SASL_OK)
		goto free_server;
	const char *user = scram_server_username(s);
	if (!user || (scram_server_authzid(s) && !*scram_server_authzid(s)))
		abort();
	scram_server_first(s, strcmp(user, "user") == 0 ? &fuzz_cred[h] : NULL, &out);
	if (out.len == 0)
		abort();
	if (!final)
		goto free_server;
	size_t before = out.len;
	enum sasl_cond cond = scram_server_client_final(s, final, final_len, &out);
	/* Output on success only, and a success only for the one password. */
	if ((cond == SASL_OK) != (out.len > before))
		abort();
	if (cond == SASL_OK && strcmp(user, "user") != 0)
		abort();

free_server:
	buf_clear(&out);
	scram_server_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;

	if (!fuzz_ready)
		fuzz_setup();

	const char *nl = memchr(in, '\n', size);
	size_t first_len = nl ? (size_t)(nl - in) : size;
	const char *final = nl ? nl + 1 : NULL;
	size_t final_len = nl ? size - first_len - 1 : 0;
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		fuzz_scram_run((enum scram_hash)h, false, false, in, first_len, final, final_len);
		fuzz_scram_run((enum scram_hash)h, false, true, in, first_len, final, final_len);
		fuzz_scram_run((enum scram_hash)h, true, true, in, first_len, final, final_len);
	}

	struct arena *a = arena_new();
	const char *authzid, *authcid, *passwd;
	size_t passwd_len;
	if (sasl_plain_parse(a, in, size, &authzid, &authcid, &passwd, &passwd_len) == SASL_OK) {
		if (!authcid || !*authcid || !passwd || passwd_len == 0)
			abort();
		scram_cred_check_password(&fuzz_cheap, passwd, passwd_len);
	}
	arena_free(a);

	/* Strict decoding: whatever decodes re-encodes to the same text. */
	struct buf dec = BUF_INIT, enc = BUF_INIT;
	if (sasl_base64_decode(&dec, in, size) == 0 && !(size == 1 && in[0] == '=')) {
		sasl_base64_encode(&enc, dec.data, dec.len);
		if (enc.len != size || (size && memcmp(enc.data, in, size) != 0))
			abort();
	}
	buf_clear(&dec);
	buf_clear(&enc);
	return 0;
}
