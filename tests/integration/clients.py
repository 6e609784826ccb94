"""Running the external test clients (strophe_client, js/client.js, the
stock-client drivers in stock/, and Debian's command-line clients).

The drivers print one event per line ("connected jid=...", "message from=...
body=...", "auth-failed ...", "timeout"); a ClientProc collects those lines
(or whatever a command-line client prints) from a reader thread so a test
can wait for one with a deadline while the client keeps running, and then
for the exit code.
"""
import os
import queue
import re
import subprocess
import sys
import threading
import time

from parley import BUILD, ROOT

STROPHE_CLIENT = os.path.join(BUILD, "tests", "integration", "strophe_client")
JS_DIR = os.path.join(ROOT, "tests", "integration", "js")
JS_CLIENT = os.path.join(JS_DIR, "client.js")
STOCK_DIR = os.path.join(ROOT, "tests", "integration", "stock")

EXIT_OK, EXIT_USAGE, EXIT_CONN, EXIT_AUTH, EXIT_TIMEOUT = 0, 1, 2, 3, 4


class ClientProc:
    """One client process.  `input` (text) is written to its standard input,
    which is then closed; without it the standard input is empty."""

    def __init__(self, argv, env=None, input=None, cwd=None):
        self.argv = argv
        self.lines = []
        self._q = queue.Queue()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
                                     text=True, env=env, cwd=cwd)
        if input is not None:
            try:
                self.proc.stdin.write(input)
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        self._err = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self._q), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, None), daemon=True).start()
        self._seen = 0

    def _pump(self, f, q):
        for line in f:
            line = line.rstrip("\n")
            if q is None:
                self._err.append(line)
            else:
                q.put(line)
        if q is not None:
            q.put(None)

    def _drain(self, timeout):
        try:
            line = self._q.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return False
        if line is None:
            self._eof = True
            return False
        self.lines.append(line)
        return True

    def wait_line(self, pattern, timeout=20.0):
        """Returns the match of the first line (not matched before) that
        matches `pattern`; AssertionError after the deadline or at exit."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            while self._seen < len(self.lines):
                line = self.lines[self._seen]
                self._seen += 1
                m = rx.search(line)
                if m:
                    return m
            if getattr(self, "_eof", False) or time.monotonic() >= deadline:
                raise AssertionError(f"no line matching {pattern!r} from {os.path.basename(self.argv[0])}"
                                     f" {' '.join(self.argv[1:])}: {self.describe()}")
            self._drain(deadline - time.monotonic())

    def wait(self, timeout=30.0):
        """The exit code; kills the client (by its pid) when it overstays."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"client still running after {timeout} s: {self.describe()}")
        deadline = time.monotonic() + 5
        while not getattr(self, "_eof", False) and time.monotonic() < deadline:
            self._drain(deadline - time.monotonic())
        return code

    def describe(self):
        return "stdout: " + repr(self.lines) + "; stderr: " + "\n".join(self._err[-30:])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def interrupt(self, timeout=5.0):
        """SIGINT (a client's way to log out), then the exit code; killed
        (by its pid) if it is still running after `timeout`."""
        if self.proc.poll() is None:
            self.proc.send_signal(2)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode


def strophe(server, jid, password="secret", *args, direct_tls=False, cafile=True, env=None, defaults=False):
    """Starts strophe_client for `jid` against `server`.  With defaults,
    libstrophe keeps its default connection flags (--defaults)."""
    port = server.tls_port if direct_tls else server.port
    argv = [STROPHE_CLIENT, "--jid", jid, "--password", password, "--port", str(port)]
    if direct_tls:
        argv.append("--direct-tls")
    if defaults:
        argv.append("--defaults")
    # cafile: True for the instance's own certificate, or a path for another
    # CA; the certificate is always verified.
    argv += ["--cafile", server.cert if cafile is True else cafile]
    e = dict(os.environ)
    # libstrophe's own allocations at exit are not ours to report.
    e["ASAN_OPTIONS"] = "detect_leaks=0"
    e.update(env or {})
    return ClientProc(argv + list(args), env=e)


def xmppjs(server, username, password="secret", *args, direct_tls=False, cafile=None):
    """Starts the xmpp.js client for username@localhost over STARTTLS, or
    with direct_tls over direct TLS (xmpps://, to the server's name: xmpp.js
    checks the certificate against the host of the service URI there, and
    against the domain after STARTTLS).  cafile: the certificate or CA it
    trusts (NODE_EXTRA_CA_CERTS); the instance's own by default."""
    service = (f"xmpps://{server.domain}:{server.tls_port}" if direct_tls
               else f"xmpp://127.0.0.1:{server.port}")
    argv = ["node", JS_CLIENT, "--service", service,
            "--domain", server.domain, "--username", username, "--password", password]
    e = dict(os.environ)
    e["NODE_EXTRA_CA_CERTS"] = cafile or server.cert
    return ClientProc(argv + list(args), env=e)


def stock_driver(name, server, jid, password="secret", *args, direct_tls=False, cafile=None):
    """Starts stock/<name>_client.py (slixmpp, aioxmpp or nbxmpp at their
    defaults; their line protocol is that of strophe_client) for the bare
    `jid`.  cafile: the certificate or CA the client trusts, the instance's
    own by default; aioxmpp takes it from SSL_CERT_FILE (OpenSSL's default
    verify paths), the others from their own trust option."""
    cafile = cafile or server.cert
    port = server.tls_port if direct_tls else server.port
    argv = [sys.executable, os.path.join(STOCK_DIR, f"{name}_client.py"), "--jid", jid,
            "--password", password, "--port", str(port), "--cafile", cafile]
    if direct_tls:
        argv.append("--direct-tls")
    e = dict(os.environ)
    e.pop("SSL_CERT_FILE", None)
    e.pop("SSL_CERT_DIR", None)
    if name == "aioxmpp":
        e["SSL_CERT_FILE"] = cafile
    return ClientProc(argv + list(args), env=e)


def cli_home(server):
    """An empty home directory for a command-line client, so no user
    configuration file (~/.sendxmpprc, ~/.config/go-sendxmpp) steers it."""
    home = os.path.join(server.dir, "client-home")
    os.makedirs(home, exist_ok=True)
    return home


def go_sendxmpp(server, jid, password="secret", *, to=None, body=None, listen=False, direct_tls=False,
                cafile=None, debug=False):
    """Debian's go-sendxmpp at its defaults: sends `body` (its standard
    input) to `to`, or with listen (-l) prints each message it receives as
    "<time> <sender>: <body>" until it is stopped.  The server address is
    given as -j 127.0.0.1:PORT, direct TLS with -t (its option for the
    direct-TLS port); go-sendxmpp is a Go program, so it trusts the CA in
    SSL_CERT_FILE (Go's crypto/x509 reads that variable) and checks the
    certificate against the JID's domain."""
    port = server.tls_port if direct_tls else server.port
    argv = ["go-sendxmpp", "-u", jid, "-p", password, "-j", f"127.0.0.1:{port}"]
    if direct_tls:
        argv.append("-t")
    if debug:
        argv.append("-d")
    argv += ["-l"] if listen else [to]
    e = dict(os.environ)
    e.pop("SSL_CERT_DIR", None)
    e["SSL_CERT_FILE"] = cafile or server.cert
    e["HOME"] = cli_home(server)
    e.pop("XDG_CONFIG_HOME", None)
    return ClientProc(argv, env=e, input=None if listen else (body or "") + "\n")


def sendxmpp(server, user, password="secret", *, to, body, direct_tls=False, cafile=None, tls=True,
             debug=False):
    """Debian's sendxmpp (Perl, Net::XMPP): sends `body` (its standard input)
    to `to` as user@<server.domain>.  Its connection security is an option
    every user of a server that requires TLS must give: -t (STARTTLS) or -e
    (direct TLS); with tls=False neither is given (its literal default,
    plaintext).  The server is given as -j DOMAIN:PORT (sendxmpp takes the
    JID's domain from -j) and the certificate is checked against the CA in
    -a (--tls-ca-path, a file or a directory)."""
    port = server.tls_port if direct_tls else server.port
    argv = ["sendxmpp", "-u", user, "-p", password, "-j", f"{server.domain}:{port}"]
    if tls:
        argv += ["-e"] if direct_tls else ["-t"]
        argv += ["-a", cafile or server.cert]
    if debug:
        argv.append("-d")
    argv.append(to)
    e = dict(os.environ)
    e["HOME"] = cli_home(server)
    return ClientProc(argv, env=e, input=body + "\n")
