/*
 * s2s out: the streams we open to other servers, as the initiating side of
 * the stream machine (stream/stream.h, xs_initiate).  Two purposes:
 *
 *  - a link (router/remote.h): carries our stanzas for one (local, remote)
 *    pair.  The router asks for it (s2s_transport.start) on the first
 *    stanza; we resolve the remote domain (dns/dns.h: _xmpps-server and
 *    _xmpp-server SRV, else its A/AAAA on 5269), connect to each target in
 *    turn (core/connect.h), take TLS (direct TLS with ALPN xmpp-server, or
 *    STARTTLS), judge the peer's certificate with the policy (policy.h),
 *    then authenticate: SASL EXTERNAL when the certificate is trusted and
 *    the peer offers it, else (or when EXTERNAL fails) dialback (XEP-0220)
 *    where the policy allows it.  Then the link is up and the queued
 *    stanzas flow.  A failure bounces what is queued with a text naming
 *    the step and the reason, and the next attempt backs off
 *    (s2s.retry_min doubling up to s2s.retry_max).  An up link that has
 *    carried nothing for s2s.idle_timeout closes.
 *
 *  - a verification (XEP-0220 §2.3): an incoming stream got <db:result/>
 *    and asks the authoritative server of the claimed domain, over a
 *    stream of its own, whether the key is right (<db:verify/>).  It
 *    takes TLS like a link (a certificate the policy refuses ends it) but
 *    does not authenticate; it closes when its last answer came.
 *
 * Everything runs on one worker: a link's owner, or the worker of the
 * incoming stream that asked for a verification.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/chunk.h"
#include "core/conn.h"
#include "core/connect.h"
#include "core/log.h"
#include "dns/dns.h"
#include "router/remote.h"
#include "router/shard.h"
#include "s2s/internal.h"
#include "s2s/report.h"
#include "s2s/s2s.h"
#include "tls/chain.h"
#include "tls/tls.h"
#include "xml/ns.h"
#include "xml/xml.h"

static const char *const alpn_xmpp_server[] = {"xmpp-server"};

/* A <db:verify/> this stream carries for an incoming stream. */
struct out_verify {
	struct list link;
	uint64_t in_conn;   /* the incoming stream that asked */
	char id[64];        /* its stream id */
	char key[DIALBACK_KEY_LEN * 2 + 1];
	bool sent;
};

/* A link of another local domain to the same peer, carried on a stream
 * that is up (XEP-0220 §4, piggybacking): its own <db:result/>, then its
 * stanzas on the same stream. */
struct out_carried {
	struct list link;
	struct remote_link *l;
	bool up;
	uint64_t asked_ms;
};

/* Where an outgoing stream is, for log lines and failure texts. */
enum out_step {
	STEP_DNS,
	STEP_CONNECT,
	STEP_TLS,
	STEP_STREAM,
	STEP_SASL,
	STEP_DIALBACK,
	STEP_READY,
	STEP_COUNT
};

static const char *const step_names[STEP_COUNT] = {
	[STEP_DNS] = "DNS",           [STEP_CONNECT] = "connect", [STEP_TLS] = "TLS",
	[STEP_STREAM] = "stream",     [STEP_SASL] = "SASL EXTERNAL", [STEP_DIALBACK] = "dialback",
	[STEP_READY] = "established",
};

struct s2s_out {
	struct xstream xs;
	struct shard *sh;
	struct list link;           /* sh->s2s_out */
	char local[256], remote[256];
	bool is_link;               /* carries links (else: a verification stream or a probe) */
	struct s2s_probe *probe;    /* a check of every target (parleyctl check federation) */
	struct remote_link *rl;     /* the link it was opened for; NULL once the router dropped it */
	struct list carried;        /* struct out_carried: links of our other domains, by dialback */
	struct list verifies;       /* struct out_verify */
	struct dns_request *dq;
	struct connect *cn;
	struct dns_target targets[DNS_MAX_TARGETS];
	char hosts[DNS_MAX_TARGETS][256];
	size_t ntargets;
	size_t first_target;        /* where the running connect started in targets[] */
	size_t target;              /* the one connected */
	bool direct_tls;            /* the target that answered is XEP-0368 direct TLS */
	enum out_step step;
	struct s2s_policy policy;
	struct s2s_decision dec;    /* after TLS */
	bool peer_dialback;         /* the peer's features offered dialback */
	bool by_dialback;           /* authenticated with dialback: other domains may piggyback */
	bool external_tried;
	uint64_t last_use_ms;       /* a stanza was written */
	/* the failure, told to the link when the stream ends */
	bool failed;
	enum s2s_code fail_code;
	enum stanza_etype fail_etype;
	enum stanza_cond fail_cond;
	char fail_text[600];
};

/* What the transport keeps per link (remote_link.data): the stream and
 * the back-off. */
struct s2s_link {
	struct s2s_out *out;        /* the stream that carries it (its own or a shared one) */
	bool skip_external;         /* the peer broke the stream on EXTERNAL: dialback only */
	bool no_piggyback;          /* the peer refused it on a shared stream: a stream of its own */
	unsigned failures;
	uint64_t retry_at_ms;
	enum stanza_etype etype;
	enum stanza_cond cond;
	char text[600];
};

/* A probe: the stream visits every target in turn and records what
 * happened at each (s2s.h, s2s_probe). */
struct s2s_probe {
	bool features_only;
	s2s_probe_cb *cb;
	void *ud;
	struct s2s_probe_result res;
};

static unsigned long long cid(const struct s2s_out *o)
{
	return o->xs.conn ? (unsigned long long)conn_id(o->xs.conn) : 0ULL;
}

static const struct config *cfg_of(const struct s2s_out *o)
{
	return o->sh->srv->cfg;
}

static const char *purpose(const struct s2s_out *o)
{
	return o->is_link ? "link" : o->probe ? "check" : "dialback verification";
}

/* Where this stream's facts go: a probe's current target, a link's
 * report, or nowhere (a verification). */
static struct s2s_attempt *attempt_of(struct s2s_out *o)
{
	if (o->probe)
		return o->target < o->probe->res.n ? &o->probe->res.targets[o->target] : NULL;
	return o->is_link ? s2s_report_at(o->sh, o->remote, S2S_DIR_OUT) : NULL;
}

static void out_free(struct s2s_out *o);
static struct s2s_out *out_new(struct shard *sh, const char *local, const char *remote, struct remote_link *l);
static void out_start(struct s2s_out *o);
static bool next_target(struct s2s_out *o, const char *why);
static void connect_from(struct s2s_out *o, size_t from);

/* ---- failure and the end of a stream ---- */

/* Records why the stream cannot carry the link, logs it once, and closes
 * the connection (the link hears it from on_close) or, without one, ends
 * now. */
static void out_fail(struct s2s_out *o, enum s2s_code code, enum stanza_etype etype, enum stanza_cond cond,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void out_end(struct s2s_out *o);

/* The code and sentence of a failure, "<code>: <sentence>", into
 * o->fail_text (the log line, the bounce, the stream error). */
static void set_failure(struct s2s_out *o, enum s2s_code code, enum stanza_etype etype, enum stanza_cond cond,
			const char *detail, const char *fmt, va_list ap)
{
	o->failed = true;
	o->fail_code = code;
	o->fail_etype = etype;
	o->fail_cond = cond;
	int n = snprintf(o->fail_text, sizeof(o->fail_text), "%s%s%s: ", s2s_code_name(code), detail ? ":" : "",
			 detail ? detail : "");
	if (n > 0 && (size_t)n < sizeof(o->fail_text))
		vsnprintf(o->fail_text + n, sizeof(o->fail_text) - (size_t)n, fmt, ap);
	if (o->is_link)
		s2s_report_end(o->sh, o->remote, S2S_DIR_OUT, false, code, o->fail_text, NULL);
	struct s2s_attempt *at = o->probe ? attempt_of(o) : NULL;
	if (at) {
		at->ok = false;
		at->code = code;
		snprintf(at->result, sizeof(at->result), "%s", o->fail_text);
	}
}

/* Records and logs a failure once (the first one stands). */
static void note_failure(struct s2s_out *o, enum s2s_code code, const char *detail, enum stanza_etype etype,
			 enum stanza_cond cond, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void note_failure(struct s2s_out *o, enum s2s_code code, const char *detail, enum stanza_etype etype,
			 enum stanza_cond cond, const char *fmt, ...)
{
	if (o->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	set_failure(o, code, etype, cond, detail, fmt, ap);
	va_end(ap);
	log_warn("s2s", "conn=%llu outgoing %s %s -> %s failed at step %s: %s", cid(o), purpose(o), o->local, o->remote,
		 step_names[o->step], o->fail_text);
}

/* Fails the stream: recorded, told to the peer in a stream error (so its
 * operator sees the code too), and the connection closes; without one the
 * stream ends now. */
static void out_fail(struct s2s_out *o, enum s2s_code code, enum stanza_etype etype, enum stanza_cond cond,
		     const char *fmt, ...)
{
	if (!o->failed) {
		va_list ap;
		va_start(ap, fmt);
		set_failure(o, code, etype, cond, NULL, fmt, ap);
		va_end(ap);
		log_warn("s2s", "conn=%llu outgoing %s %s -> %s failed at step %s: %s", cid(o), purpose(o), o->local,
			 o->remote, step_names[o->step], o->fail_text);
	}
	if (!o->xs.conn) {
		out_end(o);
		return;
	}
	if (o->xs.state == XS_CLOSING)
		return;
	if (o->xs.state == XS_TLS_HANDSHAKE || o->xs.state == XS_STARTTLS) {
		o->xs.state = XS_CLOSING;
		conn_close(o->xs.conn, o->fail_text);
		return;
	}
	/* RFC 6120 §4.9.3: policy-violation for a refusal by policy. */
	bool policy = (o->fail_code >= S2S_CERT_NONE && o->fail_code <= S2S_PIN_MISMATCH) ||
		      o->fail_code == S2S_POLICY_DENIED || o->fail_code == S2S_NOT_ALLOWED ||
		      o->fail_code == S2S_PLAINTEXT_REFUSED;
	xs_error(&o->xs, policy ? STREAM_ERR_POLICY_VIOLATION : STREAM_ERR_UNDEFINED_CONDITION, o->fail_text);
}

/* The stream is over: the link and the incoming streams waiting for a
 * verification hear how it ended, and it is freed. */
/* A probe goes on with its next target; true when it did.  Otherwise it
 * reports (once) and the stream ends as any other. */
static bool probe_next(struct s2s_out *o)
{
	struct s2s_probe *p = o->probe;
	if (o->ntargets && o->target + 1 < o->ntargets && !o->cn && !o->dq) {
		size_t next = o->target + 1;
		xs_release(&o->xs);
		memset(&o->xs, 0, sizeof(o->xs));
		o->failed = false;
		o->fail_text[0] = '\0';
		o->fail_code = S2S_CODE_NONE;
		o->external_tried = o->peer_dialback = o->by_dialback = false;
		memset(&o->dec, 0, sizeof(o->dec));
		connect_from(o, next);
		return true;
	}
	o->probe = NULL;
	if (p->res.n == 0 && o->failed) {
		p->res.code = o->fail_code;
		snprintf(p->res.text, sizeof(p->res.text), "%s", o->fail_text);
	}
	p->cb(p->ud, &p->res);
	free(p->res.targets);
	free(p->res.where);
	free(p);
	return false;
}

static void out_end(struct s2s_out *o)
{
	if (o->probe && probe_next(o))
		return;
	list_remove(&o->link);
	dns_resolve_cancel(o->dq);
	o->dq = NULL;
	conn_connect_cancel(o->cn);
	o->cn = NULL;
	/* Answers that will not come. */
	list_for_each_safe(pos, &o->verifies)
	{
		struct out_verify *v = list_entry(pos, struct out_verify, link);
		bool timeout = o->failed && o->fail_cond == STANZA_ERR_REMOTE_SERVER_TIMEOUT;
		char text[1000];
		snprintf(text, sizeof(text), "could not verify the key with %s: %s", o->remote,
			 o->failed ? o->fail_text : "the stream closed before an answer");
		s2s_in_dialback_done(o->sh, v->in_conn, o->local, o->remote, S2S_VERIFY_ERROR,
				     timeout ? STANZA_ERR_REMOTE_SERVER_TIMEOUT : STANZA_ERR_REMOTE_SERVER_NOT_FOUND, text);
		list_remove(&v->link);
		free(v);
	}
	list_for_each_safe(pos, &o->carried)
	{
		struct out_carried *c = list_entry(pos, struct out_carried, link);
		struct s2s_link *csl = c->l->data;
		csl->out = NULL;
		list_remove(&c->link);
		if (c->up)
			remote_link_down(c->l);
		else
			remote_link_fail(c->l, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
					 o->failed ? o->fail_text : "the shared stream closed before dialback answered");
		free(c);
	}
	struct remote_link *l = o->rl;
	if (l) {
		struct s2s_link *sl = l->data;
		sl->out = NULL;
		o->rl = NULL;
		const struct config *cfg = cfg_of(o);
		uint64_t now = worker_now(o->sh->w);
		if (o->step == STEP_READY && !o->failed) {
			remote_link_down(l);
		} else {
			if (!o->failed)
				note_failure(o, S2S_STREAM_CLOSED, NULL, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
					     "the stream to %s closed at step %s", o->remote, step_names[o->step]);
			if (o->step == STEP_READY) {
				remote_link_down(l);
			} else if (o->step == STEP_SASL && !sl->skip_external && (o->dec.methods & S2S_METHOD_DIALBACK)) {
				/* The peer ended the stream instead of answering
				 * EXTERNAL (ejabberd 23.01 does for certificates
				 * with id-on-xmppAddr): once more, with dialback. */
				sl->skip_external = true;
				log_warn("s2s", "link %s -> %s: %s broke the stream during SASL EXTERNAL (%s); trying again "
						"with dialback, and using dialback on this link from now on",
					 o->local, o->remote, o->remote, o->fail_text);
				struct shard *sh = o->sh;
				out_free(o);
				sl->out = out_new(sh, l->local, l->remote, l);
				out_start(sl->out);
				return;
			} else {
				/* Back off: retry_min, doubling, up to retry_max. */
				sl->failures++;
				uint64_t delay = cfg->s2s.retry_min;
				for (unsigned i = 1; i < sl->failures && delay < cfg->s2s.retry_max; i++)
					delay *= 2;
				if (delay > cfg->s2s.retry_max)
					delay = cfg->s2s.retry_max;
				sl->retry_at_ms = now + delay * 1000;
				sl->etype = o->fail_etype;
				sl->cond = o->fail_cond;
				snprintf(sl->text, sizeof(sl->text), "%s", o->fail_text);
				remote_link_fail(l, o->fail_etype, o->fail_cond, o->fail_text);
			}
		}
	}
	out_free(o);
}

static void out_free(struct s2s_out *o)
{
	xs_release(&o->xs);
	free(o);
}

/* ---- the stream kind ---- */


static struct s2s_out *out_of(const struct xstream *xs)
{
	return container_of(xs, struct s2s_out, xs);
}

static const char *out_who(const struct xstream *xs)
{
	return out_of(xs)->remote;
}

static bool out_select_host(struct xstream *xs, const char *to, enum stream_cond *cond, char *text, size_t n)
{
	/* Never asked: we are the initiating side. */
	(void)xs, (void)to, (void)cond, (void)text, (void)n;
	return true;
}

static void out_no_features(struct xstream *xs, struct buf *b)
{
	(void)xs, (void)b;
}

static bool out_auth_restart(struct xstream *xs, const char *data, size_t len)
{
	(void)data, (void)len;
	struct xml_limits lim;
	s2s_limits(cfg_of(out_of(xs)), true, &lim);
	xs_new_parser(xs, &lim);
	return true;
}

/* The peer's header: RFC 6120 §4.7.1 says it comes from the domain we
 * asked for; a peer that names another one is only logged (some servers
 * answer with their host name), since TLS and authentication decide. */
static bool out_peer_header(struct xstream *xs, const struct xml_node *h)
{
	struct s2s_out *o = out_of(xs);
	const char *from = xml_node_attr(h, "from");
	if (from && strcasecmp(from, o->remote) != 0)
		log_info("s2s", "conn=%llu %s answered our stream to %s with from='%.200s'", cid(o),
			 conn_peer(xs->conn), o->remote, from);
	if (!xs->peer_id[0]) {
		out_fail(o, S2S_BAD_STREAM, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
			 "%s sent a stream header without an id (RFC 6120 §4.7.3)", o->remote);
		return false;
	}
	o->step = STEP_STREAM;
	return true;
}

/* The peer ended the stream with an error: its condition is the code's
 * detail (peer-stream-error:<condition>). */
static void out_peer_error(struct xstream *xs, const char *cond, const char *text)
{
	struct s2s_out *o = out_of(xs);
	if (o->step == STEP_READY)
		return; /* the link was up: it goes down, nothing failed */
	note_failure(o, S2S_PEER_STREAM_ERROR, cond, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
		     "%s ended the stream at step %s%s%.300s", o->remote, step_names[o->step], text ? ": " : "",
		     text ? text : "");
}

/* ---- authentication ---- */

static void link_established(struct s2s_out *o, const char *method)
{
	o->by_dialback = strcmp(method, "dialback") == 0;
	o->step = STEP_READY;
	if (o->is_link)
		s2s_report_end(o->sh, o->remote, S2S_DIR_OUT, true, S2S_CODE_NONE, NULL, method);
	if (o->probe) {
		/* The check stops here, before any stanza. */
		struct s2s_attempt *at = attempt_of(o);
		if (at) {
			at->ok = true;
			snprintf(at->used_method, sizeof(at->used_method), "%s", method);
			snprintf(at->result, sizeof(at->result), "authenticated with %s", method);
		}
		log_info("s2s", "conn=%llu check %s -> %s: authenticated with %s", cid(o), o->local, o->remote, method);
		o->xs.kind->out->close(&o->xs);
		o->xs.state = XS_CLOSING;
		conn_close(o->xs.conn, "check done");
		return;
	}
	o->xs.state = XS_READY;
	o->xs.authenticated = true;
	o->last_use_ms = worker_now(o->sh->w);
	void *t = conn_transport(o->xs.conn);
	log_info("s2s", "conn=%llu link authenticated: direction out, local %s, remote %s, method %s, %s (%s)", cid(o),
		 o->local, o->remote, method, t ? tls_session_version(t) : "plaintext", conn_peer(o->xs.conn));
	struct remote_link *l = o->rl;
	if (l) {
		struct s2s_link *sl = l->data;
		sl->failures = 0;
		remote_link_up(l);
	}
}

static void send_db_result(struct s2s_out *o)
{
	char key[DIALBACK_KEY_LEN + 1];
	if (s2s_dialback_key(o->sh->srv, o->remote, o->local, o->xs.peer_id, key) < 0) {
		out_fail(o, S2S_BAD_STREAM, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
			 "cannot make a dialback key for the stream id '%.80s' of %s", o->xs.peer_id, o->remote);
		return;
	}
	o->step = STEP_DIALBACK;
	o->xs.state = XS_NEGOTIATING;
	struct s2s_attempt *at = attempt_of(o);
	if (at)
		s2s_report_method(at->tried, sizeof(at->tried), "dialback");
	struct buf b = BUF_INIT;
	buf_append_str(&b, "<db:result from='");
	xml_escape_attr(&b, o->local, strlen(o->local));
	buf_append_str(&b, "' to='");
	xml_escape_attr(&b, o->remote, strlen(o->remote));
	buf_printf(&b, "'>%s</db:result>", key);
	xs_write(&o->xs, b.data, b.len);
	buf_clear(&b);
}

static void send_verifies(struct s2s_out *o)
{
	list_for_each(pos, &o->verifies)
	{
		struct out_verify *v = list_entry(pos, struct out_verify, link);
		if (v->sent)
			continue;
		v->sent = true;
		struct buf b = BUF_INIT;
		buf_append_str(&b, "<db:verify from='");
		xml_escape_attr(&b, o->local, strlen(o->local));
		buf_append_str(&b, "' to='");
		xml_escape_attr(&b, o->remote, strlen(o->remote));
		buf_append_str(&b, "' id='");
		xml_escape_attr(&b, v->id, strlen(v->id));
		buf_append_str(&b, "'>");
		xml_escape_text(&b, v->key, strlen(v->key));
		buf_append_str(&b, "</db:verify>");
		xs_write(&o->xs, b.data, b.len);
		buf_clear(&b);
	}
	o->xs.state = XS_NEGOTIATING;
}

/* Dialback after EXTERNAL was not possible or failed: only when the
 * policy allows it and the peer offers it. */
static void try_dialback(struct s2s_out *o, const char *why_not_external)
{
	if (!(o->dec.methods & S2S_METHOD_DIALBACK)) {
		out_fail(o, S2S_DIALBACK_DISABLED, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "%s; dialback is not allowed: %s",
			 why_not_external, o->dec.why[0] ? o->dec.why : "s2s.dialback = false");
		return;
	}
	if (!o->peer_dialback) {
		out_fail(o, S2S_DIALBACK_NOT_OFFERED, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
			 "%s; and %s does not offer dialback (urn:xmpp:features:dialback)", why_not_external, o->remote);
		return;
	}
	if (why_not_external[0])
		log_info("s2s", "conn=%llu link %s -> %s: %s; using dialback", cid(o), o->local, o->remote,
			 why_not_external);
	send_db_result(o);
}

static bool has_child(const struct xml_node *el, const char *ns, const char *name)
{
	return xml_node_child(el, ns, name) != NULL;
}

static bool offers_external(struct arena *a, const struct xml_node *features)
{
	const struct xml_node *m = xml_node_child(features, XML_NS_SASL, "mechanisms");
	for (const struct xml_node *c = m ? xml_node_child(m, XML_NS_SASL, "mechanism") : NULL; c;
	     c = xml_node_next(c, XML_NS_SASL, "mechanism"))
		if (strcmp(xml_node_text(a, c), "EXTERNAL") == 0)
			return true;
	return false;
}

static struct tls_session *client_session(struct s2s_out *o, bool direct)
{
	const struct config *cfg = cfg_of(o);
	struct tls_client_session_config sc = {
		.server_name = o->remote,
		.alpn = direct ? alpn_xmpp_server : NULL,
		.nalpn = direct ? 1 : 0,
		.cert_domain = o->local,
		.trust = o->sh->srv->s2s_trust,
		.expected_name = o->remote,
		.srv_service = "xmpp-server",
		.allow_cn = cfg->s2s.allow_cn,
		.purpose = TLS_PURPOSE_DEFAULT,
		.require_valid = false,
	};
	char *err = NULL;
	struct tls_session *t = tls_session_new_client(o->sh->srv->s2s->client, &sc, &err);
	if (!t) {
		/* No certificate for this local domain: go on without one
		 * (dialback does not need it). */
		log_warn("s2s", "conn=%llu link %s -> %s: %s; connecting without a client certificate", cid(o), o->local,
			 o->remote, err);
		free(err);
		sc.cert_domain = NULL;
		t = tls_session_new_client(o->sh->srv->s2s->client, &sc, &err);
		free(err);
	}
	return t;
}

static void out_features(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	struct s2s_out *o = out_of(xs);
	if (xs->authenticated) {
		/* The empty features after EXTERNAL: stanzas may flow. */
		arena_free(a);
		link_established(o, "EXTERNAL");
		return;
	}
	o->peer_dialback = has_child(el, XML_NS_DIALBACK_FEATURES, "dialback");
	bool external = offers_external(a, el);
	bool starttls = has_child(el, XML_NS_TLS, "starttls");
	arena_free(a);
	struct s2s_attempt *fat = attempt_of(o);
	if (fat) {
		struct s2s_attempt *at = fat;
		s2s_report_set(at->offered, sizeof(at->offered), "%s%s%s%s", starttls ? "STARTTLS" : "",
			       external ? (starttls ? ", EXTERNAL" : "EXTERNAL") : "",
			       o->peer_dialback && (starttls || external) ? ", " : "", o->peer_dialback ? "dialback" : "");
	}
	if (o->probe && o->probe->features_only && (conn_secure(xs->conn) || !starttls)) {
		/* Checking our own side: what a peer finds, without
		 * authenticating to ourselves. */
		struct s2s_attempt *at = attempt_of(o);
		if (at) {
			at->ok = true;
			snprintf(at->result, sizeof(at->result), "reachable; a peer is offered %s",
				 at->offered[0] ? at->offered : "nothing");
		}
		o->step = STEP_READY;
		xs->kind->out->close(xs);
		xs->state = XS_CLOSING;
		conn_close(xs->conn, "check done");
		return;
	}
	if (!conn_secure(xs->conn)) {
		if (starttls && o->sh->srv->s2s->client) {
			o->step = STEP_TLS;
			xs->state = XS_NEGOTIATING;
			xs_send_raw(xs, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
			return;
		}
		/* No TLS: plain dialback, where the policy allows it. */
		struct s2s_peer_tls facts = {.tls = false};
		s2s_policy_decide(&o->policy, o->remote, &facts, o->policy.dialback, &o->dec);
		if (!o->dec.methods) {
			out_fail(o, o->dec.code, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "%s does not offer STARTTLS; %s",
				 o->remote, o->dec.why);
			return;
		}
		log_warn("s2s", "conn=%llu link %s -> %s: %s does not offer STARTTLS; plaintext dialback as %s allows",
			 cid(o), o->local, o->remote, o->remote, o->policy.setting);
	}
	if (!o->is_link && !o->probe) {
		send_verifies(o);
		return;
	}
	bool skip = o->rl && ((struct s2s_link *)o->rl->data)->skip_external;
	if ((o->dec.methods & S2S_METHOD_EXTERNAL) && external && !o->external_tried && !skip) {
		o->external_tried = true;
		o->step = STEP_SASL;
		struct s2s_attempt *at = attempt_of(o);
		if (at)
			s2s_report_method(at->tried, sizeof(at->tried), "EXTERNAL");
		xs->state = XS_NEGOTIATING;
		xs_sasl_client_external(xs, o->local);
		return;
	}
	char why[400] = "";
	if (conn_secure(xs->conn) && (o->dec.methods & S2S_METHOD_EXTERNAL) && !external)
		snprintf(why, sizeof(why), "%s does not offer SASL EXTERNAL", o->remote);
	else if (skip && external)
		snprintf(why, sizeof(why), "SASL EXTERNAL skipped: %s broke a stream on it before", o->remote);
	try_dialback(o, why);
}

static void out_proceed(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	struct s2s_out *o = out_of(xs);
	(void)el;
	arena_free(a);
	xs->state = XS_STARTTLS;
	xs_stop_parser(xs, XS_RESTART_TLS);
	struct tls_session *t = client_session(o, false);
	if (!t) {
		out_fail(o, S2S_TLS_UNAVAILABLE, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "cannot make a TLS client session");
		return;
	}
	conn_set_transport(xs->conn, &tls_transport_ops, t);
}

static void out_tls_failure(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)el;
	arena_free(a);
	out_fail(out_of(xs), S2S_TLS_REFUSED, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "%s refused STARTTLS (<failure/>)",
		 out_of(xs)->remote);
}

static void out_sasl(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	struct s2s_out *o = out_of(xs);
	if (o->step != STEP_SASL) {
		arena_free(a);
		xs_error(xs, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, "SASL element out of place");
		return;
	}
	enum sasl_cond c = xs_sasl_client_result(el);
	metrics_auth(&o->sh->w->metrics, METRIC_STREAM_S2S_OUT, METRIC_MECH_EXTERNAL,
		     c == SASL_OK ? METRIC_AUTH_SUCCESS : METRIC_AUTH_FAILURE);
	arena_free(a);
	if (c == SASL_OK) {
		xs->authenticated = true;
		xs_restart_after_auth(xs);
		return;
	}
	/* Some servers fail EXTERNAL for certificates they should accept
	 * (ejabberd 23.01 with id-on-xmppAddr): fall back to dialback. */
	char why[400];
	snprintf(why, sizeof(why), "%s refused SASL EXTERNAL (%s)", o->remote, sasl_cond_name(c));
	xs->state = XS_OPEN;
	try_dialback(o, why);
}

/* The answer for a carried link: up, or a stream of its own next time. */
static void carried_answer(struct s2s_out *o, struct out_carried *c, bool valid, const char *type)
{
	struct remote_link *l = c->l;
	struct s2s_link *sl = l->data;
	metrics_auth(&o->sh->w->metrics, METRIC_STREAM_S2S_OUT, METRIC_MECH_DIALBACK,
		     valid ? METRIC_AUTH_SUCCESS : METRIC_AUTH_FAILURE);
	if (valid) {
		c->up = true;
		void *t = conn_transport(o->xs.conn);
		log_info("s2s", "conn=%llu link authenticated: direction out, local %s, remote %s, method dialback "
				"(piggybacked), %s (%s)",
			 cid(o), l->local, o->remote, t ? tls_session_version(t) : "plaintext", conn_peer(o->xs.conn));
		sl->failures = 0;
		remote_link_up(l);
		return;
	}
	list_remove(&c->link);
	free(c);
	sl->no_piggyback = true;
	log_warn("s2s", "conn=%llu link %s -> %s: %s refused our dialback key for %s on a shared stream (%s); "
			"opening a stream of its own",
		 cid(o), l->local, o->remote, o->remote, l->local, type);
	sl->out = out_new(o->sh, l->local, l->remote, l);
	out_start(sl->out);
}

/* <db:result type='valid|invalid|error'/> for our key. */
static void out_db_result(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	struct s2s_out *o = out_of(xs);
	const char *type = xml_node_attr(el, "type");
	const char *from = xml_node_attr(el, "from");
	const char *to = xml_node_attr(el, "to");
	struct out_carried *carried = NULL;
	if (type && from && to && strcasecmp(from, o->remote) == 0 && strcasecmp(to, o->local) != 0) {
		list_for_each(pos, &o->carried)
		{
			struct out_carried *c = list_entry(pos, struct out_carried, link);
			if (!c->up && strcasecmp(c->l->local, to) == 0)
				carried = c;
		}
	}
	if (carried) {
		carried_answer(o, carried, strcmp(type, "valid") == 0, type);
		arena_free(a);
		return;
	}
	if (o->step != STEP_DIALBACK || !type || !from || !to || strcasecmp(from, o->remote) != 0 ||
	    strcasecmp(to, o->local) != 0) {
		/* Not an answer we wait for: one for another pair, or noise. */
		log_info("s2s", "conn=%llu link %s -> %s: ignoring an unexpected <db:result/> (from '%.100s', to "
				"'%.100s', type '%.20s')",
			 cid(o), o->local, o->remote, from ? from : "", to ? to : "", type ? type : "");
		arena_free(a);
		return;
	}
	metrics_auth(&o->sh->w->metrics, METRIC_STREAM_S2S_OUT, METRIC_MECH_DIALBACK,
		     !strcmp(type, "valid")     ? METRIC_AUTH_SUCCESS
		     : !strcmp(type, "invalid") ? METRIC_AUTH_FAILURE
						: METRIC_AUTH_ERROR);
	if (strcmp(type, "valid") == 0) {
		arena_free(a);
		link_established(o, "dialback");
		return;
	}
	char cond[64] = "";
	const struct xml_node *err = xml_node_child(el, XML_NS_CLIENT, "error");
	if (!err)
		err = xml_node_child(el, XML_NS_SERVER, "error");
	for (const struct xml_node *c = err ? xml_node_child(err, XML_NS_STANZAS, NULL) : NULL; c;
	     c = xml_node_next(c, XML_NS_STANZAS, NULL))
		if (strcmp(c->name, "text") != 0)
			snprintf(cond, sizeof(cond), "%s", c->name);
	bool invalid = strcmp(type, "invalid") == 0;
	arena_free(a);
	out_fail(o, invalid ? S2S_DIALBACK_REFUSED : S2S_DIALBACK_ERROR, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "%s refused our dialback key (%s%s%s)", o->remote,
		 invalid ? "invalid" : "error", cond[0] ? ": " : "", cond);
}

/* <db:verify type='valid|invalid'/>: the answer for an incoming stream. */
static void out_db_verify(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	struct s2s_out *o = out_of(xs);
	const char *type = xml_node_attr(el, "type");
	const char *id = xml_node_attr(el, "id");
	struct out_verify *found = NULL;
	list_for_each(pos, &o->verifies)
	{
		struct out_verify *v = list_entry(pos, struct out_verify, link);
		if (v->sent && id && strcmp(v->id, id) == 0) {
			found = v;
			break;
		}
	}
	if (!found || !type) {
		log_info("s2s", "conn=%llu verification %s -> %s: ignoring an unexpected <db:verify/> (id '%.80s')",
			 cid(o), o->local, o->remote, id ? id : "");
		arena_free(a);
		return;
	}
	enum s2s_verdict v = strcmp(type, "valid") == 0     ? S2S_VERIFY_VALID
			     : strcmp(type, "invalid") == 0 ? S2S_VERIFY_INVALID
							    : S2S_VERIFY_ERROR;
	arena_free(a);
	list_remove(&found->link);
	uint64_t in_conn = found->in_conn;
	free(found);
	char text[400];
	snprintf(text, sizeof(text), "%s answered the verification with type '%s'", o->remote,
		 v == S2S_VERIFY_ERROR ? "error" : v == S2S_VERIFY_VALID ? "valid" : "invalid");
	s2s_in_dialback_done(o->sh, in_conn, o->local, o->remote, v, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, text);
	/* A verification stream ends with its last answer. */
	if (!o->is_link && list_empty(&o->verifies) && xs->state != XS_CLOSING) {
		xs->kind->out->close(xs);
		xs->state = XS_CLOSING;
		conn_close(xs->conn, "verification done");
	}
}

static const struct xs_route out_routes[] = {
	{XML_NS_STREAM, "features", XS_IN(XS_OPEN), XS_AUTH_ANY, out_features},
	{XML_NS_TLS, "proceed", XS_IN(XS_NEGOTIATING), XS_AUTH_BEFORE, out_proceed},
	{XML_NS_TLS, "failure", XS_IN(XS_NEGOTIATING), XS_AUTH_BEFORE, out_tls_failure},
	{XML_NS_SASL, NULL, XS_IN(XS_NEGOTIATING), XS_AUTH_BEFORE, out_sasl},
	{XML_NS_DIALBACK, "result", XS_IN(XS_NEGOTIATING) | XS_IN(XS_READY), XS_AUTH_ANY, out_db_result},
	{XML_NS_DIALBACK, "verify", XS_IN(XS_OPEN) | XS_IN(XS_NEGOTIATING) | XS_IN(XS_READY), XS_AUTH_ANY,
	 out_db_verify},
};

static const struct xs_kind s2s_out_kind = {
	.tag = "s2s",
	.peer = "server",
	.content_ns = XML_NS_SERVER,
	.header_attrs = " xmlns:db='jabber:server:dialback'",
	.out = &xs_tcp_output,
	.ready_after_auth = true,
	.routes = out_routes,
	.nroutes = sizeof(out_routes) / sizeof(out_routes[0]),
	.select_host = out_select_host,
	.features = out_no_features,
	.auth_restart = out_auth_restart,
	.who = out_who,
	.peer_header = out_peer_header,
	.peer_error = out_peer_error,
};

/* ---- conn events ---- */

static void out_on_read(void *owner, struct conn *c, const char *data, size_t len)
{
	(void)c;
	struct s2s_out *o = owner;
	xs_input(&o->xs, data, len);
}

/* TLS is up: judge the peer's certificate, then the stream (again). */
static void out_on_handshake(void *owner, struct conn *c)
{
	struct s2s_out *o = owner;
	const struct config *cfg = cfg_of(o);
	xs_log_tls(&o->xs, o->direct_tls);
	o->xs.header_sent = false; /* a new stream begins over TLS */
	o->xs.state = XS_WAIT_HEADER;
	struct arena *a = arena_new();
	struct s2s_peer_tls facts;
	s2s_tls_facts(c, a, o->remote, cfg->s2s.allow_cn, &facts);
	s2s_policy_decide(&o->policy, o->remote, &facts, o->policy.dialback, &o->dec);
	struct s2s_attempt *tat = attempt_of(o);
	if (tat)
		s2s_report_tls(tat, c, &facts, &o->dec);
	arena_free(a);
	if (!o->dec.methods) {
		out_fail(o, o->dec.code, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "%s", o->dec.why);
		return;
	}
	if (o->dec.trusted)
		log_info("s2s", "conn=%llu %s %s -> %s: certificate of %s accepted (%s)", cid(o), purpose(o), o->local,
			 o->remote, o->remote, o->policy.pin ? "pinned key" : "verified against s2s.ca");
	else
		log_warn("s2s", "conn=%llu %s %s -> %s: %s", cid(o), purpose(o), o->local, o->remote, o->dec.why);
	o->step = STEP_STREAM;
	xs_tls_established(&o->xs);
}

static void out_on_tick(void *owner, struct conn *c, uint64_t now)
{
	(void)c;
	struct s2s_out *o = owner;
	const struct config *cfg = cfg_of(o);
	if (o->xs.state == XS_CLOSING)
		return;
	if (o->step == STEP_READY && now - o->last_use_ms > (uint64_t)cfg->s2s.idle_timeout * 1000) {
		log_info("s2s", "conn=%llu link %s -> %s: closing after %u s without a stanza (s2s.idle_timeout)", cid(o),
			 o->local, o->remote, cfg->s2s.idle_timeout);
		o->xs.kind->out->close(&o->xs);
		o->xs.state = XS_CLOSING;
		conn_close(o->xs.conn, "idle");
		return;
	}
	list_for_each_safe(pos, &o->carried)
	{
		struct out_carried *oc = list_entry(pos, struct out_carried, link);
		if (!oc->up && now - oc->asked_ms > (uint64_t)cfg->limits.handshake_timeout * 1000)
			carried_answer(o, oc, false, "no answer within limits.handshake_timeout");
	}
	if (!o->probe && o->step < STEP_SASL && o->target + 1 < o->ntargets &&
	    now - o->xs.started_ms > (uint64_t)cfg->limits.handshake_timeout * 1000) {
		/* This address does not get anywhere: on_close tries the next. */
		o->xs.state = XS_CLOSING;
		conn_close(o->xs.conn, "no progress within limits.handshake_timeout");
		return;
	}
	/* A verification gets half the time, so that the incoming stream
	 * waiting for it can still answer dialback-timeout before its own
	 * handshake timeout ends it. */
	unsigned limit = cfg->limits.handshake_timeout;
	if (!o->is_link && !o->probe)
		limit = limit / 2 ? limit / 2 : 1;
	if (o->step != STEP_READY && now - o->xs.started_ms > (uint64_t)limit * 1000) {
		out_fail(o, o->step == STEP_DIALBACK ? S2S_DIALBACK_TIMEOUT : S2S_HANDSHAKE_TIMEOUT, ETYPE_WAIT,
			 STANZA_ERR_REMOTE_SERVER_TIMEOUT, "%s did not complete step %s within %u s (limits.handshake_timeout%s)",
			 o->remote, step_names[o->step], limit, o->is_link || o->probe ? "" : " / 2, for a verification");
		return;
	}
	struct xs_timeouts t;
	xs_timeouts_from_limits(cfg, "authenticated", &t);
	t.idle_s = cfg->s2s.idle_timeout + cfg->limits.handshake_timeout;
	t.idle_name = "s2s.idle_timeout";
	xs_tick(&o->xs, now, &t);
}

static void out_on_close(void *owner, struct conn *c, const char *reason)
{
	struct s2s_out *o = owner;
	log_info("s2s", "conn=%llu %s: outgoing %s %s -> %s closed (%s); %llu bytes in, %llu out",
		 (unsigned long long)conn_id(c), conn_peer(c), purpose(o), o->local, o->remote, reason,
		 (unsigned long long)conn_bytes_in(c), (unsigned long long)conn_bytes_out(c));
	o->xs.conn = NULL;
	/* A verification stream whose answers all came ended as it should. */
	bool done = !o->is_link && !o->probe && list_empty(&o->verifies);
	if (o->probe && o->step == STEP_READY)
		done = true; /* the check ended it */
	if (!o->failed && !done && !o->probe && o->step < STEP_SASL && next_target(o, reason))
		return;
	if (!o->failed && o->step != STEP_READY && !done) {
		enum s2s_code code = S2S_STREAM_CLOSED;
		/* "wrong version number" is a port that does not speak TLS;
		 * a version the two sides do not share is named so. */
		if (strstr(reason, "TLS handshake failed"))
			code = strstr(reason, "protocol version") || strstr(reason, "unsupported protocol")
				       ? S2S_TLS_VERSION
				       : S2S_TLS_HANDSHAKE;
		else if (o->step == STEP_SASL)
			code = S2S_SASL_EXTERNAL_BROKEN;
		note_failure(o, code, NULL, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
			     "the connection to %s closed at step %s: %s", o->remote, step_names[o->step], reason);
	}
	out_end(o);
}

static const struct conn_handler out_conn_handler = {
	.on_read = out_on_read,
	.on_handshake = out_on_handshake,
	.on_tick = out_on_tick,
	.on_close = out_on_close,
};

/* ---- connecting ---- */

/* The code of a connect that reached no address: the last one's. */
static enum s2s_code connect_code(const struct connect_report *r)
{
	static const enum s2s_code by_result[] = {
		[CONNECT_OK] = S2S_CONNECT_ERROR,
		[CONNECT_REFUSED] = S2S_CONNECT_REFUSED,
		[CONNECT_TIMEOUT] = S2S_CONNECT_TIMEOUT,
		[CONNECT_UNREACHABLE] = S2S_CONNECT_UNREACHABLE,
		[CONNECT_ERROR] = S2S_CONNECT_ERROR,
		[CONNECT_BAD_ADDRESS] = S2S_CONNECT_ERROR,
	};
	if (!r->n || (unsigned)r->attempts[r->n - 1].result >= sizeof(by_result) / sizeof(by_result[0]))
		return S2S_CONNECT_ERROR;
	return by_result[r->attempts[r->n - 1].result];
}

static enum s2s_code dns_code(enum dns_status st)
{
	static const enum s2s_code by_status[] = {
		[DNS_OK] = S2S_CODE_NONE,
		[DNS_NO_SERVICE] = S2S_DNS_NO_SERVICE,
		[DNS_NXDOMAIN] = S2S_DNS_NXDOMAIN,
		[DNS_NO_ADDRESS] = S2S_DNS_NO_ADDRESS,
		[DNS_SERVFAIL] = S2S_DNS_SERVFAIL,
		[DNS_TIMEOUT] = S2S_DNS_TIMEOUT,
		[DNS_BAD_NAME] = S2S_DNS_BAD_NAME,
	};
	return (unsigned)st < sizeof(by_status) / sizeof(by_status[0]) ? by_status[st] : S2S_DNS_SERVFAIL;
}

static void on_connected(void *ud, int fd, const struct connect_report *r)
{
	struct s2s_out *o = ud;
	o->cn = NULL;
	o->target = o->first_target + (r->n ? r->n - 1 : 0);
	char report[900];
	connect_report_str(r, report, sizeof(report));
	struct s2s_attempt *cat = attempt_of(o);
	if (cat) {
		s2s_report_set(cat->connect, sizeof(cat->connect), "%s", report);
		s2s_report_set(cat->peer, sizeof(cat->peer), "%s", r->n && fd >= 0 ? r->attempts[r->n - 1].addr : "");
	}
	if (fd < 0) {
		bool timeout = r->n > 0;
		for (size_t i = 0; i < r->n; i++)
			timeout = timeout && r->attempts[i].result == CONNECT_TIMEOUT;
		out_fail(o, connect_code(r), timeout ? ETYPE_WAIT : ETYPE_CANCEL,
			 timeout ? STANZA_ERR_REMOTE_SERVER_TIMEOUT : STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
			 "cannot connect to %s: %s", o->remote, report);
		return;
	}
	/* Which target answered: the last attempt. */
	o->target = o->first_target + (r->n ? r->n - 1 : 0);
	const struct dns_target *t = &o->targets[o->target];
	o->direct_tls = t->direct_tls;
	const struct config *cfg = cfg_of(o);
	struct conn *c = conn_new(o->sh->w, fd, &out_conn_handler, o);
	o->external_tried = false;
	o->peer_dialback = false;
	struct xml_limits lim;
	s2s_limits(cfg, false, &lim);
	xs_init(&o->xs, &s2s_out_kind, c, &lim, o->local, worker_now(o->sh->w));
	conn_set_outq_limit(c, cfg->limits.outq_bytes);
	conn_set_read_rate(c, cfg->limits.read_rate, cfg->limits.read_burst);
	log_info("s2s", "conn=%llu outgoing %s %s -> %s: connected to %s (%s, %s)", (unsigned long long)conn_id(c),
		 purpose(o), o->local, o->remote, r->n ? r->attempts[r->n - 1].addr : "?", t->host,
		 t->direct_tls ? "direct TLS" : "STARTTLS");
	o->step = STEP_TLS;
	conn_start(c);
	if (o->direct_tls) {
		/* The stream (ours to open) starts once TLS is up. */
		o->xs.initiator = true;
		snprintf(o->xs.peer_domain, sizeof(o->xs.peer_domain), "%s", o->remote);
		o->xs.state = XS_TLS_HANDSHAKE;
		struct tls_session *ts = o->sh->srv->s2s->client ? client_session(o, true) : NULL;
		if (!ts) {
			out_fail(o, S2S_TLS_UNAVAILABLE, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
				 "%s offers only direct TLS and we have no TLS client context", o->remote);
			return;
		}
		conn_set_transport(c, &tls_transport_ops, ts);
		return;
	}
	o->step = STEP_STREAM;
	xs_initiate(&o->xs, o->remote);
}

/* Connects to targets[from..]: the first that answers wins. */
static void connect_from(struct s2s_out *o, size_t from)
{
	struct connect_target ct[DNS_MAX_TARGETS];
	size_t n = 0;
	/* A probe visits each target on its own. */
	size_t end = o->probe ? from + 1 : o->ntargets;
	for (size_t i = from; i < end && i < o->ntargets; i++, n++) {
		ct[n].ip = o->targets[i].ip;
		ct[n].port = o->targets[i].port;
	}
	o->first_target = from;
	o->step = STEP_CONNECT;
	o->cn = conn_connect_start(o->sh->w, ct, n, cfg_of(o)->s2s.connect_timeout * 1000, on_connected, o);
}

/* RFC 6120 §3.2.1: a target that connected but failed before
 * authentication (TLS, the stream, a timeout) gives way to the next one.
 * True when there is one and connecting to it started. */
static bool next_target(struct s2s_out *o, const char *why)
{
	if (o->target + 1 >= o->ntargets)
		return false;
	const struct dns_target *t = &o->targets[o->target];
	log_info("s2s", "outgoing %s %s -> %s: %s:%u (%s) failed at step %s: %s; trying the next address", purpose(o),
		 o->local, o->remote, t->ip, t->port, t->direct_tls ? "direct TLS" : "STARTTLS", step_names[o->step],
		 why);
	xs_release(&o->xs);
	connect_from(o, o->target + 1);
	return true;
}

static void on_resolved(void *ud, const struct dns_result *res)
{
	struct s2s_out *o = ud;
	o->dq = NULL;
	char report[900];
	dns_report_str(res, report, sizeof(report));
	if (o->is_link) {
		struct s2s_attempt *at = s2s_report_at(o->sh, o->remote, S2S_DIR_OUT);
		s2s_report_set(at->dns, sizeof(at->dns), "%s", report);
	}
	if (o->probe) {
		snprintf(o->probe->res.dns, sizeof(o->probe->res.dns), "%s", report);
		o->probe->res.dns_code = res->status == DNS_OK ? (res->srv ? S2S_CODE_NONE : S2S_DNS_NO_SRV)
							       : dns_code(res->status);
		o->probe->res.srv = res->srv;
	}
	if (res->status != DNS_OK) {
		bool timeout = res->status == DNS_TIMEOUT;
		out_fail(o, dns_code(res->status), timeout ? ETYPE_WAIT : ETYPE_CANCEL,
			 timeout ? STANZA_ERR_REMOTE_SERVER_TIMEOUT : STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
			 "no address for %s (%s): %s", o->remote, dns_status_name(res->status), report);
		return;
	}
	log_debug("s2s", "%s -> %s: %s", o->local, o->remote, report);
	if (!res->srv)
		log_info("s2s", "outgoing %s %s -> %s: %s: no SRV records for %s; trying its address on port %u",
			 purpose(o), o->local, o->remote, s2s_code_name(S2S_DNS_NO_SRV), o->remote,
			 (unsigned)DNS_XMPP_SERVER_PORT);
	o->ntargets = res->n < DNS_MAX_TARGETS ? res->n : DNS_MAX_TARGETS;
	for (size_t i = 0; i < o->ntargets; i++) {
		o->targets[i] = res->targets[i];
		snprintf(o->hosts[i], sizeof(o->hosts[i]), "%s", res->targets[i].host ? res->targets[i].host : "");
		o->targets[i].host = o->hosts[i];
	}
	if (o->probe) {
		struct s2s_probe_result *pr = &o->probe->res;
		pr->n = o->ntargets;
		pr->targets = xcalloc(pr->n ? pr->n : 1, sizeof(*pr->targets));
		pr->where = xcalloc(pr->n ? pr->n : 1, sizeof(*pr->where));
		for (size_t i = 0; i < pr->n; i++) {
			snprintf(pr->where[i], sizeof(pr->where[i]), "%s:%u (%s, %s)", o->targets[i].ip, o->targets[i].port,
				 o->hosts[i], o->targets[i].direct_tls ? "direct TLS" : "STARTTLS");
			pr->targets[i].used = true;
			snprintf(pr->targets[i].purpose, sizeof(pr->targets[i].purpose), "check");
			snprintf(pr->targets[i].local, sizeof(pr->targets[i].local), "%s", o->local);
		}
	}
	connect_from(o, 0);
}

static struct dns_resolver *resolver(struct shard *sh, char **err)
{
	if (sh->dns)
		return sh->dns;
	const struct config *cfg = sh->srv->cfg;
	struct dns_resolver_config rc = {
		.forward = cfg->s2s.resolver,
		.zones = (const char *const *)cfg->s2s.resolver_zones.items,
		.nzones = cfg->s2s.resolver_zones.n,
	};
	sh->dns = dns_resolver_new(&sh->w->loop, &rc, err);
	return sh->dns;
}

static struct s2s_out *out_new(struct shard *sh, const char *local, const char *remote, struct remote_link *l)
{
	struct s2s_out *o = xcalloc(1, sizeof(*o));
	o->sh = sh;
	o->rl = l;
	o->is_link = l != NULL;
	list_init(&o->carried);
	snprintf(o->local, sizeof(o->local), "%s", local);
	snprintf(o->remote, sizeof(o->remote), "%s", remote);
	list_init(&o->verifies);
	list_insert_tail(&sh->s2s_out, &o->link);
	s2s_lookup(sh->srv, remote, &o->policy);
	o->step = STEP_DNS;
	return o;
}

/* Starts resolving; false when it ended at once (o is gone). */
static void out_start(struct s2s_out *o)
{
	const struct config *cfg = cfg_of(o);
	if (o->is_link)
		s2s_report_begin(o->sh, o->remote, S2S_DIR_OUT, o->local, "link");
	if (!o->policy.allowed || o->policy.mode == S2S_MODE_DENY) {
		out_fail(o, strncmp(o->policy.setting, "s2s.allow", 9) == 0 ? S2S_NOT_ALLOWED : S2S_POLICY_DENIED, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
			 "federation with %s is not allowed (%s)", o->remote, o->policy.setting);
		return;
	}
	char *err = NULL;
	struct dns_resolver *r = resolver(o->sh, &err);
	if (!r) {
		out_fail(o, S2S_DNS_RESOLVER, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
			 "no DNS resolver: %s (check s2s.resolver and s2s.resolver_zones)", err ? err : "?");
		free(err);
		return;
	}
	o->dq = dns_resolve_xmpp_server(r, o->remote, cfg->s2s.dns_timeout * 1000, on_resolved, o);
}

/* ---- the remote transport ---- */

/* A link of another of our domains to a peer we already have an up
 * stream to, authenticated with dialback on that stream (XEP-0220 §4):
 * true when it was asked for there. */
static bool piggyback(struct shard *sh, struct remote_link *l)
{
	struct s2s_out *o = NULL;
	list_for_each(pos, &sh->s2s_out)
	{
		struct s2s_out *x = list_entry(pos, struct s2s_out, link);
		/* Only on a dialback stream: an EXTERNAL one proved a
		 * certificate for its own domain, which says nothing of ours. */
		if (x->is_link && !x->failed && x->step == STEP_READY && x->xs.conn && x->xs.state == XS_READY &&
		    x->by_dialback && strcasecmp(x->remote, l->remote) == 0 &&
		    strcmp(x->local, l->local) != 0) {
			o = x;
			break;
		}
	}
	char key[DIALBACK_KEY_LEN + 1];
	if (!o || s2s_dialback_key(sh->srv, o->remote, l->local, o->xs.peer_id, key) < 0)
		return false;
	struct out_carried *c = xcalloc(1, sizeof(*c));
	c->l = l;
	c->asked_ms = worker_now(sh->w);
	list_insert_tail(&o->carried, &c->link);
	((struct s2s_link *)l->data)->out = o;
	log_info("s2s", "conn=%llu link %s -> %s: asking for it on the stream of %s -> %s (dialback piggybacking)",
		 cid(o), l->local, l->remote, o->local, o->remote);
	struct buf b = BUF_INIT;
	buf_append_str(&b, "<db:result from='");
	xml_escape_attr(&b, l->local, strlen(l->local));
	buf_append_str(&b, "' to='");
	xml_escape_attr(&b, o->remote, strlen(o->remote));
	buf_printf(&b, "'>%s</db:result>", key);
	xs_write(&o->xs, b.data, b.len);
	buf_clear(&b);
	return true;
}

static void transport_start(struct remote_link *l)
{
	struct shard *sh = l->sh;
	struct s2s_link *sl = l->data;
	if (!sl)
		sl = l->data = xcalloc(1, sizeof(*sl));
	uint64_t now = worker_now(sh->w);
	if (sl->failures && now < sl->retry_at_ms) {
		char text[800];
		snprintf(text, sizeof(text), "%s; next attempt in %llu s (s2s.retry_min, s2s.retry_max)", sl->text,
			 (unsigned long long)((sl->retry_at_ms - now + 999) / 1000));
		remote_link_fail(l, sl->etype, sl->cond, text);
		return;
	}
	if (!sl->no_piggyback && piggyback(sh, l))
		return;
	sl->out = out_new(sh, l->local, l->remote, l);
	log_info("s2s", "link %s -> %s: connecting", l->local, l->remote);
	out_start(sl->out);
}

static bool transport_send(struct remote_link *l, struct chunk *wire)
{
	struct s2s_link *sl = l->data;
	struct s2s_out *o = sl ? sl->out : NULL;
	if (!o || !o->xs.conn || o->xs.state == XS_CLOSING || conn_closing(o->xs.conn))
		return false; /* the router keeps it for the next stream */
	o->last_use_ms = worker_now(o->sh->w);
	conn_write_chunk(o->xs.conn, wire);
	return true;
}

static void transport_close(struct remote_link *l)
{
	struct s2s_link *sl = l->data;
	if (!sl)
		return;
	struct s2s_out *o = sl->out;
	if (o) {
		/* Forget the link on its stream; the stream closes when it
		 * carries no link any more. */
		if (o->rl == l)
			o->rl = NULL;
		list_for_each_safe(pos, &o->carried)
		{
			struct out_carried *c = list_entry(pos, struct out_carried, link);
			if (c->l == l) {
				list_remove(&c->link);
				free(c);
			}
		}
		if (!o->rl && list_empty(&o->carried)) {
			if (o->xs.conn) {
				if (o->xs.state != XS_CLOSING) {
					if (o->xs.header_sent)
						o->xs.kind->out->close(&o->xs);
					o->xs.state = XS_CLOSING;
				}
				conn_close(o->xs.conn, "the server is stopping");
			} else {
				out_end(o);
			}
		}
	}
	free(sl);
	l->data = NULL;
}

const struct remote_transport s2s_transport = {
	.start = transport_start,
	.send = transport_send,
	.close = transport_close,
};

/* ---- verifications ---- */

void s2s_out_verify(struct shard *sh, uint64_t in_conn, const char *local, const char *remote, const char *id,
		    const char *key)
{
	struct out_verify *v = xcalloc(1, sizeof(*v));
	v->in_conn = in_conn;
	snprintf(v->id, sizeof(v->id), "%s", id);
	snprintf(v->key, sizeof(v->key), "%s", key);
	/* A verification stream for this pair that is still coming up or
	 * waiting for answers takes it too. */
	list_for_each(pos, &sh->s2s_out)
	{
		struct s2s_out *o = list_entry(pos, struct s2s_out, link);
		if (o->is_link || o->probe || o->failed || o->xs.state == XS_CLOSING || strcmp(o->local, local) != 0 ||
		    strcasecmp(o->remote, remote) != 0)
			continue;
		list_insert_tail(&o->verifies, &v->link);
		if (o->xs.conn && o->xs.state == XS_NEGOTIATING && o->step >= STEP_STREAM)
			send_verifies(o);
		return;
	}
	struct s2s_out *o = out_new(sh, local, remote, NULL);
	list_insert_tail(&o->verifies, &v->link);
	log_info("s2s", "dialback: verifying the key of %s with its authoritative server (for %s)", remote, local);
	out_start(o);
}

void s2s_out_shutdown(struct shard *sh)
{
	list_for_each_safe(pos, &sh->s2s_out)
	{
		struct s2s_out *o = list_entry(pos, struct s2s_out, link);
		if (o->xs.conn) {
			xs_error(&o->xs, STREAM_ERR_SYSTEM_SHUTDOWN, "the server is stopping");
			continue;
		}
		out_fail(o, S2S_STREAM_CLOSED, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "the server is stopping");
	}
	dns_resolver_free(sh->dns);
	sh->dns = NULL;
}

void s2s_probe(struct shard *sh, const char *local, const char *remote, bool features_only, s2s_probe_cb *cb,
	       void *ud)
{
	struct s2s_out *o = out_new(sh, local, remote, NULL);
	o->probe = xcalloc(1, sizeof(*o->probe));
	o->probe->features_only = features_only;
	o->probe->cb = cb;
	o->probe->ud = ud;
	snprintf(o->probe->res.domain, sizeof(o->probe->res.domain), "%s", remote);
	snprintf(o->probe->res.local, sizeof(o->probe->res.local), "%s", local);
	snprintf(o->probe->res.policy, sizeof(o->probe->res.policy), "%s%s", o->policy.setting,
		 o->policy.allowed ? "" : " (not allowed)");
	out_start(o);
}

void s2s_out_links(struct shard *sh, json_t *arr, uint64_t now)
{
	list_for_each(pos, &sh->s2s_out)
	{
		struct s2s_out *o = list_entry(pos, struct s2s_out, link);
		json_t *j = json_object();
		json_object_set_new(j, "direction", json_string(o->is_link ? "out" : "out (verification)"));
		json_object_set_new(j, "local", json_string(o->local));
		json_object_set_new(j, "remote", json_string(o->remote));
		const char *method = o->step != STEP_READY ? "none" : o->by_dialback ? "dialback" : "EXTERNAL";
		json_object_set_new(j, "method", json_string(method));
		json_object_set_new(j, "state", json_string(o->step == STEP_READY ? "ready" : step_names[o->step]));
		json_object_set_new(j, "queued", json_integer(o->rl ? (json_int_t)o->rl->qlen : 0));
		json_object_set_new(j, "worker", json_integer(sh->w->id));
		struct conn *c = o->xs.conn;
		json_object_set_new(j, "peer_address", json_string(c ? conn_peer(c) : ""));
		struct tls_session *t = c && conn_secure(c) ? conn_transport(c) : NULL;
		json_object_set_new(j, "tls_version", json_string(t ? tls_session_version(t) : c ? "plaintext" : ""));
		json_object_set_new(j, "tls_cipher", json_string(t ? tls_session_cipher(t) : ""));
		struct tls_chain_cert leaf;
		bool cert = t && tls_session_peer_chain(t, &leaf, 1) == 1;
		json_object_set_new(j, "cert_subject", json_string(cert ? leaf.subject : ""));
		json_object_set_new(j, "cert_verified",
				    json_boolean(t && tls_session_peer_cert_status(t, NULL) == TLS_PEER_CERT_VALID));
		json_object_set_new(j, "bytes_in", json_integer(c ? (json_int_t)conn_bytes_in(c) : 0));
		json_object_set_new(j, "bytes_out", json_integer(c ? (json_int_t)conn_bytes_out(c) : 0));
		json_object_set_new(j, "age_s", json_integer(c ? (json_int_t)((now - o->xs.started_ms) / 1000) : 0));
		json_array_append_new(arr, j);
		/* Links of our other domains carried on this stream. */
		list_for_each(cpos, &o->carried)
		{
			struct out_carried *oc = list_entry(cpos, struct out_carried, link);
			json_t *cj = json_deep_copy(j);
			json_object_set_new(cj, "local", json_string(oc->l->local));
			json_object_set_new(cj, "method", json_string(oc->up ? "dialback (piggybacked)" : "none"));
			json_object_set_new(cj, "queued", json_integer((json_int_t)oc->l->qlen));
			json_array_append_new(arr, cj);
		}
	}
}

unsigned s2s_out_close(struct shard *sh, const char *domain)
{
	unsigned n = 0;
	list_for_each_safe(pos, &sh->s2s_out)
	{
		struct s2s_out *o = list_entry(pos, struct s2s_out, link);
		if (strcasecmp(o->remote, domain) != 0 || !o->xs.conn || o->xs.state == XS_CLOSING)
			continue;
		log_info("s2s", "conn=%llu %s %s -> %s: closed by the operator (parleyctl s2s close)", cid(o), purpose(o),
			 o->local, o->remote);
		if (o->xs.header_sent)
			o->xs.kind->out->close(&o->xs);
		o->xs.state = XS_CLOSING;
		conn_close(o->xs.conn, "closed by the operator");
		n++;
	}
	return n;
}

size_t s2s_out_count(struct shard *sh)
{
	size_t n = 0;
	list_for_each(pos, &sh->s2s_out)
		n++;
	return n;
}
