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
