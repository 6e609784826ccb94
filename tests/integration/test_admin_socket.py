"""The local control socket (src/admin/) and `parleyctl s2s`: a UNIX socket
beside the database, mode 0600, one JSON request per line and one JSON
answer per line.  Bad requests get an error answer and the server keeps
serving; clients are served side by side; a stale socket file is replaced
and a live one (another parleyd on the same database) refuses the start."""
import json
import os
import re
import socket
import stat
import subprocess

import pytest

from parley import PARLEYD, SANITIZER_MARKS


def sock_path(server):
    with open(server.conf) as f:
        db = re.search(r'^\s*database = "(.*)";$', f.read(), re.M).group(1)
    # relative paths in the configuration are relative to its file
    db = os.path.join(os.path.dirname(server.conf), db)
    return os.path.join(os.path.dirname(db), "parleyd.sock")


def connect(server):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock_path(server))
    return s


def read_line(s):
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def ask(s, request):
    """Sends one request line (bytes or an object); the decoded answer."""
    if not isinstance(request, bytes):
        request = json.dumps(request).encode() + b"\n"
    s.sendall(request)
    line = read_line(s)
    assert line.endswith(b"\n") and line.count(b"\n") == 1, line
    return json.loads(line)


def test_socket_is_private_and_parleyctl_reads_it(server, workers):
    st = os.stat(sock_path(server))
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()

    r = server.ctl("s2s", "status")
    assert r.stdout.splitlines()[0].split()[:4] == ["DIR", "LOCAL", "REMOTE", "METHOD"], r.stdout
    assert "(no server-to-server streams)" in r.stdout
    assert json.loads(server.ctl("s2s", "status", "--json").stdout) == {"links": []}

    r = server.ctl("s2s", "close", "nowhere.example")
    assert r.stdout.strip() == "closed 0 streams with nowhere.example"
    assert json.loads(server.ctl("s2s", "close", "nowhere.example", "--json").stdout) == \
        {"domain": "nowhere.example", "closed": 0}

    r = server.ctl("s2s", "report", "NoWhere.example")
    assert "nowhere.example: no report" in r.stdout
    assert json.loads(server.ctl("s2s", "report", "nowhere.example", "--json").stdout)["reports"] == []

    with connect(server) as s:
        r = ask(s, {"op": "server.stats"})
        assert r["ok"], r
        assert [w["worker"] for w in r["result"]["workers"]] == [f"w{i}" for i in range(workers)]
        assert "c2s" in r["result"]["workers"][0]["services"]


def test_usage_and_refusals_have_their_exit_codes(server):
    for args in (["s2s"], ["s2s", "report"], ["s2s", "close", "a", "b"], ["s2s", "nope"], ["s2s", "status", "-x"]):
        r = server.ctl(*args, check=False)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "usage: parleyctl" in r.stderr
    r = server.ctl("s2s", "close", "not a domain", check=False)
    assert r.returncode == 1 and "not a domain name" in r.stderr, r.stderr


def test_bad_requests_get_errors_and_the_server_keeps_serving(server):
    with connect(server) as s:
        for bad, why in ((b"{not json\n", "bad JSON"), (b"[1,2]\n", "JSON object"), (b"{}\n", "no \"op\""),
                         (b'{"op":"no.such.op"}\n', "unknown op"), (b'{"op":"s2s.close"}\n', "\"domain\""),
                         (b"\xff\xfe\x00garbage\n", "bad JSON")):
            r = ask(s, bad)
            assert r["ok"] is False and why in r["error"], (bad, r)
        # blank lines are skipped; the same connection still answers
        s.sendall(b"\n\r\n")
        r = ask(s, {"op": "s2s.status"})
        assert r == {"ok": True, "result": {"links": []}}
        # two requests in one write: two answers, in order
        s.sendall(b'{"op":"s2s.close","domain":"a.example"}\n{"op":"s2s.close","domain":"b.example"}\n')
        answers = b""
        while answers.count(b"\n") < 2:
            answers += s.recv(65536)
        first, second = [json.loads(x) for x in answers.splitlines()]
        assert first["result"]["domain"] == "a.example" and second["result"]["domain"] == "b.example"

    # a line over 64 KiB: an error, then the server ends that connection
    with connect(server) as s:
        s.sendall(b"x" * (70 * 1024))
        r = json.loads(read_line(s))
        assert r["ok"] is False and "longer than 65536" in r["error"]
        assert s.recv(100) == b""
    # a last request without its newline is still answered
    with connect(server) as s:
        s.sendall(b'{"op":"s2s.status"}')
        s.shutdown(socket.SHUT_WR)
        assert json.loads(read_line(s))["ok"] is True
    assert server.alive()
    assert server.ctl("s2s", "status").returncode == 0


def test_clients_are_served_side_by_side(server):
    a = connect(server)
    b = connect(server)
    try:
        a.sendall(b'{"op":"s2s.st')      # a is in the middle of a request...
        r = ask(b, {"op": "s2s.status"})  # ...and b is answered meanwhile
        assert r["ok"] is True
        assert server.ctl("s2s", "status").returncode == 0
        a.sendall(b'atus"}\n')
        assert ask(a, b"")["ok"] is True
        assert ask(b, {"op": "help"})["ok"] is True
    finally:
        a.close()
        b.close()


def test_clients_still_connected_do_not_hold_up_a_stop(make_server):
    server = make_server()
    idle = connect(server)
    partial = connect(server)
    partial.sendall(b'{"op":"s2s.sta')
    with connect(server) as s:
        assert ask(s, {"op": "help"})["ok"] is True
    server.stop()  # a clean exit, no sanitizer report
    assert idle.recv(100) == b"" and partial.recv(100) == b""
    idle.close()
    partial.close()


def test_socket_goes_with_the_server_and_stale_ones_are_replaced(make_server):
    server = make_server()
    path = sock_path(server)
    assert os.path.exists(path)
    server.stop()
    assert not os.path.exists(path)
    r = server.ctl("s2s", "status", check=False)
    assert r.returncode == 1
    assert f"parleyd is not running (no socket at {path})" in r.stderr

    # a socket file left by a server that died: nobody answers on it
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    assert os.path.exists(path)
    r = server.ctl("s2s", "status", check=False)
    assert r.returncode == 1 and "parleyd is not running" in r.stderr
    server.start()
    server.wait_log("removed the stale control socket")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert server.ctl("s2s", "status").returncode == 0


def test_a_second_server_on_the_same_database_is_refused(server):
    r = subprocess.run([PARLEYD, "-c", server.conf], capture_output=True, text=True, timeout=30,
                       cwd=server.dir)
    assert r.returncode == 1
    assert "another parleyd answers on it" in r.stdout + r.stderr
    assert not any(m in r.stderr for m in SANITIZER_MARKS), r.stderr
    # the first one's socket is untouched
    assert server.ctl("s2s", "status").returncode == 0


def test_a_file_in_the_way_is_not_removed(make_server):
    server = make_server(start=False)
    path = sock_path(server)
    with open(path, "w") as f:
        f.write("not a socket")
    r = subprocess.run([PARLEYD, "-c", server.conf], capture_output=True, text=True, timeout=30,
                       cwd=server.dir)
    assert r.returncode == 1
    assert f"control socket {path}: it exists and is not a socket" in r.stdout + r.stderr
    assert not any(m in r.stderr for m in SANITIZER_MARKS), r.stderr
    with open(path) as f:
        assert f.read() == "not a socket"


# ---- with a real federation link (the fixtures of test_federation.py) ----

from test_federation import both_ways, dns, pair, peers, pki  # noqa: E402,F401


@pytest.mark.parametrize("workers", [1, 2])
def test_status_report_and_close_of_live_links(dns, pki, peers, workers):  # noqa: F811
    ca = pki.ca("root")
    a, b = pair(dns, pki, peers, workers=workers, a={"ca": ca, "trust": [ca]}, b={"ca": ca, "trust": [ca]})
    both_ways(a, b, "admin")

    links = json.loads(a.server.ctl("s2s", "status", "--json").stdout)["links"]
    with_b = [x for x in links if x.get("remote") == "b.test"]
    assert {x["direction"] for x in with_b} == {"in", "out"}, links
    assert all(x["local"] == "a.test" for x in with_b), links
    table = a.server.ctl("s2s", "status").stdout.splitlines()
    assert table[0].split()[:3] == ["DIR", "LOCAL", "REMOTE"]
    assert any(row.split()[:3] == ["out", "a.test", "b.test"] for row in table[1:]), table
    assert any("TLSv1.3" in row for row in table[1:]), table

    r = a.server.ctl("s2s", "report", "b.test")
    assert r.returncode == 0 and r.stdout.strip(), r.stdout

    r = a.server.ctl("s2s", "close", "b.test")
    closed = int(re.match(r"closed (\d+) streams? with b\.test", r.stdout).group(1))
    assert closed == len(with_b), (r.stdout, with_b)
    # the link comes back with the next stanza
    both_ways(a, b, "after close")


def test_sessions_list_and_policy(server):
    """sessions.list shows each bound client session with what an operator
    asks first (where from, over what, since when); s2s.policy the policy
    in force."""
    from slix import online, run

    async def scenario():
        await online(server, "alice@localhost")
        await online(server, "bob@localhost")
        s = connect(server)
        try:
            return ask(s, {"op": "sessions.list"}), ask(s, {"op": "s2s.policy"})
        finally:
            s.close()

    sessions, policy = run(scenario(), 60)
    assert sessions["ok"], sessions
    by_jid = {x["jid"].split("/")[0]: x for x in sessions["result"]["sessions"]}
    assert set(by_jid) == {"alice@localhost", "bob@localhost"}, by_jid
    for x in by_jid.values():
        assert x["address"].startswith("127.0.0.1:"), x
        assert x["transport"] == "starttls" and x["tls"].startswith("TLSv1."), x
        assert x["mechanism"] in ("PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"), x
        assert x["since"] > 0 and x["worker"], x
    assert policy["ok"], policy
    p = policy["result"]
    assert isinstance(p["allow"], list) and isinstance(p["peers"], list) and p["dialback"] in (True, False), p
