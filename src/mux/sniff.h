/*
 * sniff: which kind of stream a connection to a shared port carries, from
 * the first bytes it sent after TLS, for clients that offered no ALPN
 * (mux/service.c).  Pure: bytes in, a verdict out.
 */
#ifndef PARLEY_MUX_SNIFF_H
#define PARLEY_MUX_SNIFF_H

#include <stddef.h>

enum mux_kind {
	MUX_MORE,    /* not enough bytes to say yet */
	MUX_CLIENT,  /* an XMPP stream in jabber:client (or naming neither) */
	MUX_SERVER,  /* an XMPP stream in jabber:server */
	MUX_HTTP,    /* an HTTP/1.x request line */
	MUX_UNKNOWN, /* none of these */
	MUX_KIND_COUNT
};

/* "more", "client", "server", "http", "unknown". */
const char *mux_kind_name(enum mux_kind k);

/* The verdict on the first `len` bytes.  MUX_MORE asks for more; a caller
 * that has MUX_SNIFF_MAX bytes and still hears MUX_MORE gives up. */
enum { MUX_SNIFF_MAX = 4096 };
enum mux_kind mux_sniff(const char *data, size_t len);

#endif
