/*
 * ctl cert: a small CA and the certificates XMPP needs, one command each
 * where a deployment would otherwise copy openssl recipes: client
 * certificates with id-on-xmppAddr for SASL EXTERNAL (and PKCS#12 bundles
 * for clients such as Gajim), server certificates with DNS and SRV-IDs for
 * federation, revocation and CRLs, and `cert show`, which prints what the
 * server reads from a certificate and whether the configured client trust
 * store accepts it, with the server's own reasons.
 *
 * A CA directory (cert ca init DIR) holds:
 *   ca.crt     the CA certificate
 *   ca.key     its key, mode 0600
 *   chain.crt  intermediate CAs only: this CA and those above it, without
 *              the root; appended to every certificate it issues, so that
 *              clients send the whole chain
 *   revoked    one line per revoked certificate: serial (hex), Unix time,
 *              subject (cert revoke)
 *   crlnumber  the number of the last CRL made (cert crl)
 * Serials are random, so there is no serial file.  The certificate work is
 * tls/'s (tls/cert.h); this file is arguments, files and messages.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "ctl/ctl.h"
#include "jid/jid.h"
#include "tls/cert.h"

enum {
	CERT_NAMES_MAX = 16,     /* of each --xmpp-addr, --dns */
	CERT_PASSWORD_MAX = 1024,
	CERT_DAYS_CA = 3650,
	CERT_DAYS_CLIENT = 365,
	CERT_DAYS_SERVER = 825,
	CERT_DAYS_CRL = 30,
};

static int usage(void)
{
	fprintf(stderr,
		"usage: parleyctl cert ca init DIR [--rsa] [--days N] [--name CN] [--ca PARENT_DIR]\n"
		"       parleyctl cert issue client JID --ca DIR [ISSUE OPTIONS]\n"
		"       parleyctl cert issue server DOMAIN --ca DIR [ISSUE OPTIONS] [--dns NAME]...\n"
		"       parleyctl cert self-signed client|server NAME [ISSUE OPTIONS]\n"
		"       parleyctl cert revoke FILE --ca DIR\n"
		"       parleyctl cert crl --ca DIR --out FILE [--days N]\n"
		"       parleyctl [-c CONFIG] cert show FILE [-c CONFIG]\n"
		"ISSUE OPTIONS: [--out PREFIX] [--days N] [--rsa] [--p12 [--p12-password-stdin]]\n"
		"               [--cn NAME] [--xmpp-addr JID]... [--no-xmpp-addr] [--eku LIST]\n"
		"               [--expired] [--force]\n"
		"  --expired  valid from N+1 days ago until yesterday (to test refusals)\n"
		"  --eku      extended key usage, e.g. serverAuth (default: clientAuth for clients,\n"
		"             serverAuth,clientAuth for servers)\n");
	return CTL_USAGE;
}

static int parse_days(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno || v == 0 || v > TLS_CERT_DAYS_MAX) {
		ctl_error("--days %s: give a number of days from 1 to %d", s, TLS_CERT_DAYS_MAX);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* Prints a name from a certificate: control bytes escaped, so that a
 * hostile certificate cannot rewrite the terminal. */
static void print_safe(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
}

static char *serial_hex(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	BN_free(bn);
	char *copy = strdup(hex ? hex : "0");
	OPENSSL_free(hex);
	return copy;
}

/* ---- CA directories ---- */

struct ca {
	X509 *cert;
	EVP_PKEY *key;
	STACK_OF(X509) *chain; /* intermediates to append to what it issues */
	const char *dir;
};

static void ca_clear(struct ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	sk_X509_pop_free(ca->chain, X509_free);
	memset(ca, 0, sizeof(*ca));
}

static void ca_path(struct buf *b, const char *dir, const char *name)
{
	buf_reset(b);
	buf_printf(b, "%s/%s", dir, name);
}

static int ca_load(const char *dir, struct ca *ca)
{
	struct buf p = BUF_INIT;
	char *err = NULL;
	STACK_OF(X509) *certs = NULL;
	int rc = CTL_FAIL;
	memset(ca, 0, sizeof(*ca));
	ca->dir = dir;

	ca_path(&p, dir, "ca.crt");
	if (tls_file_read_certs(buf_cstr(&p), &certs, &err) < 0) {
		ctl_error("%s (make a CA with: parleyctl cert ca init %s)", err, dir);
		goto out;
	}
	ca->cert = X509_dup(sk_X509_value(certs, 0));
	sk_X509_pop_free(certs, X509_free);
	if (!tls_cert_is_ca(ca->cert)) {
		ctl_error("%s is not a CA certificate", buf_cstr(&p));
		goto out;
	}
	ca_path(&p, dir, "ca.key");
	ca->key = tls_file_read_key(buf_cstr(&p), &err);
	if (!ca->key) {
		ctl_error("%s", err);
		goto out;
	}
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		ERR_clear_error();
		ctl_error("%s does not match %s/ca.crt", buf_cstr(&p), dir);
		goto out;
	}
	ca_path(&p, dir, "chain.crt");
	if (access(buf_cstr(&p), F_OK) == 0) {
		if (tls_file_read_certs(buf_cstr(&p), &ca->chain, &err) < 0) {
			ctl_error("%s", err);
			goto out;
		}
	} else {
		ca->chain = sk_X509_new_null();
	}
	rc = CTL_OK;
out:
	free(err);
	buf_clear(&p);
	if (rc != CTL_OK)
		ca_clear(ca);
	return rc;
}

static int ca_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"rsa", no_argument, NULL, 'r'},
		{"days", required_argument, NULL, 'd'},
		{"name", required_argument, NULL, 'n'},
		{"ca", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	struct tls_cert_spec spec = {.kind = TLS_CERT_CA, .days = CERT_DAYS_CA};
	const char *parent_dir = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			spec.rsa = true;
			break;
		case 'd':
			if (parse_days(optarg, &spec.days) < 0)
				return CTL_USAGE;
			break;
		case 'n':
			spec.cn = optarg;
			break;
		case 'c':
			parent_dir = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc - 1)
		return usage();
	const char *dir = argv[optind];
	if (!spec.cn && !parent_dir)
		spec.cn = "Parley CA";

	struct ca parent = {0};
	char default_cn[64];
	struct buf kp = BUF_INIT, cp = BUF_INIT, chp = BUF_INIT;
	X509 *x = NULL;
	EVP_PKEY *key = NULL;
	char *err = NULL;
	int rc = CTL_FAIL;
	ca_path(&kp, dir, "ca.key");
	ca_path(&cp, dir, "ca.crt");
	ca_path(&chp, dir, "chain.crt");
	if (access(buf_cstr(&kp), F_OK) == 0) {
		ctl_error("%s holds a CA already (%s); remove it first to make a new one", dir,
			  buf_cstr(&kp));
		goto out;
	}
	if (parent_dir && ca_load(parent_dir, &parent) != CTL_OK)
		goto out;
	if (!spec.cn) {
		/* One name per level: an intermediate named like its issuer looks
		 * self-issued (RFC 5280 §6.1), and CRLs, `cert show` and `trust
		 * list` tell CAs apart by subject. */
		int level = 1 + sk_X509_num(parent.chain);
		if (level == 1)
			snprintf(default_cn, sizeof(default_cn), "Parley Intermediate CA");
		else
			snprintf(default_cn, sizeof(default_cn), "Parley Intermediate CA %d", level);
		spec.cn = default_cn;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		ctl_error("cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	if (tls_cert_issue(&spec, parent.cert, parent.key, &x, &key, &err) < 0) {
		ctl_error("%s", err);
		goto out;
	}
	if (tls_file_write_pem(buf_cstr(&kp), 0600, NULL, 0, key, NULL, false, &err) < 0) {
		ctl_error("%s", err);
		goto out;
	}
	if (tls_file_write_pem(buf_cstr(&cp), 0644, &x, 1, NULL, NULL, false, &err) < 0) {
		ctl_error("%s", err);
		unlink(buf_cstr(&kp));
		goto out;
	}
	if (parent_dir) {
		/* This CA, then what its parent appends (nothing for a root). */
		size_t n = 1 + (size_t)sk_X509_num(parent.chain);
		X509 **chain = calloc(n, sizeof(*chain));
		chain[0] = x;
		for (size_t i = 1; i < n; i++)
			chain[i] = sk_X509_value(parent.chain, (int)i - 1);
		int w = tls_file_write_pem(buf_cstr(&chp), 0644, chain, n, NULL, NULL, false, &err);
		free(chain);
		if (w < 0) {
			ctl_error("%s", err);
			unlink(buf_cstr(&kp));
			unlink(buf_cstr(&cp));
			goto out;
		}
	}
	char name[256], until[64], fp[TLS_FINGERPRINT_HEX + 1];
	tls_cert_fingerprint(x, fp);
	printf("created CA \"%s\" in %s (%s %s, valid until %s)\n",
	       tls_name_str(X509_get_subject_name(x), name, sizeof(name)), dir,
	       spec.rsa ? "RSA 3072" : "EC P-256", parent_dir ? "intermediate" : "root",
	       tls_time_str(X509_get0_notAfter(x), until, sizeof(until)));
	printf("  certificate: %s\n  key:         %s\n  sha256:      %s\n", buf_cstr(&cp), buf_cstr(&kp), fp);
	if (parent_dir)
		printf("  chain:       %s\nclients trust the root CA, not this one: it travels in the chain\n",
		       buf_cstr(&chp));
	else
		printf("let the server trust it: parleyctl trust add --store client %s\n", buf_cstr(&cp));
	rc = CTL_OK;
out:
	free(err);
	X509_free(x);
	EVP_PKEY_free(key);
	ca_clear(&parent);
	buf_clear(&kp);
	buf_clear(&cp);
	buf_clear(&chp);
	return rc;
}

/* ---- Issuing ---- */

struct issue_opts {
	const char *ca_dir;
	const char *out;
	unsigned days;
	bool rsa, p12, p12_stdin, no_xmpp_addr, expired, force;
	const char *cn;
	const char *eku;
	const char *xmpp[CERT_NAMES_MAX];
	size_t nxmpp;
	const char *dns[CERT_NAMES_MAX];
	size_t ndns;
};

static int issue_push(const char **list, size_t *n, const char *v, const char *flag)
{
	if (*n == CERT_NAMES_MAX) {
		ctl_error("%s: at most %d", flag, CERT_NAMES_MAX);
		return -1;
	}
	list[(*n)++] = v;
	return 0;
}

static int issue_parse(int argc, char **argv, struct issue_opts *o, const char **name)
{
	static const struct option longopts[] = {
		{"ca", required_argument, NULL, 'c'},
		{"out", required_argument, NULL, 'o'},
		{"days", required_argument, NULL, 'd'},
		{"rsa", no_argument, NULL, 'r'},
		{"p12", no_argument, NULL, 'p'},
		{"p12-password-stdin", no_argument, NULL, 'P'},
		{"cn", required_argument, NULL, 'n'},
		{"xmpp-addr", required_argument, NULL, 'x'},
		{"no-xmpp-addr", no_argument, NULL, 'X'},
		{"dns", required_argument, NULL, 'D'},
		{"eku", required_argument, NULL, 'e'},
		{"expired", no_argument, NULL, 'E'},
		{"force", no_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o->ca_dir = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'd':
			if (parse_days(optarg, &o->days) < 0)
				return CTL_USAGE;
			break;
		case 'r':
			o->rsa = true;
			break;
		case 'p':
			o->p12 = true;
			break;
		case 'P':
			o->p12 = o->p12_stdin = true;
			break;
		case 'n':
			o->cn = optarg;
			break;
		case 'x':
			if (issue_push(o->xmpp, &o->nxmpp, optarg, "--xmpp-addr") < 0)
				return CTL_USAGE;
			break;
		case 'X':
			o->no_xmpp_addr = true;
			break;
		case 'D':
			if (issue_push(o->dns, &o->ndns, optarg, "--dns") < 0)
				return CTL_USAGE;
			break;
		case 'e':
			o->eku = optarg;
			break;
		case 'E':
			o->expired = true;
			break;
		case 'f':
			o->force = true;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc - 1)
		return usage();
	*name = argv[optind];
	return CTL_OK;
}

/* The names of the certificate, from the positional NAME and the options. */
static int issue_names(struct arena *a, enum tls_cert_kind kind, const char *name,
		       const struct issue_opts *o, struct tls_cert_spec *spec, const char **label)
{
	struct jid j;
	size_t nx = 0, nd = 0;
	const char **xmpp = arena_alloc(a, (CERT_NAMES_MAX + 1) * sizeof(char *));
	const char **dns = arena_alloc(a, (CERT_NAMES_MAX + 1) * sizeof(char *));
	if (kind == TLS_CERT_CLIENT) {
		if (jid_parse_str(a, name, &j) < 0 || !j.local || j.resource) {
			ctl_error("'%s' is not an account JID (like alice@example.org)", name);
			return CTL_USAGE;
		}
		*label = j.bare;
		spec->cn = o->cn ? o->cn : j.local;
		if (!o->no_xmpp_addr)
			xmpp[nx++] = j.bare;
	} else {
		if (jid_parse_str(a, name, &j) < 0 || j.local || j.resource) {
			ctl_error("'%s' is not a domain name", name);
			return CTL_USAGE;
		}
		*label = j.domain;
		spec->cn = o->cn ? o->cn : j.domain;
		dns[nd++] = j.domain;
		const char **srv = arena_alloc(a, 2 * sizeof(char *));
		srv[0] = arena_printf(a, "_xmpp-client.%s", j.domain);
		srv[1] = arena_printf(a, "_xmpp-server.%s", j.domain);
		spec->srv_ids = srv;
		spec->nsrv_ids = 2;
		if (!o->no_xmpp_addr)
			xmpp[nx++] = j.domain;
	}
	/* Extra xmppAddrs are written as given (only checked to be JIDs), so
	 * that tests can make certificates whose names need preparing. */
	for (size_t i = 0; i < o->nxmpp; i++) {
		struct jid x;
		if (jid_parse_str(a, o->xmpp[i], &x) < 0 || x.resource) {
			ctl_error("--xmpp-addr '%s' is not a bare JID", o->xmpp[i]);
			return CTL_USAGE;
		}
		xmpp[nx++] = o->xmpp[i];
	}
	for (size_t i = 0; i < o->ndns; i++)
		dns[nd++] = o->dns[i];
	spec->xmpp_addrs = xmpp;
	spec->nxmpp_addrs = nx;
	spec->dns_names = dns;
	spec->ndns_names = nd;
	return CTL_OK;
}

static int issue_p12_password(const struct issue_opts *o, char *pw, size_t n, bool *printed)
{
	*printed = false;
	if (!o->p12_stdin) {
		ctl_random_password(pw, n < 21 ? n : 21);
		*printed = true;
		return CTL_OK;
	}
	if (!ctl_read_line(stdin, pw, n) || !*pw) {
		ctl_error("no PKCS#12 password on standard input");
		return CTL_FAIL;
	}
	return CTL_OK;
}

static int issue(int argc, char **argv, bool self_signed)
{
	enum tls_cert_kind kind;
	if (argc < 1)
		return usage();
	if (!strcmp(argv[0], "client"))
		kind = TLS_CERT_CLIENT;
	else if (!strcmp(argv[0], "server"))
		kind = TLS_CERT_SERVER;
	else
		return usage();

	struct issue_opts o = {0};
	const char *name = NULL;
	int rc = issue_parse(argc, argv, &o, &name);
	if (rc != CTL_OK)
		return rc;
	if (self_signed && o.ca_dir) {
		ctl_error("a self-signed certificate has no --ca");
		return CTL_USAGE;
	}
	if (!self_signed && !o.ca_dir) {
		ctl_error("--ca DIR is required (or use: parleyctl cert self-signed %s %s)", argv[0], name);
		return CTL_USAGE;
	}
	if (o.p12 && kind == TLS_CERT_SERVER)
		fprintf(stderr, "parleyctl: note: --p12 bundles are meant for clients; writing one anyway\n");

	struct arena *a = arena_new();
	struct ca ca = {0};
	struct buf cp = BUF_INIT, kp = BUF_INIT, pp = BUF_INIT;
	X509 *x = NULL;
	EVP_PKEY *key = NULL;
	X509 **files = NULL;
	char *err = NULL;
	char pw[CERT_PASSWORD_MAX];
	bool pw_printed = false, wrote_key = false, wrote_cert = false;
	pw[0] = '\0';
	const char *label = NULL;
	struct tls_cert_spec spec = {
		.kind = kind,
		.eku = o.eku,
		.days = o.days ? o.days : kind == TLS_CERT_CLIENT ? CERT_DAYS_CLIENT : CERT_DAYS_SERVER,
		.expired = o.expired,
		.rsa = o.rsa,
	};
	rc = issue_names(a, kind, name, &o, &spec, &label);
	if (rc != CTL_OK)
		goto out;
	rc = CTL_FAIL;
	if (!self_signed && ca_load(o.ca_dir, &ca) != CTL_OK)
		goto out;
	if (o.p12 && issue_p12_password(&o, pw, sizeof(pw), &pw_printed) != CTL_OK)
		goto out;
	if (tls_cert_issue(&spec, ca.cert, ca.key, &x, &key, &err) < 0) {
		ctl_error("%s", err);
		rc = CTL_USAGE;
		goto out;
	}

	const char *prefix = o.out ? o.out : label;
	buf_printf(&cp, "%s.crt", prefix);
	buf_printf(&kp, "%s.key", prefix);
	buf_printf(&pp, "%s.p12", prefix);
	/* The leaf, then the intermediates a client must send with it. */
	size_t nchain = ca.chain ? (size_t)sk_X509_num(ca.chain) : 0;
	files = calloc(1 + nchain, sizeof(*files));
	files[0] = x;
	for (size_t i = 0; i < nchain; i++)
		files[1 + i] = sk_X509_value(ca.chain, (int)i);
	/* Checked together first, so that a new key never lands beside an
	 * old certificate; the writes themselves still refuse to clobber. */
	const char *targets[] = {buf_cstr(&kp), buf_cstr(&cp), o.p12 ? buf_cstr(&pp) : NULL};
	for (size_t i = 0; i < 3 && !o.force; i++) {
		if (targets[i] && access(targets[i], F_OK) == 0) {
			ctl_error("%s exists already (--force replaces it)", targets[i]);
			goto out;
		}
	}
	if (tls_file_write_pem(buf_cstr(&kp), 0600, NULL, 0, key, NULL, o.force, &err) < 0) {
		ctl_error("%s", err);
		goto out;
	}
	wrote_key = true;
	if (tls_file_write_pem(buf_cstr(&cp), 0644, files, 1 + nchain, NULL, NULL, o.force, &err) < 0) {
		ctl_error("%s", err);
		goto out;
	}
	wrote_cert = true;
	if (o.p12) {
		STACK_OF(X509) *cas = sk_X509_new_null();
		for (size_t i = 0; i < nchain; i++)
			sk_X509_push(cas, files[1 + i]);
		if (ca.cert)
			sk_X509_push(cas, ca.cert);
		int w = tls_file_write_p12(buf_cstr(&pp), key, x, cas, pw, label, o.force, &err);
		sk_X509_free(cas);
		if (w < 0) {
			ctl_error("%s", err);
			goto out;
		}
	}

	char issuer[256], until[64], fp[TLS_FINGERPRINT_HEX + 1];
	tls_cert_fingerprint(x, fp);
	printf("issued a %s%s certificate for %s%s%s%s\n", self_signed ? "self-signed " : "",
	       kind == TLS_CERT_CLIENT ? "client" : "server", label, self_signed ? "" : " by \"",
	       self_signed ? "" : tls_name_str(X509_get_subject_name(ca.cert), issuer, sizeof(issuer)),
	       self_signed ? "" : "\"");
	printf("  certificate: %s%s\n", buf_cstr(&cp), nchain ? " (with its intermediate CAs)" : "");
	printf("  key:         %s\n", buf_cstr(&kp));
	if (o.p12)
		printf("  PKCS#12:     %s%s%s%s\n", buf_cstr(&pp), pw_printed ? " (password: " : "",
		       pw_printed ? pw : "", pw_printed ? ")" : "");
	printf("  valid until: %s%s\n", tls_time_str(X509_get0_notAfter(x), until, sizeof(until)),
	       o.expired ? " (expired, as asked)" : "");
	printf("  sha256:      %s\n", fp);
	rc = CTL_OK;
out:
	if (rc != CTL_OK && !o.force) {
		if (wrote_cert)
			unlink(buf_cstr(&cp));
		if (wrote_key)
			unlink(buf_cstr(&kp));
	}
	explicit_bzero(pw, sizeof(pw));
	free(files);
	free(err);
	X509_free(x);
	EVP_PKEY_free(key);
	ca_clear(&ca);
	buf_clear(&cp);
	buf_clear(&kp);
	buf_clear(&pp);
	arena_free(a);
	return rc;
}

/* ---- Revocation ---- */

struct revoked_list {
	struct tls_crl_entry *e;
	size_t n;
	char *text; /* the file, cut into fields the entries point into */
	char *raw;  /* the file as read, "" when there is none */
};

static void revoked_clear(struct revoked_list *r)
{
	free(r->e);
	free(r->text);
	free(r->raw);
	memset(r, 0, sizeof(*r));
}

/* Reads DIR/revoked; a missing file is an empty list. */
static int revoked_load(const char *dir, struct revoked_list *r)
{
	memset(r, 0, sizeof(*r));
	struct buf p = BUF_INIT;
	ca_path(&p, dir, "revoked");
	FILE *f = fopen(buf_cstr(&p), "r");
	if (!f) {
		int e = errno;
		buf_clear(&p);
		r->raw = strdup("");
		if (e == ENOENT)
			return 0;
		ctl_error("cannot read %s/revoked: %s", dir, strerror(e));
		return -1;
	}
	struct buf text = BUF_INIT;
	char line[1024];
	while (fgets(line, sizeof(line), f))
		buf_append_str(&text, line);
	fclose(f);
	r->text = buf_steal(&text);
	r->raw = strdup(r->text);
	size_t cap = 16;
	r->e = calloc(cap, sizeof(*r->e));
	int lineno = 0;
	for (char *save = NULL, *l = strtok_r(r->text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char *serial = l, *sp = strchr(l, ' ');
		if (!sp) {
			ctl_error("%s:%d: expected \"SERIAL TIME ...\"", buf_cstr(&p), lineno);
			buf_clear(&p);
			return -1;
		}
		*sp = '\0';
		if (r->n == cap)
			r->e = realloc(r->e, (cap *= 2) * sizeof(*r->e));
		r->e[r->n++] = (struct tls_crl_entry){serial, strtoll(sp + 1, NULL, 10)};
	}
	buf_clear(&p);
	return 0;
}

static int cert_revoke(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"ca", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	const char *ca_dir = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt != 'c')
			return usage();
		ca_dir = optarg;
	}
	if (optind != argc - 1 || !ca_dir)
		return usage();
	const char *file = argv[optind];

	struct ca ca;
	if (ca_load(ca_dir, &ca) != CTL_OK)
		return CTL_FAIL;
	int rc = CTL_FAIL;
	char *err = NULL, *serial = NULL;
	STACK_OF(X509) *certs = NULL;
	struct revoked_list r = {0};
	struct buf p = BUF_INIT, text = BUF_INIT;
	char name[256];
	if (tls_file_read_certs(file, &certs, &err) < 0) {
		ctl_error("%s", err);
		goto out;
	}
	X509 *x = sk_X509_value(certs, 0);
	tls_name_str(X509_get_subject_name(x), name, sizeof(name));
	if (X509_check_issued(ca.cert, x) != X509_V_OK || X509_verify(x, X509_get0_pubkey(ca.cert)) != 1) {
		ERR_clear_error();
		ctl_error("%s (\"%s\") was not issued by the CA in %s", file, name, ca_dir);
		goto out;
	}
	serial = serial_hex(x);
	if (revoked_load(ca_dir, &r) < 0)
		goto out;
	for (size_t i = 0; i < r.n; i++) {
		if (strcasecmp(r.e[i].serial_hex, serial) == 0) {
			ctl_error("%s (serial %s) is revoked already", file, serial);
			goto out;
		}
	}
	ca_path(&p, ca_dir, "revoked");
	buf_append_str(&text, r.raw);
	if (text.len && text.data[text.len - 1] != '\n')
		buf_append_char(&text, '\n');
	buf_printf(&text, "%s %lld %s\n", serial, (long long)time(NULL), name);
	if (tls_file_write(buf_cstr(&p), 0644, text.data, text.len, true, &err) < 0) {
		ctl_error("%s", err);
		goto out;
	}
	printf("revoked \"%s\" (serial %s)\n", name, serial);
	printf("publish it: parleyctl cert crl --ca %s --out FILE, with c2s.crl_file = FILE, then kill "
	       "-HUP the server\n",
	       ca_dir);
	rc = CTL_OK;
out:
	free(err);
	free(serial);
	sk_X509_pop_free(certs, X509_free);
	revoked_clear(&r);
	buf_clear(&p);
	buf_clear(&text);
	ca_clear(&ca);
	return rc;
}

static int cert_crl(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"ca", required_argument, NULL, 'c'},
		{"out", required_argument, NULL, 'o'},
		{"days", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	const char *ca_dir = NULL, *out = NULL;
	unsigned days = CERT_DAYS_CRL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			ca_dir = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'd':
			if (parse_days(optarg, &days) < 0)
				return CTL_USAGE;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc || !ca_dir || !out)
		return usage();

	struct ca ca;
	if (ca_load(ca_dir, &ca) != CTL_OK)
		return CTL_FAIL;
	int rc = CTL_FAIL;
	struct revoked_list r = {0};
	struct buf p = BUF_INIT, num = BUF_INIT;
	X509_CRL *crl = NULL;
	char *err = NULL;
	uint64_t number = 0;
	if (revoked_load(ca_dir, &r) < 0)
		goto out;
	ca_path(&p, ca_dir, "crlnumber");
	FILE *f = fopen(buf_cstr(&p), "r");
	if (f) {
		if (fscanf(f, "%" SCNu64, &number) != 1)
			number = 0;
		fclose(f);
	}
	number++;
	crl = tls_crl_make(ca.cert, ca.key, r.e, r.n, number, days, &err);
	if (!crl) {
		ctl_error("%s", err);
		goto out;
	}
	if (tls_file_write_pem(out, 0644, NULL, 0, NULL, crl, true, &err) < 0) {
		ctl_error("%s", err);
		goto out;
	}
	buf_printf(&num, "%" PRIu64 "\n", number);
	if (tls_file_write(buf_cstr(&p), 0644, num.data, num.len, true, &err) < 0) {
		ctl_error("%s", err);
		goto out;
	}
	char name[256], until[64];
	printf("wrote CRL #%" PRIu64 " of \"%s\" to %s: %zu revoked, next update %s\n", number,
	       tls_name_str(X509_get_subject_name(ca.cert), name, sizeof(name)), out, r.n,
	       tls_time_str(X509_CRL_get0_nextUpdate(crl), until, sizeof(until)));
	printf("make a new one before then: with c2s.crl_file set, an expired CRL refuses every "
	       "certificate of this CA\n");
	rc = CTL_OK;
out:
	free(err);
	X509_CRL_free(crl);
	revoked_clear(&r);
	buf_clear(&p);
	buf_clear(&num);
	ca_clear(&ca);
	return rc;
}

/* ---- Showing ---- */

static void show_list(const char *label, const char *const *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		printf("  %-12s ", i ? "" : label);
		print_safe(items[i]);
		putchar('\n');
	}
}

static void show_key(X509 *x)
{
	EVP_PKEY *k = X509_get0_pubkey(x);
	char group[64] = "";
	if (!k) {
		printf("  key:         (unreadable)\n");
		ERR_clear_error();
		return;
	}
	if (EVP_PKEY_get_group_name(k, group, sizeof(group), NULL) != 1)
		group[0] = '\0';
	ERR_clear_error();
	printf("  key:         %s %d bits%s%s\n", EVP_PKEY_get0_type_name(k), EVP_PKEY_get_bits(k),
	       group[0] ? ", " : "", group);
}

static void show_usage(X509 *x)
{
	uint32_t flags = X509_get_extension_flags(x);
	printf("  CA:          %s\n", tls_cert_is_ca(x) ? "yes" : "no");
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	if (eku) {
		printf("  EKU:         ");
		for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
			char txt[80];
			const ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);
			int nid = OBJ_obj2nid(o);
			if (nid != NID_undef)
				snprintf(txt, sizeof(txt), "%s", OBJ_nid2sn(nid));
			else
				OBJ_obj2txt(txt, sizeof(txt), o, 1);
			printf("%s%s", i ? ", " : "", txt);
		}
		putchar('\n');
		EXTENDED_KEY_USAGE_free(eku);
	} else if (!(flags & EXFLAG_XKUSAGE)) {
		printf("  EKU:         (none: any use)\n");
	}
	ERR_clear_error();
}

static void show_cert(X509 *x, size_t i, size_t n, struct arena *a)
{
	char buf[256], from[64], until[64], fp[TLS_FINGERPRINT_HEX + 1];
	if (n > 1)
		printf("certificate %zu of %zu%s\n", i + 1, n, i == 0 ? " (the one presented)" : " (chain)");
	printf("  subject:     ");
	print_safe(tls_name_str(X509_get_subject_name(x), buf, sizeof(buf)));
	printf("\n  issuer:      ");
	print_safe(tls_name_str(X509_get_issuer_name(x), buf, sizeof(buf)));
	char *serial = serial_hex(x);
	printf("\n  serial:      %s\n", serial);
	free(serial);
	const char *state = X509_cmp_current_time(X509_get0_notAfter(x)) < 0	? " (expired)"
			    : X509_cmp_current_time(X509_get0_notBefore(x)) > 0 ? " (not valid yet)"
										: "";
	printf("  valid:       %s to %s%s\n", tls_time_str(X509_get0_notBefore(x), from, sizeof(from)),
	       tls_time_str(X509_get0_notAfter(x), until, sizeof(until)), state);
	show_key(x);
	tls_cert_fingerprint(x, fp);
	printf("  sha256:      %s\n", fp);
	tls_cert_spki(x, fp);
	printf("  spki:        %s (SHA-256 of the public key: an s2s.peers pin)\n", fp);
	show_usage(x);
	if (i > 0)
		return;
	struct tls_cert_ids ids;
	tls_cert_ids_read(x, a, &ids);
	printf("identities Parley reads:\n");
	if (!ids.nxmpp_addrs && !ids.ndns_names && !ids.nsrv_ids && !ids.ncns)
		printf("  (none)\n");
	show_list("xmppAddr:", ids.xmpp_addrs, ids.nxmpp_addrs);
	show_list("DNS:", ids.dns_names, ids.ndns_names);
	show_list("SRV-ID:", ids.srv_ids, ids.nsrv_ids);
	show_list("CN:", ids.cns, ids.ncns);
	show_list("refused:", ids.refused, ids.nrefused);
}

/* What to change when the trust store refuses, by problem. */
static const char *show_hint(enum tls_cert_problem p)
{
	switch (p) {
	case TLS_CERT_UNKNOWN_ISSUER:
		return "trust its CA with: parleyctl trust add --store client CA_FILE";
	case TLS_CERT_SELF_SIGNED:
		return "c2s.accept_selfsigned is false (for development only: turn it on, and pin the "
		       "certificate to its account); or issue one from a trusted CA";
	case TLS_CERT_CHAIN_TOO_LONG:
		return "raise c2s.verify_depth";
	case TLS_CERT_CRL:
		return "c2s.crl_file needs a current CRL from every CA that issues client certificates";
	case TLS_CERT_EXPIRED:
	case TLS_CERT_NOT_YET_VALID:
		return "issue a new certificate";
	case TLS_CERT_WRONG_PURPOSE:
		return "issue a client certificate (EKU clientAuth)";
	default:
		return NULL;
	}
}

static int show_check(struct ctl *c, X509 *leaf, STACK_OF(X509) *chain)
{
	const struct config *cfg = ctl_config(c);
	if (!cfg)
		return CTL_USAGE;
	if (cfg->c2s.client_certs == CLIENT_CERTS_DISABLED) {
		printf("client trust store: refused: client certificates are disabled "
		       "(c2s.client_certs = \"disabled\" in %s)\n",
		       cfg->path);
		return CTL_FAIL;
	}
	struct tls_client_auth_config tc;
	tls_client_auth_config_c2s(cfg, &tc);
	char *err = NULL;
	struct tls_client_auth *ca = tls_client_auth_new(&tc, &err);
	if (!ca) {
		ctl_error("%s: %s", cfg->path, err);
		free(err);
		return CTL_USAGE;
	}
	struct tls_client_auth_info info;
	tls_client_auth_info(ca, &info);
	struct tls_cert_status st;
	enum tls_peer_cert r = tls_client_auth_check(ca, leaf, chain, &st);
	tls_client_auth_free(ca);
	printf("client trust store %s (%zu CA%s%s%s):\n", tc.ca_path ? tc.ca_path : "(none)", info.ncas,
	       info.ncas == 1 ? "" : "s", tc.crl_file ? ", CRL " : "", tc.crl_file ? tc.crl_file : "");
	if (r == TLS_PEER_CERT_VALID) {
		printf("  accepted%s\n", info.requests ? "" : ", but the server does not ask for certificates");
		return CTL_OK;
	}
	printf("  refused (%s): ", tls_cert_problem_name(st.problem));
	print_safe(st.reason);
	putchar('\n');
	const char *hint = show_hint(st.problem);
	if (hint)
		printf("  hint: %s\n", hint);
	return CTL_FAIL;
}

static int cert_show(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		if (opt != 'c')
			return usage();
		c->config_path = optarg;
		c->config_given = true;
	}
	if (optind != argc - 1)
		return usage();
	const char *file = argv[optind];
	STACK_OF(X509) *certs = NULL;
	char *err = NULL;
	if (tls_file_read_certs(file, &certs, &err) < 0) {
		ctl_error("%s", err);
		free(err);
		return CTL_FAIL;
	}
	struct arena *a = arena_new();
	size_t n = (size_t)sk_X509_num(certs);
	printf("%s\n", file);
	for (size_t i = 0; i < n; i++)
		show_cert(sk_X509_value(certs, (int)i), i, n, a);
	arena_free(a);

	int rc = CTL_OK;
	if (c->config_given || access(c->config_path, F_OK) == 0) {
		X509 *leaf = sk_X509_shift(certs);
		rc = show_check(c, leaf, certs);
		X509_free(leaf);
	} else {
		printf("client trust store: not checked (no configuration; give -c FILE)\n");
	}
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

int ctl_cert(struct ctl *c, int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *sub = argv[1];
	if (!strcmp(sub, "ca") && argc >= 3 && !strcmp(argv[2], "init"))
		return ca_init(argc - 2, argv + 2);
	if (!strcmp(sub, "issue") && argc >= 3)
		return issue(argc - 2, argv + 2, false);
	if (!strcmp(sub, "self-signed") && argc >= 3)
		return issue(argc - 2, argv + 2, true);
	if (!strcmp(sub, "revoke"))
		return cert_revoke(argc - 1, argv + 1);
	if (!strcmp(sub, "crl"))
		return cert_crl(argc - 1, argv + 1);
	if (!strcmp(sub, "show"))
		return cert_show(c, argc - 1, argv + 1);
	return usage();
}
