/*
 * The fixture of the manage/ unit tests: a temporary directory with a
 * fresh SQLite store and a configuration made in memory (one host,
 * example.org; both trust stores inside the directory; fast hashing).
 * Included by each test file of this folder after cmocka and the
 * headers it uses.
 */
#ifndef PARLEY_TEST_MANAGE_FIXTURE_H
#define PARLEY_TEST_MANAGE_FIXTURE_H

struct fixture {
	char dir[64];
	struct config cfg;
	struct store *s;
	struct arena *a;
	struct manage_err err;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/parley-manage-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	config_defaults(&f->cfg);
	f->cfg.hosts = xcalloc(1, sizeof(*f->cfg.hosts));
	f->cfg.hosts[0].domain = xstrdup("example.org");
	f->cfg.nhosts = 1;
	/* Fast hashing: these tests check rules, not PBKDF2. */
	f->cfg.auth.scram_iterations = 64;
	char p[128];
	snprintf(p, sizeof(p), "%s/parley.conf", f->dir);
	f->cfg.path = xstrdup(p);
	f->cfg.dir = xstrdup(f->dir);
	free(f->cfg.c2s.client_ca);
	snprintf(p, sizeof(p), "%s/trust/client", f->dir);
	f->cfg.c2s.client_ca = xstrdup(p);
	free(f->cfg.s2s.ca);
	snprintf(p, sizeof(p), "%s/trust/s2s", f->dir);
	f->cfg.s2s.ca = xstrdup(p);
	snprintf(p, sizeof(p), "%s/parley.db", f->dir);
	char *err = NULL;
	f->s = store_open(p, &err);
	if (!f->s) {
		fprintf(stderr, "store_open: %s\n", err);
		free(err);
		return -1;
	}
	f->a = arena_new();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	arena_free(f->a);
	config_free(&f->cfg);
	arena_cache_drain();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	int rc = system(cmd);
	free(f);
	return rc == 0 ? 0 : -1;
}

#endif
