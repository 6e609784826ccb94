"""A raw XMPP client socket for the hostile-input tests.

Plain TCP to the c2s port, an upgrade with STARTTLS, or direct TLS (ALPN
xmpp-client) to the TLS port; the test writes bytes exactly as it wants
them on the wire and reads what the server answers.  Every read has a
deadline: a test never waits longer than it says.

It is not a client library: it knows just enough XMPP (stream header,
STARTTLS, SASL PLAIN, bind) to get a session for the cases that need one.
"""
import base64
import re
import select
import socket
import ssl
import time

NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"

STREAM_ERROR_RX = re.compile(
    rb"<(?:stream:)?error[^>]*>\s*<([a-z-]+)[^>]*xmlns=['\"]" + re.escape(NS_STREAMS.encode()) + rb"['\"]")
STREAM_TEXT_RX = re.compile(rb"<text[^>]*>([^<]*)</text>")


def header(to="localhost", version="1.0", ns="jabber:client",
           stream_ns="http://etherx.jabber.org/streams", decl=True):
    """A client stream header; None leaves an attribute out."""
    attrs = [f"xmlns='{ns}'", f"xmlns:stream='{stream_ns}'"]
    if to is not None:
        attrs.append(f"to='{to}'")
    if version is not None:
        attrs.append(f"version='{version}'")
    return ("<?xml version='1.0'?>" if decl else "") + "<stream:stream " + " ".join(attrs) + ">"


class Closed(Exception):
    """The server closed the connection while we waited for something else."""


class Raw:
    def __init__(self, port, host="127.0.0.1", tls=False, cafile=None, source=None,
                 rcvbuf=None, timeout=10.0):
        self.cafile = cafile
        self.timeout = timeout
        self.buf = b""
        self.received = b""  # everything ever read, for "never received" checks
        self.closed = False
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect, so the window is small from the start.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.connect((host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        if tls:
            self._wrap(alpn=["xmpp-client"])

    # ---- TLS ----

    def _context(self, alpn=None):
        ctx = ssl.create_default_context(cafile=self.cafile)
        if not self.cafile:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if alpn:
            ctx.set_alpn_protocols(alpn)
        return ctx

    def _wrap(self, alpn=None):
        assert not self.buf, f"bytes left before the TLS handshake: {self.buf!r}"
        self.sock = self._context(alpn).wrap_socket(self.sock, server_hostname="localhost")

    @property
    def secure(self):
        return isinstance(self.sock, ssl.SSLSocket)

    # ---- bytes ----

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _recv_some(self, deadline):
        """One read into self.buf; False on EOF (then self.closed)."""
        if self.closed:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        if not (self.secure and self.sock.pending()):
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                raise TimeoutError("deadline passed")
        try:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            chunk = b""
        except ssl.SSLError as e:
            # A TLS alert or a torn record from a closing peer ends the stream too.
            self.tls_error = e
            chunk = b""
        except socket.timeout:
            raise TimeoutError("deadline passed")
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        self.received += chunk
        return True

    def expect(self, pattern, timeout=None):
        """Reads until `pattern` (bytes regex) matches; returns the match and
        consumes the buffer through its end.  Closed or TimeoutError otherwise."""
        rx = re.compile(pattern if isinstance(pattern, bytes) else pattern.encode(), re.S)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            try:
                if not self._recv_some(deadline):
                    raise Closed(f"closed while waiting for {pattern!r}; got {self.buf[-2000:]!r}")
            except TimeoutError:
                raise TimeoutError(f"no {pattern!r} within the deadline; got {self.buf[-2000:]!r}")

    def read_until_close(self, timeout=None):
        """Everything the server sends until it closes; TimeoutError when it
        does not close within the deadline."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self._recv_some(deadline):
            pass
        data, self.buf = self.buf, b""
        return data

    def stream_error(self, timeout=None):
        """Reads until the server closes; returns (condition, text) of the
        <stream:error/> it sent, or (None, None) when it sent none."""
        data = self.read_until_close(timeout)
        self.last_data = data
        m = STREAM_ERROR_RX.search(data)
        if not m:
            return None, None
        t = STREAM_TEXT_RX.search(data, m.end())
        return m.group(1).decode(), t.group(1).decode() if t else None

    def flood(self, head, total=20 << 20, chunk=b"A" * 65536, timeout=20.0):
        """Sends `head`, then filler up to `total` bytes, reading whatever
        the server answers meanwhile, until the server closes the
        connection.  Returns the bytes of filler the socket accepted; the
        server's answer is in self.buf / self.received."""
        self.send(head)
        sent = 0
        deadline = time.monotonic() + timeout
        while sent < total and not self.closed and time.monotonic() < deadline:
            r, w, _ = select.select([self.sock], [self.sock], [], 0.5)
            if r or (self.secure and self.sock.pending()):
                try:
                    self._recv_some(time.monotonic() + 0.5)
                except TimeoutError:
                    pass
                continue
            if not w:
                continue
            try:
                self.sock.settimeout(0.5)
                sent += self.sock.send(chunk)
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                break
        return sent

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- XMPP steps ----

    def open(self, **kw):
        """Sends a stream header and returns the features element's bytes."""
        self.send(header(**kw))
        self.expect(rb"<stream:stream[^>]*>")
        return self.expect(rb"<stream:features[^>]*?(?:/>|>.*?</stream:features>)").group(0)

    def starttls(self):
        self.send(f"<starttls xmlns='{NS_TLS}'/>")
        self.expect(rb"<proceed[^>]*/>")
        self._wrap()

    def auth_plain(self, user, password, timeout=None):
        """One SASL PLAIN attempt: 'success' or the failure condition."""
        cred = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{cred}</auth>")
        m = self.expect(rb"<success[^>]*(?:/>|>.*?</success>)|<failure[^>]*>\s*<([a-z-]+)", timeout)
        return "success" if m.group(0).startswith(b"<success") else m.group(1).decode()

    def bind(self, resource=None):
        res = f"<resource>{resource}</resource>" if resource else ""
        self.send(f"<iq type='set' id='bind1'><bind xmlns='{NS_BIND}'>{res}</bind></iq>")
        m = self.expect(rb"<jid>([^<]+)</jid>")
        self.expect(rb"</iq>")
        self.jid = m.group(1).decode()
        return self.jid

    def login(self, user, password="secret", resource=None, domain="localhost"):
        """STARTTLS (unless already TLS), PLAIN, bind; returns the full JID."""
        features = self.open(to=domain)
        if not self.secure:
            assert b"starttls" in features, features
            self.starttls()
            self.open(to=domain)
        r = self.auth_plain(user, password)
        assert r == "success", f"login of {user} failed: {r}"
        self.open(to=domain)
        return self.bind(resource)

    def message(self, to, body, **attrs):
        extra = "".join(f" {k}='{v}'" for k, v in attrs.items())
        self.send(f"<message to='{to}' type='chat'{extra}><body>{body}</body></message>")

    def expect_message(self, body_rx, timeout=None):
        """Waits for a <message/> whose body matches; returns the whole stanza."""
        if isinstance(body_rx, str):
            body_rx = body_rx.encode()
        return self.expect(rb"<message[^>]*>(?:(?!</message>).)*<body>" + body_rx +
                           rb"</body>.*?</message>", timeout).group(0)


def connect(server, tls=False, **kw):
    """A Raw socket to the server's STARTTLS port (or, with tls, its direct
    TLS port), trusting the instance certificate."""
    return Raw(server.tls_port if tls else server.port, tls=tls, cafile=server.cert, **kw)


def session(server, user, password="secret", **kw):
    """A bound session of `user` (local part) over STARTTLS."""
    r = connect(server, **{k: v for k, v in kw.items() if k in ("source", "rcvbuf", "timeout", "tls")})
    r.login(user, password, resource=kw.get("resource"))
    return r
