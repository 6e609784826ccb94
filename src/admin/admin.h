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
