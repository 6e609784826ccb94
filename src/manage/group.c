/*
 * manage group: named groups of bare JIDs, the data of the server's
 * shared rosters (issue 10).  Members are prepared bare JIDs, of accounts
 * here or of other servers; a change of several members is one
 * transaction, all or nothing.
 *
 * Not here: telling a running server that a group changed (the front
 * end's, after MANAGE_OK: parleyctl asks over the control socket).
 */
#include "manage/internal.h"

#include <string.h>

#include "core/arena.h"
#include "jid/jid.h"

enum manage_result manage_group_name_check(const char *name, struct manage_err *err)
{
	if (!store_group_name_ok(name))
		return manage_fail(err, MANAGE_INVALID,
				   "'%s' is not a group name (1 to %d bytes, no control characters)",
				   name ? name : "", STORE_GROUP_NAME_MAX);
	return MANAGE_OK;
}

enum manage_result manage_group_label_check(const char *label, struct manage_err *err)
{
	if (!store_group_label_ok(label))
		return manage_fail(err, MANAGE_INVALID,
				   "the label is too long (%d bytes at most) or has control characters",
				   STORE_GROUP_LABEL_MAX);
	return MANAGE_OK;
}

enum manage_result manage_group_member_jid(struct arena *a, const char *jid, const char **bare,
					   struct manage_err *err)
{
	struct jid j;
	if (!jid || jid_parse_str(a, jid, &j) < 0 || j.resource)
		return manage_fail(err, MANAGE_INVALID, "'%s' is not a bare JID (like alice@example.org)",
				   jid ? jid : "");
	*bare = j.bare;
	return MANAGE_OK;
}

enum manage_result manage_group_create(struct store *s, const struct manage_group_spec *g,
				       struct manage_err *err)
{
	enum manage_result r = manage_group_name_check(g->name, err);
	if (r == MANAGE_OK)
		r = manage_group_label_check(g->label, err);
	if (r != MANAGE_OK)
		return r;
	int sr = store_group_create(s, g->name, g->label ? g->label : "", g->shared, g->members_only);
	if (sr == STORE_EXISTS)
		return manage_fail(err, MANAGE_EXISTS, "group %s exists already", g->name);
	if (sr != STORE_OK)
		return manage_fail(err, MANAGE_ERROR, "cannot create group %s: %s", g->name, store_error(s));
	return MANAGE_OK;
}

enum manage_result manage_group_delete(struct store *s, const char *name, struct manage_err *err)
{
	enum manage_result r = manage_group_name_check(name, err);
	if (r != MANAGE_OK)
		return r;
	int sr = store_group_delete(s, name);
	if (sr == STORE_NOT_FOUND)
		return manage_fail(err, MANAGE_NOT_FOUND, "there is no group %s", name);
	if (sr != STORE_OK)
		return manage_fail(err, MANAGE_ERROR, "cannot delete group %s: %s", name, store_error(s));
	return MANAGE_OK;
}

enum manage_result manage_group_get(struct store *s, struct arena *a, const char *name,
				    struct store_group *out, struct manage_err *err)
{
	enum manage_result r = manage_group_name_check(name, err);
	if (r != MANAGE_OK)
		return r;
	int sr = store_group_get(s, a, name, out);
	if (sr == STORE_NOT_FOUND)
		return manage_fail(err, MANAGE_NOT_FOUND, "there is no group %s", name);
	if (sr != STORE_OK)
		return manage_fail(err, MANAGE_ERROR, "cannot read group %s: %s", name, store_error(s));
	return MANAGE_OK;
}

/* ---- Listings ---- */

struct group_page {
	struct manage_pager pager;
	struct arena *a;
	struct manage_vec items;
};

static int group_page_add(void *ud, const struct store_group *g)
{
	struct group_page *p = ud;
	if (manage_pager_match(&p->pager, g->name) && manage_pager_take(&p->pager)) {
		struct store_group *c = manage_vec_push(&p->items, p->a, sizeof(*c));
		*c = *g;
		c->name = arena_strdup(p->a, g->name);
		c->label = arena_strdup(p->a, g->label ? g->label : "");
	}
	return 0;
}

enum manage_result manage_group_list(struct store *s, struct arena *a,
				     const struct manage_page *page, struct store_group **items,
				     size_t *n, size_t *total, struct manage_err *err)
{
	struct group_page p = {.a = a};
	manage_pager_init(&p.pager, page);
	*items = NULL;
	*n = 0;
	if (total)
		*total = 0;
	if (store_group_list(s, group_page_add, &p) != STORE_OK)
		return manage_fail(err, MANAGE_ERROR, "cannot list groups: %s", store_error(s));
	*items = p.items.n ? p.items.v : NULL;
	*n = p.items.n;
	if (total)
		*total = p.pager.matched;
	return MANAGE_OK;
}

static int member_page_add(void *ud, const char *member)
{
	struct group_page *p = ud;
	if (manage_pager_match(&p->pager, member) && manage_pager_take(&p->pager))
		*(const char **)manage_vec_push(&p->items, p->a, sizeof(const char *)) =
			arena_strdup(p->a, member);
	return 0;
}

enum manage_result manage_group_members(struct store *s, struct arena *a, const char *name,
					const struct manage_page *page, const char ***items,
					size_t *n, size_t *total, struct manage_err *err)
{
	struct group_page p = {.a = a};
	manage_pager_init(&p.pager, page);
	*items = NULL;
	*n = 0;
	if (total)
		*total = 0;
	enum manage_result r = manage_group_name_check(name, err);
	if (r != MANAGE_OK)
		return r;
	int sr = store_group_members(s, name, member_page_add, &p);
	if (sr == STORE_NOT_FOUND)
		return manage_fail(err, MANAGE_NOT_FOUND, "there is no group %s", name);
	if (sr != STORE_OK)
		return manage_fail(err, MANAGE_ERROR, "cannot read group %s: %s", name, store_error(s));
	*items = p.items.n ? p.items.v : NULL;
	*n = p.items.n;
	if (total)
		*total = p.pager.matched;
	return MANAGE_OK;
}

/* ---- Members ---- */

/* One change of a prepared member; the sentences say which member. */
static enum manage_result member_change(struct store *s, struct arena *a, const char *name,
					const char *member, bool add, struct manage_err *err)
{
	int sr = add ? store_group_add(s, name, member) : store_group_remove(s, name, member);
	if (sr == STORE_OK)
		return MANAGE_OK;
	if (sr == STORE_EXISTS)
		return manage_fail(err, MANAGE_EXISTS, "%s is in %s already", member, name);
	if (sr == STORE_NOT_FOUND) {
		/* The group, or (removing) the membership. */
		struct store_group g;
		int gr = add ? STORE_NOT_FOUND : store_group_get(s, a, name, &g);
		if (gr == STORE_NOT_FOUND)
			return manage_fail(err, MANAGE_NOT_FOUND, "there is no group %s", name);
		if (gr == STORE_OK)
			return manage_fail(err, MANAGE_NOT_FOUND, "%s is not in %s", member, name);
	}
	return manage_fail(err, MANAGE_ERROR, "cannot change group %s: %s", name, store_error(s));
}

static enum manage_result member_one(struct store *s, const char *name, const char *member,
				     bool add, struct manage_err *err)
{
	struct arena *a = arena_new();
	const char *bare;
	enum manage_result r = manage_group_name_check(name, err);
	if (r == MANAGE_OK)
		r = manage_group_member_jid(a, member, &bare, err);
	if (r == MANAGE_OK)
		r = member_change(s, a, name, bare, add, err);
	arena_free(a);
	return r;
}

enum manage_result manage_group_add(struct store *s, const char *name, const char *member,
				    struct manage_err *err)
{
	return member_one(s, name, member, true, err);
}

enum manage_result manage_group_remove(struct store *s, const char *name, const char *member,
				       struct manage_err *err)
{
	return member_one(s, name, member, false, err);
}

enum manage_result manage_group_change(struct store *s, struct arena *a, const char *name, bool add,
				       const char *const *members, size_t n,
				       struct manage_member_change **each, size_t *now,
				       struct manage_err *err)
{
	struct manage_member_change *c = arena_zalloc(a, (n + 1) * sizeof(*c));
	struct manage_err why;
	enum manage_result first = MANAGE_OK;
	if (each)
		*each = c;
	if (now)
		*now = 0;
	enum manage_result r = manage_group_name_check(name, err);
	if (r != MANAGE_OK)
		return r;
	if (n == 0)
		return manage_fail(err, MANAGE_INVALID, "no member given");
	/* Every JID before anything is opened. */
	for (size_t i = 0; i < n; i++) {
		c[i].result = manage_group_member_jid(a, members[i], &c[i].member, &why);
		if (c[i].result != MANAGE_OK) {
			c[i].member = members[i] ? arena_strdup(a, members[i]) : "";
			c[i].why = arena_strdup(a, why.msg);
			if (first == MANAGE_OK)
				first = c[i].result;
		}
	}
	if (first != MANAGE_OK)
		return manage_fail(err, first, "nothing changed: a member is not a bare JID");
	struct store_group g;
	r = manage_group_get(s, a, name, &g, err);
	if (r != MANAGE_OK)
		return r;
	if (store_begin(s) != STORE_OK)
		return manage_fail(err, MANAGE_ERROR, "cannot change group %s: %s", name, store_error(s));
	for (size_t i = 0; i < n; i++) {
		c[i].result = member_change(s, a, name, c[i].member, add, &why);
		if (c[i].result != MANAGE_OK) {
			c[i].why = arena_strdup(a, why.msg);
			if (first == MANAGE_OK)
				first = c[i].result;
		}
	}
	if (first != MANAGE_OK) {
		store_rollback(s);
		return manage_fail(err, first, "nothing changed");
	}
	if (store_commit(s) != STORE_OK)
		return manage_fail(err, MANAGE_ERROR, "cannot change group %s: %s", name, store_error(s));
	if (now && store_group_get(s, a, name, &g) == STORE_OK)
		*now = g.nmembers;
	return MANAGE_OK;
}
