/*
 * parleyd: the server process.  Reads the configuration, loads the TLS
 * certificates, opens one database handle and one set of listeners per
 * worker, starts the workers and waits for a signal to stop.  The list of
 * modules that make up the server is the list of setup calls below and the
 * table of services that listen (`services`).
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "bosh/bosh.h"
#include "c2s/c2s.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/worker.h"
#include "http/http.h"
#include "im/im.h"
#include "mux/mux.h"
#include "admin/admin.h"
#include "adminapi/adminapi.h"
#include "s2s/s2s.h"
#include "router/shard.h"
#include "server/expiry.h"
#include "server/services.h"
#include "store/store.h"
#include "tls/tls.h"

enum { CHECKPOINT_MS = 30000, EXPIRY_CHECK_MS = 24 * 3600 * 1000 };

static void usage(FILE *out)
{
	fprintf(out,
		"usage: parleyd [-c FILE] [--check-config] [--print-config]\n"
		"  -c, --config FILE   configuration file (default: ./parley.conf)\n"
		"  --check-config      validate the configuration and certificates, then exit\n"
		"  --print-config      print the effective configuration, then exit\n"
		"  --version           print the version\n"
		"Create a configuration with: parleyctl init DIR --domain example.org\n");
}

/* ---- TLS ---- */

static struct tls_server *load_tls(const struct config *cfg, char **err)
{
	struct tls_host *hosts = tls_hosts_from_config(cfg);
	struct tls_server_config tc = {.hosts = hosts, .nhosts = cfg->nhosts};
	struct tls_server *t = tls_server_new(&tc, err);
	free(hosts);
	return t;
}

/* Same files, read again: replaced certificates apply to new connections. */
static int reload_tls(const struct config *cfg, struct tls_server *tls, char **err)
{
	struct tls_host *hosts = tls_hosts_from_config(cfg);
	struct tls_server_config tc = {.hosts = hosts, .nhosts = cfg->nhosts};
	int rc = tls_server_reload(tls, &tc, err);
	free(hosts);
	return rc;
}

/* ---- workers ---- */

/* The services every worker runs: they start in this order and stop in
 * the reverse order (server/services.h). */
static const struct service_ops *const services[] = {
	&c2s_service,
	&s2s_service,
	&bosh_service, /* BOSH sessions (their routes are http's) */
	&http_service,
	&adminapi_service, /* the admin API's routes and sign-in, served by http */
	&mux_service, /* one port for all: hands connections to c2s, s2s and http */
	&admin_service, /* last: the socket is taken once the rest is set up */
	NULL,
};

static void shard_stop(struct worker *w)
{
	services_stop(services, shard_of(w));
}

/* ---- WAL checkpoints, off the workers' loops ---- */

struct checkpointer {
	uv_timer_t timer;
	uv_work_t work;
	struct store *store;
	bool busy;
};

static void checkpoint_work(uv_work_t *w)
{
	struct checkpointer *cp = w->data;
	if (store_checkpoint(cp->store) != STORE_OK)
		log_warn("store", "WAL checkpoint failed: %s", store_error(cp->store));
}

static void checkpoint_done(uv_work_t *w, int status)
{
	struct checkpointer *cp = w->data;
	(void)status;
	cp->busy = false;
}

static void checkpoint_tick(uv_timer_t *t)
{
	struct checkpointer *cp = t->data;
	if (cp->busy)
		return;
	cp->busy = true;
	cp->work.data = cp;
	uv_queue_work(t->loop, &cp->work, checkpoint_work, checkpoint_done);
}

/* ---- signals ---- */

enum { SHUTDOWN_POLL_MS = 50, SHUTDOWN_MAX_MS = 10000 };

struct main_ctx {
	struct server *srv;
	uv_signal_t sigint, sigterm, sighup;
	uv_timer_t shutdown;
	uint64_t shutdown_started;
	unsigned quiet_ticks;
	struct checkpointer cp;
	uv_timer_t expiry;
	bool stopping;
};

static void close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Phase 2 of stopping: once no worker has connections or queued posts
 * (twice in a row, since one worker's last sessions post to another), or
 * after SHUTDOWN_MAX_MS, the workers close their handles. */
static void shutdown_tick(uv_timer_t *t)
{
	struct main_ctx *m = t->data;
	bool quiet = true;
	for (unsigned i = 0; i < m->srv->nworkers; i++)
		quiet &= worker_quiescent(&m->srv->workers[i]);
	m->quiet_ticks = quiet ? m->quiet_ticks + 1 : 0;
	bool late = uv_now(t->loop) - m->shutdown_started > SHUTDOWN_MAX_MS;
	if (m->quiet_ticks < 2 && !late)
		return;
	if (late)
		log_warn("server", "connections still open after %d s; closing them", SHUTDOWN_MAX_MS / 1000);
	for (unsigned i = 0; i < m->srv->nworkers; i++)
		worker_halt(&m->srv->workers[i]);
	uv_walk(t->loop, close_walk, NULL);
}

static void log_client_auth(const char *what, struct tls_client_auth *ca)
{
	struct tls_client_auth_info info;
	tls_client_auth_info(ca, &info);
	log_info("server", "%s client certificate trust store (generation %u): %zu CA certificate%s, %zu CRL%s; %s",
		 what, info.generation, info.ncas, info.ncas == 1 ? "" : "s", info.ncrls, info.ncrls == 1 ? "" : "s",
		 info.requests ? "clients are asked for certificates"
			       : "clients are not asked for certificates (c2s.client_certs off or no trusted CA)");
}

static void log_s2s_trust(const char *what, struct tls_client_auth *ca, const struct config *cfg)
{
	struct tls_client_auth_info info;
	tls_client_auth_info(ca, &info);
	log_info("server", "%s s2s trust store %s (generation %u): %zu CA certificate%s; %s", what,
		 cfg->s2s.ca ? cfg->s2s.ca : "(none)", info.generation, info.ncas, info.ncas == 1 ? "" : "s",
		 info.requests ? "peer servers are asked for certificates (SASL EXTERNAL for those that verify)"
			       : "peer servers are not asked for certificates: no trusted CA in s2s.ca "
				 "(parleyctl trust add --store s2s), so SASL EXTERNAL is never offered");
}

static void check_expiry(const struct server *srv)
{
	const struct expiry_sources src = {
		.hosts = srv->tls,
		.client_ca = srv->client_auth,
		.client_ca_path = srv->cfg->c2s.client_ca,
		.s2s_ca = srv->s2s_trust,
		.s2s_ca_path = srv->cfg->s2s.ca,
	};
	expiry_log(&src, (long long)time(NULL));
}

static void expiry_tick(uv_timer_t *t)
{
	struct main_ctx *m = t->data;
	check_expiry(m->srv);
}

/*
 * SIGHUP, or op server.reload after the admin API changed a trust store:
 * certificates replaced (renewed host certificates, parleyctl trust
 * add|remove).  Each set is reloaded on its own: one that fails keeps its
 * previous generation and does not hold back the others.  New connections
 * use the new generations; open ones keep theirs.  Returns how many sets
 * failed.
 */
static int reload_all(struct server *srv, const char *cause)
{
	const struct config *cfg = srv->cfg;
	struct tls_client_auth_config tc;
	char *err = NULL;
	int failed = 0;
	if (reload_tls(cfg, srv->tls, &err) < 0) {
		log_error("server", "%s: cannot reload the host certificates: %s; keeping the previous ones "
				    "(hosts in %s)",
			  cause, err, cfg->path);
		free(err);
		err = NULL;
		failed++;
	} else {
		log_info("server", "%s: reloaded the host certificates (generation %u) of %zu host%s", cause,
			 tls_server_generation(srv->tls), cfg->nhosts, cfg->nhosts == 1 ? "" : "s");
	}
	char what[160];
	snprintf(what, sizeof(what), "%s: reloaded the", cause);
	tls_client_auth_config_c2s(cfg, &tc);
	if (tls_client_auth_reload(srv->client_auth, &tc, &err) < 0) {
		log_error("server", "%s: cannot reload the client trust store: %s; keeping the previous one", cause,
			  err);
		free(err);
		err = NULL;
		failed++;
	} else {
		log_client_auth(what, srv->client_auth);
	}
	s2s_trust_config(cfg, &tc);
	if (tls_client_auth_reload(srv->s2s_trust, &tc, &err) < 0) {
		log_error("server", "%s: cannot reload the s2s trust store: %s; keeping the previous one", cause, err);
		free(err);
		failed++;
	} else {
		log_s2s_trust(what, srv->s2s_trust, cfg);
	}
	services_reload(services, srv);
	check_expiry(srv);
	return failed;
}

static void on_reload(uv_signal_t *h, int signum)
{
	(void)signum;
	struct main_ctx *m = h->data;
	reload_all(m->srv, "SIGHUP");
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct main_ctx *m = h->data;
	if (m->stopping)
		return;
	m->stopping = true;
	log_info("server", "received %s: stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
	for (unsigned i = 0; i < m->srv->nworkers; i++)
		worker_stop(&m->srv->workers[i]);
	uv_timer_stop(&m->cp.timer);
	uv_timer_stop(&m->expiry);
	m->shutdown_started = uv_now(h->loop);
	uv_timer_start(&m->shutdown, shutdown_tick, SHUTDOWN_POLL_MS, SHUTDOWN_POLL_MS);
}

int main(int argc, char **argv)
{
	const char *path = "parley.conf";
	bool check = false, print = false;
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'C'},
		{"print-config", no_argument, NULL, 'P'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'P':
			print = true;
			break;
		case 'V':
			printf("parleyd %s\n", PARLEY_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	/* Buffers of 16 KiB and more (TLS records) come from mmap: an idle
	 * connection's released buffers go back to the system at once instead
	 * of leaving holes in the heap that keep its pages resident. */
	mallopt(M_MMAP_THRESHOLD, 16 * 1024);
	hash_seed();
	struct config cfg;
	char *err = NULL;
	if (config_load(path, &cfg, &err) < 0) {
		fprintf(stderr, "parleyd: %s\n", err);
		free(err);
		return 2;
	}
	if (print) {
		config_print(stdout, &cfg, "effective configuration of parleyd");
		config_free(&cfg);
		return 0;
	}
	struct tls_server *tls = load_tls(&cfg, &err);
	if (!tls) {
		fprintf(stderr, "parleyd: %s: %s\n", cfg.path, err);
		free(err);
		config_free(&cfg);
		return check ? 2 : 1;
	}
	if (check) {
		printf("%s: OK (%zu host%s, %u worker%s)\n", cfg.path, cfg.nhosts, cfg.nhosts == 1 ? "" : "s",
		       cfg.workers, cfg.workers == 1 ? "" : "s");
		tls_server_free(tls);
		config_free(&cfg);
		return 0;
	}
	log_setup((enum log_level)cfg.log_level, 2);
	im_setup();

	struct tls_client_auth_config cac;
	tls_client_auth_config_c2s(&cfg, &cac);
	struct tls_client_auth *client_auth = tls_client_auth_new(&cac, &err);
	if (!client_auth) {
		log_error("server", "client certificate trust store: %s; check c2s.client_ca and c2s.crl_file in %s",
			  err, cfg.path);
		free(err);
		tls_server_free(tls);
		config_free(&cfg);
		return 1;
	}
	log_client_auth("loaded the", client_auth);
	struct tls_client_auth_config sac;
	s2s_trust_config(&cfg, &sac);
	struct tls_client_auth *s2s_trust = tls_client_auth_new(&sac, &err);
	if (!s2s_trust) {
		log_error("server", "s2s trust store: %s; check s2s.ca in %s", err, cfg.path);
		free(err);
		tls_client_auth_free(client_auth);
		tls_server_free(tls);
		config_free(&cfg);
		return 1;
	}
	log_s2s_trust("loaded the", s2s_trust, &cfg);
	struct server srv = {.cfg = &cfg,
			     .services = services,
			     .nworkers = cfg.workers,
			     .tls = tls,
			     .client_auth = client_auth,
			     .s2s_trust = s2s_trust};
	int rc = 1;
	admin_set_reload(reload_all);
	const struct service_ops *failed_setup = services_setup(services, &srv, &err);
	if (failed_setup) {
		log_error("server", "%s: %s", failed_setup->name, err);
		free(err);
		services_teardown(services, &srv);
		tls_client_auth_free(s2s_trust);
		tls_client_auth_free(client_auth);
		tls_server_free(tls);
		config_free(&cfg);
		return 1;
	}
	srv.workers = xcalloc(cfg.workers, sizeof(struct worker));
	srv.shards = xcalloc(cfg.workers, sizeof(struct shard *));
	unsigned made = 0;    /* workers initialised (each with a shard) */
	unsigned started = 0; /* workers whose services all listen */
	struct main_ctx m = {.srv = &srv};
	for (; made < cfg.workers; made++) {
		struct worker *w = &srv.workers[made];
		worker_init(w, made, cfg.inbox_max);
		struct shard *sh = xcalloc(1, sizeof(*sh));
		sh->srv = &srv;
		sh->w = w;
		list_init(&sh->streams);
		list_init(&sh->s2s_streams);
		list_init(&sh->s2s_out);
		srv.shards[made] = sh;
		w->ctx = sh;
		w->on_stop = shard_stop;
		sh->store = store_open(cfg.database, &err);
		if (!sh->store) {
			log_error("server", "cannot open the database %s: %s", cfg.database, err);
			made++;
			goto fail;
		}
		const struct service_ops *failed = services_listen(services, sh, &err);
		if (failed) {
			log_error("server", "%s; check %s in %s", err, failed->settings, cfg.path);
			made++;
			goto fail;
		}
		started++;
	}

	uv_loop_t *loop = uv_default_loop();
	m.cp.store = store_open(cfg.database, &err);
	if (!m.cp.store) {
		log_error("server", "cannot open the database %s: %s", cfg.database, err);
		goto fail;
	}
	uv_timer_init(loop, &m.cp.timer);
	m.cp.timer.data = &m.cp;
	uv_timer_start(&m.cp.timer, checkpoint_tick, CHECKPOINT_MS, CHECKPOINT_MS);
	uv_timer_init(loop, &m.expiry);
	m.expiry.data = &m;
	uv_timer_start(&m.expiry, expiry_tick, EXPIRY_CHECK_MS, EXPIRY_CHECK_MS);
	uv_timer_init(loop, &m.shutdown);
	m.shutdown.data = &m;
	uv_signal_init(loop, &m.sigint);
	uv_signal_init(loop, &m.sigterm);
	uv_signal_init(loop, &m.sighup);
	m.sigint.data = m.sigterm.data = m.sighup.data = &m;
	uv_signal_start(&m.sigint, on_signal, SIGINT);
	uv_signal_start(&m.sigterm, on_signal, SIGTERM);
	uv_signal_start(&m.sighup, on_reload, SIGHUP);

	for (unsigned i = 0; i < cfg.workers; i++)
		if (worker_start(&srv.workers[i]) != 0)
			log_fatal("server", "cannot start worker thread %u", i);
	struct buf hosts = BUF_INIT, listening = BUF_INIT;
	for (size_t i = 0; i < cfg.nhosts; i++)
		buf_printf(&hosts, "%s%s", i ? ", " : "", cfg.hosts[i].domain);
	services_describe(services, &srv, &listening);
	log_info("server", "parleyd %s started: %u worker%s, hosts %s%s%s; database %s", PARLEY_VERSION, cfg.workers,
		 cfg.workers == 1 ? "" : "s", buf_cstr(&hosts), listening.len ? "; " : "", buf_cstr(&listening),
		 cfg.database);
	buf_clear(&hosts);
	buf_clear(&listening);
	check_expiry(&srv);

	uv_run(loop, UV_RUN_DEFAULT);
	for (unsigned i = 0; i < cfg.workers; i++)
		worker_join(&srv.workers[i]);
	uv_loop_close(loop);
	log_info("server", "stopped");
	rc = 0;
	goto cleanup;

fail:
	free(err);
	/* Nothing ran yet: close what was opened, on this thread (a worker
	 * whose services failed to listen has already stopped them). */
	for (unsigned i = 0; i < made; i++) {
		if (i < started)
			services_stop(services, srv.shards[i]);
		worker_discard(&srv.workers[i]);
	}
cleanup:
	store_close(m.cp.store);
	for (unsigned i = 0; i < made; i++) {
		store_close(srv.shards[i]->store);
		free(srv.shards[i]->user_buckets);
		free(srv.shards[i]);
	}
	free(srv.shards);
	free(srv.workers);
	services_teardown(services, &srv);
	tls_client_auth_free(client_auth);
	tls_client_auth_free(s2s_trust);
	tls_server_free(tls);
	config_free(&cfg);
	arena_cache_drain();
	return rc;
}
