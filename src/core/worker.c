/*
 * worker: thread + loop + inbox + sweep.  The loop's lifetime is the
 * thread's; handles are initialised in worker_init() on the main thread
 * before the thread exists, which libuv allows since no two threads ever use
 * the loop at once.
 */
#include "core/worker.h"

#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/conn_internal.h"
#include "core/log.h"

enum { WORKER_READBUF = 64 * 1024 };

static void worker_inbox_cb(uv_async_t *h)
{
	struct worker *w = h->data;
	struct mpsc_node *n;
	w->now_ms = uv_now(&w->loop);
	/* Bounded batch: a flood of posts must not starve this worker's
	 * sockets; what is left is picked up on the next wake-up. */
	for (unsigned i = 0; i < 4096 && (n = mpsc_pop(&w->inbox)) != NULL; i++) {
		atomic_fetch_sub_explicit(&w->inbox_len, 1, memory_order_relaxed);
		struct worker_msg *m = (struct worker_msg *)n;
		m->run(w, m);
	}
	if (atomic_load_explicit(&w->inbox_len, memory_order_relaxed) > 0)
		uv_async_send(&w->inbox_async);
}

/* Buffers released by idle connections sit in the middle of the heap,
 * where free() does not return them to the system: after many releases,
 * hand the free pages back (at most every few seconds). */
enum { HEAP_TRIM_AFTER = 64, HEAP_TRIM_EVERY_MS = 5000 };

static void worker_heap_trim(struct worker *w)
{
	if (w->trims < HEAP_TRIM_AFTER || w->now_ms - w->heap_trimmed_ms < HEAP_TRIM_EVERY_MS)
		return;
	w->trims = 0;
	w->heap_trimmed_ms = w->now_ms;
	malloc_trim(0);
}

static void worker_sweep_cb(uv_timer_t *t)
{
	struct worker *w = t->data;
	w->now_ms = uv_now(&w->loop);
	metrics_loop_tick(&w->metrics, w->now_ms, uv_timer_get_repeat(t));
	conn_sweep(w, w->now_ms);
	worker_heap_trim(w);
	if (w->on_tick)
		w->on_tick(w);
}

static void worker_close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void worker_stop_cb(uv_async_t *h)
{
	struct worker *w = h->data;
	if (w->on_stop)
		w->on_stop(w);
}

static void worker_halt_cb(uv_async_t *h)
{
	struct worker *w = h->data;
	conn_abort_all(w, "server shutting down");
	uv_walk(&w->loop, worker_close_walk, NULL);
}

void worker_init(struct worker *w, unsigned id, unsigned inbox_max)
{
	w->id = id;
	snprintf(w->name, sizeof(w->name), "w%u", id);
	if (uv_loop_init(&w->loop) != 0)
		log_fatal("core", "cannot create event loop for worker %u", id);
	w->loop.data = w;
	mpsc_init(&w->inbox);
	atomic_init(&w->inbox_len, 0);
	w->inbox_max = inbox_max ? inbox_max : 65536;
	uv_async_init(&w->loop, &w->inbox_async, worker_inbox_cb);
	w->inbox_async.data = w;
	uv_async_init(&w->loop, &w->stop_async, worker_stop_cb);
	w->stop_async.data = w;
	uv_async_init(&w->loop, &w->halt_async, worker_halt_cb);
	w->halt_async.data = w;
	atomic_init(&w->stopping, false);
	atomic_init(&w->halting, false);
	atomic_init(&w->nconns, 0);
	list_init(&w->conns);
	list_init(&w->flush);
	list_init(&w->ready);
	uv_prepare_init(&w->loop, &w->flusher);
	w->flusher.data = w;
	uv_idle_init(&w->loop, &w->reader);
	w->reader.data = w;
	uv_timer_init(&w->loop, &w->sweep);
	w->sweep.data = w;
	w->readbuf_size = WORKER_READBUF;
	w->readbuf = xmalloc(w->readbuf_size);
	w->tlsbuf = xmalloc(CONN_TLS_STAGING);
	w->now_ms = uv_now(&w->loop);
	w->metrics = (struct metrics){0};
}

static void worker_main(void *arg)
{
	worker_run(arg);
}

void worker_run(struct worker *w)
{
	log_thread_name(w->name);
	conn_worker_start(w);
	uv_timer_start(&w->sweep, worker_sweep_cb, 1000, 1000);
	if (w->on_start)
		w->on_start(w);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	arena_cache_drain();
}

int worker_start(struct worker *w)
{
	return uv_thread_create(&w->thread, worker_main, w);
}

void worker_stop(struct worker *w)
{
	if (!atomic_exchange(&w->stopping, true))
		uv_async_send(&w->stop_async);
}

bool worker_quiescent(struct worker *w)
{
	return atomic_load(&w->nconns) == 0 && atomic_load(&w->inbox_len) == 0;
}

void worker_halt(struct worker *w)
{
	if (!atomic_exchange(&w->halting, true))
		uv_async_send(&w->halt_async);
}

void worker_join(struct worker *w)
{
	uv_thread_join(&w->thread);
	uv_loop_close(&w->loop);
	free(w->readbuf);
	free(w->tlsbuf);
	w->readbuf = NULL;
	w->tlsbuf = NULL;
}

bool worker_post(struct worker *w, struct worker_msg *m)
{
	unsigned n = atomic_fetch_add_explicit(&w->inbox_len, 1, memory_order_relaxed);
	if (n >= w->inbox_max) {
		atomic_fetch_sub_explicit(&w->inbox_len, 1, memory_order_relaxed);
		return false;
	}
	mpsc_push(&w->inbox, &m->node);
	uv_async_send(&w->inbox_async);
	return true;
}

void worker_post_force(struct worker *w, struct worker_msg *m)
{
	atomic_fetch_add_explicit(&w->inbox_len, 1, memory_order_relaxed);
	mpsc_push(&w->inbox, &m->node);
	uv_async_send(&w->inbox_async);
}

uint64_t worker_now(struct worker *w)
{
	return uv_now(&w->loop);
}

void worker_discard(struct worker *w)
{
	uv_walk(&w->loop, worker_close_walk, NULL);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_loop_close(&w->loop);
	free(w->readbuf);
	free(w->tlsbuf);
	w->readbuf = NULL;
	w->tlsbuf = NULL;
}
