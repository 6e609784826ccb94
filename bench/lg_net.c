/*
 * lg_net: the load generator's event loop and client connections.
 *
 * One epoll set, edge-triggered; each connection is a small state machine
 * from connect() to a logged-in session (STARTTLS, SCRAM-SHA-256, bind,
 * optional session, roster get, initial presence, then a ping whose
 * result says the server has processed everything before it).  Output
 * is queued and written once per loop iteration, so the stanzas one
 * iteration produces for a connection share one TLS record.  Connections
 * are freed at the end of the iteration that dropped them, so no event
 * or callback of that iteration sees a freed connection.
 *
 * This is a client for measuring servers, not a correct general client:
 * it does not verify certificates and understands only what it sends for.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loadgen.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

struct lg_counters lgc;
char lg_tls_seen[96];

static int epfd = -1;
static SSL_CTX *ssl_ctx;
static SSL_SESSION *resume[8];	/* the newest session per server */
static const struct scenario *scen;
static bool stopping;

static struct conn **slots;
static int nslots, slots_cap;
static int *free_ids;
static int nfree;
static struct conn *dirty_head;
static struct conn **dead;
static size_t ndead, dead_cap;
static unsigned long resource_seq;

static const char *const state_names[] = {
	[C_CONNECTING] = "connecting",	 [C_FEATURES1] = "features",  [C_PROCEED] = "starttls",
	[C_HANDSHAKE] = "tls-handshake", [C_FEATURES2] = "tls-features", [C_SASL1] = "sasl-challenge",
	[C_SASL2] = "sasl-success",	 [C_FEATURES3] = "auth-features", [C_BIND] = "bind",
	[C_SESSION] = "session",	 [C_ROSTER] = "roster",	      [C_PING] = "ping",
	[C_READY] = "ready",		 [C_CLOSING] = "closing",	      [C_DEAD] = "dead",
};

/* ---- error reasons ---- */

struct reason {
	char *text;
	long count;
};
static struct reason reasons[48];
static size_t nreasons;

void lg_count_error(const char *reason)
{
	for (size_t i = 0; i < nreasons; i++)
		if (strcmp(reasons[i].text, reason) == 0) {
			reasons[i].count++;
			return;
		}
	if (nreasons == sizeof reasons / sizeof reasons[0]) {
		reasons[nreasons - 1].count++;	/* the last one collects the rest */
		return;
	}
	reasons[nreasons].text = strdup(reason);
	if (!reasons[nreasons].text)
		abort();
	reasons[nreasons++].count = 1;
	if (opt.verbose)
		fprintf(stderr, "loadgen: new failure reason: %s\n", reason);
}

void jout_errors(struct jout *j)
{
	char buf[2048];
	size_t len = 0;
	buf[0] = 0;
	for (size_t i = 0; i < nreasons && len < sizeof buf - 1; i++) {
		int n = snprintf(buf + len, sizeof buf - len, "%s%s=%ld", i ? "; " : "", reasons[i].text,
				 reasons[i].count);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	if (len >= sizeof buf)
		len = sizeof buf - 1;
	buf[len] = 0;
	jout_str(j, "errors", buf);
}

/* ---- the connection table ---- */

struct conn *conn_get(int id)
{
	return id >= 0 && id < nslots ? slots[id] : NULL;
}

int conn_slots(void)
{
	return nslots;
}

static int slot_take(struct conn *c)
{
	if (nfree > 0) {
		int id = free_ids[--nfree];
		slots[id] = c;
		return id;
	}
	if (nslots == slots_cap) {
		slots_cap = slots_cap ? slots_cap * 2 : 1024;
		slots = realloc(slots, (size_t)slots_cap * sizeof *slots);
		free_ids = realloc(free_ids, (size_t)slots_cap * sizeof *free_ids);
		if (!slots || !free_ids)
			abort();
	}
	slots[nslots] = c;
	return nslots++;
}

const char *user_node(int user, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s%d", opt.prefix, user);
	return buf;
}

/* ---- output ---- */

static void buf_reserve(struct buf *b, size_t more)
{
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + more <= b->cap)
		return;
	if (b->off > 0) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + more <= b->cap)
			return;
	}
	size_t cap = b->cap ? b->cap : 512;
	while (cap < b->len + more)
		cap *= 2;
	b->p = realloc(b->p, cap);
	if (!b->p)
		abort();
	b->cap = cap;
}

static void mark_dirty(struct conn *c)
{
	if (!c->dirty) {
		c->dirty = true;
		c->next_dirty = dirty_head;
		dirty_head = c;
	}
}

void conn_send(struct conn *c, const char *s, size_t n)
{
	if (c->st == C_DEAD)
		return;
	buf_reserve(&c->out, n);
	memcpy(c->out.p + c->out.len, s, n);
	c->out.len += n;
	mark_dirty(c);
}

void conn_sendf(struct conn *c, const char *fmt, ...)
{
	if (c->st == C_DEAD)
		return;
	va_list ap;
	va_start(ap, fmt);
	buf_reserve(&c->out, 256);
	int n = vsnprintf(c->out.p + c->out.len, c->out.cap - c->out.len, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if ((size_t)n >= c->out.cap - c->out.len) {
		buf_reserve(&c->out, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(c->out.p + c->out.len, c->out.cap - c->out.len, fmt, ap);
		va_end(ap);
	}
	c->out.len += (size_t)n;
	mark_dirty(c);
}

static void conn_flush(struct conn *c)
{
	struct buf *b = &c->out;
	while (b->off < b->len && c->st != C_DEAD && c->st != C_HANDSHAKE) {
		size_t n = b->len - b->off;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_write(c->ssl, b->p + b->off, (int)(n > 1 << 20 ? 1 << 20 : n));
			if (r > 0) {
				b->off += (size_t)r;
				continue;
			}
			int err = SSL_get_error(c->ssl, r);
			if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ)
				return;
			conn_fail(c, "write: TLS error");
			return;
		}
		ssize_t r = write(c->fd, b->p + b->off, n);
		if (r > 0) {
			b->off += (size_t)r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_fail(c, "write: connection lost");
		return;
	}
	if (b->off == b->len) {
		b->off = b->len = 0;
		if (b->cap > 1 << 16) {	/* a burst is over: give the memory back */
			free(b->p);
			b->p = NULL;
			b->cap = 0;
		}
	}
}

static void flush_dirty(void)
{
	while (dirty_head) {
		struct conn *c = dirty_head;
		dirty_head = c->next_dirty;
		c->dirty = false;
		c->next_dirty = NULL;
		conn_flush(c);
	}
}

/* ---- lifetime ---- */

static void leave_handshake(struct conn *c)
{
	if (c->in_handshake) {
		c->in_handshake = false;
		lgc.handshaking--;
	}
}

static void conn_release(struct conn *c)
{
	lgc.live--;
	if (scen && scen->on_closed)
		scen->on_closed(c);
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	xml_free(c);
	free(c->out.p);
	free(c->server_first);
	slots[c->id] = NULL;
	free_ids[nfree++] = c->id;
	free(c);
}

static void conn_kill(struct conn *c)
{
	if (c->st == C_DEAD)
		return;
	leave_handshake(c);
	c->st = C_DEAD;
	if (c->xp)
		XML_StopParser(c->xp, XML_FALSE);
	if (ndead == dead_cap) {
		dead_cap = dead_cap ? dead_cap * 2 : 256;
		dead = realloc(dead, dead_cap * sizeof *dead);
		if (!dead)
			abort();
	}
	dead[ndead++] = c;
}

static void free_dead(void)
{
	for (size_t i = 0; i < ndead; i++)
		conn_release(dead[i]);
	ndead = 0;
}

void conn_fail(struct conn *c, const char *reason)
{
	if (c->st == C_DEAD)
		return;
	if (c->st != C_CLOSING) {
		char buf[256];
		snprintf(buf, sizeof buf, "%s (%s)", reason, state_names[c->st]);
		lg_count_error(buf);
		lgc.failed++;
	}
	conn_kill(c);
}

void conn_close(struct conn *c)
{
	if (c->st == C_DEAD || c->st == C_CLOSING)
		return;
	if (c->st < C_FEATURES1 || c->st == C_HANDSHAKE) {
		conn_kill(c);
		return;
	}
	leave_handshake(c);	/* closing is not logging in */
	conn_send(c, "</stream:stream>", 16);
	c->st = C_CLOSING;
	c->deadline = lg_now() + 3.0;
}

struct conn *conn_open(int user, int srv)
{
	struct lg_server *s = &opt.servers[srv];
	int fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		lg_count_error("socket: too many open files?");
		lgc.failed++;
		return NULL;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (opt.src_ips > 1 && s->addr.ss_family == AF_INET) {
		/* Loopback has a whole /8: spreading sources multiplies the
		 * ephemeral ports a login churn can use. */
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(lgc.opened % opt.src_ips));
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
			close(fd);
			lg_count_error("bind: source address");
			lgc.failed++;
			return NULL;
		}
	}
	if (connect(fd, (struct sockaddr *)&s->addr, s->alen) != 0 && errno != EINPROGRESS) {
		char msg[96];
		snprintf(msg, sizeof msg, "connect: %s", strerror(errno));
		close(fd);
		lg_count_error(msg);
		lgc.failed++;
		return NULL;
	}
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->fd = fd;
	c->user = user;
	c->srv = srv;
	c->peer = -1;
	c->st = C_CONNECTING;
	c->t_start = lg_now();
	c->deadline = c->t_start + opt.timeout;
	c->id = slot_take(c);
	xml_new(c);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		abort();
	lgc.opened++;
	c->in_handshake = true;
	lgc.handshaking++;
	lgc.live++;
	return c;
}

/* ---- the login ---- */

static void send_stream_header(struct conn *c)
{
	conn_sendf(c,
		   "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
		   "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0' xml:lang='en'>",
		   opt.servers[c->srv].domain);
}

static void start_tls(struct conn *c)
{
	c->ssl = SSL_new(ssl_ctx);
	if (!c->ssl)
		abort();
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_connect_state(c->ssl);
	SSL_set_app_data(c->ssl, c);
	SSL_set_tlsext_host_name(c->ssl, opt.servers[c->srv].domain);
	if (opt.tls_resume && resume[c->srv])
		SSL_set_session(c->ssl, resume[c->srv]);
	c->st = C_HANDSHAKE;
}

static void do_handshake(struct conn *c)
{
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		if (!lg_tls_seen[0])
			snprintf(lg_tls_seen, sizeof lg_tls_seen, "%s %s", SSL_get_version(c->ssl),
				 SSL_get_cipher_name(c->ssl));
		if (SSL_session_reused(c->ssl))
			lgc.tls_resumed++;
		c->st = C_FEATURES2;
		send_stream_header(c);
		return;
	}
	int err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return;
	char msg[160];
	unsigned long e = ERR_peek_error();
	snprintf(msg, sizeof msg, "tls handshake: %s", e ? ERR_reason_error_string(e) : "connection lost");
	conn_fail(c, msg);
}

static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct conn *c = SSL_get_app_data(ssl);
	if (!c)
		return 0;
	if (resume[c->srv])
		SSL_SESSION_free(resume[c->srv]);
	resume[c->srv] = sess;
	return 1;	/* we keep the reference */
}

static void send_auth(struct conn *c)
{
	char node[64];
	user_node(c->user, node, sizeof node);
	if (strcmp(opt.mech, "PLAIN") == 0) {
		char raw[256], b64[360];
		int n = snprintf(raw, sizeof raw, "%c%s%c%s", 0, node, 0, opt.password);
		b64_encode(raw, (size_t)n, b64);
		conn_sendf(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>", b64);
		c->server_sig[0] = 0;
		c->st = C_SASL2;
		return;
	}
	unsigned char rnd[18];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		abort();
	b64_encode(rnd, sizeof rnd, c->cnonce);
	char first[160], b64[240];
	int n = snprintf(first, sizeof first, "n,,n=%s,r=%s", node, c->cnonce);
	b64_encode(first, (size_t)n, b64);
	conn_sendf(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>%s</auth>", b64);
	c->st = C_SASL1;
}

static bool offers_mech(const struct el *features)
{
	struct el *mechs = el_child(features, "mechanisms");
	for (struct el *m = mechs ? mechs->child : NULL; m; m = m->next)
		if (el_is(m, "mechanism") && strcmp(el_text(m), opt.mech) == 0)
			return true;
	return false;
}

static void on_challenge(struct conn *c, const struct el *e)
{
	const char *t = el_text(e);
	unsigned char sf[1024];
	long n = b64_decode(t, strlen(t), sf, sizeof sf - 1);
	if (n <= 0) {
		conn_fail(c, "sasl: bad challenge");
		return;
	}
	sf[n] = 0;
	char node[64], bare[160], final[1024];
	user_node(c->user, node, sizeof node);
	snprintf(bare, sizeof bare, "n=%s,r=%s", node, c->cnonce);
	if (!scram_client_final(opt.password, bare, c->cnonce, (const char *)sf, final, sizeof final,
				c->server_sig, sizeof c->server_sig)) {
		conn_fail(c, "sasl: bad server-first message");
		return;
	}
	conn_sendf(c, "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>", final);
	c->st = C_SASL2;
}

/* Checks v= in additional data against the signature we expect. */
static bool verify_server_final(struct conn *c, const char *b64)
{
	if (!c->server_sig[0])
		return true;	/* PLAIN */
	unsigned char msg[256];
	long n = b64_decode(b64, strlen(b64), msg, sizeof msg - 1);
	if (n <= 2)
		return false;
	msg[n] = 0;
	return strncmp((const char *)msg, "v=", 2) == 0 && strcmp((const char *)msg + 2, c->server_sig) == 0;
}

static void send_iq_reply(struct conn *c, const struct el *iq, bool ok)
{
	const char *id = el_attr(iq, "id");
	const char *from = el_attr(iq, "from");
	if (ok)
		conn_sendf(c, "<iq type='result' id='%s'%s%s%s/>", id ? id : "", from ? " to='" : "",
			   from ? from : "", from ? "'" : "");
	else
		conn_sendf(c,
			   "<iq type='error' id='%s'%s%s%s><error type='cancel'><service-unavailable "
			   "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
			   id ? id : "", from ? " to='" : "", from ? from : "", from ? "'" : "");
}

/* Anything a logged-in (or nearly) session receives that the login does
 * not consume: answers the server's requests, hands the rest to the
 * scenario. */
static void on_session_stanza(struct conn *c, const struct el *e)
{
	if (el_is(e, "iq")) {
		const char *type = el_attr(e, "type");
		if (type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)) {
			/* Roster pushes and pings get a result; anything else is
			 * not something this client does. */
			bool ok = el_child(e, "query") || el_child(e, "ping");
			send_iq_reply(c, e, ok);
			if (scen->on_stanza)
				scen->on_stanza(c, e);
			return;
		}
	}
	if (scen->on_stanza)
		scen->on_stanza(c, e);
}

static bool is_result(const struct el *e, const char *id)
{
	const char *i = el_attr(e, "id");
	return el_is(e, "iq") && i && strcmp(i, id) == 0;
}

static bool iq_ok(const struct el *e)
{
	const char *t = el_attr(e, "type");
	return t && strcmp(t, "result") == 0;
}

void net_on_stream_open(struct conn *c)
{
	(void)c;
}

void net_on_stream_close(struct conn *c)
{
	c->stream_closed = true;
	if (c->st == C_CLOSING) {
		conn_kill(c);
		return;
	}
	lgc.closed_by_server++;
	conn_fail(c, "server closed the stream");
}

void net_on_stanza(struct conn *c, struct el *e)
{
	if (c->st == C_DEAD)
		return;
	if (el_is(e, "error")) {	/* a top-level error is a stream error */
		char msg[160];
		const char *cond = "?";
		for (struct el *k = e->child; k; k = k->next)
			if (!el_is(k, "text")) {
				cond = k->name;
				break;
			}
		snprintf(msg, sizeof msg, "stream error %s", cond);
		if (c->st == C_READY || c->st == C_CLOSING)
			lgc.closed_by_server++;
		conn_fail(c, msg);
		return;
	}
	switch (c->st) {
	case C_FEATURES1:
		if (!el_is(e, "features"))
			return;
		if (!el_child(e, "starttls")) {
			conn_fail(c, "no STARTTLS offered");
			return;
		}
		conn_sendf(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
		c->st = C_PROCEED;
		return;
	case C_PROCEED:
		if (!el_is(e, "proceed")) {
			conn_fail(c, "STARTTLS refused");
			return;
		}
		start_tls(c);
		c->reset_parser = true;
		XML_StopParser(c->xp, XML_FALSE);
		return;
	case C_FEATURES2:
		if (!el_is(e, "features"))
			return;
		if (!offers_mech(e)) {
			conn_fail(c, "mechanism not offered");
			return;
		}
		send_auth(c);
		return;
	case C_SASL1:
		if (el_is(e, "challenge"))
			on_challenge(c, e);
		else
			conn_fail(c, el_is(e, "failure") ? "sasl: failure" : "sasl: unexpected reply");
		return;
	case C_SASL2:
		if (el_is(e, "challenge")) {	/* additional data in a challenge (RFC 6120 6.3.10) */
			if (!verify_server_final(c, el_text(e))) {
				conn_fail(c, "sasl: wrong server signature");
				return;
			}
			c->server_sig[0] = 0;
			conn_sendf(c, "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
			return;
		}
		if (!el_is(e, "success")) {
			struct el *cond = e->child;
			char msg[128];
			snprintf(msg, sizeof msg, "sasl: %s", cond ? cond->name : "failure");
			conn_fail(c, msg);
			return;
		}
		if (el_text(e)[0] && strcmp(el_text(e), "=") != 0 && !verify_server_final(c, el_text(e))) {
			conn_fail(c, "sasl: wrong server signature");
			return;
		}
		c->st = C_FEATURES3;
		c->reset_parser = true;
		XML_StopParser(c->xp, XML_FALSE);
		send_stream_header(c);
		return;
	case C_FEATURES3: {
		if (!el_is(e, "features"))
			return;
		if (!el_child(e, "bind")) {
			conn_fail(c, "no bind offered");
			return;
		}
		struct el *sess = el_child(e, "session");
		c->session_required = sess && !el_child(sess, "optional");
		conn_sendf(c,
			   "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
			   "<resource>%s%lu</resource></bind></iq>",
			   opt.resource, ++resource_seq);
		c->st = C_BIND;
		return;
	}
	case C_BIND:
	case C_SESSION:
		if (!el_is(e, "iq"))
			return;
		if (!is_result(e, c->st == C_BIND ? "b1" : "s1")) {
			on_session_stanza(c, e);
			return;
		}
		if (!iq_ok(e)) {
			conn_fail(c, c->st == C_BIND ? "bind refused" : "session refused");
			return;
		}
		if (c->st == C_BIND && c->session_required) {
			conn_sendf(c, "<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
			c->st = C_SESSION;
			return;
		}
		conn_sendf(c, "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
		c->st = C_ROSTER;
		return;
	case C_ROSTER:
		if (!is_result(e, "r1")) {
			on_session_stanza(c, e);
			return;
		}
		if (!iq_ok(e)) {
			conn_fail(c, "roster get refused");
			return;
		}
		if (scen->on_roster)
			scen->on_roster(c, el_child(e, "query"));
		if (c->st == C_DEAD)
			return;
		{
			const char *pres = scen->initial_presence ? scen->initial_presence(c) : NULL;
			conn_sendf(c, "%s", pres ? pres : "<presence/>");
		}
		conn_sendf(c, "<iq type='get' id='g1' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>",
			   opt.servers[c->srv].domain);
		c->st = C_PING;
		return;
	case C_PING:
		if (!is_result(e, "g1")) {
			on_session_stanza(c, e);
			return;
		}
		/* An error reply also proves the server processed what came
		 * before it. */
		c->st = C_READY;
		c->t_ready = lg_now();
		c->deadline = 0;
		leave_handshake(c);
		if (!opt.expat_only && !c->fast)
			xml_go_fast(c);
		lgc.ready++;
		if (scen->on_ready)
			scen->on_ready(c);
		return;
	case C_READY:
		on_session_stanza(c, e);
		return;
	case C_CLOSING:
	case C_DEAD:
	case C_CONNECTING:
	case C_HANDSHAKE:
		return;
	}
}

/* ---- I/O ---- */

static char rbuf[1 << 16];

static void conn_read(struct conn *c)
{
	for (;;) {
		if (c->st == C_DEAD)
			return;
		if (c->st == C_HANDSHAKE) {
			do_handshake(c);
			if (c->st == C_HANDSHAKE || c->st == C_DEAD)
				return;
			continue;	/* the server may have written already */
		}
		ssize_t n;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_read(c->ssl, rbuf, sizeof rbuf);
			if (r <= 0) {
				int err = SSL_get_error(c->ssl, r);
				if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
					return;
				if (c->st == C_CLOSING) {
					conn_kill(c);
					return;
				}
				if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL)
					lgc.closed_by_server++;
				conn_fail(c, err == SSL_ERROR_ZERO_RETURN ? "TLS closed by server" : "connection lost");
				return;
			}
			n = r;
		} else {
			n = read(c->fd, rbuf, sizeof rbuf);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n <= 0) {
				if (c->st == C_CLOSING) {
					conn_kill(c);
					return;
				}
				lgc.closed_by_server++;
				conn_fail(c, n == 0 ? "closed by server" : "connection lost");
				return;
			}
		}
		if (c->fast ? !fast_feed(c, rbuf, (size_t)n) : !xml_feed(c, rbuf, (size_t)n)) {
			char msg[128];
			snprintf(msg, sizeof msg, "xml: %s",
				 c->fast ? "malformed or unsupported (lean parser)"
					 : XML_ErrorString(XML_GetErrorCode(c->xp)));
			conn_fail(c, msg);
			return;
		}
		if (c->st == C_DEAD)
			return;
		if (c->go_fast) {
			if (!xml_fast_start(c)) {
				conn_fail(c, "xml: malformed or unsupported (lean parser)");
				return;
			}
			if (c->st == C_DEAD)
				return;
		}
		if (c->reset_parser) {
			c->reset_parser = false;
			xml_restart(c);
		}
	}
}

static void conn_event(struct conn *c, uint32_t events)
{
	if (c->st == C_DEAD)
		return;
	if (c->st == C_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			char msg[96];
			snprintf(msg, sizeof msg, "connect: %s", strerror(err));
			conn_fail(c, msg);
			return;
		}
		c->st = C_FEATURES1;
		send_stream_header(c);
	}
	conn_read(c);
	if (c->st != C_DEAD && c->out.len > c->out.off)
		conn_flush(c);
}

static void sweep(double now)
{
	for (int i = 0; i < nslots; i++) {
		struct conn *c = slots[i];
		if (!c || c->st == C_DEAD || c->deadline == 0 || now < c->deadline)
			continue;
		if (c->st == C_CLOSING)
			conn_kill(c);	/* the server did not close: fine, we do */
		else
			conn_fail(c, "timeout");
	}
}

void lg_stop(void)
{
	stopping = true;
}

bool lg_run(const struct scenario *s)
{
	scen = s;
	stopping = false;
	double start = lg_now();
	double hard = start + opt.max_time;
	double last_sweep = start;
	bool finished = true;
	if (!s->on_start())
		return false;
	flush_dirty();
	struct epoll_event evs[1024];
	while (!stopping) {
		double now = lg_now();
		if (now > hard) {
			fprintf(stderr, "loadgen: hard time limit (%.0f s) reached\n", opt.max_time);
			finished = false;
			break;
		}
		int n = epoll_wait(epfd, evs, 1024, 1);
		for (int i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
		flush_dirty();
		now = lg_now();
		s->tick(now);
		flush_dirty();
		if (now - last_sweep > 0.05) {
			sweep(now);
			last_sweep = now;
		}
		free_dead();
	}
	/* Whatever is still open goes now, without ceremony. */
	for (int i = 0; i < nslots; i++)
		if (slots[i])
			conn_kill(slots[i]);
	free_dead();
	return finished;
}

bool lg_init(void)
{
	for (int i = 0; i < opt.nservers; i++) {
		struct lg_server *s = &opt.servers[i];
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
		struct addrinfo *ai = NULL;
		int r = getaddrinfo(s->host, s->port, &hints, &ai);
		if (r != 0 || !ai) {
			fprintf(stderr, "loadgen: %s:%s: %s (numeric addresses only)\n", s->host, s->port,
				gai_strerror(r));
			return false;
		}
		memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
		s->alen = ai->ai_addrlen;
		freeaddrinfo(ai);
	}
	ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!ssl_ctx)
		return false;
	SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
	/* Whole records per read(2), not a header and then a body. */
	SSL_CTX_set_read_ahead(ssl_ctx, 1);
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
					  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (opt.tls_resume) {
		SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ssl_ctx, new_session_cb);
	} else {
		SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_TICKET);
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	return epfd >= 0;
}
