"""End-to-end tests of the desk at scale (issue #8): the counts per status shown on /desk are kept
(request_counts) and stay equal to the requests through creation, taking, resolving, a member's
reopening reply, closing, merging and auto-closing; `spravka repair` finds and rewrites wrong
counts; every list is in its order with every filter (open ones oldest first across new, open and
waiting; resolved, closed and all newest first); long lists and the outbox page by keyset
(rel="next") without gaps or repeats; search by number or member ID; `spravka explain` shows every
plan through an index.

Imported by run.py. Each test starts its own server on a fresh data directory; rows are written
behind the server's back (harness.db, either engine) only to move times or to make many rows quickly.
"""

import html
import re
import subprocess
import time
from urllib.parse import urlencode

from desk_tests import Agent, account, member_reply, new_request, queue, server, sql_write, user_id
from harness import BIN, check, cli, contains, eq, finish, lacks, sql, sqlite_only, test

STATUSES = ("new", "open", "waiting", "resolved", "closed")


def real_counts(s):
    rows = dict(sql(s, "SELECT status, count(*) FROM requests WHERE merged_into IS NULL GROUP BY status"))
    return {st: rows.get(st, 0) for st in STATUSES}


def counts_right(s, agent, after):
    _, shown = queue(agent)
    eq(shown, real_counts(s), f"counts on /desk after {after}")
    return shown


def listed(agent, path):
    """Numbers of a desk list page and its rel=next link (unescaped), or None."""
    r = agent.get(path)
    eq(r.status, 200, path)
    numbers = re.findall(r'<tr><td><a href="/desk/r/(R-\d{4}-\d{6,7})">', r.text)
    m = re.search(r'<a rel="next" href="([^"]+)"', r.text)
    return numbers, (html.unescape(m.group(1)) if m else None), r.text


def run(*args):
    p = subprocess.run([BIN, *cli(*args)], capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


@test("desk scale: counts on /desk stay right through create, take, resolve, reopen, close, merge, auto-close")
def _():
    s = server("scale-counts", requests={"auto_close_days": "1"})
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    eq(counts_right(s, a, "nothing"), {st: 0 for st in STATUSES}, "an empty desk")
    r1 = new_request(s, topic="payouts")
    r2 = new_request(s, topic="order", member_id=r1["member_id"], email=r1["email"],
                     description="Заказ пришёл без одной коробки, номер заказа в письме выше, помогите.")
    r3 = new_request(s, topic="registration")
    eq(counts_right(s, a, "three creations")["new"], 3, "three new")
    a.act(r1["number"], action="assign", assignee=str(user_id(s, "anna")))
    eq(counts_right(s, a, "taking one")["open"], 1, "taken: open")
    a.act(r1["number"], action="reply", text="Проверили, выплата отправлена повторно.", status="resolved")
    eq(counts_right(s, a, "resolving")["resolved"], 1, "resolved")
    member_reply(s, r1["url"], "Деньги так и не пришли, посмотрите ещё раз, пожалуйста.")
    c = counts_right(s, a, "the member's reply")
    eq((c["open"], c["resolved"]), (1, 0), "the member's reply reopens")
    a.act(r1["number"], action="status", status="closed")
    eq(counts_right(s, a, "closing")["closed"], 1, "closed")
    a.act(r2["number"], action="status", status="waiting")
    counts_right(s, a, "waiting")
    a.act(r2["number"], action="merge-confirm", target=r1["number"])
    c = counts_right(s, a, "the merge")
    eq(sum(c.values()), 2, "a merged request leaves the counts")
    a.act(r3["number"], action="status", status="resolved")
    sql_write(s, "UPDATE requests SET resolved_at = resolved_at - 3 * 86400 WHERE number = ?", r3["number"])
    deadline = time.monotonic() + 10
    while sql(s, "SELECT status FROM requests WHERE number = ?", r3["number"])[0][0] != "closed":
        check(time.monotonic() < deadline, "auto-closed within 10 s")
        time.sleep(0.2)
    eq(counts_right(s, a, "auto-closing"), {"new": 0, "open": 0, "waiting": 0, "resolved": 0, "closed": 2},
       "all closed")
    # Counts made wrong behind the server's back: `spravka repair` tells and rewrites them.
    sql_write(s, "UPDATE request_counts SET n = n + 7 WHERE status = 'new' AND slot = 0")
    eq(queue(a)[1]["new"], 7, "the page shows the kept count (it never counts the requests)")
    rc, out, err = run("repair", "--data", s.data)
    eq(rc, 0, f"spravka repair ({err})")
    contains(out, "new       kept 7, counted 0 (rewritten)", what="repair's report")
    counts_right(s, a, "the repair")
    rc, out, _ = run("repair", "--data", s.data)
    lacks(out, "rewritten", what="a second repair")
    finish(s)


@test("desk scale: lists in order with every filter: open oldest first across statuses, done newest first")
def _():
    s = server("scale-order")
    account(s, "anna", "agent")
    account(s, "boris", "agent")
    a, b = Agent(s, "anna"), Agent(s, "boris")
    spec = [("payouts", "RU"), ("order", "KZ"), ("payouts", "KZ"), ("registration", "RU"), ("payouts", "DE"),
            ("order", "RU"), ("payouts", "RU"), ("other", "KZ"), ("payouts", "BY"), ("order", "DE")]
    reqs = [new_request(s, topic=t, country=c) for t, c in spec]
    n = [r["number"] for r in reqs]
    status = ["new", "open", "waiting", "new", "open", "resolved", "closed", "closed", "waiting", "resolved"]
    for i, st in enumerate(status):
        if st != "new":
            (a if i % 2 else b).act(n[i], action="assign", assignee=str(user_id(s, "anna" if i % 2 else "boris")))
            if st != "open":
                a.act(n[i], action="status", status=st)
    # Distinct times: updated in an order that is not the creation order.
    base = int(time.time()) - 100000
    order = [7, 2, 9, 0, 5, 3, 8, 1, 6, 4]
    for rank, i in enumerate(order):
        sql_write(s, "UPDATE requests SET updated = ? WHERE number = ?", base + rank * 60, n[i])
    upd = {n[i]: rank for rank, i in enumerate(order)}
    info = {n[i]: (status[i], spec[i][0], spec[i][1], i) for i in range(10)}
    assigned = {n[i]: ("anna" if i % 2 else "boris") for i in range(10) if status[i] != "new"}

    def want(sts, desc, pred=lambda x: True):
        sel = [x for x in n if info[x][0] in sts and pred(x)]
        return sorted(sel, key=lambda x: upd[x], reverse=desc)

    open_set = ("new", "open", "waiting")
    eq(queue(a)[0], want(open_set, False), "the open queue, oldest first across new, open and waiting")
    for st in STATUSES:
        eq(queue(a, status=st)[0], want((st,), st not in open_set), f"status={st}")
    eq(queue(a, status="all")[0], want(STATUSES, True), "all, newest first")
    for params, pred in ((dict(topic="payouts"), lambda x: info[x][1] == "payouts"),
                         (dict(country="KZ"), lambda x: info[x][2] == "KZ"),
                         (dict(country="RU", topic="payouts"), lambda x: info[x][1:3] == ("payouts", "RU")),
                         (dict(assignee="me"), lambda x: assigned.get(x) == "anna"),
                         (dict(assignee="none"), lambda x: x not in assigned),
                         (dict(assignee="me", topic="payouts"),
                          lambda x: assigned.get(x) == "anna" and info[x][1] == "payouts")):
        eq(queue(a, **params)[0], want(open_set, False, pred), f"open queue {params}")
        eq(queue(a, status="all", **params)[0], want(STATUSES, True, pred), f"all {params}")
        eq(queue(a, status="closed", **params)[0], want(("closed",), True, pred), f"closed {params}")
        eq(queue(a, status="waiting", **params)[0], want(("waiting",), False, pred), f"waiting {params}")
    eq(queue(b, assignee="me")[0], want(open_set, False, lambda x: assigned.get(x) == "boris"), "boris's own")
    # Search: a number opens the request, a member ID lists that member's requests.
    r = a.get("/desk?" + urlencode({"q": " " + n[3] + " "}))
    eq((r.status, r.header("location")), (303, f"/desk/r/{n[3]}"), "a number opens its request")
    eq(queue(a, q=reqs[6]["member_id"], status="all")[0], [n[6]], "a member ID lists the member's requests")
    eq(queue(a, q=reqs[6]["member_id"])[0], [], "... of the statuses asked for")
    eq(queue(a, q="R-2020-999999")[0], [], "an unknown number lists nothing")
    finish(s)


def bulk_requests(s, count, status, updated_of):
    """count requests written straight into the database (copies of one made through the API),
    then `spravka repair` so that the kept counts include them."""
    proto = new_request(s)
    db = s.db()
    cols = [c for c in db.columns("requests") if c != "id"]  # the id: the engine's next one
    row = dict(zip(cols, db.one(f"SELECT {', '.join(cols)} FROM requests WHERE number = ?", (proto["number"],))))
    made, rows = [], []
    for i in range(count):
        row.update(number=f"R-2025-{i + 1:06d}", token_hash=f"{i:064x}", link_hash=None,
                   status=status, updated=updated_of(i), resolved_at=None)
        rows.append([row[k] for k in cols])
        made.append(row["number"])
    db.executemany(f"INSERT INTO requests({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
    rc, _, err = run("repair", "--data", s.data)
    eq(rc, 0, f"repair: {err}")
    return proto, made


@test("desk scale: long lists and the outbox page by keyset (rel=next): every row once, in order")
def _():
    s = server("scale-pages")
    account(s, "anna", "agent")
    a = Agent(s, "anna")
    base = int(time.time()) - 10 * 86400
    # 250 closed requests; groups of five share one `updated` (the keyset's tie-break is the id).
    _, made = bulk_requests(s, 250, "closed", lambda i: base + (i // 5) * 60)
    want = [num for _, num in sorted(((base + (i // 5) * 60, i), num) for i, num in enumerate(made))]
    want.reverse()
    seen, path, pages = [], "/desk?status=closed", 0
    while path:
        numbers, path, text = listed(a, path)
        pages += 1
        check(len(numbers) <= 100, "at most 100 a page")
        seen += numbers
        check(pages < 10, "paging ends")
    eq(pages, 3, "250 rows: three pages")
    eq(seen, want, "every closed request once, newest first, ties by id")
    eq(queue(a)[1]["closed"], 250, "the count includes the rows the repair counted")
    # The same with a filter, and a keyset that does not parse lists from the start.
    numbers, nxt, _ = listed(a, "/desk?status=closed&country=RU")
    eq(numbers, want[:100], "filtered first page")
    check(nxt and "country=RU" in nxt and "status=closed" in nxt, f"the next link keeps the filters: {nxt}")
    numbers, _, text = listed(a, nxt)
    eq(numbers, want[100:200], "filtered second page")
    first = html.unescape(re.search(r'<a href="([^"]+)">К первой странице</a>', text).group(1))
    eq(first, "/desk?status=closed&country=RU", "the first page keeps the filters")
    eq(listed(a, "/desk?status=closed&after=x.y")[0], want[:100], "a bad keyset starts at the beginning")
    _, nxt, text = listed(a, "/desk?status=closed&after=" + str(base - 1) + ".0")
    eq(nxt, None, "after the oldest: nothing more")
    contains(text, "Больше обращений нет", what="the end of a list")
    # The outbox: 230 letters, 100 a page, newest first.
    s.db().executemany("INSERT INTO outbox(to_addr, subject, body, next_attempt, created) VALUES (?, ?, ?, ?, ?)",
                       [(f"m{i}@example.org", f"Письмо {i:03d}", "Текст", base, base + i) for i in range(230)])
    ids = [r[0] for r in s.db().query("SELECT id FROM outbox ORDER BY id DESC")]
    got, path = [], "/desk/outbox"
    while path:
        r = a.get(path)
        eq(r.status, 200, path)
        got += [int(x) for x in re.findall(r"<td>Письмо (\d{3})</td>", r.text)]
        m = re.search(r'<a rel="next" href="([^"]+)"', r.text)
        path = html.unescape(m.group(1)) if m else None
        check(len(got) <= 400, "outbox paging ends")
    eq(len(got), 230, "every letter once")
    eq(got, sorted(got, reverse=True), "newest first")
    finish(s)


@test("desk scale: spravka explain lists every desk and maintenance plan, none reading a growing table whole")
def _():
    sqlite_only("spravka explain reads SQLite's query plans (exit 2 on PostgreSQL)")
    s = server("scale-explain")
    rc, out, err = run("explain", "--data", s.data)
    eq(rc, 0, f"spravka explain exit ({err})")
    plans = re.findall(r"^  plan: `([^`]*)`$", out, re.M)
    check(len(plans) >= 50, f"every plan listed ({len(plans)})")
    lacks(out, "PROBLEM", what="spravka explain")
    for needle in ("requests_open", "requests_status_topic", "requests_status_country", "requests_status_assignee",
                   "requests_member_status", "requests_resolved", "held_files_sha256", "search_log_unclicked",
                   "outbox_pending", "idempotency_created", "sessions_expires", "throttle_window"):
        contains(out, needle, what="the plans")
    for p in plans:
        check(not re.search(r"\bSCAN (requests|messages|attachments|outbox|audit|search_log|held_additions|"
                            r"idempotency|sessions|throttle)\b", p), f"a growing table read whole: {p}")
    finish(s)
