/*
 * path: what a request path is allowed to be, and how route patterns
 * match it.  Pure functions, no I/O.
 *
 * The rule is to refuse rather than to repair.  A path is percent-decoded
 * exactly once; anything whose meaning could differ between us and a
 * proxy, a browser or a later decoding step (an encoded '/', a backslash,
 * dot segments, ';' parameters, "//", overlong or invalid UTF-8, control
 * characters) is a 400, never normalised into something that then
 * matches a route.  Case is kept: route tables are lower case, so
 * "/Api/Users" matches nothing rather than something with another
 * permission.
 */
#include "http/internal.h"

#include <string.h>

#include "core/utf8.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Checks one decoded segment; `seg` is in out's memory. */
static enum http_path_error check_segment(const char *seg, size_t n, bool last)
{
	if (n == 0)
		return last ? HTTP_PATH_OK : HTTP_PATH_EMPTY_SEGMENT;
	if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
		return HTTP_PATH_DOT_SEGMENT;
	return HTTP_PATH_OK;
}

enum http_path_error http_path_normalize(const char *raw, size_t len, struct buf *out)
{
	if (len == 0 || raw[0] != '/')
		return HTTP_PATH_NOT_ABSOLUTE;
	size_t start = out->len;
	buf_reserve(out, len + 1);
	size_t seg = start + 1; /* where the current segment begins in out */
	buf_append_char(out, '/');
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)raw[i];
		bool encoded = false;
		if (c == '%') {
			if (len - i < 3)
				goto bad_escape;
			int hi = hexval(raw[i + 1]), lo = hexval(raw[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad_escape;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
			encoded = true;
		}
		enum http_path_error e = HTTP_PATH_OK;
		if (c == '/' && encoded)
			e = HTTP_PATH_ENCODED_SLASH;
		else if (c == '\\')
			e = HTTP_PATH_BACKSLASH;
		else if (c == 0)
			e = HTTP_PATH_NUL;
		else if (c < 0x20 || c == 0x7f)
			e = HTTP_PATH_CONTROL;
		else if (c == ';')
			e = HTTP_PATH_PARAMETER;
		if (e != HTTP_PATH_OK) {
			out->len = start;
			return e;
		}
		if (c == '/') {
			e = check_segment(out->data + seg, out->len - seg, false);
			if (e != HTTP_PATH_OK) {
				out->len = start;
				return e;
			}
			buf_append_char(out, '/');
			seg = out->len;
			continue;
		}
		buf_append_char(out, (char)c);
	}
	enum http_path_error e = check_segment(out->data + seg, out->len - seg, true);
	if (e == HTTP_PATH_OK && !utf8_valid(out->data + start, out->len - start))
		e = HTTP_PATH_BAD_UTF8;
	if (e != HTTP_PATH_OK)
		out->len = start;
	return e;

bad_escape:
	out->len = start;
	return HTTP_PATH_BAD_ESCAPE;
}

const char *http_path_error_text(enum http_path_error e)
{
	switch (e) {
	case HTTP_PATH_OK:
		return "valid";
	case HTTP_PATH_NOT_ABSOLUTE:
		return "the request target is not an absolute path (\"/...\")";
	case HTTP_PATH_BAD_ESCAPE:
		return "a '%' in the path is not followed by two hexadecimal digits";
	case HTTP_PATH_ENCODED_SLASH:
		return "the path holds an encoded '/' (%2F)";
	case HTTP_PATH_BACKSLASH:
		return "the path holds a backslash";
	case HTTP_PATH_NUL:
		return "the path holds a NUL byte (%00)";
	case HTTP_PATH_CONTROL:
		return "the path holds a control character";
	case HTTP_PATH_BAD_UTF8:
		return "the decoded path is not valid UTF-8 (overlong or invalid sequence)";
	case HTTP_PATH_DOT_SEGMENT:
		return "the path has a '.' or '..' segment (never resolved)";
	case HTTP_PATH_PARAMETER:
		return "the path holds a ';' (path parameters are not served)";
	case HTTP_PATH_EMPTY_SEGMENT:
		return "the path has an empty segment (\"//\")";
	}
	return "invalid path";
}

/* ---- patterns ---- */

enum seg_kind { SEG_END = 4, SEG_LITERAL = 3, SEG_STAR = 2, SEG_REST = 1 };

/* The next segment of a pattern or path at *p (just after a '/'): its
 * bytes and length; *p moves past it and its '/'.  False at the end. */
static bool next_segment(const char **p, const char *end, const char **seg, size_t *n, bool *slash)
{
	if (*p > end)
		return false;
	const char *s = *p;
	const char *q = memchr(s, '/', (size_t)(end - s));
	*seg = s;
	*n = q ? (size_t)(q - s) : (size_t)(end - s);
	*slash = q != NULL;
	*p = q ? q + 1 : end + 1;
	return true;
}

static enum seg_kind kind_of(const char *seg, size_t n)
{
	if (n == 1 && seg[0] == '*')
		return SEG_STAR;
	if (n == 2 && seg[0] == '*' && seg[1] == '*')
		return SEG_REST;
	return SEG_LITERAL;
}

static bool literal_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

bool http_pattern_valid(const char *pattern, const char **why)
{
	if (!pattern || pattern[0] != '/') {
		*why = "does not start with '/'";
		return false;
	}
	const char *end = pattern + strlen(pattern);
	const char *p = pattern + 1, *seg;
	size_t n;
	bool slash;
	unsigned stars = 0;
	while (next_segment(&p, end, &seg, &n, &slash)) {
		if (n == 0) {
			if (slash) {
				*why = "has an empty segment (\"//\")";
				return false;
			}
			break; /* "/" itself, or a trailing '/' */
		}
		enum seg_kind k = kind_of(seg, n);
		if (k == SEG_REST) {
			if (slash) {
				*why = "has \"**\" before its last segment";
				return false;
			}
			continue;
		}
		if (k == SEG_STAR) {
			if (++stars > HTTP_ROUTE_PARAMS_MAX) {
				*why = "has more \"*\" segments than HTTP_ROUTE_PARAMS_MAX";
				return false;
			}
			continue;
		}
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) {
			*why = "has a '.' or '..' segment";
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			if (!literal_char(seg[i])) {
				*why = seg[i] >= 'A' && seg[i] <= 'Z'
					       ? "is not lower case (routes are matched case-sensitively)"
					       : "holds a character other than a-z 0-9 - . _ ~ in a segment ('*' only alone)";
				return false;
			}
		}
	}
	return true;
}

bool http_pattern_match(const char *pattern, const char *path, size_t len, struct slice *params, unsigned *nparams)
{
	if (len == 0 || path[0] != '/' || pattern[0] != '/')
		return false;
	const char *pend = pattern + strlen(pattern), *end = path + len;
	const char *pp = pattern + 1, *xp = path + 1;
	const char *ps, *xs;
	size_t pn, xn;
	bool pslash, xslash;
	unsigned np = 0;
	for (;;) {
		bool more_p = next_segment(&pp, pend, &ps, &pn, &pslash);
		if (more_p && !pslash && kind_of(ps, pn) == SEG_REST) {
			*nparams = np;
			return true; /* whatever is left, possibly nothing */
		}
		bool more_x = next_segment(&xp, end, &xs, &xn, &xslash);
		if (!more_p || !more_x) {
			if (more_p != more_x)
				return false;
			*nparams = np;
			return true;
		}
		if (pslash != xslash)
			return false;
		if (kind_of(ps, pn) == SEG_STAR) {
			if (xn == 0)
				return false;
			if (np < HTTP_ROUTE_PARAMS_MAX)
				params[np++] = slice_make(xs, xn);
			continue;
		}
		if (pn != xn || memcmp(ps, xs, pn) != 0)
			return false;
	}
}

int http_pattern_cmp(const char *a, const char *b)
{
	const char *aend = a + strlen(a), *bend = b + strlen(b);
	const char *ap = a + 1, *bp = b + 1;
	for (;;) {
		const char *as = NULL, *bs = NULL;
		size_t an = 0, bn = 0;
		bool aslash = false, bslash = false;
		bool amore = next_segment(&ap, aend, &as, &an, &aslash);
		bool bmore = next_segment(&bp, bend, &bs, &bn, &bslash);
		enum seg_kind ak = amore ? kind_of(as, an) : SEG_END;
		enum seg_kind bk = bmore ? kind_of(bs, bn) : SEG_END;
		if (ak != bk)
			return (int)ak - (int)bk;
		if (!amore)
			return 0;
		if (ak == SEG_LITERAL && (an != bn || memcmp(as, bs, an) != 0))
			return an != bn ? (an < bn ? -1 : 1) : memcmp(as, bs, an);
		if (aslash != bslash)
			return aslash ? 1 : -1;
	}
}
