/*
 * c2s stream: the client kind of the stream machine (stream/stream.h).
 * It supplies the jabber:client parameters, the host check, the features
 * of each stage and the routes: STARTTLS (here), SASL (auth.c), binding
 * and stanzas (bind.c).  After SASL the stream moves to the worker that
 * owns the account.  The same stream runs over a web transport's framing
 * (c2s_stream_adopt, c2s.h): only accepting, TLS and the framing differ.
 */
#include "c2s/c2s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s/internal.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/conn.h"
#include "core/listener.h"
#include "core/log.h"
#include "router/router.h"
#include "tls/tls.h"
#include "xml/xml.h"

static const char *const alpn_xmpp_client[] = {"xmpp-client"};

static void c2s_on_read(void *owner, struct conn *c, const char *data, size_t len);
static void c2s_on_handshake(void *owner, struct conn *c);
static void c2s_on_tick(void *owner, struct conn *c, uint64_t now_ms);
static void c2s_on_close(void *owner, struct conn *c, const char *reason);

static const struct conn_handler c2s_conn_handler = {
	.on_read = c2s_on_read,
	.on_handshake = c2s_on_handshake,
	.on_tick = c2s_on_tick,
	.on_close = c2s_on_close,
};

/* ---- limits ---- */

static void c2s_limits(const struct config *cfg, bool authed, struct xml_limits *lim)
{
	lim->stanza_bytes = authed ? cfg->limits.stanza_bytes : cfg->limits.stanza_bytes_preauth;
	lim->header_bytes = cfg->limits.header_bytes;
	lim->depth = cfg->limits.depth;
	lim->elements = cfg->limits.elements;
	lim->attrs = cfg->limits.attrs;
	lim->attr_bytes = cfg->limits.attr_bytes;
}

const char *c2s_who(const struct c2s_stream *s)
{
	if (s->bound)
		return s->session.jid->full;
	if (s->jid)
		return s->jid->bare;
	return conn_peer(s->xs.conn);
}

static const char *c2s_xs_who(const struct xstream *xs)
{
	return c2s_who(c2s_of(xs));
}

/* ---- header and features ---- */

static bool c2s_select_host(struct xstream *xs, const char *to, enum stream_cond *cond, char *text, size_t textlen)
{
	struct c2s_stream *s = c2s_of(xs);
	const struct config *cfg = s->sh->srv->cfg;
	const struct config_host *host = to ? config_host_find(cfg, to) : &cfg->hosts[0];
	xs->domain = host ? host->domain : cfg->hosts[0].domain;
	if (host && xs->authenticated && strcmp(host->domain, s->jid->domain) != 0) {
		*cond = STREAM_ERR_HOST_UNKNOWN;
		snprintf(text, textlen, "the stream after authentication names another host");
		return false;
	}
	if (!host) {
		*cond = STREAM_ERR_HOST_UNKNOWN;
		snprintf(text, textlen, "this server does not serve '%.200s'", to);
		return false;
	}
	return true;
}

static void c2s_features(struct xstream *xs, struct buf *b)
{
	struct c2s_stream *s = c2s_of(xs);
	const struct config *cfg = s->sh->srv->cfg;
	bool secure = conn_secure(xs->conn);
	if (xs->authenticated) {
		c2s_bound_features(s, b);
		return;
	}
	if (!secure && !s->framing)
		buf_printf(b, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>%s</starttls>",
			   cfg->c2s.require_tls ? "<required/>" : "");
	if (secure || !cfg->c2s.require_tls)
		xs_sasl_features(&s->sasl, b);
}

/* ---- STARTTLS ---- */

static void *c2s_tls_session(struct server *srv, const char *const *alpn, size_t nalpn)
{
	struct tls_session_config tc = {.alpn = alpn, .nalpn = nalpn, .client_auth = srv->client_auth};
	return tls_session_new_server_ex(srv->tls, &tc);
}

static void c2s_starttls(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	struct c2s_stream *s = c2s_of(xs);
	(void)el;
	arena_free(a);
	if (conn_secure(xs->conn) || !s->sh->srv->tls || s->framing) {
		xs_send_raw(xs, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
		xs->out->close(xs);
		xs->state = XS_CLOSING;
		conn_close(xs->conn, s->framing	       ? "STARTTLS over a web transport"
				     : conn_secure(xs->conn) ? "STARTTLS on a TLS stream"
							     : "STARTTLS without certificates");
		return;
	}
	xs_send_raw(xs, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
	xs->state = XS_STARTTLS;
	xs_stop_parser(xs, XS_RESTART_TLS);
	struct tls_session_config tc = {.client_auth = s->sh->srv->client_auth, .skip_leading_whitespace = true};
	conn_set_transport(xs->conn, &tls_transport_ops, tls_session_new_server_ex(s->sh->srv->tls, &tc));
}

/* ---- elements ---- */

static void c2s_sasl(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	struct c2s_stream *s = c2s_of(xs);
	if (!conn_secure(xs->conn) && s->sh->srv->cfg->c2s.require_tls) {
		arena_free(a);
		xs_error(xs, STREAM_ERR_POLICY_VIOLATION, "authentication needs TLS first (STARTTLS)");
		return;
	}
	xs_sasl_element(&s->sasl, a, el);
}

static void c2s_session(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	c2s_session_element(c2s_of(xs), a, el);
}

/* What a client may send, by stage; anything else gets the stream
 * layer's answer (not-authorized for stanzas before authentication,
 * unsupported-stanza-type otherwise). */
static const struct xs_route c2s_routes[] = {
	{XML_NS_TLS, "starttls", XS_IN(XS_OPEN), XS_AUTH_BEFORE, c2s_starttls},
	{XML_NS_SASL, NULL, XS_IN(XS_OPEN) | XS_IN(XS_NEGOTIATING), XS_AUTH_BEFORE, c2s_sasl},
	{NULL, NULL, XS_IN(XS_OPEN) | XS_IN(XS_NEGOTIATING) | XS_IN(XS_READY), XS_AUTH_AFTER, c2s_session},
};

/* ---- moving to the owner worker ---- */

static void c2s_arrive(struct worker *w, struct worker_msg *m)
{
	struct c2s_stream *s = container_of(m, struct c2s_stream, move);
	s->sh = shard_of(w);
	s->sasl.w = w;
	list_insert_tail(&s->sh->streams, &s->link);
	conn_attach(s->xs.conn, w);
	if (conn_closing(s->xs.conn))
		return;
	if (atomic_load(&w->stopping)) {
		xs_error(&s->xs, STREAM_ERR_SYSTEM_SHUTDOWN, "the server is stopping");
		return;
	}
	s->xs.state = XS_WAIT_HEADER;
	log_debug("c2s", "conn=%llu %s moved to worker %u", (unsigned long long)conn_id(s->xs.conn), s->jid->bare,
		  w->id);
	xs_feed_pending(&s->xs);
}

static void c2s_detached(struct conn *c, void *arg)
{
	struct c2s_stream *s = arg;
	(void)c;
	unsigned owner = server_owner(s->sh->srv, s->jid->bare);
	s->move.run = c2s_arrive;
	/* A connection in transit must not be dropped: post past the bound. */
	worker_post_force(&s->sh->srv->workers[owner], &s->move);
}

/* A fresh parser with the larger limits of an authenticated stream, on
 * the worker that owns the account: false when the stream is moving there
 * (with `data`, the input that followed <success/>, kept for later). */
static bool c2s_auth_restart(struct xstream *xs, const char *data, size_t len)
{
	struct c2s_stream *s = c2s_of(xs);
	struct xml_limits lim;
	c2s_limits(s->sh->srv->cfg, true, &lim);
	xs_new_parser(xs, &lim);
	unsigned owner = server_owner(s->sh->srv, s->jid->bare);
	if (owner == s->sh->w->id)
		return true;
	buf_append(&xs->pending, data, len);
	xs->state = XS_MOVING;
	list_remove(&s->link);
	conn_detach(xs->conn, c2s_detached, s);
	return false;
}

static const struct xs_kind c2s_kind = {
	.tag = "c2s",
	.peer = "client",
	.content_ns = XML_NS_CLIENT,
	.header_attrs = "",
	.out = &xs_tcp_output,
	.routes = c2s_routes,
	.nroutes = sizeof(c2s_routes) / sizeof(c2s_routes[0]),
	.select_host = c2s_select_host,
	.features = c2s_features,
	.auth_restart = c2s_auth_restart,
	.who = c2s_xs_who,
};

/* ---- conn events ---- */

static void c2s_on_read(void *owner, struct conn *c, const char *data, size_t len)
{
	(void)c;
	struct c2s_stream *s = owner;
	xs_input(&s->xs, data, len);
}

/* The client certificate of an established TLS session, judged by
 * c2s.client_certs and c2s.disconnect_on_failure. */
static void c2s_check_client_cert(struct c2s_stream *s)
{
	struct conn *c = s->xs.conn;
	void *t = conn_transport(c);
	const struct config *cfg = s->sh->srv->cfg;
	const char *reason = NULL;
	enum tls_peer_cert pc = tls_session_peer_cert_status(t, &reason);
	if (pc == TLS_PEER_CERT_VALID) {
		log_info("c2s", "conn=%llu %s: client certificate verified", (unsigned long long)conn_id(c),
			 conn_peer(c));
	} else if (pc == TLS_PEER_CERT_INVALID) {
		if (cfg->c2s.disconnect_on_failure) {
			log_warn("c2s", "conn=%llu %s: client certificate refused (%s); closing "
					"(c2s.disconnect_on_failure = true)",
				 (unsigned long long)conn_id(c), conn_peer(c), reason);
			char text[400];
			snprintf(text, sizeof(text), "client certificate refused: %s", reason);
			xs_error(&s->xs, STREAM_ERR_NOT_AUTHORIZED, text);
		} else {
			log_info("c2s", "conn=%llu %s: client certificate refused (%s); SASL EXTERNAL not offered, "
					"password mechanisms remain",
				 (unsigned long long)conn_id(c), conn_peer(c), reason);
		}
	}
}

static void c2s_on_handshake(void *owner, struct conn *c)
{
	struct c2s_stream *s = owner;
	(void)c;
	xs_log_tls(&s->xs, s->direct_tls);
	xs_tls_established(&s->xs);
	c2s_check_client_cert(s);
}

void c2s_stream_tick(struct c2s_stream *s, uint64_t now)
{
	const struct config *cfg = s->sh->srv->cfg;
	struct xs_timeouts t;
	xs_timeouts_from_limits(cfg, "authenticated and bound", &t);
	if (!xs_tick(&s->xs, now, &t))
		xs_sasl_tick(&s->sasl, now);
}

static void c2s_on_tick(void *owner, struct conn *c, uint64_t now)
{
	(void)c;
	c2s_stream_tick(owner, now);
}

void c2s_stream_release(struct c2s_stream *s)
{
	xs_sasl_free(&s->sasl);
	xs_release(&s->xs);
	free(s->jid);
	free(s);
}

void c2s_stream_closed(struct c2s_stream *s, const char *reason)
{
	struct conn *c = s->xs.conn;
	log_info("c2s", "conn=%llu %s: closed (%s); %llu bytes in, %llu out",
		 (unsigned long long)conn_id(c), c2s_who(s), reason, (unsigned long long)conn_bytes_in(c),
		 (unsigned long long)conn_bytes_out(c));
	if (s->bound)
		c2s_session_end(s);
	list_remove(&s->link);
	s->xs.conn = NULL;
	if (xs_sasl_busy(&s->sasl)) {
		xs_sasl_orphan(&s->sasl); /* freed when the check returns */
		return;
	}
	c2s_stream_release(s);
}

static void c2s_on_close(void *owner, struct conn *c, const char *reason)
{
	(void)c;
	c2s_stream_closed(owner, reason);
}

/* ---- accepting ---- */

struct c2s_port {
	bool direct_tls;
};

static const struct c2s_port port_starttls = {false};
static const struct c2s_port port_direct = {true};

/* A client stream on `c` (accepted here; its handler is set to ours). */
static struct c2s_stream *stream_new(struct shard *sh, struct conn *c, bool direct_tls, const char *how)
{
	const struct config *cfg = sh->srv->cfg;
	struct c2s_stream *s = xcalloc(1, sizeof(*s));
	s->sh = sh;
	conn_set_handler(c, &c2s_conn_handler, s);
	struct xml_limits lim;
	c2s_limits(cfg, false, &lim);
	xs_init(&s->xs, &c2s_kind, c, &lim, cfg->hosts[0].domain, worker_now(sh->w));
	xs_sasl_init(&s->sasl, &s->xs, &c2s_sasl_rules, &cfg->c2s.mechanisms, cfg, sh->w);
	s->direct_tls = direct_tls;
	list_insert_tail(&sh->streams, &s->link);
	conn_set_outq_limit(c, cfg->limits.outq_bytes);
	conn_set_read_rate(c, cfg->limits.read_rate, cfg->limits.read_burst);
	char local[64];
	log_info("c2s", "conn=%llu accepted from %s on %s%s", (unsigned long long)conn_id(c), conn_peer(c),
		 conn_local(c, local, sizeof(local)), how);
	return s;
}

static void c2s_accept(struct worker *w, int fd, void *ud)
{
	const struct c2s_port *port = ud;
	struct shard *sh = shard_of(w);
	struct conn *c = conn_new(w, fd, &c2s_conn_handler, NULL);
	struct c2s_stream *s = stream_new(sh, c, port->direct_tls, port->direct_tls ? " (direct TLS)" : "");
	conn_start(c);
	if (port->direct_tls) {
		s->xs.state = XS_TLS_HANDSHAKE;
		conn_set_transport(c, &tls_transport_ops, c2s_tls_session(sh->srv, alpn_xmpp_client, 1));
	}
}

void c2s_adopt_tls(struct shard *sh, struct conn *c, const char *data, size_t len)
{
	struct c2s_stream *s = stream_new(sh, c, true, " (shared port)");
	/* What a direct-TLS accept does when its handshake ends, then the
	 * bytes the shared port read while it looked at the stream. */
	s->xs.state = XS_TLS_HANDSHAKE;
	c2s_on_handshake(s, c);
	if (len && !conn_closing(c))
		c2s_on_read(s, c, data, len);
}

struct c2s_stream *c2s_stream_adopt(struct shard *sh, struct conn *c, const struct c2s_framing *f, void *ctx,
				    unsigned flags)
{
	struct worker *w = sh->w;
	const struct config *cfg = sh->srv->cfg;
	struct c2s_stream *s = xcalloc(1, sizeof(*s));
	s->sh = sh;
	s->framing = f;
	s->no_external = flags & C2S_ADOPT_NO_EXTERNAL;
	struct xml_limits lim;
	c2s_limits(cfg, false, &lim);
	xs_init(&s->xs, &c2s_kind, c, &lim, cfg->hosts[0].domain, worker_now(w));
	xs_set_framing(&s->xs, f->out, ctx);
	xs_sasl_init(&s->sasl, &s->xs, &c2s_sasl_rules, &cfg->c2s.mechanisms, cfg, w);
	s->sasl.no_channel_binding = flags & C2S_ADOPT_NO_CHANNEL_BINDING;
	list_insert_tail(&sh->streams, &s->link);
	conn_set_outq_limit(c, cfg->limits.outq_bytes);
	conn_set_read_rate(c, cfg->limits.read_rate, cfg->limits.read_burst);
	log_info("c2s", "conn=%llu %s: client stream over %s%s", (unsigned long long)conn_id(c), conn_peer(c),
		 f->transport, s->no_external ? " (no SASL EXTERNAL: the origin is not listed)" : "");
	if (conn_secure(c))
		c2s_check_client_cert(s);
	return s;
}

size_t c2s_stream_stanza_limit(const struct c2s_stream *s)
{
	const struct config *cfg = s->sh->srv->cfg;
	return s->xs.authenticated ? cfg->limits.stanza_bytes : cfg->limits.stanza_bytes_preauth;
}

void c2s_stream_feed(struct c2s_stream *s, const char *xml, size_t len)
{
	if (s->xs.out->framed)
		xs_input_message(&s->xs, xml, len);
	else
		xs_input(&s->xs, xml, len);
}

void c2s_ports(const struct config *cfg, struct listener_port *ports)
{
	ports[0] = (struct listener_port){cfg->c2s.port, "STARTTLS", (void *)&port_starttls};
	ports[1] = (struct listener_port){cfg->c2s.tls_port, "direct TLS", (void *)&port_direct};
}

int c2s_listen(struct shard *sh, char **err)
{
	const struct config *cfg = sh->srv->cfg;
	struct listener_port ports[2];
	c2s_ports(cfg, ports);
	return listener_set_open(&sh->listeners, sh->w, &cfg->c2s.listen, ports, 2, (int)cfg->c2s.backlog, c2s_accept,
				 "c2s", err);
}

void c2s_shutdown(struct shard *sh)
{
	listener_set_close(&sh->listeners);
	list_for_each_safe(pos, &sh->streams)
	{
		struct c2s_stream *s = list_entry(pos, struct c2s_stream, link);
		xs_error(&s->xs, STREAM_ERR_SYSTEM_SHUTDOWN, "the server is stopping");
	}
}
