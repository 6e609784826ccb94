/*
 * service: what a kind of listening service (c2s today; s2s and HTTP next)
 * gives the server so that it can be registered instead of being wired
 * into parleyd by hand.  A service keeps its per-worker state in the shard
 * (router/shard.h); the server runs the same table on every worker
 * (server/services.h walks it: start-up in table order, stopping in
 * reverse order).
 */
#ifndef PARLEY_ROUTER_SERVICE_H
#define PARLEY_ROUTER_SERVICE_H

struct buf;
struct metrics_sample;
struct server;
struct shard;

struct service_ops {
	/* Short name, "c2s": prefixes the service's part of the stats. */
	const char *name;
	/* Optional: process-wide state (keys, contexts) before any worker
	 * listens, kept in `srv`.  Main thread.  -1 with *err (heap). */
	int (*setup)(struct server *srv, char **err);
	/* Optional: releases what setup made, after every worker ended (also
	 * after a failed setup).  Main thread. */
	void (*teardown)(struct server *srv);
	/* The settings that decide where it listens, for the error of a
	 * failed listen: "c2s.listen, c2s.port and c2s.tls_port". */
	const char *settings;

	/* Opens this worker's listeners.  Runs on the main thread before the
	 * worker's thread starts.  -1 with *err (heap) on failure; `stop` is
	 * still called for a service whose `listen` failed, so it may leave
	 * some listeners open. */
	int (*listen)(struct shard *sh, char **err);
	/* Phase 1 of stopping (core/worker.h): stops listening and ends the
	 * service's connections on this worker.  Runs on the worker's thread
	 * (its on_stop), or on the main thread when start-up failed before
	 * the thread ran.  Must accept a partly opened or already stopped
	 * service.  Phase 2 (closing the handles once the worker is quiet) is
	 * the worker's own. */
	void (*stop)(struct shard *sh);
	/* Optional: appends what the service has on this worker ("3 streams,
	 * 2 listeners") to `out`.  Runs on the worker's thread. */
	void (*stats)(struct shard *sh, struct buf *out);
	/* Optional: reloads what the service loaded from files in its setup
	 * (its TLS client certificates), on SIGHUP, after the server's own
	 * certificates and trust stores.  Main thread, while workers run, so
	 * what it swaps must be safe to read from them meanwhile.  Logs its
	 * own outcome; a failure keeps what it had. */
	void (*reload)(struct server *srv);
	/* Optional: appends where it listens, for the start-up log line
	 * ("clients on 127.0.0.1:5222 (STARTTLS)").  Reads only the
	 * configuration; any thread. */
	void (*describe)(const struct server *srv, struct buf *out);
	/* Optional: adds this worker's connections of the service, by kind,
	 * to a metrics scrape's sample (core/metrics.h).  Worker's thread. */
	void (*gauges)(struct shard *sh, struct metrics_sample *out);
};

#endif
