"""XMPP over WebSocket (RFC 7395) on the public web listener (issue 12).

The clients:
  - WS below: a minimal RFC 6455 client on Python's ssl and socket, written
    here so that a test can put any frame on the wire (masks, fragments,
    opcodes, bad UTF-8) and read the close code the server answers with;
    it knows just enough XMPP (PLAIN or EXTERNAL, bind) to get a session.
  - xmpp.js (@xmpp/client 0.14.0: js/client.js, started by js/ws_client.mjs
    with the `ws` package as Node 20's WebSocket) at its defaults over wss,
    trusting the instance's certificate through NODE_EXTRA_CA_CERTS.
  - Converse.js 10.1.2 in headless Chromium (js/converse_driver.mjs), with
    its page served over https from this test (js/converse/index.html).
  - slixmpp over TCP (slix.py) as the other party of every conversation.

Every case runs with 1 and 2 workers: after SASL the stream (and the
WebSocket connection carrying it) moves to the worker that owns the
account.  Every wait is bounded.
"""
import asyncio
import base64
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

import slix
from certs import Pki, log_mark, wait_log_since
from clients import EXIT_AUTH, EXIT_OK, JS_DIR, ClientProc
from parley import BUILD, free_ports, wait_port

NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
TIMEOUT = 15.0
WS_PATH = "/xmpp-websocket"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class Closed(Exception):
    """The server ended the WebSocket (close frame or TCP) while we waited."""


class WS:
    """One WebSocket connection over TLS to the web listener."""

    def __init__(self, server, path=WS_PATH, protocols=("xmpp",), origin=None, cert=None, key=None,
                 extra=None, timeout=TIMEOUT):
        self.timeout = timeout
        self.buf = b""
        self.close_code = None
        self.messages = []  # text messages received, in order
        ctx = ssl.create_default_context(cafile=server.cert)
        if cert:
            ctx.load_cert_chain(cert, key)
        sock = socket.create_connection(("127.0.0.1", server.web_port), timeout=timeout)
        self.sock = ctx.wrap_socket(sock, server_hostname="localhost")
        self.key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: localhost:{server.web_port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {self.key}", "Sec-WebSocket-Version: 13"]
        if protocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        if origin:
            lines.append(f"Origin: {origin}")
        lines += extra or []
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._read(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        head = head.decode("latin-1").split("\r\n")
        self.status = int(head[0].split()[1])
        self.headers = {}
        for line in head[1:]:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        if self.status != 101:
            # The refusal's body, for the assertion messages.
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                self._read(deadline)
            self.body = self.buf[:n].decode()

    def _read(self, deadline):
        self.sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            if time.monotonic() >= deadline:
                raise TimeoutError("nothing from the server in time")
            return
        except (ssl.SSLError, ConnectionError) as e:
            raise Closed(f"connection ended: {e}")
        if not data:
            raise Closed("connection closed by the server")
        self.buf += data

    # ---- frames ----

    def frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
        """Sends one frame exactly as asked (length: a lie about the size)."""
        if isinstance(payload, str):
            payload = payload.encode()
        n = len(payload) if length is None else length
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        m = 0x80 if mask else 0
        if n < 126:
            head = struct.pack("!BB", b0, m | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", b0, m | 126, n)
        else:
            head = struct.pack("!BBQ", b0, m | 127, n)
        if mask:
            k = os.urandom(4)
            head += k
            payload = bytes(c ^ k[i % 4] for i, c in enumerate(payload))
        self.sock.sendall(head + payload)

    def send(self, text):
        self.frame(OP_TEXT, text)

    def recv_frame(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            if len(self.buf) >= 2:
                b0, b1 = self.buf[0], self.buf[1]
                assert not b1 & 0x80, "a masked frame from the server"
                n, off = b1 & 0x7f, 2
                if n == 126 and len(self.buf) >= 4:
                    n, off = struct.unpack("!H", self.buf[2:4])[0], 4
                elif n == 127 and len(self.buf) >= 10:
                    n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
                if (b1 & 0x7f) < 126 or off > 2:
                    if len(self.buf) >= off + n:
                        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
                        return bool(b0 & 0x80), b0 & 0x0f, payload
            self._read(deadline)

    def recv(self, timeout=None):
        """The next text message (pings answered, Closed at a close frame)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            fin, op, payload = self.recv_frame(max(0.05, deadline - time.monotonic()))
            if op == OP_PING:
                self.frame(OP_PONG, payload)
                continue
            if op == OP_CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                raise Closed(f"close frame {self.close_code}")
            assert op == OP_TEXT and fin, f"unexpected frame opcode {op} fin {fin}"
            text = payload.decode()
            self.messages.append(text)
            return text

    def expect(self, pattern, timeout=None):
        """The next message that matches (earlier ones are skipped)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        rx = re.compile(pattern, re.S)
        while True:
            m = rx.search(self.recv(max(0.05, deadline - time.monotonic())))
            if m:
                return m

    def expect_close(self, timeout=None):
        """Reads (text messages kept) until the close frame; its code."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                self.recv(max(0.05, deadline - time.monotonic()))
        except Closed:
            pass
        return self.close_code

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- XMPP ----

    def open(self, to="localhost"):
        self.send(f"<open xmlns='{NS_FRAMING}' to='{to}' version='1.0'/>")
        self.expect(r"^<open ")
        return self.expect(r"^<stream:features.*")[0]

    def login(self, user, password="secret", resource=None, mechanism="PLAIN", authzid=None):
        """A bound session; the full JID.  mechanism EXTERNAL uses the
        certificate of the TLS connection."""
        features = self.open()
        self.offered = re.findall(r"<mechanism>([^<]+)</mechanism>", features)
        if mechanism == "PLAIN":
            data = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        else:
            data = base64.b64encode(authzid.encode()).decode() if authzid else "="
        self.send(f"<auth xmlns='{NS_SASL}' mechanism='{mechanism}'>{data}</auth>")
        m = self.expect(r"^<(success|failure)")
        if m.group(1) == "failure":
            self.failure = re.search(r"<failure[^>]*><([a-z-]+)", self.messages[-1]).group(1)
            return None
        self.open()
        res = f"<resource>{resource}</resource>" if resource else ""
        self.send(f"<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='{NS_BIND}'>{res}</bind></iq>")
        return self.expect(r"<jid>([^<]+)</jid>").group(1)


def web_server(make_server, options=None, users=("alice", "bob"), start=True, **kw):
    """A server with the web listener on a free port of its own."""
    opts = {"fail_delay_max": 0}
    opts.update(options or {})
    s = make_server(options=opts, start=False, **kw)
    taken = {s.port, s.tls_port, s.s2s_port, s.s2s_tls_port, getattr(s, "admin_port", 0)}
    for _ in range(20):
        (port,) = free_ports(1)
        if port not in taken:
            break
    s.configure(**{"http.web_port": port})
    s.web_port = port
    for u in users:
        s.add_user(f"{u}@localhost")
    if start:
        s.start()
        wait_port(port)
    return s


def tcp_still_serves(server):
    """A TCP client logs in and gets a message to itself: the server lives."""
    async def body():
        c = slix.Client(server, "bob@localhost/check")
        await c.login()
        c.send_message("bob@localhost/check", "still here")
        await c.expect(slix.message(body="still here"))
    slix.run(body())
    assert server.alive()


# ---- the handshake ----

def test_handshake_and_session(make_server):
    s = web_server(make_server)
    ws = WS(s)
    try:
        assert ws.status == 101
        assert ws.headers["sec-websocket-protocol"] == "xmpp"
        assert ws.headers["upgrade"].lower() == "websocket"
        expect = base64.b64encode(hashlib.sha1(
            (ws.key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert ws.headers["sec-websocket-accept"] == expect
        ws.send(f"<open xmlns='{NS_FRAMING}' to='localhost' version='1.0'/>")
        opened = ws.recv()
        assert re.match(rf"<open xmlns='{NS_FRAMING}' id='[^']+' from='localhost' version='1.0' xml:lang='en'/>$",
                        opened), opened
        features = ws.recv()
        # Standalone: the stream prefix is declared on the element itself.
        assert features.startswith("<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"), features
        assert "starttls" not in features, features
        assert "<mechanism>PLAIN</mechanism>" in features
        ws.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>"
                + base64.b64encode(b"\0alice\0secret").decode() + "</auth>")
        ws.expect(r"^<success")
        ws.open()
        ws.send(f"<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='{NS_BIND}'/></iq>")
        bound = ws.expect(r"<iq[^>]*>")[0]
        assert "xmlns='jabber:client'" in bound, bound
        # A ping of the server's own (keepalive) is answered by recv; ours
        # by the server with a pong.
        ws.frame(OP_PING, b"hi")
        fin, op, payload = ws.recv_frame()
        assert (op, payload) == (OP_PONG, b"hi")
        # Presence to itself comes back as a stanza that stands alone.
        ws.send("<presence xmlns='jabber:client'/>")
        p = ws.expect(r"^<presence.*")[0]
        assert "xmlns='jabber:client'" in p, p
        ws.send(f"<close xmlns='{NS_FRAMING}'/>")
        assert ws.expect_close() == 1000
        assert ws.messages[-1] == f"<close xmlns='{NS_FRAMING}'/>"
    finally:
        ws.close()
    line = s.wait_log(r"alice@localhost/\S+: closed \(client closed the stream\)")
    s.wait_log(r"client stream over websocket")
    s.wait_log(r"authenticated as alice@localhost with PLAIN")
    assert line


def test_sessions_list_says_websocket(make_server):
    """session_info.transport: the operators' list names the transport."""
    from test_admin_socket import ask, connect
    s = web_server(make_server)
    ws = WS(s)
    try:
        jid = ws.login("alice")
        assert jid.startswith("alice@localhost/")
        c = connect(s)
        try:
            r = ask(c, {"op": "sessions.list"})
        finally:
            c.close()
        assert r["ok"], r
        (x,) = [x for x in r["result"]["sessions"] if x["jid"] == jid]
        assert x["transport"] == "websocket" and x["tls"].startswith("TLSv1."), x
        assert x["mechanism"] == "PLAIN" and x["address"].startswith("127.0.0.1:"), x
    finally:
        ws.close()


def test_two_websocket_sessions_and_the_move(make_server, workers):
    """Two WebSocket sessions talk; with 2 workers the streams move to the
    worker that owns their account after SASL (the WebSocket state with
    them): over a few connections at least one moves."""
    s = web_server(make_server)
    for i in range(8):
        a, b = WS(s), WS(s)
        try:
            ja = a.login("alice", resource=f"a{i}")
            jb = b.login("bob", resource=f"b{i}")
            a.send(f"<message xmlns='jabber:client' to='{jb}' type='chat'><body>ping {i}</body></message>")
            m = b.expect(rf"<message[^>]*>.*<body>ping {i}</body>.*")[0]
            assert f"from='{ja}'" in m and "xmlns='jabber:client'" in m, m
            b.send(f"<message xmlns='jabber:client' to='{ja}' type='chat'><body>pong {i}</body></message>")
            a.expect(rf"<body>pong {i}</body>")
            a.send(f"<close xmlns='{NS_FRAMING}'/>")
            assert a.expect_close() == 1000
        finally:
            a.close()
            b.close()
        if workers == 1 or re.search(r"conn=\d+ (alice|bob)@localhost moved to worker", s.log()):
            break
    else:
        pytest.fail("no WebSocket stream moved to another worker in 8 tries:\n" + s.log()[-3000:])


@pytest.mark.parametrize("case", ["no-protocol", "other-protocol", "version", "no-key", "not-upgrade"])
def test_handshake_refusals(make_server, case):
    s = web_server(make_server, users=("bob",))
    kw = {}
    if case == "no-protocol":
        kw["protocols"] = ()
    elif case == "other-protocol":
        kw["protocols"] = ("mqtt", "XMPP")
    ws = WS.__new__(WS)
    if case in ("version", "no-key", "not-upgrade"):
        # By hand: the request itself is wrong.
        ctx = ssl.create_default_context(cafile=s.cert)
        sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", s.web_port), timeout=TIMEOUT),
                               server_hostname="localhost")
        hdr = {"version": "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                          "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Protocol: xmpp\r\n",
               "no-key": "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Protocol: xmpp\r\n",
               "not-upgrade": ""}[case]
        sock.sendall(f"GET {WS_PATH} HTTP/1.1\r\nHost: localhost\r\n{hdr}\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        sock.close()
        status = int(data.split(b" ", 2)[1])
        assert status == {"version": 426, "no-key": 400, "not-upgrade": 426}[case], data
        if case == "version":
            assert b"Sec-WebSocket-Version: 13" in data
    else:
        ws = WS(s, **kw)
        ws.close()
        assert ws.status == 400, (ws.status, ws.body)
        assert "'xmpp' is required" in ws.body
    s.wait_log(r"WebSocket handshake refused \((400|426)\)")
    tcp_still_serves(s)


# ---- origins ----

def test_origins(make_server):
    s = web_server(make_server, options={"http.allowed_origins": ["https://chat.example.org"]})
    ws = WS(s, origin="https://evil.example")
    ws.close()
    assert ws.status == 403, ws.status
    assert "http.allowed_origins" in ws.body
    ws = WS(s, origin="https://Chat.Example.org")
    try:
        assert ws.status == 101
        assert ws.login("alice").startswith("alice@localhost/")
    finally:
        ws.close()
    # Without an Origin (not a browser) always.
    ws = WS(s)
    ws.close()
    assert ws.status == 101


def test_origin_star_refuses_external(make_server):
    """With "*" any page may connect, but none logs in with the browser's
    client certificate: EXTERNAL is not offered."""
    s = web_server(make_server, options={"http.allowed_origins": ["*"]}, users=(), start=False)
    s.ctl("user", "add", "alice@localhost", "--no-password")
    pki = Pki(s)
    root = pki.ca("root")
    pki.trust(root)
    crt, key = pki.client("alice@localhost", root)
    s.start()
    wait_port(s.web_port)
    ws = WS(s, origin="https://anywhere.example", cert=crt, key=key)
    try:
        assert ws.status == 101
        features = ws.open()
        assert "EXTERNAL" not in features, features
    finally:
        ws.close()
    s.wait_log(r"no SASL EXTERNAL: the origin is not listed")
    ws = WS(s, cert=crt, key=key)
    try:
        assert ws.login(None, mechanism="EXTERNAL").startswith("alice@localhost/")
    finally:
        ws.close()


# ---- client certificates (SASL EXTERNAL over wss) ----

def test_client_certificate_external(make_server):
    s = web_server(make_server, users=(), start=False)
    s.ctl("user", "add", "alice@localhost", "--no-password")
    pki = Pki(s)
    root = pki.ca("root")
    pki.trust(root)
    alice = pki.client("alice@localhost", root)
    s.start()
    wait_port(s.web_port)
    mark = log_mark(s)
    ws = WS(s, cert=alice[0], key=alice[1])
    try:
        jid = ws.login(None, mechanism="EXTERNAL")
        assert ws.offered[0] == "EXTERNAL", ws.offered
        assert jid and jid.startswith("alice@localhost/"), ws.messages
    finally:
        ws.close()
    wait_log_since(s, mark, r"client certificate verified$")
    wait_log_since(s, mark, r"certificate identifies alice@localhost by the certificate's xmppAddr$")
    wait_log_since(s, mark, r"authenticated as alice@localhost with EXTERNAL ")


def test_client_certificate_untrusted(make_server):
    """A certificate of a CA the server does not trust: refused as over TCP
    (c2s.disconnect_on_failure, on by default: <not-authorized/> once TLS
    is up, here right after the upgrade, after an <open/> of ours)."""
    s = web_server(make_server, users=(), start=False)
    s.ctl("user", "add", "alice@localhost", "--no-password")
    pki = Pki(s)
    pki.trust(pki.ca("root"))
    other = pki.ca("other")
    crt, key = pki.client("alice@localhost", other)
    s.start()
    wait_port(s.web_port)
    mark = log_mark(s)
    ws = WS(s, cert=crt, key=key)
    try:
        assert ws.status == 101
        code = ws.expect_close()
    finally:
        ws.close()
    assert code == 1000
    assert ws.messages[0].startswith("<open "), ws.messages
    assert re.search(rf"<not-authorized xmlns='{NS_STREAMS}'/>", ws.messages[1]), ws.messages
    assert ws.messages[-1] == f"<close xmlns='{NS_FRAMING}'/>"
    wait_log_since(s, mark, r"client certificate refused \(.*\); closing \(c2s\.disconnect_on_failure = true\)")
    # Without disconnect_on_failure: password mechanisms remain, EXTERNAL
    # is not offered, as over TCP.
    s.stop()
    s.configure(disconnect_on_failure=False)
    s.add_user("bob@localhost")
    s.start()
    wait_port(s.web_port)
    ws = WS(s, cert=crt, key=key)
    try:
        features = ws.open()
        assert "EXTERNAL" not in features and "PLAIN" in features, features
    finally:
        ws.close()


# ---- hostile input: each answered with its close, the server serving on ----

def hostile(make_server, **kw):
    opts = {"limits.stanza_bytes_preauth": 4096, "http.body_timeout": 2}
    opts.update(kw.pop("options", {}))
    return web_server(make_server, options=opts, **kw)


def test_oversized_frame(make_server):
    s = hostile(make_server)
    ws = WS(s)
    try:
        ws.open()
        # The header announces more than the pre-auth limit: refused before
        # the payload is read or kept.
        ws.frame(OP_TEXT, b"<message>", length=100000)
        assert ws.expect_close() == 1009
    finally:
        ws.close()
    s.wait_log(r"WebSocket closed with 1009: a message over 4096 bytes \(limits\.stanza_bytes_preauth\)")
    tcp_still_serves(s)


def test_fragments_without_end(make_server):
    s = hostile(make_server)
    # Fragments that keep coming past the limit.
    ws = WS(s)
    try:
        ws.open()
        ws.frame(OP_TEXT, "<message xmlns='jabber:client'>", fin=False)
        for _ in range(5):
            ws.frame(OP_CONT, "x" * 1000, fin=False)
        assert ws.expect_close() == 1009
    finally:
        ws.close()
    # Fragments that stop coming: http.body_timeout.
    ws = WS(s)
    try:
        ws.open()
        ws.frame(OP_TEXT, "<message xmlns='jabber:client'>", fin=False)
        t0 = time.monotonic()
        assert ws.expect_close(timeout=10) == 1008
        assert time.monotonic() - t0 < 8
    finally:
        ws.close()
    s.wait_log(r"WebSocket closed with 1008: a message in fragments not complete within 2 s \(http\.body_timeout\)")
    # A data frame in the middle of a fragmented message: a protocol error.
    ws = WS(s)
    try:
        ws.open()
        ws.frame(OP_TEXT, "<message", fin=False)
        ws.frame(OP_TEXT, "<message/>")
        assert ws.expect_close() == 1002
    finally:
        ws.close()
    tcp_still_serves(s)


def test_invalid_utf8(make_server):
    s = hostile(make_server)
    ws = WS(s)
    try:
        ws.open()
        ws.frame(OP_TEXT, b"<message xmlns='jabber:client'><body>\xc0\xaf</body></message>")
        assert ws.expect_close() == 1007
    finally:
        ws.close()
    s.wait_log(r"WebSocket closed with 1007: a text message that is not UTF-8")
    tcp_still_serves(s)


def test_binary_frame(make_server):
    s = hostile(make_server)
    ws = WS(s)
    try:
        ws.open()
        ws.frame(OP_BINARY, b"<message xmlns='jabber:client'/>")
        assert ws.expect_close() == 1003
    finally:
        ws.close()
    s.wait_log(r"WebSocket closed with 1003: a binary message")
    tcp_still_serves(s)


def test_bad_frames(make_server):
    s = hostile(make_server)
    cases = [
        ("unmasked", dict(opcode=OP_TEXT, payload="<x/>", mask=False)),
        ("reserved opcode", dict(opcode=3, payload="")),
        ("rsv bit", dict(opcode=OP_TEXT, payload="<x/>", rsv=4)),
        ("continuation first", dict(opcode=OP_CONT, payload="<x/>")),
        ("long ping", dict(opcode=OP_PING, payload="p" * 126)),
        ("fragmented ping", dict(opcode=OP_PING, payload="p", fin=False)),
    ]
    for name, f in cases:
        ws = WS(s)
        try:
            ws.frame(**f)
            assert ws.expect_close() == 1002, name
        finally:
            ws.close()
    tcp_still_serves(s)


def test_element_before_open(make_server):
    """RFC 7395 §3.5: our <open/>, the stream error, <close/>, close frame."""
    s = hostile(make_server)
    ws = WS(s)
    try:
        ws.send("<message xmlns='jabber:client' to='bob@localhost'><body>hi</body></message>")
        assert ws.expect_close() == 1000
    finally:
        ws.close()
    assert ws.messages[0].startswith(f"<open xmlns='{NS_FRAMING}'"), ws.messages
    assert re.search(r"<stream:error xmlns:stream='http://etherx.jabber.org/streams'><bad-format ",
                     ws.messages[1]), ws.messages
    assert ws.messages[2] == f"<close xmlns='{NS_FRAMING}'/>"
    s.wait_log(r"stream error <bad-format/>: element before the stream header")
    tcp_still_serves(s)


def test_message_shapes(make_server):
    """Two elements in one message, or half of one: <bad-format/>."""
    s = hostile(make_server)
    for text, why in (("<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>",
                       "exactly one XML element"),
                      ("<iq xmlns='jabber:client' type='get' id='1'>", "whole XML elements")):
        ws = WS(s)
        try:
            ws.login("alice")
            ws.send(text)
            assert ws.expect_close() == 1000
        finally:
            ws.close()
        assert any("<bad-format " in m for m in ws.messages), ws.messages
        s.wait_log(re.escape(why))
    tcp_still_serves(s)


# ---- discovery (XEP-0156) ----

def fetch(server, path, origin=None):
    ctx = ssl.create_default_context(cafile=server.cert)
    req = urllib.request.Request(f"https://localhost:{server.web_port}{path}")
    if origin:
        req.add_header("Origin", origin)
    return urllib.request.urlopen(req, context=ctx, timeout=TIMEOUT)


def test_discovery(make_server):
    s = web_server(make_server, options={"http.allowed_origins": ["https://chat.example.org"]}, users=())
    url = f"wss://localhost:{s.web_port}{WS_PATH}"
    r = fetch(s, "/.well-known/host-meta")
    body = r.read().decode()
    assert r.headers["Content-Type"].startswith("application/xrd+xml")
    assert f"<Link rel='urn:xmpp:alt-connections:websocket' href='{url}'/>" in body, body
    assert "Access-Control-Allow-Origin" not in r.headers
    r = fetch(s, "/.well-known/host-meta.json", origin="https://chat.example.org")
    links = json.loads(r.read())["links"]
    assert {"rel": "urn:xmpp:alt-connections:websocket", "href": url} in links, links
    assert r.headers["Access-Control-Allow-Origin"] == "https://chat.example.org"
    r = fetch(s, "/.well-known/host-meta.json", origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in r.headers
    # Not on the admin listener, and the admin API not on this one.
    with pytest.raises(urllib.error.HTTPError) as e:
        fetch(s, "/api/server")
    assert e.value.code == 404


def test_websocket_off(make_server):
    s = web_server(make_server, options={"http.websocket_path": ""}, users=())
    ws = WS(s)
    ws.close()
    assert ws.status == 404
    body = fetch(s, "/.well-known/host-meta").read().decode()
    assert "websocket" not in body, body
    s.wait_log(r"web clients on 127\.0\.0\.1:\d+ \(HTTPS\)")


# ---- xmpp.js over wss ----

js_missing = not shutil.which("node") or not os.path.isdir(os.path.join(JS_DIR, "node_modules", "ws"))


@pytest.mark.skipif(js_missing, reason="node or tests/integration/js/node_modules (ws) missing (make deps-test)")
def test_xmppjs_over_websocket(make_server):
    """xmpp.js at its defaults over wss:// (the certificate verified), to a
    slixmpp client over TCP and back."""
    s = web_server(make_server)
    service = f"wss://localhost:{s.web_port}{WS_PATH}"

    async def body():
        bob = slix.Client(s, "bob@localhost/tcp")
        await bob.login()
        await bob.send_presence()
        alice = xmppjs_ws(s, service, "alice", "--send", "bob@localhost/tcp", "--body", "hi from xmpp.js",
                          "--wait-messages", "1")
        try:
            st = await bob.expect(slix.message(body="hi from xmpp.js"), timeout=30)
            frm = st.xml.get("from")
            assert frm.startswith("alice@localhost/"), frm
            bob.send_message(frm, "back from slixmpp")
            m = await asyncio.to_thread(alice.wait_line, r"^message from=(\S+) type=(\S+) body=(.*)$")
            assert m.group(1) == "bob@localhost/tcp" and m.group(3) == "back from slixmpp", alice.describe()
            code = await asyncio.to_thread(alice.wait)
            assert code == EXIT_OK, alice.describe()
        finally:
            alice.kill()
    slix.run(body())
    s.wait_log(r"authenticated as alice@localhost with SCRAM-SHA-1")
    s.wait_log(r"alice@localhost/\S+: closed \(client closed the stream\)")


@pytest.mark.skipif(js_missing, reason="node or tests/integration/js/node_modules (ws) missing (make deps-test)")
def test_xmppjs_over_websocket_wrong_password(make_server):
    s = web_server(make_server)
    c = xmppjs_ws(s, f"wss://localhost:{s.web_port}{WS_PATH}", "alice", password="wrong")
    c.wait_line(r"^auth-failed condition=not-authorized$")
    assert c.wait() == EXIT_AUTH, c.describe()


def xmppjs_ws(server, service, username, *args, password="secret"):
    argv = ["node", os.path.join(JS_DIR, "ws_client.mjs"), "--service", service, "--domain", server.domain,
            "--username", username, "--password", password]
    e = dict(os.environ)
    e["NODE_EXTRA_CA_CERTS"] = server.cert
    return ClientProc(argv + list(args), env=e)


# ---- Converse.js in headless Chromium ----

CHROMIUM = "/usr/bin/chromium"
CONVERSE_DIST = os.path.join(JS_DIR, "node_modules", "converse.js", "dist")
converse_missing = (not shutil.which("node") or not os.path.exists(CHROMIUM)
                    or not os.path.isdir(CONVERSE_DIST)
                    or not os.path.isdir(os.path.join(JS_DIR, "node_modules", "playwright-core")))


class _PageHandler(http.server.SimpleHTTPRequestHandler):
    """js/ as the site, and Converse's bundle where it looks for its own
    chunks and assets by default (/dist/, its assets_path)."""

    def translate_path(self, path):
        if path.startswith("/dist/"):
            rel = path.split("?", 1)[0].split("#", 1)[0][len("/dist/"):]
            full = os.path.normpath(os.path.join(CONVERSE_DIST, rel))
            return full if full.startswith(CONVERSE_DIST + os.sep) else CONVERSE_DIST
        return super().translate_path(path)

    def log_message(self, *args):
        pass


def page_server(server, port):
    """js/ over https on loopback, with the instance's own certificate:
    the page's origin is https://localhost:PORT (a secure context, so the
    wss:// of the server under test is no mixed content)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(server.cert, os.path.join(server.dir, "certs", f"{server.domain}.key"))
    handler = lambda *a, **kw: _PageHandler(*a, directory=JS_DIR, **kw)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return httpd


def spki_sha256(cert):
    """base64 SHA-256 of the certificate's SubjectPublicKeyInfo, as
    Chromium's --ignore-certificate-errors-spki-list wants it."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], capture_output=True,
                         check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, capture_output=True,
                         check=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.mark.skipif(converse_missing, reason="node, chromium or js/node_modules (converse.js, playwright-core) "
                                             "missing (make deps-test)")
def test_conversejs_in_chromium(make_server, workers):
    """Converse.js at its defaults but for websocket_url, in headless
    Chromium: logs in through its form, writes to a slixmpp client over
    TCP and shows the answer.  Screenshots stay in the build folder."""
    s = web_server(make_server, start=False)
    taken = {s.port, s.tls_port, s.s2s_port, s.s2s_tls_port, getattr(s, "admin_port", 0), s.web_port}
    for _ in range(20):
        (page_port,) = free_ports(1)
        if page_port not in taken:
            break
    origin = f"https://localhost:{page_port}"
    s.configure(**{"http.allowed_origins": [origin]})
    # Converse shows messages of contacts only (allow_non_roster_messaging
    # is false by default): a shared group makes alice and bob contacts.
    s.ctl("group", "create", "team", "--label", "Team", "--shared")
    s.ctl("group", "add", "team", "alice@localhost", "bob@localhost")
    s.start()
    wait_port(s.web_port)
    shots = os.path.join(BUILD, "test-artifacts", "converse", f"{workers}worker{'s' if workers > 1 else ''}")
    for old in (os.listdir(shots) if os.path.isdir(shots) else []):
        os.remove(os.path.join(shots, old))
    httpd = page_server(s, page_port)
    url = f"{origin}/converse/index.html?ws=wss://localhost:{s.web_port}{WS_PATH}"

    async def body():
        bob = slix.Client(s, "bob@localhost/tcp")
        await bob.login()
        await bob.send_presence()
        drv = ClientProc(["node", os.path.join(JS_DIR, "converse_driver.mjs"), "--url", url,
                          "--jid", "alice@localhost", "--password", "secret", "--to", "bob@localhost",
                          "--body", "hi from Converse.js", "--expect", "back from slixmpp",
                          "--shots", shots, "--spki", spki_sha256(s.cert), "--timeout", "90"])
        ok = False
        try:
            await asyncio.to_thread(drv.wait_line, r"^connected jid=alice@localhost$", 90)
            st = await bob.expect(slix.message(body="hi from Converse.js"), timeout=60)
            frm = st.xml.get("from")
            assert frm.startswith("alice@localhost/"), frm
            bob.send_message(frm, "back from slixmpp")
            await asyncio.to_thread(drv.wait_line, r"^message from=bob@localhost body=back from slixmpp$", 60)
            code = await asyncio.to_thread(drv.wait, 30)
            assert code == EXIT_OK, drv.describe()
            ok = True
        finally:
            drv.kill()
            if not ok:
                print("Converse.js driver:", drv.describe())
            print("Converse.js screenshots:", *sorted(l.split(" ", 1)[1] for l in drv.lines if l.startswith("shot ")))
    try:
        slix.run(body(), 180)
    finally:
        httpd.shutdown()
        httpd.server_close()
    s.wait_log(r"client stream over websocket")
    s.wait_log(r"authenticated as alice@localhost with ")
