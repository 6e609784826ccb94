/*
 * cond: the stream error conditions of RFC 6120 §4.9.3, as an enum with
 * one table of names.  They live here, below every stream (c2s, s2s, and
 * later WebSocket), because the parser is the first to need one: every
 * parse failure is a stream condition (xml_error_condition).  Writing the
 * <stream:error/> is the stream's job.
 */
#ifndef PARLEY_XML_COND_H
#define PARLEY_XML_COND_H

/* In the RFC's order (alphabetical). */
enum stream_cond {
	STREAM_ERR_BAD_FORMAT,
	STREAM_ERR_BAD_NAMESPACE_PREFIX,
	STREAM_ERR_CONFLICT,
	STREAM_ERR_CONNECTION_TIMEOUT,
	STREAM_ERR_HOST_GONE,
	STREAM_ERR_HOST_UNKNOWN,
	STREAM_ERR_IMPROPER_ADDRESSING,
	STREAM_ERR_INTERNAL_SERVER_ERROR,
	STREAM_ERR_INVALID_FROM,
	STREAM_ERR_INVALID_NAMESPACE,
	STREAM_ERR_INVALID_XML,
	STREAM_ERR_NOT_AUTHORIZED,
	STREAM_ERR_NOT_WELL_FORMED,
	STREAM_ERR_POLICY_VIOLATION,
	STREAM_ERR_REMOTE_CONNECTION_FAILED,
	STREAM_ERR_RESET,
	STREAM_ERR_RESOURCE_CONSTRAINT,
	STREAM_ERR_RESTRICTED_XML,
	STREAM_ERR_SEE_OTHER_HOST,
	STREAM_ERR_SYSTEM_SHUTDOWN,
	STREAM_ERR_UNDEFINED_CONDITION,
	STREAM_ERR_UNSUPPORTED_ENCODING,
	STREAM_ERR_UNSUPPORTED_FEATURE,
	STREAM_ERR_UNSUPPORTED_STANZA_TYPE,
	STREAM_ERR_UNSUPPORTED_VERSION,
};
enum { STREAM_COND_COUNT = STREAM_ERR_UNSUPPORTED_VERSION + 1 };

/* The element name ("not-well-formed", ...), never NULL: a value outside
 * the enum is named "undefined-condition". */
const char *stream_cond_name(enum stream_cond c);

#endif
