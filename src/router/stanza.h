/*
 * stanza: a parsed top-level element on its way through the server, with
 * its addresses parsed and its kind known.  A stanza owns the arena that
 * holds it and its tree, so it can be handed to another worker whole; it
 * has exactly one owner at a time.  Delivering to several recipients on
 * other workers copies it (stanza_copy); delivering to several sessions of
 * one worker shares one serialisation (stanza_wire).
 */
#ifndef PARLEY_ROUTER_STANZA_H
#define PARLEY_ROUTER_STANZA_H

#include <stdbool.h>

#include "core/worker.h"
#include "jid/jid.h"
#include "xml/xml.h"

struct arena;
struct chunk;

enum stanza_kind {
	STANZA_MESSAGE,
	STANZA_PRESENCE,
	STANZA_IQ,
};

/* Error types of RFC 6120 §8.3.2. */
enum stanza_etype {
	ETYPE_AUTH,
	ETYPE_CANCEL,
	ETYPE_CONTINUE,
	ETYPE_MODIFY,
	ETYPE_WAIT,
};

struct stanza {
	struct worker_msg msg; /* for posting to the owner worker */
	struct arena *arena;   /* owns all of the below */
	struct xml_node *el;
	enum stanza_kind kind;
	const char *type;      /* the type attribute, NULL when absent */
	const char *id;        /* NULL when absent */
	struct jid from;       /* stamped: the authenticated sender */
	struct jid to;         /* where it goes (filled in when absent) */
	bool to_absent;        /* the sender wrote no 'to' */
	struct chunk *wire;    /* serialisation for client streams, cached */
};

/* Wraps a parsed element; takes ownership of `a`.  Returns NULL (and frees
 * nothing) when the element is not message/presence/iq: the caller
 * decides what that means for its stream. */
struct stanza *stanza_wrap(struct arena *a, struct xml_node *el);
/* A new stanza with a new element `name` in jabber:client. */
struct stanza *stanza_new(enum stanza_kind kind);
void stanza_free(struct stanza *st);
/* A deep copy in its own arena (raw bytes included). */
struct stanza *stanza_copy(const struct stanza *st);
/* A stanza kept long (a session's last presence) as nothing but its
 * serialised bytes, in one allocation: a parsed copy would cost a whole
 * arena per idle session.  stanza_thaw() parses it back (NULL only if the
 * bytes were damaged, which would be a bug). */
struct stanza_frozen;
struct stanza_frozen *stanza_freeze(struct stanza *st);
struct stanza *stanza_thaw(const struct stanza_frozen *f);
void stanza_frozen_free(struct stanza_frozen *f);

/* Sets the address and its attribute together.  The JID is copied into
 * the stanza's arena. */
void stanza_set_from(struct stanza *st, const struct jid *j);
void stanza_set_to(struct stanza *st, const struct jid *j);
void stanza_set_type(struct stanza *st, const char *type);

/* The stanza as bytes for a client stream (jabber:client), serialised on
 * first use and cached until the stanza changes.  Borrowed reference: take
 * your own with chunk_ref when you keep it. */
struct chunk *stanza_wire(struct stanza *st);
/* Drops the cached serialisation (after a change to the tree). */
void stanza_touch(struct stanza *st);

/* The error reply to `st` (RFC 6120 §8.3): from and to swapped, type
 * "error", the same id, an <error/> with the condition (and text).  Never
 * call it for a stanza of type "error" (errors are not answered). */
struct stanza *stanza_error(const struct stanza *st, enum stanza_etype etype, const char *cond,
			    const char *text);
/* An empty result to an iq get/set (from and to swapped). */
struct stanza *stanza_iq_result(const struct stanza *st);

const char *stanza_etype_name(enum stanza_etype t);
const char *stanza_kind_name(enum stanza_kind k);
bool stanza_is_error(const struct stanza *st);

#endif
