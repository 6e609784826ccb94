/*
 * service: the admin API's process-wide part as a service of parleyd.
 * Its setup (main thread, before the workers start) installs the
 * authentication hook, sets up the session table and makes the bridge to
 * the admin operations on the main loop; its teardown undoes that after
 * the workers ended.  It listens on nothing: the http service does, and
 * serves this module's routes from http/routes.c.
 */
#include "adminapi/internal.h"

#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/worker.h"
#include "router/service.h"
#include "router/shard.h"

static struct adminapi_state *state;

const struct adminapi_state *adminapi_state(void)
{
	return state;
}

struct worker *aa_worker(const struct http_request *req)
{
	return conn_worker(http_request_conn(req));
}

struct shard *aa_shard(const struct http_request *req)
{
	return shard_of(aa_worker(req));
}

static int adminapi_setup(struct server *srv, char **err)
{
	(void)err;
	state = xcalloc(1, sizeof(*state));
	state->srv = srv;
	state->cfg = srv->cfg;
	aa_sessions_setup(srv->cfg->http.admin_session_timeout);
	/* Without a listener there is nothing to serve: no hook, no bridge. */
	if (!srv->cfg->http.admin_port && !srv->cfg->http.admin_plain_port)
		return 0;
	state->bridge = admin_bridge_new(srv, uv_default_loop());
	http_auth_set(&adminapi_auth);
	return 0;
}

static void adminapi_teardown(struct server *srv)
{
	(void)srv;
	if (!state)
		return;
	http_auth_set(NULL);
	admin_bridge_free(state->bridge);
	aa_sessions_clear();
	aa_store_pool_clear();
	free(state);
	state = NULL;
}

static int adminapi_listen(struct shard *sh, char **err)
{
	(void)sh;
	(void)err;
	return 0;
}

static void adminapi_stop(struct shard *sh)
{
	(void)sh;
}

static void adminapi_describe(const struct server *srv, struct buf *out)
{
	const struct config *cfg = srv->cfg;
	if (!cfg->http.admin_port) {
		buf_append_str(out, "web admin page off (http.admin_port = 0)");
		return;
	}
	buf_printf(out, "web admin page https://%s%s%s:%u/admin/ (%zu administrator%s)",
		   strchr(cfg->http.admin_listen.items[0], ':') ? "[" : "", cfg->http.admin_listen.items[0],
		   strchr(cfg->http.admin_listen.items[0], ':') ? "]" : "", cfg->http.admin_port, cfg->admins.n,
		   cfg->admins.n == 1 ? "" : "s");
}

const struct service_ops adminapi_service = {
	.name = "adminapi",
	.settings = "http.admin_port and admins",
	.setup = adminapi_setup,
	.teardown = adminapi_teardown,
	.listen = adminapi_listen,
	.stop = adminapi_stop,
	.describe = adminapi_describe,
};
