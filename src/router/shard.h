/*
 * shard: what the server keeps per worker (DESIGN.md: shared-nothing), and
 * the read-only facts shared by all workers.  A worker's `ctx` points at its
 * shard.  Every mutable field here is touched only by that worker's thread.
 */
#ifndef PARLEY_ROUTER_SHARD_H
#define PARLEY_ROUTER_SHARD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/list.h"
#include "core/listener.h"
#include "core/worker.h"

struct store;
struct tls_server;
struct tls_client_auth;
struct remote_table;
struct user;
struct dns_resolver;
struct s2s_global;
struct s2s_reports;

/* Process-wide and read-only after start-up. */
struct server {
	const struct config *cfg;
	unsigned nworkers;
	struct worker *workers;   /* array of nworkers */
	struct shard **shards;    /* shards[i]->w == &workers[i] */
	struct tls_server *tls;   /* c2s certificates */
	struct tls_client_auth *client_auth; /* c2s client certificates (reloadable) */
	struct tls_client_auth *s2s_trust;   /* peer server CAs, s2s.ca (reloadable) */
	struct s2s_global *s2s;   /* s2s's process-wide state (s2s/service.c) */
	/* The table of services (router/service.h), NULL-terminated; NULL
	 * outside parleyd (unit tests).  Read-only. */
	const struct service_ops *const *services;
};

/* Per worker. */
struct shard {
	struct server *srv;
	struct worker *w;
	struct store *store;     /* this thread's database handle */

	/* users with at least one bound session on this worker, by bare JID
	 * (router/user.c); a bare JID is only ever here on its owner worker */
	struct user **user_buckets;
	size_t user_nbuckets;
	size_t nusers;

	/* links to other domains owned here (router/remote.c), made on the
	 * first stanza for one */
	struct remote_table *remote;

	struct list streams;     /* c2s streams on this worker (for shutdown) */
	struct listener_set listeners; /* c2s */
	struct list s2s_streams; /* incoming server streams (s2s/in.c) */
	struct listener_set s2s_listeners;
	struct listener_set mux_listeners; /* the shared port (mux/) */
	struct list s2s_out;     /* outgoing server streams (s2s/out.c) */
	struct dns_resolver *dns; /* made on the first outgoing link */
	struct s2s_reports *s2s_reports; /* last attempt per remote domain (s2s/report.c) */
};

static inline struct shard *shard_of(struct worker *w)
{
	return w->ctx;
}

/* The worker that owns a bare JID (hash of the bare JID mod N). */
unsigned server_owner(const struct server *srv, const char *bare);
/* True when `domain` is one of our virtual hosts. */
bool server_is_local(const struct server *srv, const char *domain);

#endif
