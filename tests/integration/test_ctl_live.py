"""parleyctl against a running server: both work on the same database at
once (SQLite WAL, each with its own locks), so accounts added, changed or
deleted while the server runs take effect at the next login, and what the
server writes is what parleyctl sees.

Regression: store_sqlite_open used to open and close the database file
itself while other handles had it open, which dropped SQLite's POSIX locks;
parleyctl then checkpointed the log away under the running server and
changes were lost."""
import raw


def login_fails(server, user, password):
    r = raw.connect(server)
    try:
        r.login(user, password)
    except AssertionError:
        return True
    finally:
        r.close()
    return False


def test_accounts_change_while_the_server_runs(server):
    # added while running: logs in at once
    server.add_user("dave@localhost", "first")
    r = raw.session(server, "dave", "first")
    r.close()
    # more writes from another process while the server holds the database
    for n in range(3):
        server.add_user(f"extra{n}@localhost")
    listed = server.ctl("user", "list", "localhost").stdout.split()
    assert {"alice@localhost", "dave@localhost", "extra2@localhost"} <= set(listed)
    # password changed while running: the old one stops working
    server.ctl("user", "passwd", "dave@localhost", "--password-stdin", input="second\n")
    assert login_fails(server, "dave", "first")
    raw.session(server, "dave", "second").close()
    # deleted while running: gone for the next login
    server.ctl("user", "del", "extra1@localhost")
    assert login_fails(server, "extra1", "secret")
    # and all of it survives a restart of the server
    server.stop()
    server.start()
    listed = server.ctl("user", "list", "localhost").stdout.split()
    assert "dave@localhost" in listed and "extra0@localhost" in listed and "extra1@localhost" not in listed
    raw.session(server, "dave", "second").close()


def test_deleting_an_account_ends_its_sessions(server):
    """parleyctl user del on a running server: the account's open sessions
    end at once with <not-authorized/>, others stay."""
    server.add_user("gone@localhost", "pw")
    server.add_user("stays@localhost", "pw")
    g1 = raw.session(server, "gone", "pw", resource="a")
    g2 = raw.session(server, "gone", "pw", resource="b")
    other = raw.session(server, "stays", "pw")
    out = server.ctl("user", "del", "gone@localhost").stdout
    assert "ended its 2 open sessions" in out, out
    for r in (g1, g2):
        cond, text = r.stream_error()
        assert cond == "not-authorized" and "deleted" in text, (cond, text)
    other.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    other.expect(rb"<iq[^>]*id='p1'")
    other.close()
    # Without a server, deleting says nothing of sessions.
    server.stop()
    server.add_user("later@localhost", "pw")
    out = server.ctl("user", "del", "later@localhost").stdout
    assert "deleted later@localhost" in out and "session" not in out, out
