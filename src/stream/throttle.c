/*
 * throttle: failed credential checks, counted per client address and per
 * account at an address, shared by every worker.
 *
 * Two keys, because one is not enough either way:
 *   - per account (identity) at an address, so a client that keeps failing for one
 *     account (a stale password in a bot) slows down and then locks out
 *     only that account from that address, never its neighbours behind
 *     the same NAT;
 *   - per address alone, with a much higher limit, so spraying guesses
 *     across many accounts from one address is still stopped.
 * An account is never locked out from every address: that would let anyone
 * lock out anyone.
 *
 * Each kind is a count-min sketch: two rows of slots, a key counts in one
 * slot per row (chosen by the two halves of its SipHash), and its count is
 * the smaller of the two.  No lock, no allocation, bounded memory whatever
 * the number of keys, and keys that share slots can only make the server
 * stricter, never laxer: no key can evict or reset another one's count.
 * Each slot has its own window; relaxed atomics, since a lost increment
 * under a race costs one guess, not correctness.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "stream/throttle.h"
#include "core/hash.h"

enum { THROTTLE_ROWS = 2, THROTTLE_SLOTS = 4096 };

struct throttle_slot {
	atomic_uint_fast64_t window_start; /* ms */
	atomic_uint count;
};

static struct throttle_slot sketch[XS_THROTTLE_KINDS][THROTTLE_ROWS][THROTTLE_SLOTS];

static uint64_t throttle_key(enum xs_throttle_kind kind, const char *ip, const char *account)
{
	if (kind == XS_THROTTLE_ADDRESS)
		return hash_str(ip);
	/* address NUL account: no two pairs share a byte string (a bare JID
	 * is at most 3071 bytes, an address far less than 64) */
	char buf[64 + 1 + 3072];
	size_t il = strnlen(ip, 63), al = strnlen(account, 3072);
	memcpy(buf, ip, il);
	buf[il] = '\0';
	memcpy(buf + il + 1, account, al);
	return hash_bytes(buf, il + 1 + al);
}

static struct throttle_slot *slot_of(enum xs_throttle_kind kind, unsigned row, uint64_t key)
{
	uint32_t h = (uint32_t)(row == 0 ? key : key >> 32);
	return &sketch[kind][row][h % THROTTLE_SLOTS];
}

static unsigned slot_count(struct throttle_slot *sl, uint64_t now_ms, unsigned window_s)
{
	uint64_t start = atomic_load_explicit(&sl->window_start, memory_order_relaxed);
	if (now_ms - start > (uint64_t)window_s * 1000)
		return 0;
	return atomic_load_explicit(&sl->count, memory_order_relaxed);
}

unsigned xs_throttle_failures(enum xs_throttle_kind kind, const char *ip, const char *account, uint64_t now_ms,
			       unsigned window_s)
{
	uint64_t key = throttle_key(kind, ip, account);
	unsigned min = UINT32_MAX;
	for (unsigned r = 0; r < THROTTLE_ROWS; r++) {
		unsigned n = slot_count(slot_of(kind, r, key), now_ms, window_s);
		if (n < min)
			min = n;
	}
	return min;
}

unsigned xs_throttle_fail(enum xs_throttle_kind kind, const char *ip, const char *account, uint64_t now_ms,
			   unsigned window_s)
{
	uint64_t key = throttle_key(kind, ip, account);
	unsigned min = UINT32_MAX;
	for (unsigned r = 0; r < THROTTLE_ROWS; r++) {
		struct throttle_slot *sl = slot_of(kind, r, key);
		unsigned n;
		if (slot_count(sl, now_ms, window_s) == 0) {
			/* A new window for this slot. */
			atomic_store_explicit(&sl->window_start, now_ms, memory_order_relaxed);
			atomic_store_explicit(&sl->count, 1, memory_order_relaxed);
			n = 1;
		} else {
			n = atomic_fetch_add_explicit(&sl->count, 1, memory_order_relaxed) + 1;
		}
		if (n < min)
			min = n;
	}
	return min;
}
