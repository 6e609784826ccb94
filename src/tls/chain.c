/* The peer's chain for people (chain.h). */
#include "tls/chain.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "tls/cert.h"
#include "tls/internal.h"
#include "tls/tls.h"

static void append(char *buf, size_t n, const char *prefix, const char *s)
{
	size_t len = strlen(buf);
	if (len + 1 >= n)
		return;
	snprintf(buf + len, n - len, "%s%s%s", len ? ", " : "", prefix, s);
}

static void describe(X509 *x, struct tls_chain_cert *c)
{
	memset(c, 0, sizeof(*c));
	tls_name_str(X509_get_subject_name(x), c->subject, sizeof(c->subject));
	tls_name_str(X509_get_issuer_name(x), c->issuer, sizeof(c->issuer));
	tls_time_str(X509_get0_notBefore(x), c->not_before, sizeof(c->not_before));
	tls_time_str(X509_get0_notAfter(x), c->not_after, sizeof(c->not_after));
	struct arena *a = arena_new();
	struct tls_cert_ids ids;
	if (tls_cert_ids_read(x, a, &ids) == 0) {
		for (size_t i = 0; i < ids.ndns_names; i++)
			append(c->names, sizeof(c->names), "DNS:", ids.dns_names[i]);
		for (size_t i = 0; i < ids.nxmpp_addrs; i++)
			append(c->names, sizeof(c->names), "xmppAddr:", ids.xmpp_addrs[i]);
		for (size_t i = 0; i < ids.nsrv_ids; i++)
			append(c->names, sizeof(c->names), "SRV:", ids.srv_ids[i]);
	}
	arena_free(a);
	uint32_t xku = X509_get_extended_key_usage(x);
	if (xku != UINT32_MAX) {
		if (xku & XKU_SSL_SERVER)
			append(c->eku, sizeof(c->eku), "", "serverAuth");
		if (xku & XKU_SSL_CLIENT)
			append(c->eku, sizeof(c->eku), "", "clientAuth");
		if (!c->eku[0])
			append(c->eku, sizeof(c->eku), "", "other");
	}
}

size_t tls_session_peer_chain(const struct tls_session *t, struct tls_chain_cert *out, size_t max)
{
	if (!t || !t->ssl || !max)
		return 0;
	X509 *leaf = SSL_get0_peer_certificate(t->ssl);
	if (!leaf)
		return 0;
	size_t n = 0;
	describe(leaf, &out[n++]);
	/* A client's view of the chain includes the leaf; a server's does not. */
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(t->ssl);
	for (int i = 0; chain && i < sk_X509_num(chain) && n < max; i++) {
		X509 *x = sk_X509_value(chain, i);
		if (X509_cmp(x, leaf) == 0)
			continue;
		describe(x, &out[n++]);
	}
	return n;
}
