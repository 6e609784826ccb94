/*
 * xml/internal.h: helpers shared by the files of the xml module only.
 * Nothing outside src/xml/ includes this.
 */
#ifndef PARLEY_XML_INTERNAL_H
#define PARLEY_XML_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "xml/ns.h"

/* Like xml_ns_intern() for a URI that is not NUL-terminated (the parser
 * gets "uri<sep>local<sep>prefix" from expat). */
const char *xml_ns_intern_len(const char *uri, size_t len);

/* The interned pointer when `ns` is a known namespace (checked by pointer
 * first, then by value), else NULL. */
const char *xml_ns_lookup(const char *ns);

/* The stanza content namespaces, translated between stream types. */
static inline bool xml_ns_is_content(const char *ns)
{
	return ns == XML_NS_CLIENT || ns == XML_NS_SERVER;
}

/* serialize.c: whether the raw content bytes of the stanza that `n` is
 * parsed into still mean what the tree means under the namespace rule of
 * serialize.c, now that `n` (its parent and own namespace declarations
 * set; `prefixed` as written) was parsed.  For the parser, element by
 * element in document order. */
struct xml_node;
bool xml_raw_follows_ns_rule(const struct xml_node *n, bool prefixed);

/* Namespace equality: interned pointers compare equal fast; arena copies
 * of unknown URIs need the bytes. */
static inline bool xml_ns_eq(const char *a, const char *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return (!a || !*a) && (!b || !*b);
	return strcmp(a, b) == 0;
}

/* region.c: per-parser memory for expat (see the file's comment). */
#include <expat.h>
struct xml_region;
struct xml_region *xml_region_new(void);
void xml_region_free(struct xml_region *r);
/* Makes r the calling thread's region for expat's allocations; returns
 * the previous one, for xml_region_leave. */
struct xml_region *xml_region_enter(struct xml_region *r);
void xml_region_leave(struct xml_region *prev);
extern const XML_Memory_Handling_Suite xml_region_suite;

#endif
