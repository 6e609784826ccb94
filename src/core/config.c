/*
 * config: the option table and the code that reads, checks and writes it.
 * To add a setting: add a field to struct config and one row to `options`.
 */
#include "core/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <netinet/in.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

enum opt_type {
	OPT_BOOL,
	OPT_UINT,
	OPT_SIZE,
	OPT_STR,  /* "" means none and becomes NULL, as for OPT_PATH */
	OPT_PATH, /* a string resolved against the config file's directory */
	OPT_STRLIST,
	OPT_ENUM,
	OPT_HOSTS,
	OPT_S2S_PEERS,
};

struct opt {
	const char *name;
	enum opt_type type;
	size_t offset;
	unsigned long long def;        /* numbers, bools, enum index */
	const char *def_str;           /* strings, paths; lists: comma separated */
	unsigned long long min, max;
	const char *const *names;      /* enum value names */
	const char *help;
};

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const conflicts[] = {"replace", "reject", "rename", NULL};
static const char *const client_certs[] = {"disabled", "wanted", "needed", NULL};
/* Indexed by enum config_s2s_mode. */
static const char *const s2s_modes[] = {
	[CONFIG_S2S_VERIFY] = "verify",
	[CONFIG_S2S_SELFSIGNED] = "selfsigned",
	[CONFIG_S2S_PLAIN] = "plain",
	[CONFIG_S2S_DENY] = "deny",
	[CONFIG_S2S_MODES] = NULL,
};

#define OFF(field) offsetof(struct config, field)
#define KIB 1024ULL
#define MIB (1024ULL * 1024ULL)

static const struct opt options[] = {
	/* server */
	{"hosts", OPT_HOSTS, 0, 0, NULL, 0, 0, NULL,
	 "Virtual hosts: ( { domain = \"example.org\"; certificate = \"certs/example.org.crt\"; "
	 "key = \"certs/example.org.key\"; } ); the first serves clients that send no SNI"},
	{"workers", OPT_UINT, OFF(workers), 0, NULL, 0, 256, NULL,
	 "Worker threads, each with its own event loop; 0 = one per CPU core"},
	{"log_level", OPT_ENUM, OFF(log_level), 2, NULL, 0, 0, log_levels,
	 "Least important log lines written: error, warn, info or debug"},
	{"database", OPT_PATH, OFF(database), 0, "parley.db", 0, 0, NULL,
	 "SQLite database file (relative paths are relative to this file)"},
	{"inbox_max", OPT_UINT, OFF(inbox_max), 65536, NULL, 64, 16777216, NULL,
	 "Stanzas waiting in one worker's inbox before senders get a wait error"},
	{"admins", OPT_STRLIST, OFF(admins), 0, "", 0, 0, NULL,
	 "Bare JIDs of the administrators, who sign in to the HTTP admin API with their XMPP password "
	 "(over HTTPS only); API tokens (parleyctl token create) need no account. [] = nobody"},

	/* c2s */
	{"c2s.listen", OPT_STRLIST, OFF(c2s.listen), 0, "127.0.0.1", 0, 0, NULL,
	 "Addresses clients connect to (IPv4 or IPv6 literals)"},
	{"c2s.port", OPT_UINT, OFF(c2s.port), 5222, NULL, 0, 65535, NULL,
	 "Port for client streams with STARTTLS; 0 turns it off"},
	{"c2s.tls_port", OPT_UINT, OFF(c2s.tls_port), 5223, NULL, 0, 65535, NULL,
	 "Port for direct TLS (XEP-0368, ALPN xmpp-client); 0 turns it off"},
	{"c2s.require_tls", OPT_BOOL, OFF(c2s.require_tls), 1, NULL, 0, 1, NULL,
	 "Refuse authentication before TLS; turn off only for tests on loopback"},
	{"c2s.mechanisms", OPT_STRLIST, OFF(c2s.mechanisms), 0,
	 "EXTERNAL,SCRAM-SHA-256-PLUS,SCRAM-SHA-1-PLUS,SCRAM-SHA-256,SCRAM-SHA-1,PLAIN", 0, 0, NULL,
	 "SASL mechanisms offered, in this order (PLAIN only ever over TLS; EXTERNAL only to a "
	 "client whose certificate verified). The -PLUS variants bind the login to this TLS session "
	 "(tls-exporter, tls-server-end-point) and, because they are offered, a client that could bind "
	 "cannot be downgraded: RFC 5802 makes us refuse the 'y' flag. A client that knows only "
	 "tls-unique (slixmpp before 1.8.4) cannot bind on TLS 1.3 and sends 'y'; it is refused at once, "
	 "without a delay or a counted failure, and goes on to PLAIN over TLS on the same stream. "
	 "Removing the -PLUS entries serves such clients with SCRAM instead, at the cost of the "
	 "downgrade protection of every client that can bind (docs/sasl.md)"},
	{"c2s.resource_conflict", OPT_ENUM, OFF(c2s.resource_conflict), CONFLICT_REPLACE, NULL, 0, 0,
	 conflicts,
	 "When a client binds a resource already in use: replace (the old session is closed), "
	 "reject (<conflict/>) or rename (the new one gets a generated resource)"},
	{"c2s.backlog", OPT_UINT, OFF(c2s.backlog), 1024, NULL, 1, 65535, NULL,
	 "listen(2) backlog of each client port"},
	{"c2s.max_sessions_per_user", OPT_UINT, OFF(c2s.max_sessions_per_user), 64, NULL, 1, 10000,
	 NULL, "Resources one account may have online at once"},
	{"c2s.client_certs", OPT_ENUM, OFF(c2s.client_certs), CLIENT_CERTS_WANTED, NULL, 0, 0,
	 client_certs,
	 "Client certificates: disabled (never asked for), wanted (asked for once client_ca holds "
	 "a CA; passwords stay available) or needed (a TLS handshake without one fails)"},
	{"c2s.client_ca", OPT_PATH, OFF(c2s.client_ca), 0, "trust/client", 0, 0, NULL,
	 "CA certificates client certificates are checked against: a PEM file or a directory of "
	 "them (managed by parleyctl trust; reloaded on SIGHUP); never the system CA bundle"},
	{"c2s.verify_depth", OPT_UINT, OFF(c2s.verify_depth), 4, NULL, 1, 16, NULL,
	 "Most intermediate CA certificates between a client certificate and a trusted CA"},
	{"c2s.crl_file", OPT_PATH, OFF(c2s.crl_file), 0, "", 0, 0, NULL,
	 "PEM file of CRLs checked for client certificates (one for every CA in client_ca); "
	 "\"\" = no revocation check"},
	{"c2s.accept_selfsigned", OPT_BOOL, OFF(c2s.accept_selfsigned), 0, NULL, 0, 1, NULL,
	 "Treat self-signed client certificates as verified (development only: anyone can make "
	 "one for any name)"},
	{"c2s.disconnect_on_failure", OPT_BOOL, OFF(c2s.disconnect_on_failure), 1, NULL, 0, 1, NULL,
	 "An invalid client certificate ends the connection (with needed, the TLS handshake "
	 "fails); false: it only withholds EXTERNAL, so the client can use a password"},
	{"c2s.cn_as_username", OPT_BOOL, OFF(c2s.cn_as_username), 1, NULL, 0, 1, NULL,
	 "A certificate without xmppAddr names its account by its CN (\"user\" or "
	 "\"user@host\")"},
	{"c2s.auto_create_accounts", OPT_BOOL, OFF(c2s.auto_create_accounts), 0, NULL, 0, 1, NULL,
	 "Create the account on its first certificate login instead of refusing it"},

	/* limits */
	{"limits.stanza_bytes_preauth", OPT_SIZE, OFF(limits.stanza_bytes_preauth), 10 * KIB, NULL,
	 512, 16 * MIB, NULL, "Largest stanza before authentication, in bytes"},
	{"limits.stanza_bytes", OPT_SIZE, OFF(limits.stanza_bytes), 256 * KIB, NULL, 1 * KIB,
	 64 * MIB, NULL, "Largest stanza from an authenticated client, in bytes"},
	{"limits.header_bytes", OPT_SIZE, OFF(limits.header_bytes), 4 * KIB, NULL, 256, 64 * KIB, NULL,
	 "Largest stream header, in bytes"},
	{"limits.depth", OPT_UINT, OFF(limits.depth), 64, NULL, 4, 1024, NULL,
	 "Deepest element nesting inside a stanza"},
	{"limits.elements", OPT_UINT, OFF(limits.elements), 10000, NULL, 16, 1000000, NULL,
	 "Most elements in one stanza"},
	{"limits.attrs", OPT_UINT, OFF(limits.attrs), 64, NULL, 4, 4096, NULL,
	 "Most attributes (and namespace declarations) on one element"},
	{"limits.attr_bytes", OPT_SIZE, OFF(limits.attr_bytes), 64 * KIB, NULL, 256, 16 * MIB, NULL,
	 "Longest attribute value, in bytes"},
	{"limits.read_rate", OPT_SIZE, OFF(limits.read_rate), 1 * MIB, NULL, 0, 1024 * MIB, NULL,
	 "Bytes per second one connection may send (0 = unlimited)"},
	{"limits.read_burst", OPT_SIZE, OFF(limits.read_burst), 2 * MIB, NULL, 0, 1024 * MIB, NULL,
	 "Bytes a connection may send at once above its rate"},
	{"limits.outq_bytes", OPT_SIZE, OFF(limits.outq_bytes), 2 * MIB, NULL, 16 * KIB, 1024 * MIB,
	 NULL, "Bytes queued for a peer that does not read before it is disconnected"},
	{"limits.handshake_timeout", OPT_UINT, OFF(limits.handshake_timeout), 30, NULL, 1, 3600, NULL,
	 "Seconds from connect until the session is authenticated and bound"},
	{"limits.idle_timeout", OPT_UINT, OFF(limits.idle_timeout), 600, NULL, 10, 86400, NULL,
	 "Seconds without any input before a session is closed"},
	{"limits.keepalive", OPT_UINT, OFF(limits.keepalive), 120, NULL, 5, 86400, NULL,
	 "Seconds without output before the server sends a whitespace keepalive"},

	/* auth */
	{"auth.scram_iterations", OPT_UINT, OFF(auth.scram_iterations), 4096, NULL, 4096, 10000000,
	 NULL, "PBKDF2 iterations for new or changed passwords"},
	{"auth.fail_delay_max", OPT_UINT, OFF(auth.fail_delay_max), 5, NULL, 0, 60, NULL,
	 "Seconds the answer to a failed login waits at most (one more per earlier failure of the "
	 "same account from the same address)"},
	{"auth.fail_max", OPT_UINT, OFF(auth.fail_max), 10, NULL, 1, 100000, NULL,
	 "Failed logins of one account from one address within fail_window before that account is "
	 "refused from that address (other accounts there are not affected). Only a wrong password, "
	 "unknown account or refused certificate counts; a mechanism the client cannot complete does not"},
	{"auth.fail_max_address", OPT_UINT, OFF(auth.fail_max_address), 100, NULL, 1, 1000000, NULL,
	 "Failed logins from one address, over all accounts, within fail_window before the address is "
	 "refused: stops password spraying; keep it well above fail_max so a NAT survives one bad client"},
	{"auth.fail_window", OPT_UINT, OFF(auth.fail_window), 300, NULL, 10, 86400, NULL,
	 "Seconds over which failed logins are counted"},
	{"auth.attempts_per_stream", OPT_UINT, OFF(auth.attempts_per_stream), 10, NULL, 1, 100, NULL,
	 "Refused SASL attempts of any kind on one stream before it is closed (a client walking its "
	 "mechanism list needs one per mechanism)"},

	/* im */
	{"im.offline_max", OPT_UINT, OFF(im.offline_max), 100, NULL, 1, 100000, NULL,
	 "Messages stored for an account while none of its resources is available; the next one "
	 "is refused with <service-unavailable/>. Any account may send to any other, so without a "
	 "cap one sender could fill another account's storage (100 is ejabberd's example quota)"},
	{"im.offline_max_bytes", OPT_SIZE, OFF(im.offline_max_bytes), 1 * MIB, NULL, 1 * KIB,
	 64 * MIB, NULL,
	 "Bytes of messages stored for an account while none of its resources is available "
	 "(counted as stored: each stanza serialised, with its delay stamp); the message that would "
	 "cross it is refused with <service-unavailable/>. offline_max alone would let one sender "
	 "make the server keep offline_max stanzas of limits.stanza_bytes each for another account "
	 "(1 MiB is ejabberd's example quota). Stored messages go out at once on login, up to half "
	 "of limits.outq_bytes (the rest waits for the next login): keep it below that"},
	{"im.roster_max", OPT_UINT, OFF(im.roster_max), 1000, NULL, 1, 1000000, NULL,
	 "Contacts per roster"},
	{"im.vcard_bytes", OPT_SIZE, OFF(im.vcard_bytes), 64 * KIB, NULL, 1 * KIB, 16 * MIB, NULL,
	 "Largest stored vCard, in bytes"},
	{"im.private_bytes", OPT_SIZE, OFF(im.private_bytes), 64 * KIB, NULL, 1 * KIB, 16 * MIB,
	 NULL, "Largest private XML document, in bytes"},
	{"im.blocklist_max", OPT_UINT, OFF(im.blocklist_max), 1000, NULL, 1, 1000000, NULL,
	 "Entries per block list"},
	{"im.version_reply", OPT_BOOL, OFF(im.version_reply), 1, NULL, 0, 1, NULL,
	 "Answer software version queries (XEP-0092) with name and version"},

	/* s2s */
	{"s2s.listen", OPT_STRLIST, OFF(s2s.listen), 0, "127.0.0.1", 0, 0, NULL,
	 "Addresses other servers connect to (IPv4 or IPv6 literals); loopback by default so that "
	 "federation is opened on purpose"},
	{"s2s.port", OPT_UINT, OFF(s2s.port), 5269, NULL, 0, 65535, NULL,
	 "Port for incoming server streams with STARTTLS (RFC 6120); 0 turns it off"},
	{"s2s.tls_port", OPT_UINT, OFF(s2s.tls_port), 0, NULL, 0, 65535, NULL,
	 "Port for incoming server streams with direct TLS (XEP-0368, ALPN xmpp-server); "
	 "0 turns it off (few peers use it yet)"},
	{"s2s.ca", OPT_PATH, OFF(s2s.ca), 0, "trust/s2s", 0, 0, NULL,
	 "CA certificates peer servers' certificates are checked against before SASL EXTERNAL is "
	 "offered: a PEM file or a directory of them (managed by parleyctl trust --store s2s; "
	 "reloaded on SIGHUP); never the system CA bundle, so only CAs you chose vouch for a domain"},
	{"s2s.verify_depth", OPT_UINT, OFF(s2s.verify_depth), 4, NULL, 1, 16, NULL,
	 "Most intermediate CA certificates between a peer server's certificate and a trusted CA"},
	{"s2s.crl_file", OPT_PATH, OFF(s2s.crl_file), 0, "", 0, 0, NULL,
	 "PEM file of CRLs checked for peer servers' certificates (one for every CA in s2s.ca); "
	 "\"\" = no revocation check"},
	{"s2s.accept_serverauth_only", OPT_BOOL, OFF(s2s.accept_serverauth_only), 1, NULL, 0, 1, NULL,
	 "Accept an incoming peer's certificate whose extended key usage allows serverAuth but not "
	 "clientAuth (the peer is the TLS client there): public CAs stopped issuing clientAuth in "
	 "server certificates in 2026, so false refuses most of them"},
	{"s2s.require_tls", OPT_BOOL, OFF(s2s.require_tls), 1, NULL, 0, 1, NULL,
	 "Incoming server streams must use TLS before anything else; turn off only for tests on "
	 "loopback (authentication by certificate needs TLS anyway). false also makes plain (dialback "
	 "without TLS) the default mode of s2s.peers; an entry's own mode decides for its domain"},
	{"s2s.mechanisms", OPT_STRLIST, OFF(s2s.mechanisms), 0, "EXTERNAL", 0, 0, NULL,
	 "SASL mechanisms offered to peer servers: EXTERNAL (XEP-0178: the peer's certificate, "
	 "verified against s2s.ca, must name its domain) is the only one servers use; an empty list "
	 "offers none"},
	{"s2s.allow_cn", OPT_BOOL, OFF(s2s.allow_cn), 0, NULL, 0, 1, NULL,
	 "Accept a peer certificate's subject CN as its domain when it has no DNS-ID, SRV-ID or "
	 "XmppAddr at all (RFC 6125 6.4.4 allows it; modern CAs always write SANs, so off)"},
	{"s2s.stanza_bytes", OPT_SIZE, OFF(s2s.stanza_bytes), 512 * KIB, NULL, 1 * KIB, 64 * MIB, NULL,
	 "Largest stanza from an authenticated server, in bytes: a server relays what its users send "
	 "(and RFC 6120 servers must accept at least 10,000 bytes), so it is larger than "
	 "limits.stanza_bytes for clients; before authentication limits.stanza_bytes_preauth applies"},
	{"s2s.queue_max", OPT_UINT, OFF(s2s.queue_max), 1000, NULL, 1, 1000000, NULL,
	 "Stanzas waiting for the link to one remote domain while it comes up (per pair of our "
	 "domain and theirs); the next one is answered with <resource-constraint/> (wait). "
	 "When the link fails, the waiting stanzas are answered with the reason"},
	{"s2s.allow", OPT_STRLIST, OFF(s2s.allow), 0, "*", 0, 0, NULL,
	 "Remote domains this server federates with, both ways: [\"*\"] is every domain, [] turns "
	 "federation off, otherwise only the domains listed (exact names; \"*\" only alone). "
	 "s2s.deny and s2s.peers entries with mode = \"deny\" refuse a domain whatever this says"},
	{"s2s.deny", OPT_STRLIST, OFF(s2s.deny), 0, "", 0, 0, NULL,
	 "Remote domains never federated with, both ways, whatever s2s.allow says (exact names)"},
	{"s2s.accept_selfsigned", OPT_BOOL, OFF(s2s.accept_selfsigned), 0, NULL, 0, 1, NULL,
	 "Federate with a peer whose certificate does not verify against s2s.ca or does not name "
	 "its domain (self-signed, or from a CA you did not add) once it proves its domain by "
	 "dialback: that trusts the DNS, not a CA. false: only trusted certificates; s2s.peers "
	 "entries decide per domain"},
	{"s2s.dialback", OPT_BOOL, OFF(s2s.dialback), 1, NULL, 0, 1, NULL,
	 "Offer and use Server Dialback (XEP-0220), which proves a domain through its DNS: for "
	 "peers that do not do SASL EXTERNAL, and the only way in for the untrusted certificates "
	 "s2s.accept_selfsigned or a peers mode lets through"},
	{"s2s.peers", OPT_S2S_PEERS, 0, 0, NULL, 0, 0, s2s_modes,
	 "Settings for particular remote domains: ( { domain = \"b.example\"; mode = \"selfsigned\"; "
	 "pin = \"...\"; } ). mode: verify (a certificate that verifies against s2s.ca and names "
	 "the domain), selfsigned (an untrusted certificate with dialback), plain (dialback, TLS "
	 "not required) or deny (never); without a mode, s2s.require_tls and s2s.accept_selfsigned "
	 "decide. pin: the SHA-256 of the peer's public key, 64 hex digits (parleyctl cert show "
	 "prints it as spki): only that key is accepted, and it is trusted whoever issued it"},
	{"s2s.resolver", OPT_STR, OFF(s2s.resolver), 0, "", 0, 0, NULL,
	 "DNS server asked for peers' SRV and address records, as \"IP\" or \"IP@port\" "
	 "(\"127.0.0.1@5353\"); \"\" = the system's resolvers (/etc/resolv.conf)"},
	{"s2s.resolver_zones", OPT_STRLIST, OFF(s2s.resolver_zones), 0, "", 0, 0, NULL,
	 "Zones libunbound answers itself as special-use names (\"test\", \"invalid\", "
	 "\"onion\"...) that it should look up instead: for test networks that name servers under "
	 "such a zone"},
	{"s2s.dns_timeout", OPT_UINT, OFF(s2s.dns_timeout), 10, NULL, 1, 300, NULL,
	 "Seconds a peer domain's DNS lookups (SRV, then addresses) may take before the link fails"},
	{"s2s.connect_timeout", OPT_UINT, OFF(s2s.connect_timeout), 10, NULL, 1, 300, NULL,
	 "Seconds one connection attempt to one of a peer's addresses may take before the next "
	 "address is tried"},
	{"s2s.idle_timeout", OPT_UINT, OFF(s2s.idle_timeout), 600, NULL, 10, 86400, NULL,
	 "Seconds an outgoing link may carry no stanza before it is closed (the next stanza opens "
	 "it again)"},
	{"s2s.retry_min", OPT_UINT, OFF(s2s.retry_min), 5, NULL, 1, 3600, NULL,
	 "Seconds to wait after a failed link to a domain before trying it again; the wait grows "
	 "with each further failure, up to s2s.retry_max"},
	{"s2s.retry_max", OPT_UINT, OFF(s2s.retry_max), 300, NULL, 1, 86400, NULL,
	 "Longest wait, in seconds, between attempts to reach a domain whose links keep failing"},
	{"s2s.connections_per_address", OPT_UINT, OFF(s2s.connections_per_address), 32, NULL, 1, 10000,
	 NULL,
	 "Incoming server connections one IP address may hold open at once; more are refused. A "
	 "peer server needs about one per pair of its domains and ours"},

	/* http */
	{"http.admin_listen", OPT_STRLIST, OFF(http.admin_listen), 0, "127.0.0.1", 0, 0, NULL,
	 "Addresses the admin API listens on (IPv4 or IPv6 literals); loopback by default"},
	{"http.admin_port", OPT_UINT, OFF(http.admin_port), 0, NULL, 0, 65535, NULL,
	 "Port of the admin API over HTTPS, with the hosts' certificates (and client certificates as "
	 "c2s.client_certs says); 0 turns it off. 5280 is the usual choice"},
	{"http.admin_plain_port", OPT_UINT, OFF(http.admin_plain_port), 0, NULL, 0, 65535, NULL,
	 "Port of the admin API in plain HTTP, for a TLS-terminating proxy on the same machine: allowed "
	 "only when every http.admin_listen address is loopback; 0 turns it off"},
	{"http.backlog", OPT_UINT, OFF(http.backlog), 128, NULL, 1, 65535, NULL,
	 "listen(2) backlog of each HTTP port"},
	{"http.header_bytes", OPT_SIZE, OFF(http.header_bytes), 8 * KIB, NULL, 1 * KIB, 64 * KIB, NULL,
	 "Largest request line and header fields of one request, in bytes (431, or 414 when the "
	 "request line alone is longer)"},
	{"http.uri_bytes", OPT_SIZE, OFF(http.uri_bytes), 4 * KIB, NULL, 256, 64 * KIB, NULL,
	 "Longest request target (path and query), in bytes (414); at most http.header_bytes"},
	{"http.max_headers", OPT_UINT, OFF(http.max_headers), 64, NULL, 8, 1000, NULL,
	 "Most header fields in one request (431)"},
	{"http.body_bytes", OPT_SIZE, OFF(http.body_bytes), 1 * MIB, NULL, 1 * KIB, 64 * MIB, NULL,
	 "Largest request body, in bytes, after the chunked coding is removed (413; a larger "
	 "Content-Length is refused before the body is read)"},
	{"http.header_timeout", OPT_UINT, OFF(http.header_timeout), 10, NULL, 1, 300, NULL,
	 "Seconds from a request's first byte (or from connecting, for the TLS handshake) until its "
	 "header fields are complete (408): slow senders do not hold connections"},
	{"http.body_timeout", OPT_UINT, OFF(http.body_timeout), 30, NULL, 1, 3600, NULL,
	 "Seconds from a request's header fields until its body is complete (408)"},
	{"http.idle_timeout", OPT_UINT, OFF(http.idle_timeout), 60, NULL, 1, 3600, NULL,
	 "Seconds a keep-alive connection may wait for its next request, or leave its responses "
	 "unread, before it is closed"},
	{"http.output_pause_bytes", OPT_SIZE, OFF(http.output_pause_bytes), 64 * KIB, NULL, 4 * KIB, 64 * MIB,
	 NULL,
	 "Bytes of responses waiting for the client to read them past which no further pipelined "
	 "request is read until they are (at most half of limits.outq_bytes, which disconnects)"},
	{"http.web_listen", OPT_STRLIST, OFF(http.web_listen), 0, "127.0.0.1", 0, 0, NULL,
	 "Addresses the public web listener for clients (WebSocket, BOSH, XEP-0156 discovery) listens on "
	 "(IPv4 or IPv6 literals); loopback by default. It never serves the admin API"},
	{"http.web_port", OPT_UINT, OFF(http.web_port), 0, NULL, 0, 65535, NULL,
	 "Port of the web listener over HTTPS, with the hosts' certificates (and client certificates as "
	 "c2s.client_certs says); 0 turns it off. parleyctl init writes 5281"},
	{"http.websocket_path", OPT_STR, OFF(http.websocket_path), 0, "/xmpp-websocket", 0, 0, NULL,
	 "Path of XMPP over WebSocket (RFC 7395) on the web listener: wss://HOST:http.web_port/PATH; "
	 "\"\" turns WebSocket off"},
	{"http.bosh_path", OPT_STR, OFF(http.bosh_path), 0, "/http-bind", 0, 0, NULL,
	 "Path of BOSH (XEP-0206) on the web listener; \"\" turns BOSH off"},
	{"http.allowed_origins", OPT_STRLIST, OFF(http.allowed_origins), 0, "", 0, 0, NULL,
	 "Origins of web pages whose browsers may use WebSocket and BOSH here and read the discovery "
	 "files (\"https://chat.example.org\", with a port when it is not the default one); \"*\" allows "
	 "any page, without SASL EXTERNAL (a browser presents its client certificate on any page's "
	 "behalf). Empty: no page of another origin; clients that are not browsers send no Origin"},
	{"http.admin_session_timeout", OPT_UINT, OFF(http.admin_session_timeout), 1800, NULL, 1, 86400, NULL,
	 "Seconds a web admin page session (the parley_admin cookie of POST /api/login) may go unused "
	 "before it ends and the page asks for the password again"},

	/* bosh */
	{"bosh.max_hold", OPT_UINT, OFF(bosh.max_hold), 1, NULL, 0, 8, NULL,
	 "Most requests a BOSH session holds waiting for something to send (the session's 'hold' is "
	 "the client's, at most this; it may have hold + 1 requests open); 0 means polling"},
	{"bosh.max_wait", OPT_UINT, OFF(bosh.max_wait), 60, NULL, 1, 3600, NULL,
	 "Longest a held BOSH request waits, in seconds, before it is answered empty (the session's "
	 "'wait' is the client's, at most this)"},
	{"bosh.inactivity", OPT_UINT, OFF(bosh.inactivity), 60, NULL, 1, 3600, NULL,
	 "Seconds a BOSH session may have no request open before it ends, as if its client had left"},
	{"bosh.window", OPT_UINT, OFF(bosh.window), 5, NULL, 2, 64, NULL,
	 "BOSH request ids accepted ahead of the next expected one (buffered, then processed in "
	 "order), and answers kept for a client that sends a request id again; at least "
	 "bosh.max_hold + 1 is used"},
	{"mux.listen", OPT_STRLIST, OFF(mux.listen), 0, "127.0.0.1", 0, 0, NULL,
	 "Addresses the shared port listens on (IPv4 or IPv6 literals); loopback by default"},
	{"mux.port", OPT_UINT, OFF(mux.port), 0, NULL, 0, 65535, NULL,
	 "One direct-TLS port for everything (e.g. 443): each connection goes by its ALPN protocol to clients "
	 "(xmpp-client), servers (xmpp-server) or HTTP (http/1.1: WebSocket, BOSH, discovery), or by its first "
	 "bytes without ALPN; 0 turns it off"},
	{"mux.admin", OPT_BOOL, OFF(mux.admin), 0, NULL, 0, 1, NULL,
	 "The shared port's HTTP also serves the admin API and page (off: only the web listener's routes)"},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

/* ---- helpers ---- */

static void *field(struct config *cfg, const struct opt *o)
{
	return (char *)cfg + o->offset;
}

static const void *cfield(const struct config *cfg, const struct opt *o)
{
	return (const char *)cfg + o->offset;
}

static char *path_resolve(const char *dir, const char *p)
{
	if (p[0] == '/' || !dir)
		return xstrdup(p);
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s/%s", dir, p);
	return buf_steal(&b);
}

/* An OPT_PATH value: "" means "none" and becomes NULL, so that runtime
 * code tests the pointer and never mistakes the config directory (what ""
 * would resolve to) for a file. */
static char *path_value(const char *dir, const char *p)
{
	if (!p || !*p)
		return NULL;
	return path_resolve(dir, p);
}

static void strlist_free(struct config_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static void strlist_add(struct config_strlist *l, const char *s)
{
	l->items = xrealloc(l->items, (l->n + 1) * sizeof(char *));
	l->items[l->n++] = xstrdup(s);
}

static void strlist_from_csv(struct config_strlist *l, const char *csv)
{
	const char *p = csv;
	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char *item = xstrndup(p, n);
		strlist_add(l, item);
		free(item);
		p = comma ? comma + 1 : NULL;
	}
}

static void set_default(struct config *cfg, const struct opt *o)
{
	void *f = field(cfg, o);
	switch (o->type) {
	case OPT_BOOL:
		*(bool *)f = o->def != 0;
		break;
	case OPT_UINT:
		*(unsigned *)f = (unsigned)o->def;
		break;
	case OPT_SIZE:
		*(size_t *)f = (size_t)o->def;
		break;
	case OPT_ENUM:
		*(int *)f = (int)o->def;
		break;
	case OPT_STR:
		free(*(char **)f);
		*(char **)f = o->def_str && *o->def_str ? xstrdup(o->def_str) : NULL;
		break;
	case OPT_PATH:
		free(*(char **)f);
		*(char **)f = path_value(NULL, o->def_str);
		break;
	case OPT_STRLIST:
		strlist_free(f);
		strlist_from_csv(f, o->def_str);
		break;
	case OPT_HOSTS:
	case OPT_S2S_PEERS:
		break;
	}
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NOPTIONS; i++)
		set_default(cfg, &options[i]);
}

static void hosts_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nhosts; i++) {
		free(cfg->hosts[i].domain);
		free(cfg->hosts[i].certificate);
		free(cfg->hosts[i].key);
	}
	free(cfg->hosts);
	cfg->hosts = NULL;
	cfg->nhosts = 0;
}

static void s2s_peers_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->s2s.npeers; i++) {
		free(cfg->s2s.peers[i].domain);
		free(cfg->s2s.peers[i].pin);
	}
	free(cfg->s2s.peers);
	cfg->s2s.peers = NULL;
	cfg->s2s.npeers = 0;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct opt *o = &options[i];
		void *f = field(cfg, o);
		if (o->type == OPT_STR || o->type == OPT_PATH) {
			free(*(char **)f);
			*(char **)f = NULL;
		} else if (o->type == OPT_STRLIST) {
			strlist_free(f);
		}
	}
	hosts_free(cfg);
	s2s_peers_free(cfg);
	free(cfg->path);
	free(cfg->dir);
	cfg->path = cfg->dir = NULL;
}

const char *config_s2s_mode_name(int mode)
{
	return mode >= 0 && mode < CONFIG_S2S_MODES ? s2s_modes[mode] : NULL;
}

const struct config_host *config_host_find(const struct config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->nhosts; i++)
		if (strcasecmp(cfg->hosts[i].domain, domain) == 0)
			return &cfg->hosts[i];
	return NULL;
}

/* ---- loading ---- */

struct loader {
	struct config *cfg;
	const char *file;
	char *err;
};

static int fail(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s:%d: ", ld->file, s ? config_setting_source_line(s) : 0);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	free(ld->err);
	ld->err = buf_steal(&b);
	return -1;
}

/* The index of `v` in the NULL-terminated `names`, or -1. */
static int enum_index(const char *const *names, const char *v)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(v, names[i]) == 0)
			return i;
	return -1;
}

static int fail_enum(struct loader *ld, const config_setting_t *s, const char *what,
		     const char *const *names)
{
	struct buf known = BUF_INIT;
	for (int i = 0; names[i]; i++)
		buf_printf(&known, "%s%s", i ? ", " : "", names[i]);
	int r = fail(ld, s, "%s: '%s' is not one of %s", what, config_setting_get_string(s), buf_cstr(&known));
	buf_clear(&known);
	return r;
}

static bool setting_is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static int load_string_list(struct loader *ld, const struct opt *o, config_setting_t *s)
{
	struct config_strlist *l = field(ld->cfg, o);
	strlist_free(l);
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		strlist_add(l, config_setting_get_string(s));
		return 0;
	}
	if (!config_setting_is_aggregate(s) || config_setting_type(s) == CONFIG_TYPE_GROUP)
		return fail(ld, s, "%s: expected a list of strings like [\"a\", \"b\"]", o->name);
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail(ld, e, "%s: element %d is not a string", o->name, i + 1);
		strlist_add(l, config_setting_get_string(e));
	}
	return 0;
}

/* Rejects what cannot be a domain for sure (a JID, a URL, a pattern)
 * rather than checking every label: a typo then fails at load instead of
 * never matching. */
static bool domain_ok(const char *d)
{
	if (!*d)
		return false;
	for (const char *p = d; *p; p++)
		if (isspace((unsigned char)*p) || *p == '@' || *p == '/' || *p == '*')
			return false;
	return true;
}

/* A domain as s2s settings keep it: lower case, no trailing dot (the root
 * label), so that the same name written twice is found twice. */
static char *domain_norm(const char *d)
{
	size_t n = strlen(d);
	if (n > 1 && d[n - 1] == '.')
		n--;
	char *r = xstrndup(d, n);
	for (char *p = r; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return r;
}

static int load_s2s_peers(struct loader *ld, const struct opt *o, config_setting_t *s)
{
	struct config *cfg = ld->cfg;
	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return fail(ld, s, "%s: expected a list of groups: ( { domain = \"b.example\"; mode = \"verify\"; } )",
			    o->name);
	int n = config_setting_length(s);
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return fail(ld, e, "%s: entry %d is not a group { domain = ...; }", o->name, i + 1);
		config_setting_t *domain = NULL, *mode = NULL, *pin = NULL;
		for (int j = 0; j < config_setting_length(e); j++) {
			config_setting_t *kv = config_setting_get_elem(e, (unsigned)j);
			const char *k = config_setting_name(kv);
			if (config_setting_type(kv) != CONFIG_TYPE_STRING)
				return fail(ld, kv, "%s: %s must be a string", o->name, k);
			if (strcmp(k, "domain") == 0)
				domain = kv;
			else if (strcmp(k, "mode") == 0)
				mode = kv;
			else if (strcmp(k, "pin") == 0)
				pin = kv;
			else
				return fail(ld, kv, "%s: unknown setting '%s' (known: domain, mode, pin)", o->name, k);
		}
		if (!domain)
			return fail(ld, e, "%s: entry %d has no domain", o->name, i + 1);
		const char *d = config_setting_get_string(domain);
		if (!domain_ok(d) || strcmp(d, ".") == 0)
			return fail(ld, domain, "%s: '%s' is not a domain name", o->name, d);
		struct config_s2s_peer p = {.domain = domain_norm(d), .mode = CONFIG_S2S_DEFAULT};
		for (size_t k = 0; k < cfg->s2s.npeers; k++)
			if (strcmp(cfg->s2s.peers[k].domain, p.domain) == 0) {
				free(p.domain);
				return fail(ld, domain, "%s: %s has two entries; merge them", o->name, d);
			}
		/* Appended before the checks below, so that config_free frees
		 * it when one fails. */
		cfg->s2s.peers = xrealloc(cfg->s2s.peers, (cfg->s2s.npeers + 1) * sizeof(*cfg->s2s.peers));
		struct config_s2s_peer *cp = &cfg->s2s.peers[cfg->s2s.npeers++];
		*cp = p;
		if (mode) {
			cp->mode = enum_index(o->names, config_setting_get_string(mode));
			if (cp->mode < 0) {
				struct buf what = BUF_INIT;
				buf_printf(&what, "%s: mode of %s", o->name, cp->domain);
				int r = fail_enum(ld, mode, buf_cstr(&what), o->names);
				buf_clear(&what);
				return r;
			}
		}
		if (pin) {
			const char *v = config_setting_get_string(pin);
			size_t len = strlen(v);
			if (len != 64 || strspn(v, "0123456789abcdefABCDEF") != len)
				return fail(ld, pin,
					    "%s: pin of %s must be 64 hex digits, the SHA-256 of the peer's public key "
					    "(parleyctl cert show prints it as spki)",
					    o->name, cp->domain);
			cp->pin = xstrdup(v);
			for (char *q = cp->pin; *q; q++)
				*q = (char)tolower((unsigned char)*q);
		}
	}
	return 0;
}

static int load_hosts(struct loader *ld, config_setting_t *s)
{
	struct config *cfg = ld->cfg;
	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return fail(ld, s, "hosts: expected a list of groups: ( { domain = \"example.org\"; } )");
	int n = config_setting_length(s);
	for (int i = 0; i < n; i++) {
		config_setting_t *h = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(h) != CONFIG_TYPE_GROUP)
			return fail(ld, h, "hosts: entry %d is not a group { domain = ...; }", i + 1);
		const char *domain = NULL, *cert = NULL, *key = NULL;
		for (int j = 0; j < config_setting_length(h); j++) {
			config_setting_t *kv = config_setting_get_elem(h, (unsigned)j);
			const char *k = config_setting_name(kv);
			if (config_setting_type(kv) != CONFIG_TYPE_STRING)
				return fail(ld, kv, "hosts: %s must be a string", k);
			const char *v = config_setting_get_string(kv);
			if (strcmp(k, "domain") == 0)
				domain = v;
			else if (strcmp(k, "certificate") == 0)
				cert = v;
			else if (strcmp(k, "key") == 0)
				key = v;
			else
				return fail(ld, kv,
					    "hosts: unknown setting '%s' (known: domain, certificate, key)", k);
		}
		if (!domain || !*domain)
			return fail(ld, h, "hosts: entry %d has no domain", i + 1);
		if (!domain_ok(domain))
			return fail(ld, h, "hosts: '%s' is not a domain name", domain);
		if (config_host_find(cfg, domain))
			return fail(ld, h, "hosts: %s is listed twice", domain);
		cfg->hosts = xrealloc(cfg->hosts, (cfg->nhosts + 1) * sizeof(*cfg->hosts));
		struct config_host *ch = &cfg->hosts[cfg->nhosts++];
		ch->domain = xstrdup(domain);
		for (char *p = ch->domain; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		struct buf b = BUF_INIT;
		if (!cert) {
			buf_printf(&b, "certs/%s.crt", ch->domain);
			cert = buf_cstr(&b);
		}
		ch->certificate = path_resolve(cfg->dir, cert);
		buf_reset(&b);
		if (!key) {
			buf_printf(&b, "certs/%s.key", ch->domain);
			key = buf_cstr(&b);
		}
		ch->key = path_resolve(cfg->dir, key);
		buf_clear(&b);
	}
	if (cfg->nhosts == 0)
		return fail(ld, s, "hosts: the list is empty; add at least one domain");
	return 0;
}

static int load_option(struct loader *ld, const struct opt *o, config_setting_t *s)
{
	void *f = field(ld->cfg, o);
	switch (o->type) {
	case OPT_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return fail(ld, s, "%s: expected true or false", o->name);
		*(bool *)f = config_setting_get_bool(s) != 0;
		return 0;
	case OPT_UINT:
	case OPT_SIZE: {
		if (!setting_is_int(s))
			return fail(ld, s, "%s: expected a whole number", o->name);
		long long v = config_setting_get_int64(s);
		if (v < 0 || (unsigned long long)v < o->min || (unsigned long long)v > o->max)
			return fail(ld, s, "%s: %lld is out of range (%llu to %llu)", o->name, v, o->min,
				    o->max);
		if (o->type == OPT_UINT)
			*(unsigned *)f = (unsigned)v;
		else
			*(size_t *)f = (size_t)v;
		return 0;
	}
	case OPT_ENUM: {
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return fail(ld, s, "%s: expected a string", o->name);
		int i = enum_index(o->names, config_setting_get_string(s));
		if (i < 0)
			return fail_enum(ld, s, o->name, o->names);
		*(int *)f = i;
		return 0;
	}
	case OPT_STR:
	case OPT_PATH:
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return fail(ld, s, "%s: expected a string", o->name);
		free(*(char **)f);
		*(char **)f = o->type == OPT_PATH ? path_value(ld->cfg->dir, config_setting_get_string(s))
			      : *config_setting_get_string(s) ? xstrdup(config_setting_get_string(s))
							      : NULL;
		return 0;
	case OPT_STRLIST:
		return load_string_list(ld, o, s);
	case OPT_HOSTS:
		return load_hosts(ld, s);
	case OPT_S2S_PEERS:
		return load_s2s_peers(ld, o, s);
	}
	return 0;
}

static const struct opt *opt_find(const char *name)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (strcmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

static bool is_section(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < NOPTIONS; i++)
		if (strncmp(options[i].name, name, n) == 0 && options[i].name[n] == '.')
			return true;
	return false;
}

/* Every key in the file must be an option or a section holding options:
 * a typo is an error at load time, never a silently ignored setting. */
static int check_unknown(struct loader *ld, config_setting_t *group, const char *prefix)
{
	for (int i = 0; i < config_setting_length(group); i++) {
		config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		char name[256];
		snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", config_setting_name(s));
		if (opt_find(name))
			continue;
		if (config_setting_type(s) == CONFIG_TYPE_GROUP && is_section(name)) {
			if (check_unknown(ld, s, name) < 0)
				return -1;
			continue;
		}
		return fail(ld, s, "unknown setting '%s'", name);
	}
	return 0;
}

/* The file's element `i` of list setting `name`, for an error's line. */
static config_setting_t *list_elem(config_t *cf, const char *name, size_t i)
{
	config_setting_t *s = config_lookup(cf, name);
	if (s && config_setting_is_aggregate(s)) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		return e ? e : s;
	}
	return s;
}

static int check_domain_list(struct loader *ld, config_t *cf, const char *name,
			     const struct config_strlist *l, bool star)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *d = l->items[i];
		if (star && strcmp(d, "*") == 0) {
			if (l->n > 1)
				return fail(ld, list_elem(cf, name, i),
					    "%s: \"*\" (every domain) with other entries; keep one or the other", name);
			continue;
		}
		if (!domain_ok(d))
			return fail(ld, list_elem(cf, name, i), "%s: '%s' is not a domain name%s", name, d,
				    strchr(d, '*') ? " (no wildcards: list each domain)" : "");
	}
	return 0;
}

/* "IP" or "IP@port", as libunbound's ub_ctx_set_fwd takes it. */
static bool resolver_ok(const char *r)
{
	char ip[INET6_ADDRSTRLEN];
	const char *at = strrchr(r, '@');
	size_t n = at ? (size_t)(at - r) : strlen(r);
	if (n == 0 || n >= sizeof(ip))
		return false;
	memcpy(ip, r, n);
	ip[n] = '\0';
	unsigned char addr[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, ip, addr) != 1 && inet_pton(AF_INET6, ip, addr) != 1)
		return false;
	if (at) {
		char *end;
		errno = 0;
		long port = strtol(at + 1, &end, 10);
		if (!at[1] || *end || errno || port < 1 || port > 65535)
			return false;
	}
	return true;
}

static int check_s2s(struct loader *ld, config_t *cf)
{
	const struct config *cfg = ld->cfg;
	if (check_domain_list(ld, cf, "s2s.allow", &cfg->s2s.allow, true) < 0 ||
	    check_domain_list(ld, cf, "s2s.deny", &cfg->s2s.deny, false) < 0 ||
	    check_domain_list(ld, cf, "s2s.resolver_zones", &cfg->s2s.resolver_zones, false) < 0)
		return -1;
	if (cfg->s2s.resolver && !resolver_ok(cfg->s2s.resolver))
		return fail(ld, config_lookup(cf, "s2s.resolver"),
			    "s2s.resolver: '%s' is not an IP address with an optional @port (\"127.0.0.1@5353\")",
			    cfg->s2s.resolver);
	if (cfg->s2s.retry_min > cfg->s2s.retry_max) {
		/* The line of whichever of the two the file sets. */
		config_setting_t *s = config_lookup(cf, "s2s.retry_min");
		return fail(ld, s ? s : config_lookup(cf, "s2s.retry_max"),
			    "s2s.retry_min: %u is more than s2s.retry_max (%u)", cfg->s2s.retry_min,
			    cfg->s2s.retry_max);
	}
	return 0;
}

static bool loopback_literal(const char *a)
{
	struct in_addr v4;
	struct in6_addr v6;
	if (inet_pton(AF_INET, a, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, a, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/* A path as route tables write them: '/' first, then segments of lower
 * case letters, digits and "-._~", no empty, "." or ".." segment. */
static bool web_path_ok(const char *p)
{
	if (p[0] != '/')
		return false;
	const char *seg = p + 1;
	for (const char *q = p + 1;; q++) {
		if (*q == '/' || !*q) {
			size_t n = (size_t)(q - seg);
			if ((n == 0 && *q) || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
				return false;
			if (!*q)
				return n > 0 || q == p + 1;
			seg = q + 1;
			continue;
		}
		if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || strchr("-._~", *q)))
			return false;
	}
}

/* An origin as browsers send it (RFC 6454): scheme://host[:port], no
 * path; or "*". */
static bool origin_ok(const char *o)
{
	if (strcmp(o, "*") == 0)
		return true;
	const char *host = strncmp(o, "https://", 8) == 0 ? o + 8 : strncmp(o, "http://", 7) == 0 ? o + 7 : NULL;
	if (!host || !*host)
		return false;
	for (const char *q = host; *q; q++)
		if (!(isalnum((unsigned char)*q) || strchr("-.:[]", *q)))
			return false;
	return true;
}

/* The public web listener (http.web_*) and what it serves. */
static int check_web(struct loader *ld, config_t *cf)
{
	const struct config *cfg = ld->cfg;
	if (cfg->http.web_listen.n == 0 && cfg->http.web_port)
		return fail(ld, config_lookup(cf, "http.web_listen"), "http.web_listen: no address to listen on");
	if (cfg->http.web_port &&
	    (cfg->http.web_port == cfg->http.admin_port || cfg->http.web_port == cfg->http.admin_plain_port))
		return fail(ld, config_lookup(cf, "http.web_port"),
			    "http.web_port: the same port as the admin API's; the admin API is never served on the "
			    "web listener, give each its own");
	const char *paths[] = {"http.websocket_path", "http.bosh_path"};
	const char *values[] = {cfg->http.websocket_path, cfg->http.bosh_path};
	for (size_t i = 0; i < 2; i++)
		if (values[i] && !web_path_ok(values[i]))
			return fail(ld, config_lookup(cf, paths[i]),
				    "%s: '%s' is not a path of lower-case segments (\"/xmpp-websocket\"), or \"\" for off",
				    paths[i], values[i]);
	if (values[0] && values[1] && strcmp(values[0], values[1]) == 0)
		return fail(ld, config_lookup(cf, "http.bosh_path"), "http.bosh_path: the same as http.websocket_path");
	for (size_t i = 0; i < cfg->http.allowed_origins.n; i++)
		if (!origin_ok(cfg->http.allowed_origins.items[i]))
			return fail(ld, config_lookup(cf, "http.allowed_origins"),
				    "http.allowed_origins: '%s' is not an origin (\"https://chat.example.org\", "
				    "\"https://host:8443\") nor \"*\"",
				    cfg->http.allowed_origins.items[i]);
	return 0;
}

static int check_http(struct loader *ld, config_t *cf)
{
	const struct config *cfg = ld->cfg;
	if (cfg->http.admin_listen.n == 0 && (cfg->http.admin_port || cfg->http.admin_plain_port))
		return fail(ld, config_lookup(cf, "http.admin_listen"), "http.admin_listen: no address to listen on");
	if (cfg->http.admin_port && cfg->http.admin_port == cfg->http.admin_plain_port)
		return fail(ld, config_lookup(cf, "http.admin_plain_port"),
			    "http.admin_plain_port: the same port as http.admin_port; give each its own");
	if (cfg->http.admin_plain_port)
		for (size_t i = 0; i < cfg->http.admin_listen.n; i++)
			if (!loopback_literal(cfg->http.admin_listen.items[i]))
				return fail(ld, config_lookup(cf, "http.admin_plain_port"),
					    "http.admin_plain_port: plain HTTP is served on loopback addresses only, "
					    "and http.admin_listen has '%s'; use http.admin_port (HTTPS) there",
					    cfg->http.admin_listen.items[i]);
	if (cfg->http.uri_bytes > cfg->http.header_bytes)
		return fail(ld, config_lookup(cf, "http.uri_bytes"), "http.uri_bytes: larger than http.header_bytes");
	return check_web(ld, cf);
}

int config_load(const char *path, struct config *cfg, char **err)
{
	config_defaults(cfg);
	struct loader ld = {.cfg = cfg, .file = path, .err = NULL};
	config_t cf;
	config_init(&cf);

	char *abs = realpath(path, NULL);
	if (!abs) {
		struct buf b = BUF_INIT;
		buf_printf(&b, "%s: cannot open: %s", path, strerror(errno));
		*err = buf_steal(&b);
		config_destroy(&cf);
		config_free(cfg);
		return -1;
	}
	cfg->path = abs;
	char *slash = strrchr(abs, '/');
	cfg->dir = xstrndup(abs, slash > abs ? (size_t)(slash - abs) : 1);
	/* Relative includes resolve against the file's own directory. */
	config_set_include_dir(&cf, cfg->dir);

	if (config_read_file(&cf, abs) != CONFIG_TRUE) {
		struct buf b = BUF_INIT;
		buf_printf(&b, "%s:%d: %s", config_error_file(&cf) ? config_error_file(&cf) : path,
			   config_error_line(&cf), config_error_text(&cf));
		*err = buf_steal(&b);
		goto fail;
	}
	config_setting_t *root = config_root_setting(&cf);
	if (check_unknown(&ld, root, "") < 0)
		goto fail_ld;

	/* Paths default relative to the file too. */
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct opt *o = &options[i];
		if (o->type == OPT_PATH && *(char **)field(cfg, o)) {
			char **p = field(cfg, o);
			char *r = path_resolve(cfg->dir, *p);
			free(*p);
			*p = r;
		}
	}
	for (size_t i = 0; i < NOPTIONS; i++) {
		config_setting_t *s = config_lookup(&cf, options[i].name);
		if (s && load_option(&ld, &options[i], s) < 0)
			goto fail_ld;
	}
	if (cfg->nhosts == 0) {
		fail(&ld, NULL, "no hosts configured: add hosts = ( { domain = \"example.org\"; } );");
		goto fail_ld;
	}
	if (cfg->c2s.listen.n == 0 && (cfg->c2s.port || cfg->c2s.tls_port)) {
		fail(&ld, config_lookup(&cf, "c2s.listen"), "c2s.listen: no address to listen on");
		goto fail_ld;
	}
	if (cfg->c2s.port && cfg->c2s.port == cfg->c2s.tls_port) {
		fail(&ld, config_lookup(&cf, "c2s.tls_port"),
		     "c2s.tls_port: the same port as c2s.port; give each its own");
		goto fail_ld;
	}
	if (cfg->s2s.listen.n == 0 && (cfg->s2s.port || cfg->s2s.tls_port)) {
		fail(&ld, config_lookup(&cf, "s2s.listen"), "s2s.listen: no address to listen on");
		goto fail_ld;
	}
	if (cfg->s2s.port && cfg->s2s.port == cfg->s2s.tls_port) {
		fail(&ld, config_lookup(&cf, "s2s.tls_port"),
		     "s2s.tls_port: the same port as s2s.port; give each its own");
		goto fail_ld;
	}
	if (!cfg->database) {
		fail(&ld, config_lookup(&cf, "database"), "database: names no file");
		goto fail_ld;
	}
	if (check_s2s(&ld, &cf) < 0)
		goto fail_ld;
	if (check_http(&ld, &cf) < 0)
		goto fail_ld;
	if (cfg->limits.stanza_bytes_preauth > cfg->s2s.stanza_bytes) {
		fail(&ld, config_lookup(&cf, "limits.stanza_bytes_preauth"),
		     "limits.stanza_bytes_preauth: larger than s2s.stanza_bytes");
		goto fail_ld;
	}
	if (cfg->limits.stanza_bytes_preauth > cfg->limits.stanza_bytes) {
		fail(&ld, config_lookup(&cf, "limits.stanza_bytes_preauth"),
		     "limits.stanza_bytes_preauth: larger than limits.stanza_bytes");
		goto fail_ld;
	}
	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg->workers = n > 0 ? (unsigned)n : 1;
	}
	config_destroy(&cf);
	return 0;

fail_ld:
	*err = ld.err;
fail:
	config_destroy(&cf);
	config_free(cfg);
	return -1;
}

/* ---- writing ---- */

static void write_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void write_value(FILE *out, const struct config *cfg, const struct opt *o)
{
	const void *f = cfield(cfg, o);
	switch (o->type) {
	case OPT_BOOL:
		fputs(*(const bool *)f ? "true" : "false", out);
		break;
	case OPT_UINT:
		fprintf(out, "%u", *(const unsigned *)f);
		break;
	case OPT_SIZE:
		/* libconfig needs the L suffix past 32 bits. */
		fprintf(out, "%zu%s", *(const size_t *)f, *(const size_t *)f > INT32_MAX ? "L" : "");
		break;
	case OPT_ENUM:
		write_string(out, o->names[*(const int *)f]);
		break;
	case OPT_STR:
	case OPT_PATH:
		write_string(out, *(char *const *)f);
		break;
	case OPT_STRLIST: {
		const struct config_strlist *l = f;
		fputc('[', out);
		for (size_t i = 0; i < l->n; i++) {
			if (i)
				fputs(", ", out);
			write_string(out, l->items[i]);
		}
		fputc(']', out);
		break;
	}
	case OPT_HOSTS:
		fputs("(", out);
		for (size_t i = 0; i < cfg->nhosts; i++) {
			fputs(i ? ",\n  " : "\n  ", out);
			fputs("{ domain = ", out);
			write_string(out, cfg->hosts[i].domain);
			fputs("; certificate = ", out);
			write_string(out, cfg->hosts[i].certificate);
			fputs("; key = ", out);
			write_string(out, cfg->hosts[i].key);
			fputs("; }", out);
		}
		fputs("\n)", out);
		break;
	case OPT_S2S_PEERS:
		fputs("(", out);
		for (size_t i = 0; i < cfg->s2s.npeers; i++) {
			const struct config_s2s_peer *p = &cfg->s2s.peers[i];
			fputs(i ? ",\n    " : "\n    ", out);
			fputs("{ domain = ", out);
			write_string(out, p->domain);
			if (p->mode != CONFIG_S2S_DEFAULT) {
				fputs("; mode = ", out);
				write_string(out, o->names[p->mode]);
			}
			if (p->pin) {
				fputs("; pin = ", out);
				write_string(out, p->pin);
			}
			fputs("; }", out);
		}
		fputs(cfg->s2s.npeers ? "\n  )" : ")", out);
		break;
	}
}

/* The help text as comment lines of at most about 78 columns, words kept
 * whole; the bounds of a number follow it. */
static void write_help(FILE *out, const char *indent, const struct opt *o)
{
	enum { WIDTH = 78 };
	char bounds[64] = "";
	if (o->type == OPT_UINT || o->type == OPT_SIZE)
		snprintf(bounds, sizeof(bounds), " [%llu..%llu]", o->min, o->max);
	size_t room = WIDTH - strlen(indent) - 2, col = 0;
	const char *p = o->help;
	fprintf(out, "%s#", indent);
	while (*p) {
		size_t w = strcspn(p, " ");
		if (col > 0 && col + 1 + w > room) {
			fprintf(out, "\n%s#", indent);
			col = 0;
		}
		fprintf(out, " %.*s", (int)w, p);
		col += 1 + w;
		p += w;
		while (*p == ' ')
			p++;
	}
	fprintf(out, "%s\n", bounds);
}

void config_print(FILE *out, const struct config *cfg, const char *header)
{
	if (header) {
		const char *p = header;
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			fprintf(out, "# %.*s\n", (int)n, p);
			p = nl ? nl + 1 : p + n;
		}
		fputc('\n', out);
	}
	const char *section = NULL;
	size_t section_len = 0;
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct opt *o = &options[i];
		const char *dot = strchr(o->name, '.');
		size_t len = dot ? (size_t)(dot - o->name) : 0;
		if (section && (len != section_len || strncmp(section, o->name, len) != 0)) {
			fputs("};\n\n", out);
			section = NULL;
		}
		if (dot && !section) {
			fprintf(out, "%.*s: {\n", (int)len, o->name);
			section = o->name;
			section_len = len;
		}
		const char *indent = dot ? "  " : "";
		write_help(out, indent, o);
		fprintf(out, "%s%s = ", indent, dot ? dot + 1 : o->name);
		write_value(out, cfg, o);
		fputs(";\n", out);
		if (!dot)
			fputc('\n', out);
	}
	if (section)
		fputs("};\n", out);
}
