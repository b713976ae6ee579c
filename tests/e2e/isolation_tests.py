"""End-to-end tests of issue #8, "the portal never waits for the desk": the desk and /metrics run
on back-office threads of their own ([server] desk_threads, at a lower CPU priority) with their
own database connections, so a desk request that waits for the database holds no HTTP thread.

Every server here has ONE HTTP thread (--threads 1) and one back-office thread, so that a desk
request held on an HTTP thread would stop every member's page. A desk request is made slow for
real: this test holds SQLite's write lock (BEGIN IMMEDIATE through harness.db, as a backup or an
import would), so a desk action waits for it, up to the server's 5 s busy limit.

Imported by run.py; uses the desk tests' helpers.
"""

import os
import signal
import threading
import time
from urllib.parse import urlencode

from desk_tests import (FORM, LOGIN_CSRF, PASSWORD, PDF, PNG, Agent, account, login_form, member, multipart, new_request,
                        one, valid_html)
from harness import Fail, Server, base_config, check, contains, eq, finish, short, sqlite_only, test

FAST = 1.0  # seconds: a member's page while the desk waits (the lock is held for 2.5 s and more)


def iso_server(name, **cfg):
    c = base_config(**cfg)
    c.setdefault("server", {}).setdefault("desk_threads", 1)
    return Server("iso-" + name, c, threads=1).start()


class WriteLock:
    """Holds the database's write lock from another process until released."""

    def __init__(self, s):
        sqlite_only("holds SQLite's one write lock (BEGIN IMMEDIATE); PostgreSQL has no database-wide one")
        self.c = s.db().hold_write_lock(timeout=5)

    def release(self):
        self.c.execute("ROLLBACK")
        self.c.close()


class Background:
    """Runs fn in a thread; .result / .error when done."""

    def __init__(self, fn):
        self.result = self.error = None
        self.t0 = time.monotonic()
        self.seconds = None

        def run():
            try:
                self.result = fn()
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.error = e
            self.seconds = time.monotonic() - self.t0
        self.t = threading.Thread(target=run, daemon=True)
        self.t.start()

    def pending(self):
        return self.t.is_alive()

    def join(self, timeout):
        self.t.join(timeout)
        check(not self.t.is_alive(), f"no answer within {timeout} s")
        if self.error:
            raise self.error
        return self.result


def timed(s, path, **kw):
    t0 = time.monotonic()
    r = s.req(path, **kw)
    return r, time.monotonic() - t0


def member_pages_answer(s, what):
    """Members' pages — a cached article, an uncached variant, search, the API, the request form —
    each answered within FAST seconds."""
    for path in ("/a/cancel-order", "/a/change-bank-details?country=KZ", "/search?q=%D0%B2%D0%BE%D0%B7%D0%B2%D1%80%D0%B0%D1%82",
                 "/api/v1/articles/change-sponsor", "/request", "/"):
        r, secs = timed(s, path)
        eq(r.status, 200, f"{path} {what}")
        check(secs < FAST, f"{path} {what} took {secs:.2f} s")


@test("isolation: a desk action waiting for the database holds no HTTP thread: members' pages answer meanwhile")
def _():
    s = iso_server("wait")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    n = new_request(s)["number"]
    s.req("/a/cancel-order")  # cached from now on
    s.req("/request")  # the first form made creates the key form tokens are signed with (a write)
    lock = WriteLock(s)
    try:
        act = Background(lambda: a.post(f"/desk/r/{n}", {"action": "note", "text": "Заметка, пока база занята"}))
        time.sleep(0.3)
        check(act.pending(), "the desk action did not wait for the lock (the test proves nothing)")
        member_pages_answer(s, "while a desk action waits for the database")
        check(act.pending(), "the desk action no longer waits: the lock was not held long enough")
        # The desk's own thread is the one waiting: another desk page queues behind it.
        queued = Background(lambda: a.get("/desk"))
        time.sleep(0.3)
        check(queued.pending(), "with one back-office thread busy, a second desk page should wait")
    finally:
        lock.release()
    r = act.join(10)
    eq(r.status, 303, f"the desk action once the lock is free ({short(r.body)})")
    eq(one(s, "SELECT count(*) FROM messages WHERE internal = 1 AND body = ?", "Заметка, пока база занята"), 1,
       "the note stored")
    eq(queued.join(10).status, 200, "the queued desk page")
    finish(s)


@test("isolation: the desk on its own threads: login, queue, CSRF-checked action, file download, metrics")
def _():
    s = iso_server("desk")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    body, ctype = multipart([("member_id", member()), ("name", "Олег Сидоров"), ("email", "oleg@example.com"),
                             ("country", "RU"), ("topic", "payouts"), ("subject", "Выплата за сентябрь"),
                             ("description", "Выплата не пришла, прикладываю выписку из банка.")],
                            [("attachments", "выписка.pdf", PDF, "application/pdf"),
                             ("attachments", "скрин.png", PNG, "image/png")])
    r = s.req("/api/v1/requests", "POST", {"Content-Type": ctype}, body)
    eq(r.status, 201, f"request with files ({short(r.body)})")
    n = r.json()["number"]
    page = a.get("/desk")
    eq(page.status, 200, "queue")
    valid_html(page, "queue")
    contains(page.text, n, what="queue")
    # The dispatcher's checks still come first: no CSRF token -> 403, nothing stored.
    r = a.post(f"/desk/r/{n}", {"action": "note", "text": "без токена"}, csrf=False)
    eq(r.status, 403, "an action without the CSRF token")
    eq(one(s, "SELECT count(*) FROM messages WHERE body = 'без токена'"), 0, "nothing stored")
    r = s.req(f"/desk/r/{n}")
    eq(r.status, 303, "anonymous -> login")
    check((r.header("location") or "").startswith("/desk/login?next="), f"Location {r.header('location')}")
    a.act(n, action="reply", text="Проверяем выплату.")
    view = a.get(f"/desk/r/{n}")
    eq(view.status, 200, "request view")
    contains(view.text, "Проверяем выплату.", what="request view")
    ids = [row[0] for row in s_sql(s, "SELECT id FROM attachments ORDER BY id")]
    eq(len(ids), 2, "attachments")
    for fid, data in zip(ids, (PDF, PNG)):
        f = a.get(f"/desk/f/{fid}")
        eq(f.status, 200, f"file {fid}")
        eq(f.body, data, f"bytes of file {fid}")
    m = s.req("/metrics")
    eq(m.status, 200, "/metrics")
    contains(m.text, 'spravka_http_requests_total{route="/desk",method="GET",status="200"}', what="/metrics")
    # The threads: one HTTP worker at the default priority; the back-office one at nice 10.
    nice = thread_nices(s.proc.pid)
    check(nice.count(10) == 1, f"one back-office thread at nice 10: {nice}")
    check(nice.count(0) >= 3, f"the other threads at nice 0: {nice}")
    finish(s)


def s_sql(s, query, *args):
    return s.db().query(query, args)


def thread_nices(pid):
    """The threads' nice values relative to the process's main thread (the tests may run niced),
    with the back office's (10 more, at most 19 in all) as 10."""
    with open(f"/proc/{pid}/stat") as f:
        base = int(f.read().rsplit(")", 1)[1].split()[16])
    back = min(base + 10, 19)
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        n = int(fields[16])  # field 19 of stat: nice
        out.append(10 if n == back and back != base else n - base)
    return sorted(out)


@test("isolation: [server] desk_threads = 3 starts three back-office threads; 0 is refused")
def _():
    s = iso_server("three", server={"desk_threads": 3})
    nice = thread_nices(s.proc.pid)
    check(nice.count(10) == 3, f"three back-office threads at nice 10: {nice}")
    contains(s.log(), "(3 for the desk)", what="start line")
    finish(s)
    bad = Server("iso-zero", base_config(server={"desk_threads": 0}), threads=1)
    try:
        bad.start(timeout=5)
        started = True
    except Fail:
        started = False
    check(not started, "a server with desk_threads = 0 started")
    contains(bad.log(), "desk_threads: expected an integer from 1 to 64", what="the refusal")


def login_from(s, client, name, password):
    """A login as sent by client (X-Forwarded-For; the server trusts 127.0.0.1 as a proxy)."""
    tok, fields = login_form(s)
    data = {"csrf": fields["csrf"], "next": "", "login": name, "password": password}
    return s.req("/desk/login", "POST", dict(FORM, **{"X-Forwarded-For": client}), urlencode(data).encode(),
                 cookie=f"{LOGIN_CSRF}={tok}")


@test("isolation: a slowed-down login (an account under attack) holds neither an HTTP nor a desk thread")
def _():
    s = iso_server("delay", server={"trusted_proxies": "127.0.0.1"})
    account(s, "anna", "agent")
    account(s, "boris", "agent")
    b = Agent(s, "boris")
    s.req("/request")
    # Seven wrong passwords for anna from seven addresses: every answer for her account now
    # waits 3 s (auth_login_delay_ms), without making any of those clients throttled itself.
    for i in range(7):
        eq(login_from(s, f"198.51.100.{i + 1}", "anna", "не тот пароль").status, 401, "a wrong password")
    slow = Background(lambda: login_from(s, "203.0.113.9", "anna", PASSWORD))
    time.sleep(0.3)
    member_pages_answer(s, "while a login answer is delayed")
    r, secs = timed(s, "/desk", cookie=b.cookie)
    eq(r.status, 200, "another agent's queue while a login answer is delayed")
    check(secs < 2, f"another agent's queue took {secs:.2f} s (the delay is 3 s)")
    check(slow.pending(), "the delayed login was answered already")
    r = slow.join(10)
    eq(r.status, 303, f"the right password still signs in ({short(r.body)})")
    check(slow.seconds >= 2.9, f"the answer came after {slow.seconds:.2f} s, not delayed by 3 s")
    finish(s)


@test("isolation: SIGTERM with a desk action waiting for the database: it is answered, exit 0")
def _():
    s = iso_server("stop")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    n = new_request(s)["number"]
    lock = WriteLock(s)
    act = Background(lambda: a.post(f"/desk/r/{n}", {"action": "note", "text": "Заметка при остановке"}))
    time.sleep(0.3)
    check(act.pending(), "the desk action did not wait for the lock")
    s.signal(signal.SIGTERM)
    time.sleep(0.5)
    lock.release()
    r = act.join(10)
    eq(r.status, 303, f"the desk action in flight during the shutdown ({short(r.body)})")
    rc, _ = s.stop(timeout=10)
    eq(rc, 0, "exit code")
    contains(s.log(), "spravka: stopped", what="log")
    eq(one(s, "SELECT count(*) FROM messages WHERE body = 'Заметка при остановке'"), 1, "the note stored")


@test("isolation: SIGTERM, grace over while a desk action waits for the lock: refused, queued desk page 503, exit 0 at once")
def _():
    s = iso_server("grace", server={"shutdown_grace": 1})
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    n = new_request(s)["number"]
    lock = WriteLock(s)
    try:
        s.req("/request")
        act = Background(lambda: a.post(f"/desk/r/{n}", {"action": "note", "text": "Не успела"}))
        time.sleep(0.3)
        queued = Background(lambda: a.get("/desk"))  # waits behind it on the one desk thread
        time.sleep(0.3)
        check(act.pending() and queued.pending(), "the desk requests did not wait")
        t0 = time.monotonic()
        rc, _ = s.stop(timeout=8)
        took = time.monotonic() - t0
        eq(rc, 0, "exit code")
        check(took < 4, f"the shutdown took {took:.1f} s with the lock still held")
        r = act.join(5)
        # Refused, not done: the desk says the action failed (422) or the server is stopping.
        check(r.status in (422, 503), f"the waiting desk action: {r.status} ({short(r.body)})")
        eq(queued.join(5).status, 503, "the queued desk page")
    finally:
        lock.release()
    eq(one(s, "SELECT count(*) FROM messages WHERE body = 'Не успела'"), 0, "nothing stored")


@test("isolation: SIGTERM while desk pages and creations are being resumed, 6 times: exit 0 every time")
def _():
    # A resumed connection's answer can complete (and free its state) on another thread at once:
    # http_resume once read that state after resuming (a crash at stop, 1 run in 3 under load),
    # and counted the resumption before asking for it (libmicrohttpd aborts when it stops with
    # a connection still suspended).
    for run in range(6):
        s = Server(f"iso-resume-{run}", base_config(server={"desk_threads": 1})).start()
        account(s, "anna", "agent")
        a = Agent(s, "anna")
        stop = threading.Event()

        def desk():
            while not stop.is_set():
                try:
                    a.get("/desk")
                except Exception:  # noqa: BLE001 - refused or cut at the stop: expected
                    return

        def create():
            while not stop.is_set():
                try:
                    new_request(s)
                except Exception:  # noqa: BLE001 - 503 or cut at the stop: expected
                    return
        workers = [threading.Thread(target=f, daemon=True) for f in (desk, desk, create, create)]
        for w in workers:
            w.start()
        time.sleep(0.3 + 0.1 * run)
        s.signal(signal.SIGTERM)
        rc, _ = s.stop(timeout=10)
        stop.set()
        for w in workers:
            w.join(10)
        if rc != 0:
            raise Fail(f"run {run}: exit code {rc}; stderr ends: {s.log()[-600:]!r}")
