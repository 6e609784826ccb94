/*
 * ctl check: `parleyctl check config` reads the configuration as parleyd
 * does, loads every host's certificate and key and both trust stores with
 * the server's own code (tls/), and prints one line per finding: what
 * parleyd would refuse to load, certificates that expire within 30 days
 * (server/expiry.c, the lines parleyd logs), a host certificate that does
 * not name its host or may not serve (EKU without serverAuth), a trust
 * store that is empty while a setting needs it.
 *
 * It reads files only; it does not ask a running server what it loaded
 * (a server that has not been sent SIGHUP may still hold older files).
 * Exit: 0 nothing or only warnings, 1 errors, 2 usage or configuration.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "core/arena.h"
#include "core/config.h"
#include "ctl/ctl.h"
#include "server/expiry.h"
#include "tls/cert.h"

struct findings {
	unsigned errors, warnings;
};

static void finding(struct findings *f, bool error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void finding(struct findings *f, bool error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(error ? "error: " : "warning: ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	if (error)
		f->errors++;
	else
		f->warnings++;
}

static void check_expiry(struct findings *f, const struct expiry_sources *src, long long now)
{
	struct expiry_cert *certs;
	size_t n = expiry_gather(src, &certs);
	struct expiry_line *lines;
	size_t nl = expiry_lines(certs, n, now, &lines);
	for (size_t i = 0; i < nl; i++)
		finding(f, lines[i].level == EXPIRY_EXPIRED, "%s", lines[i].text);
	expiry_lines_free(lines, nl);
	expiry_certs_free(certs, n);
}

/* What the leaf says about itself: its names and its purpose. */
static void check_leaf(struct findings *f, const struct config_host *h)
{
	STACK_OF(X509) *certs = NULL;
	char *err = NULL;
	if (tls_file_read_certs(h->certificate, &certs, &err) < 0) {
		finding(f, true, "host %s: %s", h->domain, err);
		free(err);
		return;
	}
	X509 *leaf = sk_X509_value(certs, 0);
	struct arena *a = arena_new();
	struct tls_cert_ids ids;
	tls_cert_ids_read(leaf, a, &ids);
	if (!tls_cert_ids_name(&ids, h->domain, "xmpp-server", false))
		finding(f, true,
			"host %s: certificate %s does not name %s (no matching DNS name, SRV-ID or "
			"xmppAddr): clients and peer servers refuse it; issue one for %s "
			"(parleyctl cert issue server %s --ca DIR)",
			h->domain, h->certificate, h->domain, h->domain, h->domain);
	arena_free(a);
	/* Without the extension any use is allowed; with it, serverAuth
	 * must be listed for clients and peers to accept us as a server. */
	if ((X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) &&
	    !(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER))
		finding(f, true,
			"host %s: certificate %s has an extended key usage without serverAuth: "
			"clients and peer servers (s2s) refuse it as a server's; issue one with "
			"serverAuth",
			h->domain, h->certificate);
	sk_X509_pop_free(certs, X509_free);
}

static void check_host(struct findings *f, const struct config_host *h, long long now)
{
	const struct tls_host th = {h->domain, h->certificate, h->key};
	const struct tls_server_config tc = {.hosts = &th, .nhosts = 1};
	char *err = NULL;
	/* parleyd's own loader: missing files, a key that does not match,
	 * a passphrase, all in its words. */
	struct tls_server *srv = tls_server_new(&tc, &err);
	if (!srv) {
		finding(f, true, "%s", err);
		free(err);
		return;
	}
	const struct expiry_sources src = {.hosts = srv};
	check_expiry(f, &src, now);
	tls_server_free(srv);
	check_leaf(f, h);
}

static struct tls_client_auth *load_store(struct findings *f, const struct tls_client_auth_config *tc,
					  const char *settings)
{
	char *err = NULL;
	struct tls_client_auth *ca = tls_client_auth_new(tc, &err);
	if (!ca) {
		finding(f, true, "%s; check %s", err, settings);
		free(err);
	}
	return ca;
}

static void check_stores(struct findings *f, const struct config *cfg, long long now)
{
	struct tls_client_auth_config cc;
	tls_client_auth_config_c2s(cfg, &cc);
	struct tls_client_auth *client = load_store(f, &cc, "c2s.client_ca and c2s.crl_file");
	/* As s2s_trust_config (s2s/service.c) builds it. */
	const struct tls_client_auth_config sc = {
		.mode = TLS_CLIENT_CERTS_WANTED,
		.ca_path = cfg->s2s.ca,
		.crl_file = cfg->s2s.crl_file,
		.verify_depth = cfg->s2s.verify_depth,
	};
	struct tls_client_auth *s2s = load_store(f, &sc, "s2s.ca and s2s.crl_file");

	struct tls_client_auth_info info;
	/* `wanted` with an empty store is the default: it asks no client,
	 * as documented.  `needed` refuses every client. */
	if (client && cfg->c2s.client_certs == CLIENT_CERTS_NEEDED && !cfg->c2s.accept_selfsigned) {
		tls_client_auth_info(client, &info);
		if (info.ncas == 0)
			finding(f, true,
				"c2s.client_ca %s holds no CA while c2s.client_certs is needed: every "
				"client is refused; add one (parleyctl trust add --store client FILE)",
				cfg->c2s.client_ca ? cfg->c2s.client_ca : "(none)");
	}
	/* The default policy row is mode verify unless s2s.accept_selfsigned:
	 * a peer must then present a certificate s2s.ca verifies. */
	if (s2s && cfg->s2s.allow.n > 0 && !cfg->s2s.accept_selfsigned) {
		tls_client_auth_info(s2s, &info);
		if (info.ncas == 0)
			finding(f, false,
				"s2s.ca %s holds no CA while federation is on (s2s.allow) in mode verify "
				"(s2s.accept_selfsigned false): no peer server's certificate can verify, "
				"so peers are refused unless s2s.peers pins them or gives them another "
				"mode; add a CA (parleyctl trust add --store s2s FILE)",
				cfg->s2s.ca ? cfg->s2s.ca : "(none)");
	}
	const struct expiry_sources src = {
		.client_ca = client,
		.client_ca_path = cfg->c2s.client_ca,
		.s2s_ca = s2s,
		.s2s_ca_path = cfg->s2s.ca,
	};
	check_expiry(f, &src, now);
	tls_client_auth_free(client);
	tls_client_auth_free(s2s);
}

static int check_config(struct ctl *c)
{
	const struct config *cfg = ctl_config(c);
	if (!cfg)
		return CTL_USAGE;
	long long now = (long long)time(NULL);
	struct findings f = {0};
	for (size_t i = 0; i < cfg->nhosts; i++)
		check_host(&f, &cfg->hosts[i], now);
	check_stores(&f, cfg, now);
	if (f.errors + f.warnings == 0)
		printf("%s: OK (%zu host%s)\n", cfg->path, cfg->nhosts, cfg->nhosts == 1 ? "" : "s");
	else
		printf("%s: %u error%s, %u warning%s\n", cfg->path, f.errors, f.errors == 1 ? "" : "s",
		       f.warnings, f.warnings == 1 ? "" : "s");
	return f.errors ? CTL_FAIL : CTL_OK;
}

static int check_config_cmd(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: parleyctl [-c FILE] check config\n");
		return CTL_USAGE;
	}
	return check_config(c);
}

/* What `check` checks; argv[0] is the row's name.  The first row is what
 * `parleyctl check` alone runs. */
static const struct {
	const char *name;
	int (*run)(struct ctl *c, int argc, char **argv);
} checks[] = {
	{.name = "config", .run = check_config_cmd},
	{.name = "federation", .run = ctl_check_federation},
};

int ctl_check(struct ctl *c, int argc, char **argv)
{
	if (argc == 1)
		return checks[0].run(c, 1, (char *[]){(char *)checks[0].name, NULL});
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if (!strcmp(argv[1], checks[i].name))
			return checks[i].run(c, argc - 1, argv + 1);
	fprintf(stderr, "usage: parleyctl [-c FILE] check [config | federation [DOMAIN] [--from LOCAL]]\n");
	return CTL_USAGE;
}
