/*
 * tls internals shared by server.c (contexts, SNI), session.c (the
 * transport, ALPN, facts), cbind.c (channel binding), clientauth.c (client
 * certificates), identity.c, issue.c and files.c (certificates as
 * objects).  Nothing outside src/tls/ includes this file: the rest of
 * Parley sees sessions as `void *` through tls.h and core/conn.h.
 */
#ifndef PARLEY_TLS_INTERNAL_H
#define PARLEY_TLS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "tls/tls.h"

struct tls_server_host {
	char *domain;
	SSL_CTX *ctx;
};

/*
 * Owner: whoever called tls_server_new().  Immutable once made, so workers
 * share it without locks.  Sessions keep references to the SSL_CTXs, but
 * the SNI callback reaches this struct, so it must outlive every session
 * still handshaking.
 */
struct tls_server {
	size_t nhosts;
	struct tls_server_host hosts[]; /* hosts[0] is the default */
};

struct tls_client_auth_gen;

/*
 * Certificate verification of one peer (a session's, or one offline
 * check's): the generation it runs against and the first failure it met.
 * The verify callback finds it through the SSL's app data (handshakes) or
 * the X509_STORE_CTX's app data (tls_client_auth_check).
 */
struct tls_verify {
	struct tls_client_auth_gen *gen; /* a held reference; NULL: nothing requested */
	bool fail_fast;                  /* fail verification at the first problem */
	bool ran;                        /* the callback saw a certificate */
	struct tls_cert_status status;   /* problem, depth, reason of the first failure */
};

/*
 * Owner: the conn the session is installed in (conn_set_transport), or the
 * caller of tls_session_new_server until then.  Used by one thread at a
 * time; the SSL's app data points back here for the ALPN callback.
 */
struct tls_session {
	SSL *ssl;
	bool failed;               /* a fatal error happened: no close_notify */
	const char *alpn_selected; /* into alpn[], NUL-terminated */
	size_t nalpn;
	char *err;                 /* error(): why the last failure happened (made on the first) */
	struct tls_verify *verify; /* only when a client certificate was asked for */
	bool skip_whitespace;      /* until the first non-whitespace byte (STARTTLS) */
	/* nalpn entries, each: length byte, name, NUL.  The length bytes make
	 * matching against the client's wire list direct; the NULs let
	 * tls_session_alpn() return a C string without copying. */
	unsigned char alpn[];
};

/* SSL_CTX_set_alpn_select_cb callback: picks from the session's list. */
int tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		    const unsigned char *in, unsigned int inlen, void *arg);

/* Aborts on NULL: for OpenSSL calls that fail only when memory runs out. */
void *tls_must(void *p, const char *what);
/* A heap string for the *err out-parameters (files.c). */
char *tls_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Client certificates (clientauth.c) ---- */

/* Takes the current generation of `ca` for the session and, when it asks
 * for certificates, sets the SSL's verify mode, store, depth, CA names and
 * turns resumption off.  `ca` may be NULL. */
void tls_verify_attach(struct tls_session *t, struct tls_client_auth *ca);
/* SSL_set_SSL_CTX (SNI) replaces the SSL's certificate settings, the
 * verify store among them: puts the session's back. */
void tls_verify_after_sni(struct tls_session *t);
/* Drops what the handshake no longer needs (the CA names). */
void tls_verify_handshake_done(struct tls_session *t);
/* Releases the generation. */
void tls_verify_clear(struct tls_verify *v);
/* The sentence for error() when verification failed the handshake, or
 * NULL when it did not. */
const char *tls_verify_failure(const struct tls_session *t, int ssl_reason, char *tmp, size_t n);

/*
 * The thread's OpenSSL error queue, taken in one go.  Taking empties the
 * queue: a session moves between worker threads and the queue is
 * per-thread, so a stale entry must never reach the next SSL call.
 */
struct tls_errs {
	unsigned long code[8]; /* oldest first: the root cause is code[0] */
	size_t n;
};

void tls_errs_take(struct tls_errs *e);
bool tls_errs_has(const struct tls_errs *e, int lib, int reason);
/* The reason text of the first entry ("unknown error" when empty). */
const char *tls_errs_text(const struct tls_errs *e, char *tmp, size_t n);

#endif
