/*
 * external: SASL EXTERNAL with client certificates (XEP-0178).  Which
 * account a verified certificate logs in as is decided here, by rules an
 * operator can predict; every refusal names the rule that refused it.
 *
 *  1. The certificate's id-on-xmppAddr entries come first.  With one, the
 *     authzid may be empty or equal to it; with several, the authzid must
 *     name one of them.  An address of another host is not an account here.
 *  2. With no xmppAddr and c2s.cn_as_username on, a single subject CN gives
 *     the account: "user" means user@host, "user@domain" must be of this
 *     host; a CN that is no valid username gives no identity (rule 3).
 *     That is safe because client certificates are verified only against
 *     the client trust store the operator configured.
 *  3. A certificate that yields no identity is refused whatever authzid the
 *     client sends, unless the account the authzid names has pinned this
 *     very certificate.
 *  4. An account with pinned certificates accepts only those.
 */
#include <stdio.h>
#include <string.h>

#include "c2s/internal.h"
#include "core/arena.h"
#include "jid/jid.h"
#include "tls/tls.h"

enum sasl_cond c2s_external_identity(struct arena *a, const struct tls_cert_ids *ids, const char *host,
				     bool cn_as_username, const char *authzid, struct jid *account,
				     bool *pin_only, const char **why)
{
	*pin_only = false;
	struct jid z;
	bool have_z = false;
	if (authzid && *authzid) {
		if (jid_parse_str(a, authzid, &z) < 0 || !z.local || z.resource) {
			*why = "the authzid is not an account JID";
			return SASL_INVALID_AUTHZID;
		}
		have_z = true;
	}

	/* 1. xmppAddr */
	size_t naddr = 0;
	struct jid *addrs = ids->nxmpp_addrs ? arena_alloc(a, ids->nxmpp_addrs * sizeof(*addrs)) : NULL;
	for (size_t i = 0; i < ids->nxmpp_addrs; i++) {
		struct jid j;
		if (jid_parse_str(a, ids->xmpp_addrs[i], &j) == 0 && j.local && !j.resource)
			addrs[naddr++] = j;
	}
	if (naddr > 0) {
		if (have_z) {
			for (size_t i = 0; i < naddr; i++)
				if (!strcmp(addrs[i].bare, z.bare)) {
					if (strcmp(z.domain, host) != 0) {
						*why = arena_printf(a, "the certificate's address %s is not an account of %s",
								    z.bare, host);
						return SASL_NOT_AUTHORIZED;
					}
					*account = z;
					*why = "xmppAddr named by the authzid";
					return SASL_OK;
				}
			*why = arena_printf(a, "the authzid %s is not among the certificate's xmppAddr entries", z.bare);
			return SASL_INVALID_AUTHZID;
		}
		if (naddr > 1) {
			*why = arena_printf(a, "the certificate names %zu addresses; the client must choose one with an authzid",
					    naddr);
			return SASL_INVALID_AUTHZID;
		}
		if (strcmp(addrs[0].domain, host) != 0) {
			*why = arena_printf(a, "the certificate is for %s, not an account of %s", addrs[0].bare, host);
			return SASL_NOT_AUTHORIZED;
		}
		*account = addrs[0];
		*why = "the certificate's xmppAddr";
		return SASL_OK;
	}

	/* 2. CN */
	const char *bad_cn = NULL;
	if (cn_as_username && ids->ncns == 1) {
		const char *cn = ids->cns[0];
		struct jid j;
		int r = strchr(cn, '@') ? jid_parse_str(a, cn, &j) : jid_make(a, cn, host, NULL, &j);
		if (r < 0 || !j.local || j.resource) {
			/* A CN that cannot be a username ("Sensor 7") names no
			 * account: the certificate has no identity and rule 3
			 * applies, so a pin can vouch for it as for one without
			 * a CN. */
			bad_cn = cn;
		} else if (strcmp(j.domain, host) != 0) {
			*why = arena_printf(a, "the certificate's CN names %s, not an account of %s", j.bare, host);
			return SASL_NOT_AUTHORIZED;
		} else if (have_z && strcmp(z.bare, j.bare) != 0) {
			*why = arena_printf(a, "the authzid %s differs from the certificate's CN identity %s", z.bare, j.bare);
			return SASL_INVALID_AUTHZID;
		} else {
			*account = j;
			*why = "the certificate's CN (c2s.cn_as_username)";
			return SASL_OK;
		}
	}

	/* 3. no identity: only a pin can vouch for it */
	if (have_z && !strcmp(z.domain, host)) {
		*account = z;
		*pin_only = true;
		*why = "no identity in the certificate; accepted only if the account pinned it";
		return SASL_OK;
	}
	if (bad_cn)
		*why = arena_printf(a, "the certificate's CN '%.100s' is not a valid username", bad_cn);
	else if (ids->ncns > 1 && cn_as_username)
		*why = "the certificate has no xmppAddr and several CNs";
	else if (ids->ncns && !cn_as_username)
		*why = "the certificate has no xmppAddr and c2s.cn_as_username is off";
	else
		*why = "the certificate names no XMPP address (no xmppAddr, no CN)";
	return SASL_NOT_AUTHORIZED;
}
