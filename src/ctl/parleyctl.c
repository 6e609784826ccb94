/*
 * parleyctl: the admin command line.  One table of commands; each command
 * family lives in its own file.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "ctl/ctl.h"

int ctl_subcommand_run(struct ctl *c, int argc, char **argv, const struct ctl_subcommand *subs, size_t n,
		       int (*usage)(void))
{
	for (size_t k = 0; argc >= 2 && k < n; k++)
		if (!strcmp(argv[1], subs[k].name))
			return subs[k].run(c, argc, argv);
	return usage();
}

struct command {
	const char *name;
	int (*run)(struct ctl *c, int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{"init", ctl_init, "init DIR --domain DOMAIN [--listen IP] [--c2s-port N] [--tls-port N]\n"
			   "                             create an instance"},
	{"user", ctl_user, "user add|passwd|del JID, user list DOMAIN\n"
			   "                             manage accounts\n"
			   "  user cert add|list|del JID   pin certificates to an account"},
	{"cert", ctl_cert, "cert ca init|issue|self-signed|revoke|crl|show\n"
			   "                             a CA, certificates, CRLs; what Parley reads in one"},
	{"trust", ctl_trust, "trust add|list|remove --store client|s2s\n"
			     "                             the CAs the server trusts"},
	{"s2s", ctl_s2s, "s2s status | s2s report DOMAIN | s2s close DOMAIN [--json]\n"
			 "                             federation streams of the running server"},
	{"group", ctl_group, "group create NAME [--label TEXT] [--shared] [--members-only]\n"
			     "  group add|remove NAME JID... | group delete|show NAME | group list\n"
			     "                             groups of JIDs (shared rosters)"},
	{"import", ctl_import, "import FILE [--format csv|json]\n"
			       "                             accounts, pins, groups and members in bulk,\n"
			       "                             all or nothing (import --help: the formats)"},
	{"export", ctl_export, "export [--format csv|json] [--with-secrets]\n"
			       "                             the same, to standard output"},
	{"check", ctl_check, "check [config]              the configuration, certificates and trust stores:\n"
			     "                             expiry, names, keys, usage"},
	{"token", ctl_token, "token create NAME [--read-only] | token list [--json] | token revoke NAME|ID\n"
			     "                             API tokens of the HTTP admin API (only hashes stored)"},
};

void ctl_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("parleyctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

const struct config *ctl_config(struct ctl *c)
{
	if (c->cfg)
		return c->cfg;
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	char *err = NULL;
	if (config_load(c->config_path, cfg, &err) < 0) {
		ctl_error("%s", err);
		free(err);
		free(cfg);
		return NULL;
	}
	c->cfg = cfg;
	return cfg;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: parleyctl [-c FILE] COMMAND ...\n"
		     "  -c FILE   configuration (default: $PARLEY_CONFIG, else ./parley.conf)\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s\n", commands[i].help);
}

int main(int argc, char **argv)
{
	struct ctl c = {.config_path = getenv("PARLEY_CONFIG")};
	c.config_given = c.config_path != NULL;
	if (!c.config_path)
		c.config_path = "parley.conf";
	int i = 1;
	if (i + 1 < argc && !strcmp(argv[i], "-c")) {
		c.config_path = argv[i + 1];
		c.config_given = true;
		i += 2;
	}
	if (i >= argc || !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
		usage(i >= argc ? stderr : stdout);
		return i >= argc ? CTL_USAGE : CTL_OK;
	}
	hash_seed();
	/* Library log lines (storage errors) go to stderr, warnings and up. */
	log_setup(LOG_WARN, 2);
	int rc = CTL_USAGE;
	const struct command *cmd = NULL;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (!strcmp(argv[i], commands[k].name))
			cmd = &commands[k];
	if (!cmd) {
		ctl_error("unknown command '%s'", argv[i]);
		usage(stderr);
	} else {
		rc = cmd->run(&c, argc - i, argv + i);
	}
	if (c.cfg) {
		config_free(c.cfg);
		free(c.cfg);
	}
	arena_cache_drain();
	return rc;
}
