"""End-to-end tests of issue #9's statement counters: /metrics counts the database statements each
request ran, by route and page-cache outcome (spravka_db_statements_total over
spravka_db_requests_total), a request creation's transaction on the group committer included.
A cached article page must run none; make bench-scale reads the same
counters to report the database round trips per page type.

Imported by run.py; registers its tests with the shared runner. Runs on both engines.
"""

import re

from harness import Server, base_config, check, demo_articles, eq, finish, test
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
