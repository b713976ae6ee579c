"""End-to-end tests of issue #8, the page cache with a byte budget: many more pages than
`[limits] cache_mb` holds are all answered right while the cache stays within its budget (seen
in /metrics), the gzip form is made lazily and equals the identity body, 304s work with either
form's ETag, answers that do not depend on the country are stored once, and the deprecated
`cache_entries` still starts.

Imported by run.py; registers its tests with the shared runner. Every test starts its own
server on a fresh data directory.
"""

import gzip
import os
import random
import re
import time

from harness import Fail, Server, base_config, check, contains, eq, get_request, new_dir, no_5xx, spravka, test

PAGES = 240  # articles of the bulk content: about 2.5 MB of cached pages, over a 1 MB budget


def bulk_content():
    """A content directory of PAGES articles, each with a marker of its own and ~3 KB of text."""
    d = new_dir("cache-content")
    with open(os.path.join(d, "sections"), "w", encoding="utf-8") as f:
        f.write("bulk | Массовый раздел | 1 | Много статей для проверки кэша\n")
    rnd = random.Random(8)
    words = ["регистрация", "кабинет", "выплата", "заказ", "пароль", "документ", "страна", "бонус",
             "структура", "верификация", "доставка", "оплата", "партнёр", "договор"]
    for i in range(PAGES):
        text = " ".join(rnd.choice(words) for _ in range(300))
        with open(os.path.join(d, f"bulk-{i}.md"), "w", encoding="utf-8") as f:
            f.write(f"---\nslug: bulk-{i}\ntitle: Статья номер {i}\nsection: bulk\n"
                    f"summary: Проверка кэша {i}.\nupdated: 2026-01-01\n---\n"
                    f"Маркер страницы bulk-{i}-конец.\n\n{text}\n")
    return d


def server(name, content=None, **limits):
    cfg = base_config(limits=limits)
    if content:
        cfg["site"]["content_dir"] = content
    return Server("cache-" + name, cfg).start()


def metrics(s):
    r = s.req("/metrics")
    eq(r.status, 200, "status of /metrics")
    out = {}
    for m in re.finditer(r"(?m)^spravka_page_cache_(\w+) (\d+)$", r.text):
        out[m.group(1)] = int(m.group(2))
    for k in ("bytes", "budget_bytes", "entries", "hits_total", "misses_total", "evictions_total", "gzip_total"):
        check(k in out, f"/metrics lacks spravka_page_cache_{k}")
    return out


def finish(s):
    rc, _ = s.stop()
    if rc != 0:  # the server's last words, to find out why (a libmicrohttpd panic says so there)
        with open(s.errpath, encoding="utf-8", errors="replace") as f:
            raise Fail(f"{s.name}: exit code {rc}; stderr ends: {f.read()[-600:]!r}")
    no_5xx(s)


@test("page cache: pages beyond cache_mb are all answered with their own body; bytes stay within the budget")
def _():
    s = server("budget", bulk_content(), cache_mb=1)
    try:
        order = list(range(PAGES)) * 3
        random.Random(1).shuffle(order)
        for n, i in enumerate(order):
            r = s.req(f"/a/bulk-{i}", gzip=(n % 2 == 0))
            eq(r.status, 200, f"status of /a/bulk-{i}")
            body = gzip.decompress(r.body) if r.header("content-encoding") == "gzip" else r.body
            contains(body.decode(), f"Маркер страницы bulk-{i}-конец.", what=f"/a/bulk-{i}")
            if n % 97 == 0:
                m = metrics(s)
                check(m["bytes"] <= m["budget_bytes"], f"{m['bytes']} bytes over the budget {m['budget_bytes']}")
        m = metrics(s)
        eq(m["budget_bytes"], 1 << 20, "the budget is cache_mb")
        check(m["bytes"] <= 1 << 20, f"{m['bytes']} bytes in a 1 MB cache")
        check(m["evictions_total"] > 0, "nothing was evicted")
        # evicted a few at a time: the cache stays nearly full, never emptied at once
        check(m["bytes"] >= (1 << 20) // 2, f"only {m['bytes']} bytes held after the run")
        check(m["entries"] >= 20, f"only {m['entries']} entries held")
        check(m["hits_total"] > 0, "no hit at all")
    finally:
        finish(s)


@test("page cache: gzip made lazily on a later hit, equal to the identity body; 304 with either ETag; HEAD")
def _():
    s = server("gzip")
    try:
        path = "/a/password-reset"
        before = metrics(s)["gzip_total"]
        first = s.req(path, gzip=True)  # a miss: rendered and stored identity-only
        eq(first.status, 200, "first answer")
        eq(first.header("content-encoding"), None, "Content-Encoding of the first answer (not compressed on insert)")
        z = s.req(path, gzip=True)  # a hit: compressed now, once
        eq(z.header("content-encoding"), "gzip", "Content-Encoding of the second answer")
        plain = s.req(path)
        eq(gzip.decompress(z.body), plain.body, "gunzipped body vs the identity body")
        eq(first.body, plain.body, "the first (identity) answer vs a later one")
        for r in (z, plain):
            check("accept-encoding" in (r.header("vary") or "").lower(), f"Vary {r.header('vary')!r}")
        etag, zetag = plain.header("etag"), z.header("etag")
        check(re.fullmatch(r'"[0-9a-f]{16}"', etag or ""), f"identity ETag {etag!r}")
        eq(zetag, etag[:-1] + '-gz"', "the gzip ETag is the identity's (same content) marked -gz")
        for _ in range(5):
            eq(s.req(path, gzip=True).header("etag"), zetag, "ETag of later gzip answers")
        eq(metrics(s)["gzip_total"] - before, 1, "gzip forms made for one page read 7 times")
        # 304: a client holding either form revalidates with its ETag, gzip accepted or not
        for ae in (True, False):
            for tag in (etag, zetag):
                r = s.req(path, gzip=ae, headers={"If-None-Match": tag})
                if tag == zetag and not ae:
                    eq(r.status, 200, "the gzip ETag from a client that no longer accepts gzip")
                    continue
                eq(r.status, 304, f"If-None-Match {tag} (gzip accepted: {ae})")
                eq(r.body, b"", "body of the 304")
                eq(r.header("etag"), tag, "ETag of the 304")
        # a revalidation of the gzip form needs no gzip form: none is made for a 304
        other = s.req("/a/taxes")
        made = metrics(s)["gzip_total"]
        ztag = other.header("etag")[:-1] + '-gz"'
        r = s.req("/a/taxes", gzip=True, headers={"If-None-Match": ztag})
        eq((r.status, r.header("etag")), (304, ztag), "gzip revalidation of a page with no gzip form yet")
        eq(metrics(s)["gzip_total"], made, "gzip forms made for a 304")
        # HEAD: the headers of GET, no body, for both forms
        for extra in (b"", b"Accept-Encoding: gzip\r\n"):
            g = s.raw(get_request(path, extra))
            h = s.raw(get_request(path, extra).replace(b"GET ", b"HEAD ", 1))
            eq(h.status, 200, "HEAD status")
            eq(h.body, b"", "HEAD body")
            for k in ("etag", "content-encoding", "content-length", "vary", "content-type"):
                eq(h.header(k), g.header(k), f"HEAD header {k} ({extra!r})")
    finally:
        finish(s)


@test("page cache: answers that do not depend on the country are stored once; pages once per country")
def _():
    s = server("country")
    try:
        m0 = metrics(s)["entries"]
        for cc in ("RU", "KZ", "DE", "BY"):
            for path in ("/api/v1/sections", "/api/v1/sections/payouts", "/static/style.css"):
                r = s.req(path, cookie=f"country={cc}")
                eq(r.status, 200, f"{path} for {cc}")
            eq(s.req(f"/api/v1/sections?country={cc}").status, 200, f"/api/v1/sections?country={cc}")
        m1 = metrics(s)
        eq(m1["entries"] - m0, 3, "entries for three country-independent answers read by four countries")
        # an HTML page names the reader's country (the selector): one copy per country read
        for cc in ("RU", "KZ", "DE"):
            r = s.req("/s/payouts", cookie=f"country={cc}")
            sel = re.findall(r'<option value="(\w\w)" selected>', r.text)
            eq(sel, [cc], f"selected country on /s/payouts for {cc}")
        eq(metrics(s)["entries"] - m1["entries"], 3, "entries of /s/payouts read by three countries")
    finally:
        finish(s)


@test("page cache: cache_mb = 0 turns it off; an old config with cache_entries still starts (a cap)")
def _():
    s = server("off", cache_mb=0)
    try:
        for _ in range(3):
            r = s.req("/a/password-reset")
            eq(r.status, 200, "status without a cache")
            n = s.req("/a/password-reset", headers={"If-None-Match": r.header("etag")})
            eq(n.status, 304, "304 without a cache")
        m = metrics(s)
        eq((m["entries"], m["bytes"], m["hits_total"], m["budget_bytes"]), (0, 0, 0, 0), "entries, bytes, hits, budget")
    finally:
        finish(s)
    s = server("entries", cache_entries=3)
    try:
        check("cache_entries is deprecated" in s.log(), "no deprecation notice for cache_entries")
        for slug in ("password-reset", "taxes", "payout-setup", "first-login", "cancel-order"):
            for _ in range(2):
                eq(s.req(f"/a/{slug}").status, 200, f"/a/{slug}")
        m = metrics(s)
        check(0 < m["entries"] <= 3, f"{m['entries']} entries with cache_entries = 3")
        eq(m["budget_bytes"], 256 << 20, "the default budget")
    finally:
        finish(s)
    s = server("entries0", cache_entries=0)
    try:
        eq(s.req("/a/taxes").status, 200, "/a/taxes")
        eq(s.req("/a/taxes").status, 200, "/a/taxes again")
        eq(metrics(s)["entries"], 0, "entries with the old cache_entries = 0 (cache off)")
    finally:
        finish(s)


@test("page cache: a content change empties it; the new content is served")
def _():
    content = bulk_content()
    s = server("refresh", content)
    try:
        for i in range(20):
            s.req(f"/a/bulk-{i}")
        check(metrics(s)["entries"] >= 20, "pages not cached")
        with open(os.path.join(content, "bulk-3.md"), encoding="utf-8") as f:
            text = f.read()
        with open(os.path.join(content, "bulk-3.md"), "w", encoding="utf-8") as f:
            f.write(text.replace("Маркер страницы bulk-3-конец.", "Новый текст bulk-3."))
        rc, out, err = spravka("import", content, "--data", s.data, "--config", s.config)
        eq(rc, 0, f"import: {err}")
        body = ""
        for _ in range(50):
            body = s.req("/a/bulk-3").text
            if "Новый текст bulk-3." in body:
                break
            time.sleep(0.1)
        contains(body, "Новый текст bulk-3.", what="/a/bulk-3 after the import")
        check(metrics(s)["entries"] < 20, "the cache was not emptied by the content change")
    finally:
        finish(s)

