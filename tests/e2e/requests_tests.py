"""End-to-end tests of support requests, the member's side (issue #4): the topics and creation
API, idempotency, duplicates, validation, attachments and "nothing half-stored", the HTML form,
the private link /r/{token}, the creation rate limits and deflections. ("Nothing lost" under
SIGKILL is crash_test.py.)

Imported by run.py; registers its tests with the shared runner. Every test starts its own server
on a fresh data directory, so that the rate limits (kept in the database: 20 creations per IP per
hour, 5 per member ID per day, 30 wrong links per IP per hour) never collide between tests.
"""

import hashlib
import html
import json
import os
import random
import re
import socket
import threading
import time
from urllib.parse import urlencode

from harness import (Fail, Server, base_config, check, contains, count, eq, finish, lacks, parse_raw,
                     read_answer, short, sql, stored_content, stored_files, stored_size, test)
from htmlcheck import Page, check_html

CYRILLIC = re.compile("[а-яА-ЯёЁ]")
NUMBER = re.compile(r"R-(\d{4})-(\d{6})")
TOKEN_URL = re.compile(r"/r/[A-Za-z0-9_-]{43}")
MONTHS = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября",
          "октября", "ноября", "декабря"]

# Minimal files with valid headers, and files that must be refused whatever their name says.
PNG = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
       + b"\x90wS\xde" + b"\x00\x00\x00\x00IEND\xaeB`\x82")
PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
       b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
HTML_FILE = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n"
SVG_FILE = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
            b"<rect width=\"1\" height=\"1\"/></svg>\n")
ELF_FILE = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 100


# ---- helpers ----------------------------------------------------------------------------------

_member = [0]


def member():
    """A member ID no other test uses (7 digits)."""
    _member[0] += 1
    return str(4200000 + _member[0])


def server(name, threads=2):
    return Server("req-" + name, base_config(), threads=threads).start()








def files_in(s, sub):
    d = os.path.join(s.data, sub)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def wait_tmp_empty(s, timeout=3):
    """Uploads not taken are removed when the request completes, just after the answer."""
    deadline = time.monotonic() + timeout
    while files_in(s, "tmp") and time.monotonic() < deadline:
        time.sleep(0.02)
    eq(files_in(s, "tmp"), [], "files left in DATA/tmp")


def fields(**over):
    """A valid request; keyword arguments replace fields (None drops one)."""
    f = {"member_id": member(), "name": "Иван Петров", "email": "ivan.petrov@example.com",
         "phone": "+7 912 345-67-89", "country": "RU", "topic": "payouts",
         "subject": "Не пришла выплата за октябрь",
         "description": "Выплата за октябрь не пришла на карту, прошло уже две недели после начисления."}
    f.update(over)
    return {k: v for k, v in f.items() if v is not None}


def post_json(s, obj, key=None, raw=None):
    hs = {"Content-Type": "application/json"}
    if key is not None:
        hs["Idempotency-Key"] = key
    body = raw if raw is not None else json.dumps(obj, ensure_ascii=False).encode()
    return s.req("/api/v1/requests", "POST", hs, body)


def multipart(pairs, files=()):
    """pairs: [(name, value)] (repeats allowed); files: [(field, filename, bytes, type)].
    Returns (body, content type). File names go as raw UTF-8, as browsers send them."""
    boundary = "----spravkaE2E" + "".join(random.choice("0123456789abcdef") for _ in range(24))
    out = []
    for k, v in pairs:
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n".encode())
        out.append(v.encode() if isinstance(v, str) else v)
        out.append(b"\r\n")
    for field, fname, data, ctype in files:
        fn = fname.encode() if isinstance(fname, str) else fname
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"".encode()
                   + fn + f"\"\r\nContent-Type: {ctype}\r\n\r\n".encode())
        out.append(data)
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def post_multipart(s, path, pairs, files=(), headers=None):
    body, ctype = multipart(pairs, files)
    hs = {"Content-Type": ctype, **(headers or {})}
    return s.req(path, "POST", hs, body)


def post_form(s, path, data):
    return s.req(path, "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                 urlencode(data).encode())


def streamed(s, path, content_type, body, timeout=10):
    """POSTs a large body from a second thread while this one reads: an answer given before the
    body is complete (413) is seen even when the server then closes the connection."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=timeout)

    def pump():
        try:
            sock.sendall(head)
            view = memoryview(body)
            for i in range(0, len(body), 1 << 16):
                sock.sendall(view[i:i + (1 << 16)])
        except OSError:
            pass

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    out = read_answer(sock, timeout)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
    t.join(timeout)
    r = parse_raw(out)
    Server.responses.append((f"POST {path} (streamed)", r.raw_text()))
    return r


def api_error(r, status, code):
    eq(r.status, status, f"status ({short(r.body)})")
    j = r.json()
    eq(list(j), ["error"], "top-level keys")
    eq(j["error"].get("code"), code, "error code")
    check(CYRILLIC.search(j["error"].get("message") or ""), f"message not Russian: {j['error']}")
    return j["error"]


def invalid_fields(r):
    """The fields of a 422 {"error": {"code": "invalid", "message", "fields"}}."""
    e = api_error(r, 422, "invalid")
    eq(sorted(e), ["code", "fields", "message"], "error keys")
    check(isinstance(e["fields"], dict) and e["fields"], f"fields: {e['fields']!r}")
    for k, v in e["fields"].items():
        check(isinstance(v, str) and CYRILLIC.search(v), f"message of {k} not Russian: {v!r}")
    return e["fields"]


def created(r):
    """The 201 answer: exactly number, status, url."""
    eq(r.status, 201, f"status ({short(r.body)})")
    j = r.json()
    eq(sorted(j), ["number", "status", "url"], "keys of the 201 answer")
    m = NUMBER.fullmatch(j["number"])
    check(m, f"number {j['number']!r} is not R-YYYY-NNNNNN")
    eq(int(m.group(1)), time.gmtime().tm_year, "year in the number")
    eq(j["status"], "new", "status")
    check(TOKEN_URL.fullmatch(j["url"]), f"url {j['url']!r} is not /r/<43 base64url chars>")
    return j


def valid_html(r, what):
    problems = check_html(r.text)
    check(not problems, f"{what}: HTML problems: {problems[:3]}")


def today_ru():
    t = time.gmtime()
    return f"{t.tm_mday} {MONTHS[t.tm_mon - 1]} {t.tm_year}"


def form_block(text, cls="request"):
    """The HTML of the first <form class="request"> of a page."""
    m = re.search(r'<form class="%s".*?</form>' % cls, text, re.S)
    check(m, f'no <form class="{cls}"> on the page')
    return m.group(0)


def field_block(text, name):
    """The <div class="field..."> that holds the control called name."""
    for m in re.finditer(r'<div class="field[^"]*">.*?</div>', text, re.S):
        if re.search(r'<(input|select|textarea)[^>]*\bname="%s"' % re.escape(name), m.group(0)):
            return m.group(0)
    raise Fail(f"no field block for {name!r}")


def control(block, name):
    m = re.search(r'<(input|select|textarea)([^>]*)\bname="%s"([^>]*)>' % re.escape(name), block)
    check(m, f"no control {name!r}")
    return m.group(0)


def hidden_inputs(block):
    return {e["attrs"]["name"]: e["attrs"].get("value", "")
            for e in Page(block).find("input", type="hidden")}


# ---- 1-2: topics, creation --------------------------------------------------------------------


@test("requests: GET /api/v1/topics -> [{slug, title}] with the default topics in order")
def _():
    s = server("topics")
    r = s.req("/api/v1/topics")
    eq(r.status, 200, "status")
    j = r.json()
    check(isinstance(j, list) and len(j) >= 4, f"not a list of topics: {short(j)}")
    for t in j:
        check(isinstance(t, dict), f"topic is not an object: {t!r}")
        eq(sorted(t), ["slug", "title"], f"keys of {t}")
        check(re.fullmatch(r"[a-z0-9-]+", t["slug"]), f"slug {t['slug']!r}")
        check(CYRILLIC.search(t["title"]), f"title of {t['slug']} not Russian: {t['title']!r}")
    slugs = [t["slug"] for t in j]
    eq(len(slugs), len(set(slugs)), "slugs are unique")
    for want in ("registration", "order", "payouts", "other"):
        check(want in slugs, f"{want} missing from {slugs}")
    idx = [slugs.index(x) for x in ("registration", "order", "payouts", "other")]
    eq(idx, sorted(idx), f"order of the topics {slugs}")
    eq(slugs[-1], "other", "the last topic")
    finish(s)


@test("requests: [topics] in the config replaces the list: API, form, order field, validation")
def _():
    cfg = base_config(topics={"delivery": "Доставка заказа | orders | order",
                              "bonus": "Бонусы и баллы | payouts", "other": "Другое |"})
    s = Server("req-topics-config", cfg).start()
    eq(s.req("/api/v1/topics").json(), [{"slug": "delivery", "title": "Доставка заказа"},
                                        {"slug": "bonus", "title": "Бонусы и баллы"},
                                        {"slug": "other", "title": "Другое"}], "topics")
    form = s.req("/request").text
    block = field_block(form, "topic")
    eq(re.findall(r'<option value="([a-z-]+)"', block), ["delivery", "bonus", "other"], "form options")
    check(re.search(r'<option value="delivery"[^>]*data-order="1"', block), "delivery shows the order field")
    check(not re.search(r'<option value="bonus"[^>]*data-order', block), "bonus has no order field")
    r = post_json(s, fields(topic="payouts"))
    eq(r.status, 422, "a built-in topic not in [topics]")
    check("topic" in r.json()["error"]["fields"], f"error fields: {r.json()['error']['fields']}")
    eq(post_json(s, fields(topic="bonus")).status, 201, "a configured topic")
    finish(s)


@test("requests: POST /api/v1/requests (JSON) -> 201 {number, status, url}; the link shows it")
def _():
    s = server("create")
    f = fields(subject="Не пришла выплата <за> октябрь & ноябрь", phone="8 (912) 345-67-89")
    j = created(post_json(s, f))
    check(j["number"].endswith("-000001"), f"first number of a fresh database: {j['number']}")
    j2 = created(post_json(s, fields(topic="order", description="Заказ 12345 не доставлен, "
                                     "трекинг не обновляется уже десять дней.")))
    eq(int(j2["number"][-6:]), int(j["number"][-6:]) + 1, "the next number")
    check(j2["url"] != j["url"], "two requests got the same link")
    r = s.req(j["url"])
    eq(r.status, 200, "status of the private page")
    valid_html(r, "private page")
    contains(r.text, j["number"], html.escape(f["subject"], quote=False), f["description"], "Новое")
    eq(r.header("cache-control"), "no-store", "Cache-Control of the private page")
    p = Page(r.text)
    eq(p.texts("h1"), [f"Обращение {j['number']}"], "h1")
    lacks(r.text, j2["number"], what="page of the first request")
    # The database keeps the normalised phone and only the SHA-256 of the link's token.
    token = j["url"][3:]
    rows = sql(s, "SELECT member_id, phone, topic, status, token_hash FROM requests WHERE number = ?",
               j["number"])
    eq(len(rows), 1, "rows with the number")
    eq(rows[0][:4], (f["member_id"], "+79123456789", "payouts", "new"), "stored request")
    eq(rows[0][4], hashlib.sha256(token.encode()).hexdigest(), "token_hash")
    eq(count(s, "requests", "token_hash = ?", token), 0, "the token itself is stored")
    eq(count(s, "messages", "body = ?", f["description"]), 1, "the first message")
    # The group commit counted both creations (/metrics: where a creation's time goes).
    m = s.req("/metrics").text
    jobs = re.search(r"^spravka_writer_jobs_total (\d+)$", m, re.M)
    check(jobs and int(jobs.group(1)) == 2, "spravka_writer_jobs_total after two creations")
    inf = re.search(r'^spravka_writer_latency_seconds_bucket\{le="\+Inf"\} (\d+)$', m, re.M)
    check(inf and int(inf.group(1)) == 2, "the latency histogram counts both")
    # The writer runs 5 nice steps above the process when it may (root, or CAP_SYS_NICE).
    raised = re.search(r"^spravka_writer_raised (\d)$", m, re.M)
    check(raised, "/metrics lacks spravka_writer_raised")
    nices = {}
    for tid in os.listdir(f"/proc/{s.proc.pid}/task"):
        with open(f"/proc/{s.proc.pid}/task/{tid}/stat") as f:
            stat = f.read()
        nices[stat[stat.index("(") + 1:stat.rindex(")")]] = int(stat.rsplit(")", 1)[1].split()[16])
    if os.geteuid() == 0:
        eq(raised.group(1), "1", "spravka_writer_raised as root")
        eq(nices.get("spravka-writer"), max(nices.get("spravka", 0) - 5, -20), f"the writer's nice: {nices}")
    finish(s)


# ---- 3: idempotency ---------------------------------------------------------------------------


@test("requests: the same Idempotency-Key twice -> the same 201 answer, one request")
def _():
    s = server("idem")
    f = fields()
    a = post_json(s, f, key="order-7f3a-1")
    j = created(a)
    b = post_json(s, f, key="order-7f3a-1")
    eq(b.status, 201, "status of the retry")
    eq(b.body, a.body, "body of the retry")
    # The same key with another body is refused and reveals nothing of the first answer (issue #7).
    c = post_json(s, dict(f, description="Совсем другой текст, но ключ тот же самый, повтор."),
                  key="order-7f3a-1")
    api_error(c, 422, "idempotency_mismatch")
    lacks(c.text, j["number"], j["url"], what="the mismatch answer")
    eq(count(s, "requests", "member_id = ?", f["member_id"]), 1, "requests of the member")
    # Without the key it is a new attempt: a duplicate of the one request there is.
    e = api_error(post_json(s, f), 409, "duplicate")
    eq(e["existing"]["number"], j["number"], "the duplicate names the one request")
    # A bad key is refused.
    for bad in ("x" * 201, "ключ"):
        r = s.req("/api/v1/requests", "POST", {"Content-Type": "application/json",
                                                "Idempotency-Key": bad.encode().decode("latin-1")},
                  json.dumps(fields()).encode())
        api_error(r, 400, "bad_idempotency_key")
    eq(count(s, "requests"), 1, "requests in all")
    finish(s)


@test("requests: 10 concurrent posts with one Idempotency-Key -> one request, one number")
def _():
    s = server("idem-race", threads=8)
    f = fields()
    body = json.dumps(f, ensure_ascii=False).encode()
    answers = [None] * 10
    go = threading.Event()

    def one(i):
        go.wait(5)
        try:
            answers[i] = s.req("/api/v1/requests", "POST", {"Content-Type": "application/json",
                                                            "Idempotency-Key": "race-key-42"}, body)
        except Exception as e:  # reported below
            answers[i] = e

    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(10)]
    for t in ts:
        t.start()
    go.set()
    for t in ts:
        t.join(15)
    for i, a in enumerate(answers):
        check(a is not None and not isinstance(a, Exception), f"post {i}: {a!r}")
    numbers = {created(a)["number"] for a in answers}
    eq(len(numbers), 1, f"numbers given: {numbers}")
    eq(len({a.body for a in answers}), 1, "all answers identical")
    eq(count(s, "requests", "member_id = ?", f["member_id"]), 1, "requests stored")
    eq(count(s, "messages"), 1, "messages stored")
    finish(s)


# ---- 4: duplicates ----------------------------------------------------------------------------


@test("requests: duplicates -> 409 {error: {code, message, existing: {number, status, created}}}")
def _():
    s = server("dup")
    f = fields(topic="payouts",
               description="Выплата за октябрь не пришла на карту Сбербанка, прошло уже две недели.")
    j = created(post_json(s, f))
    t0 = time.time()
    # Same member, same topic, other text.
    r = post_json(s, dict(f, subject="Ещё вопрос", description="А когда вообще будет следующая "
                          "выплата бонусов? Хочу понять сроки."))
    e = api_error(r, 409, "duplicate")
    eq(sorted(e), ["code", "existing", "message"], "error keys")
    eq(sorted(e["existing"]), ["created", "number", "status"], "existing keys")
    eq(e["existing"]["number"], j["number"], "existing number")
    eq(e["existing"]["status"], "new", "existing status")
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z", e["existing"]["created"])
    check(m, f"created is not an ISO 8601 UTC time: {e['existing']['created']!r}")
    when = time.mktime(time.strptime(e["existing"]["created"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    check(abs(when - t0) < 120, f"created {e['existing']['created']} is not about now")
    # Another topic, nearly the same text: still the same matter.
    r = post_json(s, dict(f, topic="bank-details", subject="Выплата не пришла",
                          description="Выплата за октябрь не пришла на карту Сбербанка, прошло уже две недели!!"))
    eq(api_error(r, 409, "duplicate")["existing"]["number"], j["number"], "near-same text, other topic")
    eq(count(s, "requests", "member_id = ?", f["member_id"]), 1, "requests of the member")
    # Another member with the very same request is not a duplicate.
    created(post_json(s, dict(f, member_id=member())))
    # The same member on another topic with another text is not a duplicate either.
    created(post_json(s, dict(f, topic="registration", subject="Не могу войти",
                              description="После смены телефона не приходит код подтверждения для входа.")))
    eq(count(s, "requests", "member_id = ?", f["member_id"]), 2, "requests of the member")
    # A closed request does not block a new one on its topic.
    sql(s, "UPDATE requests SET status = 'closed' WHERE number = ?", j["number"])
    created(post_json(s, f))
    finish(s)


# ---- 5: invalid input -------------------------------------------------------------------------


@test("requests: invalid fields -> 422 {error: {code: invalid, message, fields}} in Russian")
def _():
    s = server("invalid")
    cases = [
        ({"member_id": "12345a"}, "member_id"),
        ({"member_id": "1234"}, "member_id"),
        ({"member_id": "1234567890123"}, "member_id"),
        ({"member_id": " "}, "member_id"),
        ({"member_id": None}, "member_id"),
        ({"email": None, "phone": None}, ("email", "phone")),
        ({"email": "", "phone": "  "}, ("email", "phone")),
        ({"email": "ivan.example.com"}, "email"),
        ({"email": "ivan@"}, "email"),
        ({"email": "ivan petrov@example.com"}, "email"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "+7 912 abc-67-89"}, "phone"),
        ({"country": "XX"}, "country"),
        ({"country": "ru"}, "country"),
        ({"country": None}, "country"),
        ({"topic": "nope"}, "topic"),
        ({"topic": None}, "topic"),
        ({"description": "Слишком коротко."}, "description"),
        ({"description": "ж" * 19}, "description"),
        ({"description": "  " + "ж" * 10 + "          "}, "description"),
    ]
    for over, want in cases:
        fs = invalid_fields(post_json(s, fields(**over)))
        for w in (want if isinstance(want, tuple) else (want,)):
            check(w in fs, f"{over}: no error for {w}: {fs}")
        if "email" in over and "phone" in over:
            check("email" in fs or "phone" in fs, f"{over}: {fs}")
        else:
            eq(sorted(fs), [want], f"fields with errors for {over}")
    # Several problems at once: every one is named.
    fs = invalid_fields(post_json(s, fields(member_id="abc", email="x@", country="ZZ", topic="?",
                                            description="мало")))
    for w in ("member_id", "email", "country", "topic", "description"):
        check(w in fs, f"no error for {w}: {fs}")
    eq(count(s, "requests"), 0, "requests stored by invalid input")
    eq(count(s, "messages"), 0, "messages stored by invalid input")
    finish(s)


@test("requests: valid edge values are accepted; the phone is stored as +7...")
def _():
    s = server("edges")
    for phone, want in (("8 (912) 345-67-89", "+79123456789"), ("+7 (912) 345-67-80", "+79123456780"),
                        ("9123456781", "+79123456781"), ("+49 30 1234567", "+49301234567")):
        f = fields(phone=phone, email=None)
        created(post_json(s, f))
        eq(sql(s, "SELECT phone, email FROM requests WHERE member_id = ?", f["member_id"]),
           [(want, "")], f"stored phone for {phone!r}")
    for over in ({"member_id": "12345"}, {"member_id": "123456789012"}, {"description": "ж" * 20},
                 {"country": "KZ"}, {"phone": None}, {"member_id": "  7654321  "}):
        created(post_json(s, fields(**over)))
    eq(count(s, "requests", "member_id = '7654321'"), 1, "member ID stored trimmed")
    finish(s)


@test("requests: a non-string JSON value -> 422 field error, not coerced")
def _():
    s = server("json-types")
    for over, field in (({"member_id": 1234567}, "member_id"), ({"topic": ["payouts"]}, "topic"),
                        ({"description": {"text": "Выплата не пришла уже две недели подряд."}}, "description"),
                        ({"phone": 79123456789}, "phone"), ({"email": True}, "email")):
        fs = invalid_fields(post_json(s, fields(**over)))
        check(field in fs, f"{over}: no error for {field}: {fs}")
    eq(count(s, "requests"), 0, "requests stored")
    finish(s)


@test("requests: invalid JSON, duplicate keys, not an object -> 400")
def _():
    s = server("json-bad")
    good = json.dumps(fields(), ensure_ascii=False)
    for raw in (good[:-5].encode(), b"", b"{", b"[]", b'"text"', b"null",
                good.replace('"topic": "payouts"', '"topic": "payouts", "topic": "other"').encode(),
                good.replace('"member_id"', '"country": "KZ", "member_id"').encode(),
                b"\xff\xfe{}"):
        r = post_json(s, None, raw=raw)
        eq(r.status, 400, f"status for {short(raw, 60)} ({short(r.body)})")
        e = r.json()["error"]
        check(CYRILLIC.search(e["message"]), f"message not Russian: {e}")
    eq(count(s, "requests"), 0, "requests stored")
    finish(s)


@test("requests: multipart topic[]= or a repeated field -> 422, not coerced (API and form)")
def _():
    s = server("arrays")
    base = [(k, v) for k, v in fields(topic=None).items()]
    extras = ([("topic[]", "payouts")], [("topic", "payouts"), ("topic[]", "other")],
              [("topic[]", "payouts"), ("topic[]", "other")],
              [("topic", "payouts"), ("topic", "other")], [("topic", "payouts"), ("topic", "payouts")])
    for extra in extras:
        fs = invalid_fields(post_multipart(s, "/api/v1/requests", base + extra))
        check(any(k.startswith("topic") for k in fs), f"API, {extra}: no error for topic: {fs}")
    # A repeated member ID is refused too.
    pairs = base + [("topic", "payouts"), ("member_id", member())]
    check("member_id" in invalid_fields(post_multipart(s, "/api/v1/requests", pairs)), "member_id twice")
    eq(count(s, "requests"), 0, "requests stored by the API")
    # The form, the same way.
    for extra in extras:
        r = post_multipart(s, "/request", base + extra)
        eq((r.status, count(s, "requests")), (422, 0), f"form: (status, requests stored) for {extra}")
        contains(r.text, 'class="error', what=f"form page for {extra}")
    # A multipart body without files and without repeats is fine.
    created(post_multipart(s, "/api/v1/requests", base + [("topic", "payouts")]))
    finish(s)


# ---- 6: attachments ---------------------------------------------------------------------------


@test("requests: PNG and PDF attachments are stored by their SHA-256 (DATA/files; the database on PostgreSQL); "
      "DATA/tmp empty")
def _():
    s = server("files")
    f = fields()
    pairs = list(f.items())
    files = [("attachments", "скан.png", PNG, "image/png"),
             ("attachments", "justification.pdf", PDF, "application/pdf")]
    j = created(post_multipart(s, "/api/v1/requests", pairs, files))
    for data in (PNG, PDF):
        h = hashlib.sha256(data).hexdigest()
        eq(stored_content(s, h), data, f"content stored under {h} (stored: {stored_files(s)})")
    eq(len(stored_files(s)), 2, "files stored")
    wait_tmp_empty(s)
    rows = sql(s, "SELECT a.sha256, a.size, a.mime, a.filename FROM attachments a JOIN requests r "
                  "ON r.id = a.request_id WHERE r.number = ? ORDER BY a.id", j["number"])
    eq(rows, [(hashlib.sha256(PNG).hexdigest(), len(PNG), "image/png", "скан.png"),
              (hashlib.sha256(PDF).hexdigest(), len(PDF), "application/pdf", "justification.pdf")],
       "attachment rows")
    page = s.req(j["url"]).text
    contains(page, "скан.png", "justification.pdf", what="private page")
    # The file store is not web-served.
    h = hashlib.sha256(PNG).hexdigest()
    for path in (f"/static/{h}", f"/files/{h}", f"/static/../files/{h}"):
        check(s.req(path).status in (400, 404), f"{path} is served")
    # The same content again is stored once (content-addressed).
    created(post_multipart(s, "/api/v1/requests", list(fields().items()),
                           [("attachments", "again.png", PNG, "image/png")]))
    eq(len(stored_files(s)), 2, "files after storing the same PNG again")
    wait_tmp_empty(s)
    finish(s)


@test("requests: HTML, SVG, ELF named .jpg -> 422; no row, no file (nothing half-stored)")
def _():
    s = server("badfiles")
    cases = [[("attachments", "photo.jpg", HTML_FILE, "image/jpeg")],
             [("attachments", "photo.jpg", SVG_FILE, "image/jpeg")],
             [("attachments", "photo.jpg", ELF_FILE, "image/jpeg")],
             [("attachments", "ok.png", PNG, "image/png"), ("attachments", "pic.svg", SVG_FILE, "image/svg+xml")],
             [("attachments", "doc.pdf", PDF, "application/pdf"), ("attachments", "run.jpg", ELF_FILE, "image/jpeg")]]
    for files in cases:
        f = fields()
        r = post_multipart(s, "/api/v1/requests", list(f.items()), files)
        fs = invalid_fields(r)
        eq(list(fs), ["attachments"], f"fields for {[x[1] for x in files]}")
        eq(stored_files(s), [], f"DATA/files after {[x[1] for x in files]}")
        wait_tmp_empty(s)
        # The form refuses them the same way and keeps nothing.
        r = post_multipart(s, "/request", list(f.items()), files)
        eq(r.status, 422, "form status")
        contains(field_block(r.text, "attachments"), 'class="error"', "JPEG, PNG или PDF",
                 what="attachments field")
        eq(stored_files(s), [], "DATA/files after the form")
        wait_tmp_empty(s)
    for table in ("requests", "messages", "attachments", "idempotency"):
        eq(count(s, table), 0, f"rows in {table}")
    finish(s)


@test("requests: 6 files -> 413/422 with a Russian message; nothing stored")
def _():
    s = server("sixfiles")
    files = [("attachments", f"p{i}.png", PNG + bytes([i]), "image/png") for i in range(6)]
    # Five are fine.
    j = created(post_multipart(s, "/api/v1/requests", list(fields().items()), files[:5]))
    eq(count(s, "attachments", "request_id = (SELECT id FROM requests WHERE number = ?)", j["number"]),
       5, "attachments stored")
    stored = stored_files(s)
    eq(len(stored), 5, "files stored")
    files = [("attachments", f"q{i}.png", PNG + b"six" + bytes([i]), "image/png") for i in range(6)]
    body, ctype = multipart(list(fields().items()), files)
    api = streamed(s, "/api/v1/requests", ctype, body)
    body, ctype = multipart(list(fields().items()), files)
    form = streamed(s, "/request", ctype, body)
    eq(stored_files(s), stored, "DATA/files after 6 files")
    wait_tmp_empty(s)
    eq(count(s, "requests"), 1, "requests after 6 files")
    for what, r in (("API", api), ("form", form)):
        check(not r.closed_without_answer, f"{what}: the connection was closed without an answer")
        check(r.status in (413, 422), f"{what}: status {r.status}: {short(r.body)}")
    text = json.dumps(api.json()["error"], ensure_ascii=False)
    check(CYRILLIC.search(text) and "5" in text, f"message does not say the limit: {text}")
    contains(form.text, "не больше 5 файлов", what="form answer")
    finish(s)


@test("requests: a file of 10 MiB + 1 byte -> 413; exactly 10 MiB is accepted")
def _():
    s = server("bigfile")
    big = PNG + b"\x00" * ((10 << 20) + 1 - len(PNG))
    ok = big[:-1]
    body, ctype = multipart(list(fields().items()), [("attachments", "ten.png", ok, "image/png")])
    created(streamed(s, "/api/v1/requests", ctype, body))
    eq(sql(s, "SELECT size FROM attachments"), [(10 << 20,)], "stored size")
    eq(stored_size(s, hashlib.sha256(ok).hexdigest()), 10 << 20, "stored file size")
    wait_tmp_empty(s)
    t0 = time.monotonic()
    body, ctype = multipart(list(fields().items()), [("attachments", "big.png", big, "image/png")])
    api = streamed(s, "/api/v1/requests", ctype, body)
    body, ctype = multipart(list(fields().items()), [("attachments", "big.png", big, "image/png")])
    form = streamed(s, "/request", ctype, body)
    check(time.monotonic() - t0 < 8, "took too long")
    wait_tmp_empty(s)
    eq(len(stored_files(s)), 1, "files in DATA/files")
    eq(count(s, "requests"), 1, "requests")
    for what, r in (("API", api), ("form", form)):
        check(not r.closed_without_answer, f"{what}: the connection was closed without an answer")
        eq(r.status, 413, f"{what}: status ({short(r.body)})")
    e = api.json()["error"]
    check(CYRILLIC.search(e["message"]) and "10" in e["message"], f"message: {e}")
    contains(form.text, "10 МБ", what="form answer")
    finish(s)


@test("requests: 30 MB announced -> 413 before the body is sent (API, form, reply)")
def _():
    s = server("announced")
    j = created(post_json(s, fields()))
    for path, ctype, size in (("/api/v1/requests", "multipart/form-data; boundary=xyz", 30_000_000),
                              ("/request", "multipart/form-data; boundary=xyz", 30_000_000),
                              (j["url"], "multipart/form-data; boundary=xyz", 30_000_000),
                              ("/api/v1/requests", "application/json", 1_000_000)):
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=2)
        try:
            sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
                          f"Content-Length: {size}\r\n\r\n").encode())
            t0 = time.monotonic()
            out = read_answer(sock, 2)
        finally:
            sock.close()
        check(out, f"{path}: no answer within 2 s to headers announcing {size} bytes")
        r = parse_raw(out)
        Server.responses.append((f"POST {path} announced {size}", r.raw_text()))
        eq(r.status, 413, f"{path}: status")
        check(time.monotonic() - t0 < 2, f"{path}: answered after {time.monotonic() - t0:.1f} s")
        check(CYRILLIC.search(r.text), f"{path}: answer not Russian: {short(r.text)}")
    eq(count(s, "requests"), 1, "requests")
    wait_tmp_empty(s)
    finish(s)


@test("requests: 3 files of 9 MiB (27 MiB in all) -> 413; nothing stored")
def _():
    s = server("toomuch")
    files = [("attachments", f"f{i}.pdf", PDF + bytes([i]) * ((9 << 20) - len(PDF)), "application/pdf")
             for i in range(3)]
    body, ctype = multipart(list(fields().items()), files)
    r = streamed(s, "/api/v1/requests", ctype, body)
    eq(r.status, 413, f"status ({short(r.body)})")
    check(CYRILLIC.search(r.json()["error"]["message"]), "message not Russian")
    wait_tmp_empty(s)
    eq(stored_files(s), [], "DATA/files")
    eq(count(s, "requests"), 0, "requests")
    finish(s)


@test("requests: file names with ../, U+202E, control characters are stored neutralised")
def _():
    s = server("names")
    names = ["../../etc/passwd.png", "..\\..\\windows\\boot.png", "invoice\u202egnp.pdf",
             "a\x01b\x1bc\x7f.png", "\u2066dir\u2069\u200fname.png", "..", ".hidden.png",
             "x" * 300 + ".png"]
    files = [("attachments", n, PNG + bytes([i]), "image/png") for i, n in enumerate(names[:5])]
    j = created(post_multipart(s, "/api/v1/requests", list(fields().items()), files))
    files2 = [("attachments", n, PDF + bytes([i]), "application/pdf") for i, n in enumerate(names[5:])]
    created(post_multipart(s, "/api/v1/requests", list(fields().items()), files2))
    stored = [x[0] for x in sql(s, "SELECT filename FROM attachments ORDER BY id")]
    eq(len(stored), len(names), f"attachments stored: {stored}")
    for orig, got in zip(names, stored):
        check(got, f"{orig!r} stored empty")
        for bad in ("/", "\\", "\u202e", "\u2066", "\u2069", "\u200f"):
            check(bad not in got, f"{orig!r} stored as {got!r}: contains {bad!r}")
        check(not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in got), f"{orig!r} stored as {got!r}")
        check(not got.startswith("."), f"{orig!r} stored as {got!r}: a hidden or dot-dot name")
        check(len(got) <= 200, f"{orig!r} stored with {len(got)} characters")
    eq(stored[0], "passwd.png", "../../etc/passwd.png")
    eq(stored[1], "boot.png", "..\\..\\windows\\boot.png")
    eq(stored[2], "invoicegnp.pdf", "the RTL override")
    eq(stored[3], "abc.png", "control characters")
    page = s.req(j["url"]).text
    contains(page, "passwd.png", "invoicegnp.pdf", what="private page")
    lacks(page, "\u202e", "../", what="private page")
    for name in stored_files(s):
        check(re.fullmatch(r"[0-9a-f]{64}", name), f"DATA/files holds {name!r}")
    finish(s)


# ---- 7-8: the form ----------------------------------------------------------------------------


@test("requests: GET /request -> every field, form token, honeypot, help link, multipart")
def _():
    s = server("form")
    r = s.req("/request")
    eq(r.status, 200, "status")
    valid_html(r, "/request")
    eq(r.header("cache-control"), "no-store", "Cache-Control")
    form = form_block(r.text)
    head = form[:form.index(">") + 1]
    contains(head, 'action="/request"', 'method="post"', 'enctype="multipart/form-data"', what="<form>")
    p = Page(form)
    for name in ("member_id", "name", "email", "phone", "country", "topic", "order_number", "subject",
                 "description", "attachments", "form_token", "website"):
        check(p.find(name=name), f"no control named {name}")
    eq(p.find("input", name="email")[0]["attrs"].get("type"), "email", "email type")
    eq(p.find("input", name="phone")[0]["attrs"].get("type"), "tel", "phone type")
    check(p.find("select", name="country") and p.find("select", name="topic"), "country/topic selects")
    check(p.find("textarea", name="description"), "description is a textarea")
    att = p.find("input", name="attachments")[0]["attrs"]
    eq(att.get("type"), "file", "attachments type")
    check("multiple" in att, "attachments not multiple")
    tok = p.find("input", name="form_token")[0]["attrs"]
    eq(tok.get("type"), "hidden", "form_token type")
    check(re.fullmatch(r"[A-Za-z0-9_-]{43}", tok.get("value", "")), f"form_token {tok.get('value')!r}")
    hp = p.find("input", name="website")[0]["attrs"]
    eq(hp.get("tabindex"), "-1", "honeypot tabindex")
    check("/a/member-id" in p.hrefs(), "no link to /a/member-id")
    topics = [e["attrs"]["value"] for e in p.find("option") if e["attrs"].get("value") is not None
              and "select" in e["path"]]
    api = [t["slug"] for t in s.req("/api/v1/topics").json()]
    for t in api:
        check(t in topics, f"topic {t} not offered by the form")
    # Every visible control has a label.
    for e in p.elements:
        if e["tag"] in ("input", "select", "textarea") and e["attrs"].get("type") != "hidden":
            check(e["attrs"].get("id") and f'for="{e["attrs"]["id"]}"' in form,
                  f"no label for {e['attrs'].get('name')}")
    # A new token each time.
    eq(len({Page(form_block(s.req("/request").text)).find("input", name="form_token")[0]["attrs"]["value"]
            for _ in range(3)} | {tok["value"]}), 4, "form tokens are fresh")
    finish(s)


@test("requests: form errors -> 422, each error by its field, everything typed kept, files note")
def _():
    s = server("form-errors")
    typed = {"member_id": "12ab34", "name": 'Иван "Тест" <b>Петров</b> & Co', "email": "ivan@",
             "phone": "12", "country": "KZ", "topic": "order", "order_number": "A-77 <i>",
             "subject": "Оплата & «доставка» <script>x</script>",
             "description": "Коротко <b>\n& всё"}
    r = post_multipart(s, "/request", list(typed.items()) + [("form_token", "x" * 43)],
                       [("attachments", "скан.png", PNG, "image/png")])
    eq(r.status, 422, "status")
    lacks(r.text, "<script>x", "<b>Петров", what="form page (typed text must be escaped)")
    for name in ("member_id", "email", "phone"):
        block = field_block(r.text, name)
        contains(block, 'class="error"', what=f"field {name}")
        err = re.search(r'<p class="error"[^>]*>(.*?)</p>', block, re.S).group(1)
        check(CYRILLIC.search(err), f"error of {name} not Russian: {err!r}")
        contains(control(block, name), 'aria-invalid="true"', what=f"control {name}")
    for name in ("name", "subject", "order_number"):
        lacks(field_block(r.text, name), 'class="error"', 'aria-invalid', what=f"field {name}")
    p = Page(form_block(r.text))
    for name in ("member_id", "name", "email", "phone", "order_number", "subject"):
        eq(p.find("input", name=name)[0]["attrs"].get("value"), typed[name], f"value kept in {name}")
    ta = re.search(r'<textarea[^>]*name="description"[^>]*>(.*?)</textarea>', r.text, re.S).group(1)
    eq(html.unescape(ta), typed["description"], "description kept")
    for name, want in (("country", "KZ"), ("topic", "order")):
        block = field_block(r.text, name)
        chosen = re.findall(r'<option value="([^"]*)"[^>]*\bselected', block)
        eq(chosen, [want], f"selected {name}")
    contains(r.text, "файлы нужно выбрать заново", what="form page with files")
    summary = re.search(r'<div class="error-summary".*?</div>', r.text, re.S)
    check(summary, "no error summary")
    for name in ("member_id", "email", "phone", "description"):
        contains(summary.group(0), f'href="#f-{name}"', what="error summary")
    # Without files: no note about files.
    r = post_multipart(s, "/request", list(typed.items()))
    eq(r.status, 422, "status without files")
    lacks(r.text, "выбрать заново", what="form page without files")
    eq(count(s, "requests"), 0, "requests")
    block = field_block(r.text, "description")
    contains(block, 'class="error"', what="field description")
    check(CYRILLIC.search(re.search(r'<p class="error"[^>]*>(.*?)</p>', block, re.S).group(1)),
          "error of description not Russian")
    contains(control(block, "description"), 'aria-invalid="true"', what="control description")
    valid_html(r, "form with errors")
    finish(s)


@test("requests: form errors on country and topic are marked on the selects too")
def _():
    s = server("form-selects")
    f = fields(country="XX", topic="")
    r = post_multipart(s, "/request", list(f.items()))
    eq(r.status, 422, "status")
    for name in ("country", "topic"):
        block = field_block(r.text, name)
        contains(block, 'class="error"', what=f"field {name}")
        contains(control(block, name), 'aria-invalid="true"', what=f"control {name}")
    for name in ("member_id", "name", "email", "phone", "subject"):
        eq(Page(form_block(r.text)).find("input", name=name)[0]["attrs"].get("value"), f[name],
           f"value kept in {name}")
    finish(s)


@test("requests: form valid -> «Обращение R-… принято» with its /r/ link; one request per form token")
def _():
    s = server("form-ok")
    token = Page(form_block(s.req("/request").text)).find("input", name="form_token")[0]["attrs"]["value"]
    f = fields(topic="order", order_number="ORD-5521", phone="8 (912) 345-67-89")
    pairs = list(f.items()) + [("form_token", token), ("website", "")]
    r = post_multipart(s, "/request", pairs, [("attachments", "", b"", "application/octet-stream")])
    eq(r.status, 200, f"status ({short(r.text[-400:])})")
    valid_html(r, "created page")
    h1 = Page(r.text).texts("h1")
    check(len(h1) == 1 and re.fullmatch(r"Обращение R-\d{4}-\d{6} принято", h1[0]), f"h1 {h1}")
    number = NUMBER.search(h1[0]).group(0)
    links = [h for h in Page(r.text).hrefs() if h and TOKEN_URL.fullmatch(h)]
    eq(len(links), 1, f"links to /r/: {links}")
    page = s.req(links[0])
    eq(page.status, 200, "private page")
    contains(page.text, number, html.escape(f["subject"], quote=False), f["description"], "Новое")
    # The same form sent again (double click, retry): the same answer, one request.
    again = post_multipart(s, "/request", pairs)
    eq(again.status, 200, "status of the second submit")
    eq(Page(again.text).texts("h1"), h1, "h1 of the second submit")
    eq([h for h in Page(again.text).hrefs() if h and TOKEN_URL.fullmatch(h)], links, "link of the second submit")
    eq(count(s, "requests", "member_id = ?", f["member_id"]), 1, "requests")
    eq(sql(s, "SELECT phone, order_number, topic FROM requests"), [("+79123456789", "ORD-5521", "order")],
       "stored fields")
    eq(count(s, "attachments"), 0, "an empty file input stores no attachment")
    # A urlencoded form works too (no files).
    r = post_form(s, "/request", dict(fields(), form_token=token[::-1]))
    eq(r.status, 200, "urlencoded form")
    contains(r.text, "принято", what="urlencoded form answer")
    finish(s)


@test("requests: honeypot filled -> a thank-you page, nothing stored")
def _():
    s = server("honeypot")
    for post in (lambda f: post_multipart(s, "/request", list(f.items()) + [("website", "http://spam.example")],
                                          [("attachments", "a.png", PNG, "image/png")]),
                 lambda f: post_form(s, "/request", dict(f, website="buy now"))):
        r = post(fields())
        eq(r.status, 200, "status")
        valid_html(r, "thank-you page")
        contains(r.text, "Спасибо", what="thank-you page")
        check(not NUMBER.search(r.text) and not TOKEN_URL.search(r.text), "the bot got a number or a link")
    for table in ("requests", "messages", "attachments"):
        eq(count(s, table), 0, f"rows in {table}")
    eq(stored_files(s), [], "DATA/files")
    wait_tmp_empty(s)
    finish(s)


@test("requests: duplicate via the form -> 409 with the open request and an append form; appended with the link")
def _():
    s = server("form-dup")
    f = fields(topic="bank-details", subject="Смена реквизитов",
               description="Сменил банк, хочу указать новые реквизиты для выплат, как это сделать?")
    r = post_multipart(s, "/request", list(f.items()) + [("form_token", "A" * 43)])
    eq(r.status, 200, "first request")
    number = NUMBER.search(Page(r.text).texts("h1")[0]).group(0)
    link = [h for h in Page(r.text).hrefs() if h and TOKEN_URL.fullmatch(h)][0]
    second = dict(f, subject="Снова про реквизиты",
                  description="Дополнение: новый банк Тинькофф, БИК 044525974, счёт прилагаю.")
    r = post_multipart(s, "/request", list(second.items()) + [("form_token", "B" * 43)],
                       [("attachments", "счёт.pdf", PDF, "application/pdf")])
    eq(r.status, 409, "status of the duplicate")
    valid_html(r, "duplicate page")
    # The same e-mail as the open request: its owner sees its number, status and date.
    contains(r.text, number, "Новое", today_ru(), what="duplicate page")
    form = form_block(r.text)
    lacks(form, number, what="the append form (a number is no credential)")
    hidden = hidden_inputs(form)
    check(re.fullmatch(r"[A-Za-z0-9_-]{43}", hidden.get("form_token", "")), "form_token of the append form")
    eq(hidden.get("member_id"), f["member_id"], "member_id carried")
    check(Page(form).find("input", name="append_to"), "no field for the private link")
    ta = re.search(r'<textarea[^>]*name="description"[^>]*>(.*?)</textarea>', form, re.S)
    check(ta, "no description textarea in the append form")
    eq(html.unescape(ta.group(1)), second["description"], "the new text is offered")
    check(Page(form).find("input", name="attachments", type="file"), "no file input in the append form")
    eq(count(s, "requests"), 1, "requests after the duplicate")
    # Adding it to the open request with its private link.
    pairs = list(hidden.items()) + [("append_to", "http://help.example.org" + link),
                                    ("description", second["description"])]
    r = post_multipart(s, "/request", pairs, [("attachments", "счёт.pdf", PDF, "application/pdf")])
    eq(r.status, 200, f"status of the append ({short(r.text[-300:])})")
    contains(Page(r.text).texts("h1")[0], "Добавлено в обращение", number, what="h1")
    again = post_multipart(s, "/request", pairs, [("attachments", "счёт.pdf", PDF, "application/pdf")])
    eq(again.status, 200, "the append form sent twice")
    page = s.req(link)
    eq(page.status, 200, "private page")
    contains(page.text, f["description"], second["description"], "счёт.pdf", what="private page")
    eq(count(s, "messages"), 2, "messages (the append form sent twice adds one)")
    eq(count(s, "requests"), 1, "requests")
    # Nobody can add to this request by its number (issue #7).
    other = dict(hidden, member_id=f["member_id"], append_to=number, form_token="C" * 43)
    r = post_multipart(s, "/request", list(other.items()) + [("description", "Чужой текст в чужое обращение, "
                                                                               "так нельзя делать.")])
    eq(r.status, 404, "append with a number instead of the link")
    lacks(r.text, "Добавлено", what="answer to an append by number")
    eq(count(s, "messages"), 2, "messages after a foreign append")
    lacks(s.req(link).text, "Чужой текст", what="private page")
    finish(s)


# ---- 9: the private link ----------------------------------------------------------------------


def rand_token():
    return "".join(random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
                   for _ in range(43))


def normalized_404(r):
    """A 404 page without the one thing that depends on the path (the country form's way back)."""
    return re.sub(r'name="back" value="[^"]*"', 'name="back" value=""', r.text)


@test("requests: a wrong /r/ token looks exactly like a missing page; a number opens nothing")
def _():
    s = server("token")
    j = created(post_json(s, fields()))
    token = j["url"][3:]
    near = token[:-1] + ("A" if token[-1] != "A" else "B")
    missing = s.req("/no-such-page")
    eq(missing.status, 404, "missing page")
    want_h1 = Page(missing.text).texts("h1")
    for path in ("/r/" + rand_token(), "/r/" + near, "/r/" + token[:20], "/r/" + token + "x",
                 "/r/" + j["number"], "/r/R-2026-000001", "/r/" + token[::-1]):
        r = s.req(path)
        eq(r.status, 404, f"status of {path}")
        eq(Page(r.text).texts("h1"), want_h1, f"h1 of {path}")
        eq(normalized_404(r), normalized_404(missing), f"body of {path} differs from a missing page's")
        eq(r.header("content-type"), missing.header("content-type"), f"Content-Type of {path}")
        lacks(normalized_404(r), j["number"], what=f"answer to {path}")
    eq(s.req("/r/" + rand_token(), "POST", {"Content-Type": "application/x-www-form-urlencoded"},
             b"message=hello").status, 404, "POST to a wrong token")
    eq(s.req(j["url"]).status, 200, "the right token still works")
    finish(s)


@test("requests: 30 wrong /r/ tokens from one client -> then 429")
def _():
    s = server("token-limit")
    for i in range(30):
        r = s.req("/r/" + rand_token())
        eq(r.status, 404, f"wrong token {i + 1}")
    r = s.req("/r/" + rand_token())
    eq(r.status, 429, "wrong token 31")
    check(CYRILLIC.search(Page(r.text).text), "429 page not Russian")
    valid_html(r, "429 page")
    finish(s)


@test("requests: reply via POST /r/<token> (text + PNG) -> 303 back, shown; empty reply -> 422")
def _():
    s = server("reply")
    j = created(post_json(s, fields()))
    page = s.req(j["url"])
    form = form_block(page.text)
    contains(form, f'action="{j["url"]}"', 'enctype="multipart/form-data"', what="reply form")
    token = hidden_inputs(form)["form_token"]
    text = "Прикладываю скриншот ошибки <b>из</b> личного кабинета & жду ответа."
    pairs = [("message", text), ("form_token", token)]
    r = post_multipart(s, j["url"], pairs, [("attachments", "ошибка.png", PNG, "image/png")])
    eq(r.status, 303, f"status ({short(r.body)})")
    eq(r.header("location"), j["url"], "Location")
    page = s.req(j["url"])
    eq(page.status, 200, "page after the reply")
    valid_html(page, "page after the reply")
    contains(page.text, html.escape(text, quote=False), "ошибка.png", what="page after the reply")
    lacks(page.text, "<b>из</b>", what="page after the reply")
    check(stored_content(s, hashlib.sha256(PNG).hexdigest()) == PNG, "PNG not stored")
    # The same reply form twice adds one message; its token with another text adds nothing.
    eq(post_multipart(s, j["url"], pairs, [("attachments", "ошибка.png", PNG, "image/png")]).status, 303,
       "second submit")
    eq(post_multipart(s, j["url"], [("message", "Другой текст"), ("form_token", token)]).status, 422,
       "the reply form's token with another text")
    eq(count(s, "messages"), 2, "messages")
    for empty in ("", "   \n  "):
        r = post_multipart(s, j["url"], [("message", empty), ("form_token", rand_token())])
        eq(r.status, 422, f"empty reply {empty!r}")
        check(CYRILLIC.search(Page(r.text).text), "422 page not Russian")
    r = post_multipart(s, j["url"], [("message", "Вот файл"), ("form_token", rand_token())],
                       [("attachments", "x.jpg", HTML_FILE, "image/jpeg")])
    eq(r.status, 422, "reply with an HTML file")
    eq(count(s, "messages"), 2, "messages after the refused replies")
    eq(count(s, "attachments"), 1, "attachments")
    wait_tmp_empty(s)
    finish(s)


# ---- 10: rate limits --------------------------------------------------------------------------

TEXTS = {
    "registration": ("Не могу зарегистрироваться", "Регистрация обрывается на третьем шаге с ошибкой сервера."),
    "personal-data": ("Сменилась фамилия", "Вышла замуж, нужно обновить фамилию в анкете партнёра."),
    "verification": ("Паспорт не проверен", "Загрузила паспорт неделю назад, статус проверки не меняется."),
    "order": ("Заказ не пришёл", "Посылка с кремами третий день лежит на сортировке в Казани."),
    "return": ("Возврат шампуня", "Хочу вернуть флакон шампуня, он не подошёл по составу."),
    "defective": ("Разбитая бутылка", "В коробке оказалась разбитая бутылка геля для душа, всё протекло."),
    "payouts": ("Выплата", "Бонус за сентябрь начислен не полностью, не хватает примерно трети."),
}


@test("requests: more than 5 creations per member ID a day -> 429; 422, 409 and retries do not count")
def _():
    s = server("limit-member")
    m = member()
    topics = list(TEXTS)
    first = post_json(s, fields(member_id=m, topic=topics[0], subject=TEXTS[topics[0]][0],
                                description=TEXTS[topics[0]][1]), key="limit-1")
    created(first)
    for _ in range(6):
        invalid_fields(post_json(s, fields(member_id=m, topic="other", description="мало")))
        api_error(post_json(s, fields(member_id=m, topic=topics[0])), 409, "duplicate")
        r = post_json(s, fields(member_id=m, topic=topics[0], subject=TEXTS[topics[0]][0],
                                description=TEXTS[topics[0]][1]), key="limit-1")
        eq((r.status, r.body), (201, first.body), "idempotent retry")
    for t in topics[1:5]:
        created(post_json(s, fields(member_id=m, topic=t, subject=TEXTS[t][0], description=TEXTS[t][1])))
    eq(count(s, "requests", "member_id = ?", m), 5, "requests of the member")
    t = topics[5]
    r = post_json(s, fields(member_id=m, topic=t, subject=TEXTS[t][0], description=TEXTS[t][1]))
    e = api_error(r, 429, "rate_limited")
    check(len(e["message"]) > 20, f"message: {e['message']!r}")
    # The form says it too.
    r = post_multipart(s, "/request", list(fields(member_id=m, topic=topics[6], subject=TEXTS[topics[6]][0],
                                                  description=TEXTS[topics[6]][1]).items()))
    eq(r.status, 429, "form status")
    contains(r.text, e["message"], what="form page")
    eq(count(s, "requests", "member_id = ?", m), 5, "requests of the member after 429")
    # A retry of an answered key still gets its answer; another member is not limited.
    r = post_json(s, fields(member_id=m, topic=topics[0], subject=TEXTS[topics[0]][0],
                            description=TEXTS[topics[0]][1]), key="limit-1")
    eq((r.status, r.body), (201, first.body), "retry after the limit")
    created(post_json(s, fields()))
    finish(s)


@test("requests: more than 20 creations per IP an hour -> 429")
def _():
    s = server("limit-ip")
    for i in range(20):
        created(post_json(s, fields()))
    e = api_error(post_json(s, fields()), 429, "rate_limited")
    eq(count(s, "requests"), 20, "requests")
    r = post_multipart(s, "/request", list(fields().items()))
    eq(r.status, 429, "form status")
    contains(r.text, e["message"], what="form page")
    finish(s)


# ---- 11: deflections --------------------------------------------------------------------------


@test("requests: POST /request/solved slug=password-reset -> 200 page, a deflection, no request")
def _():
    s = server("solved")
    # The token the form carries for its suggestions (issue #7).
    token = re.search(r'data-solved-token="([^"]+)"', s.req("/request").text).group(1)
    r = post_form(s, "/request/solved", {"slug": "password-reset", "topic": "registration", "solved_token": token})
    eq(r.status, 200, "status")
    valid_html(r, "solved page")
    check(CYRILLIC.search(Page(r.text).texts("h1")[0]), "h1 not Russian")
    check("/a/password-reset" in Page(r.text).hrefs(), "no link back to the article")
    eq(sql(s, "SELECT slug, topic FROM deflections"), [("password-reset", "registration")], "deflections")
    r = post_multipart(s, "/request/solved", [("slug", "password-reset"), ("solved_token", token)])
    eq(r.status, 200, "multipart")
    eq(count(s, "deflections", "slug = 'password-reset'"), 2, "deflections")
    for bad in ({}, {"slug": ""}, {"slug": "../etc/passwd"}, {"slug": "<script>"}):
        eq(post_form(s, "/request/solved", dict(bad, solved_token=token)).status, 400, f"status for {bad}")
    eq(count(s, "deflections"), 2, "deflections after bad input")
    eq(count(s, "requests"), 0, "requests")
    eq(s.req("/request/solved").status, 405, "GET /request/solved")
    finish(s)
