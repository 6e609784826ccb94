"""The HTTP server (src/http/) on the admin listener: HTTPS on Parley's own
connection layer, keep-alive and pipelining, and every refusal of a
malformed or oversized request with its status, its log line and, for
limits, the setting it names.

Requests are written with raw sockets (raw.py, over TLS with ALPN
http/1.1) where the exact bytes matter, and with Python's http.client
where a well-behaved client is the point.  After each hostile case the
server must still serve: /healthz answers on a fresh connection, and two
XMPP accounts log in and exchange a message.  Limits and timeouts are set
small through the instance configuration so that no case is slow; every
wait is bounded.
"""
import http.client
import re
import socket
import ssl
import subprocess
import time
import uuid

import pytest

import raw
from parley import PARLEYD, free_ports, wait_port

USERS = ("alice", "bob")
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"

# Small limits, so that crossing each one is quick.
LIMITS = {
    "http.header_bytes": 2048,
    "http.uri_bytes": 1024,
    "http.max_headers": 16,
    "http.body_bytes": 4096,
    "http.header_timeout": 2,
    "http.body_timeout": 2,
    "http.idle_timeout": 5,
    "http.output_pause_bytes": 4096,
}


@pytest.fixture
def web(make_server):
    """make_server with the admin listener on a free port (HTTPS, and plain
    HTTP with plain=True), alice and bob; the port is server.http_port."""
    def make(plain=False, **options):
        port, plain_port = free_ports(2)
        opts = dict(LIMITS)
        opts["http.admin_port"] = port
        if plain:
            opts["http.admin_plain_port"] = plain_port
        opts.update(options)
        s = make_server(options=opts, start=False)
        for u in USERS:
            s.add_user(f"{u}@localhost")
        s.start()
        s.http_port = port
        s.http_plain_port = plain_port if plain else None
        wait_port(port)
        return s
    return make


def context(server):
    ctx = ssl.create_default_context(cafile=server.cert)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def client(server, timeout=10.0):
    """An http.client connection over HTTPS, verifying the instance's certificate."""
    return http.client.HTTPSConnection("localhost", server.http_port, context=context(server), timeout=timeout)


def hconn(server, tls=True, timeout=10.0, bufsize=None):
    """A raw connection to the admin listener (TLS with ALPN http/1.1);
    bufsize: small socket buffers, so that what is not read stays unsent."""
    r = raw.Raw(server.http_port if tls else server.http_plain_port, cafile=server.cert, timeout=timeout,
                rcvbuf=bufsize)
    if bufsize:
        r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, bufsize)
    if tls:
        r._wrap(alpn=["http/1.1"])
    return r


RESPONSE_HEAD = rb"HTTP/1\.1 (\d{3}) [^\r\n]*\r\n((?:[^\r\n]+\r\n)*)\r\n"


def response(r, timeout=10.0, head_only=False):
    """The next response on a raw connection: (status, headers, body)."""
    m = r.expect(RESPONSE_HEAD, timeout)
    headers = {}
    for line in m.group(2).decode().split("\r\n"):
        if line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    n = 0 if head_only else int(headers.get("content-length", "0"))
    deadline = time.monotonic() + timeout
    while len(r.buf) < n:
        if not r._recv_some(deadline):
            break
    body, r.buf = r.buf[:n], r.buf[n:]
    return int(m.group(1)), headers, body


def refused(server, data, status, timeout=10.0, tls=True):
    """Sends `data` on a fresh connection: the answer has `status`, says
    Connection: close, and the server closes.  Returns (headers, body)."""
    with hconn(server, tls=tls, timeout=timeout) as r:
        r.send(data)
        got, headers, body = response(r, timeout)
        assert got == status, (got, headers, body)
        assert headers.get("connection") == "close", headers
        assert headers.get("x-content-type-options") == "nosniff"
        r.read_until_close(timeout)
        return headers, body


def refusal_logged(server, status, pattern=""):
    return server.wait_log(rf"http\[w\d+\]: conn=\d+ 127\.0\.0\.1:\d+: refused .*: {status} .*{pattern}")


def healthz_ok(server):
    c = client(server)
    try:
        c.request("GET", "/healthz")
        resp = c.getresponse()
        assert resp.status == 200
        assert resp.read() == b"ok\n"
    finally:
        c.close()


def assert_serving(server):
    """The server is alive, answers /healthz on a new connection, and two
    accounts still log in and exchange a message."""
    assert server.alive(), "parleyd died:\n" + server.log()[-4000:]
    healthz_ok(server)
    with raw.session(server, "alice") as a, raw.session(server, "bob") as b:
        body = f"still serving {uuid.uuid4().hex}"
        a.message(b.jid, body)
        b.expect_message(re.escape(body), timeout=10)
    assert server.alive()


# ---- serving ----

def test_healthz_over_https(web):
    s = web()
    with hconn(s) as r:
        assert r.sock.selected_alpn_protocol() == "http/1.1"
        assert r.sock.version() in ("TLSv1.2", "TLSv1.3")
        r.send(HEALTHZ)
        status, headers, body = response(r)
        assert (status, body) == (200, b"ok\n")
        assert headers["content-type"] == "text/plain; charset=utf-8"
        assert headers["content-length"] == "3"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
        assert "connection" not in headers
        # HEAD: the same header fields, no body.
        r.send(b"HEAD /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        status, headers, body = response(r, head_only=True)
        assert status == 200 and headers["content-length"] == "3"
        r.send(HEALTHZ)
        assert response(r)[0] == 200  # nothing of a HEAD body was sent in between
    s.wait_log(r"admin API on 127\.0\.0\.1:\d+ \(HTTPS\)")


def test_keep_alive_two_requests_one_connection(web):
    s = web()
    c = client(s)
    try:
        c.request("GET", "/healthz")
        r1 = c.getresponse()
        assert (r1.status, r1.read()) == (200, b"ok\n")
        sock = c.sock
        c.request("GET", "/healthz")
        r2 = c.getresponse()
        assert (r2.status, r2.read()) == (200, b"ok\n")
        assert c.sock is sock, "http.client had to reconnect: the connection was not kept alive"
    finally:
        c.close()
    s.wait_log(r"conn=\d+ 127\.0\.0\.1:\d+: closed \(.*\); 2 requests")


def test_http10_closes_unless_keep_alive(web):
    s = web()
    with hconn(s) as r:
        r.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, _ = response(r)
        assert status == 200 and headers["connection"] == "keep-alive"
        r.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        status, headers, _ = response(r)
        assert status == 200 and headers["connection"] == "close"
        r.read_until_close()


def test_pipelined_requests_answered_in_order(web):
    s = web()
    with hconn(s) as r:
        r.send(HEALTHZ + b"GET /nothing-here HTTP/1.1\r\nHost: localhost\r\n\r\n"
               + b"HEAD /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" + HEALTHZ)
        assert response(r)[0] == 200
        assert response(r)[0] == 404
        assert response(r, head_only=True)[0] == 200
        status, _, body = response(r)
        assert (status, body) == (200, b"ok\n")
    refusal_logged(s, 404, "no such resource")


def test_expect_100_continue(web):
    s = web()
    with hconn(s) as r:
        r.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        r.expect(rb"HTTP/1\.1 100 Continue\r\n\r\n")
        r.send(b"abc")
        assert response(r)[:3:2] == (200, b"ok\n")


def test_plain_http_on_loopback(web):
    s = web(plain=True)
    c = http.client.HTTPConnection("127.0.0.1", s.http_plain_port, timeout=10)
    try:
        c.request("GET", "/healthz")
        resp = c.getresponse()
        assert (resp.status, resp.read()) == (200, b"ok\n")
    finally:
        c.close()
    s.wait_log(r"admin API on 127\.0\.0\.1:\d+ \(HTTPS\), 127\.0\.0\.1:\d+ \(plain HTTP\)")


def test_plain_http_refused_off_loopback(make_server):
    port, plain = free_ports(2)
    s = make_server(options={"http.admin_listen": ["0.0.0.0"], "http.admin_port": port,
                             "http.admin_plain_port": plain}, start=False)
    r = subprocess.run([PARLEYD, "-c", s.conf, "--check-config"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert "http.admin_plain_port: plain HTTP is served on loopback addresses only" in r.stderr
    assert "'0.0.0.0'" in r.stderr


# ---- refusals ----

def test_headers_too_large_431(web):
    s = web()
    _, body = refused(s, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n", 431)
    assert b"2048" in body
    refusal_logged(s, 431, r"\(the limit is http\.header_bytes\)")
    many = b"".join(b"X-%d: y\r\n" % i for i in range(20))
    refused(s, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + many + b"\r\n", 431)
    refusal_logged(s, 431, r"\(the limit is http\.max_headers\)")
    assert_serving(s)


def test_uri_too_long_414(web):
    s = web()
    refused(s, b"GET /" + b"a" * 1500 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414)
    refusal_logged(s, 414, r"http\.uri_bytes")
    assert_serving(s)


def test_body_over_limit_413(web):
    s = web()
    # Refused from Content-Length, before any of the body is sent.
    refused(s, b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10485760\r\n\r\n", 413)
    refusal_logged(s, 413, r"\(the limit is http\.body_bytes\)")
    # A chunked body is counted as it comes (GET /healthz reads it).
    chunks = b"400\r\n" + b"x" * 1024 + b"\r\n"
    refused(s, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks * 5
            + b"0\r\n\r\n", 413)
    assert_serving(s)


def test_length_required_411(web):
    s = web()
    refused(s, b"POST /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 411)
    assert_serving(s)


def test_invalid_chunked_encoding_400(web):
    s = web()
    head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    refused(s, head + b"zz\r\nabc\r\n0\r\n\r\n", 400)
    refused(s, head + b"3\r\nabc\rX0\r\n\r\n", 400)  # a bare CR in the framing
    refused(s, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
    # A valid chunked body is decoded and the connection goes on.
    with hconn(s) as r:
        r.send(head + b"3\r\nabc\r\n0\r\n\r\n" + HEALTHZ)
        assert response(r)[0] == 200
        assert response(r)[0] == 200
    assert_serving(s)


def test_bad_method_and_version(web):
    s = web()
    refused(s, b"FOO /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 501)
    refused(s, b"TRACE /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 501)
    refused(s, b"GET /healthz HTTP/2.0\r\nHost: localhost\r\n\r\n", 505)
    refused(s, b"GET /healthz HTTX/1.1\r\nHost: localhost\r\n\r\n", 400)
    refused(s, b"GET /healthz HTTP/1.1\r\n\r\n", 400)  # no Host
    refused(s, b"\x00\x01\x02garbage\r\n\r\n", 501)
    # A method the resource does not have: 405 with Allow, and the
    # connection goes on (no body on its way).
    with hconn(s) as r:
        r.send(b"DELETE /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" + HEALTHZ)
        status, headers, _ = response(r)
        assert status == 405 and headers["allow"] == "GET, HEAD"
        assert response(r)[0] == 200
    refusal_logged(s, 405)
    assert_serving(s)


HOSTILE_PATHS = ["/%2e%2e/healthz", "/..;/healthz", "//healthz", "/%c0%ae%c0%ae/healthz", "/healthz%00",
                 "/x%2Fhealthz", "/a/./healthz", "/healthz/..", "/x/..", "/a%5chealthz", "/healthz;x=1"]


def test_hostile_paths(web):
    s = web()
    for path in HOSTILE_PATHS:
        refused(s, f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(), 400)
    # Other spellings of /healthz are no route at all: never another permission.
    with hconn(s) as r:
        for path in ("/HEALTHZ", "/Healthz", "/healthz/", "/%68ealthz"):
            r.send(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            status = response(r)[0]
            assert status == (200 if path == "/%68ealthz" else 404), (path, status)
    s.wait_log(r"refused GET /%2e%2e/healthz: 400 Bad Request: the path has a '\.' or '\.\.' segment")
    assert_serving(s)


def test_slowloris_headers_408(web):
    s = web()
    with hconn(s, timeout=15) as r:
        start = time.monotonic()
        r.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        got = b""
        # One header byte every 0.3 s, never the end of the header fields.
        while time.monotonic() - start < 10 and not r.closed:
            try:
                r.send(b"X-Slow: a\r\n"[len(got) % 11:len(got) % 11 + 1])
                got += b"."
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                break
            try:
                r._recv_some(time.monotonic() + 0.3)
            except TimeoutError:
                pass
        elapsed = time.monotonic() - start
        try:
            r.read_until_close(timeout=5)
        except TimeoutError:
            pass
        assert b"HTTP/1.1 408 Request Timeout" in r.received
        assert elapsed < 6, f"closed after {elapsed:.1f} s with http.header_timeout = 2"
    refusal_logged(s, 408, r"\(the limit is http\.header_timeout\)")
    assert_serving(s)


def test_slow_body_408(web):
    s = web()
    with hconn(s, timeout=15) as r:
        start = time.monotonic()
        r.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc")
        status, headers, _ = response(r, timeout=10)
        assert status == 408 and headers["connection"] == "close"
        assert time.monotonic() - start < 6
    refusal_logged(s, 408, r"http\.body_timeout")
    assert_serving(s)


def test_silent_connection_closed(web):
    # Neither a TLS handshake nor a request: closed within the timeouts.
    s = web()
    with raw.Raw(s.http_port, timeout=15) as r:
        start = time.monotonic()
        r.read_until_close(timeout=10)
        assert time.monotonic() - start < 6
    s.wait_log(r"refused: TLS handshake not complete within 2 s")
    assert_serving(s)


def test_pipelined_flood_is_bounded(web):
    # Many pipelined requests from a client that does not read: the server
    # stops reading once http.output_pause_bytes of answers wait, serves
    # others meanwhile, and answers every request, in order, once the
    # client reads.
    s = web()
    n = 20000
    with hconn(s, timeout=30, bufsize=4096) as r:
        r.sock.setblocking(False)
        data = HEALTHZ * n
        sent = 0
        deadline = time.monotonic() + 20
        while sent < len(data) and time.monotonic() < deadline:
            try:
                sent += r.sock.send(data[sent:sent + 16384])
            except (ssl.SSLWantWriteError, BlockingIOError):
                break  # the server stopped reading: the flood is held back
        r.sock.setblocking(True)
        assert sent < len(data), "the server read the whole flood without its answers being read"
        s.wait_log(r"bytes of responses unread; reading paused until they are \(http\.output_pause_bytes")
        # Others are served while the flooder's answers wait.
        assert_serving(s)
        answers = 0
        deadline = time.monotonic() + 60
        while answers < n and time.monotonic() < deadline:
            if sent < len(data):
                r.sock.setblocking(False)
                try:
                    sent += r.sock.send(data[sent:sent + 16384])
                except (ssl.SSLWantWriteError, BlockingIOError):
                    pass
                r.sock.setblocking(True)
            try:
                r._recv_some(time.monotonic() + 1)
            except TimeoutError:
                pass
            answers += r.buf.count(b"HTTP/1.1 200 OK\r\n")
            cut = r.buf.rfind(b"HTTP/1.1 200 OK\r\n")
            if cut >= 0:
                r.buf = r.buf[cut + 1:]
            assert not r.closed, f"closed after {answers} answers"
        assert answers == n, f"{answers} answers to {n} requests"
    assert_serving(s)
