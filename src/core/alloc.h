/*
 * alloc: allocation that never returns NULL.  Memory is bounded by
 * per-connection budgets, so an allocation failure is not an error path to
 * handle but a reason to stop (STYLE.md, "Errors").
 */
#ifndef PARLEY_CORE_ALLOC_H
#define PARLEY_CORE_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

#endif
