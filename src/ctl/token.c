/*
 * ctl token: API tokens for the HTTP admin API, over manage/ (which makes
 * them, keeps only their hash, and checks them).  `create` prints the
 * token alone on standard output, so that a script can take it
 * (TOKEN=$(parleyctl token create ci)), and says the rest on standard
 * error: it is shown this once.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "core/arena.h"
#include "ctl/ctl.h"
#include "manage/manage.h"
#include "store/store.h"

static int usage(void)
{
	fprintf(stderr, "usage: parleyctl [-c FILE] token create NAME [--read-only]\n"
			"       parleyctl [-c FILE] token list [--json]\n"
			"       parleyctl [-c FILE] token revoke NAME|ID\n");
	return CTL_USAGE;
}

/* CTL_USAGE for input manage/ refused as invalid, else CTL_FAIL. */
static int failed(enum manage_result r, const struct manage_err *err)
{
	ctl_error("%s", err->msg);
	return r == MANAGE_INVALID ? CTL_USAGE : CTL_FAIL;
}

static const char *when_str(int64_t t, char *out, size_t n)
{
	if (t <= 0)
		return "never";
	time_t tt = (time_t)t;
	struct tm tm;
	strftime(out, n, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&tt, &tm));
	return out;
}

static int token_create(struct ctl *c, int argc, char **argv)
{
	const char *name = NULL;
	bool read_only = false;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--read-only"))
			read_only = true;
		else if (!name && argv[i][0] != '-')
			name = argv[i];
		else
			return usage();
	}
	if (!name)
		return usage();
	struct manage_err err;
	enum manage_result r = manage_token_name_check(name, &err);
	if (r != MANAGE_OK)
		return failed(r, &err);
	struct store *s;
	int rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		return rc;
	/* Who made it, as far as this machine knows. */
	char owner[96];
	const struct passwd *pw = getpwuid(geteuid());
	snprintf(owner, sizeof(owner), "local:%s", pw && pw->pw_name ? pw->pw_name : "?");
	char secret[MANAGE_TOKEN_LEN + 1];
	int64_t id = 0;
	r = manage_token_create(s, name, read_only, owner, secret, &id, &err);
	store_close(s);
	if (r != MANAGE_OK)
		return failed(r, &err);
	printf("%s\n", secret);
	fflush(stdout);
	fprintf(stderr, "created token %s (id %lld, %s): it is shown this once, only its hash is stored\n",
		name, (long long)id, read_only ? "read-only" : "read-write");
	OPENSSL_cleanse(secret, sizeof(secret));
	return CTL_OK;
}

static int token_list(struct ctl *c, int argc, char **argv)
{
	bool json = false;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return usage();
	}
	struct store *s;
	int rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		return rc;
	struct arena *a = arena_new();
	struct store_token *t;
	size_t n;
	struct manage_err err;
	enum manage_result r = manage_token_list(s, a, &t, &n, &err);
	if (r != MANAGE_OK) {
		rc = failed(r, &err);
	} else if (json) {
		json_t *list = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(list, json_pack("{s:I, s:s, s:b, s:s, s:I, s:o}", "id",
							      (json_int_t)t[i].id, "name", t[i].name,
							      "read_only", t[i].read_only, "owner", t[i].owner,
							      "created", (json_int_t)t[i].created, "last_used",
							      t[i].last_used > 0 ? json_integer(t[i].last_used)
										 : json_null()));
		json_dumpf(list, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(list);
	} else if (n == 0) {
		fprintf(stderr, "no tokens (parleyctl token create NAME)\n");
	} else {
		printf("%-6s %-20s %-10s %-24s %-24s %s\n", "ID", "NAME", "ACCESS", "CREATED", "LAST USED", "OWNER");
		for (size_t i = 0; i < n; i++) {
			char made[32], used[32];
			printf("%-6lld %-20s %-10s %-24s %-24s %s\n", (long long)t[i].id, t[i].name,
			       t[i].read_only ? "read-only" : "read-write", when_str(t[i].created, made, sizeof(made)),
			       when_str(t[i].last_used, used, sizeof(used)), t[i].owner);
		}
	}
	arena_free(a);
	store_close(s);
	return rc;
}

static int token_revoke(struct ctl *c, int argc, char **argv)
{
	if (argc != 3)
		return usage();
	struct store *s;
	int rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		return rc;
	struct arena *a = arena_new();
	struct store_token t;
	struct manage_err err;
	enum manage_result r = manage_token_revoke(s, a, argv[2], &t, &err);
	if (r != MANAGE_OK)
		rc = failed(r, &err);
	else
		printf("revoked token %s (id %lld): it no longer signs in\n", t.name, (long long)t.id);
	arena_free(a);
	store_close(s);
	return rc;
}

static const struct ctl_subcommand token_subcommands[] = {
	{"create", token_create},
	{"list", token_list},
	{"revoke", token_revoke},
};

int ctl_token(struct ctl *c, int argc, char **argv)
{
	return CTL_SUBCOMMANDS(c, argc, argv, token_subcommands, usage);
}
