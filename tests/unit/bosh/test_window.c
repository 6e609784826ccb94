/*
 * Unit tests of bosh/window.c: the request ids of one session (XEP-0124
 * §14) as a data structure.  Requests are stand-in pointers; the tests
 * play the session's part (hold what is due, answer, drain what waited).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "bosh/internal.h"

static int reqs[64];
#define REQ(i) ((void *)&reqs[i])

static void first_rid_is_next_and_held(void **state)
{
	(void)state;
	struct bosh_window w;
	bosh_window_init(&w, 3, 1000);
	assert_int_equal(bosh_window_classify(&w, 1000), BOSH_RID_NEXT);
	assert_int_equal(bosh_window_hold(&w, REQ(0), 5), 1000);
	assert_int_equal(w.nheld, 1);
	struct bosh_slot *sl = bosh_window_oldest_held(&w);
	assert_non_null(sl);
	assert_int_equal(sl->rid, 1000);
	assert_int_equal(sl->since_ms, 5);
	assert_int_equal(bosh_window_classify(&w, 1001), BOSH_RID_NEXT);
	assert_int_equal(bosh_window_last(&w), 1000);
	bosh_window_clear(&w);
}

/* rid+2 before rid+1: kept, then taken in order once rid+1 is held. */
static void out_of_order_buffered_then_in_order(void **state)
{
	(void)state;
	struct bosh_window w;
	bosh_window_init(&w, 3, 10);
	bosh_window_hold(&w, REQ(0), 0);
	assert_int_equal(bosh_window_classify(&w, 12), BOSH_RID_AHEAD);
	bosh_window_buffer(&w, 12, REQ(2));
	assert_null(bosh_window_take_next(&w)); /* 11 has not come */
	assert_int_equal(bosh_window_classify(&w, 12), BOSH_RID_WAITING);
	assert_int_equal(bosh_window_classify(&w, 11), BOSH_RID_NEXT);
	bosh_window_hold(&w, REQ(1), 0);
	assert_ptr_equal(bosh_window_take_next(&w), REQ(2));
	assert_int_equal(bosh_window_hold(&w, REQ(2), 0), 12);
	assert_null(bosh_window_take_next(&w));
	assert_int_equal(w.nheld, 3);
	bosh_window_clear(&w);
}

static void beyond_window_is_outside(void **state)
{
	(void)state;
	struct bosh_window w;
	bosh_window_init(&w, 3, 10);
	bosh_window_hold(&w, REQ(0), 0); /* next 11: 12 and 13 are ahead */
	assert_int_equal(bosh_window_classify(&w, 13), BOSH_RID_AHEAD);
	assert_int_equal(bosh_window_classify(&w, 14), BOSH_RID_OUTSIDE);
	assert_int_equal(bosh_window_classify(&w, 1000000), BOSH_RID_OUTSIDE);
	/* Below what was ever processed, or forgotten. */
	assert_int_equal(bosh_window_classify(&w, 9), BOSH_RID_OUTSIDE);
	assert_int_equal(bosh_window_classify(&w, 1), BOSH_RID_OUTSIDE);
	bosh_window_clear(&w);
}

/* An answered rid is answered again with the same bytes while it is in
 * the window; a held one is replaced; past the window it is outside. */
static void resend_and_replace(void **state)
{
	(void)state;
	struct bosh_window w;
	bosh_window_init(&w, 2, 1);
	bosh_window_hold(&w, REQ(0), 0);
	assert_ptr_equal(bosh_window_answer(&w, 1, "<body a='1'/>", 13), REQ(0));
	assert_int_equal(w.nheld, 0);
	assert_int_equal(bosh_window_classify(&w, 1), BOSH_RID_AGAIN);
	struct bosh_slot *sl = bosh_window_find(&w, 1);
	assert_non_null(sl);
	assert_memory_equal(sl->resp, "<body a='1'/>", 13);

	bosh_window_hold(&w, REQ(2), 0); /* rid 2 */
	assert_int_equal(bosh_window_classify(&w, 2), BOSH_RID_WAITING);
	assert_ptr_equal(bosh_window_replace(&w, 2, REQ(3)), REQ(2));
	assert_ptr_equal(bosh_window_oldest_held(&w)->req, REQ(3));
	assert_ptr_equal(bosh_window_answer(&w, 2, "x", 1), REQ(3));

	bosh_window_hold(&w, REQ(4), 0); /* rid 3: rid 1 leaves the window */
	assert_int_equal(bosh_window_classify(&w, 1), BOSH_RID_OUTSIDE);
	assert_int_equal(bosh_window_classify(&w, 2), BOSH_RID_AGAIN);
	bosh_window_clear(&w);
}

static void oldest_held_first(void **state)
{
	(void)state;
	struct bosh_window w;
	bosh_window_init(&w, 4, 100);
	bosh_window_hold(&w, REQ(0), 1);
	bosh_window_hold(&w, REQ(1), 2);
	bosh_window_hold(&w, REQ(2), 3);
	assert_int_equal(bosh_window_oldest_held(&w)->rid, 100);
	bosh_window_answer(&w, 100, "", 0);
	assert_int_equal(bosh_window_oldest_held(&w)->rid, 101);
	bosh_window_answer(&w, 102, "", 0);
	assert_int_equal(bosh_window_oldest_held(&w)->rid, 101);
	bosh_window_answer(&w, 101, "", 0);
	assert_null(bosh_window_oldest_held(&w));
	assert_int_equal(w.nheld, 0);
	bosh_window_clear(&w);
}

static void ack_forgets_answers(void **state)
{
	(void)state;
	struct bosh_window w;
	bosh_window_init(&w, 4, 1);
	for (int i = 0; i < 3; i++) {
		uint64_t rid = bosh_window_hold(&w, REQ(i), 0);
		bosh_window_answer(&w, rid, "r", 1);
	}
	bosh_window_ack(&w, 2);
	assert_int_equal(bosh_window_classify(&w, 1), BOSH_RID_OUTSIDE);
	assert_int_equal(bosh_window_classify(&w, 2), BOSH_RID_OUTSIDE);
	assert_int_equal(bosh_window_classify(&w, 3), BOSH_RID_AGAIN);
	bosh_window_clear(&w);
}

/* Many rids through a small window: slots are reused, nothing leaks (the
 * ASan build checks), and each kept answer is its own rid's. */
static void long_run_reuses_slots(void **state)
{
	(void)state;
	struct bosh_window w;
	bosh_window_init(&w, 2, 1);
	for (uint64_t rid = 1; rid <= 1000; rid++) {
		assert_int_equal(bosh_window_classify(&w, rid), BOSH_RID_NEXT);
		bosh_window_hold(&w, REQ(rid % 64), rid);
		char resp[32];
		int n = snprintf(resp, sizeof(resp), "%llu", (unsigned long long)rid);
		bosh_window_answer(&w, rid, resp, (size_t)n);
		struct bosh_slot *sl = bosh_window_find(&w, rid);
		assert_non_null(sl);
		assert_int_equal(sl->resp_len, (size_t)n);
		assert_memory_equal(sl->resp, resp, (size_t)n);
	}
	assert_int_equal(bosh_window_classify(&w, 999), BOSH_RID_AGAIN);
	assert_int_equal(bosh_window_classify(&w, 998), BOSH_RID_OUTSIDE);
	bosh_window_clear(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_rid_is_next_and_held),
		cmocka_unit_test(out_of_order_buffered_then_in_order),
		cmocka_unit_test(beyond_window_is_outside),
		cmocka_unit_test(resend_and_replace),
		cmocka_unit_test(oldest_held_first),
		cmocka_unit_test(ack_forgets_answers),
		cmocka_unit_test(long_run_reuses_slots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
