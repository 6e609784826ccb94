"""The admin HTTP API and the web admin page served by parleyd (issue 11,
items 3-6; docs/admin-api.md).

- Every route, from one table (ROUTES) that must cover the server's own
  list (GET /api/routes) and the endpoint table of docs/admin-api.md:
  no credentials and wrong ones are 401, a read-only token reads (200)
  and is refused every change (403), an admin token and an admin's HTTP
  Basic succeed.
- The web page's login: the cookie's attributes, CSRF on every change,
  logout ends the session.
- Hostile spellings of every route's path never reach a handler (400 or
  404) and change nothing.
- Failed passwords are throttled as XMPP logins are.
- Accounts and a shared group made through the API show in a stock
  slixmpp client's roster; an account deleted online loses its session.
- A CA uploaded, listed and removed; a non-CA or garbage PEM is 422.
- /metrics parsed by prometheus_client after known traffic.
- The web page in headless chromium (js/admin_page.mjs) against a real
  federation link between two Parleys, with screenshots checked.

Every test runs with 1 and with 2 workers; every wait is bounded.
"""
import asyncio
import base64
import http.client
import json
import os
import re
import shutil
import ssl
import struct
import subprocess
import time
import uuid
import zlib

import pytest
from prometheus_client.parser import text_string_to_metric_families

from federation import Dns, Pki, Session, _run, exchange
from parley import ROOT
from test_federation import ParleyPeer

ADMIN, ADMIN_PW = "admin@localhost", "admin-pw"
PW = "secret"
DOC = os.path.join(ROOT, "docs", "admin-api.md")
JS_DIR = os.path.join(ROOT, "tests", "integration", "js")
# Where the page's screenshots go: $PARLEY_TEST_ARTIFACTS/<test>/ when set
# (kept after the run), else the test's tmp_path (pytest keeps the last
# few runs); the path is printed either way.
ARTIFACTS = os.environ.get("PARLEY_TEST_ARTIFACTS")

# No throttle in the way of the tests that send many wrong credentials on
# purpose (test_failed_passwords_are_throttled has the defaults' shape).
NO_THROTTLE = {"auth.fail_delay_max": 0, "auth.fail_max": 100000, "auth.fail_max_address": 1000000}


# ---------------------------------------------------------------- HTTP

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower(), [])

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.text[:300]!r}>"


def context(server):
    ctx = ssl.create_default_context(cafile=server.cert)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def auth_headers(auth):
    """auth: None, ("bearer", token), ("basic", jid, password) or
    ("cookie", value, csrf or None)."""
    if auth is None:
        return {}
    kind = auth[0]
    if kind == "bearer":
        return {"Authorization": f"Bearer {auth[1]}"}
    if kind == "basic":
        return {"Authorization": "Basic " + base64.b64encode(f"{auth[1]}:{auth[2]}".encode()).decode()}
    if kind == "cookie":
        h = {"Cookie": f"parley_admin={auth[1]}"}
        if auth[2]:
            h["X-CSRF-Token"] = auth[2]
        return h
    raise ValueError(kind)


def call(server, method, path, body=None, auth=None, headers=None, raw=None, timeout=30.0):
    """One request on a connection of its own (HTTPS, the instance's
    certificate verified); `body` is sent as JSON."""
    h = auth_headers(auth)
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    c = http.client.HTTPSConnection("localhost", server.admin_port, context=context(server), timeout=timeout)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        hs = {}
        for k, v in r.getheaders():
            hs.setdefault(k.lower(), []).append(v)
        return Resp(r.status, hs, r.read())
    finally:
        c.close()


def token(server, name, read_only=False):
    r = server.ctl("token", "create", name, *(["--read-only"] if read_only else []))
    return r.stdout.strip()


@pytest.fixture
def api(make_server):
    """A server with the admin API, admin@localhost (an administrator),
    alice, bob and carol, and two tokens: server.admin_token (full) and
    server.read_token (read-only)."""
    def make(options=None, start=True):
        opts = dict(NO_THROTTLE)
        opts.update(options or {})
        s = make_server(options=opts, admins=[ADMIN], start=False)
        s.add_user(ADMIN, ADMIN_PW)
        for u in ("alice", "bob", "carol"):
            s.add_user(f"{u}@localhost", PW)
        s.admin_token = token(s, "ops")
        s.read_token = token(s, "ci", read_only=True)
        return s.start() if start else s
    return make


def admin(server):
    return ("bearer", server.admin_token)


def ok(r, status=200):
    assert r.status == status, r
    return r


# ---------------------------------------------------------------- the table of routes

class Ctx:
    """What the routes' setups share: the server, a counter for unique
    names, and a place for CAs."""

    def __init__(self, server):
        self.server = server
        self.n = 0

    def uniq(self, prefix):
        self.n += 1
        return f"{prefix}{self.n}-{uuid.uuid4().hex[:6]}"

    def user(self):
        jid = self.uniq("u") + "@localhost"
        self.server.add_user(jid, PW)
        return jid

    def group(self, members=()):
        name = self.uniq("g")
        ok(call(self.server, "POST", "/api/groups", {"name": name, "shared": True}, admin(self.server)), 201)
        if members:
            ok(call(self.server, "POST", f"/api/groups/{name}/members", {"jids": list(members)},
                    admin(self.server)))
        return name

    def ca_pem(self):
        d = os.path.join(self.server.dir, "cas", self.uniq("ca"))
        os.makedirs(os.path.dirname(d), exist_ok=True)
        self.server.ctl("cert", "ca", "init", d, "--name", f"API test CA {os.path.basename(d)}")
        with open(os.path.join(d, "ca.crt")) as f:
            return f.read()

    def trusted_ca(self):
        r = ok(call(self.server, "POST", "/api/trust", {"pem": self.ca_pem()}, admin(self.server)), 201)
        return r.json["id"]

    def pin(self, jid="alice@localhost"):
        fp = uuid.uuid4().hex + uuid.uuid4().hex
        ok(call(self.server, "POST", f"/api/users/{jid}/certs", {"pin": fp}, admin(self.server)), 201)
        return fp


def new_pin():
    return uuid.uuid4().hex + uuid.uuid4().hex


# (method, pattern, permission, setup(ctx) -> (path, body), status on success)
ROUTES = [
    ("POST", "/api/login", "public", lambda c: ("/api/login", {"jid": ADMIN, "password": ADMIN_PW}), 200),
    ("POST", "/api/logout", "read", lambda c: ("/api/logout", None), 200),
    ("GET", "/api/routes", "read", lambda c: ("/api/routes", None), 200),
    ("GET", "/api/users", "read", lambda c: ("/api/users?search=alice&offset=0&limit=10", None), 200),
    ("POST", "/api/users", "admin", lambda c: ("/api/users", {"jid": c.uniq("new") + "@localhost", "password": "p"}),
     201),
    ("DELETE", "/api/users/*", "admin", lambda c: (f"/api/users/{c.user()}", None), 200),
    ("PUT", "/api/users/*/password", "admin", lambda c: (f"/api/users/{c.user()}/password", {"password": "p2"}), 200),
    ("GET", "/api/users/*/certs", "read", lambda c: ("/api/users/alice@localhost/certs", None), 200),
    ("POST", "/api/users/*/certs", "admin", lambda c: ("/api/users/alice@localhost/certs", {"pin": new_pin()}), 201),
    ("DELETE", "/api/users/*/certs/*", "admin", lambda c: (f"/api/users/alice@localhost/certs/{c.pin()}", None), 200),
    ("GET", "/api/groups", "read", lambda c: ("/api/groups", None), 200),
    ("POST", "/api/groups", "admin", lambda c: ("/api/groups", {"name": c.uniq("g"), "label": "L", "shared": True}),
     201),
    ("GET", "/api/groups/*", "read", lambda c: (f"/api/groups/{c.group()}", None), 200),
    ("DELETE", "/api/groups/*", "admin", lambda c: (f"/api/groups/{c.group()}", None), 200),
    ("POST", "/api/groups/*/members", "admin",
     lambda c: (f"/api/groups/{c.group()}/members", {"jids": ["alice@localhost", "bob@localhost"]}), 200),
    ("DELETE", "/api/groups/*/members/*", "admin",
     lambda c: (f"/api/groups/{c.group(['alice@localhost'])}/members/alice@localhost", None), 200),
    ("GET", "/api/trust", "read", lambda c: ("/api/trust", None), 200),
    ("POST", "/api/trust", "admin", lambda c: ("/api/trust", {"pem": c.ca_pem()}), 201),
    ("DELETE", "/api/trust/*", "admin", lambda c: (f"/api/trust/{c.trusted_ca()}", None), 200),
    ("GET", "/api/sessions", "read", lambda c: ("/api/sessions", None), 200),
    ("DELETE", "/api/sessions/*", "admin", lambda c: ("/api/sessions/alice@localhost", None), 200),
    ("GET", "/api/s2s/links", "read", lambda c: ("/api/s2s/links", None), 200),
    ("DELETE", "/api/s2s/links/*", "admin", lambda c: ("/api/s2s/links/example.net", None), 200),
    ("GET", "/api/s2s/reports/*", "read", lambda c: ("/api/s2s/reports/example.net", None), 200),
    ("GET", "/api/s2s/policy", "read", lambda c: ("/api/s2s/policy", None), 200),
    ("GET", "/metrics", "read", lambda c: ("/metrics", None), 200),
    ("GET", "/admin", "public", lambda c: ("/admin", None), 301),
    ("GET", "/admin/", "public", lambda c: ("/admin/", None), 200),
    ("GET", "/admin/admin.js", "public", lambda c: ("/admin/admin.js", None), 200),
    ("GET", "/admin/admin.css", "public", lambda c: ("/admin/admin.css", None), 200),
]


def placeholder(pattern):
    return pattern.replace("*", "x@localhost")


def doc_routes():
    """(method, pattern, permission) of every row of the endpoint table
    of docs/admin-api.md; placeholders (J, G, PIN, ID, D) become "*"."""
    rows = set()
    with open(DOC) as f:
        for line in f:
            m = re.match(r"^\| `(GET|POST|PUT|DELETE|PATCH) ([^`]+)` \| (public|read|admin) \|", line)
            if not m:
                continue
            path = m.group(2).split("?")[0]
            segs = ["*" if re.fullmatch(r"[A-Z]+", s) else s for s in path.split("/")]
            rows.add((m.group(1), "/".join(segs), m.group(3)))
    return rows


def test_the_table_covers_every_route_of_the_server_and_the_docs(api):
    s = api()
    routes = ok(call(s, "GET", "/api/routes", auth=admin(s))).json["routes"]
    served = {(r["method"], r["path"], r["perm"]) for r in routes}
    tested = {(m, p, perm) for m, p, perm, _, _ in ROUTES}
    assert tested == served, f"not tested: {served - tested}; not served: {tested - served}"
    assert doc_routes() == served, f"not documented: {served - doc_routes()}; documented, not served: " \
                                   f"{doc_routes() - served}"


def test_every_route_with_every_kind_of_credentials(api):
    s = api()
    ctx = Ctx(s)
    wrong = [("bearer", "pt_" + "A" * 43), ("bearer", "not-a-token"), ("basic", ADMIN, "wrong"),
             ("basic", "nobody@localhost", "x"), ("cookie", "A" * 43, "B" * 43)]
    for method, pattern, perm, setup, good in ROUTES:
        what = f"{method} {pattern}"
        if perm == "public":
            path, body = setup(ctx)
            r = call(s, method, path, body)
            assert r.status == good, (what, r)
            continue
        # Refused before any handler: the path needs no real target.
        path = placeholder(pattern)
        body = {} if method in ("POST", "PUT") else None
        r = call(s, method, path, body)
        assert r.status == 401, (what, "no credentials", r)
        challenges = r.header("www-authenticate")
        assert any(c.startswith("Bearer") for c in challenges), (what, challenges)
        assert not any(c.startswith("Basic") for c in challenges), (what, challenges)
        for cred in wrong:
            r = call(s, method, path, body, cred)
            assert r.status == 401, (what, cred[0], r)
            basic = any(c.startswith("Basic") for c in r.header("www-authenticate"))
            assert basic == (cred[0] == "basic"), (what, cred[0], r.header("www-authenticate"))
        # A read-only token reads, and changes nothing.
        if perm == "read":
            path, body = setup(ctx)
            r = call(s, method, path, body, ("bearer", s.read_token))
            assert r.status == good, (what, "read-only token", r)
        else:
            r = call(s, method, path, body, ("bearer", s.read_token))
            assert r.status == 403, (what, "read-only token", r)
        # An administrator, by token and by password.
        for cred in (admin(s), ("basic", ADMIN, ADMIN_PW)):
            path, body = setup(ctx)
            r = call(s, method, path, body, cred)
            assert r.status == good, (what, cred[0], r)
            if pattern != "/metrics":
                assert r.header("content-type") == ["application/json"], (what, r.headers)
    # What the refusals and successes left in the log: one line per
    # refused password (a Bearer token refused is logged too).
    assert re.search(r"sign-in refused: user=admin@localhost via HTTP Basic", s.log())
    assert "refused a Bearer token" in s.log()


def test_answers_have_their_shapes(api):
    s = api()
    a = admin(s)
    r = ok(call(s, "POST", "/api/users", {"jid": "dave@localhost", "password": "pw"}, a), 201)
    assert r.json == {"jid": "dave@localhost"}
    r = ok(call(s, "POST", "/api/users", {"jid": "Dave@LOCALHOST", "password": "pw"}, a), 409)
    assert r.json["error"]
    r = ok(call(s, "POST", "/api/users", {"jid": "eve@elsewhere.example", "password": "pw"}, a), 422)
    assert "elsewhere.example" in r.json["error"], r
    ok(call(s, "POST", "/api/users", {"jid": "cert-only@localhost"}, a), 201)
    users = ok(call(s, "GET", "/api/users?search=localhost&limit=2", auth=a)).json
    assert users["total"] == 6 and len(users["users"]) == 2 and users["limit"] == 2, users
    every = {u["jid"]: u for u in ok(call(s, "GET", "/api/users", auth=a)).json["users"]}
    assert every["cert-only@localhost"]["password"] is False and every["dave@localhost"]["password"] is True
    ok(call(s, "GET", "/api/users?limit=0", auth=a), 400)
    ok(call(s, "GET", "/api/users?offset=-1", auth=a), 400)
    # Bodies: JSON only, and well-formed.
    ok(call(s, "POST", "/api/users", raw=b"jid=x", auth=a,
            headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    ok(call(s, "POST", "/api/users", raw=b"{nope", auth=a, headers={"Content-Type": "application/json"}), 400)
    ok(call(s, "POST", "/api/users", raw=b'{"jid":"a@localhost","jid":"b@localhost"}', auth=a,
            headers={"Content-Type": "application/json"}), 400)
    ok(call(s, "POST", "/api/users", {"jid": 5}, a), 400)
    # Pins, by fingerprint and by certificate.
    fp = new_pin()
    ok(call(s, "POST", "/api/users/dave@localhost/certs", {"pin": fp.upper()}, a), 201)
    with open(s.cert) as f:
        pem = f.read()
    r = ok(call(s, "POST", "/api/users/dave@localhost/certs", {"pem": pem}, a), 201)
    pins = [c["pin"] for c in ok(call(s, "GET", "/api/users/dave@localhost/certs", auth=a)).json["certs"]]
    assert sorted(pins) == sorted([fp, r.json["pin"]]), pins
    r = ok(call(s, "DELETE", f"/api/users/dave@localhost/certs/{fp}", auth=a))
    assert r.json["left"] == 1
    ok(call(s, "DELETE", f"/api/users/dave@localhost/certs/{fp}", auth=a), 404)
    ok(call(s, "POST", "/api/users/dave@localhost/certs", {"pin": "12:34"}, a), 422)
    # Groups.
    r = ok(call(s, "POST", "/api/groups", {"name": "team", "label": "Team", "shared": True}, a), 201)
    assert r.json == {"name": "team", "applied_to": 0}
    ok(call(s, "POST", "/api/groups", {"name": "team"}, a), 409)
    ok(call(s, "POST", "/api/groups", {"name": "bad", "shared": "yes"}, a), 400)
    r = ok(call(s, "POST", "/api/groups/team/members", {"jids": ["alice@localhost", "bob@localhost"]}, a))
    assert r.json["members"] == 2
    r = ok(call(s, "POST", "/api/groups/team/members", {"jids": ["carol@localhost", "alice@localhost"]}, a), 409)
    assert [x["jid"] for x in r.json["refused"]] == ["alice@localhost"], r.json
    ok(call(s, "POST", "/api/groups/team/members", {"jids": ["not a jid@"]}, a), 422)
    ok(call(s, "POST", "/api/groups/nope/members", {"jids": ["alice@localhost"]}, a), 404)
    g = ok(call(s, "GET", "/api/groups/team", auth=a)).json
    assert g["member_list"] == ["alice@localhost", "bob@localhost"] and g["label"] == "Team" and g["shared"], g
    groups = ok(call(s, "GET", "/api/groups", auth=a)).json["groups"]
    assert groups == [{"name": "team", "label": "Team", "shared": True, "members_only": False, "members": 2}]
    ok(call(s, "DELETE", "/api/groups/team/members/carol@localhost", auth=a), 404)
    ok(call(s, "DELETE", "/api/groups/nope", auth=a), 404)
    ok(call(s, "DELETE", "/api/users/nobody@localhost", auth=a), 404)
    # Federation and sessions answer from the workers.
    assert ok(call(s, "GET", "/api/s2s/reports/Example.NET", auth=a)).json["domain"] == "example.net"
    ok(call(s, "GET", "/api/s2s/reports/a@b", auth=a), 422)
    assert ok(call(s, "GET", "/api/sessions", auth=a)).json == {"sessions": []}
    assert "allow" in ok(call(s, "GET", "/api/s2s/policy", auth=a)).json
    # Methods a resource lacks.
    r = ok(call(s, "PATCH", "/api/users", auth=a), 405)
    assert "GET" in r.header("allow")[0] and "POST" in r.header("allow")[0]
    # The page.
    r = ok(call(s, "GET", "/admin"), 301)
    assert r.header("location") == ["/admin/"]
    r = ok(call(s, "GET", "/admin/"))
    assert r.header("content-type")[0].startswith("text/html")
    csp = r.header("content-security-policy")[0]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp, csp
    assert b"admin.js" in r.body
    r = ok(call(s, "GET", "/admin/admin.js"))
    assert r.header("content-type")[0].startswith("text/javascript")
    ok(call(s, "GET", "/admin/index.html"), 404)
    ok(call(s, "GET", "/admin/admin.js.map"), 404)


# ---------------------------------------------------------------- the web page's session

def login(server, jid=ADMIN, password=ADMIN_PW):
    r = call(server, "POST", "/api/login", {"jid": jid, "password": password})
    return r


def test_cookie_login_csrf_and_logout(api):
    s = api()
    r = ok(login(s))
    cookie = r.header("set-cookie")
    assert len(cookie) == 1, cookie
    m = re.match(r"parley_admin=([A-Za-z0-9_-]{43}); (.*)$", cookie[0])
    assert m, cookie
    attrs = {a.strip().split("=")[0].lower(): a for a in m.group(2).split(";")}
    assert {"path", "httponly", "secure", "samesite"} <= set(attrs), attrs
    assert attrs["path"].strip() == "Path=/" and attrs["samesite"].strip() == "SameSite=Strict", attrs
    sid, csrf = m.group(1), r.json["csrf"]
    assert r.json["jid"] == ADMIN and re.fullmatch(r"[A-Za-z0-9_-]{43}", csrf) and csrf != sid
    # Reading needs no CSRF token.
    ok(call(s, "GET", "/api/users", auth=("cookie", sid, None)))
    # Every change does.
    body = {"name": "web", "shared": True}
    r = call(s, "POST", "/api/groups", body, ("cookie", sid, None))
    assert r.status == 403 and "X-CSRF-Token" in r.text, r
    r = call(s, "POST", "/api/groups", body, ("cookie", sid, "x" * 43))
    assert r.status == 403, r
    r = call(s, "DELETE", "/api/users/carol@localhost", auth=("cookie", sid, None))
    assert r.status == 403, r
    assert ok(call(s, "GET", "/api/groups", auth=admin(s))).json["groups"] == []
    ok(call(s, "POST", "/api/groups", body, ("cookie", sid, csrf)), 201)
    # A second session has its own token.
    r2 = ok(login(s))
    sid2 = re.match(r"parley_admin=([^;]+)", r2.header("set-cookie")[0]).group(1)
    assert call(s, "DELETE", "/api/groups/web", auth=("cookie", sid2, csrf)).status == 403
    # Logout ends the session, and only that one.
    r = ok(call(s, "POST", "/api/logout", auth=("cookie", sid, csrf)))
    assert "Max-Age=0" in r.header("set-cookie")[0]
    r = call(s, "GET", "/api/users", auth=("cookie", sid, None))
    assert r.status == 401, r
    ok(call(s, "GET", "/api/users", auth=("cookie", sid2, None)))
    # Wrong passwords, and passwords of accounts that are not admins.
    r = login(s, password="wrong")
    assert r.status == 401 and r.json["error"] and not r.header("set-cookie"), r
    assert not any(c.startswith("Basic") for c in r.header("www-authenticate"))
    assert login(s, jid="alice@localhost", password=PW).status == 401
    assert login(s, jid="nobody@localhost", password=PW).status == 401
    ok(call(s, "POST", "/api/login", {"jid": ADMIN}), 400)
    # Deleting the admin's account ends its sessions.
    ok(call(s, "DELETE", f"/api/users/{ADMIN}", auth=admin(s)))
    assert call(s, "GET", "/api/users", auth=("cookie", sid2, None)).status == 401
    s.wait_log(r"admin@localhost signed in to the web admin page")
    s.wait_log(r"admin@localhost signed out of the web admin page")


def test_a_session_expires_unused(api):
    s = api(options={"http.admin_session_timeout": 2})
    r = ok(login(s))
    sid = re.match(r"parley_admin=([^;]+)", r.header("set-cookie")[0]).group(1)
    # Used every second: it lives on past the timeout.
    for _ in range(4):
        ok(call(s, "GET", "/api/users", auth=("cookie", sid, None)))
        time.sleep(1.0)
    # Unused for longer than the timeout: gone.
    time.sleep(2.5)
    r = call(s, "GET", "/api/users", auth=("cookie", sid, None))
    assert r.status == 401, r


# ---------------------------------------------------------------- hostile paths

def hostile(path):
    """Spellings of `path` that must never reach its handler (or another)."""
    rest = path[len("/api"):] if path.startswith("/api/") else path
    head, _, tail = path[1:].partition("/")
    out = [
        "/api/%2e%2e" + path,
        path + "/%2E%2E%2F",
        path + "/%2e%2e",
        "/" + head + "/..;/" + tail,
        "/" + path,
        path.replace("/", "//", 2),
        "/" + head + "/./" + tail,
        "/" + head + "/%c0%ae%c0%ae/" + tail,
        "/" + head + "/%c0%ae/" + tail,
        path + "%00",
        path.replace("/", "/%00", 1),
        path.upper(),
        "/".join(seg[:1].upper() + seg[1:] for seg in path.split("/")),
        path + "/x/../../tokens",
        "/admin/..%2f" + path[1:],
        "/admin/..%2F" + path[1:],
        path.replace("/", "\\"),
        "/" + head + "\\" + tail,
        "/" + head + "%5c" + tail,
        "/admin/%u002e%u002e" + path,
        "/api/users/x/..%2f.." + rest,
        path + ";jsessionid=x",
        "/%2e/" + path[1:],
        path + "/.",
    ]
    return [p for p in out if p != path]


def snapshot(s):
    a = admin(s)
    return (ok(call(s, "GET", "/api/users", auth=a)).json, ok(call(s, "GET", "/api/groups", auth=a)).json,
            [c["id"] for c in ok(call(s, "GET", "/api/trust", auth=a)).json["cas"]],
            ok(call(s, "GET", "/api/users/alice@localhost/certs", auth=a)).json, s.ctl("token", "list").stdout)


def test_hostile_paths_never_reach_a_handler(api):
    s = api()
    ctx = Ctx(s)
    ctx.group(["alice@localhost"])
    before = snapshot(s)
    tried = 0
    for method, pattern, perm, setup, good in ROUTES:
        path = placeholder(pattern).replace("x@localhost", "alice@localhost")
        body = {"jid": "mallory@localhost", "password": "p", "name": "mallory", "jids": ["bob@localhost"],
                "pem": "x", "pin": new_pin()} if method in ("POST", "PUT") else None
        for bad in hostile(path):
            for cred in (admin(s), None):
                r = call(s, method, bad, body, cred)
                tried += 1
                assert r.status in (400, 404), (method, bad, r)
                assert not r.header("set-cookie"), (method, bad, r)
    assert tried > 1000
    assert snapshot(s) == before
    # The server still serves.
    ok(call(s, "GET", "/api/users", auth=admin(s)))


# ---------------------------------------------------------------- throttle

def test_failed_passwords_are_throttled(api):
    """The defaults' shape with small numbers: a second per earlier
    failure (auth.fail_delay_max), then 429 past auth.fail_max, for
    Basic and the login alike, counted with XMPP logins."""
    s = api(options={"auth.fail_delay_max": 2, "auth.fail_max": 4, "auth.fail_max_address": 100})
    times = []
    for i in range(4):
        t0 = time.monotonic()
        r = call(s, "GET", "/api/users", auth=("basic", ADMIN, f"wrong{i}")) if i % 2 else login(s, password="x")
        times.append(time.monotonic() - t0)
        assert r.status == 401, (i, r)
    # 0, 1, 2, 2 s of waiting (capped at 2); PBKDF2 on top.
    assert times[0] < 1.5 and times[1] >= 0.9 and times[2] >= 1.9 and times[3] >= 1.9, times
    assert times[3] < 8, times
    # Past auth.fail_max: refused before any check, the right password too.
    for r in (login(s), call(s, "GET", "/api/users", auth=("basic", ADMIN, ADMIN_PW))):
        assert r.status == 429, r
        assert r.header("retry-after"), r.headers
    s.wait_log(r"refusing .* of admin@localhost without checking it: 4 failed logins")
    assert len(re.findall(r"sign-in refused: user=admin@localhost", s.log())) == 4
    # Other accounts from the address are not held back; tokens never are.
    ok(call(s, "GET", "/api/users", auth=admin(s)))
    ok(call(s, "POST", "/api/users", {"jid": "frank@localhost", "password": "pw"}, admin(s)), 201)


# ---------------------------------------------------------------- XMPP clients

def test_shared_group_from_the_api_in_a_stock_client_and_delete_ends_a_session(api):
    s = api()
    a = admin(s)
    for u in ("erin", "frank"):
        ok(call(s, "POST", "/api/users", {"jid": f"{u}@localhost", "password": f"{u}-pw"}, a), 201)
    ok(call(s, "POST", "/api/groups", {"name": "crew", "label": "The Crew", "shared": True}, a), 201)
    r = ok(call(s, "POST", "/api/groups/crew/members", {"jids": ["erin@localhost", "frank@localhost"]}, a))
    assert r.json["members"] == 2
    where = ("127.0.0.1", s.port)

    async def body(sessions):
        erin = Session("erin@localhost", "erin-pw", where, s.cert)
        frank = Session("frank@localhost", "frank-pw", where, s.cert)
        sessions += [erin, frank]
        await asyncio.gather(erin.login(), frank.login())
        roster = erin.x.client_roster
        assert "frank@localhost" in roster, list(roster)
        assert roster["frank@localhost"]["subscription"] == "both"
        assert "The Crew" in roster["frank@localhost"]["groups"]
        # Both online: the sessions list shows them.
        online = {x["jid"].split("/")[0] for x in ok(call(s, "GET", "/api/sessions", auth=a)).json["sessions"]}
        assert {"erin@localhost", "frank@localhost"} <= online, online
        # Deleted while online: its session ends at once.
        r = ok(call(s, "DELETE", "/api/users/frank@localhost", auth=a))
        assert r.json == {"jid": "frank@localhost", "ended": 1}, r
        assert await frank.until(lambda: any(n == "disconnected" for n, _ in frank.events), 10), frank.events
        # And an administrator may end a session without deleting anything.
        r = ok(call(s, "DELETE", "/api/sessions/erin@localhost", auth=a))
        assert r.json["ended"] == 1, r
        assert await erin.until(lambda: any(n == "disconnected" for n, _ in erin.events), 10), erin.events

    _run(body, 60)
    assert "frank@localhost" not in [u["jid"] for u in ok(call(s, "GET", "/api/users", auth=a)).json["users"]]
    s.wait_log(r"an administrator ended this session|policy-violation")


# ---------------------------------------------------------------- trust stores

def test_ca_upload_list_and_remove(api):
    s = api()
    a = admin(s)
    ctx = Ctx(s)
    pem = ctx.ca_pem()
    for store in ("client", "s2s"):
        r = ok(call(s, "POST", f"/api/trust?store={store}", {"pem": pem}, a), 201)
        ca_id = r.json["id"]
        assert r.json["store"] == store and r.json["reloaded"] is True, r
        listed = ok(call(s, "GET", f"/api/trust?store={store}", auth=a)).json
        assert [c["id"] for c in listed["cas"]] == [ca_id], listed
        assert listed["cas"][0]["subject"].startswith("CN=API test CA") and listed["cas"][0]["ca"] is True
        ok(call(s, "POST", f"/api/trust?store={store}", {"pem": pem}, a), 409)
        kind = "client certificate" if store == "client" else "s2s"
        s.wait_log(rf"reload asked by the admin API \(token ops\): reloaded the {kind} trust store "
                   r".*: 1 CA certificate")
        r = ok(call(s, "DELETE", f"/api/trust/{ca_id}?store={store}", auth=a))
        assert r.json["removed"] == [ca_id], r
        assert ok(call(s, "GET", f"/api/trust?store={store}", auth=a)).json["cas"] == []
        ok(call(s, "DELETE", f"/api/trust/{ca_id}?store={store}", auth=a), 404)
    # Not a CA: the host's own certificate; and garbage.
    with open(s.cert) as f:
        leaf = f.read()
    for bad in (leaf, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", "garbage"):
        r = call(s, "POST", "/api/trust", {"pem": bad}, a)
        assert r.status == 422, r
        assert r.json["error"].endswith((".", ")")) or " " in r.json["error"], r
    r = call(s, "POST", "/api/trust", {"pem": leaf}, a)
    assert "not a CA" in r.json["error"], r
    ok(call(s, "GET", "/api/trust?store=nope", auth=a), 400)
    assert ok(call(s, "GET", "/api/trust", auth=a)).json["cas"] == []


# ---------------------------------------------------------------- metrics

def scrape(server):
    r = ok(call(server, "GET", "/metrics", auth=("bearer", server.read_token)))
    assert r.header("content-type") == ["text/plain; version=0.0.4; charset=utf-8"], r.headers
    fams = {f.name: f for f in text_string_to_metric_families(r.text)}
    return [smp for f in fams.values() for smp in f.samples], fams


def value(samples, name, **labels):
    return sum(x.value for x in samples if x.name == name and all(x.labels.get(k) == v for k, v in labels.items()))


def test_metrics_after_known_traffic(api):
    s = api()
    before, fams = scrape(s)
    assert fams["parley_authentications"].type == "counter"
    ok0 = value(before, "parley_authentications_total", stream="c2s", result="success")
    bad0 = value(before, "parley_authentications_total", stream="c2s", result="failure")
    assert exchange("alice@localhost", PW, ("127.0.0.1", s.port), "bob@localhost", PW, ("127.0.0.1", s.port),
                    "counted", sender_ca=s.cert, recipient_ca=s.cert)

    async def wrong(sessions):
        x = Session("carol@localhost", "wrong", ("127.0.0.1", s.port), s.cert)
        sessions.append(x)
        x.x.connect(x.x.test_address)
        assert await x.until(lambda: any(n in ("failed_all_auth", "no_auth") for n, _ in x.events), 20), x.events

    _run(wrong, 40)
    deadline = time.monotonic() + 10
    while True:
        after, _ = scrape(s)
        okn = value(after, "parley_authentications_total", stream="c2s", result="success") - ok0
        badn = value(after, "parley_authentications_total", stream="c2s", result="failure") - bad0
        if (okn, badn >= 1) == (2, True) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert okn == 2 and badn >= 1, (okn, badn)
    # The scrape itself comes over an HTTP connection: the gauge sees it.
    assert value(after, "parley_connections", kind="http") >= 1, after
    assert value(after, "process_open_fds") > 0


# ---------------------------------------------------------------- the web page

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png_colours(path, rows=160):
    """Distinct colours in the first `rows` rows of an 8-bit RGB(A) PNG:
    a small decoder (zlib and the five filters), enough to tell a page
    from a blank one."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == PNG_SIG, f"{path} is not a PNG"
    pos, idat, w = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and ctype in (2, 6), (path, depth, ctype)
            bpp = 4 if ctype == 6 else 3
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
        pos += 12 + n
    raw = zlib.decompressobj().decompress(b"".join(idat), (w * bpp + 1) * min(rows, h))
    stride = w * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(min(rows, h, len(raw) // (stride + 1))):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, bpp * 2):
            colours.add(bytes(line[x:x + 3]))
        prev = line
    return colours


@pytest.fixture(scope="module")
def dns():
    d = Dns().start()
    yield d
    d.cleanup()


@pytest.mark.parametrize("workers", [1, 2])
def test_web_page_in_chromium_with_a_federation_link(dns, tmp_path, workers, request):
    node = shutil.which("node")
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not node or not os.path.exists(chromium) or not os.path.isdir(os.path.join(JS_DIR, "node_modules")):
        pytest.skip("node, chromium or tests/integration/js/node_modules missing")
    pki = Pki(str(tmp_path / "pki"))
    # Certificates from one CA both trust: links authenticate with SASL
    # EXTERNAL, as in test_federation.
    root = pki.ca("root")
    opts = {"s2s.idle_timeout": 600, "admins": ["admin@a.test"]}
    a = ParleyPeer("a.test", dns, pki, ca=root, trust=[root], workers=workers, options=opts)
    b = ParleyPeer("b.test", dns, pki, ca=root, trust=[root], workers=workers, options={"s2s.idle_timeout": 600})
    peers = [a, b]
    try:
        a.start()
        b.start()
        a.server.add_user("admin@a.test", ADMIN_PW)
        a.user("alice")
        b.user("bob")
        # A real link: a message from a.test to b.test.
        assert exchange("alice@a.test", PW, a.c2s_address, "bob@b.test", PW, b.c2s_address, "over the link",
                        sender_ca=a.client_cafile, recipient_ca=b.client_cafile)
        ca = pki.ca("webca", cn="Web page test CA")
        name = request.node.name.replace("[", "-").replace("]", "")
        out = os.path.join(ARTIFACTS, name) if ARTIFACTS else str(tmp_path / "screenshots")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        print(f"screenshots of the web admin page: {out}")
        env = dict(os.environ, PARLEY_ADMIN_PASSWORD=ADMIN_PW, CHROMIUM=chromium)
        p = subprocess.run([node, "admin_page.mjs", "--url", f"{a.server.admin_url}/admin/", "--jid", "admin@a.test",
                            "--ca", os.path.join(ca, "ca.crt"), "--domain", "b.test", "--out", out,
                            "--timeout", "20000", "--link-wait", "10000", "--chromium", chromium, "--cleanup"],
                           cwd=JS_DIR, env=env, capture_output=True, text=True, timeout=600)
        lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
        assert lines, f"no JSON line from admin_page.mjs ({p.returncode}):\n{p.stdout}\n{p.stderr}"
        result = json.loads(lines[-1])
        with open(os.path.join(out, "result.json"), "w") as f:
            json.dump(result, f, indent=1)
        assert p.returncode == 0 and result["ok"], f"{result}\n{p.stderr[-3000:]}"
        assert result["user"]["listed"] and result["user"]["created"] and result["user"]["password_reset"], result
        assert result["group"]["members"] == [result["user"]["jid"]], result
        assert result["ca"]["listed"], result
        assert result["link"]["shown"] and result["link"]["row"]["remote"] == "b.test", result
        assert result["logged_out"] and result.get("cleanup"), result
        assert not result["csp_violations"] and not result["page_errors"], result
        assert (result["csp_header"] or "").startswith("default-src 'none'"), result
        for name in ("login.png", "users.png", "groups.png", "trust.png", "sessions.png", "federation.png"):
            path = os.path.join(out, name)
            assert name in result["screenshots"] and os.path.getsize(path) > 1000, name
            colours = png_colours(path)
            assert len(colours) > 20, (name, len(colours))
        # What the page did went through the API: the log says who.
        a.server.wait_log(r"admin@a\.test signed in to the web admin page")
        a.server.wait_log(r"admin@a\.test created the account webtest-")
        a.server.wait_log(r"admin@a\.test trusted \"CN=Web page test CA\"")
    finally:
        for peer in peers:
            if peer.server.proc is not None:
                peer.stop()
