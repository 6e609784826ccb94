/*
 * code: the stable codes of federation failures and fallbacks.  Every way
 * a link can fail or fall back to a weaker method has one; it starts the
 * text of the log line, of the stream error we send the peer (so that its
 * operator sees it too) and of the bounce a local sender gets, as
 * "<code>: <sentence>".  docs/federation-errors.md explains each, with its
 * fix; the names never change once released (new ones may be added).
 */
#ifndef PARLEY_S2S_CODE_H
#define PARLEY_S2S_CODE_H

enum s2s_code {
	S2S_CODE_NONE = 0,
	/* DNS */
	S2S_DNS_NO_SRV,            /* fallback: no SRV records, the domain's address on 5269 */
	S2S_DNS_NO_SERVICE,        /* SRV target ".": the domain says it has no XMPP service */
	S2S_DNS_NXDOMAIN,
	S2S_DNS_NO_ADDRESS,
	S2S_DNS_SERVFAIL,
	S2S_DNS_TIMEOUT,
	S2S_DNS_BAD_NAME,
	S2S_DNS_RESOLVER,          /* our resolver could not be set up (s2s.resolver) */
	/* TCP */
	S2S_CONNECT_REFUSED,
	S2S_CONNECT_TIMEOUT,
	S2S_CONNECT_UNREACHABLE,
	S2S_CONNECT_ERROR,
	/* TLS */
	S2S_TLS_HANDSHAKE,
	S2S_TLS_VERSION,
	S2S_TLS_REFUSED,           /* the peer answered <starttls/> with <failure/> */
	S2S_TLS_UNAVAILABLE,       /* we have no TLS client context (our certificates failed to load) */
	S2S_PLAINTEXT_REFUSED,     /* no TLS, and the policy requires it */
	/* the peer's certificate */
	S2S_CERT_NONE,
	S2S_CERT_EXPIRED,
	S2S_CERT_NOT_YET_VALID,
	S2S_CERT_UNKNOWN_ISSUER,
	S2S_CERT_SELFSIGNED_REFUSED,
	S2S_CERT_CHAIN_TOO_DEEP,
	S2S_CERT_REVOKED,
	S2S_CERT_CRL,
	S2S_CERT_EKU,
	S2S_CERT_BAD_SIGNATURE,
	S2S_CERT_NOT_A_CA,
	S2S_CERT_WEAK,
	S2S_CERT_NAME_MISMATCH,
	S2S_CERT_INVALID,          /* another verification failure */
	S2S_PIN_MISMATCH,
	/* authentication */
	S2S_SASL_EXTERNAL_FAILED,  /* fallback: the peer refused EXTERNAL */
	S2S_SASL_EXTERNAL_BROKEN,  /* fallback: the peer ended the stream on EXTERNAL */
	S2S_DIALBACK_REFUSED,      /* the key was found invalid */
	S2S_DIALBACK_ERROR,        /* <db:result type='error'/> */
	S2S_DIALBACK_TIMEOUT,
	S2S_DIALBACK_UNREACHABLE,  /* the authoritative server could not be asked */
	S2S_DIALBACK_NOT_OFFERED,
	S2S_DIALBACK_DISABLED,     /* s2s.dialback = false and nothing else would do */
	/* policy */
	S2S_POLICY_DENIED,         /* s2s.deny, or an s2s.peers entry with mode deny */
	S2S_NOT_ALLOWED,           /* not on s2s.allow */
	/* the stream */
	S2S_PEER_STREAM_ERROR,     /* printed as peer-stream-error:<condition> */
	S2S_STREAM_CLOSED,         /* the peer closed the stream or the connection */
	S2S_HANDSHAKE_TIMEOUT,     /* not authenticated within limits.handshake_timeout */
	S2S_BAD_STREAM,            /* the peer's stream broke the rules (header, XML) */
	S2S_CODE_COUNT
};

/* "dns-nxdomain", "cert-expired", ... (S2S_PEER_STREAM_ERROR: "peer-stream-error"). */
const char *s2s_code_name(enum s2s_code c);
/* One sentence: what to change (the setting, the DNS record, the
 * certificate), for check and report output and the docs. */
const char *s2s_code_fix(enum s2s_code c);
/* A code's value by name, or S2S_CODE_NONE. */
enum s2s_code s2s_code_by_name(const char *name);

#endif
