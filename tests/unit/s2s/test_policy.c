/* Unit tests of s2s/policy: the row a domain gets from s2s.allow, s2s.deny,
 * s2s.peers and the global defaults, and the decision for every kind of
 * stream, with the sentences naming the setting that decided. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/config.h"
#include "s2s/policy.h"

#define PIN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define PIN_UPPER "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
#define OTHER "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

static void has(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("'%s' does not contain '%s'", text, needle);
}

static void list_set(struct config_strlist *l, const char *const *items, size_t n)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = n ? xcalloc(n, sizeof(char *)) : NULL;
	l->n = n;
	for (size_t i = 0; i < n; i++)
		l->items[i] = xstrdup(items[i]);
}

static void peer_add(struct config *cfg, const char *domain, int mode, const char *pin)
{
	cfg->s2s.peers = xrealloc(cfg->s2s.peers, (cfg->s2s.npeers + 1) * sizeof(*cfg->s2s.peers));
	cfg->s2s.peers[cfg->s2s.npeers++] = (struct config_s2s_peer){
		.domain = xstrdup(domain), .mode = mode, .pin = pin ? xstrdup(pin) : NULL};
}

static int setup(void **state)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	config_defaults(cfg);
	*state = cfg;
	return 0;
}

static int teardown(void **state)
{
	config_free(*state);
	free(*state);
	return 0;
}

static const struct s2s_peer_tls tls_trusted = {
	.tls = true, .cert = TLS_PEER_CERT_VALID, .names_domain = true, .spki = PIN};
static const struct s2s_peer_tls tls_selfsigned = {
	.tls = true, .cert = TLS_PEER_CERT_INVALID, .cert_reason = "unknown issuer (depth 1)", .spki = PIN};
static const struct s2s_peer_tls tls_other_name = {
	.tls = true, .cert = TLS_PEER_CERT_VALID, .names_domain = false, .spki = PIN};
static const struct s2s_peer_tls tls_no_cert = {.tls = true, .cert = TLS_PEER_CERT_NONE};
static const struct s2s_peer_tls no_tls = {.tls = false};

/* ---- names ---- */

static void mode_names_come_from_one_table(void **state)
{
	(void)state;
	assert_string_equal(s2s_mode_name(S2S_MODE_VERIFY), "verify");
	assert_string_equal(s2s_mode_name(S2S_MODE_SELFSIGNED), "selfsigned");
	assert_string_equal(s2s_mode_name(S2S_MODE_PLAIN), "plain");
	assert_string_equal(s2s_mode_name(S2S_MODE_DENY), "deny");
	assert_string_equal(s2s_mode_name(S2S_MODE_COUNT), "?");
	assert_string_equal(s2s_mode_name((enum s2s_mode)-1), "?");
}

/* ---- lookup ---- */

static void default_row_follows_the_global_settings(void **state)
{
	struct config *cfg = *state;
	struct s2s_policy p;
	s2s_policy_lookup(cfg, "b.example", &p);
	assert_true(p.allowed);
	assert_int_equal(p.mode, S2S_MODE_VERIFY);
	assert_null(p.pin);
	has(p.setting, "s2s.require_tls = true");
	has(p.setting, "s2s.accept_selfsigned = false");

	cfg->s2s.accept_selfsigned = true;
	s2s_policy_lookup(cfg, "b.example", &p);
	assert_int_equal(p.mode, S2S_MODE_SELFSIGNED);
	assert_string_equal(p.setting, "s2s.accept_selfsigned = true");

	/* require_tls = false wins over accept_selfsigned: without TLS there
	 * is no certificate to judge. */
	cfg->s2s.require_tls = false;
	s2s_policy_lookup(cfg, "b.example", &p);
	assert_int_equal(p.mode, S2S_MODE_PLAIN);
	assert_string_equal(p.setting, "s2s.require_tls = false");
}

static void peers_entry_decides_its_domain(void **state)
{
	struct config *cfg = *state;
	cfg->s2s.accept_selfsigned = true;
	peer_add(cfg, "b.example", CONFIG_S2S_VERIFY, NULL);
	peer_add(cfg, "c.example", CONFIG_S2S_DEFAULT, PIN);
	peer_add(cfg, "d.example", CONFIG_S2S_PLAIN, NULL);
	struct s2s_policy p;

	/* Case and a trailing dot do not matter. */
	s2s_policy_lookup(cfg, "B.Example.", &p);
	assert_true(p.allowed);
	assert_int_equal(p.mode, S2S_MODE_VERIFY);
	assert_string_equal(p.setting, "s2s.peers entry for b.example (mode = verify)");

	/* An entry without a mode keeps the default row's, and its pin. */
	s2s_policy_lookup(cfg, "c.example", &p);
	assert_int_equal(p.mode, S2S_MODE_SELFSIGNED);
	assert_string_equal(p.setting, "s2s.accept_selfsigned = true");
	assert_non_null(p.pin);
	assert_string_equal(p.pin, PIN);

	s2s_policy_lookup(cfg, "d.example", &p);
	assert_int_equal(p.mode, S2S_MODE_PLAIN);
	has(p.setting, "(mode = plain)");

	/* Other domains get the default row. */
	s2s_policy_lookup(cfg, "e.example", &p);
	assert_int_equal(p.mode, S2S_MODE_SELFSIGNED);
	assert_null(p.pin);
	/* Not a suffix match. */
	s2s_policy_lookup(cfg, "x.b.example", &p);
	assert_int_equal(p.mode, S2S_MODE_SELFSIGNED);
}

static void allow_and_deny(void **state)
{
	struct config *cfg = *state;
	struct s2s_policy p;
	const char *deny[] = {"Evil.example"};
	list_set(&cfg->s2s.deny, deny, 1);
	s2s_policy_lookup(cfg, "evil.example.", &p);
	assert_false(p.allowed);
	assert_int_equal(p.mode, S2S_MODE_DENY);
	assert_string_equal(p.setting, "s2s.deny");
	s2s_policy_lookup(cfg, "good.example", &p);
	assert_true(p.allowed);

	/* Only listed domains. */
	const char *allow[] = {"b.example", "c.example"};
	list_set(&cfg->s2s.allow, allow, 2);
	s2s_policy_lookup(cfg, "C.EXAMPLE", &p);
	assert_true(p.allowed);
	s2s_policy_lookup(cfg, "good.example", &p);
	assert_false(p.allowed);
	assert_int_equal(p.mode, S2S_MODE_DENY);
	assert_string_equal(p.setting, "s2s.allow (good.example is not listed)");
	/* deny wins over allow. */
	const char *both[] = {"evil.example"};
	list_set(&cfg->s2s.allow, both, 1);
	s2s_policy_lookup(cfg, "evil.example", &p);
	assert_false(p.allowed);
	assert_string_equal(p.setting, "s2s.deny");

	/* An empty allow list turns federation off. */
	list_set(&cfg->s2s.allow, NULL, 0);
	s2s_policy_lookup(cfg, "b.example", &p);
	assert_false(p.allowed);
	assert_string_equal(p.setting, "s2s.allow is empty (federation is off)");

	/* A peers entry does not open a domain that s2s.allow leaves out. */
	peer_add(cfg, "b.example", CONFIG_S2S_SELFSIGNED, NULL);
	s2s_policy_lookup(cfg, "b.example", &p);
	assert_false(p.allowed);
}

static void peers_entry_with_mode_deny(void **state)
{
	struct config *cfg = *state;
	peer_add(cfg, "b.example", CONFIG_S2S_DENY, NULL);
	struct s2s_policy p;
	s2s_policy_lookup(cfg, "b.example", &p);
	assert_false(p.allowed);
	assert_int_equal(p.mode, S2S_MODE_DENY);
	assert_string_equal(p.setting, "s2s.peers entry for b.example (mode = deny)");

	struct s2s_decision d;
	s2s_policy_decide(&p, "b.example", &tls_trusted, true, &d);
	assert_int_equal(d.methods, 0);
	assert_false(d.trusted);
	has(d.why, "federation with b.example is not allowed");
	has(d.why, "s2s.peers entry for b.example (mode = deny)");
}

/* ---- decide ---- */

static void not_allowed_fails_whatever_tls_says(void **state)
{
	struct config *cfg = *state;
	const char *deny[] = {"b.example"};
	list_set(&cfg->s2s.deny, deny, 1);
	struct s2s_policy p;
	struct s2s_decision d;
	s2s_policy_lookup(cfg, "b.example", &p);
	s2s_policy_decide(&p, "b.example", &tls_trusted, true, &d);
	assert_int_equal(d.methods, 0);
	has(d.why, "not allowed: s2s.deny");

	list_set(&cfg->s2s.deny, NULL, 0);
	list_set(&cfg->s2s.allow, NULL, 0);
	s2s_policy_lookup(cfg, "b.example", &p);
	s2s_policy_decide(&p, "b.example", &tls_trusted, true, &d);
	assert_int_equal(d.methods, 0);
	has(d.why, "s2s.allow is empty (federation is off)");

	const char *allow[] = {"c.example"};
	list_set(&cfg->s2s.allow, allow, 1);
	s2s_policy_lookup(cfg, "b.example", &p);
	s2s_policy_decide(&p, "b.example", &tls_trusted, true, &d);
	assert_int_equal(d.methods, 0);
	has(d.why, "s2s.allow (b.example is not listed)");
}

static void trusted_certificate_gets_external_and_dialback(void **state)
{
	struct config *cfg = *state;
	struct s2s_policy p;
	struct s2s_decision d;
	s2s_policy_lookup(cfg, "b.example", &p);
	s2s_policy_decide(&p, "b.example", &tls_trusted, true, &d);
	assert_int_equal(d.methods, S2S_METHOD_EXTERNAL | S2S_METHOD_DIALBACK);
	assert_true(d.trusted);
	assert_string_equal(d.why, "");

	s2s_policy_decide(&p, "b.example", &tls_trusted, false, &d);
	assert_int_equal(d.methods, S2S_METHOD_EXTERNAL);
	assert_true(d.trusted);

	/* Any mode but deny: a trusted certificate is enough. */
	for (enum s2s_mode m = S2S_MODE_VERIFY; m < S2S_MODE_DENY; m++) {
		p.mode = m;
		s2s_policy_decide(&p, "b.example", &tls_trusted, true, &d);
		assert_int_equal(d.methods, S2S_METHOD_EXTERNAL | S2S_METHOD_DIALBACK);
	}
}

static void untrusted_certificate_in_mode_verify_fails(void **state)
{
	struct config *cfg = *state;
	struct s2s_policy p;
	struct s2s_decision d;
	s2s_policy_lookup(cfg, "b.example", &p);
	s2s_policy_decide(&p, "b.example", &tls_selfsigned, true, &d);
	assert_int_equal(d.methods, 0);
	assert_false(d.trusted);
	has(d.why, "certificate from b.example: unknown issuer (depth 1); refused because "
		   "s2s.accept_selfsigned = false");
	has(d.why, "parleyctl trust add --store s2s");
	has(d.why, "set s2s.accept_selfsigned = true");

	/* A valid certificate for another name is not trusted either. */
	s2s_policy_decide(&p, "b.example", &tls_other_name, true, &d);
	assert_int_equal(d.methods, 0);
	assert_false(d.trusted);
	has(d.why, "valid, but it does not name b.example");
	has(d.why, "s2s.accept_selfsigned = false");

	s2s_policy_decide(&p, "b.example", &tls_no_cert, true, &d);
	assert_int_equal(d.methods, 0);
	has(d.why, "b.example presented no certificate");

	/* The entry that asks for verify is named, with its own fix. */
	peer_add(cfg, "b.example", CONFIG_S2S_VERIFY, NULL);
	cfg->s2s.accept_selfsigned = true;
	s2s_policy_lookup(cfg, "b.example", &p);
	s2s_policy_decide(&p, "b.example", &tls_selfsigned, true, &d);
	assert_int_equal(d.methods, 0);
	has(d.why, "certificate from b.example: unknown issuer (depth 1); refused because s2s.peers entry for "
		   "b.example requires a valid certificate (mode = verify); add its CA to s2s.ca "
		   "(parleyctl trust add --store s2s) or set mode = selfsigned");
}

static void untrusted_certificate_with_selfsigned_or_plain_gets_dialback(void **state)
{
	struct config *cfg = *state;
	struct s2s_policy p;
	struct s2s_decision d;
	cfg->s2s.accept_selfsigned = true;
	s2s_policy_lookup(cfg, "b.example", &p);
	s2s_policy_decide(&p, "b.example", &tls_selfsigned, true, &d);
	assert_int_equal(d.methods, S2S_METHOD_DIALBACK);
	assert_false(d.trusted);
	assert_string_equal(d.why, "certificate from b.example: unknown issuer (depth 1); accepted for dialback "
				   "because s2s.accept_selfsigned = true");

	s2s_policy_decide(&p, "b.example", &tls_other_name, true, &d);
	assert_int_equal(d.methods, S2S_METHOD_DIALBACK);
	has(d.why, "does not name b.example; accepted for dialback because s2s.accept_selfsigned = true");

	s2s_policy_decide(&p, "b.example", &tls_no_cert, true, &d);
	assert_int_equal(d.methods, S2S_METHOD_DIALBACK);
	has(d.why, "presented no certificate; accepted for dialback");

	/* Without dialback nothing is left. */
	s2s_policy_decide(&p, "b.example", &tls_selfsigned, false, &d);
	assert_int_equal(d.methods, 0);
	has(d.why, "s2s.dialback = false");
	has(d.why, "s2s.accept_selfsigned = true");

	/* An INVALID verdict without a sentence still makes one. */
	struct s2s_peer_tls t = tls_selfsigned;
	t.cert_reason = NULL;
	s2s_policy_decide(&p, "b.example", &t, true, &d);
	has(d.why, "certificate from b.example: not valid against s2s.ca");

	peer_add(cfg, "c.example", CONFIG_S2S_PLAIN, NULL);
	cfg->s2s.accept_selfsigned = false;
	s2s_policy_lookup(cfg, "c.example", &p);
	s2s_policy_decide(&p, "c.example", &tls_selfsigned, true, &d);
	assert_int_equal(d.methods, S2S_METHOD_DIALBACK);
	has(d.why, "accepted for dialback because s2s.peers entry for c.example (mode = plain)");
}

static void without_tls_only_plain_allows_dialback(void **state)
{
	struct config *cfg = *state;
	struct s2s_policy p;
	struct s2s_decision d;
	s2s_policy_lookup(cfg, "b.example", &p);
	s2s_policy_decide(&p, "b.example", &no_tls, true, &d);
	assert_int_equal(d.methods, 0);
	has(d.why, "the stream with b.example is not encrypted; refused because s2s.require_tls = true");

	/* accept_selfsigned does not drop TLS. */
	cfg->s2s.accept_selfsigned = true;
	s2s_policy_lookup(cfg, "b.example", &p);
	s2s_policy_decide(&p, "b.example", &no_tls, true, &d);
	assert_int_equal(d.methods, 0);
	has(d.why, "s2s.require_tls = true");

	cfg->s2s.require_tls = false;
	s2s_policy_lookup(cfg, "b.example", &p);
	s2s_policy_decide(&p, "b.example", &no_tls, true, &d);
	assert_int_equal(d.methods, S2S_METHOD_DIALBACK);
	assert_false(d.trusted);
	has(d.why, "not encrypted; accepted for dialback because s2s.require_tls = false");
	s2s_policy_decide(&p, "b.example", &no_tls, false, &d);
	assert_int_equal(d.methods, 0);
	has(d.why, "s2s.dialback = false");

	/* An entry asking for TLS is named. */
	peer_add(cfg, "c.example", CONFIG_S2S_SELFSIGNED, NULL);
	s2s_policy_lookup(cfg, "c.example", &p);
	s2s_policy_decide(&p, "c.example", &no_tls, true, &d);
	assert_int_equal(d.methods, 0);
	has(d.why, "s2s.peers entry for c.example requires TLS (mode = selfsigned); set mode = plain");

	/* A TLS-looking verdict on a plain stream is ignored. */
	struct s2s_peer_tls t = tls_trusted;
	t.tls = false;
	s2s_policy_decide(&p, "c.example", &t, true, &d);
	assert_int_equal(d.methods, 0);
	assert_false(d.trusted);
}

static void pin_decides_trust_whatever_the_mode(void **state)
{
	struct config *cfg = *state;
	peer_add(cfg, "b.example", CONFIG_S2S_VERIFY, PIN);
	struct s2s_policy p;
	struct s2s_decision d;
	s2s_policy_lookup(cfg, "b.example", &p);
	assert_string_equal(p.pin, PIN);

	/* A matching key is trusted even when the CA is unknown. */
	s2s_policy_decide(&p, "b.example", &tls_selfsigned, true, &d);
	assert_int_equal(d.methods, S2S_METHOD_EXTERNAL | S2S_METHOD_DIALBACK);
	assert_true(d.trusted);
	assert_string_equal(d.why, "");
	/* ... compared case-insensitively. */
	struct s2s_peer_tls t = tls_selfsigned;
	t.spki = PIN_UPPER;
	s2s_policy_decide(&p, "b.example", &t, false, &d);
	assert_int_equal(d.methods, S2S_METHOD_EXTERNAL);
	assert_true(d.trusted);

	/* Another key fails, even with a valid certificate naming the domain,
	 * and even in a mode that would accept an untrusted one. */
	t = tls_trusted;
	t.spki = OTHER;
	for (enum s2s_mode m = S2S_MODE_VERIFY; m < S2S_MODE_DENY; m++) {
		p.mode = m;
		s2s_policy_decide(&p, "b.example", &t, true, &d);
		assert_int_equal(d.methods, 0);
		assert_false(d.trusted);
		has(d.why, "certificate from b.example: pinned key mismatch (its key's SHA-256 is " OTHER ")");
		has(d.why, "s2s.peers entry for b.example pins " PIN);
	}

	/* No certificate, or no TLS at all, is a mismatch too. */
	p.mode = S2S_MODE_PLAIN;
	s2s_policy_decide(&p, "b.example", &tls_no_cert, true, &d);
	assert_int_equal(d.methods, 0);
	has(d.why, "b.example presented no certificate: pinned key mismatch");
	s2s_policy_decide(&p, "b.example", &no_tls, true, &d);
	assert_int_equal(d.methods, 0);
	has(d.why, "pinned key mismatch");
	has(d.why, "not encrypted");
}

static void long_domains_are_cut_not_overflowed(void **state)
{
	struct config *cfg = *state;
	char domain[1100];
	memset(domain, 'a', sizeof(domain) - 1);
	domain[sizeof(domain) - 1] = '\0';
	const char *allow[] = {"b.example"};
	list_set(&cfg->s2s.allow, allow, 1);
	struct s2s_policy p;
	struct s2s_decision d;
	s2s_policy_lookup(cfg, domain, &p);
	assert_false(p.allowed);
	assert_true(strlen(p.setting) < sizeof(p.setting));
	s2s_policy_decide(&p, domain, &tls_selfsigned, true, &d);
	assert_true(strlen(d.why) < sizeof(d.why));
	has(d.why, "is not allowed");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(mode_names_come_from_one_table),
		T(default_row_follows_the_global_settings),
		T(peers_entry_decides_its_domain),
		T(allow_and_deny),
		T(peers_entry_with_mode_deny),
		T(not_allowed_fails_whatever_tls_says),
		T(trusted_certificate_gets_external_and_dialback),
		T(untrusted_certificate_in_mode_verify_fails),
		T(untrusted_certificate_with_selfsigned_or_plain_gets_dialback),
		T(without_tls_only_plain_allows_dialback),
		T(pin_decides_trust_whatever_the_mode),
		T(long_domains_are_cut_not_overflowed),
	};
	return cmocka_run_group_tests_name("s2s_policy", tests, NULL, NULL);
}
