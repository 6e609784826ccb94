/*
 * s2s as a registered service (router/service.h): the listeners for
 * incoming server streams (in.c) on s2s.port (STARTTLS) and s2s.tls_port
 * (direct TLS, ALPN xmpp-server), and the s2s trust store's settings.
 */
#include <stdio.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/listener.h"
#include "core/worker.h"
#include "router/service.h"
#include "router/shard.h"
#include "s2s/internal.h"
#include "s2s/s2s.h"
#include "tls/tls.h"

/* Per worker, by worker id (config: at most 256 workers).  Kept here
 * rather than in the shard so that s2s owns its state. */
enum { S2S_WORKERS_MAX = 256 };
static struct s2s_worker s2s_workers[S2S_WORKERS_MAX];

struct s2s_worker *s2s_worker_of(const struct shard *sh)
{
	struct s2s_worker *sw = &s2s_workers[sh->w->id % S2S_WORKERS_MAX];
	if (!sw->streams.next)
		list_init(&sw->streams);
	return sw;
}

void s2s_trust_config(const struct config *cfg, struct tls_client_auth_config *out)
{
	*out = (struct tls_client_auth_config){
		.mode = TLS_CLIENT_CERTS_WANTED,
		.ca_path = cfg->s2s.ca,
		.crl_file = NULL,
		.verify_depth = cfg->s2s.verify_depth,
		.accept_selfsigned = false,
		.disconnect_on_failure = false,
	};
}

int s2s_listen(struct shard *sh, char **err)
{
	const struct config *cfg = sh->srv->cfg;
	struct s2s_worker *sw = s2s_worker_of(sh);
	for (size_t i = 0; i < cfg->s2s.listen.n; i++) {
		const char *ip = cfg->s2s.listen.items[i];
		unsigned ports[2] = {cfg->s2s.port, cfg->s2s.tls_port};
		const struct s2s_port *kinds[2] = {&s2s_port_starttls, &s2s_port_direct};
		for (int k = 0; k < 2; k++) {
			if (!ports[k])
				continue;
			if (sw->nlisteners == sizeof(sw->listeners) / sizeof(sw->listeners[0])) {
				*err = xstrdup("too many s2s listeners");
				return -1;
			}
			struct listener *l = listener_new(sh->w, ip, ports[k], (int)cfg->c2s.backlog, sh->w->id == 0,
							  s2s_in_accept, (void *)kinds[k], err);
			if (!l)
				return -1;
			sw->listeners[sw->nlisteners++] = l;
		}
	}
	return 0;
}

void s2s_shutdown(struct shard *sh)
{
	struct s2s_worker *sw = s2s_worker_of(sh);
	for (unsigned i = 0; i < sw->nlisteners; i++)
		listener_close(sw->listeners[i]);
	sw->nlisteners = 0;
	list_for_each_safe(pos, &sw->streams)
	{
		struct s2s_in *s = list_entry(pos, struct s2s_in, link);
		xs_error(&s->xs, STREAM_ERR_SYSTEM_SHUTDOWN, "the server is stopping");
	}
}

static void s2s_stats(struct shard *sh, struct buf *out)
{
	struct s2s_worker *sw = s2s_worker_of(sh);
	size_t n = 0;
	list_for_each(pos, &sw->streams)
		n++;
	buf_printf(out, "%zu incoming link%s, %u listener%s", n, n == 1 ? "" : "s", sw->nlisteners,
		   sw->nlisteners == 1 ? "" : "s");
}

static void s2s_describe(const struct server *srv, struct buf *out)
{
	const struct config *cfg = srv->cfg;
	buf_append_str(out, "servers on ");
	size_t first = out->len;
	for (size_t i = 0; i < cfg->s2s.listen.n; i++) {
		const char *ip = cfg->s2s.listen.items[i];
		if (cfg->s2s.port)
			buf_printf(out, "%s%s:%u (STARTTLS)", out->len > first ? ", " : "", ip, cfg->s2s.port);
		if (cfg->s2s.tls_port)
			buf_printf(out, "%s%s:%u (direct TLS)", out->len > first ? ", " : "", ip, cfg->s2s.tls_port);
	}
	if (out->len == first)
		buf_append_str(out, "no port (s2s.port and s2s.tls_port are 0)");
}

const struct service_ops s2s_service = {
	.name = "s2s",
	.settings = "s2s.listen, s2s.port and s2s.tls_port",
	.listen = s2s_listen,
	.stop = s2s_shutdown,
	.stats = s2s_stats,
	.describe = s2s_describe,
};
