/*
 * report: what the last attempt with each remote domain looked like, in
 * each direction, for `parleyctl s2s report DOMAIN` (issue 9): the DNS
 * records and addresses tried, TLS version, cipher and ALPN, the peer's
 * chain and its verification, which identity matched, the methods offered,
 * tried and used, the final code, and the time of the last success.
 *
 * Per worker (the shard's s2s_reports): outgoing links live on the remote
 * domain's owner worker, incoming streams on whichever worker accepted
 * them, so a domain may have a report on several workers; the admin
 * operation merges them.  At most REPORTS_MAX domains per worker; the one
 * updated longest ago gives way.  Every update looks its entry up by
 * domain: nothing outside holds a pointer into the table.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/alloc.h"
#include "core/conn.h"
#include "core/list.h"
#include "router/shard.h"
#include "s2s/internal.h"
#include "s2s/report.h"
#include "s2s/s2s.h"
#include "tls/tls.h"

enum { REPORTS_MAX = 256 };

struct s2s_report {
	struct list link; /* most recently updated first */
	char domain[256];
	struct s2s_attempt dir[2];
	time_t last_success[2];
};

struct s2s_reports {
	struct list all;
	size_t n;
};

/* After the worker's stop, streams that close late still report: into a
 * scratch entry, since the table is gone. */
static struct s2s_reports stopped;
static _Thread_local struct s2s_report scratch;

static const char *const dir_names[2] = {[S2S_DIR_OUT] = "out", [S2S_DIR_IN] = "in"};

const char *s2s_dir_name(enum s2s_dir d)
{
	return (unsigned)d < 2 ? dir_names[d] : "?";
}

static struct s2s_reports *reports_of(struct shard *sh)
{
	if (!sh->s2s_reports) {
		struct s2s_reports *r = xcalloc(1, sizeof(*r));
		list_init(&r->all);
		sh->s2s_reports = r;
	}
	return sh->s2s_reports;
}

static struct s2s_report *find(struct shard *sh, const char *domain)
{
	if (!sh->s2s_reports || sh->s2s_reports == &stopped)
		return NULL;
	list_for_each(pos, &sh->s2s_reports->all)
	{
		struct s2s_report *r = list_entry(pos, struct s2s_report, link);
		if (strcasecmp(r->domain, domain) == 0)
			return r;
	}
	return NULL;
}

/* The entry for `domain`, made (or taken from the stalest) when missing,
 * and moved to the front. */
static struct s2s_report *get(struct shard *sh, const char *domain)
{
	struct s2s_reports *rs = reports_of(sh);
	if (rs == &stopped) {
		memset(&scratch, 0, sizeof(scratch));
		return &scratch;
	}
	struct s2s_report *r = find(sh, domain);
	if (r) {
		list_remove(&r->link);
	} else if (rs->n >= REPORTS_MAX) {
		r = list_entry(rs->all.prev, struct s2s_report, link);
		list_remove(&r->link);
		memset(r, 0, sizeof(*r));
	} else {
		r = xcalloc(1, sizeof(*r));
		rs->n++;
	}
	snprintf(r->domain, sizeof(r->domain), "%s", domain);
	list_insert_head(&rs->all, &r->link);
	return r;
}

struct s2s_attempt *s2s_report_begin(struct shard *sh, const char *domain, enum s2s_dir d, const char *local,
				     const char *purpose)
{
	struct s2s_report *r = get(sh, domain);
	struct s2s_attempt *at = &r->dir[d];
	memset(at, 0, sizeof(*at));
	at->used = true;
	at->started = time(NULL);
	snprintf(at->local, sizeof(at->local), "%s", local ? local : "");
	snprintf(at->purpose, sizeof(at->purpose), "%s", purpose);
	snprintf(at->result, sizeof(at->result), "in progress");
	return at;
}

struct s2s_attempt *s2s_report_at(struct shard *sh, const char *domain, enum s2s_dir d)
{
	struct s2s_report *r = find(sh, domain);
	if (!r || !r->dir[d].used)
		return s2s_report_begin(sh, domain, d, NULL, d == S2S_DIR_OUT ? "link" : "incoming");
	return &r->dir[d];
}

void s2s_report_set(char *field, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(field, n, fmt, ap);
	va_end(ap);
}

void s2s_report_tls(struct s2s_attempt *at, struct conn *c, const struct s2s_peer_tls *facts,
		    const struct s2s_decision *dec)
{
	struct tls_session *t = conn_secure(c) ? conn_transport(c) : NULL;
	if (!t) {
		snprintf(at->tls, sizeof(at->tls), "none (plaintext)");
		return;
	}
	const char *alpn = tls_session_alpn(t);
	snprintf(at->tls, sizeof(at->tls), "%s, %s%s%s", tls_session_version(t), tls_session_cipher(t),
		 alpn ? ", ALPN " : "", alpn ? alpn : "");
	at->nchain = tls_session_peer_chain(t, at->chain, TLS_CHAIN_MAX);
	const struct tls_cert_status *st = tls_session_peer_cert(t);
	if (facts->cert == TLS_PEER_CERT_VALID)
		snprintf(at->verify, sizeof(at->verify), "verified against the s2s trust store");
	else if (facts->cert == TLS_PEER_CERT_INVALID)
		snprintf(at->verify, sizeof(at->verify), "%s (%s at depth %d)", st->reason,
			 tls_cert_problem_name(st->problem), st->depth);
	else
		snprintf(at->verify, sizeof(at->verify), "no certificate");
	snprintf(at->identity, sizeof(at->identity), "%s", facts->names_reason ? facts->names_reason : "");
	if (dec) {
		snprintf(at->policy, sizeof(at->policy), "%s%s%.500s", dec->trusted ? "trusted" : "not trusted",
			 dec->why[0] ? ": " : "", dec->why);
		snprintf(at->allowed, sizeof(at->allowed), "%s%s%s",
			 dec->methods & S2S_METHOD_EXTERNAL ? "EXTERNAL" : "",
			 (dec->methods & S2S_METHOD_EXTERNAL) && (dec->methods & S2S_METHOD_DIALBACK) ? ", " : "",
			 dec->methods & S2S_METHOD_DIALBACK ? "dialback" : (dec->methods ? "" : "none"));
	}
}

void s2s_report_method(char *list, size_t n, const char *method)
{
	if (strstr(list, method))
		return;
	size_t len = strlen(list);
	snprintf(list + len, n - len, "%s%s", len ? ", " : "", method);
}

void s2s_report_end(struct shard *sh, const char *domain, enum s2s_dir d, bool ok, enum s2s_code code,
		    const char *text, const char *method)
{
	struct s2s_report *r = find(sh, domain);
	if (!r)
		r = get(sh, domain);
	struct s2s_attempt *at = &r->dir[d];
	if (!at->used)
		s2s_report_begin(sh, domain, d, NULL, d == S2S_DIR_OUT ? "link" : "incoming");
	at->ended = time(NULL);
	at->ok = ok;
	at->code = code;
	if (ok) {
		r->last_success[d] = at->ended;
		snprintf(at->used_method, sizeof(at->used_method), "%s", method ? method : "");
		snprintf(at->result, sizeof(at->result), "authenticated with %s", method ? method : "?");
	} else {
		snprintf(at->result, sizeof(at->result), "%s", text ? text : s2s_code_name(code));
	}
}

/* ---- as JSON, for the admin operations ---- */

static json_t *time_json(time_t t)
{
	if (!t)
		return json_null();
	char buf[32];
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static json_t *attempt_json(const struct s2s_attempt *at, time_t last_success)
{
	json_t *o = json_object();
	json_object_set_new(o, "purpose", json_string(at->purpose));
	json_object_set_new(o, "local", json_string(at->local));
	json_object_set_new(o, "started", time_json(at->started));
	json_object_set_new(o, "ended", time_json(at->ended));
	json_object_set_new(o, "ok", json_boolean(at->ok));
	json_object_set_new(o, "code", json_string(at->ended && !at->ok ? s2s_code_name(at->code) : "ok"));
	/* What to change, beside the code: the web admin page shows it. */
	if (at->ended && !at->ok)
		json_object_set_new(o, "fix", json_string(s2s_code_fix(at->code)));
	json_object_set_new(o, "result", json_string(at->result));
	json_object_set_new(o, "last_success", time_json(last_success));
	json_object_set_new(o, "peer_address", json_string(at->peer));
	if (at->dns[0])
		json_object_set_new(o, "dns", json_string(at->dns));
	if (at->connect[0])
		json_object_set_new(o, "connect", json_string(at->connect));
	json_object_set_new(o, "tls", json_string(at->tls));
	json_t *chain = json_array();
	for (size_t i = 0; i < at->nchain; i++) {
		const struct tls_chain_cert *c = &at->chain[i];
		json_t *cj = json_object();
		json_object_set_new(cj, "subject", json_string(c->subject));
		json_object_set_new(cj, "issuer", json_string(c->issuer));
		json_object_set_new(cj, "not_before", json_string(c->not_before));
		json_object_set_new(cj, "not_after", json_string(c->not_after));
		json_object_set_new(cj, "names", json_string(c->names));
		json_object_set_new(cj, "eku", json_string(c->eku));
		json_array_append_new(chain, cj);
	}
	json_object_set_new(o, "chain", chain);
	json_object_set_new(o, "verification", json_string(at->verify));
	json_object_set_new(o, "identity", json_string(at->identity));
	json_object_set_new(o, "policy", json_string(at->policy));
	json_object_set_new(o, "methods_allowed", json_string(at->allowed));
	json_object_set_new(o, "methods_offered", json_string(at->offered));
	json_object_set_new(o, "methods_tried", json_string(at->tried));
	json_object_set_new(o, "method_used", json_string(at->used_method));
	return o;
}

json_t *s2s_admin_report(struct shard *sh, const char *domain)
{
	struct s2s_report *r = find(sh, domain);
	if (!r)
		return NULL;
	json_t *o = json_object();
	json_object_set_new(o, "domain", json_string(r->domain));
	json_object_set_new(o, "worker", json_integer(sh->w->id));
	for (int d = 0; d < 2; d++)
		if (r->dir[d].used)
			json_object_set_new(o, dir_names[d], attempt_json(&r->dir[d], r->last_success[d]));
	return o;
}

void s2s_reports_free(struct shard *sh)
{
	struct s2s_reports *rs = sh->s2s_reports;
	sh->s2s_reports = &stopped;
	if (!rs || rs == &stopped)
		return;
	list_for_each_safe(pos, &rs->all)
	{
		struct s2s_report *r = list_entry(pos, struct s2s_report, link);
		free(r);
	}
	free(rs);
}
