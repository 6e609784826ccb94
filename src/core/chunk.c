/* chunk: refcounted wire bytes. */
#include "core/chunk.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

struct chunk *chunk_new(size_t cap)
{
	if (cap > UINT32_MAX)
		log_fatal("core", "chunk of %zu bytes requested", cap);
	struct chunk *c = xmalloc(sizeof(*c) + cap);
	atomic_init(&c->refs, 1);
	c->len = 0;
	c->cap = (uint32_t)cap;
	return c;
}

struct chunk *chunk_from(const void *p, size_t n)
{
	struct chunk *c = chunk_new(n);
	memcpy(c->data, p, n);
	c->len = (uint32_t)n;
	return c;
}

struct chunk *chunk_ref(struct chunk *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void chunk_unref(struct chunk *c)
{
	if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		free(c);
}
