/*
 * parser: the XMPP stream parser.  Expat (namespaces on, prefixes reported)
 * tokenises; this file turns its events into a stream header, whole
 * top-level elements each in its own arena, and a stream end, while it
 * enforces the limits of struct xml_limits and the restricted-XML rules of
 * RFC 6120 §11.
 *
 * Byte positions are absolute offsets in the stream (expat's byte index).
 * The bytes of a top-level element are copied into its arena as `raw` when
 * it ends; only an element that spans several feed() calls keeps its first
 * part in `keep` meanwhile, so an idle connection holds (almost) nothing.
 *
 * This is not a general XML parser: no DTD, no entities beyond the five
 * predefined ones, no encodings but UTF-8, and the first element is
 * assumed to be a stream root that stays open.
 */
#include "xml/xml.h"

#include <expat.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"
#include "xml/internal.h"

/* Separates URI, local name and prefix in the names expat reports.  A
 * control character cannot occur in XML 1.0 names or (even as a
 * character reference) in namespace URIs, so it never collides. */
#define NS_SEP '\x01'

/* Scratch buffers larger than this are freed rather than kept between
 * stanzas, so an idle connection holds little memory. */
enum { KEEP_IDLE_CAP = 1024, DETAIL_MAX = 160 };

enum parser_state {
	PARSER_RUNNING,
	PARSER_STOPPED, /* a handler called xml_parser_stop() */
	PARSER_FAILED,  /* err and detail say why */
};

/* Owner: the session that reads the stream (one per connection). */
struct xml_parser {
	XML_Parser xp;
	struct xml_region *region; /* all of xp's memory; NULL while dormant */
	struct xml_limits lim;
	struct xml_parser_handler h;
	void *ud;

	enum parser_state state;
	bool stop_requested;
	uint64_t stop_off;         /* where the stopping handler's element ended */
	enum xml_error err;
	char *detail;              /* made when the stream fails */

	/* Stream position */
	unsigned depth;            /* open elements, the stream root included */
	bool header_done;
	bool stream_ended;
	uint64_t boundary;         /* end of the header or of the last stanza */

	/* Byte bookkeeping for raw capture.  keep holds the stream bytes
	 * [keep_off, data_off) that the current stanza may still need;
	 * data is the caller's buffer during feed(). */
	struct buf keep;
	uint64_t keep_off;
	const char *data;
	uint64_t data_off;
	uint64_t fed;              /* bytes handed to expat so far */

	/* Header under construction; freed once stream_start returns, so
	 * an open stream holds no arena between stanzas. */
	struct arena *hdr_arena;

	/* Dormancy (xml_parser_trim): an idle stream between stanzas frees
	 * its expat parser; the next feed primes a new one with `resume`, a
	 * start tag carrying the stream root's namespace declarations.
	 * Expat counts bytes from 0 again, so xp_base maps its byte index to
	 * stream offsets. */
	bool dormant;
	bool priming;
	char *resume;
	size_t resume_len;
	uint64_t xp_base;

	/* Stanza under construction */
	struct arena *a;
	struct xml_node *root;
	struct xml_node *cur;
	unsigned elements;
	bool raw_ok;
	uint64_t stanza_start;
	size_t start_len;

	/* Namespace declarations seen for the next start tag */
	struct xml_nsdecl *decls;
	struct xml_nsdecl **decls_tail;
	unsigned ndecls;

	/* Text run being merged: expat reports text in pieces (each newline,
	 * each reference, each buffer edge).  The first piece goes straight to
	 * the arena; only a second one moves the run into `text`. */
	struct xml_node *text_node;
	bool text_in_buf;
	struct buf text;
};

/* ---- Failing and stopping --------------------------------------------- */

static void parser_fail(struct xml_parser *p, enum xml_error e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void parser_fail(struct xml_parser *p, enum xml_error e, const char *fmt, ...)
{
	if (p->state != PARSER_RUNNING)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (!p->detail)
		p->detail = xmalloc(DETAIL_MAX);
	vsnprintf(p->detail, DETAIL_MAX, fmt, ap);
	va_end(ap);
	p->err = e;
	p->state = PARSER_FAILED;
	/* Non-resumable: expat returns to feed() after this handler, which
	 * then reports the failure.  The parser is never freed from here. */
	XML_StopParser(p->xp, XML_FALSE);
}

/* Expat's byte index of the current event as a stream offset. */
static uint64_t xp_index(const struct xml_parser *p)
{
	return p->xp_base + (uint64_t)XML_GetCurrentByteIndex(p->xp);
}

static uint64_t event_end(const struct xml_parser *p)
{
	return xp_index(p) + (uint64_t)XML_GetCurrentByteCount(p->xp);
}

/* After a user handler returned: honour xml_parser_stop(). */
static void parser_check_stop(struct xml_parser *p, uint64_t end)
{
	if (!p->stop_requested || p->state != PARSER_RUNNING)
		return;
	p->stop_requested = false;
	p->state = PARSER_STOPPED;
	p->stop_off = end;
	XML_StopParser(p->xp, XML_FALSE);
}

/* ---- Building nodes ------------------------------------------------------ */

struct qname {
	const char *uri; /* NULL: no namespace */
	size_t uri_len;
	const char *local;
	size_t local_len;
	const char *prefix; /* NULL: unprefixed */
};

static void qname_split(const char *s, struct qname *q)
{
	const char *a = strchr(s, NS_SEP);
	q->prefix = NULL;
	if (!a) {
		q->uri = NULL;
		q->uri_len = 0;
		q->local = s;
		q->local_len = strlen(s);
		return;
	}
	q->uri = s;
	q->uri_len = (size_t)(a - s);
	q->local = a + 1;
	const char *b = strchr(q->local, NS_SEP);
	if (b) {
		q->local_len = (size_t)(b - q->local);
		q->prefix = b + 1;
	} else {
		q->local_len = strlen(q->local);
	}
}

/* Interned for known URIs; the parent's pointer when it is the same URI
 * (most elements), so an unknown namespace is copied once per subtree. */
static const char *ns_resolve(struct arena *a, const struct xml_node *parent, const char *uri,
			      size_t len)
{
	if (!uri)
		return "";
	if (parent && strncmp(parent->ns, uri, len) == 0 && parent->ns[len] == '\0')
		return parent->ns;
	const char *in = xml_ns_intern_len(uri, len);
	return in ? in : arena_strndup(a, uri, len);
}

/* Whether `prefix` is declared on `n` or an ancestor inside the stanza. */
static bool prefix_in_stanza(const struct xml_node *n, const char *prefix)
{
	for (; n; n = n->parent) {
		for (const struct xml_nsdecl *d = n->nsdecls; d; d = d->next) {
			if (d->prefix && strcmp(d->prefix, prefix) == 0)
				return true;
		}
	}
	return false;
}

/* The attribute count limit (namespace declarations included), checked
 * before anything of the element is copied. */
static bool check_attr_count(struct xml_parser *p, unsigned nattrs)
{
	if (nattrs + p->ndecls > p->lim.attrs) {
		parser_fail(p, XML_ERR_POLICY, "element over %u attributes", p->lim.attrs);
		return false;
	}
	return true;
}

/* Makes the node for a start tag in arena `a`, or fails on an attribute
 * value over the limit (NULL).  `in_stanza` enables the raw-bytes prefix
 * bookkeeping. */
static struct xml_node *node_build(struct xml_parser *p, struct arena *a, struct xml_node *parent,
				   const char *name, const char **atts, unsigned nattrs,
				   bool in_stanza)
{
	struct qname q;
	struct xml_node *n = arena_alloc(a, sizeof(*n));
	memset(n, 0, sizeof(*n));
	qname_split(name, &q);
	n->name = arena_strndup(a, q.local, q.local_len);
	n->ns = ns_resolve(a, parent, q.uri, q.uri_len);
	n->parent = parent;
	n->nsdecls = p->decls;
	p->decls = NULL;
	p->decls_tail = &p->decls;
	p->ndecls = 0;
	if (in_stanza && q.prefix && (!parent || !prefix_in_stanza(n, q.prefix)))
		p->raw_ok = false;
	/* Raw content that would translate another set of elements than the
	 * tree's namespace rule (serialize.c) must not be reused. */
	if (in_stanza && parent && p->raw_ok && !xml_raw_follows_ns_rule(n, q.prefix != NULL))
		p->raw_ok = false;

	if (nattrs) {
		n->attrs = arena_alloc(a, nattrs * sizeof(*n->attrs));
		n->nattrs = n->attrs_cap = nattrs;
	}
	for (unsigned i = 0; i < nattrs; i++) {
		struct xml_attr *at = &n->attrs[i];
		const char *value = atts[2 * i + 1];
		size_t vlen = strlen(value);
		if (vlen > p->lim.attr_bytes) {
			parser_fail(p, XML_ERR_POLICY, "attribute value over %zu bytes",
				    p->lim.attr_bytes);
			return NULL;
		}
		qname_split(atts[2 * i], &q);
		at->name = arena_strndup(a, q.local, q.local_len);
		if (!q.uri) {
			at->ns = NULL;
		} else if (q.prefix && strcmp(q.prefix, "xml") == 0) {
			at->ns = XML_NS_XML;
		} else {
			const char *in = xml_ns_intern_len(q.uri, q.uri_len);
			at->ns = in ? in : arena_strndup(a, q.uri, q.uri_len);
			if (in_stanza && q.prefix && !prefix_in_stanza(n, q.prefix))
				p->raw_ok = false;
		}
		at->value_len = vlen;
		at->value = arena_strndup(a, value, vlen);
	}
	return n;
}

/* ---- Text ------------------------------------------------------------------ */

static void text_flush(struct xml_parser *p)
{
	if (p->text_in_buf) {
		struct xml_node *t = p->text_node;
		t->text = arena_strndup(p->a, p->text.data, p->text.len);
		t->text_len = p->text.len;
		buf_reset(&p->text);
		p->text_in_buf = false;
	}
	p->text_node = NULL;
}

static void text_add(struct xml_parser *p, const char *s, size_t len)
{
	struct xml_node *t = p->text_node;
	if (t) {
		if (!p->text_in_buf) {
			buf_reset(&p->text);
			buf_append(&p->text, t->text, t->text_len);
			p->text_in_buf = true;
		}
		buf_append(&p->text, s, len);
		return;
	}
	t = arena_alloc(p->a, sizeof(*t));
	memset(t, 0, sizeof(*t));
	t->ns = "";
	t->text = arena_strndup(p->a, s, len);
	t->text_len = len;
	t->parent = p->cur;
	if (p->cur->last_child)
		p->cur->last_child->next = t;
	else
		p->cur->children = t;
	p->cur->last_child = t;
	p->text_node = t;
}

static bool is_xml_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return false;
	}
	return true;
}

/* ---- Raw bytes --------------------------------------------------------------- */

/* Copies stream bytes [from, to) out of keep and the current data. */
static void bytes_copy(const struct xml_parser *p, char *dst, uint64_t from, uint64_t to)
{
	if (from < p->data_off) {
		uint64_t end = to < p->data_off ? to : p->data_off;
		memcpy(dst, p->keep.data + (from - p->keep_off), (size_t)(end - from));
		dst += end - from;
		from = end;
	}
	if (from < to)
		memcpy(dst, p->data + (from - p->data_off), (size_t)(to - from));
}

static char byte_at(const struct xml_parser *p, uint64_t off)
{
	if (off < p->data_off)
		return p->keep.data[off - p->keep_off];
	return p->data[off - p->data_off];
}

/*
 * End of a feed: keep what a stanza not yet complete will need for its raw
 * bytes.  Inside a stanza that is everything from its '<'.  Between
 * stanzas it is a possibly partial start tag: whitespace after the last
 * boundary is skipped (each byte once) and never kept.
 */
static void keep_tail(struct xml_parser *p)
{
	uint64_t from;
	if (p->root) {
		/* A stanza that lost its raw bytes needs none kept. */
		from = p->raw_ok ? p->stanza_start : p->fed;
	} else if (p->header_done && !p->stream_ended) {
		from = p->boundary > p->keep_off ? p->boundary : p->keep_off;
		while (from < p->fed) {
			char c = byte_at(p, from);
			if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
				break;
			from++;
		}
	} else {
		from = p->fed;
	}

	if (from >= p->data_off) {
		buf_reset(&p->keep);
		buf_append(&p->keep, p->data + (from - p->data_off), (size_t)(p->fed - from));
	} else {
		buf_consume(&p->keep, (size_t)(from - p->keep_off));
		buf_append(&p->keep, p->data, (size_t)(p->fed - p->data_off));
	}
	p->keep_off = from;
	if (p->keep.len == 0 && p->keep.cap > KEEP_IDLE_CAP)
		buf_clear(&p->keep);
	p->data = NULL;
	p->data_off = p->fed;
}

/* ---- Expat handlers -------------------------------------------------------- */

static void stanza_start(struct xml_parser *p, const char *name, const char **atts,
			 unsigned nattrs)
{
	unsigned d = p->depth; /* 1 for a top-level element */
	if (d > p->lim.depth) {
		parser_fail(p, XML_ERR_POLICY, "element depth over %u", p->lim.depth);
		return;
	}
	if (d == 1)
		p->elements = 0;
	if (p->elements >= p->lim.elements) {
		parser_fail(p, XML_ERR_POLICY, "stanza over %u elements", p->lim.elements);
		return;
	}
	/* The feed window bounds stanza bytes; this catches limits lowered
	 * by a handler while expat still had bytes to go. */
	if (event_end(p) - p->boundary > p->lim.stanza_bytes) {
		parser_fail(p, XML_ERR_POLICY, "stanza over %zu bytes", p->lim.stanza_bytes);
		return;
	}
	if (!check_attr_count(p, nattrs))
		return;

	text_flush(p);
	if (d == 1) {
		if (!p->a)
			p->a = arena_new();
		p->stanza_start = xp_index(p);
		p->start_len = (size_t)XML_GetCurrentByteCount(p->xp);
		p->raw_ok = true;
	}
	struct xml_node *parent = d == 1 ? NULL : p->cur;
	struct xml_node *n = node_build(p, p->a, parent, name, atts, nattrs, true);
	if (!n)
		return;
	p->elements++;
	if (parent) {
		if (parent->last_child)
			parent->last_child->next = n;
		else
			parent->children = n;
		parent->last_child = n;
	} else {
		p->root = n;
	}
	p->cur = n;
	p->depth++;
}

/* The start tag that re-creates the root's namespace context after
 * dormancy: the root in its namespace under a reserved prefix, and every
 * declaration the client made on it. */
static void resume_build(struct xml_parser *p, const char *qname, const struct xml_node *hdr)
{
	/* The end tag must match the start tag's prefix literally, so the
	 * root is written with the prefix the client used (expat reports it
	 * as the third part of the name). */
	const char *sep1 = strchr(qname, NS_SEP);
	const char *sep2 = sep1 ? strchr(sep1 + 1, NS_SEP) : NULL;
	struct buf b = BUF_INIT;
	if (sep2)
		buf_printf(&b, "<%s:%s", sep2 + 1, hdr->name);
	else
		buf_printf(&b, "<%s", hdr->name);
	for (const struct xml_nsdecl *d = hdr->nsdecls; d; d = d->next) {
		buf_printf(&b, " xmlns%s%s='", d->prefix ? ":" : "", d->prefix ? d->prefix : "");
		xml_escape_attr(&b, d->uri, strlen(d->uri));
		buf_append_char(&b, '\'');
	}
	buf_append_char(&b, '>');
	free(p->resume);
	p->resume_len = b.len;
	p->resume = xmemdup(b.data, b.len); /* kept for the stream's life: no slack */
	buf_clear(&b);
}

static void header_start(struct xml_parser *p, const char *name, const char **atts,
			 unsigned nattrs)
{
	if (p->priming) {
		/* Re-creating the context of a stream already open. */
		arena_free(p->hdr_arena);
		p->hdr_arena = NULL;
		p->decls = NULL;
		p->decls_tail = &p->decls;
		p->ndecls = 0;
		p->depth = 1;
		return;
	}
	if (!check_attr_count(p, nattrs))
		return;
	if (!p->hdr_arena)
		p->hdr_arena = arena_new();
	struct xml_node *hdr = node_build(p, p->hdr_arena, NULL, name, atts, nattrs, false);
	if (!hdr)
		return;
	uint64_t end = event_end(p);
	p->header_done = true;
	p->boundary = end;
	p->depth = 1;
	resume_build(p, name, hdr);
	p->h.stream_start(p->ud, hdr);
	arena_free(p->hdr_arena);
	p->hdr_arena = NULL;
	parser_check_stop(p, end);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct xml_parser *p = ud;
	if (p->state != PARSER_RUNNING)
		return;
	unsigned nattrs = (unsigned)XML_GetSpecifiedAttributeCount(p->xp) / 2;
	if (p->depth == 0)
		header_start(p, name, atts, nattrs);
	else
		stanza_start(p, name, atts, nattrs);
}

static void stanza_deliver(struct xml_parser *p)
{
	uint64_t end = event_end(p);
	if (end - p->boundary > p->lim.stanza_bytes) {
		parser_fail(p, XML_ERR_POLICY, "stanza over %zu bytes", p->lim.stanza_bytes);
		return;
	}
	struct xml_node *root = p->root;
	struct arena *a = p->a;
	if (p->raw_ok && root->ns != XML_NS_STREAM) {
		size_t len = (size_t)(end - p->stanza_start);
		char *raw = arena_alloc(a, len + 1);
		bytes_copy(p, raw, p->stanza_start, end);
		raw[len] = '\0';
		root->raw = raw;
		root->raw_len = len;
		root->raw_start_len = p->start_len;
	}
	p->boundary = end;
	p->a = NULL;
	p->root = NULL;
	p->cur = NULL;
	if (p->text.cap > KEEP_IDLE_CAP)
		buf_clear(&p->text);
	p->h.element(p->ud, a, root);
	parser_check_stop(p, end);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct xml_parser *p = ud;
	if (p->state != PARSER_RUNNING)
		return;
	p->depth--;
	if (p->depth == 0) {
		p->stream_ended = true;
		uint64_t end = event_end(p);
		p->h.stream_end(p->ud);
		parser_check_stop(p, end);
		return;
	}
	text_flush(p);
	p->cur = p->cur->parent;
	if (p->depth == 1)
		stanza_deliver(p);
}

static void XMLCALL on_nsdecl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
	struct xml_parser *p = ud;
	if (p->state != PARSER_RUNNING)
		return;
	if (p->ndecls >= p->lim.attrs) {
		parser_fail(p, XML_ERR_POLICY, "element over %u attributes", p->lim.attrs);
		return;
	}
	size_t len = uri ? strlen(uri) : 0;
	if (len > p->lim.attr_bytes) {
		parser_fail(p, XML_ERR_POLICY, "attribute value over %zu bytes", p->lim.attr_bytes);
		return;
	}
	struct arena *a;
	if (p->depth == 0) {
		if (!p->hdr_arena)
			p->hdr_arena = arena_new();
		a = p->hdr_arena;
	} else {
		if (!p->a)
			p->a = arena_new();
		a = p->a;
	}
	struct xml_nsdecl *d = arena_alloc(a, sizeof(*d));
	d->prefix = prefix ? arena_strdup(a, prefix) : NULL;
	const char *in = len ? xml_ns_intern_len(uri, len) : "";
	d->uri = in ? in : arena_strndup(a, uri, len);
	d->next = NULL;
	*p->decls_tail = d;
	p->decls_tail = &d->next;
	p->ndecls++;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct xml_parser *p = ud;
	if (p->state != PARSER_RUNNING)
		return;
	if (p->depth >= 2) {
		text_add(p, s, (size_t)len);
		return;
	}
	/* Stream level: whitespace keepalives are fine, anything else not. */
	if (!is_xml_space(s, (size_t)len))
		parser_fail(p, XML_ERR_BAD_FORMAT, "text at stream level");
}

static void XMLCALL on_xmldecl(void *ud, const XML_Char *version, const XML_Char *encoding,
			       int standalone)
{
	struct xml_parser *p = ud;
	if (p->state != PARSER_RUNNING)
		return;
	/* The parser is created with UTF-8 forced, so expat itself ignores
	 * the declared encoding; refuse any other here. */
	if (encoding && strcasecmp(encoding, "UTF-8") != 0)
		parser_fail(p, XML_ERR_UNSUPPORTED_ENCODING, "encoding '%.40s' declared", encoding);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal_subset)
{
	parser_fail(ud, XML_ERR_RESTRICTED, "DOCTYPE");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_pe, const XML_Char *value,
				   int value_len, const XML_Char *base, const XML_Char *sysid,
				   const XML_Char *pubid, const XML_Char *notation)
{
	parser_fail(ud, XML_ERR_RESTRICTED, "entity declaration");
}

static void XMLCALL on_notation(void *ud, const XML_Char *name, const XML_Char *base,
				const XML_Char *sysid, const XML_Char *pubid)
{
	parser_fail(ud, XML_ERR_RESTRICTED, "notation declaration");
}

static void XMLCALL on_skipped_entity(void *ud, const XML_Char *name, int is_pe)
{
	parser_fail(ud, XML_ERR_RESTRICTED, "entity reference");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
	parser_fail(ud, XML_ERR_RESTRICTED, "processing instruction");
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
	parser_fail(ud, XML_ERR_RESTRICTED, "comment");
}

/* ---- Lifecycle -------------------------------------------------------------- */


/* A new expat parser in a new region of its own. */
static void expat_new(struct xml_parser *p)
{
	p->region = xml_region_new();
	struct xml_region *prev = xml_region_enter(p->region);
	p->xp = XML_ParserCreate_MM("UTF-8", &xml_region_suite, (XML_Char[]){NS_SEP, '\0'});
	xml_region_leave(prev);
	if (!p->xp)
		log_fatal("xml", "cannot create an expat parser");
}

/* The parser and all its memory, at once. */
static void expat_free(struct xml_parser *p)
{
	if (p->xp) {
		struct xml_region *prev = xml_region_enter(p->region);
		XML_ParserFree(p->xp);
		xml_region_leave(prev);
	}
	xml_region_free(p->region);
	p->xp = NULL;
	p->region = NULL;
}

/* Handlers and options; also after XML_ParserReset, which clears them. */
static void parser_setup(struct xml_parser *p)
{
	XML_Parser xp = p->xp;
	XML_SetUserData(xp, p);
	XML_SetReturnNSTriplet(xp, 1);
	XML_SetElementHandler(xp, on_start, on_end);
	XML_SetCharacterDataHandler(xp, on_text);
	XML_SetNamespaceDeclHandler(xp, on_nsdecl, NULL);
	XML_SetXmlDeclHandler(xp, on_xmldecl);
	XML_SetStartDoctypeDeclHandler(xp, on_doctype);
	XML_SetEntityDeclHandler(xp, on_entity_decl);
	XML_SetNotationDeclHandler(xp, on_notation);
	XML_SetSkippedEntityHandler(xp, on_skipped_entity);
	XML_SetProcessingInstructionHandler(xp, on_pi);
	XML_SetCommentHandler(xp, on_comment);
	XML_SetParamEntityParsing(xp, XML_PARAM_ENTITY_PARSING_NEVER);
#ifdef HAVE_XML_SETREPARSEDEFERRALENABLED
	/* Deferral would hold back a complete element until more bytes
	 * arrive: a stanza split across reads might never be delivered, and
	 * the byte limits and stop positions assume eager parsing. */
	XML_SetReparseDeferralEnabled(xp, XML_FALSE);
#endif
}

static void parser_state_init(struct xml_parser *p)
{
	p->state = PARSER_RUNNING;
	p->stop_requested = false;
	p->stop_off = 0;
	p->err = XML_OK;
	free(p->detail);
	p->detail = NULL;
	p->depth = 0;
	p->header_done = false;
	p->stream_ended = false;
	p->boundary = 0;
	p->keep_off = 0;
	p->data = NULL;
	p->data_off = 0;
	p->fed = 0;
	p->root = NULL;
	p->cur = NULL;
	p->elements = 0;
	p->raw_ok = false;
	p->stanza_start = 0;
	p->start_len = 0;
	p->decls = NULL;
	p->decls_tail = &p->decls;
	p->ndecls = 0;
	p->text_node = NULL;
	p->text_in_buf = false;
}

/* Drops everything held for an incomplete stanza. */
static void parser_release(struct xml_parser *p)
{
	arena_free(p->a);
	p->a = NULL;
	p->root = NULL;
	p->cur = NULL;
	p->decls = NULL;
	p->decls_tail = &p->decls;
	p->text_node = NULL;
	p->text_in_buf = false;
	buf_clear(&p->keep);
	buf_clear(&p->text);
	arena_free(p->hdr_arena);
	p->hdr_arena = NULL;
}

struct xml_parser *xml_parser_new(const struct xml_limits *lim, const struct xml_parser_handler *h,
				  void *ud)
{
	if (!h->stream_start || !h->element || !h->stream_end)
		log_fatal("xml", "xml_parser_new: every handler is required");
	struct xml_parser *p = xcalloc(1, sizeof(*p));
	expat_new(p);
	p->lim = *lim;
	p->h = *h;
	p->ud = ud;
	buf_init(&p->keep);
	buf_init(&p->text);
	p->a = NULL;
	parser_state_init(p);
	parser_setup(p);
	return p;
}


void xml_parser_free(struct xml_parser *p)
{
	if (!p)
		return;
	expat_free(p);
	parser_release(p);
	free(p->resume);
	free(p->detail);
	free(p);
}

void xml_parser_reset(struct xml_parser *p)
{
	parser_release(p);
	/* A new parser in a new region rather than XML_ParserReset, which
	 * would leave the old allocations behind in the region. */
	expat_free(p);
	expat_new(p);
	p->dormant = false;
	p->xp_base = 0;
	free(p->resume);
	p->resume = NULL;
	p->resume_len = 0;
	parser_state_init(p);
	parser_setup(p);
}

bool xml_parser_trim(struct xml_parser *p)
{
	if (p->dormant)
		return true;
	/* Only between stanzas with nothing pending: then the open stream
	 * root and its namespace declarations are all expat knows. */
	if (p->state != PARSER_RUNNING || !p->header_done || p->stream_ended || p->depth != 1 ||
	    p->root || p->a || p->keep.len || !p->resume)
		return false;
	expat_free(p);
	p->dormant = true;
	buf_clear(&p->keep);
	buf_clear(&p->text);
	return true;
}

bool xml_parser_continue(struct xml_parser *p)
{
	/* Stopped right after a top-level element: the stream root is the
	 * only open element, and the saved header re-creates its context
	 * (the peer's own namespace declarations) as after a trim. */
	if (p->state != PARSER_STOPPED || !p->header_done || p->stream_ended || p->depth != 1 || !p->resume)
		return false;
	expat_free(p);
	p->state = PARSER_RUNNING;
	p->stop_requested = false;
	/* Expat was handed bytes past the stop; the caller feeds them again. */
	p->fed = p->stop_off;
	p->boundary = p->stop_off;
	p->keep_off = p->stop_off;
	buf_reset(&p->keep);
	p->dormant = true;
	return true;
}

/* A new expat parser in the context of the open stream. */
static void parser_wake(struct xml_parser *p)
{
	expat_new(p);
	parser_setup(p);
	p->dormant = false;
	p->priming = true;
	p->depth = 0; /* the primed root opens again */
	struct xml_region *prev = xml_region_enter(p->region);
	enum XML_Status st = XML_Parse(p->xp, p->resume, (int)p->resume_len, XML_FALSE);
	xml_region_leave(prev);
	p->priming = false;
	if (st != XML_STATUS_OK || p->depth != 1)
		log_fatal("xml", "cannot resume a stream from its saved header");
	p->xp_base = p->fed - p->resume_len;
}

void xml_parser_set_limits(struct xml_parser *p, const struct xml_limits *lim)
{
	p->lim = *lim;
}

void xml_parser_stop(struct xml_parser *p)
{
	p->stop_requested = true;
}

/* ---- Feeding ------------------------------------------------------------------ */

static enum xml_error expat_condition(enum XML_Error code)
{
	switch (code) {
	case XML_ERROR_UNBOUND_PREFIX:
		return XML_ERR_BAD_PREFIX;
	case XML_ERROR_UNDEFINED_ENTITY:
	case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
	case XML_ERROR_NOT_STANDALONE:
		return XML_ERR_RESTRICTED;
	case XML_ERROR_UNKNOWN_ENCODING:
	case XML_ERROR_INCORRECT_ENCODING:
		return XML_ERR_UNSUPPORTED_ENCODING;
	default:
		return XML_ERR_NOT_WELL_FORMED;
	}
}

static void parser_fail_expat(struct xml_parser *p)
{
	enum XML_Error code = XML_GetErrorCode(p->xp);
	/* Expat counts columns from 0; people count from 1. */
	parser_fail(p, expat_condition(code), "line %lu col %lu: %s",
		    (unsigned long)XML_GetCurrentLineNumber(p->xp),
		    (unsigned long)XML_GetCurrentColumnNumber(p->xp) + 1, XML_ErrorString(code));
}

/*
 * Expat detects UTF-16 from a byte-order mark or a NUL in the first two
 * bytes even when UTF-8 is forced; no UTF-8 stream starts that way.
 */
static bool utf8_start(struct xml_parser *p, const char *data, size_t len)
{
	for (size_t i = 0; i < len && p->fed + i < 2; i++) {
		unsigned char c = (unsigned char)data[i];
		if (c == 0 || (p->fed + i == 0 && (c == 0xfe || c == 0xff))) {
			parser_fail(p, XML_ERR_UNSUPPORTED_ENCODING, "stream is not UTF-8");
			return false;
		}
	}
	return true;
}

enum xml_feed xml_parser_feed(struct xml_parser *p, const char *data, size_t len, size_t *consumed)
{
	size_t dummy;
	if (!consumed)
		consumed = &dummy;
	*consumed = 0;
	if (p->state == PARSER_FAILED)
		return XML_FEED_ERROR;
	if (p->state == PARSER_STOPPED)
		return XML_FEED_STOPPED;
	if (len == 0)
		return XML_FEED_OK;
	p->stop_requested = false; /* only a handler's request counts */
	if (p->dormant)
		parser_wake(p);

	/* Whitespace before a stream's first byte is skipped, not fed: it is
	 * what clients send between top-level elements (a newline after
	 * </auth>, before the restarted header), and expat would refuse an
	 * XML declaration after it. */
	size_t skipped = 0;
	if (p->fed == 0) {
		while (skipped < len && is_xml_space(data + skipped, 1))
			skipped++;
		data += skipped;
		len -= skipped;
		*consumed = skipped;
		if (len == 0)
			return XML_FEED_OK;
	}

	size_t done = 0;
	if (p->fed < 2 && !utf8_start(p, data, len))
		goto failed;

	p->data = data;
	p->data_off = p->fed;
	while (done < len) {
		/* Hand expat no byte past the limit in force: the header
		 * limit until the stream root's start tag is complete, then
		 * the stanza limit from the last boundary.  Header bytes go
		 * in steps of at most stanza_bytes, so that what follows the
		 * header in the same step stays inside the stanza limit. */
		uint64_t limit_end, step = UINT64_MAX;
		if (p->header_done) {
			limit_end = p->boundary + p->lim.stanza_bytes;
			if (limit_end < p->boundary) /* "no limit" as SIZE_MAX */
				limit_end = UINT64_MAX;
		} else {
			limit_end = p->lim.header_bytes;
			step = p->lim.stanza_bytes ? p->lim.stanza_bytes : 1;
		}
		if (p->fed >= limit_end) {
			if (p->header_done)
				parser_fail(p, XML_ERR_POLICY, "stanza over %zu bytes",
					    p->lim.stanza_bytes);
			else
				parser_fail(p, XML_ERR_POLICY, "stream header over %zu bytes",
					    p->lim.header_bytes);
			break;
		}
		size_t n = len - done;
		if (n > limit_end - p->fed)
			n = (size_t)(limit_end - p->fed);
		if (n > step)
			n = (size_t)step;
		if (n > INT32_MAX)
			n = INT32_MAX;
		struct xml_region *prev = xml_region_enter(p->region);
		enum XML_Status st = XML_Parse(p->xp, data + done, (int)n, XML_FALSE);
		xml_region_leave(prev);
		p->fed += n;
		done += n;
		if (st != XML_STATUS_OK) {
			if (p->state == PARSER_RUNNING)
				parser_fail_expat(p);
			break;
		}
	}

	switch (p->state) {
	case PARSER_RUNNING:
		keep_tail(p);
		*consumed = skipped + len;
		return XML_FEED_OK;
	case PARSER_STOPPED:
		*consumed = skipped + (size_t)(p->stop_off - p->data_off);
		p->data = NULL;
		parser_release(p);
		return XML_FEED_STOPPED;
	case PARSER_FAILED:
		break;
	}
failed:
	*consumed = skipped + done;
	p->data = NULL;
	parser_release(p);
	return XML_FEED_ERROR;
}

enum xml_error xml_parser_error(const struct xml_parser *p, const char **detail)
{
	if (detail)
		*detail = p->detail ? p->detail : "";
	return p->err;
}

size_t xml_parser_buffered(const struct xml_parser *p)
{
	return p->keep.len;
}

enum stream_cond xml_error_condition(enum xml_error e)
{
	/* A switch, not a table: -Wswitch names an error added without its
	 * condition. */
	switch (e) {
	case XML_ERR_NOT_WELL_FORMED:
		return STREAM_ERR_NOT_WELL_FORMED;
	case XML_ERR_RESTRICTED:
		return STREAM_ERR_RESTRICTED_XML;
	case XML_ERR_POLICY:
		return STREAM_ERR_POLICY_VIOLATION;
	case XML_ERR_BAD_PREFIX:
		return STREAM_ERR_BAD_NAMESPACE_PREFIX;
	case XML_ERR_UNSUPPORTED_ENCODING:
		return STREAM_ERR_UNSUPPORTED_ENCODING;
	case XML_ERR_BAD_FORMAT:
		return STREAM_ERR_BAD_FORMAT;
	case XML_OK:
		break;
	}
	/* XML_OK is no error; a caller that turns it into one gets the
	 * catch-all condition. */
	return STREAM_ERR_UNDEFINED_CONDITION;
}
