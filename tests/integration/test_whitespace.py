"""Whitespace between top-level elements is always ignored (issue 7, item 2):
before the first stream header, after <starttls/> and before the TLS
handshake, after </auth> and <success/> before the restarted header, and
between stanzas.  Real injection after <starttls/> is still refused.
"""
import base64
import re
import uuid

import raw

WS = "\n \r\n\t "


def plain(user, password="secret"):
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def test_whitespace_everywhere_between_top_level_elements(server):
    r = raw.connect(server)
    with r, raw.session(server, "bob") as b:
        # Before the first header, and before the XML declaration.
        r.send(WS)
        r.send(WS + raw.header())
        r.expect(rb"<stream:features.*?</stream:features>")
        # After <starttls/> in the same write, then on its own before the
        # ClientHello.
        r.send(f"<starttls xmlns='{raw.NS_TLS}'/>" + WS)
        r.expect(rb"<proceed[^>]*/>")
        r.send(WS)
        r._wrap()
        # Before the header over TLS.
        r.send(WS + raw.header() + WS)
        r.expect(rb"<stream:features.*?</stream:features>")
        # After </auth> in the same write (as go-sendxmpp does).
        r.send(f"<auth xmlns='{raw.NS_SASL}' mechanism='PLAIN'>{plain('alice')}</auth>\n")
        r.expect(rb"<success[^>]*(?:/>|>.*?</success>)")
        # After <success/>, before the restarted header (with its declaration).
        r.send(WS)
        r.send(WS + raw.header() + WS)
        r.expect(rb"<stream:features.*?</stream:features>")
        r.send(WS + f"<iq type='set' id='b1'><bind xmlns='{raw.NS_BIND}'/></iq>" + WS)
        jid = r.expect(rb"<jid>([^<]+)</jid>").group(1).decode()
        # Between stanzas.
        body = uuid.uuid4().hex
        r.send(WS + f"<message to='{b.jid}' type='chat'><body>{body}</body></message>" + WS * 3)
        stanza = b.expect_message(body, timeout=10)
        assert re.search(rb"from=['\"]" + re.escape(jid.encode()), stanza), stanza
        b.message(jid, "back " + body)
        r.expect_message("back " + body, timeout=10)
    log = server.log()
    assert "plaintext bytes after <starttls/>" not in log
    assert "not-well-formed" not in log
    assert "authentication failed" not in log


def test_whitespace_pipelined_after_auth_and_header(server):
    """Whitespace pipelined with the next stream header in one write after
    <success/> (a client that does not wait) is skipped as well."""
    with raw.connect(server) as r:
        r.open()
        r.starttls()
        r.open()
        r.send(f"<auth xmlns='{raw.NS_SASL}' mechanism='PLAIN'>{plain('alice')}</auth>{WS}{raw.header()}")
        r.expect(rb"<success[^>]*(?:/>|>.*?</success>)")
        r.expect(rb"<stream:features.*?</stream:features>")
        assert r.bind().startswith("alice@localhost/")


def test_whitespace_then_stanza_after_starttls_is_injection(server):
    """<starttls/> followed by a stanza is still an injection: the
    connection is closed and the stanza goes nowhere."""
    with raw.session(server, "bob") as b, raw.connect(server) as r:
        r.open()
        r.send(f"<starttls xmlns='{raw.NS_TLS}'/>\n<message to='{b.jid}'><body>injected</body></message>")
        r.read_until_close(timeout=10)
        assert r.closed
        line = server.wait_log(r"plaintext bytes after <starttls/> before the TLS handshake; closing")
        assert re.search(r": \d+ plaintext bytes", line)
        try:
            b.expect_message("injected", timeout=1)
            raise AssertionError("the injected stanza was delivered")
        except TimeoutError:
            pass


def test_header_prefix_survives_a_failed_plain_attempt(server):
    """A prefix the client declared only on its stream header stays bound
    after a PLAIN attempt fails (the check runs off the loop and the stream
    is held meanwhile); the next attempt, written with that prefix, logs
    in."""
    with raw.connect(server) as r:
        r.open()
        r.starttls()
        r.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream="
               "'http://etherx.jabber.org/streams' xmlns:sasl='urn:ietf:params:xml:ns:xmpp-sasl' "
               "to='localhost' version='1.0'>")
        r.expect(rb"<stream:features.*?</stream:features>")
        r.send(f"<sasl:auth mechanism='PLAIN'>{plain('alice', 'wrong')}</sasl:auth>")
        assert r.expect(rb"<failure[^>]*>\s*<([a-z-]+)").group(1) == b"not-authorized"
        r.send(f"<sasl:auth mechanism='PLAIN'>{plain('alice')}</sasl:auth>")
        r.expect(rb"<success[^>]*(?:/>|>.*?</success>)")
        r.open()
        assert r.bind().startswith("alice@localhost/")
    assert "not-well-formed" not in server.log()
