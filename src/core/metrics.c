/*
 * metrics: the names of the labels, the families as one table, the
 * renderer of the Prometheus text format, and what a worker and the
 * process report when read (see metrics.h).  The renderer walks the table:
 * a family is a run of uint64_t in a sample, laid out as its labels' enums
 * nest, so adding a family is a row here and a field in the sample.
 *
 * Nothing here is on a hot path but the inline increments of the header.
 */
#include "core/metrics.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/conn_internal.h"
#include "core/worker.h"

/* ---- Labels ---- */

static const char *const stream_names[] = {
	[METRIC_STREAM_C2S] = "c2s",
	[METRIC_STREAM_S2S_IN] = "s2s_in",
	[METRIC_STREAM_S2S_OUT] = "s2s_out",
};
static const char *const mech_names[] = {
	[METRIC_MECH_SCRAM_SHA_1] = "SCRAM-SHA-1",
	[METRIC_MECH_SCRAM_SHA_1_PLUS] = "SCRAM-SHA-1-PLUS",
	[METRIC_MECH_SCRAM_SHA_256] = "SCRAM-SHA-256",
	[METRIC_MECH_SCRAM_SHA_256_PLUS] = "SCRAM-SHA-256-PLUS",
	[METRIC_MECH_PLAIN] = "PLAIN",
	[METRIC_MECH_EXTERNAL] = "EXTERNAL",
	[METRIC_MECH_DIALBACK] = "dialback",
};
static const char *const result_names[] = {
	[METRIC_AUTH_SUCCESS] = "success",       [METRIC_AUTH_FAILURE] = "failure",
	[METRIC_AUTH_THROTTLED] = "throttled",   [METRIC_AUTH_INCOMPLETE] = "incomplete",
	[METRIC_AUTH_ERROR] = "error",
};
static const char *const stanza_names[] = {
	[METRIC_STANZA_MESSAGE] = "message",
	[METRIC_STANZA_PRESENCE] = "presence",
	[METRIC_STANZA_IQ] = "iq",
};
static const char *const outcome_names[] = {
	[METRIC_OUTCOME_DELIVERED] = "delivered", [METRIC_OUTCOME_REMOTE] = "remote",
	[METRIC_OUTCOME_OFFLINE] = "offline",     [METRIC_OUTCOME_SERVER] = "server",
	[METRIC_OUTCOME_BOUNCED] = "bounced",     [METRIC_OUTCOME_DROPPED] = "dropped",
};
static const char *const conn_names[] = {
	[METRIC_CONN_C2S_TCP] = "c2s_tcp", [METRIC_CONN_C2S_STARTTLS] = "c2s_starttls",
	[METRIC_CONN_C2S_TLS] = "c2s_tls", [METRIC_CONN_S2S_IN] = "s2s_in",
	[METRIC_CONN_S2S_OUT] = "s2s_out", [METRIC_CONN_HTTP] = "http",
};
static const char *const link_dir_names[] = {
	[METRIC_LINK_IN] = "in",
	[METRIC_LINK_OUT] = "out",
	[METRIC_LINK_VERIFY] = "verify",
};
static const char *const link_state_names[] = {
	[METRIC_LINK_CONNECTING] = "connecting",
	[METRIC_LINK_NEGOTIATING] = "negotiating",
	[METRIC_LINK_READY] = "ready",
};
static const char *const link_auth_names[] = {
	[METRIC_LINK_AUTH_NONE] = "none",
	[METRIC_LINK_AUTH_EXTERNAL] = "EXTERNAL",
	[METRIC_LINK_AUTH_DIALBACK] = "dialback",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(NELEM(stream_names) == METRIC_STREAM_COUNT, "a name per stream");
_Static_assert(NELEM(mech_names) == METRIC_MECH_COUNT, "a name per mechanism");
_Static_assert(NELEM(result_names) == METRIC_AUTH_RESULT_COUNT, "a name per result");
_Static_assert(NELEM(stanza_names) == METRIC_STANZA_COUNT, "a name per stanza kind");
_Static_assert(NELEM(outcome_names) == METRIC_OUTCOME_COUNT, "a name per outcome");
_Static_assert(NELEM(conn_names) == METRIC_CONN_COUNT, "a name per connection kind");
_Static_assert(NELEM(link_dir_names) == METRIC_LINK_DIR_COUNT, "a name per link direction");
_Static_assert(NELEM(link_state_names) == METRIC_LINK_STATE_COUNT, "a name per link state");
_Static_assert(NELEM(link_auth_names) == METRIC_LINK_AUTH_COUNT, "a name per link method");

/* The one names table: each label's key and its values' names. */
static const struct {
	const char *key;
	const char *const *names;
	unsigned n;
} labels[METRIC_LABEL_COUNT] = {
	[METRIC_LABEL_STREAM] = {"stream", stream_names, NELEM(stream_names)},
	[METRIC_LABEL_MECH] = {"mechanism", mech_names, NELEM(mech_names)},
	[METRIC_LABEL_RESULT] = {"result", result_names, NELEM(result_names)},
	[METRIC_LABEL_STANZA] = {"kind", stanza_names, NELEM(stanza_names)},
	[METRIC_LABEL_OUTCOME] = {"outcome", outcome_names, NELEM(outcome_names)},
	[METRIC_LABEL_CONN] = {"kind", conn_names, NELEM(conn_names)},
	[METRIC_LABEL_LINK_DIR] = {"direction", link_dir_names, NELEM(link_dir_names)},
	[METRIC_LABEL_LINK_STATE] = {"state", link_state_names, NELEM(link_state_names)},
	[METRIC_LABEL_LINK_AUTH] = {"auth", link_auth_names, NELEM(link_auth_names)},
};

const char *metrics_label_key(enum metric_label l)
{
	return (unsigned)l < METRIC_LABEL_COUNT ? labels[l].key : NULL;
}

unsigned metrics_label_count(enum metric_label l)
{
	return (unsigned)l < METRIC_LABEL_COUNT ? labels[l].n : 0;
}

const char *metrics_label_name(enum metric_label l, unsigned v)
{
	return v < metrics_label_count(l) ? labels[l].names[v] : NULL;
}

unsigned metrics_label_find(enum metric_label l, const char *name)
{
	unsigned n = metrics_label_count(l);
	for (unsigned v = 0; v < n; v++)
		if (strcmp(labels[l].names[v], name) == 0)
			return v;
	return n;
}

/* ---- Counting ---- */

void metrics_auth_named(struct metrics *m, const char *tag, const char *mech, enum metric_auth_result r)
{
	enum metric_stream s;
	if (strcmp(tag, "c2s") == 0)
		s = METRIC_STREAM_C2S;
	else if (strcmp(tag, "s2s") == 0)
		s = METRIC_STREAM_S2S_IN; /* the accepting side: SASL server */
	else
		return;
	unsigned k = metrics_label_find(METRIC_LABEL_MECH, mech);
	if (k < METRIC_MECH_COUNT)
		metrics_auth(m, s, (enum metric_mech)k, r);
}

void metrics_loop_tick(struct metrics *m, uint64_t now_ms, uint64_t period_ms)
{
	if (m->loop_due_ms) {
		m->loop_lag_ms = now_ms > m->loop_due_ms ? now_ms - m->loop_due_ms : 0;
		if (m->loop_lag_ms > m->loop_lag_max_ms)
			m->loop_lag_max_ms = m->loop_lag_ms;
	}
	if (++m->loop_ticks % METRICS_LAG_WINDOW == 0) {
		m->loop_lag_prev_ms = m->loop_lag_max_ms;
		m->loop_lag_max_ms = 0;
	}
	/* libuv schedules a repeating timer's next run from the loop time of
	 * this one. */
	m->loop_due_ms = now_ms + period_ms;
}

/* ---- Reading ---- */

void metrics_sample_worker(struct worker *w, struct metrics_sample *out)
{
	const struct metrics *m = &w->metrics;
	out->counters = *m;
	out->inbox = atomic_load_explicit(&w->inbox_len, memory_order_relaxed);
	out->nconns = atomic_load_explicit(&w->nconns, memory_order_relaxed);
	out->outq_bytes = conn_worker_outq_bytes(w);
	out->loop_lag_ms = m->loop_lag_ms;
	out->loop_lag_max_ms = m->loop_lag_max_ms > m->loop_lag_prev_ms ? m->loop_lag_max_ms : m->loop_lag_prev_ms;
}

/* The first line of `path` that starts with `prefix`, parsed as a number
 * after it; METRICS_UNKNOWN when there is none. */
static uint64_t proc_field(const char *path, const char *prefix)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return METRICS_UNKNOWN;
	char line[256];
	uint64_t v = METRICS_UNKNOWN;
	size_t plen = strlen(prefix);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, prefix, plen) == 0) {
			v = strtoull(line + plen, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* The start time from /proc/self/stat (field 22, clock ticks after boot)
 * and the boot time from /proc/stat. */
static uint64_t process_start_time(void)
{
	FILE *f = fopen("/proc/self/stat", "re");
	if (!f)
		return METRICS_UNKNOWN;
	char line[1024];
	bool got = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	/* The command name (field 2) may hold spaces and parentheses: fields
	 * count from after its last ')'. */
	char *p = got ? strrchr(line, ')') : NULL;
	if (!p)
		return METRICS_UNKNOWN;
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	long ticks = sysconf(_SC_CLK_TCK);
	uint64_t boot = proc_field("/proc/stat", "btime ");
	if (!p || ticks <= 0 || boot == METRICS_UNKNOWN)
		return METRICS_UNKNOWN;
	return boot + strtoull(p + 1, NULL, 10) / (uint64_t)ticks;
}

static uint64_t process_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return METRICS_UNKNOWN;
	uint64_t n = 0;
	long self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && strtol(e->d_name, NULL, 10) != self)
			n++;
	closedir(d);
	return n;
}

void metrics_process_read(struct metrics_process *p)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	bool statm = f && fscanf(f, "%llu %llu", &size, &resident) == 2 && page > 0;
	if (f)
		fclose(f);
	p->vsize_bytes = statm ? size * (uint64_t)page : METRICS_UNKNOWN;
	p->rss_bytes = statm ? resident * (uint64_t)page : METRICS_UNKNOWN;
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		p->cpu_us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
			    (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	else
		p->cpu_us = METRICS_UNKNOWN;
	p->start_time_s = process_start_time();
	p->open_fds = process_open_fds();
	struct rlimit rl;
	p->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (uint64_t)rl.rlim_cur
											: METRICS_UNKNOWN;
	p->offline_messages = p->offline_bytes = METRICS_UNKNOWN;
}

/* ---- Families ---- */

enum family_type { FAMILY_COUNTER, FAMILY_GAUGE };
enum family_scope {
	SCOPE_SUMMED,     /* one series per label set, summed over the workers */
	SCOPE_PER_WORKER, /* one series per worker, labelled worker="w0" */
	SCOPE_PROCESS,    /* a value of struct metrics_process */
};
enum family_unit {
	UNIT_ONE,
	UNIT_MS, /* kept in milliseconds, shown in seconds */
	UNIT_US, /* kept in microseconds, shown in seconds */
};

struct family {
	const char *name;
	enum family_type type;
	enum family_scope scope;
	enum family_unit unit;
	/* The first value: in struct metrics_sample, or in struct
	 * metrics_process for SCOPE_PROCESS.  The values of a family with
	 * labels follow as their enums nest (the last label varies fastest). */
	size_t offset;
	unsigned nlabels;
	enum metric_label labels[3];
	/* Label sets that cannot happen are left out (NULL: all can). */
	bool (*shown)(const unsigned *values);
	const char *help;
};

/* SASL on client streams; EXTERNAL and dialback on server streams. */
static bool auth_shown(const unsigned *v)
{
	if (v[0] == METRIC_STREAM_C2S)
		return v[1] != METRIC_MECH_DIALBACK;
	return v[1] == METRIC_MECH_EXTERNAL || v[1] == METRIC_MECH_DIALBACK;
}

#define SAMPLE(field) offsetof(struct metrics_sample, field)
#define PROCESS(field) offsetof(struct metrics_process, field)

static const struct family families[] = {
	{"parley_connections", FAMILY_GAUGE, SCOPE_SUMMED, UNIT_ONE, SAMPLE(conns), 1, {METRIC_LABEL_CONN}, NULL,
	 "Open connections by kind (c2s_tcp: a client before STARTTLS)."},
	{"parley_authentications_total", FAMILY_COUNTER, SCOPE_SUMMED, UNIT_ONE, SAMPLE(counters.auth), 3,
	 {METRIC_LABEL_STREAM, METRIC_LABEL_MECH, METRIC_LABEL_RESULT}, auth_shown,
	 "Authentications by stream, mechanism and result (failure: credentials refused)."},
	{"parley_stanzas_total", FAMILY_COUNTER, SCOPE_SUMMED, UNIT_ONE, SAMPLE(counters.stanzas), 2,
	 {METRIC_LABEL_STANZA, METRIC_LABEL_OUTCOME}, NULL,
	 "Stanzas by kind and outcome (delivered: once per local session written to)."},
	{"parley_s2s_links", FAMILY_GAUGE, SCOPE_SUMMED, UNIT_ONE, SAMPLE(links), 3,
	 {METRIC_LABEL_LINK_DIR, METRIC_LABEL_LINK_STATE, METRIC_LABEL_LINK_AUTH}, NULL,
	 "Server-to-server links (domain pairs) by direction, state and authentication method."},
	{"parley_s2s_queued_stanzas", FAMILY_GAUGE, SCOPE_SUMMED, UNIT_ONE, SAMPLE(s2s_queued), 0, {0}, NULL,
	 "Stanzas waiting for a server-to-server link to come up."},
	{"parley_offline_messages", FAMILY_GAUGE, SCOPE_PROCESS, UNIT_ONE, PROCESS(offline_messages), 0, {0}, NULL,
	 "Messages in offline storage, all accounts."},
	{"parley_offline_bytes", FAMILY_GAUGE, SCOPE_PROCESS, UNIT_ONE, PROCESS(offline_bytes), 0, {0}, NULL,
	 "Bytes of the messages in offline storage, all accounts."},
	{"parley_worker_connections", FAMILY_GAUGE, SCOPE_PER_WORKER, UNIT_ONE, SAMPLE(nconns), 0, {0}, NULL,
	 "Connections attached to each worker's loop."},
	{"parley_worker_inbox_depth", FAMILY_GAUGE, SCOPE_PER_WORKER, UNIT_ONE, SAMPLE(inbox), 0, {0}, NULL,
	 "Messages waiting in each worker's inbox (bounded by inbox_max)."},
	{"parley_worker_output_queue_bytes", FAMILY_GAUGE, SCOPE_PER_WORKER, UNIT_ONE, SAMPLE(outq_bytes), 0, {0},
	 NULL, "Bytes queued for output on each worker's connections."},
	{"parley_worker_loop_lag_seconds", FAMILY_GAUGE, SCOPE_PER_WORKER, UNIT_MS, SAMPLE(loop_lag_ms), 0, {0},
	 NULL, "How late each worker's last 1 s timer ran."},
	{"parley_worker_loop_lag_max_seconds", FAMILY_GAUGE, SCOPE_PER_WORKER, UNIT_MS, SAMPLE(loop_lag_max_ms), 0,
	 {0}, NULL, "The latest each worker's 1 s timer ran over the last one to two minutes."},
	{"process_cpu_seconds_total", FAMILY_COUNTER, SCOPE_PROCESS, UNIT_US, PROCESS(cpu_us), 0, {0}, NULL,
	 "Total user and system CPU time spent in seconds."},
	{"process_resident_memory_bytes", FAMILY_GAUGE, SCOPE_PROCESS, UNIT_ONE, PROCESS(rss_bytes), 0, {0}, NULL,
	 "Resident memory size in bytes."},
	{"process_virtual_memory_bytes", FAMILY_GAUGE, SCOPE_PROCESS, UNIT_ONE, PROCESS(vsize_bytes), 0, {0}, NULL,
	 "Virtual memory size in bytes."},
	{"process_start_time_seconds", FAMILY_GAUGE, SCOPE_PROCESS, UNIT_ONE, PROCESS(start_time_s), 0, {0}, NULL,
	 "Start time of the process since unix epoch in seconds."},
	{"process_open_fds", FAMILY_GAUGE, SCOPE_PROCESS, UNIT_ONE, PROCESS(open_fds), 0, {0}, NULL,
	 "Number of open file descriptors."},
	{"process_max_fds", FAMILY_GAUGE, SCOPE_PROCESS, UNIT_ONE, PROCESS(max_fds), 0, {0}, NULL,
	 "Maximum number of open file descriptors."},
};

/* ---- Rendering ---- */

void metrics_escape_label(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_append_str(out, "\\\\");
		else if (*s == '"')
			buf_append_str(out, "\\\"");
		else if (*s == '\n')
			buf_append_str(out, "\\n");
		else
			buf_append_char(out, *s);
	}
}

/* HELP text escapes only backslash and line feed. */
static void escape_help(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_append_str(out, "\\\\");
		else if (*s == '\n')
			buf_append_str(out, "\\n");
		else
			buf_append_char(out, *s);
	}
}

static uint64_t value_at(const void *base, size_t offset, size_t i)
{
	uint64_t v;
	memcpy(&v, (const char *)base + offset + i * sizeof(v), sizeof(v));
	return v;
}

static void write_value(struct buf *out, enum family_unit unit, uint64_t v)
{
	unsigned long long x = v;
	switch (unit) {
	case UNIT_MS:
		buf_printf(out, " %llu.%03llu\n", x / 1000, x % 1000);
		break;
	case UNIT_US:
		buf_printf(out, " %llu.%06llu\n", x / 1000000, x % 1000000);
		break;
	case UNIT_ONE:
		buf_printf(out, " %llu\n", x);
		break;
	}
}

/* name{worker="w0",key="value",...}, without braces when there are no
 * labels. */
static void write_series(struct buf *out, const struct family *f, const char *worker, const unsigned *values)
{
	buf_append_str(out, f->name);
	if (!worker && f->nlabels == 0)
		return;
	buf_append_char(out, '{');
	const char *sep = "";
	if (worker) {
		buf_append_str(out, "worker=\"");
		metrics_escape_label(out, worker);
		buf_append_char(out, '"');
		sep = ",";
	}
	for (unsigned l = 0; l < f->nlabels; l++) {
		buf_printf(out, "%s%s=\"", sep, metrics_label_key(f->labels[l]));
		metrics_escape_label(out, metrics_label_name(f->labels[l], values[l]));
		buf_append_char(out, '"');
		sep = ",";
	}
	buf_append_char(out, '}');
}

/* How many values a family has, and the label values of its i-th. */
static size_t family_size(const struct family *f)
{
	size_t n = 1;
	for (unsigned l = 0; l < f->nlabels; l++)
		n *= metrics_label_count(f->labels[l]);
	return n;
}

static void family_values(const struct family *f, size_t i, unsigned *values)
{
	for (unsigned l = f->nlabels; l-- > 0;) {
		unsigned n = metrics_label_count(f->labels[l]);
		values[l] = (unsigned)(i % n);
		i /= n;
	}
}

static void render_family(const struct metrics_scrape *s, const struct family *f, struct buf *out)
{
	buf_printf(out, "# HELP %s ", f->name);
	escape_help(out, f->help);
	buf_printf(out, "\n# TYPE %s %s\n", f->name, f->type == FAMILY_COUNTER ? "counter" : "gauge");
	if (f->scope == SCOPE_PROCESS) {
		uint64_t v = value_at(&s->process, f->offset, 0);
		if (v != METRICS_UNKNOWN) {
			write_series(out, f, NULL, NULL);
			write_value(out, f->unit, v);
		}
		return;
	}
	size_t n = family_size(f);
	unsigned values[3] = {0};
	if (f->scope == SCOPE_PER_WORKER) {
		for (unsigned w = 0; w < s->nworkers; w++)
			for (size_t i = 0; i < n; i++) {
				family_values(f, i, values);
				if (f->shown && !f->shown(values))
					continue;
				write_series(out, f, s->names[w], values);
				write_value(out, f->unit, value_at(&s->workers[w], f->offset, i));
			}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		family_values(f, i, values);
		if (f->shown && !f->shown(values))
			continue;
		uint64_t sum = 0;
		for (unsigned w = 0; w < s->nworkers; w++)
			sum += value_at(&s->workers[w], f->offset, i);
		write_series(out, f, NULL, values);
		write_value(out, f->unit, sum);
	}
}

void metrics_render(const struct metrics_scrape *s, struct buf *out)
{
	for (size_t i = 0; i < NELEM(families); i++)
		render_family(s, &families[i], out);
}
