"""Host certificates reloaded on SIGHUP without dropping sessions, and
warnings before certificates expire (issue 9, items 5 and 6): at start-up,
after a reload, and from `parleyctl check config`."""
import hashlib
import os
import re
import signal
import ssl

from certs import log_mark, wait_log_since
from raw import Raw, session


def pem_fingerprint(path):
    with open(path) as f:
        pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", f.read(), re.S).group(0)
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def served_fingerprint(s):
    """The SHA-256 of the certificate a new STARTTLS connection is shown."""
    r = Raw(s.port)  # no verification: the certificate is what we look at
    try:
        r.open()
        r.starttls()
        return hashlib.sha256(r.sock.getpeercert(binary_form=True)).hexdigest()
    finally:
        r.close()


def host_prefix(s):
    return os.path.join(s.dir, "certs", s.domain)


def test_reload_keeps_sessions_and_serves_the_new_certificate(server):
    s = server
    first = pem_fingerprint(s.cert)
    assert served_fingerprint(s) == first
    alice = session(s, "alice")
    bob = session(s, "bob")

    # A renewed certificate (a new key too) replaces the files in place.
    s.ctl("cert", "self-signed", "server", "localhost", "--out", host_prefix(s), "--force")
    second = pem_fingerprint(s.cert)
    assert second != first
    mark = log_mark(s)
    os.kill(s.proc.pid, signal.SIGHUP)
    wait_log_since(s, mark, r"SIGHUP: reloaded the host certificates \(generation 2\) of 1 host$")

    # The sessions made with the old certificate go on both ways.
    alice.message(bob.jid, "after reload")
    bob.expect_message("after reload")
    bob.message(alice.jid, "reply")
    alice.expect_message("reply")

    # New connections see the new certificate, and verify against it.
    assert served_fingerprint(s) == second
    carol = session(s, "carol")
    carol.message(alice.jid, "from a new session")
    alice.expect_message("from a new session")

    # A broken file is not applied: the certificate before stays.
    with open(s.cert, "w") as f:
        f.write("not a certificate\n")
    mark = log_mark(s)
    os.kill(s.proc.pid, signal.SIGHUP)
    wait_log_since(s, mark, r"SIGHUP: cannot reload the host certificates: host localhost: certificate file "
                            rf"{re.escape(s.cert)}: no PEM certificate found; keeping the previous ones "
                            r"\(hosts in \S+parley\.conf\)$")
    assert served_fingerprint(s) == second
    alice.message(bob.jid, "still here")
    bob.expect_message("still here")
    for r in (alice, bob, carol):
        r.close()


def test_expiry_warning_at_start_and_in_check(make_server):
    s = make_server(start=False)
    ca = os.path.join(s.dir, "ca")
    s.ctl("cert", "ca", "init", ca)
    s.ctl("cert", "issue", "server", "localhost", "--ca", ca, "--days", "5", "--out", host_prefix(s),
          "--force")
    s.start()
    line = s.wait_log(r"expiry\[main\]: host localhost: certificate \S+/localhost\.crt \(\"CN=localhost\"\) expires on "
                      r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, in 5 days \(7-day warning\); renew it")
    assert "SIGHUP" in line, line

    r = s.ctl("check", "config", check=False)
    assert r.returncode == 0, r
    assert re.search(r"^warning: host localhost: certificate \S+ \(\"CN=localhost\"\) expires on .* in 5 days \(7-day warning\)",
                     r.stdout, re.M), r.stdout
    assert s.ctl("check", check=False).stdout == r.stdout

    # Renewed for a year and reloaded: no warning after the reload.
    s.ctl("cert", "issue", "server", "localhost", "--ca", ca, "--days", "365", "--out", host_prefix(s),
          "--force")
    mark = log_mark(s)
    os.kill(s.proc.pid, signal.SIGHUP)
    wait_log_since(s, mark, r"SIGHUP: reloaded the s2s trust store")
    assert "expires on" not in s.log()[mark:], s.log()[mark:]
    assert "expires on" not in s.ctl("check", check=False).stdout


def test_check_config_findings(make_server):
    s = make_server(start=False)
    r = s.ctl("check", "config", check=False)
    assert r.returncode == 0, r
    assert r.stdout.rstrip().endswith(("OK (1 host)", "0 errors, 1 warning")), r.stdout

    def check_with(*args):
        s.ctl("cert", "self-signed", *args, "--out", host_prefix(s), "--force")
        return s.ctl("check", "config", check=False)

    r = check_with("server", "localhost", "--expired")
    assert r.returncode == 1, r
    assert re.search(r"^error: host localhost: certificate \S+ \(\"CN=localhost\"\) expired on .* ago\); "
                     r"peers refuse it", r.stdout, re.M), r.stdout

    r = check_with("server", "other.example")
    assert r.returncode == 1, r
    assert "error: host localhost: certificate" in r.stdout and "does not name localhost" in r.stdout, r.stdout

    r = check_with("server", "localhost", "--eku", "clientAuth")
    assert r.returncode == 1, r
    assert "extended key usage without serverAuth" in r.stdout, r.stdout

    # A key of another certificate.
    other = os.path.join(s.dir, "other")
    s.ctl("cert", "self-signed", "server", "localhost", "--out", other)
    s.ctl("cert", "self-signed", "server", "localhost", "--out", host_prefix(s), "--force")
    os.replace(other + ".key", host_prefix(s) + ".key")
    r = s.ctl("check", check=False)
    assert r.returncode == 1, r
    assert re.search(r"^error: host localhost: key file \S+: key does not match certificate", r.stdout, re.M), \
        r.stdout

    # needed client certificates with an empty store refuse everyone.
    s.ctl("cert", "self-signed", "server", "localhost", "--out", host_prefix(s), "--force")
    s.configure(client_certs="needed")
    r = s.ctl("check", check=False)
    assert r.returncode == 1, r
    assert "c2s.client_ca" in r.stdout and "every client is refused" in r.stdout, r.stdout

    # A configuration error is a usage error.
    with open(s.conf, "a") as f:
        f.write("no_such_setting = 1;\n")
    assert s.ctl("check", check=False).returncode == 2
