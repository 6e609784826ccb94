/*
 * origin: whose page a browser's request comes from (RFC 6454's Origin
 * header) against http.allowed_origins, and the CORS answer that follows.
 * Every web transport (WebSocket, BOSH, discovery) asks the same
 * question, so the answer is made in one place.
 *
 * An empty list allows no page of another origin, so that a server set up
 * without thinking about browsers lends its users' credentials to no web
 * site: client certificates above all, which a browser presents on any
 * page's behalf.  "*" allows every page; a transport that sees
 * HTTP_ORIGIN_ANY must not let such a page use ambient credentials
 * (WebSocket refuses SASL EXTERNAL then).
 */
#include "http/internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"

/* Origins compare as ASCII case-insensitive strings (scheme and host are
 * case-insensitive; we write no path), ignoring one trailing '/'. */
static bool origin_equal(struct slice origin, const char *listed)
{
	size_t n = origin.len, m = strlen(listed);
	if (n && origin.p[n - 1] == '/')
		n--;
	if (m && listed[m - 1] == '/')
		m--;
	return n == m && strncasecmp(origin.p, listed, n) == 0;
}

enum http_origin http_request_origin(const struct http_request *req)
{
	struct slice origin = http_request_header(req, "origin");
	if (!origin.p)
		return HTTP_ORIGIN_NONE;
	/* A page of this very listener: https:// and the Host it was asked
	 * for (we serve no pages, but a proxy in front of us may). */
	struct slice host = http_request_header(req, "host");
	static const char scheme[] = "https://";
	size_t sn = sizeof(scheme) - 1;
	if (host.p && host.len && http_request_secure(req) && origin.len == sn + host.len &&
	    strncasecmp(origin.p, scheme, sn) == 0 && strncasecmp(origin.p + sn, host.p, host.len) == 0)
		return HTTP_ORIGIN_SAME;
	const struct config *cfg = http_request_config(req);
	bool any = false;
	for (size_t i = 0; cfg && i < cfg->http.allowed_origins.n; i++) {
		const char *o = cfg->http.allowed_origins.items[i];
		if (strcmp(o, "*") == 0)
			any = true;
		else if (origin_equal(origin, o))
			return HTTP_ORIGIN_LISTED;
	}
	return any ? HTTP_ORIGIN_ANY : HTTP_ORIGIN_REFUSED;
}

void http_response_cors(struct http_request *req)
{
	switch (http_request_origin(req)) {
	case HTTP_ORIGIN_SAME:
	case HTTP_ORIGIN_LISTED: {
		struct slice origin = http_request_header(req, "origin");
		char value[512];
		snprintf(value, sizeof(value), "%.*s", (int)(origin.len < 500 ? origin.len : 500), origin.p);
		http_response_header(req, "Access-Control-Allow-Origin", value);
		http_response_header(req, "Vary", "Origin");
		break;
	}
	case HTTP_ORIGIN_ANY:
		http_response_header(req, "Access-Control-Allow-Origin", "*");
		break;
	default:
		break;
	}
}
