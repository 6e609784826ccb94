/*
 * Unit tests of http/connection.c with the router and the auth hook: a
 * real HTTP connection on a worker's loop driven on this thread (never
 * started), one end of a socket pair as its fd (as the plain port), the
 * test holding the other end as the client.
 *
 * This binary serves route tables of its own: it defines
 * http_route_tables (http/routes.c is not linked), with routes for every
 * permission, an asynchronous handler, a route that takes the connection
 * over, and an auth hook that answers now or when the test says.
 * alarm() bounds every test in wall time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/conn_internal.h"
#include "core/worker.h"
#include "http/internal.h"
#include "router/service.h"
#include "router/shard.h"

enum { TEST_ALARM_S = 20 };

/* ---- handlers ---- */

static struct http_request *held; /* /async, until the test answers */
static int cancels;

static void held_cancel(void *arg)
{
	(void)arg;
	cancels++;
	held = NULL;
}

static void h_public(struct http_request *req)
{
	http_respond_text(req, 200, "public");
}

static void h_read(struct http_request *req)
{
	char text[200];
	snprintf(text, sizeof(text), "read by %s", http_request_auth(req)->who);
	http_respond_text(req, 200, text);
}

static void h_admin(struct http_request *req)
{
	struct slice b = http_request_body(req);
	http_respond(req, 200, "application/octet-stream", b.p, b.len, 0);
}

static void h_async(struct http_request *req)
{
	held = req;
	http_request_set_cancel(req, held_cancel, NULL);
}

static void h_json(struct http_request *req)
{
	json_t *j = json_pack("{s:s,s:i}", "path", http_request_path(req), "n", 1);
	http_respond_json(req, 201, j);
	json_decref(j);
}

static void h_param(struct http_request *req)
{
	struct slice who = http_request_param(req, 0);
	struct buf x = BUF_INIT, text = BUF_INIT;
	bool has_x = http_request_query_param(req, "x", &x);
	buf_printf(&text, "param=%.*s x=%s", (int)who.len, who.p, has_x ? buf_cstr(&x) : "(none)");
	http_respond_text(req, 200, buf_cstr(&text));
	buf_clear(&x);
	buf_clear(&text);
}

static void h_page(struct http_request *req)
{
	http_response_header(req, "X-Evil", "a\r\nSet-Cookie: stolen=1");
	http_response_header(req, "Bad Name", "1");
	http_response_header(req, "X-Good", "1");
	http_respond(req, 200, "text/html; charset=utf-8", "<p>hi</p>", 9, HTTP_RESP_HTML);
}

/* What took the connection over: echoes what it reads. */
static struct buf up_rest, up_in;
static struct conn *up_conn;
static bool up_closed;

static void up_on_read(void *owner, struct conn *c, const char *data, size_t len)
{
	(void)owner;
	buf_append(&up_in, data, len);
	conn_write(c, data, len);
}

static void up_on_handshake(void *owner, struct conn *c)
{
	(void)owner;
	(void)c;
}

static void up_on_tick(void *owner, struct conn *c, uint64_t now)
{
	(void)owner;
	(void)c;
	(void)now;
}

static void up_on_close(void *owner, struct conn *c, const char *reason)
{
	(void)owner;
	(void)c;
	(void)reason;
	up_closed = true;
	up_conn = NULL;
}

static const struct conn_handler up_handler = {
	.on_read = up_on_read,
	.on_handshake = up_on_handshake,
	.on_tick = up_on_tick,
	.on_close = up_on_close,
};

static void h_echo(struct http_request *req)
{
	up_conn = http_upgrade(req, "Upgrade: echo\r\nConnection: Upgrade\r\n", &up_handler, NULL, &up_rest);
}

static const struct http_route test_routes[] = {
	{.methods = HTTP_M_GET, .path = "/public", .perm = ROUTE_PERM_PUBLIC, .handler = h_public},
	{.methods = HTTP_M_GET, .path = "/read", .perm = ROUTE_PERM_READ, .handler = h_read},
	{.methods = HTTP_M_POST | HTTP_M_DELETE, .path = "/admin", .perm = ROUTE_PERM_ADMIN, .handler = h_admin},
	{.methods = HTTP_M_GET, .path = "/async", .perm = ROUTE_PERM_PUBLIC, .handler = h_async},
	{.methods = HTTP_M_GET, .path = "/json", .perm = ROUTE_PERM_PUBLIC, .handler = h_json},
	{.methods = HTTP_M_GET, .path = "/users/*", .perm = ROUTE_PERM_PUBLIC, .handler = h_param},
	{.methods = HTTP_M_GET, .path = "/page", .perm = ROUTE_PERM_PUBLIC, .handler = h_page},
	{.methods = HTTP_M_GET, .path = "/echo", .perm = ROUTE_PERM_PUBLIC, .handler = h_echo,
	 .flags = HTTP_ROUTE_UPGRADE},
};
static const struct http_route_table test_table = HTTP_ROUTE_TABLE("test", test_routes);

const struct http_route_table *const http_route_tables[] = {&test_table, NULL};

/* ---- the auth hook ---- */

static struct http_request *auth_held; /* X-Async: answered when the test says */
static struct http_auth_result auth_res;
static int auth_calls;

static void auth_cancel(void *arg)
{
	(void)arg;
	auth_held = NULL;
}

static void auth_check(struct http_request *req)
{
	struct http_auth_result r;
	memset(&r, 0, sizeof(r));
	struct slice a = http_request_header(req, "authorization");
	struct slice cookie = http_request_header(req, "cookie");
	auth_calls++;
	if (slice_eq_str(a, "Bearer admin")) {
		r.level = ROUTE_PERM_ADMIN, r.via = HTTP_AUTH_BEARER;
		strcpy(r.who, "token admin");
	} else if (slice_eq_str(a, "Bearer reader")) {
		r.level = ROUTE_PERM_READ, r.via = HTTP_AUTH_BEARER;
		strcpy(r.who, "token reader");
	} else if (slice_eq_str(a, "Basic user")) {
		r.level = ROUTE_PERM_PUBLIC, r.via = HTTP_AUTH_BASIC;
		strcpy(r.who, "user@example.org");
	} else if (a.p) {
		r.level = ROUTE_PERM_PUBLIC, r.via = HTTP_AUTH_BEARER, r.failed = true;
	} else if (slice_eq_str(cookie, "s=admin")) {
		r.level = ROUTE_PERM_ADMIN, r.via = HTTP_AUTH_COOKIE;
		strcpy(r.who, "admin@example.org");
		strcpy(r.csrf_token, "tok");
	} else {
		r.level = ROUTE_PERM_PUBLIC, r.via = HTTP_AUTH_NONE;
	}
	if (http_request_header(req, "x-async").p) {
		auth_held = req;
		auth_res = r;
		http_request_set_cancel(req, auth_cancel, NULL);
		return;
	}
	http_auth_done(req, &r);
}

static const struct http_auth_ops test_auth = {.check = auth_check, .challenge = "Bearer realm=\"test\""};

/* ---- the server and the client end ---- */

static struct config cfg;
static struct server srv;
static struct shard sh;
static struct worker W;
static int peer = -1;
static const struct http_port plain = {false, HTTP_LISTENER_ADMIN};

static void spin(int n)
{
	for (int i = 0; i < n; i++)
		uv_run(&W.loop, UV_RUN_NOWAIT);
}

static void open_conn(void)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	peer = sv[1];
	http_conn_accept(&W, sv[0], (void *)&plain);
}

static int setup(void **state)
{
	(void)state;
	alarm(TEST_ALARM_S);
	config_defaults(&cfg);
	cfg.workers = 1;
	memset(&W, 0, sizeof(W));
	worker_init(&W, 0, 0);
	conn_worker_start(&W);
	srv = (struct server){.cfg = &cfg, .nworkers = 1, .workers = &W};
	sh = (struct shard){.srv = &srv, .w = &W};
	W.ctx = &sh;
	char *err = NULL;
	assert_int_equal(http_service.setup(&srv, &err), 0);
	assert_int_equal(http_service.listen(&sh, &err), 0); /* no port configured: opens nothing */
	http_auth_set(&test_auth);
	held = auth_held = NULL;
	cancels = auth_calls = 0;
	up_conn = NULL;
	up_closed = false;
	open_conn();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (peer >= 0)
		close(peer);
	peer = -1;
	spin(5);
	http_service.stop(&sh);
	spin(5);
	worker_discard(&W);
	http_service.teardown(&srv);
	config_free(&cfg);
	http_auth_set(NULL);
	buf_clear(&up_rest);
	buf_clear(&up_in);
	alarm(0);
	return 0;
}

static void send_str(const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(peer, s, n);
		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

/* Spins the loop and appends what the server wrote; true at EOF. */
static bool receive(struct buf *b)
{
	spin(20);
	char tmp[65536];
	for (;;) {
		ssize_t n = read(peer, tmp, sizeof(tmp));
		if (n > 0) {
			buf_append(b, tmp, (size_t)n);
			continue;
		}
		if (n == 0)
			return true;
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		return false;
	}
}

/* Sends a request, returns what came back (NUL-terminated in *b). */
static const char *exchange(const char *req, struct buf *b, bool *eof)
{
	buf_reset(b);
	send_str(req);
	bool e = receive(b);
	if (eof)
		*eof = e;
	return buf_cstr(b);
}

static void has(const char *text, const char *needle)
{
	if (!text || !strstr(text, needle))
		fail_msg("'%s' does not contain '%s'", text ? text : "(null)", needle);
}

static void lacks(const char *text, const char *needle)
{
	if (text && strstr(text, needle))
		fail_msg("'%s' contains '%s'", text, needle);
}

/* The status codes of the responses in text, in order, as "200 404". */
static void statuses(const char *text, char *out, size_t n)
{
	out[0] = '\0';
	for (const char *p = strstr(text, "HTTP/1.1 "); p; p = strstr(p + 1, "HTTP/1.1 "))
		snprintf(out + strlen(out), n - strlen(out), "%s%.3s", out[0] ? " " : "", p + 9);
}

static void assert_statuses(const char *text, const char *want)
{
	char got[256];
	statuses(text, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("statuses '%s', want '%s' in:\n%s", got, want, text);
}

#define GET(path, extra) "GET " path " HTTP/1.1\r\nHost: x\r\n" extra "\r\n"

/* ---- tests ---- */

static void public_route_keep_alive(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	bool eof;
	const char *r = exchange(GET("/public", "") GET("/public", ""), &b, &eof);
	assert_statuses(r, "200 200");
	has(r, "Content-Length: 7\r\n");
	has(r, "public\n");
	assert_false(eof);
	assert_int_equal(auth_calls, 0); /* PUBLIC never asks the hook */
	buf_clear(&b);
}

static void unauthenticated_is_401(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	bool eof;
	const char *r = exchange(GET("/read", ""), &b, &eof);
	assert_statuses(r, "401");
	has(r, "WWW-Authenticate: Bearer realm=\"test\"\r\n");
	lacks(r, "read by");
	assert_false(eof); /* no body was on its way: the connection goes on */
	assert_statuses(exchange(GET("/public", ""), &b, &eof), "200");
	r = exchange(GET("/read", "Authorization: Bearer wrong\r\n"), &b, &eof);
	assert_statuses(r, "401");
	has(r, "credentials refused");
	buf_clear(&b);
}

static void levels(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	bool eof;
	const char *r = exchange(GET("/read", "Authorization: Bearer reader\r\n"), &b, &eof);
	assert_statuses(r, "200");
	has(r, "read by token reader");
	r = exchange(GET("/read", "Authorization: Basic user\r\n"), &b, &eof);
	assert_statuses(r, "403"); /* known, but not enough */
	has(r, "user@example.org");
	r = exchange("DELETE /admin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer reader\r\n\r\n", &b, &eof);
	assert_statuses(r, "403");
	has(r, "administrator");
	assert_false(eof);
	r = exchange("POST /admin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin\r\nContent-Length: 5\r\n\r\nhello", &b,
		     &eof);
	assert_statuses(r, "200");
	has(r, "\r\n\r\nhello");
	assert_false(eof);
	/* Refused before the body is read: the connection ends, since the
	 * unread body would otherwise be taken for the next request. */
	r = exchange("POST /admin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer reader\r\nContent-Length: 5\r\n\r\n", &b,
		     &eof);
	assert_statuses(r, "403");
	has(r, "Connection: close\r\n");
	assert_true(eof);
	buf_clear(&b);
}

static void csrf_with_cookie(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	bool eof;
	const char *r = exchange(GET("/read", "Cookie: s=admin\r\n"), &b, &eof);
	assert_statuses(r, "200"); /* reading needs no token */
	r = exchange("DELETE /admin HTTP/1.1\r\nHost: x\r\nCookie: s=admin\r\n\r\n", &b, &eof);
	assert_statuses(r, "403");
	has(r, "no X-CSRF-Token");
	r = exchange("DELETE /admin HTTP/1.1\r\nHost: x\r\nCookie: s=admin\r\nX-CSRF-Token: other\r\n\r\n", &b, &eof);
	assert_statuses(r, "403");
	has(r, "wrong X-CSRF-Token");
	r = exchange("DELETE /admin HTTP/1.1\r\nHost: x\r\nCookie: s=admin\r\nX-CSRF-Token: tok\r\n\r\n", &b, &eof);
	assert_statuses(r, "200");
	/* Bearer callers are not exposed to CSRF. */
	r = exchange("DELETE /admin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin\r\n\r\n", &b, &eof);
	assert_statuses(r, "200");
	r = exchange("POST /admin HTTP/1.1\r\nHost: x\r\nCookie: s=admin\r\nContent-Length: 2\r\n\r\nhi", &b, &eof);
	assert_statuses(r, "403");
	assert_true(eof);
	buf_clear(&b);
}

static void no_hook_is_401(void **state)
{
	(void)state;
	http_auth_set(NULL);
	struct buf b = BUF_INIT;
	const char *r = exchange(GET("/read", "Authorization: Bearer admin\r\n"), &b, NULL);
	assert_statuses(r, "401");
	has(r, "no authentication is set up");
	buf_clear(&b);
}

/* The hook answers later; pipelined requests wait their turn. */
static void async_auth(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	const char *r = exchange(GET("/read", "Authorization: Bearer reader\r\nX-Async: 1\r\n") GET("/public", ""), &b, NULL);
	assert_string_equal(r, "");
	assert_non_null(auth_held);
	http_auth_done(auth_held, &auth_res);
	auth_held = NULL;
	buf_reset(&b);
	receive(&b);
	assert_statuses(buf_cstr(&b), "200 200");
	has(buf_cstr(&b), "read by token reader");
	/* A connection that ends meanwhile (here: the server stops) cancels
	 * the check. */
	exchange(GET("/read", "Authorization: Bearer reader\r\nX-Async: 1\r\n"), &b, NULL);
	assert_non_null(auth_held);
	http_service.stop(&sh);
	spin(10);
	assert_null(auth_held);
	buf_clear(&b);
}

static void async_handler(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	const char *r = exchange(GET("/async", "") GET("/public", ""), &b, NULL);
	assert_string_equal(r, ""); /* the second waits for the first */
	assert_non_null(held);
	assert_string_equal(http_request_path(held), "/async");
	http_respond_text(held, 202, "later");
	held = NULL;
	buf_reset(&b);
	receive(&b);
	assert_statuses(buf_cstr(&b), "202 200");
	has(buf_cstr(&b), "later\n");
	exchange(GET("/async", ""), &b, NULL);
	assert_non_null(held);
	http_service.stop(&sh);
	spin(10);
	assert_int_equal(cancels, 1);
	assert_null(held);
	bool eof = receive(&b);
	assert_true(eof);
	assert_string_equal(buf_cstr(&b), "");
	buf_clear(&b);
}

/* A handler that answers while its connection is ending is not also
 * cancelled. */
static void respond_while_closing(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	exchange(GET("/async", ""), &b, NULL);
	assert_non_null(held);
	http_service.stop(&sh); /* the conn closes from the loop, later */
	http_respond_text(held, 200, "too late");
	held = NULL;
	spin(10);
	assert_int_equal(cancels, 0);
	assert_true(receive(&b));
	assert_string_equal(buf_cstr(&b), "");
	buf_clear(&b);
}

static void responses(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	const char *r = exchange(GET("/json", ""), &b, NULL);
	assert_statuses(r, "201");
	has(r, "Content-Type: application/json\r\n");
	has(r, "Cache-Control: no-store\r\n");
	has(r, "X-Content-Type-Options: nosniff\r\n");
	has(r, "{\"path\":\"/json\",\"n\":1}");
	r = exchange(GET("/page", ""), &b, NULL);
	has(r, "Content-Security-Policy: default-src 'none'; script-src 'self'");
	has(r, "frame-ancestors 'none'");
	has(r, "X-Frame-Options: DENY\r\n");
	has(r, "X-Good: 1\r\n");
	lacks(r, "stolen"); /* a header value with CRLF is left out */
	lacks(r, "Bad Name");
	r = exchange(GET("/users/alice%40example.org?y=1&x=a+b%21", ""), &b, NULL);
	has(r, "param=alice@example.org x=a b!");
	r = exchange("HEAD /json HTTP/1.1\r\nHost: x\r\n\r\n", &b, NULL);
	assert_statuses(r, "201");
	has(r, "Content-Length: 22\r\n");
	lacks(r, "{");
	r = exchange(GET("/users/", ""), &b, NULL);
	assert_statuses(r, "404");
	r = exchange("POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &b, NULL);
	assert_statuses(r, "405");
	has(r, "Allow: GET, HEAD\r\n");
	buf_clear(&b);
}

/* The route takes the connection over; the bytes after the request are
 * the new protocol's. */
static void upgrade(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	const char *r = exchange("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nHELLO", &b,
				 NULL);
	assert_statuses(r, "101");
	has(r, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n");
	assert_non_null(up_conn);
	assert_int_equal(up_rest.len, 5);
	assert_memory_equal(up_rest.data, "HELLO", 5);
	r = exchange("more", &b, NULL);
	assert_string_equal(r, "more");
	assert_int_equal(up_in.len, 4);
	close(peer);
	peer = -1;
	spin(10);
	assert_true(up_closed);
	buf_clear(&b);
}

/* An Upgrade a route does not take is answered, then the connection ends. */
static void upgrade_ignored(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	bool eof;
	const char *r = exchange(GET("/public", "Upgrade: h2c\r\nConnection: Upgrade\r\n"), &b, &eof);
	assert_statuses(r, "200");
	has(r, "Connection: close\r\n");
	assert_true(eof);
	buf_clear(&b);
}

static void refusal_closes(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	bool eof;
	const char *r = exchange("GET /%2e%2e/read HTTP/1.1\r\nHost: x\r\n\r\n" GET("/public", ""), &b, &eof);
	assert_statuses(r, "400");
	has(r, "Connection: close\r\n");
	has(r, "'..'");
	assert_true(eof);
	buf_clear(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(public_route_keep_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(unauthenticated_is_401, setup, teardown),
		cmocka_unit_test_setup_teardown(levels, setup, teardown),
		cmocka_unit_test_setup_teardown(csrf_with_cookie, setup, teardown),
		cmocka_unit_test_setup_teardown(no_hook_is_401, setup, teardown),
		cmocka_unit_test_setup_teardown(async_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(async_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(respond_while_closing, setup, teardown),
		cmocka_unit_test_setup_teardown(responses, setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(refusal_closes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
