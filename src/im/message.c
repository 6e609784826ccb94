/*
 * message: delivery rules of RFC 6121 §8.5 for messages to a local account,
 * and offline storage (XEP-0160 behaviour, XEP-0203 delay stamps) for chat
 * and normal messages to an account with no available resource.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"
#include "im/internal.h"
#include "xml/xml.h"

/* The highest priority among available, non-negative resources; -1 when
 * there is none. */
static int best_priority(struct user *u)
{
	int best = -1;
	if (!u)
		return -1;
	list_for_each(pos, &u->sessions)
	{
		struct session *s = list_entry(pos, struct session, link);
		if (s->available && s->priority >= 0 && s->priority > best)
			best = s->priority;
	}
	return best;
}

/*
 * The quota is checked by the store against counters it keeps per account
 * (store.h: store_offline_usage), so a full account costs the same as an
 * empty one.  The bytes counted are those stored: the stanza as serialised
 * here, delay stamp included.  A refused message leaves what is stored as
 * it was; that is delivered on login as usual.
 */
static void offline_full(struct shard *sh, struct stanza *st, enum store_offline_limit limit,
			 const struct store_offline_usage *used, size_t len)
{
	const struct config *cfg = sh->srv->cfg;
	char text[160];
	if (limit == STORE_OFFLINE_COUNT) {
		log_info("im",
			 "offline storage of %s is full (%u messages, im.offline_max): refusing a message "
			 "from %s; raise im.offline_max to store more",
			 st->to.bare, cfg->im.offline_max, st->from.full);
		snprintf(text, sizeof(text),
			 "the recipient's offline storage is full (message count limit: %u messages)",
			 cfg->im.offline_max);
	} else {
		log_info("im",
			 "offline storage of %s is full (%zu bytes, im.offline_max_bytes): %zu bytes in "
			 "%zu messages stored, refusing a message of %zu bytes from %s; raise "
			 "im.offline_max_bytes to store more",
			 st->to.bare, cfg->im.offline_max_bytes, used->bytes, used->count, len,
			 st->from.full);
		snprintf(text, sizeof(text),
			 "the recipient's offline storage is full (byte limit: %zu bytes)",
			 cfg->im.offline_max_bytes);
	}
	/* cancel: the sender cannot know when the recipient will make room. */
	im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_SERVICE_UNAVAILABLE, text);
}

static void offline_store(struct shard *sh, struct stanza *st)
{
	const struct config *cfg = sh->srv->cfg;
	/* XEP-0203: when the server received it. */
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	struct xml_node *d = xml_node_add(st->arena, st->el, XML_NS_DELAY, "delay");
	xml_node_set_attr(st->arena, d, "from", st->to.domain);
	xml_node_set_attr(st->arena, d, "stamp", stamp);
	stanza_touch(st);
	struct buf b = BUF_INIT;
	xml_serialize(&b, st->el, XML_NS_CLIENT);
	const struct store_offline_quota quota = {cfg->im.offline_max, cfg->im.offline_max_bytes};
	struct store_offline_usage used;
	enum store_offline_limit limit;
	size_t len = b.len;
	int r = store_offline_push(sh->store, st->to.bare, b.data, len, &quota, &used, &limit);
	buf_clear(&b);
	if (r == STORE_OK) {
		metrics_stanza(&sh->w->metrics, st->kind, METRIC_OUTCOME_OFFLINE);
		stanza_free(st);
		return;
	}
	if (r == STORE_FULL) {
		offline_full(sh, st, limit, &used, len);
		return;
	}
	log_error("im", "cannot store an offline message for %s: %s", st->to.bare, store_error(sh->store));
	im_error(sh, st, ETYPE_WAIT, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
}

/* ---- to the bare JID (or a full JID treated as bare) ---- */

/* normal and chat: the resources of the highest non-negative priority,
 * else offline storage. */
static void bare_to_best(struct shard *sh, struct user *u, struct stanza *st)
{
	int best = best_priority(u);
	if (best < 0) {
		offline_store(sh, st);
		return;
	}
	im_deliver_available(u, st, true, best, NULL);
	stanza_free(st);
}

/* headline and error: every non-negative resource, else nobody. */
static void bare_to_all(struct shard *sh, struct user *u, struct stanza *st)
{
	(void)sh;
	if (best_priority(u) >= 0)
		im_deliver_available(u, st, true, 0, NULL);
	stanza_free(st);
}

/* groupchat: an account is not a room. */
static void bare_refuse(struct shard *sh, struct user *u, struct stanza *st)
{
	(void)u;
	im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
}

/* RFC 6121 §8.5, one row per message type. */
static const struct msg_rule {
	bool refuse_no_account; /* §8.5.2: service-unavailable, else dropped */
	bool drop_no_resource;  /* §8.5.3.2: dropped, else as to the bare JID */
	void (*to_bare)(struct shard *sh, struct user *u, struct stanza *st);
} msg_rules[] = {
	/* Unknown types are treated as normal (RFC 6121 §5.2.2). */
	[STANZA_TYPE_UNKNOWN] = {.refuse_no_account = true, .to_bare = bare_to_best},
	[STANZA_TYPE_NORMAL] = {.refuse_no_account = true, .to_bare = bare_to_best},
	[STANZA_TYPE_CHAT] = {.refuse_no_account = true, .to_bare = bare_to_best},
	[STANZA_TYPE_GROUPCHAT] = {.to_bare = bare_refuse},
	[STANZA_TYPE_HEADLINE] = {.drop_no_resource = true, .to_bare = bare_to_all},
	[STANZA_TYPE_ERROR] = {.drop_no_resource = true, .to_bare = bare_to_all},
};

static const struct msg_rule *msg_rule(const struct stanza *st)
{
	/* A message has one of the types above (stanza_type_parse). */
	if ((unsigned)st->type >= sizeof(msg_rules) / sizeof(msg_rules[0]) || !msg_rules[st->type].to_bare)
		return &msg_rules[STANZA_TYPE_UNKNOWN];
	return &msg_rules[st->type];
}

void message_inbound(struct shard *sh, struct stanza *st)
{
	const struct msg_rule *rule = msg_rule(st);
	struct user *u = user_find(sh, st->to.bare);
	if (!u && !im_account_exists(sh, st->to.bare)) {
		/* RFC 6121 §8.5.2: no such account. */
		if (rule->refuse_no_account)
			im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
		else
			stanza_free(st);
		return;
	}
	if (!jid_is_bare(&st->to)) {
		struct session *s = u ? user_session(u, st->to.resource) : NULL;
		if (s) {
			router_send_to_session(s, st);
			stanza_free(st);
			return;
		}
		/* RFC 6121 §8.5.3.2: no such resource. */
		if (rule->drop_no_resource) {
			stanza_free(st);
			return;
		}
	}
	rule->to_bare(sh, u, st);
}

void offline_deliver(struct shard *sh, struct session *s)
{
	const struct config *cfg = sh->srv->cfg;
	struct arena *a = arena_new();
	struct store_offline_msg *msgs;
	size_t n;
	if (store_offline_get(sh->store, a, s->jid->bare, 0, &msgs, &n) != STORE_OK) {
		log_error("im", "cannot read offline messages of %s: %s", s->jid->bare, store_error(sh->store));
		arena_free(a);
		return;
	}
	/* All of it is queued in this loop iteration, and a connection whose
	 * queue passes limits.outq_bytes is dropped, after the messages were
	 * deleted.  The defaults leave room (1 MiB stored, 2 MiB of queue);
	 * should im.offline_max_bytes be raised past half the queue, what does
	 * not fit in that half stays stored for the next login. */
	size_t budget = cfg->limits.outq_bytes / 2, sent = 0, bytes = 0;
	for (; sent < n; sent++) {
		if (sent > 0 && (bytes >= budget || msgs[sent].len > budget - bytes))
			break;
		s->ops->send_bytes(s, msgs[sent].xml, msgs[sent].len);
		bytes += msgs[sent].len;
	}
	if (sent) {
		if (store_offline_delete(sh->store, s->jid->bare, msgs[sent - 1].id) != STORE_OK)
			log_error("im", "cannot delete delivered offline messages of %s: %s (they may come again)",
				  s->jid->bare, store_error(sh->store));
		log_info("im", "delivered %zu offline message%s to %s", sent, sent == 1 ? "" : "s", s->jid->full);
	}
	if (sent < n)
		log_warn("im",
			 "%zu offline message%s of %s stay%s stored for its next login: more than half of "
			 "limits.outq_bytes (%zu bytes) at once; keep im.offline_max_bytes below half of it",
			 n - sent, n - sent == 1 ? "" : "s", s->jid->bare, n - sent == 1 ? "s" : "",
			 cfg->limits.outq_bytes);
	arena_free(a);
}
