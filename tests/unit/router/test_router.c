/* Unit tests of router/: stanzas (wrap, copy, errors, wire form), the
 * per-worker user registry, and where router_route sends a stanza: the
 * local im hook, another worker's inbox, the server hook, or back to the
 * sender as an error. */
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
#include "router/router.h"
#include "router/session.h"
#include "router/user.h"
#include "xml/xml.h"

/* ---- a two-worker server without threads ---- */

static struct config cfg;
static struct worker workers[2];
static struct shard shards[2];
static struct shard *shard_ptrs[2];
static struct server srv;

static struct stanza *last_inbound, *last_server;
static struct shard *last_shard;
static int inbound_calls, server_calls;

static void hook_inbound(struct shard *sh, struct stanza *st)
{
	stanza_free(last_inbound);
	last_inbound = st;
	last_shard = sh;
	inbound_calls++;
}

static void hook_server(struct shard *sh, struct stanza *st)
{
	stanza_free(last_server);
	last_server = st;
	last_shard = sh;
	server_calls++;
}

static const struct router_hooks hooks = {.inbound = hook_inbound, .server = hook_server};

/* A chunk's bytes are not NUL-terminated: search them by length. */
static bool chunk_has(const struct chunk *ch, const char *needle)
{
	return memmem(ch->data, ch->len, needle, strlen(needle)) != NULL;
}

static int setup(void **state)
{
	(void)state;
	config_defaults(&cfg);
	cfg.hosts = calloc(1, sizeof(*cfg.hosts));
	cfg.hosts[0].domain = strdup("example.org");
	cfg.nhosts = 1;
	srv.cfg = &cfg;
	srv.nworkers = 2;
	srv.workers = workers;
	srv.shards = shard_ptrs;
	for (unsigned i = 0; i < 2; i++) {
		worker_init(&workers[i], i, 2);
		shards[i].srv = &srv;
		shards[i].w = &workers[i];
		workers[i].ctx = &shards[i];
		shard_ptrs[i] = &shards[i];
	}
	router_set_hooks(&hooks);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		worker_discard(&workers[i]);
		free(shards[i].user_buckets);
		memset(&shards[i], 0, sizeof(shards[i]));
	}
	config_free(&cfg);
	stanza_free(last_inbound);
	stanza_free(last_server);
	last_inbound = last_server = NULL;
	arena_cache_drain();
	return 0;
}

/* A stanza as a client would send it, with from/to parsed. */
static struct stanza *make(const char *xml_attrs_and_body, const char *from, const char *to)
{
	char text[512];
	snprintf(text, sizeof(text), "<message xmlns='jabber:client' %s", xml_attrs_and_body);
	struct arena *a = arena_new();
	struct xml_node *el = xml_parse_fragment(a, text, strlen(text));
	assert_non_null(el);
	struct stanza *st = stanza_wrap(a, el);
	assert_non_null(st);
	if (from) {
		assert_int_equal(jid_parse_str(st->arena, from, &st->from), 0);
		stanza_set_from(st, &st->from);
	}
	if (to)
		assert_int_equal(jid_parse_str(st->arena, to, &st->to), 0);
	return st;
}

static const char *owned_by(unsigned w, char *buf, size_t n)
{
	for (int i = 0; i < 1000; i++) {
		snprintf(buf, n, "user%d@example.org", i);
		if (server_owner(&srv, buf) == w)
			return buf;
	}
	fail_msg("no JID hashes to worker %u", w);
	return NULL;
}

static void wrap_refuses_non_stanzas(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	const char *x = "<foo xmlns='jabber:client'/>";
	struct xml_node *el = xml_parse_fragment(a, x, strlen(x));
	assert_null(stanza_wrap(a, el));
	const char *y = "<message xmlns='urn:other'/>";
	el = xml_parse_fragment(a, y, strlen(y));
	assert_null(stanza_wrap(a, el));
	arena_free(a);
}

static void copy_and_error_reply(void **state)
{
	(void)state;
	struct stanza *st = make("id='m1' type='chat' to='bob@example.org'><body>hi &amp; bye</body></message>",
				 "alice@example.org/phone", "bob@example.org");
	assert_int_equal(st->kind, STANZA_MESSAGE);
	assert_int_equal(st->type, STANZA_TYPE_CHAT);
	assert_string_equal(st->id, "m1");
	struct stanza *c = stanza_copy(st);
	assert_ptr_not_equal(c->arena, st->arena);
	assert_string_equal(c->from.full, "alice@example.org/phone");
	assert_string_equal(c->to.bare, "bob@example.org");
	struct chunk *w1 = stanza_wire(st), *w2 = stanza_wire(c);
	assert_int_equal(w1->len, w2->len);
	assert_memory_equal(w1->data, w2->data, w1->len);
	assert_true(chunk_has(w1, "from='alice@example.org/phone'"));
	assert_true(chunk_has(w1, "hi &amp; bye"));
	/* the wire form is cached until the stanza changes */
	assert_ptr_equal(stanza_wire(st), w1);
	struct jid nj;
	jid_parse_str(st->arena, "carol@example.org", &nj);
	stanza_set_to(st, &nj);
	assert_ptr_not_equal(stanza_wire(st), NULL);
	assert_true(chunk_has(stanza_wire(st), "to='carol@example.org'"));

	struct stanza *e = stanza_error(c, ETYPE_CANCEL, STANZA_ERR_SERVICE_UNAVAILABLE, "nobody here");
	assert_true(stanza_is_error(e));
	assert_string_equal(e->to.full, "alice@example.org/phone");
	assert_string_equal(e->from.full, "bob@example.org");
	assert_string_equal(e->id, "m1");
	struct chunk *ew = stanza_wire(e);
	char *s = strndup(ew->data, ew->len);
	assert_non_null(strstr(s, "<error type='cancel'>"));
	assert_non_null(strstr(s, "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"));
	assert_non_null(strstr(s, "nobody here"));
	free(s);
	stanza_free(e);
	stanza_free(c);
	stanza_free(st);
}

static void registry_adds_finds_drops(void **state)
{
	(void)state;
	struct shard *sh = &shards[0];
	char name[64];
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "u%d@example.org", i);
		struct user *u = user_get(sh, name);
		assert_ptr_equal(user_get(sh, name), u);
	}
	assert_int_equal(sh->nusers, 500);
	assert_non_null(user_find(sh, "u499@example.org"));
	assert_null(user_find(sh, "u500@example.org"));
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "u%d@example.org", i);
		user_drop(sh, user_find(sh, name));
	}
	assert_int_equal(sh->nusers, 0);
	assert_null(user_find(sh, "u1@example.org"));
}

static void owner_is_stable_and_spread(void **state)
{
	(void)state;
	int count[2] = {0, 0};
	char name[64];
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "n%d@example.org", i);
		unsigned o = server_owner(&srv, name);
		assert_int_equal(server_owner(&srv, name), o);
		count[o]++;
	}
	/* SipHash spreads 1000 names roughly evenly */
	assert_true(count[0] > 350 && count[1] > 350);
}

static void route_local_remote_server_foreign(void **state)
{
	(void)state;
	char a[64], b[64];
	owned_by(0, a, sizeof(a));
	owned_by(1, b, sizeof(b));

	/* owned by this worker: straight to the inbound hook */
	inbound_calls = 0;
	router_route(&shards[0], make("/>", "x@example.org/r", a));
	assert_int_equal(inbound_calls, 1);
	assert_ptr_equal(last_shard, &shards[0]);
	assert_string_equal(last_inbound->to.bare, a);

	/* owned by the other worker: posted, not run here */
	router_route(&shards[0], make("/>", "x@example.org/r", b));
	assert_int_equal(inbound_calls, 1);
	assert_int_equal(atomic_load(&workers[1].inbox_len), 1);
	struct mpsc_node *n = mpsc_pop(&workers[1].inbox);
	assert_non_null(n);
	atomic_fetch_sub(&workers[1].inbox_len, 1);
	((struct worker_msg *)n)->run(&workers[1], (struct worker_msg *)n);
	assert_int_equal(inbound_calls, 2);
	assert_ptr_equal(last_shard, &shards[1]);
	assert_string_equal(last_inbound->to.bare, b);

	/* the domain itself: the server hook */
	server_calls = 0;
	router_route(&shards[0], make("/>", "x@example.org/r", "example.org"));
	assert_int_equal(server_calls, 1);

	/* a foreign domain: an error back to the (local) sender */
	char sender[80];
	snprintf(sender, sizeof(sender), "%s/res", a);
	router_route(&shards[0], make("id='q'/>", sender, "someone@elsewhere.test"));
	assert_int_equal(inbound_calls, 3);
	assert_true(stanza_is_error(last_inbound));
	assert_string_equal(last_inbound->to.full, sender);
	assert_true(chunk_has(stanza_wire(last_inbound), "remote-server-not-found"));
}

static void full_inbox_bounces_with_wait(void **state)
{
	(void)state;
	char a[64], b[64], sender[80];
	owned_by(0, a, sizeof(a));
	owned_by(1, b, sizeof(b));
	snprintf(sender, sizeof(sender), "%s/res", a);
	inbound_calls = 0;
	/* inbox_max is 2 in this fixture */
	router_route(&shards[0], make("/>", sender, b));
	router_route(&shards[0], make("/>", sender, b));
	assert_int_equal(atomic_load(&workers[1].inbox_len), 2);
	assert_int_equal(inbound_calls, 0);
	router_route(&shards[0], make("id='third'/>", sender, b));
	assert_int_equal(inbound_calls, 1);
	assert_true(stanza_is_error(last_inbound));
	assert_string_equal(last_inbound->id, "third");
	assert_true(chunk_has(stanza_wire(last_inbound), "resource-constraint"));
	struct mpsc_node *n;
	while ((n = mpsc_pop(&workers[1].inbox)) != NULL) {
		atomic_fetch_sub(&workers[1].inbox_len, 1);
		stanza_free(container_of(n, struct stanza, msg));
	}
	/* an error is never answered with another error */
	router_bounce(&shards[0], make("type='error'/>", sender, b), ETYPE_CANCEL, STANZA_ERR_UNDEFINED_CONDITION, NULL);
	assert_int_equal(inbound_calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(wrap_refuses_non_stanzas, setup, teardown),
		cmocka_unit_test_setup_teardown(copy_and_error_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(registry_adds_finds_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(owner_is_stable_and_spread, setup, teardown),
		cmocka_unit_test_setup_teardown(route_local_remote_server_foreign, setup, teardown),
		cmocka_unit_test_setup_teardown(full_inbox_bounces_with_wait, setup, teardown),
	};
	return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
