/*
 * trust: the CA certificates the server trusts (/api/trust...), over
 * manage/'s trust stores: `?store=client` (client certificates, SASL
 * EXTERNAL; the default) or `?store=s2s` (peer servers).  A CA is named
 * by its file in the store ("id": the file name without .pem).  After a
 * change the server reloads its trust stores as on SIGHUP (op
 * server.reload), and the answer comes once it has: new connections are
 * judged by the new store at once.
 */
#include "adminapi/internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"

static const char *who(struct http_request *req)
{
	return http_request_auth(req)->who;
}

/* ?store=; false after answering 400. */
static bool store_param(struct http_request *req, enum manage_trust_store *t)
{
	struct buf v = BUF_INIT;
	bool ok = true;
	*t = MANAGE_TRUST_CLIENT;
	if (http_request_query_param(req, "store", &v) && !manage_trust_store_parse(buf_cstr(&v), t)) {
		http_respond_json_error(req, 400, "store is client (the default) or s2s");
		ok = false;
	}
	buf_clear(&v);
	return ok;
}

/* "NAME-FINGERPRINT.pem" -> "NAME-FINGERPRINT": the id the API shows. */
static json_t *id_of(const char *file)
{
	const char *slash = strrchr(file, '/');
	const char *base = slash ? slash + 1 : file;
	size_t n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, ".pem"))
		n -= 4;
	return json_stringn(base, n);
}

void aa_trust_list(struct http_request *req)
{
	enum manage_trust_store t;
	if (!store_param(req, &t))
		return;
	struct arena *a = arena_new();
	struct manage_trust_list l;
	struct manage_err err;
	enum manage_result r = manage_trust_list(adminapi_state()->cfg, t, a, &l, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	json_t *cas = json_array(), *skipped = json_array();
	for (size_t i = 0; i < l.nfiles; i++) {
		const struct manage_trust_file *f = &l.files[i];
		if (!f->read_by_server || f->unreadable) {
			json_array_append_new(skipped,
					      json_pack("{s:s, s:s}", "file", f->name, "why",
							f->unreadable ? f->unreadable
								      : "not read by the server (not *.pem, *.crt or *.cer)"));
			continue;
		}
		for (size_t k = 0; k < f->ncerts; k++) {
			const struct manage_cert *c = &f->certs[k];
			json_array_append_new(cas, json_pack("{s:o, s:s, s:s, s:s, s:s, s:b, s:b}", "id", id_of(f->name),
							     "file", f->name, "subject", c->subject, "not_after",
							     c->not_after, "fingerprint", c->fingerprint, "ca", c->ca,
							     "expired", c->expired));
		}
	}
	aa_respond(req, 200,
		   json_pack("{s:s, s:s, s:o, s:o}", "store", manage_trust_store_name(t), "dir", l.dir ? l.dir : "",
			     "cas", cas, "skipped", skipped));
out:
	arena_free(a);
}

/* After server.reload: ctx is {"status":N,"body":{...}}. */
static void reloaded(struct http_request *req, json_t *result, json_t *ctx)
{
	json_t *body = json_incref(json_object_get(ctx, "body"));
	json_int_t failed = json_integer_value(json_object_get(result, "failed"));
	json_object_set_new(body, "reloaded", json_boolean(failed == 0));
	aa_respond(req, (int)json_integer_value(json_object_get(ctx, "status")), body);
}

static void reload_then_answer(struct http_request *req, int status, json_t *body)
{
	char cause[160];
	snprintf(cause, sizeof(cause), "the admin API (%s)", who(req));
	aa_op(req, json_pack("{s:s, s:s}", "op", "server.reload", "cause", cause), reloaded,
	      json_pack("{s:i, s:o}", "status", status, "body", body));
}

void aa_trust_add(struct http_request *req)
{
	enum manage_trust_store t;
	json_t *body = aa_body(req);
	if (!body)
		return;
	struct arena *a = arena_new();
	bool bad = false;
	const char *pem = aa_body_string(req, body, "pem", &bad);
	if (bad || !store_param(req, &t))
		goto out;
	if (!pem) {
		http_respond_json_error(req, 400, "a CA is {\"pem\":PEM}");
		goto out;
	}
	struct manage_trust_added *added = NULL;
	size_t n = 0;
	struct manage_err err;
	enum manage_result r = manage_trust_add_pem(adminapi_state()->cfg, t, a, pem, strlen(pem),
						    "the certificate", &added, &n, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++) {
		log_info("adminapi", "%s: %s %s \"%s\" (sha256 %s) in the %s trust store", http_request_peer(req),
			 who(req), added[i].already ? "found already" : "trusted", added[i].cert.subject,
			 added[i].cert.fingerprint, manage_trust_store_name(t));
		json_array_append_new(list, json_pack("{s:o, s:s, s:s, s:b}", "id", id_of(added[i].path), "subject",
						      added[i].cert.subject, "fingerprint", added[i].cert.fingerprint,
						      "already", added[i].already));
	}
	json_t *first = json_array_get(list, 0);
	reload_then_answer(req, 201,
			   json_pack("{s:O?, s:s, s:o}", "id", json_object_get(first, "id"), "store",
				     manage_trust_store_name(t), "added", list));
out:
	json_decref(body);
	arena_free(a);
}

void aa_trust_remove(struct http_request *req)
{
	enum manage_trust_store t;
	struct buf id = BUF_INIT;
	struct arena *a = arena_new();
	if (!store_param(req, &t) || !aa_param(req, 0, &id))
		goto out;
	const char **removed = NULL;
	size_t n = 0;
	struct manage_err err;
	enum manage_result r = manage_trust_remove(adminapi_state()->cfg, t, a, buf_cstr(&id), &removed, &n, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++) {
		log_info("adminapi", "%s: %s removed %s from the %s trust store", http_request_peer(req), who(req),
			 removed[i], manage_trust_store_name(t));
		json_array_append_new(list, id_of(removed[i]));
	}
	reload_then_answer(req, 200, json_pack("{s:s, s:o}", "store", manage_trust_store_name(t), "removed", list));
out:
	buf_clear(&id);
	arena_free(a);
}
