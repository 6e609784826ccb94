/*
 * arena: a bump allocator for everything that lives exactly as long as one
 * stanza (its element tree, attribute values, parsed JIDs).  Freeing the
 * arena frees all of it at once; nothing inside is freed individually.
 *
 * An arena is a heap object so that a stanza can be handed to another
 * worker thread whole: the receiving thread frees it.  Freed arenas go to a
 * small per-thread cache, so the steady state allocates nothing.
 */
#ifndef PARLEY_CORE_ARENA_H
#define PARLEY_CORE_ARENA_H

#include <stddef.h>

struct arena;

/* Lifecycle */

/* Returns an empty arena (from this thread's cache when it has one). */
struct arena *arena_new(void);
/* Frees the arena and everything allocated in it.  Accepts NULL. */
void arena_free(struct arena *a);
/* Forgets every allocation but keeps the first block for reuse. */
void arena_reset(struct arena *a);

/* Allocation: all results are 8-byte aligned and live until free/reset. */

void *arena_alloc(struct arena *a, size_t size);
void *arena_zalloc(struct arena *a, size_t size);
void *arena_memdup(struct arena *a, const void *p, size_t n);
/* Copies n bytes and a terminating NUL. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bytes handed out since the last reset (for limits and tests). */
size_t arena_used(const struct arena *a);

/* Drops this thread's cache of free arenas (at thread exit, and in tests
 * that count allocations). */
void arena_cache_drain(void);

#endif
