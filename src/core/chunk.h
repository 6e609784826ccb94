/*
 * chunk: reference-counted bytes ready for the wire.  A stanza is serialised
 * once into a chunk; delivering it to N sessions queues N references, not N
 * copies.  References may be dropped on any thread.
 */
#ifndef PARLEY_CORE_CHUNK_H
#define PARLEY_CORE_CHUNK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct chunk {
	atomic_uint refs;
	uint32_t len;
	uint32_t cap;
	char data[];
};

/* A chunk with room for `cap` bytes, len 0, one reference. */
struct chunk *chunk_new(size_t cap);
/* A chunk holding a copy of p[0..n), one reference. */
struct chunk *chunk_from(const void *p, size_t n);
struct chunk *chunk_ref(struct chunk *c);
/* Drops one reference; frees on the last.  Accepts NULL. */
void chunk_unref(struct chunk *c);

#endif
