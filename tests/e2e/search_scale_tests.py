"""End-to-end tests of search at scale (issue #8): the index follows content changes made by
`spravka import` while the server runs — from the change log, without a build from every
text — within 2 seconds; removed texts stop being found; snippets stay escaped HTML; /metrics
shows the index.

Imported by run.py; registers its tests with the shared runner.
"""

import os
import re
import shutil
import time
from urllib.parse import quote, urlencode

from harness import CONTENT, Server, base_config, check, eq, finish, new_dir, spravka, sql, test

WORD = "квазиротор"  # in no demo text


def api(s, q, **params):
    r = s.req("/api/v1/search?" + urlencode({"q": q, **params}))
    eq(r.status, 200, f"status for {q!r}")
    return r.json()


def metric(s, name):
    text = s.req("/metrics").text
    m = re.search(rf"^{name} (\d+)$", text, re.M)
    check(m, f"/metrics lacks {name}")
    return int(m.group(1))


def content_with(files):
    """A content directory: the demo's sections file and the given {name: text} files."""
    d = os.path.join(new_dir("scale-content"), "content")
    os.makedirs(d)
    shutil.copy(os.path.join(CONTENT, "sections"), d)
    for name, text in files.items():
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            f.write(text)
    return d


def demo(name):
    with open(os.path.join(CONTENT, name), encoding="utf-8") as f:
        return f.read()


def import_into(s, d):
    rc, out, err = spravka("import", d, "--data", s.data, "--config", s.config)
    eq(rc, 0, f"import exit code ({err.strip()})")


def wait_found(s, q, pred, limit=2.0, **params):
    """Seconds until pred(search result) holds; fails after limit seconds."""
    t0 = time.monotonic()
    while True:
        j = api(s, q, **params)
        if pred(j):
            return time.monotonic() - t0, j
        if time.monotonic() - t0 > limit:
            raise AssertionError(f"{q!r}: not as expected {limit} s after the import: {j}")
        time.sleep(0.02)


def slugs(j):
    return [x["slug"] for x in j["results"]]


@test("search at scale: an article changed by spravka import is found within 2 s, from the change log")
def _():
    s = Server("scale-change", base_config()).start()
    try:
        eq(api(s, WORD)["results"], [], "the word before the change")
        rebuilds = metric(s, "spravka_search_rebuilds_total")
        eq(rebuilds, 1, "builds from every text after start")
        text = demo("password-reset.md").rstrip("\n") + f"\n\nНовый способ: {WORD} в настройках.\n"
        import_into(s, content_with({"password-reset.md": text}))
        took, j = wait_found(s, WORD, lambda j: slugs(j)[:1] == ["password-reset"])
        check(took < 2.0, f"searchable after {took:.2f} s")
        check(f"<mark>{WORD}</mark>" in j["results"][0]["snippet"], f"snippet marks the word: {j}")
        # The rest of the index is intact, and it was an update, not a build from every text.
        eq(slugs(api(s, "забыл пароль"))[0], "password-reset", "an old query")
        eq(slugs(api(s, "как отменить заказ"))[0], "cancel-order", "another article")
        eq(metric(s, "spravka_search_rebuilds_total"), rebuilds, "builds from every text")
        check(metric(s, "spravka_search_updates_total") >= 1, "updates from the changed texts")
        eq(metric(s, "spravka_search_texts"), len(sql(s, "SELECT 1 FROM articles")), "texts in the index")
        check(metric(s, "spravka_search_index_bytes") > 100000, "index bytes")
        rows = sql(s, "SELECT slug, country FROM content_changes WHERE version = "
                      "(SELECT version FROM content_state)")
        eq(rows, [("password-reset", "")], "the change log of the last version")
        # The words the change took away are gone from that article.
        import_into(s, content_with({"password-reset.md": demo("password-reset.md")}))
        wait_found(s, WORD, lambda j: j["results"] == [])
    finally:
        finish(s)


@test("search at scale: a new article and a new variant are found; a removed variant is not")
def _():
    s = Server("scale-remove", base_config()).start()
    try:
        new = ("---\nslug: gift-card\ntitle: Подарочный сертификат\nsection: orders\n"
               "summary: Как активировать подарочный сертификат.\nupdated: 2026-11-01\ncountries:\n"
               "keywords:\nrelated:\n---\nВведите код сертификата в корзине.\n")
        general = demo("delivery-times.md")
        variant = demo("delivery-times.kz.md").rstrip("\n") + f"\n\nСлужба {WORD} доставляет в Алматы.\n"
        import_into(s, content_with({"gift-card.md": new, "delivery-times.md": general,
                                     "delivery-times.kz.md": variant,
                                     "delivery-times.ru.md": demo("delivery-times.ru.md"),
                                     "delivery-times.de.md": demo("delivery-times.de.md")}))
        wait_found(s, "подарочный сертификат", lambda j: slugs(j)[:1] == ["gift-card"])
        wait_found(s, WORD, lambda j: slugs(j) == ["delivery-times"], country="KZ")
        eq(api(s, WORD, country="RU")["results"], [], "another country's variant")
        # The KZ variant is left out of the next import of the article: it is removed.
        import_into(s, content_with({"delivery-times.md": general,
                                     "delivery-times.ru.md": demo("delivery-times.ru.md"),
                                     "delivery-times.de.md": demo("delivery-times.de.md")}))
        wait_found(s, WORD, lambda j: j["results"] == [], country="KZ")
        eq(sql(s, "SELECT count(*) FROM articles WHERE slug = 'delivery-times' AND country = 'KZ'"), [(0,)],
           "the variant is gone from the database")
        # A reader in KZ now sees the general text of the article.
        j = api(s, "сроки доставки", country="KZ")
        check("delivery-times" in slugs(j), f"the general text for KZ: {j}")
        eq(metric(s, "spravka_search_rebuilds_total"), 1, "builds from every text")
    finally:
        finish(s)


@test("search at scale: snippets of an updated article are escaped HTML with marks")
def _():
    s = Server("scale-escape", base_config()).start()
    try:
        text = demo("password-reset.md")
        text = re.sub(r"^summary: .*$", f"summary: Опасный <script>alert(1)</script> & {WORD} \"кавычки\"",
                      text, count=1, flags=re.M)
        import_into(s, content_with({"password-reset.md": text}))
        _, j = wait_found(s, WORD, lambda j: slugs(j)[:1] == ["password-reset"])
        snip = j["results"][0]["snippet"]
        eq(snip, f"Опасный &lt;script&gt;alert(1)&lt;/script&gt; &amp; <mark>{WORD}</mark> &quot;кавычки&quot;",
           "snippet")
        page = s.req("/search?" + urlencode({"q": WORD})).text
        check("<script>alert(1)" not in page, "raw markup on the results page")
        check(f"<mark>{WORD}</mark>" in page, "the mark on the results page")
    finally:
        finish(s)


@test("search at scale: a synonyms change is read by a build from every text")
def _():
    s = Server("scale-synonyms", base_config()).start()
    try:
        eq(api(s, WORD)["results"], [], "the word before the change")
        with open(os.path.join(CONTENT, "synonyms.txt"), encoding="utf-8") as f:
            syn = f.read()
        d = content_with({"synonyms.txt": syn + f"\n{WORD}, пароль\n"})
        import_into(s, d)
        wait_found(s, WORD, lambda j: "password-reset" in slugs(j))
        eq(metric(s, "spravka_search_rebuilds_total"), 2, "builds from every text")
        eq(sql(s, "SELECT slug FROM content_changes ORDER BY version DESC LIMIT 1"), [("",)],
           "the log says: everything")
    finally:
        finish(s)


@test("search at scale: a repeated search is answered from the kept answers, still logged each time; "
      "search_cache_mb = 0 keeps none")
def _():
    s = Server("scale-answers", base_config()).start()
    try:
        q = "как вернуть бракованный товар"
        first = api(s, q, country="KZ")
        hits = metric(s, "spravka_search_cache_hits_total")
        again = api(s, q, country="KZ")
        eq(again, first, "the kept answer is the answer")
        eq(metric(s, "spravka_search_cache_hits_total"), hits + 1, "the second search was a kept answer")
        check(metric(s, "spravka_search_cache_entries") >= 1, "answers kept")
        # Another country, section or page is another query.
        eq(api(s, q, country="RU")["results"] != [], True, "RU answers")
        eq(metric(s, "spravka_search_cache_hits_total"), hits + 1, "RU was not KZ's kept answer")
        r1 = s.req("/search?" + urlencode({"q": q}))
        r2 = s.req("/search?" + urlencode({"q": q}))
        eq((r1.status, r2.status), (200, 200), "the results page")
        eq(r2.text, r1.text, "the results page from a kept answer is the same page")
        # Each search is in the search log, kept answer or not (the log is written once a second).
        deadline = time.monotonic() + 5
        n = 0
        while time.monotonic() < deadline and n < 5:
            n = sql(s, "SELECT count(*) FROM search_log WHERE query LIKE '%бракованный%'")[0][0]
            time.sleep(0.2)
        eq(n, 5, "searches logged")
    finally:
        finish(s)
    s = Server("scale-no-answers", base_config(limits={"search_cache_mb": "0"})).start()
    try:
        api(s, "забыл пароль")
        api(s, "забыл пароль")
        eq(metric(s, "spravka_search_cache_hits_total"), 0, "no kept answers")
        eq(metric(s, "spravka_search_cache_bytes"), 0, "no memory")
    finally:
        finish(s)


@test("search page: 150 results give a bounded list of page links (first, last, two on each side, «…»), each "
      "with the query and section encoded")
def _():
    files = {f"many-{i:03d}.md": f"---\nslug: many-{i:03d}\ntitle: Статья {i:03d} про {WORD}\nsection: orders\n"
                                  f"updated: 2026-10-01\n---\nТекст про {WORD} номер {i}.\n" for i in range(150)}
    d = content_with(files)
    s = Server("search-pages", base_config(site={"content_dir": d})).start()
    q = f"{WORD} & «x»"

    def links(page, **extra):
        r = s.req("/search?" + urlencode({"q": q, "page": page, **extra}))
        eq(r.status, 200, f"page {page}")
        m = re.search(r'<nav class="pages"[^>]*>(.*?)</nav>', r.text, re.S)
        check(m, f"page {page}: no page links")
        got = re.findall(r'<a href="([^"]+)">(\d+)</a>|<span aria-current="page">(\d+)</span>|<span>(…)</span>',
                         m.group(1))
        return [(href, int(n)) if n else ("current", int(cur)) if cur else ("gap", 0) for href, n, cur, gap in got]

    enc = quote(q, safe="-_.~")
    got = links(8)
    eq([n if k != "gap" else "…" for k, n in got], [1, "…", 6, 7, 8, 9, 10, "…", 15], "the links of page 8")
    eq(got[0][0], f"/search?q={enc}&amp;page=1", "a link's address")
    eq([k for k, _ in got].count("current"), 1, "one current page")
    eq([n if k != "gap" else "…" for k, n in links(1)], [1, 2, 3, "…", 15], "the links of page 1")
    eq([n if k != "gap" else "…" for k, n in links(15)], [1, "…", 13, 14, 15], "the links of the last page")
    eq([n if k != "gap" else "…" for k, n in links(4)], [1, 2, 3, 4, 5, 6, "…", 15], "no gap before 2")
    got = links(3, section="orders")
    check(all(href.endswith(f"&amp;section=orders&amp;page={n}") for href, n in got if href not in ("current", "gap")),
          f"the section in every link: {got}")
    finish(s)
