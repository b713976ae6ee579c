"""End-to-end tests of issue #9's topology: two `spravka serve` nodes on one PostgreSQL database
behind haproxy, all on 127.0.0.1. haproxy runs deploy/haproxy.cfg itself, with only its
addresses (the nodes' and the frontend's ports), its check interval (200 ms instead of 1 s, so
that a node is taken out within half a second) and an admin socket (to pin requests to one node
and read the servers' states) changed here: what these tests pass, the shipped file does.

A request created through A is answered through B; a desk session made on A works on B; 50
concurrent creations for one member and topic spread over both nodes make one request; node A
killed under load leaves haproxy serving from B without a failure after the check interval;
PostgreSQL restarted under load loses no acknowledged creation and both nodes recover by
themselves. (An import on A found by search on B, and a letter sent once with two workers, are
nodes_tests.py's.)

Imported by run.py; registered only on the PostgreSQL run of the suite (SPRAVKA_TEST_ENGINE=
postgres with SPRAVKA_TEST_PG): the nodes use databases of their own either way, so once is
enough. haproxy must be installed (scripts/install-deps test).
"""

import csv
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from urllib.parse import urlencode

from desk_tests import Agent, hidden, user_add
from engine_tests import new_database
from harness import (POSTGRES, ROOT, Fail, PgDatabase, Server, base_config, check, contains, eq, free_port,
                     new_dir, short, test, wait_for)
from nodes_tests import CYRILLIC, Cluster, request_body

PG = os.environ.get("SPRAVKA_TEST_PG", "")
DEPLOYED = os.path.join(ROOT, "deploy", "haproxy.cfg")
SEARCH = "/api/v1/search?" + urlencode({"q": "налог"})
# A node is marked down after `fall` failed checks `inter` apart, and up after `rise` good ones.
INTER, FALL, RISE = 0.2, 2, 1
LIMITS = {"requests": {"max_per_ip_hour": 1000000, "max_per_member_day": 1000000}}


class Haproxy:
    """haproxy in front of nodes (Servers), with deploy/haproxy.cfg's settings; req() and log()
    as a Server's. Listed in Server.running while it runs, so that a run that ends without the
    test that stops it (run.py WORD...) stops it too."""

    req, log = Server.req, Server.log  # on haproxy's port; its output (errpath)

    def __init__(self, nodes, name="haproxy"):
        self.name = name
        self.dir = new_dir(name)
        self.sock = os.path.join(self.dir, "admin.sock")
        self.nodes = nodes
        self.proc = None
        self.errpath = os.path.join(self.dir, "haproxy.log")

    def config(self):
        with open(DEPLOYED, encoding="utf-8") as f:
            text = f.read()
        servers = "".join(f"    server {s.name} 127.0.0.1:{s.port} check\n" for s in self.nodes)
        changes = [
            (r"(?m)^global\n", f"global\n    stats socket {self.sock} mode 600 level admin\n", 1),
            (r"(?m)^(\s*)maxconn 20000$", r"\g<1>maxconn 500", 1),  # within a user's descriptor limit
            (r"(?m)^(\s*)bind :80$", rf"\g<1>bind 127.0.0.1:{self.port}", 1),
            (r"inter 1s fall 2 rise 2", f"inter {int(INTER * 1000)}ms fall {FALL} rise {RISE}", 2),
            (r"(?m)^    server node1 \S+ check\n(?:    server node\d+ \S+ check\n)*", servers.replace("\\", "\\\\"), 2),
        ]
        for pattern, repl, want in changes:
            text, n = re.subn(pattern, repl, text)
            eq(n, want, f"deploy/haproxy.cfg: places matching {pattern!r}")
        return text

    def start(self):
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        check(os.access(exe, os.X_OK), "haproxy is not installed (scripts/install-deps test)")
        for _ in range(3):  # the chosen port may be taken between choosing and binding
            self.port = free_port()
            path = os.path.join(self.dir, "haproxy.cfg")
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.config())
            self.out = open(self.errpath, "ab")
            self.proc = subprocess.Popen([exe, "-db", "-f", path], stdin=subprocess.DEVNULL, stdout=self.out,
                                         stderr=subprocess.STDOUT)
            Server.running.append(self)  # stopped by the runner's Server.stop_all at the latest
            try:
                wait_for(lambda: self.proc.poll() is not None or self.listening(), 5, "haproxy listening")
            except Fail:
                pass
            if self.proc.poll() is None and self.listening():
                self.wait_up("spravka", [s.name for s in self.nodes])
                return self
            self.stop()
        raise Fail(f"haproxy did not start: {short(self.log()[-800:])}")

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return os.path.exists(self.sock)
        except OSError:
            return False

    def admin(self, command):
        """One command on haproxy's admin socket: its answer."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.sock)
            s.sendall(command.encode() + b"\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out.decode()
                out += chunk

    def stats(self):
        """{(backend, server): {field: value}} of haproxy's `show stat` (status: "UP", "DOWN",
        "MAINT"...; stot: requests sent to that server)."""
        rows = list(csv.reader(self.admin("show stat").lstrip("# ").splitlines()))
        return {(r[0], r[1]): dict(zip(rows[0], r)) for r in rows[1:] if len(r) == len(rows[0])}

    def states(self):
        """{(backend, server): status}."""
        return {k: v["status"].split(" ")[0] for k, v in self.stats().items()}

    def sent(self, backend="spravka"):
        """{server: requests haproxy sent it} in backend."""
        return {k[1]: int(v["stot"]) for k, v in self.stats().items() if k[0] == backend and k[1] != "BACKEND"}

    def errors(self):
        """haproxy's log lines of answers it made itself (502, 504, no server), the first ones,
        for a failure's message."""
        return [line for line in self.log().splitlines() if re.search(r" 50[24] \d+ |<NOSRV>.* 503 ", line)][:4]

    def wait_up(self, backend, names, timeout=5):
        wait_for(lambda: all(self.states().get((backend, n)) == "UP" for n in names), timeout,
                 f"haproxy: {names} up in {backend}")

    def only(self, node):
        """Every request goes to node: the others are put in maintenance (None: all again)."""
        for s in self.nodes:
            for backend in ("spravka", "spravka_alive"):
                state = "ready" if node is None or s is node else "maint"
                self.admin(f"set server {backend}/{s.name} state {state}")
        if node is None:
            self.wait_up("spravka", [s.name for s in self.nodes])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc:
            self.out.close()
        self.proc = None
        if self in Server.running:
            Server.running.remove(self)


def post_request(front, member, key=None, timeout=10):
    body = json.dumps(request_body(member), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    return front.req("/api/v1/requests", "POST", headers, body, timeout=timeout)


class Pair:
    """Nodes a and b on one new database of the test cluster, haproxy in front; an agent
    account."""

    def __init__(self, name):
        self.url = new_database()
        self.nodes = []
        self.hp = None
        try:
            for n in ("a", "b"):
                cfg = base_config(server={"db": self.url}, **LIMITS)
                s = Server(n, config=cfg)
                s.name = n  # haproxy's name of the server, too
                self.nodes.append(s.start(timeout=30))
            self.a, self.b = self.nodes
            self.hp = Haproxy(self.nodes, name).start()
            rc, err = user_add(self.a.data, "--role", "agent", "--login", "anna", "--db", self.url)
            eq(rc, 0, f"user add ({err.strip()})")
        except BaseException:
            self.stop()
            raise

    def db(self):
        return PgDatabase(self.url)

    def stop(self):
        if self.hp:
            self.hp.stop()
        for s in self.nodes:
            s.stop()


_pair = [None]


def pair():
    """The pair the tests below share, started at first use (the kill test stops it)."""
    if _pair[0] is None:
        _pair[0] = Pair("haproxy")
    return _pair[0]


class Via:
    """A desk agent's requests sent to another front (a node or haproxy) with the same cookie."""

    def __init__(self, agent, front):
        self.agent, self.s = agent, front
        self.cookie, self.csrf = agent.cookie, agent.csrf

    get, post, act = Agent.get, Agent.post, Agent.act


if PG and POSTGRES:
    @test("haproxy: a desk session made on node A works on node B with the same cookie; its logout on B "
          "ends it on A")
    def _():
        p = pair()
        a = Agent(p.a, "anna")  # signed in on A
        check(a.csrf, "the desk page on A")
        on_b = Via(a, p.b)
        r = on_b.get("/desk")
        eq(r.status, 200, "the queue on B with A's cookie")
        contains(r.text, "anna", what="B's desk page")
        eq(hidden(r.text, r'<form action="/desk/logout".*?</form>')["csrf"], a.csrf, "the session's CSRF token on B")
        p.hp.only(p.b)
        try:
            eq(Via(a, p.hp).get("/desk").status, 200, "the queue through haproxy (B) with A's cookie")
        finally:
            p.hp.only(None)
        eq(on_b.post("/desk/logout", {}).status, 303, "logout on B")
        r = a.get("/desk")
        eq(r.status, 303, "A after the logout on B")
        check("/desk/login" in (r.header("location") or ""), f"to the login page: {r.header('location')}")

    @test("haproxy: a request created through haproxy on node A is seen and answered by an agent on "
          "node B; the member reads the answer through the private link on A")
    def _():
        p = pair()
        before = p.hp.sent()
        p.hp.only(p.a)
        try:
            r = post_request(p.hp, "6400001", "hp-1")
        finally:
            p.hp.only(None)
        eq(r.status, 201, f"created through haproxy ({short(r.body)})")
        after = p.hp.sent()
        eq((after["a"] - before["a"], after["b"] - before["b"]), (1, 0), "requests haproxy sent to A and B")
        number, link = r.json()["number"], r.json()["url"]
        agent = Agent(p.b, "anna")  # signed in on B
        r = agent.get("/desk")
        eq(r.status, 200, "B's queue")
        contains(r.text, number, what="B's queue")
        reply = "Выплату отправили повторно, она придёт завтра (ответ через узел B)."
        agent.act(number, action="reply", text=reply)
        eq(p.db().value("SELECT count(*) FROM messages m JOIN requests r ON r.id = m.request_id "
                        "WHERE r.number = ? AND m.author = 'agent'", (number,)), 1, "the agent's message stored")
        r = p.a.req(link)
        eq(r.status, 200, "the private link on A")
        contains(r.text, "ответ через узел B", what="the member's page on A")
        r = p.hp.req(link)
        eq(r.status, 200, "the private link through haproxy")
        contains(r.text, "ответ через узел B", what="the member's page through haproxy")

    @test("haproxy: 50 concurrent creations for one member and topic, round robin over both nodes, "
          "make exactly one request; the other 49 answer 409 duplicate")
    def _():
        p = pair()
        member = "6400002"
        before = p.hp.sent()
        start = threading.Barrier(50)
        answers = [None] * 50

        def create(i):
            try:
                start.wait(10)
                r = post_request(p.hp, member, f"dup-{i}", timeout=20)
                answers[i] = (r.status, r.body)
            except Exception as e:  # reported below
                answers[i] = (0, repr(e).encode())

        threads = [threading.Thread(target=create, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(25)
        statuses = sorted(a[0] for a in answers if a)
        eq(statuses.count(201), 1, f"creations answered 201 ({statuses})")
        eq(statuses.count(409), 49, f"duplicates answered 409 ({statuses})")
        for status, body in answers:
            if status == 409:
                j = json.loads(body)
                eq(j["error"]["code"], "duplicate", "the duplicate's code")
                eq(j["error"]["existing"]["status"], "new", "the existing request's status")
        eq(p.db().value("SELECT count(*) FROM requests WHERE member_id = ?", (member,)), 1, "requests of the member")
        eq(p.db().value("SELECT count(*) FROM idempotency WHERE key LIKE 'api:dup-%'"), 1,
           "keys stored (a duplicate's answer is not kept)")
        after = p.hp.sent()
        for s in p.nodes:
            n = after[s.name] - before[s.name]
            check(n >= 15, f"haproxy sent node {s.name} {n} of the 50 (round robin)")

    @test("haproxy: node A killed (SIGKILL) under load: after the check interval every request is "
          "served by B, none fails")
    def _():
        p = pair()
        _pair[0] = None  # the pair ends here
        try:
            done = threading.Event()
            results = []  # (start time, end time, ok, what)
            lock = threading.Lock()

            def client(k):
                paths = ["/a/taxes", SEARCH, "/api/v1/articles/password-reset", "/a/password-reset"]
                i = k
                while not done.is_set() and len(results) < 20000:
                    path = paths[i % len(paths)]
                    i += 1
                    t = time.monotonic()
                    try:
                        r = p.hp.req(path, timeout=3)
                        ok, what = r.status == 200, f"{r.status} {path}"
                    except (OSError, http.client.HTTPException) as e:
                        ok, what = False, f"{e!r} {path}"
                    with lock:
                        results.append((t, time.monotonic(), ok, what))

            threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
            for t in threads:
                t.start()
            try:
                time.sleep(1.0)
                killed = time.monotonic()
                p.a.proc.kill()
                p.a.proc.wait(5)
                wait_for(lambda: p.hp.states().get(("spravka", "a")) == "DOWN", 3, "A marked down")
                down = time.monotonic() - killed
                time.sleep(1.5)
            finally:
                done.set()
                for t in threads:
                    t.join(10)
            # In flight at the kill: requests begun before A was marked down (one check
            # interval's slack for a request begun just before).
            settled = killed + down + INTER
            before = [r for r in results if r[1] < killed]
            after = [r for r in results if r[0] >= settled]
            check(len(before) >= 20 and len(after) >= 50, f"requests before the kill {len(before)}, after {len(after)}")
            eq([r[3] for r in before if not r[2]], [], f"failures before the kill (haproxy: {p.hp.errors()})")
            eq([r[3] for r in after if not r[2]], [], f"failures {down:.2f} s after the kill (haproxy: {p.hp.errors()})")
            print(f"# haproxy: A down {down:.2f} s after the kill; requests {len(results)}, failed "
                  f"{sum(1 for r in results if not r[2])} (in flight), after {len(after)} none", flush=True)
            eq(p.b.req("/healthz").status, 200, "B")
        finally:
            p.stop()

    @test("haproxy: PostgreSQL restarted under load: every creation answered 201 is stored, writes "
          "meanwhile answer 503 in Russian, cached pages still served, both nodes recover by themselves")
    def _():
        pg = Cluster()
        nodes, hp = [], None
        try:
            for n in ("a", "b"):
                s = Server(n, config=base_config(server={"db": pg.url}, **LIMITS))
                s.name = n
                nodes.append(s.start(timeout=30))
            hp = Haproxy(nodes, "haproxy-pg").start()
            for _ in range(2):  # a page cached on both nodes (round robin)
                eq(hp.req("/a/taxes").status, 200, "an article before")
            run = uuid.uuid4().hex[:8]
            lock = threading.Lock()
            done = threading.Event()
            jobs = []  # [member, key, number answered or None]
            stats = {"201": 0, "503": 0}
            problems = []

            def client():
                while not done.is_set() and len(jobs) < 3000:
                    with lock:
                        job = [str(6500000 + len(jobs)), f"pg-{run}-{len(jobs)}", None]
                        jobs.append(job)
                    try:
                        r = post_request(hp, job[0], job[1], timeout=10)
                    except (OSError, http.client.HTTPException) as e:
                        with lock:
                            problems.append(f"{job[1]}: {e!r}")
                        continue
                    if r.status == 503:
                        time.sleep(0.05)  # as a client told to retry later would
                    with lock:
                        if r.status == 201:
                            job[2] = r.json()["number"]
                            stats["201"] += 1
                        elif r.status == 503 and (r.header("content-type") or "").startswith("application/json"):
                            err = json.loads(r.body)["error"]
                            stats["503"] += 1
                            if err["code"] != "unavailable" or not CYRILLIC.search(err["message"]):
                                problems.append(f"{job[1]}: 503 {short(r.body)}")
                        else:
                            problems.append(f"{job[1]}: {r.status} {short(r.body)}")

            threads = [threading.Thread(target=client) for _ in range(4)]
            for t in threads:
                t.start()
            try:
                time.sleep(0.8)
                acked_before = stats["201"]
                pg.stop()
                wait_for(lambda: stats["503"] >= 4, 5, "writes answered 503 while PostgreSQL is down")
                r = hp.req("/a/taxes")
                eq(r.status, 200, f"the cached article through haproxy while PostgreSQL is down ({short(r.body)})")
                wait_for(lambda: hp.states().get(("spravka", "a")) == "DOWN" and hp.states().get(("spravka", "b"))
                         == "DOWN", 3, "both nodes out of backend spravka")
                eq(hp.req("/a/taxes").status, 200, "the cached article from backend spravka_alive")
                eq(hp.req(SEARCH).status, 200, "search from backend spravka_alive")
                pg.start()
                restarted = time.monotonic()
                for s in nodes:
                    wait_for(lambda: s.req("/healthz", timeout=3).status == 200, 10, f"node {s.name}'s /healthz")
                recovered = time.monotonic() - restarted
                n = stats["201"]
                wait_for(lambda: stats["201"] > n + 8, 10, "creations through haproxy again")
            finally:
                done.set()
                for t in threads:
                    t.join(15)
            eq(problems, [], f"answers other than 201 and a Russian 503 (haproxy: {hp.errors()})")
            check(acked_before > 0, "no creation before the stop")
            for s in nodes:  # each node creates again
                r = post_request(s, f"66{s.port:05d}", f"after-{run}-{s.name}")
                eq(r.status, 201, f"a creation on node {s.name} after the restart ({short(r.body)})")
            # What had no 201 is sent again with its key: created now, or replayed if it was.
            retried = 0
            for job in jobs:
                if job[2] is None:
                    r = post_request(hp, job[0], job[1])
                    eq(r.status, 201, f"{job[1]} retried ({short(r.body)})")
                    job[2] = r.json()["number"]
                    retried += 1
            db = PgDatabase(pg.url)
            rows = dict(db.query("SELECT member_id, number FROM requests WHERE member_id LIKE '65%'"))
            lost = [j for j in jobs if rows.get(j[0]) != j[2]]
            eq(lost, [], "acknowledged creations missing or with another number")
            eq(len(rows), len(jobs), "requests stored (one per key)")
            eq(db.value("SELECT count(*) FROM idempotency WHERE key LIKE ?", (f"api:pg-{run}-%",)), len(jobs),
               "keys stored")
            print(f"# haproxy: PostgreSQL restart: {len(jobs)} creations, {stats['503']} answered 503, "
                  f"{retried} retried, nodes healthy {recovered:.2f} s after the start", flush=True)
        finally:
            if hp:
                hp.stop()
            for s in nodes:
                s.stop()
            pg.remove()
