/* Unit tests of http/router.c: the start-up check of route tables (a row
 * without a permission stops the server), and the lookup that picks a
 * request's route (most specific pattern first, then the method: never a
 * fall-back to a broader pattern with another permission). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "http/internal.h"

static void h_a(struct http_request *req)
{
	(void)req;
}

static void h_b(struct http_request *req)
{
	(void)req;
}

static void has(const char *text, const char *needle)
{
	if (!text || !strstr(text, needle))
		fail_msg("'%s' does not contain '%s'", text ? text : "(null)", needle);
}

/* The message of a check that must fail, freed by the caller. */
static char *check_fails(const struct http_route_table *const *tables)
{
	char *err = NULL;
	assert_int_equal(http_routes_check(tables, &err), -1);
	assert_non_null(err);
	return err;
}

static void unset_permission_is_refused(void **state)
{
	(void)state;
	/* The field left out, as a forgetful table would. */
	static const struct http_route rows[] = {
		{.methods = HTTP_M_GET, .path = "/healthz", .perm = ROUTE_PERM_PUBLIC, .handler = h_a},
		{.methods = HTTP_M_POST, .path = "/api/users", .handler = h_b},
	};
	static const struct http_route_table t = HTTP_ROUTE_TABLE("admin", rows);
	const struct http_route_table *const tables[] = {&t, NULL};
	char *err = check_fails(tables);
	has(err, "routes 'admin', row 2 (POST /api/users)");
	has(err, "ROUTE_PERM_UNSET");
	free(err);
}

static void bad_rows_are_refused(void **state)
{
	(void)state;
	struct {
		struct http_route row;
		const char *why;
	} cases[] = {
		{{.methods = HTTP_M_GET, .path = "/x", .perm = ROUTE_PERM_COUNT, .handler = h_a}, "unknown permission"},
		{{.methods = HTTP_M_GET, .path = "/x", .perm = (enum http_perm)77, .handler = h_a}, "unknown permission"},
		{{.methods = 0, .path = "/x", .perm = ROUTE_PERM_READ, .handler = h_a}, "no methods"},
		{{.methods = 1u << 12, .path = "/x", .perm = ROUTE_PERM_READ, .handler = h_a}, "no methods"},
		{{.methods = HTTP_M_GET, .path = "/x", .perm = ROUTE_PERM_READ}, "no handler"},
		{{.methods = HTTP_M_GET, .path = "/x", .perm = ROUTE_PERM_READ, .handler = h_a, .flags = 8}, "flags"},
		{{.methods = HTTP_M_GET, .path = "/Admin", .perm = ROUTE_PERM_ADMIN, .handler = h_a}, "lower case"},
		{{.methods = HTTP_M_GET, .path = "/a/../b", .perm = ROUTE_PERM_ADMIN, .handler = h_a}, "'..'"},
		{{.methods = HTTP_M_GET, .path = "/a;b", .perm = ROUTE_PERM_ADMIN, .handler = h_a}, "character"},
		{{.methods = HTTP_M_GET, .path = "//a", .perm = ROUTE_PERM_ADMIN, .handler = h_a}, "empty segment"},
		{{.methods = HTTP_M_GET, .path = NULL, .perm = ROUTE_PERM_ADMIN, .handler = h_a}, "missing"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct http_route_table t = {"t", &cases[i].row, 1, HTTP_LISTENER_ADMIN};
		const struct http_route_table *const tables[] = {&t, NULL};
		char *err = check_fails(tables);
		has(err, cases[i].why);
		free(err);
	}
}

static void duplicates_are_refused(void **state)
{
	(void)state;
	static const struct http_route a[] = {
		{.methods = HTTP_M_GET, .path = "/api/users", .perm = ROUTE_PERM_READ, .handler = h_a},
		{.methods = HTTP_M_POST, .path = "/api/users", .perm = ROUTE_PERM_ADMIN, .handler = h_b},
	};
	/* HEAD is served wherever GET is: a HEAD row of its own collides. */
	static const struct http_route b[] = {
		{.methods = HTTP_M_HEAD, .path = "/api/users", .perm = ROUTE_PERM_PUBLIC, .handler = h_a},
	};
	static const struct http_route c[] = {
		{.methods = HTTP_M_DELETE | HTTP_M_POST, .path = "/api/users", .perm = ROUTE_PERM_ADMIN, .handler = h_a},
	};
	static const struct http_route_table ta = HTTP_ROUTE_TABLE("a", a);
	static const struct http_route_table tb = HTTP_ROUTE_TABLE("b", b);
	static const struct http_route_table tc = HTTP_ROUTE_TABLE("c", c);
	const struct http_route_table *const ok[] = {&ta, NULL};
	char *err = NULL;
	assert_int_equal(http_routes_check(ok, &err), 0);
	assert_null(err);
	const struct http_route_table *const head[] = {&ta, &tb, NULL};
	err = check_fails(head);
	has(err, "routes 'b', row 1");
	has(err, "same path and method as routes 'a', row 1");
	free(err);
	const struct http_route_table *const post[] = {&ta, &tc, NULL};
	err = check_fails(post);
	has(err, "routes 'a', row 2");
	free(err);
}

/* A table says which listeners serve it; the same path may be served
 * twice only on different listeners. */
static void listeners_are_checked(void **state)
{
	(void)state;
	static const struct http_route a[] = {
		{.methods = HTTP_M_GET, .path = "/x", .perm = ROUTE_PERM_PUBLIC, .handler = h_a},
	};
	const struct http_route_table none = {"none", a, 1, 0};
	const struct http_route_table odd = {"odd", a, 1, 1u << 5};
	const struct http_route_table *const t1[] = {&none, NULL};
	char *err = check_fails(t1);
	has(err, "routes 'none': no listener");
	free(err);
	const struct http_route_table *const t2[] = {&odd, NULL};
	err = check_fails(t2);
	has(err, "routes 'odd': listener bits");
	free(err);
	static const struct http_route_table admin = HTTP_ROUTE_TABLE("admin", a);
	static const struct http_route_table web = HTTP_ROUTE_TABLE_ON("web", a, HTTP_LISTENER_WEB);
	static const struct http_route_table both = HTTP_ROUTE_TABLE_ON("both", a, HTTP_LISTENER_ALL);
	assert_int_equal(admin.listeners, HTTP_LISTENER_ADMIN);
	const struct http_route_table *const apart[] = {&admin, &web, NULL};
	assert_int_equal(http_routes_check(apart, &err), 0);
	const struct http_route_table *const clash[] = {&web, &both, NULL};
	err = check_fails(clash);
	has(err, "same path and method as routes 'web', row 1");
	free(err);
}

static const char *configured(const struct config *cfg)
{
	(void)cfg;
	return "/configured";
}

/* A path from the configuration is checked when it is known (the
 * service's setup): before, the row passes and matches nothing. */
static void configured_paths_wait(void **state)
{
	(void)state;
	static const struct http_route a[] = {
		{.methods = HTTP_M_GET, .path_of = configured, .perm = ROUTE_PERM_PUBLIC, .handler = h_a},
	};
	static const struct http_route_table t = HTTP_ROUTE_TABLE_ON("conf", a, HTTP_LISTENER_WEB);
	const struct http_route_table *const tables[] = {&t, NULL};
	char *err = NULL;
	assert_int_equal(http_routes_check(tables, &err), 0);
	struct http_match m;
	http_route_find(tables, HTTP_M_GET, "/configured", 11, &m);
	assert_null(m.route);
}

/* The tables parleyd serves pass the check it runs at start-up. */
static void served_tables_pass(void **state)
{
	(void)state;
	char *err = NULL;
	if (http_routes_check(http_route_tables, &err) != 0)
		fail_msg("%s", err);
	struct http_match m;
	http_route_find(http_route_tables, HTTP_M_GET, "/healthz", 8, &m);
	assert_non_null(m.route);
	assert_int_equal(m.route->perm, ROUTE_PERM_PUBLIC);
}

static const struct http_route lookup_rows[] = {
	{.methods = HTTP_M_GET, .path = "/api/users", .perm = ROUTE_PERM_READ, .handler = h_a},
	{.methods = HTTP_M_POST, .path = "/api/users", .perm = ROUTE_PERM_ADMIN, .handler = h_b},
	{.methods = HTTP_M_GET, .path = "/api/users/*", .perm = ROUTE_PERM_READ, .handler = h_a},
	{.methods = HTTP_M_DELETE, .path = "/api/users/*", .perm = ROUTE_PERM_ADMIN, .handler = h_b},
	{.methods = HTTP_M_GET, .path = "/api/users/me", .perm = ROUTE_PERM_READ, .handler = h_b},
	{.methods = HTTP_M_GET | HTTP_M_POST, .path = "/api/**", .perm = ROUTE_PERM_PUBLIC, .handler = h_a},
	{.methods = HTTP_M_GET, .path = "/admin/", .perm = ROUTE_PERM_PUBLIC, .handler = h_a},
};
static const struct http_route_table lookup_table = HTTP_ROUTE_TABLE("lookup", lookup_rows);
static const struct http_route_table *const lookup_tables[] = {&lookup_table, NULL};

static const struct http_route *find(unsigned method, const char *path, struct http_match *m)
{
	http_route_find(lookup_tables, method, path, strlen(path), m);
	return m->route;
}

static void lookup(void **state)
{
	(void)state;
	char *err = NULL;
	assert_int_equal(http_routes_check(lookup_tables, &err), 0);
	struct http_match m;
	assert_ptr_equal(find(HTTP_M_GET, "/api/users", &m), &lookup_rows[0]);
	assert_ptr_equal(find(HTTP_M_HEAD, "/api/users", &m), &lookup_rows[0]);
	assert_ptr_equal(find(HTTP_M_POST, "/api/users", &m), &lookup_rows[1]);
	assert_ptr_equal(find(HTTP_M_GET, "/api/users/bob@b", &m), &lookup_rows[2]);
	assert_int_equal(m.nparams, 1);
	assert_memory_equal(m.params[0].p, "bob@b", 5);
	assert_ptr_equal(find(HTTP_M_DELETE, "/api/users/bob@b", &m), &lookup_rows[3]);
	/* Literal beats "*". */
	assert_ptr_equal(find(HTTP_M_GET, "/api/users/me", &m), &lookup_rows[4]);
	assert_int_equal(m.nparams, 0);
	/* "**" takes what nothing more specific has. */
	assert_ptr_equal(find(HTTP_M_GET, "/api/groups/x", &m), &lookup_rows[5]);
	assert_ptr_equal(find(HTTP_M_GET, "/admin/", &m), &lookup_rows[6]);
}

/* A method the most specific pattern lacks is 405 with what it has:
 * never the PUBLIC catch-all "**" row under /api, which takes POST. */
static void no_fallback_to_broader_pattern(void **state)
{
	(void)state;
	struct http_match m;
	assert_null(find(HTTP_M_POST, "/api/users/bob@b", &m));
	assert_int_equal(m.allow, HTTP_M_GET | HTTP_M_HEAD | HTTP_M_DELETE);
	struct buf b = BUF_INIT;
	http_methods_format(m.allow, &b);
	assert_string_equal(buf_cstr(&b), "GET, HEAD, DELETE");
	buf_clear(&b);
	assert_null(find(HTTP_M_PUT, "/api/users", &m));
	assert_int_equal(m.allow, HTTP_M_GET | HTTP_M_HEAD | HTTP_M_POST);
}

static void no_route(void **state)
{
	(void)state;
	struct http_match m;
	assert_null(find(HTTP_M_GET, "/API/users", &m));
	assert_int_equal(m.allow, 0);
	assert_null(find(HTTP_M_GET, "/admin", &m));
	assert_int_equal(m.allow, 0);
	assert_null(find(HTTP_M_GET, "/", &m));
	assert_null(find(HTTP_M_GET, "/api", &m));
}

static int verdict(enum http_perm need, unsigned method, enum http_perm level, enum http_auth_via via, bool failed,
		   const char *token, const char *header, const char **why)
{
	struct http_auth_result r;
	memset(&r, 0, sizeof(r));
	r.level = level;
	r.via = via;
	r.failed = failed;
	if (token)
		strcpy(r.csrf_token, token);
	return http_auth_verdict(need, method, &r, header ? slice_from(header) : SLICE_NULL, why);
}

/* 401 for anonymous callers and refused credentials, 403 for known
 * callers below the route's permission. */
static void permissions(void **state)
{
	(void)state;
	const char *why;
	assert_int_equal(verdict(ROUTE_PERM_READ, HTTP_M_GET, ROUTE_PERM_PUBLIC, HTTP_AUTH_NONE, false, NULL, NULL, &why),
			 401);
	has(why, "authentication required");
	assert_int_equal(verdict(ROUTE_PERM_ADMIN, HTTP_M_GET, ROUTE_PERM_PUBLIC, HTTP_AUTH_BASIC, true, NULL, NULL, &why),
			 401);
	has(why, "refused");
	assert_int_equal(verdict(ROUTE_PERM_ADMIN, HTTP_M_POST, ROUTE_PERM_READ, HTTP_AUTH_BEARER, false, NULL, NULL, &why),
			 403);
	has(why, "administrator");
	assert_int_equal(verdict(ROUTE_PERM_READ, HTTP_M_GET, ROUTE_PERM_PUBLIC, HTTP_AUTH_BASIC, false, NULL, NULL, &why),
			 403); /* a known account that is no admin */
	assert_int_equal(verdict(ROUTE_PERM_READ, HTTP_M_GET, ROUTE_PERM_READ, HTTP_AUTH_BEARER, false, NULL, NULL, &why),
			 0);
	assert_int_equal(verdict(ROUTE_PERM_READ, HTTP_M_GET, ROUTE_PERM_ADMIN, HTTP_AUTH_BASIC, false, NULL, NULL, &why),
			 0);
	assert_int_equal(verdict(ROUTE_PERM_ADMIN, HTTP_M_DELETE, ROUTE_PERM_ADMIN, HTTP_AUTH_BEARER, false, NULL, NULL,
				 &why),
			 0);
	/* A level out of range counts as none; a route without one is never served. */
	assert_int_equal(verdict(ROUTE_PERM_READ, HTTP_M_GET, (enum http_perm)9, HTTP_AUTH_BEARER, false, NULL, NULL, &why),
			 403);
	assert_int_equal(verdict(ROUTE_PERM_UNSET, HTTP_M_GET, ROUTE_PERM_ADMIN, HTTP_AUTH_BEARER, false, NULL, NULL, &why),
			 403);
}

/* State-changing requests authenticated by a cookie need the session's
 * CSRF token in X-CSRF-Token; bearer and basic callers do not. */
static void csrf(void **state)
{
	(void)state;
	const char *why;
	const unsigned unsafe[] = {HTTP_M_POST, HTTP_M_PUT, HTTP_M_PATCH, HTTP_M_DELETE};
	for (size_t i = 0; i < 4; i++) {
		unsigned m = unsafe[i];
		assert_int_equal(verdict(ROUTE_PERM_ADMIN, m, ROUTE_PERM_ADMIN, HTTP_AUTH_COOKIE, false, "s3cret", NULL, &why),
				 403);
		has(why, "no X-CSRF-Token");
		assert_int_equal(verdict(ROUTE_PERM_ADMIN, m, ROUTE_PERM_ADMIN, HTTP_AUTH_COOKIE, false, "s3cret", "s3creT",
					 &why),
				 403);
		has(why, "wrong X-CSRF-Token");
		assert_int_equal(verdict(ROUTE_PERM_ADMIN, m, ROUTE_PERM_ADMIN, HTTP_AUTH_COOKIE, false, "s3cret", "s3cre",
					 &why),
				 403);
		assert_int_equal(verdict(ROUTE_PERM_ADMIN, m, ROUTE_PERM_ADMIN, HTTP_AUTH_COOKIE, false, "s3cret", "s3cretX",
					 &why),
				 403);
		assert_int_equal(verdict(ROUTE_PERM_ADMIN, m, ROUTE_PERM_ADMIN, HTTP_AUTH_COOKIE, false, "s3cret", "s3cret",
					 &why),
				 0);
		/* A session without a token never passes, not even with an empty header. */
		assert_int_equal(verdict(ROUTE_PERM_ADMIN, m, ROUTE_PERM_ADMIN, HTTP_AUTH_COOKIE, false, NULL, "", &why), 403);
		assert_int_equal(verdict(ROUTE_PERM_ADMIN, m, ROUTE_PERM_ADMIN, HTTP_AUTH_BEARER, false, NULL, NULL, &why), 0);
		assert_int_equal(verdict(ROUTE_PERM_ADMIN, m, ROUTE_PERM_ADMIN, HTTP_AUTH_BASIC, false, NULL, NULL, &why), 0);
	}
	assert_int_equal(verdict(ROUTE_PERM_READ, HTTP_M_GET, ROUTE_PERM_READ, HTTP_AUTH_COOKIE, false, "t", NULL, &why), 0);
	assert_int_equal(verdict(ROUTE_PERM_READ, HTTP_M_HEAD, ROUTE_PERM_READ, HTTP_AUTH_COOKIE, false, "t", NULL, &why),
			 0);
}

static void names(void **state)
{
	(void)state;
	assert_string_equal(http_method_name(HTTP_M_PATCH), "PATCH");
	assert_string_equal(http_method_name(HTTP_M_GET | HTTP_M_POST), "?");
	assert_string_equal(http_perm_name(ROUTE_PERM_UNSET), "unset");
	assert_string_equal(http_perm_name(ROUTE_PERM_ADMIN), "admin");
	assert_string_equal(http_perm_name((enum http_perm)42), "unknown");
	assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
	assert_string_equal(http_status_text(599), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unset_permission_is_refused),
		cmocka_unit_test(bad_rows_are_refused),
		cmocka_unit_test(duplicates_are_refused),
		cmocka_unit_test(listeners_are_checked),
		cmocka_unit_test(configured_paths_wait),
		cmocka_unit_test(served_tables_pass),
		cmocka_unit_test(lookup),
		cmocka_unit_test(no_fallback_to_broader_pattern),
		cmocka_unit_test(no_route),
		cmocka_unit_test(permissions),
		cmocka_unit_test(csrf),
		cmocka_unit_test(names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
