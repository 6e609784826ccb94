/*
 * conn: one WebSocket connection carrying one client stream.  It is the
 * conn's handler: bytes go through libwslay's event API (frames, masks,
 * fragments, control frames, UTF-8 of text), each text message to the
 * stream as one XML element (c2s_stream_feed), and the stream writes
 * through this module's framing (ws_output): one text message per
 * element, <open/> and <close/> for the stream's ends, a ping to keep a
 * quiet connection open.
 *
 * Limits: a message is at most the stream's stanza limit
 * (c2s_stream_stanza_limit: limits.stanza_bytes_preauth before SASL,
 * limits.stanza_bytes after), checked by wslay from each frame's header
 * before its payload is buffered, fragments included (close 1009); a
 * message split in fragments must be whole within http.body_timeout
 * (close 1008); the stream's own timeouts (limits.handshake_timeout,
 * idle_timeout, keepalive) run as over TCP.
 *
 * Closing: the stream's end is <close/>, then a close frame 1000; a
 * stream error goes out before them (RFC 7395 §3.5, §3.6).  Frames the
 * protocol refuses end the connection with a close frame alone: 1002 for
 * a bad frame, 1003 for a binary message (RFC 7395 §3.2 says text), 1007
 * for invalid UTF-8, 1008 for an unfinished message, 1009 for a message
 * over the limit.  The connection closes once the close frame is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s/c2s.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/chunk.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/worker.h"
#include "router/shard.h"
#include "stream/stream.h"
#include "ws/internal.h"
#include "xml/xml.h"

static unsigned long long ws_id(const struct ws_conn *ws)
{
	return (unsigned long long)conn_id(ws->c);
}

static const struct config *ws_cfg(const struct ws_conn *ws)
{
	return shard_of(conn_worker(ws->c))->srv->cfg;
}

/* ---- wslay's I/O ---- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	(void)flags;
	struct ws_conn *ws = user;
	if (ws->in_len == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	size_t n = len < ws->in_len ? len : ws->in_len;
	memcpy(buf, ws->in, n);
	ws->in += n;
	ws->in_len -= n;
	return (ssize_t)n;
}

/* The output queue of the conn takes everything (its own limit,
 * limits.outq_bytes, ends a client that does not read). */
static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	(void)ctx;
	(void)flags;
	struct ws_conn *ws = user;
	conn_write(ws->c, data, len);
	return (ssize_t)len;
}

/* Sends what wslay has queued, at once: the stream may close the conn
 * right after writing, and a closing conn takes no more output.  (From
 * inside wslay_event_recv's callbacks too: sending touches only wslay's
 * output side.) */
static void ws_flush(struct ws_conn *ws)
{
	if (wslay_event_send(ws->ctx) == WSLAY_ERR_NOMEM)
		log_fatal("ws", "out of memory");
}

static void ws_queue(struct ws_conn *ws, uint8_t opcode, const void *data, size_t len)
{
	if (ws->closing)
		return;
	struct wslay_event_msg m = {.opcode = opcode, .msg = data, .msg_length = len};
	int r = wslay_event_queue_msg(ws->ctx, &m);
	if (r == WSLAY_ERR_NOMEM)
		log_fatal("ws", "out of memory");
	ws_flush(ws);
}

/* Our close frame; the conn closes once it is written.  `why` is for the
 * log and the conn's reason (NULL: the stream closed the conn itself). */
static void ws_close(struct ws_conn *ws, uint16_t code, const char *why)
{
	if (ws->closing)
		return;
	ws->closing = true;
	ws->message_since_ms = 0;
	int r = wslay_event_queue_close(ws->ctx, code, NULL, 0);
	if (r == WSLAY_ERR_NOMEM)
		log_fatal("ws", "out of memory");
	wslay_event_shutdown_read(ws->ctx);
	ws_flush(ws);
	if (why) {
		char reason[300];
		snprintf(reason, sizeof(reason), "WebSocket closed with %u: %s", code, why);
		log_info("ws", "conn=%llu %s: %s", ws_id(ws), conn_peer(ws->c), reason);
		conn_close(ws->c, reason);
	}
}

/* ---- the stream's framing (stream/stream.h) ---- */

static struct ws_conn *ws_of(struct xstream *xs)
{
	return xs->out_ctx;
}

static void ws_text(struct ws_conn *ws, const char *data, size_t len)
{
	ws_queue(ws, WSLAY_TEXT_FRAME, data, len);
}

static void out_open(struct xstream *xs, const char *to)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "<open xmlns='%s' id='%s' from='", XML_NS_FRAMING, xs->id);
	xml_escape_attr(&b, xs->domain, strlen(xs->domain));
	if (to) {
		buf_append_str(&b, "' to='");
		xml_escape_attr(&b, to, strlen(to));
	}
	buf_append_str(&b, "' version='1.0' xml:lang='en'/>");
	ws_text(ws_of(xs), b.data, b.len);
	buf_clear(&b);
}

static void out_close(struct xstream *xs)
{
	struct ws_conn *ws = ws_of(xs);
	static const char close_el[] = "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>";
	ws_text(ws, close_el, sizeof(close_el) - 1);
	/* The stream closes the conn itself, after this. */
	ws_close(ws, WSLAY_CODE_NORMAL_CLOSURE, NULL);
}

/* One element in pieces, as one message that declares its namespaces. */
static void ws_element(struct xstream *xs, const struct slice *parts, size_t n)
{
	struct ws_conn *ws = ws_of(xs);
	if (ws->closing || n == 0)
		return;
	struct buf decl = BUF_INIT, msg = BUF_INIT;
	size_t at = 0;
	bool fix = ws_frame_ns_fix(parts[0].p, parts[0].len, xs->kind->content_ns, &at, &decl);
	if (!fix && n == 1) {
		ws_text(ws, parts[0].p, parts[0].len);
		return;
	}
	size_t total = decl.len;
	for (size_t i = 0; i < n; i++)
		total += parts[i].len;
	buf_reserve(&msg, total);
	if (fix) {
		buf_append(&msg, parts[0].p, at);
		buf_append(&msg, decl.data, decl.len);
		buf_append(&msg, parts[0].p + at, parts[0].len - at);
	} else {
		buf_append(&msg, parts[0].p, parts[0].len);
	}
	for (size_t i = 1; i < n; i++)
		buf_append(&msg, parts[i].p, parts[i].len);
	ws_text(ws, msg.data, msg.len);
	buf_clear(&msg);
	buf_clear(&decl);
}

static void out_write(struct xstream *xs, const char *data, size_t len)
{
	struct slice s = slice_make(data, len);
	ws_element(xs, &s, 1);
}

static void out_write_chunks(struct xstream *xs, struct chunk *const *chunks, size_t n)
{
	struct slice parts[4];
	if (n > sizeof(parts) / sizeof(parts[0]))
		log_fatal("ws", "an element in %zu pieces", n);
	for (size_t i = 0; i < n; i++)
		parts[i] = slice_make(chunks[i]->data, chunks[i]->len);
	ws_element(xs, parts, n);
}

static void out_keepalive(struct xstream *xs)
{
	ws_queue(ws_of(xs), WSLAY_PING, NULL, 0);
}

static const struct xs_output_ops ws_output = {
	.open = out_open,
	.close = out_close,
	.write = out_write,
	.write_chunks = out_write_chunks,
	.keepalive = out_keepalive,
	.framed = true,
	.message_elements = 1,
};

static const struct c2s_framing ws_framing = {
	.out = &ws_output,
	.transport = "websocket",
};

/* ---- wslay's events ---- */

static uint64_t now_ms(const struct ws_conn *ws)
{
	return worker_now(conn_worker(ws->c));
}

static void on_frame_start(wslay_event_context_ptr ctx, const struct wslay_event_on_frame_recv_start_arg *arg,
			   void *user)
{
	(void)ctx;
	struct ws_conn *ws = user;
	if (ws->closing)
		return;
	if (arg->opcode == WSLAY_BINARY_FRAME) {
		/* Refused before its payload is kept. */
		ws_close(ws, WSLAY_CODE_UNSUPPORTED_DATA, "a binary message: XMPP over WebSocket is text (RFC 7395 §3.2)");
		return;
	}
	if (arg->opcode == WSLAY_TEXT_FRAME && !arg->fin)
		ws->message_since_ms = now_ms(ws);
}

static void on_message(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	(void)ctx;
	struct ws_conn *ws = user;
	if (ws->closing)
		return;
	switch (arg->opcode) {
	case WSLAY_TEXT_FRAME:
		ws->message_since_ms = 0;
		if (ws->stream)
			c2s_stream_feed(ws->stream, (const char *)arg->msg, arg->msg_length);
		break;
	case WSLAY_CONNECTION_CLOSE:
		/* wslay answers it; the stream ends without its <close/>. */
		break;
	default:
		break; /* pings are answered by wslay; pongs need nothing */
	}
}

static const struct wslay_event_callbacks ws_callbacks = {
	.recv_callback = recv_cb,
	.send_callback = send_cb,
	.on_frame_recv_start_callback = on_frame_start,
	.on_msg_recv_callback = on_message,
};

/* After wslay stopped reading on its own: the client closed, or a frame
 * broke the protocol.  Its close frame goes out, then the conn closes. */
static void ws_after_wslay_close(struct ws_conn *ws)
{
	ws->closing = true;
	ws->message_since_ms = 0;
	char reason[200];
	if (wslay_event_get_close_received(ws->ctx)) {
		ws_flush(ws);
		snprintf(reason, sizeof(reason), "client closed the WebSocket (%u)",
			 wslay_event_get_status_code_received(ws->ctx));
		log_debug("ws", "conn=%llu %s: %s", ws_id(ws), conn_peer(ws->c), reason);
		conn_close(ws->c, reason);
		return;
	}
	const struct config *cfg = ws_cfg(ws);
	size_t limit = ws->stream ? c2s_stream_stanza_limit(ws->stream) : cfg->limits.stanza_bytes_preauth;
	ws_flush(ws);
	uint16_t code = wslay_event_get_status_code_sent(ws->ctx);
	const char *why;
	switch (code) {
	case WSLAY_CODE_MESSAGE_TOO_BIG:
		snprintf(reason, sizeof(reason), "a message over %zu bytes (%s)", limit,
			 limit == cfg->limits.stanza_bytes ? "limits.stanza_bytes" : "limits.stanza_bytes_preauth");
		why = reason;
		break;
	case WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA:
		why = "a text message that is not UTF-8";
		break;
	default:
		why = "a frame against the WebSocket protocol (RFC 6455)";
		break;
	}
	char text[300];
	snprintf(text, sizeof(text), "WebSocket closed with %u: %s", code, why);
	log_info("ws", "conn=%llu %s: %s", ws_id(ws), conn_peer(ws->c), text);
	conn_close(ws->c, text);
}

/* wslay's frame layer refused a frame (a control frame over 125 bytes or
 * in fragments, a length not in its shortest form): its event layer
 * queued a close frame without a status, which we drop for one with
 * 1002, made by wslay's frame layer in a context of its own (this path
 * is rare: not worth a context per connection). */
static ssize_t frame_send_cb(const uint8_t *data, size_t len, int flags, void *user)
{
	(void)flags;
	struct ws_conn *ws = user;
	conn_write(ws->c, data, len);
	return (ssize_t)len;
}

static void ws_frame_error(struct ws_conn *ws)
{
	wslay_event_shutdown_write(ws->ctx);
	ws->closing = true;
	ws->message_since_ms = 0;
	static const struct wslay_frame_callbacks fcb = {.send_callback = frame_send_cb};
	wslay_frame_context_ptr fc;
	if (wslay_frame_context_init(&fc, &fcb, ws) != 0)
		log_fatal("ws", "out of memory");
	const uint8_t status[2] = {WSLAY_CODE_PROTOCOL_ERROR >> 8, WSLAY_CODE_PROTOCOL_ERROR & 0xff};
	struct wslay_frame_iocb io = {
		.fin = 1,
		.opcode = WSLAY_CONNECTION_CLOSE,
		.payload_length = sizeof(status),
		.data = status,
		.data_length = sizeof(status),
	};
	wslay_frame_send(fc, &io);
	wslay_frame_context_free(fc);
	const char *text = "WebSocket closed with 1002: a frame against the WebSocket protocol (RFC 6455)";
	log_info("ws", "conn=%llu %s: %s", ws_id(ws), conn_peer(ws->c), text);
	conn_close(ws->c, text);
}

static void ws_input(struct ws_conn *ws, const char *data, size_t len)
{
	if (ws->closing || len == 0)
		return;
	const struct config *cfg = ws_cfg(ws);
	size_t limit = ws->stream ? c2s_stream_stanza_limit(ws->stream) : cfg->limits.stanza_bytes_preauth;
	wslay_event_config_set_max_recv_msg_length(ws->ctx, limit);
	ws->in = data;
	ws->in_len = len;
	int r = wslay_event_recv(ws->ctx);
	ws->in = NULL;
	ws->in_len = 0;
	if (r == WSLAY_ERR_NOMEM)
		log_fatal("ws", "out of memory");
	if (r == WSLAY_ERR_CALLBACK_FAILURE) {
		if (!ws->closing)
			ws_frame_error(ws);
		return;
	}
	if (ws->closing)
		return;
	if (!wslay_event_get_read_enabled(ws->ctx)) {
		ws_after_wslay_close(ws);
		return;
	}
	ws_flush(ws);
}

/* ---- conn events ---- */

static void ws_on_read(void *owner, struct conn *c, const char *data, size_t len)
{
	(void)c;
	ws_input(owner, data, len);
}

static void ws_on_handshake(void *owner, struct conn *c)
{
	/* TLS was established before the upgrade. */
	(void)owner;
	(void)c;
}

static void ws_on_tick(void *owner, struct conn *c, uint64_t now)
{
	(void)c;
	struct ws_conn *ws = owner;
	if (ws->closing)
		return;
	unsigned limit_s = ws_cfg(ws)->http.body_timeout;
	if (ws->message_since_ms && now - ws->message_since_ms > (uint64_t)limit_s * 1000) {
		char why[160];
		snprintf(why, sizeof(why), "a message in fragments not complete within %u s (http.body_timeout)",
			 limit_s);
		ws_close(ws, WSLAY_CODE_POLICY_VIOLATION, why);
		return;
	}
	if (ws->stream)
		c2s_stream_tick(ws->stream, now);
}

static void ws_on_close(void *owner, struct conn *c, const char *reason)
{
	(void)c;
	struct ws_conn *ws = owner;
	if (ws->stream)
		c2s_stream_closed(ws->stream, reason);
	ws->stream = NULL;
	ws_conn_free(ws);
}

const struct conn_handler ws_conn_handler = {
	.on_read = ws_on_read,
	.on_handshake = ws_on_handshake,
	.on_tick = ws_on_tick,
	.on_close = ws_on_close,
};

/* ---- life ---- */

struct ws_conn *ws_conn_new(void)
{
	struct ws_conn *ws = xcalloc(1, sizeof(*ws));
	if (wslay_event_context_server_init(&ws->ctx, &ws_callbacks, ws) != 0)
		log_fatal("ws", "out of memory");
	return ws;
}

void ws_conn_free(struct ws_conn *ws)
{
	if (!ws)
		return;
	wslay_event_context_free(ws->ctx);
	free(ws);
}

void ws_conn_start(struct ws_conn *ws, struct shard *sh, struct conn *c, unsigned adopt_flags, const char *rest,
		   size_t rest_len)
{
	ws->c = c;
	ws->stream = c2s_stream_adopt(sh, c, &ws_framing, ws, adopt_flags);
	ws_input(ws, rest, rest_len);
}
