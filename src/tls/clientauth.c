/*
 * tls client auth: client-certificate policy and trust stores, and the
 * verdict on the certificate a peer sent: a client's to a server session,
 * for a purpose (clientAuth by default), or a server's to a client session
 * (serverAuth by default, and the name it must carry).
 *
 * A generation is everything a handshake needs to judge a certificate,
 * built once: an X509_STORE filled from files up front (never a lookup
 * directory that OpenSSL would read lazily, mid-handshake, on a worker's
 * loop), the CRLs, the names of the CAs for CertificateRequest, and the
 * policy.  It is immutable and shared by every session that took it; a
 * reload makes a new one and swaps the holder's pointer.  The holder's
 * mutex guards only that pointer and the reference taken on it: a lock-free
 * read would need hazard pointers or epochs, since a swap may drop the last
 * reference between the load and the increment, and it is taken once per
 * new TLS session, never per record.
 *
 * The verify callback turns OpenSSL's verify errors into one sentence an
 * operator can act on and remembers the first.  It fails the handshake
 * only when policy says so (needed + disconnect_on_failure, or a client
 * session's require_valid); otherwise the stream reads the verdict after
 * the handshake and decides.  Matching a client's certificate names against
 * accounts is not done here; a server's name is checked here, against the
 * name a client session expects (tls_cert_ids_name).
 */
#include "tls/cert.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "tls/internal.h"

/* A session id context of its own: OpenSSL then refuses to resume, on a
 * session that asks for a certificate, a session made without one. */
static const unsigned char ca_sid_ctx[] = "parley-client-cert";

enum { CA_DEPTH_MAX = 16 };

/* Owner: shared by reference count (the holder while current, each
 * session that took it, each check running on it).  Immutable once built,
 * so any thread may use it; OpenSSL's X509_STORE is safe to verify against
 * from several threads. */
struct tls_client_auth_gen {
	atomic_uint refs;
	unsigned number;
	enum tls_client_certs mode;
	bool accept_selfsigned;
	bool disconnect_on_failure;
	bool requests;
	int depth;
	X509_STORE *store;
	STACK_OF(X509_NAME) *ca_names; /* for CertificateRequest; NULL when none */
	size_t ncas;
	size_t ncrls;
};

/* Owner: whoever called tls_client_auth_new (parleyd). */
struct tls_client_auth {
	pthread_mutex_t lock;
	struct tls_client_auth_gen *current;
	unsigned generations;
};

/* ---- Generations ---- */

static struct tls_client_auth_gen *gen_ref(struct tls_client_auth_gen *g)
{
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	return g;
}

static void gen_unref(struct tls_client_auth_gen *g)
{
	if (!g || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
		return;
	X509_STORE_free(g->store);
	sk_X509_NAME_pop_free(g->ca_names, X509_NAME_free);
	free(g);
}

static bool ca_name_listed(STACK_OF(X509_NAME) *names, const X509_NAME *n)
{
	for (int i = 0; i < sk_X509_NAME_num(names); i++)
		if (X509_NAME_cmp(sk_X509_NAME_value(names, i), n) == 0)
			return true;
	return false;
}

static int gen_add_file(struct tls_client_auth_gen *g, const char *path, char **err)
{
	STACK_OF(X509) *certs = NULL;
	char *why = NULL;
	if (tls_file_read_certs(path, &certs, &why) < 0) {
		*err = tls_errorf("client trust store: %s", why);
		free(why);
		return -1;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		char name[256], when[64];
		tls_name_str(X509_get_subject_name(x), name, sizeof(name));
		if (!tls_cert_is_ca(x)) {
			log_warn("tls", "client trust store: %s: \"%s\" is not a CA certificate; skipped "
					"(the store holds the CAs that issue client certificates)",
				 path, name);
			continue;
		}
		if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
			log_warn("tls", "client trust store: %s: CA \"%s\" expired on %s; certificates "
					"it issued will be refused",
				 path, name, tls_time_str(X509_get0_notAfter(x), when, sizeof(when)));
		if (X509_STORE_add_cert(g->store, x) != 1)
			log_fatal("tls", "out of memory in X509_STORE_add_cert");
		const X509_NAME *subject = X509_get_subject_name(x);
		if (!ca_name_listed(g->ca_names, subject) &&
		    !sk_X509_NAME_push(g->ca_names, tls_must(X509_NAME_dup(subject), "X509_NAME_dup")))
			log_fatal("tls", "out of memory in sk_X509_NAME_push");
	}
	sk_X509_pop_free(certs, X509_free);
	return 0;
}

bool tls_trust_file_name(const char *name)
{
	size_t n = strlen(name);
	if (name[0] == '.')
		return false;
	if (n > 4 && (strcasecmp(name + n - 4, ".pem") == 0 || strcasecmp(name + n - 4, ".crt") == 0 ||
		      strcasecmp(name + n - 4, ".cer") == 0))
		return true;
	if (n < 10 || name[8] != '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool digit = c >= '0' && c <= '9';
		bool ok = i < 8 ? digit || (c >= 'a' && c <= 'f') : i == 8 || digit;
		if (!ok)
			return false;
	}
	return true;
}

static int gen_add_path(struct tls_client_auth_gen *g, const char *path, char **err)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT) {
			if (g->mode != TLS_CLIENT_CERTS_DISABLED)
				log_warn("tls", "client trust store %s does not exist: no client "
						"certificate can verify (add a CA with parleyctl "
						"trust add --store client)",
					 path);
			return 0;
		}
		*err = tls_errorf("client trust store %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return gen_add_file(g, path, err);

	/* In name order, so that two loads of one directory are the same
	 * store and the warnings come out in a stable order. */
	struct dirent **names = NULL;
	int n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		*err = tls_errorf("client trust store %s: %s", path, strerror(errno));
		return -1;
	}
	int rc = 0;
	struct buf file = BUF_INIT;
	for (int i = 0; i < n; i++) {
		if (rc == 0 && tls_trust_file_name(names[i]->d_name)) {
			buf_reset(&file);
			buf_printf(&file, "%s/%s", path, names[i]->d_name);
			if (stat(buf_cstr(&file), &st) == 0 && S_ISREG(st.st_mode))
				rc = gen_add_file(g, buf_cstr(&file), err);
		}
		free(names[i]);
	}
	free(names);
	buf_clear(&file);
	return rc;
}

static int gen_add_crls(struct tls_client_auth_gen *g, const char *path, char **err)
{
	STACK_OF(X509_CRL) *crls = NULL;
	char *why = NULL;
	if (tls_file_read_crls(path, &crls, &why) < 0) {
		/* It says "CRL file PATH: ..." already. */
		*err = why;
		return -1;
	}
	for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(crls, i);
		const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
		if (next && X509_cmp_current_time(next) < 0) {
			char name[256], when[64];
			log_warn("tls", "CRL file %s: the CRL of \"%s\" expired on %s; every "
					"certificate that CA issued will be refused until it is "
					"renewed (parleyctl cert crl)",
				 path, tls_name_str(X509_CRL_get_issuer(crl), name, sizeof(name)),
				 tls_time_str(next, when, sizeof(when)));
		}
		if (X509_STORE_add_crl(g->store, crl) != 1)
			log_fatal("tls", "out of memory in X509_STORE_add_crl");
		g->ncrls++;
	}
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return 0;
}

static size_t gen_count_cas(X509_STORE *store)
{
	size_t n = 0;
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++)
		if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_X509)
			n++;
	return n;
}

static struct tls_client_auth_gen *gen_new(const struct tls_client_auth_config *cfg, char **err)
{
	*err = NULL;
	if (cfg->verify_depth < 1 || cfg->verify_depth > CA_DEPTH_MAX) {
		*err = tls_errorf("verify depth %u: must be 1 to %d", cfg->verify_depth, CA_DEPTH_MAX);
		return NULL;
	}
	if ((unsigned)cfg->mode > TLS_CLIENT_CERTS_NEEDED) {
		*err = tls_errorf("client certificate mode %d is unknown", (int)cfg->mode);
		return NULL;
	}
	struct tls_client_auth_gen *g = xcalloc(1, sizeof(*g));
	atomic_init(&g->refs, 1);
	g->mode = cfg->mode;
	g->accept_selfsigned = cfg->accept_selfsigned;
	g->disconnect_on_failure = cfg->disconnect_on_failure;
	g->depth = (int)cfg->verify_depth;
	g->store = tls_must(X509_STORE_new(), "X509_STORE_new");
	g->ca_names = tls_must(sk_X509_NAME_new_null(), "sk_X509_NAME_new_null");

	/* No purpose on the store: the same store may judge clients (EKU
	 * clientAuth) and servers (serverAuth), so each verification sets its
	 * own (tls_verify_attach, tls_verify_attach_client,
	 * tls_client_auth_check_purpose). */
	X509_STORE_set_depth(g->store, g->depth);
	/* Every certificate in this store was put there to be trusted for
	 * clients: an intermediate CA is an anchor too, so an operator can
	 * trust one issuing CA without trusting all its root signs. */
	unsigned long flags = X509_V_FLAG_PARTIAL_CHAIN;
	/* A self-signed certificate accepted as such must at least carry a
	 * signature that matches its own key. */
	if (g->accept_selfsigned)
		flags |= X509_V_FLAG_CHECK_SS_SIGNATURE;
	if (cfg->ca_path && gen_add_path(g, cfg->ca_path, err) < 0)
		goto free_gen;
	if (cfg->crl_file) {
		if (gen_add_crls(g, cfg->crl_file, err) < 0)
			goto free_gen;
		flags |= X509_V_FLAG_CRL_CHECK;
	}
	X509_STORE_set_flags(g->store, flags);
	g->ncas = gen_count_cas(g->store);
	if (sk_X509_NAME_num(g->ca_names) == 0) {
		sk_X509_NAME_free(g->ca_names);
		g->ca_names = NULL;
	}
	g->requests = g->mode == TLS_CLIENT_CERTS_NEEDED ||
		      (g->mode == TLS_CLIENT_CERTS_WANTED && (g->ncas > 0 || g->accept_selfsigned));
	if (g->mode == TLS_CLIENT_CERTS_NEEDED && g->ncas == 0 && !g->accept_selfsigned)
		log_warn("tls", "client certificates are needed but the client trust store holds no "
				"CA: every client will be refused");
	return g;

free_gen:
	gen_unref(g);
	return NULL;
}

_Static_assert((int)TLS_CLIENT_CERTS_DISABLED == (int)CLIENT_CERTS_DISABLED &&
		       (int)TLS_CLIENT_CERTS_WANTED == (int)CLIENT_CERTS_WANTED &&
		       (int)TLS_CLIENT_CERTS_NEEDED == (int)CLIENT_CERTS_NEEDED,
	       "c2s.client_certs values are enum tls_client_certs");

void tls_client_auth_config_c2s(const struct config *cfg, struct tls_client_auth_config *out)
{
	*out = (struct tls_client_auth_config){
		.mode = (enum tls_client_certs)cfg->c2s.client_certs,
		.ca_path = cfg->c2s.client_ca,
		.crl_file = cfg->c2s.crl_file,
		.verify_depth = cfg->c2s.verify_depth,
		.accept_selfsigned = cfg->c2s.accept_selfsigned,
		.disconnect_on_failure = cfg->c2s.disconnect_on_failure,
	};
}

/* ---- The holder ---- */

struct tls_client_auth *tls_client_auth_new(const struct tls_client_auth_config *cfg, char **err)
{
	struct tls_client_auth_gen *g = gen_new(cfg, err);
	if (!g)
		return NULL;
	struct tls_client_auth *ca = xcalloc(1, sizeof(*ca));
	if (pthread_mutex_init(&ca->lock, NULL) != 0)
		log_fatal("tls", "cannot create a mutex");
	g->number = ca->generations = 1;
	ca->current = g;
	return ca;
}

int tls_client_auth_reload(struct tls_client_auth *ca, const struct tls_client_auth_config *cfg,
			   char **err)
{
	struct tls_client_auth_gen *g = gen_new(cfg, err);
	if (!g)
		return -1;
	pthread_mutex_lock(&ca->lock);
	struct tls_client_auth_gen *old = ca->current;
	g->number = ++ca->generations;
	ca->current = g;
	pthread_mutex_unlock(&ca->lock);
	/* Outside the lock: freeing a large store takes a while, and sessions
	 * that hold the old generation keep it alive anyway. */
	gen_unref(old);
	return 0;
}

void tls_client_auth_free(struct tls_client_auth *ca)
{
	if (!ca)
		return;
	gen_unref(ca->current);
	pthread_mutex_destroy(&ca->lock);
	free(ca);
}

static struct tls_client_auth_gen *ca_current(struct tls_client_auth *ca)
{
	pthread_mutex_lock(&ca->lock);
	struct tls_client_auth_gen *g = gen_ref(ca->current);
	pthread_mutex_unlock(&ca->lock);
	return g;
}

void tls_client_auth_info(struct tls_client_auth *ca, struct tls_client_auth_info *out)
{
	struct tls_client_auth_gen *g = ca_current(ca);
	*out = (struct tls_client_auth_info){
		.generation = g->number,
		.mode = g->mode,
		.ncas = g->ncas,
		.ncrls = g->ncrls,
		.requests = g->requests,
	};
	gen_unref(g);
}

void tls_client_auth_cert_dates(struct tls_client_auth *ca, const char *file,
				struct tls_cert_dates *out)
{
	struct tls_client_auth_gen *g = ca_current(ca);
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(g->store);
	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
		if (x)
			tls_cert_dates_add(out, NULL, file ? file : "", false, x);
	}
	gen_unref(g);
}

/* ---- Purposes ---- */

static enum tls_cert_purpose purpose_resolve(enum tls_cert_purpose p, bool of_server)
{
	if (p == TLS_PURPOSE_DEFAULT)
		return of_server ? TLS_PURPOSE_SERVER : TLS_PURPOSE_CLIENT;
	return p;
}

/* OpenSSL's purpose and trust for ours.  CLIENT_OR_SERVER verifies as
 * CLIENT; verify_cb lets a certificate fit for SERVER through. */
static int purpose_x509(enum tls_cert_purpose p)
{
	return p == TLS_PURPOSE_SERVER ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT;
}

static int purpose_trust(enum tls_cert_purpose p)
{
	return p == TLS_PURPOSE_SERVER ? X509_TRUST_SSL_SERVER : X509_TRUST_SSL_CLIENT;
}

static const char *purpose_words(enum tls_cert_purpose p)
{
	switch (p) {
	case TLS_PURPOSE_SERVER:
		return "server authentication";
	case TLS_PURPOSE_CLIENT_OR_SERVER:
		return "client or server authentication";
	default:
		return "client authentication";
	}
}

/* ---- Verdicts ---- */

const char *tls_cert_problem_name(enum tls_cert_problem p)
{
	switch (p) {
	case TLS_CERT_OK:
		return "ok";
	case TLS_CERT_EXPIRED:
		return "expired";
	case TLS_CERT_NOT_YET_VALID:
		return "not-yet-valid";
	case TLS_CERT_UNKNOWN_ISSUER:
		return "unknown-issuer";
	case TLS_CERT_SELF_SIGNED:
		return "self-signed";
	case TLS_CERT_CHAIN_TOO_LONG:
		return "chain-too-long";
	case TLS_CERT_REVOKED:
		return "revoked";
	case TLS_CERT_CRL:
		return "crl";
	case TLS_CERT_WRONG_PURPOSE:
		return "wrong-purpose";
	case TLS_CERT_BAD_SIGNATURE:
		return "bad-signature";
	case TLS_CERT_NOT_A_CA:
		return "not-a-ca";
	case TLS_CERT_WEAK:
		return "weak";
	case TLS_CERT_WRONG_NAME:
		return "wrong-name";
	case TLS_CERT_OTHER:
		break;
	}
	return "other";
}

/* Reasons are bounded by design: a long subject cuts the sentence short
 * rather than growing it (through vsnprintf, which GCC does not second-
 * guess about truncation). */
static void reason_printf(char *r, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reason_printf(char *r, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r, n, fmt, ap);
	va_end(ap);
}

/* "certificate "CN=alice"" or "CA certificate "CN=Sub CA" (chain depth 1)". */
static const char *verify_who(X509 *x, int depth, char *out, size_t n)
{
	char name[200];
	if (!x)
		snprintf(out, n, "the certificate at chain depth %d", depth);
	else if (depth == 0)
		snprintf(out, n, "certificate \"%s\"",
			 tls_name_str(X509_get_subject_name(x), name, sizeof(name)));
	else
		snprintf(out, n, "CA certificate \"%s\" (chain depth %d)",
			 tls_name_str(X509_get_subject_name(x), name, sizeof(name)), depth);
	return out;
}

static void verify_describe(struct tls_verify *v, X509_STORE_CTX *ctx, int err, int depth)
{
	struct tls_cert_status *st = &v->status;
	X509 *x = X509_STORE_CTX_get_current_cert(ctx);
	X509 *leaf = X509_STORE_CTX_get0_cert(ctx);
	char who[280], name[200], when[64];
	verify_who(x, depth, who, sizeof(who));
	enum tls_cert_problem p = TLS_CERT_OTHER;
	char *r = st->reason;
	size_t rn = sizeof(st->reason);

	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		p = TLS_CERT_EXPIRED;
		reason_printf(r, rn, "%s expired on %s", who,
			 tls_time_str(x ? X509_get0_notAfter(x) : NULL, when, sizeof(when)));
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		p = TLS_CERT_NOT_YET_VALID;
		reason_printf(r, rn, "%s is not valid until %s (check the clocks)", who,
			 tls_time_str(x ? X509_get0_notBefore(x) : NULL, when, sizeof(when)));
		break;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		p = TLS_CERT_SELF_SIGNED;
		reason_printf(r, rn, "%s is self-signed, and self-signed certificates are not accepted",
			      who);
		break;
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		p = TLS_CERT_UNKNOWN_ISSUER;
		reason_printf(r, rn, "the chain of %s ends at \"%s\", which is not in the trust store",
			 verify_who(leaf, 0, who, sizeof(who)),
			 x ? tls_name_str(X509_get_subject_name(x), name, sizeof(name)) : "?");
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
		p = TLS_CERT_UNKNOWN_ISSUER;
		reason_printf(r, rn, "%s was issued by \"%s\", which is not in the trust store", who,
			 x ? tls_name_str(X509_get_issuer_name(x), name, sizeof(name)) : "?");
		break;
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
		p = TLS_CERT_CHAIN_TOO_LONG;
		reason_printf(r, rn,
			      "the chain of %s has more intermediate CAs than the verify depth (%d) allows",
			      verify_who(leaf, 0, who, sizeof(who)), v->gen ? v->gen->depth : -1);
		break;
	case X509_V_ERR_CERT_REVOKED: {
		p = TLS_CERT_REVOKED;
		char serial[80] = "?";
		BIGNUM *bn = x ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL) : NULL;
		char *hex = bn ? BN_bn2hex(bn) : NULL;
		if (hex)
			snprintf(serial, sizeof(serial), "%s", hex);
		OPENSSL_free(hex);
		BN_free(bn);
		reason_printf(r, rn, "%s (serial %s) has been revoked", who, serial);
		break;
	}
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		p = TLS_CERT_CRL;
		reason_printf(r, rn,
			      "the CRL file has no CRL from \"%s\", so %s cannot be checked for revocation",
			      x ? tls_name_str(X509_get_issuer_name(x), name, sizeof(name)) : "?", who);
		break;
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
		p = TLS_CERT_CRL;
		reason_printf(r, rn, "the CRL from \"%s\" cannot be used for %s: %s",
			 x ? tls_name_str(X509_get_issuer_name(x), name, sizeof(name)) : "?", who,
			 X509_verify_cert_error_string(err));
		break;
	case X509_V_ERR_INVALID_PURPOSE: {
		p = TLS_CERT_WRONG_PURPOSE;
		enum tls_cert_purpose pp = purpose_resolve(v->purpose, false);
		const char *words = purpose_words(pp);
		uint32_t xf = x ? X509_get_extension_flags(x) : 0;
		uint32_t xku = x ? X509_get_extended_key_usage(x) : 0;
		uint32_t eku_needed = pp == TLS_PURPOSE_CLIENT ? XKU_SSL_CLIENT
				      : pp == TLS_PURPOSE_SERVER
					      ? XKU_SSL_SERVER | XKU_SGC
					      : XKU_SSL_CLIENT | XKU_SSL_SERVER | XKU_SGC;
		uint32_t ku_needed = pp == TLS_PURPOSE_SERVER
					     ? KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT
					     : KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT;
		if ((xf & EXFLAG_XKUSAGE) && !(xku & eku_needed))
			reason_printf(r, rn, "%s is not for %s: its extended key usage %s", who, words,
				      pp == TLS_PURPOSE_CLIENT   ? "lacks clientAuth"
				      : pp == TLS_PURPOSE_SERVER ? "lacks serverAuth"
								 : "has neither clientAuth nor serverAuth");
		else if (depth == 0 && (xf & EXFLAG_KUSAGE) && !(X509_get_key_usage(x) & ku_needed))
			reason_printf(r, rn, "%s is not for %s: its key usage lacks %s", who, words,
				      pp == TLS_PURPOSE_SERVER ? "digitalSignature and keyEncipherment"
							       : "digitalSignature");
		else
			reason_printf(r, rn, "%s is not for %s", who, words);
		break;
	}
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
		p = TLS_CERT_BAD_SIGNATURE;
		reason_printf(r, rn, "the signature on %s does not verify", who);
		break;
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
		p = TLS_CERT_NOT_A_CA;
		reason_printf(r, rn, "%s issued a certificate but may not act as a CA (%s)", who,
			 X509_verify_cert_error_string(err));
		break;
	case X509_V_ERR_EE_KEY_TOO_SMALL:
	case X509_V_ERR_CA_KEY_TOO_SMALL:
	case X509_V_ERR_CA_MD_TOO_WEAK:
		p = TLS_CERT_WEAK;
		reason_printf(r, rn, "%s is too weak: %s", who, X509_verify_cert_error_string(err));
		break;
	default:
		reason_printf(r, rn, "%s: %s", who, X509_verify_cert_error_string(err));
		break;
	}
	st->problem = p;
	st->depth = depth;
}

static struct tls_verify *verify_of(X509_STORE_CTX *ctx)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl) {
		struct tls_session *t = SSL_get_app_data(ssl);
		return t ? t->verify : NULL;
	}
	return X509_STORE_CTX_get_app_data(ctx);
}

/* OpenSSL calls this for every problem it finds and once per certificate
 * of the chain; returning 1 on a problem carries on as if it were none. */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
	struct tls_verify *v = verify_of(ctx);
	if (!v || !v->gen)
		return ok;
	v->ran = true;
	if (ok)
		return 1;
	int err = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	if (err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT && v->gen->accept_selfsigned) {
		/* Cleared, so that the result OpenSSL records (and resumption
		 * would reuse) says verified too. */
		X509_STORE_CTX_set_error(ctx, X509_V_OK);
		return 1;
	}
	if (err == X509_V_ERR_INVALID_PURPOSE && v->purpose == TLS_PURPOSE_CLIENT_OR_SERVER) {
		/* Verified as a client's; a certificate (or CA) fit for a
		 * server is as good here. */
		X509 *x = X509_STORE_CTX_get_current_cert(ctx);
		if (x && X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, depth > 0) == 1) {
			X509_STORE_CTX_set_error(ctx, X509_V_OK);
			return 1;
		}
	}
	if (v->status.problem == TLS_CERT_OK)
		verify_describe(v, ctx, err, depth);
	if (v->fail_fast)
		return 0;
	/* A server's certificate fails the handshake only with fail_fast
	 * (require_valid); the client-certificate mode is about clients. */
	if (v->of_server)
		return 1;
	return v->gen->mode == TLS_CLIENT_CERTS_NEEDED && v->gen->disconnect_on_failure ? 0 : 1;
}

/* "DNS:a.example, SRV:_xmpp-server.a.example, xmppAddr:a.example, CN:x
 * (not used)", cut short to fit; "no names" when there are none. */
static void names_list(const struct tls_cert_ids *ids, bool allow_cn, char *out, size_t n)
{
	struct {
		const char *tag;
		const char *const *items;
		size_t count;
	} kinds[] = {
		{"DNS:", ids->dns_names, ids->ndns_names},
		{"SRV:", ids->srv_ids, ids->nsrv_ids},
		{"xmppAddr:", ids->xmpp_addrs, ids->nxmpp_addrs},
		{"CN:", ids->cns, ids->ncns},
	};
	size_t used = 0;
	out[0] = '\0';
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (size_t i = 0; i < kinds[k].count && used < n; i++) {
			bool cn = k == 3;
			int w = snprintf(out + used, n - used, "%s%s%s%s", used ? ", " : "", kinds[k].tag,
					 kinds[k].items[i], cn && !allow_cn ? " (not used)" : "");
			if (w < 0)
				return;
			used += (size_t)w;
		}
	}
	if (!out[0])
		snprintf(out, n, "no names");
}

/* Whether the verified leaf names what v expects; on a mismatch the reason
 * (when it is the first problem) says what it names instead. */
static bool verify_name(struct tls_verify *v, X509 *leaf)
{
	struct arena *a = arena_new();
	struct tls_cert_ids ids;
	tls_cert_ids_read(leaf, a, &ids);
	bool ok = tls_cert_ids_name(&ids, v->expected_name, v->srv_service, v->allow_cn);
	if (!ok && v->status.problem == TLS_CERT_OK) {
		char who[280], names[200];
		verify_who(leaf, 0, who, sizeof(who));
		names_list(&ids, v->allow_cn, names, sizeof(names));
		v->status.problem = TLS_CERT_WRONG_NAME;
		v->status.depth = 0;
		reason_printf(v->status.reason, sizeof(v->status.reason),
			      "%s does not name %s (it names %s)", who, v->expected_name, names);
	}
	arena_free(a);
	return ok;
}

int tls_verify_chain_and_name(X509_STORE_CTX *ctx, void *arg)
{
	(void)arg;
	int ok = X509_verify_cert(ctx);
	struct tls_verify *v = verify_of(ctx);
	X509 *leaf = X509_STORE_CTX_get0_cert(ctx);
	if (!v || !v->gen || !v->expected_name || !leaf || (ok <= 0 && v->fail_fast))
		return ok;
	if (verify_name(v, leaf))
		return ok;
	/* Recorded as OpenSSL's own verdict too, so that SSL_get_verify_result
	 * never says X509_V_OK for a certificate of another host. */
	X509_STORE_CTX_set_current_cert(ctx, leaf);
	X509_STORE_CTX_set_error_depth(ctx, 0);
	X509_STORE_CTX_set_error(ctx, X509_V_ERR_HOSTNAME_MISMATCH);
	return v->fail_fast ? 0 : ok;
}

/* Fills v->status.state from what verification left behind. */
static void verify_settle(struct tls_verify *v, X509 *peer, long result)
{
	struct tls_cert_status *st = &v->status;
	/* Without a peer certificate the callback never ran, unless the
	 * handshake failed over it: then problem and reason say why. */
	if (!peer) {
		st->state = TLS_PEER_CERT_NONE;
		return;
	}
	if (st->problem != TLS_CERT_OK) {
		st->state = TLS_PEER_CERT_INVALID;
		return;
	}
	/* Belt and braces: the callback saw the chain and OpenSSL agrees. */
	if (!v->gen || !v->ran || result != X509_V_OK) {
		st->state = TLS_PEER_CERT_INVALID;
		st->problem = TLS_CERT_OTHER;
		snprintf(st->reason, sizeof(st->reason), "the certificate was not verified: %s",
			 !v->gen || !v->ran ? "no verification ran"
					    : X509_verify_cert_error_string(result));
		return;
	}
	st->state = TLS_PEER_CERT_VALID;
}

enum tls_peer_cert tls_client_auth_check_purpose(struct tls_client_auth *ca, X509 *leaf,
						 STACK_OF(X509) *chain, enum tls_cert_purpose purpose,
						 struct tls_cert_status *out)
{
	struct tls_verify v = {.gen = ca_current(ca), .fail_fast = true,
			       .purpose = purpose_resolve(purpose, false)};
	X509_STORE_CTX *ctx = tls_must(X509_STORE_CTX_new(), "X509_STORE_CTX_new");
	long result = X509_V_ERR_UNSPECIFIED;
	/* The named defaults carry the purpose and trust (the store has
	 * none); CLIENT_OR_SERVER starts as a client, as in handshakes. */
	if (X509_STORE_CTX_init(ctx, v.gen->store, leaf, chain) == 1 &&
	    X509_STORE_CTX_set_default(ctx, v.purpose == TLS_PURPOSE_SERVER ? "ssl_server"
									 : "ssl_client") == 1) {
		X509_STORE_CTX_set_app_data(ctx, &v);
		X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
		if (X509_verify_cert(ctx) == 1)
			result = X509_V_OK;
		else if (X509_STORE_CTX_get_error(ctx) != X509_V_OK)
			result = X509_STORE_CTX_get_error(ctx);
	}
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	verify_settle(&v, leaf, result);
	*out = v.status;
	tls_verify_clear(&v);
	return out->state;
}

enum tls_peer_cert tls_client_auth_check(struct tls_client_auth *ca, X509 *leaf,
					 STACK_OF(X509) *chain, struct tls_cert_status *out)
{
	return tls_client_auth_check_purpose(ca, leaf, chain, TLS_PURPOSE_CLIENT, out);
}

/* ---- Sessions ---- */

/* What every verifying session sets on its SSL: the store of its
 * generation, its depth, and the purpose (and the trust that goes with
 * it), which override OpenSSL's choice by role. */
static void verify_apply(struct tls_session *t, const struct tls_client_auth_gen *g,
			 enum tls_cert_purpose purpose)
{
	SSL_set_verify_depth(t->ssl, g->depth);
	if (SSL_set1_verify_cert_store(t->ssl, g->store) != 1)
		log_fatal("tls", "out of memory in SSL_set1_verify_cert_store");
	if (SSL_set_purpose(t->ssl, purpose_x509(purpose)) != 1 ||
	    SSL_set_trust(t->ssl, purpose_trust(purpose)) != 1)
		log_fatal("tls", "cannot set the certificate purpose");
}

void tls_verify_attach(struct tls_session *t, struct tls_client_auth *ca,
		       enum tls_cert_purpose purpose)
{
	if (!ca)
		return;
	struct tls_client_auth_gen *g = ca_current(ca);
	if (!g->requests) {
		gen_unref(g);
		return;
	}
	/* Most sessions are never asked for a certificate: only these carry
	 * the verification state (a reason string of a few hundred bytes). */
	t->verify = xcalloc(1, sizeof(*t->verify));
	t->verify->gen = g;
	t->verify->purpose = purpose_resolve(purpose, false);
	int mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
	if (g->mode == TLS_CLIENT_CERTS_NEEDED)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_set_verify(t->ssl, mode, verify_cb);
	verify_apply(t, g, t->verify->purpose);
	/* Clients such as Java's and browsers pick the certificate to send
	 * by these names. */
	if (g->ca_names)
		SSL_set_client_CA_list(t->ssl,
				       tls_must(SSL_dup_CA_list(g->ca_names), "SSL_dup_CA_list"));
	SSL_set_options(t->ssl, SSL_OP_NO_TICKET);
	if (SSL_set_num_tickets(t->ssl, 0) != 1 ||
	    SSL_set_session_id_context(t->ssl, ca_sid_ctx, sizeof(ca_sid_ctx) - 1) != 1)
		log_fatal("tls", "cannot turn session resumption off");
}

void tls_verify_detach(struct tls_session *t)
{
	if (!t->verify)
		return;
	tls_verify_clear(t->verify);
	free(t->verify);
	t->verify = NULL;
	SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL);
	SSL_set_client_CA_list(t->ssl, NULL);
}

void tls_verify_attach_client(struct tls_session *t, const struct tls_client_session_config *cfg)
{
	if (!cfg->trust)
		return;
	struct tls_verify *v = xcalloc(1, sizeof(*v));
	v->gen = ca_current(cfg->trust);
	v->of_server = true;
	v->purpose = purpose_resolve(cfg->purpose, true);
	v->fail_fast = cfg->require_valid;
	const char *name = cfg->expected_name ? cfg->expected_name : cfg->server_name;
	if (name && *name)
		v->expected_name = xstrdup(name);
	if (cfg->srv_service && *cfg->srv_service)
		v->srv_service = xstrdup(cfg->srv_service);
	v->allow_cn = cfg->allow_cn;
	t->verify = v;
	/* Without SSL_VERIFY_PEER a client goes on whatever the verdict; the
	 * callbacks decide (fail_fast) instead. */
	SSL_set_verify(t->ssl, SSL_VERIFY_PEER, verify_cb);
	verify_apply(t, v->gen, v->purpose);
}

void tls_verify_after_sni(struct tls_session *t)
{
	if (t && t->verify && t->verify->gen && SSL_set1_verify_cert_store(t->ssl, t->verify->gen->store) != 1)
		log_fatal("tls", "out of memory in SSL_set1_verify_cert_store");
}

void tls_verify_handshake_done(struct tls_session *t)
{
	if (t->verify && !t->verify->of_server && t->verify->gen && t->verify->gen->ca_names)
		SSL_set_client_CA_list(t->ssl, NULL);
}

void tls_verify_clear(struct tls_verify *v)
{
	gen_unref(v->gen);
	v->gen = NULL;
	free(v->expected_name);
	free(v->srv_service);
	v->expected_name = v->srv_service = NULL;
}

const char *tls_verify_failure(const struct tls_session *t, int ssl_reason, char *tmp, size_t n)
{
	const struct tls_verify *v = t->verify;
	if (!v || !v->gen)
		return NULL;
	if (ssl_reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		return "the client sent no certificate, and this port requires one";
	if (ssl_reason == SSL_R_CERTIFICATE_VERIFY_FAILED && v->status.problem != TLS_CERT_OK) {
		snprintf(tmp, n, "%s certificate refused (%s): %s", v->of_server ? "server" : "client",
			 tls_cert_problem_name(v->status.problem), v->status.reason);
		return tmp;
	}
	return NULL;
}

const struct tls_cert_status *tls_session_peer_cert(const struct tls_session *t)
{
	/* Settled on each call rather than at the end of the handshake: the
	 * handshake may finish inside a read, and this costs a few checks. */
	static const struct tls_cert_status not_asked = {.state = TLS_PEER_CERT_NONE};
	if (!t->verify)
		return &not_asked;
	X509 *peer = SSL_is_init_finished(t->ssl) ? SSL_get0_peer_certificate(t->ssl) : NULL;
	verify_settle(t->verify, peer, SSL_get_verify_result(t->ssl));
	return &t->verify->status;
}

enum tls_peer_cert tls_session_peer_cert_status(const struct tls_session *t, const char **reason)
{
	const struct tls_cert_status *st = tls_session_peer_cert(t);
	if (reason)
		*reason = st->reason;
	return st->state;
}

int tls_session_peer_identities(const struct tls_session *t, struct arena *a,
				struct tls_cert_ids *out)
{
	X509 *peer = SSL_is_init_finished(t->ssl) ? SSL_get0_peer_certificate(t->ssl) : NULL;
	if (!peer) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return tls_cert_ids_read(peer, a, out);
}
