"""Federation diagnostics (issue 9): `parleyctl check federation DOMAIN`
against real peers, without a running Parley, and `parleyctl s2s status /
report / close` against a running one.  Each failure shows its stable code
and a fix line; a healthy peer exits 0 and shows each identity check.
"""
import os
import re
import subprocess

import pytest

from federation import Dns, EjabberdPeer, Pki, ProsodyPeer, exchange
from parley import PARLEYCTL
from test_federation import PW, ParleyPeer

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
            if t.server.proc is not None:
                t.stop()
        else:
            t.cleanup()


def check(peer, *args, timeout=90):
    r = subprocess.run([PARLEYCTL, "-c", peer.server.conf, "check", "federation", *args],
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


@pytest.mark.parametrize("kind", ["prosody", "ejabberd"])
def test_check_healthy_peer(dns, tmp_path, made, kind):
    pki = Pki(str(tmp_path / "pki"))
    ca = pki.ca("root")
    a = ParleyPeer("a.test", dns, pki, ca=ca, trust=[ca], xmpp_addr=False)
    made.append(a)
    p = PEERS[kind]("p.test", dns, pki, ca=ca, trust=[ca], xmpp_addr=False)
    made.append(p)
    p.start()
    rc, out = check(a, "p.test")
    assert rc == 0, out
    assert re.search(r"DNS: .*SRV _xmpp-server\._tcp\.p\.test: 1 answer", out), out
    assert re.search(r"chain\[0\]:\s+CN=p\.test", out), out
    assert re.search(r"identity:\s+DNS-ID \"p\.test\" names \"p\.test\"", out), out
    assert re.search(r"verification: verified against the s2s trust store", out), out
    assert re.search(r"OK: authenticated with EXTERNAL", out), out
    assert re.search(r"verdict: federation with p\.test works \(1 of 1 target\)", out), out


@pytest.mark.parametrize("case,code", [("expired", "cert-expired"), ("untrusted", "cert-unknown-issuer"),
                                       ("other-name", "cert-name-mismatch")])
def test_check_certificate_failures(dns, tmp_path, made, case, code):
    pki = Pki(str(tmp_path / "pki"))
    ca = pki.ca("root")
    other = pki.ca("other")
    cert = {"expired": lambda: pki.server("p.test", ca, True, "p.exp", "--expired"),
            "untrusted": lambda: pki.server("p.test", other, True, "p.untrusted"),
            "other-name": lambda: pki.server("q.test", ca, True, "q.for-p")}[case]()
    a = ParleyPeer("a.test", dns, pki, ca=ca, trust=[ca])
    made.append(a)
    p = ProsodyPeer("p.test", dns, pki, ca=ca, cert=cert, trust=[ca])
    made.append(p)
    p.start()
    rc, out = check(a, "p.test")
    assert rc == 1, out
    assert re.search(rf"FAIL: {code}: ", out), out
    fix = re.search(r"fix: (.+)", out)
    assert fix and len(fix.group(1)) > 20, out
    assert "verdict: federation with p.test fails" in out, out


def test_check_dns_and_connect_failures(dns, tmp_path, made):
    pki = Pki(str(tmp_path / "pki"))
    a = ParleyPeer("a.test", dns, pki)
    made.append(a)
    rc, out = check(a, "nowhere.test")
    assert rc == 1 and "FAIL: dns-nxdomain: " in out, out
    assert "fix: " in out
    dns.remove("closed.test")
    dns.remove("_xmpp-server._tcp.closed.test")
    dns.add_a("closed.test", "127.0.0.1")
    dns.add_srv("_xmpp-server._tcp", "closed.test", "closed.test", 9)
    dns.restart()
    rc, out = check(a, "closed.test")
    assert rc == 1 and "FAIL: connect-refused: " in out, out
    rc, out = check(a, "--from", "nothere.test", "p.test")
    assert rc == 2 and "not one of our hosts" in out, out


def test_check_our_side(dns, tmp_path, made):
    """Without a domain: each of our hosts as a peer finds it (SRV, ports,
    TLS, the certificate) while the server runs."""
    pki = Pki(str(tmp_path / "pki"))
    ca = pki.ca("root")
    a = ParleyPeer("a.test", dns, pki, ca=ca, trust=[ca])
    made.append(a)
    a.start()
    rc, out = check(a)
    assert rc == 0, out
    assert re.search(r"Our side, as a peer sees it: a\.test -> a\.test", out), out
    assert re.search(r"OK: reachable; a peer is offered EXTERNAL, dialback", out), out
    a.stop()
    rc, out = check(a)
    assert rc == 1 and "connect-refused" in out, out


def ctl(peer, *args):
    r = subprocess.run([PARLEYCTL, "-c", peer.server.conf, *args], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def test_report_and_status_of_a_running_server(dns, tmp_path, made):
    """A failed link and a working one, as `parleyctl s2s report` and
    `s2s status` show them: the code, the chain, the methods."""
    import json
    pki = Pki(str(tmp_path / "pki"))
    ca = pki.ca("root")
    a = ParleyPeer("a.test", dns, pki, ca=ca, trust=[ca], xmpp_addr=False)
    made.append(a)
    bad = ProsodyPeer("p.test", dns, pki, ca=ca, trust=[ca], cert=pki.server("p.test", ca, True, "p.exp", "--expired"))
    made.append(bad)
    good = ProsodyPeer("q.test", dns, pki, ca=ca, trust=[ca], xmpp_addr=False)
    made.append(good)
    bad.start()
    good.start()
    a.start()
    a.user("alice")
    good.add_user("bob", PW)
    bad.add_user("bob", PW)
    assert not exchange("alice@a.test", PW, a.c2s_address, "bob@p.test", PW, bad.c2s_address, "no",
                        sender_ca=a.client_cafile, timeout=8)
    assert exchange("alice@a.test", PW, a.c2s_address, "bob@q.test", PW, good, "yes", sender_ca=a.client_cafile)
    rc, out = ctl(a, "s2s", "report", "p.test", "--json")
    assert rc == 0, out
    assert json.loads(out)["latest"]["out"]["code"] == "cert-expired", out
    rep = json.loads(out)["reports"][0]["out"]
    assert rep["code"] == "cert-expired" and not rep["ok"], rep
    assert "renew" in rep.get("fix", ""), rep
    assert rep["chain"][0]["subject"] == "CN=p.test", rep
    assert "expired" in rep["verification"], rep
    rc, out = ctl(a, "s2s", "report", "q.test", "--json")
    rep = json.loads(out)["reports"][0]
    assert rep["out"]["ok"] and rep["out"]["method_used"] == "EXTERNAL", rep
    assert "EXTERNAL" in rep["out"]["methods_offered"] and rep["out"]["last_success"], rep
    assert re.search(r'DNS-ID "q\.test" names "q\.test"', rep["out"]["identity"]), rep
    rc, out = ctl(a, "s2s", "status")
    assert rc == 0 and re.search(r"out\s+a\.test\s+q\.test\s+EXTERNAL\s+TLSv1\.3", out), out
    rc, out = ctl(a, "s2s", "report", "p.test")
    assert rc == 0 and "cert-expired" in out, out


class ScriptedPeer:
    """A server that answers a stream header with features of its choosing
    and nothing else: for failures real servers do not produce."""

    def __init__(self, features, replies=(), stream_id=b"s1"):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.features = features
        self.replies = list(replies)
        self.stream_id = stream_id
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        import socket
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with c:
                c.settimeout(15)
                try:
                    c.recv(4096)
                    c.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                              b"xmlns:stream='http://etherx.jabber.org/streams' "
                              b"xmlns:db='jabber:server:dialback' "
                              + (b"id='" + self.stream_id + b"' " if self.stream_id else b"") + b"from='s.test' "
                              b"version='1.0'>" + self.features)
                    # One reply per element we get; then silence until
                    # the other side gives up.
                    for reply in self.replies:
                        if not c.recv(4096):
                            break
                        c.sendall(reply)
                    while c.recv(4096):
                        pass
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.sock.close()
        self.thread.join(timeout=5)


def publish(dns, domain, port, service="_xmpp-server._tcp", target=None, a=True):
    for n in (domain, f"_xmpp-server._tcp.{domain}", f"_xmpps-server._tcp.{domain}"):
        dns.remove(n)
    if a:
        dns.add_a(domain, "127.0.0.1")
    dns.add_srv(service, domain, target or domain, port)
    dns.restart()


@pytest.mark.parametrize("case", ["tls-handshake", "dns-no-service", "dns-no-address", "peer-stream-error",
                                  "cert-selfsigned-refused", "pin-mismatch", "cert-chain-too-deep",
                                  "dialback-not-offered", "plaintext-refused"])
def test_check_codes(dns, tmp_path, made, case):
    """One failure per code, produced for real (Parley, Prosody or a
    scripted peer): `check federation` names the code and a fix."""
    pki = Pki(str(tmp_path / "pki"))
    ca = pki.ca("root")
    aopts = {}
    target = "s.test"
    scripted = None
    if case == "cert-chain-too-deep":
        aopts = {"s2s.verify_depth": 1}
    a = ParleyPeer("a.test", dns, pki, ca=ca, trust=[ca], options=aopts)
    made.append(a)
    if case == "tls-handshake":
        # A direct-TLS record pointing at a port that does not speak TLS.
        a.start()
        publish(dns, target, a.server.s2s_port, service="_xmpps-server._tcp")
    elif case == "dns-no-service":
        publish(dns, target, 0, target=".")
    elif case == "dns-no-address":
        publish(dns, target, 5269, target="nohost.s.test", a=False)
    elif case == "peer-stream-error":
        # Our own s2s port, which does not serve s.test: <host-unknown/>.
        a.start()
        publish(dns, target, a.server.s2s_port)
    elif case in ("cert-selfsigned-refused", "pin-mismatch"):
        p = ProsodyPeer(target, dns, pki)
        made.append(p)
        p.start()
        if case == "pin-mismatch":
            from test_federation import set_peers
            set_peers(a, [{"domain": target, "pin": "ab" * 32}])
    elif case == "cert-chain-too-deep":
        i1 = os.path.join(pki.dir, "i1")
        pki.ctl("cert", "ca", "init", i1, "--ca", ca, "--name", "i1")
        i2 = os.path.join(pki.dir, "i2")
        pki.ctl("cert", "ca", "init", i2, "--ca", i1, "--name", "i2")
        p = ProsodyPeer(target, dns, pki, ca=ca, cert=pki.server(target, i2, True, "deep"), trust=[ca])
        made.append(p)
        p.start()
    elif case == "dialback-not-offered":
        # Plain dialback allowed for it, but it offers neither TLS nor
        # dialback.
        from test_federation import set_peers
        set_peers(a, [{"domain": target, "mode": "plain"}])
        scripted = ScriptedPeer(b"<stream:features/>")
        publish(dns, target, scripted.port)
    elif case == "plaintext-refused":
        scripted = ScriptedPeer(b"<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>"
                                b"</stream:features>")
        publish(dns, target, scripted.port)
    try:
        rc, out = check(a, target)
    finally:
        if scripted:
            scripted.close()
    code = "peer-stream-error:host-unknown" if case == "peer-stream-error" else case
    assert rc == 1, out
    assert re.search(rf"FAIL: {re.escape(code)}: ", out), out
    assert re.search(r"fix: .{20,}", out), out


DB_FEATURES = b"<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>"


@pytest.mark.parametrize("case", ["tls-refused", "dialback-error", "dialback-refused", "handshake-timeout"])
def test_check_codes_scripted(dns, tmp_path, made, case):
    """Answers only a scripted peer gives: <failure/> to STARTTLS, a
    dialback error or refusal, and silence after STARTTLS."""
    pki = Pki(str(tmp_path / "pki"))
    from test_federation import set_peers
    aopts = {"limits.handshake_timeout": 3} if case == "handshake-timeout" else {}
    a = ParleyPeer("a.test", dns, pki, options=aopts)
    made.append(a)
    set_peers(a, [{"domain": "s.test", "mode": "plain"}])
    starttls = b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"
    if case == "tls-refused":
        peer = ScriptedPeer(starttls, [b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>"])
    elif case == "dialback-error":
        peer = ScriptedPeer(DB_FEATURES, [b"<db:result from='s.test' to='a.test' type='error'><error type='cancel'>"
                                          b"<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                                          b"</error></db:result>"])
    elif case == "dialback-refused":
        peer = ScriptedPeer(DB_FEATURES, [b"<db:result from='s.test' to='a.test' type='invalid'/>"])
    else:
        peer = ScriptedPeer(starttls)
    publish(dns, "s.test", peer.port)
    try:
        rc, out = check(a, "s.test")
    finally:
        peer.close()
    assert rc == 1, out
    assert re.search(rf"FAIL: {case}: ", out), out
    assert re.search(r"fix: .{20,}", out), out


@pytest.mark.parametrize("case", ["dns-timeout", "dns-servfail"])
def test_check_resolver_failures(dns, tmp_path, made, case):
    """A resolver that never answers (a UDP socket that reads and drops),
    and one that answers SERVFAIL to everything (scripted here)."""
    import socket
    import threading
    pki = Pki(str(tmp_path / "pki"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    port = sock.getsockname()[1]
    done = threading.Event()

    def servfail():
        while not done.is_set():
            try:
                q, addr = sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if case == "dns-servfail" and len(q) >= 12:
                # The query's id and question back, QR=1, RA=1, RCODE=2.
                flags = 0x8000 | (q[2] << 8 & 0x0100) | 0x0080 | 2
                sock.sendto(q[:2] + flags.to_bytes(2, "big") + q[4:6] + b"\0\0\0\0\0\0" + q[12:], addr)

    t = threading.Thread(target=servfail, daemon=True)
    t.start()
    a = ParleyPeer("a.test", dns, pki, options={"s2s.resolver": f"127.0.0.1@{port}", "dns_timeout": 2})
    made.append(a)
    try:
        rc, out = check(a, "p.test")
    finally:
        done.set()
        t.join(timeout=5)
        sock.close()
    assert rc == 1, out
    assert re.search(rf"FAIL: {case}: ", out), out
    assert re.search(r"fix: .{20,}", out), out


@pytest.mark.parametrize("case", ["cert-eku", "dialback-disabled", "stream-closed", "bad-stream", "cert-crl"])
def test_check_more_codes(dns, tmp_path, made, case):
    pki = Pki(str(tmp_path / "pki"))
    ca = pki.ca("root")
    from test_federation import set_peers
    aopts = {"s2s.dialback": False, "s2s.accept_selfsigned": True} if case == "dialback-disabled" else {}
    if case == "cert-crl":
        # A CRL, but none from the peer's issuer: revocation cannot be checked.
        other = pki.ca("other")
        crl = os.path.join(pki.dir, "other.crl")
        pki.ctl("cert", "crl", "--ca", other, "--out", crl)
        aopts = {"s2s.crl_file": crl}
    a = ParleyPeer("a.test", dns, pki, ca=ca, trust=[ca], options=aopts)
    made.append(a)
    peer = None
    if case == "cert-eku":
        # A server certificate fit only for clients.
        p = ProsodyPeer("s.test", dns, pki, ca=ca, trust=[ca],
                        cert=pki.server("s.test", ca, True, "s.clientonly", "--eku", "clientAuth"))
        made.append(p)
        p.start()
    elif case == "dialback-disabled":
        p = ProsodyPeer("s.test", dns, pki)
        made.append(p)
        p.start()
    elif case == "cert-crl":
        p = ProsodyPeer("s.test", dns, pki, ca=ca, trust=[ca])
        made.append(p)
        p.start()
    elif case == "stream-closed":
        set_peers(a, [{"domain": "s.test", "mode": "plain"}])
        peer = ScriptedPeer(b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                            b"</stream:features>", [b"</stream:stream>"])
        publish(dns, "s.test", peer.port)
    elif case == "bad-stream":
        peer = ScriptedPeer(DB_FEATURES, stream_id=None)
        publish(dns, "s.test", peer.port)
    try:
        rc, out = check(a, "s.test")
    finally:
        if peer:
            peer.close()
    assert rc == 1, out
    assert re.search(rf"FAIL: {case}: ", out), out
    assert re.search(r"fix: .{20,}", out), out


@pytest.mark.parametrize("case", ["cert-none", "dialback-unreachable", "dialback-timeout"])
def test_incoming_codes(dns, tmp_path, made, case):
    """Codes of the receiving side: in Parley's log line and in what the
    peer (a raw script here) gets back."""
    from test_federation import set_peers
    from test_s2s_attacker import S2S
    pki = Pki(str(tmp_path / "pki"))
    ca = pki.ca("root")
    aopts = {"s2s.accept_selfsigned": True}
    if case == "dialback-timeout":
        aopts["limits.handshake_timeout"] = 3
    a = ParleyPeer("a.test", dns, pki, ca=ca, trust=[ca], options=aopts if case != "cert-none" else {})
    made.append(a)
    peer = None
    claim = {"cert-none": "b.test", "dialback-unreachable": "gone.test", "dialback-timeout": "s.test"}[case]
    if case == "dialback-unreachable":
        dns.remove("gone.test")
        dns.remove("_xmpp-server._tcp.gone.test")
        dns.add_a("gone.test", "127.0.0.1")
        dns.add_srv("_xmpp-server._tcp", "gone.test", "gone.test", 9)
        dns.restart()
    elif case == "dialback-timeout":
        set_peers(a, [{"domain": "s.test", "mode": "plain"}])
        peer = ScriptedPeer(DB_FEATURES)
        publish(dns, "s.test", peer.port)
    a.start()
    try:
        r = S2S(a.server)
        r.open_stream(frm=claim, to="a.test")
        r.starttls()
        r.open_stream(frm=claim, to="a.test")
        r.send(f"<db:result from='{claim}' to='a.test'>" + "0" * 64 + "</db:result>")
        got = r.expect(rb"<db:result[^>]*type=.error.*?</db:result>", timeout=20).group(0).decode()
    finally:
        if peer:
            peer.close()
    assert f"{case}: " in got, got
    a.server.wait_log(rf"dialback from {re.escape(claim)} for a\.test: refused: {case}: ")
