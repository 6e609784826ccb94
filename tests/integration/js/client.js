// xmpp.js client driven by tests/integration/test_xmppjs.py.
//
// Logs in over STARTTLS (xmpp://HOST:PORT) the way @xmpp/client chooses,
// optionally fetches the roster, sends one message and waits for messages,
// and prints one event per line on stdout (the same format as
// strophe/strophe_client.c):
//
//   connected jid=<bound full JID>
//   ready                                  (initial presence sent and processed)
//   roster count=<n>
//   roster-item jid=<JID> subscription=<s> name=<name>
//   sent to=<JID> id=<id>
//   message from=<JID> type=<type> body=<body>
//   auth-failed condition=<SASL condition>
//   stream-error condition=<name> text=<text>
//   error <message>
//   timeout
//
// Exit codes: 0 ok, 1 usage, 2 connection or stream failure,
// 3 authentication failed, 4 timeout.
//
// TLS trust: the test passes the instance's certificate in
// NODE_EXTRA_CA_CERTS, so the certificate is verified for real.
import { client, xml } from "@xmpp/client";
import { parseArgs } from "node:util";

const EXIT = { ok: 0, usage: 1, conn: 2, auth: 3, timeout: 4 };

const { values: opt } = parseArgs({
  options: {
    service: { type: "string" },
    domain: { type: "string", default: "localhost" },
    username: { type: "string" },
    password: { type: "string" },
    resource: { type: "string" },
    send: { type: "string" },
    body: { type: "string", default: "hello" },
    "wait-messages": { type: "string", default: "0" },
    echo: { type: "boolean", default: false },
    roster: { type: "boolean", default: false },
    timeout: { type: "string", default: "20" },
    verbose: { type: "boolean", default: false },
  },
});

if (!opt.service || !opt.username || opt.password === undefined) {
  process.stderr.write(
    "usage: node client.js --service xmpp://IP:PORT --username U --password P\n" +
      "  [--domain D] [--resource R] [--roster] [--send JID [--body T]]\n" +
      "  [--wait-messages N [--echo]] [--timeout S] [--verbose]\n",
  );
  process.exit(EXIT.usage);
}

const out = (line) => process.stdout.write(line.replace(/[\r\n]/g, " ") + "\n");

const xmpp = client({
  service: opt.service,
  domain: opt.domain,
  username: opt.username,
  password: opt.password,
  resource: opt.resource,
});
// One attempt only: a test wants to see the failure, not a retry.
xmpp.reconnect.stop();

let finished = false;
let online = false;
let received = 0;
const waitMessages = Number(opt["wait-messages"]);

async function finish(code) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  if (online) {
    try {
      await Promise.race([xmpp.stop(), new Promise((r) => setTimeout(r, 3000))]);
    } catch {
      // The connection is going away anyway.
    }
  }
  process.exit(code);
}

const timer = setTimeout(() => {
  out("timeout");
  finish(EXIT.timeout);
}, Number(opt.timeout) * 1000);

if (opt.verbose) {
  xmpp.on("input", (s) => process.stderr.write(`IN  ${s}\n`));
  xmpp.on("output", (s) => process.stderr.write(`OUT ${s}\n`));
}

xmpp.on("element", (el) => {
  if (el.is("error", "http://etherx.jabber.org/streams")) {
    const cond = el.children.find((c) => typeof c !== "string" && c.name !== "text");
    out(`stream-error condition=${cond ? cond.name : "?"} text=${el.getChildText("text") ?? ""}`);
  }
});

xmpp.on("error", (err) => {
  if (finished) return;
  if (err.name === "SASLError") {
    out(`auth-failed condition=${err.condition}`);
    finish(EXIT.auth);
    return;
  }
  out(`error ${err.message}`);
  finish(EXIT.conn);
});

xmpp.on("offline", () => {
  if (!finished) {
    out("disconnected");
    finish(EXIT.conn);
  }
});

xmpp.on("stanza", async (stanza) => {
  if (!stanza.is("message")) return;
  const body = stanza.getChildText("body");
  if (body === null) return;
  const from = stanza.attrs.from ?? "";
  out(`message from=${from} type=${stanza.attrs.type ?? "normal"} body=${body}`);
  if (opt.echo && from) {
    const id = `echo${received}`;
    await xmpp.send(xml("message", { to: from, type: "chat", id }, xml("body", {}, `echo: ${body}`)));
    out(`sent to=${from} id=${id}`);
  }
  received += 1;
  if (received >= waitMessages) finish(EXIT.ok);
});

xmpp.on("online", async (address) => {
  online = true;
  out(`connected jid=${address.toString()}`);
  try {
    if (opt.roster) {
      const res = await xmpp.iqCaller.get(xml("query", "jabber:iq:roster"));
      const items = res.getChildren("item");
      out(`roster count=${items.length}`);
      for (const it of items)
        out(`roster-item jid=${it.attrs.jid} subscription=${it.attrs.subscription ?? "none"} name=${it.attrs.name ?? ""}`);
    }
    await xmpp.send(xml("presence"));
    // The server handles a stream's stanzas in order: once the ping is
    // answered (result or error alike), the presence is known to it.
    await xmpp.iqCaller.get(xml("ping", "urn:xmpp:ping")).catch((err) => {
      if (err.name !== "StanzaError") throw err;
    });
    out("ready");
    if (opt.send) {
      const id = "m1";
      await xmpp.send(xml("message", { to: opt.send, type: "chat", id }, xml("body", {}, opt.body)));
      out(`sent to=${opt.send} id=${id}`);
    }
  } catch (err) {
    out(`error ${err.message}`);
    finish(EXIT.conn);
    return;
  }
  if (waitMessages === 0) finish(EXIT.ok);
});

xmpp.start().catch(() => {
  // Reported through the "error" event above.
});
