/*
 * body: the <body/> wrapper of XEP-0124, both ways, as pure functions.
 * Reading a request body uses the stream parser of xml/ with the stream's
 * limits (the body is the root, its children the top-level elements), so
 * a body is held to the same rules as a TCP stream before any of it
 * reaches the XMPP stream: restricted XML, depth, attributes, bytes.
 * Writing qualifies the stream's output for a body (bosh_qualify).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bosh/internal.h"
#include "core/arena.h"
#include "xml/xml.h"

struct body_reader {
	struct bosh_body *out;
	bool started, ended, bad_root, bad_attr;
	const char *why;
};

static bool parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || strlen(s) > 19)
		return false;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static bool copy_attr(char *dst, size_t n, const char *v)
{
	if (!v)
		return true;
	if (strlen(v) >= n)
		return false;
	memcpy(dst, v, strlen(v) + 1);
	return true;
}

static void on_body_start(void *ud, const struct xml_node *h)
{
	struct body_reader *br = ud;
	struct bosh_body *b = br->out;
	br->started = true;
	if (strcmp(h->name, "body") != 0 || !h->ns || strcmp(h->ns, BOSH_NS) != 0) {
		br->bad_root = true;
		br->why = "the root is not <body/> in http://jabber.org/protocol/httpbind";
		return;
	}
	const char *rid = xml_node_attr(h, "rid");
	if (!parse_u64(rid, &b->rid) || b->rid == 0 || b->rid > (1ULL << 53)) {
		br->bad_attr = true;
		br->why = rid ? "the rid is not a number between 1 and 2^53" : "no rid";
	}
	if (!copy_attr(b->sid, sizeof(b->sid), xml_node_attr(h, "sid"))) {
		br->bad_attr = true;
		br->why = "the sid is too long";
	}
	const char *type = xml_node_attr(h, "type");
	b->terminate = type && strcmp(type, "terminate") == 0;
	const char *restart = xml_node_attr_ns(h, BOSH_NS_XMPP, "restart");
	b->restart = restart && (strcmp(restart, "true") == 0 || strcmp(restart, "1") == 0);
	uint64_t v;
	const char *ack = xml_node_attr(h, "ack");
	if (ack) {
		b->has_ack = parse_u64(ack, &b->ack);
		if (!b->has_ack) {
			br->bad_attr = true;
			br->why = "the ack is not a number";
		}
	}
	const char *wait = xml_node_attr(h, "wait"), *hold = xml_node_attr(h, "hold");
	if (wait) {
		if (!parse_u64(wait, &v) || v > 1000000) {
			br->bad_attr = true;
			br->why = "the wait is not a number of seconds";
		} else {
			b->has_wait = true;
			b->wait = (unsigned)v;
		}
	}
	if (hold) {
		if (!parse_u64(hold, &v) || v > 1000000) {
			br->bad_attr = true;
			br->why = "the hold is not a number";
		} else {
			b->has_hold = true;
			b->hold = (unsigned)v;
		}
	}
	if (!copy_attr(b->to, sizeof(b->to), xml_node_attr(h, "to")) ||
	    !copy_attr(b->lang, sizeof(b->lang), xml_node_attr_ns(h, XML_NS_XML, "lang")) ||
	    !copy_attr(b->ver, sizeof(b->ver), xml_node_attr(h, "ver")) ||
	    !copy_attr(b->content, sizeof(b->content), xml_node_attr(h, "content")) ||
	    !copy_attr(b->xmpp_version, sizeof(b->xmpp_version), xml_node_attr_ns(h, BOSH_NS_XMPP, "version"))) {
		br->bad_attr = true;
		br->why = "an attribute of <body/> is too long";
	}
}

static void on_body_child(void *ud, struct arena *a, struct xml_node *el)
{
	struct body_reader *br = ud;
	struct buf *p = &br->out->payload;
	/* The child's own bytes: without a namespace of its own it inherits
	 * the stream's, jabber:client, as XEP-0206 clients expect.  Bytes
	 * the parser could not keep (a prefix declared on <body/>) are
	 * written again from the tree. */
	if (el->raw)
		buf_append(p, el->raw, el->raw_len);
	else
		xml_serialize(p, el, el->ns && strcmp(el->ns, BOSH_NS) == 0 ? BOSH_NS : XML_NS_CLIENT);
	arena_free(a);
}

static void on_body_end(void *ud)
{
	struct body_reader *br = ud;
	br->ended = true;
}

static const struct xml_parser_handler body_handler = {
	.stream_start = on_body_start,
	.element = on_body_child,
	.stream_end = on_body_end,
};

enum bosh_body_error bosh_body_parse(const char *data, size_t len, const struct xml_limits *lim,
				     struct bosh_body *out, const char **why)
{
	struct buf payload = out->payload;
	memset(out, 0, sizeof(*out));
	out->payload = payload;
	if (len > lim->stanza_bytes + lim->header_bytes) {
		*why = "the body is larger than the stream's stanza limit (limits.stanza_bytes)";
		return BOSH_BODY_TOO_LARGE;
	}
	struct body_reader br = {.out = out};
	struct xml_parser *p = xml_parser_new(lim, &body_handler, &br);
	enum xml_feed r = xml_parser_feed(p, data, len, NULL);
	enum bosh_body_error e = BOSH_BODY_OK;
	const char *detail = NULL;
	if (r == XML_FEED_ERROR) {
		enum xml_error xe = xml_parser_error(p, &detail);
		e = xe == XML_ERR_POLICY ? BOSH_BODY_TOO_LARGE : BOSH_BODY_NOT_XML;
		*why = xe == XML_ERR_POLICY ? "an element of the body is over a stream limit (limits.*)"
					    : "the body is not well-formed XML";
	} else if (!br.started || !br.ended) {
		e = BOSH_BODY_NOT_XML;
		*why = "the body is not a complete XML document";
	}
	xml_parser_free(p);
	if (e == BOSH_BODY_OK && br.bad_root) {
		e = BOSH_BODY_NOT_BODY;
		*why = br.why;
	} else if (e == BOSH_BODY_OK && br.bad_attr) {
		e = BOSH_BODY_BAD_ATTR;
		*why = br.why;
	}
	if (e != BOSH_BODY_OK && br.bad_root)
		out->sid[0] = '\0'; /* not a body of ours: names no session */
	return e;
}

const char *bosh_body_error_condition(enum bosh_body_error e)
{
	return e == BOSH_BODY_TOO_LARGE ? "policy-violation" : "bad-request";
}

/* ---- output ---- */

static bool name_char(char c)
{
	return c && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '>' && c != '/';
}

/* Whether the start tag [p, end) declares a default namespace. */
static bool declares_default_ns(const char *p, const char *end)
{
	for (const char *q = p; q + 6 <= end; q++)
		if ((q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\n' || q[-1] == '\r') && memcmp(q, "xmlns", 5) == 0 &&
		    (q[5] == '=' || q[5] == ' ' || q[5] == '\t'))
			return true;
	return false;
}

void bosh_qualify(struct buf *out, const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	int depth = 0;
	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		if (!lt) {
			buf_append(out, p, (size_t)(end - p));
			return;
		}
		buf_append(out, p, (size_t)(lt - p));
		p = lt;
		if (end - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
			const char *q = p + 9, *close = NULL;
			for (; q + 3 <= end; q++)
				if (memcmp(q, "]]>", 3) == 0) {
					close = q + 3;
					break;
				}
			if (!close)
				close = end;
			buf_append(out, p, (size_t)(close - p));
			p = close;
			continue;
		}
		const char *gt = memchr(p, '>', (size_t)(end - p));
		if (!gt)
			gt = end - 1;
		const char *tag_end = gt + 1;
		if (p + 1 < end && (p[1] == '?' || p[1] == '!')) {
			buf_append(out, p, (size_t)(tag_end - p));
			p = tag_end;
			continue;
		}
		if (p + 1 < end && p[1] == '/') {
			depth--;
			buf_append(out, p, (size_t)(tag_end - p));
			p = tag_end;
			continue;
		}
		bool empty = gt > p && gt[-1] == '/';
		const char *name = p + 1, *name_end = name;
		while (name_end < gt && name_char(*name_end))
			name_end++;
		bool prefixed = memchr(name, ':', (size_t)(name_end - name)) != NULL;
		if (depth == 0 && !prefixed && !declares_default_ns(name_end, gt)) {
			buf_append(out, p, (size_t)(name_end - p));
			buf_append_str(out, " xmlns='jabber:client'");
			buf_append(out, name_end, (size_t)(tag_end - name_end));
		} else {
			buf_append(out, p, (size_t)(tag_end - p));
		}
		if (!empty)
			depth++;
		p = tag_end;
	}
}
