/*
 * Unit tests of stream/stream.c: a real xstream over a real conn on a real
 * libuv loop (a worker initialised on this thread, never started), one end
 * of a socket pair as the conn's fd, the test holding the other end as the
 * peer, as tests/unit/core/test_conn.c does.
 *
 * The stream is of a test kind (struct xs_kind) with its own routes, host
 * check, features, auth restart and who, so that everything the machine
 * does is seen from outside: the exact bytes on the wire, the kind's
 * callbacks, and the machine's state (never the log, except where the
 * contract is about the log: a stream error is logged once).
 *
 * The loop runs with UV_RUN_NOWAIT for a bounded number of iterations; the
 * 1 s sweep (timeouts) is called by hand (conn_sweep) with chosen clock
 * values.  alarm() bounds every test in wall time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/chunk.h"
#include "core/conn.h"
#include "core/conn_internal.h"
#include "core/log.h"
#include "core/worker.h"
#include "stream/stream.h"
#include "xml/xml.h"

enum { SPIN_MAX = 2000, SPIN_SETTLE = 8, TEST_ALARM_S = 20 };

#define STREAMS_NS "http://etherx.jabber.org/streams"
#define ERR_NS "urn:ietf:params:xml:ns:xmpp-streams"
#define PING "xmlns='urn:xmpp:ping'"
#define DB "xmlns='jabber:server:dialback'"
#define KIND_ATTRS " xmlns:db='jabber:server:dialback'"
#define FEATURES "<stream:features><f/></stream:features>"
#define FEATURES_AUTH "<stream:features><f auth='yes'/></stream:features>"

/* The peer's header with the test kind's content namespace. */
#define PEER_HDR(to, from)                                                                                   \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='" STREAMS_NS "' to='" to \
	"' from='" from "' version='1.0'>"

/* ---- the passthrough transport (a TLS that needs no bytes) ---- */

struct pt {
	bool block; /* the handshake never completes */
};

static int pt_handshake(void *t, int fd)
{
	(void)fd;
	return ((struct pt *)t)->block ? CONN_IO_WANT_READ : 0;
}

static ssize_t pt_read(void *t, int fd, char *buf, size_t len)
{
	(void)t;
	ssize_t n = read(fd, buf, len);
	if (n == 0)
		return CONN_IO_EOF;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? CONN_IO_WANT_READ : CONN_IO_ERROR;
	return n;
}

static ssize_t pt_write(void *t, int fd, const char *buf, size_t len)
{
	(void)t;
	ssize_t n = write(fd, buf, len);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? CONN_IO_WANT_WRITE : CONN_IO_ERROR;
	return n;
}

static size_t pt_pending(void *t)
{
	(void)t;
	return 0;
}

static void pt_shutdown(void *t, int fd)
{
	(void)t;
	(void)fd;
}

static const char *pt_error(void *t)
{
	(void)t;
	return "passthrough error";
}

static void pt_free(void *t)
{
	free(t);
}

static const struct conn_transport_ops pt_ops = {
	.name = "passthrough",
	.handshake = pt_handshake,
	.read = pt_read,
	.write = pt_write,
	.pending = pt_pending,
	.shutdown = pt_shutdown,
	.error = pt_error,
	.free = pt_free,
};

/* ---- the owner: one test stream ---- */

struct tstream {
	struct xstream xs; /* the machine under test */
	struct conn *c;    /* NULL once on_close ran */
	bool started;
	int peer;          /* the test's end of the socket pair */
	struct buf got;    /* bytes the peer received, not yet checked */
	bool eof;          /* the peer saw the conn's end */

	int reads, handshakes, ticks, closes, after_close;
	bool tick_ret;
	char reason[256];

	struct buf calls;  /* "name|" per route handler call, in order */
	int selects;       /* select_host calls */
	char select_to[128];
	int features;      /* features calls */
	int restarts;      /* auth_restart calls */
	struct buf restart_data;
	enum xs_state restart_state;
	bool restart_header_sent;
	bool keep;         /* auth_restart keeps the input (a move) */
	bool hs_block;     /* the transport's handshake never completes */
	int opens, ops_closes; /* test framing */
	bool framed;       /* input is '#'-terminated messages (xs_input_message) */
	struct buf msg;    /* the framed message read so far */
	struct xs_timeouts to;
};

static struct tstream T;
static struct worker W;
static struct xs_kind K;
static int logfd = -1;

static const struct xml_limits LIM = {
	.stanza_bytes = 65536,
	.header_bytes = 8192,
	.depth = 16,
	.elements = 256,
	.attrs = 64,
	.attr_bytes = 4096,
};

static void note(const char *what)
{
	buf_append_str(&T.calls, what);
	buf_append_char(&T.calls, '|');
}

/* Route handlers: each notes its call and frees the element's arena. */

static void h_first(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)xs, (void)el;
	note("first");
	arena_free(a);
}

static void h_shadow(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)xs, (void)el;
	note("shadow");
	arena_free(a);
}

static void h_pre(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)xs, (void)el;
	note("pre");
	arena_free(a);
}

static void h_post(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)xs, (void)el;
	note("post");
	arena_free(a);
}

static void h_to_ready(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)el;
	note("to-ready");
	arena_free(a);
	xs->state = XS_READY;
}

static void h_ready(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)xs, (void)el;
	note("ready");
	arena_free(a);
}

static void h_any(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)xs;
	char n[64];
	snprintf(n, sizeof(n), "any:%s", el->name);
	note(n);
	arena_free(a);
}

static void h_special(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)xs, (void)el;
	note("special");
	arena_free(a);
}

static void h_anyns(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)xs;
	char n[64];
	snprintf(n, sizeof(n), "anyns:%s", el->ns);
	note(n);
	arena_free(a);
}

/* Authentication succeeded inside the handler: the next stream follows. */
static void h_auth(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)el;
	note("auth");
	arena_free(a);
	xs->authenticated = true;
	xs_send_raw(xs, "<ok/>");
	xs_restart_after_auth(xs);
}

static void h_features(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)xs;
	(void)el;
	note("features");
	arena_free(a);
}

/* A check runs off the loop: what follows waits. */
static void h_hold(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)el;
	note("hold");
	arena_free(a);
	xs_send_raw(xs, "<held/>");
	xs_stop_parser(xs, XS_RESTART_HOLD);
}

/* STARTTLS as c2s does it, with the passthrough transport. */
static void h_starttls(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)el;
	note("starttls");
	arena_free(a);
	xs_send_raw(xs, "<proceed/>");
	xs->state = XS_STARTTLS;
	xs_stop_parser(xs, XS_RESTART_TLS);
	struct pt *t = calloc(1, sizeof(*t));
	t->block = T.hs_block;
	conn_set_transport(xs->conn, &pt_ops, t);
}

/* Two stream errors in a row: only the first counts. */
static void h_err(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)el;
	note("err");
	arena_free(a);
	xs_error(xs, STREAM_ERR_RESET, NULL);
	xs_error(xs, STREAM_ERR_CONFLICT, "second");
}

/* A new stream begins while the parser is still inside the old one. */
static void h_rewind(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	(void)el;
	note("rewind");
	arena_free(a);
	xs_tls_established(xs);
}

#define OPEN_ XS_IN(XS_OPEN)
#define READY_ XS_IN(XS_READY)

static const struct xs_route routes[] = {
	{XML_NS_PING, "first", OPEN_, XS_AUTH_ANY, h_first},
	/* the same element: reached only where the row above is not */
	{XML_NS_PING, "first", OPEN_ | READY_, XS_AUTH_ANY, h_shadow},
	{XML_NS_PING, "pre", OPEN_, XS_AUTH_BEFORE, h_pre},
	{XML_NS_PING, "post", OPEN_ | READY_, XS_AUTH_AFTER, h_post},
	{XML_NS_PING, "to-ready", OPEN_, XS_AUTH_ANY, h_to_ready},
	{XML_NS_PING, "ready", READY_, XS_AUTH_ANY, h_ready},
	{XML_NS_PING, "auth", OPEN_, XS_AUTH_BEFORE, h_auth},
	{XML_NS_PING, "hold", OPEN_ | READY_, XS_AUTH_ANY, h_hold},
	{XML_NS_PING, "err", OPEN_ | READY_, XS_AUTH_ANY, h_err},
	{XML_NS_PING, "rewind", OPEN_, XS_AUTH_ANY, h_rewind},
	{XML_NS_TLS, "starttls", OPEN_, XS_AUTH_BEFORE, h_starttls},
	{XML_NS_DIALBACK, NULL, OPEN_ | READY_, XS_AUTH_ANY, h_any},
	/* shadowed by the whole-namespace row above */
	{XML_NS_DIALBACK, "special", OPEN_ | READY_, XS_AUTH_ANY, h_special},
	{NULL, "anyns", OPEN_ | READY_, XS_AUTH_ANY, h_anyns},
	/* the initiating side hears the peer's features as an element */
	{XML_NS_STREAM, "features", OPEN_, XS_AUTH_ANY, h_features},
};

/* Hosts: the domain strings outlive the header (they are "config"). */
static const char DEFAULT_HOST[] = "default.example";
static const char OTHER_HOST[] = "other.example";
static const char FALLBACK_HOST[] = "fallback.example";

static bool t_select_host(struct xstream *xs, const char *to, enum stream_cond *cond, char *text, size_t textlen)
{
	T.selects++;
	snprintf(T.select_to, sizeof(T.select_to), "%s", to ? to : "(null)");
	if (!to || strcmp(to, DEFAULT_HOST) == 0) {
		xs->domain = DEFAULT_HOST;
		return true;
	}
	if (strcmp(to, OTHER_HOST) == 0) {
		xs->domain = OTHER_HOST;
		return true;
	}
	if (strcmp(to, "gone.example") == 0) {
		xs->domain = FALLBACK_HOST;
		*cond = STREAM_ERR_HOST_GONE;
		snprintf(text, textlen, "'%s' is gone", to);
		return false;
	}
	xs->domain = DEFAULT_HOST;
	*cond = STREAM_ERR_HOST_UNKNOWN;
	snprintf(text, textlen, "no host '%s' here", to);
	return false;
}

static void t_features(struct xstream *xs, struct buf *out)
{
	T.features++;
	buf_printf(out, "<f%s/>", xs->authenticated ? " auth='yes'" : "");
}

static bool t_auth_restart(struct xstream *xs, const char *data, size_t len)
{
	T.restarts++;
	T.restart_state = xs->state;
	T.restart_header_sent = xs->header_sent;
	buf_append(&T.restart_data, data, len);
	xs_new_parser(xs, &LIM);
	if (!T.keep)
		return true;
	buf_append(&xs->pending, data, len);
	xs->state = XS_MOVING;
	return false;
}

static const char *t_who(const struct xstream *xs)
{
	(void)xs;
	return "who@test";
}

/* A framing of its own, as WebSocket will have. */

static void o_open(struct xstream *xs, const char *to)
{
	T.opens++;
	struct buf b = BUF_INIT;
	buf_printf(&b, "<open from='%s'", xs->domain);
	if (to)
		buf_printf(&b, " to='%s'", to);
	buf_append_str(&b, "/>");
	conn_write(xs->conn, b.data, b.len);
	buf_clear(&b);
}

static void o_close(struct xstream *xs)
{
	T.ops_closes++;
	conn_write(xs->conn, "<close/>", 8);
}

static void o_write(struct xstream *xs, const char *data, size_t len)
{
	conn_write(xs->conn, "[", 1);
	conn_write(xs->conn, data, len);
	conn_write(xs->conn, "]", 1);
}

static void o_write_chunks(struct xstream *xs, struct chunk *const *chunks, size_t n)
{
	conn_write(xs->conn, "[", 1);
	for (size_t i = 0; i < n; i++)
		conn_write_chunk(xs->conn, chunks[i]);
	conn_write(xs->conn, "]", 1);
}

static const struct xs_output_ops test_output = {
	.open = o_open,
	.close = o_close,
	.write = o_write,
	.write_chunks = o_write_chunks,
};

/* Element framing, one element per message (RFC 7395). */
static const struct xs_output_ops framed_output = {
	.open = o_open,
	.close = o_close,
	.write = o_write,
	.write_chunks = o_write_chunks,
	.framed = true,
	.message_elements = 1,
};

static const struct xs_kind kind_template = {
	.tag = "xstest",
	.peer = "tester",
	.content_ns = XML_NS_SERVER,
	.header_attrs = KIND_ATTRS,
	.out = &xs_tcp_output,
	.routes = routes,
	.nroutes = sizeof(routes) / sizeof(routes[0]),
	.select_host = t_select_host,
	.features = t_features,
	.auth_restart = t_auth_restart,
	.who = t_who,
};

/* conn events */

static void t_on_read(void *owner, struct conn *c, const char *data, size_t len)
{
	struct tstream *t = owner;
	if (t->closes) {
		t->after_close++;
		return;
	}
	assert_ptr_equal(c, t->c);
	t->reads++;
	if (!t->framed) {
		xs_input(&t->xs, data, len);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '#') {
			buf_append_char(&t->msg, data[i]);
			continue;
		}
		struct buf m = t->msg;
		buf_init(&t->msg);
		xs_input_message(&t->xs, m.data ? m.data : "", m.len);
		buf_clear(&m);
	}
}

static void t_on_handshake(void *owner, struct conn *c)
{
	struct tstream *t = owner;
	if (t->closes) {
		t->after_close++;
		return;
	}
	assert_ptr_equal(c, t->c);
	t->handshakes++;
	xs_tls_established(&t->xs);
}

static void t_on_tick(void *owner, struct conn *c, uint64_t now_ms)
{
	struct tstream *t = owner;
	if (t->closes) {
		t->after_close++;
		return;
	}
	assert_ptr_equal(c, t->c);
	t->ticks++;
	t->tick_ret = xs_tick(&t->xs, now_ms, &t->to);
}

static void t_on_close(void *owner, struct conn *c, const char *reason)
{
	(void)c;
	struct tstream *t = owner;
	if (t->closes)
		t->after_close++;
	t->closes++;
	snprintf(t->reason, sizeof(t->reason), "%s", reason ? reason : "(null)");
	t->c = NULL;
	xs_release(&t->xs);
}

static const struct conn_handler handler = {
	.on_read = t_on_read,
	.on_handshake = t_on_handshake,
	.on_tick = t_on_tick,
	.on_close = t_on_close,
};

/* ---- fixture ---- */

static int setup(void **state)
{
	(void)state;
	alarm(TEST_ALARM_S);
	memset(&T, 0, sizeof(T));
	T.peer = -1;
	T.to = (struct xs_timeouts){
		.handshake_s = 600,
		.idle_s = 600,
		.keepalive_s = 600,
		.handshake_name = "test.handshake_timeout",
		.idle_name = "test.idle_timeout",
		.ready_what = "ready for stanzas",
	};
	K = kind_template;
	memset(&W, 0, sizeof(W));
	worker_init(&W, 0, 0);
	conn_worker_start(&W);
	assert_int_equal(ftruncate(logfd, 0), 0);
	assert_int_equal(lseek(logfd, 0, SEEK_SET), 0);
	return 0;
}

static void spin(int n)
{
	for (int i = 0; i < n; i++)
		uv_run(&W.loop, UV_RUN_NOWAIT);
}

/* The stream of kind K on a new conn. */
static void start(void)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	T.peer = sv[1];
	T.c = conn_new(&W, sv[0], &handler, &T);
	xs_init(&T.xs, &K, T.c, &LIM, DEFAULT_HOST, worker_now(&W));
	T.started = true;
	conn_start(T.c);
}

static int teardown(void **state)
{
	(void)state;
	if (T.started && !T.closes) {
		conn_abort(T.c, "test teardown");
		for (int i = 0; i < 10 && !T.closes; i++)
			spin(1);
	}
	if (T.peer >= 0)
		close(T.peer);
	worker_discard(&W);
	buf_clear(&T.got);
	buf_clear(&T.calls);
	buf_clear(&T.restart_data);
	buf_clear(&T.msg);
	alarm(0);
	return 0;
}

/* ---- the peer ---- */

static void peer_send(const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(T.peer, s, n);
		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

/* Reads what is available into T.got. */
static void peer_drain(void)
{
	char tmp[65536];
	for (;;) {
		ssize_t n = read(T.peer, tmp, sizeof(tmp));
		if (n > 0) {
			buf_append(&T.got, tmp, (size_t)n);
			continue;
		}
		if (n == 0)
			T.eof = true;
		else
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		return;
	}
}

/* Sends and lets the conn read and answer. */
static void peer_sends(const char *s)
{
	peer_send(s);
	int reads = T.reads;
	for (int i = 0; i < SPIN_MAX && T.reads == reads && !T.closes; i++)
		spin(1);
	spin(SPIN_SETTLE);
}

/* The peer has received exactly `want` since the last check (and the
 * conn is still open). */
static void expect_bytes(const char *want)
{
	size_t n = strlen(want);
	for (int i = 0; i < SPIN_MAX && T.got.len < n && !T.eof; i++) {
		spin(1);
		peer_drain();
	}
	for (int i = 0; i < SPIN_SETTLE; i++) {
		spin(1);
		peer_drain();
	}
	assert_string_equal(buf_cstr(&T.got), want);
	assert_false(T.eof);
	assert_int_equal(T.closes, 0);
	buf_reset(&T.got);
}

/* The peer received exactly `want`, then the end of the connection; the
 * owner heard the close once, with `reason`. */
static void expect_closed(const char *want, const char *reason)
{
	for (int i = 0; i < SPIN_MAX && !(T.eof && T.closes); i++) {
		spin(1);
		peer_drain();
	}
	assert_true(T.eof);
	assert_string_equal(buf_cstr(&T.got), want);
	assert_int_equal(T.closes, 1);
	assert_int_equal(T.after_close, 0);
	assert_string_equal(T.reason, reason);
	assert_int_equal(T.xs.state, XS_CLOSING);
	buf_reset(&T.got);
}

/* Our header as xs_tcp_output writes it, with the current id. */
static void want_header(struct buf *b, const char *ns, const char *attrs, const char *from, const char *to)
{
	buf_printf(b, "<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='" STREAMS_NS "'%s id='%s' from='%s'",
		   ns, attrs, T.xs.id, from);
	if (to)
		buf_printf(b, " to='%s'", to);
	buf_append_str(b, " version='1.0' xml:lang='en'>");
}

static void want_kind_header(struct buf *b, const char *from, const char *to)
{
	want_header(b, "jabber:server", KIND_ATTRS, from, to);
}

/* A stream error (text already escaped, or NULL); with the close. */
static void want_error(struct buf *b, const char *cond, const char *text)
{
	buf_printf(b, "<stream:error><%s xmlns='" ERR_NS "'/>", cond);
	if (text)
		buf_printf(b, "<text xmlns='" ERR_NS "'>%s</text>", text);
	buf_append_str(b, "</stream:error>");
}

static void expect_error_close(bool header, const char *from, const char *cond, const char *text_escaped,
			       const char *reason)
{
	struct buf w = BUF_INIT;
	if (header)
		want_kind_header(&w, from, NULL);
	want_error(&w, cond, text_escaped);
	buf_append_str(&w, "</stream:stream>");
	expect_closed(buf_cstr(&w), reason);
	buf_clear(&w);
}

static bool id_ok(const char *id)
{
	if (strlen(id) != 18)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'v')))
			return false;
	return true;
}

/* The peer opens the default stream; our header and features answer. */
static void open_stream(void)
{
	peer_sends(PEER_HDR("default.example", "peer.example"));
	struct buf w = BUF_INIT;
	want_kind_header(&w, DEFAULT_HOST, "peer.example");
	buf_append_str(&w, FEATURES);
	expect_bytes(buf_cstr(&w));
	buf_clear(&w);
	assert_int_equal(T.xs.state, XS_OPEN);
	assert_true(T.xs.header_sent);
}

static void expect_calls(const char *want)
{
	assert_string_equal(buf_cstr(&T.calls), want);
}

/* The log since setup. */
static char *log_text(void)
{
	off_t end = lseek(logfd, 0, SEEK_END);
	assert_true(end >= 0);
	char *s = calloc(1, (size_t)end + 1);
	assert_int_equal(pread(logfd, s, (size_t)end, 0), end);
	return s;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- the header ---- */

/* Whitespace before the first header (in a read of its own) is ignored;
 * the header, split over two reads, is answered with our header (the
 * kind's content namespace and declarations, a fresh id, from = the host
 * select_host chose, to = the peer's from) and the features. */
static void header_is_answered_with_header_and_features(void **state)
{
	(void)state;
	start();
	peer_sends(" \r\n\t");
	expect_bytes("");
	assert_int_equal(T.selects, 0);
	peer_sends("\n<?xml version='1.0'?><stream:stream xmlns='jabber:server' ");
	expect_bytes("");
	peer_sends("xmlns:stream='" STREAMS_NS "' to='other.example' from='peer.example' version='1.0'>");
	struct buf w = BUF_INIT;
	want_kind_header(&w, OTHER_HOST, "peer.example");
	buf_append_str(&w, FEATURES);
	expect_bytes(buf_cstr(&w));
	buf_clear(&w);
	assert_true(id_ok(T.xs.id));
	assert_int_equal(T.selects, 1);
	assert_string_equal(T.select_to, "other.example");
	assert_ptr_equal(T.xs.domain, OTHER_HOST);
	assert_int_equal(T.features, 1);
	assert_int_equal(T.xs.state, XS_OPEN);
	assert_true(T.xs.header_sent);
	expect_calls("");
}

/* No to: select_host hears NULL; the peer's from is escaped in our to;
 * a minor version of 1 is accepted. */
static void header_without_to_and_with_odd_from(void **state)
{
	(void)state;
	start();
	peer_sends("<stream:stream xmlns='jabber:server' xmlns:stream='" STREAMS_NS
		   "' from='a&apos;b&amp;c' version='1.1'>");
	struct buf w = BUF_INIT;
	want_kind_header(&w, DEFAULT_HOST, "a&apos;b&amp;c");
	buf_append_str(&w, FEATURES);
	expect_bytes(buf_cstr(&w));
	buf_clear(&w);
	assert_int_equal(T.selects, 1);
	assert_string_equal(T.select_to, "(null)");
	assert_int_equal(T.xs.state, XS_OPEN);
}

/* A first element that is not a stream header is the stream's root to
 * the parser: the wrong root (invalid-namespace), answered with a header
 * of our own first. */
static void first_element_not_a_header_is_wrong_root(void **state)
{
	(void)state;
	start();
	peer_sends("<message xmlns='jabber:server' to='default.example'/><first " PING "/>");
	expect_error_close(true, DEFAULT_HOST, "invalid-namespace",
			   "the stream root must be &lt;stream:stream&gt; in " STREAMS_NS,
			   "stream error <invalid-namespace/>: the stream root must be <stream:stream> in " STREAMS_NS);
	expect_calls("");
	assert_int_equal(T.features, 0);
}

/* <stream:stream> in another namespace than the streams one. */
static void header_root_in_wrong_namespace(void **state)
{
	(void)state;
	start();
	peer_sends("<stream:stream xmlns='jabber:server' xmlns:stream='urn:not:streams' to='default.example' "
		   "version='1.0'>");
	expect_error_close(true, DEFAULT_HOST, "invalid-namespace",
			   "the stream root must be &lt;stream:stream&gt; in " STREAMS_NS,
			   "stream error <invalid-namespace/>: the stream root must be <stream:stream> in " STREAMS_NS);
	assert_int_equal(T.features, 0);
}

/* Another content namespace than the kind's: invalid-namespace naming the
 * kind's namespace, even though the host is refused too (the host's error
 * comes only after the namespace checks). */
static void header_wrong_content_namespace(void **state)
{
	(void)state;
	start();
	peer_sends("<stream:stream xmlns='jabber:client' xmlns:stream='" STREAMS_NS
		   "' to='gone.example' version='1.0'>");
	expect_error_close(true, FALLBACK_HOST, "invalid-namespace", "tester streams use the jabber:server namespace",
			   "stream error <invalid-namespace/>: tester streams use the jabber:server namespace");
	assert_int_equal(T.selects, 1);
	assert_int_equal(T.features, 0);
}

/* No content namespace at all. */
static void header_without_content_namespace(void **state)
{
	(void)state;
	start();
	peer_sends("<stream:stream xmlns:stream='" STREAMS_NS "' to='default.example' version='1.0'>");
	expect_error_close(true, DEFAULT_HOST, "invalid-namespace", "tester streams use the jabber:server namespace",
			   "stream error <invalid-namespace/>: tester streams use the jabber:server namespace");
}

/* select_host refusing: its condition and text, from the host it chose;
 * checked before the version (missing here). */
static void header_host_refused_by_the_kind(void **state)
{
	(void)state;
	start();
	peer_sends("<stream:stream xmlns='jabber:server' xmlns:stream='" STREAMS_NS "' to='gone.example'>");
	expect_error_close(true, FALLBACK_HOST, "host-gone", "'gone.example' is gone",
			   "stream error <host-gone/>: 'gone.example' is gone");
	assert_int_equal(T.selects, 1);
	assert_string_equal(T.select_to, "gone.example");
	assert_int_equal(T.features, 0);
}

static void header_version_missing(void **state)
{
	(void)state;
	start();
	peer_sends("<stream:stream xmlns='jabber:server' xmlns:stream='" STREAMS_NS "' to='other.example'>");
	expect_error_close(true, OTHER_HOST, "unsupported-version",
			   "only XMPP 1.0 streams (version='1.0') are supported",
			   "stream error <unsupported-version/>: only XMPP 1.0 streams (version='1.0') are supported");
	assert_int_equal(T.features, 0);
}

static void header_version_2(void **state)
{
	(void)state;
	start();
	peer_sends("<stream:stream xmlns='jabber:server' xmlns:stream='" STREAMS_NS
		   "' to='default.example' version='2.0'>");
	expect_error_close(true, DEFAULT_HOST, "unsupported-version",
			   "only XMPP 1.0 streams (version='1.0') are supported",
			   "stream error <unsupported-version/>: only XMPP 1.0 streams (version='1.0') are supported");
}

/* A header while the machine expects none (direct TLS, handshake not yet
 * done): bad-format. */
static void header_out_of_place(void **state)
{
	(void)state;
	start();
	T.xs.state = XS_TLS_HANDSHAKE;
	peer_sends(PEER_HDR("default.example", "peer.example"));
	expect_error_close(true, DEFAULT_HOST, "bad-format", "stream header out of place",
			   "stream error <bad-format/>: stream header out of place");
	assert_int_equal(T.features, 0);
}

/* A parse failure is a stream error with the parser's condition. */
static void parse_failure_is_a_stream_error(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<first " PING "/><!-- hi --><first " PING "/>");
	expect_error_close(false, NULL, "restricted-xml", "comment", "stream error <restricted-xml/>: comment");
	expect_calls("first|");
}

/* ---- routes ---- */

/* The first matching row wins (a later row for the same element, one for
 * a whole namespace before a named row); a row with no name matches any
 * element of its namespace, a row with no namespace any namespace.
 * Whitespace between elements, and reads of whitespace only, are
 * ignored. */
static void routes_first_match_wins_and_wildcards(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<first " PING "/>\n\t <x " DB "/> <special " DB "><y/></special>\r\n");
	peer_sends("  \n");
	peer_sends("<anyns xmlns='urn:a'/><anyns " DB "/><anyns/>");
	expect_calls("first|any:x|any:special|anyns:urn:a|any:anyns|anyns:jabber:server|");
	expect_bytes("");
	assert_int_equal(T.xs.state, XS_OPEN);
}

/* A row applies only in its states: <first/> goes to another row once
 * ready; <ready/> is routed only when ready; <pre/> (open only) is then
 * refused. */
static void routes_respect_state_masks(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<to-ready " PING "/><first " PING "/><ready " PING "/>");
	expect_calls("to-ready|shadow|ready|");
	assert_int_equal(T.xs.state, XS_READY);
	expect_bytes("");
	peer_sends("<pre " PING "/><ready " PING "/>");
	expect_error_close(false, NULL, "unsupported-stanza-type", "pre",
			   "stream error <unsupported-stanza-type/>: pre");
	expect_calls("to-ready|shadow|ready|");
}

static void route_outside_its_states_is_refused(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<ready " PING "/>");
	expect_error_close(false, NULL, "unsupported-stanza-type", "ready",
			   "stream error <unsupported-stanza-type/>: ready");
	expect_calls("");
}

/* Before authentication: XS_AUTH_BEFORE rows apply, XS_AUTH_AFTER rows
 * do not (an unmatched element outside the stanza namespaces:
 * unsupported-stanza-type). */
static void routes_before_authentication(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<pre " PING "/>");
	expect_calls("pre|");
	expect_bytes("");
	peer_sends("<post " PING "/>");
	expect_error_close(false, NULL, "unsupported-stanza-type", "post",
			   "stream error <unsupported-stanza-type/>: post");
	expect_calls("pre|");
}

static void routes_after_authentication(void **state)
{
	(void)state;
	start();
	open_stream();
	T.xs.authenticated = true;
	peer_sends("<post " PING "/>");
	expect_calls("post|");
	expect_bytes("");
	peer_sends("<pre " PING "/>");
	expect_error_close(false, NULL, "unsupported-stanza-type", "pre",
			   "stream error <unsupported-stanza-type/>: pre");
	expect_calls("post|");
}

/* An unmatched jabber:client stanza before authentication. */
static void client_stanza_before_auth_is_not_authorized(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<message xmlns='jabber:client' to='a@b'><body>hi</body></message>");
	expect_error_close(false, NULL, "not-authorized", "stanzas need authentication first",
			   "stream error <not-authorized/>: stanzas need authentication first");
}

/* An unmatched stanza in the kind's own namespace (jabber:server). */
static void server_stanza_before_auth_is_not_authorized(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<iq type='get' id='1'/>");
	expect_error_close(false, NULL, "not-authorized", "stanzas need authentication first",
			   "stream error <not-authorized/>: stanzas need authentication first");
}

static void stanza_after_auth_is_unsupported_when_unrouted(void **state)
{
	(void)state;
	start();
	open_stream();
	T.xs.authenticated = true;
	peer_sends("<message xmlns='jabber:client' to='a@b'/>");
	expect_error_close(false, NULL, "unsupported-stanza-type", "message",
			   "stream error <unsupported-stanza-type/>: message");
}

/* An element while the machine waits for a header, with the parser
 * inside a stream (a kind began a new stream without a new parser):
 * bad-format, with a new header first (the new stream has none yet). */
static void element_before_the_header_is_bad_format(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<rewind " PING "/><first " PING "/>");
	expect_calls("rewind|");
	expect_error_close(true, DEFAULT_HOST, "bad-format", "element before the stream header",
			   "stream error <bad-format/>: element before the stream header");
}

/* ---- STARTTLS ---- */

/* Whitespace after <starttls/> in the same read is what clients send:
 * ignored.  After the handshake a new stream begins on a fresh parser. */
static void starttls_then_whitespace_then_new_stream(void **state)
{
	(void)state;
	start();
	open_stream();
	char first_id[sizeof(T.xs.id)];
	memcpy(first_id, T.xs.id, sizeof(first_id));
	peer_sends("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\r\n \t");
	expect_bytes("<proceed/>");
	expect_calls("starttls|");
	for (int i = 0; i < SPIN_MAX && !T.handshakes; i++)
		spin(1);
	assert_int_equal(T.handshakes, 1);
	assert_true(conn_secure(T.c));
	assert_int_equal(T.xs.state, XS_WAIT_HEADER);
	assert_false(T.xs.header_sent);
	peer_sends(PEER_HDR("other.example", "peer.example"));
	struct buf w = BUF_INIT;
	want_kind_header(&w, OTHER_HOST, "peer.example");
	buf_append_str(&w, FEATURES);
	expect_bytes(buf_cstr(&w));
	buf_clear(&w);
	assert_string_not_equal(T.xs.id, first_id);
	assert_int_equal(T.xs.state, XS_OPEN);
	assert_int_equal(T.selects, 2);
}

/* Anything but whitespace after <starttls/> in the same read: the conn is
 * aborted (queued output dropped) and nothing after it is dispatched. */
static void starttls_then_plaintext_aborts(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n <first " PING "/><x " DB "/>");
	expect_closed("", "plaintext after <starttls/>");
	expect_calls("starttls|");
	assert_int_equal(T.handshakes, 0);
}

/* ---- restart after authentication ---- */

/* xs_restart_after_auth from inside a handler: the header pipelined in
 * the same read (after whitespace) meets a fresh parser and is answered;
 * the kind's auth_restart saw the new stream's state and what followed. */
static void auth_restart_answers_pipelined_header(void **state)
{
	(void)state;
	start();
	open_stream();
	char first_id[sizeof(T.xs.id)];
	memcpy(first_id, T.xs.id, sizeof(first_id));
	const char *after = "\r\n " PEER_HDR("other.example", "peer.example") "<post " PING "/>";
	struct buf in = BUF_INIT;
	buf_printf(&in, "<auth " PING "/>%s", after);
	peer_sends(buf_cstr(&in));
	buf_clear(&in);
	struct buf w = BUF_INIT;
	buf_append_str(&w, "<ok/>");
	want_kind_header(&w, OTHER_HOST, "peer.example");
	buf_append_str(&w, FEATURES_AUTH);
	expect_bytes(buf_cstr(&w));
	buf_clear(&w);
	expect_calls("auth|post|");
	assert_int_equal(T.restarts, 1);
	assert_int_equal(T.restart_state, XS_WAIT_HEADER);
	assert_false(T.restart_header_sent);
	assert_string_equal(buf_cstr(&T.restart_data), after);
	assert_string_not_equal(T.xs.id, first_id);
	assert_int_equal(T.selects, 2);
	assert_int_equal(T.xs.state, XS_OPEN);
	assert_true(T.xs.authenticated);
}

/* Whitespace after the restart in later reads, before the new header. */
static void auth_restart_then_whitespace_in_later_reads(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<auth " PING "/>");
	expect_bytes("<ok/>");
	assert_int_equal(T.restarts, 1);
	assert_int_equal(T.restart_data.len, 0);
	assert_int_equal(T.xs.state, XS_WAIT_HEADER);
	peer_sends("\r\n");
	peer_sends(" \t");
	expect_bytes("");
	peer_sends(" " PEER_HDR("default.example", "peer.example"));
	struct buf w = BUF_INIT;
	want_kind_header(&w, DEFAULT_HOST, "peer.example");
	buf_append_str(&w, FEATURES_AUTH);
	expect_bytes(buf_cstr(&w));
	buf_clear(&w);
	assert_int_equal(T.xs.state, XS_OPEN);
}

/* auth_restart returning false: the input stays in xs->pending (nothing
 * answered) until xs_feed_pending delivers it, as after a move. */
static void auth_restart_kept_input_is_fed_later(void **state)
{
	(void)state;
	start();
	open_stream();
	T.keep = true;
	const char *after = " " PEER_HDR("default.example", "peer.example") "<post " PING "/>";
	struct buf in = BUF_INIT;
	buf_printf(&in, "<auth " PING "/>%s", after);
	peer_sends(buf_cstr(&in));
	buf_clear(&in);
	expect_bytes("<ok/>");
	expect_calls("auth|");
	assert_int_equal(T.xs.state, XS_MOVING);
	assert_int_equal(T.xs.pending.len, strlen(after));
	assert_memory_equal(T.xs.pending.data, after, strlen(after));
	assert_int_equal(T.selects, 1);
	/* arrived */
	T.xs.state = XS_WAIT_HEADER;
	xs_feed_pending(&T.xs);
	assert_int_equal(T.xs.pending.len, 0);
	struct buf w = BUF_INIT;
	want_kind_header(&w, DEFAULT_HOST, "peer.example");
	buf_append_str(&w, FEATURES_AUTH);
	expect_bytes(buf_cstr(&w));
	buf_clear(&w);
	expect_calls("auth|post|");
	assert_int_equal(T.xs.state, XS_OPEN);
}

/* ---- hold ---- */

/* What follows the holding element waits; xs_resume_after_hold carries
 * on with the same stream (no header, no features) and delivers it; the
 * stream then goes on as before. */
static void hold_then_resume_same_stream(void **state)
{
	(void)state;
	start();
	open_stream();
	char id[sizeof(T.xs.id)];
	memcpy(id, T.xs.id, sizeof(id));
	const char *after = "<first " PING "/> <x " DB "/>";
	struct buf in = BUF_INIT;
	buf_printf(&in, "<hold " PING "/>%s", after);
	peer_sends(buf_cstr(&in));
	buf_clear(&in);
	expect_bytes("<held/>");
	expect_calls("hold|");
	assert_string_equal(buf_cstr(&T.xs.pending), after);
	xs_resume_after_hold(&T.xs);
	expect_calls("hold|first|any:x|");
	assert_int_equal(T.xs.pending.len, 0);
	expect_bytes("");
	assert_string_equal(T.xs.id, id);
	assert_int_equal(T.selects, 1);
	assert_int_equal(T.features, 1);
	assert_int_equal(T.xs.state, XS_OPEN);
	peer_sends("<first " PING "/>");
	expect_calls("hold|first|any:x|first|");
	expect_bytes("");
}

/* Input that arrives in later reads while the hold lasts waits too, in
 * order ("the input that arrived meanwhile"). */
static void hold_keeps_input_of_later_reads(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<hold " PING "/>");
	expect_bytes("<held/>");
	peer_sends("<first " PING "/>");
	peer_sends(" <x " DB "/>");
	expect_calls("hold|");
	assert_string_equal(buf_cstr(&T.xs.pending), "<first " PING "/> <x " DB "/>");
	xs_resume_after_hold(&T.xs);
	expect_calls("hold|first|any:x|");
	expect_bytes("");
	assert_int_equal(T.xs.state, XS_OPEN);
	peer_sends("<first " PING "/>");
	expect_calls("hold|first|any:x|first|");
}

/* A kind with long header declarations: the resumed parser is primed with
 * all of them. */
static void hold_resume_with_long_header_attrs(void **state)
{
	(void)state;
	char attrs[600];
	int n = snprintf(attrs, sizeof(attrs), " xmlns:db='jabber:server:dialback' xmlns:long='urn:");
	while (n < 500)
		attrs[n++] = 'x';
	snprintf(attrs + n, sizeof(attrs) - (size_t)n, "'");
	K.header_attrs = attrs;
	start();
	peer_sends(PEER_HDR("default.example", "peer.example"));
	struct buf w = BUF_INIT;
	want_header(&w, "jabber:server", attrs, DEFAULT_HOST, "peer.example");
	buf_append_str(&w, FEATURES);
	expect_bytes(buf_cstr(&w));
	buf_clear(&w);
	peer_sends("<hold " PING "/><first " PING "/>");
	expect_bytes("<held/>");
	xs_resume_after_hold(&T.xs);
	expect_calls("hold|first|");
	expect_bytes("");
	assert_int_equal(T.xs.state, XS_OPEN);
}

/* A hold that ends in success off the parser: xs_restart_after_auth
 * restarts and feeds the pipelined new header that waited. */
static void hold_then_restart_after_auth_off_the_parser(void **state)
{
	(void)state;
	start();
	open_stream();
	const char *after = "\n" PEER_HDR("default.example", "peer.example");
	struct buf in = BUF_INIT;
	buf_printf(&in, "<hold " PING "/>%s", after);
	peer_sends(buf_cstr(&in));
	buf_clear(&in);
	expect_bytes("<held/>");
	assert_string_equal(buf_cstr(&T.xs.pending), after);
	T.xs.authenticated = true;
	xs_send_raw(&T.xs, "<ok/>");
	xs_restart_after_auth(&T.xs);
	assert_int_equal(T.restarts, 1);
	assert_int_equal(T.restart_state, XS_WAIT_HEADER);
	assert_int_equal(T.restart_data.len, 0);
	struct buf w = BUF_INIT;
	buf_append_str(&w, "<ok/>");
	want_kind_header(&w, DEFAULT_HOST, "peer.example");
	buf_append_str(&w, FEATURES_AUTH);
	expect_bytes(buf_cstr(&w));
	buf_clear(&w);
	assert_int_equal(T.xs.state, XS_OPEN);
	peer_sends("<post " PING "/>");
	expect_calls("hold|post|");
}

/* ---- errors and close ---- */

/* Before any header: a header first, the first error only (written and
 * logged once), the close. */
static void error_is_idempotent_and_sends_a_header_first(void **state)
{
	(void)state;
	start();
	xs_error(&T.xs, STREAM_ERR_POLICY_VIOLATION, "first <one> & only");
	assert_int_equal(T.xs.state, XS_CLOSING);
	xs_error(&T.xs, STREAM_ERR_CONFLICT, "second");
	expect_error_close(true, DEFAULT_HOST, "policy-violation", "first &lt;one&gt; &amp; only",
			   "stream error <policy-violation/>: first <one> & only");
	char *log = log_text();
	assert_int_equal(count(log, "sending stream error"), 1);
	assert_int_equal(count(log, "who@test: sending stream error <policy-violation/>: first <one> & only"), 1);
	assert_int_equal(count(log, "second"), 0);
	free(log);
}

/* From a handler, after the header: no second header, no text when none
 * is given, the second error ignored, nothing dispatched after it. */
static void error_in_handler_after_header(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<err " PING "/><first " PING "/><x " DB "/>");
	expect_error_close(false, NULL, "reset", NULL, "stream error <reset/>");
	expect_calls("err|");
	char *log = log_text();
	assert_int_equal(count(log, "sending stream error"), 1);
	assert_int_equal(count(log, "second"), 0);
	free(log);
}

/* The peer's </stream:stream>: our close, and the conn closes. */
static void peer_close_is_answered(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<first " PING "/></stream:stream>");
	expect_closed("</stream:stream>", "tester closed the stream");
	expect_calls("first|");
}

/* ---- timeouts ---- */

static void handshake_timeout(void **state)
{
	(void)state;
	start();
	open_stream();
	T.to.handshake_s = 5;
	uint64_t t0 = T.xs.started_ms;
	conn_sweep(&W, t0 + 5000);
	assert_int_equal(T.ticks, 1);
	assert_false(T.tick_ret);
	expect_bytes("");
	conn_sweep(&W, t0 + 5001);
	assert_int_equal(T.ticks, 2);
	assert_true(T.tick_ret);
	expect_error_close(false, NULL, "connection-timeout",
			   "not ready for stanzas within 5 s (test.handshake_timeout)",
			   "stream error <connection-timeout/>: not ready for stanzas within 5 s "
			   "(test.handshake_timeout)");
}

/* Still in the TLS handshake: aborted, nothing written. */
static void handshake_timeout_in_tls_handshake_aborts(void **state)
{
	(void)state;
	start();
	T.xs.state = XS_TLS_HANDSHAKE;
	T.to.handshake_s = 5;
	conn_sweep(&W, T.xs.started_ms + 5001);
	assert_true(T.tick_ret);
	expect_closed("", "TLS handshake timeout");
}

/* A STARTTLS handshake that never completes: aborted after <proceed/>. */
static void handshake_timeout_in_starttls_aborts(void **state)
{
	(void)state;
	start();
	open_stream();
	T.hs_block = true;
	peer_sends("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
	expect_bytes("<proceed/>");
	assert_int_equal(T.xs.state, XS_STARTTLS);
	T.to.handshake_s = 5;
	conn_sweep(&W, T.xs.started_ms + 5000);
	assert_false(T.tick_ret);
	assert_int_equal(T.closes, 0);
	conn_sweep(&W, T.xs.started_ms + 5001);
	assert_true(T.tick_ret);
	expect_closed("", "TLS handshake timeout");
	assert_int_equal(T.handshakes, 0);
}

/* A ready stream is past the handshake timeout; it closes when it read
 * nothing for idle_s. */
static void idle_timeout(void **state)
{
	(void)state;
	start();
	open_stream();
	peer_sends("<to-ready " PING "/>");
	expect_calls("to-ready|");
	T.to.handshake_s = 5;
	T.to.idle_s = 7;
	uint64_t r = conn_last_read_ms(T.c);
	conn_sweep(&W, r + 6000);
	assert_false(T.tick_ret);
	conn_sweep(&W, r + 7000);
	assert_false(T.tick_ret);
	expect_bytes("");
	conn_sweep(&W, r + 7001);
	assert_true(T.tick_ret);
	expect_error_close(false, NULL, "connection-timeout", "no data for 7 s (test.idle_timeout)",
			   "stream error <connection-timeout/>: no data for 7 s (test.idle_timeout)");
}

/* Whitespace keepalive: only on a ready stream, only when nothing is
 * queued, only after keepalive_s without a write.  The stream still
 * parses after the quiet ticks (which let its parser go). */
static void keepalive_on_ready_quiet_stream_only(void **state)
{
	(void)state;
	start();
	open_stream();
	T.to.keepalive_s = 3;
	uint64_t lw = conn_last_write_ms(T.c);
	conn_sweep(&W, lw + 3001); /* open, not ready */
	assert_false(T.tick_ret);
	expect_bytes("");
	peer_sends("<to-ready " PING "/>");
	lw = conn_last_write_ms(T.c);
	conn_sweep(&W, lw + 3000);
	expect_bytes("");
	xs_send_raw(&T.xs, "<q/>"); /* queued, not yet written */
	conn_sweep(&W, lw + 3001);
	expect_bytes("<q/>");
	lw = conn_last_write_ms(T.c);
	conn_sweep(&W, lw + 3001);
	assert_false(T.tick_ret);
	expect_bytes(" ");
	peer_sends("<ready " PING "/>");
	expect_calls("to-ready|ready|");
	expect_bytes("");
	assert_int_equal(T.xs.state, XS_READY);
}

/* ---- another framing ---- */

static void output_ops_carry_header_features_writes_and_close(void **state)
{
	(void)state;
	K.out = &test_output;
	start();
	peer_sends(PEER_HDR("default.example", "peer.example"));
	expect_bytes("<open from='default.example' to='peer.example'/>[" FEATURES "]");
	assert_int_equal(T.opens, 1);
	peer_sends("<hold " PING "/>");
	expect_bytes("[<held/>]");
	xs_resume_after_hold(&T.xs);
	struct arena *a = arena_new();
	struct xml_node *n = xml_node_new(a, XML_NS_SERVER, "message");
	xml_node_set_attr(a, n, "to", "a@b");
	xs_send_node(&T.xs, n);
	arena_free(a);
	expect_bytes("[<message to='a@b'/>]");
	peer_sends("</stream:stream>");
	expect_closed("<close/>", "tester closed the stream");
	assert_int_equal(T.opens, 1);
	assert_int_equal(T.ops_closes, 1);
}

static void output_ops_carry_errors(void **state)
{
	(void)state;
	K.out = &test_output;
	start();
	peer_sends("<stream:stream xmlns='jabber:client' xmlns:stream='" STREAMS_NS "' to='other.example' "
		   "version='1.0'>");
	struct buf w = BUF_INIT;
	buf_append_str(&w, "<open from='other.example'/>[");
	want_error(&w, "invalid-namespace", "tester streams use the jabber:server namespace");
	buf_append_str(&w, "]<close/>");
	expect_closed(buf_cstr(&w), "stream error <invalid-namespace/>: tester streams use the jabber:server namespace");
	buf_clear(&w);
	assert_int_equal(T.opens, 1);
	assert_int_equal(T.ops_closes, 1);
}


/* ---- element framing (RFC 7395) ---- */

#define FRAMING "xmlns='urn:ietf:params:xml:ns:xmpp-framing'"
#define FOPEN(to) "<open " FRAMING " to='" to "' version='1.0'/>#"

static void start_framed(void)
{
	start();
	T.framed = true;
	xs_set_framing(&T.xs, &framed_output, &T);
	assert_ptr_equal(T.xs.out_ctx, &T);
}

/* <open/> is the header (the root comes from the machine, in the kind's
 * content namespace), elements reach the routes one message each,
 * whitespace-only messages are nothing, and <close/> ends the stream. */
static void framed_open_elements_and_close(void **state)
{
	(void)state;
	start_framed();
	peer_sends(FOPEN("other.example"));
	expect_bytes("<open from='other.example'/>[" FEATURES "]");
	assert_int_equal(T.xs.state, XS_OPEN);
	assert_string_equal(T.select_to, "other.example");
	peer_sends("<first " PING "/>#  \n#<db:x xmlns:db='jabber:server:dialback'/>#");
	expect_calls("first|any:x|");
	/* No namespace of its own: the machine's root gives jabber:server. */
	peer_sends("<anyns/>#");
	expect_calls("first|any:x|anyns:jabber:server|");
	peer_sends("<close " FRAMING "/>#");
	expect_closed("<close/>", "tester closed the stream");
	assert_int_equal(T.opens, 1);
	assert_int_equal(T.ops_closes, 1);
}

/* RFC 7395 §3.5: an error before our <open/> goes out after one. */
static void framed_element_before_open(void **state)
{
	(void)state;
	start_framed();
	peer_sends("<first " PING "/>#");
	struct buf w = BUF_INIT;
	buf_append_str(&w, "<open from='default.example'/>[");
	want_error(&w, "bad-format", "element before the stream header");
	buf_append_str(&w, "]<close/>");
	expect_closed(buf_cstr(&w), "stream error <bad-format/>: element before the stream header");
	buf_clear(&w);
	expect_calls("");
}

static void framed_two_elements_in_a_message(void **state)
{
	(void)state;
	start_framed();
	peer_sends(FOPEN("default.example"));
	expect_bytes("<open from='default.example'/>[" FEATURES "]");
	peer_sends("<first " PING "/><pre " PING "/>#");
	struct buf w = BUF_INIT;
	buf_append_str(&w, "[");
	want_error(&w, "bad-format", "a message must hold exactly one XML element");
	buf_append_str(&w, "]<close/>");
	expect_closed(buf_cstr(&w), "stream error <bad-format/>: a message must hold exactly one XML element");
	buf_clear(&w);
	/* the first was handled, the second never */
	expect_calls("first|");
}

static void framed_incomplete_message(void **state)
{
	(void)state;
	start_framed();
	peer_sends(FOPEN("default.example"));
	expect_bytes("<open from='default.example'/>[" FEATURES "]");
	peer_sends("<first " PING ">#");
	struct buf w = BUF_INIT;
	buf_append_str(&w, "[");
	want_error(&w, "bad-format", "a message must hold whole XML elements");
	buf_append_str(&w, "]<close/>");
	expect_closed(buf_cstr(&w), "stream error <bad-format/>: a message must hold whole XML elements");
	buf_clear(&w);
	expect_calls("");
}

static void framed_open_checks(void **state)
{
	(void)state;
	start_framed();
	peer_sends("<open " FRAMING " to='default.example'/>#");
	struct buf w = BUF_INIT;
	buf_append_str(&w, "<open from='default.example'/>[");
	want_error(&w, "unsupported-version", "only XMPP 1.0 streams (version='1.0') are supported");
	buf_append_str(&w, "]<close/>");
	expect_closed(buf_cstr(&w),
		      "stream error <unsupported-version/>: only XMPP 1.0 streams (version='1.0') are supported");
	buf_clear(&w);
	teardown(NULL);
	setup(NULL);
	start_framed();
	peer_sends(FOPEN("nowhere.example"));
	buf_append_str(&w, "<open from='default.example'/>[");
	want_error(&w, "host-unknown", "no host 'nowhere.example' here");
	buf_append_str(&w, "]<close/>");
	expect_closed(buf_cstr(&w), "stream error <host-unknown/>: no host 'nowhere.example' here");
	buf_clear(&w);
	teardown(NULL);
	setup(NULL);
	start_framed();
	peer_sends(FOPEN("default.example"));
	expect_bytes("<open from='default.example'/>[" FEATURES "]");
	peer_sends(FOPEN("default.example"));
	buf_append_str(&w, "[");
	want_error(&w, "bad-format", "stream header out of place");
	buf_append_str(&w, "]<close/>");
	expect_closed(buf_cstr(&w), "stream error <bad-format/>: stream header out of place");
	buf_clear(&w);
	teardown(NULL);
	setup(NULL);
	start_framed();
	peer_sends(FOPEN("default.example"));
	expect_bytes("<open from='default.example'/>[" FEATURES "]");
	peer_sends("<opened " FRAMING "/>#");
	buf_append_str(&w, "[");
	want_error(&w, "bad-format", "&lt;opened/&gt; is not an element of the framing (open, close)");
	buf_append_str(&w, "]<close/>");
	expect_closed(buf_cstr(&w),
		      "stream error <bad-format/>: <opened/> is not an element of the framing (open, close)");
	buf_clear(&w);
}

/* After authentication a new <open/>, on a new parser primed again; with
 * a move, the messages of the same read wait in order. */
static void framed_auth_restart_and_move(void **state)
{
	(void)state;
	start_framed();
	peer_sends(FOPEN("default.example"));
	expect_bytes("<open from='default.example'/>[" FEATURES "]");
	T.keep = true;
	peer_sends("<auth " PING "/>#" FOPEN("default.example") "<post " PING "/>#");
	expect_bytes("[<ok/>]");
	expect_calls("auth|");
	assert_int_equal(T.xs.state, XS_MOVING);
	assert_false(T.xs.primed);
	/* more while moving: kept behind */
	xs_input_message(&T.xs, "<first " PING "/>", strlen("<first " PING "/>"));
	/* arrived */
	T.xs.state = XS_WAIT_HEADER;
	xs_feed_pending(&T.xs);
	assert_int_equal(T.xs.pending.len, 0);
	expect_bytes("<open from='default.example'/>[" FEATURES_AUTH "]");
	expect_calls("auth|post|first|");
	assert_int_equal(T.xs.state, XS_OPEN);
	peer_sends("<to-ready " PING "/>#<ready " PING "/>#");
	expect_calls("auth|post|first|to-ready|ready|");
}

/* A hold keeps later messages, unchecked, until it ends. */
static void framed_hold_keeps_messages(void **state)
{
	(void)state;
	start_framed();
	peer_sends(FOPEN("default.example"));
	expect_bytes("<open from='default.example'/>[" FEATURES "]");
	peer_sends("<hold " PING "/>#<first " PING "/>#");
	expect_bytes("[<held/>]");
	expect_calls("hold|");
	peer_sends("<pre " PING "/>#");
	expect_calls("hold|");
	xs_resume_after_hold(&T.xs);
	expect_calls("hold|first|pre|");
	assert_int_equal(T.xs.state, XS_OPEN);
}

/* ---- the initiating side ---- */

#define INIT_HDR                                                                                               \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='" STREAMS_NS "'" KIND_ATTRS     \
	" from='default.example' to='peer.example' version='1.0' xml:lang='en'>"
#define PEER_REPLY(ns, id)                                                                                     \
	"<stream:stream xmlns='" ns "' xmlns:stream='" STREAMS_NS "' " id " from='peer.example' "              \
	"to='default.example' version='1.0'>"

/* We open: our header comes first, to the peer's domain and without an
 * id (RFC 6120 §4.7.3); the peer's header is not answered, its id is
 * kept, and its features reach the kind's routes. */
static void initiator_sends_first_and_keeps_the_peer_id(void **state)
{
	(void)state;
	start();
	xs_initiate(&T.xs, "peer.example");
	expect_bytes(INIT_HDR);
	assert_true(T.xs.initiator);
	assert_int_equal(T.xs.state, XS_WAIT_HEADER);
	peer_sends(PEER_REPLY("jabber:server", "id='s2s-id-1'") "<stream:features/>");
	expect_bytes("");
	assert_string_equal(T.xs.peer_id, "s2s-id-1");
	assert_int_equal(T.xs.state, XS_OPEN);
	assert_int_equal(T.selects, 0);
	assert_int_equal(T.features, 0);
	expect_calls("features|");
}

/* After authentication and after TLS, the initiating side opens the new
 * stream itself, and the peer's new header is again not answered. */
static void initiator_reopens_after_auth_and_tls(void **state)
{
	(void)state;
	start();
	xs_initiate(&T.xs, "peer.example");
	expect_bytes(INIT_HDR);
	peer_sends(PEER_REPLY("jabber:server", "id='one'") "<stream:features/><auth " PING "/>");
	expect_bytes("<ok/>" INIT_HDR);
	assert_int_equal(T.restarts, 1);
	assert_int_equal(T.xs.state, XS_WAIT_HEADER);
	peer_sends(PEER_REPLY("jabber:server", "id='two'") "<stream:features/>");
	expect_bytes("");
	assert_string_equal(T.xs.peer_id, "two");
	xs_tls_established(&T.xs);
	expect_bytes(INIT_HDR);
	peer_sends(PEER_REPLY("jabber:server", "id='three'"));
	expect_bytes("");
	assert_string_equal(T.xs.peer_id, "three");
	expect_calls("features|auth|features|");
}

/* The peer's header in the wrong content namespace is a stream error
 * (our header was sent already); a missing id is kept as empty. */
static void initiator_checks_the_peer_header(void **state)
{
	(void)state;
	start();
	xs_initiate(&T.xs, "peer.example");
	expect_bytes(INIT_HDR);
	peer_sends(PEER_REPLY("jabber:client", "id='x'"));
	struct buf w = BUF_INIT;
	want_error(&w, "invalid-namespace", "tester streams use the jabber:server namespace");
	buf_append_str(&w, "</stream:stream>");
	expect_closed(buf_cstr(&w),
		      "stream error <invalid-namespace/>: tester streams use the jabber:server namespace");
	buf_clear(&w);
	teardown(NULL);
	setup(NULL);
	start();
	xs_initiate(&T.xs, "peer.example");
	expect_bytes(INIT_HDR);
	peer_sends(PEER_REPLY("jabber:server", ""));
	expect_bytes("");
	assert_string_equal(T.xs.peer_id, "");
	assert_int_equal(T.xs.state, XS_OPEN);
}

int main(void)
{
	/* a peer gone for good must be an EPIPE, not a signal */
	signal(SIGPIPE, SIG_IGN);
	logfd = memfd_create("test_stream_log", MFD_CLOEXEC);
	if (logfd < 0) {
		perror("memfd_create");
		return 1;
	}
	log_setup(LOG_INFO, logfd);
#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T_(header_is_answered_with_header_and_features),
		T_(header_without_to_and_with_odd_from),
		T_(first_element_not_a_header_is_wrong_root),
		T_(header_root_in_wrong_namespace),
		T_(header_wrong_content_namespace),
		T_(header_without_content_namespace),
		T_(header_host_refused_by_the_kind),
		T_(header_version_missing),
		T_(header_version_2),
		T_(header_out_of_place),
		T_(parse_failure_is_a_stream_error),
		T_(routes_first_match_wins_and_wildcards),
		T_(routes_respect_state_masks),
		T_(route_outside_its_states_is_refused),
		T_(routes_before_authentication),
		T_(routes_after_authentication),
		T_(client_stanza_before_auth_is_not_authorized),
		T_(server_stanza_before_auth_is_not_authorized),
		T_(stanza_after_auth_is_unsupported_when_unrouted),
		T_(element_before_the_header_is_bad_format),
		T_(starttls_then_whitespace_then_new_stream),
		T_(starttls_then_plaintext_aborts),
		T_(auth_restart_answers_pipelined_header),
		T_(auth_restart_then_whitespace_in_later_reads),
		T_(auth_restart_kept_input_is_fed_later),
		T_(hold_then_resume_same_stream),
		T_(hold_keeps_input_of_later_reads),
		T_(hold_resume_with_long_header_attrs),
		T_(hold_then_restart_after_auth_off_the_parser),
		T_(error_is_idempotent_and_sends_a_header_first),
		T_(error_in_handler_after_header),
		T_(peer_close_is_answered),
		T_(handshake_timeout),
		T_(handshake_timeout_in_tls_handshake_aborts),
		T_(handshake_timeout_in_starttls_aborts),
		T_(idle_timeout),
		T_(keepalive_on_ready_quiet_stream_only),
		T_(output_ops_carry_header_features_writes_and_close),
		T_(output_ops_carry_errors),
		T_(framed_open_elements_and_close),
		T_(framed_element_before_open),
		T_(framed_two_elements_in_a_message),
		T_(framed_incomplete_message),
		T_(framed_open_checks),
		T_(framed_auth_restart_and_move),
		T_(framed_hold_keeps_messages),
		T_(initiator_sends_first_and_keeps_the_peer_id),
		T_(initiator_reopens_after_auth_and_tls),
		T_(initiator_checks_the_peer_header),
	};
#undef T_
	int rc = cmocka_run_group_tests_name("stream", tests, NULL, NULL);
	close(logfd);
	return rc;
}
