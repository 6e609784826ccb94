/*
 * stream/sasl: SASL negotiation on a stream (RFC 6120 §6), for every kind.
 * Mechanisms are rows that carry their functions; which of them a stream
 * offers depends on the kind's configured list, TLS (PLAIN never in the
 * clear), the channel bindings of the TLS session (-PLUS) and a verified
 * peer certificate (EXTERNAL).  The SASL arithmetic is in sasl/; this adds
 * the XML, the login throttle (docs/sasl.md) and the log lines.
 *
 * What a username or a certificate logs in as is the kind's identity rule
 * (struct xs_sasl_rules): accounts for c2s (XEP-0178), domains for s2s.
 *
 * PLAIN costs a PBKDF2 run per attempt, so it runs on libuv's thread pool
 * while the stream's reading is paused (a hold of the stream machine).
 */
#ifndef PARLEY_STREAM_SASL_H
#define PARLEY_STREAM_SASL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "sasl/sasl.h"

struct arena;
struct config;
struct config_strlist;
struct jid;
struct worker;
struct xml_node;
struct xstream;
struct xs_sasl;
struct xs_sasl_mech;
struct xs_plain_job;

/* The identity rule of a kind. */
struct xs_sasl_rules {
	/* A SASL username (SCRAM, PLAIN) as the identity it would log in as
	 * (c2s: the account JID on this host); -1 when it cannot be one. */
	int (*identity)(struct xs_sasl *sa, struct arena *a, const char *username, struct jid *out);
	/* The stored credentials of `identity` for hash h: 0, 1 when there
	 * are none, -1 on a storage failure (logged by the rule). */
	int (*credentials)(struct xs_sasl *sa, struct arena *a, const char *identity, enum scram_hash h,
			   struct scram_cred *out);
	/* EXTERNAL, once the peer's certificate verified: the identity it
	 * proves, with `authzid` (NULL: none).  SASL_OK with *out; another
	 * condition with *who and *why is a refused credential;
	 * SASL_TEMPORARY_AUTH_FAILURE is a storage failure (logged). */
	enum sasl_cond (*external)(struct xs_sasl *sa, struct arena *a, const char *authzid, struct jid *out,
				   const char **who, const char **why);
	/* Whether EXTERNAL may be offered at all on this stream (policy). */
	bool (*external_allowed)(struct xs_sasl *sa);
	/* Authentication succeeded as `identity`; <success/> was written.
	 * The kind keeps the identity and restarts the stream. */
	void (*succeeded)(struct xs_sasl *sa, const struct jid *identity);
	/* The stream went away while a check ran off the loop (see
	 * xs_sasl_orphan): free the owner now. */
	void (*release)(struct xs_sasl *sa);
};

struct xs_sasl {
	struct xstream *xs;
	const struct xs_sasl_rules *rules;
	const struct config_strlist *mechanisms; /* offered, in this order */
	const struct config *cfg;                /* auth.*: throttle, iterations */
	struct worker *w;                        /* its loop and clock */

	const struct xs_sasl_mech *mech;
	const char *succeeded_with; /* the mechanism's name once one succeeded (static) */
	/* The TLS session is not the client's own end to end (BOSH: each
	 * request may come on another connection): no -PLUS, no XEP-0440. */
	bool no_channel_binding;
	struct scram_server *scram;
	int step;               /* SCRAM: 0 before client-first, 1 after */
	unsigned refusals;      /* refused attempts on this stream */
	uint64_t failure_due_ms; /* a delayed <failure/> waits until then */
	enum sasl_cond failure_cond;
	char *authcid;          /* the identity being tried (for logs) */
	bool orphaned;          /* the stream is gone; release when the work returns */
	struct xs_plain_job *job; /* a PLAIN check on the thread pool */
};

void xs_sasl_init(struct xs_sasl *sa, struct xstream *xs, const struct xs_sasl_rules *rules,
		  const struct config_strlist *mechanisms, const struct config *cfg, struct worker *w);
/* Ends a running exchange and frees what it holds. */
void xs_sasl_clear(struct xs_sasl *sa);
/* Frees everything (the stream is done with SASL). */
void xs_sasl_free(struct xs_sasl *sa);

/* <mechanisms/> (and XEP-0440 channel-binding types) for the features. */
void xs_sasl_features(struct xs_sasl *sa, struct buf *out);
/* An element in the SASL namespace; takes the arena. */
void xs_sasl_element(struct xs_sasl *sa, struct arena *a, struct xml_node *el);
/* Sends a delayed failure when it is due. */
void xs_sasl_tick(struct xs_sasl *sa, uint64_t now_ms);
/* The name of the mechanism that runs or succeeded ("?" if none). */
const char *xs_sasl_mechanism(const struct xs_sasl *sa);

/* True while a check runs off the loop.  The owner's close then calls
 * xs_sasl_orphan and does not free; rules->release frees it later. */
bool xs_sasl_busy(const struct xs_sasl *sa);
void xs_sasl_orphan(struct xs_sasl *sa);

/* ---- the initiating side (s2s-out) ---- */

/* <auth mechanism='EXTERNAL'> with `authzid` (NULL: none, sent as "="). */
void xs_sasl_client_external(struct xstream *xs, const char *authzid);
/* The answer to it: SASL_OK for <success/>, the condition of a
 * <failure/>, SASL_MALFORMED_REQUEST for anything else. */
enum sasl_cond xs_sasl_client_result(const struct xml_node *el);

#endif
