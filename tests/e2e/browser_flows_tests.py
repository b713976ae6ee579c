"""Browser tests (issue #10): Debian's chromium driven by playwright-core (tests/browser/flows.mjs),
the pages checked by axe-core, the public pages at 375 px.

The harness starts the servers here, on the run's engine (so the flows run on SQLite and again on
PostgreSQL), creates the editors with `spravka user add` and a wide article through the editors'
API, then runs `node tests/browser/flows.mjs CONFIG` once: one chromium for every flow. Each flow's
result is one test line below; a flow's screenshots are in tests/browser/artifacts/ENGINE/FLOW/,
axe-core's findings in tests/browser/artifacts/ENGINE/axe.json.

Needs node, tests/browser/node_modules (make browser-deps: npm ci from the lock) and
/usr/bin/chromium (scripts/install-deps test). Nothing is skipped: a missing piece fails.

Adding a flow: a function and an entry in FLOWS of flows.mjs, and its id and description in
FLOWS below (the first test checks that the two lists agree).
"""

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

from desk_tests import PASSWORD, account
from editors_tests import post_action, put_article, token_add
from harness import ENGINE, ROOT, TMP, Fail, Server, base_config, check, contains, eq, short, test

NODE_DIR = os.path.join(ROOT, "tests", "browser")
ARTIFACTS = os.path.join(NODE_DIR, "artifacts", ENGINE)
CHROMIUM = "/usr/bin/chromium"
WORD = "квазистабилизатор"  # in no demo article: the flows write it and look for it
WIDE = "browser-wide-content"
SCREENSHOT = "track-order"  # the demo article with a 1600 px wide screenshot (content/media/order-tracking.png)


def mock_screenshot(path, width=1100, height=420):
    """Writes a PNG that looks like a screen of the personal account (a header bar, a card with
    lines of "text" and a button), wider than the portal's column: what an editor uploads."""
    import struct
    import zlib
    rows = []
    for y in range(height):
        row = bytearray()
        for x in range(width):
            c = (246, 247, 249)  # the page
            if y < 56:
                c = (31, 78, 140)  # the header bar
                if 24 <= x < 180 and 22 <= y < 34:
                    c = (255, 255, 255)
            elif 90 <= y < 380 and 40 <= x < width - 40:
                c = (255, 255, 255)  # the card
                if (y - 120) % 40 < 10 and 120 <= y < 300 and 80 <= x < 80 + (x // 7 % 5 + 4) * 90:
                    c = (90, 96, 105)  # lines of text
                if 320 <= y < 356 and width - 260 <= x < width - 80:
                    c = (46, 125, 50)  # «Сохранить»
            row += bytes(c)
        rows.append(b"\x00" + bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)

# (id in flows.mjs, what the test line says), in the order flows.mjs runs them.
FLOWS = [
    ("search-feedback", "home → instant search → article → «Нет» with a comment → thanks; «Да» on another"),
    ("edit-publish", "an editor signs in → edits an article → uploads a screenshot (inserted with its alt text, "
                     "live preview) → preview → save → publish → portal and search show the new text, the image "
                     "sized within the column opens full size"),
    ("review-required", "require_review = 1: editor A submits, cannot publish (409); editor B publishes; "
                        "the portal shows it"),
    ("request-form", "the request form: errors in Russian with the typed text kept → fixed → the private link"),
    ("axe-public", "axe-core: no serious or critical violation on the home, section, article (one with a "
                   "screenshot) and search pages"),
    ("axe-forms", "axe-core: no serious or critical violation on the request form (empty, with errors) and "
                  "the instant search's list"),
    ("axe-desk", "axe-core: no serious or critical violation on the desk login, the article list and the "
                 "edit form"),
    ("mobile-375", "375 px: no horizontal scroll on the public pages (a wide table, a long code line, a 1600 px "
                   "screenshot scaled to the column)"),
]
FLOW_SECONDS = 28  # each test waits this long for its flow (the harness stops a test at 30 s)

WIDE_BODY = """Страница для проверки узкого экрана: широкая таблица, длинная строка кода и длинный адрес.

| Страна | Валюта | Срок выплаты | Комиссия | Минимум | Максимум | Документы | Налог | Банк | Примечание |
|---|---|---|---|---|---|---|---|---|---|
| Россия | российский рубль | 3 рабочих дня | без комиссии | 1000 | 600000 | паспорт и ИНН | 13 процентов | любой российский банк | выплаты по средам |
| Казахстан | казахстанский тенге | 5 рабочих дней | без комиссии | 5000 | 3000000 | удостоверение личности | 10 процентов | банки Казахстана | выплаты по пятницам |

```
curl -H 'Authorization: Bearer XXXXXXXXXXXXXXXX' 'https://lk.example.com/api/v1/payouts/history?from=2026-01-01&to=2026-12-31&format=csv&country=RU'
```

Длинный адрес без пробелов: https://lk.example.com/settings/security/password/reset/confirm/aVeryLongTokenWithoutAnyBreakOpportunityAtAll0123456789
"""


def selected():
    """The flows whose tests `run.py WORD...` runs (all when none or only the first test is asked
    for): so a single flow's test does not wait for the ones before it."""
    words = sys.argv[1:] if os.path.basename(sys.argv[0]) == "run.py" else []
    chosen = [f for f, what in FLOWS if any(w in f"browser: {what}" for w in words)]
    return chosen or [f for f, _ in FLOWS]


class Run:
    """The servers, the accounts and the one node process whose results the tests read."""

    def __init__(self):
        self.lines = []  # parsed JSON objects from node's stdout, in order
        self.cond = threading.Condition()
        self.proc = None
        node = shutil.which("node")
        check(node, "node is not installed (scripts/install-deps test installs nodejs and npm)")
        check(os.path.isdir(os.path.join(NODE_DIR, "node_modules", "playwright-core")),
              "tests/browser/node_modules lacks playwright-core: run make browser-deps (npm ci from the lock)")
        check(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing (scripts/install-deps test installs chromium)")
        self.main = Server("browser-main", base_config()).start()
        self.review = Server("browser-review", base_config(editors={"require_review": 1})).start()
        account(self.main, "olga", "editor")
        for login in ("olga", "petr"):
            account(self.review, login, "editor")
        # The article with wide content for the 375 px check, through the editors' API.
        t = token_add(self.main, "olga")
        r = put_article(self.main, t, WIDE, {"title": "Выплаты по странам: сводная таблица", "section": "payouts",
                                             "summary": "Широкая таблица для проверки узкого экрана",
                                             "keywords": "таблица", "body": WIDE_BODY, "message": "для тестов"})
        eq(r.status, 200, f"PUT {WIDE}: {short(r.text)}")
        r = post_action(self.main, t, WIDE, "publish")
        eq(r.status, 200, f"publish {WIDE}: {short(r.text)}")
        image = os.path.join(TMP, "browser-screenshot.png")
        mock_screenshot(image)
        editor = lambda login: {"login": login, "password": PASSWORD}  # noqa: E731
        config = {
            "engine": ENGINE, "artifacts": ARTIFACTS, "chromium": CHROMIUM, "word": WORD,
            "flows": selected(),
            "main": {"base": f"http://127.0.0.1:{self.main.port}", "editor": editor("olga"),
                     "article": "account-blocked", "wide": WIDE, "image": image, "screenshot": SCREENSHOT},
            "review": {"base": f"http://127.0.0.1:{self.review.port}", "editors": [editor("olga"), editor("petr")],
                       "article": "change-contacts"},
        }
        path = os.path.join(TMP, "browser-flows.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f, ensure_ascii=False)
        self.errpath = os.path.join(TMP, "browser-flows.stderr")
        self.err = open(self.errpath, "wb")
        self.proc = subprocess.Popen([node, os.path.join(NODE_DIR, "flows.mjs"), path], cwd=NODE_DIR,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.err)
        atexit.register(self.kill)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = {"event": "noise", "text": raw.decode("utf-8", "replace")}
            with self.cond:
                self.lines.append(obj)
                self.cond.notify_all()
        with self.cond:
            self.lines.append({"event": "eof"})
            self.cond.notify_all()

    def stderr(self):
        try:
            with open(self.errpath, "rb") as f:
                return f.read().decode("utf-8", "replace")[-1500:]
        except OSError:
            return ""

    def wait(self, pred, seconds, what):
        """The first line pred accepts; a fatal error, node's end or the time limit fail."""
        deadline = time.monotonic() + seconds
        with self.cond:
            while True:
                for obj in self.lines:
                    if pred(obj):
                        return obj
                    if obj.get("event") == "fatal":
                        raise Fail(f"flows.mjs: {obj.get('error')}")
                    if obj.get("event") == "eof":
                        raise Fail(f"flows.mjs ended (exit {self.proc.wait(5)}) before {what}: {short(self.stderr())}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Fail(f"{what}: not within {seconds} s")
                self.cond.wait(min(left, 0.5))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_run = []


def run():
    if not _run:
        _run.append(None)  # tried once: a setup that failed fails every test with its reason
        _run[0] = Run()
    if _run[0] is None:
        raise Fail("the browser run could not start (see the first browser test)")
    return _run[0]


@test("browser: chromium starts headless under playwright-core (one browser for all the flows)")
def _():
    r = run()
    ready = r.wait(lambda o: o.get("event") == "ready", 25, "chromium ready")
    check(ready.get("browser"), f"no browser version: {ready}")
    eq(ready["flows"], [f for f, _ in FLOWS], "the flows of flows.mjs (FLOWS in both files)")


def flow_test(flow, what, after=None):
    @test(f"browser: {what}")
    def _():
        r = run()
        res = r.wait(lambda o: o.get("flow") == flow, FLOW_SECONDS, f"the flow {flow}")
        shots = ", ".join(res.get("shots", []))
        check(res.get("ok"), f"{res.get('error')} (after {res.get('ms')} ms; screenshots: {shots})")
        check(res.get("shots"), "the flow saved no screenshot")
        for s in res["shots"]:
            check(os.path.getsize(os.path.join(ARTIFACTS, s)) > 1000, f"screenshot {s} is empty")
        if after:
            after(r)


def feedback_stored(r):
    rows = r.main.db().query("SELECT slug, helpful, comment FROM article_feedback ORDER BY id")
    check(any(s == "payout-setup" and h == 1 for s, h, _ in rows), f"no «Да» on payout-setup: {rows}")
    check(any(h == 0 and "SMS" in c for _, h, c in rows), f"no «Нет» with the comment: {rows}")


def request_stored(r):
    eq(r.main.db().value("SELECT count(*) FROM requests WHERE subject = ?", ("Смена банковских реквизитов",)), 1,
       "requests created by the form")


def published_twice(r):
    """Both published texts, as a client other than the browser gets them."""
    for s, slug in ((r.main, "account-blocked"), (r.review, "change-contacts")):
        contains(s.req(f"/a/{slug}").text, WORD, what=f"/a/{slug} on {s.name}")
    page = r.main.req("/a/account-blocked").text
    check(re.search(r'<img src="/media/[0-9a-f]{64}\.png" alt="Снимок экрана: ' + WORD + r'[^"]*" width="1100" '
                    r'height="420"', page), "the uploaded screenshot on /a/account-blocked: " + short(page))


AFTER = {"search-feedback": feedback_stored, "request-form": request_stored, "review-required": published_twice}
for _flow, _what in FLOWS:
    flow_test(_flow, _what, AFTER.get(_flow))


@test("browser: the run ends cleanly; screenshots and axe.json in tests/browser/artifacts/ENGINE")
def _():
    r = run()
    r.wait(lambda o: o.get("event") == "done", 20, "the end of flows.mjs")
    eq(r.proc.wait(10), 0, "exit code of flows.mjs")
    with open(os.path.join(ARTIFACTS, "axe.json"), encoding="utf-8") as f:
        axe = json.load(f)
    check(len(axe) >= 10, f"axe-core checked {len(axe)} pages")
    r.main.stop()
    r.review.stop()
