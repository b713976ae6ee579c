#!/usr/bin/python3
"""Which SQL statements of the program ran on PostgreSQL in the unit tests.

  tests/sql_coverage.py LOG

LOG is the file the PostgreSQL driver appends every SQL text it prepared or executed to
(SPRAVKA_PG_SQL_LOG, src/db/db_pg.c), one line each, written by the unit tests' PostgreSQL run.
The statements of the program are the string literals of the modules that own tables (src/auth, media,
kb, mail, req, searchlog, insights and db.c), after the C preprocessor (so that the SQL assembled from
macros is seen as the compiler sees it), adjacent literals joined, that start with SELECT,
INSERT, UPDATE, DELETE or WITH. Every one of them must appear in LOG: a statement that never ran on
PostgreSQL may hide SQL only SQLite accepts (except the SQLite half of db_engine_sql, db.h). Prints the missing ones and ends with
"sql-coverage: N passed, N failed" (one per statement); exit status 1 when one is missing.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SQL_START = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b")
TOKEN = re.compile(r'"((?:[^"\\\n]|\\.)*)"|\'(?:[^\'\\\n]|\\.)*\'|[A-Za-z_][A-Za-z0-9_]*|\S')


def unescape(s):
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s)


def statements(path):
    flags = subprocess.run(["pkg-config", "--cflags", "sqlite3", "libpq"], capture_output=True, text=True).stdout.split()
    text = subprocess.run(["cc", "-E", "-P", "-std=c11", "-D_GNU_SOURCE", *flags, path], capture_output=True,
                          text=True, check=True).stdout
    found, run, before = [], [], []
    for m in TOKEN.finditer(text):
        if m.group(1) is not None:
            if not run:
                # The SQLite half of db_engine_sql(db, "sqlite", "postgres") never runs on
                # PostgreSQL: the SQLite tests run it.
                sqlite_half = before[-4:-2] == ["db_engine_sql", "("] and before[-1] == ","
            run.append(unescape(m.group(1)))
        else:
            if run and not sqlite_half:
                found.append("".join(run))
            run = []
            before = (before + [m.group(0)])[-4:]
    return [s for s in found if SQL_START.match(s)]


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ran = set(line.rstrip("\n") for line in open(sys.argv[1], encoding="utf-8", errors="replace"))
    seen, missing = set(), []
    for sub in ("auth", "kb", "mail", "media", "req", "searchlog", "insights", "db"):
        d = os.path.join(ROOT, "src", sub)
        for name in sorted(os.listdir(d)):
            # The drivers' own texts (BEGIN, EXPLAIN ...) are not the program's statements.
            if not name.endswith(".c") or name in ("schema.c", "db_sqlite.c", "db_pg.c"):
                continue
            for sql in statements(os.path.join(d, name)):
                if sql in seen:
                    continue
                seen.add(sql)
                if sql.replace("\n", " ") not in ran:
                    missing.append((f"src/{sub}/{name}", sql))
    total = len(seen)
    for where, sql in missing:
        print(f"sql-coverage: never ran on PostgreSQL: {where}: {sql}")
    print(f"sql-coverage: {total - len(missing)} passed, {len(missing)} failed")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
