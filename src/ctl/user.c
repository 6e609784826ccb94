/*
 * ctl user: accounts.  Passwords are turned into SCRAM-SHA-1 and
 * SCRAM-SHA-256 records here; the password itself is never stored.  An
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
#include "core/buf.h"
#include "core/config.h"
#include "ctl/ctl.h"
#include "jid/jid.h"
#include "sasl/sasl.h"
#include "store/store.h"

enum { PASSWORD_MAX = 1024 };

const char *const ctl_scram_mech[SCRAM_HASH_COUNT] = {
	[SCRAM_SHA1] = "SCRAM-SHA-1",
	[SCRAM_SHA256] = "SCRAM-SHA-256",
};
#define mech_names ctl_scram_mech

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
	if (!*pw) {
		ctl_error("the password is empty");
		return CTL_FAIL;
	}
	return CTL_OK;
}

int ctl_account(struct ctl *c, struct arena *a, const char *s, struct jid *out)
{
	const struct config *cfg = ctl_config(c);
	if (!cfg)
		return CTL_USAGE;
	if (jid_parse_str(a, s, out) < 0 || !out->local || out->resource) {
		ctl_error("'%s' is not an account JID (like alice@%s)", s, cfg->hosts[0].domain);
		return CTL_USAGE;
	}
	if (!config_host_find(cfg, out->domain)) {
		ctl_error("%s is not a host of this server (see hosts in %s)", out->domain, cfg->path);
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

int ctl_make_creds(const char *pw, unsigned iterations, struct scram_cred *creds, struct store_cred *sc)
{
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		if (scram_cred_make((enum scram_hash)h, pw, iterations, &creds[h]) < 0)
			return -1;
		sc[h] = (struct store_cred){
			.mech = mech_names[h],
			.iterations = creds[h].iterations,
			.salt = creds[h].salt,
			.salt_len = creds[h].salt_len,
			.stored_key = creds[h].stored_key,
			.server_key = creds[h].server_key,
			.key_len = scram_hash_len((enum scram_hash)h),
		};
	}
	return 0;
}

static int make_creds(struct ctl *c, const char *pw, struct scram_cred creds[SCRAM_HASH_COUNT],
		      struct store_cred sc[SCRAM_HASH_COUNT])
{
	if (ctl_make_creds(pw, ctl_config(c)->auth.scram_iterations, creds, sc) < 0) {
		ctl_error("the password is not acceptable (it must be valid UTF-8 and pass SASLprep)");
		return CTL_FAIL;
	}
	return CTL_OK;
}

static int user_set(struct ctl *c, int argc, char **argv, bool create)
{
	if (argc < 3)
		return usage();
	struct arena *a = arena_new();
	struct jid j;
	int rc = ctl_account(c, a, argv[2], &j);
	char pw[PASSWORD_MAX];
	bool printed = false;
	struct store *s = NULL;
	if (rc != CTL_OK)
		goto out;
	/* Certificate-only: no credential at all, so no password can ever
	 * log in (SCRAM and PLAIN find none). */
	bool no_password = create && argc == 4 && !strcmp(argv[3], "--no-password");
	size_t ncreds = no_password ? 0 : SCRAM_HASH_COUNT;
	pw[0] = '\0';
	if (!no_password)
		rc = get_password(argc, argv, 3, pw, sizeof(pw), &printed);
	if (rc != CTL_OK)
		goto out;
	struct scram_cred creds[SCRAM_HASH_COUNT];
	struct store_cred sc[SCRAM_HASH_COUNT];
	if (!no_password)
		rc = make_creds(c, pw, creds, sc);
	if (rc != CTL_OK)
		goto out_pw;
	rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		goto out_pw;
	rc = CTL_FAIL;
	int r = create ? store_user_create(s, j.bare, ncreds ? sc : NULL, ncreds)
		       : store_user_set_creds(s, j.bare, sc, SCRAM_HASH_COUNT);
	if (r == STORE_EXISTS)
		ctl_error("%s exists already", j.bare);
	else if (r == STORE_NOT_FOUND)
		ctl_error("%s does not exist", j.bare);
	else if (r != STORE_OK)
		ctl_error("cannot write %s: %s", j.bare, store_error(s));
	else {
		printf("%s %s%s\n", create ? "created" : "changed the password of", j.bare,
		       no_password ? " without a password (certificate logins only)" : "");
		if (printed)
			printf("password: %s\n", pw);
		rc = CTL_OK;
	}
out_pw:
	explicit_bzero(pw, sizeof(pw));
out:
	store_close(s);
	arena_free(a);
	return rc;
}

static int user_del(struct ctl *c, int argc, char **argv)
{
	if (argc != 3)
		return usage();
	struct arena *a = arena_new();
	struct jid j;
	struct store *s = NULL;
	int rc = ctl_account(c, a, argv[2], &j);
	if (rc == CTL_OK)
		rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		goto out;
	rc = CTL_FAIL;
	int r = store_user_delete(s, j.bare);
	if (r == STORE_NOT_FOUND)
		ctl_error("%s does not exist", j.bare);
	else if (r != STORE_OK)
		ctl_error("cannot delete %s: %s", j.bare, store_error(s));
	else {
		printf("deleted %s and everything it stored\n", j.bare);
		rc = CTL_OK;
		/* A running server ends the account's sessions at once. */
		json_t *req = json_pack("{s:s, s:s}", "op", "user.kick", "jid", j.bare);
		json_t *resp = ctl_admin_ask(ctl_config(c), req);
		json_t *ended = json_object_get(json_object_get(resp, "result"), "ended");
		if (json_integer_value(ended) > 0)
			printf("ended its %lld open session%s\n", (long long)json_integer_value(ended),
			       json_integer_value(ended) == 1 ? "" : "s");
		json_decref(req);
		json_decref(resp);
	}
out:
	store_close(s);
	arena_free(a);
	return rc;
}

static int user_list(struct ctl *c, int argc, char **argv)
{
	if (argc != 3)
		return usage();
	const struct config *cfg = ctl_config(c);
	if (!cfg)
		return CTL_USAGE;
	if (!config_host_find(cfg, argv[2])) {
		ctl_error("%s is not a host of this server (see hosts in %s)", argv[2], cfg->path);
		return CTL_USAGE;
	}
	struct store *s;
	int rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		return rc;
	int r = store_user_list(s, argv[2], ctl_print_line, NULL);
	if (r != STORE_OK)
		ctl_error("cannot list accounts: %s", store_error(s));
	store_close(s);
	return r == STORE_OK ? CTL_OK : CTL_FAIL;
}

int ctl_user(struct ctl *c, int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *sub = argv[1];
	if (!strcmp(sub, "add"))
		return user_set(c, argc, argv, true);
	if (!strcmp(sub, "passwd"))
		return user_set(c, argc, argv, false);
	if (!strcmp(sub, "del"))
		return user_del(c, argc, argv);
	if (!strcmp(sub, "list"))
		return user_list(c, argc, argv);
	if (!strcmp(sub, "cert"))
		return ctl_user_cert(c, argc - 1, argv + 1);
	return usage();
}
