"""End-to-end tests of issue #10, the editors' workspace, as far as it is built: personal API
tokens (`spravka token add / revoke`, `Authorization: Bearer`) and the insights API's search
groups (GET /api/v1/insights/searches).

Imported by run.py; runs on both engines (the harness gives commands the engine's --db).
"""

import re
from urllib.parse import urlencode

from desk_tests import account, server
from harness import check, contains, eq, spravka, test, wait_for

TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def token_add(s, login):
    rc, out, err = spravka("token", "add", "--login", login, "--data", s.data)
    eq(rc, 0, f"token add --login {login}: {err}")
    lines = out.splitlines()
    eq(len(lines), 1, f"token add prints one line: {out!r}")
    check(TOKEN.match(lines[0]), f"the token is 43 URL-safe characters: {lines[0]!r}")
    return lines[0]


def insights(s, token, query="kind=zero&days=30"):
    hs = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return s.req("/api/v1/insights/searches?" + query, headers=hs)


@test("editors: spravka token add prints a token alone on a line; Bearer with an editor's token reads "
      "the zero-result searches grouped; no token 401, an agent's 403, a revoked one 401 (JSON)")
def _():
    s = server("tokens")
    account(s, "olga", "editor")
    account(s, "ivan", "agent")
    t = token_add(s, "olga")
    ta = token_add(s, "ivan")
    check(t != token_add(s, "olga"), "two tokens of one account differ")
    # Searches that find nothing, typed three ways, and one that finds something.
    for q in ("Фыва пролдж", "фыва  ПРОЛДЖ!", "фыва пролдж", "налог"):
        eq(s.req("/search?" + urlencode({"q": q})).status, 200, f"search {q}")

    def zero():
        r = insights(s, t)
        eq(r.status, 200, f"insights: {r.text[:200]}")
        contains(r.header("content-type"), "application/json", what="content type")
        j = r.json()
        return j if j else None
    got = wait_for(zero, 5, "the searches in the log")
    eq(got[0], {"query": "фыва пролдж", "count": 3}, "the zero-result group")
    check(all(g["query"] != "налог" for g in got), f"a search with results among the zero ones: {got}")
    # Without a token, a wrong one, a wrong scheme: 401 with a JSON error and WWW-Authenticate.
    for what, hs in (("no token", {}), ("a wrong token", {"Authorization": "Bearer " + "A" * 43}),
                     ("a session scheme", {"Authorization": f"Basic {t}"})):
        r = s.req("/api/v1/insights/searches?kind=zero", headers=hs)
        eq(r.status, 401, what)
        eq(r.json()["error"]["code"], "unauthorized", what)
        contains(r.header("www-authenticate") or "", "Bearer", what=what)
    r = insights(s, ta)
    eq(r.status, 403, "an agent's token")
    eq(r.json()["error"]["code"], "forbidden", "an agent's token")
    eq(insights(s, t, "kind=nonsense").status, 400, "an unknown kind")
    eq(insights(s, t, "days=0").status, 400, "days=0")
    # Revoked by the token on standard input: 401 from then on; the other token still works.
    rc, _, err = spravka("token", "revoke", "--data", s.data, input=(t + "\n").encode())
    eq(rc, 0, f"token revoke: {err}")
    eq(insights(s, t).status, 401, "a revoked token")
    rc, _, err = spravka("token", "revoke", "--data", s.data, input=(t + "\n").encode())
    check(rc != 0, "revoking a revoked token again reports it")
    rc, _, err = spravka("token", "revoke", "--login", "ivan", "--data", s.data)
    eq(rc, 0, f"token revoke --login: {err}")
    eq(insights(s, ta).status, 401, "the agent's token after revoke --login")
    rc, out, err = spravka("token", "add", "--login", "nobody", "--data", s.data)
    check(rc != 0 and out == "" and "nobody" in err, f"a token for no account: {rc} {out!r} {err!r}")
    s.stop()
