/*
 * c2s stream: the connection-level state machine.  Bytes from the conn go
 * through the XML parser; the stream header is answered with ours and the
 * features of the current stage; top-level elements are dispatched by stage
 * to STARTTLS (here), SASL (auth.c) or binding and stanzas (bind.c).
 *
 * Stream restarts (after TLS and after SASL) stop the parser inside the
 * element that caused them; what follows that element in the same read is
 * either forbidden (after <starttls/>: plaintext injection, RFC 6120 §5.4.3.3,
 * whitespace apart) or the start of the next stream (after SASL), kept in
 * `pending`.  Whitespace between top-level elements is always ignored: the
 * parser skips it before a stream's first byte.
 */
#include "c2s/c2s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

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

enum { C2S_IDLE_TRIM_MS = 2000 };

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
	return conn_peer(s->conn);
}

/* ---- output ---- */

void c2s_send_raw(struct c2s_stream *s, const char *xml)
{
	conn_write(s->conn, xml, strlen(xml));
}

void c2s_send_node(struct c2s_stream *s, const struct xml_node *n)
{
	struct buf b = BUF_INIT;
	xml_serialize(&b, n, XML_NS_CLIENT);
	conn_write(s->conn, b.data, b.len);
	buf_clear(&b);
}

static void c2s_new_stream_id(struct c2s_stream *s)
{
	unsigned char r[9];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		log_fatal("c2s", "no randomness for a stream id");
	static const char digits[] = "0123456789abcdefghijklmnopqrstuv";
	size_t i;
	for (i = 0; i < sizeof(r) * 2 && i < sizeof(s->stream_id) - 1; i++)
		s->stream_id[i] = digits[(r[i / 2] >> ((i % 2) * 4)) & 0x1f];
	s->stream_id[i] = '\0';
}

static void c2s_send_header(struct c2s_stream *s, const char *to)
{
	struct buf b = BUF_INIT;
	c2s_new_stream_id(s);
	buf_append_str(&b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
			   "xmlns:stream='http://etherx.jabber.org/streams' id='");
	buf_append_str(&b, s->stream_id);
	buf_append_str(&b, "' from='");
	xml_escape_attr(&b, s->domain, strlen(s->domain));
	if (to) {
		buf_append_str(&b, "' to='");
		xml_escape_attr(&b, to, strlen(to));
	}
	buf_append_str(&b, "' version='1.0' xml:lang='en'>");
	conn_write(s->conn, b.data, b.len);
	buf_clear(&b);
	s->header_sent = true;
}

void c2s_stream_error(struct c2s_stream *s, enum stream_cond cond, const char *text)
{
	if (s->state == C2S_CLOSING)
		return;
	if (!s->header_sent)
		c2s_send_header(s, NULL);
	const char *name = stream_cond_name(cond);
	struct buf b = BUF_INIT;
	buf_printf(&b, "<stream:error><%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", name);
	if (text) {
		buf_append_str(&b, "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>");
		xml_escape_text(&b, text, strlen(text));
		buf_append_str(&b, "</text>");
	}
	buf_append_str(&b, "</stream:error></stream:stream>");
	conn_write(s->conn, b.data, b.len);
	buf_reset(&b);
	buf_printf(&b, "stream error <%s/>%s%s", name, text ? ": " : "", text ? text : "");
	log_info("c2s", "conn=%llu %s: sending %s", (unsigned long long)conn_id(s->conn), c2s_who(s),
		 buf_cstr(&b));
	s->state = C2S_CLOSING;
	conn_close(s->conn, buf_cstr(&b));
	buf_clear(&b);
}

void c2s_stop_parser(struct c2s_stream *s, enum c2s_restart why)
{
	s->restart = why;
	xml_parser_stop(s->parser);
}

/* ---- stream header and features ---- */

static void c2s_send_features(struct c2s_stream *s)
{
	const struct config *cfg = s->sh->srv->cfg;
	struct buf b = BUF_INIT;
	buf_append_str(&b, "<stream:features>");
	bool secure = conn_secure(s->conn);
	if (s->authenticated) {
		c2s_bound_features(s, &b);
	} else {
		if (!secure)
			buf_printf(&b, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>%s</starttls>",
				   cfg->c2s.require_tls ? "<required/>" : "");
		if (secure || !cfg->c2s.require_tls)
			c2s_auth_features(s, &b);
	}
	buf_append_str(&b, "</stream:features>");
	conn_write(s->conn, b.data, b.len);
	buf_clear(&b);
	s->state = C2S_OPEN;
}

static void c2s_stream_start(void *ud, const struct xml_node *h)
{
	struct c2s_stream *s = ud;
	if (s->resuming)
		return;
	const struct config *cfg = s->sh->srv->cfg;
	const char *to = xml_node_attr(h, "to");
	const struct config_host *host = to ? config_host_find(cfg, to) : &cfg->hosts[0];
	s->domain = host ? host->domain : cfg->hosts[0].domain;
	if (s->state != C2S_WAIT_HEADER) {
		c2s_stream_error(s, STREAM_ERR_BAD_FORMAT, "stream header out of place");
		return;
	}
	if (h->ns != XML_NS_STREAM || strcmp(h->name, "stream") != 0) {
		c2s_stream_error(s, STREAM_ERR_INVALID_NAMESPACE,
				 "the stream root must be <stream:stream> in http://etherx.jabber.org/streams");
		return;
	}
	const char *content_ns = NULL;
	for (const struct xml_nsdecl *d = h->nsdecls; d; d = d->next)
		if (!d->prefix)
			content_ns = d->uri;
	if (!content_ns || strcmp(content_ns, XML_NS_CLIENT) != 0) {
		c2s_stream_error(s, STREAM_ERR_INVALID_NAMESPACE, "client streams use the jabber:client namespace");
		return;
	}
	if (host && s->authenticated && strcmp(host->domain, s->jid->domain) != 0) {
		c2s_stream_error(s, STREAM_ERR_HOST_UNKNOWN, "the stream after authentication names another host");
		return;
	}
	if (!host) {
		char text[300];
		snprintf(text, sizeof(text), "this server does not serve '%.200s'", to);
		c2s_stream_error(s, STREAM_ERR_HOST_UNKNOWN, text);
		return;
	}
	const char *version = xml_node_attr(h, "version");
	if (!version || strncmp(version, "1.", 2) != 0) {
		c2s_stream_error(s, STREAM_ERR_UNSUPPORTED_VERSION, "only XMPP 1.0 streams (version='1.0') are supported");
		return;
	}
	c2s_send_header(s, xml_node_attr(h, "from"));
	c2s_send_features(s);
}

static void c2s_stream_end(void *ud)
{
	struct c2s_stream *s = ud;
	if (s->state == C2S_CLOSING)
		return;
	/* The client closed its stream: close ours and the connection. */
	c2s_send_raw(s, "</stream:stream>");
	s->state = C2S_CLOSING;
	conn_close(s->conn, "client closed the stream");
}

/* ---- STARTTLS ---- */

static void *c2s_tls_session(struct server *srv, const char *const *alpn, size_t nalpn)
{
	struct tls_session_config tc = {.alpn = alpn, .nalpn = nalpn, .client_auth = srv->client_auth};
	return tls_session_new_server_ex(srv->tls, &tc);
}

static void c2s_starttls(struct c2s_stream *s)
{
	if (conn_secure(s->conn) || !s->sh->srv->tls) {
		c2s_send_raw(s, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>");
		s->state = C2S_CLOSING;
		conn_close(s->conn, conn_secure(s->conn) ? "STARTTLS on a TLS stream"
							 : "STARTTLS without certificates");
		return;
	}
	c2s_send_raw(s, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
	s->state = C2S_STARTTLS;
	c2s_stop_parser(s, RESTART_TLS);
	struct tls_session_config tc = {.client_auth = s->sh->srv->client_auth, .skip_leading_whitespace = true};
	conn_set_transport(s->conn, &tls_transport_ops, tls_session_new_server_ex(s->sh->srv->tls, &tc));
}

/* ---- elements ---- */

static void c2s_element(void *ud, struct arena *a, struct xml_node *el)
{
	struct c2s_stream *s = ud;
	switch (s->state) {
	case C2S_BOUND:
		c2s_session_element(s, a, el);
		return;
	case C2S_CLOSING:
	case C2S_MOVING:
		break;
	case C2S_OPEN:
	case C2S_SASL:
		if (el->ns == XML_NS_TLS && strcmp(el->name, "starttls") == 0 && s->state == C2S_OPEN &&
		    !s->authenticated) {
			c2s_starttls(s);
			break;
		}
		if (el->ns == XML_NS_SASL && !s->authenticated) {
			if (!conn_secure(s->conn) && s->sh->srv->cfg->c2s.require_tls) {
				c2s_stream_error(s, STREAM_ERR_POLICY_VIOLATION, "authentication needs TLS first (STARTTLS)");
				break;
			}
			c2s_auth_element(s, a, el);
			return;
		}
		if (s->authenticated) {
			c2s_session_element(s, a, el);
			return;
		}
		if (el->ns == XML_NS_CLIENT || el->ns == XML_NS_SERVER)
			c2s_stream_error(s, STREAM_ERR_NOT_AUTHORIZED, "stanzas need authentication first");
		else
			c2s_stream_error(s, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, el->name);
		break;
	default:
		c2s_stream_error(s, STREAM_ERR_BAD_FORMAT, "element before the stream header");
		break;
	}
	arena_free(a);
}

static const struct xml_parser_handler c2s_parser_handler = {
	.stream_start = c2s_stream_start,
	.element = c2s_element,
	.stream_end = c2s_stream_end,
};

/* ---- moving to the owner worker ---- */

static void c2s_input(struct c2s_stream *s, const char *data, size_t len);
static void c2s_feed_pending(struct c2s_stream *s);

static void c2s_arrive(struct worker *w, struct worker_msg *m)
{
	struct c2s_stream *s = container_of(m, struct c2s_stream, move);
	s->sh = shard_of(w);
	list_insert_tail(&s->sh->streams, &s->link);
	conn_attach(s->conn, w);
	if (conn_closing(s->conn))
		return;
	if (atomic_load(&w->stopping)) {
		c2s_stream_error(s, STREAM_ERR_SYSTEM_SHUTDOWN, "the server is stopping");
		return;
	}
	s->state = C2S_WAIT_HEADER;
	log_debug("c2s", "conn=%llu %s moved to worker %u", (unsigned long long)conn_id(s->conn),
		  s->jid->bare, w->id);
	c2s_feed_pending(s);
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

/* ---- input ---- */

/* A fresh parser with the larger limits of an authenticated stream, on
 * the worker that owns the account: false when the stream is moving there
 * (with `data`, the input that followed <success/>, kept for later). */
static bool c2s_sasl_restart(struct c2s_stream *s, const char *data, size_t len)
{
	xml_parser_reset(s->parser);
	struct xml_limits lim;
	c2s_limits(s->sh->srv->cfg, true, &lim);
	xml_parser_set_limits(s->parser, &lim);
	s->state = C2S_WAIT_HEADER;
	s->header_sent = false;
	unsigned owner = server_owner(s->sh->srv, s->jid->bare);
	if (owner == s->sh->w->id)
		return true;
	buf_append(&s->pending, data, len);
	s->state = C2S_MOVING;
	list_remove(&s->link);
	conn_detach(s->conn, c2s_detached, s);
	return false;
}

static void c2s_feed_pending(struct c2s_stream *s)
{
	if (!s->pending.len)
		return;
	struct buf in = s->pending;
	buf_init(&s->pending);
	c2s_input(s, in.data, in.len);
	buf_clear(&in);
}

void c2s_restart_after_sasl(struct c2s_stream *s)
{
	if (s->in_feed)
		c2s_stop_parser(s, RESTART_SASL);
	else if (c2s_sasl_restart(s, NULL, 0))
		c2s_feed_pending(s);
}

void c2s_resume_after_hold(struct c2s_stream *s)
{
	/* The old parser cannot resume after a stop: a fresh one is primed
	 * with a client stream header, which is answered with nothing. */
	static const char header[] = "<stream:stream xmlns='jabber:client' "
				     "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
	xml_parser_reset(s->parser);
	s->resuming = true;
	xml_parser_feed(s->parser, header, sizeof(header) - 1, NULL);
	s->resuming = false;
	c2s_feed_pending(s);
}

static void c2s_input(struct c2s_stream *s, const char *data, size_t len)
{
	while (len > 0 && s->state != C2S_CLOSING) {
		size_t used = 0;
		s->in_feed = true;
		enum xml_feed r = xml_parser_feed(s->parser, data, len, &used);
		s->in_feed = false;
		if (r == XML_FEED_OK)
			return;
		if (r == XML_FEED_ERROR) {
			const char *detail = NULL;
			enum xml_error e = xml_parser_error(s->parser, &detail);
			c2s_stream_error(s, xml_error_condition(e), detail);
			return;
		}
		data += used;
		len -= used;
		enum c2s_restart why = s->restart;
		s->restart = RESTART_NONE;
		if (why == RESTART_TLS) {
			xml_parser_reset(s->parser);
			/* Whitespace after <starttls/> is what clients send
			 * between elements (go-sendxmpp: a newline); anything
			 * else would be processed as if it came over TLS, a
			 * known injection attack. */
			size_t ws = 0;
			while (ws < len && (data[ws] == ' ' || data[ws] == '\t' || data[ws] == '\r' || data[ws] == '\n'))
				ws++;
			if (ws < len) {
				log_warn("c2s",
					 "conn=%llu %s: %zu plaintext bytes after <starttls/> before the TLS "
					 "handshake; closing (STARTTLS command injection attempt?)",
					 (unsigned long long)conn_id(s->conn), conn_peer(s->conn), len - ws);
				s->state = C2S_CLOSING;
				conn_abort(s->conn, "plaintext after <starttls/>");
			}
			return;
		}
		if (why == RESTART_HOLD) {
			buf_append(&s->pending, data, len);
			return;
		}
		if (why == RESTART_SASL) {
			if (!c2s_sasl_restart(s, data, len))
				return;
			continue;
		}
		/* Stopped for another reason (closing): drop the rest. */
		return;
	}
}

static void c2s_on_read(void *owner, struct conn *c, const char *data, size_t len)
{
	(void)c;
	c2s_input(owner, data, len);
}

static void c2s_on_handshake(void *owner, struct conn *c)
{
	struct c2s_stream *s = owner;
	void *t = conn_transport(c);
	log_info("c2s", "conn=%llu %s: TLS established (%s, %s%s%s%s)", (unsigned long long)conn_id(c),
		 conn_peer(c), tls_session_version(t), tls_session_cipher(t),
		 tls_session_sni(t) ? ", SNI " : "", tls_session_sni(t) ? tls_session_sni(t) : "",
		 s->direct_tls ? ", direct TLS" : "");
	s->state = C2S_WAIT_HEADER;
	s->header_sent = false; /* a new stream begins over TLS */

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
			c2s_stream_error(s, STREAM_ERR_NOT_AUTHORIZED, text);
		} else {
			log_info("c2s", "conn=%llu %s: client certificate refused (%s); SASL EXTERNAL not offered, "
					"password mechanisms remain",
				 (unsigned long long)conn_id(c), conn_peer(c), reason);
		}
	}
}

static void c2s_on_tick(void *owner, struct conn *c, uint64_t now)
{
	struct c2s_stream *s = owner;
	const struct config *cfg = s->sh->srv->cfg;
	if (s->state == C2S_CLOSING || s->state == C2S_MOVING)
		return;
	if (!s->bound && now - s->started_ms > (uint64_t)cfg->limits.handshake_timeout * 1000) {
		char text[128];
		snprintf(text, sizeof(text), "not authenticated and bound within %u s (limits.handshake_timeout)",
			 cfg->limits.handshake_timeout);
		if (s->state == C2S_TLS_HANDSHAKE || s->state == C2S_STARTTLS) {
			log_info("c2s", "conn=%llu %s: TLS handshake not completed within %u s; closing",
				 (unsigned long long)conn_id(c), conn_peer(c), cfg->limits.handshake_timeout);
			s->state = C2S_CLOSING;
			conn_abort(c, "TLS handshake timeout");
		} else {
			c2s_stream_error(s, STREAM_ERR_CONNECTION_TIMEOUT, text);
		}
		return;
	}
	if (now - conn_last_read_ms(c) > (uint64_t)cfg->limits.idle_timeout * 1000) {
		char text[128];
		snprintf(text, sizeof(text), "no data for %u s (limits.idle_timeout)", cfg->limits.idle_timeout);
		c2s_stream_error(s, STREAM_ERR_CONNECTION_TIMEOUT, text);
		return;
	}
	c2s_auth_tick(s, now);
	/* A quiet bound stream keeps no parser between stanzas (the next
	 * byte re-creates it): most of an idle session's memory otherwise. */
	if (s->state == C2S_BOUND && now - conn_last_read_ms(c) >= C2S_IDLE_TRIM_MS)
		xml_parser_trim(s->parser);
	/* Only between stanzas of a bound stream: whitespace before a new
	 * stream's XML declaration would make it invalid. */
	if (s->state == C2S_BOUND && conn_outq_bytes(c) == 0 &&
	    now - conn_last_write_ms(c) > (uint64_t)cfg->limits.keepalive * 1000)
		conn_write(c, " ", 1);
}

void c2s_stream_release(struct c2s_stream *s)
{
	c2s_auth_clear(s);
	xml_parser_free(s->parser);
	buf_clear(&s->pending);
	free(s->jid);
	free(s->authcid);
	free(s);
}

static void c2s_on_close(void *owner, struct conn *c, const char *reason)
{
	struct c2s_stream *s = owner;
	log_info("c2s", "conn=%llu %s: closed (%s); %llu bytes in, %llu out",
		 (unsigned long long)conn_id(c), c2s_who(s), reason, (unsigned long long)conn_bytes_in(c),
		 (unsigned long long)conn_bytes_out(c));
	if (s->bound)
		c2s_session_end(s);
	list_remove(&s->link);
	s->conn = NULL;
	if (s->work_pending) {
		s->dead = true; /* auth.c frees it when the work returns */
		return;
	}
	c2s_stream_release(s);
}

/* ---- accepting ---- */

struct c2s_port {
	bool direct_tls;
};

static const struct c2s_port port_starttls = {false};
static const struct c2s_port port_direct = {true};

static void c2s_accept(struct worker *w, int fd, void *ud)
{
	const struct c2s_port *port = ud;
	struct shard *sh = shard_of(w);
	const struct config *cfg = sh->srv->cfg;
	struct c2s_stream *s = xcalloc(1, sizeof(*s));
	s->sh = sh;
	s->conn = conn_new(w, fd, &c2s_conn_handler, s);
	s->domain = cfg->hosts[0].domain;
	s->started_ms = worker_now(w);
	s->direct_tls = port->direct_tls;
	buf_init(&s->pending);
	struct xml_limits lim;
	c2s_limits(cfg, false, &lim);
	s->parser = xml_parser_new(&lim, &c2s_parser_handler, s);
	list_insert_tail(&sh->streams, &s->link);
	conn_set_outq_limit(s->conn, cfg->limits.outq_bytes);
	conn_set_read_rate(s->conn, cfg->limits.read_rate, cfg->limits.read_burst);
	char local[64];
	log_info("c2s", "conn=%llu accepted from %s on %s%s", (unsigned long long)conn_id(s->conn),
		 conn_peer(s->conn), conn_local(s->conn, local, sizeof(local)),
		 port->direct_tls ? " (direct TLS)" : "");
	conn_start(s->conn);
	if (port->direct_tls) {
		s->state = C2S_TLS_HANDSHAKE;
		conn_set_transport(s->conn, &tls_transport_ops, c2s_tls_session(sh->srv, alpn_xmpp_client, 1));
	} else {
		s->state = C2S_WAIT_HEADER;
	}
}

int c2s_listen(struct shard *sh, char **err)
{
	const struct config *cfg = sh->srv->cfg;
	for (size_t i = 0; i < cfg->c2s.listen.n; i++) {
		const char *ip = cfg->c2s.listen.items[i];
		unsigned ports[2] = {cfg->c2s.port, cfg->c2s.tls_port};
		const struct c2s_port *kinds[2] = {&port_starttls, &port_direct};
		for (int k = 0; k < 2; k++) {
			if (!ports[k])
				continue;
			if (sh->nlisteners == sizeof(sh->listeners) / sizeof(sh->listeners[0])) {
				*err = xstrdup("too many c2s listeners");
				return -1;
			}
			struct listener *l = listener_new(sh->w, ip, ports[k], (int)cfg->c2s.backlog, sh->w->id == 0,
							  c2s_accept, (void *)kinds[k], err);
			if (!l)
				return -1;
			sh->listeners[sh->nlisteners++] = l;
		}
	}
	return 0;
}

void c2s_shutdown(struct shard *sh)
{
	for (unsigned i = 0; i < sh->nlisteners; i++)
		listener_close(sh->listeners[i]);
	sh->nlisteners = 0;
	list_for_each_safe(pos, &sh->streams)
	{
		struct c2s_stream *s = list_entry(pos, struct c2s_stream, link);
		c2s_stream_error(s, STREAM_ERR_SYSTEM_SHUTDOWN, "the server is stopping");
	}
}
