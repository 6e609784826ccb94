/*
 * ops: the table of admin operations and their handlers.  A handler
 * checks its arguments on the main thread and either answers at once or
 * fans out to the workers (admin/call.c) with a function each worker runs
 * on its own state and one that merges their parts.  What the parts hold
 * comes from the modules that own the state (s2s/s2s.h for federation);
 * nothing here reads a stream directly.
 */
#include "admin/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s/c2s.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/worker.h"
#include "im/im.h"
#include "router/service.h"
#include "router/session.h"
#include "router/shard.h"
#include "router/user.h"
#include "s2s/s2s.h"
#include "store/store.h"

enum { DOMAIN_MAX = 1023 };

/* ---- Arguments ---- */

/* The request's "domain", lower-cased (heap), or NULL after failing the
 * call.  A domain here is only compared with the streams' domains, so it
 * is checked for shape, not prepared. */
static char *domain_arg(struct admin_call *call, const json_t *req)
{
	const json_t *d = json_object_get(req, "domain");
	if (!json_is_string(d)) {
		admin_call_fail(call, "this op needs a \"domain\" string");
		return NULL;
	}
	size_t len = json_string_length(d);
	const char *s = json_string_value(d);
	if (len == 0 || len > DOMAIN_MAX) {
		admin_call_fail(call, "\"domain\" must be 1 to %d bytes", DOMAIN_MAX);
		return NULL;
	}
	char *out = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f || c == '@' || c == '/') {
			admin_call_fail(call, "\"domain\" is not a domain name");
			free(out);
			return NULL;
		}
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
	}
	out[len] = '\0';
	return out;
}

/* ---- help ---- */

static void op_help(struct admin_call *call, const json_t *req)
{
	json_t *ops = json_array();
	for (const struct admin_op *op = admin_ops; op->name; op++)
		json_array_append_new(ops, json_pack("{s:s, s:s}", "op", op->name, "help", op->help));
	admin_call_ok(call, json_pack("{s:o}", "ops", ops));
}

/* ---- s2s.status ---- */

static json_t *status_part(struct shard *sh, const void *arg)
{
	json_t *links = json_array();
	s2s_admin_links(sh, links);
	size_t i;
	json_t *link;
	json_array_foreach (links, i, link)
		if (json_is_object(link) && !json_object_get(link, "worker"))
			json_object_set_new(link, "worker", json_string(sh->w->name));
	return links;
}

static json_t *status_merge(json_t *const *parts, unsigned n, const void *arg)
{
	json_t *links = json_array();
	for (unsigned i = 0; i < n; i++)
		if (json_is_array(parts[i]))
			json_array_extend(links, parts[i]);
	return json_pack("{s:o}", "links", links);
}

static void op_s2s_status(struct admin_call *call, const json_t *req)
{
	admin_call_fanout(call, status_part, status_merge, NULL);
}

/* ---- s2s.report ---- */

static json_t *report_part(struct shard *sh, const void *arg)
{
	json_t *r = s2s_admin_report(sh, arg);
	if (json_is_object(r) && !json_object_get(r, "worker"))
		json_object_set_new(r, "worker", json_string(sh->w->name));
	return r;
}

/* The workers' reports, and the latest attempt of each direction among
 * them ("latest"): a domain's outgoing link lives on its owner worker,
 * incoming streams wherever they were accepted. */
static json_t *report_merge(json_t *const *parts, unsigned n, const void *arg)
{
	json_t *reports = json_array();
	json_t *latest = json_object();
	static const char *const dirs[] = {"out", "in"};
	for (unsigned i = 0; i < n; i++) {
		if (!parts[i])
			continue;
		json_array_append(reports, parts[i]);
		for (size_t d = 0; d < 2; d++) {
			json_t *at = json_object_get(parts[i], dirs[d]);
			const char *started = json_string_value(json_object_get(at, "started"));
			json_t *best = json_object_get(latest, dirs[d]);
			const char *best_started = json_string_value(json_object_get(best, "started"));
			/* ISO 8601 UTC times order as strings. */
			if (started && (!best_started || strcmp(started, best_started) >= 0))
				json_object_set(latest, dirs[d], at);
		}
	}
	return json_pack("{s:s, s:o, s:o}", "domain", (const char *)arg, "reports", reports, "latest", latest);
}

static void op_s2s_report(struct admin_call *call, const json_t *req)
{
	char *domain = domain_arg(call, req);
	if (domain)
		admin_call_fanout(call, report_part, report_merge, domain);
}

/* ---- s2s.close ---- */

static json_t *close_part(struct shard *sh, const void *arg)
{
	return json_integer(s2s_admin_close(sh, arg));
}

static json_t *close_merge(json_t *const *parts, unsigned n, const void *arg)
{
	json_int_t closed = 0;
	for (unsigned i = 0; i < n; i++)
		closed += json_integer_value(parts[i]);
	return json_pack("{s:s, s:I}", "domain", (const char *)arg, "closed", closed);
}

static void op_s2s_close(struct admin_call *call, const json_t *req)
{
	char *domain = domain_arg(call, req);
	if (domain)
		admin_call_fanout(call, close_part, close_merge, domain);
}

/* ---- user.kick ---- */

/* What the sessions are told: after `parleyctl user del` or the API's
 * DELETE /api/users/J, that the account is gone; after DELETE
 * /api/sessions/J ("reason":"admin"), that an administrator ended them. */
struct kick_arg {
	enum stream_cond cond;
	const char *text; /* static */
	char jid[];
};

/* Ends every session of an account on this worker (its owner), so that a
 * deleted account does not stay logged in. */
static json_t *kick_part(struct shard *sh, const void *arg)
{
	const struct kick_arg *k = arg;
	struct user *u = user_find(sh, k->jid);
	unsigned n = 0, most = u ? u->nsessions : 0;
	/* Each kick unbinds its session (and the last one drops the record):
	 * look the user up again every time. */
	while (n < most && (u = user_find(sh, k->jid)) != NULL && !list_empty(&u->sessions)) {
		struct session *s = list_entry(u->sessions.next, struct session, link);
		s->ops->kick(s, k->cond, k->text);
		n++;
	}
	return json_integer(n);
}

static json_t *kick_merge(json_t *const *parts, unsigned n, const void *arg)
{
	const struct kick_arg *k = arg;
	json_int_t ended = 0;
	for (unsigned i = 0; i < n; i++)
		ended += json_integer_value(parts[i]);
	return json_pack("{s:s, s:I}", "jid", k->jid, "ended", ended);
}

static void op_user_kick(struct admin_call *call, const json_t *req)
{
	const json_t *j = json_object_get(req, "jid");
	const char *s = json_string_value(j);
	size_t len = json_string_length(j);
	/* The bare JID as parleyctl prepared it: compared, not parsed. */
	if (!s || len == 0 || len > 3071 || !memchr(s, '@', len) || memchr(s, '/', len) || memchr(s, '\0', len)) {
		admin_call_fail(call, "this op needs a bare \"jid\" string");
		return;
	}
	const json_t *r = json_object_get(req, "reason");
	const char *reason = r ? json_string_value(r) : "deleted";
	bool by_admin = reason && !strcmp(reason, "admin");
	if (!reason || (!by_admin && strcmp(reason, "deleted") != 0)) {
		admin_call_fail(call, "\"reason\" is \"deleted\" (the default) or \"admin\"");
		return;
	}
	struct kick_arg *k = xmalloc(sizeof(*k) + len + 1);
	k->cond = by_admin ? STREAM_ERR_POLICY_VIOLATION : STREAM_ERR_NOT_AUTHORIZED;
	k->text = by_admin ? "an administrator ended this session" : "the account was deleted";
	memcpy(k->jid, s, len + 1);
	admin_call_fanout(call, kick_part, kick_merge, k);
}

/* ---- sessions.list ---- */

static json_t *sessions_part(struct shard *sh, const void *arg)
{
	json_t *out = json_array();
	for (size_t b = 0; b < sh->user_nbuckets; b++)
		for (struct user *u = sh->user_buckets[b]; u; u = u->hnext)
			list_for_each(pos, &u->sessions)
			{
				struct session *s = list_entry(pos, struct session, link);
				struct session_info info = {0};
				if (s->ops->describe)
					s->ops->describe(s, &info);
				json_array_append_new(out, json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s, s:I, s:b}", "jid",
								     s->jid->full, "worker", sh->w->name, "transport",
								     info.transport, "tls", info.tls, "mechanism",
								     info.mechanism, "address", info.address, "since",
								     (json_int_t)s->bound_at, "available", s->available));
			}
	return out;
}

static json_t *sessions_merge(json_t *const *parts, unsigned n, const void *arg)
{
	json_t *all = json_array();
	for (unsigned i = 0; i < n; i++)
		if (json_is_array(parts[i]))
			json_array_extend(all, parts[i]);
	return json_pack("{s:o}", "sessions", all);
}

static void op_sessions_list(struct admin_call *call, const json_t *req)
{
	admin_call_fanout(call, sessions_part, sessions_merge, NULL);
}

/* ---- s2s.policy ---- */

static void op_s2s_policy(struct admin_call *call, const json_t *req)
{
	admin_call_ok(call, s2s_admin_policy(admin_call_server(call)));
}

/* ---- group.refresh ---- */

/* A group changed in storage (parleyctl group, the admin API): the
 * accounts online on this worker that it touches get it at once. */
static json_t *group_refresh_part(struct shard *sh, const void *arg)
{
	return json_integer(im_group_changed(sh, arg));
}

static json_t *group_refresh_merge(json_t *const *parts, unsigned n, const void *arg)
{
	json_int_t accounts = 0;
	for (unsigned i = 0; i < n; i++)
		accounts += json_integer_value(parts[i]);
	return json_pack("{s:s, s:I}", "group", (const char *)arg, "accounts", accounts);
}

static void op_group_refresh(struct admin_call *call, const json_t *req)
{
	const json_t *g = json_object_get(req, "group");
	const char *s = json_string_value(g);
	if (!s || !store_group_name_ok(s) || strlen(s) != json_string_length(g)) {
		admin_call_fail(call, "this op needs a \"group\" name");
		return;
	}
	admin_call_fanout(call, group_refresh_part, group_refresh_merge, xstrdup(s));
}

/* ---- server.stats ---- */

/* The services whose stats hook server.stats reads (router/service.h). */
static const struct service_ops *const stats_services[] = {&c2s_service, &s2s_service};

static json_t *stats_part(struct shard *sh, const void *arg)
{
	json_t *services = json_object();
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < sizeof(stats_services) / sizeof(stats_services[0]); i++) {
		const struct service_ops *s = stats_services[i];
		if (!s->stats)
			continue;
		buf_reset(&b);
		s->stats(sh, &b);
		json_object_set_new(services, s->name, json_stringn(b.data ? b.data : "", b.len));
	}
	buf_clear(&b);
	return json_pack("{s:s, s:i, s:i, s:o}", "worker", sh->w->name, "connections",
			 (int)atomic_load(&sh->w->nconns), "inbox", (int)atomic_load(&sh->w->inbox_len), "services",
			 services);
}

static json_t *stats_merge(json_t *const *parts, unsigned n, const void *arg)
{
	json_t *workers = json_array();
	for (unsigned i = 0; i < n; i++)
		if (parts[i])
			json_array_append(workers, parts[i]);
	return json_pack("{s:o}", "workers", workers);
}

static void op_server_stats(struct admin_call *call, const json_t *req)
{
	admin_call_fanout(call, stats_part, stats_merge, NULL);
}

/* ---- server.reload ---- */

/* Set once by parleyd before the services are set up; read on the main
 * thread only. */
static admin_reload_fn *reload_fn;

void admin_set_reload(admin_reload_fn *fn)
{
	reload_fn = fn;
}

/* What SIGHUP does, asked by a front end after it changed a trust store
 * (the admin API's POST and DELETE /api/trust). */
static void op_server_reload(struct admin_call *call, const json_t *req)
{
	if (!reload_fn) {
		admin_call_fail(call, "this server cannot reload (no reload function)");
		return;
	}
	const char *cause = json_string_value(json_object_get(req, "cause"));
	char text[96];
	int n = snprintf(text, sizeof(text), "reload asked by %.64s", cause && *cause ? cause : "the control socket");
	/* The cause goes into log lines: printable ASCII only. */
	for (int i = 0; i < n && i < (int)sizeof(text) - 1; i++)
		if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] >= 0x7f)
			text[i] = '?';
	int failed = reload_fn(admin_call_server(call), text);
	admin_call_ok(call, json_pack("{s:i}", "failed", failed));
}

/* ---- The table ---- */

const struct admin_op admin_ops[] = {
	{.name = "help", .run = op_help, .help = "lists the operations"},
	{.name = "s2s.status",
	 .run = op_s2s_status,
	 .help = "every live server-to-server stream: {\"links\":[...]}"},
	{.name = "s2s.report",
	 .run = op_s2s_report,
	 .help = "{\"domain\":D}: what each worker knows of federation with D: {\"reports\":[...]}"},
	{.name = "s2s.close",
	 .run = op_s2s_close,
	 .help = "{\"domain\":D}: closes every stream with D: {\"closed\":N}"},
	{.name = "s2s.policy",
	 .run = op_s2s_policy,
	 .help = "the s2s policy in force: allow, deny, peers and the switches"},
	{.name = "sessions.list",
	 .run = op_sessions_list,
	 .help = "every client session: {\"sessions\":[{jid, worker, transport, tls, mechanism, address, since}]}"},
	{.name = "user.kick",
	 .run = op_user_kick,
	 .help = "{\"jid\":J[,\"reason\":\"deleted\"|\"admin\"]}: ends every session of the account J: "
		 "{\"ended\":N}"},
	{.name = "group.refresh",
	 .run = op_group_refresh,
	 .help = "{\"group\":G}: applies group G as stored now to the accounts online: {\"accounts\":N}"},
	{.name = "server.stats",
	 .run = op_server_stats,
	 .help = "per worker: connections, inbox length, each service's stats"},
	{.name = "server.metrics",
	 .run = admin_op_metrics,
	 .help = "the Prometheus text exposition of the metrics (docs/metrics.md): {\"text\":...}"},
	{.name = "server.reload",
	 .run = op_server_reload,
	 .help = "[{\"cause\":S}]: reloads what SIGHUP reloads (certificates, trust stores, s2s policy): "
		 "{\"failed\":N}"},
	{.name = NULL},
};

struct admin_call *admin_request(struct admin *a, const char *text, size_t len, admin_reply_fn *reply, void *arg)
{
	return admin_dispatch(a, admin_ops, text, len, reply, arg);
}
