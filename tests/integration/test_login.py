"""Logging in with slixmpp: SASL mechanisms (RFC 6120 §6, RFC 5802, RFC
9266), failures, direct TLS (XEP-0368) and resource binding conflicts
(RFC 6120 §7.7.2.2)."""
import re
import ssl

import pytest

from slix import NS_CLIENT, NS_STREAMS, Client, error_condition, login, online, q, run

NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"


def offered_mechanisms(client):
    """The SASL mechanisms of the last <stream:features/> that had any."""
    offered = None
    for st in client.seen:
        mechs = st.xml.find(q(NS_SASL, "mechanisms"))
        if mechs is not None:
            offered = [m.text for m in mechs.findall(q(NS_SASL, "mechanism"))]
    return offered


def sasl_failures(client):
    """The conditions of the SASL <failure/>s the client received."""
    out = []
    for f in client.events.get("failed_auth", []):
        out += [c.tag.split("}", 1)[1] for c in f.xml if c.tag != q(NS_SASL, "text")]
    return out


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_login_with_mechanism(make_server, mech):
    # The client asks for the mechanism by name, and the server offers it
    # alone (with -PLUS offered, RFC 5802 refuses plain SCRAM's 'y' flag:
    # test_scram_downgrade_refused).
    s = make_server(options={"mechanisms": [mech]})
    s.add_user("alice@localhost")

    async def body():
        c = Client(s, "alice@localhost/desk", mechs=[mech])
        await c.login()
        assert offered_mechanisms(c) == [mech]
        assert c.full == "alice@localhost/desk"
        await c.sync()

    run(body())
    s.wait_log(rf"authenticated as alice@localhost with {re.escape(mech)} from 127\.0\.0\.1:\d+ \(TLSv1\.3\)")


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"])
def test_login_with_channel_binding_on_tls12(make_server, mech):
    # slixmpp binds to tls-unique only, which exists on TLS 1.2 alone
    # (RFC 9266 §3): hold the client to TLS 1.2.
    s = make_server(options={"mechanisms": [mech]})
    s.add_user("alice@localhost")

    async def body():
        c = Client(s, "alice@localhost/desk", mechs=[mech], tls_max=ssl.TLSVersion.TLSv1_2)
        await c.login()
        assert offered_mechanisms(c) == [mech]
        assert c.x.socket.version() == "TLSv1.2"

    run(body())
    s.wait_log(rf"authenticated as alice@localhost with {re.escape(mech)} from 127\.0\.0\.1:\d+ \(TLSv1\.2\)")


@pytest.mark.parametrize("mech,tls_max", [("PLAIN", None),
                                          ("SCRAM-SHA-1-PLUS", ssl.TLSVersion.TLSv1_2),
                                          ("SCRAM-SHA-256-PLUS", ssl.TLSVersion.TLSv1_2)],
                         ids=["PLAIN", "SCRAM-SHA-1-PLUS-tls12", "SCRAM-SHA-256-PLUS-tls12"])
def test_login_by_name_on_default_server(make_server, mech, tls_max):
    # A default instance offers every mechanism; a client that asks for one
    # by name gets it on its first try, and no failure is logged.  (-PLUS:
    # slixmpp binds to tls-unique, which exists on TLS 1.2 alone.)
    s = make_server()
    s.add_user("alice@localhost")

    async def body():
        c = Client(s, "alice@localhost/desk", mechs=[mech], tls_max=tls_max)
        await c.login()
        offered = offered_mechanisms(c)
        assert mech in offered and len(offered) > 1, offered
        await c.sync()

    run(body())
    s.wait_log(rf"authenticated as alice@localhost with {re.escape(mech)} from 127\.0\.0\.1:\d+ ")
    assert "authentication failed" not in s.log()


def test_channel_binding_data_is_checked(make_server):
    # A client that binds to other data than the server's tls-unique (what
    # a man in the middle would present) must fail, or -PLUS proves nothing.
    s = make_server(options={"mechanisms": ["SCRAM-SHA-256-PLUS"]})
    s.add_user("alice@localhost")

    async def body():
        c = Client(s, "alice@localhost/desk", mechs=None, tls_max=ssl.TLSVersion.TLSv1_2)
        mechanisms = c.x["feature_mechanisms"]
        honest = mechanisms.sasl_callback

        def forged(required, optional):
            creds = honest(required, optional)
            if creds.get("channel_binding"):
                creds["channel_binding"] = bytes(len(creds["channel_binding"]))
            return creds

        mechanisms.sasl_callback = forged
        await c.login(expect="failed")
        assert sasl_failures(c) == ["not-authorized"]
        assert not c.had("session_start")

    run(body())
    s.wait_log(r"127\.0\.0\.1:\d+: SASL attempt refused, not counted as a failed login: user=\S+ "
               r"mechanism=SCRAM-SHA-256-PLUS: <not-authorized/> \(channel-binding data that differs")
    assert "authenticated as" not in s.log()


def test_tls_unique_refused_on_tls13(make_server):
    # RFC 9266 §3: tls-unique is undefined for TLS 1.3.
    s = make_server(options={"mechanisms": ["SCRAM-SHA-256-PLUS"]})
    s.add_user("alice@localhost")

    async def body():
        c = Client(s, "alice@localhost/desk", mechs=None)
        await c.login(expect="failed")
        assert c.x.socket.version() == "TLSv1.3"
        assert sasl_failures(c) == ["not-authorized"]

    run(body())
    s.wait_log(r"SASL attempt refused, not counted as a failed login: .* mechanism=SCRAM-SHA-256-PLUS: "
               r"<not-authorized/> \(a channel-binding type this TLS session cannot give: 'tls-unique'")
    assert "authenticated as" not in s.log()


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_scram_downgrade_refused(make_server, mech):
    # On TLS 1.3 with -PLUS offered, slixmpp's plain SCRAM sends the 'y'
    # flag ("I could bind, but the server offers no -PLUS"): the offer was
    # stripped on the way, so RFC 5802 §6 requires failing.
    s = make_server()
    s.add_user("alice@localhost")

    async def body():
        c = Client(s, "alice@localhost/desk", mechs=[mech])
        await c.login(expect="failed")
        offered = offered_mechanisms(c)
        assert mech + "-PLUS" in offered and mech in offered
        assert sasl_failures(c) == ["not-authorized"]

    run(body())
    line = s.wait_log(rf"SASL attempt refused, not counted as a failed login: .* mechanism={re.escape(mech)}: "
                      r"<not-authorized/> \('y' flag")
    assert "remove the -PLUS mechanisms from c2s.mechanisms" in line
    assert "authenticated as" not in s.log()


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-256"])
def test_wrong_password(make_server, mech):
    s = make_server(options={"mechanisms": [mech]})
    s.add_user("alice@localhost")

    async def body():
        c = Client(s, "alice@localhost/desk", "not-the-password", mechs=None)
        await c.login(expect="failed")
        assert sasl_failures(c) == ["not-authorized"]
        assert not c.had("session_start")
        # The account still works with the right password.
        await login(s, "alice@localhost/desk", mechs=None)

    run(body())
    s.wait_log(rf"authentication failed from 127\.0\.0\.1:\d+: user=alice@localhost mechanism={re.escape(mech)}: "
               r"<not-authorized/>")
    s.wait_log(r"authenticated as alice@localhost with")


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-256"])
def test_unknown_user(make_server, mech):
    s = make_server(options={"mechanisms": [mech]})
    s.add_user("alice@localhost")

    async def body():
        c = Client(s, "nobody@localhost/desk", "secret", mechs=None)
        await c.login(expect="failed")
        # Same answer as a wrong password: no account enumeration.
        assert sasl_failures(c) == ["not-authorized"]

    run(body())
    s.wait_log(rf"authentication failed .* mechanism={re.escape(mech)}: <not-authorized/>")
    assert "authenticated as" not in s.log()


def test_direct_tls(make_server):
    s = make_server()
    s.add_user("alice@localhost")

    async def body():
        c = Client(s, "alice@localhost/desk", direct_tls=True)
        await c.login()
        assert c.x.socket.version() in ("TLSv1.2", "TLSv1.3")
        first = c.seen[0]
        assert first.xml.tag == "{http://etherx.jabber.org/streams}features"
        assert first.xml.find(q(NS_TLS, "starttls")) is None, "STARTTLS offered inside TLS"
        assert first.xml.find(q(NS_SASL, "mechanisms")) is not None
        await c.sync()

    run(body())
    s.wait_log(r"TLS established \(TLSv1\.[23], [^)]*direct TLS\)")
    s.wait_log(r"authenticated as alice@localhost with \S+ from 127\.0\.0\.1:\d+ \(TLSv1\.[23]\)")


def test_starttls_required_before_auth(make_server):
    # Before STARTTLS the server offers no mechanisms (c2s.require_tls).
    s = make_server()
    s.add_user("alice@localhost")

    async def body():
        c = Client(s, "alice@localhost/desk")
        await c.login()
        first = c.seen[0]
        assert first.xml.find(q(NS_TLS, "starttls")) is not None
        assert first.xml.find(q(NS_SASL, "mechanisms")) is None

    run(body())


# ---- resource conflicts (RFC 6120 §7.7.2.2) ----

def test_bind_conflict_replace(make_server):
    s = make_server()
    s.add_user("alice@localhost")
    s.add_user("bob@localhost")

    async def body():
        old = await online(s, "alice@localhost/desk")
        new = await login(s, "alice@localhost/desk")
        assert new.full == "alice@localhost/desk"
        await old.wait_event("stream_error")
        err = old.events["stream_error"][0]
        assert err.xml.find(q(NS_STREAMS, "conflict")) is not None, str(err)
        await old.wait_disconnected()
        # The resource now belongs to the new session.
        await new.send_presence()
        bob = await online(s, "bob@localhost/pc")
        bob.send_message("alice@localhost/desk", "to the new one")
        await new.expect(lambda st: st.xml.findtext(q(NS_CLIENT, "body")) == "to the new one")

    run(body())
    s.wait_log(r"alice@localhost/desk replaces session conn=\d+ \(c2s\.resource_conflict = replace\)")


def test_bind_conflict_reject(make_server):
    s = make_server(options={"resource_conflict": "reject"})
    s.add_user("alice@localhost")

    async def body():
        old = await online(s, "alice@localhost/desk")
        new = Client(s, "alice@localhost/desk")
        # The bind response is what counts (slixmpp 1.8.3 just stalls).
        new.connect()
        resp = await new.expect(lambda st: st.xml.tag == q(NS_CLIENT, "iq") and st.xml.get("type") in ("result", "error"))
        assert error_condition(resp) == ("cancel", "conflict"), str(resp)
        # The first session is untouched.
        await old.sync()
        assert not old.had("stream_error") and not old.had("disconnected")

    run(body())
    s.wait_log(r"bind of alice@localhost/desk refused: resource in use \(c2s\.resource_conflict = reject\)")


def test_bind_conflict_rename(make_server):
    s = make_server(options={"resource_conflict": "rename"})
    s.add_user("alice@localhost")

    async def body():
        old = await online(s, "alice@localhost/desk")
        new = await login(s, "alice@localhost/desk")
        assert new.bare == "alice@localhost"
        assert new.full != "alice@localhost/desk" and new.full.startswith("alice@localhost/")
        await new.send_presence()
        await old.sync()
        assert not old.had("stream_error") and not old.had("disconnected")
        # Both are separate resources: each gets what is sent to it.
        old.send_message(new.full, "hello sibling")
        await new.expect(lambda st: st.xml.findtext(q(NS_CLIENT, "body")) == "hello sibling")

    run(body())


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-256"])
def test_foreign_authzid_refused(make_server, mech):
    # DESIGN.md / RFC 6120 §6.4.6: an authzid other than the authenticated
    # identity is refused with <invalid-authzid/>; one's own is accepted.
    s = make_server(options={"mechanisms": [mech]})
    s.add_user("alice@localhost")
    s.add_user("bob@localhost")

    async def body():
        c = Client(s, "alice@localhost/desk", mechs=None)
        c.x.credentials["authzid"] = "bob@localhost"
        await c.login(expect="failed")
        assert sasl_failures(c) == ["invalid-authzid"]
        ok = Client(s, "alice@localhost/desk", mechs=None)
        ok.x.credentials["authzid"] = "alice@localhost"
        await ok.login()
        assert ok.full == "alice@localhost/desk"

    run(body())
    assert "authenticated as bob@localhost" not in s.log()
    s.wait_log(r"authenticated as alice@localhost with " + re.escape(mech))
