"""What the server and accounts answer: disco#info (XEP-0030), ping
(XEP-0199), software version (XEP-0092), vCard-temp (XEP-0054), private
XML storage (XEP-0049) and blocking (XEP-0191), driven with slixmpp."""
import asyncio
import re

from slix import (NS_BLOCKING, NS_CLIENT, NS_DISCO_INFO, NS_PING, NS_PRIVATE, NS_VCARD, NS_VERSION,
                  befriend, error_condition, iq_push, login, message, online, presence, q, run)

NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"
DISCO = f"<query xmlns='{NS_DISCO_INFO}'/>"


def identities(r):
    return [(i.get("category"), i.get("type")) for i in r.xml.iter(q(NS_DISCO_INFO, "identity"))]


def features(r):
    return {f.get("var") for f in r.xml.iter(q(NS_DISCO_INFO, "feature"))}


# ---- disco, ping, version ----

def test_disco_info_server(server):
    async def body():
        a = await login(server, "alice@localhost/a")
        r = await a.iq("get", DISCO, to="localhost")
        assert r["type"] == "result", str(r)
        assert r.xml.get("from") == "localhost"
        assert ("server", "im") in identities(r)
        f = features(r)
        for var in (NS_DISCO_INFO, NS_PING, NS_VCARD, NS_BLOCKING, NS_VERSION):
            assert var in f, f"{var} missing from {sorted(f)}"
        # A node the server does not have.
        r = await a.iq("get", f"<query xmlns='{NS_DISCO_INFO}' node='no-such-node'/>", to="localhost")
        assert error_condition(r) == ("cancel", "item-not-found"), str(r)

    run(body())


def test_disco_info_account(server):
    async def body():
        a = await login(server, "alice@localhost/a")
        r = await a.iq("get", DISCO, to="bob@localhost")
        assert r["type"] == "result", str(r)
        assert r.xml.get("from") == "bob@localhost"
        assert ("account", "registered") in identities(r)
        assert NS_DISCO_INFO in features(r)
        # an account that does not exist
        r = await a.iq("get", DISCO, to="nobody@localhost")
        assert error_condition(r) == ("cancel", "service-unavailable"), str(r)

    run(body())


def test_ping_server(server):
    async def body():
        a = await login(server, "alice@localhost/a")
        r = await a.iq("get", f"<ping xmlns='{NS_PING}'/>", to="localhost")
        assert r["type"] == "result" and r.xml.get("from") == "localhost", str(r)
        assert len(r.xml) == 0, "a ping result is empty (XEP-0199 §4.2)"
        # an iq the server does not understand: service-unavailable (RFC 6120 §8.4)
        r = await a.iq("get", "<query xmlns='urn:example:nothing'/>", to="localhost")
        assert error_condition(r) == ("cancel", "service-unavailable"), str(r)

    run(body())


def test_software_version(server):
    async def body():
        a = await login(server, "alice@localhost/a")
        r = await a.iq("get", f"<query xmlns='{NS_VERSION}'/>", to="localhost")
        assert r["type"] == "result", str(r)
        query = r.xml.find(q(NS_VERSION, "query"))
        return query.findtext(q(NS_VERSION, "name")), query.findtext(q(NS_VERSION, "version"))

    name, version = run(body())
    started = server.wait_log(r"parleyd \S+ started")
    assert name == "Parley"
    assert version and version == re.search(r"parleyd (\S+) started", started).group(1)


def test_software_version_off(make_server):
    s = make_server(options={"version_reply": False})
    s.add_user("alice@localhost")

    async def body():
        a = await login(s, "alice@localhost/a")
        r = await a.iq("get", f"<query xmlns='{NS_VERSION}'/>", to="localhost")
        assert error_condition(r) == ("cancel", "service-unavailable"), str(r)
        assert r.xml.find(f".//{q(NS_VERSION, 'version')}") is None
        r = await a.iq("get", DISCO, to="localhost")
        assert NS_VERSION not in features(r)

    run(body())


# ---- vCard-temp ----

VCARD = (f"<vCard xmlns='{NS_VCARD}'><FN>Alice Liddell</FN><NICKNAME>ali</NICKNAME>"
         "<EMAIL><INTERNET/><USERID>alice@example.org</USERID></EMAIL></vCard>")


def test_vcard_set_and_get(server):
    async def body():
        a = await login(server, "alice@localhost/a")
        r = await a.iq("set", VCARD)
        assert r["type"] == "result", str(r)
        # own vCard: no 'to'
        r = await a.iq("get", f"<vCard xmlns='{NS_VCARD}'/>")
        card = r.xml.find(q(NS_VCARD, "vCard"))
        assert card is not None and card.findtext(q(NS_VCARD, "FN")) == "Alice Liddell"
        assert card.findtext(f"{q(NS_VCARD, 'EMAIL')}/{q(NS_VCARD, 'USERID')}") == "alice@example.org"
        # another user reads it at alice's bare JID (XEP-0054 §3.2)
        b = await login(server, "bob@localhost/b")
        r = await b.iq("get", f"<vCard xmlns='{NS_VCARD}'/>", to="alice@localhost")
        assert r["type"] == "result" and r.xml.get("from") == "alice@localhost", str(r)
        card = r.xml.find(q(NS_VCARD, "vCard"))
        assert card.findtext(q(NS_VCARD, "NICKNAME")) == "ali"
        # but cannot change it
        r = await b.iq("set", f"<vCard xmlns='{NS_VCARD}'><FN>Mallory</FN></vCard>", to="alice@localhost")
        assert error_condition(r) is not None and r["type"] == "error", str(r)
        r = await a.iq("get", f"<vCard xmlns='{NS_VCARD}'/>")
        assert r.xml.find(q(NS_VCARD, "vCard")).findtext(q(NS_VCARD, "FN")) == "Alice Liddell"
        # an update replaces the whole vCard
        r = await a.iq("set", f"<vCard xmlns='{NS_VCARD}'><FN>Alice L.</FN></vCard>")
        assert r["type"] == "result"
        r = await b.iq("get", f"<vCard xmlns='{NS_VCARD}'/>", to="alice@localhost")
        card = r.xml.find(q(NS_VCARD, "vCard"))
        assert card.findtext(q(NS_VCARD, "FN")) == "Alice L." and card.find(q(NS_VCARD, "NICKNAME")) is None

    run(body())


# ---- private XML storage ----

def test_private_storage(server):
    bookmarks = ("<storage xmlns='storage:bookmarks'><conference jid='room@conference.localhost' "
                 "name='The room' autojoin='true'><nick>ali</nick></conference></storage>")

    async def body():
        a = await login(server, "alice@localhost/a")
        r = await a.iq("set", f"<query xmlns='{NS_PRIVATE}'>{bookmarks}</query>")
        assert r["type"] == "result", str(r)
        # from another session of the account
        a2 = await login(server, "alice@localhost/other")
        r = await a2.iq("get", f"<query xmlns='{NS_PRIVATE}'><storage xmlns='storage:bookmarks'/></query>")
        assert r["type"] == "result", str(r)
        conf = r.xml.find(f"{q(NS_PRIVATE, 'query')}/{q('storage:bookmarks', 'storage')}/"
                          f"{q('storage:bookmarks', 'conference')}")
        assert conf is not None, str(r)
        assert conf.get("jid") == "room@conference.localhost" and conf.findtext(q("storage:bookmarks", "nick")) == "ali"
        # a namespace never stored comes back empty
        r = await a.iq("get", f"<query xmlns='{NS_PRIVATE}'><prefs xmlns='urn:example:prefs'/></query>")
        el = r.xml.find(f"{q(NS_PRIVATE, 'query')}/{q('urn:example:prefs', 'prefs')}")
        assert el is not None and len(el) == 0, str(r)
        # jabber:iq:private itself cannot be stored (XEP-0049 §3)
        r = await a.iq("set", f"<query xmlns='{NS_PRIVATE}'><query xmlns='{NS_PRIVATE}'/></query>")
        assert error_condition(r) == ("modify", "not-acceptable"), str(r)
        # nobody else can read it
        b = await login(server, "bob@localhost/b")
        r = await b.iq("get", f"<query xmlns='{NS_PRIVATE}'><storage xmlns='storage:bookmarks'/></query>",
                       to="alice@localhost")
        assert r["type"] == "error", str(r)
        assert r.xml.find(f".//{q('storage:bookmarks', 'conference')}") is None

    run(body())


# ---- blocking ----

def blocklist(r):
    return sorted(i.get("jid") for i in r.xml.iter(q(NS_BLOCKING, "item")))


def test_block_and_unblock(server):
    async def body():
        a = await online(server, "alice@localhost/a")
        a2 = await online(server, "alice@localhost/a2")
        b = await online(server, "bob@localhost/b")
        await befriend(a, b)
        await a2.expect(presence(frm="bob@localhost/b", type_="available"))
        for c in (a, a2):
            r = await c.iq("get", f"<blocklist xmlns='{NS_BLOCKING}'/>")
            assert r["type"] == "result" and blocklist(r) == [], str(r)

        # block: a result, and a push to every resource that asked (§3.3)
        r = await a.iq("set", f"<block xmlns='{NS_BLOCKING}'><item jid='bob@localhost'/></block>")
        assert r["type"] == "result", str(r)
        for c in (a, a2):
            push = await c.expect(iq_push(NS_BLOCKING, "block"))
            assert blocklist(push) == ["bob@localhost"]
        # bob is subscribed, so he sees alice go offline (§3.3)
        await b.expect(presence(frm="alice@localhost/a", type_="unavailable"))
        await b.expect(presence(frm="alice@localhost/a2", type_="unavailable"))
        r = await a2.iq("get", f"<blocklist xmlns='{NS_BLOCKING}'/>")
        assert blocklist(r) == ["bob@localhost"]

        # bob's messages are refused (§3.5) ...
        mid = b.send_message("alice@localhost", "can you hear me?")
        err = await b.expect(message(type_="error"))
        assert err.xml.get("id") == mid
        assert error_condition(err) == ("cancel", "service-unavailable"), str(err)
        # ... and not delivered: alice's round trip passes her worker after
        # the decision that made bob's error.
        await a.sync()
        await a2.sync()
        assert not a.pending(message(frm="bob@localhost/b")) and not a2.pending(message(frm="bob@localhost/b"))
        # alice cannot write to him either, and is told why (§3.4)
        mid = a.send_message("bob@localhost", "hello?")
        err = await a.expect(message(type_="error"))
        assert err.xml.get("id") == mid
        assert error_condition(err) == ("cancel", "not-acceptable"), str(err)
        assert err.xml.find(f"{q(NS_CLIENT, 'error')}/{q(NS_BLOCKING_ERRORS, 'blocked')}") is not None, str(err)

        # unblock: pushes, presence comes back, messages pass
        r = await a.iq("set", f"<unblock xmlns='{NS_BLOCKING}'><item jid='bob@localhost'/></unblock>")
        assert r["type"] == "result", str(r)
        for c in (a, a2):
            push = await c.expect(iq_push(NS_BLOCKING, "unblock"))
            assert blocklist(push) == ["bob@localhost"]
        await b.expect(presence(frm="alice@localhost/a", type_="available"))
        r = await a.iq("get", f"<blocklist xmlns='{NS_BLOCKING}'/>")
        assert blocklist(r) == []
        b.send_message("alice@localhost/a", "better now")
        await a.expect(message(frm="bob@localhost/b", body="better now"))

    run(body())


def test_block_list_persists(server):
    async def body():
        a = await login(server, "alice@localhost/a")
        r = await a.iq("set", f"<block xmlns='{NS_BLOCKING}'><item jid='carol@localhost'/>"
                              f"<item jid='spam.example'/></block>")
        assert r["type"] == "result", str(r)
        await a.close()
        # while alice is offline, carol's message is refused too
        c = await online(server, "carol@localhost/c")
        c.send_message("alice@localhost", "stored?")
        err = await c.expect(message(type_="error"))
        assert error_condition(err) == ("cancel", "service-unavailable"), str(err)
        a = await online(server, "alice@localhost/a")
        assert not a.pending(message(body="stored?")), "a blocked message was stored offline"
        r = await a.iq("get", f"<blocklist xmlns='{NS_BLOCKING}'/>")
        assert blocklist(r) == ["carol@localhost", "spam.example"]
        # unblock all (no items)
        r = await a.iq("set", f"<unblock xmlns='{NS_BLOCKING}'/>")
        assert r["type"] == "result", str(r)
        r = await a.iq("get", f"<blocklist xmlns='{NS_BLOCKING}'/>")
        assert blocklist(r) == []

    run(body())


def test_blocked_contact_gets_no_presence_broadcast(server):
    # XEP-0191 §3.3: once blocked, a contact gets no presence from the
    # user, subscription or not; broadcasts skip them.  Regression: the
    # broadcast went to every subscribed contact, blocked or not.
    async def body():
        a = await online(server, "alice@localhost/a")
        b = await online(server, "bob@localhost/b")
        await befriend(a, b)
        r = await a.iq("set", f"<block xmlns='{NS_BLOCKING}'><item jid='bob@localhost'/></block>")
        assert r["type"] == "result", str(r)
        await b.expect(presence(frm="alice@localhost/a", type_="unavailable"))
        await a.send_presence(status="while blocked")
        r = await a.iq("set", f"<unblock xmlns='{NS_BLOCKING}'><item jid='bob@localhost'/></unblock>")
        assert r["type"] == "result", str(r)
        # Unblocking sends alice's current presence once (§3.3).  Everything
        # alice's worker routes to bob arrives in order, so once the next
        # update is there, a leaked broadcast would be too.
        await a.send_presence(status="after unblock")
        await b.expect(presence(frm="alice@localhost/a", status="after unblock"))
        leaked = b.pending(presence(frm="alice@localhost/a", status="while blocked"))
        assert len(leaked) == 1, f"bob got alice's presence while blocked: {[str(p) for p in leaked]}"

    run(body())


def test_iq_routing_between_clients(server):
    # RFC 6121 §8.5.3.1 / §8.5.3.2.1: an iq to a full JID goes to that
    # resource, and to a resource that is not there it bounces.
    async def body():
        a = await login(server, "alice@localhost/a")
        b = await login(server, "bob@localhost/b")
        pending = asyncio.ensure_future(b.iq("get", f"<ping xmlns='{NS_PING}'/>", to="alice@localhost/a"))
        req = await a.expect(lambda st: st.xml.tag == q(NS_CLIENT, "iq") and st.xml.get("type") == "get")
        assert req.xml.get("from") == "bob@localhost/b"
        a.send_xml(f"<iq xmlns='jabber:client' type='result' id='{req.xml.get('id')}' to='bob@localhost/b'/>")
        r = await pending
        assert r["type"] == "result" and r.xml.get("from") == "alice@localhost/a", str(r)
        r = await b.iq("get", f"<ping xmlns='{NS_PING}'/>", to="alice@localhost/elsewhere")
        assert error_condition(r) == ("cancel", "service-unavailable"), str(r)

    run(body())
