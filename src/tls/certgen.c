/*
 * tls certificate generation for `parleyctl init` and tests: a fresh EC
 * P-256 key and a self-signed certificate, so a new server speaks TLS
 * before the operator has a CA-issued one.
 *
 * The certificate names each domain twice, as a DNS-ID and as an XmppAddr
 * (RFC 6120 §13.7.1.4), which is what peers match against.  The work is
 * tls_cert_issue's (issue.c) and the files tls_file_write_pem's (files.c);
 * this file only checks the domains and writes the pair in a safe order.
 */
#include "tls/tls.h"

#include <stdarg.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/buf.h"
#include "tls/cert.h"

enum {
	CERTGEN_CN_MAX = 64, /* ub-common-name, RFC 5280 */
	CERTGEN_DOMAIN_MAX = 253,
};

static char *certgen_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *certgen_errorf(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_steal(&b);
}

/* A DNS-ID is an IA5String of LDH labels, so IDNs must come as A-labels
 * (xn--...); converting them is jid/'s job (libidn2), not this file's. */
static bool certgen_domain_ok(const char *d)
{
	size_t n = strlen(d);
	if (n == 0 || n > CERTGEN_DOMAIN_MAX || d[0] == '.' || d[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
		if (!ok)
			return false;
	}
	return true;
}

int tls_cert_make_selfsigned(const char *const *domains, size_t ndomains, unsigned days,
			     const char *cert_path, const char *key_path, char **err)
{
	*err = NULL;
	if (ndomains == 0) {
		*err = certgen_errorf("no domain given for the certificate");
		return -1;
	}
	for (size_t i = 0; i < ndomains; i++) {
		if (!certgen_domain_ok(domains[i])) {
			*err = certgen_errorf("domain \"%s\" is not a DNS name (give IDNs in their "
					      "xn-- form)",
					      domains[i]);
			return -1;
		}
	}
	if (strcmp(cert_path, key_path) == 0) {
		*err = certgen_errorf("certificate and key would both be written to %s", cert_path);
		return -1;
	}
	if (days == 0 || days > TLS_CERT_DAYS_MAX) {
		*err = certgen_errorf("validity of %u days: must be 1 to %d", days, TLS_CERT_DAYS_MAX);
		return -1;
	}
	const struct tls_cert_spec spec = {
		.kind = TLS_CERT_SERVER,
		/* A domain too long for a CN is named by the SAN alone. */
		.cn = strlen(domains[0]) <= CERTGEN_CN_MAX ? domains[0] : NULL,
		.xmpp_addrs = domains,
		.nxmpp_addrs = ndomains,
		.dns_names = domains,
		.ndns_names = ndomains,
		.days = days,
	};
	X509 *x = NULL;
	EVP_PKEY *key = NULL;
	if (tls_cert_issue(&spec, NULL, NULL, &x, &key, err) < 0)
		return -1;
	/* Key first (mode 0600 from creation): if the certificate then fails,
	 * the old certificate is left with a new key, which tls_server_new
	 * reports as a mismatch rather than serving something half-made. */
	int rc = tls_file_write_pem(key_path, 0600, NULL, 0, key, NULL, true, err) == 0 &&
				 tls_file_write_pem(cert_path, 0644, &x, 1, NULL, NULL, true, err) == 0
			 ? 0
			 : -1;
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}
