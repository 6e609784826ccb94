/*
 * Unit tests of the client side of tls/ (issue 8, "outgoing connections"):
 * a Parley client session (tls_session_new_client) handshaking with a
 * Parley server session over a non-blocking socketpair, both driven through
 * tls_transport_ops exactly as a conn drives them:
 *   - SNI reaches the server and picks its host; ALPN is negotiated, and a
 *     server that takes none of ours is reported as such;
 *   - the server's certificate verifies against the right CA and expected
 *     name, and fails, with a reason naming what is wrong, for a wrong
 *     name, an unknown CA and the wrong purpose (EKU), both as a recorded
 *     verdict and as a failed handshake (require_valid);
 *   - the purpose is a parameter on both sides: a server session verifying
 *     a client certificate that carries only serverAuth refuses it by
 *     default (c2s as before) and accepts it with CLIENT_OR_SERVER;
 *   - the client presents its own certificate for SASL EXTERNAL;
 *   - channel bindings agree on both ends (TLS 1.3 and 1.2);
 *   - RFC 6125 name matching as tls_cert_ids_name does it;
 *   - and a whole outgoing link: conn_connect_start, conn_new, the client
 *     session installed with conn_set_transport, against a server session
 *     on another thread.
 *
 * Every certificate is made here with tls_cert_issue.  Every wait is
 * bounded (poll timeouts, iteration caps, alarm()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <openssl/ssl.h>

#include "core/arena.h"
#include "core/conn.h"
#include "core/conn_internal.h"
#include "core/connect.h"
#include "core/log.h"
#include "core/worker.h"
#include "tls/cert.h"
#include "tls/internal.h" /* only to cap one session at TLS 1.2 */

enum { POLL_MS = 2000, MAX_ITER = 100000, TEST_ALARM_S = 30 };

#define OPS tls_transport_ops

/* ---- Certificates and contexts ---- */

struct made {
	X509 *x;
	EVP_PKEY *key;
};

struct fixture {
	char dir[64];
	struct made root, other;
	struct made a, b, c, d;       /* server certificates */
	struct made local, srvonly;   /* certificates our client presents */
	struct tls_server *srv;       /* a.test, b.test, c.test: issued by root */
	struct tls_server *srv_other; /* d.test: issued by other */
	struct tls_client *cli;       /* presents l.test or s.test when asked */
	struct tls_client_auth *trust_root, *trust_other;
};

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

static struct made make_ca(const char *cn)
{
	const struct tls_cert_spec spec = {.kind = TLS_CERT_CA, .cn = cn, .days = 30};
	return issue(&spec, NULL);
}

static struct made make_server(const char *cn, const char *const *dns, size_t ndns,
			       const char *const *srv, size_t nsrv, const char *const *xmpp,
			       size_t nxmpp, const char *eku, const struct made *ca)
{
	const struct tls_cert_spec spec = {.kind = TLS_CERT_SERVER, .cn = cn, .dns_names = dns,
					   .ndns_names = ndns, .srv_ids = srv, .nsrv_ids = nsrv,
					   .xmpp_addrs = xmpp, .nxmpp_addrs = nxmpp, .eku = eku,
					   .days = 30};
	return issue(&spec, ca);
}

/* Writes m as DIR/NAME.crt and DIR/NAME.key and returns the host entry. */
static struct tls_host write_host(const struct fixture *fx, const char *domain, const struct made *m,
				  char *crt, char *key, size_t n)
{
	char *err = NULL;
	snprintf(crt, n, "%s/%s.crt", fx->dir, domain);
	snprintf(key, n, "%s/%s.key", fx->dir, domain);
	X509 *x = m->x;
	if (tls_file_write_pem(crt, 0644, &x, 1, NULL, NULL, true, &err) != 0 ||
	    tls_file_write_pem(key, 0600, NULL, 0, m->key, NULL, true, &err) != 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	return (struct tls_host){domain, crt, key};
}

static struct tls_client_auth *trust_of(const struct fixture *fx, const char *name,
					const struct made *ca)
{
	char dir[128], p[192];
	snprintf(dir, sizeof(dir), "%s/%s", fx->dir, name);
	mkdir(dir, 0755);
	snprintf(p, sizeof(p), "%s/ca.pem", dir);
	char *err = NULL;
	X509 *x = ca->x;
	if (tls_file_write_pem(p, 0644, &x, 1, NULL, NULL, true, &err) != 0)
		abort();
	const struct tls_client_auth_config cfg = {
		.mode = TLS_CLIENT_CERTS_WANTED, .ca_path = dir, .verify_depth = 4};
	struct tls_client_auth *t = tls_client_auth_new(&cfg, &err);
	if (!t) {
		fprintf(stderr, "tls_client_auth_new: %s\n", err);
		abort();
	}
	return t;
}

static int group_setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	if (!getenv("TLS_TEST_LOG"))
		log_setup(LOG_ERROR, open("/dev/null", O_WRONLY | O_CLOEXEC));
	struct fixture *fx = calloc(1, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/parley-tlscli-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	fx->root = make_ca("Test Root CA");
	fx->other = make_ca("Other Root CA");

	const char *a_dns[] = {"a.test"};
	const char *b_dns[] = {"b.test", "*.wild.test"};
	const char *b_srv[] = {"_xmpp-server.srv.test"};
	const char *b_xmpp[] = {"x.test"};
	const char *c_dns[] = {"c.test"};
	const char *d_dns[] = {"d.test"};
	const char *l_dns[] = {"l.test"};
	const char *s_dns[] = {"s.test"};
	fx->a = make_server("a.test", a_dns, 1, NULL, 0, NULL, 0, "serverAuth", &fx->root);
	fx->b = make_server("cn-only.test", b_dns, 2, b_srv, 1, b_xmpp, 1, NULL, &fx->root);
	fx->c = make_server("c.test", c_dns, 1, NULL, 0, NULL, 0, "clientAuth", &fx->root);
	fx->d = make_server("d.test", d_dns, 1, NULL, 0, NULL, 0, NULL, &fx->other);
	fx->local = make_server("l.test", l_dns, 1, NULL, 0, NULL, 0, NULL, &fx->root);
	fx->srvonly = make_server("s.test", s_dns, 1, NULL, 0, NULL, 0, "serverAuth", &fx->root);

	char crt[6][128], key[6][128];
	const struct tls_host hosts[] = {
		write_host(fx, "a.test", &fx->a, crt[0], key[0], 128),
		write_host(fx, "b.test", &fx->b, crt[1], key[1], 128),
		write_host(fx, "c.test", &fx->c, crt[2], key[2], 128),
	};
	const struct tls_host other[] = {write_host(fx, "d.test", &fx->d, crt[3], key[3], 128)};
	const struct tls_host mine[] = {
		write_host(fx, "l.test", &fx->local, crt[4], key[4], 128),
		write_host(fx, "s.test", &fx->srvonly, crt[5], key[5], 128),
	};
	char *err = NULL;
	const struct tls_server_config scfg = {.hosts = hosts, .nhosts = 3};
	const struct tls_server_config ocfg = {.hosts = other, .nhosts = 1};
	const struct tls_client_config ccfg = {.hosts = mine, .nhosts = 2};
	fx->srv = tls_server_new(&scfg, &err);
	fx->srv_other = tls_server_new(&ocfg, &err);
	fx->cli = tls_client_new(&ccfg, &err);
	if (!fx->srv || !fx->srv_other || !fx->cli) {
		fprintf(stderr, "contexts: %s\n", err);
		return -1;
	}
	fx->trust_root = trust_of(fx, "trust-root", &fx->root);
	fx->trust_other = trust_of(fx, "trust-other", &fx->other);
	*state = fx;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *fx = *state;
	tls_server_free(fx->srv);
	tls_server_free(fx->srv_other);
	tls_client_free(fx->cli);
	tls_client_auth_free(fx->trust_root);
	tls_client_auth_free(fx->trust_other);
	struct made *all[] = {&fx->root, &fx->other, &fx->a, &fx->b, &fx->c, &fx->d, &fx->local,
			      &fx->srvonly};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		X509_free(all[i]->x);
		EVP_PKEY_free(all[i]->key);
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	int rc = system(cmd);
	free(fx);
	arena_cache_drain();
	return rc == 0 ? 0 : -1;
}

/* ---- Two Parley sessions on a socketpair ---- */

struct duo {
	int sfd, cfd;
	struct tls_session *s, *c;
	int src, crc; /* each side's last handshake result */
};

static const char *const alpn_server[] = {"xmpp-client", "xmpp-server"};
static const char *const alpn_s2s[] = {"xmpp-server"};

static void duo_open(struct duo *d, struct tls_session *s, struct tls_session *c)
{
	memset(d, 0, sizeof(*d));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	d->sfd = sv[0];
	d->cfd = sv[1];
	assert_non_null(s);
	assert_non_null(c);
	d->s = s;
	d->c = c;
}

static short want_events(int rc)
{
	return rc == CONN_IO_WANT_READ ? POLLIN : rc == CONN_IO_WANT_WRITE ? POLLOUT : 0;
}

/* Pumps both handshakes until each has finished or failed, or nothing
 * moves for POLL_MS (one side waits for a peer that gave up). */
static void duo_handshake(struct duo *d)
{
	bool sdone = false, cdone = false;
	d->src = d->crc = CONN_IO_WANT_READ;
	for (int i = 0; i < MAX_ITER && !(sdone && cdone); i++) {
		if (!cdone) {
			d->crc = OPS.handshake(d->c, d->cfd);
			cdone = want_events(d->crc) == 0;
		}
		if (!sdone) {
			d->src = OPS.handshake(d->s, d->sfd);
			sdone = want_events(d->src) == 0;
		}
		if (sdone && cdone)
			break;
		struct pollfd pf[2];
		nfds_t n = 0;
		if (!sdone)
			pf[n++] = (struct pollfd){.fd = d->sfd, .events = want_events(d->src)};
		if (!cdone)
			pf[n++] = (struct pollfd){.fd = d->cfd, .events = want_events(d->crc)};
		if (poll(pf, n, POLL_MS) <= 0)
			break;
	}
}

static void duo_connect(struct duo *d)
{
	duo_handshake(d);
	if (d->crc != 0)
		fail_msg("client handshake: %d: %s", d->crc, OPS.error(d->c));
	if (d->src != 0)
		fail_msg("server handshake: %d: %s", d->src, OPS.error(d->s));
}

/* Sends `msg` from one session to the other and checks it arrives. */
static void duo_send(struct duo *d, bool from_client, const char *msg)
{
	struct tls_session *w = from_client ? d->c : d->s, *r = from_client ? d->s : d->c;
	int wfd = from_client ? d->cfd : d->sfd, rfd = from_client ? d->sfd : d->cfd;
	size_t len = strlen(msg), sent = 0, got = 0;
	char buf[256];
	assert_true(len < sizeof(buf));
	for (int i = 0; i < MAX_ITER && got < len; i++) {
		short wev = 0, rev = 0;
		if (sent < len) {
			ssize_t n = OPS.write(w, wfd, msg + sent, len - sent);
			if (n > 0)
				sent += (size_t)n;
			else if (!(wev = want_events((int)n)))
				fail_msg("write: %zd: %s", n, OPS.error(w));
		}
		ssize_t n = OPS.read(r, rfd, buf + got, sizeof(buf) - got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (!(rev = want_events((int)n)))
			fail_msg("read: %zd: %s", n, OPS.error(r));
		struct pollfd pf[2] = {{.fd = rfd, .events = rev}, {.fd = wfd, .events = wev}};
		if (poll(pf, wev ? 2 : 1, POLL_MS) <= 0)
			fail_msg("transfer stalled");
	}
	assert_int_equal(got, len);
	assert_memory_equal(buf, msg, len);
}

static void duo_close(struct duo *d)
{
	OPS.free(d->s);
	OPS.free(d->c);
	close(d->sfd);
	close(d->cfd);
	ERR_clear_error();
}

static struct tls_session *client_session(const struct fixture *fx,
					  const struct tls_client_session_config *cfg)
{
	char *err = NULL;
	struct tls_session *t = tls_session_new_client(fx->cli, cfg, &err);
	if (!t)
		fail_msg("tls_session_new_client: %s", err);
	return t;
}

static void assert_has(const char *text, const char *needle)
{
	if (!text || !strstr(text, needle))
		fail_msg("\"%s\" does not contain \"%s\"", text ? text : "(null)", needle);
}

static void assert_verdict(const struct tls_session *t, enum tls_peer_cert state,
			   enum tls_cert_problem problem, const char *needle)
{
	const struct tls_cert_status *st = tls_session_peer_cert(t);
	if (st->state != state || st->problem != problem)
		fail_msg("verdict %d (%s: %s), expected %d (%s)", st->state,
			 tls_cert_problem_name(st->problem), st->reason, state,
			 tls_cert_problem_name(problem));
	if (needle)
		assert_has(st->reason, needle);
}

/* ---- Tests ---- */

static void handshake_with_sni_alpn_and_a_verified_server(void **state)
{
	struct fixture *fx = *state;
	const struct tls_client_session_config cc = {
		.server_name = "b.test", .alpn = alpn_s2s, .nalpn = 1,
		.trust = fx->trust_root, .require_valid = true};
	struct duo d;
	duo_open(&d, tls_session_new_server(fx->srv, alpn_server, 2), client_session(fx, &cc));
	duo_connect(&d);

	/* SNI reached the server, which served b.test's certificate. */
	assert_string_equal(tls_session_sni(d.s), "b.test");
	assert_string_equal(tls_session_sni(d.c), "b.test");
	assert_true(tls_session_is_client(d.c));
	assert_false(tls_session_is_client(d.s));
	/* ALPN: the server's list prefers xmpp-client, but we offer only
	 * xmpp-server; both ends name it. */
	assert_string_equal(tls_session_alpn(d.s), "xmpp-server");
	assert_string_equal(tls_session_alpn(d.c), "xmpp-server");
	assert_verdict(d.c, TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	assert_string_equal(tls_session_peer_cert(d.c)->reason, "");
	/* The server asked for no certificate. */
	assert_int_equal(tls_session_peer_cert_status(d.s, NULL), TLS_PEER_CERT_NONE);
	assert_true(tls_session_is_tls13(d.c));
	assert_string_equal(tls_session_version(d.c), tls_session_version(d.s));
	assert_string_equal(tls_session_cipher(d.c), tls_session_cipher(d.s));

	struct arena *a = arena_new();
	struct tls_cert_ids ids;
	assert_int_equal(tls_session_peer_identities(d.c, a, &ids), 0);
	assert_int_equal(ids.ndns_names, 2);
	assert_string_equal(ids.dns_names[0], "b.test");
	arena_free(a);

	duo_send(&d, true, "<stream:stream to='b.test'>");
	duo_send(&d, false, "<stream:stream from='b.test'>");
	duo_close(&d);
}

static void sni_picks_the_host_and_an_ip_literal_sends_none(void **state)
{
	struct fixture *fx = *state;
	const struct tls_client_session_config c1 = {
		.server_name = "a.test.", .trust = fx->trust_root, .require_valid = true};
	struct duo d;
	duo_open(&d, tls_session_new_server(fx->srv, NULL, 0), client_session(fx, &c1));
	duo_connect(&d);
	assert_string_equal(tls_session_sni(d.s), "a.test"); /* no trailing dot on the wire */
	assert_null(tls_session_alpn(d.c));                  /* none offered */
	assert_verdict(d.c, TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	duo_close(&d);

	/* An address is never SNI (RFC 6066); the server serves its default,
	 * which the expected name then checks. */
	const struct tls_client_session_config c2 = {
		.server_name = "127.0.0.1", .expected_name = "a.test", .trust = fx->trust_root};
	duo_open(&d, tls_session_new_server(fx->srv, NULL, 0), client_session(fx, &c2));
	duo_connect(&d);
	assert_null(tls_session_sni(d.s));
	assert_verdict(d.c, TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	duo_close(&d);
}

static void alpn_refused_or_ignored(void **state)
{
	struct fixture *fx = *state;
	/* A server that serves only xmpp-client refuses our xmpp-server. */
	static const char *const c2s_only[] = {"xmpp-client"};
	const struct tls_client_session_config cc = {.server_name = "a.test", .alpn = alpn_s2s,
						     .nalpn = 1};
	struct duo d;
	duo_open(&d, tls_session_new_server(fx->srv, c2s_only, 1), client_session(fx, &cc));
	duo_handshake(&d);
	assert_int_equal(d.src, CONN_IO_ERROR);
	assert_has(OPS.error(d.s), "offers no ALPN protocol this port serves (xmpp-client)");
	assert_int_equal(d.crc, CONN_IO_ERROR);
	assert_has(OPS.error(d.c), "no application protocol");
	duo_close(&d);

	/* A server without ALPN ignores the offer: no protocol, no failure. */
	duo_open(&d, tls_session_new_server(fx->srv, NULL, 0), client_session(fx, &cc));
	duo_connect(&d);
	assert_null(tls_session_alpn(d.c));
	assert_null(tls_session_alpn(d.s));
	duo_close(&d);
}

/* One handshake per expectation, recording the verdict (no require_valid). */
static void expect_name(const struct fixture *fx, const char *sni, const char *expected,
			const char *srv_service, bool allow_cn, enum tls_cert_problem problem,
			const char *needle)
{
	const struct tls_client_session_config cc = {
		.server_name = sni, .expected_name = expected, .srv_service = srv_service,
		.allow_cn = allow_cn, .trust = fx->trust_root};
	struct duo d;
	duo_open(&d, tls_session_new_server(fx->srv, NULL, 0), client_session(fx, &cc));
	duo_connect(&d);
	assert_verdict(d.c, problem == TLS_CERT_OK ? TLS_PEER_CERT_VALID : TLS_PEER_CERT_INVALID,
		       problem, needle);
	duo_close(&d);
}

static void the_expected_name_is_checked(void **state)
{
	struct fixture *fx = *state;
	/* b.test's certificate: DNS b.test and *.wild.test, SRV-ID
	 * _xmpp-server.srv.test, xmppAddr x.test, CN cn-only.test. */
	expect_name(fx, "b.test", NULL, NULL, false, TLS_CERT_OK, NULL);
	expect_name(fx, "b.test", "B.Test", NULL, false, TLS_CERT_OK, NULL);
	expect_name(fx, "b.test", "chat.wild.test", NULL, false, TLS_CERT_OK, NULL);
	expect_name(fx, "b.test", "x.test", NULL, false, TLS_CERT_OK, NULL);
	expect_name(fx, "b.test", "srv.test", "xmpp-server", false, TLS_CERT_OK, NULL);
	/* RFC 6125 §6.4.4: a CN-ID counts only when the certificate presents
	 * no DNS-ID, SRV-ID or XmppAddr, even with CNs allowed. */
	expect_name(fx, "b.test", "cn-only.test", NULL, true, TLS_CERT_WRONG_NAME, NULL);

	expect_name(fx, "b.test", "srv.test", NULL, false, TLS_CERT_WRONG_NAME,
		    "does not name srv.test");
	expect_name(fx, "b.test", "a.b.wild.test", NULL, false, TLS_CERT_WRONG_NAME, NULL);
	expect_name(fx, "b.test", "wild.test", NULL, false, TLS_CERT_WRONG_NAME, NULL);
	expect_name(fx, "b.test", "cn-only.test", NULL, false, TLS_CERT_WRONG_NAME,
		    "CN:cn-only.test (not used)");
	/* The sentence says which certificate and every name it has. */
	expect_name(fx, "b.test", "evil.test", "xmpp-server", false, TLS_CERT_WRONG_NAME,
		    "certificate \"CN=cn-only.test\" does not name evil.test (it names DNS:b.test, "
		    "DNS:*.wild.test, SRV:_xmpp-server.srv.test, xmppAddr:x.test, CN:cn-only.test "
		    "(not used))");
}

static void a_wrong_name_fails_the_handshake_when_required(void **state)
{
	struct fixture *fx = *state;
	const struct tls_client_session_config cc = {
		.server_name = "a.test", .expected_name = "evil.test", .trust = fx->trust_root,
		.require_valid = true};
	struct duo d;
	duo_open(&d, tls_session_new_server(fx->srv, NULL, 0), client_session(fx, &cc));
	duo_handshake(&d);
	assert_int_equal(d.crc, CONN_IO_ERROR);
	assert_has(OPS.error(d.c), "TLS handshake failed: server certificate refused (wrong-name): "
				   "certificate \"CN=a.test\" does not name evil.test");
	/* The server hears why from our alert. */
	assert_int_equal(d.src, CONN_IO_ERROR);
	assert_has(OPS.error(d.s), "the peer rejected our certificate");
	/* As for a client certificate that failed a handshake: no verdict,
	 * but the problem and reason stay. */
	const struct tls_cert_status *st = tls_session_peer_cert(d.c);
	assert_int_equal(st->state, TLS_PEER_CERT_NONE);
	assert_int_equal(st->problem, TLS_CERT_WRONG_NAME);
	duo_close(&d);
}

static void an_unknown_ca_is_refused(void **state)
{
	struct fixture *fx = *state;
	/* d.test is issued by Other Root CA, which trust_root lacks. */
	const struct tls_client_session_config rec = {.server_name = "d.test",
						      .trust = fx->trust_root};
	struct duo d;
	duo_open(&d, tls_session_new_server(fx->srv_other, NULL, 0), client_session(fx, &rec));
	duo_connect(&d);
	assert_verdict(d.c, TLS_PEER_CERT_INVALID, TLS_CERT_UNKNOWN_ISSUER,
		       "certificate \"CN=d.test\" was issued by \"CN=Other Root CA\", which is not in "
		       "the trust store");
	duo_close(&d);

	/* And the other way: a.test's CA is not in trust_other. */
	const struct tls_client_session_config req = {
		.server_name = "a.test", .trust = fx->trust_other, .require_valid = true};
	duo_open(&d, tls_session_new_server(fx->srv, NULL, 0), client_session(fx, &req));
	duo_handshake(&d);
	assert_int_equal(d.crc, CONN_IO_ERROR);
	assert_has(OPS.error(d.c), "server certificate refused (unknown-issuer)");
	assert_int_equal(d.src, CONN_IO_ERROR);
	duo_close(&d);

	/* The right store for it: valid. */
	const struct tls_client_session_config ok = {
		.server_name = "d.test", .trust = fx->trust_other, .require_valid = true};
	duo_open(&d, tls_session_new_server(fx->srv_other, NULL, 0), client_session(fx, &ok));
	duo_connect(&d);
	assert_verdict(d.c, TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	duo_close(&d);
}

static void the_wrong_purpose_is_refused(void **state)
{
	struct fixture *fx = *state;
	/* c.test's certificate carries clientAuth only. */
	struct tls_client_session_config cc = {.server_name = "c.test", .trust = fx->trust_root};
	struct duo d;
	duo_open(&d, tls_session_new_server(fx->srv, NULL, 0), client_session(fx, &cc));
	duo_connect(&d);
	assert_verdict(d.c, TLS_PEER_CERT_INVALID, TLS_CERT_WRONG_PURPOSE,
		       "certificate \"CN=c.test\" is not for server authentication: its extended key "
		       "usage lacks serverAuth");
	duo_close(&d);

	cc.require_valid = true;
	duo_open(&d, tls_session_new_server(fx->srv, NULL, 0), client_session(fx, &cc));
	duo_handshake(&d);
	assert_int_equal(d.crc, CONN_IO_ERROR);
	assert_has(OPS.error(d.c), "server certificate refused (wrong-purpose)");
	duo_close(&d);

	/* The purpose is a parameter: either EKU will do. */
	cc.purpose = TLS_PURPOSE_CLIENT_OR_SERVER;
	duo_open(&d, tls_session_new_server(fx->srv, NULL, 0), client_session(fx, &cc));
	duo_connect(&d);
	assert_verdict(d.c, TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	duo_close(&d);

	/* And a server certificate judged as a client's is refused. */
	cc.purpose = TLS_PURPOSE_CLIENT;
	cc.server_name = "a.test";
	cc.require_valid = false;
	duo_open(&d, tls_session_new_server(fx->srv, NULL, 0), client_session(fx, &cc));
	duo_connect(&d);
	assert_verdict(d.c, TLS_PEER_CERT_INVALID, TLS_CERT_WRONG_PURPOSE,
		       "is not for client authentication: its extended key usage lacks clientAuth");
	duo_close(&d);
}

static void no_trust_store_verifies_nothing(void **state)
{
	struct fixture *fx = *state;
	const struct tls_client_session_config cc = {.server_name = "d.test",
						     .expected_name = "elsewhere.test"};
	struct duo d;
	duo_open(&d, tls_session_new_server(fx->srv_other, NULL, 0), client_session(fx, &cc));
	duo_connect(&d);
	assert_int_equal(tls_session_peer_cert_status(d.c, NULL), TLS_PEER_CERT_NONE);
	/* The certificate is still there to read. */
	struct arena *a = arena_new();
	struct tls_cert_ids ids;
	assert_int_equal(tls_session_peer_identities(d.c, a, &ids), 0);
	assert_string_equal(ids.dns_names[0], "d.test");
	arena_free(a);
	duo_close(&d);
}

/* A server session that asks for client certificates, for `purpose`. */
static struct tls_session *server_asking(const struct fixture *fx, enum tls_cert_purpose purpose)
{
	const struct tls_session_config sc = {.client_auth = fx->trust_root, .peer_purpose = purpose};
	return tls_session_new_server_ex(fx->srv, &sc);
}

static void our_certificate_for_external_and_the_servers_purpose(void **state)
{
	struct fixture *fx = *state;
	struct tls_client_session_config cc = {
		.server_name = "a.test", .trust = fx->trust_root, .require_valid = true,
		.cert_domain = "L.test"};
	struct duo d;

	/* l.test's certificate carries clientAuth and serverAuth. */
	duo_open(&d, server_asking(fx, TLS_PURPOSE_DEFAULT), client_session(fx, &cc));
	duo_connect(&d);
	assert_verdict(d.s, TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	assert_verdict(d.c, TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	struct arena *a = arena_new();
	struct tls_cert_ids ids;
	assert_int_equal(tls_session_peer_identities(d.s, a, &ids), 0);
	assert_string_equal(ids.dns_names[0], "l.test");
	arena_free(a);
	duo_close(&d);

	/* s.test's carries serverAuth only: a c2s-style server session
	 * (purpose: a client's) refuses it, as before... */
	cc.cert_domain = "s.test";
	duo_open(&d, server_asking(fx, TLS_PURPOSE_DEFAULT), client_session(fx, &cc));
	duo_connect(&d);
	assert_verdict(d.s, TLS_PEER_CERT_INVALID, TLS_CERT_WRONG_PURPOSE,
		       "certificate \"CN=s.test\" is not for client authentication: its extended key "
		       "usage lacks clientAuth");
	duo_close(&d);

	/* ...an s2s-style one that accepts either takes it... */
	duo_open(&d, server_asking(fx, TLS_PURPOSE_CLIENT_OR_SERVER), client_session(fx, &cc));
	duo_connect(&d);
	assert_verdict(d.s, TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	duo_close(&d);

	/* ...and so does one that wants a server's. */
	duo_open(&d, server_asking(fx, TLS_PURPOSE_SERVER), client_session(fx, &cc));
	duo_connect(&d);
	assert_verdict(d.s, TLS_PEER_CERT_VALID, TLS_CERT_OK, NULL);
	duo_close(&d);

	/* Without a certificate to present, the server records none. */
	cc.cert_domain = NULL;
	duo_open(&d, server_asking(fx, TLS_PURPOSE_DEFAULT), client_session(fx, &cc));
	duo_connect(&d);
	assert_int_equal(tls_session_peer_cert_status(d.s, NULL), TLS_PEER_CERT_NONE);
	duo_close(&d);
}

static void the_offline_check_takes_a_purpose(void **state)
{
	struct fixture *fx = *state;
	struct tls_cert_status st;
	assert_int_equal(tls_client_auth_check(fx->trust_root, fx->srvonly.x, NULL, &st),
			 TLS_PEER_CERT_INVALID);
	assert_int_equal(st.problem, TLS_CERT_WRONG_PURPOSE);
	assert_int_equal(tls_client_auth_check_purpose(fx->trust_root, fx->srvonly.x, NULL,
						       TLS_PURPOSE_SERVER, &st),
			 TLS_PEER_CERT_VALID);
	assert_int_equal(tls_client_auth_check_purpose(fx->trust_root, fx->srvonly.x, NULL,
						       TLS_PURPOSE_CLIENT_OR_SERVER, &st),
			 TLS_PEER_CERT_VALID);
	assert_int_equal(tls_client_auth_check_purpose(fx->trust_root, fx->c.x, NULL,
						       TLS_PURPOSE_SERVER, &st),
			 TLS_PEER_CERT_INVALID);
	assert_int_equal(st.problem, TLS_CERT_WRONG_PURPOSE);
	assert_has(st.reason, "is not for server authentication: its extended key usage lacks "
			      "serverAuth");

	/* Neither EKU: refused for either purpose, saying so. */
	const char *dns[] = {"code.test"};
	struct made code = make_server("code.test", dns, 1, NULL, 0, NULL, 0, "codeSigning",
				       &fx->root);
	assert_int_equal(tls_client_auth_check_purpose(fx->trust_root, code.x, NULL,
						       TLS_PURPOSE_CLIENT_OR_SERVER, &st),
			 TLS_PEER_CERT_INVALID);
	assert_int_equal(st.problem, TLS_CERT_WRONG_PURPOSE);
	assert_has(st.reason, "certificate \"CN=code.test\" is not for client or server "
			      "authentication: its extended key usage has neither clientAuth nor "
			      "serverAuth");
	X509_free(code.x);
	EVP_PKEY_free(code.key);
}

static void check_bindings(struct duo *d, bool tls13)
{
	const char *ts[4], *tc[4];
	size_t ns = tls_session_channel_binding_types(d->s, ts, 4);
	size_t nc = tls_session_channel_binding_types(d->c, tc, 4);
	assert_int_equal(ns, nc);
	assert_int_equal(ns, tls13 ? 2 : 3);
	for (size_t i = 0; i < ns; i++) {
		assert_string_equal(ts[i], tc[i]);
		unsigned char bs[64], bc[64];
		size_t ls = sizeof(bs), lc = sizeof(bc);
		assert_int_equal(tls_session_channel_binding(d->s, ts[i], bs, &ls), 0);
		assert_int_equal(tls_session_channel_binding(d->c, tc[i], bc, &lc), 0);
		assert_int_equal(ls, lc);
		assert_memory_equal(bs, bc, ls);
	}
}

static void channel_bindings_agree_on_both_ends(void **state)
{
	struct fixture *fx = *state;
	const struct tls_client_session_config cc = {.server_name = "b.test"};
	struct duo d;
	duo_open(&d, tls_session_new_server(fx->srv, NULL, 0), client_session(fx, &cc));
	duo_connect(&d);
	check_bindings(&d, true);
	duo_close(&d);

	struct tls_session *c = client_session(fx, &cc);
	SSL_set_max_proto_version(c->ssl, TLS1_2_VERSION);
	duo_open(&d, tls_session_new_server(fx->srv, NULL, 0), c);
	duo_connect(&d);
	assert_false(tls_session_is_tls13(d.c));
	check_bindings(&d, false);
	duo_close(&d);
}

static void bad_configuration_is_reported(void **state)
{
	struct fixture *fx = *state;
	char *err = NULL;
	const struct tls_client_session_config cc = {.server_name = "a.test",
						     .cert_domain = "nowhere.test"};
	assert_null(tls_session_new_client(fx->cli, &cc, &err));
	assert_has(err, "no certificate for nowhere.test");
	free(err);

	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	const struct tls_client_session_config cl = {.server_name = longname};
	err = NULL;
	assert_null(tls_session_new_client(fx->cli, &cl, &err));
	assert_has(err, "cannot be sent as SNI");
	free(err);

	const struct tls_host missing[] = {{"m.test", "/nonexistent/m.crt", "/nonexistent/m.key"}};
	const struct tls_client_config bad = {.hosts = missing, .nhosts = 1};
	err = NULL;
	assert_null(tls_client_new(&bad, &err));
	assert_has(err, "host m.test: certificate file /nonexistent/m.crt: no such file");
	free(err);

	const struct tls_client_config ciphers = {.ciphers = "NOPE-NOT-A-CIPHER"};
	err = NULL;
	assert_null(tls_client_new(&ciphers, &err));
	assert_has(err, "OpenSSL knows none of them");
	free(err);

	/* No hosts at all: a client that never presents a certificate. */
	err = NULL;
	struct tls_client *anon = tls_client_new(NULL, &err);
	assert_non_null(anon);
	tls_client_free(anon);
}

static void names_as_rfc_6125_reads_them(void **state)
{
	(void)state;
	const char *dns[] = {"example.org", "*.muc.example.org", "f*o.example.net", "*.org"};
	const char *srv[] = {"_xmpp-server.srv.example", "_xmpps-server.tls.example"};
	const char *xmpp[] = {"jabber.example", "user@jabber.example"};
	const char *cns[] = {"cn.example"};
	const struct tls_cert_ids ids = {
		.dns_names = dns, .ndns_names = 4, .srv_ids = srv, .nsrv_ids = 2,
		.xmpp_addrs = xmpp, .nxmpp_addrs = 2, .cns = cns, .ncns = 1};
	struct {
		const char *domain, *service;
		bool allow_cn, ok;
	} cases[] = {
		{"example.org", NULL, false, true},
		{"EXAMPLE.org.", NULL, false, true},      /* case, trailing dot */
		{"www.example.org", NULL, false, false},  /* no wildcard for it */
		{"room.muc.example.org", NULL, false, true},
		{"muc.example.org", NULL, false, false},  /* * is one label, not none */
		{"a.room.muc.example.org", NULL, false, false},
		{"foo.example.net", NULL, false, false},  /* partial wildcards never match */
		{"example.org", NULL, false, true},
		{"anything.org", NULL, false, false},     /* "*.org" is no identity */
		{"srv.example", "xmpp-server", false, true},
		{"srv.example", NULL, false, false},
		{"srv.example", "xmpps-server", false, false},
		{"tls.example", "xmpps-server", false, true},
		{"jabber.example", NULL, false, true},    /* xmppAddr of the domain */
		{"user@jabber.example", NULL, false, false}, /* a reference is a domain, not a JID */
		{"cn.example", NULL, false, false},
		{"cn.example", NULL, true, false},        /* CN-IDs only without other IDs (§6.4.4) */
		{"*.muc.example.org", NULL, false, false}, /* a pattern is not a name */
		{"", NULL, false, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (tls_cert_ids_name(&ids, cases[i].domain, cases[i].service, cases[i].allow_cn) !=
		    cases[i].ok)
			fail_msg("case %zu: %s (%s): expected %s", i, cases[i].domain,
				 cases[i].service ? cases[i].service : "-",
				 cases[i].ok ? "a match" : "no match");
	assert_false(tls_cert_ids_name(&ids, NULL, NULL, true));
}

/* ---- A whole outgoing link on a worker's loop ---- */

struct far_end {
	struct fixture *fx;
	int listen_fd;
	char sni[64], alpn[32], got[16];
	int rc;
};

/* The server side, on its own thread: accept, handshake, read "ping",
 * answer "pong", wait for the close. */
static void *far_end_run(void *arg)
{
	struct far_end *fe = arg;
	int fd = accept4(fe->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct tls_session *t = tls_session_new_server(fe->fx->srv, alpn_server, 2);
	int rc = CONN_IO_WANT_READ;
	for (int i = 0; i < 1000 && rc != 0; i++) {
		rc = OPS.handshake(t, fd);
		if (!want_events(rc))
			break;
		struct pollfd p = {.fd = fd, .events = want_events(rc)};
		poll(&p, 1, POLL_MS);
	}
	fe->rc = rc;
	if (rc == 0) {
		snprintf(fe->sni, sizeof(fe->sni), "%s", tls_session_sni(t) ? tls_session_sni(t) : "");
		snprintf(fe->alpn, sizeof(fe->alpn), "%s", tls_session_alpn(t) ? tls_session_alpn(t) : "");
		size_t got = 0;
		for (int i = 0; i < 1000 && got < 4; i++) {
			ssize_t n = OPS.read(t, fd, fe->got + got, 4 - got);
			if (n > 0) {
				got += (size_t)n;
				continue;
			}
			if (!want_events((int)n))
				break;
			struct pollfd p = {.fd = fd, .events = want_events((int)n)};
			poll(&p, 1, POLL_MS);
		}
		for (int i = 0; i < 1000; i++) {
			ssize_t n = OPS.write(t, fd, "pong", 4);
			if (n == 4 || !want_events((int)n))
				break;
			struct pollfd p = {.fd = fd, .events = want_events((int)n)};
			poll(&p, 1, POLL_MS);
		}
		/* Until the client closes. */
		for (int i = 0; i < 1000; i++) {
			char b[64];
			ssize_t n = OPS.read(t, fd, b, sizeof(b));
			if (n > 0)
				continue;
			if (!want_events((int)n))
				break; /* closed */
			struct pollfd p = {.fd = fd, .events = want_events((int)n)};
			poll(&p, 1, POLL_MS);
		}
	}
	OPS.free(t);
	close(fd);
	ERR_clear_error();
	return NULL;
}

struct link {
	struct fixture *fx;
	struct worker *w;
	struct conn *c;
	char err[256];
	char alpn[32];
	enum tls_peer_cert verdict;
	char got[16];
	size_t ngot;
	int handshakes, closes, connected;
	char reason[256];
};

static void link_read(void *ud, struct conn *c, const char *data, size_t len)
{
	struct link *l = ud;
	if (l->ngot + len < sizeof(l->got)) {
		memcpy(l->got + l->ngot, data, len);
		l->ngot += len;
	}
	if (l->ngot >= 4)
		conn_close(c, "done");
}

static void link_handshake(void *ud, struct conn *c)
{
	struct link *l = ud;
	struct tls_session *t = conn_transport(c);
	l->handshakes++;
	snprintf(l->alpn, sizeof(l->alpn), "%s", tls_session_alpn(t) ? tls_session_alpn(t) : "");
	l->verdict = tls_session_peer_cert_status(t, NULL);
	conn_write(c, "ping", 4);
}

static void link_close(void *ud, struct conn *c, const char *reason)
{
	(void)c;
	struct link *l = ud;
	l->closes++;
	snprintf(l->reason, sizeof(l->reason), "%s", reason);
}

static const struct conn_handler link_handler = {
	.on_read = link_read, .on_handshake = link_handshake, .on_close = link_close};

static void link_connected(void *ud, int fd, const struct connect_report *r)
{
	struct link *l = ud;
	l->connected++;
	if (fd < 0) {
		connect_report_str(r, l->err, sizeof(l->err));
		return;
	}
	const struct tls_client_session_config cc = {
		.server_name = "b.test", .alpn = alpn_s2s, .nalpn = 1, .trust = l->fx->trust_root,
		.srv_service = "xmpp-server", .require_valid = true};
	char *err = NULL;
	struct tls_session *t = tls_session_new_client(l->fx->cli, &cc, &err);
	assert_non_null(t);
	l->c = conn_new(l->w, fd, &link_handler, l);
	conn_start(l->c);
	conn_set_transport(l->c, &tls_transport_ops, t);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void an_outgoing_link_on_a_loop(void **state)
{
	struct fixture *fx = *state;
	alarm(TEST_ALARM_S);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	socklen_t sl = sizeof(sin);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	getsockname(lfd, (struct sockaddr *)&sin, &sl);
	unsigned port = ntohs(sin.sin_port);

	/* A closed port first: the walk goes on to the listener. */
	int dead = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in dsin = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &dsin.sin_addr);
	bind(dead, (struct sockaddr *)&dsin, sizeof(dsin));
	sl = sizeof(dsin);
	getsockname(dead, (struct sockaddr *)&dsin, &sl);
	unsigned dead_port = ntohs(dsin.sin_port);
	close(dead);

	struct far_end fe = {.fx = fx, .listen_fd = lfd, .rc = -99};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, far_end_run, &fe), 0);

	struct worker w;
	memset(&w, 0, sizeof(w));
	worker_init(&w, 0, 0);
	conn_worker_start(&w);
	struct link l = {.fx = fx, .w = &w};
	const struct connect_target t[] = {{"127.0.0.1", dead_port}, {"127.0.0.1", port}};
	conn_connect_start(&w, t, 2, 2000, link_connected, &l);
	uint64_t end = now_ms() + 10000;
	while (l.closes == 0 && now_ms() < end && !(l.connected && l.err[0])) {
		uv_run(&w.loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	pthread_join(th, NULL);
	worker_discard(&w);
	close(lfd);
	alarm(0);

	assert_int_equal(l.connected, 1);
	assert_string_equal(l.err, "");
	assert_int_equal(fe.rc, 0);
	assert_string_equal(fe.sni, "b.test");
	assert_string_equal(fe.alpn, "xmpp-server");
	assert_memory_equal(fe.got, "ping", 4);
	assert_int_equal(l.handshakes, 1);
	assert_string_equal(l.alpn, "xmpp-server");
	assert_int_equal(l.verdict, TLS_PEER_CERT_VALID);
	assert_int_equal(l.ngot, 4);
	assert_memory_equal(l.got, "pong", 4);
	assert_int_equal(l.closes, 1);
	assert_string_equal(l.reason, "done");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handshake_with_sni_alpn_and_a_verified_server),
		cmocka_unit_test(sni_picks_the_host_and_an_ip_literal_sends_none),
		cmocka_unit_test(alpn_refused_or_ignored),
		cmocka_unit_test(the_expected_name_is_checked),
		cmocka_unit_test(a_wrong_name_fails_the_handshake_when_required),
		cmocka_unit_test(an_unknown_ca_is_refused),
		cmocka_unit_test(the_wrong_purpose_is_refused),
		cmocka_unit_test(no_trust_store_verifies_nothing),
		cmocka_unit_test(our_certificate_for_external_and_the_servers_purpose),
		cmocka_unit_test(the_offline_check_takes_a_purpose),
		cmocka_unit_test(channel_bindings_agree_on_both_ends),
		cmocka_unit_test(bad_configuration_is_reported),
		cmocka_unit_test(names_as_rfc_6125_reads_them),
		cmocka_unit_test(an_outgoing_link_on_a_loop),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
