"""Starting and stopping real parleyd instances for the integration tests.

Each instance lives in its own temporary directory made by `parleyctl init`,
listens on free loopback ports, and is stopped by process id.  Its log is
kept so tests can assert on the operator-facing lines, and a sanitizer
report in the log fails the test that owned the instance.
"""
import os
import re
import socket
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("PARLEY_BUILD", "build"))
PARLEYD = os.path.join(BUILD, "src", "server", "parleyd")
PARLEYCTL = os.path.join(BUILD, "src", "ctl", "parleyctl")

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def free_ports(n):
    """n distinct free ports: the sockets stay bound until all are chosen,
    so the kernel cannot hand out one port twice."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def set_option(text, key, value):
    """Replaces `key = ...;` (a key inside its section, as parleyctl init
    writes them: one setting per line) with a new libconfig value.  A bare
    key is the first setting of that name; "section.key" the one in that
    section (for names that two sections share)."""
    start = 0
    if "." in key:
        section, key = key.split(".", 1)
        m = re.search(r"^" + re.escape(section) + r": \{$", text, re.M)
        if not m:
            raise KeyError(f"section {section} not found in the generated configuration")
        start = m.end()
    pattern = re.compile(r"^(\s*)" + re.escape(key) + r" = .*;$", re.M)
    m = pattern.search(text, start)
    if not m:
        raise KeyError(f"setting {key} not found in the generated configuration")
    return text[:m.start()] + f"{m.group(1)}{key} = {value};" + text[m.end():]


def lc(value):
    """A Python value as libconfig text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(lc(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Server:
    """One parleyd instance.  `options` maps setting names (as written in the
    configuration, e.g. "mechanisms" or "workers") to Python values."""

    def __init__(self, domain="localhost", workers=1, options=None, log_level="debug", admins=None):
        """admins: JIDs for the `admins` setting (the admin API's and the web
        page's administrators; accounts are the test's to add).  Every
        instance serves the admin API on a free port of its own
        (self.admin_port; parleyctl init's 5280 would clash)."""
        self.domain = domain
        self.dir = tempfile.mkdtemp(prefix="parley-test-")
        self.port, self.tls_port, self.s2s_port, self.s2s_tls_port, self.admin_port = free_ports(5)
        self.conf = os.path.join(self.dir, "parley.conf")
        self.logpath = os.path.join(self.dir, "parleyd.log")
        self.proc = None
        self.ctl("init", self.dir, "--domain", domain, "--c2s-port", str(self.port),
                 "--tls-port", str(self.tls_port), "--s2s-port", str(self.s2s_port),
                 "--s2s-tls-port", str(self.s2s_tls_port), "--workers", str(workers),
                 "--admin-port", str(self.admin_port))
        opts = {"log_level": log_level}
        if admins:
            opts["admins"] = list(admins)
        opts.update(options or {})
        self.configure(**opts)
        # A test that sets http.admin_port itself keeps its own.
        m = re.search(r"^\s*admin_port = (\d+);$", self.conf_text(), re.M)
        self.admin_port = int(m.group(1)) if m else 0

    def conf_text(self):
        with open(self.conf) as f:
            return f.read()

    @property
    def admin_url(self):
        """https://127.0.0.1:PORT: the admin API and the web page (/admin/),
        with this instance's self-signed certificate (self.cert, for the
        name of the domain)."""
        return f"https://127.0.0.1:{self.admin_port}"

    def configure(self, **options):
        with open(self.conf) as f:
            text = f.read()
        for key, value in options.items():
            text = set_option(text, key, lc(value))
        with open(self.conf, "w") as f:
            f.write(text)

    def ctl(self, *args, input=None, check=True):
        r = subprocess.run([PARLEYCTL, "-c", os.path.join(self.dir, "parley.conf"), *args],
                           input=input, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError(f"parleyctl {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def add_user(self, jid, password="secret"):
        self.ctl("user", "add", jid, "--password-stdin", input=password + "\n")
        return jid

    @property
    def cert(self):
        return os.path.join(self.dir, "certs", f"{self.domain}.crt")

    def start(self, _tries=3):
        """Starts parleyd and waits for its ports.  Ports come from
        free_ports() but are bound only now: another process (an outgoing
        connection's source port, another test's server) may take one in
        between; then the client and admin ports are chosen again, a few
        times, before giving up (s2s ports stay: they may be published in
        a test's DNS)."""
        for attempt in range(_tries):
            start_at = os.path.getsize(self.logpath) if os.path.exists(self.logpath) else 0
            try:
                return self._start_once()
            except RuntimeError:
                with open(self.logpath, errors="replace") as f:
                    f.seek(start_at)
                    tail = f.read()
                clash = re.search(r"cannot listen on 127\.0\.0\.1:(\d+): Address already in use", tail)
                ours = {self.port, self.tls_port, self.admin_port}
                if attempt + 1 == _tries or not clash or int(clash.group(1)) not in ours:
                    raise
                self.port, self.tls_port, admin = free_ports(3)
                moves = {"c2s.port": self.port, "c2s.tls_port": self.tls_port}
                if self.admin_port:
                    self.admin_port = admin
                    moves["http.admin_port"] = admin
                self.configure(**moves)

    def _start_once(self):
        self.logfile = open(self.logpath, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.proc = subprocess.Popen([PARLEYD, "-c", self.conf], stdout=self.logfile,
                                     stderr=subprocess.STDOUT, env=env, cwd=self.dir)
        try:
            wait_port(self.port)
            wait_port(self.tls_port)
            if self.admin_port and re.search(r'^\s*admin_listen = \[ *"127\.0\.0\.1" *\];$', self.conf_text(),
                                             re.M):
                wait_port(self.admin_port)
        except TimeoutError:
            self.stop(check=False)
            raise RuntimeError("parleyd did not start:\n" + self.log())
        return self

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=10.0):
        """Waits until a log line matches the regular expression; returns it."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log().splitlines():
                if rx.search(line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no log line matches {pattern!r} within {timeout} s; log:\n{self.log()[-4000:]}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check=True):
        """Stops by pid with SIGTERM; with check, asserts a clean exit and a log
        without sanitizer reports."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                if check:
                    raise AssertionError("parleyd did not stop within 20 s of SIGTERM")
        code = self.proc.returncode
        self.proc = None
        self.logfile.close()
        if check:
            log = self.log()
            for mark in SANITIZER_MARKS:
                assert mark not in log, f"sanitizer report in parleyd's log:\n{log[-8000:]}"
            assert code == 0, f"parleyd exited with {code}; log:\n{log[-4000:]}"
