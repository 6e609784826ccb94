/*
 * buf: a growable byte buffer owned by one object (embedded in its owner).
 * Used where data accumulates with no known bound up front; every user
 * checks its own limit before appending.
 */
#ifndef PARLEY_CORE_BUF_H
#define PARLEY_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT {NULL, 0, 0}

void buf_init(struct buf *b);
/* Releases the memory; the buf is empty and reusable afterwards. */
void buf_clear(struct buf *b);
/* Empties the buf but keeps its memory. */
void buf_reset(struct buf *b);
/* Ensures room for `extra` more bytes. */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Returns a NUL-terminated view (the NUL is not counted in len). */
const char *buf_cstr(struct buf *b);
/* Hands the memory to the caller (NUL-terminated) and empties the buf. */
char *buf_steal(struct buf *b);

#endif
