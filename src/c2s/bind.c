/*
 * c2s bind: resource binding (RFC 6120 §7) and the bound session.  Binding
 * happens on the worker that owns the account (the stream moved there after
 * SASL), so the user's sessions are all local and need no locks.  After
 * binding, every stanza is checked (kind, addresses), stamped with the
 * session's full JID and handed to the router.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "c2s/c2s.h"
#include "c2s/internal.h"
#include "core/arena.h"
#include "core/chunk.h"
#include "core/conn.h"
#include "core/log.h"
#include "router/router.h"
#include "router/stanza.h"
#include "router/user.h"
#include "tls/tls.h"
#include "xml/xml.h"

static void session_send(struct session *se, struct stanza *st);
static void session_send_bytes(struct session *se, const char *xml, size_t len);
static void session_kick(struct session *se, enum stream_cond cond, const char *text);
static void session_describe(const struct session *se, struct session_info *out);

static const struct session_ops c2s_session_ops = {
	.send = session_send,
	.send_bytes = session_send_bytes,
	.kick = session_kick,
	.describe = session_describe,
};

void c2s_bound_features(struct c2s_stream *s, struct buf *out)
{
	(void)s;
	buf_append_str(out, "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
			    "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>"
			    "<ver xmlns='urn:xmpp:features:rosterver'/>"
			    "<sub xmlns='urn:xmpp:features:pre-approval'/>");
}

/* ---- session ops ---- */

static void session_send(struct session *se, struct stanza *st)
{
	struct c2s_stream *s = container_of(se, struct c2s_stream, session);
	if (s->xs.state != XS_READY)
		return;
	metrics_stanza(&s->sh->w->metrics, st->kind, METRIC_OUTCOME_DELIVERED);
	/* A stanza whose body is shared (a presence broadcast: one body for
	 * every contact) goes out as its own start tag and the shared rest;
	 * any other as one chunk, the cheaper for a single addressee. */
	struct chunk *parts[2];
	if (st->tail) {
		stanza_wire_parts(st, XML_NS_CLIENT, &parts[0], &parts[1]);
		xs_write_chunks(&s->xs, parts, parts[1] ? 2 : 1);
		return;
	}
	parts[0] = stanza_wire(st);
	xs_write_chunks(&s->xs, parts, 1);
}

static void session_send_bytes(struct session *se, const char *xml, size_t len)
{
	struct c2s_stream *s = container_of(se, struct c2s_stream, session);
	if (s->xs.state == XS_READY)
		xs_write(&s->xs, xml, len);
}

static void session_kick(struct session *se, enum stream_cond cond, const char *text)
{
	struct c2s_stream *s = container_of(se, struct c2s_stream, session);
	c2s_session_end(s);
	xs_error(&s->xs, cond, text);
}

static void session_describe(const struct session *se, struct session_info *out)
{
	const struct c2s_stream *s = container_of(se, struct c2s_stream, session);
	void *t = conn_transport(s->xs.conn);
	out->transport = s->framing ? s->framing->transport : s->direct_tls ? "direct tls" : t ? "starttls" : "tcp";
	out->tls = t ? tls_session_version(t) : NULL;
	out->mechanism = xs_sasl_mechanism(&s->sasl);
	snprintf(out->address, sizeof(out->address), "%s", conn_peer(s->xs.conn));
}

void c2s_session_end(struct c2s_stream *s)
{
	if (!s->bound)
		return;
	s->bound = false;
	router_session_unbind(s->sh, &s->session);
	free(s->session.jid);
	s->session.jid = NULL;
}

/* ---- replies written straight to this stream ---- */

static void reply(struct c2s_stream *s, struct stanza *r)
{
	struct chunk *wire = stanza_wire(r);
	xs_write_chunks(&s->xs, &wire, 1);
	stanza_free(r);
}

static void reply_error(struct c2s_stream *s, struct stanza *st, enum stanza_etype t, enum stanza_cond cond,
			const char *text)
{
	if (!stanza_is_error(st))
		reply(s, stanza_error(st, t, cond, text));
	stanza_free(st);
}

/* ---- binding ---- */

static void random_resource(char *out, size_t n)
{
	unsigned char r[6];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		log_fatal("c2s", "no randomness for a resource");
	snprintf(out, n, "parley-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
}

static void bind_resource(struct c2s_stream *s, struct stanza *st, struct xml_node *bind)
{
	const struct config *cfg = s->sh->srv->cfg;
	struct arena *a = st->arena;
	struct xml_node *res = xml_node_child(bind, XML_NS_BIND, "resource");
	const char *want = res ? xml_node_text(a, res) : "";
	char generated[32];
	if (!*want) {
		random_resource(generated, sizeof(generated));
		want = generated;
	}
	struct jid full;
	if (jid_make(a, s->jid->local, s->jid->domain, want, &full) < 0) {
		reply_error(s, st, ETYPE_MODIFY, STANZA_ERR_BAD_REQUEST, "the resource is not a valid resourcepart");
		return;
	}
	struct user *u = user_find(s->sh, full.bare);
	if (u && u->nsessions >= cfg->c2s.max_sessions_per_user) {
		log_warn("c2s", "conn=%llu %s: bind refused: %u sessions already (c2s.max_sessions_per_user)",
			 (unsigned long long)conn_id(s->xs.conn), full.bare, u->nsessions);
		reply_error(s, st, ETYPE_WAIT, STANZA_ERR_RESOURCE_CONSTRAINT, "too many sessions for this account");
		return;
	}
	struct session *old = u ? user_session(u, full.resource) : NULL;
	if (old) {
		switch (cfg->c2s.resource_conflict) {
		case CONFLICT_REJECT:
			log_info("c2s", "conn=%llu bind of %s refused: resource in use (c2s.resource_conflict = reject)",
				 (unsigned long long)conn_id(s->xs.conn), full.full);
			reply_error(s, st, ETYPE_CANCEL, STANZA_ERR_CONFLICT, "this resource is in use");
			return;
		case CONFLICT_RENAME:
			random_resource(generated, sizeof(generated));
			if (jid_make(a, s->jid->local, s->jid->domain, generated, &full) < 0) {
				reply_error(s, st, ETYPE_WAIT, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
				return;
			}
			break;
		default:
			log_info("c2s", "conn=%llu %s replaces session conn=%llu (c2s.resource_conflict = replace)",
				 (unsigned long long)conn_id(s->xs.conn), full.full, (unsigned long long)old->id);
			old->ops->kick(old, STREAM_ERR_CONFLICT, "replaced by a new connection for this resource");
			break;
		}
	}
	memset(&s->session, 0, sizeof(s->session));
	s->session.ops = &c2s_session_ops;
	s->session.jid = jid_dup(&full);
	s->session.id = conn_id(s->xs.conn);
	s->session.bound_at = (int64_t)time(NULL);
	s->bound = true;
	s->xs.state = XS_READY;

	struct stanza *r = stanza_iq_result(st);
	struct xml_node *b = xml_node_add(r->arena, r->el, XML_NS_BIND, "bind");
	struct xml_node *j = xml_node_add(r->arena, b, XML_NS_BIND, "jid");
	xml_node_add_text(r->arena, j, full.full, strlen(full.full));
	/* The reply goes to the new full JID. */
	stanza_set_to(r, &full);
	reply(s, r);
	stanza_free(st);

	log_info("c2s", "conn=%llu bound %s", (unsigned long long)conn_id(s->xs.conn), s->session.jid->full);
	router_session_bind(s->sh, &s->session);
}

/* ---- stanzas ---- */

/* The checks RFC 6120 asks of a server for a client stanza; false when
 * the stanza was answered (and freed) or the stream ended. */
static bool stanza_check(struct c2s_stream *s, struct stanza *st)
{
	const struct jid *me = s->session.jid;
	const char *from = xml_node_attr(st->el, "from");
	if (from) {
		/* RFC 6120 §8.1.2.1: a client may only name itself. */
		struct jid f;
		if (jid_parse_str(st->arena, from, &f) < 0 ||
		    (strcmp(f.full, me->full) != 0 && strcmp(f.full, me->bare) != 0)) {
			char text[200];
			snprintf(text, sizeof(text), "'from' must be your own JID, not '%.120s'", from);
			stanza_free(st);
			xs_error(&s->xs, STREAM_ERR_INVALID_FROM, text);
			return false;
		}
	}
	const char *to = xml_node_attr(st->el, "to");
	if (to) {
		if (jid_parse_str(st->arena, to, &st->to) < 0) {
			reply_error(s, st, ETYPE_MODIFY, STANZA_ERR_JID_MALFORMED, "the 'to' address is not a valid JID");
			return false;
		}
	} else {
		st->to = jid_bare(me);
		st->to_absent = true;
	}
	if (st->kind == STANZA_IQ) {
		/* Every type stanza_type_parse knows for an iq is valid on it. */
		if (st->type == STANZA_TYPE_UNKNOWN || !st->id) {
			reply_error(s, st, ETYPE_MODIFY, STANZA_ERR_BAD_REQUEST, "an iq needs an id and a type of get, set, result or error");
			return false;
		}
		if (stanza_is_request(st) && xml_node_count_elements(st->el) != 1) {
			reply_error(s, st, ETYPE_MODIFY, STANZA_ERR_BAD_REQUEST, "an iq get or set carries exactly one child element");
			return false;
		}
	}
	return true;
}

void c2s_session_element(struct c2s_stream *s, struct arena *a, struct xml_node *el)
{
	struct stanza *st = stanza_wrap(a, el);
	if (!st) {
		char text[256];
		snprintf(text, sizeof(text), "<%.60s xmlns='%.80s'> is not a stanza this server handles", el->name, el->ns);
		arena_free(a);
		xs_error(&s->xs, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, text);
		return;
	}
	if (!s->bound) {
		struct xml_node *bind =
			st->type == STANZA_TYPE_SET ? xml_node_child(st->el, XML_NS_BIND, "bind") : NULL;
		if (bind && st->id) {
			st->from = *s->jid;
			bind_resource(s, st, bind);
			return;
		}
		stanza_free(st);
		xs_error(&s->xs, STREAM_ERR_NOT_AUTHORIZED, "bind a resource before sending stanzas");
		return;
	}
	if (!stanza_check(s, st))
		return;
	stanza_set_from(st, s->session.jid);
	if (stanza_is_request(st) && st->to_absent) {
		struct xml_node *q = xml_node_first_element(st->el);
		if (q->ns == XML_NS_SESSION) {
			/* RFC 3921 session establishment: a no-op kept for old clients. */
			reply(s, stanza_iq_result(st));
			stanza_free(st);
			return;
		}
		if (q->ns == XML_NS_BIND) {
			reply_error(s, st, ETYPE_CANCEL, STANZA_ERR_NOT_ALLOWED, "this stream has a bound resource already");
			return;
		}
	}
	router_from_session(s->sh, &s->session, st);
}
