/*
 * fuzz_config: libFuzzer target for the configuration file parser
 * (core/config.c over libconfig).  config_load() takes a path, so the input
 * is written to a file in a fresh directory for each run.  Every input
 * must either load or be refused with a message (never crash, never leak:
 * the sanitizers and libFuzzer's leak check see to the rest).  A loaded
 * configuration is checked for what config_load promises and written back
 * with config_print(): that text must load again and print the same, since
 * `parleyctl init` writes files this way and the server must read them.
 *
 * Inputs with an @include directive are skipped: an include opens another
 * file, and a fuzzer that names files (/dev/zero, a directory) tests the
 * file system rather than the parser.  The included text goes through the
 * same scanner as the input itself.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * libconfig 1.5 (Debian 12) leaks the text of a string token that a syntax
 * error follows: its bison grammar discards the token without freeing it
 * (the input `""` alone does it; fuzz/corpus/config/regress-libconfig-leak).
 * That is once per refused file, at start-up, and not ours to fix; every
 * other allocation of libconfig and of config.c is still checked.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

/* Without this, LSan lists the suppressions after every leak check. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
		fprintf(stderr, "fuzz_config: cannot write %s: %s\n", path, strerror(errno));
		abort();
	}
}

/* config_print() as a heap string. */
static char *print_config(const struct config *cfg, size_t *len)
{
	char *s = NULL;
	FILE *f = open_memstream(&s, len);
	if (!f)
		abort();
	config_print(f, cfg, "fuzz");
	if (fclose(f) != 0)
		abort();
	return s;
}

/* What a successful config_load() promises its callers. */
static void check_loaded(const struct config *cfg)
{
	if (!cfg->path || cfg->path[0] != '/' || !cfg->dir || cfg->dir[0] != '/' ||
	    cfg->nhosts == 0 || !cfg->hosts || !cfg->database || cfg->database[0] != '/' ||
	    cfg->workers == 0 ||
	    cfg->limits.stanza_bytes_preauth > cfg->limits.stanza_bytes)
		abort();
	for (size_t i = 0; i < cfg->nhosts; i++) {
		const struct config_host *h = &cfg->hosts[i];
		if (!h->domain || !*h->domain || !h->certificate || h->certificate[0] != '/' ||
		    !h->key || h->key[0] != '/' || config_host_find(cfg, h->domain) != h)
			abort();
	}
}

/* One input: load, check, and when it loads, print, load and print again. */
static void run_one(const char *in, const char *out, const uint8_t *data, size_t size)
{
	write_file(in, data, size);

	struct config cfg;
	char *err = NULL;
	if (config_load(in, &cfg, &err) != 0) {
		if (!err || !*err)
			abort();
		free(err);
		return;
	}
	if (err)
		abort();
	check_loaded(&cfg);

	/* Written back, it loads again and says the same. */
	size_t len1, len2;
	char *text1 = print_config(&cfg, &len1);
	write_file(out, text1, len1);
	struct config again;
	if (config_load(out, &again, &err) != 0) {
		fprintf(stderr, "printed configuration does not load: %s\n%s\n", err, text1);
		abort();
	}
	check_loaded(&again);
	char *text2 = print_config(&again, &len2);
	if (len1 != len2 || memcmp(text1, text2, len1) != 0) {
		fprintf(stderr, "printed configuration loads as another:\n%s\n---\n%s\n", text1, text2);
		abort();
	}
	free(text1);
	free(text2);
	config_free(&again);
	config_free(&cfg);
}

/* TMPDIR, else tmpfs when there is one: on a disk, creating and removing
 * the files is most of a run's time. */
static const char *scratch_base(void)
{
	static const char *base;
	if (!base) {
		const char *tmp = getenv("TMPDIR");
		if (tmp && *tmp)
			base = tmp;
		else
			base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	}
	return base;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 8 && memmem(data, size, "@include", 8))
		return 0;
	/* A directory of its own per run, removed before returning: libFuzzer
	 * can end a process without running atexit handlers, and a directory
	 * per process would be left behind. */
	char dir[256], in[300], out[300];
	snprintf(dir, sizeof(dir), "%s/fuzz_config.XXXXXX", scratch_base());
	if (!mkdtemp(dir)) {
		perror("fuzz_config: mkdtemp");
		abort();
	}
	snprintf(in, sizeof(in), "%s/in.cfg", dir);
	snprintf(out, sizeof(out), "%s/out.cfg", dir);
	run_one(in, out, data, size);
	unlink(in);
	unlink(out);
	rmdir(dir);
	return 0;
}
