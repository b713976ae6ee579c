"""The e2e harness: a tiny test runner, servers under test, and HTTP clients.

Standard library only. Every server runs on 127.0.0.1 on a port chosen here, with its own
temporary data directory; every wait is bounded in time.

The engine: SQLite by default; SPRAVKA_TEST_ENGINE=postgres (with SPRAVKA_TEST_PG, the URL of a
database on a test cluster, tests/pg.sh) gives every data directory a fresh PostgreSQL database of
its own (created from template0 on first use, dropped at the end), passed as --db to the servers
and to the commands run with spravka(). Tests read and change the database through db(data) /
Server.db(), which speak to either engine (SQL with ? placeholders, portable to both).
"""

import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import uuid
import tempfile
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("SPRAVKA_BIN") or os.path.join(ROOT, "bin", "spravka")
if not os.path.isabs(BIN):
    BIN = os.path.join(ROOT, BIN)
CONTENT = os.path.join(ROOT, "content")
STATIC = os.path.join(ROOT, "static")

TMP = tempfile.mkdtemp(prefix="spravka-e2e-")

ENGINE = os.environ.get("SPRAVKA_TEST_ENGINE", "sqlite")
PG = os.environ.get("SPRAVKA_TEST_PG", "")
POSTGRES = ENGINE == "postgres"


# ---- the runner -------------------------------------------------------------------------------

TESTS = []  # (name, function)


def test(name):
    """Registers a test; tests run in the order they are defined."""

    def register(fn):
        TESTS.append((name, fn))
        return fn

    return register


class Fail(AssertionError):
    pass


class Skip(Exception):
    """Raised by a test that does not apply to this run (e.g. SQLite-only on PostgreSQL)."""


def sqlite_only(why):
    """Skips the calling test on PostgreSQL: why it tests something only SQLite has."""
    if POSTGRES:
        raise Skip(f"SQLite only: {why}")


def check(cond, why):
    if not cond:
        raise Fail(why)


def wait_for(pred, timeout, what):
    """Polls pred() until it returns a true value; that value, or a failure naming what."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def eq(got, want, what):
    if got != want:
        raise Fail(f"{what}: expected {want!r}, got {short(got)!r}")


def contains(text, *fragments, what="page"):
    for f in fragments:
        check(f in text, f"{what} lacks {f!r}")


def lacks(text, *fragments, what="page"):
    for f in fragments:
        check(f not in text, f"{what} contains {f!r}")


def short(v, n=300):
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + f"... ({len(s)} chars)"


class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


def run_all(per_test_seconds=30, only=None):
    """Runs every registered test; prints one line each and the summary line last."""
    signal.signal(signal.SIGALRM, _on_alarm)
    passed = failed = skipped = 0
    started = time.monotonic()
    try:
        for name, fn in TESTS:
            if only and not any(o in name for o in only):
                continue
            t0 = time.monotonic()
            signal.alarm(per_test_seconds)
            try:
                fn()
                signal.alarm(0)
                passed += 1
                print(f"ok {name} ({time.monotonic() - t0:.2f}s)", flush=True)
            except Skip as e:
                signal.alarm(0)
                skipped += 1
                print(f"skip {name}: {oneline(str(e))}", flush=True)
            except _Timeout:
                failed += 1
                print(f"FAIL {name}: did not finish within {per_test_seconds} s", flush=True)
            except Fail as e:
                signal.alarm(0)
                failed += 1
                print(f"FAIL {name}: {oneline(str(e))}", flush=True)
            except Exception as e:  # a crash in the test or an unexpected client error
                signal.alarm(0)
                failed += 1
                where = traceback.extract_tb(e.__traceback__)[-1]
                print(f"FAIL {name}: {type(e).__name__}: {oneline(str(e))} "
                      f"(at {os.path.basename(where.filename)}:{where.lineno})", flush=True)
    finally:
        signal.alarm(0)
        Server.stop_all()
        drop_databases()
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"# e2e time {time.monotonic() - started:.1f}s, engine {ENGINE}, {skipped} skipped", flush=True)
    print(f"e2e: {passed} passed, {failed} failed", flush=True)
    return failed == 0


def oneline(s):
    return " ".join(s.split())[:1500]


# ---- servers ----------------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_dir(name):
    return tempfile.mkdtemp(prefix=name + "-", dir=TMP)


def write_config(path, sections):
    """sections: {"site": {"content_dir": ...}, ...} -> an INI file."""
    with open(path, "w", encoding="utf-8") as f:
        for sec, keys in sections.items():
            f.write(f"[{sec}]\n")
            for k, v in keys.items():
                f.write(f"{k} = {v}\n")
            f.write("\n")
    return path


def base_config(**extra):
    cfg = {"site": {"content_dir": CONTENT, "static_dir": STATIC}}
    for sec, keys in extra.items():
        cfg.setdefault(sec, {}).update(keys)
    return cfg


def cli(*args):
    """args of a spravka command with the engine's --db added: on PostgreSQL, a command given
    --data DIR and no --db gets the database of DIR (db_url)."""
    args = list(args)
    if POSTGRES and "--db" not in args and "--data" in args:
        i = args.index("--data")
        if i + 1 < len(args):
            args += ["--db", db_url(args[i + 1])]
    return args


def spravka(*args, timeout=30, input=None):
    """Runs a spravka subcommand to completion: (exit code, stdout, stderr)."""
    p = subprocess.run([BIN, *cli(*args)], capture_output=True, timeout=timeout, input=input)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class Server:
    running = []
    responses = []  # (what, text) of every answer any server gave, for leak checks

    def __init__(self, name, config=None, data=None, threads=2):
        self.name = name
        self.dir = new_dir(name)
        self.data = data or os.path.join(self.dir, "data")
        self.config = write_config(os.path.join(self.dir, "spravka.ini"), config or base_config())
        self.threads = threads
        self.own_db = not (config or {}).get("server", {}).get("db")  # else the config names one
        self.proc = None
        self.port = None
        self.errpath = os.path.join(self.dir, "stderr.log")

    def start(self, timeout=10):
        for _ in range(3):  # the chosen port may be taken between choosing and binding
            self.port = free_port()
            self.err = open(self.errpath, "ab")
            self.proc = subprocess.Popen(
                [BIN, "serve", "--data", self.data, "--config", self.config,
                 "--listen", f"127.0.0.1:{self.port}", "--threads", str(self.threads),
                 *(["--db", db_url(self.data)] if POSTGRES and self.own_db else [])],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err)
            Server.running.append(self)
            want = f"listening on http://127.0.0.1:{self.port}/"
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if want in self.log():
                    return self
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
            rc = self.proc.poll()
            self.stop()
            if rc is None or "cannot listen" not in self.log():
                raise Fail(f"server {self.name} did not start (exit {rc}): {short(self.log()[-800:])}")
        raise Fail(f"server {self.name}: no free port after 3 tries")

    def db(self):
        """The server's database (see Database)."""
        return db(self.data)

    def log(self):
        try:
            with open(self.errpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pred, timeout=5):
        """Polls stderr until pred(text) is true (the server flushes its log a few times a second)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if pred(text):
                return text
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout=5):
        """SIGTERM, wait, SIGKILL on timeout. Returns (exit code, seconds it took)."""
        if not self.proc:
            return None, 0
        t0 = time.monotonic()
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                rc = "killed after timeout"
        self.err.close()
        if self in Server.running:
            Server.running.remove(self)
        return rc, time.monotonic() - t0

    @classmethod
    def stop_all(cls):
        for s in list(cls.running):
            try:
                s.stop()
            except Exception:
                pass

    # -- HTTP ---------------------------------------------------------------------------------

    def req(self, path, method="GET", headers=None, body=None, cookie=None, gzip=False, timeout=10):
        """A normal request with http.client; no Accept-Encoding unless gzip."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.putrequest(method, path, skip_accept_encoding=True)
            hs = dict(headers or {})
            if cookie:
                hs["Cookie"] = cookie
            if gzip:
                hs["Accept-Encoding"] = "gzip"
            if body is not None:
                hs.setdefault("Content-Length", str(len(body)))
            for k, v in hs.items():
                c.putheader(k, v)
            c.endheaders(body)
            r = c.getresponse()
            resp = Response(r.status, r.getheaders(), r.read())
        finally:
            c.close()
        Server.responses.append((f"{method} {path}", resp.raw_text()))
        return resp

    def raw(self, data, timeout=5):
        """Sends bytes as they are and reads the answer until close or a complete body."""
        resp = raw_request(self.port, data, timeout)
        Server.responses.append((short(data[:120]), resp.raw_text()))
        return resp


class Response:
    def __init__(self, status, headers, body, closed_without_answer=False):
        self.status = status
        self.header_list = headers
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        self.closed_without_answer = closed_without_answer

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        ct = self.header("content-type") or ""
        check(ct.startswith("application/json"), f"Content-Type is {ct!r}, not application/json")
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise Fail(f"not JSON ({e}): {short(self.body)}")

    def raw_text(self):
        hs = "\n".join(f"{k}: {v}" for k, v in self.header_list)
        return f"{self.status}\n{hs}\n\n" + self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<{self.status} {short(self.body, 120)}>"


def read_answer(sock, timeout):
    """Bytes of one HTTP answer: until its Content-Length is in, the peer closes, or timeout."""
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        out += chunk
        head, sep, body = out.partition(b"\r\n\r\n")
        if sep:
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if m and len(body) >= int(m.group(1)):
                break
    return out


def raw_request(port, data, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = read_answer(s, timeout)
    finally:
        s.close()
    return parse_raw(out)


def parse_raw(out):
    if not out:
        return Response(0, [], b"", closed_without_answer=True)
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        raise Fail(f"not an HTTP response: {short(out)}")
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    return Response(int(m.group(1)), headers, body)


def get_request(path, extra=b"", host=b"127.0.0.1"):
    """A raw GET with Host and Connection: close; path and extra headers as bytes."""
    if isinstance(path, str):
        path = path.encode()
    return (b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n" + extra +
            b"\r\n")


# ---- content files ----------------------------------------------------------------------------


def front_matter(path):
    """The front matter of a content file as a dict, and its body."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    check(lines[0] == "---", f"{path}: no front matter")
    meta = {}
    for i, line in enumerate(lines[1:], 1):
        if line == "---":
            return meta, "\n".join(lines[i + 1:])
        k, _, v = line.partition(":")
        meta[k.strip()] = v.strip()
    raise Fail(f"{path}: front matter not closed")


def demo_articles():
    """{slug: meta} of the general texts in content/, and {slug: {cc: meta}} of the variants."""
    general, variants = {}, {}
    for name in sorted(os.listdir(CONTENT)):
        m = re.fullmatch(r"([a-z0-9-]+)(?:\.([a-z]{2}))?\.md", name)
        if not m:
            continue
        meta, body = front_matter(os.path.join(CONTENT, name))
        meta["body"] = body
        if m.group(2):
            variants.setdefault(m.group(1), {})[m.group(2).upper()] = meta
        else:
            general[m.group(1)] = meta
    return general, variants


def demo_sections():
    out = []
    with open(os.path.join(CONTENT, "sections"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            slug, title, order, desc = [p.strip() for p in line.split("|")]
            out.append({"slug": slug, "title": title, "order": int(order), "description": desc,
                        "line": line})
    return sorted(out, key=lambda s: s["order"])


# ---- what the tests of one server share -------------------------------------------------------

def no_5xx(s):
    """No 5xx answer in a server's access log."""
    fives = [line for line in s.log().splitlines() if re.match(r"^\S+ \S+ 5\d\d ", line)]
    check(not fives, f"{s.name}: 5xx answers: {fives[:3]}")


def finish(s):
    """Stops a test's server; no 5xx in its log."""
    s.stop()
    no_5xx(s)


def sql(s, query, *args):
    """Rows of a query on a server's database, read while it runs."""
    return s.db().query(query, args)


def count(s, table, where="1 = 1", *args):
    return s.db().value(f"SELECT count(*) FROM {table} WHERE {where}", args)


# ---- the database, on either engine -----------------------------------------------------------

_databases = {}  # data directory -> URL of its PostgreSQL database


def psql_binary():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))
    return found[-1] if found else "psql"


def psql(url, script, timeout=60):
    """Runs an SQL script through psql in one transaction; its stdout. Fail on an error."""
    p = subprocess.run([psql_binary(), "-X", "-A", "-t", "-1", "-v", "ON_ERROR_STOP=1", "-d", url],
                       input=script.encode(), capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise Fail(f"psql: {p.stderr.decode('utf-8', 'replace').strip()}")
    return p.stdout.decode("utf-8")


def db_url(data):
    """The PostgreSQL database of a data directory, created empty on first use."""
    data = os.path.abspath(data)
    if data not in _databases:
        check(PG, "SPRAVKA_TEST_ENGINE=postgres needs SPRAVKA_TEST_PG (tests/pg.sh start DIR)")
        name = "e2e_" + uuid.uuid4().hex[:16]
        subprocess.run([psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", PG, "-c",
                        f"CREATE DATABASE {name} TEMPLATE template0"], check=True, capture_output=True,
                       timeout=60)
        _databases[data] = PG.rsplit("/", 1)[0] + "/" + name
    return _databases[data]


def drop_databases():
    for url in _databases.values():
        name = url.rsplit("/", 1)[1]
        subprocess.run([psql_binary(), "-X", "-q", "-d", PG, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                       capture_output=True, timeout=60)
    _databases.clear()


def db(data):
    """The database of a data directory, on the run's engine."""
    return PgDatabase(db_url(data)) if POSTGRES else SqliteDatabase(os.path.join(data, "spravka.db"))


def article_images(s):
    """The hashes of the article images (the media table, src/media): they share the file store
    with the members' files, and the demo content brings some."""
    return {r[0] for r in s.db().query("SELECT hash FROM media")}


def stored_files(s):
    """The hashes of the members' files the server's file store holds, sorted (the article images
    left out): DATA/files on SQLite; on PostgreSQL the database's file_store, where every node keeps
    the files (src/files/files.h)."""
    images = article_images(s)
    if POSTGRES:
        return [r[0] for r in s.db().query("SELECT sha256 FROM file_store ORDER BY sha256") if r[0] not in images]
    d = os.path.join(s.data, "files")
    return sorted(n for n in os.listdir(d) if n not in images) if os.path.isdir(d) else []


def stored_content(s, h):
    """The bytes the file store holds under the hash h, or None when it holds none."""
    if POSTGRES:
        if not s.db().value("SELECT count(*) FROM file_store WHERE sha256 = ?", (h,)):
            return None
        rows = s.db().query("SELECT encode(data, 'hex') FROM file_chunks WHERE sha256 = ? ORDER BY n", (h,))
        return b"".join(bytes.fromhex(r[0]) for r in rows)
    path = os.path.join(s.data, "files", h)
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        return f.read()


def stored_digests(s):
    """{hash it is stored under: SHA-256 of the content read back} for every stored content, in one
    read (PostgreSQL hashes the chunks itself)."""
    if POSTGRES:
        rows = s.db().query("SELECT f.sha256, encode(sha256(string_agg(c.data, ''::bytea ORDER BY c.n)), 'hex') "
                            "FROM file_store f JOIN file_chunks c ON c.sha256 = f.sha256 GROUP BY f.sha256")
        images = article_images(s)
        return {h: d for h, d in rows if h not in images}
    out = {}
    for h in stored_files(s):
        with open(os.path.join(s.data, "files", h), "rb") as f:
            out[h] = hashlib.sha256(f.read()).hexdigest()
    return out


def stored_size(s, h):
    """The size of the content stored under h (without reading it), or None."""
    if POSTGRES:
        return s.db().value("SELECT size FROM file_store WHERE sha256 = ?", (h,))
    path = os.path.join(s.data, "files", h)
    return os.path.getsize(path) if os.path.isfile(path) else None


class SqliteDatabase:
    """DATA/spravka.db through Python's sqlite3, one connection per call (WAL: the server goes on)."""

    engine = "sqlite"

    def __init__(self, path):
        self.path = path

    def _connect(self):
        return sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, timeout=10)

    def query(self, sql, params=()):
        """Every row of a statement, as tuples."""
        c = self._connect()
        try:
            rows = c.execute(sql, tuple(params)).fetchall()
            c.commit()
            return rows
        finally:
            c.close()

    def execute(self, sql, params=()):
        """One statement that changes rows, committed; the number of rows it changed."""
        c = self._connect()
        try:
            n = c.execute(sql, tuple(params)).rowcount
            c.commit()
            return n
        finally:
            c.close()

    def executemany(self, sql, rows):
        """One statement for each parameter tuple, in one transaction."""
        c = self._connect()
        try:
            c.executemany(sql, [tuple(r) for r in rows])
            c.commit()
        finally:
            c.close()

    def columns(self, table):
        return [r[1] for r in self.query(f"PRAGMA table_info({table})")]

    def hold_write_lock(self, timeout=10):
        """SQLite only: a connection holding the database's write lock (BEGIN IMMEDIATE), as a
        backup or an import would; the caller ends it with .rollback() and .close()."""
        c = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        c.execute("BEGIN IMMEDIATE")
        return c

    def one(self, sql, params=()):
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def value(self, sql, params=()):
        row = self.one(sql, params)
        return row[0] if row else None


class PgDatabase(SqliteDatabase):
    """A PostgreSQL database through the psql command (which the test cluster's package ships;
    no driver beyond the standard library). The ? placeholders become literals here; the rows
    come back as JSON, so numbers are ints and NULL is None as with sqlite3."""

    engine = "postgres"

    def __init__(self, url):
        self.url = url

    def query(self, sql, params=()):
        sql = bind(sql.strip().rstrip(";"), params)
        if not re.match(r"(?is)(SELECT|WITH|VALUES|TABLE)\b", sql) and not re.search(r"(?i)\bRETURNING\b", sql):
            psql(self.url, sql + ";\n")  # a change without rows (sqlite3 gives [] for it)
            return []
        # Each row as a JSON array of its values in column order (json_each keeps duplicate
        # names); JSON values stay text, as SQLite gives them.
        wrapped = ("WITH t AS (" + sql + ") SELECT coalesce(json_agg((SELECT json_agg(CASE WHEN "
                   "json_typeof(v.value) IN ('object', 'array') THEN to_json(v.value::text) ELSE v.value END "
                   "ORDER BY v.n) FROM json_each(row_to_json(t)) WITH ORDINALITY v(k, value, n))), '[]') FROM t;\n")
        out = psql(self.url, wrapped).strip()
        return [tuple(r or ()) for r in json.loads(out or "[]")]

    def execute(self, sql, params=()):
        out = psql(self.url, bind(sql, params) + ";\n")
        m = re.search(r"^(?:INSERT \d+|UPDATE|DELETE) (\d+)$", out, re.M)
        return int(m.group(1)) if m else 0

    def executemany(self, sql, rows):
        psql(self.url, "".join(bind(sql, r) + ";\n" for r in rows))

    def columns(self, table):
        return [r[0] for r in self.query("SELECT column_name FROM information_schema.columns "
                                         "WHERE table_name = ? ORDER BY ordinal_position", (table,))]


def literal(v):
    """A Python value as a PostgreSQL literal."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (bytes, bytearray)):
        return "'\\x" + bytes(v).hex() + "'::bytea"
    check(isinstance(v, str) and "\0" not in v, f"cannot pass {short(v)} to PostgreSQL")
    return "'" + v.replace("'", "''") + "'"


def bind(sql, params):
    """sql with each ? outside quotes replaced by the next parameter's literal."""
    params = list(params)
    out, i, q = [], 0, None
    for ch in sql:
        if q:
            q = None if ch == q else q
        elif ch in "'\"":
            q = ch
        elif ch == "?":
            check(i < len(params), f"too few parameters for {short(sql)}")
            out.append(literal(params[i]))
            i += 1
            continue
        out.append(ch)
    eq(i, len(params), f"parameters of {short(sql)}")
    return "".join(out)
