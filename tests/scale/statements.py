#!/usr/bin/env python3
"""statements.py - every SQL statement retentiond issues, checked against the
distributed-database design in docs/scale.md (issue 21).

    statements.py check ROOT    exit 1 on a finding (the ctest scale.statements)
    statements.py list ROOT     every statement with its key, tables and class
    statements.py selftest      the check finds what it should in a made-up tree
    statements.py update ROOT   rewrites the table of cross-shard statements in
                                docs/scale.md: listed keys keep their code, new
                                ones get one guessed from their file (printed:
                                review it), gone ones are dropped

Statements are found statically, so that none can hide in a path the tests do
not drive: every C string literal (adjacent literals joined) that starts with
a statement keyword in daemon/, daemon/ctl/ and workers/, and every statement
in the bodies of schema/functions/*.sql. DDL (CREATE, ALTER, DROP) is the
schema's, not a statement against client data, and is left out.

docs/scale.md is the source of truth for the design: its table of
"Distributed tables" names the tables distributed by client_id, and its table
of "Cross-shard statements" lists, by key, every statement that touches one of
them without a filter on client_id, with how it would change under Citus. A
statement is single-shard when its text filters every distributed table it
touches on client_id (`client_id = $1`, `client_id = ANY ($1)`, `= p_client`:
a parameter, a variable or a literal, not a join column: a join of co-located
tables stays on one shard only when its driving rows are filtered); this is a
textual check, deliberately strict: a statement it cannot prove single-shard
must be listed.

A key is `path#fingerprint`, the fingerprint the first 8 hex digits of the
SHA-256 of the statement with its white space collapsed: a statement that
changes must be looked at again. The check also fails on a listed key that no
longer exists, so the document stays true.
"""
import hashlib
import re
import sys
from pathlib import Path

STATEMENT = re.compile(r"^\s*\(?\s*(SELECT|INSERT|UPDATE|DELETE|WITH|COPY)\b", re.I)
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
LITERALS = re.compile(r'"(?:[^"\\\n]|\\.)*"(?:\s*"(?:[^"\\\n]|\\.)*")*')
MACRO = re.compile(r'\b[A-Z][A-Z0-9_]*\(\s*"((?:[^"\\\n]|\\.)*)"\s*\)')
DEFINE = re.compile(r'^#define[ \t]+([A-Z_][A-Z0-9_]*)[ \t]+(?:\\\n[ \t]*)?((?:"(?:[^"\\\n]|\\.)*"[ \t]*(?:\\\n[ \t]*)?)+)$', re.M)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def normalise(sql):
    return " ".join(sql.split())


def fingerprint(sql):
    return hashlib.sha256(normalise(sql).encode()).hexdigest()[:8]


def c_statements(root):
    for path in sorted(
        list(root.glob("daemon/*.c")) + list(root.glob("daemon/ctl/*.c")) + list(root.glob("workers/*.c"))
    ):
        src = COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), path.read_text())
        # A macro around one literal (CTL_US("c.last_order_at")) is that
        # literal here: what it wraps is what the statement reads.
        src = MACRO.sub(lambda m: '"' + m.group(1) + '"', src)
        # A #define of literals (a part shared by statements) is expanded
        # where it is used, and is no statement itself.
        defines = {}
        for m in DEFINE.finditer(src):
            defines[m.group(1)] = " ".join(LITERALS.findall(m.group(2)))
        src = DEFINE.sub(lambda m: "\n" * m.group(0).count("\n"), src)
        for name, text in defines.items():
            src = re.sub(r"\b" + name + r"\b", lambda _m: text, src)
        for m in LITERALS.finditer(src):
            text = "".join(LITERAL.findall(m.group(0)))
            text = text.encode().decode("unicode_escape", errors="ignore")
            if STATEMENT.match(text) and not re.match(r"^\s*COPY\s*$", text):
                if re.search(r"%[sd]", text):
                    # A format: an error message ("SELECT failed: %s"), or a
                    # statement completed with internal constants (a stream
                    # name, a clock expression; never message text).
                    if not re.search(r"\b(FROM|INTO|SET)\b", text):
                        continue
                    text = re.sub(r"%[sd]", "X", text)
                yield str(path.relative_to(root)), text


def split_body(body):
    """Statements of a function body: split on ';' outside quotes."""
    out, cur, quote = [], [], None
    i = 0
    while i < len(body):
        ch = body[i]
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
        elif ch == "'":
            quote = ch
            cur.append(ch)
        elif body.startswith("--", i):
            j = body.find("\n", i)
            i = len(body) if j < 0 else j
            continue
        elif ch == ";":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def sql_statements(root):
    for path in sorted(root.glob("schema/functions/*.sql")):
        text = path.read_text()
        for body in re.findall(r"\$(\w*)\$(.*?)\$\1\$", text, re.S):
            for part in split_body(body[1]):
                # plpgsql around a statement: DECLARE ... BEGIN, IF ... THEN, RETURN QUERY, PERFORM
                part = re.sub(
                    r"^(\s*(DECLARE\b.*?\bBEGIN|BEGIN|END\s+IF|END\s+LOOP|END|ELSE|ELSIF\b.*?\bTHEN|"
                    r"IF\b.*?\bTHEN|LOOP|RETURN\s+QUERY|RETURN|FOR\b.*?\bIN))+",
                    "",
                    part,
                    flags=re.S | re.I,
                )
                if re.match(r"^\s*PERFORM\b", part, re.I):
                    part = re.sub(r"^\s*PERFORM", "SELECT", part, flags=re.I)
                if STATEMENT.match(part):
                    yield str(path.relative_to(root)), part.strip()


def doc_tables(doc, heading):
    """The first column (backquoted names) of the table under `heading`."""
    m = re.search(r"^#+ " + re.escape(heading) + r"\s*$(.*?)(?=^#+ |\Z)", doc, re.S | re.M)
    if not m:
        sys.exit(f"docs/scale.md: no section '{heading}'")
    return re.findall(r"^\|\s*`([^`]+)`", m.group(1), re.M)


def tables_touched(sql, tables):
    found = set()
    for t in tables:
        if re.search(r"\b(FROM|JOIN|UPDATE|INTO|TABLE)\s+(ONLY\s+)?" + t + r"\b", sql, re.I):
            found.add(t)
    return found


def filtered(sql):
    """A filter on one client (or a given list): a parameter, a variable or a
    literal, not a join column (a join between co-located tables keeps a
    statement on one shard only when the driving rows are filtered)."""
    return (
        re.search(
            r"client_id\s*=\s*(\$\d|p_\w+|v_\w+|'|ANY\s*\(\s*(\$\d|p_\w+|v_\w+))|client_id\s+IN\s*\(\s*\$",
            sql,
            re.I,
        )
        is not None
    )


def classify(root):
    doc = (root / "docs/scale.md").read_text()
    distributed = doc_tables(doc, "Distributed tables")
    listed = set(doc_tables(doc, "Cross-shard statements"))
    rows = []
    for where, sql in list(c_statements(root)) + list(sql_statements(root)):
        key = f"{where}#{fingerprint(sql)}"
        touched = tables_touched(sql, distributed)
        if not touched:
            cls = "local"
        elif filtered(sql):
            cls = "single-shard"
        else:
            cls = "cross-shard"
        rows.append((key, cls, sorted(touched), normalise(sql)))
    return rows, listed, distributed


SELFTEST_C = r"""
/* "SELECT * FROM clients" in a comment is not a statement */
static const char *const ONE = "SELECT name FROM clients"
                               " WHERE client_id = $1";
static const char *const ALL = "UPDATE clients SET eval_at = NULL" /* every client */
                               " WHERE status = " Q("closed");
static const char *const REF = "SELECT now FROM event_clock";
static const char *const ERR = "SELECT failed: %s";
"""
SELFTEST_SQL = """CREATE OR REPLACE FUNCTION f(p_ids text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE episodes SET stage = 0 WHERE client_id = ANY (p_ids);
    PERFORM count(*) FROM orders;
END $$;
"""
SELFTEST_DOC = """## Distributed tables
| Table |
|---|
| `clients` |
| `episodes` |
| `orders` |
## Cross-shard statements
| Key |
|---|
| `daemon/gone.c#00000000` |
"""


def selftest():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        for sub in ("daemon", "docs", "schema/functions"):
            (root / sub).mkdir(parents=True)
        (root / "daemon/x.c").write_text(SELFTEST_C)
        (root / "schema/functions/f.sql").write_text(SELFTEST_SQL)
        (root / "docs/scale.md").write_text(SELFTEST_DOC)
        rows, listed, _ = classify(root)
        got = sorted((r[1], r[3][:30]) for r in rows)
        want = sorted(
            [
                ("single-shard", "SELECT name FROM clients WHERE"),
                ("cross-shard", "UPDATE clients SET eval_at = N"),
                ("local", "SELECT now FROM event_clock"),
                ("single-shard", "UPDATE episodes SET stage = 0 "),
                ("cross-shard", "SELECT count(*) FROM orders"),
            ]
        )
        if got != want:
            print(f"selftest: classified\n  {got}\nwanted\n  {want}")
            return 1
        stale = listed - {r[0] for r in rows}
        if stale != {"daemon/gone.c#00000000"}:
            print(f"selftest: stale keys {stale}")
            return 1
    print("selftest: 5 statements classified as expected, 1 stale key found")
    return 0


# A first guess of a new statement's code (docs/scale.md, "Cross-shard
# statements"), by where it lives.
GUESSES = [
    ("rd_apply_decisions", "D"),
    ("rd_apply_batch", "W"),
    ("rd_merge_orders", "W"),
    ("rd_refresh_clients", "W"),
    ("rd_claim", "S"),
    ("daemon/schedule.c", "S"),
    ("daemon/outbox.c", "O"),
    ("rd_model", "M"),
    ("rd_cycle_medians", "M"),
    ("rd_loyalty", "M"),
    ("daemon/ctl/report", "R"),
]


def update(root):
    rows, _, _ = classify(root)
    path = root / "docs/scale.md"
    doc = path.read_text()
    head = "| Key | Tables | Code | Statement |\n|---|---|---|---|\n"
    start = doc.index(head) + len(head)
    end = doc.index("\n\n", start) + 1
    codes = dict(re.findall(r"^\| `([^`]+)` \| [^|]* \| (\w) \|", doc[start:end], re.M))
    out = []
    for key, cls, touched, sql in rows:
        if cls != "cross-shard":
            continue
        code = codes.get(key)
        if code is None:
            code = next((c for k, c in GUESSES if k in key), "A")
            print(f"added {key} as {code}: {sql[:70]}")
        text = sql[:60].replace("|", "\\|")
        out.append(f"| `{key}` | {', '.join(touched)} | {code} | `{text}…` |")
    for key in sorted(set(codes) - {r[0] for r in rows}):
        print(f"dropped {key}")
    path.write_text(doc[:start] + "\n".join(out) + "\n" + doc[end:])
    return 0


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "selftest":
        return selftest()
    if len(sys.argv) == 3 and sys.argv[1] == "update":
        return update(Path(sys.argv[2]))
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "list"):
        sys.exit(__doc__)
    root = Path(sys.argv[2])
    rows, listed, distributed = classify(root)
    if sys.argv[1] == "list":
        for key, cls, touched, sql in rows:
            print(f"{cls:12} {key} {','.join(touched)}\n    {sql[:160]}")
        return 0
    failures = 0
    keys = {r[0] for r in rows}
    for key, cls, touched, sql in rows:
        if cls == "cross-shard" and key not in listed:
            failures += 1
            print(f"not listed: | `{key}` | {', '.join(touched)} | ? | `{sql[:60]}…` |")
    for key in sorted(listed - keys):
        failures += 1
        print(f"listed but not found (changed or gone): {key}")
    if failures:
        print("tests/scale/statements.py update . rewrites the table (review the codes it guesses)")
    counts = {c: sum(1 for r in rows if r[1] == c) for c in ("local", "single-shard", "cross-shard")}
    print(
        f"{len(rows)} statements: {counts['single-shard']} single-shard, "
        f"{counts['cross-shard']} cross-shard (listed in docs/scale.md), {counts['local']} on "
        f"reference or local tables; {len(distributed)} distributed tables; {failures} finding(s)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
