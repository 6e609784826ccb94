/*
 * Unit tests of tls/: certificate generation, server contexts and their
 * error messages, and the transport driven directly over a non-blocking
 * socketpair against a client written with plain OpenSSL calls (no conn,
 * no loop: each test pumps both ends itself with poll()).
 *
 * Every wait is bounded: loops have an iteration cap and poll() a timeout,
 * so a regression fails a test instead of hanging the suite.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/tls.h"

enum {
	POLL_MS = 2000,     /* one wait; nothing here should take this long */
	MAX_ITER = 200000,  /* pump iterations per exchange */
	MIB = 1024 * 1024,
};

#define OPS tls_transport_ops

#include "pair.h"

struct fixture {
	char dir[64];
	char a_cert[128], a_key[128];
	char b_cert[128], b_key[128];
	struct tls_server *srv; /* a.test (default), b.test */
};

static void fx_path(char *out, size_t n, const struct fixture *fx, const char *name)
{
	snprintf(out, n, "%s/%s", fx->dir, name);
}

static void make_cert(const char *domain, const char *cert, const char *key)
{
	const char *domains[] = {domain};
	char *err = NULL;
	int rc = tls_cert_make_selfsigned(domains, 1, 30, cert, key, &err);
	if (rc != 0)
		fail_msg("tls_cert_make_selfsigned(%s): %s", domain, err);
	assert_null(err);
}

static int group_setup(void **state)
{
	/* OpenSSL writes with write(2): a peer that is gone must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	struct fixture *fx = calloc(1, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/parley-tls-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	fx_path(fx->a_cert, sizeof(fx->a_cert), fx, "a.crt");
	fx_path(fx->a_key, sizeof(fx->a_key), fx, "a.key");
	fx_path(fx->b_cert, sizeof(fx->b_cert), fx, "b.crt");
	fx_path(fx->b_key, sizeof(fx->b_key), fx, "b.key");
	make_cert("a.test", fx->a_cert, fx->a_key);
	make_cert("b.test", fx->b_cert, fx->b_key);

	const struct tls_host hosts[] = {
		{"a.test", fx->a_cert, fx->a_key},
		{"b.test", fx->b_cert, fx->b_key},
	};
	const struct tls_server_config cfg = {.hosts = hosts, .nhosts = 2};
	char *err = NULL;
	fx->srv = tls_server_new(&cfg, &err);
	if (!fx->srv) {
		fprintf(stderr, "tls_server_new: %s\n", err);
		free(err);
		return -1;
	}
	*state = fx;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *fx = *state;
	tls_server_free(fx->srv);
	DIR *d = opendir(fx->dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			char p[512];
			snprintf(p, sizeof(p), "%s/%s", fx->dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* ---- A server session and an OpenSSL client on a socketpair ---- */

struct client_opts {
	int min_version, max_version; /* 0: OpenSSL's default */
	const char *sni;
	const unsigned char *alpn; /* wire format */
	unsigned alpn_len;
	bool legacy;               /* allow TLS 1.0/1.1 on the client */
	SSL_SESSION *resume;
};


static void pair_open(struct pair *p, struct tls_server *srv, const char *const *alpn, size_t nalpn,
		      const struct client_opts *o)
{
	static const struct client_opts none;
	if (!o)
		o = &none;
	memset(p, 0, sizeof(*p));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	p->sfd = sv[0];
	p->cfd = sv[1];
	p->t = tls_session_new_server(srv, alpn, nalpn);
	assert_non_null(p->t);

	p->cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(p->cctx);
	/* The tests check the certificate they got by its subject. */
	SSL_CTX_set_verify(p->cctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(p->cctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (o->legacy) {
		SSL_CTX_set_security_level(p->cctx, 0);
		assert_int_equal(SSL_CTX_set_cipher_list(p->cctx, "DEFAULT:@SECLEVEL=0"), 1);
	}
	if (o->min_version)
		assert_int_equal(SSL_CTX_set_min_proto_version(p->cctx, o->min_version), 1);
	if (o->max_version)
		assert_int_equal(SSL_CTX_set_max_proto_version(p->cctx, o->max_version), 1);
	p->cli = SSL_new(p->cctx);
	assert_non_null(p->cli);
	assert_int_equal(SSL_set_fd(p->cli, p->cfd), 1);
	SSL_set_connect_state(p->cli);
	if (o->sni)
		assert_int_equal(SSL_set_tlsext_host_name(p->cli, o->sni), 1);
	if (o->alpn)
		assert_int_equal(SSL_set_alpn_protos(p->cli, o->alpn, o->alpn_len), 0);
	if (o->resume)
		assert_int_equal(SSL_set_session(p->cli, o->resume), 1);
}

static void pair_connect(struct pair *p)
{
	pair_handshake(p);
	if (p->srv_rc != 0)
		fail_msg("server handshake: %d: %s", p->srv_rc, OPS.error(p->t));
	assert_int_equal(p->cli_ok, 1);
}

struct xfer_stats {
	unsigned partial_writes; /* server writes that took less than offered */
	unsigned pending_seen;   /* server reads that left bytes in pending() */
};

static short want_events(int rc)
{
	if (rc == CONN_IO_WANT_READ)
		return POLLIN;
	if (rc == CONN_IO_WANT_WRITE)
		return POLLOUT;
	return 0;
}

static short client_want(SSL *ssl, int r, const char *what)
{
	int e = SSL_get_error(ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return POLLIN;
	if (e == SSL_ERROR_WANT_WRITE)
		return POLLOUT;
	fail_msg("client %s failed: SSL error %d, %s", what, e,
		 ERR_reason_error_string(ERR_peek_error()));
	return 0;
}

/* Sends s2c from the server session and c2s from the client at the same
 * time, as a loop would, and checks both arrive intact. */
static void pair_transfer(struct pair *p, const unsigned char *s2c, size_t s2c_len,
			  const unsigned char *c2s, size_t c2s_len, struct xfer_stats *st)
{
	unsigned char *srv_got = malloc(c2s_len + 1);
	unsigned char *cli_got = malloc(s2c_len + 1);
	size_t s_sent = 0, s_recv = 0, c_sent = 0, c_recv = 0;
	int i;
	for (i = 0; i < MAX_ITER; i++) {
		if (s_sent == s2c_len && s_recv == c2s_len && c_sent == c2s_len && c_recv == s2c_len)
			break;
		bool progress = false;
		short sev = 0, cev = 0;

		if (s_sent < s2c_len) {
			size_t left = s2c_len - s_sent;
			ssize_t w = OPS.write(p->t, p->sfd, (const char *)s2c + s_sent, left);
			if (w > 0) {
				if ((size_t)w < left)
					st->partial_writes++;
				s_sent += (size_t)w;
				progress = true;
			} else {
				short ev = want_events((int)w);
				if (!ev)
					fail_msg("server write: %zd: %s", w, OPS.error(p->t));
				sev |= ev;
			}
		}
		if (s_recv < c2s_len) {
			/* Smaller than a record, so pending() has something to say. */
			char buf[1000];
			ssize_t r = OPS.read(p->t, p->sfd, buf, sizeof(buf));
			if (r > 0) {
				assert_true(s_recv + (size_t)r <= c2s_len);
				memcpy(srv_got + s_recv, buf, (size_t)r);
				s_recv += (size_t)r;
				if (OPS.pending(p->t) > 0)
					st->pending_seen++;
				progress = true;
			} else {
				short ev = want_events((int)r);
				if (!ev)
					fail_msg("server read: %zd: %s", r, OPS.error(p->t));
				sev |= ev;
			}
		}
		if (c_sent < c2s_len) {
			size_t w = 0;
			ERR_clear_error();
			if (SSL_write_ex(p->cli, c2s + c_sent, c2s_len - c_sent, &w) == 1) {
				c_sent += w;
				progress = true;
			} else {
				cev |= client_want(p->cli, 0, "write");
			}
		}
		if (c_recv < s2c_len) {
			size_t r = 0;
			ERR_clear_error();
			if (SSL_read_ex(p->cli, cli_got + c_recv, s2c_len - c_recv, &r) == 1) {
				c_recv += r;
				progress = true;
			} else {
				cev |= client_want(p->cli, 0, "read");
			}
		}
		if (progress)
			continue;
		struct pollfd pf[2] = {
			{.fd = p->sfd, .events = sev},
			{.fd = p->cfd, .events = cev},
		};
		if (poll(pf, 2, POLL_MS) <= 0)
			fail_msg("transfer stalled: server sent %zu/%zu got %zu/%zu, client sent "
				 "%zu/%zu got %zu/%zu",
				 s_sent, s2c_len, s_recv, c2s_len, c_sent, c2s_len, c_recv, s2c_len);
	}
	assert_true(i < MAX_ITER);
	assert_memory_equal(cli_got, s2c, s2c_len);
	assert_memory_equal(srv_got, c2s, c2s_len);
	free(srv_got);
	free(cli_got);
}

static void pair_hello(struct pair *p)
{
	static const char s2c[] = "<stream:stream from='a.test'>";
	static const char c2s[] = "<?xml version='1.0'?><stream:stream to='a.test'>";
	struct xfer_stats st = {0};
	pair_transfer(p, (const unsigned char *)s2c, sizeof(s2c) - 1, (const unsigned char *)c2s,
		      sizeof(c2s) - 1, &st);
}

static void peer_cn(SSL *cli, char *out, int n)
{
	X509 *x = SSL_get1_peer_certificate(cli);
	assert_non_null(x);
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, n) > 0);
	X509_free(x);
}

/* ---- Certificates ---- */

static bool has_san(GENERAL_NAMES *gens, int type, const char *value)
{
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		if (type == GEN_DNS && gn->type == GEN_DNS) {
			const ASN1_IA5STRING *s = gn->d.dNSName;
			if ((size_t)ASN1_STRING_length(s) == strlen(value) &&
			    memcmp(ASN1_STRING_get0_data(s), value, strlen(value)) == 0)
				return true;
		}
		if (type == GEN_OTHERNAME && gn->type == GEN_OTHERNAME) {
			ASN1_OBJECT *oid = NULL;
			ASN1_TYPE *v = NULL;
			GENERAL_NAME_get0_otherName(gn, &oid, &v);
			char txt[64];
			OBJ_obj2txt(txt, sizeof(txt), oid, 1);
			if (strcmp(txt, "1.3.6.1.5.5.7.8.5") != 0 || v->type != V_ASN1_UTF8STRING)
				continue;
			const ASN1_UTF8STRING *s = v->value.utf8string;
			if ((size_t)ASN1_STRING_length(s) == strlen(value) &&
			    memcmp(ASN1_STRING_get0_data(s), value, strlen(value)) == 0)
				return true;
		}
	}
	return false;
}

static X509 *read_cert(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	assert_non_null(b);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	assert_non_null(b);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(k);
	return k;
}

static void certgen_writes_names_and_private_key(void **state)
{
	struct fixture *fx = *state;
	char cert[128], key[128];
	fx_path(cert, sizeof(cert), fx, "multi.crt");
	fx_path(key, sizeof(key), fx, "multi.key");
	/* A key file left world-readable must end up 0600, never widened. */
	int fd = open(key, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	assert_true(fd >= 0);
	close(fd);
	chmod(key, 0644);

	const char *domains[] = {"example.org", "conference.example.org"};
	char *err = NULL;
	assert_int_equal(tls_cert_make_selfsigned(domains, 2, 90, cert, key, &err), 0);
	assert_null(err);

	struct stat st;
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	X509 *x = read_cert(cert);
	EVP_PKEY *k = read_key(key);
	assert_int_equal(X509_check_private_key(x, k), 1);

	char cn[256];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
					      sizeof(cn)) > 0);
	assert_string_equal(cn, "example.org");
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);

	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 4);
	assert_true(has_san(gens, GEN_DNS, "example.org"));
	assert_true(has_san(gens, GEN_DNS, "conference.example.org"));
	assert_true(has_san(gens, GEN_OTHERNAME, "example.org"));
	assert_true(has_san(gens, GEN_OTHERNAME, "conference.example.org"));
	GENERAL_NAMES_free(gens);

	assert_int_equal(X509_check_ca(x), 0);
	/* ECDHE signs: keyAgreement (static ECDH) is not needed, and the
	 * certificate is made the way parleyctl cert issue server makes one. */
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER | XKU_SSL_CLIENT);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	char group[64];
	size_t glen = 0;
	assert_int_equal(EVP_PKEY_get_group_name(k, group, sizeof(group), &glen), 1);
	assert_string_equal(group, "prime256v1");
	/* Valid now, for about 90 days, starting a little in the past. */
	assert_true(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);
	assert_true(X509_cmp_current_time(X509_get0_notAfter(x)) > 0);
	int days = 0, secs = 0;
	assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
	assert_int_equal(days, 90);
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	assert_false(BN_is_zero(bn));
	assert_false(BN_is_negative(bn));
	assert_true(BN_num_bits(bn) <= 128);
	BN_free(bn);

	/* A second run gives a new serial. */
	assert_int_equal(tls_cert_make_selfsigned(domains, 2, 90, cert, key, &err), 0);
	X509 *y = read_cert(cert);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(y)), 0);
	X509_free(y);

	X509_free(x);
	EVP_PKEY_free(k);
}

static void certgen_refuses_bad_input(void **state)
{
	struct fixture *fx = *state;
	char cert[128], key[128];
	fx_path(cert, sizeof(cert), fx, "bad.crt");
	fx_path(key, sizeof(key), fx, "bad.key");
	char *err = NULL;

	const char *spaces[] = {"exa mple.org"};
	assert_int_equal(tls_cert_make_selfsigned(spaces, 1, 30, cert, key, &err), -1);
	assert_non_null(strstr(err, "exa mple.org"));
	free(err);

	const char *ok[] = {"example.org"};
	assert_int_equal(tls_cert_make_selfsigned(ok, 1, 0, cert, key, &err), -1);
	assert_non_null(strstr(err, "days"));
	free(err);

	assert_int_equal(tls_cert_make_selfsigned(ok, 0, 30, cert, key, &err), -1);
	free(err);

	assert_int_equal(tls_cert_make_selfsigned(ok, 1, 30, cert, cert, &err), -1);
	assert_non_null(strstr(err, "both"));
	free(err);

	assert_int_equal(tls_cert_make_selfsigned(ok, 1, 30, cert, "/nonexistent-dir/x.key", &err),
			 -1);
	assert_non_null(strstr(err, "/nonexistent-dir/x.key"));
	free(err);
	/* Nothing half-written was left behind. */
	assert_int_not_equal(access(cert, F_OK), 0);
	assert_int_not_equal(access(key, F_OK), 0);
}

/* ---- Server contexts ---- */

static void expect_server_error(const struct tls_host *hosts, size_t n, const char *ciphers,
				const char *want1, const char *want2)
{
	const struct tls_server_config cfg = {.hosts = hosts, .nhosts = n, .ciphers = ciphers};
	char *err = NULL;
	struct tls_server *srv = tls_server_new(&cfg, &err);
	assert_null(srv);
	assert_non_null(err);
	print_message("tls_server_new: %s\n", err);
	if (!strstr(err, want1) || (want2 && !strstr(err, want2)))
		fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", err, want1, want2 ? want2 : "");
	free(err);
	assert_int_equal(ERR_peek_error(), 0);
}

static void server_errors_name_the_file_and_reason(void **state)
{
	struct fixture *fx = *state;
	char missing[128], enc[128];
	fx_path(missing, sizeof(missing), fx, "missing.pem");
	fx_path(enc, sizeof(enc), fx, "encrypted.key");

	struct tls_host h = {"a.test", missing, fx->a_key};
	expect_server_error(&h, 1, NULL, "host a.test: certificate file", "no such file");
	expect_server_error(&h, 1, NULL, missing, NULL);

	h = (struct tls_host){"a.test", fx->a_cert, missing};
	expect_server_error(&h, 1, NULL, "host a.test: key file", "no such file");

	h = (struct tls_host){"a.test", fx->a_cert, fx->b_key};
	expect_server_error(&h, 1, NULL, "host a.test", "key does not match certificate");

	h = (struct tls_host){"a.test", fx->a_cert, fx->a_cert};
	expect_server_error(&h, 1, NULL, "key file", "no PEM private key found");

	h = (struct tls_host){"a.test", fx->a_key, fx->a_key};
	expect_server_error(&h, 1, NULL, "certificate file", "no PEM certificate found");

	h = (struct tls_host){"a.test", fx->dir, fx->a_key};
	expect_server_error(&h, 1, NULL, "certificate file", "is a directory");

	/* A passphrase-protected key fails at once instead of prompting. */
	EVP_PKEY *k = read_key(fx->a_key);
	BIO *b = BIO_new_file(enc, "w");
	assert_non_null(b);
	assert_int_equal(PEM_write_bio_PrivateKey(b, k, EVP_aes_256_cbc(),
						  (const unsigned char *)"secret", 6, NULL, NULL),
			 1);
	BIO_free(b);
	EVP_PKEY_free(k);
	h = (struct tls_host){"a.test", fx->a_cert, enc};
	expect_server_error(&h, 1, NULL, "key file", "passphrase");

	expect_server_error(NULL, 0, NULL, "no TLS hosts", NULL);

	const struct tls_host twice[] = {
		{"a.test", fx->a_cert, fx->a_key},
		{"A.TEST", fx->a_cert, fx->a_key},
	};
	expect_server_error(twice, 2, NULL, "listed twice", NULL);

	h = (struct tls_host){"a.test", fx->a_cert, fx->a_key};
	expect_server_error(&h, 1, "NOPE-NOT-A-CIPHER", "ciphers", "NOPE-NOT-A-CIPHER");
}

/* ---- Handshakes ---- */

static void sni_selects_the_host_certificate(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *sni;
		const char *cn;
	} cases[] = {
		{"b.test", "b.test"},
		{"B.Test", "b.test"},
		{"a.test", "a.test"},
		{NULL, "a.test"},
		{"unknown.test", "a.test"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct client_opts o = {.sni = cases[i].sni};
		struct pair p;
		pair_open(&p, fx->srv, NULL, 0, &o);
		pair_connect(&p);
		char cn[256];
		peer_cn(p.cli, cn, sizeof(cn));
		if (strcmp(cn, cases[i].cn) != 0)
			fail_msg("SNI %s: got %s, want %s", cases[i].sni ? cases[i].sni : "(none)",
				 cn, cases[i].cn);
		if (cases[i].sni)
			assert_string_equal(tls_session_sni(p.t), cases[i].sni);
		else
			assert_null(tls_session_sni(p.t));
		pair_hello(&p);
		pair_close(&p);
	}
}

static const unsigned char alpn_h2[] = "\x02h2";
static const unsigned char alpn_both[] = "\x02h2\x0bxmpp-client\x0bxmpp-server";

static void alpn_matches_by_server_preference(void **state)
{
	struct fixture *fx = *state;
	const char *const client_first[] = {"xmpp-client"};
	const char *const server_first[] = {"xmpp-server", "xmpp-client"};

	struct client_opts o = {.alpn = alpn_both, .alpn_len = sizeof(alpn_both) - 1};
	struct pair p;
	pair_open(&p, fx->srv, client_first, 1, &o);
	pair_connect(&p);
	assert_string_equal(tls_session_alpn(p.t), "xmpp-client");
	const unsigned char *sel = NULL;
	unsigned sel_len = 0;
	SSL_get0_alpn_selected(p.cli, &sel, &sel_len);
	assert_int_equal(sel_len, 11);
	assert_memory_equal(sel, "xmpp-client", 11);
	pair_hello(&p);
	pair_close(&p);

	pair_open(&p, fx->srv, server_first, 2, &o);
	pair_connect(&p);
	assert_string_equal(tls_session_alpn(p.t), "xmpp-server");
	pair_close(&p);
}

static void alpn_mismatch_is_a_fatal_alert(void **state)
{
	struct fixture *fx = *state;
	const char *const ours[] = {"xmpp-client"};
	static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
	for (size_t i = 0; i < 2; i++) {
		struct client_opts o = {.alpn = alpn_h2, .alpn_len = sizeof(alpn_h2) - 1,
					.max_version = versions[i]};
		struct pair p;
		pair_open(&p, fx->srv, ours, 1, &o);
		pair_handshake(&p);
		assert_int_equal(p.srv_rc, CONN_IO_ERROR);
		const char *why = OPS.error(p.t);
		print_message("server: %s\n", why);
		if (!strstr(why, "ALPN") || !strstr(why, "xmpp-client"))
			fail_msg("unhelpful error: %s", why);
		assert_int_equal(p.cli_ok, 0);
		assert_int_equal(ERR_GET_REASON(p.cli_err), SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL);
		/* A failed session stays failed and never sends close_notify. */
		char buf[16];
		assert_int_equal(OPS.read(p.t, p.sfd, buf, sizeof(buf)), CONN_IO_ERROR);
		assert_int_equal(OPS.write(p.t, p.sfd, "x", 1), CONN_IO_ERROR);
		OPS.shutdown(p.t, p.sfd);
		pair_close(&p);
	}
}

static void alpn_absent_or_unconfigured_is_accepted(void **state)
{
	struct fixture *fx = *state;
	const char *const ours[] = {"xmpp-client"};
	struct pair p;

	/* The client offers none: accepted, nothing selected. */
	pair_open(&p, fx->srv, ours, 1, NULL);
	pair_connect(&p);
	assert_null(tls_session_alpn(p.t));
	pair_close(&p);

	/* We have no list: the client's offer is ignored. */
	struct client_opts o = {.alpn = alpn_h2, .alpn_len = sizeof(alpn_h2) - 1};
	pair_open(&p, fx->srv, NULL, 0, &o);
	pair_connect(&p);
	assert_null(tls_session_alpn(p.t));
	const unsigned char *sel = NULL;
	unsigned sel_len = 1;
	SSL_get0_alpn_selected(p.cli, &sel, &sel_len);
	assert_int_equal(sel_len, 0);
	pair_close(&p);
}

static void tls12_and_tls13_both_work(void **state)
{
	struct fixture *fx = *state;
	struct client_opts o12 = {.max_version = TLS1_2_VERSION};
	struct pair p;
	pair_open(&p, fx->srv, NULL, 0, &o12);
	pair_connect(&p);
	assert_string_equal(tls_session_version(p.t), "TLSv1.2");
	assert_false(tls_session_is_tls13(p.t));
	assert_non_null(strstr(tls_session_cipher(p.t), "ECDHE-ECDSA-"));
	assert_non_null(strstr(tls_session_cipher(p.t), "GCM"));
	pair_hello(&p);
	pair_close(&p);

	struct client_opts o13 = {.min_version = TLS1_3_VERSION};
	pair_open(&p, fx->srv, NULL, 0, &o13);
	pair_connect(&p);
	assert_string_equal(tls_session_version(p.t), "TLSv1.3");
	assert_true(tls_session_is_tls13(p.t));
	assert_memory_equal(tls_session_cipher(p.t), "TLS_", 4);
	pair_hello(&p);
	pair_close(&p);
}

static void old_protocols_are_refused(void **state)
{
	struct fixture *fx = *state;
	struct client_opts o11 = {.min_version = TLS1_1_VERSION, .max_version = TLS1_1_VERSION,
				  .legacy = true};
	struct pair p;
	pair_open(&p, fx->srv, NULL, 0, &o11);
	pair_handshake(&p);
	assert_int_equal(p.srv_rc, CONN_IO_ERROR);
	assert_int_equal(p.cli_ok, 0);
	const char *why = OPS.error(p.t);
	print_message("server: %s\n", why);
	if (!strstr(why, "TLS handshake failed") || !strstr(why, "TLS 1.2"))
		fail_msg("unhelpful error: %s", why);
	pair_close(&p);

	/* tls13_only refuses a TLS 1.2 client. */
	const struct tls_host h = {"a.test", fx->a_cert, fx->a_key};
	const struct tls_server_config cfg = {.hosts = &h, .nhosts = 1, .tls13_only = true};
	char *err = NULL;
	struct tls_server *srv13 = tls_server_new(&cfg, &err);
	assert_non_null(srv13);
	struct client_opts o12 = {.max_version = TLS1_2_VERSION};
	pair_open(&p, srv13, NULL, 0, &o12);
	pair_handshake(&p);
	assert_int_equal(p.srv_rc, CONN_IO_ERROR);
	assert_int_equal(p.cli_ok, 0);
	why = OPS.error(p.t);
	print_message("server: %s\n", why);
	if (!strstr(why, "TLS 1.3"))
		fail_msg("unhelpful error: %s", why);
	pair_close(&p);
	tls_server_free(srv13);
}

static void plaintext_client_gets_a_readable_error(void **state)
{
	struct fixture *fx = *state;
	static const char xml[] = "<?xml version='1.0'?><stream:stream";
	struct pair p;
	pair_open(&p, fx->srv, NULL, 0, NULL);
	assert_int_equal(write(p.cfd, xml, sizeof(xml) - 1), (ssize_t)(sizeof(xml) - 1));
	int rc = CONN_IO_WANT_READ;
	for (int i = 0; i < 100 && (rc == CONN_IO_WANT_READ || rc == CONN_IO_WANT_WRITE); i++) {
		rc = OPS.handshake(p.t, p.sfd);
		struct pollfd pf = {.fd = p.sfd, .events = want_events(rc)};
		if (pf.events)
			assert_true(poll(&pf, 1, POLL_MS) > 0);
	}
	assert_int_equal(rc, CONN_IO_ERROR);
	const char *why = OPS.error(p.t);
	print_message("server: %s\n", why);
	if (!strstr(why, "TLS handshake failed: wrong version number") || !strstr(why, "plaintext"))
		fail_msg("unhelpful error: %s", why);
	assert_int_equal(ERR_peek_error(), 0);
	pair_close(&p);
}

static void peer_closing_during_handshake_is_eof(void **state)
{
	struct fixture *fx = *state;
	struct pair p;
	pair_open(&p, fx->srv, NULL, 0, NULL);
	assert_int_equal(OPS.handshake(p.t, p.sfd), CONN_IO_WANT_READ);
	close(p.cfd);
	p.cfd = -1;
	assert_int_equal(OPS.handshake(p.t, p.sfd), CONN_IO_EOF);
	assert_string_equal(OPS.error(p.t), "peer closed the connection during the handshake");
	assert_int_equal(ERR_peek_error(), 0);
	pair_close(&p);
}

/* ---- Data ---- */

static void one_mib_both_ways_with_partial_writes(void **state)
{
	struct fixture *fx = *state;
	unsigned char *s2c = malloc(MIB), *c2s = malloc(MIB);
	for (size_t i = 0; i < MIB; i++) {
		s2c[i] = (unsigned char)(i * 7 + i / 251);
		c2s[i] = (unsigned char)(i * 13 + i / 241);
	}
	static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
	for (size_t v = 0; v < 2; v++) {
		struct client_opts o = {.min_version = versions[v], .max_version = versions[v]};
		struct pair p;
		pair_open(&p, fx->srv, NULL, 0, &o);
		/* A small socket buffer makes the kernel take part of each write. */
		int small = 16384;
		assert_int_equal(setsockopt(p.sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
		pair_connect(&p);
		struct xfer_stats st = {0};
		pair_transfer(&p, s2c, MIB, c2s, MIB, &st);
		assert_true(st.partial_writes > 0);
		assert_true(st.pending_seen > 0);
		assert_int_equal(OPS.pending(p.t), 0);

		/* Orderly close both ways. */
		OPS.shutdown(p.t, p.sfd);
		char c;
		size_t got = 0;
		int r = 0;
		for (int i = 0; i < 100; i++) {
			r = SSL_read_ex(p.cli, &c, 1, &got);
			if (r == 1 || SSL_get_error(p.cli, r) != SSL_ERROR_WANT_READ)
				break;
			struct pollfd pf = {.fd = p.cfd, .events = POLLIN};
			assert_true(poll(&pf, 1, POLL_MS) > 0);
		}
		assert_int_equal(r, 0);
		assert_int_equal(SSL_get_error(p.cli, r), SSL_ERROR_ZERO_RETURN);
		assert_int_equal(SSL_shutdown(p.cli), 1);
		ssize_t sr = CONN_IO_WANT_READ;
		for (int i = 0; i < 100 && sr == CONN_IO_WANT_READ; i++) {
			struct pollfd pf = {.fd = p.sfd, .events = POLLIN};
			assert_true(poll(&pf, 1, POLL_MS) > 0);
			sr = OPS.read(p.t, p.sfd, &c, 1);
		}
		assert_int_equal(sr, CONN_IO_EOF);
		pair_close(&p);
	}
	free(s2c);
	free(c2s);
}

static void *handshake_thread(void *arg)
{
	pair_handshake(arg);
	return NULL;
}

/* DESIGN.md: a connection authenticates on one worker and moves to the
 * one that owns its bare JID. */
static void session_moves_between_threads(void **state)
{
	struct fixture *fx = *state;
	struct pair p;
	pair_open(&p, fx->srv, NULL, 0, NULL);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, handshake_thread, &p), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(p.srv_rc, 0);
	assert_int_equal(p.cli_ok, 1);
	pair_hello(&p);
	pair_close(&p);
}

/* ---- Channel binding ---- */

static void check_bindings(struct pair *p, bool tls13, bool resumed)
{
	unsigned char s[64], c[64];
	size_t sl = sizeof(s);

	assert_int_equal(tls_session_channel_binding(p->t, "tls-exporter", s, &sl), 0);
	assert_int_equal(sl, 32);
	assert_int_equal(SSL_export_keying_material(p->cli, c, 32, "EXPORTER-Channel-Binding", 24,
						    NULL, 0, 0),
			 1);
	assert_memory_equal(s, c, 32);

	X509 *peer = SSL_get1_peer_certificate(p->cli);
	assert_non_null(peer);
	unsigned int cl = 0;
	assert_int_equal(X509_digest(peer, EVP_sha256(), c, &cl), 1);
	X509_free(peer);
	sl = sizeof(s);
	assert_int_equal(tls_session_channel_binding(p->t, "tls-server-end-point", s, &sl), 0);
	assert_int_equal(sl, cl);
	assert_memory_equal(s, c, cl);

	sl = sizeof(s);
	if (tls13) {
		assert_int_equal(tls_session_channel_binding(p->t, "tls-unique", s, &sl), -1);
	} else {
		/* The first Finished: the client's own on a full handshake, the
		 * server's on resumption. */
		size_t n = resumed ? SSL_get_peer_finished(p->cli, c, sizeof(c))
				   : SSL_get_finished(p->cli, c, sizeof(c));
		assert_int_equal(n, 12);
		assert_int_equal(tls_session_channel_binding(p->t, "tls-unique", s, &sl), 0);
		assert_int_equal(sl, 12);
		assert_memory_equal(s, c, 12);
	}

	const char *types[4] = {0};
	size_t nt = tls_session_channel_binding_types(p->t, types, 4);
	assert_int_equal(nt, tls13 ? 2 : 3);
	assert_string_equal(types[0], "tls-exporter");
	assert_string_equal(types[1], "tls-server-end-point");
	if (!tls13)
		assert_string_equal(types[2], "tls-unique");
	assert_int_equal(tls_session_channel_binding_types(p->t, types, 1), 1);

	sl = sizeof(s);
	assert_int_equal(tls_session_channel_binding(p->t, "tls-nonsense", s, &sl), -1);
	sl = 8;
	assert_int_equal(tls_session_channel_binding(p->t, "tls-exporter", s, &sl), -1);
}

static void channel_bindings_match_the_client(void **state)
{
	struct fixture *fx = *state;
	static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
	for (size_t v = 0; v < 2; v++) {
		bool tls13 = versions[v] == TLS1_3_VERSION;
		struct client_opts o = {.min_version = versions[v], .max_version = versions[v],
					.sni = "b.test"};
		struct pair p;
		pair_open(&p, fx->srv, NULL, 0, &o);
		/* Not available before the handshake. */
		unsigned char s[64];
		size_t sl = sizeof(s);
		assert_int_equal(tls_session_channel_binding(p.t, "tls-exporter", s, &sl), -1);
		assert_int_equal(tls_session_channel_binding_types(p.t, (const char *[4]){0}, 4), 0);
		pair_connect(&p);
		pair_hello(&p); /* the client reads the TLS 1.3 ticket here */
		check_bindings(&p, tls13, false);
		/* OpenSSL forgets a client session freed without close_notify. */
		assert_true(SSL_shutdown(p.cli) >= 0);
		SSL_SESSION *sess = SSL_get1_session(p.cli);
		assert_non_null(sess);
		pair_close(&p);
		assert_true(SSL_SESSION_is_resumable(sess));

		/* Resumption through a ticket (no server-side cache). */
		o.resume = sess;
		pair_open(&p, fx->srv, NULL, 0, &o);
		pair_connect(&p);
		if (!SSL_session_reused(p.cli))
			fail_msg("%s: the session was not resumed", tls13 ? "TLS 1.3" : "TLS 1.2");
		check_bindings(&p, tls13, true);
		pair_hello(&p);
		pair_close(&p);
		SSL_SESSION_free(sess);
	}
}

static void tls12_without_ems_has_no_exporter(void **state)
{
	struct fixture *fx = *state;
	struct client_opts o = {.max_version = TLS1_2_VERSION};
	struct pair p;
	pair_open(&p, fx->srv, NULL, 0, &o);
	SSL_set_options(p.cli, SSL_OP_NO_EXTENDED_MASTER_SECRET);
	pair_connect(&p);
	unsigned char s[64];
	size_t sl = sizeof(s);
	assert_int_equal(tls_session_channel_binding(p.t, "tls-exporter", s, &sl), -1);
	const char *types[4] = {0};
	assert_int_equal(tls_session_channel_binding_types(p.t, types, 4), 2);
	assert_string_equal(types[0], "tls-server-end-point");
	assert_string_equal(types[1], "tls-unique");
	pair_close(&p);
}

/* ---- Reloading certificates (SIGHUP) ---- */

/* Whether the client of `p` was shown the certificate in `path`. */
static bool peer_is(struct pair *p, const char *path)
{
	X509 *want = read_cert(path);
	X509 *got = SSL_get1_peer_certificate(p->cli);
	assert_non_null(got);
	bool same = X509_cmp(want, got) == 0;
	X509_free(got);
	X509_free(want);
	return same;
}

static void copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	assert_non_null(in);
	assert_non_null(out);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

static void reload_applies_to_new_sessions_only(void **state)
{
	struct fixture *fx = *state;
	char a[128], ak[128], b[128], bk[128], a1[128], b1[128];
	fx_path(a, sizeof(a), fx, "r-a.crt");
	fx_path(ak, sizeof(ak), fx, "r-a.key");
	fx_path(b, sizeof(b), fx, "r-b.crt");
	fx_path(bk, sizeof(bk), fx, "r-b.key");
	fx_path(a1, sizeof(a1), fx, "r-a1.crt");
	fx_path(b1, sizeof(b1), fx, "r-b1.crt");
	make_cert("a.test", a, ak);
	make_cert("b.test", b, bk);
	copy_file(a, a1);
	copy_file(b, b1);
	const struct tls_host hosts[] = {{"a.test", a, ak}, {"b.test", b, bk}};
	const struct tls_server_config cfg = {.hosts = hosts, .nhosts = 2};
	char *err = NULL;
	struct tls_server *srv = tls_server_new(&cfg, &err);
	assert_non_null(srv);
	assert_int_equal(tls_server_generation(srv), 1);

	/* One session done before the reload, one still before its
	 * ClientHello: SNI runs after the swap, on the generation the
	 * session was made from. */
	struct client_opts sni_b = {.sni = "b.test"};
	struct pair done, waiting;
	pair_open(&done, srv, NULL, 0, &sni_b);
	pair_connect(&done);
	pair_open(&waiting, srv, NULL, 0, &sni_b);

	make_cert("a.test", a, ak);
	make_cert("b.test", b, bk);
	assert_int_equal(tls_server_reload(srv, &cfg, &err), 0);
	assert_null(err);
	assert_int_equal(tls_server_generation(srv), 2);

	pair_connect(&waiting);
	assert_true(peer_is(&waiting, b1));
	pair_hello(&waiting);
	pair_hello(&done);

	struct pair fresh;
	pair_open(&fresh, srv, NULL, 0, &sni_b);
	pair_connect(&fresh);
	assert_true(peer_is(&fresh, b));
	assert_false(peer_is(&fresh, b1));
	pair_close(&fresh);
	pair_open(&fresh, srv, NULL, 0, NULL);
	pair_connect(&fresh);
	assert_true(peer_is(&fresh, a));
	pair_close(&fresh);

	/* A reload that fails keeps what was current. */
	const struct tls_host broken[] = {{"a.test", a, ak}, {"b.test", b, ak}};
	const struct tls_server_config bad = {.hosts = broken, .nhosts = 2};
	assert_int_equal(tls_server_reload(srv, &bad, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "host b.test: key file"));
	assert_non_null(strstr(err, "does not match certificate"));
	free(err);
	err = NULL;
	assert_int_equal(tls_server_generation(srv), 2);
	pair_open(&fresh, srv, NULL, 0, &sni_b);
	pair_connect(&fresh);
	assert_true(peer_is(&fresh, b));
	pair_close(&fresh);

	/* Sessions outlive the holder: each SSL holds its context. */
	struct pair late;
	pair_open(&late, srv, NULL, 0, &sni_b);
	tls_server_free(srv);
	pair_connect(&late);
	assert_true(peer_is(&late, b));
	pair_hello(&late);
	pair_hello(&done);
	pair_close(&late);
	pair_close(&waiting);
	pair_close(&done);
}

static void server_cert_dates_list_every_host(void **state)
{
	struct fixture *fx = *state;
	struct tls_cert_dates d = {0};
	tls_server_cert_dates(fx->srv, &d);
	assert_int_equal(d.n, 2);
	time_t now = time(NULL);
	const char *domains[] = {"a.test", "b.test"};
	const char *files[] = {fx->a_cert, fx->b_cert};
	for (size_t i = 0; i < 2; i++) {
		assert_string_equal(d.v[i].domain, domains[i]);
		assert_string_equal(d.v[i].file, files[i]);
		assert_false(d.v[i].chain);
		assert_non_null(strstr(d.v[i].subject, domains[i]));
		/* make_cert: 30 days from an hour ago. */
		long long left = d.v[i].not_after - (long long)now;
		assert_true(left > 29 * 86400LL && left <= 30 * 86400LL);
	}
	tls_cert_dates_clear(&d);
	assert_int_equal(d.n, 0);
	assert_null(d.v);
}

static void client_reload_swaps_host_certificates(void **state)
{
	struct fixture *fx = *state;
	const struct tls_host a_only[] = {{"a.test", fx->a_cert, fx->a_key}};
	const struct tls_host b_only[] = {{"b.test", fx->b_cert, fx->b_key}};
	struct tls_client_config cfg = {.hosts = a_only, .nhosts = 1};
	char *err = NULL;
	struct tls_client *cli = tls_client_new(&cfg, &err);
	assert_non_null(cli);
	const struct tls_client_session_config as_a = {.server_name = "x.test", .cert_domain = "a.test"};
	const struct tls_client_session_config as_b = {.server_name = "x.test", .cert_domain = "b.test"};
	struct tls_session *before = tls_session_new_client(cli, &as_a, &err);
	assert_non_null(before);

	cfg.hosts = b_only;
	assert_int_equal(tls_client_reload(cli, &cfg, &err), 0);
	assert_int_equal(tls_client_generation(cli), 2);
	struct tls_session *t = tls_session_new_client(cli, &as_a, &err);
	assert_null(t);
	assert_non_null(strstr(err, "no certificate for a.test"));
	free(err);
	err = NULL;
	t = tls_session_new_client(cli, &as_b, &err);
	assert_non_null(t);
	tls_transport_ops.free(t);

	const struct tls_host missing[] = {{"b.test", "/nonexistent/b.crt", fx->b_key}};
	cfg.hosts = missing;
	assert_int_equal(tls_client_reload(cli, &cfg, &err), -1);
	assert_non_null(strstr(err, "/nonexistent/b.crt: no such file"));
	free(err);
	err = NULL;
	assert_int_equal(tls_client_generation(cli), 2);
	t = tls_session_new_client(cli, &as_b, &err);
	assert_non_null(t);
	tls_transport_ops.free(t);

	tls_client_free(cli);
	tls_transport_ops.free(before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(certgen_writes_names_and_private_key),
		cmocka_unit_test(certgen_refuses_bad_input),
		cmocka_unit_test(server_errors_name_the_file_and_reason),
		cmocka_unit_test(sni_selects_the_host_certificate),
		cmocka_unit_test(alpn_matches_by_server_preference),
		cmocka_unit_test(alpn_mismatch_is_a_fatal_alert),
		cmocka_unit_test(alpn_absent_or_unconfigured_is_accepted),
		cmocka_unit_test(tls12_and_tls13_both_work),
		cmocka_unit_test(old_protocols_are_refused),
		cmocka_unit_test(plaintext_client_gets_a_readable_error),
		cmocka_unit_test(peer_closing_during_handshake_is_eof),
		cmocka_unit_test(one_mib_both_ways_with_partial_writes),
		cmocka_unit_test(session_moves_between_threads),
		cmocka_unit_test(channel_bindings_match_the_client),
		cmocka_unit_test(tls12_without_ems_has_no_exporter),
		cmocka_unit_test(reload_applies_to_new_sessions_only),
		cmocka_unit_test(server_cert_dates_list_every_host),
		cmocka_unit_test(client_reload_swaps_host_certificates),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
