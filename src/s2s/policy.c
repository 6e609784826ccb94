/*
 * s2s policy: which remote domains federate and how they authenticate
 * (policy.h has the rules).  Every refusal, and every acceptance short of
 * a trusted certificate, comes with a sentence naming the setting that
 * decided it, because an operator debugging federation reads the log, not
 * this file.
 */
#include "s2s/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"

/* s2s.peers' modes are stored as enum config_s2s_mode: the two enums are
 * one, and config.c holds the only names table. */
_Static_assert(S2S_MODE_VERIFY == (int)CONFIG_S2S_VERIFY, "s2s modes");
_Static_assert(S2S_MODE_SELFSIGNED == (int)CONFIG_S2S_SELFSIGNED, "s2s modes");
_Static_assert(S2S_MODE_PLAIN == (int)CONFIG_S2S_PLAIN, "s2s modes");
_Static_assert(S2S_MODE_DENY == (int)CONFIG_S2S_DENY, "s2s modes");
_Static_assert(S2S_MODE_COUNT == (int)CONFIG_S2S_MODES, "s2s modes");

/* Domain names in sentences are cut here so that the setting that
 * decided always fits. */
#define D "%.200s"

const char *s2s_mode_name(enum s2s_mode m)
{
	const char *n = config_s2s_mode_name((int)m);
	return n ? n : "?";
}

/* ---- The row for a domain ---- */

static size_t domain_len(const char *d)
{
	size_t n = strlen(d);
	return n > 1 && d[n - 1] == '.' ? n - 1 : n;
}

static bool domain_eq(const char *a, const char *b)
{
	size_t n = domain_len(a);
	return n == domain_len(b) && strncasecmp(a, b, n) == 0;
}

static bool list_has(const struct config_strlist *l, const char *domain)
{
	for (size_t i = 0; i < l->n; i++)
		if (domain_eq(l->items[i], domain))
			return true;
	return false;
}

static const struct config_s2s_peer *peer_find(const struct config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->s2s.npeers; i++)
		if (domain_eq(cfg->s2s.peers[i].domain, domain))
			return &cfg->s2s.peers[i];
	return NULL;
}

static void setting_printf(struct s2s_policy *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void setting_printf(struct s2s_policy *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->setting, sizeof(out->setting), fmt, ap);
	va_end(ap);
}

void s2s_policy_lookup(const struct config *cfg, const char *domain, struct s2s_policy *out)
{
	memset(out, 0, sizeof(*out));
	const struct config_s2s_peer *e = peer_find(cfg, domain);
	/* Copied: the row outlives a reload of the configuration. */
	if (e && e->pin) {
		snprintf(out->pin_buf, sizeof(out->pin_buf), "%s", e->pin);
		out->pin = out->pin_buf;
	}
	out->dialback = cfg->s2s.dialback;
	out->require_tls = cfg->s2s.require_tls;
	out->mode = S2S_MODE_DENY;
	if (list_has(&cfg->s2s.deny, domain)) {
		setting_printf(out, "s2s.deny");
	} else if (e && e->mode == CONFIG_S2S_DENY) {
		setting_printf(out, "s2s.peers entry for " D " (mode = deny)", e->domain);
	} else if (cfg->s2s.allow.n == 0) {
		setting_printf(out, "s2s.allow is empty (federation is off)");
	} else if (!list_has(&cfg->s2s.allow, "*") && !list_has(&cfg->s2s.allow, domain)) {
		setting_printf(out, "s2s.allow (" D " is not listed)", domain);
	} else {
		out->allowed = true;
		if (e && e->mode != CONFIG_S2S_DEFAULT) {
			out->mode = (enum s2s_mode)e->mode;
			setting_printf(out, "s2s.peers entry for " D " (mode = %s)", e->domain, s2s_mode_name(out->mode));
		} else if (!cfg->s2s.require_tls) {
			out->mode = S2S_MODE_PLAIN;
			setting_printf(out, "s2s.require_tls = false");
		} else if (cfg->s2s.accept_selfsigned) {
			out->mode = S2S_MODE_SELFSIGNED;
			setting_printf(out, "s2s.accept_selfsigned = true");
		} else {
			out->mode = S2S_MODE_VERIFY;
			setting_printf(out, "s2s.require_tls = true, s2s.accept_selfsigned = false");
		}
	}
}

/* ---- The decision for a stream ---- */

static void why_add(struct s2s_decision *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void why_add(struct s2s_decision *out, const char *fmt, ...)
{
	size_t len = strlen(out->why);
	if (len + 1 >= sizeof(out->why))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->why + len, sizeof(out->why) - len, fmt, ap);
	va_end(ap);
}

/* Whether an s2s.peers entry's mode (rather than the global settings)
 * decided p->mode: then the fix to suggest is that entry's mode. */
static bool entry_decided(const struct s2s_policy *p)
{
	return strncmp(p->setting, "s2s.peers entry", strlen("s2s.peers entry")) == 0;
}

/* The code of what was wrong with an untrusted certificate. */
static enum s2s_code cert_code(const struct s2s_peer_tls *t)
{
	static const enum s2s_code by_problem[] = {
		[TLS_CERT_OK] = S2S_CERT_INVALID,
		[TLS_CERT_EXPIRED] = S2S_CERT_EXPIRED,
		[TLS_CERT_NOT_YET_VALID] = S2S_CERT_NOT_YET_VALID,
		[TLS_CERT_UNKNOWN_ISSUER] = S2S_CERT_UNKNOWN_ISSUER,
		[TLS_CERT_SELF_SIGNED] = S2S_CERT_SELFSIGNED_REFUSED,
		[TLS_CERT_CHAIN_TOO_LONG] = S2S_CERT_CHAIN_TOO_DEEP,
		[TLS_CERT_REVOKED] = S2S_CERT_REVOKED,
		[TLS_CERT_CRL] = S2S_CERT_CRL,
		[TLS_CERT_WRONG_PURPOSE] = S2S_CERT_EKU,
		[TLS_CERT_BAD_SIGNATURE] = S2S_CERT_BAD_SIGNATURE,
		[TLS_CERT_NOT_A_CA] = S2S_CERT_NOT_A_CA,
		[TLS_CERT_WEAK] = S2S_CERT_WEAK,
		[TLS_CERT_WRONG_NAME] = S2S_CERT_NAME_MISMATCH,
		[TLS_CERT_OTHER] = S2S_CERT_INVALID,
	};
	if (t->cert == TLS_PEER_CERT_NONE)
		return S2S_CERT_NONE;
	if (t->cert == TLS_PEER_CERT_VALID)
		return S2S_CERT_NAME_MISMATCH; /* valid, but not for this domain */
	if ((unsigned)t->problem < sizeof(by_problem) / sizeof(by_problem[0]))
		return by_problem[t->problem];
	return S2S_CERT_INVALID;
}

/* The first part of the sentence: what was wrong with the peer's
 * certificate on an encrypted stream. */
static void why_certificate(struct s2s_decision *out, const char *domain, const struct s2s_peer_tls *t)
{
	if (t->cert == TLS_PEER_CERT_NONE)
		why_add(out, D " presented no certificate", domain);
	else if (t->cert == TLS_PEER_CERT_INVALID)
		why_add(out, "certificate from " D ": %.200s", domain,
			t->cert_reason && *t->cert_reason ? t->cert_reason : "not valid against s2s.ca");
	else
		why_add(out, "certificate from " D ": valid, but it does not name " D, domain, domain);
}

/* The way out of a refusal in mode verify, by what was wrong. */
static void why_verify_fix(struct s2s_decision *out, const char *domain, const struct s2s_peer_tls *t,
			   bool entry)
{
	if (t->cert == TLS_PEER_CERT_NONE)
		why_add(out, "the peer must present a certificate");
	else if (t->cert == TLS_PEER_CERT_INVALID)
		why_add(out, "add its CA to s2s.ca (parleyctl trust add --store s2s)");
	else
		why_add(out, "the peer needs a certificate that names " D, domain);
	if (entry)
		why_add(out, " or set mode = selfsigned");
	else
		why_add(out, " or set s2s.accept_selfsigned = true (or mode = selfsigned in an s2s.peers entry for " D ")",
			domain);
}

void s2s_policy_decide(const struct s2s_policy *p, const char *domain, const struct s2s_peer_tls *t,
		       bool dialback, struct s2s_decision *out)
{
	memset(out, 0, sizeof(*out));
	const unsigned db = dialback ? S2S_METHOD_DIALBACK : 0;
	if (!p->allowed || p->mode == S2S_MODE_DENY) {
		out->code = strncmp(p->setting, "s2s.allow", 9) == 0 ? S2S_NOT_ALLOWED : S2S_POLICY_DENIED;
		why_add(out, "federation with " D " is not allowed: %s", domain,
			p->setting[0] ? p->setting : "s2s.allow, s2s.deny or s2s.peers");
		return;
	}
	if (p->pin) {
		if (!t->tls || !t->spki) {
			out->code = S2S_PIN_MISMATCH;
			why_add(out, D " presented no certificate%s: pinned key mismatch; refused because s2s.peers entry for " D
				     " pins its key (pin = %.64s)",
				domain, t->tls ? "" : " (the stream is not encrypted)", domain, p->pin);
			return;
		}
		if (strcasecmp(t->spki, p->pin) != 0) {
			out->code = S2S_PIN_MISMATCH;
			why_add(out, "certificate from " D ": pinned key mismatch (its key's SHA-256 is %.64s); refused because "
				     "s2s.peers entry for " D " pins %.64s; if the peer changed its key, update the pin "
				     "(parleyctl cert show prints it as spki)",
				domain, t->spki, domain, p->pin);
			return;
		}
		out->trusted = true;
	} else {
		out->trusted = t->tls && t->cert == TLS_PEER_CERT_VALID && t->names_domain;
	}

	if (!t->tls) {
		out->code = S2S_PLAINTEXT_REFUSED;
		if (p->mode != S2S_MODE_PLAIN) {
			if (entry_decided(p))
				why_add(out, "the stream with " D " is not encrypted; refused because s2s.peers entry for " D
					     " requires TLS (mode = %s); set mode = plain to allow dialback without it",
					domain, domain, s2s_mode_name(p->mode));
			else
				why_add(out, "the stream with " D " is not encrypted; refused because s2s.require_tls = true",
					domain);
		} else if (db) {
			out->methods = db;
			why_add(out, "the stream with " D " is not encrypted; accepted for dialback because %s", domain,
				p->setting);
		} else {
			out->code = S2S_DIALBACK_DISABLED;
			why_add(out, "the stream with " D " is not encrypted; refused: %s allows dialback without TLS, but "
				     "s2s.dialback = false",
				domain, p->setting);
		}
		return;
	}

	if (out->trusted) {
		out->methods = S2S_METHOD_EXTERNAL | db;
		return;
	}

	why_certificate(out, domain, t);
	out->code = cert_code(t);
	if (p->mode == S2S_MODE_VERIFY) {
		if (entry_decided(p))
			why_add(out, "; refused because s2s.peers entry for " D " requires a valid certificate (mode = verify); ",
				domain);
		else
			why_add(out, "; refused because s2s.accept_selfsigned = false; ");
		why_verify_fix(out, domain, t, entry_decided(p));
	} else if (db) {
		out->methods = db;
		why_add(out, "; accepted for dialback because %s", p->setting);
	} else {
		out->code = S2S_DIALBACK_DISABLED;
		why_add(out, "; refused: %s would accept it with dialback, but s2s.dialback = false", p->setting);
	}
}
