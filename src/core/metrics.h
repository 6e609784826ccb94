/*
 * metrics: the server's counters for monitoring, kept per worker and
 * summed only when read (docs/metrics.md).  Each worker owns a `struct
 * metrics` inside its `struct worker` and is the only thread that writes
 * it: an increment is a plain add to memory no other core writes, never an
 * atomic and never a lock, so counting costs the stanza path nothing
 * shared (docs/architecture.md).  A scrape copies each worker's counters on
 * that worker's own thread (metrics_sample_worker, through the admin
 * fan-out) and renders the copies in the Prometheus text format
 * (metrics_render, a pure function).
 *
 * Every label is an enum with one names table (metrics_label_name), so a
 * family's series are known in advance and a counter is an array index.
 *
 * This is not a registry: the families are fixed here, not added at run
 * time, and nothing here knows how the numbers are served.
 */
#ifndef PARLEY_CORE_METRICS_H
#define PARLEY_CORE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct buf;
struct worker;

/* What an HTTP server answers a scrape with (text format 0.0.4). */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- Labels: one enum each, named by metrics_label_name ---- */

/* The stream an authentication happened on. */
enum metric_stream {
	METRIC_STREAM_C2S,     /* a client's stream */
	METRIC_STREAM_S2S_IN,  /* a peer server's stream to us */
	METRIC_STREAM_S2S_OUT, /* our stream to a peer server */
	METRIC_STREAM_COUNT,
};

/* SASL mechanisms, and dialback for server streams. */
enum metric_mech {
	METRIC_MECH_SCRAM_SHA_1,
	METRIC_MECH_SCRAM_SHA_1_PLUS,
	METRIC_MECH_SCRAM_SHA_256,
	METRIC_MECH_SCRAM_SHA_256_PLUS,
	METRIC_MECH_PLAIN,
	METRIC_MECH_EXTERNAL,
	METRIC_MECH_DIALBACK,
	METRIC_MECH_COUNT,
};

enum metric_auth_result {
	METRIC_AUTH_SUCCESS,
	METRIC_AUTH_FAILURE,    /* credentials checked and refused (a failed login; dialback: invalid) */
	METRIC_AUTH_THROTTLED,  /* refused before any check: too many failures (docs/sasl.md) */
	METRIC_AUTH_INCOMPLETE, /* a negotiation the peer could not complete (not a failed login) */
	METRIC_AUTH_ERROR,      /* our side could not decide (storage; dialback: no answer) */
	METRIC_AUTH_RESULT_COUNT,
};

/* Stanza kinds, in the order of enum stanza_kind (router/stanza.h), so
 * that a stanza's kind is the index. */
enum metric_stanza {
	METRIC_STANZA_MESSAGE,
	METRIC_STANZA_PRESENCE,
	METRIC_STANZA_IQ,
	METRIC_STANZA_COUNT,
};

/* What became of a stanza. */
enum metric_outcome {
	METRIC_OUTCOME_DELIVERED, /* written to a local session (once per session) */
	METRIC_OUTCOME_REMOTE,    /* written to a server-to-server stream */
	METRIC_OUTCOME_OFFLINE,   /* stored for an account without a session */
	METRIC_OUTCOME_SERVER,    /* addressed to one of our domains, handled by the server */
	METRIC_OUTCOME_BOUNCED,   /* answered with an error */
	METRIC_OUTCOME_DROPPED,   /* undeliverable and not answerable (an error, no sender) */
	METRIC_OUTCOME_COUNT,
};

/* Connections by kind (gauges, counted when read). */
enum metric_conn {
	METRIC_CONN_C2S_TCP,      /* a client in the clear (before STARTTLS) */
	METRIC_CONN_C2S_STARTTLS, /* a client that took STARTTLS */
	METRIC_CONN_C2S_TLS,      /* a client on the direct-TLS port */
	METRIC_CONN_S2S_IN,
	METRIC_CONN_S2S_OUT,      /* including streams still resolving or connecting */
	METRIC_CONN_HTTP,
	METRIC_CONN_COUNT,
};

/* Server-to-server links (gauges, counted when read). */
enum metric_link_dir {
	METRIC_LINK_IN,
	METRIC_LINK_OUT,
	METRIC_LINK_VERIFY, /* an outgoing stream that only verifies dialback keys (or checks) */
	METRIC_LINK_DIR_COUNT,
};

enum metric_link_state {
	METRIC_LINK_CONNECTING,  /* DNS, TCP */
	METRIC_LINK_NEGOTIATING, /* TLS, stream, authentication */
	METRIC_LINK_READY,
	METRIC_LINK_STATE_COUNT,
};

enum metric_link_auth {
	METRIC_LINK_AUTH_NONE,
	METRIC_LINK_AUTH_EXTERNAL,
	METRIC_LINK_AUTH_DIALBACK,
	METRIC_LINK_AUTH_COUNT,
};

/* The labels, for metrics_label_name. */
enum metric_label {
	METRIC_LABEL_STREAM,
	METRIC_LABEL_MECH,
	METRIC_LABEL_RESULT,
	METRIC_LABEL_STANZA,
	METRIC_LABEL_OUTCOME,
	METRIC_LABEL_CONN,
	METRIC_LABEL_LINK_DIR,
	METRIC_LABEL_LINK_STATE,
	METRIC_LABEL_LINK_AUTH,
	METRIC_LABEL_COUNT,
};

/* The label's name ("mechanism"), or NULL for no such label. */
const char *metrics_label_key(enum metric_label l);
/* How many values the label has (its enum's COUNT). */
unsigned metrics_label_count(enum metric_label l);
/* The value's name ("SCRAM-SHA-256"), or NULL when out of range. */
const char *metrics_label_name(enum metric_label l, unsigned v);
/* The value named `name` exactly, or metrics_label_count(l) for none. */
unsigned metrics_label_find(enum metric_label l, const char *name);

/* ---- The counters of one worker (its thread writes them) ---- */

struct metrics {
	uint64_t auth[METRIC_STREAM_COUNT][METRIC_MECH_COUNT][METRIC_AUTH_RESULT_COUNT];
	uint64_t stanzas[METRIC_STANZA_COUNT][METRIC_OUTCOME_COUNT];
	/* loop lag, from the worker's 1 s sweep (metrics_loop_tick) */
	uint64_t loop_due_ms;      /* when the next sweep should run */
	uint64_t loop_lag_ms;      /* how late the last one ran */
	uint64_t loop_lag_max_ms;  /* the most, this window */
	uint64_t loop_lag_prev_ms; /* the most, last window */
	uint64_t loop_ticks;
};

/* Sweeps per window of loop_lag_max: the reported maximum covers the last
 * one to two minutes. */
enum { METRICS_LAG_WINDOW = 60 };

/* Increments: one line at the place that decides, on the owning worker's
 * thread.  Out-of-range values are a caller's bug, not checked. */
static inline void metrics_auth(struct metrics *m, enum metric_stream s, enum metric_mech mech,
				enum metric_auth_result r)
{
	m->auth[s][mech][r]++;
}

/* `kind` is an enum stanza_kind (router/stanza.h). */
static inline void metrics_stanza(struct metrics *m, int kind, enum metric_outcome o)
{
	m->stanzas[kind][o]++;
}

/* metrics_auth for a stream of kind `tag` ("c2s", or "s2s" for a peer's
 * stream to us) and a SASL mechanism by name; unknown names are not
 * counted.  For stream/sasl.c, which sees both kinds. */
void metrics_auth_named(struct metrics *m, const char *tag, const char *mech, enum metric_auth_result r);

/* The worker's sweep ran at `now_ms` (loop time) and runs again in
 * `period_ms`: how late it ran is the loop's lag. */
void metrics_loop_tick(struct metrics *m, uint64_t now_ms, uint64_t period_ms);

/* ---- Reading (scrape time) ---- */

/* One worker's numbers when read: its counters and the gauges counted on
 * its thread.  Every field is a uint64_t, so a sample is also an array of
 * METRICS_SAMPLE_VALUES numbers (for carrying it between threads). */
struct metrics_sample {
	struct metrics counters;
	uint64_t conns[METRIC_CONN_COUNT];
	uint64_t links[METRIC_LINK_DIR_COUNT][METRIC_LINK_STATE_COUNT][METRIC_LINK_AUTH_COUNT];
	uint64_t s2s_queued;     /* stanzas waiting for a link to come up */
	uint64_t inbox;          /* messages waiting in the worker's inbox */
	uint64_t outq_bytes;     /* bytes queued for output on its connections */
	uint64_t nconns;         /* connections attached to it */
	uint64_t loop_lag_ms;
	uint64_t loop_lag_max_ms; /* over the last one to two minutes */
};

enum { METRICS_SAMPLE_VALUES = sizeof(struct metrics_sample) / sizeof(uint64_t) };

/* Fills what core knows of `w` (counters, inbox, output queues, lag) into
 * a zeroed `out`; the services add their connections and links.  On w's
 * thread. */
void metrics_sample_worker(struct worker *w, struct metrics_sample *out);

/* Process-wide numbers, read on the main thread.  METRICS_UNKNOWN: not
 * available (its samples are left out). */
#define METRICS_UNKNOWN UINT64_MAX
struct metrics_process {
	uint64_t rss_bytes;
	uint64_t vsize_bytes;
	uint64_t cpu_us;         /* user + system */
	uint64_t start_time_s;   /* Unix time */
	uint64_t open_fds;
	uint64_t max_fds;
	uint64_t offline_messages; /* in offline storage, every account */
	uint64_t offline_bytes;
};

/* Reads this process's numbers from /proc and getrusage (offline_* are
 * left METRICS_UNKNOWN: the caller asks the store).  Never fails: what
 * cannot be read is METRICS_UNKNOWN. */
void metrics_process_read(struct metrics_process *p);

/* Everything one scrape read. */
struct metrics_scrape {
	unsigned nworkers;
	const struct metrics_sample *workers; /* [nworkers] */
	const char *const *names;             /* [nworkers]: "w0", ... */
	struct metrics_process process;
};

/* Appends the Prometheus text exposition (format 0.0.4) of `s` to `out`:
 * every family with # HELP and # TYPE, names prefixed parley_ (process_
 * for the process's, as the Prometheus conventions name them), counters
 * and most gauges summed over the workers, per-worker gauges with a
 * worker label.  Pure: the same scrape gives the same text. */
void metrics_render(const struct metrics_scrape *s, struct buf *out);

/* Appends `s` escaped as a label value (backslash, double quote and line
 * feed), without the quotes. */
void metrics_escape_label(struct buf *out, const char *s);

#endif
