/*
 * arena: block chain bump allocator.  Blocks are 4 KiB by default; an
 * allocation larger than a quarter block gets a block of its own so that a
 * big attribute value does not waste the tail of the current block.
 */
#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* Under AddressSanitizer, memory an arena handed out and took back is
 * poisoned, and freed arenas are not cached: a stanza used after its arena
 * was freed must be a sanitizer report, not a silent reuse. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define ARENA_CACHE_MAX 0
#else
#define ARENA_POISON(p, n) ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#define ARENA_CACHE_MAX 16
#endif

enum { ARENA_BLOCK = 4096 };

struct arena_block {
	struct arena_block *next;
	size_t size; /* usable bytes in data */
	size_t used;
	_Alignas(8) char data[];
};

/* Owner: whoever called arena_new(); ownership moves with the stanza. */
struct arena {
	struct arena_block *head; /* current block, where bumping happens */
	struct arena_block *big;  /* dedicated blocks for large allocations */
	size_t total;
	struct arena *next_free;  /* link in the thread cache */
};

static _Thread_local struct arena *arena_cache;
static _Thread_local unsigned arena_cache_len;

static struct arena_block *block_new(size_t size)
{
	struct arena_block *b = xmalloc(sizeof(*b) + size);
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

static void blocks_free(struct arena_block *b)
{
	while (b) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
}

struct arena *arena_new(void)
{
	struct arena *a = arena_cache;
	if (a) {
		arena_cache = a->next_free;
		arena_cache_len--;
		a->next_free = NULL;
		return a;
	}
	a = xmalloc(sizeof(*a));
	a->head = block_new(ARENA_BLOCK - sizeof(struct arena_block));
	ARENA_POISON(a->head->data, a->head->size);
	a->big = NULL;
	a->total = 0;
	a->next_free = NULL;
	return a;
}

void arena_reset(struct arena *a)
{
	/* Keep only the last block of the chain: it is the first one made,
	 * which has the standard size. */
	struct arena_block *b = a->head;
	while (b->next) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	b->used = 0;
	ARENA_POISON(b->data, b->size);
	a->head = b;
	blocks_free(a->big);
	a->big = NULL;
	a->total = 0;
}

void arena_free(struct arena *a)
{
	if (!a)
		return;
	arena_reset(a);
#if ARENA_CACHE_MAX > 0
	if (arena_cache_len < ARENA_CACHE_MAX) {
		a->next_free = arena_cache;
		arena_cache = a;
		arena_cache_len++;
		return;
	}
#endif
	blocks_free(a->head);
	free(a);
}

void arena_cache_drain(void)
{
	while (arena_cache) {
		struct arena *a = arena_cache;
		arena_cache = a->next_free;
		blocks_free(a->head);
		free(a);
	}
	arena_cache_len = 0;
}

void *arena_alloc(struct arena *a, size_t size)
{
	size = (size + 7) & ~(size_t)7;
	if (size == 0)
		size = 8;
	a->total += size;
	size_t std = ARENA_BLOCK - sizeof(struct arena_block);
	if (size > std / 4) {
		struct arena_block *b = block_new(size);
		b->used = size;
		b->next = a->big;
		a->big = b;
		return b->data;
	}
	struct arena_block *b = a->head;
	if (b->size - b->used < size) {
		b = block_new(std);
		ARENA_POISON(b->data, b->size);
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += size;
	ARENA_UNPOISON(p, size);
	return p;
}

void *arena_zalloc(struct arena *a, size_t size)
{
	void *p = arena_alloc(a, size);
	memset(p, 0, size);
	return p;
}

void *arena_memdup(struct arena *a, const void *p, size_t n)
{
	void *d = arena_alloc(a, n);
	if (n)
		memcpy(d, p, n);
	return d;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *d = arena_alloc(a, n + 1);
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	char small[256];
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	char *d;
	if ((size_t)n < sizeof(small)) {
		d = arena_memdup(a, small, (size_t)n + 1);
	} else {
		d = arena_alloc(a, (size_t)n + 1);
		vsnprintf(d, (size_t)n + 1, fmt, ap2);
	}
	va_end(ap2);
	return d;
}

size_t arena_used(const struct arena *a)
{
	return a->total;
}
