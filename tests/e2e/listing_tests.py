"""End-to-end tests of issue #8, "Listing pages that scale": the home page shows each section's
first [site] home_articles articles and «Все статьи раздела (N)»; section pages, /sections and the
section API paginate (?page=N, rel="next"/"prev", 404 past the end, 400 for a malformed page); the
page number is part of the page cache's key; and every listing a reader can request stays 200
and bounded in size however large a section grows.

Imported by run.py; registers its tests with the shared runner. Every test starts its own server
on a generated content directory (imported on start, like the demo content).
"""

import json
import os
import re
import time
from urllib.parse import quote

from harness import Server, base_config, check, contains, eq, new_dir, no_5xx, spravka, sql, test
from htmlcheck import Page, check_html

Q = "/search?q=" + quote("вопрос")
BAD_PAGES = ["abc", "0", "-1", "1e3", "+2", "02", "2.0", " 2", "", "99999999999999999999", "1000001"]


def title_of(sec, i):
    # Repeated titles (ties broken by slug) in an order unrelated to the slugs'.
    return f"{sec.capitalize()} вопрос {(i * 37) % 23:02d}"


def make_content(name, sections, variants_every=0):
    """sections: [(slug, n_articles)] in their order. Returns (dir, {section: [slugs in the
    editor's order]})."""
    d = new_dir(name)
    with open(os.path.join(d, "sections"), "w", encoding="utf-8") as f:
        for pos, (slug, _) in enumerate(sections, 1):
            f.write(f"{slug} | Раздел {slug} | {pos} | Описание раздела {slug}\n")
    order = {}
    for slug, n in sections:
        arts = []
        for i in range(n):
            a = f"{slug}-{i:05d}"
            title = title_of(slug, i)
            arts.append((title, a))
            head = f"slug: {a}\ntitle: {title}\nsection: {slug}\nsummary: Кратко о {a}\nupdated: 2026-10-01\n"
            with open(os.path.join(d, a + ".md"), "w", encoding="utf-8") as f:
                f.write(f"---\n{head}---\nТекст статьи {a}.\n")
            if variants_every and i % variants_every == 0:
                head = head.replace(f"title: {title}", f"country: KZ\ntitle: {title} (KZ)")
                with open(os.path.join(d, a + ".kz.md"), "w", encoding="utf-8") as f:
                    f.write(f"---\n{head}---\nТекст для Казахстана.\n")
        order[slug] = [a for _, a in sorted(arts)]
    return d, order


def server(name, content, **site):
    cfg = base_config(site={"content_dir": content, **{k: str(v) for k, v in site.items()}})
    return Server("listing-" + name, cfg).start(timeout=60)


def finish(s):
    rc, _ = s.stop()
    eq(rc, 0, f"{s.name}: exit code")
    no_5xx(s)


def article_links(page):
    return [h[3:] for h in page.hrefs() if h and h.startswith("/a/")]


def head_links(html, rel):
    head = html[:html.index("</head>")]
    return re.findall(rf'<link rel="{rel}" href="([^"]*)">', head)


def cards(page_html):
    """{section slug: (article slugs, text)} of the home page's cards."""
    out = {}
    for m in re.finditer(r'<section class="card">(.*?)</section>', page_html, re.S):
        body = m.group(1)
        sec = re.search(r'<h3><a href="/s/([^"]+)">', body).group(1)
        out[sec] = (re.findall(r'<li><a href="/a/([^"]+)">', body), Page(body).text)
    return out


# =============================================================================================
# The home page
# =============================================================================================


@test("listing: home shows each section's first home_articles in the editor's order and «Все статьи раздела (N)»")
def _():
    content, order = make_content("home", [("big", 30), ("small", 3), ("empty", 0)], variants_every=4)
    s = server("home", content, home_articles=5)
    r = s.req("/")
    eq(r.status, 200, "status of /")
    check(not check_html(r.text), "/ not well-formed: " + "; ".join(check_html(r.text)[:5]))
    got = cards(r.text)
    eq(list(got), ["big", "small", "empty"], "sections in their order")
    eq(got["big"][0], order["big"][:5], "the first 5 of big (title, then slug)")
    # 30 articles, 8 of them with a KZ variant: each article counts once.
    contains(got["big"][1], "Все статьи раздела (30)", what="card of big")
    eq(got["small"][0], order["small"], "all 3 of small")
    contains(got["small"][1], "Все статьи раздела (3)", what="card of small")
    eq(got["empty"][0], [], "articles of the empty section")
    check("Все статьи раздела" not in got["empty"][1], "an empty section links «Все статьи раздела»")
    p = Page(r.text)
    more = [e for e in p.find("a") if "Все статьи раздела" in e["text"]]
    eq([e["attrs"]["href"] for e in more], ["/s/big", "/s/small"], "targets of «Все статьи раздела»")
    # The KZ reader sees the same listing (the general titles) from the cache key of KZ.
    rk = s.req("/", cookie="country=KZ")
    eq(cards(rk.text)["big"][0], order["big"][:5], "first 5 for a KZ reader")
    finish(s)


@test("listing: [site] home_articles defaults to 8; home_articles and section_page_size out of range are refused")
def _():
    content, order = make_content("homecfg", [("big", 12)])
    s = server("homecfg", content)
    eq(cards(s.req("/").text)["big"][0], order["big"][:8], "default: the first 8")
    finish(s)
    for key, value in (("home_articles", 0), ("home_articles", 101), ("home_articles", "x"),
                       ("section_page_size", 9), ("section_page_size", 501)):
        d = new_dir("badcfg")
        path = os.path.join(d, "spravka.ini")
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"[site]\ncontent_dir = {content}\n{key} = {value}\n")
        rc, _, err = spravka("serve", "--data", os.path.join(d, "data"), "--config", path,
                             "--listen", "127.0.0.1:1", timeout=10)
        check(rc != 0, f"{key} = {value} was accepted")
        contains(err, f"{key}: expected an integer from", what=f"error for {key} = {value}")
    for key, value, n in (("home_articles", 1, 1), ("home_articles", 100, 12)):
        s = server("homecfg-" + str(value), content, **{key: value})
        eq(cards(s.req("/").text)["big"][0], order["big"][:n], f"{key} = {value}")
        finish(s)


# =============================================================================================
# Section pages
# =============================================================================================


def walk_html(s, path):
    """Follows rel="next" from path; returns [(url, response, page)]."""
    out, url = [], path
    while url:
        check(len(out) < 100, "more than 100 pages")
        r = s.req(url)
        eq(r.status, 200, f"status of {url}")
        out.append((url, r, Page(r.text)))
        nxt = head_links(r.text, "next")
        url = nxt[0] if nxt else None
    return out


@test("listing: /s/{section} paginates: stable order, no duplicates or gaps, rel next/prev, «Страница 2 из 4»")
def _():
    content, order = make_content("pages", [("big", 33), ("one", 10), ("empty", 0)], variants_every=5)
    s = server("pages", content, section_page_size=10)
    pages = walk_html(s, "/s/big")
    eq([u for u, _, _ in pages], ["/s/big", "/s/big?page=2", "/s/big?page=3", "/s/big?page=4"], "pages")
    seen = [a for _, _, p in pages for a in article_links(p)]
    eq(seen, order["big"], "articles over all pages (editor's order, each once)")
    eq([len(article_links(p)) for _, _, p in pages], [10, 10, 10, 3], "articles per page")
    for i, (url, r, p) in enumerate(pages, 1):
        problems = check_html(r.text)
        check(not problems, f"{url} not well-formed: " + "; ".join(problems[:5]))
        contains(p.text, f"Страница {i} из 4", what=url)
        prev = head_links(r.text, "prev")
        eq(prev, [] if i == 1 else ["/s/big" if i == 2 else f"/s/big?page={i - 1}"], f"rel=prev of {url}")
        nav = p.find("nav", cls="pager")
        check(nav, f"{url}: no pager")
        links = {e["attrs"].get("rel"): (e["attrs"]["href"], e["text"]) for e in p.find("a")
                 if e["attrs"].get("rel")}
        if i < 4:
            eq(links.get("next"), (f"/s/big?page={i + 1}", "Следующая страница"), f"<a rel=next> of {url}")
        else:
            check("next" not in links, f"the last page links a next page: {links}")
        if i > 1:
            eq(links.get("prev"), (prev[0], "Предыдущая страница"), f"<a rel=prev> of {url}")
        contains(p.text, "Статей в разделе: 33", what=url)
    # Page 1 with the parameter is page 1; other parameters change nothing.
    eq(s.req("/s/big?page=1").text, pages[0][1].text, "?page=1 vs no parameter")
    eq(s.req("/s/big?page=2&utm_source=x").text, pages[1][1].text, "?page=2&utm_source=x vs ?page=2")
    # One page exactly: no pager, no rel links; an empty section is one empty page.
    for path, n in (("/s/one", 10), ("/s/empty", 0)):
        r = s.req(path)
        eq(r.status, 200, f"status of {path}")
        eq(head_links(r.text, "next") + head_links(r.text, "prev"), [], f"rel links of {path}")
        check("Страница 1 из" not in r.text, f"{path} shows a pager")
        eq(len(article_links(Page(r.text))), n, f"articles of {path}")
    # Past the end: 404, in Russian; malformed: 400, in Russian, never cached.
    for path in ("/s/big?page=5", "/s/one?page=2", "/s/empty?page=2", "/s/big?page=1000000"):
        r = s.req(path)
        eq(r.status, 404, f"status of {path}")
        contains(r.text, "Такой страницы нет", what=path)
    for bad in BAD_PAGES:
        for path in (f"/s/big?page={bad}", f"/sections?page={bad}"):
            r = s.req(path.replace(" ", "%20"))
            eq(r.status, 400, f"status of {path!r}")
            contains(r.text, "Неверный номер страницы", what=path)
    for path in ("/s/big?page=2&page=3", "/s/big?page=1&page=1"):
        eq(s.req(path).status, 400, f"status of {path} (the parameter repeated)")
    finish(s)


@test("listing: the page cache keys the page: page 2 cached is never served for page 3; page 1 = no parameter")
def _():
    content, order = make_content("cache", [("big", 35)])
    s = server("cache", content, section_page_size=10)
    p2 = s.req("/s/big?page=2")
    eq(article_links(Page(p2.text)), order["big"][10:20], "page 2")
    p1 = s.req("/s/big")
    a2 = s.req("/api/v1/sections/big?page=2").json()
    eq([a["slug"] for a in a2["articles"]], order["big"][10:20], "API page 2")
    # Change a title behind the server's back (no content version change): what comes from the
    # cache keeps the old title, what is rendered anew shows the new one.
    old = sql(s, "SELECT title FROM articles WHERE slug = ?", order["big"][12])[0][0]
    for slug in (order["big"][0], order["big"][12], order["big"][22]):
        sql(s, "UPDATE articles SET title = title || ' ИЗМЕНЕНО' WHERE slug = ?", slug)
    r3 = s.req("/s/big?page=3")
    eq(article_links(Page(r3.text)), order["big"][20:30], "page 3 after page 2 was cached")
    contains(r3.text, "ИЗМЕНЕНО", what="page 3 (rendered, not page 2 from the cache)")
    for path in ("/s/big?page=2", "/s/big?page=2&utm=1&x=y"):
        r = s.req(path)
        eq(r.text, p2.text, f"{path}: the cached page 2")
        check(old in r.text and "ИЗМЕНЕНО" not in r.text, f"{path} was rendered again")
    for path in ("/s/big", "/s/big?page=1", "/s/big?utm=1"):
        eq(s.req(path).text, p1.text, f"{path}: the cached page 1")
    eq(s.req("/api/v1/sections/big?page=2&x=1").json(), a2, "the cached API page 2")
    check("ИЗМЕНЕНО" in s.req("/api/v1/sections/big?page=3").text, "API page 3 is not API page 2")
    finish(s)


# =============================================================================================
# The API
# =============================================================================================


@test("listing: /api/v1/sections/{slug} keeps its fields and adds page, pages, total, next and a Link header")
def _():
    content, order = make_content("api", [("big", 25), ("empty", 0)], variants_every=3)
    s = server("api", content, section_page_size=10)
    got, url, n = [], "/api/v1/sections/big", 0
    while url:
        n += 1
        check(n <= 10, "more than 10 pages")
        r = s.req(url)
        eq(r.status, 200, f"status of {url}")
        j = r.json()
        eq(set(j), {"slug", "title", "description", "position", "articles", "page", "pages", "total", "next"},
           f"keys of {url}")
        eq((j["slug"], j["title"], j["description"], j["position"]), ("big", "Раздел big", "Описание раздела big", 1),
           "section fields")
        eq((j["page"], j["pages"], j["total"]), (n, 3, 25), f"page, pages, total of {url}")
        for a in j["articles"]:
            eq(set(a), {"slug", "title", "summary", "updated", "url"}, f"keys of {a.get('slug')}")
            eq(a["url"], f"/a/{a['slug']}", "url")
            eq(a["summary"], f"Кратко о {a['slug']}", "summary")
        got += [a["slug"] for a in j["articles"]]
        want_next = f"/api/v1/sections/big?page={n + 1}" if n < 3 else None
        eq(j["next"], want_next, f"next of {url}")
        link = r.header("link") or ""
        if want_next:
            contains(link, f'<{want_next}>; rel="next"', what=f"Link of {url}")
        if n > 1:
            contains(link, '<%s>; rel="prev"' % ("/api/v1/sections/big" if n == 2 else
                                                  f"/api/v1/sections/big?page={n - 1}"), what=f"Link of {url}")
        url = j["next"]
    eq(got, order["big"], "articles over all pages")
    j = s.req("/api/v1/sections/empty").json()
    eq((j["articles"], j["page"], j["pages"], j["total"], j["next"]), ([], 1, 1, 0, None), "the empty section")
    for path in ("/api/v1/sections/big?page=4", "/api/v1/sections/empty?page=2"):
        r = s.req(path)
        eq(r.status, 404, f"status of {path}")
        eq(r.json()["error"]["code"], "not_found", f"code of {path}")
        contains(r.json()["error"]["message"], "Такой страницы нет", what=path)
    for bad in BAD_PAGES + ["2&page=3"]:
        path = "/api/v1/sections/big?page=" + bad.replace(" ", "%20")
        r = s.req(path)
        eq(r.status, 400, f"status of {path}")
        eq(r.json()["error"]["code"], "bad_page", f"code of {path}")
        check(re.search("[а-я]", r.json()["error"]["message"]), "the message is not Russian")
        eq(r.header("cache-control"), "no-store", f"Cache-Control of {path}")
    finish(s)


# =============================================================================================
# Many sections
# =============================================================================================


@test("listing: 120 sections: home shows 50 and «Все разделы (120)»; /sections and /api/v1/sections paginate")
def _():
    secs = [(f"s{i:03d}", 1 if i % 2 else 0) for i in range(120)]
    content, _ = make_content("many", secs)
    s = server("many", content, section_page_size=50, home_articles=3)
    r = s.req("/")
    eq(list(cards(r.text)), [slug for slug, _ in secs[:50]], "sections on the home page")
    p = Page(r.text)
    eq([e["attrs"]["href"] for e in p.find("a") if "Все разделы (120)" in e["text"]], ["/sections"],
       "link «Все разделы (120)»")
    seen = []
    for i, (url, r, p) in enumerate(walk_html(s, "/sections"), 1):
        contains(p.text, f"Страница {i} из 3", what=url)
        check(not check_html(r.text), f"{url} not well-formed")
        seen += [h[3:] for h in p.hrefs() if h and h.startswith("/s/")]
    eq(seen, [slug for slug, _ in secs], "sections over the pages of /sections")
    eq(s.req("/sections?page=4").status, 404, "status of /sections?page=4")
    j = s.req("/api/v1/sections").json()
    eq([x["slug"] for x in j], [slug for slug, _ in secs], "/api/v1/sections (one page of up to 1000)")
    eq([x["articles"] for x in j], [n for _, n in secs], "article counts")
    eq(s.req("/api/v1/sections?page=2").status, 404, "/api/v1/sections?page=2")
    eq(s.req("/api/v1/sections?page=x").json()["error"]["code"], "bad_page", "/api/v1/sections?page=x")
    # The search page's section filter names a bounded number of sections, but any section works.
    r = s.req(Q + "&section=s119")
    eq(r.status, 200, "search in the 120th section")
    contains(r.text, '<option value="s119" selected>', what="the chosen section in the filter")
    finish(s)


# =============================================================================================
# A section far larger than a page
# =============================================================================================


@test("listing: one section of 3,000 articles: every listing route answers 200 with a bounded size")
def _():
    n = 3000
    content, order = make_content("huge", [("huge", n), ("tiny", 2)])
    s = server("huge", content, section_page_size=10, home_articles=8)
    last = n // 10
    limits = {  # path -> the most bytes it may take (a few KB per listed item)
        "/": 32 * 1024,
        "/s/huge": 32 * 1024,
        f"/s/huge?page={last}": 32 * 1024,
        "/sections": 32 * 1024,
        "/api/v1/sections": 8 * 1024,
        "/api/v1/sections/huge": 16 * 1024,
        f"/api/v1/sections/huge?page={last}": 16 * 1024,
        Q + "": 64 * 1024,
        Q + "&page=100": 64 * 1024,
        "/api/v1/search?q=" + quote("вопрос") + "&limit=100": 96 * 1024,
        f"/a/{order['huge'][-1]}": 32 * 1024,
    }
    for path, most in limits.items():
        t0 = time.monotonic()
        r = s.req(path)
        eq(r.status, 200, f"status of {path}")
        check(len(r.body) <= most, f"{path}: {len(r.body)} bytes (at most {most})")
        check(time.monotonic() - t0 < 2, f"{path} took {time.monotonic() - t0:.2f} s")
    eq(article_links(Page(s.req(f"/s/huge?page={last}").text)), order["huge"][-10:], "the last page")
    eq(s.req(f"/s/huge?page={last + 1}").status, 404, "past the last page")
    j = s.req("/api/v1/sections/huge").json()
    eq((j["total"], j["pages"], len(j["articles"])), (n, last, 10), "API page 1 of the huge section")
    contains(s.req("/").text, f"Все статьи раздела ({n})", what="/")
    finish(s)


# =============================================================================================
# A member's thread
# =============================================================================================


@test("listing: a request's private page shows its latest 50 messages: 200 messages of 10,000 characters stay 200")
def _():
    s = Server("listing-thread", base_config()).start()
    body = {"member_id": "5550123", "name": "Иван Петров", "email": "ivan@example.com", "country": "RU",
            "topic": "payouts", "subject": "Длинная переписка",
            "description": "Выплата за октябрь не пришла на карту, прошло уже две недели."}
    r = s.req("/api/v1/requests", "POST", {"Content-Type": "application/json"},
              json.dumps(body, ensure_ascii=False).encode())
    eq(r.status, 201, f"creation ({r.body[:200]!r})")
    url = r.json()["url"]
    rid = sql(s, "SELECT id FROM requests")[0][0]
    # 200 replies of 10,000 characters that each escape to 60,000 bytes (about 12 MB in all,
    # past the 8 MiB response cap), then an internal note the member must not see or count.
    rows = [(rid, 0, f"ответ-{i:03d} " + '"' * 9990, 1700000000 + i) for i in range(200)]
    rows.append((rid, 1, "внутренняя-заметка", 1700001000))
    s.db().executemany("INSERT INTO messages(request_id, author, internal, body, created) "
                       "VALUES (?, 'agent', ?, ?, ?)", rows)
    r = s.req(url)
    eq(r.status, 200, "status of the private page")
    check(len(r.body) < 4 * 1024 * 1024, f"{len(r.body)} bytes")
    eq(r.text.count('<li class="msg '), 50, "messages shown")
    contains(r.text, "Показаны последние 50 сообщений из 201", "ответ-199", "ответ-150", what="the private page")
    check("ответ-149" not in r.text and "внутренняя-заметка" not in r.text, "an older message or the note is shown")
    finish(s)
