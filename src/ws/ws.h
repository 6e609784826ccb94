/*
 * ws: XMPP over WebSocket (RFC 7395) on the public web listener.  A GET
 * with the WebSocket handshake and the `xmpp` subprotocol at
 * http.websocket_path takes its HTTPS connection over (http_upgrade); the
 * connection then carries a client stream that is c2s's own code over a
 * framing of this module (c2s_stream_adopt, c2s.h): each text message is
 * one XML element, the stream header is <open/> and its end <close/>.
 * Frames, masking, fragments, control frames and UTF-8 are Debian's
 * libwslay's; this module maps them to the stream and back, with the
 * stream's limits on messages.
 *
 * It is not a general WebSocket server: one subprotocol, no extensions
 * (permessage-deflate is not negotiated), text messages only.
 */
#ifndef PARLEY_WS_WS_H
#define PARLEY_WS_WS_H

struct http_route_table;

/* GET http.websocket_path on the web listener (HTTP_ROUTE_UPGRADE,
 * public: XMPP authenticates inside the stream).  http/routes.c lists it. */
extern const struct http_route_table ws_route_table;

#endif
