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
#include "core/utf8.h"
#include "sasl/internal.h"

char *sasl_saslprep(const char *s, size_t len, bool stored)
{
	if (len == 0 || len > SASL_MSG_MAX || memchr(s, '\0', len) || !utf8_valid(s, len))
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
