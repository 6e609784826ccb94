/*
 * stanza: a parsed top-level element on its way through the server, with
 * its addresses parsed and its kind known.  A stanza owns the arena that
 * holds it and its tree, so it can be handed to another worker whole; it
 * has exactly one owner at a time.  Delivering to several recipients on
 * other workers copies it (stanza_copy); delivering to several sessions of
 * one worker shares one serialisation (stanza_wire), and so does writing it
 * to a remote link: one per stream namespace (stanza_wire_ns).
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

/*
 * The type attribute (RFC 6120 §8.2.3, RFC 6121 §4.7.1 and §5.2.2), parsed
 * once when the stanza is wrapped.  A value counts only for the kinds that
 * define it: type='chat' on an iq is STANZA_TYPE_UNKNOWN, and so is
 * type='available' (a presence is available by having no type).  The
 * element keeps the attribute as written, so forwarding needs no string.
 */
enum stanza_type {
	STANZA_TYPE_UNKNOWN,     /* not defined for the kind, or an iq without one */
	STANZA_TYPE_ERROR,       /* every kind */
	/* message (none: normal) */
	STANZA_TYPE_NORMAL,
	STANZA_TYPE_CHAT,
	STANZA_TYPE_GROUPCHAT,
	STANZA_TYPE_HEADLINE,
	/* presence (none: available) */
	STANZA_TYPE_AVAILABLE,
	STANZA_TYPE_UNAVAILABLE,
	STANZA_TYPE_SUBSCRIBE,
	STANZA_TYPE_SUBSCRIBED,
	STANZA_TYPE_UNSUBSCRIBE,
	STANZA_TYPE_UNSUBSCRIBED,
	STANZA_TYPE_PROBE,
	/* iq */
	STANZA_TYPE_GET,
	STANZA_TYPE_SET,
	STANZA_TYPE_RESULT,
};
enum { STANZA_TYPE_COUNT = STANZA_TYPE_RESULT + 1 };

/* Error types of RFC 6120 §8.3.2. */
enum stanza_etype {
	ETYPE_AUTH,
	ETYPE_CANCEL,
	ETYPE_CONTINUE,
	ETYPE_MODIFY,
	ETYPE_WAIT,
};

/* Defined stanza error conditions of RFC 6120 §8.3.3, in its order. */
enum stanza_cond {
	STANZA_ERR_BAD_REQUEST,
	STANZA_ERR_CONFLICT,
	STANZA_ERR_FEATURE_NOT_IMPLEMENTED,
	STANZA_ERR_FORBIDDEN,
	STANZA_ERR_GONE,
	STANZA_ERR_INTERNAL_SERVER_ERROR,
	STANZA_ERR_ITEM_NOT_FOUND,
	STANZA_ERR_JID_MALFORMED,
	STANZA_ERR_NOT_ACCEPTABLE,
	STANZA_ERR_NOT_ALLOWED,
	STANZA_ERR_NOT_AUTHORIZED,
	STANZA_ERR_POLICY_VIOLATION,
	STANZA_ERR_RECIPIENT_UNAVAILABLE,
	STANZA_ERR_REDIRECT,
	STANZA_ERR_REGISTRATION_REQUIRED,
	STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
	STANZA_ERR_REMOTE_SERVER_TIMEOUT,
	STANZA_ERR_RESOURCE_CONSTRAINT,
	STANZA_ERR_SERVICE_UNAVAILABLE,
	STANZA_ERR_SUBSCRIPTION_REQUIRED,
	STANZA_ERR_UNDEFINED_CONDITION,
	STANZA_ERR_UNEXPECTED_REQUEST,
};
enum { STANZA_COND_COUNT = STANZA_ERR_UNEXPECTED_REQUEST + 1 };

/* The stream namespaces a stanza is serialised for, each cached once:
 * jabber:client (client streams; WebSocket and BOSH use it too) and
 * jabber:server (s2s links). */
enum stanza_wire_ns {
	STANZA_WIRE_CLIENT,
	STANZA_WIRE_SERVER,
};
enum { STANZA_WIRE_COUNT = STANZA_WIRE_SERVER + 1 };

struct stanza {
	struct worker_msg msg; /* for posting to the owner worker */
	struct arena *arena;   /* owns all of the below */
	struct xml_node *el;
	enum stanza_kind kind;
	enum stanza_type type; /* kept equal to the type attribute (stanza_set_type) */
	const char *id;        /* NULL when absent */
	struct jid from;       /* stamped: the authenticated sender */
	struct jid to;         /* where it goes (filled in when absent) */
	bool to_absent;        /* the sender wrote no 'to' */
	/* serialisations per stream namespace (stanza_wire_ns), cached */
	struct chunk *wire[STANZA_WIRE_COUNT];
	/* the same in two parts (stanza_wire_parts): start tags per
	 * namespace, and the rest, shared by copies whatever their addresses */
	struct chunk *head[STANZA_WIRE_COUNT];
	struct chunk *tail;
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
/* `t` is a type of the stanza's kind, not UNKNOWN.  AVAILABLE removes the
 * attribute: a presence is available by having none. */
void stanza_set_type(struct stanza *st, enum stanza_type t);

/* The stanza as bytes for a client stream (jabber:client), serialised on
 * first use and cached until the stanza changes.  Borrowed reference: take
 * your own with chunk_ref when you keep it. */
struct chunk *stanza_wire(struct stanza *st);
/* The same for a stream whose content namespace is `stream_ns`
 * (XML_NS_CLIENT or XML_NS_SERVER, interned): each namespace is serialised
 * once and cached beside the other, so a stanza sent on N s2s links, or
 * to a link and to local sessions, is serialised once per namespace.
 * stanza_copy() shares the cache with the copy. */
struct chunk *stanza_wire_ns(struct stanza *st, const char *stream_ns);
/* The stanza for a stream of `stream_ns` as two chunks, written one after
 * the other: *head, its start tag up to the attributes (cached per
 * namespace, made again when an address or the type changes), and *tail,
 * the rest (made once and shared with every copy, whatever the copy's
 * addresses).  A presence broadcast to N contacts so serialises its body
 * once.  Without raw bytes to share, *head is the whole stanza and *tail
 * NULL.  Borrowed references, as stanza_wire's. */
void stanza_wire_parts(struct stanza *st, const char *stream_ns, struct chunk **head, struct chunk **tail);
/* Makes the shared tail now, before copies are made that should share it
 * (stanza_copy shares what exists). */
void stanza_share_tail(struct stanza *st);
/* Drops the cached serialisations (after a change to the tree). */
void stanza_touch(struct stanza *st);
/* Serialisations stanza_wire_ns() made on the calling thread (a
 * thread-local count, for tests and benchmarks: cache hits do not count). */
unsigned long stanza_wire_made(void);
/* Tails stanza_wire_parts() and stanza_share_tail() made on the calling
 * thread (likewise). */
unsigned long stanza_tail_made(void);

/* The error reply to `st` (RFC 6120 §8.3): from and to swapped, type
 * "error", the same id, an <error/> with the condition (and text).  Never
 * call it for a stanza of type "error" (errors are not answered). */
struct stanza *stanza_error(const struct stanza *st, enum stanza_etype etype, enum stanza_cond cond,
			    const char *text);
/* An empty result to an iq get/set (from and to swapped). */
struct stanza *stanza_iq_result(const struct stanza *st);

/* ---- names ---- */

const char *stanza_etype_name(enum stanza_etype t);
const char *stanza_kind_name(enum stanza_kind k);
/* The element name ("service-unavailable", ...), never NULL: a value
 * outside the enum is named "undefined-condition". */
const char *stanza_cond_name(enum stanza_cond c);
/* The attribute value ("chat", "get", ...); NULL for STANZA_TYPE_UNKNOWN,
 * STANZA_TYPE_AVAILABLE (written as no attribute) and values outside the
 * enum. */
const char *stanza_type_name(enum stanza_type t);
/* The type of a stanza of kind `k` whose type attribute is `value` (NULL
 * when absent): absent is NORMAL for a message, AVAILABLE for a presence
 * and UNKNOWN for an iq; a value the kind does not define is UNKNOWN. */
enum stanza_type stanza_type_parse(enum stanza_kind k, const char *value);
bool stanza_is_error(const struct stanza *st);
/* An iq get or set: a request that must be answered. */
bool stanza_is_request(const struct stanza *st);

#endif
