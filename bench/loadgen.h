/*
 * loadgen: an XMPP client load generator for benchmarking Parley against
 * the servers people would otherwise pick (Prosody, ejabberd).
 *
 * One process, one thread, one epoll loop, thousands of non-blocking
 * client connections.  Each speaks just enough XMPP to log in the way a
 * real client does (TCP, STARTTLS, SCRAM-SHA-256, bind, roster get,
 * initial presence) and then does what its scenario asks.  It is not a
 * general XMPP client library and it never trusts the server for
 * anything but numbers: certificates are not verified.
 *
 * Layout:
 *   lg_stats.c   clocks, latency histograms, /proc sampling, JSON output
 *   lg_xml.c     expat glue: one small element tree per stanza
 *   lg_scram.c   SCRAM-SHA-256 client maths with a salted-password cache
 *   lg_net.c     the loop, connections, TLS and the login state machine
 *   lg_fleet.c   the logged-in sessions of traffic scenarios
 *   lg_scen_*.c  scenarios (a table of callbacks each)
 *   loadgen.c    options, the scenario table, main()
 */
#pragma once

#include <expat.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- clocks and statistics (lg_stats.c) ---- */

/* CLOCK_MONOTONIC, in seconds and in nanoseconds. */
double lg_now(void);
uint64_t lg_now_ns(void);
/* CPU seconds (user + system) this process has used. */
double lg_self_cpu(void);

/* A log-linear histogram of microsecond values, about 3 % resolution. */
#define HIST_BUCKETS 1280
struct hist {
	uint64_t count;
	uint64_t max;
	uint64_t sum;
	uint32_t b[HIST_BUCKETS];
};
void hist_add(struct hist *h, uint64_t us);
/* The p-th percentile (0 < p <= 100) in microseconds; 0 when empty. */
uint64_t hist_pct(const struct hist *h, double p);

/* A process and all its descendants (found through /proc), summed. */
struct proc_sample {
	double cpu_s;	/* utime + stime, seconds */
	long rss_kb;	/* VmRSS summed over the processes */
	int nprocs;
	bool ok;
};
struct proc_sample proc_sample(int root_pid);
/* Every --server-pid tree, summed (two servers in the federation scenario);
 * ok only when each of them was found. */
struct proc_sample servers_sample(void);

/* One JSON object on one line. */
struct jout {
	FILE *f;
	bool first;
};
void jout_begin(struct jout *j, FILE *f);
void jout_str(struct jout *j, const char *key, const char *val);
void jout_int(struct jout *j, const char *key, long long val);
void jout_num(struct jout *j, const char *key, double val);
void jout_bool(struct jout *j, const char *key, bool val);
/* Latency fields key_p50_ms, key_p90_ms, key_p99_ms, key_max_ms, key_n. */
void jout_hist(struct jout *j, const char *key, const struct hist *h);
void jout_end(struct jout *j);

/* ---- element trees (lg_xml.c) ---- */

/* An element of a stanza being parsed.  All of it lives in the owning
 * connection's arena and is valid only during the stanza callback. */
struct el {
	const char *name;	/* local name, prefix stripped */
	const char **attrs;	/* name, value, ..., NULL (prefixes kept) */
	char *text;		/* concatenated character data, NUL-terminated */
	size_t tlen;
	struct el *parent, *child, *last, *next;
};

struct arena_blk;
/* Per-connection parse state: the stanza tree in progress. */
struct xtree {
	struct arena_blk *blk;
	struct el *root, *cur;
	int depth;	/* 1 inside the stream root, 2 inside a stanza, ... */
};

struct conn;
/* Creates the parser for a connection (userdata = the connection). */
XML_Parser xml_new(struct conn *c);
/* Starts a new stream on the same parser (after STARTTLS, after SASL). */
void xml_restart(struct conn *c);
void xml_free(struct conn *c);
/* Feeds bytes; returns false on a parse error (not on a requested stop). */
bool xml_feed(struct conn *c, const char *buf, size_t n);
/* The parser's callbacks into lg_net.c. */
void net_on_stream_open(struct conn *c);
void net_on_stanza(struct conn *c, struct el *e);
void net_on_stream_close(struct conn *c);

/* The lean path for logged-in sessions: expat parses the stream up to the
 * end of the login (stream headers, features, SASL), then xml_go_fast(),
 * called from inside an expat callback, hands everything after the current
 * element to a small tokenizer that only splits top-level elements and
 * builds the same trees, without expat's per-byte validation. */
struct fastp {
	char *buf;
	size_t len, cap;
	size_t scan;	/* bytes examined */
	long start;	/* offset of the current top-level element, -1 none */
	long tag;	/* offset of the '<' of the tag being read, -1 none */
	int depth;	/* 0 between stanzas */
	char quote;
};
/* Must be called from an element-end callback; false if expat cannot say
 * where the element ended (then the connection stays on expat). */
bool xml_go_fast(struct conn *c);
/* Completes the switch after XML_Parse returned: frees the expat parser
 * and parses what came after the switch point. */
bool xml_fast_start(struct conn *c);
bool fast_feed(struct conn *c, const char *buf, size_t n);

bool el_is(const struct el *e, const char *name);
const char *el_attr(const struct el *e, const char *name);
struct el *el_child(const struct el *e, const char *name);
const char *el_text(const struct el *e);	/* "" when none */

/* ---- SCRAM (lg_scram.c) ---- */

struct scram_keys {
	unsigned char client_key[32];
	unsigned char stored_key[32];
	unsigned char server_key[32];
};
/* The keys for (password, salt, iterations), computed once and cached, so
 * the generator's CPU goes to the protocol rather than to PBKDF2. */
const struct scram_keys *scram_keys(const char *password, const unsigned char *salt, size_t saltlen,
				    unsigned iterations);
extern unsigned long scram_pbkdf2_runs;

/* Standard base64.  out needs 4 * ((n + 2) / 3) + 1 bytes. */
size_t b64_encode(const void *in, size_t n, char *out);
/* Returns the decoded length, or -1 on malformed input or overflow. */
long b64_decode(const char *in, size_t n, unsigned char *out, size_t cap);

/* Builds the client-final message for a server-first message.  cfirst_bare
 * is "n=USER,r=CNONCE".  On success writes the base64 of the client-final
 * message into out and the expected server signature (base64) into
 * server_sig; returns false on a malformed or foreign server-first. */
bool scram_client_final(const char *password, const char *cfirst_bare, const char *cnonce,
			const char *server_first, char *out, size_t outcap, char *server_sig,
			size_t sigcap);

/* ---- connections and the loop (lg_net.c) ---- */

enum cstate {
	C_CONNECTING,
	C_FEATURES1,	/* plaintext stream: waiting for <starttls/> */
	C_PROCEED,
	C_HANDSHAKE,
	C_FEATURES2,	/* TLS stream: waiting for mechanisms */
	C_SASL1,	/* waiting for the SCRAM challenge */
	C_SASL2,	/* waiting for <success/> */
	C_FEATURES3,	/* authenticated stream: waiting for <bind/> */
	C_BIND,
	C_SESSION,
	C_ROSTER,
	C_PING,
	C_READY,	/* logged in: the scenario drives it */
	C_CLOSING,	/* we sent </stream:stream>; waiting for the server to close */
	C_DEAD,		/* freed at the end of the loop iteration */
};

struct buf {
	char *p;
	size_t len, off, cap;
};

struct scenario;

/* One client connection.  Owned by the connection table in lg_net.c; the
 * scenario keeps indexes (conn->id), never pointers across iterations. */
struct conn {
	int fd;
	int id;		/* slot in the connection table */
	int user;	/* account number: PREFIX<user>@DOMAIN */
	int srv;	/* index into opt.servers */
	enum cstate st;
	SSL *ssl;
	XML_Parser xp;
	struct xtree xt;
	struct buf out;
	bool dirty;		/* queued on the flush list */
	bool reset_parser;	/* restart the stream after this feed */
	bool session_required;
	bool stream_closed;
	bool in_handshake;	/* counted in lgc.handshaking */
	bool go_fast;		/* switch to the lean parser after this feed */
	bool fast;		/* on the lean parser */
	struct fastp fp;
	double t_start;		/* connect() */
	double t_ready;		/* logged in */
	double deadline;	/* of the current step; 0 = none */
	char cnonce[33];
	char *server_first;
	char server_sig[64];
	struct conn *next_dirty;
	/* Scenario state. */
	uint64_t seq;
	int inflight;
	int peer;
	int count_a, count_b;
	void *sdata;
};

struct lg_server {
	char host[64];
	char port[8];
	char domain[256];
	struct sockaddr_storage addr;
	socklen_t alen;
};

struct lg_opts {
	struct lg_server servers[8];
	int nservers;
	const char *scenario;
	const char *prefix;	/* user name prefix: PREFIX0, PREFIX1, ... */
	int first;		/* first account number */
	const char *password;
	const char *resource;
	const char *mech;	/* SCRAM-SHA-256 or PLAIN */
	int conns;		/* idle: sessions to hold */
	int pairs;		/* messages: pairs of users */
	int users;		/* presence, roster: users in the ring; login: accounts cycled */
	int contacts;		/* presence, roster: contacts per user (even) */
	int inflight;		/* groups: broadcasts in flight across the group; 0 = users x window */
	int concurrency;	/* logins in progress at once */
	int window;		/* messages / broadcasts in flight per sender */
	double rate;		/* messages: open-loop total rate; 0 = closed loop */
	double duration, warmup, hold, settle, timeout, max_time;
	int msg_bytes;
	int src_ips;		/* spread sources over 127.0.0.1 .. 127.0.0.N */
	int server_pids[8];	/* --server-pid, once per server process tree */
	int nserver_pids;
	bool tls_resume;
	bool verbose;
	bool expat_only;	/* keep expat after login (for cross-checks) */
	const char *label;
};
extern struct lg_opts opt;

/* Counters the loop keeps for every scenario. */
struct lg_counters {
	long opened, ready, failed, closed_by_server, handshaking, live;
	long tls_resumed;
};
extern struct lg_counters lgc;
/* Protocol and cipher of the first TLS session, for the record. */
extern char lg_tls_seen[96];

/* The connection being handled is in slot id; NULL when the slot is free. */
struct conn *conn_get(int id);
int conn_slots(void);	/* upper bound of ids in use */

/* Starts a login for PREFIX<user> on server srv; NULL if the socket failed
 * (counted). */
struct conn *conn_open(int user, int srv);
/* Queues bytes (printf-style) for the connection; written once per loop
 * iteration. */
void conn_sendf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void conn_send(struct conn *c, const char *s, size_t n);
/* Sends </stream:stream> and closes once the server closes (bounded). */
void conn_close(struct conn *c);
/* Counts a failure with its reason and drops the connection. */
void conn_fail(struct conn *c, const char *reason);
/* The JID parts of an account. */
const char *user_node(int user, char *buf, size_t cap);

/* Failure reasons, counted and reported. */
void lg_count_error(const char *reason);
void jout_errors(struct jout *j);

/* Runs the loop until lg_stop() or the hard deadline; returns false when
 * the hard deadline (opt.max_time) ended it. */
bool lg_run(const struct scenario *s);
void lg_stop(void);
/* Sets up TLS and the listeners' addresses; false with a message on error. */
bool lg_init(void);

/* ---- fleets (lg_fleet.c) ---- */

/* The sessions of a traffic scenario: user i is account PREFIX<first + i>
 * on server i % nservers.  Owned by the scenario; conn holds connection
 * ids, never pointers. */
struct fleet {
	int n, next, ready;
	int *conn;	/* user index -> connection id, -1 when not logged in */
	bool up;
	double t0, t_up;
	struct hist login;
};
/* Empties f (freeing what an earlier use left) for n users. */
void fleet_init(struct fleet *f, int n);
int fleet_server(int idx);
/* Opens what is left to open, --concurrency logins at a time; true once
 * every session is up or has failed. */
bool fleet_tick(struct fleet *f, double now);
/* A session logged in (records its login time) or went away. */
void fleet_ready(struct fleet *f, struct conn *c);
void fleet_closed(struct fleet *f, struct conn *c);
/* User idx's logged-in session, or NULL. */
struct conn *fleet_conn(const struct fleet *f, int idx);
/* Closes every connection (each one of this process). */
void fleet_close_all(struct fleet *f);
/* The fleet index of a JID's account (bare or full), or -1 if it is not
 * one of the fleet's. */
int jid_index(const struct fleet *f, const char *jid);
/* The domain of user idx's server. */
const char *domain_of(int idx);

/* Formatting and parsing on the hot path: printf and scanf cost more than
 * the rest of a stanza's handling in the generator.  Each put returns the
 * end of what it wrote; the caller sizes the buffer. */
static inline char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static inline char *put_s(char *p, const char *s)
{
	return put(p, s, strlen(s));
}

static inline char *put_u64(char *p, uint64_t v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* "SEQ TS" at the start of s (after an optional prefix already skipped). */
static inline bool get_two(const char *s, unsigned long long *a, unsigned long long *b)
{
	char *end;
	*a = strtoull(s, &end, 10);
	if (end == s || *end != ' ')
		return false;
	s = end + 1;
	*b = strtoull(s, &end, 10);
	return end != s;
}

/* ---- scenarios (lg_scen_*.c) ---- */

/* A scenario is a table of callbacks the loop calls.  Only on_start,
 * tick and report are required. */
struct scenario {
	const char *name;
	const char *help;
	bool (*on_start)(void);
	/* Called every loop iteration (at least every 5 ms). */
	void (*tick)(double now);
	/* The login finished: the session is bound, has its roster and has
	 * sent initial presence. */
	void (*on_ready)(struct conn *c);
	/* The roster result during login (before initial presence). */
	void (*on_roster)(struct conn *c, const struct el *query);
	/* Initial presence to send; NULL = "<presence/>". */
	const char *(*initial_presence)(struct conn *c);
	/* A stanza on a logged-in session (or one logging in after its
	 * roster): message, presence, or an iq the loop did not consume. */
	void (*on_stanza)(struct conn *c, const struct el *e);
	/* The connection is going away (failed, or closed by either side). */
	void (*on_closed)(struct conn *c);
	/* Writes the result line. */
	void (*report)(struct jout *j);
	/* Whether the result means anything (NULL: yes); false makes the
	 * exit status 1, e.g. when a precondition checked at login failed. */
	bool (*valid)(void);
};

extern const struct scenario scen_idle, scen_login, scen_messages, scen_presence, scen_roster,
	scen_federation, scen_groups;

/* Shared by scenarios: the fields every result line carries. */
struct lg_window {
	double t0, t1;		/* measurement window, monotonic seconds */
	double gen_cpu0, gen_cpu1;
	struct proc_sample srv0, srv1;
};
void window_open(struct lg_window *w);
void window_close(struct lg_window *w);
/* scenario, label, window length, generator CPU, server CPU. */
void jout_common(struct jout *j, const struct lg_window *w);
