/*
 * fuzz_xml: libFuzzer target for the xml module.  The input is a stream fed
 * to a parser with small limits, in pieces chosen by its first bytes.  Every
 * element delivered is serialised by both paths (raw bytes and tree), each
 * result is parsed back and must give the tree the serializer promised
 * (the namespace rule of src/xml/serialize.c, restated in tree_matches);
 * a stopping handler exercises the consumed count and reset.
 *
 * Input layout: flags, piece count n (mod 8), n piece lengths, stream bytes.
 *   flags & 3: target stream namespace (client, server, other)
 *   flags & 4: stop after every 3rd element, reset, feed the rest
 *   flags & 8: stamp a `from` attribute on each stanza before serialising
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "xml/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct xml_limits fuzz_limits = {
	.stanza_bytes = 2048,
	.header_bytes = 512,
	.depth = 8,
	.elements = 64,
	.attrs = 8,
	.attr_bytes = 256,
};

/* Serialised output is larger than its input (escaping, declarations). */
static const struct xml_limits reparse_limits = {
	.stanza_bytes = 1 << 20,
	.header_bytes = 4096,
	.depth = 64,
	.elements = 100000,
	.attrs = 256,
	.attr_bytes = 1 << 20,
};

struct fuzz {
	struct xml_parser *p;
	const char *stream_ns;
	unsigned flags;
	unsigned elements;
};

struct reparse {
	struct arena *a;
	struct xml_node *root;
	unsigned count;
};

static void rp_start(void *ud, const struct xml_node *h)
{
	(void)ud;
	(void)h;
}

static void rp_element(void *ud, struct arena *a, struct xml_node *root)
{
	struct reparse *r = ud;
	if (r->count++ == 0) {
		r->a = a;
		r->root = root;
	} else {
		arena_free(a);
	}
}

static void rp_end(void *ud)
{
	(void)ud;
}

static const struct xml_parser_handler rp_handler = {rp_start, rp_element, rp_end};

static bool is_content(const char *ns)
{
	return ns == XML_NS_CLIENT || ns == XML_NS_SERVER;
}

static bool str_eq0(const char *a, const char *b)
{
	if (!a || !b)
		return (!a || !*a) && (!b || !*b);
	return strcmp(a, b) == 0;
}

/*
 * Whether `got` (parsed back) is `want` as written into a stream whose
 * content namespace is `target` (NULL when the stream's namespace is not
 * jabber:client or jabber:server).  The namespace rule of serialize.c,
 * restated: an element on the line (the top-level element in a content
 * namespace, and below it every element in that namespace whose parent is
 * on the line) comes back in `target`; every other element in its own
 * namespace.  `line` is the line's namespace when the parent is on it,
 * else NULL.
 */
static bool tree_matches(const struct xml_node *want, const struct xml_node *got,
			 const char *target, const char *line)
{
	if (!want->name != !got->name)
		return false;
	if (!want->name)
		return want->text_len == got->text_len &&
		       memcmp(want->text, got->text, want->text_len) == 0;
	if (strcmp(want->name, got->name) != 0 || want->nattrs != got->nattrs)
		return false;
	bool on_line = line && want->ns == line;
	if (!str_eq0(on_line && target ? target : want->ns, got->ns))
		return false;
	for (unsigned i = 0; i < want->nattrs; i++) {
		const struct xml_attr *x = &want->attrs[i];
		bool found = false;
		for (unsigned j = 0; j < got->nattrs && !found; j++) {
			const struct xml_attr *y = &got->attrs[j];
			found = strcmp(x->name, y->name) == 0 && str_eq0(x->ns, y->ns) &&
				x->value_len == y->value_len &&
				memcmp(x->value, y->value, x->value_len) == 0;
		}
		if (!found)
			return false;
	}
	const struct xml_node *a = want->children, *b = got->children;
	for (; a && b; a = a->next, b = b->next) {
		if (!tree_matches(a, b, target, on_line ? line : NULL))
			return false;
	}
	return !a && !b;
}

static void check_output(const struct xml_node *n, const struct buf *out, const char *stream_ns,
			 const char *path)
{
	struct buf hdr = BUF_INIT;
	buf_printf(&hdr, "<stream:stream xmlns='%s' xmlns:stream='%s'>", stream_ns, XML_NS_STREAM);
	struct reparse r = {0};
	struct xml_parser *p = xml_parser_new(&reparse_limits, &rp_handler, &r);
	enum xml_feed f1 = xml_parser_feed(p, hdr.data, hdr.len, NULL);
	enum xml_feed f2 = xml_parser_feed(p, out->data, out->len, NULL);
	if (f1 != XML_FEED_OK || f2 != XML_FEED_OK || r.count != 1) {
		const char *detail;
		xml_parser_error(p, &detail);
		fprintf(stderr, "%s output does not parse back (%s): %.*s\n", path, detail,
			(int)out->len, out->data);
		abort();
	}
	const char *target = is_content(stream_ns) ? stream_ns : NULL;
	if (!tree_matches(n, r.root, target, is_content(n->ns) ? n->ns : NULL)) {
		fprintf(stderr, "%s output parses to another tree: %.*s\n", path, (int)out->len,
			out->data);
		abort();
	}
	arena_free(r.a);
	xml_parser_free(p);
	buf_clear(&hdr);
}

static void f_start(void *ud, const struct xml_node *h)
{
	struct fuzz *f = ud;
	/* The header is readable during the call. */
	(void)xml_node_attr(h, "to");
	(void)xml_node_first_element(h);
	(void)f;
}

static void f_element(void *ud, struct arena *a, struct xml_node *root)
{
	struct fuzz *f = ud;
	if (root->raw) {
		if (root->raw_len < root->raw_start_len || root->raw_start_len < 3 ||
		    root->raw[0] != '<' || root->raw[root->raw_start_len - 1] != '>' ||
		    root->raw[root->raw_len - 1] != '>')
			abort();
	}
	if (f->flags & 8) {
		xml_node_set_attr(a, root, "from", "fuzz@example.com/r&<'\"");
		if (root->raw == NULL && root->raw_len != 0)
			abort();
	}
	struct buf out = BUF_INIT;
	if (root->raw) {
		xml_serialize(&out, root, f->stream_ns);
		check_output(root, &out, f->stream_ns, "raw");
		buf_reset(&out);
	}
	struct xml_node *copy = xml_node_copy(a, root);
	if (copy->raw)
		abort();
	xml_serialize(&out, copy, f->stream_ns);
	check_output(root, &out, f->stream_ns, "tree");
	buf_clear(&out);
	(void)xml_node_text(a, root);
	arena_free(a);
	if ((f->flags & 4) && ++f->elements % 3 == 0)
		xml_parser_stop(f->p);
}

static void f_end(void *ud)
{
	(void)ud;
}

static const struct xml_parser_handler f_handler = {f_start, f_element, f_end};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	static const char *const targets[] = {XML_NS_CLIENT, XML_NS_SERVER, "urn:fuzz:other",
					      XML_NS_CLIENT};
	struct fuzz f = {.flags = data[0], .stream_ns = targets[data[0] & 3]};
	size_t npieces = data[1] % 8;
	size_t off = 2;
	size_t pieces[8];
	for (size_t i = 0; i < npieces; i++)
		pieces[i] = off < size ? data[off++] : 0;
	const char *s = (const char *)data + (off < size ? off : size);
	size_t len = size - (off < size ? off : size);

	f.p = xml_parser_new(&fuzz_limits, &f_handler, &f);
	size_t pos = 0;
	size_t piece = 0;
	unsigned restarts = 0;
	while (pos < len) {
		size_t n = piece < npieces ? pieces[piece++] : len - pos;
		if (n > len - pos)
			n = len - pos;
		size_t consumed = 0;
		enum xml_feed r = xml_parser_feed(f.p, s + pos, n, &consumed);
		if (r == XML_FEED_ERROR) {
			if (xml_parser_error(f.p, NULL) == XML_OK)
				abort();
			if (xml_parser_feed(f.p, "<a/>", 4, NULL) != XML_FEED_ERROR)
				abort();
			break;
		}
		if (r == XML_FEED_STOPPED) {
			if (consumed > n)
				abort();
			xml_parser_reset(f.p);
			if (xml_parser_buffered(f.p) != 0 || ++restarts > 64)
				break;
			pos += consumed;
			continue;
		}
		if (consumed != n || xml_parser_buffered(f.p) > fuzz_limits.stanza_bytes)
			abort();
		pos += n;
	}
	xml_parser_free(f.p);
	arena_cache_drain();
	return 0;
}
