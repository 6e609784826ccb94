/*
 * sasl internals shared by the files of src/sasl/ and by its unit tests:
 * limits, UTF-8 and SASLprep, the hash primitives of SCRAM, and test hooks.
 * Nothing outside src/sasl/ and tests/unit/sasl/ includes this.
 */
#ifndef PARLEY_SASL_INTERNAL_H
#define PARLEY_SASL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "sasl/sasl.h"

enum {
	/* Largest decoded SASL message accepted (any mechanism, any step);
	 * longer ones are malformed-request before any parsing. */
	SASL_MSG_MAX = 4096,
	/* Salt of fresh records (and of the made-up record of an unknown user). */
	SCRAM_SALT_LEN = 16,
	/* Random bytes in the server's part of the nonce (base64: 32 chars). */
	SCRAM_NONCE_BYTES = 24,
	/* Largest channel-binding datum asked of the callback: SHA-512 of a
	 * certificate (tls-server-end-point) is the biggest in use. */
	SCRAM_CB_MAX = 64,
};

/* SASLprep (RFC 4013) of s[0..len) through libidn: a malloc'd,
 * NUL-terminated result for the caller to free (sasl_prep_free), or NULL
 * when s is longer than SASL_MSG_MAX, holds NUL, is not UTF-8, fails the
 * profile, or prepares to nothing.  `stored` refuses code points
 * unassigned in Unicode 3.2 (RFC 5802 §2.2 wants that for passwords);
 * usernames are query strings. */
char *sasl_saslprep(const char *s, size_t len, bool stored);
/* Wipes and frees a sasl_saslprep result (it may be a password). */
void sasl_prep_free(char *p);

/* SCRAM primitives for a valid `h`; out must hold scram_hash_len(h). */
bool scram_hash_valid(enum scram_hash h);
void scram_digest(enum scram_hash h, const void *p, size_t n, unsigned char *out);
void scram_hmac(enum scram_hash h, const void *key, size_t key_len, const void *p, size_t n,
		unsigned char *out);

/* Test hook: makes the server use `nonce` (printable, no ',') as its part
 * of the nonce instead of fresh random bytes.  Call before
 * scram_server_first; tests reproduce the RFC exchanges with it. */
void scram_server_set_nonce(struct scram_server *s, const char *nonce);

#endif
