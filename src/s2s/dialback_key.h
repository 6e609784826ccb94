/*
 * dialback_key: the keys of Server Dialback (XEP-0220), made and checked
 * the way XEP-0185 recommends, from a secret that survives a restart.
 *
 *   key = HEX( HMAC-SHA256( HEX(SHA256(secret)),
 *                           receiving ' ' originating ' ' stream-id ) )
 *
 * XEP-0185 §2 item 4 says the SHA-256 of the secret is used in its
 * hexadecimal form, and its example keys the HMAC with those 64 ASCII
 * characters, not with the 32 raw bytes; so do we (the unit test holds
 * the XEP's example).  Hex is lower case.
 *
 * The key is made by the originating side (sent in <db:result/>) and
 * checked by the authoritative side (in <db:verify/>), which for our
 * domains are both this server, possibly after a restart: hence a secret
 * in a file.  Domains must be passed in the same form both times (as
 * parsed JID domains are); the stream id is the receiving server's.
 *
 * The secret file (e.g. <data dir>/dialback.secret) holds one line of
 * printable ASCII without spaces, at least DIALBACK_SECRET_MIN characters;
 * trailing whitespace (a newline) is not part of it.  When the file does
 * not exist, dialback_secret_load creates it with 32 random bytes in hex
 * and mode 0600.  A file that group or others may access in any way is
 * refused: whoever can read it can forge dialback for our domains, and
 * whoever can write it can make us accept their keys.
 *
 * Pure except for the file: no configuration, no global state; a loaded
 * secret is read-only and may be shared by every worker.
 */
#ifndef PARLEY_S2S_DIALBACK_KEY_H
#define PARLEY_S2S_DIALBACK_KEY_H

#include <stdbool.h>
#include <stddef.h>

enum {
	DIALBACK_KEY_LEN = 64,       /* hex characters of a key (SHA-256) */
	DIALBACK_SECRET_MIN = 32,    /* characters of a secret file, at least (128 bits as hex) */
	DIALBACK_SECRET_MAX = 1024,  /* characters of a secret file, at most */
	DIALBACK_SECRET_RANDOM = 32, /* random bytes in a secret we create */
	DIALBACK_PART_MAX = 1023,    /* bytes of a domain or stream id (a JID part's limit) */
};

/* Only the derived HMAC key is kept, never the secret itself. */
struct dialback_secret {
	char hmac_key[DIALBACK_KEY_LEN]; /* HEX(SHA256(secret)), not NUL-terminated */
};

/* From a secret in memory (the XEP's example, tests, a future setting):
 * any non-empty bytes; the file's rules and minimum length are
 * dialback_secret_load's.  -1 when `len` is 0. */
int dialback_secret_set(struct dialback_secret *s, const void *secret, size_t len);

/*
 * Reads the secret in `path`, creating it first (32 random bytes in hex,
 * a newline, mode 0600; staged beside it and linked into place, so a
 * crash leaves no half-written secret and two processes starting at once
 * end up with the same one) when it does not exist.  -1 with *err (heap
 * string naming the file, the reason and the fix) when it cannot be
 * created or read, is not a regular file, may be read or written by group
 * or others, or is too short, too long or not one line of printable ASCII.
 */
int dialback_secret_load(struct dialback_secret *s, const char *path, char **err);

/* Overwrites the key (OPENSSL_cleanse, which the compiler keeps). */
void dialback_secret_wipe(struct dialback_secret *s);

/*
 * The key for this triple into `out` (64 lower-case hex characters and a
 * NUL).  -1, with `out` empty, when a part is NULL, empty, longer than
 * DIALBACK_PART_MAX, or holds a space: the spaces are the separators
 * (XEP-0185 §2 item 5), so a part with one could collide with another
 * triple.
 */
int dialback_key(const struct dialback_secret *s, const char *receiving,
		 const char *originating, const char *stream_id, char out[DIALBACK_KEY_LEN + 1]);

/*
 * Whether `key` (`key_len` bytes, not necessarily NUL-terminated) is the
 * key for this triple.  The comparison takes the same time wherever the
 * first difference is (CRYPTO_memcmp); only the length, which is public,
 * ends it early.  Exactly the 64 lower-case hex characters we make are
 * accepted: the key we check is always one we made and sent ourselves, so
 * an upper-case copy or surrounding whitespace means someone changed it.
 * The caller passes the element's character data with XML whitespace
 * around it trimmed (the XEP's examples indent the key).
 */
bool dialback_key_verify(const struct dialback_secret *s, const char *receiving,
			 const char *originating, const char *stream_id, const char *key,
			 size_t key_len);

#endif
