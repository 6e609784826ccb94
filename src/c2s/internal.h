/* c2s internals shared by stream.c, auth.c, bind.c and external.c. */
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
#include "stream/sasl.h"
#include "stream/stream.h"
#include "xml/cond.h"

struct arena;
struct conn;
struct xml_node;
struct xml_parser;

/* Owner: the conn's on_close (stream.c) frees it, or the thread-pool
 * callback when a password check is still running at that moment. */
struct c2s_stream {
	struct xstream xs;          /* the stream machine (stream/stream.h) */
	struct shard *sh;
	struct list link;           /* sh->streams */
	bool direct_tls;
	bool bound;
	bool no_external;            /* C2S_ADOPT_NO_EXTERNAL */
	const struct c2s_framing *framing; /* NULL: TCP (our own listeners) */

	struct xs_sasl sasl;         /* negotiation (stream/sasl.h) */
	struct jid *jid;             /* the authenticated bare JID */

	struct worker_msg move;      /* posting to the owner worker */
	struct session session;      /* valid while bound */
};

static inline struct c2s_stream *c2s_of(const struct xstream *xs)
{
	return container_of(xs, struct c2s_stream, xs);
}

/* stream.c */
const char *c2s_who(const struct c2s_stream *s); /* "alice@localhost" or peer */
/* Frees a stream (its conn is gone, see xs_sasl_orphan). */
void c2s_stream_release(struct c2s_stream *s);

/* auth.c: the identity rule for SASL (accounts, XEP-0178). */
extern const struct xs_sasl_rules c2s_sasl_rules;

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

#endif
