"""End-to-end tests of the agents' desk (issue #4): accounts, sessions, roles, CSRF, the queue,
replies, notes, canned replies, assignment, statuses, merging, the audit log, and mail through
the outbox to a local SMTP sink.

Imported by run.py; registers its tests with the shared runner. Every test starts its own server
on a fresh data directory (login throttling and the creation rate limits are kept in the
database), creates its accounts with `spravka user add` while the server runs, and reads the
database through harness.db (SQLite or PostgreSQL) to see what changed.
"""

import email
import email.policy
import html
import json
import os
import re
import select
import subprocess
import sys
import time
from urllib.parse import quote, unquote, urlencode

from harness import (BIN, Fail, Server, base_config, check, cli, contains, count, db, eq, finish, free_port, lacks, sql,  # noqa: F401
                     new_dir, short, test, wait_for)
from htmlcheck import Page, check_html

CYRILLIC = re.compile("[а-яА-ЯёЁ]")
NUMBER = re.compile(r"R-\d{4}-\d{6}")
PASSWORD = "кот-в-сапогах 2026"  # UTF-8, spaces: passed through stdin as typed
SINK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smtp_sink.py")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SESSION = "spravka_session"
LOGIN_CSRF = "spravka_login_csrf"

PNG = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
       + b"\x90wS\xde" + b"\x00\x00\x00\x00IEND\xaeB`\x82")
PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
       b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")


# ---- servers, accounts, the database -----------------------------------------------------------


def server(name, **cfg):
    """A server on a fresh data directory; cfg: extra INI sections ({"mail": {...}})."""
    return Server("desk-" + name, base_config(**cfg)).start()




def user_add(data, *args, password=PASSWORD, stdin=None):
    """spravka user add ARGS --data DATA with the password on stdin: (exit code, stderr)."""
    raw = stdin if stdin is not None else (password + "\n").encode()
    p = subprocess.run([BIN, *cli("user", "add", *args, "--data", data)], input=raw, capture_output=True,
                       timeout=20)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def account(s, login, role):
    rc, err = user_add(s.data, "--role", role, "--login", login)
    check(rc == 0, f"user add {login} ({role}) exited {rc}: {short(err)}")
    return login




def sql_write(s, query, *args):
    """One change behind the server's back (to move a time into the past)."""
    return s.db().execute(query, args)


def one(s, query, *args):
    rows = sql(s, query, *args)
    eq(len(rows), 1, f"rows of {query!r} {args!r}")
    return rows[0][0] if len(rows[0]) == 1 else rows[0]




TABLES = ("requests", "messages", "attachments", "audit", "outbox", "canned_replies", "sessions", "users")


def snapshot(s):
    return {t: sorted(sql(s, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def same_db(s, before, what):
    after = snapshot(s)
    changed = [t for t in TABLES if after[t] != before[t]]
    check(not changed, f"{what}: tables changed: {changed}")


# ---- members' requests ------------------------------------------------------------------------

_member = [0]


def member():
    """A member ID no other request uses (7 digits), so no request is a duplicate of another."""
    _member[0] += 1
    return str(4300000 + _member[0])


def new_request(s, **over):
    """Creates a request through POST /api/v1/requests; returns {number, status, url, ...fields}."""
    f = {"member_id": member(), "name": "Мария Иванова", "email": f"m{_member[0]}@example.com",
         "phone": "+7 912 345-67-89", "country": "RU", "topic": "payouts",
         "subject": f"Не пришла выплата №{_member[0]}",
         "description": f"Выплата за октябрь не пришла на карту, прошло уже две недели ({_member[0]})."}
    f.update(over)
    f = {k: v for k, v in f.items() if v is not None}
    r = s.req("/api/v1/requests", "POST", {"Content-Type": "application/json"},
              json.dumps(f, ensure_ascii=False).encode())
    eq(r.status, 201, f"creating a request ({short(r.body)})")
    j = r.json()
    check(NUMBER.fullmatch(j["number"]), f"number {j['number']!r}")
    return dict(f, **j)


def multipart(pairs, files=()):
    boundary = "----spravkaDeskE2E" + os.urandom(12).hex()
    out = []
    for k, v in pairs:
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n".encode())
        out.append(v.encode())
        out.append(b"\r\n")
    for field, fname, data, ctype in files:
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"".encode()
                   + fname.encode() + f"\"\r\nContent-Type: {ctype}\r\n\r\n".encode())
        out.append(data)
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def member_reply(s, url, text):
    """The member answers through the private link's form."""
    page = s.req(url)
    eq(page.status, 200, "member page")
    token = hidden(page.text, r'<form class="request"[^>]*>.*?</form>')["form_token"]
    body, ctype = multipart([("message", text), ("form_token", token)])
    r = s.req(url, "POST", {"Content-Type": ctype}, body)
    eq(r.status, 303, f"member reply ({short(r.body)})")


def status_of(s, number):
    return one(s, "SELECT status FROM requests WHERE number = ?", number)


# ---- pages ------------------------------------------------------------------------------------


def hidden(text, block=None):
    """{name: value} of the hidden inputs of text (or of the first match of the regex block)."""
    if block:
        m = re.search(block, text, re.S)
        check(m, f"no {block!r} on the page")
        text = m.group(0)
    return {e["attrs"]["name"]: e["attrs"].get("value", "") for e in Page(text).find("input", type="hidden")}


def valid_html(r, what):
    problems = check_html(r.text)
    check(not problems, f"{what}: HTML problems: {problems[:3]}")


def cookie(r, name):
    """(value, {attribute: value}) of the Set-Cookie of name, attribute names lower-cased."""
    sc = r.header("set-cookie") or ""
    parts = [p.strip() for p in sc.split(";")]
    k, _, v = parts[0].partition("=")
    eq(k, name, f"cookie set (Set-Cookie: {sc!r})")
    attrs = {}
    for p in parts[1:]:
        a, _, b = p.partition("=")
        attrs[a.strip().lower()] = b.strip()
    return v, attrs


def queue(agent, **params):
    """Numbers listed in the queue with these filters, and the counts per status."""
    r = agent.get("/desk" + ("?" + urlencode(params) if params else ""))
    eq(r.status, 200, f"queue {params}")
    numbers = re.findall(r'<tr><td><a href="/desk/r/(R-\d{4}-\d{6})">', r.text)
    counts = {k: int(v) for k, v in re.findall(r'href="/desk\?status=(\w+)">[^<]*<strong>(\d+)</strong>', r.text)}
    eq(sorted(counts), sorted(["new", "open", "waiting", "resolved", "closed"]), "statuses counted")
    return numbers, counts


# ---- login ------------------------------------------------------------------------------------


def login_form(s, path="/desk/login"):
    """GET the login form: (its double-submit cookie, its hidden fields)."""
    r = s.req(path)
    eq(r.status, 200, "login form")
    tok, _ = cookie(r, LOGIN_CSRF)
    return tok, hidden(r.text, r'<form class="request".*?</form>')


def login(s, name, password, nxt=None, form=None):
    tok, fields = form or login_form(s)
    data = {"csrf": fields["csrf"], "next": fields.get("next", "") if nxt is None else nxt,
            "login": name, "password": password}
    return s.req("/desk/login", "POST", FORM, urlencode(data).encode(), cookie=f"{LOGIN_CSRF}={tok}")


class Agent:
    """A signed-in desk account: its session cookie and CSRF token."""

    def __init__(self, s, name, password=PASSWORD, role_page="/desk"):
        self.s, self.name = s, name
        r = login(s, name, password)
        eq(r.status, 303, f"login of {name} ({short(r.body)})")
        self.token, self.attrs = cookie(r, SESSION)
        self.cookie = f"{SESSION}={self.token}"
        self.csrf = None
        page = self.get(role_page)
        if page.status == 200:
            self.csrf = hidden(page.text, r'<form action="/desk/logout".*?</form>')["csrf"]

    def get(self, path):
        return self.s.req(path, cookie=self.cookie)

    def post(self, path, data, csrf=True):
        d = dict(data)
        if csrf and "csrf" not in d:
            d["csrf"] = self.csrf
        d = {k: v for k, v in d.items() if v is not None}
        return self.s.req(path, "POST", FORM, urlencode(d).encode(), cookie=self.cookie)

    def act(self, number, want=303, **data):
        r = self.post(f"/desk/r/{number}", data)
        eq(r.status, want, f"{data.get('action')} on {number} ({short(r.body)})")
        if want == 303:
            eq(r.header("location"), f"/desk/r/{number}", "Location after the action")
        return r


def to_login(r, path, what):
    """An anonymous request to a desk path: 303 to /desk/login?next=<path>."""
    eq(r.status, 303, f"{what}: status")
    eq(r.header("location"), "/desk/login?next=" + quote(path, safe=""), f"{what}: Location")


def user_id(s, name):
    return one(s, "SELECT id FROM users WHERE login = ?", name)


def audit_rows(s, number):
    return sql(s, "SELECT u.login, a.action, a.detail, a.at FROM audit a LEFT JOIN users u ON u.id = a.user_id "
                  "JOIN requests r ON r.id = a.request_id WHERE r.number = ? ORDER BY a.id", number)


def avoid_window_edge(window, need):
    """Login failures are counted in fixed windows of `window` seconds: start a test that needs
    `need` seconds in one window only when that many are left."""
    left = window - time.time() % window
    if left < need:
        time.sleep(left + 0.2)


# ---- mail -------------------------------------------------------------------------------------


class Sink:
    """tests/e2e/smtp_sink.py on a free port, writing to its own directory."""

    def __init__(self, *extra, seconds=25):
        self.dir = new_dir("sink")
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, SINK, str(self.port), self.dir, "--seconds", str(seconds),
                                      *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 5
        line = b""
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            ch = os.read(self.proc.stdout.fileno(), 1)
            if not ch:
                break
            line += ch
        if line.strip() != b"ready":
            self.stop()
            raise Fail(f"smtp sink did not start: {line!r} {self.proc.stderr.read()[:300]!r}")

    def relay(self):
        return {"mail": {"relay": f"smtp://127.0.0.1:{self.port}", "from": "desk@example.org"}}

    def messages(self):
        out = []
        for n in sorted(os.listdir(self.dir)):
            if n.endswith(".eml"):
                with open(os.path.join(self.dir, n), "rb") as f:
                    out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
        return out

    def wait(self, n, timeout=6):
        return wait_for(lambda: len(self.messages()) >= n and self.messages(), timeout,
                        f"{n} letters in the sink")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        self.proc.stdout.close()
        self.proc.stderr.close()


def text_of(msg):
    return msg.get_content() if not msg.is_multipart() else msg.get_body(("plain",)).get_content()


# =============================================================================================
# Accounts
# =============================================================================================


@test("desk: user add: password from stdin; bad role, short/empty password, bad or taken login refused")
def _():
    data = os.path.join(new_dir("desk-users"), "data")
    rc, err = user_add(data, "--role", "agent", "--login", "anna")
    eq(rc, 0, f"user add anna: {short(err)}")
    rc, err = user_add(data, "--role", "admin", "--login", "boss.1", stdin=b"0123456789")
    eq(rc, 0, f"user add with a 10-byte password without a newline: {short(err)}")
    refused = [
        (("--role", "root", "--login", "x1"), PASSWORD, "role"),
        (("--role", "agent", "--login", "x2"), "short pw", "password"),
        (("--role", "agent", "--login", "x3"), "", "password"),
        (("--role", "agent", "--login", "x4"), "a" * 1025, "password"),
        (("--role", "agent", "--login", "Анна"), PASSWORD, "login"),
        (("--role", "agent", "--login", "a"), PASSWORD, "login"),
        (("--role", "editor", "--login", "anna"), PASSWORD, "taken"),
        (("--login", "x5"), PASSWORD, "usage"),
        (("--role", "agent"), PASSWORD, "usage"),
    ]
    for args, pw, word in refused:
        rc, err = user_add(data, *args, password=pw)
        check(rc not in (0, None), f"user add {args} with a {len(pw)}-byte password: exit code {rc}")
        check(word in err, f"user add {args}: the message does not say {word!r}: {short(err)}")
    rows = db(data).query("SELECT login, role, password_hash FROM users ORDER BY id")
    eq([r[:2] for r in rows], [("anna", "agent"), ("boss.1", "admin")], "accounts stored")
    for name, _, h in rows:
        check(h.startswith("$argon2id$"), f"{name}: the password is not an Argon2id hash: {h[:20]!r}")
        check(PASSWORD not in h and "0123456789" not in h, f"{name}: the password is stored as typed")


# =============================================================================================
# Login, sessions, logout, throttling
# =============================================================================================


@test("desk: login: wrong password -> 401 in Russian, login kept; right one -> session cookie, next= kept")
def _():
    s = server("login")
    account(s, "anna", "agent")
    # Anonymous: to the login page, with the page asked for.
    to_login(s.req("/desk/r/R-2026-000001"), "/desk/r/R-2026-000001", "anonymous request view")
    tok, fields = login_form(s, "/desk/login?next=" + quote("/desk/r/R-2026-000001", safe=""))
    eq(fields.get("next"), "/desk/r/R-2026-000001", "next= carried by the login form")
    # The login form's own double-submit token: without it, or with another one, 403.
    for ck in (None, f"{LOGIN_CSRF}={'A' * 43}"):
        r = s.req("/desk/login", "POST", FORM, urlencode({"csrf": fields["csrf"], "login": "anna",
                                                          "password": PASSWORD}).encode(), cookie=ck)
        eq(r.status, 403, f"login without its form cookie ({ck})")
        check(not (r.header("set-cookie") or "").startswith(SESSION), "a session was given")
    # Wrong password, unknown login: the same refusal, what was typed kept (not the password).
    for name in ("anna", "nobody"):
        r = login(s, name, "неверный пароль 123", form=(tok, fields))
        eq(r.status, 401, f"wrong password for {name}")
        valid_html(r, "refused login page")
        p = Page(r.text)
        contains(p.text, "Неверный логин или пароль", what="refused login page")
        eq(p.find("input", name="login")[0]["attrs"].get("value"), name, "login kept")
        eq(p.find("input", name="password")[0]["attrs"].get("value"), None, "password echoed")
        lacks(r.text, "неверный пароль 123", what="refused login page")
        check(not (r.header("set-cookie") or "").startswith(SESSION), "a session cookie for a wrong password")
        eq(hidden(r.text, r'<form class="request".*?</form>').get("next"), "/desk/r/R-2026-000001",
           "next= kept after a wrong password")
    eq(count(s, "sessions"), 0, "sessions after refused logins")
    # The right password: a session cookie, to the page asked for.
    r = login(s, "anna", PASSWORD, form=(tok, fields))
    eq(r.status, 303, f"login ({short(r.body)})")
    eq(r.header("location"), "/desk/r/R-2026-000001", "Location after login (next=)")
    value, attrs = cookie(r, SESSION)
    check(re.fullmatch(r"[A-Za-z0-9_-]{43}", value), f"session token {value!r}")
    check("httponly" in attrs, f"no HttpOnly: {attrs}")
    eq(attrs.get("samesite", "").lower(), "lax", "SameSite")
    eq(attrs.get("path"), "/", "Path")
    check("secure" not in attrs, "Secure without secure_cookies (plain HTTP)")
    # Only the token's hash is stored.
    eq(count(s, "sessions", "token_hash = ?", value), 0, "the session token itself is stored")
    eq(count(s, "sessions"), 1, "sessions")
    r = s.req("/desk", cookie=f"{SESSION}={value}")
    eq(r.status, 200, "queue with the session")
    contains(r.text, "anna", what="queue")
    # next= never leads away from the desk.
    for bad in ("https://evil.example/desk", "//evil.example/x", "/desk\\@evil", "/a/taxes"):
        tok2, f2 = login_form(s)
        r = login(s, "anna", PASSWORD, nxt=bad, form=(tok2, f2))
        eq((r.status, r.header("location")), (303, "/desk"), f"Location for next={bad!r}")
    finish(s)


@test("desk: secure_cookies = 1 -> Secure on the login, session and logout cookies")
def _():
    s = server("secure", server={"secure_cookies": "1"})
    account(s, "anna", "agent")
    r = s.req("/desk/login")
    _, attrs = cookie(r, LOGIN_CSRF)
    check("secure" in attrs and "httponly" in attrs, f"login form cookie: {attrs}")
    a = Agent(s, "anna")
    check("secure" in a.attrs and "httponly" in a.attrs, f"session cookie: {a.attrs}")
    eq(a.attrs.get("samesite", "").lower(), "lax", "SameSite")
    r = a.post("/desk/logout", {})
    eq(r.status, 303, "logout")
    v, attrs = cookie(r, SESSION)
    eq(v, "", "the cookie is emptied")
    eq(attrs.get("max-age"), "0", "Max-Age of the emptied cookie")
    check("secure" in attrs, f"the emptying cookie lacks Secure (it must match the one it replaces): {attrs}")
    finish(s)


@test("desk: logout with CSRF ends the session; without CSRF -> 403, session kept; expired session refused")
def _():
    s = server("logout")
    account(s, "anna", "agent")
    a, b = Agent(s, "anna"), Agent(s, "anna")
    eq(count(s, "sessions"), 2, "sessions of two logins")
    # Session lifetime: 12 h, the same in the cookie and the database.
    eq(a.attrs.get("max-age"), "43200", "Max-Age of the session cookie")
    created, expires = one(s, "SELECT created, expires FROM sessions ORDER BY created LIMIT 1")
    eq(expires - created, 43200, "session lifetime in the database")
    for data in ({"csrf": None}, {"csrf": ""}, {"csrf": "x" * 43}, {"csrf": b.csrf}):
        r = a.post("/desk/logout", data)
        eq(r.status, 403, f"logout with csrf={data['csrf']!r}")
        check(CYRILLIC.search(Page(r.text).text), "403 page not Russian")
        eq(a.get("/desk").status, 200, "the session after a refused logout")
    r = a.post("/desk/logout", {})
    eq(r.status, 303, "logout")
    eq(r.header("location"), "/desk/login", "Location after logout")
    to_login(a.get("/desk"), "/desk", "the old cookie after logout")
    eq(count(s, "sessions"), 1, "sessions after one logout")
    eq(b.get("/desk").status, 200, "the other session")
    # An expired session opens nothing (the lifetime is fixed; the clock is moved in the database).
    sql_write(s, "UPDATE sessions SET expires = ?", int(time.time()) - 1)
    to_login(b.get("/desk/canned"), "/desk/canned", "an expired session")
    finish(s)


@test("desk: 5 wrong passwords for one login from one client -> 429 there even with the right one; other logins unaffected")
def _():
    avoid_window_edge(900, 5)
    s = server("throttle-login")
    account(s, "anna", "agent")
    account(s, "boris", "agent")
    form = login_form(s)
    for i in range(5):
        eq(login(s, "anna", f"неверный {i} пароль", form=form).status, 401, f"wrong password {i + 1}")
    r = login(s, "anna", PASSWORD, form=form)
    eq(r.status, 429, "the right password while throttled")
    check(not (r.header("set-cookie") or "").startswith(SESSION), "a session while throttled")
    contains(Page(r.text).text, "Слишком много", what="429 page")
    valid_html(r, "429 page")
    eq(count(s, "sessions"), 0, "sessions")
    eq(login(s, "boris", PASSWORD, form=form).status, 303, "another login from the same address")
    finish(s)


@test("desk: 20 wrong logins from one address -> 429 for every login, even a right password")
def _():
    avoid_window_edge(900, 8)
    s = server("throttle-ip")
    account(s, "anna", "agent")
    form = login_form(s)
    for i in range(20):  # 4 tries each for 5 logins: no login reaches its own limit
        r = login(s, f"user{i % 5}", "неверный пароль", form=form)
        eq(r.status, 401, f"wrong login {i + 1}")
    r = login(s, "anna", PASSWORD, form=form)
    eq(r.status, 429, "a right password from a throttled address")
    eq(count(s, "sessions"), 0, "sessions")
    finish(s)


# =============================================================================================
# Roles and CSRF
# =============================================================================================

DESK_GETS = ["/desk", "/desk/r/{n}", "/desk/f/{f}", "/desk/canned", "/desk/outbox"]


@test("desk: roles: anonymous -> login; editor -> its articles from /desk, 403 on the agents' pages; agent and "
      "admin -> 200; nothing changed")
def _():
    s = server("roles")
    account(s, "anna", "agent")
    account(s, "eddy", "editor")
    account(s, "boss", "admin")
    body, ctype = multipart([("member_id", member()), ("name", "Олег"), ("email", "oleg@example.com"),
                             ("country", "RU"), ("topic", "payouts"), ("subject", "Скриншот выплаты"),
                             ("description", "Прикладываю скриншот, выплата не дошла до карты.")],
                            [("attachments", "scan.png", PNG, "image/png")])
    r = s.req("/api/v1/requests", "POST", {"Content-Type": ctype}, body)
    eq(r.status, 201, f"request with a file ({short(r.body)})")
    n = r.json()["number"]
    f = one(s, "SELECT id FROM attachments")
    paths = [p.format(n=n, f=f) for p in DESK_GETS]
    for p in paths + ["/desk?status=all&topic=payouts"]:
        to_login(s.req(p), p, f"anonymous GET {p}")  # the query comes back after login too
    before = snapshot(s)
    posts = [(f"/desk/r/{n}", {"action": "note", "text": "аноним"}),
             (f"/desk/r/{n}", {"action": "status", "status": "closed"}),
             ("/desk/canned", {"title": "т", "body": "т"}), ("/desk/logout", {})]
    for p, d in posts:
        r = s.req(p, "POST", FORM, urlencode(d).encode())
        to_login(r, p, f"anonymous POST {p}")
    same_db(s, before, "anonymous POSTs")
    eddy = Agent(s, "eddy")
    check(eddy.csrf is None, "an editor got the desk page")
    before = snapshot(s)  # with the editor's session
    csrf = one(s, "SELECT csrf FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.login = 'eddy'")
    for p in paths:
        r = eddy.get(p)
        if p == "/desk":  # issue #10: the desk's home of an editor is the articles, not a 403
            eq((r.status, r.header("location")), (303, "/desk/articles"), "editor GET /desk")
            continue
        eq(r.status, 403, f"editor GET {p}")
        valid_html(r, "403 page")
        check(CYRILLIC.search(Page(r.text).text), "403 page not Russian")
    for p, d in posts[:3]:
        eq(eddy.post(p, dict(d, csrf=csrf)).status, 403, f"editor POST {p} with its session's token")
    same_db(s, before, "an editor's POSTs")
    r = eddy.post("/desk/logout", {"csrf": csrf})
    eq(r.status, 303, "an editor signs out")
    to_login(eddy.get("/desk"), "/desk", "the editor's session after logout")
    for name in ("anna", "boss"):
        a = Agent(s, name)
        for p in paths:
            r = a.get(p)
            eq(r.status, 200, f"{name} GET {p}")
        a.act(n, action="note", text=f"заметка {name}")
    eq(count(s, "messages", "internal = 1"), 2, "notes of the agent and the admin")
    finish(s)


@test("desk: CSRF: every desk POST without the session's token or with a wrong one -> 403, nothing changed")
def _():
    s = server("csrf")
    account(s, "anna", "agent")
    account(s, "boris", "agent")
    a, b = Agent(s, "anna"), Agent(s, "boris")
    r1, r2 = new_request(s), new_request(s)
    n = r1["number"]
    bid = user_id(s, "boris")
    actions = [
        (f"/desk/r/{n}", {"action": "reply", "text": "Ответ без токена", "status": "resolved"}),
        (f"/desk/r/{n}", {"action": "note", "text": "Заметка без токена"}),
        (f"/desk/r/{n}", {"action": "assign", "assignee": str(bid)}),
        (f"/desk/r/{n}", {"action": "status", "status": "closed"}),
        (f"/desk/r/{n}", {"action": "merge", "target": r2["number"]}),
        (f"/desk/r/{n}", {"action": "merge-confirm", "target": r2["number"]}),
        ("/desk/canned", {"title": "Шаблон", "body": "Текст шаблона"}),
        ("/desk/logout", {}),
    ]
    before = snapshot(s)
    for path, data in actions:
        for bad in (None, "", a.csrf[:-1] + ("A" if a.csrf[-1] != "A" else "B"), b.csrf, a.csrf + "x"):
            r = a.post(path, dict(data, csrf=bad))
            eq(r.status, 403, f"{data.get('action', path)} with csrf={bad!r}")
            valid_html(r, "403 page")
    # The token in the query string is not the form's token either.
    r = s.req(f"/desk/r/{n}?csrf={a.csrf}", "POST", FORM, urlencode(actions[1][1]).encode(), cookie=a.cookie)
    eq(r.status, 403, "csrf in the query string")
    same_db(s, before, "refused POSTs")
    # With the token every one of them works (so the 403s above were the token's doing).
    for path, data in actions[:2]:
        eq(a.post(path, data).status, 303, f"{data['action']} with the token")
    eq(count(s, "messages", "body LIKE '%без токена'"), 2, "messages after the accepted POSTs")
    finish(s)


# =============================================================================================
# The queue
# =============================================================================================


@test("desk: queue lists API requests; status, topic, country, assignee and age filters; counts")
def _():
    s = server("queue")
    account(s, "anna", "agent")
    account(s, "boris", "agent")
    a, b = Agent(s, "anna"), Agent(s, "boris")
    numbers, counts = queue(a)
    eq(numbers, [], "an empty queue")
    eq(counts, {"new": 0, "open": 0, "waiting": 0, "resolved": 0, "closed": 0}, "counts of nothing")
    contains(a.get("/desk").text, "Обращений нет", what="empty queue")
    reqs = [new_request(s, topic="payouts", country="RU"),
            new_request(s, topic="registration", country="KZ"),
            new_request(s, topic="payouts", country="KZ"),
            new_request(s, topic="other", country="DE"),
            new_request(s, topic="registration", country="RU"),
            new_request(s, topic="payouts", country="BY")]
    n = [r["number"] for r in reqs]
    numbers, counts = queue(a)
    eq(sorted(numbers), sorted(n), "the queue lists every new request")
    eq(counts["new"], 6, "count of new")
    for r in reqs:
        contains(a.get("/desk").text, html.escape(r["subject"], quote=False), r["member_id"], what="queue")
    # Statuses: 1 open (assigned to anna), 2 waiting (assigned to boris), 3 resolved, 4 closed.
    a.act(n[1], action="assign", assignee=str(user_id(s, "anna")))
    b.act(n[2], action="assign", assignee=str(user_id(s, "boris")))
    b.act(n[2], action="status", status="waiting")
    a.act(n[3], action="status", status="resolved")
    a.act(n[4], action="status", status="closed")
    numbers, counts = queue(a)
    eq(sorted(numbers), sorted([n[0], n[1], n[2], n[5]]), "default queue: new, open and waiting")
    eq(counts, {"new": 2, "open": 1, "waiting": 1, "resolved": 1, "closed": 1}, "counts per status")
    eq(sum(counts.values()), count(s, "requests", "merged_into IS NULL"), "counts add up to the requests")
    for st, want in (("new", [n[0], n[5]]), ("open", [n[1]]), ("waiting", [n[2]]), ("resolved", [n[3]]),
                     ("closed", [n[4]]), ("all", n)):
        eq(sorted(queue(a, status=st)[0]), sorted(want), f"status={st}")
        check(len(queue(a, status=st)[0]) == counts.get(st, len(n)), f"count of {st} vs the list")
    eq(sorted(queue(a, status="all", topic="payouts")[0]), sorted([n[0], n[2], n[5]]), "topic=payouts")
    eq(sorted(queue(a, status="all", country="KZ")[0]), sorted([n[1], n[2]]), "country=KZ")
    eq(sorted(queue(a, status="all", country="KZ", topic="registration")[0]), [n[1]], "country and topic")
    eq(queue(a, status="all", assignee="me")[0], [n[1]], "assignee=me for anna")
    eq(queue(b, status="all", assignee="me")[0], [n[2]], "assignee=me for boris")
    eq(sorted(queue(a, status="all", assignee="none")[0]), sorted([n[0], n[3], n[4], n[5]]), "assignee=none")
    eq(queue(a, status="bogus")[0], [], "an unknown status lists nothing")
    # Age: requests created more than N days ago.
    day = 86400
    sql_write(s, "UPDATE requests SET created = created - ? WHERE number = ?", 10 * day, n[0])
    sql_write(s, "UPDATE requests SET created = created - ? WHERE number = ?", 3 * day, n[5])
    eq(sorted(queue(a, age="2")[0]), sorted([n[0], n[5]]), "age=2")
    eq(queue(a, age="5")[0], [n[0]], "age=5")
    eq(queue(a, age="11")[0], [], "age=11")
    eq(sorted(queue(a, age="0")[0]), sorted([n[0], n[1], n[2], n[5]]), "age=0")
    finish(s)


# =============================================================================================
# One request: conversation, files, audit
# =============================================================================================


@test("desk: request view: conversation, files served to agents only with safe headers, audit log")
def _():
    s = server("view")
    account(s, "anna", "agent")
    account(s, "eddy", "editor")
    a = Agent(s, "anna")
    desc = "Выплата не пришла, прикладываю скриншот и выписку <b>из банка</b> & договор."
    fname = "выписка <банк> & 'копия'.pdf"
    body, ctype = multipart([("member_id", member()), ("name", "Олег Сидоров"), ("email", "oleg@example.com"),
                             ("phone", "+7 912 000-11-22"), ("country", "KZ"), ("topic", "payouts"),
                             ("subject", "Выплата за сентябрь"), ("description", desc)],
                            [("attachments", "скрин.png", PNG, "image/png"),
                             ("attachments", fname, PDF, "application/pdf")])
    r = s.req("/api/v1/requests", "POST", {"Content-Type": ctype}, body)
    eq(r.status, 201, f"request with files ({short(r.body)})")
    j = r.json()
    n, url = j["number"], j["url"]
    member_reply(s, url, "Добавлю: карта Kaspi, номер заказа 555.")
    a.act(n, action="note", text="Проверить в банке")
    a.act(n, action="reply", text="Проверяем, ответим завтра.")
    page = a.get(f"/desk/r/{n}")
    eq(page.status, 200, "request view")
    valid_html(page, "request view")
    eq(page.header("cache-control"), "no-store", "Cache-Control of the request view")
    p = Page(page.text)
    eq(p.texts("h1"), [f"{n}: Выплата за сентябрь"], "h1")
    contains(page.text, html.escape(desc, quote=False), "Олег Сидоров", "oleg@example.com", "+79120001122",
             "Казахстан", "Выплаты", what="request view (country and topic by name)")
    lacks(page.text, "<b>из банка</b>", what="request view")
    msgs = p.find("li", cls="msg")
    eq(len(msgs), 4, "messages in the conversation")
    eq([" ".join(m["text"].split()) for m in msgs][0].count("Выплата не пришла"), 1, "first message")
    texts = [" ".join(m["text"].split()) for m in msgs]
    check("Карта Kaspi".lower() in texts[1].lower(), f"member reply: {texts[1]!r}")
    check("Проверить в банке" in texts[2] and "внутренняя заметка" in texts[2], f"note: {texts[2]!r}")
    check("internal" in msgs[2]["attrs"]["class"].split(), "the note is not marked internal")
    check("Проверяем, ответим завтра." in texts[3] and "anna" in texts[3], f"reply: {texts[3]!r}")
    # Files: links on the first message, served with a safe type and as a download.
    links = re.findall(r'<a href="/desk/f/(\d+)">([^<]*)</a>', page.text)
    eq([html.unescape(t) for _, t in links], ["скрин.png", fname], "file links")
    for (fid, _), data, mime in zip(links, (PNG, PDF), ("image/png", "application/pdf")):
        r = a.get(f"/desk/f/{fid}")
        eq(r.status, 200, f"file {fid}")
        eq(r.body, data, f"bytes of file {fid}")
        eq((r.header("content-type") or "").split(";")[0], mime, "Content-Type")
        disp = r.header("content-disposition") or ""
        check(disp.startswith("attachment;"), f"Content-Disposition {disp!r}")
        check(re.fullmatch(r"attachment; filename=\"[ !#$&-:<-\[\]-~]+\"; filename\*=UTF-8''[A-Za-z0-9%._~-]+", disp),
              f"Content-Disposition is not an ASCII fallback and a percent-encoded UTF-8 name: {disp!r}")
        eq(r.header("x-content-type-options"), "nosniff", "nosniff")
        check("no-store" in (r.header("cache-control") or ""), f"Cache-Control {r.header('cache-control')!r}")
        eq(Agent(s, "eddy").get(f"/desk/f/{fid}").status, 403, "a file to an editor")
        to_login(s.req(f"/desk/f/{fid}"), f"/desk/f/{fid}", "a file to nobody")
    eq(unquote(re.search(r"''(.*)$", a.get(f"/desk/f/{links[1][0]}").header("content-disposition")).group(1)),
       fname, "the file name in Content-Disposition")
    for bad in ("999", "1abc", "-1", "0x1"):
        eq(a.get(f"/desk/f/{bad}").status, 404, f"/desk/f/{bad}")
    eq(a.get("/desk/r/R-2099-999999").status, 404, "an unknown number")
    # The audit log: who, what, when, on the page too.
    rows = audit_rows(s, n)
    eq([r[:2] for r in rows], [("anna", "note"), ("anna", "reply")], "audit rows")
    now = time.time()
    for r in rows:
        check(abs(r[3] - now) < 120, f"audit time {r[3]} is not about now")
    log = p.find("ul", cls="audit")
    check(log, "no audit log on the page")
    items = [" ".join(e["text"].split()) for e in p.find("li") if "audit" in e["classes"]]
    eq(len(items), 2, f"audit log items: {items}")
    check("anna" in items[0] and "внутренняя заметка" in items[0] and "UTC" in items[0], f"audit item {items[0]!r}")
    check("anna" in items[1] and "ответ участнику, статус Ждём вашего ответа" in items[1], f"audit item {items[1]!r}")
    finish(s)


# =============================================================================================
# Actions
# =============================================================================================


@test("desk: public reply: shown on /r/, status waiting or chosen, outbox row, audit; bad ones refused")
def _():
    s = server("reply")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    r1 = new_request(s)
    n, url = r1["number"], r1["url"]
    eq(count(s, "outbox"), 1, "the creation letter")
    text = "Здравствуйте! Выплата <b>ушла</b> сегодня & придёт за 3 дня."
    a.act(n, action="reply", text=text)
    eq(status_of(s, n), "waiting", "status after a reply without a chosen one")
    page = s.req(url)
    eq(page.status, 200, "member page")
    valid_html(page, "member page")
    contains(page.text, html.escape(text, quote=False), "status-waiting", what="member page")
    msg = one(s, "SELECT author, internal, body FROM messages WHERE body LIKE 'Здравствуйте! Выплата%'")
    eq(msg, ("agent", 0, text), "the reply stored")
    mails = sql(s, "SELECT to_addr, subject, body, status FROM outbox ORDER BY id")
    eq(len(mails), 2, "outbox rows after the reply")
    to, subject, body, st = mails[1]
    eq((to, st), (r1["email"], "pending"), "reply letter: address and status")
    contains(subject, n, what="reply letter subject")
    contains(body, text, what="reply letter body")
    # The letter and the message come together: message and outbox row in the same second.
    t_msg = one(s, "SELECT created FROM messages WHERE body = ?", text)
    t_out = one(s, "SELECT created FROM outbox ORDER BY id DESC LIMIT 1")
    check(abs(t_msg - t_out) <= 1, "the letter was not written with the reply")
    # A reply with a chosen status.
    a.act(n, action="reply", text="Всё решено, закрываем вопрос.", status="resolved")
    eq(status_of(s, n), "resolved", "status chosen with the reply")
    check(one(s, "SELECT resolved_at FROM requests WHERE number = ?", n), "resolved_at not set")
    eq([r[:3] for r in audit_rows(s, n)], [("anna", "reply", "waiting"), ("anna", "reply", "resolved")],
       "audit rows")
    # Refused: empty text, an unknown status, an unknown action, an unknown request.
    before = snapshot(s)
    for data in ({"action": "reply", "text": ""}, {"action": "reply", "text": "   \n "},
                 {"action": "reply", "text": "ответ", "status": "archived"},
                 {"action": "reply"}, {"action": "frobnicate", "text": "x"}, {}):
        r = a.post(f"/desk/r/{n}", data)
        eq(r.status, 422, f"refused action {data}")
        valid_html(r, "422 page")
        check(CYRILLIC.search(Page(r.text).text), "422 page not Russian")
    eq(a.post("/desk/r/R-2099-000001", {"action": "reply", "text": "x"}).status, 404, "unknown request")
    same_db(s, before, "refused actions")
    finish(s)


@test("desk: internal note: on the desk, never on the member's page nor in mail")
def _():
    s = server("note")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    r1 = new_request(s)
    n, url = r1["number"], r1["url"]
    outbox = count(s, "outbox")
    note = "СЕКРЕТ-заметка: участник уже писал в телеграм"
    a.act(n, action="note", text=note)
    eq(status_of(s, n), "new", "status after a note")
    eq(one(s, "SELECT internal FROM messages WHERE body = ?", note), 1, "stored as internal")
    contains(a.get(f"/desk/r/{n}").text, note, what="desk view")
    eq(count(s, "outbox"), outbox, "letters after a note")
    lacks(s.req(url).text, "СЕКРЕТ", what="member page")
    # Later letters do not carry it either.
    a.act(n, action="reply", text="Ответ после заметки.")
    a.act(n, action="status", status="resolved")
    bodies = [r[0] + r[1] for r in sql(s, "SELECT subject, body FROM outbox")]
    eq(len(bodies), outbox + 2, "letters after a reply and a status change")
    for b in bodies:
        lacks(b, "СЕКРЕТ", what="a letter")
    member_page = s.req(url).text
    lacks(member_page, "СЕКРЕТ", what="member page")
    contains(member_page, "Ответ после заметки.", what="member page")
    eq([r[1] for r in audit_rows(s, n)], ["note", "reply", "status"], "audit actions")
    finish(s)


@test("desk: canned replies: added, listed, used in a reply (with an article link); empty refused")
def _():
    s = server("canned")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    r1 = new_request(s)
    n, url = r1["number"], r1["url"]
    cbody = "Сбросить пароль можно по инструкции: /a/password-reset"
    r = a.post("/desk/canned", {"title": "Сброс <пароля>", "body": cbody})
    eq(r.status, 303, f"canned add ({short(r.body)})")
    eq(r.header("location"), "/desk/canned", "Location")
    eq(a.post("/desk/canned", {"title": "Благодарность", "body": "Спасибо, что написали!"}).status, 303,
       "second canned")
    page = a.get("/desk/canned")
    eq(page.status, 200, "canned page")
    valid_html(page, "canned page")
    contains(page.text, "Сброс &lt;пароля&gt;", cbody, "Спасибо, что написали!", what="canned page")
    for bad in ({"title": "", "body": "x"}, {"title": "x", "body": ""}, {"title": "x"}):
        eq(a.post("/desk/canned", bad).status, 422, f"canned {bad}")
    eq(count(s, "canned_replies"), 2, "canned replies stored")
    view = a.get(f"/desk/r/{n}").text
    options = dict((html.unescape(t), v) for v, t in re.findall(r'<option value="(\d+)">([^<]*)</option>', view))
    check("Сброс <пароля>" in options, f"canned replies offered: {options}")
    cid = options["Сброс <пароля>"]
    eq(str(one(s, "SELECT id FROM canned_replies WHERE body = ?", cbody)), cid, "option value")
    # A canned reply alone, then one after the agent's own words.
    a.act(n, action="reply", text="", canned=cid)
    a.act(n, action="reply", text="Добрый день!", canned=options["Благодарность"])
    bodies = [b for (b,) in sql(s, "SELECT body FROM messages WHERE author = 'agent' ORDER BY id")]
    eq(bodies, [cbody, "Добрый день!\n\nСпасибо, что написали!"], "replies from canned texts")
    mp = s.req(url).text
    contains(mp, "/a/password-reset", "Спасибо, что написали!", what="member page")
    eq(s.req("/a/password-reset").status, 200, "the linked article exists")
    contains(sql(s, "SELECT body FROM outbox ORDER BY id")[1][0], "/a/password-reset", what="reply letter")
    # An unknown canned id with no text is refused.
    eq(a.post(f"/desk/r/{n}", {"action": "reply", "text": "", "canned": "9999"}).status, 422, "unknown canned")
    finish(s)


@test("desk: assign: to an agent or admin (new -> open), to nobody; audit; others refused")
def _():
    s = server("assign")
    for name, role in (("anna", "agent"), ("boris", "agent"), ("boss", "admin"), ("eddy", "editor")):
        account(s, name, role)
    a = Agent(s, "anna")
    n = new_request(s)["number"]
    ids = {name: user_id(s, name) for name in ("anna", "boris", "boss", "eddy")}
    view = a.get(f"/desk/r/{n}").text
    block = re.search(r'<select id="f-assignee".*?</select>', view, re.S).group(0)
    offered = dict(re.findall(r'<option value="(\d+)"[^>]*>([^<]*)</option>', block))
    eq(offered, {"0": "Никто", str(ids["anna"]): "anna", str(ids["boris"]): "boris", str(ids["boss"]): "boss"},
       "agents offered for assignment")
    a.act(n, action="assign", assignee=str(ids["boris"]))
    eq(one(s, "SELECT u.login, r.status FROM requests r JOIN users u ON u.id = r.assignee WHERE number = ?", n),
       ("boris", "open"), "assignee and status")
    contains(a.get(f"/desk/r/{n}").text, f'<option value="{ids["boris"]}" selected>boris</option>',
             what="request view")
    a.act(n, action="assign", assignee=str(ids["boss"]))
    eq(one(s, "SELECT assignee FROM requests WHERE number = ?", n), ids["boss"], "reassigned to the admin")
    before = snapshot(s)
    for bad in (str(ids["eddy"]), "9999", "x", None):
        r = a.post(f"/desk/r/{n}", {"action": "assign", "assignee": bad})
        eq(r.status, 422, f"assign to {bad!r}")
    same_db(s, before, "refused assignments")
    a.act(n, action="assign", assignee="0")
    eq(one(s, "SELECT assignee, status FROM requests WHERE number = ?", n), (None, "open"), "unassigned")
    eq([r[:3] for r in audit_rows(s, n)],
       [("anna", "assign", str(ids["boris"])), ("anna", "assign", str(ids["boss"])), ("anna", "assign", "0")],
       "audit rows")
    log = [" ".join(e["text"].split()) for e in Page(a.get(f"/desk/r/{n}").text).find("li")
           if "audit" in e["classes"]]
    eq([x.split(" · ", 2)[1:] for x in log], [["anna", "назначено: boris"], ["anna", "назначено: boss"],
                                             ["anna", "назначено: никому"]], "audit log on the page")
    finish(s)


@test("desk: status: new -> open -> waiting -> resolved -> closed, each audited and mailed; unknown refused")
def _():
    s = server("status")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    r1 = new_request(s)
    n, url = r1["number"], r1["url"]
    eq(status_of(s, n), "new", "status of a new request")
    for st, ru in (("open", "В работе"), ("waiting", "Ждём вашего ответа"), ("resolved", "Решено"),
                   ("closed", "Закрыто")):
        a.act(n, action="status", status=st)
        eq(status_of(s, n), st, "status")
        contains(s.req(url).text, f"status-{st}", ru, what=f"member page ({st})")
        contains(sql(s, "SELECT body FROM outbox ORDER BY id DESC LIMIT 1")[0][0], ru, url, what=f"letter ({st})")
        resolved_at = one(s, "SELECT resolved_at FROM requests WHERE number = ?", n)
        check((resolved_at is not None) == (st == "resolved"), f"resolved_at {resolved_at} with status {st}")
    eq([r[:3] for r in audit_rows(s, n)],
       [("anna", "status", st) for st in ("open", "waiting", "resolved", "closed")], "audit rows")
    log = [" ".join(e["text"].split()) for e in Page(a.get(f"/desk/r/{n}").text).find("li")
           if "audit" in e["classes"]]
    eq([x.split(" · ", 2)[2] for x in log], ["статус В работе", "статус Ждём вашего ответа", "статус Решено",
                                            "статус Закрыто"], "audit log on the page")
    before = snapshot(s)
    for bad in ("archived", "", "OPEN", None, "open "):
        eq(a.post(f"/desk/r/{n}", {"action": "status", "status": bad}).status, 422, f"status {bad!r}")
    same_db(s, before, "refused statuses")
    finish(s)


@test("desk: merge: the duplicate's link shows the target with a notice; audit; bad targets refused")
def _():
    s = server("merge")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    dup = new_request(s)
    # Only one member's requests merge (issue #7): the target is the same member's other matter.
    target = new_request(s, member_id=dup["member_id"], topic="registration", subject="Не могу войти",
                         description="Не получается войти в личный кабинет после регистрации, пишет ошибку.")
    other = new_request(s)
    before = snapshot(s)
    for bad in (dup["number"], "R-2099-000001", "", "   "):
        for action in ("merge", "merge-confirm"):
            eq(a.post(f"/desk/r/{dup['number']}", {"action": action, "target": bad}).status, 422,
               f"{action} into {bad!r}")
    # The first step only asks for confirmation.
    a.act(dup["number"], want=200, action="merge", target=" " + target["number"] + " ")
    same_db(s, before, "refused merges and the confirmation step")
    a.act(dup["number"], action="merge-confirm", target=" " + target["number"] + " ")
    eq(one(s, "SELECT t.number FROM requests r JOIN requests t ON t.id = r.merged_into WHERE r.number = ?",
           dup["number"]), target["number"], "merged_into")
    # The duplicate leaves the queue; its messages are the target's now.
    numbers, counts = queue(a, status="all")
    eq(sorted(numbers), sorted([target["number"], other["number"]]), "queue after the merge")
    eq(sum(counts.values()), 2, "counts after the merge")
    # The member's link of the duplicate keeps working: the target, with a notice.
    page = s.req(dup["url"])
    eq(page.status, 200, "the merged request's link")
    valid_html(page, "merged link page")
    p = Page(page.text)
    eq(p.texts("h1"), [f"Обращение {target['number']}"], "h1 of the merged link")
    notice = " ".join(e["text"] for e in p.find(cls="notice"))
    contains(notice, dup["number"], "объединено", what="notice")
    contains(page.text, dup["description"], target["description"], what="merged link page")
    contains(s.req(target["url"]).text, dup["description"], what="the target's own link")
    # A reply through the old link lands in the target.
    member_reply(s, dup["url"], "Пишу по старой ссылке после объединения.")
    eq(one(s, "SELECT r.number FROM messages m JOIN requests r ON r.id = m.request_id WHERE m.body LIKE "
              "'Пишу по старой ссылке%'"), target["number"], "request of the reply through the old link")
    # The desk: the old number shows the target with its notice; the audit names both.
    view = a.get(f"/desk/r/{dup['number']}")
    eq(view.status, 200, "desk view of the merged number")
    contains(view.text, f"Обращение {dup['number']} объединено с {target['number']}", what="desk view")
    eq([r[1:3] for r in audit_rows(s, dup["number"])], [("merge", target["number"])], "audit of the duplicate")
    eq([r[1:3] for r in audit_rows(s, target["number"])], [("merged-in", dup["number"])], "audit of the target")
    # Merging into a request that was itself merged is refused.
    eq(a.post(f"/desk/r/{other['number']}", {"action": "merge", "target": dup["number"]}).status, 422,
       "merge into a merged request")
    finish(s)


@test("desk: a member's reply via /r/<token> reopens a waiting or resolved request")
def _():
    s = server("reopen")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    r1 = new_request(s)
    n, url = r1["number"], r1["url"]
    for st in ("waiting", "resolved", "closed"):
        a.act(n, action="reply", text=f"Ответ перед статусом {st}.", status=st)
        eq(status_of(s, n), st, "status after the agent's reply")
        member_reply(s, url, f"Вопрос не решён ({st}), выплаты всё ещё нет.")
        eq(status_of(s, n), "open", f"status after the member's reply to a {st} request")
        eq(one(s, "SELECT resolved_at FROM requests WHERE number = ?", n), None, "resolved_at after reopening")
        numbers, _ = queue(a)
        check(n in numbers, "the reopened request is not in the default queue")
    finish(s)


@test("desk: auto-close: resolved more than auto_close_days ago -> closed by the server; recent ones stay")
def _():
    s = server("autoclose", requests={"auto_close_days": "2"})
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    old, recent, waiting = new_request(s), new_request(s), new_request(s)
    for r in (old, recent):
        a.act(r["number"], action="status", status="resolved")
    a.act(waiting["number"], action="status", status="waiting")
    day = 86400
    now = int(time.time())
    eq(sql_write(s, "UPDATE requests SET resolved_at = ? WHERE number = ?", now - 2 * day - 60, old["number"]), 1,
       "moved resolved_at back")
    sql_write(s, "UPDATE requests SET resolved_at = ? WHERE number = ?", now - 2 * day + 3600, recent["number"])
    sql_write(s, "UPDATE requests SET updated = ? WHERE number = ?", now - 30 * day, waiting["number"])
    wait_for(lambda: status_of(s, old["number"]) == "closed", 5, "auto-close of the old resolved request")
    time.sleep(1.5)  # another pass of the maintenance thread
    eq(status_of(s, recent["number"]), "resolved", "a request resolved under 2 days ago")
    eq(status_of(s, waiting["number"]), "waiting", "a waiting request")
    contains(s.req(old["url"]).text, "status-closed", what="member page of the closed request")
    numbers, counts = queue(a, status="closed")
    eq(numbers, [old["number"]], "closed queue")
    finish(s)


# =============================================================================================
# Mail
# =============================================================================================


@test("desk: mail: the creation letter and a reply reach the SMTP relay (UTF-8, /r/ link, no note)")
def _():
    sink = Sink()
    try:
        s = server("mail", server={"public_url": "https://help.example.test"}, **sink.relay())
        account(s, "anna", "agent")
        a = Agent(s, "anna")
        subj = "Выплата «за октябрь» не пришла"
        r1 = new_request(s, email="maria.ivanova@example.com", subject=subj)
        n = r1["number"]
        m = sink.wait(1)[0]
        eq(m["X-Sink-Rcpt-To"], "<maria.ivanova@example.com>", "envelope recipient")
        eq(m["To"], "maria.ivanova@example.com", "To")
        eq(m["From"], "desk@example.org", "From")
        eq(str(m["Subject"]), f"Обращение {n} принято", "decoded subject")
        body = text_of(m)
        contains(body, n, subj, f"https://help.example.test{r1['url']}", what="creation letter")
        eq(m.get_content_charset(), "utf-8", "charset")
        wait_for(lambda: one(s, "SELECT status FROM outbox WHERE id = 1") == "sent", 3, "status 'sent'")
        a.act(n, action="note", text="ВНУТРЕННЕЕ: не говорить про бонус")
        reply = "Выплата отправлена сегодня — придёт в течение 3 дней. Ёлки-палки, всё будет!"
        a.act(n, action="reply", text=reply)
        msgs = sink.wait(2)
        eq(len(msgs), 2, "letters after a note and a reply")
        m = msgs[1]
        eq(m["X-Sink-Rcpt-To"], "<maria.ivanova@example.com>", "recipient of the reply letter")
        eq(str(m["Subject"]), f"Ответ по обращению {n}", "decoded subject of the reply letter")
        body = text_of(m)
        # Every letter carries the member's link (issue #7), not only the first one.
        contains(body, reply, f"https://help.example.test{r1['url']}", what="reply letter")
        for msg in msgs:
            lacks(text_of(msg) + str(msg["Subject"]), "ВНУТРЕННЕЕ", "бонус", what="a letter")
        wait_for(lambda: count(s, "outbox", "status = 'sent' AND sent_at IS NOT NULL") == 2, 3, "both sent")
        # A request without an address writes no letter.
        new_request(s, email=None)
        time.sleep(1.2)
        eq(len(sink.messages()), 2, "letters after a request without an e-mail address")
        finish(s)
    finally:
        sink.stop()


@test("desk: mail: a letter refused with 451 is counted, kept pending, and delivered when retried")
def _():
    sink = Sink("--fail-first", "1")
    try:
        s = server("mail-retry", **sink.relay())
        r1 = new_request(s, email="retry@example.com")
        row = wait_for(lambda: sql(s, "SELECT status, attempts, last_error, next_attempt FROM outbox "
                                      "WHERE attempts > 0"), 5, "the first attempt recorded")[0]
        st, attempts, last_error, next_attempt = row
        eq((st, attempts), ("pending", 1), "status and attempts after a 451")
        contains(last_error, "451", what="last_error")
        check(25 <= next_attempt - time.time() <= 31, f"next attempt in {next_attempt - time.time():.0f} s, not 30 s")
        check(s.wait_log(lambda t: "not delivered (attempt 1 of 8)" in t, 3), "the failure is not logged")
        lacks(s.log(), "retry@example.com", what="stderr")
        eq(sink.messages(), [], "letters in the sink after the refusal")
        # The backoff (30 s) is fixed: move the retry time to now instead of waiting.
        sql_write(s, "UPDATE outbox SET next_attempt = 0")
        m = sink.wait(1)[0]
        eq(str(m["Subject"]), f"Обращение {r1['number']} принято", "subject of the retried letter")
        wait_for(lambda: one(s, "SELECT status, attempts, last_error FROM outbox") == ("sent", 1, ""), 3,
                 "status 'sent' after the retry")
        finish(s)
    finally:
        sink.stop()


@test("desk: without a relay letters stay pending and are listed at /desk/outbox")
def _():
    s = server("outbox")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    r1 = new_request(s, email="pending@example.com")
    a.act(r1["number"], action="reply", text="Ответ, который ждёт в исходящих.")
    time.sleep(1.2)
    eq([r for r in sql(s, "SELECT to_addr, status, attempts FROM outbox ORDER BY id")],
       [("pending@example.com", "pending", 0)] * 2, "outbox rows")
    contains(s.log(), "no [mail] relay configured", what="stderr")
    r = a.get("/desk/outbox")
    eq(r.status, 200, "outbox page")
    valid_html(r, "outbox page")
    rows = re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", r.text)
    eq(rows, [("pending@example.com", f"Ответ по обращению {r1['number']}", "ждёт отправки"),
              ("pending@example.com", f"Обращение {r1['number']} принято", "ждёт отправки")], "outbox rows shown")
    finish(s)


# =============================================================================================
# HTML
# =============================================================================================


@test("desk: every desk page is well-formed HTML and shows what members typed as text")
def _():
    s = server("html")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    evil = "<script>alert(1)</script>"
    r1 = new_request(s, subject=evil, name='Иван "><img src=x onerror=alert(2)>',
                     description="Текст с <iframe src=//evil> внутри и достаточно длинный.")
    n = r1["number"]
    a.post("/desk/canned", {"title": "<b>жирный</b>", "body": "<a href=javascript:alert(3)>x</a>"})
    a.act(n, action="note", text="<svg onload=alert(4)>")
    a.act(n, action="reply", text="<img src=x onerror=alert(5)>")
    member_reply(s, r1["url"], "<script>alert(6)</script> ответ участника")
    pages = {"login": s.req("/desk/login"), "queue": a.get("/desk"), "queue all": a.get("/desk?status=all"),
             "filtered": a.get("/desk?" + urlencode({"topic": "<x>", "country": '"', "assignee": "me", "age": "-5"})),
             "request": a.get(f"/desk/r/{n}"), "canned": a.get("/desk/canned"), "outbox": a.get("/desk/outbox"),
             "404": a.get("/desk/r/R-2099-000001"), "422": a.post(f"/desk/r/{n}", {"action": "x"}),
             "403": a.post(f"/desk/r/{n}", {"action": "note", "text": "x", "csrf": "bad"})}
    for what, r in pages.items():
        check(r.status in (200, 403, 404, 422), f"{what}: status {r.status}")
        eq((r.header("content-type") or "").split(";")[0], "text/html", f"{what}: Content-Type")
        valid_html(r, what)
        for bad in ("<script>alert", "<img src=x", "<iframe", "<svg onload", "<b>жирный", "<a href=javascript"):
            lacks(r.text, bad, what=what)
    contains(pages["queue"].text, html.escape(evil, quote=False), what="queue")
    contains(pages["request"].text, html.escape(evil, quote=False), "&lt;svg onload=alert(4)&gt;",
             "&lt;img src=x onerror=alert(5)&gt;", "&lt;script&gt;alert(6)&lt;/script&gt;", what="request view")
    contains(pages["canned"].text, "&lt;b&gt;жирный&lt;/b&gt;", what="canned page")
    csp = pages["request"].header("content-security-policy") or ""
    check("script-src" in csp or "default-src" in csp, f"no script policy in the CSP: {csp!r}")
    lacks(csp, "unsafe-inline", what="Content-Security-Policy")
    finish(s)
