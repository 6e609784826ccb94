/*
 * router: the checks on route tables, the lookup of a request's route,
 * and the names (methods, permissions, statuses) the rest of http/ prints.
 * Pure functions over const tables, except the auth hook, which is set
 * once before the workers start.
 *
 * Lookup picks the most specific pattern that matches the path, whatever
 * the method, and only then looks for the method among the rows of that
 * pattern: a method a resource does not have is a 405, never a fall-back
 * to a broader pattern with another permission.
 */
#include "http/internal.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

/* ---- names ---- */

static const struct {
	unsigned bit;
	const char *name;
} method_names[] = {
	{HTTP_M_GET, "GET"},       {HTTP_M_HEAD, "HEAD"},     {HTTP_M_POST, "POST"},
	{HTTP_M_PUT, "PUT"},       {HTTP_M_PATCH, "PATCH"},   {HTTP_M_DELETE, "DELETE"},
	{HTTP_M_OPTIONS, "OPTIONS"},
};

const char *http_method_name(unsigned method)
{
	for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
		if (method_names[i].bit == method)
			return method_names[i].name;
	return "?";
}

void http_methods_format(unsigned methods, struct buf *out)
{
	size_t start = out->len;
	for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
		if (methods & method_names[i].bit)
			buf_printf(out, "%s%s", out->len > start ? ", " : "", method_names[i].name);
}

static const char *const perm_names[ROUTE_PERM_COUNT] = {
	[ROUTE_PERM_UNSET] = "unset",
	[ROUTE_PERM_PUBLIC] = "public",
	[ROUTE_PERM_READ] = "read",
	[ROUTE_PERM_ADMIN] = "admin",
};

const char *http_perm_name(enum http_perm p)
{
	return (unsigned)p < ROUTE_PERM_COUNT ? perm_names[p] : "unknown";
}

static const struct {
	int status;
	const char *text;
} status_texts[] = {
	{100, "Continue"},
	{101, "Switching Protocols"},
	{200, "OK"},
	{201, "Created"},
	{202, "Accepted"},
	{204, "No Content"},
	{301, "Moved Permanently"},
	{302, "Found"},
	{303, "See Other"},
	{304, "Not Modified"},
	{307, "Temporary Redirect"},
	{308, "Permanent Redirect"},
	{400, "Bad Request"},
	{401, "Unauthorized"},
	{403, "Forbidden"},
	{404, "Not Found"},
	{405, "Method Not Allowed"},
	{408, "Request Timeout"},
	{409, "Conflict"},
	{410, "Gone"},
	{411, "Length Required"},
	{413, "Content Too Large"},
	{414, "URI Too Long"},
	{415, "Unsupported Media Type"},
	{417, "Expectation Failed"},
	{422, "Unprocessable Content"},
	{426, "Upgrade Required"},
	{429, "Too Many Requests"},
	{431, "Request Header Fields Too Large"},
	{500, "Internal Server Error"},
	{501, "Not Implemented"},
	{503, "Service Unavailable"},
	{505, "HTTP Version Not Supported"},
};

const char *http_status_text(int status)
{
	for (size_t i = 0; i < sizeof(status_texts) / sizeof(status_texts[0]); i++)
		if (status_texts[i].status == status)
			return status_texts[i].text;
	return "Unknown";
}

/* ---- the auth hook ---- */

/* Set from a service's setup on the main thread before any worker thread
 * exists, read-only afterwards (thread creation orders the two). */
static const struct http_auth_ops *auth_ops;

void http_auth_set(const struct http_auth_ops *ops)
{
	auth_ops = ops;
}

const struct http_auth_ops *http_auth_current(void)
{
	return auth_ops;
}

/* ---- checking tables ---- */

/* GET serves HEAD too. */
static unsigned methods_served(unsigned m)
{
	return m & HTTP_M_GET ? m | HTTP_M_HEAD : m;
}

static int row_error(char **err, const struct http_route_table *t, size_t i, const char *fmt, const char *arg)
{
	const struct http_route *r = &t->routes[i];
	struct buf b = BUF_INIT, m = BUF_INIT;
	http_methods_format(r->methods, &m);
	buf_printf(&b, "routes '%s', row %zu (%s %s): ", t->name ? t->name : "?", i + 1, m.len ? buf_cstr(&m) : "-",
		   r->path ? r->path : "(no path)");
	buf_printf(&b, fmt, arg);
	buf_clear(&m);
	*err = buf_steal(&b);
	return -1;
}

static int table_error(char **err, const struct http_route_table *t, const char *what)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "routes '%s': %s", t->name ? t->name : "?", what);
	*err = buf_steal(&b);
	return -1;
}

int http_routes_check(const struct http_route_table *const *tables, char **err)
{
	for (size_t ti = 0; tables[ti]; ti++) {
		const struct http_route_table *t = tables[ti];
		if (t->listeners == 0)
			return table_error(err, t, "no listener: say HTTP_LISTENER_ADMIN, _WEB or both");
		if (t->listeners & ~(unsigned)HTTP_LISTENER_ALL)
			return table_error(err, t, "listener bits that are no HTTP_LISTENER_*");
		for (size_t i = 0; i < t->n; i++) {
			const struct http_route *r = &t->routes[i];
			const char *why = NULL;
			if (r->perm == ROUTE_PERM_UNSET)
				return row_error(err, t, i, "%s",
						 "no permission (ROUTE_PERM_UNSET): say ROUTE_PERM_PUBLIC, _READ or _ADMIN");
			if ((unsigned)r->perm >= ROUTE_PERM_COUNT)
				return row_error(err, t, i, "%s", "an unknown permission");
			if (r->methods == 0 || (r->methods & ~(unsigned)HTTP_M_ALL))
				return row_error(err, t, i, "%s", "no methods, or bits that are no HTTP_M_* method");
			if (!r->handler)
				return row_error(err, t, i, "%s", "no handler");
			if (r->flags & ~(unsigned)HTTP_ROUTE_UPGRADE)
				return row_error(err, t, i, "%s", "unknown flags");
			/* A configured path is checked once it is known. */
			if (r->path_of && !r->path)
				continue;
			if (!r->path || !http_pattern_valid(r->path, &why))
				return row_error(err, t, i, "the path %s", why ? why : "is missing");
			/* Every earlier row, in this table and the ones before
			 * served on one of the same listeners. */
			for (size_t tj = 0; tj <= ti; tj++) {
				const struct http_route_table *u = tables[tj];
				if (!(u->listeners & t->listeners))
					continue;
				size_t end = tj == ti ? i : u->n;
				for (size_t j = 0; j < end; j++) {
					const struct http_route *o = &u->routes[j];
					if (o->path && strcmp(o->path, r->path) == 0 &&
					    (methods_served(o->methods) & methods_served(r->methods))) {
						char what[160];
						snprintf(what, sizeof(what), "routes '%s', row %zu", u->name ? u->name : "?",
							 j + 1);
						return row_error(err, t, i, "the same path and method as %s", what);
					}
				}
			}
		}
	}
	return 0;
}

/* ---- lookup ---- */

void http_route_find(const struct http_route_table *const *tables, unsigned method, const char *path, size_t len,
		     struct http_match *m)
{
	memset(m, 0, sizeof(*m));
	const char *best = NULL;
	struct slice params[HTTP_ROUTE_PARAMS_MAX];
	unsigned np = 0;
	for (size_t ti = 0; tables[ti]; ti++)
		for (size_t i = 0; i < tables[ti]->n; i++) {
			const struct http_route *r = &tables[ti]->routes[i];
			if (!r->path || (best && strcmp(r->path, best) == 0))
				continue;
			if (!http_pattern_match(r->path, path, len, params, &np))
				continue;
			if (best && http_pattern_cmp(r->path, best) <= 0)
				continue;
			best = r->path;
			memcpy(m->params, params, np * sizeof(params[0]));
			m->nparams = np;
		}
	if (!best)
		return;
	for (size_t ti = 0; tables[ti]; ti++)
		for (size_t i = 0; i < tables[ti]->n; i++) {
			const struct http_route *r = &tables[ti]->routes[i];
			if (!r->path || strcmp(r->path, best) != 0)
				continue;
			unsigned served = methods_served(r->methods);
			m->allow |= served;
			if ((served & method) && !m->route) {
				m->route = r;
				m->table = tables[ti];
			}
		}
}

/* ---- permissions ---- */

static bool token_equal(struct slice a, const char *b)
{
	size_t n = strlen(b);
	unsigned char diff = (unsigned char)(a.len != n);
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)((i < a.len ? (unsigned char)a.p[i] : 0) ^ (unsigned char)b[i]);
	return diff == 0;
}

int http_auth_verdict(enum http_perm need, unsigned method, const struct http_auth_result *r, struct slice csrf,
		      const char **why)
{
	enum http_perm level = (unsigned)r->level < ROUTE_PERM_COUNT ? r->level : ROUTE_PERM_UNSET;
	if (need == ROUTE_PERM_UNSET || (unsigned)need >= ROUTE_PERM_COUNT) {
		*why = "the route has no permission";
		return 403;
	}
	if (level < need) {
		if (r->via == HTTP_AUTH_NONE || r->failed) {
			*why = r->failed ? "credentials refused" : "authentication required";
			return 401;
		}
		*why = need == ROUTE_PERM_ADMIN ? "not allowed: this needs an administrator"
						: "not allowed: this needs an authenticated caller";
		return 403;
	}
	if (r->via == HTTP_AUTH_COOKIE && (method & HTTP_M_UNSAFE)) {
		if (!csrf.p) {
			*why = "no X-CSRF-Token with a session cookie";
			return 403;
		}
		if (!r->csrf_token[0] || !token_equal(csrf, r->csrf_token)) {
			*why = "wrong X-CSRF-Token for this session";
			return 403;
		}
	}
	*why = NULL;
	return 0;
}
