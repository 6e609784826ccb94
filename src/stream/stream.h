/*
 * stream: one XMPP stream machine for every kind of stream (c2s, s2s-in,
 * s2s-out), over every framing (TCP's byte stream, RFC 7395's elements).  It owns what RFC 6120 says of every stream:
 * feeding the parser, restarts (after TLS, after authentication, and a hold
 * while a check runs off the loop), the input that waits meanwhile, the
 * header and its checks, stream errors and close, timeouts, and dispatch of
 * top-level elements through a const table of routes.
 *
 * A kind (struct xs_kind) gives the parameters: the content namespace
 * (jabber:client, jabber:server), extra header declarations, the routes,
 * the host check and features, and the usual framing (struct
 * xs_output_ops); a stream may have another (xs_set_framing): WebSocket's
 * <open/> and <close/>, one element per message, reuse the machine.  The owner embeds a struct xstream and finds itself from it
 * with container_of.
 */
#ifndef PARLEY_STREAM_STREAM_H
#define PARLEY_STREAM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "xml/cond.h"
#include "xml/xml.h"

struct arena;
struct conn;

enum xs_state {
	XS_TLS_HANDSHAKE, /* direct TLS: waiting for the handshake */
	XS_WAIT_HEADER,   /* waiting for the peer's stream header */
	XS_OPEN,          /* features sent: negotiation or stanzas expected */
	XS_STARTTLS,      /* <proceed/> sent, TLS handshake running */
	XS_NEGOTIATING,   /* an exchange (SASL, ...) is running */
	XS_MOVING,        /* between workers */
	XS_READY,         /* stanzas flow (c2s: bound) */
	XS_CLOSING,
	XS_STATE_COUNT
};

/* A route's set of states. */
#define XS_IN(st) (1u << (st))

/* Why the parser was stopped inside an element handler. */
enum xs_restart {
	XS_RESTART_NONE,
	XS_RESTART_TLS,  /* after <starttls/>: only whitespace may follow before TLS */
	XS_RESTART_AUTH, /* after <success/>: a new stream follows */
	XS_RESTART_HOLD, /* a check runs off the loop: keep what follows until it ends */
};

/* Which side of authentication a route applies to. */
enum xs_auth { XS_AUTH_ANY, XS_AUTH_BEFORE, XS_AUTH_AFTER };

struct xstream;

/* An element handler owns the arena (frees it, or keeps the element). */
typedef void xs_element_fn(struct xstream *xs, struct arena *a, struct xml_node *el);

/* One row of a kind's dispatch table; the first row that matches wins. */
struct xs_route {
	const char *ns;   /* interned (xml/ns.h); NULL: any namespace */
	const char *name; /* NULL: any element of ns */
	unsigned states;  /* XS_IN() mask */
	enum xs_auth auth;
	xs_element_fn *handle;
};

/*
 * Stream-level framing.  TCP streams write XML directly; WebSocket
 * (RFC 7395) frames each top-level element and uses <open/> and <close/>.
 * A kind names its usual framing (xs_kind.out); an owner that carries the
 * stream over something else sets its own with xs_set_framing, and the
 * ops find their state in xs->out_ctx.
 */
struct chunk;
struct xs_output_ops {
	/* Our stream header, answering the peer's (`to` is the peer's from). */
	void (*open)(struct xstream *xs, const char *to);
	/* Our end of the stream. */
	void (*close)(struct xstream *xs);
	/* A complete top-level element (stanza, features, error, ...). */
	void (*write)(struct xstream *xs, const char *data, size_t len);
	/* A complete top-level element in `n` consecutive pieces (a stanza
	 * serialised once for many streams: its start tag and a shared
	 * rest), written without copying them where the framing can.  The
	 * callee takes references of its own. */
	void (*write_chunks)(struct xstream *xs, struct chunk *const *chunks, size_t n);
	/* Something that keeps a quiet connection open (TCP: one space
	 * between stanzas; WebSocket: a ping).  NULL: none. */
	void (*keepalive)(struct xstream *xs);
	/*
	 * Element framing (RFC 7395; BOSH's <body/> is the same idea): the
	 * peer's input comes in messages of whole top-level elements
	 * (xs_input_message), at most `message_elements` each (0: any
	 * number); there is no stream root on the wire, so the machine
	 * supplies one (jabber:client for c2s) that each restart renews;
	 * the peer's stream header is an <open/> element and its end a
	 * <close/>, both in urn:ietf:params:xml:ns:xmpp-framing.  Receiving
	 * side only.  false: the XML stream of RFC 6120 over a byte stream.
	 */
	bool framed;
	unsigned message_elements;
};

/* The XML stream framing of RFC 6120 over a byte stream (TCP, TLS). */
extern const struct xs_output_ops xs_tcp_output;

struct xs_kind {
	const char *tag;          /* log subsystem, e.g. "c2s" */
	const char *peer;         /* "client", "server": for log and error texts */
	const char *content_ns;   /* XML_NS_CLIENT, XML_NS_SERVER */
	const char *header_attrs; /* more declarations for our header, or "" */
	const struct xs_output_ops *out; /* the usual framing (xs_set_framing replaces it per stream) */
	const struct xs_route *routes;
	size_t nroutes;
	/* The peer's header names host `to` (NULL: none): set xs->domain to
	 * the host that answers (also for an error header).  Returns false
	 * when no host of ours is named (or the wrong one), with the stream
	 * error to send in *cond and `text`; it is sent after the generic
	 * checks (root, namespaces) pass. */
	bool (*select_host)(struct xstream *xs, const char *to, enum stream_cond *cond, char *text, size_t textlen);
	/* The features for the current stage, inside <stream:features/>. */
	void (*features)(struct xstream *xs, struct buf *out);
	/* After XS_RESTART_AUTH stopped the parser: prepare the next stream
	 * (new limits, ...).  `data` is the input that followed in the same
	 * read.  Returns true to go on feeding it now; false when the owner
	 * kept it (xs->pending) for later, e.g. while moving to another worker. */
	bool (*auth_restart)(struct xstream *xs, const char *data, size_t len);
	/* Who the peer is, for log lines ("alice@localhost", or its address). */
	const char *(*who)(const struct xstream *xs);
	/* Ready for stanzas as soon as the header after authentication is
	 * answered (s2s); otherwise the kind says when (c2s: after binding). */
	bool ready_after_auth;
	/* Initiating side only, may be NULL: the peer's header passed the
	 * generic checks (its id is in xs->peer_id); check its 'from'.
	 * Returns false after sending a stream error. */
	bool (*peer_header)(struct xstream *xs, const struct xml_node *h);
	/* May be NULL: the peer ended the stream with <stream:error/>
	 * (`cond` its condition, "undefined-condition" when it named none;
	 * `text` its text or NULL).  The machine logs it and closes our side
	 * of the stream afterwards, without an error of its own. */
	void (*peer_error)(struct xstream *xs, const char *cond, const char *text);
};

struct xstream {
	const struct xs_kind *kind;
	const struct xs_output_ops *out; /* the framing: kind->out unless xs_set_framing said otherwise */
	void *out_ctx;                   /* the framing's own state, for its ops */
	struct conn *conn;
	struct xml_parser *parser;
	enum xs_state state;
	enum xs_restart restart;
	bool header_sent;
	bool in_feed;       /* inside xml_parser_feed (handlers run) */
	bool resuming;      /* priming a fresh parser (no header reply) */
	bool authenticated; /* the routes' XS_AUTH_BEFORE/AFTER */
	bool initiator;     /* we opened the stream (s2s-out): see xs_initiate */
	bool primed;        /* framed: the parser holds the root the machine supplies */
	bool in_message;    /* framed: inside xs_input_message */
	unsigned message_elements; /* framed: elements of the current message so far */
	const char *domain; /* the local host (config string) */
	char id[24];            /* ours, as the receiving entity */
	char peer_id[64];       /* the peer's, as the initiating entity (dialback keys) */
	/* The peer's domain: initiating, the one we opened the stream to;
	 * receiving, the 'from' of the peer's last header (a claim until
	 * the kind's rule authenticates it; "" when it named none). */
	char peer_domain[256];
	uint64_t started_ms;
	struct buf pending; /* input after a restart or during a hold */
};

void xs_init(struct xstream *xs, const struct xs_kind *kind, struct conn *c, const struct xml_limits *lim,
	     const char *domain, uint64_t now_ms);
/* Frees the parser and pending input (not the conn). */
void xs_release(struct xstream *xs);

/* Another framing than the kind's for this stream (before its first
 * input): `ctx` is the framing's state, xs->out_ctx for its ops. */
void xs_set_framing(struct xstream *xs, const struct xs_output_ops *out, void *ctx);

/* Bytes from the conn. */
void xs_input(struct xstream *xs, const char *data, size_t len);
/* Framed streams: one message of the framing.  It must hold whole
 * elements, at most out->message_elements of them, or only whitespace
 * (ignored); anything else is a <bad-format/> stream error.  Messages that
 * arrive while the stream waits (a hold, a move to another worker) are
 * kept in order and fed later without those checks. */
void xs_input_message(struct xstream *xs, const char *data, size_t len);
/* Feeds what waited in xs->pending. */
void xs_feed_pending(struct xstream *xs);

/* Output of complete top-level elements through the kind's framing. */
void xs_write(struct xstream *xs, const char *data, size_t len);
void xs_send_raw(struct xstream *xs, const char *xml);
void xs_send_node(struct xstream *xs, const struct xml_node *n);
/* One element in pieces (struct xs_output_ops.write_chunks). */
void xs_write_chunks(struct xstream *xs, struct chunk *const *chunks, size_t n);

/* A stream error, then our close; the conn closes after the output.
 * Logged once.  Nothing after the first. */
void xs_error(struct xstream *xs, enum stream_cond cond, const char *text);

/* From inside an element handler: stop the parser after this element. */
void xs_stop_parser(struct xstream *xs, enum xs_restart why);
/* A fresh parser for the next stream, with `lim`. */
void xs_new_parser(struct xstream *xs, const struct xml_limits *lim);
/* After authentication succeeded: from inside a handler or from a
 * completion off the parser alike. */
void xs_restart_after_auth(struct xstream *xs);
/* After a hold that did not end the stream: carries on with the same
 * stream (a fresh parser primed with a header that is answered with
 * nothing) and the input that arrived meanwhile. */
void xs_resume_after_hold(struct xstream *xs);
/* The TLS handshake finished: a new stream begins (the initiating side
 * sends its header again). */
void xs_tls_established(struct xstream *xs);
/* The log line of a TLS session just established on the stream's conn
 * (version, cipher, SNI, and whether it was direct TLS). */
void xs_log_tls(const struct xstream *xs, bool direct_tls);

/*
 * The initiating side (s2s-out): we send the first header, to
 * `peer_domain` from xs->domain and without an id (RFC 6120 §4.7.3); the
 * peer's header is checked and its id kept in xs->peer_id, with no reply;
 * its features arrive as a top-level element for the kind's routes.  After
 * TLS and after authentication we open the new stream ourselves.
 */
void xs_initiate(struct xstream *xs, const char *peer_domain);

/*
 * Timeouts, from the conn's tick: closes the stream (true) when it was
 * not ready within handshake_s of its start, or read nothing for idle_s;
 * sends a whitespace keepalive on a ready stream quiet for keepalive_s,
 * and lets the parser of a quiet ready stream go.  The names are the
 * settings, for the error texts.
 */
struct xs_timeouts {
	unsigned handshake_s, idle_s, keepalive_s;
	const char *ready_what; /* what "ready" means, e.g. "authenticated and bound" */
	const char *handshake_name, *idle_name;
};
bool xs_tick(struct xstream *xs, uint64_t now_ms, const struct xs_timeouts *t);
/* The timeouts of the `limits` section (handshake_timeout, idle_timeout,
 * keepalive), with what "ready" means for the kind. */
struct config;
void xs_timeouts_from_limits(const struct config *cfg, const char *ready_what, struct xs_timeouts *t);

#endif
