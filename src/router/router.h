/*
 * router: moves stanzas between senders and the worker that owns their
 * recipient.  It decides where a stanza goes (a local account on this
 * worker, one on another worker, the server itself, a remote domain); what
 * happens there (RFC 6121 delivery rules, rosters, offline storage) is
 * im/'s job, reached through the hooks below.
 *
 * The router never touches storage: a message to an online user goes from
 * the sender's session to the recipient's without a database call.
 */
#ifndef PARLEY_ROUTER_ROUTER_H
#define PARLEY_ROUTER_ROUTER_H

#include "router/shard.h"
#include "router/stanza.h"

struct session;

/* Hooks the im/ layer provides (set once at start-up). */
struct router_hooks {
	/* On the sender's owner worker: a stanza from a bound session, its
	 * 'from' stamped with the session's full JID and its 'to' set (the
	 * sender's bare JID when absent: to_absent tells).  Takes ownership. */
	void (*outbound)(struct shard *sh, struct session *s, struct stanza *st);
	/* A session was bound (linked into its user) / is being unbound
	 * (still linked). */
	void (*session_start)(struct shard *sh, struct session *s);
	void (*session_end)(struct shard *sh, struct session *s);
	/* The last session of a user is gone; the user record is freed next. */
	void (*user_end)(struct shard *sh, struct user *u);
	/* On the recipient's owner worker: deliver st (addressed to a local
	 * account or one of its resources).  Takes ownership. */
	void (*inbound)(struct shard *sh, struct stanza *st);
	/* On any worker: st is addressed to a local domain itself (no local
	 * part).  Takes ownership. */
	void (*server)(struct shard *sh, struct stanza *st);
};

void router_set_hooks(const struct router_hooks *h);

/*
 * Routes a stanza whose from/to are set (takes ownership): to the worker
 * owning to's bare JID, to the server handlers for a bare domain, or, for
 * a domain that is not ours, to that domain's remote link on the worker
 * owning the domain (router/remote.h); without a remote transport, back
 * to the sender as remote-server-not-found.
 */
void router_route(struct shard *sh, struct stanza *st);

/* Hands st to worker `owner`, which runs `run` with it; when that
 * worker's inbox is full the sender gets <resource-constraint/> (wait)
 * and one log line names inbox_max.  Takes ownership. */
struct worker;
struct worker_msg;
void router_post(struct shard *sh, struct stanza *st, unsigned owner,
		 void (*run)(struct worker *w, struct worker_msg *m));

/* Answers st with an error (unless st is itself an error) and frees st. */
void router_bounce(struct shard *sh, struct stanza *st, enum stanza_etype etype, enum stanza_cond cond,
		   const char *text);

/* A stanza from a bound session (see hooks.outbound); takes ownership. */
void router_from_session(struct shard *sh, struct session *s, struct stanza *st);

/* Links a new session into its user's record (made when missing) and
 * tells im/.  The caller has set s->jid, s->ops and s->id. */
void router_session_bind(struct shard *sh, struct session *s);
/* Tells im/, unlinks the session, and drops the user record after its last
 * session.  Safe to call once per bind. */
void router_session_unbind(struct shard *sh, struct session *s);

/* Delivers to one session (borrowed st). */
void router_send_to_session(struct session *s, struct stanza *st);

#endif
