"""End-to-end tests of issue #9's statement counters: /metrics counts the database statements each
request ran, by route and page-cache outcome (spravka_db_statements_total over
spravka_db_requests_total), and those the group committer ran for request creations
(spravka_db_writer_*). A cached article page must run none; make bench-scale reads the same
counters to report the database round trips per page type.

Imported by run.py; registers its tests with the shared runner. Runs on both engines.
"""

import re

from harness import Server, base_config, check, demo_articles, eq, finish, test
from requests_tests import fields, post_json

LINE = re.compile(r'(?m)^spravka_db_(statements|requests)_total\{route="([^"]*)",method="(\w+)",cache="(\w+)"\} (\d+)$')


def counters(s):
    """{(kind, route, method, cache): value} and the writer's {batches, jobs, statements}."""
    r = s.req("/metrics")
    eq(r.status, 200, "status of /metrics")
    out = {(m[1], m[2], m[3], m[4]): int(m[5]) for m in LINE.finditer(r.text)}
    writer = {m[1]: int(m[2]) for m in re.finditer(r"(?m)^spravka_db_writer_(\w+)_total (\d+)$", r.text)}
    return out, writer


def delta(after, before, kind, route, cache, method="GET"):
    k = (kind, route, method, cache)
    return after.get(k, 0) - before.get(k, 0)


@test("db statements: a cached article page runs none, an uncached one some; /metrics counts both")
def _():
    s = Server("statements", base_config()).start()
    slug = sorted(demo_articles()[0])[0]
    m0, _ = counters(s)
    eq(s.req(f"/a/{slug}").status, 200, f"first GET /a/{slug}")
    m1, _ = counters(s)
    eq(delta(m1, m0, "requests", "/a/{slug}", "miss"), 1, "uncached article requests counted")
    check(delta(m1, m0, "statements", "/a/{slug}", "miss") >= 1, "an uncached article ran no statement")
    for _ in range(20):
        eq(s.req(f"/a/{slug}").status, 200, f"GET /a/{slug} again")
    m2, _ = counters(s)
    eq(delta(m2, m1, "requests", "/a/{slug}", "hit"), 20, "cached article requests counted")
    eq(delta(m2, m1, "statements", "/a/{slug}", "hit"), 0, "statements of 20 cached article pages")
    eq(delta(m2, m1, "requests", "/a/{slug}", "miss"), 0, "misses after the page was cached")
    # /metrics runs on a back-office thread: its statements are counted there (at least the
    # article count it reports).
    check(delta(m2, m1, "statements", "/metrics", "none") >= 1, "the back office's statements were not counted")
    finish(s)


@test("db statements: a request creation's statements are counted on the group committer")
def _():
    s = Server("statements-create", base_config()).start()
    _, w0 = counters(s)
    for k in ("batches", "jobs", "statements"):
        check(k in w0, f"/metrics lacks spravka_db_writer_{k}_total")
    r = post_json(s, fields())
    eq(r.status, 201, "status of the creation")
    m1, w1 = counters(s)
    eq(w1["jobs"] - w0["jobs"], 1, "writer jobs for one creation")
    check(w1["batches"] - w0["batches"] >= 1, "no writer batch")
    # BEGIN, the job's savepoint and its inserts, COMMIT
    check(w1["statements"] - w0["statements"] >= 5, f"writer statements: {w1['statements'] - w0['statements']}")
    eq(m1.get(("requests", "/api/v1/requests", "POST", "none")), 1, "creations counted by route")
    finish(s)
