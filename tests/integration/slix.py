"""A small asyncio client for the integration tests, on python3-slixmpp 1.8.3.

Client wraps one slixmpp.ClientXMPP that connects to 127.0.0.1 on a test
instance's port (never DNS), verifies the server's certificate against the
instance's own (pinned, hostname checked), records every stanza and every
event it sees, and offers waits that are always bounded in time:

    c = Client(server, "alice@localhost/phone")
    await c.login()                    # session started, or AssertionError
    await c.send_presence()            # and wait until the server took it
    st = await c.expect(message(frm="bob@localhost/pc"))

Tests stay synchronous for pytest: `run(coro)` runs one test body on a fresh
event loop with an overall time limit and disconnects every Client made
inside it, whatever happened.

Stanzas are matched on the raw XML (`st.xml`, an ElementTree element), not
on slixmpp's interpretation of it, so a wrongly formed reply is not hidden
by the library's parsing.
"""
import asyncio
import contextvars
import logging
import ssl
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher.base import MatcherBase

# Default bound of every wait; generous for an ASan build on a busy machine,
# yet short enough that a hung test fails fast.
TIMEOUT = 10.0

NS_CLIENT = "jabber:client"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_ROSTER = "jabber:iq:roster"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_PING = "urn:xmpp:ping"
NS_VERSION = "jabber:iq:version"
NS_VCARD = "vcard-temp"
NS_PRIVATE = "jabber:iq:private"
NS_BLOCKING = "urn:xmpp:blocking"
NS_DELAY = "urn:xmpp:delay"

logging.getLogger("slixmpp").setLevel(logging.WARNING)

_clients = contextvars.ContextVar("parley_slix_clients")


def q(ns, name):
    """ElementTree's {namespace}name."""
    return "{%s}%s" % (ns, name)


# ---- predicates on received stanzas ----

def _attrs_match(st, kind, type_, frm, to):
    x = st.xml
    if x.tag != q(NS_CLIENT, kind):
        return False
    if type_ is not None and x.get("type", "normal" if kind == "message" else None) != type_:
        return False
    if frm is not None and x.get("from") != frm:
        return False
    if to is not None and x.get("to") != to:
        return False
    return True


def message(frm=None, body=None, type_=None, to=None):
    """Matches a <message/>; type_ "normal" matches an absent type."""
    def match(st):
        if not _attrs_match(st, "message", type_, frm, to):
            return False
        return body is None or st.xml.findtext(q(NS_CLIENT, "body")) == body
    match.__doc__ = f"message from={frm} type={type_} body={body!r}"
    return match


def presence(frm=None, type_=None, to=None, status=None):
    """Matches a <presence/>; type_ "available" matches an absent type."""
    def match(st):
        if st.xml.tag != q(NS_CLIENT, "presence"):
            return False
        t = st.xml.get("type", "available")
        if type_ is not None and t != type_:
            return False
        if status is not None and st.xml.findtext(q(NS_CLIENT, "status")) != status:
            return False
        return _attrs_match(st, "presence", None, frm, to)
    match.__doc__ = f"presence from={frm} type={type_} status={status!r}"
    return match


def iq_push(ns, name="query"):
    """Matches an iq set whose payload is {ns}name (roster or block pushes)."""
    def match(st):
        return (st.xml.tag == q(NS_CLIENT, "iq") and st.xml.get("type") == "set"
                and st.xml.find(q(ns, name)) is not None)
    match.__doc__ = f"iq set {{{ns}}}{name}"
    return match


def error_condition(st):
    """The defined condition of a stanza error (e.g. "service-unavailable"),
    with its error type: ("cancel", "service-unavailable"); None if st is
    not an error."""
    if st.xml.get("type") != "error":
        return None
    err = st.xml.find(q(NS_CLIENT, "error"))
    if err is None:
        return (None, None)
    for child in err:
        if child.tag.startswith("{" + NS_STANZAS + "}") and not child.tag.endswith("}text"):
            return (err.get("type"), child.tag.split("}", 1)[1])
    return (err.get("type"), None)


class _Everything(MatcherBase):
    def __init__(self):
        super().__init__(None)

    def match(self, xml):
        return True


class _XMPP(slixmpp.ClientXMPP):
    """ClientXMPP that connects where it is told: the instance's loopback
    address, never an address DNS gives for the JID's domain."""

    def __init__(self, jid, password, address, **kw):
        super().__init__(jid, password, **kw)
        self.test_address = address

    async def get_dns_records(self, domain, port=None):
        return [(domain, self.test_address[0], self.test_address[1])]


class Client:
    """One client connection to a test instance.

    server:     a parley.Server
    jid:        bare or full JID (the resource is requested at bind)
    direct_tls: connect to the tls_port with TLS at once (XEP-0368)
    tls_max:    an ssl.TLSVersion the client will not go above
    mechs:      SASL mechanisms the client may choose from, asked for by
                name; None (the default) leaves the choice to slixmpp, as
                at its defaults, among everything the server offers.
    verify:     check the server certificate against the instance's own
    """

    def __init__(self, server, jid, password="secret", *, direct_tls=False, tls_max=None,
                 mechs=None, verify=True):
        self.server = server
        self.jid = jid
        self.direct_tls = direct_tls
        self.mechs = mechs
        port = server.tls_port if direct_tls else server.port
        plugin_config = {}
        if mechs is not None:
            plugin_config["feature_mechanisms"] = {"use_mechs": set(mechs)}
        self.x = _XMPP(jid, password, ("127.0.0.1", port), plugin_config=plugin_config)
        ctx = self.x.ssl_context
        if verify:
            self.x.ca_certs = Path(server.cert)
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if tls_max is not None:
            ctx.maximum_version = tls_max
        # The tests drive subscriptions by hand (None: neither approve nor
        # refuse; False would answer every request with unsubscribed).
        self.x.roster.auto_authorize = None
        self.x.roster.auto_subscribe = False
        self.x.whitespace_keepalive = False

        self.inbox = []          # stanzas not yet taken by expect()
        self.seen = []           # every stanza, for failure messages
        self.events = {}         # event name -> list of data
        self._wake = asyncio.Event()
        self.x.register_handler(Callback("parley-test collector", _Everything(), self._on_stanza))
        for name in ("session_start", "session_bind", "failed_auth", "failed_all_auth", "no_auth",
                     "auth_success", "stream_error", "disconnected", "connection_failed",
                     "ssl_invalid_chain"):
            self.x.add_event_handler(name, self._recorder(name))
        try:
            _clients.get().append(self)
        except LookupError:
            pass

    # ---- recording ----

    def _on_stanza(self, st):
        self.inbox.append(st)
        self.seen.append(st)
        self._wake.set()

    def _recorder(self, name):
        def record(data=None):
            self.events.setdefault(name, []).append(data)
            self._wake.set()
        return record

    def had(self, event):
        return bool(self.events.get(event))

    async def _until(self, check, timeout, what):
        """Waits until check() returns something other than None."""
        deadline = time.monotonic() + timeout
        while True:
            self._wake.clear()
            r = check()
            if r is not None:
                return r
            left = deadline - time.monotonic()
            if left <= 0:
                seen = "\n  ".join(str(s) for s in self.seen[-15:])
                raise AssertionError(f"{self.jid}: {what} did not happen within {timeout} s; "
                                     f"events {sorted(self.events)}; last stanzas:\n  {seen}")
            try:
                await asyncio.wait_for(self._wake.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def wait_event(self, *names, timeout=TIMEOUT):
        """Waits until one of the events has fired; returns its name."""
        return await self._until(lambda: next((n for n in names if self.had(n)), None), timeout,
                                 "event " + "/".join(names))

    async def expect(self, match, timeout=TIMEOUT):
        """Takes the first received stanza that match() accepts (waiting for
        it if needed) and returns it."""
        def check():
            for i, st in enumerate(self.inbox):
                if match(st):
                    return self.inbox.pop(i)
            return None
        return await self._until(check, timeout, getattr(match, "__doc__", None) or "a stanza")

    def pending(self, match):
        """Received stanzas match() accepts, not taken yet (no waiting)."""
        return [st for st in self.inbox if match(st)]

    # ---- connection ----

    def connect(self):
        """Starts connecting (TLS, SASL, bind) without waiting."""
        self.x.connect(self.x.test_address, use_ssl=self.direct_tls, force_starttls=not self.direct_tls)

    async def login(self, timeout=TIMEOUT, expect="session_start"):
        """Connects and waits for the outcome: "session_start", or with
        expect="failed" until authentication failed (failed_auth) and the
        client gave up.  Returns the outcome's event name; raises when it
        is not the expected one.  A client that asked for mechanisms by
        name must get a session without any SASL <failure/>; at slixmpp's
        defaults it may be refused a mechanism it cannot complete and go
        on to its next one on the same stream (whether such a refusal
        counts as a failed login is for the server log to show)."""
        self.connect()
        got = await self.wait_event("session_start", "failed_all_auth", "no_auth", "disconnected",
                                    "ssl_invalid_chain", timeout=timeout)
        if expect == "session_start":
            assert got == "session_start", f"{self.jid}: login ended with {got}, events {self.events}"
            if self.mechs is not None:
                assert not self.had("failed_auth"), f"{self.jid}: a mechanism failed first: {self.events}"
        else:
            assert got in ("failed_all_auth", "disconnected"), f"{self.jid}: login ended with {got}"
            assert self.had("failed_auth"), f"{self.jid}: no SASL failure seen: {self.events}"
        return got

    @property
    def full(self):
        """The full JID the server bound."""
        return str(self.x.boundjid.full)

    @property
    def bare(self):
        return str(self.x.boundjid.bare)

    async def close(self, timeout=5.0):
        """Closes the stream (if open) and waits until the connection is gone."""
        if self.had("disconnected") or self.x.transport is None:
            self.x.cancel_connection_attempt()
            return
        fut = self.x.disconnect(wait=timeout)
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout + 1)
        except asyncio.TimeoutError:
            self.x.abort()

    async def wait_disconnected(self, timeout=TIMEOUT):
        await self.wait_event("disconnected", timeout=timeout)

    # ---- sending ----

    def send_xml(self, text):
        """Sends raw XML text (a whole stanza, in jabber:client)."""
        self.x.send_raw(text)

    async def sync(self, timeout=TIMEOUT):
        """A ping round trip to the server: everything this client sent
        before has been processed by its owner worker when it returns."""
        r = await self.iq("get", f"<ping xmlns='{NS_PING}'/>", to=self.server.domain, timeout=timeout)
        assert r["type"] == "result", f"ping failed: {r}"

    async def send_presence(self, pto=None, ptype=None, priority=None, status=None, sync=True):
        """Sends presence; with sync, waits until the server processed it
        (on this client's owner worker; what it routes to another worker
        may still be on its way)."""
        p = self.x.Presence()
        if pto:
            p["to"] = pto
        if ptype:
            p["type"] = ptype
        if priority is not None:
            p["priority"] = priority
        if status is not None:
            p["status"] = status
        p.send()
        if sync:
            await self.sync()

    def send_message(self, to, body, mtype="chat"):
        """Sends a message; returns its id (errors carry it back)."""
        m = self.x.make_message(mto=to, mbody=body, mtype=mtype)
        m["id"] = self.x.new_id()
        m.send()
        return m["id"]

    async def iq(self, type_, payload, to=None, timeout=TIMEOUT):
        """Sends an iq with a payload (XML text or element) and returns the
        response stanza, result or error alike."""
        iq = self.x.Iq()
        iq["type"] = type_
        if to:
            iq["to"] = to
        if payload is not None:
            iq.append(ET.fromstring(payload) if isinstance(payload, str) else payload)
        try:
            return await iq.send(timeout=timeout)
        except IqError as e:
            return e.iq
        except IqTimeout:
            raise AssertionError(f"{self.jid}: no response to iq {iq} within {timeout} s")

    async def roster(self, ver=None):
        """A roster get: returns the result iq (asserting it is a result)."""
        attr = "" if ver is None else f" ver='{ver}'"
        r = await self.iq("get", f"<query xmlns='{NS_ROSTER}'{attr}/>")
        assert r["type"] == "result", f"roster get failed: {r}"
        return r


def roster_items(iq):
    """{contact: element} of the items of a roster result or push."""
    query = iq.xml.find(q(NS_ROSTER, "query"))
    if query is None:
        return {}
    return {item.get("jid"): item for item in query.findall(q(NS_ROSTER, "item"))}


def run(coro, timeout=60.0):
    """Runs one test body on a fresh event loop, bounded by `timeout`, and
    closes every Client created while it ran."""
    async def main():
        clients = []
        _clients.set(clients)
        try:
            return await asyncio.wait_for(coro, timeout)
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    return asyncio.run(main())


async def login(server, jid, **kw):
    """A Client, logged in (session started)."""
    c = Client(server, jid, **kw)
    await c.login()
    return c


async def online(server, jid, **kw):
    """A Client, logged in and available (initial presence processed)."""
    c = await login(server, jid, **kw)
    await c.send_presence()
    return c


async def befriend(a, b):
    """Makes a and b (logged in, both available) subscribe to each other
    (subscription 'both' on both sides) and waits until each has the
    other's presence, taking the handshake's stanzas from the inboxes."""
    await a.send_presence(pto=b.bare, ptype="subscribe", sync=False)
    await b.expect(presence(frm=a.bare, type_="subscribe"))
    await b.send_presence(pto=a.bare, ptype="subscribed", sync=False)
    await a.expect(presence(frm=b.bare, type_="subscribed"))
    await a.expect(presence(frm=b.full, type_="available"))
    await b.send_presence(pto=a.bare, ptype="subscribe", sync=False)
    await a.expect(presence(frm=b.bare, type_="subscribe"))
    await a.send_presence(pto=b.bare, ptype="subscribed", sync=False)
    await b.expect(presence(frm=a.bare, type_="subscribed"))
    await b.expect(presence(frm=a.full, type_="available"))
