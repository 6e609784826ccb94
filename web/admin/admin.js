// Parley web admin: a thin page over the admin HTTP API (docs/admin-api.md).
//
// Rules this file keeps, because the page is served with
// Content-Security-Policy: default-src 'self':
//  - no inline script or style, no eval, no external request: only fetch()
//    to /api/ on the page's own origin;
//  - everything that comes from the server or the user reaches the DOM as
//    text (textContent, text nodes, attribute values through setAttribute),
//    never as HTML: there is no innerHTML in this file.
//
// Login: POST /api/login answers {"jid","csrf"} and sets the HttpOnly
// cookie; every POST, PUT and DELETE then carries X-CSRF-Token. The token
// is kept in sessionStorage (this tab only) so that a reload does not log
// the admin out; it is useless without the cookie, which script cannot read.
"use strict";

(() => {
  const API_TIMEOUT_MS = 30000;
  const STORE_KEY = "parley-admin";
  const SECTIONS = ["users", "groups", "trust", "sessions", "federation"];
  const MAX_PEM_BYTES = 1 << 20;

  const $ = (id) => document.getElementById(id);

  const state = {
    jid: null,
    csrf: null,
    section: null,
    users: { search: "", offset: 0, limit: 25, total: 0 },
    group: null, // the group whose members are shown
    report: null, // the domain whose report is shown
  };

  // ---------- DOM helpers (text only) ----------

  // el("td", {class: "x", "aria-label": "..."}, child, "text", ...)
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = String(v);
      else if (k === "onclick") e.addEventListener("click", v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function button(text, attrs, onclick) {
    return el("button", Object.assign({ type: "button", onclick }, attrs || {}), text);
  }

  // ---------- the live region ----------

  const statusEl = $("status");

  function say(text, kind) {
    statusEl.className = "status " + (kind || "ok");
    statusEl.textContent = text;
  }

  // After a change: reload the list that shows it, then say what was done,
  // so that the message and the list agree when the message is read.
  async function done(message, loader) {
    try {
      await loader();
    } catch (err) {
      fail(message + " Reloading the list failed", err);
      return;
    }
    say(message);
  }

  function fail(what, err) {
    if (err && err.sessionEnded) return; // the live region already says so
    say(what + ": " + (err && err.message ? err.message : String(err)), "error");
  }

  // ---------- the API ----------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // A JID, group name, CA id or domain as one path segment ("@" may stay).
  // "." and ".." cannot be one: URLs resolve them, even percent-encoded.
  function seg(s) {
    s = String(s);
    if (s === "." || s === ".." || s === "") throw new ApiError(0, "“" + s + "” is not a valid name");
    return encodeURIComponent(s).replace(/%40/g, "@");
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin", cache: "no-store", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
    if (typeof AbortSignal !== "undefined" && AbortSignal.timeout) init.signal = AbortSignal.timeout(API_TIMEOUT_MS);
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      const why = e && e.name === "TimeoutError" ? "no answer within " + API_TIMEOUT_MS / 1000 + " s" : "the server could not be reached";
      throw new ApiError(0, why);
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = null;
      }
    }
    if (!res.ok) {
      const msg = data && typeof data.error === "string" && data.error ? data.error : res.status + " " + (res.statusText || "error");
      const e = new ApiError(res.status, msg);
      if (res.status === 401 && path !== "/api/login") e.sessionEnded = sessionEnded(msg);
      throw e;
    }
    return data && typeof data === "object" ? data : {};
  }

  // Runs an action with its form's (or button's) controls disabled, so a
  // double click does not send it twice.
  async function busy(target, fn) {
    const controls = target.tagName === "FORM" ? Array.from(target.querySelectorAll("button")) : [target];
    controls.forEach((b) => (b.disabled = true));
    target.setAttribute("aria-busy", "true");
    try {
      return await fn();
    } finally {
      controls.forEach((b) => (b.disabled = false));
      target.removeAttribute("aria-busy");
    }
  }

  // ---------- formatting ----------

  const arr = (v) => (Array.isArray(v) ? v : []);
  const str = (v) => (v === null || v === undefined ? "" : String(v));

  function count(v) {
    if (typeof v === "number") return v;
    if (Array.isArray(v)) return v.length;
    return null;
  }

  function yesNo(v) {
    return v ? "yes" : "no";
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  // Unix seconds or an ISO 8601 string, as "2025-01-02 03:04:05 UTC".
  function time(v) {
    if (v === null || v === undefined || v === "") return null;
    const d = typeof v === "number" ? new Date(v * 1000) : new Date(String(v));
    if (isNaN(d.getTime())) return { text: String(v), iso: null };
    const text =
      d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
    return { text, iso: d.toISOString(), date: d };
  }

  function timeEl(v, fallback) {
    const t = time(v);
    if (!t) return document.createTextNode(fallback || "—");
    return el("time", { datetime: t.iso }, t.text);
  }

  function duration(s) {
    s = Math.max(0, Math.floor(Number(s) || 0));
    if (s < 60) return s + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min";
    const h = Math.floor(m / 60);
    if (h < 24) return h + " h " + (m % 60) + " min";
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }

  function bytes(n) {
    n = Number(n) || 0;
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }

  function badge(text, kind) {
    return el("span", { class: "badge " + kind }, text);
  }

  function bareJid(jid) {
    const s = str(jid);
    const slash = s.indexOf("/");
    return slash < 0 ? s : s.slice(0, slash);
  }

  // Fills a table body with rows, or shows its "empty" paragraph.
  function fillTable(table, emptyEl, rows) {
    const tbody = table.tBodies[0];
    clear(tbody);
    rows.forEach((r) => tbody.append(r));
    table.hidden = rows.length === 0;
    if (emptyEl) emptyEl.hidden = rows.length !== 0;
  }

  // ---------- the dialog (confirm, new password) ----------

  const dialog = $("dialog");

  // Focus back where it was; if a reload replaced that button meanwhile,
  // onto its twin (same accessible name), else the section's heading.
  function refocus(back) {
    if (back && document.contains(back)) return back.focus();
    const label = back && back.getAttribute && back.getAttribute("aria-label");
    const twin = label && Array.from(document.querySelectorAll("button[aria-label]")).find((b) => b.getAttribute("aria-label") === label);
    if (twin) twin.focus();
    else if (state.section) $(state.section + "-title").focus();
  }

  // Resolves to true (confirmed), the password typed, or null (cancelled).
  function ask(opts) {
    return new Promise((resolve) => {
      const pw = $("dialog-password");
      const ok = $("dialog-ok");
      $("dialog-title").textContent = opts.title;
      $("dialog-text").textContent = opts.text;
      $("dialog-password-field").hidden = !opts.password;
      pw.required = !!opts.password;
      pw.value = "";
      ok.textContent = opts.ok || "OK";
      ok.className = opts.danger ? "danger" : "primary";
      const back = document.activeElement;
      dialog.returnValue = "";
      dialog.addEventListener(
        "close",
        () => {
          const confirmed = dialog.returnValue === "ok";
          const value = confirmed ? (opts.password ? pw.value : true) : null;
          pw.value = "";
          refocus(back);
          resolve(value);
        },
        { once: true }
      );
      dialog.showModal();
      // A destructive question starts on Cancel; a password on its field.
      (opts.password ? pw : opts.danger ? $("dialog-cancel") : ok).focus();
    });
  }

  $("dialog-cancel").addEventListener("click", () => dialog.close("cancel"));

  // ---------- log in, log out ----------

  function saveSession() {
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify({ jid: state.jid, csrf: state.csrf }));
    } catch (e) {
      /* storage refused: the session lasts until a reload */
    }
  }

  function forgetSession() {
    state.jid = null;
    state.csrf = null;
    try {
      sessionStorage.removeItem(STORE_KEY);
    } catch (e) {
      /* nothing stored */
    }
  }

  function loadSession() {
    try {
      const s = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
      if (s && typeof s.csrf === "string" && s.csrf) {
        state.jid = str(s.jid);
        state.csrf = s.csrf;
        return true;
      }
    } catch (e) {
      /* a bad entry is no session */
    }
    return false;
  }

  function showLogin() {
    $("app").hidden = true;
    $("who").hidden = true;
    $("login-view").hidden = false;
    document.title = "Log in · Parley admin";
  }

  function showApp() {
    $("login-view").hidden = true;
    $("app").hidden = false;
    $("who").hidden = false;
    $("who-jid").textContent = state.jid;
    showSection(sectionFromHash() || "users", true, true);
  }

  // A 401 on a logged-in page: the cookie expired or the server restarted.
  function sessionEnded(msg) {
    if (!state.csrf) return false;
    forgetSession();
    showLogin();
    say("Your session has ended (" + msg + "): log in again.", "error");
    $("login-jid").focus();
    return true;
  }

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const jid = $("login-jid").value.trim();
    const password = $("login-password").value;
    busy(form, async () => {
      try {
        const d = await api("POST", "/api/login", { jid, password });
        if (typeof d.csrf !== "string" || !d.csrf) throw new ApiError(0, "the server sent no CSRF token");
        state.jid = str(d.jid) || jid;
        state.csrf = d.csrf;
        saveSession();
        $("login-password").value = "";
        say("Logged in as " + state.jid + ".");
        showApp();
      } catch (err) {
        fail("Login failed", err);
        $("login-password").focus();
      }
    });
  });

  $("logout").addEventListener("click", (ev) => {
    busy(ev.currentTarget, async () => {
      let problem = null;
      try {
        await api("POST", "/api/logout");
      } catch (err) {
        if (err.status !== 401) problem = err;
      }
      forgetSession();
      showLogin();
      if (problem) fail("Logged out of this page, but the server answered", problem);
      else say("Logged out.");
      $("login-jid").focus();
    });
  });

  // ---------- sections ----------

  const loaders = {
    users: loadUsers,
    groups: loadGroups,
    trust: loadTrust,
    sessions: loadSessions,
    federation: loadLinks,
  };

  function sectionFromHash() {
    const h = location.hash.replace(/^#/, "");
    return SECTIONS.includes(h) ? h : null;
  }

  // focus: moved to the section's heading (the admin chose the section);
  // then the last section's message is stale and goes too.
  function showSection(name, focus, keepStatus) {
    if (focus && !keepStatus && name !== state.section) say("");
    state.section = name;
    for (const s of SECTIONS) $(s).hidden = s !== name;
    document.querySelectorAll("nav.sections a").forEach((a) => {
      if (a.dataset.section === name) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    const title = $(name + "-title");
    document.title = title.textContent + " · Parley admin";
    if (focus) title.focus();
    // aria-busy while the section's data loads (assistive technology and
    // the browser test both wait for it to go).
    const section = $(name);
    section.setAttribute("aria-busy", "true");
    loaders[name]()
      .catch((err) => fail("Could not load " + title.textContent.toLowerCase(), err))
      .finally(() => section.removeAttribute("aria-busy"));
  }

  window.addEventListener("hashchange", () => {
    const name = sectionFromHash();
    if (name && state.csrf) showSection(name, true);
  });

  // The link of the section already shown reloads it (no hashchange).
  document.querySelectorAll("nav.sections a").forEach((a) =>
    a.addEventListener("click", (ev) => {
      if (a.dataset.section === state.section && location.hash === "#" + a.dataset.section) {
        ev.preventDefault();
        showSection(a.dataset.section, true);
      }
    })
  );

  // ---------- users ----------

  async function loadUsers() {
    const u = state.users;
    const q = new URLSearchParams();
    if (u.search) q.set("search", u.search);
    q.set("offset", String(u.offset));
    q.set("limit", String(u.limit));
    const table = $("user-table");
    table.setAttribute("aria-busy", "true");
    // No second page turn while this one loads; set again below.
    $("user-prev").disabled = true;
    $("user-next").disabled = true;
    try {
      const d = await api("GET", "/api/users?" + q.toString());
      const users = arr(d.users);
      u.total = typeof d.total === "number" ? d.total : u.offset + users.length;
      if (users.length === 0 && u.offset > 0 && u.total > 0) {
        // The page emptied (deletions): show the last one there is.
        u.offset = Math.max(0, Math.floor((u.total - 1) / u.limit) * u.limit);
        return loadUsers();
      }
      fillTable(table, $("user-empty"), users.map(userRow));
      const first = users.length ? u.offset + 1 : 0;
      const last = u.offset + users.length;
      $("user-range").textContent = users.length ? first + "–" + last + " of " + u.total : "0 of " + u.total;
      $("user-caption").textContent = u.search ? "Accounts matching “" + u.search + "”" : "Accounts";
      $("user-prev").disabled = u.offset === 0;
      $("user-next").disabled = last >= u.total;
    } finally {
      table.removeAttribute("aria-busy");
    }
  }

  function passwordCell(v) {
    if (v === true) return "set";
    if (v === false) return "none";
    return v === null || v === undefined ? "—" : str(v);
  }

  function userRow(user) {
    const jid = str(user.jid);
    const certs = count(user.certs);
    return el(
      "tr",
      { "data-jid": jid },
      el("th", { scope: "row", class: "jid" }, jid),
      el("td", {}, passwordCell(user.password)),
      el("td", {}, certs === null ? "—" : String(certs)),
      el(
        "td",
        { class: "actions" },
        button("Reset password", { "aria-label": "Reset password of " + jid }, () => resetPassword(jid)),
        button("Delete", { class: "danger", "aria-label": "Delete " + jid }, () => deleteUser(jid))
      )
    );
  }

  async function resetPassword(jid) {
    const password = await ask({
      title: "Reset password",
      text: "Set a new password for " + jid + ". Its sessions stay logged in.",
      ok: "Set password",
      password: true,
    });
    if (password === null) return;
    try {
      await api("PUT", "/api/users/" + seg(jid) + "/password", { password });
      await done("New password set for " + jid + ".", loadUsers);
    } catch (err) {
      fail("Could not reset the password of " + jid, err);
    }
  }

  async function deleteUser(jid) {
    const yes = await ask({
      title: "Delete account",
      text: "Delete " + jid + "? Its data is removed and its sessions end. This cannot be undone.",
      ok: "Delete account",
      danger: true,
    });
    if (!yes) return;
    try {
      const d = await api("DELETE", "/api/users/" + seg(jid));
      const ended = typeof d.ended === "number" ? d.ended : 0;
      await done("Deleted " + jid + " (" + ended + " session" + (ended === 1 ? "" : "s") + " ended).", loadUsers);
      $("users-title").focus();
    } catch (err) {
      fail("Could not delete " + jid, err);
    }
  }

  $("user-search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.users.search = $("user-search-q").value.trim();
    state.users.limit = parseInt($("user-limit").value, 10) || 25;
    state.users.offset = 0;
    busy(ev.currentTarget, () => loadUsers().catch((err) => fail("Search failed", err)));
  });

  $("user-limit").addEventListener("change", () => {
    state.users.limit = parseInt($("user-limit").value, 10) || 25;
    state.users.offset = 0;
    loadUsers().catch((err) => fail("Could not load users", err));
  });

  // The pager's buttons: loadUsers() disables them while it loads and
  // sets them for the new page.
  $("user-prev").addEventListener("click", () => {
    const u = state.users;
    u.offset = Math.max(0, u.offset - u.limit);
    loadUsers().catch((err) => fail("Could not load users", err));
  });

  $("user-next").addEventListener("click", () => {
    const u = state.users;
    if (u.offset + u.limit < u.total) u.offset += u.limit;
    loadUsers().catch((err) => fail("Could not load users", err));
  });

  $("new-user-certonly").addEventListener("change", (ev) => {
    const pw = $("new-user-password");
    pw.disabled = ev.currentTarget.checked;
    pw.required = !ev.currentTarget.checked;
    if (pw.disabled) pw.value = "";
  });

  $("user-create").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const jid = $("new-user-jid").value.trim();
    const certOnly = $("new-user-certonly").checked;
    const body = certOnly ? { jid } : { jid, password: $("new-user-password").value };
    busy(form, async () => {
      try {
        const d = await api("POST", "/api/users", body);
        const made = str(d.jid) || jid;
        form.reset();
        $("new-user-password").disabled = false;
        $("new-user-password").required = true;
        await done("Created " + made + (certOnly ? " (certificate only)." : "."), loadUsers);
      } catch (err) {
        fail("Could not create " + jid, err);
      }
    });
  });

  // ---------- groups ----------

  async function loadGroups() {
    const d = await api("GET", "/api/groups");
    const groups = arr(d.groups);
    fillTable($("group-table"), $("group-empty"), groups.map(groupRow));
    if (state.group) {
      if (groups.some((g) => str(g.name) === state.group)) await openGroup(state.group, false);
      else closeGroup();
    }
  }

  function groupRow(g) {
    const name = str(g.name);
    const members = count(g.members);
    return el(
      "tr",
      { "data-group": name },
      el("th", { scope: "row" }, name),
      el("td", {}, str(g.label)),
      el("td", {}, yesNo(g.shared)),
      el("td", {}, yesNo(g.members_only)),
      el("td", { class: "num" }, members === null ? "—" : String(members)),
      el(
        "td",
        { class: "actions" },
        button("Members", { "aria-label": "Members of " + name, "aria-controls": "group-detail" }, () =>
          openGroup(name, true).catch((err) => fail("Could not load group " + name, err))
        ),
        button("Delete", { class: "danger", "aria-label": "Delete group " + name }, () => deleteGroup(name))
      )
    );
  }

  function closeGroup() {
    state.group = null;
    $("group-detail").hidden = true;
  }

  async function openGroup(name, focus) {
    const g = await api("GET", "/api/groups/" + seg(name));
    state.group = name;
    const list = arr(g.member_list);
    const label = str(g.label);
    $("group-detail-title").textContent =
      "Members of " + name + (label && label !== name ? " (" + label + ")" : "") + ": " + list.length;
    const ul = $("group-members");
    clear(ul);
    for (const m of list) {
      const jid = str(m && typeof m === "object" ? m.jid : m);
      ul.append(
        el(
          "li",
          { "data-jid": jid },
          el("span", { class: "jid" }, jid),
          button("Remove", { class: "danger small", "aria-label": "Remove " + jid + " from " + name }, () =>
            removeMember(name, jid)
          )
        )
      );
    }
    ul.hidden = list.length === 0;
    $("group-members-empty").hidden = list.length !== 0;
    $("group-detail").hidden = false;
    if (focus) $("group-detail-title").focus();
  }

  async function removeMember(name, jid) {
    try {
      const d = await api("DELETE", "/api/groups/" + seg(name) + "/members/" + seg(jid));
      await done("Removed " + jid + " from " + name + membersNow(d) + ".", loadGroups);
      $("group-detail-title").focus();
    } catch (err) {
      fail("Could not remove " + jid + " from " + name, err);
    }
  }

  function membersNow(d) {
    return typeof d.members === "number" ? "; it has " + d.members + " member" + (d.members === 1 ? "" : "s") : "";
  }

  async function deleteGroup(name) {
    const yes = await ask({
      title: "Delete group",
      text: "Delete the group " + name + "? Its members stay; they lose the group.",
      ok: "Delete group",
      danger: true,
    });
    if (!yes) return;
    try {
      await api("DELETE", "/api/groups/" + seg(name));
      if (state.group === name) closeGroup();
      await done("Deleted the group " + name + ".", loadGroups);
      $("groups-title").focus();
    } catch (err) {
      fail("Could not delete the group " + name, err);
    }
  }

  $("group-add").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const name = state.group;
    const jids = $("group-add-jids")
      .value.split(/[\s,;]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    if (!name || jids.length === 0) return;
    busy(form, async () => {
      try {
        const d = await api("POST", "/api/groups/" + seg(name) + "/members", { jids });
        $("group-add-jids").value = "";
        await done("Added " + jids.join(", ") + " to " + name + membersNow(d) + ".", loadGroups);
      } catch (err) {
        fail("Could not add to " + name, err);
      }
    });
  });

  $("group-create").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const name = $("new-group-name").value.trim();
    const body = {
      name,
      label: $("new-group-label").value.trim() || name,
      shared: $("new-group-shared").checked,
      members_only: $("new-group-members-only").checked,
    };
    busy(form, async () => {
      try {
        await api("POST", "/api/groups", body);
        form.reset();
        state.group = name; // shown with its members, ready for adding
        await done("Created the group " + name + ".", loadGroups);
      } catch (err) {
        fail("Could not create the group " + name, err);
      }
    });
  });

  $("group-refresh").addEventListener("click", (ev) =>
    busy(ev.currentTarget, () => loadGroups().catch((err) => fail("Could not load groups", err)))
  );

  // ---------- trust store ----------

  async function loadTrust() {
    const d = await api("GET", "/api/trust");
    fillTable($("trust-table"), $("trust-empty"), arr(d.cas).map(caRow));
  }

  function caRow(ca) {
    const id = str(ca.id);
    const subject = str(ca.subject);
    const t = time(ca.not_after);
    const expired = t && t.date && t.date.getTime() < Date.now();
    return el(
      "tr",
      { "data-id": id },
      el("th", { scope: "row", class: "subject" }, subject),
      el("td", {}, timeEl(ca.not_after), expired ? [" ", badge("expired", "bad")] : null),
      el("td", { class: "mono fingerprint" }, str(ca.fingerprint)),
      el("td", { class: "mono" }, id),
      el(
        "td",
        { class: "actions" },
        button("Remove", { class: "danger", "aria-label": "Remove CA " + (subject || id) }, () => removeCa(id, subject))
      )
    );
  }

  async function removeCa(id, subject) {
    const yes = await ask({
      title: "Remove CA",
      text: "Remove " + (subject || id) + " from the trust store? Peers and clients whose certificates it issued are no longer trusted.",
      ok: "Remove CA",
      danger: true,
    });
    if (!yes) return;
    try {
      await api("DELETE", "/api/trust/" + seg(id));
      await done("Removed the CA " + (subject || id) + ".", loadTrust);
      $("trust-title").focus();
    } catch (err) {
      fail("Could not remove the CA " + (subject || id), err);
    }
  }

  $("trust-file").addEventListener("change", (ev) => {
    const file = ev.currentTarget.files && ev.currentTarget.files[0];
    if (!file) return;
    if (file.size > MAX_PEM_BYTES) {
      say("The file " + file.name + " is too large for a certificate (" + bytes(file.size) + ").", "error");
      return;
    }
    const reader = new FileReader();
    reader.addEventListener("load", () => {
      $("trust-pem").value = String(reader.result);
      say("Read " + file.name + ": check it and import it.");
    });
    reader.addEventListener("error", () => say("Could not read " + file.name + ".", "error"));
    reader.readAsText(file);
  });

  $("trust-import").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const pem = $("trust-pem").value.trim() + "\n";
    busy(form, async () => {
      try {
        const d = await api("POST", "/api/trust", { pem });
        form.reset();
        await done("Imported the CA" + (d.id !== undefined ? " (id " + str(d.id) + ")" : "") + ".", loadTrust);
      } catch (err) {
        fail("Could not import the CA", err);
      }
    });
  });

  $("trust-refresh").addEventListener("click", (ev) =>
    busy(ev.currentTarget, () => loadTrust().catch((err) => fail("Could not load the trust store", err)))
  );

  // ---------- sessions ----------

  async function loadSessions() {
    const d = await api("GET", "/api/sessions");
    const sessions = arr(d.sessions);
    fillTable($("session-table"), $("session-empty"), sessions.map(sessionRow));
    $("sessions-count").textContent = sessions.length + " session" + (sessions.length === 1 ? "" : "s");
  }

  function sessionRow(s) {
    const jid = str(s.jid);
    const bare = bareJid(jid);
    let tls = s.tls;
    if (tls === true) tls = "yes";
    else if (tls === false || tls === null || tls === undefined || tls === "") tls = "none";
    const extra = [s.transport, s.mechanism].filter((x) => typeof x === "string" && x).join(", ");
    return el(
      "tr",
      { "data-jid": jid },
      el("th", { scope: "row", class: "jid" }, jid),
      el("td", {}, str(s.worker)),
      el("td", { class: "mono" }, str(s.address)),
      el("td", {}, timeEl(s.since)),
      el("td", {}, str(tls), extra ? el("span", { class: "sub" }, extra) : null),
      el(
        "td",
        { class: "actions" },
        button("End sessions", { class: "danger", "aria-label": "End the sessions of " + bare }, () => kick(bare))
      )
    );
  }

  async function kick(jid) {
    try {
      const d = await api("DELETE", "/api/sessions/" + seg(jid));
      const n = typeof d.ended === "number" ? d.ended : 0;
      await done("Ended " + n + " session" + (n === 1 ? "" : "s") + " of " + jid + ".", loadSessions);
    } catch (err) {
      fail("Could not end the sessions of " + jid, err);
    }
  }

  $("session-kick").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const jid = bareJid($("kick-jid").value.trim());
    busy(ev.currentTarget, async () => {
      await kick(jid);
      $("kick-jid").value = "";
    });
  });

  $("session-refresh").addEventListener("click", (ev) =>
    busy(ev.currentTarget, () => loadSessions().catch((err) => fail("Could not load sessions", err)))
  );

  // ---------- federation ----------

  async function loadLinks() {
    const d = await api("GET", "/api/s2s/links");
    const links = arr(d.links);
    fillTable($("link-table"), $("link-empty"), links.map(linkRow));
    $("links-count").textContent = links.length + " server-to-server link" + (links.length === 1 ? "" : "s");
    if (state.report) await showReport(state.report, false);
  }

  function linkRow(l) {
    const remote = str(l.remote);
    const st = str(l.state);
    const tlsv = str(l.tls_version);
    const plain = !tlsv || tlsv === "plaintext";
    return el(
      "tr",
      { "data-remote": remote },
      el("th", { scope: "row", class: "domain" }, remote, l.peer_address ? el("span", { class: "sub mono" }, str(l.peer_address)) : null),
      el("td", {}, str(l.direction), el("span", { class: "sub" }, "local " + str(l.local))),
      el("td", {}, badge(st || "?", st === "ready" ? "good" : "warn")),
      el("td", {}, str(l.method), l.queued ? el("span", { class: "sub" }, str(l.queued) + " queued") : null),
      el("td", {}, plain ? badge(tlsv || "none", "bad") : tlsv, l.tls_cipher ? el("span", { class: "sub" }, str(l.tls_cipher)) : null),
      el(
        "td",
        {},
        l.cert_subject ? el("span", { class: "subject" }, str(l.cert_subject)) : "none",
        el("span", { class: "sub" }, l.cert_verified ? badge("verified", "good") : badge("not verified", "warn"))
      ),
      el("td", { class: "nowrap" }, "in " + bytes(l.bytes_in), el("span", { class: "sub" }, "out " + bytes(l.bytes_out))),
      el("td", { class: "nowrap" }, duration(l.age_s)),
      el("td", {}, str(l.worker)),
      el(
        "td",
        { class: "actions" },
        button("Report", { "aria-label": "Report for " + remote, "aria-controls": "report" }, () => {
          $("report-domain").value = remote;
          showReport(remote, true).catch((err) => fail("Could not load the report for " + remote, err));
        }),
        button("Close", { class: "danger", "aria-label": "Close the streams with " + remote }, () => closeLink(remote))
      )
    );
  }

  async function closeLink(domain) {
    const yes = await ask({
      title: "Close links",
      text: "Close every stream with " + domain + "? Queued stanzas open a new link when they are sent.",
      ok: "Close streams",
      danger: true,
    });
    if (!yes) return;
    try {
      const d = await api("DELETE", "/api/s2s/links/" + seg(domain));
      const n = typeof d.closed === "number" ? d.closed : 0;
      await done("Closed " + n + " stream" + (n === 1 ? "" : "s") + " with " + domain + ".", loadLinks);
    } catch (err) {
      fail("Could not close the streams with " + domain, err);
    }
  }

  const DIRECTIONS = [
    ["out", "Outgoing: our link to "],
    ["in", "Incoming: its link to us from "],
  ];

  // The report's fields, in the order an operator reads them.
  const ATTEMPT_FIELDS = [
    ["purpose", "Purpose"],
    ["local", "Our domain"],
    ["started", "Started", "time"],
    ["ended", "Ended", "time"],
    ["last_success", "Last success", "time"],
    ["peer_address", "Peer address"],
    ["dns", "DNS"],
    ["connect", "Connect"],
    ["tls", "TLS"],
    ["verification", "Certificate verification"],
    ["identity", "Identity"],
    ["policy", "Policy"],
    ["methods_allowed", "Methods allowed"],
    ["methods_offered", "Methods offered"],
    ["methods_tried", "Methods tried"],
    ["method_used", "Method used"],
  ];

  function attemptOutcome(at) {
    const code = str(at.code) || "?";
    if (!at.ended) return { kind: "warn", code: "in progress" };
    if (at.ok) return { kind: "good", code };
    return { kind: "bad", code };
  }

  function attemptView(dir, title, domain, at, headingLevel) {
    const o = attemptOutcome(at);
    const box = el("article", { class: "attempt " + o.kind, "data-direction": dir });
    box.append(el("h" + headingLevel, {}, title + domain));
    const outcome = el("div", { class: "outcome" });
    outcome.append(
      el("p", { class: "code-line" }, el("span", { class: "label" }, "Code "), el("code", { class: "code " + o.kind, "data-code": o.code }, o.code)),
      el("p", { class: "result" }, str(at.result))
    );
    if (at.ended && !at.ok) {
      const fix = str(at.fix);
      outcome.append(
        el(
          "p",
          { class: "fix" },
          el("strong", {}, "Fix: "),
          fix || "see the entry “" + o.code + "” in docs/federation-errors.md."
        )
      );
    }
    box.append(outcome);
    const dl = el("dl", { class: "facts" });
    for (const [key, label, kind] of ATTEMPT_FIELDS) {
      const v = at[key];
      if (v === undefined || v === "" || (v === null && kind !== "time")) continue;
      dl.append(el("dt", {}, label), el("dd", {}, kind === "time" ? timeEl(v, key === "last_success" ? "never" : "—") : str(v)));
    }
    box.append(dl);
    const chain = arr(at.chain);
    if (chain.length) {
      const ol = el("ol", { class: "chain" });
      chain.forEach((c) => {
        const cdl = el("dl", { class: "facts" });
        [
          ["subject", "Subject"],
          ["issuer", "Issuer"],
          ["names", "Names"],
          ["not_before", "Not before"],
          ["not_after", "Not after"],
          ["eku", "Extended key usage"],
        ].forEach(([k, label]) => {
          if (c[k]) cdl.append(el("dt", {}, label), el("dd", {}, str(c[k])));
        });
        ol.append(el("li", {}, cdl));
      });
      box.append(el("h" + (headingLevel + 1), {}, "Peer's certificate chain"), ol);
    }
    return box;
  }

  async function showReport(domain, focus) {
    const d = await api("GET", "/api/s2s/reports/" + seg(domain));
    state.report = domain;
    const shownDomain = str(d.domain) || domain;
    const body = $("report-body");
    clear(body);
    $("report-title").textContent = "Report for " + shownDomain;
    const reports = arr(d.reports);
    const latest = d.latest && typeof d.latest === "object" ? d.latest : {};
    let any = false;
    for (const [dir, title] of DIRECTIONS) {
      if (latest[dir] && typeof latest[dir] === "object") {
        body.append(attemptView(dir, title, shownDomain, latest[dir], 4));
        any = true;
      }
    }
    if (!any) {
      body.append(el("p", { class: "empty" }, "No report for " + shownDomain + ": no stream or attempt with it since the server started."));
    }
    if (reports.length > 1) {
      // Each worker's own view, for when they disagree.
      const det = el("details", { class: "workers" }, el("summary", {}, "Each worker's report (" + reports.length + ")"));
      reports.forEach((r) => {
        const w = el("section", { class: "worker" }, el("h4", {}, "Worker " + str(r.worker)));
        for (const [dir, title] of DIRECTIONS) if (r[dir]) w.append(attemptView(dir, title, shownDomain, r[dir], 5));
        det.append(w);
      });
      body.append(det);
    }
    $("report").hidden = false;
    if (focus) {
      $("report").focus();
      $("report").scrollIntoView({ block: "start" });
    }
  }

  $("report-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const domain = $("report-domain").value.trim();
    busy(ev.currentTarget, () => showReport(domain, true).catch((err) => fail("Could not load the report for " + domain, err)));
  });

  $("link-refresh").addEventListener("click", (ev) =>
    busy(ev.currentTarget, () => loadLinks().catch((err) => fail("Could not load the links", err)))
  );

  // ---------- start ----------

  if (loadSession()) showApp();
  else showLogin();
})();
