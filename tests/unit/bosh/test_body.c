/*
 * Unit tests of bosh/body.c: reading request bodies (what is refused and
 * why, the attributes, the children as bytes for the stream) and
 * qualifying the stream's output for a response body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "bosh/internal.h"
#include "core/buf.h"
#include "xml/xml.h"

static const struct xml_limits lim = {
	.stanza_bytes = 4096,
	.header_bytes = 2048,
	.depth = 16,
	.elements = 100,
	.attrs = 32,
	.attr_bytes = 1024,
};

static enum bosh_body_error parse(const char *s, struct bosh_body *b)
{
	const char *why = NULL;
	buf_init(&b->payload);
	enum bosh_body_error e = bosh_body_parse(s, strlen(s), &lim, b, &why);
	if (e != BOSH_BODY_OK)
		assert_non_null(why);
	return e;
}

static void creation_request(void **state)
{
	(void)state;
	struct bosh_body b;
	assert_int_equal(parse("<body content='text/xml; charset=utf-8' hold='1' rid='1573741820' to='localhost' "
			       "ver='1.6' wait='60' ack='1' xml:lang='en' xmpp:version='1.0' "
			       "xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'/>",
			       &b),
			 BOSH_BODY_OK);
	assert_int_equal(b.rid, 1573741820ULL);
	assert_string_equal(b.sid, "");
	assert_true(b.has_hold && b.hold == 1);
	assert_true(b.has_wait && b.wait == 60);
	assert_true(b.has_ack && b.ack == 1);
	assert_string_equal(b.to, "localhost");
	assert_string_equal(b.lang, "en");
	assert_string_equal(b.xmpp_version, "1.0");
	assert_false(b.restart);
	assert_false(b.terminate);
	assert_int_equal(b.payload.len, 0);
	buf_clear(&b.payload);
}

static void children_become_stream_bytes(void **state)
{
	(void)state;
	struct bosh_body b;
	assert_int_equal(parse("<body rid='5' sid='0-abc' xmlns='http://jabber.org/protocol/httpbind'>"
			       "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>"
			       "<message to='b@localhost' xmlns='jabber:client'><body>hi &amp; bye</body></message>"
			       "</body>",
			       &b),
			 BOSH_BODY_OK);
	assert_string_equal(b.sid, "0-abc");
	assert_int_equal(b.rid, 5);
	const char *want = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>"
			   "<message to='b@localhost' xmlns='jabber:client'><body>hi &amp; bye</body></message>";
	assert_int_equal(b.payload.len, strlen(want));
	assert_memory_equal(b.payload.data, want, strlen(want));
	buf_clear(&b.payload);
}

static void restart_and_terminate(void **state)
{
	(void)state;
	struct bosh_body b;
	assert_int_equal(parse("<body rid='6' sid='s' xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh' "
			       "xmlns='http://jabber.org/protocol/httpbind'/>",
			       &b),
			 BOSH_BODY_OK);
	assert_true(b.restart);
	buf_clear(&b.payload);
	assert_int_equal(parse("<body rid='7' sid='s' type='terminate' xmlns='http://jabber.org/protocol/httpbind'>"
			       "<presence type='unavailable' xmlns='jabber:client'/></body>",
			       &b),
			 BOSH_BODY_OK);
	assert_true(b.terminate);
	assert_true(b.payload.len > 0);
	buf_clear(&b.payload);
}

static void refused_bodies(void **state)
{
	(void)state;
	struct bosh_body b;
	assert_int_equal(parse("this is not xml", &b), BOSH_BODY_NOT_XML);
	buf_clear(&b.payload);
	assert_int_equal(parse("<body rid='1' xmlns='http://jabber.org/protocol/httpbind'>", &b), BOSH_BODY_NOT_XML);
	buf_clear(&b.payload);
	assert_int_equal(parse("<body rid='1' xmlns='urn:other'/>", &b), BOSH_BODY_NOT_BODY);
	buf_clear(&b.payload);
	assert_int_equal(parse("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>", &b),
			 BOSH_BODY_NOT_BODY);
	buf_clear(&b.payload);
	assert_int_equal(parse("<body xmlns='http://jabber.org/protocol/httpbind'/>", &b), BOSH_BODY_BAD_ATTR);
	buf_clear(&b.payload);
	assert_int_equal(parse("<body rid='x1' xmlns='http://jabber.org/protocol/httpbind'/>", &b),
			 BOSH_BODY_BAD_ATTR);
	buf_clear(&b.payload);
	assert_int_equal(parse("<body rid='0' xmlns='http://jabber.org/protocol/httpbind'/>", &b), BOSH_BODY_BAD_ATTR);
	buf_clear(&b.payload);
	/* Restricted XML is refused as on a stream. */
	assert_int_equal(parse("<body rid='1' xmlns='http://jabber.org/protocol/httpbind'><!-- c --></body>", &b),
			 BOSH_BODY_NOT_XML);
	buf_clear(&b.payload);
}

static void oversize(void **state)
{
	(void)state;
	struct bosh_body b;
	struct buf big = BUF_INIT;
	buf_append_str(&big, "<body rid='9' sid='1-x' xmlns='http://jabber.org/protocol/httpbind'><message>");
	for (int i = 0; i < 5000; i++)
		buf_append_char(&big, 'a');
	buf_append_str(&big, "</message></body>");
	/* One child over the stanza limit, the body within the total. */
	assert_int_equal(parse(buf_cstr(&big), &b), BOSH_BODY_TOO_LARGE);
	assert_string_equal(b.sid, "1-x");
	buf_clear(&b.payload);
	for (int i = 0; i < 5000; i++)
		buf_append_char(&big, ' ');
	assert_int_equal(parse(buf_cstr(&big), &b), BOSH_BODY_TOO_LARGE);
	assert_string_equal(bosh_body_error_condition(BOSH_BODY_TOO_LARGE), "policy-violation");
	assert_string_equal(bosh_body_error_condition(BOSH_BODY_NOT_XML), "bad-request");
	buf_clear(&b.payload);
	buf_clear(&big);
}

static void qualify(const char *in, const char *want)
{
	struct buf out = BUF_INIT;
	bosh_qualify(&out, in, strlen(in));
	assert_string_equal(buf_cstr(&out), want);
	buf_clear(&out);
}

static void qualify_top_level_only(void **state)
{
	(void)state;
	qualify("<message to='a@b'><body>x</body></message>",
		"<message xmlns='jabber:client' to='a@b'><body>x</body></message>");
	qualify("<iq type='result' id='1'/>", "<iq xmlns='jabber:client' type='result' id='1'/>");
	qualify("<presence/>", "<presence xmlns='jabber:client'/>");
	/* Elements with a namespace of their own and prefixed ones stay. */
	qualify("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
	qualify("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
		"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>");
	/* Several in a row, attributes holding '/' and CDATA with tags. */
	qualify("<message to='a@b/r'><body><![CDATA[<iq>]]></body></message><presence from='c@d/e'/>",
		"<message xmlns='jabber:client' to='a@b/r'><body><![CDATA[<iq>]]></body></message>"
		"<presence xmlns='jabber:client' from='c@d/e'/>");
	qualify("", "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(creation_request),
		cmocka_unit_test(children_become_stream_bytes),
		cmocka_unit_test(restart_and_terminate),
		cmocka_unit_test(refused_bodies),
		cmocka_unit_test(oversize),
		cmocka_unit_test(qualify_top_level_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
