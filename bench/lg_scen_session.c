/*
 * Session scenarios: idle (hold N logged-in sessions while the server's
 * memory is read) and login (complete logins per second at a fixed number
 * of logins in progress).  Both use accounts PREFIX<first> onwards.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadgen.h"

static long self_rss_kb(void)
{
	struct proc_sample s = proc_sample((int)getpid());
	return s.rss_kb;
}

/* ---- idle ---- */

enum idle_phase { IDLE_CONNECT, IDLE_SETTLE, IDLE_HOLD, IDLE_CLOSE };

static struct {
	enum idle_phase phase;
	int next;
	long alive;		/* logged-in sessions now */
	double t0, t_connected, t_phase, t_sample;
	struct proc_sample base;
	long rss_max, rss_last;
	long sessions_held;
	long held_min;
	struct hist login;
	struct lg_window w;
} idle;

static bool idle_start(void)
{
	memset(&idle, 0, sizeof idle);
	idle.base = servers_sample();
	idle.t0 = lg_now();
	idle.held_min = -1;
	fprintf(stderr, "loadgen: idle: %d sessions, %d logins at once\n", opt.conns, opt.concurrency);
	return true;
}

static void idle_ready(struct conn *c)
{
	idle.alive++;
	hist_add(&idle.login, (uint64_t)((c->t_ready - c->t_start) * 1e6));
}

static void idle_closed(struct conn *c)
{
	if (c->t_ready > 0)
		idle.alive--;
}

static void idle_tick(double now)
{
	switch (idle.phase) {
	case IDLE_CONNECT:
		while (idle.next < opt.conns && lgc.handshaking < opt.concurrency) {
			conn_open(opt.first + idle.next, idle.next % opt.nservers);
			idle.next++;
		}
		if (idle.next == opt.conns && lgc.handshaking == 0) {
			idle.t_connected = idle.t_phase = now;
			idle.phase = IDLE_SETTLE;
			fprintf(stderr, "loadgen: idle: %ld sessions up in %.1f s (%ld failed)\n", idle.alive,
				now - idle.t0, lgc.failed);
		}
		return;
	case IDLE_SETTLE:
		if (now - idle.t_phase < opt.settle)
			return;
		window_open(&idle.w);
		idle.t_phase = idle.t_sample = now;
		idle.phase = IDLE_HOLD;
		return;
	case IDLE_HOLD:
		if (now - idle.t_sample >= 0.5) {
			struct proc_sample s = servers_sample();
			idle.rss_last = s.rss_kb;
			if (s.rss_kb > idle.rss_max)
				idle.rss_max = s.rss_kb;
			if (idle.held_min < 0 || idle.alive < idle.held_min)
				idle.held_min = idle.alive;
			idle.t_sample = now;
		}
		if (now - idle.t_phase < opt.hold)
			return;
		window_close(&idle.w);
		idle.sessions_held = idle.alive;
		if (idle.held_min < 0 || idle.alive < idle.held_min)
			idle.held_min = idle.alive;
		if (!idle.rss_last)
			idle.rss_last = idle.rss_max = idle.w.srv1.rss_kb;
		for (int i = 0; i < conn_slots(); i++) {
			struct conn *c = conn_get(i);
			if (c)
				conn_close(c);
		}
		idle.t_phase = now;
		idle.phase = IDLE_CLOSE;
		return;
	case IDLE_CLOSE:
		if (lgc.live == 0 || now - idle.t_phase > 5.0)
			lg_stop();
		return;
	}
}

static void idle_report(struct jout *j)
{
	double connect_s = idle.t_connected > 0 ? idle.t_connected - idle.t0 : NAN;
	jout_int(j, "sessions_target", opt.conns);
	jout_int(j, "sessions", idle.sessions_held);
	/* Sessions the server dropped while they were held. */
	jout_int(j, "sessions_lost", idle.sessions_held > 0 ? (long long)(lgc.ready - idle.held_min) : 0);
	jout_num(j, "connect_s", connect_s);
	jout_num(j, "connect_logins_per_s", connect_s > 0 ? (double)lgc.ready / connect_s : NAN);
	jout_hist(j, "login", &idle.login);
	if (idle.base.ok) {
		jout_int(j, "rss_base_kb", idle.base.rss_kb);
		jout_int(j, "rss_kb", idle.rss_last);
		jout_int(j, "rss_max_kb", idle.rss_max);
		jout_num(j, "rss_per_session_kb",
			 idle.sessions_held > 0 ? (double)(idle.rss_last - idle.base.rss_kb) / (double)idle.sessions_held
						: NAN);
	}
	jout_int(j, "gen_rss_kb", self_rss_kb());
	jout_common(j, &idle.w);
}

const struct scenario scen_idle = {
	.name = "idle",
	.help = "hold --conns logged-in sessions for --hold s after --settle s; reads the server's RSS",
	.on_start = idle_start,
	.tick = idle_tick,
	.on_ready = idle_ready,
	.on_closed = idle_closed,
	.report = idle_report,
};

/* ---- login ---- */

enum login_phase { LOGIN_WARMUP, LOGIN_MEASURE, LOGIN_DRAIN };

static struct {
	enum login_phase phase;
	long next;
	long logins;
	long failed0;
	double t_phase;
	struct hist lat;
	struct lg_window w;
} login;

static bool login_start(void)
{
	memset(&login, 0, sizeof login);
	login.t_phase = lg_now();
	fprintf(stderr, "loadgen: login: %d at once over %d accounts, %g s (+%g s warm-up)\n", opt.concurrency,
		opt.users, opt.duration, opt.warmup);
	return true;
}

static void login_ready(struct conn *c)
{
	if (login.phase == LOGIN_MEASURE) {
		login.logins++;
		hist_add(&login.lat, (uint64_t)((c->t_ready - c->t_start) * 1e6));
	}
	conn_close(c);
}

static void login_tick(double now)
{
	if (login.phase == LOGIN_WARMUP && now - login.t_phase >= opt.warmup) {
		window_open(&login.w);
		login.failed0 = lgc.failed;
		login.t_phase = now;
		login.phase = LOGIN_MEASURE;
	} else if (login.phase == LOGIN_MEASURE && now - login.t_phase >= opt.duration) {
		window_close(&login.w);
		login.failed0 = lgc.failed - login.failed0;
		login.t_phase = now;
		login.phase = LOGIN_DRAIN;
	}
	if (login.phase == LOGIN_DRAIN) {
		if (lgc.live == 0 || now - login.t_phase > 5.0)
			lg_stop();
		return;
	}
	while (lgc.handshaking < opt.concurrency) {
		int user = opt.first + (int)(login.next % opt.users);
		login.next++;
		if (!conn_open(user, (int)(login.next % opt.nservers)))
			break;	/* out of sockets: the next tick tries again */
	}
}

static void login_report(struct jout *j)
{
	double secs = login.w.t1 - login.w.t0;
	jout_int(j, "concurrency", opt.concurrency);
	jout_int(j, "logins", login.logins);
	jout_num(j, "logins_per_s", secs > 0 ? (double)login.logins / secs : NAN);
	jout_int(j, "failed_in_window", login.failed0);
	jout_hist(j, "login", &login.lat);
	if (login.w.srv0.ok && login.logins > 0)
		jout_num(j, "server_cpu_ms_per_login",
			 (login.w.srv1.cpu_s - login.w.srv0.cpu_s) * 1000.0 / (double)login.logins);
	if (login.logins > 0)
		jout_num(j, "gen_cpu_ms_per_login", (login.w.gen_cpu1 - login.w.gen_cpu0) * 1000.0 / (double)login.logins);
	jout_common(j, &login.w);
}

const struct scenario scen_login = {
	.name = "login",
	.help = "keep --concurrency logins in progress for --duration s; counts completed logins per second",
	.on_start = login_start,
	.tick = login_tick,
	.on_ready = login_ready,
	.report = login_report,
};
