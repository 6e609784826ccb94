/*
 * s2s in: the jabber:server kind of the stream machine (stream/stream.h)
 * for streams other servers open to us.  Stages: STARTTLS (required unless
 * the policy allows plain dialback), then either SASL EXTERNAL (XEP-0178)
 * when the peer's certificate verified against the s2s trust store (s2s.ca)
 * and the policy trusts it, followed by a new stream with empty features;
 * or dialback (XEP-0220, dialback.c) for one or more domain pairs.  Every
 * stanza must come from and go to a pair the stream authenticated (RFC
 * 6120 §8.1.1.2, §13.1); it then goes to the router like any other.  The
 * stream stays on the worker that accepted it: the router posts each
 * stanza to the worker that owns its recipient.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/conn.h"
#include "core/log.h"
#include "jid/jid.h"
#include "router/router.h"
#include "router/shard.h"
#include "s2s/internal.h"
#include "s2s/report.h"
#include "s2s/s2s.h"
#include "tls/names.h"
#include "tls/tls.h"
#include "xml/ns.h"
#include "xml/xml.h"


static const char *const alpn_xmpp_server[] = {"xmpp-server"};

const struct s2s_port s2s_port_starttls = {false};
const struct s2s_port s2s_port_direct = {true};

/* ---- pairs ---- */

struct s2s_pair *s2s_in_pair(struct s2s_in *s, const char *remote, const char *local)
{
	for (size_t i = 0; i < s->npairs; i++)
		if (strcasecmp(s->pairs[i].remote, remote) == 0 && strcmp(s->pairs[i].local, local) == 0)
			return &s->pairs[i];
	return NULL;
}

struct s2s_pair *s2s_in_pair_add(struct s2s_in *s, const char *remote, const char *local, enum s2s_pair_state st)
{
	s->pairs = xrealloc(s->pairs, (s->npairs + 1) * sizeof(*s->pairs));
	struct s2s_pair *p = &s->pairs[s->npairs++];
	p->remote = xstrdup(remote);
	p->local = local;
	p->state = st;
	return p;
}

struct s2s_in *s2s_in_find(struct shard *sh, uint64_t id)
{
	list_for_each(pos, &sh->s2s_streams)
	{
		struct s2s_in *s = list_entry(pos, struct s2s_in, link);
		if (s->xs.conn && conn_id(s->xs.conn) == id)
			return s;
	}
	return NULL;
}

void s2s_tls_facts(struct conn *c, struct arena *a, const char *domain, bool allow_cn, struct s2s_peer_tls *out)
{
	*out = (struct s2s_peer_tls){.tls = conn_secure(c)};
	if (!out->tls)
		return;
	struct tls_session *t = conn_transport(c);
	out->cert = tls_session_peer_cert_status(t, &out->cert_reason);
	out->problem = tls_session_peer_cert(t)->problem;
	struct tls_cert_ids ids;
	if (tls_session_peer_identities(t, a, &ids) == 0) {
		/* RFC 6125 by the same rules as EXTERNAL; the verdict's clause
		 * says which identity matched, for the report. */
		struct tls_presented_ids p = {
			.dns_ids = ids.dns_names, .ndns_ids = ids.ndns_names,
			.srv_ids = ids.srv_ids, .nsrv_ids = ids.nsrv_ids,
			.xmpp_addrs = ids.xmpp_addrs, .nxmpp_addrs = ids.nxmpp_addrs,
			.cn_ids = ids.cns, .ncn_ids = ids.ncns,
		};
		struct tls_names_policy np = {.srv_service = "xmpp-server", .allow_cn = allow_cn};
		struct tls_names_verdict v;
		out->names_domain = domain && *domain && tls_names_match(domain, &p, &np, &v) != TLS_ID_NO_MATCH;
		out->names_reason = domain && *domain ? arena_strdup(a, v.reason) : "no domain claimed";
		out->spki = arena_strdup(a, ids.spki);
	}
}

static unsigned long long cid(const struct s2s_in *s)
{
	return (unsigned long long)conn_id(s->xs.conn);
}

/* The domain the peer claims (or has proven), for log lines. */
static const char *claimed(const struct s2s_in *s)
{
	return s->remote ? s->remote : s->xs.peer_domain[0] ? s->xs.peer_domain : "(no 'from' yet)";
}

void s2s_limits(const struct config *cfg, bool authed, struct xml_limits *lim)
{
	lim->stanza_bytes = authed ? cfg->s2s.stanza_bytes : cfg->limits.stanza_bytes_preauth;
	lim->header_bytes = cfg->limits.header_bytes;
	lim->depth = cfg->limits.depth;
	lim->elements = cfg->limits.elements;
	lim->attrs = cfg->limits.attrs;
	lim->attr_bytes = cfg->limits.attr_bytes;
}

static const char *s2s_who(const struct xstream *xs)
{
	const struct s2s_in *s = s2s_in_of(xs);
	if (s->remote)
		return s->remote;
	return s->npairs ? s->pairs[0].remote : conn_peer(xs->conn);
}

/* ---- header and features ---- */

static bool s2s_select_host(struct xstream *xs, const char *to, enum stream_cond *cond, char *text, size_t textlen)
{
	struct s2s_in *s = s2s_in_of(xs);
	const struct config *cfg = s->sh->srv->cfg;
	const struct config_host *host = to ? config_host_find(cfg, to) : NULL;
	xs->domain = host ? host->domain : cfg->hosts[0].domain;
	if (!to) {
		*cond = STREAM_ERR_HOST_UNKNOWN;
		snprintf(text, textlen, "a server stream must name one of our domains in 'to'");
		return false;
	}
	if (!host) {
		*cond = STREAM_ERR_HOST_UNKNOWN;
		snprintf(text, textlen, "this server does not serve '%.200s'", to);
		return false;
	}
	return true;
}

/* What the policy says of the domain the peer claims on this stream, with
 * TLS as it is now. */
static void claimed_decision(struct s2s_in *s, struct arena *a, struct s2s_decision *dec,
			     struct s2s_peer_tls *facts_out, struct s2s_policy *pol_out)
{
	const struct config *cfg = s->sh->srv->cfg;
	struct s2s_policy pol;
	s2s_lookup(s->sh->srv, s->xs.peer_domain, &pol);
	if (pol_out)
		*pol_out = pol;
	struct s2s_peer_tls facts;
	s2s_tls_facts(s->xs.conn, a, s->xs.peer_domain, cfg->s2s.allow_cn, &facts);
	s2s_policy_decide(&pol, s->xs.peer_domain, &facts, pol.dialback, dec);
	if (facts_out)
		*facts_out = facts;
}

/* Once per stream, after TLS: what the peer's certificate allows, with
 * the setting that would change it. */
static void log_cert_verdict(struct s2s_in *s, const struct s2s_decision *dec, const struct s2s_peer_tls *facts,
			     bool dialback)
{
	if (s->cert_logged)
		return;
	s->cert_logged = true;
	if (s->xs.peer_domain[0]) {
		struct s2s_attempt *at = s2s_report_begin(s->sh, s->xs.peer_domain, S2S_DIR_IN, s->xs.domain, "incoming");
		s2s_report_set(at->peer, sizeof(at->peer), "%s", conn_peer(s->xs.conn));
		s2s_report_tls(at, s->xs.conn, facts, dec);
		s2s_report_set(at->offered, sizeof(at->offered), "%s%s%s",
			       dec->methods & S2S_METHOD_EXTERNAL ? "EXTERNAL" : "",
			       (dec->methods & S2S_METHOD_EXTERNAL) && dialback ? ", " : "", dialback ? "dialback" : "");
	}
	const char *reason = NULL;
	void *t = conn_transport(s->xs.conn);
	enum tls_peer_cert pc = tls_session_peer_cert_status(t, &reason);
	if (pc == TLS_PEER_CERT_VALID && dec->trusted) {
		log_info("s2s", "conn=%llu %s from %s: certificate verified against the s2s trust store (s2s.ca); "
				"SASL EXTERNAL offered",
			 cid(s), conn_peer(s->xs.conn), claimed(s));
		return;
	}
	if (dec->methods) {
		log_info("s2s", "conn=%llu %s from %s: %s: %s", cid(s), conn_peer(s->xs.conn), claimed(s),
			 s2s_code_name(dec->code), dec->why);
		return;
	}
	struct tls_client_auth_info info;
	tls_client_auth_info(s->sh->srv->s2s_trust, &info);
	const char *why = pc == TLS_PEER_CERT_INVALID ? reason
			  : pc == TLS_PEER_CERT_VALID ? "the certificate does not name the domain"
			  : info.requests  ? "the peer sent no certificate"
					   : "no certificate asked for: the s2s trust store (s2s.ca) holds no CA";
	/* The policy's sentence starts with the certificate's problem, which
	 * this line names already: keep what it decided and why. */
	const char *decided = dec->why;
	const char *cut = strncmp(decided, "certificate from ", 17) == 0 ? strstr(decided, "; ") : NULL;
	if (cut)
		decided = cut + 2;
	log_warn("s2s", "conn=%llu %s from %s: step TLS: %s: certificate not accepted (%s); SASL EXTERNAL not offered; %s",
		 cid(s), conn_peer(s->xs.conn), claimed(s), s2s_code_name(dec->code ? dec->code : S2S_CERT_INVALID), why,
		 decided[0] ? decided
			    : "to accept it, add its CA to s2s.ca (parleyctl trust add --store s2s) and reload");
}

static void s2s_features(struct xstream *xs, struct buf *b)
{
	struct s2s_in *s = s2s_in_of(xs);
	if (xs->authenticated)
		return; /* RFC 6120 §6.4.6: empty features, stanzas may flow */
	bool secure = conn_secure(xs->conn);
	struct arena *a = arena_new();
	struct s2s_decision dec;
	struct s2s_peer_tls facts;
	struct s2s_policy pol;
	claimed_decision(s, a, &dec, &facts, &pol);
	if (!secure && s->sh->srv->tls)
		buf_printf(b, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>%s</starttls>",
			   pol.require_tls ? "<required/>" : "");
	if (secure)
		log_cert_verdict(s, &dec, &facts, pol.dialback);
	arena_free(a);
	if (secure || !pol.require_tls)
		xs_sasl_features(&s->sasl, b);
	/* Dialback where the policy could allow it for the claimed domain:
	 * over TLS whenever it is on; in the clear only for a plain row. */
	if (pol.dialback && (secure || (dec.methods & S2S_METHOD_DIALBACK)))
		buf_append_str(b, "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>");
}

/* ---- STARTTLS ---- */

static struct tls_session *s2s_tls_session(struct server *srv, bool starttls)
{
	struct tls_session_config tc = {
		.client_auth = srv->s2s_trust,
		/* Public CAs stopped issuing clientAuth in 2026: a server's own
		 * certificate (serverAuth) is accepted unless the operator says
		 * otherwise. */
		.peer_purpose = srv->cfg->s2s.accept_serverauth_only ? TLS_PURPOSE_CLIENT_OR_SERVER : TLS_PURPOSE_CLIENT,
		.skip_leading_whitespace = starttls,
	};
	if (!starttls) {
		tc.alpn = alpn_xmpp_server;
		tc.nalpn = 1;
	}
	return tls_session_new_server_ex(srv->tls, &tc);
}

static void s2s_starttls(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	struct s2s_in *s = s2s_in_of(xs);
	(void)el;
	arena_free(a);
	if (conn_secure(xs->conn) || !s->sh->srv->tls) {
		xs_send_raw(xs, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>");
		xs->state = XS_CLOSING;
		conn_close(xs->conn, conn_secure(xs->conn) ? "STARTTLS on a TLS stream" : "STARTTLS without certificates");
		return;
	}
	xs_send_raw(xs, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
	xs->state = XS_STARTTLS;
	xs_stop_parser(xs, XS_RESTART_TLS);
	conn_set_transport(xs->conn, &tls_transport_ops, s2s_tls_session(s->sh->srv, true));
}

/* ---- SASL ---- */

static void s2s_sasl(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	struct s2s_in *s = s2s_in_of(xs);
	struct s2s_policy pol;
	s2s_lookup(s->sh->srv, s->xs.peer_domain, &pol);
	if (!conn_secure(xs->conn) && pol.require_tls) {
		arena_free(a);
		log_warn("s2s", "conn=%llu %s from %s: step SASL: refused before TLS (s2s.require_tls = true)", cid(s),
			 conn_peer(xs->conn), claimed(s));
		xs_error(xs, STREAM_ERR_POLICY_VIOLATION, "authentication needs TLS first (STARTTLS)");
		return;
	}
	xs_sasl_element(&s->sasl, a, el);
}

static struct s2s_in *stream_of(const struct xs_sasl *sa)
{
	return container_of(sa, struct s2s_in, sasl);
}

/* EXTERNAL is offered when the policy trusts the certificate for the
 * domain the peer claims (or, when it claims none, whenever the
 * certificate verified: the check comes with the authzid). */
static bool s2s_external_allowed(struct xs_sasl *sa)
{
	struct s2s_in *s = stream_of(sa);
	if (!s->xs.peer_domain[0])
		return true;
	struct arena *a = arena_new();
	struct s2s_decision dec;
	claimed_decision(s, a, &dec, NULL, NULL);
	arena_free(a);
	return (dec.methods & S2S_METHOD_EXTERNAL) != 0;
}

static enum sasl_cond s2s_external(struct xs_sasl *sa, struct arena *a, const char *authzid, struct jid *out,
				   const char **who, const char **why)
{
	struct s2s_in *s = stream_of(sa);
	const struct config *cfg = s->sh->srv->cfg;
	struct tls_cert_ids ids;
	bool have = tls_session_peer_identities(conn_transport(s->xs.conn), a, &ids) == 0;
	for (size_t i = 0; have && i < ids.nrefused; i++)
		log_info("s2s", "conn=%llu ignoring a certificate identity: %s", cid(s), ids.refused[i]);
	const char *domain = NULL;
	enum sasl_cond c = s2s_external_domain(a, have ? &ids : NULL, s->xs.peer_domain, authzid, cfg->s2s.allow_cn,
					       &domain, why);
	*who = domain ? domain : claimed(s);
	if (c == SASL_OK && server_is_local(s->sh->srv, domain)) {
		*why = arena_printf(a, "%s is one of our own domains", domain);
		c = SASL_NOT_AUTHORIZED;
	}
	if (c == SASL_OK) {
		/* The policy row of that domain: allow/deny, pins. */
		struct s2s_policy pol;
		s2s_lookup(s->sh->srv, domain, &pol);
		struct s2s_peer_tls facts;
		s2s_tls_facts(s->xs.conn, a, domain, cfg->s2s.allow_cn, &facts);
		struct s2s_decision dec;
		s2s_policy_decide(&pol, domain, &facts, pol.dialback, &dec);
		if (!(dec.methods & S2S_METHOD_EXTERNAL)) {
			*why = arena_strdup(a, dec.why[0] ? dec.why : "not allowed by the s2s policy");
			c = SASL_NOT_AUTHORIZED;
		}
	}
	if (c == SASL_OK && jid_make(a, NULL, domain, NULL, out) < 0) {
		*why = "not a valid domain";
		c = SASL_NOT_AUTHORIZED;
	}
	if (c != SASL_OK) {
		if (domain)
			s2s_report_end(s->sh, domain, S2S_DIR_IN, false, S2S_SASL_EXTERNAL_FAILED, *why, NULL);
		log_warn("s2s", "conn=%llu %s from %s: step SASL EXTERNAL: refused: %s%s", cid(s), conn_peer(s->xs.conn),
			 *who, *why,
			 strstr(*why, "CN-ID") && !cfg->s2s.allow_cn ? " (s2s.allow_cn = false)" : "");
		return c;
	}
	log_info("s2s", "conn=%llu %s: certificate names %s: %s", cid(s), conn_peer(s->xs.conn), domain, *why);
	return SASL_OK;
}

static void s2s_succeeded(struct xs_sasl *sa, const struct jid *identity)
{
	struct s2s_in *s = stream_of(sa);
	free(s->remote);
	s->remote = xstrdup(identity->domain);
	if (!s2s_in_pair(s, s->remote, s->xs.domain))
		s2s_in_pair_add(s, s->remote, s->xs.domain, PAIR_VALID);
	else
		s2s_in_pair(s, s->remote, s->xs.domain)->state = PAIR_VALID;
	void *t = conn_transport(s->xs.conn);
	s2s_report_end(s->sh, s->remote, S2S_DIR_IN, true, S2S_CODE_NONE, NULL, "EXTERNAL");
	log_info("s2s", "conn=%llu link authenticated: direction in, local %s, remote %s, method EXTERNAL, %s (%s)",
		 cid(s), s->xs.domain, s->remote, t ? tls_session_version(t) : "plaintext", conn_peer(s->xs.conn));
	xs_restart_after_auth(&s->xs);
}

void s2s_in_release(struct s2s_in *s);

static void s2s_release(struct xs_sasl *sa)
{
	s2s_in_release(stream_of(sa));
}

static const struct xs_sasl_rules s2s_sasl_rules = {
	.identity = NULL,
	.credentials = NULL, /* servers have no passwords */
	.external = s2s_external,
	.external_allowed = s2s_external_allowed,
	.succeeded = s2s_succeeded,
	.release = s2s_release,
};

/* ---- stanzas ---- */

static void refuse(struct s2s_in *s, struct stanza *st, enum stream_cond cond, const char *text)
{
	log_warn("s2s", "conn=%llu %s from %s: step stanza: refused (%s); the stream ends", cid(s),
		 conn_peer(s->xs.conn), claimed(s), text);
	stanza_free(st);
	xs_error(&s->xs, cond, text);
}

static void s2s_stanza(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	struct s2s_in *s = s2s_in_of(xs);
	struct stanza *st = stanza_wrap(a, el);
	char text[700];
	if (!st) {
		snprintf(text, sizeof(text), "<%.60s xmlns='%.80s'> is not a stanza this server handles", el->name, el->ns);
		arena_free(a);
		xs_error(xs, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, text);
		return;
	}
	/* RFC 6120 §8.1.2.2 / §13.1: from a domain this stream proved. */
	const char *from = xml_node_attr(st->el, "from");
	if (!from || jid_parse_str(st->arena, from, &st->from) < 0) {
		snprintf(text, sizeof(text), "a stanza from a server needs a valid 'from'%s%.200s%s", from ? " ('" : "",
			 from ? from : "", from ? "' is not a JID)" : "");
		refuse(s, st, from ? STREAM_ERR_INVALID_FROM : STREAM_ERR_IMPROPER_ADDRESSING, text);
		return;
	}
	bool from_ok = false;
	for (size_t i = 0; i < s->npairs && !from_ok; i++)
		from_ok = s->pairs[i].state == PAIR_VALID && strcasecmp(s->pairs[i].remote, st->from.domain) == 0;
	if (!from_ok) {
		snprintf(text, sizeof(text), "'from' domain %.200s is not authenticated on this stream (%.200s is)",
			 st->from.domain, s->npairs ? s->pairs[0].remote : "no domain");
		refuse(s, st, STREAM_ERR_INVALID_FROM, text);
		return;
	}
	/* RFC 6120 §8.1.1.2: to a domain of ours. */
	const char *to = xml_node_attr(st->el, "to");
	if (!to || jid_parse_str(st->arena, to, &st->to) < 0) {
		snprintf(text, sizeof(text), "a stanza from a server needs a valid 'to'%s%.200s%s", to ? " ('" : "",
			 to ? to : "", to ? "' is not a JID)" : "");
		refuse(s, st, STREAM_ERR_IMPROPER_ADDRESSING, text);
		return;
	}
	if (!server_is_local(s->sh->srv, st->to.domain)) {
		snprintf(text, sizeof(text), "this server does not serve '%.200s'", st->to.domain);
		refuse(s, st, STREAM_ERR_HOST_UNKNOWN, text);
		return;
	}
	/* RFC 6120 §13.1 / XEP-0220 §4: the pair (from, to) itself. */
	struct s2s_pair *p = s2s_in_pair(s, st->from.domain, config_host_find(s->sh->srv->cfg, st->to.domain)->domain);
	if (!p || p->state != PAIR_VALID) {
		snprintf(text, sizeof(text), "%.200s is not authenticated to send to %.200s on this stream",
			 st->from.domain, st->to.domain);
		refuse(s, st, STREAM_ERR_INVALID_FROM, text);
		return;
	}
	if (st->kind == STANZA_IQ && (st->type == STANZA_TYPE_UNKNOWN || !st->id)) {
		router_bounce(s->sh, st, ETYPE_MODIFY, STANZA_ERR_BAD_REQUEST,
			      "an iq needs an id and a type of get, set, result or error");
		return;
	}
	log_debug("s2s", "conn=%llu <%s> from %s to %s", cid(s), st->el->name, st->from.full, st->to.full);
	router_route(s->sh, st);
}

/* What a peer server may send, by stage; anything else gets the stream
 * layer's answer (not-authorized for stanzas before authentication,
 * unsupported-stanza-type otherwise). */
static const struct xs_route s2s_routes[] = {
	{XML_NS_TLS, "starttls", XS_IN(XS_OPEN), XS_AUTH_BEFORE, s2s_starttls},
	{XML_NS_SASL, NULL, XS_IN(XS_OPEN) | XS_IN(XS_NEGOTIATING), XS_AUTH_BEFORE, s2s_sasl},
	{XML_NS_DIALBACK, "result", XS_IN(XS_OPEN) | XS_IN(XS_READY), XS_AUTH_ANY, s2s_in_db_result},
	{XML_NS_DIALBACK, "verify", XS_IN(XS_OPEN) | XS_IN(XS_READY), XS_AUTH_ANY, s2s_in_db_verify},
	{XML_NS_SERVER, NULL, XS_IN(XS_READY), XS_AUTH_AFTER, s2s_stanza},
};

/* After <success/>: a fresh parser with the larger limits; the stream
 * stays on this worker. */
static bool s2s_auth_restart(struct xstream *xs, const char *data, size_t len)
{
	struct s2s_in *s = s2s_in_of(xs);
	(void)data;
	(void)len;
	struct xml_limits lim;
	s2s_limits(s->sh->srv->cfg, true, &lim);
	xs_new_parser(xs, &lim);
	return true;
}

static const struct xs_kind s2s_in_kind = {
	.tag = "s2s",
	.peer = "server",
	.content_ns = XML_NS_SERVER,
	.header_attrs = " xmlns:db='jabber:server:dialback'",
	.out = &xs_tcp_output,
	.ready_after_auth = true,
	.routes = s2s_routes,
	.nroutes = sizeof(s2s_routes) / sizeof(s2s_routes[0]),
	.select_host = s2s_select_host,
	.features = s2s_features,
	.auth_restart = s2s_auth_restart,
	.who = s2s_who,
};

/* ---- conn events ---- */

static void s2s_on_read(void *owner, struct conn *c, const char *data, size_t len)
{
	(void)c;
	struct s2s_in *s = owner;
	xs_input(&s->xs, data, len);
}

static void s2s_on_handshake(void *owner, struct conn *c)
{
	struct s2s_in *s = owner;
	(void)c;
	xs_log_tls(&s->xs, s->direct_tls);
	xs_tls_established(&s->xs);
}

static void s2s_on_tick(void *owner, struct conn *c, uint64_t now)
{
	(void)c;
	struct s2s_in *s = owner;
	const struct config *cfg = s->sh->srv->cfg;
	struct xs_timeouts t;
	xs_timeouts_from_limits(cfg, "authenticated", &t);
	t.idle_s = cfg->s2s.idle_timeout + cfg->limits.handshake_timeout;
	t.idle_name = "s2s.idle_timeout";
	if (!xs_tick(&s->xs, now, &t))
		xs_sasl_tick(&s->sasl, now);
}

void s2s_in_release(struct s2s_in *s)
{
	if (s->ip[0])
		s2s_addr_release(s->sh->srv, s->ip);
	xs_sasl_free(&s->sasl);
	xs_release(&s->xs);
	free(s->remote);
	for (size_t i = 0; i < s->npairs; i++)
		free(s->pairs[i].remote);
	free(s->pairs);
	free(s);
}

static void s2s_on_close(void *owner, struct conn *c, const char *reason)
{
	struct s2s_in *s = owner;
	log_info("s2s", "conn=%llu %s: incoming link from %s closed (%s); %llu bytes in, %llu out",
		 (unsigned long long)conn_id(c), conn_peer(c), claimed(s), reason,
		 (unsigned long long)conn_bytes_in(c), (unsigned long long)conn_bytes_out(c));
	list_remove(&s->link);
	s->xs.conn = NULL;
	if (xs_sasl_busy(&s->sasl)) {
		xs_sasl_orphan(&s->sasl);
		return;
	}
	s2s_in_release(s);
}

static const struct conn_handler s2s_conn_handler = {
	.on_read = s2s_on_read,
	.on_handshake = s2s_on_handshake,
	.on_tick = s2s_on_tick,
	.on_close = s2s_on_close,
};

/* ---- accepting ---- */

/* A new incoming stream on `c` (its owner is not set yet), or NULL after
 * refusing an address that has too many already (the conn then closes). */
static struct s2s_in *in_new(struct shard *sh, struct conn *c, bool direct_tls, bool tls_done)
{
	const struct config *cfg = sh->srv->cfg;
	struct s2s_in *s = xcalloc(1, sizeof(*s));
	s->sh = sh;
	s->direct_tls = direct_tls;
	conn_set_handler(c, &s2s_conn_handler, s);
	/* A flood of connections from one address is bounded over all
	 * workers. */
	char ip[64];
	unsigned same = 0;
	conn_peer_ip(c, ip, sizeof(ip));
	bool admitted = s2s_addr_take(sh->srv, ip, cfg->s2s.connections_per_address, &same);
	if (admitted)
		snprintf(s->ip, sizeof(s->ip), "%s", ip);
	struct xml_limits lim;
	s2s_limits(cfg, false, &lim);
	xs_init(&s->xs, &s2s_in_kind, c, &lim, cfg->hosts[0].domain, worker_now(sh->w));
	xs_sasl_init(&s->sasl, &s->xs, &s2s_sasl_rules, &cfg->s2s.mechanisms, cfg, sh->w);
	list_insert_tail(&sh->s2s_streams, &s->link);
	conn_set_outq_limit(c, cfg->limits.outq_bytes);
	conn_set_read_rate(c, cfg->limits.read_rate, cfg->limits.read_burst);
	char local[64];
	log_info("s2s", "conn=%llu incoming server connection from %s on %s%s", (unsigned long long)conn_id(c),
		 conn_peer(c), conn_local(c, local, sizeof(local)),
		 tls_done ? " (shared port, ALPN xmpp-server)" : direct_tls ? " (direct TLS)" : "");
	if (!admitted) {
		log_warn("s2s", "conn=%llu %s: refused: %u server connections from this address already "
				"(s2s.connections_per_address = %u)",
			 (unsigned long long)conn_id(c), conn_peer(c), same, cfg->s2s.connections_per_address);
		if (!tls_done)
			conn_start(c);
		if (direct_tls)
			conn_close(c, "too many connections from this address");
		else
			xs_error(&s->xs, STREAM_ERR_POLICY_VIOLATION, "too many connections from this address");
		return NULL;
	}
	return s;
}

void s2s_in_accept(struct worker *w, int fd, void *ud)
{
	const struct s2s_port *port = ud;
	struct shard *sh = shard_of(w);
	struct conn *c = conn_new(w, fd, &s2s_conn_handler, NULL);
	struct s2s_in *s = in_new(sh, c, port->direct_tls, false);
	if (!s)
		return;
	conn_start(c);
	if (port->direct_tls) {
		if (!sh->srv->tls) {
			conn_close(c, "direct TLS without certificates");
			return;
		}
		s->xs.state = XS_TLS_HANDSHAKE;
		conn_set_transport(c, &tls_transport_ops, s2s_tls_session(sh->srv, false));
	}
}

void s2s_in_adopt(struct shard *sh, struct conn *c, const char *data, size_t len)
{
	struct s2s_in *s = in_new(sh, c, true, true);
	if (!s)
		return;
	/* What a direct-TLS accept does when its handshake ends, then the
	 * bytes the shared port read while it looked at the stream. */
	s->xs.state = XS_TLS_HANDSHAKE;
	s2s_on_handshake(s, c);
	if (len && !conn_closing(c))
		s2s_on_read(s, c, data, len);
}
