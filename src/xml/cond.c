/* cond: the names of the RFC 6120 §4.9.3 stream error conditions. */
#include "xml/cond.h"

static const char *const stream_cond_names[] = {
	[STREAM_ERR_BAD_FORMAT] = "bad-format",
	[STREAM_ERR_BAD_NAMESPACE_PREFIX] = "bad-namespace-prefix",
	[STREAM_ERR_CONFLICT] = "conflict",
	[STREAM_ERR_CONNECTION_TIMEOUT] = "connection-timeout",
	[STREAM_ERR_HOST_GONE] = "host-gone",
	[STREAM_ERR_HOST_UNKNOWN] = "host-unknown",
	[STREAM_ERR_IMPROPER_ADDRESSING] = "improper-addressing",
	[STREAM_ERR_INTERNAL_SERVER_ERROR] = "internal-server-error",
	[STREAM_ERR_INVALID_FROM] = "invalid-from",
	[STREAM_ERR_INVALID_NAMESPACE] = "invalid-namespace",
	[STREAM_ERR_INVALID_XML] = "invalid-xml",
	[STREAM_ERR_NOT_AUTHORIZED] = "not-authorized",
	[STREAM_ERR_NOT_WELL_FORMED] = "not-well-formed",
	[STREAM_ERR_POLICY_VIOLATION] = "policy-violation",
	[STREAM_ERR_REMOTE_CONNECTION_FAILED] = "remote-connection-failed",
	[STREAM_ERR_RESET] = "reset",
	[STREAM_ERR_RESOURCE_CONSTRAINT] = "resource-constraint",
	[STREAM_ERR_RESTRICTED_XML] = "restricted-xml",
	[STREAM_ERR_SEE_OTHER_HOST] = "see-other-host",
	[STREAM_ERR_SYSTEM_SHUTDOWN] = "system-shutdown",
	[STREAM_ERR_UNDEFINED_CONDITION] = "undefined-condition",
	[STREAM_ERR_UNSUPPORTED_ENCODING] = "unsupported-encoding",
	[STREAM_ERR_UNSUPPORTED_FEATURE] = "unsupported-feature",
	[STREAM_ERR_UNSUPPORTED_STANZA_TYPE] = "unsupported-stanza-type",
	[STREAM_ERR_UNSUPPORTED_VERSION] = "unsupported-version",
};
_Static_assert(sizeof(stream_cond_names) / sizeof(stream_cond_names[0]) == STREAM_COND_COUNT,
	       "a name for every stream condition");

const char *stream_cond_name(enum stream_cond c)
{
	/* A value outside the enum is a bug upstream; the catch-all keeps
	 * the <stream:error/> well-formed. */
	if ((unsigned)c >= STREAM_COND_COUNT)
		return "undefined-condition";
	return stream_cond_names[c];
}
