/*
 * live: what the workers hold (client sessions, server-to-server links
 * and reports, metrics), asked of the admin operations on the main
 * thread (aa_op) and answered as they come back.  Arguments are checked
 * here first, so that an operation's refusal is left for what only it
 * can tell (a worker that did not answer: 503).
 */
#include "adminapi/internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"

enum { DOMAIN_MAX = 1023 };

static const char *who(struct http_request *req)
{
	return http_request_auth(req)->who;
}

/* The operation's result as the answer. */
static void as_is(struct http_request *req, json_t *result, json_t *ctx)
{
	(void)ctx;
	http_respond_json(req, 200, result);
}

/* The route's first parameter as a domain (lower case, in `out`): the
 * operations only compare it with the streams' domains, so its shape is
 * checked, not prepared.  False after answering. */
static bool domain_param(struct http_request *req, struct buf *out)
{
	if (!aa_param(req, 0, out))
		return false;
	if (out->len == 0 || out->len > DOMAIN_MAX) {
		http_respond_json_error(req, 422, "a domain is 1 to 1023 bytes");
		return false;
	}
	for (size_t i = 0; i < out->len; i++) {
		unsigned char c = (unsigned char)out->data[i];
		if (c <= ' ' || c == 0x7f || c == '@' || c == '/') {
			http_respond_json_error(req, 422, "not a domain name");
			return false;
		}
		if (c >= 'A' && c <= 'Z')
			out->data[i] = (char)(c - 'A' + 'a');
	}
	return true;
}

/* ---- sessions ---- */

void aa_sessions_list(struct http_request *req)
{
	aa_op(req, json_pack("{s:s}", "op", "sessions.list"), as_is, NULL);
}

static void kicked(struct http_request *req, json_t *result, json_t *ctx)
{
	json_int_t n = json_integer_value(json_object_get(result, "ended"));
	log_info("adminapi", "%s: %s ended %lld session%s of %s", http_request_peer(req), who(req), (long long)n,
		 n == 1 ? "" : "s", json_string_value(json_object_get(ctx, "jid")));
	aa_respond(req, 200, json_pack("{s:O, s:I}", "jid", json_object_get(ctx, "jid"), "ended", n));
}

void aa_session_kick(struct http_request *req)
{
	struct buf p = BUF_INIT;
	struct arena *a = arena_new();
	if (!aa_param(req, 0, &p))
		goto out;
	const char *bare;
	struct manage_err err;
	enum manage_result r = manage_user_jid(adminapi_state()->cfg, a, buf_cstr(&p), &bare, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	aa_op(req, json_pack("{s:s, s:s, s:s}", "op", "user.kick", "jid", bare, "reason", "admin"), kicked,
	      json_pack("{s:s}", "jid", bare));
out:
	buf_clear(&p);
	arena_free(a);
}

/* ---- federation ---- */

void aa_s2s_links(struct http_request *req)
{
	aa_op(req, json_pack("{s:s}", "op", "s2s.status"), as_is, NULL);
}

void aa_s2s_policy(struct http_request *req)
{
	aa_op(req, json_pack("{s:s}", "op", "s2s.policy"), as_is, NULL);
}

void aa_s2s_report(struct http_request *req)
{
	struct buf d = BUF_INIT;
	if (domain_param(req, &d))
		aa_op(req, json_pack("{s:s, s:s}", "op", "s2s.report", "domain", buf_cstr(&d)), as_is, NULL);
	buf_clear(&d);
}

static void closed(struct http_request *req, json_t *result, json_t *ctx)
{
	log_info("adminapi", "%s: %s closed %lld stream%s with %s", http_request_peer(req), who(req),
		 (long long)json_integer_value(json_object_get(result, "closed")),
		 json_integer_value(json_object_get(result, "closed")) == 1 ? "" : "s",
		 json_string_value(json_object_get(result, "domain")));
	http_respond_json(req, 200, result);
}

void aa_s2s_close(struct http_request *req)
{
	struct buf d = BUF_INIT;
	if (domain_param(req, &d))
		aa_op(req, json_pack("{s:s, s:s}", "op", "s2s.close", "domain", buf_cstr(&d)), closed, NULL);
	buf_clear(&d);
}

/* ---- /metrics ---- */

static void metrics_text(struct http_request *req, json_t *result, json_t *ctx)
{
	(void)ctx;
	const json_t *text = json_object_get(result, "text");
	if (!json_is_string(text)) {
		http_respond_json_error(req, 503, "the server gave no metrics");
		return;
	}
	http_respond(req, 200, METRICS_CONTENT_TYPE, json_string_value(text), json_string_length(text), 0);
}

void aa_metrics(struct http_request *req)
{
	aa_op(req, json_pack("{s:s}", "op", "server.metrics"), metrics_text, NULL);
}
