"""End-to-end tests of issue #10's "Bad input": hostile text in every field an editor or a reader
can fill never becomes markup. Each payload of xss_payloads.txt (OWASP's XSS filter-evasion cheat
sheet and past help-desk bugs) is tried in each field (titles, summaries, keywords, bodies, alt
texts of images, review comments, feedback comments; section names in sections_tests.py), and
every page and API answer that shows the field is parsed and checked by one rule set (SafetyChecker): no script but the site's own
files, no event attribute, no javascript:/vbscript:/data: URL in any URL attribute, no embedding
or meta-refresh element, no style that runs code. A payload may be refused (422 with a reason);
what is accepted is shown as text: a title comes back character for character in the page's h1.

Imported by run.py; runs on both engines.
"""

import json
import os
import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urlencode

from desk_tests import Agent, account, server
from editors_tests import post_action, post_json, put_article, revisions, token_add
from harness import Fail, check, eq, test, wait_for
from media_tests import markdown_of, png, upload

HERE = os.path.dirname(os.path.abspath(__file__))
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "background", "poster", "srcset", "data",
             "codebase", "cite", "lowsrc", "dynsrc", "longdesc", "usemap", "profile", "manifest", "ping"}
# Elements spravka never renders on these pages, and that a payload could use to run or load code.
NEVER = {"iframe", "frame", "frameset", "object", "embed", "applet", "base", "isindex", "keygen", "bgsound",
         "marquee", "xss", "math", "template", "svg", "animate", "set", "foreignobject", "video", "audio",
         "source", "portal", "xml", "import"}
BAD_SCHEME = re.compile(r"^(javascript|vbscript|data|livescript|mocha):", re.I)
CODE_IN_STYLE = re.compile(r"expression\s*\(|javascript:|vbscript:|-moz-binding|behavior\s*:|@import", re.I)


def payloads():
    out = []
    with open(os.path.join(HERE, "xss_payloads.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                out.append(line.replace("\\n", "\n").replace("\\t", "\t"))
    return out


def url_scheme_text(v):
    """What a browser reads as the URL's start: entities decoded, control characters and
    whitespace (which browsers strip or skip inside a scheme) removed."""
    v = unescape(v)
    return re.sub(r"[\x00-\x20\x7f]", "", v)


class SafetyChecker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self.in_script = False

    def bad(self, what):
        self.problems.append(what)

    def handle_starttag(self, tag, attrs):
        t = tag.lower()
        if t in NEVER:
            self.bad(f"<{t}> element")
        if t == "script":
            src = dict(attrs).get("src") or ""
            if not src.startswith("/static/"):
                self.bad(f"<script src={src!r}>")
            self.in_script = True
        if t == "meta" and (dict(attrs).get("http-equiv") or "").lower() in ("refresh", "link", "set-cookie",
                                                                                "content-type"):
            self.bad(f"<meta http-equiv={dict(attrs)['http-equiv']!r}>")
        if t == "link" and (dict(attrs).get("rel") or "").lower() in ("import", "stylesheet") and \
                not (dict(attrs).get("href") or "").startswith("/static/"):
            self.bad(f"<link {attrs}>")
        if t == "form" and not (dict(attrs).get("action") or "/").startswith("/"):
            self.bad(f"<form action={dict(attrs).get('action')!r}>")
        for k, v in attrs:
            k = k.lower()
            if k.startswith("on"):
                self.bad(f"<{t} {k}=…> event attribute")
            if k in URL_ATTRS and v is not None:
                for part in (v.split(",") if k == "srcset" else [v]):
                    if BAD_SCHEME.match(url_scheme_text(part)):
                        self.bad(f"<{t} {k}={v[:60]!r}>")
            if k == "style" and v and CODE_IN_STYLE.search(unescape(v)):
                self.bad(f"<{t} style={v[:60]!r}>")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag.lower() == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_script and data.strip():
            self.bad(f"inline script {data[:60]!r}")

    def unknown_decl(self, data):
        self.bad(f"<![{data[:40]}]>")


def unsafe(html):
    c = SafetyChecker()
    c.feed(html)
    c.close()
    return c.problems


def h1_text(html):
    m = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    return unescape(re.sub(r"<[^>]+>", "", m.group(1))) if m else None


class Seen:
    """Counts what was checked, and collects the problems with where they came from."""

    def __init__(self):
        self.checked = 0
        self.problems = []

    def page(self, r, where, n, field):
        eq(r.status, 200, f"{where} ({r.text[:200]})")
        self.html(r.text, where, n, field)

    def html(self, text, where, n, field):
        self.checked += 1
        for p in unsafe(text):
            self.problems.append(f"payload {n} in {field}, {where}: {p}")

    def done(self, what):
        if self.problems:
            raise Fail(f"{what}: {len(self.problems)} unsafe outputs, first: {self.problems[:5]}")


FIELDS = ("title", "summary", "keywords", "body")


@test("xss: ≥100 payloads in titles, summaries, keywords and bodies: saved or refused, never markup on the "
      "article, search and section pages, the API's HTML, or the editors' desk pages")
def _():
    ps = payloads()
    check(len(ps) >= 100, f"only {len(ps)} payloads")
    s = server("xss")
    account(s, "olga", "editor")
    tok = token_add(s, "olga")
    ed = Agent(s, "olga", role_page="/desk/articles")
    seen = Seen()
    accepted = refused = 0
    for n, p in enumerate(ps):
        slug, marker = f"xss-{n}", f"ксссловоп{n}"
        for field in FIELDS:
            art = {"title": f"Статья {n}", "section": "faq", "summary": "Проверка", "keywords": "проверка",
                   "body": f"Текст {marker}.", "message": "xss"}
            art[field] = (p + " " + marker) if field != "title" else p
            r = put_article(s, tok, slug, art)
            if r.status == 422:
                refused += 1
                check(r.json().get("error", {}).get("message"), f"payload {n} in {field}: 422 without a reason")
                continue
            eq(r.status, 200, f"payload {n} in {field}: PUT ({r.text[:200]})")
            r = s.req(f"/api/v1/articles/{slug}/publish", "POST", {"Authorization": f"Bearer {tok}"})
            eq(r.status, 200, f"payload {n} in {field}: publish ({r.text[:200]})")
            accepted += 1
            page = s.req(f"/a/{slug}")
            seen.page(page, f"/a/{slug}", n, field)
            if field == "title":
                eq(h1_text(page.text), p.strip() if "\n" not in p else h1_text(page.text),
                   f"payload {n}: the title shown as text in the h1")
            j = s.req(f"/api/v1/articles/{slug}").json()
            seen.html(j.get("html", ""), f"/api/v1/articles/{slug} html", n, field)
            seen.page(s.req("/search?" + urlencode({"q": marker if field != "title" else f"Статья {n}"})),
                      "/search", n, field)
            js = s.req("/api/v1/search?" + urlencode({"q": marker})).json()
            for hit in js.get("results", []):
                seen.html(hit.get("snippet", ""), "/api/v1/search snippet", n, field)
            seen.page(ed.get(f"/desk/articles/{slug}"), f"/desk/articles/{slug}", n, field)
            seen.page(ed.get(f"/desk/articles/{slug}/edit"), f"/desk/articles/{slug}/edit", n, field)
        if n % 25 == 24:  # the listings: every title so far, some of them hostile
            seen.page(s.req("/"), "/", n, "listing")
            seen.page(ed.get("/desk/articles"), "/desk/articles", n, "listing")
            path = "/s/faq"
            for _ in range(50):
                r = s.req(path)
                seen.page(r, path, n, "listing")
                m = re.search(r'<link rel="next" href="([^"]+)"', r.text) or \
                    re.search(r'<a rel="next" href="([^"]+)"', r.text)
                if not m:
                    break
                path = unescape(m.group(1))
    seen.done("articles")
    check(accepted >= len(ps) * len(FIELDS) * 3 // 4,
          f"most payloads are text to keep, not to refuse: {accepted} accepted, {refused} refused")
    print(f"# xss: {len(ps)} payloads × {len(FIELDS)} fields: {accepted} saved and published, {refused} "
          f"refused; {seen.checked} pages and fragments checked")
    s.stop()


@test("xss: every payload as a feedback comment («Нет»): the thanks page and the editors' API show it as text")
def _():
    ps = payloads()
    s = server("xss-feedback")
    account(s, "olga", "editor")
    tok = token_add(s, "olga")
    seen = Seen()
    slugs = ["cancel-order", "change-bank-details", "change-sponsor", "account-blocked"]
    cookie = None
    for n, p in enumerate(ps):
        slug = slugs[n % len(slugs)]
        r = s.req(f"/feedback/{slug}", method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"},
                  body=urlencode({"helpful": "no", "comment": p}).encode(), cookie=cookie)
        if r.status == 422:
            continue
        seen.page(r, f"/feedback/{slug}", n, "feedback comment")
        sc = r.header("set-cookie") or ""
        m = re.match(r"(feedback_id=[0-9a-f]{32});", sc)
        if m:
            cookie = m.group(1)
    r = s.req("/api/v1/insights/articles?days=30", headers={"Authorization": f"Bearer {tok}"})
    eq(r.status, 200, "insights/articles")
    json.loads(r.text)  # valid JSON whatever the comments held
    for slug in slugs:
        seen.page(s.req(f"/a/{slug}"), f"/a/{slug}", -1, "feedback comment")
    seen.done("feedback comments")
    check(seen.checked >= len(ps), f"only {seen.checked} answers checked")
    s.stop()


@test("xss: every payload as an image's alt text: the upload page, the Markdown it answers, the desk's preview, "
      "the portal page and the API's HTML show it as text (the alt attribute as typed)")
def _():
    ps = payloads()
    s = server("xss-alt")
    account(s, "olga", "editor")
    tok = token_add(s, "olga")
    ed = Agent(s, "olga", role_page="/desk/articles")
    seen = Seen()
    image = png(3, 2)
    lines, alts, refused = [], [], 0
    for n, p in enumerate(ps):
        r = upload(ed, image, alt=p)  # without the script: the page with the Markdown to copy
        if r.status == 422:  # e.g. a control character: refused with the reason, the text kept
            refused += 1
            check("class=\"error\"" in r.text, f"payload {n} as alt text: 422 without a reason")
            seen.html(r.text, "/desk/media (refused)", n, "alt text")
            continue
        seen.page(r, "/desk/media", n, "alt text")
        md = markdown_of(r)
        r = upload(ed, image, alt=p, reply="markdown")
        eq((r.status, r.text), (200, md), f"payload {n}: the script's answer is the page's Markdown")
        lines.append(md)
        alts.append(" ".join(p.split()))  # line breaks and tabs become spaces in Markdown
    check(len(lines) >= len(ps) * 3 // 4, f"most alt texts are text to keep: {len(lines)} of {len(ps)}")
    for k in range(0, len(lines), 30):  # 30 images an article
        slug = f"xss-alt-{k}"
        art = {"title": f"Подписи {k}", "section": "faq", "summary": "", "keywords": "", "message": "alt",
               "body": "\n\n".join(lines[k:k + 30]) + "\n"}
        r = ed.post(f"/desk/articles/{slug}/edit", dict(art, do="preview"))
        seen.page(r, f"/desk/articles/{slug}/edit preview", k, "alt text")
        eq(put_article(s, tok, slug, art).status, 200, f"PUT {slug}")
        eq(post_action(s, tok, slug, "publish").status, 200, f"publish {slug}")
        page = wait_for(lambda: (x := s.req(f"/a/{slug}")).status == 200 and x, 5, slug)
        seen.page(page, f"/a/{slug}", k, "alt text")
        got = [unescape(a) for a in re.findall(r'<img src="/media/[0-9a-f]{64}\.png" alt="([^"]*)"', page.text)]
        eq([" ".join(a.split()) for a in got], alts[k:k + 30], f"{slug}: each image with its alt text as typed")
        seen.html(s.req(f"/api/v1/articles/{slug}").json().get("html", ""), f"/api/v1/articles/{slug}", k, "alt text")
    seen.done("alt texts")
    print(f"# xss: {len(ps)} payloads as alt texts: {len(lines)} uploaded, {refused} refused; "
          f"{seen.checked} pages and fragments checked")
    s.stop()


@test("xss: every payload as a review comment (the desk's «Вернуть на доработку» and the API's reject): the "
      "author's list, the history and the revisions API show it as text")
def _():
    ps = payloads()
    s = server("xss-review", editors={"require_review": "1"})
    account(s, "olga", "editor")
    account(s, "petr", "editor")
    olga = Agent(s, "olga", role_page="/desk/articles")
    petr = Agent(s, "petr", role_page="/desk/articles")
    to, tp = token_add(s, "olga"), token_add(s, "petr")
    slug = "xss-review-comments"
    art = {"title": "Проверка замечаний", "section": "orders", "summary": "", "keywords": "", "body": "Текст.\n",
           "message": "черновик"}
    eq(put_article(s, to, slug, art).status, 200, "a draft")
    seen = Seen()
    kept = refused = 0
    for n, p in enumerate(ps):
        eq(post_action(s, to, slug, "submit").status, 200, f"submit {n}")
        if n % 2:
            r = post_json(s, tp, slug, "reject", {"comment": p})
            ok, bad = r.status == 200, r.status == 422
        else:
            r = petr.post(f"/desk/articles/{slug}", {"do": "reject", "comment": p})
            ok, bad = r.status == 303, r.status == 422
            if bad:
                seen.html(r.text, f"/desk/articles/{slug} (refused)", n, "review comment")
        check(ok or bad, f"payload {n} as a review comment: {r.status} {r.text[:200]}")
        if bad:  # a blank comment or a control character: refused, still in review
            refused += 1
            eq(post_action(s, tp, slug, "publish").status, 200, f"payload {n}: publish what was refused")
            eq(put_article(s, to, slug, dict(art, body=f"Текст {n}.\n")).status, 200, f"a new draft after {n}")
            continue
        kept += 1
        top = revisions(s, to, slug)[0]  # the revision sent back carries the comment as typed
        check(top.get("comment") in (p, p.strip()), f"payload {n}: the API's comment {top.get('comment')!r}")
        page = olga.get("/desk/articles")
        seen.page(page, "/desk/articles (the author's list)", n, "review comment")
        shown = " ".join(unescape(re.sub(r"<[^>]*>", " ", page.text)).split())
        check(" ".join(p.split())[:40] in shown, f"payload {n}: the author's list does not show the comment as text")
        if n % 10 == 0:
            seen.page(olga.get(f"/desk/articles/{slug}"), f"/desk/articles/{slug}", n, "review comment")
    seen.page(olga.get(f"/desk/articles/{slug}"), f"/desk/articles/{slug}", -1, "review comment")
    seen.page(petr.get(f"/desk/articles/{slug}"), f"/desk/articles/{slug} (reviewer)", -1, "review comment")
    seen.done("review comments")
    check(kept >= len(ps) * 3 // 4, f"most comments are text to keep: {kept} of {len(ps)}")
    print(f"# xss: {len(ps)} payloads as review comments: {kept} kept, {refused} refused; "
          f"{seen.checked} pages checked")
    s.stop()


@test("xss: the checker itself finds each kind of unsafe output (so the tests above can fail)")
def _():
    bad = ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '<a href="jav&#x09;ascript:alert(1)">x</a>',
           '<a href=" javascript:alert(1)">x</a>', '<iframe src="/x"></iframe>', '<svg><a></a></svg>',
           '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">', '<div style="width:expression(1)">',
           '<form action="javascript:alert(1)"></form>', '<img srcset="x.png, data:image/png;base64,AA">',
           '<script src="https://xss.example/x.js"></script>', '<a href="DATA:text/html,x">x</a>']
    for b in bad:
        check(unsafe(f"<p>{b}</p>"), f"the checker let {b!r} through")
    good = ['<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>', '<a href="/a/x">x</a>',
            '<script src="/static/search.js?v=1" defer></script>', '<p title="javascript:alert(1)">x</p>',
            '<a href="https://example.org/?q=javascript:1">x</a>']
    for g in good:
        eq(unsafe(g), [], f"the checker flags the safe {g!r}")
