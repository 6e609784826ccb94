/*
 * worker: one thread running one libuv loop (DESIGN.md, "Process and
 * threads").  A worker owns its connections, a shared read buffer, an inbox
 * that other workers post to, and a once-per-second sweep.  Everything a
 * worker owns is touched only from its thread.
 *
 * core/ does not know what the server keeps per worker: `ctx` points at the
 * upper layers' per-worker state (router/shard.h), set before the thread
 * starts.
 */
#ifndef PARLEY_CORE_WORKER_H
#define PARLEY_CORE_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/list.h"
#include "core/metrics.h"
#include "core/mpsc.h"

struct worker;

/* A message posted to a worker: embed it in the posted object.  `run`
 * executes on the receiving worker's thread and owns the message. */
struct worker_msg {
	struct mpsc_node node;
	void (*run)(struct worker *w, struct worker_msg *m);
};

typedef void worker_fn(struct worker *w);

struct worker {
	unsigned id;
	char name[8]; /* "w0", "w1": the thread's name in log lines */
	uv_loop_t loop;
	void *ctx;    /* the upper layers' per-worker state */

	/* inbox */
	struct mpsc inbox;
	uv_async_t inbox_async;
	atomic_uint inbox_len;
	unsigned inbox_max;

	/* connections */
	struct list conns;     /* every conn attached here, for the sweep */
	struct list flush;     /* conns with output to write this iteration */
	struct list ready;     /* conns with bytes to read without a poll event */
	uv_prepare_t flusher;  /* writes `flush` once per loop iteration */
	uv_idle_t reader;      /* drains `ready` without blocking in poll */
	uv_timer_t sweep;      /* 1 s tick: timeouts, rate budgets */
	char *readbuf;         /* shared by all conns of this worker */
	size_t readbuf_size;
	char *tlsbuf;          /* coalesces small writes into one TLS record */
	uint64_t now_ms;       /* loop time at the last sweep or wake-up */
	unsigned trims;        /* idle conns that released buffers, since... */
	uint64_t heap_trimmed_ms; /* ...the heap was last given back to the OS */
	struct metrics metrics; /* written by this thread only, read by a scrape on it */

	/* hooks of the upper layers, run on this thread */
	worker_fn *on_start;   /* after the loop exists, before it runs */
	worker_fn *on_tick;    /* each sweep, after the conns' ticks */
	worker_fn *on_stop;    /* when asked to stop, before handles close */

	uv_thread_t thread;
	atomic_bool stopping;   /* phase 1 ran: no new work is accepted */
	atomic_bool halting;    /* phase 2: handles close, the loop ends */
	atomic_uint nconns;     /* conns attached here (read by the main thread) */
	uv_async_t stop_async;
	uv_async_t halt_async;
};

/* Lifecycle (main thread) */

/* Prepares worker `id`; `inbox_max` bounds posts waiting in its inbox. */
void worker_init(struct worker *w, unsigned id, unsigned inbox_max);
/* Starts the thread; returns 0 or a negative libuv error. */
int worker_start(struct worker *w);
/*
 * Stopping is two-phase, so that work one worker hands another while
 * shutting down (a session's last presence, a stream in transit) is still
 * processed instead of leaking:
 *   worker_stop()      runs on_stop (close listeners, end streams);
 *   worker_quiescent() tells when the worker has no conns and no inbox;
 *   worker_halt()      closes every handle so the loop and thread end.
 * All three may be called from any thread.
 */
void worker_stop(struct worker *w);
bool worker_quiescent(struct worker *w);
void worker_halt(struct worker *w);
/* Waits for the thread and releases the worker's resources. */
void worker_join(struct worker *w);
/* Releases a worker whose thread never started (start-up failed): closes
 * its handles on the calling thread. */
void worker_discard(struct worker *w);
/* Runs the worker on the calling thread (tests, workers = 1 in-process). */
void worker_run(struct worker *w);

/* Inbox (any thread) */

/* Posts m to w; false (nothing posted, m still the caller's) when w's inbox
 * holds inbox_max messages: the caller answers with a `wait` error. */
bool worker_post(struct worker *w, struct worker_msg *m);
/* Posts even past the bound (for messages that must not be lost, such as
 * a connection being handed over). */
void worker_post_force(struct worker *w, struct worker_msg *m);

/* Milliseconds of the worker's loop clock. */
uint64_t worker_now(struct worker *w);

#endif
