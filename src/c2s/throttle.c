/*
 * throttle: failed logins per client address, shared by every worker.
 * A fixed table of slots updated with relaxed atomics: no lock, no
 * allocation, bounded memory whatever the number of addresses.  Two
 * addresses hashing to one slot share a count, which can only make the
 * server stricter, never laxer.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "c2s/internal.h"
#include "core/hash.h"

enum { THROTTLE_SLOTS = 4096 };

struct throttle_slot {
	atomic_uint_fast64_t key;
	atomic_uint_fast64_t window_start; /* ms */
	atomic_uint count;
};

static struct throttle_slot slots[THROTTLE_SLOTS];

static struct throttle_slot *slot_for(const char *ip, uint64_t *key)
{
	*key = hash_str(ip) | 1; /* 0 marks a free slot */
	return &slots[*key % THROTTLE_SLOTS];
}

unsigned c2s_throttle_failures(const char *ip, uint64_t now_ms, unsigned window_s)
{
	uint64_t key;
	struct throttle_slot *sl = slot_for(ip, &key);
	if (atomic_load_explicit(&sl->key, memory_order_relaxed) != key)
		return 0;
	if (now_ms - atomic_load_explicit(&sl->window_start, memory_order_relaxed) > (uint64_t)window_s * 1000)
		return 0;
	return atomic_load_explicit(&sl->count, memory_order_relaxed);
}

unsigned c2s_throttle_fail(const char *ip, uint64_t now_ms, unsigned window_s)
{
	uint64_t key;
	struct throttle_slot *sl = slot_for(ip, &key);
	uint64_t start = atomic_load_explicit(&sl->window_start, memory_order_relaxed);
	bool expired = now_ms - start > (uint64_t)window_s * 1000;
	if (atomic_load_explicit(&sl->key, memory_order_relaxed) != key || expired) {
		/* A new window for this address (or a stale slot taken over). */
		atomic_store_explicit(&sl->key, key, memory_order_relaxed);
		atomic_store_explicit(&sl->window_start, now_ms, memory_order_relaxed);
		atomic_store_explicit(&sl->count, 1, memory_order_relaxed);
		return 1;
	}
	return atomic_fetch_add_explicit(&sl->count, 1, memory_order_relaxed) + 1;
}
