/*
 * remote: the router's side of federation.  A stanza for a domain that is
 * not ours goes to a remote link: one per (local domain, remote domain)
 * pair, made on the first stanza for that pair, and owned by the worker
 * that owns the remote domain (server_owner() of the domain, as for a bare
 * JID), so every link to one remote domain lives on one worker and an s2s
 * module can carry them on one stream (XEP-0220 piggybacking).  A sender on
 * another worker reaches it through that worker's inbox.
 *
 * The link keeps a bounded queue (s2s.queue_max stanzas) while it is not
 * up, and a state.  It does not know how bytes get to the other server:
 * a remote transport (the s2s module, registered at start-up) starts links
 * and writes stanzas, and calls back when a link is up, has failed or went
 * down.  Without a transport, a stanza for another domain is answered with
 * <remote-server-not-found/> at once, as before federation existed.
 *
 * Stanzas cross the link serialised for jabber:server (stanza_wire_ns),
 * cached on the stanza: a stanza is serialised for s2s once, whatever
 * number of times it is written.
 *
 * Everything here runs on the link's owner worker, except
 * router_remote_set_transport() (main thread, before workers start).
 */
#ifndef PARLEY_ROUTER_REMOTE_H
#define PARLEY_ROUTER_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router/stanza.h"

struct chunk;
struct shard;

enum remote_state {
	REMOTE_IDLE,       /* no stream: the next stanza starts one */
	REMOTE_CONNECTING, /* the transport is bringing it up; stanzas queue */
	REMOTE_UP,         /* stanzas are written as they come */
	REMOTE_FAILED,     /* the last attempt failed (queue bounced); the next
			    * stanza starts another (the transport backs off) */
};

struct remote_link {
	struct remote_link *hnext; /* bucket chain (router/remote.c) */
	uint64_t hash;
	struct shard *sh;          /* the owner worker's shard */
	char *local;               /* our domain (the senders') */
	char *remote;              /* their domain */
	enum remote_state state;

	/* stanzas waiting while not up: a ring, oldest at qhead */
	struct stanza **q;
	unsigned qhead, qlen, qcap;
	bool qfull_logged;         /* one log line per time the queue fills */

	/* why the last attempt failed (REMOTE_FAILED) */
	enum stanza_etype fail_etype;
	enum stanza_cond fail_cond;
	uint64_t failed_ms;        /* worker clock */

	uint64_t sent;             /* stanzas handed to the transport */
	void *data;                /* the transport's */
};

/*
 * What a remote transport (the s2s module) provides.  The callbacks run on
 * the link's owner worker.
 */
struct remote_transport {
	/* Bring `l` up: the link is REMOTE_CONNECTING with at least one stanza
	 * queued.  Later (or before returning) the transport calls
	 * remote_link_up() or remote_link_fail(); to back off after a
	 * failure it may fail again at once. */
	void (*start)(struct remote_link *l);
	/* Write one stanza on an up link, serialised for jabber:server.
	 * `wire` is borrowed: chunk_ref() it to keep it.  A broken stream is
	 * reported with remote_link_fail() or remote_link_down() (possibly
	 * from inside this call).  Returns false, without calling back, when
	 * the stream can take nothing any more (it is closing): the router
	 * keeps the stanza at the head of the queue, takes the link as down
	 * and starts it again, so no stanza is lost between a stream's end
	 * and the transport's report of it. */
	bool (*send)(struct remote_link *l, struct chunk *wire);
	/* The router drops `l` (shutdown): release l->data and whatever
	 * stream carries it, without calling back. */
	void (*close)(struct remote_link *l);
};

/* Registers the transport (NULL: none, stanzas for other domains are
 * answered with remote-server-not-found).  Main thread, before the
 * workers start; read-only afterwards. */
void router_remote_set_transport(const struct remote_transport *t);
bool router_remote_enabled(void);

/* Routes a stanza whose 'to' is a domain that is not ours (takes
 * ownership); called by router_route() on any worker. */
void router_remote_route(struct shard *sh, struct stanza *st);

/* ---- for the transport ---- */

/* The link is up: queued stanzas are written in order. */
void remote_link_up(struct remote_link *l);
/* The link failed: every queued stanza is answered with this error (never
 * an error stanza: RFC 6120 §8.3.1), and the link is REMOTE_FAILED.  Give
 * a text that names the reason ("no address for b.example (SRV and A)"). */
void remote_link_fail(struct remote_link *l, enum stanza_etype etype, enum stanza_cond cond,
		      const char *text);
/* An up link closed (idle timeout, the peer closed it): REMOTE_IDLE, the
 * next stanza starts it again (at once when stanzas are queued: ones a
 * closing stream refused).  Called while connecting, it is a failure
 * (remote-server-not-found). */
void remote_link_down(struct remote_link *l);
/* Forgets an idle or failed link (the transport's memory policy); queued
 * stanzas, if any, are bounced with remote-server-not-found.  Not from
 * inside a transport callback for the same link. */
void remote_link_drop(struct remote_link *l);

/* The link for this pair on this worker, or NULL. */
struct remote_link *remote_link_find(struct shard *sh, const char *local, const char *remote);
/* Links on this worker. */
size_t remote_link_count(const struct shard *sh);
const char *remote_state_name(enum remote_state s);

/* Closes (the transport's close) and frees every link of this worker, and
 * frees what is queued unanswered (the senders are going away too).  On
 * the worker's thread when it stops, or after it ended: the s2s service's
 * stop calls it (without a transport no link is ever made). */
void router_remote_shutdown(struct shard *sh);

#endif
