"""python3-nbxmpp (Debian 12: 4.2.2, Gajim's XMPP library) at its default
settings.

Set here, as any user must: the account (domain, username, password), the
server address (set_custom_host: the test instance's loopback port, STARTTLS
or direct TLS, as Gajim's "custom host" setting does instead of SRV
records), and trust in the instance's certificate: set_accepted_certificates
with that certificate, which is what Gajim stores when its user accepts a
certificate.  nbxmpp lifts only the "unknown CA" error for an accepted
certificate; every other check (host name, validity) stays.  Everything else
is nbxmpp's default: its SASL mechanisms in its order, stream management if
offered, no TLS error ignored.  Line protocol: driver.py.
"""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gi  # noqa: E402

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

from nbxmpp.client import Client  # noqa: E402
from nbxmpp.const import ConnectionProtocol, ConnectionType  # noqa: E402
from nbxmpp.protocol import JID, Iq, Message, Presence  # noqa: E402
from nbxmpp.structs import StanzaHandler  # noqa: E402

from driver import EXIT_AUTH, EXIT_CONN, EXIT_OK, EXIT_TIMEOUT, out, parse_args  # noqa: E402


def main(a):
    loop = GLib.MainLoop()
    state = {"code": None, "received": 0}
    jid = JID.from_string(a.jid)

    client = Client(log_context="stock")
    client.set_domain(jid.domain)
    client.set_username(jid.localpart)
    client.set_password(a.password)
    client.set_custom_host(f"{a.host}:{a.port}", ConnectionProtocol.TCP,
                           ConnectionType.DIRECT_TLS if a.direct_tls else ConnectionType.START_TLS)
    client.set_accepted_certificates([Gio.TlsCertificate.new_from_file(a.cafile)])

    def finish(code):
        if state["code"] is None:
            state["code"] = code
            try:
                client.disconnect()
            except Exception:
                pass
            # Let the close go out, then stop (bounded).
            GLib.timeout_add(300, loop.quit)

    def on_ready(_client, _stanza, **_kw):
        out("ready")
        if a.send:
            m = Message(to=a.send, body=a.body, typ="chat")
            m.setID("m1")
            client.send_stanza(m)
            out(f"sent to={a.send} id=m1")
        if a.wait_messages == 0:
            finish(EXIT_OK)

    def on_connected(_client, _signal):
        out(f"connected jid={client.get_bound_jid()}")
        client.send_stanza(Presence())
        # Once the ping is answered, the server has the presence.
        ping = Iq(typ="get", to=jid.domain)
        ping.addChild("ping", namespace="urn:xmpp:ping")
        client.send_stanza(ping, callback=on_ready, timeout=10)

    def on_message(_client, stanza, _properties):
        body = stanza.getBody()
        if not body:
            return
        out(f"message from={stanza.getFrom()} type={stanza.getType() or 'normal'} body={body}")
        state["received"] += 1
        if a.wait_messages and state["received"] >= a.wait_messages:
            finish(EXIT_OK)

    def on_failed(_client, signal):
        domain, error, text = client.get_error()
        if state["code"] is not None:
            return
        out(f"error {signal}: {domain} {error} {text or ''}")
        cert, errors = client.peer_certificate
        if errors:
            out(f"error certificate: {sorted(str(e) for e in errors)}")
        auth = domain is not None and "SASL" in str(domain)
        if auth:
            out(f"auth-failed condition={error}")
        state["code"] = EXIT_AUTH if auth else EXIT_CONN
        loop.quit()

    client.subscribe("connected", on_connected)
    client.subscribe("connection-failed", on_failed)
    client.subscribe("disconnected", on_failed)
    client.register_handler(StanzaHandler(name="message", callback=on_message))

    def on_timeout():
        if state["code"] is None:
            out("timeout")
            state["code"] = EXIT_TIMEOUT
            loop.quit()
        return False

    GLib.timeout_add(int(a.timeout * 1000), on_timeout)
    client.connect()
    loop.run()
    if state["code"] == EXIT_TIMEOUT:
        try:
            client.disconnect(immediate=True)
        except Exception:
            pass
    return state["code"]


if __name__ == "__main__":
    args = parse_args(__doc__)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main(args))
