/* Unit tests of router/remote.c: stanzas for other domains.  Without a
 * remote transport they are answered as before federation; with a fake
 * one: the link is made on the worker owning the remote domain, stanzas
 * queue while it connects and go out in order when it is up, the queue is
 * bounded, a failure answers what was queued (never an error), and a
 * stanza is serialised for jabber:server once, without jabber:client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/chunk.h"
#include "core/config.h"
#include "core/worker.h"
#include "router/remote.h"
#include "router/router.h"
#include "xml/xml.h"

/* ---- a two-worker server without threads ---- */

static struct config cfg;
static struct worker workers[2];
static struct shard shards[2];
static struct shard *shard_ptrs[2];
static struct server srv;

/* What reached local accounts (the senders' error replies), in order. */
enum { MAX_GOT = 64 };
static struct stanza *got[MAX_GOT];
static struct shard *got_on[MAX_GOT];
static int ngot;

static void hook_inbound(struct shard *sh, struct stanza *st)
{
	assert_true(ngot < MAX_GOT);
	got_on[ngot] = sh;
	got[ngot++] = st;
}

static void hook_server(struct shard *sh, struct stanza *st)
{
	(void)sh;
	stanza_free(st);
	fail_msg("nothing here is addressed to the server itself");
}

static const struct router_hooks hooks = {.inbound = hook_inbound, .server = hook_server};

/* ---- a fake remote transport ---- */

enum { MAX_SENT = 64 };
static struct {
	int starts, closes;
	struct remote_link *started; /* the last link started */
	bool up_at_once;             /* start: the link is up before start returns */
	struct chunk *sent[MAX_SENT]; /* kept references */
	struct remote_link *sent_on[MAX_SENT];
	int nsent;
	int total;                    /* sends, kept or not */
	bool refuse;                  /* send: the stream is closing */
	int refused;
} fake;

static void fake_start(struct remote_link *l)
{
	assert_int_equal(l->state, REMOTE_CONNECTING);
	assert_true(l->qlen > 0);
	fake.starts++;
	fake.started = l;
	if (fake.up_at_once)
		remote_link_up(l);
}

static bool fake_send(struct remote_link *l, struct chunk *wire)
{
	assert_int_equal(l->state, REMOTE_UP);
	if (fake.refuse) {
		fake.refused++;
		return false; /* the stream is closing */
	}
	fake.total++;
	if (fake.nsent == MAX_SENT)
		return true; /* counted, not kept */
	fake.sent_on[fake.nsent] = l;
	fake.sent[fake.nsent++] = chunk_ref(wire);
	return true;
}

static void fake_close(struct remote_link *l)
{
	(void)l;
	fake.closes++;
}

static const struct remote_transport fake_transport = {
	.start = fake_start,
	.send = fake_send,
	.close = fake_close,
};

/* ---- fixture ---- */

static int setup(void **state)
{
	(void)state;
	config_defaults(&cfg);
	cfg.hosts = calloc(2, sizeof(*cfg.hosts));
	cfg.hosts[0].domain = strdup("example.org");
	cfg.hosts[1].domain = strdup("example.net");
	cfg.nhosts = 2;
	srv.cfg = &cfg;
	srv.nworkers = 2;
	srv.workers = workers;
	srv.shards = shard_ptrs;
	for (unsigned i = 0; i < 2; i++) {
		worker_init(&workers[i], i, 64);
		shards[i].srv = &srv;
		shards[i].w = &workers[i];
		workers[i].ctx = &shards[i];
		shard_ptrs[i] = &shards[i];
	}
	router_set_hooks(&hooks);
	memset(&fake, 0, sizeof(fake));
	ngot = 0;
	router_remote_set_transport(&fake_transport);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		router_remote_shutdown(&shards[i]);
		struct mpsc_node *n;
		while ((n = mpsc_pop(&workers[i].inbox)) != NULL) {
			atomic_fetch_sub(&workers[i].inbox_len, 1);
			stanza_free(container_of(n, struct stanza, msg));
		}
		worker_discard(&workers[i]);
		free(shards[i].user_buckets);
		memset(&shards[i], 0, sizeof(shards[i]));
	}
	for (int i = 0; i < ngot; i++)
		stanza_free(got[i]);
	ngot = 0;
	for (int i = 0; i < fake.nsent; i++)
		chunk_unref(fake.sent[i]);
	memset(&fake, 0, sizeof(fake));
	router_remote_set_transport(NULL);
	config_free(&cfg);
	arena_cache_drain();
	return 0;
}

/* ---- helpers ---- */

/* A chunk's bytes are not NUL-terminated: search them by length. */
static bool chunk_has(const struct chunk *ch, const char *needle)
{
	return memmem(ch->data, ch->len, needle, strlen(needle)) != NULL;
}

/* A stanza as a client would send it (kind and attributes, then the rest
 * of the element), with from stamped and to parsed. */
static struct stanza *make(const char *kind, const char *attrs_and_body, const char *from, const char *to)
{
	char text[1024];
	snprintf(text, sizeof(text), "<%s xmlns='jabber:client' %s", kind, attrs_and_body);
	struct arena *a = arena_new();
	struct xml_node *el = xml_parse_fragment(a, text, strlen(text));
	assert_non_null(el);
	struct stanza *st = stanza_wrap(a, el);
	assert_non_null(st);
	assert_int_equal(jid_parse_str(st->arena, from, &st->from), 0);
	stanza_set_from(st, &st->from);
	assert_int_equal(jid_parse_str(st->arena, to, &st->to), 0);
	stanza_set_to(st, &st->to);
	return st;
}

/* A stanza read from a client stream by the stream parser, so that it
 * keeps its raw bytes, as one forwarded from a c2s session does. */
static struct arena *parsed_arena;
static struct xml_node *parsed_el;

static void on_header(void *ud, const struct xml_node *header)
{
	(void)ud;
	(void)header;
}

static void on_element(void *ud, struct arena *a, struct xml_node *root)
{
	(void)ud;
	assert_null(parsed_arena);
	parsed_arena = a;
	parsed_el = root;
}

static void on_end(void *ud)
{
	(void)ud;
}

/* Parses one top-level element from bytes inside a stream whose default
 * namespace is stream_ns; the element's arena is *a. */
static struct xml_node *parse_in_stream(const char *stream_ns, const char *xml, size_t len, struct arena **a)
{
	static const struct xml_parser_handler h = {on_header, on_element, on_end};
	const struct xml_limits lim = {65536, 4096, 64, 1000, 64, 65536};
	struct xml_parser *p = xml_parser_new(&lim, &h, NULL);
	char hdr[256];
	snprintf(hdr, sizeof(hdr),
		 "<stream:stream xmlns='%s' xmlns:stream='http://etherx.jabber.org/streams' "
		 "to='example.org' version='1.0'>",
		 stream_ns);
	assert_int_equal(xml_parser_feed(p, hdr, strlen(hdr), NULL), XML_FEED_OK);
	assert_int_equal(xml_parser_feed(p, xml, len, NULL), XML_FEED_OK);
	xml_parser_free(p);
	assert_non_null(parsed_arena);
	struct xml_node *el = parsed_el;
	*a = parsed_arena;
	parsed_arena = NULL;
	parsed_el = NULL;
	return el;
}

static struct stanza *make_from_stream(const char *xml, const char *from, const char *to)
{
	struct arena *a;
	struct xml_node *el = parse_in_stream(XML_NS_CLIENT, xml, strlen(xml), &a);
	struct stanza *st = stanza_wrap(a, el);
	assert_non_null(st);
	assert_int_equal(jid_parse_str(st->arena, from, &st->from), 0);
	stanza_set_from(st, &st->from);
	assert_int_equal(jid_parse_str(st->arena, to, &st->to), 0);
	stanza_set_to(st, &st->to);
	return st;
}

/* head + tail as one string (tail may be NULL). */
static char *parts_text(struct stanza *st, const char *ns)
{
	struct chunk *h, *t;
	stanza_wire_parts(st, ns, &h, &t);
	size_t n = h->len + (t ? t->len : 0);
	char *s = malloc(n + 1);
	memcpy(s, h->data, h->len);
	if (t)
		memcpy(s + h->len, t->data, t->len);
	s[n] = '\0';
	return s;
}

static char *wire_text(struct stanza *st, const char *ns)
{
	struct chunk *w = stanza_wire_ns(st, ns);
	char *s = malloc(w->len + 1);
	memcpy(s, w->data, w->len);
	s[w->len] = '\0';
	return s;
}

/* A presence copied to many contacts (issue 10: one serialisation for a
 * group): each copy's start tag carries its own 'to', the rest is one
 * chunk made once and shared; head + tail is byte for byte the whole
 * serialisation, in both stream namespaces. */
static void copies_share_one_tail(void **state)
{
	(void)state;
	static const char *const cases[] = {
		"<presence><show>away</show><status>s &amp; t</status>"
		"<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>",
		"<presence/>",
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct stanza *st = make_from_stream(cases[k], "a@x/r", "a@x");
		unsigned long made = stanza_tail_made();
		stanza_share_tail(st);
		assert_non_null(st->tail);
		struct chunk *shared = st->tail;
		for (int i = 0; i < 3; i++) {
			struct stanza *c = stanza_copy(st);
			struct jid to;
			char jid[32];
			snprintf(jid, sizeof(jid), "contact%d@x", i);
			assert_int_equal(jid_parse_str(c->arena, jid, &to), 0);
			stanza_set_to(c, &to);
			assert_ptr_equal(c->tail, shared);
			static const char *const nss[] = {XML_NS_CLIENT, XML_NS_SERVER};
			for (int n = 0; n < 2; n++) {
				char *p = parts_text(c, nss[n]);
				char *w = wire_text(c, nss[n]);
				assert_string_equal(p, w);
				assert_non_null(strstr(p, jid));
				free(p);
				free(w);
			}
			stanza_free(c);
		}
		assert_int_equal(stanza_tail_made() - made, 1);
		/* A change inside the tree drops the tail. */
		stanza_touch(st);
		assert_null(st->tail);
		stanza_free(st);
	}
	/* Without raw bytes there is no tail: the head is the whole. */
	struct stanza *n = stanza_new(STANZA_PRESENCE);
	struct chunk *h, *t;
	stanza_wire_parts(n, XML_NS_CLIENT, &h, &t);
	assert_null(t);
	assert_ptr_equal(h, stanza_wire(n));
	stanza_free(n);
}

static struct stanza *msg(const char *id, const char *from, const char *to)
{
	char attrs[128];
	snprintf(attrs, sizeof(attrs), "id='%s' type='chat'><body>hello %s</body></message>", id, id);
	return make("message", attrs, from, to);
}

/* A name of the form fmt % i whose owner (hash mod 2) is worker w. */
static const char *owned_by(unsigned w, const char *fmt, char *buf, size_t n)
{
	for (int i = 0; i < 1000; i++) {
		snprintf(buf, n, fmt, i);
		if (server_owner(&srv, buf) == w)
			return buf;
	}
	fail_msg("no name hashes to worker %u", w);
	return NULL;
}

/* Runs every posted message on both workers until both inboxes are
 * empty; returns how many ran. */
static int drain(void)
{
	int ran = 0;
	bool again = true;
	while (again) {
		again = false;
		for (unsigned i = 0; i < 2; i++) {
			struct mpsc_node *n;
			while ((n = mpsc_pop(&workers[i].inbox)) != NULL) {
				atomic_fetch_sub(&workers[i].inbox_len, 1);
				struct worker_msg *m = (struct worker_msg *)n;
				m->run(&workers[i], m);
				ran++;
				again = true;
			}
		}
	}
	return ran;
}

/* The i-th stanza that came back is an error with this condition (and
 * text, when given) for the stanza with this id. */
static void assert_error(int i, const char *id, const char *etype, const char *cond, const char *text)
{
	assert_true(i < ngot);
	struct stanza *e = got[i];
	assert_true(stanza_is_error(e));
	assert_non_null(e->id);
	assert_string_equal(e->id, id);
	struct xml_node *err = xml_node_child(e->el, NULL, "error");
	assert_non_null(err);
	assert_string_equal(xml_node_attr(err, "type"), etype);
	assert_non_null(xml_node_child(err, XML_NS_STANZAS, cond));
	if (text) {
		struct xml_node *t = xml_node_child(err, XML_NS_STANZAS, "text");
		assert_non_null(t);
		assert_non_null(strstr(xml_node_text(e->arena, t), text));
	}
}

/* ---- without a transport ---- */

static void no_transport_bounces_as_before(void **state)
{
	(void)state;
	router_remote_set_transport(NULL);
	assert_false(router_remote_enabled());
	char a[64], sender[80];
	owned_by(0, "user%d@example.org", a, sizeof(a));
	snprintf(sender, sizeof(sender), "%s/res", a);

	struct stanza *st = msg("q", sender, "someone@elsewhere.test");
	/* What the router answered before remote links existed, built the
	 * same way, to compare bytes. */
	struct stanza *want = stanza_error(st, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
					   "this server does not federate with other domains");
	router_route(&shards[0], st);
	assert_int_equal(ngot, 1);
	assert_ptr_equal(got_on[0], &shards[0]);
	assert_string_equal(got[0]->to.full, sender);
	assert_error(0, "q", "cancel", "remote-server-not-found",
		     "this server does not federate with other domains");
	struct chunk *w1 = stanza_wire(got[0]), *w2 = stanza_wire(want);
	assert_int_equal(w1->len, w2->len);
	assert_memory_equal(w1->data, w2->data, w1->len);
	stanza_free(want);

	/* iq get: answered too; an error: not answered */
	router_route(&shards[1], make("iq", "id='i1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>", sender,
				      "elsewhere.test"));
	drain();
	assert_int_equal(ngot, 2);
	assert_error(1, "i1", "cancel", "remote-server-not-found", NULL);
	router_route(&shards[0], make("message", "id='e' type='error'/>", sender, "x@elsewhere.test"));
	assert_int_equal(ngot, 2);
	/* nothing was queued, posted or started */
	assert_int_equal(drain(), 0);
	assert_int_equal(remote_link_count(&shards[0]) + remote_link_count(&shards[1]), 0);
	assert_int_equal(fake.starts, 0);
}

/* ---- with the fake transport ---- */

static void link_is_made_on_the_owner(void **state)
{
	(void)state;
	assert_true(router_remote_enabled());
	char far[64], near[64], a[64], sender[80];
	owned_by(1, "far%d.test", far, sizeof(far));
	owned_by(0, "near%d.test", near, sizeof(near));
	owned_by(0, "user%d@example.org", a, sizeof(a));
	snprintf(sender, sizeof(sender), "%s/res", a);
	char to[96];

	/* a domain owned by the other worker: posted, no link here */
	snprintf(to, sizeof(to), "bob@%s", far);
	router_route(&shards[0], msg("m1", sender, to));
	assert_int_equal(atomic_load(&workers[1].inbox_len), 1);
	assert_int_equal(remote_link_count(&shards[0]), 0);
	assert_int_equal(remote_link_count(&shards[1]), 0);
	assert_int_equal(fake.starts, 0);
	assert_int_equal(drain(), 1);
	assert_int_equal(remote_link_count(&shards[1]), 1);
	struct remote_link *l = remote_link_find(&shards[1], "example.org", far);
	assert_non_null(l);
	assert_ptr_equal(l->sh, &shards[1]);
	assert_ptr_equal(fake.started, l);
	assert_int_equal(l->state, REMOTE_CONNECTING);
	assert_int_equal(l->qlen, 1);
	assert_int_equal(fake.starts, 1);

	/* a second stanza for the same domain from worker 1 itself: no post,
	 * same link, no second start */
	router_route(&shards[1], msg("m2", sender, to));
	assert_int_equal(atomic_load(&workers[1].inbox_len), 0);
	assert_int_equal(remote_link_count(&shards[1]), 1);
	assert_int_equal(l->qlen, 2);
	assert_int_equal(fake.starts, 1);

	/* another of our domains to the same remote domain: its own link
	 * (its own authentication), on the same worker */
	router_route(&shards[0], msg("m3", "carol@example.net/x", to));
	drain();
	struct remote_link *l2 = remote_link_find(&shards[1], "example.net", far);
	assert_non_null(l2);
	assert_ptr_not_equal(l2, l);
	assert_int_equal(fake.starts, 2);

	/* a domain owned by this worker: made here at once */
	snprintf(to, sizeof(to), "%s", near);
	router_route(&shards[0], msg("m4", sender, to));
	assert_int_equal(atomic_load(&workers[0].inbox_len) + atomic_load(&workers[1].inbox_len), 0);
	assert_non_null(remote_link_find(&shards[0], "example.org", near));
	assert_null(remote_link_find(&shards[1], "example.org", near));
	assert_int_equal(ngot, 0);
	assert_int_equal(fake.nsent, 0);
}

static void queue_flushes_in_order_when_up(void **state)
{
	(void)state;
	char a[64], sender[80];
	owned_by(0, "user%d@example.org", a, sizeof(a));
	snprintf(sender, sizeof(sender), "%s/res", a);
	const char *ids[] = {"m1", "m2", "m3", "m4", "m5"};
	unsigned owner = server_owner(&srv, "remote.test");
	/* one sender is on one worker: through the owner's inbox, in order */
	for (int i = 0; i < 5; i++)
		router_route(&shards[1 - owner], msg(ids[i], sender, "bob@remote.test"));
	assert_int_equal(drain(), 5);
	struct remote_link *l = remote_link_find(&shards[owner], "example.org", "remote.test");
	assert_non_null(l);
	assert_int_equal(fake.starts, 1);
	assert_int_equal(l->qlen, 5);
	assert_int_equal(fake.nsent, 0);

	remote_link_up(l);
	assert_int_equal(l->state, REMOTE_UP);
	assert_int_equal(l->qlen, 0);
	assert_int_equal(fake.nsent, 5);
	for (int i = 0; i < 5; i++) {
		char idattr[16];
		snprintf(idattr, sizeof(idattr), "id='%s'", ids[i]);
		assert_true(chunk_has(fake.sent[i], idattr));
		assert_ptr_equal(fake.sent_on[i], l);
	}
	/* up: the next one goes straight out */
	router_route(&shards[owner], msg("m6", sender, "bob@remote.test"));
	assert_int_equal(fake.nsent, 6);
	assert_true(chunk_has(fake.sent[5], "id='m6'"));
	assert_int_equal(l->sent, 6);
	assert_int_equal(fake.starts, 1);

	/* down (idle close): idle, the next stanza starts it again */
	remote_link_down(l);
	assert_int_equal(l->state, REMOTE_IDLE);
	router_route(&shards[owner], msg("m7", sender, "bob@remote.test"));
	assert_int_equal(l->state, REMOTE_CONNECTING);
	assert_int_equal(fake.starts, 2);
	assert_int_equal(l->qlen, 1);
	assert_int_equal(ngot, 0);
}

/* A stream that is closing refuses a stanza: it stays queued, in order,
 * the link starts again at once, and nothing is lost or answered. */
static void refused_send_keeps_the_stanza(void **state)
{
	(void)state;
	char a[64], sender[80];
	owned_by(0, "user%d@example.org", a, sizeof(a));
	snprintf(sender, sizeof(sender), "%s/res", a);
	unsigned owner = server_owner(&srv, "remote.test");
	struct shard *sh = &shards[owner];
	router_route(sh, msg("r1", sender, "bob@remote.test"));
	struct remote_link *l = remote_link_find(sh, "example.org", "remote.test");
	assert_non_null(l);
	remote_link_up(l);
	assert_int_equal(fake.nsent, 1);
	fake.refuse = true;
	router_route(sh, msg("r2", sender, "bob@remote.test"));
	assert_int_equal(fake.refused, 1);
	assert_int_equal(l->state, REMOTE_CONNECTING); /* started again at once */
	assert_int_equal(fake.starts, 2);
	assert_int_equal(l->qlen, 1);
	router_route(sh, msg("r3", sender, "bob@remote.test"));
	assert_int_equal(l->qlen, 2);
	/* The new stream comes up but is closing already: nothing lost. */
	remote_link_up(l);
	assert_int_equal(l->qlen, 2);
	assert_int_equal(l->state, REMOTE_IDLE);
	/* Its end is reported: the queue starts the link again itself. */
	fake.refuse = false;
	remote_link_down(l);
	assert_int_equal(l->state, REMOTE_CONNECTING);
	assert_int_equal(fake.starts, 3);
	remote_link_up(l);
	assert_int_equal(l->qlen, 0);
	assert_int_equal(fake.nsent, 3);
	assert_true(chunk_has(fake.sent[1], "id='r2'"));
	assert_true(chunk_has(fake.sent[2], "id='r3'"));
	assert_int_equal(ngot, 0);
}

static void queue_is_bounded(void **state)
{
	(void)state;
	cfg.s2s.queue_max = 3;
	char a[64], sender[80];
	owned_by(0, "user%d@example.org", a, sizeof(a));
	snprintf(sender, sizeof(sender), "%s/res", a);
	unsigned owner = server_owner(&srv, "remote.test");
	struct shard *sh = &shards[owner];
	for (int i = 0; i < 3; i++) {
		char id[8];
		snprintf(id, sizeof(id), "m%d", i);
		router_route(sh, msg(id, sender, "bob@remote.test"));
	}
	struct remote_link *l = remote_link_find(sh, "example.org", "remote.test");
	assert_int_equal(l->qlen, 3);
	assert_int_equal(ngot, 0);

	router_route(sh, msg("over", sender, "bob@remote.test"));
	router_route(sh, make("iq", "id='iq-over' type='set'><query xmlns='jabber:iq:version'/></iq>", sender,
			      "remote.test"));
	/* an error over the bound is dropped, not answered */
	router_route(sh, make("message", "id='err-over' type='error'/>", sender, "bob@remote.test"));
	drain();
	assert_int_equal(l->qlen, 3);
	assert_int_equal(ngot, 2);
	assert_error(0, "over", "wait", "resource-constraint", "s2s.queue_max = 3");
	assert_error(1, "iq-over", "wait", "resource-constraint", "s2s.queue_max = 3");
	assert_string_equal(got[0]->to.full, sender);
	assert_string_equal(got[0]->from.full, "bob@remote.test");

	/* once up, room again */
	remote_link_up(l);
	router_route(sh, msg("after", sender, "bob@remote.test"));
	assert_int_equal(fake.nsent, 4);
	assert_int_equal(ngot, 2);
}

static void failure_bounces_the_queue(void **state)
{
	(void)state;
	char a[64], b[64], sa[80], sb[80];
	owned_by(0, "user%d@example.org", a, sizeof(a));
	owned_by(1, "user%d@example.org", b, sizeof(b));
	snprintf(sa, sizeof(sa), "%s/phone", a);
	snprintf(sb, sizeof(sb), "%s/laptop", b);
	/* each from its sender's own worker, one after the other */
	router_route(&shards[0], msg("m1", sa, "bob@remote.test"));
	drain();
	router_route(&shards[1], make("iq", "id='g1' type='get'><query xmlns='jabber:iq:version'/></iq>", sb,
				      "remote.test"));
	drain();
	router_route(&shards[0], make("message", "id='e1' type='error'><error type='cancel'>"
						 "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
						 "</error></message>",
				      sa, "bob@remote.test"));
	drain();
	router_route(&shards[1], make("presence", "id='p1' type='subscribe'/>", sb, "bob@remote.test"));
	drain();
	router_route(&shards[0], make("iq", "id='s1' type='set'><query xmlns='jabber:iq:private'/></iq>", sa,
				      "bob@remote.test/x"));
	drain();
	router_route(&shards[1], make("iq", "id='r1' type='result'/>", sb, "bob@remote.test/x"));
	drain();
	unsigned owner = server_owner(&srv, "remote.test");
	struct remote_link *l = remote_link_find(&shards[owner], "example.org", "remote.test");
	assert_int_equal(l->qlen, 6);
	assert_int_equal(ngot, 0);

	remote_link_fail(l, ETYPE_WAIT, STANZA_ERR_REMOTE_SERVER_TIMEOUT,
			 "no answer from remote.test within 30 s");
	assert_int_equal(l->state, REMOTE_FAILED);
	assert_int_equal(l->fail_cond, STANZA_ERR_REMOTE_SERVER_TIMEOUT);
	assert_int_equal(l->qlen, 0);
	drain();
	/* every stanza but the error, each to its sender on the sender's own
	 * worker, in queue order per sender (the two senders' answers cross
	 * between workers in no set order) */
	assert_int_equal(ngot, 5);
	const char *ids[] = {"m1", "g1", "p1", "s1", "r1"};
	const char *to[] = {sa, sb, sb, sa, sb};
	int at[5];
	for (int k = 0; k < 5; k++) {
		at[k] = -1;
		for (int i = 0; i < ngot; i++)
			if (strcmp(got[i]->id, ids[k]) == 0)
				at[k] = i;
		assert_true(at[k] >= 0);
		assert_error(at[k], ids[k], "wait", "remote-server-timeout", "no answer from remote.test within 30 s");
		assert_string_equal(got[at[k]]->to.full, to[k]);
		assert_ptr_equal(got_on[at[k]], &shards[server_owner(&srv, got[at[k]]->to.bare)]);
	}
	assert_true(at[0] < at[3]);                 /* sa: m1, s1 */
	assert_true(at[1] < at[2] && at[2] < at[4]); /* sb: g1, p1, r1 */
	assert_int_equal(fake.nsent, 0);

	/* failed: the next stanza tries again (the transport backs off) */
	router_route(&shards[owner], msg("m2", sa, "bob@remote.test"));
	assert_int_equal(fake.starts, 2);
	assert_int_equal(l->state, REMOTE_CONNECTING);
	/* a close while connecting is a failure */
	remote_link_down(l);
	drain();
	assert_int_equal(l->state, REMOTE_FAILED);
	assert_int_equal(ngot, 6);
	assert_error(5, "m2", "cancel", "remote-server-not-found", NULL);

	/* a transport that fails at once (backing off) answers at once */
	router_route(&shards[owner], msg("m3", sa, "bob@remote.test"));
	assert_int_equal(l->qlen, 1);
	remote_link_fail(l, ETYPE_CANCEL, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "no address for remote.test");
	drain();
	assert_int_equal(ngot, 7);
	assert_error(6, "m3", "cancel", "remote-server-not-found", "no address for remote.test");

	/* dropping a link forgets it */
	remote_link_drop(l);
	assert_null(remote_link_find(&shards[owner], "example.org", "remote.test"));
	assert_int_equal(remote_link_count(&shards[owner]), 0);
}

static void serialised_for_s2s_once(void **state)
{
	(void)state;
	fake.up_at_once = true;
	char a[64], sender[80];
	owned_by(0, "user%d@example.org", a, sizeof(a));
	snprintf(sender, sizeof(sender), "%s/res", a);
	unsigned owner = server_owner(&srv, "remote.test");
	unsigned other = 1 - owner;

	/* one stanza delivered to a local session and fanned out as copies
	 * (some through another worker's inbox) to the link */
	struct stanza *st = msg("once", sender, "bob@remote.test");
	unsigned long made = stanza_wire_made();
	struct chunk *client = stanza_wire(st);
	assert_int_equal(stanza_wire_made() - made, 1);
	struct chunk *server = stanza_wire_ns(st, XML_NS_SERVER);
	assert_ptr_not_equal(server, client);
	assert_ptr_equal(stanza_wire_ns(st, XML_NS_SERVER), server);
	assert_ptr_equal(stanza_wire_ns(st, XML_NS_CLIENT), client);
	assert_int_equal(stanza_wire_made() - made, 2);
	for (int i = 0; i < 4; i++)
		router_route(&shards[i % 2 ? other : owner], stanza_copy(st));
	router_route(&shards[owner], st);
	drain();
	assert_int_equal(fake.starts, 1);
	assert_int_equal(fake.nsent, 5);
	for (int i = 0; i < 5; i++)
		assert_ptr_equal(fake.sent[i], fake.sent[0]);
	/* the jabber:server bytes were made once for all five sends */
	assert_int_equal(stanza_wire_made() - made, 2);

	/* a change to the stanza drops both: the next send serialises again */
	st = msg("changed", sender, "bob@remote.test");
	stanza_wire_ns(st, XML_NS_SERVER);
	stanza_set_type(st, STANZA_TYPE_HEADLINE);
	made = stanza_wire_made();
	router_route(&shards[owner], st);
	assert_int_equal(stanza_wire_made() - made, 1);
	assert_true(chunk_has(fake.sent[5], "type='headline'"));
	assert_int_equal(ngot, 0);
}

/* What a receiving server reads from bytes sent on a link: the element,
 * parsed inside a jabber:server stream (*a to free). */
static struct xml_node *as_received(const struct chunk *c, struct arena **a)
{
	return parse_in_stream(XML_NS_SERVER, c->data, c->len, a);
}

/* The bytes on the link are jabber:server, and no jabber:client leaks. */
static void bytes_are_jabber_server(void **state)
{
	(void)state;
	fake.up_at_once = true;
	char a[64], sender[80];
	owned_by(0, "user%d@example.org", a, sizeof(a));
	snprintf(sender, sizeof(sender), "%s/res", a);
	unsigned owner = server_owner(&srv, "remote.test");
	struct shard *sh = &shards[owner];

	/* parsed from a client stream (raw bytes kept: only the start tag is
	 * written again) */
	struct stanza *st = make_from_stream("<message id='raw' type='chat'><body>hi &amp; bye</body>"
					     "<thread>t1</thread><x xmlns='urn:example:x'><y/></x></message>",
					     sender, "bob@remote.test");
	assert_non_null(st->el->raw);
	router_route(sh, st);
	/* the client named jabber:client on the stanza and a child (the
	 * parser drops the raw bytes for the re-declared child) */
	st = make_from_stream("<message xmlns='jabber:client' id='decl'>"
			      "<body xmlns='jabber:client'>explicit</body></message>",
			      sender, "bob@remote.test");
	router_route(sh, st);
	/* made by the server (no raw bytes): an error reply, its <error/>
	 * child in the content namespace too */
	struct stanza *orig = make("iq", "id='srv' type='get'/>", "bob@remote.test/x", sender);
	struct stanza *e = stanza_error(orig, ETYPE_CANCEL, STANZA_ERR_SERVICE_UNAVAILABLE, "nobody here");
	stanza_free(orig);
	assert_null(e->el->raw);
	router_route(sh, e);
	/* a presence built from scratch with a child */
	struct stanza *p = stanza_new(STANZA_PRESENCE);
	struct jid j;
	assert_int_equal(jid_parse_str(p->arena, sender, &j), 0);
	stanza_set_from(p, &j);
	assert_int_equal(jid_parse_str(p->arena, "bob@remote.test", &j), 0);
	stanza_set_to(p, &j);
	struct xml_node *show = xml_node_add(p->arena, p->el, NULL, "show");
	xml_node_add_text(p->arena, show, "away", 4);
	router_route(sh, p);

	assert_int_equal(fake.nsent, 4);
	const char *kinds[] = {"message", "message", "iq", "presence"};
	const char *child[] = {"body", "body", "error", "show"};
	for (int i = 0; i < 4; i++) {
		struct chunk *c = fake.sent[i];
		assert_false(chunk_has(c, "jabber:client"));
		struct arena *pa;
		struct xml_node *el = as_received(c, &pa);
		assert_string_equal(el->name, kinds[i]);
		assert_ptr_equal(el->ns, XML_NS_SERVER);
		struct xml_node *ch = xml_node_child(el, NULL, child[i]);
		assert_non_null(ch);
		assert_ptr_equal(ch->ns, XML_NS_SERVER);
		arena_free(pa);
	}
	assert_true(chunk_has(fake.sent[0], "<body>hi &amp; bye</body>"));
	assert_true(chunk_has(fake.sent[0], "<x xmlns='urn:example:x'><y/></x>"));
	assert_true(chunk_has(fake.sent[1], "<body>explicit</body>"));
	assert_true(chunk_has(fake.sent[2], "<error type='cancel'>"));
	assert_true(chunk_has(fake.sent[3], "<show>away</show>"));

	/* a stanza forwarded inside another (XEP-0297) stays jabber:client:
	 * that is its own namespace, not a leak */
	st = make_from_stream("<message id='fwd'><forwarded xmlns='urn:xmpp:forward:0'>"
			      "<message xmlns='jabber:client' from='x@example.org/y'><body>old</body></message>"
			      "</forwarded></message>",
			      sender, "bob@remote.test");
	router_route(sh, st);
	assert_int_equal(fake.nsent, 5);
	struct arena *pa;
	struct xml_node *el = as_received(fake.sent[4], &pa);
	assert_ptr_equal(el->ns, XML_NS_SERVER);
	struct xml_node *fwd = xml_node_child(el, "urn:xmpp:forward:0", "forwarded");
	assert_non_null(fwd);
	struct xml_node *inner = xml_node_child(fwd, NULL, "message");
	assert_non_null(inner);
	assert_ptr_equal(inner->ns, XML_NS_CLIENT);
	arena_free(pa);

	/* where the two serialisations differ, each cache holds its own: a
	 * child the stanza puts in jabber:server itself */
	st = make("message", "id='both'><t xmlns='jabber:server'/></message>", sender, "bob@remote.test");
	struct chunk *cw = stanza_wire(st);
	assert_true(chunk_has(cw, "<t xmlns='jabber:server'/>"));
	router_route(sh, st);
	assert_int_equal(fake.nsent, 6);
	assert_true(chunk_has(fake.sent[5], "<t/>"));
	assert_false(chunk_has(fake.sent[5], "jabber:client"));
	el = as_received(fake.sent[5], &pa);
	assert_ptr_equal(xml_node_child(el, NULL, "t")->ns, XML_NS_SERVER);
	arena_free(pa);
	assert_int_equal(ngot, 0);
}

static void no_relay_and_shutdown(void **state)
{
	(void)state;
	/* a stanza between two other domains is never put on a link */
	router_route(&shards[0], msg("relay", "mallory@evil.test/x", "bob@remote.test"));
	drain();
	assert_int_equal(remote_link_count(&shards[0]) + remote_link_count(&shards[1]), 0);
	assert_int_equal(fake.starts, 0);
	assert_int_equal(ngot, 0);

	/* shutdown closes every link through the transport and frees what
	 * waits (the sanitizer checks nothing leaks) */
	char a[64], sender[80];
	owned_by(0, "user%d@example.org", a, sizeof(a));
	snprintf(sender, sizeof(sender), "%s/res", a);
	for (int i = 0; i < 6; i++) {
		char to[64];
		snprintf(to, sizeof(to), "bob@d%d.test", i);
		router_route(&shards[0], msg("m", sender, to));
	}
	drain();
	assert_int_equal(remote_link_count(&shards[0]) + remote_link_count(&shards[1]), 6);
	router_remote_shutdown(&shards[0]);
	router_remote_shutdown(&shards[1]);
	assert_int_equal(fake.closes, 6);
	assert_int_equal(remote_link_count(&shards[0]) + remote_link_count(&shards[1]), 0);
	assert_int_equal(ngot, 0);
}

static void many_links_grow_the_table(void **state)
{
	(void)state;
	fake.up_at_once = true;
	char sender[] = "alice@example.org/r";
	for (int i = 0; i < 200; i++) {
		char to[64];
		snprintf(to, sizeof(to), "d%d.test", i);
		router_route(&shards[0], msg("m", sender, to));
		drain(); /* the fixture's inboxes hold 64 */
	}
	assert_int_equal(remote_link_count(&shards[0]) + remote_link_count(&shards[1]), 200);
	for (int i = 0; i < 200; i++) {
		char to[64];
		snprintf(to, sizeof(to), "d%d.test", i);
		struct remote_link *l = remote_link_find(&shards[server_owner(&srv, to)], "example.org", to);
		assert_non_null(l);
		assert_string_equal(l->remote, to);
		assert_int_equal(l->state, REMOTE_UP);
		assert_int_equal(l->sent, 1);
	}
	assert_int_equal(fake.starts, 200);
	assert_int_equal(fake.total, 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(no_transport_bounces_as_before, setup, teardown),
		cmocka_unit_test_setup_teardown(link_is_made_on_the_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(queue_flushes_in_order_when_up, setup, teardown),
		cmocka_unit_test_setup_teardown(refused_send_keeps_the_stanza, setup, teardown),
		cmocka_unit_test_setup_teardown(queue_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(failure_bounces_the_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(serialised_for_s2s_once, setup, teardown),
		cmocka_unit_test_setup_teardown(bytes_are_jabber_server, setup, teardown),
		cmocka_unit_test_setup_teardown(no_relay_and_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(many_links_grow_the_table, setup, teardown),
		cmocka_unit_test(copies_share_one_tail),
	};
	return cmocka_run_group_tests_name("router_remote", tests, NULL, NULL);
}
