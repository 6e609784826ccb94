/*
 * builtin: the routes http/ serves itself.  /healthz answers while the
 * worker that accepted the connection runs its loop: a probe for process
 * supervisors and load balancers, with no detail an anonymous caller
 * should not see.
 */
#include "http/internal.h"

static void healthz(struct http_request *req)
{
	http_respond_text(req, 200, "ok");
}

static const struct http_route builtin_routes[] = {
	{.methods = HTTP_M_GET, .path = "/healthz", .perm = ROUTE_PERM_PUBLIC, .handler = healthz},
};

const struct http_route_table http_builtin_table = HTTP_ROUTE_TABLE_ON("builtin", builtin_routes, HTTP_LISTENER_ALL);
