"""End-to-end tests of issue #10's editing workspace, second part: the article fields ("what to
prepare", review by, owner, related) through the desk form, the API and import/export; per-country
variants added, edited and removed; review sent back with a comment; archive and rename from the
desk; the line diff of two revisions; the live preview's endpoint; stale content.

Imported by run.py; runs on both engines.
"""

import json
import os
import re
import shutil
from html import unescape

from desk_tests import Agent, account, server, valid_html
from editors_tests import form_fields, post_action, post_json, put_article, revisions, token_add
from harness import check, contains, eq, lacks, new_dir, spravka, test, wait_for

EDITOR_FORM = r'<form class="request editor".*?</form>'


def edit_form(agent, slug, query=""):
    r = agent.get(f"/desk/articles/{slug}/edit{query}")
    eq(r.status, 200, f"the edit form of {slug}{query}")
    valid_html(r, "the edit form")
    f = form_fields(r.text, EDITOR_FORM)
    f.pop("csrf", None)
    return f, r


def save(agent, slug, fields, want=303, what="save"):
    r = agent.post(f"/desk/articles/{slug}/edit", dict(fields, do="save"))
    eq(r.status, want, f"{what}: {r.text[:300] if r.status != want else ''}")
    return r


def publish(agent, slug, want=303):
    r = agent.post(f"/desk/articles/{slug}", {"do": "publish"})
    eq(r.status, want, f"publish {slug}: {r.text[:300] if r.status != want else ''}")
    return r


def field_error(r, field):
    """The error message shown under a field of a refused form."""
    m = re.search(rf'<p class="error" id="f-{field}-error">(.*?)</p>', r.text, re.S)
    return unescape(m.group(1)) if m else None


@test("workspace: what to prepare, review by, owner and related go through the desk form, the API and "
      "import/export; the portal shows the checklist before the steps; bad values 422 with the text kept")
def _():
    s = server("ws-fields")
    account(s, "olga", "editor")
    olga = Agent(s, "olga", role_page="/desk/articles")
    t = token_add(s, "olga")
    f, _ = edit_form(olga, "password-reset")
    for k in ("prepare", "review_by", "owner", "related"):
        check(k in f, f"the form has {k}: {sorted(f)}")
    edit = dict(f, prepare="- Логин или телефон\nДоступ к почте <b>жирно</b>\n\n", review_by="2030-01-31",
                owner="olga", related="account-blocked", message="поля")
    # Bad values: 422, every typed value kept, a message per field.
    for field, value, message in (("review_by", "31.01.2030", "ГГГГ-ММ-ДД"),
                                  ("owner", "nobody", "Нет такого редактора"),
                                  ("related", "account-blocked, no-such-article", "no-such-article"),
                                  ("prepare", "\n".join(f"пункт {i}" for i in range(21)), "Не больше 20")):
        r = save(olga, "password-reset", dict(edit, **{field: value}), 422, f"a bad {field}")
        contains(field_error(r, field) or "", message, what=f"the error of {field}")
        kept = form_fields(r.text, EDITOR_FORM)
        eq(kept[field], value, f"{field} kept")
        eq(kept["body"], f["body"], "the body kept")
    save(olga, "password-reset", edit)
    f2, _ = edit_form(olga, "password-reset")
    eq((f2["prepare"], f2["review_by"], f2["owner"], f2["related"]),
       ("Логин или телефон\nДоступ к почте <b>жирно</b>", "2030-01-31", "olga", "account-blocked"),
       "the draft's fields in the form again")
    publish(olga, "password-reset")
    page = wait_for(lambda: (p := s.req("/a/password-reset")).status == 200 and "Что подготовить" in p.text and p,
                    5, "the checklist on the portal")
    valid_html(page, "the article with its checklist")
    contains(page.text, "<li>Логин или телефон</li>", "<li>Доступ к почте &lt;b&gt;жирно&lt;/b&gt;</li>",
             what="the checklist")
    check(page.text.index("Что подготовить") < page.text.index('<div class="body">'),
          "the checklist comes before the steps")
    # The API: prepare as an array or as lines; its fields checked the same way.
    art = {"title": "Что взять в пункт выдачи", "section": "orders", "body": "1. Придите.\n",
           "prepare": ["Паспорт", "Номер заказа"], "review_by": "2031-02-01", "owner": "olga",
           "related": ["password-reset"]}
    r = put_article(s, t, "pickup-checklist", art)
    eq(r.status, 200, f"PUT with the new fields: {r.text[:300]}")
    eq(post_action(s, t, "pickup-checklist", "publish").status, 200, "published")
    page = wait_for(lambda: (p := s.req("/a/pickup-checklist")).status == 200 and p, 5, "the API's article")
    contains(page.text, "<li>Паспорт</li>", "<li>Номер заказа</li>", what="the API's checklist")
    eq(s.req("/api/v1/articles/pickup-checklist").json()["prepare"], ["Паспорт", "Номер заказа"],
       "the public API's prepare")
    r = put_article(s, t, "pickup-checklist", dict(art, prepare="Паспорт\nЧек", message="строки"))
    eq(r.status, 200, "prepare as lines")
    r = put_article(s, t, "pickup-checklist", dict(art, prepare=[1], review_by="завтра", owner="nobody",
                                                   related="no-such-article"))
    eq(r.status, 422, "bad fields through the API")
    eq(sorted(r.json()["error"]["fields"]), ["owner", "prepare", "related", "review_by"], "the fields refused")
    # Export writes them; an import of an edited export brings new ones to the portal.
    out = new_dir("ws-export")
    rc, _, err = spravka("export", out, "--data", s.data)
    eq(rc, 0, f"export: {err}")
    with open(os.path.join(out, "password-reset.md"), encoding="utf-8") as fh:
        text = fh.read()
    contains(text, "prepare:\n  - Логин или телефон\n  - Доступ к почте <b>жирно</b>\nreview_by: 2030-01-31\n"
             "owner: olga\n", what="the exported front matter")
    with open(os.path.join(out, "pickup-checklist.md"), encoding="utf-8") as fh:
        text = fh.read()
    with open(os.path.join(out, "pickup-checklist.md"), "w", encoding="utf-8") as fh:
        fh.write(text.replace("  - Паспорт\n", "  - Паспорт\n  - Квитанция об оплате\n"))
    rc, _, err = spravka("import", out, "--data", s.data)
    eq(rc, 0, f"import: {err}")
    wait_for(lambda: "<li>Квитанция об оплате</li>" in s.req("/a/pickup-checklist").text, 5,
             "the imported checklist on the portal")
    shutil.rmtree(out, ignore_errors=True)
    s.stop()


@test("workspace: an article's texts per country in the desk: add a variant from the general text, edit and "
      "publish it, remove it (a revision, history kept); a duplicate or unknown country 422 in the desk and the API")
def _():
    s = server("ws-variants")
    account(s, "olga", "editor")
    olga = Agent(s, "olga", role_page="/desk/articles")
    t = token_add(s, "olga")
    page = olga.get("/desk/articles/payout-setup")
    eq(page.status, 200, "the article's page")
    valid_html(page, "the article's page with its texts")
    contains(page.text, "<h2>Тексты</h2>", "Общий текст (все страны)", "KZ — Казахстан", "DE — Германия",
             "Добавить вариант", what="the texts")
    # Add BY from the general text.
    f, r = edit_form(olga, "payout-setup", "?country=BY&new=1")
    contains(r.text, 'name="new_variant" value="1"', what="the new variant's form")
    general, _ = edit_form(olga, "payout-setup")
    eq((f["country"], f["body"], f["title"]), ("BY", general["body"], general["title"]),
       "the new variant starts from the general text")
    save(olga, "payout-setup", dict(f, title="Выплаты в Беларуси", body="Текст для Беларуси: шаги.\n",
                                    message="вариант BY"))
    publish(olga, "payout-setup")
    wait_for(lambda: "Текст для Беларуси" in s.req("/a/payout-setup?country=BY").text, 5, "the BY variant live")
    # Edit it.
    f, _ = edit_form(olga, "payout-setup", "?country=BY")
    eq(f["title"], "Выплаты в Беларуси", "the variant's form")
    save(olga, "payout-setup", dict(f, body="Текст для Беларуси: новые шаги.\n"))
    publish(olga, "payout-setup")
    wait_for(lambda: "новые шаги" in s.req("/a/payout-setup?country=BY").text, 5, "the edited variant live")
    # A second KZ variant, an unknown country, a country twice: 422, text kept.
    f, _ = edit_form(olga, "payout-setup", "?country=KZ&new=1")
    r = save(olga, "payout-setup", dict(f, body="Мой второй текст для KZ.\n"), 422, "a second KZ variant")
    contains(field_error(r, "country") or "", "уже есть вариант", what="the duplicate's message")
    eq(form_fields(r.text, EDITOR_FORM)["body"], "Мой второй текст для KZ.\n", "the text kept")
    g, _ = edit_form(olga, "payout-setup")
    r = olga.post("/desk/articles/payout-setup/edit", dict(g, country="XX", body="Текст XX.\n", do="save"))
    eq(r.status, 422, "an unknown country in the desk")
    contains(field_error(r, "country") or "", "Такой страны нет", what="the unknown country's message")
    contains(r.text, "Текст XX.", what="the refused form")
    r = save(olga, "payout-setup", dict(g, countries="RU, KZ, RU"), 422, "a country twice in the desk")
    contains(field_error(r, "countries") or "", "RU указана дважды", what="the duplicate country")
    base = {"title": "Выплаты", "section": "payouts", "body": "Текст.\n"}
    r = put_article(s, t, "payout-setup", dict(base, country="XX"))
    eq(r.status, 422, "an unknown country through the API")
    contains(r.json()["error"]["fields"]["country"], "Такой страны нет", what="the API's message")
    r = put_article(s, t, "payout-setup", dict(base, countries=["RU", "KZ", "RU"]))
    eq(r.status, 422, "a country twice through the API")
    contains(r.json()["error"]["fields"]["countries"], "RU указана дважды", what="the API's message")
    r = put_article(s, t, "payout-setup", dict(base, country="KZ", countries="KZ"))
    eq(r.status, 422, "a variant with a countries list through the API")
    # Remove BY: a draft, then published; the BY reader gets the general text again, history kept.
    r = olga.post("/desk/articles/payout-setup", {"do": "remove_variant", "country": "BY"})
    eq((r.status, r.header("location")), (303, "/desk/articles/payout-setup?done=removal"), "remove BY")
    contains(s.req("/a/payout-setup?country=BY").text, "новые шаги", what="live until published")
    publish(olga, "payout-setup")
    wait_for(lambda: "новые шаги" not in s.req("/a/payout-setup?country=BY").text, 5, "the BY variant gone")
    hist = olga.get("/desk/articles/payout-setup").text
    contains(hist, "удаление варианта: опубликована", "вариант удалён", "добавить снова", what="the history")
    eq(olga.post("/desk/articles/payout-setup", {"do": "remove_variant", "country": "BY"}).status, 404,
       "removing it again")
    revs = revisions(s, t, "payout-setup")
    check(revs[0].get("removed") is True and revs[0]["country"] == "BY", f"the API's history: {revs[0]}")
    check(any(x["country"] == "BY" and x["status"] == "superseded" for x in revs), "the removed text is kept")
    s.stop()


@test("workspace: review: an editor submits, cannot approve nor send back their own revision; another editor "
      "sends it back with a comment (escaped, in the history and on the author's list), then approves; the API's "
      "reject")
def _():
    s = server("ws-review", editors={"require_review": "1"})
    account(s, "olga", "editor")
    account(s, "petr", "editor")
    olga = Agent(s, "olga", role_page="/desk/articles")
    petr = Agent(s, "petr", role_page="/desk/articles")
    f, _ = edit_form(olga, "password-reset")
    save(olga, "password-reset", dict(f, title="Пароль: правка на проверку", message="на проверку"))
    eq(olga.post("/desk/articles/password-reset", {"do": "submit"}).status, 303, "submitted")
    publish(olga, "password-reset", 409)
    r = olga.post("/desk/articles/password-reset", {"do": "reject", "comment": "сам себе"})
    eq(r.status, 409, "the author sending back their own")
    page = petr.get("/desk/articles/password-reset")
    contains(page.text, "Вернуть на доработку", what="the reviewer's page")
    valid_html(page, "the page with the review form")
    r = petr.post("/desk/articles/password-reset", {"do": "reject", "comment": "   "})
    eq(r.status, 422, "sending back without a comment")
    contains(r.text, "Напишите, что исправить", 'aria-invalid="true"', what="the refused form")
    comment = "Добавьте шаг про SMS <script>alert(1)</script>"
    r = petr.post("/desk/articles/password-reset", {"do": "reject", "comment": comment})
    eq((r.status, r.header("location")), (303, "/desk/articles/password-reset?done=returned"), "sent back")
    escaped = "Добавьте шаг про SMS &lt;script&gt;alert(1)&lt;/script&gt;"
    home = olga.get("/desk/articles")
    contains(home.text, "Вернули на доработку", escaped, what="the author's list")
    lacks(home.text, "<script>alert", what="the author's list")
    hist = olga.get("/desk/articles/password-reset")
    contains(hist.text, f"Возвращена на доработку (petr): {escaped}", what="the history")
    valid_html(hist, "the history with a comment")
    publish(petr, "password-reset", 409)  # a draft again: submitted first
    eq(olga.post("/desk/articles/password-reset", {"do": "submit"}).status, 303, "submitted again")
    publish(petr, "password-reset")
    wait_for(lambda: "Пароль: правка на проверку" in s.req("/a/password-reset").text, 5, "approved and live")
    r = publish(petr, "password-reset", 409)  # nothing left: the draft sent back was the one approved
    contains(r.text, "нет черновика", what="publish with nothing pending")
    # The API.
    to, tp = token_add(s, "olga"), token_add(s, "petr")
    eq(post_json(s, tp, "account-blocked", "reject", {"comment": "x"}).status, 404, "nothing in review")
    art = {"title": "Аккаунт заблокирован: правка", "section": "account", "body": "Шаги.\n"}
    eq(put_article(s, to, "account-blocked", art).status, 200, "a draft")
    eq(post_action(s, to, "account-blocked", "submit").status, 200, "submitted")
    r = post_json(s, to, "account-blocked", "reject", {"comment": "сам"})
    eq((r.status, r.json()["error"]["code"]), (409, "own_revision"), "the author's reject")
    r = post_json(s, tp, "account-blocked", "reject", {})
    eq((r.status, list(r.json()["error"]["fields"])), (422, ["comment"]), "no comment")
    r = post_json(s, tp, "account-blocked", "reject", {"comment": "Уточните сроки"})
    eq(r.status, 200, f"reject: {r.text[:200]}")
    n = r.json()["revision"]
    eq(r.json(), {"revision": n, "status": "draft"}, "reject's answer")
    top = revisions(s, to, "account-blocked")[0]
    eq((top["revision"], top["status"], top.get("comment"), top.get("reviewer")),
       (n, "draft", "Уточните сроки", "petr"), "the revision sent back")
    # The author answers with a new draft; once it is published, the draft sent back is overtaken:
    # a second publish finds nothing (it must never bring the rejected text back).
    eq(put_article(s, to, "account-blocked", dict(art, body="Шаги со сроками.\n")).json()["revision"], n + 1,
       "the new draft")
    eq(post_action(s, to, "account-blocked", "submit").json(), {"revision": n + 1, "status": "review"}, "submitted")
    eq(post_action(s, tp, "account-blocked", "publish").json(), {"revision": n + 1, "status": "published"},
       "approved")
    eq(post_action(s, tp, "account-blocked", "publish").status, 404, "nothing pending after it")
    eq([(x["revision"], x["status"]) for x in revisions(s, to, "account-blocked")[:2]],
       [(n + 1, "published"), (n, "superseded")], "the draft sent back, overtaken")
    wait_for(lambda: "Шаги со сроками" in s.req("/a/account-blocked").text, 5, "the approved text live")
    s.stop()


@test("workspace: archive and rename from the desk with a confirmation form: a bad replacement 422 and a taken "
      "slug 409 explained with the value kept; then 301/410 on the portal")
def _():
    s = server("ws-move")
    account(s, "olga", "editor")
    olga = Agent(s, "olga", role_page="/desk/articles")
    page = olga.get("/desk/articles/change-contacts")
    contains(page.text, 'href="/desk/articles/change-contacts/archive"',
             'href="/desk/articles/change-contacts/rename"', what="the article's links")
    form = olga.get("/desk/articles/change-contacts/archive")
    eq(form.status, 200, "the archive confirmation")
    valid_html(form, "the archive confirmation")
    contains(form.text, 'name="replacement"', "Снять с портала", what="the confirmation")
    r = olga.post("/desk/articles/change-contacts/archive", {"replacement": "no-such-article", "message": "устарела"})
    eq(r.status, 422, "a replacement that does not exist")
    contains(r.text, "Статьи «no-such-article» нет на портале", 'value="no-such-article"', 'value="устарела"',
             what="the refused form")
    r = olga.post("/desk/articles/change-contacts/archive", {"replacement": "Bad Slug"})
    eq(r.status, 422, "a malformed replacement")
    eq(s.req("/a/change-contacts").status, 200, "nothing archived yet")
    r = olga.post("/desk/articles/change-contacts/archive", {"replacement": "account-settings", "message": "x"})
    eq((r.status, r.header("location")), (303, "/desk/articles/change-contacts?done=archived"), "archived")
    r = wait_for(lambda: (p := s.req("/a/change-contacts")).status == 301 and p, 5, "301 to the replacement")
    eq(r.header("location"), "/a/account-settings", "Location")
    r = olga.post("/desk/articles/glossary/archive", {"replacement": ""})
    eq(r.status, 303, "archived without a replacement")
    wait_for(lambda: s.req("/a/glossary").status == 410, 5, "410")
    contains(olga.get("/desk/articles/glossary?done=archived").text, "снята с портала", what="the notice")
    # Rename.
    form = olga.get("/desk/articles/account-blocked/rename")
    eq(form.status, 200, "the rename form")
    valid_html(form, "the rename form")
    r = olga.post("/desk/articles/account-blocked/rename", {"slug": "password-reset"})
    eq(r.status, 409, "a taken slug")
    contains(r.text, "Адрес «password-reset» уже занят", 'value="password-reset"', 'aria-invalid="true"',
             what="the explanation")
    r = olga.post("/desk/articles/account-blocked/rename", {"slug": "Новый адрес"})
    eq(r.status, 422, "a malformed slug")
    r = olga.post("/desk/articles/account-blocked/rename", {"slug": "blocked-account"})
    eq((r.status, r.header("location")), (303, "/desk/articles/blocked-account?done=renamed"), "renamed")
    r = wait_for(lambda: (p := s.req("/a/account-blocked")).status == 301 and p, 5, "the old address")
    eq(r.header("location"), "/a/blocked-account", "Location")
    eq(s.req("/a/blocked-account").status, 200, "the new address")
    contains(olga.get("/desk/articles/blocked-account?done=renamed").text, "прежний адрес ведёт на новый", what="the notice")
    s.stop()


@test("workspace: the diff of two revisions: changed fields and inserted/deleted lines, escaped (<script> in a "
      "line); linked from the history; bad numbers refused; over 5,000 lines a message")
def _():
    s = server("ws-diff")
    account(s, "olga", "editor")
    olga = Agent(s, "olga", role_page="/desk/articles")
    t = token_add(s, "olga")
    lines = [f"Строка {i}." for i in range(1, 31)]
    art = {"title": "Статья для сравнения", "section": "orders", "body": "\n".join(lines) + "\n"}
    eq(put_article(s, t, "diff-me", art).status, 200, "revision 1")
    changed = list(lines)
    changed[9] = "<script>alert(1)</script>"
    del changed[19]
    changed.insert(25, "Новая строка & ещё одна.")
    eq(put_article(s, t, "diff-me", dict(art, title="Статья: вторая редакция", body="\n".join(changed) + "\n"))
       .status, 200, "revision 2")
    hist = olga.get("/desk/articles/diff-me")
    contains(hist.text, 'href="/desk/articles/diff-me/diff?from=1&amp;to=2"', 'action="/desk/articles/diff-me/diff"',
             what="the history's links")
    r = olga.get("/desk/articles/diff-me/diff?from=1&to=2")
    eq(r.status, 200, "the diff")
    valid_html(r, "the diff page")
    contains(r.text, "<del>- Строка 10.</del>", "<ins>+ &lt;script&gt;alert(1)&lt;/script&gt;</ins>",
             "<del>- Строка 20.</del>", "<ins>+ Новая строка &amp; ещё одна.</ins>", "<span>  Строка 9.</span>",
             "<del>Статья для сравнения</del>", "<ins>Статья: вторая редакция</ins>", what="the diff")
    lacks(r.text, "<script>alert", "Строка 1.</span>", what="the diff (escaped; far context folded)")
    contains(r.text, "без изменений", what="the folded lines")
    r = olga.get("/desk/articles/diff-me/diff?from=2&to=1")
    contains(r.text, "<ins>+ Строка 10.</ins>", what="the other way round")
    eq(olga.get("/desk/articles/diff-me/diff?from=1&to=x").status, 422, "a bad number")
    eq(olga.get("/desk/articles/diff-me/diff?from=1").status, 422, "one number")
    eq(olga.get("/desk/articles/diff-me/diff?from=1&to=99").status, 404, "no such revision")
    big = "".join(f"{i}\n" for i in range(6000))
    eq(put_article(s, t, "diff-me", dict(art, body=big)).status, 200, "a long revision 3")
    r = olga.get("/desk/articles/diff-me/diff?from=2&to=3")
    eq(r.status, 200, "the diff of a long text")
    contains(r.text, "длиннее 5000 строк", what="the long text's message")
    eq(s.req("/desk/articles/diff-me/diff?from=1&to=2").status, 303, "not signed in")
    s.stop()


@test("workspace: live preview: the edit form loads preview.js and names the preview endpoint; the endpoint "
      "renders the portal's safe Markdown with the checklist, needs the session's CSRF token")
def _():
    s = server("ws-preview")
    account(s, "olga", "editor")
    olga = Agent(s, "olga", role_page="/desk/articles")
    _, r = edit_form(olga, "password-reset")
    contains(r.text, 'data-preview="/desk/articles/password-reset/preview"', '<script src="/static/preview.js?v=',
             'id="preview"', what="the edit form")
    js = s.req("/static/preview.js")
    eq(js.status, 200, "preview.js")
    contains(js.text, "data-preview", what="preview.js")
    body = {"title": "Заголовок <i>", "prepare": "Паспорт", "body": "**Шаг.**\n\n<script>alert(1)</script>\n"
            "[x](javascript:alert(1))\n"}
    r = olga.post("/desk/articles/password-reset/preview", body)
    eq(r.status, 200, "the preview fragment")
    contains(r.text, "<strong>Шаг.</strong>", "<li>Паспорт</li>", "Заголовок &lt;i&gt;", what="the fragment")
    lacks(r.text, "<script>alert", 'href="javascript:', "<html", what="the fragment")
    eq(olga.post("/desk/articles/password-reset/preview", dict(body, csrf="wrong")).status, 403, "a wrong token")
    s.stop()


@test("workspace: stale content: an article past its review date and a variant older than its general text "
      "are listed with their owners; the owner's desk home shows theirs")
def _():
    s = server("ws-stale")
    account(s, "olga", "editor")
    account(s, "petr", "editor")
    olga = Agent(s, "olga", role_page="/desk/articles")
    petr = Agent(s, "petr", role_page="/desk/articles")
    f, _ = edit_form(olga, "password-reset")
    save(olga, "password-reset", dict(f, review_by="2020-01-31", owner="olga"))
    publish(olga, "password-reset")
    # The general text of payout-setup published today: its variants (July) are older now.
    g, _ = edit_form(olga, "payout-setup")
    save(olga, "payout-setup", dict(g, body=g["body"] + "\nНовый абзац.\n", owner="petr"))
    publish(olga, "payout-setup")
    page = wait_for(lambda: (p := olga.get("/desk/stale")).status == 200 and "payout-setup" in p.text and p, 5,
                    "the stale page")
    valid_html(page, "the stale page")
    contains(page.text, "Срок пересмотра прошёл", "2020-01-31", 'href="/desk/articles/password-reset"',
             "Варианты для стран старше общего текста", "KZ — Казахстан", "DE — Германия", "не назначен",
             "<th>Общий текст обновлён</th>", "<th>Ответственный</th>", what="the stale page")
    lacks(page.text, "&lt;th&gt;", what="the stale page's headers (markup, not text)")
    check(re.search(r"password-reset.*?2020-01-31</td><td>olga</td>", page.text, re.S), "the owner is shown")
    home = olga.get("/desk/articles")
    contains(home.text, "Ваши статьи на пересмотр", "2020-01-31", 'href="/desk/stale"', what="olga's home")
    check(home.text.index("Ваши статьи на пересмотр") < home.text.index("Черновики и проверка"), "at the top")
    lacks(petr.get("/desk/articles").text, "Ваши статьи на пересмотр", what="petr's home (nothing of his is stale)")
    s.stop()


@test("workspace: the live preview in chromium: typing in the body shows its rendering above the form "
      "(safe Markdown) without pressing «Предпросмотр»")
def _():
    from browser import Browser, BrowserError
    from desk_tests import PASSWORD
    from harness import Fail
    s = server("ws-live-preview")
    account(s, "olga", "editor")
    b = None
    try:
        b = Browser()
        base = f"http://127.0.0.1:{s.port}"
        b.open(base + "/desk/login?next=/desk/articles")
        b.js("(() => { document.querySelector('#f-login').value = 'olga';"
             f" document.querySelector('#f-password').value = {json.dumps(PASSWORD)};"
             " document.querySelector('form.request').submit(); return true; })()")
        b.wait_for("location.pathname === '/desk/articles' && document.readyState === 'complete'", 10)
        b.open(base + "/desk/articles/password-reset/edit")
        check(b.js("document.getElementById('preview').hidden"), "the preview is empty before typing")
        b.js("(() => { const t = document.getElementById('f-body'); t.focus();"
             " t.setSelectionRange(0, t.value.length); return true; })()")
        b.type("**Живой предпросмотр** <script>window.pwned = 1</script>\n\n1. Шаг")
        b.wait_for("(document.getElementById('preview').innerHTML || '').includes("
                   "'<strong>Живой предпросмотр</strong>')", 10)
        html = b.js("document.getElementById('preview').innerHTML")
        lacks(html, "<script", what="the live preview")
        check(not b.js("document.getElementById('preview').hidden"), "the preview is shown")
        check(b.js("window.pwned === undefined"), "no script ran")
        lacks(s.req("/a/password-reset").text, "Живой предпросмотр", what="the portal (nothing saved)")
    except BrowserError as e:
        raise Fail(str(e))
    finally:
        if b:
            b.close()
        s.stop()


# Payloads after OWASP's XSS filter-evasion cheat sheet and past help-desk bugs: script tags, nested
# and broken tags, SVG, event attributes, attribute breakouts, javascript:/data: links (Markdown and
# HTML, mixed case, entities), "@" tricks in URLs, already-escaped and percent-encoded text.
XSS = [
    "<script>alert(1)</script>", "<scr<script>ipt>alert(1)</scr</script>ipt>", "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>", "<svg><script>alert(1)</script></svg>", "\"><script>alert(1)</script>",
    "'><img src=x onerror=alert(1)>", "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>", "[x](javascript:alert(1))",
    "[x](data:text/html,<script>alert(1)</script>)", "[x](JaVaScRiPt:alert(1))", "[x](java&#x09;script:alert(1))",
    "![x](javascript:alert(1))", "<iframe src=\"javascript:alert(1)\"></iframe>", "<body onload=alert(1)>",
    "<input autofocus onfocus=alert(1)>", "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG \"\"\"><SCRIPT>alert(\"XSS\")</SCRIPT>\">", "<IMG SRC=# onmouseover=\"alert('xxs')\">",
    "<IMG SRC=/ onerror=\"alert(String.fromCharCode(88,83,83))\"></img>", "<<SCRIPT>alert(\"XSS\");//\\<</SCRIPT>",
    "<SCRIPT SRC=http://xss.rocks/xss.js?< B >", "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    "<LINK REL=\"stylesheet\" HREF=\"javascript:alert('XSS');\">",
    "<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=javascript:alert('XSS');\">",
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\">", "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    "<object data=\"javascript:alert(1)\">", "<embed src=\"javascript:alert(1)\">",
    "<a href=\"http://help.example@evil.example/\">x</a>", "[x](http://help.example@evil.example/)",
    "<style>@import'javascript:alert(1)';</style>", "`<script>alert(1)</script>`", "\\\"><svg/onload=alert(1)>",
    "<x onclick=alert(1)>click", "&lt;script&gt;alert(1)&lt;/script&gt;", "%3Cscript%3Ealert(1)%3C/script%3E",
]


def xss_safe(html, what):
    """No script but the site's own, no event attribute, no javascript:/data: URL, no embedded frame."""
    for tag in re.findall(r"<script\b[^>]*>", html, re.I):
        check(re.fullmatch(r'<script src="/static/[a-z]+\.js\?v=[0-9a-f]+" defer>', tag), f"{what}: {tag}")
    m = re.search(r"<[a-z][^>]*\son[a-z]+\s*=", html, re.I)
    check(not m, f"{what}: an event attribute: {m and m.group(0)}")
    for tag in re.findall(r"<[a-z][^>]*>", html, re.I):  # real tags: escaped text has &lt;
        m = re.search(r"""(?:href|src|action|data|background)\s*=\s*["']?\s*(?:javascript|data):""", tag, re.I)
        check(not m, f"{what}: a javascript:/data: URL: {tag}")
    body = html[html.find("<body") + 5:]
    m = re.search(r"<(?:svg|iframe|object|embed|meta|link|style|body|math)\b", body, re.I)
    check(not m, f"{what}: an embedded element: {m and m.group(0)}")


@test(f"workspace: {len(XSS)} XSS payloads in review comments, prepare items, previews and the diff never reach "
      "a page as markup (desk and portal)")
def _():
    s = server("ws-xss", editors={"require_review": "1"})
    account(s, "olga", "editor")
    account(s, "petr", "editor")
    olga = Agent(s, "olga", role_page="/desk/articles")
    petr = Agent(s, "petr", role_page="/desk/articles")
    to, tp = token_add(s, "olga"), token_add(s, "petr")
    art = {"title": "Проверка полезной нагрузки", "section": "orders", "body": "Текст.\n"}
    eq(put_article(s, to, "xss-review", art).status, 200, "a draft")
    for i, p in enumerate(XSS):
        eq(post_action(s, to, "xss-review", "submit").status, 200, f"submit {i}")
        if i % 2:
            r = post_json(s, tp, "xss-review", "reject", {"comment": p})
            eq(r.status, 200, f"the API's reject with payload {i}")
        else:
            r = petr.post("/desk/articles/xss-review", {"do": "reject", "comment": p})
            eq(r.status, 303, f"the desk's reject with payload {i}")
    for path in ("/desk/articles", "/desk/articles/xss-review"):
        page = olga.get(path)
        valid_html(page, path)
        xss_safe(page.text, path)
    # Prepare items (20 a text), through the API, published by the other editor; the portal page.
    for k in range(0, len(XSS), 20):
        slug = f"xss-prepare-{k}"
        eq(put_article(s, to, slug, dict(art, prepare=[p[:200] for p in XSS[k:k + 20]])).status, 200, slug)
        eq(post_action(s, to, slug, "submit").status, 200, f"submit {slug}")
        eq(post_action(s, tp, slug, "publish").status, 200, f"publish {slug}")
        page = wait_for(lambda: (p := s.req(f"/a/{slug}")).status == 200 and p, 5, slug)
        valid_html(page, slug)
        xss_safe(page.text, slug)
        contains(page.text, "&lt;script&gt;alert(1)&lt;/script&gt;" if k == 0 else "Что подготовить",
                 what="the checklist, escaped")
    # The live preview's fragment and the diff of two revisions with every payload as a line.
    for i, p in enumerate(XSS):
        r = olga.post("/desk/articles/xss-review/preview", {"title": p, "prepare": p, "body": p})
        eq(r.status, 200, f"preview {i}")
        xss_safe("<body>" + r.text, f"the preview of payload {i}")
    eq(put_article(s, to, "xss-review", dict(art, body="\n".join(XSS) + "\n")).status, 200, "payloads as lines")
    n = revisions(s, to, "xss-review")[0]["revision"]
    page = olga.get(f"/desk/articles/xss-review/diff?from=1&to={n}")
    eq(page.status, 200, "the diff")
    valid_html(page, "the diff")
    xss_safe(page.text, "the diff")
    contains(page.text, "<ins>+ &lt;script&gt;alert(1)&lt;/script&gt;</ins>", what="the diff")
    s.stop()
