/*
 * Unit tests of tls/identity.c, tls/issue.c and tls/files.c (issue 4): the
 * names Parley reads from a certificate (id-on-xmppAddr as UTF8String only,
 * dNSName, id-on-dnsSRV, CNs) and the ones it refuses (embedded NULs, the
 * wrong string type, invalid UTF-8, a doubled SAN extension); issuing CA,
 * client and server certificates and CRLs; PEM, DER and PKCS#12 files.
 *
 * Every certificate is made here, in memory: well-formed ones with
 * tls_cert_issue, malformed ones by adding raw names with OpenSSL calls and
 * signing again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include "core/arena.h"
#include "tls/cert.h"

static const char oid_xmppaddr[] = "1.3.6.1.5.5.7.8.5";
static const char oid_dnssrv[] = "1.3.6.1.5.5.7.8.7";

struct fixture {
	struct arena *a;
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->a = arena_new();
	snprintf(f->dir, sizeof(f->dir), "/tmp/parley-ids-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	arena_free(f->a);
	arena_cache_drain();
	free(f);
	return 0;
}

/* ---- Making certificates ---- */

struct made {
	X509 *x;
	EVP_PKEY *key;
};

static struct made issue(const struct tls_cert_spec *spec, const struct made *ca)
{
	struct made m = {0};
	char *err = NULL;
	if (tls_cert_issue(spec, ca ? ca->x : NULL, ca ? ca->key : NULL, &m.x, &m.key, &err) != 0)
		fail_msg("tls_cert_issue: %s", err);
	assert_null(err);
	return m;
}

static void made_free(struct made *m)
{
	X509_free(m->x);
	EVP_PKEY_free(m->key);
}

/* A self-signed client certificate with no names at all, to add raw ones. */
static struct made bare_cert(void)
{
	const struct tls_cert_spec spec = {.kind = TLS_CERT_CLIENT, .days = 1};
	return issue(&spec, NULL);
}

static GENERAL_NAME *raw_other(const char *oid, int type, const void *bytes, int len)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_STRING *s = ASN1_STRING_type_new(type);
	assert_int_equal(ASN1_STRING_set(s, bytes, len), 1);
	ASN1_TYPE *v = ASN1_TYPE_new();
	ASN1_TYPE_set(v, type, s);
	assert_int_equal(GENERAL_NAME_set0_othername(gn, OBJ_txt2obj(oid, 1), v), 1);
	return gn;
}

static GENERAL_NAME *raw_dns(const void *bytes, int len)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	assert_int_equal(ASN1_STRING_set(s, bytes, len), 1);
	GENERAL_NAME_set0_value(gn, GEN_DNS, s);
	return gn;
}

/* Adds one subjectAltName extension holding `n` names (taken), re-signs. */
static void add_sans(struct made *m, GENERAL_NAME **names, size_t n)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	for (size_t i = 0; i < n; i++)
		assert_true(sk_GENERAL_NAME_push(gens, names[i]) > 0);
	/* X509V3_ADD_APPEND: a second call adds a second extension. */
	assert_int_equal(X509_add1_ext_i2d(m->x, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND), 1);
	GENERAL_NAMES_free(gens);
	assert_true(X509_sign(m->x, m->key, EVP_sha256()) > 0);
}

static void add_cn(struct made *m, int type, const void *bytes, int len)
{
	X509_NAME *name = X509_get_subject_name(m->x);
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName, type, bytes, len, -1, 0), 1);
	assert_true(X509_sign(m->x, m->key, EVP_sha256()) > 0);
}

static bool refused_has(const struct tls_cert_ids *ids, const char *needle)
{
	for (size_t i = 0; i < ids->nrefused; i++)
		if (strstr(ids->refused[i], needle))
			return true;
	return false;
}

static void expect_refused(const struct tls_cert_ids *ids, const char *needle)
{
	if (refused_has(ids, needle))
		return;
	for (size_t i = 0; i < ids->nrefused; i++)
		fprintf(stderr, "refused: %s\n", ids->refused[i]);
	fail_msg("nothing refused with '%s'", needle);
}

/* ---- Identities ---- */

static void issued_client_cert_names_read_back(void **state)
{
	struct fixture *f = *state;
	const char *xmpp[] = {"alice@example.org"};
	const struct tls_cert_spec spec = {
		.kind = TLS_CERT_CLIENT, .cn = "alice", .xmpp_addrs = xmpp, .nxmpp_addrs = 1, .days = 30};
	struct made m = issue(&spec, NULL);
	struct tls_cert_ids ids;
	assert_int_equal(tls_cert_ids_read(m.x, f->a, &ids), 0);
	assert_int_equal(ids.nxmpp_addrs, 1);
	assert_string_equal(ids.xmpp_addrs[0], "alice@example.org");
	assert_int_equal(ids.ncns, 1);
	assert_string_equal(ids.cns[0], "alice");
	assert_int_equal(ids.ndns_names, 0);
	assert_null(ids.dns_names);
	assert_int_equal(ids.nsrv_ids, 0);
	assert_int_equal(ids.nrefused, 0);

	/* The fingerprint is the SHA-256 of the DER, in lower-case hex. */
	unsigned char md[32];
	unsigned int n = 0;
	assert_int_equal(X509_digest(m.x, EVP_sha256(), md, &n), 1);
	char hex[65];
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(ids.fingerprint, hex);

	/* The SPKI pin is the SHA-256 of the DER SubjectPublicKeyInfo: what
	 * `openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum`
	 * prints. */
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(X509_get0_pubkey(m.x), &der);
	assert_true(len > 0);
	assert_int_equal(EVP_Digest(der, (size_t)len, md, &n, EVP_sha256(), NULL), 1);
	OPENSSL_free(der);
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(ids.spki, hex);
	assert_string_not_equal(ids.spki, ids.fingerprint);

	/* The xmppAddr is a UTF8String, as XEP-0178 requires. */
	GENERAL_NAMES *gens = X509_get_ext_d2i(m.x, NID_subject_alt_name, NULL, NULL);
	assert_non_null(gens);
	const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, 0);
	assert_int_equal(gn->type, GEN_OTHERNAME);
	assert_int_equal(gn->d.otherName->value->type, V_ASN1_UTF8STRING);
	GENERAL_NAMES_free(gens);
	/* Regression (libstrophe interop): the subjectAltName is not the first
	 * extension, since libstrophe searches for it from index 1 on and saw
	 * no xmppAddr in our certificates, so it could not pick an authzid. */
	assert_int_equal(X509_get_ext_by_NID(m.x, NID_subject_alt_name, 0),
			 X509_get_ext_by_NID(m.x, NID_subject_alt_name, -1));
	assert_true(X509_get_ext_by_NID(m.x, NID_subject_alt_name, -1) > 0);
	/* EKU clientAuth only; a leaf, not a CA. */
	assert_true(X509_get_extended_key_usage(m.x) & XKU_SSL_CLIENT);
	assert_false(X509_get_extended_key_usage(m.x) & XKU_SSL_SERVER);
	assert_false(tls_cert_is_ca(m.x));
	made_free(&m);
}

static void server_cert_has_every_san_type(void **state)
{
	struct fixture *f = *state;
	const char *dns[] = {"example.org", "conference.example.org"};
	const char *srv[] = {"_xmpp-client.example.org", "_xmpp-server.example.org"};
	const char *xmpp[] = {"example.org"};
	const struct tls_cert_spec spec = {.kind = TLS_CERT_SERVER, .cn = "example.org",
					   .dns_names = dns, .ndns_names = 2,
					   .srv_ids = srv, .nsrv_ids = 2,
					   .xmpp_addrs = xmpp, .nxmpp_addrs = 1, .days = 30};
	struct made m = issue(&spec, NULL);
	struct tls_cert_ids ids;
	tls_cert_ids_read(m.x, f->a, &ids);
	assert_int_equal(ids.ndns_names, 2);
	assert_string_equal(ids.dns_names[0], "example.org");
	assert_string_equal(ids.dns_names[1], "conference.example.org");
	assert_int_equal(ids.nsrv_ids, 2);
	assert_string_equal(ids.srv_ids[0], "_xmpp-client.example.org");
	assert_string_equal(ids.srv_ids[1], "_xmpp-server.example.org");
	assert_int_equal(ids.nxmpp_addrs, 1);
	assert_string_equal(ids.xmpp_addrs[0], "example.org");
	assert_int_equal(ids.nrefused, 0);
	uint32_t xku = X509_get_extended_key_usage(m.x);
	assert_true((xku & XKU_SSL_CLIENT) && (xku & XKU_SSL_SERVER));

	/* The SRV-IDs are IA5String otherNames. */
	GENERAL_NAMES *gens = X509_get_ext_d2i(m.x, NID_subject_alt_name, NULL, NULL);
	int srv_seen = 0;
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		char oid[64];
		if (gn->type != GEN_OTHERNAME)
			continue;
		OBJ_obj2txt(oid, sizeof(oid), gn->d.otherName->type_id, 1);
		if (strcmp(oid, oid_dnssrv) == 0) {
			assert_int_equal(gn->d.otherName->value->type, V_ASN1_IA5STRING);
			srv_seen++;
		}
	}
	assert_int_equal(srv_seen, 2);
	GENERAL_NAMES_free(gens);
	made_free(&m);
}

static void several_xmpp_addrs_in_order(void **state)
{
	struct fixture *f = *state;
	const char *xmpp[] = {"alice@example.org", "bob@example.org", "bjørn@example.org"};
	const struct tls_cert_spec spec = {
		.kind = TLS_CERT_CLIENT, .xmpp_addrs = xmpp, .nxmpp_addrs = 3, .days = 1};
	struct made m = issue(&spec, NULL);
	struct tls_cert_ids ids;
	tls_cert_ids_read(m.x, f->a, &ids);
	assert_int_equal(ids.nxmpp_addrs, 3);
	for (int i = 0; i < 3; i++)
		assert_string_equal(ids.xmpp_addrs[i], xmpp[i]);
	/* No CN: the SAN is critical and the subject empty. */
	assert_int_equal(ids.ncns, 0);
	assert_null(ids.cns);
	int crit = 0;
	GENERAL_NAMES *gens = X509_get_ext_d2i(m.x, NID_subject_alt_name, &crit, NULL);
	assert_int_equal(crit, 1);
	GENERAL_NAMES_free(gens);
	made_free(&m);
}

/* XEP-0178 and RFC 6120 §13.7.1.4: id-on-xmppAddr is a UTF8String.  Any
 * other type is refused, not converted, and the others still count. */
static void xmpp_addr_of_other_types_refused(void **state)
{
	struct fixture *f = *state;
	struct made m = bare_cert();
	static const unsigned char bmp[] = {0, 'e', 0, 'v', 0, 'e', 0, '@', 0, 'x'};
	GENERAL_NAME *names[] = {
		raw_other(oid_xmppaddr, V_ASN1_IA5STRING, "mallory@example.org", -1),
		raw_other(oid_xmppaddr, V_ASN1_BMPSTRING, bmp, sizeof(bmp)),
		raw_other(oid_xmppaddr, V_ASN1_UTF8STRING, "alice@example.org", -1),
		raw_other(oid_xmppaddr, V_ASN1_UTF8STRING, "admin@example.org\0.evil.org", 27),
		raw_other(oid_xmppaddr, V_ASN1_UTF8STRING, "bad\xc3(@example.org", -1),
		raw_other(oid_xmppaddr, V_ASN1_UTF8STRING, "over\xc0\xaflong@example.org", -1),
		raw_other(oid_xmppaddr, V_ASN1_UTF8STRING, "", 0),
	};
	add_sans(&m, names, sizeof(names) / sizeof(names[0]));
	struct tls_cert_ids ids;
	tls_cert_ids_read(m.x, f->a, &ids);
	assert_int_equal(ids.nxmpp_addrs, 1);
	assert_string_equal(ids.xmpp_addrs[0], "alice@example.org");
	assert_int_equal(ids.nrefused, 6);
	expect_refused(&ids, "xmppAddr #1 is of type IA5STRING, not UTF8String");
	expect_refused(&ids, "xmppAddr #2 is of type BMPSTRING, not UTF8String");
	expect_refused(&ids, "xmppAddr #4 contains a NUL byte");
	expect_refused(&ids, "xmppAddr #5 is not valid UTF-8");
	expect_refused(&ids, "xmppAddr #6 is not valid UTF-8");
	expect_refused(&ids, "xmppAddr #7 is empty");
	made_free(&m);
}

static void dns_and_srv_names_checked(void **state)
{
	struct fixture *f = *state;
	struct made m = bare_cert();
	GENERAL_NAME *names[] = {
		raw_dns("good.example.org", -1),
		raw_dns("example.org\0.evil.org", 21),
		raw_dns("b\xc3\xa4" "d.example.org", -1),
		raw_dns("", 0),
		raw_other(oid_dnssrv, V_ASN1_IA5STRING, "_xmpp-server.example.org", -1),
		raw_other(oid_dnssrv, V_ASN1_UTF8STRING, "_xmpp-client.example.org", -1),
		raw_other(oid_dnssrv, V_ASN1_IA5STRING, "xmpp-client.example.org", -1),
		raw_other(oid_dnssrv, V_ASN1_IA5STRING, "_xmpp-client.example.org\0x", 26),
		/* An otherName nobody asked about is neither used nor refused. */
		raw_other("1.2.3.4", V_ASN1_UTF8STRING, "whatever", -1),
	};
	add_sans(&m, names, sizeof(names) / sizeof(names[0]));
	struct tls_cert_ids ids;
	tls_cert_ids_read(m.x, f->a, &ids);
	assert_int_equal(ids.ndns_names, 1);
	assert_string_equal(ids.dns_names[0], "good.example.org");
	assert_int_equal(ids.nsrv_ids, 1);
	assert_string_equal(ids.srv_ids[0], "_xmpp-server.example.org");
	assert_int_equal(ids.nrefused, 6);
	expect_refused(&ids, "dNSName #2 contains a NUL byte");
	expect_refused(&ids, "dNSName #3 contains a character that is not printable ASCII");
	expect_refused(&ids, "dNSName #4 is empty");
	expect_refused(&ids, "SRV-ID #2 is of type UTF8STRING, not IA5String");
	expect_refused(&ids, "SRV-ID #3 does not start with _service.");
	expect_refused(&ids, "SRV-ID #4 contains a NUL byte");
	made_free(&m);
}

/* RFC 5280 allows one subjectAltName extension; with two, which one a
 * library reads is up to it, so Parley reads neither. */
static void two_san_extensions_refused(void **state)
{
	struct fixture *f = *state;
	struct made m = bare_cert();
	GENERAL_NAME *first[] = {raw_other(oid_xmppaddr, V_ASN1_UTF8STRING, "alice@example.org", -1)};
	GENERAL_NAME *second[] = {raw_other(oid_xmppaddr, V_ASN1_UTF8STRING, "admin@example.org", -1)};
	add_sans(&m, first, 1);
	add_sans(&m, second, 1);
	struct tls_cert_ids ids;
	tls_cert_ids_read(m.x, f->a, &ids);
	assert_int_equal(ids.nxmpp_addrs, 0);
	assert_int_equal(ids.nrefused, 1);
	expect_refused(&ids, "several subjectAltName extensions");
	made_free(&m);
}

static void cn_edge_cases(void **state)
{
	struct fixture *f = *state;
	struct tls_cert_ids ids;

	/* No subject at all. */
	struct made none = bare_cert();
	tls_cert_ids_read(none.x, f->a, &ids);
	assert_int_equal(ids.ncns, 0);
	assert_int_equal(ids.nrefused, 0);
	made_free(&none);

	/* Several CNs, in subject order; other string types become UTF-8. */
	struct made m = bare_cert();
	add_cn(&m, MBSTRING_UTF8, "alice", -1);
	static const unsigned char bmp[] = {0, 'b', 0, 'j', 0, 0xf8, 0, 'r', 0, 'n'};
	add_cn(&m, V_ASN1_BMPSTRING, bmp, sizeof(bmp));
	add_cn(&m, V_ASN1_PRINTABLESTRING, "carol", -1);
	/* An embedded NUL would make "admin" of "admin\0@evil.org". */
	add_cn(&m, V_ASN1_UTF8STRING, "admin\0@evil.org", 15);
	add_cn(&m, V_ASN1_UTF8STRING, "", 0);
	/* (A CN that is not valid UTF-8 cannot be tested: OpenSSL refuses to
	 * encode such a name, and to parse a certificate that has one.) */
	tls_cert_ids_read(m.x, f->a, &ids);
	assert_int_equal(ids.ncns, 3);
	assert_string_equal(ids.cns[0], "alice");
	assert_string_equal(ids.cns[1], "bj\xc3\xb8rn");
	assert_string_equal(ids.cns[2], "carol");
	assert_int_equal(ids.nrefused, 2);
	expect_refused(&ids, "CN #4 contains a NUL byte");
	expect_refused(&ids, "CN #5 is empty");
	made_free(&m);

	/* A CN that is a JID comes back as written. */
	const struct tls_cert_spec spec = {.kind = TLS_CERT_CLIENT, .cn = "dave@example.org", .days = 1};
	struct made j = issue(&spec, NULL);
	tls_cert_ids_read(j.x, f->a, &ids);
	assert_int_equal(ids.ncns, 1);
	assert_string_equal(ids.cns[0], "dave@example.org");
	assert_int_equal(ids.nxmpp_addrs, 0);
	made_free(&j);
}

/* ---- Issuing ---- */

static void ca_chain_and_options(void **state)
{
	(void)state;
	char *err = NULL;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	const struct tls_cert_spec ca_spec = {.kind = TLS_CERT_CA, .cn = "Test Root", .days = 10};
	struct made root = issue(&ca_spec, NULL);
	assert_true(tls_cert_is_ca(root.x));
	assert_int_equal(X509_check_ca(root.x), 1);
	int crit = 0;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(root.x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(root.x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_non_null(X509_get0_subject_key_id(root.x));
	assert_int_equal(EVP_PKEY_get_base_id(root.key), EVP_PKEY_EC);

	/* An RSA intermediate signed by the root, and a leaf under it. */
	const struct tls_cert_spec int_spec = {.kind = TLS_CERT_CA, .cn = "Test Sub", .days = 10,
					       .rsa = true};
	struct made sub = issue(&int_spec, &root);
	assert_int_equal(EVP_PKEY_get_base_id(sub.key), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(sub.key), 3072);
	assert_int_equal(X509_verify(sub.x, root.key), 1);
	assert_int_equal(X509_check_issued(root.x, sub.x), X509_V_OK);
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(sub.x),
					       X509_get0_subject_key_id(root.x)),
			 0);
	const char *xmpp[] = {"alice@example.org"};
	const struct tls_cert_spec leaf_spec = {.kind = TLS_CERT_CLIENT, .cn = "alice",
						.xmpp_addrs = xmpp, .nxmpp_addrs = 1, .days = 5,
						.eku = "serverAuth"};
	struct made leaf = issue(&leaf_spec, &sub);
	assert_int_equal(X509_verify(leaf.x, sub.key), 1);
	assert_int_equal(X509_get_extended_key_usage(leaf.x), XKU_SSL_SERVER);
	/* --expired: over, yesterday. */
	const struct tls_cert_spec old_spec = {.kind = TLS_CERT_CLIENT, .cn = "old", .days = 3,
					       .expired = true};
	struct made old = issue(&old_spec, &root);
	assert_true(X509_cmp_current_time(X509_get0_notAfter(old.x)) < 0);
	assert_true(X509_cmp_time(X509_get0_notBefore(old.x), &(time_t){time(NULL) - 3 * 86400}) < 0);
	/* No EKU at all. */
	const struct tls_cert_spec noeku = {.kind = TLS_CERT_CLIENT, .cn = "x", .days = 1, .eku = ""};
	struct made ne = issue(&noeku, &root);
	assert_false(X509_get_extension_flags(ne.x) & EXFLAG_XKUSAGE);

	/* Refusals say what is wrong. */
	struct {
		struct tls_cert_spec spec;
		const struct made *ca;
		const char *needle;
	} bad[] = {
		{{.kind = TLS_CERT_CLIENT, .days = 0}, NULL, "validity of 0 days"},
		{{.kind = TLS_CERT_CLIENT, .days = 36501}, NULL, "validity of 36501 days"},
		{{.kind = TLS_CERT_CLIENT, .days = 1, .cn = "a\nb"}, NULL, "common name"},
		{{.kind = TLS_CERT_CLIENT, .days = 1,
		  .cn = "0123456789012345678901234567890123456789012345678901234567890123456789"},
		 NULL, "common name"},
		{{.kind = TLS_CERT_SERVER, .days = 1, .dns_names = (const char *[]){"bad name"},
		  .ndns_names = 1},
		 NULL, "is not a DNS name"},
		{{.kind = TLS_CERT_SERVER, .days = 1, .srv_ids = (const char *[]){"xmpp.example.org"},
		  .nsrv_ids = 1},
		 NULL, "is not _service.domain"},
		{{.kind = TLS_CERT_CLIENT, .days = 1, .eku = "nonsenseAuth"}, NULL, "nonsenseAuth"},
		{{.kind = TLS_CERT_CLIENT, .days = 1}, &leaf, "not a CA certificate"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_int_equal(tls_cert_issue(&bad[i].spec, bad[i].ca ? bad[i].ca->x : NULL,
						bad[i].ca ? bad[i].ca->key : NULL, &x, &k, &err),
				 -1);
		assert_null(x);
		assert_null(k);
		if (!err || !strstr(err, bad[i].needle))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].needle);
		free(err);
	}
	/* The issuer's key must be the issuer's. */
	err = NULL;
	assert_int_equal(tls_cert_issue(&leaf_spec, root.x, sub.key, &x, &k, &err), -1);
	assert_non_null(strstr(err, "does not match"));
	free(err);

	made_free(&ne);
	made_free(&old);
	made_free(&leaf);
	made_free(&sub);
	made_free(&root);
	assert_int_equal(ERR_peek_error(), 0);
}

static void crl_lists_revoked_serials(void **state)
{
	(void)state;
	const struct tls_cert_spec ca_spec = {.kind = TLS_CERT_CA, .cn = "CRL CA", .days = 10};
	struct made ca = issue(&ca_spec, NULL);
	const struct tls_cert_spec spec = {.kind = TLS_CERT_CLIENT, .cn = "gone", .days = 10};
	struct made gone = issue(&spec, &ca);
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(gone.x), NULL);
	char *hex = BN_bn2hex(bn);
	const struct tls_crl_entry entries[] = {{hex, 1700000000}, {"0A0B", 1700000100}};
	char *err = NULL;
	X509_CRL *crl = tls_crl_make(ca.x, ca.key, entries, 2, 7, 30, &err);
	assert_non_null(crl);
	assert_int_equal(X509_CRL_verify(crl, ca.key), 1);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 2);
	X509_REVOKED *r = NULL;
	assert_int_equal(X509_CRL_get0_by_cert(crl, &r, gone.x), 1);
	ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	assert_int_equal(ASN1_INTEGER_get(num), 7);
	ASN1_INTEGER_free(num);
	assert_true(X509_cmp_current_time(X509_CRL_get0_nextUpdate(crl)) > 0);
	X509_CRL_free(crl);

	const struct tls_crl_entry bad[] = {{"xyz", 0}};
	assert_null(tls_crl_make(ca.x, ca.key, bad, 1, 1, 30, &err));
	assert_non_null(strstr(err, "not hexadecimal"));
	free(err);
	assert_null(tls_crl_make(gone.x, gone.key, NULL, 0, 1, 30, &err));
	assert_non_null(strstr(err, "not a CA"));
	free(err);

	OPENSSL_free(hex);
	BN_free(bn);
	made_free(&gone);
	made_free(&ca);
}

/* ---- Files ---- */

static void files_round_trip(void **state)
{
	struct fixture *f = *state;
	char path[160], p12[160], der[160];
	char *err = NULL;
	snprintf(path, sizeof(path), "%s/chain.pem", f->dir);
	snprintf(p12, sizeof(p12), "%s/alice.p12", f->dir);
	snprintf(der, sizeof(der), "%s/alice.cer", f->dir);

	const struct tls_cert_spec ca_spec = {.kind = TLS_CERT_CA, .cn = "File CA", .days = 10};
	struct made ca = issue(&ca_spec, NULL);
	const char *xmpp[] = {"alice@example.org"};
	const struct tls_cert_spec spec = {.kind = TLS_CERT_CLIENT, .cn = "alice",
					   .xmpp_addrs = xmpp, .nxmpp_addrs = 1, .days = 10};
	struct made leaf = issue(&spec, &ca);

	X509 *chain[] = {leaf.x, ca.x};
	assert_int_equal(tls_file_write_pem(path, 0644, chain, 2, NULL, NULL, false, &err), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* Not clobbered unless asked. */
	assert_int_equal(tls_file_write_pem(path, 0644, chain, 1, NULL, NULL, false, &err), -1);
	assert_non_null(strstr(err, "exists already"));
	free(err);
	STACK_OF(X509) *certs = NULL;
	assert_int_equal(tls_file_read_certs(path, &certs, &err), 0);
	assert_int_equal(sk_X509_num(certs), 2);
	assert_int_equal(X509_cmp(sk_X509_value(certs, 0), leaf.x), 0);
	assert_int_equal(X509_cmp(sk_X509_value(certs, 1), ca.x), 0);
	sk_X509_pop_free(certs, X509_free);
	assert_int_equal(tls_file_write_pem(path, 0644, chain, 1, NULL, NULL, true, &err), 0);
	assert_int_equal(tls_file_read_certs(path, &certs, &err), 0);
	assert_int_equal(sk_X509_num(certs), 1);
	sk_X509_pop_free(certs, X509_free);

	/* Keys are written as asked (0600) and read back. */
	char keypath[160];
	snprintf(keypath, sizeof(keypath), "%s/alice.key", f->dir);
	assert_int_equal(tls_file_write_pem(keypath, 0600, NULL, 0, leaf.key, NULL, false, &err), 0);
	assert_int_equal(stat(keypath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	EVP_PKEY *k = tls_file_read_key(keypath, &err);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_eq(k, leaf.key), 1);
	EVP_PKEY_free(k);
	assert_null(tls_file_read_key(path, &err));
	assert_non_null(strstr(err, "no PEM private key"));
	free(err);

	/* One DER certificate reads like a PEM file. */
	FILE *fp = fopen(der, "wb");
	assert_int_equal(i2d_X509_fp(fp, leaf.x), 1);
	fclose(fp);
	assert_int_equal(tls_file_read_certs(der, &certs, &err), 0);
	assert_int_equal(X509_cmp(sk_X509_value(certs, 0), leaf.x), 0);
	sk_X509_pop_free(certs, X509_free);

	/* Errors name the file and the problem. */
	assert_int_equal(tls_file_read_certs(keypath, &certs, &err), -1);
	assert_non_null(strstr(err, "no certificate found"));
	free(err);
	assert_int_equal(tls_file_read_certs("/nonexistent/x.pem", &certs, &err), -1);
	assert_non_null(strstr(err, "/nonexistent/x.pem: no such file"));
	free(err);
	assert_int_equal(tls_file_read_certs(f->dir, &certs, &err), -1);
	assert_non_null(strstr(err, "is a directory"));
	free(err);
	fp = fopen(der, "w");
	fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n", fp);
	fclose(fp);
	assert_int_equal(tls_file_read_certs(der, &certs, &err), -1);
	assert_non_null(strstr(err, "certificate #1 cannot be read"));
	free(err);

	/* PKCS#12 with key, certificate and CA, and the password. */
	STACK_OF(X509) *cas = sk_X509_new_null();
	sk_X509_push(cas, ca.x);
	assert_int_equal(tls_file_write_p12(p12, leaf.key, leaf.x, cas, "s3cret", "alice", false, &err), 0);
	sk_X509_free(cas);
	assert_int_equal(stat(p12, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	fp = fopen(p12, "rb");
	PKCS12 *bundle = d2i_PKCS12_fp(fp, NULL);
	fclose(fp);
	assert_non_null(bundle);
	EVP_PKEY *pk = NULL;
	X509 *pc = NULL;
	STACK_OF(X509) *pcas = NULL;
	assert_int_equal(PKCS12_parse(bundle, "wrong", &pk, &pc, &pcas), 0);
	ERR_clear_error();
	assert_int_equal(PKCS12_parse(bundle, "s3cret", &pk, &pc, &pcas), 1);
	assert_int_equal(X509_cmp(pc, leaf.x), 0);
	assert_int_equal(EVP_PKEY_eq(pk, leaf.key), 1);
	assert_int_equal(sk_X509_num(pcas), 1);
	assert_int_equal(X509_cmp(sk_X509_value(pcas, 0), ca.x), 0);
	EVP_PKEY_free(pk);
	X509_free(pc);
	sk_X509_pop_free(pcas, X509_free);
	PKCS12_free(bundle);

	made_free(&leaf);
	made_free(&ca);
	assert_int_equal(ERR_peek_error(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(issued_client_cert_names_read_back),
		T(server_cert_has_every_san_type),
		T(several_xmpp_addrs_in_order),
		T(xmpp_addr_of_other_types_refused),
		T(dns_and_srv_names_checked),
		T(two_san_extensions_refused),
		T(cn_edge_cases),
		T(ca_chain_and_options),
		T(crl_lists_revoked_serials),
		T(files_round_trip),
#undef T
	};
	return cmocka_run_group_tests_name("tls_identity", tests, NULL, NULL);
}
