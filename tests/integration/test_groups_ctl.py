"""parleyctl group and import/export (issue 10, storage and CLI groundwork):
groups made and changed from the command line while the server runs; a
bulk import of 10,000 accounts in one group, timed, whose accounts then
log in with a stock client (slixmpp at its defaults); an import with one bad
row at line 7,000 that names the line and imports nothing.

The 10,000 accounts carry SCRAM records computed here once (the same
password and salt for all), the form `export --with-secrets` writes:
hashing 10,000 passwords at 4096 PBKDF2 iterations is what import does for
password rows, and takes tens of seconds on a small machine (more under
ASan); a few password rows are imported too, so both paths log in."""
import base64
import hashlib
import hmac
import os
import stat
import time

from slix import login, roster_items, run

N = 10000


def scram_fields(password, salt, iterations=4096):
    out = []
    for mech, h in (("SCRAM-SHA-1", "sha1"), ("SCRAM-SHA-256", "sha256")):
        salted = hashlib.pbkdf2_hmac(h, password.encode(), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", h).digest()
        stored = hashlib.new(h, client_key).digest()
        server = hmac.new(salted, b"Server Key", h).digest()
        b = lambda v: base64.b64encode(v).decode()
        out.append((mech, iterations, b(salt), b(stored), b(server)))
    return out


def big_csv(path, bad_line=None):
    records = scram_fields("secret", b"parley-test-salt")
    lines = ["# 10,000 accounts in one group", "group,overlay,\"Overlay, test\",shared,members-only"]
    for i in range(N):
        jid = f"u{i:05d}@localhost"
        lines.append(f"user,{jid},")
        for mech, it, salt, stored, server in records:
            lines.append(f"scram,{jid},{mech},{it},{salt},{stored},{server}")
        lines.append(f"member,overlay,{jid}")
    for i in range(3):
        lines.append(f"user,pw{i}@localhost,pass{i}")
        lines.append(f"member,overlay,pw{i}@localhost")
    if bad_line is not None:
        lines[bad_line - 1] = "user,not a jid@localhost,x"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def test_group_commands(server):
    r = server.ctl("group", "create", "staff", "--shared", "--label", "Our staff")
    assert "created group staff" in r.stdout
    r = server.ctl("group", "create", "staff", check=False)
    assert r.returncode == 1 and "exists already" in r.stderr
    server.ctl("group", "add", "staff", "alice@localhost", "Bob@LocalHost", "zed@remote.example")
    r = server.ctl("group", "add", "staff", "alice@localhost", "carol@localhost", check=False)
    assert r.returncode == 1 and "alice@localhost is in staff already" in r.stderr
    assert "nothing changed" in r.stderr
    r = server.ctl("group", "add", "staff", "alice@localhost/phone", check=False)
    assert r.returncode == 2 and "not a bare JID" in r.stderr
    r = server.ctl("group", "show", "staff")
    assert "shared:       yes" in r.stdout and "members:      3" in r.stdout
    assert "  bob@localhost\n" in r.stdout and "  zed@remote.example\n" in r.stdout
    assert "carol@localhost" not in r.stdout
    assert server.ctl("group", "list").stdout == "staff\t3\tshared\tOur staff\n"
    server.ctl("group", "remove", "staff", "zed@remote.example")
    # deleting an account takes its memberships
    server.ctl("user", "del", "alice@localhost")
    assert server.ctl("group", "list").stdout.startswith("staff\t1\t")
    server.ctl("group", "delete", "staff")
    r = server.ctl("group", "show", "staff", check=False)
    assert r.returncode == 1 and "there is no group staff" in r.stderr


def test_import_10000_then_login(server, tmp_path):
    path = tmp_path / "big.csv"
    big_csv(path)
    t0 = time.monotonic()
    r = server.ctl("import", str(path))
    elapsed = time.monotonic() - t0
    print(f"import of {N + 3} accounts, 1 group, {N + 3} memberships: {elapsed:.1f} s")
    assert elapsed < 60, f"import took {elapsed:.1f} s"
    assert f"imported {N + 3} accounts, 0 pins, 1 groups, {N + 3} memberships" in r.stdout
    assert server.ctl("group", "list").stdout == f"overlay\t{N + 3}\tshared,members-only\tOverlay, test\n"

    async def body():
        took = []
        for jid, pw in (("u00000@localhost/a", "secret"), ("u04242@localhost/a", "secret"),
                        ("u09999@localhost/a", "secret"), ("pw1@localhost/a", "pass1")):
            t = time.monotonic()
            c = await login(server, jid, password=pw)
            # The shared group gives every other member: N + 2 contacts.
            items = roster_items(await c.roster())
            took.append(time.monotonic() - t)
            assert len(items) == N + 2, len(items)
            assert all(i.get("subscription") == "both" for i in items.values())
            await c.close()
        return took
    took = run(body(), 120)
    print("login + roster of a member of a 10,003-member shared group (s):", [round(t, 2) for t in took])
    assert max(took) < 20, took

    # export --with-secrets writes them all (and the fixture's alice, bob, carol);
    # --out makes a file only its owner can read, even one that existed
    dest = tmp_path / "export.csv"
    dest.write_text("old")
    dest.chmod(0o644)
    server.ctl("export", "--with-secrets", "--out", str(dest))
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    out = dest.read_text()
    assert out.count("\nuser,") == N + 3 + 3 and out.count("\nmember,overlay,") == N + 3
    # importing the same file again: every row exists already, nothing changes
    r = server.ctl("import", str(path), check=False)
    assert r.returncode == 1 and "u00000@localhost exists already" in r.stderr


def test_import_bad_row_imports_nothing(server, tmp_path):
    path = tmp_path / "bad.csv"
    big_csv(path, bad_line=7000)
    r = server.ctl("import", str(path), check=False)
    assert r.returncode == 1
    assert "line 7000:" in r.stderr and "nothing imported" in r.stderr
    assert "line 6999" not in r.stderr and "line 7001" not in r.stderr
    assert "u00000@localhost" not in server.ctl("user", "list", "localhost").stdout
    assert server.ctl("group", "list").stdout == ""


def test_import_json_round_trip(server, tmp_path):
    path = tmp_path / "in.json"
    path.write_text('{"users": [{"jid": "dave@localhost", "password": "pw"}],'
                    ' "groups": [{"name": "g", "label": "G", "shared": true,'
                    ' "members": ["dave@localhost", "x@remote.example"]}]}')
    server.ctl("import", str(path))
    out = server.ctl("export", "--format", "json").stdout
    assert '"dave@localhost"' in out and '"x@remote.example"' in out
    bad = tmp_path / "bad.json"
    bad.write_text('{"users": [{"jid": "eve@localhost"}, {"jid": "x@elsewhere.example"}]}')
    r = server.ctl("import", str(bad), check=False)
    assert r.returncode == 1 and "users[1]:" in r.stderr
    assert "eve@localhost" not in server.ctl("user", "list", "localhost").stdout

    async def body():
        c = await login(server, "dave@localhost/a", password="pw")
        await c.close()
    run(body())
