/*
 * manage trust: the CA certificates the server trusts, kept as files in a
 * directory per store, which the server loads whole at start and again on
 * SIGHUP (tls/clientauth.c):
 *
 *   client  certificates of clients (SASL EXTERNAL): the directory
 *           c2s.client_ca names (default trust/client beside the
 *           configuration)
 *   s2s     certificates of peer servers (SASL EXTERNAL between servers):
 *           the directory s2s.ca names (default trust/s2s)
 *
 * Only CA certificates go in: a pin (manage_user_pin_add) narrows which
 * verified certificates an account accepts, it never lets an unverified
 * one in.  Each is written as NAME-FINGERPRINT.pem, NAME from its CN, so
 * that names are stable, safe and unique, and removing takes the file
 * name, its stem or the fingerprint.  Removal only ever unlinks entries
 * read from the directory, so no argument can name a path outside it.
 *
 * Not here: reloading the server (the front end's: a signal, or the
 * server's own reload when the admin API runs inside it).
 */
#include "manage/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "tls/cert.h"

enum { TRUST_STEM_MAX = 40 };

static const char *const store_names[MANAGE_TRUST_STORES] = {
	[MANAGE_TRUST_CLIENT] = "client",
	[MANAGE_TRUST_S2S] = "s2s",
};

/* The setting that names each store's directory, and its value. */
static const char *const store_settings[MANAGE_TRUST_STORES] = {
	[MANAGE_TRUST_CLIENT] = "c2s.client_ca",
	[MANAGE_TRUST_S2S] = "s2s.ca",
};

static const char *store_setting_value(const struct config *cfg, enum manage_trust_store t)
{
	return t == MANAGE_TRUST_CLIENT ? cfg->c2s.client_ca : cfg->s2s.ca;
}

const char *manage_trust_store_name(enum manage_trust_store t)
{
	return (unsigned)t < MANAGE_TRUST_STORES ? store_names[t] : NULL;
}

bool manage_trust_store_parse(const char *name, enum manage_trust_store *out)
{
	for (int t = 0; name && t < MANAGE_TRUST_STORES; t++)
		if (!strcmp(name, store_names[t])) {
			*out = (enum manage_trust_store)t;
			return true;
		}
	return false;
}

enum manage_result manage_trust_dir(const struct config *cfg, enum manage_trust_store t,
				    struct arena *a, const char **dir, struct manage_err *err)
{
	*dir = NULL;
	if ((unsigned)t >= MANAGE_TRUST_STORES)
		return manage_fail(err, MANAGE_INVALID, "the trust stores are client and s2s");
	const char *setting = store_settings[t], *value = store_setting_value(cfg, t);
	if (!value)
		return manage_fail(err, MANAGE_INVALID, "%s is empty in %s: no %s trust store to manage",
				   setting, cfg->path, store_names[t]);
	struct stat st;
	if (stat(value, &st) == 0 && !S_ISDIR(st.st_mode))
		return manage_fail(err, MANAGE_INVALID,
				   "%s is the file %s; trust stores are managed as directories "
				   "(point %s at one)",
				   setting, value, setting);
	*dir = arena_strdup(a, value);
	return MANAGE_OK;
}

/* mkdir -p for the trust directory (the parents of a default one may be
 * missing in an instance made before trust stores existed). */
static enum manage_result mkdir_parents(const char *dir, struct manage_err *err)
{
	char *p = xstrdup(dir);
	enum manage_result r = MANAGE_OK;
	for (char *s = p + 1; r == MANAGE_OK; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			r = manage_fail(err, MANAGE_ERROR, "cannot create %s: %s", p, strerror(errno));
		*s = saved;
		if (saved == '\0')
			break;
	}
	free(p);
	return r;
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

/* ---- Reading a directory ---- */

/* Every non-hidden regular file of `dir`, in name order, parsed, into
 * `a`; an empty list when the directory does not exist. */
static enum manage_result trust_read(struct arena *a, const char *dir, struct manage_trust_list *l,
				     struct manage_err *err)
{
	memset(l, 0, sizeof(*l));
	l->dir = arena_strdup(a, dir);
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		if (errno == ENOENT)
			return MANAGE_OK;
		return manage_fail(err, MANAGE_ERROR, "cannot read %s: %s", dir, strerror(errno));
	}
	l->files = arena_zalloc(a, ((size_t)n + 1) * sizeof(*l->files));
	struct buf p = BUF_INIT;
	for (int i = 0; i < n; i++) {
		struct stat st;
		buf_reset(&p);
		buf_printf(&p, "%s/%s", dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(buf_cstr(&p), &st) == 0 && S_ISREG(st.st_mode)) {
			struct manage_trust_file *f = &l->files[l->nfiles++];
			f->name = arena_strdup(a, names[i]->d_name);
			f->read_by_server = tls_trust_file_name(f->name);
			struct manage_err why;
			if (manage_certs_read_file(a, buf_cstr(&p), &f->certs, &f->ncerts, &why) != MANAGE_OK)
				f->unreadable = arena_strdup(a, why.msg);
			for (size_t k = 0; k < f->ncerts; k++)
				if (f->read_by_server && f->certs[k].ca)
					l->ncas++;
		}
		free(names[i]);
	}
	free(names);
	buf_clear(&p);
	return MANAGE_OK;
}

/* The file already holding a certificate with this fingerprint, or NULL. */
static const char *trust_find_fp(const struct manage_trust_list *l, const char *fp)
{
	for (size_t i = 0; i < l->nfiles; i++)
		for (size_t k = 0; k < l->files[i].ncerts; k++)
			if (!strcmp(l->files[i].certs[k].fingerprint, fp))
				return l->files[i].name;
	return NULL;
}

enum manage_result manage_trust_list(const struct config *cfg, enum manage_trust_store t,
				     struct arena *a, struct manage_trust_list *out,
				     struct manage_err *err)
{
	const char *dir;
	memset(out, 0, sizeof(*out));
	enum manage_result r = manage_trust_dir(cfg, t, a, &dir, err);
	return r != MANAGE_OK ? r : trust_read(a, dir, out, err);
}

/* ---- Adding ---- */

static enum manage_result trust_add(const struct config *cfg, enum manage_trust_store t,
				    struct arena *a, STACK_OF(X509) *certs, const char *source,
				    struct manage_trust_added **added, size_t *nadded,
				    struct manage_err *err)
{
	const char *dir;
	enum manage_result r = manage_trust_dir(cfg, t, a, &dir, err);
	if (r != MANAGE_OK)
		return r;
	size_t n = (size_t)sk_X509_num(certs);
	struct manage_trust_added *out = arena_zalloc(a, n * sizeof(*out));
	/* All or nothing: check every certificate before writing one. */
	for (size_t i = 0; i < n; i++) {
		struct manage_cert *c = &out[i].cert;
		manage_x509_describe(sk_X509_value(certs, (int)i), c);
		if (!c->ca)
			return manage_fail(err, MANAGE_INVALID,
					   "%s: \"%s\" is not a CA certificate (no basicConstraints CA:TRUE); "
					   "a trust store holds the CAs that issue certificates: add the one "
					   "that issued it",
					   source, c->subject);
		if (c->expired)
			return manage_fail(err, MANAGE_INVALID,
					   "%s: CA \"%s\" expired on %s; nothing it issued would verify", source,
					   c->subject, c->not_after);
	}
	struct manage_trust_list l;
	r = mkdir_parents(dir, err);
	if (r == MANAGE_OK)
		r = trust_read(a, dir, &l, err);
	if (r != MANAGE_OK)
		return r;
	*added = out;
	size_t written = 0;
	for (size_t i = 0; i < n; i++, *nadded = i) {
		X509 *x = sk_X509_value(certs, (int)i);
		const char *have = trust_find_fp(&l, out[i].cert.fingerprint);
		if (have) {
			out[i].path = arena_printf(a, "%s/%s", dir, have);
			out[i].already = true;
			continue;
		}
		char stem[TRUST_STEM_MAX + 1];
		trust_stem(x, stem, sizeof(stem));
		out[i].path = arena_printf(a, "%s/%s-%.16s.pem", dir, stem, out[i].cert.fingerprint);
		char *why = NULL;
		if (tls_file_write_pem(out[i].path, 0644, &x, 1, NULL, NULL, false, &why) < 0) {
			manage_fail(err, MANAGE_ERROR, "%s", why);
			free(why);
			return MANAGE_ERROR;
		}
		written++;
	}
	*nadded = n;
	if (!written)
		return manage_fail(err, MANAGE_EXISTS, "%s: every certificate is trusted already", source);
	return MANAGE_OK;
}

enum manage_result manage_trust_add_pem(const struct config *cfg, enum manage_trust_store t,
					struct arena *a, const void *pem, size_t len,
					const char *source, struct manage_trust_added **added,
					size_t *n, struct manage_err *err)
{
	STACK_OF(X509) *certs = NULL;
	*added = NULL;
	*n = 0;
	if (!source)
		source = "the certificate";
	enum manage_result r = manage_x509_parse(pem, len, source, &certs, err);
	if (r == MANAGE_OK)
		r = trust_add(cfg, t, a, certs, source, added, n, err);
	sk_X509_pop_free(certs, X509_free);
	return r;
}

enum manage_result manage_trust_add_file(const struct config *cfg, enum manage_trust_store t,
					 struct arena *a, const char *path,
					 struct manage_trust_added **added, size_t *n,
					 struct manage_err *err)
{
	STACK_OF(X509) *certs = NULL;
	*added = NULL;
	*n = 0;
	enum manage_result r = manage_x509_read_file(path, &certs, err);
	if (r == MANAGE_OK)
		r = trust_add(cfg, t, a, certs, path, added, n, err);
	sk_X509_pop_free(certs, X509_free);
	return r;
}

/* ---- Removing ---- */

/* Whether `f` is named `what` (with or without .pem) or holds a
 * certificate with fingerprint `fp` (may be NULL). */
static bool trust_match(const struct manage_trust_file *f, const char *what, const char *fp)
{
	size_t n = strlen(f->name);
	if (!strcmp(f->name, what) || (n > 4 && !strcmp(f->name + n - 4, ".pem") &&
				       strlen(what) == n - 4 && !strncmp(f->name, what, n - 4)))
		return true;
	for (size_t k = 0; fp && k < f->ncerts; k++)
		if (!strcmp(f->certs[k].fingerprint, fp))
			return true;
	return false;
}

static enum manage_result trust_remove(const struct config *cfg, enum manage_trust_store t,
				       struct arena *a, const char *what, const char *fp,
				       const char ***removed, size_t *nremoved,
				       struct manage_err *err)
{
	const char *dir;
	struct manage_trust_list l;
	enum manage_result r = manage_trust_dir(cfg, t, a, &dir, err);
	if (r == MANAGE_OK)
		r = trust_read(a, dir, &l, err);
	if (r != MANAGE_OK)
		return r;
	const char **out = arena_alloc(a, (l.nfiles + 1) * sizeof(*out));
	*removed = out;
	for (size_t i = 0; i < l.nfiles; i++) {
		if (!trust_match(&l.files[i], what, fp))
			continue;
		const char *path = arena_printf(a, "%s/%s", dir, l.files[i].name);
		if (unlink(path) != 0)
			return manage_fail(err, MANAGE_ERROR, "cannot remove %s: %s", path, strerror(errno));
		out[(*nremoved)++] = path;
	}
	if (!*nremoved)
		return manage_fail(err, MANAGE_NOT_FOUND,
				   "nothing in %s is named '%s' or has its fingerprint", dir, what);
	return MANAGE_OK;
}

enum manage_result manage_trust_remove(const struct config *cfg, enum manage_trust_store t,
				       struct arena *a, const char *what, const char ***removed,
				       size_t *n, struct manage_err *err)
{
	char fp[STORE_FINGERPRINT_LEN + 1];
	*removed = NULL;
	*n = 0;
	if (!what || !*what)
		return manage_fail(err, MANAGE_INVALID, "say which certificate: a file name or a fingerprint");
	bool by_fp = store_fingerprint_norm(what, fp);
	return trust_remove(cfg, t, a, what, by_fp ? fp : NULL, removed, n, err);
}

enum manage_result manage_trust_remove_file(const struct config *cfg, enum manage_trust_store t,
					    struct arena *a, const char *path,
					    const char ***removed, size_t *n,
					    struct manage_err *err)
{
	STACK_OF(X509) *certs = NULL;
	*removed = NULL;
	*n = 0;
	enum manage_result r = manage_x509_read_file(path, &certs, err);
	if (r != MANAGE_OK)
		return r;
	struct manage_cert c;
	manage_x509_describe(sk_X509_value(certs, 0), &c);
	sk_X509_pop_free(certs, X509_free);
	return trust_remove(cfg, t, a, path, c.fingerprint, removed, n, err);
}
