/* c2s internals shared by stream.c, auth.c, bind.c and throttle.c. */
#ifndef PARLEY_C2S_INTERNAL_H
#define PARLEY_C2S_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/list.h"
#include "core/worker.h"
#include "router/session.h"
#include "router/shard.h"
#include "sasl/sasl.h"
#include "stream/stream.h"
#include "xml/cond.h"

struct arena;
struct conn;
struct xml_node;
struct xml_parser;

struct c2s_mech;

/* Owner: the conn's on_close (stream.c) frees it, or the thread-pool
 * callback when a password check is still running at that moment. */
struct c2s_stream {
	struct xstream xs;          /* the stream machine (stream/stream.h) */
	struct shard *sh;
	struct list link;           /* sh->streams */
	bool direct_tls;
	bool bound;
	bool dead;                  /* conn gone; free when the work returns */

	/* SASL */
	const struct c2s_mech *mech;
	struct scram_server *scram;
	int sasl_step;               /* SCRAM: 0 before client-first, 1 after */
	unsigned auth_failures;
	uint64_t failure_due_ms;     /* a delayed <failure/> waits until then */
	enum sasl_cond failure_cond;
	char *authcid;               /* "alice" (for logs) */
	struct jid *jid;             /* the authenticated bare JID */
	bool work_pending;           /* a PLAIN check runs on the thread pool */
	struct c2s_plain_job *job;   /* holds the uv_work_t while it runs */

	struct worker_msg move;      /* posting to the owner worker */
	struct session session;      /* valid while bound */
};

static inline struct c2s_stream *c2s_of(const struct xstream *xs)
{
	return container_of(xs, struct c2s_stream, xs);
}

/* stream.c */
const char *c2s_who(const struct c2s_stream *s); /* "alice@localhost" or peer */
/* Frees a stream whose conn is gone (see `dead`). */
void c2s_stream_release(struct c2s_stream *s);

/* auth.c */
void c2s_auth_features(struct c2s_stream *s, struct buf *out);
void c2s_auth_element(struct c2s_stream *s, struct arena *a, struct xml_node *el);
void c2s_auth_tick(struct c2s_stream *s, uint64_t now_ms);
void c2s_auth_clear(struct c2s_stream *s);

/* external.c: the account a verified certificate logs in as (XEP-0178),
 * in `a`.  On SASL_OK *pin_only says the certificate itself named nobody
 * and the account must have pinned it; *why names the rule either way. */
struct tls_cert_ids;
struct jid;
enum sasl_cond c2s_external_identity(struct arena *a, const struct tls_cert_ids *ids, const char *host,
				     bool cn_as_username, const char *authzid, struct jid *account,
				     bool *pin_only, const char **why);

/* bind.c */
void c2s_bound_features(struct c2s_stream *s, struct buf *out);
/* An element from an authenticated stream (bind, session, then stanzas). */
void c2s_session_element(struct c2s_stream *s, struct arena *a, struct xml_node *el);
void c2s_session_end(struct c2s_stream *s);

/* throttle.c: failed credential checks per address and per account at an
 * address, shared by all workers through lock-free counters.  `account`
 * is ignored for C2S_THROTTLE_ADDRESS. */
enum c2s_throttle_kind { C2S_THROTTLE_ADDRESS, C2S_THROTTLE_ACCOUNT, C2S_THROTTLE_KINDS };
unsigned c2s_throttle_failures(enum c2s_throttle_kind kind, const char *ip, const char *account, uint64_t now_ms,
			       unsigned window_s);
/* Counts one failure; returns the count including it. */
unsigned c2s_throttle_fail(enum c2s_throttle_kind kind, const char *ip, const char *account, uint64_t now_ms,
			   unsigned window_s);

#endif
