/*
 * serialize: element trees back to bytes, for a given stream namespace.
 *
 * Two paths give the same XML: a stanza that still has its raw bytes gets
 * a fresh start tag (so a stamped `from` or a translated namespace shows)
 * followed by its original content bytes; any other element is written
 * from the tree.  Namespaces are written as default-namespace declarations
 * where they change, never as element prefixes, except XML_NS_STREAM whose
 * `stream:` prefix every stream header declares (and the predeclared
 * `xml:`, which cannot be a default namespace).
 *
 * The namespace rule, the one both paths (and the parser's choice of
 * keeping raw bytes, and fuzz/fuzz_xml.c's oracle) follow:
 *
 *   A top-level element in a content namespace (jabber:client,
 *   jabber:server) is written in the content namespace of the stream it
 *   goes to, and so is every element below it that is in the same
 *   namespace through an unbroken line of elements in that namespace.
 *   Every other element keeps its own namespace, and so does everything
 *   below it.
 *
 * RFC 6120 §4.8.3 makes the content namespace the stream's default
 * namespace: a stanza and the children that inherit it are "in the stream's
 * namespace" and are translated when the stanza crosses from a c2s to an
 * s2s stream.  An element that names a content namespace itself, under an
 * element of another namespace (XEP-0297 <forwarded/>) or as the other
 * content namespace (<x:t xmlns:x='jabber:client'/> in a jabber:server
 * stanza), was put there on purpose and keeps it: a forwarded stanza stays
 * jabber:client over s2s.  The line is a property of the tree alone, so a
 * stanza means the same whichever path writes it; where raw content
 * would mean something else (the stanza's own namespace prefixed or
 * re-declared on the line, or inherited below an element off it),
 * xml_raw_follows_ns_rule() makes the parser drop the raw bytes.
 *
 * This is not a pretty-printer and does not reproduce the original
 * prefixes, quoting or attribute order of a parsed element.
 */
#include "xml/xml.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "xml/internal.h"

/* Bytes that need a reference instead of themselves, per context.  Tab, LF
 * and CR in attribute values (and CR in text) are written as character
 * references because a parser normalises the literal characters away. */
enum { ESC_TEXT = 1, ESC_ATTR = 2 };

static const unsigned char esc_class[256] = {
	['&'] = ESC_TEXT | ESC_ATTR,
	['<'] = ESC_TEXT | ESC_ATTR,
	['>'] = ESC_TEXT | ESC_ATTR,
	['\r'] = ESC_TEXT | ESC_ATTR,
	['\''] = ESC_ATTR,
	['"'] = ESC_ATTR,
	['\t'] = ESC_ATTR,
	['\n'] = ESC_ATTR,
};

static const char *esc_ref(unsigned char c, size_t *len)
{
	static const struct {
		const char *s;
		size_t len;
	} refs[] = {
		{"&amp;", 5}, {"&lt;", 4}, {"&gt;", 4}, {"&#xD;", 5},
		{"&apos;", 6}, {"&quot;", 6}, {"&#x9;", 5}, {"&#xA;", 5},
	};
	unsigned i;
	switch (c) {
	case '&': i = 0; break;
	case '<': i = 1; break;
	case '>': i = 2; break;
	case '\r': i = 3; break;
	case '\'': i = 4; break;
	case '"': i = 5; break;
	case '\t': i = 6; break;
	default: i = 7; break;
	}
	*len = refs[i].len;
	return refs[i].s;
}

static void escape(struct buf *out, const char *s, size_t len, unsigned cls)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0;
	buf_reserve(out, len);
	for (size_t i = 0; i < len; i++) {
		if (!(esc_class[p[i]] & cls))
			continue;
		buf_append(out, s + run, i - run);
		size_t rlen;
		const char *ref = esc_ref(p[i], &rlen);
		buf_append(out, ref, rlen);
		run = i + 1;
	}
	buf_append(out, s + run, len - run);
}

void xml_escape_text(struct buf *out, const char *s, size_t len)
{
	escape(out, s, len, ESC_TEXT);
}

void xml_escape_attr(struct buf *out, const char *s, size_t len)
{
	escape(out, s, len, ESC_ATTR);
}

static void put_str(struct buf *out, const char *s)
{
	buf_append(out, s, strlen(s));
}

static void put_attr_value(struct buf *out, const char *s, size_t len)
{
	buf_append(out, "='", 2);
	escape(out, s, len, ESC_ATTR);
	buf_append_char(out, '\'');
}

static bool prefix_declared(const struct xml_node *n, const char *prefix)
{
	for (const struct xml_nsdecl *d = n->nsdecls; d; d = d->next) {
		if (d->prefix && strcmp(d->prefix, prefix) == 0)
			return true;
	}
	return false;
}

/*
 * Namespaced attributes other than xml:* get a prefix made up here and
 * declared on the same start tag: "p<i>" where i is the first attribute of
 * that namespace, lengthened with '_' while it would shadow a prefix the
 * raw content may use.
 */
static void put_attrs(struct buf *out, const struct xml_node *n)
{
	for (unsigned i = 0; i < n->nattrs; i++) {
		const struct xml_attr *at = &n->attrs[i];
		size_t vlen = at->value_len;
		buf_append_char(out, ' ');
		if (!at->ns || !*at->ns) {
			put_str(out, at->name);
			put_attr_value(out, at->value, vlen);
			continue;
		}
		if (xml_ns_eq(at->ns, XML_NS_XML)) {
			buf_append(out, "xml:", 4);
			put_str(out, at->name);
			put_attr_value(out, at->value, vlen);
			continue;
		}
		unsigned first = i;
		for (unsigned j = 0; j < i; j++) {
			const char *ns = n->attrs[j].ns;
			if (ns && *ns && xml_ns_eq(ns, at->ns)) {
				first = j;
				break;
			}
		}
		char prefix[32];
		int plen = snprintf(prefix, sizeof(prefix), "p%u", first);
		while (prefix_declared(n, prefix) && (size_t)plen < sizeof(prefix) - 1) {
			prefix[plen++] = '_';
			prefix[plen] = '\0';
		}
		if (first == i) {
			buf_append(out, "xmlns:", 6);
			put_str(out, prefix);
			put_attr_value(out, at->ns, strlen(at->ns));
			buf_append_char(out, ' ');
		}
		put_str(out, prefix);
		buf_append_char(out, ':');
		put_str(out, at->name);
		put_attr_value(out, at->value, vlen);
	}
}

/* The two namespaces whose elements are written prefixed. */
static void put_prefix(struct buf *out, const char *ns)
{
	if (ns == XML_NS_STREAM)
		buf_append(out, "stream:", 7);
	else if (ns == XML_NS_XML)
		buf_append(out, "xml:", 4);
}

/*
 * Writes "<name ..." (without the closing '>') and returns the default
 * namespace in scope for the element's content.  `dflt` is the default
 * namespace in scope where the element is written.  `*line` is the
 * content namespace of the translated line the parent is on (NULL when it
 * is not on one); it is updated for the element's content.
 */
static const char *put_start(struct buf *out, const struct xml_node *n, const char *dflt,
			     const char **line, bool with_prefix_decls)
{
	const char *ns = n->ns ? n->ns : "";
	const char *inner = dflt;
	bool translated = *line && ns == *line;
	if (!translated)
		*line = NULL;
	buf_append_char(out, '<');
	if (ns == XML_NS_STREAM || ns == XML_NS_XML) {
		/* The XML namespace cannot be a default namespace; the
		 * stream namespace has its prefix on every stream header. */
		put_prefix(out, ns);
		put_str(out, n->name);
	} else {
		put_str(out, n->name);
		/* The namespace rule (top of the file): an element on the
		 * line takes the content namespace in scope, which is the
		 * stream's or its translated parent's; any other element is
		 * written in its own namespace. */
		if (!(translated && xml_ns_is_content(dflt)) && !xml_ns_eq(ns, dflt)) {
			buf_append(out, " xmlns", 6);
			put_attr_value(out, ns, strlen(ns));
			inner = ns;
		}
	}
	if (with_prefix_decls) {
		for (const struct xml_nsdecl *d = n->nsdecls; d; d = d->next) {
			if (!d->prefix)
				continue;
			buf_append(out, " xmlns:", 7);
			put_str(out, d->prefix);
			put_attr_value(out, d->uri ? d->uri : "", d->uri ? strlen(d->uri) : 0);
		}
	}
	put_attrs(out, n);
	return inner;
}

static void put_end(struct buf *out, const struct xml_node *n)
{
	buf_append(out, "</", 2);
	put_prefix(out, n->ns);
	put_str(out, n->name);
	buf_append_char(out, '>');
}

/* Recursion depth is the tree's depth, bounded by the parser's limits for
 * parsed trees. */
static void put_element(struct buf *out, const struct xml_node *n, const char *dflt,
			const char *line)
{
	const char *inner = put_start(out, n, dflt, &line, false);
	if (!n->children) {
		buf_append(out, "/>", 2);
		return;
	}
	buf_append_char(out, '>');
	for (const struct xml_node *c = n->children; c; c = c->next) {
		if (c->name)
			put_element(out, c, inner, line);
		else
			escape(out, c->text, c->text_len, ESC_TEXT);
	}
	put_end(out, n);
}

/* Raw bytes end in "</name>", which the stream-prefixed start tag would
 * not match; only parsed top-level elements carry raw bytes. */
static bool raw_usable(const struct xml_node *n)
{
	return n->raw && !n->parent && n->ns != XML_NS_STREAM && n->ns != XML_NS_XML &&
	       n->raw_len >= n->raw_start_len;
}

/* What follows the start tag's attributes: "/>", or '>' and the raw
 * content and end tag.  It depends on nothing the start tag holds. */
static void put_raw_tail(struct buf *out, const struct xml_node *n)
{
	if (n->raw_len == n->raw_start_len) {
		buf_append(out, "/>", 2);
		return;
	}
	buf_append_char(out, '>');
	buf_append(out, n->raw + n->raw_start_len, n->raw_len - n->raw_start_len);
}

void xml_serialize(struct buf *out, const struct xml_node *n, const char *stream_ns)
{
	if (!n->name) {
		escape(out, n->text, n->text_len, ESC_TEXT);
		return;
	}
	const char *dflt = "";
	if (stream_ns) {
		const char *in = xml_ns_lookup(stream_ns);
		dflt = in ? in : stream_ns;
	}
	/* The element written is the top of its line, whether or not it has
	 * a parent in its tree. */
	const char *line = xml_ns_is_content(n->ns) ? n->ns : NULL;
	if (!raw_usable(n)) {
		put_element(out, n, dflt, line);
		return;
	}
	buf_reserve(out, n->raw_len + 64);
	put_start(out, n, dflt, &line, true);
	put_raw_tail(out, n);
}

bool xml_serialize_head(struct buf *out, const struct xml_node *n, const char *stream_ns)
{
	if (!n->name || !raw_usable(n))
		return false;
	const char *dflt = "";
	if (stream_ns) {
		const char *in = xml_ns_lookup(stream_ns);
		dflt = in ? in : stream_ns;
	}
	const char *line = xml_ns_is_content(n->ns) ? n->ns : NULL;
	put_start(out, n, dflt, &line, true);
	return true;
}

bool xml_serialize_tail(struct buf *out, const struct xml_node *n)
{
	if (!n->name || !raw_usable(n))
		return false;
	put_raw_tail(out, n);
	return true;
}

static bool declares_default(const struct xml_node *n)
{
	for (const struct xml_nsdecl *d = n->nsdecls; d; d = d->next) {
		if (!d->prefix)
			return true;
	}
	return false;
}

/*
 * In raw content an element is in the namespace of the fresh start tag
 * (the translated one) exactly when it is unprefixed and neither it nor an
 * element between it and the top-level one declares a default namespace:
 * it "inherits".  Raw bytes follow the rule when every element inherits
 * exactly when it is on the line.
 *
 * Called for each element in document order while the stanza's raw bytes
 * still follow the rule, so the parent does: a parent on the line inherits,
 * hence nothing above declares a default namespace, and n alone decides.
 * Off the line the walk up is needed only for an unprefixed element in the
 * top-level element's namespace without a declaration of its own, and
 * stops at the first default declaration (a forwarded stanza's own).
 */
bool xml_raw_follows_ns_rule(const struct xml_node *n, bool prefixed)
{
	const struct xml_node *top = n;
	while (top->parent)
		top = top->parent;
	/* Nothing is translated below a top-level element in another
	 * namespace: raw bytes mean what they say. */
	if (n == top || !xml_ns_is_content(top->ns))
		return true;
	bool parent_on_line = true;
	for (const struct xml_node *e = n->parent; e != top; e = e->parent) {
		if (e->ns != top->ns) {
			parent_on_line = false;
			break;
		}
	}
	bool plain = !prefixed && !declares_default(n);
	if (parent_on_line)
		return plain == (n->ns == top->ns);
	/* n keeps its namespace; raw content would translate it only if it
	 * inherited, which needs its namespace to be the top-level one. */
	if (!plain || n->ns != top->ns)
		return true;
	for (const struct xml_node *e = n->parent; e != top; e = e->parent) {
		if (declares_default(e))
			return true;
	}
	return false;
}
