"""End-to-end tests of issue #10's insights and content gaps in the desk: /desk/insights?days=7|30|90
(tables, inline SVG charts, CSV of each table), the visit (a search followed by a request in the same
visit; the article opened next), article views counted in memory (cached pages too), the deflection
rate, requests by topic and country, and /desk/gaps (keywords or synonyms in one step).

Imported by run.py; runs on both engines.
"""

import csv
import io
import os
import re
import time
import xml.etree.ElementTree as ET
from html import unescape
from urllib.parse import quote, urlencode

from desk_tests import Agent, account, new_request, server, to_login, valid_html
from editors_tests import post_action, put_article, token_add
from harness import check, contains, eq, lacks, new_dir, spravka, test, wait_for
from requests_tests import fields, post_multipart

VISIT = "spravka_visit"
ZERO = "фыва пролдж"  # finds nothing in the demo content
FOUND = "пароль"      # finds articles


def visit_of(r):
    sc = r.header("set-cookie") or ""
    m = re.match(VISIT + r"=([A-Za-z0-9_-]{22});", sc)
    check(m, f"the visit cookie: {sc!r}")
    for part in ("Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=1800"):
        contains(sc, part, what="the visit cookie")
    return m.group(1)


def search(s, q, visit=None):
    r = s.req("/search?" + urlencode({"q": q}), cookie=f"{VISIT}={visit}" if visit else None)
    eq(r.status, 200, f"search {q}")
    return visit_of(r)


def tables(html):
    """{table id: [[cell text, ...], ...]} of the insights page (header row first)."""
    out = {}
    for m in re.finditer(r'<table class="queue" data-table="(\w+)">(.*?)</table>', html, re.S):
        rows = []
        for tr in re.findall(r"<tr>(.*?)</tr>", m.group(2), re.S):
            rows.append([unescape(re.sub(r"<[^>]*>", "", c)) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)])
        out[m.group(1)] = rows
    return out


def as_dict(rows, key=0, value=-1):
    return {r[key]: r[value] for r in rows[1:]}


def page(ed, days=None):
    r = ed.get("/desk/insights" + (f"?days={days}" if days else ""))
    eq(r.status, 200, f"insights page: {r.text[:300]}")
    return r


def request_form_post(s, visit, **over):
    """A request through the portal's form, in a visit."""
    form = s.req("/request", cookie=f"{VISIT}={visit}")
    eq(form.status, 200, "the request form")
    tok = re.search(r'name="form_token" value="([A-Za-z0-9_-]{43})"', form.text)
    check(tok, "the form token")
    pairs = list(fields(**over).items()) + [("form_token", tok.group(1))]
    r = post_multipart(s, "/request", pairs, headers={"Cookie": f"{VISIT}={visit}"})
    eq(r.status, 200, f"the request form's answer: {r.text[:300]}")
    contains(r.text, "принято", what="the created page")


def solved(s):
    """The request form served (a form started), then «Это решило мой вопрос» (a deflection)."""
    form = s.req("/request")
    eq(form.status, 200, "the request form")
    tok = re.search(r'data-solved-token="([^"]+)"', form.text)
    check(tok, "the solved token")
    r = s.req("/request/solved", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
              urlencode({"slug": "password-reset", "topic": "registration", "solved_token": tok.group(1)}).encode())
    eq(r.status, 200, f"solved: {r.text[:300]}")


def svgs_ok(html, what):
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    check(svgs, f"{what}: no SVG chart")
    for svg in svgs:
        try:
            root = ET.fromstring(svg)
        except ET.ParseError as e:
            raise AssertionError(f"{what}: SVG is not XML ({e}): {svg[:300]}")
        eq(root.tag, "{http://www.w3.org/2000/svg}svg", f"{what}: root")
        eq(root.get("role"), "img", f"{what}: role")
        title = root.find("{http://www.w3.org/2000/svg}title")
        check(title is not None and title.text and title.get("id") == root.get("aria-labelledby"),
              f"{what}: <title> labelling the chart")
        check(root.findall("{http://www.w3.org/2000/svg}rect"), f"{what}: bars")
    return len(svgs)


def csv_rows(ed, table, days=30):
    r = ed.get(f"/desk/insights/{table}.csv?days={days}")
    eq(r.status, 200, f"{table}.csv")
    eq(r.header("content-type"), "text/csv; charset=utf-8", f"{table}.csv type")
    return list(csv.reader(io.StringIO(r.text)))


@test("insights: the desk's tables count the test's searches, visits, clicks, views (cached too), votes, "
      "requests by topic and country and the deflection rate; each has a valid SVG chart and a CSV equal "
      "to the table with formulas guarded; the days filter; editors only")
def _():
    s = server("insights")
    account(s, "olga", "editor")
    account(s, "ivan", "agent")
    tok = token_add(s, "olga")
    # An article whose title a spreadsheet would run as a formula.
    evil = {"title": "=HYPERLINK(\"http://evil.example\",\"x\") <script>alert(1)</script>", "section": "faq",
            "summary": "формула", "keywords": "формула", "body": "Текст статьи про формулы.\n", "message": "формула"}
    eq(put_article(s, tok, "formula-title", evil).status, 200, "PUT the formula article")
    eq(post_action(s, tok, "formula-title", "publish").status, 200, "publish it")
    wait_for(lambda: s.req("/a/formula-title").status == 200, 5, "the formula article live")
    # Do Not Track / Global Privacy Control: no visit cookie (the search is logged all the same).
    for h in ({"DNT": "1"}, {"Sec-GPC": "1"}):
        r = s.req("/search?" + urlencode({"q": "опт аут"}), headers=h)
        eq((r.status, r.header("set-cookie")), (200, None), f"a search with {h}")
    # Visit A: a search that finds nothing twice (typed two ways), one with results, then an
    # article opened: it is the "next article" of both unclicked searches.
    a = search(s, ZERO)
    eq(search(s, "Фыва  ПРОЛДЖ!", a), a, "the visit id is kept")
    search(s, FOUND, a)
    eq(s.req("/a/password-reset", cookie=f"{VISIT}={a}").status, 200, "an article in visit A")
    # Visit B: a search with a click on a result.
    b = search(s, "возврат товара")
    check(b != a, "a new browser gets a new visit")
    eq(s.req("/a/return-order?" + urlencode({"sq": "возврат товара"}), cookie=f"{VISIT}={b}").status, 200, "a click")
    # Visit C: a search, then a request through the form: "self-service failed".
    c = search(s, "не приходит смс код")
    request_form_post(s, c, topic="registration", country="KZ")
    # Views without a visit: the first from the handler, the others from the page cache.
    for _ in range(3):
        eq(s.req("/a/cancel-order").status, 200, "cancel-order")
    for _ in range(2):  # the third view: the wait for it to be live
        eq(s.req("/a/formula-title").status, 200, "formula-title")
    eq(s.req("/a/no-such-article").status, 404, "a made-up slug")
    # Feedback: two «Нет» on cancel-order.
    for i in range(2):
        r = s.req("/feedback/cancel-order", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                  urlencode({"helpful": "no", "comment": f"мало {i}"}).encode())
        eq(r.status, 200, "a vote")
    # Requests through the API: 2 × payouts/RU, 1 × other/BY; with the form's 1 × registration/KZ.
    new_request(s, topic="payouts", country="RU")
    new_request(s, topic="payouts", country="RU")
    new_request(s, topic="other", country="BY")
    # Deflection: the form served 2 more times, one «Это решило мой вопрос».
    solved(s)
    eq(s.req("/request").status, 200, "a form")
    ed = Agent(s, "olga", role_page="/desk/articles")

    def settled():
        t = tables(page(ed).text)
        v = as_dict(t.get("views", [[]]), 1)
        return t if v.get("cancel-order") == "3" and v.get("formula-title") == "3" and \
            as_dict(t.get("requested", [[]])).get("не приходит смс код") == "1" else None
    t = wait_for(settled, 8, "the views and the visit's request in the tables")
    r = page(ed)
    valid_html(r, "the insights page")
    contains(r.text, 'href="/desk/insights"', "Аналитика", what="the desk's navigation")
    searches = as_dict(t["searches"])
    eq(searches.get("фыва пролдж"), "2", f"top searches: {searches}")
    eq(searches.get("пароль"), "1", "top searches: пароль")
    eq(searches.get("возврат товара"), "1", "top searches: возврат товара")
    eq(searches.get("опт аут"), "2", "top searches: the ones without a visit")
    eq(as_dict(t["zero"]), {"фыва пролдж": "2"} if "не приходит смс код" not in as_dict(t["zero"])
       else {"фыва пролдж": "2", "не приходит смс код": "1"}, "zero-result searches")
    noclick = as_dict(t["noclick"])
    eq(noclick.get("пароль"), "1", f"no click: {noclick}")
    check("возврат товара" not in noclick or noclick["возврат товара"] == "0", f"a clicked search: {noclick}")
    eq(as_dict(t["requested"]), {"не приходит смс код": "1"}, "searches followed by a request")
    views = as_dict(t["views"], 1)
    eq(views.get("cancel-order"), "3", f"views (two from the page cache): {views}")
    eq(views.get("password-reset"), "1", "views in a visit")
    check("no-such-article" not in views, "a made-up slug is not counted")
    unhelpful = {r[1]: (r[2], r[3], r[4]) for r in t["unhelpful"][1:]}
    eq(unhelpful.get("cancel-order"), ("2", "0", "2"), "least helpful: no, yes, comments")
    defl = as_dict(t["deflection"])
    eq(defl["Начато форм обращения"], "3", "forms started (the form's GET: 3)")
    eq(defl["Решено подсказкой"], "1", "deflections")
    eq(defl["Доля, %"], "33.3", "the deflection rate")
    topics = as_dict(t["topics"], 1)
    eq(topics, {"payouts": "2", "registration": "1", "other": "1"}, "requests by topic")
    countries = as_dict(t["countries"], 1)
    eq(countries, {"RU": "2", "KZ": "1", "BY": "1"}, "requests by country")
    # The first article next after visit A's unclicked searches is on the gaps page.
    g = ed.get("/desk/gaps")
    eq(g.status, 200, "gaps page")
    valid_html(g, "the gaps page")
    sec = re.search(r'<section class="gap" data-query="фыва пролдж">(.*?)</section>', g.text, re.S)
    check(sec, "the zero-result group on the gaps page")
    contains(sec.group(1), "«фыва пролдж» — 2 поиска", what="the group's count")
    contains(sec.group(1), "Открывали после поиска", 'href="/a/password-reset">Как восстановить пароль</a> (2)',
             what="opened next (after both searches of the group)")
    # Charts: valid XML, role="img", a <title>.
    n = svgs_ok(r.text, "insights")
    check(n >= 8, f"a chart per table with data: {n}")
    # Each CSV equals its table; formulas guarded.
    for table, rows in t.items():
        got = csv_rows(ed, table)
        want = [[("'" + c) if c[:1] in ("=", "+", "-", "@") else c for c in row] for row in rows]
        eq(got, want, f"{table}.csv equals the table")
    raw = ed.get("/desk/insights/views.csv?days=30").text
    contains(raw, "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\") <script>alert(1)</script>\"",
             what="the guarded formula")
    lacks(r.text, "<script>alert", what="the insights page (the title escaped in the table and the chart)")
    contains(r.text, "&lt;script&gt;alert(1)", what="the escaped title")
    eq(ed.get("/desk/insights/nothing.csv").status, 404, "an unknown table")
    # The days filter: everything moved 10 days back is in 30 days, not in 7.
    db = s.db()
    now = int(time.time())
    day10 = time.strftime("%Y-%m-%d", time.gmtime(now - 10 * 86400))
    db.execute("UPDATE search_log SET at = at - ?", (10 * 86400,))
    db.execute("UPDATE insight_counts SET day = ?", (day10,))
    db.execute("UPDATE requests SET created = created - ?", (10 * 86400,))
    db.execute("UPDATE deflections SET at = at - ?", (10 * 86400,))
    db.execute("UPDATE article_feedback SET day = ?", (day10,))
    t7 = tables(page(ed, 7).text)
    eq(list(t7), ["deflection"], "nothing in the last 7 days but the deflection table")
    eq(as_dict(t7["deflection"]), {"Начато форм обращения": "0", "Решено подсказкой": "0", "Доля, %": "—"},
       "the deflection of 7 days")
    contains(page(ed, 7).text, "Аналитика за 7 дней", "Нет данных за этот период", what="7 days")
    eq(csv_rows(ed, "searches", 7), [["Запрос", "Поисков"]], "the CSV of 7 days: the header only")
    t30 = tables(page(ed, 30).text)
    eq(as_dict(t30["searches"]).get("фыва пролдж"), "2", "30 days")
    eq(as_dict(t30["topics"], 1), topics, "30 days: topics")
    eq(tables(page(ed, 90).text)["views"], t["views"], "90 days")
    eq(tables(page(ed).text)["views"], t["views"], "30 by default")
    # Editors only: an agent gets 403, anonymous the login page.
    ag = Agent(s, "ivan")
    for path in ("/desk/insights", "/desk/insights/zero.csv", "/desk/gaps"):
        eq(ag.get(path).status, 403, f"an agent on {path}")
        to_login(s.req(path), path, f"anonymous on {path}")
    lacks(ag.get("/desk").text, 'href="/desk/insights"', what="an agent's navigation")
    s.stop()


def gaps_post(ed, want, **data):
    r = ed.post("/desk/gaps", data)
    eq(r.status, want, f"POST /desk/gaps {data}: {r.text[:300]}")
    return r


def finds(s, q, slug):
    """Whether the query finds slug both on /search and through /api/v1/search."""
    api = s.req("/api/v1/search?" + urlencode({"q": q}))
    in_api = api.status == 200 and any(x["slug"] == slug for x in api.json()["results"])
    page_ = s.req("/search?" + urlencode({"q": q}))
    return in_api and page_.status == 200 and f'href="/a/{slug}?' in page_.text


@test("gaps: a zero-result query attached as keywords to an article (a published revision with its audit "
      "entries) then finds it on /search and /api/v1/search; the same through the synonym list (kept in the "
      "database, exported); bad input 422 with the text kept")
def _():
    s = server("gaps")
    account(s, "olga", "editor")
    tok = token_add(s, "olga")
    q = "квакозябра"
    search(s, q)
    ed = Agent(s, "olga", role_page="/desk/articles")
    g = wait_for(lambda: (p := ed.get("/desk/gaps")).status == 200 and f'data-query="{q}"' in p.text and p, 5,
                 "the query on the gaps page")
    valid_html(g, "gaps")
    check(not finds(s, q, "password-reset"), "not found before")
    r = gaps_post(ed, 303, do="keywords", query=q, slug="password-reset", days="30")
    eq(r.header("location"), "/desk/gaps?days=30&done=published", "redirect")
    contains(ed.get(r.header("location")).text, "статья опубликована", what="the notice")
    wait_for(lambda: finds(s, q, "password-reset"), 5, "the query finds the article")
    revs = s.req("/api/v1/articles/password-reset/revisions", headers={"Authorization": f"Bearer {tok}"}).json()
    eq((revs[0]["status"], revs[0]["author"]), ("published", "olga"), "the newest revision")
    contains(revs[0]["message"], q, what="the revision's message")
    audit = s.db().query("SELECT action, detail FROM content_audit WHERE slug = ? ORDER BY id", ("password-reset",))
    actions = [x[0] for x in audit]
    for act in ("draft", "gap-keywords", "publish"):
        check(act in actions, f"audit {act}: {audit}")
    # Again: nothing changes.
    r = gaps_post(ed, 303, do="keywords", query=q, slug="password-reset", days="30")
    eq(r.header("location"), "/desk/gaps?days=30&done=already", "already a keyword")
    # Synonyms: a made-up word as a synonym of a word the article uses.
    w = "шмурдякус"
    search(s, w)
    check(not finds(s, w, "password-reset"), "the synonym's query finds nothing before")
    r = gaps_post(ed, 303, do="synonyms", query=w, word="пароль", days="7")
    eq(r.header("location"), "/desk/gaps?days=7&done=synonyms", "redirect")
    wait_for(lambda: finds(s, w, "password-reset"), 5, "the synonym finds the article")
    check(s.db().query("SELECT 1 FROM content_audit WHERE action = ? AND detail = ?", ("synonyms", f"{w}, пароль")),
          "the synonyms' audit entry")
    syn = s.db().query("SELECT value FROM meta WHERE key = ?", ("synonyms",))[0][0]
    contains(syn, f"{w}, пароль", what="the stored synonym list")
    out = new_dir("gaps-export")
    rc, _, err = spravka("export", out, "--data", s.data)
    eq(rc, 0, f"export: {err}")
    with open(os.path.join(out, "synonyms.txt"), encoding="utf-8") as f:
        contains(f.read(), "пароль, доступ, вход", f"{w}, пароль", what="the exported synonyms.txt")
    with open(os.path.join(out, "password-reset.md"), encoding="utf-8") as f:
        contains(f.read(), q, what="the exported article's keywords")
    # Bad input: 422 inside the desk, the typed text kept.
    r = gaps_post(ed, 422, do="keywords", query="раз, два", slug="password-reset")
    contains(r.text, "запятая", 'value="раз, два"', what="a comma in the query")
    valid_html(r, "the gaps page with a refused form")
    r = gaps_post(ed, 422, do="keywords", query="хорошо", slug="Bad Slug")
    contains(r.text, "Укажите адрес статьи", 'value="Bad Slug"', what="a bad slug")
    r = gaps_post(ed, 422, do="keywords", query="хорошо", slug="no-such-article")
    contains(r.text, "Такой статьи нет", what="a missing article")
    r = gaps_post(ed, 422, do="synonyms", query="хорошо", word="")
    contains(r.text, "Слово из статьи", what="an empty synonym")
    r = gaps_post(ed, 422, do="keywords", query="я" * 201, slug="password-reset")
    contains(r.text, "до 200 знаков", what="a long query")
    eq(ed.post("/desk/gaps", {"do": "keywords", "query": q, "slug": "password-reset", "csrf": "x"}).status, 403,
       "a wrong CSRF token")
    s.stop()


@test("gaps: with [editors] require_review = 1 the keywords wait in review; another editor publishes them and "
      "the query then finds the article")
def _():
    s = server("gaps-review", editors={"require_review": "1"})
    account(s, "olga", "editor")
    account(s, "petr", "editor")
    q = "зюзюкалка"
    ed = Agent(s, "olga", role_page="/desk/articles")
    r = gaps_post(ed, 303, do="keywords", query=q, slug="cancel-order")
    eq(r.header("location"), "/desk/gaps?days=30&done=review", "in review")
    time.sleep(0.5)
    check(not finds(s, q, "cancel-order"), "not found while in review")
    p = Agent(s, "petr", role_page="/desk/articles")
    r = p.post("/desk/articles/cancel-order", {"do": "publish"})
    eq(r.status, 303, f"publish by another editor: {r.text[:300]}")
    wait_for(lambda: finds(s, q, "cancel-order"), 5, "found after the review")
    s.stop()
