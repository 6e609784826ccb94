/* bosh internals shared by window.c, body.c, session.c, http.c and
 * service.c.  window.c and body.c are pure (no loop, no I/O) and
 * unit-tested on their own (tests/unit/bosh/). */
#ifndef PARLEY_BOSH_INTERNAL_H
#define PARLEY_BOSH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/list.h"
#include "core/worker.h"

struct config;
struct conn;
struct http_request;
struct server;
struct xml_limits;

#define BOSH_NS "http://jabber.org/protocol/httpbind"
#define BOSH_NS_XMPP "urn:xmpp:xbosh"

/* ---- The request-id window (window.c): pure ---- */

/*
 * What a session knows of request ids (XEP-0124 §14): `next` is the rid
 * to process next; rids in (next, next + size) are buffered until their
 * turn; rids processed wait for their answer (held) and, once answered,
 * keep the body sent for `size` rids, so that a client whose connection
 * broke can ask again.  Slots are a ring of 2 * size indexed by rid, so
 * every live rid has its own.  Requests are the caller's `void *`; the
 * window never frees them.
 */
enum bosh_slot_state {
	BOSH_SLOT_FREE = 0,
	BOSH_SLOT_BUFFERED, /* received ahead of its turn */
	BOSH_SLOT_HELD,     /* processed, waiting for something to answer */
	BOSH_SLOT_ANSWERED, /* answered; the body is kept for a resend */
};

struct bosh_slot {
	uint64_t rid;
	enum bosh_slot_state state;
	void *req;         /* BUFFERED, HELD */
	uint64_t since_ms; /* HELD: when it began to wait */
	char *resp;        /* ANSWERED (heap) */
	size_t resp_len;
};

struct bosh_window {
	struct bosh_slot *slots;
	unsigned nslots; /* 2 * size */
	unsigned size;
	uint64_t next;
	unsigned nheld;
};

/* What to do with a request for `rid`. */
enum bosh_rid {
	BOSH_RID_NEXT,    /* its turn: process it (bosh_window_hold) */
	BOSH_RID_AHEAD,   /* within the window ahead: keep it (bosh_window_buffer) */
	BOSH_RID_WAITING, /* received before and not answered: it takes the old one's place */
	BOSH_RID_AGAIN,   /* answered before: send the kept body again */
	BOSH_RID_OUTSIDE, /* out of the window: item-not-found (XEP-0124 §14.3) */
};

/* `first` is the session creation request's rid, the first processed. */
void bosh_window_init(struct bosh_window *w, unsigned size, uint64_t first);
/* Frees the kept answers (the requests are the caller's). */
void bosh_window_clear(struct bosh_window *w);
enum bosh_rid bosh_window_classify(const struct bosh_window *w, uint64_t rid);
/* The slot of a rid the window knows (any state but FREE), or NULL. */
struct bosh_slot *bosh_window_find(struct bosh_window *w, uint64_t rid);
/* BOSH_RID_AHEAD: keeps `req` until its turn. */
void bosh_window_buffer(struct bosh_window *w, uint64_t rid, void *req);
/* BOSH_RID_WAITING: `req` replaces the request waiting as `rid`, which is
 * returned (the caller answers or drops it). */
void *bosh_window_replace(struct bosh_window *w, uint64_t rid, void *req);
/* Processes `next` (the caller has its body): held from now_ms; next
 * moves on.  Returns the rid. */
uint64_t bosh_window_hold(struct bosh_window *w, void *req, uint64_t now_ms);
/* The request buffered for `next`, taken out of the window (NULL: none
 * came yet).  The caller processes it with bosh_window_hold. */
void *bosh_window_take_next(struct bosh_window *w);
/* The held request with the lowest rid, or NULL. */
struct bosh_slot *bosh_window_oldest_held(struct bosh_window *w);
/* Answers held `rid` with `resp` (copied for a resend); returns its
 * request. */
void *bosh_window_answer(struct bosh_window *w, uint64_t rid, const char *resp, size_t len);
/* The client received every answer up to `ack` (XEP-0124 §9): their
 * bodies are no longer kept. */
void bosh_window_ack(struct bosh_window *w, uint64_t ack);
/* The highest rid processed (next - 1). */
uint64_t bosh_window_last(const struct bosh_window *w);

/* ---- Bodies (body.c): pure ---- */

/* Why a request body is refused: the terminate condition. */
enum bosh_body_error {
	BOSH_BODY_OK = 0,
	BOSH_BODY_NOT_XML,    /* bad-request */
	BOSH_BODY_NOT_BODY,   /* bad-request: not <body/> in BOSH_NS */
	BOSH_BODY_BAD_ATTR,   /* bad-request: no or a malformed rid, hold, wait... */
	BOSH_BODY_TOO_LARGE,  /* policy-violation */
};

enum { BOSH_SID_MAX = 48 };

/* A request body, read: its attributes and its children as bytes for the
 * XMPP stream (each child's own bytes, so it is parsed once more by the
 * stream with the stream's limits). */
struct bosh_body {
	uint64_t rid;
	char sid[BOSH_SID_MAX]; /* "": a session creation request */
	bool terminate;         /* type='terminate' */
	bool restart;           /* xmpp:restart='true' */
	bool has_ack;
	uint64_t ack;
	bool has_wait, has_hold;
	unsigned wait, hold;
	char to[256];
	char lang[36];
	char ver[16];
	char content[80];
	char xmpp_version[8];
	struct buf payload;
};

/*
 * Reads a request body.  `stanza_bytes` bounds each child (and, with the
 * start tag's `header_bytes`, the whole body: refused before parsing);
 * the other limits are the stream's.  BOSH_BODY_OK or the error, with
 * *why a sentence for the log.  out->payload must be initialised
 * (buf_init); out is filled as far as it was read (the sid of a body
 * refused for its children is known).
 */
enum bosh_body_error bosh_body_parse(const char *data, size_t len, const struct xml_limits *lim,
				     struct bosh_body *out, const char **why);
/* "bad-request", "policy-violation". */
const char *bosh_body_error_condition(enum bosh_body_error e);

/*
 * Appends output of the XMPP stream (complete top-level elements, as
 * written on a TCP stream whose default namespace is jabber:client) for a
 * <body/>: every unprefixed top-level element that declares no default
 * namespace gets xmlns='jabber:client' (XEP-0206: stanzas in a body are
 * qualified by it).  Our serialiser never writes '<' or '>' inside
 * attribute values or text, so a scan of tags suffices; CDATA sections
 * (kept in a forwarded stanza's raw bytes) are skipped.
 */
void bosh_qualify(struct buf *out, const char *data, size_t len);

/* ---- Sessions (session.c) ---- */

struct bosh_req;
struct bosh_session;

/*
 * One HTTP request on its way: made on the HTTP connection's worker
 * (`home`), posted to the session's worker, answered there and posted
 * back home to be written.  Owner: whoever holds it along that way; home
 * frees it after writing (or when the client went away: `req` NULL).
 */
struct bosh_req {
	struct worker_msg msg;
	struct worker *home;
	struct http_request *req; /* touched only on home; NULL once cancelled */
	struct bosh_body body;
	uint64_t arrived_ms;
	/* The answer. */
	struct buf resp;
	bool terminal; /* the answer ends the session (logged at home) */
	unsigned hops;     /* forwards between workers (bounded) */
	struct list qlink; /* a forwarding entry's queue while the session moves */
};

struct bosh_req *bosh_req_new(struct worker *home, struct http_request *req);
void bosh_req_free(struct bosh_req *r);
/* Sends r's answer home (any worker; r leaves the caller). */
void bosh_req_send_home(struct bosh_req *r);
/* Answers with a terminate body of `cond` (no session needed). */
void bosh_req_terminate(struct bosh_req *r, const char *cond);

/* Creates a session for r (a body without sid) on this worker, with the
 * HTTP connection r came on (its TLS session: client certificates);
 * no_external: the browser's origin is allowed only by "*", so its
 * certificate may not log in (C2S_ADOPT_NO_EXTERNAL). */
void bosh_session_create(struct worker *w, struct bosh_req *r, struct conn *http_conn, const char *peer,
			 bool no_external);
/* A request for `s` on its worker. */
void bosh_session_request(struct bosh_session *s, struct bosh_req *r);
/* The 1 s tick: held requests past their wait, inactivity. */
void bosh_session_tick(struct bosh_session *s, uint64_t now_ms);
/* Ends the session with a stream error (the server stops). */
void bosh_session_shutdown(struct bosh_session *s);
const char *bosh_session_sid(const struct bosh_session *s);
/* Where it is (NULL in transit). */
struct worker *bosh_session_worker(const struct bosh_session *s);

/* ---- Per-worker state (service.c) ---- */

/*
 * A sid names the worker that made the session ("<worker>-<32 hex>":
 * 128 random bits after it).  That worker keeps it in its table, or,
 * once the session moved to the account's owner worker after SASL, a
 * forwarding entry that says where it went (requests that arrive while it
 * is in transit wait in the entry).
 */
struct bosh_entry {
	struct list link;     /* bw->entries */
	char sid[BOSH_SID_MAX];
	struct bosh_session *s; /* here; NULL when forwarded */
	bool moving;          /* in transit: requests wait in `queue` */
	unsigned to;          /* forwarded: the worker that has it */
	struct list queue;    /* of struct bosh_qreq while moving */
};

struct bosh_worker {
	struct server *srv;
	struct worker *w;
	struct list *buckets; /* of struct bosh_entry, by a hash of the sid */
	unsigned nbuckets;
	uv_timer_t tick;
	bool started;
	bool stopping;
};

struct bosh_worker *bosh_worker_of(struct worker *w);
/* The service stops on w (sessions are freed as they close). */
bool bosh_worker_stopping(struct worker *w);
/* The entry of `sid` on this worker, or NULL. */
struct bosh_entry *bosh_entry_find(struct bosh_worker *bw, const char *sid);
struct bosh_entry *bosh_entry_add(struct bosh_worker *bw, const char *sid, struct bosh_session *s);
void bosh_entry_remove(struct bosh_worker *bw, struct bosh_entry *e);
/* A request reached the worker its sid names, or was forwarded: run it. */
void bosh_dispatch(struct worker *w, struct bosh_req *r);
/* The session leaves this worker (detaching) / arrived on worker w /
 * ended on the worker that has it. */
void bosh_session_leaving(struct bosh_session *s);
void bosh_session_arrived(struct bosh_session *s, struct worker *w);
void bosh_session_gone(struct bosh_session *s);
/* The worker a sid names, or -1 when it names none. */
int bosh_sid_worker(const char *sid, unsigned nworkers);

#endif
