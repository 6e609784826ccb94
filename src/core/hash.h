/*
 * hash: SipHash-1-3, keyed, for every table whose keys a peer chooses (JIDs,
 * addresses), so that nobody can flood one bucket.  The key is drawn once
 * at start-up, so the worker that owns a bare JID (its hash mod N) stays
 * the same for the life of the process.
 */
#ifndef PARLEY_CORE_HASH_H
#define PARLEY_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Seeds the process-wide keys from the OS random source.  Call once before
 * threads start.  Without it the keys are zero (fine for unit tests). */
void hash_seed(void);

uint64_t hash_bytes(const void *p, size_t len);

/* Case-sensitive hash of a string; callers hash prepared (canonical) forms. */
static inline uint64_t hash_str(const char *s);

#include <string.h>
static inline uint64_t hash_str(const char *s)
{
	return hash_bytes(s, strlen(s));
}

#endif
