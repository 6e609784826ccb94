/*
 * prep: UTF-8 validation and SASLprep (RFC 4013) for usernames and
 * passwords, through libidn's stringprep.  Not JID preparation (jid/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include <openssl/crypto.h>

#include "core/alloc.h"
#include "sasl/internal.h"

bool sasl_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint32_t cp, min;
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1, cp = c & 0x1F, min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2, cp = c & 0x0F, min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			unsigned cc = s[i + k];
			if ((cc & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (cc & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

char *sasl_saslprep(const char *s, size_t len, bool stored)
{
	if (len == 0 || len > SASL_MSG_MAX || memchr(s, '\0', len) || !sasl_utf8_valid(s, len))
		return NULL;
	/* libidn reads NUL-terminated input; the UTF-8 check above keeps its
	 * decoder away from malformed sequences. */
	char *in = xstrndup(s, len);
	char *out = NULL;
	int rc = stringprep_profile(in, &out, "SASLprep", stored ? STRINGPREP_NO_UNASSIGNED : 0);
	sasl_prep_free(in);
	if (rc != STRINGPREP_OK || !out || out[0] == '\0') {
		sasl_prep_free(out);
		return NULL;
	}
	return out;
}

void sasl_prep_free(char *p)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, strlen(p));
	free(p);
}
