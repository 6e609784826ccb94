/* Unit tests of adminapi/: reading credentials (the session cookie, HTTP
 * Basic, Bearer) as pure functions, the session table (expiry, logout,
 * an account's sessions ended, the oldest evicted when full), the
 * random tokens, the page compiled in, and the rules the route table
 * keeps (what is public, what changes state).  No server, no socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "adminapi/internal.h"
#include "core/buf.h"
#include "sasl/sasl.h"

/* ---- cookies ---- */

static void cookie_found_among_others(void **state)
{
	struct slice v = aa_cookie_get(slice_from("a=1; parley_admin=xyz; b=2"), AA_COOKIE);
	assert_true(slice_eq_str(v, "xyz"));
	v = aa_cookie_get(slice_from("parley_admin=first;parley_admin=second"), AA_COOKIE);
	assert_true(slice_eq_str(v, "first"));
	v = aa_cookie_get(slice_from(" \tparley_admin=\"quoted\" ; x=y"), AA_COOKIE);
	assert_true(slice_eq_str(v, "quoted"));
	v = aa_cookie_get(slice_from("parley_admin="), AA_COOKIE);
	assert_non_null(v.p);
	assert_int_equal(v.len, 0);
}

static void cookie_names_match_exactly(void **state)
{
	assert_null(aa_cookie_get(slice_from("parley_adminx=1; xparley_admin=2"), AA_COOKIE).p);
	assert_null(aa_cookie_get(slice_from("PARLEY_ADMIN=1"), AA_COOKIE).p);
	assert_null(aa_cookie_get(slice_from(""), AA_COOKIE).p);
	assert_null(aa_cookie_get(SLICE_NULL, AA_COOKIE).p);
	assert_null(aa_cookie_get(slice_from("parley_admin"), AA_COOKIE).p);
}

/* ---- Authorization ---- */

static void bearer_takes_one_token(void **state)
{
	struct slice t;
	assert_true(aa_bearer_parse(slice_from("Bearer pt_abc"), &t));
	assert_true(slice_eq_str(t, "pt_abc"));
	assert_true(aa_bearer_parse(slice_from("bEARER pt_abc"), &t));
	assert_false(aa_bearer_parse(slice_from("Bearer"), &t));
	assert_false(aa_bearer_parse(slice_from("Bearer "), &t));
	assert_false(aa_bearer_parse(slice_from("Bearer  pt_abc"), &t));
	assert_false(aa_bearer_parse(slice_from("Bearer pt_a b"), &t));
	assert_false(aa_bearer_parse(slice_from("Basic cHQ="), &t));
	assert_false(aa_bearer_parse(slice_from("Bearerpt_abc"), &t));
}

static bool basic(const char *raw, size_t n, struct buf *user, struct buf *pw)
{
	struct buf h = BUF_INIT;
	buf_append_str(&h, "Basic ");
	sasl_base64_encode(&h, raw, n);
	bool ok = aa_basic_parse(slice_make(h.data, h.len), user, pw);
	buf_clear(&h);
	return ok;
}

static void basic_splits_at_the_first_colon(void **state)
{
	struct buf u = BUF_INIT, p = BUF_INIT;
	assert_true(basic("admin@localhost:pa:ss", 21, &u, &p));
	assert_string_equal(buf_cstr(&u), "admin@localhost");
	assert_string_equal(buf_cstr(&p), "pa:ss");
	buf_reset(&u), buf_reset(&p);
	assert_true(basic("a@b:", 4, &u, &p));
	assert_int_equal(p.len, 0);
	buf_reset(&u), buf_reset(&p);
	assert_true(aa_basic_parse(slice_from("basic YUBiOmM="), &u, &p)); /* a@b:c */
	assert_string_equal(buf_cstr(&p), "c");
	buf_clear(&u);
	buf_clear(&p);
}

static void basic_refuses_what_is_not_strictly_basic(void **state)
{
	struct buf u = BUF_INIT, p = BUF_INIT;
	assert_false(basic("no-colon", 8, &u, &p));
	assert_false(basic(":password", 9, &u, &p));
	assert_false(basic("a\tb@c:pw", 8, &u, &p));
	assert_false(basic("a@b:p\0w", 7, &u, &p));
	assert_false(aa_basic_parse(slice_from("Basic YUBiOmM"), &u, &p));   /* no padding */
	assert_false(aa_basic_parse(slice_from("Basic YUBi OmM="), &u, &p)); /* a space */
	assert_false(aa_basic_parse(slice_from("Basic "), &u, &p));
	assert_false(aa_basic_parse(slice_from("Basic"), &u, &p));
	assert_false(aa_basic_parse(slice_from("Digest YUBiOmM="), &u, &p));
	assert_int_equal(u.len + p.len, 0);
	buf_clear(&u);
	buf_clear(&p);
}

/* ---- sessions ---- */

static void random_tokens_are_base64url(void **state)
{
	char a[AA_TOKEN_CHARS + 1], b[AA_TOKEN_CHARS + 1];
	aa_random_token(a);
	aa_random_token(b);
	assert_int_equal(strlen(a), AA_TOKEN_CHARS);
	assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), AA_TOKEN_CHARS);
	assert_string_not_equal(a, b);
}

static int sessions_setup(void **state)
{
	aa_sessions_setup(2);
	return 0;
}

static int sessions_teardown(void **state)
{
	aa_sessions_clear();
	return 0;
}

static void session_found_by_its_cookie_only(void **state)
{
	char id[AA_TOKEN_CHARS + 1], csrf[AA_TOKEN_CHARS + 1];
	aa_session_new("admin@example.org", id, csrf);
	assert_string_not_equal(id, csrf);
	struct aa_session_view v;
	assert_true(aa_session_find(slice_from(id), &v));
	assert_string_equal(v.jid, "admin@example.org");
	assert_string_equal(v.csrf, csrf);
	assert_false(aa_session_find(slice_from(csrf), &v));
	assert_false(aa_session_find(slice_make(id, AA_TOKEN_CHARS - 1), &v));
	assert_false(aa_session_find(SLICE_NULL, &v));
	char other[AA_TOKEN_CHARS + 1];
	memcpy(other, id, sizeof(other));
	other[AA_TOKEN_CHARS - 1] = other[AA_TOKEN_CHARS - 1] == 'A' ? 'B' : 'A';
	assert_false(aa_session_find(slice_from(other), &v));
	assert_int_equal(aa_sessions_count(), 1);
	assert_true(aa_session_end(slice_from(id)));
	assert_false(aa_session_end(slice_from(id)));
	assert_false(aa_session_find(slice_from(id), &v));
	assert_int_equal(aa_sessions_count(), 0);
}

static void session_expires_unused_not_used(void **state)
{
	char id[AA_TOKEN_CHARS + 1], csrf[AA_TOKEN_CHARS + 1];
	struct aa_session_view v;
	aa_session_new("admin@example.org", id, csrf);
	/* Used every 1.5 s: alive after 4.5 s with a 2 s timeout. */
	for (int i = 0; i < 3; i++) {
		aa_clock_skew(1500);
		assert_true(aa_session_find(slice_from(id), &v));
	}
	aa_clock_skew(2000);
	assert_false(aa_session_find(slice_from(id), &v));
	assert_int_equal(aa_sessions_count(), 0);
}

static void sessions_of_an_account_end_with_it(void **state)
{
	char id[3][AA_TOKEN_CHARS + 1], csrf[AA_TOKEN_CHARS + 1];
	struct aa_session_view v;
	aa_session_new("a@example.org", id[0], csrf);
	aa_session_new("b@example.org", id[1], csrf);
	aa_session_new("a@example.org", id[2], csrf);
	assert_int_equal(aa_sessions_end_jid("a@example.org"), 2);
	assert_false(aa_session_find(slice_from(id[0]), &v));
	assert_true(aa_session_find(slice_from(id[1]), &v));
	assert_false(aa_session_find(slice_from(id[2]), &v));
	assert_int_equal(aa_sessions_end_jid("nobody@example.org"), 0);
}

static void a_full_table_evicts_the_longest_unused(void **state)
{
	char first[AA_TOKEN_CHARS + 1], id[AA_TOKEN_CHARS + 1], csrf[AA_TOKEN_CHARS + 1];
	struct aa_session_view v;
	aa_session_new("first@example.org", first, csrf);
	aa_clock_skew(1);
	for (int i = 1; i < AA_SESSIONS_MAX; i++)
		aa_session_new("many@example.org", id, csrf);
	assert_int_equal(aa_sessions_count(), AA_SESSIONS_MAX);
	aa_clock_skew(1);
	assert_true(aa_session_find(slice_from(first), &v)); /* now the most recently used */
	aa_session_new("last@example.org", id, csrf);
	assert_int_equal(aa_sessions_count(), AA_SESSIONS_MAX);
	assert_true(aa_session_find(slice_from(first), &v));
	assert_true(aa_session_find(slice_from(id), &v));
	assert_string_equal(v.jid, "last@example.org");
}

/* ---- the page and the table ---- */

static void the_page_is_compiled_in(void **state)
{
	assert_int_equal(aa_nassets, 3);
	bool html = false;
	for (size_t i = 0; i < aa_nassets; i++) {
		const struct aa_asset *a = &aa_assets[i];
		assert_true(a->len > 100);
		assert_int_equal(a->data[a->len], 0);
		if (!strcmp(a->path, "/admin/")) {
			html = a->html;
			assert_non_null(strstr((const char *)a->data, "admin.js"));
			assert_non_null(strstr(a->content_type, "text/html"));
		} else {
			assert_false(a->html);
		}
	}
	assert_true(html);
}

static void the_table_keeps_its_rules(void **state)
{
	const struct http_route_table *const tables[] = {&adminapi_table, NULL};
	char *err = NULL;
	assert_int_equal(http_routes_check(tables, &err), 0);
	for (size_t i = 0; i < adminapi_table.n; i++) {
		const struct http_route *r = &adminapi_table.routes[i];
		bool api = !strncmp(r->path, "/api/", 5), page = !strncmp(r->path, "/admin", 6);
		bool login = !strcmp(r->path, "/api/login"), logout = !strcmp(r->path, "/api/logout");
		/* Public: the login and the page, nothing else. */
		if (r->perm == ROUTE_PERM_PUBLIC)
			assert_true(login || (page && r->methods == HTTP_M_GET));
		assert_true(api || page || !strcmp(r->path, "/metrics"));
		/* Every change needs an administrator (logout ends one's own session). */
		if ((r->methods & HTTP_M_UNSAFE) && !login && !logout)
			assert_int_equal(r->perm, ROUTE_PERM_ADMIN);
		if (r->methods & HTTP_M_UNSAFE)
			assert_true(api);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cookie_found_among_others),
		cmocka_unit_test(cookie_names_match_exactly),
		cmocka_unit_test(bearer_takes_one_token),
		cmocka_unit_test(basic_splits_at_the_first_colon),
		cmocka_unit_test(basic_refuses_what_is_not_strictly_basic),
		cmocka_unit_test(random_tokens_are_base64url),
		cmocka_unit_test_setup_teardown(session_found_by_its_cookie_only, sessions_setup, sessions_teardown),
		cmocka_unit_test_setup_teardown(session_expires_unused_not_used, sessions_setup, sessions_teardown),
		cmocka_unit_test_setup_teardown(sessions_of_an_account_end_with_it, sessions_setup, sessions_teardown),
		cmocka_unit_test_setup_teardown(a_full_table_evicts_the_longest_unused, sessions_setup, sessions_teardown),
		cmocka_unit_test(the_page_is_compiled_in),
		cmocka_unit_test(the_table_keeps_its_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
