/*
 * http: one HTTP/1.1 server on Parley's own connection layer (core/conn.h),
 * so that HTTPS shares the TLS transport, client certificates, read-rate
 * budget, output-queue cap and deferred close of XMPP streams.  Requests
 * are parsed by Debian's http-parser under our limits (http/parse.c);
 * what a request means is decided by const tables of routes, listed in
 * one place (http/routes.c), and every route names the permission it
 * needs, enforced before its handler runs.
 *
 * It listens twice: the admin listener (http.admin_*: the admin API) and
 * the public web listener for client transports (http.web_*: WebSocket,
 * BOSH, XEP-0156 discovery).  Each route table says which listeners serve
 * it (HTTP_LISTENER_*), so the admin API is never reachable on the public
 * port.  It is not a general web server: no static file tree, no
 * proxying, no HTTP/2.
 *
 * Threads: everything here runs on the worker that owns the connection.
 * A handler that answers later (work on the thread pool, a post to
 * another worker) must come back to that worker before it calls any
 * http_respond* or http_auth_done.
 */
#ifndef PARLEY_HTTP_HTTP_H
#define PARLEY_HTTP_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/slice.h"

struct buf;
struct config;
struct conn;
struct conn_handler;
struct http_request;
struct service_ops;

/* A connection a port shared by several kinds of stream accepted (mux/):
 * TLS is established and ALPN said http/1.1, or the first bytes were a
 * request line; `data` is what it read after the handshake.  It is served
 * the tables of `listeners` (a mask of HTTP_LISTENER_* bits), taking the
 * conn over (handler and owner). */
struct shard;
void http_adopt(struct shard *sh, struct conn *c, unsigned listeners, const char *data, size_t len);

/* ---- Methods ---- */

/* A route's methods, as a set.  HEAD is served wherever GET is (without
 * the body); a method outside this set gets 501. */
enum {
	HTTP_M_GET = 1u << 0,
	HTTP_M_HEAD = 1u << 1,
	HTTP_M_POST = 1u << 2,
	HTTP_M_PUT = 1u << 3,
	HTTP_M_PATCH = 1u << 4,
	HTTP_M_DELETE = 1u << 5,
	HTTP_M_OPTIONS = 1u << 6,
	HTTP_M_ALL = (1u << 7) - 1,
	/* Methods that change state: with a cookie session they need the
	 * CSRF token (struct http_auth_result). */
	HTTP_M_UNSAFE = HTTP_M_POST | HTTP_M_PUT | HTTP_M_PATCH | HTTP_M_DELETE,
};

/* "GET", "POST"...; "?" for anything that is not one method bit. */
const char *http_method_name(unsigned method);

/* ---- Permissions ---- */

/*
 * What a caller must be to reach a route, in increasing order.  The zero
 * value is no permission at all: a route that forgot to say is refused
 * when the tables are checked at start-up (http_routes_check), so it can
 * never be reached by accident.
 */
enum http_perm {
	ROUTE_PERM_UNSET = 0,
	ROUTE_PERM_PUBLIC, /* anyone: health check, the login page, static assets */
	ROUTE_PERM_READ,   /* an authenticated caller, read-only tokens included */
	ROUTE_PERM_ADMIN,  /* an administrator: everything that changes state */
	ROUTE_PERM_COUNT,
};

const char *http_perm_name(enum http_perm p);

/* ---- Routes ---- */

/*
 * A handler answers its request with one http_respond* call, now or later
 * (then it keeps `req` until it does, and should register a cancel with
 * http_request_set_cancel in case the client goes away first), or takes
 * the connection over with http_upgrade.  It never frees `req`.
 */
typedef void http_handler_fn(struct http_request *req);

enum {
	/* The route takes an `Upgrade:` request (WebSocket): its handler may
	 * call http_upgrade.  On other routes such a request is answered as
	 * usual and the connection then closed. */
	HTTP_ROUTE_UPGRADE = 1u << 0,
};

enum { HTTP_ROUTE_PARAMS_MAX = 8 };

/* The listeners, as a set: which of them serve a route table. */
enum {
	HTTP_LISTENER_ADMIN = 1u << 0, /* http.admin_listen: admin_port, admin_plain_port */
	HTTP_LISTENER_WEB = 1u << 1,   /* http.web_listen: web_port (client web transports) */
	HTTP_LISTENER_ALL = (1u << 2) - 1,
	HTTP_LISTENER_COUNT = 2,
};

/*
 * One row of a route table.  `path` is matched against the request's
 * decoded, normalised path (http_path_normalize), case-sensitively, one
 * segment at a time: a segment is literal, or "*" (exactly one non-empty
 * segment, available to the handler as http_request_param), or "**" as
 * the last segment (whatever follows that '/', possibly nothing: with
 * "**" after "/a", "/a/" and "/a/b/c" match, "/a" does not).  A path is in
 * canonical form: lower case, '/' first, no empty, "." or ".." segment; a
 * trailing '/' is part of it ("/admin/" and "/admin" are two routes).
 * When several rows match, the most specific wins: literal before "*"
 * before "**", segment by segment from the left.
 */
struct http_route {
	unsigned methods; /* HTTP_M_* */
	const char *path;
	enum http_perm perm;
	http_handler_fn *handler;
	unsigned flags; /* HTTP_ROUTE_* */
	/* A path the operator chooses (http.websocket_path): when set, it
	 * replaces `path`, read once at start-up; NULL from it (the setting
	 * is empty) leaves the row out. */
	const char *(*path_of)(const struct config *cfg);
};

/* A module's routes: `routes[n]`, its name for error messages, and the
 * listeners that serve it (HTTP_LISTENER_*; none is refused at start-up). */
struct http_route_table {
	const char *name;
	const struct http_route *routes;
	size_t n;
	unsigned listeners;
};

/* A table on the admin listener, as every table was before there was a
 * web listener; HTTP_ROUTE_TABLE_ON names the listeners. */
#define HTTP_ROUTE_TABLE(name_, rows_) HTTP_ROUTE_TABLE_ON(name_, rows_, HTTP_LISTENER_ADMIN)
#define HTTP_ROUTE_TABLE_ON(name_, rows_, listeners_)                                                         \
	{(name_), (rows_), sizeof(rows_) / sizeof((rows_)[0]), (listeners_)}

/* Every table the server serves, NULL-terminated (http/routes.c: the one
 * place that lists them). */
extern const struct http_route_table *const http_route_tables[];
/* http/'s own routes (GET /healthz, public, on every listener). */
extern const struct http_route_table http_builtin_table;
/* XEP-0156 discovery on the web listener: /.well-known/host-meta and
 * host-meta.json name the WebSocket URL (and BOSH's, once it is served). */
extern const struct http_route_table http_discovery_table;

/*
 * Checks every row of every table: listeners that are set and known, a
 * permission that is set and known, methods within HTTP_M_ALL and not
 * none, a handler, a canonical pattern, and no two rows with the same
 * pattern sharing a method and a listener.  Rows whose path comes from the
 * configuration (path_of) are checked once it is known: the service
 * checks the tables again at setup with the paths filled in.  0, or -1
 * with *err (heap: "routes 'admin': GET /api/x: no permission
 * (ROUTE_PERM_UNSET)").  A bad table stops the server.
 */
int http_routes_check(const struct http_route_table *const *tables, char **err);

/* ---- Requests (valid until the response is sent) ---- */

unsigned http_request_method(const struct http_request *req); /* one HTTP_M_* bit */
/* The decoded, normalised path the route matched ("/api/users/a@b"). */
const char *http_request_path(const struct http_request *req);
/* The i-th "*" segment of the route's pattern, decoded; empty past the last. */
struct slice http_request_param(const struct http_request *req, unsigned i);
/* The query as sent (after '?', not decoded); empty when there is none. */
struct slice http_request_query(const struct http_request *req);
/* The value of the first `name` parameter of the query, percent-decoded
 * ('+' is a space) into `out` (appended); false when absent or not valid
 * UTF-8 without NUL. */
bool http_request_query_param(const struct http_request *req, const char *name, struct buf *out);
/* The first header field called `name` (lower case), value without the
 * surrounding whitespace; SLICE_NULL when absent. */
struct slice http_request_header(const struct http_request *req, const char *name);
/* Header fields in the order received; false past the last.  Names are
 * lower case. */
bool http_request_header_at(const struct http_request *req, size_t i, struct slice *name, struct slice *value);
/* The body, chunked transfer coding removed; empty when there is none. */
struct slice http_request_body(const struct http_request *req);
/* The connection (its TLS session: conn_transport), for client certificates. */
struct conn *http_request_conn(const struct http_request *req);
/* The listener that received it (one HTTP_LISTENER_* bit). */
unsigned http_request_listener(const struct http_request *req);
/* The server's configuration. */
const struct config *http_request_config(const struct http_request *req);
bool http_request_secure(const struct http_request *req);
/* "127.0.0.1:40312", for log lines. */
const char *http_request_peer(const struct http_request *req);

/* `cancel(arg)` runs, once, if the connection ends before the response
 * was sent (or http_auth_done was called): the caller then forgets req.
 * NULL unregisters.  While a request is with its handler or the hook the
 * connection is not read (pipelined requests wait), so a client that
 * leaves is noticed when the answer is written; cancel is for what ends
 * the connection meanwhile: the server stopping, a budget. */
void http_request_set_cancel(struct http_request *req, void (*cancel)(void *arg), void *arg);

/* ---- Origins (browsers; shared by every web transport) ---- */

/*
 * Whose page a browser's request comes from, by its Origin header
 * (RFC 6454) and http.allowed_origins.  An empty list allows no page of
 * another origin: web clients on other sites need their origin listed
 * ("https://chat.example.org"), or "*" for any.  Origins compare as ASCII
 * case-insensitive strings, without a trailing '/'.
 */
enum http_origin {
	HTTP_ORIGIN_NONE,    /* no Origin: not a browser's cross-origin request */
	HTTP_ORIGIN_SAME,    /* this listener's own (https:// and the Host) */
	HTTP_ORIGIN_LISTED,  /* named in http.allowed_origins */
	HTTP_ORIGIN_ANY,     /* allowed only by "*" in http.allowed_origins */
	HTTP_ORIGIN_REFUSED, /* another origin, not allowed */
};
enum http_origin http_request_origin(const struct http_request *req);
/* Adds the CORS answer for a response to req (before http_respond*):
 * Access-Control-Allow-Origin with the request's origin when it is
 * listed (and Vary: Origin), "*" when only "*" allows it, nothing when
 * there is no Origin or it is refused. */
void http_response_cors(struct http_request *req);

/* ---- Authentication (plugged in by the admin API) ---- */

enum http_auth_via {
	HTTP_AUTH_NONE = 0, /* no credentials were presented */
	HTTP_AUTH_COOKIE,   /* a session cookie: CSRF rules apply */
	HTTP_AUTH_BEARER,   /* Authorization: Bearer (API token) */
	HTTP_AUTH_BASIC,    /* Authorization: Basic (an admin's XMPP password) */
	HTTP_AUTH_CERT,     /* a verified TLS client certificate */
};

/*
 * What the hook found out about a caller.  `level` is what the caller may
 * reach: ROUTE_PERM_PUBLIC for anonymous callers, and also for callers
 * whose credentials were wrong (then `failed` says so, for the log).  A
 * cookie session must give its CSRF token: state-changing requests
 * (HTTP_M_UNSAFE) authenticated by a cookie must carry it in the
 * X-CSRF-Token header, or they get 403; without one they are refused.
 */
struct http_auth_result {
	enum http_perm level;
	enum http_auth_via via;
	bool failed;
	char who[128];        /* "admin@example.org", "token backup": for log lines */
	char csrf_token[128]; /* with HTTP_AUTH_COOKIE */
};

struct http_auth_ops {
	/* Looks at the request's credentials (headers, client certificate)
	 * and calls http_auth_done once, now or later (a password check on
	 * the thread pool).  Only for routes that need more than PUBLIC;
	 * before the request body is read. */
	void (*check)(struct http_request *req);
	/* The WWW-Authenticate value(s) of a 401; NULL: "Bearer realm=\"parley\"". */
	const char *challenge;
};

/* Installs the hook: call from a service's setup (main thread, before the
 * workers start); NULL removes it.  Without a hook every route that needs
 * more than PUBLIC answers 401. */
void http_auth_set(const struct http_auth_ops *ops);

/* The verdict of the hook for `req` (copied).  The router then answers
 * 401 (with WWW-Authenticate) to a caller below the route's permission
 * who is anonymous, 403 to one who is known but not enough or who fails
 * the CSRF check, and otherwise reads the body and runs the handler. */
void http_auth_done(struct http_request *req, const struct http_auth_result *r);

/* What the hook said, for handlers (who is calling). */
const struct http_auth_result *http_request_auth(const struct http_request *req);

/* ---- Responses ---- */

enum {
	/* An HTML page: adds a strict Content-Security-Policy (scripts,
	 * styles and images from this origin only, no framing, no inline
	 * script), X-Frame-Options and Referrer-Policy. */
	HTTP_RESP_HTML = 1u << 0,
	/* A static asset that may be cached (max-age=3600); everything else
	 * is Cache-Control: no-store. */
	HTTP_RESP_CACHEABLE = 1u << 1,
	/* Ends the connection after this response. */
	HTTP_RESP_CLOSE = 1u << 2,
};

/* Adds a header to the response (before http_respond*): "Set-Cookie",
 * "Location"...  Name and value must not hold CR or LF (refused with a
 * log line if they do). */
void http_response_header(struct http_request *req, const char *name, const char *value);

/*
 * Sends the response: status line, the headers every response carries
 * (Content-Length, X-Content-Type-Options: nosniff, Cache-Control,
 * Connection when it closes), those added with http_response_header,
 * then `body` (not for HEAD or a 1xx/204/304).  After this `req` is gone.
 */
void http_respond(struct http_request *req, int status, const char *content_type, const void *body, size_t len,
		  unsigned flags);
/* text/plain; charset=utf-8, `text` and a newline. */
void http_respond_text(struct http_request *req, int status, const char *text);
/* application/json, compact. */
void http_respond_json(struct http_request *req, int status, const json_t *body);
/* {"error": message} as application/json. */
void http_respond_json_error(struct http_request *req, int status, const char *message);

/* "Not Found" for 404...; "Unknown" for a code we do not name. */
const char *http_status_text(int status);

/*
 * Takes the connection over (from a route with HTTP_ROUTE_UPGRADE):
 * writes "101 Switching Protocols" with `headers` (each "Name: value\r\n"),
 * appends the bytes the client sent after the request to `rest` (they
 * belong to the new protocol: the caller feeds them first), and makes
 * `h` and `owner` hear the connection's events from now on.  Budgets
 * (read rate, output cap) stay; timeouts become the new owner's.  After
 * this `req` is gone; returns the connection, or NULL when it was
 * closing (the server stops) and nothing was taken over.
 */
struct conn *http_upgrade(struct http_request *req, const char *headers, const struct conn_handler *h, void *owner,
			  struct buf *rest);

/* ---- The service ---- */

/* http as a service of the server (router/service.h): the admin
 * listener (http.admin_listen, admin_port over TLS, admin_plain_port in
 * the clear on loopback), the web listener (http.web_listen, web_port
 * over TLS), their connections and the route tables. */
extern const struct service_ops http_service;

#endif
