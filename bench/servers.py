"""The servers `make bench` compares, each as a private instance.

Every instance lives in its own directory under the results folder, listens
on free loopback ports only, is configured by the harness (never by the
system's /etc files), is provisioned in bulk with the same accounts
(PREFIX<n>@bench.local, one password, SCRAM-SHA-256 at 4096 iterations) and
is started and stopped by process id.  None of them runs as a system
service: Debian's packages are only a source of binaries here.

Fairness settings each class applies are returned by settings(), and the
harness writes them next to the results.

For the federation scenario two instances of one server run side by side,
for s1.test and s2.test, each given a Federation (below): a private unbound
on loopback that answers for the zone test. (A and _xmpp-server._tcp SRV
records), certificates from a private CA no instance trusts, and s2s
switched on in each server's configuration.  Every link is then STARTTLS
with a certificate the peer cannot verify, authenticated by dialback
(XEP-0220): the one mode all three servers share.
"""
import base64
import hashlib
import hmac
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import time

UNBOUND = "/usr/sbin/unbound"
UNSHARE = "/usr/bin/unshare"
DOMAIN = "bench.local"
PASSWORD = "bench-password"
ITERATIONS = 4096
# One salt for the accounts the harness writes itself, so the generator's
# PBKDF2 cache holds one entry; servers never run PBKDF2 for SCRAM logins.
SALT = b"parley-bench-salt-0001"
# The groups scenario: accounts g0..g<N-1>, all in one shared group, with no
# roster items of their own; each server's shared-group feature gives every
# member every other one (subscription both).
GROUP_PREFIX = "g"
GROUP = "net"
GROUP_LABEL = "Net"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def scram_sha256(password=PASSWORD, salt=SALT, iterations=ITERATIONS):
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    return stored_key, server_key


def raise_limits():
    """Runs in the child before exec: room for 10,000+ connections."""
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200000, 200000))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def make_certificate(dirpath):
    """One EC P-256 self-signed certificate (the kind parleyctl init makes)
    for every server of a run, so all pay the same TLS costs."""
    os.makedirs(dirpath, exist_ok=True)
    crt = os.path.join(dirpath, DOMAIN + ".crt")
    key = os.path.join(dirpath, DOMAIN + ".key")
    if not os.path.exists(crt):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "30", "-subj", "/CN=" + DOMAIN,
                        "-addext", "subjectAltName=DNS:" + DOMAIN, "-keyout", key, "-out", crt],
                       check=True, capture_output=True, timeout=60)
        os.chmod(key, 0o600)
    return crt, key


def accounts(users, presence_users, group_users=0):
    return ([f"u{i}" for i in range(users)] + [f"p{i}" for i in range(presence_users)]
            + [f"{GROUP_PREFIX}{i}" for i in range(group_users)])


def group_members(inst):
    """The bare JIDs of the one shared group of the groups scenario."""
    return [f"{GROUP_PREFIX}{i}@{inst.domain}" for i in range(inst.group_users)]


class Instance:
    """Base: one server under test.  Subclasses set name/kind and implement
    prepare(), command(), settings(); provision_online() is optional."""

    kind = "?"

    def __init__(self, name, root, cert, cpus, users, presence_users, log, domain=DOMAIN, fed=None,
                 subdir=None, group_users=0):
        self.name = name
        self.dir = os.path.join(root, subdir or name)
        self.domain = domain
        self.fed = fed		# a Federation: s2s on, found through its Dns
        self.s2s_port = free_port() if fed else 0
        self.cert = cert
        self.cpus = cpus			# "1", "1-2", or None (no pinning)
        self.ncpus = cpu_count(cpus)
        self.users = users
        self.presence_users = presence_users
        self.group_users = group_users	# members of the shared group (groups scenario)
        self.port = free_port()
        self.proc = None
        self.logfile = None
        self.say = log
        os.makedirs(self.dir, exist_ok=True)

    # -- lifecycle --

    def env(self):
        return dict(os.environ)

    def start(self):
        cmd = self.command()
        if self.cpus and shutil.which("taskset"):
            cmd = ["taskset", "-c", self.cpus] + cmd
        self.logfile = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(cmd, cwd=self.dir, env=self.env(), stdout=self.logfile,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=raise_limits)
        deadline = time.monotonic() + self.start_timeout()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up ({self.proc.returncode}); see {self.dir}")
            if port_open(self.port):
                time.sleep(self.settle_after_start())
                return self.proc.pid
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on 127.0.0.1:{self.port}; see {self.dir}")

    def start_timeout(self):
        return 30

    def settle_after_start(self):
        return 0.2

    def stop(self):
        """SIGTERM by pid, then SIGKILL by pid; the children we saw go too."""
        if not self.proc:
            return
        kids = descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.say(f"  {self.name}: no exit 20 s after SIGTERM; SIGKILL")
                self.proc.kill()
                self.proc.wait(timeout=10)
        for pid, comm in kids:
            if proc_comm(pid) == comm:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc = None
        if self.logfile:
            self.logfile.close()
            self.logfile = None

    def provision_online(self):
        """Accounts a server can only take while it runs (ejabberd)."""

    def problems(self):
        """Error and warning lines the server logged (for the record)."""
        return []

    def version(self):
        return "?"

    def settings(self):
        return {}


def cpu_count(cpus):
    if not cpus:
        return os.cpu_count() or 1
    n = 0
    for part in cpus.split(","):
        if "-" in part:
            a, b = part.split("-")
            n += int(b) - int(a) + 1
        else:
            n += 1
    return n


def proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def descendants(root):
    """(pid, comm) of every process below root, from /proc."""
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        parent[int(d)] = int(rest[1])
    found, frontier = [], {root}
    while frontier:
        nxt = {p for p, pp in parent.items() if pp in frontier}
        found += [(p, proc_comm(p)) for p in nxt]
        frontier = nxt
    return found


# ---------------------------------------------------------------- federation

def dns_answers(port, name, timeout=1.0):
    """How many A records 127.0.0.1:port gives for name (one UDP query)."""
    qid = secrets.randbelow(65536)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(query, ("127.0.0.1", port))
        while True:
            data, _ = s.recvfrom(4096)
            if struct.unpack(">H", data[:2])[0] == qid:
                return struct.unpack(">H", data[6:8])[0]


class Dns:
    """A private unbound in the foreground on 127.0.0.1:<free port>, stopped
    by pid, answering the zone test. from its own records and refusing
    every other name (it never asks anyone else)."""

    def __init__(self, dirpath, cpus=None):
        self.dir = dirpath
        os.makedirs(dirpath, exist_ok=True)
        self.port = free_port()
        self.cpus = cpus
        self.records = []
        self.proc = None
        self.logfile = None

    @property
    def forward(self):
        return f"127.0.0.1@{self.port}"

    def publish(self, domain, s2s_port):
        """The A record and the _xmpp-server._tcp SRV record of a domain."""
        self.records += [f"{domain}. 60 IN A 127.0.0.1",
                         f"_xmpp-server._tcp.{domain}. 60 IN SRV 0 5 {s2s_port} {domain}."]

    def hosts_text(self):
        """The A records as a hosts file, for resolvers that use libc."""
        lines = ["127.0.0.1 localhost " + socket.gethostname()]
        lines += [f"{r.split()[4]} {r.split()[0].rstrip('.')}" for r in self.records if r.split()[3] == "A"]
        return "\n".join(lines) + "\n"

    def start(self):
        conf = os.path.join(self.dir, "unbound.conf")
        with open(conf, "w") as f:
            f.write("\n".join(["server:", "  interface: 127.0.0.1", f"  port: {self.port}", "  do-ip6: no",
                               "  do-daemonize: no", '  username: ""', '  chroot: ""',
                               f'  directory: "{self.dir}"', f'  pidfile: "{self.dir}/unbound.pid"',
                               "  use-syslog: no", f'  logfile: "{self.dir}/unbound.log"', "  verbosity: 1",
                               "  num-threads: 1", "  access-control: 127.0.0.0/8 allow",
                               '  local-zone: "." static', '  local-zone: "test." static']
                              + [f'  local-data: "{r}"' for r in self.records]
                              + ["remote-control:", "  control-enable: no", ""]))
        cmd = [UNBOUND, "-d", "-c", conf]
        if self.cpus and shutil.which("taskset"):
            cmd = ["taskset", "-c", self.cpus] + cmd
        self.logfile = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(cmd, cwd=self.dir, stdout=self.logfile, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        first = next((r.split()[0] for r in self.records if r.split()[3] == "A"), "test.")
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"unbound exited ({self.proc.returncode}); see {self.dir}")
            try:
                if dns_answers(self.port, first, timeout=0.3):
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"unbound does not answer on {self.forward}; see {self.dir}")
            time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if self.logfile:
            self.logfile.close()
            self.logfile = None


class Federation:
    """What two instances federating with each other share: the Dns and a
    private CA (made by parleyctl cert) that issues each domain an EC P-256
    certificate, as parleyctl init's are.  No instance trusts the CA, so
    every server treats its peer's certificate as unverified and falls back
    to dialback."""

    def __init__(self, dirpath, parleyctl, cpus=None):
        self.dir = dirpath
        self.parleyctl = parleyctl
        self.dns = Dns(os.path.join(dirpath, "dns"), cpus)
        self.ca = os.path.join(dirpath, "ca")
        if not os.path.exists(os.path.join(self.ca, "ca.crt")):
            self.ctl("cert", "ca", "init", self.ca, "--name", "Parley bench federation CA (trusted by none)")

    def ctl(self, *args):
        r = subprocess.run([self.parleyctl, *args], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"parleyctl {' '.join(args)}: {r.stderr.strip()}")

    def cert(self, domain):
        """(certificate, key) for domain.  Without an xmppAddr identity
        (the DNS-ID names the domain): ejabberd 23.01's s2s crashes on an
        xmppAddr in a peer certificate it is offered for SASL EXTERNAL."""
        prefix = os.path.join(self.dir, domain)
        if not os.path.exists(prefix + ".crt"):
            self.ctl("cert", "issue", "server", domain, "--ca", self.ca, "--out", prefix, "--no-xmpp-addr")
        return prefix + ".crt", prefix + ".key"


# ---------------------------------------------------------------- Parley

def set_option(text, key, value, section=None):
    """`key = ...;` (one setting per line, as parleyctl init writes them);
    with section, the first one inside `section: { ... };` (setting names
    repeat across sections: port, accept_selfsigned)."""
    lo, hi = 0, len(text)
    if section:
        m = re.search(r"^" + re.escape(section) + r": \{$", text, re.M)
        end = re.compile(r"^\};$", re.M).search(text, m.end()) if m else None
        if not m or not end:
            raise KeyError(f"section {section} not in the generated parley.conf")
        lo, hi = m.end(), end.start()
    pattern = re.compile(r"^(\s*)" + re.escape(key) + r" = .*;$", re.M)
    m = pattern.search(text, lo, hi)
    if not m:
        raise KeyError(f"setting {(section + '.') if section else ''}{key} not in the generated parley.conf")
    return text[:m.start()] + f"{m.group(1)}{key} = {value};" + text[m.end():]


class Parley(Instance):
    kind = "parley"

    # Settings for a throughput run, each recorded in the results.
    OPTIONS = {
        "log_level": '"warn"',		# no debug or per-connection info lines
        "read_rate": "0",		# no per-connection read budget
        "fail_max": "100000",		# one address logs in thousands of times
        "fail_delay_max": "0",
        "backlog": "1024",
    }

    def __init__(self, name, root, cert, cpus, users, presence_users, log, build, workers, **kw):
        super().__init__(name, root, cert, cpus, users, presence_users, log, **kw)
        self.build = build
        self.workers = workers
        self.parleyd = os.path.join(build, "src", "server", "parleyd")
        self.parleyctl = os.path.join(build, "src", "ctl", "parleyctl")
        self.inst = os.path.join(self.dir, "instance")
        self.conf = os.path.join(self.inst, "parley.conf")

    def ctl(self, *args, input=None):
        return subprocess.run([self.parleyctl, "-c", self.conf, *args], input=input, text=True,
                              capture_output=True, timeout=120, check=True)

    def prepare(self):
        if os.path.exists(self.inst):
            shutil.rmtree(self.inst)
        subprocess.run([self.parleyctl, "init", self.inst, "--domain", self.domain, "--c2s-port", str(self.port),
                        "--tls-port", str(free_port()), "--workers", str(self.workers),
                        # No s2s outside the federation scenario, as for the
                        # peers (and no clash on 5269).
                        "--s2s-port", str(self.s2s_port),
                        # Nor the admin API's fixed port (a running make run
                        # instance may hold it).
                        "--admin-port", "0"],
                       check=True, capture_output=True, text=True, timeout=60)
        with open(self.conf) as f:
            text = f.read()
        for key, value in self.OPTIONS.items():
            text = set_option(text, key, value)
        if self.fed:
            for key, value in self.s2s_options().items():
                text = set_option(text, key, value, section="s2s")
        with open(self.conf, "w") as f:
            f.write(text)
        shutil.copy(self.cert[0], os.path.join(self.inst, "certs", self.domain + ".crt"))
        shutil.copy(self.cert[1], os.path.join(self.inst, "certs", self.domain + ".key"))
        names = accounts(self.users, self.presence_users, self.group_users)
        self.ctl("user", "add", f"{names[0]}@{self.domain}", "--password-stdin", input=PASSWORD + "\n")
        try:
            self.clone_accounts(names)
        except (sqlite3.Error, RuntimeError) as e:
            self.say(f"  {self.name}: bulk copy in SQLite failed ({e}); adding accounts one by one")
            for n in names[1:]:
                r = subprocess.run([self.parleyctl, "-c", self.conf, "user", "add", f"{n}@{self.domain}",
                                    "--password-stdin"], input=PASSWORD + "\n", text=True,
                                   capture_output=True, timeout=60)
                if r.returncode not in (0, 1):
                    raise RuntimeError(f"parleyctl user add {n}: {r.stderr}")
        if self.group_users:
            self.make_group()

    def make_group(self):
        """The shared group, by parleyctl import (one transaction), then
        checked through parleyctl group list."""
        path = os.path.join(self.dir, "group.csv")
        with open(path, "w") as f:
            f.write(f"group,{GROUP},{GROUP_LABEL},shared\n")
            f.writelines(f"member,{GROUP},{j}\n" for j in group_members(self))
        self.ctl("import", path)
        rows = [l.split("\t") for l in self.ctl("group", "list").stdout.splitlines()]
        row = next((r for r in rows if r[0] == GROUP), None)
        if not row or len(row) < 3 or int(row[1]) != self.group_users or "shared" not in row[2]:
            raise RuntimeError(f"parleyctl group list shows {row}, expected {GROUP} with "
                               f"{self.group_users} members, shared")

    def clone_accounts(self, names):
        """Copies the first account's rows (made by parleyctl, so they are
        what Parley writes) to the others: seconds instead of minutes for
        10,000 accounts.  Checked afterwards through parleyctl."""
        db = sqlite3.connect(os.path.join(self.inst, "parley.db"))
        try:
            first = f"{names[0]}@{self.domain}"
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            if "accounts" not in tables or "credentials" not in tables:
                raise RuntimeError("no accounts/credentials tables")
            acols = [r[1] for r in db.execute("PRAGMA table_info(accounts)") if r[5] == 0 and r[1] != "jid"
                     and "GENERATED" not in (r[2] or "").upper()]
            # Generated columns (the account's domain) are not in table_info's
            # plain columns list but may be in table_xinfo: only plain ones.
            hidden = {r[1] for r in db.execute("PRAGMA table_xinfo(accounts)") if r[6] != 0}
            acols = [c for c in acols if c not in hidden]
            ccols = [r[1] for r in db.execute("PRAGMA table_info(credentials)") if r[1] != "jid"]
            arow = db.execute(f"SELECT {','.join(acols) or 'NULL'} FROM accounts WHERE jid=?", (first,)).fetchone()
            crows = db.execute(f"SELECT {','.join(ccols)} FROM credentials WHERE jid=?", (first,)).fetchall()
            if not arow or not crows:
                raise RuntimeError("the first account is not where expected")
            with db:
                db.executemany(f"INSERT OR IGNORE INTO accounts (jid{''.join(',' + c for c in acols)}) "
                               f"VALUES ({','.join('?' * (len(acols) + 1))})",
                               [(f"{n}@{self.domain}", *arow) for n in names[1:]])
                db.executemany(f"INSERT OR IGNORE INTO credentials (jid,{','.join(ccols)}) "
                               f"VALUES ({','.join('?' * (len(ccols) + 1))})",
                               [(f"{n}@{self.domain}", *row) for n in names[1:] for row in crows])
        finally:
            db.close()
        listed = self.ctl("user", "list", self.domain).stdout.split()
        if len(listed) < len(names):
            raise RuntimeError(f"parleyctl lists {len(listed)} accounts, expected {len(names)}")

    def s2s_options(self):
        """The s2s section for the federation scenario: peers found through
        the private DNS; an untrusted certificate is accepted once dialback
        proves the domain (s2s.require_tls and s2s.dialback keep their
        defaults: on)."""
        return {"resolver": f'"{self.fed.dns.forward}"', "resolver_zones": '["test"]',
                "accept_selfsigned": "true"}

    def command(self):
        return [self.parleyd, "-c", self.conf]

    def env(self):
        env = dict(os.environ)
        env.pop("ASAN_OPTIONS", None)
        return env

    def problems(self):
        path = os.path.join(self.dir, "stdout.log")
        if not os.path.exists(path):
            return []
        # The federation scenario's mode, as designed: untrusted
        # certificates accepted for dialback.
        expected = re.compile(r"accepted for dialback because s2s\.accept_selfsigned")
        with open(path, errors="replace") as f:
            return [l.rstrip() for l in f if re.search(r"\b(warn|error)\b", l) and not expected.search(l)]

    def version(self):
        r = subprocess.run([self.parleyd, "--version"], capture_output=True, text=True)
        out = (r.stdout or r.stderr).strip().splitlines()
        return out[0] if out and r.returncode == 0 else "parleyd (built from this tree)"

    def settings(self):
        out = {"workers": self.workers, "config": {k: v for k, v in self.OPTIONS.items()},
               "storage": "SQLite (default)", "build": self.build}
        if self.group_users:
            out["shared_group"] = (f"{GROUP} (label {GROUP_LABEL}, shared): {self.group_users} members, "
                                   "parleyctl import of group and member rows; no roster items")
        if self.fed:
            out["s2s"] = dict(self.s2s_options(), auth="STARTTLS (required) + dialback, untrusted "
                              "certificate accepted (accept_selfsigned)")
        return out


# ---------------------------------------------------------------- Prosody

class Prosody(Instance):
    kind = "prosody"

    def prepare(self):
        data = os.path.join(self.dir, "data")
        if os.path.exists(data):
            shutil.rmtree(data)
        acc = os.path.join(data, prosody_encode(self.domain), "accounts")
        os.makedirs(acc)
        stored, server = scram_sha256()
        body = ("return {\n\t[\"iteration_count\"] = %d;\n\t[\"salt\"] = \"%s\";\n"
                "\t[\"stored_key\"] = \"%s\";\n\t[\"server_key\"] = \"%s\";\n};\n"
                % (ITERATIONS, SALT.decode(), stored.hex(), server.hex()))
        # What mod_auth_internal_hashed writes with password_hash = "SHA-256".
        for n in accounts(self.users, self.presence_users, self.group_users):
            with open(os.path.join(acc, prosody_encode(n) + ".dat"), "w") as f:
                f.write(body)
        self.cfg = os.path.join(self.dir, "prosody.cfg.lua")
        d = self.dir
        groups = ""
        if self.group_users:
            # mod_groups: an INI-style file, one [Label] section listing the
            # members' JIDs; every member gets every other one (both).
            gfile = os.path.join(d, "groups.txt")
            with open(gfile, "w") as f:
                f.write(f"[{GROUP_LABEL}]\n" + "".join(j + "\n" for j in group_members(self)))
            groups = f'groups_file = "{gfile}"\n'
        with open(self.cfg, "w") as f:
            f.write(f"""-- Written by bench/run.py for one benchmark instance.
run_as_root = true   -- the harness runs as root in a private directory
pidfile = "{d}/prosody.pid"
data_path = "{data}"
certificates = "{os.path.dirname(self.cert[0])}"
plugin_paths = {{}}
network_backend = "epoll"
network_settings = {{ tcp_backlog = 1024 }}
log = {{ warn = "{d}/prosody.log" }}
-- The features Parley has; no mod_limits (rate limits), no http; s2s only
-- in the federation scenario.
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "private"; "vcard"; "blocklist"; "ping"; "version"{'; "dialback"' if self.fed else ''}{'; "groups"' if self.group_users else ''} }}
{groups}{self.s2s_config()}
c2s_ports = {{ {self.port} }}
c2s_interfaces = {{ "127.0.0.1" }}
c2s_require_encryption = true
allow_registration = false
authentication = "internal_hashed"
password_hash = "SHA-256"
default_iteration_count = {ITERATIONS}
storage = "internal"
VirtualHost "{self.domain}"
  ssl = {{ certificate = "{self.cert[0]}"; key = "{self.cert[1]}"; }}
""")

    def s2s_config(self):
        if not self.fed:
            return 'modules_disabled = { "s2s" }'
        # STARTTLS required, dialback accepted for a certificate that does not
        # verify (s2s_secure_auth = false); libunbound asks only the private
        # DNS, may query a loopback server, and looks test. up instead of
        # answering it itself (RFC 6761).
        return f"""use_ipv6 = false
s2s_ports = {{ {self.s2s_port} }}
s2s_interfaces = {{ "127.0.0.1" }}
s2s_require_encryption = true
s2s_secure_auth = false
unbound = {{
  resolvconf = false;
  hoststxt = false;
  forward = "{self.fed.dns.forward}";
  options = {{ ["do-not-query-localhost"] = "no"; ["local-zone"] = "test. transparent" }};
}}"""

    def command(self):
        return ["prosody", "--config", self.cfg, "-F"]

    def problems(self):
        path = os.path.join(self.dir, "prosody.log")
        if not os.path.exists(path):
            return []
        with open(path, errors="replace") as f:
            return [l.rstrip() for l in f if "Received SIG" not in l]

    def version(self):
        try:
            with open("/usr/lib/prosody/prosody.version") as f:
                return "Prosody " + f.read().strip()
        except OSError:
            return "Prosody " + dpkg_version("prosody")

    def settings(self):
        out = {"network_backend": "epoll", "tcp_backlog": 1024, "mod_limits": "not loaded",
               "log": "warn", "storage": "internal (files)", "password_hash": "SHA-256",
               "modules": "roster saslauth tls disco private vcard blocklist ping version",
               "nagle": "default (on)"}
        if self.group_users:
            out["shared_group"] = (f"mod_groups, groups_file with one [{GROUP_LABEL}] section of "
                                   f"{self.group_users} members; no roster items")
            out["modules"] += " groups"
        if self.fed:
            out["s2s"] = {"modules": "s2s dialback", "s2s_require_encryption": True, "s2s_secure_auth": False,
                          "resolver": f"libunbound forwarding to {self.fed.dns.forward}",
                          "auth": "STARTTLS (required) + dialback, certificate not verified"}
        return out


def prosody_encode(s):
    """util.datamanager's path encoding: every non-alphanumeric as %xx."""
    return re.sub(r"[^A-Za-z0-9]", lambda m: "%%%02x" % ord(m.group(0)), s)


def dpkg_version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
    return r.stdout.strip() or "?"


# ---------------------------------------------------------------- ejabberd

class Ejabberd(Instance):
    kind = "ejabberd"

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.dist_port = free_port()
        self.node = f"parleybench{self.port}@localhost"
        self.cookie = secrets.token_hex(16)

    def prepare(self):
        for sub in ("spool", "log"):
            p = os.path.join(self.dir, sub)
            if os.path.exists(p):
                shutil.rmtree(p)
            os.makedirs(p)
        self.cfg = os.path.join(self.dir, "ejabberd.yml")
        with open(self.cfg, "w") as f:
            f.write(f"""# Written by bench/run.py for one benchmark instance.
hosts: ["{self.domain}"]
loglevel: warning
certfiles:
  - "{self.cert[0]}"
  - "{self.cert[1]}"
listen:
  -
    port: {self.port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    max_stanza_size: 262144
    shaper: none          # no c2s shaper
    backlog: 1024         # the default of 5 drops connection bursts
    access: c2s
{self.s2s_listener()}access_rules:
  c2s:
    allow: all
shaper_rules:
  max_user_sessions: 64
  max_user_offline_messages: 1000
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha256
{self.s2s_config()}
# The features Parley has.
modules:
  mod_disco: {{}}
  mod_roster:
    versioning: true
  mod_offline:
    access_max_user_messages: max_user_offline_messages
  mod_ping: {{}}
  mod_private: {{}}
  mod_vcard: {{}}
  mod_privacy: {{}}
  mod_blocking: {{}}
  mod_version:
    show_os: false
{self.extra_modules()}
""")
        if self.fed:
            # Erlang's resolver (inet_res: SRV and A records) asks only the
            # private DNS; the SRV target's address goes through libc
            # (getaddrinfo), which start() points at a private hosts file.
            self.inetrc = os.path.join(self.dir, "inetrc")
            with open(self.inetrc, "w") as f:
                f.write(f'{{resolv_conf, ""}}.\n{{hosts_file, ""}}.\n'
                        f'{{host, {{127,0,0,1}}, ["localhost", "{socket.gethostname()}"]}}.\n'
                        f'{{nameserver, {{127,0,0,1}}, {self.fed.dns.port}}}.\n{{lookup, [file, dns]}}.\n')
            self.hosts = os.path.join(self.dir, "hosts")
            with open(self.hosts, "w") as f:
                f.write(self.fed.dns.hosts_text())

    def extra_modules(self):
        mods = (["  mod_s2s_dialback: {}"] if self.fed else []) + \
            (["  mod_shared_roster: {}"] if self.group_users else [])
        return "\n".join(mods)

    def s2s_listener(self):
        if not self.fed:
            return ""
        return f"""  -
    port: {self.s2s_port}
    ip: "127.0.0.1"
    module: ejabberd_s2s_in
    shaper: none
    backlog: 1024
"""

    def s2s_config(self):
        if not self.fed:
            return "s2s_access: none"
        # STARTTLS required; the peer's certificate does not verify, so
        # mod_s2s_dialback authenticates the link.  One connection per
        # domain pair (max_s2s_connections' default, 1).
        return """s2s_access: all
s2s_use_starttls: required
s2s_dns_timeout: 5
s2s_dns_retries: 1
outgoing_s2s_families: [ipv4]"""

    def erl_eval(self, script, what):
        """Runs an Erlang script on a hidden node next to the server's
        (which the script reaches over distribution); the last line it
        prints goes to the log."""
        cmd = self.erl_base(f"ctl{self.port}") + ["-dist_listen", "false", "-hidden", "-noinput",
                                                 "-eval", script]
        r = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"ejabberd {what} failed: {r.stdout[-2000:]} {r.stderr[-2000:]}")
        self.say("  " + r.stdout.strip().splitlines()[-1])

    def erl_base(self, name):
        # No epmd: the node listens on a fixed loopback port of its own.
        return ["erl", "-sname", name, "-setcookie", self.cookie, "-erl_epmd_port", str(self.dist_port),
                "-start_epmd", "false", "-kernel", "inet_dist_use_interface", "{127,0,0,1}"]

    def env(self):
        env = dict(os.environ)
        if self.fed:
            env["ERL_INETRC"] = self.inetrc
        env.update({"HOME": self.dir, "ERL_LIBS": "/usr/lib/x86_64-linux-gnu",
                    "EJABBERD_CONFIG_PATH": self.cfg,
                    "EJABBERD_LOG_PATH": os.path.join(self.dir, "log", "ejabberd.log"),
                    "ERL_CRASH_DUMP": os.path.join(self.dir, "log", "erl_crash.dump"),
                    "ERL_MAX_PORTS": "200000", "ERL_MAX_ETS_TABLES": "1400"})
        return env

    def command(self):
        s = self.ncpus
        cmd = self.erl_base(self.node) + ["+K", "true", "+P", "250000", "+S", f"{s}:{s}", "-noinput",
                                          "-mnesia", "dir", f'"{os.path.join(self.dir, "spool")}"',
                                          "-s", "ejabberd"]
        if self.fed:
            # p1_xmpp resolves the SRV target with getaddrinfo (libc, which
            # ignores inetrc): in a mount namespace of its own the node sees
            # the private DNS's A records as /etc/hosts.  The machine's
            # /etc/hosts is never touched.
            cmd = [UNSHARE, "-m", "--propagation", "private", "sh", "-c",
                   'mount --bind "$0" /etc/hosts && exec "$@"', self.hosts] + cmd
        return cmd

    def start_timeout(self):
        return 60

    def settle_after_start(self):
        return 1.0

    def provision_online(self):
        """ejabberd_auth:try_register with a ready SCRAM record, over Erlang
        distribution from a hidden node: about a second for 10,000
        accounts, where ejabberdctl register takes minutes."""
        stored, server = scram_sha256()
        b64 = lambda b: base64.b64encode(b).decode()
        ranges = (f'[{{"u", 0, {self.users - 1}}}, {{"p", 0, {self.presence_users - 1}}}, '
                  f'{{"{GROUP_PREFIX}", 0, {self.group_users - 1}}}]')
        script = f"""
N = '{self.node}',
pong = net_adm:ping(N),
Scram = {{scram, <<"{b64(stored)}">>, <<"{b64(server)}">>, <<"{b64(SALT)}">>, sha256, {ITERATIONS}}},
Host = <<"{self.domain}">>,
R = [rpc:call(N, ejabberd_auth, try_register, [list_to_binary(P ++ integer_to_list(I)), Host, Scram])
     || {{P, Lo, Hi}} <- {ranges}, Hi >= Lo, I <- lists:seq(Lo, Hi)],
Ok = length([x || X <- R, X =:= ok orelse X =:= {{error, exists}}]),
io:format("registered ~p of ~p~n", [Ok, length(R)]),
halt(case Ok =:= length(R) of true -> 0; false -> 1 end).
"""
        self.erl_eval(script, "provisioning")
        if self.group_users:
            self.make_group()

    def make_group(self):
        """The shared group as ejabberdctl srg_create and srg_user_add make
        it: explicit members, displayed to itself, so every member has
        every other one with subscription both.  Members are written through
        mod_shared_roster's storage module (mnesia) rather than
        srg_user_add, which also pushes roster items to every online member
        and takes minutes for 500 (nobody is online here, and every run
        starts a fresh process, so no cache is stale).  Checked by reading
        the group back through mod_shared_roster."""
        script = f"""
N = '{self.node}',
pong = net_adm:ping(N),
Host = <<"{self.domain}">>,
G = <<"{GROUP}">>,
rpc:call(N, mod_shared_roster, create_group, [Host, G, [{{label, <<"{GROUP_LABEL}">>}},
    {{description, <<"parley bench">>}}, {{displayed_groups, [G]}}]]),
Mod = rpc:call(N, gen_mod, db_mod, [Host, mod_shared_roster]),
[{{atomic, ok}} = rpc:call(N, Mod, add_user_to_group, [Host, {{list_to_binary("{GROUP_PREFIX}" ++ integer_to_list(I)), Host}}, G])
 || I <- lists:seq(0, {self.group_users - 1})],
Members = rpc:call(N, mod_shared_roster, get_group_explicit_users, [Host, G]),
Opts = rpc:call(N, mod_shared_roster, get_group_opts, [Host, G]),
Shown = proplists:get_value(displayed_groups, Opts, []),
io:format("shared roster group ~s: ~p members, displayed to ~p~n", [G, length(Members), Shown]),
halt(case length(Members) =:= {self.group_users} andalso Shown =:= [G] of true -> 0; false -> 1 end).
"""
        self.erl_eval(script, "shared roster group set-up")

    def problems(self):
        path = os.path.join(self.dir, "log", "ejabberd.log")
        if not os.path.exists(path):
            return []
        with open(path, errors="replace") as f:
            # Expected in the federation scenario: the certificates' CA is
            # trusted by none, so SASL EXTERNAL fails and dialback follows.
            # In the groups scenario: 500 rosters of 499 shared contacts
            # overflow the default cache_size (1,000), which is kept.
            expected = re.compile(r"self-signed|mod_pubsub is recommended|certificate is signed by unknown CA|"
                                  r"Failed (in|out)bound s2s EXTERNAL authentication|"
                                  r"Shrinking cache 'roster_item_cache'")
            return [l.rstrip() for l in f if re.search(r"\[(warning|error|critical)\]", l)
                    and not expected.search(l)]

    def version(self):
        return "ejabberd " + dpkg_version("ejabberd") + " (Erlang/OTP " + dpkg_version("erlang-base") + ")"

    def settings(self):
        out = {"c2s shaper": "none", "listener backlog": 1024, "loglevel": "warning",
               "storage": "mnesia (default)", "auth": "internal, scram sha256",
               "schedulers": f"+S {self.ncpus}:{self.ncpus}", "epmd": "none (fixed distribution port)",
               "modules": "disco roster(versioning) offline ping private vcard privacy blocking version"}
        if self.group_users:
            out["modules"] += " shared_roster"
            out["shared_group"] = (f"mod_shared_roster (mnesia): group {GROUP}, label {GROUP_LABEL}, "
                                   f"{self.group_users} explicit members, displayed_groups [{GROUP}]; "
                                   "no roster items")
        if self.fed:
            out["s2s"] = {"modules": "mod_s2s_dialback", "s2s_use_starttls": "required", "s2s_in shaper": "none",
                          "max_s2s_connections": "1 (default)",
                          "resolver": f"inet_res to {self.fed.dns.forward} (ERL_INETRC); libc through a "
                                      "private /etc/hosts (unshare -m)",
                          "auth": "STARTTLS (required) + dialback, certificate not verified"}
        return out
