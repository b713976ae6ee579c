"""End-to-end tests of issue #7 ("Trust"), the desk and hygiene part: merging only one member's
requests (with a confirmation step), files (names, download names, the sweep), member text
shown safely (bidi and zero-width characters), "this solved my question" with the form's token,
the data directory's permissions and the pruning of the search log.

Imported by run.py; uses the desk tests' helpers. Every test starts its own server on a fresh
data directory and reads the database through harness.db (SQLite or PostgreSQL).
"""

import html
import os
import re
import stat
import time
from urllib.parse import quote, unquote, urlencode

from desk_tests import (FORM, PDF, Agent, account, audit_rows, member, new_request, one, same_db, server, snapshot,
                        sql_write, valid_html, wait_for)
from harness import POSTGRES, check, contains, count, eq, finish, lacks, short, sql, test
from htmlcheck import Page

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"


def other_matter(s, first, **over):
    """A second request of the same member on another matter (not a duplicate)."""
    f = dict(member_id=first["member_id"], topic="registration", subject="Не могу войти в кабинет",
             description="После регистрации не получается войти в личный кабинет: пишет, что пароль неверный.")
    f.update(over)
    return new_request(s, **f)


# =============================================================================================
# Merging
# =============================================================================================


@test("trust: desk merge of two members' requests is refused with the reason, changes nothing")
def _():
    s = server("merge-cross")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    first = new_request(s, subject="Заказ не пришёл", description="Мой заказ не пришёл, адрес: Москва, ул. Ленина, 1.")
    second = new_request(s)  # another member
    check(first["member_id"] != second["member_id"], "two members")
    before = snapshot(s)
    for action in ("merge", "merge-confirm"):
        r = a.post(f"/desk/r/{first['number']}", {"action": action, "target": second["number"]})
        eq(r.status, 422, f"{action} across members ({short(r.body)})")
        valid_html(r, "refusal page")
        contains(r.text, "только обращения одного партнёра", first["member_id"], second["member_id"],
                 what="the reason")
        # The agent's way back: the desk's own header and a link to the request.
        contains(r.text, f'href="/desk/r/{first["number"]}"', 'class="desk"', "Вернуться к обращению",
                 what="refusal page")
    same_db(s, before, "a refused cross-member merge")
    # The first member's link still shows only their own conversation.
    page = s.req(first["url"])
    contains(page.text, first["description"], what="first member's page")
    lacks(page.text, second["description"], what="first member's page")
    # A member ID that differs only by white space around it is the same member.
    third = other_matter(s, second, member_id=" " + second["member_id"] + " ")
    r = a.post(f"/desk/r/{third['number']}", {"action": "merge", "target": second["number"]})
    eq(r.status, 200, f"merge of the same member ID with spaces ({short(r.body)})")
    finish(s)


@test("trust: desk merge of one member's requests: confirmation step, audit, link shows only their messages")
def _():
    s = server("merge-same")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    src = new_request(s)
    dst = other_matter(s, src)
    stranger = new_request(s)
    before = snapshot(s)
    r = a.post(f"/desk/r/{src['number']}", {"action": "merge", "target": dst["number"]})
    eq(r.status, 200, f"the confirmation step ({short(r.body)})")
    valid_html(r, "confirmation page")
    contains(r.text, src["number"], dst["number"], html.escape(src["subject"], quote=True),
             html.escape(dst["subject"], quote=True), what="confirmation page")
    form = re.search(r'<form[^>]*action="/desk/r/' + src["number"] + r'"[^>]*>.*?</form>', r.text, re.S)
    check(form, "confirmation form")
    fields = {e["attrs"]["name"]: e["attrs"].get("value", "") for e in Page(form.group(0)).find("input")}
    eq(fields.get("action"), "merge-confirm", "the confirming action")
    eq(fields.get("target"), dst["number"], "the confirmed target")
    eq(fields.get("csrf"), a.csrf, "the confirmation carries the session's CSRF token")
    same_db(s, before, "the confirmation step")
    # Without the CSRF token the confirmation changes nothing.
    eq(a.post(f"/desk/r/{src['number']}", dict(fields, csrf="x" * len(a.csrf))).status, 403, "confirm without CSRF")
    same_db(s, before, "a confirmation without CSRF")
    r = a.post(f"/desk/r/{src['number']}", fields)
    eq(r.status, 303, f"confirmed merge ({short(r.body)})")
    eq(one(s, "SELECT t.number FROM requests r JOIN requests t ON t.id = r.merged_into WHERE r.number = ?",
           src["number"]), dst["number"], "merged_into")
    eq([x[:3] for x in audit_rows(s, src["number"])], [("anna", "merge", dst["number"])], "audit of the source")
    eq([x[:3] for x in audit_rows(s, dst["number"])], [("anna", "merged-in", src["number"])], "audit of the target")
    page = s.req(src["url"])
    eq(page.status, 200, "source's link after the merge")
    contains(page.text, src["description"], dst["description"], what="merged conversation")
    lacks(page.text, stranger["description"], what="merged conversation")
    members = {m for (m,) in sql(s, "SELECT DISTINCT r0.member_id FROM messages m JOIN requests r0 ON r0.id = "
                                    "m.request_id JOIN requests t ON t.id = m.request_id WHERE t.number = ?",
                                 dst["number"])}
    eq(members, {src["member_id"]}, "members of the merged conversation")
    # A merged request cannot be merged again.
    eq(a.post(f"/desk/r/{src['number']}", fields).status, 422, "the same merge twice")
    finish(s)


# =============================================================================================
# Member text shown as typed, but safely
# =============================================================================================

INVISIBLE = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
             "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\ufeff", "\u061c", "\u180e"]


def no_invisible(text, what):
    found = sorted({f"U+{ord(ch):04X}" for ch in text if ch in INVISIBLE})
    check(not found, f"{what}: raw invisible characters in the HTML: {found}")


@test("trust: bidi and zero-width characters in name, subject, messages are shown neutralised on the desk and /r/")
def _():
    s = server("bidi")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    # "Оплата \u202e...": an override that would show the agent a reversed, different text.
    name = "Мария\u200b Иванова\u202e"
    subject = "Смена реквизитов \u202eтедом 0005\u202c\u2066 ok\u2069"
    description = "Прошу сменить реквизиты\u200d на счёт \u202e12345\u202c, и\ufeff \u2067срочно\u2069 \u061c\u180e."
    r = new_request(s, name=name, subject=subject, description=description)
    reply = "И ещё: \u202dновая карта\u202c \u200f4276\u200e."
    from desk_tests import member_reply
    member_reply(s, r["url"], reply)
    # Stored as typed.
    eq(one(s, "SELECT name FROM requests WHERE number = ?", r["number"]), name, "stored name")
    eq(one(s, "SELECT subject FROM requests WHERE number = ?", r["number"]), subject, "stored subject")
    pages = {"desk queue": a.get("/desk"), "desk view": a.get(f"/desk/r/{r['number']}"),
             "member's page": s.req(r["url"])}
    for what, p in pages.items():
        eq(p.status, 200, what)
        no_invisible(p.text, what)
        contains(p.text, "\u27e8U+202E\u27e9", what=what)
    contains(pages["desk queue"].text, "Смена реквизитов \u27e8U+202E\u27e9тедом 0005\u27e8U+202C\u27e9"
             "\u27e8U+2066\u27e9 ok\u27e8U+2069\u27e9", what="desk queue")
    contains(pages["desk view"].text, "Мария\u27e8U+200B\u27e9 Иванова\u27e8U+202E\u27e9",
             "на счёт \u27e8U+202E\u27e912345\u27e8U+202C\u27e9", "\u27e8U+061C\u27e9\u27e8U+180E\u27e9",
             "\u27e8U+202D\u27e9новая карта", what="desk view")
    contains(pages["member's page"].text, "и\u27e8U+FEFF\u27e9 \u27e8U+2067\u27e9срочно\u27e8U+2069\u27e9",
             "\u27e8U+200F\u27e94276\u27e8U+200E\u27e9", what="member's page")
    finish(s)


# =============================================================================================
# Files
# =============================================================================================


def post_files(s, files, **over):
    """POST /api/v1/requests (multipart) with files [(raw filename bytes, data, content type)]."""
    boundary = "----spravkaTrust" + os.urandom(8).hex()
    f = {"member_id": member(), "name": "Мария Иванова", "email": "maria@example.com", "country": "RU",
         "topic": "payouts", "subject": "Файлы к выплате", "description": "Прикладываю фото и скан договора к выплате."}
    f.update(over)
    out = []
    for k, v in f.items():
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode())
    for raw_name, data, ctype in files:
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"".encode()
                   + raw_name + f"\"\r\nContent-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    r = s.req("/api/v1/requests", "POST", {"Content-Type": f"multipart/form-data; boundary={boundary}"},
              b"".join(out))
    eq(r.status, 201, f"creation with files ({short(r.body)})")
    return r.json()


def file_links(agent, number):
    page = agent.get(f"/desk/r/{number}")
    eq(page.status, 200, "desk view")
    return [(fid, html.unescape(t)) for fid, t in re.findall(r'<a href="/desk/f/(\d+)">([^<]*)</a>', page.text)]


@test("trust: a download is named by the detected type: photo.html (JPEG) -> photo.jpg, scan (PDF) -> scan.pdf")
def _():
    s = server("download-names")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    j = post_files(s, [(b"photo.html", JPEG, "text/html"), (b"scan", PDF, "application/octet-stream"),
                       ("договор №5.PDF".encode(), PDF + b" ", "application/pdf")])
    links = file_links(a, j["number"])
    eq([t for _, t in links], ["photo.jpg", "scan.pdf", "договор №5.PDF"], "names on the desk")
    for (fid, want), mime in zip(links, ("image/jpeg", "application/pdf", "application/pdf")):
        r = a.get(f"/desk/f/{fid}")
        eq(r.status, 200, f"download {want}")
        eq((r.header("content-type") or "").split(";")[0], mime, "Content-Type")
        disp = r.header("content-disposition") or ""
        m = re.fullmatch(r"attachment; filename=\"([ !#$&-:<-\[\]-~]+)\"; filename\*=UTF-8''([A-Za-z0-9%._~-]+)", disp)
        check(m, f"Content-Disposition {disp!r}")
        eq(unquote(m.group(2)), want, "the UTF-8 name")
        check(m.group(1).endswith(os.path.splitext(want)[1]), f"ASCII fallback {m.group(1)!r} keeps the extension")
    eq(sql(s, "SELECT filename FROM attachments ORDER BY id"), [("photo.html",), ("scan",), ("договор №5.PDF",)],
       "stored names stay as sent")
    finish(s)


@test("trust: a file whose name has CR, LF, NUL or U+202E is kept, its name cleaned")
def _():
    s = server("dirty-names")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    names = [b"a\nb.jpg", b"a\r\nb.jpg", b"a\x00b.jpg", b"\r\n", "счёт\u202egpj.exe".encode()]
    for i, raw in enumerate(names):
        j = post_files(s, [(raw, JPEG + bytes([i]), "image/jpeg")])
        got = sql(s, "SELECT a.filename, a.size FROM attachments a JOIN requests r ON r.id = a.request_id "
                     "WHERE r.number = ?", j["number"])
        eq(len(got), 1, f"{raw!r}: the file was dropped")
        name = got[0][0]
        check(name and not any(ord(ch) < 0x20 or ch in "\u202e/\\" for ch in name), f"{raw!r} stored as {name!r}")
        eq(got[0][1], len(JPEG) + 1, f"{raw!r}: size")
        (fid, shown), = file_links(a, j["number"])
        check(shown.endswith(".jpg"), f"{raw!r}: download name {shown!r}")
        r = a.get(f"/desk/f/{fid}")
        eq(r.body, JPEG + bytes([i]), f"{raw!r}: the bytes")
        check("\r" not in (r.header("content-disposition") or "") and "\n" not in (r.header("content-disposition") or ""),
              "no line break in Content-Disposition")
    eq(sql(s, "SELECT filename FROM attachments ORDER BY id")[-1], ("счётgpj.exe",), "the RLO name")
    finish(s)


# =============================================================================================
# Hygiene: permissions, pruning
# =============================================================================================


@test("trust: the data directory is 0700 and the database files 0600, also when they were wider")
def _():
    s = server("perms")
    new_request(s)  # a write: -wal and -shm exist
    def modes():
        out = {"data": stat.S_IMODE(os.stat(s.data).st_mode)}
        for suffix in ("", "-wal", "-shm"):
            p = os.path.join(s.data, "spravka.db" + suffix)
            if os.path.exists(p):
                out["spravka.db" + suffix] = stat.S_IMODE(os.stat(p).st_mode)
        return out
    got = modes()
    if POSTGRES:  # the database is on the PostgreSQL server; the directory keeps the files
        eq(set(got), {"data"}, "database files in the data directory")
    else:
        check({"spravka.db-wal", "spravka.db-shm"} <= set(got), f"database files: {got}")
    eq(got, {k: 0o700 if k == "data" else 0o600 for k in got}, "modes after the first start")
    finish(s)
    os.chmod(s.data, 0o755)
    for name in os.listdir(s.data):
        if name.startswith("spravka.db"):
            os.chmod(os.path.join(s.data, name), 0o644)
    s.start()
    got = modes()
    eq(got, {k: 0o700 if k == "data" else 0o600 for k in got}, "modes after a start with wider ones")
    contains(s.log(), "readable by others", what="the server's note")
    finish(s)


@test("trust: search log rows older than search_log_days are pruned; expired sessions and throttle rows too")
def _():
    s = server("prune", limits={"search_log_days": "30"})
    account(s, "anna", "agent")
    Agent(s, "anna")
    s.req("/search?q=" + quote("пароль"))
    wait_for(lambda: count(s, "search_log") >= 1, 5, "the search logged")
    finish(s)
    day = 86400
    now = int(time.time())
    sql_write(s, "INSERT INTO search_log(id, at, query, results, micros) VALUES (1001, ?, 'старый', 0, 1), "
                 "(1002, ?, 'недавний', 0, 1)", now - 31 * day, now - 29 * day)
    sql_write(s, "INSERT INTO sessions(token_hash, user_id, csrf, created, expires) SELECT 'old', id, 'x', ?, ? "
                 "FROM users LIMIT 1", now - 10 * day, now - day)
    sql_write(s, "INSERT INTO throttle(key, window_start, hits) VALUES ('old-key', ?, 3), ('new-key', ?, 3)",
              now - 5 * day, now - 60)
    s.start()
    # The upkeep prunes the search log, then sessions, then throttle rows: the last one gone
    # means the pass is over.
    wait_for(lambda: count(s, "throttle", "key = 'old-key'") == 0, 8, "the old throttle row pruned")
    eq(count(s, "search_log", "query = 'старый'"), 0, "a search older than search_log_days")
    eq(count(s, "search_log", "query = 'недавний'"), 1, "a search within search_log_days")
    eq(count(s, "search_log", "query = 'пароль'"), 1, "today's search")
    eq(count(s, "sessions", "token_hash = 'old'"), 0, "an expired session")
    eq(count(s, "sessions"), 1, "the live session")
    eq(count(s, "throttle", "key = 'new-key'"), 1, "a current throttle row")
    finish(s)


# =============================================================================================
# Mail: TLS unless on loopback or tls = none
# =============================================================================================


def outside_address():
    """An address of this machine that is not on loopback (None when there is none)."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        try:
            u.connect(("192.0.2.254", 9))  # no packet is sent: only the route is looked up
            ip = u.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


@test("trust: mail to a relay off loopback without TLS fails with a clear last_error unless [mail] tls = none")
def _():
    from desk_tests import Sink
    ip = outside_address()
    check(ip, "this machine has no address off loopback to test with")
    for tls in (None, "none"):
        sink = Sink("--host", ip)
        try:
            mail = {"relay": f"smtp://{ip}:{sink.port}", "from": "desk@example.org"}
            if tls:
                mail["tls"] = tls
            s = server("mail-tls-" + (tls or "required"), mail=mail)
            if tls is None:
                check(s.wait_log(lambda t: "not on loopback" in t), "the warning at start")
            new_request(s)
            if tls is None:
                wait_for(lambda: count(s, "outbox", "attempts >= 1") == 1, 8, "a failed attempt")
                err = one(s, "SELECT last_error FROM outbox")
                contains(err, "does not offer TLS", "tls = none", what="last_error")
                eq(one(s, "SELECT status FROM outbox"), "pending", "status after the refused attempt")
                eq(sink.messages(), [], "letters that reached the relay in the clear")
            else:
                check(s.wait_log(lambda t: "without TLS" in t), "the warning at start")
                sink.wait(1)
                wait_for(lambda: one(s, "SELECT status FROM outbox") == "sent", 5, "status 'sent'")
            finish(s)
        finally:
            sink.stop()


# =============================================================================================
# "Это решило мой вопрос": the form's token, throttled
# =============================================================================================


@test("trust: /request/solved needs the form's token (403 without or forged) and is throttled per client")
def _():
    s = server("solved-token")
    page = s.req("/request")
    m = re.search(r'data-solved-token="([^"]+)"', page.text)
    check(m, "the form carries no token for its suggestions")
    token = m.group(1)
    def solved(extra):
        return s.req("/request/solved", "POST", FORM, urlencode(dict({"slug": "password-reset"}, **extra)).encode())
    issued, _, mac = token.partition(".")
    forged = [None, "", "x", "1." + mac, f"{int(issued) + 1}.{mac}", f"{issued}.{mac[:-1]}A" if mac[-1] != "A"
              else f"{issued}.{mac[:-1]}B", f"{int(time.time())}.", token + "x"]
    for bad in forged:
        r = solved({} if bad is None else {"solved_token": bad})
        eq(r.status, 403, f"token {bad!r} ({short(r.body)})")
    eq(count(s, "deflections"), 0, "deflections without a valid token")
    # Another server's token (another database, another key) is refused too.
    other = server("solved-token-other")
    foreign = re.search(r'data-solved-token="([^"]+)"', other.req("/request").text).group(1)
    finish(other)
    eq(solved({"solved_token": foreign}).status, 403, "another database's token")
    eq(solved({"solved_token": token}).status, 200, "with the form's token")
    eq(count(s, "deflections"), 1, "a deflection")
    statuses = [solved({"solved_token": token}).status for _ in range(35)]
    check(429 in statuses, f"no throttle after 36 answers: {statuses}")
    eq(statuses.index(429), 29, "the 31st answer within the hour is refused")
    eq(count(s, "deflections"), 30, "deflections recorded until the throttle")
    finish(s)
