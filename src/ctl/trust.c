/*
 * ctl trust: the CA certificates the server trusts, over manage/ (which
 * knows where each store lives, what it takes and how its files are
 * named: manage/trust.c):
 *
 *   client  certificates of clients (SASL EXTERNAL): c2s.client_ca
 *   s2s     certificates of federated servers: s2s.ca
 *
 * This file parses the arguments, prints, and says how a running server
 * picks the change up (SIGHUP).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "ctl/ctl.h"
#include "manage/manage.h"
#include "store/store.h"

static int usage(void)
{
	fprintf(stderr, "usage: parleyctl [-c FILE] trust add --store client|s2s CA_FILE\n"
			"       parleyctl [-c FILE] trust list --store client|s2s\n"
			"       parleyctl [-c FILE] trust remove --store client|s2s NAME|FINGERPRINT|CA_FILE\n");
	return CTL_USAGE;
}

static void reload_hint(void)
{
	printf("a running server applies this on SIGHUP: kill -HUP <parleyd pid>\n");
}

static int trust_add(const struct config *cfg, enum manage_trust_store t, struct arena *a,
		     const char *file)
{
	struct manage_trust_added *added;
	size_t n;
	struct manage_err err;
	enum manage_result r = manage_trust_add_file(cfg, t, a, file, &added, &n, &err);
	for (size_t i = 0; i < n; i++) {
		const struct manage_cert *c = &added[i].cert;
		if (added[i].already)
			printf("\"%s\" is trusted already (%s)\n", c->subject, added[i].path);
		else
			printf("trusted \"%s\" (sha256 %s, until %s) as %s\n", c->subject, c->fingerprint,
			       c->not_after, added[i].path);
	}
	if (r == MANAGE_OK) {
		reload_hint();
		return CTL_OK;
	}
	/* Everything trusted already: the lines above said so. */
	if (r != MANAGE_EXISTS)
		ctl_error("%s", err.msg);
	return CTL_FAIL;
}

static int trust_show(const struct config *cfg, enum manage_trust_store t, struct arena *a)
{
	struct manage_trust_list l;
	struct manage_err err;
	if (manage_trust_list(cfg, t, a, &l, &err) != MANAGE_OK) {
		ctl_error("%s", err.msg);
		return CTL_FAIL;
	}
	const char *store = manage_trust_store_name(t);
	printf("%s trust store %s\n", store, l.dir);
	for (size_t i = 0; i < l.nfiles; i++) {
		const struct manage_trust_file *f = &l.files[i];
		printf("%s%s\n", f->name,
		       f->read_by_server ? "" : "  (not read by the server: not *.pem, *.crt or *.cer)");
		if (f->unreadable) {
			printf("  unreadable: %s\n", f->unreadable);
			continue;
		}
		for (size_t k = 0; k < f->ncerts; k++) {
			const struct manage_cert *c = &f->certs[k];
			printf("  subject: %s%s\n  expires: %s%s\n  sha256:  %s\n", c->subject,
			       c->ca ? "" : "  (not a CA: skipped by the server)", c->not_after,
			       c->expired ? "  (expired)" : "", c->fingerprint);
		}
	}
	if (l.ncas == 0)
		printf("no trusted CA%s: add one with parleyctl trust add --store %s CA_FILE\n",
		       t == MANAGE_TRUST_CLIENT ? " (no client certificate can verify)" : "", store);
	return CTL_OK;
}

static int trust_remove(const struct config *cfg, enum manage_trust_store t, struct arena *a,
			const char *what)
{
	const char **removed;
	size_t n;
	struct manage_err err;
	char fp[STORE_FINGERPRINT_LEN + 1];
	enum manage_result r = MANAGE_INVALID;
	/* A CA file (the one given to trust add) names its certificate; one
	 * that cannot be read is taken as a name. */
	if (!store_fingerprint_norm(what, fp) && strchr(what, '/'))
		r = manage_trust_remove_file(cfg, t, a, what, &removed, &n, &err);
	if (r == MANAGE_INVALID)
		r = manage_trust_remove(cfg, t, a, what, &removed, &n, &err);
	for (size_t i = 0; i < n; i++)
		printf("removed %s\n", removed[i]);
	if (r == MANAGE_NOT_FOUND)
		ctl_error("%s (see parleyctl trust list)", err.msg);
	else if (r != MANAGE_OK)
		ctl_error("%s", err.msg);
	if (r != MANAGE_OK)
		return CTL_FAIL;
	reload_hint();
	return CTL_OK;
}

int ctl_trust(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"store", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	if (argc < 2)
		return usage();
	const char *sub = argv[1];
	const char *store = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc - 1, argv + 1, "", longopts, NULL)) != -1) {
		if (opt != 's')
			return usage();
		store = optarg;
	}
	int nargs = argc - 1 - optind;
	char **args = argv + 1 + optind;
	if (!store) {
		ctl_error("say which store: --store client or --store s2s");
		return usage();
	}
	bool add = !strcmp(sub, "add"), list = !strcmp(sub, "list"), remove = !strcmp(sub, "remove");
	if ((!add && !list && !remove) || nargs != (list ? 0 : 1))
		return usage();
	const struct config *cfg = ctl_config(c);
	if (!cfg)
		return CTL_USAGE;
	enum manage_trust_store t;
	if (!manage_trust_store_parse(store, &t)) {
		ctl_error("--store %s: the stores are client and s2s", store);
		return CTL_USAGE;
	}
	struct arena *a = arena_new();
	const char *dir;
	struct manage_err err;
	int rc = CTL_USAGE;
	if (manage_trust_dir(cfg, t, a, &dir, &err) != MANAGE_OK)
		ctl_error("%s", err.msg);
	else
		rc = add ? trust_add(cfg, t, a, args[0]) : list ? trust_show(cfg, t, a) : trust_remove(cfg, t, a, args[0]);
	arena_free(a);
	return rc;
}
