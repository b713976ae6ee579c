"""End-to-end tests of issue #10, the editors' workspace, as far as it is built: personal API
tokens (`spravka token add / revoke`, `Authorization: Bearer`) and the insights API's search
groups (GET /api/v1/insights/searches).

Imported by run.py; runs on both engines (the harness gives commands the engine's --db).
"""

import json
import re
from html import unescape
from urllib.parse import urlencode

from desk_tests import Agent, account, server, valid_html
from harness import check, contains, eq, lacks, spravka, test, wait_for

TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def token_add(s, login):
    rc, out, err = spravka("token", "add", "--login", login, "--data", s.data)
    eq(rc, 0, f"token add --login {login}: {err}")
    lines = out.splitlines()
    eq(len(lines), 1, f"token add prints one line: {out!r}")
    check(TOKEN.match(lines[0]), f"the token is 43 URL-safe characters: {lines[0]!r}")
    return lines[0]


def insights(s, token, query="kind=zero&days=30"):
    hs = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return s.req("/api/v1/insights/searches?" + query, headers=hs)


@test("editors: spravka token add prints a token alone on a line; Bearer with an editor's token reads "
      "the zero-result searches grouped; no token 401, an agent's 403, a revoked one 401 (JSON)")
def _():
    s = server("tokens")
    account(s, "olga", "editor")
    account(s, "ivan", "agent")
    t = token_add(s, "olga")
    ta = token_add(s, "ivan")
    check(t != token_add(s, "olga"), "two tokens of one account differ")
    # Searches that find nothing, typed three ways, and one that finds something.
    for q in ("Фыва пролдж", "фыва  ПРОЛДЖ!", "фыва пролдж", "налог"):
        eq(s.req("/search?" + urlencode({"q": q})).status, 200, f"search {q}")

    def zero():
        r = insights(s, t)
        eq(r.status, 200, f"insights: {r.text[:200]}")
        contains(r.header("content-type"), "application/json", what="content type")
        j = r.json()
        # the log is written behind the answers: wait until all three searches are in
        return j if j and j[0].get("count") == 3 else None
    got = wait_for(zero, 5, "the three searches in the log")
    eq(got[0], {"query": "фыва пролдж", "count": 3}, "the zero-result group")
    check(all(g["query"] != "налог" for g in got), f"a search with results among the zero ones: {got}")
    # Without a token, a wrong one, a wrong scheme: 401 with a JSON error and WWW-Authenticate.
    for what, hs in (("no token", {}), ("a wrong token", {"Authorization": "Bearer " + "A" * 43}),
                     ("a session scheme", {"Authorization": f"Basic {t}"})):
        r = s.req("/api/v1/insights/searches?kind=zero", headers=hs)
        eq(r.status, 401, what)
        eq(r.json()["error"]["code"], "unauthorized", what)
        contains(r.header("www-authenticate") or "", "Bearer", what=what)
    r = insights(s, ta)
    eq(r.status, 403, "an agent's token")
    eq(r.json()["error"]["code"], "forbidden", "an agent's token")
    eq(insights(s, t, "kind=nonsense").status, 400, "an unknown kind")
    eq(insights(s, t, "days=0").status, 400, "days=0")
    # Revoked by the token on standard input: 401 from then on; the other token still works.
    rc, _, err = spravka("token", "revoke", "--data", s.data, input=(t + "\n").encode())
    eq(rc, 0, f"token revoke: {err}")
    eq(insights(s, t).status, 401, "a revoked token")
    rc, _, err = spravka("token", "revoke", "--data", s.data, input=(t + "\n").encode())
    check(rc != 0, "revoking a revoked token again reports it")
    rc, _, err = spravka("token", "revoke", "--login", "ivan", "--data", s.data)
    eq(rc, 0, f"token revoke --login: {err}")
    eq(insights(s, ta).status, 401, "the agent's token after revoke --login")
    rc, out, err = spravka("token", "add", "--login", "nobody", "--data", s.data)
    check(rc != 0 and out == "" and "nobody" in err, f"a token for no account: {rc} {out!r} {err!r}")
    s.stop()


def put_article(s, token, slug, obj, content_type="application/json"):
    body = obj if isinstance(obj, bytes) else json.dumps(obj, ensure_ascii=False).encode()
    return s.req(f"/api/v1/articles/{slug}", "PUT",
                 {"Authorization": f"Bearer {token}", "Content-Type": content_type}, body)


def post_action(s, token, slug, action):
    return s.req(f"/api/v1/articles/{slug}/{action}", "POST", {"Authorization": f"Bearer {token}"})


def revisions(s, token, slug):
    r = s.req(f"/api/v1/articles/{slug}/revisions", headers={"Authorization": f"Bearer {token}"})
    eq(r.status, 200, f"revisions of {slug}: {r.text[:200]}")
    return r.json()


ARTICLE = {"title": "Как подключить выплаты на карту через API", "section": "payouts",
           "summary": "Проверка API редакторов", "keywords": ["выплаты", "карта"],
           "body": "Шаги настройки. Уникальное слово: квазиротатор.\n\n1. Откройте раздел.\n",
           "message": "первая версия"}


def searchable(s, word, slug):
    r = s.req("/api/v1/search?" + urlencode({"q": word}))
    return r.status == 200 and any(x.get("slug") == slug for x in r.json().get("results", []))


@test("editors: PUT /api/v1/articles/{slug} saves a draft the portal does not show; publish makes it live "
      "and searchable; a second draft leaves the live text until published; revisions newest first")
def _():
    s = server("articles")
    account(s, "olga", "editor")
    t = token_add(s, "olga")
    slug = "api-payout-card"
    r = put_article(s, t, slug, ARTICLE)
    eq(r.status, 200, f"PUT: {r.text[:300]}")
    eq(r.json(), {"revision": 1, "status": "draft"}, "PUT's answer")
    eq(s.req(f"/a/{slug}").status, 404, "a draft on the portal")
    revs = revisions(s, t, slug)
    eq([(x["revision"], x["status"], x["author"], x["message"]) for x in revs],
       [(1, "draft", "olga", "первая версия")], "revisions")
    r = post_action(s, t, slug, "publish")
    eq(r.status, 200, f"publish: {r.text[:300]}")
    eq(r.json(), {"revision": 1, "status": "published"}, "publish's answer")
    page = wait_for(lambda: (p := s.req(f"/a/{slug}")).status == 200 and p, 5, "the published article's page")
    contains(page.text, "Как подключить выплаты на карту через API", what="the article page")
    wait_for(lambda: searchable(s, "квазиротатор", slug), 5, "the new article found by search")
    # A second draft: the live text stays until it is published.
    second = dict(ARTICLE, title="Выплаты на карту: новая редакция", keywords="выплаты, карта, новое",
                  message="вторая версия")
    eq(put_article(s, t, slug, second).json(), {"revision": 2, "status": "draft"}, "the second draft")
    contains(s.req(f"/a/{slug}").text, "Как подключить выплаты на карту через API", what="the live page")
    eq(post_action(s, t, slug, "publish").json(), {"revision": 2, "status": "published"}, "second publish")
    wait_for(lambda: "новая редакция" in s.req(f"/a/{slug}").text, 5, "the new title on the portal")
    eq([(x["revision"], x["status"]) for x in revisions(s, t, slug)], [(2, "published"), (1, "superseded")],
       "revisions after the second publication")
    eq(post_action(s, t, slug, "publish").status, 404, "publish with no draft left")
    # Two editors from revision 2: the second save is a conflict with both texts, not an overwrite.
    eq(put_article(s, t, slug, dict(second, title="Правка первого", base_revision=2)).json()["revision"], 3,
       "the first editor's save")
    r = put_article(s, t, slug, dict(second, title="Правка второго", base_revision=2))
    eq(r.status, 409, "the second editor's save")
    j = r.json()["error"]
    eq((j["code"], j["newest"], j["theirs"]["title"], j["yours"]["title"]),
       ("conflict", 3, "Правка первого", "Правка второго"), "the conflict's answer")
    eq(len(revisions(s, t, slug)), 3, "nothing saved by the conflicting save")
    # An imported article's first state is revision 1, published, by the import.
    revs = revisions(s, t, "password-reset")
    eq([(x["revision"], x["status"], x["author"]) for x in revs], [(1, "published", "")], "an imported article")
    s.stop()


@test("editors: bad drafts are explained (422 per field, 400 slug or JSON, 415 not JSON), nothing saved; "
      "no token 401, an agent 403")
def _():
    s = server("articles-bad")
    account(s, "olga", "editor")
    account(s, "ivan", "agent")
    t = token_add(s, "olga")
    for what, obj, field in (("no title", dict(ARTICLE, title=""), "title"),
                             ("unknown section", dict(ARTICLE, section="nope"), "section"),
                             ("no body", {k: v for k, v in ARTICLE.items() if k != "body"}, "body"),
                             ("keywords of numbers", dict(ARTICLE, keywords=[1, 2]), "keywords"),
                             ("unknown country", dict(ARTICLE, country="XX"), "country"),
                             ("a title of 201 characters", dict(ARTICLE, title="я" * 201), "title")):
        r = put_article(s, t, "bad-draft", obj)
        eq(r.status, 422, what)
        j = r.json()["error"]
        eq(j["code"], "invalid", what)
        check(field in j["fields"], f"{what}: fields {j['fields']}")
    eq(put_article(s, t, "Bad_Slug", ARTICLE).status, 400, "a slug outside [a-z0-9-]")
    eq(put_article(s, t, "a" * 81, ARTICLE).status, 400, "a slug of 81 characters")
    eq(put_article(s, t, "bad-draft", b"{not json").status, 400, "malformed JSON")
    eq(put_article(s, t, "bad-draft", ARTICLE, "text/plain").status, 415, "not JSON")
    eq(s.req("/api/v1/articles/bad-draft/revisions", headers={"Authorization": f"Bearer {t}"}).status, 404,
       "nothing saved")
    r = s.req("/api/v1/articles/bad-draft", "PUT", {"Content-Type": "application/json"},
              json.dumps(ARTICLE).encode())
    eq(r.status, 401, "PUT without a token")
    r = put_article(s, token_add(s, "ivan"), "bad-draft", ARTICLE)
    eq(r.status, 403, "PUT with an agent's token")
    s.stop()


@test("editors: with [editors] require_review = 1 an editor's draft is published only after review, by "
      "another editor (409 review_required before); an admin publishes another's draft directly, not their own")
def _():
    s = server("articles-review", editors={"require_review": "1"})
    account(s, "olga", "editor")
    account(s, "petr", "editor")
    account(s, "root", "admin")
    to, tp, ta = token_add(s, "olga"), token_add(s, "petr"), token_add(s, "root")
    slug = "reviewed-article"
    eq(put_article(s, to, slug, ARTICLE).status, 200, "draft")
    r = post_action(s, to, slug, "publish")
    eq(r.status, 409, "publish without review")
    eq(r.json()["error"]["code"], "review_required", "the error code")
    eq(post_action(s, to, slug, "submit").json(), {"revision": 1, "status": "review"}, "submitted")
    eq(post_action(s, to, slug, "publish").status, 409, "the author publishing a draft in review")
    eq(s.req(f"/a/{slug}").status, 404, "not live yet")
    eq(post_action(s, tp, slug, "publish").json(), {"revision": 1, "status": "published"}, "another editor")
    wait_for(lambda: s.req(f"/a/{slug}").status == 200, 5, "live after review")
    eq(put_article(s, to, slug, dict(ARTICLE, title="Правка Ольги")).json()["revision"], 2, "another draft")
    eq(post_action(s, ta, slug, "publish").json(), {"revision": 2, "status": "published"},
       "an admin publishes another's draft directly")
    eq(put_article(s, ta, slug, dict(ARTICLE, title="Правка администратора")).json()["revision"], 3, "admin draft")
    eq(post_action(s, ta, slug, "publish").status, 409, "nobody approves their own revision, an admin neither")
    s.stop()


def form_fields(html, form_re):
    """name -> value of the inputs, selected options and textareas of the first form matching form_re."""
    m = re.search(form_re, html, re.S)
    check(m, f"no form {form_re}")
    f = m.group(0)
    out = {k: unescape(v) for k, v in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', f)}
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', f, re.S):
        sel = re.search(r'<option value="([^"]*)" selected>', body)
        out[name] = sel.group(1) if sel else ""
    for name, value in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', f, re.S):
        out[name] = unescape(value)
    return out


@test("editors: the desk workspace: an editor's /desk leads to the articles; edit form with preview "
      "(safe Markdown), a draft saved off the portal until published, a conflict shows both texts, "
      "bad input keeps what was typed")
def _():
    s = server("workspace")
    account(s, "olga", "editor")
    account(s, "petr", "editor")
    olga, petr = Agent(s, "olga", role_page="/desk/articles"), Agent(s, "petr", role_page="/desk/articles")
    check(olga.csrf, "the editor's articles page")
    r = olga.get("/desk")
    eq((r.status, r.header("location")), (303, "/desk/articles"), "an editor's /desk")
    page = olga.get("/desk/articles")
    eq(page.status, 200, "the articles page")
    valid_html(page, "the articles page")
    contains(page.text, "Черновики и проверка", what="the articles page")
    # An imported article: its form holds the published text.
    r = olga.get("/desk/articles/password-reset/edit")
    eq(r.status, 200, "the edit form")
    valid_html(r, "the edit form")
    f = form_fields(r.text, r'<form class="request editor".*?</form>')
    eq(f["base_revision"], "1", "the revision the form starts from")
    check(f["title"] and f["body"], f"the form is filled: {f}")
    # Preview: the portal's Markdown pipeline, raw HTML dropped (safe mode).
    edit = dict(f, title="Как восстановить пароль: новая редакция",
                body="**Шаг 1.** Откройте вход.\n\n<script>alert(1)</script>\n\n[ссылка](javascript:alert(1))\n",
                message="правка шагов")
    r = olga.post("/desk/articles/password-reset/edit", dict(edit, do="preview"))
    eq(r.status, 200, "preview")
    valid_html(r, "the preview")
    contains(r.text, "<strong>Шаг 1.</strong>", what="the preview")
    lacks(r.text, "<script>alert", 'href="javascript:', what="the preview")
    eq(s.req("/a/password-reset").text.count("новая редакция"), 0, "a preview on the portal")
    # Bad input: 422, the text kept.
    r = olga.post("/desk/articles/password-reset/edit", dict(edit, title="", do="save"))
    eq(r.status, 422, "a save without a title")
    contains(r.text, "Заполните это поле.", "правка шагов", what="the refused form")
    # Saved: a draft, the portal unchanged until published.
    r = olga.post("/desk/articles/password-reset/edit", dict(edit, do="save"))
    eq((r.status, r.header("location")), (303, "/desk/articles/password-reset?done=saved"), "save")
    lacks(s.req("/a/password-reset").text, "новая редакция", what="the portal before publishing")
    contains(olga.get("/desk/articles").text, "/desk/articles/password-reset", what="the work in progress")
    # Petr began from revision 1 too: his save is a conflict with both texts, nothing lost.
    theirs = {k: v for k, v in f.items() if k != "csrf"}  # Petr's own session token goes with it
    r = petr.post("/desk/articles/password-reset/edit", dict(theirs, title="Правка Петра", do="save"))
    eq(r.status, 409, "the second editor's save")
    contains(r.text, "Как восстановить пароль: новая редакция", "Правка Петра", what="the conflict page")
    eq(form_fields(r.text, r'<form class="request editor".*?</form>')["base_revision"], "2",
       "the conflict's form starts from the newest revision")
    # Publish from the history page.
    hist = olga.get("/desk/articles/password-reset")
    valid_html(hist, "the history page")
    r = olga.post("/desk/articles/password-reset", {"do": "publish"})
    eq((r.status, r.header("location")), (303, "/desk/articles/password-reset?done=published"), "publish")
    wait_for(lambda: "новая редакция" in s.req("/a/password-reset").text, 5, "the new title on the portal")
    eq(olga.post("/desk/articles/password-reset", {"do": "publish", "csrf": "wrong"}).status, 403,
       "a publish without the session's CSRF token")
    # Restore revision 1 as a new draft, publish it: the first text is live again, history kept.
    contains(olga.get("/desk/articles/password-reset").text, "Восстановить как черновик", what="the history")
    r = olga.post("/desk/articles/password-reset", {"do": "restore", "revision": "1"})
    eq((r.status, r.header("location")), (303, "/desk/articles/password-reset?done=saved"), "restore")
    eq(olga.post("/desk/articles/password-reset", {"do": "restore", "revision": "99"}).status, 404,
       "restore of a revision that does not exist")
    eq(olga.post("/desk/articles/password-reset", {"do": "publish"}).status, 303, "publish the restored text")
    wait_for(lambda: "новая редакция" not in (p := s.req("/a/password-reset").text) and f["title"] in p, 5,
             "the first text on the portal again")
    hist = olga.get("/desk/articles/password-reset").text
    contains(hist, "восстановлена версия 1", what="the history after the restore")
    s.stop()


def post_json(s, token, slug, action, obj):
    return s.req(f"/api/v1/articles/{slug}/{action}", "POST",
                 {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                 json.dumps(obj, ensure_ascii=False).encode())


@test("editors: archiving takes an article off the portal at once (410 page with the search form, 410 JSON), "
      "its revisions stay; with a replacement 301 to it; publishing a draft brings it back; audited")
def _():
    s = server("articles-archive")
    account(s, "olga", "editor")
    t = token_add(s, "olga")
    before = s.req("/a/password-reset")
    eq(before.status, 200, "the live article (now in the page cache)")
    eq(s.req("/a/password-reset").status, 200, "again, from the cache")
    r = post_json(s, t, "password-reset", "archive", {"message": "устарела"})
    eq(r.status, 200, f"archive: {r.text[:300]}")
    eq(r.json(), {"status": "archived"}, "archive's answer")
    page = wait_for(lambda: (p := s.req("/a/password-reset")).status == 410 and p, 1,
                    "the archived article off the portal within 1 s")
    contains(page.text, "Статья снята с публикации", 'action="/search"', 'name="q"', what="the 410 page")
    lacks(page.text, "Как восстановить пароль", what="the 410 page")
    valid_html(page, "the 410 page")
    r = s.req("/api/v1/articles/password-reset")
    eq(r.status, 410, "the API")
    eq(r.json()["error"]["code"], "archived", "the API's error code")
    check(not searchable(s, "восстановить пароль", "password-reset"), "the archived article is not found by search")
    revs = revisions(s, t, "password-reset")
    eq([(x["revision"], x["status"]) for x in revs], [(1, "published")], "the revisions stay")
    lacks(s.req("/a/account-blocked").text, 'href="/a/password-reset">Как восстановить', what="related list")
    eq(post_json(s, t, "password-reset", "archive", {}).status, 404, "archiving it again")
    # With a replacement: 301 to it, on the portal and the API.
    r = post_json(s, t, "change-contacts", "archive", {"replacement": "account-settings"})
    eq(r.json(), {"status": "archived", "replacement": "account-settings"}, "archive with a replacement")
    r = wait_for(lambda: (p := s.req("/a/change-contacts")).status == 301 and p, 1, "301 to the replacement")
    eq(r.header("location"), "/a/account-settings", "Location")
    r = s.req("/api/v1/articles/change-contacts")
    eq((r.status, r.header("location")), (301, "/api/v1/articles/account-settings"), "the API's 301")
    for what, obj, status in (("a replacement that does not exist", {"replacement": "no-such-article"}, 422),
                              ("an archived replacement", {"replacement": "password-reset"}, 422),
                              ("a malformed replacement", {"replacement": "Bad Slug"}, 422)):
        eq(post_json(s, t, "account-blocked", "archive", obj).status, status, what)
    eq(s.req("/a/account-blocked").status, 200, "nothing archived by refused requests")
    # A draft published for the slug brings it back.
    eq(put_article(s, t, "password-reset", dict(ARTICLE, section="account", title="Пароль: новая инструкция"))
       .status, 200, "a new draft")
    eq(post_action(s, t, "password-reset", "publish").status, 200, "published")
    wait_for(lambda: "Пароль: новая инструкция" in s.req("/a/password-reset").text, 1, "back on the portal")
    r = s.req("/api/v1/articles/password-reset/audit", headers={"Authorization": f"Bearer {t}"})
    eq([(x["action"], x["user"]) for x in r.json()],
       [("publish", "olga"), ("draft", "olga"), ("archive", "olga")], "the audit")
    s.stop()


@test("editors: renaming moves an article (old URL 301 to the new, new 200, search finds the new slug, "
      "revisions follow); a taken slug 409 explained; chains resolve to the last slug")
def _():
    s = server("articles-rename")
    account(s, "olga", "editor")
    t = token_add(s, "olga")
    old, new, last = "api-payout-card", "payout-card", "card-payouts"
    eq(put_article(s, t, old, ARTICLE).status, 200, "draft")
    eq(post_action(s, t, old, "publish").status, 200, "published")
    wait_for(lambda: searchable(s, "квазиротатор", old), 5, "found under the old slug")
    r = post_json(s, t, old, "rename", {"slug": "password-reset"})
    eq(r.status, 409, "a taken slug")
    eq(r.json()["error"]["code"], "slug_taken", "the error code")
    contains(r.json()["error"]["message"], "уже занят", what="the message")
    for what, obj in (("a malformed slug", {"slug": "Новый адрес"}), ("no slug", {}),
                      ("81 characters", {"slug": "a" * 81})):
        eq(post_json(s, t, old, "rename", obj).status, 422, what)
    eq(post_json(s, t, "no-such-article", "rename", {"slug": "whatever"}).status, 404, "an unknown article")
    r = post_json(s, t, old, "rename", {"slug": new})
    eq(r.status, 200, f"rename: {r.text[:300]}")
    eq(r.json(), {"status": "renamed", "slug": new}, "rename's answer")
    r = wait_for(lambda: (p := s.req(f"/a/{old}")).status == 301 and p, 1, "the old URL redirects")
    eq(r.header("location"), f"/a/{new}", "Location")
    page = s.req(f"/a/{new}")
    eq(page.status, 200, "the new URL")
    contains(page.text, ARTICLE["title"], what="the renamed article")
    wait_for(lambda: searchable(s, "квазиротатор", new), 5, "found under the new slug")
    check(not searchable(s, "квазиротатор", old), "not under the old slug")
    eq([x["revision"] for x in revisions(s, t, new)], [1], "the revisions moved")
    eq(s.req(f"/api/v1/articles/{old}/revisions", headers={"Authorization": f"Bearer {t}"}).status, 404,
       "none left under the old slug")
    eq(post_json(s, t, new, "rename", {"slug": last}).status, 200, "renamed again")
    r = wait_for(lambda: (p := s.req(f"/a/{old}")).status == 301 and p.header("location") == f"/a/{last}" and p,
                 1, "the first slug leads to the last")
    wait_for(lambda: s.req(f"/a/{new}").header("location") == f"/a/{last}", 1,
             "the second slug too (its page cache refreshed)")
    r = s.req(f"/api/v1/articles/{last}/audit", headers={"Authorization": f"Bearer {t}"})
    eq([x["action"] for x in r.json()], ["rename", "rename", "publish", "draft"], "the audit follows the article")
    s.stop()
