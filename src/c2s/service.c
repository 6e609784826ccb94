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
	buf_printf(out, "%zu stream%s, %u listener%s", n, n == 1 ? "" : "s", sh->nlisteners,
		   sh->nlisteners == 1 ? "" : "s");
}

static void c2s_describe(const struct server *srv, struct buf *out)
{
	const struct config *cfg = srv->cfg;
	buf_append_str(out, "clients on ");
	size_t first = out->len;
	for (size_t i = 0; i < cfg->c2s.listen.n; i++) {
		const char *ip = cfg->c2s.listen.items[i];
		if (cfg->c2s.port)
			buf_printf(out, "%s%s:%u (STARTTLS)", out->len > first ? ", " : "", ip, cfg->c2s.port);
		if (cfg->c2s.tls_port)
			buf_printf(out, "%s%s:%u (direct TLS)", out->len > first ? ", " : "", ip, cfg->c2s.tls_port);
	}
}

const struct service_ops c2s_service = {
	.name = "c2s",
	.settings = "c2s.listen, c2s.port and c2s.tls_port",
	.listen = c2s_listen,
	.stop = c2s_shutdown,
	.stats = c2s_stats,
	.describe = c2s_describe,
};
