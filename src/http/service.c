/*
 * http as a registered service (router/service.h): the route tables are
 * checked once at setup (a bad table stops the server) and sorted by the
 * listener that serves them, with the paths the configuration chooses
 * filled in; each worker binds its own listeners (SO_REUSEPORT, like
 * c2s): the admin listener and the public web listener, each on its own
 * addresses, and keeps its connections.
 *
 * The per-worker state lives here, not in the shard: it is made at setup
 * for the configured number of workers and indexed by worker id, so
 * router/ needs to know nothing of HTTP.  Each worker also has two loop
 * handles that resume connections paused on queued output: a check handle
 * that runs after every poll (when a writable socket drained), and an idle
 * handle held for one iteration after a pause, so that output written all
 * at once by the flush before the poll is noticed without waiting for the
 * next event.
 */
#include "http/internal.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/metrics.h"
#include "core/worker.h"
#include "router/service.h"
#include "router/shard.h"

/* Process-wide: made by setup, freed by teardown (main thread); each
 * worker touches only its own entry. */
struct http_global {
	struct http_worker *workers;
	unsigned n;
	/* Copies of the route tables with the configured paths filled in,
	 * and per listener the NULL-terminated list of those it serves. */
	struct http_route_table *tables;
	size_t ntables;
	/* Per set of listeners (a mask of HTTP_LISTENER_* bits: a shared port
	 * may serve several), the NULL-terminated list of tables it serves. */
	const struct http_route_table **by_mask[1u << HTTP_LISTENER_COUNT];
};

static struct http_global *http_g;

static const struct http_port port_admin_tls = {true, HTTP_LISTENER_ADMIN};
static const struct http_port port_admin_plain = {false, HTTP_LISTENER_ADMIN};
static const struct http_port port_web_tls = {true, HTTP_LISTENER_WEB};

static void http_admin_ports(const struct config *cfg, struct listener_port *ports)
{
	ports[0] = (struct listener_port){cfg->http.admin_port, "HTTPS", (void *)&port_admin_tls};
	ports[1] = (struct listener_port){cfg->http.admin_plain_port, "plain HTTP", (void *)&port_admin_plain};
}

static void http_web_ports(const struct config *cfg, struct listener_port *ports)
{
	ports[0] = (struct listener_port){cfg->http.web_port, "HTTPS", (void *)&port_web_tls};
}

struct http_worker *http_worker_of(struct worker *w)
{
	return &http_g->workers[w->id];
}

const struct http_route_table *const *http_tables_for(unsigned listeners)
{
	return http_g->by_mask[listeners & ((1u << HTTP_LISTENER_COUNT) - 1)];
}

/* ---- route tables ---- */

/* The tables as served: configured paths filled in (rows whose setting is
 * empty left out), checked, and sorted by listener. */
static int tables_resolve(const struct config *cfg, char **err)
{
	size_t n = 0;
	while (http_route_tables[n])
		n++;
	http_g->ntables = n;
	http_g->tables = xcalloc(n + 1, sizeof(*http_g->tables));
	const struct http_route_table **all = xcalloc(n + 1, sizeof(*all));
	for (size_t i = 0; i < n; i++) {
		const struct http_route_table *src = http_route_tables[i];
		struct http_route *rows = xcalloc(src->n + 1, sizeof(*rows));
		size_t k = 0;
		for (size_t j = 0; j < src->n; j++) {
			struct http_route r = src->routes[j];
			if (r.path_of) {
				r.path = r.path_of(cfg);
				if (!r.path)
					continue;
			}
			rows[k++] = r;
		}
		http_g->tables[i] = (struct http_route_table){src->name, rows, k, src->listeners};
		all[i] = &http_g->tables[i];
	}
	int rc = http_routes_check(all, err);
	free(all);
	if (rc < 0)
		return -1;
	for (unsigned m = 0; m < (1u << HTTP_LISTENER_COUNT); m++) {
		const struct http_route_table **list = xcalloc(n + 1, sizeof(*list));
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (http_g->tables[i].listeners & m)
				list[k++] = &http_g->tables[i];
		http_g->by_mask[m] = list;
	}
	return 0;
}

/* ---- output drain ---- */

static void drain_cb(uv_check_t *h)
{
	struct http_worker *hw = h->data;
	size_t mark = http_pause_mark(hw->srv->cfg);
	list_for_each_safe(pos, &hw->waiting)
	{
		struct http_conn *hc = list_entry(pos, struct http_conn, wait_link);
		if (conn_outq_bytes(hc->c) < mark)
			http_conn_drained(hc);
	}
	if (hw->nudged && --hw->nudged == 0)
		uv_idle_stop(&hw->nudge);
	if (list_empty(&hw->waiting))
		uv_check_stop(&hw->drain);
}

static void nudge_cb(uv_idle_t *h)
{
	/* Nothing: an active idle handle makes the next poll not block. */
	(void)h;
}

void http_worker_wait(struct http_worker *hw, struct http_conn *hc)
{
	if (!list_linked(&hc->wait_link)) {
		list_insert_tail(&hw->waiting, &hc->wait_link);
		hc->wait_since_ms = worker_now(hw->w);
	}
	uv_check_start(&hw->drain, drain_cb);
	/* Two checks: the one after this poll (output not flushed yet) and
	 * the one after the next, which the flush before it may have
	 * drained. */
	if (!hw->nudged)
		uv_idle_start(&hw->nudge, nudge_cb);
	hw->nudged = 2;
}

/* ---- the service ---- */

static int http_setup(struct server *srv, char **err)
{
	if (http_routes_check(http_route_tables, err) < 0)
		return -1;
	http_g = xcalloc(1, sizeof(*http_g));
	http_g->n = srv->cfg->workers;
	http_g->workers = xcalloc(http_g->n, sizeof(*http_g->workers));
	/* A failure here is cleaned up by teardown, which runs after a
	 * failed setup too. */
	return tables_resolve(srv->cfg, err);
}

static void http_teardown(struct server *srv)
{
	(void)srv;
	if (!http_g)
		return;
	for (size_t i = 0; i < http_g->ntables; i++)
		free((void *)http_g->tables[i].routes);
	free(http_g->tables);
	for (unsigned m = 0; m < (1u << HTTP_LISTENER_COUNT); m++)
		free(http_g->by_mask[m]);
	free(http_g->workers);
	free(http_g);
	http_g = NULL;
}

static int http_listen(struct shard *sh, char **err)
{
	const struct config *cfg = sh->srv->cfg;
	struct http_worker *hw = http_worker_of(sh->w);
	hw->srv = sh->srv;
	hw->w = sh->w;
	list_init(&hw->conns);
	list_init(&hw->waiting);
	uv_check_init(&sh->w->loop, &hw->drain);
	uv_idle_init(&sh->w->loop, &hw->nudge);
	hw->drain.data = hw;
	hw->nudge.data = hw;
	uv_unref((uv_handle_t *)&hw->drain);
	uv_unref((uv_handle_t *)&hw->nudge);
	hw->handles = true;
	struct listener_port ports[2];
	http_admin_ports(cfg, ports);
	if (listener_set_open(&hw->listeners, sh->w, &cfg->http.admin_listen, ports, 2, (int)cfg->http.backlog,
			      http_conn_accept, "http", err) < 0)
		return -1;
	http_web_ports(cfg, ports);
	return listener_set_open(&hw->web_listeners, sh->w, &cfg->http.web_listen, ports, 1, (int)cfg->http.backlog,
				 http_conn_accept, "http (web)", err);
}

static void http_stop(struct shard *sh)
{
	if (!http_g)
		return;
	struct http_worker *hw = http_worker_of(sh->w);
	if (!hw->w)
		return;
	listener_set_close(&hw->listeners);
	listener_set_close(&hw->web_listeners);
	list_for_each_safe(pos, &hw->conns)
	{
		struct http_conn *hc = list_entry(pos, struct http_conn, link);
		http_conn_stop(hc);
	}
	if (hw->handles) {
		uv_check_stop(&hw->drain);
		uv_idle_stop(&hw->nudge);
		hw->nudged = 0;
	}
}

/* Connections reading or answering requests (an upgraded one counts as
 * its new kind). */
static void http_gauges(struct shard *sh, struct metrics_sample *out)
{
	struct http_worker *hw = http_worker_of(sh->w);
	list_for_each(pos, &hw->conns)
		out->conns[METRIC_CONN_HTTP]++;
}

static void http_stats(struct shard *sh, struct buf *out)
{
	struct http_worker *hw = http_worker_of(sh->w);
	size_t n = 0;
	list_for_each(pos, &hw->conns)
		n++;
	buf_printf(out, "%zu connection%s, %u listener%s, %llu request%s, %llu refused", n, n == 1 ? "" : "s",
		   hw->listeners.n + hw->web_listeners.n, hw->listeners.n + hw->web_listeners.n == 1 ? "" : "s",
		   (unsigned long long)hw->requests,
		   hw->requests == 1 ? "" : "s", (unsigned long long)hw->refused);
}

static void http_describe(const struct server *srv, struct buf *out)
{
	const struct config *cfg = srv->cfg;
	struct listener_port ports[2];
	if (!cfg->http.admin_port && !cfg->http.admin_plain_port) {
		buf_append_str(out, "admin API over HTTP off (http.admin_port = 0)");
	} else {
		http_admin_ports(cfg, ports);
		buf_append_str(out, "admin API on ");
		listener_set_describe(out, &cfg->http.admin_listen, ports, 2);
	}
	if (!cfg->http.web_port) {
		buf_append_str(out, "; web clients off (http.web_port = 0)");
		return;
	}
	http_web_ports(cfg, ports);
	buf_append_str(out, "; web clients on ");
	listener_set_describe(out, &cfg->http.web_listen, ports, 1);
	if (cfg->http.websocket_path)
		buf_printf(out, ", WebSocket at %s", cfg->http.websocket_path);
}

const struct service_ops http_service = {
	.name = "http",
	.settings = "http.admin_listen, http.admin_port, http.admin_plain_port, http.web_listen and http.web_port",
	.setup = http_setup,
	.teardown = http_teardown,
	.listen = http_listen,
	.stop = http_stop,
	.stats = http_stats,
	.describe = http_describe,
	.gauges = http_gauges,
};
