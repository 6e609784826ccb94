/*
 * plain: the server side of PLAIN (RFC 4616): splitting the message into
 * authzid, authcid and password.  Checking the password is cred.c's job
 * (scram_cred_check_password); offering PLAIN only over TLS is the stream's.
 *
 * Syntax (two NULs, non-empty authcid and password, UTF-8) failing is
 * malformed-request; an authcid that SASLprep refuses is not-authorized,
 * as RFC 4616 §4 has the verification fail.
 */
#include <string.h>

#include "core/arena.h"
#include "core/utf8.h"
#include "sasl/internal.h"

enum sasl_cond sasl_plain_parse(struct arena *a, const char *msg, size_t len, const char **authzid,
				const char **authcid, const char **passwd, size_t *passwd_len)
{
	*authzid = NULL;
	*authcid = NULL;
	*passwd = NULL;
	*passwd_len = 0;
	if (!msg || len > SASL_MSG_MAX)
		return SASL_MALFORMED_REQUEST;

	const char *nul1 = memchr(msg, '\0', len);
	if (!nul1)
		return SASL_MALFORMED_REQUEST;
	const char *cid = nul1 + 1;
	const char *end = msg + len;
	const char *nul2 = memchr(cid, '\0', (size_t)(end - cid));
	if (!nul2)
		return SASL_MALFORMED_REQUEST;
	const char *pw = nul2 + 1;
	size_t zlen = (size_t)(nul1 - msg);
	size_t clen = (size_t)(nul2 - cid);
	size_t plen = (size_t)(end - pw);
	if (clen == 0 || plen == 0 || memchr(pw, '\0', plen))
		return SASL_MALFORMED_REQUEST;
	if (!utf8_valid(msg, zlen) || !utf8_valid(cid, clen) ||
	    !utf8_valid(pw, plen))
		return SASL_MALFORMED_REQUEST;

	char *prepped = sasl_saslprep(cid, clen, false);
	if (!prepped)
		return SASL_NOT_AUTHORIZED;
	*authcid = arena_strdup(a, prepped);
	sasl_prep_free(prepped);
	*authzid = zlen ? arena_strndup(a, msg, zlen) : NULL;
	*passwd = arena_strndup(a, pw, plen);
	*passwd_len = plen;
	return SASL_OK;
}
