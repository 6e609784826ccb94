"""Client certificates end to end (issue 4): SASL EXTERNAL by XEP-0178's
rules, the c2s.client_certs policy, trust stores reloaded on SIGHUP, pins,
auto-created accounts, and `parleyctl cert show`.

Every certificate is made inside the test with `parleyctl cert` (certs.Pki).
The clients are libstrophe (strophe_client --cert/--key) and slixmpp with a
certificate on its SSL context; the raw client (Python's ssl and an EXTERNAL
exchange by hand) is used only for what neither can express: reading the
TLS alert itself, and asking for EXTERNAL where it is not offered.  Each
refusal is asserted twice: what the client got (SASL condition, stream
error or TLS alert) and the server's log line naming the rule.

The servers run with auth.fail_delay_max = 0: a test makes several failed
logins from 127.0.0.1 on purpose, and the growing delay (tested elsewhere)
would only slow it down.
"""
import os
import re
import signal
import subprocess

import pytest

from certs import (Pki, log_mark, raw_login, slix_login, strophe_login, tls_alert,
                   wait_log_since)
from clients import EXIT_AUTH, EXIT_CONN, STROPHE_CLIENT
from parley import PARLEYCTL

pytestmark = pytest.mark.skipif(not os.path.exists(STROPHE_CLIENT),
                                reason="strophe_client not built (libstrophe-dev missing)")

BASE = {"fail_delay_max": 0, "fail_max": 1000}


def cert_server(make_server, options=None, users=(), trust=True):
    """An unstarted server with a root CA made by parleyctl (trusted for
    clients unless trust=False) and password-less accounts: certificate
    logins are the only way in for them."""
    s = make_server(options={**BASE, **(options or {})}, start=False)
    pki = Pki(s)
    root = pki.ca("root")
    if trust:
        pki.trust(root)
    for jid in users:
        s.ctl("user", "add", jid, "--no-password")
    return s, pki, root


def logged_in(o, bare):
    assert o.jid and o.jid.startswith(bare + "/"), f"expected a session of {bare}: {o}"


def refused_by_sasl(o, condition):
    assert o.jid is None, f"expected no session: {o}"
    assert o.sasl_failures == [condition], f"expected one <{condition}/>: {o}"
    assert "EXTERNAL" in o.offered, o


def refused_at_tls(o, reason_rx):
    """The certificate was judged once TLS was up (client_certs = wanted,
    disconnect_on_failure on): a <not-authorized/> stream error with the
    reason, before any SASL."""
    assert o.jid is None and not o.sasl_failures, o
    assert o.stream_error == "not-authorized", o
    assert re.search(reason_rx, o.stream_text or ""), o


def sasl_refusal_rx(user, condition, rule):
    return (rf"authentication failed from 127\.0\.0\.1:\d+: user={re.escape(user)} mechanism=EXTERNAL: "
            rf"<{condition}/> \({rule}")


def cert_refusal_rx(reason):
    return rf"client certificate refused \({reason}.*\); closing \(c2s\.disconnect_on_failure = true\)"


# ---- identities (XEP-0178) ----

@pytest.mark.parametrize("direct_tls", [False, True], ids=["starttls", "direct_tls"])
def test_xmppaddr_certificate_logs_in_without_authzid(make_server, direct_tls):
    s, pki, root = cert_server(make_server, users=["alice@localhost"])
    alice = pki.client("alice@localhost", root)
    expired = pki.client("old@localhost", root, "old", "--expired")
    s.start()

    for login in (strophe_login, slix_login):
        mark = log_mark(s)
        o = login(s, "alice@localhost", *alice, direct_tls=direct_tls)
        logged_in(o, "alice@localhost")
        assert o.offered[0] == "EXTERNAL", o
        tls_line = wait_log_since(s, mark, r"TLS established")
        assert ("direct TLS" in tls_line) == direct_tls, tls_line
        wait_log_since(s, mark, r"127\.0\.0\.1:\d+: client certificate verified$")
        wait_log_since(s, mark, r"certificate identifies alice@localhost by the certificate's xmppAddr$")
        wait_log_since(s, mark, r"authenticated as alice@localhost with EXTERNAL ")
        wait_log_since(s, mark, rf"bound {re.escape(o.jid)}$")

    # A refusal on the same entry point: judged once TLS is up, the stream
    # ends with <not-authorized/> before any SASL.
    mark = log_mark(s)
    o = strophe_login(s, "old@localhost", *expired, direct_tls=direct_tls)
    refused_at_tls(o, r'certificate "CN=old" expired on ')
    assert o.exit_code == EXIT_CONN, o
    wait_log_since(s, mark, cert_refusal_rx(r'certificate "CN=old" expired on '))


def test_cn_only_certificate(make_server):
    s, pki, root = cert_server(make_server, users=["carol@localhost"])
    carol = pki.client("carol@localhost", root, "carol", "--no-xmpp-addr")
    shown = s.ctl("cert", "show", carol[0]).stdout
    assert "xmppAddr" not in shown and re.search(r"CN:\s+carol$", shown, re.M), shown
    s.start()
    mark = log_mark(s)
    o = strophe_login(s, "carol@localhost", *carol)
    logged_in(o, "carol@localhost")
    wait_log_since(s, mark, r"certificate identifies carol@localhost by the certificate's CN "
                            r"\(c2s\.cn_as_username\)$")
    wait_log_since(s, mark, r"authenticated as carol@localhost with EXTERNAL ")
    # An authzid naming someone else than the CN's account.
    mark = log_mark(s)
    o = slix_login(s, "carol@localhost", *carol, authzid="dave@localhost")
    refused_by_sasl(o, "invalid-authzid")
    wait_log_since(s, mark, sasl_refusal_rx("dave@localhost", "invalid-authzid",
                                            r"the authzid dave@localhost differs from the certificate's "
                                            r"CN identity carol@localhost\)"))


def test_cn_only_certificate_refused_without_cn_as_username(make_server):
    s, pki, root = cert_server(make_server, {"cn_as_username": False}, users=["carol@localhost"])
    carol = pki.client("carol@localhost", root, "carol", "--no-xmpp-addr")
    s.start()
    mark = log_mark(s)
    o = strophe_login(s, "carol@localhost", *carol)
    refused_by_sasl(o, "not-authorized")
    assert o.exit_code == EXIT_AUTH, o
    wait_log_since(s, mark, sasl_refusal_rx("carol", "not-authorized",
                                            r"the certificate has no xmppAddr and c2s\.cn_as_username is off\)"))
    # Naming the account does not help: without an identity only a pin does.
    mark = log_mark(s)
    o = slix_login(s, "carol@localhost", *carol, authzid="carol@localhost")
    refused_by_sasl(o, "not-authorized")
    wait_log_since(s, mark, sasl_refusal_rx("carol@localhost", "not-authorized",
                                            r"no identity in the certificate and carol@localhost has not "
                                            r"pinned it"))


def test_two_xmppaddrs_need_an_authzid(make_server):
    s, pki, root = cert_server(make_server, users=["a@localhost", "b@localhost"])
    both = pki.client("a@localhost", root, "ab", "--xmpp-addr", "b@localhost")
    shown = s.ctl("cert", "show", both[0]).stdout
    assert re.search(r"xmppAddr:\s+a@localhost\n\s+b@localhost\n", shown), shown
    s.start()

    mark = log_mark(s)
    o = slix_login(s, "a@localhost", *both)   # no authzid: "="
    refused_by_sasl(o, "invalid-authzid")
    wait_log_since(s, mark, sasl_refusal_rx("a@localhost", "invalid-authzid",
                                            r"the certificate names 2 addresses; the client must choose "
                                            r"one with an authzid\)"))

    # libstrophe sends its JID as the authzid when the certificate names
    # several addresses.
    mark = log_mark(s)
    o = strophe_login(s, "b@localhost", *both)
    logged_in(o, "b@localhost")
    wait_log_since(s, mark, r"certificate identifies b@localhost by xmppAddr named by the authzid$")
    wait_log_since(s, mark, r"authenticated as b@localhost with EXTERNAL ")

    mark = log_mark(s)
    o = slix_login(s, "a@localhost", *both, authzid="a@localhost")
    logged_in(o, "a@localhost")
    wait_log_since(s, mark, r"authenticated as a@localhost with EXTERNAL ")

    mark = log_mark(s)
    o = slix_login(s, "a@localhost", *both, authzid="c@localhost")
    refused_by_sasl(o, "invalid-authzid")
    wait_log_since(s, mark, sasl_refusal_rx("c@localhost", "invalid-authzid",
                                            r"the authzid c@localhost is not among the certificate's "
                                            r"xmppAddr entries\)"))


# ---- verification ----

def test_refused_certificates(make_server):
    """Expired, untrusted CA, self-signed, chain deeper than verify_depth,
    wrong EKU, another domain; and the good ones next to them."""
    s, pki, root = cert_server(make_server, {"verify_depth": 1},
                               users=["mid@localhost", "eve@localhost", "alice@localhost"])
    other = pki.ca("other", cn="Other CA")
    sub1 = pki.ca("sub1", parent=root, cn="Sub CA 1")
    sub2 = pki.ca("sub2", parent=sub1, cn="Sub CA 2")
    certs = {
        "expired": pki.client("old@localhost", root, "old", "--expired"),
        "untrusted": pki.client("stranger@localhost", other, "stranger"),
        "selfsigned": pki.self_signed("selfie@localhost"),
        "mid": pki.client("mid@localhost", sub1, "mid"),     # 1 intermediate: allowed
        "deep": pki.client("deep@localhost", sub2, "deep"),  # 2 intermediates: too many
        "server_eku": pki.client("alice@localhost", root, "srv", "--eku", "serverAuth"),
        "eve": pki.client("eve@example.org", root, "eve"),
    }
    mid_p12 = pki.client_p12("mid@localhost", sub1, "mid-bundle", "bundle pw")
    s.start()
    cases = [
        ("expired", strophe_login, r'certificate "CN=old" expired on \d{4}-'),
        ("untrusted", strophe_login, r'certificate "CN=stranger" was issued by "CN=Other CA", which is not '
                                     r'in the trust store'),
        ("selfsigned", strophe_login, r'certificate "CN=selfie" is self-signed, and self-signed '
                                      r'certificates are not accepted'),
        # slixmpp presents the whole chain of the certificate file
        # (libstrophe only the leaf, which would be an unknown issuer).
        ("deep", slix_login, r'the chain of certificate "CN=deep" has more intermediate CAs than the '
                             r'verify depth \(1\) allows'),
        ("server_eku", strophe_login, r'certificate "CN=alice" is not for client authentication: its '
                                      r'extended key usage lacks clientAuth'),
    ]
    for name, login, reason in cases:
        mark = log_mark(s)
        o = login(s, "alice@localhost", *certs[name])
        refused_at_tls(o, reason)
        wait_log_since(s, mark, cert_refusal_rx(reason))

    mark = log_mark(s)
    o = slix_login(s, "mid@localhost", *certs["mid"])
    logged_in(o, "mid@localhost")
    wait_log_since(s, mark, r"client certificate verified$")
    # The PKCS#12 bundle carries the chain too (libstrophe presents what
    # it holds; from a PEM file it takes the leaf alone).
    mark = log_mark(s)
    o = strophe_login(s, "mid@localhost", mid_p12, args=["--cert-password", "bundle pw"])
    logged_in(o, "mid@localhost")
    wait_log_since(s, mark, r"client certificate verified$")

    # Verified, but its address is of another host: refused by SASL.
    mark = log_mark(s)
    o = slix_login(s, "eve@localhost", *certs["eve"])
    refused_by_sasl(o, "not-authorized")
    wait_log_since(s, mark, sasl_refusal_rx("eve@example.org", "not-authorized",
                                            r"the certificate is for eve@example\.org, not an account of "
                                            r"localhost\)"))


def test_revoked_certificate_with_crl_and_reload(make_server):
    s, pki, root = cert_server(make_server, users=["alice@localhost", "bob@localhost"])
    alice = pki.client("alice@localhost", root)
    bob = pki.client("bob@localhost", root)
    pki.revoke(bob[0], root)
    s.configure(crl_file=pki.crl(root))
    s.start()
    s.wait_log(r"loaded the client certificate trust store \(generation 1\): 1 CA certificate, 1 CRL;")

    mark = log_mark(s)
    o = strophe_login(s, "bob@localhost", *bob)
    refused_at_tls(o, r'certificate "CN=bob" \(serial [0-9A-F]+\) has been revoked')
    wait_log_since(s, mark, cert_refusal_rx(r'certificate "CN=bob" \(serial [0-9A-F]+\) has been revoked'))
    o = strophe_login(s, "alice@localhost", *alice)
    logged_in(o, "alice@localhost")

    # Revoking alice and publishing the CRL applies on SIGHUP.
    pki.revoke(alice[0], root)
    pki.crl(root)
    mark = log_mark(s)
    os.kill(s.proc.pid, signal.SIGHUP)
    wait_log_since(s, mark, r"SIGHUP: reloaded the client certificate trust store \(generation 2\): "
                            r"1 CA certificate, 1 CRL;")
    o = strophe_login(s, "alice@localhost", *alice)
    refused_at_tls(o, r'certificate "CN=alice" \(serial [0-9A-F]+\) has been revoked')
    wait_log_since(s, mark, cert_refusal_rx(r'certificate "CN=alice" .* has been revoked'))

    # A CRL file that does not parse is not applied: the store before stays.
    with open(pki.path("crl.pem"), "w") as f:
        f.write("-----BEGIN X509 CRL-----\nnot base64\n-----END X509 CRL-----\n")
    mark = log_mark(s)
    os.kill(s.proc.pid, signal.SIGHUP)
    wait_log_since(s, mark, r"SIGHUP: cannot reload the client trust store: CRL file \S+/crl\.pem: CRL #1 "
                            r"cannot be read: .*; keeping the previous one$")
    o = strophe_login(s, "alice@localhost", *alice)
    refused_at_tls(o, r'certificate "CN=alice" \(serial [0-9A-F]+\) has been revoked')


def test_self_signed_accepted_when_allowed(make_server):
    s, pki, root = cert_server(make_server, {"accept_selfsigned": True}, users=["selfie@localhost"])
    selfie = pki.self_signed("selfie@localhost")
    s.start()
    mark = log_mark(s)
    o = strophe_login(s, "selfie@localhost", *selfie)
    logged_in(o, "selfie@localhost")
    wait_log_since(s, mark, r"client certificate verified$")
    wait_log_since(s, mark, r"certificate identifies selfie@localhost by the certificate's xmppAddr$")


# ---- policy ----

def test_needed_refuses_handshakes_without_a_valid_certificate(make_server):
    s, pki, root = cert_server(make_server, {"client_certs": "needed"}, users=["alice@localhost"])
    s.add_user("pw@localhost")
    alice = pki.client("alice@localhost", root)
    expired = pki.client("old@localhost", root, "old", "--expired")
    s.start()
    no_cert = r"closed \(TLS handshake failed: the client sent no certificate, and this port requires one\)"
    for direct_tls in (False, True):
        # A password does not help: the handshake itself fails.
        mark = log_mark(s)
        o = strophe_login(s, "pw@localhost", password="secret", direct_tls=direct_tls)
        assert o.jid is None and o.exit_code == EXIT_CONN and not o.mechanisms, o
        # libstrophe reports the alert when it reads it before the reset that
        # follows (it sends its stream header right after its Finished, and
        # the server closes without reading it); the raw client below, which
        # sends nothing, always gets it.
        assert o.tls_error in ("tlsv13 alert certificate required", None), o
        wait_log_since(s, mark, no_cert)

        mark = log_mark(s)
        alert = tls_alert(s, direct_tls=direct_tls)
        assert "TLSV13_ALERT_CERTIFICATE_REQUIRED" in alert, alert
        wait_log_since(s, mark, no_cert)

        mark = log_mark(s)
        alert = tls_alert(s, *expired, direct_tls=direct_tls)
        assert "SSLV3_ALERT_CERTIFICATE_EXPIRED" in alert, alert
        wait_log_since(s, mark, r'closed \(TLS handshake failed: client certificate refused \(expired\): '
                                r'certificate "CN=old" expired on ')

        o = strophe_login(s, "alice@localhost", *alice, direct_tls=direct_tls)
        logged_in(o, "alice@localhost")


def test_wanted_without_certificate_keeps_passwords(make_server):
    s, pki, root = cert_server(make_server)
    s.add_user("pw@localhost")
    s.start()
    s.wait_log(r"\(generation 1\): 1 CA certificate, 0 CRLs; clients are asked for certificates")
    mark = log_mark(s)
    o = strophe_login(s, "pw@localhost", password="secret")
    logged_in(o, "pw@localhost")
    assert "EXTERNAL" not in o.offered and "SCRAM-SHA-256" in o.offered, o
    wait_log_since(s, mark, r"authenticated as pw@localhost with SCRAM-SHA-256 ")
    assert "client certificate" not in s.log()[mark:], s.log()[mark:]

    # Asking for EXTERNAL anyway: it is not offered on this stream.
    mark = log_mark(s)
    o = raw_login(s)
    assert o.jid is None and o.sasl_failures == ["invalid-mechanism"], o
    assert o.offered and "EXTERNAL" not in o.offered, o
    wait_log_since(s, mark, r"asked for SASL mechanism 'EXTERNAL', which this stream does not offer")


def test_invalid_certificate_without_disconnect_falls_back_to_password(make_server):
    s, pki, root = cert_server(make_server, {"disconnect_on_failure": False})
    s.add_user("pw@localhost")
    expired = pki.client("pw@localhost", root, "old", "--expired")
    s.start()
    reason = r'certificate "CN=pw" expired on '
    refused = rf"client certificate refused \({reason}.*\); SASL EXTERNAL not offered, password mechanisms remain"

    # libstrophe would use EXTERNAL first if it were offered.
    mark = log_mark(s)
    o = strophe_login(s, "pw@localhost", *expired, password="secret")
    logged_in(o, "pw@localhost")
    assert "EXTERNAL" not in o.offered and o.offered, o
    assert not o.sasl_failures, o
    wait_log_since(s, mark, refused)
    wait_log_since(s, mark, r"authenticated as pw@localhost with SCRAM-SHA-256 ")

    # Without a password there is nothing left.
    mark = log_mark(s)
    o = slix_login(s, "pw@localhost", *expired)
    assert o.jid is None and "EXTERNAL" not in o.offered and not o.stream_error, o
    wait_log_since(s, mark, refused)


# ---- accounts ----

def test_auto_created_accounts(make_server):
    s, pki, root = cert_server(make_server, {"auto_create_accounts": True})
    newbie = pki.client("newbie@localhost", root)
    sensor = pki.client("sensor7@localhost", root, "sensor", "--no-xmpp-addr", "--cn", "Sensor 7")
    s.start()
    assert "newbie@localhost" not in s.ctl("user", "list", "localhost").stdout
    for n in (1, 2):
        mark = log_mark(s)
        o = strophe_login(s, "newbie@localhost", *newbie)
        logged_in(o, "newbie@localhost")
        wait_log_since(s, mark, r"authenticated as newbie@localhost with EXTERNAL ")
        # Created once: the second login found the account.
        created = re.findall(r"created account newbie@localhost at its first certificate login "
                             r"\(c2s\.auto_create_accounts\)", s.log())
        assert len(created) == 1, s.log()

    # A certificate without identity never creates the account it claims.
    mark = log_mark(s)
    o = slix_login(s, "ghost@localhost", *sensor, authzid="ghost@localhost")
    refused_by_sasl(o, "not-authorized")
    wait_log_since(s, mark, sasl_refusal_rx("ghost@localhost", "not-authorized",
                                            r"no identity in the certificate, and no such account to have "
                                            r"pinned it\)"))
    assert "created account ghost" not in s.log()
    assert "ghost@localhost" not in s.ctl("user", "list", "localhost").stdout


# Regression: store_sqlite_open used to open and close the database file
# while the server held it, which dropped SQLite's POSIX locks; parleyctl
# then checkpointed the WAL away under the running server.
def test_auto_created_account_is_listed_while_running(make_server):
    s, pki, root = cert_server(make_server, {"auto_create_accounts": True})
    newbie = pki.client("newbie@localhost", root)
    s.start()
    assert "newbie@localhost" not in s.ctl("user", "list", "localhost").stdout
    mark = log_mark(s)
    logged_in(strophe_login(s, "newbie@localhost", *newbie), "newbie@localhost")
    wait_log_since(s, mark, r"created account newbie@localhost at its first certificate login")
    assert "newbie@localhost" in s.ctl("user", "list", "localhost").stdout.split()


def test_accounts_are_not_created_by_default(make_server):
    s, pki, root = cert_server(make_server)
    newbie = pki.client("newbie@localhost", root)
    s.start()
    mark = log_mark(s)
    o = strophe_login(s, "newbie@localhost", *newbie)
    refused_by_sasl(o, "not-authorized")
    wait_log_since(s, mark, sasl_refusal_rx("newbie@localhost", "not-authorized",
                                            r"no such account \(c2s\.auto_create_accounts is off\)\)"))
    assert "newbie@localhost" not in s.ctl("user", "list", "localhost").stdout


def test_pinned_certificates(make_server):
    s, pki, root = cert_server(make_server, users=["pinned@localhost", "sensor7@localhost",
                                                   "alice@localhost"])
    first = pki.client("pinned@localhost", root, "first")
    second = pki.client("pinned@localhost", root, "second")
    # No xmppAddr, and a CN that is no username: no identity at all.
    sensor = pki.client("sensor7@localhost", root, "sensor", "--no-xmpp-addr", "--cn", "Sensor 7")
    s.ctl("user", "cert", "add", "pinned@localhost", first[0])
    s.ctl("user", "cert", "add", "sensor7@localhost", sensor[0])
    assert pki.fingerprint(first[0]) in s.ctl("user", "cert", "list", "pinned@localhost").stdout
    s.start()

    mark = log_mark(s)
    o = strophe_login(s, "pinned@localhost", *first)
    logged_in(o, "pinned@localhost")
    wait_log_since(s, mark, r"certificate identifies pinned@localhost by the certificate's xmppAddr "
                            r"\(pinned\)$")

    mark = log_mark(s)
    o = strophe_login(s, "pinned@localhost", *second)
    refused_by_sasl(o, "not-authorized")
    wait_log_since(s, mark, sasl_refusal_rx("pinned@localhost", "not-authorized",
                                            r"pinned@localhost accepts only its pinned certificates; this "
                                            rf"one \(sha256 {pki.fingerprint(second[0])[:16]}\.\.\.\)"))

    # The identity-less certificate: only for the account that pinned it,
    # and only when the client names that account.
    mark = log_mark(s)
    o = slix_login(s, "sensor7@localhost", *sensor, authzid="sensor7@localhost")
    logged_in(o, "sensor7@localhost")
    wait_log_since(s, mark, r"certificate identifies sensor7@localhost by its pin \(pinned\)$")

    mark = log_mark(s)
    o = strophe_login(s, "sensor7@localhost", *sensor)   # libstrophe sends no authzid here
    refused_by_sasl(o, "not-authorized")
    wait_log_since(s, mark, sasl_refusal_rx("Sensor 7", "not-authorized",
                                            r"the certificate's CN 'Sensor 7' is not a valid username\)"))

    mark = log_mark(s)
    o = slix_login(s, "alice@localhost", *sensor, authzid="alice@localhost")
    refused_by_sasl(o, "not-authorized")
    wait_log_since(s, mark, sasl_refusal_rx("alice@localhost", "not-authorized",
                                            r"no identity in the certificate and alice@localhost has not "
                                            r"pinned it"))


# ---- trust store changes without restart ----

def test_trust_store_reload_on_sighup(make_server):
    s, pki, root = cert_server(make_server, users=["alice@localhost"], trust=False)
    alice = pki.client("alice@localhost", root)
    s.start()
    s.wait_log(r"loaded the client certificate trust store \(generation 1\): 0 CA certificates, 0 CRLs; "
               r"clients are not asked for certificates")

    def external_fails():
        o = strophe_login(s, "alice@localhost", *alice)
        assert o.jid is None and o.exit_code == EXIT_AUTH, o
        assert o.offered and "EXTERNAL" not in o.offered and not o.sasl_failures, o

    external_fails()

    added = pki.trust(root).stdout
    assert "applies this on SIGHUP" in added, added
    listed = s.ctl("trust", "list", "--store", "client").stdout
    assert "Parley CA" in listed, listed
    mark = log_mark(s)
    os.kill(s.proc.pid, signal.SIGHUP)
    wait_log_since(s, mark, r"SIGHUP: reloaded the client certificate trust store \(generation 2\): "
                            r"1 CA certificate, 0 CRLs; clients are asked for certificates")
    o = strophe_login(s, "alice@localhost", *alice)
    logged_in(o, "alice@localhost")
    wait_log_since(s, mark, r"authenticated as alice@localhost with EXTERNAL ")

    s.ctl("trust", "remove", "--store", "client", os.path.join(root, "ca.crt"))
    assert "Parley CA" not in s.ctl("trust", "list", "--store", "client").stdout
    mark = log_mark(s)
    os.kill(s.proc.pid, signal.SIGHUP)
    wait_log_since(s, mark, r"SIGHUP: reloaded the client certificate trust store \(generation 3\): "
                            r"0 CA certificates")
    external_fails()


# ---- parleyctl cert show ----

def test_cert_show_verdicts(make_server):
    s, pki, root = cert_server(make_server, {"verify_depth": 1})
    sub1 = pki.ca("sub1", parent=root)   # default names, one per level
    sub2 = pki.ca("sub2", parent=sub1)
    other = pki.ca("other", cn="Other CA")
    good = pki.client("good@localhost", root, "good")
    revoked = pki.client("gone@localhost", root, "gone")
    pki.revoke(revoked[0], root)
    crls = pki.crl(root, "root.crl")
    # One CRL per CA the chains go through (the CRL check covers leaves).
    with open(crls, "a") as f:
        for ca in (sub1, sub2):
            f.write(open(pki.crl(ca, os.path.basename(ca) + ".crl")).read())
    s.configure(crl_file=crls)
    cases = [
        (good[0], 0, r"^  accepted$"),
        (pki.client("old@localhost", root, "old", "--expired")[0], 1,
         r'^  refused \(expired\): certificate "CN=old" expired on .*\n  hint: issue a new certificate$'),
        (pki.client("stranger@localhost", other, "stranger")[0], 1,
         r'^  refused \(unknown-issuer\): certificate "CN=stranger" was issued by "CN=Other CA", which is '
         r'not in the trust store\n  hint: trust its CA with: parleyctl trust add --store client'),
        (revoked[0], 1, r'^  refused \(revoked\): certificate "CN=gone" \(serial [0-9A-F]+\) has been revoked$'),
        (pki.self_signed("selfie@localhost")[0], 1,
         r'^  refused \(self-signed\): certificate "CN=selfie" is self-signed.*\n  hint: c2s\.accept_selfsigned'),
        (pki.client("deep@localhost", sub2, "deep")[0], 1,
         r'^  refused \(chain-too-long\): .*verify depth \(1\).*\n  hint: raise c2s\.verify_depth$'),
        (pki.client("mid@localhost", sub1, "mid")[0], 0, r"^  accepted$"),
    ]
    for crt, code, rx in cases:
        r = s.ctl("cert", "show", crt, "-c", s.conf, check=False)
        assert r.returncode == code, f"{crt}: exit {r.returncode}, wanted {code}:\n{r.stdout}{r.stderr}"
        assert re.search(rx, r.stdout, re.M), f"{crt}: no {rx!r} in:\n{r.stdout}"
        assert re.search(r"^client trust store .*\(1 CA, CRL ", r.stdout, re.M), r.stdout

    deep = s.ctl("cert", "show", pki.path("deep.crt"), check=False).stdout
    assert re.search(r"certificate 2 of 3 \(chain\)\n  subject:\s+CN=Parley Intermediate CA 2\n"
                     r"  issuer:\s+CN=Parley Intermediate CA\n", deep), deep

    # Without a configuration the identities are shown, the verdict is not.
    env = {k: v for k, v in os.environ.items() if k != "PARLEY_CONFIG"}
    r = subprocess.run([PARLEYCTL, "cert", "show", good[0]], capture_output=True, text=True, timeout=30,
                       cwd=pki.dir, env=env)  # no ./parley.conf there
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"xmppAddr:\s+good@localhost", r.stdout), r.stdout
    assert "not checked (no configuration" in r.stdout, r.stdout
