/*
 * handshake: the WebSocket opening handshake (RFC 6455 §4.2) for XMPP
 * (RFC 7395 §3.1) at http.websocket_path on the web listener, as the
 * handler of a route that may take its connection over.  It checks the
 * request (Upgrade, Connection, version 13, the key, the `xmpp`
 * subprotocol, which RFC 7395 requires, and the page's origin against
 * http.allowed_origins), answers 101 and hands the connection to conn.c.
 * Every refusal is an HTTP answer with a sentence and one log line; the
 * connection then closes (the client may already speak WebSocket).
 */
#include "ws/ws.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "c2s/c2s.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "http/http.h"
#include "router/shard.h"
#include "sasl/sasl.h"
#include "ws/internal.h"

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool ws_accept_key(struct slice key, char out[WS_ACCEPT_LEN + 1])
{
	struct buf raw = BUF_INIT;
	bool ok = key.len == 24 && sasl_base64_decode(&raw, key.p, key.len) == 0 && raw.len == 16;
	buf_clear(&raw);
	if (!ok)
		return false;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char in[24 + sizeof(WS_GUID)];
	memcpy(in, key.p, 24);
	memcpy(in + 24, WS_GUID, sizeof(WS_GUID) - 1);
	if (EVP_Digest(in, 24 + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
		log_fatal("ws", "SHA-1 is not available from OpenSSL");
	struct buf b = BUF_INIT;
	sasl_base64_encode(&b, md, mdlen);
	ok = b.len == WS_ACCEPT_LEN;
	if (ok) {
		memcpy(out, b.data, WS_ACCEPT_LEN);
		out[WS_ACCEPT_LEN] = '\0';
	}
	buf_clear(&b);
	return ok;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

bool ws_token_listed(struct slice value, const char *token, bool nocase)
{
	size_t tn = strlen(token);
	const char *p = value.p, *end = value.p + value.len;
	while (p && p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		const char *s = p;
		while (s < e && is_ows(*s))
			s++;
		const char *t = e;
		while (t > s && is_ows(t[-1]))
			t--;
		if ((size_t)(t - s) == tn && (nocase ? strncasecmp(s, token, tn) : strncmp(s, token, tn)) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* Whether any `name` header field of the request lists the token. */
static bool header_lists(const struct http_request *req, const char *name, const char *token, bool nocase)
{
	struct slice n, v;
	for (size_t i = 0; http_request_header_at(req, i, &n, &v); i++)
		if (n.len == strlen(name) && memcmp(n.p, name, n.len) == 0 && ws_token_listed(v, token, nocase))
			return true;
	return false;
}

/* A refusal: logged, answered, and the connection closed after it. */
static void refuse(struct http_request *req, int status, const char *extra_name, const char *extra_value,
		   const char *why)
{
	log_info("ws", "%s: WebSocket handshake refused (%d): %s", http_request_peer(req), status, why);
	if (extra_name)
		http_response_header(req, extra_name, extra_value);
	char body[300];
	int n = snprintf(body, sizeof(body), "%s\n", why);
	http_respond(req, status, "text/plain; charset=utf-8", body, n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0,
		     HTTP_RESP_CLOSE);
}

static void ws_upgrade(struct http_request *req)
{
	if (!header_lists(req, "upgrade", "websocket", true) || !header_lists(req, "connection", "upgrade", true)) {
		refuse(req, 426, "Upgrade", "websocket",
		       "this is XMPP over WebSocket (RFC 7395): connect with a WebSocket client");
		return;
	}
	if (http_request_method(req) != HTTP_M_GET) {
		refuse(req, 400, NULL, NULL, "a WebSocket handshake is a GET");
		return;
	}
	struct slice version = http_request_header(req, "sec-websocket-version");
	if (!version.p || version.len != 2 || memcmp(version.p, "13", 2) != 0) {
		refuse(req, 426, "Sec-WebSocket-Version", "13", "only WebSocket version 13 (RFC 6455) is spoken here");
		return;
	}
	char accept[WS_ACCEPT_LEN + 1];
	struct slice key = http_request_header(req, "sec-websocket-key");
	if (!key.p || !ws_accept_key(key, accept)) {
		refuse(req, 400, NULL, NULL, "Sec-WebSocket-Key is missing or not base64 of 16 bytes");
		return;
	}
	if (!header_lists(req, "sec-websocket-protocol", "xmpp", false)) {
		refuse(req, 400, NULL, NULL,
		       "the WebSocket subprotocol 'xmpp' is required (Sec-WebSocket-Protocol: xmpp, RFC 7395 §3.1)");
		return;
	}
	enum http_origin origin = http_request_origin(req);
	if (origin == HTTP_ORIGIN_REFUSED) {
		struct slice o = http_request_header(req, "origin");
		char why[400];
		snprintf(why, sizeof(why), "pages of origin '%.*s' may not connect here (http.allowed_origins)",
			 (int)(o.len > 200 ? 200 : o.len), o.p);
		refuse(req, 403, NULL, NULL, why);
		return;
	}
	char headers[256];
	snprintf(headers, sizeof(headers),
		 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
		 "Sec-WebSocket-Protocol: xmpp\r\n",
		 accept);
	char peer[64];
	snprintf(peer, sizeof(peer), "%s", http_request_peer(req));
	struct ws_conn *ws = ws_conn_new();
	struct buf rest = BUF_INIT;
	struct conn *c = http_upgrade(req, headers, &ws_conn_handler, ws, &rest);
	if (!c) {
		ws_conn_free(ws);
		buf_clear(&rest);
		return;
	}
	log_info("ws", "conn=%llu %s: WebSocket connected%s", (unsigned long long)conn_id(c), peer,
		 origin == HTTP_ORIGIN_ANY ? " from an origin allowed by \"*\"" : "");
	/* "*" lets any page in: none may log in with the browser's client
	 * certificate, which it presents on every page's behalf. */
	ws_conn_start(ws, shard_of(conn_worker(c)), c, origin == HTTP_ORIGIN_ANY ? C2S_ADOPT_NO_EXTERNAL : 0,
		      rest.data, rest.len);
	buf_clear(&rest);
}

static const char *websocket_path(const struct config *cfg)
{
	return cfg->http.websocket_path;
}

static const struct http_route ws_routes[] = {
	{.methods = HTTP_M_GET, .path_of = websocket_path, .perm = ROUTE_PERM_PUBLIC, .handler = ws_upgrade,
	 .flags = HTTP_ROUTE_UPGRADE},
};

const struct http_route_table ws_route_table = HTTP_ROUTE_TABLE_ON("websocket", ws_routes, HTTP_LISTENER_WEB);
