/* ws internals shared by handshake.c, conn.c and frame.c. */
#ifndef PARLEY_WS_INTERNAL_H
#define PARLEY_WS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wslay/wslay.h>

#include "core/slice.h"

struct buf;
struct c2s_stream;
struct conn;
struct shard;

/* ---- the handshake (handshake.c), pure parts ---- */

enum { WS_ACCEPT_LEN = 28 }; /* base64 of a SHA-1 */

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2): false
 * when the key is not base64 of 16 bytes. */
bool ws_accept_key(struct slice key, char out[WS_ACCEPT_LEN + 1]);
/* Whether a comma-separated header value lists `token` (ASCII
 * case-insensitive when `nocase`: Connection, Upgrade; not for
 * subprotocols). */
bool ws_token_listed(struct slice value, const char *token, bool nocase);

/* ---- messages we write (frame.c), pure ---- */

/*
 * RFC 7395 §3.3.3: every message stands alone, so an element written for
 * a stream whose default namespace is `content_ns` (and whose root
 * declares the stream: prefix) must declare what it uses.  Given the
 * element's start (at least its start tag up to its attributes), says
 * where to insert what: *at, the offset just after the element's name,
 * and `decl` (appended), " xmlns='jabber:client'" for an unprefixed
 * element without a default namespace declaration, or
 * " xmlns:stream='http://etherx.jabber.org/streams'" for stream:features
 * and stream:error.  False when nothing is needed (or the bytes are no
 * start tag we know).
 */
bool ws_frame_ns_fix(const char *p, size_t len, const char *content_ns, size_t *at, struct buf *decl);

/* ---- one WebSocket connection (conn.c) ---- */

/*
 * Owner: its conn (the conn handler's owner since http_upgrade), freed in
 * its on_close after the stream inside.  Nothing in it belongs to a
 * worker: the stream moves to the worker that owns its account with the
 * conn (c2s.h), and this with it.
 */
struct ws_conn {
	struct conn *c;
	struct c2s_stream *stream; /* NULL once it was closed */
	wslay_event_context_ptr ctx;
	const char *in;            /* the read being decoded (recv callback) */
	size_t in_len;
	uint64_t message_since_ms; /* first frame of an unfinished message; 0: none */
	bool closing;              /* our close frame is queued: nothing more goes out or in */
	bool proto_error;          /* wslay's frame layer refused a frame */
};

/* A connection taken over by the handshake: `rest` is what followed the
 * request.  Starts the stream (c2s_stream_adopt); may end at once. */
void ws_conn_start(struct ws_conn *ws, struct shard *sh, struct conn *c, unsigned adopt_flags, const char *rest,
		   size_t rest_len);
struct ws_conn *ws_conn_new(void);
void ws_conn_free(struct ws_conn *ws);
extern const struct conn_handler ws_conn_handler;

#endif
