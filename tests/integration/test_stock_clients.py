"""Debian 12's stock XMPP clients at their default settings (issue 7).

Each client logs in to a default instance (make_server() with no option:
the mechanisms, TLS and throttle settings `parleyctl init` writes), on its
first connection, sends a message to another account and receives one,
against 1 and 2 workers, over STARTTLS and over direct TLS (XEP-0368).

At their defaults means: no SASL mechanism chosen, no feature turned off,
certificate verification on.  The test sets only what any user of the
client must: the JID, the password, the server's address and port, and
trust in the instance's certificate (`parleyctl init` makes a self-signed
certificate for localhost; each client is told to trust that certificate
through its own CA-file option or, for OpenSSL- and Go-based clients that
have none, SSL_CERT_FILE).  How each driver does that is written at the top
of the driver (stock/*_client.py, strophe/strophe_client.c --defaults,
js/client.js) and in clients.py for the command-line clients.

After each case the server log must show no failed credential check
("authentication failed from ...", what the throttle counts) for anyone,
and every connection the case opened must have logged in: so each client
logged in on its first connection, without a retry.

The counterpart (bob) is slixmpp through the slix.Client helper, at its
defaults too.

A client that cannot log in at its defaults fails its case.  Where a
client cannot do something at all (sendxmpp has no way to receive), that
half is skipped with the evidence in the reason.
"""
import asyncio
import collections
import os
import re
import shutil
import time

import pytest

import slix
from clients import EXIT_OK, JS_DIR, STROPHE_CLIENT, go_sendxmpp, sendxmpp, stock_driver, strophe, xmppjs
from parley import Server

ALICE, BOB = "alice@localhost", "bob@localhost"
PEER = BOB + "/peer"
COUNTERPART_MECHS = None  # slixmpp's own choice
CLIENT_TIMEOUT = 15.0
LINE_TIMEOUT = 15.0
MESSAGE = r"^message from=(\S+) type=(\S+) body=(.*)$"


def _have_module(name):
    import importlib.util
    return importlib.util.find_spec(name) is not None


AVAILABLE = {
    "slixmpp": (True, ""),
    "aioxmpp": (_have_module("aioxmpp"), "python3-aioxmpp not installed (make deps-test)"),
    "nbxmpp": (_have_module("nbxmpp"), "python3-nbxmpp not installed (make deps-test)"),
    "libstrophe": (os.path.exists(STROPHE_CLIENT), "strophe_client not built (libstrophe-dev missing)"),
    "go-sendxmpp": (bool(shutil.which("go-sendxmpp")), "go-sendxmpp not installed (make deps-test)"),
    "sendxmpp": (bool(shutil.which("sendxmpp")), "sendxmpp not installed (make deps-test)"),
    "xmpp.js": (bool(shutil.which("node")) and os.path.isdir(os.path.join(JS_DIR, "node_modules", "@xmpp", "client")),
                "node or tests/integration/js/node_modules missing (make deps-test)"),
}
CLIENTS = list(AVAILABLE)


def need(client):
    ok, why = AVAILABLE[client]
    if not ok:
        pytest.skip(why)


# ---- the server log ----

def log_mark(server):
    return len(server.log())


def failed_checks(server):
    """Lines of failed credential checks (what the login throttle counts)."""
    return [l for l in server.log().splitlines() if "authentication failed from" in l]


def wait_log_since(server, mark, pattern, timeout=LINE_TIMEOUT, proc=None):
    """The first log line since `mark` that matches; fails after the
    timeout, with the client's output when a ClientProc is given."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for l in server.log()[mark:].splitlines():
            if rx.search(l):
                return l
        time.sleep(0.05)
    raise AssertionError(f"no log line matches {pattern!r} within {timeout} s; "
                         f"client: {proc.describe() if proc else '-'}\nlog:\n{server.log()[mark:][-3000:]}")


def conn_lines(text, conn):
    return [l for l in text.splitlines() if f"conn={conn} " in l]


def check_logins(server, mark, expected, what, timeout=5.0):
    """Asserts, from the log since `mark`: no failed credential check at
    all; every connection opened since then authenticated (so no client
    needed a second connection); and the accounts logged in as many times
    as `expected` ({bare JID: connections}) says."""
    deadline = time.monotonic() + timeout
    while True:
        text = server.log()[mark:]
        auth = dict(re.findall(r"conn=(\d+) authenticated as (\S+) with", text))
        per_user = collections.Counter(auth.values())
        if dict(per_user) == expected or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    failed = failed_checks(server)
    assert not failed, f"{what}: failed credential checks in the log:\n" + "\n".join(failed)
    accepted = re.findall(r"conn=(\d+) accepted from", text)
    never = [c for c in accepted if c not in auth]
    assert not never, (f"{what}: connections that never logged in (a client did not log in on its first "
                       f"connection):\n" + "\n".join(l for c in never for l in conn_lines(text, c)))
    assert dict(per_user) == expected, f"{what}: logins per account {dict(per_user)}, expected {expected}:\n{text}"
    errors = [l for l in text.splitlines() if "sending stream error" in l]
    assert not errors, f"{what}: stream errors:\n" + "\n".join(errors)
    return re.findall(r"authenticated as (\S+) with (\S+) from", text)


async def line(proc, pattern, timeout=LINE_TIMEOUT):
    """ClientProc.wait_line without blocking the event loop (the
    counterpart runs on it)."""
    return await asyncio.to_thread(proc.wait_line, pattern, timeout)


async def exit_code(proc, timeout=CLIENT_TIMEOUT + 5):
    return await asyncio.to_thread(proc.wait, timeout)


async def wait_bound(server, mark, user, proc, known=(), timeout=LINE_TIMEOUT):
    """The full JID of the next session of `user` bound since `mark` (not in
    `known`), from the log; fails early when `proc` exits first."""
    deadline = time.monotonic() + timeout
    rx = re.compile(rf"conn=\d+ bound ({re.escape(user)}/\S+)$", re.M)
    while time.monotonic() < deadline:
        for full in rx.findall(server.log()[mark:]):
            if full not in known:
                return full
        if proc.proc.poll() is not None:
            why = f"the client exited ({proc.proc.returncode}) before a new session of {user} was bound"
            break
        await asyncio.sleep(0.05)
    else:
        why = f"no new session of {user} bound within {timeout} s"
    raise AssertionError(f"{why}; client: {proc.describe()}\nlog:\n{server.log()[mark:][-3000:]}")


def server_with_accounts(make_server):
    s = make_server()
    s.add_user(ALICE)
    s.add_user(BOB)
    return s


def start_driver(client, server, direct_tls, *args, cafile=None):
    """A client with the driver line protocol (driver.py), as alice."""
    if client in ("slixmpp", "aioxmpp", "nbxmpp"):
        return stock_driver(client, server, ALICE, "secret", "--timeout", str(CLIENT_TIMEOUT), *args,
                            direct_tls=direct_tls, cafile=cafile)
    if client == "libstrophe":
        return strophe(server, ALICE, "secret", "--timeout", str(CLIENT_TIMEOUT), *args, direct_tls=direct_tls,
                       cafile=cafile or True, defaults=True)
    if client == "xmpp.js":
        return xmppjs(server, "alice", "secret", "--timeout", str(CLIENT_TIMEOUT), *args, direct_tls=direct_tls,
                      cafile=cafile)
    raise ValueError(client)


# ---- the matrix ----

@pytest.mark.parametrize("transport", ["starttls", "direct-tls"])
@pytest.mark.parametrize("client", CLIENTS)
def test_stock_client(make_server, workers, client, transport):
    need(client)
    direct = transport == "direct-tls"
    s = server_with_accounts(make_server)
    mark = log_mark(s)
    tag = f"{client} {transport} {workers}w"
    to_bob, to_alice = f"to bob from {tag}", f"to alice from bob ({tag})"
    expected = {ALICE: 1, BOB: 1}

    async def library_client():
        bob = await slix.online(s, PEER, mechs=COUNTERPART_MECHS)
        proc = start_driver(client, s, direct, "--send", BOB, "--body", to_bob, "--wait-messages", "1")
        try:
            alice_full = (await line(proc, r"^connected jid=(\S+)")).group(1)
            assert alice_full.startswith(ALICE + "/"), proc.describe()
            got = await bob.expect(slix.message(body=to_bob), timeout=LINE_TIMEOUT)
            assert got.xml.get("from") == alice_full, str(got)
            bob.send_message(alice_full, to_alice)
            m = await line(proc, MESSAGE)
            assert (m.group(1), m.group(3)) == (PEER, to_alice), proc.describe()
            assert await exit_code(proc) == EXIT_OK, proc.describe()
        finally:
            proc.kill()

    async def go_sendxmpp_client():
        # go-sendxmpp sends, or with -l listens: two runs, two connections,
        # each of which must log in at once.
        bob = await slix.online(s, PEER, mechs=COUNTERPART_MECHS)
        listener = go_sendxmpp(s, ALICE, listen=True, direct_tls=direct)
        try:
            listener_full = await wait_bound(s, mark, ALICE, listener)
            sender = go_sendxmpp(s, ALICE, to=BOB, body=to_bob, direct_tls=direct)
            try:
                assert await exit_code(sender) == EXIT_OK, sender.describe()
            finally:
                sender.kill()
            got = await bob.expect(slix.message(body=to_bob), timeout=LINE_TIMEOUT)
            assert got.xml.get("from", "").startswith(ALICE + "/go-sendxmpp"), str(got)
            bob.send_message(listener_full, to_alice)
            # "-l" prints "<time> <sender's bare JID>: <body>".
            m = await line(listener, r"^\S+ (\S+): (.*)$")
            assert (m.group(1), m.group(2)) == (BOB, to_alice), listener.describe()
        finally:
            listener.interrupt()

    async def sendxmpp_client():
        bob = await slix.online(s, PEER, mechs=COUNTERPART_MECHS)
        sender = sendxmpp(s, "alice", to=BOB, body=to_bob, direct_tls=direct)
        try:
            assert await exit_code(sender) == EXIT_OK, sender.describe()
        finally:
            sender.kill()
        # sendxmpp sends its standard input as it is, final newline included.
        got = await bob.expect(lambda st: st.xml.tag == slix.q(slix.NS_CLIENT, "message") and
                               (st.xml.findtext(slix.q(slix.NS_CLIENT, "body")) or "").strip() == to_bob,
                               timeout=LINE_TIMEOUT)
        assert got.xml.get("from") == ALICE + "/sendxmpp", str(got)

    if client == "go-sendxmpp":
        expected = {ALICE: 2, BOB: 1}
        case = go_sendxmpp_client()
    elif client == "sendxmpp":
        case = sendxmpp_client()
    else:
        case = library_client()
    try:
        slix.run(case, timeout=60)
    except AssertionError as e:
        raise AssertionError(f"{tag}: {e}\n--- server log since the case began:\n{s.log()[mark:][-6000:]}") from None
    logins = check_logins(s, mark, expected, tag)
    print(f"{tag}: logins (account, mechanism): {logins}")
    # The client's connections, and only they, went to the direct-TLS port
    # (the counterpart uses STARTTLS).
    direct_conns = len(re.findall(r"accepted from \S+ on \S+ \(direct TLS\)", s.log()[mark:]))
    assert direct_conns == (expected[ALICE] if direct else 0), s.log()[mark:]


def sendxmpp_options():
    """The options sendxmpp documents (its POD, which is its man page)."""
    with open(shutil.which("sendxmpp"), errors="replace") as f:
        return re.findall(r"^=item (B<.*)$", f.read(), re.M)


def test_sendxmpp_receive():
    """sendxmpp cannot receive: it has no mode or option for it."""
    need("sendxmpp")
    opts = [re.sub(r"[BI]<([^>]*)>", r"\1", o) for o in sendxmpp_options()]
    assert opts, "no =item in sendxmpp's POD"
    receive = [o for o in opts if re.search(r"listen|receiv|read|incoming", o, re.I)]
    pytest.skip("sendxmpp only sends (sendxmpp(1p): 'send xmpp messages from the commandline'); "
                f"its documented options are {'; '.join(opts)}; none receives "
                f"(options naming listen/receive/read/incoming: {receive or 'none'})")


def test_sendxmpp_literal_defaults_never_send_the_password_in_clear(make_server, workers):
    """sendxmpp's literal default is a plaintext connection (no -t, no -e);
    the server offers no SASL before TLS (c2s.require_tls), and sendxmpp
    stops by itself: no password crosses the wire, nothing is counted.
    (Which is why its matrix cases give -t or -e, as any user of a server
    that requires TLS must.)"""
    need("sendxmpp")
    s = server_with_accounts(make_server)
    mark = log_mark(s)
    p = sendxmpp(s, "alice", to=BOB, body="in clear?", tls=False)
    try:
        code = p.wait(timeout=CLIENT_TIMEOUT)
    finally:
        p.kill()
    assert code != 0, p.describe()
    assert "requires us to use TLS" in p.describe(), p.describe()
    text = s.log()[mark:]
    assert "authenticated as" not in text and not failed_checks(s), text


# ---- verification is on: a foreign CA is not trusted ----

def foreign_ca(server):
    """A CA that did not sign the instance's certificate (parleyctl cert ca
    init), for a client told to trust it instead."""
    d = os.path.join(server.dir, "foreign-ca")
    server.ctl("cert", "ca", "init", d, "--name", "Foreign Test CA")
    return os.path.join(d, "ca.crt")


@pytest.mark.parametrize("client", CLIENTS)
def test_stock_client_verifies_the_certificate(client):
    """Each client, set up as in the matrix but trusting another CA,
    rejects the instance's certificate in the TLS handshake (so the matrix
    really verifies it) and logs in nowhere."""
    need(client)
    s = Server(workers=1)
    s.add_user(ALICE)
    s.start()
    try:
        ca = foreign_ca(s)
        mark = log_mark(s)
        if client == "go-sendxmpp":
            p = go_sendxmpp(s, ALICE, to=BOB, body="unverified", cafile=ca)
        elif client == "sendxmpp":
            p = sendxmpp(s, "alice", to=BOB, body="unverified", cafile=ca)
        else:
            p = start_driver(client, s, False, cafile=ca)
        try:
            # The server sees the client's alert (or its hang-up or reset,
            # e.g. aioxmpp tearing down its socket) in the handshake; then
            # the client has a moment to give up.
            wait_log_since(s, mark, r"TLS handshake failed: the peer rejected our certificate|"
                                    r"TLS handshake failed: Connection reset by peer|"
                                    r"peer closed the connection during the TLS handshake",
                           timeout=CLIENT_TIMEOUT, proc=p)
            try:
                p.proc.wait(timeout=2)
            except Exception:
                pass
        finally:
            p.kill()
        assert not any(l.startswith("connected") for l in p.lines), p.describe()
        text = s.log()[mark:]
        assert "authenticated as" not in text, text
        assert not failed_checks(s), text
    finally:
        s.stop()
