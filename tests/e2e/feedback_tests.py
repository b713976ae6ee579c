"""End-to-end tests of issue #10's feedback on articles: «Была ли статья полезной? Да / Нет» under
every article, POST /feedback/{slug} with the browser's id cookie, one vote per browser, article
and day, the comment after «Нет», and the editors' counts (GET /api/v1/insights/articles).

Imported by run.py; runs on both engines.
"""

import re
from urllib.parse import urlencode

from desk_tests import account, avoid_window_edge, server, valid_html
from editors_tests import token_add
from harness import check, contains, eq, test

SLUG = "cancel-order"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def vote(s, slug, cookie=None, **fields):
    return s.req(f"/feedback/{slug}", method="POST", headers=FORM, body=urlencode(fields).encode(), cookie=cookie)


def counts(s, token, query="days=30"):
    r = s.req("/api/v1/insights/articles?" + query, headers={"Authorization": f"Bearer {token}"})
    eq(r.status, 200, f"insights/articles: {r.text[:200]}")
    return r.json()


def stored(s, slug):
    return s.db().query("SELECT helpful, comment, voter FROM article_feedback WHERE slug = ? ORDER BY id", (slug,))


@test("feedback: the article page carries the same form for everyone and stays cached; «Да» thanks and "
      "sets the browser's id cookie; a second vote the same day replaces the first; «Нет» asks «Чего не "
      "хватило?» and keeps the comment escaped; the editors' API counts per article, least helpful first")
def _():
    s = server("feedback")
    account(s, "olga", "editor")
    account(s, "ivan", "agent")
    t = token_add(s, "olga")
    a1 = s.req(f"/a/{SLUG}")
    eq(a1.status, 200, "the article")
    valid_html(a1, "the article with the feedback form")
    contains(a1.text, "Была ли статья полезной?", what="the article")
    contains(a1.text, f'<form method="post" action="/feedback/{SLUG}">', what="the form")
    contains(a1.text, '<button type="submit" name="helpful" value="no">Нет</button>', what="the form")
    check("no-store" not in (a1.header("cache-control") or ""), f"the article stays cacheable: "
          f"{a1.header('cache-control')}")
    # «Да» from a new browser: thanks, a cookie that is HttpOnly, SameSite=Lax, only for /feedback/.
    r = vote(s, SLUG, helpful="yes")
    eq(r.status, 200, f"vote yes: {r.text[:300]}")
    valid_html(r, "the thanks page")
    contains(r.text, "Спасибо за отзыв!", what="thanks")
    contains(r.header("cache-control") or "", "no-store", what="the POST's answer")
    sc = r.header("set-cookie") or ""
    m = re.match(r"feedback_id=([0-9a-f]{32});", sc)
    check(m, f"the browser's id cookie: {sc!r}")
    for part in ("Path=/feedback/", "HttpOnly", "SameSite=Lax"):
        contains(sc, part, what="the cookie")
    check("Secure" not in sc, "no Secure without [server] secure_cookies")
    cookie = f"feedback_id={m.group(1)}"
    rows = stored(s, SLUG)
    eq(len(rows), 1, "one vote stored")
    check(m.group(1) not in str(rows) and "127.0.0.1" not in str(rows), f"neither the id nor an address: {rows}")
    # The same browser votes again: replaced, not added; no new cookie.
    r = vote(s, SLUG, cookie=cookie, helpful="yes")
    eq(r.status, 200, "the same vote again")
    eq(r.header("set-cookie"), None, "the cookie is kept")
    eq(len(stored(s, SLUG)), 1, "a second vote the same day does not count twice")
    # It changes its mind: «Нет» replaces «Да» and asks what was missing.
    r = vote(s, SLUG, cookie=cookie, helpful="no")
    eq(r.status, 200, "vote no")
    valid_html(r, "the comment form")
    contains(r.text, "Чего не хватило?", what="after «Нет»")
    contains(r.text, f'action="/feedback/{SLUG}"', what="the comment form")
    eq([int(x[0]) for x in stored(s, SLUG)], [0], "the changed mind replaces")
    payload = '<script>alert(1)</script> нет шага про "карту" & <img src=x onerror=alert(2)>'
    r = vote(s, SLUG, cookie=cookie, helpful="no", comment="  " + payload + "  ")
    eq(r.status, 200, "the comment")
    contains(r.text, "Ваш комментарий получен", what="after the comment")
    check("Чего не хватило?" not in r.text, "no second comment form")
    rows = stored(s, SLUG)
    eq((len(rows), int(rows[0][0]), rows[0][1]), (1, 0, payload), "the comment stored as typed, trimmed")
    # Another browser (no cookie) and another article.
    eq(vote(s, SLUG, helpful="no").status, 200, "another browser's no")
    eq(vote(s, "change-sponsor", helpful="yes").status, 200, "yes on another article")
    # The article page did not change: nothing per reader in it.
    a2 = s.req(f"/a/{SLUG}", cookie=cookie)
    eq(a2.body, a1.body, "the article page is the same for every reader after votes")
    got = counts(s, t)
    eq(got[0], {"slug": SLUG, "title": got[0]["title"], "yes": 0, "no": 2, "comments": 1},
       "the least helpful first")
    check(got[0]["title"], "the title")
    eq([g["slug"] for g in got], [SLUG, "change-sponsor"], "per article")
    eq((got[1]["yes"], got[1]["no"]), (1, 0), "the other article")
    # A vote on another day counts again (the stored day moved back one day by hand).
    s.db().execute("UPDATE article_feedback SET day = ? WHERE slug = ?", ("2000-01-01", "change-sponsor"))
    eq(vote(s, "change-sponsor", helpful="yes").status, 200, "a new browser")
    eq([g["slug"] for g in counts(s, t, "days=7")], [SLUG, "change-sponsor"], "old votes out of the window")
    eq(counts(s, t, "days=7")[1]["yes"], 1, "only this week's vote")
    # The API wants an editor's token.
    eq(s.req("/api/v1/insights/articles").status, 401, "no token")
    eq(s.req("/api/v1/insights/articles", headers={"Authorization": f"Bearer {token_add(s, 'ivan')}"}).status,
       403, "an agent's token")
    r = s.req("/api/v1/insights/articles?days=0", headers={"Authorization": f"Bearer {t}"})
    eq((r.status, r.json()["error"]["code"]), (400, "bad_days"), "days=0")
    s.stop()


@test("feedback: bad input — unknown article 404, a value other than yes/no 400, a comment over 500 "
      "characters refused in Russian with its text kept, a form from another site 403, GET 405; Secure "
      "cookie with secure_cookies")
def _():
    s = server("feedback-bad", server={"secure_cookies": "1"})
    for slug in ("no-such-article", "BAD_SLUG"):
        r = vote(s, slug, helpful="yes")
        eq(r.status, 404, f"unknown article {slug}")
        valid_html(r, "404")
    for fields in ({}, {"helpful": "maybe"}, {"helpful": ""}, {"helpful": "YES"}):
        r = vote(s, SLUG, **fields)
        eq(r.status, 400, f"bad value {fields}")
        contains(r.text, "выберите «Да» или «Нет»", what="the error")
        valid_html(r, "400")
    long = "я" * 500 + "<b>"
    r = vote(s, SLUG, helpful="no", comment=long)
    eq(r.status, 400, "a comment of 503 characters")
    valid_html(r, "the comment refused")
    contains(r.text, "Комментарий длиннее 500 символов (сейчас 503)", what="the error")
    contains(r.text, "я" * 500 + "&lt;b&gt;</textarea>", what="the text kept, escaped")
    contains(r.text, 'aria-invalid="true"', what="the field marked")
    eq(r.header("set-cookie"), None, "nothing stored, no cookie")
    eq(len(stored(s, SLUG)), 0, "nothing stored")
    r = vote(s, SLUG, helpful="no", comment="я" * 500)
    eq(r.status, 200, "exactly 500 characters")
    contains(r.header("set-cookie") or "", "; Secure", what="the cookie with secure_cookies")
    # A comment with «Да» is dropped.
    eq(vote(s, SLUG, helpful="yes", comment="лишнее").status, 200, "yes with a comment")
    eq(sorted(x[1] for x in stored(s, SLUG)), ["", "я" * 500], "no comment kept with yes")
    r = s.req(f"/feedback/{SLUG}", method="POST", body=b"helpful=yes",
              headers=dict(FORM, Origin="http://evil.example"))
    eq(r.status, 403, "a form from another site")
    eq(s.req(f"/feedback/{SLUG}").status, 405, "GET")
    s.stop()


def wilson_boost(yes, no, z=1.96, most=0.05):
    """search_feedback_boost (src/search/search.h), for the expected scores."""
    import math
    n = yes + no
    p = yes / n
    w = (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
    return 1 + most * min(max(2 * (w - 0.5), 0), 1)


@test("feedback: the votes reach the ranking when the index is made — a well-rated article's score "
      "grows by the bounded boost, a clearly better match stays first")
def _():
    s = server("feedback-rank")
    q = "/api/v1/search?" + urlencode({"q": "отменить заказ", "limit": 5})
    before = s.req(q).json()["results"]
    check(len(before) >= 2, f"two results at least: {before}")
    top, second = before[0], before[1]
    for _ in range(30):
        eq(vote(s, second["slug"], helpful="yes").status, 200, "a yes from a new browser")
    eq(vote(s, top["slug"], helpful="no").status, 200, "a no on the top result")
    s.stop()
    s.start()  # the index is made at start, with the votes
    after = {h["slug"]: h["score"] for h in s.req(q).json()["results"]}
    want = second["score"] * wilson_boost(30, 0)
    check(abs(after[second["slug"]] - want) <= 1e-3 * want, f"boosted: {after[second['slug']]} vs {want}")
    check(wilson_boost(30, 0) <= 1.05, "bounded")
    eq(after[top["slug"]], top["score"], "a no never lowers an article")
    if top["score"] > second["score"] * 1.05:
        eq(s.req(q).json()["results"][0]["slug"], top["slug"], "the clearly better match stays first")
    s.stop()


@test("feedback: votes from browsers without the cookie are limited per address (60 an hour: 429 in "
      "Russian after); a browser with its cookie still votes")
def _():
    s = server("feedback-limit")
    avoid_window_edge(3600, 30)  # the limit counts in clock hours: all 61 votes in one of them
    first = vote(s, SLUG, helpful="yes")
    eq(first.status, 200, "a first vote")
    m = re.search(r"feedback_id=([0-9a-f]+)", first.header("set-cookie") or "")
    check(m, "the browser's id cookie")
    for i in range(59):
        eq(vote(s, SLUG, helpful="yes").status, 200, f"new voter {i + 2}")
    r = vote(s, SLUG, helpful="yes")
    eq(r.status, 429, "the 61st new voter from one address within the hour")
    contains(r.text, "Слишком много отзывов", what="the 429 page")
    eq(vote(s, SLUG, cookie=f"feedback_id={m.group(1)}", helpful="no").status, 200, "a known browser")
    s.stop()
