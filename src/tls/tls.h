/*
 * tls: everything OpenSSL.  Server contexts with one certificate per virtual
 * host chosen by SNI, ALPN, TLS 1.2 and 1.3 only, no renegotiation and no
 * compression; client contexts and sessions for outgoing links (SNI, ALPN,
 * an optional certificate of our own, the server verified against a trust
 * store with an expected name); the TLS transport that plugs into
 * core/conn.h, the same for both roles; facts about an established session
 * (version, cipher, SNI, ALPN); channel-binding data for SCRAM-PLUS; peer
 * certificates (trust stores that reload, the verdict on a peer's
 * certificate for a purpose, client or server, and the identities it names,
 * for SASL EXTERNAL); and certificate generation for `parleyctl init`.
 *
 * This header has no OpenSSL types, so that streams can include it; the
 * certificate-level API (X509 in, identities and verdicts out; issuing,
 * PEM files) for parleyctl and tests is tls/cert.h.
 *
 * A `struct tls_server` or `struct tls_client` is shared by all workers (an
 * SSL_CTX may be used from several threads); a reload (SIGHUP) swaps in a
 * new generation of contexts under a lock, and sessions made before keep
 * theirs.  A
 * `struct tls_session` belongs to the connection that owns it and moves with
 * it between workers.  The conn sees it as its transport's `void *` (core/
 * does not know TLS); what conn_transport() returns converts to
 * `struct tls_session *` implicitly.
 *
 * Memory: an idle session keeps as little as OpenSSL allows
 * (SSL_MODE_RELEASE_BUFFERS, no BIO pairs: the SSL reads the socket
 * directly, no server-side session cache: resumption uses tickets).
 */
#ifndef PARLEY_TLS_TLS_H
#define PARLEY_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/conn.h"

struct arena;
struct config;
struct tls_session;

/* ---- Server contexts ---- */

struct tls_host {
	const char *domain;    /* virtual host, matched against SNI */
	const char *cert_file; /* PEM: leaf first, then its chain */
	const char *key_file;  /* PEM private key */
};

/* The configured virtual hosts (the `hosts` setting) as tls_hosts, in
 * order; the strings point into cfg.  free() the array. */
struct config;
struct tls_host *tls_hosts_from_config(const struct config *cfg);

struct tls_server_config {
	const struct tls_host *hosts; /* hosts[0] serves clients without SNI */
	size_t nhosts;
	const char *ciphers;          /* TLS 1.2 cipher list; NULL: a modern default */
	const char *ciphersuites;     /* TLS 1.3; NULL: OpenSSL's default */
	bool tls13_only;              /* refuse TLS 1.2 */
};

struct tls_server;

/* Loads every host's key and certificate (checking that they match).  NULL
 * on failure with *err (heap string) naming the file and the reason. */
struct tls_server *tls_server_new(const struct tls_server_config *cfg, char **err);
/*
 * Loads every host again from `cfg` (the files may have been replaced, the
 * hosts changed) as a new generation and makes it current: new sessions
 * present the new certificates, established ones keep the contexts they
 * were made with (each SSL holds a reference to its SSL_CTX).  On failure
 * returns -1 with *err as tls_server_new and the current generation stays.
 * Any thread; sessions may be made and freed meanwhile.
 */
int tls_server_reload(struct tls_server *srv, const struct tls_server_config *cfg, char **err);
/* 1 for the first load, +1 per successful reload. */
unsigned tls_server_generation(struct tls_server *srv);
/* Sessions keep the contexts they were made with after this. */
void tls_server_free(struct tls_server *srv);

/* ---- Sessions (the conn transport) ---- */

extern const struct conn_transport_ops tls_transport_ops;

/*
 * A server-side session for conn_set_transport(c, &tls_transport_ops, t).
 * `alpn` lists the protocols this entry point accepts, in preference order
 * (NULL/0: ALPN is ignored).  A client that offers ALPN but none of these
 * gets the no_application_protocol alert (RFC 7301 §3.2); a client that
 * offers none is accepted.
 */
struct tls_session *tls_session_new_server(struct tls_server *srv, const char *const *alpn,
					   size_t nalpn);

struct tls_client_auth;

/*
 * What a peer's certificate must be fit for, by its extended key usage
 * (and key usage): checked on the peer's certificate and its CAs when a
 * trust store verifies it.  DEFAULT is the peer's role: a server session
 * verifies a client (clientAuth, what c2s has always asked), a client
 * session verifies a server (serverAuth).  CLIENT_OR_SERVER accepts either
 * on a certificate (an s2s peer that connects to us with the certificate it
 * serves with, carrying only serverAuth since public CAs dropped clientAuth).
 */
enum tls_cert_purpose {
	TLS_PURPOSE_DEFAULT = 0,
	TLS_PURPOSE_CLIENT,           /* EKU clientAuth */
	TLS_PURPOSE_SERVER,           /* EKU serverAuth */
	TLS_PURPOSE_CLIENT_OR_SERVER, /* either */
};

struct tls_session_config {
	const char *const *alpn; /* as for tls_session_new_server */
	size_t nalpn;
	/* Client certificates as its current generation says (the session
	 * holds that generation until it is freed); NULL: never asked for. */
	struct tls_client_auth *client_auth;
	/* STARTTLS: whitespace the client sent after <starttls/> (between
	 * XMPP elements) is dropped before the ClientHello.  No TLS record
	 * starts with a whitespace byte, so nothing real is lost. */
	bool skip_leading_whitespace;
	/* What the client's certificate must be fit for; DEFAULT: clientAuth. */
	enum tls_cert_purpose peer_purpose;
	/* A port shared by several kinds of stream (ALPN picks the kind):
	 * per protocol of `alpn` (nalpn entries), the client certificates to
	 * ask for and their purpose once ALPN picks it, instead of
	 * client_auth and peer_purpose (which hold for a client that offers
	 * no ALPN).  NULL: client_auth whatever ALPN picks. */
	struct tls_client_auth *const *alpn_client_auth;
	const enum tls_cert_purpose *alpn_peer_purpose;
};

/* tls_session_new_server with everything a listener may set. */
struct tls_session *tls_session_new_server_ex(struct tls_server *srv,
					      const struct tls_session_config *cfg);

/* ---- Client contexts and sessions (outgoing links) ---- */

/*
 * Contexts for the client side of TLS, under the same policy as the server
 * (TLS 1.2+, the same ciphers, no renegotiation, no compression).  `hosts`
 * are the certificates we can present when a server asks for one (the
 * initiating server's, for SASL EXTERNAL on s2s), one per local domain;
 * none: we never present one.  Loaded once; NULL with *err (heap string
 * naming the file and the reason) on failure.
 */
struct tls_client_config {
	const struct tls_host *hosts;
	size_t nhosts;
	const char *ciphers;      /* TLS 1.2 cipher list; NULL: the server's default */
	const char *ciphersuites; /* TLS 1.3; NULL: OpenSSL's default */
	bool tls13_only;
};

struct tls_client;

struct tls_client *tls_client_new(const struct tls_client_config *cfg, char **err);
/* As tls_server_reload: new client sessions present the certificates
 * loaded now; on failure -1 with *err and the current ones stay. */
int tls_client_reload(struct tls_client *cli, const struct tls_client_config *cfg, char **err);
unsigned tls_client_generation(struct tls_client *cli);
void tls_client_free(struct tls_client *cli);

struct tls_client_session_config {
	/* SNI (RFC 6066): the name the server is asked for; not sent when
	 * NULL or an IP literal. */
	const char *server_name;
	/* ALPN protocols offered, in preference order (NULL/0: none).  A
	 * server that picks none is accepted; tls_session_alpn() says. */
	const char *const *alpn;
	size_t nalpn;
	/* Presents the certificate of this host of the tls_client (a local
	 * domain) when the server asks; NULL: none. */
	const char *cert_domain;
	/*
	 * Verifies the server's certificate against the current generation
	 * of this trust store (its CAs, CRLs, verify depth and
	 * accept_selfsigned; its client-certificate mode does not apply), for
	 * `purpose` (DEFAULT: serverAuth), and checks that it names
	 * `expected_name` (NULL: server_name; an IP literal names nothing)
	 * as tls_cert_ids_name() does, with `srv_service` and `allow_cn`.
	 * NULL: the server is not verified and its certificate status stays
	 * TLS_PEER_CERT_NONE.
	 */
	struct tls_client_auth *trust;
	const char *expected_name;
	const char *srv_service;  /* "xmpp-server": SRV-IDs for it count; NULL: none do */
	bool allow_cn;
	enum tls_cert_purpose purpose;
	/* A certificate that fails fails the handshake (bad_certificate or
	 * the like to the server; error() says why).  Otherwise the handshake
	 * completes and tls_session_peer_cert() holds the verdict. */
	bool require_valid;
};

/* A client-side session for conn_set_transport(c, &tls_transport_ops, t)
 * on a connected socket; the handshake starts with our ClientHello.  NULL
 * with *err (heap string) when cert_domain names no host of `cli`. */
struct tls_session *tls_session_new_client(struct tls_client *cli,
					   const struct tls_client_session_config *cfg, char **err);

/* Facts, valid after the handshake ("TLSv1.3", "TLS_AES_256_GCM_SHA384",
 * the SNI name or NULL, the chosen ALPN protocol or NULL).  On a client
 * session the SNI is the name we sent. */
const char *tls_session_version(const struct tls_session *t);
const char *tls_session_cipher(const struct tls_session *t);
const char *tls_session_sni(const struct tls_session *t);
const char *tls_session_alpn(const struct tls_session *t);
bool tls_session_is_tls13(const struct tls_session *t);
/* True on a session made by tls_session_new_client. */
bool tls_session_is_client(const struct tls_session *t);

/* Channel binding data (RFC 5929, RFC 9266) for SCRAM-PLUS; the signature
 * of sasl_cb_fn but for the session's type: 0 and the data, or -1 when
 * `type` is unknown or not available on this session (tls-unique on TLS
 * 1.3).  Both ends of a connection compute the same bytes. */
int tls_session_channel_binding(struct tls_session *t, const char *type, unsigned char *out,
				size_t *len);
/* The binding types this session can provide, best first, for XEP-0440. */
size_t tls_session_channel_binding_types(const struct tls_session *t, const char **types,
					 size_t max);

/* ---- Client certificates ---- */

/*
 * A `struct tls_client_auth` is the client-certificate policy of a set of
 * listeners and its trust store, loaded into memory in one go (a CA file,
 * or every *.pem, *.crt, *.cer and c_rehash-style name in a directory,
 * plus an optional CRL file).  What it holds is an immutable, refcounted
 * generation: each new session takes the current one, and
 * tls_client_auth_reload() builds the next and swaps it in under a lock
 * taken once per new session, so a trust store edited with `parleyctl
 * trust` applies to new connections after a reload, established ones keep
 * the store they were verified against, and no disk I/O happens during a
 * handshake.  Owner: parleyd; any thread may reload; it must outlive the
 * listeners that pass it to tls_session_new_server_ex (sessions do not
 * need it: they hold their generation).
 *
 * Policy: `needed` asks every client for a certificate and fails the
 * handshake (certificate_required or a certificate alert) without one, or,
 * with disconnect_on_failure, with an invalid one.  `wanted` asks only
 * when the store can verify something (it holds a CA, or
 * accept_selfsigned), so a server with an empty store behaves as if
 * disabled; its handshakes never fail over a certificate: the verdict is
 * recorded for the stream to act on.  A session that asks for a
 * certificate is never resumed (no tickets, its own session id context):
 * resumption would skip verification against the current store.
 */
enum tls_client_certs {
	TLS_CLIENT_CERTS_DISABLED = 0,
	TLS_CLIENT_CERTS_WANTED = 1,
	TLS_CLIENT_CERTS_NEEDED = 2,
};

struct tls_client_auth_config {
	enum tls_client_certs mode;
	const char *ca_path;        /* PEM file or directory; NULL or missing: empty store */
	const char *crl_file;       /* PEM CRLs; NULL: no revocation check */
	unsigned verify_depth;      /* most intermediate CAs below a trusted one (1..16) */
	bool accept_selfsigned;     /* a self-signed leaf counts as verified */
	bool disconnect_on_failure; /* with `needed`: an invalid certificate fails the handshake */
};

/* The c2s.* settings (client_certs, client_ca, verify_depth, crl_file,
 * accept_selfsigned, disconnect_on_failure) as a tls_client_auth_config;
 * the strings point into `cfg`. */
void tls_client_auth_config_c2s(const struct config *cfg, struct tls_client_auth_config *out);

/* NULL with *err (heap string: the file and the reason) when a file of
 * the store or the CRL file cannot be read or parsed.  Certificates in a
 * directory that are not CAs are skipped with a warning. */
struct tls_client_auth *tls_client_auth_new(const struct tls_client_auth_config *cfg, char **err);
/* Builds a new generation from `cfg` and makes it current; on failure
 * returns -1 with *err and the current generation stays. */
int tls_client_auth_reload(struct tls_client_auth *ca, const struct tls_client_auth_config *cfg,
			   char **err);
/* Sessions holding a generation keep it alive after this. */
void tls_client_auth_free(struct tls_client_auth *ca);

struct tls_client_auth_info {
	unsigned generation; /* 1 for the first, +1 per successful reload */
	enum tls_client_certs mode;
	size_t ncas;         /* trusted CA certificates */
	size_t ncrls;
	bool requests;       /* new sessions ask clients for a certificate */
};

/* About the current generation, for log lines. */
void tls_client_auth_info(struct tls_client_auth *ca, struct tls_client_auth_info *out);

/* ---- The peer's certificate (after the handshake) ---- */

enum tls_peer_cert {
	TLS_PEER_CERT_NONE = 0,    /* none asked for, or the client sent none */
	TLS_PEER_CERT_VALID = 1,   /* verified against the session's trust store */
	TLS_PEER_CERT_INVALID = 2, /* sent but refused: see the problem and reason */
};

/* Why a certificate was refused: the first failure verification met. */
enum tls_cert_problem {
	TLS_CERT_OK = 0,
	TLS_CERT_EXPIRED,
	TLS_CERT_NOT_YET_VALID,
	TLS_CERT_UNKNOWN_ISSUER,  /* no trusted CA issued it (or its chain) */
	TLS_CERT_SELF_SIGNED,     /* self-signed, and accept_selfsigned is off */
	TLS_CERT_CHAIN_TOO_LONG,  /* more intermediates than verify_depth */
	TLS_CERT_REVOKED,
	TLS_CERT_CRL,             /* no CRL for its issuer, or the CRL expired */
	TLS_CERT_WRONG_PURPOSE,   /* EKU without the purpose's (clientAuth, serverAuth), or keyUsage */
	TLS_CERT_BAD_SIGNATURE,
	TLS_CERT_NOT_A_CA,        /* an issuer in the chain may not issue certificates */
	TLS_CERT_WEAK,            /* key too small or digest too weak */
	TLS_CERT_WRONG_NAME,      /* a server's certificate does not name the expected host */
	TLS_CERT_OTHER,
};

/* After a handshake that a certificate failed (needed +
 * disconnect_on_failure), state is NONE and problem and reason say why. */
struct tls_cert_status {
	enum tls_peer_cert state;
	enum tls_cert_problem problem; /* TLS_CERT_OK when VALID */
	int depth;                     /* where: 0 = the peer's own certificate, 1 its issuer... */
	/* A readable sentence naming the certificate and the reason, e.g.
	 * client certificate "CN=alice" expired on 2024-05-01 12:00:00 UTC. */
	char reason[320];
};

/* The verdict; `reason` (may be NULL) gets the sentence or "". */
enum tls_peer_cert tls_session_peer_cert_status(const struct tls_session *t, const char **reason);
/* All of it, valid as long as the session. */
const struct tls_cert_status *tls_session_peer_cert(const struct tls_session *t);
/* A short stable name for log keys and tests ("expired", "unknown-issuer"...). */
const char *tls_cert_problem_name(enum tls_cert_problem p);

/*
 * What a certificate names, as Parley reads it (XEP-0178, RFC 6120
 * §13.7.1.4, RFC 6125).  Strings are NUL-terminated UTF-8 copied into the
 * caller's arena, in certificate order, not prepared (the caller applies
 * JID or domain preparation).  A name with an embedded NUL, invalid
 * UTF-8, or an id-on-xmppAddr that is not a UTF8String is never returned
 * as an identity: it goes to `refused`, as a sentence saying which name
 * and why.
 */
enum { TLS_FINGERPRINT_HEX = 64 };

struct tls_cert_ids {
	const char **xmpp_addrs; /* id-on-xmppAddr SAN otherNames */
	size_t nxmpp_addrs;
	const char **dns_names;  /* dNSName SANs */
	size_t ndns_names;
	const char **srv_ids;    /* id-on-dnsSRV otherNames, as "_xmpp-server.example.org" */
	size_t nsrv_ids;
	const char **cns;        /* subject commonNames */
	size_t ncns;
	const char **refused;
	size_t nrefused;
	/* SHA-256 of the DER certificate, lower-case hex: what pins store. */
	char fingerprint[TLS_FINGERPRINT_HEX + 1];
	/* SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex: what
	 * s2s.peers pins store, since it survives a renewal with the same key
	 * (RFC 7469's pin-sha256, in hex). */
	char spki[TLS_FINGERPRINT_HEX + 1];
};

/* The identities of the peer's certificate whatever its verdict (callers
 * check tls_session_peer_cert_status first); -1 when there is none. */
int tls_session_peer_identities(const struct tls_session *t, struct arena *a,
				struct tls_cert_ids *out);

/*
 * Whether the identities name the server `domain` (RFC 6125 §6 as RFC 6120
 * §13.7.2 and RFC 7590 apply it to XMPP): a dNSName equal to it, or one
 * whose left-most label is exactly "*" standing for one label of it
 * ("*.example.org" names "chat.example.org", not "example.org" nor
 * "a.b.example.org"; other wildcards never match); an SRV-ID equal to
 * "_<srv_service>.<domain>" when srv_service is given; an id-on-xmppAddr
 * equal to it; a subject CN, as a dNSName would, only with allow_cn.
 * Compared ASCII case-insensitively, a trailing dot ignored.  No IDNA
 * mapping: pass the domain as the certificate spells it (A-labels).
 */
bool tls_cert_ids_name(const struct tls_cert_ids *ids, const char *domain, const char *srv_service,
		       bool allow_cn);

/* ---- Expiry of what we loaded ---- */

/* One certificate's expiry, for warnings before it happens (heap strings,
 * owned by the list). */
struct tls_cert_date {
	char *domain;         /* the host it serves; NULL for a trusted CA */
	char *file;           /* where it was loaded from (a trust store's path) */
	char *subject;        /* "CN=example.org" */
	bool chain;           /* an intermediate sent after a host's certificate */
	bool ca;              /* basicConstraints CA:TRUE */
	long long not_after;  /* Unix time */
};

struct tls_cert_dates {
	struct tls_cert_date *v;
	size_t n, cap;
};

/* Appends every host certificate of the current generation, leaf then
 * chain, in host order. */
void tls_server_cert_dates(struct tls_server *srv, struct tls_cert_dates *out);
/* Appends every CA certificate of the trust store's current generation,
 * `file` being its path (c2s.client_ca, s2s.ca) as configured. */
void tls_client_auth_cert_dates(struct tls_client_auth *ca, const char *file,
				struct tls_cert_dates *out);
void tls_cert_dates_clear(struct tls_cert_dates *d);

/* ---- Certificates ---- */

/* Writes a new EC P-256 key and a self-signed certificate (SANs: the DNS
 * names and xmppAddr of each domain, valid `days`) as PEM, the key with
 * mode 0600.  -1 with *err on failure. */
int tls_cert_make_selfsigned(const char *const *domains, size_t ndomains, unsigned days,
			     const char *cert_path, const char *key_path, char **err);

#endif
