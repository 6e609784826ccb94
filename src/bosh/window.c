/*
 * window: request ids of one BOSH session (XEP-0124 §14), as a pure data
 * structure: which rid is due, which wait ahead of their turn, which are
 * held for an answer and which answers are kept for a resend.  It decides
 * nothing about HTTP or XMPP; session.c acts on its verdicts.
 */
#include <stdlib.h>
#include <string.h>

#include "bosh/internal.h"
#include "core/alloc.h"

void bosh_window_init(struct bosh_window *w, unsigned size, uint64_t first)
{
	memset(w, 0, sizeof(*w));
	w->size = size < 2 ? 2 : size;
	w->nslots = 2 * w->size;
	w->slots = xcalloc(w->nslots, sizeof(*w->slots));
	w->next = first;
}

static void slot_forget(struct bosh_slot *sl)
{
	free(sl->resp);
	memset(sl, 0, sizeof(*sl));
}

void bosh_window_clear(struct bosh_window *w)
{
	if (!w->slots)
		return;
	for (unsigned i = 0; i < w->nslots; i++)
		slot_forget(&w->slots[i]);
	free(w->slots);
	w->slots = NULL;
	w->nheld = 0;
}

static struct bosh_slot *slot_of(const struct bosh_window *w, uint64_t rid)
{
	return &w->slots[rid % w->nslots];
}

struct bosh_slot *bosh_window_find(struct bosh_window *w, uint64_t rid)
{
	struct bosh_slot *sl = slot_of(w, rid);
	return sl->state != BOSH_SLOT_FREE && sl->rid == rid ? sl : NULL;
}

enum bosh_rid bosh_window_classify(const struct bosh_window *w, uint64_t rid)
{
	const struct bosh_slot *sl = slot_of(w, rid);
	bool known = sl->state != BOSH_SLOT_FREE && sl->rid == rid;
	if (rid == w->next)
		return BOSH_RID_NEXT;
	if (rid > w->next) {
		if (rid - w->next >= w->size)
			return BOSH_RID_OUTSIDE;
		return known ? BOSH_RID_WAITING : BOSH_RID_AHEAD;
	}
	if (w->next - rid > w->size || !known)
		return BOSH_RID_OUTSIDE;
	return sl->state == BOSH_SLOT_ANSWERED ? BOSH_RID_AGAIN : BOSH_RID_WAITING;
}

/* The slot for a new rid: what it held (an answer older than the window)
 * is forgotten. */
static struct bosh_slot *slot_take(struct bosh_window *w, uint64_t rid)
{
	struct bosh_slot *sl = slot_of(w, rid);
	if (sl->state == BOSH_SLOT_HELD)
		w->nheld--; /* cannot happen while nheld <= size; kept consistent */
	slot_forget(sl);
	sl->rid = rid;
	return sl;
}

void bosh_window_buffer(struct bosh_window *w, uint64_t rid, void *req)
{
	struct bosh_slot *sl = slot_take(w, rid);
	sl->state = BOSH_SLOT_BUFFERED;
	sl->req = req;
}

void *bosh_window_replace(struct bosh_window *w, uint64_t rid, void *req)
{
	struct bosh_slot *sl = bosh_window_find(w, rid);
	if (!sl || (sl->state != BOSH_SLOT_BUFFERED && sl->state != BOSH_SLOT_HELD))
		return NULL;
	void *old = sl->req;
	sl->req = req;
	return old;
}

uint64_t bosh_window_hold(struct bosh_window *w, void *req, uint64_t now_ms)
{
	uint64_t rid = w->next++;
	struct bosh_slot *sl = slot_take(w, rid);
	sl->state = BOSH_SLOT_HELD;
	sl->req = req;
	sl->since_ms = now_ms;
	w->nheld++;
	/* The rid a window behind the new `next` leaves it: a buffered
	 * request can never sit in its slot (it would be ahead). */
	if (w->next > w->size) {
		struct bosh_slot *old = slot_of(w, w->next - w->size - 1);
		if (old->state == BOSH_SLOT_ANSWERED && old->rid == w->next - w->size - 1)
			slot_forget(old);
	}
	return rid;
}

void *bosh_window_take_next(struct bosh_window *w)
{
	struct bosh_slot *sl = bosh_window_find(w, w->next);
	if (!sl || sl->state != BOSH_SLOT_BUFFERED)
		return NULL;
	void *req = sl->req;
	slot_forget(sl);
	return req;
}

struct bosh_slot *bosh_window_oldest_held(struct bosh_window *w)
{
	if (!w->nheld)
		return NULL;
	uint64_t from = w->next > w->size ? w->next - w->size : 0;
	for (uint64_t rid = from; rid < w->next; rid++) {
		struct bosh_slot *sl = bosh_window_find(w, rid);
		if (sl && sl->state == BOSH_SLOT_HELD)
			return sl;
	}
	return NULL;
}

void *bosh_window_answer(struct bosh_window *w, uint64_t rid, const char *resp, size_t len)
{
	struct bosh_slot *sl = bosh_window_find(w, rid);
	if (!sl || sl->state != BOSH_SLOT_HELD)
		return NULL;
	void *req = sl->req;
	sl->req = NULL;
	sl->state = BOSH_SLOT_ANSWERED;
	sl->resp = xmalloc(len ? len : 1);
	memcpy(sl->resp, resp, len);
	sl->resp_len = len;
	w->nheld--;
	return req;
}

void bosh_window_ack(struct bosh_window *w, uint64_t ack)
{
	uint64_t from = w->next > w->size ? w->next - w->size : 0;
	for (uint64_t rid = from; rid <= ack && rid < w->next; rid++) {
		struct bosh_slot *sl = bosh_window_find(w, rid);
		if (sl && sl->state == BOSH_SLOT_ANSWERED)
			slot_forget(sl);
	}
}

uint64_t bosh_window_last(const struct bosh_window *w)
{
	return w->next - 1;
}
