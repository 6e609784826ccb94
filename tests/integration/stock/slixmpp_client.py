"""python3-slixmpp (Debian 12: 1.8.3) at its default settings.

Set here, as any user must: the JID and password, the server address (the
test instance's loopback port instead of DNS for the JID's domain), direct
TLS or STARTTLS (use_ssl, the way slixmpp picks port 5223-style TLS), and
the instance's certificate as slixmpp's documented `ca_certs` trust anchor.
Everything else is slixmpp's default: every SASL mechanism it knows, in its
own order of preference; STARTTLS forced; certificate and host name checked;
all default plugins.  Line protocol: driver.py.
"""
import asyncio
import logging
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import slixmpp  # noqa: E402
from slixmpp.exceptions import IqError  # noqa: E402

from driver import EXIT_AUTH, EXIT_CONN, EXIT_OK, EXIT_TIMEOUT, out, parse_args  # noqa: E402


class Stock(slixmpp.ClientXMPP):
    """A ClientXMPP that connects to the address it is given instead of
    resolving the JID's domain: that is the server address, nothing else."""

    def __init__(self, jid, password, address):
        super().__init__(jid, password)
        self.test_address = address

    async def get_dns_records(self, domain, port=None):
        return [(domain, self.test_address[0], self.test_address[1])]


async def main(a):
    loop = asyncio.get_running_loop()
    result = loop.create_future()
    received = 0

    def finish(code):
        if not result.done():
            result.set_result(code)

    x = Stock(a.jid, a.password, (a.host, a.port))
    x.ca_certs = Path(a.cafile)

    async def on_session_start(_):
        out(f"connected jid={x.boundjid.full}")
        x.send_presence()
        try:
            # Stanzas are handled in order: once the ping is answered, the
            # server has the presence.
            iq = x.make_iq_get(ito=x.boundjid.domain)
            iq.append(ET.Element("{urn:xmpp:ping}ping"))
            await iq.send(timeout=10)
        except IqError:
            pass  # an error answer proves the order as well
        except Exception as e:
            out(f"error ping: {e!r}")
            finish(EXIT_CONN)
            return
        out("ready")
        if a.send:
            m = x.make_message(mto=a.send, mbody=a.body, mtype="chat")
            m["id"] = "m1"
            m.send()
            out(f"sent to={a.send} id=m1")
        if a.wait_messages == 0:
            finish(EXIT_OK)

    def on_message(msg):
        nonlocal received
        if not msg["body"]:
            return
        out(f"message from={msg['from']} type={msg['type']} body={msg['body']}")
        received += 1
        if a.wait_messages and received >= a.wait_messages:
            finish(EXIT_OK)

    def on_failed_auth(failure):
        cond = failure["condition"] if failure is not None else "?"
        mech = x["feature_mechanisms"].mech.name if x["feature_mechanisms"].mech else "?"
        out(f"auth-failed mechanism={mech} condition={cond}")

    x.add_event_handler("session_start", on_session_start)
    x.add_event_handler("message", on_message)
    x.add_event_handler("failed_auth", on_failed_auth)
    x.add_event_handler("failed_all_auth", lambda _: finish(EXIT_AUTH))
    x.add_event_handler("no_auth", lambda _: finish(EXIT_AUTH))
    x.add_event_handler("ssl_invalid_chain", lambda e: (out(f"error certificate: {e}"), finish(EXIT_CONN)))
    x.add_event_handler("stream_error", lambda e: out(f"error stream: {e['condition']} {e['text']}"))
    x.add_event_handler("connection_failed", lambda e: (out(f"error connection: {e}"), finish(EXIT_CONN)))
    x.add_event_handler("disconnected", lambda _: result.done() or (out("disconnected"), finish(EXIT_CONN)))

    x.connect((a.host, a.port), use_ssl=a.direct_tls)
    try:
        code = await asyncio.wait_for(result, a.timeout)
    except asyncio.TimeoutError:
        out("timeout")
        code = EXIT_TIMEOUT
    if x.transport is not None:
        try:
            await asyncio.wait_for(x.disconnect(wait=2.0), 3.0)
        except (asyncio.TimeoutError, Exception):
            x.abort()
    else:
        x.cancel_connection_attempt()
    return code


if __name__ == "__main__":
    args = parse_args(__doc__)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(main(args)))
