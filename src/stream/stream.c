/*
 * stream: the XMPP stream machine shared by every kind of stream.
 *
 * Restarts (after TLS and after authentication) stop the parser inside the
 * element that caused them; what follows that element in the same read is
 * either forbidden (after <starttls/>: plaintext injection, RFC 6120
 * §5.4.3.3, whitespace apart) or the start of the next stream (after
 * authentication), kept in `pending`.  Whitespace between top-level
 * elements is always ignored: the parser skips it before a stream's first
 * byte.
 */
#include "stream/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/arena.h"
#include "core/chunk.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "tls/tls.h"

/* A quiet ready stream keeps no parser between stanzas (the next byte
 * re-creates it): most of an idle session's memory otherwise. */
enum { XS_IDLE_TRIM_MS = 2000 };

static const char *xs_who(const struct xstream *xs)
{
	return xs->kind->who ? xs->kind->who(xs) : conn_peer(xs->conn);
}

/* ---- output ---- */

static void xs_new_id(struct xstream *xs)
{
	unsigned char r[9];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		log_fatal(xs->kind->tag, "no randomness for a stream id");
	static const char digits[] = "0123456789abcdefghijklmnopqrstuv";
	size_t i;
	for (i = 0; i < sizeof(r) * 2 && i < sizeof(xs->id) - 1; i++)
		xs->id[i] = digits[(r[i / 2] >> ((i % 2) * 4)) & 0x1f];
	xs->id[i] = '\0';
}

static void tcp_open(struct xstream *xs, const char *to)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s'%s", xs->kind->content_ns,
		   XML_NS_STREAM, xs->kind->header_attrs);
	/* RFC 6120 §4.7.3: only the receiving entity names the stream. */
	if (!xs->initiator) {
		buf_append_str(&b, " id='");
		buf_append_str(&b, xs->id);
		buf_append_char(&b, '\'');
	}
	buf_append_str(&b, " from='");
	xml_escape_attr(&b, xs->domain, strlen(xs->domain));
	if (to) {
		buf_append_str(&b, "' to='");
		xml_escape_attr(&b, to, strlen(to));
	}
	buf_append_str(&b, "' version='1.0' xml:lang='en'>");
	conn_write(xs->conn, b.data, b.len);
	buf_clear(&b);
}

static void tcp_close(struct xstream *xs)
{
	conn_write(xs->conn, "</stream:stream>", 16);
}

static void tcp_write(struct xstream *xs, const char *data, size_t len)
{
	conn_write(xs->conn, data, len);
}

static void tcp_write_chunks(struct xstream *xs, struct chunk *const *chunks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		conn_write_chunk(xs->conn, chunks[i]);
}

static void tcp_keepalive(struct xstream *xs)
{
	conn_write(xs->conn, " ", 1);
}

const struct xs_output_ops xs_tcp_output = {
	.open = tcp_open,
	.close = tcp_close,
	.write = tcp_write,
	.write_chunks = tcp_write_chunks,
	.keepalive = tcp_keepalive,
};

void xs_set_framing(struct xstream *xs, const struct xs_output_ops *out, void *ctx)
{
	xs->out = out;
	xs->out_ctx = ctx;
}

void xs_write(struct xstream *xs, const char *data, size_t len)
{
	xs->out->write(xs, data, len);
}

void xs_write_chunks(struct xstream *xs, struct chunk *const *chunks, size_t n)
{
	xs->out->write_chunks(xs, chunks, n);
}

void xs_send_raw(struct xstream *xs, const char *xml)
{
	xs_write(xs, xml, strlen(xml));
}

void xs_send_node(struct xstream *xs, const struct xml_node *n)
{
	struct buf b = BUF_INIT;
	xml_serialize(&b, n, xs->kind->content_ns);
	xs_write(xs, b.data, b.len);
	buf_clear(&b);
}

static void xs_send_header(struct xstream *xs, const char *to)
{
	if (!xs->initiator)
		xs_new_id(xs);
	xs->out->open(xs, to);
	xs->header_sent = true;
}

/* The checks every header gets, on either side: in its place, the root
 * <stream:stream>.  Returns the content namespace it declares (NULL:
 * none), or sets *ok false after a stream error. */
static const char *header_root(struct xstream *xs, const struct xml_node *h, bool *ok)
{
	*ok = false;
	if (xs->state != XS_WAIT_HEADER) {
		xs_error(xs, STREAM_ERR_BAD_FORMAT, "stream header out of place");
		return NULL;
	}
	if (h->ns != XML_NS_STREAM || strcmp(h->name, "stream") != 0) {
		xs_error(xs, STREAM_ERR_INVALID_NAMESPACE,
			 "the stream root must be <stream:stream> in http://etherx.jabber.org/streams");
		return NULL;
	}
	*ok = true;
	const char *content_ns = NULL;
	for (const struct xml_nsdecl *d = h->nsdecls; d; d = d->next)
		if (!d->prefix)
			content_ns = d->uri;
	return content_ns;
}

/* The content namespace (unless the framing defines it: check_ns false)
 * and the version, on either side. */
static bool header_content(struct xstream *xs, const struct xml_node *h, const char *content_ns, bool check_ns,
			   bool host_ok, enum stream_cond host_cond, const char *host_text)
{
	if (check_ns && (!content_ns || strcmp(content_ns, xs->kind->content_ns) != 0)) {
		char text[128];
		snprintf(text, sizeof(text), "%s streams use the %s namespace", xs->kind->peer, xs->kind->content_ns);
		xs_error(xs, STREAM_ERR_INVALID_NAMESPACE, text);
		return false;
	}
	if (!host_ok) {
		xs_error(xs, host_cond, host_text);
		return false;
	}
	const char *version = xml_node_attr(h, "version");
	if (!version || strncmp(version, "1.", 2) != 0) {
		xs_error(xs, STREAM_ERR_UNSUPPORTED_VERSION, "only XMPP 1.0 streams (version='1.0') are supported");
		return false;
	}
	return true;
}

void xs_initiate(struct xstream *xs, const char *peer_domain)
{
	xs->initiator = true;
	snprintf(xs->peer_domain, sizeof(xs->peer_domain), "%s", peer_domain);
	xs->state = XS_WAIT_HEADER;
	xs_send_header(xs, xs->peer_domain);
}

/* The initiating side: the peer answers our header with its own, which
 * names the stream (id) and is followed by features; nothing is sent
 * back. */
static void on_initiated_stream_start(struct xstream *xs, const struct xml_node *h, const char *content_ns)
{
	if (!header_content(xs, h, content_ns, true, true, STREAM_ERR_UNDEFINED_CONDITION, NULL))
		return;
	const char *id = xml_node_attr(h, "id");
	snprintf(xs->peer_id, sizeof(xs->peer_id), "%s", id ? id : "");
	if (xs->kind->peer_header && !xs->kind->peer_header(xs, h))
		return;
	xs->state = XS_OPEN;
}

void xs_error(struct xstream *xs, enum stream_cond cond, const char *text)
{
	if (xs->state == XS_CLOSING)
		return;
	if (!xs->header_sent)
		xs_send_header(xs, NULL);
	const char *name = stream_cond_name(cond);
	struct buf b = BUF_INIT;
	buf_printf(&b, "<stream:error><%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", name);
	if (text) {
		buf_append_str(&b, "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>");
		xml_escape_text(&b, text, strlen(text));
		buf_append_str(&b, "</text>");
	}
	buf_append_str(&b, "</stream:error>");
	xs_write(xs, b.data, b.len);
	xs->out->close(xs);
	buf_reset(&b);
	buf_printf(&b, "stream error <%s/>%s%s", name, text ? ": " : "", text ? text : "");
	log_info(xs->kind->tag, "conn=%llu %s: sending %s", (unsigned long long)conn_id(xs->conn), xs_who(xs),
		 buf_cstr(&b));
	xs->state = XS_CLOSING;
	conn_close(xs->conn, buf_cstr(&b));
	buf_clear(&b);
}

/* ---- header and features ---- */

static void xs_send_features(struct xstream *xs)
{
	struct buf b = BUF_INIT;
	buf_append_str(&b, "<stream:features>");
	xs->kind->features(xs, &b);
	buf_append_str(&b, "</stream:features>");
	xs_write(xs, b.data, b.len);
	buf_clear(&b);
	xs->state = XS_OPEN;
}

/* The receiving side: the peer's header (its <stream:stream>, or with
 * element framing its <open/>) is checked and answered with ours and the
 * features. */
static void accept_header(struct xstream *xs, const struct xml_node *h, bool framed)
{
	const struct xs_kind *k = xs->kind;
	enum stream_cond host_cond = STREAM_ERR_UNDEFINED_CONDITION;
	char host_text[300] = "";
	bool host_ok = k->select_host(xs, xml_node_attr(h, "to"), &host_cond, host_text, sizeof(host_text));
	/* The host is chosen first so that an error header names it; its
	 * refusal comes after the checks of the root and the namespace. */
	if (framed) {
		/* The framing's <open/> declares no content namespace: the
		 * root the machine supplied did. */
		if (xs->state != XS_WAIT_HEADER) {
			xs_error(xs, STREAM_ERR_BAD_FORMAT, "stream header out of place");
			return;
		}
		if (!header_content(xs, h, NULL, false, host_ok, host_cond, host_text))
			return;
	} else {
		bool ok;
		const char *content_ns = header_root(xs, h, &ok);
		if (!ok || !header_content(xs, h, content_ns, true, host_ok, host_cond, host_text))
			return;
	}
	const char *from = xml_node_attr(h, "from");
	snprintf(xs->peer_domain, sizeof(xs->peer_domain), "%s", from ? from : "");
	xs_send_header(xs, from);
	xs_send_features(xs);
	if (xs->authenticated && k->ready_after_auth)
		xs->state = XS_READY;
}

static void on_stream_start(void *ud, const struct xml_node *h)
{
	struct xstream *xs = ud;
	if (xs->resuming)
		return;
	if (xs->initiator) {
		bool ok;
		const char *ns = header_root(xs, h, &ok);
		if (ok)
			on_initiated_stream_start(xs, h, ns);
		return;
	}
	accept_header(xs, h, false);
}

static void on_stream_end(void *ud)
{
	struct xstream *xs = ud;
	if (xs->state == XS_CLOSING)
		return;
	/* The peer closed its stream: close ours and the connection. */
	xs->out->close(xs);
	xs->state = XS_CLOSING;
	char reason[64];
	snprintf(reason, sizeof(reason), "%s closed the stream", xs->kind->peer);
	conn_close(xs->conn, reason);
}

/* ---- elements ---- */

static bool route_matches(const struct xstream *xs, const struct xs_route *r, const struct xml_node *el)
{
	if (!(r->states & XS_IN(xs->state)))
		return false;
	if (r->auth == XS_AUTH_BEFORE && xs->authenticated)
		return false;
	if (r->auth == XS_AUTH_AFTER && !xs->authenticated)
		return false;
	if (r->ns && el->ns != r->ns)
		return false;
	return !r->name || strcmp(el->name, r->name) == 0;
}

/* RFC 6120 §4.9: the peer's stream error ends the stream; it is not
 * answered with one of ours. */
static void on_peer_error(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	const char *cond = "undefined-condition", *text = NULL;
	xml_for_each_element(c, el)
	{
		if (c->ns != XML_NS_STREAMS)
			continue;
		if (strcmp(c->name, "text") == 0)
			text = xml_node_text(a, c);
		else
			cond = c->name;
	}
	char reason[400];
	snprintf(reason, sizeof(reason), "the %s sent stream error <%.60s/>%s%.300s", xs->kind->peer, cond,
		 text ? ": " : "", text ? text : "");
	log_info(xs->kind->tag, "conn=%llu %s: %s", (unsigned long long)conn_id(xs->conn), xs_who(xs), reason);
	if (xs->kind->peer_error)
		xs->kind->peer_error(xs, cond, text);
	if (xs->state != XS_CLOSING) {
		if (xs->header_sent)
			xs->out->close(xs);
		xs->state = XS_CLOSING;
		conn_close(xs->conn, reason);
	}
	arena_free(a);
}

/* Element framing: the peer's stream header and end are elements of the
 * framing namespace (RFC 7395 §3.3.2). */
static void on_framing_element(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	if (strcmp(el->name, "open") == 0) {
		if (xs->state != XS_CLOSING && xs->state != XS_MOVING)
			accept_header(xs, el, true);
	} else if (strcmp(el->name, "close") == 0) {
		on_stream_end(xs);
	} else {
		char text[128];
		snprintf(text, sizeof(text), "<%.60s/> is not an element of the framing (open, close)", el->name);
		xs_error(xs, STREAM_ERR_BAD_FORMAT, text);
	}
	arena_free(a);
}

static void on_element(void *ud, struct arena *a, struct xml_node *el)
{
	struct xstream *xs = ud;
	const struct xs_kind *k = xs->kind;
	if (xs->out->framed) {
		unsigned max = xs->out->message_elements;
		if (xs->in_message && ++xs->message_elements > max && max) {
			arena_free(a);
			xs_error(xs, STREAM_ERR_BAD_FORMAT, max == 1 ? "a message must hold exactly one XML element"
								     : "too many XML elements in one message");
			return;
		}
		if (el->ns == XML_NS_FRAMING) {
			on_framing_element(xs, a, el);
			return;
		}
	}
	if (el->ns == XML_NS_STREAM && strcmp(el->name, "error") == 0) {
		on_peer_error(xs, a, el);
		return;
	}
	for (size_t i = 0; i < k->nroutes; i++) {
		if (route_matches(xs, &k->routes[i], el)) {
			k->routes[i].handle(xs, a, el);
			return;
		}
	}
	switch (xs->state) {
	case XS_CLOSING:
	case XS_MOVING:
		break;
	case XS_WAIT_HEADER:
	case XS_TLS_HANDSHAKE:
	case XS_STARTTLS:
		xs_error(xs, STREAM_ERR_BAD_FORMAT, "element before the stream header");
		break;
	default:
		if (!xs->authenticated && (el->ns == XML_NS_CLIENT || el->ns == XML_NS_SERVER))
			xs_error(xs, STREAM_ERR_NOT_AUTHORIZED, "stanzas need authentication first");
		else
			xs_error(xs, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, el->name);
		break;
	}
	arena_free(a);
}

static const struct xml_parser_handler xs_parser_handler = {
	.stream_start = on_stream_start,
	.element = on_element,
	.stream_end = on_stream_end,
};

/* ---- input ---- */

void xs_init(struct xstream *xs, const struct xs_kind *kind, struct conn *c, const struct xml_limits *lim,
	     const char *domain, uint64_t now_ms)
{
	memset(xs, 0, sizeof(*xs));
	xs->kind = kind;
	xs->out = kind->out;
	xs->conn = c;
	xs->domain = domain;
	xs->started_ms = now_ms;
	xs->state = XS_WAIT_HEADER;
	buf_init(&xs->pending);
	xs->parser = xml_parser_new(lim, &xs_parser_handler, xs);
}

void xs_release(struct xstream *xs)
{
	xml_parser_free(xs->parser);
	xs->parser = NULL;
	buf_clear(&xs->pending);
}

void xs_stop_parser(struct xstream *xs, enum xs_restart why)
{
	xs->restart = why;
	xml_parser_stop(xs->parser);
}

void xs_new_parser(struct xstream *xs, const struct xml_limits *lim)
{
	xml_parser_reset(xs->parser);
	xs->primed = false;
	xml_parser_set_limits(xs->parser, lim);
}

void xs_feed_pending(struct xstream *xs)
{
	if (!xs->pending.len)
		return;
	struct buf in = xs->pending;
	buf_init(&xs->pending);
	xs_input(xs, in.data, in.len);
	buf_clear(&in);
}

/* The next stream after authentication: the kind prepares it; the input
 * that followed goes on now unless the kind kept it. */
static bool xs_auth_restart(struct xstream *xs, const char *data, size_t len)
{
	xs->state = XS_WAIT_HEADER;
	xs->header_sent = false;
	bool go_on = xs->kind->auth_restart(xs, data, len);
	/* The initiating side opens the new stream itself. */
	if (go_on && xs->initiator)
		xs_send_header(xs, xs->peer_domain);
	return go_on;
}

void xs_restart_after_auth(struct xstream *xs)
{
	if (xs->in_feed) {
		xs_stop_parser(xs, XS_RESTART_AUTH);
		return;
	}
	xs->restart = XS_RESTART_NONE; /* a hold, if any, ends here */
	if (xs_auth_restart(xs, NULL, 0))
		xs_feed_pending(xs);
}

/* A stream root of this kind, fed to the parser and answered with
 * nothing: after a hold that could not continue the parser, and as the
 * root element framing never sends.  (A buf: header_attrs has no bound.) */
static void xs_prime(struct xstream *xs)
{
	struct buf header = BUF_INIT;
	buf_printf(&header, "<stream:stream xmlns='%s' xmlns:stream='%s'%s version='1.0'>", xs->kind->content_ns,
		   XML_NS_STREAM, xs->kind->header_attrs);
	xs->resuming = true;
	xml_parser_feed(xs->parser, header.data, header.len, NULL);
	xs->resuming = false;
	xs->primed = true;
	buf_clear(&header);
}

void xs_resume_after_hold(struct xstream *xs)
{
	xs->restart = XS_RESTART_NONE; /* the hold ends */
	/* The same stream goes on in the context of the peer's own header,
	 * so prefixes it declared there stay bound. */
	if (xml_parser_continue(xs->parser)) {
		xs_feed_pending(xs);
		return;
	}
	/* Not stopped after an element (cannot happen for a hold from a
	 * route handler): a fresh parser primed with a header of this kind. */
	xml_parser_reset(xs->parser);
	xs_prime(xs);
	xs_feed_pending(xs);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void xs_input(struct xstream *xs, const char *data, size_t len)
{
	while (len > 0 && xs->state != XS_CLOSING) {
		if (xs->out->framed && !xs->primed)
			xs_prime(xs);
		size_t used = 0;
		xs->in_feed = true;
		enum xml_feed r = xml_parser_feed(xs->parser, data, len, &used);
		xs->in_feed = false;
		if (r == XML_FEED_OK)
			return;
		if (r == XML_FEED_ERROR) {
			const char *detail = NULL;
			enum xml_error e = xml_parser_error(xs->parser, &detail);
			xs_error(xs, xml_error_condition(e), detail);
			return;
		}
		data += used;
		len -= used;
		enum xs_restart why = xs->restart;
		xs->restart = XS_RESTART_NONE;
		if (why == XS_RESTART_TLS) {
			xml_parser_reset(xs->parser);
			xs->primed = false;
			/* Whitespace after <starttls/> is what clients send
			 * between elements (go-sendxmpp: a newline); anything
			 * else would be processed as if it came over TLS, a
			 * known injection attack. */
			size_t ws = 0;
			while (ws < len && is_space(data[ws]))
				ws++;
			if (ws < len) {
				log_warn(xs->kind->tag,
					 "conn=%llu %s: %zu plaintext bytes after <starttls/> before the TLS "
					 "handshake; closing (STARTTLS command injection attempt?)",
					 (unsigned long long)conn_id(xs->conn), conn_peer(xs->conn), len - ws);
				xs->state = XS_CLOSING;
				conn_abort(xs->conn, "plaintext after <starttls/>");
			}
			return;
		}
		if (why == XS_RESTART_HOLD) {
			/* The hold lasts until xs_resume_after_hold or
			 * xs_restart_after_auth: later reads meet the stopped
			 * parser (it takes nothing) and come here too, so
			 * they wait, in order, behind this input. */
			xs->restart = XS_RESTART_HOLD;
			buf_append(&xs->pending, data, len);
			return;
		}
		if (why == XS_RESTART_AUTH) {
			if (!xs_auth_restart(xs, data, len))
				return;
			continue;
		}
		/* Stopped for another reason (closing): drop the rest. */
		return;
	}
}

static bool all_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_space(p[i]))
			return false;
	return true;
}

void xs_input_message(struct xstream *xs, const char *data, size_t len)
{
	if (xs->state == XS_CLOSING)
		return;
	/* Moving to another worker (the rest of a read after <success/>):
	 * it waits with the input that followed <success/>. */
	if (xs->state == XS_MOVING) {
		buf_append(&xs->pending, data, len);
		return;
	}
	size_t pending = xs->pending.len;
	xs->in_message = true;
	xs->message_elements = 0;
	xs_input(xs, data, len);
	xs->in_message = false;
	/* Kept for later (a hold), or the stream went away meanwhile. */
	if (xs->state == XS_CLOSING || xs->state == XS_MOVING || xs->pending.len != pending)
		return;
	if (xs->message_elements == 0 && !all_space(data, len))
		xs_error(xs, STREAM_ERR_BAD_FORMAT, "a message must hold whole XML elements");
}

void xs_log_tls(const struct xstream *xs, bool direct_tls)
{
	struct tls_session *t = conn_transport(xs->conn);
	const char *sni = tls_session_sni(t);
	log_info(xs->kind->tag, "conn=%llu %s: TLS established (%s, %s%s%s%s)", (unsigned long long)conn_id(xs->conn),
		 conn_peer(xs->conn), tls_session_version(t), tls_session_cipher(t), sni ? ", SNI " : "", sni ? sni : "",
		 direct_tls ? ", direct TLS" : "");
}

void xs_tls_established(struct xstream *xs)
{
	/* A new stream begins over TLS, on a fresh parser whichever side
	 * asked for TLS (the one that sent <starttls/> was reset already).
	 * Never from inside the parser: its handler is still running. */
	if (!xs->in_feed) {
		xml_parser_reset(xs->parser);
		xs->primed = false;
	}
	xs->state = XS_WAIT_HEADER;
	xs->header_sent = false;
	if (xs->initiator)
		xs_send_header(xs, xs->peer_domain);
}

/* ---- timeouts ---- */

void xs_timeouts_from_limits(const struct config *cfg, const char *ready_what, struct xs_timeouts *t)
{
	*t = (struct xs_timeouts){
		.handshake_s = cfg->limits.handshake_timeout,
		.idle_s = cfg->limits.idle_timeout,
		.keepalive_s = cfg->limits.keepalive,
		.ready_what = ready_what,
		.handshake_name = "limits.handshake_timeout",
		.idle_name = "limits.idle_timeout",
	};
}

bool xs_tick(struct xstream *xs, uint64_t now, const struct xs_timeouts *t)
{
	struct conn *c = xs->conn;
	if (xs->state == XS_CLOSING || xs->state == XS_MOVING)
		return true;
	if (xs->state != XS_READY && now - xs->started_ms > (uint64_t)t->handshake_s * 1000) {
		char text[128];
		snprintf(text, sizeof(text), "not %s within %u s (%s)", t->ready_what, t->handshake_s,
			 t->handshake_name);
		if (xs->state == XS_TLS_HANDSHAKE || xs->state == XS_STARTTLS) {
			log_info(xs->kind->tag, "conn=%llu %s: TLS handshake not completed within %u s; closing",
				 (unsigned long long)conn_id(c), conn_peer(c), t->handshake_s);
			xs->state = XS_CLOSING;
			conn_abort(c, "TLS handshake timeout");
		} else {
			xs_error(xs, STREAM_ERR_CONNECTION_TIMEOUT, text);
		}
		return true;
	}
	if (now - conn_last_read_ms(c) > (uint64_t)t->idle_s * 1000) {
		char text[128];
		snprintf(text, sizeof(text), "no data for %u s (%s)", t->idle_s, t->idle_name);
		xs_error(xs, STREAM_ERR_CONNECTION_TIMEOUT, text);
		return true;
	}
	if (xs->state == XS_READY && now - conn_last_read_ms(c) >= XS_IDLE_TRIM_MS)
		xml_parser_trim(xs->parser);
	/* Only between stanzas of a ready stream: whitespace before a new
	 * stream's XML declaration would make it invalid. */
	if (xs->state == XS_READY && xs->out->keepalive && conn_outq_bytes(c) == 0 &&
	    now - conn_last_write_ms(c) > (uint64_t)t->keepalive_s * 1000)
		xs->out->keepalive(xs);
	return false;
}
