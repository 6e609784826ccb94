/*
 * ctl user: accounts, over manage/ (which turns passwords into SCRAM
 * records and checks every rule): this file reads passwords (a prompt,
 * standard input, or a random one it prints) and prints results.  An
 * account made with --no-password has no credentials at all: only a
 * client certificate (SASL EXTERNAL) logs in to it.  Certificate pins are
 * in usercert.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <termios.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/config.h"
#include "ctl/ctl.h"
#include "manage/manage.h"
#include "sasl/sasl.h"
#include "store/store.h"

enum { PASSWORD_MAX = 1024 };

const char *const ctl_scram_mech[SCRAM_HASH_COUNT] = {
	[SCRAM_SHA1] = "SCRAM-SHA-1",
	[SCRAM_SHA256] = "SCRAM-SHA-256",
};

static int usage(void)
{
	fprintf(stderr, "usage: parleyctl [-c FILE] user add JID [--password-stdin | --random-password | --no-password]\n"
			"       parleyctl [-c FILE] user passwd JID [--password-stdin | --random-password]\n"
			"       parleyctl [-c FILE] user del JID\n"
			"       parleyctl [-c FILE] user list DOMAIN\n"
			"       parleyctl [-c FILE] user cert add|list|del JID ...\n");
	return CTL_USAGE;
}

bool ctl_read_line(FILE *in, char *buf, size_t n)
{
	if (!fgets(buf, (int)n, in))
		return false;
	size_t len = strlen(buf);
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return true;
}

static bool prompt(const char *label, char *buf, size_t n)
{
	struct termios old, quiet;
	bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
	fprintf(stderr, "%s", label);
	if (tty) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	bool ok = ctl_read_line(stdin, buf, n);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	return ok;
}

void ctl_random_password(char *out, size_t n)
{
	static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	unsigned char r[20];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		ctl_error("no randomness available");
		exit(CTL_FAIL);
	}
	size_t i;
	for (i = 0; i < sizeof(r) && i < n - 1; i++)
		out[i] = alphabet[r[i] % (sizeof(alphabet) - 1)];
	out[i] = '\0';
}

/* The password from the option given; CTL_OK or an exit code. */
static int get_password(int argc, char **argv, int first, char *pw, size_t n, bool *printed)
{
	*printed = false;
	const char *mode = first < argc ? argv[first] : NULL;
	if (first + 1 < argc)
		return usage();
	if (mode && !strcmp(mode, "--random-password")) {
		ctl_random_password(pw, n);
		*printed = true;
		return CTL_OK;
	}
	if (mode && strcmp(mode, "--password-stdin") != 0)
		return usage();
	if (mode || !isatty(STDIN_FILENO)) {
		if (!ctl_read_line(stdin, pw, n)) {
			ctl_error("no password on standard input");
			return CTL_FAIL;
		}
	} else {
		char again[PASSWORD_MAX];
		if (!prompt("password: ", pw, n) || !prompt("again: ", again, sizeof(again))) {
			ctl_error("no password given");
			return CTL_FAIL;
		}
		bool same = strcmp(pw, again) == 0;
		explicit_bzero(again, sizeof(again));
		if (!same) {
			ctl_error("the passwords differ");
			return CTL_FAIL;
		}
	}
	return CTL_OK;
}

int ctl_account(struct ctl *c, struct arena *a, const char *s, const char **bare)
{
	const struct config *cfg = ctl_config(c);
	if (!cfg)
		return CTL_USAGE;
	struct manage_err err;
	if (manage_user_jid(cfg, a, s, bare, &err) != MANAGE_OK) {
		ctl_error("%s", err.msg);
		return CTL_USAGE;
	}
	return CTL_OK;
}

int ctl_store_open(struct ctl *c, struct store **out)
{
	char *err = NULL;
	const struct config *cfg = ctl_config(c);
	*out = NULL;
	if (!cfg)
		return CTL_USAGE;
	*out = store_open(cfg->database, &err);
	if (!*out) {
		ctl_error("cannot open the database %s: %s", cfg->database, err);
		free(err);
		return CTL_FAIL;
	}
	return CTL_OK;
}

int ctl_print_line(void *prefix, const char *s)
{
	printf("%s%s\n", prefix ? (const char *)prefix : "", s);
	return 0;
}

static int user_set(struct ctl *c, int argc, char **argv, bool create)
{
	if (argc < 3)
		return usage();
	struct arena *a = arena_new();
	const char *bare;
	int rc = ctl_account(c, a, argv[2], &bare);
	char pw[PASSWORD_MAX];
	bool printed = false;
	struct store *s = NULL;
	pw[0] = '\0';
	if (rc != CTL_OK)
		goto out;
	/* Certificate-only: no credential at all, so no password can ever
	 * log in (SCRAM and PLAIN find none). */
	bool no_password = create && argc == 4 && !strcmp(argv[3], "--no-password");
	if (!no_password)
		rc = get_password(argc, argv, 3, pw, sizeof(pw), &printed);
	if (rc == CTL_OK)
		rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		goto out;
	const struct config *cfg = ctl_config(c);
	struct manage_err err;
	enum manage_result r = create ? manage_user_create(s, cfg, bare, no_password ? NULL : pw, &err)
				      : manage_user_set_password(s, cfg, bare, pw, &err);
	if (r != MANAGE_OK) {
		ctl_error("%s", err.msg);
		rc = CTL_FAIL;
		goto out;
	}
	printf("%s %s%s\n", create ? "created" : "changed the password of", bare,
	       no_password ? " without a password (certificate logins only)" : "");
	if (printed)
		printf("password: %s\n", pw);
out:
	explicit_bzero(pw, sizeof(pw));
	store_close(s);
	arena_free(a);
	return rc;
}

static int user_del(struct ctl *c, int argc, char **argv)
{
	if (argc != 3)
		return usage();
	struct arena *a = arena_new();
	const char *bare;
	struct store *s = NULL;
	int rc = ctl_account(c, a, argv[2], &bare);
	if (rc == CTL_OK)
		rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		goto out;
	struct manage_err err;
	if (manage_user_delete(s, ctl_config(c), bare, &err) != MANAGE_OK) {
		ctl_error("%s", err.msg);
		rc = CTL_FAIL;
		goto out;
	}
	printf("deleted %s and everything it stored\n", bare);
	/* A running server ends the account's sessions at once. */
	json_t *req = json_pack("{s:s, s:s}", "op", "user.kick", "jid", bare);
	json_t *resp = ctl_admin_ask(ctl_config(c), req);
	json_t *ended = json_object_get(json_object_get(resp, "result"), "ended");
	if (json_integer_value(ended) > 0)
		printf("ended its %lld open session%s\n", (long long)json_integer_value(ended),
		       json_integer_value(ended) == 1 ? "" : "s");
	json_decref(req);
	json_decref(resp);
out:
	store_close(s);
	arena_free(a);
	return rc;
}

static int user_list(struct ctl *c, int argc, char **argv)
{
	if (argc != 3)
		return usage();
	struct store *s;
	int rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		return rc;
	struct arena *a = arena_new();
	struct manage_err err;
	const char **jids;
	size_t n;
	enum manage_result r = manage_user_list(s, ctl_config(c), a, argv[2], NULL, &jids, &n, NULL, &err);
	if (r != MANAGE_OK) {
		ctl_error("%s", err.msg);
		rc = r == MANAGE_INVALID ? CTL_USAGE : CTL_FAIL;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s\n", jids[i]);
	arena_free(a);
	store_close(s);
	return rc;
}

static int user_add(struct ctl *c, int argc, char **argv)
{
	return user_set(c, argc, argv, true);
}

static int user_passwd(struct ctl *c, int argc, char **argv)
{
	return user_set(c, argc, argv, false);
}

static int user_cert(struct ctl *c, int argc, char **argv)
{
	return ctl_user_cert(c, argc - 1, argv + 1);
}

static const struct ctl_subcommand user_subcommands[] = {
	{"add", user_add},   {"passwd", user_passwd}, {"del", user_del},
	{"list", user_list}, {"cert", user_cert},
};

int ctl_user(struct ctl *c, int argc, char **argv)
{
	return CTL_SUBCOMMANDS(c, argc, argv, user_subcommands, usage);
}
