/*
 * users: accounts and their certificate pins (/api/users...), over
 * manage/.  Quick calls use the worker's store handle; a password is
 * hashed on the thread pool (aa_job).  Deleting an account ends its
 * sessions as parleyctl user del does (op user.kick), and its web admin
 * sessions if it was an administrator.
 */
#include "adminapi/internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"
#include "router/shard.h"
#include "store/store.h"

enum { USERS_PAGE = 100, USERS_PAGE_MAX = 1000 };

static const struct config *cfg(void)
{
	return adminapi_state()->cfg;
}

static struct store *store_of(struct http_request *req)
{
	return aa_shard(req)->store;
}

static const char *who(struct http_request *req)
{
	return http_request_auth(req)->who;
}

/* The route's first parameter as an account JID of ours, prepared (in
 * `a`); NULL after answering 400 or 422. */
static const char *account_param(struct http_request *req, struct arena *a)
{
	struct buf p = BUF_INIT;
	const char *bare = NULL;
	if (aa_param(req, 0, &p)) {
		struct manage_err err;
		enum manage_result r = manage_user_jid(cfg(), a, buf_cstr(&p), &bare, &err);
		if (r != MANAGE_OK) {
			aa_fail(req, r, &err);
			bare = NULL;
		}
	}
	buf_clear(&p);
	return bare;
}

/* ---- GET /api/users ---- */

void aa_users_list(struct http_request *req)
{
	struct manage_page page;
	struct buf search = BUF_INIT;
	struct arena *a = arena_new();
	if (!aa_page(req, &page, &search, USERS_PAGE, USERS_PAGE_MAX))
		goto out;
	const char **jids;
	size_t n, total;
	struct manage_err err;
	struct store *s = store_of(req);
	enum manage_result r = manage_user_list(s, cfg(), a, NULL, &page, &jids, &n, &total, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	json_t *users = json_array();
	for (size_t i = 0; i < n; i++) {
		struct manage_user_info info;
		if (manage_user_info(s, cfg(), jids[i], &info, &err) != MANAGE_OK)
			continue; /* deleted meanwhile */
		json_array_append_new(users, json_pack("{s:s, s:b, s:I}", "jid", jids[i], "password", info.password,
						       "certs", (json_int_t)info.pins));
	}
	aa_respond(req, 200,
		   json_pack("{s:o, s:I, s:I, s:I}", "users", users, "total", (json_int_t)total, "offset",
			     (json_int_t)page.offset, "limit", (json_int_t)page.limit));
out:
	buf_clear(&search);
	arena_free(a);
}

/* ---- POST /api/users, PUT /api/users/J/password ---- */

static void create_run(struct aa_job *job)
{
	job->result = manage_user_create(job->store, cfg(), job->jid, job->secret, &job->err);
}

static void password_run(struct aa_job *job)
{
	job->result = manage_user_set_password(job->store, cfg(), job->jid, job->secret, &job->err);
}

static void create_done(struct aa_job *job, struct http_request *req)
{
	if (!req)
		return;
	if (job->result != MANAGE_OK) {
		aa_fail(req, job->result, &job->err);
		return;
	}
	log_info("adminapi", "%s: %s created the account %s", http_request_peer(req), who(req), job->jid);
	aa_respond(req, 201, json_pack("{s:s}", "jid", job->jid));
}

static void password_done(struct aa_job *job, struct http_request *req)
{
	if (!req)
		return;
	if (job->result != MANAGE_OK) {
		aa_fail(req, job->result, &job->err);
		return;
	}
	log_info("adminapi", "%s: %s set a new password for %s", http_request_peer(req), who(req), job->jid);
	aa_respond(req, 200, json_pack("{s:s}", "jid", job->jid));
}

static void start_password_job(struct http_request *req, const char *jid, const char *pw, aa_job_run_fn *run,
			       aa_job_done_fn *done)
{
	struct aa_job *job = aa_job_new(req);
	job->jid = xstrdup(jid);
	job->secret_len = strlen(pw);
	job->secret = xmemdup(pw, job->secret_len + 1);
	aa_job_start(job, run, done);
}

void aa_user_create(struct http_request *req)
{
	json_t *body = aa_body(req);
	if (!body)
		return;
	struct arena *a = arena_new();
	bool bad = false;
	const char *jid = aa_body_string(req, body, "jid", &bad);
	const char *pw = bad ? NULL : aa_body_string(req, body, "password", &bad);
	if (bad)
		goto out;
	if (!jid) {
		http_respond_json_error(req, 400, "an account is {\"jid\":J,\"password\":P} (no password: "
						  "certificate logins only)");
		goto out;
	}
	const char *bare;
	struct manage_err err;
	enum manage_result r = manage_user_jid(cfg(), a, jid, &bare, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	if (pw) {
		start_password_job(req, bare, pw, create_run, create_done);
		goto out;
	}
	/* Certificate only: nothing to hash. */
	r = manage_user_create(store_of(req), cfg(), bare, NULL, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	log_info("adminapi", "%s: %s created the account %s (certificate logins only)", http_request_peer(req),
		 who(req), bare);
	aa_respond(req, 201, json_pack("{s:s}", "jid", bare));
out:
	if (pw)
		explicit_bzero((char *)pw, strlen(pw));
	json_decref(body);
	arena_free(a);
}

void aa_user_password(struct http_request *req)
{
	json_t *body = aa_body(req);
	if (!body)
		return;
	struct arena *a = arena_new();
	bool bad = false;
	const char *pw = aa_body_string(req, body, "password", &bad);
	if (bad)
		goto out;
	if (!pw) {
		http_respond_json_error(req, 400, "a new password is {\"password\":P}");
		goto out;
	}
	const char *bare = account_param(req, a);
	if (bare)
		start_password_job(req, bare, pw, password_run, password_done);
out:
	if (pw)
		explicit_bzero((char *)pw, strlen(pw));
	json_decref(body);
	arena_free(a);
}

/* ---- DELETE /api/users/J ---- */

static void deleted_kicked(struct http_request *req, json_t *result, json_t *ctx)
{
	aa_respond(req, 200,
		   json_pack("{s:O, s:I}", "jid", json_object_get(ctx, "jid"), "ended",
			     json_integer_value(json_object_get(result, "ended"))));
}

void aa_user_delete(struct http_request *req)
{
	struct arena *a = arena_new();
	const char *bare = account_param(req, a);
	if (!bare)
		goto out;
	struct manage_err err;
	enum manage_result r = manage_user_delete(store_of(req), cfg(), bare, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	size_t web = aa_sessions_end_jid(bare);
	log_info("adminapi", "%s: %s deleted the account %s%s", http_request_peer(req), who(req), bare,
		 web ? " and ended its web admin sessions" : "");
	/* A running server ends the account's sessions at once. */
	aa_op(req, json_pack("{s:s, s:s, s:s}", "op", "user.kick", "jid", bare, "reason", "deleted"), deleted_kicked,
	      json_pack("{s:s}", "jid", bare));
out:
	arena_free(a);
}

/* ---- /api/users/J/certs ---- */

void aa_user_certs(struct http_request *req)
{
	struct arena *a = arena_new();
	const char *bare = account_param(req, a);
	if (!bare)
		goto out;
	struct store_cert_pin *pins;
	size_t n;
	struct manage_err err;
	enum manage_result r = manage_user_pin_list(store_of(req), cfg(), a, bare, &pins, &n, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	json_t *certs = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(certs, json_pack("{s:s, s:I}", "pin", pins[i].fingerprint, "created",
						       (json_int_t)pins[i].created));
	aa_respond(req, 200, json_pack("{s:s, s:o}", "jid", bare, "certs", certs));
out:
	arena_free(a);
}

void aa_user_cert_add(struct http_request *req)
{
	json_t *body = aa_body(req);
	if (!body)
		return;
	struct arena *a = arena_new();
	bool bad = false;
	const char *pem = aa_body_string(req, body, "pem", &bad);
	const char *pin = bad ? NULL : aa_body_string(req, body, "pin", &bad);
	if (bad)
		goto out;
	if (!pem == !pin) {
		http_respond_json_error(req, 400, "a pin is {\"pem\":PEM} or {\"pin\":SHA-256 fingerprint}");
		goto out;
	}
	const char *bare = account_param(req, a);
	if (!bare)
		goto out;
	struct manage_err err;
	char fp[STORE_FINGERPRINT_LEN + 1];
	if (pem) {
		struct manage_cert *certs;
		size_t n;
		enum manage_result r = manage_certs_parse(a, pem, strlen(pem), &certs, &n, &err);
		if (r != MANAGE_OK) {
			aa_fail(req, r, &err);
			goto out;
		}
		if (n != 1) {
			http_respond_json_error(req, 422, "give one certificate to pin, not several");
			goto out;
		}
		memcpy(fp, certs[0].fingerprint, sizeof(fp));
	} else if (!store_fingerprint_norm(pin, fp)) {
		http_respond_json_error(req, 422, "the pin is not a SHA-256 fingerprint (64 hex digits, ':' allowed)");
		goto out;
	}
	enum manage_result r = manage_user_pin_add(store_of(req), cfg(), bare, fp, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	log_info("adminapi", "%s: %s pinned the certificate %s to %s", http_request_peer(req), who(req), fp, bare);
	aa_respond(req, 201, json_pack("{s:s, s:s}", "jid", bare, "pin", fp));
out:
	json_decref(body);
	arena_free(a);
}

void aa_user_cert_remove(struct http_request *req)
{
	struct arena *a = arena_new();
	struct buf pin = BUF_INIT;
	const char *bare = account_param(req, a);
	if (!bare || !aa_param(req, 1, &pin))
		goto out;
	char fp[STORE_FINGERPRINT_LEN + 1];
	if (!store_fingerprint_norm(buf_cstr(&pin), fp)) {
		http_respond_json_error(req, 422, "the pin is not a SHA-256 fingerprint (64 hex digits, ':' allowed)");
		goto out;
	}
	size_t left = 0;
	struct manage_err err;
	enum manage_result r = manage_user_pin_remove(store_of(req), cfg(), bare, fp, &left, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	log_info("adminapi", "%s: %s removed the pin %s of %s", http_request_peer(req), who(req), fp, bare);
	aa_respond(req, 200, json_pack("{s:s, s:I}", "jid", bare, "left", (json_int_t)left));
out:
	buf_clear(&pin);
	arena_free(a);
}
