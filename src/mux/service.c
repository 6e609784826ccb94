/*
 * mux service: the shared port's listeners, and each connection until a
 * kind of stream takes it over.  What a connection may cost meanwhile is
 * bounded: limits.handshake_timeout for TLS and the first bytes, and
 * MUX_SNIFF_MAX bytes kept.
 */
#include "mux/mux.h"

#include <stdlib.h>
#include <string.h>

#include "c2s/c2s.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/conn.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/worker.h"
#include "http/http.h"
#include "mux/sniff.h"
#include "router/service.h"
#include "router/shard.h"
#include "s2s/s2s.h"
#include "tls/tls.h"

/* The protocols, in our order of preference, and the kind each names. */
static const char *const alpn_names[] = {"xmpp-client", "xmpp-server", "http/1.1"};
static const enum mux_kind alpn_kinds[] = {MUX_CLIENT, MUX_SERVER, MUX_HTTP};
enum { NALPN = sizeof(alpn_names) / sizeof(alpn_names[0]) };

struct mux_conn {
	struct shard *sh;
	uint64_t started_ms;
	struct buf seen; /* bytes after TLS, while no kind is known */
};

typedef void adopt_fn(struct shard *sh, struct conn *c, const char *data, size_t len);

static void adopt_http(struct shard *sh, struct conn *c, const char *data, size_t len)
{
	http_adopt(sh, c, HTTP_LISTENER_WEB | (sh->srv->cfg->mux.admin ? HTTP_LISTENER_ADMIN : 0), data, len);
}

/* Who takes each kind over (the adopters set the conn's handler). */
static adopt_fn *const adopters[MUX_KIND_COUNT] = {
	[MUX_CLIENT] = c2s_adopt_tls,
	[MUX_SERVER] = s2s_in_adopt,
	[MUX_HTTP] = adopt_http,
};

static void hand_over(struct mux_conn *m, struct conn *c, enum mux_kind k, const char *how)
{
	log_info("mux", "conn=%llu %s: %s stream (%s)", (unsigned long long)conn_id(c), conn_peer(c),
		 mux_kind_name(k), how);
	struct shard *sh = m->sh;
	struct buf seen = m->seen;
	/* The adopter owns the conn from here: its on_close, not ours. */
	free(m);
	adopters[k](sh, c, seen.data ? seen.data : "", seen.len);
	buf_clear(&seen);
}

static void mux_on_handshake(void *owner, struct conn *c)
{
	struct mux_conn *m = owner;
	const char *alpn = tls_session_alpn(conn_transport(c));
	for (size_t i = 0; alpn && i < NALPN; i++)
		if (strcmp(alpn, alpn_names[i]) == 0) {
			hand_over(m, c, alpn_kinds[i], "ALPN");
			return;
		}
	/* No ALPN: the first bytes say. */
}

static void mux_on_read(void *owner, struct conn *c, const char *data, size_t len)
{
	struct mux_conn *m = owner;
	size_t room = MUX_SNIFF_MAX - m->seen.len;
	buf_append(&m->seen, data, len < room ? len : room);
	enum mux_kind k = mux_sniff(m->seen.data, m->seen.len);
	if (k == MUX_MORE && len <= room)
		return;
	if (k == MUX_MORE || k == MUX_UNKNOWN || !adopters[k]) {
		log_info("mux", "conn=%llu %s: closed: its first bytes are neither an XMPP stream nor an HTTP "
				"request, and it offered no ALPN protocol (xmpp-client, xmpp-server, http/1.1)",
			 (unsigned long long)conn_id(c), conn_peer(c));
		conn_close(c, "unknown protocol on the shared port");
		return;
	}
	if (len > room) {
		/* Never: a verdict comes within MUX_SNIFF_MAX bytes. */
		conn_close(c, "too much before a verdict");
		return;
	}
	hand_over(m, c, k, "first bytes");
}

static void mux_on_tick(void *owner, struct conn *c, uint64_t now_ms)
{
	struct mux_conn *m = owner;
	unsigned limit = m->sh->srv->cfg->limits.handshake_timeout;
	if (now_ms - m->started_ms >= (uint64_t)limit * 1000) {
		log_info("mux", "conn=%llu %s: closed: no TLS and stream start within %u s "
				"(limits.handshake_timeout)",
			 (unsigned long long)conn_id(c), conn_peer(c), limit);
		conn_close(c, "handshake timeout on the shared port");
	}
}

static void mux_on_close(void *owner, struct conn *c, const char *reason)
{
	struct mux_conn *m = owner;
	(void)c;
	(void)reason;
	buf_clear(&m->seen);
	free(m);
}

static const struct conn_handler mux_handler = {
	.on_read = mux_on_read,
	.on_handshake = mux_on_handshake,
	.on_tick = mux_on_tick,
	.on_close = mux_on_close,
};

static void mux_accept(struct worker *w, int fd, void *ud)
{
	(void)ud;
	struct shard *sh = shard_of(w);
	const struct config *cfg = sh->srv->cfg;
	struct mux_conn *m = xcalloc(1, sizeof(*m));
	m->sh = sh;
	m->started_ms = worker_now(w);
	struct conn *c = conn_new(w, fd, &mux_handler, m);
	conn_set_outq_limit(c, cfg->limits.outq_bytes);
	conn_set_read_rate(c, cfg->limits.read_rate, cfg->limits.read_burst);
	conn_start(c);
	/* Which certificates to ask for depends on the kind: ALPN picks it
	 * on the ClientHello, before the request is written. */
	struct tls_client_auth *auth[NALPN] = {sh->srv->client_auth, sh->srv->s2s_trust, sh->srv->client_auth};
	enum tls_cert_purpose purpose[NALPN] = {
		TLS_PURPOSE_DEFAULT,
		cfg->s2s.accept_serverauth_only ? TLS_PURPOSE_CLIENT_OR_SERVER : TLS_PURPOSE_CLIENT,
		TLS_PURPOSE_DEFAULT,
	};
	struct tls_session_config tc = {
		.alpn = alpn_names,
		.nalpn = NALPN,
		.client_auth = sh->srv->client_auth,
		.alpn_client_auth = auth,
		.alpn_peer_purpose = purpose,
	};
	conn_set_transport(c, &tls_transport_ops, tls_session_new_server_ex(sh->srv->tls, &tc));
}

static void mux_ports(const struct config *cfg, struct listener_port *port)
{
	*port = (struct listener_port){cfg->mux.port, "shared: XMPP clients, servers, HTTP", NULL};
}

static int mux_listen(struct shard *sh, char **err)
{
	const struct config *cfg = sh->srv->cfg;
	if (!cfg->mux.port)
		return 0;
	if (!sh->srv->tls) {
		*err = xstrdup("mux.port needs the hosts' certificates (TLS): there are none");
		return -1;
	}
	struct listener_port port;
	mux_ports(cfg, &port);
	return listener_set_open(&sh->mux_listeners, sh->w, &cfg->mux.listen, &port, 1, (int)cfg->c2s.backlog,
				 mux_accept, "mux", err);
}

static void mux_stop(struct shard *sh)
{
	listener_set_close(&sh->mux_listeners);
}

static void mux_describe(const struct server *srv, struct buf *out)
{
	struct listener_port port;
	mux_ports(srv->cfg, &port);
	listener_set_describe(out, &srv->cfg->mux.listen, &port, 1);
}

const struct service_ops mux_service = {
	.name = "mux",
	.settings = "mux.listen and mux.port",
	.listen = mux_listen,
	.stop = mux_stop,
	.describe = mux_describe,
};
