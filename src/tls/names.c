/*
 * names: RFC 6125 server identity matching for XMPP (RFC 6120 §13.7.2,
 * RFC 7590).  The rules and the choices are listed in tls/names.h.
 *
 * Every name, reference or presented, goes through one function
 * (names_alabel) to its lower-case A-label form before any comparison, so
 * that comparing is strcmp and there is one place where a name is judged
 * valid.  Wildcards and SRV prefixes are split off first, since neither
 * "*" nor "_" is part of a domain name.
 */
#include "tls/names.h"

#include <idn2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longer input is refused before any work: a U-label name whose A-label
 * fits in 253 octets is far shorter than this in UTF-8. */
enum { NAMES_INPUT_MAX = 1024, NAMES_LABEL_MAX = 63, NAMES_QUOTE_MAX = 80 };

static const char *const tls_id_type_names[] = {
	[TLS_ID_NO_MATCH] = "no-match",
	[TLS_ID_DNS] = "DNS-ID",
	[TLS_ID_SRV] = "SRV-ID",
	[TLS_ID_XMPPADDR] = "XmppAddr",
	[TLS_ID_CN] = "CN-ID",
};
_Static_assert(sizeof(tls_id_type_names) / sizeof(tls_id_type_names[0]) == TLS_ID_TYPE_COUNT,
	       "a name for every identifier type");

const char *tls_id_type_name(enum tls_id_type t)
{
	if ((unsigned)t >= TLS_ID_TYPE_COUNT)
		return "invalid";
	return tls_id_type_names[t];
}

/* ---- One form for every name ---- */

static char names_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool names_is_alabel(const char *label, size_t n)
{
	return n >= 4 && strncasecmp(label, "xn--", 4) == 0;
}

/* The structure every converted name must have: LDH labels of 1..63
 * octets, no hyphen at either end, at most 253 octets, and not an IPv4
 * address (a last label of digits only; no top-level domain is one). */
static bool names_ldh_ok(const char *s, const char **why)
{
	size_t len = strlen(s);
	if (len == 0) {
		*why = "is empty";
		return false;
	}
	if (len > TLS_NAMES_DNS_MAX) {
		*why = "is longer than a domain name may be";
		return false;
	}
	const char *label = s;
	for (;;) {
		const char *dot = strchr(label, '.');
		size_t n = dot ? (size_t)(dot - label) : strlen(label);
		bool digits = n > 0;
		if (n == 0) {
			*why = "has an empty label";
			return false;
		}
		if (n > NAMES_LABEL_MAX) {
			*why = "has a label longer than 63 octets";
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			char c = label[i];
			bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
			if (!alnum && c != '-') {
				*why = c == '*' ? "has a wildcard where none may be"
						: "has a character that is not a letter, digit or hyphen";
				return false;
			}
			digits = digits && c >= '0' && c <= '9';
		}
		if (label[0] == '-' || label[n - 1] == '-') {
			*why = "has a label that starts or ends with a hyphen";
			return false;
		}
		if (!dot) {
			if (digits) {
				*why = "is an IP address, not a domain name";
				return false;
			}
			return true;
		}
		label = dot + 1;
	}
}

/* An "xn--" label of an ASCII name must be the A-label of a valid U-label;
 * libidn2 decodes it and checks that it encodes back to the same label. */
static bool names_alabel_valid(const char *label, size_t n)
{
	char tmp[NAMES_LABEL_MAX + 1];
	if (n > NAMES_LABEL_MAX)
		return false;
	memcpy(tmp, label, n);
	tmp[n] = '\0';
	uint8_t *out = NULL;
	bool ok = idn2_lookup_u8((const uint8_t *)tmp, &out, IDN2_NONTRANSITIONAL) == IDN2_OK &&
		  out && strcmp((const char *)out, tmp) == 0;
	idn2_free(out);
	return ok;
}

/*
 * `len` bytes of `in` (no NUL among them) to the comparison form in `out`.
 * An ASCII name is only folded to lower case (its "xn--" labels checked):
 * libidn2 would also refuse ASCII labels with "--" in the third and fourth
 * places, which our JID domains allow.  A name with any other character is
 * converted as a whole by libidn2, never with IDN2_USE_STD3_ASCII_RULES,
 * which silently drops '*', '_' and spaces instead of refusing them.
 *
 * `mapped` (the reference, a name of ours) applies UTS #46 non-transitional
 * mapping: case folding, NFC, ideographic full stops as dots, as a name
 * typed by an operator deserves.  A presented identifier (not `mapped`)
 * must already be valid IDNA2008 U-labels (IDN2_NO_TR46), apart from the
 * case of its ASCII letters: mapping would quietly turn a name the issuer
 * signed into another one ("exa<U+200B>mple.com" into "example.com").
 */
static bool names_convert(const char *in, size_t len, char out[TLS_NAMES_DNS_MAX + 1],
			  bool mapped, const char **why)
{
	bool dotted = len > 0 && in[len - 1] == '.';
	if (dotted)
		len--;
	if (len == 0) {
		*why = "is empty";
		return false;
	}
	if (len > NAMES_INPUT_MAX) {
		*why = "is longer than a domain name may be";
		return false;
	}
	bool ascii = true;
	for (size_t i = 0; i < len && ascii; i++)
		ascii = (unsigned char)in[i] < 0x80;
	if (ascii) {
		if (len > TLS_NAMES_DNS_MAX) {
			*why = "is longer than a domain name may be";
			return false;
		}
		for (size_t i = 0; i < len; i++)
			out[i] = names_lower(in[i]);
		out[len] = '\0';
		if (!names_ldh_ok(out, why))
			return false;
		for (const char *label = out; label;) {
			const char *dot = strchr(label, '.');
			size_t n = dot ? (size_t)(dot - label) : strlen(label);
			if (names_is_alabel(label, n) && !names_alabel_valid(label, n)) {
				*why = "has an xn-- label that is not a valid A-label";
				return false;
			}
			label = dot ? dot + 1 : NULL;
		}
		return true;
	}
	char tmp[NAMES_INPUT_MAX + 1];
	for (size_t i = 0; i < len; i++)
		tmp[i] = names_lower(in[i]);
	tmp[len] = '\0';
	uint8_t *conv = NULL;
	int rc = idn2_lookup_u8((const uint8_t *)tmp, &conv,
				mapped ? IDN2_NONTRANSITIONAL : IDN2_NO_TR46);
	if (rc != IDN2_OK || !conv) {
		idn2_free(conv);
		*why = "is not a valid IDNA name";
		return false;
	}
	size_t clen = strlen((const char *)conv);
	/* The mapping may have made a trailing dot of its own (from an
	 * ideographic full stop): the one trailing dot, unless there was an
	 * ASCII one after it too (then an empty label, refused below). */
	if (clen > 0 && conv[clen - 1] == '.' && !dotted)
		clen--;
	bool ok = clen <= TLS_NAMES_DNS_MAX;
	if (ok) {
		memcpy(out, conv, clen);
		out[clen] = '\0';
		ok = names_ldh_ok(out, why);
	} else {
		*why = "is longer than a domain name may be";
	}
	idn2_free(conv);
	return ok;
}

bool tls_names_alabel(const char *name, char out[TLS_NAMES_DNS_MAX + 1], const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	out[0] = '\0';
	if (!name) {
		*why = "is missing";
		return false;
	}
	bool ok = names_convert(name, strlen(name), out, true, why);
	if (!ok)
		out[0] = '\0';
	return ok;
}

/* ---- Matching, per type ---- */

/* What a failed identifier was, for the reason of a verdict. */
struct names_skip {
	enum tls_id_type type;
	const char *id;
	const char *why;
};

static void names_skipped(struct names_skip *skip, enum tls_id_type type, const char *id,
			  const char *why)
{
	if (skip->type == TLS_ID_NO_MATCH)
		*skip = (struct names_skip){type, id, why};
}

/* A DNS-ID (or a CN-ID, by the same rules) against the converted reference. */
static bool names_dns_id(const char *id, const char *ref, enum tls_id_type type,
			 struct names_skip *skip)
{
	char conv[TLS_NAMES_DNS_MAX + 1];
	const char *why = NULL;
	size_t len = strlen(id);
	bool wildcard = len >= 2 && id[0] == '*' && id[1] == '.';
	const char *rest = wildcard ? id + 2 : id;
	if (strchr(rest, '*')) {
		names_skipped(skip, type, id, "has a wildcard that is not the whole left-most label");
		return false;
	}
	if (!names_convert(rest, strlen(rest), conv, false, &why)) {
		names_skipped(skip, type, id, why);
		return false;
	}
	if (!wildcard)
		return strcmp(conv, ref) == 0;
	if (!strchr(conv, '.')) {
		names_skipped(skip, type, id, "is a wildcard directly above a top-level domain");
		return false;
	}
	const char *dot = strchr(ref, '.');
	if (!dot || strcmp(dot + 1, conv) != 0)
		return false;
	if (names_is_alabel(ref, (size_t)(dot - ref))) {
		names_skipped(skip, type, id, "is a wildcard, which never stands for an A-label");
		return false;
	}
	return true;
}

static bool names_srv_id(const char *id, const char *ref, const char *service,
			 struct names_skip *skip)
{
	char conv[TLS_NAMES_DNS_MAX + 1];
	const char *why = NULL;
	const char *dot = strchr(id, '.');
	if (id[0] != '_' || !dot || dot == id + 1) {
		names_skipped(skip, TLS_ID_SRV, id, "is not of the form _service.domain");
		return false;
	}
	if (!service)
		return false;
	size_t slen = (size_t)(dot - id - 1);
	/* Another service's SRV-ID is not an error: a certificate may carry
	 * _xmpp-client and _xmpp-server both. */
	if (slen != strlen(service) || strncasecmp(id + 1, service, slen) != 0)
		return false;
	if (strchr(dot + 1, '*')) {
		names_skipped(skip, TLS_ID_SRV, id, "has a wildcard, which SRV-IDs may not have");
		return false;
	}
	if (!names_convert(dot + 1, strlen(dot + 1), conv, false, &why)) {
		names_skipped(skip, TLS_ID_SRV, id, why);
		return false;
	}
	return strcmp(conv, ref) == 0;
}

static bool names_xmpp_addr(const char *id, const char *ref, struct names_skip *skip)
{
	char conv[TLS_NAMES_DNS_MAX + 1];
	const char *why = NULL;
	/* A JID with a local or resource part names an account, not this
	 * server: no match, and nothing wrong with the certificate. */
	if (strchr(id, '@') || strchr(id, '/'))
		return false;
	if (!names_convert(id, strlen(id), conv, false, &why)) {
		names_skipped(skip, TLS_ID_XMPPADDR, id, why);
		return false;
	}
	return strcmp(conv, ref) == 0;
}

/* ---- The verdict's sentence ---- */

struct names_text {
	char *s;
	size_t cap, len;
};

static void text_add(struct names_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct names_text *t, const char *fmt, ...)
{
	if (t->len + 1 >= t->cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len = t->len + (size_t)n < t->cap ? t->len + (size_t)n : t->cap - 1;
}

/* A name from a certificate, quoted for a log line: at most
 * NAMES_QUOTE_MAX bytes, control characters and quotes replaced, since a
 * certificate is written by whoever connects. */
static void text_quote(struct names_text *t, const char *name)
{
	char q[NAMES_QUOTE_MAX + 4];
	size_t n = 0;
	for (; name[n] && n < NAMES_QUOTE_MAX; n++) {
		unsigned char c = (unsigned char)name[n];
		q[n] = c < 0x20 || c == 0x7f || c == '"' ? '?' : (char)c;
	}
	if (name[n]) {
		/* Cut at a character boundary: the line stays valid UTF-8. */
		while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
			n--;
		memcpy(q + n, "...", 3);
		n += 3;
	}
	q[n] = '\0';
	text_add(t, "\"%s\"", q);
}

static const char *names_plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* ---- The whole check ---- */

enum tls_id_type tls_names_match(const char *reference, const struct tls_presented_ids *ids,
				 const struct tls_names_policy *policy,
				 struct tls_names_verdict *out)
{
	static const struct tls_names_policy server_default = {.srv_service = "xmpp-server"};
	static const struct tls_presented_ids none;
	struct tls_names_verdict scratch;
	if (!out)
		out = &scratch;
	if (!policy)
		policy = &server_default;
	if (!ids)
		ids = &none;
	*out = (struct tls_names_verdict){.type = TLS_ID_NO_MATCH};
	struct names_text t = {out->reason, sizeof(out->reason), 0};

	char ref[TLS_NAMES_DNS_MAX + 1];
	const char *why = NULL;
	if (!tls_names_alabel(reference, ref, &why)) {
		text_add(&t, "the expected name ");
		if (reference) {
			text_quote(&t, reference);
			text_add(&t, " ");
		}
		text_add(&t, "%s", why);
		return TLS_ID_NO_MATCH;
	}

	struct names_skip skip = {0};
	size_t index = 0;
	const char *matched = NULL;
	enum tls_id_type type = TLS_ID_NO_MATCH;
	for (size_t i = 0; i < ids->ndns_ids && !matched; i++) {
		if (ids->dns_ids[i] && names_dns_id(ids->dns_ids[i], ref, TLS_ID_DNS, &skip)) {
			type = TLS_ID_DNS;
			index = i;
			matched = ids->dns_ids[i];
		}
	}
	for (size_t i = 0; i < ids->nsrv_ids && !matched; i++) {
		if (ids->srv_ids[i] &&
		    names_srv_id(ids->srv_ids[i], ref, policy->srv_service, &skip)) {
			type = TLS_ID_SRV;
			index = i;
			matched = ids->srv_ids[i];
		}
	}
	for (size_t i = 0; i < ids->nxmpp_addrs && !matched; i++) {
		if (ids->xmpp_addrs[i] && names_xmpp_addr(ids->xmpp_addrs[i], ref, &skip)) {
			type = TLS_ID_XMPPADDR;
			index = i;
			matched = ids->xmpp_addrs[i];
		}
	}
	/* RFC 6125 §6.4.4: any subjectAltName of a type we know rules the CN
	 * out, whether it matched or not. */
	bool has_san = ids->ndns_ids + ids->nsrv_ids + ids->nxmpp_addrs > 0;
	bool cn_considered = policy->allow_cn && !has_san;
	for (size_t i = 0; i < ids->ncn_ids && !matched && cn_considered; i++) {
		if (ids->cn_ids[i] && names_dns_id(ids->cn_ids[i], ref, TLS_ID_CN, &skip)) {
			type = TLS_ID_CN;
			index = i;
			matched = ids->cn_ids[i];
		}
	}

	if (matched) {
		out->type = type;
		out->index = index;
		text_add(&t, "%s ", tls_id_type_name(type));
		text_quote(&t, matched);
		text_add(&t, " names \"%s\"", ref);
		if (type == TLS_ID_CN)
			text_add(&t, " (the certificate has no subjectAltName of a type we know)");
		return type;
	}

	if (!has_san && ids->ncn_ids == 0) {
		text_add(&t, "the certificate presents no identifier (no subjectAltName, no CN)");
	} else if (!has_san && !cn_considered) {
		text_add(&t, "the certificate has no DNS-ID, SRV-ID or XmppAddr, and CN-IDs are not allowed");
	} else {
		if (has_san)
			text_add(&t, "no DNS-ID, SRV-ID or XmppAddr names \"%s\" (%zu %s, %zu %s, %zu %s)",
				 ref, ids->ndns_ids, names_plural(ids->ndns_ids, "DNS-ID", "DNS-IDs"),
				 ids->nsrv_ids, names_plural(ids->nsrv_ids, "SRV-ID", "SRV-IDs"),
				 ids->nxmpp_addrs,
				 names_plural(ids->nxmpp_addrs, "XmppAddr", "XmppAddrs"));
		else
			text_add(&t, "no CN-ID names \"%s\"", ref);
		if (has_san && ids->ncn_ids > 0 && policy->allow_cn)
			text_add(&t, "; CN-IDs not considered: the certificate has subjectAltNames");
	}
	if (skip.type != TLS_ID_NO_MATCH) {
		text_add(&t, "; skipped %s ", tls_id_type_name(skip.type));
		text_quote(&t, skip.id);
		text_add(&t, ": %s", skip.why);
	}
	return TLS_ID_NO_MATCH;
}
