"""xmpp.js (@xmpp/client 0.14, Node) against parleyd over STARTTLS, with the
instance certificate verified (NODE_EXTRA_CA_CERTS).  The client is
js/client.js; `make deps-test` installs its modules (npm ci).  Without node
or the modules these tests skip."""
import os
import re
import shutil

import pytest

import raw
from clients import EXIT_AUTH, EXIT_OK, JS_DIR, STROPHE_CLIENT, strophe, xmppjs

pytestmark = pytest.mark.skipif(
    not shutil.which("node") or not os.path.isdir(os.path.join(JS_DIR, "node_modules", "@xmpp", "client")),
    reason="node or tests/integration/js/node_modules missing (make deps-test)")

MESSAGE = r"^message from=(\S+) type=(\S+) body=(.*)$"


def test_xmppjs_login(server):
    c = xmppjs(server, "alice")
    m = c.wait_line(r"^connected jid=(\S+)$")
    assert m.group(1).startswith("alice@localhost/")
    c.wait_line(r"^ready$")
    assert c.wait() == EXIT_OK, c.describe()
    # xmpp.js 0.14 knows SCRAM-SHA-1 and PLAIN and prefers the former.
    line = server.wait_log(r"authenticated as alice@localhost with \S+ from")
    assert " with SCRAM-SHA-1 from" in line
    server.wait_log(rf"bound {re.escape(m.group(1))}$")
    server.wait_log(r"alice@localhost/\S+: closed \(client closed the stream\)")


def test_xmppjs_wrong_password(server):
    c = xmppjs(server, "alice", "wrong-password")
    c.wait_line(r"^auth-failed condition=not-authorized$")
    assert c.wait() == EXIT_AUTH, c.describe()
    assert not any(l.startswith("connected") for l in c.lines)
    server.wait_log(r"authentication failed from 127\.0\.0\.1:\d+: user=alice@localhost mechanism=SCRAM-SHA-1: "
                    r"<not-authorized/>")
    assert "authenticated as alice@localhost" not in server.log()


def test_xmppjs_unknown_account(server):
    c = xmppjs(server, "nobody", "secret")
    c.wait_line(r"^auth-failed condition=not-authorized$")
    assert c.wait() == EXIT_AUTH, c.describe()
    server.wait_log(r"authentication failed from .*user=nobody@localhost")


def test_xmppjs_message_exchange(server):
    """Two xmpp.js clients: alice -> bob's bare JID, bob echoes back."""
    bob = xmppjs(server, "bob", "secret", "--wait-messages", "1", "--echo")
    try:
        bob_jid = bob.wait_line(r"^connected jid=(\S+)$").group(1)
        bob.wait_line(r"^ready$")
        alice = xmppjs(server, "alice", "secret", "--send", "bob@localhost", "--body", "hi bob, from xmpp.js",
                       "--wait-messages", "1")
        alice_jid = alice.wait_line(r"^connected jid=(\S+)$").group(1)
        assert bob.wait_line(MESSAGE).groups() == (alice_jid, "chat", "hi bob, from xmpp.js")
        assert alice.wait_line(MESSAGE).groups() == (bob_jid, "chat", "echo: hi bob, from xmpp.js")
        assert alice.wait() == EXIT_OK, alice.describe()
        assert bob.wait() == EXIT_OK, bob.describe()
    finally:
        bob.kill()


@pytest.mark.skipif(not os.path.exists(STROPHE_CLIENT), reason="strophe_client not built")
def test_xmppjs_with_strophe(server):
    """Two client libraries with each other: libstrophe sends to xmpp.js."""
    carol = xmppjs(server, "carol", "secret", "--wait-messages", "1", "--echo")
    try:
        carol.wait_line(r"^ready$")
        alice = strophe(server, "alice@localhost", "secret", "--send", "carol@localhost", "--body",
                        "from libstrophe to xmpp.js", "--wait-messages", "1")
        m = carol.wait_line(MESSAGE)
        assert m.group(1).startswith("alice@localhost/") and m.group(3) == "from libstrophe to xmpp.js"
        m = alice.wait_line(MESSAGE)
        assert m.group(1).startswith("carol@localhost/") and m.group(3) == "echo: from libstrophe to xmpp.js"
        assert alice.wait() == EXIT_OK, alice.describe()
        assert carol.wait() == EXIT_OK, carol.describe()
    finally:
        carol.kill()


def test_xmppjs_roster_get(server):
    # An empty roster first.
    c = xmppjs(server, "alice", "secret", "--roster")
    assert c.wait_line(r"^roster count=(\d+)$").group(1) == "0"
    assert c.wait() == EXIT_OK, c.describe()
    # Two contacts set by another client (RFC 6121 roster set).
    with raw.session(server, "alice") as r:
        for jid, name in (("bob@localhost", "Bob"), ("carol@localhost", "Carol C")):
            r.send(f"<iq type='set' id='set-{name[0]}'><query xmlns='jabber:iq:roster'>"
                   f"<item jid='{jid}' name='{name}'><group>Friends</group></item></query></iq>")
            r.expect(rf"<iq[^>]*id=['\"]set-{name[0]}['\"][^>]*type=['\"]result['\"]|"
                     rf"<iq[^>]*type=['\"]result['\"][^>]*id=['\"]set-{name[0]}['\"]")
    c = xmppjs(server, "alice", "secret", "--roster")
    assert c.wait_line(r"^roster count=(\d+)$").group(1) == "2"
    items = sorted(c.wait_line(r"^roster-item (.*)$").group(1) for _ in range(2))
    assert items == ["jid=bob@localhost subscription=none name=Bob",
                     "jid=carol@localhost subscription=none name=Carol C"]
    assert c.wait() == EXIT_OK, c.describe()
