/*
 * list: intrusive doubly linked list (the node is embedded in its owner, so
 * linking allocates nothing).  An empty list points at itself.
 */
#ifndef PARLEY_CORE_LIST_H
#define PARLEY_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
	struct list *prev;
	struct list *next;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define list_entry(ptr, type, member) container_of(ptr, type, member)

static inline void list_init(struct list *l)
{
	l->prev = l;
	l->next = l;
}

static inline bool list_empty(const struct list *l)
{
	return l->next == l;
}

/* A node that was list_init'ed or removed is "unlinked". */
static inline bool list_linked(const struct list *n)
{
	return n->next != n && n->next != NULL;
}

static inline void list_insert_tail(struct list *head, struct list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void list_insert_head(struct list *head, struct list *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

/* Unlinks n and leaves it self-linked, so removing twice is harmless. */
static inline void list_remove(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n;
	n->next = n;
}

#define list_for_each(pos, head) for (struct list *pos = (head)->next; pos != (head); pos = pos->next)

/* Safe against removal of pos inside the loop body. */
#define list_for_each_safe(pos, head)                                           \
	for (struct list *pos = (head)->next, *pos##_next = pos->next; pos != (head); \
	     pos = pos##_next, pos##_next = pos->next)

#endif
