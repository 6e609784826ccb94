/*
 * ctl: the pieces of parleyctl, one file per command family, dispatched
 * from the command table in parleyctl.c.  Commands work on the files
 * (configuration, database, certificates) whether the server runs or not.
 *
 * Exit codes: 0 done, 1 the request failed (no such user, exists
 * already, storage error), 2 usage or configuration error.
 */
#ifndef PARLEY_CTL_CTL_H
#define PARLEY_CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct arena;
struct config;
struct store;

enum { CTL_OK = 0, CTL_FAIL = 1, CTL_USAGE = 2 };

struct ctl {
	const char *config_path; /* -c, $PARLEY_CONFIG or ./parley.conf */
	bool config_given;       /* by -c or $PARLEY_CONFIG, not the default */
	struct config *cfg;      /* loaded on first use */
};

/* Loads the configuration once; NULL after printing why. */
const struct config *ctl_config(struct ctl *c);
/* Prints "parleyctl: <message>" to stderr. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Shared by the command files (user.c) ---- */

/* The prepared bare JID (in `a`) of an account of one of our hosts
 * (manage_user_jid); CTL_OK, or an exit code after printing why. */
int ctl_account(struct ctl *c, struct arena *a, const char *s, const char **bare);
/* The configured database into *out, loading the configuration first:
 * CTL_OK, or after printing why CTL_USAGE (configuration) or CTL_FAIL
 * (database) with *out NULL. */
int ctl_store_open(struct ctl *c, struct store **out);
/* A store listing callback printing each string on a line of its own,
 * after `prefix` (a const char *, NULL for none). */
int ctl_print_line(void *prefix, const char *s);
/* Reads one line without its newline; false on EOF. */
bool ctl_read_line(FILE *in, char *buf, size_t n);
/* "SCRAM-SHA-1", "SCRAM-SHA-256" by enum scram_hash (user.c). */
extern const char *const ctl_scram_mech[];
/* A random password of n - 1 characters from an unambiguous alphabet. */
void ctl_random_password(char *out, size_t n);

/* ---- Commands ---- */

int ctl_init(struct ctl *c, int argc, char **argv);
int ctl_user(struct ctl *c, int argc, char **argv);
/* user cert add|list|del (argv[0] is "cert") */
int ctl_user_cert(struct ctl *c, int argc, char **argv);
int ctl_cert(struct ctl *c, int argc, char **argv);
int ctl_trust(struct ctl *c, int argc, char **argv);
/* One request to the running server's control socket (admin/admin.h); its
 * response object, or NULL when no server runs (said nothing) or it did
 * not answer (said why). */
#include <jansson.h>
json_t *ctl_admin_ask(const struct config *cfg, json_t *req);
/* s2s status|report|close: asks the running server (admin/admin.h) */
int ctl_s2s(struct ctl *c, int argc, char **argv);
/* check [config] */
int ctl_check(struct ctl *c, int argc, char **argv);
/* check federation [DOMAIN] [--from LOCAL] (check_federation.c) */
int ctl_check_federation(struct ctl *c, int argc, char **argv);
/* A command's subcommands, one row each (argv[1] names one). */
struct ctl_subcommand {
	const char *name;
	int (*run)(struct ctl *c, int argc, char **argv);
};
/* Runs the row of `subs` (n rows) that argv[1] names, with the whole
 * argv; usage() when none does. */
int ctl_subcommand_run(struct ctl *c, int argc, char **argv, const struct ctl_subcommand *subs, size_t n,
		       int (*usage)(void));
#define CTL_SUBCOMMANDS(c, argc, argv, subs, usage) \
	ctl_subcommand_run((c), (argc), (argv), (subs), sizeof(subs) / sizeof((subs)[0]), (usage))

/* group create|add|remove|delete|list|show (group.c) */
int ctl_group(struct ctl *c, int argc, char **argv);
/* import FILE [--format csv|json], export [--format ...] [--with-secrets]
 * (import.c) */
int ctl_import(struct ctl *c, int argc, char **argv);
int ctl_export(struct ctl *c, int argc, char **argv);
/* token create|list|revoke: API tokens of the admin API (token.c) */
int ctl_token(struct ctl *c, int argc, char **argv);

/* ---- Shared by group.c and import.c ---- */

/* After a group change has been committed: a running server applies it to
 * the accounts online at once (group_notify.c); without one, nothing. */
void ctl_group_changed(struct ctl *c, const char *group);

#endif
