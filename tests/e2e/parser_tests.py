"""End-to-end tests of what strangers send as bytes (issue #7, "parsers that cannot be crashed"):
form parts without a usable name on every route that takes a form, the strict framing of the
request head (RFC 9112 section 6.3 and friends), and odd query and cookie names.

Imported by run.py; registers its tests with the shared runner. One server for the whole module
(started on first use): after every hostile body it must still answer /healthz.
"""

import re
import socket
import time

from harness import Fail, Server, base_config, check, contains, eq, parse_raw, short, test

BOUNDARY = b"XyZ123parser"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
FAKE_TOKEN = "A" * 43  # the shape of a /r/{token} link; no such request

# Every route that reads a form (multipart or urlencoded) from a stranger, signed in or not:
# the body is read, and refused, before the route's own checks (session, CSRF, token).
FORM_ROUTES = ["/api/v1/requests", "/request", "/request/solved", "/desk/login", "/desk/logout",
               "/r/" + FAKE_TOKEN, "/desk/r/R-2026-000001", "/desk/canned"]

NAMELESS_MSG = "без имени или с недопустимым именем"

_server = None


def srv():
    global _server
    if _server is None:
        _server = Server("parsers", base_config()).start()
    return _server


def part(headers, body):
    return b"--" + BOUNDARY + b"\r\n" + headers + b"\r\n\r\n" + body + b"\r\n"


END = b"--" + BOUNDARY + b"--\r\n"
NAMED = part(b'Content-Disposition: form-data; name="member_id"', b"1234567")

# Parts without a usable name. libmicrohttpd 0.9.75 hands the first seven to the server with
# a NULL name (before the fix: a segfault on every one of these routes).
NAMELESS = {
    "no name": part(b"Content-Disposition: form-data", b"value"),
    "no Content-Disposition": part(b"Content-Type: text/plain", b"value"),
    "no part headers": b"--" + BOUNDARY + b"\r\n\r\nvalue\r\n",
    "unquoted name": part(b"Content-Disposition: form-data; name=member_id", b"1234567"),
    "NUL in the name": part(b'Content-Disposition: form-data; name="mem\x00ber_id"', b"1"),
    "filename without name": part(b'Content-Disposition: form-data; filename="a.png"\r\n'
                                  b"Content-Type: image/png", b"\x89PNG\r\n\x1a\n"),
    "a named field, then a nameless one": NAMED + part(b"Content-Disposition: form-data", b"v"),
    "empty name": part(b'Content-Disposition: form-data; name=""', b"value"),
    "control character in the name": part(b'Content-Disposition: form-data; name="a\x01b"', b"v"),
    "name not UTF-8": part(b'Content-Disposition: form-data; name="\xff\xfe"', b"value"),
    "name of 101 bytes": part(b'Content-Disposition: form-data; name="' + b"n" * 101 + b'"', b"v"),
}

URLENCODED_BAD = {
    "empty name": b"=value&member_id=1",
    "control character in the name": b"%01=1",
    "NUL in a value": b"member_id=12%0034",
    "name of 101 bytes": b"n" * 101 + b"=1",
}


def exchange(data, timeout=5):
    """Sends raw bytes (no half-close) and reads until the server closes or timeout.
    Returns (bytes, closed): closed is True when the server closed the connection."""
    s = socket.create_connection(("127.0.0.1", srv().port), timeout=timeout)
    out = b""
    closed = False
    try:
        s.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            out += chunk
    finally:
        s.close()
    Server.responses.append((short(data[:120]), out.decode("latin-1")))
    return out, closed


def status_lines(out):
    """Status lines at the start of a line: a repeated header block counts twice."""
    return re.findall(rb"(?:^|\n)(HTTP/1\.[01] \d{3})", out)


def alive(after):
    r = parse_raw(exchange(HEALTHZ)[0])
    eq(r.status, 200, f"/healthz after {after}")


def post_raw(path, ctype, body, extra=b""):
    head = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Type: " + ctype + b"\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n" + extra + b"\r\n")
    return exchange(head + body)


def refused_as_nameless(path, out, what):
    r = parse_raw(out)
    eq(r.status, 400, f"POST {path} with {what}: status")
    eq(len(status_lines(out)), 1, f"POST {path} with {what}: answers")
    text = r.body.decode("utf-8", "replace")
    if path.startswith("/api/"):
        j = r.json()
        eq(j["error"]["code"], "bad_request", f"POST {path} with {what}: error code")
        contains(j["error"]["message"], NAMELESS_MSG, what="error message")
    else:
        contains(text, NAMELESS_MSG, what=f"POST {path} with {what}")


# ---- 1. form parts without a usable name ------------------------------------------------------

for _what, _body in NAMELESS.items():
    def _make(what=_what, body=_body):
        @test(f"parsers: multipart part with {what} -> 400 on every form route, /healthz after each")
        def _():
            for path in FORM_ROUTES:
                out, _closed = post_raw(path, b"multipart/form-data; boundary=" + BOUNDARY, body + END)
                refused_as_nameless(path, out, what)
                alive(f"POST {path} with {what}")
    _make()

for _what, _body in URLENCODED_BAD.items():
    def _make(what=_what, body=_body):
        @test(f"parsers: urlencoded form with {what} -> 400 on every urlencoded route, /healthz after")
        def _():
            for path in FORM_ROUTES:
                if path.startswith("/api/"):
                    continue  # the API takes JSON or multipart, never urlencoded
                out, _closed = post_raw(path, b"application/x-www-form-urlencoded", body)
                r = parse_raw(out)
                eq(r.status, 400, f"POST {path} with {what}")
                eq(len(status_lines(out)), 1, f"POST {path} with {what}: answers")
                # (an empty name is refused by libmicrohttpd's post processor itself:
                # "Не удалось прочитать отправленную форму.")
                check(re.search("недопустим|Не удалось прочитать", r.body.decode("utf-8", "replace")),
                      f"POST {path} with {what}: no Russian reason: {short(r.body)}")
                alive(f"POST {path} with {what}")
    _make()


@test("parsers: a well-formed multipart form still reaches the handler (not refused as nameless)")
def _():
    body = NAMED + part(b'Content-Disposition: form-data; name="slug"', b"login") + END
    out, _ = post_raw("/request/solved", b"multipart/form-data; boundary=" + BOUNDARY, body)
    r = parse_raw(out)
    check(r.status != 400 and NAMELESS_MSG not in r.body.decode("utf-8", "replace"),
          f"a named form was refused: {r.status} {short(r.body)}")
    out, _ = post_raw("/api/v1/requests", b"multipart/form-data; boundary=" + BOUNDARY, NAMED + END)
    eq(parse_raw(out).status, 422, "the API with a named but incomplete form")


@test("parsers: an empty file input (filename=\"\", no bytes) between fields is skipped, not refused")
def _():
    body = (part(b'Content-Disposition: form-data; name="attachments"; filename=""\r\n'
                 b"Content-Type: application/octet-stream", b"") + NAMED + END)
    out, _ = post_raw("/api/v1/requests", b"multipart/form-data; boundary=" + BOUNDARY, body)
    r = parse_raw(out)
    eq(r.status, 422, "status (the form is incomplete, but read)")
    fields = r.json()["error"].get("fields", {})
    check("attachments" not in fields, f"the empty file input became an attachment: {fields}")


# ---- 2. strict framing ------------------------------------------------------------------------

def framing(data, want, what):
    """Exactly one answer with status want, Connection: close, and the connection really
    closed (the test sends no Connection: close and never half-closes)."""
    out, closed = exchange(data)
    lines = status_lines(out)
    eq(len(lines), 1, f"{what}: status lines in {short(out)}")
    r = parse_raw(out)
    eq(r.status, want, f"{what}: status")
    eq((r.header("connection") or "").lower(), "close", f"{what}: Connection header")
    check(closed, f"{what}: the connection stayed open after the answer")
    check(re.search("[а-яА-Я]", r.body.decode("utf-8", "replace")), f"{what}: no Russian text")
    alive(what)
    return r


H = b"Host: 127.0.0.1\r\n"
POST_SOLVED = b"POST /request/solved HTTP/1.1\r\n" + H + b"Content-Type: application/x-www-form-urlencoded\r\n"

FRAMING = [
    ("Content-Length with Transfer-Encoding", 400,
     POST_SOLVED + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("Transfer-Encoding before Content-Length", 400,
     POST_SOLVED + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("two different Content-Length", 400,
     POST_SOLVED + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nslug"),
    ("Transfer-Encoding: gzip", 501, POST_SOLVED + b"Transfer-Encoding: gzip\r\n\r\nxxxx"),
    ("Transfer-Encoding: gzip, chunked", 501,
     POST_SOLVED + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
    ("Transfer-Encoding: chunked, identity", 501,
     POST_SOLVED + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
    ("Transfer-Encoding twice", 501,
     POST_SOLVED + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("Transfer-Encoding in HTTP/1.0", 400,
     b"POST /request/solved HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("Transfer-Encoding on a GET", 501, b"GET /healthz HTTP/1.1\r\n" + H + b"Transfer-Encoding: xyz\r\n\r\n"),
    ("two Host headers", 400, b"GET /healthz HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"),
    ("no Host in HTTP/1.1", 400, b"GET /healthz HTTP/1.1\r\n\r\n"),
    ("Host with a space", 400, b"GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n"),
    ("Host with a path", 400, b"GET /healthz HTTP/1.1\r\nHost: a.example/x\r\n\r\n"),
    ("Host with userinfo", 400, b"GET /healthz HTTP/1.1\r\nHost: u@a.example\r\n\r\n"),
    ("Host with a bad port", 400, b"GET /healthz HTTP/1.1\r\nHost: a.example:8o\r\n\r\n"),
    ("NUL in a header value", 400, b"GET /healthz HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n"),
    ("NUL at the end of the last header value", 400,
     b"GET /healthz HTTP/1.1\r\n" + H + b"X-A: a\x00\r\n\r\n"),
    ("bare CR in a header value", 400, b"GET /healthz HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n"),
    ("obs-fold", 400, b"GET /healthz HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\nX-B: c\r\n\r\n"),
    ("obs-fold on the last header", 400, b"GET /healthz HTTP/1.1\r\n" + H + b"X-A: a\r\n\tb\r\n\r\n"),
    ("bare LF line ends", 400, b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\nX-A: b\n\n"),
    ("a bare LF after the request line", 400, b"GET /healthz HTTP/1.1\n" + H + b"\r\n"),
    ("a bare LF on the last header line", 400, b"GET /healthz HTTP/1.1\r\n" + H + b"X-A: b\n\r\n"),
    ("a bare LF ending the head", 400, b"GET /healthz HTTP/1.1\r\n" + H + b"\n"),
    ("space before the colon", 400, b"GET /healthz HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n"),
    ("an empty header name", 400, b"GET /healthz HTTP/1.1\r\n" + H + b": v\r\n\r\n"),
    ("a header name with a slash", 400, b"GET /healthz HTTP/1.1\r\n" + H + b"X/A: v\r\n\r\n"),
    ("a space in the target", 400, b"GET /healthz x HTTP/1.1\r\n" + H + b"\r\n"),
    ("a NUL in the target", 400, b"GET /healthz\x00x HTTP/1.1\r\n" + H + b"\r\n"),
    ("two spaces after the method", 400, b"GET  /healthz HTTP/1.1\r\n" + H + b"\r\n"),
]

for _what, _want, _data in FRAMING:
    def _make(what=_what, want=_want, data=_data):
        @test(f"parsers: framing: {what} -> {want}, one answer, connection closed")
        def _():
            framing(data, want, what)
    _make()


@test("parsers: framing errors on /api/ are answered in the API's JSON error format")
def _():
    r = framing(b"POST /api/v1/requests HTTP/1.1\r\n" + H + b"Content-Type: application/json\r\n"
                b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "API CL+TE")
    eq(r.json()["error"]["code"], "bad_request", "error code")
    r = framing(b"POST /api/v1/requests HTTP/1.1\r\n" + H + b"Transfer-Encoding: br\r\n\r\n", 501, "API TE")
    eq(r.json()["error"]["code"], "not_implemented", "error code")


@test("parsers: framing: a good head still keeps the connection (keep-alive, chunked, same CL)")
def _():
    # Two requests on one connection: both answered, the connection left open.
    s = socket.create_connection(("127.0.0.1", srv().port), timeout=5)
    try:
        one = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n"
        s.sendall(one + one)
        out = b""
        deadline = time.monotonic() + 5
        while len(status_lines(out)) < 2 and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        eq([x[9:12] for x in status_lines(out)], [b"200", b"200"], "two keep-alive answers")
        check(b"connection: close" not in out.lower(), "keep-alive answers say Connection: close")
    finally:
        s.close()
    # Chunked alone is fine; so are two equal Content-Length and a bracketed IPv6 Host.
    body = b"slug=login"
    chunked = POST_SOLVED + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + \
        b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    r = parse_raw(exchange(chunked)[0])
    check(r.status not in (400, 501), f"chunked POST refused: {r.status} {short(r.body)}")
    same = POST_SOLVED + b"Content-Length: 10\r\nContent-Length: 10\r\nConnection: close\r\n\r\n" + body
    r = parse_raw(exchange(same)[0])
    check(r.status not in (400, 501), f"two equal Content-Length refused: {r.status}")
    for host in (b"[::1]:8080", b"localhost", b"127.0.0.1:80", b"xn--e1afmkfd.xn--p1ai"):
        r = parse_raw(exchange(b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")[0])
        eq(r.status, 200, f"Host: {host!r}")
    r = parse_raw(exchange(b"GET /healthz HTTP/1.0\r\n\r\n")[0])
    eq(r.status, 200, "HTTP/1.0 without Host")


@test("parsers: framing: a malformed Content-Length is refused and the connection closed")
def _():
    # libmicrohttpd 0.9.75 answers these itself (the application never sees them) and repeats
    # its header block (see http.h); what the server can promise: refused, then closed.
    for cl, want in ((b"abc", 400), (b"+4", 400), (b"99999999999999999999999", 413)):
        out, closed = exchange(POST_SOLVED + b"Content-Length: " + cl + b"\r\n\r\n")
        eq(parse_raw(out).status, want, f"Content-Length: {cl!r}")
        check(closed, f"Content-Length: {cl!r}: the connection stayed open")
        alive(f"Content-Length: {cl!r}")


# ---- 3. query and cookie names ----------------------------------------------------------------

@test("parsers: query names: empty names are ignored; NUL, bad UTF-8, bad escapes -> 400; alive")
def _():
    for q in ("=x&&=&q=пароль", "&&&", "=", "q&q&q", "a+b=c+d"):
        r = srv().req("/search?" + q.replace("пароль", "%D0%BF%D0%B0%D1%80%D0%BE%D0%BB%D1%8C"))
        eq(r.status, 200, f"/search?{q}")
    for q in ("%00=1", "a%00b=1", "%FF=1", "%C0%AF=1", "a%ZZ=1", "a%4=1", "x=%", "%D0=1"):
        r = srv().req("/search?" + q)
        eq(r.status, 400, f"/search?{q}")
        alive(f"/search?{q}")
    r = srv().req("/api/v1/search?%00=1")
    eq(r.status, 400, "API")
    eq(r.json()["error"]["code"], "bad_request", "API error code")


@test("parsers: cookie names are exact: Country=KZ is not the country cookie, country=\"KZ\" is")
def _():
    kz = "Версия для страны: Казахстан"
    r = srv().req("/a/payout-setup", cookie="country=KZ")
    contains(r.text, kz, what="country=KZ")
    for c in ("Country=KZ", "COUNTRY=KZ", "xcountry=KZ", "country_=KZ", " =KZ", "country"):
        r = srv().req("/a/payout-setup", cookie=c)
        eq(r.status, 200, f"Cookie: {c}")
        check(kz not in r.text, f"Cookie: {c} was read as the country cookie")
    for c in ('country="KZ"', 'a="; country=KZ', '=x; ; country=KZ', "country = KZ",
              "a=1, b=2; country=KZ", "; ;country=KZ;", "x=" + "y" * 3000 + "; country=KZ"):
        r = srv().req("/a/payout-setup", cookie=c)
        eq(r.status, 200, f"Cookie: {c[:40]}")
        contains(r.text, kz, what=f"Cookie: {c[:40]}")
    alive("odd cookies")


@test("parsers: odd cookies (lone quote, no '=', 300 pairs, control bytes) never break a request")
def _():
    for c in (b'a="', b'"', b"=", b";;;;", b"a", b"session=\x01\x7f", b"; ".join(b"c%d=v" % i for i in range(300)),
              b"country=\xff\xfe", b'country="'):
        out, _ = exchange(b"GET /healthz HTTP/1.1\r\n" + H + b"Cookie: " + c + b"\r\nConnection: close\r\n\r\n")
        r = parse_raw(out)
        # (a value of a lone '"' makes libmicrohttpd refuse the whole head with 431: see http.h)
        check(r.status in (200, 400, 431), f"Cookie: {short(c, 40)!r}: {r.status}")
        alive(f"Cookie: {short(c, 40)!r}")
    # Pages with a country cookie of garbage fall back to the default country.
    default = re.findall("Версия для страны: [^<]*", srv().req("/a/payout-setup").text)
    r = srv().req("/a/payout-setup", cookie='country=KZZ; a=b')
    eq(r.status, 200, "unknown country in the cookie")
    eq(re.findall("Версия для страны: [^<]*", r.text), default, "variant for an unknown country")


@test("parsers: the server logged no 5xx and stops cleanly after all the hostile input")
def _():
    s = srv()
    fives = [line for line in s.log().splitlines()
             if re.match(r"^\S+ \S+ 5\d\d ", line) and not re.match(r"^\S+ \S+ 501 ", line)]
    check(not fives, f"5xx answers other than the framing 501s: {fives[:3]}")
    rc, _took = s.stop()
    eq(rc, 0, "exit code")
