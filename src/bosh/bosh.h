/*
 * bosh: XMPP over BOSH (XEP-0124, XEP-0206) for clients that speak HTTP
 * only (browsers).  A BOSH session is a client stream that no one TCP
 * connection carries: it lives on a worker as a c2s stream on a virtual
 * conn (core/conn.h), and HTTP requests from any worker attach to it by
 * its sid.  What the session does with request ids, hold, wait, acks and
 * the end of a session is XEP-0124's; the XMPP inside is c2s's.
 *
 * It is not a general HTTP long-polling layer, and not WebSocket (ws/).
 */
#ifndef PARLEY_BOSH_BOSH_H
#define PARLEY_BOSH_BOSH_H

struct service_ops;
struct http_route_table;

/* The sessions' per-worker state and their 1 s tick (router/service.h):
 * it listens on nothing; HTTP requests come through bosh_routes. */
extern const struct service_ops bosh_service;

/* POST and OPTIONS (CORS preflight) on the BOSH path of the public web
 * listener (http/routes.c lists it). */
extern const struct http_route_table bosh_routes;

#endif
