/* utf8: validation of UTF-8 text from peers (see utf8.c). */
#ifndef PARLEY_CORE_UTF8_H
#define PARLEY_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 (RFC 3629): shortest forms,
 * no surrogates, at most U+10FFFF.  NUL bytes are valid UTF-8: callers
 * that refuse them check separately. */
bool utf8_valid(const char *s, size_t len);

#endif
