"""End-to-end checks of the generators behind `make bench-load` (issue #8): what they make must be
what the program accepts, or the benchmark measures something else.

- scripts/bench-content N DIR SEED: a content directory that `spravka import` takes whole, with the
  announced shape (skewed sections, variants, related links that exist), served by the server.
- scripts/bench-requests-db N DATA: a data directory the server starts on, whose desk shows the
  requests to the agent accounts it made, and whose private links open the requests.

Imported by run.py. Both generators read ../shared/bench/search/ruhelp-passages; without it the
tests fail (it is part of the checkout's neighbourhood, like the search benchmark).
"""

import base64
import gzip
import hmac
import html
import json
import os
import random
import re
import subprocess
from urllib.parse import urlencode

from harness import BIN, ROOT, Server, base_config, check, contains, db, eq, new_dir, short, spravka, sqlite_only, test

SCRIPTS = os.path.join(ROOT, "scripts")
NUMBER = re.compile(r"/desk/r/(R-\d{4}-\d{6})")


_corpus = []


def corpus():
    """A small corpus in ruhelp-passages' format (JSON lines: id "page#n", title, text), so the
    tests need nothing outside the repository (CI runs on a bare clone)."""
    if not _corpus:
        rng = random.Random(8)
        words = ("заказ оплата доставка возврат карта пароль кабинет партнёр выплата спонсор центр "
                 "реквизиты банк счёт товар брак посылка трек номер заявка документ паспорт договор "
                 "регистрация баланс бонус скидка склад курьер адрес телефон почта").split()
        path = os.path.join(new_dir("bench-corpus"), "corpus.jsonl.gz")
        with gzip.open(path, "wt", encoding="utf-8") as f:
            for page in range(150):
                title = f"Раздел {page} — как {rng.choice(words)} и {rng.choice(words)}"
                for n in range(4):
                    text = " ".join(". ".join(" ".join(rng.choice(words) for _ in range(9)).capitalize()
                                              for _ in range(4)).split()) + "."
                    f.write(json.dumps({"id": f"fixture:page{page}#{n}", "title": title, "text": text},
                                       ensure_ascii=False) + "\n")
        _corpus.append(path)
    return _corpus[0]


def run_script(*args, env=None):
    p = subprocess.run([os.path.join(SCRIPTS, args[0]), *map(str, args[1:])], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, SPRAVKA_BIN=BIN, CORPUS=corpus(), **(env or {})))
    eq(p.returncode, 0, f"{args[0]} exit code ({short(p.stderr)})")


def front(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head = text.split("---\n")[1]
    return dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in head.splitlines())


@test("bench tools: scripts/bench-content makes a skewed content set with variants that spravka imports")
def _():
    d = new_dir("bench-content")
    out = os.path.join(d, "content")
    run_script("bench-content", 60, out, 3)
    general = sorted(f for f in os.listdir(out) if f.endswith(".md") and f.count(".") == 1)
    variants = sorted(f for f in os.listdir(out) if f.endswith(".md") and f.count(".") == 2)
    eq(len(general), 60, "general texts")
    check(variants, "some articles have country variants")
    per_section = {}
    for f in general:
        m = front(os.path.join(out, f))
        eq(m["slug"] + ".md", f, "slug = file name")
        per_section[m["section"]] = per_section.get(m["section"], 0) + 1
    check(max(per_section.values()) >= 60 * 0.2, f"one section holds a large share: {per_section}")
    check(len(per_section) >= 6, f"articles spread over the sections: {per_section}")
    v = front(os.path.join(out, variants[0]))
    check(re.fullmatch("[A-Z]{2}", v.get("country", "")), f"a variant names its country: {v}")
    data = os.path.join(d, "data")
    rc, _, err = spravka("import", "--data", data, out)
    eq(rc, 0, f"spravka import of the generated set ({short(err)})")
    contains(err, f"{60 + len(variants)} texts", what="import summary")
    s = Server("bench-content", config=base_config(), data=data).start()
    slug = general[-1][:-3]
    r = s.req(f"/a/{slug}")
    eq(r.status, 200, f"/a/{slug}")
    word = max(re.findall("[А-Яа-яЁё]+", front(os.path.join(out, general[-1]))["title"]) or [""], key=len)
    contains(r.text, word, what="article page")
    vslug, cc = variants[0].split(".")[:2]
    r = s.req(f"/api/v1/articles/{vslug}?" + urlencode({"country": cc.upper()}))
    eq(r.status, 200, "the variant's article through the API")
    eq(r.json().get("country"), cc.upper(), "the variant is served for its country")


@test("bench tools: scripts/bench-requests-db gives a database the server starts on, with the requests on the desk")
def _():
    sqlite_only("the generator writes DATA/spravka.db with sqlite3 (make bench-load measures SQLite)")
    d = new_dir("bench-requests-db")
    data = os.path.join(d, "data")
    run_script("bench-requests-db", 200, data, 5, env={"AGENTS": "2"})
    d = db(data)
    eq(d.value("SELECT count(*) FROM requests"), 200, "requests")
    eq(d.value("SELECT count(*) FROM requests r WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE "
               "m.request_id = r.id AND m.author = 'member')"), 0, "requests without the member's text")
    open_n = d.value("SELECT count(*) FROM requests WHERE status IN ('new', 'open', 'waiting') "
                     "AND merged_into IS NULL")
    check(open_n >= 3, f"some requests are open ({open_n})")
    closed = d.value("SELECT count(*) FROM requests WHERE status IN ('closed', 'resolved')")
    check(closed >= 180, f"most requests are closed or resolved ({closed})")
    number, nonce, body = d.one(
        "SELECT r.number, r.link_nonce, m.body FROM requests r JOIN messages m ON m.request_id = r.id "
        "AND m.author = 'member' ORDER BY r.id DESC LIMIT 1")
    counters = dict(d.query("SELECT name, value FROM counters"))
    eq(counters.get("requests-" + number[2:6]), int(number[7:]), "the year's counter is the last number")
    s = Server("bench-requests-db", config=base_config(), data=data).start()
    r = s.req("/desk/login")
    tok = re.search(r"spravka_login_csrf=([^;]+)", r.header("set-cookie")).group(1)
    r = s.req("/desk/login", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
              urlencode({"csrf": tok, "login": "bench-agent-2", "password": "bench-agent-password",
                         "next": "/desk"}).encode(), cookie=f"spravka_login_csrf={tok}")
    eq(r.status, 303, f"login of bench-agent-2 ({short(r.body)})")
    session = re.search(r"spravka_session=[^;]+", r.header("set-cookie")).group(0)
    r = s.req("/desk", cookie=session)
    eq(r.status, 200, "/desk")
    eq(len(set(NUMBER.findall(r.text))), open_n, "the open requests on the queue")
    # Every status, page after page (the desk's lists go by pages of 100, rel="next").
    seen, url = set(), "/desk?status=all"
    for _ in range(10):
        r = s.req(url, cookie=session)
        eq(r.status, 200, url)
        seen |= set(NUMBER.findall(r.text))
        nxt = re.search(r'<a[^>]*rel="next"[^>]*href="([^"]+)"|<a[^>]*href="([^"]+)"[^>]*rel="next"', r.text)
        if not nxt:
            break
        url = html.unescape(nxt.group(1) or nxt.group(2))
    check(len(seen) >= 190, f"every status on the queue (status=all, {len(seen)} requests over the pages)")
    # The kept counts per status (the generator has `spravka repair` recount them) match the rows.
    real = dict(d.query("SELECT status, count(*) FROM requests WHERE merged_into IS NULL GROUP BY status"))
    r = s.req("/desk", cookie=session)
    shown = dict(re.findall(r'href="/desk\?status=(\w+)">[^<]*<strong>(\d+)</strong>', r.text))
    eq({k: int(v) for k, v in shown.items() if int(v)}, real, "the counts per status on /desk")
    r = s.req(f"/desk/r/{number}", cookie=session)
    eq(r.status, 200, f"/desk/r/{number}")
    contains(r.text, body.split(".")[0][:40], what="the request's page")
    # The private link, derived from the stored nonce with DATA/link.key as the server does.
    with open(os.path.join(data, "link.key"), "rb") as f:
        key = f.read()
    token = base64.urlsafe_b64encode(hmac.digest(key, b"spravka-link-v1:" + nonce.encode(), "sha256")).rstrip(b"=")
    r = s.req("/r/" + token.decode())
    eq(r.status, 200, "the request's private link")
    contains(r.text, number, what="the member's page")
