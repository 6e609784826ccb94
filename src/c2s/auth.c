/*
 * c2s auth: SASL negotiation on a client stream (RFC 6120 §6).  The
 * mechanisms are a table; which of them a stream offers depends on the
 * configured list, TLS (PLAIN never in the clear) and the channel bindings
 * the TLS session can provide (-PLUS).  The SASL arithmetic is in sasl/;
 * this file adds accounts, throttling, the XML and the log lines.
 *
 * PLAIN costs a PBKDF2 run per attempt, so it runs on libuv's thread pool
 * while the stream's reading is paused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s/internal.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/conn.h"
#include "core/log.h"
#include "jid/jid.h"
#include "store/store.h"
#include "tls/tls.h"
#include "xml/xml.h"

struct c2s_mech {
	const char *name;
	enum scram_hash hash;
	bool scram;
	bool plus;
	bool external;
};

static const struct c2s_mech mechs[] = {
	{.name = "EXTERNAL", .external = true},
	{.name = "SCRAM-SHA-256-PLUS", .hash = SCRAM_SHA256, .scram = true, .plus = true},
	{.name = "SCRAM-SHA-1-PLUS", .hash = SCRAM_SHA1, .scram = true, .plus = true},
	{.name = "SCRAM-SHA-256", .hash = SCRAM_SHA256, .scram = true},
	{.name = "SCRAM-SHA-1", .hash = SCRAM_SHA1, .scram = true},
	{.name = "PLAIN", .hash = SCRAM_SHA256},
};

static const char *const store_mech_names[SCRAM_HASH_COUNT] = {
	[SCRAM_SHA1] = "SCRAM-SHA-1",
	[SCRAM_SHA256] = "SCRAM-SHA-256",
};

static const struct c2s_mech *mech_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (strcmp(mechs[i].name, name) == 0)
			return &mechs[i];
	return NULL;
}

static bool stream_has_cbind(struct c2s_stream *s)
{
	const char *types[4];
	return conn_secure(s->xs.conn) &&
	       tls_session_channel_binding_types(conn_transport(s->xs.conn), types, 4) > 0;
}

static bool mech_available(struct c2s_stream *s, const struct c2s_mech *m)
{
	if (!m->scram && !conn_secure(s->xs.conn))
		return false;
	/* EXTERNAL only with a certificate that verified (XEP-0178 §3). */
	if (m->external)
		return s->sh->srv->cfg->c2s.client_certs != CLIENT_CERTS_DISABLED &&
		       tls_session_peer_cert_status(conn_transport(s->xs.conn), NULL) == TLS_PEER_CERT_VALID;
	if (m->plus && !stream_has_cbind(s))
		return false;
	return true;
}

/* Offered here = configured, known and available on this stream. */
static bool mech_offered(struct c2s_stream *s, const struct c2s_mech *m)
{
	const struct config_strlist *l = &s->sh->srv->cfg->c2s.mechanisms;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i], m->name) == 0)
			return mech_available(s, m);
	return false;
}

static bool stream_offers_plus(struct c2s_stream *s)
{
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (mechs[i].plus && mech_offered(s, &mechs[i]))
			return true;
	return false;
}

void c2s_auth_features(struct c2s_stream *s, struct buf *out)
{
	const struct config_strlist *l = &s->sh->srv->cfg->c2s.mechanisms;
	buf_append_str(out, "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>");
	for (size_t i = 0; i < l->n; i++) {
		const struct c2s_mech *m = mech_by_name(l->items[i]);
		if (m && mech_available(s, m))
			buf_printf(out, "<mechanism>%s</mechanism>", m->name);
	}
	buf_append_str(out, "</mechanisms>");
	if (conn_secure(s->xs.conn)) {
		/* XEP-0440: tell clients which bindings -PLUS can use here. */
		const char *types[4];
		size_t n = tls_session_channel_binding_types(conn_transport(s->xs.conn), types, 4);
		if (n) {
			buf_append_str(out, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>");
			for (size_t i = 0; i < n; i++)
				buf_printf(out, "<channel-binding type='%s'/>", types[i]);
			buf_append_str(out, "</sasl-channel-binding>");
		}
	}
}

void c2s_auth_clear(struct c2s_stream *s)
{
	scram_server_free(s->scram);
	s->scram = NULL;
	s->mech = NULL;
	s->sasl_step = 0;
}

/* ---- replies ---- */

static void send_failure_now(struct c2s_stream *s, enum sasl_cond cond, const char *text)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><%s/>", sasl_cond_name(cond));
	if (text) {
		buf_append_str(&b, "<text xml:lang='en'>");
		xml_escape_text(&b, text, strlen(text));
		buf_append_str(&b, "</text>");
	}
	buf_append_str(&b, "</failure>");
	conn_write(s->xs.conn, b.data, b.len);
	buf_clear(&b);
	s->xs.state = XS_OPEN;
}

/*
 * How a refused attempt weighs.  Only a failed check of credentials (a
 * wrong password, no such account, a certificate refused for the account)
 * is a failed login: it is counted against the account at this address
 * and against the address, and its answer is delayed.  Anything else is a
 * negotiation the client could not complete (a channel binding it cannot
 * give, a 'y' flag we must refuse, a malformed or aborted exchange): it is
 * answered at once and counts nowhere, so that a stock client walking its
 * mechanism list reaches one it can complete on the same stream, and so
 * that one such client cannot lock out its neighbours behind a NAT.
 */
enum auth_refusal { AUTH_CREDENTIALS, AUTH_NEGOTIATION };

static const char *peer_ip(struct c2s_stream *s, char *buf, size_t len)
{
	return conn_peer_ip(s->xs.conn, buf, len);
}

/* Every refused attempt, of either kind, counts towards the stream's
 * bound, so that no client can loop forever on one stream. */
static bool stream_attempts_exhausted(struct c2s_stream *s)
{
	const struct config *cfg = s->sh->srv->cfg;
	if (++s->auth_failures < cfg->auth.attempts_per_stream)
		return false;
	char text[128];
	snprintf(text, sizeof(text), "%u refused authentication attempts on one stream (auth.attempts_per_stream)",
		 s->auth_failures);
	xs_error(&s->xs, STREAM_ERR_POLICY_VIOLATION, text);
	return true;
}

static void auth_refused(struct c2s_stream *s, enum auth_refusal kind, enum sasl_cond cond, const char *user,
			 const char *why)
{
	const struct config *cfg = s->sh->srv->cfg;
	const char *mech = s->mech ? s->mech->name : "?";
	c2s_auth_clear(s);
	if (kind == AUTH_NEGOTIATION) {
		log_info("c2s",
			 "conn=%llu %s: SASL attempt refused, not counted as a failed login: user=%s mechanism=%s: "
			 "<%s/> (%s)",
			 (unsigned long long)conn_id(s->xs.conn), conn_peer(s->xs.conn), user ? user : "?", mech,
			 sasl_cond_name(cond), why);
		if (!stream_attempts_exhausted(s))
			send_failure_now(s, cond, NULL);
		return;
	}
	uint64_t now = worker_now(s->sh->w);
	char ipbuf[64];
	const char *ip = peer_ip(s, ipbuf, sizeof(ipbuf));
	const char *account = user ? user : "";
	unsigned acct = c2s_throttle_fail(C2S_THROTTLE_ACCOUNT, ip, account, now, cfg->auth.fail_window);
	unsigned addr = c2s_throttle_fail(C2S_THROTTLE_ADDRESS, ip, NULL, now, cfg->auth.fail_window);
	log_warn("c2s",
		 "conn=%llu authentication failed from %s: user=%s mechanism=%s: <%s/> (%s); in the last %u s: "
		 "%u failures of this account from %s (auth.fail_max = %u), %u from the address "
		 "(auth.fail_max_address = %u)",
		 (unsigned long long)conn_id(s->xs.conn), conn_peer(s->xs.conn), user ? user : "?", mech,
		 sasl_cond_name(cond), why, cfg->auth.fail_window, acct, ip, cfg->auth.fail_max, addr,
		 cfg->auth.fail_max_address);
	if (stream_attempts_exhausted(s))
		return;
	/* One more second per earlier failure of this account here: a
	 * guesser slows down, its neighbours do not. */
	unsigned delay = acct > 1 ? acct - 1 : 0;
	if (delay > cfg->auth.fail_delay_max)
		delay = cfg->auth.fail_delay_max;
	if (delay == 0) {
		send_failure_now(s, cond, NULL);
		return;
	}
	s->failure_cond = cond;
	s->failure_due_ms = now + (uint64_t)delay * 1000;
	conn_pause_reading(s->xs.conn);
}

static void auth_failed(struct c2s_stream *s, enum sasl_cond cond, const char *user, const char *why)
{
	auth_refused(s, AUTH_CREDENTIALS, cond, user, why);
}

static void auth_not_completed(struct c2s_stream *s, enum sasl_cond cond, const char *user, const char *why)
{
	auth_refused(s, AUTH_NEGOTIATION, cond, user, why);
}

/*
 * Before any check of credentials: refused with temporary-auth-failure
 * when the address, or (with `account`) this account at the address, has
 * failed too often.  The log line names the limit and its setting.
 */
static bool throttle_refuses(struct c2s_stream *s, const char *account)
{
	const struct config *cfg = s->sh->srv->cfg;
	uint64_t now = worker_now(s->sh->w);
	char ipbuf[64];
	const char *ip = peer_ip(s, ipbuf, sizeof(ipbuf));
	unsigned addr = c2s_throttle_failures(C2S_THROTTLE_ADDRESS, ip, NULL, now, cfg->auth.fail_window);
	unsigned acct = account ? c2s_throttle_failures(C2S_THROTTLE_ACCOUNT, ip, account, now, cfg->auth.fail_window)
				: 0;
	const char *text;
	if (addr >= cfg->auth.fail_max_address) {
		log_warn("c2s",
			 "conn=%llu refusing authentication from %s: %u failed logins from this address over all "
			 "accounts in %u s (limit auth.fail_max_address = %u; window auth.fail_window)",
			 (unsigned long long)conn_id(s->xs.conn), conn_peer(s->xs.conn), addr, cfg->auth.fail_window,
			 cfg->auth.fail_max_address);
		text = "too many failed logins from your address; try later";
	} else if (acct >= cfg->auth.fail_max) {
		log_warn("c2s",
			 "conn=%llu refusing authentication of %s from %s: %u failed logins of this account from "
			 "this address in %u s (limit auth.fail_max = %u; window auth.fail_window); other accounts "
			 "at this address are not affected",
			 (unsigned long long)conn_id(s->xs.conn), account, conn_peer(s->xs.conn), acct, cfg->auth.fail_window,
			 cfg->auth.fail_max);
		text = "too many failed logins for this account from your address; try later";
	} else {
		return false;
	}
	c2s_auth_clear(s);
	if (!stream_attempts_exhausted(s))
		send_failure_now(s, SASL_TEMPORARY_AUTH_FAILURE, text);
	return true;
}

void c2s_auth_tick(struct c2s_stream *s, uint64_t now_ms)
{
	if (s->failure_due_ms && now_ms >= s->failure_due_ms) {
		s->failure_due_ms = 0;
		send_failure_now(s, s->failure_cond, NULL);
		conn_resume_reading(s->xs.conn);
	}
}

static void auth_succeeded(struct c2s_stream *s, const struct jid *bare, const char *server_final,
			   size_t final_len)
{
	void *t = conn_transport(s->xs.conn);
	s->xs.authenticated = true;
	s->jid = jid_dup(bare);
	log_info("c2s", "conn=%llu authenticated as %s with %s from %s (%s)",
		 (unsigned long long)conn_id(s->xs.conn), bare->bare, s->mech->name, conn_peer(s->xs.conn),
		 t ? tls_session_version(t) : "no TLS");
	struct buf b = BUF_INIT;
	if (server_final) {
		buf_append_str(&b, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>");
		sasl_base64_encode(&b, server_final, final_len);
		buf_append_str(&b, "</success>");
	} else {
		buf_append_str(&b, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
	}
	conn_write(s->xs.conn, b.data, b.len);
	buf_clear(&b);
	c2s_auth_clear(s);
	xs_restart_after_auth(&s->xs);
}

/* The account JID for a SASL username on this stream's host, or -1. */
static int account_jid(struct c2s_stream *s, struct arena *a, const char *user, struct jid *out)
{
	return jid_make(a, user, s->xs.domain, NULL, out);
}

/* A non-empty authzid must name the authenticated account itself. */
static bool authzid_ok(struct arena *a, const char *authzid, const struct jid *account)
{
	if (!authzid)
		return true;
	struct jid z;
	if (jid_parse_str(a, authzid, &z) < 0)
		return false;
	return jid_is_bare(&z) && strcmp(z.bare, account->bare) == 0;
}

static int lookup_cred(struct c2s_stream *s, struct arena *a, const char *bare, enum scram_hash h,
		       struct scram_cred *out)
{
	struct store_cred sc;
	int r = store_user_get_cred(s->sh->store, a, bare, store_mech_names[h], &sc);
	if (r != STORE_OK)
		return r;
	if (sc.salt_len > SCRAM_SALT_MAX || sc.key_len != scram_hash_len(h))
		return STORE_ERROR;
	memset(out, 0, sizeof(*out));
	out->hash = h;
	out->iterations = sc.iterations;
	memcpy(out->salt, sc.salt, sc.salt_len);
	out->salt_len = sc.salt_len;
	memcpy(out->stored_key, sc.stored_key, sc.key_len);
	memcpy(out->server_key, sc.server_key, sc.key_len);
	return STORE_OK;
}

/* ---- SCRAM ---- */

static int cbind_cb(void *ud, const char *type, unsigned char *out, size_t *len)
{
	return tls_session_channel_binding(ud, type, out, len);
}

static void scram_send_challenge(struct c2s_stream *s, const struct buf *msg)
{
	struct buf b = BUF_INIT;
	buf_append_str(&b, "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>");
	sasl_base64_encode(&b, msg->data, msg->len);
	buf_append_str(&b, "</challenge>");
	conn_write(s->xs.conn, b.data, b.len);
	buf_clear(&b);
}

/* A refused client-first-message, logged so an operator knows what the
 * client did and what would serve it. */
static void scram_first_refused(struct c2s_stream *s, struct arena *a, enum sasl_cond c)
{
	enum scram_refusal why = scram_server_refusal(s->scram);
	const char *text = scram_refusal_text(why);
	if (why == SCRAM_REFUSED_Y_DOWNGRADE)
		text = arena_printf(a, "%s: refused as a possible downgrade (RFC 5802 section 6); the client "
				       "cannot bind to this TLS session (e.g. it knows only tls-unique, which TLS "
				       "1.3 lacks) and will try its next mechanism. To serve such clients with SCRAM "
				       "instead, remove the -PLUS mechanisms from c2s.mechanisms, which gives up "
				       "downgrade protection for clients that can bind",
				    text);
	else if (why == SCRAM_REFUSED_CB_TYPE) {
		const char *types[4];
		size_t n = tls_session_channel_binding_types(conn_transport(s->xs.conn), types, 4);
		text = arena_printf(a, "%s: '%s' on %s; this session offers %s%s%s%s%s (XEP-0440)", text,
				    scram_server_cb_type(s->scram), tls_session_version(conn_transport(s->xs.conn)),
				    n > 0 ? types[0] : "none", n > 1 ? ", " : "", n > 1 ? types[1] : "",
				    n > 2 ? ", " : "", n > 2 ? types[2] : "");
	}
	auth_not_completed(s, c, scram_server_username(s->scram), text);
}

static void scram_first(struct c2s_stream *s, struct arena *a, const struct buf *msg)
{
	s->sasl_step = 1;
	enum sasl_cond c = scram_server_client_first(s->scram, msg->data, msg->len);
	if (c != SASL_OK) {
		/* Nothing about credentials was checked yet: the client could not
		 * complete this mechanism and may go on to its next one. */
		scram_first_refused(s, a, c);
		return;
	}
	const char *user = scram_server_username(s->scram);
	struct jid account;
	struct scram_cred cred;
	const struct scram_cred *credp = NULL;
	if (account_jid(s, a, user, &account) == 0) {
		if (!authzid_ok(a, scram_server_authzid(s->scram), &account)) {
			auth_not_completed(s, SASL_INVALID_AUTHZID, account.bare,
					   "the authzid names another account than the one authenticating");
			return;
		}
		if (throttle_refuses(s, account.bare))
			return;
		int r = lookup_cred(s, a, account.bare, s->mech->hash, &cred);
		if (r == STORE_OK)
			credp = &cred;
		else if (r != STORE_NOT_FOUND) {
			log_error("c2s", "conn=%llu cannot read credentials of %s: %s",
				  (unsigned long long)conn_id(s->xs.conn), account.bare, store_error(s->sh->store));
			send_failure_now(s, SASL_TEMPORARY_AUTH_FAILURE, "storage failure");
			c2s_auth_clear(s);
			return;
		}
		free(s->authcid);
		s->authcid = xstrdup(account.bare);
	}
	/* Unknown accounts go on with a made-up salt so a probe cannot tell
	 * them apart; the proof check fails at the end. */
	struct buf out = BUF_INIT;
	scram_server_first(s->scram, credp, &out);
	scram_send_challenge(s, &out);
	buf_clear(&out);
}

static void scram_final(struct c2s_stream *s, struct arena *a, const struct buf *msg)
{
	struct buf out = BUF_INIT;
	enum sasl_cond c = scram_server_client_final(s->scram, msg->data, msg->len, &out);
	if (c != SASL_OK) {
		enum scram_refusal why = scram_server_refusal(s->scram);
		auth_refused(s, why == SCRAM_REFUSED_CREDENTIALS ? AUTH_CREDENTIALS : AUTH_NEGOTIATION, c,
			     s->authcid ? s->authcid : scram_server_username(s->scram), scram_refusal_text(why));
		buf_clear(&out);
		return;
	}
	struct jid account;
	if (!s->authcid || jid_parse_str(a, s->authcid, &account) < 0) {
		auth_failed(s, SASL_NOT_AUTHORIZED, scram_server_username(s->scram), "no such account");
		buf_clear(&out);
		return;
	}
	auth_succeeded(s, &account, out.data, out.len);
	buf_clear(&out);
}

/* ---- PLAIN ---- */

struct c2s_plain_job {
	uv_work_t work;
	struct c2s_stream *s;
	struct scram_cred cred;
	bool have_cred;
	char *password;
	size_t password_len;
	char *account;  /* bare JID */
	bool ok;
};

static void plain_work(uv_work_t *w)
{
	struct c2s_plain_job *job = w->data;
	/* Unknown accounts cost the same PBKDF2 time as known ones. */
	job->ok = scram_cred_check_password(&job->cred, job->password, job->password_len) && job->have_cred;
}

static void plain_done(uv_work_t *w, int status)
{
	struct c2s_plain_job *job = w->data;
	struct c2s_stream *s = job->s;
	s->work_pending = false;
	s->job = NULL;
	if (s->dead) {
		c2s_stream_release(s);
	} else if (s->xs.state == XS_CLOSING || conn_closing(s->xs.conn)) {
		/* closed meanwhile (timeout, shutdown): on_close frees it */
	} else if (status != 0 || !job->ok) {
		conn_resume_reading(s->xs.conn);
		auth_failed(s, SASL_NOT_AUTHORIZED, job->account,
			    job->have_cred ? "wrong password" : "no such account");
		if (s->xs.state != XS_CLOSING)
			xs_resume_after_hold(&s->xs);
	} else {
		struct arena *a = arena_new();
		struct jid account;
		if (jid_parse_str(a, job->account, &account) == 0) {
			conn_resume_reading(s->xs.conn);
			auth_succeeded(s, &account, NULL, 0);
		}
		arena_free(a);
	}
	explicit_bzero(job->password, job->password_len);
	free(job->password);
	free(job->account);
	free(job);
}

static void plain_start(struct c2s_stream *s, struct arena *a, const struct buf *msg)
{
	const char *authzid, *authcid, *password;
	size_t plen;
	enum sasl_cond c = sasl_plain_parse(a, msg->data, msg->len, &authzid, &authcid, &password, &plen);
	if (c != SASL_OK) {
		auth_not_completed(s, c, NULL, "malformed PLAIN message");
		return;
	}
	struct jid account;
	if (account_jid(s, a, authcid, &account) < 0) {
		auth_failed(s, SASL_NOT_AUTHORIZED, authcid, "the username is not a valid JID local part");
		return;
	}
	if (!authzid_ok(a, authzid, &account)) {
		auth_not_completed(s, SASL_INVALID_AUTHZID, account.bare,
				   "the authzid names another account than the one authenticating");
		return;
	}
	if (throttle_refuses(s, account.bare))
		return;
	struct c2s_plain_job *job = xcalloc(1, sizeof(*job));
	int r = lookup_cred(s, a, account.bare, SCRAM_SHA256, &job->cred);
	if (r == STORE_NOT_FOUND)
		r = lookup_cred(s, a, account.bare, SCRAM_SHA1, &job->cred);
	if (r == STORE_OK) {
		job->have_cred = true;
	} else if (r == STORE_NOT_FOUND) {
		job->cred.hash = SCRAM_SHA256;
		job->cred.iterations = s->sh->srv->cfg->auth.scram_iterations;
		job->cred.salt_len = 16;
	} else {
		log_error("c2s", "conn=%llu cannot read credentials of %s: %s", (unsigned long long)conn_id(s->xs.conn),
			  account.bare, store_error(s->sh->store));
		send_failure_now(s, SASL_TEMPORARY_AUTH_FAILURE, "storage failure");
		free(job);
		return;
	}
	job->s = s;
	job->password = xmemdup(password, plen);
	job->password_len = plen;
	job->account = xstrdup(account.bare);
	free(s->authcid);
	s->authcid = xstrdup(account.bare);
	s->job = job;
	job->work.data = job;
	s->work_pending = true;
	conn_pause_reading(s->xs.conn);
	uv_queue_work(&s->sh->w->loop, &job->work, plain_work, plain_done);
	/* What follows in this read waits for the verdict (a pipelined new
	 * stream must meet a fresh parser, as after SCRAM). */
	if (s->xs.in_feed)
		xs_stop_parser(&s->xs, XS_RESTART_HOLD);
}

/* ---- EXTERNAL (XEP-0178) ---- */

static void external_finish(struct c2s_stream *s, struct arena *a, const struct buf *msg)
{
	const struct config *cfg = s->sh->srv->cfg;
	struct store *st = s->sh->store;
	struct tls_cert_ids ids;
	if (tls_session_peer_identities(conn_transport(s->xs.conn), a, &ids) < 0) {
		auth_not_completed(s, SASL_NOT_AUTHORIZED, NULL, "no client certificate");
		return;
	}
	const char *authzid = NULL;
	if (msg->len) {
		if (memchr(msg->data, '\0', msg->len)) {
			auth_not_completed(s, SASL_MALFORMED_REQUEST, NULL, "NUL byte in the authzid");
			return;
		}
		authzid = arena_strndup(a, msg->data, msg->len);
	}
	for (size_t i = 0; i < ids.nrefused; i++)
		log_info("c2s", "conn=%llu ignoring a certificate identity: %s", (unsigned long long)conn_id(s->xs.conn),
			 ids.refused[i]);
	struct jid account;
	bool pin_only;
	const char *why;
	enum sasl_cond c = c2s_external_identity(a, &ids, s->xs.domain, cfg->c2s.cn_as_username, authzid, &account,
						 &pin_only, &why);
	const char *who = authzid ? authzid : ids.nxmpp_addrs ? ids.xmpp_addrs[0] : ids.ncns ? ids.cns[0] : NULL;
	if (c != SASL_OK) {
		auth_failed(s, c, who, why);
		return;
	}
	int r = store_user_exists(st, account.bare);
	if (r == STORE_NOT_FOUND && !pin_only && cfg->c2s.auto_create_accounts) {
		r = store_user_create(st, account.bare, NULL, 0);
		if (r == STORE_OK)
			log_info("c2s", "conn=%llu created account %s at its first certificate login "
					"(c2s.auto_create_accounts)",
				 (unsigned long long)conn_id(s->xs.conn), account.bare);
		if (r == STORE_EXISTS)
			r = STORE_OK;
	}
	if (r == STORE_NOT_FOUND) {
		auth_failed(s, SASL_NOT_AUTHORIZED, account.bare,
			    pin_only ? "no identity in the certificate, and no such account to have pinned it"
				     : "no such account (c2s.auto_create_accounts is off)");
		return;
	}
	if (r == STORE_OK && throttle_refuses(s, account.bare))
		return;
	size_t npins = 0;
	if (r == STORE_OK)
		r = store_cert_pin_count(st, account.bare, &npins);
	if (r == STORE_OK && (npins > 0 || pin_only)) {
		r = store_cert_pin_find(st, account.bare, ids.fingerprint);
		if (r == STORE_NOT_FOUND) {
			auth_failed(s, SASL_NOT_AUTHORIZED, account.bare,
				    pin_only ? arena_printf(a, "no identity in the certificate and %s has not pinned it "
							       "(sha256 %.16s...)", account.bare, ids.fingerprint)
					     : arena_printf(a, "%s accepts only its pinned certificates; this one "
							       "(sha256 %.16s...) is not one of them", account.bare,
							    ids.fingerprint));
			return;
		}
	}
	if (r != STORE_OK) {
		log_error("c2s", "conn=%llu cannot check account %s: %s", (unsigned long long)conn_id(s->xs.conn),
			  account.bare, store_error(st));
		send_failure_now(s, SASL_TEMPORARY_AUTH_FAILURE, "storage failure");
		c2s_auth_clear(s);
		return;
	}
	log_info("c2s", "conn=%llu certificate identifies %s by %s%s", (unsigned long long)conn_id(s->xs.conn),
		 account.bare, pin_only ? "its pin" : why, npins ? " (pinned)" : "");
	free(s->authcid);
	s->authcid = xstrdup(account.bare);
	auth_succeeded(s, &account, NULL, 0);
}

/* ---- dispatch ---- */

static void auth_start(struct c2s_stream *s, struct arena *a, struct xml_node *el)
{
	const struct config *cfg = s->sh->srv->cfg;
	const char *name = xml_node_attr(el, "mechanism");
	const struct c2s_mech *m = name ? mech_by_name(name) : NULL;
	c2s_auth_clear(s);
	if (!m || !mech_offered(s, m)) {
		log_info("c2s", "conn=%llu %s asked for SASL mechanism '%s', which this stream does not offer",
			 (unsigned long long)conn_id(s->xs.conn), conn_peer(s->xs.conn), name ? name : "");
		if (!stream_attempts_exhausted(s))
			send_failure_now(s, SASL_INVALID_MECHANISM, NULL);
		return;
	}
	s->mech = m;
	free(s->authcid);
	s->authcid = NULL;
	if (throttle_refuses(s, NULL))
		return;
	struct buf msg = BUF_INIT;
	const char *text = xml_node_text(a, el);
	bool has_initial = *text != '\0';
	if (has_initial && sasl_base64_decode(&msg, text, strlen(text)) < 0) {
		auth_not_completed(s, SASL_INCORRECT_ENCODING, NULL, "initial response is not valid base64");
		buf_clear(&msg);
		return;
	}
	s->xs.state = XS_NEGOTIATING;
	if (m->scram) {
		void *t = conn_transport(s->xs.conn);
		s->scram = scram_server_new(m->hash, m->plus, stream_offers_plus(s), t ? cbind_cb : NULL, t);
		/* Unknown accounts must look like known ones, iterations too. */
		scram_server_set_unknown_iterations(s->scram, cfg->auth.scram_iterations);
		if (!has_initial)
			xs_send_raw(&s->xs, "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
		else
			scram_first(s, a, &msg);
	} else if (!has_initial) {
		xs_send_raw(&s->xs, "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
	} else if (m->external) {
		external_finish(s, a, &msg);
	} else {
		plain_start(s, a, &msg);
	}
	buf_clear(&msg);
}

static void auth_response(struct c2s_stream *s, struct arena *a, struct xml_node *el)
{
	if (s->xs.state != XS_NEGOTIATING || !s->mech || s->work_pending || s->failure_due_ms) {
		send_failure_now(s, SASL_MALFORMED_REQUEST, "no authentication in progress");
		c2s_auth_clear(s);
		return;
	}
	struct buf msg = BUF_INIT;
	const char *text = xml_node_text(a, el);
	if (sasl_base64_decode(&msg, text, strlen(text)) < 0) {
		auth_not_completed(s, SASL_INCORRECT_ENCODING, s->authcid, "response is not valid base64");
		buf_clear(&msg);
		return;
	}
	if (s->mech->external)
		external_finish(s, a, &msg);
	else if (!s->mech->scram)
		plain_start(s, a, &msg);
	else if (s->sasl_step == 0)
		scram_first(s, a, &msg);
	else
		scram_final(s, a, &msg);
	buf_clear(&msg);
}

void c2s_auth_element(struct c2s_stream *s, struct arena *a, struct xml_node *el)
{
	if (s->work_pending || s->failure_due_ms) {
		/* The client did not wait for our answer. */
		xs_error(&s->xs, STREAM_ERR_POLICY_VIOLATION, "SASL element while the previous one is being answered");
	} else if (strcmp(el->name, "auth") == 0) {
		auth_start(s, a, el);
	} else if (strcmp(el->name, "response") == 0) {
		auth_response(s, a, el);
	} else if (strcmp(el->name, "abort") == 0) {
		c2s_auth_clear(s);
		send_failure_now(s, SASL_ABORTED, NULL);
	} else {
		xs_error(&s->xs, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, el->name);
	}
	arena_free(a);
}
