/*
 * tls identity: the names a certificate gives its subject, read the way
 * XEP-0178 and RFC 6120 §13.7.1.4 ask: id-on-xmppAddr otherNames (which
 * must be UTF8String), dNSName and id-on-dnsSRV SANs, the subject's CNs,
 * and the SHA-256 digests pins are made of (of the certificate, and of its
 * public key: SPKI).
 *
 * This file reads, and says whether the names read name a given server
 * (RFC 6125 for XMPP: tls_cert_ids_name).  Whether a name may be used (is
 * the certificate trusted, does it match the account) is decided by
 * clientauth.c and the streams.  A name it cannot read unambiguously (an
 * embedded NUL that a C string would cut short, invalid UTF-8, the wrong
 * string type) is refused with a sentence rather than guessed at: some
 * servers have accepted "admin@example.org\0.evil.org" as admin.
 */
#include "tls/cert.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/arena.h"
#include "core/log.h"
#include "tls/internal.h"
#include "tls/names.h"

/* RFC 6120 §13.7.1.4 and RFC 4985. */
static const char ids_oid_xmppaddr[] = "1.3.6.1.5.5.7.8.5";
static const char ids_oid_dnssrv[] = "1.3.6.1.5.5.7.8.7";

/* A JID is at most 3071 bytes (RFC 7622 §3.1); a DNS name 253. */
enum { IDS_XMPPADDR_MAX = 3071, IDS_DNS_MAX = 253 };

struct ids_list {
	const char **items;
	size_t n;
};

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool ids_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static void ids_refuse(struct arena *a, struct tls_cert_ids *out, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void ids_refuse(struct arena *a, struct tls_cert_ids *out, size_t *cap, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (out->nrefused == *cap) {
		/* Rare (only broken certificates get here): grow by copying. */
		size_t ncap = *cap ? *cap * 2 : 4;
		const char **grown = arena_alloc(a, ncap * sizeof(*grown));
		if (out->nrefused)
			memcpy(grown, out->refused, out->nrefused * sizeof(*grown));
		out->refused = grown;
		*cap = ncap;
	}
	out->refused[out->nrefused++] = arena_strdup(a, line);
}

/* An IA5String name (dNSName, SRV-ID): printable ASCII without spaces. */
static bool ids_ascii_name_ok(const ASN1_STRING *s, size_t max, const char **why)
{
	const unsigned char *p = ASN1_STRING_get0_data(s);
	int len = ASN1_STRING_length(s);
	if (len <= 0) {
		*why = "is empty";
		return false;
	}
	if ((size_t)len > max) {
		*why = "is too long";
		return false;
	}
	if (memchr(p, '\0', (size_t)len)) {
		*why = "contains a NUL byte";
		return false;
	}
	for (int i = 0; i < len; i++) {
		if (p[i] <= 0x20 || p[i] >= 0x7f) {
			*why = "contains a character that is not printable ASCII";
			return false;
		}
	}
	return true;
}

static void ids_push(struct arena *a, struct ids_list *l, const void *p, size_t len)
{
	l->items[l->n++] = arena_strndup(a, p, len);
}

static void ids_other_name(struct arena *a, struct tls_cert_ids *out, size_t *rcap,
			   const OTHERNAME *on, struct ids_list *xmpp, struct ids_list *srv,
			   size_t *nx, size_t *ns)
{
	char oid[80];
	if (OBJ_obj2txt(oid, sizeof(oid), on->type_id, 1) <= 0)
		return;
	const ASN1_TYPE *v = on->value;
	if (strcmp(oid, ids_oid_xmppaddr) == 0) {
		size_t k = ++*nx;
		if (!v || v->type != V_ASN1_UTF8STRING) {
			ids_refuse(a, out, rcap, "xmppAddr #%zu is of type %s, not UTF8String", k,
				   v ? ASN1_tag2str(v->type) : "missing value");
			return;
		}
		const ASN1_STRING *s = v->value.utf8string;
		const unsigned char *p = ASN1_STRING_get0_data(s);
		int len = ASN1_STRING_length(s);
		if (len <= 0)
			ids_refuse(a, out, rcap, "xmppAddr #%zu is empty", k);
		else if ((size_t)len > IDS_XMPPADDR_MAX)
			ids_refuse(a, out, rcap, "xmppAddr #%zu is longer than a JID may be", k);
		else if (memchr(p, '\0', (size_t)len))
			ids_refuse(a, out, rcap, "xmppAddr #%zu contains a NUL byte", k);
		else if (!ids_utf8_valid(p, (size_t)len))
			ids_refuse(a, out, rcap, "xmppAddr #%zu is not valid UTF-8", k);
		else
			ids_push(a, xmpp, p, (size_t)len);
	} else if (strcmp(oid, ids_oid_dnssrv) == 0) {
		size_t k = ++*ns;
		const char *why = NULL;
		if (!v || v->type != V_ASN1_IA5STRING) {
			ids_refuse(a, out, rcap, "SRV-ID #%zu is of type %s, not IA5String", k,
				   v ? ASN1_tag2str(v->type) : "missing value");
			return;
		}
		const ASN1_STRING *s = v->value.ia5string;
		if (!ids_ascii_name_ok(s, IDS_DNS_MAX + 64, &why))
			ids_refuse(a, out, rcap, "SRV-ID #%zu %s", k, why);
		else if (ASN1_STRING_get0_data(s)[0] != '_')
			ids_refuse(a, out, rcap, "SRV-ID #%zu does not start with _service.", k);
		else
			ids_push(a, srv, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
	}
}

static void ids_read_sans(X509 *x, struct arena *a, struct tls_cert_ids *out, size_t *rcap)
{
	int crit = -1;
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (!gens) {
		/* -2: the extension appears more than once, which RFC 5280
		 * forbids; picking one would be a guess. */
		if (crit == -2)
			ids_refuse(a, out, rcap,
				   "the certificate has several subjectAltName extensions; none is used");
		else if (crit >= 0)
			ids_refuse(a, out, rcap, "the subjectAltName extension cannot be parsed");
		ERR_clear_error();
		return;
	}
	int n = sk_GENERAL_NAME_num(gens);
	struct ids_list xmpp = {arena_alloc(a, (size_t)n * sizeof(char *)), 0};
	struct ids_list dns = {arena_alloc(a, (size_t)n * sizeof(char *)), 0};
	struct ids_list srv = {arena_alloc(a, (size_t)n * sizeof(char *)), 0};
	size_t nx = 0, nd = 0, ns = 0;
	for (int i = 0; i < n; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		if (gn->type == GEN_DNS) {
			const char *why = NULL;
			nd++;
			if (ids_ascii_name_ok(gn->d.dNSName, IDS_DNS_MAX, &why))
				ids_push(a, &dns, ASN1_STRING_get0_data(gn->d.dNSName),
					 (size_t)ASN1_STRING_length(gn->d.dNSName));
			else
				ids_refuse(a, out, rcap, "dNSName #%zu %s", nd, why);
		} else if (gn->type == GEN_OTHERNAME) {
			ids_other_name(a, out, rcap, gn->d.otherName, &xmpp, &srv, &nx, &ns);
		}
	}
	GENERAL_NAMES_free(gens);
	out->xmpp_addrs = xmpp.n ? xmpp.items : NULL;
	out->nxmpp_addrs = xmpp.n;
	out->dns_names = dns.n ? dns.items : NULL;
	out->ndns_names = dns.n;
	out->srv_ids = srv.n ? srv.items : NULL;
	out->nsrv_ids = srv.n;
}

static void ids_read_cns(X509 *x, struct arena *a, struct tls_cert_ids *out, size_t *rcap)
{
	const X509_NAME *name = X509_get_subject_name(x);
	int total = X509_NAME_entry_count(name);
	if (total <= 0)
		return;
	struct ids_list cns = {arena_alloc(a, (size_t)total * sizeof(char *)), 0};
	size_t k = 0;
	for (int pos = -1; (pos = X509_NAME_get_index_by_NID(name, NID_commonName, pos)) >= 0;) {
		const ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, pos));
		unsigned char *utf8 = NULL;
		int len = ASN1_STRING_to_UTF8(&utf8, data);
		k++;
		if (len < 0) {
			ERR_clear_error();
			ids_refuse(a, out, rcap, "CN #%zu cannot be converted to UTF-8", k);
		} else if (len == 0) {
			ids_refuse(a, out, rcap, "CN #%zu is empty", k);
		} else if (memchr(utf8, '\0', (size_t)len)) {
			ids_refuse(a, out, rcap, "CN #%zu contains a NUL byte", k);
		} else if (!ids_utf8_valid(utf8, (size_t)len)) {
			ids_refuse(a, out, rcap, "CN #%zu is not valid UTF-8", k);
		} else {
			ids_push(a, &cns, utf8, (size_t)len);
		}
		OPENSSL_free(utf8);
	}
	out->cns = cns.n ? cns.items : NULL;
	out->ncns = cns.n;
}

static void sha256_hex(const unsigned char md[32], char out[TLS_FINGERPRINT_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	for (unsigned int i = 0; i < TLS_FINGERPRINT_HEX / 2; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[TLS_FINGERPRINT_HEX] = '\0';
}

void tls_cert_fingerprint(X509 *x, char out[TLS_FINGERPRINT_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n * 2 != TLS_FINGERPRINT_HEX)
		log_fatal("tls", "cannot compute a SHA-256 certificate fingerprint");
	sha256_hex(md, out);
}

void tls_cert_spki(X509 *x, char out[TLS_FINGERPRINT_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	unsigned char *der = NULL;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	if (len <= 0 || EVP_Digest(der, (size_t)len, md, &n, EVP_sha256(), NULL) != 1 ||
	    n * 2 != TLS_FINGERPRINT_HEX)
		log_fatal("tls", "cannot compute a SHA-256 SubjectPublicKeyInfo digest");
	OPENSSL_free(der);
	sha256_hex(md, out);
}

int tls_cert_ids_read(X509 *x, struct arena *a, struct tls_cert_ids *out)
{
	size_t rcap = 0;
	memset(out, 0, sizeof(*out));
	tls_cert_fingerprint(x, out->fingerprint);
	tls_cert_spki(x, out->spki);
	ids_read_sans(x, a, out, &rcap);
	ids_read_cns(x, a, out, &rcap);
	return 0;
}

/* ---- Matching a server's name ---- */

/* One set of rules for every caller: RFC 6125 as names.c implements it
 * (IDNA, wildcards, SRV-IDs, XmppAddrs, CN-IDs only where nothing else is
 * presented). */
bool tls_cert_ids_name(const struct tls_cert_ids *ids, const char *domain, const char *srv_service,
		       bool allow_cn)
{
	if (!ids || !domain)
		return false;
	const struct tls_presented_ids p = {
		.dns_ids = ids->dns_names,
		.ndns_ids = ids->ndns_names,
		.srv_ids = ids->srv_ids,
		.nsrv_ids = ids->nsrv_ids,
		.xmpp_addrs = ids->xmpp_addrs,
		.nxmpp_addrs = ids->nxmpp_addrs,
		.cn_ids = ids->cns,
		.ncn_ids = ids->ncns,
	};
	const struct tls_names_policy policy = {.srv_service = srv_service, .allow_cn = allow_cn};
	return tls_names_match(domain, &p, &policy, NULL) != TLS_ID_NO_MATCH;
}

bool tls_cert_is_ca(X509 *x)
{
	/* X509_check_ca also says yes to v1 roots and to certificates whose
	 * only sign of CA-ness is keyCertSign; a trust store should hold
	 * what declares itself a CA. */
	return (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
}

const char *tls_name_str(const X509_NAME *name, char *out, size_t n)
{
	out[0] = '\0';
	BIO *b = tls_must(BIO_new(BIO_s_mem()), "BIO_new");
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		char *p = NULL;
		long len = BIO_get_mem_data(b, &p);
		if (len > 0)
			snprintf(out, n, "%.*s", (int)len, p);
	}
	BIO_free(b);
	ERR_clear_error();
	if (!out[0])
		snprintf(out, n, "(empty subject)");
	return out;
}

const char *tls_time_str(const ASN1_TIME *t, char *out, size_t n)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
		ERR_clear_error();
		snprintf(out, n, "(invalid time)");
		return out;
	}
	snprintf(out, n, "%04d-%02d-%02d %02d:%02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return out;
}
