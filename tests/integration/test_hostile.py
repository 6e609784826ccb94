"""Hostile input on client streams (DESIGN.md, "Security defaults").

Each case writes exact bytes with a raw socket (raw.py), asserts the
stream error condition (or stanza error) the client gets, and then that
the server keeps serving: it is alive, and a fresh login and a message
between two accounts still work.  Limits are set small through the
instance configuration where the defaults would make a test slow.
"""
import re
import socket
import ssl
import time
import uuid

import pytest

import raw
from raw import header

MB = 1 << 20
USERS = ("alice", "bob", "carol")


@pytest.fixture
def hostile(make_server):
    """make_server with alice, bob and carol (password 'secret')."""
    def make(**options):
        s = make_server(options=options or None, start=False)
        for u in USERS:
            s.add_user(f"{u}@localhost")
        return s.start()
    return make


def assert_serving(server, source=None):
    """The server is alive and a new login plus a message still work."""
    assert server.alive(), "parleyd died:\n" + server.log()[-4000:]
    with raw.session(server, "alice", source=source) as a, raw.session(server, "bob", source=source) as b:
        body = f"still serving {uuid.uuid4().hex}"
        a.message(b.jid, body)
        stanza = b.expect_message(re.escape(body), timeout=10)
        assert re.search(rb"from=['\"]" + re.escape(a.jid.encode()) + rb"['\"]", stanza), stanza
    assert server.alive()


def conn_close_line(server, pattern, timeout=10.0):
    """The log line of a closed connection whose line matches pattern."""
    return server.wait_log(r"conn=\d+ .*: closed \(.*" + pattern, timeout)


def bytes_in(line):
    return int(re.search(r"; (\d+) bytes in", line).group(1))


def local_port(r):
    return r.sock.getsockname()[1]


# ---- before authentication ----

H = header()
BILLION_LAUGHS = (
    "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
    + "".join(f"<!ENTITY lol{i} '{('&lol' + (str(i - 1) if i > 1 else '') + ';') * 10}'>" for i in range(1, 10))
    + "]>" + header(decl=False) + "<message><body>&lol9;</body></message>")

PREAUTH_CASES = {
    # name: (bytes, condition, regex the stream error text must match or None)
    "mismatched-tags": (H + "<message><body>x</message>", "not-well-formed", r"mismatched tag"),
    "billion-laughs-doctype": (BILLION_LAUGHS, "restricted-xml", r"DOCTYPE|entity"),
    "comment-at-stream-level": (H + "<!-- a comment -->", "restricted-xml", r"comment"),
    "comment-in-prolog": ("<?xml version='1.0'?><!-- before -->" + header(decl=False), "restricted-xml",
                          r"comment"),
    "comment-in-stanza": (H + "<message><!-- x --></message>", "restricted-xml", r"comment"),
    "processing-instruction": (H + "<?evil do-something?>", "restricted-xml", r"processing instruction"),
    "invalid-utf8": (H.encode() + b"<message><body>\xff\xfe\xc3\x28</body></message>", "not-well-formed", None),
    "invalid-utf8-in-header": (b"<stream:stream xmlns='jabber:client' xmlns:stream="
                               b"'http://etherx.jabber.org/streams' to='local\xc3host' version='1.0'>",
                               "not-well-formed", None),
    "message-before-auth": (H + "<message to='bob@localhost'><body>hi</body></message>", "not-authorized", None),
    "iq-before-auth": (H + "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>", "not-authorized",
                       None),
    "wrong-stream-namespace": (header(stream_ns="http://example.com/streams"), "invalid-namespace", None),
    "wrong-content-namespace": (header(ns="jabber:server"), "invalid-namespace", None),
    "unknown-host": (header(to="example.net"), "host-unknown", r"example\.net"),
    "no-version": (header(version=None), "unsupported-version", None),
    "version-2": (header(version="2.0"), "unsupported-version", None),
    "too-many-attributes": (H + "<message " + " ".join(f"a{i}='v'" for i in range(100)) + "/>",
                            "policy-violation", r"attributes"),
    "unbound-prefix": (H + "<foo:message xmlns='jabber:client'/>", "bad-namespace-prefix", None),
    "undefined-entity": (H + "<message><body>&evil;</body></message>", "restricted-xml", None),
    "latin1-encoding": ("<?xml version='1.0' encoding='ISO-8859-1'?>" + header(decl=False),
                        "unsupported-encoding", None),
    "auth-before-starttls": (H + f"<auth xmlns='{raw.NS_SASL}' mechanism='SCRAM-SHA-1'/>", "policy-violation",
                             r"TLS"),
    "huge-stream-header": (header().replace("version='1.0'", "version='1.0' x='" + "y" * 8000 + "'"),
                           "policy-violation", r"header"),
}


@pytest.mark.parametrize("case", PREAUTH_CASES, ids=list(PREAUTH_CASES))
def test_hostile_preauth(hostile, case):
    data, cond, text_rx = PREAUTH_CASES[case]
    s = hostile()
    with raw.connect(s) as r:
        port = local_port(r)
        r.send(data)
        got, text = r.stream_error(timeout=10)
        assert got == cond, f"expected <{cond}/>, got <{got}/> ({text}); received {r.last_data[-600:]!r}"
        if text_rx:
            assert text and re.search(text_rx, text), text
        # The server answers on its own stream: a header precedes the error.
        assert b"<stream:stream" in r.last_data
    line = conn_close_line(s, rf"stream error <{cond}/>")
    assert f"127.0.0.1:{port}" in line
    assert "authenticated as" not in s.log()
    assert_serving(s)


@pytest.mark.parametrize("case", ["mismatched-tags", "billion-laughs-doctype", "message-before-auth"])
def test_hostile_preauth_direct_tls(hostile, case):
    """The same parser rules behind direct TLS (a fresh parser after TLS)."""
    data, cond, _ = PREAUTH_CASES[case]
    s = hostile()
    with raw.connect(s, tls=True) as r:
        assert r.sock.selected_alpn_protocol() == "xmpp-client"
        r.send(data)
        got, text = r.stream_error(timeout=10)
        assert got == cond, (got, text, r.last_data[-600:])
    assert_serving(s)


def test_hostile_oversized_stanza_preauth(hostile):
    """20 MB in one stanza before authentication: <policy-violation/> once
    stanza_bytes_preauth (10 KiB) is crossed, without reading the rest."""
    s = hostile()
    with raw.connect(s) as r:
        port = local_port(r)
        r.open()
        t0 = time.monotonic()
        sent = r.flood("<message to='bob@localhost'><body>", total=20 * MB)
        got, text = r.stream_error(timeout=10)
        elapsed = time.monotonic() - t0
    assert got == "policy-violation", (got, text)
    assert text and "10240" in text, text  # names the limit crossed
    assert sent < 10 * MB, f"the connection took {sent} bytes before closing"
    assert elapsed < 10
    line = conn_close_line(s, r"<policy-violation/>.*10240")
    assert f"127.0.0.1:{port}" in line
    # Read at most the limit plus one read buffer: nothing was buffered.
    assert bytes_in(line) < 256 * 1024, line
    assert_serving(s)


# ---- after authentication ----


def test_hostile_oversized_stanza_after_auth(hostile):
    s = hostile(stanza_bytes=16384)
    with raw.session(s, "alice") as a, raw.session(s, "bob") as b:
        # Over the pre-auth limit, under the session's: delivered.
        big = "B" * 12000
        a.message(b.jid, big)
        b.expect_message(big)
        sent = a.flood(f"<message to='{b.jid}'><body>", total=20 * MB)
        got, text = a.stream_error(timeout=10)
        assert got == "policy-violation", (got, text)
        assert text and "16384" in text, text
        assert sent < 10 * MB, sent
        line = conn_close_line(s, r"<policy-violation/>.*16384")
        assert line and "alice@localhost/" in line
        assert bytes_in(line) < 256 * 1024, line
        # bob got nothing of the flood.
        b.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        b.expect(rb"<iq[^>]*id=['\"]p1['\"]")
        assert b"AAAA" not in b.received
    assert_serving(s)


AFTER_AUTH_CASES = {
    "deep-nesting-5000": (lambda to: f"<message to='{to}'>" + "<a>" * 5000 + "</a>" * 5000 + "</message>",
                          "policy-violation", r"depth.*64"),
    "children-30000": (lambda to: f"<message to='{to}'><x xmlns='urn:example'>" + "<c/>" * 30000 +
                       "</x></message>", "policy-violation", r"10000 elements"),
    "too-many-attributes": (lambda to: f"<message to='{to}' " + " ".join(f"a{i}='v'" for i in range(100)) +
                            "/>", "policy-violation", r"attributes"),
    "mismatched-tags": (lambda to: f"<message to='{to}'><body>x</message>", "not-well-formed", None),
    "unknown-element-jabber-client": (lambda to: "<foo/>", "unsupported-stanza-type", None),
    "unknown-element-other-ns": (lambda to: "<bar xmlns='urn:example:evil'><x/></bar>",
                                 "unsupported-stanza-type", None),
    "comment-after-auth": (lambda to: f"<message to='{to}'><!-- c --><body>x</body></message>",
                           "restricted-xml", r"comment"),
}


@pytest.mark.parametrize("case", AFTER_AUTH_CASES, ids=list(AFTER_AUTH_CASES))
def test_hostile_after_auth(hostile, case):
    make, cond, text_rx = AFTER_AUTH_CASES[case]
    s = hostile()
    with raw.session(s, "alice") as a, raw.session(s, "bob") as b:
        try:
            a.send(make(b.jid))
        except (ssl.SSLError, BrokenPipeError, ConnectionResetError):
            # The server refused the stanza and closed before we finished
            # writing it: its stream error is already in our buffer.
            pass
        got, text = a.stream_error(timeout=15)
        assert got == cond, f"expected <{cond}/>, got <{got}/> ({text}); {a.last_data[-600:]!r}"
        if text_rx:
            assert text and re.search(text_rx, text), text
        conn_close_line(s, rf"stream error <{cond}/>")
        # The victim got nothing of it; a later message from alice arrives first.
        with raw.session(s, "alice") as a2:
            a2.message(b.jid, "marker")
            first = b.expect(rb"<message.*?</message>").group(0)
            assert b"<body>marker</body>" in first, first
    assert_serving(s)


def test_hostile_spoofed_from(hostile):
    """A bound client naming another account in 'from' gets <invalid-from/>
    (RFC 6120 §8.1.2.1) and the stanza goes nowhere."""
    s = hostile()
    with raw.session(s, "bob") as b:
        b.send("<presence/>")
        for i, spoof in enumerate(("carol@localhost", "carol@localhost/phone", b.jid, "localhost")):
            with raw.session(s, "alice") as a:
                a.send(f"<message from='{spoof}' to='{b.jid}' type='chat'><body>spoofed {i}</body></message>")
                got, text = a.stream_error(timeout=10)
                assert got == "invalid-from", (spoof, got, text)
                assert spoof in text
            # Same sender, same path to bob: the marker comes after anything
            # the spoofed stanza could have produced.
            with raw.session(s, "alice") as a:
                a.message(b.jid, f"marker {i}")
                b.expect_message(f"marker {i}")
        assert b"spoofed" not in b.received
        # Her own bare and full JID are fine.
        with raw.session(s, "alice") as a:
            a.send(f"<message from='alice@localhost' to='{b.jid}' type='chat'><body>own bare</body></message>")
            a.send(f"<message from='{a.jid}' to='{b.jid}' type='chat'><body>own full</body></message>")
            b.expect_message("own bare")
            b.expect_message("own full")
    assert_serving(s)


def test_hostile_starttls_injection(hostile):
    """RFC 6120 §5.4.3.3: bytes after <starttls/> in the same segment are
    plaintext injected before TLS (a man in the middle can add them); they
    must never be processed, neither in the clear nor as if they had come
    over TLS.  The injection is a whole new stream with a PLAIN login."""
    s = hostile()
    with raw.connect(s) as r:
        port = local_port(r)
        r.open()
        cred = raw.base64.b64encode(b"\0alice\0secret").decode()
        r.send(f"<starttls xmlns='{raw.NS_TLS}'/>" + header() +
               f"<auth xmlns='{raw.NS_SASL}' mechanism='PLAIN'>{cred}</auth>")
        got = b""
        try:
            got = r.expect(rb"<proceed[^>]*/>", timeout=10).group(0)
        except raw.Closed:
            pass
        if got:
            # Had the server gone on, the injected login would be answered
            # inside TLS: try the handshake and look.
            with pytest.raises((ssl.SSLError, OSError, raw.Closed, TimeoutError)):
                r._wrap()
                r.expect(rb"<success", timeout=5)
        else:
            assert r.closed
        assert b"<success" not in r.received and b"<stream:error" not in r.received, r.received
    line = s.wait_log(rf"127\.0\.0\.1:{port}: \d+ plaintext bytes after <starttls/>")
    assert "injection" in line
    conn_close_line(s, r"plaintext after <starttls/>")
    log = s.log()
    assert "authenticated as" not in log
    assert "authentication needs TLS first" not in log
    assert_serving(s)


def test_hostile_plaintext_after_proceed(hostile):
    """Plaintext sent after <proceed/> (a later segment) is no ClientHello:
    the handshake fails and nothing of it is parsed as XMPP."""
    s = hostile()
    with raw.connect(s) as r:
        port = local_port(r)
        r.open()
        r.send(f"<starttls xmlns='{raw.NS_TLS}'/>")
        r.expect(rb"<proceed[^>]*/>")
        r.send("<iq type='get' id='after-proceed'><query xmlns='jabber:iq:roster'/></iq>")
        assert r.read_until_close(timeout=10) == b""
    conn_close_line(s, r"TLS handshake failed")
    assert f"127.0.0.1:{port}: closed (TLS handshake failed" in s.log()
    assert_serving(s)


def test_hostile_direct_tls_wrong_alpn(hostile):
    """A server-to-server ALPN on the client TLS port is refused in the
    handshake (no_application_protocol), not treated as a client."""
    s = hostile()
    ctx = ssl.create_default_context(cafile=s.cert)
    ctx.set_alpn_protocols(["xmpp-server"])
    with socket.create_connection(("127.0.0.1", s.tls_port), timeout=10) as sock:
        with pytest.raises(ssl.SSLError, match="no application protocol|NO_APPLICATION_PROTOCOL"):
            ctx.wrap_socket(sock, server_hostname="localhost")
    s.wait_log(r"no ALPN protocol this port serves \(xmpp-client\)")
    assert_serving(s)


def test_hostile_stanza_before_bind(hostile):
    """Authenticated but not bound: a stanza is <not-authorized/>."""
    s = hostile()
    with raw.connect(s) as r:
        r.open()
        r.starttls()
        r.open()
        assert r.auth_plain("alice", "secret") == "success"
        r.open()
        r.send("<message to='bob@localhost' type='chat'><body>unbound</body></message>")
        got, text = r.stream_error(timeout=10)
        assert got == "not-authorized", (got, text)
        assert "bind" in text
    assert "bound alice@localhost" not in s.log()
    assert_serving(s)


def test_hostile_sasl_bad_requests(hostile):
    """SASL requests that must fail with their RFC 6120 §6.5 condition, on
    one stream, after which the right credentials still succeed."""
    s = hostile(fail_delay_max=0)
    with raw.connect(s) as r:
        r.open()
        r.starttls()
        feats = r.open()
        assert b"<mechanism>PLAIN</mechanism>" in feats
        r.send(f"<auth xmlns='{raw.NS_SASL}' mechanism='X-NOT-A-MECH'>AAAA</auth>")
        assert r.expect(rb"<failure[^>]*>\s*<([a-z-]+)").group(1) == b"invalid-mechanism"
        r.send(f"<auth xmlns='{raw.NS_SASL}' mechanism='PLAIN'>!!not base64!!</auth>")
        assert r.expect(rb"<failure[^>]*>\s*<([a-z-]+)").group(1) == b"incorrect-encoding"
        r.send(f"<response xmlns='{raw.NS_SASL}'>AAAA</response>")
        assert r.expect(rb"<failure[^>]*>\s*<([a-z-]+)").group(1) == b"malformed-request"
        # alice's password with bob as authorization identity (DESIGN.md:
        # a widely deployed server let any account become any other so).
        cred = raw.base64.b64encode(b"bob@localhost\0alice\0secret").decode()
        r.send(f"<auth xmlns='{raw.NS_SASL}' mechanism='PLAIN'>{cred}</auth>")
        assert r.expect(rb"<failure[^>]*>\s*<([a-z-]+)").group(1) == b"invalid-authzid"
        assert r.auth_plain("alice", "secret") == "success"
        r.open()
        assert r.bind().startswith("alice@localhost/")
    s.wait_log(r"user=bob@localhost mechanism=PLAIN: <invalid-authzid/>|"
               r"user=alice@localhost mechanism=PLAIN: <invalid-authzid/>")
    assert re.findall(r"authenticated as (\S+)", s.log()) == ["alice@localhost"]
    assert_serving(s)


def test_hostile_sasl_failures_end_stream(hostile):
    """auth.attempts_per_stream failed attempts on one stream end it with
    <policy-violation/>."""
    s = hostile(fail_delay_max=0, fail_max=100, attempts_per_stream=5)
    with raw.connect(s) as r:
        r.open()
        r.starttls()
        r.open()
        for _ in range(4):
            assert r.auth_plain("alice", "wrong") == "not-authorized"
        cred = raw.base64.b64encode(b"\0alice\0wrong").decode()
        r.send(f"<auth xmlns='{raw.NS_SASL}' mechanism='PLAIN'>{cred}</auth>")
        got, text = r.stream_error(timeout=10)
        assert got == "policy-violation", (got, text)
        assert "5 refused authentication attempts on one stream (auth.attempts_per_stream)" in text
    assert_serving(s)


def test_hostile_plaintext_on_tls_port(hostile):
    """An XMPP stream header where a ClientHello belongs."""
    s = hostile()
    with raw.Raw(s.tls_port) as r:
        port = local_port(r)
        r.send(header())
        assert r.read_until_close(timeout=10) == b""
    s.wait_log(rf"127\.0\.0\.1:{port}: closed \(TLS handshake failed")
    assert_serving(s)


def test_hostile_header_reflection(hostile):
    """The server echoes the client's 'from' in its header's 'to': markup
    in it (escaped in the attribute, so well-formed) must come back escaped,
    never as elements."""
    s = hostile()
    with raw.connect(s) as r:
        r.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
               "to='localhost' version='1.0' from='x&apos;/&gt;&lt;evil/&gt;&lt;a b=&quot;'>")
        hdr = r.expect(rb"<stream:stream[^>]*>").group(0)
        feats = r.expect(rb"<stream:features.*?</stream:features>").group(0)
        assert b"<evil" not in hdr + feats and b"<evil" not in r.buf, hdr
        assert re.search(rb"to=(['\"])[^'\"]*&lt;evil/&gt;", hdr), hdr
        assert b"<starttls" in feats
    assert_serving(s)


def test_hostile_stanza_errors(hostile):
    """Bad stanzas from a bound client get stanza errors (RFC 6120 §8.3),
    and the stream goes on."""
    s = hostile()

    def error_of(r, stanza_id):
        m = r.expect(rb"<(iq|message)[^>]*id=['\"]" + stanza_id.encode() + rb"['\"][^>]*>(.*?)</\1>")
        el = m.group(0)
        assert b"type='error'" in el or b'type="error"' in el, el
        cond = re.search(rb"<error[^>]*>\s*<([a-z-]+)[^>]*urn:ietf:params:xml:ns:xmpp-stanzas", el)
        assert cond, el
        return cond.group(1).decode()

    with raw.connect(s) as r:
        r.open()
        r.starttls()
        r.open()
        assert r.auth_plain("alice", "secret") == "success"
        r.open()
        # Binding hostile resources.
        for rid, res in (("b1", "r" * 1100), ("b2", "private\ue000use")):
            r.send(f"<iq type='set' id='{rid}'><bind xmlns='{raw.NS_BIND}'><resource>{res}</resource></bind></iq>")
            assert error_of(r, rid) == "bad-request"
        jid = r.bind("fine")
        assert jid == "alice@localhost/fine"
        r.send("<message to='a@b@c' id='m1'><body>x</body></message>")
        assert error_of(r, "m1") == "jid-malformed"
        r.send("<iq type='get' id='i1'><a xmlns='urn:x:a'/><b xmlns='urn:x:b'/></iq>")
        assert error_of(r, "i1") == "bad-request"
        r.send("<iq type='bogus' id='i2'><query xmlns='jabber:iq:roster'/></iq>")
        assert error_of(r, "i2") == "bad-request"
        r.send(f"<iq type='set' id='i3'><bind xmlns='{raw.NS_BIND}'><resource>again</resource></bind></iq>")
        assert error_of(r, "i3") == "not-allowed"
        r.send("<iq type='get' id='p3'><ping xmlns='urn:xmpp:ping'/></iq>")
        r.expect(rb"<iq[^>]*id=['\"]p3['\"]")
        assert b"<stream:error" not in r.received
    assert_serving(s)


# ---- timeouts ----


def client_hello():
    """The first flight of a real TLS client, to send in part."""
    ctx = ssl.create_default_context()
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def test_hostile_handshake_timeouts(hostile):
    """limits.handshake_timeout = 1: a client that does not authenticate and
    bind in time is closed, at whatever stage it stalls."""
    s = hostile(handshake_timeout=1)
    t0 = time.monotonic()
    silent = raw.connect(s)                      # says nothing at all
    opened = raw.connect(s)                      # header, then nothing
    opened.open()
    stalled_starttls = raw.connect(s)            # <proceed/>, then no TLS
    stalled_starttls.open()
    stalled_starttls.send(f"<starttls xmlns='{raw.NS_TLS}'/>")
    stalled_starttls.expect(rb"<proceed[^>]*/>")
    authed = raw.connect(s)                      # authenticated, never binds
    authed.open()
    authed.starttls()
    authed.open()
    assert authed.auth_plain("alice", "secret") == "success"
    authed.open()
    tls_silent = raw.Raw(s.tls_port)             # TCP to the TLS port, no ClientHello
    tls_partial = raw.Raw(s.tls_port)            # half a ClientHello
    hello = client_hello()
    tls_partial.send(hello[:len(hello) // 2])
    ports = {name: local_port(c) for name, c in (("silent", silent), ("tls_silent", tls_silent),
                                                 ("tls_partial", tls_partial),
                                                 ("stalled_starttls", stalled_starttls))}
    try:
        for c in (silent, opened, authed):
            got, text = c.stream_error(timeout=6)
            assert got == "connection-timeout", (got, text, c.last_data[-300:])
            assert "handshake_timeout" in text
        for c in (stalled_starttls, tls_silent, tls_partial):
            # No TLS yet, so no stream error can be sent: just closed.
            assert c.read_until_close(timeout=6) == b""
        elapsed = time.monotonic() - t0
        assert elapsed < 6, elapsed
        for name in ("tls_silent", "tls_partial", "stalled_starttls"):
            s.wait_log(rf"127\.0\.0\.1:{ports[name]}: TLS handshake not completed within 1 s")
        conn_close_line(s, r"stream error <connection-timeout/>.*handshake_timeout")
    finally:
        for c in (silent, opened, stalled_starttls, authed, tls_silent, tls_partial):
            c.close()
    assert "bound alice@localhost" not in s.log()
    assert_serving(s)


# ---- SASL throttle ----


def test_hostile_sasl_failure_throttle(hostile):
    """Failed logins of one account from one address are answered ever
    later, and past auth.fail_max that account gets <temporary-auth-failure/>
    there, even with the right password; other accounts at the address and
    other addresses are not affected (tests/integration/test_throttle.py has
    the rest)."""
    s = hostile(fail_max=3)
    times = []
    with raw.connect(s) as r:
        r.open()
        r.starttls()
        r.open()
        for _ in range(3):
            t = time.monotonic()
            assert r.auth_plain("alice", "wrong", timeout=10) == "not-authorized"
            times.append(time.monotonic() - t)
        t = time.monotonic()
        assert r.auth_plain("alice", "wrong") == "temporary-auth-failure"
        assert r.auth_plain("alice", "secret") == "temporary-auth-failure"
        refused_in = time.monotonic() - t
    # Delays: none for the first failure, then one second more per failure
    # (checked once a second, so up to a second late).
    assert times[0] < 0.9, times
    assert 0.9 <= times[1] < 2.9, times
    assert 1.9 <= times[2] < 3.9 and times[2] > times[1], times
    assert refused_in < 2, refused_in
    s.wait_log(r"refusing authentication of alice@localhost from 127\.0\.0\.1:\d+: 3 failed logins of this "
               r"account from this address in 300 s \(limit auth\.fail_max = 3")
    # A new connection from the same address is refused for alice...
    with raw.connect(s) as r:
        r.open()
        r.starttls()
        r.open()
        assert r.auth_plain("alice", "secret") == "temporary-auth-failure"
        # ...but not for bob behind the same address.
        assert r.auth_plain("bob", "secret") == "success"
    # Another address logs alice in and chats normally.
    assert_serving(s, source="127.0.0.2")


# ---- slow reader ----


def test_hostile_slow_reader(hostile):
    """A client that never reads is disconnected once its output queue
    passes limits.outq_bytes; the sender and the server carry on."""
    s = hostile(outq_bytes=65536, read_rate=0)
    bob = raw.session(s, "bob", rcvbuf=4096)
    try:
        bob.send("<presence/>")
        with raw.session(s, "alice") as a:
            body = "x" * 8000
            closed_line = None
            sent = 0
            deadline = time.monotonic() + 30
            while closed_line is None and time.monotonic() < deadline and sent < 64 * MB:
                for _ in range(16):
                    a.message(bob.jid, body)
                    sent += len(body)
                # Alice reads what she is sent (errors, if any), as a client should.
                try:
                    a._recv_some(time.monotonic() + 0.01)
                except TimeoutError:
                    pass
                m = re.search(r"conn=\d+ bob@localhost/\S+: closed \((output queue over 65536 bytes[^)]*)\)",
                              s.log())
                closed_line = m and m.group(1)
            assert closed_line, f"bob was not disconnected after {sent} bytes; log:\n{s.log()[-3000:]}"
            assert "the peer does not read fast enough" in closed_line
            # Bounded: the kernel buffers plus the queue limit, not everything sent.
            assert sent < 16 * MB, sent
            # The sender's session is unharmed.
            a.send("<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>")
            a.expect(rb"<iq[^>]*id=['\"]p2['\"]", timeout=10)
        # bob's connection is gone: reading drains what the kernel held, then EOF.
        bob.read_until_close(timeout=10)
        assert bob.closed
    finally:
        bob.close()
    assert_serving(s)
