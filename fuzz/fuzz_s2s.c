/*
 * fuzz_s2s: libFuzzer target for what a peer server can send on an
 * incoming server-to-server stream: the bytes a connection accepted on
 * s2s.port (STARTTLS) delivers to s2s_in_accept's stream, through the real
 * conn (core/conn.c) on a real worker loop, the stream machine
 * (stream/stream.c), SASL (stream/sasl.c), dialback (s2s/dialback.c) and,
 * once a pair is authenticated, the router and im/ with an empty SQLite
 * store.  It is not a fuzzer of TLS: the peer cannot complete a handshake,
 * so what follows <proceed/> is bytes for OpenSSL's server handshake, and
 * SASL EXTERNAL (which needs a verified certificate) is reached only as a
 * refusal.
 *
 * The server is built once (LLVMFuzzerInitialize): a configuration file in
 * a temporary directory (hosts localhost and example.net with one
 * self-signed certificate, s2s.require_tls = false so that dialback works
 * in the clear, a few s2s.peers rows), the TLS server context, the s2s
 * trust store, s2s_service.setup (with a fixed dialback secret, so that
 * seeds can carry valid <db:verify/> keys), im's router hooks and one
 * worker with its shard, run on this thread.
 *
 * Outgoing links are faked: this file defines the four symbols of
 * s2s/out.c (which is not linked), so a <db:result/> never reaches DNS.
 * The authoritative server's answer comes from the loop (an idle handle),
 * as a real outgoing stream's would, and is decided by the last character
 * of the key: 'i' invalid, 'e' error, 'n' none (the verification is still
 * running when the input ends, and is answered as s2s_out_shutdown does),
 * 's' an error at once from inside s2s_out_verify (as out.c's out_fail
 * does when it cannot start), anything else valid.  Stanzas routed to
 * other domains (bounces to the peer) go to a fake remote transport: a
 * link comes up at once for a remote domain starting with "up", and fails
 * at once otherwise; what it is asked to send must be one well-formed
 * element.
 *
 * Per input: a socketpair, s2s_in_accept on one end, the stream bytes
 * written to the other in pieces (each piece read by the server before the
 * next is written, so the pieces are the server's reads), our end shut for
 * writing, and the loop run until the conn is closed and freed; the
 * server's output is read and dropped.  Every run ends with no stream, no
 * conn, no pending verification and no remote link left (checked: a
 * leftover aborts), so LeakSanitizer sees each run's allocations released.
 *
 * Input layout: flags, then (flags & 3) piece lengths of one byte each,
 * then the stream bytes.  A piece length of 0 is skipped; the rest of the
 * bytes after the last piece are the last read.
 *   flags & 4: one sweep (the 1 s tick: s2s_on_tick, xs_tick, SASL tick)
 *              after the input, before our end is shut
 *
 * FUZZ_S2S_LOG=debug (or info, warn) shows the server's log lines on
 * stderr when running a reproducer; the default is errors only.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/chunk.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/conn_internal.h"
#include "core/hash.h"
#include "core/list.h"
#include "core/log.h"
#include "core/worker.h"
#include "im/im.h"
#include "router/remote.h"
#include "router/router.h"
#include "router/service.h"
#include "router/shard.h"
#include "s2s/internal.h"
#include "s2s/s2s.h"
#include "store/store.h"
#include "tls/tls.h"
#include "xml/xml.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fixed dialback secret (see fuzz/corpus/s2s/db-verify-valid). */
static const char fuzz_secret[] = "parley-fuzz-s2s-dialback-secret-0123456789";

static char dir[] = "/tmp/fuzz_s2s.XXXXXX";
static struct config cfg;
static struct server srv;
static struct worker W;
static struct shard shard;
static struct shard *shard_ptrs[1] = {&shard};

static void die(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_s2s: %s%s%s\n", what, err ? ": " : "", err ? err : "");
	abort();
}

/* ---- the fake s2s/out.c ---- */

enum verdict_mode { ANSWER_VALID, ANSWER_INVALID, ANSWER_ERROR, ANSWER_NONE };

/* A verification s2s_in_db_result asked for, waiting for its answer. */
struct fake_verify {
	struct list link;
	uint64_t in_conn;
	char local[256], remote[256];
	enum verdict_mode mode;
};

static struct list verifies; /* fake_verify.link */
static uv_idle_t answerer;   /* answers `verifies` from the loop */

static void answer(struct fake_verify *v, enum verdict_mode mode)
{
	list_remove(&v->link);
	if (mode == ANSWER_VALID)
		s2s_in_dialback_done(&shard, v->in_conn, v->local, v->remote, S2S_VERIFY_VALID, 0, NULL);
	else if (mode == ANSWER_INVALID)
		s2s_in_dialback_done(&shard, v->in_conn, v->local, v->remote, S2S_VERIFY_INVALID, 0, NULL);
	else
		s2s_in_dialback_done(&shard, v->in_conn, v->local, v->remote, S2S_VERIFY_ERROR,
				     STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "could not verify the key: fuzz");
	free(v);
}

static void answer_cb(uv_idle_t *h)
{
	(void)h;
	/* An answer may make the stream ask again (a new entry): only those
	 * there now, in order. */
	struct list now;
	list_init(&now);
	list_for_each_safe(pos, &verifies)
	{
		struct fake_verify *v = list_entry(pos, struct fake_verify, link);
		if (v->mode == ANSWER_NONE)
			continue;
		list_remove(&v->link);
		list_insert_tail(&now, &v->link);
	}
	while (!list_empty(&now)) {
		struct fake_verify *v = list_entry(now.next, struct fake_verify, link);
		answer(v, v->mode);
	}
	bool waiting = false;
	list_for_each(pos, &verifies)
		waiting = waiting || list_entry(pos, struct fake_verify, link)->mode != ANSWER_NONE;
	if (!waiting)
		uv_idle_stop(&answerer);
}

void s2s_out_verify(struct shard *sh, uint64_t in_conn, const char *local, const char *remote, const char *id,
		    const char *key)
{
	(void)id;
	if (sh != &shard)
		die("s2s_out_verify on an unknown shard", NULL);
	size_t n = strlen(key);
	char last = n ? key[n - 1] : 'v';
	struct fake_verify *v = xcalloc(1, sizeof(*v));
	v->in_conn = in_conn;
	snprintf(v->local, sizeof(v->local), "%s", local);
	snprintf(v->remote, sizeof(v->remote), "%s", remote);
	v->mode = last == 'i' ? ANSWER_INVALID : last == 'e' ? ANSWER_ERROR : last == 'n' ? ANSWER_NONE : ANSWER_VALID;
	list_insert_tail(&verifies, &v->link);
	if (last == 's') {
		answer(v, ANSWER_ERROR);
		return;
	}
	if (v->mode != ANSWER_NONE)
		uv_idle_start(&answerer, answer_cb);
}

/* As the real one: verifications that will not be answered any more end
 * with an error. */
void s2s_out_shutdown(struct shard *sh)
{
	(void)sh;
	while (!list_empty(&verifies))
		answer(list_entry(verifies.next, struct fake_verify, link), ANSWER_ERROR);
	uv_idle_stop(&answerer);
}

size_t s2s_out_count(struct shard *sh)
{
	(void)sh;
	size_t n = 0;
	list_for_each(pos, &verifies)
		n++;
	return n;
}

static size_t links_started, stanzas_sent;

static void fake_start(struct remote_link *l)
{
	links_started++;
	if (strncasecmp(l->remote, "up", 2) == 0)
		remote_link_up(l);
	else
		remote_link_fail(l, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "fuzz: no outgoing links");
}

static bool fake_send(struct remote_link *l, struct chunk *wire)
{
	(void)l;
	stanzas_sent++;
	/* What we write to another server is one element. */
	struct arena *a = arena_new();
	if (!xml_parse_fragment(a, wire->data, wire->len)) {
		fprintf(stderr, "fuzz_s2s: a stanza for %s is not one well-formed element: %.*s\n", l->remote,
			(int)wire->len, wire->data);
		abort();
	}
	arena_free(a);
	return true;
}

static void fake_close(struct remote_link *l)
{
	(void)l;
}

const struct remote_transport s2s_transport = {
	.start = fake_start,
	.send = fake_send,
	.close = fake_close,
};

/* ---- the server, once ---- */

static char *path_in(const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		die("cannot write the configuration", strerror(errno));
}

/* At exit: the temporary directory goes (a crash leaves it, with the
 * configuration of the run). */
static void remove_dir(void)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *p = path_in(e->d_name);
		unlink(p);
		free(p);
	}
	closedir(d);
	rmdir(dir);
}

static const char conf_text[] =
	"hosts = (\n"
	"  { domain = \"localhost\"; certificate = \"server.crt\"; key = \"server.key\"; },\n"
	"  { domain = \"example.net\"; certificate = \"server.crt\"; key = \"server.key\"; }\n"
	");\n"
	"workers = 1;\n"
	"log_level = \"error\";\n"
	"database = \"parley.db\";\n"
	"limits: { read_rate = 0; read_burst = 0; };\n"
	"auth: { attempts_per_stream = 4; };\n"
	"s2s: {\n"
	"  port = 0; tls_port = 0;\n"
	"  ca = \"\";\n"
	"  require_tls = false;\n"
	"  accept_selfsigned = true;\n"
	"  dialback = true;\n"
	"  allow = [\"*\"];\n"
	"  deny = [\"denied.example\"];\n"
	"  peers = (\n"
	"    { domain = \"verify.example\"; mode = \"verify\"; },\n"
	"    { domain = \"tls.example\"; mode = \"selfsigned\"; },\n"
	"    { domain = \"blocked.example\"; mode = \"deny\"; },\n"
	"    { domain = \"pinned.example\"; pin = "
	"\"0000000000000000000000000000000000000000000000000000000000000000\"; }\n"
	"  );\n"
	"  connections_per_address = 4;\n"
	"};\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	hash_seed();
	const char *lv = getenv("FUZZ_S2S_LOG");
	int level = lv ? log_level_parse(lv) : -1;
	log_setup(level >= 0 ? (enum log_level)level : LOG_ERROR, 2);
	if (!mkdtemp(dir))
		die("mkdtemp", strerror(errno));
	atexit(remove_dir);

	char *err = NULL;
	char *crt = path_in("server.crt"), *key = path_in("server.key"), *conf = path_in("parley.conf");
	const char *const domains[] = {"localhost", "example.net"};
	if (tls_cert_make_selfsigned(domains, 2, 30, crt, key, &err) != 0)
		die("certificate", err);
	write_text(conf, conf_text);
	if (config_load(conf, &cfg, &err) < 0)
		die("configuration", err);
	free(crt);
	free(key);
	free(conf);

	struct tls_host hosts[2];
	for (size_t i = 0; i < cfg.nhosts && i < 2; i++)
		hosts[i] = (struct tls_host){cfg.hosts[i].domain, cfg.hosts[i].certificate, cfg.hosts[i].key};
	struct tls_server_config tc = {.hosts = hosts, .nhosts = cfg.nhosts};
	srv.tls = tls_server_new(&tc, &err);
	if (!srv.tls)
		die("TLS server", err);
	struct tls_client_auth_config sac;
	s2s_trust_config(&cfg, &sac);
	srv.s2s_trust = tls_client_auth_new(&sac, &err);
	if (!srv.s2s_trust)
		die("s2s trust store", err);
	srv.cfg = &cfg;
	srv.nworkers = 1;
	srv.workers = &W;
	srv.shards = shard_ptrs;
	if (s2s_service.setup(&srv, &err) != 0)
		die("s2s setup", err);
	/* A known secret, so that a seed can hold a valid <db:verify/> key. */
	dialback_secret_set(&srv.s2s->secret, fuzz_secret, strlen(fuzz_secret));
	im_setup();

	worker_init(&W, 0, cfg.inbox_max);
	shard.srv = &srv;
	shard.w = &W;
	list_init(&shard.streams);
	list_init(&shard.s2s_streams);
	list_init(&shard.s2s_out);
	W.ctx = &shard;
	shard.store = store_open(cfg.database, &err);
	if (!shard.store)
		die("store", err);
	/* worker_run without its 1 s sweep timer (a run calls conn_sweep
	 * itself when asked) and without uv_run(DEFAULT). */
	log_thread_name(W.name);
	conn_worker_start(&W);
	list_init(&verifies);
	uv_idle_init(&W.loop, &answerer);
	return 0;
}

/* ---- one input ---- */

enum { SPIN_MAX = 200 };

static int peer_fd = -1;     /* our end */
static int server_fd = -1;   /* the conn's end, while its stream lives */

static bool stream_alive(void)
{
	return !list_empty(&shard.s2s_streams);
}

/* Reads and drops what the server wrote. */
static void drain_peer(void)
{
	char buf[65536];
	while (recv(peer_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* Nothing left for the loop to do now: the server read every byte we
 * wrote, wrote what it had, and no verification answer is due. */
static bool settled(void)
{
	if (!list_empty(&W.ready) || !list_empty(&W.flush) || atomic_load(&W.inbox_len) != 0)
		return false;
	list_for_each(pos, &verifies)
		if (list_entry(pos, struct fake_verify, link)->mode != ANSWER_NONE)
			return false;
	if (stream_alive()) {
		int unread = 0;
		if (ioctl(server_fd, FIONREAD, &unread) == 0 && unread > 0)
			return false;
	}
	return true;
}

static void spin(void)
{
	for (int i = 0; i < SPIN_MAX; i++) {
		uv_run(&W.loop, UV_RUN_NOWAIT);
		drain_peer();
		if (settled())
			return;
	}
}

/* Writes one piece and lets the server read it. */
static void feed(const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(peer_fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* The server stopped reading (a hold, a throttle, TLS):
			 * the rest is never read. */
			uv_run(&W.loop, UV_RUN_NOWAIT);
			drain_peer();
			if (!stream_alive())
				return;
			int unread = 0;
			if (ioctl(server_fd, FIONREAD, &unread) == 0 && unread > 0) {
				spin();
				if (ioctl(server_fd, FIONREAD, &unread) == 0 && unread > 0)
					return;
			}
			continue;
		}
		if (w <= 0)
			return; /* the server closed its end */
		p += w;
		n -= (size_t)w;
	}
	spin();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	size_t npieces = flags & 3;
	if (size < 1 + npieces)
		return 0;
	const uint8_t *lens = data + 1;
	const uint8_t *p = data + 1 + npieces;
	size_t left = size - 1 - npieces;

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		die("socketpair", strerror(errno));
	server_fd = sv[0];
	peer_fd = sv[1];
	s2s_in_accept(&W, server_fd, (void *)&s2s_port_starttls);
	spin();

	for (size_t i = 0; i < npieces && left > 0 && stream_alive(); i++) {
		size_t n = lens[i] < left ? lens[i] : left;
		if (n == 0)
			continue;
		feed(p, n);
		p += n;
		left -= n;
	}
	if (left > 0 && stream_alive())
		feed(p, left);
	if (flags & 4) {
		conn_sweep(&W, worker_now(&W));
		spin();
	}

	/* The peer goes away: EOF, then the answers still to come, then (for
	 * a conn that does not read, e.g. one waiting for output to go) the
	 * server's own shutdown. */
	shutdown(peer_fd, SHUT_WR);
	spin();
	s2s_out_shutdown(&shard);
	spin();
	if (stream_alive()) {
		s2s_shutdown(&shard);
		spin();
	}
	if (atomic_load(&W.nconns) != 0) {
		conn_abort_all(&W, "fuzz: end of input");
		spin();
	}
	router_remote_shutdown(&shard);
	spin();
	close(peer_fd);
	peer_fd = server_fd = -1;

	if (stream_alive() || atomic_load(&W.nconns) != 0 || !list_empty(&verifies) || shard.remote ||
	    atomic_load(&W.inbox_len) != 0 || shard.nusers != 0) {
		fprintf(stderr, "fuzz_s2s: left after the run: %s%s%s%s%s%s\n", stream_alive() ? "a stream " : "",
			atomic_load(&W.nconns) ? "a conn " : "", list_empty(&verifies) ? "" : "verifications ",
			shard.remote ? "remote links " : "", atomic_load(&W.inbox_len) ? "inbox posts " : "",
			shard.nusers ? "user records" : "");
		abort();
	}
	arena_cache_drain();
	return 0;
}
