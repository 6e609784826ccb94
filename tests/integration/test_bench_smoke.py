"""Smoke run of the benchmark load generator (bench/loadgen) against Parley.

Not a benchmark: a handful of sessions for a second or two per scenario, so
that `make test` notices when the generator or the way it logs in stops
working with the server.  `make bench` is the benchmark (bench/README.md).
Each scenario must finish, log in without failures and produce numbers.
"""
import json
import os
import subprocess

import pytest

from parley import BUILD, Server

LOADGEN = os.path.join(BUILD, "bench", "loadgen")
USERS = 6
MEMBERS = 5  # of the shared group in the groups scenario: g0..g4


@pytest.fixture(scope="module")
def bench_server():
    # Two workers: logins move between workers and messages cross them.
    s = Server(workers=2, log_level="info", options={"read_rate": 0, "fail_max": 100000})
    for i in range(USERS):
        s.add_user(f"u{i}@{s.domain}")
    members = [f"g{i}@{s.domain}" for i in range(MEMBERS)]
    for m in members:
        s.add_user(m)
    s.ctl("group", "create", "net", "--shared", "--label", "Net")
    s.ctl("group", "add", "net", *members)
    s.start()
    yield s
    s.stop()


def loadgen(server, *args):
    assert os.access(LOADGEN, os.X_OK), f"{LOADGEN} is not built (bench/meson.build)"
    cmd = [LOADGEN, "--server", f"127.0.0.1:{server.port}:{server.domain}", "--password", "secret",
           "--server-pid", str(server.proc.pid), "--timeout", "20", "--max-time", "40", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    assert r.returncode == 0 and lines, f"loadgen {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    res = json.loads(lines[-1])
    assert res["finished"], res
    assert res["failed"] == 0, f"failed logins or sessions: {res['errors']}"
    assert res["server_procs"] >= 1 and res["server_rss_kb"] > 0, res
    return res


def test_idle(bench_server):
    r = loadgen(bench_server, "--scenario", "idle", "--conns", str(USERS), "--settle", "0.2", "--hold", "0.5")
    assert r["sessions"] == USERS and r["sessions_lost"] == 0
    assert r["rss_kb"] > 0 and r["rss_per_session_kb"] == r["rss_per_session_kb"]  # not NaN


def test_login(bench_server):
    r = loadgen(bench_server, "--scenario", "login", "--users", str(USERS), "--concurrency", "3",
                "--duration", "1.5", "--warmup", "0.3")
    assert r["logins"] > 0 and r["logins_per_s"] > 0 and r["login_p99_ms"] > 0
    assert r["failed_in_window"] == 0


def test_messages(bench_server):
    r = loadgen(bench_server, "--scenario", "messages", "--pairs", str(USERS // 2), "--window", "2",
                "--duration", "1.5", "--warmup", "0.3")
    assert r["pairs_active"] == USERS // 2
    assert r["delivered"] > 0 and r["msgs_per_s"] > 0 and r["lat_p99_ms"] > 0
    assert r["lost"] == 0 and r["bounced"] == 0
    assert r["server_cpu_s_per_100k"] is not None


def test_groups(bench_server):
    """Members of one shared group, no roster items of their own: every
    roster must hold the others (the generator checks it), and every
    broadcast reaches every other member."""
    r = loadgen(bench_server, "--scenario", "groups", "--prefix", "g", "--users", str(MEMBERS), "--window", "1",
                "--inflight", "3", "--settle", "0.2", "--duration", "1.5", "--warmup", "0.3")
    assert r["valid"] and r["roster_complete"], r
    assert r["roster_members_min"] == MEMBERS - 1 and r["initial_presence_min"] == MEMBERS - 1, r
    assert r["users_up"] == MEMBERS
    assert r["delivered"] > 0 and r["presence_per_s"] > 0 and r["lat_p99_ms"] > 0
    assert r["broadcasts"] > 0 and r["broadcasts_stalled"] == 0 and r["duplicates"] == 0, r
