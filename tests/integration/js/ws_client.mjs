// js/client.js over WebSocket (driven by tests/integration/test_websocket.py):
// the same xmpp.js client, given a wss:// service.  @xmpp/websocket 0.14
// uses the platform's WebSocket, which Node 20 has only behind a flag, so
// the `ws` package stands in for it; it verifies the server's certificate
// like any Node TLS client (NODE_EXTRA_CA_CERTS names the test instance's).
import WebSocket from "ws";

globalThis.WebSocket ??= WebSocket;
await import("./client.js");
