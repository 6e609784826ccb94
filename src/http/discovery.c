/*
 * discovery: XEP-0156 on the web listener.  /.well-known/host-meta (XRD)
 * and host-meta.json tell a web client where the alternative connection
 * methods are: the WebSocket URL (RFC 7395) and the BOSH URL (XEP-0206).
 * Each is announced exactly when the web listener serves a route at its
 * configured path (http.websocket_path, http.bosh_path), so what is
 * announced is what answers.
 *
 * The URLs name the host the client asked for (the Host header, when it
 * is one of our hosts, with its port), else our first host on
 * http.web_port: behind a TLS proxy on port 443 the client's own Host is
 * the right one.  Browsers on other origins may read these files as
 * http.allowed_origins says (CORS).
 */
#include "http/internal.h"

#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/log.h"
#include "xml/xml.h"

struct alt_link {
	const char *rel;
	char href[600];
};

/* Whether the web listener serves a route at exactly `path`. */
static bool web_serves(const char *path)
{
	const struct http_route_table *const *t = http_tables_for(HTTP_LISTENER_WEB);
	for (; path && *t; t++)
		for (size_t i = 0; i < (*t)->n; i++)
			if ((*t)->routes[i].path && strcmp((*t)->routes[i].path, path) == 0)
				return true;
	return false;
}

/* "host[:port]" for the URLs: the request's Host when it names one of our
 * hosts, else our first host on the web port. */
static void url_authority(const struct http_request *req, const struct config *cfg, char *out, size_t n)
{
	struct slice host = http_request_header(req, "host");
	if (host.p && host.len < 300) {
		const char *colon = memchr(host.p, ':', host.len);
		size_t hlen = colon ? (size_t)(colon - host.p) : host.len;
		bool port_ok = true;
		for (const char *q = colon ? colon + 1 : host.p + host.len; q < host.p + host.len; q++)
			port_ok = port_ok && *q >= '0' && *q <= '9';
		for (size_t i = 0; port_ok && i < cfg->nhosts; i++) {
			const char *d = cfg->hosts[i].domain;
			if (strlen(d) == hlen && strncasecmp(d, host.p, hlen) == 0) {
				snprintf(out, n, "%s%.*s", d, (int)(host.len - hlen), host.p + hlen);
				return;
			}
		}
	}
	snprintf(out, n, "%s:%u", cfg->hosts[0].domain, cfg->http.web_port);
}

static size_t alt_links(const struct http_request *req, struct alt_link *links)
{
	const struct config *cfg = http_request_config(req);
	char authority[320];
	url_authority(req, cfg, authority, sizeof(authority));
	size_t n = 0;
	if (web_serves(cfg->http.websocket_path)) {
		links[n].rel = "urn:xmpp:alt-connections:websocket";
		snprintf(links[n].href, sizeof(links[n].href), "wss://%s%s", authority, cfg->http.websocket_path);
		n++;
	}
	if (web_serves(cfg->http.bosh_path)) {
		links[n].rel = "urn:xmpp:alt-connections:xbosh";
		snprintf(links[n].href, sizeof(links[n].href), "https://%s%s", authority, cfg->http.bosh_path);
		n++;
	}
	return n;
}

static void host_meta(struct http_request *req)
{
	struct alt_link links[2];
	size_t n = alt_links(req, links);
	struct buf b = BUF_INIT;
	buf_append_str(&b, "<?xml version='1.0' encoding='utf-8'?>\n"
			   "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n");
	for (size_t i = 0; i < n; i++) {
		buf_printf(&b, "  <Link rel='%s' href='", links[i].rel);
		xml_escape_attr(&b, links[i].href, strlen(links[i].href));
		buf_append_str(&b, "'/>\n");
	}
	buf_append_str(&b, "</XRD>\n");
	http_response_cors(req);
	http_respond(req, 200, "application/xrd+xml; charset=utf-8", b.data, b.len, 0);
	buf_clear(&b);
}

static void host_meta_json(struct http_request *req)
{
	struct alt_link links[2];
	size_t n = alt_links(req, links);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "rel", links[i].rel, "href", links[i].href));
	json_t *body = json_pack("{s:o}", "links", arr);
	if (!body)
		log_fatal("http", "cannot build host-meta.json");
	http_response_cors(req);
	http_respond_json(req, 200, body);
	json_decref(body);
}

static const struct http_route discovery_routes[] = {
	{.methods = HTTP_M_GET, .path = "/.well-known/host-meta", .perm = ROUTE_PERM_PUBLIC, .handler = host_meta},
	{.methods = HTTP_M_GET, .path = "/.well-known/host-meta.json", .perm = ROUTE_PERM_PUBLIC,
	 .handler = host_meta_json},
};

const struct http_route_table http_discovery_table =
	HTTP_ROUTE_TABLE_ON("discovery", discovery_routes, HTTP_LISTENER_WEB);
