/*
 * frame: what a message we write needs to stand alone (RFC 7395 §3.3.3).
 * The stream machine writes top-level elements serialised for a stream
 * whose root declares the content namespace (jabber:client) and the
 * stream: prefix; over TCP they inherit both from our header, over
 * WebSocket there is no header to inherit from, so each message declares
 * them on its root element.  xmpp.js, for one, parses every message on
 * its own and sees an undeclared element as no stanza at all.
 *
 * A pure function over the start tag: it reads attribute names and skips
 * quoted values; it never parses the whole element.
 */
#include "ws/internal.h"

#include <string.h>

#include "core/buf.h"
#include "xml/ns.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool name_end(char c)
{
	return is_space(c) || c == '/' || c == '>' || c == '=';
}

/* Whether the start tag in p[from, len) declares attribute `want`. */
static bool declares(const char *p, size_t len, size_t from, const char *want)
{
	size_t wn = strlen(want), i = from;
	while (i < len) {
		while (i < len && is_space(p[i]))
			i++;
		if (i >= len || p[i] == '>' || p[i] == '/')
			return false;
		size_t start = i;
		while (i < len && !name_end(p[i]))
			i++;
		bool match = i - start == wn && memcmp(p + start, want, wn) == 0;
		while (i < len && is_space(p[i]))
			i++;
		if (i >= len || p[i] != '=')
			return false;
		i++;
		while (i < len && is_space(p[i]))
			i++;
		if (i >= len || (p[i] != '\'' && p[i] != '"'))
			return false;
		const char *close = memchr(p + i + 1, p[i], len - i - 1);
		if (!close)
			return false;
		if (match)
			return true;
		i = (size_t)(close - p) + 1;
	}
	return false;
}

bool ws_frame_ns_fix(const char *p, size_t len, const char *content_ns, size_t *at, struct buf *decl)
{
	if (len < 2 || p[0] != '<')
		return false;
	size_t i = 1;
	while (i < len && !name_end(p[i]))
		i++;
	size_t name_len = i - 1;
	if (name_len == 0)
		return false;
	const char *name = p + 1;
	const char *colon = memchr(name, ':', name_len);
	if (colon) {
		/* The only prefix our serialiser writes on elements. */
		if ((size_t)(colon - name) != 6 || memcmp(name, "stream", 6) != 0 || declares(p, len, i, "xmlns:stream"))
			return false;
		*at = i;
		buf_append_str(decl, " xmlns:stream='");
		buf_append_str(decl, XML_NS_STREAM);
		buf_append_char(decl, '\'');
		return true;
	}
	if (declares(p, len, i, "xmlns"))
		return false;
	*at = i;
	buf_append_str(decl, " xmlns='");
	buf_append_str(decl, content_ns);
	buf_append_char(decl, '\'');
	return true;
}
