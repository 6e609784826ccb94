"""An attacker against federation (issue 8): a script that speaks s2s by
hand to two real Parley servers, a.test and b.test, which federate through
a private DNS server.  Nothing it sends may be delivered:

  - dialback for a domain it does not own (a.test) at b.test: b asks a.test's
    authoritative server, which says the key is not its own;
  - stanzas before its claim was verified, and stanzas whose 'from' names a
    domain it never authenticated on a stream where it did authenticate one;
  - <db:verify/> with a forged key at a.test: answered 'invalid'.

The authoritative answer for a right key is checked too, with the key
computed here from a.test's secret file as XEP-0185 describes: an
implementation other than Parley's agrees with it.
"""
import glob
import hashlib
import hmac
import re
import ssl

import pytest

from federation import Dns, Pki
from raw import Raw
from test_federation import PW, ParleyPeer
from test_s2s_in import S2S as _S2S, mechanisms

TIMEOUT = 10.0


class S2S(_S2S):
    """The attacker's side of a link: it does not care whom it talks to,
    so it verifies nothing."""

    def _context(self, alpn=None):
        ctx = super()._context(alpn)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx


@pytest.fixture(scope="module")
def dns():
    d = Dns().start()
    yield d
    d.cleanup()


@pytest.fixture
def servers(dns, tmp_path):
    pki = Pki(str(tmp_path / "pki"))
    ca = pki.ca("root")
    opts = {"s2s.accept_selfsigned": True}
    a = ParleyPeer("a.test", dns, pki, options=opts)
    b = ParleyPeer("b.test", dns, pki, ca=ca, options=opts, trust=[ca])
    a.start()
    b.start()
    b.user("bob")
    yield a, b, pki, ca
    a.stop()
    b.stop()


def bob_online(b):
    s = Raw(b.server.port)  # the test's own client: no verification
    s.login("bob", PW, domain="b.test")
    s.send("<presence/>")
    return s


def nothing_for(s, marker, wait=1.5):
    try:
        s.expect(marker.encode(), timeout=wait)
    except TimeoutError:
        return
    raise AssertionError(f"{marker} was delivered: {s.received[-2000:]!r}")


def test_dialback_for_a_domain_it_does_not_own(servers):
    a, b, _, _ = servers
    bob = bob_online(b)
    r = S2S(b.server)
    head, features = r.open_stream(frm="a.test", to="b.test")
    r.starttls()
    head, features = r.open_stream(frm="a.test", to="b.test")
    assert b"urn:xmpp:features:dialback" in features, features
    r.send("<db:result from='a.test' to='b.test'>" + "0" * 64 + "</db:result>")
    # A stanza before the answer: not accepted.
    r.send("<message from='alice@a.test' to='bob@b.test' type='chat'><body>early forged</body></message>")
    err = r.stream_error(timeout=TIMEOUT)
    assert err[0] in ("not-authorized", "invalid-from"), err
    nothing_for(bob, "early forged")
    # The claim itself, on a stream of its own: a.test says the key is not its.
    r = S2S(b.server)
    r.open_stream(frm="a.test", to="b.test")
    r.starttls()
    r.open_stream(frm="a.test", to="b.test")
    r.send("<db:result from='a.test' to='b.test'>" + "f" * 64 + "</db:result>")
    got = r.expect(rb"<db:result[^>]*type=.invalid.[^>]*/?>", timeout=TIMEOUT).group(0)
    assert b"from='b.test'" in got and b"to='a.test'" in got, got
    assert r.stream_error(timeout=TIMEOUT)[0] == "not-authorized"
    b.server.wait_log(r"dialback from a\.test for b\.test: refused: dialback-refused: its authoritative server says the key is "
                      r"invalid")
    a.server.wait_log(r"dialback: told b\.test that a key claimed for a\.test .* is not ours")
    nothing_for(bob, "forged")


def test_stanzas_from_a_domain_not_authenticated_on_the_stream(servers):
    a, b, pki, ca = servers
    bob = bob_online(b)
    cert, key = pki.server("evil.test", ca)
    r = S2S(b.server, cert, key)
    r.open_stream(frm="evil.test", to="b.test")
    r.starttls()
    _, features = r.open_stream(frm="evil.test", to="b.test")
    assert "EXTERNAL" in mechanisms(features), features
    assert r.external() == "success"
    r.open_stream(frm="evil.test", to="b.test")
    r.send("<message from='alice@a.test' to='bob@b.test' type='chat'><body>spoofed from</body></message>")
    assert r.stream_error(timeout=TIMEOUT)[0] == "invalid-from"
    nothing_for(bob, "spoofed from")
    b.server.wait_log(r"'from' domain a\.test is not authenticated on this stream")


def test_db_verify_with_a_forged_key_and_with_the_right_one(servers):
    a, _, _, _ = servers
    r = S2S(a.server)
    r.open_stream(frm="b.test", to="a.test")
    r.starttls()
    r.open_stream(frm="b.test", to="a.test")
    r.send("<db:verify from='b.test' to='a.test' id='stream-1'>" + "1" * 64 + "</db:verify>")
    got = r.expect(rb"<db:verify[^>]*/?>", timeout=TIMEOUT).group(0)
    assert b"type='invalid'" in got and b"id='stream-1'" in got, got
    # The right key, computed from a.test's secret (XEP-0185).
    secret = open(glob.glob(f"{a.server.dir}/**/dialback.secret", recursive=True)[0]).read().strip()
    hkey = hashlib.sha256(secret.encode()).hexdigest().encode()
    key = hmac.new(hkey, b"b.test a.test stream-2", "sha256").hexdigest()
    r.send(f"<db:verify from='b.test' to='a.test' id='stream-2'>{key}</db:verify>")
    got = r.expect(rb"<db:verify[^>]*id='stream-2'[^>]*/?>", timeout=TIMEOUT).group(0)
    assert b"type='valid'" in got, got
    # A key for another stream id is not valid for this one.
    r.send(f"<db:verify from='b.test' to='a.test' id='stream-3'>{key}</db:verify>")
    got = r.expect(rb"<db:verify[^>]*id='stream-3'[^>]*/?>", timeout=TIMEOUT).group(0)
    assert b"type='invalid'" in got, got
