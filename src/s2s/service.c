/*
 * s2s as a registered service (router/service.h): the process-wide state
 * (the TLS client context with our certificates, the dialback secret) and
 * the router's remote transport (out.c), the listeners for incoming server
 * streams (in.c) on s2s.port (STARTTLS) and s2s.tls_port (direct TLS, ALPN
 * xmpp-server), and the s2s trust store's settings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/listener.h"
#include "core/worker.h"
#include "core/log.h"
#include "router/remote.h"
#include "router/service.h"
#include "router/shard.h"
#include "s2s/internal.h"
#include "s2s/report.h"
#include "s2s/s2s.h"
#include "tls/tls.h"

void s2s_trust_config(const struct config *cfg, struct tls_client_auth_config *out)
{
	*out = (struct tls_client_auth_config){
		.mode = TLS_CLIENT_CERTS_WANTED,
		.ca_path = cfg->s2s.ca,
		.crl_file = cfg->s2s.crl_file,
		.verify_depth = cfg->s2s.verify_depth,
		.accept_selfsigned = false,
		.disconnect_on_failure = false,
	};
}

/* The server ports: STARTTLS (s2s.port) and direct TLS (s2s.tls_port). */
static void s2s_ports(const struct config *cfg, struct listener_port ports[2])
{
	ports[0] = (struct listener_port){cfg->s2s.port, "STARTTLS", (void *)&s2s_port_starttls};
	ports[1] = (struct listener_port){cfg->s2s.tls_port, "direct TLS", (void *)&s2s_port_direct};
}

int s2s_listen(struct shard *sh, char **err)
{
	const struct config *cfg = sh->srv->cfg;
	struct listener_port ports[2];
	s2s_ports(cfg, ports);
	return listener_set_open(&sh->s2s_listeners, sh->w, &cfg->s2s.listen, ports, 2, (int)cfg->c2s.backlog,
				 s2s_in_accept, "s2s", err);
}

/* Where the dialback secret lives: beside the database, so that it
 * survives a restart as the database does. */
static char *secret_path(const struct config *cfg)
{
	const char *slash = strrchr(cfg->database, '/');
	struct buf b = BUF_INIT;
	if (slash)
		buf_append(&b, cfg->database, (size_t)(slash - cfg->database) + 1);
	buf_append_str(&b, "dialback.secret");
	char *p = xstrdup(buf_cstr(&b));
	buf_clear(&b);
	return p;
}

void s2s_lookup(const struct server *srv, const char *domain, struct s2s_policy *out)
{
	struct s2s_global *g = srv->s2s;
	pthread_mutex_lock(&g->policy_lock);
	s2s_policy_lookup(g->policy_cfg ? g->policy_cfg : srv->cfg, domain, out);
	pthread_mutex_unlock(&g->policy_lock);
}

/* SIGHUP: the policy settings from the file as it is now; the rest of the
 * configuration needs a restart. */
static void reload_policy(struct server *srv)
{
	struct s2s_global *g = srv->s2s;
	struct config *next = xcalloc(1, sizeof(*next));
	char *err = NULL;
	if (config_load(srv->cfg->path, next, &err) < 0) {
		log_error("s2s", "SIGHUP: cannot reload the s2s policy: %s; keeping the previous one", err);
		free(err);
		free(next);
		return;
	}
	pthread_mutex_lock(&g->policy_lock);
	struct config *old = g->policy_cfg;
	g->policy_cfg = next;
	pthread_mutex_unlock(&g->policy_lock);
	if (old) {
		config_free(old);
		free(old);
	}
	log_info("s2s", "SIGHUP: reloaded the s2s policy from %s (s2s.allow: %zu, s2s.deny: %zu, s2s.peers: %zu "
			"entries; accept_selfsigned %s, dialback %s, require_tls %s); it applies to new streams, other "
			"settings need a restart",
		 srv->cfg->path, next->s2s.allow.n, next->s2s.deny.n, next->s2s.npeers,
		 next->s2s.accept_selfsigned ? "on" : "off", next->s2s.dialback ? "on" : "off",
		 next->s2s.require_tls ? "on" : "off");
}

bool s2s_addr_take(struct server *srv, const char *ip, unsigned max, unsigned *open)
{
	struct s2s_global *g = srv->s2s;
	bool ok = true;
	pthread_mutex_lock(&g->addr_lock);
	size_t i = 0;
	while (i < g->naddrs && strcmp(g->addrs[i].ip, ip) != 0)
		i++;
	if (i == g->naddrs) {
		if (g->naddrs == g->addrs_cap) {
			g->addrs_cap = g->addrs_cap ? g->addrs_cap * 2 : 16;
			g->addrs = xrealloc(g->addrs, g->addrs_cap * sizeof(*g->addrs));
		}
		memset(&g->addrs[i], 0, sizeof(g->addrs[i]));
		snprintf(g->addrs[i].ip, sizeof(g->addrs[i].ip), "%s", ip);
		g->naddrs++;
	}
	*open = g->addrs[i].n;
	if (g->addrs[i].n >= max)
		ok = false;
	else
		g->addrs[i].n++;
	pthread_mutex_unlock(&g->addr_lock);
	return ok;
}

void s2s_addr_release(struct server *srv, const char *ip)
{
	struct s2s_global *g = srv->s2s;
	pthread_mutex_lock(&g->addr_lock);
	for (size_t i = 0; i < g->naddrs; i++) {
		if (strcmp(g->addrs[i].ip, ip) != 0)
			continue;
		if (--g->addrs[i].n == 0)
			g->addrs[i] = g->addrs[--g->naddrs]; /* the table holds open addresses only */
		break;
	}
	pthread_mutex_unlock(&g->addr_lock);
}

static int s2s_setup(struct server *srv, char **err)
{
	const struct config *cfg = srv->cfg;
	struct s2s_global *g = xcalloc(1, sizeof(*g));
	pthread_mutex_init(&g->policy_lock, NULL);
	pthread_mutex_init(&g->addr_lock, NULL);
	srv->s2s = g;
	char *path = secret_path(cfg);
	if (dialback_secret_load(&g->secret, path, err) < 0) {
		free(path);
		return -1;
	}
	free(path);
	struct tls_host *hosts = tls_hosts_from_config(cfg);
	struct tls_client_config tc = {.hosts = hosts, .nhosts = cfg->nhosts};
	char *terr = NULL;
	g->client = tls_client_new(&tc, &terr);
	free(hosts);
	if (!g->client) {
		/* Without our certificates, outgoing links go without TLS or
		 * fail as the policy says; incoming links are not affected. */
		log_warn("s2s", "no TLS for outgoing server links: %s", terr);
		free(terr);
	}
	router_remote_set_transport(&s2s_transport);
	return 0;
}

/* SIGHUP: new certificates for new outgoing links; established ones keep
 * theirs. */
static void s2s_reload(struct server *srv)
{
	struct s2s_global *g = srv->s2s;
	const struct config *cfg = srv->cfg;
	if (!g)
		return;
	reload_policy(srv);
	if (!g->client)
		return;
	struct tls_host *hosts = tls_hosts_from_config(cfg);
	struct tls_client_config tc = {.hosts = hosts, .nhosts = cfg->nhosts};
	char *err = NULL;
	if (tls_client_reload(g->client, &tc, &err) < 0) {
		log_error("s2s", "SIGHUP: cannot reload the certificates for outgoing server links: %s; keeping the "
				 "previous ones (hosts in %s)",
			  err, cfg->path);
		free(err);
	} else {
		log_info("s2s", "SIGHUP: reloaded the certificates for outgoing server links (generation %u)",
			 tls_client_generation(g->client));
	}
	free(hosts);
}

static void s2s_teardown(struct server *srv)
{
	struct s2s_global *g = srv->s2s;
	if (!g)
		return;
	router_remote_set_transport(NULL);
	tls_client_free(g->client);
	if (g->policy_cfg) {
		config_free(g->policy_cfg);
		free(g->policy_cfg);
	}
	pthread_mutex_destroy(&g->policy_lock);
	pthread_mutex_destroy(&g->addr_lock);
	free(g->addrs);
	dialback_secret_wipe(&g->secret);
	free(g);
	srv->s2s = NULL;
}

void s2s_shutdown(struct shard *sh)
{
	router_remote_shutdown(sh);
	s2s_out_shutdown(sh);
	s2s_reports_free(sh);
	listener_set_close(&sh->s2s_listeners);
	list_for_each_safe(pos, &sh->s2s_streams)
	{
		struct s2s_in *s = list_entry(pos, struct s2s_in, link);
		xs_error(&s->xs, STREAM_ERR_SYSTEM_SHUTDOWN, "the server is stopping");
	}
}

static void s2s_stats(struct shard *sh, struct buf *out)
{
	size_t n = 0;
	list_for_each(pos, &sh->s2s_streams)
		n++;
	size_t o = s2s_out_count(sh);
	buf_printf(out, "%zu incoming link%s, %zu outgoing stream%s, %zu remote link%s, %u listener%s", n,
		   n == 1 ? "" : "s", o, o == 1 ? "" : "s", remote_link_count(sh), remote_link_count(sh) == 1 ? "" : "s",
		   sh->s2s_listeners.n, sh->s2s_listeners.n == 1 ? "" : "s");
}

static void s2s_describe(const struct server *srv, struct buf *out)
{
	struct listener_port ports[2];
	s2s_ports(srv->cfg, ports);
	buf_append_str(out, "servers on ");
	size_t first = out->len;
	listener_set_describe(out, &srv->cfg->s2s.listen, ports, 2);
	if (out->len == first)
		buf_append_str(out, "no port (s2s.port and s2s.tls_port are 0)");
}

const struct service_ops s2s_service = {
	.name = "s2s",
	.setup = s2s_setup,
	.teardown = s2s_teardown,
	.reload = s2s_reload,
	.settings = "s2s.listen, s2s.port and s2s.tls_port",
	.listen = s2s_listen,
	.stop = s2s_shutdown,
	.stats = s2s_stats,
	.describe = s2s_describe,
	.gauges = s2s_metrics,
};
