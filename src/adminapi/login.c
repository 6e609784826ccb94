/*
 * login: the web page's sign-in.  POST /api/login checks an
 * administrator's XMPP password (on the thread pool, throttled as XMPP
 * logins are) and answers with a session: the cookie parley_admin
 * (HttpOnly, so no script reads it; Secure; SameSite=Strict, so no other
 * site's request carries it) and a CSRF token the page sends back in
 * X-CSRF-Token with every change.  POST /api/logout ends the session.
 *
 * Also here: GET /api/routes, the route table as data, so that a client
 * (and the tests) can see what the server serves and what each route
 * needs.
 */
#include "adminapi/internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

#define COOKIE_ATTRS "; Path=/; HttpOnly; Secure; SameSite=Strict"

static void login_run(struct aa_job *job)
{
	const struct adminapi_state *st = adminapi_state();
	job->result = manage_admin_password_check(job->store, st->cfg, job->jid, job->secret, &job->err);
}

static void login_refused(struct aa_job *job, struct http_request *req)
{
	if (!req)
		return;
	http_response_header(req, "WWW-Authenticate", "Bearer realm=\"parley\"");
	http_respond_json_error(req, 401, "wrong JID or password, or not an administrator");
}

static void login_done(struct aa_job *job, struct http_request *req)
{
	if (!req)
		return;
	if (job->result == MANAGE_ERROR) {
		log_error("adminapi", "%s: the login of %s could not be checked: %s", http_request_peer(req), job->jid,
			  job->err.msg);
		http_respond_json_error(req, 503, "the password could not be checked (storage); try again");
		return;
	}
	if (job->result != MANAGE_OK) {
		uint64_t ms = aa_throttle_failed(req, job->jid, "the web page's login",
						 "wrong password, or not an administrator");
		if (ms)
			aa_job_later(job, ms, login_refused);
		else
			login_refused(job, req);
		return;
	}
	char id[AA_TOKEN_CHARS + 1], csrf[AA_TOKEN_CHARS + 1];
	aa_session_new(job->jid, id, csrf);
	struct buf cookie = BUF_INIT;
	buf_printf(&cookie, "%s=%s%s", AA_COOKIE, id, COOKIE_ATTRS);
	http_response_header(req, "Set-Cookie", buf_cstr(&cookie));
	explicit_bzero(cookie.data, cookie.len);
	buf_clear(&cookie);
	log_info("adminapi", "%s: %s signed in to the web admin page", http_request_peer(req), job->jid);
	aa_respond(req, 200, json_pack("{s:s, s:s}", "jid", job->jid, "csrf", csrf));
	explicit_bzero(id, sizeof(id));
	explicit_bzero(csrf, sizeof(csrf));
}

void aa_login(struct http_request *req)
{
	json_t *body = aa_body(req);
	if (!body)
		return;
	bool bad = false;
	const char *jid = aa_body_string(req, body, "jid", &bad);
	const char *pw = bad ? NULL : aa_body_string(req, body, "password", &bad);
	if (bad)
		goto out;
	if (!jid || !pw || !*jid) {
		http_respond_json_error(req, 400, "a login is {\"jid\":J,\"password\":P}");
		goto out;
	}
	char *who = aa_account_name(adminapi_state()->cfg, jid);
	if (!aa_throttle_allows(req, who, "the web page's login")) {
		free(who);
		goto out;
	}
	struct aa_job *job = aa_job_new(req);
	job->jid = who;
	job->secret_len = strlen(pw);
	job->secret = xmemdup(pw, job->secret_len + 1);
	aa_job_start(job, login_run, login_done);
out:
	/* The password in the parsed body: wiped before jansson frees it. */
	if (pw)
		explicit_bzero((char *)pw, strlen(pw));
	json_decref(body);
}

void aa_logout(struct http_request *req)
{
	const struct http_auth_result *who = http_request_auth(req);
	if (who->via == HTTP_AUTH_COOKIE && aa_session_end(aa_request_cookie(req)))
		log_info("adminapi", "%s: %s signed out of the web admin page", http_request_peer(req), who->who);
	http_response_header(req, "Set-Cookie", AA_COOKIE "=" COOKIE_ATTRS "; Max-Age=0");
	aa_respond(req, 200, json_object());
}

void aa_routes(struct http_request *req)
{
	static const unsigned methods[] = {HTTP_M_GET, HTTP_M_HEAD, HTTP_M_POST, HTTP_M_PUT,
					   HTTP_M_PATCH, HTTP_M_DELETE, HTTP_M_OPTIONS};
	json_t *routes = json_array();
	for (size_t i = 0; i < adminapi_table.n; i++) {
		const struct http_route *r = &adminapi_table.routes[i];
		for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++)
			if (r->methods & methods[m])
				json_array_append_new(routes, json_pack("{s:s, s:s, s:s}", "method",
									 http_method_name(methods[m]), "path", r->path,
									 "perm", http_perm_name(r->perm)));
	}
	aa_respond(req, 200, json_pack("{s:o}", "routes", routes));
}
