"""Incoming server-to-server links with TLS + SASL EXTERNAL (issue 8, items
2 and 3(a); XEP-0178 for servers).

A test plays the remote server `remote.example` by hand (Python's ssl and
the raw stream): it connects to the instance's s2s port, opens a
jabber:server stream from remote.example to localhost, upgrades with
STARTTLS presenting a server certificate that `parleyctl cert issue server`
made with a CA the instance trusts for s2s (`parleyctl trust add --store
s2s`, then SIGHUP), authenticates with EXTERNAL and sends a stanza that a
local user must receive.  The must-fail cases check both what the peer got
and the server's log line naming the reason, and that nothing reached the
local user.
"""
import base64
import os
import re
import signal

from certs import CertRaw, Pki, log_mark, wait_log_since
from raw import NS_SASL, Closed, session

REMOTE = "remote.example"
NS_SERVER = "jabber:server"
TIMEOUT = 10.0


def s2s_header(frm=REMOTE, to="localhost"):
    attrs = [f"xmlns='{NS_SERVER}'", "xmlns:stream='http://etherx.jabber.org/streams'",
             "xmlns:db='jabber:server:dialback'", "version='1.0'"]
    if frm is not None:
        attrs.append(f"from='{frm}'")
    if to is not None:
        attrs.append(f"to='{to}'")
    return "<?xml version='1.0'?><stream:stream " + " ".join(attrs) + ">"


class S2S(CertRaw):
    """A remote server's side of an incoming link, by hand."""

    def __init__(self, server, cert=None, key=None, direct_tls=False):
        port = server.s2s_tls_port if direct_tls else server.s2s_port
        super().__init__(port, cert, key, tls=False, cafile=server.cert, timeout=TIMEOUT)
        if direct_tls:
            self._wrap(alpn=["xmpp-server"])

    def open_stream(self, frm=REMOTE, to="localhost"):
        self.send(s2s_header(frm, to))
        head = self.expect(rb"<stream:stream[^>]*>").group(0)
        features = self.expect(rb"<stream:features[^>]*?(?:/>|>.*?</stream:features>)").group(0)
        return head, features

    def tls(self, frm=REMOTE):
        """Header, STARTTLS, header again: the features after TLS."""
        _, features = self.open_stream(frm)
        assert b"<starttls" in features and b"<required/>" in features, features
        self.starttls()
        return self.open_stream(frm)[1]

    def external(self, authzid=None):
        data = base64.b64encode(authzid.encode()).decode() if authzid else "="
        self.send(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>{data}</auth>")
        m = self.expect(rb"<success[^>]*(?:/>|>.*?</success>)|<failure[^>]*>\s*<([a-z-]+)")
        return "success" if m.group(0).startswith(b"<success") else m.group(1).decode()


def mechanisms(features):
    return [m.decode() for m in re.findall(rb"<mechanism>([^<]+)</mechanism>", features)]


def s2s_server(make_server, trust=True, options=None):
    """A started instance whose s2s trust store holds a CA made by
    parleyctl (reloaded with SIGHUP), and that CA's directory."""
    s = make_server(options={"fail_delay_max": 0, **(options or {})})
    s.add_user("alice@localhost")
    pki = Pki(s)
    ca = pki.ca("peers", cn="Peer CA")
    if trust:
        mark = log_mark(s)
        s.ctl("trust", "add", "--store", "s2s", os.path.join(ca, "ca.crt"))
        s.proc.send_signal(signal.SIGHUP)
        wait_log_since(s, mark, r"reloaded the s2s trust store .*: 1 CA certificate")
    return s, pki, ca


def server_cert(pki, domain, ca, name=None, *opts):
    prefix = pki.path(name or domain)
    pki.server.ctl("cert", "issue", "server", domain, "--ca", ca, "--out", prefix, *opts)
    return prefix + ".crt", prefix + ".key"


def alice(s):
    """alice online (available), to see what arrives."""
    a = session(s, "alice", resource="r1")
    a.send("<presence/>")
    return a


def nothing_for(a, marker, wait=1.0):
    try:
        a.expect(marker.encode(), timeout=wait)
    except TimeoutError:
        return
    raise AssertionError(f"{marker} was delivered: {a.received[-2000:]!r}")


def authenticated_link(s, cert, key, **kw):
    r = S2S(s, cert, key, **kw)
    features = r.open_stream()[1] if kw.get("direct_tls") else r.tls()
    assert mechanisms(features) == ["EXTERNAL"], features
    assert r.external() == "success"
    _, features = r.open_stream()
    assert re.fullmatch(rb"<stream:features\s*(/>|></stream:features>)", features), features
    return r


# ---- end to end ----

def test_external_link_delivers_to_a_local_user(make_server):
    s, pki, ca = s2s_server(make_server)
    cert, key = server_cert(pki, REMOTE, ca)
    a = alice(s)
    mark = log_mark(s)
    r = authenticated_link(s, cert, key)
    line = wait_log_since(s, mark, r"link authenticated: direction in, local localhost, remote remote\.example, "
                                   r"method EXTERNAL, TLSv1\.[23]")
    assert "s2s" in line
    r.send(f"<message from='someone@{REMOTE}/x' to='alice@localhost' type='chat' id='m1'>"
           "<body>hello across</body></message>")
    got = a.expect_message("hello across")
    assert b"from='someone@remote.example/x'" in got or b'from="someone@remote.example/x"' in got, got
    # A second stanza on the same link, to the full JID.
    r.send(f"<message from='someone@{REMOTE}' to='{a.jid}' type='chat'><body>again</body></message>")
    a.expect_message("again")
    r.close()
    a.close()


def test_server_auth_only_certificate_and_direct_tls(make_server):
    """A certificate with only the serverAuth EKU (what public CAs issue
    now) is accepted on an incoming link; direct TLS with ALPN xmpp-server
    works like STARTTLS."""
    s, pki, ca = s2s_server(make_server)
    cert, key = server_cert(pki, REMOTE, ca, "srvonly", "--eku", "serverAuth")
    a = alice(s)
    r = authenticated_link(s, cert, key, direct_tls=True)
    r.send(f"<message from='x@{REMOTE}' to='alice@localhost' type='chat'><body>direct</body></message>")
    a.expect_message("direct")
    r.close()
    a.close()


# ---- must fail ----

def test_untrusted_ca_gets_no_external(make_server):
    s, pki, _ = s2s_server(make_server)
    other = pki.ca("other", cn="Other CA")
    cert, key = server_cert(pki, REMOTE, other, "untrusted")
    a = alice(s)
    mark = log_mark(s)
    r = S2S(s, cert, key)
    features = r.tls()
    assert "EXTERNAL" not in mechanisms(features), features
    wait_log_since(s, mark, r"from remote\.example: step TLS: cert-unknown-issuer: certificate not accepted \(.*Other CA.*not in the trust store\); "
                            r"SASL EXTERNAL not offered.*parleyctl trust add --store s2s")
    # Asking anyway is refused.
    assert r.external() == "invalid-mechanism"
    r.send(f"<message from='x@{REMOTE}' to='alice@localhost'><body>sneak1</body></message>")
    assert r.stream_error()[0] == "not-authorized"
    nothing_for(a, "sneak1")
    a.close()


def test_certificate_for_another_name_is_refused(make_server):
    s, pki, ca = s2s_server(make_server)
    cert, key = server_cert(pki, "other.example", ca)
    a = alice(s)
    mark = log_mark(s)
    r = S2S(s, cert, key)
    features = r.tls()
    # It verified, but names another domain: the check comes before the
    # offer, so EXTERNAL is not offered (dialback is, for the policy to
    # judge), and asking for it anyway fails.
    assert mechanisms(features) == [], features
    assert b"urn:xmpp:features:dialback" in features, features
    wait_log_since(s, mark, r"from remote\.example: step TLS: cert-name-mismatch: certificate not accepted \(the certificate does not "
                            r"name the domain\); SASL EXTERNAL not offered; .*s2s\.accept_selfsigned")
    assert r.external() == "invalid-mechanism"
    r.send(f"<message from='x@{REMOTE}' to='alice@localhost'><body>sneak2</body></message>")
    assert r.stream_error()[0] == "not-authorized"
    nothing_for(a, "sneak2")
    a.close()


def test_authzid_must_be_the_stream_domain(make_server):
    s, pki, ca = s2s_server(make_server)
    cert, key = server_cert(pki, REMOTE, ca)
    mark = log_mark(s)
    r = S2S(s, cert, key)
    r.tls()
    assert r.external("user@remote.example") == "invalid-authzid"
    wait_log_since(s, mark, r"refused: the authzid 'user@remote\.example' is not a domain")
    assert r.external("other.example") == "invalid-authzid"
    wait_log_since(s, mark, r"refused: the authzid other\.example differs from the stream header's 'from' "
                            r"remote\.example")
    assert r.external(REMOTE) == "success"
    r.close()


def test_stanza_from_another_domain_is_invalid_from(make_server):
    s, pki, ca = s2s_server(make_server)
    cert, key = server_cert(pki, REMOTE, ca)
    a = alice(s)
    r = authenticated_link(s, cert, key)
    mark = log_mark(s)
    r.send("<message from='mallory@evil.example' to='alice@localhost'><body>sneak3</body></message>")
    cond, text = r.stream_error()
    assert cond == "invalid-from", (cond, text)
    assert "evil.example" in text and "remote.example" in text, text
    wait_log_since(s, mark, r"step stanza: refused \('from' domain evil\.example is not authenticated on this "
                            r"stream \(remote\.example is\)\)")
    nothing_for(a, "sneak3")
    a.close()


def test_stanza_to_a_foreign_domain_is_host_unknown(make_server):
    s, pki, ca = s2s_server(make_server)
    cert, key = server_cert(pki, REMOTE, ca)
    r = authenticated_link(s, cert, key)
    r.send(f"<message from='x@{REMOTE}' to='bob@third.example'><body>relay</body></message>")
    cond, text = r.stream_error()
    assert cond == "host-unknown", (cond, text)


def test_stanza_before_authentication_is_not_authorized(make_server):
    s, pki, ca = s2s_server(make_server)
    cert, key = server_cert(pki, REMOTE, ca)
    a = alice(s)
    r = S2S(s, cert, key)
    r.tls()
    mark = log_mark(s)
    r.send(f"<message from='x@{REMOTE}' to='alice@localhost'><body>sneak4</body></message>")
    cond, _ = r.stream_error()
    assert cond == "not-authorized"
    wait_log_since(s, mark, r"stream error <not-authorized/>: stanzas need authentication first")
    nothing_for(a, "sneak4")
    a.close()


def test_plaintext_after_starttls_ends_the_connection(make_server):
    s, pki, ca = s2s_server(make_server)
    a = alice(s)
    r = S2S(s)
    r.open_stream()
    r.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    r.expect(rb"<proceed[^>]*/>")
    try:
        r.send(f"<message from='x@{REMOTE}' to='alice@localhost'><body>sneak5</body></message>")
        r.read_until_close()
    except (Closed, OSError):
        pass
    assert b"sneak5" not in a.received
    nothing_for(a, "sneak5")
    assert r.closed
    a.close()


def test_auth_before_tls_is_refused(make_server):
    s, pki, ca = s2s_server(make_server)
    r = S2S(s)
    _, features = r.open_stream()
    assert b"<required/>" in features and b"<mechanism>" not in features, features
    mark = log_mark(s)
    r.send(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>=</auth>")
    assert r.stream_error()[0] == "policy-violation"
    wait_log_since(s, mark, r"step SASL: refused before TLS \(s2s\.require_tls = true\)")


def test_unknown_host_and_no_trust_store(make_server):
    """A header for a domain we do not serve gets host-unknown; with an
    empty s2s trust store no certificate is asked for and the log says why."""
    s, pki, ca = s2s_server(make_server, trust=False)
    r = S2S(s)
    r.send(s2s_header(to="nowhere.example"))
    assert r.stream_error()[0] == "host-unknown"
    cert, key = server_cert(pki, REMOTE, ca)
    mark = log_mark(s)
    r = S2S(s, cert, key)
    features = r.tls()
    assert "EXTERNAL" not in mechanisms(features)
    wait_log_since(s, mark, r"no certificate asked for: the s2s trust store \(s2s\.ca\) holds no CA")
    r.close()


def test_shutdown_ends_open_links(make_server):
    """Stopping the server ends an authenticated link and one still
    negotiating with <system-shutdown/>, and exits cleanly."""
    s, pki, ca = s2s_server(make_server)
    cert, key = server_cert(pki, REMOTE, ca)
    ready = authenticated_link(s, cert, key)
    negotiating = S2S(s, cert, key)
    negotiating.tls()
    s.proc.terminate()
    assert ready.stream_error()[0] == "system-shutdown"
    assert negotiating.stream_error()[0] == "system-shutdown"
    s.stop()


def test_server_stanza_limit_is_its_own_setting(make_server):
    """An authenticated server may send stanzas up to s2s.stanza_bytes,
    whatever limits.stanza_bytes allows clients; past it the link ends
    with policy-violation naming the limit."""
    s, pki, ca = s2s_server(make_server, options={"limits.stanza_bytes": 4096, "stanza_bytes_preauth": 2048,
                                                          "s2s.stanza_bytes": 16384})
    cert, key = server_cert(pki, REMOTE, ca)
    a = alice(s)
    r = authenticated_link(s, cert, key)
    big = "x" * 8000  # over the clients' limit, within the servers'
    r.send(f"<message from='someone@{REMOTE}' to='alice@localhost' type='chat'><body>{big}</body></message>")
    a.expect_message(big, timeout=10)
    r.send(f"<message from='someone@{REMOTE}' to='alice@localhost'><body>{'y' * 20000}</body></message>")
    cond, text = r.stream_error()
    assert cond == "policy-violation", (cond, text)
    assert "16384" in text, text
    nothing_for(a, "yyyyyyyy")
    a.close()
