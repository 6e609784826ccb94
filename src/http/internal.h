/*
 * http internals shared by the files of src/http/: the request as it is
 * read (parse.c), the path rules and the route lookup (path.c, router.c),
 * one connection (connection.c) and the per-worker state (service.c).
 */
#ifndef PARLEY_HTTP_INTERNAL_H
#define PARLEY_HTTP_INTERNAL_H

#include <http_parser.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/list.h"
#include "core/listener.h"
#include "http/http.h"

struct config;
struct server;
struct worker;

/* ---- Paths (path.c): pure functions ---- */

/* Why a request path is refused (400). */
enum http_path_error {
	HTTP_PATH_OK = 0,
	HTTP_PATH_NOT_ABSOLUTE,  /* not "/..." */
	HTTP_PATH_BAD_ESCAPE,    /* '%' without two hex digits */
	HTTP_PATH_ENCODED_SLASH, /* %2F: a '/' that does not separate segments */
	HTTP_PATH_BACKSLASH,     /* '\' raw or %5C */
	HTTP_PATH_NUL,           /* %00 */
	HTTP_PATH_CONTROL,       /* another control character */
	HTTP_PATH_BAD_UTF8,      /* invalid or overlong UTF-8 (%c0%ae) after decoding */
	HTTP_PATH_DOT_SEGMENT,   /* "." or ".." (also %2e%2e): never resolved */
	HTTP_PATH_PARAMETER,     /* ';' (path parameters, "..;/") */
	HTTP_PATH_EMPTY_SEGMENT, /* "//" */
};

/*
 * Decodes the path part of a request target (no query) once and checks
 * it: the decoded path is appended to `out` (NUL-terminated by buf_cstr)
 * on HTTP_PATH_OK.  Nothing is folded or resolved: a path that would need
 * it is refused, and case is kept (routes are matched case-sensitively).
 */
enum http_path_error http_path_normalize(const char *raw, size_t len, struct buf *out);
/* One sentence for the log and the 400 body. */
const char *http_path_error_text(enum http_path_error e);

/* True when `pattern` is in the canonical form route tables use
 * (http.h, struct http_route); *why says what is wrong otherwise. */
bool http_pattern_valid(const char *pattern, const char **why);

/* Matches a normalised path against a pattern; the "*" segments go to
 * params (slices of path), at most HTTP_ROUTE_PARAMS_MAX. */
bool http_pattern_match(const char *pattern, const char *path, size_t len, struct slice *params, unsigned *nparams);

/* >0 when pattern a is more specific than b for a path both match, <0
 * when less, 0 when they are the same pattern. */
int http_pattern_cmp(const char *a, const char *b);

/* ---- Routing (router.c) ---- */

struct http_match {
	const struct http_route *route; /* NULL: no route for this method */
	const struct http_route_table *table;
	unsigned allow; /* methods of every row whose pattern matched (405's Allow) */
	struct slice params[HTTP_ROUTE_PARAMS_MAX];
	unsigned nparams;
};

/* The most specific row whose pattern matches `path` and whose methods
 * hold `method` (HEAD is in every row that has GET). */
void http_route_find(const struct http_route_table *const *tables, unsigned method, const char *path, size_t len,
		     struct http_match *m);
/* "GET, HEAD, POST" for an Allow header. */
void http_methods_format(unsigned methods, struct buf *out);

/*
 * What the router does with the auth hook's verdict for a route that
 * needs `need`: 0 to go on, 401 for an anonymous caller or refused
 * credentials below it, 403 for a known caller below it, and 403 for a
 * state-changing method (HTTP_M_UNSAFE) authenticated by a cookie whose
 * X-CSRF-Token (`csrf`, SLICE_NULL when absent) is missing or is not the
 * session's.  *why is one sentence.
 */
int http_auth_verdict(enum http_perm need, unsigned method, const struct http_auth_result *r, struct slice csrf,
		      const char **why);

/* The hook http_auth_set installed (NULL: none). */
const struct http_auth_ops *http_auth_current(void);

/* ---- Requests ---- */

struct http_header_ref {
	uint32_t name_off, name_len;
	uint32_t value_off, value_len;
};

/* Owner: its connection (or the reader while it is being read); freed
 * after its response (http_request_free). */
struct http_request {
	struct http_conn *hc; /* NULL outside a connection (unit tests) */
	unsigned method;      /* one HTTP_M_* bit; 0 for a method we do not serve */
	unsigned parser_method; /* enum http_method, for log lines */
	bool method_known;      /* parser_method is set (the target began) */
	unsigned short major, minor;

	/* The target, then every header name and value, as received (names
	 * lower-cased): bounded by http.header_bytes. */
	struct buf head;
	uint32_t target_len;
	struct http_header_ref *headers;
	size_t nheaders, capheaders;
	bool in_value; /* the last header callback was a value */
	size_t trailer_bytes;

	struct buf path; /* decoded, normalised */
	size_t query_off, query_len; /* in head; query_len 0: none */

	struct buf body;
	bool body_expected; /* Content-Length > 0 or chunked */
	bool keep_alive;    /* as the client asked, at the headers */
	bool upgrade;       /* Upgrade with Connection: upgrade */
	bool expect_continue;
	bool te_bad;        /* a transfer coding other than chunked */

	const struct http_route *route;
	struct slice params[HTTP_ROUTE_PARAMS_MAX];
	unsigned nparams;
	struct http_auth_result auth;
	bool auth_pending;

	struct buf resp_headers; /* added by http_response_header */
	void (*cancel)(void *arg);
	void *cancel_arg;
	bool responded;
	bool close_after; /* the response said Connection: close */
};

struct http_request *http_request_new(void);
void http_request_free(struct http_request *req);

/* ---- Reading requests (parse.c): bytes in, requests out, no I/O ---- */

struct http_limits {
	size_t header_bytes; /* request line and header fields (431, 414 in the line) */
	size_t uri_bytes;    /* request target (414) */
	unsigned max_headers; /* header fields (431) */
	size_t body_bytes;   /* body after dechunking (413) */
};

void http_limits_from_config(const struct config *cfg, struct http_limits *lim);

enum http_read {
	HTTP_READ_MORE,  /* all of the input was taken; send more */
	HTTP_READ_HEAD,  /* the request line and headers are complete and valid */
	HTTP_READ_DONE,  /* the request is complete (body included) */
	HTTP_READ_ERROR, /* refused: status, why and setting say how */
};

/* One connection's reader.  Between HEAD and DONE the caller may look at
 * `req` (route, authenticate); at DONE it takes `req` (http_reader_take). */
struct http_reader {
	http_parser p;
	struct http_limits lim;
	struct http_request *req; /* the request being read; NULL between requests */
	size_t head_bytes;        /* of the current request's line and headers */
	bool head_done;
	enum http_read event;     /* set by a callback that paused the parser */
	const char *feed_end;     /* end of the bytes of the current feed */
	bool value_ended;         /* the last header value ended with its line */
	/* Debian builds http-parser without HTTP_PARSER_STRICT: the framing
	 * it takes (all but body data) is checked again here for bare CRs
	 * and the request line's version literal. */
	const char *scan_from;
	bool prev_cr;
	bool line_done;           /* the request line ended */
	size_t line_len;
	char line_tail[16];       /* its last bytes, for "HTTP/d.d" */
	/* With HTTP_READ_ERROR: */
	int status;
	const char *setting; /* the limit to raise, or NULL */
	char why[200];
};

void http_reader_init(struct http_reader *r, const struct http_limits *lim);
void http_reader_clear(struct http_reader *r);
/* Feeds bytes; *used says how many were taken (the rest is for after the
 * event).  Once HTTP_READ_ERROR is returned the reader stays failed. */
enum http_read http_reader_feed(struct http_reader *r, const char *data, size_t len, size_t *used);
/* True once a request began (its first byte arrived). */
bool http_reader_busy(const struct http_reader *r);
/* The complete request (after HTTP_READ_DONE); the reader starts over. */
struct http_request *http_reader_take(struct http_reader *r);

/* ---- Connections (connection.c) ---- */

struct http_worker;

enum http_conn_state {
	HC_HANDSHAKE, /* TLS */
	HC_IDLE,      /* between requests */
	HC_HEAD,      /* reading a request line and headers */
	HC_AUTH,      /* waiting for the auth hook */
	HC_BODY,      /* reading the body */
	HC_SERVING,   /* the handler has the request */
	HC_CLOSING,
};

/* Owner: its worker's list (struct http_worker.conns); freed by on_close,
 * or when it was upgraded. */
struct http_conn {
	struct conn *c;
	struct http_worker *hw;
	struct list link;      /* hw->conns */
	struct list wait_link; /* hw->waiting: paused until output drains */
	struct http_reader rd;
	struct http_request *req; /* taken from the reader: being served */
	struct buf in;            /* received, not yet parsed */
	size_t in_off;
	enum http_conn_state state;
	uint64_t deadline_ms;     /* of the current state; 0: none */
	uint64_t wait_since_ms;
	bool plain;               /* the cleartext port */
	unsigned listener;        /* HTTP_LISTENER_* of its port */
	const struct http_route_table *const *tables; /* what that listener serves */
	bool processing;          /* inside hc_process: no re-entry */
	bool reading_paused;
	bool upgraded;            /* handed over: freed when processing returns */
	bool paused_once;         /* waited for its output to drain (logged once) */
	uint64_t served;
};

/* The accept callback of a listener (ud: the port's struct http_port). */
void http_conn_accept(struct worker *w, int fd, void *ud);
/* Ends a connection with "the server is stopping". */
void http_conn_stop(struct http_conn *hc);
/* Queued response bytes past which a connection stops reading requests:
 * http.output_pause_bytes, at most half of limits.outq_bytes. */
size_t http_pause_mark(const struct config *cfg);
/* Called when output drained below the pause mark: goes on reading. */
void http_conn_drained(struct http_conn *hc);

/* ---- The service (service.c) ---- */

struct http_port {
	bool tls;
	unsigned listener; /* one HTTP_LISTENER_* bit */
};

/* Per worker; its handles live on the worker's loop, its memory in the
 * service's process-wide state (freed at teardown). */
struct http_worker {
	struct server *srv;
	struct worker *w;
	struct listener_set listeners;     /* admin: http.admin_listen */
	struct listener_set web_listeners; /* web: http.web_listen */
	struct list conns;
	struct list waiting;   /* conns paused because of queued output */
	uv_check_t drain;      /* after each poll: resumes drained conns */
	uv_idle_t nudge;       /* one non-blocking poll after a pause */
	bool handles;
	unsigned nudged;       /* checks left before the idle handle stops */
	uint64_t requests, refused; /* for the stats */
};

struct http_worker *http_worker_of(struct worker *w);
/* The route tables a listener serves (a mask of HTTP_LISTENER_* bits: a
 * shared port may serve the web's and the admin's), with the configured
 * paths filled in; NULL-terminated, read-only after setup. */
const struct http_route_table *const *http_tables_for(unsigned listeners);
/* Puts hc on the list of conns waiting for their output to drain. */
void http_worker_wait(struct http_worker *hw, struct http_conn *hc);

#endif
