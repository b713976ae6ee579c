"""End-to-end tests of issue #7 ("Trust"), the desk and hygiene part: merging only one member's
requests (with a confirmation step), files (names, download names, the sweep), member text
shown safely (bidi and zero-width characters), "this solved my question" with the form's token,
the data directory's permissions and the pruning of the search log.

Imported by run.py; uses the desk tests' helpers. Every test starts its own server on a fresh
data directory and reads the database read-only with sqlite3.
"""

import html
import json
import os
import re
import stat
import time
from urllib.parse import urlencode

from desk_tests import (FORM, PDF, Agent, account, audit_rows, count, finish, member, multipart, new_request,
                        one, same_db, server, snapshot, sql, sql_write, valid_html, wait_for)
from harness import Fail, check, contains, eq, lacks, short, test
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
