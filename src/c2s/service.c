/*
 * c2s as a registered service (router/service.h): the listeners and
 * streams of c2s/stream.c behind the table that parleyd walks.
 */
#include "c2s/c2s.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "router/service.h"
#include "router/shard.h"

static void c2s_stats(struct shard *sh, struct buf *out)
{
	size_t n = 0;
	list_for_each(pos, &sh->streams)
		n++;
	buf_printf(out, "%zu stream%s, %u listener%s", n, n == 1 ? "" : "s", sh->listeners.n,
		   sh->listeners.n == 1 ? "" : "s");
}

static void c2s_describe(const struct server *srv, struct buf *out)
{
	struct listener_port ports[2];
	c2s_ports(srv->cfg, ports);
	buf_append_str(out, "clients on ");
	listener_set_describe(out, &srv->cfg->c2s.listen, ports, 2);
}

const struct service_ops c2s_service = {
	.name = "c2s",
	.settings = "c2s.listen, c2s.port and c2s.tls_port",
	.listen = c2s_listen,
	.stop = c2s_shutdown,
	.stats = c2s_stats,
	.describe = c2s_describe,
	.gauges = c2s_metrics,
};
