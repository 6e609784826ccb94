/* s2s internals shared by in.c, external.c and service.c. */
#ifndef PARLEY_S2S_INTERNAL_H
#define PARLEY_S2S_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/list.h"
#include "sasl/sasl.h"
#include "stream/sasl.h"
#include "stream/stream.h"

struct arena;
struct shard;
struct tls_cert_ids;

/* An incoming server stream.  Owner: the conn's on_close (in.c) frees
 * it. */
struct s2s_in {
	struct xstream xs;     /* the stream machine (stream/stream.h) */
	struct shard *sh;
	struct list link;      /* the worker's s2s streams (service.c) */
	bool direct_tls;
	bool cert_logged;      /* the certificate verdict was logged */
	struct xs_sasl sasl;   /* EXTERNAL only (stream/sasl.h) */
	char *remote;          /* the authenticated peer domain */
};

static inline struct s2s_in *s2s_in_of(const struct xstream *xs)
{
	return container_of(xs, struct s2s_in, xs);
}

/* ---- in.c ---- */

/* Accepting: `ud` is an s2s_port. */
struct s2s_port {
	bool direct_tls;
};
extern const struct s2s_port s2s_port_starttls, s2s_port_direct;
struct worker;
void s2s_in_accept(struct worker *w, int fd, void *ud);

/* ---- external.c ---- */

/*
 * SASL EXTERNAL for a peer server (XEP-0178 §3, RFC 6120 §6.4.6): the
 * domain a verified certificate authenticates, pure (no I/O, no config):
 *  1. The domain asked for is the authzid when one is given, else the
 *     stream header's 'from'; with neither, there is nothing to check.
 *  2. An authzid must be a bare domain (no '@', no '/'); when the header
 *     named a 'from' too, they must be the same domain.
 *  3. The certificate must name that domain by RFC 6125 (tls/names.h:
 *     DNS-ID with wildcards, SRV-ID for xmpp-server, XmppAddr; CN-ID only
 *     with allow_cn, i.e. s2s.allow_cn).
 * SASL_OK with *domain (prepared, in `a`) and *why (the identifier that
 * matched); otherwise the condition and *why naming the rule, e.g.
 * "certificate does not name b.example: <verdict>".  *domain is the
 * domain asked for (or NULL) either way, for the log.
 */
enum sasl_cond s2s_external_domain(struct arena *a, const struct tls_cert_ids *ids, const char *header_from,
				   const char *authzid, bool allow_cn, const char **domain, const char **why);

#endif
