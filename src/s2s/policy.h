/*
 * s2s policy: the one place that decides whether a remote domain may
 * federate with us and how it must authenticate, from the s2s.* settings
 * and what TLS said of the stream.  Pure: no I/O, no logging, no clock; the
 * streams (in.c, out.c, dialback.c) ask, act, and log the sentence it gives.
 *
 * It does not verify certificates (the TLS layer does, against s2s.ca) nor
 * match names (tls_cert_ids_name); it takes their verdicts as facts.
 */
#ifndef PARLEY_S2S_POLICY_H
#define PARLEY_S2S_POLICY_H

#include <stdbool.h>

#include "s2s/code.h"
#include "tls/tls.h" /* enum tls_peer_cert */

struct config;

/* How a domain must authenticate; the values of enum config_s2s_mode, so
 * s2s.peers' mode needs no mapping. */
enum s2s_mode {
	S2S_MODE_VERIFY,     /* a certificate that verifies and names the domain */
	S2S_MODE_SELFSIGNED, /* TLS required; an untrusted certificate passes with dialback */
	S2S_MODE_PLAIN,      /* TLS not required; dialback */
	S2S_MODE_DENY,       /* never */
	S2S_MODE_COUNT
};

/* "verify", "selfsigned", "plain", "deny"; "?" for anything else. */
const char *s2s_mode_name(enum s2s_mode m);

/* ---- The row for a domain ---- */

struct s2s_policy {
	enum s2s_mode mode;   /* S2S_MODE_DENY whenever !allowed */
	const char *pin;      /* SPKI SHA-256 hex, or NULL (points into pin_buf) */
	char pin_buf[65];
	bool dialback;        /* s2s.dialback */
	bool require_tls;     /* s2s.require_tls (the global setting) */
	bool allowed;         /* s2s.allow and s2s.deny let this domain federate */
	/* What decided `mode` and `allowed`, for log lines:
	 * "s2s.peers entry for b.example (mode = selfsigned)",
	 * "s2s.accept_selfsigned = true", "s2s.require_tls = false",
	 * "s2s.require_tls = true, s2s.accept_selfsigned = false", "s2s.deny",
	 * "s2s.allow (b.example is not listed)",
	 * "s2s.allow is empty (federation is off)". */
	char setting[160];
};

/*
 * The policy row for a remote domain: its s2s.peers entry, else the
 * default row from the global settings: mode PLAIN when s2s.require_tls =
 * false, else SELFSIGNED when s2s.accept_selfsigned = true, else VERIFY (an
 * entry without a mode takes the default row's mode, and keeps its pin).
 * allowed: not in s2s.deny, and s2s.allow contains "*" or the domain; an
 * entry with mode deny is not allowed either.  Refusals are checked in
 * that order: s2s.deny, the entry's mode deny, s2s.allow.  Domains compare
 * ASCII case-insensitively, a trailing dot ignored.  Valid while `cfg` is.
 */
void s2s_policy_lookup(const struct config *cfg, const char *domain, struct s2s_policy *out);

/* ---- The decision for a stream ---- */

/* What TLS says of the peer, as the stream saw it. */
struct s2s_peer_tls {
	bool tls;                 /* the stream is encrypted */
	enum tls_peer_cert cert;  /* NONE / VALID / INVALID against the s2s trust store */
	const char *cert_reason;  /* the TLS layer's sentence when INVALID (or NULL) */
	enum tls_cert_problem problem; /* and its kind */
	bool names_domain;        /* the certificate names the domain (RFC 6125) */
	const char *names_reason; /* which identity matched, or why none did (or NULL) */
	const char *spki;         /* the certificate's SPKI SHA-256 hex, or NULL without one */
};

enum { S2S_METHOD_EXTERNAL = 1u, S2S_METHOD_DIALBACK = 2u };

struct s2s_decision {
	unsigned methods; /* S2S_METHOD_* allowed; 0: the link must fail */
	/* Why it failed, or why it fell back from a trusted certificate
	 * (dialback only); S2S_CODE_NONE when trusted. */
	enum s2s_code code;
	bool trusted;     /* certificate valid and naming the domain, or matching the pin */
	/* One sentence for the operator when !trusted or methods == 0: the
	 * peer, what was wrong, what was decided and the setting that decided
	 * it or would change it.  Empty when trusted (and methods != 0). */
	char why[512];
};

/*
 * The decision for `domain` on a stream with these TLS facts; `dialback`
 * is s2s.dialback.
 *  1. Not allowed: 0; why names s2s.allow, s2s.deny or the s2s.peers entry.
 *  2. With a pin: trusted iff `spki` equals it (case-insensitively); a
 *     mismatch or no certificate: 0 ("pinned key mismatch"), whatever the
 *     mode.  Without a pin: trusted = cert VALID && names_domain.
 *  3. Without TLS: mode PLAIN allows DIALBACK (if dialback); any other
 *     mode gives 0, why naming s2s.require_tls or the peers entry.
 *  4. With TLS and trusted: EXTERNAL, plus DIALBACK if dialback.
 *  5. With TLS and not trusted (no certificate, an invalid one, or a valid
 *     one that does not name the domain): modes SELFSIGNED and PLAIN allow
 *     DIALBACK (if dialback), why saying it was accepted for dialback and
 *     by which setting; VERIFY gives 0, why saying what would change it.
 */
void s2s_policy_decide(const struct s2s_policy *p, const char *domain, const struct s2s_peer_tls *t,
		       bool dialback, struct s2s_decision *out);

#endif
