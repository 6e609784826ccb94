/* The one table of federation failure codes and their fixes (code.h). */
#include "s2s/code.h"

#include <stddef.h>
#include <string.h>

struct code_row {
	const char *name;
	const char *fix;
};

static const struct code_row rows[S2S_CODE_COUNT] = {
	[S2S_CODE_NONE] = {"ok", "nothing to fix"},
	[S2S_DNS_NO_SRV] = {"dns-no-srv",
			    "not an error: the peer has no _xmpp-server._tcp or _xmpps-server._tcp SRV record, so its "
			    "own address on port 5269 is used; the peer's operator may publish SRV records"},
	[S2S_DNS_NO_SERVICE] = {"dns-no-service",
				"the peer's SRV record has target \".\": it says it does not federate; nothing to change "
				"on our side"},
	[S2S_DNS_NXDOMAIN] = {"dns-nxdomain",
			      "the domain does not exist in DNS: check the address's spelling, or the peer must publish "
			      "it (or set s2s.resolver to a resolver that knows it)"},
	[S2S_DNS_NO_ADDRESS] = {"dns-no-address",
				"the peer's names have no A or AAAA record: the peer must publish one for its SRV target "
				"(or its domain)"},
	[S2S_DNS_SERVFAIL] = {"dns-servfail",
			      "the resolver failed (SERVFAIL, REFUSED): check s2s.resolver, or the peer's DNS servers"},
	[S2S_DNS_TIMEOUT] = {"dns-timeout",
			     "no DNS answer within s2s.dns_timeout: check s2s.resolver and that it is reachable"},
	[S2S_DNS_BAD_NAME] = {"dns-bad-name", "the domain is not a name DNS can look up"},
	[S2S_DNS_RESOLVER] = {"dns-resolver",
			      "the resolver could not be set up: check s2s.resolver (an address, optionally @port) "
			      "and s2s.resolver_zones"},
	[S2S_CONNECT_REFUSED] = {"connect-refused",
				 "nothing listens at the peer's address and port: the peer's server is down or its "
				 "SRV record names the wrong port"},
	[S2S_CONNECT_TIMEOUT] = {"connect-timeout",
				 "no answer to the TCP connect within s2s.connect_timeout: a firewall drops the "
				 "packets, or the address is wrong"},
	[S2S_CONNECT_UNREACHABLE] = {"connect-unreachable",
				     "no route to the peer's address: check the network and that the address "
				     "family (IPv6, IPv4) is usable"},
	[S2S_CONNECT_ERROR] = {"connect-error", "the connect failed for another reason, named in the line"},
	[S2S_TLS_HANDSHAKE] = {"tls-handshake",
			       "the TLS handshake failed (reason in the line): often a port that does not speak TLS "
			       "(a wrong _xmpps-server record) or a peer that refused our certificate"},
	[S2S_TLS_VERSION] = {"tls-version",
			     "no common TLS version: Parley needs TLS 1.2 or newer; the peer must enable it"},
	[S2S_TLS_REFUSED] = {"tls-refused", "the peer refused STARTTLS (<failure/>): its TLS is misconfigured"},
	[S2S_TLS_UNAVAILABLE] = {"tls-unavailable",
				 "we have no TLS client context: our host certificates failed to load at start-up "
				 "(see the start-up log)"},
	[S2S_PLAINTEXT_REFUSED] = {"plaintext-refused",
				   "the link is not encrypted and the policy requires TLS: the peer must offer "
				   "STARTTLS, or set mode = plain in its s2s.peers entry (not recommended)"},
	[S2S_CERT_NONE] = {"cert-none",
			   "the peer presented no certificate: it must present one (or accept dialback: "
			   "s2s.accept_selfsigned)"},
	[S2S_CERT_EXPIRED] = {"cert-expired", "the peer's certificate (or one of its CAs) expired: it must renew it"},
	[S2S_CERT_NOT_YET_VALID] = {"cert-not-yet-valid",
				    "the peer's certificate is not valid yet: check the clocks of both servers"},
	[S2S_CERT_UNKNOWN_ISSUER] = {"cert-unknown-issuer",
				     "the peer's CA is not in our s2s trust store: add it (parleyctl trust add "
				     "--store s2s CA.crt, then SIGHUP), or accept it for dialback "
				     "(s2s.accept_selfsigned or mode = selfsigned)"},
	[S2S_CERT_SELFSIGNED_REFUSED] = {"cert-selfsigned-refused",
					 "the peer's certificate is self-signed: pin it (pin in its s2s.peers "
					 "entry), accept it for dialback (s2s.accept_selfsigned = true or mode = "
					 "selfsigned), or the peer gets one from a CA"},
	[S2S_CERT_CHAIN_TOO_DEEP] = {"cert-chain-too-deep",
				     "the peer's chain has more intermediates than s2s.verify_depth allows: raise "
				     "it, or the peer shortens its chain"},
	[S2S_CERT_REVOKED] = {"cert-revoked",
			      "the peer's certificate is on the CRL in s2s.crl_file: the peer needs a new one"},
	[S2S_CERT_CRL] = {"cert-crl",
			  "no valid CRL for the peer's issuer in s2s.crl_file (missing or expired): update the CRL"},
	[S2S_CERT_EKU] = {"cert-eku",
			  "the certificate is not for this purpose (extended key usage): a server needs serverAuth "
			  "(and clientAuth unless s2s.accept_serverauth_only = true)"},
	[S2S_CERT_BAD_SIGNATURE] = {"cert-bad-signature", "a signature in the peer's chain does not verify"},
	[S2S_CERT_NOT_A_CA] = {"cert-not-a-ca",
			       "an issuer in the peer's chain is not allowed to issue certificates (basic "
			       "constraints, key usage)"},
	[S2S_CERT_WEAK] = {"cert-weak", "the peer's key is too small or its signature digest too weak"},
	[S2S_CERT_NAME_MISMATCH] = {"cert-name-mismatch",
				    "the peer's certificate does not name its domain (DNS-ID, SRV-ID, xmppAddr; "
				    "CN only with s2s.allow_cn): the peer needs one that does"},
	[S2S_CERT_INVALID] = {"cert-invalid", "the peer's certificate failed verification (reason in the line)"},
	[S2S_PIN_MISMATCH] = {"pin-mismatch",
			      "the peer's key is not the one pinned in its s2s.peers entry: if it changed its key, "
			      "update the pin (parleyctl cert show prints it as spki)"},
	[S2S_SASL_EXTERNAL_FAILED] = {"sasl-external-failed",
				      "the peer refused SASL EXTERNAL for our certificate (dialback was used "
				      "instead where allowed): our certificate must name our domain and be "
				      "trusted by the peer"},
	[S2S_SASL_EXTERNAL_BROKEN] = {"sasl-external-broken",
				      "the peer ended the stream on SASL EXTERNAL (ejabberd 23.01 does for "
				      "certificates with xmppAddr); dialback is used with it from then on"},
	[S2S_DIALBACK_REFUSED] = {"dialback-refused",
				  "the dialback key was found invalid: for our links, the peer could not verify "
				  "our key (our DNS or s2s port is not reachable from it); for its links, someone "
				  "may pose as it"},
	[S2S_DIALBACK_ERROR] = {"dialback-error", "the peer answered dialback with an error (its condition in the line)"},
	[S2S_DIALBACK_TIMEOUT] = {"dialback-timeout",
				  "no dialback answer within limits.handshake_timeout: the peer cannot reach our "
				  "authoritative server, or is slow"},
	[S2S_DIALBACK_UNREACHABLE] = {"dialback-unreachable",
				      "the claimed domain's authoritative server could not be reached to verify "
				      "its key (its DNS, or its s2s port)"},
	[S2S_DIALBACK_NOT_OFFERED] = {"dialback-not-offered",
				      "dialback would be needed but the peer does not offer it: the peer must "
				      "enable dialback, or present a certificate we trust (for SASL EXTERNAL)"},
	[S2S_DIALBACK_DISABLED] = {"dialback-disabled",
				   "dialback would be needed but s2s.dialback = false: turn it on, or the peer "
				   "needs a certificate we trust"},
	[S2S_POLICY_DENIED] = {"policy-denied",
			       "the domain is refused by s2s.deny or its s2s.peers entry (mode = deny)"},
	[S2S_NOT_ALLOWED] = {"not-allowed",
			     "the domain is not on s2s.allow (an empty list turns federation off): add it"},
	[S2S_PEER_STREAM_ERROR] = {"peer-stream-error",
				   "the peer ended the stream with this error condition: its text, in the line, "
				   "says why"},
	[S2S_STREAM_CLOSED] = {"stream-closed",
			       "the peer closed the connection before the link was up: see the peer's logs"},
	[S2S_HANDSHAKE_TIMEOUT] = {"handshake-timeout",
				   "the link was not authenticated within limits.handshake_timeout"},
	[S2S_BAD_STREAM] = {"bad-stream", "the peer's stream broke XMPP's rules (details in the line)"},
};

const char *s2s_code_name(enum s2s_code c)
{
	return (unsigned)c < S2S_CODE_COUNT && rows[c].name ? rows[c].name : "unknown";
}

const char *s2s_code_fix(enum s2s_code c)
{
	return (unsigned)c < S2S_CODE_COUNT && rows[c].fix ? rows[c].fix : "";
}

enum s2s_code s2s_code_by_name(const char *name)
{
	for (unsigned i = 0; i < S2S_CODE_COUNT; i++)
		if (rows[i].name && strcmp(rows[i].name, name) == 0)
			return (enum s2s_code)i;
	return S2S_CODE_NONE;
}
