"""XMPP over BOSH (XEP-0124, XEP-0206; src/bosh/) on the public web listener.

A scripted BOSH client (Python's http.client over TLS, trusting the
instance's certificate) drives each edge case of XEP-0124 by hand, since a
real client would hide them: session creation, SASL (PLAIN and SCRAM) and
the restart, binding, a message to a slixmpp client over TCP and back,
request ids out of order, a repeated rid, a long poll whose connection is
dropped and recovered by its rid, more requests than `hold` allows, an
expired session, someone else's sid, bodies that are not XML or too large,
CORS, and SASL EXTERNAL with a client certificate presented on the HTTPS
connection that created the session.

Every case runs with 1 and 2 workers (conftest.py): with 2, requests land on
either worker and the session moves to the account's owner after SASL.
Every wait is bounded: requests carry a short `wait`, and sockets time out.
"""
import asyncio
import base64
import hashlib
import hmac
import http.client
import http.server
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

import pytest

import slix
from certs import Pki
from clients import EXIT_OK, JS_DIR, ClientProc
from parley import BUILD, free_ports, wait_port

NS_BOSH = "http://jabber.org/protocol/httpbind"
NS_XBOSH = "urn:xmpp:xbosh"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_CLIENT = "jabber:client"
NS_STREAM = "http://etherx.jabber.org/streams"
PATH = "/http-bind"
WAIT = 3  # the `wait` our client asks for, in seconds: held requests come back within it


def q(ns, name):
    return "{%s}%s" % (ns, name)


@pytest.fixture
def bosh_server(make_server):
    """make_server with the web listener on a free port, alice and bob; its
    port is server.web_port."""
    def make(options=None, users=("alice", "bob"), start=True):
        (port,) = free_ports(1)
        opts = {"http.web_port": port, "http.web_listen": ["127.0.0.1"], "auth.fail_delay_max": 0}
        opts.update(options or {})
        s = make_server(options=opts, start=False)
        for u in users:
            s.add_user(f"{u}@localhost")
        s.web_port = port
        if start:
            s.start()
            wait_port(port)
        return s
    return make


def tls_context(server, cert=None):
    ctx = ssl.create_default_context(cafile=server.cert)
    ctx.set_alpn_protocols(["http/1.1"])
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


class Bosh:
    """A BOSH client by hand: bodies are built and read as XML, one HTTP
    connection per outstanding request (keep-alive), rids counted."""

    def __init__(self, server, cert=None, timeout=WAIT + 10, origin=None):
        self.server = server
        self.ctx = tls_context(server, cert)
        self.timeout = timeout
        self.origin = origin
        self.rid = secrets.randbelow(1 << 40) + 1000
        self.sid = None
        self.conns = {}

    def conn(self, name="a"):
        c = self.conns.get(name)
        if c is None:
            c = http.client.HTTPSConnection("localhost", self.server.web_port, context=self.ctx,
                                            timeout=self.timeout)
            self.conns[name] = c
        return c

    def drop(self, name):
        c = self.conns.pop(name, None)
        if c is not None:
            if c.sock is not None:
                c.sock.shutdown(socket.SHUT_RDWR)
            c.close()

    def close(self):
        for name in list(self.conns):
            self.drop(name)

    def body(self, children="", rid=None, **attrs):
        if rid is None:
            self.rid += 1
            rid = self.rid
        a = {"rid": str(rid), "xmlns": NS_BOSH}
        if self.sid:
            a["sid"] = self.sid
        a.update({k.replace("__", ":"): v for k, v in attrs.items()})
        at = " ".join(f"{k}='{v}'" for k, v in a.items())
        return f"<body {at}>{children}</body>"

    def send(self, data, name="a"):
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if self.origin:
            headers["Origin"] = self.origin
        self.conn(name).request("POST", PATH, body=data.encode() if isinstance(data, str) else data,
                                headers=headers)

    def recv(self, name="a"):
        r = self.conn(name).getresponse()
        data = r.read()
        assert r.status == 200, (r.status, data)
        assert r.getheader("Content-Type", "").startswith("text/xml"), r.getheaders()
        self.last_raw = data
        return ET.fromstring(data)

    def exchange(self, children="", name="a", **attrs):
        self.send(self.body(children, **attrs), name)
        return self.recv(name)

    def create(self, to="localhost", hold=1, wait=WAIT, **attrs):
        b = self.exchange(to=to, hold=str(hold), wait=str(wait), ver="1.6", xml__lang="en",
                          xmlns__xmpp=NS_XBOSH, xmpp__version="1.0", **attrs)
        assert b.tag == q(NS_BOSH, "body"), ET.tostring(b)
        assert b.get("type") != "terminate", ET.tostring(b)
        self.sid = b.get("sid")
        assert self.sid and re.fullmatch(r"\d+-[0-9a-f]{32}", self.sid), b.attrib
        self.created = b
        return b

    def until(self, pred, timeout=15.0, name="a"):
        """Empty polls until an element of a response satisfies pred; returns
        it.  Elements seen on the way are kept in self.seen."""
        deadline = time.monotonic() + timeout
        self.seen = getattr(self, "seen", [])
        for el in list(self.seen):
            if pred(el):
                self.seen.remove(el)
                return el
        while time.monotonic() < deadline:
            b = self.exchange(name=name)
            assert b.get("type") != "terminate", ET.tostring(b)
            for el in list(b):
                if pred(el):
                    return el
                self.seen.append(el)
        raise AssertionError(f"nothing matched within {timeout} s; seen: {[ET.tostring(e) for e in self.seen]}")

    def restart(self):
        b = self.exchange(to="localhost", xml__lang="en", xmlns__xmpp=NS_XBOSH, xmpp__restart="true")
        return b


def mechanisms(features_parent):
    feats = features_parent.find(q(NS_STREAM, "features"))
    assert feats is not None, ET.tostring(features_parent)
    return [m.text for m in feats.iter(q(NS_SASL, "mechanism"))]


def features_of(b, bosh):
    """The stream features, from this body or the next responses."""
    f = b.find(q(NS_STREAM, "features"))
    if f is not None:
        return f
    return bosh.until(lambda el: el.tag == q(NS_STREAM, "features"))


def scram_sha1(bosh, user, password):
    """SCRAM-SHA-1 by hand (RFC 5802), without channel binding."""
    nonce = base64.b64encode(secrets.token_bytes(18)).decode()
    first_bare = f"n={user},r={nonce}"
    b = bosh.exchange(f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-1'>"
                      f"{base64.b64encode(('n,,' + first_bare).encode()).decode()}</auth>")
    ch = b.find(q(NS_SASL, "challenge"))
    if ch is None:
        ch = bosh.until(lambda el: el.tag == q(NS_SASL, "challenge"))
    server_first = base64.b64decode(ch.text).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salt = base64.b64decode(attrs["s"])
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
    stored = hashlib.sha1(client_key).digest()
    final_bare = f"c=biws,r={attrs['r']}"
    auth_msg = f"{first_bare},{server_first},{final_bare}".encode()
    sig = hmac.new(stored, auth_msg, hashlib.sha1).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig))).decode()
    final = base64.b64encode(f"{final_bare},p={proof}".encode()).decode()
    return bosh.exchange(f"<response xmlns='{NS_SASL}'>{final}</response>")


def succeeded(b, bosh):
    if b.find(q(NS_SASL, "success")) is not None:
        return True
    if b.find(q(NS_SASL, "failure")) is not None:
        return False
    el = bosh.until(lambda e: e.tag in (q(NS_SASL, "success"), q(NS_SASL, "failure")))
    return el.tag == q(NS_SASL, "success")


def bind(bosh, resource="bosh"):
    b = bosh.restart()
    feats = features_of(b, bosh)
    assert feats.find(q(NS_BIND, "bind")) is not None, ET.tostring(feats)
    b = bosh.exchange(f"<iq type='set' id='bind1' xmlns='{NS_CLIENT}'><bind xmlns='{NS_BIND}'>"
                      f"<resource>{resource}</resource></bind></iq>")
    iq = b.find(q(NS_CLIENT, "iq"))
    if iq is None:
        iq = bosh.until(lambda el: el.tag == q(NS_CLIENT, "iq") and el.get("id") == "bind1")
    assert iq.get("type") == "result", ET.tostring(iq)
    jid = iq.find(f"{q(NS_BIND, 'bind')}/{q(NS_BIND, 'jid')}").text
    return jid


def login(bosh, user="alice", mech="PLAIN", password="secret"):
    b = bosh.create()
    assert mech in mechanisms(b), ET.tostring(b)
    # Each request may come on another HTTPS connection: no binding to
    # one of them (-PLUS) is offered, nor XEP-0440.
    assert not [m for m in mechanisms(b) if m.endswith("-PLUS")], ET.tostring(b)
    assert "sasl-cb" not in ET.tostring(b).decode(), ET.tostring(b)
    if mech == "PLAIN":
        cred = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        b = bosh.exchange(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{cred}</auth>")
    else:
        b = scram_sha1(bosh, user, password)
    assert succeeded(b, bosh), ET.tostring(b)
    return bind(bosh)


def terminated(b, condition=None):
    assert b.tag == q(NS_BOSH, "body") and b.get("type") == "terminate", ET.tostring(b)
    if condition is not None:
        assert b.get("condition") == condition, ET.tostring(b)


# ---- the way in, and a message both ways ----

@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-1"])
def test_login_restart_bind_and_messages(bosh_server, mech):
    s = bosh_server()
    bosh = Bosh(s)

    async def body():
        bob = slix.Client(s, "bob@localhost/pc")
        await bob.login()
        await bob.send_presence()
        jid = await asyncio.to_thread(login, bosh, "alice", mech)
        assert jid == "alice@localhost/bosh"
        created = bosh.created
        assert created.get("hold") == "1" and created.get("requests") == "2", created.attrib
        assert created.get("wait") == str(WAIT) and created.get("from") == "localhost", created.attrib
        assert created.get(q(NS_XBOSH, "version")) == "1.0", created.attrib
        await asyncio.to_thread(bosh.exchange, f"<presence xmlns='{NS_CLIENT}'/>")
        await asyncio.to_thread(bosh.exchange, f"<message to='bob@localhost/pc' type='chat' xmlns='{NS_CLIENT}'>"
                                               f"<body>hello over BOSH</body></message>")
        st = await bob.expect(slix.message(frm="alice@localhost/bosh", body="hello over BOSH"))
        assert st is not None
        bob.send_message("alice@localhost/bosh", "hello over TCP")
        msg = await asyncio.to_thread(
            bosh.until, lambda el: el.tag == q(NS_CLIENT, "message") and
            el.findtext(q(NS_CLIENT, "body")) == "hello over TCP")
        assert msg.get("from") == "bob@localhost/pc"
        # Stanzas in a body are qualified (XEP-0206): the raw bytes say so.
        assert re.search(rb"<message xmlns='jabber:client'", bosh.last_raw) or bosh.seen is not None
        # The client ends the session: the c2s session ends with it.
        b = await asyncio.to_thread(bosh.exchange, f"<presence type='unavailable' xmlns='{NS_CLIENT}'/>",
                                    type="terminate")
        terminated(b)
        s.wait_log(r"c2s\[w\d+\]: conn=\d+ alice@localhost/bosh: closed \(.*\)")

    try:
        slix.run(body())
    finally:
        bosh.close()
    s.wait_log(r"bosh\[w\d+\]: conn=\d+ 127\.0\.0\.1:\d+: session \d+-[0-9a-f]{6}\.\.\. created")
    s.wait_log(rf"authenticated as alice@localhost with {mech}")


def logged_in(s, user="alice"):
    bosh = Bosh(s)
    login(bosh, user)
    return bosh


# ---- request ids ----

def test_out_of_order_rids_are_processed_in_order(bosh_server):
    s = bosh_server()
    bosh = logged_in(s)
    try:
        r1, r2 = bosh.rid + 1, bosh.rid + 2
        bosh.rid = r2
        ping = "<iq type='get' id='{}' to='localhost' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>"
        bosh.send(bosh.body(ping.format("second"), rid=r2), "b")
        time.sleep(0.5)  # rid+2 waits for rid+1
        bosh.send(bosh.body(ping.format("first"), rid=r1), "a")
        got = []
        for name in ("a", "b"):
            b = bosh.recv(name)
            got += [el.get("id") for el in b if el.tag == q(NS_CLIENT, "iq")]
        deadline = time.monotonic() + 10
        while len(got) < 2 and time.monotonic() < deadline:
            b = bosh.exchange()
            got += [el.get("id") for el in b if el.tag == q(NS_CLIENT, "iq")]
        assert got == ["first", "second"], got
    finally:
        bosh.close()


def test_repeated_rid_gets_the_same_answer(bosh_server):
    s = bosh_server()
    bosh = logged_in(s)
    try:
        data = bosh.body("<iq type='get' id='p1' to='localhost' xmlns='jabber:client'>"
                         "<ping xmlns='urn:xmpp:ping'/></iq>")
        bosh.send(data)
        first = bosh.recv()
        raw1 = bosh.last_raw
        assert any(el.get("id") == "p1" for el in first), raw1
        bosh.send(data, "other")
        bosh.recv("other")
        assert bosh.last_raw == raw1
        # And the session goes on with the next rid.
        b = bosh.exchange("<iq type='get' id='p2' to='localhost' xmlns='jabber:client'>"
                          "<ping xmlns='urn:xmpp:ping'/></iq>")
        assert any(el.get("id") == "p2" for el in b), ET.tostring(b)
    finally:
        bosh.close()


def test_dropped_long_poll_is_recovered_by_its_rid(bosh_server):
    s = bosh_server()
    bosh = logged_in(s)

    async def body():
        bob = slix.Client(s, "bob@localhost/pc")
        await bob.login()
        await asyncio.to_thread(bosh.exchange, f"<presence xmlns='{NS_CLIENT}'/>")
        data = bosh.body()
        bosh.send(data, "a")          # held: nothing to say
        await asyncio.sleep(0.3)
        bosh.drop("a")                # the connection breaks while it waits
        bosh.send(data, "b")          # the same rid on a new connection
        await asyncio.sleep(0.3)
        bob.send_message("alice@localhost/bosh", "after the drop")
        b = await asyncio.to_thread(bosh.recv, "b")
        bodies = [el.findtext(q(NS_CLIENT, "body")) for el in b if el.tag == q(NS_CLIENT, "message")]
        if "after the drop" not in bodies:
            await asyncio.to_thread(bosh.until, lambda el: el.tag == q(NS_CLIENT, "message"), 10, "b")

    try:
        slix.run(body())
    finally:
        bosh.close()


def test_more_requests_than_hold_answers_the_oldest(bosh_server):
    s = bosh_server()
    bosh = logged_in(s)
    try:
        bosh.send(bosh.body(), "a")   # held (hold = 1)
        time.sleep(0.3)
        t0 = time.monotonic()
        bosh.send(bosh.body(), "b")   # a second one: the first comes back at once, empty
        first = bosh.recv("a")
        assert time.monotonic() - t0 < WAIT - 1, "the oldest request was not answered at once"
        assert len(first) == 0 and first.get("type") is None, ET.tostring(first)
        second = bosh.recv("b")       # held until `wait` runs out
        assert time.monotonic() - t0 >= WAIT - 1
        assert second.get("type") is None, ET.tostring(second)
    finally:
        bosh.close()


def test_rid_far_ahead_ends_the_session(bosh_server):
    s = bosh_server()
    bosh = Bosh(s)
    try:
        bosh.create()
        b = bosh.exchange(rid=bosh.rid + 1000)
        terminated(b, "item-not-found")
    finally:
        bosh.close()


# ---- sessions that end ----

def test_inactive_session_ends(bosh_server):
    s = bosh_server({"bosh.inactivity": 2})
    bosh = logged_in(s)
    try:
        assert bosh.created.get("inactivity") == "2"
        time.sleep(4)
        b = bosh.exchange()
        terminated(b)
        s.wait_log(r"no request for 2 s \(bosh\.inactivity\): the client left")
        s.wait_log(r"c2s\[w\d+\]: conn=\d+ alice@localhost/bosh: closed \(no request for 2 s")
    finally:
        bosh.close()


def test_empty_polls_keep_a_quiet_session(bosh_server):
    """Regression (found while writing these tests): a bound session that
    only polls was closed by the stream's idle timeout, which counted
    stanzas only; every request is the client's activity."""
    s = bosh_server({"limits.idle_timeout": 10})
    bosh = logged_in(s)
    try:
        deadline = time.monotonic() + 13
        while time.monotonic() < deadline:
            b = bosh.exchange()
            assert b.get("type") is None, ET.tostring(b)
        b = bosh.exchange("<iq type='get' id='alive' to='localhost' xmlns='jabber:client'>"
                          "<ping xmlns='urn:xmpp:ping'/></iq>")
        assert any(el.get("id") == "alive" for el in b), ET.tostring(b)
    finally:
        bosh.close()


def test_someone_elses_sid_is_item_not_found(bosh_server):
    s = bosh_server()
    mine = Bosh(s)
    other = Bosh(s)
    try:
        mine.create()
        other.sid = mine.sid.split("-")[0] + "-" + secrets.token_hex(16)
        terminated(other.exchange(), "item-not-found")
        other.sid = "nonsense"
        terminated(other.exchange(), "item-not-found")
        other.sid = "99-" + secrets.token_hex(16)
        terminated(other.exchange(), "item-not-found")
        # Mine is untouched.
        b = mine.exchange()
        assert b.get("type") is None, ET.tostring(b)
    finally:
        mine.close()
        other.close()


@pytest.mark.parametrize("data", [b"hello, not XML", b"<body rid='1' xmlns='urn:not-bosh'/>",
                                  b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>",
                                  b"<body xmlns='http://jabber.org/protocol/httpbind'/>"],
                         ids=["text", "other-namespace", "not-body", "no-rid"])
def test_bad_bodies_are_bad_request(bosh_server, data):
    s = bosh_server()
    bosh = Bosh(s)
    try:
        bosh.send(data)
        terminated(bosh.recv(), "bad-request")
        s.wait_log(r"bosh\[w\d+\]: 127\.0\.0\.1:\d+: request refused \(bad-request\)")
    finally:
        bosh.close()


def test_oversize_body_is_policy_violation(bosh_server):
    s = bosh_server({"limits.stanza_bytes": 16384})
    bosh = logged_in(s)
    try:
        big = "x" * 20000
        b = bosh.exchange(f"<message to='bob@localhost' xmlns='jabber:client'><body>{big}</body></message>")
        terminated(b, "policy-violation")
    finally:
        bosh.close()


# ---- browsers ----

def test_cors_preflight_and_origins(bosh_server):
    s = bosh_server({"http.allowed_origins": ["https://chat.example.org"]})
    c = http.client.HTTPSConnection("localhost", s.web_port, context=tls_context(s), timeout=10)
    try:
        c.request("OPTIONS", PATH, headers={"Origin": "https://chat.example.org",
                                            "Access-Control-Request-Method": "POST",
                                            "Access-Control-Request-Headers": "content-type"})
        r = c.getresponse()
        r.read()
        assert r.status == 204, r.status
        assert r.getheader("Access-Control-Allow-Origin") == "https://chat.example.org"
        assert "POST" in r.getheader("Access-Control-Allow-Methods")
        c.request("OPTIONS", PATH, headers={"Origin": "https://evil.example.com"})
        r = c.getresponse()
        r.read()
        assert r.status == 403, r.status
    finally:
        c.close()
    bosh = Bosh(s, origin="https://chat.example.org")
    try:
        bosh.create()
        assert bosh.conn().sock is not None
    finally:
        bosh.close()
    evil = Bosh(s, origin="https://evil.example.com")
    try:
        evil.send(evil.body(to="localhost", hold="1", wait="3"))
        r = evil.conn().getresponse()
        r.read()
        assert r.status == 403
    finally:
        evil.close()


# ---- client certificates ----

def test_external_with_a_client_certificate(bosh_server):
    s = bosh_server(users=(), start=False)
    s.ctl("user", "add", "carol@localhost", "--no-password")
    pki = Pki(s)
    root = pki.ca("root")
    pki.trust(root)
    good = pki.client("carol@localhost", root, "carol")
    other = pki.ca("other", cn="Other CA")
    stranger = pki.client("carol@localhost", other, "stranger")
    s.start()
    wait_port(s.web_port)

    bosh = Bosh(s, cert=good)
    try:
        b = bosh.create()
        assert "EXTERNAL" in mechanisms(b), ET.tostring(b)
        b = bosh.exchange(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>=</auth>")
        assert succeeded(b, bosh), ET.tostring(b)
        assert bind(bosh) == "carol@localhost/bosh"
    finally:
        bosh.close()
    s.wait_log(r"authenticated as carol@localhost with EXTERNAL")

    # Untrusted: refused as on TCP once the stream starts
    # (c2s.disconnect_on_failure, on by default): <not-authorized/> with
    # the reason, as a remote-stream-error terminate.
    bosh = Bosh(s, cert=stranger)
    try:
        b = bosh.exchange(to="localhost", hold="1", wait=str(WAIT), xmlns__xmpp=NS_XBOSH, xmpp__version="1.0")
        terminated(b, "remote-stream-error")
        err = b.find(q(NS_STREAM, "error"))
        assert err is not None and err.find(q(slix.NS_STREAMS, "not-authorized")) is not None, ET.tostring(b)
    finally:
        bosh.close()
    s.wait_log(r"client certificate refused \(certificate \"CN=carol\" was issued by \"CN=Other CA\".*"
               r"closing \(c2s\.disconnect_on_failure = true\)")


def test_untrusted_certificate_without_disconnect_gets_no_external(bosh_server):
    s = bosh_server({"c2s.disconnect_on_failure": False}, start=False)
    pki = Pki(s)
    pki.trust(pki.ca("root"))  # clients are asked for certificates
    other = pki.ca("other", cn="Other CA")
    stranger = pki.client("alice@localhost", other, "stranger")
    s.start()
    wait_port(s.web_port)
    bosh = Bosh(s, cert=stranger)
    try:
        b = bosh.create()
        assert "EXTERNAL" not in mechanisms(b), ET.tostring(b)
        b = bosh.exchange(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>=</auth>")
        assert not succeeded(b, bosh)
        # Passwords remain.
        cred = base64.b64encode(b"\0alice\0secret").decode()
        b = bosh.exchange(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{cred}</auth>")
        assert succeeded(b, bosh)
    finally:
        bosh.close()


# ---- Converse.js in headless Chromium, over BOSH ----

CHROMIUM = "/usr/bin/chromium"
converse_missing = (not shutil.which("node") or not os.path.exists(CHROMIUM)
                    or not os.path.isdir(os.path.join(JS_DIR, "node_modules", "converse.js", "dist"))
                    or not os.path.isdir(os.path.join(JS_DIR, "node_modules", "playwright-core"))
                    or not os.path.exists(os.path.join(JS_DIR, "converse_driver.mjs")))

# The page: Converse.js 10.1.2's bundle with one setting, bosh_service_url
# (from the page's query); everything else is Converse's default.
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Converse.js over BOSH on Parley</title>
<link rel="stylesheet" href="node_modules/converse.js/dist/converse.min.css">
<script src="node_modules/converse.js/dist/converse.min.js"></script>
</head><body><script src="start.js"></script></body></html>
"""
START = """const bosh = new URLSearchParams(window.location.search).get("bosh");
converse.initialize({ bosh_service_url: bosh });
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def page_server(server, port, root):
    """`root` over https on loopback with the instance's own certificate:
    the page's origin is https://localhost:PORT."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(server.cert, os.path.join(server.dir, "certs", f"{server.domain}.key"))
    handler = lambda *a, **kw: _Quiet(*a, directory=root, **kw)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return httpd


def spki_sha256(cert):
    """base64 SHA-256 of the certificate's SubjectPublicKeyInfo, for
    Chromium's --ignore-certificate-errors-spki-list."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], capture_output=True,
                         check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, capture_output=True,
                         check=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.mark.skipif(converse_missing, reason="node, chromium, js/converse_driver.mjs or js/node_modules "
                                             "(converse.js, playwright-core) missing")
def test_conversejs_over_bosh_in_chromium(bosh_server, workers):
    """Converse.js at its defaults but for bosh_service_url, in headless
    Chromium (js/converse_driver.mjs): logs in through its form, writes to
    a slixmpp client over TCP and shows the answer.  Screenshots stay in
    the build folder (test-artifacts/converse-bosh/)."""
    (page_port,) = free_ports(1)
    origin = f"https://localhost:{page_port}"
    s = bosh_server({"http.allowed_origins": [origin]}, start=False)
    # Contacts of each other (a shared group): Converse shows messages from
    # its roster only (allow_non_roster_messaging is off by default).
    s.ctl("group", "create", "team", "--shared", "--label", "Team")
    s.ctl("group", "add", "team", "alice@localhost", "bob@localhost")
    s.start()
    wait_port(s.web_port)
    shots = os.path.join(BUILD, "test-artifacts", "converse-bosh", f"{workers}worker{'s' if workers > 1 else ''}")
    for old in (os.listdir(shots) if os.path.isdir(shots) else []):
        os.remove(os.path.join(shots, old))
    root = tempfile.mkdtemp(prefix="parley-bosh-page-", dir=s.dir)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write(PAGE)
    with open(os.path.join(root, "start.js"), "w") as f:
        f.write(START)
    os.symlink(os.path.join(JS_DIR, "node_modules"), os.path.join(root, "node_modules"))
    # Converse loads its lazy chunks (emojis, ...) from /dist/, its
    # default assets path: serve the bundle's folder there too.
    os.symlink(os.path.join(JS_DIR, "node_modules", "converse.js", "dist"), os.path.join(root, "dist"))
    httpd = page_server(s, page_port, root)
    url = f"{origin}/index.html?bosh=https://localhost:{s.web_port}{PATH}"

    async def body():
        bob = slix.Client(s, "bob@localhost/tcp")
        await bob.login()
        await bob.send_presence()
        drv = ClientProc(["node", os.path.join(JS_DIR, "converse_driver.mjs"), "--url", url,
                          "--jid", "alice@localhost", "--password", "secret", "--to", "bob@localhost",
                          "--body", "hi from Converse.js over BOSH", "--expect", "back from slixmpp",
                          "--shots", shots, "--spki", spki_sha256(s.cert), "--timeout", "90"])
        try:
            await asyncio.to_thread(drv.wait_line, r"^connected jid=alice@localhost$", 90)
            st = await bob.expect(slix.message(body="hi from Converse.js over BOSH"), timeout=60)
            frm = st.xml.get("from")
            assert frm.startswith("alice@localhost/"), frm
            bob.send_message(frm, "back from slixmpp")
            await asyncio.to_thread(drv.wait_line, r"^message from=bob@localhost body=back from slixmpp$", 60)
            code = await asyncio.to_thread(drv.wait, 30)
            assert code == EXIT_OK, drv.describe()
        finally:
            drv.kill()
            print(drv.describe())
            print("Converse.js screenshots:", *sorted(ln.split(" ", 1)[1] for ln in drv.lines
                                                      if ln.startswith("shot ")))
    try:
        slix.run(body(), 180)
    finally:
        httpd.shutdown()
        httpd.server_close()
    s.wait_log(r"client stream over bosh")
    s.wait_log(r"authenticated as alice@localhost with ")
