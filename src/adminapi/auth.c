/*
 * auth: the hook http/ asks before every route that needs more than
 * PUBLIC (http_auth_set), and the throttle on passwords.
 *
 *   Authorization: Bearer pt_...  an API token (manage_token_check, on the
 *                                 worker's store handle: one indexed read)
 *   Authorization: Basic ...      an administrator's XMPP password, checked
 *                                 on the thread pool (PBKDF2)
 *   Cookie: parley_admin=...      a session of the web page (session.c)
 *
 * Nothing else is taken: no credential in a URL, no unknown scheme.  The
 * router (http/) then decides 401 or 403 from what the hook found; a 401
 * challenges with Bearer, and with Basic only when the request itself
 * tried Basic, since a Basic challenge makes a browser put up its own
 * password prompt over the page.
 *
 * Passwords are guessed no faster here than over XMPP: failures count in
 * the same lock-free counters as SASL's (stream/throttle.h, per address
 * and per account at an address, auth.fail_* settings), a refusal waits
 * a second per earlier failure before it is answered, and past the limits
 * the answer is 429 before any check.
 */
#include "adminapi/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/worker.h"
#include "router/shard.h"
#include "store/store.h"
#include "stream/throttle.h"

#define BASIC_CHALLENGE "Basic realm=\"parley\", charset=\"UTF-8\""

static const struct config *cfg_of(const struct http_request *req)
{
	return aa_shard(req)->srv->cfg;
}

static const char *peer_ip(const struct http_request *req, char *buf, size_t n)
{
	return conn_peer_ip(http_request_conn(req), buf, n);
}

/* "token backup", "admin@example.org": for log lines, cut to fit. */
static void set_who(struct http_auth_result *r, const char *prefix, const char *name)
{
	size_t p = strlen(prefix), n = strlen(name);
	if (p > sizeof(r->who) - 1)
		p = sizeof(r->who) - 1;
	if (n > sizeof(r->who) - 1 - p)
		n = sizeof(r->who) - 1 - p;
	memcpy(r->who, prefix, p);
	memcpy(r->who + p, name, n);
	r->who[p + n] = '\0';
}

/* ---- the throttle ---- */

bool aa_throttle_allows(struct http_request *req, const char *who, const char *via)
{
	const struct config *cfg = cfg_of(req);
	uint64_t now = worker_now(aa_worker(req));
	char ipbuf[64];
	const char *ip = peer_ip(req, ipbuf, sizeof(ipbuf));
	unsigned addr = xs_throttle_failures(XS_THROTTLE_ADDRESS, ip, NULL, now, cfg->auth.fail_window);
	unsigned acct = who ? xs_throttle_failures(XS_THROTTLE_ACCOUNT, ip, who, now, cfg->auth.fail_window) : 0;
	const char *text;
	if (addr >= cfg->auth.fail_max_address) {
		log_warn("adminapi",
			 "%s: refusing %s without checking it: %u failed logins from this address over all accounts "
			 "in %u s (limit auth.fail_max_address = %u; window auth.fail_window)",
			 http_request_peer(req), via, addr, cfg->auth.fail_window, cfg->auth.fail_max_address);
		text = "too many failed logins from your address; try later";
	} else if (acct >= cfg->auth.fail_max) {
		log_warn("adminapi",
			 "%s: refusing %s of %s without checking it: %u failed logins of this account from this "
			 "address in %u s (limit auth.fail_max = %u; window auth.fail_window)",
			 http_request_peer(req), via, who, acct, cfg->auth.fail_window, cfg->auth.fail_max);
		text = "too many failed logins for this account from your address; try later";
	} else {
		return true;
	}
	char retry[16];
	snprintf(retry, sizeof(retry), "%u", cfg->auth.fail_window);
	http_response_header(req, "Retry-After", retry);
	http_respond_json_error(req, 429, text);
	return false;
}

uint64_t aa_throttle_failed(struct http_request *req, const char *who, const char *via, const char *why)
{
	const struct config *cfg = cfg_of(req);
	uint64_t now = worker_now(aa_worker(req));
	char ipbuf[64];
	const char *ip = peer_ip(req, ipbuf, sizeof(ipbuf));
	unsigned acct = xs_throttle_fail(XS_THROTTLE_ACCOUNT, ip, who, now, cfg->auth.fail_window);
	unsigned addr = xs_throttle_fail(XS_THROTTLE_ADDRESS, ip, NULL, now, cfg->auth.fail_window);
	log_warn("adminapi",
		 "%s: sign-in refused: user=%s via %s: %s; in the last %u s: %u failures of this account from %s "
		 "(auth.fail_max = %u), %u from the address (auth.fail_max_address = %u)",
		 http_request_peer(req), who, via, why, cfg->auth.fail_window, acct, ip, cfg->auth.fail_max, addr,
		 cfg->auth.fail_max_address);
	unsigned delay = acct > 1 ? acct - 1 : 0;
	if (delay > cfg->auth.fail_delay_max)
		delay = cfg->auth.fail_delay_max;
	return (uint64_t)delay * 1000;
}

char *aa_account_name(const struct config *cfg, const char *jid)
{
	struct arena *a = arena_new();
	const char *bare = NULL;
	char *out;
	if (manage_user_jid(cfg, a, jid, &bare, NULL) == MANAGE_OK) {
		out = xstrdup(bare);
	} else {
		/* Whatever was typed, made safe for a log line: printable
		 * ASCII, cut. */
		size_t n = strnlen(jid, AA_NAME_LOGGED);
		out = xmalloc(n + 1);
		for (size_t i = 0; i < n; i++)
			out[i] = (unsigned char)jid[i] >= 0x20 && (unsigned char)jid[i] < 0x7f ? jid[i] : '?';
		out[n] = '\0';
	}
	arena_free(a);
	return out;
}

/* ---- Bearer ---- */

static void check_bearer(struct http_request *req, struct slice token)
{
	struct http_auth_result r = {.level = ROUTE_PERM_PUBLIC, .via = HTTP_AUTH_BEARER};
	struct buf t = BUF_INIT;
	buf_append(&t, token.p, token.len);
	struct manage_token_auth who;
	struct manage_err err;
	enum manage_result res = manage_token_check(aa_shard(req)->store, buf_cstr(&t), &who, &err);
	explicit_bzero(t.data, t.len);
	buf_clear(&t);
	if (res == MANAGE_OK) {
		r.level = who.read_only ? ROUTE_PERM_READ : ROUTE_PERM_ADMIN;
		set_who(&r, "token ", who.name);
	} else if (res == MANAGE_ERROR) {
		http_respond_json_error(req, 503, "the token could not be checked (storage); try again");
		return;
	} else {
		r.failed = true;
		set_who(&r, "", "an unknown token");
		log_info("adminapi", "%s: refused a Bearer token: %s", http_request_peer(req), err.msg);
	}
	http_auth_done(req, &r);
}

/* ---- Basic ---- */

static void basic_run(struct aa_job *job)
{
	const struct adminapi_state *st = adminapi_state();
	job->result = manage_admin_password_check(job->store, st->cfg, job->jid, job->secret, &job->err);
}

static void basic_refused(struct aa_job *job, struct http_request *req)
{
	if (!req)
		return;
	struct http_auth_result r = {.level = ROUTE_PERM_PUBLIC, .via = HTTP_AUTH_BASIC, .failed = true};
	set_who(&r, "", job->jid);
	http_response_header(req, "WWW-Authenticate", BASIC_CHALLENGE);
	http_auth_done(req, &r);
}

static void basic_done(struct aa_job *job, struct http_request *req)
{
	if (!req)
		return;
	if (job->result == MANAGE_OK) {
		struct http_auth_result r = {.level = ROUTE_PERM_ADMIN, .via = HTTP_AUTH_BASIC};
		set_who(&r, "", job->jid);
		http_auth_done(req, &r);
		return;
	}
	if (job->result == MANAGE_ERROR) {
		log_error("adminapi", "%s: HTTP Basic of %s could not be checked: %s", http_request_peer(req), job->jid,
			  job->err.msg);
		http_respond_json_error(req, 503, "the password could not be checked (storage); try again");
		return;
	}
	uint64_t ms = aa_throttle_failed(req, job->jid, "HTTP Basic", "wrong password, or not an administrator");
	if (ms)
		aa_job_later(job, ms, basic_refused);
	else
		basic_refused(job, req);
}

static void check_basic(struct http_request *req, struct slice value)
{
	struct buf user = BUF_INIT, pw = BUF_INIT;
	if (!aa_basic_parse(value, &user, &pw)) {
		struct http_auth_result r = {.level = ROUTE_PERM_PUBLIC, .via = HTTP_AUTH_BASIC, .failed = true};
		set_who(&r, "", "malformed Basic credentials");
		log_info("adminapi", "%s: refused malformed HTTP Basic credentials", http_request_peer(req));
		http_response_header(req, "WWW-Authenticate", BASIC_CHALLENGE);
		http_auth_done(req, &r);
		goto out;
	}
	char *who = aa_account_name(cfg_of(req), buf_cstr(&user));
	if (!aa_throttle_allows(req, who, "HTTP Basic")) {
		free(who);
		goto out;
	}
	struct aa_job *job = aa_job_new(req);
	job->jid = who;
	job->secret = xmemdup(buf_cstr(&pw), pw.len + 1);
	job->secret_len = pw.len;
	aa_job_start(job, basic_run, basic_done);
out:
	if (pw.data)
		explicit_bzero(pw.data, pw.cap);
	buf_clear(&pw);
	buf_clear(&user);
}

/* ---- the session cookie ---- */

static void check_cookie(struct http_request *req, struct slice id)
{
	struct http_auth_result r = {.level = ROUTE_PERM_PUBLIC, .via = HTTP_AUTH_COOKIE};
	struct aa_session_view *s = xmalloc(sizeof(*s));
	if (aa_session_find(id, s)) {
		r.level = ROUTE_PERM_ADMIN;
		set_who(&r, "", s->jid);
		memcpy(r.csrf_token, s->csrf, sizeof(s->csrf));
	} else {
		r.failed = true;
		set_who(&r, "", "an unknown or expired session");
	}
	explicit_bzero(s, sizeof(*s));
	free(s);
	http_auth_done(req, &r);
}

/* ---- the hook ---- */

static void check(struct http_request *req)
{
	struct slice authz = http_request_header(req, "authorization");
	struct slice token;
	if (authz.p) {
		if (aa_bearer_parse(authz, &token)) {
			check_bearer(req, token);
		} else if (aa_scheme_is(authz, "Basic")) {
			check_basic(req, authz);
		} else {
			struct http_auth_result r = {.level = ROUTE_PERM_PUBLIC, .failed = true};
			set_who(&r, "", "unknown credentials");
			log_info("adminapi", "%s: refused an Authorization header that is neither Bearer nor Basic",
				 http_request_peer(req));
			http_auth_done(req, &r);
		}
		return;
	}
	struct slice id = aa_request_cookie(req);
	if (id.p) {
		check_cookie(req, id);
		return;
	}
	struct http_auth_result r = {.level = ROUTE_PERM_PUBLIC};
	http_auth_done(req, &r);
}

const struct http_auth_ops adminapi_auth = {
	.check = check,
	.challenge = "Bearer realm=\"parley\"",
};
