/*
 * c2s auth: the client kind's identity rule for SASL negotiation
 * (stream/sasl.h).  A SASL username is an account on the stream's host;
 * its credentials are the account's SCRAM records; a verified certificate
 * logs in as the account XEP-0178 names (external.c), with per-account
 * pins and, where configured, account creation at the first login.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s/c2s.h"
#include "c2s/internal.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/conn.h"
#include "core/log.h"
#include "jid/jid.h"
#include "store/store.h"
#include "tls/tls.h"

static const char *const store_mech_names[SCRAM_HASH_COUNT] = {
	[SCRAM_SHA1] = "SCRAM-SHA-1",
	[SCRAM_SHA256] = "SCRAM-SHA-256",
};

static struct c2s_stream *stream_of(const struct xs_sasl *sa)
{
	return container_of(sa, struct c2s_stream, sasl);
}

static unsigned long long cid(const struct c2s_stream *s)
{
	return (unsigned long long)conn_id(s->xs.conn);
}

/* The account JID for a SASL username on this stream's host, or -1. */
static int c2s_identity(struct xs_sasl *sa, struct arena *a, const char *username, struct jid *out)
{
	return jid_make(a, username, sa->xs->domain, NULL, out);
}

static int c2s_credentials(struct xs_sasl *sa, struct arena *a, const char *bare, enum scram_hash h,
			   struct scram_cred *out)
{
	struct c2s_stream *s = stream_of(sa);
	struct store_cred sc;
	int r = store_user_get_cred(s->sh->store, a, bare, store_mech_names[h], &sc);
	if (r == STORE_NOT_FOUND)
		return 1;
	if (r == STORE_OK && (sc.salt_len > SCRAM_SALT_MAX || sc.key_len != scram_hash_len(h)))
		r = STORE_ERROR;
	if (r != STORE_OK) {
		log_error("c2s", "conn=%llu cannot read credentials of %s: %s", cid(s), bare, store_error(s->sh->store));
		return -1;
	}
	memset(out, 0, sizeof(*out));
	out->hash = h;
	out->iterations = sc.iterations;
	memcpy(out->salt, sc.salt, sc.salt_len);
	out->salt_len = sc.salt_len;
	memcpy(out->stored_key, sc.stored_key, sc.key_len);
	memcpy(out->server_key, sc.server_key, sc.key_len);
	return 0;
}

static bool c2s_external_allowed(struct xs_sasl *sa)
{
	const struct c2s_stream *s = stream_of(sa);
	return s->sh->srv->cfg->c2s.client_certs != CLIENT_CERTS_DISABLED && !s->no_external;
}

/* XEP-0178: the account the certificate names, which must exist (or be
 * created, c2s.auto_create_accounts) and accept the certificate's pin. */
static enum sasl_cond c2s_external(struct xs_sasl *sa, struct arena *a, const char *authzid, struct jid *account,
				   const char **who, const char **why)
{
	struct c2s_stream *s = stream_of(sa);
	const struct config *cfg = s->sh->srv->cfg;
	struct store *st = s->sh->store;
	struct tls_cert_ids ids;
	if (tls_session_peer_identities(conn_transport(s->xs.conn), a, &ids) < 0) {
		*why = "no client certificate";
		return SASL_NOT_AUTHORIZED;
	}
	for (size_t i = 0; i < ids.nrefused; i++)
		log_info("c2s", "conn=%llu ignoring a certificate identity: %s", cid(s), ids.refused[i]);
	bool pin_only;
	enum sasl_cond c = c2s_external_identity(a, &ids, s->xs.domain, cfg->c2s.cn_as_username, authzid, account,
						 &pin_only, why);
	*who = authzid ? authzid : ids.nxmpp_addrs ? ids.xmpp_addrs[0] : ids.ncns ? ids.cns[0] : NULL;
	if (c != SASL_OK)
		return c;
	*who = account->bare;
	int r = store_user_exists(st, account->bare);
	if (r == STORE_NOT_FOUND && !pin_only && cfg->c2s.auto_create_accounts) {
		r = store_user_create(st, account->bare, NULL, 0);
		if (r == STORE_OK)
			log_info("c2s", "conn=%llu created account %s at its first certificate login "
					"(c2s.auto_create_accounts)",
				 cid(s), account->bare);
		if (r == STORE_EXISTS)
			r = STORE_OK;
	}
	if (r == STORE_NOT_FOUND) {
		*why = pin_only ? "no identity in the certificate, and no such account to have pinned it"
				: "no such account (c2s.auto_create_accounts is off)";
		return SASL_NOT_AUTHORIZED;
	}
	size_t npins = 0;
	if (r == STORE_OK)
		r = store_cert_pin_count(st, account->bare, &npins);
	if (r == STORE_OK && (npins > 0 || pin_only)) {
		r = store_cert_pin_find(st, account->bare, ids.fingerprint);
		if (r == STORE_NOT_FOUND) {
			*why = pin_only ? arena_printf(a, "no identity in the certificate and %s has not pinned it "
							  "(sha256 %.16s...)", account->bare, ids.fingerprint)
					: arena_printf(a, "%s accepts only its pinned certificates; this one "
							  "(sha256 %.16s...) is not one of them", account->bare,
						       ids.fingerprint);
			return SASL_NOT_AUTHORIZED;
		}
	}
	if (r != STORE_OK) {
		log_error("c2s", "conn=%llu cannot check account %s: %s", cid(s), account->bare, store_error(st));
		return SASL_TEMPORARY_AUTH_FAILURE;
	}
	log_info("c2s", "conn=%llu certificate identifies %s by %s%s", cid(s), account->bare,
		 pin_only ? "its pin" : *why, npins ? " (pinned)" : "");
	return SASL_OK;
}

static void c2s_succeeded(struct xs_sasl *sa, const struct jid *account)
{
	struct c2s_stream *s = stream_of(sa);
	s->jid = jid_dup(account);
	xs_restart_after_auth(&s->xs);
}

static void c2s_release(struct xs_sasl *sa)
{
	c2s_stream_release(stream_of(sa));
}

const struct xs_sasl_rules c2s_sasl_rules = {
	.identity = c2s_identity,
	.credentials = c2s_credentials,
	.external = c2s_external,
	.external_allowed = c2s_external_allowed,
	.succeeded = c2s_succeeded,
	.release = c2s_release,
};
