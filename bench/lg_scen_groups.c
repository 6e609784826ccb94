/*
 * groups: --users members of one shared group (accounts PREFIX<first>...)
 * whose rosters come from the server's shared-group feature alone (Parley's
 * shared groups, Prosody's mod_groups, ejabberd's mod_shared_roster): the
 * harness gives them no roster items of their own.
 *
 * Every login's roster is checked to hold every other member with
 * subscription both.  When one falls short, or a member does not log in,
 * the run stops before measuring and is not valid (exit status 1): a
 * misconfigured shared roster must not yield a fast, meaningless figure.
 *
 * The group is online when every member has every other member's
 * available presence (initial presence and the answers to probes), which
 * some servers deliver long after the last login; then --settle seconds
 * more, bounded by --timeout for the whole wait.
 *
 * Then members re-broadcast presence with "B SEQ TS" in <status/>, in
 * turn (round robin), at most --inflight broadcasts in flight across the
 * group and --window per member.  A broadcast completes when every other
 * member has it (each receiver counted once; copies beyond the first are
 * duplicates), and the next member in turn sends.  One that some member
 * has not got 5 s after it was sent is stalled: its place goes to the
 * next sender, so one lost stanza cannot stop the group.
 *
 * This is not the presence ring: there every broadcast reaches --contacts
 * users from stored roster items; here it reaches the whole group.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

#define GSLOTS 16
#define STALL_NS 5000000000ull

/* One broadcast in flight. */
struct gslot {
	uint64_t seq;
	uint64_t t_ns;	/* sent, CLOCK_MONOTONIC */
	int count;	/* distinct members that have it */
	bool used;
	uint64_t *got;	/* a bit per member: has it */
};

struct gmember {
	uint64_t seq;
	int inflight;
	int roster_members;	/* other members on the roster, subscription both */
	int roster_foreign;	/* items that are not other members of the group */
	bool roster_seen;
	struct gslot s[GSLOTS];
};

enum gphase { G_CONNECT, G_SETTLE, G_WARMUP, G_MEASURE, G_DRAIN, G_CLOSE };

static struct {
	struct fleet f;
	struct gmember *m;
	uint64_t *bits;		/* every bitmap: slot receivers, then initial presence */
	size_t words;		/* 64-bit words per bitmap (one bit per member) */
	uint64_t *avail;	/* member i's bitmap of members whose presence it saw */
	int *avail_n;		/* ... and how many they are */
	int avail_full;		/* members that saw every other member */
	double t_online;	/* when avail_full reached n (0: not yet) */
	enum gphase phase;
	double t_phase, t_check;
	int cap, inflight, rr;
	long sent, done, stalled, delivered, dups, late, ignored;
	int roster_min, roster_max, foreign_max, rosters_short, users_up, avail_min;
	double online_s;	/* from the last login to every presence seen */
	struct proc_sample srv_start, srv_online;	/* server CPU to get the group online */
	bool valid;
	const char *why;	/* why the run is not valid */
	struct hist lat;	/* send to receipt, each delivery */
	struct hist bcast;	/* send to the last member's receipt */
	struct lg_window w;
} grp;

static bool bit_test_set(uint64_t *map, int i)
{
	uint64_t m = 1ull << (i & 63);
	bool was = map[i >> 6] & m;
	map[i >> 6] |= m;
	return was;
}

static bool grp_start(void)
{
	int n = opt.users;
	if (n < 2) {
		fprintf(stderr, "loadgen: groups: --users must be at least 2\n");
		return false;
	}
	if (opt.window > GSLOTS)
		opt.window = GSLOTS;
	fleet_init(&grp.f, n);
	grp.m = calloc((size_t)n, sizeof *grp.m);
	grp.avail_n = calloc((size_t)n, sizeof *grp.avail_n);
	grp.words = ((size_t)n + 63) / 64;
	size_t maps = (size_t)n * (size_t)opt.window + (size_t)n;
	grp.bits = calloc(maps * grp.words, sizeof *grp.bits);
	if (!grp.m || !grp.avail_n || !grp.bits)
		abort();
	for (int i = 0; i < n; i++)
		for (int k = 0; k < opt.window; k++)
			grp.m[i].s[k].got = grp.bits + ((size_t)i * (size_t)opt.window + (size_t)k) * grp.words;
	grp.avail = grp.bits + (size_t)n * (size_t)opt.window * grp.words;
	grp.cap = opt.inflight > 0 && opt.inflight < n * opt.window ? opt.inflight : n * opt.window;
	grp.roster_min = -1;
	grp.avail_min = -1;
	grp.online_s = NAN;
	grp.srv_start = servers_sample();
	grp.valid = true;
	fprintf(stderr, "loadgen: groups: %d members, %d broadcasts in flight (window %d), %g s (+%g s warm-up)\n",
		n, grp.cap, opt.window, opt.duration, opt.warmup);
	return true;
}

static void grp_invalid(const char *why)
{
	if (grp.valid)
		fprintf(stderr, "loadgen: groups: NOT VALID: %s\n", why);
	grp.valid = false;
	grp.why = why;
	lg_count_error(why);
}

static void grp_roster(struct conn *c, const struct el *query)
{
	int me = c->user - opt.first;
	struct gmember *m = &grp.m[me];
	m->roster_members = m->roster_foreign = 0;
	for (struct el *it = query ? query->child : NULL; it; it = it->next) {
		if (!el_is(it, "item"))
			continue;
		int idx = jid_index(&grp.f, el_attr(it, "jid"));
		const char *sub = el_attr(it, "subscription");
		if (idx < 0 || idx == me)
			m->roster_foreign++;
		else if (sub && strcmp(sub, "both") == 0)
			m->roster_members++;
	}
	m->roster_seen = true;
	if (grp.roster_min < 0 || m->roster_members < grp.roster_min)
		grp.roster_min = m->roster_members;
	if (m->roster_members > grp.roster_max)
		grp.roster_max = m->roster_members;
	if (m->roster_foreign > grp.foreign_max)
		grp.foreign_max = m->roster_foreign;
	if (m->roster_members < grp.f.n - 1) {
		if (grp.rosters_short++ == 0)
			fprintf(stderr, "loadgen: groups: %s%d's roster holds %d of the %d other members "
					"(subscription both): is the shared group set up?\n",
				opt.prefix, c->user, m->roster_members, grp.f.n - 1);
		grp_invalid("shared roster incomplete");
	}
}

static void grp_broadcast(struct conn *c, int idx)
{
	struct gmember *m = &grp.m[idx];
	struct gslot *s = NULL;
	for (int k = 0; k < opt.window && !s; k++)
		if (!m->s[k].used)
			s = &m->s[k];
	if (!s)
		return;
	s->used = true;
	s->seq = ++m->seq;
	s->count = 0;
	s->t_ns = lg_now_ns();
	memset(s->got, 0, grp.words * sizeof *s->got);
	m->inflight++;
	grp.inflight++;
	grp.sent++;
	char buf[128], *p = buf;
	p = put_s(p, "<presence><status>B ");
	p = put_u64(p, s->seq);
	p = put(p, " ", 1);
	p = put_u64(p, s->t_ns);
	p = put_s(p, "</status></presence>");
	conn_send(c, buf, (size_t)(p - buf));
}

static bool grp_sending(void)
{
	return grp.phase == G_WARMUP || grp.phase == G_MEASURE;
}

/* Starts broadcasts, the next member in turn first, until --inflight are
 * in flight. */
static void grp_fill(void)
{
	if (!grp_sending())
		return;
	for (int tries = 0; grp.inflight < grp.cap && tries < grp.f.n; tries++) {
		int idx = grp.rr;
		grp.rr = (grp.rr + 1) % grp.f.n;
		struct conn *c = fleet_conn(&grp.f, idx);
		if (!c || grp.m[idx].inflight >= opt.window)
			continue;
		grp_broadcast(c, idx);
		tries = -1;
	}
}

static void grp_release(int idx, struct gslot *s)
{
	s->used = false;
	grp.m[idx].inflight--;
	grp.inflight--;
}

static void grp_stanza(struct conn *c, const struct el *e)
{
	if (!el_is(e, "presence") || el_attr(e, "type"))
		return;
	int from = jid_index(&grp.f, el_attr(e, "from"));
	int me = c->user - opt.first;
	if (from < 0 || from == me) {
		grp.ignored++;
		return;
	}
	const char *status = el_text(el_child(e, "status"));
	unsigned long long seq, ts;
	if (status[0] != 'B' || status[1] != ' ' || !get_two(status + 2, &seq, &ts)) {
		/* Initial presence, or a probe's answer. */
		if (!bit_test_set(grp.avail + (size_t)me * grp.words, from) && ++grp.avail_n[me] == grp.f.n - 1)
			grp.avail_full++;
		return;
	}
	uint64_t now = lg_now_ns();
	if (grp.phase == G_MEASURE) {
		grp.delivered++;
		hist_add(&grp.lat, now > ts ? (now - ts) / 1000 : 0);
	}
	struct gmember *m = &grp.m[from];
	for (int k = 0; k < opt.window; k++) {
		struct gslot *s = &m->s[k];
		if (!s->used || s->seq != seq)
			continue;
		if (bit_test_set(s->got, me)) {
			grp.dups++;
			return;
		}
		if (++s->count < grp.f.n - 1)
			return;
		if (grp.phase == G_MEASURE) {
			grp.done++;
			hist_add(&grp.bcast, now > s->t_ns ? (now - s->t_ns) / 1000 : 0);
		}
		grp_release(from, s);
		grp_fill();
		return;
	}
	grp.late++;	/* after its broadcast stalled */
}

static void grp_ready(struct conn *c)
{
	fleet_ready(&grp.f, c);
}

static void grp_closed(struct conn *c)
{
	fleet_closed(&grp.f, c);
	if (c->t_ready > 0 && grp_sending())
		grp_invalid("a member's session ended while measuring");
}

static void grp_stalls(void)
{
	uint64_t now = lg_now_ns();
	if (now < STALL_NS)
		return;
	uint64_t limit = now - STALL_NS;
	for (int i = 0; i < grp.f.n; i++)
		for (int k = 0; k < opt.window; k++) {
			struct gslot *s = &grp.m[i].s[k];
			if (s->used && s->t_ns < limit) {
				grp.stalled++;
				grp_release(i, s);
			}
		}
	grp_fill();
}

/* Before measuring: every member logged in, every roster complete. */
static bool grp_check_up(void)
{
	if (grp.f.ready < grp.f.n) {
		fprintf(stderr, "loadgen: groups: %d of %d members logged in\n", grp.f.ready, grp.f.n);
		grp_invalid("not every member logged in");
	}
	for (int i = 0; i < grp.f.n; i++)
		if (!grp.m[i].roster_seen && fleet_conn(&grp.f, i))
			grp_invalid("a member's roster was not seen");
	if (grp.valid)
		fprintf(stderr, "loadgen: groups: every roster holds the %d other members (subscription both); "
				"at most %d other items\n", grp.f.n - 1, grp.foreign_max);
	return grp.valid;
}

static void grp_close(double now)
{
	fleet_close_all(&grp.f);
	grp.t_phase = now;
	grp.phase = G_CLOSE;
}

static void grp_tick(double now)
{
	switch (grp.phase) {
	case G_CONNECT:
		if (!fleet_tick(&grp.f, now))
			return;
		if (!grp_check_up()) {
			grp_close(now);
			return;
		}
		grp.phase = G_SETTLE;
		grp.t_phase = now;
		return;
	case G_SETTLE:
		/* Initial presences and the answers to probes settle first. */
		if (grp.t_online == 0 && grp.avail_full == grp.f.n) {
			grp.t_online = now;
			grp.srv_online = servers_sample();
			fprintf(stderr, "loadgen: groups: every member has every other's presence %.1f s after the "
					"last login\n", now - grp.t_phase);
		}
		if (grp.t_online > 0 ? now - grp.t_online < opt.settle : now - grp.t_phase < opt.timeout + opt.settle)
			return;
		for (int i = 0; i < grp.f.n; i++)
			if (grp.avail_min < 0 || grp.avail_n[i] < grp.avail_min)
				grp.avail_min = grp.avail_n[i];
		if (grp.avail_min < grp.f.n - 1)
			fprintf(stderr, "loadgen: groups: after %g s, a member has the presence of only %d of the %d "
					"others\n", opt.timeout, grp.avail_min, grp.f.n - 1);
		if (grp.t_online > 0) {
			grp.online_s = grp.t_online - grp.t_phase;
		} else {
			grp.online_s = NAN;
			grp.srv_online = servers_sample();
		}
		grp.users_up = grp.f.ready;
		grp.phase = G_WARMUP;
		grp.t_phase = grp.t_check = now;
		grp_fill();
		return;
	case G_WARMUP:
	case G_MEASURE:
		if (now - grp.t_check > 0.25) {
			grp_stalls();
			grp.t_check = now;
		}
		if (!grp.valid) {
			if (grp.phase == G_MEASURE)
				window_close(&grp.w);
			grp_close(now);
		} else if (grp.phase == G_WARMUP && now - grp.t_phase >= opt.warmup) {
			window_open(&grp.w);
			grp.t_phase = now;
			grp.phase = G_MEASURE;
		} else if (grp.phase == G_MEASURE && now - grp.t_phase >= opt.duration) {
			window_close(&grp.w);
			grp.t_phase = now;
			grp.phase = G_DRAIN;
		}
		return;
	case G_DRAIN:
		if (grp.inflight <= 0 || now - grp.t_phase > 1.0)
			grp_close(now);
		return;
	case G_CLOSE:
		if (lgc.live == 0 || now - grp.t_phase > 3.0)
			lg_stop();
		return;
	}
}

static bool grp_valid(void)
{
	return grp.valid;
}

static void grp_report(struct jout *j)
{
	double secs = grp.w.t1 - grp.w.t0;
	jout_int(j, "users", opt.users);
	jout_int(j, "users_up", grp.users_up);
	jout_int(j, "window", opt.window);
	jout_int(j, "inflight", grp.cap);
	jout_bool(j, "roster_complete", grp.rosters_short == 0 && grp.roster_min == opt.users - 1);
	jout_int(j, "roster_members_min", grp.roster_min);
	jout_int(j, "roster_members_max", grp.roster_max);
	jout_int(j, "rosters_short", grp.rosters_short);
	jout_int(j, "roster_foreign_max", grp.foreign_max);
	jout_int(j, "initial_presence_min", grp.avail_min);
	jout_num(j, "presence_mesh_s", grp.online_s);
	/* Logins, rosters, probes and initial presences: what the group
	 * coming online cost the server, per member. */
	if (grp.srv_start.ok && grp.srv_online.ok)
		jout_num(j, "join_server_cpu_ms", (grp.srv_online.cpu_s - grp.srv_start.cpu_s) * 1000.0 / opt.users);
	if (grp.why)
		jout_str(j, "invalid_because", grp.why);
	jout_int(j, "delivered", grp.delivered);
	jout_num(j, "presence_per_s", secs > 0 ? (double)grp.delivered / secs : NAN);
	jout_int(j, "broadcasts", grp.done);
	jout_num(j, "broadcasts_per_s", secs > 0 ? (double)grp.done / secs : NAN);
	jout_int(j, "broadcasts_sent", grp.sent);
	jout_int(j, "broadcasts_stalled", grp.stalled);
	jout_int(j, "duplicates", grp.dups);
	jout_int(j, "late", grp.late);
	jout_hist(j, "lat", &grp.lat);
	jout_hist(j, "bcast", &grp.bcast);
	jout_hist(j, "login", &grp.f.login);
	if (grp.w.srv0.ok && grp.delivered > 0)
		jout_num(j, "server_cpu_s_per_100k",
			 (grp.w.srv1.cpu_s - grp.w.srv0.cpu_s) * 100000.0 / (double)grp.delivered);
	if (grp.delivered > 0)
		jout_num(j, "gen_cpu_s_per_100k", (grp.w.gen_cpu1 - grp.w.gen_cpu0) * 100000.0 / (double)grp.delivered);
	jout_common(j, &grp.w);
}

const struct scenario scen_groups = {
	.name = "groups",
	.help = "--users members of one shared group re-broadcast presence, each to all (--inflight at once)",
	.on_start = grp_start,
	.tick = grp_tick,
	.on_ready = grp_ready,
	.on_roster = grp_roster,
	.on_stanza = grp_stanza,
	.on_closed = grp_closed,
	.report = grp_report,
	.valid = grp_valid,
};
