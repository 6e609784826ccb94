"""Client certificates for the integration tests: a PKI made with
`parleyctl cert` inside each test, and three clients that present a
certificate and report what happened in one comparable shape.

    pki = Pki(server)                      # CAs, certificates, CRLs in server.dir/pki
    root = pki.ca("root")                  # parleyctl cert ca init
    crt, key = pki.client("alice@localhost", root)
    pki.trust(root)                        # parleyctl trust add --store client

    r = strophe_login(server, "alice@localhost", crt, key)   # libstrophe
    r = slix_login(server, "alice@localhost", crt, key, authzid="...")  # slixmpp
    r = raw_login(server, crt, key, authzid="...")           # Python ssl, by hand

Each returns an Outcome: the bound JID (None when no session), the SASL
mechanism lists the server offered, the SASL failure conditions, the
stream error, and the TLS error the client met.  libstrophe cannot send an
authzid of its choice (it sends --jid only when the certificate names
several addresses or another one) nor an empty one for a certificate with
several addresses; slixmpp and the raw client can.

Every wait is bounded; nothing here is shared between tests.
"""
import asyncio
import base64
import logging
import os
import re
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from clients import EXIT_OK, STROPHE_CLIENT, ClientProc
from raw import NS_SASL, STREAM_ERROR_RX, STREAM_TEXT_RX, Closed, Raw

TIMEOUT = 15.0

# slixmpp logs "No appropriate login method." and the like at ERROR; the
# Outcome says it better.
logging.getLogger("slixmpp").setLevel(logging.CRITICAL)


class Pki:
    """CAs and certificates under `server.dir/pki`, made by parleyctl."""

    def __init__(self, server):
        self.server = server
        self.dir = os.path.join(server.dir, "pki")
        os.makedirs(self.dir, exist_ok=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def ca(self, name, parent=None, cn=None):
        """A CA directory (ca.crt, ca.key; chain.crt for an intermediate)."""
        d = self.path(name)
        args = ["cert", "ca", "init", d]
        if parent:
            args += ["--ca", parent]
        if cn:
            args += ["--name", cn]
        self.server.ctl(*args)
        return d

    def client(self, jid, ca, name=None, *opts):
        """Issues a client certificate; returns (certificate, key) paths.
        The certificate file holds the chain of an intermediate CA too."""
        prefix = self.path(name or jid.replace("@", "_at_"))
        self.server.ctl("cert", "issue", "client", jid, "--ca", ca, "--out", prefix, *opts)
        return prefix + ".crt", prefix + ".key"

    def client_p12(self, jid, ca, name, password):
        """Issues a client certificate with a PKCS#12 bundle (key, certificate
        and its chain, as Gajim or libstrophe load it); returns its path."""
        prefix = self.path(name)
        self.server.ctl("cert", "issue", "client", jid, "--ca", ca, "--out", prefix, "--p12",
                        "--p12-password-stdin", input=password + "\n")
        return prefix + ".p12"

    def self_signed(self, jid, name=None, *opts):
        prefix = self.path(name or "self-" + jid.replace("@", "_at_"))
        self.server.ctl("cert", "self-signed", "client", jid, "--out", prefix, *opts)
        return prefix + ".crt", prefix + ".key"

    def trust(self, ca):
        return self.server.ctl("trust", "add", "--store", "client", os.path.join(ca, "ca.crt"))

    def revoke(self, crt, ca):
        return self.server.ctl("cert", "revoke", crt, "--ca", ca)

    def crl(self, ca, name="crl.pem"):
        out = self.path(name)
        self.server.ctl("cert", "crl", "--ca", ca, "--out", out)
        return out

    def fingerprint(self, crt):
        """The sha256 fingerprint parleyctl prints for a certificate."""
        r = self.server.ctl("cert", "show", crt, check=False)
        return re.search(r"sha256:\s+([0-9a-f]{64})", r.stdout).group(1)


@dataclass
class Outcome:
    client: str
    jid: str = None                                  # bound full JID; None: no session
    mechanisms: list = field(default_factory=list)   # one list per <mechanisms/> seen
    sasl_failures: list = field(default_factory=list)
    stream_error: str = None
    stream_text: str = None
    tls_error: str = None
    detail: str = ""                                 # everything, for assertion messages

    @property
    def offered(self):
        """The mechanisms of the last SASL features seen ([] if none)."""
        return self.mechanisms[-1] if self.mechanisms else []

    def __str__(self):
        return (f"{self.client}: jid={self.jid} mechanisms={self.mechanisms} "
                f"sasl_failures={self.sasl_failures} stream_error={self.stream_error} "
                f"({self.stream_text}) tls_error={self.tls_error}\n{self.detail}")


# ---- libstrophe ----

def strophe_start(server, jid, cert=None, key=None, password=None, direct_tls=False, *args):
    """Starts strophe_client with a client certificate and, optionally, a
    password (without one, EXTERNAL is all it can try).  A PKCS#12 `cert`
    goes without `key`, its password in args (--cert-password PW)."""
    port = server.tls_port if direct_tls else server.port
    argv = [STROPHE_CLIENT, "--jid", jid, "--port", str(port), "--cafile", server.cert,
            "--timeout", str(TIMEOUT)]
    if password is not None:
        argv += ["--password", password]
    if cert:
        argv += ["--cert", cert]
    if key:
        argv += ["--key", key]
    if direct_tls:
        argv.append("--direct-tls")
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=0"
    return ClientProc(argv + list(args), env=env)


def strophe_login(server, jid, cert=None, key=None, password=None, direct_tls=False, args=()):
    """Runs strophe_client to its end; the Outcome and its exit code."""
    c = strophe_start(server, jid, cert, key, password, direct_tls, *args)
    code = c.wait(timeout=TIMEOUT + 10)
    o = Outcome("libstrophe", detail=f"exit {code}; " + c.describe())
    o.exit_code = code
    for line in c.lines:
        if m := re.match(r"connected jid=(\S+)", line):
            o.jid = m.group(1)
        elif m := re.match(r"mechanisms list=(\S*)", line):
            o.mechanisms.append([x for x in m.group(1).split(",") if x])
        elif m := re.match(r"sasl-failure condition=(\S+)", line):
            o.sasl_failures.append(m.group(1))
        elif m := re.match(r"stream-error condition=(\S+) text=(.*)", line):
            o.stream_error, o.stream_text = m.group(1), m.group(2)
        elif m := re.match(r"tls-error reason=(.*)", line):
            o.tls_error = o.tls_error or m.group(1)
    if o.jid and code != EXIT_OK:
        o.detail = "(a session, but no clean end) " + o.detail
    return o


# ---- slixmpp ----

class _XMPP(slixmpp.ClientXMPP):
    """Connects to the test instance's address, never one DNS gives."""

    def __init__(self, jid, password, address, **kw):
        super().__init__(jid, password, **kw)
        self.test_address = address

    async def get_dns_records(self, domain, port=None):
        return [(domain, self.test_address[0], self.test_address[1])]


async def _slix(server, jid, cert, key, authzid, direct_tls, mech, password, timeout):
    port = server.tls_port if direct_tls else server.port
    plugin_config = {"feature_mechanisms": {"use_mech": mech}}
    x = _XMPP(jid, password or "", ("127.0.0.1", port), plugin_config=plugin_config)
    x.ca_certs = Path(server.cert)
    x.whitespace_keepalive = False
    if cert:
        # slixmpp loads them with SSLContext.load_cert_chain: the whole chain
        # in the certificate file is presented, intermediates included.
        x.certfile, x.keyfile = cert, key
    if authzid is not None:
        x.credentials["authzid"] = authzid
    o = Outcome("slixmpp")
    log = []
    done = asyncio.Event()

    def on(name, fn=None):
        def handler(data=None):
            log.append((name, str(data)[:300]))
            if fn:
                fn(data)
        x.add_event_handler(name, handler)

    def features(stanza):
        mechs = [m.text for m in stanza.xml.iter("{%s}mechanism" % NS_SASL)]
        if stanza.xml.find("{%s}mechanisms" % NS_SASL) is not None:
            o.mechanisms.append(mechs)

    def failed(stanza):
        o.sasl_failures.append(stanza["condition"])

    def stream_error(stanza):
        o.stream_error, o.stream_text = stanza["condition"], stanza["text"]

    def session(_):
        o.jid = str(x.boundjid.full)
        done.set()

    def gone(data):
        if isinstance(data, ssl.SSLError):
            o.tls_error = o.tls_error or str(data)
        done.set()

    def tls_failed(e):
        o.tls_error = str(e)
        done.set()

    x.register_handler(Callback("parley-test features", MatchXPath("{http://etherx.jabber.org/streams}features"),
                                features))
    on("failed_auth", failed)
    on("stream_error", stream_error)
    on("session_start", session)
    on("disconnected", gone)
    on("ssl_invalid_chain", tls_failed)
    on("connection_failed", gone)
    on("failed_all_auth")
    on("no_auth")
    x.connect(x.test_address, use_ssl=direct_tls, force_starttls=not direct_tls)
    try:
        await asyncio.wait_for(done.wait(), timeout)
    except asyncio.TimeoutError:
        log.append(("timeout", timeout))
    finally:
        if x.transport is not None:
            try:
                await asyncio.wait_for(asyncio.shield(x.disconnect(wait=2.0)), 3.0)
            except (asyncio.TimeoutError, Exception):
                x.abort()
        x.cancel_connection_attempt()
    o.detail = "events: " + repr(log)
    return o


def slix_login(server, jid, cert=None, key=None, authzid=None, direct_tls=False, mech="EXTERNAL",
               password=None, timeout=TIMEOUT):
    """One slixmpp login restricted to `mech` (EXTERNAL by default), with
    `authzid` sent as given (None: none, i.e. "=")."""
    return asyncio.run(_slix(server, jid, cert, key, authzid, direct_tls, mech, password, timeout))


# ---- by hand ----

class CertRaw(Raw):
    """raw.Raw presenting a client certificate (cert may be None)."""

    def __init__(self, port, cert=None, key=None, **kw):
        self.client_cert = (cert, key)
        super().__init__(port, **kw)

    def _context(self, alpn=None):
        ctx = super()._context(alpn)
        if self.client_cert[0]:
            ctx.load_cert_chain(*self.client_cert)
        return ctx


def raw_login(server, cert=None, key=None, authzid=None, direct_tls=False, domain="localhost"):
    """TLS with a certificate, then EXTERNAL by hand: the authzid exactly as
    given ("" and None send "="); binds on success."""
    o = Outcome("raw")
    port = server.tls_port if direct_tls else server.port
    r = CertRaw(port, cert, key, tls=direct_tls, cafile=server.cert, timeout=TIMEOUT)
    try:
        features = r.open(to=domain)
        if not r.secure:
            r.starttls()
            features = r.open(to=domain)
        o.mechanisms.append([m.decode() for m in re.findall(rb"<mechanism>([^<]+)</mechanism>", features)])
        data = base64.b64encode(authzid.encode()).decode() if authzid else "="
        r.send(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>{data}</auth>")
        m = r.expect(rb"<success[^>]*(?:/>|>.*?</success>)|<failure[^>]*>\s*<([a-z-]+)")
        if m.group(1):
            o.sasl_failures.append(m.group(1).decode())
        else:
            r.open(to=domain)
            o.jid = r.bind()
    except (Closed, TimeoutError, OSError) as e:
        o.detail = repr(e)
        o.tls_error = str(getattr(r, "tls_error", "") or "") or None
        if r.closed or isinstance(e, Closed):
            m = STREAM_ERROR_RX.search(r.received)
            if m:
                o.stream_error = m.group(1).decode()
                t = STREAM_TEXT_RX.search(r.received, m.end())
                o.stream_text = t.group(1).decode() if t else None
    finally:
        r.close()
    o.detail += f"; received {r.received[-1500:]!r}"
    return o


def tls_alert(server, cert=None, key=None, direct_tls=False, timeout=10.0):
    """Connects with (or without) a certificate and reads until the server
    ends the connection; the ssl error that ended it ("" if none)."""
    port = server.tls_port if direct_tls else server.port
    r = CertRaw(port, cert, key, tls=False, cafile=server.cert, timeout=timeout)
    try:
        if direct_tls:
            r._wrap(alpn=["xmpp-client"])
        else:
            r.open()
            r.starttls()
        # TLS 1.3: the client's handshake ends before the server has judged
        # its certificate; the alert comes with the first read.  Nothing is
        # sent: a write to a connection the server already ended would fail
        # with EOF, hiding the alert.
        r.read_until_close(timeout)
    except ssl.SSLError as e:
        return str(e)
    except (OSError, Closed, TimeoutError) as e:
        return str(getattr(r, "tls_error", "") or e)
    finally:
        r.close()
    return str(getattr(r, "tls_error", "") or "")


def log_mark(server):
    """A position in the server's log, for wait_log_since."""
    return len(server.log())


def wait_log_since(server, mark, pattern, timeout=10.0):
    """Waits until a log line written after `mark` matches; returns it."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        for line in server.log()[mark:].splitlines():
            if rx.search(line):
                return line
        if time.monotonic() >= deadline:
            raise AssertionError(f"no log line matches {pattern!r} within {timeout} s; log since:\n"
                                 f"{server.log()[mark:][-4000:]}")
        time.sleep(0.05)
