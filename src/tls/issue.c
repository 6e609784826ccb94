/*
 * tls issue: a small certificate authority: keys, CA certificates, client
 * and server certificates with the names XMPP reads (id-on-xmppAddr,
 * dNSName, id-on-dnsSRV), and CRLs.  `parleyctl cert` and the tests make
 * every certificate they need with it, so that the recipes the server's
 * checks expect exist once, in code.
 *
 * In memory only: X509 and EVP_PKEY in and out.  Where they are kept (a CA
 * directory, serial and revocation lists) is parleyctl's business; files.c
 * writes them.  Serials are 128 random bits, so no serial state is needed.
 */
#include "tls/cert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/log.h"
#include "tls/internal.h"

static const char issue_oid_xmppaddr[] = "1.3.6.1.5.5.7.8.5";
static const char issue_oid_dnssrv[] = "1.3.6.1.5.5.7.8.7";

enum {
	ISSUE_CN_MAX = 64,           /* ub-common-name, RFC 5280 */
	ISSUE_DNS_MAX = 253,
	ISSUE_JID_MAX = 3071,        /* RFC 7622 §3.1 */
	ISSUE_RSA_BITS = 3072,
	ISSUE_DAY = 86400,
};

/* An A-label DNS name (a leading "*." allowed for wildcards). */
static bool issue_dns_ok(const char *d)
{
	size_t n = strlen(d);
	if (n == 0 || n > ISSUE_DNS_MAX || d[0] == '.' || d[0] == '-' || d[n - 1] == '.')
		return false;
	if (d[0] == '*' && d[1] == '.')
		d += 2;
	for (; *d; d++) {
		unsigned char c = (unsigned char)*d;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

static bool issue_text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int issue_check_spec(const struct tls_cert_spec *spec, char **err)
{
	if ((unsigned)spec->kind > TLS_CERT_SERVER) {
		*err = tls_errorf("unknown certificate kind %d", (int)spec->kind);
		return -1;
	}
	if (spec->days == 0 || spec->days > TLS_CERT_DAYS_MAX) {
		*err = tls_errorf("validity of %u days: must be 1 to %d", spec->days, TLS_CERT_DAYS_MAX);
		return -1;
	}
	if (spec->cn && !issue_text_ok(spec->cn, ISSUE_CN_MAX)) {
		*err = tls_errorf("common name \"%s\": must be 1 to %d bytes without control characters",
				  spec->cn, ISSUE_CN_MAX);
		return -1;
	}
	for (size_t i = 0; i < spec->nxmpp_addrs; i++) {
		if (!issue_text_ok(spec->xmpp_addrs[i], ISSUE_JID_MAX)) {
			*err = tls_errorf("xmppAddr \"%s\" is not a JID", spec->xmpp_addrs[i]);
			return -1;
		}
	}
	for (size_t i = 0; i < spec->ndns_names; i++) {
		if (!issue_dns_ok(spec->dns_names[i])) {
			*err = tls_errorf("DNS name \"%s\" is not a DNS name (give IDNs in their "
					  "xn-- form)",
					  spec->dns_names[i]);
			return -1;
		}
	}
	for (size_t i = 0; i < spec->nsrv_ids; i++) {
		const char *s = spec->srv_ids[i];
		const char *dot = strchr(s, '.');
		if (s[0] != '_' || !dot || !issue_dns_ok(dot + 1)) {
			*err = tls_errorf("SRV-ID \"%s\" is not _service.domain", s);
			return -1;
		}
	}
	return 0;
}

static GENERAL_NAME *issue_other_name(const char *oid_text, int type, const char *value)
{
	GENERAL_NAME *gn = tls_must(GENERAL_NAME_new(), "GENERAL_NAME_new");
	ASN1_OBJECT *oid = tls_must(OBJ_txt2obj(oid_text, 1), "OBJ_txt2obj");
	ASN1_STRING *s = tls_must(ASN1_STRING_type_new(type), "ASN1_STRING_type_new");
	if (ASN1_STRING_set(s, value, -1) != 1)
		log_fatal("tls", "out of memory in ASN1_STRING_set");
	ASN1_TYPE *v = tls_must(ASN1_TYPE_new(), "ASN1_TYPE_new");
	ASN1_TYPE_set(v, type, s);
	if (GENERAL_NAME_set0_othername(gn, oid, v) != 1)
		log_fatal("tls", "out of memory in GENERAL_NAME_set0_othername");
	return gn;
}

static GENERAL_NAME *issue_dns_name(const char *name)
{
	GENERAL_NAME *gn = tls_must(GENERAL_NAME_new(), "GENERAL_NAME_new");
	ASN1_IA5STRING *s = tls_must(ASN1_IA5STRING_new(), "ASN1_IA5STRING_new");
	if (ASN1_STRING_set(s, name, -1) != 1)
		log_fatal("tls", "out of memory in ASN1_STRING_set");
	GENERAL_NAME_set0_value(gn, GEN_DNS, s);
	return gn;
}

static void issue_push(GENERAL_NAMES *gens, GENERAL_NAME *gn)
{
	if (!sk_GENERAL_NAME_push(gens, gn))
		log_fatal("tls", "out of memory in sk_GENERAL_NAME_push");
}

static void issue_add_sans(X509 *x, const struct tls_cert_spec *spec)
{
	if (spec->nxmpp_addrs + spec->ndns_names + spec->nsrv_ids == 0)
		return;
	GENERAL_NAMES *gens = tls_must(sk_GENERAL_NAME_new_null(), "sk_GENERAL_NAME_new_null");
	for (size_t i = 0; i < spec->ndns_names; i++)
		issue_push(gens, issue_dns_name(spec->dns_names[i]));
	for (size_t i = 0; i < spec->nsrv_ids; i++)
		issue_push(gens, issue_other_name(issue_oid_dnssrv, V_ASN1_IA5STRING, spec->srv_ids[i]));
	for (size_t i = 0; i < spec->nxmpp_addrs; i++)
		issue_push(gens,
			   issue_other_name(issue_oid_xmppaddr, V_ASN1_UTF8STRING, spec->xmpp_addrs[i]));
	/* Without a subject the SAN must be critical (RFC 5280 §4.2.1.6). */
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, spec->cn ? 0 : 1, X509V3_ADD_DEFAULT) != 1)
		log_fatal("tls", "cannot add the subjectAltName extension");
	GENERAL_NAMES_free(gens);
}

/* Extensions in OpenSSL's configuration syntax: its conversion code is
 * well tested, and ours would not be.  -1 when `value` is not valid (an
 * EKU name from the command line). */
static int issue_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
	if (!ext) {
		ERR_clear_error();
		return -1;
	}
	if (X509_add_ext(x, ext, -1) != 1)
		log_fatal("tls", "cannot add certificate extension %s", OBJ_nid2sn(nid));
	X509_EXTENSION_free(ext);
	return 0;
}

static void issue_serial(X509 *x)
{
	BIGNUM *bn = tls_must(BN_new(), "BN_new");
	do {
		if (BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1)
			log_fatal("tls", "the random generator failed");
	} while (BN_is_zero(bn));
	ASN1_INTEGER *serial = tls_must(BN_to_ASN1_INTEGER(bn, NULL), "BN_to_ASN1_INTEGER");
	if (X509_set_serialNumber(x, serial) != 1)
		log_fatal("tls", "cannot set the certificate serial");
	ASN1_INTEGER_free(serial);
	BN_free(bn);
}

static EVP_PKEY *issue_key(bool rsa, char **err)
{
	EVP_PKEY *key = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)ISSUE_RSA_BITS)
			    : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!key) {
		char tmp[160];
		struct tls_errs e;
		tls_errs_take(&e);
		*err = tls_errorf("cannot generate %s key: %s", rsa ? "an RSA 3072" : "an EC P-256",
				  tls_errs_text(&e, tmp, sizeof(tmp)));
	}
	return key;
}

int tls_cert_issue(const struct tls_cert_spec *spec, X509 *issuer, EVP_PKEY *issuer_key,
		   X509 **cert, EVP_PKEY **key, char **err)
{
	*err = NULL;
	*cert = NULL;
	*key = NULL;
	if (issue_check_spec(spec, err) < 0)
		return -1;
	if (issuer && !tls_cert_is_ca(issuer)) {
		*err = tls_errorf("the issuing certificate is not a CA certificate");
		return -1;
	}
	if (issuer && (!issuer_key || X509_check_private_key(issuer, issuer_key) != 1)) {
		ERR_clear_error();
		*err = tls_errorf("the issuing CA's key does not match its certificate");
		return -1;
	}
	EVP_PKEY *k = issue_key(spec->rsa, err);
	if (!k)
		return -1;
	X509 *x = tls_must(X509_new(), "X509_new");
	if (X509_set_version(x, X509_VERSION_3) != 1)
		log_fatal("tls", "cannot set the certificate version");
	issue_serial(x);

	/* An hour back covers peers whose clocks run a little behind. */
	long from = spec->expired ? -(long)(spec->days + 1) * ISSUE_DAY : -3600;
	long to = spec->expired ? -ISSUE_DAY : (long)spec->days * ISSUE_DAY;
	if (!X509_gmtime_adj(X509_getm_notBefore(x), from) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), to))
		log_fatal("tls", "cannot set the certificate validity");
	if (X509_set_pubkey(x, k) != 1)
		log_fatal("tls", "cannot set the certificate key");

	X509_NAME *subject = X509_get_subject_name(x);
	if (spec->cn && X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
						   (const unsigned char *)spec->cn, -1, -1, 0) != 1) {
		ERR_clear_error();
		*err = tls_errorf("common name \"%s\" is not valid UTF-8", spec->cn);
		goto free_cert;
	}
	if (X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) != 1)
		log_fatal("tls", "cannot set the certificate's issuer");

	X509 *signer = issuer ? issuer : x;
	const char *eku = spec->eku;
	if (spec->kind == TLS_CERT_CA) {
		issue_add_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE");
		issue_add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		issue_add_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE");
		/* keyEncipherment only matters for RSA key exchange, which a
		 * TLS 1.2 peer of an RSA server certificate may still use. */
		issue_add_ext(x, signer, NID_key_usage,
			      spec->rsa && spec->kind == TLS_CERT_SERVER
				      ? "critical,digitalSignature,keyEncipherment"
				      : "critical,digitalSignature");
		if (!eku)
			eku = spec->kind == TLS_CERT_CLIENT ? "clientAuth" : "serverAuth,clientAuth";
	}
	/* Never the first extension: libstrophe (0.12 to at least 0.14) looks
	 * for subjectAltName with X509_get_ext_by_NID(x, NID, 0), which starts
	 * after index 0, so it would see no xmppAddr in a certificate that
	 * opens with it, and could not choose its authzid for EXTERNAL. */
	issue_add_sans(x, spec);
	if (eku && *eku && issue_add_ext(x, signer, NID_ext_key_usage, eku) < 0) {
		*err = tls_errorf("extended key usage \"%s\": OpenSSL knows no such usage (try "
				  "clientAuth, serverAuth, emailProtection)",
				  eku);
		goto free_cert;
	}
	issue_add_ext(x, signer, NID_subject_key_identifier, "hash");
	/* Skipped when the issuer (a CA made elsewhere) has no key id. */
	if (issuer)
		(void)issue_add_ext(x, signer, NID_authority_key_identifier, "keyid:always");

	if (X509_sign(x, issuer ? issuer_key : k, EVP_sha256()) <= 0) {
		char tmp[160];
		struct tls_errs e;
		tls_errs_take(&e);
		*err = tls_errorf("cannot sign the certificate: %s", tls_errs_text(&e, tmp, sizeof(tmp)));
		goto free_cert;
	}
	*cert = x;
	*key = k;
	return 0;

free_cert:
	X509_free(x);
	EVP_PKEY_free(k);
	return -1;
}

X509_CRL *tls_crl_make(X509 *issuer, EVP_PKEY *issuer_key, const struct tls_crl_entry *entries,
		       size_t n, uint64_t number, unsigned days, char **err)
{
	*err = NULL;
	if (!tls_cert_is_ca(issuer) || X509_check_private_key(issuer, issuer_key) != 1) {
		ERR_clear_error();
		*err = tls_errorf("the CRL issuer is not a CA with its key");
		return NULL;
	}
	if (days == 0 || days > TLS_CERT_DAYS_MAX) {
		*err = tls_errorf("CRL validity of %u days: must be 1 to %d", days, TLS_CERT_DAYS_MAX);
		return NULL;
	}
	X509_CRL *crl = tls_must(X509_CRL_new(), "X509_CRL_new");
	ASN1_TIME *t = tls_must(ASN1_TIME_new(), "ASN1_TIME_new");
	ASN1_INTEGER *num = NULL;
	if (X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) != 1 ||
	    !X509_gmtime_adj(t, 0) || X509_CRL_set1_lastUpdate(crl, t) != 1 ||
	    !X509_gmtime_adj(t, (long)days * ISSUE_DAY) || X509_CRL_set1_nextUpdate(crl, t) != 1)
		log_fatal("tls", "cannot set up a CRL");

	for (size_t i = 0; i < n; i++) {
		BIGNUM *bn = NULL;
		const char *hex = entries[i].serial_hex;
		if (!hex || !*hex || strspn(hex, "0123456789abcdefABCDEF") != strlen(hex) ||
		    strlen(hex) > 64 || BN_hex2bn(&bn, hex) == 0) {
			*err = tls_errorf("revoked serial \"%s\" is not hexadecimal", hex ? hex : "");
			BN_free(bn);
			goto free_crl;
		}
		X509_REVOKED *r = tls_must(X509_REVOKED_new(), "X509_REVOKED_new");
		ASN1_INTEGER *serial = tls_must(BN_to_ASN1_INTEGER(bn, NULL), "BN_to_ASN1_INTEGER");
		BN_free(bn);
		if (!ASN1_TIME_set(t, (time_t)entries[i].revoked_at) ||
		    X509_REVOKED_set_serialNumber(r, serial) != 1 ||
		    X509_REVOKED_set_revocationDate(r, t) != 1 || X509_CRL_add0_revoked(crl, r) != 1)
			log_fatal("tls", "cannot add a revoked certificate to the CRL");
		ASN1_INTEGER_free(serial);
	}
	X509_CRL_sort(crl);

	num = tls_must(ASN1_INTEGER_new(), "ASN1_INTEGER_new");
	if (ASN1_INTEGER_set_uint64(num, number) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1)
		log_fatal("tls", "cannot add the CRL number");
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer, NULL, NULL, crl, 0);
	/* Optional (RFC 5280 §5.2.1 wants it; a CA made elsewhere without a
	 * subject key identifier cannot give one). */
	X509_EXTENSION *aki =
		X509V3_EXT_nconf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always");
	if (aki && X509_CRL_add_ext(crl, aki, -1) != 1)
		log_fatal("tls", "cannot add the CRL's authority key identifier");
	X509_EXTENSION_free(aki);
	ERR_clear_error();

	if (X509_CRL_sign(crl, issuer_key, EVP_sha256()) <= 0) {
		char tmp[160];
		struct tls_errs e;
		tls_errs_take(&e);
		*err = tls_errorf("cannot sign the CRL: %s", tls_errs_text(&e, tmp, sizeof(tmp)));
		goto free_crl;
	}
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	return crl;

free_crl:
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return NULL;
}
