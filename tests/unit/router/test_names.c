/* Unit tests of the stanza vocabulary (router/stanza.h): the names of the
 * RFC 6120 §8.3.3 error conditions, and stanza types parsed once per kind
 * when a stanza is wrapped, unknown values included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/arena.h"
#include "core/chunk.h"
#include "router/stanza.h"
#include "xml/xml.h"

/* The names are the RFC's element names, one per condition, in its order. */
static void cond_names(void **state)
{
	(void)state;
	static const char *const rfc[] = {
		"bad-request", "conflict", "feature-not-implemented", "forbidden", "gone",
		"internal-server-error", "item-not-found", "jid-malformed", "not-acceptable", "not-allowed",
		"not-authorized", "policy-violation", "recipient-unavailable", "redirect",
		"registration-required", "remote-server-not-found", "remote-server-timeout",
		"resource-constraint", "service-unavailable", "subscription-required", "undefined-condition",
		"unexpected-request",
	};
	assert_int_equal(sizeof(rfc) / sizeof(rfc[0]), STANZA_COND_COUNT);
	for (unsigned c = 0; c < STANZA_COND_COUNT; c++)
		assert_string_equal(stanza_cond_name((enum stanza_cond)c), rfc[c]);
	assert_string_equal(stanza_cond_name(STANZA_ERR_SERVICE_UNAVAILABLE), "service-unavailable");
	assert_string_equal(stanza_cond_name((enum stanza_cond)STANZA_COND_COUNT), "undefined-condition");
}

static void type_names_round_trip(void **state)
{
	(void)state;
	static const struct {
		enum stanza_kind kind;
		const char *name;
		enum stanza_type type;
	} known[] = {
		{STANZA_MESSAGE, "normal", STANZA_TYPE_NORMAL},
		{STANZA_MESSAGE, "chat", STANZA_TYPE_CHAT},
		{STANZA_MESSAGE, "groupchat", STANZA_TYPE_GROUPCHAT},
		{STANZA_MESSAGE, "headline", STANZA_TYPE_HEADLINE},
		{STANZA_MESSAGE, "error", STANZA_TYPE_ERROR},
		{STANZA_PRESENCE, "unavailable", STANZA_TYPE_UNAVAILABLE},
		{STANZA_PRESENCE, "subscribe", STANZA_TYPE_SUBSCRIBE},
		{STANZA_PRESENCE, "subscribed", STANZA_TYPE_SUBSCRIBED},
		{STANZA_PRESENCE, "unsubscribe", STANZA_TYPE_UNSUBSCRIBE},
		{STANZA_PRESENCE, "unsubscribed", STANZA_TYPE_UNSUBSCRIBED},
		{STANZA_PRESENCE, "probe", STANZA_TYPE_PROBE},
		{STANZA_PRESENCE, "error", STANZA_TYPE_ERROR},
		{STANZA_IQ, "get", STANZA_TYPE_GET},
		{STANZA_IQ, "set", STANZA_TYPE_SET},
		{STANZA_IQ, "result", STANZA_TYPE_RESULT},
		{STANZA_IQ, "error", STANZA_TYPE_ERROR},
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		assert_int_equal(stanza_type_parse(known[i].kind, known[i].name), known[i].type);
		assert_string_equal(stanza_type_name(known[i].type), known[i].name);
	}
	/* No wire name: available is the absence of a type. */
	assert_null(stanza_type_name(STANZA_TYPE_UNKNOWN));
	assert_null(stanza_type_name(STANZA_TYPE_AVAILABLE));
	assert_null(stanza_type_name((enum stanza_type)STANZA_TYPE_COUNT));
}

static void type_absent_and_unknown(void **state)
{
	(void)state;
	/* Absent: RFC 6121 §5.2.2 (normal), §4.7.1 (available); an iq
	 * must have one (RFC 6120 §8.2.3). */
	assert_int_equal(stanza_type_parse(STANZA_MESSAGE, NULL), STANZA_TYPE_NORMAL);
	assert_int_equal(stanza_type_parse(STANZA_PRESENCE, NULL), STANZA_TYPE_AVAILABLE);
	assert_int_equal(stanza_type_parse(STANZA_IQ, NULL), STANZA_TYPE_UNKNOWN);
	/* A value of another kind is unknown on this one. */
	assert_int_equal(stanza_type_parse(STANZA_IQ, "chat"), STANZA_TYPE_UNKNOWN);
	assert_int_equal(stanza_type_parse(STANZA_MESSAGE, "get"), STANZA_TYPE_UNKNOWN);
	assert_int_equal(stanza_type_parse(STANZA_MESSAGE, "subscribe"), STANZA_TYPE_UNKNOWN);
	assert_int_equal(stanza_type_parse(STANZA_PRESENCE, "set"), STANZA_TYPE_UNKNOWN);
	assert_int_equal(stanza_type_parse(STANZA_PRESENCE, "headline"), STANZA_TYPE_UNKNOWN);
	/* Not a type anywhere; values are case-sensitive and never trimmed. */
	assert_int_equal(stanza_type_parse(STANZA_PRESENCE, "available"), STANZA_TYPE_UNKNOWN);
	assert_int_equal(stanza_type_parse(STANZA_PRESENCE, ""), STANZA_TYPE_UNKNOWN);
	assert_int_equal(stanza_type_parse(STANZA_MESSAGE, ""), STANZA_TYPE_UNKNOWN);
	assert_int_equal(stanza_type_parse(STANZA_MESSAGE, "Chat"), STANZA_TYPE_UNKNOWN);
	assert_int_equal(stanza_type_parse(STANZA_IQ, "get "), STANZA_TYPE_UNKNOWN);
	assert_int_equal(stanza_type_parse(STANZA_IQ, "bogus"), STANZA_TYPE_UNKNOWN);
}

/* A chunk's bytes are not NUL-terminated: search them by length. */
static bool wire_has(struct stanza *st, const char *needle)
{
	struct chunk *w = stanza_wire(st);
	return memmem(w->data, w->len, needle, strlen(needle)) != NULL;
}

static struct stanza *wrap(const char *xml)
{
	struct arena *a = arena_new();
	struct xml_node *el = xml_parse_fragment(a, xml, strlen(xml));
	assert_non_null(el);
	struct stanza *st = stanza_wrap(a, el);
	assert_non_null(st);
	return st;
}

/* Wrapping parses the type once; copies, thawed stanzas and new ones
 * carry it, and stanza_set_type keeps the field and the attribute equal. */
static void type_follows_the_stanza(void **state)
{
	(void)state;
	struct stanza *st = wrap("<presence xmlns='jabber:client' type='subscribe'/>");
	assert_int_equal(st->type, STANZA_TYPE_SUBSCRIBE);
	struct stanza *c = stanza_copy(st);
	assert_int_equal(c->type, STANZA_TYPE_SUBSCRIBE);
	stanza_set_type(c, STANZA_TYPE_AVAILABLE);
	assert_int_equal(c->type, STANZA_TYPE_AVAILABLE);
	assert_null(xml_node_attr(c->el, "type"));
	stanza_set_type(c, STANZA_TYPE_UNAVAILABLE);
	assert_string_equal(xml_node_attr(c->el, "type"), "unavailable");
	struct stanza_frozen *f = stanza_freeze(c);
	struct stanza *t = stanza_thaw(f);
	assert_int_equal(t->type, STANZA_TYPE_UNAVAILABLE);
	stanza_frozen_free(f);
	stanza_free(t);
	stanza_free(c);
	stanza_free(st);

	/* An unknown value stays unknown and is forwarded as written. */
	st = wrap("<message xmlns='jabber:client' type='whisper'><body>x</body></message>");
	assert_int_equal(st->type, STANZA_TYPE_UNKNOWN);
	assert_false(stanza_is_error(st));
	assert_true(wire_has(st, "type='whisper'"));
	stanza_free(st);

	st = wrap("<iq xmlns='jabber:client' id='1'><ping xmlns='urn:xmpp:ping'/></iq>");
	assert_int_equal(st->type, STANZA_TYPE_UNKNOWN);
	assert_false(stanza_is_request(st));
	stanza_free(st);
	st = wrap("<iq xmlns='jabber:client' id='1' type='set'><ping xmlns='urn:xmpp:ping'/></iq>");
	assert_true(stanza_is_request(st));
	struct stanza *r = stanza_iq_result(st);
	assert_int_equal(r->type, STANZA_TYPE_RESULT);
	assert_false(stanza_is_request(r));
	struct stanza *e = stanza_error(st, ETYPE_MODIFY, STANZA_ERR_BAD_REQUEST, NULL);
	assert_int_equal(e->type, STANZA_TYPE_ERROR);
	assert_true(stanza_is_error(e));
	assert_true(wire_has(e, "<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"));
	stanza_free(e);
	stanza_free(r);
	stanza_free(st);

	static const enum stanza_type untyped[] = {
		[STANZA_MESSAGE] = STANZA_TYPE_NORMAL,
		[STANZA_PRESENCE] = STANZA_TYPE_AVAILABLE,
		[STANZA_IQ] = STANZA_TYPE_UNKNOWN,
	};
	for (unsigned k = STANZA_MESSAGE; k <= STANZA_IQ; k++) {
		st = stanza_new((enum stanza_kind)k);
		assert_int_equal(st->type, untyped[k]);
		stanza_free(st);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cond_names),
		cmocka_unit_test(type_names_round_trip),
		cmocka_unit_test(type_absent_and_unknown),
		cmocka_unit_test(type_follows_the_stanza),
	};
	int r = cmocka_run_group_tests_name("router names", tests, NULL, NULL);
	arena_cache_drain();
	return r;
}
