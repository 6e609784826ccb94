/*
 * session: one BOSH session (XEP-0124, XEP-0206).  It is not tied to any
 * TCP connection: the XMPP stream inside is a c2s stream (the same code as
 * TCP: SASL, EXTERNAL, binding, limits, routing) adopted on a virtual conn
 * (core/conn.h).  The stream's output framing (bosh_framing) writes no
 * stream header and no </stream:stream>; what it writes is queued on the
 * virtual conn, whose flush hands it here (pending), and the next answer
 * carries it.  Request bodies' children are fed to the stream; its header
 * is made up from the creation request (to, xml:lang), and again on a
 * restart (xmpp:restart='true').
 *
 * Requests are ordered by rid through the window (window.c).  A session
 * lives on one worker; after SASL the c2s stream moves to the worker that
 * owns the account (conn_detach/conn_attach) and the session goes with it,
 * since it travels inside the virtual conn's owner: see service.c for how
 * requests follow it.
 *
 * Ownership: the worker's table (service.c) holds the session; the
 * virtual conn is the c2s stream's until it closes (its `closed` hook
 * tells us); requests (struct bosh_req) always go back to the worker of
 * their HTTP connection, which frees them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>

#include "bosh/internal.h"
#include "c2s/c2s.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "router/shard.h"
#include "stream/stream.h"
#include "xml/xml.h"

/* Owner: its worker's table (struct bosh_entry); moves with its conn. */
struct bosh_session {
	char sid[BOSH_SID_MAX];
	struct worker *w;         /* where it is; NULL in transit */
	unsigned home;            /* the worker its sid names */
	struct conn *vc;          /* NULL once closed */
	struct c2s_stream *c2s;   /* NULL once closed */
	struct bosh_window win;
	unsigned hold, wait, inactivity;
	bool acks;                /* the client asked for acks (XEP-0124 §9) */
	uint64_t creation_rid;
	char to[256], lang[36];
	char authid[24];
	char from[256];
	struct buf pending;       /* stream output not answered yet */
	size_t pending_max;
	bool stream_error;        /* the stream wrote <stream:error/> */
	bool overflow;            /* pending over pending_max */
	bool moving;
	bool ended;               /* the stream and its conn are gone */
	char end_cond[32];        /* the terminate condition ("": none) */
	uint64_t idle_since_ms;   /* no request held since */
	uint64_t ended_ms;
	struct worker_msg drain;  /* after arriving: requests that waited */
	bool drain_posted;
};

static uint64_t now_of(const struct bosh_session *s)
{
	return worker_now(s->w);
}

const char *bosh_session_sid(const struct bosh_session *s)
{
	return s->sid;
}

struct worker *bosh_session_worker(const struct bosh_session *s)
{
	return s->w;
}

/* ---- answers ---- */

/* The <body/> answering `rid`: with the pending output when `take`, and
 * the session's attributes when it answers the creation request. */
static void session_body(struct bosh_session *s, uint64_t rid, bool take, bool terminate, struct buf *out)
{
	buf_append_str(out, "<body xmlns='" BOSH_NS "' xmlns:stream='http://etherx.jabber.org/streams'");
	if (rid == s->creation_rid) {
		/* polling: advertised, not enforced (a client polling faster
		 * than this is not refused). */
		buf_printf(out,
			   " sid='%s' wait='%u' hold='%u' requests='%u' inactivity='%u' polling='1' ver='1.11'"
			   " authid='%s' xmlns:xmpp='" BOSH_NS_XMPP "' xmpp:version='1.0' xmpp:restartlogic='true'",
			   s->sid, s->wait, s->hold, s->hold + 1, s->inactivity, s->authid);
		buf_append_str(out, " from='");
		xml_escape_attr(out, s->from, strlen(s->from));
		buf_append_char(out, '\'');
		if (s->acks)
			buf_printf(out, " ack='%llu'", (unsigned long long)rid);
	} else if (s->acks && bosh_window_last(&s->win) != rid) {
		buf_printf(out, " ack='%llu'", (unsigned long long)bosh_window_last(&s->win));
	}
	if (terminate) {
		buf_append_str(out, " type='terminate'");
		if (s->end_cond[0])
			buf_printf(out, " condition='%s'", s->end_cond);
	}
	if (!take || !s->pending.len) {
		buf_append_str(out, "/>");
		return;
	}
	buf_append_char(out, '>');
	bosh_qualify(out, s->pending.data, s->pending.len);
	buf_reset(&s->pending);
	buf_append_str(out, "</body>");
}

static void session_answer(struct bosh_session *s, struct bosh_slot *sl, bool terminate)
{
	struct buf b = BUF_INIT;
	session_body(s, sl->rid, true, terminate, &b);
	uint64_t rid = sl->rid;
	struct bosh_req *r = bosh_window_answer(&s->win, rid, b.data ? b.data : "", b.len);
	if (s->win.nheld == 0)
		s->idle_since_ms = now_of(s);
	if (!r) {
		buf_clear(&b);
		return;
	}
	log_debug("bosh", "sid=%.8s...: rid %llu answered (%zu bytes%s)", s->sid, (unsigned long long)rid, b.len,
		  terminate ? ", terminate" : "");
	buf_clear(&r->resp);
	r->resp = b;
	r->terminal = terminate;
	bosh_req_send_home(r);
}

/* Answers what is due: output for the oldest held request, requests past
 * `hold` (oldest first, XEP-0124 §10), and everything once the session
 * ended. */
static void session_settle(struct bosh_session *s)
{
	struct bosh_slot *sl;
	/* A stream that ends answers once its conn closed (vc_closed), its
	 * last output with the terminate. */
	if (s->vc && conn_closing(s->vc))
		return;
	while (s->pending.len && (sl = bosh_window_oldest_held(&s->win)))
		session_answer(s, sl, s->ended);
	while (s->win.nheld > s->hold && (sl = bosh_window_oldest_held(&s->win)))
		session_answer(s, sl, s->ended);
	while (s->ended && (sl = bosh_window_oldest_held(&s->win)))
		session_answer(s, sl, true);
}

/* Ends the stream from our side (inactivity, a broken rule): the c2s
 * session ends as when a TCP client leaves. */
static void session_close(struct bosh_session *s, const char *cond, const char *reason)
{
	if (!s->vc || conn_closing(s->vc))
		return;
	snprintf(s->end_cond, sizeof(s->end_cond), "%s", cond ? cond : "");
	log_info("bosh", "conn=%llu sid=%.8s...: %s", (unsigned long long)conn_id(s->vc), s->sid, reason);
	conn_close(s->vc, reason);
}

static void session_free(struct bosh_session *s);

/* ---- the framing of the stream inside ---- */

static struct bosh_session *session_of_xs(struct xstream *xs)
{
	return xs->out_ctx;
}

static void framing_open(struct xstream *xs, const char *to)
{
	(void)to;
	struct bosh_session *s = session_of_xs(xs);
	snprintf(s->authid, sizeof(s->authid), "%s", xs->id);
	snprintf(s->from, sizeof(s->from), "%s", xs->domain ? xs->domain : "");
}

static void framing_close(struct xstream *xs)
{
	(void)xs;
}

static void framing_write(struct xstream *xs, const char *data, size_t len)
{
	static const char err[] = "<stream:error";
	if (len >= sizeof(err) - 1 && memcmp(data, err, sizeof(err) - 1) == 0 && !conn_closing(xs->conn)) {
		struct bosh_session *s = session_of_xs(xs);
		s->stream_error = true;
		snprintf(s->end_cond, sizeof(s->end_cond), "remote-stream-error");
	}
	conn_write(xs->conn, data, len);
}

static void framing_write_chunks(struct xstream *xs, struct chunk *const *chunks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		conn_write_chunk(xs->conn, chunks[i]);
}

/* A byte stream as far as the machine knows: the header it answers is the
 * one we make up from the session's attributes. */
static const struct xs_output_ops bosh_output = {
	.open = framing_open,
	.close = framing_close,
	.write = framing_write,
	.write_chunks = framing_write_chunks,
	.keepalive = NULL, /* a held request's empty answer keeps HTTP alive */
	.framed = false,
};

static const struct c2s_framing bosh_framing = {
	.out = &bosh_output,
	.transport = "bosh",
};

/* ---- the virtual conn ---- */

static void vc_write(void *arg, struct conn *c, const struct iovec *iov, size_t n)
{
	struct bosh_session *s = arg;
	for (size_t i = 0; i < n; i++)
		buf_append(&s->pending, iov[i].iov_base, iov[i].iov_len);
	if (s->pending.len > s->pending_max)
		s->overflow = true; /* closed from the tick: not from inside a flush */
	/* Output of a stream that ends goes with the terminate (vc_closed). */
	if (!s->moving && !conn_closing(c))
		session_settle(s);
}

static void vc_detaching(void *arg, struct conn *c)
{
	(void)c;
	struct bosh_session *s = arg;
	s->moving = true;
	bosh_session_leaving(s);
	s->w = NULL;
}

static void session_process_waiting(struct bosh_session *s);

static void session_drain_run(struct worker *w, struct worker_msg *m)
{
	(void)w;
	struct bosh_session *s = container_of(m, struct bosh_session, drain);
	s->drain_posted = false;
	if (!s->moving && !s->ended)
		session_process_waiting(s);
}

static void vc_attached(void *arg, struct conn *c, struct worker *w)
{
	(void)c;
	struct bosh_session *s = arg;
	s->w = w;
	s->moving = false;
	bosh_session_arrived(s, w);
	/* Requests that came meanwhile go on once the stream itself has
	 * settled here (c2s_arrive runs after this hook). */
	if (!s->drain_posted) {
		s->drain_posted = true;
		s->drain.run = session_drain_run;
		worker_post_force(w, &s->drain);
	}
}

static void vc_closed(void *arg, struct conn *c)
{
	(void)c;
	struct bosh_session *s = arg;
	s->vc = NULL;
	s->c2s = NULL;
	s->ended = true;
	s->ended_ms = now_of(s);
	session_settle(s);
	if (bosh_worker_stopping(s->w))
		session_free(s);
}

static const struct conn_virtual_ops bosh_vc_ops = {
	.write = vc_write,
	.detaching = vc_detaching,
	.attached = vc_attached,
	.closed = vc_closed,
};

/* The virtual conn's events, forwarded to the stream (c2s.h: the
 * transport stays the conn's handler).  It never reads nor handshakes. */
static void vc_on_read(void *o, struct conn *c, const char *d, size_t n)
{
	(void)o, (void)c, (void)d, (void)n;
}

static void vc_on_handshake(void *o, struct conn *c)
{
	(void)o, (void)c;
}

static void vc_on_tick(void *o, struct conn *c, uint64_t now)
{
	(void)c;
	struct bosh_session *s = o;
	if (s->c2s)
		c2s_stream_tick(s->c2s, now);
}

static void vc_on_close(void *o, struct conn *c, const char *reason)
{
	(void)c;
	struct bosh_session *s = o;
	struct c2s_stream *cs = s->c2s;
	s->c2s = NULL;
	if (cs)
		c2s_stream_closed(cs, reason);
}

static const struct conn_handler bosh_conn_handler = {
	.on_read = vc_on_read,
	.on_handshake = vc_on_handshake,
	.on_tick = vc_on_tick,
	.on_close = vc_on_close,
};

/* ---- input ---- */

static void session_feed(struct bosh_session *s, const char *xml, size_t len)
{
	if (!s->c2s || !s->vc || conn_closing(s->vc) || s->moving)
		return;
	conn_virtual_input(s->vc, len);
	c2s_stream_feed(s->c2s, xml, len);
}

static void session_feed_header(struct bosh_session *s)
{
	struct buf h = BUF_INIT;
	buf_append_str(&h, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'");
	if (s->to[0]) {
		buf_append_str(&h, " to='");
		xml_escape_attr(&h, s->to, strlen(s->to));
		buf_append_char(&h, '\'');
	}
	buf_append_str(&h, " version='1.0' xml:lang='");
	xml_escape_attr(&h, s->lang[0] ? s->lang : "en", strlen(s->lang[0] ? s->lang : "en"));
	buf_append_str(&h, "'>");
	session_feed(s, h.data, h.len);
	buf_clear(&h);
}

/* The request whose turn it is. */
static void session_process(struct bosh_session *s, struct bosh_req *r)
{
	bosh_window_hold(&s->win, r, now_of(s));
	if (r->body.has_ack && s->acks)
		bosh_window_ack(&s->win, r->body.ack);
	if (r->body.restart)
		session_feed_header(s);
	if (r->body.payload.len)
		session_feed(s, r->body.payload.data, r->body.payload.len);
	if (r->body.terminate && s->vc && !s->moving) {
		log_info("bosh", "conn=%llu sid=%.8s...: the client ended the session", (unsigned long long)conn_id(s->vc),
			 s->sid);
		session_feed(s, "</stream:stream>", 16);
		if (s->vc && !conn_closing(s->vc))
			conn_close(s->vc, "the client ended the BOSH session");
	}
	if (s->moving)
		return;
	if (s->vc)
		conn_virtual_flush(s->vc);
	session_settle(s);
}

static void session_process_waiting(struct bosh_session *s)
{
	for (unsigned i = 0; i < s->win.size && !s->moving && !s->ended; i++) {
		struct bosh_req *n = bosh_window_take_next(&s->win);
		if (!n)
			break;
		session_process(s, n);
	}
	if (!s->moving)
		session_settle(s);
}

static void answer_now(struct bosh_req *r, const char *body)
{
	buf_reset(&r->resp);
	buf_append_str(&r->resp, body);
	bosh_req_send_home(r);
}

void bosh_session_request(struct bosh_session *s, struct bosh_req *r)
{
	uint64_t rid = r->body.rid;
	s->idle_since_ms = now_of(s);
	/* Every request is the client's activity, an empty poll too: the
	 * stream's idle timeout (limits.idle_timeout) counts from it. */
	if (s->vc)
		conn_virtual_input(s->vc, 0);
	log_debug("bosh", "sid=%.8s...: rid %llu arrived (%zu bytes for the stream%s%s), next %llu, %u held", s->sid,
		  (unsigned long long)rid, r->body.payload.len, r->body.restart ? ", restart" : "",
		  r->body.terminate ? ", terminate" : "", (unsigned long long)s->win.next, s->win.nheld);
	if (s->ended) {
		struct buf b = BUF_INIT;
		session_body(s, 0, false, true, &b);
		buf_clear(&r->resp);
		r->resp = b;
		r->terminal = true;
		bosh_req_send_home(r);
		if (s->win.nheld == 0)
			session_free(s); /* the client has heard the end */
		return;
	}
	switch (bosh_window_classify(&s->win, rid)) {
	case BOSH_RID_OUTSIDE:
		log_info("bosh", "sid=%.8s...: rid %llu is outside the window (next %llu, bosh.window %u); ending the "
				 "session (item-not-found)",
			 s->sid, (unsigned long long)rid, (unsigned long long)s->win.next, s->win.size);
		bosh_req_terminate(r, "item-not-found");
		session_close(s, "item-not-found", "a request id outside the window");
		return;
	case BOSH_RID_AGAIN: {
		struct bosh_slot *sl = bosh_window_find(&s->win, rid);
		log_debug("bosh", "sid=%.8s...: rid %llu sent again; answering it as before", s->sid,
			  (unsigned long long)rid);
		buf_reset(&r->resp);
		buf_append(&r->resp, sl->resp, sl->resp_len);
		bosh_req_send_home(r);
		return;
	}
	case BOSH_RID_WAITING: {
		/* The client lost the connection that carried it (XEP-0124
		 * §14.3): the new request takes its place, the old one (whose
		 * connection is likely gone) gets an empty answer. */
		struct bosh_req *old = bosh_window_replace(&s->win, rid, r);
		log_debug("bosh", "sid=%.8s...: rid %llu sent again while it waits; the new request takes its place",
			  s->sid, (unsigned long long)rid);
		if (old)
			answer_now(old, "<body xmlns='" BOSH_NS "'/>");
		return;
	}
	case BOSH_RID_AHEAD:
		bosh_window_buffer(&s->win, rid, r);
		return;
	case BOSH_RID_NEXT:
		session_process(s, r);
		session_process_waiting(s);
		return;
	}
}

/* ---- creation ---- */

static void make_sid(unsigned worker, char *out, size_t n)
{
	unsigned char rnd[16];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		log_fatal("bosh", "no randomness for a session id");
	int k = snprintf(out, n, "%u-", worker);
	for (size_t i = 0; i < sizeof(rnd) && (size_t)k + 2 < n; i++, k += 2)
		snprintf(out + k, n - (size_t)k, "%02x", rnd[i]);
}

void bosh_session_create(struct worker *w, struct bosh_req *r, struct conn *http_conn, const char *peer,
			 bool no_external)
{
	struct shard *sh = shard_of(w);
	const struct config *cfg = sh->srv->cfg;
	const struct bosh_body *b = &r->body;
	if (b->to[0] && !config_host_find(cfg, b->to)) {
		log_info("bosh", "%s: session creation for '%.200s', not a host of ours (host-unknown)", peer, b->to);
		bosh_req_terminate(r, "host-unknown");
		return;
	}
	if (b->terminate || b->restart) {
		bosh_req_terminate(r, "bad-request");
		return;
	}

	struct bosh_session *s = xcalloc(1, sizeof(*s));
	s->w = w;
	s->home = w->id;
	make_sid(w->id, s->sid, sizeof(s->sid));
	s->hold = b->has_hold && b->hold < cfg->bosh.max_hold ? b->hold : cfg->bosh.max_hold;
	s->wait = b->has_wait && b->wait < cfg->bosh.max_wait ? b->wait : cfg->bosh.max_wait;
	if (s->wait == 0)
		s->wait = 1;
	s->inactivity = cfg->bosh.inactivity;
	s->acks = b->has_ack && b->ack == 1;
	s->creation_rid = b->rid;
	snprintf(s->to, sizeof(s->to), "%s", b->to);
	snprintf(s->lang, sizeof(s->lang), "%s", b->lang);
	buf_init(&s->pending);
	s->pending_max = cfg->limits.outq_bytes;
	unsigned size = cfg->bosh.window > s->hold + 1 ? cfg->bosh.window : s->hold + 1;
	bosh_window_init(&s->win, size, b->rid);
	s->idle_since_ms = worker_now(w);

	s->vc = conn_new_virtual(w, &bosh_conn_handler, s, &bosh_vc_ops, s, peer);
	if (http_conn)
		conn_share_transport(http_conn, s->vc);
	bosh_entry_add(bosh_worker_of(w), s->sid, s);
	log_info("bosh", "conn=%llu %s: session %.8s... created (hold %u, wait %u s, inactivity %u s%s)",
		 (unsigned long long)conn_id(s->vc), peer, s->sid, s->hold, s->wait, s->inactivity,
		 conn_secure(s->vc) ? ", HTTPS" : "");
	bosh_window_hold(&s->win, r, worker_now(w));
	/* The client certificate is judged here, as after a TCP handshake:
	 * the stream may end at once (c2s.disconnect_on_failure). */
	s->c2s = c2s_stream_adopt(sh, s->vc, &bosh_framing, s,
				  C2S_ADOPT_NO_CHANNEL_BINDING | (no_external ? C2S_ADOPT_NO_EXTERNAL : 0));
	session_feed_header(s);
	if (r->body.payload.len)
		session_feed(s, r->body.payload.data, r->body.payload.len);
	if (s->vc && !s->moving)
		conn_virtual_flush(s->vc);
	if (!s->moving)
		session_settle(s);
}

/* ---- time ---- */

static void session_free(struct bosh_session *s)
{
	/* Requests still waiting their turn go home with the end. */
	for (unsigned i = 0; i < s->win.nslots; i++) {
		struct bosh_slot *sl = &s->win.slots[i];
		if ((sl->state == BOSH_SLOT_BUFFERED || sl->state == BOSH_SLOT_HELD) && sl->req) {
			struct bosh_req *r = sl->req;
			sl->req = NULL;
			bosh_req_terminate(r, s->end_cond[0] ? s->end_cond : "item-not-found");
		}
	}
	bosh_session_gone(s);
	bosh_window_clear(&s->win);
	buf_clear(&s->pending);
	free(s);
}

void bosh_session_tick(struct bosh_session *s, uint64_t now)
{
	if (s->moving || s->drain_posted)
		return;
	if (s->ended) {
		/* The terminate was answered, or nobody came for it. */
		if (s->win.nheld == 0 && now - s->ended_ms >= (uint64_t)s->inactivity * 1000)
			session_free(s);
		return;
	}
	if (s->overflow) {
		char reason[160];
		snprintf(reason, sizeof(reason),
			 "over %zu bytes wait for the client to fetch them (limits.outq_bytes): it does not poll",
			 s->pending_max);
		session_close(s, "policy-violation", reason);
		return;
	}
	struct bosh_slot *sl;
	for (unsigned i = 0; i < s->win.size && (sl = bosh_window_oldest_held(&s->win)); i++) {
		if (now - sl->since_ms < (uint64_t)s->wait * 1000)
			break;
		session_answer(s, sl, false);
	}
	if (s->win.nheld == 0 && now - s->idle_since_ms >= (uint64_t)s->inactivity * 1000) {
		char reason[128];
		snprintf(reason, sizeof(reason), "no request for %u s (bosh.inactivity): the client left", s->inactivity);
		session_close(s, NULL, reason);
	}
}

void bosh_session_shutdown(struct bosh_session *s)
{
	if (s->ended) {
		session_free(s);
		return;
	}
	if (s->c2s && s->vc && !s->moving) {
		snprintf(s->end_cond, sizeof(s->end_cond), "system-shutdown");
		conn_close(s->vc, "the server is stopping");
	}
}
