/*
 * loadgen: command line, scenario table and main().  See loadgen.h for the
 * layout and bench/README.md for how the harness uses it.
 *
 * Every run is bounded: by the scenario's own durations, by the per-login
 * --timeout, and by --max-time for the whole process.  The result is one
 * JSON object on stdout; progress goes to stderr.  Exit status: 0 with a
 * result, 1 when the run produced no usable result (nothing logged in, or
 * the hard limit cut it short), 2 on a usage error.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "loadgen.h"

struct lg_opts opt = {
	.prefix = "u",
	.password = "bench-password",
	.resource = "lg",
	.mech = "SCRAM-SHA-256",
	.conns = 100,
	.pairs = 50,
	.users = 1000,
	.contacts = 10,
	.concurrency = 50,
	.window = 4,
	.duration = 10,
	.warmup = 2,
	.hold = 3,
	.settle = 1,
	.timeout = 30,
	.max_time = 0,
	.msg_bytes = 100,
	.src_ips = 1,
};

/* A scenario is one row here and one struct scenario in lg_scen_*.c. */
static const struct scenario *const scenarios[] = {
	&scen_idle,   &scen_login,	&scen_messages, &scen_presence,
	&scen_roster, &scen_federation, &scen_groups,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loadgen --scenario NAME [options]\n"
		"  --server HOST:PORT:DOMAIN  a server (numeric address; give twice for two servers)\n"
		"  --prefix P --first N       accounts P<N>, P<N+1>, ... (default u, 0)\n"
		"  --password PW              every account's password\n"
		"  --mech M                   SCRAM-SHA-256 (default) or PLAIN\n"
		"  --conns N                  idle: sessions to hold\n"
		"  --pairs N                  messages: pairs of users; federation: senders\n"
		"  --users N                  presence/roster: ring size; groups: members; login: accounts cycled\n"
		"  --contacts K               presence/roster: contacts per user (even)\n"
		"  --inflight N               groups: broadcasts in flight across the group (0: users x window)\n"
		"  --concurrency C            logins in progress at once (login: the fixed concurrency)\n"
		"  --window W                 messages/federation/presence/groups: in flight per sender\n"
		"  --rate R                   messages: open loop, R messages/s in total\n"
		"  --duration S --warmup S    measured seconds, preceded by unmeasured ones\n"
		"  --hold S --settle S        idle: seconds held / waited before measuring\n"
		"  --msg-bytes B              message body padding\n"
		"  --timeout S                per-login limit (default 30)\n"
		"  --max-time S               hard limit for the whole run (default: derived)\n"
		"  --src-ips N                spread sources over 127.0.0.1..N (login churn)\n"
		"  --server-pid PID           read this process tree's CPU and RSS from /proc\n"
		"                             (give once per server: the trees are summed)\n"
		"  --tls-resume               resume TLS sessions (tickets)\n"
		"  --expat-only               parse logged-in streams with expat too (cross-check)\n"
		"  --label TEXT               copied into the result\n"
		"  --verbose\n"
		"scenarios:\n");
	for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
		fprintf(f, "  %-10s %s\n", scenarios[i]->name, scenarios[i]->help);
}

static bool parse_server(const char *arg, struct lg_server *s)
{
	/* HOST:PORT:DOMAIN; an IPv6 host goes in brackets. */
	const char *host = arg, *rest;
	size_t hl;
	if (arg[0] == '[') {
		const char *end = strchr(arg, ']');
		if (!end || end[1] != ':')
			return false;
		host = arg + 1;
		hl = (size_t)(end - host);
		rest = end + 2;
	} else {
		const char *colon = strchr(arg, ':');
		if (!colon)
			return false;
		hl = (size_t)(colon - arg);
		rest = colon + 1;
	}
	const char *colon = strchr(rest, ':');
	if (!colon || hl == 0 || hl >= sizeof s->host || (size_t)(colon - rest) >= sizeof s->port ||
	    strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof s->domain)
		return false;
	memcpy(s->host, host, hl);
	s->host[hl] = 0;
	memcpy(s->port, rest, (size_t)(colon - rest));
	s->port[colon - rest] = 0;
	strcpy(s->domain, colon + 1);
	return true;
}

static double num_arg(const char *name, const char *v, double min, double max)
{
	char *end;
	double d = strtod(v, &end);
	if (*end || d < min || d > max) {
		fprintf(stderr, "loadgen: --%s %s: expected a number in [%g, %g]\n", name, v, min, max);
		exit(2);
	}
	return d;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	/* Root may raise the hard limit too. */
	struct rlimit more = {1 << 20, 1 << 20};
	if (rl.rlim_max < more.rlim_max)
		setrlimit(RLIMIT_NOFILE, &more);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"server", required_argument, 0, 'S'},	    {"scenario", required_argument, 0, 's'},
		{"prefix", required_argument, 0, 'p'},	    {"first", required_argument, 0, 'f'},
		{"password", required_argument, 0, 'P'},    {"mech", required_argument, 0, 'M'},
		{"conns", required_argument, 0, 'n'},	    {"pairs", required_argument, 0, 'r'},
		{"users", required_argument, 0, 'u'},	    {"contacts", required_argument, 0, 'k'},
		{"concurrency", required_argument, 0, 'c'}, {"window", required_argument, 0, 'w'},
		{"rate", required_argument, 0, 'R'},	    {"duration", required_argument, 0, 'd'},
		{"warmup", required_argument, 0, 'W'},	    {"hold", required_argument, 0, 'H'},
		{"settle", required_argument, 0, 'T'},	    {"msg-bytes", required_argument, 0, 'b'},
		{"timeout", required_argument, 0, 't'},	    {"max-time", required_argument, 0, 'X'},
		{"src-ips", required_argument, 0, 'i'},	    {"server-pid", required_argument, 0, 'x'},
		{"tls-resume", no_argument, 0, 'Z'},	    {"label", required_argument, 0, 'l'},
		{"resource", required_argument, 0, 'e'},    {"verbose", no_argument, 0, 'v'},
		{"expat-only", no_argument, 0, 'E'},	    {"inflight", required_argument, 0, 'I'},
		{"help", no_argument, 0, 'h'},		    {0, 0, 0, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'S':
			if (opt.nservers == (int)(sizeof opt.servers / sizeof opt.servers[0]) ||
			    !parse_server(optarg, &opt.servers[opt.nservers])) {
				fprintf(stderr, "loadgen: --server %s: expected HOST:PORT:DOMAIN\n", optarg);
				return 2;
			}
			opt.nservers++;
			break;
		case 's': opt.scenario = optarg; break;
		case 'p': opt.prefix = optarg; break;
		case 'f': opt.first = (int)num_arg("first", optarg, 0, 1e9); break;
		case 'P': opt.password = optarg; break;
		case 'M': opt.mech = optarg; break;
		case 'n': opt.conns = (int)num_arg("conns", optarg, 1, 1e6); break;
		case 'r': opt.pairs = (int)num_arg("pairs", optarg, 1, 5e5); break;
		case 'u': opt.users = (int)num_arg("users", optarg, 1, 1e6); break;
		case 'k': opt.contacts = (int)num_arg("contacts", optarg, 0, 128); break;
		case 'I': opt.inflight = (int)num_arg("inflight", optarg, 0, 1e6); break;
		case 'c': opt.concurrency = (int)num_arg("concurrency", optarg, 1, 1e5); break;
		case 'w': opt.window = (int)num_arg("window", optarg, 1, 1000); break;
		case 'R': opt.rate = num_arg("rate", optarg, 0, 1e8); break;
		case 'd': opt.duration = num_arg("duration", optarg, 0.1, 86400); break;
		case 'W': opt.warmup = num_arg("warmup", optarg, 0, 3600); break;
		case 'H': opt.hold = num_arg("hold", optarg, 0.1, 86400); break;
		case 'T': opt.settle = num_arg("settle", optarg, 0, 3600); break;
		case 'b': opt.msg_bytes = (int)num_arg("msg-bytes", optarg, 0, 1 << 20); break;
		case 't': opt.timeout = num_arg("timeout", optarg, 1, 3600); break;
		case 'X': opt.max_time = num_arg("max-time", optarg, 1, 86400); break;
		case 'i': opt.src_ips = (int)num_arg("src-ips", optarg, 1, 250); break;
		case 'x':
			if (opt.nserver_pids == (int)(sizeof opt.server_pids / sizeof opt.server_pids[0])) {
				fprintf(stderr, "loadgen: --server-pid: at most 8\n");
				return 2;
			}
			opt.server_pids[opt.nserver_pids++] = (int)num_arg("server-pid", optarg, 1, 1e9);
			break;
		case 'Z': opt.tls_resume = true; break;
		case 'l': opt.label = optarg; break;
		case 'e': opt.resource = optarg; break;
		case 'v': opt.verbose = true; break;
		case 'E': opt.expat_only = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !opt.scenario) {
		usage(stderr);
		return 2;
	}
	const struct scenario *scen = NULL;
	for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
		if (strcmp(scenarios[i]->name, opt.scenario) == 0)
			scen = scenarios[i];
	if (!scen) {
		fprintf(stderr, "loadgen: no scenario %s\n", opt.scenario);
		usage(stderr);
		return 2;
	}
	if (strcmp(opt.mech, "SCRAM-SHA-256") != 0 && strcmp(opt.mech, "PLAIN") != 0) {
		fprintf(stderr, "loadgen: --mech: SCRAM-SHA-256 or PLAIN\n");
		return 2;
	}
	if (opt.nservers == 0) {
		parse_server("127.0.0.1:5222:localhost", &opt.servers[0]);
		opt.nservers = 1;
	}
	if (opt.max_time <= 0) {
		/* Enough for the logins at a slow pace, the scenario, and the
		 * goodbyes; a run that needs more says so by failing. */
		double n = (double)(opt.conns > opt.users ? opt.conns : opt.users) + 2.0 * opt.pairs;
		opt.max_time = opt.timeout + n / 100.0 + opt.warmup + opt.duration + opt.hold + opt.settle + 30;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (!lg_init()) {
		fprintf(stderr, "loadgen: cannot set up\n");
		return 2;
	}
	double t0 = lg_now();
	bool finished = lg_run(scen);
	struct jout j;
	jout_begin(&j, stdout);
	jout_str(&j, "scenario", scen->name);
	if (opt.label)
		jout_str(&j, "label", opt.label);
	jout_str(&j, "server", opt.servers[0].domain);
	jout_bool(&j, "finished", finished);
	jout_num(&j, "elapsed_s", lg_now() - t0);
	jout_num(&j, "gen_cpu_total_s", lg_self_cpu());
	jout_int(&j, "logins_total", lgc.ready);
	scen->report(&j);
	bool valid = !scen->valid || scen->valid();
	jout_bool(&j, "valid", valid);
	jout_end(&j);
	return finished && valid && lgc.ready > 0 ? 0 : 1;
}
