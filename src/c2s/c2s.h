/*
 * c2s: client-to-server streams (RFC 6120): listeners on the STARTTLS and
 * direct-TLS ports, stream negotiation, STARTTLS, SASL, resource binding,
 * and the session a bound stream becomes; and the same streams over the
 * framings of web transports (WebSocket, BOSH), started on a connection
 * another module accepted (c2s_stream_adopt).  Stanzas from a bound session go
 * to the router; what they mean is im/'s business.
 */
#ifndef PARLEY_C2S_C2S_H
#define PARLEY_C2S_C2S_H

#include <stddef.h>
#include <stdint.h>

struct shard;
struct service_ops;

/* c2s as a service of the server (router/service.h): listen is
 * c2s_listen, stop is c2s_shutdown (c2s/service.c). */
extern const struct service_ops c2s_service;

/* Opens this worker's listeners for every c2s address and port (each
 * worker binds its own socket, SO_REUSEPORT).  -1 with *err (heap). */
int c2s_listen(struct shard *sh, char **err);
/* Stops listening and ends every stream of this worker with
 * <system-shutdown/>. */
void c2s_shutdown(struct shard *sh);
/* The client ports: STARTTLS (c2s.port) and direct TLS (c2s.tls_port). */
struct config;
struct listener_port;
void c2s_ports(const struct config *cfg, struct listener_port *ports);
/* Adds this worker's client connections, by kind, to a scrape's sample
 * (core/metrics.h).  On the worker's thread. */
struct metrics_sample;
void c2s_metrics(struct shard *sh, struct metrics_sample *out);

/*
 * ---- Client streams over another framing (WebSocket; BOSH next) ----
 *
 * A web transport accepts and upgrades its connection itself (http/), and
 * then hands the XML to a client stream that is the same c2s code as over
 * TCP: the same routes, SASL rules (EXTERNAL with the TLS session's client
 * certificate included), limits, timeouts, move to the owner worker after
 * SASL, binding and routing.  Only the framing differs, in both directions:
 *
 *  - out: how our stream header, elements and end are written
 *    (stream/stream.h, struct xs_output_ops; its ops find the transport's
 *    state in xs->out_ctx, the `ctx` given here).  With out->framed the
 *    peer's stream header is an <open/> element and its end <close/>
 *    (urn:ietf:params:xml:ns:xmpp-framing), and each message the
 *    transport feeds holds whole elements.  Elements we write are whole
 *    top-level elements serialised for a stream whose default namespace is
 *    jabber:client (and whose root declares the stream: prefix): a framing
 *    whose messages stand alone (RFC 7395 §3.3.3) declares on each what it
 *    uses.
 *  - transport: its name for log lines and the operators' session list
 *    (router/session.h session_info.transport): "websocket", "bosh".
 *
 * STARTTLS is neither offered nor accepted on such a stream: TLS belongs
 * to the transport (https/wss).  A stream on a conn without TLS gets SASL
 * only where c2s.require_tls allows it, as over TCP.
 *
 * Ownership: the transport stays the conn's handler (conn_set_handler) and
 * forwards what the stream needs: input (c2s_stream_feed), the 1 s tick
 * (c2s_stream_tick) and the conn's on_close (c2s_stream_closed, which ends
 * or frees the stream: never use it afterwards).  The stream moves to the
 * worker that owns the account after SASL with conn_detach/conn_attach:
 * the conn keeps its handler and owner, so the transport's state moves
 * with it and must hold nothing of the first worker's.  Between the detach
 * and the attach, input fed in the same read waits in the stream.
 */
struct c2s_stream;
struct conn;
struct xs_output_ops;

/* A connection a port shared by several kinds of stream accepted (mux/):
 * TLS is established and ALPN said xmpp-client, or the first bytes were a
 * client stream header; `data` is what it read after the handshake.  A
 * direct-TLS client stream takes the conn over (handler and owner). */
void c2s_adopt_tls(struct shard *sh, struct conn *c, const char *data, size_t len);

struct c2s_framing {
	const struct xs_output_ops *out;
	const char *transport;
};

enum {
	/* The transport cannot vouch for its client's TLS certificate being
	 * meant for this use (a browser presents one on any page's behalf:
	 * an origin allowed by "*" in http.allowed_origins): SASL EXTERNAL is
	 * not offered. */
	C2S_ADOPT_NO_EXTERNAL = 1u << 0,
	/* The TLS session the stream sees is not its client's own for the
	 * whole stream (BOSH: each request may come on another HTTPS
	 * connection): SCRAM -PLUS and XEP-0440 are not offered, since a
	 * binding to one connection would mean nothing. */
	C2S_ADOPT_NO_CHANNEL_BINDING = 1u << 1,
};

/*
 * Starts a client stream on `c`, an accepted connection of this worker
 * whose TLS (if any) is established, framed by `f` (static: it is kept).
 * The stream waits for the client's header; the client certificate is
 * judged as after a TCP stream's TLS handshake (c2s.client_certs,
 * disconnect_on_failure: the stream may end at once).  Never NULL.
 */
struct c2s_stream *c2s_stream_adopt(struct shard *sh, struct conn *c, const struct c2s_framing *f, void *ctx,
				    unsigned flags);
/* Bytes of the XML stream: for a framed stream one message (whole
 * elements, xs_input_message), else any part of the byte stream. */
void c2s_stream_feed(struct c2s_stream *s, const char *xml, size_t len);
/* The largest element the stream takes now: limits.stanza_bytes_preauth
 * before SASL, limits.stanza_bytes after.  A framing that buffers whole
 * messages bounds them by it before it buffers them. */
size_t c2s_stream_stanza_limit(const struct c2s_stream *s);
/* The conn's tick: the stream's timeouts and keepalive (limits.*). */
void c2s_stream_tick(struct c2s_stream *s, uint64_t now_ms);
/* The conn's on_close: ends the session and frees the stream (or leaves
 * that to a password check still running). */
void c2s_stream_closed(struct c2s_stream *s, const char *reason);

#endif
