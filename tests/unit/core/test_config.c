/* Unit tests of core/config: defaults, parsing, validation with file and
 * line in the message, unknown keys, the round trip through config_print. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/parley-config-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *write_conf(const char *text)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/parley.conf", dir);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void expect_error(const char *text, const char *needle)
{
	struct config cfg;
	char *err = NULL;
	assert_int_equal(config_load(write_conf(text), &cfg, &err), -1);
	assert_non_null(err);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not contain '%s'", err, needle);
	free(err);
}

static void minimal_file_gets_defaults(void **state)
{
	(void)state;
	struct config cfg;
	char *err = NULL;
	int r = config_load(write_conf("hosts = ( { domain = \"Example.ORG\"; } );\n"), &cfg, &err);
	if (r != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg.nhosts, 1);
	assert_string_equal(cfg.hosts[0].domain, "example.org");
	/* relative default paths resolve against the file's directory */
	assert_non_null(strstr(cfg.hosts[0].certificate, "/certs/example.org.crt"));
	assert_true(cfg.hosts[0].certificate[0] == '/');
	assert_true(cfg.database[0] == '/');
	assert_true(cfg.workers >= 1);
	assert_int_equal(cfg.c2s.port, 5222);
	assert_int_equal(cfg.c2s.tls_port, 5223);
	assert_true(cfg.c2s.require_tls);
	assert_int_equal(cfg.limits.stanza_bytes, 256 * 1024);
	assert_int_equal(cfg.limits.stanza_bytes_preauth, 10 * 1024);
	assert_int_equal(cfg.limits.depth, 64);
	assert_int_equal(cfg.limits.elements, 10000);
	assert_int_equal(cfg.limits.attrs, 64);
	assert_int_equal(cfg.c2s.resource_conflict, CONFLICT_REPLACE);
	assert_int_equal(cfg.c2s.mechanisms.n, 6);
	assert_string_equal(cfg.c2s.mechanisms.items[0], "EXTERNAL");
	assert_int_equal(cfg.c2s.client_certs, CLIENT_CERTS_WANTED);
	assert_non_null(strstr(cfg.c2s.client_ca, "/trust/client"));
	assert_true(cfg.c2s.client_ca[0] == '/');
	assert_null(cfg.c2s.crl_file);
	assert_int_equal(cfg.c2s.verify_depth, 4);
	assert_false(cfg.c2s.accept_selfsigned);
	assert_true(cfg.c2s.disconnect_on_failure);
	assert_true(cfg.c2s.cn_as_username);
	assert_false(cfg.c2s.auto_create_accounts);
	assert_non_null(config_host_find(&cfg, "EXAMPLE.org"));
	assert_null(config_host_find(&cfg, "other.org"));
	config_free(&cfg);
}

static void values_are_read(void **state)
{
	(void)state;
	struct config cfg;
	char *err = NULL;
	const char *text = "hosts = ( { domain = \"a.test\"; certificate = \"/x/a.crt\"; key = \"k/a.key\"; },\n"
			   "          { domain = \"b.test\"; } );\n"
			   "workers = 3;\n"
			   "c2s: { port = 0; listen = [\"::1\", \"127.0.0.2\"]; resource_conflict = \"rename\";\n"
			   "       mechanisms = [\"PLAIN\"]; require_tls = false; };\n"
			   "limits: { stanza_bytes = 5000000000L; stanza_bytes_preauth = 2048; };\n";
	/* 5e9 is above the bound: first the error ... */
	assert_int_equal(config_load(write_conf(text), &cfg, &err), -1);
	if (!strstr(err, ":6: limits.stanza_bytes: 5000000000 is out of range"))
		fail_msg("unexpected error: %s", err);
	free(err);
	err = NULL;
	/* ... then a valid value */
	char fixed[1024];
	snprintf(fixed, sizeof(fixed), "%s", text);
	char *p = strstr(fixed, "5000000000L");
	memcpy(p, "50000000L  ", 11);
	int r = config_load(write_conf(fixed), &cfg, &err);
	if (r != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg.nhosts, 2);
	assert_string_equal(cfg.hosts[0].certificate, "/x/a.crt");
	assert_non_null(strstr(cfg.hosts[0].key, "/k/a.key"));
	assert_int_equal(cfg.workers, 3);
	assert_int_equal(cfg.c2s.port, 0);
	assert_int_equal(cfg.c2s.listen.n, 2);
	assert_string_equal(cfg.c2s.listen.items[0], "::1");
	assert_int_equal(cfg.c2s.resource_conflict, CONFLICT_RENAME);
	assert_false(cfg.c2s.require_tls);
	assert_int_equal(cfg.limits.stanza_bytes, 50000000);
	assert_int_equal(cfg.limits.stanza_bytes_preauth, 2048);
	config_free(&cfg);
}

static void errors_name_file_line_and_setting(void **state)
{
	(void)state;
	expect_error("hosts = ( { domain = \"a\"; } );\nc2s: { prot = 5; };\n", ":2: unknown setting 'c2s.prot'");
	expect_error("hosts = ( { domain = \"a\"; } );\nbogus = 1;\n", ":2: unknown setting 'bogus'");
	expect_error("hosts = ( { domain = \"a\"; } );\n\nc2s: { port = 70000; };\n",
		     ":3: c2s.port: 70000 is out of range (0 to 65535)");
	expect_error("hosts = ( { domain = \"a\"; } );\nc2s: { port = \"x\"; };\n", ":2: c2s.port: expected a whole number");
	expect_error("hosts = ( { domain = \"a\"; } );\nc2s: { require_tls = 1; };\n", "expected true or false");
	expect_error("hosts = ( { domain = \"a\"; } );\nc2s: { resource_conflict = \"keep\"; };\n",
		     "'keep' is not one of replace, reject, rename");
	expect_error("workers = 1;\n", "no hosts configured");
	expect_error("hosts = ( { domain = \"a\"; cert = \"x\"; } );\n", "unknown setting 'cert'");
	expect_error("hosts = ( { domain = \"a\"; }, { domain = \"A\"; } );\n", "listed twice");
	expect_error("hosts = ( { domain = \"a b\"; } );\n", "is not a domain name");
	expect_error("hosts = ( { domain = \"a\"; } );\nc2s: { port = 5222; tls_port = 5222; };\n", "the same port");
	expect_error("hosts = ( { domain = \"a\"; } );\nlimits: { stanza_bytes = 2048; stanza_bytes_preauth = 4096; };\n",
		     "larger than limits.stanza_bytes");
	expect_error("hosts = ( { domain = \"a\"; } \n", ":2: syntax error");
	struct config cfg;
	char *err = NULL;
	assert_int_equal(config_load("/nonexistent/parley.conf", &cfg, &err), -1);
	assert_non_null(strstr(err, "cannot open"));
	free(err);
}

/* Issue 4: the client certificate settings; an empty path means none. */
static void client_cert_settings_are_read(void **state)
{
	(void)state;
	struct config cfg;
	char *err = NULL;
	const char *text = "hosts = ( { domain = \"a.test\"; } );\n"
			   "c2s: { client_certs = \"needed\"; client_ca = \"/etc/ca.pem\"; verify_depth = 16;\n"
			   "       crl_file = \"crl/all.pem\"; accept_selfsigned = true; disconnect_on_failure = false;\n"
			   "       cn_as_username = false; auto_create_accounts = true; };\n";
	int r = config_load(write_conf(text), &cfg, &err);
	if (r != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg.c2s.client_certs, CLIENT_CERTS_NEEDED);
	assert_string_equal(cfg.c2s.client_ca, "/etc/ca.pem");
	assert_int_equal(cfg.c2s.verify_depth, 16);
	assert_true(cfg.c2s.crl_file[0] == '/');
	assert_non_null(strstr(cfg.c2s.crl_file, "/crl/all.pem"));
	assert_true(cfg.c2s.accept_selfsigned);
	assert_false(cfg.c2s.disconnect_on_failure);
	assert_false(cfg.c2s.cn_as_username);
	assert_true(cfg.c2s.auto_create_accounts);
	config_free(&cfg);

	r = config_load(write_conf("hosts = ( { domain = \"a.test\"; } );\n"
				   "c2s: { client_ca = \"\"; crl_file = \"\"; };\n"),
			&cfg, &err);
	if (r != 0)
		fail_msg("%s", err);
	assert_null(cfg.c2s.client_ca);
	assert_null(cfg.c2s.crl_file);
	config_free(&cfg);

	expect_error("hosts = ( { domain = \"a\"; } );\nc2s: { verify_depth = 0; };\n",
		     "c2s.verify_depth: 0 is out of range (1 to 16)");
	expect_error("hosts = ( { domain = \"a\"; } );\nc2s: { client_certs = \"required\"; };\n",
		     "'required' is not one of disabled, wanted, needed");
	expect_error("hosts = ( { domain = \"a\"; } );\ndatabase = \"\";\n", "database: names no file");
}

/* The federation settings: defaults, values, s2s.peers and its checks. */
static void s2s_settings_are_read(void **state)
{
	(void)state;
	struct config cfg;
	char *err = NULL;
	int r = config_load(write_conf("hosts = ( { domain = \"a.test\"; } );\n"), &cfg, &err);
	if (r != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg.s2s.allow.n, 1);
	assert_string_equal(cfg.s2s.allow.items[0], "*");
	assert_int_equal(cfg.s2s.deny.n, 0);
	assert_false(cfg.s2s.accept_selfsigned);
	assert_true(cfg.s2s.dialback);
	assert_null(cfg.s2s.crl_file);
	assert_true(cfg.s2s.accept_serverauth_only);
	assert_null(cfg.s2s.resolver);
	assert_int_equal(cfg.s2s.resolver_zones.n, 0);
	assert_int_equal(cfg.s2s.dns_timeout, 10);
	assert_int_equal(cfg.s2s.connect_timeout, 10);
	assert_int_equal(cfg.s2s.idle_timeout, 600);
	assert_int_equal(cfg.s2s.retry_min, 5);
	assert_int_equal(cfg.s2s.retry_max, 300);
	assert_int_equal(cfg.s2s.connections_per_address, 32);
	assert_int_equal(cfg.s2s.npeers, 0);
	assert_null(cfg.s2s.peers);
	config_free(&cfg);

	const char *text =
		"hosts = ( { domain = \"a.test\"; } );\n"
		"s2s: { allow = []; deny = [\"evil.example\"]; accept_selfsigned = true; dialback = false;\n"
		"       crl_file = \"crl.pem\"; accept_serverauth_only = false; resolver = \"::1@5353\";\n"
		"       resolver_zones = [\"test\"]; dns_timeout = 3; connect_timeout = 4; idle_timeout = 60;\n"
		"       retry_min = 7; retry_max = 7; connections_per_address = 2;\n"
		"       peers = ( { domain = \"B.Example.\"; mode = \"selfsigned\";\n"
		"                   pin = \"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"; },\n"
		"                 { domain = \"c.example\"; } ); };\n";
	r = config_load(write_conf(text), &cfg, &err);
	if (r != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg.s2s.allow.n, 0);
	assert_int_equal(cfg.s2s.deny.n, 1);
	assert_true(cfg.s2s.accept_selfsigned);
	assert_false(cfg.s2s.dialback);
	assert_true(cfg.s2s.crl_file[0] == '/');
	assert_non_null(strstr(cfg.s2s.crl_file, "/crl.pem"));
	assert_false(cfg.s2s.accept_serverauth_only);
	assert_string_equal(cfg.s2s.resolver, "::1@5353");
	assert_string_equal(cfg.s2s.resolver_zones.items[0], "test");
	assert_int_equal(cfg.s2s.dns_timeout, 3);
	assert_int_equal(cfg.s2s.connect_timeout, 4);
	assert_int_equal(cfg.s2s.idle_timeout, 60);
	assert_int_equal(cfg.s2s.retry_min, 7);
	assert_int_equal(cfg.s2s.retry_max, 7);
	assert_int_equal(cfg.s2s.connections_per_address, 2);
	assert_int_equal(cfg.s2s.npeers, 2);
	assert_string_equal(cfg.s2s.peers[0].domain, "b.example");
	assert_int_equal(cfg.s2s.peers[0].mode, CONFIG_S2S_SELFSIGNED);
	assert_string_equal(cfg.s2s.peers[0].pin, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	assert_string_equal(cfg.s2s.peers[1].domain, "c.example");
	assert_int_equal(cfg.s2s.peers[1].mode, CONFIG_S2S_DEFAULT);
	assert_null(cfg.s2s.peers[1].pin);

	/* Printed, it loads back the same. */
	char path[128];
	snprintf(path, sizeof(path), "%s/printed.conf", dir);
	FILE *f = fopen(path, "w");
	config_print(f, &cfg, NULL);
	fclose(f);
	struct config b;
	r = config_load(path, &b, &err);
	if (r != 0)
		fail_msg("%s", err);
	assert_int_equal(b.s2s.allow.n, 0);
	assert_string_equal(b.s2s.resolver, "::1@5353");
	assert_int_equal(b.s2s.npeers, 2);
	assert_string_equal(b.s2s.peers[0].domain, "b.example");
	assert_int_equal(b.s2s.peers[0].mode, CONFIG_S2S_SELFSIGNED);
	assert_string_equal(b.s2s.peers[0].pin, cfg.s2s.peers[0].pin);
	assert_int_equal(b.s2s.peers[1].mode, CONFIG_S2S_DEFAULT);
	assert_null(b.s2s.peers[1].pin);
	config_free(&b);
	config_free(&cfg);

	assert_string_equal(config_s2s_mode_name(CONFIG_S2S_VERIFY), "verify");
	assert_string_equal(config_s2s_mode_name(CONFIG_S2S_DENY), "deny");
	assert_null(config_s2s_mode_name(CONFIG_S2S_DEFAULT));
	assert_null(config_s2s_mode_name(CONFIG_S2S_MODES));

#define H "hosts = ( { domain = \"a\"; } );\n"
	expect_error(H "s2s: { peers = ( { mode = \"verify\"; } ); };\n", ":2: s2s.peers: entry 1 has no domain");
	expect_error(H "s2s: { peers = ( { domain = \"b.x\"; },\n { domain = \"B.X.\"; } ); };\n",
		     ":3: s2s.peers: B.X. has two entries");
	expect_error(H "s2s: { peers = ( { domain = \"b.x\";\n mode = \"strict\"; } ); };\n",
		     ":3: s2s.peers: mode of b.x: 'strict' is not one of verify, selfsigned, plain, deny");
	expect_error(H "s2s: { peers = ( { domain = \"b.x\"; pin = \"abc\"; } ); };\n",
		     ":2: s2s.peers: pin of b.x must be 64 hex digits");
	expect_error(H "s2s: { peers = ( { domain = \"b.x\"; pin = "
		       "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg\"; } ); };\n",
		     "pin of b.x must be 64 hex digits");
	expect_error(H "s2s: { peers = ( { domain = \"b.x\"; cert = \"x\"; } ); };\n",
		     "s2s.peers: unknown setting 'cert' (known: domain, mode, pin)");
	expect_error(H "s2s: { peers = ( { domain = \"u@b.x\"; } ); };\n", "'u@b.x' is not a domain name");
	expect_error(H "s2s: { peers = ( { domain = 1; } ); };\n", "s2s.peers: domain must be a string");
	expect_error(H "s2s: { peers = { domain = \"b.x\"; }; };\n", "s2s.peers: expected a list of groups");
	expect_error(H "s2s: { allow = [\"*\", \"b.x\"]; };\n", "s2s.allow: \"*\" (every domain) with other entries");
	expect_error(H "s2s: { allow = [\"b.x\",\n \"*.b.x\"]; };\n",
		     ":3: s2s.allow: '*.b.x' is not a domain name (no wildcards");
	expect_error(H "s2s: { deny = [\"*\"]; };\n", "s2s.deny: '*' is not a domain name");
	expect_error(H "s2s: { resolver = \"localhost\"; };\n", ":2: s2s.resolver: 'localhost' is not an IP address");
	expect_error(H "s2s: { resolver = \"127.0.0.1@\"; };\n", "s2s.resolver:");
	expect_error(H "s2s: { resolver = \"127.0.0.1@70000\"; };\n", "s2s.resolver:");
	expect_error(H "s2s: { retry_min = 60;\n retry_max = 30; };\n",
		     ":2: s2s.retry_min: 60 is more than s2s.retry_max (30)");
	expect_error(H "s2s: { retry_max = 3; };\n", "s2s.retry_min: 5 is more than s2s.retry_max (3)");
	expect_error(H "s2s: { dns_timeout = 0; };\n", "s2s.dns_timeout: 0 is out of range (1 to 300)");
	expect_error(H "s2s: { idle_timeout = 5; };\n", "s2s.idle_timeout: 5 is out of range (10 to 86400)");
	expect_error(H "s2s: { connections_per_address = 10001; };\n",
		     "s2s.connections_per_address: 10001 is out of range (1 to 10000)");
#undef H

	/* "" is none for the string and the path. */
	r = config_load(write_conf("hosts = ( { domain = \"a.test\"; } );\ns2s: { resolver = \"\"; crl_file = \"\"; };\n"),
			&cfg, &err);
	if (r != 0)
		fail_msg("%s", err);
	assert_null(cfg.s2s.resolver);
	assert_null(cfg.s2s.crl_file);
	config_free(&cfg);
}

static void printed_config_loads_back_identically(void **state)
{
	(void)state;
	struct config a, b;
	char *err = NULL;
	const char *text = "hosts = ( { domain = \"x.test\"; } );\nc2s: { mechanisms = [\"SCRAM-SHA-1\", \"PLAIN\"]; };\n"
			   "limits: { outq_bytes = 300000000L; };\n";
	int r = config_load(write_conf(text), &a, &err);
	if (r != 0)
		fail_msg("%s", err);
	char path[128];
	snprintf(path, sizeof(path), "%s/printed.conf", dir);
	FILE *f = fopen(path, "w");
	config_print(f, &a, "a header line\nand another");
	fclose(f);
	r = config_load(path, &b, &err);
	if (r != 0)
		fail_msg("%s", err);
	assert_string_equal(a.hosts[0].certificate, b.hosts[0].certificate);
	assert_int_equal(a.c2s.mechanisms.n, b.c2s.mechanisms.n);
	assert_string_equal(b.c2s.mechanisms.items[1], "PLAIN");
	assert_int_equal(a.limits.outq_bytes, b.limits.outq_bytes);
	assert_int_equal(b.limits.outq_bytes, 300000000ULL);
	assert_int_equal(a.c2s.port, b.c2s.port);
	assert_int_equal(a.im.offline_max, b.im.offline_max);
	assert_string_equal(a.c2s.client_ca, b.c2s.client_ca);
	assert_null(b.c2s.crl_file);
	config_free(&a);
	config_free(&b);
}

/* The web listener's settings (issue 12): defaults, and what is refused. */
static void web_settings(void **state)
{
	(void)state;
	struct config cfg;
	char *err = NULL;
	assert_int_equal(config_load(write_conf("hosts = ( { domain = \"a\"; } );\n"), &cfg, &err), 0);
	assert_int_equal(cfg.http.web_port, 0);
	assert_int_equal(cfg.http.web_listen.n, 1);
	assert_string_equal(cfg.http.web_listen.items[0], "127.0.0.1");
	assert_string_equal(cfg.http.websocket_path, "/xmpp-websocket");
	assert_string_equal(cfg.http.bosh_path, "/http-bind");
	assert_int_equal(cfg.http.allowed_origins.n, 0);
	config_free(&cfg);
	assert_int_equal(config_load(write_conf("hosts = ( { domain = \"a\"; } );\nhttp: { web_port = 5281; "
						"websocket_path = \"\"; allowed_origins = [\"https://c.example:8443\", "
						"\"*\"]; };\n"),
				     &cfg, &err),
			 0);
	assert_null(cfg.http.websocket_path);
	assert_int_equal(cfg.http.allowed_origins.n, 2);
	config_free(&cfg);
#define W "hosts = ( { domain = \"a\"; } );\nhttp: { "
	expect_error(W "web_port = 5280; admin_port = 5280; };\n", "http.web_port: the same port as the admin API's");
	expect_error(W "web_port = 5281; web_listen = []; };\n", "http.web_listen: no address to listen on");
	expect_error(W "websocket_path = \"xmpp\"; };\n", "http.websocket_path: 'xmpp' is not a path");
	expect_error(W "websocket_path = \"/XMPP\"; };\n", "http.websocket_path: '/XMPP' is not a path");
	expect_error(W "websocket_path = \"/a/../b\"; };\n", "is not a path");
	expect_error(W "bosh_path = \"/a//b\"; };\n", "http.bosh_path: '/a//b' is not a path");
	expect_error(W "bosh_path = \"/x\"; websocket_path = \"/x\"; };\n", "the same as http.websocket_path");
	expect_error(W "allowed_origins = [\"chat.example.org\"]; };\n", "http.allowed_origins: 'chat.example.org'");
	expect_error(W "allowed_origins = [\"https://c.example/path\"]; };\n", "is not an origin");
#undef W
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(minimal_file_gets_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(values_are_read, setup, teardown),
		cmocka_unit_test_setup_teardown(errors_name_file_line_and_setting, setup, teardown),
		cmocka_unit_test_setup_teardown(client_cert_settings_are_read, setup, teardown),
		cmocka_unit_test_setup_teardown(s2s_settings_are_read, setup, teardown),
		cmocka_unit_test_setup_teardown(web_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(printed_config_loads_back_identically, setup, teardown),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
