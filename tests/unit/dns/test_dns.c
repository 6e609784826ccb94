/*
 * Unit tests of dns/dns.c.
 *
 *   - dns_srv_order() as a pure function with an injected random source:
 *     priorities, weight 0, RFC 2782 selection, the distribution.
 *   - End to end against a private DNS server that this test starts: Debian's
 *     `unbound`, as a child process with its own config in a temp dir,
 *     listening on 127.0.0.1 on a free port, serving local-data for the
 *     zone "test." (static: names it does not know are NXDOMAIN).  Stopped
 *     by its pid.  When the binary is missing (`make test` installs it),
 *     those tests are skipped with a message (PARLEY_TEST_UNBOUND names
 *     another binary; set empty, it checks the skipping).
 *   - The timeout and cancelling against a "black hole" forwarder: a UDP
 *     socket the test binds on loopback and never reads.
 *
 * Loopback only.  alarm() bounds each test in wall time; the loop runs with
 * UV_RUN_NOWAIT and 1 ms naps up to a deadline.
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
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "core/connect.h"
#include "dns/dns.h"

enum { TEST_ALARM_S = 30, MAX_T = 16, MAX_Q = 16 };

/* ---- random sources ---- */

struct seq {
	const uint32_t *v;
	size_t n, i;
	unsigned calls;
};

static uint32_t seq_next(void *ud)
{
	struct seq *s = ud;
	s->calls++;
	uint32_t v = s->n ? s->v[s->i % s->n] : 0;
	s->i++;
	return v;
}

static uint32_t lcg(void *ud)
{
	uint64_t *x = ud;
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*x >> 33);
}

static struct dns_srv S(const char *t, uint16_t prio, uint16_t weight, uint16_t port)
{
	struct dns_srv s = {.priority = prio, .weight = weight, .port = port};
	snprintf(s.target, sizeof(s.target), "%s", t);
	return s;
}

static void assert_order(const struct dns_srv *s, size_t n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		const char *want = va_arg(ap, const char *);
		if (strcmp(s[i].target, want) != 0)
			fail_msg("position %zu: %s, expected %s", i, s[i].target, want);
	}
	va_end(ap);
}

static void priorities_ascend(void **state)
{
	struct dns_srv s[] = {S("a", 20, 0, 1), S("b", 10, 0, 2), S("c", 10, 0, 3), S("d", 5, 1, 4),
			      S("e", 65535, 0, 5), S("f", 0, 0, 6)};
	struct seq r = {0};
	dns_srv_order(s, 6, seq_next, &r);
	/* with 0 from the source, equal records keep the order given */
	assert_order(s, 6, "f", "d", "b", "c", "a", "e");
	/* one draw per selection in a group of 2 or more: only {b, c} */
	assert_int_equal(r.calls, 1);
	assert_int_equal(s[1].port, 4);
}

static void weight_zero_first_then_selection(void **state)
{
	/* after moving weight 0 first: y(0) x(10) z(20); sum 30 */
	struct dns_srv s[] = {S("x", 1, 10, 1), S("y", 1, 0, 2), S("z", 1, 20, 3)};
	/* 0 -> y (running sum 0 >= 0); then 15 of [0,30] -> x 10 < 15, z 30 */
	uint32_t v1[] = {0, 15};
	struct seq r1 = {.v = v1, .n = 2};
	dns_srv_order(s, 3, seq_next, &r1);
	assert_order(s, 3, "y", "z", "x");
	assert_int_equal(r1.calls, 2);

	struct dns_srv t[] = {S("x", 1, 10, 1), S("y", 1, 0, 2), S("z", 1, 20, 3)};
	/* 5 -> y 0 < 5, x 10 >= 5; then [0,20]: 5 -> y 0 < 5, z 20 */
	uint32_t v2[] = {5, 5};
	struct seq r2 = {.v = v2, .n = 2};
	dns_srv_order(t, 3, seq_next, &r2);
	assert_order(t, 3, "x", "z", "y");

	/* the draw is reduced modulo sum + 1: 31 is 0 of [0,30] */
	struct dns_srv u[] = {S("x", 1, 10, 1), S("y", 1, 0, 2), S("z", 1, 20, 3)};
	uint32_t v3[] = {31, 30};
	struct seq r3 = {.v = v3, .n = 2};
	dns_srv_order(u, 3, seq_next, &r3);
	assert_order(u, 3, "y", "z", "x");
}

static void all_weights_zero_keep_order(void **state)
{
	struct dns_srv s[] = {S("a", 0, 0, 1), S("b", 0, 0, 2), S("c", 0, 0, 3)};
	uint32_t v[] = {7, 1234567};
	struct seq r = {.v = v, .n = 2};
	dns_srv_order(s, 3, seq_next, &r);
	assert_order(s, 3, "a", "b", "c");
	/* nothing to order */
	dns_srv_order(s, 0, seq_next, &r);
	dns_srv_order(s, 1, seq_next, &r);
	assert_order(s, 1, "a");
}

static void weights_are_proportional(void **state)
{
	/* weights 1 and 3: the heavy one comes first about 3 times in 4 */
	uint64_t x = 42;
	unsigned heavy = 0, runs = 8000;
	for (unsigned i = 0; i < runs; i++) {
		struct dns_srv s[] = {S("light", 0, 1, 1), S("heavy", 0, 3, 2), S("later", 1, 0, 3)};
		dns_srv_order(s, 3, lcg, &x);
		assert_string_equal(s[2].target, "later");
		heavy += strcmp(s[0].target, "heavy") == 0;
	}
	/* P(heavy first) = 3/5 with draws in [0,4]: 0 and 1 pick light */
	assert_in_range(heavy, runs * 55 / 100, runs * 65 / 100);

	/* weights 0 and 100: the weight-0 one is first only on a draw of 0 */
	unsigned zero_first = 0;
	for (unsigned i = 0; i < runs; i++) {
		struct dns_srv s[] = {S("w100", 0, 100, 1), S("w0", 0, 0, 2)};
		dns_srv_order(s, 2, lcg, &x);
		zero_first += strcmp(s[0].target, "w0") == 0;
	}
	assert_in_range(zero_first, 1, runs * 3 / 100);
}

static void names_and_sentences(void **state)
{
	assert_string_equal(dns_status_name(DNS_OK), "ok");
	assert_string_equal(dns_status_name(DNS_NO_SERVICE), "no-service");
	assert_string_equal(dns_status_name(DNS_NXDOMAIN), "nxdomain");
	assert_string_equal(dns_status_name(DNS_TIMEOUT), "timeout");
	assert_string_equal(dns_outcome_name(DNS_Q_NODATA), "nodata");
	assert_string_equal(dns_outcome_name(DNS_Q_SERVFAIL), "servfail");
	char tb[16];
	assert_string_equal(dns_type_name(DNS_TYPE_AAAA, tb, sizeof(tb)), "AAAA");
	assert_string_equal(dns_type_name(99, tb, sizeof(tb)), "TYPE99");

	struct dns_query_report q[2] = {
		{.name = "_xmpp-server._tcp.a.example", .type = DNS_TYPE_SRV,
		 .outcome = DNS_Q_ANSWER, .count = 2},
		{.name = "a.example", .type = DNS_TYPE_A, .outcome = DNS_Q_TIMEOUT},
	};
	struct dns_result res = {.queries = q, .nqueries = 2, .timeout_ms = 500};
	char buf[256];
	dns_report_str(&res, buf, sizeof(buf));
	assert_string_equal(buf, "SRV _xmpp-server._tcp.a.example: 2 answers; "
				 "A a.example: timeout after 500 ms");
	char small[40];
	dns_report_str(&res, small, sizeof(small));
	assert_non_null(strstr(small, "..."));
	assert_true(strlen(small) < sizeof(small));
}

/* ---- the loop and the owner ---- */

static uv_loop_t L;

struct outcome {
	int calls;
	enum dns_status status;
	bool srv;
	size_t n;
	struct dns_target t[MAX_T];
	char hosts[MAX_T][64];
	size_t nq;
	struct dns_query_report q[MAX_Q];
	uint32_t elapsed_ms;
	char text[2048];
	struct dns_request *self;
	struct dns_resolver *free_in_cb;
	bool cancel_in_cb;
};

static void on_result(void *ud, const struct dns_result *res)
{
	struct outcome *o = ud;
	o->calls++;
	o->status = res->status;
	o->srv = res->srv;
	o->n = res->n;
	for (size_t i = 0; i < res->n && i < MAX_T; i++) {
		o->t[i] = res->targets[i];
		snprintf(o->hosts[i], sizeof(o->hosts[i]), "%s", res->targets[i].host);
		o->t[i].host = o->hosts[i];
	}
	o->nq = res->nqueries;
	for (size_t i = 0; i < res->nqueries && i < MAX_Q; i++)
		o->q[i] = res->queries[i];
	o->elapsed_ms = res->elapsed_ms;
	dns_report_str(res, o->text, sizeof(o->text));
	if (o->cancel_in_cb)
		dns_resolve_cancel(o->self); /* must do nothing */
	if (o->free_in_cb)
		dns_resolver_free(o->free_in_cb);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void spin_until(const int *flag, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	while ((!flag || !*flag) && now_ms() < end) {
		uv_run(&L, UV_RUN_NOWAIT);
		if (!flag || !*flag)
			usleep(1000);
	}
}

static void count_handle(uv_handle_t *h, void *arg)
{
	(void)h;
	(*(int *)arg)++;
}

static int loop_handles(void)
{
	int n = 0;
	uv_walk(&L, count_handle, &n);
	return n;
}

static void free_resolver(struct dns_resolver *r)
{
	dns_resolver_free(r);
	for (int i = 0; i < 2000 && loop_handles() > 0; i++) {
		uv_run(&L, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_int_equal(loop_handles(), 0);
}

static const struct dns_query_report *find_q(const struct outcome *o, uint16_t type,
					      const char *name)
{
	for (size_t i = 0; i < o->nq; i++)
		if (o->q[i].type == type && strcmp(o->q[i].name, name) == 0)
			return &o->q[i];
	fail_msg("no %u query for %s in: %s", type, name, o->text);
	return NULL;
}

static void assert_target(const struct outcome *o, size_t i, const char *ip, unsigned port,
			  bool tls, const char *host)
{
	if (i >= o->n)
		fail_msg("no target %zu (%zu targets): %s", i, o->n, o->text);
	if (strcmp(o->t[i].ip, ip) != 0 || o->t[i].port != port || o->t[i].direct_tls != tls ||
	    strcmp(o->t[i].host, host) != 0)
		fail_msg("target %zu is %s:%u %s (%s), expected %s:%u %s (%s)", i, o->t[i].ip,
			 o->t[i].port, o->t[i].direct_tls ? "tls" : "starttls", o->t[i].host, ip, port,
			 tls ? "tls" : "starttls", host);
}

/* ---- the private DNS server ---- */

static const char *unbound_bin;
static pid_t server_pid = -1;
static unsigned server_port;
static char server_dir[64];
static char forward[64];

static const char *const zone_records[] = {
	/* a.test: both services, merged; p5 holds one of each kind */
	"_xmpps-server._tcp.a.test. 60 IN SRV 5 1 5223 tls.a.test.",
	"_xmpp-server._tcp.a.test. 60 IN SRV 5 3 5270 tcp2.a.test.",
	"_xmpp-server._tcp.a.test. 60 IN SRV 10 0 5269 tcp.a.test.",
	"tls.a.test. 60 IN AAAA ::1",
	"tls.a.test. 60 IN A 127.0.0.3",
	"tcp.a.test. 60 IN A 127.0.0.4",
	"tcp2.a.test. 60 IN A 127.0.0.5",
	/* fb.test: no SRV, addresses of its own */
	"fb.test. 60 IN A 127.0.0.6",
	"fb.test. 60 IN AAAA ::1",
	/* dot.test: "." = decidedly not available, although it has an A */
	"_xmpp-server._tcp.dot.test. 60 IN SRV 0 0 0 .",
	"dot.test. 60 IN A 127.0.0.7",
	/* noaddr.test: an SRV whose target has no address */
	"_xmpp-server._tcp.noaddr.test. 60 IN SRV 0 0 5269 gone.noaddr.test.",
	"noaddr.test. 60 IN TXT \"here\"",
	/* bare.test: exists, no SRV and no address */
	"bare.test. 60 IN TXT \"here\"",
};

static const char *find_unbound(void)
{
	/* PARLEY_TEST_UNBOUND=<path> picks another binary; empty: none */
	const char *env = getenv("PARLEY_TEST_UNBOUND");
	if (env)
		return env[0] && access(env, X_OK) == 0 ? env : NULL;
	static const char *const paths[] = {"/usr/sbin/unbound", "/usr/local/sbin/unbound",
					    "/sbin/unbound"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* A port free for UDP and TCP on 127.0.0.1 (bound, then closed). */
static unsigned free_port(void)
{
	for (int tries = 0; tries < 20; tries++) {
		int u = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t len = sizeof(a);
		if (u < 0 || bind(u, (struct sockaddr *)&a, sizeof(a)) != 0 ||
		    getsockname(u, (struct sockaddr *)&a, &len) != 0) {
			if (u >= 0)
				close(u);
			continue;
		}
		int t = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		bool ok = t >= 0 && bind(t, (struct sockaddr *)&a, sizeof(a)) == 0;
		if (t >= 0)
			close(t);
		close(u);
		if (ok)
			return ntohs(a.sin_port);
	}
	return 0;
}

/* true when something holds UDP 127.0.0.1:port */
static bool udp_port_taken(unsigned port)
{
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool taken = bind(u, (struct sockaddr *)&a, sizeof(a)) != 0 && errno == EADDRINUSE;
	close(u);
	return taken;
}

static void stop_server(void)
{
	if (server_pid <= 0)
		return;
	kill(server_pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
			server_pid = -1;
			return;
		}
		usleep(10000);
	}
	kill(server_pid, SIGKILL);
	waitpid(server_pid, NULL, 0);
	server_pid = -1;
}

static void print_log(void)
{
	char path[128], line[512];
	snprintf(path, sizeof(path), "%s/log", server_dir);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		fprintf(stderr, "unbound: %s", line);
	if (f)
		fclose(f);
}

static int start_server(void **state)
{
	alarm(TEST_ALARM_S);
	unbound_bin = find_unbound();
	if (!unbound_bin)
		return 0; /* the end-to-end tests skip */
	snprintf(server_dir, sizeof(server_dir), "/tmp/parley-dns-XXXXXX");
	if (!mkdtemp(server_dir))
		return -1;
	for (int attempt = 0; attempt < 3; attempt++) {
		server_port = free_port();
		if (!server_port)
			return -1;
		char conf[128];
		snprintf(conf, sizeof(conf), "%s/unbound.conf", server_dir);
		FILE *f = fopen(conf, "w");
		if (!f)
			return -1;
		fprintf(f,
			"server:\n"
			"  interface: 127.0.0.1@%u\n"
			"  do-ip6: no\n"
			"  do-daemonize: no\n"
			"  chroot: \"\"\n"
			"  username: \"\"\n"
			"  directory: \"%s\"\n"
			"  pidfile: \"\"\n"
			"  use-syslog: no\n"
			"  logfile: \"\"\n"
			"  verbosity: 1\n"
			"  num-threads: 1\n"
			"  module-config: \"iterator\"\n"
			"  access-control: 127.0.0.0/8 allow\n"
			"  local-zone: \"test.\" static\n",
			server_port, server_dir);
		for (size_t i = 0; i < sizeof(zone_records) / sizeof(*zone_records); i++) {
			fprintf(f, "  local-data: '");
			fputs(zone_records[i], f);
			fprintf(f, "'\n");
		}
		fprintf(f, "remote-control:\n  control-enable: no\n");
		fclose(f);

		char logpath[128];
		snprintf(logpath, sizeof(logpath), "%s/log", server_dir);
		pid_t pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			int nul = open("/dev/null", O_RDONLY);
			if (nul >= 0)
				dup2(nul, 0);
			execl(unbound_bin, "unbound", "-d", "-c", conf, (char *)NULL);
			_exit(127);
		}
		server_pid = pid;
		/* ready once it holds the port */
		bool up = false, died = false;
		for (int i = 0; i < 500 && !up && !died; i++) {
			if (waitpid(pid, NULL, WNOHANG) == pid) {
				died = true;
				server_pid = -1;
			} else if (udp_port_taken(server_port)) {
				up = true;
			} else {
				usleep(10000);
			}
		}
		if (up) {
			snprintf(forward, sizeof(forward), "127.0.0.1@%u", server_port);
			return 0;
		}
		print_log();
		stop_server();
	}
	return -1;
}

static int stop_server_group(void **state)
{
	stop_server();
	if (server_dir[0]) {
		char path[160];
		snprintf(path, sizeof(path), "%s/unbound.conf", server_dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/log", server_dir);
		unlink(path);
		rmdir(server_dir);
	}
	return 0;
}

static int setup(void **state)
{
	alarm(TEST_ALARM_S);
	return uv_loop_init(&L);
}

static int teardown(void **state)
{
	uv_run(&L, UV_RUN_NOWAIT);
	int rc = uv_loop_close(&L);
	alarm(0);
	return rc == 0 ? 0 : -1;
}

static void need_server(void)
{
	if (!unbound_bin) {
		fprintf(stderr, "SKIP: /usr/sbin/unbound is missing (Debian package unbound; "
				"`make test` installs it)\n");
		skip();
	}
}

static const char *const test_zone[] = {"test"};

static struct dns_resolver *resolver_for_test(void)
{
	struct dns_resolver_config cfg = {.forward = forward, .zones = test_zone, .nzones = 1};
	char *err = NULL;
	struct dns_resolver *r = dns_resolver_new(&L, &cfg, &err);
	if (!r)
		fail_msg("dns_resolver_new: %s", err ? err : "?");
	return r;
}

static void resolve(struct dns_resolver *r, const char *domain, unsigned timeout_ms,
		    struct outcome *o)
{
	o->self = dns_resolve_xmpp_server(r, domain, timeout_ms, on_result, o);
	assert_non_null(o->self);
	/* never from inside the call */
	assert_int_equal(o->calls, 0);
	spin_until(&o->calls, timeout_ms + 3000);
	if (o->calls != 1)
		fail_msg("%s: %d callbacks", domain, o->calls);
}

/* ---- end to end ---- */

static void both_srv_kinds_merged_and_ordered(void **state)
{
	need_server();
	struct dns_resolver *r = resolver_for_test();
	/* p5: tls (w1) and tcp2 (w3), sum 4: a draw of 0 takes tls first */
	uint32_t zero[] = {0};
	struct seq s0 = {.v = zero, .n = 1};
	dns_resolver_set_random(r, seq_next, &s0);
	struct outcome o = {0};
	resolve(r, "a.test", 5000, &o);
	assert_int_equal(o.status, DNS_OK);
	assert_true(o.srv);
	assert_int_equal(o.n, 4);
	assert_target(&o, 0, "::1", 5223, true, "tls.a.test");
	assert_target(&o, 1, "127.0.0.3", 5223, true, "tls.a.test");
	assert_target(&o, 2, "127.0.0.5", 5270, false, "tcp2.a.test");
	assert_target(&o, 3, "127.0.0.4", 5269, false, "tcp.a.test");
	assert_int_equal(find_q(&o, DNS_TYPE_SRV, "_xmpps-server._tcp.a.test")->count, 1);
	assert_int_equal(find_q(&o, DNS_TYPE_SRV, "_xmpp-server._tcp.a.test")->count, 2);
	assert_int_equal(find_q(&o, DNS_TYPE_AAAA, "tls.a.test")->outcome, DNS_Q_ANSWER);
	assert_int_equal(find_q(&o, DNS_TYPE_AAAA, "tcp.a.test")->outcome, DNS_Q_NODATA);
	assert_int_equal(o.nq, 2 + 2 * 3);
	assert_int_equal(s0.calls, 1);

	/* a draw of 2: tls's running sum 1 < 2, tcp2's 4 >= 2 */
	uint32_t two[] = {2};
	struct seq s2 = {.v = two, .n = 1};
	dns_resolver_set_random(r, seq_next, &s2);
	struct outcome p = {0};
	resolve(r, "A.Test.", 5000, &p);
	assert_int_equal(p.status, DNS_OK);
	assert_int_equal(p.n, 4);
	assert_target(&p, 0, "127.0.0.5", 5270, false, "tcp2.a.test");
	assert_target(&p, 1, "::1", 5223, true, "tls.a.test");
	assert_target(&p, 2, "127.0.0.3", 5223, true, "tls.a.test");
	assert_target(&p, 3, "127.0.0.4", 5269, false, "tcp.a.test");

	/* ready for core/connect.h */
	struct connect_target ct[8];
	struct dns_target dt[4];
	memcpy(dt, p.t, sizeof(dt));
	struct dns_result res = {.targets = dt, .n = 4};
	assert_int_equal(dns_connect_targets(&res, ct, 8), 4);
	assert_string_equal(ct[1].ip, "::1");
	assert_int_equal(ct[1].port, 5223);
	assert_int_equal(dns_connect_targets(&res, ct, 2), 2);
	free_resolver(r);
}

static void fallback_to_the_domain_on_5269(void **state)
{
	need_server();
	struct dns_resolver *r = resolver_for_test();
	struct outcome o = {0};
	resolve(r, "fb.test", 5000, &o);
	assert_int_equal(o.status, DNS_OK);
	assert_false(o.srv);
	assert_int_equal(o.n, 2);
	assert_target(&o, 0, "::1", 5269, false, "fb.test");
	assert_target(&o, 1, "127.0.0.6", 5269, false, "fb.test");
	assert_int_equal(find_q(&o, DNS_TYPE_SRV, "_xmpps-server._tcp.fb.test")->outcome,
			 DNS_Q_NXDOMAIN);
	assert_int_equal(find_q(&o, DNS_TYPE_SRV, "_xmpp-server._tcp.fb.test")->outcome,
			 DNS_Q_NXDOMAIN);
	assert_int_equal(find_q(&o, DNS_TYPE_A, "fb.test")->count, 1);
	assert_int_equal(o.nq, 4);

	/* exists, but no SRV and no address */
	struct outcome b = {0};
	resolve(r, "bare.test", 5000, &b);
	assert_int_equal(b.status, DNS_NO_ADDRESS);
	assert_false(b.srv);
	assert_int_equal(b.n, 0);
	assert_int_equal(find_q(&b, DNS_TYPE_A, "bare.test")->outcome, DNS_Q_NODATA);
	free_resolver(r);
}

static void nxdomain(void **state)
{
	need_server();
	struct dns_resolver *r = resolver_for_test();
	struct outcome o = {0};
	resolve(r, "nx.test", 5000, &o);
	assert_int_equal(o.status, DNS_NXDOMAIN);
	assert_int_equal(o.n, 0);
	assert_int_equal(o.nq, 4);
	for (size_t i = 0; i < o.nq; i++)
		assert_int_equal(o.q[i].outcome, DNS_Q_NXDOMAIN);
	assert_non_null(strstr(o.text, "SRV _xmpps-server._tcp.nx.test: nxdomain"));
	assert_non_null(strstr(o.text, "AAAA nx.test: nxdomain"));

	/* an SRV target without address: the domain exists */
	struct outcome g = {0};
	resolve(r, "noaddr.test", 5000, &g);
	assert_int_equal(g.status, DNS_NO_ADDRESS);
	assert_true(g.srv);
	assert_int_equal(find_q(&g, DNS_TYPE_A, "gone.noaddr.test")->outcome, DNS_Q_NXDOMAIN);
	free_resolver(r);
}

static void dot_target_is_no_service(void **state)
{
	need_server();
	struct dns_resolver *r = resolver_for_test();
	struct outcome o = {0};
	resolve(r, "dot.test", 5000, &o);
	assert_int_equal(o.status, DNS_NO_SERVICE);
	assert_int_equal(o.n, 0);
	/* no fallback to dot.test's own A record */
	assert_int_equal(o.nq, 2);
	assert_int_equal(find_q(&o, DNS_TYPE_SRV, "_xmpp-server._tcp.dot.test")->count, 1);
	free_resolver(r);
}

static void without_the_zone_unbound_answers_test_itself(void **state)
{
	/* the note: libunbound answers "test." with NXDOMAIN by itself
	 * unless the zone is made transparent */
	need_server();
	struct dns_resolver_config cfg = {.forward = forward};
	char *err = NULL;
	struct dns_resolver *r = dns_resolver_new(&L, &cfg, &err);
	assert_non_null(r);
	struct outcome o = {0};
	resolve(r, "fb.test", 5000, &o);
	assert_int_equal(o.status, DNS_NXDOMAIN);
	free_resolver(r);
}

static void bad_configuration_and_names(void **state)
{
	char *err = NULL;
	struct dns_resolver_config bad = {.forward = "not an address"};
	assert_null(dns_resolver_new(&L, &bad, &err));
	assert_non_null(err);
	assert_non_null(strstr(err, "not an address"));
	free(err);

	struct dns_resolver_config ok = {.forward = "127.0.0.1@9"};
	struct dns_resolver *r = dns_resolver_new(&L, &ok, &err);
	assert_non_null(r);
	assert_null(err);
	const char *names[] = {"", ".", "a..b", "a b.example", ".a.example", "a\\.example"};
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		struct outcome o = {0};
		resolve(r, names[i], 1000, &o);
		assert_int_equal(o.status, DNS_BAD_NAME);
		assert_int_equal(o.nq, 0);
	}
	struct outcome n = {0};
	n.self = dns_resolve_xmpp_server(r, NULL, 1000, on_result, &n);
	spin_until(&n.calls, 1000);
	assert_int_equal(n.calls, 1);
	assert_int_equal(n.status, DNS_BAD_NAME);
	free_resolver(r);
}

/* A UDP socket on loopback that never answers. */
static int black_hole(char *fwd, size_t n)
{
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(u, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(u, (struct sockaddr *)&a, &len), 0);
	snprintf(fwd, n, "127.0.0.1@%u", ntohs(a.sin_port));
	return u;
}

static void timeout_is_reported(void **state)
{
	char fwd[64];
	int hole = black_hole(fwd, sizeof(fwd));
	struct dns_resolver_config cfg = {.forward = fwd, .zones = test_zone, .nzones = 1};
	struct dns_resolver *r = dns_resolver_new(&L, &cfg, NULL);
	assert_non_null(r);
	struct outcome o = {0};
	uint64_t t0 = now_ms();
	resolve(r, "a.test", 300, &o);
	uint64_t took = now_ms() - t0;
	assert_int_equal(o.status, DNS_TIMEOUT);
	assert_int_equal(o.n, 0);
	assert_in_range(took, 290, 2000);
	assert_in_range(o.elapsed_ms, 290, 2000);
	assert_int_equal(o.nq, 2);
	assert_int_equal(o.q[0].outcome, DNS_Q_TIMEOUT);
	assert_int_equal(o.q[1].outcome, DNS_Q_TIMEOUT);
	assert_non_null(strstr(o.text, "SRV _xmpp-server._tcp.a.test: timeout after 300 ms"));
	/* and nothing comes later */
	spin_until(NULL, 200);
	assert_int_equal(o.calls, 1);
	free_resolver(r);
	close(hole);
}

static void cancel_in_flight(void **state)
{
	char fwd[64];
	int hole = black_hole(fwd, sizeof(fwd));
	struct dns_resolver_config cfg = {.forward = fwd, .zones = test_zone, .nzones = 1};
	struct dns_resolver *r = dns_resolver_new(&L, &cfg, NULL);
	assert_non_null(r);
	struct outcome o = {0};
	struct dns_request *q = dns_resolve_xmpp_server(r, "a.test", 300, on_result, &o);
	spin_until(NULL, 50);
	dns_resolve_cancel(q);
	dns_resolve_cancel(NULL);
	/* past the timeout: no callback */
	spin_until(NULL, 600);
	assert_int_equal(o.calls, 0);

	/* a second request in flight when the resolver goes: no callback either */
	struct outcome p = {0};
	dns_resolve_xmpp_server(r, "b.test", 300, on_result, &p);
	spin_until(NULL, 20);
	free_resolver(r);
	spin_until(NULL, 400);
	assert_int_equal(p.calls, 0);
	close(hole);
}

static void cancel_before_the_loop_runs_and_in_callback(void **state)
{
	need_server();
	struct dns_resolver *r = resolver_for_test();
	struct outcome o = {0};
	struct dns_request *q = dns_resolve_xmpp_server(r, "a.test", 2000, on_result, &o);
	dns_resolve_cancel(q);
	spin_until(NULL, 300);
	assert_int_equal(o.calls, 0);

	/* cancelling itself from the callback does nothing */
	struct outcome p = {.cancel_in_cb = true};
	resolve(r, "fb.test", 3000, &p);
	assert_int_equal(p.status, DNS_OK);

	/* freeing the resolver from the callback, with another request running */
	struct outcome other = {0};
	struct outcome last = {.free_in_cb = r};
	dns_resolve_xmpp_server(r, "nx.test", 3000, on_result, &other);
	dns_resolve_xmpp_server(r, "a.test", 3000, on_result, &last);
	spin_until(&last.calls, 3000);
	if (!other.calls) {
		/* nx.test may answer first; then a.test's callback freed r */
		assert_int_equal(last.calls, 1);
	}
	for (int i = 0; i < 2000 && loop_handles() > 0; i++) {
		uv_run(&L, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_int_equal(loop_handles(), 0);
	assert_true(other.calls <= 1);
	assert_int_equal(last.calls, 1);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(priorities_ascend),
		cmocka_unit_test(weight_zero_first_then_selection),
		cmocka_unit_test(all_weights_zero_keep_order),
		cmocka_unit_test(weights_are_proportional),
		cmocka_unit_test(names_and_sentences),
	};
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest loop[] = {
		T(bad_configuration_and_names),
		T(timeout_is_reported),
		T(cancel_in_flight),
	};
	const struct CMUnitTest e2e[] = {
		T(both_srv_kinds_merged_and_ordered),
		T(fallback_to_the_domain_on_5269),
		T(nxdomain),
		T(dot_target_is_no_service),
		T(without_the_zone_unbound_answers_test_itself),
		T(cancel_before_the_loop_runs_and_in_callback),
	};
	int failed = cmocka_run_group_tests_name("dns_srv_order", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("dns_loop", loop, NULL, NULL);
	failed += cmocka_run_group_tests_name("dns_unbound", e2e, start_server, stop_server_group);
	return failed;
}
