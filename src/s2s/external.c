/*
 * external: which domain a peer server's verified certificate
 * authenticates with SASL EXTERNAL (XEP-0178 §3 for servers, RFC 6120
 * §6.4.6).  The rules are in internal.h; every refusal names its rule.
 */
#include <string.h>

#include "core/arena.h"
#include "jid/jid.h"
#include "s2s/internal.h"
#include "tls/names.h"
#include "tls/tls.h"

/* `s` as a prepared bare domain, or NULL. */
static const char *domain_of(struct arena *a, const char *s)
{
	struct jid j;
	if (jid_parse_str(a, s, &j) < 0 || j.local || j.resource)
		return NULL;
	return j.domain;
}

enum sasl_cond s2s_external_domain(struct arena *a, const struct tls_cert_ids *ids, const char *header_from,
				   const char *authzid, bool allow_cn, const char **domain, const char **why)
{
	*domain = NULL;
	const char *from = NULL;
	if (header_from && *header_from) {
		from = domain_of(a, header_from);
		if (!from) {
			*domain = header_from;
			*why = arena_printf(a, "the stream header's 'from' '%.200s' is not a domain", header_from);
			return SASL_NOT_AUTHORIZED;
		}
	}
	const char *asked = from;
	if (authzid && *authzid) {
		const char *z = domain_of(a, authzid);
		if (!z) {
			*domain = authzid;
			*why = arena_printf(a, "the authzid '%.200s' is not a domain (a server authenticates as a "
					       "domain, without '@' or '/')", authzid);
			return SASL_INVALID_AUTHZID;
		}
		if (from && strcmp(z, from) != 0) {
			*domain = z;
			*why = arena_printf(a, "the authzid %s differs from the stream header's 'from' %s", z, from);
			return SASL_INVALID_AUTHZID;
		}
		asked = z;
	}
	if (!asked) {
		*why = "no domain to authenticate: the stream header has no 'from' and no authzid was given";
		return SASL_NOT_AUTHORIZED;
	}
	*domain = asked;
	if (!ids) {
		*why = "no peer certificate";
		return SASL_NOT_AUTHORIZED;
	}
	const struct tls_presented_ids p = {
		.dns_ids = (const char *const *)ids->dns_names,
		.ndns_ids = ids->ndns_names,
		.srv_ids = (const char *const *)ids->srv_ids,
		.nsrv_ids = ids->nsrv_ids,
		.xmpp_addrs = (const char *const *)ids->xmpp_addrs,
		.nxmpp_addrs = ids->nxmpp_addrs,
		.cn_ids = (const char *const *)ids->cns,
		.ncn_ids = ids->ncns,
	};
	const struct tls_names_policy policy = {.srv_service = "xmpp-server", .allow_cn = allow_cn};
	struct tls_names_verdict v;
	if (tls_names_match(asked, &p, &policy, &v) == TLS_ID_NO_MATCH) {
		*why = arena_printf(a, "certificate does not name %s: %s", asked, v.reason);
		return SASL_NOT_AUTHORIZED;
	}
	*why = arena_strdup(a, v.reason);
	return SASL_OK;
}
