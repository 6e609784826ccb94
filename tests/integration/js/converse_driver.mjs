// Converse.js in headless Chromium, driven by tests/integration/test_websocket.py
// the way a person uses it: open the page, show the chat panel, type the
// address and password into Converse's login form, open a chat, type a
// message, and read the answer in the conversation.  Screenshots of each
// step go to --shots.
//
// Lines on stdout (as js/client.js prints them):
//   connected jid=<bare JID>
//   sent to=<JID> body=<text>
//   message from=<JID> body=<text>
//   shot <path>
//   error <message>
//   timeout
// Exit codes: 0 ok, 1 usage, 2 failure, 4 timeout.
//
// TLS: the page (https, served by the test) and the WebSocket (wss, the
// server under test) both use the test instance's own certificate.
// Chromium trusts no certificate of a test, so --spki names that one key
// and Chromium accepts certificates with that key only
// (--ignore-certificate-errors-spki-list): anything else still fails.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    jid: { type: "string" },
    password: { type: "string" },
    to: { type: "string" },
    body: { type: "string", default: "hello from Converse.js" },
    expect: { type: "string" },
    shots: { type: "string" },
    spki: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    timeout: { type: "string", default: "60" },
  },
});

if (!opt.url || !opt.jid || !opt.password || !opt.to || !opt.expect || !opt.shots || !opt.spki) {
  process.stderr.write(
    "usage: node converse_driver.mjs --url https://.../converse/index.html?ws=wss://... --jid J --password P\n" +
      "  --to JID --expect TEXT --shots DIR --spki BASE64 [--body TEXT] [--chromium PATH] [--timeout S]\n",
  );
  process.exit(1);
}

const out = (line) => process.stdout.write(line.replace(/[\r\n]/g, " ") + "\n");
const ms = Number(opt.timeout) * 1000;
mkdirSync(opt.shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: opt.chromium,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=LocalNetworkAccessChecks,LocalNetworkAccessChecksWebSockets," +
      "BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessChecks",
    // The test instance's self-signed certificate, by its public key only
    // (see the top of this file): never a blanket --ignore-certificate-errors.
    `--ignore-certificate-errors-spki-list=${opt.spki}`,
  ],
});

let code = 2;
let page = null;
const timer = setTimeout(async () => {
  out("timeout");
  await browser.close().catch(() => {});
  process.exit(4);
}, ms);

let step = 0;
async function shot(page, name) {
  step += 1;
  const path = join(opt.shots, `${String(step).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  out(`shot ${path}`);
}

try {
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("console", (m) => process.stderr.write(`console.${m.type()} ${m.text()}\n`));
  page.on("pageerror", (e) => process.stderr.write(`pageerror ${e.message}\n`));
  await page.goto(opt.url, { waitUntil: "load", timeout: ms });

  // Overlayed view (Converse's default): the panel opens with its toggle.
  const jidInput = page.locator("#converse-login-jid");
  const toggle = page.locator(".toggle-controlbox");
  await Promise.race([
    jidInput.waitFor({ state: "visible", timeout: ms }),
    toggle.first().waitFor({ state: "visible", timeout: ms }),
  ]);
  if (!(await jidInput.isVisible())) await toggle.first().click();
  await jidInput.waitFor({ state: "visible", timeout: ms });
  await shot(page, "login-form");

  await jidInput.fill(opt.jid);
  await page.locator("#converse-login-password").fill(opt.password);
  await page.locator("#converse-login input[type=submit], #converse-login button[type=submit]").first().click();
  // Logged in: the login form gives way to the user's profile.
  await page
    .locator("converse-user-profile .username", { hasText: opt.jid })
    .first()
    .waitFor({ state: "attached", timeout: ms });
  await jidInput.waitFor({ state: "detached", timeout: ms });
  out(`connected jid=${opt.jid}`);

  // A chat with the other party, through Converse's own route.
  await page.evaluate((jid) => {
    window.location.hash = `converse/chat?jid=${jid}`;
  }, opt.to);
  const textarea = page.locator(`converse-chat[jid="${opt.to}"] .chat-textarea`);
  await textarea.waitFor({ state: "visible", timeout: ms });
  await shot(page, "chat-open");
  await textarea.fill(opt.body);
  await textarea.press("Enter");
  out(`sent to=${opt.to} body=${opt.body}`);

  const reply = page.locator(`converse-chat[jid="${opt.to}"] .chat-msg__text`, { hasText: opt.expect });
  await reply.first().waitFor({ state: "visible", timeout: ms });
  out(`message from=${opt.to} body=${(await reply.first().innerText()).trim()}`);
  await shot(page, "conversation");
  code = 0;
} catch (err) {
  out(`error ${err.message.split("\n")[0]}`);
  if (page) await shot(page, "failure").catch(() => {});
} finally {
  clearTimeout(timer);
  await browser.close().catch(() => {});
}
process.exit(code);
