/*
 * mux: one direct-TLS port for every kind of stream (issue 12), so that a
 * network that lets only 443 through still reaches clients, servers and
 * the web transports without a second address or DNAT rules.  Each
 * connection is handed, once TLS is established, to the kind its ALPN
 * protocol names: xmpp-client to c2s, xmpp-server to s2s, http/1.1 to the
 * HTTP server (WebSocket, BOSH, the admin page).  A client that offers no
 * ALPN is judged by its first bytes (mux/sniff.c).  The kind that takes a
 * connection over runs exactly as on its own port.
 *
 * Client certificates: ALPN picks the trust store before the server asks
 * for a certificate (the client store for xmpp-client and http/1.1, the
 * s2s store for xmpp-server).  Without ALPN the client store asks; a
 * server peer on this port should offer ALPN (XEP-0368 says it does).
 */
#ifndef PARLEY_MUX_MUX_H
#define PARLEY_MUX_MUX_H

struct service_ops;

/* mux.listen, mux.port: registered in the server's table of services. */
extern const struct service_ops mux_service;

#endif
