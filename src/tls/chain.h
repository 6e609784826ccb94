/*
 * chain: the peer's certificate chain as facts for people (federation
 * reports, `parleyctl s2s report`): each certificate's subject, issuer,
 * validity, names and extended key usage, leaf first, as the peer sent it.
 */
#ifndef PARLEY_TLS_CHAIN_H
#define PARLEY_TLS_CHAIN_H

#include <stddef.h>

struct tls_session;

enum { TLS_CHAIN_MAX = 6 };

struct tls_chain_cert {
	char subject[256];
	char issuer[256];
	char not_before[32]; /* "2026-12-04 12:00:00 UTC" */
	char not_after[32];
	char names[512];     /* "DNS:b.example, xmppAddr:b.example, SRV:_xmpp-server.b.example" */
	char eku[96];        /* "serverAuth, clientAuth", "" when none */
};

/* The peer's chain, leaf first, into out[0..max); how many.  0 without a
 * session or a certificate. */
size_t tls_session_peer_chain(const struct tls_session *t, struct tls_chain_cert *out, size_t max);

#endif
