/*
 * routes: every route table the HTTP server serves, in one place.  A
 * module that serves HTTP (the admin API, WebSocket, BOSH) exports a
 * `const struct http_route_table` and is listed here; reading this list
 * tells what the server answers.  The tables are checked at start-up
 * (http_routes_check): a row without a permission stops the server.
 *
 * This file is its own library (http/meson.build), linked into parleyd
 * after the modules whose tables it lists, so that http/ itself depends
 * on none of them.
 */
#include "adminapi/adminapi.h"
#include "bosh/bosh.h"
#include "http/http.h"
#include "ws/ws.h"

const struct http_route_table *const http_route_tables[] = {
	&http_builtin_table,
	&http_discovery_table,
	&ws_route_table,
	&adminapi_table,
	&bosh_routes,
	NULL,
};
