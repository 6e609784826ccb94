/*
 * tls certificate generation: a fresh EC P-256 key and a self-signed
 * certificate for `parleyctl init` and for tests, so a new server speaks TLS
 * (and s2s dialback over TLS) before the operator has a CA-issued one.
 *
 * The certificate names each domain twice, as a DNS-ID and as an XmppAddr
 * (RFC 6120 §13.7.1.4), which is what peers match against.  This is not a
 * CA: no signing requests, no chains, no renewal.
 */
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "tls/internal.h"

/* id-on-xmppAddr, RFC 6120 §13.7.1.4. */
static const char certgen_xmppaddr_oid[] = "1.3.6.1.5.5.7.8.5";

enum {
	CERTGEN_DAYS_MAX = 36500,
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

static GENERAL_NAME *certgen_dns_name(const char *domain)
{
	GENERAL_NAME *gn = tls_must(GENERAL_NAME_new(), "GENERAL_NAME_new");
	ASN1_IA5STRING *s = tls_must(ASN1_IA5STRING_new(), "ASN1_IA5STRING_new");
	if (ASN1_STRING_set(s, domain, -1) != 1)
		log_fatal("tls", "out of memory in ASN1_STRING_set");
	GENERAL_NAME_set0_value(gn, GEN_DNS, s);
	return gn;
}

static GENERAL_NAME *certgen_xmppaddr(const char *domain)
{
	GENERAL_NAME *gn = tls_must(GENERAL_NAME_new(), "GENERAL_NAME_new");
	ASN1_OBJECT *oid = tls_must(OBJ_txt2obj(certgen_xmppaddr_oid, 1), "OBJ_txt2obj");
	ASN1_UTF8STRING *s = tls_must(ASN1_UTF8STRING_new(), "ASN1_UTF8STRING_new");
	if (ASN1_STRING_set(s, domain, -1) != 1)
		log_fatal("tls", "out of memory in ASN1_STRING_set");
	ASN1_TYPE *v = tls_must(ASN1_TYPE_new(), "ASN1_TYPE_new");
	ASN1_TYPE_set(v, V_ASN1_UTF8STRING, s);
	if (GENERAL_NAME_set0_othername(gn, oid, v) != 1)
		log_fatal("tls", "out of memory in GENERAL_NAME_set0_othername");
	return gn;
}

/* Extensions written as OpenSSL's config strings: the conversion code is
 * OpenSSL's and well tested; ours would not be. */
static void certgen_add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
	if (!ext || X509_add_ext(x, ext, -1) != 1)
		log_fatal("tls", "cannot add certificate extension %s=%s", OBJ_nid2sn(nid), value);
	X509_EXTENSION_free(ext);
}

static void certgen_add_names(X509 *x, const char *const *domains, size_t ndomains)
{
	X509_NAME *subject = X509_get_subject_name(x);
	bool has_cn = strlen(domains[0]) <= CERTGEN_CN_MAX;
	if (has_cn &&
	    X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
				       (const unsigned char *)domains[0], -1, -1, 0) != 1)
		log_fatal("tls", "cannot set the certificate's common name");
	if (X509_set_issuer_name(x, subject) != 1)
		log_fatal("tls", "cannot set the certificate's issuer");

	GENERAL_NAMES *gens = tls_must(sk_GENERAL_NAME_new_null(), "sk_GENERAL_NAME_new_null");
	for (size_t i = 0; i < ndomains; i++) {
		if (!sk_GENERAL_NAME_push(gens, certgen_dns_name(domains[i])) ||
		    !sk_GENERAL_NAME_push(gens, certgen_xmppaddr(domains[i])))
			log_fatal("tls", "out of memory in sk_GENERAL_NAME_push");
	}
	/* An empty subject makes the SAN critical (RFC 5280 §4.2.1.6). */
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, has_cn ? 0 : 1, X509V3_ADD_DEFAULT) != 1)
		log_fatal("tls", "cannot add the subjectAltName extension");
	GENERAL_NAMES_free(gens);
}

static X509 *certgen_x509(EVP_PKEY *key, const char *const *domains, size_t ndomains,
			  unsigned days)
{
	X509 *x = tls_must(X509_new(), "X509_new");
	if (X509_set_version(x, X509_VERSION_3) != 1)
		log_fatal("tls", "cannot set the certificate version");

	/* 128 random bits: unique without a serial database, and positive as
	 * RFC 5280 §4.1.2.2 asks. */
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

	/* An hour back covers peers whose clocks run a little behind. */
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL))
		log_fatal("tls", "cannot set the certificate validity");
	if (X509_set_pubkey(x, key) != 1)
		log_fatal("tls", "cannot set the certificate key");

	certgen_add_names(x, domains, ndomains);
	certgen_add_ext(x, NID_basic_constraints, "critical,CA:FALSE");
	certgen_add_ext(x, NID_key_usage, "critical,digitalSignature,keyAgreement");
	certgen_add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth");
	certgen_add_ext(x, NID_subject_key_identifier, "hash");

	if (X509_sign(x, key, EVP_sha256()) <= 0)
		log_fatal("tls", "cannot sign the certificate");
	return x;
}

/* A file written beside its final name, then renamed over it: readers
 * never see half a file, and the key's mode is 0600 from its first byte
 * (mkstemp creates 0600; fchmod then sets exactly `mode`, whatever umask
 * says).  Returns the temporary name for certgen_commit(), NULL with *err. */
static char *certgen_stage(const char *path, const char *what, mode_t mode, X509 *x,
			   EVP_PKEY *key, char **err)
{
	char tmp[128];
	size_t n = strlen(path);
	char *name = xmalloc(n + 8);
	memcpy(name, path, n);
	memcpy(name + n, ".XXXXXX", 8);

	int fd = mkostemp(name, O_CLOEXEC);
	if (fd < 0) {
		*err = certgen_errorf("%s file %s: cannot create: %s", what, path,
				      strerror_r(errno, tmp, sizeof(tmp)));
		goto free_name;
	}
	if (fchmod(fd, mode) != 0) {
		*err = certgen_errorf("%s file %s: chmod: %s", what, path,
				      strerror_r(errno, tmp, sizeof(tmp)));
		goto close_fd;
	}
	BIO *bio = tls_must(BIO_new_fd(fd, BIO_NOCLOSE), "BIO_new_fd");
	int ok = x ? PEM_write_bio_X509(bio, x)
		   : PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	if (ok == 1 && BIO_flush(bio) != 1)
		ok = 0;
	BIO_free(bio);
	if (ok != 1) {
		ERR_clear_error();
		*err = certgen_errorf("%s file %s: write failed", what, path);
		goto close_fd;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		*err = certgen_errorf("%s file %s: write failed: %s", what, path,
				      strerror_r(errno, tmp, sizeof(tmp)));
		goto unlink_name;
	}
	return name;

close_fd:
	close(fd);
unlink_name:
	unlink(name);
free_name:
	free(name);
	return NULL;
}

/* Renames the staged file into place; on success *tmp_name is freed and
 * cleared, on failure it stays for certgen_discard(). */
static int certgen_commit(char **tmp_name, const char *path, const char *what, char **err)
{
	char tmp[128];
	if (rename(*tmp_name, path) != 0) {
		*err = certgen_errorf("%s file %s: cannot replace: %s", what, path,
				      strerror_r(errno, tmp, sizeof(tmp)));
		return -1;
	}
	free(*tmp_name);
	*tmp_name = NULL;
	return 0;
}

static void certgen_discard(char *tmp_name)
{
	if (!tmp_name)
		return;
	unlink(tmp_name);
	free(tmp_name);
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
	if (days == 0 || days > CERTGEN_DAYS_MAX) {
		*err = certgen_errorf("validity of %u days: must be 1 to %d", days,
				      CERTGEN_DAYS_MAX);
		return -1;
	}

	int rc = -1;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!key) {
		char tmp[160];
		struct tls_errs e;
		tls_errs_take(&e);
		*err = certgen_errorf("cannot generate an EC P-256 key: %s",
				      tls_errs_text(&e, tmp, sizeof(tmp)));
		return -1;
	}
	X509 *x = certgen_x509(key, domains, ndomains, days);

	char *cert_tmp = NULL;
	char *key_tmp = certgen_stage(key_path, "key", 0600, NULL, key, err);
	if (!key_tmp)
		goto discard_staged;
	cert_tmp = certgen_stage(cert_path, "certificate", 0644, x, NULL, err);
	if (!cert_tmp)
		goto discard_staged;
	/* Key first: if the second rename fails, the old certificate is left
	 * with a new key, which tls_server_new reports as a mismatch rather
	 * than serving something half-made. */
	if (certgen_commit(&key_tmp, key_path, "key", err) != 0 ||
	    certgen_commit(&cert_tmp, cert_path, "certificate", err) != 0)
		goto discard_staged;
	rc = 0;

discard_staged:
	certgen_discard(cert_tmp);
	certgen_discard(key_tmp);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}
