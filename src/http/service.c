/*
 * http as a registered service (router/service.h): the route tables are
 * checked once at setup (a bad table stops the server), each worker binds
 * its own listeners (SO_REUSEPORT, like c2s) and keeps its connections.
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
#include "core/worker.h"
#include "router/service.h"
#include "router/shard.h"

/* Process-wide: made by setup, freed by teardown (main thread); each
 * worker touches only its own entry. */
struct http_global {
	struct http_worker *workers;
	unsigned n;
};

static struct http_global *http_g;

static const struct http_port port_tls = {true};
static const struct http_port port_plain = {false};

static void http_ports(const struct config *cfg, struct listener_port *ports)
{
	ports[0] = (struct listener_port){cfg->http.admin_port, "HTTPS", (void *)&port_tls};
	ports[1] = (struct listener_port){cfg->http.admin_plain_port, "plain HTTP", (void *)&port_plain};
}

struct http_worker *http_worker_of(struct worker *w)
{
	return &http_g->workers[w->id];
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
	return 0;
}

static void http_teardown(struct server *srv)
{
	(void)srv;
	if (!http_g)
		return;
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
	hw->tables = http_route_tables;
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
	http_ports(cfg, ports);
	return listener_set_open(&hw->listeners, sh->w, &cfg->http.admin_listen, ports, 2, (int)cfg->http.backlog,
				 http_conn_accept, "http", err);
}

static void http_stop(struct shard *sh)
{
	if (!http_g)
		return;
	struct http_worker *hw = http_worker_of(sh->w);
	if (!hw->w)
		return;
	listener_set_close(&hw->listeners);
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

static void http_stats(struct shard *sh, struct buf *out)
{
	struct http_worker *hw = http_worker_of(sh->w);
	size_t n = 0;
	list_for_each(pos, &hw->conns)
		n++;
	buf_printf(out, "%zu connection%s, %u listener%s, %llu request%s, %llu refused", n, n == 1 ? "" : "s",
		   hw->listeners.n, hw->listeners.n == 1 ? "" : "s", (unsigned long long)hw->requests,
		   hw->requests == 1 ? "" : "s", (unsigned long long)hw->refused);
}

static void http_describe(const struct server *srv, struct buf *out)
{
	const struct config *cfg = srv->cfg;
	if (!cfg->http.admin_port && !cfg->http.admin_plain_port) {
		buf_append_str(out, "admin API over HTTP off (http.admin_port = 0)");
		return;
	}
	struct listener_port ports[2];
	http_ports(cfg, ports);
	buf_append_str(out, "admin API on ");
	listener_set_describe(out, &cfg->http.admin_listen, ports, 2);
}

const struct service_ops http_service = {
	.name = "http",
	.settings = "http.admin_listen, http.admin_port and http.admin_plain_port",
	.setup = http_setup,
	.teardown = http_teardown,
	.listen = http_listen,
	.stop = http_stop,
	.stats = http_stats,
	.describe = http_describe,
};
