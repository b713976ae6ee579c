"""The e2e harness: a tiny test runner, servers under test, and HTTP clients.

Standard library only. Every server runs on 127.0.0.1 on a port chosen here, with its own
temporary data directory; every wait is bounded in time.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
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


def check(cond, why):
    if not cond:
        raise Fail(why)


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
    passed = failed = 0
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
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"# e2e time {time.monotonic() - started:.1f}s", flush=True)
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


def spravka(*args, timeout=30):
    """Runs a spravka subcommand to completion: (exit code, stdout, stderr)."""
    p = subprocess.run([BIN, *args], capture_output=True, timeout=timeout)
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
        self.proc = None
        self.port = None
        self.errpath = os.path.join(self.dir, "stderr.log")

    def start(self, timeout=10):
        for _ in range(3):  # the chosen port may be taken between choosing and binding
            self.port = free_port()
            self.err = open(self.errpath, "ab")
            self.proc = subprocess.Popen(
                [BIN, "serve", "--data", self.data, "--config", self.config,
                 "--listen", f"127.0.0.1:{self.port}", "--threads", str(self.threads)],
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
    """Rows of a query on a server's database, read while it runs (WAL)."""
    c = sqlite3.connect(os.path.join(s.data, "spravka.db"), timeout=5)
    try:
        rows = c.execute(query, args).fetchall()
        c.commit()
        return rows
    finally:
        c.close()


def count(s, table, where="1", *args):
    return sql(s, f"SELECT count(*) FROM {table} WHERE {where}", *args)[0][0]
