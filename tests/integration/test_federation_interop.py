"""Federation with real Prosody 0.12 and ejabberd 23.01 (issue 8): Parley's
a.test and the peer's p.test find each other through the private DNS
server and federate in each mode, both ways.  Each mode checks messages
both ways, a presence subscription across domains, disco#info to the
remote domain, and the authentication method Parley logged for the link
in each direction.  Clients are slixmpp at its defaults.

Known behaviour of the peers, which Parley must survive:
  - ejabberd 23.01 breaks an incoming stream on SASL EXTERNAL when the
    certificate carries id-on-xmppAddr (a badarg in its pkix code): Parley
    retries the link with dialback and keeps to it.
"""
import os
import re

import pytest

from federation import Dns, EjabberdPeer, Pki, ProsodyPeer, disco_info, exchange, subscribe
from test_federation import PW, ParleyPeer, method_of

PEERS = {"prosody": ProsodyPeer, "ejabberd": EjabberdPeer}


@pytest.fixture(scope="module")
def dns():
    d = Dns().start()
    yield d
    d.cleanup()


@pytest.fixture
def made():
    things = []
    yield things
    for t in reversed(things):
        if isinstance(t, ParleyPeer):
            print(f"---- {t.domain} (parley) s2s log ----")
            print("\n".join(line for line in t.log().splitlines() if " s2s[" in line)[-5000:])
            t.stop()
        else:
            print(f"---- {t.domain} ({t.kind}) log tail ----")
            print(t.log()[-5000:])
            t.cleanup()


def peer_options(kind, mode):
    """The peer's constructor arguments for a mode (beyond certificates)."""
    if mode == "plain":
        if kind == "prosody":
            # No TLS at all on this Prosody (its clients log in with SCRAM
            # in the clear): the only way to make a peer speak plain s2s.
            return {"require_encryption": False,
                    "extra": 'modules_disabled = { "offline", "tls" }\nc2s_require_encryption = false'}
        return {"starttls": "false"}
    if mode == "dialback" and kind == "ejabberd":
        return {}
    return {}


def start_pair(dns, tmp_path, made, kind, mode, workers=1):
    pki = Pki(str(tmp_path / "pki"))
    ca = pki.ca("root")
    xa = mode != "external-noxa"
    popts = {}
    if mode in ("external", "external-noxa", "direct-tls"):
        pcert = {"ca": ca, "trust": [ca], "xmpp_addr": xa}
        acert = {"ca": ca, "trust": [ca], "xmpp_addr": xa}
    elif mode == "dialback":
        pcert, acert = {}, {}
        popts = {"s2s.accept_selfsigned": True}
    elif mode == "plain":
        pcert, acert = {}, {}
        popts = {"s2s.require_tls": False, "s2s.peers": None}
    if mode == "direct-tls":
        pcert["direct_tls"] = True
        acert["direct_tls"] = True
    popts = {k: v for k, v in popts.items() if v is not None}
    a = ParleyPeer("a.test", dns, pki, workers=workers, options=popts, **acert)
    made.append(a)
    p = PEERS[kind]("p.test", dns, pki, **pcert, **peer_options(kind, mode))
    made.append(p)
    p.start()
    a.start()
    a.user("alice")
    p.add_user("bob", PW)
    return a, p


def checks(a, p, tag):
    assert exchange("alice@a.test", PW, a.c2s_address, "bob@p.test", PW, p, f"{tag} parley->peer",
                    sender_ca=a.client_cafile), f"{tag}: a.test -> p.test not delivered"
    assert exchange("bob@p.test", PW, p, "alice@a.test", PW, a.c2s_address, f"{tag} peer->parley",
                    recipient_ca=a.client_cafile), f"{tag}: p.test -> a.test not delivered"
    assert subscribe("alice@a.test", PW, a.c2s_address, "bob@p.test", PW, p, sender_ca=a.client_cafile), \
        f"{tag}: subscription a.test -> p.test"
    info = disco_info("alice@a.test", PW, a.c2s_address, "p.test", cafile=a.client_cafile)
    assert info and "http://jabber.org/protocol/disco#info" in str(info), info


MODES = [
    ("prosody", "external", ("EXTERNAL", "TLSv1.3"), ("EXTERNAL", "TLSv1.3")),
    ("prosody", "external-noxa", ("EXTERNAL", "TLSv1.3"), ("EXTERNAL", "TLSv1.3")),
    ("prosody", "dialback", ("dialback", "TLSv1.3"), ("dialback", "TLSv1.3")),
    ("prosody", "plain", ("dialback", "plaintext"), ("dialback", "plaintext")),
    ("prosody", "direct-tls", ("EXTERNAL", "TLSv1.3"), ("EXTERNAL", "TLSv1.3")),
    # ejabberd breaks EXTERNAL on certificates with xmppAddr: dialback out.
    ("ejabberd", "external", ("dialback", "TLSv1.3"), ("EXTERNAL", "TLSv1.3")),
    ("ejabberd", "external-noxa", ("EXTERNAL", "TLSv1.3"), ("EXTERNAL", "TLSv1.3")),
    ("ejabberd", "dialback", ("dialback", "TLSv1.3"), ("dialback", "TLSv1.3")),
    ("ejabberd", "plain", ("dialback", "plaintext"), ("dialback", "plaintext")),
]


@pytest.mark.parametrize("kind,mode,out_method,in_method", MODES, ids=[f"{k}-{m}" for k, m, _, _ in MODES])
def test_interop(dns, tmp_path, made, kind, mode, out_method, in_method):
    a, p = start_pair(dns, tmp_path, made, kind, mode)
    checks(a, p, f"{kind} {mode}")
    assert method_of(a, "out", "p.test") == out_method, a.log()[-3000:]
    assert method_of(a, "in", "p.test") == in_method, a.log()[-3000:]
    if kind == "ejabberd" and mode == "external":
        assert re.search(r"p\.test broke the stream during SASL EXTERNAL \(sasl-external-broken: .*trying again with "
                         r"dialback", a.log())


@pytest.mark.parametrize("kind", ["prosody", "ejabberd"])
def test_interop_two_workers(dns, tmp_path, made, kind):
    a, p = start_pair(dns, tmp_path, made, kind, "external-noxa", workers=2)
    checks(a, p, f"{kind} 2 workers")
    assert method_of(a, "out", "p.test") == ("EXTERNAL", "TLSv1.3")


@pytest.mark.parametrize("kind", ["prosody", "ejabberd"])
def test_untrusted_peer_is_refused(dns, tmp_path, made, kind):
    """The peer's certificate is self-signed and Parley requires a valid
    one (the default): nothing crosses in either direction, the Parley
    sender gets an error, and Parley's log names the reason and the
    setting."""
    pki = Pki(str(tmp_path / "pki"))
    a = ParleyPeer("a.test", dns, pki)
    made.append(a)
    p = PEERS[kind]("p.test", dns, pki)
    made.append(p)
    p.start()
    a.start()
    a.user("alice")
    p.add_user("bob", PW)
    assert not exchange("alice@a.test", PW, a.c2s_address, "bob@p.test", PW, p, "must not cross",
                        sender_ca=a.client_cafile, timeout=8)
    a.server.wait_log(r"outgoing link a\.test -> p\.test failed at step TLS: cert-selfsigned-refused: certificate from p\.test: .*self-signed"
                      r".*s2s\.accept_selfsigned")
    assert not exchange("bob@p.test", PW, p, "alice@a.test", PW, a.c2s_address, "must not cross either",
                        recipient_ca=a.client_cafile, timeout=8)
    assert "must not cross" not in a.log()
    a.server.wait_log(r"from p\.test: (step TLS: \S+: certificate not accepted|dialback from p\.test for a\.test: "
                      r"refused)")


@pytest.mark.parametrize("kind", ["prosody", "ejabberd"])
def test_two_local_domains_dialback(dns, tmp_path, made, kind):
    """a.test and a2.test on one Parley, dialback with self-signed
    certificates: a2.test's link asks for itself on a.test's stream
    (piggybacking); the peer accepts it there or refuses it, and then the
    link gets a stream of its own.  Messages cross either way."""
    pki = Pki(str(tmp_path / "pki"))
    a = ParleyPeer("a.test", dns, pki, options={"s2s.accept_selfsigned": True}, extra_hosts=["a2.test"])
    made.append(a)
    p = PEERS[kind]("p.test", dns, pki)
    made.append(p)
    p.start()
    a.start()
    a.user("alice")
    a.server.add_user("carol@a2.test", PW)
    p.add_user("bob", PW)
    checks(a, p, f"{kind} two domains")
    assert exchange("carol@a2.test", PW, a.c2s_address, "bob@p.test", PW, p, "from a2", sender_ca=a.client_cafile)
    assert exchange("bob@p.test", PW, p, "carol@a2.test", PW, a.c2s_address, "to a2", recipient_ca=a.client_cafile)
    a.server.wait_log(r"link a2\.test -> p\.test: asking for it on the stream of a\.test -> p\.test")
    a.server.wait_log(r"link authenticated: direction out, local a2\.test, remote p\.test, method dialback")


@pytest.mark.parametrize("kind", ["prosody", "ejabberd"])
@pytest.mark.parametrize("case", ["expired", "other-name", "denied", "beyond-depth"])
def test_peer_must_fail(dns, tmp_path, made, kind, case):
    """Cases where Parley must refuse the peer, in both directions: the
    Parley sender gets an error within a bounded time, nothing crosses
    either way, and Parley's log names the reason."""
    pki = Pki(str(tmp_path / "pki"))
    ca = pki.ca("root")
    trust = [ca]
    aopts = {}
    pcert = None
    if case == "expired":
        pcert = pki.server("p.test", ca, True, "p.expired", "--expired")
    elif case == "other-name":
        pcert = pki.server("q.test", ca, True, "q.for-p")
    elif case == "denied":
        aopts = {"s2s.deny": ["p.test"]}
    elif case == "beyond-depth":
        inter = os.path.join(pki.dir, "inter")
        pki.ctl("cert", "ca", "init", inter, "--ca", ca, "--name", "intermediate 1")
        inter2 = os.path.join(pki.dir, "inter2")
        pki.ctl("cert", "ca", "init", inter2, "--ca", inter, "--name", "intermediate 2")
        pcert = pki.server("p.test", inter2, True, "p.deep")
        aopts = {"s2s.verify_depth": 1}
    a = ParleyPeer("a.test", dns, pki, ca=ca, trust=trust, options=aopts)
    made.append(a)
    p = PEERS[kind]("p.test", dns, pki, ca=ca, cert=pcert, trust=trust)
    made.append(p)
    p.start()
    a.start()
    a.user("alice")
    p.add_user("bob", PW)
    # The peer serves its clients with the same bad certificate, so its
    # own client (the test's, not a client under test) does not verify it.
    pw = p.c2s_address if pcert else p
    assert not exchange("alice@a.test", PW, a.c2s_address, "bob@p.test", PW, pw, "must not cross",
                        sender_ca=a.client_cafile, timeout=8)
    assert "must not cross" not in p.log()
    want = {"expired": r"expired", "other-name": r"name", "denied": r"s2s\.deny",
            "beyond-depth": r"chain|depth"}[case]
    line = a.server.wait_log(r"outgoing link a\.test -> p\.test failed at step")
    assert re.search(want, line), line
    assert not exchange("bob@p.test", PW, pw, "alice@a.test", PW, a.c2s_address, "must not cross either",
                        recipient_ca=a.client_cafile, timeout=8)
    assert "must not cross either" not in a.log()
    a.server.wait_log(r"from p\.test.*(not accepted|refused)")
