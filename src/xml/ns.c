/*
 * ns: the table of known namespace URIs.  Each URI is defined once, here,
 * so that its address is the interned value every module compares against.
 *
 * This is not a namespace resolver (expat resolves prefixes); it only maps
 * a URI string to the one pointer that stands for it.
 */
#include "xml/ns.h"

#include <string.h>

#include "xml/internal.h"

/* One line per namespace.  Rough order of frequency on a busy server, since
 * lookup is a scan: the stanza namespaces come first. */
#define XML_NS_TABLE(X)                                                        \
	X(XML_NS_CLIENT, "jabber:client")                                      \
	X(XML_NS_STREAM, "http://etherx.jabber.org/streams")                   \
	X(XML_NS_SERVER, "jabber:server")                                      \
	X(XML_NS_XML, "http://www.w3.org/XML/1998/namespace")                  \
	X(XML_NS_STANZAS, "urn:ietf:params:xml:ns:xmpp-stanzas")               \
	X(XML_NS_DELAY, "urn:xmpp:delay")                                      \
	X(XML_NS_CAPS, "http://jabber.org/protocol/caps")                      \
	X(XML_NS_PING, "urn:xmpp:ping")                                        \
	X(XML_NS_SM, "urn:xmpp:sm:3")                                          \
	X(XML_NS_CARBONS, "urn:xmpp:carbons:2")                                \
	X(XML_NS_FORWARD, "urn:xmpp:forward:0")                                \
	X(XML_NS_DISCO_INFO, "http://jabber.org/protocol/disco#info")          \
	X(XML_NS_DISCO_ITEMS, "http://jabber.org/protocol/disco#items")        \
	X(XML_NS_ROSTER, "jabber:iq:roster")                                   \
	X(XML_NS_MAM, "urn:xmpp:mam:2")                                        \
	X(XML_NS_DATA, "jabber:x:data")                                        \
	X(XML_NS_STREAMS, "urn:ietf:params:xml:ns:xmpp-streams")               \
	X(XML_NS_TLS, "urn:ietf:params:xml:ns:xmpp-tls")                       \
	X(XML_NS_SASL, "urn:ietf:params:xml:ns:xmpp-sasl")                     \
	X(XML_NS_BIND, "urn:ietf:params:xml:ns:xmpp-bind")                     \
	X(XML_NS_SESSION, "urn:ietf:params:xml:ns:xmpp-session")               \
	X(XML_NS_ROSTERVER, "urn:xmpp:features:rosterver")                     \
	X(XML_NS_PRE_APPROVAL, "urn:xmpp:features:pre-approval")               \
	X(XML_NS_VERSION, "jabber:iq:version")                                 \
	X(XML_NS_VCARD, "vcard-temp")                                          \
	X(XML_NS_PRIVATE, "jabber:iq:private")                                 \
	X(XML_NS_BLOCKING, "urn:xmpp:blocking")                                \
	X(XML_NS_BLOCKING_ERRORS, "urn:xmpp:blocking:errors")                  \
	X(XML_NS_SASL_CB, "urn:xmpp:sasl-cb:0")                                \
	X(XML_NS_DIALBACK, "jabber:server:dialback")                           \
	X(XML_NS_DIALBACK_FEATURES, "urn:xmpp:features:dialback")              \
	X(XML_NS_FRAMING, "urn:ietf:params:xml:ns:xmpp-framing")               \
	X(XML_NS_BOSH, "http://jabber.org/protocol/httpbind")                  \
	X(XML_NS_XBOSH, "urn:xmpp:xbosh")

#define NS_DEFINE(sym, uri) const char sym[] = uri;
XML_NS_TABLE(NS_DEFINE)
#undef NS_DEFINE

struct ns_entry {
	const char *uri;
	size_t len;
};

static const struct ns_entry ns_table[] = {
#define NS_ENTRY(sym, uri) {sym, sizeof(uri) - 1},
	XML_NS_TABLE(NS_ENTRY)
#undef NS_ENTRY
};

enum { NS_COUNT = sizeof(ns_table) / sizeof(ns_table[0]) };

const char *xml_ns_intern_len(const char *uri, size_t len)
{
	/* A length compare rejects most entries without touching the bytes;
	 * a table this small scans faster than it hashes. */
	for (size_t i = 0; i < NS_COUNT; i++) {
		if (ns_table[i].len == len && memcmp(ns_table[i].uri, uri, len) == 0)
			return ns_table[i].uri;
	}
	return NULL;
}

const char *xml_ns_intern(const char *uri)
{
	if (!uri)
		return NULL;
	return xml_ns_intern_len(uri, strlen(uri));
}

const char *xml_ns_lookup(const char *ns)
{
	if (!ns)
		return NULL;
	for (size_t i = 0; i < NS_COUNT; i++) {
		if (ns_table[i].uri == ns)
			return ns;
	}
	return xml_ns_intern(ns);
}
