/*
 * http: BOSH's routes on the web listener, and the way of one request:
 * read and checked on the HTTP connection's worker, posted to the worker
 * its sid names (or a new session made right here), answered there, and
 * posted back here to be written.  The request may outlive its client:
 * http_request_set_cancel forgets it, and the answer is then dropped when
 * it comes home.
 *
 * CORS (browsers on another origin, http/origin.c): an Origin listed in
 * http.allowed_origins (or "*"), or the listener's own, gets
 * Access-Control-Allow-Origin; an OPTIONS preflight is answered for it;
 * any other Origin is refused (403) before the body is looked at.  A page
 * allowed only by "*" may not log in with the browser's client
 * certificate (C2S_ADOPT_NO_EXTERNAL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bosh/bosh.h"
#include "bosh/internal.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "http/http.h"
#include "router/shard.h"
#include "xml/xml.h"

/* ---- requests on their way ---- */

struct bosh_req *bosh_req_new(struct worker *home, struct http_request *req)
{
	struct bosh_req *r = xcalloc(1, sizeof(*r));
	r->home = home;
	r->req = req;
	buf_init(&r->body.payload);
	buf_init(&r->resp);
	list_init(&r->qlink);
	return r;
}

void bosh_req_free(struct bosh_req *r)
{
	if (!r)
		return;
	buf_clear(&r->body.payload);
	buf_clear(&r->resp);
	free(r);
}

static void cancelled(void *arg)
{
	struct bosh_req *r = arg;
	r->req = NULL; /* home's field only: the rest may be on another worker */
}

/* ---- CORS (http/origin.c decides) ---- */

/* False (and answered 403) for an Origin we do not serve; otherwise the
 * CORS headers it needs are added to the response. */
static bool cors(struct http_request *req)
{
	if (http_request_origin(req) == HTTP_ORIGIN_REFUSED) {
		struct slice origin = http_request_header(req, "origin");
		log_info("bosh", "%s: a request from origin '%.*s', which http.allowed_origins does not list (403)",
			 http_request_peer(req), (int)(origin.len > 200 ? 200 : origin.len), origin.p);
		http_respond_text(req, 403, "this origin may not use BOSH here (http.allowed_origins)");
		return false;
	}
	http_response_cors(req);
	return true;
}

/* ---- answers, at home ---- */

static void home_run(struct worker *w, struct worker_msg *m)
{
	(void)w;
	struct bosh_req *r = container_of(m, struct bosh_req, msg);
	if (r->req) {
		struct http_request *req = r->req;
		r->req = NULL;
		if (r->terminal)
			log_debug("bosh", "%s: answered with a terminate (sid %.8s...)", http_request_peer(req),
				  r->body.sid[0] ? r->body.sid : "none");
		http_request_set_cancel(req, NULL, NULL);
		if (cors(req))
			http_respond(req, 200, "text/xml; charset=utf-8", r->resp.data ? r->resp.data : "", r->resp.len,
				     0);
	}
	bosh_req_free(r);
}

void bosh_req_send_home(struct bosh_req *r)
{
	r->msg.run = home_run;
	/* An answer must not be lost: past the inbox bound too. */
	worker_post_force(r->home, &r->msg);
}

void bosh_req_terminate(struct bosh_req *r, const char *cond)
{
	buf_reset(&r->resp);
	buf_printf(&r->resp, "<body xmlns='" BOSH_NS "' type='terminate' condition='%s'/>", cond);
	r->terminal = true;
	bosh_req_send_home(r);
}

/* ---- the routes ---- */

static void dispatch_run(struct worker *w, struct worker_msg *m)
{
	bosh_dispatch(w, container_of(m, struct bosh_req, msg));
}

static void bosh_post(struct http_request *req)
{
	struct conn *c = http_request_conn(req);
	struct worker *w = conn_worker(c);
	const struct config *cfg = shard_of(w)->srv->cfg;
	enum http_origin ov = http_request_origin(req);
	if (ov == HTTP_ORIGIN_REFUSED) {
		cors(req); /* answers 403 */
		return;
	}
	struct bosh_req *r = bosh_req_new(w, req);
	struct slice body = http_request_body(req);
	struct xml_limits lim = {
		.stanza_bytes = cfg->limits.stanza_bytes,
		.header_bytes = cfg->limits.header_bytes,
		.depth = cfg->limits.depth,
		.elements = cfg->limits.elements,
		.attrs = cfg->limits.attrs,
		.attr_bytes = cfg->limits.attr_bytes,
	};
	const char *why = NULL;
	enum bosh_body_error e = bosh_body_parse(body.p, body.len, &lim, &r->body, &why);
	http_request_set_cancel(req, cancelled, r);
	if (e != BOSH_BODY_OK) {
		log_info("bosh", "%s: request refused (%s): %s", http_request_peer(req), bosh_body_error_condition(e),
			 why);
		bosh_req_terminate(r, bosh_body_error_condition(e));
		return;
	}
	if (!r->body.sid[0]) {
		bosh_session_create(w, r, c, http_request_peer(req), ov == HTTP_ORIGIN_ANY);
		return;
	}
	int owner = bosh_sid_worker(r->body.sid, shard_of(w)->srv->nworkers);
	if (owner < 0) {
		log_info("bosh", "%s: a request for sid %.8s..., which names no session (item-not-found)",
			 http_request_peer(req), r->body.sid);
		bosh_req_terminate(r, "item-not-found");
		return;
	}
	if ((unsigned)owner == w->id) {
		bosh_dispatch(w, r);
		return;
	}
	r->msg.run = dispatch_run;
	if (!worker_post(&shard_of(w)->srv->workers[owner], &r->msg)) {
		/* The session's worker is overloaded: say so, the client
		 * sends the same rid again later. */
		r->req = NULL;
		http_request_set_cancel(req, NULL, NULL);
		http_respond_text(req, 503, "busy; send the request again");
		bosh_req_free(r);
	}
}

static void bosh_options(struct http_request *req)
{
	if (!cors(req))
		return;
	http_response_header(req, "Access-Control-Allow-Methods", "POST, OPTIONS");
	http_response_header(req, "Access-Control-Allow-Headers", "Content-Type");
	http_response_header(req, "Access-Control-Max-Age", "86400");
	http_respond(req, 204, NULL, NULL, 0, 0);
}

static const char *bosh_path(const struct config *cfg)
{
	return cfg->http.bosh_path;
}

/* On http.bosh_path ("" turns BOSH off: the rows are left out). */
static const struct http_route rows[] = {
	{HTTP_M_POST, "/http-bind", ROUTE_PERM_PUBLIC, bosh_post, 0, bosh_path},
	{HTTP_M_OPTIONS, "/http-bind", ROUTE_PERM_PUBLIC, bosh_options, 0, bosh_path},
};

const struct http_route_table bosh_routes = HTTP_ROUTE_TABLE_ON("bosh", rows, HTTP_LISTENER_WEB);
