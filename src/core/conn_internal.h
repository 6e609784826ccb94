/* conn_internal: what worker.c needs from conn.c (not for other modules). */
#ifndef PARLEY_CORE_CONN_INTERNAL_H
#define PARLEY_CORE_CONN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

struct worker;

/* One TLS record's worth of plaintext: small queued writes are coalesced
 * up to this size so one SSL_write makes one record. */
enum { CONN_TLS_STAGING = 16384 };

/* Starts the worker's flush and ready-read handles. */
void conn_worker_start(struct worker *w);
/* The 1 s sweep: budgets, linger deadlines, owners' ticks. */
void conn_sweep(struct worker *w, uint64_t now_ms);
/* Aborts every conn of the worker (shutdown). */
void conn_abort_all(struct worker *w, const char *reason);
/* Bytes queued for output on every conn of the worker (metrics). */
size_t conn_worker_outq_bytes(struct worker *w);

#endif
