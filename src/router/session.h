/*
 * session: a bound resource, as the router and im/ see it.  The stream
 * that carries it (c2s now; WebSocket and BOSH later) implements the ops.
 * A session lives on the worker that owns its bare JID, linked into that
 * user's record.
 */
#ifndef PARLEY_ROUTER_SESSION_H
#define PARLEY_ROUTER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "jid/jid.h"
#include "xml/cond.h"

struct chunk;
struct session;
struct stanza;
struct stanza_frozen;
struct user;

/* What an operator sees of a session (the admin API's session list). */
struct session_info {
	const char *transport;   /* "starttls", "direct tls", later "websocket", "bosh" */
	const char *tls;         /* "TLSv1.3" or NULL for none */
	const char *mechanism;   /* the SASL mechanism it logged in with */
	char address[64];        /* the client's address, "127.0.0.1:40312" */
};

struct session_ops {
	/* Writes a stanza to the client.  Borrowed: the caller still owns st
	 * (and usually delivers the same one to several sessions). */
	void (*send)(struct session *s, struct stanza *st);
	/* Writes serialised stanzas (offline messages as stored). */
	void (*send_bytes)(struct session *s, const char *xml, size_t len);
	/* Ends the stream with a stream error (e.g. STREAM_ERR_CONFLICT). */
	void (*kick)(struct session *s, enum stream_cond cond, const char *text);
	/* Optional: fills `out` for an operator (strings valid while the
	 * session lives). */
	void (*describe)(const struct session *s, struct session_info *out);
};

struct directed {
	struct list link;
	char jid[]; /* full or bare JID the session sent directed presence to */
};

/* Owner: the stream implementing ops; linked into user->sessions while
 * bound. */
struct session {
	const struct session_ops *ops;
	struct user *user;
	struct jid *jid;         /* full JID, heap (jid_dup) */
	struct list link;        /* user->sessions */
	uint64_t id;             /* conn id, for log lines */
	int64_t bound_at;        /* wall-clock seconds when it bound */

	/* presence (RFC 6121 §4) */
	bool available;          /* sent available presence, not unavailable */
	bool initial_sent;       /* initial presence seen */
	bool interested;         /* requested the roster: gets pushes */
	bool blocklist_wanted;   /* requested the block list: gets its pushes */
	int priority;
	struct stanza_frozen *presence; /* last available presence broadcast (owned) */
	struct list directed;    /* struct directed: unavailable on disconnect */
	unsigned ndirected;
};

#endif
