/*
 * parse: HTTP/1.1 requests from bytes, with Debian's http-parser doing the
 * syntax (request line, header fields, Content-Length, chunked coding) and
 * this file the limits and the rules on top.  Sans-I/O: bytes in, events
 * out; the connection (connection.c) decides what to do with them.
 *
 * Limits are checked before bytes are kept: the request line and header
 * fields together are fed at most http.header_bytes at a time, so a head
 * that does not end within the limit is refused without the rest being
 * parsed; the target, the number of header fields and the body (after the
 * chunked coding is removed) have limits of their own.  The parser is
 * paused after the header fields (so the route and the caller's
 * credentials are known before a body is read) and after each request (so
 * pipelined requests are served one at a time, in order).
 *
 * It is not a general HTTP library: requests only, origin-form targets
 * only, no transfer coding but chunked, no trailers kept.
 */
#include "http/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/config.h"

void http_limits_from_config(const struct config *cfg, struct http_limits *lim)
{
	lim->header_bytes = cfg->http.header_bytes;
	lim->uri_bytes = cfg->http.uri_bytes;
	lim->max_headers = cfg->http.max_headers;
	lim->body_bytes = cfg->http.body_bytes;
}

/* ---- requests ---- */

struct http_request *http_request_new(void)
{
	struct http_request *q = xcalloc(1, sizeof(*q));
	return q;
}

void http_request_free(struct http_request *q)
{
	if (!q)
		return;
	buf_clear(&q->head);
	buf_clear(&q->path);
	buf_clear(&q->body);
	buf_clear(&q->resp_headers);
	free(q->headers);
	free(q);
}

/* ---- refusing ---- */

__attribute__((format(printf, 4, 5))) static int fail(struct http_reader *r, int status, const char *setting,
						      const char *fmt, ...)
{
	if (r->status)
		return -1;
	r->status = status;
	r->setting = setting;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	return -1;
}

static void fail_errno(struct http_reader *r, enum http_errno e)
{
	switch (e) {
	case HPE_INVALID_METHOD:
		fail(r, 501, NULL, "unknown method (served: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)");
		break;
	case HPE_INVALID_VERSION:
		fail(r, 505, NULL, "invalid or unsupported HTTP version (HTTP/1.0 and HTTP/1.1 are served)");
		break;
	case HPE_HEADER_OVERFLOW:
		fail(r, 431, "http.header_bytes", "request line and header fields too large");
		break;
	case HPE_INVALID_URL:
		fail(r, 400, NULL, "invalid character in the request target");
		break;
	case HPE_INVALID_CHUNK_SIZE:
		fail(r, 400, NULL, "invalid chunk size in the chunked body");
		break;
	case HPE_INVALID_CONTENT_LENGTH:
		fail(r, 400, NULL, "invalid Content-Length");
		break;
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		fail(r, 400, NULL, "Content-Length twice, or together with Transfer-Encoding");
		break;
	case HPE_INVALID_TRANSFER_ENCODING:
		fail(r, 400, NULL, "Transfer-Encoding whose final coding is not chunked");
		break;
	case HPE_INVALID_HEADER_TOKEN:
		fail(r, 400, NULL, "invalid character in a header field");
		break;
	default:
		fail(r, 400, NULL, "malformed request: %s", http_errno_description(e));
		break;
	}
}

/* ---- callbacks ---- */

static int on_message_begin(http_parser *p)
{
	struct http_reader *r = p->data;
	http_request_free(r->req);
	r->req = http_request_new();
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = p->data;
	struct http_request *q = r->req;
	q->parser_method = p->method;
	q->method_known = true;
	if (q->head.len + len > r->lim.uri_bytes)
		return fail(r, 414, "http.uri_bytes", "request target longer than %zu bytes", r->lim.uri_bytes);
	buf_append(&q->head, at, len);
	q->target_len = (uint32_t)q->head.len;
	return 0;
}

/* Trailer fields of a chunked body are counted, never kept. */
static int trailer(struct http_reader *r, size_t len)
{
	struct http_request *q = r->req;
	q->trailer_bytes += len;
	if (q->trailer_bytes > r->lim.header_bytes)
		return fail(r, 431, "http.header_bytes", "trailer fields longer than %zu bytes", r->lim.header_bytes);
	return 0;
}

/* RFC 9110 §5.6.2 */
static bool tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = p->data;
	struct http_request *q = r->req;
	if (r->head_done)
		return trailer(r, len);
	if (q->nheaders == 0 || q->in_value) {
		if (q->nheaders >= r->lim.max_headers)
			return fail(r, 431, "http.max_headers", "more than %u header fields", r->lim.max_headers);
		if (q->nheaders == q->capheaders) {
			q->capheaders = q->capheaders ? q->capheaders * 2 : 16;
			q->headers = xrealloc(q->headers, q->capheaders * sizeof(*q->headers));
		}
		struct http_header_ref *h = &q->headers[q->nheaders++];
		*h = (struct http_header_ref){.name_off = (uint32_t)q->head.len};
		q->in_value = false;
	}
	struct http_header_ref *h = &q->headers[q->nheaders - 1];
	buf_reserve(&q->head, len);
	for (size_t i = 0; i < len; i++) {
		char c = at[i];
		if (!tchar(c))
			return fail(r, 400, NULL, "invalid character in a header field name");
		buf_append_char(&q->head, c >= 'A' && c <= 'Z' ? (char)(c + 32) : c);
	}
	h->name_len += (uint32_t)len;
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = p->data;
	struct http_request *q = r->req;
	if (r->head_done)
		return trailer(r, len);
	struct http_header_ref *h = &q->headers[q->nheaders - 1];
	if (q->in_value && r->value_ended)
		return fail(r, 400, NULL, "obsolete line folding in a header field");
	if (!q->in_value) {
		h->value_off = (uint32_t)q->head.len;
		q->in_value = true;
	}
	buf_append(&q->head, at, len);
	h->value_len += (uint32_t)len;
	/* A value that stops before the end of what was fed ended with its
	 * line; one that reaches the end may go on in the next feed. */
	r->value_ended = at + len < r->feed_end;
	return 0;
}

static unsigned method_bit(unsigned m)
{
	switch (m) {
	case HTTP_GET:
		return HTTP_M_GET;
	case HTTP_HEAD:
		return HTTP_M_HEAD;
	case HTTP_POST:
		return HTTP_M_POST;
	case HTTP_PUT:
		return HTTP_M_PUT;
	case HTTP_PATCH:
		return HTTP_M_PATCH;
	case HTTP_DELETE:
		return HTTP_M_DELETE;
	case HTTP_OPTIONS:
		return HTTP_M_OPTIONS;
	default:
		return 0;
	}
}

static struct slice trimmed(const char *p, size_t n)
{
	while (n && (p[0] == ' ' || p[0] == '\t'))
		p++, n--;
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return slice_make(p, n);
}

static size_t count_headers(const struct http_request *q, const char *name, struct slice *first)
{
	size_t n = 0, len = strlen(name);
	for (size_t i = 0; i < q->nheaders; i++) {
		const struct http_header_ref *h = &q->headers[i];
		if (h->name_len == len && memcmp(q->head.data + h->name_off, name, len) == 0) {
			if (n++ == 0 && first)
				*first = trimmed(q->head.data + h->value_off, h->value_len);
		}
	}
	return n;
}

/* The request target: origin-form only ("/path?query"). */
static int check_target(struct http_reader *r, struct http_request *q)
{
	const char *t = q->head.data;
	size_t n = q->target_len;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
			return fail(r, 400, NULL, "invalid character in the request target (not percent-encoded)");
	if (n == 0 || t[0] != '/')
		return fail(r, 400, NULL, "request target is not a path (absolute-form, authority-form and '*' are not served)");
	if (memchr(t, '#', n))
		return fail(r, 400, NULL, "request target holds a fragment ('#')");
	const char *qm = memchr(t, '?', n);
	size_t plen = qm ? (size_t)(qm - t) : n;
	if (qm) {
		q->query_off = plen + 1;
		q->query_len = n - plen - 1;
	}
	enum http_path_error e = http_path_normalize(t, plen, &q->path);
	if (e != HTTP_PATH_OK)
		return fail(r, 400, NULL, "%s", http_path_error_text(e));
	buf_cstr(&q->path); /* NUL-terminated for http_request_path */
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct http_reader *r = p->data;
	struct http_request *q = r->req;
	r->head_done = true;
	q->major = p->http_major;
	q->minor = p->http_minor;
	q->parser_method = p->method;
	q->method = method_bit(p->method);
	q->keep_alive = http_should_keep_alive(p) != 0;
	q->upgrade = p->upgrade;
	bool chunked = (p->flags & F_CHUNKED) != 0;
	bool has_length = p->content_length != UINT64_MAX;
	q->body_expected = chunked || (has_length && p->content_length > 0);

	if (q->major == 0 && q->minor == 9) /* what http-parser makes of a line without a version */
		return fail(r, 400, NULL, "the request line does not end in HTTP/<major>.<minor>");
	if (q->major != 1)
		return fail(r, 505, NULL, "HTTP/%u.%u is not served (HTTP/1.0 and HTTP/1.1 are)", q->major, q->minor);
	if (!q->method)
		return fail(r, 501, NULL, "method %s is not served", http_method_str(p->method));
	struct slice v;
	size_t hosts = count_headers(q, "host", NULL);
	if (hosts > 1 || (hosts == 0 && q->minor >= 1))
		return fail(r, 400, NULL, hosts ? "more than one Host header field" : "no Host header field (HTTP/1.1)");
	size_t te = count_headers(q, "transfer-encoding", &v);
	if (te) {
		if (q->minor == 0)
			return fail(r, 400, NULL, "Transfer-Encoding in an HTTP/1.0 request");
		if (te > 1 || v.len != 7 || strncasecmp(v.p, "chunked", 7) != 0)
			return fail(r, 501, NULL, "transfer coding other than a single 'chunked' is not served");
	}
	if (!chunked && !has_length && (q->method & (HTTP_M_POST | HTTP_M_PUT | HTTP_M_PATCH)))
		return fail(r, 411, NULL, "%s without Content-Length or chunked body", http_method_name(q->method));
	if (has_length && p->content_length > r->lim.body_bytes)
		return fail(r, 413, "http.body_bytes", "body of %llu bytes, more than %zu",
			    (unsigned long long)p->content_length, r->lim.body_bytes);
	if (count_headers(q, "expect", &v)) {
		if (v.len != 12 || strncasecmp(v.p, "100-continue", 12) != 0)
			return fail(r, 417, NULL, "Expect other than 100-continue");
		q->expect_continue = q->body_expected && q->minor >= 1;
	}
	if (check_target(r, q) < 0)
		return -1;
	r->event = HTTP_READ_HEAD;
	http_parser_pause(p, 1);
	return 0;
}

/* The request line's last bytes must be " HTTP/<digits>.<digits>". */
static bool version_literal(const char *t, size_t n)
{
	size_t i = n, d;
	for (d = 0; i > 0 && t[i - 1] >= '0' && t[i - 1] <= '9'; i--)
		d++;
	if (!d || i == 0 || t[--i] != '.')
		return false;
	for (d = 0; i > 0 && t[i - 1] >= '0' && t[i - 1] <= '9'; i--)
		d++;
	return d && i >= 6 && memcmp(t + i - 6, " HTTP/", 6) == 0;
}

/* Checks framing bytes the parser took (everything but body data): a CR
 * is followed by LF, and the request line ends in its version. */
static int scan(struct http_reader *r, const char *p, const char *end)
{
	for (; p < end; p++) {
		char c = *p;
		if (r->prev_cr && c != '\n')
			return fail(r, 400, NULL, "bare CR (not followed by LF)");
		r->prev_cr = c == '\r';
		if (r->line_done || c == '\r')
			continue;
		if (c != '\n') {
			size_t k = sizeof(r->line_tail);
			if (r->line_len >= k)
				memmove(r->line_tail, r->line_tail + 1, k - 1);
			r->line_tail[r->line_len < k ? r->line_len : k - 1] = c;
			r->line_len++;
			continue;
		}
		if (r->line_len == 0)
			continue; /* an empty line before the request */
		r->line_done = true;
		size_t k = r->line_len < sizeof(r->line_tail) ? r->line_len : sizeof(r->line_tail);
		if (!version_literal(r->line_tail, k))
			return fail(r, 400, NULL, "the request line does not end in HTTP/<major>.<minor>");
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = p->data;
	struct http_request *q = r->req;
	if (scan(r, r->scan_from, at) < 0)
		return -1;
	if (r->prev_cr)
		return fail(r, 400, NULL, "bare CR (not followed by LF)");
	r->scan_from = at + len;
	if (q->body.len + len > r->lim.body_bytes)
		return fail(r, 413, "http.body_bytes", "body larger than %zu bytes", r->lim.body_bytes);
	buf_append(&q->body, at, len);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_reader *r = p->data;
	r->event = HTTP_READ_DONE;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- the reader ---- */

void http_reader_init(struct http_reader *r, const struct http_limits *lim)
{
	memset(r, 0, sizeof(*r));
	http_parser_init(&r->p, HTTP_REQUEST);
	r->p.data = r;
	r->lim = *lim;
}

void http_reader_clear(struct http_reader *r)
{
	http_request_free(r->req);
	r->req = NULL;
}

bool http_reader_busy(const struct http_reader *r)
{
	return r->req != NULL;
}

struct http_request *http_reader_take(struct http_reader *r)
{
	struct http_request *q = r->req;
	r->req = NULL;
	return q;
}

enum http_read http_reader_feed(struct http_reader *r, const char *data, size_t len, size_t *used)
{
	*used = 0;
	if (r->status)
		return HTTP_READ_ERROR;
	if (len == 0)
		return HTTP_READ_MORE; /* http_parser_execute would take it for the end of the input */
	bool in_head = !r->head_done;
	size_t feed = len;
	if (in_head && feed > r->lim.header_bytes - r->head_bytes)
		feed = r->lim.header_bytes - r->head_bytes;
	r->event = HTTP_READ_MORE;
	r->feed_end = data + feed;
	r->scan_from = data;
	size_t n = http_parser_execute(&r->p, &settings, data, feed);
	*used = n;
	if (in_head && !r->head_done)
		r->head_bytes += n;
	enum http_errno e = HTTP_PARSER_ERRNO(&r->p);
	if ((e == HPE_OK || e == HPE_PAUSED) && scan(r, r->scan_from, data + n) < 0)
		return HTTP_READ_ERROR;
	if (e == HPE_PAUSED) {
		http_parser_pause(&r->p, 0);
		if (r->event == HTTP_READ_DONE) {
			r->head_done = false;
			r->head_bytes = 0;
			r->value_ended = false;
			r->prev_cr = false;
			r->line_done = false;
			r->line_len = 0;
		}
		return r->event;
	}
	if (e != HPE_OK) {
		fail_errno(r, e);
		return HTTP_READ_ERROR;
	}
	if (in_head && !r->head_done && r->head_bytes >= r->lim.header_bytes) {
		if (r->req && r->req->nheaders == 0)
			fail(r, 414, "http.header_bytes", "request line longer than %zu bytes", r->lim.header_bytes);
		else
			fail(r, 431, "http.header_bytes", "request line and header fields longer than %zu bytes",
			     r->lim.header_bytes);
		return HTTP_READ_ERROR;
	}
	return HTTP_READ_MORE;
}
