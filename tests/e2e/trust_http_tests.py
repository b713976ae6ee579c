"""End-to-end tests of issue #7 ("Trust"), the HTTP side: the client address behind trusted
proxies (limits, logs), lockouts an attacker cannot aim (desk logins, /r/ links), slow bodies cut
with 408, a clean shutdown under load with the database locked, the search log's cap per client,
415 for the API's other body types and the Origin check of the HTML forms.

Imported by run.py; registers its tests with the shared runner. Every test starts its own
server(s) on a fresh data directory. The client address is chosen with X-Forwarded-For, which
the servers believe from 127.0.0.1 only where a test configures `trusted_proxies`.
"""

import http.client
import json
import os
import re
import signal
import socket
import threading
import time
from urllib.parse import quote, urlencode

from harness import (BIN, Server, base_config, check, cli, contains, eq, lacks, new_dir, no_5xx, parse_raw,  # noqa: F401
                     read_answer, short, spravka, sql, sqlite_only, test, write_config)
from htmlcheck import Page
from requests_tests import api_error, created, fields, multipart, rand_token

CYRILLIC = re.compile("[а-яА-ЯёЁ]")
PASSWORD = "кот-в-сапогах 2026"
LOGIN_CSRF = "spravka_login_csrf"
SESSION = "spravka_session"


def server(name, threads=2, **sections):
    return Server("trust-" + name, base_config(**sections), threads=threads).start()


def finish(s, allow_5xx=False):
    rc, _ = s.stop()
    eq(rc, 0, f"{s.name}: exit code")
    if not allow_5xx:
        no_5xx(s)


def create(s, client=None, obj=None, ctype="application/json", timeout=10):
    hs = {"Content-Type": ctype} if ctype is not None else {}
    if client:
        hs["X-Forwarded-For"] = client
    body = json.dumps(obj or fields(), ensure_ascii=False).encode()
    return s.req("/api/v1/requests", "POST", hs, body, timeout=timeout)


def log_lines(s, route, status):
    return [line for line in s.log().splitlines() if line.startswith(f"POST {route} {status} ")]


# =============================================================================================
# The client address
# =============================================================================================


@test("trust: 24 creations from 24 forwarded addresses behind a trusted proxy are not limited together")
def _():
    s = server("proxy", server={"trusted_proxies": "10.9.0.0/16, 127.0.0.1, ::1"},
               requests={"max_per_ip_hour": 3})
    for i in range(24):
        created(create(s, f"203.0.113.{i + 1}"))
    # The limit still holds for each forwarded client: the 4th from one address is refused...
    for i in range(3):
        created(create(s, "198.51.100.7"))
    api_error(create(s, "198.51.100.7"), 429, "rate_limited")
    # ...whatever the client writes to the left of what the proxy appended, and through a
    # second trusted proxy (10.9.0.0/16).
    api_error(create(s, "1.2.3.4, 198.51.100.7"), 429, "rate_limited")
    api_error(create(s, "5.6.7.8, 198.51.100.7, 10.9.1.1"), 429, "rate_limited")
    created(create(s, "198.51.100.7, 198.51.100.8"))  # the right-most untrusted one counts
    # IPv6 clients count by /64: another address of the same /64 is the same client.
    for i in range(3):
        created(create(s, f"2001:db8:1:2::{i + 1}"))
    api_error(create(s, "2001:db8:1:2:ffff::9"), 429, "rate_limited")
    created(create(s, "2001:db8:1:3::1"))
    # A malformed header from the trusted proxy: the proxy is the client, never the garbage.
    for i in range(3):
        created(create(s, "not-an-address"))
    api_error(create(s, "203.0.113.200, garbage"), 429, "rate_limited")
    # Every access-log line shows the forwarded address.
    log = s.wait_log(lambda t: len(log_lines(s, "/api/v1/requests", 201)) >= 24 + 4 + 4 + 3, timeout=3)
    check(log, "the creations were not logged")
    lines = log_lines(s, "/api/v1/requests", 201)
    for i in range(24):
        check(any(line.endswith(f" 203.0.113.{i + 1}") for line in lines), f"no log line for 203.0.113.{i + 1}")
    check(any(line.endswith(" 2001:db8:1:2::1") for line in lines), "no log line with the IPv6 client")
    check(any(line.endswith(" 127.0.0.1") for line in lines), "the malformed header's line names the proxy")
    check(any(re.search(r" 429 \d+ \d+ 198\.51\.100\.7$", line) for line in s.log().splitlines()),
          "no 429 line for 198.51.100.7")
    finish(s)


@test("trust: the same 24 creations from an untrusted peer are limited together (X-Forwarded-For ignored)")
def _():
    s = server("noproxy", server={"trusted_proxies": "10.9.0.0/16"}, requests={"max_per_ip_hour": 3})
    statuses = [create(s, f"203.0.113.{i + 1}").status for i in range(24)]
    eq(statuses, [201] * 3 + [429] * 21, "statuses")
    check(s.wait_log(lambda t: len(re.findall(r"^POST /api/v1/requests 429 .* 127\.0\.0\.1$", t, re.M)) == 21,
                     timeout=3), "the log does not show the peer's address on every line")
    lacks(s.log(), "203.0.113.", what="the log (a forwarded address from an untrusted peer)")
    finish(s)


@test("trust: a malformed trusted_proxies refuses to start, naming the key")
def _():
    d = new_dir("trust-badproxy")
    cfg = write_config(os.path.join(d, "spravka.ini"), base_config(server={"trusted_proxies": "10.0.0.0/33"}))
    rc, _, err = spravka("serve", "--data", os.path.join(d, "data"), "--config", cfg, "--listen", "127.0.0.1:0",
                         timeout=20)
    eq(rc, 2, "exit code")
    contains(err, "trusted_proxies", what="stderr")


# =============================================================================================
# Lockouts an attacker cannot aim
# =============================================================================================


def account(s, login, role="agent"):
    import subprocess
    p = subprocess.run([BIN, *cli("user", "add", "--role", role, "--login", login, "--data", s.data)],
                       input=(PASSWORD + "\n").encode(), capture_output=True, timeout=20)
    check(p.returncode == 0, f"user add: {short(p.stderr)}")


def login_form(s):
    r = s.req("/desk/login")
    eq(r.status, 200, "login form")
    tok = re.search(LOGIN_CSRF + r"=([^;]+)", r.header("set-cookie") or "").group(1)
    csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    return tok, csrf


def login(s, name, password, client, form):
    tok, csrf = form
    data = urlencode({"csrf": csrf, "next": "", "login": name, "password": password}).encode()
    return s.req("/desk/login", "POST", {"Content-Type": "application/x-www-form-urlencoded",
                                          "X-Forwarded-For": client}, data, cookie=f"{LOGIN_CSRF}={tok}")


@test("trust: 7 wrong passwords from one forwarded address, then the right one from another, signs in")
def _():
    s = server("lockout", threads=1, server={"trusted_proxies": "127.0.0.1"})
    account(s, "anna")
    form = login_form(s)
    statuses = [login(s, "anna", f"неверный пароль {i}", "203.0.113.66", form).status for i in range(7)]
    eq(statuses, [401] * 5 + [429] * 2, "the guesser's answers")
    r = login(s, "anna", PASSWORD, "203.0.113.66", form)
    eq(r.status, 429, "the right password from the guessing address")
    contains(Page(r.text).text, "Слишком много", what="429 page")
    t0 = time.monotonic()
    r = login(s, "anna", PASSWORD, "198.51.100.3", form)
    took = time.monotonic() - t0
    eq(r.status, 303, f"the owner from another address ({short(r.body)})")
    check((r.header("set-cookie") or "").startswith(SESSION + "="), "no session cookie")
    # Slowed down, not refused: 5 failures of the account -> 1 s, bounded at 3 s.
    check(0.9 <= took < 4, f"the owner's sign-in took {took:.2f} s (expected about 1 s)")
    # The slow-down holds no HTTP thread (this server has one): /healthz answers meanwhile.
    done = {}

    def slow():
        done["r"] = login(s, "anna", "ещё неверный", "192.0.2.50", form)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    eq(s.req("/healthz").status, 200, "/healthz during a delayed login")
    fast = time.monotonic() - t0
    t.join(10)
    eq(done["r"].status, 401, "the delayed wrong password")
    check(fast < 0.5, f"/healthz took {fast:.2f} s while a login was held back")
    eq(len(sql(s, "SELECT 1 FROM sessions")), 1, "sessions")
    finish(s)


@test("trust: a throttled /r/ guesser gets 429; the right link still opens, from the same and another address")
def _():
    s = server("guess", server={"trusted_proxies": "127.0.0.1"})
    j = created(create(s, "198.51.100.50"))
    url = j["url"]
    guesser = {"X-Forwarded-For": "203.0.113.77"}
    for i in range(30):
        eq(s.req("/r/" + rand_token(), headers=guesser).status, 404, f"wrong token {i + 1}")
    r = s.req("/r/" + rand_token(), headers=guesser)
    eq(r.status, 429, "wrong token 31")
    check(CYRILLIC.search(Page(r.text).text), "429 page not Russian")
    r = s.req("/r/" + rand_token(), "POST", {**guesser, "Content-Type": "application/x-www-form-urlencoded"},
              b"message=hi")
    eq(r.status, 429, "a POST to a wrong token from the guesser")
    eq(s.req(url, headers=guesser).status, 200, "the right link from the throttled address")
    r = s.req(url, "POST", {**guesser, "Content-Type": "application/x-www-form-urlencoded"},
              urlencode({"message": "Дополнение от участника с того же адреса."}).encode())
    eq(r.status, 303, f"a reply through the right link from the throttled address ({short(r.body)})")
    eq(s.req(url, headers={"X-Forwarded-For": "198.51.100.50"}).status, 200, "the right link from another address")
    eq(s.req("/r/" + rand_token(), headers={"X-Forwarded-For": "198.51.100.51"}).status, 404,
       "another client's miss is its own")
    finish(s)


# =============================================================================================
# Slow bodies
# =============================================================================================


def slow_post(port, path, length, chunks, result):
    """Sends headers, then the (chunk, pause) list; records what comes back and when."""
    t0 = time.monotonic()
    c = socket.create_connection(("127.0.0.1", port), timeout=15)
    out = b""
    try:
        c.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                   f"Content-Length: {length}\r\n\r\n").encode())
        for data, pause in chunks:
            try:
                c.sendall(data)
            except OSError:
                break
            c.settimeout(pause)
            try:
                got = c.recv(65536)
                out += got
                if not got or b"\r\n\r\n" in out:
                    break
            except socket.timeout:
                pass
        c.settimeout(6)
        out += read_answer(c, 6)
    except OSError:
        pass
    finally:
        c.close()
    result["answer"], result["after"] = out, time.monotonic() - t0


@test("trust: a slow body is cut with 408 after body_grace; /healthz answers meanwhile; a fast one is not")
def _():
    s = server("slow", limits={"body_grace": 2, "min_body_rate": 1024, "max_connections": 16})
    runs = [{} for _ in range(3)]
    slow = [(b"x" * 10, 1.0)] * 12  # 10 bytes/s
    burst = [(b"x" * 8000, 0.5), (b"x" * 10, 1.0)] + [(b"x" * 10, 1.0)] * 10  # a burst, then a trickle
    fine = [(b"x" * 1000, 0.25)] * 16  # 4 KB/s, the whole body in 4 s
    threads = [threading.Thread(target=slow_post, args=(s.port, "/request", 100000, slow, runs[0])),
               threading.Thread(target=slow_post, args=(s.port, "/request", 100000, burst, runs[1])),
               threading.Thread(target=slow_post, args=(s.port, "/healthz", 16000, fine, runs[2]))]
    for t in threads:
        t.start()
    time.sleep(0.5)
    for _ in range(5):
        t0 = time.monotonic()
        eq(s.req("/healthz", timeout=3).status, 200, "/healthz while bodies trickle")
        check(time.monotonic() - t0 < 1, "/healthz was slow")
        time.sleep(0.3)
    for t in threads:
        t.join(20)
    for what, run in (("10 bytes/s", runs[0]), ("a burst, then 10 bytes/s", runs[1])):
        r = parse_raw(run["answer"])
        eq(r.status, 408, f"{what}: status ({short(run['answer'])})")
        check(CYRILLIC.search(r.body.decode("utf-8", "replace")), f"{what}: 408 not Russian")
        check(1.8 <= run["after"] < 7, f"{what}: cut after {run['after']:.1f} s (grace 2 s, windows of 2 s)")
    r = parse_raw(runs[2]["answer"])
    eq(r.status, 405, f"4 KB/s: the body was read in full and answered ({short(runs[2]['answer'])})")
    contains(s.log(), "under min_body_rate", what="stderr")
    eq(sql(s, "SELECT count(*) FROM requests")[0][0], 0, "requests")
    finish(s)


@test("trust: 40 slow bodies on a server with max_connections 16 are cut; the portal answers again")
def _():
    s = server("slow-many", limits={"body_grace": 2, "min_body_rate": 1024, "max_connections": 16})
    socks = []
    try:
        for _ in range(40):
            try:
                c = socket.create_connection(("127.0.0.1", s.port), timeout=2)
                c.sendall(b"POST /request HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-"
                          b"urlencoded\r\nContent-Length: 100000\r\n\r\nmember_id=1")
                socks.append(c)
            except OSError:
                pass
        t0 = time.monotonic()
        r = None
        while time.monotonic() - t0 < 12 and not r:
            try:
                r = s.req("/healthz", timeout=12)
            except OSError:
                time.sleep(0.2)
        took = time.monotonic() - t0
        check(r is not None and r.status == 200, "no answer to /healthz")
        check(took < 8, f"/healthz answered after {took:.1f} s (body_grace 2 s)")
        cut = 0
        for c in socks:  # every slow body got its 408 (or, past the limit, was never served)
            c.settimeout(6)
            if parse_raw(read_answer(c, 6)).status == 408:
                cut += 1
        check(cut >= 15, f"only {cut} slow bodies were answered 408")
    finally:
        for c in socks:
            c.close()
    finish(s)


# =============================================================================================
# Shutdown under load
# =============================================================================================


def hold_write_lock(s):
    sqlite_only("holds SQLite's one write lock (BEGIN IMMEDIATE); PostgreSQL has no database-wide one")
    return s.db().hold_write_lock()


def creations(s, n, results):
    """n creations at once, each on its own connection: (status, body) per index, 0 = no answer."""

    def one(i):
        obj = fields()
        body = json.dumps(obj, ensure_ascii=False).encode()
        try:
            c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
            try:
                c.sendall(b"POST /api/v1/requests HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                out = read_answer(c, 30)
            finally:
                c.close()
        except OSError as e:
            results[i] = (-1, str(e).encode(), obj)
            return
        r = parse_raw(out)
        results[i] = (r.status, r.body, obj)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads


def keepalive_conn(s):
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    c.request("GET", "/healthz")
    r = c.getresponse()
    r.read()
    eq(r.status, 200, "keep-alive /healthz")
    return c


def check_stored(s, results):
    acked = [json.loads(b)["number"] for st, b, _ in results if st == 201]
    stored = {row[0] for row in sql(s, "SELECT number FROM requests")}
    missing = [n for n in acked if n not in stored]
    check(not missing, f"acknowledged but not stored: {missing[:5]}")
    return acked, stored


@test("trust: SIGTERM during 100 creations waiting on a write-locked database past the grace: exit 0, all answered 503")
def _():
    s = server("term-locked", threads=4, server={"shutdown_grace": 2}, requests={"max_per_ip_hour": 1000})
    created(create(s))
    ka = keepalive_conn(s)
    lock = hold_write_lock(s)
    try:
        results = [None] * 100
        threads = creations(s, 100, results)
        time.sleep(1.5)  # all checked and waiting for the writer (the lock is held)
        t0 = time.monotonic()
        s.signal(signal.SIGTERM)
        time.sleep(0.3)
        # New connections are refused; a new request on an open one gets 503.
        try:
            socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
            refused = False
        except OSError:
            refused = True
        check(refused, "a new connection was accepted after SIGTERM")
        ka.request("GET", "/healthz")
        r = ka.getresponse()
        eq(r.status, 503, "a new request on a kept-alive connection after SIGTERM")
        check(CYRILLIC.search(r.read().decode()), "503 not Russian")
        try:
            rc = s.proc.wait(15)
        except Exception:
            rc = "still running"
        took = time.monotonic() - t0
        for t in threads:
            t.join(10)
    finally:
        lock.rollback()
        lock.close()
        ka.close()
    eq(rc, 0, "exit code")
    check(took < 8, f"the shutdown took {took:.1f} s with a grace of 2 s")
    statuses = sorted({st for st, _, _ in results})
    eq(statuses, [503], f"the answers of the 100 waiting creations ({[r[:2] for r in results if r[0] != 503][:3]}; "
       f"{s.log()[-3000:]})")
    for st, body, _ in results:
        api_error(parse_raw(b"HTTP/1.1 503 x\r\nContent-Type: application/json\r\n\r\n" + body), 503, "unavailable")
    acked, stored = check_stored(s, results)
    eq(len(stored), 1, "requests stored (the one made before the lock)")
    log = s.log()
    contains(log, "grace period over", "stopped", what="stderr")
    lacks(log, "suspended", "MHD_PANIC", what="stderr")
    s.stop()


@test("trust: SIGTERM during 100 creations while the database is locked within the grace: every 201 stored, exit 0")
def _():
    s = server("term-released", threads=4, server={"shutdown_grace": 10}, requests={"max_per_ip_hour": 1000})
    created(create(s))
    lock = hold_write_lock(s)
    released = False
    try:
        results = [None] * 100
        threads = creations(s, 100, results)
        time.sleep(1.5)
        s.signal(signal.SIGTERM)
        time.sleep(1.0)
        check(s.proc.poll() is None, "the server exited with creations waiting")
        lock.rollback()
        released = True
        try:
            rc = s.proc.wait(15)
        except Exception:
            rc = "still running"
        for t in threads:
            t.join(10)
    finally:
        if not released:
            lock.rollback()
        lock.close()
    eq(rc, 0, "exit code")
    statuses = [st for st, _, _ in results]
    check(all(st in (201, 503) for st in statuses), f"answers: {sorted(set(statuses))}")
    acked, stored = check_stored(s, results)
    check(len(acked) >= 90, f"only {len(acked)} of 100 acknowledged (the lock was released within the grace)")
    eq(len(stored), len(acked) + 1, "requests stored: the acknowledged ones and the first")
    contains(s.log(), "stopped", what="stderr")
    s.stop()


# =============================================================================================
# Bounded growth: the search log
# =============================================================================================


@test("trust: the search log takes at most search_log_per_ip_hour entries per client; no address stored")
def _():
    s = server("searchlog", server={"trusted_proxies": "127.0.0.1"}, limits={"search_log_per_ip_hour": 5})
    for i in range(9):
        eq(s.req("/search?q=" + quote(f"пароль {i}"), headers={"X-Forwarded-For": "203.0.113.9"}).status, 200, "search")
    for i in range(3):
        eq(s.req("/api/v1/search?q=" + quote(f"выплата {i}"), headers={"X-Forwarded-For": "198.51.100.9"}).status, 200,
           "api search")
    for i in range(4):  # through the page and the API: one count per client
        s.req("/api/v1/search?q=" + quote(f"заказ {i}"), headers={"X-Forwarded-For": "203.0.113.9"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(sql(s, "SELECT 1 FROM search_log")) < 8:
        time.sleep(0.2)
    time.sleep(1.5)  # one more flush: nothing beyond the cap arrives later
    rows = [r[0] for r in sql(s, "SELECT query FROM search_log ORDER BY at, query")]
    eq(len(rows), 8, f"search-log rows ({rows})")
    eq(sorted(q for q in rows if q.startswith("пароль")), [f"пароль {i}" for i in range(5)], "the first client's")
    eq(sorted(q for q in rows if q.startswith("выплата")), [f"выплата {i}" for i in range(3)], "the second client's")
    dump = json.dumps(sql(s, "SELECT * FROM search_log"), ensure_ascii=False)
    lacks(dump, "203.0.113", "198.51.100", what="search_log rows")
    finish(s)


# =============================================================================================
# Cross-site writes
# =============================================================================================


@test("trust: POST /api/v1/requests answers 415 to any body type but JSON and multipart")
def _():
    s = server("types")
    for ctype in ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None,
                  "application/jsonp", "application/json-seq", "text/json", "multipart/mixed; boundary=x", ""]:
        e = api_error(create(s, ctype=ctype), 415, "unsupported_media_type")
        contains(e["message"], "JSON", what=f"message for {ctype!r}")
    created(create(s, ctype="application/json; charset=utf-8"))
    created(create(s, ctype="Application/JSON"))
    body, ctype = multipart(list(fields().items()))
    created(s.req("/api/v1/requests", "POST", {"Content-Type": ctype}, body))
    # A large text/plain body is refused for its type at once, too.
    r = s.req("/api/v1/requests", "POST", {"Content-Type": "text/plain"}, b"x" * (200 << 10))
    api_error(r, 415, "unsupported_media_type")
    eq(sql(s, "SELECT count(*) FROM requests")[0][0], 3, "requests stored")
    finish(s)


def form_post(s, path, data, origin=None, referer=None):
    hs = {"Content-Type": "application/x-www-form-urlencoded"}
    if origin is not None:
        hs["Origin"] = origin
    if referer is not None:
        hs["Referer"] = referer
    return s.req(path, "POST", hs, urlencode(data).encode())


@test("trust: a cross-origin form POST gets 403; same-origin and no Origin work")
def _():
    s = server("origin")
    own = f"http://127.0.0.1:{s.port}"
    n = 0
    for origin, referer in [("http://evil.example", None), ("null", None), (None, "http://evil.example/form.html"),
                            ("http://127.0.0.1", None), (f"http://localhost:{s.port}", None),
                            (f"http://127.0.0.1:{s.port}.evil.example", None), ("http://evil.example", own + "/request")]:
        r = form_post(s, "/request", fields(), origin, referer)
        eq(r.status, 403, f"/request from Origin {origin!r}, Referer {referer!r}")
        check(CYRILLIC.search(Page(r.text).text), "403 page not Russian")
        contains(Page(r.text).text, "с другого сайта", what="403 page")
    for path, data in [("/desk/login", {"login": "anna", "password": "x" * 12, "csrf": "x"}),
                       ("/request/solved", {"slug": "password-reset"}),
                       ("/r/" + rand_token(), {"message": "hi"})]:
        eq(form_post(s, path, data, "http://evil.example").status, 403, f"{path} from another site")
    eq(sql(s, "SELECT count(*) FROM requests")[0][0], 0, "requests after the cross-site posts")
    for origin, referer in [(own, None), (None, own + "/request?x=1"), (None, None), (own.upper(), None)]:
        r = form_post(s, "/request", fields(), origin, referer)
        check(r.status in (200, 303), f"/request from Origin {origin!r}, Referer {referer!r}: {r.status}")
        n += 1
    eq(sql(s, "SELECT count(*) FROM requests")[0][0], n, "requests from the site itself")
    token = re.search(r'data-solved-token="([^"]+)"', s.req("/request").text).group(1)
    eq(form_post(s, "/request/solved", {"slug": "password-reset", "solved_token": token}, own).status, 200,
       "/request/solved same-origin")
    # The API is not a form: Origin is not what protects it (its body types are).
    created(s.req("/api/v1/requests", "POST", {"Content-Type": "application/json", "Origin": "http://evil.example"},
                  json.dumps(fields(), ensure_ascii=False).encode()))
    finish(s)


@test("trust: with public_url set, forms must come from that origin")
def _():
    s = server("origin-public", server={"public_url": "https://help.example.test"})
    eq(form_post(s, "/request", fields(), "https://help.example.test").status in (200, 303), True,
       "the public origin")
    eq(form_post(s, "/request", fields(), None, "https://help.example.test:443/request").status in (200, 303), True,
       "the public origin's Referer with its default port")
    eq(form_post(s, "/request", fields(), f"http://127.0.0.1:{s.port}").status, 403, "the Host's origin")
    eq(form_post(s, "/request", fields(), "http://help.example.test").status, 403, "another scheme")
    finish(s)
