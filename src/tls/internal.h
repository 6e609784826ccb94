/*
 * tls internals shared by server.c (contexts, SNI, the policy both roles
 * share), client.c (client contexts), session.c (the transport, ALPN,
 * facts), cbind.c (channel binding), clientauth.c (peer certificates),
 * identity.c, issue.c and files.c (certificates as objects).  Nothing
 * outside src/tls/ includes this file: the rest of Parley sees a session as
 * an opaque `struct tls_session *` through tls.h (and core/conn.h as its
 * transport's `void *`).
 */
#ifndef PARLEY_TLS_INTERNAL_H
#define PARLEY_TLS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "tls/tls.h"

struct tls_server_host {
	char *domain;
	char *cert_file; /* for expiry reports */
	SSL_CTX *ctx;
};

/*
 * One set of server contexts, loaded together from the files (at start or
 * on a reload).  Owner: shared by reference count (the holder while
 * current, each server session until its handshake ends: the SNI callback
 * of hosts[0].ctx reaches the generation through its arg).  Immutable once
 * made, so workers share it without locks; after the handshake a session
 * needs only the SSL_CTX it ended on, which the SSL holds a reference to.
 */
struct tls_server_gen {
	atomic_uint refs;
	unsigned number;
	size_t nhosts;
	struct tls_server_host hosts[]; /* hosts[0] is the default */
};

/*
 * Owner: whoever called tls_server_new().  The mutex guards only the
 * pointer to the current generation and the reference taken on it (the
 * same reasoning as struct tls_client_auth, clientauth.c), once per new
 * session.
 */
struct tls_server {
	pthread_mutex_t lock;
	struct tls_server_gen *current;
	unsigned generations;
};

/* The current generation, with a reference for the caller. */
struct tls_server_gen *tls_server_current(struct tls_server *srv);
/* Drops a reference; the last one frees the contexts.  Accepts NULL. */
void tls_server_gen_unref(struct tls_server_gen *g);

/* One set of client contexts, like struct tls_server_gen: `anon` presents
 * no certificate; hosts[i].ctx presents host i's.  Sessions hold only
 * their SSL's reference to the context they were made from. */
struct tls_client_gen {
	atomic_uint refs;
	unsigned number;
	SSL_CTX *anon;
	size_t nhosts;
	struct tls_server_host hosts[];
};

/* Owner: whoever called tls_client_new(); swapped like struct tls_server. */
struct tls_client {
	pthread_mutex_t lock;
	struct tls_client_gen *current;
	unsigned generations;
};

struct tls_client_gen *tls_client_current(struct tls_client *cli);
void tls_client_gen_unref(struct tls_client_gen *g);

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
	bool of_server;                  /* the peer is a server (a client session's) */
	enum tls_cert_purpose purpose;   /* resolved: never TLS_PURPOSE_DEFAULT */
	/* A server's name to check (client sessions; NULL: none), as
	 * tls_cert_ids_name() checks it. */
	char *expected_name;
	char *srv_service;
	bool allow_cn;
	struct tls_cert_status status;   /* problem, depth, reason of the first failure */
};

/*
 * Owner: the conn the session is installed in (conn_set_transport), or the
 * caller of tls_session_new_server or tls_session_new_client until then.
 * Used by one thread at a time; the SSL's app data points back here for the
 * ALPN and verify callbacks.
 */
struct tls_session {
	SSL *ssl;
	bool client;               /* made by tls_session_new_client */
	bool failed;               /* a fatal error happened: no close_notify */
	const char *alpn_selected; /* into alpn[], NUL-terminated */
	size_t nalpn;
	char *err;                 /* error(): why the last failure happened (made on the first) */
	struct tls_verify *verify; /* only when a peer certificate is verified */
	/* A server session's context generation, held until the handshake
	 * ends (SNI picks a context from it); NULL afterwards and on clients. */
	struct tls_server_gen *server_gen;
	bool skip_whitespace;      /* until the first non-whitespace byte (STARTTLS) */
	/* A shared port: per ALPN protocol (nalpn entries), the client
	 * certificates to ask for once ALPN picks it; NULL: as created. */
	struct tls_client_auth **alpn_auth;
	enum tls_cert_purpose *alpn_purpose;
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

/* ---- Contexts (server.c) ---- */

/* The policy every context has, server or client: versions, no
 * renegotiation or compression, write modes, no passphrase prompt, the
 * ciphers (NULL: our default list).  -1 with *err. */
int tls_ctx_policy(SSL_CTX *ctx, const char *ciphers, const char *ciphersuites, bool tls13_only,
		   char **err);
/* Loads h's certificate chain and key into ctx, checking they match.  -1
 * with *err naming the file and the reason. */
int tls_ctx_use_host(SSL_CTX *ctx, const struct tls_host *h, char **err);

/* Loaded hosts must be well formed (a domain, both files, no duplicate):
 * -1 with *err naming the first that is not. */
int tls_hosts_check(const struct tls_host *hosts, size_t nhosts, char **err);
/* Appends x's expiry to d (nothing when its date cannot be read). */
void tls_cert_dates_add(struct tls_cert_dates *d, const char *domain, const char *file, bool chain,
			X509 *x);

/* ---- Client certificates (clientauth.c) ---- */

/* Takes the current generation of `ca` for a server session and, when it
 * asks for certificates, sets the SSL's verify mode, store, depth, purpose
 * (`purpose`, DEFAULT: client), CA names and turns resumption off.  `ca`
 * may be NULL. */
void tls_verify_attach(struct tls_session *t, struct tls_client_auth *ca,
		       enum tls_cert_purpose purpose);
/* The same for a client session verifying its server: cfg->trust (may be
 * NULL: nothing verified), purpose, expected name, require_valid. */
void tls_verify_attach_client(struct tls_session *t, const struct tls_client_session_config *cfg);
/* SSL_CTX_set_cert_verify_callback of client contexts: verifies the chain
 * (through the session's verify callback), then the expected name. */
int tls_verify_chain_and_name(X509_STORE_CTX *ctx, void *arg);
/* SSL_set_SSL_CTX (SNI) replaces the SSL's certificate settings, the
 * verify store among them: puts the session's back. */
void tls_verify_after_sni(struct tls_session *t);
/* Drops what the handshake no longer needs (the CA names). */
void tls_verify_handshake_done(struct tls_session *t);
/* Releases the generation. */
/* Forgets what tls_verify_attach set (back to asking for no certificate). */
void tls_verify_detach(struct tls_session *t);
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
