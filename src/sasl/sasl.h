/*
 * sasl: the server side of the SASL mechanisms Parley offers (RFC 6120 §6):
 * SCRAM-SHA-1 and SCRAM-SHA-256 with their -PLUS variants (RFC 5802,
 * RFC 7677, channel bindings tls-unique, tls-server-end-point and
 * tls-exporter), PLAIN (RFC 4616), and the credential records stored for
 * accounts (salted SCRAM keys, never passwords).
 *
 * Sans-I/O: messages in, messages out.  Looking up accounts is the caller's
 * job (between the first and second SCRAM steps), as is deciding which
 * mechanisms a stream may offer.
 */
#ifndef PARLEY_SASL_SASL_H
#define PARLEY_SASL_SASL_H

#include <stdbool.h>
#include <stddef.h>

struct arena;
struct buf;

/* RFC 6120 §6.5 failure conditions. */
enum sasl_cond {
	SASL_OK = 0,
	SASL_ABORTED,
	SASL_ACCOUNT_DISABLED,
	SASL_CREDENTIALS_EXPIRED,
	SASL_ENCRYPTION_REQUIRED,
	SASL_INCORRECT_ENCODING,
	SASL_INVALID_AUTHZID,
	SASL_INVALID_MECHANISM,
	SASL_MALFORMED_REQUEST,
	SASL_MECHANISM_TOO_WEAK,
	SASL_NOT_AUTHORIZED,
	SASL_TEMPORARY_AUTH_FAILURE,
};

/* "not-authorized", "invalid-authzid", ... */
const char *sasl_cond_name(enum sasl_cond c);

/* ---- Base64 (RFC 4648, strict: RFC 6120 §6.4.2 wants incorrect-encoding
 * for anything else) ---- */

void sasl_base64_encode(struct buf *out, const void *p, size_t n);
/* Decodes into `out` (appending); -1 on invalid input (bad characters,
 * bad padding, whitespace).  "=" alone decodes to empty, as RFC 6120 asks
 * for an empty response. */
int sasl_base64_decode(struct buf *out, const char *s, size_t len);

/* ---- Credentials ---- */

enum scram_hash {
	SCRAM_SHA1 = 0,
	SCRAM_SHA256 = 1,
};
enum { SCRAM_HASH_COUNT = 2, SCRAM_KEY_MAX = 32, SCRAM_SALT_MAX = 64 };
/* The iteration count to create records with.  An unknown user is answered
 * with it, so records made with another count let a probe tell them apart. */
enum { SCRAM_ITERATIONS_DEFAULT = 4096 };

/* "SHA-1", "SHA-256" */
const char *scram_hash_name(enum scram_hash h);
size_t scram_hash_len(enum scram_hash h);

/* What is stored per account and hash (RFC 5802 §3): never the password. */
struct scram_cred {
	enum scram_hash hash;
	unsigned iterations;
	unsigned char salt[SCRAM_SALT_MAX];
	size_t salt_len;
	unsigned char stored_key[SCRAM_KEY_MAX];
	unsigned char server_key[SCRAM_KEY_MAX];
};

/* Derives a record from a password (SASLprep'ed first) with a fresh random
 * 16-byte salt.  CPU-heavy (PBKDF2): callers in a loop run it on the thread
 * pool.  -1 when the password is not valid UTF-8 / fails SASLprep or is empty. */
int scram_cred_make(enum scram_hash h, const char *password, unsigned iterations, struct scram_cred *out);
/* As scram_cred_make with a given salt (1..SCRAM_SALT_MAX bytes): for
 * importing records and for test vectors.  -1 as above, or on a bad salt
 * length or zero iterations. */
int scram_cred_from_salt(enum scram_hash h, const char *password, const unsigned char *salt,
			 size_t salt_len, unsigned iterations, struct scram_cred *out);
/* True when `password` matches (for PLAIN).  CPU-heavy like the above;
 * constant time in the comparison. */
bool scram_cred_check_password(const struct scram_cred *c, const char *password, size_t len);

/* ---- SCRAM server ---- */

/* Supplies channel-binding data for a type name ("tls-unique",
 * "tls-server-end-point", "tls-exporter"): writes at most *len bytes to out,
 * sets *len, returns 0; -1 when the type is not available on this
 * connection. */
typedef int sasl_cb_fn(void *ud, const char *type, unsigned char *out, size_t *len);

struct scram_server;

/* `plus` selects the -PLUS mechanism.  `server_plus` says whether this
 * stream offered -PLUS mechanisms at all (for the "y" downgrade check of
 * RFC 5802 §6).  `cb` may be NULL when no binding is available. */
struct scram_server *scram_server_new(enum scram_hash h, bool plus, bool server_plus, sasl_cb_fn *cb,
				      void *cb_ud);
void scram_server_free(struct scram_server *s);
/* The iteration count announced to an unknown user (by default
 * SCRAM_ITERATIONS_DEFAULT): set it to the count records are made with, so
 * that a probe sees the same as for a real account.  0 is ignored.  Call
 * before scram_server_first. */
void scram_server_set_unknown_iterations(struct scram_server *s, unsigned iterations);

/* Step 1: the client-first-message (decoded).  On SASL_OK the username and
 * authzid are available for the account look-up. */
enum sasl_cond scram_server_client_first(struct scram_server *s, const char *msg, size_t len);
/* SASLprep'ed username from the message, NUL-terminated. */
const char *scram_server_username(const struct scram_server *s);
/* Requested authorization identity, or NULL when none was given. */
const char *scram_server_authzid(const struct scram_server *s);

/* Step 2: the server-first-message, appended to out.  `cred` is the
 * account's record for this hash, or NULL when there is no such account:
 * the exchange then goes on with a salt derived from the username so that
 * a probe cannot tell (it fails at step 3 with not-authorized). */
void scram_server_first(struct scram_server *s, const struct scram_cred *cred, struct buf *out);

/* Step 3: the client-final-message.  On SASL_OK the proof verified and the
 * server-final-message ("v=...") is appended to out. */
enum sasl_cond scram_server_client_final(struct scram_server *s, const char *msg, size_t len,
					 struct buf *out);

/*
 * Why an exchange was refused, for the log and the login throttle: only
 * SCRAM_REFUSED_CREDENTIALS is a failed check of credentials.  The others
 * are a negotiation the client could not complete (it then tries another
 * mechanism) or a malformed message.  The client sees none of this: every
 * refusal after syntax is <not-authorized/>.
 */
enum scram_refusal {
	SCRAM_REFUSED_NONE,
	SCRAM_REFUSED_MALFORMED,
	SCRAM_REFUSED_Y_DOWNGRADE,  /* 'y' flag while -PLUS is offered (RFC 5802 §6) */
	SCRAM_REFUSED_N_ON_PLUS,    /* 'n' flag on a -PLUS mechanism */
	SCRAM_REFUSED_P_ON_PLAIN,   /* 'p' flag on a mechanism without -PLUS */
	SCRAM_REFUSED_CB_TYPE,      /* a binding type this TLS session cannot give */
	SCRAM_REFUSED_USERNAME,     /* a username SASLprep refuses */
	SCRAM_REFUSED_CB_MISMATCH,  /* client-final c= differs from the binding */
	SCRAM_REFUSED_CREDENTIALS,  /* wrong proof, or no such account */
	SCRAM_REFUSAL_COUNT
};
enum scram_refusal scram_server_refusal(const struct scram_server *s);
/* One line for the log: what the client did, e.g. "'y' flag while -PLUS
 * is offered". */
const char *scram_refusal_text(enum scram_refusal r);
/* The binding type named by a refused 'p' flag ("" if none). */
const char *scram_server_cb_type(const struct scram_server *s);

/* ---- PLAIN ---- */

/* Splits "authzid NUL authcid NUL passwd"; the parts are NUL-terminated
 * copies in `a` (authzid NULL when empty); authcid is SASLprep'ed. */
enum sasl_cond sasl_plain_parse(struct arena *a, const char *msg, size_t len, const char **authzid,
				const char **authcid, const char **passwd, size_t *passwd_len);

#endif
