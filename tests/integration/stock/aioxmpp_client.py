"""python3-aioxmpp (Debian 12: 0.13.3) at its default settings.

Set here, as any user must: the JID and password
(aioxmpp.make_security_layer(password), nothing else passed to it), and the
server address (override_peer: the test instance's loopback port with the
connector for STARTTLS or for direct TLS, instead of SRV records).  The
client is aioxmpp.Client with an available presence set through its
PresenceServer service, as aioxmpp's documentation does it.  Trust in
the instance's certificate comes from SSL_CERT_FILE, which the test sets:
aioxmpp's default PKIX verifier loads OpenSSL's default verify paths, and
OpenSSL reads that variable; host name checking stays on.  --cafile is
accepted for a uniform command line and must name the same file.
Everything else is aioxmpp's default: its SASL mechanisms in its order (via
aiosasl), default services, reconnecting with back-off after a failure.
Line protocol: driver.py.
"""
import asyncio
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aiosasl  # noqa: E402
import aioxmpp  # noqa: E402
import aioxmpp.connector  # noqa: E402
import aioxmpp.dispatcher  # noqa: E402
import aioxmpp.errors  # noqa: E402
import aioxmpp.ping  # noqa: E402

from driver import EXIT_AUTH, EXIT_CONN, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE, out, parse_args  # noqa: E402


async def main(a):
    if os.environ.get("SSL_CERT_FILE") != a.cafile:
        out("error SSL_CERT_FILE must name --cafile (aioxmpp trusts OpenSSL's default verify paths)")
        return EXIT_USAGE
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    received = 0

    jid = aioxmpp.JID.fromstr(a.jid)
    connector = (aioxmpp.connector.XMPPOverTLSConnector() if a.direct_tls
                 else aioxmpp.connector.STARTTLSConnector())
    client = aioxmpp.Client(jid, aioxmpp.make_security_layer(a.password),
                            override_peer=[(a.host, a.port, connector)])

    def on_message(msg):
        nonlocal received
        body = msg.body.any() if msg.body else None
        if body is None:
            return
        out(f"message from={msg.from_} type={msg.type_.value} body={body}")
        received += 1
        if a.wait_messages and received >= a.wait_messages and not done.done():
            done.set_result(EXIT_OK)

    client.summon(aioxmpp.dispatcher.SimpleMessageDispatcher).register_callback(None, None, on_message)
    # Available presence, the way aioxmpp's documentation sets it (the
    # PresenceServer service sends it once the stream is up).
    client.summon(aioxmpp.PresenceServer).set_presence(aioxmpp.PresenceState(True))

    async def session():
        async with client.connected() as stream:
            out(f"connected jid={client.local_jid}")
            try:
                # Once the ping is answered, the server has the presence
                # sent before it.
                await aioxmpp.ping.ping(client, jid.replace(localpart=None, resource=None))
            except aioxmpp.errors.XMPPError:
                pass  # an error answer proves the order as well
            out("ready")
            if a.send:
                m = aioxmpp.Message(to=aioxmpp.JID.fromstr(a.send), type_=aioxmpp.MessageType.CHAT)
                m.id_ = "m1"
                m.body[None] = a.body
                await stream.send(m)
                out(f"sent to={a.send} id=m1")
            if a.wait_messages == 0:
                return EXIT_OK
            return await done

    try:
        # Leaving connected() closes the stream: bounded by the timeout too.
        return await asyncio.wait_for(session(), a.timeout)
    except asyncio.TimeoutError:
        out("timeout")
        return EXIT_TIMEOUT
    except aiosasl.AuthenticationFailure as e:
        out(f"auth-failed condition={e.opaque_error} text={e.text}")
        return EXIT_AUTH
    except aioxmpp.errors.SASLUnavailable as e:
        out(f"auth-failed condition=sasl-unavailable text={e}")
        return EXIT_AUTH
    except Exception as e:
        out(f"error {type(e).__name__}: {e}")
        return EXIT_CONN
    finally:
        if client.running:
            client.stop()


if __name__ == "__main__":
    args = parse_args(__doc__)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(main(args)))
