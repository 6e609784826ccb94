/*
 * adminapi: the admin HTTP API (docs/admin-api.md), /metrics and the web
 * admin page (web/admin/, compiled in), as one route table that http/
 * serves, and the authentication hook those routes need: API tokens,
 * administrators' passwords (HTTP Basic, or the page's login and its
 * session cookie with a CSRF token).
 *
 * Handlers are thin: they parse JSON, call manage/ (what is stored) or
 * an admin operation (what the workers hold, asked on the main thread
 * through admin_request_from_worker), and serialise what comes back.
 * Nothing here decides a rule that manage/ or admin/ decide.
 *
 * Threads: handlers and the hook run on the worker that owns the
 * connection and answer there.  Password hashing (PBKDF2) runs on
 * libuv's thread pool with a database handle of its own, never on a
 * worker's loop.  The session table is process-wide, under a mutex.
 */
#ifndef PARLEY_ADMINAPI_ADMINAPI_H
#define PARLEY_ADMINAPI_ADMINAPI_H

#include "http/http.h"

struct service_ops;

/* The routes (listed in http/routes.c). */
extern const struct http_route_table adminapi_table;

/* The module's process-wide part as a service of parleyd (router/
 * service.h): its setup installs the auth hook (http_auth_set) and makes
 * the bridge to the admin operations; it listens on nothing itself (the
 * http service does). */
extern const struct service_ops adminapi_service;

#endif
