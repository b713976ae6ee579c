"""End-to-end tests of issue #9's first step, the choice of the database engine: `spravka backup`
(SQLite's online backup while the server writes; on PostgreSQL the pg_dump command, its password
elided) and, when tests/run started a PostgreSQL cluster (SPRAVKA_TEST_PG), the commands on it
(`--db` and `[server] db`) and several nodes starting at once on an empty database.

Imported by run.py; registers its tests with the shared runner. The PostgreSQL tests are
registered only when SPRAVKA_TEST_PG is set (tests/run sets it; a bare run.py has no cluster).
"""

import json
import os
import subprocess
import threading

from harness import (CONTENT, PgDatabase, Server, SqliteDatabase, base_config, check, contains, db_url, eq,
                     new_dir, no_5xx, spravka, sqlite_only, test)

PG = os.environ.get("SPRAVKA_TEST_PG", "")


def create_request(s, member, key):
    body = {"member_id": member, "name": "Мария Иванова", "email": f"m{member}@example.com",
            "phone": "+7 912 345-67-89", "country": "RU", "topic": "payouts",
            "subject": "Не пришла выплата",
            "description": f"Выплата за октябрь не пришла на карту, прошло уже две недели ({member})."}
    r = s.req("/api/v1/requests", "POST", {"Content-Type": "application/json", "Idempotency-Key": key},
              json.dumps(body, ensure_ascii=False).encode())
    eq(r.status, 201, f"creating a request ({r.body[:200]!r})")
    return r.json()


@test("backup: a consistent copy of the SQLite database while the server writes; never over a file")
def _():
    sqlite_only("the copy of the SQLite file (on PostgreSQL: the next test, pg_dump)")
    s = Server("backup").start()
    for i in range(3):
        create_request(s, f"{5550000 + i}", f"backup-{i}")
    out = os.path.join(new_dir("backup-out"), "copy.db")
    rc, stdout, stderr = spravka("backup", out, "--data", s.data, "--config", s.config)
    eq(rc, 0, f"exit code ({stderr})")
    contains(stderr, "copied to", what="stderr")
    eq(os.stat(out).st_mode & 0o777, 0o600, "the copy's mode")
    copy = SqliteDatabase(out)
    eq(copy.value("PRAGMA integrity_check"), "ok", "integrity of the copy")
    eq(copy.value("SELECT count(*) FROM requests"), 3, "requests in the copy")
    rc, _, stderr = spravka("backup", out, "--data", s.data, "--config", s.config)
    eq(rc, 1, "a second backup onto the same file")
    contains(stderr, "File exists", what="stderr")
    rc, _, stderr = spravka("backup", "--data", s.data)
    eq(rc, 2, "backup without a file")
    no_5xx(s)
    s.stop()


@test("backup: on PostgreSQL it prints the pg_dump command, the URL's password elided")
def _():
    rc, stdout, stderr = spravka("backup", "/tmp/it's.dump", "--db", "postgres://help:s3cret@db.example.org:5433/help")
    eq(rc, 0, f"exit code ({stderr})")
    eq(stdout, "pg_dump --format=custom --file='/tmp/it'\\''s.dump' 'postgres://help:***@db.example.org:5433/help'\n",
       "stdout")
    check("s3cret" not in stderr + stdout, "the password is never printed")
    rc, _, stderr = spravka("import", CONTENT, "--db", "mysql://x")
    eq(rc, 2, "a --db that is not a postgres:// URL")
    contains(stderr, "postgres://", what="stderr")


def psql(url, sql):
    """The first value of a query on a database of the test cluster."""
    return PgDatabase(url).value(sql)


def new_database():
    """A new empty database on the test cluster (dropped at the end); its URL."""
    return db_url(new_dir("pg-db"))


if PG:
    @test("postgres: three nodes starting at once on an empty database import the demo content once")
    def _():
        url = new_database()
        nodes = [Server(f"pg-node{i}", config=base_config(server={"db": url})) for i in range(3)]
        errors = []

        def start(s):
            try:
                s.start(timeout=30)
            except Exception as e:  # reported below, from the test's thread
                errors.append(f"{s.name}: {e}")

        threads = [threading.Thread(target=start, args=(s,)) for s in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(not errors, "; ".join(errors))
        importing = [s.name for s in nodes if "empty database, importing" in s.log()]
        eq(len(importing), 1, f"nodes that imported ({importing})")
        eq(psql(url, "SELECT version FROM content_state"), 1, "content versions: one import")
        eq(psql(url, "SELECT count(*) FROM schema_version"), psql(url, "SELECT max(version) FROM schema_version"),
           "each migration applied once")
        for s in nodes:
            eq(s.req("/a/taxes").status, 200, f"{s.name}: an article")
            no_5xx(s)
            s.stop()

    @test("postgres: import, export, user add and repair with --db; a newer schema is refused")
    def _():
        url = new_database()
        data = new_dir("pg-cli")
        rc, _, stderr = spravka("import", CONTENT, "--db", url, "--data", data)
        eq(rc, 0, f"import ({stderr})")
        out = os.path.join(new_dir("pg-export"), "content")
        rc, _, stderr = spravka("export", out, "--db", url, "--data", data)
        eq(rc, 0, f"export ({stderr})")
        diff = subprocess.run(["diff", "-r", CONTENT, out], capture_output=True, text=True)
        eq(diff.returncode, 0, f"export equals the imported content: {diff.stdout[:300]}")
        p = subprocess.run([os.environ.get("SPRAVKA_BIN", "bin/spravka"), "user", "add", "--role", "agent",
                            "--login", "anna", "--db", url, "--data", data],
                           input=b"long enough password\n", capture_output=True, timeout=30)
        eq(p.returncode, 0, f"user add ({p.stderr!r})")
        eq(psql(url, "SELECT role FROM users WHERE login = 'anna'"), "agent", "the account")
        rc, stdout, stderr = spravka("repair", "--db", url)
        eq(rc, 0, f"repair ({stderr})")
        contains(stdout, "new       kept 0, counted 0", what="repair")
        rc, _, stderr = spravka("explain", "--db", url)
        eq(rc, 2, "explain reads SQLite's plans only")
        PgDatabase(url).execute("INSERT INTO schema_version(version) VALUES (999)")
        rc, _, stderr = spravka("import", CONTENT, "--db", url, "--data", data)
        eq(rc, 1, "a database from a newer spravka")
        contains(stderr, "newer than this spravka", "999", what="stderr")
