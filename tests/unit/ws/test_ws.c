/*
 * Unit tests of ws/: Sec-WebSocket-Accept (RFC 6455's own example), the
 * token lists of Connection, Upgrade and Sec-WebSocket-Protocol, and the
 * declarations a message must carry to stand alone (RFC 7395 §3.3.3).
 * The connection itself runs in tests/integration/test_websocket.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "http/http.h"
#include "ws/internal.h"

/* http/routes.c is not linked: this binary serves no tables. */
const struct http_route_table *const http_route_tables[] = {NULL};

static struct slice S(const char *s)
{
	return slice_make(s, strlen(s));
}

static void accept_key(void **state)
{
	(void)state;
	char out[WS_ACCEPT_LEN + 1];
	/* RFC 6455 §1.3 */
	assert_true(ws_accept_key(S("dGhlIHNhbXBsZSBub25jZQ=="), out));
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	/* not 16 bytes, not base64, not 24 characters */
	assert_false(ws_accept_key(S("dGhlIHNhbXBsZSBub25jZQ"), out));
	assert_false(ws_accept_key(S("dGhlIHNhbXBsZSBub25jZXg="), out));
	assert_false(ws_accept_key(S("dGhlIHNhbXBsZSBub25j!Q=="), out));
	assert_false(ws_accept_key(S(""), out));
}

static void tokens(void **state)
{
	(void)state;
	assert_true(ws_token_listed(S("Upgrade"), "upgrade", true));
	assert_true(ws_token_listed(S("keep-alive, Upgrade"), "upgrade", true));
	assert_true(ws_token_listed(S(" a ,\tupgrade\t"), "upgrade", true));
	assert_false(ws_token_listed(S("upgrades"), "upgrade", true));
	assert_false(ws_token_listed(S(""), "upgrade", true));
	/* subprotocols are case-sensitive */
	assert_true(ws_token_listed(S("mqtt, xmpp"), "xmpp", false));
	assert_false(ws_token_listed(S("XMPP"), "xmpp", false));
	assert_false(ws_token_listed(S("xmpp2, x mpp"), "xmpp", false));
}

/* The message made from an element as the stream writes it. */
static char *fixed(const char *el)
{
	static char out[512];
	struct buf decl = BUF_INIT;
	size_t at = 0;
	if (!ws_frame_ns_fix(el, strlen(el), "jabber:client", &at, &decl)) {
		snprintf(out, sizeof(out), "%s", el);
	} else {
		assert_true(at <= strlen(el));
		snprintf(out, sizeof(out), "%.*s%s%s", (int)at, el, buf_cstr(&decl), el + at);
	}
	buf_clear(&decl);
	return out;
}

static void namespaces(void **state)
{
	(void)state;
	assert_string_equal(fixed("<message to='a@b'><body>x</body></message>"),
			    "<message xmlns='jabber:client' to='a@b'><body>x</body></message>");
	assert_string_equal(fixed("<presence/>"), "<presence xmlns='jabber:client'/>");
	assert_string_equal(fixed("<iq type='result' id='1'>"), "<iq xmlns='jabber:client' type='result' id='1'>");
	/* a head without its '>' (a broadcast's shared-tail form) */
	assert_string_equal(fixed("<presence from='a@b/c'"), "<presence xmlns='jabber:client' from='a@b/c'");
	/* declared already, anywhere in the start tag */
	assert_string_equal(fixed("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"),
			    "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
	assert_string_equal(fixed("<iq id='x' xmlns=\"jabber:client\"/>"), "<iq id='x' xmlns=\"jabber:client\"/>");
	/* an attribute value that looks like a declaration is a value */
	assert_string_equal(fixed("<message id=\" xmlns='x'\"/>"),
			    "<message xmlns='jabber:client' id=\" xmlns='x'\"/>");
	/* the stream prefix */
	assert_string_equal(fixed("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"),
			    "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
			    "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>");
	assert_string_equal(fixed("<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"),
			    "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
			    "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
	assert_string_equal(fixed("<stream:error xmlns:stream='http://etherx.jabber.org/streams'/>"),
			    "<stream:error xmlns:stream='http://etherx.jabber.org/streams'/>");
	/* other prefixes, and what is no start tag, are left alone */
	assert_string_equal(fixed("<db:result xmlns:db='jabber:server:dialback'/>"),
			    "<db:result xmlns:db='jabber:server:dialback'/>");
	assert_string_equal(fixed("text"), "text");
	assert_string_equal(fixed("<"), "<");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accept_key),
		cmocka_unit_test(tokens),
		cmocka_unit_test(namespaces),
	};
	return cmocka_run_group_tests_name("ws", tests, NULL, NULL);
}
