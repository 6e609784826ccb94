/*
 * config: the server's settings, parsed once from a libconfig file into an
 * immutable, validated struct.  One option table (config.c) lists every
 * setting with its type, place in the struct, default, bounds and one line
 * of help; the same table parses, validates, prints the effective
 * configuration and writes the commented file `parleyctl init` creates.
 *
 * Runtime code reads typed fields; nothing looks settings up by name.
 */
#ifndef PARLEY_CORE_CONFIG_H
#define PARLEY_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct config_host {
	char *domain;      /* prepared by the caller of config_load? no: as written, lower-cased */
	char *certificate; /* absolute path */
	char *key;         /* absolute path */
};

struct config_strlist {
	char **items;
	size_t n;
};

enum config_conflict {
	CONFLICT_REPLACE = 0, /* the new session replaces the old one */
	CONFLICT_REJECT = 1,  /* the new session gets <conflict/> */
	CONFLICT_RENAME = 2,  /* the new session gets a generated resource */
};

/* c2s.client_certs: the same values as enum tls_client_certs. */
enum config_client_certs {
	CLIENT_CERTS_DISABLED = 0, /* never asked for */
	CLIENT_CERTS_WANTED = 1,   /* asked for; passwords stay available */
	CLIENT_CERTS_NEEDED = 2,   /* a TLS handshake without one fails */
};

/* s2s.peers' mode, one per remote domain: the same values as s2s/policy.h's
 * enum s2s_mode (which says what each allows); the names are config.c's
 * table, read through config_s2s_mode_name. */
enum config_s2s_mode {
	CONFIG_S2S_DEFAULT = -1,   /* no mode given: the global settings decide */
	CONFIG_S2S_VERIFY = 0,     /* "verify" */
	CONFIG_S2S_SELFSIGNED = 1, /* "selfsigned" */
	CONFIG_S2S_PLAIN = 2,      /* "plain" */
	CONFIG_S2S_DENY = 3,       /* "deny" */
	CONFIG_S2S_MODES = 4,
};

/* One s2s.peers entry. */
struct config_s2s_peer {
	char *domain; /* lower-cased, without a trailing dot; unique in the list */
	int mode;     /* enum config_s2s_mode */
	char *pin;    /* SPKI SHA-256, 64 lower-case hex digits; NULL: none */
};

struct config {
	char *path; /* the file this came from (absolute) */
	char *dir;  /* its directory: relative paths are relative to it */

	/* server */
	struct config_host *hosts;
	size_t nhosts;
	unsigned workers;  /* resolved: never 0 after config_load */
	int log_level;     /* enum log_level */
	char *database;    /* absolute path of the SQLite file */
	unsigned inbox_max;
	struct config_strlist admins; /* bare JIDs of the administrators (manage_is_admin) */

	struct {
		struct config_strlist listen;
		unsigned port;      /* STARTTLS; 0 = off */
		unsigned tls_port;  /* direct TLS (XEP-0368); 0 = off */
		bool require_tls;
		struct config_strlist mechanisms;
		int resource_conflict; /* enum config_conflict */
		unsigned backlog;
		unsigned max_sessions_per_user;
		/* Client certificates (SASL EXTERNAL, XEP-0178).  Paths are
		 * absolute, or NULL for "none" (an empty string in the file). */
		int client_certs;          /* enum config_client_certs */
		char *client_ca;           /* PEM file, or directory of PEM files */
		unsigned verify_depth;     /* intermediate CAs allowed below a trusted one */
		char *crl_file;            /* PEM CRLs; NULL: no revocation check */
		bool accept_selfsigned;
		bool disconnect_on_failure;
		bool cn_as_username;
		bool auto_create_accounts;
	} c2s;

	struct {
		size_t stanza_bytes_preauth;
		size_t stanza_bytes;
		size_t header_bytes;
		unsigned depth;
		unsigned elements;
		unsigned attrs;
		size_t attr_bytes;
		size_t read_rate;
		size_t read_burst;
		size_t outq_bytes;
		unsigned handshake_timeout; /* s, until bound */
		unsigned idle_timeout;      /* s without input */
		unsigned keepalive;         /* s without output before a whitespace ping */
	} limits;

	struct {
		unsigned scram_iterations;
		unsigned fail_delay_max;   /* s */
		unsigned fail_max;         /* failures per account at an address before refusing */
		unsigned fail_max_address; /* failures per address, all accounts, before refusing */
		unsigned fail_window;      /* s */
		unsigned attempts_per_stream;
	} auth;

	struct {
		unsigned offline_max;       /* messages stored per account */
		size_t offline_max_bytes;   /* their stored bytes per account */
		unsigned roster_max;
		size_t vcard_bytes;
		size_t private_bytes;
		unsigned blocklist_max;
		bool version_reply;
	} im;

	struct {
		unsigned queue_max; /* stanzas queued per remote link while it is not up */
		size_t stanza_bytes; /* largest stanza from an authenticated server */
		struct config_strlist listen;
		unsigned port;       /* STARTTLS; 0 = off */
		unsigned tls_port;   /* direct TLS (XEP-0368, ALPN xmpp-server); 0 = off */
		char *ca;            /* peer CAs: PEM file or directory (absolute); NULL: none */
		unsigned verify_depth;
		bool require_tls;
		struct config_strlist mechanisms;
		bool allow_cn;       /* CN-IDs name a peer domain (RFC 6125 6.4.4) */
		/* Who federates, and how (s2s/policy.h decides from these). */
		struct config_strlist allow; /* "*" = every domain; empty = federation off */
		struct config_strlist deny;
		bool accept_selfsigned;      /* untrusted certificates pass with dialback */
		bool dialback;               /* XEP-0220 offered and used */
		char *crl_file;              /* PEM CRLs for s2s.ca (absolute); NULL: none */
		bool accept_serverauth_only; /* a peer's serverAuth-only certificate is accepted */
		struct config_s2s_peer *peers;
		size_t npeers;
		/* Outgoing links. */
		char *resolver;              /* "IP" or "IP@port"; NULL: the system's */
		struct config_strlist resolver_zones; /* forwarded, not answered by libunbound */
		unsigned dns_timeout;        /* s */
		unsigned connect_timeout;    /* s per address */
		unsigned idle_timeout;       /* s without a stanza before an outgoing link closes */
		unsigned retry_min, retry_max; /* s of back-off after a failed link */
		unsigned connections_per_address; /* incoming, from one IP address at once */
	} s2s;

	struct {
		/* The admin API's listener (http/). */
		struct config_strlist admin_listen;
		unsigned admin_port;       /* HTTPS; 0 = off */
		unsigned admin_plain_port; /* plain HTTP, loopback addresses only; 0 = off */
		unsigned backlog;
		/* Requests (every limit refuses with its 4xx and a log line). */
		size_t header_bytes;       /* request line and header fields: 431 (414 in the line) */
		size_t uri_bytes;          /* request target: 414 */
		unsigned max_headers;      /* header fields: 431 */
		size_t body_bytes;         /* body after dechunking: 413 */
		unsigned header_timeout;   /* s from a request's first byte to its last header: 408 */
		unsigned body_timeout;     /* s from the header fields to the end of the body: 408 */
		unsigned idle_timeout;     /* s between requests before the connection closes */
		size_t output_pause_bytes; /* queued responses past which no request is read (<= outq/2 at runtime) */
		/* The public web listener for client transports (WebSocket,
		 * BOSH, XEP-0156 discovery); never the admin API. */
		struct config_strlist web_listen;
		unsigned web_port;         /* HTTPS; 0 = off */
		char *websocket_path;      /* RFC 7395 endpoint; NULL ("") = WebSocket off */
		char *bosh_path;           /* XEP-0206 endpoint; NULL ("") = BOSH off */
		struct config_strlist allowed_origins; /* browser origins ("https://host[:port]", "*"); empty: none */
		unsigned admin_session_timeout; /* s a web admin session may stay unused before it ends */
	} http;

	struct {
		/* BOSH sessions (bosh/, XEP-0124 and XEP-0206). */
		unsigned max_hold;   /* most requests a session holds ('hold'); requests = hold + 1 */
		unsigned max_wait;   /* s: longest a held request waits ('wait') */
		unsigned inactivity; /* s with no request held before a session ends */
		unsigned window;     /* rids accepted ahead, and answers kept for a resend */
	} bosh;

	struct {
		/* One direct-TLS port for clients, servers and HTTP (mux/). */
		struct config_strlist listen;
		unsigned port;       /* 0 = off */
		bool admin;          /* its HTTP also serves the admin API and page */
	} mux;
};

/* Loads and validates `path` into `cfg` (zeroed first).  Every setting not
 * in the file gets its default.  On failure returns -1 with *err (heap
 * string) as "FILE:LINE: what is wrong". */
int config_load(const char *path, struct config *cfg, char **err);
/* A config with every default, and the given hosts/paths unset: used by
 * `parleyctl init` before it fills in its arguments. */
void config_defaults(struct config *cfg);
void config_free(struct config *cfg);

/* Writes `cfg` as a libconfig file, every setting with its help line as a
 * comment; `header` (may be NULL) is written first as comment lines. */
void config_print(FILE *out, const struct config *cfg, const char *header);

/* "verify", "selfsigned", "plain", "deny" for an enum config_s2s_mode
 * value; NULL for any other (CONFIG_S2S_DEFAULT included). */
const char *config_s2s_mode_name(int mode);

/* The host entry for `domain`, or NULL. */
const struct config_host *config_host_find(const struct config *cfg, const char *domain);

#endif
