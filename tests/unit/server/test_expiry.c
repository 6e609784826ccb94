/* Unit tests of certificate expiry warnings (server/expiry.c): the
 * thresholds (30 and 7 days, expired), rounding of days, the wording of
 * each line, and order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "server/expiry.h"

enum { DAY = 86400 };

/* 2025-06-01 12:00:00 UTC */
static const long long NOW = 1748779200LL;

static void judge_thresholds(void **state)
{
	(void)state;
	long long days;
	assert_int_equal(expiry_judge(NOW + 90LL * DAY, NOW, &days), EXPIRY_FINE);
	assert_int_equal(days, 90);
	assert_int_equal(expiry_judge(NOW + 30LL * DAY + 1, NOW, &days), EXPIRY_FINE);
	assert_int_equal(days, 31); /* a started day counts */
	assert_int_equal(expiry_judge(NOW + 30LL * DAY, NOW, &days), EXPIRY_SOON);
	assert_int_equal(days, 30);
	assert_int_equal(expiry_judge(NOW + 8LL * DAY, NOW, &days), EXPIRY_SOON);
	assert_int_equal(expiry_judge(NOW + 7LL * DAY, NOW, &days), EXPIRY_URGENT);
	assert_int_equal(days, 7);
	assert_int_equal(expiry_judge(NOW + 5LL * DAY - 3600, NOW, &days), EXPIRY_URGENT);
	assert_int_equal(days, 5);
	assert_int_equal(expiry_judge(NOW + 1, NOW, &days), EXPIRY_URGENT);
	assert_int_equal(days, 1);
	/* The last second of validity is past: not_after is that second. */
	assert_int_equal(expiry_judge(NOW, NOW, &days), EXPIRY_EXPIRED);
	assert_int_equal(days, 0);
	assert_int_equal(expiry_judge(NOW - 3LL * DAY - 10, NOW, &days), EXPIRY_EXPIRED);
	assert_int_equal(days, 3);
	assert_int_equal(expiry_judge(NOW - 1, NOW, NULL), EXPIRY_EXPIRED);
}

static void lines_for_what_needs_attention(void **state)
{
	(void)state;
	const struct expiry_cert certs[] = {
		{"fine", "nothing", NOW + 365LL * DAY},
		{"host a.test: certificate /c/a.crt (\"CN=a.test\")", "renew it", NOW + 20LL * DAY},
		{"host b.test: certificate /c/b.crt (\"CN=b.test\")", "renew it now", NOW + 1LL * DAY},
		{"c2s.client_ca /t: trusted CA \"CN=Old\"", "replace it", NOW - 2LL * DAY},
		{"fine too", "nothing", NOW + 31LL * DAY},
	};
	struct expiry_line *lines;
	size_t n = expiry_lines(certs, sizeof(certs) / sizeof(certs[0]), NOW, &lines);
	assert_int_equal(n, 3);
	assert_int_equal(lines[0].level, EXPIRY_SOON);
	assert_int_equal(lines[0].days, 20);
	assert_string_equal(lines[0].text, "host a.test: certificate /c/a.crt (\"CN=a.test\") expires on "
					   "2025-06-21 12:00:00 UTC, in 20 days (30-day warning); renew it");
	assert_int_equal(lines[1].level, EXPIRY_URGENT);
	assert_string_equal(lines[1].text, "host b.test: certificate /c/b.crt (\"CN=b.test\") expires on "
					   "2025-06-02 12:00:00 UTC, in 1 day (7-day warning); renew it now");
	assert_int_equal(lines[2].level, EXPIRY_EXPIRED);
	assert_int_equal(lines[2].days, 2);
	assert_string_equal(lines[2].text, "c2s.client_ca /t: trusted CA \"CN=Old\" expired on "
					   "2025-05-30 12:00:00 UTC (2 days ago); peers refuse it: replace it");
	expiry_lines_free(lines, n);
}

static void nothing_to_say(void **state)
{
	(void)state;
	const struct expiry_cert certs[] = {{"fine", "nothing", NOW + 100LL * DAY}};
	struct expiry_line *lines = (void *)1;
	assert_int_equal(expiry_lines(certs, 1, NOW, &lines), 0);
	assert_null(lines);
	assert_int_equal(expiry_lines(NULL, 0, NOW, &lines), 0);
	assert_null(lines);
	expiry_lines_free(NULL, 0);
}

/* The daily timer and each reload judge again: a certificate crosses from
 * the 30-day into the 7-day warning as time passes, with nothing kept. */
static void the_same_certificate_day_after_day(void **state)
{
	(void)state;
	const struct expiry_cert c = {"x", "y", NOW + 31LL * DAY};
	enum expiry_level seen[33];
	for (int d = 0; d < 33; d++)
		seen[d] = expiry_judge(c.not_after, NOW + (long long)d * DAY, NULL);
	assert_int_equal(seen[0], EXPIRY_FINE);
	assert_int_equal(seen[1], EXPIRY_SOON);
	assert_int_equal(seen[23], EXPIRY_SOON);
	assert_int_equal(seen[24], EXPIRY_URGENT);
	assert_int_equal(seen[30], EXPIRY_URGENT);
	assert_int_equal(seen[31], EXPIRY_EXPIRED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(judge_thresholds),
		cmocka_unit_test(lines_for_what_needs_attention),
		cmocka_unit_test(nothing_to_say),
		cmocka_unit_test(the_same_certificate_day_after_day),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
