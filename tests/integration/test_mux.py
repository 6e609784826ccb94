"""One port for everything (issue 12, mux.port): one direct-TLS listener
hands each connection by ALPN to clients (xmpp-client), servers
(xmpp-server) or HTTP (http/1.1), and without ALPN by the first bytes.  A
stock slixmpp client logs in through it; the server keeps serving while
junk is refused."""
import os
import socket
import ssl

import pytest

from parley import free_ports
from slix import Client, run

STREAM_C = ("<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
STREAM_S = ("<stream:stream to='localhost' from='peer.test' xmlns='jabber:server' "
            "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0'>")
GET = b"GET /.well-known/host-meta HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


@pytest.fixture
def shared(make_server):
    port, web = free_ports(2)
    s = make_server(options={"mux.port": port, "mux.listen": ["127.0.0.1"], "http.web_port": web},
                    start=False)
    s.add_user("alice@localhost")
    s.start()
    s.mux_port = port
    return s


def talk(server, alpn, send, until, timeout=10):
    """Opens TLS to the shared port offering `alpn` (None: no ALPN), sends
    `send` and reads until `until` is in what came back, or the peer
    closes; returns (negotiated ALPN, bytes read)."""
    ctx = ssl.create_default_context(cafile=server.cert)
    ctx.check_hostname = False
    if alpn:
        ctx.set_alpn_protocols([alpn])
    with socket.create_connection(("127.0.0.1", server.mux_port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as t:
            t.sendall(send)
            got = b""
            while until not in got:
                try:
                    chunk = t.recv(65536)
                except (ssl.SSLError, ConnectionResetError):
                    break
                if not chunk:
                    break
                got += chunk
            return t.selected_alpn_protocol(), got


@pytest.mark.parametrize("alpn", ["xmpp-client", None])
def test_client_stream(shared, alpn):
    chosen, got = talk(shared, alpn, STREAM_C.encode(), b"</stream:features>")
    assert chosen == alpn
    assert b"xmlns='jabber:client'" in got or b'xmlns="jabber:client"' in got, got
    assert b"<mechanisms" in got, got


@pytest.mark.parametrize("alpn", ["xmpp-server", None])
def test_server_stream(shared, alpn):
    chosen, got = talk(shared, alpn, STREAM_S.encode(), b"</stream:features>")
    assert chosen == alpn
    assert b"jabber:server" in got and b"<stream:features" in got, got


@pytest.mark.parametrize("alpn", ["http/1.1", None])
def test_http(shared, alpn):
    chosen, got = talk(shared, alpn, GET, b"</XRD>")
    assert chosen == alpn
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    assert b"urn:xmpp:alt-connections:websocket" in got, got


def test_admin_api_only_when_asked(shared):
    """The admin API stays on its own listener unless mux.admin says so."""
    _, got = talk(shared, "http/1.1", b"GET /api/users HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                  b"\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 404"), got[:200]


def test_junk_is_closed_and_the_port_keeps_serving(shared):
    _, got = talk(shared, None, b"\x00\x01 what is this\r\n", b"never")
    assert got == b""
    shared.wait_log(r"mux.*closed: its first bytes are neither an XMPP stream nor an HTTP request")
    chosen, got = talk(shared, "xmpp-client", STREAM_C.encode(), b"</stream:features>")
    assert b"<mechanisms" in got


def test_stock_client_logs_in_through_the_shared_port(shared):
    async def body():
        c = Client(shared, "alice@localhost/desk", direct_tls=True)
        c.x.test_address = ("127.0.0.1", shared.mux_port)
        await c.login()
        await c.sync()
    run(body())
    shared.wait_log(r"mux.*client stream")
    shared.wait_log(r"authenticated as alice@localhost")


# ---- one listener, every kind at once (issue 12) ----

from test_federation import PW, ParleyPeer, dns, peers, pki  # noqa: E402,F401  (fixtures)
from federation import exchange  # noqa: E402

NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"


def tls_to(port, cafile, alpn, name):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols([alpn])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname=name)


def read_until(t, pred, limit=10):
    got = b""
    t.settimeout(limit)
    while not pred(got):
        chunk = t.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def ws_frame(text):
    """One masked text frame, as a browser sends it."""
    payload = text.encode()
    key = os.urandom(4)
    n = len(payload)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def test_one_listener_serves_a_client_a_websocket_the_admin_page_and_a_server(dns, pki, peers):
    port = free_ports(1)[0]
    ca = pki.ca("root")
    a = ParleyPeer("a.test", dns, pki, ca=ca, trust=[ca])
    b = ParleyPeer("b.test", dns, pki, ca=ca, trust=[ca], srv=False,
                   options={"mux.port": port, "mux.admin": True, "mux.listen": ["127.0.0.1"]})
    # b.test's servers are found only at the shared port, with direct TLS.
    dns.add_srv("_xmpps-server._tcp", "b.test", "b.test", port, priority=0)
    dns.restart()
    peers += [a, b]
    a.start()
    b.start()
    a.user("alice")
    b.user("bob")
    cafile = os.path.join(ca, "ca.crt")

    # A direct-TLS client (ALPN xmpp-client).
    with tls_to(port, cafile, "xmpp-client", "b.test") as t:
        t.sendall(STREAM_C.replace("localhost", "b.test").encode())
        got = read_until(t, lambda g: b"</stream:features>" in g)
        assert t.selected_alpn_protocol() == "xmpp-client" and b"<mechanisms" in got, got

    # A WebSocket client (ALPN http/1.1), up to its stream features.
    with tls_to(port, cafile, "http/1.1", "b.test") as t:
        t.sendall(b"GET /xmpp-websocket HTTP/1.1\r\nHost: b.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                  b"Sec-WebSocket-Protocol: xmpp\r\n\r\n")
        head = read_until(t, lambda g: b"\r\n\r\n" in g)
        assert head.startswith(b"HTTP/1.1 101"), head
        t.sendall(ws_frame(f"<open xmlns='{NS_FRAMING}' to='b.test' version='1.0'/>"))
        got = read_until(t, lambda g: b"</stream:features>" in g)
        assert b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'" in got and b"<mechanisms" in got, got

    # The admin page (mux.admin), and its API refusing the anonymous.
    with tls_to(port, cafile, "http/1.1", "b.test") as t:
        t.sendall(b"GET /admin/ HTTP/1.1\r\nHost: b.test\r\n\r\n"
                  b"GET /api/users HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n")
        got = read_until(t, lambda g: g.count(b"HTTP/1.1 ") >= 2 and g.rstrip().endswith(b"}") or False)
        assert got.startswith(b"HTTP/1.1 200") and b"<html" in got.lower(), got[:300]
        assert b"HTTP/1.1 401" in got, got[-400:]

    # A server (ALPN xmpp-server): a.test's link to b.test goes through
    # the shared port, with SASL EXTERNAL.
    assert exchange("alice@a.test", PW, a.c2s_address, "bob@b.test", PW, b.c2s_address, "through 443",
                    sender_ca=a.client_cafile, recipient_ca=b.client_cafile)
    b.server.wait_log(r"mux.*server stream \(ALPN\)")
    b.server.wait_log(r"link authenticated: direction in, local b\.test, remote a\.test, method EXTERNAL")
