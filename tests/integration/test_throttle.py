"""The login throttle (issue 7, item 3): only a failed check of credentials
counts; failures are tracked per account at an address and per address, so
one bad client behind a NAT does not lock out its neighbours, while spraying
many accounts from one address is still stopped.

Raw sockets from distinct loopback source addresses (127.0.0.x) stand for
clients behind distinct NATs.
"""
import base64
import concurrent.futures
import re
import time

import pytest

import raw

NS = raw.NS_SASL


@pytest.fixture
def users(make_server):
    def make(**options):
        s = make_server(options=options or None, start=False)
        for u in ("alice", "bob", "carol"):
            s.add_user(f"{u}@localhost")
        return s.start()
    return make


def tls_stream(server, source):
    r = raw.connect(server, source=source)
    r.open()
    r.starttls()
    return r, r.open()


def failure(r, timeout=None):
    m = r.expect(rb"<success[^>]*(?:/>|>.*?</success>)|<failure[^>]*>\s*<([a-z-]+)", timeout)
    return "success" if m.group(0).startswith(b"<success") else m.group(1).decode()


def one_wrong_password(server, source, user):
    r, _ = tls_stream(server, source)
    with r:
        return r.auth_plain(user, "wrong", timeout=15)


def timed_login(server, source, user):
    """A login with the right password: (result, seconds it took)."""
    r, _ = tls_stream(server, source)
    with r:
        t = time.monotonic()
        result = r.auth_plain(user, "secret", timeout=15)
        return result, time.monotonic() - t


def failed_lines(server):
    return [l for l in server.log().splitlines() if "authentication failed from" in l]


def test_throttle_one_account_does_not_lock_out_its_neighbours(users):
    """20 wrong passwords for alice from 127.0.0.2 neither delay nor refuse
    bob's login from 127.0.0.2; alice is refused there (auth.fail_max) but
    not from another address."""
    s = users()
    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        results = list(ex.map(lambda _: one_wrong_password(s, "127.0.0.2", "alice"), range(20)))
    # The first auth.fail_max (10) were checked and failed; the later ones
    # may already be refused by the limit.
    assert set(results) <= {"not-authorized", "temporary-auth-failure"}, results
    assert results.count("not-authorized") >= 10, results
    result, took = timed_login(s, "127.0.0.2", "bob")
    assert result == "success" and took < 1.0, (result, took)
    result, _ = timed_login(s, "127.0.0.2", "alice")
    assert result == "temporary-auth-failure"
    line = s.wait_log(r"refusing authentication of alice@localhost from 127\.0\.0\.2:\d+: \d+ failed logins of "
                      r"this account from this address in 300 s \(limit auth\.fail_max = 10")
    assert "other accounts at this address are not affected" in line
    result, _ = timed_login(s, "127.0.0.3", "alice")
    assert result == "success"


def test_throttle_failure_delay_grows_per_account(users):
    """Each further failure of one account from one address is answered a
    second later; the first is not delayed."""
    s = users(fail_max=5)
    times = []
    for _ in range(3):
        r, _ = tls_stream(s, "127.0.0.5")
        with r:
            t = time.monotonic()
            assert r.auth_plain("carol", "wrong", timeout=10) == "not-authorized"
            times.append(time.monotonic() - t)
    # Checked once a second, so up to a second late.
    assert times[0] < 0.9, times
    assert 0.9 <= times[1] < 2.9, times
    assert 1.9 <= times[2] < 3.9, times
    line = s.wait_log(r"authentication failed from 127\.0\.0\.5:\d+: user=carol@localhost mechanism=PLAIN: "
                      r"<not-authorized/> \(wrong password\); in the last 300 s: 3 failures of this account")
    assert "auth.fail_max = 5" in line and "auth.fail_max_address = 100" in line


def spray(server, source, first, count):
    """Wrong passwords for `count` distinct accounts, 9 per stream (below
    auth.attempts_per_stream); returns the answers in order."""
    answers = []
    n = first
    while n < first + count:
        r, _ = tls_stream(server, source)
        with r:
            for _ in range(min(9, first + count - n)):
                answers.append(r.auth_plain(f"user{n}", "guess", timeout=15))
                n += 1
    return answers


def test_throttle_spraying_many_accounts_is_refused(users):
    """Spraying 200 accounts from one address: refused once the address
    has auth.fail_max_address failures, then even a right password from
    there; another address is not affected."""
    s = users()
    answers = spray(s, "127.0.0.4", 0, 200)
    assert answers[:100] == ["not-authorized"] * 100, answers[:100]
    assert answers[100:] == ["temporary-auth-failure"] * 100, answers[100:]
    s.wait_log(r"refusing authentication from 127\.0\.0\.4:\d+: 100 failed logins from this address over all "
               r"accounts in 300 s \(limit auth\.fail_max_address = 100; window auth\.fail_window\)")
    result, _ = timed_login(s, "127.0.0.4", "alice")
    assert result == "temporary-auth-failure"
    result, took = timed_login(s, "127.0.0.6", "alice")
    assert result == "success" and took < 1.0, (result, took)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def test_throttle_negotiation_failures_count_nowhere(users):
    """Channel-binding and mechanism mismatches, malformed and aborted
    exchanges are refused at once and leave both counters at zero."""
    s = users(fail_max=1, fail_max_address=1)
    r, features = tls_stream(s, "127.0.0.7")
    assert b"SCRAM-SHA-256-PLUS" in features, features
    attempts = [
        # 'y': the client can bind but believes we cannot, while we offer -PLUS
        ("SCRAM-SHA-1", b64("y,,n=alice,r=abcdefghijkl"), "not-authorized"),
        ("SCRAM-SHA-256", b64("y,,n=alice,r=abcdefghijkl"), "not-authorized"),
        # tls-unique does not exist on TLS 1.3 (RFC 9266)
        ("SCRAM-SHA-256-PLUS", b64("p=tls-unique,,n=alice,r=abcdefghijkl"), "not-authorized"),
        # 'n' on a -PLUS mechanism
        ("SCRAM-SHA-1-PLUS", b64("n,,n=alice,r=abcdefghijkl"), "not-authorized"),
        ("X-NOT-OFFERED", "", "invalid-mechanism"),
        ("PLAIN", "!!!not base64!!!", "incorrect-encoding"),
        ("PLAIN", b64("no separators"), "malformed-request"),
    ]
    with r:
        for mech, data, want in attempts:
            t = time.monotonic()
            r.send(f"<auth xmlns='{NS}' mechanism='{mech}'>{data}</auth>")
            assert failure(r, timeout=5) == want, (mech, data)
            assert time.monotonic() - t < 0.8, (mech, "a refusal that is not a failed login is not delayed")
        # An aborted exchange.
        r.send(f"<auth xmlns='{NS}' mechanism='SCRAM-SHA-256'/>")
        r.expect(rb"<challenge[^>]*/>")
        r.send(f"<abort xmlns='{NS}'/>")
        assert failure(r, timeout=5) == "aborted"
        # Counters at zero: with both limits at 1 the right password still works.
        assert r.auth_plain("alice", "secret") == "success"
    assert failed_lines(s) == []
    y = s.wait_log(r"SASL attempt refused, not counted as a failed login: user=\? mechanism=SCRAM-SHA-1: "
                   r"<not-authorized/> \('y' flag")
    assert "c2s.mechanisms" in y, y
    s.wait_log(r"mechanism=SCRAM-SHA-256-PLUS: <not-authorized/> \(a channel-binding type this TLS session cannot "
               r"give: 'tls-unique' on TLSv1\.3; this session offers tls-exporter")


def test_throttle_stream_attempts_are_bounded(users):
    """A client looping on refused attempts is closed after
    auth.attempts_per_stream, with the setting named."""
    s = users(attempts_per_stream=3)
    r, _ = tls_stream(s, "127.0.0.8")
    with r:
        for _ in range(2):
            r.send(f"<auth xmlns='{NS}' mechanism='X-NOT-OFFERED'/>")
            assert failure(r, timeout=5) == "invalid-mechanism"
        r.send(f"<auth xmlns='{NS}' mechanism='X-NOT-OFFERED'/>")
        cond, text = r.stream_error()
    assert cond == "policy-violation"
    assert "auth.attempts_per_stream" in text
