/*
 * tls sessions: the TLS transport behind core/conn.h, for both roles (a
 * server session accepts, a client session connects: after the
 * constructor, the transport is the same code), ALPN selection and offer,
 * SNI sent, and the facts about an established session.
 *
 * The SSL reads and writes the socket itself (no BIO pair, no copy), and
 * read-ahead stays off, so the only plaintext hidden inside OpenSSL is the
 * rest of the current record: what pending() reports.  This file maps
 * OpenSSL's results onto CONN_IO_* codes and its error queue onto one line a
 * person can read.  It owns no socket: the conn opens, polls and closes the
 * fd; it knows no XMPP.
 *
 * The process must ignore SIGPIPE: OpenSSL writes with write(2), and a peer
 * that vanished would otherwise kill the server on the next record.
 */
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/alloc.h"
#include "core/log.h"
#include "tls/internal.h"

struct tls_session *tls_session_new_server(struct tls_server *srv, const char *const *alpn,
					   size_t nalpn)
{
	const struct tls_session_config cfg = {.alpn = alpn, .nalpn = nalpn};
	return tls_session_new_server_ex(srv, &cfg);
}

/* A session holding a copy of the ALPN list; no SSL yet. */
static struct tls_session *session_alloc(const char *const *alpn, size_t nalpn)
{
	size_t size = 0;
	for (size_t i = 0; i < nalpn; i++) {
		size_t n = strlen(alpn[i]);
		/* The list comes from code (listener tables), not from peers. */
		if (n == 0 || n > 255)
			log_fatal("tls", "ALPN protocol name \"%s\" must be 1 to 255 bytes", alpn[i]);
		size += 1 + n + 1;
	}

	struct tls_session *t = xcalloc(1, sizeof(*t) + size);
	unsigned char *p = t->alpn;
	for (size_t i = 0; i < nalpn; i++) {
		size_t n = strlen(alpn[i]);
		*p++ = (unsigned char)n;
		memcpy(p, alpn[i], n + 1);
		p += n + 1;
	}
	t->nalpn = nalpn;
	return t;
}

struct tls_session *tls_session_new_server_ex(struct tls_server *srv,
					      const struct tls_session_config *cfg)
{
	struct tls_session *t = session_alloc(cfg->alpn, cfg->nalpn);
	t->server_gen = tls_server_current(srv);
	t->ssl = tls_must(SSL_new(t->server_gen->hosts[0].ctx), "SSL_new");
	SSL_set_app_data(t->ssl, t);
	SSL_set_accept_state(t->ssl);
	tls_verify_attach(t, cfg->client_auth, cfg->peer_purpose);
	t->skip_whitespace = cfg->skip_leading_whitespace;
	if (cfg->alpn_client_auth && cfg->nalpn) {
		t->alpn_auth = xcalloc(cfg->nalpn, sizeof(*t->alpn_auth));
		t->alpn_purpose = xcalloc(cfg->nalpn, sizeof(*t->alpn_purpose));
		for (size_t i = 0; i < cfg->nalpn; i++) {
			t->alpn_auth[i] = cfg->alpn_client_auth[i];
			t->alpn_purpose[i] = cfg->alpn_peer_purpose ? cfg->alpn_peer_purpose[i] : TLS_PURPOSE_DEFAULT;
		}
	}
	return t;
}

static bool is_ip_literal(const char *s)
{
	struct in_addr a4;
	struct in6_addr a6;
	return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

static void session_free(void *tv);

struct tls_session *tls_session_new_client(struct tls_client *cli,
					   const struct tls_client_session_config *cfg, char **err)
{
	*err = NULL;
	struct tls_client_gen *gen = tls_client_current(cli);
	SSL_CTX *ctx = gen->anon;
	if (cfg->cert_domain) {
		ctx = NULL;
		for (size_t i = 0; i < gen->nhosts && !ctx; i++)
			if (strcasecmp(gen->hosts[i].domain, cfg->cert_domain) == 0)
				ctx = gen->hosts[i].ctx;
		if (!ctx) {
			*err = tls_errorf("no certificate for %s among the TLS client's hosts",
					  cfg->cert_domain);
			tls_client_gen_unref(gen);
			return NULL;
		}
	}
	struct tls_session *t = session_alloc(cfg->alpn, cfg->nalpn);
	t->client = true;
	/* The SSL holds its own reference to ctx: a reload may drop the
	 * generation's right after. */
	t->ssl = tls_must(SSL_new(ctx), "SSL_new");
	tls_client_gen_unref(gen);
	SSL_set_app_data(t->ssl, t);
	SSL_set_connect_state(t->ssl);

	/* RFC 6066 §3: a host name, without the trailing dot, never an
	 * address. */
	const char *sni = cfg->server_name;
	if (sni && *sni && !is_ip_literal(sni)) {
		char name[256];
		size_t n = strlen(sni);
		if (sni[n - 1] == '.')
			n--;
		if (n == 0 || n >= sizeof(name)) {
			*err = tls_errorf("server name \"%s\" cannot be sent as SNI", sni);
			session_free(t);
			return NULL;
		}
		memcpy(name, sni, n);
		name[n] = '\0';
		if (SSL_set_tlsext_host_name(t->ssl, name) != 1) {
			ERR_clear_error();
			*err = tls_errorf("server name \"%s\" cannot be sent as SNI", sni);
			session_free(t);
			return NULL;
		}
	}
	if (t->nalpn) {
		/* The wire list is ours without the NULs. */
		size_t len = 0;
		const unsigned char *p = t->alpn;
		for (size_t i = 0; i < t->nalpn; i++) {
			len += 1u + p[0];
			p += 1 + p[0] + 1;
		}
		unsigned char *w = xmalloc(len);
		p = t->alpn;
		for (size_t i = 0, off = 0; i < t->nalpn; i++) {
			memcpy(w + off, p, 1u + p[0]);
			off += 1u + p[0];
			p += 1 + p[0] + 1;
		}
		/* 0 on success, unlike the rest of OpenSSL. */
		if (SSL_set_alpn_protos(t->ssl, w, (unsigned int)len) != 0)
			log_fatal("tls", "out of memory in SSL_set_alpn_protos");
		free(w);
	}
	tls_verify_attach_client(t, cfg);
	return t;
}

/* A client learns the server's choice from the handshake: point at our
 * own copy of it, a C string. */
static void session_alpn_settle(struct tls_session *t)
{
	const unsigned char *sel = NULL;
	unsigned int len = 0;
	SSL_get0_alpn_selected(t->ssl, &sel, &len);
	t->alpn_selected = NULL;
	const unsigned char *p = t->alpn;
	for (size_t i = 0; sel && len && i < t->nalpn; i++) {
		if (p[0] == len && memcmp(p + 1, sel, len) == 0) {
			t->alpn_selected = (const char *)p + 1;
			return;
		}
		p += 1 + p[0] + 1;
	}
}

/* Server preference order: the first of ours that the client offers.
 * OpenSSL copies the choice, but `out` points into our own list anyway so
 * alpn_selected stays a C string. */
int tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		    const unsigned char *in, unsigned int inlen, void *arg)
{
	struct tls_session *t = SSL_get_app_data(ssl);
	if (!t || t->nalpn == 0)
		return SSL_TLSEXT_ERR_NOACK;
	const unsigned char *ours = t->alpn;
	for (size_t i = 0; i < t->nalpn; i++) {
		unsigned char n = ours[0];
		for (unsigned int k = 0; k < inlen; k += 1u + in[k]) {
			unsigned char m = in[k];
			if ((size_t)k + 1 + m > inlen)
				break;
			if (m == n && memcmp(in + k + 1, ours + 1, n) == 0) {
				*out = ours + 1;
				*outlen = n;
				t->alpn_selected = (const char *)ours + 1;
				/* A shared port: the kind ALPN picked decides which
				 * certificates to ask for.  The CertificateRequest is
				 * not written yet: this runs on the ClientHello. */
				if (t->alpn_auth) {
					tls_verify_detach(t);
					tls_verify_attach(t, t->alpn_auth[i], t->alpn_purpose[i]);
				}
				return SSL_TLSEXT_ERR_OK;
			}
		}
		ours += 1 + n + 1;
	}
	/* OpenSSL turns this into the no_application_protocol alert. */
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void session_bind_fd(struct tls_session *t, int fd)
{
	if (SSL_get_fd(t->ssl) != fd && SSL_set_fd(t->ssl, fd) != 1)
		log_fatal("tls", "out of memory in SSL_set_fd");
}

static void session_alpn_list(const struct tls_session *t, char *out, size_t n)
{
	const unsigned char *p = t->alpn;
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < t->nalpn && used < n; i++) {
		int w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", (const char *)p + 1);
		if (w < 0)
			break;
		used += (size_t)w;
		p += 1 + p[0] + 1;
	}
}

static const char *proto_name(int version)
{
	return version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2";
}

/* What an operator should read for the root cause in `e`. */
enum { TLS_ERR_MAX = 256 };

/* Most sessions never fail: the message buffer is made on the first error. */
static char *err_buf(struct tls_session *t)
{
	if (!t->err)
		t->err = xmalloc(TLS_ERR_MAX);
	return t->err;
}

static void session_describe(struct tls_session *t, const struct tls_errs *e, const char *prefix)
{
	char tmp[160];
	unsigned long code = e->n ? e->code[0] : 0;
	/* The root cause is the first entry from libssl; libcrypto entries
	 * before it are usually decoding noise. */
	for (size_t i = 0; i < e->n; i++) {
		if (ERR_GET_LIB(e->code[i]) == ERR_LIB_SSL) {
			code = e->code[i];
			break;
		}
	}
	int reason = ERR_GET_REASON(code);
	const char *what = NULL;

	if (code && ERR_GET_LIB(code) == ERR_LIB_SSL &&
	    (what = tls_verify_failure(t, reason, tmp, sizeof(tmp))) != NULL) {
		/* The client's certificate, judged by our policy: not a
		 * transport problem, so none of the cases below. */
	} else if (code && ERR_GET_LIB(code) == ERR_LIB_SSL) {
		if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
			int desc = reason - SSL_AD_REASON_OFFSET;
			bool cert = desc == SSL_AD_BAD_CERTIFICATE ||
				    desc == SSL_AD_UNSUPPORTED_CERTIFICATE ||
				    desc == SSL_AD_CERTIFICATE_REVOKED ||
				    desc == SSL_AD_CERTIFICATE_EXPIRED ||
				    desc == SSL_AD_CERTIFICATE_UNKNOWN || desc == SSL_AD_UNKNOWN_CA;
			snprintf(tmp, sizeof(tmp), "%s (alert: %s)",
				 cert ? "the peer rejected our certificate" : "the peer sent a fatal alert",
				 SSL_alert_desc_string_long(desc));
			what = tmp;
		}
		switch (reason) {
		case SSL_R_WRONG_VERSION_NUMBER:
			what = t->client ? "wrong version number (the server spoke plaintext or an old "
					   "protocol)"
					 : "wrong version number (client spoke plaintext or an old protocol)";
			break;
		case SSL_R_HTTP_REQUEST:
			what = "the client sent a plain HTTP request to a TLS port";
			break;
		case SSL_R_HTTPS_PROXY_REQUEST:
			what = "the client sent an HTTP proxy request to a TLS port";
			break;
		case SSL_R_UNSUPPORTED_PROTOCOL:
		case SSL_R_VERSION_TOO_LOW:
			snprintf(tmp, sizeof(tmp),
				 "no protocol version in common (the %s offers only versions "
				 "older than %s)",
				 t->client ? "server" : "client",
				 proto_name(SSL_get_min_proto_version(t->ssl)));
			what = tmp;
			break;
		case SSL_R_INAPPROPRIATE_FALLBACK:
			what = "the client fell back to an older protocol version than it supports "
			       "(inappropriate fallback)";
			break;
		case SSL_R_NO_SHARED_CIPHER:
			what = t->client ? "no cipher suite in common with the server"
					 : "no cipher suite in common with the client";
			break;
		case SSL_R_NO_SHARED_GROUPS:
		case SSL_R_NO_SUITABLE_KEY_SHARE:
			what = t->client ? "no key exchange group in common with the server"
					 : "no key exchange group in common with the client";
			break;
		case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
		case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
			what = "no signature algorithm in common with the client for our "
			       "certificate's key";
			break;
		case SSL_R_NO_APPLICATION_PROTOCOL: {
			char list[96];
			session_alpn_list(t, list, sizeof(list));
			snprintf(tmp, sizeof(tmp),
				 "the client offers no ALPN protocol this port serves (%s)", list);
			what = tmp;
			break;
		}
		case SSL_R_NO_RENEGOTIATION:
		case SSL_R_UNSAFE_LEGACY_RENEGOTIATION_DISABLED:
			what = "the peer asked for renegotiation, which is disabled";
			break;
		case SSL_R_BAD_WRITE_RETRY:
		case SSL_R_BAD_LENGTH:
			what = "a blocked write was retried with other data (a bug in the caller)";
			break;
		case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
			what = "bad record MAC (data corrupted in transit, or a broken peer)";
			break;
		default:
			break;
		}
	}
	if (!what) {
		struct tls_errs one = {.code = {code}, .n = code ? 1 : 0};
		what = tls_errs_text(&one, tmp, sizeof(tmp));
	}
	snprintf(err_buf(t), TLS_ERR_MAX, "%s: %s", prefix, what);
}

/*
 * Maps a failed SSL call (its return `r`, errno `saved_errno` right after
 * it) to a CONN_IO_* code.  Leaves the thread's error queue empty.
 *
 * A peer that closes the TCP connection, with or without close_notify,
 * yields CONN_IO_EOF, also during the handshake: port scanners and health
 * checks do it all day, and it is not worth a warning.  error() still says
 * what happened if the conn wants to log it.
 */
static int session_fail(struct tls_session *t, int r, int saved_errno, bool in_handshake)
{
	const char *prefix = in_handshake ? "TLS handshake failed" : "TLS error";
	struct tls_errs e;
	int kind = SSL_get_error(t->ssl, r);
	tls_errs_take(&e);

	switch (kind) {
	case SSL_ERROR_WANT_READ:
		return CONN_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return CONN_IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(err_buf(t), TLS_ERR_MAX, "peer closed the TLS session");
		return CONN_IO_EOF;
	case SSL_ERROR_SYSCALL:
		t->failed = true;
		if (e.n == 0 && saved_errno == 0) {
			/* OpenSSL before 3.0 reported a bare EOF this way. */
			snprintf(err_buf(t), TLS_ERR_MAX, "%s",
				 in_handshake ? "peer closed the connection during the handshake"
					      : "peer closed the connection without TLS close_notify");
			return CONN_IO_EOF;
		}
		if (saved_errno) {
			char tmp[128];
			snprintf(err_buf(t), TLS_ERR_MAX, "%s: %s", prefix,
				 strerror_r(saved_errno, tmp, sizeof(tmp)));
		} else {
			session_describe(t, &e, prefix);
		}
		return CONN_IO_ERROR;
	case SSL_ERROR_SSL:
		t->failed = true;
		if (tls_errs_has(&e, ERR_LIB_SSL, SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
			snprintf(err_buf(t), TLS_ERR_MAX, "%s",
				 in_handshake ? "peer closed the connection during the handshake"
					      : "peer closed the connection without TLS close_notify");
			return CONN_IO_EOF;
		}
		session_describe(t, &e, prefix);
		return CONN_IO_ERROR;
	default:
		t->failed = true;
		snprintf(err_buf(t), TLS_ERR_MAX, "%s: unexpected OpenSSL state %d", prefix, kind);
		return CONN_IO_ERROR;
	}
}

/* Drops whitespace at the head of the socket before OpenSSL reads it:
 * 0 when a non-whitespace byte is next, else a CONN_IO_* code. */
static int session_skip_whitespace(struct tls_session *t, int fd)
{
	char peek[64];
	for (;;) {
		ssize_t n = recv(fd, peek, sizeof(peek), MSG_PEEK);
		if (n == 0)
			return CONN_IO_EOF;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? CONN_IO_WANT_READ
											 : CONN_IO_ERROR;
		ssize_t ws = 0;
		while (ws < n && (peek[ws] == ' ' || peek[ws] == '\t' || peek[ws] == '\r' || peek[ws] == '\n'))
			ws++;
		if (ws > 0 && recv(fd, peek, (size_t)ws, 0) != ws)
			return CONN_IO_ERROR;
		if (ws < n) {
			t->skip_whitespace = false;
			return 0;
		}
	}
}

static int session_handshake(void *tv, int fd)
{
	struct tls_session *t = tv;
	if (t->failed)
		return CONN_IO_ERROR;
	if (t->skip_whitespace) {
		int r = session_skip_whitespace(t, fd);
		if (r != 0) {
			if (r == CONN_IO_ERROR)
				snprintf(err_buf(t), TLS_ERR_MAX, "reading before the TLS handshake: %s", strerror(errno));
			return r;
		}
	}
	session_bind_fd(t, fd);
	/* SSL_get_error reads the thread's queue: start from a clean one. */
	ERR_clear_error();
	errno = 0;
	int r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		tls_verify_handshake_done(t);
		/* SNI cannot run again (no renegotiation): the SSL's own
		 * reference keeps the context it ended on. */
		tls_server_gen_unref(t->server_gen);
		t->server_gen = NULL;
		if (t->client)
			session_alpn_settle(t);
		return 0;
	}
	return session_fail(t, r, errno, true);
}

static ssize_t session_read(void *tv, int fd, char *buf, size_t len)
{
	struct tls_session *t = tv;
	if (t->failed)
		return CONN_IO_ERROR;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	session_bind_fd(t, fd);
	bool in_handshake = !SSL_is_init_finished(t->ssl);
	size_t got = 0;
	ERR_clear_error();
	errno = 0;
	if (SSL_read_ex(t->ssl, buf, len, &got) == 1)
		return (ssize_t)got;
	return session_fail(t, 0, errno, in_handshake);
}

/* Partial writes are on: each call may accept less than `len` (a record at
 * a time), and after WANT_* OpenSSL insists on the same leading bytes and at
 * least as many of them (ACCEPT_MOVING_WRITE_BUFFER lets them move). */
static ssize_t session_write(void *tv, int fd, const char *buf, size_t len)
{
	struct tls_session *t = tv;
	if (t->failed)
		return CONN_IO_ERROR;
	if (len == 0)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	session_bind_fd(t, fd);
	bool in_handshake = !SSL_is_init_finished(t->ssl);
	size_t done = 0;
	ERR_clear_error();
	errno = 0;
	if (SSL_write_ex(t->ssl, buf, len, &done) == 1)
		return (ssize_t)done;
	return session_fail(t, 0, errno, in_handshake);
}

static size_t session_pending(void *tv)
{
	struct tls_session *t = tv;
	int n = SSL_pending(t->ssl);
	return n > 0 ? (size_t)n : 0;
}

static void session_shutdown(void *tv, int fd)
{
	struct tls_session *t = tv;
	/* After a fatal error OpenSSL forbids SSL_shutdown, and before the
	 * handshake there is no session to close. */
	if (t->failed || !SSL_is_init_finished(t->ssl))
		return;
	session_bind_fd(t, fd);
	ERR_clear_error();
	/* One attempt: close_notify if the socket takes it; the conn closes
	 * the fd next and does not wait for the peer's reply. */
	(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
}

static const char *session_error(void *tv)
{
	struct tls_session *t = tv;
	return t->err && t->err[0] ? t->err : "no TLS error recorded";
}

/* An idle session needs no record buffers (about 16 KiB each way): the
 * conn calls this once the connection has been quiet for a while, and the
 * next record allocates them again. */
static void session_trim(void *tv)
{
	struct tls_session *t = tv;
	if (!t->failed && SSL_is_init_finished(t->ssl) && !SSL_has_pending(t->ssl))
		(void)SSL_free_buffers(t->ssl);
}

static void session_free(void *tv)
{
	struct tls_session *t = tv;
	if (!t)
		return;
	SSL_free(t->ssl);
	tls_server_gen_unref(t->server_gen);
	if (t->verify) {
		tls_verify_clear(t->verify);
		free(t->verify);
	}
	free(t->alpn_auth);
	free(t->alpn_purpose);
	free(t->err);
	free(t);
}

const struct conn_transport_ops tls_transport_ops = {
	.name = "tls",
	.handshake = session_handshake,
	.read = session_read,
	.write = session_write,
	.pending = session_pending,
	.shutdown = session_shutdown,
	.error = session_error,
	.trim = session_trim,
	.free = session_free,
};

/* ---- Facts ---- */

const char *tls_session_version(const struct tls_session *t)
{
	return SSL_get_version(t->ssl);
}

const char *tls_session_cipher(const struct tls_session *t)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
	return c ? SSL_CIPHER_get_name(c) : NULL;
}

const char *tls_session_sni(const struct tls_session *t)
{
	return SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
}

const char *tls_session_alpn(const struct tls_session *t)
{
	return t->alpn_selected;
}

bool tls_session_is_tls13(const struct tls_session *t)
{
	return SSL_version(t->ssl) == TLS1_3_VERSION;
}

bool tls_session_is_client(const struct tls_session *t)
{
	return t->client;
}
