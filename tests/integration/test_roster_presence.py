"""Rosters (RFC 6121 §2), subscriptions (§3) and presence (§4), driven
with slixmpp."""
from slix import (NS_ROSTER, befriend, error_condition, iq_push, login, online, presence, q,
                  roster_items, run)


def groups(item):
    return sorted(g.text for g in item.findall(q(NS_ROSTER, "group")))


def push_item(push):
    items = roster_items(push)
    assert len(items) == 1, f"a roster push carries one item: {push}"
    return next(iter(items.values()))


def roster_set(jid, name=None, groups=(), subscription=None):
    attrs = f" jid='{jid}'"
    if name is not None:
        attrs += f" name='{name}'"
    if subscription is not None:
        attrs += f" subscription='{subscription}'"
    inner = "".join(f"<group>{g}</group>" for g in groups)
    return f"<query xmlns='{NS_ROSTER}'><item{attrs}>{inner}</item></query>"


# ---- rosters ----

def test_roster_add_update_remove_with_pushes(server):
    async def body():
        a1 = await login(server, "alice@localhost/one")
        a2 = await login(server, "alice@localhost/two")
        r = await a1.roster()
        assert r.xml.find(q(NS_ROSTER, "query")) is not None
        assert roster_items(r) == {}
        ver0 = r.xml.find(q(NS_ROSTER, "query")).get("ver")
        assert ver0, "the server advertises roster versioning, so a result carries ver (§2.6.3)"
        await a2.roster()  # a2 becomes an interested resource (§2.1.6)

        # add, with a name and groups
        r = await a1.iq("set", roster_set("bob@localhost", "Bob", ["Friends", "Work"]))
        assert r["type"] == "result", str(r)
        for c in (a1, a2):
            push = await c.expect(iq_push(NS_ROSTER))
            assert push.xml.get("from") in (None, "alice@localhost"), "a push comes from the account (§2.1.6)"
            item = push_item(push)
            assert item.get("jid") == "bob@localhost"
            assert item.get("name") == "Bob"
            assert item.get("subscription") == "none"
            assert item.get("ask") is None
            assert groups(item) == ["Friends", "Work"]
            ver1 = push.xml.find(q(NS_ROSTER, "query")).get("ver")
            assert ver1 and ver1 != ver0
        items = roster_items(await a2.roster())
        assert list(items) == ["bob@localhost"]
        assert items["bob@localhost"].get("name") == "Bob"
        assert groups(items["bob@localhost"]) == ["Friends", "Work"]

        # update: new name, one group less
        r = await a2.iq("set", roster_set("bob@localhost", "Robert", ["Work"]))
        assert r["type"] == "result", str(r)
        for c in (a1, a2):
            item = push_item(await c.expect(iq_push(NS_ROSTER)))
            assert item.get("name") == "Robert"
            assert groups(item) == ["Work"]
        items = roster_items(await a1.roster())
        assert items["bob@localhost"].get("name") == "Robert"
        assert groups(items["bob@localhost"]) == ["Work"]

        # remove
        r = await a1.iq("set", roster_set("bob@localhost", subscription="remove"))
        assert r["type"] == "result", str(r)
        for c in (a1, a2):
            item = push_item(await c.expect(iq_push(NS_ROSTER)))
            assert item.get("jid") == "bob@localhost"
            assert item.get("subscription") == "remove"
        assert roster_items(await a1.roster()) == {}
        # Removing what is not there: item-not-found (§2.5.3).
        r = await a1.iq("set", roster_set("bob@localhost", subscription="remove"))
        assert error_condition(r) == ("modify", "item-not-found"), str(r)

    run(body())


def test_roster_persists_and_versioning(server):
    async def body():
        a = await login(server, "alice@localhost/one")
        r = await a.iq("set", roster_set("carol@localhost", "Carol", ["Team"]))
        assert r["type"] == "result"
        await a.close()

        a = await login(server, "alice@localhost/one")
        full = await a.roster()
        ver = full.xml.find(q(NS_ROSTER, "query")).get("ver")
        items = roster_items(full)
        assert list(items) == ["carol@localhost"] and items["carol@localhost"].get("name") == "Carol"

        # RFC 6121 §2.6.3: with the current version, an empty result.
        same = await a.roster(ver=ver)
        assert same.xml.find(q(NS_ROSTER, "query")) is None, f"expected an empty result: {same}"
        # An old (or unknown) version gets the whole roster.
        stale = await a.roster(ver="0" if ver != "0" else "1")
        assert list(roster_items(stale)) == ["carol@localhost"]
        assert stale.xml.find(q(NS_ROSTER, "query")).get("ver") == ver
        # A change moves the version on, and the old one becomes stale.
        await a.iq("set", roster_set("bob@localhost", "Bob"))
        newer = await a.roster(ver=ver)
        assert sorted(roster_items(newer)) == ["bob@localhost", "carol@localhost"]
        assert newer.xml.find(q(NS_ROSTER, "query")).get("ver") != ver

    run(body())


def test_roster_of_another_account_is_forbidden(server):
    async def body():
        b = await login(server, "bob@localhost/pc")
        r = await b.iq("get", f"<query xmlns='{NS_ROSTER}'/>", to="alice@localhost")
        assert error_condition(r) in (("auth", "forbidden"), ("cancel", "service-unavailable")), str(r)
        assert roster_items(r) == {}

    run(body())


# ---- subscriptions ----

def test_subscription_handshake(server):
    # Regression: presence.c read the subscribed stanza after router_route
    # had taken (and, on one worker, freed) it, so the approver's presence
    # (§3.1.5) was lost depending on what reused the arena.
    async def body():
        a = await online(server, "alice@localhost/a")
        b = await online(server, "bob@localhost/b")
        await a.roster()
        await b.roster()

        # alice asks (§3.1.2): her roster shows ask='subscribe'
        await a.send_presence(pto="bob@localhost", ptype="subscribe", sync=False)
        item = push_item(await a.expect(iq_push(NS_ROSTER)))
        assert (item.get("jid"), item.get("subscription"), item.get("ask")) == ("bob@localhost", "none", "subscribe")
        # bob gets the request from alice's bare JID (§3.1.3)
        await b.expect(presence(frm="alice@localhost", type_="subscribe"))

        # bob approves (§3.1.5): from for him, to for her, and his presence
        await b.send_presence(pto="alice@localhost", ptype="subscribed", sync=False)
        item = push_item(await b.expect(iq_push(NS_ROSTER)))
        assert (item.get("jid"), item.get("subscription")) == ("alice@localhost", "from")
        await a.expect(presence(frm="bob@localhost", type_="subscribed"))
        item = push_item(await a.expect(iq_push(NS_ROSTER)))
        assert (item.get("jid"), item.get("subscription"), item.get("ask")) == ("bob@localhost", "to", None)
        await a.expect(presence(frm="bob@localhost/b", type_="available"))

        # and the other way: both
        await b.send_presence(pto="alice@localhost", ptype="subscribe", sync=False)
        await a.expect(presence(frm="bob@localhost", type_="subscribe"))
        await a.send_presence(pto="bob@localhost", ptype="subscribed", sync=False)
        await b.expect(presence(frm="alice@localhost", type_="subscribed"))
        await b.expect(presence(frm="alice@localhost/a", type_="available"))

        ra = roster_items(await a.roster())
        rb = roster_items(await b.roster())
        assert ra["bob@localhost"].get("subscription") == "both" and ra["bob@localhost"].get("ask") is None
        assert rb["alice@localhost"].get("subscription") == "both" and rb["alice@localhost"].get("ask") is None

    run(body())


def test_subscription_request_to_offline_contact(server):
    # The request waits for bob and is delivered when he comes online
    # (RFC 6121 §3.1.3: the server MUST keep it and deliver it later).
    async def body():
        a = await online(server, "alice@localhost/a")
        await a.send_presence(pto="bob@localhost", ptype="subscribe")
        b = await online(server, "bob@localhost/b")
        await b.expect(presence(frm="alice@localhost", type_="subscribe"))
        await b.send_presence(pto="alice@localhost", ptype="subscribed", sync=False)
        await a.expect(presence(frm="bob@localhost", type_="subscribed"))
        await a.expect(presence(frm="bob@localhost/b", type_="available"))

    run(body())


def test_unsubscribe(server):
    async def body():
        a = await online(server, "alice@localhost/a")
        b = await online(server, "bob@localhost/b")
        await befriend(a, b)
        await a.roster()
        await b.roster()
        # alice no longer wants bob's presence (§3.3)
        await a.send_presence(pto="bob@localhost", ptype="unsubscribe", sync=False)
        assert push_item(await a.expect(iq_push(NS_ROSTER))).get("subscription") == "from"
        await b.expect(presence(frm="alice@localhost", type_="unsubscribe"))
        assert push_item(await b.expect(iq_push(NS_ROSTER))).get("subscription") == "to"
        # §3.3.3: bob's server sends unavailable from bob's resources
        # (regression: it did not)
        await a.expect(presence(frm="bob@localhost/b", type_="unavailable"))
        # and bob's presence no longer reaches alice, while hers reaches him
        await b.send_presence(status="after unsubscribe")
        await a.send_presence(status="still visible")
        await b.expect(presence(frm="alice@localhost/a", status="still visible"))
        await a.sync()
        assert not a.pending(presence(frm="bob@localhost/b", status="after unsubscribe"))

    run(body())


def test_unsubscribed(server):
    async def body():
        a = await online(server, "alice@localhost/a")
        b = await online(server, "bob@localhost/b")
        await befriend(a, b)
        await a.roster()
        await b.roster()
        # bob cancels alice's subscription to him (§3.2)
        await b.send_presence(pto="alice@localhost", ptype="unsubscribed", sync=False)
        assert push_item(await b.expect(iq_push(NS_ROSTER))).get("subscription") == "to"
        await a.expect(presence(frm="bob@localhost", type_="unsubscribed"))
        assert push_item(await a.expect(iq_push(NS_ROSTER))).get("subscription") == "from"
        # §3.2.2: alice learns bob is unavailable to her now
        await a.expect(presence(frm="bob@localhost/b", type_="unavailable"))

    run(body())


# ---- presence ----

def test_own_presence_is_echoed(server):
    # RFC 6121 §4.2.2 and §4.4.2: presence goes to all of the user's
    # available resources, the sending one included.  Regression: the
    # sending resource was skipped.
    async def body():
        a1 = await online(server, "alice@localhost/one")
        await a1.expect(presence(frm="alice@localhost/one", type_="available"))
        a2 = await login(server, "alice@localhost/two")
        await a2.send_presence(status="second")
        await a2.expect(presence(frm="alice@localhost/two", status="second"))
        await a1.expect(presence(frm="alice@localhost/two", status="second"))
        # §4.4.2: the new resource learns of its sibling
        await a2.expect(presence(frm="alice@localhost/one", type_="available"))
        await a1.send_presence(status="away now")
        await a1.expect(presence(frm="alice@localhost/one", status="away now"))
        await a2.expect(presence(frm="alice@localhost/one", status="away now"))

    run(body())


def test_presence_broadcast_and_unavailable_on_disconnect(server):
    async def body():
        a = await online(server, "alice@localhost/a")
        b = await online(server, "bob@localhost/b")
        c = await online(server, "carol@localhost/c")
        await befriend(a, b)
        # broadcast of an update goes to subscribed contacts only (§4.4)
        await a.send_presence(status="in a meeting")
        p = await b.expect(presence(frm="alice@localhost/a", status="in a meeting"))
        assert p.xml.get("to") in ("bob@localhost", "bob@localhost/b")
        # carol, who is not subscribed, gets nothing.  alice's worker made
        # every copy of the broadcast before bob's arrived, and carol's
        # round trip comes after that.
        await c.sync()
        assert not c.pending(presence(frm="alice@localhost/a"))
        # unavailable on disconnect (§4.5.2 via §4.6)
        await a.close()
        await b.expect(presence(frm="alice@localhost/a", type_="unavailable"))

    run(body())


def test_presence_probe_when_contact_logs_in_later(server):
    async def body():
        a = await online(server, "alice@localhost/a")
        b = await online(server, "bob@localhost/b")
        await befriend(a, b)
        await b.close()
        await a.expect(presence(frm="bob@localhost/b", type_="unavailable"))
        await a.send_presence(status="waiting for bob")
        # bob comes back: his server probes alice (§4.3) and her current
        # presence comes back; alice gets bob's initial presence (§4.2)
        b = await online(server, "bob@localhost/b2")
        p = await b.expect(presence(frm="alice@localhost/a", type_="available"))
        assert p.xml.findtext("{jabber:client}status") == "waiting for bob"
        await a.expect(presence(frm="bob@localhost/b2", type_="available"))

    run(body())


def test_directed_presence_and_unavailable(server):
    # RFC 6121 §4.6: directed presence to a non-contact; it gets unavailable
    # when the sender goes offline.
    async def body():
        a = await online(server, "alice@localhost/a")
        c = await online(server, "carol@localhost/c")
        await a.send_presence(pto="carol@localhost/c", status="just for you", sync=False)
        await c.expect(presence(frm="alice@localhost/a", status="just for you"))
        await a.close()
        await c.expect(presence(frm="alice@localhost/a", type_="unavailable"))

    run(body())


def test_subscribe_to_nonexistent_account(server):
    # RFC 6121 §3.1.3: no such contact: the server answers "unsubscribed".
    async def body():
        a = await online(server, "alice@localhost/a")
        await a.send_presence(pto="nobody@localhost", ptype="subscribe", sync=False)
        await a.expect(presence(frm="nobody@localhost", type_="unsubscribed"))

    run(body())


def test_pre_approval(server):
    # RFC 6121 §3.4: alice approves bob before he asks; his request is
    # then answered by the server at once.
    async def body():
        a = await online(server, "alice@localhost/a")
        await a.roster()
        await a.send_presence(pto="bob@localhost", ptype="subscribed", sync=False)
        item = push_item(await a.expect(iq_push(NS_ROSTER)))
        assert (item.get("jid"), item.get("subscription"), item.get("approved")) == ("bob@localhost", "none", "true")
        b = await online(server, "bob@localhost/b")
        await b.send_presence(pto="alice@localhost", ptype="subscribe", sync=False)
        await b.expect(presence(frm="alice@localhost", type_="subscribed"))
        await b.expect(presence(frm="alice@localhost/a", type_="available"))
        item = push_item(await a.expect(iq_push(NS_ROSTER)))
        assert (item.get("subscription"), item.get("approved")) == ("from", None)
        # the request itself is not shown to alice: it was already approved
        await a.sync()
        assert not a.pending(presence(frm="bob@localhost", type_="subscribe"))

    run(body())


def test_roster_remove_cancels_subscriptions(server):
    # RFC 6121 §2.5.2: removing a contact with a subscription sends
    # unsubscribe and unsubscribed on the user's behalf.
    async def body():
        a = await online(server, "alice@localhost/a")
        b = await online(server, "bob@localhost/b")
        await befriend(a, b)
        await b.roster()
        r = await a.iq("set", roster_set("bob@localhost", subscription="remove"))
        assert r["type"] == "result", str(r)
        await b.expect(presence(frm="alice@localhost", type_="unsubscribe"))
        await b.expect(presence(frm="alice@localhost", type_="unsubscribed"))
        await b.expect(presence(frm="alice@localhost/a", type_="unavailable"))
        # bob's roster keeps alice, with no subscription left (his server
        # changed it before delivering the presence that said so)
        items = roster_items(await b.roster())
        assert items["alice@localhost"].get("subscription") == "none", str(items)

    run(body())
