"""End-to-end tests of issue #7's rule for support requests: a request is read or written only
through its private link (or by an agent in the desk). A member ID, a number, an e-mail or a phone
is never enough: the duplicate answer depends on who asks, text from the duplicate screen is held
until confirmed through the link, append_to needs the link, idempotency keys are bound to their
route and input, lost links are mailed only to the contacts stored on the requests, and every
letter carries the link.

Imported by run.py; registers its tests with the shared runner. Every test starts its own server
on a fresh data directory (the throttles live in the database) and reads the database through
harness.db (either engine; the server keeps going).
"""

import html
import json
import re
import time

from harness import Server, base_config, check, contains, count, eq, finish, lacks, short, sql, test
from htmlcheck import Page, check_html
from requests_tests import PNG, multipart, rand_token, today_ru

NUMBER = re.compile(r"R-\d{4}-\d{6}")
LINK = re.compile(r"https?://[^/\s]+(/r/[A-Za-z0-9_-]{43})")
PUBLIC = "https://help.example.test"

_member = [0]


def member():
    """A member ID no other test uses (7 digits)."""
    _member[0] += 1
    return str(4700000 + _member[0])


def server(name, data=None):
    return Server("trust-" + name, base_config(server={"public_url": PUBLIC}), data=data).start()








def letters(s, after=0):
    """(id, to, subject, body) of the outbox rows after id `after`."""
    return sql(s, "SELECT id, to_addr, subject, body FROM outbox WHERE id > ? ORDER BY id", after)


def last_letter_id(s):
    return sql(s, "SELECT coalesce(max(id), 0) FROM outbox")[0][0]


def fields(**over):
    f = {"member_id": member(), "name": "Анна Смирнова", "email": "anna.smirnova@example.org",
         "phone": "+7 912 345-67-22", "country": "RU", "topic": "bank-details",
         "subject": "Смена банковских реквизитов",
         "description": "Сменила банк, нужно указать новые реквизиты для выплат с ноября."}
    f.update(over)
    return {k: v for k, v in f.items() if v is not None}


# A stranger who knows the member ID (an invite link, a sponsor's list) but not the contacts.
STRANGER = {"name": "Иван Чужой", "email": "mallory@example.net", "phone": "+7 999 000-00-01",
            "subject": "Реквизиты", "description": "Прошу сменить реквизиты для выплат на мою карту 2200 7000 0000."}


def post_json(s, obj, key=None):
    hs = {"Content-Type": "application/json"}
    if key is not None:
        hs["Idempotency-Key"] = key
    return s.req("/api/v1/requests", "POST", hs, json.dumps(obj, ensure_ascii=False).encode())


def post_form(s, path, pairs, files=()):
    body, ctype = multipart([(k, v) for k, v in pairs if v is not None], files)
    return s.req(path, "POST", {"Content-Type": ctype}, body)


def create(s, **over):
    f = fields(**over)
    r = post_json(s, f)
    eq(r.status, 201, f"creating a request ({short(r.body)})")
    return dict(f, **r.json())


def valid_html(r, what):
    problems = check_html(r.text)
    check(not problems, f"{what}: HTML problems: {problems[:3]}")


def form_of(text, action="/request"):
    m = re.search(r'<form class="request" action="%s".*?</form>' % re.escape(action), text, re.S)
    check(m, f"no form to {action}")
    return m.group(0)


def hidden(block):
    return {e["attrs"]["name"]: e["attrs"].get("value", "") for e in Page(block).find("input", type="hidden")}


def messages_of(s, number):
    return [r[0] for r in sql(s, "SELECT m.body FROM messages m JOIN requests r ON r.id = m.request_id "
                                 "WHERE r.number = ? ORDER BY m.id", number)]


def iso_today():
    return time.strftime("%Y-%m-%d", time.gmtime())


# ---- the duplicate answer depends on who asks --------------------------------------------------


@test("trust: a stranger's duplicate (API) -> 409 without existing or number; nothing written; the link "
      "is mailed to the request's own e-mail")
def _():
    s = server("dup-api")
    r1 = create(s)
    before = last_letter_id(s)
    r = post_json(s, dict(fields(member_id=r1["member_id"], topic=r1["topic"]), **STRANGER))
    eq(r.status, 409, f"status ({short(r.body)})")
    e = r.json()["error"]
    eq(sorted(e), ["code", "message"], "keys of the stranger's 409 (no existing)")
    eq(e["code"], "duplicate", "code")
    contains(e["message"], "a***@example.org", what="message")
    lacks(r.text, r1["number"], r1["url"], iso_today(), "new", "anna.smirnova", what="the stranger's 409")
    eq(messages_of(s, r1["number"]), [r1["description"]], "messages of the open request")
    eq(count(s, "requests"), 1, "requests")
    mail = letters(s, before)
    eq([m[1] for m in mail], [r1["email"]], "the re-sent link goes to the request's own address")
    contains(mail[0][3], PUBLIC + r1["url"], what="the re-sent letter")
    lacks(mail[0][3], STRANGER["description"], what="the re-sent letter")
    # Re-sends are limited (3 a day per request); the answer stays the same shape.
    for _ in range(4):
        r = post_json(s, dict(fields(member_id=r1["member_id"], topic=r1["topic"]), **STRANGER))
        eq(sorted(r.json()["error"]), ["code", "message"], "keys of a repeated stranger's 409")
    eq(len(letters(s, before)), 3, "letters after 5 duplicates from a stranger")
    # Another topic with a near-same text is found too, and says no more.
    r = post_json(s, dict(fields(member_id=r1["member_id"], topic="other", description=r1["description"]),
                          **{k: v for k, v in STRANGER.items() if k != "description"}))
    eq(r.status, 409, "near-same text on another topic")
    lacks(r.text, r1["number"], what="near-same text from a stranger")
    finish(s)


@test("trust: a stranger's duplicate (form) shows no number, status or date, and writes nothing")
def _():
    s = server("dup-form")
    r1 = create(s)
    before = last_letter_id(s)
    pairs = list(dict(fields(member_id=r1["member_id"], topic=r1["topic"]), **STRANGER).items())
    r = post_form(s, "/request", pairs + [("form_token", rand_token())])
    eq(r.status, 409, "status of the duplicate page")
    valid_html(r, "stranger's duplicate page")
    lacks(r.text, r1["number"], "Новое", today_ru(), r1["url"], "anna.smirnova", what="the stranger's page")
    contains(r.text, "a***@example.org", what="the stranger's page")
    form = form_of(r.text)
    check(Page(form).find("input", name="append_to"), "no field for the private link")
    ta = re.search(r'<textarea[^>]*name="description"[^>]*>(.*?)</textarea>', form, re.S)
    eq(html.unescape(ta.group(1)), STRANGER["description"], "the typed text is kept in the form")
    eq(messages_of(s, r1["number"]), [r1["description"]], "messages of the open request")
    eq([m[1] for m in letters(s, before)], [r1["email"]], "the re-sent link's recipient")
    # A request with only a phone: the answer says honestly that no SMS is sent.
    r2 = create(s, email=None, topic="payouts", description="Выплата за октябрь не пришла, прошло две недели.")
    before = last_letter_id(s)
    r = post_json(s, dict(fields(member_id=r2["member_id"], topic="payouts"), **STRANGER))
    eq(r.status, 409, "duplicate of a phone-only request")
    eq(sorted(r.json()["error"]), ["code", "message"], "keys")
    contains(r.json()["error"]["message"], "+7 *** ***-**-22", "SMS", what="phone-only answer")
    lacks(r.text, r2["number"], what="phone-only answer")
    eq(letters(s, before), [], "no letter for a phone-only request")
    finish(s)


@test("trust: the owner's duplicate (same e-mail in any case, or the same phone in another format) "
      "shows number, status and date")
def _():
    s = server("dup-owner")
    r1 = create(s)
    before = last_letter_id(s)
    same_mail = dict(fields(member_id=r1["member_id"], topic=r1["topic"]), email="  ANNA.Smirnova@Example.ORG ",
                     phone="+7 999 000-00-01")
    r = post_json(s, same_mail)
    eq(r.status, 409, "owner by e-mail")
    ex = r.json()["error"]["existing"]
    eq((ex["number"], ex["status"]), (r1["number"], "new"), "existing of the owner by e-mail")
    check(ex["created"].startswith(iso_today()), f"created {ex['created']}")
    same_phone = dict(fields(member_id=r1["member_id"], topic=r1["topic"]), email=None, phone="8 (912) 345-67-22")
    r = post_json(s, same_phone)
    eq(r.status, 409, "owner by phone")
    eq(r.json()["error"]["existing"]["number"], r1["number"], "existing of the owner by phone")
    r = post_form(s, "/request", list(same_phone.items()) + [("form_token", rand_token())])
    eq(r.status, 409, "owner's duplicate page")
    valid_html(r, "owner's duplicate page")
    contains(r.text, r1["number"], "Новое", today_ru(), what="owner's duplicate page")
    lacks(form_of(r.text), r1["number"], what="the append form (a number is no credential)")
    eq(letters(s, before), [], "the owner's duplicate mails nothing")
    # An empty e-mail never matches an empty one: a phone-only request and a phone-only stranger.
    r2 = create(s, email=None, topic="payouts", description="Выплата за октябрь не пришла, прошло две недели.")
    r = post_json(s, dict(fields(member_id=r2["member_id"], topic="payouts"), email=None, phone="+7 999 000-00-01"))
    eq(sorted(r.json()["error"]), ["code", "message"], "a phone-only stranger is no owner")
    finish(s)


# ---- writing into a request --------------------------------------------------------------------


@test("trust: the held addition appears as a message only after confirmation through the mailed link; "
      "never with a wrong token or without one")
def _():
    s = server("held")
    r1 = create(s)
    pairs = list(dict(fields(member_id=r1["member_id"], topic=r1["topic"]), **STRANGER).items())
    dup = post_form(s, "/request", pairs + [("form_token", rand_token())])
    eq(dup.status, 409, "duplicate")
    form = hidden(form_of(dup.text))
    before = last_letter_id(s)
    text = "Дополнение: новый банк Тинькофф, БИК 044525974, счёт 40817810000000000001."
    add = list(form.items()) + [("append_to", ""), ("description", text)]
    r = post_form(s, "/request", add, [("attachments", "счёт.png", PNG, "image/png")])
    eq(r.status, 202, f"held ({short(r.text[-300:])})")
    valid_html(r, "held page")
    contains(r.text, "ждёт подтверждения", "a***@example.org", html.escape(text, quote=False), what="held page")
    lacks(r.text, r1["number"], what="held page")
    eq(post_form(s, "/request", add, [("attachments", "счёт.png", PNG, "image/png")]).status, 202, "sent twice")
    eq(count(s, "held_additions"), 1, "held additions (a double submit holds one)")
    eq(messages_of(s, r1["number"]), [r1["description"]], "messages before the confirmation")
    mail = letters(s, before)
    eq([m[1] for m in mail], [r1["email"]], "the confirmation letter's recipient")
    # The held text is read on the private page, never mailed: a stranger must not be able to
    # send any text to the member's address in the company's name.
    lacks(mail[0][3], text, what="confirmation letter")
    contains(mail[0][3], "Добавить в обращение", what="confirmation letter")
    link = LINK.search(mail[0][3]).group(1)
    eq(link, r1["url"], "the letter carries the request's link")
    held_id = sql(s, "SELECT id FROM held_additions")[0][0]
    confirm = [("held", str(held_id)), ("held_action", "confirm")]
    # Without the link nothing confirms it: a random token, the number, the member ID.
    for wrong in (rand_token(), r1["number"], r1["member_id"]):
        r = post_form(s, f"/r/{wrong}", confirm)
        eq(r.status, 404, f"confirm through /r/{wrong}")
    r = post_form(s, "/request", list(form.items()) + [("append_to", r1["number"]), ("description", text)])
    eq(r.status, 404, "append_to with the number")
    eq(messages_of(s, r1["number"]), [r1["description"]], "messages after the wrong tokens")
    # The link's holder sees it and confirms it.
    page = s.req(link)
    contains(page.text, "Ждут вашего подтверждения", html.escape(text, quote=False), "счёт.png", what="private page")
    valid_html(page, "private page with a held addition")
    r = post_form(s, link, confirm)
    eq(r.status, 303, f"confirm ({short(r.body)})")
    eq(messages_of(s, r1["number"]), [r1["description"], text], "messages after the confirmation")
    eq(count(s, "attachments"), 1, "the held file became an attachment")
    eq(count(s, "held_additions"), 0, "held additions after the confirmation")
    eq(post_form(s, link, confirm).status, 422, "confirmed twice")
    page = s.req(link).text
    lacks(page, "Ждут вашего подтверждения", what="private page after the confirmation")
    contains(page, "счёт.png", what="private page after the confirmation")
    # A discarded one never becomes a message.
    other = "Ещё одно дополнение, которое владелец отклонит."
    r = post_form(s, "/request", list(hidden(form_of(dup.text)).items()) + [("description", other)])
    eq(r.status, 422, "the same form token with another text (bound to its first input)")
    r = post_form(s, "/request", list(dict(hidden(form_of(dup.text)), form_token=rand_token()).items())
                  + [("description", other)])
    eq(r.status, 202, "second hold")
    held_id = sql(s, "SELECT id FROM held_additions")[0][0]
    eq(post_form(s, link, [("held", str(held_id)), ("held_action", "discard")]).status, 303, "discard")
    eq(len(messages_of(s, r1["number"])), 2, "messages after the discard")
    eq(count(s, "held_additions"), 0, "held additions after the discard")
    finish(s)


@test("trust: append_to with only a member ID and a number writes nothing; wrong links are throttled like /r/")
def _():
    s = server("append")
    r1 = create(s)
    base = [(k, v) for k, v in fields(member_id=r1["member_id"], topic=r1["topic"]).items() if k != "description"]
    text = "Чужой текст: прошу сменить реквизиты на карту 2200 7000 0000 0001."
    for wrong in (r1["number"], f"/r/{r1['number']}", f"{PUBLIC}/r/{r1['number']}", r1["member_id"],
                  rand_token(), r1["url"][3:-1] + ("A" if r1["url"][-1] != "A" else "B")):
        r = post_form(s, "/request", base + [("append_to", wrong), ("description", text), ("form_token", rand_token())])
        eq(r.status, 404, f"append_to={wrong!r}")
        lacks(r.text, "Добавлено", r1["number"], what=f"answer to append_to={wrong!r}")
        contains(r.text, html.escape(text, quote=False), what="the text kept in the form")
    r = post_form(s, "/request", base + [("append_to", r1["number"]), ("description", text)],
                  [("attachments", "скан.png", PNG, "image/png")])
    eq(r.status, 404, "append_to with the number and a file")
    valid_html(r, "the append form again")
    contains(r.text, "файлы нужно выбрать заново", what="the append form again")
    lacks(r.text, "&lt;p&gt;", what="the append form again")
    eq(messages_of(s, r1["number"]), [r1["description"]], "messages")
    eq(count(s, "held_additions"), 0, "nothing held either")
    eq(count(s, "attachments"), 0, "no attachment")
    # The misses count with those of /r/ (30 an hour per client): then a wrong link gets 429 and
    # writes nothing, while the right link still works, as on /r/.
    for i in range(30 - 7):
        eq(s.req(f"/r/{rand_token()}").status, 404, f"wrong /r/ #{i}")
    r = post_form(s, "/request", base + [("append_to", rand_token()), ("description", text)])
    eq(r.status, 429, "a wrong append_to after 30 misses")
    contains(r.text, html.escape(text, quote=False), what="the text kept in the 429 form")
    eq(messages_of(s, r1["number"]), [r1["description"]], "messages after the throttled append")
    own = "Дополняю: выписка из банка приложена к обращению, проверьте, пожалуйста."
    r = post_form(s, "/request", base + [("append_to", PUBLIC + r1["url"]), ("description", own),
                                         ("form_token", rand_token())])
    eq(r.status, 200, "the right link from the throttled client")
    eq(messages_of(s, r1["number"]), [r1["description"], own], "messages after the right link")
    finish(s)


@test("trust: append_to with the private link adds to that request at once")
def _():
    s = server("append-ok")
    r1 = create(s)
    base = [(k, v) for k, v in fields(member_id=r1["member_id"], topic=r1["topic"]).items() if k != "description"]
    text = "Дополнение от владельца ссылки: выписка приложена."
    r = post_form(s, "/request", base + [("append_to", PUBLIC + r1["url"]), ("description", text),
                                         ("form_token", rand_token())])
    eq(r.status, 200, f"append with the link ({short(r.text[-300:])})")
    contains(r.text, "Добавлено в обращение", r1["number"], what="answer")
    eq(messages_of(s, r1["number"]), [r1["description"], text], "messages")
    finish(s)


# ---- idempotency keys ---------------------------------------------------------------------------


@test("trust: a replayed Idempotency-Key with another body -> 422 idempotency_mismatch and no link; "
      "the same body replays (as JSON or as a form)")
def _():
    s = server("idem")
    f = fields()
    first = post_json(s, f, key="order-1")
    eq(first.status, 201, "first")
    j = first.json()
    again = post_json(s, f, key="order-1")
    eq((again.status, again.body), (201, first.body), "same key, same body")
    # The digest is over the fields, not the encoding: the same fields as multipart replay too.
    body, ctype = multipart(list(f.items()))
    r = s.req("/api/v1/requests", "POST", {"Content-Type": ctype, "Idempotency-Key": "order-1"}, body)
    eq((r.status, r.body), (201, first.body), "same key, same fields as multipart")
    # Someone else replaying the key (a counter, a timestamp) with their own body learns nothing.
    for other in (dict(f, description="Совсем другой текст обращения под тем же ключом."),
                  fields(), dict(f, email=None), {}):
        r = post_json(s, other, key="order-1")
        eq(r.status, 422, f"status for another body {sorted(other)}")
        e = r.json()["error"]
        eq(e["code"], "idempotency_mismatch", "code")
        check(re.search("[а-яА-Я]", e["message"]), f"message not Russian: {e['message']!r}")
        lacks(r.text, j["number"], j["url"], "/r/", what="the mismatch answer")
    eq(count(s, "requests"), 1, "requests")
    # The form token gets the same binding.
    tok = rand_token()
    g = fields()
    r = post_form(s, "/request", list(g.items()) + [("form_token", tok)])
    eq(r.status, 200, "form")
    link = re.search(r'/r/[A-Za-z0-9_-]{43}', r.text).group(0)
    number = NUMBER.search(Page(r.text).texts("h1")[0]).group(0)
    r = post_form(s, "/request", list(fields().items()) + [("form_token", tok)])
    eq(r.status, 422, "the same form token with another body")
    lacks(r.text, link, number, what="the form mismatch page")
    r = post_form(s, "/request", list(g.items()) + [("form_token", tok)])
    eq((r.status, link in r.text), (200, True), "the same form token with the same body")
    # A reply form's token is bound to its request: replayed on another request it adds nothing.
    a, b = create(s), create(s)
    page = s.req(a["url"]).text
    rtok = hidden(form_of(page, a["url"]))["form_token"]
    eq(post_form(s, a["url"], [("message", "Ответ в своё обращение"), ("form_token", rtok)]).status, 303, "reply")
    r = post_form(s, b["url"], [("message", "Ответ в своё обращение"), ("form_token", rtok)])
    eq(r.status, 422, "the reply token on another request")
    eq(messages_of(s, b["number"]), [b["description"]], "messages of the other request")
    finish(s)


@test("trust: an Idempotency-Key older than 24 h is not replayed and is pruned")
def _():
    s = server("idem-expiry")
    f = fields()
    eq(post_json(s, f, key="old-key").status, 201, "first")
    eq(post_json(s, fields(), key="pruned-key").status, 201, "second")
    eq(sql(s, "SELECT route FROM idempotency WHERE key = 'api:old-key'"), [("POST /api/v1/requests",)],
       "the key records its route")
    sql(s, "UPDATE idempotency SET created = created - 24 * 3600 - 5")
    # Expired: another body under the key is a new request, not a mismatch nor a replay.
    r = post_json(s, fields(), key="old-key")
    eq(r.status, 201, f"an expired key with another body ({short(r.body)})")
    eq(count(s, "requests"), 3, "requests")
    eq(count(s, "idempotency", "key = 'api:old-key'"), 1, "the key answers the new request now")
    # The maintenance thread prunes at start and once a minute: restart and watch the row go.
    s.stop()
    s2 = server("idem-expiry-2", data=s.data)
    deadline = time.monotonic() + 5
    while count(s2, "idempotency", "key = 'api:pruned-key'") and time.monotonic() < deadline:
        time.sleep(0.1)
    eq(count(s2, "idempotency", "key = 'api:pruned-key'"), 0, "the expired key after the prune")
    eq(count(s2, "idempotency", "key = 'api:old-key'"), 1, "a fresh key is kept")
    finish(s2)


# ---- lost links ---------------------------------------------------------------------------------


@test("trust: «Потеряли ссылку?» gives the same page for known and unknown member IDs and mails the "
      "links only to the stored contacts")
def _():
    s = server("lost")
    contains(s.req("/request").text, 'href="/request/lost"', what="/request")
    miss = s.req(f"/r/{rand_token()}")
    eq(miss.status, 404, "a wrong link")
    contains(miss.text, 'href="/request/lost"', "Потеряли ссылку?", what="the 404 of /r/")
    form = s.req("/request/lost")
    eq(form.status, 200, "GET /request/lost")
    valid_html(form, "lost-link form")
    check(Page(form.text).find("input", name="member_id"), "no member_id field")
    m = member()
    a = create(s, member_id=m, email="first@example.org")
    b = create(s, member_id=m, email="second@example.org", topic="payouts",
               description="Выплата за октябрь не пришла, прошло две недели.")
    c = create(s, member_id=m, email=None, topic="order", description="Заказ 5512 пришёл без одной коробки.")
    other = create(s)  # another member's request is never in these letters
    before = last_letter_id(s)
    known = s.req("/request/lost", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                  f"member_id={m}".encode())
    unknown = s.req("/request/lost", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                    f"member_id={member()}".encode())
    eq((known.status, unknown.status), (200, 200), "statuses")
    valid_html(known, "lost-link answer")
    eq(known.body, unknown.body, "the answer for a known and an unknown member ID")
    mail = letters(s, before)
    eq(sorted(x[1] for x in mail), ["first@example.org", "second@example.org"], "recipients")
    for x in mail:
        own, foreign = (a, b) if x[1] == "first@example.org" else (b, a)
        contains(x[3], PUBLIC + own["url"], own["number"], what=f"letter to {x[1]}")
        lacks(x[3], foreign["url"], c["url"], other["url"], what=f"letter to {x[1]}")
    # Per member ID: 3 a day, then the same page and no letter.
    for _ in range(2):
        s.req("/request/lost", "POST", {"Content-Type": "application/x-www-form-urlencoded"}, f"member_id={m}".encode())
    n = len(letters(s, before))
    again = s.req("/request/lost", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                  f"member_id={m}".encode())
    eq((again.status, again.body), (200, known.body), "the 4th request of a day")
    eq(len(letters(s, before)), n, "letters after the 4th request")
    bad = s.req("/request/lost", "POST", {"Content-Type": "application/x-www-form-urlencoded"}, b"member_id=12ab")
    eq(bad.status, 422, "an invalid member ID")
    # Per client: 10 an hour.
    statuses = [s.req("/request/lost", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                      f"member_id={member()}".encode()).status for _ in range(6)]
    eq(statuses[-1], 429, f"statuses after 10 from one client: {statuses}")
    finish(s)


@test("trust: the success page shows the whole private link as text to copy, with a copy button (copy.js)")
def _():
    s = server("success")
    f = fields()
    tok = rand_token()
    r = post_form(s, "/request", list(f.items()) + [("form_token", tok)])
    eq(r.status, 200, "created")
    valid_html(r, "success page")
    box = re.search(r'<div class="copy-link">.*?</div>', r.text, re.S)
    check(box, "no copy-link block")
    field = Page(box.group(0)).find("input", id="private-link")
    check(field and "readonly" in field[0]["attrs"], "no read-only field with the link")
    url = field[0]["attrs"]["value"]
    m = re.fullmatch(re.escape(PUBLIC) + r"(/r/[A-Za-z0-9_-]{43})", url)
    check(m, f"the link to copy is not absolute with public_url: {url!r}")
    eq(s.req(m.group(1)).status, 200, "the copied link opens the request")
    check(Page(box.group(0)).find("button", type="button"), "no copy button")
    contains(r.text, '<script src="/static/copy.js?v=', what="success page")
    js = s.req("/static/copy.js")
    eq(js.status, 200, "copy.js")
    contains(js.header("content-type") or "", "javascript", what="copy.js type")
    contains(js.text, "clipboard", what="copy.js")
    again = post_form(s, "/request", list(f.items()) + [("form_token", tok)])
    contains(again.text, f'value="{url}"', what="the replayed success page")
    finish(s)


@test("trust: letters from agent replies and status changes carry the member's link")
def _():
    import desk_tests
    s = server("letters")
    desk_tests.account(s, "anna", "agent")
    agent = desk_tests.Agent(s, "anna")
    r1 = create(s)
    before = last_letter_id(s)
    agent.act(r1["number"], action="reply", text="Реквизиты обновлены, выплата придёт на новую карту.")
    agent.act(r1["number"], action="status", status="resolved")
    mail = letters(s, before)
    eq(len(mail), 2, "letters")
    for x in mail:
        eq(x[1], r1["email"], "recipient")
        contains(x[3], PUBLIC + r1["url"], what=f"letter «{x[2]}»")
    finish(s)


@test("trust: browser: the copy button appears with JavaScript and selects and copies the whole link (chromium)")
def _():
    from browser import Browser, BrowserError
    from harness import Fail
    # No public_url here: with one set, the forms accept posts only from that origin, and the
    # browser posts from 127.0.0.1.
    s = Server("trust-copy-browser", base_config()).start()
    b = None
    try:
        b = Browser()
        b.open(f"http://127.0.0.1:{s.port}/request")
        f = fields()
        for k, v in f.items():
            b.js(f"document.querySelector('[name={k}]').value = {json.dumps(v)}, true")
        b.js("document.querySelector('form.request').submit(), true")
        b.wait_for("document.getElementById('private-link') !== null", timeout=10)
        url = b.js("document.getElementById('private-link').value")
        check(re.fullmatch(r"https?://[^/]+/r/[A-Za-z0-9_-]{43}", url or ""), f"link {url!r}")
        b.wait_for("!document.querySelector('.copy-link button.copy').hidden")
        b.js("document.querySelector('.copy-link button.copy').click(), true")
        b.wait_for("document.querySelector('.copy-link button.copy').textContent !== 'Скопировать'")
        sel = b.js("(() => { const i = document.getElementById('private-link');"
                   " return [document.activeElement === i, i.selectionStart, i.selectionEnd]; })()")
        eq(sel, [True, 0, len(url)], "the whole link is selected")
    except BrowserError as e:
        raise Fail(str(e))
    finally:
        if b:
            b.close()
    finish(s)


@test("trust: a form shown again after an error gives back invisible characters exactly as typed")
def _():
    # Pages show bidi and zero-width characters as visible marks; a form's own values must not:
    # sending the form again would store the marks instead of what the member typed.
    s = server("typed-back")
    name = "Анна \u202eСмирнова"
    desc = "Семья 👨\u200d👩\u200d👧 — нужно сменить реквизиты\u200b для выплат с ноября."
    r = post_form(s, "/request", list(fields(name=name, email="not-an-email", description=desc).items()))
    eq(r.status, 422, "an invalid e-mail")
    contains(r.text, f'value="{name}"', f">{desc}</textarea>", what="the form shown again")
    lacks(r.text, "\u27e8U+202E\u27e9", "\u27e8U+200D\u27e9", what="the form shown again")
    finish(s)
