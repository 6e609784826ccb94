/* s2s internals shared by in.c, external.c and service.c. */
#ifndef PARLEY_S2S_INTERNAL_H
#define PARLEY_S2S_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include "core/list.h"
#include "router/stanza.h"
#include "sasl/sasl.h"
#include "stream/sasl.h"
#include "s2s/dialback_key.h"
#include "s2s/policy.h"
#include "stream/stream.h"

struct arena;
struct conn;
struct server;
struct shard;
struct tls_cert_ids;
struct tls_client;
struct remote_link;

/* A (remote domain, local domain) pair a stream carries stanzas for:
 * authenticated by EXTERNAL (the stream's own pair) or by dialback (any
 * number, XEP-0220 piggybacking). */
enum s2s_pair_state { PAIR_PENDING, PAIR_VALID };
struct s2s_pair {
	char *remote;      /* heap */
	const char *local; /* config string */
	enum s2s_pair_state state;
};

/* An incoming server stream.  Owner: the conn's on_close (in.c) frees
 * it. */
struct s2s_in {
	struct xstream xs;     /* the stream machine (stream/stream.h) */
	struct shard *sh;
	struct list link;      /* the worker's s2s streams (service.c) */
	bool direct_tls;
	bool cert_logged;      /* the certificate verdict was logged */
	struct xs_sasl sasl;   /* EXTERNAL only (stream/sasl.h) */
	char *remote;          /* the domain EXTERNAL authenticated, or NULL */
	struct s2s_pair *pairs; /* dialback and EXTERNAL pairs */
	size_t npairs;
	unsigned db_attempts;  /* <db:result/>s on this stream */
	char ip[64];           /* counted in s2s_addr_take when set */
};

static inline struct s2s_in *s2s_in_of(const struct xstream *xs)
{
	return container_of(xs, struct s2s_in, xs);
}

/* Process-wide s2s state, made by the service's setup (service.c). */
struct s2s_global {
	struct tls_client *client;      /* our certificates for outgoing links */
	struct dialback_secret secret;  /* XEP-0185 keys */
	/* The policy settings (s2s.allow, deny, peers, accept_selfsigned,
	 * dialback, require_tls) as of the last SIGHUP: a configuration
	 * loaded again, read under the lock; NULL: the start-up one. */
	pthread_mutex_t policy_lock;
	struct config *policy_cfg;
	/* Incoming s2s connections per peer address, over all workers
	 * (s2s.connections_per_address); touched only at accept and close. */
	pthread_mutex_t addr_lock;
	struct s2s_addr_count *addrs;
	size_t naddrs, addrs_cap;
};

struct s2s_addr_count {
	char ip[64];
	unsigned n;
};

/* Counts one more connection from `ip` unless `max` are open already
 * (then false, and *open says how many).  Any thread. */
bool s2s_addr_take(struct server *srv, const char *ip, unsigned max, unsigned *open);
void s2s_addr_release(struct server *srv, const char *ip);

/* The policy row of `domain` under the current settings (any thread). */
void s2s_lookup(const struct server *srv, const char *domain, struct s2s_policy *out);

/* ---- in.c ---- */

/* Accepting: `ud` is an s2s_port. */
struct s2s_port {
	bool direct_tls;
};
extern const struct s2s_port s2s_port_starttls, s2s_port_direct;
struct worker;
void s2s_in_accept(struct worker *w, int fd, void *ud);

/* ---- external.c ---- */

/*
 * SASL EXTERNAL for a peer server (XEP-0178 §3, RFC 6120 §6.4.6): the
 * domain a verified certificate authenticates, pure (no I/O, no config):
 *  1. The domain asked for is the authzid when one is given, else the
 *     stream header's 'from'; with neither, there is nothing to check.
 *  2. An authzid must be a bare domain (no '@', no '/'); when the header
 *     named a 'from' too, they must be the same domain.
 *  3. The certificate must name that domain by RFC 6125 (tls/names.h:
 *     DNS-ID with wildcards, SRV-ID for xmpp-server, XmppAddr; CN-ID only
 *     with allow_cn, i.e. s2s.allow_cn).
 * SASL_OK with *domain (prepared, in `a`) and *why (the identifier that
 * matched); otherwise the condition and *why naming the rule, e.g.
 * "certificate does not name b.example: <verdict>".  *domain is the
 * domain asked for (or NULL) either way, for the log.
 */
enum sasl_cond s2s_external_domain(struct arena *a, const struct tls_cert_ids *ids, const char *header_from,
				   const char *authzid, bool allow_cn, const char **domain, const char **why);

/* The pair, or NULL. */
struct s2s_pair *s2s_in_pair(struct s2s_in *s, const char *remote, const char *local);
/* Adds a pair (the stream is now authenticated for stanzas of it). */
struct s2s_pair *s2s_in_pair_add(struct s2s_in *s, const char *remote, const char *local, enum s2s_pair_state st);
/* The incoming stream with this conn id on this worker, or NULL. */
struct s2s_in *s2s_in_find(struct shard *sh, uint64_t conn_id);
/* The XML limits of a server stream, either direction: s2s.stanza_bytes
 * once authenticated, the pre-authentication limits before. */
struct xml_limits;
void s2s_limits(const struct config *cfg, bool authed, struct xml_limits *lim);
/* The TLS facts of a stream's conn for `domain` (policy.h). */
void s2s_tls_facts(struct conn *c, struct arena *a, const char *domain, bool allow_cn, struct s2s_peer_tls *out);

/* ---- dialback.c (XEP-0220) ---- */

/* Receiving side: <db:result/> and <db:verify/> on an incoming stream. */
void s2s_in_db_result(struct xstream *xs, struct arena *a, struct xml_node *el);
void s2s_in_db_verify(struct xstream *xs, struct arena *a, struct xml_node *el);
/* What the authoritative server answered for a <db:result/> an incoming
 * stream asked for: valid, invalid, or an error (cond, text). */
enum s2s_verdict { S2S_VERIFY_VALID, S2S_VERIFY_INVALID, S2S_VERIFY_ERROR };
void s2s_in_dialback_done(struct shard *sh, uint64_t in_conn, const char *local, const char *remote,
			  enum s2s_verdict v, enum stanza_cond cond, const char *text);
/* The key we send for (local -> remote) on a stream the peer named `id`. */
int s2s_dialback_key(const struct server *srv, const char *receiving, const char *originating, const char *id,
		     char out[DIALBACK_KEY_LEN + 1]);

/* ---- out.c ---- */

/* The remote transport the router uses (router/remote.h). */
extern const struct remote_transport s2s_transport;
/* Asks the authoritative server of `remote` whether `key` is right for
 * (local -> remote... as XEP-0220 §2.3: from = local (receiving), to =
 * remote (originating), id = our incoming stream's id), over an outgoing
 * stream of this worker; the answer comes to s2s_in_dialback_done(). */
void s2s_out_verify(struct shard *sh, uint64_t in_conn, const char *local, const char *remote, const char *id,
		    const char *key);
/* The admin operations' view of this worker's outgoing streams
 * (admin.c): one object each appended to `arr`; closing those with a
 * domain (how many). */
#include <jansson.h>
void s2s_out_links(struct shard *sh, json_t *arr, uint64_t now);
unsigned s2s_out_close(struct shard *sh, const char *domain);
/* Ends every outgoing stream of this worker (shutdown). */
void s2s_out_shutdown(struct shard *sh);
size_t s2s_out_count(struct shard *sh);


#endif
