/*
 * lg_stats: clocks, latency histograms, the server's CPU and memory read
 * from /proc, and one-line JSON output.  Nothing here touches a socket.
 */
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

double lg_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t lg_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double lg_self_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

/* Values below 64 have a bucket each; above, 32 buckets per power of two. */
static unsigned hist_index(uint64_t v)
{
	if (v < 64)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - 5;
	unsigned idx = 64 + (shift - 1) * 32 + (unsigned)((v >> shift) - 32);
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

static uint64_t hist_value(unsigned idx)
{
	if (idx < 64)
		return idx;
	unsigned shift = (idx - 64) / 32 + 1;
	uint64_t top = 32 + (idx - 64) % 32;
	return (top << shift) + ((uint64_t)1 << (shift - 1));	/* middle of the bucket */
}

void hist_add(struct hist *h, uint64_t us)
{
	h->b[hist_index(us)]++;
	h->count++;
	h->sum += us;
	if (us > h->max)
		h->max = us;
}

uint64_t hist_pct(const struct hist *h, double p)
{
	if (h->count == 0)
		return 0;
	uint64_t want = (uint64_t)ceil((double)h->count * p / 100.0);
	if (want == 0)
		want = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t v = hist_value(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

/* ---- /proc ---- */

struct pstat {
	int pid, ppid;
	double cpu;
};

static bool read_pstat(int pid, struct pstat *ps)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	/* The command name may hold spaces and parentheses: fields start after
	 * the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return false;
	char state;
	int ppid;
	unsigned long utime, stime;
	if (sscanf(p + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &state, &ppid, &utime, &stime) != 4)
		return false;
	ps->pid = pid;
	ps->ppid = ppid;
	ps->cpu = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
	return true;
}

static long read_rss_kb(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	long kb = 0;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

struct proc_sample proc_sample(int root_pid)
{
	struct proc_sample s = {0};
	if (root_pid <= 0)
		return s;
	struct pstat *all = NULL;
	size_t n = 0, cap = 0;
	DIR *d = opendir("/proc");
	if (!d)
		return s;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		struct pstat ps;
		if (!read_pstat(atoi(de->d_name), &ps))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 512;
			all = realloc(all, cap * sizeof *all);
			if (!all)
				abort();
		}
		all[n++] = ps;
	}
	closedir(d);
	/* Descendants: mark the root, then anything whose parent is marked,
	 * until nothing changes (process trees are shallow). */
	bool *in = calloc(n ? n : 1, sizeof *in);
	if (!in)
		abort();
	bool changed = true;
	for (size_t i = 0; i < n; i++)
		if (all[i].pid == root_pid)
			in[i] = true;
	for (int pass = 0; changed && pass < 16; pass++) {
		changed = false;
		for (size_t i = 0; i < n; i++) {
			if (in[i])
				continue;
			for (size_t k = 0; k < n; k++)
				if (in[k] && all[k].pid == all[i].ppid) {
					in[i] = changed = true;
					break;
				}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (in[i]) {
			s.cpu_s += all[i].cpu;
			s.rss_kb += read_rss_kb(all[i].pid);
			s.nprocs++;
		}
	s.ok = s.nprocs > 0;
	free(in);
	free(all);
	return s;
}

struct proc_sample servers_sample(void)
{
	struct proc_sample sum = {0};
	for (int i = 0; i < opt.nserver_pids; i++) {
		struct proc_sample s = proc_sample(opt.server_pids[i]);
		if (!s.ok)
			return (struct proc_sample){0};
		sum.cpu_s += s.cpu_s;
		sum.rss_kb += s.rss_kb;
		sum.nprocs += s.nprocs;
	}
	sum.ok = sum.nprocs > 0;
	return sum;
}

/* ---- JSON ---- */

void jout_begin(struct jout *j, FILE *f)
{
	j->f = f;
	j->first = true;
	fputc('{', f);
}

static void jout_key(struct jout *j, const char *key)
{
	fprintf(j->f, "%s\"%s\":", j->first ? "" : ",", key);
	j->first = false;
}

void jout_str(struct jout *j, const char *key, const char *val)
{
	jout_key(j, key);
	fputc('"', j->f);
	for (const char *p = val ? val : ""; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '"' || ch == '\\')
			fprintf(j->f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(j->f, "\\u%04x", ch);
		else
			fputc(ch, j->f);
	}
	fputc('"', j->f);
}

void jout_int(struct jout *j, const char *key, long long val)
{
	jout_key(j, key);
	fprintf(j->f, "%lld", val);
}

void jout_num(struct jout *j, const char *key, double val)
{
	jout_key(j, key);
	if (isfinite(val))
		fprintf(j->f, "%.6g", val);
	else
		fputs("null", j->f);
}

void jout_bool(struct jout *j, const char *key, bool val)
{
	jout_key(j, key);
	fputs(val ? "true" : "false", j->f);
}

void jout_hist(struct jout *j, const char *key, const struct hist *h)
{
	char k[96];
	static const struct {
		const char *suffix;
		double pct;
	} pcts[] = {{"p50_ms", 50}, {"p90_ms", 90}, {"p99_ms", 99}};
	for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
		snprintf(k, sizeof k, "%s_%s", key, pcts[i].suffix);
		jout_num(j, k, h->count ? (double)hist_pct(h, pcts[i].pct) / 1000.0 : NAN);
	}
	snprintf(k, sizeof k, "%s_max_ms", key);
	jout_num(j, k, h->count ? (double)h->max / 1000.0 : NAN);
	snprintf(k, sizeof k, "%s_mean_ms", key);
	jout_num(j, k, h->count ? (double)h->sum / (double)h->count / 1000.0 : NAN);
	snprintf(k, sizeof k, "%s_n", key);
	jout_int(j, k, (long long)h->count);
}

void jout_end(struct jout *j)
{
	fputs("}\n", j->f);
	fflush(j->f);
}

/* ---- measurement windows ---- */

void window_open(struct lg_window *w)
{
	w->t0 = lg_now();
	w->gen_cpu0 = lg_self_cpu();
	w->srv0 = servers_sample();
	w->t1 = 0;
}

void window_close(struct lg_window *w)
{
	w->t1 = lg_now();
	w->gen_cpu1 = lg_self_cpu();
	w->srv1 = servers_sample();
}

void jout_common(struct jout *j, const struct lg_window *w)
{
	double secs = w->t1 > w->t0 ? w->t1 - w->t0 : 0;
	jout_num(j, "window_s", secs);
	jout_num(j, "gen_cpu_s", w->gen_cpu1 - w->gen_cpu0);
	/* 1.0 means the generator used a whole core: its figures may then
	 * measure the generator rather than the server. */
	jout_num(j, "gen_cpu_util", secs > 0 ? (w->gen_cpu1 - w->gen_cpu0) / secs : NAN);
	if (w->srv0.ok && w->srv1.ok) {
		jout_num(j, "server_cpu_s", w->srv1.cpu_s - w->srv0.cpu_s);
		jout_num(j, "server_cpu_util", secs > 0 ? (w->srv1.cpu_s - w->srv0.cpu_s) / secs : NAN);
		jout_int(j, "server_rss_kb", w->srv1.rss_kb);
		jout_int(j, "server_procs", w->srv1.nprocs);
	}
	jout_int(j, "opened", lgc.opened);
	jout_int(j, "failed", lgc.failed);
	jout_int(j, "closed_by_server", lgc.closed_by_server);
	jout_int(j, "tls_resumed", lgc.tls_resumed);
	jout_str(j, "tls", lg_tls_seen);
	jout_int(j, "pbkdf2_runs", (long long)scram_pbkdf2_runs);
	jout_errors(j);
}
