/*
 * stream/throttle: failed credential checks per address and per identity
 * at an address, shared by all workers through lock-free counters (the
 * policy is in docs/sasl.md; the counting in throttle.c).
 */
#ifndef PARLEY_STREAM_THROTTLE_H
#define PARLEY_STREAM_THROTTLE_H

#include <stdint.h>

/* `account` is ignored for XS_THROTTLE_ADDRESS. */
enum xs_throttle_kind { XS_THROTTLE_ADDRESS, XS_THROTTLE_ACCOUNT, XS_THROTTLE_KINDS };
unsigned xs_throttle_failures(enum xs_throttle_kind kind, const char *ip, const char *account, uint64_t now_ms,
			      unsigned window_s);
/* Counts one failure; returns the count including it. */
unsigned xs_throttle_fail(enum xs_throttle_kind kind, const char *ip, const char *account, uint64_t now_ms,
			  unsigned window_s);

#endif
