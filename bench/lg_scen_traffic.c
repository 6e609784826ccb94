/*
 * Traffic scenarios on a fleet of logged-in sessions:
 *   messages  pairs of users (2k, 2k+1) send each other chat messages with
 *             a send timestamp in the body; closed loop (--window in flight
 *             per sender) or open loop (--rate total per second);
 *   presence  a ring of --users users, each with --contacts contacts
 *             (subscription both), re-broadcasting presence with a
 *             timestamp in <status/>; a broadcast completes when every
 *             contact has it, and the sender then sends the next;
 *   federation  the messages scenario one way across two servers: user 2k
 *             (on the first --server) sends to user 2k+1 (on the second),
 *             so every message crosses the one s2s link from the first
 *             server to the second; the link is brought up by one message
 *             (waited for, up to --timeout) before the warm-up starts;
 *   roster    sets the presence ring up through the protocol (subscribe,
 *             subscribed both ways) and checks every roster afterwards, so
 *             provisioning does not depend on any server's storage.
 * User i of a fleet is account PREFIX<first + i> on server i % nservers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

/* ---- messages ---- */

enum phase { PH_CONNECT, PH_LINK, PH_SETTLE, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_CLOSE };

static struct {
	struct fleet f;
	enum phase phase;
	double t_phase, t_last;
	bool oneway;		/* federation: only even users send */
	bool link_up;		/* federation: the first message arrived */
	double link_s;		/* ... this long after it was sent */
	long active;		/* senders sending */
	long sent, received, recv_window, sent_window, errors, skipped;
	long inflight;
	double tokens;
	int rr;
	char *pad;
	char *out;	/* one message being formatted */
	struct hist lat;
	struct lg_window w;
} msg;

static bool msg_start(void)
{
	fleet_init(&msg.f, 2 * opt.pairs);
	msg.pad = malloc((size_t)opt.msg_bytes + 1);
	if (!msg.pad)
		abort();
	memset(msg.pad, 'x', (size_t)opt.msg_bytes);
	msg.pad[opt.msg_bytes] = 0;
	msg.out = malloc((size_t)opt.msg_bytes + 1024);
	if (!msg.out)
		abort();
	fprintf(stderr, "loadgen: messages: %d pairs, %s %g, %g s (+%g s warm-up)\n", opt.pairs,
		opt.rate > 0 ? "rate" : "window", opt.rate > 0 ? opt.rate : (double)opt.window, opt.duration,
		opt.warmup);
	return true;
}

static void msg_send(struct conn *c)
{
	int idx = c->user - opt.first;
	int peer = idx ^ 1;
	c->seq++;
	char *p = msg.out;
	p = put_s(p, "<message to='");
	p = put_s(p, opt.prefix);
	p = put_u64(p, (uint64_t)(opt.first + peer));
	p = put(p, "@", 1);
	p = put_s(p, domain_of(peer));
	p = put_s(p, "' type='chat' id='m");
	p = put_u64(p, c->seq);
	p = put_s(p, "'><body>");
	p = put_u64(p, c->seq);
	p = put(p, " ", 1);
	p = put_u64(p, lg_now_ns());
	p = put(p, " ", 1);
	p = put(p, msg.pad, (size_t)opt.msg_bytes);
	p = put_s(p, "</body></message>");
	conn_send(c, msg.out, (size_t)(p - msg.out));
	c->inflight++;
	msg.inflight++;
	msg.sent++;
	if (msg.phase == PH_MEASURE)
		msg.sent_window++;
}

static bool sending(void)
{
	return msg.phase == PH_WARMUP || msg.phase == PH_MEASURE;
}

static void msg_stanza(struct conn *c, const struct el *e)
{
	if (!el_is(e, "message"))
		return;
	const char *type = el_attr(e, "type");
	if (type && strcmp(type, "error") == 0) {
		/* Bounced back to its sender. */
		msg.errors++;
		lg_count_error("message bounced");
		if (c->inflight > 0) {
			c->inflight--;
			msg.inflight--;
		}
		return;
	}
	unsigned long long seq, ts;
	if (!get_two(el_text(el_child(e, "body")), &seq, &ts))
		return;
	uint64_t now = lg_now_ns();
	msg.received++;
	if (msg.phase == PH_LINK && !msg.link_up) {
		msg.link_up = true;
		msg.link_s = lg_now() - msg.t_phase;
	}
	if (msg.phase == PH_MEASURE) {
		msg.recv_window++;
		hist_add(&msg.lat, now > ts ? (now - ts) / 1000 : 0);
	}
	struct conn *sender = fleet_conn(&msg.f, jid_index(&msg.f, el_attr(e, "from")));
	if (!sender)
		return;
	if (sender->inflight > 0) {
		sender->inflight--;
		msg.inflight--;
	}
	if (opt.rate <= 0 && sending())
		msg_send(sender);
}

static void msg_closed(struct conn *c)
{
	msg.inflight -= c->inflight;
	fleet_closed(&msg.f, c);
}

static void msg_ready(struct conn *c)
{
	fleet_ready(&msg.f, c);
}

static void msg_open_loop(double now)
{
	msg.tokens += opt.rate * (now - msg.t_last);
	msg.t_last = now;
	int tries = 0;
	while (msg.tokens >= 1.0 && tries < 2 * msg.f.n) {
		int idx = msg.rr;
		msg.rr = (msg.rr + 1) % msg.f.n;
		tries++;
		struct conn *c = fleet_conn(&msg.f, idx);
		if (!c || !fleet_conn(&msg.f, idx ^ 1))
			continue;
		if (c->inflight >= 1000) {
			msg.skipped++;	/* the server is not keeping up */
			msg.tokens -= 1.0;
			continue;
		}
		msg_send(c);
		msg.tokens -= 1.0;
		tries = 0;
	}
	if (msg.tokens > opt.rate)	/* never burst more than a second's worth */
		msg.tokens = opt.rate;
}

/* Federation: one message from the first sender whose receiver is up; the
 * measurement starts once it has crossed (the link is then connected,
 * secured and authenticated both ways that matter). */
static bool link_probe(double now)
{
	for (int i = 0; i < msg.f.n; i += 2) {
		struct conn *c = fleet_conn(&msg.f, i);
		if (c && fleet_conn(&msg.f, i + 1)) {
			msg.phase = PH_LINK;
			msg.t_phase = now;
			msg_send(c);
			return true;
		}
	}
	fprintf(stderr, "loadgen: federation: no sender and receiver logged in\n");
	lg_stop();
	return false;
}

static void msg_tick(double now)
{
	switch (msg.phase) {
	case PH_CONNECT:
		if (!fleet_tick(&msg.f, now))
			return;
		if (msg.oneway) {
			link_probe(now);
			return;
		}
		/* fall through */
	case PH_LINK:
		if (msg.phase == PH_LINK) {
			if (!msg.link_up && (msg.errors > 0 || now - msg.t_phase > opt.timeout)) {
				fprintf(stderr, "loadgen: federation: the first message %s\n",
					msg.errors > 0 ? "came back as an error" : "did not arrive within --timeout");
				lg_count_error("s2s link not up");
				fleet_close_all(&msg.f);
				msg.phase = PH_CLOSE;
				msg.t_phase = now;
				return;
			}
			if (!msg.link_up)
				return;
			fprintf(stderr, "loadgen: federation: the link carried its first message in %.0f ms\n",
				msg.link_s * 1000.0);
		}
		for (int i = 0; i < msg.f.n; i++) {
			struct conn *c = fleet_conn(&msg.f, i);
			if (!c || !fleet_conn(&msg.f, i ^ 1) || (msg.oneway && (i & 1)))
				continue;
			msg.active++;
			if (opt.rate <= 0)
				for (int k = 0; k < opt.window; k++)
					msg_send(c);
		}
		msg.phase = PH_WARMUP;
		msg.t_phase = msg.t_last = now;
		if (msg.active == 0) {
			fprintf(stderr, "loadgen: %s: no pair logged in\n", opt.scenario);
			lg_stop();
		}
		return;
	case PH_SETTLE:
	case PH_WARMUP:
		if (opt.rate > 0)
			msg_open_loop(now);
		if (now - msg.t_phase >= opt.warmup) {
			window_open(&msg.w);
			msg.t_phase = now;
			msg.phase = PH_MEASURE;
		}
		return;
	case PH_MEASURE:
		if (opt.rate > 0)
			msg_open_loop(now);
		if (now - msg.t_phase >= opt.duration) {
			window_close(&msg.w);
			msg.t_phase = now;
			msg.phase = PH_DRAIN;
		}
		return;
	case PH_DRAIN:
		if (msg.inflight <= 0 || now - msg.t_phase > 3.0) {
			fleet_close_all(&msg.f);
			msg.t_phase = now;
			msg.phase = PH_CLOSE;
		}
		return;
	case PH_CLOSE:
		if (lgc.live == 0 || now - msg.t_phase > 3.0)
			lg_stop();
		return;
	}
}

static void msg_report(struct jout *j)
{
	double secs = msg.w.t1 - msg.w.t0;
	jout_int(j, "pairs", opt.pairs);
	jout_int(j, "pairs_active", msg.oneway ? msg.active : msg.active / 2);
	if (msg.oneway) {
		jout_bool(j, "link_up", msg.link_up);
		jout_num(j, "link_up_ms", msg.link_up ? msg.link_s * 1000.0 : NAN);
		jout_str(j, "receiver_server", opt.servers[1].domain);
	}
	jout_int(j, "window", opt.rate > 0 ? 0 : opt.window);
	jout_num(j, "rate_target", opt.rate);
	jout_int(j, "msg_bytes", opt.msg_bytes);
	jout_int(j, "delivered", msg.recv_window);
	jout_num(j, "msgs_per_s", secs > 0 ? (double)msg.recv_window / secs : NAN);
	jout_int(j, "sent_total", msg.sent);
	jout_int(j, "received_total", msg.received);
	jout_int(j, "lost", msg.sent - msg.received - msg.errors);
	jout_int(j, "bounced", msg.errors);
	jout_int(j, "skipped", msg.skipped);
	jout_hist(j, "lat", &msg.lat);
	jout_hist(j, "login", &msg.f.login);
	if (msg.w.srv0.ok && msg.recv_window > 0)
		jout_num(j, "server_cpu_s_per_100k",
			 (msg.w.srv1.cpu_s - msg.w.srv0.cpu_s) * 100000.0 / (double)msg.recv_window);
	if (msg.recv_window > 0)
		jout_num(j, "gen_cpu_s_per_100k", (msg.w.gen_cpu1 - msg.w.gen_cpu0) * 100000.0 / (double)msg.recv_window);
	jout_common(j, &msg.w);
}

const struct scenario scen_messages = {
	.name = "messages",
	.help = "--pairs pairs exchange chat messages (--window in flight each, or --rate total/s)",
	.on_start = msg_start,
	.tick = msg_tick,
	.on_ready = msg_ready,
	.on_stanza = msg_stanza,
	.on_closed = msg_closed,
	.report = msg_report,
};

/* ---- federation: the messages scenario one way over an s2s link ---- */

static bool fed_start(void)
{
	if (opt.nservers != 2) {
		fprintf(stderr, "loadgen: federation: give --server twice (senders' server, receivers' server)\n");
		return false;
	}
	if (opt.rate > 0) {
		fprintf(stderr, "loadgen: federation: closed loop only (no --rate)\n");
		return false;
	}
	msg.oneway = true;
	fprintf(stderr, "loadgen: federation: %d senders on %s -> %d receivers on %s\n", opt.pairs,
		opt.servers[0].domain, opt.pairs, opt.servers[1].domain);
	return msg_start();
}

const struct scenario scen_federation = {
	.name = "federation",
	.help = "--pairs senders on the first --server send chat messages to as many receivers on the second",
	.on_start = fed_start,
	.tick = msg_tick,
	.on_ready = msg_ready,
	.on_stanza = msg_stanza,
	.on_closed = msg_closed,
	.report = msg_report,
};

/* ---- the presence ring ---- */

/* Contacts of i: i +- 1 .. i +- K/2 around the ring of N. */
static int ring_distance(int from, int to, int n)
{
	int d = ((to - from) % n + n) % n;
	return d;
}

static bool ring_check(void)
{
	if (opt.contacts < 2 || opt.contacts % 2 || opt.users <= opt.contacts) {
		fprintf(stderr, "loadgen: --contacts must be even, >= 2 and below --users\n");
		return false;
	}
	return true;
}

/* Counts the roster items with subscription both. */
static int roster_both(const struct el *query)
{
	int n = 0;
	for (struct el *it = query ? query->child : NULL; it; it = it->next) {
		const char *sub = el_attr(it, "subscription");
		if (el_is(it, "item") && sub && strcmp(sub, "both") == 0)
			n++;
	}
	return n;
}

#define PSLOTS 16

struct pslot {
	uint64_t seq;
	int count;
	bool used;
	double t;
};

struct puser {
	uint64_t seq;
	int inflight;
	int roster_both;
	struct pslot s[PSLOTS];
};

static struct {
	struct fleet f;
	struct puser *u;
	enum phase phase;
	double t_phase, t_check;
	long bcast_sent, bcast_done, bcast_stalled, delivered, ignored;
	int roster_min, roster_max, users_up;
	struct hist lat;
	struct lg_window w;
} pres;

static bool pres_start(void)
{
	if (!ring_check())
		return false;
	if (opt.window > PSLOTS)
		opt.window = PSLOTS;
	fleet_init(&pres.f, opt.users);
	pres.u = calloc((size_t)opt.users, sizeof *pres.u);
	if (!pres.u)
		abort();
	pres.roster_min = -1;
	fprintf(stderr, "loadgen: presence: %d users x %d contacts, window %d, %g s (+%g s warm-up)\n",
		opt.users, opt.contacts, opt.window, opt.duration, opt.warmup);
	return true;
}

static void pres_roster(struct conn *c, const struct el *query)
{
	int both = roster_both(query);
	pres.u[c->user - opt.first].roster_both = both;
	if (pres.roster_min < 0 || both < pres.roster_min)
		pres.roster_min = both;
	if (both > pres.roster_max)
		pres.roster_max = both;
}

static void pres_broadcast(struct conn *c)
{
	struct puser *u = &pres.u[c->user - opt.first];
	struct pslot *s = NULL;
	for (int i = 0; i < PSLOTS && !s; i++)
		if (!u->s[i].used)
			s = &u->s[i];
	if (!s)
		return;
	s->used = true;
	s->seq = ++u->seq;
	s->count = 0;
	s->t = lg_now();
	u->inflight++;
	pres.bcast_sent++;
	char buf[128], *p = buf;
	p = put_s(p, "<presence><status>B ");
	p = put_u64(p, s->seq);
	p = put(p, " ", 1);
	p = put_u64(p, lg_now_ns());
	p = put_s(p, "</status></presence>");
	conn_send(c, buf, (size_t)(p - buf));
}

static bool pres_sending(void)
{
	return pres.phase == PH_WARMUP || pres.phase == PH_MEASURE;
}

static void pres_complete(int idx, struct pslot *s)
{
	s->used = false;
	pres.u[idx].inflight--;
	struct conn *sender = fleet_conn(&pres.f, idx);
	if (sender && pres_sending())
		pres_broadcast(sender);
}

static void pres_stanza(struct conn *c, const struct el *e)
{
	if (!el_is(e, "presence") || el_attr(e, "type"))
		return;
	int from = jid_index(&pres.f, el_attr(e, "from"));
	int me = c->user - opt.first;
	unsigned long long seq, ts;
	const char *status = el_text(el_child(e, "status"));
	if (from < 0 || from == me || status[0] != 'B' || status[1] != ' ' || !get_two(status + 2, &seq, &ts)) {
		pres.ignored++;
		return;
	}
	uint64_t now = lg_now_ns();
	if (pres.phase == PH_MEASURE) {
		pres.delivered++;
		hist_add(&pres.lat, now > ts ? (now - ts) / 1000 : 0);
	}
	struct puser *u = &pres.u[from];
	for (int i = 0; i < PSLOTS; i++) {
		struct pslot *s = &u->s[i];
		if (s->used && s->seq == seq) {
			if (++s->count >= opt.contacts) {
				if (pres.phase == PH_MEASURE)
					pres.bcast_done++;
				pres_complete(from, s);
			}
			return;
		}
	}
}

static void pres_ready(struct conn *c)
{
	fleet_ready(&pres.f, c);
}

static void pres_closed(struct conn *c)
{
	fleet_closed(&pres.f, c);
}

/* A broadcast some contact never got frees its slot after 5 s, so one
 * missing contact cannot stop the ring. */
static void pres_stalls(double now)
{
	for (int i = 0; i < pres.f.n; i++)
		for (int k = 0; k < PSLOTS; k++) {
			struct pslot *s = &pres.u[i].s[k];
			if (s->used && now - s->t > 5.0) {
				pres.bcast_stalled++;
				pres_complete(i, s);
			}
		}
}

static void pres_tick(double now)
{
	switch (pres.phase) {
	case PH_CONNECT:
		if (!fleet_tick(&pres.f, now))
			return;
		pres.phase = PH_SETTLE;
		pres.t_phase = now;
		return;
	case PH_LINK:	/* federation only */
		return;
	case PH_SETTLE:
		/* Initial presence and probes settle first. */
		if (now - pres.t_phase < opt.settle)
			return;
		for (int i = 0; i < pres.f.n; i++) {
			struct conn *c = fleet_conn(&pres.f, i);
			for (int k = 0; c && k < opt.window; k++)
				pres_broadcast(c);
		}
		pres.phase = PH_WARMUP;
		pres.t_phase = now;
		return;
	case PH_WARMUP:
	case PH_MEASURE:
		if (now - pres.t_check > 0.25) {
			pres_stalls(now);
			pres.t_check = now;
		}
		if (pres.phase == PH_WARMUP && now - pres.t_phase >= opt.warmup) {
			window_open(&pres.w);
			pres.users_up = pres.f.ready;
			pres.t_phase = now;
			pres.phase = PH_MEASURE;
		} else if (pres.phase == PH_MEASURE && now - pres.t_phase >= opt.duration) {
			window_close(&pres.w);
			pres.t_phase = now;
			pres.phase = PH_DRAIN;
		}
		return;
	case PH_DRAIN:
		if (now - pres.t_phase > 1.0) {
			fleet_close_all(&pres.f);
			pres.t_phase = now;
			pres.phase = PH_CLOSE;
		}
		return;
	case PH_CLOSE:
		if (lgc.live == 0 || now - pres.t_phase > 3.0)
			lg_stop();
		return;
	}
}

static void pres_report(struct jout *j)
{
	double secs = pres.w.t1 - pres.w.t0;
	jout_int(j, "users", opt.users);
	jout_int(j, "users_up", pres.users_up);
	jout_int(j, "contacts", opt.contacts);
	jout_int(j, "window", opt.window);
	jout_int(j, "roster_both_min", pres.roster_min);
	jout_int(j, "roster_both_max", pres.roster_max);
	jout_int(j, "delivered", pres.delivered);
	jout_num(j, "presence_per_s", secs > 0 ? (double)pres.delivered / secs : NAN);
	jout_int(j, "broadcasts", pres.bcast_done);
	jout_num(j, "broadcasts_per_s", secs > 0 ? (double)pres.bcast_done / secs : NAN);
	jout_int(j, "broadcasts_stalled", pres.bcast_stalled);
	jout_hist(j, "lat", &pres.lat);
	jout_hist(j, "login", &pres.f.login);
	if (pres.w.srv0.ok && pres.delivered > 0)
		jout_num(j, "server_cpu_s_per_100k",
			 (pres.w.srv1.cpu_s - pres.w.srv0.cpu_s) * 100000.0 / (double)pres.delivered);
	jout_common(j, &pres.w);
}

const struct scenario scen_presence = {
	.name = "presence",
	.help = "--users in a ring with --contacts each re-broadcast presence (--window in flight per user)",
	.on_start = pres_start,
	.tick = pres_tick,
	.on_ready = pres_ready,
	.on_roster = pres_roster,
	.on_stanza = pres_stanza,
	.on_closed = pres_closed,
	.report = pres_report,
};

/* ---- roster: set the ring up through the protocol ---- */

enum rphase { R_CONNECT, R_SUBSCRIBE, R_WAIT, R_VERIFY, R_CLOSE };

struct ruser {
	int subscribed;		/* "subscribed" received */
	uint64_t back_sent;	/* bit d-1: subscribe sent back to i - d */
	int both_before, both_after;
	bool verified;
};

static struct {
	struct fleet f;
	struct ruser *u;
	enum rphase phase;
	int next;
	double t_phase;
	long subscribes, verified;
	int ok_before;
	struct lg_window w;
} rost;

static bool rost_start(void)
{
	if (!ring_check() || opt.contacts / 2 > 64)
		return false;
	fleet_init(&rost.f, opt.users);
	rost.u = calloc((size_t)opt.users, sizeof *rost.u);
	if (!rost.u)
		abort();
	fprintf(stderr, "loadgen: roster: %d users x %d contacts\n", opt.users, opt.contacts);
	return true;
}

static void rost_roster(struct conn *c, const struct el *query)
{
	rost.u[c->user - opt.first].both_before = roster_both(query);
}

static void rost_subscribe(struct conn *c, int to_idx, const char *type)
{
	char node[64];
	user_node(opt.first + to_idx, node, sizeof node);
	conn_sendf(c, "<presence to='%s@%s' type='%s'/>", node, domain_of(to_idx), type);
}

static void rost_stanza(struct conn *c, const struct el *e)
{
	int me = c->user - opt.first;
	struct ruser *u = &rost.u[me];
	if (el_is(e, "iq")) {
		const char *id = el_attr(e, "id");
		if (id && strcmp(id, "rv") == 0 && !u->verified) {
			u->verified = true;
			u->both_after = roster_both(el_child(e, "query"));
			rost.verified++;
		}
		return;
	}
	if (!el_is(e, "presence"))
		return;
	const char *type = el_attr(e, "type");
	int from = jid_index(&rost.f, el_attr(e, "from"));
	if (!type || from < 0 || from == me)
		return;
	if (strcmp(type, "subscribe") == 0) {
		rost_subscribe(c, from, "subscribed");
		int d = ring_distance(from, me, opt.users);	/* from = me - d */
		if (d >= 1 && d <= opt.contacts / 2 && !(u->back_sent & (1ull << (d - 1)))) {
			u->back_sent |= 1ull << (d - 1);
			rost_subscribe(c, from, "subscribe");
			rost.subscribes++;
		}
	} else if (strcmp(type, "subscribed") == 0) {
		u->subscribed++;
	}
}

static void rost_ready(struct conn *c)
{
	fleet_ready(&rost.f, c);
}

static void rost_closed(struct conn *c)
{
	fleet_closed(&rost.f, c);
}

static void rost_verify(void)
{
	for (int i = 0; i < rost.f.n; i++) {
		struct conn *c = fleet_conn(&rost.f, i);
		if (c)
			conn_sendf(c, "<iq type='get' id='rv'><query xmlns='jabber:iq:roster'/></iq>");
	}
}

static void rost_tick(double now)
{
	switch (rost.phase) {
	case R_CONNECT:
		if (!fleet_tick(&rost.f, now))
			return;
		window_open(&rost.w);
		for (int i = 0; i < rost.f.n; i++)
			if (rost.u[i].both_before >= opt.contacts)
				rost.ok_before++;
		rost.t_phase = now;
		if (rost.ok_before == rost.f.n) {	/* set up already */
			rost_verify();
			rost.phase = R_VERIFY;
			return;
		}
		rost.phase = R_SUBSCRIBE;
		return;
	case R_SUBSCRIBE:
		/* A few hundred users at a time, so the server is not handed
		 * every subscription in one burst. */
		for (int n = 0; n < 200 && rost.next < rost.f.n; n++, rost.next++) {
			struct conn *c = fleet_conn(&rost.f, rost.next);
			for (int d = 1; c && d <= opt.contacts / 2; d++) {
				rost_subscribe(c, (rost.next + d) % opt.users, "subscribe");
				rost.subscribes++;
			}
		}
		if (rost.next == rost.f.n) {
			rost.phase = R_WAIT;
			rost.t_phase = now;
		}
		return;
	case R_WAIT: {
		int done = 0;
		for (int i = 0; i < rost.f.n; i++)
			if (rost.u[i].subscribed >= opt.contacts)
				done++;
		if (done == rost.f.n || now - rost.t_phase > opt.duration) {
			rost_verify();
			rost.phase = R_VERIFY;
			rost.t_phase = now;
		}
		return;
	}
	case R_VERIFY:
		if (rost.verified >= rost.f.ready || now - rost.t_phase > 10.0) {
			window_close(&rost.w);
			fleet_close_all(&rost.f);
			rost.phase = R_CLOSE;
			rost.t_phase = now;
		}
		return;
	case R_CLOSE:
		if (lgc.live == 0 || now - rost.t_phase > 3.0)
			lg_stop();
		return;
	}
}

static void rost_report(struct jout *j)
{
	int ok = 0, min = -1;
	for (int i = 0; i < rost.f.n; i++) {
		int b = rost.u[i].both_after;
		if (b >= opt.contacts)
			ok++;
		if (min < 0 || b < min)
			min = b;
	}
	jout_int(j, "users", opt.users);
	jout_int(j, "contacts", opt.contacts);
	jout_int(j, "users_ok_before", rost.ok_before);
	jout_int(j, "users_ok", ok);
	jout_int(j, "roster_both_min", min);
	jout_int(j, "subscribes_sent", rost.subscribes);
	jout_bool(j, "complete", ok == opt.users);
	jout_common(j, &rost.w);
}

const struct scenario scen_roster = {
	.name = "roster",
	.help = "provision the presence ring through the protocol: --users x --contacts, subscription both",
	.on_start = rost_start,
	.tick = rost_tick,
	.on_ready = rost_ready,
	.on_roster = rost_roster,
	.on_stanza = rost_stanza,
	.on_closed = rost_closed,
	.report = rost_report,
};
