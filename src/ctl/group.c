/*
 * ctl group: named groups of bare JIDs, the data of the server's shared
 * rosters (issue 10), over manage/ (which checks names, labels and
 * members, and makes a change of several members one transaction).  After
 * each change this file tells a running server (ctl_group_changed).
 *
 * Bulk loading is import.c's.
 */
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "ctl/ctl.h"
#include "manage/manage.h"
#include "store/store.h"

static int usage(void)
{
	fprintf(stderr, "usage: parleyctl [-c FILE] group create NAME [--label TEXT] [--shared] [--members-only]\n"
			"       parleyctl [-c FILE] group add NAME JID...\n"
			"       parleyctl [-c FILE] group remove NAME JID...\n"
			"       parleyctl [-c FILE] group delete NAME\n"
			"       parleyctl [-c FILE] group list\n"
			"       parleyctl [-c FILE] group show NAME\n");
	return CTL_USAGE;
}

/* CTL_OK when `name` is a group name, else CTL_USAGE after saying why. */
static int group_name(const char *name)
{
	struct manage_err err;
	if (manage_group_name_check(name, &err) != MANAGE_OK) {
		ctl_error("%s", err.msg);
		return CTL_USAGE;
	}
	return CTL_OK;
}

/* What delete and show check first: `group VERB NAME`, then the database. */
static int group_open(struct ctl *c, int argc, char **argv, struct store **s)
{
	*s = NULL;
	if (argc != 3)
		return usage();
	if (group_name(argv[2]) != CTL_OK)
		return CTL_USAGE;
	return ctl_store_open(c, s);
}

static int group_create(struct ctl *c, int argc, char **argv)
{
	if (argc < 3)
		return usage();
	struct manage_group_spec g = {.name = argv[2], .label = ""};
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--shared"))
			g.shared = true;
		else if (!strcmp(argv[i], "--members-only"))
			g.members_only = true;
		else if (!strcmp(argv[i], "--label") && i + 1 < argc)
			g.label = argv[++i];
		else
			return usage();
	}
	struct manage_err err;
	if (group_name(g.name) != CTL_OK)
		return CTL_USAGE;
	if (manage_group_label_check(g.label, &err) != MANAGE_OK) {
		ctl_error("%s", err.msg);
		return CTL_USAGE;
	}
	struct store *s;
	int rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		return rc;
	rc = CTL_FAIL;
	if (manage_group_create(s, &g, &err) != MANAGE_OK) {
		ctl_error("%s", err.msg);
	} else {
		printf("created group %s%s%s\n", g.name, g.shared ? " (shared)" : "",
		       g.members_only ? " (members only)" : "");
		rc = CTL_OK;
	}
	store_close(s);
	if (rc == CTL_OK)
		ctl_group_changed(c, g.name);
	return rc;
}

/* add and remove: every JID is checked before anything is written, and
 * the changes are one transaction. */
static int group_members_change(struct ctl *c, int argc, char **argv, bool add)
{
	if (argc < 4)
		return usage();
	const char *name = argv[2];
	if (group_name(name) != CTL_OK)
		return CTL_USAGE;
	struct store *s = NULL;
	int rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		return rc;
	struct arena *a = arena_new();
	size_t n = (size_t)argc - 3, now = 0;
	struct manage_member_change *each;
	struct manage_err err;
	enum manage_result r = manage_group_change(s, a, name, add, (const char *const *)argv + 3, n, &each,
						   &now, &err);
	bool per_member = false;
	for (size_t i = 0; i < n; i++)
		if (each[i].why) {
			ctl_error("%s", each[i].why);
			per_member = true;
		}
	if (r == MANAGE_OK) {
		printf("%s %zu member%s %s %s (%zu now)\n", add ? "added" : "removed", n, n == 1 ? "" : "s",
		       add ? "to" : "from", name, now);
	} else if (r == MANAGE_INVALID && per_member) {
		rc = CTL_USAGE;
	} else if (per_member) {
		ctl_error("nothing changed");
	} else if (r == MANAGE_NOT_FOUND) {
		ctl_error("%s (parleyctl group create %s)", err.msg, name);
	} else {
		ctl_error("%s", err.msg);
	}
	if (r != MANAGE_OK && rc == CTL_OK)
		rc = CTL_FAIL;
	arena_free(a);
	store_close(s);
	if (rc == CTL_OK)
		ctl_group_changed(c, name);
	return rc;
}

static int group_delete(struct ctl *c, int argc, char **argv)
{
	struct store *s;
	int rc = group_open(c, argc, argv, &s);
	if (rc != CTL_OK)
		return rc;
	struct manage_err err;
	rc = CTL_FAIL;
	if (manage_group_delete(s, argv[2], &err) != MANAGE_OK) {
		ctl_error("%s", err.msg);
	} else {
		printf("deleted group %s and its memberships\n", argv[2]);
		rc = CTL_OK;
	}
	store_close(s);
	if (rc == CTL_OK)
		ctl_group_changed(c, argv[2]);
	return rc;
}

static const char *flags_str(const struct store_group *g)
{
	if (g->shared && g->members_only)
		return "shared,members-only";
	if (g->shared)
		return "shared";
	return g->members_only ? "members-only" : "-";
}

/* One line per group, tab-separated for scripts: name, members, flags,
 * label. */
static int group_list(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 2)
		return usage();
	struct store *s;
	int rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		return rc;
	struct arena *a = arena_new();
	struct store_group *g;
	size_t n;
	struct manage_err err;
	if (manage_group_list(s, a, NULL, &g, &n, NULL, &err) != MANAGE_OK) {
		ctl_error("%s", err.msg);
		rc = CTL_FAIL;
	} else if (n == 0) {
		fprintf(stderr, "no groups (parleyctl group create NAME)\n");
	}
	for (size_t i = 0; i < n; i++)
		printf("%s\t%zu\t%s\t%s\n", g[i].name, g[i].nmembers, flags_str(&g[i]), g[i].label);
	arena_free(a);
	store_close(s);
	return rc;
}

static int group_show(struct ctl *c, int argc, char **argv)
{
	struct store *s;
	int rc = group_open(c, argc, argv, &s);
	if (rc != CTL_OK)
		return rc;
	struct arena *a = arena_new();
	struct store_group g;
	struct manage_err err;
	const char **members;
	size_t n;
	rc = CTL_FAIL;
	if (manage_group_get(s, a, argv[2], &g, &err) != MANAGE_OK)
		goto fail;
	printf("group:        %s\nlabel:        %s\nshared:       %s\nmembers-only: %s\n"
	       "members:      %zu\n",
	       g.name, g.label, g.shared ? "yes" : "no", g.members_only ? "yes" : "no", g.nmembers);
	if (manage_group_members(s, a, argv[2], NULL, &members, &n, NULL, &err) != MANAGE_OK)
		goto fail;
	for (size_t i = 0; i < n; i++)
		printf("  %s\n", members[i]);
	rc = CTL_OK;
	goto out;
fail:
	ctl_error("%s", err.msg);
out:
	arena_free(a);
	store_close(s);
	return rc;
}

static int group_add(struct ctl *c, int argc, char **argv)
{
	return group_members_change(c, argc, argv, true);
}

static int group_remove(struct ctl *c, int argc, char **argv)
{
	return group_members_change(c, argc, argv, false);
}

static const struct ctl_subcommand group_subcommands[] = {
	{"create", group_create}, {"add", group_add},   {"remove", group_remove},
	{"delete", group_delete}, {"list", group_list}, {"show", group_show},
};

int ctl_group(struct ctl *c, int argc, char **argv)
{
	return CTL_SUBCOMMANDS(c, argc, argv, group_subcommands, usage);
}
