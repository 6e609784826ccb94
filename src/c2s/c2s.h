/*
 * c2s: client-to-server streams (RFC 6120): listeners on the STARTTLS and
 * direct-TLS ports, stream negotiation, STARTTLS, SASL, resource binding,
 * and the session a bound stream becomes.  Stanzas from a bound session go
 * to the router; what they mean is im/'s business.
 */
#ifndef PARLEY_C2S_C2S_H
#define PARLEY_C2S_C2S_H

struct shard;
struct service_ops;

/* c2s as a service of the server (router/service.h): listen is
 * c2s_listen, stop is c2s_shutdown (c2s/service.c). */
extern const struct service_ops c2s_service;

/* Opens this worker's listeners for every c2s address and port (each
 * worker binds its own socket, SO_REUSEPORT).  -1 with *err (heap). */
int c2s_listen(struct shard *sh, char **err);
/* Stops listening and ends every stream of this worker with
 * <system-shutdown/>. */
void c2s_shutdown(struct shard *sh);
/* The client ports: STARTTLS (c2s.port) and direct TLS (c2s.tls_port). */
struct config;
struct listener_port;
void c2s_ports(const struct config *cfg, struct listener_port *ports);
/* Adds this worker's client connections, by kind, to a scrape's sample
 * (core/metrics.h).  On the worker's thread. */
struct metrics_sample;
void c2s_metrics(struct shard *sh, struct metrics_sample *out);

#endif
