"""Federation (issue 8): Parley <-> Parley over real s2s links, found
through a private DNS server (federation.Dns), in each authentication mode,
with 1 and 2 workers.  Certificates are made by `parleyctl cert`.

Each check looks at what a user sees (a message arrives, or an error comes
back within a bounded time and nothing is delivered) and at the operator's
log line naming the method or the reason.
"""
import asyncio
import os
import re
import shutil
import time

import pytest

from federation import Dns, Pki, Session, _run, disco_info, exchange, subscribe
from parley import Server

PW = "secret"


class ParleyPeer:
    """A parleyd for `domain`, published in the Dns (A and SRV records, on
    127.0.0.1), with a certificate issued by `ca` (None: self-signed, as
    parleyctl init makes it) and the CAs in `trust` in its s2s store."""

    def __init__(self, domain, dns, pki, ca=None, trust=(), workers=1, options=None, direct_tls=False,
                 xmpp_addr=True, cert=None, srv=True, client_ca=None, extra_hosts=()):
        opts = {"s2s.resolver": dns.forward, "resolver_zones": ["test"], "retry_min": 1}
        opts.update(options or {})
        self.server = Server(domain=domain, workers=workers, options=opts)
        self.domain = domain
        self.dns = dns
        if cert or ca:
            crt, key = cert or pki.server(domain, ca, xmpp_addr)
            shutil.copy(crt, self.server.cert)
            shutil.copy(key, self.server.cert[:-4] + ".key")
        # More virtual hosts, each with its own certificate (chosen by SNI
        # on incoming links, presented for its own outgoing links).
        for h in extra_hosts:
            crt, key = pki.server(h, ca, xmpp_addr)
            shutil.copy(crt, os.path.join(self.server.dir, "certs", f"{h}.crt"))
            shutil.copy(key, os.path.join(self.server.dir, "certs", f"{h}.key"))
            with open(self.server.conf) as f:
                text = f.read()
            # After the first host, which serves clients that send no SNI
            # (the tests' clients connect to an address, so they send none).
            first = text.index("hosts = (\n")
            end = text.index("\n", text.index("{", first))
            text = (text[:end] + f',\n  {{ domain = "{h}"; certificate = "certs/{h}.crt"; key = "certs/{h}.key"; }}'
                    + text[end:])
            with open(self.server.conf, "w") as f:
                f.write(text)
        for t in trust:
            self.server.ctl("trust", "add", "--store", "s2s", os.path.join(t, "ca.crt") if os.path.isdir(t) else t)
        self.client_cafile = client_ca or (self.server.cert if not ca else os.path.join(ca, "ca.crt"))
        for d in (domain, *extra_hosts):
            dns.remove(d)
            dns.remove(f"_xmpp-server._tcp.{d}")
            dns.remove(f"_xmpps-server._tcp.{d}")
            dns.add_a(d, "127.0.0.1")
            if srv:
                dns.add_srv("_xmpp-server._tcp", d, d, self.server.s2s_port)
            if direct_tls:
                dns.add_srv("_xmpps-server._tcp", d, d, self.server.s2s_tls_port, priority=0)
        dns.restart()

    def start(self):
        self.server.start()
        return self

    @property
    def c2s_address(self):
        return ("127.0.0.1", self.server.port)

    def user(self, name):
        return self.server.add_user(f"{name}@{self.domain}", PW)

    def log(self):
        return self.server.log()

    def stop(self):
        self.server.stop()


@pytest.fixture(scope="module")
def dns():
    d = Dns().start()
    yield d
    d.cleanup()


@pytest.fixture
def pki(tmp_path):
    return Pki(str(tmp_path / "pki"))


@pytest.fixture
def peers():
    made = []
    yield made
    for p in made:
        # Shown by pytest when the test failed: what each server said.
        if p.server.proc is None:
            continue
        print(f"---- {p.domain} s2s log ----")
        print("\n".join(line for line in p.log().splitlines() if " s2s[" in line or "router[" in line)[-6000:])
        p.stop()


def pair(dns, pki, peers, a_opts=None, b_opts=None, workers=1, **kw):
    """a.test and b.test, started, each with a user."""
    a = ParleyPeer("a.test", dns, pki, workers=workers, options=a_opts, **kw.get("a", {}))
    b = ParleyPeer("b.test", dns, pki, workers=workers, options=b_opts, **kw.get("b", {}))
    peers += [a, b]
    a.start()
    b.start()
    a.user("alice")
    b.user("bob")
    return a, b


def both_ways(a, b, tag):
    assert exchange("alice@a.test", PW, a.c2s_address, "bob@b.test", PW, b.c2s_address, f"{tag} a->b",
                    sender_ca=a.client_cafile, recipient_ca=b.client_cafile), f"{tag}: a -> b not delivered"
    assert exchange("bob@b.test", PW, b.c2s_address, "alice@a.test", PW, a.c2s_address, f"{tag} b->a",
                    sender_ca=b.client_cafile, recipient_ca=a.client_cafile), f"{tag}: b -> a not delivered"


def method_of(peer, direction, remote):
    m = re.search(rf"link authenticated: direction {direction}, local {peer.domain}, remote {remote}, "
                  r"method (\w+), (\S+)", peer.log())
    return (m.group(1), m.group(2)) if m else None


@pytest.mark.parametrize("workers", [1, 2])
def test_external_with_ca_signed_certificates(dns, pki, peers, workers):
    ca = pki.ca("root")
    a, b = pair(dns, pki, peers, workers=workers, a={"ca": ca, "trust": [ca]}, b={"ca": ca, "trust": [ca]})
    both_ways(a, b, "external")
    assert method_of(a, "out", "b.test") == ("EXTERNAL", "TLSv1.3")
    assert method_of(a, "in", "b.test") == ("EXTERNAL", "TLSv1.3")
    assert method_of(b, "out", "a.test") == ("EXTERNAL", "TLSv1.3")


def refused(a, b, body="must not arrive", timeout=20.0, recipient_online=True):
    """alice@a.test sends to bob@b.test: returns (condition, text, seconds)
    of the error alice got back, and asserts that nothing reached bob (his
    session when online; else b's log, which names every stanza an s2s
    stream accepts: for a b whose certificate a client cannot verify
    either)."""
    async def run(sessions):
        r = Session("bob@b.test", PW, b.c2s_address, b.client_cafile)
        s = Session("alice@a.test", PW, a.c2s_address, a.client_cafile)
        s.x.add_event_handler("message_error", s._stanza)
        sessions += [r, s] if recipient_online else [s]
        await asyncio.gather(r.login(), s.login()) if recipient_online else await s.login()
        if recipient_online:
            r.presence()
        s.presence()
        t0 = time.monotonic()
        mark = len(b.log())
        s.x.send_message(mto="bob@b.test", mbody=body, mtype="chat")
        err = await s.until(lambda: next((st for st in s.stanzas if st.name == "message" and st["type"] == "error"),
                                         None), timeout)
        took = time.monotonic() - t0
        await asyncio.sleep(0.5)
        assert not r.got("message", "alice@a.test", body), "delivered although the link must fail"
        assert not re.search(r"<message> from alice@a\.test", b.log()[mark:]), "b accepted the message"
        assert err is not None, f"no error stanza within {timeout} s"
        return err["error"]["condition"], err["error"]["text"], took
    return _run(run, timeout + 40)


@pytest.mark.parametrize("workers", [1, 2])
def test_dialback_over_tls_with_accepted_selfsigned(dns, pki, peers, workers):
    opts = {"s2s.accept_selfsigned": True}
    a, b = pair(dns, pki, peers, a_opts=opts, b_opts=opts, workers=workers)
    both_ways(a, b, "selfsigned dialback")
    assert method_of(a, "out", "b.test") == ("dialback", "TLSv1.3")
    assert method_of(b, "in", "a.test") == ("dialback", "TLSv1.3")
    assert method_of(b, "out", "a.test") == ("dialback", "TLSv1.3")
    assert re.search(r"accepted for dialback because s2s\.accept_selfsigned = true", b.log())


def test_selfsigned_refused_by_default(dns, pki, peers):
    """Self-signed certificates, no accept_selfsigned: the link fails, the
    sender hears it in bounded time, the log says why and what to change."""
    a, b = pair(dns, pki, peers)
    cond, text, took = refused(a, b)
    assert cond == "remote-server-not-found", (cond, text)
    assert "b.test" in text and took < 15, (text, took)
    line = a.server.wait_log(r"outgoing link a\.test -> b\.test failed at step TLS")
    assert "self-signed" in line or "certificate" in line, line
    assert "s2s.accept_selfsigned" in line or "s2s.ca" in line, line


def test_external_without_xmpp_addr_and_subscription_and_disco(dns, pki, peers):
    ca = pki.ca("root")
    a, b = pair(dns, pki, peers, a={"ca": ca, "trust": [ca], "xmpp_addr": False},
                b={"ca": ca, "trust": [ca], "xmpp_addr": False})
    assert subscribe("alice@a.test", PW, a.c2s_address, "bob@b.test", PW, b.c2s_address,
                     sender_ca=a.client_cafile, recipient_ca=b.client_cafile)
    info = disco_info("alice@a.test", PW, a.c2s_address, "b.test", cafile=a.client_cafile)
    assert info and "http://jabber.org/protocol/disco#info" in str(info), info
    assert method_of(a, "out", "b.test") == ("EXTERNAL", "TLSv1.3")


def test_direct_tls_through_xmpps_server_srv(dns, pki, peers):
    ca = pki.ca("root")
    a, b = pair(dns, pki, peers, a={"ca": ca, "trust": [ca]}, b={"ca": ca, "trust": [ca], "direct_tls": True,
                                                                  "srv": False})
    both_ways(a, b, "direct tls")
    assert re.search(r"outgoing link a\.test -> b\.test: connected to \S+ \(b\.test, direct TLS\)", a.log())
    assert re.search(r"TLS established \(TLSv1\.3, [^)]*SNI b\.test, direct TLS\)", b.log()) or \
        re.search(r"TLS established \(TLSv1\.3, [^)]*direct TLS\)", a.log())
    assert method_of(a, "out", "b.test") == ("EXTERNAL", "TLSv1.3")


@pytest.mark.parametrize("depth,ok", [(1, True), (0, False)])
def test_chain_through_intermediate(dns, pki, peers, depth, ok):
    root = pki.ca("root")
    inter = os.path.join(pki.dir, "inter")
    pki.ctl("cert", "ca", "init", inter, "--ca", root, "--name", "Federation test intermediate")
    opts = {"s2s.verify_depth": depth} if depth else {"s2s.verify_depth": 1}
    a = {"ca": root, "trust": [root]}
    b = {"ca": inter, "trust": [root], "client_ca": os.path.join(root, "ca.crt")}
    if not ok:
        # b's chain needs one intermediate; a allows none below its root.
        opts = {}
    a_opts = {"s2s.verify_depth": 1} if ok else {"s2s.verify_depth": 1}
    if not ok:
        inter2 = os.path.join(pki.dir, "inter2")
        pki.ctl("cert", "ca", "init", inter2, "--ca", inter, "--name", "Federation test intermediate 2")
        b = {"ca": inter2, "trust": [root], "client_ca": os.path.join(root, "ca.crt")}
    x, y = pair(dns, pki, peers, a_opts=a_opts, b_opts=opts, a=a, b=b)
    if ok:
        both_ways(x, y, "intermediate")
        assert method_of(x, "out", "b.test") == ("EXTERNAL", "TLSv1.3")
    else:
        cond, text, _ = refused(x, y)
        assert cond == "remote-server-not-found"
        line = x.server.wait_log(r"outgoing link a\.test -> b\.test failed at step TLS")
        assert ": cert-chain-too-deep: " in line, line


@pytest.mark.parametrize("case", ["untrusted", "expired", "other-name", "not-allowed", "denied"])
def test_must_fail(dns, pki, peers, case):
    ca = pki.ca("root")
    other = pki.ca("other")
    a = {"ca": ca, "trust": [ca]}
    b = {"ca": ca, "trust": [ca]}
    a_opts = {}
    if case == "untrusted":
        b = {"ca": other, "trust": [ca]}
    elif case == "expired":
        b = {"ca": ca, "trust": [ca], "cert": pki.server("b.test", ca, True, "b.test.expired", "--expired")}
    elif case == "other-name":
        b = {"ca": ca, "trust": [ca], "cert": pki.server("c.test", ca, True, "c.test.for-b")}
    elif case == "not-allowed":
        a_opts = {"s2s.allow": ["c.test"]}
    elif case == "denied":
        a_opts = {"s2s.deny": ["b.test"]}
    x, y = pair(dns, pki, peers, a_opts=a_opts, a=a, b=b)
    cond, text, took = refused(x, y, recipient_online=case not in ("untrusted", "expired", "other-name"))
    assert cond == "remote-server-not-found" and took < 15, (cond, text, took)
    line = x.server.wait_log(r"outgoing link a\.test -> b\.test failed at step")
    want = {"untrusted": r"not in the trust store", "expired": r"expired", "other-name": r"name",
            "not-allowed": r"s2s\.allow", "denied": r"s2s\.deny"}[case]
    assert re.search(want, line), line
    # The stable code (issue 9): in the log line, the bounce's text and,
    # once a stream was open, the stream error the peer received.
    code = {"untrusted": "cert-unknown-issuer", "expired": "cert-expired", "other-name": "cert-name-mismatch",
            "not-allowed": "not-allowed", "denied": "policy-denied"}[case]
    assert f": {code}: " in line, line
    assert text.startswith(f"{code}: "), text
    if case in ("untrusted", "expired", "other-name"):
        y.server.wait_log(rf"the server sent stream error <policy-violation/>: {code}: ")


@pytest.mark.parametrize("mode", ["dialback", "external"])
def test_two_local_domains_to_one_peer(dns, pki, peers, mode):
    """a.test and a2.test on one server, each with its own certificate.
    With dialback, a2.test's link rides on a.test's stream to b.test
    (XEP-0220 piggybacking); with EXTERNAL each domain has its own stream
    and presents its own certificate.  Both deliver, both ways."""
    if mode == "dialback":
        opts = {"s2s.accept_selfsigned": True}
        a_kw, b_kw = {"extra_hosts": ["a2.test"]}, {}
    else:
        ca = pki.ca("root")
        opts = {}
        a_kw = {"extra_hosts": ["a2.test"], "ca": ca, "trust": [ca]}
        b_kw = {"ca": ca, "trust": [ca]}
    a, b = pair(dns, pki, peers, a_opts=opts, b_opts=opts, a=a_kw, b=b_kw)
    a.server.add_user("carol@a2.test", PW)
    both_ways(a, b, mode)
    assert exchange("carol@a2.test", PW, a.c2s_address, "bob@b.test", PW, b.c2s_address, "from a2",
                    sender_ca=a.client_cafile, recipient_ca=b.client_cafile)
    assert exchange("bob@b.test", PW, b.c2s_address, "carol@a2.test", PW, a.c2s_address, "to a2",
                    sender_ca=b.client_cafile, recipient_ca=a.client_cafile)
    if mode == "dialback":
        a.server.wait_log(r"link a2\.test -> b\.test: asking for it on the stream of a\.test -> b\.test")
        a.server.wait_log(r"link authenticated: direction out, local a2\.test, remote b\.test, method dialback "
                          r"\(piggybacked\)")
        assert method_of(b, "in", "a2.test") == ("dialback", "TLSv1.3")
    else:
        assert method_of(a, "out", "b.test") == ("EXTERNAL", "TLSv1.3")
        a.server.wait_log(r"link authenticated: direction out, local a2\.test, remote b\.test, method EXTERNAL")
        b.server.wait_log(r"link authenticated: direction in, local b\.test, remote a2\.test, method EXTERNAL")


def spki_of(pki, peer):
    out = pki.ctl("cert", "show", peer.server.cert).stdout
    return re.search(r"spki:\s+([0-9a-f]{64})", out).group(1)


def set_peers(peer, entries):
    """Writes s2s.peers (a list of groups, which Server.configure cannot)."""
    rows = ", ".join("{ " + " ".join(f'{k} = "{v}";' for k, v in e.items()) + " }" for e in entries)
    with open(peer.server.conf) as f:
        text = f.read()
    assert "  peers = ();" in text
    with open(peer.server.conf, "w") as f:
        f.write(text.replace("  peers = ();", f"  peers = ( {rows} );", 1))


@pytest.mark.parametrize("right_pin", [True, False])
def test_pinned_key(dns, pki, peers, right_pin):
    """a.test pins b.test's public key (s2s.peers pin): b's self-signed
    certificate is then trusted for the link without accept_selfsigned;
    any other key is refused whatever else would allow it."""
    a = ParleyPeer("a.test", dns, pki)
    b = ParleyPeer("b.test", dns, pki, options={"s2s.accept_selfsigned": True})
    peers += [a, b]
    pin = spki_of(pki, b) if right_pin else "ab" * 32
    set_peers(a, [{"domain": "b.test", "pin": pin}])
    a.start()
    b.start()
    a.user("alice")
    b.user("bob")
    if right_pin:
        assert exchange("alice@a.test", PW, a.c2s_address, "bob@b.test", PW, b.c2s_address, "pinned",
                        sender_ca=a.client_cafile, recipient_ca=b.client_cafile)
        a.server.wait_log(r"link a\.test -> b\.test: certificate of b\.test accepted \(pinned key\)")
        assert method_of(a, "out", "b.test") == ("dialback", "TLSv1.3")
    else:
        cond, text, _ = refused(a, b)
        assert cond == "remote-server-not-found", (cond, text)
        line = a.server.wait_log(r"outgoing link a\.test -> b\.test failed at step TLS")
        assert ": pin-mismatch: " in line, line


def test_peer_row_mode_deny_and_revoked_certificate(dns, pki, peers):
    """An s2s.peers entry with mode deny refuses its domain; a certificate
    on s2s.crl_file's list is refused with the reason."""
    ca = pki.ca("root")
    a = ParleyPeer("a.test", dns, pki, ca=ca, trust=[ca])
    b = ParleyPeer("b.test", dns, pki, ca=ca, trust=[ca])
    c = ParleyPeer("c.test", dns, pki, ca=ca, trust=[ca])
    peers += [a, b, c]
    set_peers(a, [{"domain": "c.test", "mode": "deny"}])
    pki.ctl("cert", "revoke", b.server.cert, "--ca", ca)
    crl = os.path.join(pki.dir, "crl.pem")
    pki.ctl("cert", "crl", "--ca", ca, "--out", crl)
    a.server.configure(**{"s2s.crl_file": crl})
    for p in (a, b, c):
        p.start()
    a.user("alice")
    b.user("bob")
    c.server.add_user("carol@c.test", PW)
    cond, _, _ = refused(a, b)
    assert cond == "remote-server-not-found"
    line = a.server.wait_log(r"outgoing link a\.test -> b\.test failed at step TLS")
    assert ": cert-revoked: " in line and "revoked" in line, line
    async def to_c(sessions):
        s = Session("alice@a.test", PW, a.c2s_address, a.client_cafile)
        s.x.add_event_handler("message_error", s._stanza)
        sessions.append(s)
        await s.login()
        s.x.send_message(mto="carol@c.test", mbody="denied", mtype="chat")
        return await s.until(lambda: next((st for st in s.stanzas if st["type"] == "error"), None), 10)
    err = _run(to_c, 40)
    assert err is not None and err["error"]["condition"] == "remote-server-not-found", err
    a.server.wait_log(r"outgoing link a\.test -> c\.test failed at step DNS: policy-denied: federation with c\.test is not "
                      r"allowed \(.*s2s\.peers.*\)")


def test_unreachable_peer_backs_off(dns, pki, peers):
    """A peer whose address answers with RST: the first stanza is bounced
    with the connect report; the next one, within s2s.retry_min, at once
    with the same reason and when the next attempt is."""
    a = ParleyPeer("a.test", dns, pki, options={"retry_min": 30, "retry_max": 60})
    peers.append(a)
    dns.remove("gone.test")
    dns.remove("_xmpp-server._tcp.gone.test")
    dns.add_a("gone.test", "127.0.0.1")
    dns.add_srv("_xmpp-server._tcp", "gone.test", "gone.test", 9)  # discard: nothing listens
    dns.restart()
    a.start()
    a.user("alice")
    async def run(sessions):
        s = Session("alice@a.test", PW, a.c2s_address, a.client_cafile)
        s.x.add_event_handler("message_error", s._stanza)
        sessions.append(s)
        await s.login()
        errors = []
        for i in range(2):
            m = s.x.make_message(mto="x@gone.test", mbody=f"try {i}", mtype="chat")
            m["id"] = f"try-{i}"
            m.send()
            err = await s.until(lambda: next((st for st in s.stanzas
                                              if st["type"] == "error" and st["id"] == f"try-{i}"), None), 15)
            assert err is not None, f"no error for message {i}"
            errors.append((err["error"]["condition"], err["error"]["text"]))
        return errors
    (c1, t1), (c2, t2) = _run(run, 60)
    assert c1 == c2 == "remote-server-not-found"
    assert "127.0.0.1:9 refused" in t1, t1
    assert "127.0.0.1:9 refused" in t2 and re.search(r"next attempt in \d+ s", t2), t2


def test_idle_link_closes_and_reopens(dns, pki, peers):
    opts = {"s2s.accept_selfsigned": True, "s2s.idle_timeout": 10}
    a, b = pair(dns, pki, peers, a_opts=opts, b_opts=opts)
    both_ways(a, b, "before idle")
    a.server.wait_log(r"link a\.test -> b\.test: closing after 10 s without a stanza \(s2s\.idle_timeout\)",
                      timeout=25)
    both_ways(a, b, "after idle")
    assert len(re.findall(r"link authenticated: direction out, local a\.test, remote b\.test", a.log())) == 2


def test_connection_flood_from_one_address_is_bounded(dns, pki, peers):
    from raw import Raw
    a = ParleyPeer("a.test", dns, pki, options={"connections_per_address": 3})
    peers.append(a)
    a.start()
    conns = [Raw(a.server.s2s_port) for _ in range(3)]
    extra = Raw(a.server.s2s_port)
    extra.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
               "xmlns:stream='http://etherx.jabber.org/streams' to='a.test' version='1.0'>")
    assert extra.stream_error()[0] == "policy-violation"
    a.server.wait_log(r"refused: 3 server connections from this address already "
                      r"\(s2s\.connections_per_address = 3\)")
    for c in conns:
        c.close()
    # Once they are gone, a new one is served.
    deadline = time.monotonic() + 10
    while True:
        r = Raw(a.server.s2s_port)
        r.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
               "xmlns:stream='http://etherx.jabber.org/streams' to='a.test' version='1.0'>")
        got = r.expect(rb"<stream:features|<stream:error", timeout=5).group(0)
        r.close()
        if got == b"<stream:features" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert got == b"<stream:features"


def test_next_target_after_a_broken_one(dns, pki, peers):
    """b.test's best SRV target (_xmpps-server, priority 0) points at a
    port that does not speak direct TLS: the TLS handshake fails there and
    a.test goes on to the next target (_xmpp-server, priority 10), as RFC
    6120 §3.2.1 says, and delivers."""
    ca = pki.ca("root")
    a, b = pair(dns, pki, peers, a={"ca": ca, "trust": [ca]}, b={"ca": ca, "trust": [ca]})
    dns.remove("_xmpp-server._tcp.b.test")
    dns.remove("_xmpps-server._tcp.b.test")
    dns.add_srv("_xmpps-server._tcp", "b.test", "b.test", b.server.s2s_port, priority=0)
    dns.add_srv("_xmpp-server._tcp", "b.test", "b.test", b.server.s2s_port, priority=10)
    dns.restart()
    assert exchange("alice@a.test", PW, a.c2s_address, "bob@b.test", PW, b.c2s_address, "second target",
                    sender_ca=a.client_cafile, recipient_ca=b.client_cafile)
    a.server.wait_log(rf"outgoing link a\.test -> b\.test: 127\.0\.0\.1:{b.server.s2s_port} \(direct TLS\) failed "
                      r"at step TLS: .*; trying the next address")
    assert method_of(a, "out", "b.test") == ("EXTERNAL", "TLSv1.3")


def test_policy_reloads_on_sighup(dns, pki, peers):
    """s2s.deny changed in the file and SIGHUP: new streams follow it (the
    established one is closed by the operator here), the others keep
    working, and a broken file keeps the previous policy."""
    import signal
    import subprocess
    from parley import PARLEYCTL
    ca = pki.ca("root")
    a, b = pair(dns, pki, peers, a={"ca": ca, "trust": [ca]}, b={"ca": ca, "trust": [ca]})
    both_ways(a, b, "before")
    a.server.configure(**{"s2s.deny": ["b.test"]})
    a.server.proc.send_signal(signal.SIGHUP)
    a.server.wait_log(r"SIGHUP: reloaded the s2s policy from .*s2s\.deny: 1")
    r = subprocess.run([PARLEYCTL, "-c", a.server.conf, "s2s", "close", "b.test"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    cond, text, _ = refused(a, b)
    assert text.startswith("policy-denied: "), text
    # A configuration that does not load keeps the policy as it was.
    with open(a.server.conf, "a") as f:
        f.write("\nthis is not libconfig\n")
    a.server.proc.send_signal(signal.SIGHUP)
    a.server.wait_log(r"SIGHUP: cannot reload the s2s policy: .*; keeping the previous one")
    cond, text, _ = refused(a, b, body="still denied")
    assert text.startswith("policy-denied: "), text


def test_certificate_reload_keeps_links(dns, pki, peers):
    """SIGHUP with a new host certificate: the established s2s links stay
    up and carry stanzas; closed by the operator, new links come up with
    the reloaded contexts."""
    import signal
    import subprocess
    from parley import PARLEYCTL
    ca = pki.ca("root")
    a, b = pair(dns, pki, peers, a={"ca": ca, "trust": [ca]}, b={"ca": ca, "trust": [ca]})
    both_ways(a, b, "before reload")
    new_crt, new_key = pki.server("a.test", ca, True, "a.test.renewed")
    shutil.copy(new_crt, a.server.cert)
    shutil.copy(new_key, a.server.cert[:-4] + ".key")
    a.server.proc.send_signal(signal.SIGHUP)
    a.server.wait_log(r"SIGHUP: reloaded the certificates for outgoing server links")
    closed_before = len(re.findall(r"link authenticated", a.log()))
    both_ways(a, b, "after reload")
    # No new link was needed: the same streams carried the messages.
    assert len(re.findall(r"link authenticated", a.log())) == closed_before
    r = subprocess.run([PARLEYCTL, "-c", a.server.conf, "s2s", "close", "b.test"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    # New streams come up with the reloaded contexts.
    both_ways(a, b, "new links")
    assert len(re.findall(r"link authenticated: direction out, local a\.test", a.log())) == 2
