/*
 * scram: the server side of SCRAM-SHA-1 and SCRAM-SHA-256 and their -PLUS
 * variants (RFC 5802, RFC 7677), a state machine over whole messages that
 * the stream has already base64-decoded.  It does not look accounts up:
 * the caller does that between scram_server_client_first and
 * scram_server_first, and passes the record (or NULL) in.
 *
 * Conditions.  Whatever the grammar of RFC 5802 §7 refuses is
 * malformed-request: a missing or misplaced attribute, a bad "=" escape,
 * invalid UTF-8, bad base64, the reserved "m" attribute, a message over
 * SASL_MSG_MAX, a step out of order, a final nonce that is not the one the
 * server sent.  Channel binding that does not fit the mechanism or the
 * connection is not-authorized, like a wrong proof: "p" with a non-PLUS
 * mechanism, "n" or "y" with a PLUS one, "y" where the stream offered PLUS
 * (the downgrade of RFC 5802 §6), a type the connection cannot supply, a
 * c= that differs.  So is a username SASLprep refuses.  After a failure
 * every further step is malformed-request.
 *
 * An unknown user gets a record made up from a per-process key and the
 * username, so the server-first-message looks like a real one and stays
 * the same across probes; the exchange then fails at step 3 exactly where
 * a wrong password would.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/slice.h"
#include "core/utf8.h"
#include "sasl/internal.h"

enum scram_state {
	SCRAM_WANT_CLIENT_FIRST,
	SCRAM_WANT_SERVER_FIRST,
	SCRAM_WANT_CLIENT_FINAL,
	SCRAM_DONE,
	SCRAM_FAILED,
};

/* Owner: the stream running the exchange; freed with scram_server_free.
 * Everything is a private copy: the messages and the record the caller
 * passed may go away between steps. */
struct scram_server {
	enum scram_hash hash;
	bool plus;
	bool server_plus;
	sasl_cb_fn *cb;
	void *cb_ud;
	enum scram_state state;
	bool unknown_user; /* `cred` is made up: step 3 must fail */
	enum scram_refusal refusal;
	char cb_type[24];  /* the binding type a 'p' flag asked for */
	unsigned unknown_iterations;
	char *username;	   /* SASLprep'ed */
	char *authzid;	   /* decoded, or NULL */
	char *cbind;	   /* the c= expected: base64(gs2-header + binding data) */
	char *client_nonce;
	char *server_nonce; /* from the test hook, else drawn at step 2 */
	char *nonce;	    /* client_nonce + server_nonce */
	struct buf auth;    /* AuthMessage, built up step by step */
	struct scram_cred cred;
};

/* Channel-binding types a client may ask for (RFC 5929, RFC 9266). */
static const char *const scram_cb_types[] = {
	"tls-unique",
	"tls-server-end-point",
	"tls-exporter",
};

/* ---- Per-process key for the records of unknown users ---- */

/* Written once, before first use, then only read: the made-up salt of a
 * user must not change while the process lives, or two probes would tell
 * a made-up record from a real one. */
static unsigned char scram_fake_key[32];
static pthread_once_t scram_fake_once = PTHREAD_ONCE_INIT;

static void scram_fake_key_init(void)
{
	if (RAND_bytes(scram_fake_key, sizeof(scram_fake_key)) != 1)
		log_fatal("sasl", "RAND_bytes failed");
}

static void scram_fake_cred(struct scram_server *s)
{
	unsigned char mac[32];
	struct buf in = BUF_INIT;

	pthread_once(&scram_fake_once, scram_fake_key_init);
	/* The hash name is in the input so the SHA-1 and SHA-256 salts of
	 * one name differ, as those of real records do. */
	buf_append_str(&in, scram_hash_name(s->hash));
	buf_append_char(&in, '\0');
	buf_append_str(&in, s->username);
	scram_hmac(SCRAM_SHA256, scram_fake_key, sizeof(scram_fake_key), in.data, in.len, mac);
	buf_clear(&in);

	memset(&s->cred, 0, sizeof(s->cred));
	s->cred.hash = s->hash;
	s->cred.iterations = s->unknown_iterations;
	memcpy(s->cred.salt, mac, SCRAM_SALT_LEN);
	s->cred.salt_len = SCRAM_SALT_LEN;
	/* Random keys so that step 3 does the same work as for a real user. */
	if (RAND_bytes(s->cred.stored_key, SCRAM_KEY_MAX) != 1 ||
	    RAND_bytes(s->cred.server_key, SCRAM_KEY_MAX) != 1)
		log_fatal("sasl", "RAND_bytes failed");
	s->unknown_user = true;
}

/* ---- Lexing ---- */

struct scram_cursor {
	const char *p;
	const char *end;
};

/* When the cursor is at "<name>=", takes the value up to the next ',' or
 * the end and moves past it. */
static bool scram_attr(struct scram_cursor *c, char name, struct slice *val)
{
	if (c->end - c->p < 2 || c->p[0] != name || c->p[1] != '=')
		return false;
	const char *v = c->p + 2;
	const char *comma = memchr(v, ',', (size_t)(c->end - v));
	const char *e = comma ? comma : c->end;
	*val = slice_make(v, (size_t)(e - v));
	c->p = e;
	return true;
}

static bool scram_comma(struct scram_cursor *c)
{
	if (c->p < c->end && *c->p == ',') {
		c->p++;
		return true;
	}
	return false;
}

static bool scram_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* An extension attr-val: ALPHA "=" 1*value-char.  The reserved "m"
 * (mandatory extensions) is refused, as RFC 5802 §5.1 requires. */
static bool scram_extension(struct scram_cursor *c)
{
	const char *v = c->p;
	const char *comma = memchr(v, ',', (size_t)(c->end - v));
	const char *e = comma ? comma : c->end;
	size_t n = (size_t)(e - v);
	if (n < 3 || !scram_is_alpha(v[0]) || v[0] == 'm' || v[1] != '=' ||
	    !utf8_valid(v + 2, n - 2))
		return false;
	c->p = e;
	return true;
}

/* printable = %x21-2B / %x2D-7E, at least one. */
static bool scram_printable(struct slice v)
{
	if (v.len == 0)
		return false;
	for (size_t i = 0; i < v.len; i++) {
		unsigned char ch = (unsigned char)v.p[i];
		if (ch < 0x21 || ch > 0x7E || ch == ',')
			return false;
	}
	return true;
}

/* cb-name = 1*(ALPHA / DIGIT / "." / "-") */
static bool scram_cb_name_ok(struct slice v)
{
	if (v.len == 0)
		return false;
	for (size_t i = 0; i < v.len; i++) {
		char ch = v.p[i];
		if (!scram_is_alpha(ch) && !(ch >= '0' && ch <= '9') && ch != '.' && ch != '-')
			return false;
	}
	return true;
}

static bool scram_hexpair(const char *p, char hi, char lo)
{
	/* ABNF literals are case-insensitive, so "=2c" is "=2C". */
	char l = p[1];
	if (l >= 'a' && l <= 'z')
		l = (char)(l - 'a' + 'A');
	return p[0] == hi && l == lo;
}

/* Decodes a saslname: "=2C" is ',', "=3D" is '=', any other '=' is an
 * error; the result is non-empty UTF-8.  A malloc'd string, or NULL. */
static char *scram_saslname(struct slice v)
{
	if (v.len == 0 || !utf8_valid(v.p, v.len))
		return NULL;
	char *out = xmalloc(v.len + 1);
	size_t n = 0;
	for (size_t i = 0; i < v.len; i++) {
		char ch = v.p[i];
		if (ch == '=') {
			if (i + 3 > v.len) {
				free(out);
				return NULL;
			}
			if (scram_hexpair(v.p + i + 1, '2', 'C')) {
				ch = ',';
			} else if (scram_hexpair(v.p + i + 1, '3', 'D')) {
				ch = '=';
			} else {
				free(out);
				return NULL;
			}
			i += 2;
		}
		out[n++] = ch;
	}
	out[n] = '\0';
	return out;
}

/* ---- Lifecycle ---- */

struct scram_server *scram_server_new(enum scram_hash h, bool plus, bool server_plus, sasl_cb_fn *cb,
				      void *cb_ud)
{
	if (!scram_hash_valid(h))
		log_fatal("sasl", "scram_server_new: no such hash %d", (int)h);
	struct scram_server *s = xcalloc(1, sizeof(*s));
	s->hash = h;
	s->plus = plus;
	s->server_plus = server_plus;
	s->cb = cb;
	s->cb_ud = cb_ud;
	s->state = SCRAM_WANT_CLIENT_FIRST;
	s->unknown_iterations = SCRAM_ITERATIONS_DEFAULT;
	buf_init(&s->auth);
	return s;
}

void scram_server_free(struct scram_server *s)
{
	if (!s)
		return;
	free(s->username);
	free(s->authzid);
	free(s->cbind);
	free(s->client_nonce);
	free(s->server_nonce);
	free(s->nonce);
	buf_clear(&s->auth);
	OPENSSL_cleanse(&s->cred, sizeof(s->cred));
	free(s);
}

void scram_server_set_unknown_iterations(struct scram_server *s, unsigned iterations)
{
	if (iterations > 0)
		s->unknown_iterations = iterations;
}

void scram_server_set_nonce(struct scram_server *s, const char *nonce)
{
	free(s->server_nonce);
	s->server_nonce = xstrdup(nonce);
}

const char *scram_server_username(const struct scram_server *s)
{
	return s->username;
}

const char *scram_server_authzid(const struct scram_server *s)
{
	return s->authzid;
}

/* ---- Step 1 ---- */

enum scram_cbind_flag { SCRAM_CB_N, SCRAM_CB_Y, SCRAM_CB_P };

/* Checks the binding flag against the mechanism and the connection and
 * fetches the binding data; on SASL_OK sets s->cbind. */
static enum sasl_cond scram_cbind(struct scram_server *s, enum scram_cbind_flag flag,
				  struct slice cb_name, const char *gs2, size_t gs2_len)
{
	unsigned char data[SCRAM_CB_MAX];
	size_t data_len = 0;

	switch (flag) {
	case SCRAM_CB_N:
		if (s->plus) {
			s->refusal = SCRAM_REFUSED_N_ON_PLUS;
			return SASL_NOT_AUTHORIZED;
		}
		break;
	case SCRAM_CB_Y:
		/* The client can bind but thinks we cannot: with -PLUS on
		 * offer, someone removed it from the list on the way. */
		if (s->plus || s->server_plus) {
			s->refusal = SCRAM_REFUSED_Y_DOWNGRADE;
			return SASL_NOT_AUTHORIZED;
		}
		break;
	case SCRAM_CB_P: {
		const char *type = NULL;
		for (size_t i = 0; i < sizeof(scram_cb_types) / sizeof(scram_cb_types[0]); i++)
			if (slice_eq_str(cb_name, scram_cb_types[i]))
				type = scram_cb_types[i];
		snprintf(s->cb_type, sizeof(s->cb_type), "%.*s", (int)(cb_name.len < 23 ? cb_name.len : 23),
			 cb_name.p);
		if (!s->plus) {
			s->refusal = SCRAM_REFUSED_P_ON_PLAIN;
			return SASL_NOT_AUTHORIZED;
		}
		data_len = sizeof(data);
		if (!s->cb || !type || s->cb(s->cb_ud, type, data, &data_len) != 0 || data_len == 0 ||
		    data_len > sizeof(data)) {
			s->refusal = SCRAM_REFUSED_CB_TYPE;
			return SASL_NOT_AUTHORIZED;
		}
		break;
	}
	}

	struct buf raw = BUF_INIT, enc = BUF_INIT;
	buf_append(&raw, gs2, gs2_len);
	buf_append(&raw, data, data_len);
	sasl_base64_encode(&enc, raw.data, raw.len);
	buf_clear(&raw);
	s->cbind = buf_steal(&enc);
	return SASL_OK;
}

static enum sasl_cond scram_client_first(struct scram_server *s, const char *msg, size_t len)
{
	struct scram_cursor c = {msg, msg + len};
	enum scram_cbind_flag flag;
	struct slice cb_name = SLICE_NULL, authz = SLICE_NULL, user, cnonce;

	if (len > SASL_MSG_MAX || memchr(msg, '\0', len))
		return SASL_MALFORMED_REQUEST;

	/* gs2-header = gs2-cbind-flag "," [ authzid ] "," */
	if (scram_attr(&c, 'p', &cb_name)) {
		if (!scram_cb_name_ok(cb_name))
			return SASL_MALFORMED_REQUEST;
		flag = SCRAM_CB_P;
	} else if (c.p < c.end && (*c.p == 'n' || *c.p == 'y')) {
		flag = *c.p == 'n' ? SCRAM_CB_N : SCRAM_CB_Y;
		c.p++;
	} else {
		return SASL_MALFORMED_REQUEST;
	}
	if (!scram_comma(&c))
		return SASL_MALFORMED_REQUEST;
	bool has_authz = scram_attr(&c, 'a', &authz);
	if (!scram_comma(&c))
		return SASL_MALFORMED_REQUEST;
	size_t gs2_len = (size_t)(c.p - msg);

	/* client-first-message-bare = [reserved-mext ","] username "," nonce
	 * ["," extensions]; a leading "m=" fails the "n=" test. */
	const char *bare = c.p;
	if (!scram_attr(&c, 'n', &user) || !scram_comma(&c) || !scram_attr(&c, 'r', &cnonce) ||
	    !scram_printable(cnonce))
		return SASL_MALFORMED_REQUEST;
	while (c.p < c.end)
		if (!scram_comma(&c) || !scram_extension(&c))
			return SASL_MALFORMED_REQUEST;

	char *authzid = NULL;
	if (has_authz && !(authzid = scram_saslname(authz)))
		return SASL_MALFORMED_REQUEST;
	char *raw_user = scram_saslname(user);
	if (!raw_user) {
		free(authzid);
		return SASL_MALFORMED_REQUEST;
	}

	enum sasl_cond cond = scram_cbind(s, flag, cb_name, msg, gs2_len);
	char *username = NULL;
	if (cond == SASL_OK) {
		username = sasl_saslprep(raw_user, strlen(raw_user), false);
		if (!username) {
			cond = SASL_NOT_AUTHORIZED;
			s->refusal = SCRAM_REFUSED_USERNAME;
		}
	}
	free(raw_user);
	if (cond != SASL_OK) {
		free(authzid);
		return cond;
	}

	s->username = username;
	s->authzid = authzid;
	s->client_nonce = xstrndup(cnonce.p, cnonce.len);
	buf_append(&s->auth, bare, (size_t)(msg + len - bare));
	return SASL_OK;
}

enum sasl_cond scram_server_client_first(struct scram_server *s, const char *msg, size_t len)
{
	if (s->state != SCRAM_WANT_CLIENT_FIRST || !msg) {
		s->state = SCRAM_FAILED;
		return SASL_MALFORMED_REQUEST;
	}
	enum sasl_cond cond = scram_client_first(s, msg, len);
	s->state = cond == SASL_OK ? SCRAM_WANT_SERVER_FIRST : SCRAM_FAILED;
	if (cond != SASL_OK && s->refusal == SCRAM_REFUSED_NONE)
		s->refusal = SCRAM_REFUSED_MALFORMED;
	return cond;
}

/* ---- Step 2 ---- */

static bool scram_cred_usable(const struct scram_server *s, const struct scram_cred *cred)
{
	return cred->hash == s->hash && cred->salt_len > 0 && cred->salt_len <= SCRAM_SALT_MAX &&
	       cred->iterations > 0;
}

void scram_server_first(struct scram_server *s, const struct scram_cred *cred, struct buf *out)
{
	if (s->state != SCRAM_WANT_SERVER_FIRST) {
		s->state = SCRAM_FAILED;
		return;
	}
	if (cred && scram_cred_usable(s, cred)) {
		s->cred = *cred;
	} else {
		if (cred)
			log_warn("sasl", "unusable %s record for user %s (salt %zu bytes, %u iterations); "
				 "failing the login as for an unknown user",
				 scram_hash_name(s->hash), s->username, cred->salt_len, cred->iterations);
		scram_fake_cred(s);
	}

	if (!s->server_nonce) {
		unsigned char r[SCRAM_NONCE_BYTES];
		struct buf enc = BUF_INIT;
		if (RAND_bytes(r, sizeof(r)) != 1)
			log_fatal("sasl", "RAND_bytes failed");
		sasl_base64_encode(&enc, r, sizeof(r));
		s->server_nonce = buf_steal(&enc);
	}
	size_t cn = strlen(s->client_nonce), sn = strlen(s->server_nonce);
	s->nonce = xmalloc(cn + sn + 1);
	memcpy(s->nonce, s->client_nonce, cn);
	memcpy(s->nonce + cn, s->server_nonce, sn + 1);

	size_t start = out->len;
	buf_printf(out, "r=%s,s=", s->nonce);
	sasl_base64_encode(out, s->cred.salt, s->cred.salt_len);
	buf_printf(out, ",i=%u", s->cred.iterations);

	buf_append_char(&s->auth, ',');
	buf_append(&s->auth, out->data + start, out->len - start);
	buf_append_char(&s->auth, ',');
	s->state = SCRAM_WANT_CLIENT_FINAL;
}

/* ---- Step 3 ---- */

/* The checks after the syntax: every failure is not-authorized, and the
 * work is the same whichever check fails. */
static enum sasl_cond scram_verify(struct scram_server *s, struct slice without_proof,
				   struct slice cbind, const struct buf *proof, struct buf *out)
{
	size_t hlen = scram_hash_len(s->hash);
	bool cbind_ok = slice_eq_str(cbind, s->cbind);
	bool len_ok = proof->len == hlen;
	unsigned char sig[SCRAM_KEY_MAX], key[SCRAM_KEY_MAX], stored[SCRAM_KEY_MAX];

	buf_append(&s->auth, without_proof.p, without_proof.len);
	scram_hmac(s->hash, s->cred.stored_key, hlen, s->auth.data, s->auth.len, sig);
	for (size_t i = 0; i < hlen; i++)
		key[i] = (unsigned char)((len_ok ? (unsigned char)proof->data[i] : 0) ^ sig[i]);
	scram_digest(s->hash, key, hlen, stored);
	int diff = CRYPTO_memcmp(stored, s->cred.stored_key, hlen);
	OPENSSL_cleanse(key, sizeof(key));
	if (!cbind_ok || !len_ok || diff != 0 || s->unknown_user) {
		/* A binding that differs is a session mismatch (a proxy in
		 * between, or a client bug), not a wrong password. */
		s->refusal = cbind_ok ? SCRAM_REFUSED_CREDENTIALS : SCRAM_REFUSED_CB_MISMATCH;
		return SASL_NOT_AUTHORIZED;
	}

	scram_hmac(s->hash, s->cred.server_key, hlen, s->auth.data, s->auth.len, sig);
	buf_append_str(out, "v=");
	sasl_base64_encode(out, sig, hlen);
	return SASL_OK;
}

static enum sasl_cond scram_client_final(struct scram_server *s, const char *msg, size_t len,
					 struct buf *out)
{
	struct scram_cursor c = {msg, msg + len};
	struct slice cbind, nonce, proof = SLICE_NULL;
	const char *proof_at = NULL;

	if (len > SASL_MSG_MAX || memchr(msg, '\0', len))
		return SASL_MALFORMED_REQUEST;

	/* client-final-message = "c=" base64 "," "r=" nonce ["," extensions]
	 * "," "p=" base64, the proof last. */
	if (!scram_attr(&c, 'c', &cbind) || !scram_comma(&c) || !scram_attr(&c, 'r', &nonce))
		return SASL_MALFORMED_REQUEST;
	while (c.p < c.end) {
		if (!scram_comma(&c))
			return SASL_MALFORMED_REQUEST;
		const char *attr = c.p;
		if (scram_attr(&c, 'p', &proof)) {
			if (c.p != c.end)
				return SASL_MALFORMED_REQUEST;
			proof_at = attr - 1;
			break;
		}
		if (!scram_extension(&c))
			return SASL_MALFORMED_REQUEST;
	}
	if (!proof_at || !scram_printable(nonce))
		return SASL_MALFORMED_REQUEST;

	struct buf raw = BUF_INIT;
	enum sasl_cond cond = SASL_MALFORMED_REQUEST;
	if (cbind.len == 0 || sasl_base64_decode(&raw, cbind.p, cbind.len) != 0)
		goto clear_raw;
	buf_reset(&raw);
	if (proof.len == 0 || sasl_base64_decode(&raw, proof.p, proof.len) != 0)
		goto clear_raw;
	if (!slice_eq_str(nonce, s->nonce))
		goto clear_raw;
	cond = scram_verify(s, slice_make(msg, (size_t)(proof_at - msg)), cbind, &raw, out);

clear_raw:
	buf_clear(&raw);
	return cond;
}

enum sasl_cond scram_server_client_final(struct scram_server *s, const char *msg, size_t len,
					 struct buf *out)
{
	if (s->state != SCRAM_WANT_CLIENT_FINAL || !msg) {
		s->state = SCRAM_FAILED;
		return SASL_MALFORMED_REQUEST;
	}
	enum sasl_cond cond = scram_client_final(s, msg, len, out);
	s->state = cond == SASL_OK ? SCRAM_DONE : SCRAM_FAILED;
	if (cond != SASL_OK && s->refusal == SCRAM_REFUSED_NONE)
		s->refusal = SCRAM_REFUSED_MALFORMED;
	return cond;
}

enum scram_refusal scram_server_refusal(const struct scram_server *s)
{
	return s->refusal;
}

const char *scram_server_cb_type(const struct scram_server *s)
{
	return s->cb_type;
}

static const char *const scram_refusal_texts[SCRAM_REFUSAL_COUNT] = {
	[SCRAM_REFUSED_NONE] = "not refused",
	[SCRAM_REFUSED_MALFORMED] = "malformed SCRAM message",
	[SCRAM_REFUSED_Y_DOWNGRADE] = "'y' flag (client can bind, believes we cannot) while -PLUS is offered",
	[SCRAM_REFUSED_N_ON_PLUS] = "'n' flag (no channel binding) on a -PLUS mechanism",
	[SCRAM_REFUSED_P_ON_PLAIN] = "'p' flag (channel binding) on a mechanism without -PLUS",
	[SCRAM_REFUSED_CB_TYPE] = "a channel-binding type this TLS session cannot give",
	[SCRAM_REFUSED_USERNAME] = "a username SASLprep refuses",
	[SCRAM_REFUSED_CB_MISMATCH] = "channel-binding data that differs from this TLS session's",
	[SCRAM_REFUSED_CREDENTIALS] = "wrong password or no such account",
};

const char *scram_refusal_text(enum scram_refusal r)
{
	return r < SCRAM_REFUSAL_COUNT ? scram_refusal_texts[r] : "?";
}
