/*
 * Internals of admin/ shared by its files and its unit tests: the request
 * engine with a table of operations given by the caller (admin_request
 * uses admin_ops), and the line framing of the socket transport.
 */
#ifndef PARLEY_ADMIN_INTERNAL_H
#define PARLEY_ADMIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "admin/admin.h"

/* admin_request() with the operations of `ops` (ending with a NULL name). */
struct admin_call *admin_dispatch(struct admin *a, const struct admin_op *ops, const char *text, size_t len,
				  admin_reply_fn *reply, void *arg);
/* The row of `name` in `ops`, or NULL. */
const struct admin_op *admin_op_find(const struct admin_op *ops, const char *name);
/* How long workers have to answer (default ADMIN_OP_TIMEOUT_MS). */
void admin_set_timeout(struct admin *a, uint64_t ms);

/* server.metrics (metrics_op.c): answers with {"text": the Prometheus
 * text exposition, format 0.0.4, of every worker's counters summed and of
 * the process}.  A transport serving /metrics asks this operation through
 * admin_request ({"op":"server.metrics"}) and writes result.text with the
 * content type METRICS_CONTENT_TYPE (core/metrics.h). */
void admin_op_metrics(struct admin_call *call, const json_t *req);

enum admin_frame {
	ADMIN_FRAME_MORE,     /* no complete line yet, within the limit */
	ADMIN_FRAME_LINE,     /* a line of *line_len bytes, then '\n' */
	ADMIN_FRAME_TOO_LONG, /* the first line is (or will be) over `max` */
};

/* Finds the first request line in `len` bytes: a line is at most `max`
 * bytes before its '\n' (a '\r' before it is part of the line; JSON
 * ignores it). */
enum admin_frame admin_frame(const char *data, size_t len, size_t max, size_t *line_len);

#endif
