"""Prometheus metrics (issue 11, docs/metrics.md): the server.metrics
operation on the control socket answers the text exposition format, which
python3-prometheus-client's parser reads, and the counters move by what
known traffic does to them, summed over the workers (each worker counts on
its own thread; a scrape asks each one).  Every test runs with 1 and with
2 workers."""
import json
import os
import re
import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from federation import Dns, Pki
from slix import Client, error_condition, login, message, online, run
from test_federation import both_ways, pair

FAMILIES = {
    "parley_connections": "gauge",
    "parley_authentications": "counter",
    "parley_stanzas": "counter",
    "parley_s2s_links": "gauge",
    "parley_s2s_queued_stanzas": "gauge",
    "parley_offline_messages": "gauge",
    "parley_offline_bytes": "gauge",
    "parley_worker_connections": "gauge",
    "parley_worker_inbox_depth": "gauge",
    "parley_worker_output_queue_bytes": "gauge",
    "parley_worker_loop_lag_seconds": "gauge",
    "parley_worker_loop_lag_max_seconds": "gauge",
    "process_cpu_seconds": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_start_time_seconds": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
}


def sock_path(server):
    with open(server.conf) as f:
        db = re.search(r'^\s*database = "(.*)";$', f.read(), re.M).group(1)
    db = os.path.join(os.path.dirname(server.conf), db)
    return os.path.join(os.path.dirname(db), "parleyd.sock")


def ask(server, request):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sock_path(server))
        s.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            assert chunk, f"the control socket closed before answering {request}"
            data += chunk
    return json.loads(data)


class Scrape:
    """One answer of server.metrics, parsed by prometheus_client."""

    def __init__(self, server):
        r = ask(server, {"op": "server.metrics"})
        assert r["ok"], r
        self.text = r["result"]["text"]
        self.families = {f.name: f for f in text_string_to_metric_families(self.text)}
        self.samples = [s for f in self.families.values() for s in f.samples]

    def value(self, name, **labels):
        """The sum of the samples called `name` whose labels include
        `labels` (0 when there is none)."""
        return sum(s.value for s in self.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    def series(self, name):
        return [s for s in self.samples if s.name == name]


def scrape_until(server, check, what, timeout=10.0):
    """Scrapes until check(scrape) is true (work posted to another worker
    may still be on its way when a client's round trip returns)."""
    deadline = time.monotonic() + timeout
    while True:
        m = Scrape(server)
        if check(m):
            return m
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen in the metrics within {timeout} s:\n{m.text}")
        time.sleep(0.05)


def auth(m, mech, result, stream="c2s"):
    return m.value("parley_authentications_total", stream=stream, mechanism=mech, result=result)


def stanzas(m, kind, outcome):
    return m.value("parley_stanzas_total", kind=kind, outcome=outcome)


def c2s_connections(m):
    return sum(m.value("parley_connections", kind=k) for k in ("c2s_tcp", "c2s_starttls", "c2s_tls"))


def test_families_and_their_series(server, workers):
    m = Scrape(server)
    for name, kind in FAMILIES.items():
        assert name in m.families, f"no family {name}:\n{m.text}"
        assert m.families[name].type == kind, (name, m.families[name].type)
        assert m.families[name].documentation, name
    # The families of each worker carry its name; the others are sums.
    for name in ("parley_worker_inbox_depth", "parley_worker_output_queue_bytes",
                 "parley_worker_loop_lag_seconds", "parley_worker_loop_lag_max_seconds"):
        assert sorted(s.labels["worker"] for s in m.series(name)) == [f"w{i}" for i in range(workers)], name
    for name in ("parley_connections", "parley_stanzas_total", "parley_authentications_total"):
        assert all("worker" not in s.labels for s in m.series(name)), name
    assert {s.labels["kind"] for s in m.series("parley_connections")} == \
        {"c2s_tcp", "c2s_starttls", "c2s_tls", "s2s_in", "s2s_out", "http"}
    # A fresh server: nothing happened yet, no federation.
    assert m.value("parley_stanzas_total") == 0
    assert m.value("parley_authentications_total") == 0
    assert m.value("parley_s2s_links") == 0
    assert m.value("parley_offline_messages") == 0
    # The process.
    assert m.value("process_resident_memory_bytes") > 1 << 20
    assert m.value("process_virtual_memory_bytes") >= m.value("process_resident_memory_bytes")
    assert m.value("process_cpu_seconds_total") > 0
    assert m.value("process_open_fds") > 0
    assert abs(m.value("process_start_time_seconds") - time.time()) < 3600
    for s in m.series("parley_worker_loop_lag_seconds"):
        assert 0 <= s.value < 5, s
    # The operation is listed.
    ops = {o["op"] for o in ask(server, {"op": "help"})["result"]["ops"]}
    assert "server.metrics" in ops


def test_counters_follow_logins_messages_and_failures(make_server, workers):
    # Without -PLUS offered, so that plain SCRAM is not refused as a
    # downgrade (test_login.py).
    server = make_server(options={"mechanisms": ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]})
    for u in ("alice", "bob", "carol"):
        server.add_user(f"{u}@localhost")
    before = Scrape(server)

    async def body():
        a = await online(server, "alice@localhost/a", mechs=["SCRAM-SHA-256"])
        b = await online(server, "bob@localhost/b", mechs=["SCRAM-SHA-1"])
        m = Scrape(server)
        assert m.value("parley_connections", kind="c2s_starttls") == 2, m.text
        assert m.value("parley_connections", kind="c2s_tcp") == 0
        assert m.value("parley_connections", kind="c2s_tls") == 0
        assert sum(s.value for s in m.series("parley_worker_connections")) >= 2

        for i in range(3):
            a.send_message("bob@localhost", f"hello {i}")
        for i in range(3):
            await b.expect(message(body=f"hello {i}"))
        # carol has no session: stored offline
        a.send_message("carol@localhost", "first")
        a.send_message("carol@localhost", "second")
        # no such account: answered with an error, which alice receives
        a.send_message("nobody@localhost", "anyone there?")
        err = await a.expect(message(type_="error", frm="nobody@localhost"))
        assert error_condition(err) == ("cancel", "service-unavailable")
        await a.sync()

        # a wrong password
        c = Client(server, "carol@localhost/c", "not-the-password", mechs=["SCRAM-SHA-256"])
        await c.login(expect="failed")

    run(body())

    after = scrape_until(server, lambda m: m.value("parley_offline_messages") >= 2 and c2s_connections(m) == 0,
                         "two offline messages, no client left")
    d = lambda f: f(after) - f(before)  # noqa: E731
    assert d(lambda m: auth(m, "SCRAM-SHA-256", "success")) == 1
    assert d(lambda m: auth(m, "SCRAM-SHA-1", "success")) == 1
    assert d(lambda m: auth(m, "SCRAM-SHA-256", "failure")) == 1
    assert d(lambda m: auth(m, "PLAIN", "success")) == 0
    assert d(lambda m: m.value("parley_authentications_total", result="success")) == 2
    # three to bob, and the error to alice
    assert d(lambda m: stanzas(m, "message", "delivered")) == 4
    assert d(lambda m: stanzas(m, "message", "offline")) == 2
    assert d(lambda m: stanzas(m, "message", "bounced")) == 1
    assert d(lambda m: stanzas(m, "message", "remote")) == 0
    # pings, roster gets: iq to the server itself
    assert d(lambda m: stanzas(m, "iq", "server")) >= 2
    # initial presence comes back to its sender
    assert d(lambda m: stanzas(m, "presence", "delivered")) >= 2
    assert after.value("parley_offline_messages") == 2
    assert after.value("parley_offline_bytes") > len("firstsecond")
    assert after.value("process_cpu_seconds_total") >= before.value("process_cpu_seconds_total")
    # nothing left queued
    assert after.value("parley_s2s_queued_stanzas") == 0


def test_direct_tls_plain_and_a_refused_downgrade(server, workers):
    async def body():
        c = await login(server, "carol@localhost/c", direct_tls=True, mechs=["PLAIN"])
        m = Scrape(server)
        assert m.value("parley_connections", kind="c2s_tls") == 1, m.text
        assert m.value("parley_connections", kind="c2s_starttls") == 0
        assert auth(m, "PLAIN", "success") == 1
        await c.close()
        # With -PLUS offered, plain SCRAM from a client that could bind is
        # refused (RFC 5802): a negotiation not completed, not a failure.
        d = Client(server, "alice@localhost/d", mechs=["SCRAM-SHA-256"])
        await d.login(expect="failed")
        m = Scrape(server)
        assert auth(m, "SCRAM-SHA-256", "incomplete") == 1, m.text
        assert auth(m, "SCRAM-SHA-256", "failure") == 0
        assert m.value("parley_authentications_total", result="success") == 1

    run(body())
    scrape_until(server, lambda m: c2s_connections(m) == 0, "the connection closed")


# ---- federation: links, dialback, stanzas to another domain ----

@pytest.fixture(scope="module")
def dns():
    d = Dns().start()
    yield d
    d.cleanup()


@pytest.fixture
def pki(tmp_path):
    return Pki(str(tmp_path / "pki"))


@pytest.fixture
def peers():
    made = []
    yield made
    for p in made:
        p.stop()


def test_federation_links_and_dialback(dns, pki, peers, workers):
    # Self-signed certificates: the links authenticate with dialback.
    opts = {"s2s.accept_selfsigned": True}
    a, b = pair(dns, pki, peers, a_opts=opts, b_opts=opts, workers=workers)
    before = Scrape(a.server)
    both_ways(a, b, "metrics")
    m = Scrape(a.server)
    # a's link to b, and b's link to a as a's incoming stream
    assert m.value("parley_s2s_links", direction="out", state="ready", auth="dialback") == 1, m.text
    assert m.value("parley_s2s_links", direction="in", state="ready", auth="dialback") == 1, m.text
    assert m.value("parley_s2s_links", auth="EXTERNAL") == 0
    assert m.value("parley_connections", kind="s2s_out") >= 1
    assert m.value("parley_connections", kind="s2s_in") >= 1
    # a asked b to verify b's key (receiving side) and b confirmed a's
    assert auth(m, "dialback", "success", stream="s2s_in") >= 1
    assert auth(m, "dialback", "success", stream="s2s_out") >= 1
    assert m.value("parley_authentications_total", stream="s2s_out", result="failure") == 0
    # alice's message went out to b; bob's came in and was delivered
    assert stanzas(m, "message", "remote") - stanzas(before, "message", "remote") == 1
    assert stanzas(m, "message", "delivered") - stanzas(before, "message", "delivered") == 1
    assert m.value("parley_s2s_queued_stanzas") == 0
