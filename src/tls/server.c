/*
 * tls server contexts: one SSL_CTX per virtual host, loaded at start and
 * again on a reload (each load a new immutable generation that new sessions
 * take; established ones keep theirs), and the SNI callback that moves a
 * handshake onto the context of the host the client asked for.
 *
 * This file decides policy (versions, ciphers, options), for client
 * contexts too (client.c), and turns loading failures into lines an
 * operator can act on.  It does not verify peers (trust stores and
 * certificate identities are separate concerns of tls/), and it never
 * touches a socket: session.c does.
 */
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "core/config.h"
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "tls/cert.h"
#include "tls/internal.h"

/* Forward secrecy and AEAD only.  DHE stays for the few clients without
 * ECDHE; its group comes from OpenSSL's RFC 7919 set (dh_auto), so there is
 * no parameter file to manage. */
static const char tls_default_ciphers[] =
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
	"DHE-RSA-CHACHA20-POLY1305";

/* The same for every context: when SNI moves an SSL to another context,
 * OpenSSL carries the session id context over only if both agree, and
 * without one resumption fails as soon as client certificates are asked. */
static const unsigned char tls_sid_ctx[] = "parley";

void *tls_must(void *p, const char *what)
{
	if (!p)
		log_fatal("tls", "out of memory in %s", what);
	return p;
}

void tls_errs_take(struct tls_errs *e)
{
	unsigned long c;
	e->n = 0;
	while ((c = ERR_get_error()) != 0)
		if (e->n < sizeof(e->code) / sizeof(e->code[0]))
			e->code[e->n++] = c;
}

bool tls_errs_has(const struct tls_errs *e, int lib, int reason)
{
	for (size_t i = 0; i < e->n; i++)
		if (ERR_GET_LIB(e->code[i]) == lib && ERR_GET_REASON(e->code[i]) == reason)
			return true;
	return false;
}

const char *tls_errs_text(const struct tls_errs *e, char *tmp, size_t n)
{
	if (e->n == 0)
		return "unknown error";
	const char *r = ERR_reason_error_string(e->code[0]);
	if (r)
		return r;
	ERR_error_string_n(e->code[0], tmp, n);
	return tmp;
}

static char *errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *errorf(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_steal(&b);
}

/* OpenSSL's own messages for a missing file are a two-entry chain about
 * fopen; the operator wants one phrase.  NULL when the file looks usable. */
static const char *file_problem(const char *path, char *tmp, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return "no such file";
		if (e == EACCES) {
			snprintf(tmp, n, "permission denied (Parley runs as uid %u)", (unsigned)geteuid());
			return tmp;
		}
		return strerror_r(e, tmp, n);
	}
	const char *problem = NULL;
	struct stat st;
	if (fstat(fd, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			problem = "is a directory";
		else if (S_ISREG(st.st_mode) && st.st_size == 0)
			problem = "empty file";
	}
	close(fd);
	return problem;
}

/* Never prompt: OpenSSL's default reads a passphrase from the terminal,
 * which would hang a daemon at start.  `u` records that one was wanted. */
static int password_refuse(char *buf, int size, int rwflag, void *u)
{
	if (u)
		*(bool *)u = true;
	return -1;
}

static EVP_PKEY *key_load(const char *domain, const char *path, char **err)
{
	char tmp[256];
	const char *problem = file_problem(path, tmp, sizeof(tmp));
	if (problem) {
		*err = errorf("host %s: key file %s: %s", domain, path, problem);
		return NULL;
	}
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & S_IROTH))
		log_warn("tls", "host %s: key file %s is readable by every user; chmod 600 it", domain,
			 path);

	BIO *bio = BIO_new_file(path, "r");
	EVP_PKEY *key = NULL;
	bool wanted_password = false;
	if (bio)
		key = PEM_read_bio_PrivateKey_ex(bio, NULL, password_refuse, &wanted_password, NULL,
						 NULL);
	BIO_free(bio);
	if (key)
		return key;

	struct tls_errs e;
	tls_errs_take(&e);
	if (wanted_password)
		*err = errorf("host %s: key file %s: the key is protected by a passphrase; Parley "
			      "needs it unencrypted (openssl pkey -in %s -out NEW.key)",
			      domain, path, path);
	else if (e.n == 0 || tls_errs_has(&e, ERR_LIB_PEM, PEM_R_NO_START_LINE) ||
		 tls_errs_has(&e, ERR_LIB_OSSL_DECODER, ERR_GET_REASON(ERR_R_UNSUPPORTED)))
		/* OpenSSL 3's decoders say only "unsupported" for a file with
		 * no key in it (a certificate given as the key, say). */
		*err = errorf("host %s: key file %s: no PEM private key found", domain, path);
	else
		*err = errorf("host %s: key file %s: %s", domain, path,
			      tls_errs_text(&e, tmp, sizeof(tmp)));
	return NULL;
}

static int cert_load(SSL_CTX *ctx, const struct tls_host *h, char **err)
{
	char tmp[256];
	const char *problem = file_problem(h->cert_file, tmp, sizeof(tmp));
	if (problem) {
		*err = errorf("host %s: certificate file %s: %s", h->domain, h->cert_file, problem);
		return -1;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, h->cert_file) != 1) {
		struct tls_errs e;
		tls_errs_take(&e);
		if (tls_errs_has(&e, ERR_LIB_PEM, PEM_R_NO_START_LINE))
			*err = errorf("host %s: certificate file %s: no PEM certificate found",
				      h->domain, h->cert_file);
		else
			*err = errorf("host %s: certificate file %s: %s", h->domain, h->cert_file,
				      tls_errs_text(&e, tmp, sizeof(tmp)));
		return -1;
	}

	/* Load anyway: a server with one stale host should still serve the
	 * others, and the log line says what clients will see. */
	X509 *leaf = SSL_CTX_get0_certificate(ctx);
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
		log_warn("tls", "host %s: certificate %s has expired; peers will refuse it",
			 h->domain, h->cert_file);
	else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
		log_warn("tls", "host %s: certificate %s is not valid yet (check the clock)",
			 h->domain, h->cert_file);
	return 0;
}

int tls_ctx_use_host(SSL_CTX *ctx, const struct tls_host *h, char **err)
{
	EVP_PKEY *key = NULL;
	if (cert_load(ctx, h, err) < 0)
		return -1;
	key = key_load(h->domain, h->key_file, err);
	if (!key)
		return -1;
	/* Checked here rather than left to SSL_CTX_use_PrivateKey: a key of
	 * another type would land in another slot and the mismatch would
	 * surface as a confusing "no certificate assigned". */
	if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), key) != 1) {
		ERR_clear_error();
		*err = errorf("host %s: key file %s: key does not match certificate %s", h->domain,
			      h->key_file, h->cert_file);
		goto free_key;
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		char tmp[256];
		struct tls_errs e;
		tls_errs_take(&e);
		*err = errorf("host %s: key file %s: %s", h->domain, h->key_file,
			      tls_errs_text(&e, tmp, sizeof(tmp)));
		goto free_key;
	}
	EVP_PKEY_free(key);
	return 0;

free_key:
	EVP_PKEY_free(key);
	return -1;
}

int tls_ctx_policy(SSL_CTX *ctx, const char *ciphers, const char *ciphersuites, bool tls13_only,
		   char **err)
{
	char tmp[256];
	struct tls_errs e;
	SSL_CTX_set_min_proto_version(ctx, tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	/* No SSL_MODE_RELEASE_BUFFERS: it frees and re-allocates the record
	 * buffers around every read of a busy connection, yet keeps them on an
	 * idle one (after a read that found nothing).  The conn releases them
	 * explicitly once a connection goes quiet (tls_transport_ops.trim). */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_default_passwd_cb(ctx, password_refuse);

	if (!ciphers)
		ciphers = tls_default_ciphers;
	if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		ERR_clear_error();
		*err = errorf("TLS 1.2 ciphers \"%s\": OpenSSL knows none of them", ciphers);
		return -1;
	}
	if (ciphersuites && SSL_CTX_set_ciphersuites(ctx, ciphersuites) != 1) {
		tls_errs_take(&e);
		*err = errorf("TLS 1.3 ciphersuites \"%s\": %s", ciphersuites,
			      tls_errs_text(&e, tmp, sizeof(tmp)));
		return -1;
	}
	return 0;
}

static SSL_CTX *ctx_new(const struct tls_server_config *cfg, const struct tls_host *h, char **err)
{
	char tmp[256];
	struct tls_errs e;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		tls_errs_take(&e);
		*err = errorf("host %s: cannot create a TLS context: %s", h->domain,
			      tls_errs_text(&e, tmp, sizeof(tmp)));
		return NULL;
	}

	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Resumption through tickets only: a server-side cache would be shared
	 * mutable state between workers and memory per past client. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* One TLS 1.3 ticket is enough for a client that reconnects; the
	 * default two cost a second encryption per handshake. */
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_session_id_context(ctx, tls_sid_ctx, sizeof(tls_sid_ctx) - 1);
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, NULL);

	if (tls_ctx_policy(ctx, cfg->ciphers, cfg->ciphersuites, cfg->tls13_only, err) < 0 ||
	    tls_ctx_use_host(ctx, h, err) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static bool domain_eq(const char *domain, const char *name, size_t len)
{
	return strlen(domain) == len && strncasecmp(domain, name, len) == 0;
}

/* Runs on the context the SSL was made from (hosts[0]'s of the session's
 * generation, `arg`), during the ClientHello, on whichever worker does the
 * handshake.  The session holds that generation until the handshake ends,
 * so a reload meanwhile cannot free it. */
static int sni_select(SSL *ssl, int *alert, void *arg)
{
	const struct tls_server_gen *gen = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (!name)
		return SSL_TLSEXT_ERR_NOACK;
	size_t len = strlen(name);
	/* RFC 6066 forbids the trailing dot, yet some clients send it. */
	if (len > 0 && name[len - 1] == '.')
		len--;
	for (size_t i = 0; i < gen->nhosts; i++) {
		if (!domain_eq(gen->hosts[i].domain, name, len))
			continue;
		if (i > 0) {
			if (!SSL_set_SSL_CTX(ssl, gen->hosts[i].ctx)) {
				*alert = SSL_AD_INTERNAL_ERROR;
				return SSL_TLSEXT_ERR_ALERT_FATAL;
			}
			tls_verify_after_sni(SSL_get_app_data(ssl));
		}
		return SSL_TLSEXT_ERR_OK;
	}
	log_debug("tls", "SNI \"%s\" names no configured host; serving %s's certificate", name,
		  gen->hosts[0].domain);
	return SSL_TLSEXT_ERR_OK;
}

/* ---- Generations ---- */

static void hosts_clear(struct tls_server_host *hosts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		SSL_CTX_free(hosts[i].ctx);
		free(hosts[i].domain);
		free(hosts[i].cert_file);
	}
}

void tls_server_gen_unref(struct tls_server_gen *g)
{
	if (!g || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
		return;
	hosts_clear(g->hosts, g->nhosts);
	free(g);
}

int tls_hosts_check(const struct tls_host *hosts, size_t nhosts, char **err)
{
	if (nhosts == 0 || !hosts) {
		*err = errorf("no TLS hosts configured");
		return -1;
	}
	for (size_t i = 0; i < nhosts; i++) {
		const struct tls_host *h = &hosts[i];
		if (!h->domain || !*h->domain) {
			*err = errorf("host #%zu: no domain given", i + 1);
			return -1;
		}
		if (!h->cert_file || !h->key_file) {
			*err = errorf("host %s: %s file not configured", h->domain,
				      h->cert_file ? "key" : "certificate");
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcasecmp(hosts[j].domain, h->domain) == 0) {
				*err = errorf("host %s: listed twice", h->domain);
				return -1;
			}
		}
	}
	return 0;
}

static struct tls_server_gen *gen_new(const struct tls_server_config *cfg, char **err)
{
	*err = NULL;
	if (!cfg) {
		*err = errorf("no TLS hosts configured");
		return NULL;
	}
	if (tls_hosts_check(cfg->hosts, cfg->nhosts, err) < 0)
		return NULL;
	struct tls_server_gen *g =
		xcalloc(1, sizeof(*g) + cfg->nhosts * sizeof(struct tls_server_host));
	atomic_init(&g->refs, 1);
	for (size_t i = 0; i < cfg->nhosts; i++) {
		const struct tls_host *h = &cfg->hosts[i];
		SSL_CTX *ctx = ctx_new(cfg, h, err);
		if (!ctx)
			goto free_gen;
		g->hosts[i].domain = xstrdup(h->domain);
		g->hosts[i].cert_file = xstrdup(h->cert_file);
		g->hosts[i].ctx = ctx;
		g->nhosts = i + 1;
	}
	SSL_CTX_set_tlsext_servername_callback(g->hosts[0].ctx, sni_select);
	SSL_CTX_set_tlsext_servername_arg(g->hosts[0].ctx, g);
	return g;

free_gen:
	tls_server_gen_unref(g);
	return NULL;
}

struct tls_server_gen *tls_server_current(struct tls_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	struct tls_server_gen *g = srv->current;
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&srv->lock);
	return g;
}

struct tls_host *tls_hosts_from_config(const struct config *cfg)
{
	struct tls_host *hosts = xcalloc(cfg->nhosts ? cfg->nhosts : 1, sizeof(*hosts));
	for (size_t i = 0; i < cfg->nhosts; i++) {
		hosts[i].domain = cfg->hosts[i].domain;
		hosts[i].cert_file = cfg->hosts[i].certificate;
		hosts[i].key_file = cfg->hosts[i].key;
	}
	return hosts;
}

/* ---- The holder ---- */

struct tls_server *tls_server_new(const struct tls_server_config *cfg, char **err)
{
	struct tls_server_gen *g = gen_new(cfg, err);
	if (!g)
		return NULL;
	struct tls_server *srv = xcalloc(1, sizeof(*srv));
	if (pthread_mutex_init(&srv->lock, NULL) != 0)
		log_fatal("tls", "cannot create a mutex");
	g->number = srv->generations = 1;
	srv->current = g;
	return srv;
}

int tls_server_reload(struct tls_server *srv, const struct tls_server_config *cfg, char **err)
{
	struct tls_server_gen *g = gen_new(cfg, err);
	if (!g)
		return -1;
	pthread_mutex_lock(&srv->lock);
	struct tls_server_gen *old = srv->current;
	g->number = ++srv->generations;
	srv->current = g;
	pthread_mutex_unlock(&srv->lock);
	/* Sessions made from the old generation hold their SSL_CTX (and,
	 * until their handshake ends, the generation). */
	tls_server_gen_unref(old);
	return 0;
}

unsigned tls_server_generation(struct tls_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	unsigned n = srv->current->number;
	pthread_mutex_unlock(&srv->lock);
	return n;
}

void tls_server_free(struct tls_server *srv)
{
	if (!srv)
		return;
	tls_server_gen_unref(srv->current);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

/* ---- Expiry ---- */

void tls_cert_dates_add(struct tls_cert_dates *d, const char *domain, const char *file, bool chain,
			X509 *x)
{
	char subject[256];
	struct tm tm;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) {
		ERR_clear_error();
		return;
	}
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 8;
		d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	struct tls_cert_date *e = &d->v[d->n++];
	*e = (struct tls_cert_date){
		.domain = domain ? xstrdup(domain) : NULL,
		.file = xstrdup(file),
		.subject = xstrdup(tls_name_str(X509_get_subject_name(x), subject, sizeof(subject))),
		.chain = chain,
		.ca = tls_cert_is_ca(x),
		.not_after = (long long)timegm(&tm),
	};
}

void tls_server_cert_dates(struct tls_server *srv, struct tls_cert_dates *out)
{
	struct tls_server_gen *g = tls_server_current(srv);
	for (size_t i = 0; i < g->nhosts; i++) {
		SSL_CTX *ctx = g->hosts[i].ctx;
		X509 *leaf = SSL_CTX_get0_certificate(ctx);
		if (leaf)
			tls_cert_dates_add(out, g->hosts[i].domain, g->hosts[i].cert_file, false, leaf);
		STACK_OF(X509) *chain = NULL;
		if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1)
			for (int k = 0; k < sk_X509_num(chain); k++)
				tls_cert_dates_add(out, g->hosts[i].domain, g->hosts[i].cert_file, true,
					   sk_X509_value(chain, k));
	}
	tls_server_gen_unref(g);
}

void tls_cert_dates_clear(struct tls_cert_dates *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].domain);
		free(d->v[i].file);
		free(d->v[i].subject);
	}
	free(d->v);
	*d = (struct tls_cert_dates){0};
}
