/*
 * routes: every route of the admin API, /metrics and the web page, with
 * the permission each needs (docs/admin-api.md is this table in prose;
 * GET /api/routes serves it as data).  Reading changes nothing, so a
 * read-only token may GET; everything that changes state needs an
 * administrator.  Login and the page itself are public.
 */
#include "adminapi/internal.h"

#define GET HTTP_M_GET
#define POST HTTP_M_POST
#define PUT HTTP_M_PUT
#define DELETE HTTP_M_DELETE
#define PUBLIC ROUTE_PERM_PUBLIC
#define READ ROUTE_PERM_READ
#define ADMIN ROUTE_PERM_ADMIN

static const struct http_route routes[] = {
	/* Signing in and out (login.c) */
	{.methods = POST, .path = "/api/login", .perm = PUBLIC, .handler = aa_login},
	{.methods = POST, .path = "/api/logout", .perm = READ, .handler = aa_logout},
	{.methods = GET, .path = "/api/routes", .perm = READ, .handler = aa_routes},
	/* Accounts and their pins (users.c) */
	{.methods = GET, .path = "/api/users", .perm = READ, .handler = aa_users_list},
	{.methods = POST, .path = "/api/users", .perm = ADMIN, .handler = aa_user_create},
	{.methods = DELETE, .path = "/api/users/*", .perm = ADMIN, .handler = aa_user_delete},
	{.methods = PUT, .path = "/api/users/*/password", .perm = ADMIN, .handler = aa_user_password},
	{.methods = GET, .path = "/api/users/*/certs", .perm = READ, .handler = aa_user_certs},
	{.methods = POST, .path = "/api/users/*/certs", .perm = ADMIN, .handler = aa_user_cert_add},
	{.methods = DELETE, .path = "/api/users/*/certs/*", .perm = ADMIN, .handler = aa_user_cert_remove},
	/* Groups (groups.c) */
	{.methods = GET, .path = "/api/groups", .perm = READ, .handler = aa_groups_list},
	{.methods = POST, .path = "/api/groups", .perm = ADMIN, .handler = aa_group_create},
	{.methods = GET, .path = "/api/groups/*", .perm = READ, .handler = aa_group_get},
	{.methods = DELETE, .path = "/api/groups/*", .perm = ADMIN, .handler = aa_group_delete},
	{.methods = POST, .path = "/api/groups/*/members", .perm = ADMIN, .handler = aa_group_members_add},
	{.methods = DELETE, .path = "/api/groups/*/members/*", .perm = ADMIN, .handler = aa_group_member_remove},
	/* Trust stores (trust.c) */
	{.methods = GET, .path = "/api/trust", .perm = READ, .handler = aa_trust_list},
	{.methods = POST, .path = "/api/trust", .perm = ADMIN, .handler = aa_trust_add},
	{.methods = DELETE, .path = "/api/trust/*", .perm = ADMIN, .handler = aa_trust_remove},
	/* What the workers hold (live.c) */
	{.methods = GET, .path = "/api/sessions", .perm = READ, .handler = aa_sessions_list},
	{.methods = DELETE, .path = "/api/sessions/*", .perm = ADMIN, .handler = aa_session_kick},
	{.methods = GET, .path = "/api/s2s/links", .perm = READ, .handler = aa_s2s_links},
	{.methods = DELETE, .path = "/api/s2s/links/*", .perm = ADMIN, .handler = aa_s2s_close},
	{.methods = GET, .path = "/api/s2s/reports/*", .perm = READ, .handler = aa_s2s_report},
	{.methods = GET, .path = "/api/s2s/policy", .perm = READ, .handler = aa_s2s_policy},
	{.methods = GET, .path = "/metrics", .perm = READ, .handler = aa_metrics},
	/* The web page (page.c) */
	{.methods = GET, .path = "/admin", .perm = PUBLIC, .handler = aa_page_redirect},
	{.methods = GET, .path = "/admin/", .perm = PUBLIC, .handler = aa_page_asset},
	{.methods = GET, .path = "/admin/admin.js", .perm = PUBLIC, .handler = aa_page_asset},
	{.methods = GET, .path = "/admin/admin.css", .perm = PUBLIC, .handler = aa_page_asset},
};

const struct http_route_table adminapi_table = HTTP_ROUTE_TABLE("adminapi", routes);
