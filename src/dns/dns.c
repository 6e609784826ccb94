/*
 * dns: SRV discovery for XMPP servers with libunbound on a libuv loop
 * (dns.h).  libunbound runs its own thread (ub_ctx_async(ctx, 1)); answers
 * come back through a pipe, ub_fd(), which a uv_poll_t watches while
 * queries are pending, and ub_process() runs the callbacks on this thread.
 */
#include "dns/dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "core/alloc.h"
#include "core/connect.h"
#include "core/list.h"

/* ---- SRV ordering ---- */

void dns_srv_order(struct dns_srv *srv, size_t n, dns_random_fn *rnd, void *ud)
{
	/* stable insertion sort by priority (n is small) */
	for (size_t i = 1; i < n; i++) {
		struct dns_srv t = srv[i];
		size_t j = i;
		while (j > 0 && srv[j - 1].priority > t.priority) {
			srv[j] = srv[j - 1];
			j--;
		}
		srv[j] = t;
	}
	for (size_t a = 0; a < n;) {
		size_t b = a + 1;
		while (b < n && srv[b].priority == srv[a].priority)
			b++;
		/* weight 0 first, otherwise in the order given */
		for (size_t i = a + 1; i < b; i++) {
			if (srv[i].weight != 0)
				continue;
			struct dns_srv t = srv[i];
			size_t j = i;
			while (j > a && srv[j - 1].weight != 0) {
				srv[j] = srv[j - 1];
				j--;
			}
			srv[j] = t;
		}
		/* selection: srv[a..i) is ordered, srv[i..b) remains */
		for (size_t i = a; i + 1 < b; i++) {
			uint32_t sum = 0;
			for (size_t k = i; k < b; k++)
				sum += srv[k].weight;
			uint32_t r = rnd(ud);
			r = sum == UINT32_MAX ? r : r % (sum + 1);
			uint32_t run = 0;
			size_t pick = b - 1;
			for (size_t k = i; k < b; k++) {
				run += srv[k].weight;
				if (run >= r) {
					pick = k;
					break;
				}
			}
			struct dns_srv t = srv[pick];
			memmove(&srv[i + 1], &srv[i], (pick - i) * sizeof(*srv));
			srv[i] = t;
		}
		a = b;
	}
}

static uint32_t default_random(void *ud)
{
	(void)ud;
	return arc4random();
}

/* ---- the resolver ---- */

struct dns_resolver {
	uv_loop_t *loop;
	struct ub_ctx *ub;
	uv_poll_t poll;
	bool polling;
	bool processing; /* inside ub_process() */
	bool dying;      /* freed while processing: finish after ub_process() */
	unsigned pending; /* ub queries outstanding */
	struct list requests;
	dns_random_fn *rnd;
	void *rnd_ud;
};

enum slot_kind { SLOT_SRV_TLS, SLOT_SRV_TCP, SLOT_AAAA, SLOT_A };

struct slot {
	struct dns_request *req;
	int async_id;
	bool pending;
	enum slot_kind kind;
	unsigned host;
	unsigned report; /* index into req->reports */
};

struct host {
	char name[256];
	char v6[DNS_MAX_ADDRS][46];
	char v4[DNS_MAX_ADDRS][46];
	unsigned n6, n4;
};

enum { MAX_SLOTS = 2 + 2 * DNS_MAX_HOSTS };

struct dns_request {
	struct list node; /* in resolver->requests */
	struct dns_resolver *r;
	dns_xmpp_cb *cb;
	void *ud;
	uv_timer_t timer;
	unsigned timeout_ms;
	uint64_t start_ms;
	bool addr_phase;
	bool fallback;
	bool no_service;
	bool timed_out;
	bool bad_name;
	bool in_callback;
	char domain[256];
	struct slot slots[MAX_SLOTS];
	unsigned nslots;
	struct dns_query_report reports[MAX_SLOTS];
	struct dns_srv srv[DNS_MAX_SRV];
	unsigned srv_host[DNS_MAX_SRV];
	unsigned nsrv;
	unsigned nsrv_dot; /* "." records seen */
	struct host hosts[DNS_MAX_HOSTS];
	unsigned nhosts;
};

static void set_err(char **err, const char *fmt, ...)
{
	if (!err)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	*err = xstrdup(buf);
}

static void on_poll(uv_poll_t *h, int status, int events);

struct dns_resolver *dns_resolver_new(uv_loop_t *loop, const struct dns_resolver_config *cfg,
				      char **err)
{
	if (err)
		*err = NULL;
	struct ub_ctx *ub = ub_ctx_create();
	if (!ub) {
		set_err(err, "libunbound: cannot create a context");
		return NULL;
	}
	int rc = ub_ctx_async(ub, 1);
	if (rc == 0 && cfg && cfg->forward) {
		rc = ub_ctx_set_fwd(ub, cfg->forward);
		if (rc != 0) {
			set_err(err, "dns forwarder %s: %s", cfg->forward, ub_strerror(rc));
			ub_ctx_delete(ub);
			return NULL;
		}
		rc = ub_ctx_set_option(ub, "do-not-query-localhost:", "no");
	} else if (rc == 0) {
		rc = ub_ctx_resolvconf(ub, NULL);
		if (rc == 0)
			rc = ub_ctx_hosts(ub, NULL);
		if (rc != 0) {
			set_err(err, "dns: reading resolv.conf or hosts: %s", ub_strerror(rc));
			ub_ctx_delete(ub);
			return NULL;
		}
	}
	for (size_t i = 0; rc == 0 && cfg && i < cfg->nzones; i++) {
		const char *z = cfg->zones[i];
		size_t len = strlen(z);
		char zone[260], lz[300];
		if (len == 0 || len > 253) {
			set_err(err, "dns zone \"%s\": not a domain name", z);
			ub_ctx_delete(ub);
			return NULL;
		}
		snprintf(zone, sizeof(zone), "%s%s", z, z[len - 1] == '.' ? "" : ".");
		snprintf(lz, sizeof(lz), "%s transparent", zone);
		rc = ub_ctx_set_option(ub, "local-zone:", lz);
		if (rc == 0)
			rc = ub_ctx_set_option(ub, "domain-insecure:", zone);
		if (rc != 0) {
			set_err(err, "dns zone \"%s\": %s", z, ub_strerror(rc));
			ub_ctx_delete(ub);
			return NULL;
		}
	}
	if (rc != 0) {
		set_err(err, "dns: libunbound: %s", ub_strerror(rc));
		ub_ctx_delete(ub);
		return NULL;
	}
	struct dns_resolver *r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	r->ub = ub;
	r->rnd = default_random;
	list_init(&r->requests);
	rc = uv_poll_init(loop, &r->poll, ub_fd(ub));
	if (rc != 0) {
		set_err(err, "dns: polling libunbound's descriptor: %s", uv_strerror(rc));
		ub_ctx_delete(ub);
		free(r);
		return NULL;
	}
	r->poll.data = r;
	return r;
}

void dns_resolver_set_random(struct dns_resolver *r, dns_random_fn *fn, void *ud)
{
	r->rnd = fn ? fn : default_random;
	r->rnd_ud = fn ? ud : NULL;
}

static void resolver_closed(uv_handle_t *h)
{
	struct dns_resolver *r = h->data;
	ub_ctx_delete(r->ub); /* joins libunbound's thread */
	free(r);
}

static void request_abort(struct dns_request *q);

static void resolver_release(struct dns_resolver *r)
{
	uv_close((uv_handle_t *)&r->poll, resolver_closed);
}

void dns_resolver_free(struct dns_resolver *r)
{
	if (!r || r->dying)
		return;
	r->dying = true;
	/* at once, even inside ub_process(): an answer later in the same
	 * batch must not reach a request of a resolver already freed */
	while (!list_empty(&r->requests))
		request_abort(list_entry(r->requests.next, struct dns_request, node));
	if (!r->processing)
		resolver_release(r);
}

static void poll_update(struct dns_resolver *r)
{
	if (r->dying)
		return;
	if (r->pending > 0 && !r->polling) {
		if (uv_poll_start(&r->poll, UV_READABLE, on_poll) == 0)
			r->polling = true;
	} else if (r->pending == 0 && r->polling) {
		uv_poll_stop(&r->poll);
		r->polling = false;
	}
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct dns_resolver *r = h->data;
	(void)status;
	(void)events;
	r->processing = true;
	ub_process(r->ub);
	r->processing = false;
	if (r->dying)
		resolver_release(r);
	else
		poll_update(r);
}

/* ---- requests ---- */

static uint32_t elapsed(struct dns_request *q)
{
	uv_update_time(q->r->loop);
	uint64_t now = uv_now(q->r->loop);
	return now > q->start_ms ? (uint32_t)(now - q->start_ms) : 0;
}

static void request_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Cancels what is pending and frees; no callback. */
static void request_abort(struct dns_request *q)
{
	for (unsigned i = 0; i < q->nslots; i++) {
		struct slot *s = &q->slots[i];
		if (!s->pending)
			continue;
		ub_cancel(q->r->ub, s->async_id);
		s->pending = false;
		q->r->pending--;
	}
	list_remove(&q->node);
	uv_close((uv_handle_t *)&q->timer, request_closed);
}

static void ub_answer(void *mydata, int err, struct ub_result *res);

/* Starts one query; its outcome is set at once when libunbound refuses. */
static void query_start(struct dns_request *q, enum slot_kind kind, unsigned host,
			const char *name)
{
	if (q->nslots >= MAX_SLOTS)
		return;
	unsigned i = q->nslots++;
	struct slot *s = &q->slots[i];
	struct dns_query_report *rep = &q->reports[i];
	*s = (struct slot){.req = q, .kind = kind, .host = host, .report = i};
	memset(rep, 0, sizeof(*rep));
	snprintf(rep->name, sizeof(rep->name), "%s", name);
	rep->type = kind == SLOT_AAAA ? DNS_TYPE_AAAA : kind == SLOT_A ? DNS_TYPE_A : DNS_TYPE_SRV;
	rep->outcome = DNS_Q_PENDING;
	rep->rcode = -1;
	int rc = ub_resolve_async(q->r->ub, name, rep->type, 1 /* IN */, s, ub_answer, &s->async_id);
	if (rc != 0) {
		rep->outcome = DNS_Q_ERROR;
		rep->elapsed_ms = elapsed(q);
		return;
	}
	s->pending = true;
	q->r->pending++;
}

static bool any_pending(struct dns_request *q)
{
	for (unsigned i = 0; i < q->nslots; i++)
		if (q->slots[i].pending)
			return true;
	return false;
}

/* The request is complete (or given up): report, cancel the rest, free. */
static void request_finish(struct dns_request *q)
{
	/* queries still running: the timeout */
	for (unsigned i = 0; i < q->nslots; i++) {
		struct slot *s = &q->slots[i];
		if (!s->pending)
			continue;
		ub_cancel(q->r->ub, s->async_id);
		s->pending = false;
		q->r->pending--;
		q->reports[i].outcome = DNS_Q_TIMEOUT;
		q->reports[i].elapsed_ms = elapsed(q);
	}
	poll_update(q->r);

	struct dns_target *t = xcalloc(DNS_MAX_TARGETS, sizeof(*t));
	size_t n = 0;
	for (unsigned i = 0; i < q->nsrv && q->addr_phase; i++) {
		if (strcmp(q->srv[i].target, ".") == 0)
			continue;
		struct host *h = &q->hosts[q->srv_host[i]];
		for (unsigned k = 0; k < h->n6 + h->n4 && n < DNS_MAX_TARGETS; k++) {
			const char *ip = k < h->n6 ? h->v6[k] : h->v4[k - h->n6];
			snprintf(t[n].ip, sizeof(t[n].ip), "%s", ip);
			t[n].port = q->srv[i].port;
			t[n].direct_tls = q->srv[i].direct_tls;
			t[n].host = h->name;
			n++;
		}
	}

	struct dns_result res = {
		.domain = q->domain,
		.targets = t,
		.n = n,
		.srv = q->addr_phase && !q->fallback,
		.queries = q->reports,
		.nqueries = q->nslots,
		.timeout_ms = q->timeout_ms,
		.elapsed_ms = elapsed(q),
	};
	if (n > 0) {
		res.status = DNS_OK;
	} else if (q->bad_name) {
		res.status = DNS_BAD_NAME;
	} else if (q->no_service) {
		res.status = DNS_NO_SERVICE;
	} else if (q->timed_out) {
		res.status = DNS_TIMEOUT;
	} else {
		bool failed = false, nx = false;
		for (unsigned i = 0; i < q->nslots; i++) {
			if (q->slots[i].kind != SLOT_A && q->slots[i].kind != SLOT_AAAA)
				continue;
			enum dns_outcome o = q->reports[i].outcome;
			failed |= o == DNS_Q_SERVFAIL || o == DNS_Q_REFUSED || o == DNS_Q_ERROR;
			nx |= o == DNS_Q_NXDOMAIN;
		}
		if (failed || q->nslots == 0)
			res.status = DNS_SERVFAIL;
		else if (nx && q->fallback)
			res.status = DNS_NXDOMAIN;
		else
			res.status = DNS_NO_ADDRESS;
	}

	struct dns_resolver *r = q->r;
	list_remove(&q->node);
	uv_timer_stop(&q->timer);
	q->in_callback = true;
	bool was_processing = r->processing;
	r->processing = true; /* a dns_resolver_free() in the callback waits */
	q->cb(q->ud, &res);
	r->processing = was_processing;
	free(t);
	uv_close((uv_handle_t *)&q->timer, request_closed);
	if (r->dying && !was_processing)
		resolver_release(r);
}

static bool name_to_text(const uint8_t *p, size_t len, char *out, size_t outn)
{
	size_t o = 0, i = 0;
	if (len >= 1 && p[0] == 0) {
		snprintf(out, outn, ".");
		return len == 1;
	}
	while (i < len) {
		uint8_t l = p[i++];
		if (l == 0)
			break;
		if (l > 63 || i + l > len)
			return false;
		if (o > 0) {
			if (o + 1 >= outn)
				return false;
			out[o++] = '.';
		}
		for (uint8_t k = 0; k < l; k++) {
			unsigned char c = p[i + k];
			if (!(isalnum(c) || c == '-' || c == '_') || o + 1 >= outn)
				return false;
			out[o++] = (char)tolower(c);
		}
		i += l;
	}
	out[o] = 0;
	return o > 0;
}

static unsigned host_index(struct dns_request *q, const char *name)
{
	for (unsigned i = 0; i < q->nhosts; i++)
		if (strcmp(q->hosts[i].name, name) == 0)
			return i;
	if (q->nhosts >= DNS_MAX_HOSTS)
		return DNS_MAX_HOSTS;
	struct host *h = &q->hosts[q->nhosts];
	memset(h, 0, sizeof(*h));
	/* Not snprintf: GCC cannot tell that `name` lies outside *q and
	 * refuses the call at -O2 (-Werror=restrict). */
	size_t n = strnlen(name, sizeof(h->name) - 1);
	memmove(h->name, name, n);
	h->name[n] = '\0';
	return q->nhosts++;
}

static void srv_take(struct dns_request *q, struct slot *s, struct ub_result *res)
{
	for (int i = 0; res->data[i]; i++) {
		const uint8_t *d = (const uint8_t *)res->data[i];
		int len = res->len[i];
		if (len < 7)
			continue;
		struct dns_srv v = {
			.priority = (uint16_t)(d[0] << 8 | d[1]),
			.weight = (uint16_t)(d[2] << 8 | d[3]),
			.port = (uint16_t)(d[4] << 8 | d[5]),
			.direct_tls = s->kind == SLOT_SRV_TLS,
		};
		if (!name_to_text(d + 6, (size_t)len - 6, v.target, sizeof(v.target)))
			continue;
		if (strcmp(v.target, ".") == 0) {
			q->nsrv_dot++;
			continue;
		}
		if (q->nsrv < DNS_MAX_SRV)
			q->srv[q->nsrv++] = v;
	}
}

static void addr_take(struct dns_request *q, struct slot *s, struct ub_result *res)
{
	struct host *h = &q->hosts[s->host];
	for (int i = 0; res->data[i]; i++) {
		if (s->kind == SLOT_A && res->len[i] == 4 && h->n4 < DNS_MAX_ADDRS)
			inet_ntop(AF_INET, res->data[i], h->v4[h->n4++], 46);
		else if (s->kind == SLOT_AAAA && res->len[i] == 16 && h->n6 < DNS_MAX_ADDRS)
			inet_ntop(AF_INET6, res->data[i], h->v6[h->n6++], 46);
	}
}

static void addr_phase_start(struct dns_request *q)
{
	q->addr_phase = true;
	if (q->nsrv == 0) {
		if (q->nsrv_dot > 0) {
			q->no_service = true;
			return;
		}
		q->fallback = true;
		q->srv[0] = (struct dns_srv){.port = DNS_XMPP_SERVER_PORT};
		snprintf(q->srv[0].target, sizeof(q->srv[0].target), "%s", q->domain);
		q->nsrv = 1;
	} else {
		/* the answers came in either order: direct TLS first, so that
		 * equal records order the same way every time */
		struct dns_srv tmp[DNS_MAX_SRV];
		unsigned k = 0;
		for (int tls = 1; tls >= 0; tls--)
			for (unsigned i = 0; i < q->nsrv; i++)
				if (q->srv[i].direct_tls == (tls == 1))
					tmp[k++] = q->srv[i];
		memcpy(q->srv, tmp, k * sizeof(*tmp));
		dns_srv_order(q->srv, q->nsrv, q->r->rnd, q->r->rnd_ud);
	}
	unsigned nsrv = 0;
	for (unsigned i = 0; i < q->nsrv; i++) {
		unsigned h = host_index(q, q->srv[i].target);
		if (h == DNS_MAX_HOSTS)
			continue; /* too many distinct targets: drop the rest */
		q->srv[nsrv] = q->srv[i];
		q->srv_host[nsrv++] = h;
	}
	q->nsrv = nsrv;
	for (unsigned h = 0; h < q->nhosts; h++) {
		query_start(q, SLOT_AAAA, h, q->hosts[h].name);
		query_start(q, SLOT_A, h, q->hosts[h].name);
	}
}

static void step(struct dns_request *q)
{
	if (any_pending(q))
		return;
	if (!q->addr_phase) {
		addr_phase_start(q);
		poll_update(q->r);
		if (any_pending(q))
			return;
	}
	request_finish(q);
}

static void ub_answer(void *mydata, int err, struct ub_result *res)
{
	struct slot *s = mydata;
	struct dns_request *q = s->req;
	struct dns_query_report *rep = &q->reports[s->report];
	s->pending = false;
	q->r->pending--;
	rep->elapsed_ms = elapsed(q);
	if (err != 0 || !res) {
		rep->outcome = DNS_Q_ERROR;
	} else {
		rep->rcode = res->rcode;
		if (res->rcode == 0 && res->havedata) {
			rep->outcome = DNS_Q_ANSWER;
			for (int i = 0; res->data[i]; i++)
				rep->count++;
			if (s->kind == SLOT_SRV_TLS || s->kind == SLOT_SRV_TCP)
				srv_take(q, s, res);
			else
				addr_take(q, s, res);
		} else if (res->nxdomain || res->rcode == 3) {
			rep->outcome = DNS_Q_NXDOMAIN;
		} else if (res->rcode == 0) {
			rep->outcome = DNS_Q_NODATA;
		} else if (res->rcode == 2) {
			rep->outcome = DNS_Q_SERVFAIL;
		} else if (res->rcode == 5) {
			rep->outcome = DNS_Q_REFUSED;
		} else {
			rep->outcome = DNS_Q_ERROR;
		}
	}
	if (res)
		ub_resolve_free(res);
	step(q);
}

static void on_timer(uv_timer_t *t)
{
	struct dns_request *q = t->data;
	if (!q->bad_name && !q->addr_phase && !any_pending(q)) {
		/* no SRV query could start: go on from the loop, within the
		 * time left */
		uint32_t spent = elapsed(q);
		uv_timer_start(&q->timer, on_timer,
			       spent < q->timeout_ms ? q->timeout_ms - spent : 1, 0);
		step(q);
		return;
	}
	q->timed_out = any_pending(q);
	request_finish(q);
}

static bool domain_ok(const char *d, size_t len)
{
	if (len == 0 || len > 253 - 19 || d[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = d[i];
		if (c == '.' && i + 1 < len && d[i + 1] == '.')
			return false;
		if (!(isalnum(c) || c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

struct dns_request *dns_resolve_xmpp_server(struct dns_resolver *r, const char *domain,
					    unsigned timeout_ms, dns_xmpp_cb *cb, void *ud)
{
	struct dns_request *q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->cb = cb;
	q->ud = ud;
	q->timeout_ms = timeout_ms ? timeout_ms : DNS_TIMEOUT_DEFAULT_MS;
	uv_update_time(r->loop);
	q->start_ms = uv_now(r->loop);
	uv_timer_init(r->loop, &q->timer);
	q->timer.data = q;
	list_insert_tail(&r->requests, &q->node);

	size_t len = domain ? strlen(domain) : 0;
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (!domain_ok(domain ? domain : "", len)) {
		snprintf(q->domain, sizeof(q->domain), "%.*s", (int)(len < 255 ? len : 255),
			 domain ? domain : "");
		q->bad_name = true;
		uv_timer_start(&q->timer, on_timer, 0, 0);
		return q;
	}
	for (size_t i = 0; i < len; i++)
		q->domain[i] = (char)tolower((unsigned char)domain[i]);
	q->domain[len] = 0;

	char name[300];
	snprintf(name, sizeof(name), "_xmpps-server._tcp.%s", q->domain);
	query_start(q, SLOT_SRV_TLS, 0, name);
	snprintf(name, sizeof(name), "_xmpp-server._tcp.%s", q->domain);
	query_start(q, SLOT_SRV_TCP, 0, name);
	poll_update(r);
	/* When neither query could start, the timer at 0 goes on from the loop. */
	uv_timer_start(&q->timer, on_timer, any_pending(q) ? q->timeout_ms : 0, 0);
	return q;
}

void dns_resolve_cancel(struct dns_request *q)
{
	if (!q || q->in_callback)
		return;
	struct dns_resolver *r = q->r;
	request_abort(q);
	poll_update(r);
}

size_t dns_connect_targets(const struct dns_result *res, struct connect_target *out, size_t max)
{
	size_t n = 0;
	for (; n < res->n && n < max; n++)
		out[n] = (struct connect_target){.ip = res->targets[n].ip, .port = res->targets[n].port};
	return n;
}

/* ---- names ---- */

const char *dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK: return "ok";
	case DNS_NO_SERVICE: return "no-service";
	case DNS_NXDOMAIN: return "nxdomain";
	case DNS_NO_ADDRESS: return "no-address";
	case DNS_SERVFAIL: return "servfail";
	case DNS_TIMEOUT: return "timeout";
	case DNS_BAD_NAME: return "bad-name";
	}
	return "?";
}

const char *dns_outcome_name(enum dns_outcome o)
{
	switch (o) {
	case DNS_Q_ANSWER: return "answer";
	case DNS_Q_NODATA: return "nodata";
	case DNS_Q_NXDOMAIN: return "nxdomain";
	case DNS_Q_SERVFAIL: return "servfail";
	case DNS_Q_REFUSED: return "refused";
	case DNS_Q_ERROR: return "error";
	case DNS_Q_TIMEOUT: return "timeout";
	case DNS_Q_PENDING: return "pending";
	}
	return "?";
}

const char *dns_type_name(uint16_t type, char *buf, size_t n)
{
	switch (type) {
	case DNS_TYPE_SRV: return "SRV";
	case DNS_TYPE_AAAA: return "AAAA";
	case DNS_TYPE_A: return "A";
	}
	snprintf(buf, n, "TYPE%u", type);
	return buf;
}

const char *dns_report_str(const struct dns_result *res, char *buf, size_t n)
{
	if (n == 0)
		return buf;
	size_t o = 0;
	buf[0] = 0;
	if (res->nqueries == 0) {
		snprintf(buf, n, "no query made");
		return buf;
	}
	for (size_t i = 0; i < res->nqueries; i++) {
		const struct dns_query_report *q = &res->queries[i];
		char tb[16], item[400];
		if (q->outcome == DNS_Q_ANSWER)
			snprintf(item, sizeof(item), "%s%s %s: %u answer%s", i ? "; " : "",
				 dns_type_name(q->type, tb, sizeof(tb)), q->name, q->count,
				 q->count == 1 ? "" : "s");
		else if (q->outcome == DNS_Q_TIMEOUT)
			snprintf(item, sizeof(item), "%s%s %s: timeout after %u ms", i ? "; " : "",
				 dns_type_name(q->type, tb, sizeof(tb)), q->name, res->timeout_ms);
		else if (q->outcome == DNS_Q_ERROR && q->rcode > 0)
			snprintf(item, sizeof(item), "%s%s %s: error (rcode %d)", i ? "; " : "",
				 dns_type_name(q->type, tb, sizeof(tb)), q->name, q->rcode);
		else
			snprintf(item, sizeof(item), "%s%s %s: %s", i ? "; " : "",
				 dns_type_name(q->type, tb, sizeof(tb)), q->name,
				 dns_outcome_name(q->outcome));
		size_t l = strlen(item);
		if (o + l + 1 > n) {
			if (n >= 4) {
				size_t at = o + 3 < n ? o : n - 4;
				memcpy(buf + at, "...", 4);
			}
			return buf;
		}
		memcpy(buf + o, item, l + 1);
		o += l;
	}
	return buf;
}
