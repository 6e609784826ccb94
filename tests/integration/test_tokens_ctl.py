"""parleyctl token create|list|revoke (issue 11, item 3): API tokens for
the HTTP admin API, made while the server runs.  The token is printed
once, alone on standard output; the database keeps only its SHA-256; a
token can be read-only; revoked by name or by id, it is gone.  The
`admins` setting loads with the server."""
import hashlib
import json
import os
import re
import sqlite3

TOKEN = re.compile(r"^pt_[A-Za-z0-9_-]{43}$")


def db_rows(server):
    """The token rows as the database holds them, read beside the server."""
    path = os.path.join(server.dir, "parley.db")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute("SELECT id, name, hash, read_only, owner, created, last_used"
                           " FROM api_tokens ORDER BY id").fetchall()
    finally:
        con.close()


def db_files_hold(server, needle):
    for name in ("parley.db", "parley.db-wal"):
        path = os.path.join(server.dir, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                if needle in f.read():
                    return True
    return False


def test_tokens_made_listed_and_revoked(make_server):
    server = make_server(options={"admins": ["alice@localhost"]})
    server.add_user("alice@localhost")

    r = server.ctl("token", "list")
    assert r.stdout == "" and "no tokens" in r.stderr

    r = server.ctl("token", "create", "ci", "--read-only")
    token = r.stdout.strip()
    assert TOKEN.match(token), r.stdout
    assert r.stdout == token + "\n"
    assert "created token ci" in r.stderr and "read-only" in r.stderr and "shown this once" in r.stderr
    deploy = server.ctl("token", "create", "deploy").stdout.strip()
    assert TOKEN.match(deploy) and deploy != token

    # Only the hash is stored: the token is nowhere in the database files.
    rows = db_rows(server)
    assert [(row[1], row[3]) for row in rows] == [("ci", 1), ("deploy", 0)]
    assert rows[0][2] == hashlib.sha256(token.encode()).digest()
    assert rows[1][2] == hashlib.sha256(deploy.encode()).digest()
    assert not db_files_hold(server, token[3:].encode())
    assert not db_files_hold(server, deploy[3:].encode())

    # Refusals: a name taken, a number (ids are numbers), a bad name.
    r = server.ctl("token", "create", "ci", check=False)
    assert r.returncode == 1 and "a token named ci exists already" in r.stderr and r.stdout == ""
    r = server.ctl("token", "create", "42", check=False)
    assert r.returncode == 2 and "a number is a token's id" in r.stderr
    r = server.ctl("token", "create", "a/b", check=False)
    assert r.returncode == 2 and "is not a token name" in r.stderr
    r = server.ctl("token", "create", check=False)
    assert r.returncode == 2 and "usage" in r.stderr

    # Listings: never the token, never the hash.
    listed = server.ctl("token", "list").stdout
    assert token not in listed and deploy not in listed
    lines = listed.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "ACCESS"]
    assert lines[1].split()[1:3] == ["ci", "read-only"]
    assert lines[2].split()[1:3] == ["deploy", "read-write"]
    assert "never" in lines[1]
    items = json.loads(server.ctl("token", "list", "--json").stdout)
    assert [(t["name"], t["read_only"], t["last_used"]) for t in items] == [("ci", True, None),
                                                                           ("deploy", False, None)]
    assert all(set(t) == {"id", "name", "read_only", "owner", "created", "last_used"} for t in items)
    assert items[0]["owner"].startswith("local:")

    # Revoked by name, then by id; a second time is an error.
    r = server.ctl("token", "revoke", "ci")
    assert f"revoked token ci (id {items[0]['id']})" in r.stdout
    r = server.ctl("token", "revoke", str(items[1]["id"]))
    assert "revoked token deploy" in r.stdout
    r = server.ctl("token", "revoke", "ci", check=False)
    assert r.returncode == 1 and "there is no token named or numbered ci" in r.stderr
    assert db_rows(server) == []
    assert server.ctl("token", "list", "--json").stdout.strip() == "[]"

    # A new token never takes a revoked id.
    server.ctl("token", "create", "again")
    assert json.loads(server.ctl("token", "list", "--json").stdout)[0]["id"] > items[1]["id"]

    # The server ran throughout on the same database, and restarts on it.
    assert server.alive()
    server.stop()
    server.start()
    assert [row[1] for row in db_rows(server)] == ["again"]


def test_admins_setting_is_checked_at_load(make_server):
    server = make_server(start=False)
    server.configure(admins=["Boss@LocalHost", "ops@elsewhere.example"])
    r = server.ctl("token", "list")
    assert r.returncode == 0
    server.configure(admins=42)
    r = server.ctl("token", "list", check=False)
    assert r.returncode == 2 and "admins" in r.stderr
