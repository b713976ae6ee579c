"""End-to-end tests of issue #9's statement counters: /metrics counts the database statements each
request ran, by route and page-cache outcome (spravka_db_statements_total over
spravka_db_requests_total), a request creation's transaction on the group committer included.
A cached article page must run none; make bench-scale reads the same
counters to report the database round trips per page type.

Imported by run.py; registers its tests with the shared runner. Runs on both engines.
"""

import os
import re
import shutil
from urllib.parse import urlencode

from harness import (CONTENT, Server, base_config, check, demo_articles, eq, finish, new_dir, spravka, test,
                     wait_for)
from requests_tests import fields, post_json

LINE = re.compile(r'(?m)^spravka_db_(statements|requests)_total\{route="([^"]*)",method="(\w+)",cache="(\w+)"\} (\d+)$')


def counters(s):
    """{(kind, route, method, cache): value}."""
    r = s.req("/metrics")
    eq(r.status, 200, "status of /metrics")
    return {(m[1], m[2], m[3], m[4]): int(m[5]) for m in LINE.finditer(r.text)}


def delta(after, before, kind, route, cache, method="GET"):
    k = (kind, route, method, cache)
    return after.get(k, 0) - before.get(k, 0)


@test("db statements: a cached article page runs none, an uncached one some; /metrics counts both")
def _():
    s = Server("statements", base_config()).start()
    slug = sorted(demo_articles()[0])[0]
    m0 = counters(s)
    eq(s.req(f"/a/{slug}").status, 200, f"first GET /a/{slug}")
    m1 = counters(s)
    eq(delta(m1, m0, "requests", "/a/{slug}", "miss"), 1, "uncached article requests counted")
    check(delta(m1, m0, "statements", "/a/{slug}", "miss") >= 1, "an uncached article ran no statement")
    for _ in range(20):
        eq(s.req(f"/a/{slug}").status, 200, f"GET /a/{slug} again")
    m2 = counters(s)
    eq(delta(m2, m1, "requests", "/a/{slug}", "hit"), 20, "cached article requests counted")
    eq(delta(m2, m1, "statements", "/a/{slug}", "hit"), 0, "statements of 20 cached article pages")
    eq(delta(m2, m1, "requests", "/a/{slug}", "miss"), 0, "misses after the page was cached")
    # /metrics runs on a back-office thread: its statements are counted there (at least the
    # article count it reports).
    check(delta(m2, m1, "statements", "/metrics", "none") >= 1, "the back office's statements were not counted")
    finish(s)


@test("db statements: a request creation counts the statements of its transaction on the group committer")
def _():
    s = Server("statements-create", base_config()).start()
    m0 = counters(s)
    eq(post_json(s, fields()).status, 201, "status of the creation")
    m1 = counters(s)
    eq(delta(m1, m0, "requests", "/api/v1/requests", "none", "POST"), 1, "creations counted")
    # the checks on the HTTP thread, then on the group committer BEGIN, the job's savepoint, its
    # inserts (request, count, message, throttles...), RELEASE and COMMIT
    n = delta(m1, m0, "statements", "/api/v1/requests", "none", "POST")
    check(n >= 10, f"statements of one creation: {n}")
    finish(s)


@test("db statements: the search page reads its section filter from memory: no statement per search "
      "once read, and a renamed section shows after the content changes")
def _():
    s = Server("statements-search", base_config()).start()
    eq(s.req("/search?" + urlencode({"q": "пароль"})).status, 200, "first search")
    # A request is counted when it completes, which may follow its answer: wait for the first.
    m0 = wait_for(lambda: (m := counters(s)).get(("requests", "/search", "GET", "none"), 0) >= 1 and m, 5,
                  "the first search counted")
    for q in ("пароль", "выплата", "доставка заказа", "фывапролдж"):
        r = s.req("/search?" + urlencode({"q": q}))
        eq(r.status, 200, f"search {q}")
        check('<select id="section-filter"' in r.text, f"the section filter of {q}")
    r = s.req("/search?" + urlencode({"q": "пароль", "section": "account"}))
    check('<option value="account" selected>' in r.text, "the chosen section is selected")
    m1 = counters(s)
    eq(delta(m1, m0, "requests", "/search", "none"), 5, "searches counted")
    eq(delta(m1, m0, "statements", "/search", "none"), 0, "statements of 5 searches")
    # A section renamed by an import: the filter follows the content version.
    content = os.path.join(new_dir("statements-content"), "content")
    shutil.copytree(CONTENT, content)
    path = os.path.join(content, "sections")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace("| Личный кабинет |", "| Кабинет участника |"))
    rc, _, err = spravka("import", content, "--data", s.data)
    eq(rc, 0, f"import: {err}")
    wait_for(lambda: "Кабинет участника" in s.req("/search?" + urlencode({"q": "пароль"})).text, 5,
             "the renamed section in the search page's filter")
    finish(s)
