"""libstrophe (0.12) against parleyd: a real C client library's view of
STARTTLS, direct TLS, SASL and message delivery.  The client is
strophe/strophe_client.c, built with the server when libstrophe-dev is
installed; without it these tests skip."""
import os
import re

import pytest

from clients import EXIT_AUTH, EXIT_OK, STROPHE_CLIENT, strophe

pytestmark = pytest.mark.skipif(not os.path.exists(STROPHE_CLIENT),
                                reason="strophe_client not built (libstrophe-dev missing)")


def auth_lines(server, user):
    return re.findall(rf"authenticated as {re.escape(user)} with (\S+)", server.log())


def test_strophe_login_default_scram_sha_256(server):
    c = strophe(server, "alice@localhost")
    m = c.wait_line(r"^connected jid=(\S+) secured=(\d)")
    assert m.group(1).startswith("alice@localhost/")
    assert m.group(2) == "1"
    assert c.wait() == EXIT_OK, c.describe()
    # libstrophe prefers SCRAM-SHA-512, which parley does not offer; of the
    # rest it takes SCRAM-SHA-256, and never a -PLUS it cannot do.
    server.wait_log(r"authenticated as alice@localhost with SCRAM-SHA-256 ")
    assert auth_lines(server, "alice@localhost") == ["SCRAM-SHA-256"]
    server.wait_log(rf"bound {re.escape(m.group(1))}$")


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "PLAIN"])
def test_strophe_login_restricted_mechanism(make_server, mech):
    s = make_server(options={"mechanisms": [mech]})
    s.add_user("alice@localhost")
    c = strophe(s, "alice@localhost")
    c.wait_line(r"^connected jid=alice@localhost/")
    assert c.wait() == EXIT_OK, c.describe()
    s.wait_log(rf"authenticated as alice@localhost with {mech} ")
    assert auth_lines(s, "alice@localhost") == [mech]


def test_strophe_wrong_password(server):
    c = strophe(server, "alice@localhost", "not-the-password")
    assert c.wait() == EXIT_AUTH, c.describe()
    assert not any(l.startswith("connected") for l in c.lines), c.lines
    tried = [l.split("=", 1)[1] for l in c.lines if l.startswith("auth-failed")]
    assert tried and tried[0] == "SCRAM-SHA-256", c.lines
    line = server.wait_log(r"authentication failed from 127\.0\.0\.1:\d+: user=alice@localhost "
                           r"mechanism=SCRAM-SHA-256: <not-authorized/>")
    assert "auth.fail_max" in line
    assert auth_lines(server, "alice@localhost") == []
    # The account itself is fine.
    ok = strophe(server, "alice@localhost")
    ok.wait_line(r"^connected jid=alice@localhost/")
    assert ok.wait() == EXIT_OK, ok.describe()


def test_strophe_message_there_and_back(server):
    """alice -> bob (bare JID, bob online with presence), bob echoes back to
    alice's full JID."""
    bob = strophe(server, "bob@localhost", "secret", "--wait-messages", "1", "--echo")
    try:
        bob_jid = bob.wait_line(r"^connected jid=(\S+)").group(1)
        bob.wait_line(r"^ready$")
        alice = strophe(server, "alice@localhost", "secret", "--send", "bob@localhost",
                        "--body", "hello bob, from libstrophe", "--wait-messages", "1")
        alice_jid = alice.wait_line(r"^connected jid=(\S+)").group(1)
        m = bob.wait_line(r"^message from=(\S+) type=(\S+) body=(.*)$")
        assert m.groups() == (alice_jid, "chat", "hello bob, from libstrophe")
        m = alice.wait_line(r"^message from=(\S+) type=(\S+) body=(.*)$")
        assert m.groups() == (bob_jid, "chat", "echo: hello bob, from libstrophe")
        assert alice.wait() == EXIT_OK, alice.describe()
        assert bob.wait() == EXIT_OK, bob.describe()
    finally:
        bob.kill()


def test_strophe_direct_tls(server):
    """XEP-0368 direct TLS with libstrophe's XMPP_CONN_FLAG_LEGACY_SSL."""
    bob = strophe(server, "bob@localhost", "secret", "--wait-messages", "1", direct_tls=True)
    try:
        bob_jid = bob.wait_line(r"^connected jid=(\S+) secured=1").group(1)
        bob.wait_line(r"^ready$")
        server.wait_log(r"TLS established \(.*direct TLS\)")
        alice = strophe(server, "alice@localhost", "secret", "--send", bob_jid, "--body", "over direct TLS",
                        direct_tls=True)
        alice.wait_line(r"^connected jid=alice@localhost/\S+ secured=1")
        assert alice.wait() == EXIT_OK, alice.describe()
        m = bob.wait_line(r"^message from=(\S+) type=chat body=(.*)$")
        assert m.group(1).startswith("alice@localhost/")
        assert m.group(2) == "over direct TLS"
        assert bob.wait() == EXIT_OK, bob.describe()
    finally:
        bob.kill()
    assert len(re.findall(r"accepted from .* \(direct TLS\)", server.log())) >= 2
