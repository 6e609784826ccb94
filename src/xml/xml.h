/*
 * xml: the XMPP stream parser (expat underneath, namespaces on) and the
 * element tree a stanza is parsed into.  Sans-I/O: bytes in, elements out;
 * this module never touches a socket, which is what makes it fuzzable.
 *
 * The parser enforces the limits of DESIGN.md ("Security defaults") while it
 * reads, before the bytes are kept: stanza bytes, stream-header bytes, depth,
 * elements per stanza, attributes per element, attribute value bytes.  It
 * refuses what RFC 6120 §11 calls restricted XML (DOCTYPE, entity
 * declarations, processing instructions, comments).
 *
 * It is not a general XML library: it knows that the first element is a
 * stream root that stays open and that its children are the units
 * delivered ("stanzas", including <stream:features/>, <starttls/>, ...).
 */
#ifndef PARLEY_XML_XML_H
#define PARLEY_XML_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "xml/cond.h"
#include "xml/ns.h"

struct arena;
struct buf;

/* ---- Element tree ---------------------------------------------------- */

struct xml_attr {
	const char *name;  /* local name */
	const char *ns;    /* namespace URI; NULL for an unqualified attribute */
	const char *value; /* unescaped, NUL-terminated */
	size_t value_len;
};

/* A namespace declaration written on an element's start tag. */
struct xml_nsdecl {
	const char *prefix; /* NULL for a default namespace declaration */
	const char *uri;
	struct xml_nsdecl *next;
};

/*
 * An element or a text node.  Everything (the node, its names, values and
 * children) lives in the arena the node was made in.  Namespace URIs of the
 * namespaces listed in xml/ns.h are interned: compare them by pointer
 * (node->ns == XML_NS_CLIENT).  Other URIs are arena copies.
 */
struct xml_node {
	const char *name; /* local name; NULL for a text node */
	const char *ns;   /* namespace URI; "" for no namespace */
	struct xml_attr *attrs;
	unsigned nattrs;
	unsigned attrs_cap;
	struct xml_nsdecl *nsdecls; /* as written on the start tag */

	struct xml_node *parent;
	struct xml_node *children; /* first child (elements and text) */
	struct xml_node *last_child;
	struct xml_node *next;     /* next sibling */

	const char *text;          /* text nodes: unescaped, NUL-terminated */
	size_t text_len;

	/*
	 * The bytes this element was parsed from (top-level elements only),
	 * so a forwarded stanza is written from its original bytes with only
	 * its start tag re-serialised.  raw is NULL when the original bytes
	 * cannot be reused: an element inside used a namespace prefix declared
	 * outside the stanza, the bytes would translate other elements than
	 * the namespace rule of xml_serialize() (a prefix or a re-declaration
	 * of the stanza's own content namespace), or the tree was changed
	 * below the root.
	 */
	const char *raw;
	size_t raw_len;
	size_t raw_start_len; /* bytes of the start tag ("<message ...>") */
};

/* Building and changing a tree (all allocations in `a`).  Any change below
 * a top-level element clears that element's `raw`; attribute changes on the
 * top-level element itself keep it (its start tag is re-serialised anyway). */

struct xml_node *xml_node_new(struct arena *a, const char *ns, const char *name);
/* Appends a new child element; ns NULL means the parent's namespace. */
struct xml_node *xml_node_add(struct arena *a, struct xml_node *parent, const char *ns, const char *name);
/* Appends an existing subtree (made in the same arena, or one that
 * outlives the parent). */
void xml_node_append(struct xml_node *parent, struct xml_node *child);
/* Appends a text node (copied; not merged with a text node before it). */
void xml_node_add_text(struct arena *a, struct xml_node *parent, const char *text, size_t len);
/* Sets, replaces (value NULL: removes) an unqualified attribute.  The
 * value is copied. */
void xml_node_set_attr(struct arena *a, struct xml_node *n, const char *name, const char *value);
/* Removes a child from its parent. */
void xml_node_remove(struct xml_node *child);
/* Deep copy into arena `a` (raw bytes are not kept; the copy has no
 * parent).  Known namespaces stay interned. */
struct xml_node *xml_node_copy(struct arena *a, const struct xml_node *n);

/* Reading */

/* Value of an unqualified attribute, or NULL. */
const char *xml_node_attr(const struct xml_node *n, const char *name);
/* Value of a namespaced attribute (e.g. XML_NS_XML, "lang"), or NULL. */
const char *xml_node_attr_ns(const struct xml_node *n, const char *ns, const char *name);
/* First child element with this namespace (NULL: any) and name (NULL: any). */
struct xml_node *xml_node_child(const struct xml_node *n, const char *ns, const char *name);
/* Next sibling element after `prev` with this namespace and name. */
struct xml_node *xml_node_next(const struct xml_node *prev, const char *ns, const char *name);
/* First child element whatever its name (NULL if none). */
struct xml_node *xml_node_first_element(const struct xml_node *n);
/* Concatenated text of the direct text children; "" if none.  Allocated in
 * `a` only when there is more than one text node. */
const char *xml_node_text(struct arena *a, const struct xml_node *n);
/* Counts child elements. */
unsigned xml_node_count_elements(const struct xml_node *n);

#define xml_for_each_element(child, parent)                                  \
	for (struct xml_node *child = xml_node_first_element(parent); child; \
	     child = xml_node_next(child, NULL, NULL))

/* ---- Serialising ------------------------------------------------------ */

/*
 * Appends the element to `out` as it should appear inside a stream whose
 * default namespace is `stream_ns` (XML_NS_CLIENT, XML_NS_SERVER, ...;
 * NULL or "" for none).
 * The namespace translation RFC 6120 §4.8.3 asks of a server: when `n` is
 * in a stanza content namespace (jabber:client, jabber:server) and
 * `stream_ns` is one too, `n` is written in `stream_ns`, and so is every
 * descendant in n's namespace whose ancestors up to `n` all are in it (the
 * "line").  Every other element keeps its namespace, with what is below
 * it: a stanza forwarded inside <forwarded xmlns=...> keeps its
 * jabber:client (XEP-0297), and so does a jabber:client child that a
 * jabber:server stanza declares itself.  Other namespaces get xmlns
 * declarations where they change; elements in XML_NS_STREAM are written
 * with the `stream:` prefix the stream header declares.  Namespaced
 * attributes are written as xml:lang, or with a generated prefix declared
 * on the same element.
 * When a top-level element (no parent) has raw bytes, only its start tag
 * is re-serialised (from its current name, attributes and prefixed
 * namespace declarations); the output means the same as the tree's.
 */
void xml_serialize(struct buf *out, const struct xml_node *n, const char *stream_ns);
/* xml_serialize() in two parts, for an element sent to many addressees
 * (a presence broadcast): the head is the start tag up to its attributes
 * (it changes with the element's own attributes, 'to' among them), the
 * tail everything after them, copied from the raw bytes (it does not).
 * head then tail is exactly what xml_serialize() writes.  Both return
 * false and write nothing for an element without usable raw bytes. */
bool xml_serialize_head(struct buf *out, const struct xml_node *n, const char *stream_ns);
bool xml_serialize_tail(struct buf *out, const struct xml_node *n);
/* Appends text / attribute values escaped for XML: & < > everywhere, CR
 * as &#xD;; in attribute values also ' " and TAB, LF as references (values
 * are written between single quotes). */
void xml_escape_text(struct buf *out, const char *s, size_t len);
void xml_escape_attr(struct buf *out, const char *s, size_t len);

/* ---- Stream parser ---------------------------------------------------- */

/* Each limit is the largest value allowed (0 allows none).  Crossing one
 * fails the stream with XML_ERR_POLICY before the bytes are kept. */
struct xml_limits {
	size_t stanza_bytes;  /* bytes between two top-level boundaries */
	size_t header_bytes;  /* bytes up to the end of the stream header */
	unsigned depth;       /* element depth inside a stanza (root = 1) */
	unsigned elements;    /* elements per stanza */
	unsigned attrs;       /* attributes (and ns declarations) per element */
	size_t attr_bytes;    /* bytes of one attribute value */
};

enum xml_error {
	XML_OK = 0,
	XML_ERR_NOT_WELL_FORMED, /* <not-well-formed/> (incl. invalid UTF-8) */
	XML_ERR_RESTRICTED,      /* <restricted-xml/> */
	XML_ERR_POLICY,          /* <policy-violation/>: a limit was crossed */
	XML_ERR_BAD_PREFIX,      /* <bad-namespace-prefix/> */
	XML_ERR_UNSUPPORTED_ENCODING, /* <unsupported-encoding/> */
	XML_ERR_BAD_FORMAT,      /* <bad-format/>: e.g. text at stream level */
};

/* The stream condition for an error (STREAM_ERR_NOT_WELL_FORMED, ...);
 * STREAM_ERR_UNDEFINED_CONDITION for XML_OK or an unknown value. */
enum stream_cond xml_error_condition(enum xml_error e);

/* All three are required.  Handlers may call xml_parser_stop() and
 * xml_parser_set_limits(), but never feed, reset or free the parser they
 * run in. */
struct xml_parser_handler {
	/* The stream root's start tag.  `header` (attributes only) lives in
	 * the parser's arena, valid during the call. */
	void (*stream_start)(void *ud, const struct xml_node *header);
	/* A complete top-level element.  The handler owns `a` (which holds
	 * `root`) from here on and must free it or hand it on. */
	void (*element)(void *ud, struct arena *a, struct xml_node *root);
	/* The stream root's end tag. */
	void (*stream_end)(void *ud);
};

enum xml_feed {
	XML_FEED_OK,      /* all bytes consumed */
	XML_FEED_STOPPED, /* a handler called xml_parser_stop() */
	XML_FEED_ERROR,   /* xml_parser_error() says what; the stream is dead */
};

struct xml_parser;

struct xml_parser *xml_parser_new(const struct xml_limits *lim, const struct xml_parser_handler *h,
				  void *ud);
void xml_parser_free(struct xml_parser *p);
/* Starts over for a new stream (after STARTTLS or SASL), same limits. */
void xml_parser_reset(struct xml_parser *p);
/* New limits from the next stanza on (e.g. larger after authentication). */
void xml_parser_set_limits(struct xml_parser *p, const struct xml_limits *lim);

/* Feeds bytes.  Handlers run during the call.  `consumed` (may be NULL)
 * gets the count of bytes used: all of them, or on XML_FEED_STOPPED the
 * bytes up to the end of the element whose handler stopped the parser
 * (the rest belongs to whatever comes next, e.g. a new stream), or on
 * XML_FEED_ERROR the bytes handed to expat before the failure (never past
 * a limit).  A stopped parser stays stopped (XML_FEED_STOPPED, nothing
 * consumed) and a failed one failed, until xml_parser_reset(). */
enum xml_feed xml_parser_feed(struct xml_parser *p, const char *data, size_t len, size_t *consumed);
/* From inside a handler: stop after the current element (or stream
 * header, or stream end tag).  Elsewhere it has no effect. */
void xml_parser_stop(struct xml_parser *p);
/* After XML_FEED_ERROR: the condition and a detail for the log line
 * ("stanza over 262144 bytes", "comment", "line 1 col 40: mismatched tag"). */
enum xml_error xml_parser_error(const struct xml_parser *p, const char **detail);
/* For idle streams: between stanzas, frees the expat parser and keeps only
 * the stream header's namespace declarations; the next feed re-creates the
 * parser in that context, so nothing changes for the caller.  True when
 * the parser is (now) dormant, false when something is pending. */
bool xml_parser_trim(struct xml_parser *p);
/* After a stop right after a top-level element: the same stream goes on
 * in the context of the peer's own header (its namespace declarations),
 * from the byte after that element, which the caller feeds again.  False
 * (nothing changed) when the parser did not stop there. */
bool xml_parser_continue(struct xml_parser *p);
/* Bytes held inside the parser for an incomplete stanza (for tests and
 * memory accounting); 0 between stanzas. */
size_t xml_parser_buffered(const struct xml_parser *p);

/* ---- Fragments ---------------------------------------------------------- */

/* Parses one element this server serialised earlier (stored vCards,
 * private XML) into `a`, with generous but finite limits.  NULL when the
 * bytes are not exactly one well-formed element. */
struct xml_node *xml_parse_fragment(struct arena *a, const char *data, size_t len);

#endif
