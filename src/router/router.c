/* router: where a stanza goes next (see router.h). */
#include "router/router.h"

#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "router/remote.h"
#include "router/session.h"
#include "router/user.h"

static struct router_hooks hooks;

void router_set_hooks(const struct router_hooks *h)
{
	hooks = *h;
}

unsigned server_owner(const struct server *srv, const char *bare)
{
	if (srv->nworkers == 1)
		return 0;
	return (unsigned)(hash_str(bare) % srv->nworkers);
}

bool server_is_local(const struct server *srv, const char *domain)
{
	return domain && config_host_find(srv->cfg, domain) != NULL;
}

static void router_inbound_run(struct worker *w, struct worker_msg *m)
{
	struct stanza *st = container_of(m, struct stanza, msg);
	hooks.inbound(shard_of(w), st);
}

void router_route(struct shard *sh, struct stanza *st)
{
	struct server *srv = sh->srv;
	if (!server_is_local(srv, st->to.domain)) {
		/* Another domain: its link (router/remote.c), or
		 * remote-server-not-found while no transport is registered. */
		router_remote_route(sh, st);
		return;
	}
	if (!st->to.local) {
		metrics_stanza(&sh->w->metrics, st->kind, METRIC_OUTCOME_SERVER);
		hooks.server(sh, st);
		return;
	}
	unsigned owner = server_owner(srv, st->to.bare);
	if (owner == sh->w->id) {
		hooks.inbound(sh, st);
		return;
	}
	router_post(sh, st, owner, router_inbound_run);
}

void router_post(struct shard *sh, struct stanza *st, unsigned owner,
		 void (*run)(struct worker *w, struct worker_msg *m))
{
	struct server *srv = sh->srv;
	st->msg.run = run;
	if (!worker_post(&srv->workers[owner], &st->msg)) {
		log_warn("router",
			 "worker %u inbox full (%u stanzas): %s from %s to %s answered with wait; "
			 "raise inbox_max or add workers if this persists",
			 owner, srv->workers[owner].inbox_max, stanza_kind_name(st->kind), st->from.full,
			 st->to.full);
		router_bounce(sh, st, ETYPE_WAIT, STANZA_ERR_RESOURCE_CONSTRAINT, "server busy, try again");
	}
}

void router_bounce(struct shard *sh, struct stanza *st, enum stanza_etype etype, enum stanza_cond cond,
		   const char *text)
{
	metrics_stanza(&sh->w->metrics, st->kind,
		       stanza_is_error(st) || !st->from.domain ? METRIC_OUTCOME_DROPPED : METRIC_OUTCOME_BOUNCED);
	/* Errors are never answered (no loops), and there must be somebody to
	 * answer. */
	if (stanza_is_error(st) || !st->from.domain) {
		stanza_free(st);
		return;
	}
	struct stanza *err = stanza_error(st, etype, cond, text);
	stanza_free(st);
	router_route(sh, err);
}

void router_send_to_session(struct session *s, struct stanza *st)
{
	s->ops->send(s, st);
}

void router_from_session(struct shard *sh, struct session *s, struct stanza *st)
{
	hooks.outbound(sh, s, st);
}

void router_session_bind(struct shard *sh, struct session *s)
{
	struct user *u = user_get(sh, s->jid->bare);
	s->user = u;
	list_init(&s->directed);
	list_insert_tail(&u->sessions, &s->link);
	u->nsessions++;
	hooks.session_start(sh, s);
}

void router_session_unbind(struct shard *sh, struct session *s)
{
	struct user *u = s->user;
	if (!u)
		return;
	hooks.session_end(sh, s);
	list_remove(&s->link);
	u->nsessions--;
	s->user = NULL;
	list_for_each_safe(pos, &s->directed)
	{
		list_remove(pos);
		free(list_entry(pos, struct directed, link));
	}
	s->ndirected = 0;
	stanza_frozen_free(s->presence);
	s->presence = NULL;
	if (u->nsessions == 0) {
		hooks.user_end(sh, u);
		user_drop(sh, u);
	}
}
