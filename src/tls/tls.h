/*
 * tls: everything OpenSSL.  Server contexts with one certificate per virtual
 * host chosen by SNI, ALPN, TLS 1.2 and 1.3 only, no renegotiation and no
 * compression; the TLS transport that plugs into core/conn.h; facts about an
 * established session (version, cipher, SNI, ALPN); channel-binding data for
 * SCRAM-PLUS; and certificate generation for `parleyctl init`.
 *
 * A `struct tls_server` is immutable once made and shared by all workers
 * (an SSL_CTX may be used from several threads).  A session belongs to the
 * connection that owns it and moves with it between workers.
 *
 * Memory: an idle session keeps as little as OpenSSL allows
 * (SSL_MODE_RELEASE_BUFFERS, no BIO pairs: the SSL reads the socket
 * directly, no server-side session cache: resumption uses tickets).
 */
#ifndef PARLEY_TLS_TLS_H
#define PARLEY_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/conn.h"

/* ---- Server contexts ---- */

struct tls_host {
	const char *domain;    /* virtual host, matched against SNI */
	const char *cert_file; /* PEM: leaf first, then its chain */
	const char *key_file;  /* PEM private key */
};

struct tls_server_config {
	const struct tls_host *hosts; /* hosts[0] serves clients without SNI */
	size_t nhosts;
	const char *ciphers;          /* TLS 1.2 cipher list; NULL: a modern default */
	const char *ciphersuites;     /* TLS 1.3; NULL: OpenSSL's default */
	bool tls13_only;              /* refuse TLS 1.2 */
};

struct tls_server;

/* Loads every host's key and certificate (checking that they match).  NULL
 * on failure with *err (heap string) naming the file and the reason. */
struct tls_server *tls_server_new(const struct tls_server_config *cfg, char **err);
void tls_server_free(struct tls_server *srv);

/* ---- Sessions (the conn transport) ---- */

extern const struct conn_transport_ops tls_transport_ops;

/*
 * A server-side session for conn_set_transport(c, &tls_transport_ops, t).
 * `alpn` lists the protocols this entry point accepts, in preference order
 * (NULL/0: ALPN is ignored).  A client that offers ALPN but none of these
 * gets the no_application_protocol alert (RFC 7301 §3.2); a client that
 * offers none is accepted.
 */
void *tls_session_new_server(struct tls_server *srv, const char *const *alpn, size_t nalpn);

/* Facts, valid after the handshake ("TLSv1.3", "TLS_AES_256_GCM_SHA384",
 * the SNI name or NULL, the chosen ALPN protocol or NULL). */
const char *tls_session_version(const void *t);
const char *tls_session_cipher(const void *t);
const char *tls_session_sni(const void *t);
const char *tls_session_alpn(const void *t);
bool tls_session_is_tls13(const void *t);

/* Channel binding data (RFC 5929, RFC 9266) for SCRAM-PLUS; the signature
 * of sasl_cb_fn: 0 and the data, or -1 when `type` is unknown or not
 * available on this session (tls-unique on TLS 1.3). */
int tls_session_channel_binding(void *t, const char *type, unsigned char *out, size_t *len);
/* The binding types this session can provide, best first, for XEP-0440. */
size_t tls_session_channel_binding_types(const void *t, const char **types, size_t max);

/* ---- Certificates ---- */

/* Writes a new EC P-256 key and a self-signed certificate (SANs: the DNS
 * names and xmppAddr of each domain, valid `days`) as PEM, the key with
 * mode 0600.  -1 with *err on failure. */
int tls_cert_make_selfsigned(const char *const *domains, size_t ndomains, unsigned days,
			     const char *cert_path, const char *key_path, char **err);

#endif
