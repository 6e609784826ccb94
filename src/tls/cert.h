/*
 * tls/cert: certificates as objects, for parleyctl and tests: the
 * identities a certificate names, the verdict a client trust store gives
 * on it without a handshake, issuing keys, certificates and CRLs, and
 * reading and writing PEM and PKCS#12 files.
 *
 * Unlike tls.h this header exposes OpenSSL types; the server's streams do
 * not need it.  The rules here are the ones the server applies: `parleyctl
 * cert show` and a handshake read the same names and give the same
 * reasons, because they run the same code.
 */
#ifndef PARLEY_TLS_CERT_H
#define PARLEY_TLS_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tls/tls.h"

struct arena;

/* ---- Reading certificates ---- */

/* The identities `x` names (see struct tls_cert_ids in tls.h).  Always
 * succeeds for a parsed certificate; 0. */
int tls_cert_ids_read(X509 *x, struct arena *a, struct tls_cert_ids *out);

/* Verifies `leaf` (with `chain`, the intermediates the peer would send;
 * may be NULL) against the current generation of `ca` as a handshake
 * would, the time being now.  Fills *out; returns out->state (never
 * TLS_PEER_CERT_NONE). */
enum tls_peer_cert tls_client_auth_check(struct tls_client_auth *ca, X509 *leaf,
					 STACK_OF(X509) *chain, struct tls_cert_status *out);
/* The same for a purpose other than a client's (DEFAULT: a client's): a
 * server certificate checked before we connect to its host, or a peer
 * server's that may carry clientAuth or serverAuth. */
enum tls_peer_cert tls_client_auth_check_purpose(struct tls_client_auth *ca, X509 *leaf,
						 STACK_OF(X509) *chain, enum tls_cert_purpose purpose,
						 struct tls_cert_status *out);

/* Whether the server reads a file of this name in a trust directory:
 * *.pem, *.crt, *.cer and c_rehash links (8 hex digits, '.', a number);
 * anything else there (a README) is not read. */
bool tls_trust_file_name(const char *name);

/* "CN=alice,O=Example" (RFC 2253 order), truncated to fit; returns out. */
const char *tls_name_str(const X509_NAME *name, char *out, size_t n);
/* "2025-04-01 12:00:00 UTC"; returns out. */
const char *tls_time_str(const ASN1_TIME *t, char *out, size_t n);
/* The SHA-256 fingerprint of `x` in lower-case hex. */
void tls_cert_fingerprint(X509 *x, char out[TLS_FINGERPRINT_HEX + 1]);
/* The SHA-256 of `x`'s DER SubjectPublicKeyInfo in lower-case hex. */
void tls_cert_spki(X509 *x, char out[TLS_FINGERPRINT_HEX + 1]);
/* True when `x` is a CA certificate (basicConstraints CA:TRUE). */
bool tls_cert_is_ca(X509 *x);

/* ---- Issuing ---- */

enum tls_cert_kind {
	TLS_CERT_CA,     /* CA:TRUE (critical), keyCertSign + cRLSign */
	TLS_CERT_CLIENT, /* EKU clientAuth */
	TLS_CERT_SERVER, /* EKU serverAuth + clientAuth (usable for s2s both ways) */
};

enum { TLS_CERT_DAYS_MAX = 36500 };

struct tls_cert_spec {
	enum tls_cert_kind kind;
	const char *cn;                  /* subject CN; NULL: none (the SAN is then critical) */
	const char *const *xmpp_addrs;   /* id-on-xmppAddr, written as UTF8String */
	size_t nxmpp_addrs;
	const char *const *dns_names;    /* dNSName, A-labels */
	size_t ndns_names;
	const char *const *srv_ids;      /* id-on-dnsSRV, "_service.domain", IA5String */
	size_t nsrv_ids;
	/* Extended key usage as OpenSSL names, comma separated ("serverAuth");
	 * NULL: as `kind` says; "": no EKU extension at all. */
	const char *eku;
	unsigned days;  /* validity from an hour ago (1..TLS_CERT_DAYS_MAX) */
	/* For tests of refusals: valid from `days` + 1 days ago until one day
	 * ago, so expired now. */
	bool expired;
	bool rsa;       /* RSA 3072 instead of EC P-256 */
};

/*
 * Makes a new key and a certificate for it signed by `issuer` with
 * `issuer_key`, or self-signed when `issuer` is NULL.  The serial is 128
 * random bits; subject and authority key identifiers are set.  -1 with
 * *err (heap string) when the spec is not acceptable (a name that is not
 * printable, bad days) or the issuer is not a CA.
 */
int tls_cert_issue(const struct tls_cert_spec *spec, X509 *issuer, EVP_PKEY *issuer_key,
		   X509 **cert, EVP_PKEY **key, char **err);

struct tls_crl_entry {
	const char *serial_hex; /* the certificate's serial, hex */
	int64_t revoked_at;     /* Unix time */
};

/* A CRL of `issuer` listing `entries`, number `number`, next update in
 * `days`; NULL with *err on bad input. */
X509_CRL *tls_crl_make(X509 *issuer, EVP_PKEY *issuer_key, const struct tls_crl_entry *entries,
		       size_t n, uint64_t number, unsigned days, char **err);

/* ---- Files ---- */

/* Every certificate in `path` (PEM, or one DER certificate); -1 with *err
 * when it cannot be read or holds none.  The caller frees it with
 * sk_X509_pop_free(certs, X509_free). */
int tls_file_read_certs(const char *path, STACK_OF(X509) **out, char **err);
/* The unencrypted private key in `path`; NULL with *err. */
EVP_PKEY *tls_file_read_key(const char *path, char **err);
/* Every CRL in the PEM file `path`; -1 with *err when none. */
int tls_file_read_crls(const char *path, STACK_OF(X509_CRL) **out, char **err);

/*
 * Writes `len` bytes to `path` with `mode`, whole or not at all: staged
 * beside it, synced, then linked into place (refusing an existing file
 * unless `overwrite`) or renamed over it.  -1 with *err.
 */
int tls_file_write(const char *path, mode_t mode, const void *data, size_t len, bool overwrite,
		   char **err);
/* PEM of the certificates, then the key, then the CRL (any may be absent),
 * through tls_file_write. */
int tls_file_write_pem(const char *path, mode_t mode, X509 *const *certs, size_t ncerts,
		       EVP_PKEY *key, X509_CRL *crl, bool overwrite, char **err);
/* A PKCS#12 bundle (AES-256, PBKDF2, SHA-256 MAC: OpenSSL 3's defaults)
 * of key, cert and the CA certificates `cas` (may be NULL), mode 0600. */
int tls_file_write_p12(const char *path, EVP_PKEY *key, X509 *cert, STACK_OF(X509) *cas,
		       const char *password, const char *friendly_name, bool overwrite,
		       char **err);

#endif
