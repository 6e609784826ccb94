/*
 * ctl group: named groups of bare JIDs, the data of the server's shared
 * rosters (issue 10).  Members are prepared bare JIDs, of accounts here or
 * of other servers; a change of several members is one transaction, all
 * or nothing.  The server reads groups at login: this file only writes the
 * database, as `user` does.
 *
 * Bulk loading is import.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "ctl/ctl.h"
#include "jid/jid.h"
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

int ctl_group_member(struct arena *a, const char *s, const char **out)
{
	struct jid j;
	if (jid_parse_str(a, s, &j) < 0 || j.resource) {
		ctl_error("'%s' is not a bare JID (like alice@example.org)", s);
		return CTL_USAGE;
	}
	*out = j.bare;
	return CTL_OK;
}

int ctl_group_name(const char *name)
{
	if (!store_group_name_ok(name)) {
		ctl_error("'%s' is not a group name (1 to %d bytes, no control characters)", name,
			  STORE_GROUP_NAME_MAX);
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
	if (ctl_group_name(argv[2]) != CTL_OK)
		return CTL_USAGE;
	return ctl_store_open(c, s);
}

static int group_create(struct ctl *c, int argc, char **argv)
{
	if (argc < 3)
		return usage();
	const char *label = "";
	bool shared = false, members_only = false;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--shared"))
			shared = true;
		else if (!strcmp(argv[i], "--members-only"))
			members_only = true;
		else if (!strcmp(argv[i], "--label") && i + 1 < argc)
			label = argv[++i];
		else
			return usage();
	}
	if (ctl_group_name(argv[2]) != CTL_OK)
		return CTL_USAGE;
	if (!store_group_label_ok(label)) {
		ctl_error("the label is too long (%d bytes at most) or has control characters",
			  STORE_GROUP_LABEL_MAX);
		return CTL_USAGE;
	}
	struct store *s;
	int rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		return rc;
	rc = CTL_FAIL;
	int r = store_group_create(s, argv[2], label, shared, members_only);
	if (r == STORE_EXISTS)
		ctl_error("group %s exists already", argv[2]);
	else if (r != STORE_OK)
		ctl_error("cannot create group %s: %s", argv[2], store_error(s));
	else {
		printf("created group %s%s%s\n", argv[2], shared ? " (shared)" : "",
		       members_only ? " (members only)" : "");
		rc = CTL_OK;
	}
	store_close(s);
	return rc;
}

/* add and remove: every JID is checked before anything is written, and
 * the changes are one transaction. */
static int group_members_change(struct ctl *c, int argc, char **argv, bool add)
{
	if (argc < 4)
		return usage();
	const char *name = argv[2];
	if (ctl_group_name(name) != CTL_OK)
		return CTL_USAGE;
	if (!ctl_config(c))
		return CTL_USAGE;
	struct arena *a = arena_new();
	size_t n = (size_t)argc - 3;
	const char **members = arena_alloc(a, n * sizeof(*members));
	int rc = CTL_OK;
	for (size_t i = 0; i < n; i++)
		if (ctl_group_member(a, argv[3 + i], &members[i]) != CTL_OK)
			rc = CTL_USAGE;
	struct store *s = NULL;
	if (rc == CTL_OK)
		rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		goto out;
	rc = CTL_FAIL;
	struct store_group g;
	int r = store_group_get(s, a, name, &g);
	if (r == STORE_NOT_FOUND) {
		ctl_error("there is no group %s (parleyctl group create %s)", name, name);
		goto out;
	}
	if (r != STORE_OK || store_begin(s) != STORE_OK) {
		ctl_error("cannot change group %s: %s", name, store_error(s));
		goto out;
	}
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		r = add ? store_group_add(s, name, members[i]) : store_group_remove(s, name, members[i]);
		if (r == STORE_EXISTS)
			ctl_error("%s is in %s already", members[i], name);
		else if (r == STORE_NOT_FOUND)
			ctl_error("%s is not in %s", members[i], name);
		else if (r != STORE_OK)
			ctl_error("cannot change group %s: %s", name, store_error(s));
		if (r != STORE_OK)
			bad++;
	}
	if (bad) {
		store_rollback(s);
		ctl_error("nothing changed");
		goto out;
	}
	if (store_commit(s) != STORE_OK) {
		ctl_error("cannot change group %s: %s", name, store_error(s));
		goto out;
	}
	r = store_group_get(s, a, name, &g);
	printf("%s %zu member%s %s %s (%zu now)\n", add ? "added" : "removed", n, n == 1 ? "" : "s",
	       add ? "to" : "from", name, r == STORE_OK ? g.nmembers : 0);
	rc = CTL_OK;
out:
	store_close(s);
	arena_free(a);
	return rc;
}

static int group_delete(struct ctl *c, int argc, char **argv)
{
	struct store *s;
	int rc = group_open(c, argc, argv, &s);
	if (rc != CTL_OK)
		return rc;
	rc = CTL_FAIL;
	int r = store_group_delete(s, argv[2]);
	if (r == STORE_NOT_FOUND)
		ctl_error("there is no group %s", argv[2]);
	else if (r != STORE_OK)
		ctl_error("cannot delete group %s: %s", argv[2], store_error(s));
	else {
		printf("deleted group %s and its memberships\n", argv[2]);
		rc = CTL_OK;
	}
	store_close(s);
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
static int print_group(void *ud, const struct store_group *g)
{
	size_t *count = ud;
	(*count)++;
	printf("%s\t%zu\t%s\t%s\n", g->name, g->nmembers, flags_str(g), g->label);
	return 0;
}

static int group_list(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 2)
		return usage();
	struct store *s;
	int rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		return rc;
	size_t count = 0;
	int r = store_group_list(s, print_group, &count);
	if (r != STORE_OK)
		ctl_error("cannot list groups: %s", store_error(s));
	else if (count == 0)
		fprintf(stderr, "no groups (parleyctl group create NAME)\n");
	store_close(s);
	return r == STORE_OK ? CTL_OK : CTL_FAIL;
}

static int group_show(struct ctl *c, int argc, char **argv)
{
	struct store *s;
	int rc = group_open(c, argc, argv, &s);
	if (rc != CTL_OK)
		return rc;
	rc = CTL_FAIL;
	struct arena *a = arena_new();
	struct store_group g;
	int r = store_group_get(s, a, argv[2], &g);
	if (r == STORE_NOT_FOUND) {
		ctl_error("there is no group %s", argv[2]);
		goto out;
	}
	if (r == STORE_OK) {
		printf("group:        %s\nlabel:        %s\nshared:       %s\nmembers-only: %s\n"
		       "members:      %zu\n",
		       g.name, g.label, g.shared ? "yes" : "no", g.members_only ? "yes" : "no",
		       g.nmembers);
		r = store_group_members(s, argv[2], ctl_print_line, (void *)"  ");
	}
	if (r != STORE_OK)
		ctl_error("cannot read group %s: %s", argv[2], store_error(s));
	else
		rc = CTL_OK;
out:
	arena_free(a);
	store_close(s);
	return rc;
}

int ctl_group(struct ctl *c, int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *sub = argv[1];
	if (!strcmp(sub, "create"))
		return group_create(c, argc, argv);
	if (!strcmp(sub, "add"))
		return group_members_change(c, argc, argv, true);
	if (!strcmp(sub, "remove"))
		return group_members_change(c, argc, argv, false);
	if (!strcmp(sub, "delete"))
		return group_delete(c, argc, argv);
	if (!strcmp(sub, "list"))
		return group_list(c, argc, argv);
	if (!strcmp(sub, "show"))
		return group_show(c, argc, argv);
	return usage();
}
