/*
 * mpsc: an intrusive multi-producer single-consumer queue (Dmitry Vyukov's
 * design): a push is one atomic exchange, the consumer pops without atomics
 * in the common case.  Used for worker inboxes.  Nodes are embedded in the
 * posted objects; the queue never allocates.
 */
#ifndef PARLEY_CORE_MPSC_H
#define PARLEY_CORE_MPSC_H

#include <stdatomic.h>
#include <stddef.h>

struct mpsc_node {
	_Atomic(struct mpsc_node *) next;
};

struct mpsc {
	_Atomic(struct mpsc_node *) head; /* producers push here */
	struct mpsc_node *tail;           /* consumer pops here */
	struct mpsc_node stub;
};

static inline void mpsc_init(struct mpsc *q)
{
	atomic_store(&q->stub.next, NULL);
	atomic_store(&q->head, &q->stub);
	q->tail = &q->stub;
}

/* Any thread. */
static inline void mpsc_push(struct mpsc *q, struct mpsc_node *n)
{
	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	struct mpsc_node *prev = atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Consumer thread only.  Returns NULL when empty, or when a producer is
 * between its two steps (the caller retries on the next wake-up, which that
 * producer's uv_async_send guarantees). */
static inline struct mpsc_node *mpsc_pop(struct mpsc *q)
{
	struct mpsc_node *tail = q->tail;
	struct mpsc_node *next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (tail == &q->stub) {
		if (!next)
			return NULL;
		q->tail = next;
		tail = next;
		next = atomic_load_explicit(&next->next, memory_order_acquire);
	}
	if (next) {
		q->tail = next;
		return tail;
	}
	struct mpsc_node *head = atomic_load_explicit(&q->head, memory_order_acquire);
	if (tail != head)
		return NULL;
	mpsc_push(q, &q->stub);
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next) {
		q->tail = next;
		return tail;
	}
	return NULL;
}

#endif
