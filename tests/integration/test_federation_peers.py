"""The federation fixtures themselves (federation.py): a private DNS server
and real Prosody 0.12 and ejabberd 23.01 instances that find each other
through it and federate over loopback, each way, with certificates made by
`parleyctl cert` (SASL EXTERNAL) or with dialback.  The must-fail cases
show that a link the peers' policy forbids really carries nothing.

Every wait is bounded; each test also has an overall alarm.  Everything a
test started is stopped by pid at its end, pass or fail.
"""
import signal

import pytest

from federation import (Dns, EjabberdPeer, Pki, ProsodyPeer, disco_info, exchange, subscribe)

TEST_LIMIT = 120        # seconds, a whole test (peers, logins, links)
MSG_TIMEOUT = 15.0
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"


@pytest.fixture(autouse=True)
def time_limit():
    """Fails a test that has not ended after TEST_LIMIT seconds."""
    def expired(signum, frame):
        raise TimeoutError(f"test still running after {TEST_LIMIT} s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


class Federation:
    """One Dns, one Pki, and the peers a test made (stopped at its end)."""

    def __init__(self, tmp_path):
        self.root = str(tmp_path)
        self.dns = Dns(self.root)
        self.pki = Pki(str(tmp_path / "pki"))
        self.peers = []

    def prosody(self, domain, **kw):
        p = ProsodyPeer(domain, self.dns, self.pki, root=self.root, **kw)
        self.peers.append(p)
        return p.start()

    def ejabberd(self, domain, **kw):
        p = EjabberdPeer(domain, self.dns, self.pki, root=self.root, **kw)
        self.peers.append(p)
        return p.start()

    def logs(self):
        return "\n".join(f"==== {p.kind} {p.domain} ({p.dir}):\n{p.log()[-3000:]}" for p in self.peers)

    def close(self):
        """Stops everything by pid; the directories stay in pytest's
        tmp_path (the last few runs are kept) for a look after a failure."""
        for p in self.peers:
            p.stop()
        self.dns.stop()


@pytest.fixture
def fed(tmp_path):
    f = Federation(tmp_path)
    try:
        f.dns.start()
        yield f
    finally:
        f.close()


def both_ways(a, a_user, b, b_user, timeout=MSG_TIMEOUT):
    """A message from a's user to b's, then one back; asserts both arrive."""
    ja, jb = a.add_user(a_user, "pw-" + a_user), b.add_user(b_user, "pw-" + b_user)
    ok = exchange(ja, "pw-" + a_user, a, jb, "pw-" + b_user, b, f"hello {b.domain}", timeout)
    assert ok, f"{ja} -> {jb} not delivered"
    ok = exchange(jb, "pw-" + b_user, b, ja, "pw-" + a_user, a, f"hello {a.domain}", timeout)
    assert ok, f"{jb} -> {ja} not delivered"


def test_dns_serves_test_zone(fed):
    fed.dns.add_a("x.test", "127.0.0.77")
    fed.dns.add_srv("_xmpp-server._tcp", "x.test", "x.test", 5999)
    fed.dns.add_srv_none("_xmpps-server._tcp", "x.test")
    fed.dns.restart()
    assert fed.dns.query("x.test") == (0, 1)
    assert fed.dns.query("x.test", "AAAA") == (0, 0)           # the name exists, no such record
    assert fed.dns.query("_xmpp-server._tcp.x.test", "SRV") == (0, 1)
    assert fed.dns.query("_xmpps-server._tcp.x.test", "SRV") == (0, 1)
    assert fed.dns.query("y.test")[0] == 3                     # NXDOMAIN
    assert fed.dns.query("example.com")[0] == 3                # nothing outside test.
    assert "127.0.0.77 x.test" in fed.dns.hosts_text()


def test_prosody_prosody_certificates(fed):
    """CA-signed certificates, no dialback, certificates required: the links
    authenticate with SASL EXTERNAL; p2 also takes direct TLS (XEP-0368),
    which p1 finds through _xmpps-server._tcp and uses."""
    ca = fed.pki.ca("root")
    p1 = fed.prosody("p1.test", ca=ca, trust=[ca], dialback=False, secure_auth=True)
    p2 = fed.prosody("p2.test", ca=ca, trust=[ca], dialback=False, secure_auth=True, direct_tls=True)
    try:
        both_ways(p1, "alice", p2, "bob")
        p1.wait_log(r"Results for _xmpps-server\._tcp\.p2\.test IN SRV: 1 items", 1)
        p1.wait_log(r"SASL EXTERNAL with p2\.test succeeded", 1)
        p2.wait_log(r"Results for _xmpp-server\._tcp\.p1\.test IN SRV: 1 items", 1)
        p2.wait_log(r"SASL EXTERNAL with p1\.test succeeded", 1)
        p2.wait_log(r"Accepting SASL EXTERNAL identity from p1\.test", 1)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{fed.logs()}")


def test_prosody_prosody_dialback(fed):
    """Self-signed certificates nobody trusts: TLS, then dialback."""
    p1 = fed.prosody("p1.test")
    p2 = fed.prosody("p2.test")
    try:
        both_ways(p1, "alice", p2, "bob")
        for p in (p1, p2):
            p.wait_log(r"verified dialback key\.\.\. it is valid", 1)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{fed.logs()}")


@pytest.mark.parametrize("case", ["no-dialback", "secure-auth"])
def test_prosody_refuses_unauthenticated_peer(fed, case):
    """p1 has a self-signed certificate: p2 without dialback, or requiring
    a valid certificate, takes nothing from it."""
    p1 = fed.prosody("p1.test")
    p2 = fed.prosody("p2.test", **({"dialback": False} if case == "no-dialback" else {"secure_auth": True}))
    a, b = p1.add_user("alice", "pw-a"), p2.add_user("bob", "pw-b")
    assert not exchange(a, "pw-a", p1, b, "pw-b", p2, "must not arrive", timeout=8), fed.logs()
    p1.wait_log(r"Sending error replies for 1 queued stanzas because of failed outgoing connection to p2\.test",
                5)


def test_ejabberd_prosody_certificates(fed):
    """ejabberd e1 <-> Prosody p1 with CA-signed certificates and no
    dialback: SASL EXTERNAL each way.  p1's certificate has no xmppAddr:
    ejabberd 23.01 crashes the incoming stream on one (see EjabberdPeer)."""
    ca = fed.pki.ca("root")
    p1 = fed.prosody("p1.test", ca=ca, trust=[ca], dialback=False, secure_auth=True, xmpp_addr=False)
    e1 = fed.ejabberd("e1.test", ca=ca, trust=[ca], dialback=False)
    try:
        both_ways(e1, "carol", p1, "alice")
        e1.wait_log(r"Accepted outbound s2s EXTERNAL authentication e1\.test -> p1\.test", 1)
        p1.wait_log(r"SASL EXTERNAL with e1\.test succeeded", 1)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{fed.logs()}")


def test_ejabberd_prosody_dialback_presence_disco(fed):
    """Self-signed certificates: dialback each way; then a cross-domain
    presence subscription and a disco#info query to the remote domain."""
    p1 = fed.prosody("p1.test")
    e1 = fed.ejabberd("e1.test", starttls="optional")
    try:
        both_ways(p1, "alice", e1, "carol")
        p1.wait_log(r"verified dialback key\.\.\. it is valid", 1)
        assert subscribe("alice@p1.test", "pw-alice", p1, "carol@e1.test", "pw-carol", e1, MSG_TIMEOUT)
        features = disco_info("carol@e1.test", "pw-carol", e1, "p1.test", MSG_TIMEOUT)
        assert features and NS_DISCO_INFO in features, features
    except AssertionError as e:
        raise AssertionError(f"{e}\n{fed.logs()}")
