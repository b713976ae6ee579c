"""A strict HTML5 well-formedness checker for the pages spravka renders.

Stricter than browsers on purpose: spravka writes every element out in full, so an implied end tag
or an unquoted attribute is a bug here. check_html(text) returns a list of problems ([] = fine).
Also: extract the visible text and a few elements for content assertions.
"""

import re
from collections import Counter
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
# Elements that end an open <p> implicitly in HTML5 (so a <p> containing them is not the tree
# the source shows).
CLOSES_P = {"address", "article", "aside", "blockquote", "details", "div", "dl", "fieldset",
            "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
            "hgroup", "hr", "main", "menu", "nav", "ol", "p", "pre", "section", "table", "ul"}
# Where an element may appear: its required parent.
PARENT = {"li": {"ul", "ol", "menu"}, "option": {"select", "optgroup", "datalist"},
          "tr": {"table", "thead", "tbody", "tfoot"}, "td": {"tr"}, "th": {"tr"},
          "thead": {"table"}, "tbody": {"table"}, "tfoot": {"table"}, "head": {"html"},
          "body": {"html"}, "dt": {"dl", "div"}, "dd": {"dl", "div"}}
NO_NEST = {"a", "form", "button", "label", "main", "header", "footer"}

ATTR = re.compile(r"""\s+([^\s"'>/=]+)(\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")


class Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.stack = []  # (tag, line)
        self.problems = []
        self.ids = Counter()
        self.label_for = []
        self.h1 = 0
        self.seen_html = False
        self.doctype = None
        self.titles = 0
        self.meta_charset = False

    def problem(self, msg):
        self.problems.append(f"line {self.getpos()[0]}: {msg}")

    def _attrs(self, tag, attrs):
        raw = self.get_starttag_text() or ""
        m = re.match(r"<[A-Za-z][A-Za-z0-9-]*", raw)
        rest = raw[m.end():] if m else ""
        rest = rest[:-1] if rest.endswith(">") else rest
        if rest.endswith("/"):
            rest = rest[:-1]
        pos = 0
        while pos < len(rest.rstrip()):
            am = ATTR.match(rest, pos)
            if not am:
                self.problem(f"cannot read the attributes of <{tag}>: {raw!r}")
                break
            if am.group(3) and am.group(3)[0] not in "\"'":
                self.problem(f"unquoted attribute value in {raw!r}")
            pos = am.end()
        names = [k for k, _ in attrs]
        for k, n in Counter(names).items():
            if n > 1:
                self.problem(f"attribute {k} given {n} times in <{tag}>")
        a = dict(attrs)
        if "id" in a:
            if not a["id"]:
                self.problem(f"empty id on <{tag}>")
            self.ids[a["id"]] += 1
        if tag == "label" and "for" in a:
            self.label_for.append(a["for"])
        return a

    def handle_starttag(self, tag, attrs):
        a = self._attrs(tag, attrs)
        if not self.seen_html:
            if tag != "html":
                self.problem(f"first element is <{tag}>, not <html>")
            elif a.get("lang") != "ru":
                self.problem(f'<html> has lang={a.get("lang")!r}, not "ru"')
            self.seen_html = True
        open_tags = [t for t, _ in self.stack]
        if tag in CLOSES_P and "p" in open_tags:
            self.problem(f"<{tag}> inside <p> (a browser closes the <p> first)")
        if tag in NO_NEST and tag in open_tags:
            self.problem(f"<{tag}> nested inside another <{tag}>")
        if tag in PARENT and (not open_tags or open_tags[-1] not in PARENT[tag]):
            self.problem(f"<{tag}> inside <{open_tags[-1] if open_tags else '(root)'}>")
        if tag == "h1":
            self.h1 += 1
        if tag == "title" and "svg" not in [t for t, _ in self.stack]:  # an SVG's <title> is its label
            self.titles += 1
        if tag == "meta" and (a.get("charset") or "").lower() == "utf-8":
            self.meta_charset = True
        if tag not in VOID:
            self.stack.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag, attrs):
        if tag not in VOID:
            self.problem(f"self-closing syntax on non-void <{tag}/>")
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)
        else:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag in VOID:
            self.problem(f"end tag </{tag}> for a void element")
            return
        if not self.stack:
            self.problem(f"stray end tag </{tag}>")
            return
        top, line = self.stack[-1]
        if top == tag:
            self.stack.pop()
            return
        if tag in [t for t, _ in self.stack]:
            self.problem(f"</{tag}> closes <{top}> opened at line {line} implicitly")
            while self.stack and self.stack[-1][0] != tag:
                self.stack.pop()
            self.stack.pop()
        else:
            self.problem(f"stray end tag </{tag}> (open: <{top}>)")

    def handle_decl(self, decl):
        if self.doctype is not None or self.seen_html:
            self.problem(f"misplaced declaration <!{decl}>")
        self.doctype = decl

    def unknown_decl(self, data):
        self.problem(f"unknown declaration {data!r}")


def check_html(text):
    """Problems with a page that claims to be HTML5 ([] if none)."""
    problems = []
    if not text.startswith("<!DOCTYPE html>"):
        problems.append(f"does not start with <!DOCTYPE html>: {text[:40]!r}")
    c = Checker()
    try:
        c.feed(text)
        c.close()
    except Exception as e:  # html.parser gives up on some broken input
        problems.append(f"parser error: {e}")
    for tag, line in c.stack:
        c.problems.append(f"<{tag}> opened at line {line} is never closed")
    problems += c.problems
    if not c.seen_html:
        problems.append("no <html> element")
    if c.h1 != 1:
        problems.append(f"{c.h1} <h1> elements, expected exactly 1")
    if c.titles != 1:
        problems.append(f"{c.titles} <title> elements, expected 1")
    if not c.meta_charset:
        problems.append('no <meta charset="utf-8">')
    for i, n in c.ids.items():
        if n > 1:
            problems.append(f'id "{i}" used {n} times')
    for f in c.label_for:
        if f not in c.ids:
            problems.append(f'<label for="{f}"> names no element')
    return problems


# ---- reading pages for content checks --------------------------------------------------------


class _Tree(HTMLParser):
    """Records elements with their attributes and text (a flat list, with nesting paths)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []  # dicts: tag, attrs, path (tags of ancestors), text
        self.open = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        el = {"tag": tag, "attrs": dict(attrs), "path": [e["tag"] for e in self.open],
              "classes": [c for e in self.open for c in (e["attrs"].get("class") or "").split()],
              "text": ""}
        self.elements.append(el)
        if tag not in VOID:
            self.open.append(el)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.open:
            self.open.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i]["tag"] == tag:
                del self.open[i:]
                break

    def handle_data(self, data):
        for e in self.open:
            e["text"] += data
        if not any(e["tag"] in ("script", "style", "title") for e in self.open):
            self.text.append(data)


class Page:
    def __init__(self, html):
        t = _Tree()
        t.feed(html)
        t.close()
        self.html = html
        self.elements = t.elements
        self.text = " ".join(" ".join(t.text).split())

    def find(self, tag=None, cls=None, **attrs):
        out = []
        for e in self.elements:
            if tag and e["tag"] != tag:
                continue
            if cls and cls not in (e["attrs"].get("class") or "").split():
                continue
            if any(e["attrs"].get(k) != v for k, v in attrs.items()):
                continue
            out.append(e)
        return out

    def texts(self, tag, **kw):
        return [" ".join(e["text"].split()) for e in self.find(tag, **kw)]

    def hrefs(self):
        return [e["attrs"].get("href") for e in self.find("a")]
