/*
 * groups: shared groups (/api/groups...), over manage/, on the worker's
 * store handle.  After every change the server applies the group as
 * stored now to the accounts online (op group.refresh, as parleyctl
 * group does), and the answer comes once that is done, saying how many
 * accounts online it reached ("applied_to").
 */
#include "adminapi/internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"
#include "router/shard.h"
#include "store/store.h"

enum {
	GROUPS_PAGE_MAX = 10000,
	MEMBERS_PAGE_MAX = 100000,
	MEMBERS_PER_CHANGE = 10000,
};

static struct store *store_of(struct http_request *req)
{
	return aa_shard(req)->store;
}

static const char *who(struct http_request *req)
{
	return http_request_auth(req)->who;
}

static json_t *group_json(const struct store_group *g)
{
	return json_pack("{s:s, s:s, s:b, s:b, s:I}", "name", g->name, "label", g->label ? g->label : "", "shared",
			 g->shared, "members_only", g->members_only, "members", (json_int_t)g->nmembers);
}

/* The route's first parameter as a group name (in `out`); false after
 * answering. */
static bool group_param(struct http_request *req, struct buf *out)
{
	if (!aa_param(req, 0, out))
		return false;
	struct manage_err err;
	enum manage_result r = manage_group_name_check(buf_cstr(out), &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		return false;
	}
	return true;
}

/* After group.refresh: ctx is {"status":N,"body":{...}}. */
static void refreshed(struct http_request *req, json_t *result, json_t *ctx)
{
	json_t *body = json_incref(json_object_get(ctx, "body"));
	json_object_set_new(body, "applied_to", json_integer(json_integer_value(json_object_get(result, "accounts"))));
	aa_respond(req, (int)json_integer_value(json_object_get(ctx, "status")), body);
}

static void refresh_then_answer(struct http_request *req, const char *group, int status, json_t *body)
{
	aa_op(req, json_pack("{s:s, s:s}", "op", "group.refresh", "group", group), refreshed,
	      json_pack("{s:i, s:o}", "status", status, "body", body));
}

/* ---- GET /api/groups, GET /api/groups/G ---- */

void aa_groups_list(struct http_request *req)
{
	struct manage_page page;
	struct buf search = BUF_INIT;
	struct arena *a = arena_new();
	if (!aa_page(req, &page, &search, 0, GROUPS_PAGE_MAX))
		goto out;
	struct store_group *groups;
	size_t n, total;
	struct manage_err err;
	enum manage_result r = manage_group_list(store_of(req), a, &page, &groups, &n, &total, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, group_json(&groups[i]));
	aa_respond(req, 200, json_pack("{s:o, s:I}", "groups", list, "total", (json_int_t)total));
out:
	buf_clear(&search);
	arena_free(a);
}

void aa_group_get(struct http_request *req)
{
	struct buf name = BUF_INIT, search = BUF_INIT;
	struct arena *a = arena_new();
	struct manage_page page;
	if (!group_param(req, &name) || !aa_page(req, &page, &search, 0, MEMBERS_PAGE_MAX))
		goto out;
	struct store_group g;
	const char **members;
	size_t n, total;
	struct manage_err err;
	enum manage_result r = manage_group_get(store_of(req), a, buf_cstr(&name), &g, &err);
	if (r == MANAGE_OK)
		r = manage_group_members(store_of(req), a, buf_cstr(&name), &page, &members, &n, &total, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	json_t *body = group_json(&g);
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_string(members[i]));
	json_object_set_new(body, "member_list", list);
	json_object_set_new(body, "member_total", json_integer((json_int_t)total));
	aa_respond(req, 200, body);
out:
	buf_clear(&name);
	buf_clear(&search);
	arena_free(a);
}

/* ---- POST /api/groups, DELETE /api/groups/G ---- */

/* A boolean member of `body`, false when absent; false after answering
 * 400 (*bad) when it is no boolean. */
static bool body_bool(struct http_request *req, const json_t *body, const char *key, bool *bad)
{
	const json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		return false;
	if (!json_is_boolean(v)) {
		char text[100];
		snprintf(text, sizeof(text), "\"%s\" must be true or false", key);
		http_respond_json_error(req, 400, text);
		*bad = true;
		return false;
	}
	return json_is_true(v);
}

void aa_group_create(struct http_request *req)
{
	json_t *body = aa_body(req);
	if (!body)
		return;
	bool bad = false;
	struct manage_group_spec g = {0};
	g.name = aa_body_string(req, body, "name", &bad);
	if (!bad)
		g.label = aa_body_string(req, body, "label", &bad);
	if (!bad)
		g.shared = body_bool(req, body, "shared", &bad);
	if (!bad)
		g.members_only = body_bool(req, body, "members_only", &bad);
	if (bad)
		goto out;
	if (!g.name) {
		http_respond_json_error(req, 400, "a group is {\"name\":G,\"label\":L,\"shared\":B,\"members_only\":B}");
		goto out;
	}
	struct manage_err err;
	enum manage_result r = manage_group_name_check(g.name, &err);
	if (r == MANAGE_OK)
		r = manage_group_label_check(g.label, &err);
	if (r == MANAGE_OK)
		r = manage_group_create(store_of(req), &g, &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	log_info("adminapi", "%s: %s created the group %s%s%s", http_request_peer(req), who(req), g.name,
		 g.shared ? " (shared)" : "", g.members_only ? " (members only)" : "");
	refresh_then_answer(req, g.name, 201, json_pack("{s:s}", "name", g.name));
out:
	json_decref(body);
}

void aa_group_delete(struct http_request *req)
{
	struct buf name = BUF_INIT;
	if (!group_param(req, &name))
		goto out;
	struct manage_err err;
	enum manage_result r = manage_group_delete(store_of(req), buf_cstr(&name), &err);
	if (r != MANAGE_OK) {
		aa_fail(req, r, &err);
		goto out;
	}
	log_info("adminapi", "%s: %s deleted the group %s", http_request_peer(req), who(req), buf_cstr(&name));
	refresh_then_answer(req, buf_cstr(&name), 200, json_object());
out:
	buf_clear(&name);
}

/* ---- members ---- */

/* Adds or removes members, all or nothing (manage_group_change); a
 * refusal names each member refused. */
static void change(struct http_request *req, const char *group, bool add, const char *const *jids, size_t n)
{
	struct arena *a = arena_new();
	struct manage_member_change *each = NULL;
	size_t now = 0;
	struct manage_err err;
	enum manage_result r = manage_group_change(store_of(req), a, group, add, jids, n, &each, &now, &err);
	if (r != MANAGE_OK) {
		json_t *refused = json_array();
		for (size_t i = 0; each && i < n; i++)
			if (each[i].why)
				json_array_append_new(refused, json_pack("{s:s, s:s}", "jid", each[i].member, "why",
									 each[i].why));
		aa_respond(req, aa_status_of(r),
			   json_pack("{s:s, s:o}", "error", err.msg[0] ? err.msg : manage_result_name(r), "refused",
				     refused));
		goto out;
	}
	log_info("adminapi", "%s: %s %s %zu member%s %s the group %s (%zu now)", http_request_peer(req), who(req),
		 add ? "added" : "removed", n, n == 1 ? "" : "s", add ? "to" : "from", group, now);
	refresh_then_answer(req, group, 200, json_pack("{s:I}", "members", (json_int_t)now));
out:
	arena_free(a);
}

void aa_group_members_add(struct http_request *req)
{
	struct buf name = BUF_INIT;
	const char **jids = NULL;
	json_t *body = aa_body(req);
	if (!body)
		return;
	if (!group_param(req, &name))
		goto out;
	const json_t *list = json_object_get(body, "jids");
	size_t n = json_array_size(list);
	if (!json_is_array(list) || n == 0 || n > MEMBERS_PER_CHANGE) {
		char text[120];
		snprintf(text, sizeof(text), "members are {\"jids\":[J,...]}, 1 to %d of them", MEMBERS_PER_CHANGE);
		http_respond_json_error(req, 400, text);
		goto out;
	}
	jids = xcalloc(n, sizeof(*jids));
	for (size_t i = 0; i < n; i++) {
		const json_t *j = json_array_get(list, i);
		jids[i] = json_string_value(j);
		if (!jids[i] || strlen(jids[i]) != json_string_length(j)) {
			http_respond_json_error(req, 400, "every member in \"jids\" is a JID string");
			goto out;
		}
	}
	change(req, buf_cstr(&name), true, jids, n);
out:
	free(jids);
	buf_clear(&name);
	json_decref(body);
}

void aa_group_member_remove(struct http_request *req)
{
	struct buf name = BUF_INIT, member = BUF_INIT;
	if (group_param(req, &name) && aa_param(req, 1, &member)) {
		const char *jids[1] = {buf_cstr(&member)};
		change(req, buf_cstr(&name), false, jids, 1);
	}
	buf_clear(&name);
	buf_clear(&member);
}
