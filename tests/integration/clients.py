"""Running the external test clients (strophe_client, js/client.js).

Both print one event per line ("connected jid=...", "message from=... body=...",
"auth-failed ...", "timeout"); a ClientProc collects those lines from a
reader thread so a test can wait for one with a deadline while the client
keeps running, and then for the exit code.
"""
import os
import queue
import re
import subprocess
import threading
import time

from parley import BUILD, ROOT

STROPHE_CLIENT = os.path.join(BUILD, "tests", "integration", "strophe_client")
JS_DIR = os.path.join(ROOT, "tests", "integration", "js")
JS_CLIENT = os.path.join(JS_DIR, "client.js")

EXIT_OK, EXIT_USAGE, EXIT_CONN, EXIT_AUTH, EXIT_TIMEOUT = 0, 1, 2, 3, 4


class ClientProc:
    def __init__(self, argv, env=None):
        self.argv = argv
        self.lines = []
        self._q = queue.Queue()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
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


def strophe(server, jid, password="secret", *args, direct_tls=False, cafile=True, env=None):
    """Starts strophe_client for `jid` against `server`."""
    port = server.tls_port if direct_tls else server.port
    argv = [STROPHE_CLIENT, "--jid", jid, "--password", password, "--port", str(port)]
    if direct_tls:
        argv.append("--direct-tls")
    argv += ["--cafile", server.cert] if cafile else ["--trust"]
    e = dict(os.environ)
    # libstrophe's own allocations at exit are not ours to report.
    e["ASAN_OPTIONS"] = "detect_leaks=0"
    e.update(env or {})
    return ClientProc(argv + list(args), env=e)


def xmppjs(server, username, password="secret", *args):
    """Starts the xmpp.js client for username@localhost over STARTTLS."""
    argv = ["node", JS_CLIENT, "--service", f"xmpp://127.0.0.1:{server.port}",
            "--domain", server.domain, "--username", username, "--password", password]
    e = dict(os.environ)
    e["NODE_EXTRA_CA_CERTS"] = server.cert
    return ClientProc(argv + list(args), env=e)
