/*
 * slice: a length-delimited view of bytes someone else owns.  The hot paths
 * (parsing, routing) pass slices; NUL-terminated strings appear only at the
 * edges (libc, OpenSSL, SQLite).
 */
#ifndef PARLEY_CORE_SLICE_H
#define PARLEY_CORE_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct slice {
	const char *p;
	size_t len;
};

#define SLICE_LIT(s) ((struct slice){(s), sizeof(s) - 1})
#define SLICE_NULL ((struct slice){NULL, 0})

static inline struct slice slice_from(const char *s)
{
	return (struct slice){s, s ? strlen(s) : 0};
}

static inline struct slice slice_make(const char *p, size_t len)
{
	return (struct slice){p, len};
}

static inline bool slice_eq(struct slice a, struct slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline bool slice_eq_str(struct slice a, const char *s)
{
	return slice_eq(a, slice_from(s));
}

#endif
