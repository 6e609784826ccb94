/*
 * admin: the server's administrative operations and the local control
 * socket that carries them.  One const table of operations
 * ({"op":"s2s.status"} and so on); a transport (the UNIX socket here, the
 * HTTP admin API later) only frames requests, hands each one to
 * admin_request() and writes back the answer it is given.  Operations
 * that need what the workers hold ask every worker on its own thread and
 * merge the answers on the main thread.
 *
 * This is not a second configuration path: operations read state and
 * close streams, they never change settings.
 */
#ifndef PARLEY_ADMIN_ADMIN_H
#define PARLEY_ADMIN_ADMIN_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

struct config;
struct server;
struct service_ops;

/* ---- The service ---- */

/* The control socket as a service of the server (router/service.h): its
 * setup opens the socket on the main loop, its teardown closes it and
 * removes the file. */
extern const struct service_ops admin_service;

/* Where the control socket lives: "<directory of cfg->database>/parleyd.sock"
 * (heap), so that parleyctl finds it from the same configuration. */
char *admin_socket_path(const struct config *cfg);

/* ---- Requests (main thread) ---- */

enum {
	ADMIN_REQUEST_MAX = 64 * 1024, /* bytes of one request line */
	ADMIN_OP_TIMEOUT_MS = 5000,    /* for the workers' answers */
};

struct admin;      /* the operations' process-wide state */
struct admin_call; /* one request being answered */

/* Receives the answer to a request, {"ok":true,"result":...} or
 * {"ok":false,"error":"..."}; `response` is the callee's (it takes a
 * reference if it keeps it).  Called exactly once, unless the call was
 * cancelled, possibly before admin_request() returns.  Main thread. */
typedef void admin_reply_fn(void *arg, json_t *response);

/* The operations' state for `srv`, whose workers are asked on their own
 * threads; answers come back on `loop`. */
struct admin *admin_new(struct server *srv, uv_loop_t *loop);
/* Answers pending calls with nothing (their reply functions are not
 * called) and frees `a`.  Only once no worker runs any more, and after
 * `loop` has closed the admin's handle (or never ran since admin_new,
 * in which case this closes it). Accepts NULL. */
void admin_free(struct admin *a);

/* Answers one request: `len` bytes of JSON text (no NUL needed).  Bad
 * JSON, a request that is not an object, a missing or unknown "op" and
 * bad arguments are answered with an error, never more.  Returns the call
 * while the answer is pending (so the transport can cancel it when its
 * client leaves), NULL when it has already been given. */
struct admin_call *admin_request(struct admin *a, const char *text, size_t len, admin_reply_fn *reply, void *arg);
/* The answer of `call` will not be wanted: its reply function is never
 * called.  The call is freed when its work ends. */
void admin_call_cancel(struct admin_call *call);

/* An error response {"ok":false,"error":text}, for a transport's own
 * refusals (a request too long). */
json_t *admin_error_response(const char *text);

/* ---- Requests from a worker (bridge.c) ---- */

/*
 * For transports that run on the workers (the HTTP admin API): a request
 * made on a worker's thread crosses to the main thread (an MPSC queue and
 * a uv_async_t), is answered there by admin_request(), and its answer is
 * posted back to the asking worker's inbox (worker_post_force: an answer
 * is never dropped for a full inbox), where the reply function runs.
 */
struct admin_bridge;
struct admin_bridge_call;

/* Receives the answer ({"ok":...}, the callee's: take a reference to
 * keep it) on the thread of the worker that asked.  Called exactly once
 * unless the call was cancelled before. */
typedef void admin_bridge_reply_fn(void *arg, json_t *response);

/* The bridge for `srv`'s workers, answering on `loop` (the main loop).
 * Main thread, before the workers start. */
struct admin_bridge *admin_bridge_new(struct server *srv, uv_loop_t *loop);
/* Frees the bridge and every request still in it (their replies are not
 * called).  Main thread, once no worker runs and after `loop` closed the
 * bridge's handles (the loop's last walk), as admin_free.  Accepts NULL. */
void admin_bridge_free(struct admin_bridge *b);

struct worker;

/* Asks `len` bytes of request text (as admin_request takes it) on behalf
 * of worker `w`, from w's thread; `reply(arg, ...)` runs later on w's
 * thread, never before this returns.  The handle is valid until the reply
 * ran or admin_bridge_cancel was called. */
struct admin_bridge_call *admin_request_from_worker(struct admin_bridge *b, struct worker *w, const char *text,
						    size_t len, admin_bridge_reply_fn *reply, void *arg);
/* The answer will not be wanted (the client went away): the reply is not
 * called, and the call is freed when its answer comes back.  On the
 * asking worker's thread, before the reply ran. */
void admin_bridge_cancel(struct admin_bridge_call *call);

/* ---- Reloading (server.reload) ---- */

/* What SIGHUP reloads (certificates, trust stores, the s2s policy, the
 * services' files), as parleyd does it: `cause` names who asked, for the
 * log lines.  Returns how many sets failed to reload (each logged; a
 * failed set keeps its previous generation).  Main thread. */
typedef int admin_reload_fn(struct server *srv, const char *cause);
/* Installs the function op server.reload calls: parleyd, before the
 * services are set up (main thread).  Without one the op fails. */
void admin_set_reload(admin_reload_fn *fn);

/* ---- The table of operations ---- */

struct admin_op {
	const char *name; /* "s2s.status" */
	/* Starts answering `call`: now or later, exactly once, with
	 * admin_call_ok, admin_call_fail or admin_call_fanout.  `req` is the
	 * whole request object, valid until this returns.  Main thread. */
	void (*run)(struct admin_call *call, const json_t *req);
	const char *help; /* one line: the arguments and what it does */
};

/* The operations, ending with a row whose name is NULL. */
extern const struct admin_op admin_ops[];

/* ---- For the operations (main thread) ---- */

/* The server the call is about. */
struct server *admin_call_server(struct admin_call *call);
/* Answers with `result` (taken: the call steals the reference). */
void admin_call_ok(struct admin_call *call, json_t *result);
/* Answers with an error. */
void admin_call_fail(struct admin_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct shard;

/* Runs on each worker's thread: that worker's part of the answer (a new
 * reference), or NULL for nothing.  `arg` is read-only there. */
typedef json_t *admin_part_fn(struct shard *sh, const void *arg);
/* Main thread: the result (a new reference) made of every worker's part
 * (parts[i] from worker i, NULL for none; the parts stay the caller's). */
typedef json_t *admin_merge_fn(json_t *const *parts, unsigned n, const void *arg);

/* Asks every worker for its part, then answers with merge(parts).  `arg`
 * (heap, may be NULL) is freed with free() once no worker reads it.  A
 * worker whose inbox is full, or that has not answered within
 * ADMIN_OP_TIMEOUT_MS, fails the call with an error naming it. */
void admin_call_fanout(struct admin_call *call, admin_part_fn *part, admin_merge_fn *merge, void *arg);

#endif
