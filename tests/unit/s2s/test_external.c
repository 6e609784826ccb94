/*
 * Unit tests of s2s/external.c: the domain a peer server's verified
 * certificate authenticates with SASL EXTERNAL (XEP-0178 for servers).
 * The RFC 6125 matching itself is tests/unit/tls/test_names.c's; here the
 * rules around it: which domain is asked for (authzid or header 'from'),
 * what an authzid may be, and that every refusal names its rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/arena.h"
#include "s2s/internal.h"
#include "tls/tls.h"

struct fixture {
	struct arena *a;
	struct tls_cert_ids ids;
	const char *domain, *why;
};

static const char *dns_remote[] = {"remote.example", "*.conf.example"};
static const char *cn_only[] = {"cn.example"};
static const char *xmpp_domain[] = {"addr.example"};
static const char *srv_remote[] = {"_xmpp-server.srv.example"};

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));
	f->a = arena_new();
	f->ids.dns_names = dns_remote;
	f->ids.ndns_names = 2;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	arena_free(f->a);
	test_free(f);
	return 0;
}

static enum sasl_cond run(struct fixture *f, const char *from, const char *authzid, bool allow_cn)
{
	f->domain = f->why = NULL;
	enum sasl_cond c = s2s_external_domain(f->a, &f->ids, from, authzid, allow_cn, &f->domain, &f->why);
	assert_non_null(f->why);
	return c;
}

static void header_from_named_by_dns_id(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, "remote.example", NULL, false), SASL_OK);
	assert_string_equal(f->domain, "remote.example");
	assert_non_null(strstr(f->why, "DNS-ID"));
	/* prepared: case and a trailing dot do not matter */
	assert_int_equal(run(f, "Remote.Example", "", false), SASL_OK);
	assert_string_equal(f->domain, "remote.example");
	/* a wildcard stands for one label */
	assert_int_equal(run(f, "muc.conf.example", NULL, false), SASL_OK);
	assert_int_equal(run(f, "a.b.conf.example", NULL, false), SASL_NOT_AUTHORIZED);
}

static void authzid_equal_to_from_or_alone(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, "remote.example", "remote.example", false), SASL_OK);
	assert_int_equal(run(f, NULL, "remote.example", false), SASL_OK);
	assert_string_equal(f->domain, "remote.example");
}

static void authzid_must_be_a_domain(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, "remote.example", "user@remote.example", false), SASL_INVALID_AUTHZID);
	assert_non_null(strstr(f->why, "is not a domain"));
	assert_int_equal(run(f, "remote.example", "remote.example/res", false), SASL_INVALID_AUTHZID);
	assert_int_equal(run(f, "remote.example", "other.example", false), SASL_INVALID_AUTHZID);
	assert_non_null(strstr(f->why, "differs from the stream header's 'from' remote.example"));
}

static void another_name_is_refused_with_the_reason(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, "b.example", NULL, false), SASL_NOT_AUTHORIZED);
	assert_string_equal(f->domain, "b.example");
	assert_non_null(strstr(f->why, "certificate does not name b.example: "));
}

static void nothing_asked(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, NULL, NULL, false), SASL_NOT_AUTHORIZED);
	assert_null(f->domain);
	assert_non_null(strstr(f->why, "no 'from'"));
	assert_int_equal(run(f, "user@remote.example", NULL, false), SASL_NOT_AUTHORIZED);
	assert_non_null(strstr(f->why, "is not a domain"));
	f->domain = f->why = NULL;
	assert_int_equal(s2s_external_domain(f->a, NULL, "remote.example", NULL, false, &f->domain, &f->why),
			 SASL_NOT_AUTHORIZED);
	assert_string_equal(f->why, "no peer certificate");
}

static void cn_only_with_allow_cn(void **state)
{
	struct fixture *f = *state;
	f->ids.dns_names = NULL;
	f->ids.ndns_names = 0;
	f->ids.cns = cn_only;
	f->ids.ncns = 1;
	assert_int_equal(run(f, "cn.example", NULL, false), SASL_NOT_AUTHORIZED);
	assert_int_equal(run(f, "cn.example", NULL, true), SASL_OK);
	assert_non_null(strstr(f->why, "CN-ID"));
	/* a CN does not count when the certificate has SANs at all */
	f->ids.dns_names = dns_remote;
	f->ids.ndns_names = 2;
	assert_int_equal(run(f, "cn.example", NULL, true), SASL_NOT_AUTHORIZED);
}

static void xmpp_addr_and_srv_id(void **state)
{
	struct fixture *f = *state;
	f->ids.dns_names = NULL;
	f->ids.ndns_names = 0;
	f->ids.xmpp_addrs = xmpp_domain;
	f->ids.nxmpp_addrs = 1;
	f->ids.srv_ids = srv_remote;
	f->ids.nsrv_ids = 1;
	assert_int_equal(run(f, "addr.example", NULL, false), SASL_OK);
	assert_non_null(strstr(f->why, "XmppAddr"));
	assert_int_equal(run(f, "srv.example", NULL, false), SASL_OK);
	assert_non_null(strstr(f->why, "SRV-ID"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(header_from_named_by_dns_id, setup, teardown),
		cmocka_unit_test_setup_teardown(authzid_equal_to_from_or_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(authzid_must_be_a_domain, setup, teardown),
		cmocka_unit_test_setup_teardown(another_name_is_refused_with_the_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(nothing_asked, setup, teardown),
		cmocka_unit_test_setup_teardown(cn_only_with_allow_cn, setup, teardown),
		cmocka_unit_test_setup_teardown(xmpp_addr_and_srv_id, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
