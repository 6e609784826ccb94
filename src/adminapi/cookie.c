/*
 * cookie: reading the credentials a request carries, as pure functions
 * over header values: the session cookie, HTTP Basic and Bearer.  No
 * lookup here: what the credentials are worth is auth.c's question.
 *
 * Parsing is strict rather than forgiving, since every mistake here is a
 * refusal, never a guess: one space after the scheme, strict base64, no
 * control characters in a user name.
 */
#include "adminapi/internal.h"

#include <string.h>

#include "core/buf.h"
#include "sasl/sasl.h"

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool aa_scheme_is(struct slice value, const char *scheme)
{
	size_t n = strlen(scheme);
	if (!value.p || value.len <= n || value.p[n] != ' ')
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(value.p[i]) != lower(scheme[i]))
			return false;
	return true;
}

/* RFC 6265 §4.2.1: cookie-pair *( ";" SP cookie-pair ); browsers are
 * looser with spaces, so any run of spaces and tabs around a pair goes. */
struct slice aa_cookie_get(struct slice header, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = header.p, *end = header.p ? header.p + header.len : NULL;
	while (p && p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *pend = semi ? semi : end;
		while (p < pend && (*p == ' ' || *p == '\t'))
			p++;
		const char *eq = memchr(p, '=', (size_t)(pend - p));
		if (eq && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
			const char *v = eq + 1, *vend = pend;
			while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
				vend--;
			if (vend - v >= 2 && v[0] == '"' && vend[-1] == '"')
				v++, vend--;
			return slice_make(v, (size_t)(vend - v));
		}
		p = semi ? semi + 1 : end;
	}
	return SLICE_NULL;
}

bool aa_bearer_parse(struct slice value, struct slice *token)
{
	if (!aa_scheme_is(value, "Bearer"))
		return false;
	const char *t = value.p + 7;
	size_t n = value.len - 7;
	if (n == 0 || n > AA_CREDENTIAL_MAX || memchr(t, ' ', n))
		return false;
	*token = slice_make(t, n);
	return true;
}

bool aa_basic_parse(struct slice value, struct buf *user, struct buf *password)
{
	if (!aa_scheme_is(value, "Basic") || value.len - 6 > AA_CREDENTIAL_MAX)
		return false;
	struct buf raw = BUF_INIT;
	bool ok = false;
	if (sasl_base64_decode(&raw, value.p + 6, value.len - 6) < 0 || raw.len == 0)
		goto out;
	const char *colon = memchr(raw.data, ':', raw.len);
	if (!colon || colon == raw.data)
		goto out;
	size_t ulen = (size_t)(colon - raw.data);
	for (size_t i = 0; i < ulen; i++)
		if ((unsigned char)raw.data[i] < 0x20 || raw.data[i] == 0x7f)
			goto out;
	if (memchr(colon + 1, '\0', raw.len - ulen - 1))
		goto out;
	buf_append(user, raw.data, ulen);
	buf_append(password, colon + 1, raw.len - ulen - 1);
	ok = true;
out:
	if (raw.data)
		explicit_bzero(raw.data, raw.cap);
	buf_clear(&raw);
	return ok;
}

struct slice aa_request_cookie(const struct http_request *req)
{
	struct slice name, value;
	for (size_t i = 0; http_request_header_at(req, i, &name, &value); i++) {
		if (!slice_eq_str(name, "cookie"))
			continue;
		struct slice v = aa_cookie_get(value, AA_COOKIE);
		if (v.p)
			return v;
	}
	return SLICE_NULL;
}
