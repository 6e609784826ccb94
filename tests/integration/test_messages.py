"""One-to-one messages (RFC 6121 §5, §8.5) and offline storage with
XEP-0203 delay stamps, driven with slixmpp."""
import datetime
import re

from slix import (NS_CLIENT, NS_DELAY, NS_STREAMS, error_condition, login, message, online, q, run)


def body_of(st):
    return st.xml.findtext(q(NS_CLIENT, "body"))


def test_messages_both_ways(server):
    async def body():
        a = await online(server, "alice@localhost/a")
        b = await online(server, "bob@localhost/b")
        # to the bare JID: the server stamps the sender's full JID
        a.send_message("bob@localhost", "hello bob")
        m = await b.expect(message(body="hello bob"))
        assert m.xml.get("from") == "alice@localhost/a"
        assert m.xml.get("type") == "chat"
        # to the full JID
        b.send_message(a.full, "hello alice")
        m = await a.expect(message(body="hello alice"))
        assert m.xml.get("from") == "bob@localhost/b"
        assert m.xml.get("to") == "alice@localhost/a"

    run(body())


def test_forged_from_is_refused(server):
    # RFC 6120 §4.9.3.9 / §8.1.2.1: a 'from' that is not the client's own
    # JID ends the stream with <invalid-from/> (the other choice, stamping,
    # would show bob "alice"; what must never happen is bob seeing carol).
    async def body():
        a = await online(server, "alice@localhost/a")
        b = await online(server, "bob@localhost/b")
        a.send_xml("<message xmlns='jabber:client' type='chat' to='bob@localhost' from='carol@localhost/x'>"
                   "<body>forged</body></message>")
        await a.wait_event("stream_error")
        assert a.events["stream_error"][0].xml.find(q(NS_STREAMS, "invalid-from")) is not None
        await a.wait_disconnected()
        await b.sync()
        assert not b.pending(message(frm="carol@localhost/x"))

    run(body())
    server.wait_log(r"alice@localhost/a: sending stream error <invalid-from/>")


def test_full_jid_reaches_only_that_resource(server):
    async def body():
        a1 = await online(server, "alice@localhost/one")
        a2 = await online(server, "alice@localhost/two")
        b = await online(server, "bob@localhost/b")
        b.send_message("alice@localhost/two", "for two")
        b.send_message("alice@localhost/one", "for one")
        await a2.expect(message(body="for two"))
        await a1.expect(message(body="for one"))
        # Both went through the same queue in order, so "for two" was
        # handled before "for one" reached a1.
        assert not a1.pending(message(body="for two"))
        # To the bare JID with equal priorities: the server may pick any
        # "most available" resource (RFC 6121 §8.5.2.1.1), but at least one.
        b.send_message("alice@localhost", "for anyone")
        b.send_message("alice@localhost/one", "barrier 1")
        b.send_message("alice@localhost/two", "barrier 2")
        await a1.expect(message(body="barrier 1"))
        await a2.expect(message(body="barrier 2"))
        got = len(a1.pending(message(body="for anyone"))) + len(a2.pending(message(body="for anyone")))
        assert got >= 1

    run(body())


def test_message_to_unknown_resource_goes_to_bare(server):
    # RFC 6121 §8.5.3.2.1: a chat message to an unknown resource is
    # treated as if addressed to the bare JID.
    async def body():
        a = await online(server, "alice@localhost/a")
        b = await online(server, "bob@localhost/b")
        b.send_message("alice@localhost/gone", "wrong resource")
        m = await a.expect(message(body="wrong resource"))
        assert m.xml.get("from") == "bob@localhost/b"

    run(body())


def test_message_to_nonexistent_user(server):
    async def body():
        a = await online(server, "alice@localhost/a")
        mid = a.send_message("nobody@localhost", "anyone there?")
        err = await a.expect(message(type_="error", frm="nobody@localhost"))
        assert error_condition(err) == ("cancel", "service-unavailable"), str(err)
        assert err.xml.get("id") == mid

    run(body())


def test_offline_message_stored_and_delivered_with_delay(server):
    async def body():
        a = await online(server, "alice@localhost/a")
        a.send_message("bob@localhost", "first while you were out")
        a.send_message("bob@localhost", "second while you were out", mtype="normal")
        # alice's worker has routed both once this returns; bob's worker
        # handles them before anything bob's later login posts there.
        await a.sync()

        b = await online(server, "bob@localhost/b")
        now = datetime.datetime.now(datetime.timezone.utc)
        got = []
        for text in ("first while you were out", "second while you were out"):
            m = await b.expect(message(body=text))
            got.append(m)
            assert m.xml.get("from") == "alice@localhost/a"
            delay = m.xml.find(q(NS_DELAY, "delay"))
            assert delay is not None, f"no XEP-0203 delay: {m}"
            stamp = delay.get("stamp")
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", stamp), stamp
            when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            assert abs((now - when).total_seconds()) < 120, stamp
            assert delay.get("from") in (None, "localhost")
        # In the order they were sent.
        assert b.seen.index(got[0]) < b.seen.index(got[1])
        await b.close()

        # Delivered once: the next session finds nothing waiting.  The
        # presence round trip covers offline delivery, which runs while
        # the initial presence is handled.
        b = await online(server, "bob@localhost/b")
        assert not b.pending(message())

    run(body())
    server.wait_log(r"delivered 2 offline messages to bob@localhost/b")


def test_offline_cap_bounces(make_server):
    s = make_server(options={"offline_max": 2})
    s.add_user("alice@localhost")
    s.add_user("bob@localhost")

    async def body():
        a = await online(s, "alice@localhost/a")
        ids = [a.send_message("bob@localhost", f"offline {i}") for i in (1, 2, 3)]
        err = await a.expect(message(type_="error"))
        assert err.xml.get("from") == "bob@localhost"
        assert error_condition(err)[1] == "service-unavailable", str(err)
        # Errors come back in order and carry the id of what bounced
        # (RFC 6120 §8.3.1): the first one is for the third message.
        assert err.xml.get("id") == ids[2], "the third message bounces, not an earlier one"

        b = await online(s, "bob@localhost/b")
        assert [body_of(m) for m in b.pending(message())] == ["offline 1", "offline 2"]

    run(body())
    s.wait_log(r"offline storage of bob@localhost is full \(2 messages, im\.offline_max\)")


def test_negative_priority_gets_no_bare_messages(server):
    # RFC 6121 §8.5.2.1.1: never to a resource with negative priority;
    # with no other resource the message is handled as offline (§8.5.2.2).
    async def body():
        b = await login(server, "bob@localhost/b")
        await b.send_presence(priority=-1)
        a = await online(server, "alice@localhost/a")
        a.send_message("bob@localhost", "to the bare jid")
        a.send_message("bob@localhost/b", "to the full jid")
        await b.expect(message(body="to the full jid"))
        assert not b.pending(message(body="to the bare jid"))
        # It was stored: a non-negative resource gets it.
        b2 = await online(server, "bob@localhost/b2")
        m = await b2.expect(message(body="to the bare jid"))
        assert m.xml.find(q(NS_DELAY, "delay")) is not None

    run(body())
