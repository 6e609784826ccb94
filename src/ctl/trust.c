/*
 * ctl trust: the CA certificates the server trusts, kept as files in a
 * directory per store, which the server loads whole at start and again on
 * SIGHUP (tls/clientauth.c):
 *
 *   client  certificates of clients (SASL EXTERNAL): the directory
 *           c2s.client_ca names (default trust/client beside the
 *           configuration)
 *   s2s     certificates of federated servers: trust/s2s beside the
 *           configuration (no setting names it yet; federation will read it)
 *
 * Only CA certificates go in: a pin (parleyctl user cert add) narrows
 * which verified certificates an account accepts, it never lets an
 * unverified one in.  Each is written as
 * NAME-FINGERPRINT.pem, NAME from its CN, so that names are stable, safe
 * and unique, and `trust remove` takes the file name, its stem or the
 * fingerprint.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "core/buf.h"
#include "core/config.h"
#include "ctl/ctl.h"
#include "store/store.h"
#include "tls/cert.h"

enum { TRUST_STEM_MAX = 40 };

static int usage(void)
{
	fprintf(stderr, "usage: parleyctl [-c FILE] trust add --store client|s2s CA_FILE\n"
			"       parleyctl [-c FILE] trust list --store client|s2s\n"
			"       parleyctl [-c FILE] trust remove --store client|s2s NAME|FINGERPRINT|CA_FILE\n");
	return CTL_USAGE;
}

static void reload_hint(void)
{
	printf("a running server applies this on SIGHUP: kill -HUP <parleyd pid>\n");
}

/* The store's directory (heap), or NULL after saying why. */
static char *trust_dir(struct ctl *c, const char *store)
{
	const struct config *cfg = ctl_config(c);
	if (!cfg)
		return NULL;
	struct buf b = BUF_INIT;
	if (!strcmp(store, "client")) {
		if (!cfg->c2s.client_ca) {
			ctl_error("c2s.client_ca is empty in %s: no client trust store to manage", cfg->path);
			return NULL;
		}
		struct stat st;
		if (stat(cfg->c2s.client_ca, &st) == 0 && !S_ISDIR(st.st_mode)) {
			ctl_error("c2s.client_ca is the file %s; parleyctl trust manages a directory "
				  "(point c2s.client_ca at one)",
				  cfg->c2s.client_ca);
			return NULL;
		}
		buf_append_str(&b, cfg->c2s.client_ca);
	} else if (!strcmp(store, "s2s")) {
		buf_printf(&b, "%s/trust/s2s", cfg->dir);
	} else {
		ctl_error("--store %s: the stores are client and s2s", store);
		return NULL;
	}
	return buf_steal(&b);
}

/* mkdir -p for the trust directory (the parents of a default one may be
 * missing in an instance made before trust stores existed). */
static int mkdir_parents(const char *dir)
{
	char *p = strdup(dir);
	int rc = 0;
	for (char *s = p + 1; rc == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			ctl_error("cannot create %s: %s", p, strerror(errno));
			rc = -1;
		}
		*s = saved;
		if (saved == '\0')
			break;
	}
	free(p);
	return rc;
}

/* A file name from the CN: letters, digits, '-', '_' and '.' kept, the
 * rest '_', so that no CN can name a path. */
static void trust_stem(X509 *x, char *out, size_t n)
{
	char cn[TRUST_STEM_MAX + 1] = "";
	X509_NAME *name = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i >= 0) {
		const ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
		int len = ASN1_STRING_length(d);
		const unsigned char *p = ASN1_STRING_get0_data(d);
		size_t k = 0;
		for (int j = 0; j < len && k < TRUST_STEM_MAX; j++) {
			unsigned char ch = p[j];
			bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || (ch == '.' && k > 0);
			cn[k++] = ok ? (char)ch : '_';
		}
		cn[k] = '\0';
	}
	snprintf(out, n, "%s", cn[0] ? cn : "ca");
}

struct trust_entry {
	char *file; /* name within the directory */
	STACK_OF(X509) *certs;
	char *err;  /* why it cannot be read */
};

struct trust_list {
	struct trust_entry *e;
	size_t n;
};

static void trust_list_clear(struct trust_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->e[i].file);
		sk_X509_pop_free(l->e[i].certs, X509_free);
		free(l->e[i].err);
	}
	free(l->e);
	memset(l, 0, sizeof(*l));
}

/* Every non-hidden regular file of `dir`, in name order, parsed. */
static int trust_list_read(const char *dir, struct trust_list *l)
{
	memset(l, 0, sizeof(*l));
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		ctl_error("cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	l->e = calloc((size_t)n + 1, sizeof(*l->e));
	struct buf p = BUF_INIT;
	for (int i = 0; i < n; i++) {
		struct stat st;
		buf_reset(&p);
		buf_printf(&p, "%s/%s", dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(buf_cstr(&p), &st) == 0 && S_ISREG(st.st_mode)) {
			struct trust_entry *e = &l->e[l->n++];
			e->file = strdup(names[i]->d_name);
			if (tls_file_read_certs(buf_cstr(&p), &e->certs, &e->err) < 0)
				e->certs = NULL;
		}
		free(names[i]);
	}
	free(names);
	buf_clear(&p);
	return 0;
}

/* The file already holding a certificate with this fingerprint, or NULL. */
static const char *trust_find_fp(const struct trust_list *l, const char *fp)
{
	for (size_t i = 0; i < l->n; i++) {
		for (int k = 0; l->e[i].certs && k < sk_X509_num(l->e[i].certs); k++) {
			char f[TLS_FINGERPRINT_HEX + 1];
			tls_cert_fingerprint(sk_X509_value(l->e[i].certs, k), f);
			if (!strcmp(f, fp))
				return l->e[i].file;
		}
	}
	return NULL;
}

static int trust_add(const char *dir, const char *file)
{
	STACK_OF(X509) *certs = NULL;
	char *err = NULL;
	if (tls_file_read_certs(file, &certs, &err) < 0) {
		ctl_error("%s", err);
		free(err);
		return CTL_FAIL;
	}
	int rc = CTL_FAIL;
	struct trust_list l = {0};
	struct buf p = BUF_INIT;
	char name[256], when[64];
	/* All or nothing: check every certificate before writing one. */
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		tls_name_str(X509_get_subject_name(x), name, sizeof(name));
		if (!tls_cert_is_ca(x)) {
			ctl_error("%s: \"%s\" is not a CA certificate (no basicConstraints CA:TRUE); a "
				  "trust store holds the CAs that issue certificates: add the one that "
				  "issued it",
				  file, name);
			goto out;
		}
		if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
			ctl_error("%s: CA \"%s\" expired on %s; nothing it issued would verify", file, name,
				  tls_time_str(X509_get0_notAfter(x), when, sizeof(when)));
			goto out;
		}
	}
	if (mkdir_parents(dir) < 0 || trust_list_read(dir, &l) < 0)
		goto out;
	size_t added = 0;
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		char fp[TLS_FINGERPRINT_HEX + 1], stem[TRUST_STEM_MAX + 1];
		tls_cert_fingerprint(x, fp);
		tls_name_str(X509_get_subject_name(x), name, sizeof(name));
		const char *have = trust_find_fp(&l, fp);
		if (have) {
			printf("\"%s\" is trusted already (%s/%s)\n", name, dir, have);
			continue;
		}
		trust_stem(x, stem, sizeof(stem));
		buf_reset(&p);
		buf_printf(&p, "%s/%s-%.16s.pem", dir, stem, fp);
		if (tls_file_write_pem(buf_cstr(&p), 0644, &x, 1, NULL, NULL, false, &err) < 0) {
			ctl_error("%s", err);
			free(err);
			goto out;
		}
		printf("trusted \"%s\" (sha256 %s, until %s) as %s\n", name, fp,
		       tls_time_str(X509_get0_notAfter(x), when, sizeof(when)), buf_cstr(&p));
		added++;
	}
	if (added) {
		reload_hint();
		rc = CTL_OK;
	}
out:
	trust_list_clear(&l);
	buf_clear(&p);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

static int trust_show(const char *dir, const char *store)
{
	struct trust_list l;
	if (trust_list_read(dir, &l) < 0)
		return CTL_FAIL;
	size_t ncas = 0;
	printf("%s trust store %s\n", store, dir);
	for (size_t i = 0; i < l.n; i++) {
		const struct trust_entry *e = &l.e[i];
		bool read = tls_trust_file_name(e->file);
		printf("%s%s\n", e->file, read ? "" : "  (not read by the server: not *.pem, *.crt or *.cer)");
		if (!e->certs) {
			printf("  unreadable: %s\n", e->err);
			continue;
		}
		for (int k = 0; k < sk_X509_num(e->certs); k++) {
			X509 *x = sk_X509_value(e->certs, k);
			char name[256], when[64], fp[TLS_FINGERPRINT_HEX + 1];
			tls_cert_fingerprint(x, fp);
			bool ca = tls_cert_is_ca(x);
			bool expired = X509_cmp_current_time(X509_get0_notAfter(x)) < 0;
			printf("  subject: %s%s\n  expires: %s%s\n  sha256:  %s\n",
			       tls_name_str(X509_get_subject_name(x), name, sizeof(name)),
			       ca ? "" : "  (not a CA: skipped by the server)",
			       tls_time_str(X509_get0_notAfter(x), when, sizeof(when)), expired ? "  (expired)" : "",
			       fp);
			if (ca && read)
				ncas++;
		}
	}
	if (ncas == 0)
		printf("no trusted CA%s: add one with parleyctl trust add --store %s CA_FILE\n",
		       !strcmp(store, "client") ? " (no client certificate can verify)" : "", store);
	trust_list_clear(&l);
	return CTL_OK;
}

static int trust_remove(const char *dir, const char *what)
{
	struct trust_list l;
	if (trust_list_read(dir, &l) < 0)
		return CTL_FAIL;
	char fp[STORE_FINGERPRINT_LEN + 1];
	bool by_fp = store_fingerprint_norm(what, fp);
	/* A CA file (the one given to trust add) names its certificate. */
	STACK_OF(X509) *given = NULL;
	char *err = NULL;
	if (!by_fp && strchr(what, '/') && tls_file_read_certs(what, &given, &err) == 0) {
		tls_cert_fingerprint(sk_X509_value(given, 0), fp);
		by_fp = true;
	}
	free(err);
	sk_X509_pop_free(given, X509_free);
	size_t removed = 0;
	int rc = CTL_FAIL;
	struct buf p = BUF_INIT;
	for (size_t i = 0; i < l.n; i++) {
		const struct trust_entry *e = &l.e[i];
		size_t n = strlen(e->file);
		bool match = !strcmp(e->file, what) ||
			     (n > 4 && !strcmp(e->file + n - 4, ".pem") && strlen(what) == n - 4 &&
			      !strncmp(e->file, what, n - 4));
		for (int k = 0; !match && by_fp && e->certs && k < sk_X509_num(e->certs); k++) {
			char f[TLS_FINGERPRINT_HEX + 1];
			tls_cert_fingerprint(sk_X509_value(e->certs, k), f);
			match = !strcmp(f, fp);
		}
		if (!match)
			continue;
		buf_reset(&p);
		buf_printf(&p, "%s/%s", dir, e->file);
		if (unlink(buf_cstr(&p)) != 0) {
			ctl_error("cannot remove %s: %s", buf_cstr(&p), strerror(errno));
			goto out;
		}
		printf("removed %s\n", buf_cstr(&p));
		removed++;
	}
	if (!removed) {
		ctl_error("nothing in %s is named '%s' or has its fingerprint (see parleyctl trust list)", dir,
			  what);
		goto out;
	}
	reload_hint();
	rc = CTL_OK;
out:
	buf_clear(&p);
	trust_list_clear(&l);
	return rc;
}

int ctl_trust(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"store", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	if (argc < 2)
		return usage();
	const char *sub = argv[1];
	const char *store = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc - 1, argv + 1, "", longopts, NULL)) != -1) {
		if (opt != 's')
			return usage();
		store = optarg;
	}
	int nargs = argc - 1 - optind;
	char **args = argv + 1 + optind;
	if (!store) {
		ctl_error("say which store: --store client or --store s2s");
		return usage();
	}
	bool add = !strcmp(sub, "add"), list = !strcmp(sub, "list"), remove = !strcmp(sub, "remove");
	if ((!add && !list && !remove) || nargs != (list ? 0 : 1))
		return usage();
	char *dir = trust_dir(c, store);
	if (!dir)
		return CTL_USAGE;
	int rc = add ? trust_add(dir, args[0]) : list ? trust_show(dir, store) : trust_remove(dir, args[0]);
	free(dir);
	return rc;
}
