/*
 * reply: what every handler shares: reading a JSON body and the route's
 * parameters, turning a manage_result into a status, and asking an admin
 * operation through the bridge and answering when it comes back.
 *
 * Statuses: 400 for a request that is not what the route takes (bad
 * JSON, a missing member, a bad query), 415 for a body that is not
 * application/json (which also keeps plain HTML forms of other sites out:
 * they cannot send it without a preflight we never grant), then the
 * manage result's: 404 not found, 409 exists or full, 422 invalid, 500
 * storage.  An admin operation that fails (a worker did not answer) is a
 * 503.
 */
#include "adminapi/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/admin.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/utf8.h"

int aa_status_of(enum manage_result r)
{
	switch (r) {
	case MANAGE_OK:
		return 200;
	case MANAGE_NOT_FOUND:
		return 404;
	case MANAGE_EXISTS:
	case MANAGE_FULL:
		return 409;
	case MANAGE_INVALID:
		return 422;
	default:
		return 500;
	}
}

void aa_fail(struct http_request *req, enum manage_result r, const struct manage_err *err)
{
	http_respond_json_error(req, aa_status_of(r), err && err->msg[0] ? err->msg : manage_result_name(r));
}

void aa_respond(struct http_request *req, int status, json_t *body)
{
	if (!body)
		log_fatal("adminapi", "no JSON to answer %s with", http_request_path(req));
	http_respond_json(req, status, body);
	json_decref(body);
}

/* "application/json", with parameters ("; charset=utf-8") or not. */
static bool is_json(struct slice ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;
	if (!ct.p || ct.len < n || strncasecmp(ct.p, want, n) != 0)
		return false;
	return ct.len == n || ct.p[n] == ';' || ct.p[n] == ' ';
}

json_t *aa_body(struct http_request *req)
{
	if (!is_json(http_request_header(req, "content-type"))) {
		http_respond_json_error(req, 415, "the body must be JSON, sent with Content-Type: application/json");
		return NULL;
	}
	struct slice b = http_request_body(req);
	json_error_t jerr;
	json_t *j = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j || !json_is_object(j)) {
		char text[300];
		if (!j)
			snprintf(text, sizeof(text), "the body is not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
				 jerr.column);
		else
			snprintf(text, sizeof(text), "the body must be a JSON object");
		json_decref(j);
		http_respond_json_error(req, 400, text);
		return NULL;
	}
	return j;
}

const char *aa_body_string(struct http_request *req, const json_t *body, const char *key, bool *bad)
{
	const json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		return NULL;
	const char *s = json_string_value(v);
	if (!s || strlen(s) != json_string_length(v)) {
		char text[120];
		snprintf(text, sizeof(text), "\"%s\" must be a string", key);
		http_respond_json_error(req, 400, text);
		*bad = true;
		return NULL;
	}
	return s;
}

bool aa_param(struct http_request *req, unsigned i, struct buf *out)
{
	struct slice p = http_request_param(req, i);
	if (memchr(p.p, '\0', p.len)) {
		http_respond_json_error(req, 400, "a path segment holds a NUL byte");
		return false;
	}
	buf_append(out, p.p, p.len);
	buf_cstr(out);
	return true;
}

/* A decimal number up to `max`, digits only. */
static bool number(const char *s, size_t max, size_t *out)
{
	size_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (size_t)(*s - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

enum { OFFSET_MAX = 1000000000 };

bool aa_page(struct http_request *req, struct manage_page *page, struct buf *search, size_t default_limit,
	     size_t max_limit)
{
	struct buf v = BUF_INIT;
	char text[120];
	page->offset = 0;
	page->limit = default_limit;
	page->search = NULL;
	if (http_request_query_param(req, "search", search) && search->len)
		page->search = buf_cstr(search);
	if (http_request_query_param(req, "offset", &v) && !number(buf_cstr(&v), OFFSET_MAX, &page->offset)) {
		snprintf(text, sizeof(text), "offset must be a number from 0 to %d", OFFSET_MAX);
		goto bad;
	}
	buf_reset(&v);
	if (http_request_query_param(req, "limit", &v) &&
	    (!number(buf_cstr(&v), max_limit, &page->limit) || page->limit == 0)) {
		snprintf(text, sizeof(text), "limit must be a number from 1 to %zu", max_limit);
		goto bad;
	}
	buf_clear(&v);
	return true;
bad:
	buf_clear(&v);
	http_respond_json_error(req, 400, text);
	return false;
}

/* ---- admin operations ---- */

struct op_wait {
	struct http_request *req;
	struct admin_bridge_call *call;
	aa_op_done_fn *done;
	json_t *ctx;
};

static void op_wait_free(struct op_wait *o)
{
	json_decref(o->ctx);
	free(o);
}

static void op_cancel(void *arg)
{
	struct op_wait *o = arg;
	admin_bridge_cancel(o->call);
	op_wait_free(o);
}

static void op_reply(void *arg, json_t *response)
{
	struct op_wait *o = arg;
	struct http_request *req = o->req;
	http_request_set_cancel(req, NULL, NULL);
	json_t *result = json_object_get(response, "result");
	if (json_is_true(json_object_get(response, "ok")) && result) {
		o->done(req, result, o->ctx);
	} else {
		const char *why = json_string_value(json_object_get(response, "error"));
		char text[600];
		snprintf(text, sizeof(text), "the server could not answer: %s", why ? why : "no answer");
		http_respond_json_error(req, 503, text);
	}
	op_wait_free(o);
}

void aa_op(struct http_request *req, json_t *request, aa_op_done_fn *done, json_t *ctx)
{
	const struct adminapi_state *st = adminapi_state();
	char *text = json_dumps(request, JSON_COMPACT);
	json_decref(request);
	if (!text)
		log_fatal("adminapi", "cannot serialise an admin request");
	struct op_wait *o = xcalloc(1, sizeof(*o));
	o->req = req;
	o->done = done;
	o->ctx = ctx;
	o->call = admin_request_from_worker(st->bridge, aa_worker(req), text, strlen(text), op_reply, o);
	free(text);
	http_request_set_cancel(req, op_cancel, o);
}
