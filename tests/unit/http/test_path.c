/* Unit tests of http/path.c: which request paths are refused before any
 * route is looked at (hostile spellings that other servers resolved into
 * a path with another permission), and how route patterns match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/buf.h"
#include "http/internal.h"

static enum http_path_error norm(const char *raw, struct buf *out)
{
	buf_reset(out);
	return http_path_normalize(raw, strlen(raw), out);
}

static void accepted(const char *raw, const char *want)
{
	struct buf b = BUF_INIT;
	enum http_path_error e = norm(raw, &b);
	if (e != HTTP_PATH_OK)
		fail_msg("'%s' refused: %s", raw, http_path_error_text(e));
	assert_string_equal(buf_cstr(&b), want);
	buf_clear(&b);
}

static void refused(const char *raw, enum http_path_error want)
{
	struct buf b = BUF_INIT;
	enum http_path_error e = norm(raw, &b);
	if (e != want)
		fail_msg("'%s': got %d (%s), want %d (%s)", raw, e, http_path_error_text(e), want,
			 http_path_error_text(want));
	assert_int_equal(b.len, 0); /* nothing of a refused path is kept */
	buf_clear(&b);
}

static void plain_paths(void **state)
{
	(void)state;
	accepted("/", "/");
	accepted("/healthz", "/healthz");
	accepted("/api/users/alice%40example.org", "/api/users/alice@example.org");
	accepted("/api/users/alice@example.org/certs", "/api/users/alice@example.org/certs");
	accepted("/admin/", "/admin/"); /* a trailing '/' is kept, not folded */
	accepted("/a%20b", "/a b");
	accepted("/%C3%A9t%C3%A9", "/\xc3\xa9t\xc3\xa9");
	accepted("/...", "/..."); /* not a dot segment */
	accepted("/.well-known/x", "/.well-known/x");
	/* Decoded once: what %25 gives is a literal '%', never decoded again. */
	accepted("/%252e%252e/", "/%2e%2e/");
	accepted("/%252F", "/%2F");
}

/* The hostile spellings of the brief, and their relatives. */
static void hostile_paths(void **state)
{
	(void)state;
	refused("/%2e%2e/", HTTP_PATH_DOT_SEGMENT);
	refused("/%2E%2E/admin", HTTP_PATH_DOT_SEGMENT);
	refused("/..", HTTP_PATH_DOT_SEGMENT);
	refused("/api/..", HTTP_PATH_DOT_SEGMENT); /* trailing "/.." */
	refused("/api/%2e%2e", HTTP_PATH_DOT_SEGMENT);
	refused("/a/./b", HTTP_PATH_DOT_SEGMENT);
	refused("/a/%2e/b", HTTP_PATH_DOT_SEGMENT);
	refused("/.", HTTP_PATH_DOT_SEGMENT);
	refused("/..;/", HTTP_PATH_PARAMETER);
	refused("/api;jsessionid=1/users", HTTP_PATH_PARAMETER);
	refused("/api%3b/users", HTTP_PATH_PARAMETER);
	refused("//x", HTTP_PATH_EMPTY_SEGMENT);
	refused("/a//b", HTTP_PATH_EMPTY_SEGMENT);
	refused("/a%2F..%2Fadmin", HTTP_PATH_ENCODED_SLASH);
	refused("/a%2fb", HTTP_PATH_ENCODED_SLASH);
	refused("/%2F", HTTP_PATH_ENCODED_SLASH);
	refused("/a\\b", HTTP_PATH_BACKSLASH);
	refused("/..%5c..%5cadmin", HTTP_PATH_BACKSLASH);
	refused("/%5C", HTTP_PATH_BACKSLASH);
	refused("/a%00b", HTTP_PATH_NUL);
	refused("/%00", HTTP_PATH_NUL);
	refused("/a%0d%0aSet-Cookie:x", HTTP_PATH_CONTROL);
	refused("/a%7f", HTTP_PATH_CONTROL);
	/* Overlong UTF-8 for '.', '/' and NUL: refused as invalid UTF-8 after
	 * decoding, never read as the character they spell. */
	refused("/%c0%ae%c0%ae/", HTTP_PATH_BAD_UTF8);
	refused("/%c0%af", HTTP_PATH_BAD_UTF8);
	refused("/%c0%80", HTTP_PATH_BAD_UTF8);
	refused("/%e0%80%ae", HTTP_PATH_BAD_UTF8);
	refused("/%ed%a0%80", HTTP_PATH_BAD_UTF8); /* a surrogate */
	refused("/%ff", HTTP_PATH_BAD_UTF8);
	refused("/%c3", HTTP_PATH_BAD_UTF8); /* truncated */
	refused("/%", HTTP_PATH_BAD_ESCAPE);
	refused("/%2", HTTP_PATH_BAD_ESCAPE);
	refused("/%zz", HTTP_PATH_BAD_ESCAPE);
	refused("/%%32%65", HTTP_PATH_BAD_ESCAPE);
	refused("", HTTP_PATH_NOT_ABSOLUTE);
	refused("healthz", HTTP_PATH_NOT_ABSOLUTE);
	refused("*", HTTP_PATH_NOT_ABSOLUTE);
}

/* Normalisation never changes case: "/HEALTHZ" stays itself, and the
 * lower-case route table has nothing for it. */
static void case_is_kept(void **state)
{
	(void)state;
	accepted("/HEALTHZ", "/HEALTHZ");
	accepted("/Api/Users", "/Api/Users");
	accepted("/%48ealthz", "/Healthz");
	struct slice params[HTTP_ROUTE_PARAMS_MAX];
	unsigned n;
	assert_false(http_pattern_match("/healthz", "/HEALTHZ", 8, params, &n));
	assert_false(http_pattern_match("/healthz", "/Healthz", 8, params, &n));
	assert_true(http_pattern_match("/healthz", "/healthz", 8, params, &n));
}

/* Appending to a non-empty buffer keeps what was there. */
static void appends(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	buf_append_str(&b, "x");
	assert_int_equal(http_path_normalize("/a", 2, &b), HTTP_PATH_OK);
	assert_string_equal(buf_cstr(&b), "x/a");
	assert_int_equal(http_path_normalize("/..", 3, &b), HTTP_PATH_DOT_SEGMENT);
	assert_string_equal(buf_cstr(&b), "x/a");
	buf_clear(&b);
}

static bool match(const char *pattern, const char *path, unsigned *n, struct slice *params)
{
	return http_pattern_match(pattern, path, strlen(path), params, n);
}

static void patterns_match(void **state)
{
	(void)state;
	struct slice p[HTTP_ROUTE_PARAMS_MAX];
	unsigned n = 99;
	assert_true(match("/", "/", &n, p));
	assert_int_equal(n, 0);
	assert_false(match("/", "/a", &n, p));
	assert_true(match("/api/users", "/api/users", &n, p));
	assert_false(match("/api/users", "/api/users/", &n, p));
	assert_false(match("/api/users", "/api/user", &n, p));
	assert_false(match("/api/users", "/api/usersx", &n, p));
	assert_false(match("/admin/", "/admin", &n, p));
	assert_true(match("/admin/", "/admin/", &n, p));

	assert_true(match("/api/users/*", "/api/users/alice@example.org", &n, p));
	assert_int_equal(n, 1);
	assert_int_equal(p[0].len, 17);
	assert_memory_equal(p[0].p, "alice@example.org", 17);
	assert_false(match("/api/users/*", "/api/users/", &n, p)); /* '*' is never empty */
	assert_false(match("/api/users/*", "/api/users", &n, p));
	assert_false(match("/api/users/*", "/api/users/a/b", &n, p));

	assert_true(match("/api/users/*/certs/*", "/api/users/a@b/certs/0a1b", &n, p));
	assert_int_equal(n, 2);
	assert_memory_equal(p[0].p, "a@b", 3);
	assert_memory_equal(p[1].p, "0a1b", 4);

	const char *rest = "/static/**";
	assert_true(match(rest, "/static/", &n, p));
	assert_true(match(rest, "/static/a/b.css", &n, p));
	assert_false(match(rest, "/static", &n, p));
	assert_false(match(rest, "/staticx/a", &n, p));
}

static void patterns_valid(void **state)
{
	(void)state;
	const char *why = NULL;
	const char *good[] = {"/", "/healthz", "/admin/", "/api/users/*", "/api/users/*/certs/*", "/static/**",
			      "/.well-known/x", "/a-b_c~d.e"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!http_pattern_valid(good[i], &why))
			fail_msg("'%s' refused: %s", good[i], why);
	struct {
		const char *pattern;
		const char *why;
	} bad[] = {
		{"", "start with"},
		{"healthz", "start with"},
		{"/Healthz", "lower case"},
		{"/api/Users", "lower case"},
		{"//x", "empty segment"},
		{"/a//b", "empty segment"},
		{"/a/../b", "'.' or '..'"},
		{"/a/./b", "'.' or '..'"},
		{"/..", "'.' or '..'"},
		{"/a;b", "character"},
		{"/a%2fb", "character"},
		{"/a b", "character"},
		{"/a*", "character"},
		{"/**/x", "before its last"},
		{"/*/*/*/*/*/*/*/*/*", "HTTP_ROUTE_PARAMS_MAX"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (http_pattern_valid(bad[i].pattern, &why))
			fail_msg("'%s' accepted", bad[i].pattern);
		if (!strstr(why, bad[i].why))
			fail_msg("'%s': '%s' does not say '%s'", bad[i].pattern, why, bad[i].why);
	}
	why = NULL;
	assert_false(http_pattern_valid(NULL, &why));
}

static void specificity(void **state)
{
	(void)state;
	assert_true(http_pattern_cmp("/api/users/me", "/api/users/*") > 0);
	assert_true(http_pattern_cmp("/api/users/*", "/api/**") > 0);
	assert_true(http_pattern_cmp("/api/**", "/api/users/*") < 0);
	assert_true(http_pattern_cmp("/a/b/*", "/a/*/c") > 0);
	assert_true(http_pattern_cmp("/", "/**") > 0);
	assert_int_equal(http_pattern_cmp("/api/users/*", "/api/users/*"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_paths),
		cmocka_unit_test(hostile_paths),
		cmocka_unit_test(case_is_kept),
		cmocka_unit_test(appends),
		cmocka_unit_test(patterns_match),
		cmocka_unit_test(patterns_valid),
		cmocka_unit_test(specificity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
