/*
 * Unit tests of tls/names.c: RFC 6125 server identity matching for XMPP
 * (RFC 6120 §13.7.2, RFC 7590).  One test per rule of tls/names.h: DNS-IDs
 * and their wildcards, SRV-IDs, XmppAddrs, CN-IDs and when they count,
 * IDNA both ways, case, the trailing dot, and inputs that are empty or
 * absurd.  Strings only: no certificate is made here (reading identifiers
 * out of certificates is test_identity.c's).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/names.h"

/* The last verdict, for tests of the reason. */
static struct tls_names_verdict v;

static const struct tls_names_policy server = {.srv_service = "xmpp-server"};
static const struct tls_names_policy server_cn = {.srv_service = "xmpp-server", .allow_cn = true};
static const struct tls_names_policy client = {.srv_service = "xmpp-client"};

static enum tls_id_type match(const char *ref, const struct tls_presented_ids *ids,
			      const struct tls_names_policy *policy)
{
	enum tls_id_type t = tls_names_match(ref, ids, policy, &v);
	assert_int_equal(t, v.type);
	/* Whatever happened, the reason is one printable line. */
	assert_true(strlen(v.reason) > 0);
	assert_true(strlen(v.reason) < sizeof(v.reason));
	for (const char *p = v.reason; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
	return t;
}

static enum tls_id_type dns(const char *ref, const char *id)
{
	const char *a[] = {id};
	const struct tls_presented_ids ids = {.dns_ids = a, .ndns_ids = 1};
	return match(ref, &ids, &server);
}

static enum tls_id_type srv(const char *ref, const char *id, const struct tls_names_policy *p)
{
	const char *a[] = {id};
	const struct tls_presented_ids ids = {.srv_ids = a, .nsrv_ids = 1};
	return match(ref, &ids, p);
}

static enum tls_id_type xmpp(const char *ref, const char *id)
{
	const char *a[] = {id};
	const struct tls_presented_ids ids = {.xmpp_addrs = a, .nxmpp_addrs = 1};
	return match(ref, &ids, &server);
}

static enum tls_id_type cn(const char *ref, const char *id, const struct tls_names_policy *p)
{
	const char *a[] = {id};
	const struct tls_presented_ids ids = {.cn_ids = a, .ncn_ids = 1};
	return match(ref, &ids, p);
}

static void expect_reason(const char *needle)
{
	if (!strstr(v.reason, needle))
		fail_msg("reason \"%s\" should contain \"%s\"", v.reason, needle);
}

/* ---- The names table ---- */

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(tls_id_type_name(TLS_ID_NO_MATCH), "no-match");
	assert_string_equal(tls_id_type_name(TLS_ID_DNS), "DNS-ID");
	assert_string_equal(tls_id_type_name(TLS_ID_SRV), "SRV-ID");
	assert_string_equal(tls_id_type_name(TLS_ID_XMPPADDR), "XmppAddr");
	assert_string_equal(tls_id_type_name(TLS_ID_CN), "CN-ID");
	assert_string_equal(tls_id_type_name((enum tls_id_type)TLS_ID_TYPE_COUNT), "invalid");
	assert_string_equal(tls_id_type_name((enum tls_id_type)-1), "invalid");
}

/* ---- DNS-IDs ---- */

static void test_dns_exact(void **state)
{
	(void)state;
	assert_int_equal(dns("example.com", "example.com"), TLS_ID_DNS);
	expect_reason("DNS-ID \"example.com\" names \"example.com\"");
	assert_int_equal(v.index, 0);
	assert_int_equal(dns("example.com", "example.org"), TLS_ID_NO_MATCH);
	expect_reason("no DNS-ID, SRV-ID or XmppAddr names \"example.com\" (1 DNS-ID, 0 SRV-IDs, "
		      "0 XmppAddrs)");
	/* Whole names only: no suffix, prefix or substring matches. */
	assert_int_equal(dns("example.com", "ample.com"), TLS_ID_NO_MATCH);
	assert_int_equal(dns("example.com", "xexample.com"), TLS_ID_NO_MATCH);
	assert_int_equal(dns("example.com", "example.com.evil.org"), TLS_ID_NO_MATCH);
	assert_int_equal(dns("example.com.evil.org", "example.com"), TLS_ID_NO_MATCH);
	assert_int_equal(dns("a.example.com", "example.com"), TLS_ID_NO_MATCH);
	assert_int_equal(dns("example.com", "a.example.com"), TLS_ID_NO_MATCH);
	assert_int_equal(dns("example.com", "com"), TLS_ID_NO_MATCH);
	/* Single-label names are names. */
	assert_int_equal(dns("localhost", "localhost"), TLS_ID_DNS);
	/* "--" in the third and fourth places: our JID domains allow it. */
	assert_int_equal(dns("ab--cd.example", "AB--CD.example"), TLS_ID_DNS);
}

static void test_dns_case(void **state)
{
	(void)state;
	assert_int_equal(dns("example.com", "EXAMPLE.COM"), TLS_ID_DNS);
	assert_int_equal(dns("ExAmPlE.cOm", "example.com"), TLS_ID_DNS);
	assert_int_equal(dns("a.example.com", "*.EXAMPLE.com"), TLS_ID_DNS);
	assert_int_equal(dns("A.EXAMPLE.COM", "*.example.com"), TLS_ID_DNS);
	assert_int_equal(dns("xn--bcher-kva.example", "XN--BCHER-KVA.EXAMPLE"), TLS_ID_DNS);
}

static void test_dns_wildcard(void **state)
{
	(void)state;
	/* The whole left-most label, for exactly one label. */
	assert_int_equal(dns("a.example.com", "*.example.com"), TLS_ID_DNS);
	expect_reason("DNS-ID \"*.example.com\" names \"a.example.com\"");
	assert_int_equal(dns("xmpp-1.example.com", "*.example.com"), TLS_ID_DNS);
	assert_int_equal(dns("example.com", "*.example.com"), TLS_ID_NO_MATCH);
	assert_int_equal(dns("a.b.example.com", "*.example.com"), TLS_ID_NO_MATCH);
	assert_int_equal(dns("a.example.org", "*.example.com"), TLS_ID_NO_MATCH);
	assert_int_equal(dns("a.b.example.com", "*.b.example.com"), TLS_ID_DNS);
	assert_int_equal(dns("aexample.com", "*.example.com"), TLS_ID_NO_MATCH);

	/* Not the whole label, or not the left-most one: nothing. */
	const char *partial[] = {"f*o.example.com", "*oo.example.com", "fo*.example.com",
				 "a.*.example.com", "*.*.example.com", "**.example.com",
				 "xn--*.example.com", "*xn--bcher-kva.example.com",
				 "example.*",        "*",
				 "*.",               "a*.example.com"};
	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
		if (dns("foo.example.com", partial[i]) != TLS_ID_NO_MATCH)
			fail_msg("%s matched", partial[i]);
		if (dns("a.example.com", partial[i]) != TLS_ID_NO_MATCH)
			fail_msg("%s matched", partial[i]);
		if (dns("example.com", partial[i]) != TLS_ID_NO_MATCH)
			fail_msg("%s matched", partial[i]);
	}
	assert_int_equal(dns("foo.example.com", "f*o.example.com"), TLS_ID_NO_MATCH);
	expect_reason("skipped DNS-ID \"f*o.example.com\": has a wildcard that is not the whole "
		      "left-most label");

	/* Directly above a top-level label: never. */
	assert_int_equal(dns("example.com", "*.com"), TLS_ID_NO_MATCH);
	expect_reason("skipped DNS-ID \"*.com\": is a wildcard directly above a top-level domain");
	assert_int_equal(dns("example.com.", "*.com."), TLS_ID_NO_MATCH);
	assert_int_equal(dns("localhost", "*"), TLS_ID_NO_MATCH);
	/* Without a public suffix list, two labels are the CA's business. */
	assert_int_equal(dns("example.co.uk", "*.co.uk"), TLS_ID_DNS);

	/* A wildcard never stands for an A-label (a U-label reference is
	 * one too, once converted), but may sit above an IDN. */
	assert_int_equal(dns("xn--bcher-kva.example.com", "*.example.com"), TLS_ID_NO_MATCH);
	expect_reason("never stands for an A-label");
	assert_int_equal(dns("b\xc3\xbc"
			     "cher.example.com",
			     "*.example.com"),
			 TLS_ID_NO_MATCH);
	assert_int_equal(dns("a.xn--mnchen-3ya.de", "*.xn--mnchen-3ya.de"), TLS_ID_DNS);
	assert_int_equal(dns("a.m\xc3\xbcnchen.de", "*.xn--mnchen-3ya.de"), TLS_ID_DNS);
	assert_int_equal(dns("a.xn--mnchen-3ya.de", "*.m\xc3\xbcnchen.de"), TLS_ID_DNS);

	/* The reference is never a pattern. */
	assert_int_equal(dns("*.example.com", "*.example.com"), TLS_ID_NO_MATCH);
	expect_reason("the expected name \"*.example.com\" has a wildcard where none may be");
	assert_int_equal(dns("*.example.com", "a.example.com"), TLS_ID_NO_MATCH);
}

/* ---- IDNA ---- */

static void test_idna(void **state)
{
	(void)state;
	const char *u = "b\xc3\xbc"
			"cher.example"; /* bücher.example */
	const char *a = "xn--bcher-kva.example";
	/* U-label reference, A-label identifier; and the reverse. */
	assert_int_equal(dns(u, a), TLS_ID_DNS);
	expect_reason("names \"xn--bcher-kva.example\"");
	assert_int_equal(dns(a, u), TLS_ID_DNS);
	assert_int_equal(dns(u, u), TLS_ID_DNS);
	assert_int_equal(xmpp(a, u), TLS_ID_XMPPADDR);
	assert_int_equal(xmpp(u, a), TLS_ID_XMPPADDR);
	assert_int_equal(srv(a, "_xmpp-server.b\xc3\xbc"
				"cher.example",
			     &server),
			 TLS_ID_SRV);
	assert_int_equal(srv(u, "_xmpp-server.xn--bcher-kva.example", &server), TLS_ID_SRV);
	/* In the reference, upper-case U-labels fold (UTS #46 mapping); in
	 * an identifier only ASCII letters do: the rest must be a U-label
	 * as it is. */
	assert_int_equal(dns("B\xc3\x9c"
			     "CHER.example",
			     a),
			 TLS_ID_DNS);
	assert_int_equal(dns(a, "B\xc3\xbc"
				"CHER.example"),
			 TLS_ID_DNS);
	assert_int_equal(dns(a, "B\xc3\x9c"
				"CHER.example"),
			 TLS_ID_NO_MATCH);
	expect_reason("is not a valid IDNA name");
	/* Non-ASCII scripts. */
	assert_int_equal(dns("\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88",
			     "xn--r8jz45g.xn--zckzah"),
			 TLS_ID_DNS);
	/* An ideographic full stop is a dot in the reference; an identifier
	 * spells its dots as dots. */
	assert_int_equal(dns("b\xc3\xbc"
			     "cher\xe3\x80\x82"
			     "example",
			     a),
			 TLS_ID_DNS);
	assert_int_equal(dns(a, "b\xc3\xbc"
				"cher\xe3\x80\x82"
				"example"),
			 TLS_ID_NO_MATCH);
	/* IDNA2008: ß is not ss (straße.de and strasse.de are two domains). */
	assert_int_equal(dns("stra\xc3\x9f"
			     "e.de",
			     "strasse.de"),
			 TLS_ID_NO_MATCH);
	assert_int_equal(dns("stra\xc3\x9f"
			     "e.de",
			     "xn--strae-oqa.de"),
			 TLS_ID_DNS);
	/* Different IDNs differ. */
	assert_int_equal(dns("b\xc3\xb6"
			     "cher.example",
			     a),
			 TLS_ID_NO_MATCH);
	/* An "xn--" label that is not a valid A-label is skipped, never
	 * compared as plain ASCII. */
	assert_int_equal(dns("xn--garbage.example", "xn--garbage.example"), TLS_ID_NO_MATCH);
	expect_reason("the expected name \"xn--garbage.example\" has an xn-- label that is not a "
		      "valid A-label");
	assert_int_equal(dns("example.com", "xn--garbage.example"), TLS_ID_NO_MATCH);
	expect_reason("skipped DNS-ID \"xn--garbage.example\"");
	/* Invalid UTF-8 or a disallowed code point is not an IDN. */
	assert_int_equal(dns("\xff.example", "\xff.example"), TLS_ID_NO_MATCH);
	expect_reason("is not a valid IDNA name");
	/* Code points that mapping would drop are not dropped from an
	 * identifier (a zero-width space, a soft hyphen). */
	assert_int_equal(dns("example.com", "exa\xe2\x80\x8bmple.com"), TLS_ID_NO_MATCH);
	assert_int_equal(dns("example.com", "exa\xc2\xadmple.com"), TLS_ID_NO_MATCH);
	assert_int_equal(xmpp("example.com", "exa\xe2\x80\x8bmple.com"), TLS_ID_NO_MATCH);
	/* Not NFC: refused, not normalised ("u" + combining diaeresis). */
	assert_int_equal(dns(a, "bu\xcc\x88"
				"cher.example"),
			 TLS_ID_NO_MATCH);

	char out[TLS_NAMES_DNS_MAX + 1];
	const char *why = NULL;
	assert_true(tls_names_alabel(u, out, &why));
	assert_string_equal(out, a);
	assert_true(tls_names_alabel("Example.COM.", out, NULL));
	assert_string_equal(out, "example.com");
	assert_false(tls_names_alabel("a..b", out, &why));
	assert_string_equal(why, "has an empty label");
	assert_string_equal(out, "");
	assert_false(tls_names_alabel(NULL, out, &why));
}

/* ---- The trailing dot ---- */

static void test_trailing_dot(void **state)
{
	(void)state;
	/* One trailing dot, on either side, is the same name. */
	assert_int_equal(dns("example.com.", "example.com"), TLS_ID_DNS);
	assert_int_equal(dns("example.com", "example.com."), TLS_ID_DNS);
	assert_int_equal(dns("example.com.", "example.com."), TLS_ID_DNS);
	assert_int_equal(dns("a.example.com.", "*.example.com"), TLS_ID_DNS);
	assert_int_equal(dns("a.example.com", "*.example.com."), TLS_ID_DNS);
	assert_int_equal(srv("example.com.", "_xmpp-server.example.com", &server), TLS_ID_SRV);
	assert_int_equal(srv("example.com", "_xmpp-server.example.com.", &server), TLS_ID_SRV);
	assert_int_equal(xmpp("example.com.", "example.com"), TLS_ID_XMPPADDR);
	assert_int_equal(xmpp("example.com", "example.com."), TLS_ID_XMPPADDR);
	/* Two are an empty label; a dot alone is nothing. */
	assert_int_equal(dns("example.com..", "example.com"), TLS_ID_NO_MATCH);
	expect_reason("has an empty label");
	assert_int_equal(dns("example.com", "example.com.."), TLS_ID_NO_MATCH);
	assert_int_equal(dns(".", "."), TLS_ID_NO_MATCH);
	assert_int_equal(dns(".example.com", "example.com"), TLS_ID_NO_MATCH);
	assert_int_equal(dns("example.com", ".example.com"), TLS_ID_NO_MATCH);
}

/* ---- SRV-IDs ---- */

static void test_srv_id(void **state)
{
	(void)state;
	assert_int_equal(srv("example.com", "_xmpp-server.example.com", &server), TLS_ID_SRV);
	expect_reason("SRV-ID \"_xmpp-server.example.com\" names \"example.com\"");
	assert_int_equal(srv("example.com", "_XMPP-Server.EXAMPLE.com", &server), TLS_ID_SRV);
	/* NULL policy: a peer server. */
	const char *a[] = {"_xmpp-server.example.com"};
	const struct tls_presented_ids ids = {.srv_ids = a, .nsrv_ids = 1};
	assert_int_equal(tls_names_match("example.com", &ids, NULL, NULL), TLS_ID_SRV);

	/* Another service names nothing for this one. */
	assert_int_equal(srv("example.com", "_xmpp-client.example.com", &server), TLS_ID_NO_MATCH);
	assert_int_equal(tls_names_match("example.com",
					 &(struct tls_presented_ids){
						 .srv_ids = (const char *[]){"_xmpp-client.example.com"},
						 .nsrv_ids = 1},
					 NULL, NULL),
			 TLS_ID_NO_MATCH);
	assert_int_equal(srv("example.com", "_xmpp-client.example.com", &client), TLS_ID_SRV);
	assert_int_equal(srv("example.com", "_xmpp-server.example.com", &client), TLS_ID_NO_MATCH);
	assert_int_equal(srv("example.com", "_xmpp-serverx.example.com", &server), TLS_ID_NO_MATCH);
	assert_int_equal(srv("example.com", "_xmpp.example.com", &server), TLS_ID_NO_MATCH);
	assert_int_equal(srv("example.com", "_xmpps-server.example.com", &server), TLS_ID_NO_MATCH);
	/* No service asked for: no SRV-ID matches. */
	const struct tls_names_policy none = {0};
	assert_int_equal(srv("example.com", "_xmpp-server.example.com", &none), TLS_ID_NO_MATCH);

	/* The domain is compared whole: no wildcards, no subdomains. */
	assert_int_equal(srv("a.example.com", "_xmpp-server.*.example.com", &server),
			 TLS_ID_NO_MATCH);
	expect_reason("SRV-IDs may not have");
	assert_int_equal(srv("a.example.com", "_xmpp-server.example.com", &server), TLS_ID_NO_MATCH);
	assert_int_equal(srv("example.com", "_xmpp-server.a.example.com", &server), TLS_ID_NO_MATCH);
	/* Not SRV-IDs at all. */
	assert_int_equal(srv("example.com", "xmpp-server.example.com", &server), TLS_ID_NO_MATCH);
	expect_reason("is not of the form _service.domain");
	assert_int_equal(srv("example.com", "_.example.com", &server), TLS_ID_NO_MATCH);
	assert_int_equal(srv("example.com", "_xmpp-server", &server), TLS_ID_NO_MATCH);
	assert_int_equal(srv("example.com", "_xmpp-server.", &server), TLS_ID_NO_MATCH);
	/* An SRV-ID is not a DNS-ID, nor the reverse. */
	assert_int_equal(dns("example.com", "_xmpp-server.example.com"), TLS_ID_NO_MATCH);
	assert_int_equal(srv("example.com", "example.com", &server), TLS_ID_NO_MATCH);
}

/* ---- XmppAddrs ---- */

static void test_xmpp_addr(void **state)
{
	(void)state;
	assert_int_equal(xmpp("example.com", "example.com"), TLS_ID_XMPPADDR);
	expect_reason("XmppAddr \"example.com\" names \"example.com\"");
	assert_int_equal(xmpp("example.com", "EXAMPLE.com"), TLS_ID_XMPPADDR);
	/* A JID with a local or resource part is an account, not a server. */
	assert_int_equal(xmpp("example.com", "user@example.com"), TLS_ID_NO_MATCH);
	assert_int_equal(xmpp("example.com", "example.com/resource"), TLS_ID_NO_MATCH);
	assert_int_equal(xmpp("example.com", "@example.com"), TLS_ID_NO_MATCH);
	/* Exact: no subdomains, no wildcards. */
	assert_int_equal(xmpp("a.example.com", "example.com"), TLS_ID_NO_MATCH);
	assert_int_equal(xmpp("example.com", "a.example.com"), TLS_ID_NO_MATCH);
	assert_int_equal(xmpp("a.example.com", "*.example.com"), TLS_ID_NO_MATCH);
	expect_reason("skipped XmppAddr \"*.example.com\": has a wildcard where none may be");
}

/* ---- CN-IDs ---- */

static void test_cn_id(void **state)
{
	(void)state;
	/* Only when allowed... */
	assert_int_equal(cn("example.com", "example.com", &server), TLS_ID_NO_MATCH);
	expect_reason("the certificate has no DNS-ID, SRV-ID or XmppAddr, and CN-IDs are not "
		      "allowed");
	assert_int_equal(cn("example.com", "example.com", &server_cn), TLS_ID_CN);
	expect_reason("CN-ID \"example.com\" names \"example.com\"");
	assert_int_equal(tls_names_match("example.com",
					 &(struct tls_presented_ids){
						 .cn_ids = (const char *[]){"example.com"}, .ncn_ids = 1},
					 NULL, NULL),
			 TLS_ID_NO_MATCH);
	/* ...by the DNS-ID rules, wildcards and IDNA included... */
	assert_int_equal(cn("a.example.com", "*.example.com", &server_cn), TLS_ID_CN);
	assert_int_equal(cn("example.com", "*.example.com", &server_cn), TLS_ID_NO_MATCH);
	assert_int_equal(cn("example.com", "*.com", &server_cn), TLS_ID_NO_MATCH);
	assert_int_equal(cn("xn--bcher-kva.example", "B\xc3\xbc"
						     "cher.example",
			    &server_cn),
			 TLS_ID_CN);
	assert_int_equal(cn("example.com", "Example Corp", &server_cn), TLS_ID_NO_MATCH);
	expect_reason("no CN-ID names \"example.com\"; skipped CN-ID \"Example Corp\"");

	/* ...and only when the certificate has no DNS-ID, SRV-ID or
	 * XmppAddr, even one that does not match (RFC 6125 §6.4.4). */
	const char *cns[] = {"example.com"};
	const char *other_dns[] = {"other.example"};
	const char *client_srv[] = {"_xmpp-client.other.example"};
	const char *user_addr[] = {"user@example.com"};
	struct tls_presented_ids ids = {.cn_ids = cns, .ncn_ids = 1};
	ids.dns_ids = other_dns;
	ids.ndns_ids = 1;
	assert_int_equal(match("example.com", &ids, &server_cn), TLS_ID_NO_MATCH);
	expect_reason("CN-IDs not considered: the certificate has subjectAltNames");
	ids = (struct tls_presented_ids){.cn_ids = cns, .ncn_ids = 1, .srv_ids = client_srv,
					 .nsrv_ids = 1};
	assert_int_equal(match("example.com", &ids, &server_cn), TLS_ID_NO_MATCH);
	ids = (struct tls_presented_ids){.cn_ids = cns, .ncn_ids = 1, .xmpp_addrs = user_addr,
					 .nxmpp_addrs = 1};
	assert_int_equal(match("example.com", &ids, &server_cn), TLS_ID_NO_MATCH);
	/* A SAN that does match wins as itself, never as the CN. */
	const char *good_dns[] = {"example.com"};
	ids = (struct tls_presented_ids){.cn_ids = cns, .ncn_ids = 1, .dns_ids = good_dns,
					 .ndns_ids = 1};
	assert_int_equal(match("example.com", &ids, &server_cn), TLS_ID_DNS);
}

/* ---- Several identifiers ---- */

static void test_order_and_index(void **state)
{
	(void)state;
	const char *dnss[] = {"a.example", "*.com", "example.com", "*.example.com"};
	const char *srvs[] = {"_xmpp-client.example.com", "_xmpp-server.example.com"};
	const char *addrs[] = {"user@example.com", "example.com"};
	const char *cns[] = {"example.com"};
	struct tls_presented_ids ids = {
		.dns_ids = dnss,
		.ndns_ids = 4,
		.srv_ids = srvs,
		.nsrv_ids = 2,
		.xmpp_addrs = addrs,
		.nxmpp_addrs = 2,
		.cn_ids = cns,
		.ncn_ids = 1,
	};
	/* DNS-IDs are tried first, in order; the first match is the one. */
	assert_int_equal(match("example.com", &ids, &server_cn), TLS_ID_DNS);
	assert_int_equal(v.index, 2);
	assert_int_equal(match("x.example.com", &ids, &server_cn), TLS_ID_DNS);
	assert_int_equal(v.index, 3);
	/* Then SRV-IDs, then XmppAddrs. */
	ids.ndns_ids = 1;
	assert_int_equal(match("example.com", &ids, &server_cn), TLS_ID_SRV);
	assert_int_equal(v.index, 1);
	ids.nsrv_ids = 1;
	assert_int_equal(match("example.com", &ids, &server_cn), TLS_ID_XMPPADDR);
	assert_int_equal(v.index, 1);
	ids.nxmpp_addrs = 1;
	assert_int_equal(match("example.com", &ids, &server_cn), TLS_ID_NO_MATCH);
	expect_reason("(1 DNS-ID, 1 SRV-ID, 1 XmppAddr)");
	/* With a bad identifier first, a good one later still matches. */
	const char *mixed[] = {"", "f*o.example.com", "\x01\n", "example.com"};
	ids = (struct tls_presented_ids){.dns_ids = mixed, .ndns_ids = 4};
	assert_int_equal(match("example.com", &ids, &server), TLS_ID_DNS);
	assert_int_equal(v.index, 3);
	/* Without it, the reason names the first one skipped. */
	ids.ndns_ids = 3;
	assert_int_equal(match("example.com", &ids, &server), TLS_ID_NO_MATCH);
	expect_reason("skipped DNS-ID \"\": is empty");
}

/* ---- Empty and absurd inputs ---- */

static void test_bad_references(void **state)
{
	(void)state;
	const char *a[] = {"example.com"};
	const struct tls_presented_ids ids = {.dns_ids = a, .ndns_ids = 1};
	assert_int_equal(tls_names_match(NULL, &ids, &server, &v), TLS_ID_NO_MATCH);
	expect_reason("the expected name is missing");
	const char *bad[] = {"", ".", "..", " ", "example .com", "exa_mple.com", "-example.com",
			     "example-.com", "example.com/", "user@example.com", "192.0.2.1",
			     "[::1]", "::1", "example.123", "a..example.com", "*", "\t"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *ids_bad[] = {bad[i]};
		const struct tls_presented_ids same = {.dns_ids = ids_bad, .ndns_ids = 1,
						       .xmpp_addrs = ids_bad, .nxmpp_addrs = 1,
						       .cn_ids = ids_bad, .ncn_ids = 1};
		/* Not even a certificate naming the same string matches. */
		if (match(bad[i], &same, &server_cn) != TLS_ID_NO_MATCH)
			fail_msg("reference \"%s\" matched", bad[i]);
		if (!strstr(v.reason, "the expected name"))
			fail_msg("reason for \"%s\": %s", bad[i], v.reason);
	}
	assert_int_equal(dns("192.0.2.1", "192.0.2.1"), TLS_ID_NO_MATCH);
	expect_reason("is an IP address, not a domain name");
	/* A digit label that is not the last one is fine. */
	assert_int_equal(dns("123.example", "123.example"), TLS_ID_DNS);

	/* Lengths: 63-octet labels and 253-octet names are the limits. */
	char name[600];
	memset(name, 'a', 63);
	strcpy(name + 63, ".example");
	assert_int_equal(dns(name, name), TLS_ID_DNS);
	memset(name, 'a', 64);
	strcpy(name + 64, ".example");
	assert_int_equal(dns(name, name), TLS_ID_NO_MATCH);
	expect_reason("has a label longer than 63 octets");
	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253. */
	memset(name, 'a', 253);
	name[63] = name[127] = name[191] = '.';
	name[253] = '\0';
	assert_int_equal(dns(name, name), TLS_ID_DNS);
	name[253] = '.';
	name[254] = '\0';
	assert_int_equal(dns(name, name), TLS_ID_DNS); /* 253 and the trailing dot */
	name[253] = 'a';
	assert_int_equal(dns(name, name), TLS_ID_NO_MATCH);
	expect_reason("is longer than a domain name may be");
	/* Absurdly long, in ASCII and in UTF-8: refused before any work. */
	char huge[5000];
	memset(huge, 'a', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	assert_int_equal(dns(huge, huge), TLS_ID_NO_MATCH);
	for (size_t i = 0; i + 2 < sizeof(huge); i += 2)
		memcpy(huge + i, "\xc3\xbc", 2);
	assert_int_equal(dns(huge, "example.com"), TLS_ID_NO_MATCH);
	assert_int_equal(dns("example.com", huge), TLS_ID_NO_MATCH);
	expect_reason("...\": ");
	assert_true(strlen(v.reason) < 300);
	/* Shortened at a character boundary, whatever the offset. */
	huge[0] = 'a';
	assert_int_equal(dns("example.com", huge), TLS_ID_NO_MATCH);
	const char *cut = strstr(v.reason, "...\"");
	assert_non_null(cut);
	assert_int_equal((unsigned char)cut[-1], 0xbc);
	assert_int_equal((unsigned char)cut[-2], 0xc3);
}

static void test_bad_identifiers(void **state)
{
	(void)state;
	/* No identifiers at all. */
	const struct tls_presented_ids empty = {0};
	assert_int_equal(match("example.com", &empty, &server_cn), TLS_ID_NO_MATCH);
	expect_reason("the certificate presents no identifier");
	assert_int_equal(tls_names_match("example.com", NULL, &server_cn, &v), TLS_ID_NO_MATCH);
	expect_reason("the certificate presents no identifier");
	/* NULL entries are skipped. */
	const char *holes[] = {NULL, "example.com"};
	const struct tls_presented_ids with_holes = {.dns_ids = holes, .ndns_ids = 2,
						     .xmpp_addrs = holes, .nxmpp_addrs = 1,
						     .srv_ids = holes, .nsrv_ids = 1,
						     .cn_ids = holes, .ncn_ids = 1};
	assert_int_equal(match("example.com", &with_holes, &server_cn), TLS_ID_DNS);
	assert_int_equal(v.index, 1);
	/* Whitespace, control characters, embedded text. */
	assert_int_equal(dns("example.com", " example.com"), TLS_ID_NO_MATCH);
	assert_int_equal(dns("example.com", "example.com "), TLS_ID_NO_MATCH);
	assert_int_equal(dns("example.com", "example.com\n"), TLS_ID_NO_MATCH);
	/* A name made to break log lines is quoted harmlessly. */
	assert_int_equal(dns("example.com", "evil\n2024-01-01 INFO \"forged\""), TLS_ID_NO_MATCH);
	expect_reason("skipped DNS-ID \"evil?2024-01-01 INFO ?forged?\"");
	/* Out is optional. */
	const char *ok[] = {"example.com"};
	const struct tls_presented_ids one = {.dns_ids = ok, .ndns_ids = 1};
	assert_int_equal(tls_names_match("example.com", &one, &server, NULL), TLS_ID_DNS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_dns_exact),
		cmocka_unit_test(test_dns_case),
		cmocka_unit_test(test_dns_wildcard),
		cmocka_unit_test(test_idna),
		cmocka_unit_test(test_trailing_dot),
		cmocka_unit_test(test_srv_id),
		cmocka_unit_test(test_xmpp_addr),
		cmocka_unit_test(test_cn_id),
		cmocka_unit_test(test_order_and_index),
		cmocka_unit_test(test_bad_references),
		cmocka_unit_test(test_bad_identifiers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
