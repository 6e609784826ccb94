/* Unit tests of s2s/code: every federation failure code has a unique
 * stable name and a fix, reads back by name, and is explained in
 * docs/federation-errors.md (so the docs cannot fall behind the table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s2s/code.h"

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	static char buf[1 << 17];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void names_are_unique_and_read_back(void **state)
{
	(void)state;
	assert_string_equal(s2s_code_name(S2S_CODE_NONE), "ok");
	for (unsigned i = 1; i < S2S_CODE_COUNT; i++) {
		const char *name = s2s_code_name((enum s2s_code)i);
		assert_string_not_equal(name, "unknown");
		assert_true(strlen(s2s_code_fix((enum s2s_code)i)) > 10);
		assert_int_equal(s2s_code_by_name(name), i);
		for (unsigned j = 1; j < i; j++)
			assert_string_not_equal(name, s2s_code_name((enum s2s_code)j));
		/* lower-case words joined by '-': stable, greppable */
		for (const char *p = name; *p; p++)
			assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-');
	}
	assert_string_equal(s2s_code_name(S2S_CODE_COUNT), "unknown");
	assert_int_equal(s2s_code_by_name("no-such-code"), S2S_CODE_NONE);
	assert_string_equal(s2s_code_name(S2S_CERT_EXPIRED), "cert-expired");
	assert_string_equal(s2s_code_name(S2S_PEER_STREAM_ERROR), "peer-stream-error");
}

static void every_code_is_documented(void **state)
{
	(void)state;
	const char *doc = read_file(FEDERATION_ERRORS_MD);
	for (unsigned i = 1; i < S2S_CODE_COUNT; i++) {
		char needle[96];
		snprintf(needle, sizeof(needle), "| `%s", s2s_code_name((enum s2s_code)i));
		if (!strstr(doc, needle))
			fail_msg("docs/federation-errors.md does not explain %s", s2s_code_name((enum s2s_code)i));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_are_unique_and_read_back),
		cmocka_unit_test(every_code_is_documented),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
