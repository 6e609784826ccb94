/*
 * s2s: server-to-server streams (RFC 6120, XEP-0178, XEP-0220).  This
 * first part accepts incoming links on the STARTTLS and direct-TLS ports
 * and authenticates them with TLS + SASL EXTERNAL: the peer's certificate
 * must verify against the s2s trust store (s2s.ca) and name the peer's
 * domain (RFC 6125).  Dialback and outgoing links come next.
 */
#ifndef PARLEY_S2S_S2S_H
#define PARLEY_S2S_S2S_H

#include <stdbool.h>

struct config;
struct shard;
struct service_ops;
struct tls_client_auth_config;

/* ---- for the admin operations (issue 9), on the worker's thread ---- */

#include <jansson.h>

/* One object per live s2s stream of this worker appended to `arr`. */
void s2s_admin_links(struct shard *sh, json_t *arr);
/* This worker's report on `domain` (a new object), or NULL when it has
 * none. */
json_t *s2s_admin_report(struct shard *sh, const char *domain);
/* Closes this worker's streams with `domain`; how many. */
unsigned s2s_admin_close(struct shard *sh, const char *domain);
/* Adds this worker's s2s connections and links (by direction, state and
 * method, as s2s_admin_links shows them) to a scrape's sample
 * (core/metrics.h, s2s/metrics.c). */
struct metrics_sample;
void s2s_metrics(struct shard *sh, struct metrics_sample *out);
/* A connection a port shared by several kinds of stream accepted (mux/):
 * TLS is established and ALPN said xmpp-server, or the first bytes named
 * jabber:server; `data` is what it read after the handshake.  The stream
 * takes the conn over (its handler and owner). */
struct conn;
void s2s_in_adopt(struct shard *sh, struct conn *c, const char *data, size_t len);
struct server;
/* The s2s policy settings in force (reloaded on SIGHUP): allow, deny,
 * peers and the switches.  Any thread. */
json_t *s2s_admin_policy(const struct server *srv);

/* ---- checks (parleyctl check federation) ---- */

#include "s2s/report.h"

/* What a check of a remote domain found: DNS, then each target. */
struct s2s_probe_result {
	char domain[256], local[256];
	char policy[200];           /* the policy row that applies */
	char dns[900];              /* every query and its answer */
	enum s2s_code dns_code;     /* S2S_CODE_NONE, S2S_DNS_NO_SRV (fallback) or the failure */
	bool srv;
	enum s2s_code code;         /* when it ended before any target (DNS, policy) */
	char text[600];
	size_t n;
	struct s2s_attempt *targets; /* n: what happened at each target */
	char (*where)[320];         /* n: "ip:port (host, STARTTLS)" */
};
typedef void s2s_probe_cb(void *ud, const struct s2s_probe_result *r);
/* Connects to every target of `remote` in turn, as an outgoing link of
 * `local` would, through TLS and authentication (SASL EXTERNAL or dialback,
 * as the policy allows), stopping before any stanza (features_only: after
 * the features that follow TLS, without authenticating); `cb` gets what
 * happened, once, on the worker's thread. */
void s2s_probe(struct shard *sh, const char *local, const char *remote, bool features_only, s2s_probe_cb *cb,
	       void *ud);

/* s2s as a service of the server (router/service.h). */
extern const struct service_ops s2s_service;

/* Opens this worker's s2s listeners (s2s.listen x s2s.port, s2s.tls_port).
 * -1 with *err (heap).  Runs on the main thread before the worker's. */
int s2s_listen(struct shard *sh, char **err);
/* Stops listening and ends this worker's s2s streams with
 * <system-shutdown/>. */
void s2s_shutdown(struct shard *sh);

/* The s2s.* trust settings (s2s.ca, s2s.verify_depth) as the
 * configuration of the s2s trust store (tls/tls.h): certificates are asked
 * for whenever the store holds a CA, never required at the TLS layer (the
 * stream decides: EXTERNAL is offered only to a verified one).  The
 * strings point into `cfg`. */
void s2s_trust_config(const struct config *cfg, struct tls_client_auth_config *out);

#endif
