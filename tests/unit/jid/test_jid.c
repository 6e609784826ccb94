/* Unit tests of jid/: syntax, preparation of each part, limits, IP
 * literals, IDNs, and the ASCII fast paths checked against libidn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "core/arena.h"
#include "jid/jid.h"

static int setup(void **state)
{
	*state = arena_new();
	return 0;
}

static int teardown(void **state)
{
	arena_free(*state);
	arena_cache_drain();
	return 0;
}

/* Parses `in` and checks every string of the result (NULL: absent). */
static void check_jid(struct arena *a, const char *in, const char *local, const char *domain,
		      const char *resource, const char *full)
{
	struct jid j;
	if (jid_parse_str(a, in, &j) != 0)
		fail_msg("refused: %s", in);
	if (local)
		assert_string_equal(j.local, local);
	else
		assert_null(j.local);
	assert_string_equal(j.domain, domain);
	if (resource)
		assert_string_equal(j.resource, resource);
	else
		assert_null(j.resource);
	assert_string_equal(j.full, full);

	/* The output is canonical: parsing it again gives it back. */
	struct jid again;
	assert_int_equal(jid_parse_str(a, j.full, &again), 0);
	assert_string_equal(again.full, j.full);
	assert_true(jid_equal(&j, &again));
}

static void check_invalid(struct arena *a, const char *in)
{
	struct jid j;
	if (jid_parse_str(a, in, &j) == 0)
		fail_msg("accepted: %s (as %s)", in, j.full);
}

static void case_folds_except_resource(void **state)
{
	struct arena *a = *state;
	struct jid j;
	assert_int_equal(jid_parse_str(a, "Alice@Example.COM/Res", &j), 0);
	assert_string_equal(j.local, "alice");
	assert_string_equal(j.domain, "example.com");
	assert_string_equal(j.resource, "Res");
	assert_string_equal(j.bare, "alice@example.com");
	assert_string_equal(j.full, "alice@example.com/Res");
	assert_false(jid_is_bare(&j));

	struct jid other;
	assert_int_equal(jid_parse_str(a, "ALICE@example.com/res", &other), 0);
	assert_false(jid_equal(&j, &other));
	assert_true(jid_bare_equal(&j, &other));
}

/* RFC 7622 §3.5, the examples on which Nodeprep/Resourceprep (RFC 6122)
 * and the PRECIS profiles agree. */
static void rfc7622_valid_examples(void **state)
{
	struct arena *a = *state;
	check_jid(a, "juliet@example.com", "juliet", "example.com", NULL, "juliet@example.com");
	check_jid(a, "juliet@example.com/foo", "juliet", "example.com", "foo",
		  "juliet@example.com/foo");
	check_jid(a, "juliet@example.com/foo bar", "juliet", "example.com", "foo bar",
		  "juliet@example.com/foo bar");
	check_jid(a, "juliet@example.com/foo@bar", "juliet", "example.com", "foo@bar",
		  "juliet@example.com/foo@bar");
	check_jid(a, "foo\\20bar@example.com", "foo\\20bar", "example.com", NULL,
		  "foo\\20bar@example.com");
	check_jid(a, "fussball@example.com", "fussball", "example.com", NULL,
		  "fussball@example.com");
	check_jid(a, "\xCF\x80@example.com", "\xCF\x80", "example.com", NULL,
		  "\xCF\x80@example.com"); /* π */
	check_jid(a, "\xCE\xA3@example.com/foo", "\xCF\x83", "example.com", "foo",
		  "\xCF\x83@example.com/foo"); /* Σ folds to σ */
	check_jid(a, "\xCF\x83@example.com/foo", "\xCF\x83", "example.com", "foo",
		  "\xCF\x83@example.com/foo");
	check_jid(a, "king@example.com/\xE2\x99\x9A", "king", "example.com", "\xE2\x99\x9A",
		  "king@example.com/\xE2\x99\x9A"); /* ♚ */
	check_jid(a, "example.com", NULL, "example.com", NULL, "example.com");
	check_jid(a, "example.com/foobar", NULL, "example.com", "foobar", "example.com/foobar");
	check_jid(a, "a.example.com/b@example.net", NULL, "a.example.com", "b@example.net",
		  "a.example.com/b@example.net");
}

static void rfc7622_invalid_examples(void **state)
{
	struct arena *a = *state;
	check_invalid(a, "\"juliet\"@example.com");
	check_invalid(a, "foo bar@example.com");
	check_invalid(a, "juliet@example.com/");
	check_invalid(a, "@example.com/");
	check_invalid(a, "juliet@");
	check_invalid(a, "/foobar");
}

/* Where RFC 6122 preparation differs from RFC 7622's PRECIS profiles: the
 * behaviour is pinned so that a change is a decision, not an accident. */
static void rfc6122_differences_are_pinned(void **state)
{
	struct arena *a = *state;
	/* Nodeprep's B.2 table maps ß to "ss" and final sigma to sigma. */
	check_jid(a, "fu\xC3\x9F" "ball@example.com", "fussball", "example.com", NULL,
		  "fussball@example.com");
	check_jid(a, "\xCF\x82@example.com/foo", "\xCF\x83", "example.com", "foo",
		  "\xCF\x83@example.com/foo");
	/* NFKC turns ROMAN NUMERAL FOUR into "iv"; Nodeprep allows symbols. */
	check_jid(a, "henry\xE2\x85\xA3@example.com", "henryiv", "example.com", NULL,
		  "henryiv@example.com");
	check_jid(a, "\xE2\x99\x9A@example.com", "\xE2\x99\x9A", "example.com", NULL,
		  "\xE2\x99\x9A@example.com");
	/* A resource keeps its leading space under Resourceprep. */
	check_jid(a, "juliet@example.com/ foo", "juliet", "example.com", " foo",
		  "juliet@example.com/ foo");
}

static void empty_parts_are_invalid(void **state)
{
	struct arena *a = *state;
	const char *bad[] = {"", "@", "/", "@/", "a@/", "@d", "d/", "a@d/", "@d/r", "a@/r",
			     "a@", "/r", ".", "a@.", "a@./r"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_invalid(a, bad[i]);
	struct jid j;
	assert_int_equal(jid_parse(a, NULL, 0, &j), -1);
	assert_int_equal(jid_parse_str(a, NULL, &j), -1);
	assert_null(jid_prep_local(a, "", 0));
	assert_null(jid_prep_domain(a, "", 0));
	assert_null(jid_prep_resource(a, "", 0));
	/* Soft hyphen maps to nothing, which leaves an empty part. */
	assert_null(jid_prep_local(a, "\xC2\xAD", 2));
	assert_null(jid_prep_resource(a, "\xC2\xAD", 2));
}

static void split_rules(void **state)
{
	struct arena *a = *state;
	/* The resource is everything after the first '/', '/' and '@' included. */
	check_jid(a, "a@b/c/d@e", "a", "b", "c/d@e", "a@b/c/d@e");
	check_jid(a, "b/c@d", NULL, "b", "c@d", "b/c@d");
	/* An '@' after the first '/' does not make a localpart. */
	check_jid(a, "server/resource@foo/bar", NULL, "server", "resource@foo/bar",
		  "server/resource@foo/bar");
	/* A second '@' before the '/' lands in the domain, which refuses it. */
	check_invalid(a, "a@b@c");
	check_invalid(a, "a@b@c/r");
}

static void prohibited_characters(void **state)
{
	struct arena *a = *state;
	const char *bad[] = {
		"a&b@example.com", "a'b@example.com", "a:b@example.com", "a<b@example.com",
		"a>b@example.com", "a\"b@example.com", "a\tb@example.com",
		"juliet@example.com/a\x01", "juliet@example.com/a\x7f",
		("a\xC2\xA0" "b@example.com"),		  /* non-ASCII space */
		"juliet@example.com/\xEF\xBF\xBE",	  /* non-character */
		"juliet@example.com/a\xE2\x80\x8E",	  /* LRM, prohibited by C.8 */
		("\xD8\xA7" "a@example.com"),		  /* RandAL then L: bidi rule */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_invalid(a, bad[i]);
}

static void invalid_utf8_is_refused(void **state)
{
	struct arena *a = *state;
	const char *bad[] = {
		"\xFF@example.com",
		"a\xC3@example.com",
		"\xC0\xAF@example.com",		/* overlong '/' */
		"\xE0\x80\xAF@example.com",	/* overlong */
		"\xED\xA0\x80@example.com",	/* surrogate */
		"\xF4\x90\x80\x80@example.com", /* above U+10FFFF */
		"juliet@example.com/\xC3",
		"juliet@example.com/\x80",
		("juliet@ex\xC3" "ample.com"),
		"juliet@\xE2\x82.com",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_invalid(a, bad[i]);
}

static void embedded_nul_is_refused(void **state)
{
	struct arena *a = *state;
	struct jid j;
	static const char in1[] = "a@b\0c";
	static const char in2[] = "a@b/c\0d";
	static const char in3[] = "a\0@b";
	assert_int_equal(jid_parse(a, in1, sizeof(in1) - 1, &j), -1);
	assert_int_equal(jid_parse(a, in2, sizeof(in2) - 1, &j), -1);
	assert_int_equal(jid_parse(a, in3, sizeof(in3) - 1, &j), -1);
	assert_null(jid_prep_local(a, "a\0b", 3));
	assert_null(jid_prep_domain(a, "a\0b", 3));
	assert_null(jid_prep_resource(a, "a\0b", 3));
	/* A length that stops before the NUL is fine. */
	assert_int_equal(jid_parse(a, in1, 3, &j), 0);
	assert_string_equal(j.full, "a@b");
}

static char *repeat(struct arena *a, char c, size_t n)
{
	char *s = arena_alloc(a, n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void length_limits(void **state)
{
	struct arena *a = *state;
	struct jid j;
	char *s;

	s = arena_printf(a, "%s@example.com", repeat(a, 'a', 1023));
	assert_int_equal(jid_parse_str(a, s, &j), 0);
	assert_int_equal(strlen(j.local), 1023);
	s = arena_printf(a, "%s@example.com", repeat(a, 'a', 1024));
	assert_int_equal(jid_parse_str(a, s, &j), -1);

	s = arena_printf(a, "a@example.com/%s", repeat(a, 'r', 1023));
	assert_int_equal(jid_parse_str(a, s, &j), 0);
	s = arena_printf(a, "a@example.com/%s", repeat(a, 'r', 1024));
	assert_int_equal(jid_parse_str(a, s, &j), -1);

	/* Non-ASCII: 511 two-byte characters fit, 512 do not. */
	char big[1100];
	for (int i = 0; i < 512; i++)
		memcpy(big + 2 * i, "\xC3\xA9", 2);
	assert_non_null(jid_prep_resource(a, big, 1022));
	assert_null(jid_prep_resource(a, big, 1024));
	assert_non_null(jid_prep_local(a, big, 1022));
	assert_null(jid_prep_local(a, big, 1024));

	/* Labels: 63 octets fit, 64 do not. */
	s = arena_printf(a, "%s.example", repeat(a, 'l', 63));
	assert_non_null(jid_prep_domain(a, s, strlen(s)));
	s = arena_printf(a, "%s.example", repeat(a, 'l', 64));
	assert_null(jid_prep_domain(a, s, strlen(s)));

	/* 16 labels of 63 octets and 15 dots: exactly 1023 octets. */
	char dom[1100];
	size_t n = 0;
	for (int i = 0; i < 16; i++) {
		if (i)
			dom[n++] = '.';
		memset(dom + n, 'a' + i, 63);
		n += 63;
	}
	dom[n] = '\0';
	assert_int_equal(n, 1023);
	const char *d = jid_prep_domain(a, dom, n);
	assert_non_null(d);
	assert_int_equal(strlen(d), 1023);
	/* The stripped trailing dot does not count. */
	dom[n] = '.';
	dom[n + 1] = '\0';
	assert_non_null(jid_prep_domain(a, dom, n + 1));
	/* One more octet does. */
	dom[n] = 'x';
	assert_null(jid_prep_domain(a, dom, n + 1));
}

static void domains(void **state)
{
	struct arena *a = *state;
	check_jid(a, "user@CaSe-InSeNsItIvE", "user", "case-insensitive", NULL,
		  "user@case-insensitive");
	check_jid(a, "user@example.com.", "user", "example.com", NULL, "user@example.com");
	check_jid(a, "example.com./r", NULL, "example.com", "r", "example.com/r");
	check_jid(a, "localhost", NULL, "localhost", NULL, "localhost");
	check_jid(a, "a-b.c0m", NULL, "a-b.c0m", NULL, "a-b.c0m");
	check_jid(a, "123.example", NULL, "123.example", NULL, "123.example");
	check_invalid(a, "user@example.com..");
	check_invalid(a, "user@.example.com");
	check_invalid(a, "user@example..com");
	check_invalid(a, "user@exa_mple.com");
	check_invalid(a, "user@-example.com");
	check_invalid(a, "user@example-.com");
	check_invalid(a, "user@exa mple.com");
	check_invalid(a, "user@exa:mple.com");
	check_invalid(a, "user@example.com:5222");
}

static void idn_domains(void **state)
{
	struct arena *a = *state;
	/* Stored as U-labels, case-folded by Nameprep. */
	check_jid(a, "u@B\xC3\xBC" "cher.example", "u", "b\xC3\xBC" "cher.example", NULL,
		  "u@b\xC3\xBC" "cher.example");
	/* An A-label is decoded to its U-label: one domain, one spelling. */
	check_jid(a, "u@xn--bcher-kva.example", "u", "b\xC3\xBC" "cher.example", NULL,
		  "u@b\xC3\xBC" "cher.example");
	check_jid(a, "u@XN--BCHER-KVA.example", "u", "b\xC3\xBC" "cher.example", NULL,
		  "u@b\xC3\xBC" "cher.example");
	/* Full-width letters and ideographic stops fold to ASCII. */
	check_jid(a, "u@\xEF\xBD\x85\xEF\xBD\x98.com", "u", "ex.com", NULL, "u@ex.com");
	check_jid(a, "u@example\xE3\x80\x82" "com", "u", "example.com", NULL, "u@example.com");
	check_jid(a, "u@example\xEF\xBC\x8E" "com", "u", "example.com", NULL, "u@example.com");
	/* Right-to-left and left-to-right labels may share a name. */
	check_jid(a, "u@\xD9\x85\xD8\xAB\xD8\xA7\xD9\x84.example", "u",
		  "\xD9\x85\xD8\xAB\xD8\xA7\xD9\x84.example", NULL,
		  "u@\xD9\x85\xD8\xAB\xD8\xA7\xD9\x84.example");

	/* A symbol is DISALLOWED in IDNA2008. */
	check_invalid(a, "u@\xE2\x99\x9A.example");
	/* Broken or non-canonical A-labels. */
	check_invalid(a, "u@xn--.example");
	check_invalid(a, "u@xn--a.example");
	check_invalid(a, "u@xn--abc-.example");
	check_invalid(a, "u@xn--zca.example");	   /* ß: Nameprep would change it */
	check_invalid(a, "u@xn--example-.com");	   /* decodes to ASCII */
	check_invalid(a, "u@example\xE3\x80\x82"); /* a trailing ideographic stop leaves an empty label */
}

static void ip_literals(void **state)
{
	struct arena *a = *state;
	check_jid(a, "user@192.168.1.1", "user", "192.168.1.1", NULL, "user@192.168.1.1");
	check_jid(a, "192.168.1.1/r", NULL, "192.168.1.1", "r", "192.168.1.1/r");
	check_jid(a, "user@[::1]/r", "user", "[::1]", "r", "user@[::1]/r");
	check_jid(a, "[2001:DB8::1]", NULL, "[2001:db8::1]", NULL, "[2001:db8::1]");
	check_jid(a, "[0:0::0001]", NULL, "[::1]", NULL, "[::1]");
	check_jid(a, "[::ffff:1.2.3.4]", NULL, "[::ffff:1.2.3.4]", NULL, "[::ffff:1.2.3.4]");
	check_invalid(a, "user@1.2.3.256");
	check_invalid(a, "user@01.2.3.4");
	check_invalid(a, "user@1.2.3");
	check_invalid(a, "user@1.2.3.4.5");
	check_invalid(a, "user@example.123");
	check_invalid(a, "user@[::1");
	check_invalid(a, "user@[::1]x");
	check_invalid(a, "user@[]");
	check_invalid(a, "user@[zz::1]");
	check_invalid(a, "user@[1.2.3.4]");
	check_invalid(a, "user@[fe80::1%eth0]");
	check_invalid(a, "user@::1");
}

/* The ASCII fast paths must give what libidn gives, byte for byte. */
static void ascii_fast_path_matches_libidn(void **state)
{
	struct arena *a = *state;
	for (int c = 1; c < 128; c++) {
		char in[4] = {'a', (char)c, 'B', '\0'};
		char ref[64];

		memcpy(ref, in, 4);
		int rc = stringprep(ref, sizeof(ref), 0, stringprep_xmpp_nodeprep);
		const char *got = jid_prep_local(a, in, 3);
		if (rc == STRINGPREP_OK) {
			if (!got)
				fail_msg("nodeprep accepts 0x%02x, fast path refuses", c);
			assert_string_equal(got, ref);
		} else if (got) {
			fail_msg("nodeprep refuses 0x%02x, fast path accepts", c);
		}

		memcpy(ref, in, 4);
		rc = stringprep(ref, sizeof(ref), 0, stringprep_xmpp_resourceprep);
		got = jid_prep_resource(a, in, 3);
		if (rc == STRINGPREP_OK) {
			if (!got)
				fail_msg("resourceprep accepts 0x%02x, fast path refuses", c);
			assert_string_equal(got, ref);
		} else if (got) {
			fail_msg("resourceprep refuses 0x%02x, fast path accepts", c);
		}
	}
}

static void make_prepares_parts(void **state)
{
	struct arena *a = *state;
	struct jid j;
	assert_int_equal(jid_make(a, "Alice", "Example.COM", "Desk Top", &j), 0);
	assert_string_equal(j.full, "alice@example.com/Desk Top");
	assert_string_equal(j.bare, "alice@example.com");
	assert_int_equal(jid_make(a, NULL, "example.com", NULL, &j), 0);
	assert_null(j.local);
	assert_null(j.resource);
	assert_string_equal(j.full, "example.com");
	assert_ptr_equal(j.full, j.bare);
	assert_int_equal(jid_make(a, NULL, "example.com", "r", &j), 0);
	assert_string_equal(j.full, "example.com/r");
	assert_int_equal(jid_make(a, "", "example.com", NULL, &j), -1);
	assert_int_equal(jid_make(a, "a", "example.com", "", &j), -1);
	assert_int_equal(jid_make(a, "a", NULL, NULL, &j), -1);
	assert_int_equal(jid_make(a, "a@b", "example.com", NULL, &j), -1);
	assert_int_equal(jid_make(a, "a", "example.com", "x/y@z", &j), 0);
	assert_string_equal(j.resource, "x/y@z");

	assert_string_equal(jid_prep_local(a, "ABC", 3), "abc");
	assert_string_equal(jid_prep_domain(a, "Example.COM.", 12), "example.com");
	assert_string_equal(jid_prep_resource(a, "ABC", 3), "ABC");
	/* SASLprep-style B.1 mapping to nothing happens in Nodeprep too. */
	assert_string_equal(jid_prep_local(a, "I\xC2\xADX", 4), "ix");
}

static void bare_equal_and_dup(void **state)
{
	struct arena *a = *state;
	struct jid j, k;
	assert_int_equal(jid_parse_str(a, "romeo@example.net/orchard", &j), 0);
	struct jid b = jid_bare(&j);
	assert_true(jid_is_bare(&b));
	assert_string_equal(b.full, "romeo@example.net");
	assert_string_equal(b.local, "romeo");
	assert_ptr_equal(b.domain, j.domain);
	assert_true(jid_bare_equal(&b, &j));
	assert_false(jid_equal(&b, &j));
	assert_int_equal(jid_parse_str(a, "ROMEO@Example.NET/orchard", &k), 0);
	assert_true(jid_equal(&j, &k));

	struct jid *d = jid_dup(&j);
	arena_reset(a);
	assert_string_equal(d->local, "romeo");
	assert_string_equal(d->domain, "example.net");
	assert_string_equal(d->resource, "orchard");
	assert_string_equal(d->bare, "romeo@example.net");
	assert_string_equal(d->full, "romeo@example.net/orchard");
	/* All inside one block. */
	const char *lo = (const char *)d, *hi = lo + sizeof(*d) + 64;
	assert_true(d->full > lo && d->full < hi);
	free(d);

	assert_int_equal(jid_parse_str(a, "example.org", &j), 0);
	d = jid_dup(&j);
	assert_null(d->local);
	assert_null(d->resource);
	assert_string_equal(d->full, "example.org");
	assert_ptr_equal(d->full, d->bare);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(case_folds_except_resource, setup, teardown),
		cmocka_unit_test_setup_teardown(rfc7622_valid_examples, setup, teardown),
		cmocka_unit_test_setup_teardown(rfc7622_invalid_examples, setup, teardown),
		cmocka_unit_test_setup_teardown(rfc6122_differences_are_pinned, setup, teardown),
		cmocka_unit_test_setup_teardown(empty_parts_are_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(split_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(prohibited_characters, setup, teardown),
		cmocka_unit_test_setup_teardown(invalid_utf8_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(embedded_nul_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(length_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(domains, setup, teardown),
		cmocka_unit_test_setup_teardown(idn_domains, setup, teardown),
		cmocka_unit_test_setup_teardown(ip_literals, setup, teardown),
		cmocka_unit_test_setup_teardown(ascii_fast_path_matches_libidn, setup, teardown),
		cmocka_unit_test_setup_teardown(make_prepares_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(bare_equal_and_dup, setup, teardown),
	};
	return cmocka_run_group_tests_name("jid", tests, NULL, NULL);
}
