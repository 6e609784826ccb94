/*
 * ctl init: a complete instance in one directory: a commented
 * configuration, a self-signed certificate for the domain, empty trust
 * stores (trust/client, trust/s2s), and an empty database with the
 * current schema.  `make run` and every test stand up
 * their servers with it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/config.h"
#include "ctl/ctl.h"
#include "store/store.h"
#include "tls/tls.h"

static int parse_port(const char *s, unsigned *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 65535)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int mkdir_if_missing(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	ctl_error("cannot create %s: %s", path, strerror(errno));
	return -1;
}

int ctl_init(struct ctl *c, int argc, char **argv)
{
	(void)c;
	static const struct option longopts[] = {
		{"domain", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"c2s-port", required_argument, NULL, 'p'},
		{"tls-port", required_argument, NULL, 't'},
		{"s2s-port", required_argument, NULL, 's'},
		{"s2s-tls-port", required_argument, NULL, 'S'},
		{"workers", required_argument, NULL, 'w'},
		{"admin-port", required_argument, NULL, 'a'},
		{"admin", required_argument, NULL, 'A'},
		{"force", no_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	const char *domain = NULL, *listen = NULL, *admin = NULL;
	unsigned port = 5222, tls_port = 5223, workers = 0;
	/* The admin API and its web page (/admin/), on loopback: the setting's
	 * default is off, since two servers on one machine would fight over a
	 * fixed port; a new instance has it on. */
	unsigned admin_port = 5280;
	unsigned s2s_port = 5269, s2s_tls_port = 0;
	bool force = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			domain = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'p':
			if (parse_port(optarg, &port) < 0)
				goto usage;
			break;
		case 't':
			if (parse_port(optarg, &tls_port) < 0)
				goto usage;
			break;
		case 's':
			if (parse_port(optarg, &s2s_port) < 0)
				goto usage;
			break;
		case 'S':
			if (parse_port(optarg, &s2s_tls_port) < 0)
				goto usage;
			break;
		case 'w':
			if (parse_port(optarg, &workers) < 0 || workers > 256)
				goto usage;
			break;
		case 'a':
			if (parse_port(optarg, &admin_port) < 0)
				goto usage;
			break;
		case 'A':
			admin = optarg;
			break;
		case 'f':
			force = true;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || !domain)
		goto usage;
	const char *dir = argv[optind];

	struct buf path = BUF_INIT;
	buf_printf(&path, "%s/parley.conf", dir);
	struct stat st;
	if (!force && stat(buf_cstr(&path), &st) == 0) {
		ctl_error("%s exists already; use --force to overwrite it", buf_cstr(&path));
		buf_clear(&path);
		return CTL_FAIL;
	}
	int rc = CTL_FAIL;
	struct buf certs = BUF_INIT, crt = BUF_INIT, key = BUF_INIT, db = BUF_INIT;
	buf_printf(&certs, "%s/certs", dir);
	buf_printf(&crt, "%s/certs/%s.crt", dir, domain);
	buf_printf(&key, "%s/certs/%s.key", dir, domain);
	buf_printf(&db, "%s/parley.db", dir);
	if (mkdir_if_missing(dir, 0700) < 0 || mkdir_if_missing(buf_cstr(&certs), 0700) < 0)
		goto out;
	/* The trust stores exist from the start, empty: c2s.client_ca names
	 * trust/client, and parleyctl trust adds CAs to it (and to trust/s2s). */
	static const char *const trust_dirs[] = {"trust", "trust/client", "trust/s2s"};
	for (size_t i = 0; i < sizeof(trust_dirs) / sizeof(trust_dirs[0]); i++) {
		struct buf t = BUF_INIT;
		buf_printf(&t, "%s/%s", dir, trust_dirs[i]);
		int r = mkdir_if_missing(buf_cstr(&t), 0755);
		buf_clear(&t);
		if (r < 0)
			goto out;
	}

	char *err = NULL;
	const char *domains[] = {domain};
	if (tls_cert_make_selfsigned(domains, 1, 825, buf_cstr(&crt), buf_cstr(&key), &err) < 0) {
		ctl_error("cannot create a certificate for %s: %s", domain, err);
		free(err);
		goto out;
	}

	struct config cfg;
	config_defaults(&cfg);
	cfg.hosts = xcalloc(1, sizeof(*cfg.hosts));
	cfg.nhosts = 1;
	cfg.hosts[0].domain = xstrdup(domain);
	struct buf rel = BUF_INIT;
	buf_printf(&rel, "certs/%s.crt", domain);
	cfg.hosts[0].certificate = buf_steal(&rel);
	buf_printf(&rel, "certs/%s.key", domain);
	cfg.hosts[0].key = buf_steal(&rel);
	cfg.workers = workers;
	cfg.c2s.port = port;
	cfg.c2s.tls_port = tls_port;
	cfg.s2s.port = s2s_port;
	cfg.s2s.tls_port = s2s_tls_port;
	cfg.http.admin_port = admin_port;
	/* The web listener (WebSocket, BOSH, discovery) on its usual port for an
	 * instance on the usual client port; one on ports of its own (tests,
	 * several servers on one machine) gets none it did not ask for. */
	cfg.http.web_port = port == 5222 ? 5281 : 0;
	/* Likewise the shared port (443 in production), unprivileged here. */
	cfg.mux.port = port == 5222 ? 5443 : 0;
	if (admin) {
		cfg.admins.items = xcalloc(1, sizeof(*cfg.admins.items));
		cfg.admins.items[0] = xstrdup(admin);
		cfg.admins.n = 1;
	}
	if (listen) {
		free(cfg.c2s.listen.items[0]);
		cfg.c2s.listen.items[0] = xstrdup(listen);
		free(cfg.s2s.listen.items[0]);
		cfg.s2s.listen.items[0] = xstrdup(listen);
	}
	FILE *f = fopen(buf_cstr(&path), "w");
	if (!f) {
		ctl_error("cannot write %s: %s", buf_cstr(&path), strerror(errno));
		config_free(&cfg);
		goto out;
	}
	config_print(f, &cfg,
		     "Parley configuration, written by parleyctl init.\n"
		     "Every setting is listed with its default or chosen value and what it does.\n"
		     "Check a change with: parleyd --check-config -c parley.conf");
	config_free(&cfg);
	if (fclose(f) != 0) {
		ctl_error("cannot write %s: %s", buf_cstr(&path), strerror(errno));
		goto out;
	}

	struct store *s = store_open(buf_cstr(&db), &err);
	if (!s) {
		ctl_error("cannot create the database %s: %s", buf_cstr(&db), err);
		free(err);
		goto out;
	}
	store_close(s);
	printf("created %s for %s (certificate %s, database %s)\n", buf_cstr(&path), domain, buf_cstr(&crt),
	       buf_cstr(&db));
	printf("next: parleyctl -c %s user add admin@%s\n      parleyd -c %s\n", buf_cstr(&path), domain,
	       buf_cstr(&path));
	if (admin_port)
		printf("      then the web admin page is https://127.0.0.1:%u/admin/%s\n", admin_port,
		       admin ? "" : " (for the accounts listed in admins)");
	rc = CTL_OK;
out:
	buf_clear(&path);
	buf_clear(&certs);
	buf_clear(&crt);
	buf_clear(&key);
	buf_clear(&db);
	return rc;
usage:
	fprintf(stderr, "usage: parleyctl init DIR --domain DOMAIN [--listen IP] [--c2s-port N] [--tls-port N] "
			"[--s2s-port N] [--s2s-tls-port N] [--workers N] [--admin-port N] [--admin JID] [--force]\n");
	return CTL_USAGE;
}
