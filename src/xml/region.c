/*
 * region: where an expat parser's memory comes from.  Each parser gets a
 * region of its own: a chain of blocks (16 KiB or more, so the C library
 * maps them straight from the system), bump-allocated, released whole when
 * the parser goes.  Expat's own allocations are many small chunks made at
 * different times; from the common heap they would end up between a
 * session's long-lived objects and leave holes there when an idle stream
 * lets its parser go.
 *
 * Expat's allocator hooks take no context, so the region in use is the
 * calling thread's "current" one, set by the parser around every expat
 * call (xml_region_enter/leave).
 *
 * free() inside a region only takes back the most recent allocation: expat
 * keeps free lists of its own and allocates little after warming up, and a
 * growing input buffer wastes at most what it doubled from.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "xml/internal.h"

enum {
	REGION_BLOCK = 16 * 1024,
	HDR = 16, /* keeps every allocation 16-byte aligned */
	FROM_HEAP = 1,
};

struct rblock {
	struct rblock *next;
	size_t size;
	size_t used;
	size_t last; /* offset of the most recent allocation's header */
	_Alignas(16) unsigned char data[];
};

/* Owner: the xml_parser it was made for. */
struct xml_region {
	struct rblock *head;
};

struct rhdr {
	size_t size;
	size_t flags;
};

static _Thread_local struct xml_region *region_cur;

struct xml_region *xml_region_new(void)
{
	return xcalloc(1, sizeof(struct xml_region));
}

void xml_region_free(struct xml_region *r)
{
	if (!r)
		return;
	struct rblock *b = r->head;
	while (b) {
		struct rblock *next = b->next;
		free(b);
		b = next;
	}
	free(r);
}

struct xml_region *xml_region_enter(struct xml_region *r)
{
	struct xml_region *prev = region_cur;
	region_cur = r;
	return prev;
}

void xml_region_leave(struct xml_region *prev)
{
	region_cur = prev;
}

static size_t round16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

static void *region_malloc(size_t n)
{
	struct xml_region *r = region_cur;
	if (!r) {
		/* Outside any parser call: the common heap. */
		struct rhdr *h = xmalloc(HDR + n);
		h->size = n;
		h->flags = FROM_HEAP;
		return (unsigned char *)h + HDR;
	}
	size_t need = HDR + round16(n ? n : 1);
	struct rblock *b = r->head;
	if (!b || b->size - b->used < need) {
		size_t size = need > REGION_BLOCK - sizeof(struct rblock) ? need : REGION_BLOCK - sizeof(struct rblock);
		b = xmalloc(sizeof(struct rblock) + size);
		b->size = size;
		b->used = 0;
		b->last = 0;
		b->next = r->head;
		r->head = b;
	}
	struct rhdr *h = (struct rhdr *)(b->data + b->used);
	h->size = n;
	h->flags = 0;
	b->last = b->used;
	b->used += need;
	return (unsigned char *)h + HDR;
}

static struct rhdr *hdr_of(void *p)
{
	return (struct rhdr *)((unsigned char *)p - HDR);
}

/* True when p is the most recent allocation of the region's newest block. */
static bool is_last(struct xml_region *r, void *p)
{
	struct rblock *b = r ? r->head : NULL;
	return b && b->used && (unsigned char *)hdr_of(p) == b->data + b->last;
}

static void region_free(void *p)
{
	if (!p)
		return;
	struct rhdr *h = hdr_of(p);
	if (h->flags & FROM_HEAP) {
		free(h);
		return;
	}
	struct xml_region *r = region_cur;
	if (is_last(r, p)) {
		r->head->used = r->head->last;
		/* the allocation before it is no longer known: no more rollback */
	}
}

static void *region_realloc(void *p, size_t n)
{
	if (!p)
		return region_malloc(n);
	struct rhdr *h = hdr_of(p);
	if (h->flags & FROM_HEAP) {
		h = xrealloc(h, HDR + n);
		h->size = n;
		return (unsigned char *)h + HDR;
	}
	struct xml_region *r = region_cur;
	if (is_last(r, p)) {
		struct rblock *b = r->head;
		size_t need = HDR + round16(n ? n : 1);
		if (b->size - b->last >= need) {
			b->used = b->last + need;
			h->size = n;
			return p;
		}
	}
	size_t old = h->size;
	void *q = region_malloc(n);
	memcpy(q, p, old < n ? old : n);
	region_free(p);
	return q;
}

const XML_Memory_Handling_Suite xml_region_suite = {
	.malloc_fcn = region_malloc,
	.realloc_fcn = region_realloc,
	.free_fcn = region_free,
};
