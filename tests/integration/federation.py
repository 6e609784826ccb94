"""Real peer servers for federation tests: private Prosody 0.12 and ejabberd
23.01 instances (Debian's packages, used only as binaries) that federate
over loopback, finding each other through a private DNS server.

    dns = Dns().start()                          # unbound on 127.0.0.1:<port>, zone test.
    pki = Pki(tmpdir)                            # CAs and certificates by `parleyctl cert`
    ca = pki.ca("root")
    p1 = ProsodyPeer("p1.test", dns, pki, ca=ca, trust=[ca]).start()
    e1 = EjabberdPeer("e1.test", dns, pki, ca=ca, trust=[ca]).start()
    p1.add_user("alice", "pw"); e1.add_user("bob", "pw")
    assert exchange("alice@p1.test", "pw", p1, "bob@e1.test", "pw", e1, "hi")

Each peer publishes its own records in the Dns when it starts (an A record
for its domain on its loopback address 127.0.0.x, and an
_xmpp-server._tcp SRV record for its s2s port; with direct_tls also
_xmpps-server._tcp) and restarts the Dns.  Every instance lives in its own
temporary directory, listens on free ports of its own loopback address,
logs at debug level, and is stopped by process id.  Every wait is bounded.

Resolvers: Prosody resolves with libunbound (Debian's lua-unbound, a
Recommends of prosody, so named in TEST_DEPS: without it Prosody falls back
to its own resolver, which reads /etc/resolv.conf only), told in its
configuration to forward everything to the Dns.  ejabberd looks SRV
records up with Erlang's own DNS client (inet_res), told by an inetrc file
(ERL_INETRC) to ask only the Dns, but the SRV target's address with
getaddrinfo (p1_xmpp's xmpp_stream_out calls net:getaddrinfo): libc, which
ignores inetrc.  So each ejabberd runs in a mount namespace of its own
(`unshare -m`) where a hosts file holding the Dns's A records is
bind-mounted over /etc/hosts; the machine's /etc/hosts is never touched.
The Dns rewrites those hosts files in place whenever it restarts.
"""
import asyncio
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import slixmpp
import slixmpp.exceptions
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher.base import MatcherBase

from parley import PARLEYCTL, free_ports

UNBOUND = "/usr/sbin/unbound"
PROSODY = "/usr/bin/prosody"
ERL = "/usr/bin/erl"
UNSHARE = "/usr/bin/unshare"
EJABBERD_EBIN_ROOT = "/usr/lib/x86_64-linux-gnu"
TIMEOUT = 15.0

_next_ip = [10]


def loopback_ip():
    """A loopback address no other peer of this process uses (127.0.0.10 up)."""
    _next_ip[0] += 1
    return f"127.0.0.{_next_ip[0] % 240 + 10}"


def wait_tcp(ip, port, timeout, proc=None, what="server"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}) before listening on {ip}:{port}")
        try:
            with socket.create_connection((ip, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{what}: nothing listens on {ip}:{port} after {timeout} s")


def stop_proc(proc, timeout=15.0):
    """SIGTERM to the process we started, SIGKILL after `timeout`; its
    return code."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_text(get, pattern, timeout, what):
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        text = get()
        m = rx.search(text)
        if m:
            return m
        if time.monotonic() >= deadline:
            raise AssertionError(f"no line of {what} matches {pattern!r} within {timeout} s; "
                                 f"its end:\n{text[-4000:]}")
        time.sleep(0.1)


# ---------------------------------------------------------------- DNS

def dns_query(server, port, name, qtype="A", timeout=2.0):
    """One query over UDP; (rcode, number of answers).  A, AAAA or SRV."""
    types = {"A": 1, "AAAA": 28, "SRV": 33}
    qid = secrets.randbelow(65536)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", types[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (server, port))
        while True:
            data, _ = s.recvfrom(4096)
            rid, flags, _, ancount = struct.unpack(">HHHH", data[:8])
            if rid == qid:
                return flags & 0xF, ancount


class Dns:
    """A private unbound on 127.0.0.1:<free port> (foreground, stopped by
    pid), answering from its own records (local-data) for the zone test.
    and NXDOMAIN for every other name: it never asks anyone else.  Add
    records, then start() or restart() (which write the configuration)."""

    zones = ["test"]

    def __init__(self, root=None):
        self.dir = tempfile.mkdtemp(prefix="parley-dns-", dir=root)
        self.port, = free_ports(1)
        self.conf = os.path.join(self.dir, "unbound.conf")
        self.logpath = os.path.join(self.dir, "unbound.log")
        self.records = []
        self.hosts_files = []    # kept equal to hosts_text() at every (re)start
        self.proc = None
        self.logfile = None

    @property
    def forward(self):
        return f"127.0.0.1@{self.port}"

    def add_a(self, name, ip):
        self.records.append(f"{name.rstrip('.')}. 60 IN A {ip}")

    def add_srv(self, service, domain, target, port, priority=0, weight=5):
        """service e.g. "_xmpp-server._tcp"; target "." for "no service"."""
        target = "." if target == "." else target.rstrip(".") + "."
        self.records.append(f"{service}.{domain.rstrip('.')}. 60 IN SRV {priority} {weight} {port} {target}")

    def add_srv_none(self, service, domain):
        """The RFC 2782 "service decidedly not available here" record."""
        self.add_srv(service, domain, ".", 0, 0, 0)

    def remove(self, name):
        """Drops every record whose owner name is `name`."""
        owner = name.rstrip(".") + ". "
        self.records = [r for r in self.records if not r.startswith(owner)]

    def hosts_text(self):
        """The A records as a hosts file (with localhost and this machine's
        name), for resolvers that look addresses up with libc."""
        lines = ["127.0.0.1 localhost " + socket.gethostname()]
        for r in self.records:
            name, _, _, rtype, data = r.split(" ", 4)
            if rtype == "A":
                lines.append(f"{data} {name.rstrip('.')}")
        return "\n".join(lines) + "\n"

    def write(self):
        for path in self.hosts_files:
            # Rewritten in place: a bind mount of it sees the new text.
            with open(path, "r+" if os.path.exists(path) else "w") as f:
                f.write(self.hosts_text())
                f.truncate()
        lines = ["server:",
                 "  interface: 127.0.0.1",
                 f"  port: {self.port}",
                 "  do-ip6: no",
                 "  do-tcp: yes",
                 "  do-daemonize: no",
                 '  username: ""',
                 '  chroot: ""',
                 f'  directory: "{self.dir}"',
                 f'  pidfile: "{self.dir}/unbound.pid"',
                 "  use-syslog: no",
                 f'  logfile: "{self.logpath}"',
                 "  verbosity: 1",
                 "  log-queries: yes",
                 "  log-replies: yes",
                 "  num-threads: 1",
                 "  access-control: 127.0.0.0/8 allow",
                 "  cache-max-ttl: 0",
                 "  cache-max-negative-ttl: 0",
                 # Nothing is looked up outside: other names fail at once.
                 '  local-zone: "." static',
                 '  local-zone: "test." static']
        lines += [f'  local-data: "{r}"' for r in self.records]
        lines += ["remote-control:", "  control-enable: no", ""]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))

    def start(self, timeout=10.0):
        self.write()
        self.logfile = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf], stdout=self.logfile,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"unbound exited ({self.proc.returncode}):\n{self.log()}")
            try:
                dns_query("127.0.0.1", self.port, "test", "A", timeout=0.3)
                return self
            except OSError:
                if time.monotonic() >= deadline:
                    self.stop()
                    raise TimeoutError(f"unbound does not answer on {self.forward}:\n{self.log()}")
                time.sleep(0.05)

    def restart(self):
        """Writes the records anew and restarts on the same port."""
        self.stop()
        return self.start()

    def query(self, name, qtype="A"):
        return dns_query("127.0.0.1", self.port, name, qtype)

    def log(self):
        return read(self.logpath) + read(os.path.join(self.dir, "stdout.log"))

    def stop(self):
        stop_proc(self.proc)
        self.proc = None
        if self.logfile:
            self.logfile.close()
            self.logfile = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- certificates

class Pki:
    """CAs and server certificates made by `parleyctl cert` in `dir`."""

    def __init__(self, dir=None):
        self.dir = dir or tempfile.mkdtemp(prefix="parley-pki-")
        os.makedirs(self.dir, exist_ok=True)

    def ctl(self, *args):
        r = subprocess.run([PARLEYCTL, *args], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"parleyctl {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def ca(self, name="ca", cn=None):
        """A root CA directory (ca.crt, ca.key)."""
        d = os.path.join(self.dir, name)
        if not os.path.exists(os.path.join(d, "ca.crt")):
            self.ctl("cert", "ca", "init", d, "--name", cn or f"Parley federation test CA {name}")
        return d

    def server(self, domain, ca=None, xmpp_addr=True, name=None, *opts):
        """(certificate, key) for `domain`: issued by the CA directory `ca`,
        or self-signed when ca is None.  xmpp_addr=False leaves out the
        xmppAddr identity (DNS-ID and SRV-IDs remain)."""
        prefix = os.path.join(self.dir, name or (domain + ("" if ca else ".self") + ("" if xmpp_addr else ".noxa")))
        extra = list(opts) + ([] if xmpp_addr else ["--no-xmpp-addr"])
        if not os.path.exists(prefix + ".crt"):
            if ca:
                self.ctl("cert", "issue", "server", domain, "--ca", ca, "--out", prefix, *extra)
            else:
                self.ctl("cert", "self-signed", "server", domain, "--out", prefix, *extra)
        return prefix + ".crt", prefix + ".key"

    def bundle(self, items, path):
        """Concatenates CA directories (their ca.crt) and certificate files
        into one PEM file (a trust bundle); returns its path."""
        with open(path, "w") as out:
            for it in items:
                p = os.path.join(it, "ca.crt") if os.path.isdir(it) else it
                out.write(read(p))
                out.write("\n")
        return path


# ---------------------------------------------------------------- peers

class Peer:
    """What ProsodyPeer and EjabberdPeer share: a domain on its own loopback
    address with c2s, s2s (STARTTLS) and optionally direct-TLS s2s ports,
    registered in the Dns, and a certificate.

    domain:     the XMPP domain (a name under test.)
    dns:        the Dns whose records it adds (None: publish nothing)
    pki:        a Pki for its certificate
    ca:         the CA directory that issues its certificate; None: self-signed
    cert:       (certificate, key) to use instead of making one
    xmpp_addr:  whether the certificate carries an xmppAddr identity
    trust:      CA directories or certificate files it trusts for s2s
    direct_tls: also listen for direct-TLS s2s (XEP-0368) and publish
                _xmpps-server._tcp
    srv:        publish the _xmpp-server._tcp SRV record (False: only the
                A record; peers then have to try port 5269 and fail)
    ip:         its loopback address (default: a new 127.0.0.x)
    root:       the folder its directory is made in (default: $TMPDIR)
    """

    kind = "?"

    def __init__(self, domain, dns, pki, ca=None, cert=None, xmpp_addr=True, trust=(), direct_tls=False,
                 srv=True, ip=None, root=None):
        self.domain = domain
        self.dns = dns
        self.pki = pki
        self.ip = ip or loopback_ip()
        self.dir = tempfile.mkdtemp(prefix=f"parley-{self.kind}-{domain}-", dir=root)
        os.chmod(self.dir, 0o755)
        self.c2s_port, self.s2s_port, self.s2s_tls_port = free_ports(3)
        self.cert, self.key = cert or pki.server(domain, ca, xmpp_addr)
        # What a client must trust to verify this peer's c2s certificate.
        self.client_cafile = os.path.join(ca, "ca.crt") if (ca and not cert) else self.cert
        self.trust = list(trust)
        self.cafile = pki.bundle(self.trust, os.path.join(self.dir, "trust.pem"))
        self.direct_tls = direct_tls
        self.srv = srv
        self.proc = None
        self.logfile = None

    @property
    def c2s_address(self):
        return (self.ip, self.c2s_port)

    def publish(self):
        if self.dns is None:
            return
        self.dns.remove(self.domain)
        self.dns.add_a(self.domain, self.ip)
        self.dns.remove(f"_xmpp-server._tcp.{self.domain}")
        self.dns.remove(f"_xmpps-server._tcp.{self.domain}")
        if self.srv:
            self.dns.add_srv("_xmpp-server._tcp", self.domain, self.domain, self.s2s_port)
        if self.direct_tls:
            self.dns.add_srv("_xmpps-server._tcp", self.domain, self.domain, self.s2s_tls_port)
        self.dns.restart()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        return read(self.logpath)

    def wait_log(self, pattern, timeout=TIMEOUT):
        """Waits until the log matches the regular expression (searched in
        the whole text); returns the match."""
        return wait_text(self.log, pattern, timeout, f"{self.kind} {self.domain}'s log")

    def log_mark(self):
        return len(self.log())

    def wait_log_since(self, mark, pattern, timeout=TIMEOUT):
        return wait_text(lambda: self.log()[mark:], pattern, timeout, f"{self.kind} {self.domain}'s log")

    def cleanup(self, remove=True):
        """Stops the instance and (remove) deletes its directory."""
        self.stop()
        if remove:
            hosts = getattr(self, "hosts", None)
            if self.dns is not None and hosts in self.dns.hosts_files:
                self.dns.hosts_files.remove(hosts)
            shutil.rmtree(self.dir, ignore_errors=True)


def prosody_encode(s):
    """util.datamanager's path encoding: every non-alphanumeric as %xx."""
    return re.sub(r"[^A-Za-z0-9]", lambda m: "%%%02x" % ord(m.group(0)), s)


def lua(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple, set)):
        return "{ " + "; ".join(lua(v) for v in value) + " }"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class ProsodyPeer(Peer):
    """A private Prosody 0.12 for one domain.  Besides Peer's arguments:

    require_encryption: s2s_require_encryption (Prosody's default: true)
    secure_auth:        s2s_secure_auth: a peer must present a certificate
                        valid for its domain (dialback is then not enough)
    dialback:           load mod_dialback (without it only certificates,
                        via SASL EXTERNAL, authenticate links)
    secure_domains, insecure_domains: s2s_secure_domains /
                        s2s_insecure_domains (exceptions to secure_auth)
    extra:              Lua text appended to the global section
    """

    kind = "prosody"

    def __init__(self, domain, dns, pki, ca=None, cert=None, xmpp_addr=True, trust=(), direct_tls=False,
                 srv=True, ip=None, require_encryption=True, secure_auth=False, dialback=True,
                 secure_domains=(), insecure_domains=(), extra="", root=None):
        super().__init__(domain, dns, pki, ca, cert, xmpp_addr, trust, direct_tls, srv, ip, root)
        self.require_encryption = require_encryption
        self.secure_auth = secure_auth
        self.dialback = dialback
        self.secure_domains = list(secure_domains)
        self.insecure_domains = list(insecure_domains)
        self.extra = extra
        self.conf = os.path.join(self.dir, "prosody.cfg.lua")
        self.logpath = os.path.join(self.dir, "prosody.log")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(os.path.join(self.dir, "capath"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "certs"), exist_ok=True)

    def write_config(self):
        d = self.dir
        modules = ["roster", "saslauth", "tls", "disco", "ping", "version"]
        if self.dialback:
            modules.append("dialback")
        # The direct-TLS listener gets the host's certificate as its default:
        # without it Prosody 0.12 sometimes answers a ClientHello that
        # arrives soon after start-up with "no suitable signature
        # algorithm" (its per-host SNI contexts are not there yet).
        direct = (f"s2s_direct_tls_ports = {{ {self.s2s_tls_port} }}\n"
                  f's2s_direct_tls_ssl = {{ certificate = "{self.cert}"; key = "{self.key}"; }}'
                  if self.direct_tls else "")
        forward = self.dns.forward if self.dns else "127.0.0.1@9"
        # An empty cafile would leave Prosody without any TLS context.
        cafile = f'cafile = "{self.cafile}"; ' if self.trust else ""
        text = f"""-- A private instance for the federation tests (tests/integration/federation.py).
run_as_root = true
pidfile = "{d}/prosody.pid"
data_path = "{self.data}"
certificates = "{d}/certs"
plugin_paths = {{}}
log = {{ debug = "{self.logpath}" }}
network_backend = "epoll"
use_ipv6 = false
modules_enabled = {lua(modules)}
modules_disabled = {{ "offline" }}
interfaces = {{ "{self.ip}" }}
c2s_ports = {{ {self.c2s_port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ {self.s2s_port} }}
{direct}
c2s_require_encryption = true
s2s_require_encryption = {lua(self.require_encryption)}
s2s_secure_auth = {lua(self.secure_auth)}
s2s_secure_domains = {lua(self.secure_domains)}
s2s_insecure_domains = {lua(self.insecure_domains)}
s2s_timeout = 10
allow_registration = false
authentication = "internal_plain"
storage = "internal"
-- Trust only the test's CAs, no system store.
ssl = {{ {cafile}capath = "{d}/capath"; }}
-- libunbound asks only the test's DNS; it must be allowed to query a
-- loopback server and must not answer test. itself (RFC 6761 default).
unbound = {{
  resolvconf = false;
  hoststxt = false;
  forward = "{forward}";
  options = {{ ["do-not-query-localhost"] = "no"; ["local-zone"] = "test. transparent" }};
}}
{self.extra}

VirtualHost "{self.domain}"
  ssl = {{ certificate = "{self.cert}"; key = "{self.key}"; }}
"""
        with open(self.conf, "w") as f:
            f.write(text)

    def add_user(self, name, password):
        """Writes the account file mod_auth_internal_plain reads (works while
        the instance runs: internal storage is read on demand)."""
        acc = os.path.join(self.data, prosody_encode(self.domain), "accounts")
        os.makedirs(acc, exist_ok=True)
        with open(os.path.join(acc, prosody_encode(name) + ".dat"), "w") as f:
            f.write(f"return {{\n\t[\"password\"] = {lua(password)};\n}};\n")
        return f"{name}@{self.domain}"

    def start(self, timeout=TIMEOUT):
        self.write_config()
        self.publish()
        self.logfile = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen([PROSODY, "--config", self.conf, "-F"], cwd=self.dir,
                                     stdout=self.logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_tcp(self.ip, self.c2s_port, timeout, self.proc, f"prosody {self.domain}")
            wait_tcp(self.ip, self.s2s_port, timeout, self.proc, f"prosody {self.domain}")
        except (TimeoutError, RuntimeError) as e:
            self.stop()
            raise RuntimeError(f"{e}\n{read(os.path.join(self.dir, 'stdout.log'))}\n{self.log()[-4000:]}")
        return self

    def stop(self):
        stop_proc(self.proc)
        self.proc = None
        if self.logfile:
            self.logfile.close()
            self.logfile = None



def descendants(root):
    """Pids of every process below `root` (from /proc)."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            parent[int(d)] = int(stat[stat.rfind(")") + 2:].split()[1])
    found, frontier = [], {root}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier}
        found += sorted(frontier)
    return found


def yaml_str(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


class EjabberdPeer(Peer):
    """A private ejabberd 23.01 for one domain, run as its own Erlang node
    (no epmd: the node listens for distribution on a free loopback port of
    its own; a random cookie), Mnesia spool and logs in its directory.
    Besides Peer's arguments:

    starttls:   s2s_use_starttls: "required" (default), "optional", "false"
    dialback:   load mod_s2s_dialback (without it only certificates, via
                SASL EXTERNAL, authenticate links)
    s2s_access: "all" (default) or "none": the s2s access rule
    extra:      YAML text appended to the configuration's top level

    It runs as root straight from `erl` (as bench/servers.py does), not
    through ejabberdctl (which would switch to the ejabberd user and need
    epmd); add_user() is an rpc from a hidden node.

    Known quirk of ejabberd 23.01 (p1_xmpp 1.6.1, OTP 25): an incoming s2s
    SASL EXTERNAL from a peer whose certificate has an xmppAddr identity
    crashes the stream process (badarg in xmpp_stream_pkix:get_cert_domains,
    `<<"p1.test">> ++ []`), so the link fails; certificates without
    xmppAddr (Pki.server(..., xmpp_addr=False)) or dialback work.
    """

    kind = "ejabberd"

    def __init__(self, domain, dns, pki, ca=None, cert=None, xmpp_addr=True, trust=(), direct_tls=False,
                 srv=True, ip=None, starttls="required", dialback=True, s2s_access="all", extra="",
                 root=None):
        super().__init__(domain, dns, pki, ca, cert, xmpp_addr, trust, direct_tls, srv, ip, root)
        self.starttls = starttls
        self.dialback = dialback
        self.s2s_access = s2s_access
        self.extra = extra
        self.dist_port, = free_ports(1)
        self.node = f"parleyfed{self.dist_port}@localhost"
        self.cookie = secrets.token_hex(16)
        self.conf = os.path.join(self.dir, "ejabberd.yml")
        self.inetrc = os.path.join(self.dir, "inetrc")
        self.hosts = os.path.join(self.dir, "hosts")
        self.logpath = os.path.join(self.dir, "log", "ejabberd.log")
        self.kids = []
        for sub in ("spool", "log"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)

    def write_config(self):
        listen = [f"""  -
    port: {self.c2s_port}
    ip: "{self.ip}"
    module: ejabberd_c2s
    starttls_required: true
    access: all""", f"""  -
    port: {self.s2s_port}
    ip: "{self.ip}"
    module: ejabberd_s2s_in"""]
        if self.direct_tls:
            listen.append(f"""  -
    port: {self.s2s_tls_port}
    ip: "{self.ip}"
    module: ejabberd_s2s_in
    tls: true""")
        modules = ["  mod_disco: {}", "  mod_roster: {}", "  mod_ping: {}", "  mod_version:\n    show_os: false"]
        if self.dialback:
            modules.append("  mod_s2s_dialback: {}")
        # Without a trust bundle: ejabberd's default (the system's CAs).
        trust = (f"ca_file: {yaml_str(self.cafile)}\ns2s_cafile: {yaml_str(self.cafile)}"
                 if self.trust else "")
        text = f"""# A private instance for the federation tests (tests/integration/federation.py).
hosts: [{yaml_str(self.domain)}]
loglevel: debug
log_rotate_count: 0
certfiles:
  - {yaml_str(self.cert)}
  - {yaml_str(self.key)}
{trust}
s2s_use_starttls: {self.starttls}
s2s_access: {self.s2s_access}
s2s_dns_timeout: 3
s2s_dns_retries: 1
s2s_timeout: 10
outgoing_s2s_families: [ipv4]
auth_method: internal
auth_password_format: plain
listen:
{chr(10).join(listen)}
modules:
{chr(10).join(modules)}
{self.extra}
"""
        with open(self.conf, "w") as f:
            f.write(text)
        # Erlang's own resolver (inet_res, which ejabberd uses for SRV and
        # A records alike) asks only the test's DNS.
        port = self.dns.port if self.dns else 9
        with open(self.inetrc, "w") as f:
            f.write(f'{{resolv_conf, ""}}.\n{{hosts_file, ""}}.\n'
                    f'{{host, {{127,0,0,1}}, ["localhost", "{socket.gethostname()}"]}}.\n'
                    f'{{nameserver, {{127,0,0,1}}, {port}}}.\n{{lookup, [file, dns]}}.\n')

    def env(self):
        env = dict(os.environ)
        env.update({"HOME": self.dir, "ERL_LIBS": EJABBERD_EBIN_ROOT, "ERL_INETRC": self.inetrc,
                    "EJABBERD_CONFIG_PATH": self.conf, "EJABBERD_LOG_PATH": self.logpath,
                    "ERL_CRASH_DUMP": os.path.join(self.dir, "log", "erl_crash.dump")})
        return env

    def erl(self, name):
        # No epmd: a node's distribution port is fixed and known.
        return [ERL, "-sname", name, "-setcookie", self.cookie, "-erl_epmd_port", str(self.dist_port),
                "-start_epmd", "false", "-kernel", "inet_dist_use_interface", "{127,0,0,1}"]

    def rpc(self, expr, timeout=30):
        """Evaluates the Erlang expression `expr` (using N, the node name)
        from a hidden node; returns what it printed.  Raises on a non-zero
        exit."""
        script = (f"N = '{self.node}', pong = net_adm:ping(N), {expr}, halt(0).")
        cmd = self.erl(f"ctl{secrets.token_hex(4)}") + ["-dist_listen", "false", "-hidden", "-noinput",
                                                        "-eval", script]
        r = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=timeout,
                           cwd=self.dir)
        if r.returncode != 0:
            raise RuntimeError(f"rpc to {self.node} failed ({r.returncode}): {r.stdout[-2000:]} {r.stderr[-2000:]}")
        return r.stdout

    def add_user(self, name, password):
        """ejabberd_auth:try_register on the running node."""
        return self.add_users({name: password})[0][0]

    def add_users(self, users):
        """Registers {name: password} in one round trip; the JIDs."""
        pairs = ", ".join(f'{{<<"{n}">>, <<"{p}">>}}' for n, p in users.items())
        out = self.rpc(f"""R = [rpc:call(N, ejabberd_auth, try_register, [U, <<"{self.domain}">>, P])
                             || {{U, P}} <- [{pairs}]],
                         io:format("~p~n", [R]),
                         true = lists:all(fun(X) -> X =:= ok orelse X =:= {{error, exists}} end, R)""")
        return [f"{n}@{self.domain}" for n in users], out

    def start(self, timeout=40.0):
        self.write_config()
        self.publish()
        self.logfile = open(os.path.join(self.dir, "stdout.log"), "ab")
        cmd = self.erl(self.node) + ["-noinput", "-mnesia", "dir", f'"{os.path.join(self.dir, "spool")}"',
                                     "-s", "ejabberd"]
        if self.dns is not None:
            # p1_xmpp looks the SRV target's address up with getaddrinfo
            # (libc, which ignores inetrc): in a mount namespace of its own
            # the instance sees the Dns's A records as /etc/hosts.
            if self.hosts not in self.dns.hosts_files:
                self.dns.hosts_files.append(self.hosts)
            with open(self.hosts, "w") as f:
                f.write(self.dns.hosts_text())
            cmd = [UNSHARE, "-m", "--propagation", "private", "sh", "-c",
                   'mount --bind "$0" /etc/hosts && exec "$@"', self.hosts] + cmd
        self.proc = subprocess.Popen(cmd, cwd=self.dir, env=self.env(), stdout=self.logfile,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_tcp(self.ip, self.c2s_port, timeout, self.proc, f"ejabberd {self.domain}")
            wait_tcp(self.ip, self.s2s_port, timeout, self.proc, f"ejabberd {self.domain}")
        except (TimeoutError, RuntimeError) as e:
            self.stop()
            raise RuntimeError(f"{e}\n{read(os.path.join(self.dir, 'stdout.log'))[-3000:]}\n{self.log()[-4000:]}")
        try:
            wait_text(self.log, r"ejabberd \S+ is started in the node", timeout, f"ejabberd {self.domain}'s log")
        except AssertionError:
            self.stop()
            raise
        self.kids = descendants(self.proc.pid)
        return self

    def stop(self):
        if self.proc is not None:
            self.kids = sorted(set(self.kids) | set(descendants(self.proc.pid)))
        stop_proc(self.proc, timeout=20.0)
        self.proc = None
        # Helpers the VM started (erl_child_setup, inet_gethost) normally
        # leave with it; any still there are ours to end, by pid.
        for pid in self.kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.kids = []
        if self.logfile:
            self.logfile.close()
            self.logfile = None


# ---------------------------------------------------------------- clients

class _Everything(MatcherBase):
    def __init__(self):
        super().__init__(None)

    def match(self, xml):
        return True


class _Xmpp(slixmpp.ClientXMPP):
    """A client that connects where it is told, never where DNS says."""

    def __init__(self, jid, password, address):
        super().__init__(jid, password)
        self.test_address = address
        self.register_plugin("xep_0030")

    async def get_dns_records(self, domain, port=None):
        return [(domain, self.test_address[0], self.test_address[1])]


class Session:
    """One slixmpp client session at its defaults (STARTTLS, SASL as it
    chooses), verifying the server certificate against `cafile` (hostname
    checked; None: no verification).  `where` is a Peer (its c2s address
    and issuing CA) or an (ip, port) pair."""

    def __init__(self, jid, password, where, cafile=None):
        if isinstance(where, Peer):
            address, cafile = where.c2s_address, cafile or where.client_cafile
        else:
            address = tuple(where)
        self.x = _Xmpp(jid, password, address)
        if cafile:
            self.x.ca_certs = Path(cafile)
        else:
            self.x.ssl_context.check_hostname = False
            self.x.ssl_context.verify_mode = ssl.CERT_NONE
        self.x.whitespace_keepalive = False
        self.x.roster.auto_authorize = None
        self.x.roster.auto_subscribe = False
        self.stanzas = []
        self.events = []
        self._wake = asyncio.Event()
        for name in ("session_start", "failed_all_auth", "no_auth", "disconnected", "connection_failed",
                     "ssl_invalid_chain", "stream_error"):
            self.x.add_event_handler(name, self._recorder(name))
        # Every stanza, errors included (slixmpp's "message" event leaves
        # those out).
        self.x.register_handler(Callback("federation-test collector", _Everything(), self._stanza))

    def _recorder(self, name):
        def record(data=None):
            self.events.append((name, str(data)[:300]))
            self._wake.set()
        return record

    def _stanza(self, st):
        self.stanzas.append(st)
        self._wake.set()

    async def until(self, check, timeout):
        """check() until it returns something true, at most `timeout` s;
        its value or None.  Woken by this session's stanzas and events,
        and every 0.1 s (check may look at other sessions too)."""
        deadline = time.monotonic() + timeout
        while True:
            self._wake.clear()
            r = check()
            if r:
                return r
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                await asyncio.wait_for(self._wake.wait(), min(left, 0.1))
            except asyncio.TimeoutError:
                pass

    async def login(self, timeout=TIMEOUT):
        self.x.connect(self.x.test_address, force_starttls=True)
        ok = await self.until(lambda: next((n for n, _ in self.events if n != "stream_error"), None), timeout)
        if ok != "session_start":
            raise AssertionError(f"{self.x.boundjid.bare}: no session at {self.x.test_address} "
                                 f"within {timeout} s: {self.events}")
        # As clients do: a session that fetched its roster is "interested"
        # (RFC 6121), and only such sessions get subscription stanzas.
        await self.x.get_roster(timeout=timeout)
        return self

    def presence(self, to=None, ptype=None):
        p = self.x.Presence()
        if to:
            p["to"] = to
        if ptype:
            p["type"] = ptype
        p.send()

    def got(self, kind, frm_bare=None, body=None, ptype=None):
        for st in self.stanzas:
            if st.name != kind:
                continue
            if frm_bare is not None and str(st["from"].bare) != frm_bare:
                continue
            if body is not None and st["body"] != body:
                continue
            if ptype is not None and st["type"] != ptype:
                continue
            return st
        return None

    async def close(self, timeout=3.0):
        if self.x.transport is None:
            self.x.cancel_connection_attempt()
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.x.disconnect(wait=timeout)), timeout + 1)
        except (asyncio.TimeoutError, Exception):
            self.x.abort()


def _run(coro_fn, timeout):
    """Runs coro_fn(sessions) on a fresh event loop, bounded by timeout,
    closing every Session it appended to `sessions`."""
    async def main():
        sessions = []
        try:
            return await asyncio.wait_for(coro_fn(sessions), timeout)
        finally:
            await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
    return asyncio.run(main())


def exchange(sender_jid, sender_pw, sender_where, recipient_jid, recipient_pw, recipient_where, body,
             timeout=20.0, sender_ca=None, recipient_ca=None):
    """Logs both in (each at its own server: a Peer or an (ip, port) pair;
    *_ca the CA file to verify it with, implied by a Peer), makes the
    recipient available, sends `body` in a chat message to the recipient's
    bare JID and returns whether the recipient got it within `timeout`
    seconds after sending (False at once when it comes back to the sender
    as an error).  A login failure raises AssertionError."""
    async def body_(sessions):
        r = Session(recipient_jid, recipient_pw, recipient_where, recipient_ca)
        s = Session(sender_jid, sender_pw, sender_where, sender_ca)
        sessions += [r, s]
        await asyncio.gather(r.login(), s.login())
        sbare, rbare = sender_jid.split("/")[0], recipient_jid.split("/")[0]
        r.presence()
        s.presence()
        # The server echoes the recipient's initial presence: it is available.
        await r.until(lambda: r.got("presence", rbare, ptype="available"), TIMEOUT)
        s.x.send_message(mto=recipient_jid, mbody=body, mtype="chat")
        # Ends early when the sender gets the message back as an error.
        await r.until(lambda: r.got("message", sbare, body) or s.got("message", rbare, ptype="error"), timeout)
        return r.got("message", sbare, body) is not None
    try:
        return _run(body_, timeout + 2 * TIMEOUT)
    except asyncio.TimeoutError:
        return False


def subscribe(sender_jid, sender_pw, sender_where, recipient_jid, recipient_pw, recipient_where,
              timeout=20.0, sender_ca=None, recipient_ca=None):
    """A cross-domain presence subscription: the sender asks, the
    recipient approves; True when the sender got the approval and then the
    recipient's available presence within `timeout` seconds."""
    async def body_(sessions):
        r = Session(recipient_jid, recipient_pw, recipient_where, recipient_ca)
        s = Session(sender_jid, sender_pw, sender_where, sender_ca)
        sessions += [r, s]
        await asyncio.gather(r.login(), s.login())
        r.presence()
        s.presence()
        sbare, rbare = sender_jid.split("/")[0], recipient_jid.split("/")[0]
        s.presence(to=rbare, ptype="subscribe")
        if not await r.until(lambda: r.got("presence", sbare, ptype="subscribe"), timeout):
            return False
        r.presence(to=sbare, ptype="subscribed")
        if not await s.until(lambda: s.got("presence", rbare, ptype="subscribed"), timeout):
            return False
        return await s.until(lambda: s.got("presence", rbare, ptype="available"), timeout) is not None
    try:
        return _run(body_, 3 * timeout + 2 * TIMEOUT)
    except asyncio.TimeoutError:
        return False


def disco_info(jid, password, where, target, timeout=20.0, cafile=None):
    """Asks `target` (e.g. a remote domain) for disco#info from jid's
    session; the list of feature vars, or None on error or timeout."""
    async def body_(sessions):
        s = Session(jid, password, where, cafile)
        sessions.append(s)
        await s.login()
        try:
            r = await s.x.plugin["xep_0030"].get_info(jid=target, timeout=timeout)
        except (slixmpp.exceptions.IqError, slixmpp.exceptions.IqTimeout):
            return None
        return [f for f in r["disco_info"]["features"]]
    try:
        return _run(body_, timeout + 2 * TIMEOUT)
    except asyncio.TimeoutError:
        return None
