/*
 * stream/sasl: SASL negotiation on a stream for every kind (see sasl.h).
 * Each mechanism is a row with its functions: start (the <auth/> and its
 * initial response) and step (a <response/>); the dispatch is by row.
 */
#include "stream/sasl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/worker.h"
#include "jid/jid.h"
#include "stream/stream.h"
#include "stream/throttle.h"
#include "tls/tls.h"
#include "xml/xml.h"

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"

typedef void xs_sasl_step_fn(struct xs_sasl *sa, struct arena *a, const struct buf *msg);

struct xs_sasl_mech {
	const char *name;
	enum scram_hash hash;
	bool password; /* needs stored credentials (SCRAM, PLAIN) */
	bool plus;     /* needs a channel binding */
	bool external; /* needs a verified peer certificate */
	/* The first message (the initial response, or the first <response/>
	 * after an empty challenge). */
	xs_sasl_step_fn *first;
	/* Each later <response/> (NULL: the mechanism has one message). */
	xs_sasl_step_fn *next;
};

static xs_sasl_step_fn scram_first, scram_final, plain_start, external_finish;

static const struct xs_sasl_mech mechs[] = {
	{"EXTERNAL", SCRAM_SHA256, false, false, true, external_finish, NULL},
	{"SCRAM-SHA-256-PLUS", SCRAM_SHA256, true, true, false, scram_first, scram_final},
	{"SCRAM-SHA-1-PLUS", SCRAM_SHA1, true, true, false, scram_first, scram_final},
	{"SCRAM-SHA-256", SCRAM_SHA256, true, false, false, scram_first, scram_final},
	{"SCRAM-SHA-1", SCRAM_SHA1, true, false, false, scram_first, scram_final},
	{"PLAIN", SCRAM_SHA256, true, false, false, plain_start, NULL},
};

static bool is_scram(const struct xs_sasl_mech *m)
{
	return m->first == scram_first;
}

static const struct xs_sasl_mech *mech_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (strcmp(mechs[i].name, name) == 0)
			return &mechs[i];
	return NULL;
}

static const char *tag(const struct xs_sasl *sa)
{
	return sa->xs->kind->tag;
}

static unsigned long long cid(const struct xs_sasl *sa)
{
	return (unsigned long long)conn_id(sa->xs->conn);
}

void xs_sasl_init(struct xs_sasl *sa, struct xstream *xs, const struct xs_sasl_rules *rules,
		  const struct config_strlist *mechanisms, const struct config *cfg, struct worker *w)
{
	memset(sa, 0, sizeof(*sa));
	sa->xs = xs;
	sa->rules = rules;
	sa->mechanisms = mechanisms;
	sa->cfg = cfg;
	sa->w = w;
}

/* ---- what is offered ---- */

static bool stream_has_cbind(const struct xs_sasl *sa)
{
	const char *types[4];
	return !sa->no_channel_binding && conn_secure(sa->xs->conn) &&
	       tls_session_channel_binding_types(conn_transport(sa->xs->conn), types, 4) > 0;
}

static bool mech_available(struct xs_sasl *sa, const struct xs_sasl_mech *m)
{
	/* PLAIN never in the clear. */
	if (m->password && !is_scram(m) && !conn_secure(sa->xs->conn))
		return false;
	if (m->password && !sa->rules->credentials)
		return false;
	/* EXTERNAL only with a certificate that verified (XEP-0178 §3), so
	 * never in the clear (s2s may negotiate without TLS where plain
	 * dialback is allowed). */
	if (m->external)
		return sa->rules->external && conn_secure(sa->xs->conn) && sa->rules->external_allowed(sa) &&
		       tls_session_peer_cert_status(conn_transport(sa->xs->conn), NULL) == TLS_PEER_CERT_VALID;
	if (m->plus && !stream_has_cbind(sa))
		return false;
	return true;
}

/* Offered here = configured, known and available on this stream. */
static bool mech_offered(struct xs_sasl *sa, const struct xs_sasl_mech *m)
{
	for (size_t i = 0; i < sa->mechanisms->n; i++)
		if (strcmp(sa->mechanisms->items[i], m->name) == 0)
			return mech_available(sa, m);
	return false;
}

static bool stream_offers_plus(struct xs_sasl *sa)
{
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (mechs[i].plus && mech_offered(sa, &mechs[i]))
			return true;
	return false;
}

void xs_sasl_features(struct xs_sasl *sa, struct buf *out)
{
	buf_append_str(out, "<mechanisms xmlns='" NS_SASL "'>");
	for (size_t i = 0; i < sa->mechanisms->n; i++) {
		const struct xs_sasl_mech *m = mech_by_name(sa->mechanisms->items[i]);
		if (m && mech_available(sa, m))
			buf_printf(out, "<mechanism>%s</mechanism>", m->name);
	}
	buf_append_str(out, "</mechanisms>");
	if (stream_has_cbind(sa)) {
		/* XEP-0440: tell clients which bindings -PLUS can use here. */
		const char *types[4];
		size_t n = tls_session_channel_binding_types(conn_transport(sa->xs->conn), types, 4);
		if (n) {
			buf_append_str(out, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>");
			for (size_t i = 0; i < n; i++)
				buf_printf(out, "<channel-binding type='%s'/>", types[i]);
			buf_append_str(out, "</sasl-channel-binding>");
		}
	}
}

void xs_sasl_clear(struct xs_sasl *sa)
{
	scram_server_free(sa->scram);
	sa->scram = NULL;
	sa->mech = NULL;
	sa->step = 0;
}

void xs_sasl_free(struct xs_sasl *sa)
{
	xs_sasl_clear(sa);
	free(sa->authcid);
	sa->authcid = NULL;
}

const char *xs_sasl_mechanism(const struct xs_sasl *sa)
{
	return sa->mech ? sa->mech->name : sa->succeeded_with ? sa->succeeded_with : "?";
}

bool xs_sasl_busy(const struct xs_sasl *sa)
{
	return sa->job != NULL;
}

void xs_sasl_orphan(struct xs_sasl *sa)
{
	sa->orphaned = true;
}

/* ---- replies ---- */

static void send_failure_now(struct xs_sasl *sa, enum sasl_cond cond, const char *text)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "<failure xmlns='" NS_SASL "'><%s/>", sasl_cond_name(cond));
	if (text) {
		buf_append_str(&b, "<text xml:lang='en'>");
		xml_escape_text(&b, text, strlen(text));
		buf_append_str(&b, "</text>");
	}
	buf_append_str(&b, "</failure>");
	xs_write(sa->xs, b.data, b.len);
	buf_clear(&b);
	sa->xs->state = XS_OPEN;
}

/*
 * How a refused attempt weighs.  Only a failed check of credentials (a
 * wrong password, no such account, a certificate refused for the account)
 * is a failed login: it is counted against the identity at this address
 * and against the address, and its answer is delayed.  Anything else is a
 * negotiation the peer could not complete (a channel binding it cannot
 * give, a 'y' flag we must refuse, a malformed or aborted exchange): it is
 * answered at once and counts nowhere, so that a stock client walking its
 * mechanism list reaches one it can complete on the same stream, and so
 * that one such client cannot lock out its neighbours behind a NAT.
 */
enum refusal { REFUSED_CREDENTIALS, REFUSED_NEGOTIATION };

/* Every refused attempt, of either kind, counts towards the stream's
 * bound, so that no peer can loop forever on one stream. */
static bool stream_attempts_exhausted(struct xs_sasl *sa)
{
	if (++sa->refusals < sa->cfg->auth.attempts_per_stream)
		return false;
	char text[128];
	snprintf(text, sizeof(text), "%u refused authentication attempts on one stream (auth.attempts_per_stream)",
		 sa->refusals);
	xs_error(sa->xs, STREAM_ERR_POLICY_VIOLATION, text);
	return true;
}

static void refused(struct xs_sasl *sa, enum refusal kind, enum sasl_cond cond, const char *user, const char *why)
{
	const struct config *cfg = sa->cfg;
	const char *mech = xs_sasl_mechanism(sa);
	xs_sasl_clear(sa);
	metrics_auth_named(&sa->w->metrics, tag(sa), mech,
			   kind == REFUSED_CREDENTIALS ? METRIC_AUTH_FAILURE : METRIC_AUTH_INCOMPLETE);
	if (kind == REFUSED_NEGOTIATION) {
		log_info(tag(sa),
			 "conn=%llu %s: SASL attempt refused, not counted as a failed login: user=%s mechanism=%s: "
			 "<%s/> (%s)",
			 cid(sa), conn_peer(sa->xs->conn), user ? user : "?", mech, sasl_cond_name(cond), why);
		if (!stream_attempts_exhausted(sa))
			send_failure_now(sa, cond, NULL);
		return;
	}
	uint64_t now = worker_now(sa->w);
	char ipbuf[64];
	const char *ip = conn_peer_ip(sa->xs->conn, ipbuf, sizeof(ipbuf));
	unsigned acct = xs_throttle_fail(XS_THROTTLE_ACCOUNT, ip, user ? user : "", now, cfg->auth.fail_window);
	unsigned addr = xs_throttle_fail(XS_THROTTLE_ADDRESS, ip, NULL, now, cfg->auth.fail_window);
	log_warn(tag(sa),
		 "conn=%llu authentication failed from %s: user=%s mechanism=%s: <%s/> (%s); in the last %u s: "
		 "%u failures of this account from %s (auth.fail_max = %u), %u from the address "
		 "(auth.fail_max_address = %u)",
		 cid(sa), conn_peer(sa->xs->conn), user ? user : "?", mech, sasl_cond_name(cond), why,
		 cfg->auth.fail_window, acct, ip, cfg->auth.fail_max, addr, cfg->auth.fail_max_address);
	if (stream_attempts_exhausted(sa))
		return;
	/* One more second per earlier failure of this identity here: a
	 * guesser slows down, its neighbours do not. */
	unsigned delay = acct > 1 ? acct - 1 : 0;
	if (delay > cfg->auth.fail_delay_max)
		delay = cfg->auth.fail_delay_max;
	if (delay == 0) {
		send_failure_now(sa, cond, NULL);
		return;
	}
	sa->failure_cond = cond;
	sa->failure_due_ms = now + (uint64_t)delay * 1000;
	conn_pause_reading(sa->xs->conn);
}

static void failed(struct xs_sasl *sa, enum sasl_cond cond, const char *user, const char *why)
{
	refused(sa, REFUSED_CREDENTIALS, cond, user, why);
}

static void not_completed(struct xs_sasl *sa, enum sasl_cond cond, const char *user, const char *why)
{
	refused(sa, REFUSED_NEGOTIATION, cond, user, why);
}

/* A storage failure: the peer may try again later; nothing is counted. */
static void temporary_failure(struct xs_sasl *sa)
{
	metrics_auth_named(&sa->w->metrics, tag(sa), xs_sasl_mechanism(sa), METRIC_AUTH_ERROR);
	send_failure_now(sa, SASL_TEMPORARY_AUTH_FAILURE, "storage failure");
	xs_sasl_clear(sa);
}

/*
 * Before any check of credentials: refused with temporary-auth-failure
 * when the address, or (with `identity`) this identity at the address,
 * has failed too often.  The log line names the limit and its setting.
 */
static bool throttle_refuses(struct xs_sasl *sa, const char *identity)
{
	const struct config *cfg = sa->cfg;
	uint64_t now = worker_now(sa->w);
	char ipbuf[64];
	const char *ip = conn_peer_ip(sa->xs->conn, ipbuf, sizeof(ipbuf));
	unsigned addr = xs_throttle_failures(XS_THROTTLE_ADDRESS, ip, NULL, now, cfg->auth.fail_window);
	unsigned acct =
		identity ? xs_throttle_failures(XS_THROTTLE_ACCOUNT, ip, identity, now, cfg->auth.fail_window) : 0;
	const char *text;
	if (addr >= cfg->auth.fail_max_address) {
		log_warn(tag(sa),
			 "conn=%llu refusing authentication from %s: %u failed logins from this address over all "
			 "accounts in %u s (limit auth.fail_max_address = %u; window auth.fail_window)",
			 cid(sa), conn_peer(sa->xs->conn), addr, cfg->auth.fail_window, cfg->auth.fail_max_address);
		text = "too many failed logins from your address; try later";
	} else if (acct >= cfg->auth.fail_max) {
		log_warn(tag(sa),
			 "conn=%llu refusing authentication of %s from %s: %u failed logins of this account from "
			 "this address in %u s (limit auth.fail_max = %u; window auth.fail_window); other accounts "
			 "at this address are not affected",
			 cid(sa), identity, conn_peer(sa->xs->conn), acct, cfg->auth.fail_window, cfg->auth.fail_max);
		text = "too many failed logins for this account from your address; try later";
	} else {
		return false;
	}
	metrics_auth_named(&sa->w->metrics, tag(sa), xs_sasl_mechanism(sa), METRIC_AUTH_THROTTLED);
	xs_sasl_clear(sa);
	if (!stream_attempts_exhausted(sa))
		send_failure_now(sa, SASL_TEMPORARY_AUTH_FAILURE, text);
	return true;
}

void xs_sasl_tick(struct xs_sasl *sa, uint64_t now_ms)
{
	if (sa->failure_due_ms && now_ms >= sa->failure_due_ms) {
		sa->failure_due_ms = 0;
		send_failure_now(sa, sa->failure_cond, NULL);
		conn_resume_reading(sa->xs->conn);
	}
}

static void succeeded(struct xs_sasl *sa, const struct jid *identity, const char *server_final, size_t final_len)
{
	void *t = conn_transport(sa->xs->conn);
	sa->xs->authenticated = true;
	log_info(tag(sa), "conn=%llu authenticated as %s with %s from %s (%s)", cid(sa), identity->bare,
		 xs_sasl_mechanism(sa), conn_peer(sa->xs->conn), t ? tls_session_version(t) : "no TLS");
	struct buf b = BUF_INIT;
	if (server_final) {
		buf_append_str(&b, "<success xmlns='" NS_SASL "'>");
		sasl_base64_encode(&b, server_final, final_len);
		buf_append_str(&b, "</success>");
	} else {
		buf_append_str(&b, "<success xmlns='" NS_SASL "'/>");
	}
	xs_write(sa->xs, b.data, b.len);
	buf_clear(&b);
	sa->succeeded_with = xs_sasl_mechanism(sa);
	metrics_auth_named(&sa->w->metrics, tag(sa), sa->succeeded_with, METRIC_AUTH_SUCCESS);
	xs_sasl_clear(sa);
	sa->rules->succeeded(sa, identity);
}

/* A non-empty authzid must name the authenticated identity itself. */
static bool authzid_ok(struct arena *a, const char *authzid, const struct jid *identity)
{
	if (!authzid)
		return true;
	struct jid z;
	if (jid_parse_str(a, authzid, &z) < 0)
		return false;
	return jid_is_bare(&z) && strcmp(z.bare, identity->bare) == 0;
}

static void set_authcid(struct xs_sasl *sa, const char *identity)
{
	free(sa->authcid);
	sa->authcid = xstrdup(identity);
}

/* ---- SCRAM ---- */

static int cbind_cb(void *ud, const char *type, unsigned char *out, size_t *len)
{
	return tls_session_channel_binding(ud, type, out, len);
}

static void scram_send_challenge(struct xs_sasl *sa, const struct buf *msg)
{
	struct buf b = BUF_INIT;
	buf_append_str(&b, "<challenge xmlns='" NS_SASL "'>");
	sasl_base64_encode(&b, msg->data, msg->len);
	buf_append_str(&b, "</challenge>");
	xs_write(sa->xs, b.data, b.len);
	buf_clear(&b);
}

/* A refused client-first-message, logged so an operator knows what the
 * client did and what would serve it. */
static void scram_first_refused(struct xs_sasl *sa, struct arena *a, enum sasl_cond c)
{
	enum scram_refusal why = scram_server_refusal(sa->scram);
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
		size_t n = tls_session_channel_binding_types(conn_transport(sa->xs->conn), types, 4);
		text = arena_printf(a, "%s: '%s' on %s; this session offers %s%s%s%s%s (XEP-0440)", text,
				    scram_server_cb_type(sa->scram), tls_session_version(conn_transport(sa->xs->conn)),
				    n > 0 ? types[0] : "none", n > 1 ? ", " : "", n > 1 ? types[1] : "",
				    n > 2 ? ", " : "", n > 2 ? types[2] : "");
	}
	not_completed(sa, c, scram_server_username(sa->scram), text);
}

static void scram_first(struct xs_sasl *sa, struct arena *a, const struct buf *msg)
{
	sa->step = 1;
	enum sasl_cond c = scram_server_client_first(sa->scram, msg->data, msg->len);
	if (c != SASL_OK) {
		/* Nothing about credentials was checked yet: the client could not
		 * complete this mechanism and may go on to its next one. */
		scram_first_refused(sa, a, c);
		return;
	}
	const char *user = scram_server_username(sa->scram);
	struct jid identity;
	struct scram_cred cred;
	const struct scram_cred *credp = NULL;
	if (sa->rules->identity(sa, a, user, &identity) == 0) {
		if (!authzid_ok(a, scram_server_authzid(sa->scram), &identity)) {
			not_completed(sa, SASL_INVALID_AUTHZID, identity.bare,
				      "the authzid names another account than the one authenticating");
			return;
		}
		if (throttle_refuses(sa, identity.bare))
			return;
		int r = sa->rules->credentials(sa, a, identity.bare, sa->mech->hash, &cred);
		if (r == 0)
			credp = &cred;
		else if (r < 0) {
			temporary_failure(sa);
			return;
		}
		set_authcid(sa, identity.bare);
	}
	/* Unknown accounts go on with a made-up salt so a probe cannot tell
	 * them apart; the proof check fails at the end. */
	struct buf out = BUF_INIT;
	scram_server_first(sa->scram, credp, &out);
	scram_send_challenge(sa, &out);
	buf_clear(&out);
}

static void scram_final(struct xs_sasl *sa, struct arena *a, const struct buf *msg)
{
	struct buf out = BUF_INIT;
	enum sasl_cond c = scram_server_client_final(sa->scram, msg->data, msg->len, &out);
	if (c != SASL_OK) {
		enum scram_refusal why = scram_server_refusal(sa->scram);
		refused(sa, why == SCRAM_REFUSED_CREDENTIALS ? REFUSED_CREDENTIALS : REFUSED_NEGOTIATION, c,
			sa->authcid ? sa->authcid : scram_server_username(sa->scram), scram_refusal_text(why));
		buf_clear(&out);
		return;
	}
	struct jid identity;
	if (!sa->authcid || jid_parse_str(a, sa->authcid, &identity) < 0) {
		failed(sa, SASL_NOT_AUTHORIZED, scram_server_username(sa->scram), "no such account");
		buf_clear(&out);
		return;
	}
	succeeded(sa, &identity, out.data, out.len);
	buf_clear(&out);
}

/* ---- PLAIN ---- */

struct xs_plain_job {
	uv_work_t work;
	struct xs_sasl *sa;
	struct scram_cred cred;
	bool have_cred;
	char *password;
	size_t password_len;
	char *identity; /* bare JID */
	bool ok;
};

static void plain_work(uv_work_t *w)
{
	struct xs_plain_job *job = w->data;
	/* Unknown accounts cost the same PBKDF2 time as known ones. */
	job->ok = scram_cred_check_password(&job->cred, job->password, job->password_len) && job->have_cred;
}

static void plain_done(uv_work_t *w, int status)
{
	struct xs_plain_job *job = w->data;
	struct xs_sasl *sa = job->sa;
	sa->job = NULL;
	if (sa->orphaned) {
		sa->rules->release(sa);
	} else if (sa->xs->state == XS_CLOSING || conn_closing(sa->xs->conn)) {
		/* closed meanwhile (timeout, shutdown): the owner's close frees it */
	} else if (status != 0 || !job->ok) {
		conn_resume_reading(sa->xs->conn);
		failed(sa, SASL_NOT_AUTHORIZED, job->identity, job->have_cred ? "wrong password" : "no such account");
		if (sa->xs->state != XS_CLOSING)
			xs_resume_after_hold(sa->xs);
	} else {
		struct arena *a = arena_new();
		struct jid identity;
		conn_resume_reading(sa->xs->conn);
		if (jid_parse_str(a, job->identity, &identity) == 0) {
			succeeded(sa, &identity, NULL, 0);
		} else {
			/* Cannot happen for an identity the rule made; never leave
			 * the stream held. */
			failed(sa, SASL_NOT_AUTHORIZED, job->identity, "the identity is not a valid JID");
			if (sa->xs->state != XS_CLOSING)
				xs_resume_after_hold(sa->xs);
		}
		arena_free(a);
	}
	explicit_bzero(job->password, job->password_len);
	free(job->password);
	free(job->identity);
	free(job);
}

static void plain_start(struct xs_sasl *sa, struct arena *a, const struct buf *msg)
{
	const char *authzid, *authcid, *password;
	size_t plen;
	enum sasl_cond c = sasl_plain_parse(a, msg->data, msg->len, &authzid, &authcid, &password, &plen);
	if (c != SASL_OK) {
		not_completed(sa, c, NULL, "malformed PLAIN message");
		return;
	}
	struct jid identity;
	if (sa->rules->identity(sa, a, authcid, &identity) < 0) {
		failed(sa, SASL_NOT_AUTHORIZED, authcid, "the username is not a valid JID local part");
		return;
	}
	if (!authzid_ok(a, authzid, &identity)) {
		not_completed(sa, SASL_INVALID_AUTHZID, identity.bare,
			      "the authzid names another account than the one authenticating");
		return;
	}
	if (throttle_refuses(sa, identity.bare))
		return;
	struct xs_plain_job *job = xcalloc(1, sizeof(*job));
	int r = sa->rules->credentials(sa, a, identity.bare, SCRAM_SHA256, &job->cred);
	if (r > 0)
		r = sa->rules->credentials(sa, a, identity.bare, SCRAM_SHA1, &job->cred);
	if (r == 0) {
		job->have_cred = true;
	} else if (r > 0) {
		job->cred.hash = SCRAM_SHA256;
		job->cred.iterations = sa->cfg->auth.scram_iterations;
		job->cred.salt_len = 16;
	} else {
		free(job);
		temporary_failure(sa);
		return;
	}
	job->sa = sa;
	job->password = xmemdup(password, plen);
	job->password_len = plen;
	job->identity = xstrdup(identity.bare);
	set_authcid(sa, identity.bare);
	sa->job = job;
	job->work.data = job;
	conn_pause_reading(sa->xs->conn);
	uv_queue_work(&sa->w->loop, &job->work, plain_work, plain_done);
	/* What follows in this read waits for the verdict (a pipelined new
	 * stream must meet a fresh parser, as after SCRAM). */
	if (sa->xs->in_feed)
		xs_stop_parser(sa->xs, XS_RESTART_HOLD);
}

/* ---- EXTERNAL (XEP-0178) ---- */

static void external_finish(struct xs_sasl *sa, struct arena *a, const struct buf *msg)
{
	if (!conn_secure(sa->xs->conn) ||
	    tls_session_peer_cert_status(conn_transport(sa->xs->conn), NULL) != TLS_PEER_CERT_VALID) {
		not_completed(sa, SASL_NOT_AUTHORIZED, NULL, "no verified certificate");
		return;
	}
	const char *authzid = NULL;
	if (msg->len) {
		if (memchr(msg->data, '\0', msg->len)) {
			not_completed(sa, SASL_MALFORMED_REQUEST, NULL, "NUL byte in the authzid");
			return;
		}
		authzid = arena_strndup(a, msg->data, msg->len);
	}
	struct jid identity;
	const char *who = NULL, *why = NULL;
	enum sasl_cond c = sa->rules->external(sa, a, authzid, &identity, &who, &why);
	if (c == SASL_TEMPORARY_AUTH_FAILURE) {
		temporary_failure(sa);
		return;
	}
	if (c != SASL_OK) {
		failed(sa, c, who, why);
		return;
	}
	if (throttle_refuses(sa, identity.bare))
		return;
	set_authcid(sa, identity.bare);
	succeeded(sa, &identity, NULL, 0);
}

/* ---- dispatch ---- */

static void auth_start(struct xs_sasl *sa, struct arena *a, struct xml_node *el)
{
	const char *name = xml_node_attr(el, "mechanism");
	const struct xs_sasl_mech *m = name ? mech_by_name(name) : NULL;
	xs_sasl_clear(sa);
	if (!m || !mech_offered(sa, m)) {
		log_info(tag(sa), "conn=%llu %s asked for SASL mechanism '%s', which this stream does not offer",
			 cid(sa), conn_peer(sa->xs->conn), name ? name : "");
		if (!stream_attempts_exhausted(sa))
			send_failure_now(sa, SASL_INVALID_MECHANISM, NULL);
		return;
	}
	sa->mech = m;
	free(sa->authcid);
	sa->authcid = NULL;
	if (throttle_refuses(sa, NULL))
		return;
	struct buf msg = BUF_INIT;
	const char *text = xml_node_text(a, el);
	bool has_initial = *text != '\0';
	if (has_initial && sasl_base64_decode(&msg, text, strlen(text)) < 0) {
		not_completed(sa, SASL_INCORRECT_ENCODING, NULL, "initial response is not valid base64");
		buf_clear(&msg);
		return;
	}
	sa->xs->state = XS_NEGOTIATING;
	if (is_scram(m)) {
		void *t = conn_transport(sa->xs->conn);
		bool cb = t && !sa->no_channel_binding;
		sa->scram = scram_server_new(m->hash, m->plus, stream_offers_plus(sa), cb ? cbind_cb : NULL, cb ? t : NULL);
		/* Unknown accounts must look like known ones, iterations too. */
		scram_server_set_unknown_iterations(sa->scram, sa->cfg->auth.scram_iterations);
	}
	if (!has_initial)
		xs_send_raw(sa->xs, "<challenge xmlns='" NS_SASL "'/>");
	else
		m->first(sa, a, &msg);
	buf_clear(&msg);
}

static void auth_response(struct xs_sasl *sa, struct arena *a, struct xml_node *el)
{
	if (sa->xs->state != XS_NEGOTIATING || !sa->mech || sa->job || sa->failure_due_ms) {
		send_failure_now(sa, SASL_MALFORMED_REQUEST, "no authentication in progress");
		xs_sasl_clear(sa);
		return;
	}
	struct buf msg = BUF_INIT;
	const char *text = xml_node_text(a, el);
	if (sasl_base64_decode(&msg, text, strlen(text)) < 0) {
		not_completed(sa, SASL_INCORRECT_ENCODING, sa->authcid, "response is not valid base64");
		buf_clear(&msg);
		return;
	}
	/* SCRAM counts its steps; the others have one message, which may
	 * come as a response after an empty challenge. */
	if (sa->mech->next && sa->step > 0)
		sa->mech->next(sa, a, &msg);
	else
		sa->mech->first(sa, a, &msg);
	buf_clear(&msg);
}

void xs_sasl_element(struct xs_sasl *sa, struct arena *a, struct xml_node *el)
{
	if (sa->job || sa->failure_due_ms) {
		/* The peer did not wait for our answer. */
		xs_error(sa->xs, STREAM_ERR_POLICY_VIOLATION, "SASL element while the previous one is being answered");
	} else if (strcmp(el->name, "auth") == 0) {
		auth_start(sa, a, el);
	} else if (strcmp(el->name, "response") == 0) {
		auth_response(sa, a, el);
	} else if (strcmp(el->name, "abort") == 0) {
		xs_sasl_clear(sa);
		send_failure_now(sa, SASL_ABORTED, NULL);
	} else {
		xs_error(sa->xs, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, el->name);
	}
	arena_free(a);
}

/* ---- the initiating side ---- */

void xs_sasl_client_external(struct xstream *xs, const char *authzid)
{
	struct buf b = BUF_INIT;
	buf_append_str(&b, "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>");
	if (authzid && *authzid)
		sasl_base64_encode(&b, authzid, strlen(authzid));
	else
		buf_append_char(&b, '='); /* an empty response (RFC 6120 §6.4.2) */
	buf_append_str(&b, "</auth>");
	xs_write(xs, b.data, b.len);
	buf_clear(&b);
}

enum sasl_cond xs_sasl_client_result(const struct xml_node *el)
{
	if (el->ns != XML_NS_SASL)
		return SASL_MALFORMED_REQUEST;
	if (strcmp(el->name, "success") == 0)
		return SASL_OK;
	if (strcmp(el->name, "failure") != 0)
		return SASL_MALFORMED_REQUEST;
	for (const struct xml_node *c = el->children; c; c = c->next) {
		if (!c->name || strcmp(c->name, "text") == 0)
			continue;
		for (int k = SASL_OK + 1; k <= SASL_TEMPORARY_AUTH_FAILURE; k++)
			if (strcmp(c->name, sasl_cond_name((enum sasl_cond)k)) == 0)
				return (enum sasl_cond)k;
	}
	return SASL_NOT_AUTHORIZED;
}
