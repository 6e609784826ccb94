"""Shared groups (issue 10, first part): every member of a shared group
has every other member on its roster with subscription both, under the
group's label, without any subscription request; presence flows among
members as they log in; a shared contact cannot be removed by the user.
Stock slixmpp clients at their defaults, 1 and 2 workers."""
import asyncio
import time

import pytest

from federation import Session, _run
from parley import Server

PW = "pw"
N = 50


@pytest.fixture(params=[1, 2], ids=["1worker", "2workers"])
def server(request):
    s = Server(workers=request.param)
    for i in range(N):
        s.add_user(f"node{i}@localhost", PW)
    s.add_user("outsider@localhost", PW)
    s.ctl("group", "create", "net1", "--shared", "--label", "Overlay 1")
    s.ctl("group", "add", "net1", *[f"node{i}@localhost" for i in range(N)])
    s.start()
    yield s
    s.stop()


def test_members_see_each_other_and_exchange_signalling(server):
    where = ("127.0.0.1", server.port)

    async def run(sessions):
        nodes = [Session(f"node{i}@localhost", PW, where, server.cert) for i in range(N)]
        sessions += nodes
        t0 = time.monotonic()
        await asyncio.gather(*(n.login() for n in nodes))
        for n in nodes:
            n.presence()
        # Each node sees every other node's available presence.
        for i, n in enumerate(nodes):
            others = {f"node{k}@localhost" for k in range(N) if k != i}

            def seen(n=n, others=others):
                got = {str(st["from"].bare) for st in n.stanzas if st.name == "presence" and st["type"] in ("", "available")}
                return others <= got
            assert await n.until(seen, 60), f"node{i} did not see all {N - 1} others"
        presence_s = time.monotonic() - t0
        # The roster: every other member, subscription both, the label.
        roster = nodes[0].x.client_roster
        items = {jid: roster[jid] for jid in roster if jid != "node0@localhost"}
        assert len(items) == N - 1, len(items)
        for jid, item in items.items():
            assert item["subscription"] == "both", (jid, item["subscription"])
            assert "Overlay 1" in item["groups"], (jid, item["groups"])
        # Signalling messages: each node to the next, each checked.
        for i, n in enumerate(nodes):
            n.x.send_message(mto=f"node{(i + 1) % N}@localhost", mbody=f"candidate {i}", mtype="chat")
        for i, n in enumerate(nodes):
            frm = f"node{(i - 1) % N}@localhost"
            assert await n.until(lambda n=n, frm=frm, i=i: n.got("message", frm, f"candidate {(i - 1) % N}"), 30)
        return presence_s

    took = _run(run, 180)
    assert took < 60, took


def test_shared_contact_cannot_be_removed_and_outsiders_are_not_shared(server):
    where = ("127.0.0.1", server.port)

    async def run(sessions):
        a = Session("node0@localhost", PW, where, server.cert)
        o = Session("outsider@localhost", PW, where, server.cert)
        sessions += [a, o]
        await asyncio.gather(a.login(), o.login())
        assert "node1@localhost" in a.x.client_roster
        assert "node1@localhost" not in o.x.client_roster
        assert "outsider@localhost" not in a.x.client_roster
        iq = a.x.Iq()
        iq["type"] = "set"
        iq["roster"]["items"] = {"node1@localhost": {"subscription": "remove"}}
        try:
            await iq.send(timeout=10)
            return None
        except Exception as e:  # slixmpp raises IqError for an error reply
            return getattr(e, "iq", None)

    err = _run(run, 60)
    assert err is not None, "removing a shared contact was accepted"
    assert err["error"]["condition"] == "not-allowed", err
    assert "shared group" in err["error"]["text"], err


def test_members_only_network(server):
    """A members-only group: members talk among themselves; a message to
    or from anyone else is refused with <not-allowed/> naming the policy;
    an outsider's subscription request or probe reaches nobody."""
    server.add_user("m0@localhost", PW)
    server.add_user("m1@localhost", PW)
    server.ctl("group", "create", "net2", "--members-only")
    server.ctl("group", "add", "net2", "m0@localhost", "m1@localhost")
    where = ("127.0.0.1", server.port)

    async def run(sessions):
        m0 = Session("m0@localhost", PW, where, server.cert)
        m1 = Session("m1@localhost", PW, where, server.cert)
        o = Session("outsider@localhost", PW, where, server.cert)
        for s in (m0, m1, o):
            s.x.add_event_handler("message_error", s._stanza)
        sessions += [m0, m1, o]
        await asyncio.gather(m0.login(), m1.login(), o.login())
        for s in (m0, m1, o):
            s.presence()
        m0.x.send_message(mto="m1@localhost", mbody="inside", mtype="chat")
        assert await m1.until(lambda: m1.got("message", "m0@localhost", "inside"), 10)
        m0.x.send_message(mto="outsider@localhost", mbody="leak", mtype="chat")
        o.x.send_message(mto="m0@localhost", mbody="intrude", mtype="chat")
        o.presence(to="m0@localhost", ptype="subscribe")
        o.presence(to="m0@localhost", ptype="probe")

        def error_for(s, to):
            return next((st for st in s.stanzas if st.name == "message" and st["type"] == "error"
                         and str(st["from"].bare) == to), None)
        e1 = await m0.until(lambda: error_for(m0, "outsider@localhost"), 10)
        e2 = await o.until(lambda: error_for(o, "m0@localhost"), 10)
        await asyncio.sleep(1)
        assert not o.got("message", "m0@localhost", "leak")
        assert not m0.got("message", "outsider@localhost", "intrude")
        assert not m0.got("presence", "outsider@localhost"), "an outsider's presence reached a member"
        assert not o.got("presence", "m0@localhost"), "a member's presence reached an outsider"
        return e1, e2

    e1, e2 = _run(run, 90)
    for e in (e1, e2):
        assert e is not None and e["error"]["condition"] == "not-allowed", e
        assert "members-only network" in e["error"]["text"], e


def test_two_groups_share_one_member(server):
    """bridge is in two shared groups: it sees both groups' members (one
    contact in both appears once, with both labels); the others see only
    their own group."""
    for u in ("bridge", "a1", "b1", "both"):
        server.add_user(f"{u}@localhost", PW)
    server.ctl("group", "create", "ga", "--shared", "--label", "Net A")
    server.ctl("group", "create", "gb", "--shared", "--label", "Net B")
    server.ctl("group", "add", "ga", "bridge@localhost", "a1@localhost", "both@localhost")
    server.ctl("group", "add", "gb", "bridge@localhost", "b1@localhost", "both@localhost")
    where = ("127.0.0.1", server.port)

    async def run(sessions):
        br = Session("bridge@localhost", PW, where, server.cert)
        a1 = Session("a1@localhost", PW, where, server.cert)
        b1 = Session("b1@localhost", PW, where, server.cert)
        sessions += [br, a1, b1]
        await asyncio.gather(br.login(), a1.login(), b1.login())
        return ({j: sorted(br.x.client_roster[j]["groups"]) for j in br.x.client_roster},
                set(a1.x.client_roster), set(b1.x.client_roster))

    br, a1, b1 = _run(run, 60)
    assert br.get("a1@localhost") == ["Net A"], br
    assert br.get("b1@localhost") == ["Net B"], br
    assert br.get("both@localhost") == ["Net A", "Net B"], br
    assert "b1@localhost" not in a1 and "a1@localhost" not in b1, (a1, b1)
    assert {"bridge@localhost", "both@localhost"} <= a1 and {"bridge@localhost", "both@localhost"} <= b1


def _pushes(s, contact):
    """The roster pushes session s got for `contact`: (subscription, ver)."""
    out = []
    for st in s.stanzas:
        if st.name == "iq" and st["type"] == "set":
            q = st.xml.find("{jabber:iq:roster}query")
            item = q.find("{jabber:iq:roster}item") if q is not None else None
            if item is not None and item.get("jid") == contact:
                out.append((item.get("subscription"), q.get("ver")))
    return out


def _available(s, frm):
    return any(st.name == "presence" and st["type"] in ("", "available") and str(st["from"].bare) == frm
               for st in s.stanzas)


def _unavailable(s, frm):
    return any(st.name == "presence" and st["type"] == "unavailable" and str(st["from"].bare) == frm
               for st in s.stanzas)


def test_group_changes_apply_to_members_online(server):
    """parleyctl group add/remove on the running server: roster pushes to
    the member and to the others at once, presence both ways (and
    unavailable on removal), the members-only network follows, and the
    roster version (XEP-0237) stays correct."""
    for u in ("a0", "a1", "a2"):
        server.add_user(f"{u}@localhost", PW)
    server.ctl("group", "create", "live", "--shared", "--members-only", "--label", "Live")
    server.ctl("group", "add", "live", "a0@localhost", "a1@localhost")
    where = ("127.0.0.1", server.port)

    async def ctl(*args):
        return await asyncio.get_running_loop().run_in_executor(None, lambda: server.ctl(*args))

    async def run(sessions):
        a0, a1, a2 = (Session(f"{u}@localhost", PW, where, server.cert) for u in ("a0", "a1", "a2"))
        for s in (a0, a1, a2):
            s.x.add_event_handler("message_error", s._stanza)
        sessions += [a0, a1, a2]
        await asyncio.gather(a0.login(), a1.login(), a2.login())
        for s in (a0, a1, a2):
            s.presence()
        assert await a0.until(lambda: _available(a0, "a1@localhost"), 10)
        assert "a2@localhost" not in a0.x.client_roster
        # Not yet a member: a2 cannot reach the members-only network.
        a2.x.send_message(mto="a0@localhost", mbody="early", mtype="chat")
        assert await a2.until(lambda: any(st.name == "message" and st["type"] == "error" for st in a2.stanzas), 10)

        r = await ctl("group", "add", "live", "a2@localhost")
        assert "applied to 3 online accounts" in r.stdout, r.stdout
        for s, other in ((a0, "a2@localhost"), (a1, "a2@localhost"), (a2, "a0@localhost"), (a2, "a1@localhost")):
            assert await s.until(lambda s=s, other=other: [p[0] for p in _pushes(s, other)][-1:] == ["both"], 10), \
                (s.x.boundjid.bare, other, _pushes(s, other))
            assert await s.until(lambda s=s, other=other: _available(s, other), 10), \
                f"{s.x.boundjid.bare} did not get {other}'s presence after the add"
        roster = a2.x.client_roster
        assert roster["a0@localhost"]["subscription"] == "both" and "Live" in roster["a0@localhost"]["groups"]
        a2.x.send_message(mto="a0@localhost", mbody="now inside", mtype="chat")
        assert await a0.until(lambda: a0.got("message", "a2@localhost", "now inside"), 10)

        # XEP-0237: the last push's version is current; an older one is not.
        last_ver = _pushes(a0, "a2@localhost")[-1][1]
        iq = a0.x.Iq()
        iq["type"] = "get"
        iq["roster"]["ver"] = last_ver
        current = await iq.send(timeout=10)
        iq = a0.x.Iq()
        iq["type"] = "get"
        iq["roster"]["ver"] = "1"
        stale = await iq.send(timeout=10)

        r = await ctl("group", "remove", "live", "a1@localhost")
        assert "applied to 3 online accounts" in r.stdout, r.stdout
        for s, other in ((a0, "a1@localhost"), (a2, "a1@localhost"), (a1, "a0@localhost"), (a1, "a2@localhost")):
            assert await s.until(lambda s=s, other=other: [p[0] for p in _pushes(s, other)][-1:] == ["remove"], 10), \
                (s.x.boundjid.bare, other, _pushes(s, other))
            assert await s.until(lambda s=s, other=other: _unavailable(s, other), 10), \
                f"{s.x.boundjid.bare} did not get {other}'s unavailable presence after the removal"
        # Out of the network now: a1 cannot reach a0 any more.
        n_err = sum(1 for st in a1.stanzas if st.name == "message" and st["type"] == "error")
        a1.x.send_message(mto="a0@localhost", mbody="after removal", mtype="chat")
        assert await a1.until(lambda: sum(1 for st in a1.stanzas if st.name == "message"
                                          and st["type"] == "error") > n_err, 10)
        assert not a0.got("message", "a1@localhost", "after removal")
        return current, stale

    current, stale = _run(run, 120)
    assert current.xml.find("{jabber:iq:roster}query") is None or \
        len(current.xml.find("{jabber:iq:roster}query")) == 0, "the last push's version was not current"
    items = stale.xml.find("{jabber:iq:roster}query")
    assert items is not None and {i.get("jid") for i in items} >= {"a1@localhost", "a2@localhost"}, \
        "an old version did not get the whole roster"


def test_group_delete_while_online(server):
    """Deleting a shared group on the running server removes its contacts
    from the members' rosters at once."""
    for u in ("d0", "d1"):
        server.add_user(f"{u}@localhost", PW)
    server.ctl("group", "create", "gone", "--shared")
    server.ctl("group", "add", "gone", "d0@localhost", "d1@localhost")
    where = ("127.0.0.1", server.port)

    async def run(sessions):
        d0, d1 = (Session(f"{u}@localhost", PW, where, server.cert) for u in ("d0", "d1"))
        sessions += [d0, d1]
        await asyncio.gather(d0.login(), d1.login())
        for s in (d0, d1):
            s.presence()
        assert await d0.until(lambda: _available(d0, "d1@localhost"), 10)
        r = await asyncio.get_running_loop().run_in_executor(None, lambda: server.ctl("group", "delete", "gone"))
        assert "applied to 2 online accounts" in r.stdout, r.stdout
        assert await d0.until(lambda: [p[0] for p in _pushes(d0, "d1@localhost")][-1:] == ["remove"], 10)
        assert await d1.until(lambda: _unavailable(d1, "d0@localhost"), 10)

    _run(run, 60)
