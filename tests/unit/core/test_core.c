/* Unit tests of core/: arena, buf, mpsc, hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/hash.h"
#include "core/mpsc.h"

static void arena_allocations_are_aligned_and_independent(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	char *s = arena_strdup(a, "hello");
	void *big = arena_alloc(a, 10000);
	void *p = arena_alloc(a, 3);
	assert_int_equal((uintptr_t)big % 8, 0);
	assert_int_equal((uintptr_t)p % 8, 0);
	memset(big, 0x55, 10000);
	assert_string_equal(s, "hello");
	for (int i = 0; i < 2000; i++)
		arena_alloc(a, 17);
	assert_true(arena_used(a) >= 10000 + 2000 * 24);
	assert_string_equal(arena_printf(a, "%d-%s", 7, s), "7-hello");
	arena_reset(a);
	assert_int_equal(arena_used(a), 0);
	arena_free(a);
	arena_cache_drain();
}

static void buf_grows_and_consumes(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%03d", i % 1000);
	assert_int_equal(b.len, 3000);
	buf_consume(&b, 2997);
	assert_string_equal(buf_cstr(&b), "999");
	char *s = buf_steal(&b);
	assert_null(b.data);
	assert_string_equal(s, "999");
	free(s);
	buf_clear(&b);
}

struct item {
	struct mpsc_node node;
	int v;
};

static void mpsc_is_fifo(void **state)
{
	(void)state;
	struct mpsc q;
	struct item items[5];
	mpsc_init(&q);
	assert_null(mpsc_pop(&q));
	for (int i = 0; i < 5; i++) {
		items[i].v = i;
		mpsc_push(&q, &items[i].node);
	}
	for (int i = 0; i < 5; i++) {
		struct mpsc_node *n = mpsc_pop(&q);
		assert_non_null(n);
		assert_int_equal(((struct item *)n)->v, i);
	}
	assert_null(mpsc_pop(&q));
}

static void hash_differs_and_is_stable(void **state)
{
	(void)state;
	assert_int_equal(hash_str("alice@localhost"), hash_str("alice@localhost"));
	assert_int_not_equal(hash_str("alice@localhost"), hash_str("bob@localhost"));
	assert_int_not_equal(hash_bytes("", 0), hash_bytes("a", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(arena_allocations_are_aligned_and_independent),
		cmocka_unit_test(buf_grows_and_consumes),
		cmocka_unit_test(mpsc_is_fifo),
		cmocka_unit_test(hash_differs_and_is_stable),
	};
	return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
