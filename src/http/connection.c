/*
 * connection: one HTTP/1.1 connection on a core/conn.  It feeds received
 * bytes to its reader (parse.c), routes each request once its header
 * fields are in, asks the auth hook when the route needs it, reads the
 * body, runs the handler and writes the response; then the next request,
 * in the order they were sent (pipelining).
 *
 * Budgets: the conn's read rate and output cap (limits.*, as for XMPP
 * streams), the reader's size limits, and deadlines per state checked on
 * the conn's 1 s tick: the TLS handshake and each request's line and
 * header fields (http.header_timeout), its body (http.body_timeout), the
 * wait between requests (http.idle_timeout).  While a handler has the
 * request, or while more than http.output_pause_bytes of responses wait
 * for the client to read them, nothing more is parsed and the socket is
 * not read, so a pipelined flood costs at most one read buffer.
 *
 * Every request the server refuses (4xx/5xx from here, not from a
 * handler) gets one log line: the connection, the peer, the request,
 * the status, why, and the setting when a limit refused it.
 */
#include "http/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/worker.h"
#include "router/shard.h"
#include "tls/tls.h"

static const char *const alpn_http[] = {"http/1.1"};

static void hc_on_read(void *owner, struct conn *c, const char *data, size_t len);
static void hc_on_handshake(void *owner, struct conn *c);
static void hc_on_tick(void *owner, struct conn *c, uint64_t now_ms);
static void hc_on_close(void *owner, struct conn *c, const char *reason);

static const struct conn_handler http_conn_handler = {
	.on_read = hc_on_read,
	.on_handshake = hc_on_handshake,
	.on_tick = hc_on_tick,
	.on_close = hc_on_close,
};

static void hc_process(struct http_conn *hc);

static const struct config *hc_cfg(const struct http_conn *hc)
{
	return hc->hw->srv->cfg;
}

static uint64_t hc_now(const struct http_conn *hc)
{
	return worker_now(hc->hw->w);
}

static unsigned long long hc_id(const struct http_conn *hc)
{
	return (unsigned long long)conn_id(hc->c);
}

/* ---- facts for handlers ---- */

struct conn *http_request_conn(const struct http_request *req)
{
	return req->hc ? req->hc->c : NULL;
}

bool http_request_secure(const struct http_request *req)
{
	return req->hc && !req->hc->plain;
}

unsigned http_request_listener(const struct http_request *req)
{
	return req->hc ? req->hc->listener : 0;
}

const struct config *http_request_config(const struct http_request *req)
{
	return req->hc ? hc_cfg(req->hc) : NULL;
}

const char *http_request_peer(const struct http_request *req)
{
	return req->hc ? conn_peer(req->hc->c) : "-";
}

/* "GET /api/x" for log lines: the target as sent, bytes that are not
 * printable ASCII shown as '?', cut at 200 bytes. */
static void describe(const struct http_request *q, char *out, size_t n)
{
	if (!q || !q->method_known) {
		snprintf(out, n, "a request");
		return;
	}
	char target[204];
	size_t t = 0;
	for (size_t i = 0; i < q->target_len && t < 200; i++) {
		unsigned char ch = (unsigned char)q->head.data[i];
		target[t++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (q->target_len > 200)
		target[t++] = '.', target[t++] = '.', target[t++] = '.';
	target[t] = '\0';
	snprintf(out, n, "%s %s", http_method_str((enum http_method)q->parser_method), t ? target : "(no target)");
}

/* ---- writing responses ---- */

static bool body_allowed(int status)
{
	return status >= 200 && status != 204 && status != 304;
}

static void write_response(struct http_conn *hc, struct http_request *q, int status, const char *ctype,
			   const void *body, size_t len, unsigned flags, bool close, const char *extra)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
	if (body_allowed(status)) {
		if (ctype)
			buf_printf(&b, "Content-Type: %s\r\n", ctype);
		buf_printf(&b, "Content-Length: %zu\r\n", len);
	}
	buf_append_str(&b, "X-Content-Type-Options: nosniff\r\n");
	buf_append_str(&b, flags & HTTP_RESP_CACHEABLE ? "Cache-Control: public, max-age=3600\r\n"
						       : "Cache-Control: no-store\r\n");
	if (flags & HTTP_RESP_HTML)
		buf_append_str(&b, "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
				   "img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
				   "base-uri 'none'\r\n"
				   "X-Frame-Options: DENY\r\n"
				   "Referrer-Policy: no-referrer\r\n");
	if (close)
		buf_append_str(&b, "Connection: close\r\n");
	else if (q && q->minor == 0)
		buf_append_str(&b, "Connection: keep-alive\r\n");
	if (q && q->resp_headers.len)
		buf_append(&b, q->resp_headers.data, q->resp_headers.len);
	if (extra)
		buf_append_str(&b, extra);
	buf_append_str(&b, "\r\n");
	bool head_only = q && q->method == HTTP_M_HEAD;
	if (body_allowed(status) && !head_only && len)
		buf_append(&b, body, len);
	conn_write(hc->c, b.data, b.len);
	buf_clear(&b);
}

static void hc_close(struct http_conn *hc, const char *reason)
{
	hc->state = HC_CLOSING;
	hc->deadline_ms = 0;
	list_remove(&hc->wait_link);
	conn_close(hc->c, reason);
}

/* After a response: the next request, or the end. */
static void hc_after_response(struct http_conn *hc, bool close)
{
	if (close) {
		hc_close(hc, "closed after the response");
		return;
	}
	hc->state = HC_IDLE;
	hc->deadline_ms = hc_now(hc) + hc_cfg(hc)->http.idle_timeout * 1000ULL;
	if (!hc->processing)
		hc_process(hc);
}

/* A refusal that ends the connection. */
static void hc_refuse(struct http_conn *hc, int status, const char *why, const char *setting, const char *extra)
{
	struct http_request *q = hc->req ? hc->req : hc->rd.req;
	char what[256];
	describe(q, what, sizeof(what));
	hc->hw->refused++;
	log_info("http", "conn=%llu %s: refused %s: %d %s: %s%s%s%s", hc_id(hc), conn_peer(hc->c), what, status,
		 http_status_text(status), why, setting ? " (the limit is " : "", setting ? setting : "",
		 setting ? ")" : "");
	char body[320];
	int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, http_status_text(status), why);
	write_response(hc, q, status, "text/plain; charset=utf-8", body,
		       n > 0 && (size_t)n < sizeof(body) ? (size_t)n : strlen(body), 0, true, extra);
	char reason[300];
	snprintf(reason, sizeof(reason), "refused with %d: %s", status, why);
	hc_close(hc, reason);
}

/* Answered before the handler ran, with no body on its way: the reader
 * still holds the request and lets it go at DONE, which the next byte
 * (the end of the header fields) brings. */
static void hc_answered(struct http_conn *hc, struct http_request *q)
{
	q->responded = true;
	hc->state = HC_BODY;
	hc->deadline_ms = hc_now(hc) + hc_cfg(hc)->http.body_timeout * 1000ULL;
	if (!hc->processing)
		hc_process(hc);
}

/* An answer from the router (404, 405, 401, 403) before the handler:
 * the connection goes on only when no body is on its way. */
static void hc_answer(struct http_conn *hc, struct http_request *q, int status, const char *why, const char *extra)
{
	if (q->body_expected || q->upgrade || !q->keep_alive) {
		hc_refuse(hc, status, why, NULL, extra);
		return;
	}
	char what[256];
	describe(q, what, sizeof(what));
	hc->hw->refused++;
	log_info("http", "conn=%llu %s: refused %s: %d %s: %s", hc_id(hc), conn_peer(hc->c), what, status,
		 http_status_text(status), why);
	char body[320];
	int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, http_status_text(status), why);
	write_response(hc, q, status, "text/plain; charset=utf-8", body,
		       n > 0 && (size_t)n < sizeof(body) ? (size_t)n : strlen(body), 0, false, extra);
	hc_answered(hc, q);
}

/* A name is a token (RFC 9110 §5.6.2); a value has no CR, LF or other
 * control character but HTAB. */
static bool header_ok(const char *s, bool name)
{
	if (!*s && name)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (name && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      strchr("!#$%&'*+-.^_`|~", c)))
			return false;
		if (!name && ((c < 0x20 && c != '\t') || c == 0x7f))
			return false;
	}
	return true;
}

void http_response_header(struct http_request *req, const char *name, const char *value)
{
	if (!header_ok(name, true) || !header_ok(value, false)) {
		log_error("http", "a handler of %s added an invalid response header field '%.60s'; left out",
			  http_request_path(req), name);
		return;
	}
	buf_printf(&req->resp_headers, "%s: %s\r\n", name, value);
}

void http_respond(struct http_request *req, int status, const char *content_type, const void *body, size_t len,
		  unsigned flags)
{
	struct http_conn *hc = req->hc;
	req->cancel = NULL;
	if (hc->state == HC_CLOSING) {
		/* Ending meanwhile (the server stops): the request goes
		 * with the connection. */
		req->responded = true;
		return;
	}
	bool close = (flags & HTTP_RESP_CLOSE) || !req->keep_alive || req->close_after ||
		     atomic_load(&hc->hw->w->stopping);
	write_response(hc, req, status, content_type, body, len, flags, close, NULL);
	hc->hw->requests++;
	if (hc->state != HC_SERVING) {
		/* Before the handler (an auth hook answering itself). */
		if (close || req->body_expected) {
			req->responded = true;
			hc_close(hc, "closed after the response");
		} else {
			hc_answered(hc, req);
		}
		return;
	}
	http_request_free(req);
	hc->req = NULL;
	hc_after_response(hc, close);
}

void http_respond_text(struct http_request *req, int status, const char *text)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s\n", text);
	http_respond(req, status, "text/plain; charset=utf-8", b.data, b.len, 0);
	buf_clear(&b);
}

void http_respond_json(struct http_request *req, int status, const json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	if (!text)
		log_fatal("http", "cannot serialise a JSON response");
	http_respond(req, status, "application/json", text, strlen(text), 0);
	free(text);
}

void http_respond_json_error(struct http_request *req, int status, const char *message)
{
	json_t *j = json_pack("{s:s}", "error", message);
	if (!j)
		log_fatal("http", "cannot build a JSON error");
	http_respond_json(req, status, j);
	json_decref(j);
}

/* ---- taking the connection over ---- */

static void hc_free(struct http_conn *hc)
{
	http_reader_clear(&hc->rd);
	http_request_free(hc->req);
	buf_clear(&hc->in);
	list_remove(&hc->link);
	list_remove(&hc->wait_link);
	free(hc);
}

struct conn *http_upgrade(struct http_request *req, const char *headers, const struct conn_handler *h, void *owner,
			  struct buf *rest)
{
	struct http_conn *hc = req->hc;
	if (hc->state == HC_CLOSING) {
		req->cancel = NULL;
		req->responded = true;
		return NULL;
	}
	if (hc->state != HC_SERVING || !req->route || !(req->route->flags & HTTP_ROUTE_UPGRADE)) {
		log_error("http", "http_upgrade on %s, a route without HTTP_ROUTE_UPGRADE; answering 500",
			  http_request_path(req));
		req->close_after = true;
		http_respond_text(req, 500, "internal error");
		return NULL;
	}
	struct conn *c = hc->c;
	struct buf b = BUF_INIT;
	buf_append_str(&b, "HTTP/1.1 101 Switching Protocols\r\n");
	if (headers)
		buf_append_str(&b, headers);
	buf_append_str(&b, "\r\n");
	conn_write(c, b.data, b.len);
	buf_clear(&b);
	if (hc->in.len > hc->in_off)
		buf_append(rest, hc->in.data + hc->in_off, hc->in.len - hc->in_off);
	hc->hw->requests++;
	log_debug("http", "conn=%llu %s: %s taken over (101)", hc_id(hc), conn_peer(c), http_request_path(req));
	conn_set_handler(c, h, owner);
	conn_resume_reading(c);
	hc->upgraded = true;
	hc->c = NULL;
	if (!hc->processing)
		hc_free(hc);
	return c;
}

/* ---- the steps of a request ---- */

/* The caller may go on: Continue if it waits for it, then the body. */
static void hc_admit(struct http_conn *hc, struct http_request *q)
{
	if (q->expect_continue)
		conn_write(hc->c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	hc->state = HC_BODY;
	hc->deadline_ms = hc_now(hc) + hc_cfg(hc)->http.body_timeout * 1000ULL;
	if (!hc->processing)
		hc_process(hc);
}

static const char *challenge(void)
{
	const struct http_auth_ops *ops = http_auth_current();
	return ops && ops->challenge ? ops->challenge : "Bearer realm=\"parley\"";
}

void http_auth_done(struct http_request *req, const struct http_auth_result *r)
{
	struct http_conn *hc = req->hc;
	req->cancel = NULL;
	if (!req->auth_pending || hc->state != HC_AUTH)
		return;
	req->auth_pending = false;
	req->auth = *r;
	req->auth.who[sizeof(req->auth.who) - 1] = '\0';
	req->auth.csrf_token[sizeof(req->auth.csrf_token) - 1] = '\0';
	const char *why = NULL;
	int status = http_auth_verdict(req->route->perm, req->method, &req->auth,
				       http_request_header(req, "x-csrf-token"), &why);
	if (status == 401) {
		char extra[400];
		snprintf(extra, sizeof(extra), "WWW-Authenticate: %s\r\n", challenge());
		hc_answer(hc, req, 401, why, extra);
		return;
	}
	if (status) {
		char text[300];
		snprintf(text, sizeof(text), "%s%s%s", req->auth.who[0] ? req->auth.who : "", req->auth.who[0] ? ": " : "",
			 why);
		hc_answer(hc, req, status, text, NULL);
		return;
	}
	hc_admit(hc, req);
}

static void hc_on_head(struct http_conn *hc)
{
	struct http_request *q = hc->rd.req;
	q->hc = hc;
	struct http_match m;
	http_route_find(hc->tables, q->method, q->path.data, q->path.len, &m);
	if (!m.route) {
		if (m.allow) {
			struct buf allow = BUF_INIT;
			buf_append_str(&allow, "Allow: ");
			http_methods_format(m.allow, &allow);
			buf_append_str(&allow, "\r\n");
			hc_answer(hc, q, 405, "this resource does not take this method", buf_cstr(&allow));
			buf_clear(&allow);
		} else {
			hc_answer(hc, q, 404, "no such resource", NULL);
		}
		return;
	}
	q->route = m.route;
	memcpy(q->params, m.params, m.nparams * sizeof(m.params[0]));
	q->nparams = m.nparams;
	if (m.route->perm == ROUTE_PERM_PUBLIC) {
		hc_admit(hc, q);
		return;
	}
	const struct http_auth_ops *ops = http_auth_current();
	if (!ops || !ops->check) {
		char extra[400];
		snprintf(extra, sizeof(extra), "WWW-Authenticate: %s\r\n", challenge());
		hc_answer(hc, q, 401, "no authentication is set up on this server", extra);
		return;
	}
	hc->state = HC_AUTH;
	hc->deadline_ms = 0;
	q->auth_pending = true;
	ops->check(q);
}

static void hc_on_done(struct http_conn *hc)
{
	struct http_request *q = http_reader_take(&hc->rd);
	if (q->responded) {
		http_request_free(q);
		hc_after_response(hc, false);
		return;
	}
	hc->req = q;
	hc->state = HC_SERVING;
	hc->deadline_ms = 0;
	hc->served++;
	/* An Upgrade the route does not take: answered, then closed, since
	 * the client may already be speaking the other protocol. */
	if (q->upgrade && !(q->route->flags & HTTP_ROUTE_UPGRADE))
		q->close_after = true;
	q->route->handler(q);
}

/* ---- input ---- */

/* The mark stays well below limits.outq_bytes, whatever the settings
 * say, so that a pause always comes before the disconnect. */
size_t http_pause_mark(const struct config *cfg)
{
	size_t half = cfg->limits.outq_bytes / 2;
	return cfg->http.output_pause_bytes < half ? cfg->http.output_pause_bytes : half;
}

static bool hc_over_output(const struct http_conn *hc)
{
	return conn_outq_bytes(hc->c) >= http_pause_mark(hc_cfg(hc));
}

/* Whether more input may be parsed now. */
static bool hc_parsing(const struct http_conn *hc)
{
	if (hc->upgraded)
		return false;
	switch (hc->state) {
	case HC_IDLE:
		return !hc_over_output(hc);
	case HC_HEAD:
	case HC_BODY:
		return true;
	default:
		return false;
	}
}

static void hc_set_reading(struct http_conn *hc, bool on)
{
	if (on == !hc->reading_paused)
		return;
	hc->reading_paused = !on;
	if (on)
		conn_resume_reading(hc->c);
	else
		conn_pause_reading(hc->c);
}

/* Parses what has arrived, as far as the state allows; then reads more
 * only when all of it was taken and the next request may begin.  Frees
 * hc when a handler took the connection over. */
static void hc_process(struct http_conn *hc)
{
	hc->processing = true;
	while (hc->in_off < hc->in.len && hc_parsing(hc)) {
		size_t used = 0;
		enum http_read ev =
			http_reader_feed(&hc->rd, hc->in.data + hc->in_off, hc->in.len - hc->in_off, &used);
		hc->in_off += used;
		if (hc->state == HC_IDLE && http_reader_busy(&hc->rd)) {
			hc->state = HC_HEAD;
			hc->deadline_ms = hc_now(hc) + hc_cfg(hc)->http.header_timeout * 1000ULL;
		}
		if (ev == HTTP_READ_HEAD)
			hc_on_head(hc);
		else if (ev == HTTP_READ_DONE)
			hc_on_done(hc);
		else if (ev == HTTP_READ_ERROR)
			hc_refuse(hc, hc->rd.status, hc->rd.why, hc->rd.setting, NULL);
		else if (used == 0)
			break;
	}
	hc->processing = false;
	if (hc->upgraded) {
		hc_free(hc);
		return;
	}
	if (hc->in_off == hc->in.len) {
		buf_clear(&hc->in); /* an idle connection keeps no input buffer */
		hc->in_off = 0;
	} else if (hc->in_off) {
		buf_consume(&hc->in, hc->in_off);
		hc->in_off = 0;
	}
	if (hc->state == HC_CLOSING)
		return;
	bool more = hc_parsing(hc) && hc->in.len == 0;
	hc_set_reading(hc, more);
	if (hc->state == HC_IDLE && hc_over_output(hc) && !list_linked(&hc->wait_link)) {
		if (!hc->paused_once)
			log_debug("http", "conn=%llu %s: %zu bytes of responses unread; reading paused until they are "
					  "(http.output_pause_bytes; logged once per connection)",
				  hc_id(hc), conn_peer(hc->c), conn_outq_bytes(hc->c));
		hc->paused_once = true;
		http_worker_wait(hc->hw, hc);
	}
}

void http_conn_drained(struct http_conn *hc)
{
	list_remove(&hc->wait_link);
	if (hc->state == HC_IDLE && !hc->processing)
		hc_process(hc);
}

void http_conn_stop(struct http_conn *hc)
{
	if (hc->state != HC_CLOSING)
		hc_close(hc, "the server is stopping");
}

/* ---- conn events ---- */

static void hc_on_read(void *owner, struct conn *c, const char *data, size_t len)
{
	(void)c;
	struct http_conn *hc = owner;
	if (hc->state == HC_CLOSING)
		return;
	buf_append(&hc->in, data, len);
	hc_process(hc); /* may free hc */
}

static void hc_on_handshake(void *owner, struct conn *c)
{
	struct http_conn *hc = owner;
	struct tls_session *t = conn_transport(c);
	const char *sni = tls_session_sni(t), *reason = NULL;
	enum tls_peer_cert pc = tls_session_peer_cert_status(t, &reason);
	log_debug("http", "conn=%llu %s: TLS established (%s, %s%s%s)%s%s", hc_id(hc), conn_peer(c),
		  tls_session_version(t), tls_session_cipher(t), sni ? ", SNI " : "", sni ? sni : "",
		  pc == TLS_PEER_CERT_VALID     ? "; client certificate verified"
		  : pc == TLS_PEER_CERT_INVALID ? "; client certificate refused: "
						: "",
		  pc == TLS_PEER_CERT_INVALID && reason ? reason : "");
	hc->state = HC_IDLE;
	hc->deadline_ms = hc_now(hc) + hc_cfg(hc)->http.idle_timeout * 1000ULL;
}

static void hc_on_tick(void *owner, struct conn *c, uint64_t now)
{
	struct http_conn *hc = owner;
	const struct config *cfg = hc_cfg(hc);
	if (hc->state == HC_CLOSING)
		return;
	if (list_linked(&hc->wait_link)) {
		if (!hc_over_output(hc)) {
			http_conn_drained(hc);
			return;
		}
		uint64_t last = conn_last_write_ms(c) > hc->wait_since_ms ? conn_last_write_ms(c) : hc->wait_since_ms;
		if (now - last >= cfg->http.idle_timeout * 1000ULL) {
			log_info("http", "conn=%llu %s: closing: the client has not read its responses for %u s "
					 "(http.idle_timeout)",
				 hc_id(hc), conn_peer(c), cfg->http.idle_timeout);
			hc_close(hc, "the client does not read its responses");
		}
		return;
	}
	if (!hc->deadline_ms || now < hc->deadline_ms)
		return;
	char why[160];
	switch (hc->state) {
	case HC_HANDSHAKE:
		hc->hw->refused++;
		log_info("http", "conn=%llu %s: refused: TLS handshake not complete within %u s (the limit is "
				 "http.header_timeout)",
			 hc_id(hc), conn_peer(c), cfg->http.header_timeout);
		hc_close(hc, "TLS handshake timeout");
		break;
	case HC_IDLE:
		log_debug("http", "conn=%llu %s: idle for %u s; closing (http.idle_timeout)", hc_id(hc), conn_peer(c),
			  cfg->http.idle_timeout);
		hc_close(hc, "idle");
		break;
	case HC_HEAD:
		snprintf(why, sizeof(why), "request line and header fields not received within %u s",
			 cfg->http.header_timeout);
		hc_refuse(hc, 408, why, "http.header_timeout", NULL);
		break;
	case HC_BODY:
		snprintf(why, sizeof(why), "body not received within %u s", cfg->http.body_timeout);
		hc_refuse(hc, 408, why, "http.body_timeout", NULL);
		break;
	default:
		break;
	}
}

static void hc_on_close(void *owner, struct conn *c, const char *reason)
{
	struct http_conn *hc = owner;
	log_debug("http", "conn=%llu %s: closed (%s); %llu request%s, %llu bytes in, %llu out",
		  (unsigned long long)conn_id(c), conn_peer(c), reason, (unsigned long long)hc->served,
		  hc->served == 1 ? "" : "s", (unsigned long long)conn_bytes_in(c), (unsigned long long)conn_bytes_out(c));
	struct http_request *pending[2] = {hc->req, hc->rd.req};
	for (size_t i = 0; i < 2; i++) {
		struct http_request *q = pending[i];
		if (q && q->cancel) {
			void (*cancel)(void *) = q->cancel;
			q->cancel = NULL;
			cancel(q->cancel_arg);
		}
	}
	hc->c = NULL;
	hc_free(hc);
}

/* ---- accepting ---- */

/* An HTTP connection on `c` (accepted here; its handler is set to ours). */
static struct http_conn *hc_new(struct http_worker *hw, struct conn *c, bool tls, unsigned listener)
{
	const struct config *cfg = hw->srv->cfg;
	struct http_conn *hc = xcalloc(1, sizeof(*hc));
	hc->hw = hw;
	list_init(&hc->link);
	list_init(&hc->wait_link);
	struct http_limits lim;
	http_limits_from_config(cfg, &lim);
	http_reader_init(&hc->rd, &lim);
	hc->plain = !tls;
	hc->listener = listener;
	hc->tables = http_tables_for(listener);
	hc->c = c;
	conn_set_handler(c, &http_conn_handler, hc);
	list_insert_tail(&hw->conns, &hc->link);
	conn_set_outq_limit(c, cfg->limits.outq_bytes);
	conn_set_read_rate(c, cfg->limits.read_rate, cfg->limits.read_burst);
	return hc;
}

void http_conn_accept(struct worker *w, int fd, void *ud)
{
	const struct http_port *port = ud;
	struct http_worker *hw = http_worker_of(w);
	const struct config *cfg = hw->srv->cfg;
	struct conn *c = conn_new(w, fd, &http_conn_handler, NULL);
	struct http_conn *hc = hc_new(hw, c, port->tls, port->listener);
	char local[64];
	log_debug("http", "conn=%llu accepted from %s on %s (%s%s)", hc_id(hc), conn_peer(c),
		  conn_local(c, local, sizeof(local)), port->tls ? "HTTPS" : "plain HTTP",
		  port->listener == HTTP_LISTENER_WEB ? ", web" : "");
	conn_start(c);
	if (port->tls) {
		hc->state = HC_HANDSHAKE;
		hc->deadline_ms = worker_now(w) + cfg->http.header_timeout * 1000ULL;
		struct tls_session_config tc = {.alpn = alpn_http, .nalpn = 1, .client_auth = hw->srv->client_auth};
		conn_set_transport(c, &tls_transport_ops, tls_session_new_server_ex(hw->srv->tls, &tc));
	} else {
		hc->state = HC_IDLE;
		hc->deadline_ms = worker_now(w) + cfg->http.idle_timeout * 1000ULL;
	}
}

void http_adopt(struct shard *sh, struct conn *c, unsigned listener, const char *data, size_t len)
{
	struct http_conn *hc = hc_new(http_worker_of(sh->w), c, true, listener);
	/* What an HTTPS accept does when its handshake ends, then the bytes
	 * the shared port read while it looked at the stream. */
	hc->state = HC_HANDSHAKE;
	hc_on_handshake(hc, c);
	if (len)
		hc_on_read(hc, c, data, len); /* may free hc */
}
