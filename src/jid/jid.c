/*
 * jid: JID syntax (RFC 7622 §3.1) with the RFC 6122 preparation profiles.
 * Every string a parse hands out is prepared, so comparing JIDs is
 * comparing strings.  This file does not decide which domains are served
 * here, nor map JIDs to accounts.
 *
 * Choices worth knowing:
 *  - Localparts and resourceparts go through libidn's Nodeprep and
 *    Resourceprep as "query" strings: code points unassigned in Unicode 3.2
 *    pass, because clients put newer characters (emoji) in resources and
 *    refusing them would refuse real clients.
 *  - Domains are stored in Unicode form.  Labels are split at the four
 *    IDNA2003 dots and each goes through Nameprep (which folds case, and
 *    maps "ß" to "ss"); a non-ASCII label must then be a valid IDNA2008
 *    U-label (libidn2, no TR46 mapping) whose A-label is at most 63 octets.
 *    An ASCII label must be letters, digits and inner hyphens, 1..63 octets.
 *    An "xn--" label is decoded to its U-label (RFC 7622 §3.2.1), so one
 *    domain has one spelling; it is refused when its U-label is not stable
 *    under Nameprep, since that domain cannot be written any other way.
 *  - One trailing ASCII dot is stripped.  A dotted-quad IPv4 literal is kept
 *    as written (inet_pton already refuses leading zeros); a domain whose
 *    last label is all digits must be one.  An [IPv6] literal is rewritten
 *    in inet_ntop's RFC 5952 form, so [0::1] and [::1] are one JID.
 *  - All-ASCII local and resource parts, the common case, never reach
 *    libidn; the unit test checks that the fast path agrees with libidn for
 *    every ASCII byte.
 *  - Raw parts longer than JID_PART_MAX are refused before any work, and
 *    so are prepared parts.
 */
#include "jid/jid.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/utf8.h"

enum { JID_LABEL_MAX = 63 };

static bool jid_is_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* Length and NUL checks shared by every part (limits before work). */
static bool jid_part_ok(const char *s, size_t len)
{
	return s && len > 0 && len <= JID_PART_MAX && !memchr(s, '\0', len);
}

/* The slow path: a libidn stringprep profile over a non-ASCII part. */
static const char *jid_stringprep(struct arena *a, const char *s, size_t len,
				  const Stringprep_profile *profile)
{
	char tmp[JID_PART_MAX + 1];

	if (!utf8_valid(s, len))
		return NULL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	/* The output limit is the buffer: longer results fail with
	 * STRINGPREP_TOO_SMALL_BUFFER, which is the part limit we want. */
	if (stringprep(tmp, sizeof(tmp), 0, profile) != STRINGPREP_OK)
		return NULL;
	size_t n = strlen(tmp);
	if (n == 0)
		return NULL;
	return arena_strndup(a, tmp, n);
}

const char *jid_prep_local(struct arena *a, const char *s, size_t len)
{
	static const char prohibited[] = "\"&'/:<>@";

	if (!jid_part_ok(s, len))
		return NULL;
	if (!jid_is_ascii(s, len))
		return jid_stringprep(a, s, len, stringprep_xmpp_nodeprep);
	/* Nodeprep on ASCII: controls and space are prohibited (C.2.1, C.1.1),
	 * so are the eight characters of RFC 6122 Appendix A; B.2 folds case. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7F || memchr(prohibited, c, sizeof(prohibited) - 1))
			return NULL;
	}
	char *out = arena_alloc(a, len + 1);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return out;
}

const char *jid_prep_resource(struct arena *a, const char *s, size_t len)
{
	if (!jid_part_ok(s, len))
		return NULL;
	if (!jid_is_ascii(s, len))
		return jid_stringprep(a, s, len, stringprep_xmpp_resourceprep);
	/* Resourceprep on ASCII: only controls are prohibited; no mapping. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < ' ' || c == 0x7F)
			return NULL;
	}
	return arena_strndup(a, s, len);
}

/* ---- Domains ---- */

/* The domain being built, label by label. */
struct jid_domain {
	char s[JID_PART_MAX + 1];
	size_t len;
	bool last_numeric; /* the last label so far is all digits */
};

static bool domain_append(struct jid_domain *d, const char *p, size_t n)
{
	size_t sep = d->len > 0;
	if (d->len + sep + n > JID_PART_MAX)
		return false;
	if (sep)
		d->s[d->len++] = '.';
	memcpy(d->s + d->len, p, n);
	d->len += n;
	d->s[d->len] = '\0';
	return true;
}

/* True when `ulabel` is a valid IDNA2008 U-label whose A-label fits, and
 * (when `alabel` is given) encodes to exactly that A-label. */
static bool domain_ulabel_valid(const char *ulabel, const char *alabel)
{
	uint8_t *out = NULL;
	int rc = idn2_lookup_u8((const uint8_t *)ulabel, &out, IDN2_NO_TR46);
	bool ok = rc == IDN2_OK && strlen((const char *)out) <= JID_LABEL_MAX &&
		  (!alabel || strcmp((const char *)out, alabel) == 0);
	idn2_free(out);
	return ok;
}

/* True when Nameprep leaves `s` unchanged. */
static bool domain_nameprep_stable(const char *s, size_t n)
{
	char tmp[JID_PART_MAX + 1];

	if (n > JID_PART_MAX)
		return false;
	memcpy(tmp, s, n + 1);
	return stringprep(tmp, sizeof(tmp), 0, stringprep_nameprep) == STRINGPREP_OK &&
	       strcmp(tmp, s) == 0;
}

/* An "xn--" label (lower case, NUL-terminated): appended as its U-label. */
static bool domain_alabel(struct jid_domain *d, const char *alabel)
{
	char *u = NULL;
	bool ok = false;

	if (idn2_to_unicode_8z8z(alabel, &u, 0) == IDN2_OK && u) {
		size_t n = strlen(u);
		ok = n > 0 && !jid_is_ascii(u, n) && !memchr(u, '.', n) &&
		     domain_nameprep_stable(u, n) && domain_ulabel_valid(u, alabel) &&
		     domain_append(d, u, n);
	}
	idn2_free(u);
	return ok;
}

static bool domain_label_ascii(struct jid_domain *d, const char *p, size_t n)
{
	char low[JID_LABEL_MAX + 1];
	bool numeric = true;

	if (n == 0 || n > JID_LABEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
		numeric = numeric && c >= '0' && c <= '9';
		low[i] = c;
	}
	low[n] = '\0';
	if (low[0] == '-' || low[n - 1] == '-')
		return false;
	d->last_numeric = numeric;
	if (n >= 4 && memcmp(low, "xn--", 4) == 0)
		return domain_alabel(d, low);
	return domain_append(d, low, n);
}

static bool domain_label(struct jid_domain *d, const char *p, size_t n)
{
	char tmp[JID_PART_MAX + 1];

	if (n == 0)
		return false;
	if (jid_is_ascii(p, n))
		return domain_label_ascii(d, p, n);
	/* Nameprep per label, as IDNA2003 ToASCII does: its bidi rule is
	 * about one label, not the whole name. */
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	if (stringprep(tmp, sizeof(tmp), 0, stringprep_nameprep) != STRINGPREP_OK)
		return false;
	size_t m = strlen(tmp);
	if (m == 0 || memchr(tmp, '.', m))
		return false;
	if (jid_is_ascii(tmp, m))
		return domain_label_ascii(d, tmp, m);
	d->last_numeric = false;
	return domain_ulabel_valid(tmp, NULL) && domain_append(d, tmp, m);
}

/* Length of the label separator at p: "." or one of the ideographic and
 * full-width stops IDNA2003 treats as dots; 0 when there is none. */
static size_t domain_dot(const char *p, size_t left)
{
	const unsigned char *u = (const unsigned char *)p;

	if (u[0] == '.')
		return 1;
	if (left >= 3 && ((u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x82) ||
			  (u[0] == 0xEF && u[1] == 0xBC && u[2] == 0x8E) ||
			  (u[0] == 0xEF && u[1] == 0xBD && u[2] == 0xA1)))
		return 3;
	return 0;
}

static const char *domain_ipv6(struct arena *a, const char *s, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];
	char out[INET6_ADDRSTRLEN + 2];
	struct in6_addr addr;

	if (len < 3 || s[len - 1] != ']' || len - 2 >= sizeof(tmp))
		return NULL;
	memcpy(tmp, s + 1, len - 2);
	tmp[len - 2] = '\0';
	if (inet_pton(AF_INET6, tmp, &addr) != 1)
		return NULL;
	if (!inet_ntop(AF_INET6, &addr, out + 1, INET6_ADDRSTRLEN))
		return NULL;
	out[0] = '[';
	size_t n = strlen(out);
	out[n] = ']';
	return arena_strndup(a, out, n + 1);
}

const char *jid_prep_domain(struct arena *a, const char *s, size_t len)
{
	struct jid_domain d;

	if (s && len > 0 && s[len - 1] == '.')
		len--;
	if (!jid_part_ok(s, len))
		return NULL;
	if (s[0] == '[')
		return domain_ipv6(a, s, len);
	if (!jid_is_ascii(s, len) && !utf8_valid(s, len))
		return NULL;

	d.len = 0;
	d.s[0] = '\0';
	d.last_numeric = false;
	size_t start = 0, i = 0;
	for (;;) {
		size_t dot = i < len ? domain_dot(s + i, len - i) : 0;
		if (i < len && dot == 0) {
			i++;
			continue;
		}
		if (!domain_label(&d, s + start, i - start))
			return NULL;
		if (i == len)
			break;
		i += dot;
		start = i;
	}
	if (d.last_numeric) {
		struct in_addr addr;
		if (inet_pton(AF_INET, d.s, &addr) != 1)
			return NULL;
	}
	return arena_strndup(a, d.s, d.len);
}

/* ---- Whole JIDs ---- */

/* Prepares the parts (NULL local or resource: absent) and builds the
 * bare and full strings. */
static int jid_assemble(struct arena *a, const char *l, size_t llen, const char *d, size_t dlen,
			const char *r, size_t rlen, struct jid *out)
{
	const char *local = NULL, *resource = NULL, *domain;

	if (l && !(local = jid_prep_local(a, l, llen)))
		return -1;
	if (!(domain = jid_prep_domain(a, d, dlen)))
		return -1;
	if (r && !(resource = jid_prep_resource(a, r, rlen)))
		return -1;
	out->local = local;
	out->domain = domain;
	out->resource = resource;
	out->bare = local ? arena_printf(a, "%s@%s", local, domain) : domain;
	out->full = resource ? arena_printf(a, "%s/%s", out->bare, resource) : out->bare;
	return 0;
}

int jid_parse(struct arena *a, const char *s, size_t len, struct jid *out)
{
	if (!s || len == 0 || memchr(s, '\0', len))
		return -1;
	/* The first '/' ends the domain; an '@' counts only before it, so a
	 * resource may hold both characters. */
	const char *slash = memchr(s, '/', len);
	size_t head = slash ? (size_t)(slash - s) : len;
	const char *at = memchr(s, '@', head);
	const char *dom = s;
	size_t dlen = head, llen = 0;
	if (at) {
		llen = (size_t)(at - s);
		dom = at + 1;
		dlen = head - llen - 1;
	}
	const char *res = slash ? slash + 1 : NULL;
	size_t rlen = slash ? len - head - 1 : 0;
	return jid_assemble(a, at ? s : NULL, llen, dom, dlen, res, rlen, out);
}

int jid_parse_str(struct arena *a, const char *s, struct jid *out)
{
	if (!s)
		return -1;
	return jid_parse(a, s, strlen(s), out);
}

int jid_make(struct arena *a, const char *local, const char *domain, const char *resource,
	     struct jid *out)
{
	if (!domain)
		return -1;
	return jid_assemble(a, local, local ? strlen(local) : 0, domain, strlen(domain), resource,
			    resource ? strlen(resource) : 0, out);
}

struct jid jid_bare(const struct jid *j)
{
	return (struct jid){
		.local = j->local,
		.domain = j->domain,
		.resource = NULL,
		.bare = j->bare,
		.full = j->bare,
	};
}

bool jid_is_bare(const struct jid *j)
{
	return j->resource == NULL;
}

bool jid_equal(const struct jid *a, const struct jid *b)
{
	return strcmp(a->full, b->full) == 0;
}

bool jid_bare_equal(const struct jid *a, const struct jid *b)
{
	return strcmp(a->bare, b->bare) == 0;
}

static const char *jid_copy_into(char **p, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *dst = *p;
	memcpy(dst, s, n);
	*p += n;
	return dst;
}

struct jid *jid_dup(const struct jid *j)
{
	/* A bare JID's full string is its bare string; keep them one. */
	bool shared = j->full == j->bare;
	const char *parts[] = {j->local, j->domain, j->resource, j->bare, shared ? NULL : j->full};
	size_t size = sizeof(struct jid);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i])
			size += strlen(parts[i]) + 1;

	struct jid *c = xmalloc(size);
	char *p = (char *)(c + 1);
	c->local = jid_copy_into(&p, j->local);
	c->domain = jid_copy_into(&p, j->domain);
	c->resource = jid_copy_into(&p, j->resource);
	c->bare = jid_copy_into(&p, j->bare);
	c->full = shared ? c->bare : jid_copy_into(&p, j->full);
	return c;
}
