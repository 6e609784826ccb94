/*
 * cond: the names of the RFC 6120 §6.5 SASL failure conditions, as the
 * element names a <failure/> carries.  Building the XML is the stream's job.
 */
#include "sasl/sasl.h"

static const char *const sasl_cond_names[] = {
	[SASL_OK] = "success",
	[SASL_ABORTED] = "aborted",
	[SASL_ACCOUNT_DISABLED] = "account-disabled",
	[SASL_CREDENTIALS_EXPIRED] = "credentials-expired",
	[SASL_ENCRYPTION_REQUIRED] = "encryption-required",
	[SASL_INCORRECT_ENCODING] = "incorrect-encoding",
	[SASL_INVALID_AUTHZID] = "invalid-authzid",
	[SASL_INVALID_MECHANISM] = "invalid-mechanism",
	[SASL_MALFORMED_REQUEST] = "malformed-request",
	[SASL_MECHANISM_TOO_WEAK] = "mechanism-too-weak",
	[SASL_NOT_AUTHORIZED] = "not-authorized",
	[SASL_TEMPORARY_AUTH_FAILURE] = "temporary-auth-failure",
};

const char *sasl_cond_name(enum sasl_cond c)
{
	/* A value outside the enum is a bug upstream; naming it the most
	 * generic failure keeps a <failure/> well-formed. */
	if ((unsigned)c >= sizeof(sasl_cond_names) / sizeof(sasl_cond_names[0]))
		return "not-authorized";
	return sasl_cond_names[c];
}
