/*
 * fragment: one stored element back into a tree, through the stream parser
 * (so stored data meets the same restricted-XML rules as network input):
 * the element is fed inside a synthetic jabber:client stream header.
 */
#include <string.h>

#include "core/arena.h"
#include "xml/xml.h"

struct fragment_ctx {
	struct arena *dst;
	struct xml_node *root;
	unsigned count;
};

static void frag_start(void *ud, const struct xml_node *header)
{
	(void)ud;
	(void)header;
}

static void frag_element(void *ud, struct arena *a, struct xml_node *root)
{
	struct fragment_ctx *c = ud;
	if (c->count++ == 0)
		c->root = xml_node_copy(c->dst, root);
	arena_free(a);
}

static void frag_end(void *ud)
{
	(void)ud;
}

static const struct xml_parser_handler frag_handler = {
	.stream_start = frag_start,
	.element = frag_element,
	.stream_end = frag_end,
};

struct xml_node *xml_parse_fragment(struct arena *a, const char *data, size_t len)
{
	static const char head[] = "<stream:stream xmlns='jabber:client' "
				   "xmlns:stream='http://etherx.jabber.org/streams'>";
	static const char tail[] = "</stream:stream>";
	const struct xml_limits lim = {
		.stanza_bytes = len + 64,
		.header_bytes = sizeof(head),
		.depth = 256,
		.elements = 1000000,
		.attrs = 4096,
		/* Covers the header's namespace URIs too: limits apply to
		 * the stream header's declarations as well. */
		.attr_bytes = len + sizeof(head),
	};
	struct fragment_ctx c = {.dst = a};
	struct xml_parser *p = xml_parser_new(&lim, &frag_handler, &c);
	bool ok = xml_parser_feed(p, head, sizeof(head) - 1, NULL) == XML_FEED_OK &&
		  xml_parser_feed(p, data, len, NULL) == XML_FEED_OK &&
		  xml_parser_feed(p, tail, sizeof(tail) - 1, NULL) == XML_FEED_OK;
	xml_parser_free(p);
	return ok && c.count == 1 ? c.root : NULL;
}
