/*
 * manage results: the one table of result names, the sentence that goes
 * with a result, the mapping from store codes, and the pager every
 * listing shares.  No operation lives here.
 */
#include "manage/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"

static const char *const result_names[MANAGE_RESULT_COUNT] = {
	[MANAGE_OK] = "ok",
	[MANAGE_NOT_FOUND] = "not-found",
	[MANAGE_EXISTS] = "exists",
	[MANAGE_INVALID] = "invalid",
	[MANAGE_FULL] = "full",
	[MANAGE_ERROR] = "error",
};

const char *manage_result_name(enum manage_result r)
{
	return (unsigned)r < MANAGE_RESULT_COUNT ? result_names[r] : NULL;
}

enum manage_result manage_fail(struct manage_err *err, enum manage_result r, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return r;
}

enum manage_result manage_from_store(int store_rc)
{
	switch (store_rc) {
	case STORE_OK:
		return MANAGE_OK;
	case STORE_NOT_FOUND:
		return MANAGE_NOT_FOUND;
	case STORE_EXISTS:
		return MANAGE_EXISTS;
	case STORE_FULL:
		return MANAGE_FULL;
	default:
		return MANAGE_ERROR;
	}
}

void manage_pager_init(struct manage_pager *p, const struct manage_page *page)
{
	memset(p, 0, sizeof(*p));
	if (page) {
		p->offset = page->offset;
		p->limit = page->limit;
		p->search = page->search && *page->search ? page->search : NULL;
	}
}

bool manage_pager_match(const struct manage_pager *p, const char *key)
{
	return !p->search || strcasestr(key, p->search) != NULL;
}

bool manage_pager_take(struct manage_pager *p)
{
	size_t i = p->matched++;
	if (i < p->offset || (p->limit && p->taken >= p->limit))
		return false;
	p->taken++;
	return true;
}

void *manage_vec_push(struct manage_vec *v, struct arena *a, size_t size)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		void *grown = arena_alloc(a, cap * size);
		if (v->n)
			memcpy(grown, v->v, v->n * size);
		v->v = grown;
		v->cap = cap;
	}
	void *e = (char *)v->v + v->n++ * size;
	memset(e, 0, size);
	return e;
}
