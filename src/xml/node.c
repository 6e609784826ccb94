/*
 * node: building, changing and reading element trees.  Every node, name and
 * value lives in an arena; nothing here frees anything.
 *
 * This is not a DOM: there is no namespace resolution, no document, no
 * query language.  Trees are small (one stanza) and walked by hand.  The
 * one rule that needs care is `raw`: a change anywhere below a top-level
 * element makes its original bytes stale, so every mutator clears the raw
 * bytes of the tree's root.
 */
#include "xml/xml.h"

#include <string.h>

#include "core/arena.h"
#include "xml/internal.h"

/* The root keeps raw bytes only while nothing under its start tag changed.
 * `n` is the element whose content changes (or whose attributes change,
 * when it is not the root itself). */
static void node_invalidate_raw(struct xml_node *n)
{
	while (n->parent)
		n = n->parent;
	n->raw = NULL;
	n->raw_len = 0;
	n->raw_start_len = 0;
}

static void node_link(struct xml_node *parent, struct xml_node *child)
{
	child->parent = parent;
	child->next = NULL;
	if (parent->last_child)
		parent->last_child->next = child;
	else
		parent->children = child;
	parent->last_child = child;
}

/* Interned pointer for known namespaces, so that callers may pass either
 * XML_NS_CLIENT or "jabber:client" and still compare by pointer later. */
static const char *node_ns(struct arena *a, const char *ns)
{
	if (!ns || !*ns)
		return "";
	const char *in = xml_ns_lookup(ns);
	return in ? in : arena_strdup(a, ns);
}

struct xml_node *xml_node_new(struct arena *a, const char *ns, const char *name)
{
	struct xml_node *n = arena_zalloc(a, sizeof(*n));
	n->ns = node_ns(a, ns);
	n->name = arena_strdup(a, name);
	return n;
}

struct xml_node *xml_node_add(struct arena *a, struct xml_node *parent, const char *ns,
			      const char *name)
{
	struct xml_node *n = arena_zalloc(a, sizeof(*n));
	n->ns = ns ? node_ns(a, ns) : parent->ns;
	n->name = arena_strdup(a, name);
	node_link(parent, n);
	node_invalidate_raw(parent);
	return n;
}

void xml_node_append(struct xml_node *parent, struct xml_node *child)
{
	/* A subtree's own raw bytes would go stale unnoticed once it is part
	 * of another tree (changes clear only the new root's). */
	child->raw = NULL;
	child->raw_len = 0;
	child->raw_start_len = 0;
	node_link(parent, child);
	node_invalidate_raw(parent);
}

void xml_node_add_text(struct arena *a, struct xml_node *parent, const char *text, size_t len)
{
	struct xml_node *t = arena_zalloc(a, sizeof(*t));
	t->ns = "";
	t->text = arena_strndup(a, text, len);
	t->text_len = len;
	node_link(parent, t);
	node_invalidate_raw(parent);
}

void xml_node_set_attr(struct arena *a, struct xml_node *n, const char *name, const char *value)
{
	unsigned i;
	for (i = 0; i < n->nattrs; i++) {
		if (!n->attrs[i].ns && strcmp(n->attrs[i].name, name) == 0)
			break;
	}
	if (!value && i == n->nattrs)
		return;
	if (n->parent)
		node_invalidate_raw(n);
	if (!value) {
		memmove(&n->attrs[i], &n->attrs[i + 1], (n->nattrs - i - 1) * sizeof(n->attrs[0]));
		n->nattrs--;
		return;
	}
	size_t len = strlen(value);
	if (i < n->nattrs) {
		n->attrs[i].value = arena_strndup(a, value, len);
		n->attrs[i].value_len = len;
		return;
	}
	if (n->nattrs == n->attrs_cap) {
		unsigned cap = n->attrs_cap ? n->attrs_cap * 2 : 4;
		struct xml_attr *attrs = arena_alloc(a, cap * sizeof(*attrs));
		if (n->nattrs)
			memcpy(attrs, n->attrs, n->nattrs * sizeof(*attrs));
		n->attrs = attrs;
		n->attrs_cap = cap;
	}
	struct xml_attr *at = &n->attrs[n->nattrs++];
	at->name = arena_strdup(a, name);
	at->ns = NULL;
	at->value = arena_strndup(a, value, len);
	at->value_len = len;
}

void xml_node_remove(struct xml_node *child)
{
	struct xml_node *parent = child->parent;
	if (!parent)
		return;
	struct xml_node *prev = NULL;
	for (struct xml_node *c = parent->children; c && c != child; c = c->next)
		prev = c;
	if (prev)
		prev->next = child->next;
	else
		parent->children = child->next;
	if (parent->last_child == child)
		parent->last_child = prev;
	child->parent = NULL;
	child->next = NULL;
	node_invalidate_raw(parent);
}

static struct xml_node *copy_node(struct arena *a, const struct xml_node *n, struct xml_node *parent)
{
	struct xml_node *c = arena_zalloc(a, sizeof(*c));
	c->parent = parent;
	if (!n->name) {
		c->ns = "";
		c->text = arena_strndup(a, n->text ? n->text : "", n->text_len);
		c->text_len = n->text_len;
		return c;
	}
	c->name = arena_strdup(a, n->name);
	c->ns = node_ns(a, n->ns);
	if (n->nattrs) {
		c->attrs = arena_alloc(a, n->nattrs * sizeof(*c->attrs));
		for (unsigned i = 0; i < n->nattrs; i++) {
			const struct xml_attr *s = &n->attrs[i];
			c->attrs[i].name = arena_strdup(a, s->name);
			c->attrs[i].ns = s->ns ? node_ns(a, s->ns) : NULL;
			c->attrs[i].value = arena_strndup(a, s->value, s->value_len);
			c->attrs[i].value_len = s->value_len;
		}
		c->nattrs = c->attrs_cap = n->nattrs;
	}
	struct xml_nsdecl **tail = &c->nsdecls;
	for (const struct xml_nsdecl *d = n->nsdecls; d; d = d->next) {
		struct xml_nsdecl *nd = arena_alloc(a, sizeof(*nd));
		nd->prefix = d->prefix ? arena_strdup(a, d->prefix) : NULL;
		nd->uri = node_ns(a, d->uri);
		nd->next = NULL;
		*tail = nd;
		tail = &nd->next;
	}
	/* Recursion depth is the tree's depth, which the parser bounds and
	 * code-built trees keep small. */
	for (const struct xml_node *k = n->children; k; k = k->next) {
		struct xml_node *ck = copy_node(a, k, c);
		if (c->last_child)
			c->last_child->next = ck;
		else
			c->children = ck;
		c->last_child = ck;
	}
	return c;
}

struct xml_node *xml_node_copy(struct arena *a, const struct xml_node *n)
{
	return copy_node(a, n, NULL);
}

const char *xml_node_attr(const struct xml_node *n, const char *name)
{
	for (unsigned i = 0; i < n->nattrs; i++) {
		if (!n->attrs[i].ns && strcmp(n->attrs[i].name, name) == 0)
			return n->attrs[i].value;
	}
	return NULL;
}

const char *xml_node_attr_ns(const struct xml_node *n, const char *ns, const char *name)
{
	for (unsigned i = 0; i < n->nattrs; i++) {
		const struct xml_attr *at = &n->attrs[i];
		if (at->ns && xml_ns_eq(at->ns, ns) && strcmp(at->name, name) == 0)
			return at->value;
	}
	return NULL;
}

static bool node_matches(const struct xml_node *n, const char *ns, const char *name)
{
	return n->name && (!ns || xml_ns_eq(n->ns, ns)) && (!name || strcmp(n->name, name) == 0);
}

struct xml_node *xml_node_child(const struct xml_node *n, const char *ns, const char *name)
{
	for (struct xml_node *c = n->children; c; c = c->next) {
		if (node_matches(c, ns, name))
			return c;
	}
	return NULL;
}

struct xml_node *xml_node_next(const struct xml_node *prev, const char *ns, const char *name)
{
	for (struct xml_node *c = prev->next; c; c = c->next) {
		if (node_matches(c, ns, name))
			return c;
	}
	return NULL;
}

struct xml_node *xml_node_first_element(const struct xml_node *n)
{
	for (struct xml_node *c = n->children; c; c = c->next) {
		if (c->name)
			return c;
	}
	return NULL;
}

const char *xml_node_text(struct arena *a, const struct xml_node *n)
{
	const struct xml_node *first = NULL;
	size_t total = 0;
	unsigned count = 0;
	for (const struct xml_node *c = n->children; c; c = c->next) {
		if (c->name)
			continue;
		if (!first)
			first = c;
		total += c->text_len;
		count++;
	}
	if (count == 0)
		return "";
	if (count == 1)
		return first->text;
	char *s = arena_alloc(a, total + 1);
	size_t off = 0;
	for (const struct xml_node *c = first; c; c = c->next) {
		if (c->name)
			continue;
		memcpy(s + off, c->text, c->text_len);
		off += c->text_len;
	}
	s[off] = '\0';
	return s;
}

unsigned xml_node_count_elements(const struct xml_node *n)
{
	unsigned count = 0;
	for (const struct xml_node *c = n->children; c; c = c->next) {
		if (c->name)
			count++;
	}
	return count;
}
