// Drives the web admin page (web/admin/, served by parleyd under /admin/)
// in Debian's chromium through playwright-core, the way an operator would:
// labels, buttons and the keyboard, never the API directly.
//
//   node admin_page.mjs --url https://127.0.0.1:PORT/admin/ \
//        --jid admin@localhost --password PW --ca CA.pem \
//        --domain remote.example --out DIR [--user JID] [--group NAME]
//        [--timeout MS] [--link-wait MS] [--chromium PATH] [--cleanup]
//
// (--password may instead come from PARLEY_ADMIN_PASSWORD.)
//
// Steps: log in; create an account and find it with the search box; reset
// its password; create a group and add the account to it; import the CA
// (choosing the file, which the page reads with FileReader); list the
// sessions; open Federation and find --domain among the links, then open
// its report; with --cleanup remove the member, the group, the account and
// the CA again; log out. A full-page screenshot of each section goes to
// DIR (login.png users.png groups.png trust.png sessions.png
// federation.png; failure.png when a step fails).
//
// Also checked on the way: every form control has a label, nothing is
// requested from another origin, and the page raises no script error or
// Content-Security-Policy violation.
//
// Prints one JSON line on stdout: what the page showed, e.g.
//   {"ok":true,"user":{"jid":...,"listed":true,"password_reset":true},
//    "group":{"name":...,"members":[...]},"ca":{"listed":true,...},
//    "link":{"domain":...,"shown":true,"row":{...},"report":[...]},...}
// or {"ok":false,"step":...,"error":...} with what was seen until then.
// Exit codes: 0 ok, 1 a step failed, 2 usage.
//
// Every wait is bounded: playwright's default timeout is --timeout
// (15 s), the link may take --link-wait to appear, and the whole run is
// cut at 20 x --timeout.
import { chromium } from "playwright-core";
import { X509Certificate, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const EXIT = { ok: 0, fail: 1, usage: 2 };

function usage(msg) {
  process.stderr.write(
    `admin_page.mjs: ${msg}\n` +
      "usage: node admin_page.mjs --url URL --jid JID --password PW --ca CA.pem --domain D --out DIR\n" +
      "       [--user JID] [--user-password PW] [--group NAME] [--timeout MS] [--link-wait MS]\n" +
      "       [--chromium PATH] [--cleanup]\n"
  );
  process.exit(EXIT.usage);
}

let opt;
try {
  ({ values: opt } = parseArgs({
    options: {
      url: { type: "string" },
      jid: { type: "string" },
      password: { type: "string" },
      ca: { type: "string" },
      domain: { type: "string" },
      out: { type: "string" },
      user: { type: "string" },
      "user-password": { type: "string" },
      group: { type: "string" },
      timeout: { type: "string", default: "15000" },
      "link-wait": { type: "string" },
      chromium: { type: "string", default: process.env.CHROMIUM || "/usr/bin/chromium" },
      cleanup: { type: "boolean", default: false },
    },
    strict: true,
  }));
} catch (e) {
  usage(e.message);
}
opt.password ??= process.env.PARLEY_ADMIN_PASSWORD;
for (const k of ["url", "jid", "password", "ca", "domain", "out"]) if (!opt[k]) usage(`--${k} is required`);
const TIMEOUT = Number(opt.timeout);
const LINK_WAIT = Number(opt["link-wait"] ?? opt.timeout);
if (!(TIMEOUT > 0) || !(LINK_WAIT >= 0)) usage("--timeout and --link-wait are milliseconds");
let base;
try {
  base = new URL(opt.url);
} catch (e) {
  usage(`--url: ${e.message}`);
}
let caPem, caCert;
try {
  caPem = readFileSync(opt.ca, "utf8");
  caCert = new X509Certificate(caPem);
} catch (e) {
  usage(`--ca ${opt.ca}: ${e.message}`);
}

const tag = randomBytes(4).toString("hex");
const adminDomain = opt.jid.split("@").pop().split("/")[0];
const userJid = opt.user || `webtest-${tag}@${adminDomain}`;
const userPassword = opt["user-password"] || `pw-${randomBytes(9).toString("hex")}`;
const groupName = opt.group || `webtest-${tag}`;
const outDir = resolve(opt.out);
mkdirSync(outDir, { recursive: true });

const results = {
  ok: false,
  url: base.href,
  user: { jid: userJid, created: false, listed: false, password_reset: false },
  group: { name: groupName, created: false, members: [] },
  ca: { subject: caCert.subject.replace(/\n/g, ", "), imported: false, listed: false },
  link: { domain: opt.domain, shown: false },
  sessions: null,
  screenshots: [],
  keyboard: false,
  unlabelled: [],
  external_requests: [],
  page_errors: [],
  csp_violations: [],
  console_errors: [],
};
let step = "start";
let browser = null;
let page = null;

function emit() {
  process.stdout.write(JSON.stringify(results) + "\n");
}

async function finish(code, error) {
  if (error) {
    results.ok = false;
    results.step = step;
    results.error = String(error && error.message ? error.message : error).split("\n")[0];
    if (page) {
      try {
        results.page_status = await page.locator("#status").textContent({ timeout: 2000 });
        await page.screenshot({ path: join(outDir, "failure.png"), fullPage: true, timeout: 5000 });
        results.screenshots.push("failure.png");
      } catch {
        /* the page is gone */
      }
    }
    process.stderr.write(`admin_page.mjs: ${step}: ${results.error}\n`);
  }
  emit();
  if (browser) await browser.close().catch(() => {});
  process.exit(code);
}

// The whole run is bounded even if something hangs outside playwright.
const watchdog = setTimeout(() => {
  finish(EXIT.fail, new Error(`the run took more than ${(20 * TIMEOUT) / 1000} s`));
  setTimeout(() => process.exit(EXIT.fail), 5000).unref();
}, 20 * TIMEOUT);
watchdog.unref();

const esc = (s) => s.replace(/[\\"]/g, "\\$&");
const norm = (s) => String(s || "").replace(/[^0-9a-f]/gi, "").toLowerCase();

async function shot(name) {
  await page.screenshot({ path: join(outDir, name), fullPage: true });
  results.screenshots.push(name);
}

// Clears the live region, runs the action, then waits for its outcome: a
// message matching `want`, or the page's error (the API's sentence), which
// fails the step.
async function act(want, action) {
  await page.evaluate(() => {
    const s = document.getElementById("status");
    s.textContent = "";
    s.className = "status";
  });
  await action();
  const h = await page.waitForFunction(
    (src) => {
      const s = document.getElementById("status");
      const t = s.textContent || "";
      if (s.classList.contains("error") && t) return { error: t };
      return new RegExp(src).test(t) ? { text: t } : null;
    },
    want.source,
    { timeout: TIMEOUT }
  );
  const r = await h.jsonValue();
  if (r.error) throw new Error(`the page said: ${r.error}`);
  return r.text;
}

// Opens a section from the nav and waits for its data.
async function openSection(label, id, { keyboard = false } = {}) {
  const link = page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: label, exact: true });
  if (keyboard) {
    await link.focus();
    await page.keyboard.press("Enter");
  } else {
    await link.click();
  }
  await page.locator(`section#${id}:not([hidden]):not([aria-busy])`).waitFor();
  const current = await link.getAttribute("aria-current");
  if (current !== "page") throw new Error(`the ${label} link is not marked as the current section`);
  const status = await page.locator("#status.error").textContent({ timeout: 1 }).catch(() => null);
  if (status) throw new Error(`loading ${label}: the page said: ${status}`);
}

async function run() {
  step = "launch";
  browser = await chromium.launch({
    executablePath: opt.chromium,
    timeout: TIMEOUT * 2,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const context = await browser.newContext({
    // The admin listener's certificate comes from the test's own CA, which
    // chromium cannot be given as a file; verifying that certificate is
    // not what this test is about, so certificate errors are ignored.
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
    locale: "en-GB",
    timezoneId: "UTC",
  });
  context.setDefaultTimeout(TIMEOUT);
  context.setDefaultNavigationTimeout(TIMEOUT);
  page = await context.newPage();
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.origin !== base.origin && u.protocol !== "data:" && u.protocol !== "blob:") results.external_requests.push(r.url());
  });
  page.on("pageerror", (e) => results.page_errors.push(String(e.message || e)));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const t = m.text();
    if (/Content[- ]Security[- ]Policy/i.test(t)) results.csp_violations.push(t);
    else results.console_errors.push(t);
  });

  step = "open the page";
  const resp = await page.goto(base.href, { waitUntil: "load" });
  if (!resp || !resp.ok()) throw new Error(`GET ${base.href}: ${resp ? resp.status() : "no answer"}`);
  const csp = resp.headers()["content-security-policy"] || null;
  results.csp_header = csp;

  step = "labels";
  results.unlabelled = await page.evaluate(() =>
    Array.from(document.querySelectorAll("input, select, textarea"))
      .filter((e) => e.type !== "hidden" && e.labels.length === 0 && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby"))
      .map((e) => e.id || e.name || e.outerHTML.slice(0, 60))
  );
  if (results.unlabelled.length) throw new Error(`form controls without a label: ${results.unlabelled.join(", ")}`);

  step = "log in";
  const login = page.locator("#login-form");
  await login.getByLabel("JID", { exact: true }).fill(opt.jid);
  await login.getByLabel("Password", { exact: true }).fill(opt.password);
  await shot("login.png");
  // Submitted from the keyboard: Enter in the password field.
  await act(/^Logged in as /, () => login.getByLabel("Password", { exact: true }).press("Enter"));
  await page.locator("#app:not([hidden])").waitFor();
  results.logged_in_as = await page.locator("#who-jid").textContent();

  step = "users";
  await openSection("Users", "users");
  const create = page.locator("#user-create");
  await create.getByLabel("JID", { exact: true }).fill(userJid);
  await create.getByLabel("Password", { exact: true }).fill(userPassword);
  results.user.message = await act(/^Created /, () => create.getByRole("button", { name: "Create account" }).click());
  results.user.created = true;
  const search = page.locator("#user-search");
  await search.getByLabel("Search").fill(userJid);
  await search.getByRole("button", { name: "Search" }).click();
  const userRow = page.locator(`#user-table tbody tr[data-jid="${esc(userJid)}"]`);
  await userRow.waitFor();
  results.user.listed = (await userRow.locator("th").textContent()) === userJid;
  results.user.range = await page.locator("#user-range").textContent();
  results.user.row = await userRow.locator("th, td:not(.actions)").allTextContents();
  if (!results.user.listed) throw new Error(`${userJid} is not listed`);
  // The reset button opens the dialog; its field is labelled.
  await userRow.getByRole("button", { name: `Reset password of ${userJid}` }).click();
  const dialog = page.getByRole("dialog", { name: "Reset password" });
  await dialog.getByLabel("New password", { exact: true }).fill(`${userPassword}-2`);
  await act(/^New password set for /, () => dialog.getByRole("button", { name: "Set password" }).click());
  results.user.password_reset = true;
  await shot("users.png");

  step = "groups";
  // From the keyboard this time: focus the nav link, press Enter.
  await openSection("Groups", "groups", { keyboard: true });
  results.keyboard = true;
  const gform = page.locator("#group-create");
  await gform.getByLabel("Name", { exact: true }).fill(groupName);
  await gform.getByLabel("Label", { exact: true }).fill(`Web test ${tag}`);
  await gform.getByLabel(/^Shared/).check();
  await act(/^Created the group /, () => gform.getByRole("button", { name: "Create group" }).click());
  results.group.created = true;
  const groupRow = page.locator(`#group-table tbody tr[data-group="${esc(groupName)}"]`);
  await groupRow.waitFor();
  await groupRow.getByRole("button", { name: `Members of ${groupName}` }).click();
  const detail = page.locator("#group-detail:not([hidden])");
  await detail.locator("#group-detail-title", { hasText: `Members of ${groupName}` }).waitFor();
  await detail.getByLabel("Add members").fill(userJid);
  await act(/^Added /, () => detail.getByRole("button", { name: "Add members" }).click());
  await detail.locator(`#group-members li[data-jid="${esc(userJid)}"]`).waitFor();
  results.group.members = await detail.locator("#group-members .jid").allTextContents();
  results.group.row = await groupRow.locator("th, td:not(.actions)").allTextContents();
  if (!results.group.members.includes(userJid)) throw new Error(`${userJid} is not shown among the members`);
  await shot("groups.png");

  step = "trust store";
  await openSection("Trust store", "trust");
  const tform = page.locator("#trust-import");
  await tform.getByLabel("Certificate file (.pem)").setInputFiles(resolve(opt.ca));
  // The page reads the file (FileReader) into the PEM box.
  await page.waitForFunction(() => /BEGIN CERTIFICATE/.test(document.getElementById("trust-pem").value), null, {
    timeout: TIMEOUT,
  });
  results.ca.message = await act(/^Imported the CA/, () => tform.getByRole("button", { name: "Import CA" }).click());
  results.ca.imported = true;
  const want = {
    fps: [norm(caCert.fingerprint256), norm(caCert.fingerprint), norm(caCert.fingerprint512)],
    cn: (caCert.subject.match(/^CN=(.*)$/m) || [])[1] || null,
  };
  const caHandle = await page.waitForFunction(
    (w) => {
      const normf = (s) => String(s || "").replace(/[^0-9a-f]/gi, "").toLowerCase();
      for (const tr of document.querySelectorAll("#trust-table tbody tr")) {
        const cells = Array.from(tr.querySelectorAll("th, td:not(.actions)")).map((c) => c.textContent);
        const fp = normf(tr.querySelector(".fingerprint")?.textContent);
        const subject = tr.querySelector(".subject")?.textContent || "";
        if ((fp && w.fps.includes(fp)) || (w.cn && subject.includes(w.cn)))
          return { id: tr.dataset.id, cells, by: fp && w.fps.includes(fp) ? "fingerprint" : "subject" };
      }
      return null;
    },
    want,
    { timeout: TIMEOUT }
  );
  const ca = await caHandle.jsonValue();
  Object.assign(results.ca, { listed: true, id: ca.id, row: ca.cells, matched_by: ca.by });
  await shot("trust.png");

  step = "sessions";
  await openSection("Sessions", "sessions");
  results.sessions = {
    heading: await page.locator("#sessions-count").textContent(),
    jids: await page.locator("#session-table tbody th").allTextContents(),
  };
  await shot("sessions.png");

  step = "federation";
  await openSection("Federation", "federation");
  const findLink = () =>
    page.evaluate((d) => {
      for (const tr of document.querySelectorAll("#link-table tbody tr")) {
        if ((tr.dataset.remote || "").toLowerCase() !== d.toLowerCase()) continue;
        const heads = Array.from(document.querySelectorAll("#link-table thead th")).map((th) => th.textContent.trim());
        const row = { remote: tr.dataset.remote };
        Array.from(tr.children).forEach((c, i) => {
          if (heads[i] && heads[i] !== "Actions" && heads[i] !== "Remote")
            row[heads[i].toLowerCase()] = c.innerText.trim().replace(/\s*\n\s*/g, "; ");
        });
        return row;
      }
      return null;
    }, opt.domain);
  // The link may still be coming up: refresh until it is listed, within
  // --link-wait.
  const until = Date.now() + LINK_WAIT;
  let row = await findLink();
  while (!row && Date.now() < until) {
    await page.waitForTimeout(Math.min(500, Math.max(0, until - Date.now())));
    const refresh = page.locator("#federation").getByRole("button", { name: "Refresh" });
    await refresh.click();
    await page.locator("#link-refresh:not([aria-busy])").waitFor();
    row = await findLink();
  }
  results.link.count_heading = await page.locator("#links-count").textContent();
  if (!row) throw new Error(`no link with ${opt.domain} is listed (${results.link.count_heading})`);
  results.link.shown = true;
  results.link.row = row;
  await page
    .locator(`#link-table tbody tr[data-remote="${esc(row.remote)}"]`)
    .first()
    .getByRole("button", { name: `Report for ${row.remote}` })
    .click();
  await page.locator("#report:not([hidden])").getByRole("heading", { name: `Report for ${row.remote}` }).waitFor();
  results.link.report = await page.locator("#report-body > .attempt").evaluateAll((boxes) =>
    boxes.map((b) => ({
      direction: b.dataset.direction,
      code: b.querySelector("code.code")?.textContent || null,
      result: b.querySelector(".result")?.textContent || null,
      fix: (b.querySelector(".fix")?.textContent || "").replace(/^Fix:\s*/, "") || null,
    }))
  );
  results.link.report_empty = await page.locator("#report-body > p.empty").textContent({ timeout: 1 }).catch(() => null);
  await shot("federation.png");

  if (opt.cleanup) {
    step = "cleanup: group";
    await openSection("Groups", "groups");
    await groupRow.getByRole("button", { name: `Members of ${groupName}` }).click();
    await act(/^Removed /, () => page.getByRole("button", { name: `Remove ${userJid} from ${groupName}` }).click());
    await groupRow.getByRole("button", { name: `Delete group ${groupName}` }).click();
    await act(/^Deleted the group /, () =>
      page.getByRole("dialog", { name: "Delete group" }).getByRole("button", { name: "Delete group" }).click()
    );
    step = "cleanup: user";
    await openSection("Users", "users");
    await page.locator("#user-search").getByLabel("Search").fill(userJid);
    await page.locator("#user-search").getByRole("button", { name: "Search" }).click();
    await userRow.getByRole("button", { name: `Delete ${userJid}` }).click();
    await act(/^Deleted /, () =>
      page.getByRole("dialog", { name: "Delete account" }).getByRole("button", { name: "Delete account" }).click()
    );
    await userRow.waitFor({ state: "detached" });
    step = "cleanup: CA";
    await openSection("Trust store", "trust");
    await page.locator(`#trust-table tbody tr[data-id="${esc(String(ca.id))}"]`).getByRole("button", { name: /^Remove CA / }).click();
    await act(/^Removed the CA /, () =>
      page.getByRole("dialog", { name: "Remove CA" }).getByRole("button", { name: "Remove CA" }).click()
    );
    results.cleanup = true;
  }

  step = "log out";
  await act(/^Logged out/, () => page.getByRole("button", { name: "Log out" }).click());
  await page.locator("#login-view:not([hidden])").waitFor();
  results.logged_out = true;

  step = "checks";
  if (results.external_requests.length) throw new Error(`requests to another origin: ${results.external_requests.join(" ")}`);
  if (results.page_errors.length) throw new Error(`script errors: ${results.page_errors.join(" | ")}`);
  if (results.csp_violations.length) throw new Error(`CSP violations: ${results.csp_violations.join(" | ")}`);
  results.ok = true;
}

run().then(
  () => finish(EXIT.ok),
  (e) => finish(EXIT.fail, e)
);
