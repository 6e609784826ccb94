/*
 * lg_xml: expat glue for the load generator.  Each connection has one
 * parser without namespace processing (element names keep their prefix;
 * el_is() compares local names), and builds one small tree per top-level
 * element in its own arena, handed to lg_net.c when the element ends and
 * dropped right after.  After login a connection moves to a lean
 * tokenizer (below) that builds the same trees at a fraction of expat's
 * cost, so the generator's CPU goes to the protocol under test; it accepts
 * what servers send in a stream (elements, attributes, text, the five
 * predefined entities and character references) and fails the connection
 * on anything else.  Not a validating or general-purpose XML layer.
 */
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

struct arena_blk {
	struct arena_blk *next;
	size_t used, cap;
	char data[];
};

#define ARENA_FIRST 2048

static void *arena_alloc(struct xtree *t, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct arena_blk *b = t->blk;
	if (!b || b->used + n > b->cap) {
		size_t cap = n > ARENA_FIRST ? n : (b ? b->cap * 2 : ARENA_FIRST);
		struct arena_blk *nb = malloc(sizeof *nb + cap);
		if (!nb)
			abort();
		nb->next = b;
		nb->used = 0;
		nb->cap = cap;
		t->blk = b = nb;
	}
	void *p = b->data + b->used;
	b->used += n;
	return p;
}

/* Keeps the newest (largest) block, so a connection that saw one big
 * stanza does not allocate again for the next. */
static void arena_reset(struct xtree *t)
{
	struct arena_blk *b = t->blk;
	if (!b)
		return;
	struct arena_blk *rest = b->next;
	while (rest) {
		struct arena_blk *n = rest->next;
		free(rest);
		rest = n;
	}
	b->next = NULL;
	if (b->cap > 65536) {
		free(b);
		t->blk = NULL;
		return;
	}
	b->used = 0;
}

static char *arena_strdup(struct xtree *t, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(t, n);
	memcpy(p, s, n);
	return p;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct conn *c = ud;
	struct xtree *t = &c->xt;
	t->depth++;
	if (t->depth == 1) {
		net_on_stream_open(c);
		return;
	}
	struct el *e = arena_alloc(t, sizeof *e);
	memset(e, 0, sizeof *e);
	const char *colon = strchr(name, ':');
	e->name = arena_strdup(t, colon ? colon + 1 : name);
	size_t na = 0;
	while (atts[na])
		na++;
	e->attrs = arena_alloc(t, (na + 1) * sizeof *e->attrs);
	for (size_t i = 0; i < na; i++)
		e->attrs[i] = arena_strdup(t, atts[i]);
	e->attrs[na] = NULL;
	e->text = (char *)"";
	if (t->depth == 2) {
		t->root = e;
	} else if (t->cur) {
		e->parent = t->cur;
		if (t->cur->last)
			t->cur->last->next = e;
		else
			t->cur->child = e;
		t->cur->last = e;
	}
	t->cur = e;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct conn *c = ud;
	struct xtree *t = &c->xt;
	int depth = t->depth--;
	if (depth == 1) {
		net_on_stream_close(c);
		return;
	}
	if (depth == 2) {
		struct el *root = t->root;
		t->root = t->cur = NULL;
		net_on_stanza(c, root);
		arena_reset(t);
		return;
	}
	if (t->cur)
		t->cur = t->cur->parent;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct conn *c = ud;
	struct xtree *t = &c->xt;
	if (t->depth < 2 || !t->cur || len <= 0)
		return;	/* whitespace keepalives between stanzas */
	struct el *e = t->cur;
	char *p = arena_alloc(t, e->tlen + (size_t)len + 1);
	memcpy(p, e->text, e->tlen);
	memcpy(p + e->tlen, s, (size_t)len);
	e->tlen += (size_t)len;
	p[e->tlen] = 0;
	e->text = p;
}

static void xml_setup(struct conn *c)
{
	XML_SetUserData(c->xp, c);
	XML_SetElementHandler(c->xp, on_start, on_end);
	XML_SetCharacterDataHandler(c->xp, on_text);
#ifdef HAVE_XML_REPARSE_DEFERRAL
	/* Deferral holds back a stanza that arrived whole until more bytes
	 * come: a latency artefact on a stream protocol. */
	XML_SetReparseDeferralEnabled(c->xp, XML_FALSE);
#endif
	c->xt.depth = 0;
	c->xt.root = c->xt.cur = NULL;
}

XML_Parser xml_new(struct conn *c)
{
	c->xp = XML_ParserCreate("UTF-8");
	if (!c->xp)
		abort();
	xml_setup(c);
	return c->xp;
}

void xml_restart(struct conn *c)
{
	XML_ParserReset(c->xp, "UTF-8");
	arena_reset(&c->xt);
	xml_setup(c);
}

void xml_free(struct conn *c)
{
	if (c->xp)
		XML_ParserFree(c->xp);
	c->xp = NULL;
	free(c->fp.buf);
	memset(&c->fp, 0, sizeof c->fp);
	arena_reset(&c->xt);
	free(c->xt.blk);
	c->xt.blk = NULL;
}

bool xml_feed(struct conn *c, const char *buf, size_t n)
{
	if (XML_Parse(c->xp, buf, (int)n, XML_FALSE) == XML_STATUS_ERROR) {
		if (XML_GetErrorCode(c->xp) == XML_ERROR_ABORTED)
			return true;	/* stopped on purpose (stream restart, close) */
		return false;
	}
	return true;
}

bool el_is(const struct el *e, const char *name)
{
	return e && strcmp(e->name, name) == 0;
}

const char *el_attr(const struct el *e, const char *name)
{
	for (const char **a = e->attrs; a && a[0]; a += 2)
		if (strcmp(a[0], name) == 0)
			return a[1];
	return NULL;
}

struct el *el_child(const struct el *e, const char *name)
{
	for (struct el *k = e ? e->child : NULL; k; k = k->next)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

const char *el_text(const struct el *e)
{
	return e && e->text ? e->text : "";
}

/* ---- the lean tokenizer ---- */

bool xml_go_fast(struct conn *c)
{
	int off = 0, size = 0;
	const char *ctx = XML_GetInputContext(c->xp, &off, &size);
	if (!ctx)
		return false;
	/* In an end-element callback the event is the end tag (or, for an
	 * empty element, nothing, with the position already past it). */
	int end = off + XML_GetCurrentByteCount(c->xp);
	if (end < 0 || end > size)
		return false;
	struct fastp *fp = &c->fp;
	fp->len = (size_t)(size - end);
	fp->cap = fp->len > 1024 ? fp->len : 1024;
	fp->buf = malloc(fp->cap);
	if (!fp->buf)
		abort();
	memcpy(fp->buf, ctx + end, fp->len);
	fp->scan = 0;
	fp->start = fp->tag = -1;
	fp->depth = 0;
	fp->quote = 0;
	c->go_fast = true;
	XML_StopParser(c->xp, XML_FALSE);
	return true;
}

bool xml_fast_start(struct conn *c)
{
	c->go_fast = false;
	c->fast = true;
	XML_ParserFree(c->xp);
	c->xp = NULL;
	c->xt.depth = 0;
	c->xt.root = c->xt.cur = NULL;
	arena_reset(&c->xt);
	return fast_feed(c, NULL, 0);
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Decodes character data or an attribute value into the arena. */
static char *decode(struct xtree *t, const char *p, size_t n, size_t *outlen)
{
	char *out = arena_alloc(t, n + 1), *o = out;
	const char *end = p + n;
	while (p < end) {
		if (*p != '&') {
			*o++ = *p++;
			continue;
		}
		const char *semi = memchr(p, ';', (size_t)(end - p));
		if (!semi)
			return NULL;
		size_t el = (size_t)(semi - p - 1);
		const char *e = p + 1;
		if (el == 2 && !memcmp(e, "lt", 2))
			*o++ = '<';
		else if (el == 2 && !memcmp(e, "gt", 2))
			*o++ = '>';
		else if (el == 3 && !memcmp(e, "amp", 3))
			*o++ = '&';
		else if (el == 4 && !memcmp(e, "quot", 4))
			*o++ = '"';
		else if (el == 4 && !memcmp(e, "apos", 4))
			*o++ = '\'';
		else if (el >= 2 && e[0] == '#') {
			unsigned long cp = e[1] == 'x' ? strtoul(e + 2, NULL, 16) : strtoul(e + 1, NULL, 10);
			/* UTF-8; the generator only ever compares ASCII. */
			if (cp < 0x80) {
				*o++ = (char)cp;
			} else if (cp < 0x800) {
				*o++ = (char)(0xc0 | (cp >> 6));
				*o++ = (char)(0x80 | (cp & 0x3f));
			} else {
				*o++ = '?';	/* never longer than the reference */
			}
		} else {
			return NULL;
		}
		p = semi + 1;
	}
	*o = 0;
	*outlen = (size_t)(o - out);
	return out;
}

static char *copy_name(struct xtree *t, const char *p, size_t n)
{
	char *s = arena_alloc(t, n + 1);
	memcpy(s, p, n);
	s[n] = 0;
	return s;
}

#define FAST_MAX_ATTRS 32

/* Builds the tree of one complete top-level element [p, end). */
static struct el *fast_tree(struct xtree *t, const char *p, const char *end)
{
	struct el *root = NULL, *cur = NULL;
	while (p < end) {
		if (*p != '<') {
			const char *q = memchr(p, '<', (size_t)(end - p));
			if (!q)
				q = end;
			if (cur) {
				size_t n;
				char *txt = decode(t, p, (size_t)(q - p), &n);
				if (!txt)
					return NULL;
				if (cur->tlen == 0) {
					cur->text = txt;
					cur->tlen = n;
				} else {
					char *both = arena_alloc(t, cur->tlen + n + 1);
					memcpy(both, cur->text, cur->tlen);
					memcpy(both + cur->tlen, txt, n + 1);
					cur->text = both;
					cur->tlen += n;
				}
			}
			p = q;
			continue;
		}
		if (p + 1 < end && p[1] == '/') {
			const char *q = memchr(p, '>', (size_t)(end - p));
			if (!q || !cur)
				return NULL;
			cur = cur->parent;
			p = q + 1;
			if (!cur)
				break;
			continue;
		}
		const char *n0 = ++p;
		while (p < end && !is_space(*p) && *p != '/' && *p != '>')
			p++;
		const char *colon = memchr(n0, ':', (size_t)(p - n0));
		struct el *e = arena_alloc(t, sizeof *e);
		memset(e, 0, sizeof *e);
		e->name = colon ? copy_name(t, colon + 1, (size_t)(p - colon - 1)) : copy_name(t, n0, (size_t)(p - n0));
		e->text = (char *)"";
		const char *av[2 * FAST_MAX_ATTRS];
		size_t na = 0;
		bool empty = false;
		for (;;) {
			while (p < end && is_space(*p))
				p++;
			if (p >= end)
				return NULL;
			if (*p == '/') {
				empty = true;
				p += 2;
				break;
			}
			if (*p == '>') {
				p++;
				break;
			}
			const char *a0 = p;
			while (p < end && *p != '=' && !is_space(*p))
				p++;
			const char *a1 = p;
			while (p < end && (is_space(*p) || *p == '='))
				p++;
			if (p >= end || (*p != '"' && *p != '\''))
				return NULL;
			char q = *p++;
			const char *v0 = p;
			const char *v1 = memchr(p, q, (size_t)(end - p));
			if (!v1)
				return NULL;
			size_t vl;
			if (na < 2 * FAST_MAX_ATTRS) {
				av[na++] = copy_name(t, a0, (size_t)(a1 - a0));
				av[na++] = decode(t, v0, (size_t)(v1 - v0), &vl);
				if (!av[na - 1])
					return NULL;
			}
			p = v1 + 1;
		}
		e->attrs = arena_alloc(t, (na + 1) * sizeof *e->attrs);
		memcpy(e->attrs, av, na * sizeof *av);
		e->attrs[na] = NULL;
		if (!root) {
			root = e;
		} else if (cur) {
			e->parent = cur;
			if (cur->last)
				cur->last->next = e;
			else
				cur->child = e;
			cur->last = e;
		}
		if (!empty)
			cur = e;
		else if (!cur)
			break;	/* an empty top-level element */
	}
	return root;
}

bool fast_feed(struct conn *c, const char *buf, size_t n)
{
	struct fastp *fp = &c->fp;
	if (n > 0) {
		if (fp->len + n > fp->cap) {
			size_t cap = fp->cap ? fp->cap : 1024;
			while (cap < fp->len + n)
				cap *= 2;
			fp->buf = realloc(fp->buf, cap);
			if (!fp->buf)
				abort();
			fp->cap = cap;
		}
		memcpy(fp->buf + fp->len, buf, n);
		fp->len += n;
	}
	char *b = fp->buf;
	for (size_t i = fp->scan; i < fp->len; i++) {
		char ch = b[i];
		if (fp->tag < 0) {
			if (ch == '<') {
				fp->tag = (long)i;
				if (fp->depth == 0)
					fp->start = (long)i;
			}
			continue;
		}
		if (fp->quote) {
			if (ch == fp->quote)
				fp->quote = 0;
			continue;
		}
		if (ch == '"' || ch == '\'') {
			fp->quote = ch;
			continue;
		}
		if (ch != '>')
			continue;
		char kind = (size_t)fp->tag + 1 < fp->len ? b[fp->tag + 1] : 0;
		bool complete = false;
		if (kind == '?' || kind == '!')
			return false;	/* no comments, PIs or CDATA in a stream */
		if (kind == '/') {
			if (--fp->depth < 0) {
				fp->tag = -1;
				fp->scan = i + 1;
				net_on_stream_close(c);
				return true;
			}
			complete = fp->depth == 0;
		} else if (b[i - 1] == '/') {
			complete = fp->depth == 0;
		} else {
			fp->depth++;
		}
		fp->tag = -1;
		if (!complete)
			continue;
		struct el *root = fast_tree(&c->xt, b + fp->start, b + i + 1);
		fp->start = -1;
		if (!root)
			return false;
		fp->scan = i + 1;
		net_on_stanza(c, root);
		arena_reset(&c->xt);
		if (c->st == C_DEAD)
			return true;
	}
	fp->scan = fp->len;
	/* Keep only the element in progress. */
	size_t keep = fp->start >= 0 ? (size_t)fp->start : fp->tag >= 0 ? (size_t)fp->tag : fp->len;
	if (keep > 0) {
		memmove(b, b + keep, fp->len - keep);
		fp->len -= keep;
		fp->scan -= keep;
		if (fp->start >= 0)
			fp->start -= (long)keep;
		if (fp->tag >= 0)
			fp->tag -= (long)keep;
	}
	if (fp->len == 0 && fp->cap > 16384) {
		free(fp->buf);
		fp->buf = NULL;
		fp->cap = 0;
	}
	return true;
}
