/*
 * adminapi internals shared by its files and its unit tests: the
 * process-wide state, answers, jobs on the thread pool, the session
 * table, credentials parsing and the login throttle.
 */
#ifndef PARLEY_ADMINAPI_INTERNAL_H
#define PARLEY_ADMINAPI_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "adminapi/adminapi.h"
#include "core/slice.h"
#include "manage/manage.h"

struct admin_bridge;
struct buf;
struct config;
struct server;
struct shard;
struct store;
struct worker;

/* ---- Process-wide state (service.c) ---- */

/* Made by the service's setup on the main thread before any worker runs,
 * read-only afterwards; NULL outside a running server. */
struct adminapi_state {
	struct server *srv;
	const struct config *cfg;
	struct admin_bridge *bridge;
};

const struct adminapi_state *adminapi_state(void);

/* The worker serving `req`, and its shard (its store handle: for quick
 * reads and writes on the worker's thread). */
struct worker *aa_worker(const struct http_request *req);
struct shard *aa_shard(const struct http_request *req);

/* ---- Answers (reply.c) ---- */

/* 200, 404, 409, 422, 409, 500 for MANAGE_OK, _NOT_FOUND, _EXISTS,
 * _INVALID, _FULL, _ERROR. */
int aa_status_of(enum manage_result r);
/* {"error": err's sentence} with the status of r. */
void aa_fail(struct http_request *req, enum manage_result r, const struct manage_err *err);
/* Answers `body` (taken: its reference is dropped) with `status`. */
void aa_respond(struct http_request *req, int status, json_t *body);

/* The request's body as a JSON object (a new reference), or NULL after
 * answering 415 (not application/json) or 400 (not a JSON object). */
json_t *aa_body(struct http_request *req);
/* The string member `key` of `body`: NULL when absent or null; answers
 * 400 and sets *bad when it is there and is no string (or holds NUL). */
const char *aa_body_string(struct http_request *req, const json_t *body, const char *key, bool *bad);
/* The i-th parameter of the route as a C string in `out`; false after
 * answering 400 when it holds NUL. */
bool aa_param(struct http_request *req, unsigned i, struct buf *out);

/* A page of a listing from ?search=&offset=&limit= (limit 1 to
 * `max_limit`, `default_limit` when absent); false after answering 400.
 * page->search points into `search`. */
bool aa_page(struct http_request *req, struct manage_page *page, struct buf *search, size_t default_limit,
	     size_t max_limit);

/* ---- Admin operations from a handler (reply.c) ---- */

/* Runs on the worker with the operation's result when it succeeded, and
 * answers the request; `ctx` is the caller's JSON (may be NULL), released
 * after.  Not called when the connection ended meanwhile.  An operation
 * that failed is answered here: 503 with its sentence. */
typedef void aa_op_done_fn(struct http_request *req, json_t *result, json_t *ctx);

/* Asks {"op":...} (`request`, taken) through the bridge. */
void aa_op(struct http_request *req, json_t *request, aa_op_done_fn *done, json_t *ctx);

/* ---- Work off the loop (work.c) ---- */

/*
 * A job for libuv's thread pool on behalf of a request: `run` on a pool
 * thread with a store handle of the pool's own (job->store), then `done`
 * back on the request's worker.  If the connection ends first (the
 * request's cancel), done gets req == NULL and must only clean up.  The
 * job is freed after done returns, unless done asked for a delayed
 * answer (aa_job_later).
 */
struct aa_job;
typedef void aa_job_run_fn(struct aa_job *job);
typedef void aa_job_done_fn(struct aa_job *job, struct http_request *req);

struct aa_job {
	/* In: */
	char *jid;           /* heap, freed with the job */
	char *secret;        /* a password: wiped and freed with the job */
	size_t secret_len;
	json_t *ctx;         /* released with the job */
	/* Out: */
	struct store *store; /* during run only */
	enum manage_result result;
	struct manage_err err;
	/* The machinery (work.c): */
	uv_work_t work;
	uv_timer_t timer;
	struct worker *w;
	struct http_request *req;
	aa_job_run_fn *run;
	aa_job_done_fn *done, *later;
	bool timing; /* the timer is initialised */
	bool keep;   /* done asked for later */
};

/* A job for `req` (on req's worker); registers the request's cancel. */
struct aa_job *aa_job_new(struct http_request *req);
/* Queues it: run, then done. */
void aa_job_start(struct aa_job *job, aa_job_run_fn *run, aa_job_done_fn *done);
/* From done (req not NULL): answer after `ms` with `later(job, req)`
 * instead, unless the connection ends first (then later gets NULL). */
void aa_job_later(struct aa_job *job, uint64_t ms, aa_job_done_fn *later);

/* The thread pool's store handles: taken for a job, given back after (a
 * few are kept open).  NULL with *err when the database cannot be
 * opened.  Any thread. */
struct store *aa_store_take(struct manage_err *err);
void aa_store_give(struct store *s);
/* Closes the kept handles (teardown, after the workers ended). */
void aa_store_pool_clear(void);

/* ---- Sessions of the web page (session.c) ---- */

enum {
	AA_TOKEN_CHARS = 43,   /* base64url of 32 random bytes */
	AA_SESSIONS_MAX = 256, /* at once; the oldest unused goes first */
	AA_JID_MAX = 3071,
};

struct aa_session_view {
	char jid[AA_JID_MAX + 1];
	char csrf[AA_TOKEN_CHARS + 1];
};

/* The table: sessions end after `timeout_s` unused.  Main thread. */
void aa_sessions_setup(unsigned timeout_s);
void aa_sessions_clear(void);
/* A new session for an administrator: its cookie value and CSRF token. */
void aa_session_new(const char *jid, char id[AA_TOKEN_CHARS + 1], char csrf[AA_TOKEN_CHARS + 1]);
/* The session whose cookie value is `id`, marked used now; false when
 * there is none (never was, ended, expired: an expired one is removed). */
bool aa_session_find(struct slice id, struct aa_session_view *out);
/* Ends one session; false when there was none. */
bool aa_session_end(struct slice id);
/* Ends every session of `jid` (its account was deleted); how many. */
size_t aa_sessions_end_jid(const char *jid);
/* Sessions open now (expired ones removed first). */
size_t aa_sessions_count(void);
/* The clock the table uses, milliseconds; a test may move it. */
uint64_t aa_now_ms(void);
void aa_clock_skew(int64_t ms);

/* 32 random bytes as 43 characters of base64url, NUL-terminated. */
void aa_random_token(char out[AA_TOKEN_CHARS + 1]);

/* ---- Credentials (cookie.c: pure) ---- */

enum { AA_CREDENTIAL_MAX = 4096 };

#define AA_COOKIE "parley_admin"

/* The value of the first cookie called `name` in a Cookie header value
 * ("a=1; parley_admin=xyz"), SLICE_NULL when absent. */
struct slice aa_cookie_get(struct slice header, const char *name);
/* The session cookie of a request (every Cookie header field looked
 * at), SLICE_NULL when it has none. */
struct slice aa_request_cookie(const struct http_request *req);
/* "Basic base64(user:password)": the two parts appended to `user` and
 * `password`; false when it is not that (scheme case-insensitive, strict
 * base64, a ':', no NUL or control character in the user). */
bool aa_basic_parse(struct slice value, struct buf *user, struct buf *password);
/* "Bearer TOKEN": the token; false for another scheme or none. */
bool aa_bearer_parse(struct slice value, struct slice *token);
/* Whether `value` begins with `scheme` and a space, ASCII case ignored. */
bool aa_scheme_is(struct slice value, const char *scheme);

/* ---- Sign-in (auth.c) ---- */

/* The hook installed with http_auth_set. */
extern const struct http_auth_ops adminapi_auth;

enum { AA_NAME_LOGGED = 100 };

/* Who a sign-in names, for the throttle and the log (heap): the prepared
 * bare JID when `jid` is an account JID of ours, else what was given in
 * printable ASCII, cut to AA_NAME_LOGGED bytes. */
char *aa_account_name(const struct config *cfg, const char *jid);
/* Before checking a password for `who` (a JID as given): false after
 * answering 429 when the address, or `who` at the address, failed too
 * often (the XMPP logins' counters and settings: auth.fail_max,
 * auth.fail_max_address, auth.fail_window). */
bool aa_throttle_allows(struct http_request *req, const char *who, const char *via);
/* After a refused password: counts it with the XMPP logins' failures,
 * logs one line and returns how long to wait before answering (a second
 * per earlier failure of `who` from this address, up to
 * auth.fail_delay_max). */
uint64_t aa_throttle_failed(struct http_request *req, const char *who, const char *via, const char *why);

/* ---- Handlers ---- */

void aa_login(struct http_request *req);
void aa_logout(struct http_request *req);
void aa_routes(struct http_request *req);

void aa_users_list(struct http_request *req);
void aa_user_create(struct http_request *req);
void aa_user_delete(struct http_request *req);
void aa_user_password(struct http_request *req);
void aa_user_certs(struct http_request *req);
void aa_user_cert_add(struct http_request *req);
void aa_user_cert_remove(struct http_request *req);

void aa_groups_list(struct http_request *req);
void aa_group_create(struct http_request *req);
void aa_group_get(struct http_request *req);
void aa_group_delete(struct http_request *req);
void aa_group_members_add(struct http_request *req);
void aa_group_member_remove(struct http_request *req);

void aa_trust_list(struct http_request *req);
void aa_trust_add(struct http_request *req);
void aa_trust_remove(struct http_request *req);

void aa_sessions_list(struct http_request *req);
void aa_session_kick(struct http_request *req);
void aa_s2s_links(struct http_request *req);
void aa_s2s_report(struct http_request *req);
void aa_s2s_close(struct http_request *req);
void aa_s2s_policy(struct http_request *req);
void aa_metrics(struct http_request *req);

void aa_page_redirect(struct http_request *req);
void aa_page_asset(struct http_request *req);

/* ---- The page's files (generated by scripts/embed.py) ---- */

struct aa_asset {
	const char *path; /* "/admin/admin.js" */
	const char *content_type;
	const unsigned char *data;
	size_t len;
	bool html;
};

extern const struct aa_asset aa_assets[];
extern const size_t aa_nassets;

#endif
