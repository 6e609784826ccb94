"""Offline storage quotas per account (issue 7, item 4): by count
(im.offline_max, default 100) and by stored bytes (im.offline_max_bytes,
default 1 MiB).  The message that would cross either limit is refused with
<service-unavailable/> (cancel) and a text naming the limit; the server
logs one line naming the account, the limit and the setting; what was
stored before is delivered on login, in order."""
import asyncio
import re
import time

from slix import NS_CLIENT, NS_STANZAS, error_condition, message, online, q, run

FULL_COUNT_TEXT = "the recipient's offline storage is full (message count limit: 100 messages)"


def body_of(st):
    return st.xml.findtext(q(NS_CLIENT, "body"))


def error_text(st):
    return st.xml.findtext(f"{q(NS_CLIENT, 'error')}/{q(NS_STANZAS, 'text')}")


async def fill(a, to, bodies):
    """Sends the bodies to `to` as chat messages and returns their ids once
    the sender's worker has routed them all (a ping round trip).  The
    recipient's worker handles them before anything a later login of the
    recipient posts there."""
    ids = [a.send_message(to, b) for b in bodies]
    await a.sync()
    return ids


async def expect_refusal(a, mid, text):
    """The one error the sender gets: for message `mid`, from the bare JID
    of the recipient, cancel/service-unavailable with `text`."""
    err = await a.expect(message(type_="error"))
    assert err.xml.get("id") == mid, f"the wrong message was refused: {err}"
    assert err.xml.get("from") == "bob@localhost", str(err)
    assert error_condition(err) == ("cancel", "service-unavailable"), str(err)
    assert error_text(err) == text, str(err)
    # The error does not echo the message back.
    assert body_of(err) is None, str(err)
    return err


def test_101st_message_is_refused(server):
    # The default quota: 100 messages.
    async def body():
        a = await online(server, "alice@localhost/a")
        bodies = [f"offline {i}" for i in range(101)]
        ids = await fill(a, "bob@localhost", bodies)
        await expect_refusal(a, ids[100], FULL_COUNT_TEXT)
        # Errors come in order, so none is still on its way for an
        # earlier message: exactly one was refused.
        await a.sync()
        assert not a.pending(message(type_="error")), "more than one message was refused"

        b = await online(server, "bob@localhost/b")
        got = [body_of(m) for m in b.pending(message(frm="alice@localhost/a"))]
        assert got == bodies[:100], f"delivered {len(got)}: {got[:3]}...{got[-3:]}"
        await b.close()
        # The server logs the close just before it ends the session, on
        # bob's worker: what alice sends from now on finds bob offline.
        await asyncio.to_thread(server.wait_log, r"bob@localhost/b: closed")

        # Delivered once, and the room is back: the next message is stored.
        a.send_message("bob@localhost", "after delivery")
        await a.sync()
        assert not a.pending(message(type_="error"))
        b = await online(server, "bob@localhost/b")
        assert [body_of(m) for m in b.pending(message())] == ["after delivery"]

    run(body())
    line = server.wait_log(r"offline storage of bob@localhost is full \(100 messages, im\.offline_max\)")
    assert "refusing a message from alice@localhost/a" in line, line
    assert "raise im.offline_max to store more" in line, line
    assert len(re.findall(r"offline storage of \S+ is full", server.log())) == 1
    server.wait_log(r"delivered 100 offline messages to bob@localhost/b")


def test_message_crossing_a_small_byte_limit_is_refused(make_server):
    # 12000 bytes: three messages of 3000-character bodies take 9000 bytes
    # plus three envelopes (addresses, id, delay stamp: a few hundred bytes
    # each), so a fourth of the same size crosses the limit whatever the
    # envelope weighs, while a short one still fits after it.
    s = make_server(options={"offline_max_bytes": 12000})
    s.add_user("alice@localhost")
    s.add_user("bob@localhost")
    big = [f"{i}" * 3000 for i in range(1, 5)]

    async def body():
        a = await online(s, "alice@localhost/a")
        ids = await fill(a, "bob@localhost", big)
        await expect_refusal(a, ids[3],
                             "the recipient's offline storage is full (byte limit: 12000 bytes)")
        # What is left is not taken by the refused message: a short one fits.
        await fill(a, "bob@localhost", ["short"])
        await a.sync()
        assert not a.pending(message(type_="error")), "more than one message was refused"

        b = await online(s, "bob@localhost/b")
        got = [body_of(m) for m in b.pending(message(frm="alice@localhost/a"))]
        assert got == big[:3] + ["short"], [g[:8] for g in got]

    run(body())
    line = s.wait_log(r"offline storage of bob@localhost is full \(12000 bytes, im\.offline_max_bytes\)")
    m = re.search(r": (\d+) bytes in 3 messages stored, refusing a message of (\d+) bytes from "
                  r"alice@localhost/a; raise im\.offline_max_bytes to store more", line)
    assert m, line
    stored, size = int(m.group(1)), int(m.group(2))
    # The bytes counted are the stored stanzas: bodies plus envelopes.
    assert 9000 < stored <= 12000 and 3000 < size < 4000, line
    assert stored + size > 12000, line
    s.wait_log(r"delivered 4 offline messages to bob@localhost/b")


def test_default_byte_limit_is_one_mib(server):
    # Five messages of 200 KiB bodies fit in 1 MiB with room for their
    # envelopes; the sixth crosses it.  Each stays under the 256 KiB stanza
    # limit, so only the quota refuses it.
    bodies = [chr(ord("a") + i) * (200 * 1024) for i in range(6)]

    async def body():
        a = await online(server, "alice@localhost/a")
        ids = await fill(a, "bob@localhost", bodies)
        await expect_refusal(a, ids[5],
                             "the recipient's offline storage is full (byte limit: 1048576 bytes)")
        await a.sync()
        assert not a.pending(message(type_="error"))

        b = await online(server, "bob@localhost/b")
        got = [body_of(m) for m in b.pending(message(frm="alice@localhost/a"))]
        assert got == bodies[:5], [(g[:1], len(g)) for g in got]

    run(body())
    line = server.wait_log(r"offline storage of bob@localhost is full \(1048576 bytes, "
                           r"im\.offline_max_bytes\)")
    assert "in 5 messages stored" in line, line
    server.wait_log(r"delivered 5 offline messages to bob@localhost/b")


def test_delivery_stays_within_the_output_queue(make_server):
    # An operator raised the quota past the output queue: five messages of
    # about 3.7 KB (18.5 KB) would overflow a 16 KiB queue at login, which
    # drops the connection after the messages were deleted.  What does not
    # fit in half the queue stays stored for the next login instead.
    s = make_server(options={"offline_max_bytes": 65536, "outq_bytes": 16384})
    s.add_user("alice@localhost")
    s.add_user("bob@localhost")
    big = [f"{i}" * 3500 for i in range(1, 6)]

    async def body():
        a = await online(s, "alice@localhost/a")
        await fill(a, "bob@localhost", big)
        await a.sync()
        assert not a.pending(message(type_="error"))

        # 8192 bytes of queue for them: two per login.
        got = []
        for n, want in enumerate((2, 2, 1)):
            b = await online(s, "bob@localhost/b")
            now = [body_of(m) for m in b.pending(message(frm="alice@localhost/a"))]
            assert len(now) == want, (n, [g[:4] for g in now])
            got += now
            await b.close()
            # Wait for this login's close, not an earlier one.
            await asyncio.to_thread(wait_count, s, r"bob@localhost/b: closed", n + 1)
        assert got == big

    run(body())
    s.wait_log(r"3 offline messages of bob@localhost stay stored for its next login")
    line = s.wait_log(r"1 offline message of bob@localhost stays stored for its next login")
    assert "limits.outq_bytes (16384 bytes)" in line and "im.offline_max_bytes" in line, line
    assert "output queue over" not in s.log()


def wait_count(server, pattern, n, timeout=10.0):
    """Waits until `pattern` matches n lines of the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(re.findall(pattern, server.log())) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} log lines match {pattern!r}:\n{server.log()[-3000:]}")
