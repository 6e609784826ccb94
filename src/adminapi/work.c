/*
 * work: what a request needs done off the worker's loop (PBKDF2 to check
 * or make a password), on libuv's thread pool, and back.  A job runs with
 * a store handle of its own, since a worker's handle belongs to its
 * thread (store.h); a few handles are kept open for the next jobs, under
 * a mutex (the pool has a handful of threads, so a handful is enough).
 *
 * A job may also answer late on purpose (a refused password waits, as a
 * refused XMPP login does): a timer on the worker's loop.  If the client
 * leaves first, the request's cancel stops the timer and closes it; the
 * close callback frees the job, so nothing is left when the loop ends.
 */
#include "adminapi/internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/worker.h"
#include "router/shard.h"
#include "store/store.h"

enum { POOL_KEEP = 8 };

/* ---- store handles for the pool's threads ---- */

static uv_mutex_t pool_lock;
static uv_once_t pool_once = UV_ONCE_INIT;
static struct store *pool[POOL_KEEP];
static size_t pool_n;

static void pool_init(void)
{
	uv_mutex_init(&pool_lock);
}

struct store *aa_store_take(struct manage_err *err)
{
	uv_once(&pool_once, pool_init);
	struct store *s = NULL;
	uv_mutex_lock(&pool_lock);
	if (pool_n)
		s = pool[--pool_n];
	uv_mutex_unlock(&pool_lock);
	if (s)
		return s;
	const struct adminapi_state *st = adminapi_state();
	char *why = NULL;
	s = st ? store_open(st->cfg->database, &why) : NULL;
	if (!s) {
		snprintf(err->msg, sizeof(err->msg), "cannot open the database: %s", why ? why : "no server");
		log_error("adminapi", "%s", err->msg);
		free(why);
	}
	return s;
}

void aa_store_give(struct store *s)
{
	if (!s)
		return;
	uv_mutex_lock(&pool_lock);
	if (pool_n < POOL_KEEP) {
		pool[pool_n++] = s;
		s = NULL;
	}
	uv_mutex_unlock(&pool_lock);
	store_close(s);
}

void aa_store_pool_clear(void)
{
	uv_once(&pool_once, pool_init);
	uv_mutex_lock(&pool_lock);
	while (pool_n)
		store_close(pool[--pool_n]);
	uv_mutex_unlock(&pool_lock);
}

/* ---- jobs ---- */

static void job_free(struct aa_job *job)
{
	if (job->secret) {
		explicit_bzero(job->secret, job->secret_len);
		free(job->secret);
	}
	free(job->jid);
	json_decref(job->ctx);
	free(job);
}

static void timer_closed(uv_handle_t *h)
{
	job_free(h->data);
}

/* The request's cancel: the connection ended before the answer. */
static void job_cancel(void *arg)
{
	struct aa_job *job = arg;
	job->req = NULL;
	if (job->timing && !uv_is_closing((uv_handle_t *)&job->timer)) {
		/* Waiting to answer: nothing else will free it. */
		uv_timer_stop(&job->timer);
		uv_close((uv_handle_t *)&job->timer, timer_closed);
	}
}

struct aa_job *aa_job_new(struct http_request *req)
{
	struct aa_job *job = xcalloc(1, sizeof(*job));
	job->req = req;
	job->w = aa_worker(req);
	job->work.data = job;
	http_request_set_cancel(req, job_cancel, job);
	return job;
}

static void job_work(uv_work_t *w)
{
	struct aa_job *job = w->data;
	job->store = aa_store_take(&job->err);
	if (!job->store) {
		job->result = MANAGE_ERROR;
		return;
	}
	job->run(job);
	aa_store_give(job->store);
	job->store = NULL;
}

static void job_after(uv_work_t *w, int status)
{
	struct aa_job *job = w->data;
	if (status != 0 && job->result == MANAGE_OK) {
		job->result = MANAGE_ERROR;
		snprintf(job->err.msg, sizeof(job->err.msg), "the work was cancelled: %s", uv_strerror(status));
	}
	struct http_request *req = job->req;
	if (req)
		http_request_set_cancel(req, NULL, NULL);
	job->done(job, req);
	if (job->keep && job->req)
		return;
	job_free(job);
}

void aa_job_start(struct aa_job *job, aa_job_run_fn *run, aa_job_done_fn *done)
{
	job->run = run;
	job->done = done;
	int rc = uv_queue_work(&job->w->loop, &job->work, job_work, job_after);
	if (rc != 0)
		log_fatal("adminapi", "uv_queue_work: %s", uv_strerror(rc));
}

static void job_timer(uv_timer_t *t)
{
	struct aa_job *job = t->data;
	struct http_request *req = job->req;
	if (req)
		http_request_set_cancel(req, NULL, NULL);
	job->req = NULL;
	job->later(job, req);
	uv_close((uv_handle_t *)t, timer_closed);
}

void aa_job_later(struct aa_job *job, uint64_t ms, aa_job_done_fn *later)
{
	job->keep = true;
	job->later = later;
	job->timing = true;
	uv_timer_init(&job->w->loop, &job->timer);
	job->timer.data = job;
	http_request_set_cancel(job->req, job_cancel, job);
	uv_timer_start(&job->timer, job_timer, ms, 0);
}
