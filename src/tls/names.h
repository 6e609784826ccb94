/*
 * names: does a certificate name the server we expect?  RFC 6125 §6 as
 * RFC 6120 §13.7.2 and RFC 7590 apply it to XMPP: the reference identity
 * is a domain, the presented identifiers are a certificate's DNS-IDs
 * (dNSName SANs), SRV-IDs (id-on-dnsSRV, "_xmpp-server.example.com"),
 * XmppAddrs (id-on-xmppAddr) and CN-IDs (subject commonNames).
 *
 * Pure: strings in, a verdict out; no OpenSSL types, no I/O, no state, so
 * it can be called from any thread.  Reading the identifiers out of an X509
 * is tls_cert_ids_read()'s job (tls/cert.h); its arrays plug in directly.
 *
 * Rules (each one is a test in tests/unit/tls/test_names.c):
 *  - Every name is compared in its IDNA A-label form, lower case, made
 *    with libidn2 (IDNA2008, so "ß" stays "ß", unlike Nameprep); "xn--"
 *    labels must be valid A-labels; ASCII letters are folded everywhere.
 *    The reference gets UTS #46 non-transitional mapping first (Unicode
 *    case folding, NFC, ideographic full stops), as a name of ours typed
 *    by someone; a presented identifier must already be valid U-labels or
 *    A-labels, since mapping would turn the name its issuer signed into
 *    another ("exa<U+200B>mple.com" into "example.com").  A U-label
 *    reference matches an A-label identifier and the reverse.
 *  - One trailing dot is ignored, on the reference and on every
 *    identifier: "example.com." and "example.com" are one domain (RFC 7622
 *    §3.2 strips it from JIDs too).  Two are an empty label: invalid.
 *  - A name must be letters, digits and hyphens in labels of 1..63
 *    octets, at most 253 octets in all; a name whose last label is all
 *    digits is an IPv4 address, which RFC 6125 leaves to iPAddress SANs:
 *    no such reference matches anything.
 *  - DNS-ID: equal, or a wildcard "*" that is the whole left-most label
 *    (RFC 6125 §6.4.3) standing for exactly one label: "*.example.com"
 *    names "a.example.com", not "example.com" nor "a.b.example.com".
 *    "f*o.example.com", "*oo.example.com", "xn--*.example.com" and
 *    "a.*.example.com" match nothing.  A wildcard directly above a
 *    top-level label ("*.com") matches nothing.  We carry no public suffix
 *    list, so "*.co.uk" is left to the CAs.  A wildcard never stands for
 *    an A-label ("*.example.com" does not name "xn--bcher-kva.example.com"):
 *    RFC 6125 §7.2 warns about wildcards and IDNs, and browsers refuse
 *    the same.
 *  - SRV-ID: "_<service>.<domain>" names <domain> for the service asked
 *    for ("xmpp-server" for a peer server; "_xmpp-client" does not name
 *    a server).  The service is compared without case; no wildcards.
 *  - XmppAddr: a domain JID equal to the domain; "user@example.com" and
 *    "example.com/res" never name a server.
 *  - CN-ID: only when the policy allows it and the certificate has no
 *    DNS-ID, SRV-ID (of any service) or XmppAddr at all, matching or not
 *    (RFC 6125 §6.4.4); matched as a DNS-ID.
 *  - An identifier that is not a valid name is skipped (the verdict's
 *    reason names the first one skipped), never "repaired".
 */
#ifndef PARLEY_TLS_NAMES_H
#define PARLEY_TLS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* The kind of presented identifier that matched, in the order they are
 * tried; one table of names (tls_id_type_name). */
enum tls_id_type {
	TLS_ID_NO_MATCH = 0,
	TLS_ID_DNS,      /* dNSName SAN */
	TLS_ID_SRV,      /* id-on-dnsSRV otherName (RFC 4985) */
	TLS_ID_XMPPADDR, /* id-on-xmppAddr otherName (RFC 6120 §13.7.1.4) */
	TLS_ID_CN,       /* subject commonName */
};
enum { TLS_ID_TYPE_COUNT = TLS_ID_CN + 1 };

/* "no-match", "DNS-ID", "SRV-ID", "XmppAddr", "CN-ID" (RFC 6125's words);
 * "invalid" for a value outside the enum. */
const char *tls_id_type_name(enum tls_id_type t);

/* What a certificate presents; any array may be NULL when its count is 0.
 * Strings are NUL-terminated UTF-8, as tls_cert_ids_read() gives them. */
struct tls_presented_ids {
	const char *const *dns_ids;
	size_t ndns_ids;
	const char *const *srv_ids;    /* "_xmpp-server.example.com" */
	size_t nsrv_ids;
	const char *const *xmpp_addrs;
	size_t nxmpp_addrs;
	const char *const *cn_ids;
	size_t ncn_ids;
};

struct tls_names_policy {
	/* The SRV-ID service without its underscore: "xmpp-server" for a
	 * peer server, "xmpp-client" for the server a client connects to;
	 * NULL: no SRV-ID matches (they still count as presented for the
	 * CN-ID rule). */
	const char *srv_service;
	/* CN-IDs are looked at, under the RFC 6125 §6.4.4 condition. */
	bool allow_cn;
};

enum { TLS_NAMES_REASON_MAX = 320 };

struct tls_names_verdict {
	enum tls_id_type type; /* TLS_ID_NO_MATCH or the type that matched */
	size_t index;          /* which identifier of that type, in the given order */
	/* One clause for a log line, e.g. `DNS-ID "*.example.com" names
	 * "a.example.com"` or `no DNS-ID, SRV-ID or XmppAddr names
	 * "b.example" (2 DNS-IDs, 0 SRV-IDs, 0 XmppAddrs); skipped DNS-ID
	 * "*.com": is a wildcard directly above a top-level domain`.  Names
	 * from the certificate in it are quoted, shortened, with control
	 * characters and quotes replaced by '?'. */
	char reason[TLS_NAMES_REASON_MAX];
};

/*
 * Whether `ids` name `reference` (a domain as an A-label or U-label
 * string, e.g. a prepared JID domainpart) by the rules above.  `policy`
 * NULL means {"xmpp-server", false}: a peer server, no CN-IDs.  `out` may
 * be NULL.  Returns the verdict's type; a reference that is not a valid
 * domain (empty, too long, an IP address, a '*') matches nothing, and the
 * reason says so.
 */
enum tls_id_type tls_names_match(const char *reference, const struct tls_presented_ids *ids,
				 const struct tls_names_policy *policy,
				 struct tls_names_verdict *out);

enum { TLS_NAMES_DNS_MAX = 253 };

/*
 * `name` as the A-label form the comparisons use (lower case, without the
 * trailing dot) into `out`; false, with `*why` (may be NULL) a static
 * phrase such as "is not a valid IDNA name", when it is not a valid
 * domain name by the rules above.  No wildcards.
 */
bool tls_names_alabel(const char *name, char out[TLS_NAMES_DNS_MAX + 1], const char **why);

#endif
