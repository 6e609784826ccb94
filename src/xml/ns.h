/*
 * ns: the namespaces Parley knows, interned.  The parser maps these URIs
 * to the pointers below, so code compares namespaces by pointer.  To add a
 * namespace: declare it here and list it in ns.c.
 */
#ifndef PARLEY_XML_NS_H
#define PARLEY_XML_NS_H

extern const char XML_NS_XML[];         /* http://www.w3.org/XML/1998/namespace */
extern const char XML_NS_STREAM[];      /* http://etherx.jabber.org/streams */
extern const char XML_NS_CLIENT[];      /* jabber:client */
extern const char XML_NS_SERVER[];      /* jabber:server */
extern const char XML_NS_STREAMS[];     /* urn:ietf:params:xml:ns:xmpp-streams */
extern const char XML_NS_STANZAS[];     /* urn:ietf:params:xml:ns:xmpp-stanzas */
extern const char XML_NS_TLS[];         /* urn:ietf:params:xml:ns:xmpp-tls */
extern const char XML_NS_SASL[];        /* urn:ietf:params:xml:ns:xmpp-sasl */
extern const char XML_NS_BIND[];        /* urn:ietf:params:xml:ns:xmpp-bind */
extern const char XML_NS_SESSION[];     /* urn:ietf:params:xml:ns:xmpp-session */
extern const char XML_NS_ROSTER[];      /* jabber:iq:roster */
extern const char XML_NS_ROSTERVER[];   /* urn:xmpp:features:rosterver */
extern const char XML_NS_PRE_APPROVAL[]; /* urn:xmpp:features:pre-approval */
extern const char XML_NS_DISCO_INFO[];  /* http://jabber.org/protocol/disco#info */
extern const char XML_NS_DISCO_ITEMS[]; /* http://jabber.org/protocol/disco#items */
extern const char XML_NS_PING[];        /* urn:xmpp:ping */
extern const char XML_NS_VERSION[];     /* jabber:iq:version */
extern const char XML_NS_VCARD[];       /* vcard-temp */
extern const char XML_NS_PRIVATE[];     /* jabber:iq:private */
extern const char XML_NS_BLOCKING[];    /* urn:xmpp:blocking */
extern const char XML_NS_BLOCKING_ERRORS[]; /* urn:xmpp:blocking:errors */
extern const char XML_NS_DELAY[];       /* urn:xmpp:delay */
extern const char XML_NS_SASL_CB[];     /* urn:xmpp:sasl-cb:0 (XEP-0440) */
extern const char XML_NS_DIALBACK[];    /* jabber:server:dialback */
extern const char XML_NS_DIALBACK_FEATURES[]; /* urn:xmpp:features:dialback */
extern const char XML_NS_CAPS[];        /* http://jabber.org/protocol/caps */
extern const char XML_NS_SM[];          /* urn:xmpp:sm:3 */
extern const char XML_NS_CARBONS[];     /* urn:xmpp:carbons:2 */
extern const char XML_NS_FORWARD[];     /* urn:xmpp:forward:0 */
extern const char XML_NS_MAM[];         /* urn:xmpp:mam:2 */
extern const char XML_NS_DATA[];        /* jabber:x:data */
extern const char XML_NS_FRAMING[];     /* urn:ietf:params:xml:ns:xmpp-framing (RFC 7395) */
extern const char XML_NS_BOSH[];        /* http://jabber.org/protocol/httpbind */
extern const char XML_NS_XBOSH[];       /* urn:xmpp:xbosh */

/* The interned pointer for `uri`, or NULL when it is not a known one. */
const char *xml_ns_intern(const char *uri);

#endif
