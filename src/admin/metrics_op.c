/*
 * metrics_op: the server.metrics operation, the Prometheus text of the
 * server's counters (core/metrics.h, docs/metrics.md); the HTTP /metrics
 * route asks the same operation.  Each worker copies its own counters and
 * counts its connections and links on its own thread, so nothing is read
 * while another thread writes it; the main thread sums and renders.  The
 * process's numbers (/proc) and offline storage (the store) are read on
 * the main thread before the workers are asked.
 *
 * It only reads: no counter is reset by a scrape, so several scrapers see
 * the same numbers.
 */
#include "admin/internal.h"

#include <stdlib.h>
#include <string.h>

#include "c2s/c2s.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/worker.h"
#include "router/service.h"
#include "router/shard.h"
#include "s2s/s2s.h"
#include "store/store.h"

_Static_assert(sizeof(struct metrics_sample) == METRICS_SAMPLE_VALUES * sizeof(uint64_t),
	       "a sample is an array of uint64_t");


/* ---- On each worker ---- */

/* {"worker":"w0","values":[...]}: the sample as its numbers, in order
 * (json_int_t keeps every bit of a uint64_t through the casts). */
static json_t *metrics_part(struct shard *sh, const void *arg)
{
	struct metrics_sample s;
	memset(&s, 0, sizeof(s));
	metrics_sample_worker(sh->w, &s);
	/* What each service with connections of its own counts now. */
	for (const struct service_ops *const *svc = sh->srv->services; svc && *svc; svc++)
		if ((*svc)->gauges)
			(*svc)->gauges(sh, &s);
	uint64_t v[METRICS_SAMPLE_VALUES];
	memcpy(v, &s, sizeof(v));
	json_t *values = json_array();
	for (size_t i = 0; i < METRICS_SAMPLE_VALUES; i++)
		json_array_append_new(values, json_integer((json_int_t)v[i]));
	return json_pack("{s:s, s:o}", "worker", sh->w->name, "values", values);
}

/* ---- On the main thread ---- */

static json_t *metrics_merge(json_t *const *parts, unsigned n, const void *arg)
{
	const struct metrics_process *process = arg;
	struct metrics_sample *samples = xcalloc(n ? n : 1, sizeof(*samples));
	const char **names = xcalloc(n ? n : 1, sizeof(*names));
	unsigned got = 0;
	for (unsigned i = 0; i < n; i++) {
		const json_t *values = json_object_get(parts[i], "values");
		const char *name = json_string_value(json_object_get(parts[i], "worker"));
		if (!name || json_array_size(values) != METRICS_SAMPLE_VALUES)
			continue;
		uint64_t v[METRICS_SAMPLE_VALUES];
		for (size_t k = 0; k < METRICS_SAMPLE_VALUES; k++)
			v[k] = (uint64_t)json_integer_value(json_array_get(values, k));
		memcpy(&samples[got], v, sizeof(v));
		names[got++] = name;
	}
	struct metrics_scrape scrape = {.nworkers = got, .workers = samples, .names = names, .process = *process};
	struct buf b = BUF_INIT;
	metrics_render(&scrape, &b);
	json_t *result = json_pack("{s:s%}", "text", b.data ? b.data : "", b.len);
	buf_clear(&b);
	free(names);
	free(samples);
	return result;
}

struct offline_sum {
	struct store *st;
	uint64_t messages, bytes;
	bool failed;
};

static int offline_add(void *ud, const char *jid)
{
	struct offline_sum *sum = ud;
	struct store_offline_usage u;
	if (store_offline_usage(sum->st, jid, &u) != STORE_OK) {
		sum->failed = true;
		return 1;
	}
	sum->messages += u.count;
	sum->bytes += u.bytes;
	return 0;
}

/* Offline storage over every account: one lookup per account (the store
 * keeps each account's totals), on a handle of our own.  Left unknown
 * when the store cannot say. */
static void offline_totals(const char *database, struct metrics_process *p)
{
	char *err = NULL;
	struct store *st = store_open(database, &err);
	if (!st) {
		log_warn("admin", "server.metrics: cannot open the database %s: %s; offline storage not reported",
			 database, err);
		free(err);
		return;
	}
	struct offline_sum sum = {.st = st};
	if (store_user_list(st, NULL, offline_add, &sum) == STORE_OK && !sum.failed) {
		p->offline_messages = sum.messages;
		p->offline_bytes = sum.bytes;
	}
	store_close(st);
}

void admin_op_metrics(struct admin_call *call, const json_t *req)
{
	(void)req;
	struct metrics_process *p = xcalloc(1, sizeof(*p));
	metrics_process_read(p);
	offline_totals(admin_call_server(call)->cfg->database, p);
	admin_call_fanout(call, metrics_part, metrics_merge, p);
}
