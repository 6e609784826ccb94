/* Unit tests of core/metrics: the names table, the increments, the loop
 * lag, a worker's sample, and the Prometheus text the renderer makes from
 * known numbers (checked line by line against the 0.0.4 text format). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/metrics.h"
#include "core/worker.h"
#include "router/stanza.h"

/* A stanza's kind is the index of its counters. */
_Static_assert(METRIC_STANZA_MESSAGE == (int)STANZA_MESSAGE, "message");
_Static_assert(METRIC_STANZA_PRESENCE == (int)STANZA_PRESENCE, "presence");
_Static_assert(METRIC_STANZA_IQ == (int)STANZA_IQ, "iq");

static void every_label_value_has_one_name(void **state)
{
	(void)state;
	for (unsigned l = 0; l < METRIC_LABEL_COUNT; l++) {
		const char *key = metrics_label_key((enum metric_label)l);
		unsigned n = metrics_label_count((enum metric_label)l);
		assert_non_null(key);
		assert_true(n > 0);
		for (unsigned v = 0; v < n; v++) {
			const char *name = metrics_label_name((enum metric_label)l, v);
			assert_non_null(name);
			assert_true(*name != '\0');
			/* names are unique within a label: find gives this one */
			assert_int_equal(metrics_label_find((enum metric_label)l, name), v);
		}
		assert_null(metrics_label_name((enum metric_label)l, n));
		assert_int_equal(metrics_label_find((enum metric_label)l, "no such value"), n);
	}
	assert_null(metrics_label_key(METRIC_LABEL_COUNT));
	assert_int_equal(metrics_label_count(METRIC_LABEL_MECH), METRIC_MECH_COUNT);
	assert_string_equal(metrics_label_name(METRIC_LABEL_MECH, METRIC_MECH_SCRAM_SHA_256_PLUS), "SCRAM-SHA-256-PLUS");
	assert_string_equal(metrics_label_name(METRIC_LABEL_OUTCOME, METRIC_OUTCOME_OFFLINE), "offline");
}

static void named_increments_find_their_counter(void **state)
{
	(void)state;
	struct metrics m;
	memset(&m, 0, sizeof(m));
	metrics_auth_named(&m, "c2s", "SCRAM-SHA-256", METRIC_AUTH_SUCCESS);
	metrics_auth_named(&m, "c2s", "SCRAM-SHA-256", METRIC_AUTH_SUCCESS);
	metrics_auth_named(&m, "c2s", "PLAIN", METRIC_AUTH_FAILURE);
	metrics_auth_named(&m, "s2s", "EXTERNAL", METRIC_AUTH_SUCCESS);
	assert_int_equal(m.auth[METRIC_STREAM_C2S][METRIC_MECH_SCRAM_SHA_256][METRIC_AUTH_SUCCESS], 2);
	assert_int_equal(m.auth[METRIC_STREAM_C2S][METRIC_MECH_PLAIN][METRIC_AUTH_FAILURE], 1);
	assert_int_equal(m.auth[METRIC_STREAM_S2S_IN][METRIC_MECH_EXTERNAL][METRIC_AUTH_SUCCESS], 1);
	/* unknown kinds and mechanisms ("?" before one was chosen) count
	 * nowhere */
	struct metrics before = m;
	metrics_auth_named(&m, "c2s", "?", METRIC_AUTH_FAILURE);
	metrics_auth_named(&m, "c2s", "scram-sha-256", METRIC_AUTH_FAILURE);
	metrics_auth_named(&m, "websocket?", "PLAIN", METRIC_AUTH_FAILURE);
	assert_memory_equal(&m, &before, sizeof(m));

	metrics_stanza(&m, STANZA_IQ, METRIC_OUTCOME_SERVER);
	assert_int_equal(m.stanzas[METRIC_STANZA_IQ][METRIC_OUTCOME_SERVER], 1);
}

static void loop_lag_is_how_late_the_sweep_ran(void **state)
{
	(void)state;
	struct metrics m;
	memset(&m, 0, sizeof(m));
	metrics_loop_tick(&m, 1000, 1000); /* the first tick has nothing to compare */
	assert_int_equal(m.loop_lag_ms, 0);
	metrics_loop_tick(&m, 2000, 1000);
	assert_int_equal(m.loop_lag_ms, 0);
	metrics_loop_tick(&m, 3250, 1000); /* due at 3000 */
	assert_int_equal(m.loop_lag_ms, 250);
	assert_int_equal(m.loop_lag_max_ms, 250);
	metrics_loop_tick(&m, 4250, 1000); /* due at 4250: on time again */
	assert_int_equal(m.loop_lag_ms, 0);
	assert_int_equal(m.loop_lag_max_ms, 250);
	metrics_loop_tick(&m, 5249, 1000); /* early by the clock's rounding */
	assert_int_equal(m.loop_lag_ms, 0);

	/* The maximum covers the window that ended and the current one. */
	uint64_t now = 5249;
	while (m.loop_ticks % METRICS_LAG_WINDOW != 0) {
		now += 1000;
		metrics_loop_tick(&m, now, 1000);
	}
	assert_int_equal(m.loop_lag_prev_ms, 250);
	assert_int_equal(m.loop_lag_max_ms, 0);
	now += 1010;
	metrics_loop_tick(&m, now, 1000);
	assert_int_equal(m.loop_lag_max_ms, 10);

	struct worker w;
	memset(&w, 0, sizeof(w));
	worker_init(&w, 3, 16);
	assert_int_equal(w.metrics.loop_ticks, 0);
	w.metrics = m;
	w.metrics.stanzas[METRIC_STANZA_MESSAGE][METRIC_OUTCOME_DELIVERED] = 42;
	struct metrics_sample s;
	memset(&s, 0, sizeof(s));
	metrics_sample_worker(&w, &s);
	assert_int_equal(s.loop_lag_ms, 10);
	assert_int_equal(s.loop_lag_max_ms, 250);
	assert_int_equal(s.counters.stanzas[METRIC_STANZA_MESSAGE][METRIC_OUTCOME_DELIVERED], 42);
	assert_int_equal(s.inbox, 0);
	assert_int_equal(s.nconns, 0);
	assert_int_equal(s.outq_bytes, 0);

	/* a full window without lag forgets the old maximum */
	for (int i = 0; i < 2 * METRICS_LAG_WINDOW; i++) {
		now += 1000;
		metrics_loop_tick(&w.metrics, now, 1000);
	}
	metrics_sample_worker(&w, &s);
	assert_int_equal(s.loop_lag_max_ms, 0);
	worker_discard(&w);
}

/* ---- rendering ---- */

static void fill_scrape(struct metrics_sample *ws, struct metrics_scrape *sc, const char **names)
{
	memset(ws, 0, 2 * sizeof(*ws));
	ws[0].counters.stanzas[METRIC_STANZA_MESSAGE][METRIC_OUTCOME_DELIVERED] = 3;
	ws[1].counters.stanzas[METRIC_STANZA_MESSAGE][METRIC_OUTCOME_DELIVERED] = 4;
	ws[1].counters.stanzas[METRIC_STANZA_IQ][METRIC_OUTCOME_BOUNCED] = 1;
	ws[0].counters.auth[METRIC_STREAM_C2S][METRIC_MECH_SCRAM_SHA_256][METRIC_AUTH_SUCCESS] = 2;
	ws[1].counters.auth[METRIC_STREAM_C2S][METRIC_MECH_SCRAM_SHA_256][METRIC_AUTH_SUCCESS] = 3;
	ws[1].counters.auth[METRIC_STREAM_S2S_OUT][METRIC_MECH_DIALBACK][METRIC_AUTH_FAILURE] = 1;
	ws[0].conns[METRIC_CONN_C2S_TLS] = 1;
	ws[1].conns[METRIC_CONN_C2S_TLS] = 2;
	ws[1].links[METRIC_LINK_OUT][METRIC_LINK_READY][METRIC_LINK_AUTH_EXTERNAL] = 1;
	ws[0].inbox = 0;
	ws[1].inbox = 4;
	ws[0].outq_bytes = 1234;
	ws[0].loop_lag_ms = 250;
	ws[1].loop_lag_max_ms = 12345;
	names[0] = "w0";
	names[1] = "w1";
	memset(sc, 0, sizeof(*sc));
	sc->nworkers = 2;
	sc->workers = ws;
	sc->names = names;
	sc->process = (struct metrics_process){
		.rss_bytes = 10 << 20,
		.vsize_bytes = 100 << 20,
		.cpu_us = 1500000,
		.start_time_s = 1700000000,
		.open_fds = 12,
		.max_fds = METRICS_UNKNOWN,
		.offline_messages = METRICS_UNKNOWN,
		.offline_bytes = METRICS_UNKNOWN,
	};
}

/* True when `text` has `line` as a whole line. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; *p;) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && memcmp(p, line, n) == 0)
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

static bool name_char(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':' || (!first && isdigit((unsigned char)c));
}

/* One sample line: name{label="value",...} value.  Returns the length of
 * the name, 0 when the line is malformed. */
static size_t check_sample(const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && name_char(line[i], i == 0))
		i++;
	size_t name_len = i;
	if (name_len == 0)
		return 0;
	if (i < len && line[i] == '{') {
		i++;
		while (i < len && line[i] != '}') {
			size_t k = i;
			while (i < len && name_char(line[i], i == k))
				i++;
			if (i == k || i + 1 >= len || line[i] != '=' || line[i + 1] != '"')
				return 0;
			i += 2;
			while (i < len && line[i] != '"') {
				if (line[i] == '\\') {
					if (i + 1 >= len || !strchr("\\\"n", line[i + 1]))
						return 0;
					i++;
				}
				i++;
			}
			if (i >= len)
				return 0;
			i++; /* closing quote */
			if (i < len && line[i] == ',')
				i++;
		}
		if (i >= len)
			return 0;
		i++; /* } */
	}
	if (i >= len || line[i] != ' ')
		return 0;
	i++;
	char value[64];
	if (len - i == 0 || len - i >= sizeof(value))
		return 0;
	memcpy(value, line + i, len - i);
	value[len - i] = '\0';
	char *end;
	strtod(value, &end);
	return *end == '\0' ? name_len : 0;
}

/* The whole text follows the 0.0.4 format: each family has one HELP and
 * one TYPE before its samples, its samples are together, no family twice,
 * and the text ends with a line feed. */
static unsigned check_format(const char *text)
{
	char family[128] = "";
	char seen[64][128];
	unsigned nseen = 0;
	size_t tlen = strlen(text);
	assert_true(tlen > 0 && text[tlen - 1] == '\n');
	for (const char *p = text; *p;) {
		const char *end = strchr(p, '\n');
		size_t len = (size_t)(end - p);
		char line[512];
		assert_true(len < sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		if (strncmp(line, "# HELP ", 7) == 0) {
			const char *name = line + 7;
			size_t n = strcspn(name, " ");
			assert_true(n > 0 && n < sizeof(family));
			for (unsigned i = 0; i < nseen; i++)
				assert_false(strlen(seen[i]) == n && memcmp(seen[i], name, n) == 0);
			memcpy(family, name, n);
			family[n] = '\0';
			assert_true(nseen < 64);
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", family);
			/* TYPE follows at once */
			const char *next = end + 1;
			char type[256];
			snprintf(type, sizeof(type), "# TYPE %s ", family);
			assert_int_equal(strncmp(next, type, strlen(type)), 0);
			const char *t = next + strlen(type);
			assert_true(strncmp(t, "counter\n", 8) == 0 || strncmp(t, "gauge\n", 6) == 0);
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_int_equal(strncmp(line + 7, family, strlen(family)), 0);
		} else {
			size_t n = check_sample(line, len);
			if (n == 0)
				fail_msg("malformed sample line: %s", line);
			assert_true(n == strlen(family) && memcmp(line, family, n) == 0);
		}
		p = end + 1;
	}
	return nseen;
}

static void render_sums_counters_and_labels_workers(void **state)
{
	(void)state;
	struct metrics_sample ws[2];
	struct metrics_scrape sc;
	const char *names[2];
	fill_scrape(ws, &sc, names);
	struct buf b = BUF_INIT;
	metrics_render(&sc, &b);
	const char *text = buf_cstr(&b);

	assert_true(check_format(text) >= 15);
	assert_true(has_line(text, "# TYPE parley_stanzas_total counter"));
	assert_true(has_line(text, "parley_stanzas_total{kind=\"message\",outcome=\"delivered\"} 7"));
	assert_true(has_line(text, "parley_stanzas_total{kind=\"iq\",outcome=\"bounced\"} 1"));
	assert_true(has_line(text, "parley_stanzas_total{kind=\"presence\",outcome=\"offline\"} 0"));
	assert_true(has_line(text, "parley_authentications_total"
				   "{stream=\"c2s\",mechanism=\"SCRAM-SHA-256\",result=\"success\"} 5"));
	assert_true(has_line(text, "parley_authentications_total"
				   "{stream=\"s2s_out\",mechanism=\"dialback\",result=\"failure\"} 1"));
	/* combinations that cannot happen are left out */
	assert_null(strstr(text, "stream=\"c2s\",mechanism=\"dialback\""));
	assert_null(strstr(text, "stream=\"s2s_in\",mechanism=\"PLAIN\""));
	assert_true(has_line(text, "# TYPE parley_connections gauge"));
	assert_true(has_line(text, "parley_connections{kind=\"c2s_tls\"} 3"));
	assert_true(has_line(text, "parley_connections{kind=\"http\"} 0"));
	assert_true(has_line(text, "parley_s2s_links{direction=\"out\",state=\"ready\",auth=\"EXTERNAL\"} 1"));
	assert_true(has_line(text, "parley_worker_inbox_depth{worker=\"w0\"} 0"));
	assert_true(has_line(text, "parley_worker_inbox_depth{worker=\"w1\"} 4"));
	assert_true(has_line(text, "parley_worker_output_queue_bytes{worker=\"w0\"} 1234"));
	assert_true(has_line(text, "parley_worker_loop_lag_seconds{worker=\"w0\"} 0.250"));
	assert_true(has_line(text, "parley_worker_loop_lag_max_seconds{worker=\"w1\"} 12.345"));
	assert_true(has_line(text, "process_cpu_seconds_total 1.500000"));
	assert_true(has_line(text, "# TYPE process_cpu_seconds_total counter"));
	assert_true(has_line(text, "process_resident_memory_bytes 10485760"));
	assert_true(has_line(text, "process_start_time_seconds 1700000000"));
	/* unknown values: the family is described, without a sample */
	assert_true(has_line(text, "# TYPE parley_offline_messages gauge"));
	assert_null(strstr(text, "\nparley_offline_messages "));
	assert_null(strstr(text, "\nprocess_max_fds "));

	/* pure: the same numbers give the same text */
	struct buf again = BUF_INIT;
	metrics_render(&sc, &again);
	assert_int_equal(again.len, b.len);
	assert_memory_equal(again.data, b.data, b.len);
	buf_clear(&again);

	/* offline storage known: a sample */
	sc.process.offline_messages = 9;
	sc.process.offline_bytes = 900;
	buf_reset(&b);
	metrics_render(&sc, &b);
	text = buf_cstr(&b);
	assert_true(has_line(text, "parley_offline_messages 9"));
	assert_true(has_line(text, "parley_offline_bytes 900"));
	buf_clear(&b);
}

static void labels_are_escaped(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	metrics_escape_label(&b, "a\"b\\c\nd");
	assert_string_equal(buf_cstr(&b), "a\\\"b\\\\c\\nd");
	buf_clear(&b);

	struct metrics_sample ws[2];
	struct metrics_scrape sc;
	const char *names[2];
	fill_scrape(ws, &sc, names);
	names[1] = "w\"1\\\n";
	metrics_render(&sc, &b);
	const char *text = buf_cstr(&b);
	check_format(text);
	assert_true(has_line(text, "parley_worker_inbox_depth{worker=\"w\\\"1\\\\\\n\"} 4"));
	buf_clear(&b);
}

static void no_workers_still_renders(void **state)
{
	(void)state;
	struct metrics_scrape sc;
	memset(&sc, 0, sizeof(sc));
	metrics_process_read(&sc.process);
	assert_true(sc.process.rss_bytes > 0 && sc.process.rss_bytes != METRICS_UNKNOWN);
	assert_true(sc.process.open_fds > 0 && sc.process.open_fds != METRICS_UNKNOWN);
	assert_true(sc.process.start_time_s > 1600000000 && sc.process.start_time_s != METRICS_UNKNOWN);
	assert_int_equal(sc.process.offline_messages, METRICS_UNKNOWN);
	struct buf b = BUF_INIT;
	metrics_render(&sc, &b);
	const char *text = buf_cstr(&b);
	check_format(text);
	assert_true(has_line(text, "parley_stanzas_total{kind=\"message\",outcome=\"delivered\"} 0"));
	assert_null(strstr(text, "worker=\""));
	buf_clear(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_label_value_has_one_name),
		cmocka_unit_test(named_increments_find_their_counter),
		cmocka_unit_test(loop_lag_is_how_late_the_sweep_ran),
		cmocka_unit_test(render_sums_counters_and_labels_workers),
		cmocka_unit_test(labels_are_escaped),
		cmocka_unit_test(no_workers_still_renders),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
