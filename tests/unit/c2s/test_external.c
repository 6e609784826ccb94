/* Unit tests of the XEP-0178 identity rules (c2s/external.c): which
 * account a verified certificate names, and which rule refuses it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "c2s/internal.h"
#include "core/arena.h"
#include "jid/jid.h"
#include "tls/tls.h"

struct outcome {
	enum sasl_cond cond;
	const char *account;
	bool pin_only;
	const char *why;
};

static struct outcome run(const char **addrs, size_t naddrs, const char **cns, size_t ncns, bool cn_rule,
			  const char *authzid)
{
	static struct arena *a;
	arena_free(a);
	a = arena_new();
	struct tls_cert_ids ids;
	memset(&ids, 0, sizeof(ids));
	ids.xmpp_addrs = addrs;
	ids.nxmpp_addrs = naddrs;
	ids.cns = cns;
	ids.ncns = ncns;
	struct jid acc;
	memset(&acc, 0, sizeof(acc));
	struct outcome o = {0};
	o.cond = c2s_external_identity(a, &ids, "example.org", cn_rule, authzid, &acc, &o.pin_only, &o.why);
	o.account = o.cond == SASL_OK ? acc.bare : NULL;
	return o;
}

static void one_xmppaddr(void **state)
{
	(void)state;
	const char *addrs[] = {"Alice@Example.org"};
	struct outcome o = run(addrs, 1, NULL, 0, true, NULL);
	assert_int_equal(o.cond, SASL_OK);
	assert_string_equal(o.account, "alice@example.org");
	assert_false(o.pin_only);
	o = run(addrs, 1, NULL, 0, true, "alice@example.org");
	assert_int_equal(o.cond, SASL_OK);
	o = run(addrs, 1, NULL, 0, true, "bob@example.org");
	assert_int_equal(o.cond, SASL_INVALID_AUTHZID);
	assert_non_null(strstr(o.why, "not among"));
}

static void two_xmppaddrs_need_authzid(void **state)
{
	(void)state;
	const char *addrs[] = {"alice@example.org", "robot@example.org"};
	struct outcome o = run(addrs, 2, NULL, 0, true, NULL);
	assert_int_equal(o.cond, SASL_INVALID_AUTHZID);
	assert_non_null(strstr(o.why, "2 addresses"));
	o = run(addrs, 2, NULL, 0, true, "robot@example.org");
	assert_int_equal(o.cond, SASL_OK);
	assert_string_equal(o.account, "robot@example.org");
	o = run(addrs, 2, NULL, 0, true, "mallory@example.org");
	assert_int_equal(o.cond, SASL_INVALID_AUTHZID);
}

static void other_domain_is_refused(void **state)
{
	(void)state;
	const char *addrs[] = {"alice@other.test"};
	struct outcome o = run(addrs, 1, NULL, 0, true, NULL);
	assert_int_equal(o.cond, SASL_NOT_AUTHORIZED);
	assert_non_null(strstr(o.why, "other.test"));
	/* naming it explicitly does not help */
	o = run(addrs, 1, NULL, 0, true, "alice@other.test");
	assert_int_equal(o.cond, SASL_NOT_AUTHORIZED);
	const char *cns[] = {"bob@other.test"};
	o = run(NULL, 0, cns, 1, true, NULL);
	assert_int_equal(o.cond, SASL_NOT_AUTHORIZED);
}

static void cn_rules(void **state)
{
	(void)state;
	const char *cn[] = {"Carol"};
	struct outcome o = run(NULL, 0, cn, 1, true, NULL);
	assert_int_equal(o.cond, SASL_OK);
	assert_string_equal(o.account, "carol@example.org");
	o = run(NULL, 0, cn, 1, true, "carol@example.org");
	assert_int_equal(o.cond, SASL_OK);
	o = run(NULL, 0, cn, 1, true, "dave@example.org");
	assert_int_equal(o.cond, SASL_INVALID_AUTHZID);
	const char *cnjid[] = {"carol@example.org"};
	o = run(NULL, 0, cnjid, 1, true, NULL);
	assert_int_equal(o.cond, SASL_OK);
	assert_string_equal(o.account, "carol@example.org");
	const char *bad[] = {"has space"};
	o = run(NULL, 0, bad, 1, true, NULL);
	assert_int_equal(o.cond, SASL_NOT_AUTHORIZED);
	const char *two[] = {"a", "b"};
	o = run(NULL, 0, two, 2, true, NULL);
	assert_int_equal(o.cond, SASL_NOT_AUTHORIZED);
	assert_non_null(strstr(o.why, "several CNs"));
	/* the xmppAddr wins over the CN */
	const char *addrs[] = {"alice@example.org"};
	o = run(addrs, 1, cn, 1, true, NULL);
	assert_string_equal(o.account, "alice@example.org");
}

static void cn_rule_off_or_nothing_needs_pin(void **state)
{
	(void)state;
	const char *cn[] = {"carol"};
	struct outcome o = run(NULL, 0, cn, 1, false, NULL);
	assert_int_equal(o.cond, SASL_NOT_AUTHORIZED);
	assert_non_null(strstr(o.why, "cn_as_username is off"));
	/* no identity at all: whatever the authzid, only a pin can vouch */
	o = run(NULL, 0, NULL, 0, true, NULL);
	assert_int_equal(o.cond, SASL_NOT_AUTHORIZED);
	o = run(NULL, 0, NULL, 0, true, "alice@example.org");
	assert_int_equal(o.cond, SASL_OK);
	assert_true(o.pin_only);
	o = run(NULL, 0, cn, 1, false, "carol@example.org");
	assert_true(o.pin_only);
	o = run(NULL, 0, NULL, 0, true, "alice@other.test");
	assert_int_equal(o.cond, SASL_NOT_AUTHORIZED);
	o = run(NULL, 0, NULL, 0, true, "not a jid@@");
	assert_int_equal(o.cond, SASL_INVALID_AUTHZID);
}

/* Regression: a single CN that is no valid username ("Sensor 7") was
 * refused before rule 3, so a device certificate without an XMPP name
 * could never log in, even for the account that pinned it. */
static void invalid_cn_is_no_identity_a_pin_can_vouch_for(void **state)
{
	(void)state;
	const char *cn[] = {"Sensor 7"};
	struct outcome o = run(NULL, 0, cn, 1, true, NULL);
	assert_int_equal(o.cond, SASL_NOT_AUTHORIZED);
	assert_non_null(strstr(o.why, "'Sensor 7' is not a valid username"));
	o = run(NULL, 0, cn, 1, true, "sensor7@example.org");
	assert_int_equal(o.cond, SASL_OK);
	assert_string_equal(o.account, "sensor7@example.org");
	assert_true(o.pin_only);
	o = run(NULL, 0, cn, 1, true, "sensor7@other.test");
	assert_int_equal(o.cond, SASL_NOT_AUTHORIZED);
	/* a CN of another host is an identity, refused pin or not */
	const char *other[] = {"sensor7@other.test"};
	o = run(NULL, 0, other, 1, true, "sensor7@example.org");
	assert_int_equal(o.cond, SASL_NOT_AUTHORIZED);
	assert_false(o.pin_only);
}

static void malformed_xmppaddr_is_no_identity(void **state)
{
	(void)state;
	/* a resource or no local part is not an account address */
	const char *addrs[] = {"example.org", "alice@example.org/phone"};
	struct outcome o = run(addrs, 2, NULL, 0, true, NULL);
	assert_int_equal(o.cond, SASL_NOT_AUTHORIZED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_xmppaddr),
		cmocka_unit_test(two_xmppaddrs_need_authzid),
		cmocka_unit_test(other_domain_is_refused),
		cmocka_unit_test(cn_rules),
		cmocka_unit_test(cn_rule_off_or_nothing_needs_pin),
		cmocka_unit_test(invalid_cn_is_no_identity_a_pin_can_vouch_for),
		cmocka_unit_test(malformed_xmppaddr_is_no_identity),
	};
	int r = cmocka_run_group_tests_name("c2s_external", tests, NULL, NULL);
	arena_cache_drain();
	return r;
}
