/*
 * request: what a handler may read of its request.  Everything points
 * into the request, valid until its response is sent.
 */
#include "http/internal.h"

#include <string.h>

#include "core/conn.h"
#include "core/utf8.h"

unsigned http_request_method(const struct http_request *req)
{
	return req->method;
}

const char *http_request_path(const struct http_request *req)
{
	return req->path.len ? req->path.data : "/";
}

struct slice http_request_param(const struct http_request *req, unsigned i)
{
	return i < req->nparams ? req->params[i] : slice_make("", 0);
}

struct slice http_request_query(const struct http_request *req)
{
	if (req->query_len == 0)
		return slice_make("", 0);
	return slice_make(req->head.data + req->query_off, req->query_len);
}

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

/* Decodes application/x-www-form-urlencoded text; false on a bad escape. */
static bool form_decode(const char *p, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (n - i < 3 || hexval(p[i + 1]) < 0 || hexval(p[i + 2]) < 0)
				return false;
			c = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
			i += 2;
		}
		buf_append_char(out, c);
	}
	return true;
}

bool http_request_query_param(const struct http_request *req, const char *name, struct buf *out)
{
	struct slice q = http_request_query(req);
	struct buf key = BUF_INIT;
	bool found = false;
	const char *p = q.p, *end = q.p + q.len;
	while (p < end && !found) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pend = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pend - p));
		const char *kend = eq ? eq : pend;
		buf_reset(&key);
		if (form_decode(p, (size_t)(kend - p), &key) && strlen(buf_cstr(&key)) == key.len &&
		    strcmp(buf_cstr(&key), name) == 0) {
			size_t start = out->len;
			const char *v = eq ? eq + 1 : pend;
			if (form_decode(v, (size_t)(pend - v), out) && utf8_valid(out->data + start, out->len - start) &&
			    !memchr(out->data + start, '\0', out->len - start)) {
				found = true;
			} else {
				out->len = start;
				break;
			}
		}
		p = amp ? amp + 1 : end;
	}
	buf_clear(&key);
	return found;
}

struct slice http_request_header(const struct http_request *req, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct http_header_ref *h = &req->headers[i];
		if (h->name_len != len || memcmp(req->head.data + h->name_off, name, len) != 0)
			continue;
		const char *v = req->head.data + h->value_off;
		size_t n = h->value_len;
		while (n && (v[0] == ' ' || v[0] == '\t'))
			v++, n--;
		while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		return slice_make(v, n);
	}
	return SLICE_NULL;
}

bool http_request_header_at(const struct http_request *req, size_t i, struct slice *name, struct slice *value)
{
	if (i >= req->nheaders)
		return false;
	const struct http_header_ref *h = &req->headers[i];
	*name = slice_make(req->head.data + h->name_off, h->name_len);
	const char *v = req->head.data + h->value_off;
	size_t n = h->value_len;
	while (n && (v[0] == ' ' || v[0] == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	*value = slice_make(v, n);
	return true;
}

struct slice http_request_body(const struct http_request *req)
{
	return slice_make(req->body.len ? req->body.data : "", req->body.len);
}

const struct http_auth_result *http_request_auth(const struct http_request *req)
{
	return &req->auth;
}

void http_request_set_cancel(struct http_request *req, void (*cancel)(void *arg), void *arg)
{
	req->cancel = cancel;
	req->cancel_arg = cancel ? arg : NULL;
}
