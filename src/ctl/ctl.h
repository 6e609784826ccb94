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

struct config;

enum { CTL_OK = 0, CTL_FAIL = 1, CTL_USAGE = 2 };

struct ctl {
	const char *config_path; /* -c, $PARLEY_CONFIG or ./parley.conf */
	struct config *cfg;      /* loaded on first use */
};

/* Loads the configuration once; NULL after printing why. */
const struct config *ctl_config(struct ctl *c);
/* Prints "parleyctl: <message>" to stderr. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int ctl_init(struct ctl *c, int argc, char **argv);
int ctl_user(struct ctl *c, int argc, char **argv);

#endif
