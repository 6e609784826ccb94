/*
 * Unit tests of tls/clientauth.c (issue 4): client certificates judged
 * through real handshakes between a server session and an OpenSSL client
 * on a socketpair: a valid chain, expired, unknown CA, self-signed with and
 * without accept_selfsigned, a chain deeper than verify_depth, revoked with
 * a CRL, the wrong EKU, no certificate under wanted and needed, needed with
 * and without disconnect_on_failure; SNI moving the handshake to another
 * host's context; no resumption that would skip verification; generations
 * swapped while sessions hold the old one (also from several threads); the
 * offline check `parleyctl cert show` uses; trust store loading errors.
 *
 * Every certificate is made here with tls_cert_issue; none comes from the
 * repository.  Every wait is bounded (poll timeouts, iteration caps).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/arena.h"
#include "core/log.h"
#include "tls/cert.h"

enum { POLL_MS = 2000, MAX_ITER = 100000 };

#include "pair.h"

#define OPS tls_transport_ops

struct made {
	X509 *x;
	EVP_PKEY *key;
};

struct fixture {
	char dir[64];
	char trust[128];       /* directory holding root.pem */
	char other_trust[128]; /* directory holding other.pem */
	char crl[128];         /* root's CRL, revoking `revoked` */
	char crl_other[128];   /* other's CRL only */
	struct tls_server *srv;
	struct made root, other, int1, int2;
	struct made good, expired, unknown, selfsigned, deep, revoked, wrong_eku, server_eku;
};

static struct fixture *fx_global;

/* ---- Certificates ---- */

static struct made issue(const struct tls_cert_spec *spec, const struct made *ca)
{
	struct made m = {0};
	char *err = NULL;
	if (tls_cert_issue(spec, ca ? ca->x : NULL, ca ? ca->key : NULL, &m.x, &m.key, &err) != 0) {
		fprintf(stderr, "tls_cert_issue: %s\n", err);
		abort();
	}
	return m;
}

static struct made make_ca(const char *cn, const struct made *parent)
{
	const struct tls_cert_spec spec = {.kind = TLS_CERT_CA, .cn = cn, .days = 30};
	return issue(&spec, parent);
}

static struct made make_client(const char *jid, const char *cn, const struct made *ca, bool expired,
			       const char *eku)
{
	const char *xmpp[] = {jid};
	const struct tls_cert_spec spec = {.kind = TLS_CERT_CLIENT, .cn = cn, .xmpp_addrs = xmpp,
					   .nxmpp_addrs = jid ? 1 : 0, .days = 30, .expired = expired,
					   .eku = eku};
	return issue(&spec, ca);
}

static void made_free(struct made *m)
{
	X509_free(m->x);
	EVP_PKEY_free(m->key);
	m->x = NULL;
	m->key = NULL;
}

static void write_pem(const char *path, X509 *x, X509_CRL *crl)
{
	char *err = NULL;
	if (tls_file_write_pem(path, 0644, x ? &x : NULL, x ? 1 : 0, NULL, crl, true, &err) != 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
}

static X509_CRL *crl_of(const struct made *ca, const struct made *gone)
{
	char *err = NULL;
	BIGNUM *bn = gone ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(gone->x), NULL) : NULL;
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	struct tls_crl_entry e = {hex, 1700000000};
	X509_CRL *crl = tls_crl_make(ca->x, ca->key, &e, gone ? 1 : 0, 1, 30, &err);
	OPENSSL_free(hex);
	BN_free(bn);
	if (!crl)
		abort();
	return crl;
}

static int group_setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	/* Trust store warnings are expected here. */
	if (!getenv("TLS_TEST_LOG"))
		log_setup(LOG_ERROR, open("/dev/null", O_WRONLY | O_CLOEXEC));
	struct fixture *fx = calloc(1, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/parley-cauth-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	char a_crt[128], a_key[128], b_crt[128], b_key[128], p[192];
	snprintf(a_crt, sizeof(a_crt), "%s/a.crt", fx->dir);
	snprintf(a_key, sizeof(a_key), "%s/a.key", fx->dir);
	snprintf(b_crt, sizeof(b_crt), "%s/b.crt", fx->dir);
	snprintf(b_key, sizeof(b_key), "%s/b.key", fx->dir);
	char *err = NULL;
	const char *a[] = {"a.test"}, *b[] = {"b.test"};
	if (tls_cert_make_selfsigned(a, 1, 30, a_crt, a_key, &err) != 0 ||
	    tls_cert_make_selfsigned(b, 1, 30, b_crt, b_key, &err) != 0)
		return -1;
	const struct tls_host hosts[] = {{"a.test", a_crt, a_key}, {"b.test", b_crt, b_key}};
	const struct tls_server_config cfg = {.hosts = hosts, .nhosts = 2};
	fx->srv = tls_server_new(&cfg, &err);
	if (!fx->srv)
		return -1;

	fx->root = make_ca("Test Root CA", NULL);
	fx->other = make_ca("Other Root CA", NULL);
	fx->int1 = make_ca("Test Intermediate 1", &fx->root);
	fx->int2 = make_ca("Test Intermediate 2", &fx->int1);
	fx->good = make_client("alice@a.test", "alice", &fx->root, false, NULL);
	fx->expired = make_client("old@a.test", "old", &fx->root, true, NULL);
	fx->unknown = make_client("mallory@a.test", "mallory", &fx->other, false, NULL);
	fx->selfsigned = make_client("self@a.test", "self", NULL, false, NULL);
	fx->deep = make_client("deep@a.test", "deep", &fx->int2, false, NULL);
	fx->revoked = make_client("gone@a.test", "gone", &fx->root, false, NULL);
	fx->wrong_eku = make_client("srv@a.test", "srv", &fx->root, false, "serverAuth");
	fx->server_eku = make_client("both@a.test", "both", &fx->root, false, NULL);

	snprintf(fx->trust, sizeof(fx->trust), "%s/trust", fx->dir);
	snprintf(fx->other_trust, sizeof(fx->other_trust), "%s/other-trust", fx->dir);
	mkdir(fx->trust, 0755);
	mkdir(fx->other_trust, 0755);
	snprintf(p, sizeof(p), "%s/root.pem", fx->trust);
	write_pem(p, fx->root.x, NULL);
	snprintf(p, sizeof(p), "%s/README", fx->trust);
	FILE *f = fopen(p, "w");
	fputs("not a certificate, and not read\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/other.pem", fx->other_trust);
	write_pem(p, fx->other.x, NULL);

	snprintf(fx->crl, sizeof(fx->crl), "%s/crl.pem", fx->dir);
	X509_CRL *crl = crl_of(&fx->root, &fx->revoked);
	write_pem(fx->crl, NULL, crl);
	X509_CRL_free(crl);
	snprintf(fx->crl_other, sizeof(fx->crl_other), "%s/crl-other.pem", fx->dir);
	crl = crl_of(&fx->other, NULL);
	write_pem(fx->crl_other, NULL, crl);
	X509_CRL_free(crl);
	fx_global = fx;
	*state = fx;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *fx = *state;
	tls_server_free(fx->srv);
	struct made *all[] = {&fx->root, &fx->other, &fx->int1, &fx->int2, &fx->good, &fx->expired,
			      &fx->unknown, &fx->selfsigned, &fx->deep, &fx->revoked, &fx->wrong_eku,
			      &fx->server_eku};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		made_free(all[i]);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	int rc = system(cmd);
	free(fx);
	arena_cache_drain();
	return rc == 0 ? 0 : -1;
}

/* ---- Client-auth policies ---- */

struct policy {
	enum tls_client_certs mode;
	const char *ca_path; /* NULL: the fixture's trust directory */
	const char *crl;
	unsigned depth;
	bool selfsigned;
	bool disconnect;
	bool no_store;       /* no ca_path at all */
};

static struct tls_client_auth_config policy_config(const struct fixture *fx, const struct policy *p)
{
	return (struct tls_client_auth_config){
		.mode = p->mode,
		.ca_path = p->no_store ? NULL : p->ca_path ? p->ca_path : fx->trust,
		.crl_file = p->crl,
		.verify_depth = p->depth ? p->depth : 4,
		.accept_selfsigned = p->selfsigned,
		.disconnect_on_failure = p->disconnect,
	};
}

static struct tls_client_auth *auth_new(const struct fixture *fx, const struct policy *p)
{
	struct tls_client_auth_config cfg = policy_config(fx, p);
	char *err = NULL;
	struct tls_client_auth *ca = tls_client_auth_new(&cfg, &err);
	if (!ca)
		fail_msg("tls_client_auth_new: %s", err);
	return ca;
}

/* ---- A server session and an OpenSSL client on a socketpair ---- */

struct client {
	const struct made *cert;     /* NULL: none */
	const struct made *chain[3]; /* intermediates sent along */
	int max_version;
	const char *sni;
	SSL_SESSION *resume;
};


/* On a client, OpenSSL calls this when the server asks for a certificate. */
static int client_cert_cb(SSL *ssl, void *arg)
{
	struct pair *p = arg;
	p->requested = true;
	return 1;
}

static void pair_open(struct pair *p, struct tls_client_auth *ca, const struct client *c)
{
	static const struct client none;
	if (!c)
		c = &none;
	memset(p, 0, sizeof(*p));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	p->sfd = sv[0];
	p->cfd = sv[1];
	const struct tls_session_config scfg = {.client_auth = ca};
	p->t = tls_session_new_server_ex(fx_global->srv, &scfg);
	assert_non_null(p->t);

	p->cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(p->cctx);
	SSL_CTX_set_verify(p->cctx, SSL_VERIFY_NONE, NULL);
	if (c->max_version)
		assert_int_equal(SSL_CTX_set_max_proto_version(p->cctx, c->max_version), 1);
	p->cli = SSL_new(p->cctx);
	assert_non_null(p->cli);
	SSL_set_cert_cb(p->cli, client_cert_cb, p);
	assert_int_equal(SSL_set_fd(p->cli, p->cfd), 1);
	SSL_set_connect_state(p->cli);
	if (c->cert) {
		assert_int_equal(SSL_use_certificate(p->cli, c->cert->x), 1);
		assert_int_equal(SSL_use_PrivateKey(p->cli, c->cert->key), 1);
		for (int i = 0; i < 3 && c->chain[i]; i++)
			assert_int_equal(SSL_add1_chain_cert(p->cli, c->chain[i]->x), 1);
	}
	if (c->sni)
		assert_int_equal(SSL_set_tlsext_host_name(p->cli, c->sni), 1);
	if (c->resume)
		assert_int_equal(SSL_set_session(p->cli, c->resume), 1);
}

/* Both ends complete; returns the server's verdict. */
static const struct tls_cert_status *pair_connect(struct pair *p)
{
	pair_handshake(p);
	if (p->srv_rc != 0)
		fail_msg("server handshake: %d: %s", p->srv_rc, OPS.error(p->t));
	assert_true(p->cli_ok);
	return tls_session_peer_cert(p->t);
}

/* After the server failed: what the client reads (TLS 1.3 clients finish
 * their side first, and meet the alert on their first read). */
static unsigned long client_alert(struct pair *p)
{
	if (!p->cli_ok)
		return p->cli_err;
	char buf[64];
	for (int i = 0; i < 100; i++) {
		ERR_clear_error();
		int r = SSL_read(p->cli, buf, sizeof(buf));
		if (r > 0)
			continue;
		int e = SSL_get_error(p->cli, r);
		if (e != SSL_ERROR_WANT_READ)
			return ERR_peek_error();
		struct pollfd pf = {.fd = p->cfd, .events = POLLIN};
		if (poll(&pf, 1, POLL_MS) <= 0)
			break;
	}
	return 0;
}

/* Connects with `c` under `pol` and checks the verdict. */
static void expect_verdict(const struct policy *pol, const struct client *c, enum tls_peer_cert state,
			   enum tls_cert_problem problem, const char *needle)
{
	struct fixture *fx = fx_global;
	struct tls_client_auth *ca = auth_new(fx, pol);
	for (int v = 0; v < 2; v++) {
		struct client cc = *c;
		cc.max_version = v ? TLS1_2_VERSION : 0;
		struct pair p;
		pair_open(&p, ca, &cc);
		const struct tls_cert_status *st = pair_connect(&p);
		assert_true(p.requested);
		if (st->state != state || st->problem != problem)
			fail_msg("%s: state %d problem %s (%s), expected %d %s", v ? "TLS 1.2" : "TLS 1.3",
				 st->state, tls_cert_problem_name(st->problem), st->reason, state,
				 tls_cert_problem_name(problem));
		if (needle && !strstr(st->reason, needle))
			fail_msg("reason '%s' lacks '%s'", st->reason, needle);
		const char *reason = NULL;
		assert_int_equal(tls_session_peer_cert_status(p.t, &reason), state);
		assert_ptr_equal(reason, st->reason);
		pair_close(&p);
	}
	tls_client_auth_free(ca);
}

/* ---- Verdicts through handshakes ---- */

static void valid_chain_verifies_and_names_are_read(void **state)
{
	struct fixture *fx = *state;
	struct tls_client_auth *ca = auth_new(fx, &(struct policy){.mode = TLS_CLIENT_CERTS_WANTED});
	struct tls_client_auth_info info;
	tls_client_auth_info(ca, &info);
	assert_int_equal(info.generation, 1);
	assert_int_equal(info.ncas, 1);
	assert_int_equal(info.ncrls, 0);
	assert_true(info.requests);

	for (int v = 0; v < 2; v++) {
		struct pair p;
		pair_open(&p, ca, &(struct client){.cert = &fx->good, .max_version = v ? TLS1_2_VERSION : 0});
		const struct tls_cert_status *st = pair_connect(&p);
		assert_true(p.requested);
		assert_int_equal(st->state, TLS_PEER_CERT_VALID);
		assert_int_equal(st->problem, TLS_CERT_OK);
		assert_string_equal(st->reason, "");
		/* The CA names went out in the CertificateRequest. */
		STACK_OF(X509_NAME) *names = SSL_get_client_CA_list(p.cli);
		assert_int_equal(sk_X509_NAME_num(names), 1);
		assert_int_equal(X509_NAME_cmp(sk_X509_NAME_value(names, 0), X509_get_subject_name(fx->root.x)),
				 0);

		struct arena *a = arena_new();
		struct tls_cert_ids ids;
		assert_int_equal(tls_session_peer_identities(p.t, a, &ids), 0);
		assert_int_equal(ids.nxmpp_addrs, 1);
		assert_string_equal(ids.xmpp_addrs[0], "alice@a.test");
		assert_int_equal(ids.ncns, 1);
		assert_string_equal(ids.cns[0], "alice");
		char fp[TLS_FINGERPRINT_HEX + 1];
		tls_cert_fingerprint(fx->good.x, fp);
		assert_string_equal(ids.fingerprint, fp);
		arena_free(a);
		pair_close(&p);
	}
	tls_client_auth_free(ca);
}

static void expired_certificate(void **state)
{
	struct fixture *fx = *state;
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED}, &(struct client){.cert = &fx->expired},
		       TLS_PEER_CERT_INVALID, TLS_CERT_EXPIRED, "certificate \"CN=old\" expired on ");
}

static void unknown_ca(void **state)
{
	struct fixture *fx = *state;
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED}, &(struct client){.cert = &fx->unknown},
		       TLS_PEER_CERT_INVALID, TLS_CERT_UNKNOWN_ISSUER,
		       "certificate \"CN=mallory\" was issued by \"CN=Other Root CA\", which is not in the "
		       "trust store");
	/* The client sending its root along changes nothing. */
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED},
		       &(struct client){.cert = &fx->unknown, .chain = {&fx->other}}, TLS_PEER_CERT_INVALID,
		       TLS_CERT_UNKNOWN_ISSUER, "ends at \"CN=Other Root CA\", which is not in the trust store");
}

static void self_signed_with_and_without_accept(void **state)
{
	struct fixture *fx = *state;
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED},
		       &(struct client){.cert = &fx->selfsigned}, TLS_PEER_CERT_INVALID, TLS_CERT_SELF_SIGNED,
		       "certificate \"CN=self\" is self-signed, and self-signed certificates are not accepted");
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED, .selfsigned = true},
		       &(struct client){.cert = &fx->selfsigned}, TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	/* accept_selfsigned alone asks for certificates: no CA needed. */
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED, .selfsigned = true, .no_store = true},
		       &(struct client){.cert = &fx->selfsigned}, TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	/* It accepts self-signed, not anything: an expired one is expired. */
	const struct tls_cert_spec spec = {.kind = TLS_CERT_CLIENT, .cn = "selfold", .days = 2, .expired = true};
	struct made old = issue(&spec, NULL);
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED, .selfsigned = true},
		       &(struct client){.cert = &old}, TLS_PEER_CERT_INVALID, TLS_CERT_EXPIRED, "expired");
	made_free(&old);
}

static void chain_deeper_than_verify_depth(void **state)
{
	struct fixture *fx = *state;
	const struct client c = {.cert = &fx->deep, .chain = {&fx->int2, &fx->int1}};
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED, .depth = 1}, &c, TLS_PEER_CERT_INVALID,
		       TLS_CERT_CHAIN_TOO_LONG,
		       "the chain of certificate \"CN=deep\" has more intermediate CAs than the verify depth (1)");
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED, .depth = 2}, &c, TLS_PEER_CERT_VALID,
		       TLS_CERT_OK, NULL);
	/* An intermediate in the store is an anchor: the chain stops there,
	 * and the root it came from need not be trusted. */
	char dir[160], p[224];
	snprintf(dir, sizeof(dir), "%s/int-only", fx->dir);
	mkdir(dir, 0755);
	snprintf(p, sizeof(p), "%s/int1.pem", dir);
	write_pem(p, fx->int1.x, NULL);
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED, .ca_path = dir, .depth = 1}, &c,
		       TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED, .ca_path = dir},
		       &(struct client){.cert = &fx->good}, TLS_PEER_CERT_INVALID, TLS_CERT_UNKNOWN_ISSUER, NULL);
	/* Without its intermediates the chain cannot be built. */
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED}, &(struct client){.cert = &fx->deep},
		       TLS_PEER_CERT_INVALID, TLS_CERT_UNKNOWN_ISSUER, "CN=Test Intermediate 2");
}

static void revoked_with_crl(void **state)
{
	struct fixture *fx = *state;
	const struct policy pol = {.mode = TLS_CLIENT_CERTS_WANTED, .crl = fx->crl};
	expect_verdict(&pol, &(struct client){.cert = &fx->revoked}, TLS_PEER_CERT_INVALID, TLS_CERT_REVOKED,
		       "certificate \"CN=gone\" (serial ");
	expect_verdict(&pol, &(struct client){.cert = &fx->good}, TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	/* Without the CRL nothing is known about revocation. */
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED}, &(struct client){.cert = &fx->revoked},
		       TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	/* A CRL file without a CRL from the issuer fails closed. */
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED, .crl = fx->crl_other},
		       &(struct client){.cert = &fx->good}, TLS_PEER_CERT_INVALID, TLS_CERT_CRL,
		       "the CRL file has no CRL from \"CN=Test Root CA\"");
}

static void wrong_eku(void **state)
{
	struct fixture *fx = *state;
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED}, &(struct client){.cert = &fx->wrong_eku},
		       TLS_PEER_CERT_INVALID, TLS_CERT_WRONG_PURPOSE,
		       "certificate \"CN=srv\" is not for client authentication: its extended key usage lacks "
		       "clientAuth");
	/* serverAuth + clientAuth (a server certificate, for s2s) is fine. */
	const char *dns[] = {"a.test"};
	const struct tls_cert_spec spec = {.kind = TLS_CERT_SERVER, .cn = "a.test", .dns_names = dns,
					   .ndns_names = 1, .days = 5};
	struct made both = issue(&spec, &fx->root);
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED}, &(struct client){.cert = &both},
		       TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	made_free(&both);
}

static void no_certificate_under_wanted_and_needed(void **state)
{
	struct fixture *fx = *state;
	for (int v = 0; v < 2; v++) {
		int max = v ? TLS1_2_VERSION : 0;
		/* wanted: the handshake goes on, with no certificate. */
		struct tls_client_auth *ca = auth_new(fx, &(struct policy){.mode = TLS_CLIENT_CERTS_WANTED});
		struct pair p;
		pair_open(&p, ca, &(struct client){.max_version = max});
		const struct tls_cert_status *st = pair_connect(&p);
		assert_true(p.requested);
		assert_int_equal(st->state, TLS_PEER_CERT_NONE);
		struct arena *a = arena_new();
		struct tls_cert_ids ids;
		assert_int_equal(tls_session_peer_identities(p.t, a, &ids), -1);
		arena_free(a);
		pair_close(&p);
		tls_client_auth_free(ca);

		/* needed: a fatal alert and a line that says why. */
		ca = auth_new(fx, &(struct policy){.mode = TLS_CLIENT_CERTS_NEEDED});
		pair_open(&p, ca, &(struct client){.max_version = max});
		pair_handshake(&p);
		assert_int_equal(p.srv_rc, CONN_IO_ERROR);
		assert_string_equal(OPS.error(p.t),
				    "TLS handshake failed: the client sent no certificate, and this port requires one");
		unsigned long e = client_alert(&p);
		assert_int_equal(ERR_GET_LIB(e), ERR_LIB_SSL);
		if (!v)
			assert_int_equal(ERR_GET_REASON(e), SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED);
		assert_int_equal(tls_session_peer_cert_status(p.t, NULL), TLS_PEER_CERT_NONE);
		pair_close(&p);
		tls_client_auth_free(ca);
	}
}

static void needed_and_disconnect_on_failure(void **state)
{
	struct fixture *fx = *state;
	/* needed, disconnect_on_failure: an invalid certificate fails the
	 * handshake with a certificate alert and the reason. */
	struct tls_client_auth *ca =
		auth_new(fx, &(struct policy){.mode = TLS_CLIENT_CERTS_NEEDED, .disconnect = true});
	for (int v = 0; v < 2; v++) {
		struct pair p;
		pair_open(&p, ca, &(struct client){.cert = &fx->expired, .max_version = v ? TLS1_2_VERSION : 0});
		pair_handshake(&p);
		assert_int_equal(p.srv_rc, CONN_IO_ERROR);
		const char *e = OPS.error(p.t);
		if (!strstr(e, "TLS handshake failed: client certificate refused (expired): certificate "
			       "\"CN=old\" expired on "))
			fail_msg("error: %s", e);
		unsigned long ce = client_alert(&p);
		assert_int_equal(ERR_GET_REASON(ce), SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED);
		const struct tls_cert_status *st = tls_session_peer_cert(p.t);
		assert_int_equal(st->state, TLS_PEER_CERT_NONE);
		assert_int_equal(st->problem, TLS_CERT_EXPIRED);
		pair_close(&p);

		/* ... and a valid one passes. */
		pair_open(&p, ca, &(struct client){.cert = &fx->good, .max_version = v ? TLS1_2_VERSION : 0});
		assert_int_equal(pair_connect(&p)->state, TLS_PEER_CERT_VALID);
		pair_close(&p);
	}
	tls_client_auth_free(ca);

	/* needed without disconnect_on_failure: the stream decides. */
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_NEEDED, .disconnect = false},
		       &(struct client){.cert = &fx->unknown}, TLS_PEER_CERT_INVALID, TLS_CERT_UNKNOWN_ISSUER, NULL);
	/* wanted never fails a handshake over a certificate. */
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED, .disconnect = true},
		       &(struct client){.cert = &fx->unknown}, TLS_PEER_CERT_INVALID, TLS_CERT_UNKNOWN_ISSUER, NULL);
}

static void wanted_with_empty_store_or_disabled_asks_nothing(void **state)
{
	struct fixture *fx = *state;
	char empty[160];
	snprintf(empty, sizeof(empty), "%s/empty", fx->dir);
	mkdir(empty, 0755);
	const struct policy pols[] = {
		{.mode = TLS_CLIENT_CERTS_WANTED, .ca_path = empty},
		{.mode = TLS_CLIENT_CERTS_WANTED, .no_store = true},
		{.mode = TLS_CLIENT_CERTS_DISABLED},
	};
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		struct tls_client_auth *ca = auth_new(fx, &pols[i]);
		struct tls_client_auth_info info;
		tls_client_auth_info(ca, &info);
		assert_false(info.requests);
		struct pair p;
		pair_open(&p, ca, &(struct client){.cert = &fx->good});
		const struct tls_cert_status *st = pair_connect(&p);
		assert_false(p.requested);
		assert_int_equal(st->state, TLS_PEER_CERT_NONE);
		pair_close(&p);
		tls_client_auth_free(ca);
	}
	/* The old constructor never asks. */
	struct pair p;
	pair_open(&p, NULL, &(struct client){.cert = &fx->good});
	assert_int_equal(pair_connect(&p)->state, TLS_PEER_CERT_NONE);
	assert_false(p.requested);
	pair_close(&p);
}

/* SNI moves the handshake to b.test's SSL_CTX, which replaces the SSL's
 * certificate settings: the session's trust store must survive it. */
static void sni_keeps_the_trust_store(void **state)
{
	struct fixture *fx = *state;
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED},
		       &(struct client){.cert = &fx->good, .sni = "b.test"}, TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	expect_verdict(&(struct policy){.mode = TLS_CLIENT_CERTS_WANTED},
		       &(struct client){.cert = &fx->unknown, .sni = "b.test"}, TLS_PEER_CERT_INVALID,
		       TLS_CERT_UNKNOWN_ISSUER, NULL);
}

/* A resumed session would skip verification: a ticket from a session made
 * without client certificates must not resume one that asks for them, and
 * sessions that ask issue no tickets. */
static void no_resumption_around_verification(void **state)
{
	struct fixture *fx = *state;
	struct tls_client_auth *ca = auth_new(fx, &(struct policy){.mode = TLS_CLIENT_CERTS_WANTED});
	for (int v = 0; v < 2; v++) {
		int max = v ? TLS1_2_VERSION : 0;
		struct pair p;
		pair_open(&p, NULL, &(struct client){.max_version = max, .sni = "a.test"});
		pair_connect(&p);
		/* TLS 1.3 tickets arrive after the handshake. */
		assert_int_equal(OPS.write(p.t, p.sfd, "x", 1), 1);
		char b;
		for (int i = 0; i < 100 && SSL_read(p.cli, &b, 1) <= 0; i++) {
			struct pollfd pf = {.fd = p.cfd, .events = POLLIN};
			poll(&pf, 1, POLL_MS);
		}
		/* OpenSSL forgets a client session freed without close_notify. */
		assert_true(SSL_shutdown(p.cli) >= 0);
		SSL_SESSION *sess = SSL_get1_session(p.cli);
		assert_non_null(sess);
		assert_true(SSL_SESSION_is_resumable(sess));
		pair_close(&p);

		/* The ticket works where no certificate is asked for ... */
		pair_open(&p, NULL, &(struct client){.max_version = max, .resume = sess, .sni = "a.test"});
		pair_connect(&p);
		if (!SSL_session_reused(p.cli))
			fail_msg("%s: the ticket did not resume a session without client certificates",
				 v ? "TLS 1.2" : "TLS 1.3");
		pair_close(&p);

		/* ... and not where one is. */
		pair_open(&p, ca, &(struct client){.cert = &fx->good, .max_version = max, .resume = sess});
		assert_int_equal(pair_connect(&p)->state, TLS_PEER_CERT_VALID);
		assert_false(SSL_session_reused(p.cli));
		assert_true(p.requested);
		assert_int_equal(OPS.write(p.t, p.sfd, "x", 1), 1);
		for (int i = 0; i < 100 && SSL_read(p.cli, &b, 1) <= 0; i++) {
			struct pollfd pf = {.fd = p.cfd, .events = POLLIN};
			poll(&pf, 1, POLL_MS);
		}
		assert_true(SSL_shutdown(p.cli) >= 0);
		SSL_SESSION *s2 = SSL_get1_session(p.cli);
		assert_false(s2 && SSL_SESSION_is_resumable(s2) && SSL_SESSION_get_ticket_lifetime_hint(s2) > 0);
		SSL_SESSION_free(s2);
		pair_close(&p);
		SSL_SESSION_free(sess);
	}
	tls_client_auth_free(ca);
}

/* ---- Generations ---- */

static void reload_swaps_while_sessions_keep_theirs(void **state)
{
	struct fixture *fx = *state;
	struct tls_client_auth *ca = auth_new(fx, &(struct policy){.mode = TLS_CLIENT_CERTS_WANTED});
	struct pair old;
	pair_open(&old, ca, &(struct client){.cert = &fx->good});

	/* The operator swaps the trust store for another CA's. */
	struct tls_client_auth_config cfg = policy_config(fx, &(struct policy){.mode = TLS_CLIENT_CERTS_WANTED,
									     .ca_path = fx->other_trust});
	char *err = NULL;
	assert_int_equal(tls_client_auth_reload(ca, &cfg, &err), 0);
	struct tls_client_auth_info info;
	tls_client_auth_info(ca, &info);
	assert_int_equal(info.generation, 2);

	struct pair young;
	pair_open(&young, ca, &(struct client){.cert = &fx->good});
	/* The holder may go before its sessions. */
	tls_client_auth_free(ca);

	assert_int_equal(pair_connect(&old)->state, TLS_PEER_CERT_VALID);
	const struct tls_cert_status *st = pair_connect(&young);
	assert_int_equal(st->state, TLS_PEER_CERT_INVALID);
	assert_int_equal(st->problem, TLS_CERT_UNKNOWN_ISSUER);
	pair_close(&old);
	pair_close(&young);

	/* A failed reload keeps the current generation. */
	ca = auth_new(fx, &(struct policy){.mode = TLS_CLIENT_CERTS_WANTED});
	cfg.ca_path = fx->trust;
	cfg.crl_file = "/nonexistent/crl.pem";
	assert_int_equal(tls_client_auth_reload(ca, &cfg, &err), -1);
	/* Said once: "CRL file: CRL file ..." was the reload's log line. */
	assert_string_equal(err, "CRL file /nonexistent/crl.pem: no such file");
	free(err);
	tls_client_auth_info(ca, &info);
	assert_int_equal(info.generation, 1);
	struct pair p;
	pair_open(&p, ca, &(struct client){.cert = &fx->good});
	assert_int_equal(pair_connect(&p)->state, TLS_PEER_CERT_VALID);
	pair_close(&p);
	tls_client_auth_free(ca);
}

struct churn {
	struct tls_client_auth *ca;
	int sessions;
};

/* Takes generations as listeners would while the main thread reloads. */
static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	const struct tls_session_config scfg = {.client_auth = c->ca};
	for (int i = 0; i < 300; i++) {
		void *t = tls_session_new_server_ex(fx_global->srv, &scfg);
		OPS.free(t);
		c->sessions++;
	}
	ERR_clear_error();
	return NULL;
}

static void reloads_race_with_new_sessions(void **state)
{
	struct fixture *fx = *state;
	struct tls_client_auth *ca = auth_new(fx, &(struct policy){.mode = TLS_CLIENT_CERTS_WANTED});
	enum { THREADS = 4 };
	pthread_t th[THREADS];
	struct churn c[THREADS];
	for (int i = 0; i < THREADS; i++) {
		c[i] = (struct churn){.ca = ca};
		assert_int_equal(pthread_create(&th[i], NULL, churn_thread, &c[i]), 0);
	}
	for (int i = 0; i < 40; i++) {
		struct tls_client_auth_config cfg = policy_config(
			fx, &(struct policy){.mode = TLS_CLIENT_CERTS_WANTED,
					     .ca_path = i % 2 ? fx->trust : fx->other_trust});
		char *err = NULL;
		assert_int_equal(tls_client_auth_reload(ca, &cfg, &err), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(c[i].sessions, 300);
	}
	struct tls_client_auth_info info;
	tls_client_auth_info(ca, &info);
	assert_int_equal(info.generation, 41);
	tls_client_auth_free(ca);
}

/* ---- Offline checks and loading ---- */

static void offline_check_agrees_with_handshakes(void **state)
{
	struct fixture *fx = *state;
	struct tls_client_auth *ca =
		auth_new(fx, &(struct policy){.mode = TLS_CLIENT_CERTS_WANTED, .crl = fx->crl, .depth = 1});
	struct {
		const struct made *cert;
		const struct made *chain[2];
		enum tls_cert_problem problem;
	} cases[] = {
		{&fx->good, {NULL}, TLS_CERT_OK},
		{&fx->expired, {NULL}, TLS_CERT_EXPIRED},
		{&fx->unknown, {NULL}, TLS_CERT_UNKNOWN_ISSUER},
		{&fx->selfsigned, {NULL}, TLS_CERT_SELF_SIGNED},
		{&fx->deep, {&fx->int2, &fx->int1}, TLS_CERT_CHAIN_TOO_LONG},
		{&fx->revoked, {NULL}, TLS_CERT_REVOKED},
		{&fx->wrong_eku, {NULL}, TLS_CERT_WRONG_PURPOSE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		STACK_OF(X509) *chain = sk_X509_new_null();
		for (int k = 0; k < 2 && cases[i].chain[k]; k++)
			sk_X509_push(chain, cases[i].chain[k]->x);
		struct tls_cert_status st;
		enum tls_peer_cert r = tls_client_auth_check(ca, cases[i].cert->x, chain, &st);
		sk_X509_free(chain);
		if (st.problem != cases[i].problem)
			fail_msg("case %zu: %s (%s), expected %s", i, tls_cert_problem_name(st.problem), st.reason,
				 tls_cert_problem_name(cases[i].problem));
		assert_int_equal(r, cases[i].problem == TLS_CERT_OK ? TLS_PEER_CERT_VALID : TLS_PEER_CERT_INVALID);
		assert_int_equal(st.state, r);

		/* The same verdict and sentence as a handshake gives. */
		struct pair p;
		pair_open(&p, ca, &(struct client){.cert = cases[i].cert,
						   .chain = {cases[i].chain[0], cases[i].chain[1]}});
		const struct tls_cert_status *hs = pair_connect(&p);
		assert_int_equal(hs->problem, st.problem);
		assert_string_equal(hs->reason, st.reason);
		pair_close(&p);
	}
	tls_client_auth_free(ca);
	assert_int_equal(ERR_peek_error(), 0);
}

static void trust_store_loading(void **state)
{
	struct fixture *fx = *state;
	char dir[160], p[224];
	char *err = NULL;
	snprintf(dir, sizeof(dir), "%s/load", fx->dir);
	mkdir(dir, 0755);

	/* A directory: CAs of every file kind are read, duplicates once, a
	 * leaf skipped, other names ignored. */
	snprintf(p, sizeof(p), "%s/root.crt", dir);
	write_pem(p, fx->root.x, NULL);
	snprintf(p, sizeof(p), "%s/%08lx.0", dir, X509_NAME_hash_ex(X509_get_subject_name(fx->root.x), NULL, NULL, NULL));
	write_pem(p, fx->root.x, NULL);
	snprintf(p, sizeof(p), "%s/int1.pem", dir);
	write_pem(p, fx->int1.x, NULL);
	snprintf(p, sizeof(p), "%s/alice.pem", dir);
	write_pem(p, fx->good.x, NULL);
	snprintf(p, sizeof(p), "%s/notes.txt", dir);
	FILE *f = fopen(p, "w");
	fputs("-----BEGIN CERTIFICATE-----\ngarbage\n", f);
	fclose(f);
	struct tls_client_auth_config cfg = {.mode = TLS_CLIENT_CERTS_WANTED, .ca_path = dir, .verify_depth = 4};
	struct tls_client_auth *ca = tls_client_auth_new(&cfg, &err);
	assert_non_null(ca);
	struct tls_client_auth_info info;
	tls_client_auth_info(ca, &info);
	assert_int_equal(info.ncas, 2);
	tls_client_auth_free(ca);

	/* A corrupt certificate file is an error naming it. */
	snprintf(p, sizeof(p), "%s/broken.pem", dir);
	f = fopen(p, "w");
	fputs("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	assert_null(tls_client_auth_new(&cfg, &err));
	if (!strstr(err, "client trust store: certificate file ") || !strstr(err, "/load/broken.pem"))
		fail_msg("error: %s", err);
	free(err);
	unlink(p);

	/* A single file works too; a missing store is an empty one. */
	snprintf(p, sizeof(p), "%s/root.pem", fx->trust);
	cfg.ca_path = p;
	ca = tls_client_auth_new(&cfg, &err);
	assert_non_null(ca);
	tls_client_auth_info(ca, &info);
	assert_int_equal(info.ncas, 1);
	tls_client_auth_free(ca);
	cfg.ca_path = "/nonexistent/trust";
	ca = tls_client_auth_new(&cfg, &err);
	assert_non_null(ca);
	tls_client_auth_info(ca, &info);
	assert_int_equal(info.ncas, 0);
	assert_false(info.requests);
	tls_client_auth_free(ca);

	/* A CRL file that holds no CRL, and bad depths. */
	cfg.ca_path = fx->trust;
	cfg.crl_file = p; /* a certificate */
	assert_null(tls_client_auth_new(&cfg, &err));
	assert_non_null(strstr(err, "no PEM CRL found"));
	free(err);
	cfg.crl_file = fx->crl;
	ca = tls_client_auth_new(&cfg, &err);
	tls_client_auth_info(ca, &info);
	assert_int_equal(info.ncrls, 1);
	tls_client_auth_free(ca);
	cfg.verify_depth = 0;
	assert_null(tls_client_auth_new(&cfg, &err));
	assert_non_null(strstr(err, "verify depth 0"));
	free(err);
	cfg.verify_depth = 17;
	assert_null(tls_client_auth_new(&cfg, &err));
	free(err);
	assert_int_equal(ERR_peek_error(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_chain_verifies_and_names_are_read),
		cmocka_unit_test(expired_certificate),
		cmocka_unit_test(unknown_ca),
		cmocka_unit_test(self_signed_with_and_without_accept),
		cmocka_unit_test(chain_deeper_than_verify_depth),
		cmocka_unit_test(revoked_with_crl),
		cmocka_unit_test(wrong_eku),
		cmocka_unit_test(no_certificate_under_wanted_and_needed),
		cmocka_unit_test(needed_and_disconnect_on_failure),
		cmocka_unit_test(wanted_with_empty_store_or_disabled_asks_nothing),
		cmocka_unit_test(sni_keeps_the_trust_store),
		cmocka_unit_test(no_resumption_around_verification),
		cmocka_unit_test(reload_swaps_while_sessions_keep_theirs),
		cmocka_unit_test(reloads_race_with_new_sessions),
		cmocka_unit_test(offline_check_agrees_with_handshakes),
		cmocka_unit_test(trust_store_loading),
	};
	return cmocka_run_group_tests_name("tls_client_auth", tests, group_setup, group_teardown);
}
