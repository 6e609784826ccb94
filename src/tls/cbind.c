/*
 * tls channel binding: the data SCRAM-PLUS binds an authentication to, so
 * a man in the middle who terminates TLS cannot relay the exchange.
 *
 *   tls-exporter          RFC 9266: an exporter value; TLS 1.3, or TLS 1.2
 *                         with the extended master secret (RFC 7627), since
 *                         without it two sessions can share the value.
 *   tls-server-end-point  RFC 5929 §4: a hash of our own certificate.
 *   tls-unique            RFC 5929 §3: the first Finished message; TLS 1.2
 *                         only (undefined for 1.3, RFC 8446 §C.5).
 *
 * Both roles compute the same bytes: the server end point is the server's
 * certificate (ours on a server session, the peer's on a client session),
 * and the first Finished is the client's on a full handshake.  Nothing in
 * this file negotiates which type a client uses (that is SASL's business).
 */
#include "tls/tls.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls/internal.h"

enum { CB_EXPORTER_LEN = 32 };

static const char cb_exporter_label[] = "EXPORTER-Channel-Binding";

/* RFC 5929 §4.1: the certificate's signature hash, except that MD5 and
 * SHA-1 are upgraded to SHA-256.  NULL when the signature uses no single
 * hash (Ed25519), where the binding is undefined. */
static const EVP_MD *cb_endpoint_md(X509 *x)
{
	int mdnid = NID_undef;
	if (!x || X509_get_signature_info(x, &mdnid, NULL, NULL, NULL) != 1) {
		ERR_clear_error();
		return NULL;
	}
	switch (mdnid) {
	case NID_undef:
		return NULL;
	case NID_md5:
	case NID_sha1:
		return EVP_sha256();
	default:
		return EVP_get_digestbynid(mdnid);
	}
}

static bool cb_exporter_ok(const struct tls_session *t)
{
	return SSL_version(t->ssl) == TLS1_3_VERSION || SSL_get_extms_support(t->ssl) == 1;
}

static int cb_exporter(struct tls_session *t, unsigned char *out, size_t *len)
{
	if (!cb_exporter_ok(t) || *len < CB_EXPORTER_LEN)
		return -1;
	if (SSL_export_keying_material(t->ssl, out, CB_EXPORTER_LEN, cb_exporter_label,
				       sizeof(cb_exporter_label) - 1, NULL, 0, 0) != 1) {
		ERR_clear_error();
		return -1;
	}
	*len = CB_EXPORTER_LEN;
	return 0;
}

/* The server's certificate.  On a server session, after SNI, it is the
 * selected host's: SSL_set_SSL_CTX swapped it in. */
static X509 *cb_server_cert(const struct tls_session *t)
{
	return t->client ? SSL_get0_peer_certificate(t->ssl) : SSL_get_certificate(t->ssl);
}

static int cb_endpoint(struct tls_session *t, unsigned char *out, size_t *len)
{
	X509 *x = cb_server_cert(t);
	const EVP_MD *md = cb_endpoint_md(x);
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!md || X509_digest(x, md, h, &n) != 1) {
		ERR_clear_error();
		return -1;
	}
	if (*len < n)
		return -1;
	memcpy(out, h, n);
	*len = n;
	return 0;
}

static int cb_unique(struct tls_session *t, unsigned char *out, size_t *len)
{
	if (SSL_version(t->ssl) != TLS1_2_VERSION)
		return -1;
	/* The first Finished on the wire: the client's on a full handshake,
	 * the server's on an abbreviated one (RFC 5929 §3.1). */
	unsigned char fin[EVP_MAX_MD_SIZE];
	bool ours = t->client == !SSL_session_reused(t->ssl);
	size_t n = ours ? SSL_get_finished(t->ssl, fin, sizeof(fin))
			: SSL_get_peer_finished(t->ssl, fin, sizeof(fin));
	if (n == 0 || n > sizeof(fin) || n > *len)
		return -1;
	memcpy(out, fin, n);
	*len = n;
	return 0;
}

int tls_session_channel_binding(struct tls_session *t, const char *type, unsigned char *out,
				size_t *len)
{
	if (!t || !type || !out || !len || !SSL_is_init_finished(t->ssl))
		return -1;
	if (strcmp(type, "tls-exporter") == 0)
		return cb_exporter(t, out, len);
	if (strcmp(type, "tls-server-end-point") == 0)
		return cb_endpoint(t, out, len);
	if (strcmp(type, "tls-unique") == 0)
		return cb_unique(t, out, len);
	return -1;
}

size_t tls_session_channel_binding_types(const struct tls_session *t, const char **types,
					 size_t max)
{
	size_t n = 0;
	if (!t || !SSL_is_init_finished(t->ssl))
		return 0;
	if (n < max && cb_exporter_ok(t))
		types[n++] = "tls-exporter";
	if (n < max && cb_endpoint_md(cb_server_cert(t)))
		types[n++] = "tls-server-end-point";
	if (n < max && SSL_version(t->ssl) == TLS1_2_VERSION)
		types[n++] = "tls-unique";
	return n;
}
