/*
 * s2s: server-to-server streams (RFC 6120, XEP-0178, XEP-0220).  This
 * first part accepts incoming links on the STARTTLS and direct-TLS ports
 * and authenticates them with TLS + SASL EXTERNAL: the peer's certificate
 * must verify against the s2s trust store (s2s.ca) and name the peer's
 * domain (RFC 6125).  Dialback and outgoing links come next.
 */
#ifndef PARLEY_S2S_S2S_H
#define PARLEY_S2S_S2S_H

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
