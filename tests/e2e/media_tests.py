"""End-to-end tests of issue #10's images: an editor uploads PNG, JPEG and WebP screenshots in the
desk (POST /desk/media, multipart), gets the Markdown to insert, saves and publishes an article
with it; the portal shows the image sized, lazy and in a link to the full size; /media/{name}
serves only registered images, with the long cache headers, nosniff, a CSP and the metadata
stripped; SVG, HTML, polyglots, trailing data and oversized images are refused in Russian; only
editors upload; an image without alt text is refused when the article is saved; content/media/
is imported (a bad image fails the import, naming the file) and exported.

Imported by run.py; runs on both engines (the harness gives commands the engine's --db).
"""

import base64
import hashlib
import os
import re
import struct
import zlib
from html import unescape

from desk_tests import Agent, account, server, valid_html
from harness import CONTENT, check, contains, count, eq, lacks, new_dir, short, spravka, sql, test

SEEDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "image")
MEDIA_URL = re.compile(r"/media/([0-9a-f]{64})\.(png|jpg|webp)")
CACHE = "public, max-age=31536000, immutable"
DEMO = len(os.listdir(os.path.join(CONTENT, "media")))  # the demo content's images, imported at start


def seed(name):
    with open(os.path.join(SEEDS, name), "rb") as f:
        return f.read()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(w, h, extra=b""):
    """A grey PNG of w x h made here, with extra chunks after IHDR."""
    raw = b"".join(b"\0" + b"\x80" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + extra
            + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


# The smallest lossless WebP, written by hand: RIFF, WEBP, one VP8L chunk of a 1x1 image.
WEBP = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")


def multipart(fields, files):
    boundary = "media" + hashlib.sha1(repr(sorted(fields.items())).encode()).hexdigest()[:16]
    out = []
    for k, v in fields.items():
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode())
    for k, (name, data, ctype) in files.items():
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{name}\"\r\n"
                   f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def upload(user, data, alt="Снимок формы", name="shot.png", ctype="image/png", reply=None, csrf=True, cookie=None,
           s=None):
    fields = {"alt": alt, "slug": "media-test"}
    if csrf:
        fields["csrf"] = user.csrf if user else "x"
    if reply:
        fields["reply"] = reply
    body, ct = multipart(fields, {"file": (name, data, ctype)})
    srv = s or user.s
    return srv.req("/desk/media", "POST", {"Content-Type": ct}, body,
                   cookie=cookie if cookie is not None else (user.cookie if user else None))


def markdown_of(r):
    """The Markdown an upload page shows to copy."""
    m = re.search(r'<input id="f-markdown" class="markdown" value="([^"]*)"', r.text)
    check(m, f"the upload page shows the Markdown: {short(r.text, 600)}")
    return unescape(m.group(1))


def editor(name):
    s = server("media-" + name)
    account(s, "olga", "editor")
    return s, Agent(s, "olga", role_page="/desk/articles")


@test("media: an editor uploads PNG, JPEG and WebP and gets the Markdown; /media serves each with its type, "
      "a year's immutable cache, nosniff, a CSP and the metadata stripped; the article with them is saved, "
      "previewed and published, and the portal shows <img width height alt loading=lazy> in a link")
def _():
    s, ed = editor("upload")
    # The edit form carries the upload form (multipart, the CSRF token, a file input and a required alt).
    r = ed.get("/desk/articles/media-test/edit")
    eq(r.status, 200, "the edit form")
    contains(r.text, 'action="/desk/media"', 'enctype="multipart/form-data"', 'type="file" name="file"',
             'name="alt"', "/static/editor.js", what="the upload form under the editor")
    valid_html(r, "the edit form")
    secret_png = png(3, 2, png_chunk(b"tEXt", b"Author\0secret-author") + png_chunk(b"eXIf", b"MM\0*secret-gps")
                     + png_chunk(b"tIME", b"\x07\xea\x0c\x02\x0c\x00\x00"))
    jpeg = seed("jpeg-exif-xmp-com.jpg")
    check(b"secret" in jpeg and b"Exif" in jpeg, "the JPEG seed carries EXIF, XMP and a comment")
    uploads = [("PNG", secret_png, "png", "image/png", (3, 2)), ("JPEG", jpeg, "jpg", "image/jpeg", (16, 12)),
               ("WebP", WEBP, "webp", "image/webp", (1, 1))]
    lines = []
    for kind, data, ext, mime, (w, h) in uploads:
        # The declared type and file name say nothing: a JPEG named .png sent as text/plain is a JPEG.
        r = upload(ed, data, alt=f"Форма [{kind}] *со* звёздочкой", name="picture.png", ctype="text/plain")
        eq(r.status, 200, f"upload of the {kind} ({short(r.text)})")
        valid_html(r, f"the upload page of the {kind}")
        md = markdown_of(r)
        m = MEDIA_URL.search(md)
        check(m and m.group(2) == ext, f"the {kind}'s address has its type's extension: {md}")
        check(md.startswith(f"![Форма \\[{kind}\\] \\*со\\* звёздочкой](/media/"), f"alt escaped for Markdown: {md}")
        contains(r.text, f"{w}×{h} пикселей", what=f"the {kind}'s size on the upload page")
        img = s.req(f"/media/{m.group(1)}.{ext}")
        eq(img.status, 200, f"GET the {kind}")
        eq(img.header("content-type"), mime, f"the {kind}'s Content-Type")
        eq(img.header("cache-control"), CACHE, f"the {kind}'s Cache-Control")
        eq(img.header("x-content-type-options"), "nosniff", f"the {kind}'s nosniff")
        contains(img.header("content-security-policy") or "", "default-src 'none'", what=f"the {kind}'s CSP")
        eq(hashlib.sha256(img.body).hexdigest(), m.group(1), f"the {kind} is named by its content's SHA-256")
        check(b"secret" not in img.body and b"Exif" not in img.body and b"tIME" not in img.body,
              f"the {kind}'s metadata is stripped")
        check(len(img.body) <= len(data), f"the cleaned {kind} is no larger")
        again = s.req(f"/media/{m.group(1)}.{ext}")  # from the page cache now
        eq((again.status, again.body, again.header("cache-control")), (200, img.body, CACHE), "served again")
        eq(sql(s, "SELECT type, width, height, bytes FROM media WHERE hash = ?", m.group(1)),
           [(ext, w, h, len(img.body))], f"the {kind}'s media row")
        lines.append(md)
    # The script's way: reply=markdown answers the Markdown alone.
    r = upload(ed, WEBP, alt="Точка", reply="markdown")
    eq(r.status, 200, "upload with reply=markdown")
    contains(r.header("content-type"), "text/plain", what="reply=markdown type")
    check(MEDIA_URL.search(r.text) and r.text.startswith("![Точка](/media/"), f"the Markdown alone: {r.text!r}")
    eq(count(s, "media"), DEMO + 3, "the same WebP twice is one row")
    # The same under another extension, an unknown hash, a malformed name: 404.
    h = MEDIA_URL.search(lines[0]).group(1)
    for bad in (f"{h}.jpg", "0" * 64 + ".png", f"{h}.PNG", f"{h}", f"{h}.png.html", "x.png"):
        eq(s.req("/media/" + bad).status, 404, f"/media/{bad}")
    # Saved into an article: the preview and the portal show the images sized, lazy, in links.
    body = "Шаги с картинками.\n\n" + "\n\n".join(lines) + "\n\n![Внешняя](https://evil.example/x.png)\n"
    form = {"title": "Статья с изображениями", "section": "faq", "summary": "Проверка изображений.",
            "keywords": "картинки", "body": body, "message": "картинки"}
    r = ed.post("/desk/articles/media-test/edit", dict(form, do="preview"))
    eq(r.status, 200, f"preview ({short(r.text)})")
    contains(r.text, 'width="3" height="2"', 'loading="lazy"', what="the preview")
    r = ed.post("/desk/articles/media-test/edit", dict(form, do="save", base_revision="0"))
    eq(r.status, 303, f"save ({short(r.text)})")
    r = ed.post("/desk/articles/media-test", {"do": "publish"})
    eq(r.status, 303, f"publish ({short(r.text)})")
    page = s.req("/a/media-test")
    eq(page.status, 200, "the article on the portal")
    valid_html(page, "the article with images")
    for (kind, _, ext, _, (w, h)), md in zip(uploads, lines):
        name = MEDIA_URL.search(md).group(0)
        want = (f'<a class="shot" href="{name}"><img src="{name}" alt="Форма [{kind}] *со* звёздочкой" '
                f'width="{w}" height="{h}" loading="lazy" decoding="async"></a>')
        contains(page.text, want, what=f"the portal's {kind}")
    lacks(page.text, "evil.example", what="an external image is not shown")
    contains(page.text, "Внешняя", what="its alt text is")
    api = s.req("/api/v1/articles/media-test")
    contains(api.json()["html"], 'width="16" height="12"', what="the API's HTML")


@test("media: SVG, HTML, a GIF/HTML polyglot, bytes after the end, a truncated or broken image, an empty file, "
      "more than 5 MB or 40 megapixels, animated WebP, no file or no alt text: refused with a Russian message "
      "(422, the alt kept), nothing stored")
def _():
    s, ed = editor("refused")
    cases = [
        ("svg.svg", seed("svg.svg"), "SVG и HTML не принимаются"),
        ("page.html", seed("html.html"), "SVG и HTML не принимаются"),
        ("polyglot.gif", seed("gif-html-polyglot.gif"), "GIF не принимается"),
        ("trailing.png", seed("png-trailing-html.png"), "лишние данные"),
        ("trailing.jpg", seed("jpeg-trailing-zip.jpg"), "лишние данные"),
        ("trailing.webp", seed("webp-trailing.webp"), "лишние данные"),
        ("cut.png", seed("png-truncated.png"), "повреждён или обрезан"),
        ("cut.jpg", seed("jpeg-truncated.jpg"), "повреждён или обрезан"),
        ("crc.png", seed("png-bad-crc.png"), "повреждён или обрезан"),
        ("empty.png", b"", "Файл пустой"),
        ("text.png", "Привет, это текст".encode(), "Это не изображение PNG, JPEG или WebP"),
        ("big.png", png(1, 1) + b"\0" * (5 * 1024 * 1024), "Файл больше 5 МБ"),
        ("huge.png", seed("png-huge.png"), "слишком большое"),
        ("wide.png", png(10001, 1), "слишком большое"),
        ("anim.webp", seed("webp-animated.webp"), "Анимированные WebP не принимаются"),
    ]
    for name, data, want in cases:
        r = upload(ed, data, alt="Описание «как есть»", name=name)
        eq(r.status, 422, f"{name}: {short(r.text)}")
        contains(r.text, want, 'value="Описание «как есть»"', what=f"{name}'s answer")
        valid_html(r, f"{name}'s answer")
        r = upload(ed, data, name=name, reply="markdown")
        eq(r.status, 422, f"{name} with reply=markdown")
        contains(r.text, want, what=f"{name}'s plain answer")
    r = upload(ed, png(2, 2), alt="   ")
    eq(r.status, 422, "no alt text")
    contains(r.text, "Напишите, что на изображении", what="no alt text")
    body, ct = multipart({"csrf": ed.csrf, "alt": "Нет файла"}, {})
    r = s.req("/desk/media", "POST", {"Content-Type": ct}, body, cookie=ed.cookie)
    eq(r.status, 422, "no file")
    contains(r.text, "Выберите файл", what="no file")
    eq(count(s, "media"), DEMO, "nothing registered")


@test("media: only editors and admins upload: anonymous to the login page, an agent 403, no CSRF token 403; "
      "an admin may")
def _():
    s = server("media-roles")
    account(s, "ivan", "agent")
    account(s, "root", "admin")
    account(s, "olga", "editor")
    r = upload(None, png(2, 2), csrf=False, cookie="", s=s)
    eq(r.status, 303, "anonymous upload")
    contains(r.header("location") or "", "/desk/login", what="anonymous upload's redirect")
    eq(s.req("/desk/media").status, 303, "anonymous upload page")
    agent = Agent(s, "ivan")
    r = upload(agent, png(2, 2))
    eq(r.status, 403, "an agent's upload")
    eq(agent.get("/desk/media").status, 403, "an agent's upload page")
    ed = Agent(s, "olga", role_page="/desk/articles")
    eq(upload(ed, png(2, 2), csrf=False).status, 403, "no CSRF token")
    eq(count(s, "media"), DEMO, "nothing stored")
    admin = Agent(s, "root")
    eq(upload(admin, png(2, 2)).status, 200, "an admin's upload")
    r = ed.get("/desk/media?slug=media-test")
    eq(r.status, 200, "the upload page")
    valid_html(r, "the upload page")


@test("media: an article whose body has an image without alt text is refused (422, the text kept), in the desk "
      "and through the API")
def _():
    s, ed = editor("alt")
    r = upload(ed, png(4, 3), reply="markdown")
    eq(r.status, 200, "upload")
    name = MEDIA_URL.search(r.text).group(0)
    body = f"Текст до.\n\n![]({name})\n\nТекст после."
    form = {"title": "Без описания", "section": "faq", "summary": "", "keywords": "", "body": body,
            "message": "", "do": "save", "base_revision": "0"}
    r = ed.post("/desk/articles/no-alt/edit", form)
    eq(r.status, 422, f"save without alt ({short(r.text)})")
    contains(r.text, "нет описания", "Текст до.", "Текст после.", what="the refusal keeps the text")
    eq(count(s, "article_revisions", "slug = ?", "no-alt"), 0, "nothing saved")
    r = ed.post("/desk/articles/no-alt/edit", dict(form, body=body.replace("![]", "![ \t]")))
    eq(r.status, 422, "blank alt")
    r = ed.post("/desk/articles/no-alt/edit", dict(form, body=body.replace("![]", "![Схема]")))
    eq(r.status, 303, "with alt text")


@test("media: content/media/ is imported through the same checks (media/NAME becomes the stored address; a bad "
      "image or a missing one fails the import naming it) and exported back; the demo articles show their images")
def _():
    # The demo content: five articles with images, imported at the first start.
    s = server("media-demo")
    eq(count(s, "media"), DEMO, "demo images registered")
    for slug in ("register-member", "change-bank-details", "track-order", "payout-setup", "return-order"):
        page = s.req(f"/a/{slug}")
        eq(page.status, 200, slug)
        m = re.search(r'<a class="shot" href="(/media/[0-9a-f]{64}\.png)"><img src="\1" alt="([^"]+)" '
                      r'width="(\d+)" height="(\d+)" loading="lazy"', page.text)
        check(m, f"{slug} shows its image: {short(page.text, 200)}")
        check(re.search("[а-яё]", m.group(2)), f"{slug}: a Russian alt text")
        img = s.req(m.group(1))
        eq(img.status, 200, f"{slug}'s image")
        eq(struct.unpack(">II", img.body[16:24]), (int(m.group(3)), int(m.group(4))), f"{slug}: the size is the PNG's")
        check(len(img.body) < 60 * 1024, f"{slug}'s image is small")
    check(re.search(r'width="1600"', s.req("/a/track-order").text), "one wide image (1600 px)")
    # A bad image fails the import, naming the file; nothing of the texts changes.
    d = new_dir("media-bad")
    os.makedirs(os.path.join(d, "media"))
    with open(os.path.join(d, "sections"), "w") as f:
        f.write("faq | Частые вопросы | 7 | Вопросы\n")
    art = ("---\nslug: pic\ntitle: Картинка\nsection: faq\nsummary: С картинкой.\nupdated: 2026-12-01\n"
           "countries:\nkeywords:\nrelated:\n---\n![Схема](media/scheme.png)\n")
    with open(os.path.join(d, "pic.md"), "w") as f:
        f.write(art)
    with open(os.path.join(d, "media", "scheme.png"), "wb") as f:
        f.write(seed("png-trailing-html.png"))
    rc, _, err = spravka("import", d, "--data", s.data)
    check(rc != 0, "a polyglot in content/media fails the import")
    contains(err, "scheme.png", "лишние данные", what="the import's error")
    eq(s.req("/a/pic").status, 404, "nothing imported")
    with open(os.path.join(d, "media", "scheme.png"), "wb") as f:
        f.write(png(5, 4, png_chunk(b"tEXt", b"Comment\0secret")))
    with open(os.path.join(d, "pic.md"), "w") as f:
        f.write(art.replace("scheme.png", "missing.png"))
    rc, _, err = spravka("import", d, "--data", s.data)
    check(rc != 0, "a missing image fails the import")
    contains(err, "media/missing.png", what="the import's error")
    with open(os.path.join(d, "pic.md"), "w") as f:
        f.write(art.replace("![Схема]", "![]"))
    rc, _, err = spravka("import", d, "--data", s.data)
    check(rc != 0, "an image without alt text fails the import")
    contains(err, "pic.md", "no alt text", what="the import's error")
    with open(os.path.join(d, "pic.md"), "w") as f:
        f.write(art)
    rc, _, err = spravka("import", d, "--data", s.data)
    eq(rc, 0, f"import with a good image: {short(err)}")
    row = sql(s, "SELECT hash, width, height FROM media WHERE name = ?", "scheme.png")
    eq([(w, h) for _, w, h in row], [(5, 4)], "the imported image's row")
    stored = s.req(f"/media/{row[0][0]}.png")
    check(stored.status == 200 and b"secret" not in stored.body, "served, metadata stripped")
    text = sql(s, "SELECT body FROM articles WHERE slug = ?", "pic")[0][0]
    eq(text, f"![Схема](/media/{row[0][0]}.png)\n", "the text names the stored address")
    # Export: the image under its file name, the text naming it as content/ does.
    x = os.path.join(new_dir("media-export"), "out")
    rc, _, err = spravka("export", x, "--data", s.data)
    eq(rc, 0, f"export: {short(err)}")
    with open(os.path.join(x, "pic.md"), encoding="utf-8") as f:
        contains(f.read(), "![Схема](media/scheme.png)", what="the exported text")
    with open(os.path.join(x, "media", "scheme.png"), "rb") as f:
        eq(f.read(), stored.body, "the exported image")
    for n in os.listdir(os.path.join(CONTENT, "media")):
        with open(os.path.join(x, "media", n), "rb") as f, open(os.path.join(CONTENT, "media", n), "rb") as g:
            eq(f.read(), g.read(), f"the demo image {n} exported unchanged")


@test("media: in chromium the editor's upload form sends the image in the background and inserts its Markdown "
      "at the cursor of the article's text (static/editor.js); the page keeps what was typed")
def _():
    from browser import Browser, BrowserError
    from harness import Fail
    s, ed = editor("browser")
    path = os.path.join(new_dir("media-browser"), "снимок.png")
    with open(path, "wb") as f:
        f.write(png(8, 6))
    b = None
    try:
        b = Browser()
        b.call("Network.enable", session=True)
        b.call("Network.setCookie", session=True, name="spravka_session", value=ed.token,
               url=f"http://127.0.0.1:{s.port}/")
        b.open(f"http://127.0.0.1:{s.port}/desk/articles/media-test/edit")
        b.js("var a = document.getElementById('f-body'); a.value = 'Первый шаг.\\n\\nВторой шаг.'; "
             "a.setSelectionRange(11, 11); true")
        doc = b.call("DOM.getDocument", session=True)
        node = b.call("DOM.querySelector", session=True, nodeId=doc["root"]["nodeId"], selector="#f-image")
        b.call("DOM.setFileInputFiles", session=True, nodeId=node["nodeId"], files=[path])
        b.js("document.getElementById('f-alt').value = 'Кнопка «Далее»'; "
             "document.querySelector('form.media-upload button[type=submit]').click(), true")
        b.wait_for("document.getElementById('f-body').value.indexOf('/media/') >= 0", timeout=10)
        text = b.js("document.getElementById('f-body').value")
        m = re.fullmatch(r"Первый шаг\.\n\n!\[Кнопка «Далее»\]\(/media/[0-9a-f]{64}\.png\)\n\nВторой шаг\.", text)
        check(m, f"the Markdown inserted at the cursor: {text!r}")
        eq(b.js("location.pathname"), "/desk/articles/media-test/edit", "the page stayed")
        contains(b.js("document.getElementById('upload-status').textContent"), "вставлено", what="the status")
    except BrowserError as e:
        raise Fail(str(e))
    finally:
        if b:
            b.close()


def markup(text):
    """The tags and attributes of a page as a browser's parser sees them: [(tag, {name: value})]."""
    from html.parser import HTMLParser
    out = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            out.append((tag, dict(attrs)))
    P().feed(text)
    return out


@test("media: hostile alt texts (markup, attribute breakouts, Markdown link syntax) stay text: escaped in the "
      "Markdown the upload answers, on the upload page, in the preview and on the portal")
def _():
    s, ed = editor("xss")
    payloads = ['"><script>alert(1)</script>', "' onerror='alert(1)", "](javascript:alert(1))",
                "<img src=x onerror=alert(1)>", "![x](https://evil.example/x.png)", "`code` *em* _u_ \\"]

    def safe(text, what):
        for tag, attrs in markup(text):
            check(tag != "script" or attrs.get("src", "").startswith("/static/"), f"{what}: a script: {attrs}")
            bad = [a for a in attrs if a.startswith("on")]
            check(not bad, f"{what}: event attributes {bad} on <{tag}>")
            for a in ("href", "src"):
                v = attrs.get(a) or ""
                check(not v.lower().startswith(("javascript:", "data:", "https://evil")), f"{what}: {a}={v!r}")
    lines = []
    for p in payloads:
        r = upload(ed, png(2, 2), alt=p)
        eq(r.status, 200, f"upload with alt {p!r}")
        valid_html(r, f"the upload page of {p!r}")
        safe(r.text, f"the upload page of {p!r}")
        lines.append(markdown_of(r))
    body = "\n\n".join(lines) + "\n"
    form = {"title": "Опасные подписи", "section": "faq", "summary": "", "keywords": "", "body": body,
            "message": ""}
    r = ed.post("/desk/articles/xss-alt/edit", dict(form, do="preview"))
    eq(r.status, 200, f"preview ({short(r.text)})")
    eq(ed.post("/desk/articles/xss-alt/edit", dict(form, do="save", base_revision="0")).status, 303, "save")
    eq(ed.post("/desk/articles/xss-alt", {"do": "publish"}).status, 303, "publish")
    page = s.req("/a/xss-alt")
    valid_html(page, "the portal page")
    for what, text in (("preview", r.text), ("portal", page.text)):
        safe(text, what)
        alts = [a.get("alt") for t, a in markup(text) if t == "img" and "/media/" in a.get("src", "")]
        eq(alts, payloads, f"{what}: each upload's image with its alt text as typed")
