"""End-to-end tests of issue #9's stateless nodes: several `spravka serve` processes on one
PostgreSQL database. The database going away and coming back (a cluster of the test's own,
stopped and started with pg_ctl), the secrets every node shares, content changes reaching every
node, the mail worker with several nodes.

Imported by run.py; registers its tests with the shared runner only when tests/run started a
PostgreSQL cluster (SPRAVKA_TEST_PG): the binaries of that cluster's version are used for the
test's own.
"""

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from urllib.parse import urlencode

from engine_tests import new_database, psql
from harness import CONTENT, ROOT, PgDatabase, Server, base_config, check, contains, eq, new_dir, spravka, test, wait_for

PG = os.environ.get("SPRAVKA_TEST_PG", "")
CYRILLIC = re.compile("[а-яА-ЯёЁ]")
PUBLIC = "https://help.example.test"
SEARCH = "/search?" + urlencode({"q": "налог"})
API_SEARCH = "/api/v1/search?" + urlencode({"q": "налог"})


class Cluster:
    """A PostgreSQL cluster of one test (tests/pg.sh), which the test may stop and start again on
    the same port."""

    def __init__(self):
        # Under /tmp itself, as tests/run's cluster: the cluster's user (postgres, when the tests
        # run as root) cannot enter the test run's private directory.
        self.dir = tempfile.mkdtemp(prefix="spravka-pg-own-", dir="/tmp")
        p = subprocess.run([os.path.join(ROOT, "tests", "pg.sh"), "start", self.dir], capture_output=True,
                           timeout=120)
        if p.returncode != 0:
            raise AssertionError(f"pg.sh start: {p.stderr.decode('utf-8', 'replace')}")
        self.url = p.stdout.decode().strip()
        self.port = self.url.rsplit(":", 1)[1].split("/")[0]
        self.bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]

    def _ctl(self, *args):
        cmd = [os.path.join(self.bin, "pg_ctl"), "-D", os.path.join(self.dir, "data"), *args]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        p = subprocess.run(cmd, capture_output=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError(f"pg_ctl {args[-1]}: {p.stderr.decode('utf-8', 'replace')}")

    def stop(self):
        self._ctl("-m", "fast", "-w", "stop")

    def start(self):
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._ctl("-l", os.path.join(self.dir, "server.log"), "-w", "-t", "60", "-o", opts, "start")

    def remove(self):
        subprocess.run([os.path.join(ROOT, "tests", "pg.sh"), "stop", self.dir], capture_output=True, timeout=120)


def request_body(member):
    return {"member_id": member, "name": "Мария Иванова", "email": f"m{member}@example.com",
            "phone": "+7 912 345-67-89", "country": "RU", "topic": "payouts", "subject": "Не пришла выплата",
            "description": f"Выплата за октябрь не пришла на карту, прошло уже две недели ({member})."}


def post_request(s, member, key):
    body = json.dumps(request_body(member), ensure_ascii=False).encode()
    return s.req("/api/v1/requests", "POST", {"Content-Type": "application/json", "Idempotency-Key": key}, body)


def status_of(s, path, **kw):
    try:
        return s.req(path, timeout=5, **kw).status
    except OSError:
        return 0


if PG:
    @test("nodes: PostgreSQL stops: cached pages and search still served, writes 503 in Russian, "
          "/healthz 503 and /livez 200; it starts again: the node reconnects by itself")
    def _():
        pg = Cluster()
        s = None
        try:
            s = Server("pg-restart", config=base_config(server={"db": pg.url})).start(timeout=30)
            eq(status_of(s, "/healthz"), 200, "/healthz with the database up")
            for path in ("/a/taxes", "/api/v1/articles/taxes", SEARCH, API_SEARCH):
                eq(status_of(s, path), 200, f"{path} before")
            for path in ("/a/taxes", "/api/v1/articles/taxes"):  # cached (the cache keeps a page served twice)
                eq(status_of(s, path), 200, f"{path} again")
            r = post_request(s, "6100001", "restart-1")
            eq(r.status, 201, f"a creation before the stop ({r.body[:200]!r})")

            pg.stop()
            eq(status_of(s, "/livez"), 200, "/livez without the database")
            r = s.req("/healthz")
            eq(r.status, 503, "/healthz without the database")
            contains(r.text, "database unreachable", what="/healthz")
            for path in ("/a/taxes", "/api/v1/articles/taxes", SEARCH, API_SEARCH):
                r = s.req(path)
                eq(r.status, 200, f"{path} without the database ({r.body[:200]!r})")
            contains(s.req("/a/taxes").text, "<h1", what="the cached article")
            r = post_request(s, "6100002", "restart-2")
            eq(r.status, 503, f"a creation without the database ({r.body[:200]!r})")
            eq(r.json()["error"]["code"], "unavailable", "the API's error code")
            check(CYRILLIC.search(r.json()["error"]["message"]), f"a Russian message: {r.body[:200]!r}")
            r = s.req("/desk/login")
            check(r.status == 503 or r.status == 200, f"/desk/login without the database: {r.status}")
            r = s.req("/r/" + "A" * 43)
            eq(r.status, 503, "a private link without the database")
            contains(r.header("content-type") or "", "text/html", what="its type")
            check(CYRILLIC.search(r.text), "a Russian page")

            pg.start()
            wait_for(lambda: status_of(s, "/healthz") == 200, 10, "/healthz ok after the restart")
            # The creation that failed is made now with the same key; the first is replayed.
            r = post_request(s, "6100002", "restart-2")
            eq(r.status, 201, f"the retried creation ({r.body[:200]!r})")
            r = post_request(s, "6100001", "restart-1")
            check(r.status in (200, 201), f"the replay of the first creation: {r.status}")
            eq(str(psql(pg.url, "SELECT count(*) FROM requests")), "2", "requests stored")
            for path in ("/a/taxes", SEARCH, "/a/password-reset"):
                eq(status_of(s, path), 200, f"{path} after the restart")
            # One build from every text after the listener's reconnect (it retries every 2 s at
            # most), then no more.
            wait_for(lambda: metric(s, "spravka_search_rebuilds_total") >= 2, 5,
                     "the resync after the listener's reconnect")
            rebuilds = metric(s, "spravka_search_rebuilds_total")
            time.sleep(1.5)
            eq(metric(s, "spravka_search_rebuilds_total"), rebuilds, "builds from every text once recovered")
            rc, _ = s.stop()
            eq(rc, 0, f"the node's exit code ({s.log()[-3000:]})")
        finally:
            if s:
                s.stop()
            pg.remove()


if PG:
    @test("nodes: a private link made on node A opens on node B; the key of an existing data "
          "directory becomes the database's, so links already sent keep working")
    def _():
        url = new_database()
        old_key = bytes(range(7, 39))
        data_a = os.path.join(new_dir("pg-link-a"), "data")
        os.makedirs(data_a, mode=0o700)
        with open(os.path.join(data_a, "link.key"), "wb") as f:  # as SQLite's server left it
            f.write(old_key)
        os.chmod(os.path.join(data_a, "link.key"), 0o600)
        data_b = os.path.join(new_dir("pg-link-b"), "data")
        os.makedirs(data_b, mode=0o700)
        with open(os.path.join(data_b, "link.key"), "wb") as f:  # a node's own key, of an older version
            f.write(bytes(32))
        a = b = None
        try:
            a = Server("pg-link-a", config=base_config(server={"db": url, "public_url": PUBLIC}),
                       data=data_a).start(timeout=30)
            b = Server("pg-link-b", config=base_config(server={"db": url, "public_url": PUBLIC}),
                       data=data_b).start(timeout=30)
            eq(str(psql(url, "SELECT value FROM secrets WHERE name = 'link'")), old_key.hex(), "the database's link key")
            contains(b.log(), "differs from the database's link key", what="node B's stderr")
            member = "6200001"
            r = post_request(a, member, "link-a")
            eq(r.status, 201, f"created on A ({r.body[:200]!r})")
            link = r.json()["url"]
            eq(b.req(link).status, 200, "A's link opened on B")
            # A letter made on B for the request made on A carries a link that opens on A and B.
            before = int(psql(url, "SELECT coalesce(max(id), 0) FROM outbox"))
            r = b.req("/request/lost", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                      f"member_id={member}".encode())
            eq(r.status, 200, "«Потеряли ссылку?» on B")
            body = psql(url, f"SELECT body FROM outbox WHERE id > {before} ORDER BY id")
            m = re.search(re.escape(PUBLIC) + r"(/r/[A-Za-z0-9_-]{43})", body)
            check(m, f"no link in B's letter: {body[:300]!r}")
            eq(m.group(1), link, "the link in B's letter")
            for s in (a, b):
                eq(s.req(m.group(1)).status, 200, f"the letter's link on {s.name}")
        finally:
            for s in (a, b):
                if s:
                    s.stop()


WORD = "гиперсинхрон"  # in no demo text


def found(s, word):
    r = s.req("/api/v1/search?" + urlencode({"q": word}), timeout=5)
    return r.status == 200 and any(x["slug"] == "password-reset" for x in r.json()["results"])


def metric(s, name):
    m = re.search(rf"^{name} (\d+)$", s.req("/metrics").text, re.M)
    check(m, f"/metrics lacks {name}")
    return int(m.group(1))


if PG:
    @test("nodes: an article imported with spravka import --db while two nodes run is found by search on "
          "both within 1 s (LISTEN/NOTIFY); a listener that lost its connection resyncs everything")
    def _():
        url = new_database()
        a = b = None
        try:
            a = Server("pg-notify-a", config=base_config(server={"db": url})).start(timeout=30)
            b = Server("pg-notify-b", config=base_config(server={"db": url})).start(timeout=30)
            eq(str(psql(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'spravka-listen' AND datname = current_database()")), "2",
               "listening connections")
            for s in (a, b):
                check(not found(s, WORD), f"{s.name}: the word before the import")
            d = os.path.join(new_dir("pg-notify-content"), "content")
            os.makedirs(d)
            shutil.copy(os.path.join(CONTENT, "sections"), d)
            with open(os.path.join(CONTENT, "password-reset.md"), encoding="utf-8") as f:
                text = f.read().rstrip("\n") + f"\n\nНовый способ: {WORD} в настройках.\n"
            with open(os.path.join(d, "password-reset.md"), "w", encoding="utf-8") as f:
                f.write(text)
            rc, _, err = spravka("import", d, "--db", url, "--data", new_dir("pg-notify-cli"))
            t0 = time.monotonic()
            eq(rc, 0, f"import ({err.strip()})")
            for s in (a, b):
                wait_for(lambda: found(s, WORD), 1.0 - (time.monotonic() - t0), f"{s.name} finds the imported word")
            took = time.monotonic() - t0
            check(took < 1.0, f"found on both after {took:.2f} s")
            # The listener's connection is cut: after its reconnect, the node builds its index from
            # every text (a change announced meanwhile would have been missed).
            rebuilds = metric(a, "spravka_search_rebuilds_total")
            psql(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'spravka-listen' AND datname = current_database()")
            wait_for(lambda: metric(a, "spravka_search_rebuilds_total") > rebuilds, 5,
                     "a build from every text after the listeners' reconnect")
            wait_for(lambda: str(psql(
                url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'spravka-listen' AND datname = current_database()")) == "2", 5,
                "listening again")
            for s in (a, b):
                check(found(s, WORD), f"{s.name}: the word after the resync")
                eq(s.req("/a/password-reset").status, 200, f"{s.name}: the article")
        finally:
            for s in (a, b):
                if s:
                    s.stop()


if PG:
    @test("nodes: letters queued while two nodes' mail workers run are each sent exactly once (SMTP sink)")
    def _():
        from desk_tests import Sink
        url = new_database()
        sink = Sink(seconds=60)
        a = b = None
        try:
            cfg = dict(server={"db": url}, **sink.relay())
            a = Server("pg-mail-a", config=base_config(**cfg)).start(timeout=30)
            b = Server("pg-mail-b", config=base_config(**cfg)).start(timeout=30)
            # Due at once for both workers, which take them in the same order: every letter is
            # contended.
            psql(url, "INSERT INTO outbox(to_addr, subject, body, next_attempt, created) "
                      "SELECT 'member' || i || '@example.org', 'Письмо ' || i, 'Текст ' || i, 0, 0 "
                      "FROM generate_series(1, 60) AS i")
            created = []
            for i, s in enumerate((a, b, a, b)):  # letters of creations, queued on each node
                r = post_request(s, f"63000{i:02d}", f"mail-{i}")
                eq(r.status, 201, f"a creation on {s.name} ({r.body[:200]!r})")
                created.append(r.json()["number"])
            want = 64
            wait_for(lambda: len(sink.messages()) >= want, 20, f"{want} letters in the sink")
            time.sleep(2.5)  # both workers' next rounds: nothing sent twice
            got = sink.messages()
            subjects = [str(m["Subject"]) for m in got]
            eq(len(got), want, f"letters sent ({len(got)}; repeated: "
                               f"{sorted({x for x in subjects if subjects.count(x) > 1})[:5]})")
            eq(len({m["X-Sink-Rcpt-To"] + str(m["Subject"]) for m in got}), want, "distinct letters")
            eq(str(psql(url, "SELECT count(*) FROM outbox WHERE status <> 'sent'")), "0", "letters not sent")
            for n in created:
                check(any(n in str(m["Subject"]) or n in m.get_body().get_content() for m in got),
                      f"the letter of {n}")
        finally:
            for s in (a, b):
                if s:
                    s.stop()
            sink.stop()


def attachment_request(s, member, files):
    """A request with files created through s (multipart API); its JSON answer."""
    from desk_tests import multipart
    f = request_body(member)
    body, ctype = multipart(list(f.items()), files)
    r = s.req("/api/v1/requests", "POST", {"Content-Type": ctype}, body, timeout=30)
    eq(r.status, 201, f"a request with files on {s.name} ({r.body[:200]!r})")
    return r.json()


if PG:
    @test("nodes: a file attached through node A is downloaded through node B (the member's private link "
          "and the desk): same bytes and type, stored once in the database; the sweep keeps referenced files")
    def _():
        from desk_tests import PDF, PNG, Agent, user_add
        url = new_database()
        a = b = c = None
        cfg = base_config(server={"db": url}, limits={"file_sweep_hours": 1})
        try:
            a = Server("pg-files-a", config=cfg).start(timeout=30)
            b = Server("pg-files-b", config=cfg).start(timeout=30)
            # Over two chunks of 1 MiB, so that the download joins chunks; and a small PDF.
            big = PNG + os.urandom((2 << 20) + 4321)
            j = attachment_request(a, "6400001", [("attachments", "скан.png", big, "image/png"),
                                                  ("attachments", "акт.pdf", PDF, "application/pdf")])
            rows = PgDatabase(url).query("SELECT a.id, a.sha256 FROM attachments a JOIN requests r ON r.id = "
                                         "a.request_id WHERE r.number = ? ORDER BY a.id", (j["number"],))
            eq(len(rows), 2, "attachment rows")
            (png_id, png_sha), (pdf_id, pdf_sha) = rows
            eq(png_sha, hashlib.sha256(big).hexdigest(), "the PNG's hash")
            eq(str(psql(url, f"SELECT chunks FROM file_store WHERE sha256 = '{png_sha}'")), "3", "the PNG's chunks")
            for s in (a, b):
                check(not os.path.exists(os.path.join(s.data, "files")), f"{s.name} keeps files on its own disk")
            # The member's private link, through B.
            page = b.req(j["url"])
            eq(page.status, 200, "A's link on B")
            for fid in (png_id, pdf_id):
                contains(page.text, f'href="{j["url"]}?file={fid}"', what="the member's page on B")
            for fid, data, ctype, name in ((png_id, big, "image/png", "скан.png"),
                                           (pdf_id, PDF, "application/pdf", "акт.pdf")):
                r = b.req(f"{j['url']}?file={fid}", timeout=30)
                eq(r.status, 200, f"the member's download of {name} on B")
                eq(r.body, data, f"the bytes of {name} through the member's link on B")
                eq(r.header("content-type"), ctype, f"the type of {name}")
                contains(r.header("content-disposition") or "", "attachment", what=f"{name}: Content-Disposition")
                eq(r.header("cache-control"), "private, no-store", f"{name}: Cache-Control")
            # Not an attachment of this request: not found, whatever the id.
            other = attachment_request(a, "6400002", [("attachments", "чужой.pdf", PDF + b"other", "application/pdf")])
            other_id = PgDatabase(url).value("SELECT max(id) FROM attachments")
            for bad in (str(other_id), "0", "x", f"{png_id}x", ""):
                eq(b.req(f"{j['url']}?file={bad}").status, 404, f"?file={bad!r} on another request's link")
            eq(b.req(f"{other['url']}?file={other_id}").status, 200, "the other request's own file")
            # The desk, through B, with an account made against the shared database.
            rc, err = user_add(new_dir("pg-files-user"), "--role", "agent", "--login", "anna", "--db", url)
            eq(rc, 0, f"user add ({err.strip()})")
            agent = Agent(b, "anna")
            for fid, data, ctype in ((png_id, big, "image/png"), (pdf_id, PDF, "application/pdf")):
                r = agent.get(f"/desk/f/{fid}")
                eq(r.status, 200, f"the desk's download of {fid} on B")
                eq(r.body, data, f"the bytes of {fid} through the desk on B")
                eq(r.header("content-type"), ctype, f"the desk's type of {fid}")
            # The same content through B again: stored once.
            attachment_request(b, "6400003", [("attachments", "снова.png", big, "image/png")])
            eq(str(psql(url, f"SELECT count(*) FROM file_store WHERE sha256 = '{png_sha}'")), "1", "stored once")
            eq(str(psql(url, f"SELECT count(*) FROM file_chunks WHERE sha256 = '{png_sha}'")), "3", "chunks once")
            # The sweep: every content made old; one of them referenced by no row. A node started now
            # sweeps a few seconds after its start: the orphan goes, every referenced file stays.
            orphan = "ab" * 32
            psql(url, f"INSERT INTO file_store(sha256, size, chunks, stored) VALUES ('{orphan}', 3, 1, 0);"
                      f"INSERT INTO file_chunks(sha256, n, data) VALUES ('{orphan}', 0, '\\x010203'::bytea);"
                      "UPDATE file_store SET stored = 0;")
            c = Server("pg-files-c", config=cfg).start(timeout=30)
            wait_for(lambda: str(psql(url, f"SELECT count(*) FROM file_store WHERE sha256 = '{orphan}'")) == "0", 15,
                     "the sweep of node C removes the unreferenced content")
            eq(str(psql(url, f"SELECT count(*) FROM file_chunks WHERE sha256 = '{orphan}'")), "0", "its chunks")
            eq(str(psql(url, "SELECT count(*) FROM file_store WHERE sha256 NOT IN (SELECT hash FROM media)")), "3",
               "the referenced contents stay")
            eq(str(psql(url, "SELECT count(*) FROM media WHERE hash NOT IN (SELECT sha256 FROM file_store)")), "0",
               "the article images (the demo content's) stay")
            for s in (a, b, c):
                r = s.req(f"{j['url']}?file={png_id}", timeout=30)
                eq((r.status, r.body == big), (200, True), f"the PNG through {s.name} after the sweep")
        finally:
            for s in (a, b, c):
                if s:
                    s.stop()
