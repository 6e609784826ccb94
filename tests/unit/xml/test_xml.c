/*
 * Unit tests of xml/: namespace interning, the element tree API, the
 * serializer (both the tree path and the raw-bytes path) and the stream
 * parser with its limits and restricted-XML rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/buf.h"
#include "xml/xml.h"

#define STREAM_NS_DECLS "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
#define HDR "<?xml version='1.0'?><stream:stream " STREAM_NS_DECLS " to='example.com' version='1.0'>"

static const struct xml_limits big_limits = {
	.stanza_bytes = 1 << 20,
	.header_bytes = 4096,
	.depth = 64,
	.elements = 10000,
	.attrs = 64,
	.attr_bytes = 8192,
};

/* ---- A handler that records everything --------------------------------- */

enum { KEEP_MAX = 64 };

struct collect {
	struct xml_parser *p;
	struct buf log;      /* every event, serialised */
	bool keep;           /* keep delivered elements (else free them) */
	struct arena *arenas[KEEP_MAX];
	struct xml_node *nodes[KEEP_MAX];
	unsigned n;          /* elements delivered */
	unsigned headers, ends;
	int stop_after;      /* stop in the handler of element #n (-1: never) */
	bool stop_on_header, stop_on_end;
	struct buf hdr_to;   /* the header's `to`, copied during the call */
};

static void c_stream_start(void *ud, const struct xml_node *h)
{
	struct collect *c = ud;
	c->headers++;
	buf_printf(&c->log, "S[{%s}%s", h->ns, h->name);
	for (unsigned i = 0; i < h->nattrs; i++)
		buf_printf(&c->log, " %s=%s", h->attrs[i].name, h->attrs[i].value);
	for (const struct xml_nsdecl *d = h->nsdecls; d; d = d->next)
		buf_printf(&c->log, " xmlns:%s=%s", d->prefix ? d->prefix : "", d->uri);
	buf_printf(&c->log, "]");
	const char *to = xml_node_attr(h, "to");
	buf_reset(&c->hdr_to);
	if (to)
		buf_append_str(&c->hdr_to, to);
	if (c->stop_on_header)
		xml_parser_stop(c->p);
}

static void c_element(void *ud, struct arena *a, struct xml_node *root)
{
	struct collect *c = ud;
	buf_printf(&c->log, "E[");
	struct xml_node *copy = xml_node_copy(a, root);
	xml_serialize(&c->log, copy, XML_NS_CLIENT);
	buf_printf(&c->log, "|");
	if (root->raw)
		buf_printf(&c->log, "%zu:%.*s", root->raw_start_len, (int)root->raw_len, root->raw);
	else
		buf_printf(&c->log, "NULL");
	buf_printf(&c->log, "]");
	if (c->keep && c->n < KEEP_MAX) {
		c->arenas[c->n] = a;
		c->nodes[c->n] = root;
	} else {
		arena_free(a);
	}
	if ((int)c->n == c->stop_after)
		xml_parser_stop(c->p);
	c->n++;
}

static void c_stream_end(void *ud)
{
	struct collect *c = ud;
	c->ends++;
	buf_printf(&c->log, "X");
	if (c->stop_on_end)
		xml_parser_stop(c->p);
}

static const struct xml_parser_handler c_handler = {
	.stream_start = c_stream_start,
	.element = c_element,
	.stream_end = c_stream_end,
};

static void collect_init(struct collect *c, const struct xml_limits *lim, bool keep)
{
	memset(c, 0, sizeof(*c));
	buf_init(&c->log);
	buf_init(&c->hdr_to);
	c->keep = keep;
	c->stop_after = -1;
	c->p = xml_parser_new(lim, &c_handler, c);
}

static void collect_clear(struct collect *c)
{
	for (unsigned i = 0; i < c->n && i < KEEP_MAX; i++) {
		if (c->keep)
			arena_free(c->arenas[i]);
	}
	xml_parser_free(c->p);
	buf_clear(&c->log);
	buf_clear(&c->hdr_to);
	arena_cache_drain();
}

static enum xml_feed feed_str(struct collect *c, const char *s)
{
	size_t consumed;
	enum xml_feed r = xml_parser_feed(c->p, s, strlen(s), &consumed);
	if (r == XML_FEED_OK)
		assert_int_equal(consumed, strlen(s));
	return r;
}

/* Parses `s` whole with `lim` and returns the outcome; *err gets the error. */
static enum xml_feed parse_with(const struct xml_limits *lim, const char *s, size_t len,
				enum xml_error *err, const char **detail_out, unsigned *n)
{
	struct collect c;
	collect_init(&c, lim, false);
	enum xml_feed r = xml_parser_feed(c.p, s, len, NULL);
	const char *detail;
	*err = xml_parser_error(c.p, &detail);
	if (detail_out) {
		static char saved[256];
		snprintf(saved, sizeof(saved), "%s", detail);
		*detail_out = saved;
	}
	if (n)
		*n = c.n;
	collect_clear(&c);
	return r;
}

static void expect_error(const struct xml_limits *lim, const char *s, enum xml_error want,
			 const char *detail_part)
{
	enum xml_error err;
	const char *detail;
	enum xml_feed r = parse_with(lim, s, strlen(s), &err, &detail, NULL);
	if (r != XML_FEED_ERROR || err != want)
		fail_msg("input %s: got feed %d error %d (%s), want error %d", s, r, err, detail,
			 want);
	if (detail_part && !strstr(detail, detail_part))
		fail_msg("detail '%s' lacks '%s'", detail, detail_part);
}

static void expect_ok(const struct xml_limits *lim, const char *s, unsigned want_elements)
{
	enum xml_error err;
	const char *detail;
	unsigned n;
	enum xml_feed r = parse_with(lim, s, strlen(s), &err, &detail, &n);
	if (r != XML_FEED_OK)
		fail_msg("input %s: got feed %d error %d (%s)", s, r, err, detail);
	assert_int_equal(n, want_elements);
}

/* ---- Tree comparison ---------------------------------------------------- */

static bool str_eq0(const char *a, const char *b)
{
	if (!a || !b)
		return (!a || !*a) && (!b || !*b);
	return strcmp(a, b) == 0;
}

static bool tree_eq(const struct xml_node *a, const struct xml_node *b)
{
	if (!a->name != !b->name)
		return false;
	if (!a->name)
		return a->text_len == b->text_len && memcmp(a->text, b->text, a->text_len) == 0;
	if (strcmp(a->name, b->name) != 0 || !str_eq0(a->ns, b->ns) || a->nattrs != b->nattrs)
		return false;
	for (unsigned i = 0; i < a->nattrs; i++) {
		const struct xml_attr *x = &a->attrs[i];
		bool found = false;
		for (unsigned j = 0; j < b->nattrs && !found; j++) {
			const struct xml_attr *y = &b->attrs[j];
			found = strcmp(x->name, y->name) == 0 && str_eq0(x->ns, y->ns) &&
				x->value_len == y->value_len &&
				memcmp(x->value, y->value, x->value_len) == 0;
		}
		if (!found)
			return false;
	}
	const struct xml_node *ca = a->children, *cb = b->children;
	for (; ca && cb; ca = ca->next, cb = cb->next) {
		if (!tree_eq(ca, cb))
			return false;
	}
	return !ca && !cb;
}

/* Parses one serialised element inside a stream of namespace `ns`. */
static struct xml_node *reparse(struct collect *c, const char *ns, const char *xml, size_t len)
{
	char hdr[256];
	snprintf(hdr, sizeof(hdr),
		 "<stream:stream xmlns='%s' xmlns:stream='http://etherx.jabber.org/streams'>", ns);
	collect_init(c, &big_limits, true);
	assert_int_equal(feed_str(c, hdr), XML_FEED_OK);
	if (xml_parser_feed(c->p, xml, len, NULL) != XML_FEED_OK) {
		const char *detail;
		xml_parser_error(c->p, &detail);
		fail_msg("reparse of %.*s: %s", (int)len, xml, detail);
	}
	assert_int_equal(c->n, 1);
	return c->nodes[0];
}

/* Serialises `n` by the raw path and by the tree path for `ns` and checks
 * that both parse back to the same tree. */
static void check_raw_equals_tree(const struct xml_node *n, const char *ns)
{
	assert_non_null(n->raw);
	struct arena *a = arena_new();
	struct xml_node *copy = xml_node_copy(a, n);
	assert_null(copy->raw);
	struct buf raw_out = BUF_INIT, tree_out = BUF_INIT;
	xml_serialize(&raw_out, n, ns);
	xml_serialize(&tree_out, copy, ns);
	struct collect c1, c2;
	struct xml_node *r1 = reparse(&c1, ns, raw_out.data, raw_out.len);
	struct xml_node *r2 = reparse(&c2, ns, tree_out.data, tree_out.len);
	if (!tree_eq(r1, r2))
		fail_msg("raw path %.*s differs from tree path %.*s", (int)raw_out.len,
			 raw_out.data, (int)tree_out.len, tree_out.data);
	collect_clear(&c1);
	collect_clear(&c2);
	buf_clear(&raw_out);
	buf_clear(&tree_out);
	arena_free(a);
}

/* Parses HDR + stanza and returns the first element (kept in c). */
static struct xml_node *parse_one(struct collect *c, const char *hdr, const char *stanza)
{
	collect_init(c, &big_limits, true);
	assert_int_equal(feed_str(c, hdr), XML_FEED_OK);
	if (feed_str(c, stanza) != XML_FEED_OK) {
		const char *detail;
		xml_parser_error(c->p, &detail);
		fail_msg("parse of %s: %s", stanza, detail);
	}
	assert_int_equal(c->n, 1);
	return c->nodes[0];
}

static char *serialize_str(const struct xml_node *n, const char *ns)
{
	struct buf b = BUF_INIT;
	xml_serialize(&b, n, ns);
	return buf_steal(&b);
}

/* ---- Namespaces ------------------------------------------------------- */

static void ns_interning(void **state)
{
	(void)state;
	static const char *const all[] = {
		XML_NS_XML, XML_NS_STREAM, XML_NS_CLIENT, XML_NS_SERVER, XML_NS_STREAMS,
		XML_NS_STANZAS, XML_NS_TLS, XML_NS_SASL, XML_NS_BIND, XML_NS_SESSION,
		XML_NS_ROSTER, XML_NS_ROSTERVER, XML_NS_PRE_APPROVAL, XML_NS_DISCO_INFO,
		XML_NS_DISCO_ITEMS, XML_NS_PING, XML_NS_VERSION, XML_NS_VCARD, XML_NS_PRIVATE,
		XML_NS_BLOCKING, XML_NS_BLOCKING_ERRORS, XML_NS_DELAY, XML_NS_SASL_CB,
		XML_NS_DIALBACK, XML_NS_DIALBACK_FEATURES, XML_NS_CAPS, XML_NS_SM,
		XML_NS_CARBONS, XML_NS_FORWARD, XML_NS_MAM, XML_NS_DATA, XML_NS_FRAMING,
		XML_NS_BOSH, XML_NS_XBOSH,
	};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		char copy[128];
		snprintf(copy, sizeof(copy), "%s", all[i]);
		assert_ptr_equal(xml_ns_intern(copy), all[i]);
		assert_ptr_equal(xml_ns_intern(all[i]), all[i]);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(all[i], all[j]);
	}
	assert_string_equal(XML_NS_CLIENT, "jabber:client");
	assert_string_equal(XML_NS_STREAM, "http://etherx.jabber.org/streams");
	assert_string_equal(XML_NS_DISCO_INFO, "http://jabber.org/protocol/disco#info");
	assert_null(xml_ns_intern("jabber:clien"));
	assert_null(xml_ns_intern("jabber:clientx"));
	assert_null(xml_ns_intern("urn:example:unknown"));
	assert_null(xml_ns_intern(""));
	assert_null(xml_ns_intern(NULL));
}

static void error_conditions(void **state)
{
	(void)state;
#define COND(e) stream_cond_name(xml_error_condition(e))
	assert_string_equal(COND(XML_ERR_NOT_WELL_FORMED), "not-well-formed");
	assert_string_equal(COND(XML_ERR_RESTRICTED), "restricted-xml");
	assert_string_equal(COND(XML_ERR_POLICY), "policy-violation");
	assert_string_equal(COND(XML_ERR_BAD_PREFIX), "bad-namespace-prefix");
	assert_string_equal(COND(XML_ERR_UNSUPPORTED_ENCODING), "unsupported-encoding");
	assert_string_equal(COND(XML_ERR_BAD_FORMAT), "bad-format");
	assert_string_equal(COND(XML_OK), "undefined-condition");
	assert_string_equal(COND((enum xml_error)99), "undefined-condition");
#undef COND
}

/* The names are the RFC 6120 §4.9.3 element names, one per condition:
 * every stream writes them as they are. */
static void stream_cond_names(void **state)
{
	(void)state;
	static const char *const rfc[] = {
		"bad-format", "bad-namespace-prefix", "conflict", "connection-timeout", "host-gone",
		"host-unknown", "improper-addressing", "internal-server-error", "invalid-from",
		"invalid-namespace", "invalid-xml", "not-authorized", "not-well-formed", "policy-violation",
		"remote-connection-failed", "reset", "resource-constraint", "restricted-xml", "see-other-host",
		"system-shutdown", "undefined-condition", "unsupported-encoding", "unsupported-feature",
		"unsupported-stanza-type", "unsupported-version",
	};
	assert_int_equal(sizeof(rfc) / sizeof(rfc[0]), STREAM_COND_COUNT);
	for (unsigned c = 0; c < STREAM_COND_COUNT; c++)
		assert_string_equal(stream_cond_name((enum stream_cond)c), rfc[c]);
	assert_string_equal(stream_cond_name(STREAM_ERR_SEE_OTHER_HOST), "see-other-host");
	assert_string_equal(stream_cond_name((enum stream_cond)STREAM_COND_COUNT), "undefined-condition");
}

/* ---- Parsing a client stream ------------------------------------------ */

static const char client_stream[] =
	HDR
	"<presence/>"
	"\n  \r\n\t"
	"<message to='juliet@example.com/balcony' type='chat' xml:lang='en' id='m&amp;1'>"
	"<body>Art thou not Romeo,\r\nand a Montague? &lt;&gt;&amp;&apos;&quot; "
	"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80<![CDATA[ <raw> & ]]>&#x41;</body>"
	"<thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>"
	"</message> "
	"<iq type='get' id='roster_1'><query xmlns='jabber:iq:roster' ver='ver7'/></iq>"
	"<iq type='set' id='x'><item xmlns='urn:example:ext' a='1'><sub b='2'>t</sub>"
	"<other xmlns='jabber:client'/></item></iq>"
	" "
	"<message xmlns:ex='urn:example:p'><ex:data ex:k='v'>d</ex:data></message>"
	"</stream:stream>";

static void parse_client_stream(void **state)
{
	(void)state;
	struct collect c;
	collect_init(&c, &big_limits, true);
	assert_int_equal(feed_str(&c, client_stream), XML_FEED_OK);
	assert_int_equal(c.headers, 1);
	assert_int_equal(c.ends, 1);
	assert_int_equal(c.n, 5);
	assert_string_equal(buf_cstr(&c.hdr_to), "example.com");

	struct xml_node *pres = c.nodes[0];
	assert_string_equal(pres->name, "presence");
	assert_ptr_equal(pres->ns, XML_NS_CLIENT);
	assert_null(pres->children);
	assert_null(pres->parent);

	struct xml_node *msg = c.nodes[1];
	assert_ptr_equal(msg->ns, XML_NS_CLIENT);
	assert_string_equal(xml_node_attr(msg, "to"), "juliet@example.com/balcony");
	assert_string_equal(xml_node_attr(msg, "id"), "m&1");
	assert_null(xml_node_attr(msg, "lang"));
	assert_string_equal(xml_node_attr_ns(msg, XML_NS_XML, "lang"), "en");
	assert_ptr_equal(msg->attrs[2].ns, XML_NS_XML);
	struct xml_node *body = xml_node_child(msg, XML_NS_CLIENT, "body");
	assert_non_null(body);
	assert_ptr_equal(body->ns, XML_NS_CLIENT);
	/* One text node however expat split it (CR LF, references, CDATA). */
	assert_non_null(body->children);
	assert_ptr_equal(body->children, body->last_child);
	assert_null(body->children->name);
	const char *want = "Art thou not Romeo,\nand a Montague? <>&'\" "
			   "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80 <raw> & A";
	assert_string_equal(body->children->text, want);
	assert_int_equal(body->children->text_len, strlen(want));
	assert_string_equal(xml_node_text(c.arenas[1], body), want);
	assert_non_null(xml_node_child(msg, NULL, "thread"));
	assert_int_equal(xml_node_count_elements(msg), 2);

	struct xml_node *iq = c.nodes[2];
	struct xml_node *q = xml_node_first_element(iq);
	assert_string_equal(q->name, "query");
	assert_ptr_equal(q->ns, XML_NS_ROSTER);
	assert_ptr_equal(xml_node_child(iq, XML_NS_ROSTER, "query"), q);
	assert_null(xml_node_child(iq, XML_NS_CLIENT, "query"));
	assert_string_equal(q->nsdecls->uri, XML_NS_ROSTER);
	assert_null(q->nsdecls->prefix);

	struct xml_node *item = xml_node_first_element(c.nodes[3]);
	assert_string_equal(item->ns, "urn:example:ext");
	struct xml_node *sub = xml_node_first_element(item);
	assert_ptr_equal(sub->ns, item->ns); /* one copy per subtree */
	assert_ptr_equal(xml_node_next(sub, NULL, NULL)->ns, XML_NS_CLIENT);
	assert_null(xml_node_next(sub, "urn:example:ext", NULL));
	assert_non_null(xml_node_next(sub, XML_NS_CLIENT, "other"));

	struct xml_node *data = xml_node_first_element(c.nodes[4]);
	assert_string_equal(data->ns, "urn:example:p");
	assert_string_equal(xml_node_attr_ns(data, "urn:example:p", "k"), "v");
	assert_null(xml_node_attr(data, "k"));
	assert_non_null(c.nodes[4]->raw); /* prefix declared inside */

	assert_int_equal(xml_parser_buffered(c.p), 0);
	collect_clear(&c);
}

static void reference_log(struct buf *out, const char *s, size_t len)
{
	struct collect c;
	collect_init(&c, &big_limits, false);
	assert_int_equal(xml_parser_feed(c.p, s, len, NULL), XML_FEED_OK);
	buf_append(out, c.log.data, c.log.len);
	collect_clear(&c);
}

static void split_at_every_byte(void **state)
{
	(void)state;
	const char *s = client_stream;
	size_t len = strlen(s);
	struct buf ref = BUF_INIT;
	reference_log(&ref, s, len);
	assert_non_null(strstr(buf_cstr(&ref), "E[<presence/>|11:<presence/>]"));

	for (size_t i = 0; i <= len; i++) {
		struct collect c;
		collect_init(&c, &big_limits, false);
		assert_int_equal(xml_parser_feed(c.p, s, i, NULL), XML_FEED_OK);
		assert_int_equal(xml_parser_feed(c.p, s + i, len - i, NULL), XML_FEED_OK);
		if (c.log.len != ref.len || memcmp(c.log.data, ref.data, ref.len) != 0)
			fail_msg("split at %zu: %.*s", i, (int)c.log.len, c.log.data);
		collect_clear(&c);
	}
	/* Byte by byte, and in three pieces around every stanza. */
	struct collect c;
	collect_init(&c, &big_limits, false);
	for (size_t i = 0; i < len; i++) {
		assert_int_equal(xml_parser_feed(c.p, s + i, 1, NULL), XML_FEED_OK);
		assert_true(xml_parser_buffered(c.p) < 300);
	}
	assert_int_equal(c.log.len, ref.len);
	assert_memory_equal(c.log.data, ref.data, ref.len);
	collect_clear(&c);
	for (size_t i = 0; i <= len; i += 7) {
		for (size_t j = i; j <= len; j += 13) {
			collect_init(&c, &big_limits, false);
			assert_int_equal(xml_parser_feed(c.p, s, i, NULL), XML_FEED_OK);
			assert_int_equal(xml_parser_feed(c.p, s + i, j - i, NULL), XML_FEED_OK);
			assert_int_equal(xml_parser_feed(c.p, s + j, len - j, NULL), XML_FEED_OK);
			assert_int_equal(c.log.len, ref.len);
			assert_memory_equal(c.log.data, ref.data, ref.len);
			collect_clear(&c);
		}
	}
	buf_clear(&ref);
}

/* ---- Raw bytes ----------------------------------------------------------- */

static void raw_bytes_are_exact(void **state)
{
	(void)state;
	const char *stanzas[] = {
		"<message to='a@b' type=\"chat\"  >\r\n<body>x &amp; y</body>\n</message>",
		"<presence/>",
		"<presence xml:lang='de' />",
		"<iq id='1'><q xmlns='urn:x'><a xmlns:p='urn:p'><p:b/></a></q></iq>",
	};
	const size_t start_lens[] = {32, 11, 26, 11};
	for (size_t i = 0; i < sizeof(stanzas) / sizeof(stanzas[0]); i++) {
		struct collect c;
		struct xml_node *n = parse_one(&c, HDR "  ", stanzas[i]);
		assert_non_null(n->raw);
		assert_int_equal(n->raw_len, strlen(stanzas[i]));
		assert_memory_equal(n->raw, stanzas[i], n->raw_len);
		assert_int_equal(n->raw_start_len, start_lens[i]);
		check_raw_equals_tree(n, XML_NS_CLIENT);
		check_raw_equals_tree(n, XML_NS_SERVER);
		collect_clear(&c);
	}
}

#define HDR_FOO                                                                        \
	"<stream:stream " STREAM_NS_DECLS " xmlns:foo='urn:foo'>"

static void raw_null_with_outside_prefixes(void **state)
{
	(void)state;
	static const struct {
		const char *stanza;
		bool raw;
	} cases[] = {
		{"<message><foo:x/></message>", false},
		{"<message foo:a='1'/>", false},
		{"<message><x foo:a='1'/></message>", false},
		{"<message><a xmlns:foo='urn:other'/><foo:x/></message>", false},
		{"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
		 false},
		{"<foo:message xmlns:foo='urn:foo'/>", false},
		{"<message><x:y xmlns:x='urn:x'/></message>", true},
		{"<message xmlns:foo='urn:mine'><foo:x foo:a='1'/></message>", true},
		{"<message><a xmlns:foo='urn:other'><foo:x/></a></message>", true},
		{"<message xml:lang='en'><body xml:lang='fr'>x</body></message>", true},
		{"<message><body xmlns='jabber:client'>x</body></message>", false},
		{"<message><f xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/></f></message>",
		 true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct collect c;
		struct xml_node *n = parse_one(&c, HDR_FOO, cases[i].stanza);
		if ((n->raw != NULL) != cases[i].raw)
			fail_msg("%s: raw %s", cases[i].stanza, n->raw ? "kept" : "NULL");
		if (n->raw) {
			check_raw_equals_tree(n, XML_NS_CLIENT);
			check_raw_equals_tree(n, XML_NS_SERVER);
		}
		collect_clear(&c);
	}
}

/* ---- Limits -------------------------------------------------------------- */

static void limit_stanza_bytes(void **state)
{
	(void)state;
	const char *stanza = "<message to='a@b'><body>0123456789</body></message>";
	size_t slen = strlen(stanza);
	struct xml_limits lim = big_limits;
	char buf[512];

	lim.stanza_bytes = slen;
	snprintf(buf, sizeof(buf), HDR "%s%s", stanza, stanza);
	expect_ok(&lim, buf, 2);
	/* Whitespace before a stanza counts toward it. */
	snprintf(buf, sizeof(buf), HDR " %s", stanza);
	expect_error(&lim, buf, XML_ERR_POLICY, "stanza over");
	lim.stanza_bytes = slen + 1;
	expect_ok(&lim, buf, 1);

	lim.stanza_bytes = slen - 1;
	snprintf(buf, sizeof(buf), HDR "%s", stanza);
	char want[64];
	snprintf(want, sizeof(want), "stanza over %zu bytes", slen - 1);
	expect_error(&lim, buf, XML_ERR_POLICY, want);

	/* Expat is never handed a byte past the limit. */
	struct collect c;
	collect_init(&c, &lim, false);
	snprintf(buf, sizeof(buf), HDR "%s<presence/>", stanza);
	size_t consumed = 0;
	assert_int_equal(xml_parser_feed(c.p, buf, strlen(buf), &consumed), XML_FEED_ERROR);
	assert_int_equal(consumed, strlen(HDR) + slen - 1);
	assert_int_equal(c.n, 0);
	collect_clear(&c);

	/* Byte by byte: exactly at the limit passes, one over fails. */
	for (int over = 0; over <= 1; over++) {
		lim.stanza_bytes = slen - (size_t)over;
		collect_init(&c, &lim, false);
		snprintf(buf, sizeof(buf), HDR "%s%s", stanza, stanza);
		enum xml_feed r = XML_FEED_OK;
		for (size_t i = 0; buf[i] && r == XML_FEED_OK; i++)
			r = xml_parser_feed(c.p, buf + i, 1, NULL);
		assert_int_equal(r, over ? XML_FEED_ERROR : XML_FEED_OK);
		assert_int_equal(c.n, over ? 0 : 2);
		collect_clear(&c);
	}

	/* The end tag of the stream counts toward the next stanza. */
	lim.stanza_bytes = strlen("</stream:stream>");
	expect_ok(&lim, HDR "</stream:stream>", 0);
	lim.stanza_bytes--;
	expect_error(&lim, HDR "</stream:stream>", XML_ERR_POLICY, "stanza over");
}

static void limit_header_bytes(void **state)
{
	(void)state;
	struct xml_limits lim = big_limits;
	lim.header_bytes = strlen(HDR);
	expect_ok(&lim, HDR "<presence/>", 1);
	lim.header_bytes--;
	char want[64];
	snprintf(want, sizeof(want), "stream header over %zu bytes", lim.header_bytes);
	expect_error(&lim, HDR "<presence/>", XML_ERR_POLICY, want);
	/* Split: the limit holds across feeds too. */
	struct collect c;
	collect_init(&c, &lim, false);
	assert_int_equal(xml_parser_feed(c.p, HDR, 10, NULL), XML_FEED_OK);
	size_t consumed;
	assert_int_equal(xml_parser_feed(c.p, HDR + 10, strlen(HDR) - 10, &consumed),
			 XML_FEED_ERROR);
	assert_int_equal(consumed, strlen(HDR) - 11);
	assert_int_equal(c.headers, 0);
	collect_clear(&c);
}

static void limit_depth(void **state)
{
	(void)state;
	struct xml_limits lim = big_limits;
	lim.depth = 3;
	expect_ok(&lim, HDR "<message><a><b/></a></message><iq><a/><b><c/></b></iq>", 2);
	expect_error(&lim, HDR "<message><a><b><c/></b></a></message>", XML_ERR_POLICY,
		     "element depth over 3");
	lim.depth = 1;
	expect_ok(&lim, HDR "<presence/>", 1);
	expect_error(&lim, HDR "<presence><a/></presence>", XML_ERR_POLICY, "depth");
}

static void limit_elements(void **state)
{
	(void)state;
	struct xml_limits lim = big_limits;
	lim.elements = 3;
	expect_ok(&lim, HDR "<message><a/><b/></message><message><a><b/></a></message>", 2);
	expect_error(&lim, HDR "<message><a/><b/><c/></message>", XML_ERR_POLICY,
		     "stanza over 3 elements");
}

static void limit_attrs(void **state)
{
	(void)state;
	struct xml_limits lim = big_limits;
	const char *hdr2 = "<stream:stream " STREAM_NS_DECLS ">";
	char buf[512];
	lim.attrs = 2;
	snprintf(buf, sizeof(buf), "%s<message a='1' b='2'/>", hdr2);
	expect_ok(&lim, buf, 1);
	snprintf(buf, sizeof(buf), "%s<message a='1' b='2' c='3'/>", hdr2);
	expect_error(&lim, buf, XML_ERR_POLICY, "element over 2 attributes");
	/* Namespace declarations count. */
	snprintf(buf, sizeof(buf), "%s<message xmlns='jabber:client' a='1'/>", hdr2);
	expect_ok(&lim, buf, 1);
	snprintf(buf, sizeof(buf), "%s<message xmlns='jabber:client' a='1' b='2'/>", hdr2);
	expect_error(&lim, buf, XML_ERR_POLICY, "attributes");
	snprintf(buf, sizeof(buf), "%s<message xmlns:a='urn:a' xmlns:b='urn:b' xmlns:c='urn:c'/>",
		 hdr2);
	expect_error(&lim, buf, XML_ERR_POLICY, "attributes");
	/* The stream header is held to it as well. */
	expect_error(&lim, HDR, XML_ERR_POLICY, "attributes");
}

static void limit_attr_bytes(void **state)
{
	(void)state;
	struct xml_limits lim = big_limits;
	lim.attr_bytes = 40; /* the stream namespace URI has 32 */
	char v40[41], buf[512];
	memset(v40, 'v', 40);
	v40[40] = '\0';
	snprintf(buf, sizeof(buf), HDR "<message id='%s'/>", v40);
	expect_ok(&lim, buf, 1);
	snprintf(buf, sizeof(buf), HDR "<message id='%sv'/>", v40);
	expect_error(&lim, buf, XML_ERR_POLICY, "attribute value over 40 bytes");
	/* Counted unescaped: 40 references are 40 bytes. */
	struct buf b = BUF_INIT;
	buf_append_str(&b, HDR "<message id='");
	for (int i = 0; i < 40; i++)
		buf_append_str(&b, "&amp;");
	buf_append_str(&b, "'/>");
	expect_ok(&lim, buf_cstr(&b), 1);
	buf_clear(&b);
	/* Namespace URIs are attribute values too. */
	snprintf(buf, sizeof(buf), HDR "<message><x xmlns='urn:%s'/></message>", v40);
	expect_error(&lim, buf, XML_ERR_POLICY, "attribute value over");
}

static const struct xml_limits server_limits = {
	.stanza_bytes = 262144,
	.header_bytes = 4096,
	.depth = 64,
	.elements = 10000,
	.attrs = 64,
	.attr_bytes = 3072,
};

static void deep_nesting_fails_fast(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	buf_append_str(&b, HDR "<message>");
	for (int i = 0; i < 5000; i++)
		buf_append_str(&b, "<a>");
	for (int i = 0; i < 5000; i++)
		buf_append_str(&b, "</a>");
	buf_append_str(&b, "</message>");
	clock_t t0 = clock();
	expect_error(&server_limits, buf_cstr(&b), XML_ERR_POLICY, "element depth over 64");

	/* Fed in pieces, it fails at the same point and keeps little. */
	struct collect c;
	collect_init(&c, &server_limits, false);
	enum xml_feed r = XML_FEED_OK;
	size_t off = 0, max_buffered = 0;
	while (off < b.len && r == XML_FEED_OK) {
		size_t n = b.len - off < 100 ? b.len - off : 100;
		r = xml_parser_feed(c.p, b.data + off, n, NULL);
		if (xml_parser_buffered(c.p) > max_buffered)
			max_buffered = xml_parser_buffered(c.p);
		off += n;
	}
	assert_int_equal(r, XML_FEED_ERROR);
	assert_true(off <= 400);
	assert_true(max_buffered < 400);
	assert_int_equal(xml_parser_buffered(c.p), 0);
	collect_clear(&c);
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 1.0);
	buf_clear(&b);
}

static void many_children_fail_fast(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	buf_append_str(&b, HDR "<message>");
	for (int i = 0; i < 30000; i++)
		buf_append_str(&b, "<a/>");
	buf_append_str(&b, "</message>");
	assert_true(b.len < server_limits.stanza_bytes);
	clock_t t0 = clock();
	expect_error(&server_limits, buf_cstr(&b), XML_ERR_POLICY, "stanza over 10000 elements");
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 1.0);
	buf_clear(&b);
}

static void limits_change_between_stanzas(void **state)
{
	(void)state;
	struct xml_limits small = big_limits;
	small.stanza_bytes = 20;
	struct collect c;
	collect_init(&c, &small, false);
	assert_int_equal(feed_str(&c, HDR "<presence/>"), XML_FEED_OK);
	xml_parser_set_limits(c.p, &big_limits);
	assert_int_equal(feed_str(&c, "<message><body>longer than twenty</body></message>"),
			 XML_FEED_OK);
	assert_int_equal(c.n, 2);
	xml_parser_set_limits(c.p, &small);
	assert_int_equal(feed_str(&c, "<message><body>longer than twenty</body></message>"),
			 XML_FEED_ERROR);
	collect_clear(&c);
}

/* ---- Restricted and malformed XML ------------------------------------------ */

static void restricted_xml(void **state)
{
	(void)state;
	expect_error(&big_limits,
		     "<?xml version='1.0'?>\n<!DOCTYPE lolz [\n"
		     " <!ENTITY lol 'lol'>\n"
		     " <!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n"
		     " <!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>\n"
		     " <!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>\n"
		     "]>\n<stream:stream " STREAM_NS_DECLS ">&lol3;",
		     XML_ERR_RESTRICTED, "DOCTYPE");
	expect_error(&big_limits, "<!DOCTYPE stream SYSTEM 'http://x/'><stream:stream/>",
		     XML_ERR_RESTRICTED, "DOCTYPE");
	expect_error(&big_limits, HDR "<message><?php echo 1; ?></message>", XML_ERR_RESTRICTED,
		     "processing instruction");
	expect_error(&big_limits, "<?foo?>" HDR, XML_ERR_RESTRICTED, "processing instruction");
	expect_error(&big_limits, HDR "<!-- hi -->", XML_ERR_RESTRICTED, "comment");
	expect_error(&big_limits, HDR "<message><!-- hi --></message>", XML_ERR_RESTRICTED,
		     "comment");
	expect_error(&big_limits, "<!-- hi -->" HDR, XML_ERR_RESTRICTED, "comment");
	expect_error(&big_limits, HDR "<message><body>&lol;</body></message>", XML_ERR_RESTRICTED,
		     NULL);
	/* Character references and the predefined entities are fine. */
	expect_ok(&big_limits, HDR "<message><body>&#65;&#x42;&lt;&gt;&amp;&apos;&quot;</body></message>",
		  1);
}

static void malformed_xml(void **state)
{
	(void)state;
	expect_error(&big_limits, HDR "<message><body>\xff\xfe</body></message>",
		     XML_ERR_NOT_WELL_FORMED, "line 1 col");
	expect_error(&big_limits, HDR "<message><body>\xc0\xaf</body></message>",
		     XML_ERR_NOT_WELL_FORMED, NULL);
	expect_error(&big_limits, HDR "<message>\xed\xa0\x80</message>", XML_ERR_NOT_WELL_FORMED,
		     NULL);
	expect_error(&big_limits, HDR "<message><body>x</message>", XML_ERR_NOT_WELL_FORMED,
		     "mismatched tag");
	expect_error(&big_limits, HDR "\n<message a='1' a='2'/>", XML_ERR_NOT_WELL_FORMED,
		     "line 2 col");
	expect_error(&big_limits, HDR "<message>\x01</message>", XML_ERR_NOT_WELL_FORMED, NULL);
	expect_error(&big_limits, HDR "<message>&#0;</message>", XML_ERR_NOT_WELL_FORMED, NULL);
	expect_error(&big_limits, HDR "<foo:bar/>", XML_ERR_BAD_PREFIX, "unbound prefix");
	expect_error(&big_limits, HDR "<message foo:a='1'/>", XML_ERR_BAD_PREFIX, NULL);
	expect_error(&big_limits, "<stream:stream>", XML_ERR_BAD_PREFIX, NULL);
	expect_error(&big_limits, HDR "hello", XML_ERR_BAD_FORMAT, "text at stream level");
	expect_error(&big_limits, HDR "<presence/> x <presence/>", XML_ERR_BAD_FORMAT, NULL);
	expect_ok(&big_limits, HDR " \n\t\r\n <presence/>  \n\n <presence/>\n", 2);
	expect_error(&big_limits, HDR "</stream:stream><presence/>", XML_ERR_NOT_WELL_FORMED,
		     NULL);
	expect_error(&big_limits, HDR "<?xml version='1.0'?>", XML_ERR_NOT_WELL_FORMED, NULL);
}

static void encoding_declarations(void **state)
{
	(void)state;
	expect_error(&big_limits, "<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream/>",
		     XML_ERR_UNSUPPORTED_ENCODING, "ISO-8859-1");
	expect_error(&big_limits, "<?xml version='1.0' encoding='UTF-16'?><stream:stream/>",
		     XML_ERR_UNSUPPORTED_ENCODING, NULL);
	expect_ok(&big_limits,
		  "<?xml version='1.0' encoding='utf-8'?><stream:stream " STREAM_NS_DECLS
		  "><presence/>",
		  1);
	expect_ok(&big_limits,
		  "\xef\xbb\xbf<?xml version='1.0' encoding='UTF-8'?><stream:stream " STREAM_NS_DECLS
		  "><presence/>",
		  1);
	/* UTF-16 is refused, with or without a byte-order mark. */
	static const char utf16[] = "\xfe\xff\0<\0s";
	enum xml_error err;
	assert_int_equal(parse_with(&big_limits, utf16, sizeof(utf16) - 1, &err, NULL, NULL),
			 XML_FEED_ERROR);
	assert_int_equal(err, XML_ERR_UNSUPPORTED_ENCODING);
	static const char utf16le[] = "<\0s\0";
	assert_int_equal(parse_with(&big_limits, utf16le, sizeof(utf16le) - 1, &err, NULL, NULL),
			 XML_FEED_ERROR);
	assert_int_equal(err, XML_ERR_UNSUPPORTED_ENCODING);
	/* Split before the second byte. */
	struct collect c;
	collect_init(&c, &big_limits, false);
	assert_int_equal(xml_parser_feed(c.p, "<", 1, NULL), XML_FEED_OK);
	assert_int_equal(xml_parser_feed(c.p, "\0s\0", 3, NULL), XML_FEED_ERROR);
	assert_int_equal(xml_parser_error(c.p, NULL), XML_ERR_UNSUPPORTED_ENCODING);
	collect_clear(&c);
}

static void error_is_sticky(void **state)
{
	(void)state;
	struct collect c;
	collect_init(&c, &big_limits, false);
	assert_int_equal(feed_str(&c, HDR "<message><!-- x -->"), XML_FEED_ERROR);
	const char *detail;
	assert_int_equal(xml_parser_error(c.p, &detail), XML_ERR_RESTRICTED);
	size_t consumed = 99;
	assert_int_equal(xml_parser_feed(c.p, "<presence/>", 11, &consumed), XML_FEED_ERROR);
	assert_int_equal(consumed, 0);
	assert_int_equal(xml_parser_error(c.p, &detail), XML_ERR_RESTRICTED);
	assert_string_equal(detail, "comment");
	assert_int_equal(xml_parser_buffered(c.p), 0);
	assert_int_equal(c.n, 0);
	/* A reset gives a fresh stream. */
	xml_parser_reset(c.p);
	assert_int_equal(xml_parser_error(c.p, NULL), XML_OK);
	assert_int_equal(feed_str(&c, HDR "<presence/>"), XML_FEED_OK);
	assert_int_equal(c.n, 1);
	collect_clear(&c);
}

/* ---- Stop, consumed, reset ---------------------------------------------- */

static void stop_after_element(void **state)
{
	(void)state;
	const char *starttls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
	const char *after = "\x16\x03\x01\x02\x00 not xml at all";
	char buf[512];
	snprintf(buf, sizeof(buf), HDR "<presence/>%s%s", starttls, after);
	size_t upto = strlen(HDR) + strlen("<presence/>") + strlen(starttls);

	/* In one feed, and split at every byte up to the stop point. */
	for (size_t split = 0; split <= upto; split++) {
		struct collect c;
		collect_init(&c, &big_limits, false);
		c.stop_after = 1;
		size_t consumed = 0;
		enum xml_feed r = xml_parser_feed(c.p, buf, split, &consumed);
		if (split < upto) {
			assert_int_equal(r, XML_FEED_OK);
			assert_int_equal(consumed, split);
			r = xml_parser_feed(c.p, buf + split, strlen(buf) - split, &consumed);
			assert_int_equal(consumed, upto - split);
		} else {
			assert_int_equal(consumed, upto);
		}
		assert_int_equal(r, XML_FEED_STOPPED);
		assert_int_equal(c.n, 2);
		/* Stays stopped until reset. */
		assert_int_equal(xml_parser_feed(c.p, "<a/>", 4, &consumed), XML_FEED_STOPPED);
		assert_int_equal(consumed, 0);
		assert_int_equal(xml_parser_buffered(c.p), 0);
		/* The rest is a new stream. */
		xml_parser_reset(c.p);
		c.stop_after = -1;
		assert_int_equal(feed_str(&c, HDR "<message><body>hi</body></message>"), XML_FEED_OK);
		assert_int_equal(c.n, 3);
		assert_int_equal(c.headers, 2);
		assert_non_null(strstr(buf_cstr(&c.log), "|9:<message><body>hi</body></message>]"));
		collect_clear(&c);
	}
}

/* xml_parser_continue: after a stop right after an element, the same
 * stream goes on from the next byte, in the context of the peer's own
 * header (a prefix declared only there stays bound), with raw bytes and
 * limits counted from the stop; split at every byte. */
static void continue_after_stop(void **state)
{
	(void)state;
	const char *hdr = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
			  "xmlns:s='urn:ietf:params:xml:ns:xmpp-sasl' to='example.com' version='1.0'>";
	const char *first = "<s:auth mechanism='PLAIN'>AAAA</s:auth>";
	const char *rest = "<s:auth mechanism='PLAIN'>BBBB</s:auth><message to='a@b'><body>hi</body></message>";
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s%s%s", hdr, first, rest);
	size_t upto = strlen(hdr) + strlen(first);
	for (size_t split = upto; split <= strlen(buf); split++) {
		struct collect c;
		collect_init(&c, &big_limits, false);
		c.stop_after = 0;
		size_t consumed = 0;
		assert_int_equal(xml_parser_feed(c.p, buf, split, &consumed), XML_FEED_STOPPED);
		assert_int_equal(consumed, upto);
		assert_int_equal(c.n, 1);
		assert_true(xml_parser_continue(c.p));
		assert_false(xml_parser_continue(c.p)); /* running: nothing to continue */
		c.stop_after = -1;
		assert_int_equal(xml_parser_feed(c.p, buf + upto, split - upto, &consumed), XML_FEED_OK);
		if (split < strlen(buf))
			assert_int_equal(feed_str(&c, buf + split), XML_FEED_OK);
		assert_int_equal(c.n, 3);
		assert_int_equal(c.headers, 1); /* no second stream_start */
		const char *log = buf_cstr(&c.log);
		/* the prefixed element re-parsed in its namespace, raw bytes exact */
		assert_non_null(strstr(log, "E[<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>BBBB</auth>|"));
		assert_non_null(strstr(log, "|18:<message to='a@b'><body>hi</body></message>]"));
		collect_clear(&c);
	}
	/* Not stopped after an element: nothing to continue. */
	struct collect c;
	collect_init(&c, &big_limits, false);
	assert_false(xml_parser_continue(c.p));
	assert_int_equal(feed_str(&c, hdr), XML_FEED_OK);
	assert_false(xml_parser_continue(c.p));
	collect_clear(&c);
}

static void stop_on_header_and_end(void **state)
{
	(void)state;
	struct collect c;
	collect_init(&c, &big_limits, false);
	c.stop_on_header = true;
	size_t consumed;
	const char *s = HDR "<presence/>";
	assert_int_equal(xml_parser_feed(c.p, s, strlen(s), &consumed), XML_FEED_STOPPED);
	assert_int_equal(consumed, strlen(HDR));
	assert_int_equal(c.n, 0);
	xml_parser_reset(c.p);
	c.stop_on_header = false;
	c.stop_on_end = true;
	s = HDR "<presence/></stream:stream><more/>";
	assert_int_equal(xml_parser_feed(c.p, s, strlen(s), &consumed), XML_FEED_STOPPED);
	assert_int_equal(consumed, strlen(s) - strlen("<more/>"));
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ends, 1);
	collect_clear(&c);
}

static void reset_drops_partial_bytes(void **state)
{
	(void)state;
	struct collect c;
	collect_init(&c, &big_limits, false);
	assert_int_equal(feed_str(&c, HDR "  \n"), XML_FEED_OK);
	assert_int_equal(xml_parser_buffered(c.p), 0);
	assert_int_equal(feed_str(&c, "  <mess"), XML_FEED_OK);
	assert_int_equal(xml_parser_buffered(c.p), 5);
	assert_int_equal(feed_str(&c, "age><body>hel"), XML_FEED_OK);
	assert_int_equal(xml_parser_buffered(c.p), strlen("<message><body>hel"));
	assert_int_equal(feed_str(&c, "lo</body></message>"), XML_FEED_OK);
	assert_int_equal(xml_parser_buffered(c.p), 0);
	assert_int_equal(c.n, 1);
	assert_non_null(strstr(buf_cstr(&c.log), "|9:<message><body>hello</body></message>]"));

	assert_int_equal(feed_str(&c, "<message><body>partial"), XML_FEED_OK);
	assert_true(xml_parser_buffered(c.p) > 0);
	xml_parser_reset(c.p);
	assert_int_equal(xml_parser_buffered(c.p), 0);
	assert_int_equal(feed_str(&c, HDR "<presence type='unavailable'/>"), XML_FEED_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.headers, 2);
	assert_non_null(strstr(buf_cstr(&c.log), "|30:<presence type='unavailable'/>]"));

	/* A stanza without usable raw bytes keeps nothing while it grows. */
	xml_parser_reset(c.p);
	assert_int_equal(feed_str(&c, HDR_FOO "<message><foo:x>"), XML_FEED_OK);
	assert_int_equal(xml_parser_buffered(c.p), 0);
	assert_int_equal(feed_str(&c, "</foo:x></message>"), XML_FEED_OK);
	assert_int_equal(c.n, 3);
	collect_clear(&c);
}

static void stop_outside_handler_is_ignored(void **state)
{
	(void)state;
	struct collect c;
	collect_init(&c, &big_limits, false);
	xml_parser_stop(c.p);
	assert_int_equal(feed_str(&c, HDR "<presence/><presence/>"), XML_FEED_OK);
	assert_int_equal(c.n, 2);
	collect_clear(&c);
}

/* ---- Fragments ---------------------------------------------------------- */

static void parse_fragment(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	struct xml_node *n = xml_parse_fragment(a, "<a/>", 4);
	assert_non_null(n);
	assert_string_equal(n->name, "a");
	assert_ptr_equal(n->ns, XML_NS_CLIENT);
	const char *vc = " <vCard xmlns='vcard-temp'><FN>Juliet &amp; co</FN><stream:x/></vCard>\n";
	n = xml_parse_fragment(a, vc, strlen(vc));
	assert_non_null(n);
	assert_ptr_equal(n->ns, XML_NS_VCARD);
	assert_string_equal(xml_node_text(a, xml_node_child(n, NULL, "FN")), "Juliet & co");
	assert_ptr_equal(xml_node_child(n, XML_NS_STREAM, "x")->ns, XML_NS_STREAM);
	static const char *const bad[] = {
		"", "  ", "<a>", "<a/><b/>", "<a/>x", "<a/><b", "<!-- c --><a/>", "<a/></stream:stream>",
		"<?pi?><a/>", "<x:a/>", "text",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (xml_parse_fragment(a, bad[i], strlen(bad[i])))
			fail_msg("fragment '%s' parsed", bad[i]);
	}
	/* Serialised trees come back as they were. */
	struct collect c;
	collect_init(&c, &big_limits, true);
	assert_int_equal(feed_str(&c, client_stream), XML_FEED_OK);
	for (unsigned i = 0; i < c.n; i++) {
		struct buf b = BUF_INIT;
		xml_serialize(&b, c.nodes[i], XML_NS_CLIENT);
		n = xml_parse_fragment(a, b.data, b.len);
		assert_non_null(n);
		assert_true(tree_eq(n, c.nodes[i]));
		buf_clear(&b);
	}
	collect_clear(&c);
	arena_free(a);
	arena_cache_drain();
}

/* ---- Serializing ------------------------------------------------------ */

static void serialize_escaping(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	xml_escape_text(&b, "a<b>&c'\"\r\n\t", 11);
	assert_string_equal(buf_cstr(&b), "a&lt;b&gt;&amp;c'\"&#xD;\n\t");
	buf_reset(&b);
	xml_escape_attr(&b, "a<b>&c'\"\r\n\t", 11);
	assert_string_equal(buf_cstr(&b), "a&lt;b&gt;&amp;c&apos;&quot;&#xD;&#xA;&#x9;");
	buf_reset(&b);
	xml_escape_text(&b, "plain", 5);
	assert_string_equal(buf_cstr(&b), "plain");
	buf_clear(&b);

	struct arena *a = arena_new();
	struct xml_node *m = xml_node_new(a, XML_NS_CLIENT, "message");
	xml_node_set_attr(a, m, "to", "a'b\"c&d<e>");
	struct xml_node *body = xml_node_add(a, m, NULL, "body");
	xml_node_add_text(a, body, "1 < 2 && 3 > 2 ]]>", 18);
	char *s = serialize_str(m, XML_NS_CLIENT);
	assert_string_equal(s, "<message to='a&apos;b&quot;c&amp;d&lt;e&gt;'>"
			       "<body>1 &lt; 2 &amp;&amp; 3 &gt; 2 ]]&gt;</body></message>");
	struct collect c;
	struct xml_node *r = reparse(&c, XML_NS_CLIENT, s, strlen(s));
	assert_true(tree_eq(r, m));
	collect_clear(&c);
	free(s);
	arena_free(a);
}

static void serialize_namespaces(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	struct xml_node *m = xml_node_new(a, XML_NS_CLIENT, "message");
	xml_node_set_attr(a, m, "to", "x@y");
	xml_node_add_text(a, xml_node_add(a, m, NULL, "body"), "hi", 2);
	struct xml_node *x = xml_node_add(a, m, "urn:example:x", "x");
	xml_node_add(a, x, NULL, "y");
	xml_node_add(a, x, XML_NS_CLIENT, "z");
	struct xml_node *f = xml_node_add(a, m, XML_NS_FORWARD, "forwarded");
	xml_node_add(a, f, XML_NS_DELAY, "delay");
	xml_node_add(a, xml_node_add(a, f, XML_NS_CLIENT, "message"), NULL, "body");
	xml_node_add(a, m, "", "none");

	char *s = serialize_str(m, XML_NS_SERVER);
	assert_string_equal(s, "<message to='x@y'><body>hi</body>"
			       "<x xmlns='urn:example:x'><y/><z xmlns='jabber:client'/></x>"
			       "<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay'/>"
			       "<message xmlns='jabber:client'><body/></message></forwarded>"
			       "<none xmlns=''/></message>");
	free(s);
	/* Into a stream with another default namespace, the stanza says its own. */
	s = serialize_str(m, "");
	assert_true(strncmp(s, "<message xmlns='jabber:client' to='x@y'>", 40) == 0);
	free(s);
	s = serialize_str(m, NULL);
	assert_true(strncmp(s, "<message xmlns='jabber:client' to='x@y'>", 40) == 0);
	free(s);
	/* A literal URI string is as good as the interned pointer. */
	s = serialize_str(xml_node_new(a, XML_NS_SERVER, "presence"), "jabber:client");
	assert_string_equal(s, "<presence/>");
	free(s);

	struct xml_node *feat = xml_node_new(a, XML_NS_STREAM, "features");
	xml_node_add(a, xml_node_add(a, feat, XML_NS_TLS, "starttls"), NULL, "required");
	struct xml_node *mechs = xml_node_add(a, feat, XML_NS_SASL, "mechanisms");
	xml_node_add_text(a, xml_node_add(a, mechs, NULL, "mechanism"), "PLAIN", 5);
	s = serialize_str(feat, XML_NS_CLIENT);
	assert_string_equal(s, "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
			       "<required/></starttls>"
			       "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
			       "<mechanism>PLAIN</mechanism></mechanisms></stream:features>");
	free(s);

	struct xml_node *err = xml_node_new(a, XML_NS_STREAM, "error");
	xml_node_add(a, err, XML_NS_STREAMS, "policy-violation");
	s = serialize_str(err, XML_NS_SERVER);
	assert_string_equal(s, "<stream:error><policy-violation "
			       "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
	free(s);

	s = serialize_str(xml_node_new(a, XML_NS_SASL, "success"), XML_NS_CLIENT);
	assert_string_equal(s, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
	free(s);
	s = serialize_str(xml_node_new(a, "urn:xmpp:sm:3", "r"), XML_NS_CLIENT);
	assert_string_equal(s, "<r xmlns='urn:xmpp:sm:3'/>");
	free(s);
	arena_free(a);
}

static void serialize_parsed_translation(void **state)
{
	(void)state;
	struct collect c;
	const char *in = "<message to='a@b' xml:lang='en'><body>hi</body>"
			 "<x xmlns='urn:x' xmlns:p='urn:p' p:q='1'><y/></x></message>";
	struct xml_node *n = parse_one(&c, HDR, in);
	assert_non_null(n->raw);
	/* Raw path into a server stream: fresh start tag, original content. */
	char *s = serialize_str(n, XML_NS_SERVER);
	assert_string_equal(s, "<message to='a@b' xml:lang='en'><body>hi</body>"
			       "<x xmlns='urn:x' xmlns:p='urn:p' p:q='1'><y/></x></message>");
	free(s);
	s = serialize_str(n, "urn:other");
	assert_true(strncmp(s, "<message xmlns='jabber:client' to='a@b' xml:lang='en'>", 54) == 0);
	free(s);
	/* Tree path: namespaced attributes get a made-up prefix. */
	struct xml_node *copy = xml_node_copy(c.arenas[0], n);
	s = serialize_str(copy, XML_NS_SERVER);
	assert_string_equal(s, "<message to='a@b' xml:lang='en'><body>hi</body>"
			       "<x xmlns='urn:x' xmlns:p0='urn:p' p0:q='1'><y/></x></message>");
	free(s);
	check_raw_equals_tree(n, XML_NS_SERVER);
	check_raw_equals_tree(n, "urn:other");

	/* Stamping `from` on the root keeps raw and shows in the output. */
	xml_node_set_attr(c.arenas[0], n, "from", "me@here/r");
	assert_non_null(n->raw);
	s = serialize_str(n, XML_NS_SERVER);
	assert_true(strncmp(s, "<message to='a@b' xml:lang='en' from='me@here/r'><body>", 55) == 0);
	free(s);
	check_raw_equals_tree(n, XML_NS_SERVER);
	collect_clear(&c);

	/* A made-up prefix never shadows one the raw content uses. */
	n = parse_one(&c, HDR,
		      "<message xmlns:p0='urn:zero' xmlns:q='urn:q' q:a='1'><p0:x q:b='2'/></message>");
	assert_non_null(n->raw);
	s = serialize_str(n, XML_NS_CLIENT);
	assert_string_equal(s, "<message xmlns:p0='urn:zero' xmlns:q='urn:q' xmlns:p0_='urn:q' "
			       "p0_:a='1'><p0:x q:b='2'/></message>");
	free(s);
	check_raw_equals_tree(n, XML_NS_CLIENT);
	collect_clear(&c);

	/* Self-closing raw stanza gets a self-closing fresh start tag. */
	n = parse_one(&c, HDR, "<presence xmlns='jabber:client'/>");
	assert_int_equal(n->raw_len, n->raw_start_len);
	xml_node_set_attr(c.arenas[0], n, "from", "a@b/c");
	s = serialize_str(n, XML_NS_SERVER);
	assert_string_equal(s, "<presence from='a@b/c'/>");
	free(s);
	collect_clear(&c);

	/* The XML namespace cannot be a default namespace. */
	n = parse_one(&c, HDR, "<message><xml:x xml:lang='en'/></message>");
	assert_null(n->raw);
	s = serialize_str(n, XML_NS_CLIENT);
	assert_string_equal(s, "<message><xml:x xml:lang='en'/></message>");
	struct collect r;
	assert_true(tree_eq(reparse(&r, XML_NS_CLIENT, s, strlen(s)), n));
	collect_clear(&r);
	free(s);
	collect_clear(&c);

	/* A stream-namespace element is written with the stream prefix,
	 * never from raw bytes whose end tag would not match. */
	n = parse_one(&c, HDR, "<features xmlns='http://etherx.jabber.org/streams'><x/></features>");
	s = serialize_str(n, XML_NS_CLIENT);
	assert_string_equal(s, "<stream:features><stream:x/></stream:features>");
	free(s);
	collect_clear(&c);
}

static void serialize_raw_matches_tree_for_many(void **state)
{
	(void)state;
	struct collect c;
	collect_init(&c, &big_limits, true);
	assert_int_equal(feed_str(&c, client_stream), XML_FEED_OK);
	for (unsigned i = 0; i < c.n; i++) {
		check_raw_equals_tree(c.nodes[i], XML_NS_CLIENT);
		check_raw_equals_tree(c.nodes[i], XML_NS_SERVER);
		check_raw_equals_tree(c.nodes[i], "");
		/* Tree path parses back to the original. */
		struct arena *a = arena_new();
		struct xml_node *copy = xml_node_copy(a, c.nodes[i]);
		char *s = serialize_str(copy, XML_NS_CLIENT);
		struct collect r;
		assert_true(tree_eq(reparse(&r, XML_NS_CLIENT, s, strlen(s)), c.nodes[i]));
		collect_clear(&r);
		free(s);
		arena_free(a);
	}
	collect_clear(&c);
}

/* ---- The namespace rule (serialize.c) ------------------------------------ */

/* One letter per element in document order: c jabber:client, s
 * jabber:server, f urn:xmpp:forward:0, x urn:x, ? anything else. */
static void ns_letters(struct buf *b, const struct xml_node *n)
{
	if (!n->name)
		return;
	char l = '?';
	if (n->ns == XML_NS_CLIENT)
		l = 'c';
	else if (n->ns == XML_NS_SERVER)
		l = 's';
	else if (n->ns == XML_NS_FORWARD)
		l = 'f';
	else if (strcmp(n->ns, "urn:x") == 0)
		l = 'x';
	buf_append_char(b, l);
	for (const struct xml_node *c = n->children; c; c = c->next)
		ns_letters(b, c);
}

/* Writes `n` into a stream of namespace `ns` by the raw path (when it has
 * raw bytes) and by the tree path; both must parse back to one tree whose
 * namespaces are `want` (ns_letters). */
static void check_ns_rule(const struct xml_node *n, const char *ns, const char *want)
{
	struct arena *a = arena_new();
	struct xml_node *copy = xml_node_copy(a, n);
	const struct xml_node *paths[2] = {copy, n->raw ? n : NULL};
	struct collect first;
	struct xml_node *first_tree = NULL;
	for (int i = 0; i < 2 && paths[i]; i++) {
		char *s = serialize_str(paths[i], ns);
		struct collect r;
		struct xml_node *back = reparse(&r, ns, s, strlen(s));
		struct buf got = BUF_INIT;
		ns_letters(&got, back);
		if (strcmp(buf_cstr(&got), want) != 0)
			fail_msg("%s path into %s: %s parses to %s, want %s", i ? "raw" : "tree", ns,
				 s, buf_cstr(&got), want);
		if (first_tree && !tree_eq(first_tree, back))
			fail_msg("raw path %s differs from the tree path", s);
		buf_clear(&got);
		free(s);
		if (i == 0) {
			first = r;
			first_tree = back;
		} else {
			collect_clear(&r);
		}
	}
	collect_clear(&first);
	arena_free(a);
}

#define HDR_SERVER                                                                     \
	"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>"

/* The fuzz finding of issue 7 (fuzz/corpus/xml/regress-prefixed-client-in-server):
 * a jabber:server stanza's prefixed jabber:client child stays jabber:client,
 * by the raw path as by the tree path. */
static void ns_rule_prefixed_client_in_server_stanza(void **state)
{
	(void)state;
	struct collect c;
	struct xml_node *n = parse_one(&c, HDR_SERVER, "<m xmlns:x='jabber:client'><x:t/></m>");
	assert_ptr_equal(n->ns, XML_NS_SERVER);
	assert_ptr_equal(n->children->ns, XML_NS_CLIENT);
	/* The raw bytes already mean what the rule says: kept. */
	assert_non_null(n->raw);
	char *s = serialize_str(n, XML_NS_SERVER);
	assert_string_equal(s, "<m xmlns:x='jabber:client'><x:t/></m>");
	free(s);
	struct arena *a = arena_new();
	s = serialize_str(xml_node_copy(a, n), XML_NS_SERVER);
	assert_string_equal(s, "<m><t xmlns='jabber:client'/></m>");
	free(s);
	arena_free(a);
	check_ns_rule(n, XML_NS_SERVER, "sc");
	check_ns_rule(n, XML_NS_CLIENT, "cc");
	check_raw_equals_tree(n, XML_NS_SERVER);
	check_raw_equals_tree(n, XML_NS_CLIENT);
	collect_clear(&c);
}

/* Both paths give the namespaces of the rule into either content
 * namespace, and keep every namespace into a stream of another one. */
static void ns_rule_raw_and_tree_agree(void **state)
{
	(void)state;
	static const struct {
		const char *hdr;
		const char *stanza;
		bool raw;          /* whether the parser keeps the raw bytes */
		const char *to_server, *to_client, *kept;
	} cases[] = {
		/* Plain children are on the line. */
		{HDR, "<message><body>x</body></message>", true, "ss", "cc", "cc"},
		{HDR_SERVER, "<message><body>x</body></message>", true, "ss", "cc", "ss"},
		/* The other content namespace, declared by the stanza: kept,
		 * with what is below it. */
		{HDR_SERVER, "<m xmlns:x='jabber:client'><x:t/></m>", true, "sc", "cc", "sc"},
		{HDR_SERVER, "<m><t xmlns='jabber:client'><u/></t></m>", true, "scc", "ccc", "scc"},
		{HDR, "<m xmlns:x='jabber:server'><x:t><u/></x:t></m>", false, "ssc", "csc", "csc"},
		{HDR_SERVER, "<m xmlns:x='jabber:client'><x:t><u/></x:t></m>", false, "scs", "ccs",
		 "scs"},
		/* XEP-0297: a forwarded stanza keeps jabber:client. */
		{HDR,
		 "<message><f xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'>"
		 "<body/></message></f></message>",
		 true, "sfcc", "cfcc", "cfcc"},
		{HDR_SERVER,
		 "<message><f xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'>"
		 "<body/></message></f></message>",
		 true, "sfcc", "cfcc", "sfcc"},
		/* Off the line through an element of another namespace. */
		{HDR, "<message><x:y xmlns:x='urn:x'><body/></x:y></message>", false, "sxc", "cxc",
		 "cxc"},
		{HDR, "<message><x:y xmlns:x='urn:x'><body xmlns='jabber:client'/></x:y></message>",
		 true, "sxc", "cxc", "cxc"},
		{HDR, "<message><y xmlns='urn:x'><body xmlns='jabber:client'/></y></message>", true,
		 "sxc", "cxc", "cxc"},
		/* The stanza's own namespace re-declared or prefixed: on the
		 * line, so the raw bytes (which would keep it) are dropped. */
		{HDR, "<message><body xmlns='jabber:client'>x</body></message>", false, "ss", "cc",
		 "cc"},
		{HDR, "<message xmlns:c='jabber:client'><c:body/></message>", false, "ss", "cc", "cc"},
		{HDR_SERVER, "<m><t xmlns='jabber:server'/></m>", false, "ss", "cc", "ss"},
		/* A stanza in another namespace is never translated. */
		{HDR, "<x xmlns='urn:x'><message xmlns='jabber:client'/></x>", true, "xc", "xc",
		 "xc"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct collect c;
		struct xml_node *n = parse_one(&c, cases[i].hdr, cases[i].stanza);
		if ((n->raw != NULL) != cases[i].raw)
			fail_msg("%s: raw %s", cases[i].stanza, n->raw ? "kept" : "NULL");
		check_ns_rule(n, XML_NS_SERVER, cases[i].to_server);
		check_ns_rule(n, XML_NS_CLIENT, cases[i].to_client);
		check_ns_rule(n, "urn:other", cases[i].kept);
		check_ns_rule(n, "", cases[i].kept);
		collect_clear(&c);
	}
}

/* Trees built by the server follow the same rule. */
static void ns_rule_built_trees(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	struct xml_node *m = xml_node_new(a, XML_NS_SERVER, "message");
	xml_node_add(a, m, NULL, "body");
	struct xml_node *t = xml_node_add(a, m, XML_NS_CLIENT, "t");
	xml_node_add(a, t, XML_NS_SERVER, "u");
	char *s = serialize_str(m, XML_NS_SERVER);
	assert_string_equal(s, "<message><body/><t xmlns='jabber:client'>"
			       "<u xmlns='jabber:server'/></t></message>");
	free(s);
	check_ns_rule(m, XML_NS_SERVER, "sscs");
	s = serialize_str(m, XML_NS_CLIENT);
	assert_string_equal(s, "<message><body/><t><u xmlns='jabber:server'/></t></message>");
	free(s);
	check_ns_rule(m, XML_NS_CLIENT, "cccs");
	/* Written on its own, a child is the top of its own line. */
	s = serialize_str(t, XML_NS_SERVER);
	assert_string_equal(s, "<t><u/></t>");
	free(s);
	arena_free(a);
}

/* ---- Node API ----------------------------------------------------------- */

static void node_api_raw_rules(void **state)
{
	(void)state;
	struct collect c;
	const char *in = "<message to='a'><body>x</body><x xmlns='urn:x'><y/></x></message>";
	struct xml_node *n = parse_one(&c, HDR, in);
	struct arena *a = c.arenas[0];

	xml_node_set_attr(a, n, "to", "b");
	xml_node_set_attr(a, n, "type", "chat");
	xml_node_set_attr(a, n, "id", "1");
	xml_node_set_attr(a, n, "x", "2");
	xml_node_set_attr(a, n, "x", NULL);
	xml_node_set_attr(a, n, "nonexistent", NULL);
	assert_non_null(n->raw);
	assert_int_equal(n->nattrs, 3);
	assert_string_equal(xml_node_attr(n, "to"), "b");
	assert_string_equal(xml_node_attr(n, "type"), "chat");
	assert_null(xml_node_attr(n, "x"));
	check_raw_equals_tree(n, XML_NS_CLIENT);

	struct xml_node *y = xml_node_first_element(xml_node_child(n, "urn:x", "x"));
	xml_node_set_attr(a, y, "k", "v");
	assert_null(n->raw);
	assert_int_equal(n->raw_len, 0);
	collect_clear(&c);

	n = parse_one(&c, HDR, in);
	xml_node_add(c.arenas[0], xml_node_child(n, NULL, "body"), NULL, "b");
	assert_null(n->raw);
	collect_clear(&c);

	n = parse_one(&c, HDR, in);
	xml_node_add_text(c.arenas[0], n, "t", 1);
	assert_null(n->raw);
	collect_clear(&c);

	n = parse_one(&c, HDR, in);
	xml_node_remove(xml_node_child(n, NULL, "body"));
	assert_null(n->raw);
	assert_int_equal(xml_node_count_elements(n), 1);
	char *s = serialize_str(n, XML_NS_CLIENT);
	assert_string_equal(s, "<message to='a'><x xmlns='urn:x'><y/></x></message>");
	free(s);
	collect_clear(&c);

	/* A parsed stanza appended under another keeps no stale raw bytes. */
	struct collect c2;
	n = parse_one(&c, HDR, in);
	struct xml_node *inner = parse_one(&c2, HDR, "<presence/>");
	struct xml_node *holder = xml_node_add(c.arenas[0], n, XML_NS_FORWARD, "forwarded");
	struct xml_node *pcopy = xml_node_copy(c.arenas[0], inner);
	assert_null(pcopy->raw);
	xml_node_append(holder, inner);
	assert_null(inner->raw);
	assert_ptr_equal(inner->parent, holder);
	assert_null(n->raw);
	xml_node_remove(inner);
	assert_null(inner->parent);
	assert_null(holder->children);
	assert_null(holder->last_child);
	collect_clear(&c);
	collect_clear(&c2);
}

static void node_api_build_and_read(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	char name[16] = "iq";
	struct xml_node *iq = xml_node_new(a, "jabber:client", name);
	strcpy(name, "zz"); /* the node has its own copy */
	assert_string_equal(iq->name, "iq");
	assert_ptr_equal(iq->ns, XML_NS_CLIENT);
	struct xml_node *unk = xml_node_new(a, NULL, "x");
	assert_string_equal(unk->ns, "");
	struct xml_node *q = xml_node_add(a, iq, XML_NS_ROSTER, "query");
	assert_ptr_equal(q->parent, iq);
	struct xml_node *i1 = xml_node_add(a, q, NULL, "item");
	assert_ptr_equal(i1->ns, XML_NS_ROSTER);
	xml_node_set_attr(a, i1, "jid", "a@b");
	struct xml_node *i2 = xml_node_add(a, q, NULL, "item");
	xml_node_set_attr(a, i2, "jid", "c@d");
	for (int k = 0; k < 20; k++) {
		char an[8];
		snprintf(an, sizeof(an), "a%d", k);
		xml_node_set_attr(a, i2, an, an);
	}
	assert_int_equal(i2->nattrs, 21);
	assert_string_equal(xml_node_attr(i2, "a19"), "a19");
	xml_node_add_text(a, q, "  ", 2);
	struct xml_node *g = xml_node_add(a, i1, NULL, "group");
	xml_node_add_text(a, g, "Fri", 3);
	xml_node_add_text(a, g, "ends", 4);
	assert_string_equal(xml_node_text(a, g), "Friends");
	assert_string_equal(xml_node_text(a, q), "  ");
	assert_string_equal(xml_node_text(a, iq), "");

	assert_int_equal(xml_node_count_elements(q), 2);
	assert_ptr_equal(xml_node_child(q, XML_NS_ROSTER, "item"), i1);
	assert_ptr_equal(xml_node_next(i1, XML_NS_ROSTER, "item"), i2);
	assert_null(xml_node_next(i2, NULL, NULL));
	assert_null(xml_node_child(q, XML_NS_CLIENT, NULL));
	unsigned count = 0;
	xml_for_each_element(it, q) {
		assert_string_equal(it->name, "item");
		count++;
	}
	assert_int_equal(count, 2);

	/* Copy is deep and outlives the original. */
	struct arena *b = arena_new();
	struct xml_node *copy = xml_node_copy(b, iq);
	char *before = serialize_str(iq, XML_NS_CLIENT);
	arena_free(a);
	char *after = serialize_str(copy, XML_NS_CLIENT);
	assert_string_equal(before, after);
	assert_ptr_equal(copy->ns, XML_NS_CLIENT);
	assert_ptr_equal(xml_node_first_element(copy)->ns, XML_NS_ROSTER);
	assert_null(copy->parent);
	assert_null(copy->raw);
	free(before);
	free(after);
	arena_free(b);
	arena_cache_drain();
}

/* An idle stream drops its expat parser between stanzas and gets a new one
 * at the next byte: what the caller sees must not change (the same
 * elements, the same raw bytes, the header's prefixes still bound, the
 * limits still counted from the right place). */
static void trim_and_wake(void **state)
{
	(void)state;
	const char *hdr = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
			  "xmlns:stream='http://etherx.jabber.org/streams' xmlns:x='urn:x' to='a.test'>";
	struct collect c, ref;
	collect_init(&c, &big_limits, false);
	collect_init(&ref, &big_limits, false);
	const char *parts[] = {
		hdr,
		"<message to='b@a.test'><body>one</body></message> \n",
		"<presence><x:y/></presence>",
		"<iq type='get' id='1'><query xmlns='urn:q'/></iq>",
		"<message><body>split ",
		"here</body></message>",
	};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		assert_int_equal(feed_str(&ref, parts[i]), XML_FEED_OK);
		assert_int_equal(feed_str(&c, parts[i]), XML_FEED_OK);
		bool mid_stanza = i == 4;
		/* trimming refuses while a stanza is half read */
		assert_int_equal(xml_parser_trim(c.p), !mid_stanza);
		if (!mid_stanza)
			assert_true(xml_parser_trim(c.p)); /* idempotent */
	}
	assert_int_equal(c.n, 4);
	assert_string_equal(buf_cstr(&c.log), buf_cstr(&ref.log));
	/* the stream end still closes the stream after a wake-up */
	assert_true(xml_parser_trim(c.p));
	assert_int_equal(feed_str(&c, "</stream:stream>"), XML_FEED_OK);
	assert_int_equal(c.ends, 1);
	collect_clear(&c);
	collect_clear(&ref);

	/* limits after a wake-up count from the last boundary, not from the
	 * primed header */
	struct xml_limits lim = big_limits;
	lim.stanza_bytes = 64;
	collect_init(&c, &lim, false);
	assert_int_equal(feed_str(&c, hdr), XML_FEED_OK);
	assert_int_equal(feed_str(&c, "<message><body>0123456789</body></message>"), XML_FEED_OK);
	assert_true(xml_parser_trim(c.p));
	assert_int_equal(feed_str(&c, "<message><body>0123456789</body></message>"), XML_FEED_OK);
	assert_true(xml_parser_trim(c.p));
	assert_int_equal(feed_str(&c, "<message><body>0123456789012345678901234567890123456789</body></message>"),
			 XML_FEED_ERROR);
	assert_int_equal(xml_parser_error(c.p, NULL), XML_ERR_POLICY);
	assert_int_equal(c.n, 2);
	collect_clear(&c);

	/* nothing to trim before the header; reset after trimming works */
	collect_init(&c, &big_limits, false);
	assert_false(xml_parser_trim(c.p));
	assert_int_equal(feed_str(&c, hdr), XML_FEED_OK);
	assert_true(xml_parser_trim(c.p));
	xml_parser_reset(c.p);
	assert_int_equal(feed_str(&c, hdr), XML_FEED_OK);
	assert_int_equal(c.headers, 2);
	collect_clear(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ns_interning),
		cmocka_unit_test(error_conditions),
		cmocka_unit_test(stream_cond_names),
		cmocka_unit_test(parse_client_stream),
		cmocka_unit_test(trim_and_wake),
		cmocka_unit_test(split_at_every_byte),
		cmocka_unit_test(raw_bytes_are_exact),
		cmocka_unit_test(raw_null_with_outside_prefixes),
		cmocka_unit_test(limit_stanza_bytes),
		cmocka_unit_test(limit_header_bytes),
		cmocka_unit_test(limit_depth),
		cmocka_unit_test(limit_elements),
		cmocka_unit_test(limit_attrs),
		cmocka_unit_test(limit_attr_bytes),
		cmocka_unit_test(deep_nesting_fails_fast),
		cmocka_unit_test(many_children_fail_fast),
		cmocka_unit_test(limits_change_between_stanzas),
		cmocka_unit_test(restricted_xml),
		cmocka_unit_test(malformed_xml),
		cmocka_unit_test(encoding_declarations),
		cmocka_unit_test(error_is_sticky),
		cmocka_unit_test(stop_after_element),
		cmocka_unit_test(continue_after_stop),
		cmocka_unit_test(stop_on_header_and_end),
		cmocka_unit_test(reset_drops_partial_bytes),
		cmocka_unit_test(stop_outside_handler_is_ignored),
		cmocka_unit_test(parse_fragment),
		cmocka_unit_test(serialize_escaping),
		cmocka_unit_test(serialize_namespaces),
		cmocka_unit_test(serialize_parsed_translation),
		cmocka_unit_test(serialize_raw_matches_tree_for_many),
		cmocka_unit_test(ns_rule_prefixed_client_in_server_stanza),
		cmocka_unit_test(ns_rule_raw_and_tree_agree),
		cmocka_unit_test(ns_rule_built_trees),
		cmocka_unit_test(node_api_raw_rules),
		cmocka_unit_test(node_api_build_and_read),
	};
	return cmocka_run_group_tests_name("xml", tests, NULL, NULL);
}
