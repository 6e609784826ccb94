/*
 * dialback: Server Dialback (XEP-0220) on incoming streams, and the keys.
 *
 * As the receiving server: a peer sends <db:result from='b' to='a'>KEY
 * </db:result> to ask to send stanzas from b to a on this stream.  The
 * policy (policy.h) must allow dialback for b on this stream's TLS (a
 * certificate that is not trusted needs s2s.accept_selfsigned or a peers
 * row); then the authoritative server of b is asked over a stream of our
 * own (out.c, s2s_out_verify) whether KEY is right, and the answer goes
 * back as <db:result type='valid|invalid|error'/>.  Any number of pairs
 * may be asked for on one stream (piggybacking); stanzas are accepted
 * only for pairs that are valid (in.c).
 *
 * As the authoritative server: <db:verify from='b' to='a' id='ID'>KEY
 * </db:verify> asks whether we made KEY for (b, a, ID); we answer from our
 * secret (dialback_key.h) with type='valid' or 'invalid'.
 *
 * Errors (XEP-0220 §2.4): item-not-found for a 'to' we do not serve,
 * forbidden for a domain the policy refuses, remote-server-not-found or
 * remote-server-timeout when the authoritative server could not be asked,
 * bad-request for a malformed request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/conn.h"
#include "core/log.h"
#include "jid/jid.h"
#include "router/shard.h"
#include "s2s/internal.h"
#include "s2s/report.h"
#include "tls/tls.h"
#include "xml/ns.h"
#include "xml/xml.h"

enum { DIALBACK_KEY_MAX = 128 }; /* bytes of a key we pass on (ours are 64) */

int s2s_dialback_key(const struct server *srv, const char *receiving, const char *originating, const char *id,
		     char out[DIALBACK_KEY_LEN + 1])
{
	return dialback_key(&srv->s2s->secret, receiving, originating, id, out);
}

static unsigned long long cid(const struct s2s_in *s)
{
	return (unsigned long long)conn_id(s->xs.conn);
}

/* The element's text without the XML whitespace around it (the XEP's
 * examples indent keys). */
static const char *trimmed_text(struct arena *a, const struct xml_node *el, size_t *len)
{
	const char *t = xml_node_text(a, el);
	while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n')
		t++;
	size_t n = strlen(t);
	while (n && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\r' || t[n - 1] == '\n'))
		n--;
	*len = n;
	return t;
}

/* A bare domain, prepared, or NULL. */
static const char *domain_of(struct arena *a, const char *s)
{
	struct jid j;
	if (!s || jid_parse_str(a, s, &j) < 0 || j.local || j.resource)
		return NULL;
	return j.domain;
}

static void write_db(struct s2s_in *s, const char *elem, const char *from, const char *to, const char *id,
		     const char *type, enum stanza_cond cond, const char *text)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "<db:%s from='", elem);
	xml_escape_attr(&b, from, strlen(from));
	buf_append_str(&b, "' to='");
	xml_escape_attr(&b, to, strlen(to));
	if (id) {
		buf_append_str(&b, "' id='");
		xml_escape_attr(&b, id, strlen(id));
	}
	buf_printf(&b, "' type='%s'", type);
	if (strcmp(type, "error") != 0) {
		buf_append_str(&b, "/>");
	} else {
		buf_printf(&b, "><error type='cancel'><%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>",
			   stanza_cond_name(cond));
		if (text) {
			buf_append_str(&b, "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>");
			xml_escape_text(&b, text, strlen(text));
			buf_append_str(&b, "</text>");
		}
		buf_printf(&b, "</error></db:%s>", elem);
	}
	xs_write(&s->xs, b.data, b.len);
	buf_clear(&b);
}

/* ---- receiving: <db:result/> ---- */

void s2s_in_db_result(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	struct s2s_in *s = s2s_in_of(xs);
	const struct config *cfg = s->sh->srv->cfg;
	const char *from_attr = xml_node_attr(el, "from"), *to_attr = xml_node_attr(el, "to");
	const char *from = domain_of(a, from_attr), *to = domain_of(a, to_attr);
	if (xml_node_attr(el, "type")) {
		/* An answer belongs on the streams we open, not here. */
		log_info("s2s", "conn=%llu %s: ignoring a <db:result type='%.20s'/> on an incoming stream", cid(s),
			 conn_peer(xs->conn), xml_node_attr(el, "type"));
		arena_free(a);
		return;
	}
	if (!from || !to) {
		arena_free(a);
		xs_error(xs, STREAM_ERR_IMPROPER_ADDRESSING, "<db:result/> needs a 'from' and a 'to' that are domains");
		return;
	}
	size_t klen;
	const char *key = trimmed_text(a, el, &klen);
	const struct config_host *host = config_host_find(cfg, to);
	if (!host) {
		log_warn("s2s", "conn=%llu %s: dialback from %s for '%s': refused, this server does not serve it", cid(s),
			 conn_peer(xs->conn), from, to);
		write_db(s, "result", to, from, NULL, "error", STANZA_ERR_ITEM_NOT_FOUND, "this server does not serve it");
		arena_free(a);
		return;
	}
	if (++s->db_attempts > cfg->auth.attempts_per_stream) {
		arena_free(a);
		xs_error(xs, STREAM_ERR_POLICY_VIOLATION,
			 "too many dialback requests on one stream (auth.attempts_per_stream)");
		return;
	}
	if (server_is_local(s->sh->srv, from) || klen == 0 || klen > DIALBACK_KEY_MAX || memchr(key, ' ', klen)) {
		const char *why = klen == 0 || klen > DIALBACK_KEY_MAX || memchr(key, ' ', klen)
					  ? "the key is empty, too long or holds spaces"
					  : "it is one of our own domains";
		log_warn("s2s", "conn=%llu %s: dialback from %s for %s: refused: %s", cid(s), conn_peer(xs->conn), from,
			 host->domain, why);
		write_db(s, "result", host->domain, from, NULL, "error",
			 strstr(why, "key") ? STANZA_ERR_BAD_REQUEST : STANZA_ERR_FORBIDDEN, why);
		arena_free(a);
		return;
	}
	struct s2s_pair *p = s2s_in_pair(s, from, host->domain);
	if (p) {
		/* Asked again: the answer stands (valid) or is coming. */
		if (p->state == PAIR_VALID)
			write_db(s, "result", host->domain, from, NULL, "valid", 0, NULL);
		arena_free(a);
		return;
	}
	struct s2s_policy pol;
	s2s_lookup(s->sh->srv, from, &pol);
	struct s2s_peer_tls facts;
	s2s_tls_facts(xs->conn, a, from, cfg->s2s.allow_cn, &facts);
	struct s2s_decision dec;
	s2s_policy_decide(&pol, from, &facts, pol.dialback, &dec);
	if (!(dec.methods & S2S_METHOD_DIALBACK)) {
		enum s2s_code code = dec.code ? dec.code : S2S_DIALBACK_DISABLED;
		log_warn("s2s", "conn=%llu %s: dialback from %s for %s: refused: %s: %s", cid(s), conn_peer(xs->conn),
			 from, host->domain, s2s_code_name(code),
			 dec.why[0] ? dec.why : "dialback is off (s2s.dialback = false)");
		/* The peer's operator sees the code too. */
		char text[200];
		snprintf(text, sizeof(text), "%s: dialback is not accepted for %.100s here", s2s_code_name(code), from);
		s2s_report_end(s->sh, from, S2S_DIR_IN, false, code, dec.why[0] ? dec.why : text, NULL);
		write_db(s, "result", host->domain, from, NULL, "error", STANZA_ERR_FORBIDDEN, text);
		arena_free(a);
		return;
	}
	if (!dec.trusted && facts.tls)
		log_warn("s2s", "conn=%llu %s: %s: %s", cid(s), conn_peer(xs->conn), s2s_code_name(dec.code), dec.why);
	s2s_in_pair_add(s, from, host->domain, PAIR_PENDING);
	struct s2s_attempt *at = s2s_report_at(s->sh, from, S2S_DIR_IN);
	if (!at->peer[0])
		s2s_report_set(at->peer, sizeof(at->peer), "%s", conn_peer(xs->conn));
	if (!at->tls[0])
		s2s_report_tls(at, xs->conn, &facts, &dec);
	s2s_report_method(at->tried, sizeof(at->tried), "dialback");
	char keybuf[DIALBACK_KEY_MAX + 1];
	memcpy(keybuf, key, klen);
	keybuf[klen] = '\0';
	char remote[256];
	snprintf(remote, sizeof(remote), "%s", from);
	arena_free(a);
	s2s_out_verify(s->sh, conn_id(xs->conn), host->domain, remote, xs->id, keybuf);
}

void s2s_in_dialback_done(struct shard *sh, uint64_t in_conn, const char *local, const char *remote,
			  enum s2s_verdict v, enum stanza_cond cond, const char *text)
{
	struct s2s_in *s = s2s_in_find(sh, in_conn);
	if (!s || s->xs.state == XS_CLOSING)
		return;
	struct s2s_pair *p = s2s_in_pair(s, remote, local);
	if (!p || p->state != PAIR_PENDING)
		return;
	metrics_auth(&sh->w->metrics, METRIC_STREAM_S2S_IN, METRIC_MECH_DIALBACK,
		     v == S2S_VERIFY_VALID     ? METRIC_AUTH_SUCCESS
		     : v == S2S_VERIFY_INVALID ? METRIC_AUTH_FAILURE
					       : METRIC_AUTH_ERROR);
	struct xstream *xs = &s->xs;
	if (v == S2S_VERIFY_VALID) {
		p->state = PAIR_VALID;
		write_db(s, "result", p->local, p->remote, NULL, "valid", 0, NULL);
		s2s_report_end(sh, p->remote, S2S_DIR_IN, true, S2S_CODE_NONE, NULL, "dialback");
		void *t = conn_transport(xs->conn);
		log_info("s2s", "conn=%llu link authenticated: direction in, local %s, remote %s, method dialback, %s (%s)",
			 cid(s), p->local, p->remote, t ? tls_session_version(t) : "plaintext", conn_peer(xs->conn));
		if (!xs->authenticated) {
			xs->authenticated = true;
			xs->state = XS_READY;
		}
		return;
	}
	/* dialback-refused: the key is not the authoritative server's;
	 * dialback-timeout / -unreachable: it could not be asked. */
	enum s2s_code code = v == S2S_VERIFY_INVALID                 ? S2S_DIALBACK_REFUSED
			     : cond == STANZA_ERR_REMOTE_SERVER_TIMEOUT ? S2S_DIALBACK_TIMEOUT
			     : v == S2S_VERIFY_ERROR && strstr(text, "type 'error'") ? S2S_DIALBACK_ERROR
										 : S2S_DIALBACK_UNREACHABLE;
	char coded[700];
	snprintf(coded, sizeof(coded), "%s: %s", s2s_code_name(code),
		 v == S2S_VERIFY_INVALID ? "its authoritative server says the key is invalid (forged?)" : text);
	s2s_report_end(sh, p->remote, S2S_DIR_IN, false, code, coded, NULL);
	if (v == S2S_VERIFY_INVALID)
		write_db(s, "result", p->local, p->remote, NULL, "invalid", 0, NULL);
	else
		write_db(s, "result", p->local, p->remote, NULL, "error", cond, coded);
	log_warn("s2s", "conn=%llu %s: dialback from %s for %s: refused: %s", cid(s), conn_peer(xs->conn), p->remote,
		 p->local, coded);
	/* Forget the pair; a stream left with nothing authenticated ends. */
	free(p->remote);
	*p = s->pairs[--s->npairs];
	bool any = s->remote != NULL;
	for (size_t i = 0; i < s->npairs; i++)
		any = any || s->pairs[i].state == PAIR_VALID;
	if (!any && v == S2S_VERIFY_INVALID)
		xs_error(xs, STREAM_ERR_NOT_AUTHORIZED, "dialback-refused: the key was refused by the authoritative server");
}

/* ---- authoritative: <db:verify/> ---- */

void s2s_in_db_verify(struct xstream *xs, struct arena *a, struct xml_node *el)
{
	struct s2s_in *s = s2s_in_of(xs);
	const struct config *cfg = s->sh->srv->cfg;
	const char *from = domain_of(a, xml_node_attr(el, "from"));
	const char *to = domain_of(a, xml_node_attr(el, "to"));
	const char *id = xml_node_attr(el, "id");
	if (xml_node_attr(el, "type")) {
		arena_free(a);
		xs_error(xs, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, "an answer <db:verify type=.../> on an incoming stream");
		return;
	}
	if (!from || !to || !id || !*id) {
		arena_free(a);
		xs_error(xs, STREAM_ERR_IMPROPER_ADDRESSING, "<db:verify/> needs 'from' and 'to' domains and an 'id'");
		return;
	}
	if (++s->db_attempts > cfg->auth.attempts_per_stream * 8) {
		arena_free(a);
		xs_error(xs, STREAM_ERR_POLICY_VIOLATION,
			 "too many dialback requests on one stream (8 x auth.attempts_per_stream)");
		return;
	}
	const struct config_host *host = config_host_find(cfg, to);
	if (!host) {
		write_db(s, "verify", to, from, id, "error", STANZA_ERR_ITEM_NOT_FOUND, "this server does not serve it");
		arena_free(a);
		return;
	}
	size_t klen;
	const char *key = trimmed_text(a, el, &klen);
	bool valid = dialback_key_verify(&s->sh->srv->s2s->secret, from, host->domain, id, key, klen);
	write_db(s, "verify", host->domain, from, id, valid ? "valid" : "invalid", 0, NULL);
	if (valid)
		log_info("s2s", "conn=%llu %s: dialback: confirmed to %s that %s sent the key for stream %s", cid(s),
			 conn_peer(xs->conn), from, host->domain, id);
	else
		log_warn("s2s", "conn=%llu %s: dialback: told %s that a key claimed for %s (stream %.64s) is not ours; "
				"someone may be posing as %s",
			 cid(s), conn_peer(xs->conn), from, host->domain, id, host->domain);
	arena_free(a);
}
