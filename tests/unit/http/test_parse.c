/* Unit tests of http/parse.c, the request reader on http-parser: every
 * limit and every refusal with its status (and the setting it names),
 * pipelined requests one at a time, chunked bodies decoded, and the same
 * outcome whatever the input is split into. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "http/internal.h"

static const struct http_limits defaults = {
	.header_bytes = 1024,
	.uri_bytes = 256,
	.max_headers = 8,
	.body_bytes = 64,
};

/* What a run saw: events ("H" head, "D" done, "E<status>"), and the
 * requests completed, described as "METHOD path [query] body". */
struct run {
	char events[256];
	char reqs[1024];
	int status;
	char why[200];
	const char *setting;
	size_t used;
};

static void describe(struct http_request *q, char *out, size_t n)
{
	struct slice body = http_request_body(q);
	struct slice query = http_request_query(q);
	snprintf(out, n, "%s %s%s%.*s %.*s;", http_method_name(q->method), http_request_path(q), query.len ? "?" : "",
		 (int)query.len, query.p, (int)body.len, body.p);
}

/* Feeds `in` in pieces of `step` bytes (0: all at once). */
static struct run drive_lim(const char *in, size_t len, size_t step, const struct http_limits *lim)
{
	struct run r;
	memset(&r, 0, sizeof(r));
	struct http_reader rd;
	http_reader_init(&rd, lim);
	size_t off = 0;
	while (off < len) {
		size_t piece = step && len - off > step ? step : len - off;
		size_t done = 0;
		while (done < piece) {
			size_t used = 0;
			enum http_read ev = http_reader_feed(&rd, in + off + done, piece - done, &used);
			done += used;
			if (ev == HTTP_READ_HEAD) {
				strcat(r.events, "H");
			} else if (ev == HTTP_READ_DONE) {
				strcat(r.events, "D");
				struct http_request *q = http_reader_take(&rd);
				char d[256];
				describe(q, d, sizeof(d));
				strncat(r.reqs, d, sizeof(r.reqs) - strlen(r.reqs) - 1);
				http_request_free(q);
			} else if (ev == HTTP_READ_ERROR) {
				char e[16];
				snprintf(e, sizeof(e), "E%d", rd.status);
				strcat(r.events, e);
				r.status = rd.status;
				snprintf(r.why, sizeof(r.why), "%s", rd.why);
				r.setting = rd.setting;
				r.used = off + done;
				http_reader_clear(&rd);
				return r;
			} else if (used == 0) {
				fail_msg("no progress at byte %zu", off + done);
			}
		}
		off += piece;
	}
	r.used = off;
	http_reader_clear(&rd);
	return r;
}

static struct run drive(const char *in, size_t step)
{
	return drive_lim(in, strlen(in), step, &defaults);
}

/* The same events and requests whatever the input is split into. */
static struct run every_split(const char *in)
{
	struct run whole = drive(in, 0);
	for (size_t step = 1; step < strlen(in); step++) {
		struct run r = drive(in, step);
		if (strcmp(r.events, whole.events) != 0 || strcmp(r.reqs, whole.reqs) != 0)
			fail_msg("split every %zu bytes: events %s, requests %s; whole: %s, %s", step, r.events, r.reqs,
				 whole.events, whole.reqs);
	}
	return whole;
}

static void refused_with(const char *in, int status, const char *why, const char *setting)
{
	struct run r = every_split(in);
	if (r.status != status)
		fail_msg("%s: status %d (%s), want %d", in, r.status, r.why, status);
	if (why && !strstr(r.why, why))
		fail_msg("%s: '%s' does not say '%s'", in, r.why, why);
	if (setting)
		assert_string_equal(r.setting, setting);
}

static void simple_get(void **state)
{
	(void)state;
	struct run r = every_split("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_string_equal(r.events, "HD");
	assert_string_equal(r.reqs, "GET /healthz ;");
	r = every_split("GET /a?b=c%20d HTTP/1.0\r\n\r\n"); /* HTTP/1.0 needs no Host */
	assert_string_equal(r.reqs, "GET /a?b=c%20d ;");
	/* Leading empty lines between requests are skipped (RFC 9112 §2.2). */
	r = every_split("\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_string_equal(r.reqs, "HEAD / ;");
}

static void headers_kept(void **state)
{
	(void)state;
	const char *in = "GET /x HTTP/1.1\r\nHost: example\r\nX-CSRF-Token:  abc \r\nCookie: a=1\r\n"
			 "Empty:\r\nCOOKIE: b=2\r\n\r\n";
	struct http_reader rd;
	http_reader_init(&rd, &defaults);
	size_t used;
	assert_int_equal(http_reader_feed(&rd, in, strlen(in), &used), HTTP_READ_HEAD);
	struct http_request *q = rd.req;
	struct slice v = http_request_header(q, "x-csrf-token");
	assert_int_equal(v.len, 3);
	assert_memory_equal(v.p, "abc", 3);
	v = http_request_header(q, "cookie");
	assert_memory_equal(v.p, "a=1", 3);
	v = http_request_header(q, "empty");
	assert_non_null(v.p);
	assert_int_equal(v.len, 0);
	assert_null(http_request_header(q, "missing").p);
	struct slice name, value;
	size_t n = 0;
	while (http_request_header_at(q, n, &name, &value))
		n++;
	assert_int_equal(n, 5);
	assert_true(http_request_header_at(q, 4, &name, &value));
	assert_int_equal(name.len, 6);
	assert_memory_equal(name.p, "cookie", 6); /* names are lower case */
	assert_memory_equal(value.p, "b=2", 3);
	assert_string_equal(http_request_path(q), "/x");
	http_reader_clear(&rd);
}

static void query_params(void **state)
{
	(void)state;
	const char *in = "GET /api/users?search=al%40ice+x&limit=10&bad=%zz&nul=%00&flag HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_reader rd;
	http_reader_init(&rd, &defaults);
	size_t used;
	assert_int_equal(http_reader_feed(&rd, in, strlen(in), &used), HTTP_READ_HEAD);
	struct http_request *q = rd.req;
	struct buf b = BUF_INIT;
	assert_true(http_request_query_param(q, "search", &b));
	assert_string_equal(buf_cstr(&b), "al@ice x");
	buf_reset(&b);
	assert_true(http_request_query_param(q, "limit", &b));
	assert_string_equal(buf_cstr(&b), "10");
	buf_reset(&b);
	assert_true(http_request_query_param(q, "flag", &b));
	assert_int_equal(b.len, 0);
	assert_false(http_request_query_param(q, "bad", &b));
	assert_false(http_request_query_param(q, "nul", &b));
	assert_false(http_request_query_param(q, "offset", &b));
	assert_int_equal(b.len, 0);
	buf_clear(&b);
	http_reader_clear(&rd);
}

/* Two requests in one read come out one at a time, in order; the reader
 * takes nothing of the second before the first is taken. */
static void pipelining(void **state)
{
	(void)state;
	const char *two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
			  "DELETE /c HTTP/1.1\r\nHost: x\r\n\r\n";
	struct run r = every_split(two);
	assert_string_equal(r.events, "HDHDHD");
	assert_string_equal(r.reqs, "GET /a ;POST /b xyz;DELETE /c ;");
	struct http_reader rd;
	http_reader_init(&rd, &defaults);
	size_t used;
	assert_int_equal(http_reader_feed(&rd, two, strlen(two), &used), HTTP_READ_HEAD);
	size_t off = used;
	assert_int_equal(http_reader_feed(&rd, two + off, strlen(two) - off, &used), HTTP_READ_DONE);
	off += used;
	assert_int_equal(off, strlen("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
	http_request_free(http_reader_take(&rd));
	http_reader_clear(&rd);
}

static void chunked_body(void **state)
{
	(void)state;
	struct run r = every_split("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
				   "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_string_equal(r.events, "HDHD");
	assert_string_equal(r.reqs, "POST /p abcde;GET /next ;");
}

static void invalid_chunked(void **state)
{
	(void)state;
	const char *h = "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
	char in[256];
	snprintf(in, sizeof(in), "%szz\r\nabc\r\n0\r\n\r\n", h);
	refused_with(in, 400, "chunk size", NULL);
	snprintf(in, sizeof(in), "%s3\r\nabcX\r\n0\r\n\r\n", h);
	refused_with(in, 400, NULL, NULL);
	snprintf(in, sizeof(in), "%s-1\r\n", h);
	refused_with(in, 400, NULL, NULL);
	/* Both framings: request smuggling's favourite. */
	refused_with("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
		     "Content-Length", NULL);
	refused_with("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", 400,
		     "Content-Length", NULL);
	refused_with("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\nabc", 400, "Content-Length", NULL);
	refused_with("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
		     "transfer coding", NULL);
	refused_with("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "transfer coding", NULL);
	/* Bare CRs in the chunked framing (Debian's http-parser, built
	 * without strict mode, takes them for line ends). */
	snprintf(in, sizeof(in), "%s3\r\nabc\rX0\r\n\r\n", h);
	refused_with(in, 400, "bare CR", NULL);
	snprintf(in, sizeof(in), "%s3\rabc\r\n0\r\n\r\n", h);
	refused_with(in, 400, NULL, NULL);
	snprintf(in, sizeof(in), "%s3\r\nabc\r\n0\r\nT: x\rY\r\n\r\n", h);
	refused_with(in, 400, NULL, NULL);
	refused_with("POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "HTTP/1.0", NULL);
}

/* "GET / HTTP/1.1" with one header field of `fill` bytes, `total` bytes long. */
static void head_of(struct buf *b, size_t total)
{
	buf_reset(b);
	buf_append_str(b, "GET / HTTP/1.1\r\nHost: x\r\nX: ");
	while (b->len < total - 4)
		buf_append_char(b, 'a');
	buf_append_str(b, "\r\n\r\n");
}

static void head_limits(void **state)
{
	(void)state;
	const struct http_limits *lim = &defaults;
	struct buf in = BUF_INIT;
	/* Exactly header_bytes of request line and header fields pass; one
	 * more is 431, naming the setting. */
	head_of(&in, lim->header_bytes);
	assert_int_equal(in.len, lim->header_bytes);
	assert_string_equal(drive_lim(in.data, in.len, 0, lim).events, "HD");
	assert_string_equal(drive_lim(in.data, in.len, 7, lim).events, "HD");
	head_of(&in, lim->header_bytes + 1);
	struct run r = drive_lim(in.data, in.len, 0, lim);
	assert_int_equal(r.status, 431);
	assert_string_equal(r.setting, "http.header_bytes");
	/* Refused as soon as the limit is reached: nothing past it is taken. */
	assert_int_equal(r.used, lim->header_bytes);
	assert_int_equal(drive_lim(in.data, in.len, 5, lim).status, 431);

	/* An endless header field is refused at the limit, not buffered. */
	head_of(&in, 100000);
	in.len -= 4;
	r = drive_lim(in.data, in.len, 4096, lim);
	assert_int_equal(r.status, 431);
	assert_int_equal(r.used, lim->header_bytes);
	buf_clear(&in);
}

static void too_many_headers(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	buf_append_str(&b, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (unsigned i = 1; i < defaults.max_headers; i++)
		buf_printf(&b, "X-%u: y\r\n", i);
	buf_append_str(&b, "\r\n");
	assert_string_equal(every_split(buf_cstr(&b)).events, "HD");
	b.len -= 2;
	buf_append_str(&b, "X-last: y\r\n\r\n");
	refused_with(buf_cstr(&b), 431, "header fields", "http.max_headers");
	buf_clear(&b);
}

static void long_targets(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	buf_append_str(&b, "GET /");
	for (size_t i = 0; i < defaults.uri_bytes; i++)
		buf_append_char(&b, 'a');
	buf_append_str(&b, " HTTP/1.1\r\nHost: x\r\n\r\n");
	refused_with(buf_cstr(&b), 414, "request target", "http.uri_bytes");
	/* A request line longer than header_bytes is 414 too. */
	struct http_limits lim = defaults;
	lim.uri_bytes = lim.header_bytes;
	buf_reset(&b);
	buf_append_str(&b, "GET /");
	for (size_t i = 0; i < 2 * lim.header_bytes; i++)
		buf_append_char(&b, 'a');
	struct run r = drive_lim(b.data, b.len, 0, &lim);
	assert_int_equal(r.status, 414);
	buf_clear(&b);
}

static void body_limits(void **state)
{
	(void)state;
	char in[512];
	/* Refused from Content-Length alone, before any of the body. */
	snprintf(in, sizeof(in), "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", defaults.body_bytes + 1);
	struct run r = every_split(in);
	assert_string_equal(r.events, "E413");
	assert_string_equal(r.setting, "http.body_bytes");
	snprintf(in, sizeof(in), "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n");
	assert_int_equal(every_split(in).status, 400);
	/* A chunked body is counted as it comes. */
	struct buf b = BUF_INIT;
	buf_append_str(&b, "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 10; i++)
		buf_append_str(&b, "8\r\n12345678\r\n");
	buf_append_str(&b, "0\r\n\r\n");
	r = every_split(buf_cstr(&b));
	assert_string_equal(r.events, "HE413");
	assert_string_equal(r.setting, "http.body_bytes");
	buf_clear(&b);
	/* At the limit it passes. */
	snprintf(in, sizeof(in), "PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 64\r\n\r\n%s",
		 "0123456789012345678901234567890123456789012345678901234567890123");
	assert_string_equal(every_split(in).events, "HD");
}

static void length_required(void **state)
{
	(void)state;
	refused_with("POST /p HTTP/1.1\r\nHost: x\r\n\r\n", 411, "Content-Length", NULL);
	refused_with("PUT /p HTTP/1.1\r\nHost: x\r\n\r\n", 411, NULL, NULL);
	refused_with("PATCH /p HTTP/1.1\r\nHost: x\r\n\r\n", 411, NULL, NULL);
	assert_string_equal(every_split("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").events, "HD");
	assert_string_equal(every_split("DELETE /p HTTP/1.1\r\nHost: x\r\n\r\n").events, "HD");
}

static void versions_and_methods(void **state)
{
	(void)state;
	refused_with("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0", NULL);
	/* http-parser reads a line without a version as 0.9: both are 400. */
	refused_with("GET / HTTP/0.9\r\nHost: x\r\n\r\n", 400, NULL, NULL);
	refused_with("GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, NULL, NULL);
	refused_with("GET / HTTP/1.1x\r\nHost: x\r\n\r\n", 505, NULL, NULL);
	refused_with("GET / HTTP/1\r\nHost: x\r\n\r\n", 505, NULL, NULL);
	refused_with("GET / HTTPS/1.1\r\nHost: x\r\n\r\n", 505, NULL, NULL);
	refused_with("GET / HTTX/1.1\r\nHost: x\r\n\r\n", 400, "HTTP/<major>.<minor>", NULL);
	refused_with("GET / XTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL, NULL);
	refused_with("GET / HTTP/1.1\rHost: x\r\n\r\n", 400, NULL, NULL);
	refused_with("GET /\r\n\r\n", 400, "HTTP/<major>.<minor>", NULL); /* HTTP/0.9 */
	/* HTTP/1.2 is a 1.x: served as 1.1 (RFC 9110 §2.5). */
	assert_string_equal(every_split("GET / HTTP/1.2\r\nHost: x\r\n\r\n").events, "HD");
	refused_with("FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "method", NULL);
	refused_with("get / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "method", NULL);
	refused_with("TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "TRACE", NULL);
	refused_with("CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 501, "CONNECT", NULL);
	refused_with("\x16\x03\x01\x02\x00\x01\x00", 501, NULL, NULL); /* a TLS ClientHello on the plain port */
}

static void hosts_and_targets(void **state)
{
	(void)state;
	refused_with("GET / HTTP/1.1\r\n\r\n", 400, "Host", NULL);
	refused_with("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Host", NULL);
	refused_with("GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, "absolute-form", NULL);
	refused_with("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL, NULL);
	refused_with("GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n", 400, "fragment", NULL);
	refused_with("GET /%2e%2e/admin HTTP/1.1\r\nHost: x\r\n\r\n", 400, "'..'", NULL);
	refused_with("GET /a/%2F HTTP/1.1\r\nHost: x\r\n\r\n", 400, "%2F", NULL);
	refused_with("GET /%c0%ae HTTP/1.1\r\nHost: x\r\n\r\n", 400, "UTF-8", NULL);
	refused_with("GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL, NULL);
	refused_with("GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "percent-encoded", NULL); /* raw non-ASCII */
	refused_with("GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL, NULL);
}

static void header_syntax(void **state)
{
	(void)state;
	refused_with("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400, "folding", NULL);
	refused_with("GET / HTTP/1.1\r\nHost: x\r\nBad Name: a\r\n\r\n", 400, "field name", NULL);
	refused_with("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400, NULL, NULL);
	refused_with("GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", 400, NULL, NULL);
	/* Bare LF line ends are taken (RFC 9112 §2.2 allows it). */
	assert_string_equal(every_split("GET / HTTP/1.1\nHost: x\n\n").events, "HD");
	refused_with("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400, NULL, NULL);
	refused_with("GET / HTTP/1.1\r\nHost: x\r\nExpect: 101-switch\r\n\r\n", 417, "Expect", NULL);
	struct http_reader rd;
	http_reader_init(&rd, &defaults);
	const char *in = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-Continue\r\n\r\n";
	size_t used;
	assert_int_equal(http_reader_feed(&rd, in, strlen(in), &used), HTTP_READ_HEAD);
	assert_true(rd.req->expect_continue);
	assert_true(rd.req->body_expected);
	assert_true(rd.req->keep_alive);
	http_reader_clear(&rd);
}

/* A failed reader stays failed and takes nothing more. */
static void failure_is_final(void **state)
{
	(void)state;
	struct http_reader rd;
	http_reader_init(&rd, &defaults);
	size_t used;
	assert_int_equal(http_reader_feed(&rd, "BLAH", 4, &used), HTTP_READ_ERROR);
	assert_int_equal(http_reader_feed(&rd, "GET / HTTP/1.1\r\n\r\n", 18, &used), HTTP_READ_ERROR);
	assert_int_equal(used, 0);
	http_reader_clear(&rd);
}

static void keep_alive(void **state)
{
	(void)state;
	const char *cases[][2] = {
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "1"},
		{"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "0"},
		{"GET / HTTP/1.0\r\n\r\n", "0"},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_reader rd;
		http_reader_init(&rd, &defaults);
		size_t used;
		assert_int_equal(http_reader_feed(&rd, cases[i][0], strlen(cases[i][0]), &used), HTTP_READ_HEAD);
		assert_int_equal(rd.req->keep_alive, cases[i][1][0] == '1');
		http_reader_clear(&rd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(simple_get),
		cmocka_unit_test(headers_kept),
		cmocka_unit_test(query_params),
		cmocka_unit_test(pipelining),
		cmocka_unit_test(chunked_body),
		cmocka_unit_test(invalid_chunked),
		cmocka_unit_test(head_limits),
		cmocka_unit_test(too_many_headers),
		cmocka_unit_test(long_targets),
		cmocka_unit_test(body_limits),
		cmocka_unit_test(length_required),
		cmocka_unit_test(versions_and_methods),
		cmocka_unit_test(hosts_and_targets),
		cmocka_unit_test(header_syntax),
		cmocka_unit_test(failure_is_final),
		cmocka_unit_test(keep_alive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
