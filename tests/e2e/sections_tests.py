"""End-to-end tests of issue #10's sections: editors create, rename, describe, reorder and delete
sections in the desk (/desk/sections), order a section's articles and move articles between
sections; the portal (home page, section pages, /api/v1/sections) follows; `spravka export
[--drafts]` and `spravka import [--archive-missing]` carry the order, drafts and archiving.

Imported by run.py; runs on both engines (the harness gives commands the engine's --db).
"""

import json
import os
import re
import shutil

from desk_tests import Agent, account, server, valid_html
from editors_tests import revisions, token_add
from harness import Server, base_config, check, contains, eq, lacks, new_dir, spravka, sql, test, wait_for
from xss_tests import Seen, h1_text, payloads

XSS_TITLE = "<script>alert(1)</script>"
XSS_DESCRIPTION = '"><img src=x onerror=alert(1)>'


def no_raw_xss(text, what):
    lacks(text, "<script>alert(1)", "<img src=x", 'onerror=alert(1)>', what=what)


def api_sections(s):
    r = s.req("/api/v1/sections")
    eq(r.status, 200, "/api/v1/sections")
    return r.json()


def api_order(s, section):
    r = s.req(f"/api/v1/sections/{section}")
    eq(r.status, 200, f"/api/v1/sections/{section}")
    return [x["slug"] for x in r.json()["articles"]]


def home_cards(s):
    """[(section slug, [article slugs])] of the home page, in its order."""
    text = s.req("/").text
    cards = re.findall(r'<section class="card">\s*<h3><a href="/s/([a-z0-9-]+)">.*?</section>', text, re.S)
    out = []
    for slug in cards:
        m = re.search(r'<section class="card">\s*<h3><a href="/s/' + slug + r'">.*?</section>', text, re.S)
        out.append((slug, re.findall(r'<li><a href="/a/([a-z0-9-]+)">', m.group(0))))
    return out


def section_page_order(s, section):
    r = s.req(f"/s/{section}")
    eq(r.status, 200, f"/s/{section}")
    main = r.text.split('<main', 1)[1]
    seen = []
    for slug in re.findall(r'href="/a/([a-z0-9-]+)"', main):
        if slug not in seen:
            seen.append(slug)
    return seen


def desk_order(editor, section):
    r = editor.get(f"/desk/sections/{section}")
    eq(r.status, 200, f"/desk/sections/{section}")
    return re.findall(r'<input type="hidden" name="article" value="([a-z0-9-]+)">', r.text)


def audit(s, slug):
    return [tuple(r) for r in sql(s, "SELECT action, detail FROM content_audit WHERE slug = ? ORDER BY id", slug)]


@test("sections: an editor creates, renames, describes, reorders and deletes sections in the desk; the home "
      "page and /api/v1/sections follow; bad input 422 with the form refilled, a taken slug 409 explained, a "
      "section with articles is not deleted; agents get 403; hostile names are escaped on every page")
def _():
    s = server("sections")
    account(s, "olga", "editor")
    account(s, "ivan", "agent")
    olga = Agent(s, "olga", role_page="/desk/sections")
    ivan = Agent(s, "ivan")
    check(olga.csrf, "the editor's sections page")
    page = olga.get("/desk/sections")
    eq(page.status, 200, "the sections page")
    valid_html(page, "the sections page")
    contains(page.text, 'href="/desk/sections"', "Личный кабинет", "Новый раздел", what="the sections page")
    # Agents and strangers.
    eq(ivan.get("/desk/sections").status, 403, "an agent's /desk/sections")
    eq(ivan.get("/desk/sections/faq").status, 403, "an agent's section page")
    eq(ivan.post("/desk/sections", {"slug": "x", "title": "X"}).status, 403, "an agent creates a section")
    eq(ivan.post("/desk/sections/faq", {"do": "up"}).status, 403, "an agent moves a section")
    eq(s.req("/desk/sections").status, 303, "anonymous: to the login")
    eq(olga.post("/desk/sections", {"slug": "x", "title": "X", "csrf": "wrong"}).status, 403, "a wrong CSRF token")
    # Bad input: 422, what was typed kept.
    r = olga.post("/desk/sections", {"slug": "Плохой адрес", "title": "Раздел для проверки", "description": "a|b"})
    eq(r.status, 422, "a bad slug")
    valid_html(r, "the refused form")
    contains(r.text, "латинские буквы a–z", "Раздел для проверки", "Без знака «|»", what="the refused form")
    r = olga.post("/desk/sections", {"slug": "ok-slug", "title": ""})
    eq(r.status, 422, "an empty title")
    contains(r.text, "Заполните поле.", 'value="ok-slug"', what="the refused form")
    r = olga.post("/desk/sections", {"slug": "faq", "title": "Другие вопросы"})
    eq(r.status, 409, "a taken slug")
    contains(r.text, "Раздел с адресом «faq» уже есть", "Другие вопросы", what="the conflict")
    eq(api_sections(s)[-1]["title"], "Частые вопросы", "the taken section is unchanged")
    # Created: last in the list, on the home page and in the API (hostile text kept as text).
    r = olga.post("/desk/sections", {"slug": "hostile", "title": XSS_TITLE, "description": XSS_DESCRIPTION})
    eq((r.status, r.header("location")), (303, "/desk/sections/hostile?done=created"), "create")
    got = wait_for(lambda: (x := api_sections(s)) and x[-1]["slug"] == "hostile" and x, 5, "the new section in the API")
    eq((got[-1]["title"], got[-1]["description"], got[-1]["articles"]), (XSS_TITLE, XSS_DESCRIPTION, 0),
       "the new section")
    wait_for(lambda: home_cards(s)[-1][0] == "hostile", 5, "the new section on the home page")
    # Every page that names it escapes it.
    # An article in it: its page names the section too (and so does the search page's filter).
    guest = api_order(s, "faq")[0]
    eq(olga.post("/desk/sections/faq", {"do": "article-section", "article": guest, "to": "hostile"}).status, 303,
       "move an article into the section")
    wait_for(lambda: api_order(s, "hostile") == [guest], 5, "the article in the section")
    for path in ("/", "/sections", "/s/hostile", f"/a/{guest}", "/search?q=%D0%BF%D0%B0%D1%80%D0%BE%D0%BB%D1%8C"):
        r = s.req(path)
        eq(r.status, 200, path)
        no_raw_xss(r.text, path)
        valid_html(r, path)
        contains(r.text, "&lt;script&gt;alert(1)&lt;/script&gt;", what=path)
    r = s.req("/api/v1/sections/hostile")
    eq((r.json()["title"], r.header("content-type").split(";")[0]), (XSS_TITLE, "application/json"),
       "the API gives the text as JSON")
    for path in ("/desk/sections", "/desk/sections/hostile", "/desk/sections/faq"):
        r = olga.get(path)
        eq(r.status, 200, path)
        valid_html(r, path)
        no_raw_xss(r.text, path)
    # Rename and describe.
    r = olga.post("/desk/sections/hostile", {"do": "save", "title": "Новый раздел про доставку",
                                             "description": "Описание нового раздела"})
    eq((r.status, r.header("location")), (303, "/desk/sections/hostile?done=saved"), "save")
    wait_for(lambda: api_sections(s)[-1]["title"] == "Новый раздел про доставку", 5, "the new title in the API")
    eq(api_sections(s)[-1]["description"], "Описание нового раздела", "the new description")
    wait_for(lambda: "Описание нового раздела" in s.req("/").text, 5, "the description on the home page")
    r = olga.post("/desk/sections/hostile", {"do": "save", "title": "", "description": "Новое описание"})
    eq(r.status, 422, "a save without a title")
    contains(r.text, "Заполните поле.", "Новое описание", what="the refused save")
    # Reorder: up to the top, one step at a time (7 sections above it), then one down.
    for i in range(7):
        r = olga.post("/desk/sections/hostile", {"do": "up"})
        eq((r.status, r.header("location")), (303, "/desk/sections?done=moved"), f"up #{i + 1}")
    wait_for(lambda: api_sections(s)[0]["slug"] == "hostile", 5, "the section first in the API")
    wait_for(lambda: home_cards(s)[0][0] == "hostile", 5, "the section first on the home page")
    eq(olga.post("/desk/sections/hostile", {"do": "up"}).status, 303, "up at the top does nothing")
    olga.post("/desk/sections/hostile", {"do": "down"})
    wait_for(lambda: [x["slug"] for x in api_sections(s)][:2] == ["registration", "hostile"], 5,
             "one down")
    wait_for(lambda: [x[0] for x in home_cards(s)][:3] == ["registration", "hostile", "account"], 5,
             "the home page's order")
    # Delete: refused while articles are in it, done when empty.
    r = olga.post("/desk/sections/hostile", {"do": "delete"})
    eq(r.status, 409, "delete a section with an article")
    valid_html(r, "the refusal")
    contains(r.text, "Раздел не удалён: в нём статей — 1", what="the refusal")
    check(any(x["slug"] == "hostile" for x in api_sections(s)), "the section is still there")
    eq(olga.post("/desk/sections/hostile", {"do": "article-section", "article": guest, "to": "faq"}).status, 303,
       "move the article back")
    eq(olga.post("/desk/sections/nope", {"do": "delete"}).status, 404, "delete a section that does not exist")
    eq(olga.get("/desk/sections/nope").status, 404, "the page of a section that does not exist")
    eq(olga.post("/desk/sections/faq", {"do": "frobnicate"}).status, 422, "an unknown action")
    r = olga.post("/desk/sections/hostile", {"do": "delete"})
    eq((r.status, r.header("location")), (303, "/desk/sections?done=deleted"), "delete the empty section")
    wait_for(lambda: all(x["slug"] != "hostile" for x in api_sections(s)), 5, "gone from the API")
    eq(s.req("/s/hostile").status, 404, "its page")
    acts = [a for a, _ in audit(s, "section:hostile")]
    eq(acts, ["section-create", "section-describe", "section-rename"] + ["section-move"] * 8 + ["section-delete"],
       "the audit of the section")
    s.stop()


@test("sections: an editor orders a section's articles (up, down, to place N) and moves articles between "
      "sections (on the section page, and by publishing a new section); the section page, the home page and "
      "/api/v1/sections/{slug} follow; audited")
def _():
    s = server("sections-order")
    account(s, "olga", "editor")
    account(s, "ivan", "agent")
    olga = Agent(s, "olga", role_page="/desk/sections")
    ivan = Agent(s, "ivan")
    before = api_order(s, "account")
    eq(desk_order(olga, "account"), before, "the desk lists the portal's order")
    page = olga.get("/desk/sections/account")
    valid_html(page, "the section's desk page")
    rows = re.findall(r'<input type="hidden" name="article" value="[a-z0-9-]+">.*?</form>', page.text)
    eq(len(rows), 7, "a form per article")
    for row in rows:  # Enter in the place field submits the first button: "move to place N"
        eq(re.search(r'<button type="submit" name="do" value="([a-z-]+)"', row).group(1), "article-place",
           "the first button of an article's form")
    eq(len(before), 7, "account's articles")
    last = before[-1]
    # The last article to place 1.
    r = olga.post("/desk/sections/account", {"do": "article-place", "article": last, "place": "1"})
    eq((r.status, r.header("location")), (303, "/desk/sections/account?done=ordered"), "to place 1")
    want = [last] + before[:-1]
    wait_for(lambda: api_order(s, "account") == want, 5, "the API follows")
    eq(section_page_order(s, "account")[:7], want, "the section page follows")
    home = dict(home_cards(s))
    eq(home["account"], want[:len(home["account"])], "the home page's first articles follow")
    check(home["account"][0] == last, "the moved article first on the home page")
    # Up and down.
    third = want[2]
    eq(olga.post("/desk/sections/account", {"do": "article-up", "article": third}).status, 303, "up")
    want = [want[0], third, want[1]] + want[3:]
    wait_for(lambda: api_order(s, "account") == want, 5, "up in the API")
    eq(olga.post("/desk/sections/account", {"do": "article-down", "article": want[0]}).status, 303, "down")
    want = [want[1], want[0]] + want[2:]
    wait_for(lambda: api_order(s, "account") == want, 5, "down in the API")
    eq(section_page_order(s, "account")[:7], want, "the section page after up and down")
    eq(desk_order(olga, "account"), want, "the desk's list")
    # Bad input.
    r = olga.post("/desk/sections/account", {"do": "article-place", "article": want[0], "place": "первое"})
    eq(r.status, 422, "a place that is not a number")
    contains(r.text, "Место — целое число", what="the refusal")
    eq(olga.post("/desk/sections/account", {"do": "article-up", "article": "password-reset-nope"}).status, 404,
       "an article that is not there")
    eq(ivan.post("/desk/sections/account", {"do": "article-place", "article": want[0], "place": "3"}).status, 403,
       "an agent")
    # Move to another section from the section page: at the end of faq, gone from account.
    moved = want[0]
    faq_before = api_order(s, "faq")
    r = olga.post("/desk/sections/account", {"do": "article-section", "article": moved, "to": "faq"})
    eq((r.status, r.header("location")), (303, "/desk/sections/faq?done=article-moved"), "move to faq")
    wait_for(lambda: api_order(s, "faq") == faq_before + [moved], 5, "at the end of faq")
    eq(api_order(s, "account"), want[1:], f"gone from account ({want})")
    eq(s.req(f"/a/{moved}").status, 200, "the article itself")
    revs = revisions(s, token_add(s, "olga"), moved)
    check(any(x["message"] == "перенесена в раздел «Частые вопросы»" for x in revs),
          "a revision records the move")
    eq(olga.post("/desk/sections/account", {"do": "article-section", "article": moved, "to": "nope"}).status, 404,
       "a move to a section that does not exist")
    # Move by publishing a draft with another section (the editors' API, as the edit form does).
    t = token_add(s, "olga")
    other = want[1]
    art = s.req(f"/api/v1/articles/{other}").json()
    r = s.req(f"/api/v1/articles/{other}", "PUT", {"Authorization": f"Bearer {t}", "Content-Type": "application/json"},
              json.dumps({"title": art["title"], "section": "payouts", "summary": art["summary"],
                          "keywords": "", "body": "Текст статьи.\n", "message": "в выплаты"},
                         ensure_ascii=False).encode())
    eq(r.status, 200, f"PUT with another section: {r.text[:200]}")
    r = s.req(f"/api/v1/articles/{other}/publish", "POST", {"Authorization": f"Bearer {t}"})
    eq(r.status, 200, f"publish: {r.text[:200]}")
    # (account's page is cached: it changes once the server has seen the new content version)
    wait_for(lambda: other not in api_order(s, "account"), 5, "gone from account")
    eq(api_order(s, "payouts")[-1], other, "at the end of payouts")
    acts = audit(s, moved)
    check(("move", "account → faq") in acts, f"the move audited: {acts}")
    check(any(a == "order" for a, _ in audit(s, last)), "the order audited")
    # With many sections, each row names the target in a field with one shared list of them.
    d = new_dir("sec-many")
    with open(os.path.join(d, "sections"), "w", encoding="utf-8") as f:
        f.write("".join(f"extra-{i} | Дополнительный {i} | {100 + i} | \n" for i in range(45)))
    rc, _, err = spravka("import", d, "--data", s.data)
    eq(rc, 0, f"import of 45 sections: {err}")
    page = wait_for(lambda: (r := olga.get("/desk/sections/account")) and "section-slugs" in r.text and r, 5,
                    "the shared list of sections")
    valid_html(page, "the section page with many sections")
    eq(page.text.count("<option"), 7 + 45, "one option per section, once")
    mover = api_order(s, "account")[0]
    eq(olga.post("/desk/sections/account", {"do": "article-section", "article": mover, "to": "extra-44"}).status,
       303, "move to a section typed by its address")
    wait_for(lambda: api_order(s, "extra-44") == [mover], 5, "the article in extra-44")
    s.stop()


@test("sections: with [editors] require_review = 1 an editor cannot publish a move from the section page "
      "(409, told how), an admin can; reordering needs no review")
def _():
    s = server("sections-review", editors={"require_review": "1"})
    account(s, "olga", "editor")
    account(s, "root", "admin")
    olga = Agent(s, "olga", role_page="/desk/sections")
    root = Agent(s, "root", role_page="/desk/sections")
    slug = api_order(s, "structure")[0]
    r = olga.post("/desk/sections/structure", {"do": "article-section", "article": slug, "to": "faq"})
    eq(r.status, 409, "an editor's move with review required")
    valid_html(r, "the refusal")
    contains(r.text, "Нужна проверка", f"/desk/articles/{slug}/edit", what="the refusal")
    eq(sql(s, "SELECT section FROM articles WHERE slug = ? AND country = ''", slug)[0][0], "structure", "not moved")
    eq(olga.post("/desk/sections/structure", {"do": "article-down", "article": slug}).status, 303,
       "an editor reorders")
    r = root.post("/desk/sections/structure", {"do": "article-section", "article": slug, "to": "faq"})
    eq((r.status, r.header("location")), (303, "/desk/sections/faq?done=article-moved"), "an admin's move")
    eq(sql(s, "SELECT section FROM articles WHERE slug = ? AND country = ''", slug)[0][0], "faq", "moved")
    s.stop()


def files(d):
    return sorted(f for f in os.listdir(d) if not f.startswith("."))


def read(d, name):
    with open(os.path.join(d, name), encoding="utf-8") as f:
        return f.read()


@test("sections: export writes the order (order: N) and the published state; --drafts adds <slug>.draft.md; "
      "importing it into an empty database keeps order, keywords, variants and drafts; --archive-missing "
      "archives what the directory lacks (410) and keeps its revisions")
def _():
    s = server("sections-export")
    account(s, "olga", "editor")
    olga = Agent(s, "olga", role_page="/desk/sections")
    t = token_add(s, "olga")
    order = api_order(s, "payouts")
    eq(olga.post("/desk/sections/payouts", {"do": "article-place", "article": order[-1], "place": "2"}).status, 303,
       "order an article")
    want = [order[0], order[-1]] + order[1:-1]
    wait_for(lambda: api_order(s, "payouts") == want, 5, "the order")
    # A draft of a published article, and a new article that is only a draft.
    draft_of = want[0]
    art = s.req(f"/api/v1/articles/{draft_of}").json()

    def put(slug, obj):
        r = s.req(f"/api/v1/articles/{slug}", "PUT", {"Authorization": f"Bearer {t}",
                                                       "Content-Type": "application/json"},
                  json.dumps(obj, ensure_ascii=False).encode())
        eq(r.status, 200, f"PUT {slug}: {r.text[:200]}")
    put(draft_of, {"title": art["title"], "section": "payouts", "summary": "", "keywords": "черновик, слово",
                   "body": "Текст черновика: ещё не опубликован.\n", "message": "черновик"})
    put("only-draft", {"title": "Только черновик", "section": "faq", "summary": "", "keywords": "",
                       "body": "Новая статья, не опубликована.\n", "message": "новая"})
    plain, full = os.path.join(new_dir("sec-export"), "plain"), os.path.join(new_dir("sec-export-d"), "full")
    rc, _, err = spravka("export", plain, "--data", s.data)
    eq(rc, 0, f"export: {err}")
    rc, _, err = spravka("export", "--drafts", full, "--data", s.data)
    eq(rc, 0, f"export --drafts: {err}")
    rc, _, err = spravka("import", "--drafts", full, "--data", s.data)
    check(rc == 2 and "--drafts is an option of export" in err, f"import --drafts: {rc} {err}")
    check(not [f for f in files(plain) if f.endswith(".draft.md")], "no drafts without --drafts")
    eq([f for f in files(full) if f.endswith(".draft.md")], sorted([f"{draft_of}.draft.md", "only-draft.draft.md"]),
       "the drafts with --drafts")
    eq(files(full), sorted(files(plain) + [f"{draft_of}.draft.md", "only-draft.draft.md"]), "the same other files")
    for i, slug in enumerate(want):
        contains(read(full, f"{slug}.md"), f"\norder: {i + 1}\n", what=f"{slug}.md")
    lacks(read(full, f"{draft_of}.md"), "Текст черновика", what="the published file")
    contains(read(full, f"{draft_of}.draft.md"), "Текст черновика", "keywords: черновик, слово",
             what="the draft file")
    variants = [f for f in files(full) if re.fullmatch(r"[a-z0-9-]+\.[a-z]{2}\.md", f)]
    check(variants, "variants exported")
    # Into an empty database: the same export again, the same order, the drafts as drafts.
    t2 = Server("sections-reimport", base_config())
    rc, _, err = spravka("import", full, "--data", t2.data)
    eq(rc, 0, f"import into an empty database: {err}")
    contains(err, "2 drafts", what="the import's summary")
    again = os.path.join(new_dir("sec-export-again"), "again")
    rc, _, err = spravka("export", "--drafts", again, "--data", t2.data)
    eq(rc, 0, f"export of the imported: {err}")
    eq(files(again), files(full), "the files")
    for f in files(full):
        if f.endswith(".draft.md"):  # updated: the day the draft was saved (today on both)
            continue
        if f == "media":  # the article images: the same files, byte for byte
            eq(files(os.path.join(again, f)), files(os.path.join(full, f)), "the images")
            for m in files(os.path.join(full, f)):
                with open(os.path.join(again, f, m), "rb") as x, open(os.path.join(full, f, m), "rb") as y:
                    check(x.read() == y.read(), f"media/{m} after the round trip")
            continue
        eq(read(again, f), read(full, f), f"{f} after the round trip")
    eq(read(again, f"{draft_of}.draft.md"), read(full, f"{draft_of}.draft.md"), "the draft file")
    t2.start()
    eq(api_order(t2, "payouts"), want, "the order on the new server")
    eq(t2.req("/a/only-draft").status, 404, "a draft is not on the portal")
    contains(t2.req(f"/a/{draft_of}").text, art["title"], what="the published text")
    lacks(t2.req(f"/a/{draft_of}").text, "Текст черновика", what="the published text")
    account(t2, "olga", "editor")
    t2t = token_add(t2, "olga")
    revs = revisions(t2, t2t, draft_of)
    eq((revs[0]["status"], revs[0]["message"]), ("draft", "импорт черновика"), "the draft as a draft revision")
    eq(revisions(t2, t2t, "only-draft")[0]["status"], "draft", "the new article's draft")
    # Importing twice adds nothing.
    rc, _, err = spravka("import", full, "--data", t2.data)
    eq(rc, 0, f"the second import: {err}")
    eq(len(revisions(t2, t2t, draft_of)), len(revs), "no second draft")
    # --archive-missing: an article the directory lacks is archived (410), its history kept.
    gone = want[-1]
    n_revs = len(revisions(t2, t2t, gone))
    os.remove(os.path.join(full, f"{gone}.md"))
    rc, _, err = spravka("import", full, "--data", t2.data)
    eq(rc, 0, f"import without {gone}: {err}")
    eq(t2.req(f"/a/{gone}").status, 200, "without --archive-missing the article stays")
    rc, _, err = spravka("import", "--archive-missing", full, "--data", t2.data)
    eq(rc, 0, f"import --archive-missing: {err}")
    wait_for(lambda: t2.req(f"/a/{gone}").status == 410, 5, "410 after --archive-missing")
    contains(t2.req(f"/a/{gone}").text, 'name="q"', what="the 410 page's search form")
    eq(len(revisions(t2, t2t, gone)), n_revs, "its revisions kept")
    check(gone not in api_order(t2, "payouts"), "off the section")
    check(("archive", "импорт: статьи нет в каталоге") in audit(t2, gone), "the archiving audited")
    empty = new_dir("sec-empty")
    shutil.copy(os.path.join(full, "sections"), empty)
    rc, _, err = spravka("import", "--archive-missing", empty, "--data", t2.data)
    check(rc != 0 and "no articles" in err, f"--archive-missing of an empty directory: {rc} {err}")
    eq(t2.req(f"/a/{want[0]}").status, 200, "nothing archived by the refused import")
    t2.stop()
    s.stop()


def xss_server(name):
    ps = payloads()
    check(len(ps) >= 100, f"only {len(ps)} payloads")
    s = server(name)
    account(s, "olga", "editor")
    return ps, s, Agent(s, "olga", role_page="/desk/sections"), Seen()


@test("sections: every XSS payload (tests/e2e/xss_payloads.txt) as a new section's title and description: "
      "saved or refused with a reason, never markup on the home, sections, section and desk pages")
def _():
    ps, s, ed, seen = xss_server("sections-xss")
    accepted = refused = 0
    for n, p in enumerate(ps):
        r = ed.post("/desk/sections", {"slug": f"x{n}", "title": p, "description": p})
        if r.status == 422:
            refused += 1
            check("role=\"alert\"" in r.text, f"payload {n}: 422 without a reason")
            seen.html(r.text, "the refused form", n, "section")
            continue
        eq(r.status, 303, f"payload {n}: create ({r.text[:200]})")
        accepted += 1
        page = s.req(f"/s/x{n}")  # a path never asked before: read from the database
        seen.page(page, f"/s/x{n}", n, "section")
        eq(h1_text(page.text), p.strip(), f"payload {n}: the title as text in the section's h1")
        seen.page(ed.get(f"/desk/sections/x{n}"), f"/desk/sections/x{n}", n, "section")
        if n % 25 == 24:
            for path in ("/", "/sections", "/sections?page=2"):
                r = s.req(path)
                if r.status == 200:
                    seen.page(r, path, n, "listing")
            seen.page(ed.get("/desk/sections"), "/desk/sections", n, "listing")
    seen.done("section names")
    check(accepted >= len(ps) * 3 // 4, f"most payloads are text to keep: {accepted} accepted, {refused} refused")
    print(f"# sections xss: {len(ps)} payloads as new sections: {accepted} saved, {refused} refused; "
          f"{seen.checked} pages checked")
    s.stop()


@test("sections: every XSS payload as a section's new name and description: never markup on its desk page; "
      "every third one also on the page of an article in it and on the search page (once the portal has it)")
def _():
    ps, s, ed, seen = xss_server("sections-xss-rename")
    guest = api_order(s, "faq")[0]
    accepted = 0
    for n, p in enumerate(ps):
        r = ed.post("/desk/sections/faq", {"do": "save", "title": p, "description": p})
        if r.status == 422:
            seen.html(r.text, "the refused save", n, "section")
            continue
        eq(r.status, 303, f"payload {n}: rename ({r.text[:200]})")
        accepted += 1
        page = ed.get("/desk/sections/faq")
        seen.page(page, "/desk/sections/faq", n, "section")
        eq(h1_text(page.text), p.strip(), f"payload {n}: the new name as text in the desk page's h1")
        if n % 3 == 0:
            wait_for(lambda: s.req("/api/v1/sections/faq").json()["title"] == p.strip(), 5, f"payload {n}: renamed")
            seen.page(s.req(f"/a/{guest}"), f"/a/{guest}", n, "section")
            seen.page(s.req("/search?q=%D0%BF%D0%B0%D1%80%D0%BE%D0%BB%D1%8C"), "/search", n, "section")
            seen.page(s.req("/"), "/", n, "section")
    seen.done("section names")
    print(f"# sections xss: {len(ps)} payloads as a section's new name: {accepted} saved; {seen.checked} pages checked")
    s.stop()
