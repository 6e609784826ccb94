/*
 * admin: what the admin operations (parleyctl s2s status / report / close,
 * later the HTTP admin API) ask of s2s on one worker: its live streams,
 * its reports (report.c) and closing the streams with a domain.  Runs on
 * the worker's thread; the operation merges the workers' answers.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/conn.h"
#include "core/worker.h"
#include "core/config.h"
#include "router/remote.h"
#include "router/shard.h"
#include "s2s/internal.h"
#include "s2s/report.h"
#include "s2s/s2s.h"
#include "tls/chain.h"
#include "tls/tls.h"

/* The facts every stream has, whichever its direction. */
static void conn_facts(json_t *o, struct conn *c, uint64_t started_ms, uint64_t now)
{
	json_object_set_new(o, "peer_address", json_string(c ? conn_peer(c) : ""));
	struct tls_session *t = c && conn_secure(c) ? conn_transport(c) : NULL;
	json_object_set_new(o, "tls_version", json_string(t ? tls_session_version(t) : "plaintext"));
	json_object_set_new(o, "tls_cipher", json_string(t ? tls_session_cipher(t) : ""));
	struct tls_chain_cert leaf;
	bool cert = t && tls_session_peer_chain(t, &leaf, 1) == 1;
	json_object_set_new(o, "cert_subject", json_string(cert ? leaf.subject : ""));
	json_object_set_new(o, "cert_verified",
			    json_boolean(t && tls_session_peer_cert_status(t, NULL) == TLS_PEER_CERT_VALID));
	json_object_set_new(o, "bytes_in", json_integer(c ? (json_int_t)conn_bytes_in(c) : 0));
	json_object_set_new(o, "bytes_out", json_integer(c ? (json_int_t)conn_bytes_out(c) : 0));
	json_object_set_new(o, "age_s", json_integer((json_int_t)((now - started_ms) / 1000)));
}

void s2s_admin_links(struct shard *sh, json_t *arr)
{
	uint64_t now = worker_now(sh->w);
	list_for_each(pos, &sh->s2s_streams)
	{
		struct s2s_in *s = list_entry(pos, struct s2s_in, link);
		if (!s->xs.conn)
			continue;
		/* One row per authenticated pair; a stream with none yet is
		 * one row for the domain it claims. */
		size_t rows = s->npairs ? s->npairs : 1;
		for (size_t i = 0; i < rows; i++) {
			const struct s2s_pair *p = s->npairs ? &s->pairs[i] : NULL;
			json_t *o = json_object();
			json_object_set_new(o, "direction", json_string("in"));
			json_object_set_new(o, "local", json_string(p ? p->local : s->xs.domain));
			json_object_set_new(o, "remote", json_string(p ? p->remote : s->xs.peer_domain));
			const char *method = !p ? "none" : p->state != PAIR_VALID ? "dialback (pending)"
					   : s->remote && strcasecmp(s->remote, p->remote) == 0 ? "EXTERNAL"
												: "dialback";
			json_object_set_new(o, "method", json_string(method));
			json_object_set_new(o, "state", json_string(s->xs.authenticated ? "ready" : "negotiating"));
			json_object_set_new(o, "queued", json_integer(0));
			json_object_set_new(o, "worker", json_integer(sh->w->id));
			conn_facts(o, s->xs.conn, s->xs.started_ms, now);
			json_array_append_new(arr, o);
		}
	}
	s2s_out_links(sh, arr, now);
}

unsigned s2s_admin_close(struct shard *sh, const char *domain)
{
	unsigned n = 0;
	list_for_each_safe(pos, &sh->s2s_streams)
	{
		struct s2s_in *s = list_entry(pos, struct s2s_in, link);
		if (!s->xs.conn || s->xs.state == XS_CLOSING)
			continue;
		bool match = strcasecmp(s->xs.peer_domain, domain) == 0;
		for (size_t i = 0; i < s->npairs && !match; i++)
			match = strcasecmp(s->pairs[i].remote, domain) == 0;
		if (!match)
			continue;
		xs_error(&s->xs, STREAM_ERR_UNDEFINED_CONDITION, "closed by the operator (parleyctl s2s close)");
		n++;
	}
	return n + s2s_out_close(sh, domain);
}

/* ---- the policy table ---- */

static json_t *strlist_json(const struct config_strlist *l)
{
	json_t *a = json_array();
	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->items[i]));
	return a;
}

json_t *s2s_admin_policy(const struct server *srv)
{
	struct s2s_global *g = srv->s2s;
	pthread_mutex_lock(&g->policy_lock);
	const struct config *cfg = g->policy_cfg ? g->policy_cfg : srv->cfg;
	json_t *peers = json_array();
	for (size_t i = 0; i < cfg->s2s.npeers; i++) {
		const struct config_s2s_peer *p = &cfg->s2s.peers[i];
		json_array_append_new(peers, json_pack("{s:s, s:s, s:s?}", "domain", p->domain, "mode",
						       config_s2s_mode_name(p->mode), "pin", p->pin));
	}
	json_t *out = json_pack("{s:o, s:o, s:o, s:b, s:b, s:b, s:b, s:i, s:b}", "allow", strlist_json(&cfg->s2s.allow),
				"deny", strlist_json(&cfg->s2s.deny), "peers", peers, "accept_selfsigned",
				cfg->s2s.accept_selfsigned, "dialback", cfg->s2s.dialback, "require_tls",
				cfg->s2s.require_tls, "allow_cn", cfg->s2s.allow_cn, "verify_depth",
				(int)cfg->s2s.verify_depth, "accept_serverauth_only", cfg->s2s.accept_serverauth_only);
	pthread_mutex_unlock(&g->policy_lock);
	return out;
}
