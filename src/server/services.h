/*
 * services: the lifecycle of a table of services (router/service.h) on one
 * worker.  A table is a NULL-terminated array; parleyd's lists the
 * services that make up the server.  Services start in table order and
 * stop in reverse order.
 */
#ifndef PARLEY_SERVER_SERVICES_H
#define PARLEY_SERVER_SERVICES_H

#include "router/service.h"

struct buf;
struct server;
struct shard;

/* Runs every service's setup, in order: NULL when all succeed, else the
 * one that failed, with *err (heap). */
const struct service_ops *services_setup(const struct service_ops *const *table, struct server *srv, char **err);
/* Every service's teardown, in reverse order. */
void services_teardown(const struct service_ops *const *table, struct server *srv);

/* Every service's reload, in table order (SIGHUP, main thread). */
void services_reload(const struct service_ops *const *table, struct server *srv);

/* Opens every service of `table` on `sh`, in order.  NULL when all
 * listen.  When one fails, stops it and those before it (reverse order)
 * and returns it, with *err (heap) from its `listen`; those after it are
 * not touched, and `sh` runs no service. */
const struct service_ops *services_listen(const struct service_ops *const *table, struct shard *sh, char **err);
/* Phase 1 of stopping `sh`: every service's `stop`, in reverse order. */
void services_stop(const struct service_ops *const *table, struct shard *sh);
/* Appends "name: stats" of every service that has stats, separated by
 * "; ".  On sh's worker thread. */
void services_stats(const struct service_ops *const *table, struct shard *sh, struct buf *out);
/* Appends the descriptions of every service that has one, separated by
 * "; ". */
void services_describe(const struct service_ops *const *table, const struct server *srv, struct buf *out);

#endif
