/* stanza: the routed unit, its copies, its wire form and its error replies. */
#include "router/stanza.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/chunk.h"
#include "core/alloc.h"
#include "core/log.h"

static const char *const etype_names[] = {
	[ETYPE_AUTH] = "auth",
	[ETYPE_CANCEL] = "cancel",
	[ETYPE_CONTINUE] = "continue",
	[ETYPE_MODIFY] = "modify",
	[ETYPE_WAIT] = "wait",
};

static const char *const kind_names[] = {
	[STANZA_MESSAGE] = "message",
	[STANZA_PRESENCE] = "presence",
	[STANZA_IQ] = "iq",
};

static const char *const cond_names[] = {
	[STANZA_ERR_BAD_REQUEST] = "bad-request",
	[STANZA_ERR_CONFLICT] = "conflict",
	[STANZA_ERR_FEATURE_NOT_IMPLEMENTED] = "feature-not-implemented",
	[STANZA_ERR_FORBIDDEN] = "forbidden",
	[STANZA_ERR_GONE] = "gone",
	[STANZA_ERR_INTERNAL_SERVER_ERROR] = "internal-server-error",
	[STANZA_ERR_ITEM_NOT_FOUND] = "item-not-found",
	[STANZA_ERR_JID_MALFORMED] = "jid-malformed",
	[STANZA_ERR_NOT_ACCEPTABLE] = "not-acceptable",
	[STANZA_ERR_NOT_ALLOWED] = "not-allowed",
	[STANZA_ERR_NOT_AUTHORIZED] = "not-authorized",
	[STANZA_ERR_POLICY_VIOLATION] = "policy-violation",
	[STANZA_ERR_RECIPIENT_UNAVAILABLE] = "recipient-unavailable",
	[STANZA_ERR_REDIRECT] = "redirect",
	[STANZA_ERR_REGISTRATION_REQUIRED] = "registration-required",
	[STANZA_ERR_REMOTE_SERVER_NOT_FOUND] = "remote-server-not-found",
	[STANZA_ERR_REMOTE_SERVER_TIMEOUT] = "remote-server-timeout",
	[STANZA_ERR_RESOURCE_CONSTRAINT] = "resource-constraint",
	[STANZA_ERR_SERVICE_UNAVAILABLE] = "service-unavailable",
	[STANZA_ERR_SUBSCRIPTION_REQUIRED] = "subscription-required",
	[STANZA_ERR_UNDEFINED_CONDITION] = "undefined-condition",
	[STANZA_ERR_UNEXPECTED_REQUEST] = "unexpected-request",
};
_Static_assert(sizeof(cond_names) / sizeof(cond_names[0]) == STANZA_COND_COUNT,
	       "a name for every stanza condition");

#define KIND(k) (1u << (k))
#define ANY_KIND (KIND(STANZA_MESSAGE) | KIND(STANZA_PRESENCE) | KIND(STANZA_IQ))

/* Each type's attribute value and the kinds that define it. */
static const struct {
	const char *name;
	unsigned kinds;
} types[] = {
	[STANZA_TYPE_UNKNOWN] = {NULL, 0},
	[STANZA_TYPE_ERROR] = {"error", ANY_KIND},
	[STANZA_TYPE_NORMAL] = {"normal", KIND(STANZA_MESSAGE)},
	[STANZA_TYPE_CHAT] = {"chat", KIND(STANZA_MESSAGE)},
	[STANZA_TYPE_GROUPCHAT] = {"groupchat", KIND(STANZA_MESSAGE)},
	[STANZA_TYPE_HEADLINE] = {"headline", KIND(STANZA_MESSAGE)},
	/* RFC 6121 §4.7.1 has no 'available': it is the absence of a type. */
	[STANZA_TYPE_AVAILABLE] = {NULL, KIND(STANZA_PRESENCE)},
	[STANZA_TYPE_UNAVAILABLE] = {"unavailable", KIND(STANZA_PRESENCE)},
	[STANZA_TYPE_SUBSCRIBE] = {"subscribe", KIND(STANZA_PRESENCE)},
	[STANZA_TYPE_SUBSCRIBED] = {"subscribed", KIND(STANZA_PRESENCE)},
	[STANZA_TYPE_UNSUBSCRIBE] = {"unsubscribe", KIND(STANZA_PRESENCE)},
	[STANZA_TYPE_UNSUBSCRIBED] = {"unsubscribed", KIND(STANZA_PRESENCE)},
	[STANZA_TYPE_PROBE] = {"probe", KIND(STANZA_PRESENCE)},
	[STANZA_TYPE_GET] = {"get", KIND(STANZA_IQ)},
	[STANZA_TYPE_SET] = {"set", KIND(STANZA_IQ)},
	[STANZA_TYPE_RESULT] = {"result", KIND(STANZA_IQ)},
};
_Static_assert(sizeof(types) / sizeof(types[0]) == STANZA_TYPE_COUNT, "a row for every stanza type");

/* What a stanza without a type attribute is (RFC 6121 §5.2.2, §4.7.1;
 * RFC 6120 §8.2.3 requires one on an iq). */
static const enum stanza_type untyped[] = {
	[STANZA_MESSAGE] = STANZA_TYPE_NORMAL,
	[STANZA_PRESENCE] = STANZA_TYPE_AVAILABLE,
	[STANZA_IQ] = STANZA_TYPE_UNKNOWN,
};

const char *stanza_etype_name(enum stanza_etype t)
{
	return etype_names[t];
}

const char *stanza_kind_name(enum stanza_kind k)
{
	return kind_names[k];
}

const char *stanza_cond_name(enum stanza_cond c)
{
	/* A value outside the enum is a bug upstream; the catch-all keeps
	 * the <error/> well-formed. */
	if ((unsigned)c >= STANZA_COND_COUNT)
		return "undefined-condition";
	return cond_names[c];
}

const char *stanza_type_name(enum stanza_type t)
{
	if ((unsigned)t >= STANZA_TYPE_COUNT)
		return NULL;
	return types[t].name;
}

enum stanza_type stanza_type_parse(enum stanza_kind k, const char *value)
{
	if (!value)
		return untyped[k];
	for (unsigned t = 0; t < STANZA_TYPE_COUNT; t++) {
		if ((types[t].kinds & KIND(k)) && types[t].name && strcmp(types[t].name, value) == 0)
			return (enum stanza_type)t;
	}
	return STANZA_TYPE_UNKNOWN;
}

static bool kind_of(const struct xml_node *el, enum stanza_kind *k)
{
	if (el->ns != XML_NS_CLIENT && el->ns != XML_NS_SERVER)
		return false;
	if (strcmp(el->name, "message") == 0)
		*k = STANZA_MESSAGE;
	else if (strcmp(el->name, "presence") == 0)
		*k = STANZA_PRESENCE;
	else if (strcmp(el->name, "iq") == 0)
		*k = STANZA_IQ;
	else
		return false;
	return true;
}

struct stanza *stanza_wrap(struct arena *a, struct xml_node *el)
{
	enum stanza_kind k;
	if (!kind_of(el, &k))
		return NULL;
	struct stanza *st = arena_zalloc(a, sizeof(*st));
	st->arena = a;
	st->el = el;
	st->kind = k;
	st->type = stanza_type_parse(k, xml_node_attr(el, "type"));
	st->id = xml_node_attr(el, "id");
	return st;
}

struct stanza *stanza_new(enum stanza_kind kind)
{
	struct arena *a = arena_new();
	struct xml_node *el = xml_node_new(a, XML_NS_CLIENT, kind_names[kind]);
	struct stanza *st = arena_zalloc(a, sizeof(*st));
	st->arena = a;
	st->el = el;
	st->kind = kind;
	st->type = untyped[kind];
	return st;
}

void stanza_free(struct stanza *st)
{
	if (!st)
		return;
	for (unsigned i = 0; i < STANZA_WIRE_COUNT; i++) {
		chunk_unref(st->wire[i]);
		chunk_unref(st->head[i]);
	}
	chunk_unref(st->tail);
	arena_free(st->arena);
}

static void jid_copy_into(struct arena *a, struct jid *dst, const struct jid *src)
{
	dst->local = src->local ? arena_strdup(a, src->local) : NULL;
	dst->domain = src->domain ? arena_strdup(a, src->domain) : NULL;
	dst->resource = src->resource ? arena_strdup(a, src->resource) : NULL;
	dst->bare = src->bare ? arena_strdup(a, src->bare) : NULL;
	dst->full = src->full ? arena_strdup(a, src->full) : NULL;
}

struct stanza *stanza_copy(const struct stanza *src)
{
	struct arena *a = arena_new();
	struct stanza *st = arena_zalloc(a, sizeof(*st));
	st->arena = a;
	st->el = xml_node_copy(a, src->el);
	if (src->el->raw) {
		/* Keep the original bytes: forwarding the copy stays cheap. */
		st->el->raw = arena_memdup(a, src->el->raw, src->el->raw_len);
		st->el->raw_len = src->el->raw_len;
		st->el->raw_start_len = src->el->raw_start_len;
	}
	st->kind = src->kind;
	st->type = src->type;
	st->id = xml_node_attr(st->el, "id");
	jid_copy_into(a, &st->from, &src->from);
	jid_copy_into(a, &st->to, &src->to);
	st->to_absent = src->to_absent;
	/* Same tree, same bytes: the copy shares the serialisations made so
	 * far (a chunk's references may move between threads). */
	for (unsigned i = 0; i < STANZA_WIRE_COUNT; i++) {
		st->wire[i] = src->wire[i] ? chunk_ref(src->wire[i]) : NULL;
		st->head[i] = src->head[i] ? chunk_ref(src->head[i]) : NULL;
	}
	st->tail = src->tail ? chunk_ref(src->tail) : NULL;
	return st;
}

struct stanza_frozen {
	size_t len;
	char xml[];
};

struct stanza_frozen *stanza_freeze(struct stanza *st)
{
	struct chunk *w = stanza_wire(st);
	struct stanza_frozen *f = xmalloc(sizeof(*f) + w->len);
	f->len = w->len;
	memcpy(f->xml, w->data, w->len);
	return f;
}

struct stanza *stanza_thaw(const struct stanza_frozen *f)
{
	struct arena *a = arena_new();
	struct xml_node *el = xml_parse_fragment(a, f->xml, f->len);
	struct stanza *st = el ? stanza_wrap(a, el) : NULL;
	if (!st) {
		arena_free(a);
		return NULL;
	}
	const char *from = xml_node_attr(el, "from");
	const char *to = xml_node_attr(el, "to");
	if ((from && jid_parse_str(a, from, &st->from) < 0) || (to && jid_parse_str(a, to, &st->to) < 0)) {
		stanza_free(st);
		return NULL;
	}
	st->to_absent = !to;
	return st;
}

void stanza_frozen_free(struct stanza_frozen *f)
{
	free(f);
}

/* The start tag changed (an address, the type): the tail still holds. */
static void touch_head(struct stanza *st)
{
	for (unsigned i = 0; i < STANZA_WIRE_COUNT; i++) {
		chunk_unref(st->wire[i]);
		st->wire[i] = NULL;
		chunk_unref(st->head[i]);
		st->head[i] = NULL;
	}
}

void stanza_touch(struct stanza *st)
{
	touch_head(st);
	chunk_unref(st->tail);
	st->tail = NULL;
}

void stanza_set_from(struct stanza *st, const struct jid *j)
{
	if (j != &st->from)
		jid_copy_into(st->arena, &st->from, j);
	xml_node_set_attr(st->arena, st->el, "from", st->from.full);
	touch_head(st);
}

void stanza_set_to(struct stanza *st, const struct jid *j)
{
	if (j != &st->to)
		jid_copy_into(st->arena, &st->to, j);
	xml_node_set_attr(st->arena, st->el, "to", st->to.full);
	st->to_absent = false;
	touch_head(st);
}

void stanza_set_type(struct stanza *st, enum stanza_type t)
{
	xml_node_set_attr(st->arena, st->el, "type", stanza_type_name(t));
	/* Read back, so that the field always says what the element says. */
	st->type = stanza_type_parse(st->kind, xml_node_attr(st->el, "type"));
	touch_head(st);
}

/* Per thread, so that counting writes no shared cache line. */
static _Thread_local unsigned long wire_made;

struct chunk *stanza_wire_ns(struct stanza *st, const char *stream_ns)
{
	enum stanza_wire_ns i;
	if (stream_ns == XML_NS_CLIENT)
		i = STANZA_WIRE_CLIENT;
	else if (stream_ns == XML_NS_SERVER)
		i = STANZA_WIRE_SERVER;
	else
		log_fatal("router", "stanza_wire_ns: %s is not a content namespace",
			  stream_ns ? stream_ns : "(none)");
	if (!st->wire[i]) {
		struct buf b = BUF_INIT;
		xml_serialize(&b, st->el, stream_ns);
		st->wire[i] = chunk_from(b.data, b.len);
		buf_clear(&b);
		wire_made++;
	}
	return st->wire[i];
}

static _Thread_local unsigned long tail_made;

void stanza_share_tail(struct stanza *st)
{
	if (st->tail)
		return;
	struct buf b = BUF_INIT;
	if (xml_serialize_tail(&b, st->el)) {
		st->tail = chunk_from(b.data, b.len);
		tail_made++;
	}
	buf_clear(&b);
}

void stanza_wire_parts(struct stanza *st, const char *stream_ns, struct chunk **head, struct chunk **tail)
{
	enum stanza_wire_ns i = stream_ns == XML_NS_SERVER ? STANZA_WIRE_SERVER : STANZA_WIRE_CLIENT;
	stanza_share_tail(st);
	if (!st->tail) {
		*head = stanza_wire_ns(st, stream_ns);
		*tail = NULL;
		return;
	}
	if (!st->head[i]) {
		struct buf b = BUF_INIT;
		xml_serialize_head(&b, st->el, stream_ns);
		st->head[i] = chunk_from(b.data, b.len);
		buf_clear(&b);
	}
	*head = st->head[i];
	*tail = st->tail;
}

unsigned long stanza_tail_made(void)
{
	return tail_made;
}

struct chunk *stanza_wire(struct stanza *st)
{
	return stanza_wire_ns(st, XML_NS_CLIENT);
}

unsigned long stanza_wire_made(void)
{
	return wire_made;
}

bool stanza_is_error(const struct stanza *st)
{
	return st->type == STANZA_TYPE_ERROR;
}

bool stanza_is_request(const struct stanza *st)
{
	return st->type == STANZA_TYPE_GET || st->type == STANZA_TYPE_SET;
}

static struct stanza *stanza_reply(const struct stanza *st, enum stanza_type type)
{
	struct stanza *r = stanza_new(st->kind);
	if (st->id) {
		xml_node_set_attr(r->arena, r->el, "id", st->id);
		r->id = xml_node_attr(r->el, "id");
	}
	stanza_set_type(r, type);
	/* A reply to a stanza without 'to' comes from the account itself
	 * (RFC 6120 §10.3.3): the sender's bare JID. */
	struct jid from = st->to;
	if (st->to_absent)
		from = jid_bare(&st->from);
	if (from.domain)
		stanza_set_from(r, &from);
	if (st->from.domain)
		stanza_set_to(r, &st->from);
	return r;
}

struct stanza *stanza_error(const struct stanza *st, enum stanza_etype etype, enum stanza_cond cond,
			    const char *text)
{
	struct stanza *r = stanza_reply(st, STANZA_TYPE_ERROR);
	struct xml_node *err = xml_node_add(r->arena, r->el, XML_NS_CLIENT, "error");
	xml_node_set_attr(r->arena, err, "type", etype_names[etype]);
	xml_node_add(r->arena, err, XML_NS_STANZAS, stanza_cond_name(cond));
	if (text) {
		struct xml_node *t = xml_node_add(r->arena, err, XML_NS_STANZAS, "text");
		xml_node_add_text(r->arena, t, text, strlen(text));
	}
	return r;
}

struct stanza *stanza_iq_result(const struct stanza *st)
{
	return stanza_reply(st, STANZA_TYPE_RESULT);
}
