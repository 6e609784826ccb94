"""What the stock-client drivers in this folder share: their command line
and the lines they print.

Each driver runs one Debian 12 client library at its default settings.  The
only things a driver sets are the ones any user of that client must: the
JID, the password, the server's address and port (direct TLS or STARTTLS),
and trust in the test instance's certificate (the library's own CA-file or
certificate-trust option).  No SASL mechanism is chosen, no feature is
turned off, certificate verification stays on.

They print one event per line on stdout, in the format of
../strophe/strophe_client.c and ../js/client.js, so clients.ClientProc reads
them all the same way:

    connected jid=<bound full JID>
    ready                                (initial presence sent and answered)
    sent to=<JID> id=<id>
    message from=<JID> type=<type> body=<body>
    auth-failed condition=<SASL condition or library text>
    error <text>
    disconnected
    timeout

Exit codes: 0 ok, 1 usage, 2 connection or stream failure, 3 authentication
failed, 4 timeout (logged in, but a waited-for message did not come; or no
outcome at all within --timeout).
"""
import argparse
import sys

EXIT_OK, EXIT_USAGE, EXIT_CONN, EXIT_AUTH, EXIT_TIMEOUT = 0, 1, 2, 3, 4


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--jid", required=True, help="bare JID of the account")
    p.add_argument("--password", required=True)
    p.add_argument("--host", default="127.0.0.1", help="address to connect to (never DNS)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--direct-tls", action="store_true", help="TLS at once (XEP-0368) instead of STARTTLS")
    p.add_argument("--cafile", required=True, help="the certificate (or CA) to trust")
    p.add_argument("--send", metavar="JID", help="send one chat message to JID once ready")
    p.add_argument("--body", default="hello")
    p.add_argument("--wait-messages", type=int, default=0, help="exit after receiving N messages")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds for everything")
    p.add_argument("--verbose", action="store_true", help="library debug log on stderr")
    a = p.parse_args()
    return a


def out(line):
    """One event line on stdout, kept on one line."""
    sys.stdout.write(line.replace("\r", " ").replace("\n", " ") + "\n")
    sys.stdout.flush()
