#!/usr/bin/env python3
"""check_names.py: the shipped dashboard and alert rules use only metrics the
daemon exports, and the dashboard is a loadable Grafana dashboard.

Usage: check_names.py METRICS_C DASHBOARD_JSON RULES_YML

The exported names are read from daemon/metrics.c: the first string argument
of each exposition helper (family, counter, gauge, histogram, per_stream:
prefixed with retentiond_; plain: as written). A histogram also exports
NAME_bucket, NAME_sum and NAME_count. Parsing the source rather than scraping
a daemon keeps this check free of PostgreSQL; tests/integration/test_metrics.c
scrapes the same names from a running daemon.
"""
import json
import re
import sys

import yaml

HELPER = re.compile(r'\b(family|counter|gauge|histogram|per_stream|plain)\(\s*b,\s*"([a-z_:][a-z0-9_:]*)"')
METRIC = re.compile(r'\b((?:retentiond|process)_[a-z0-9_]+)\b')


def exported(metrics_c):
    names = set()
    with open(metrics_c, encoding="utf-8") as f:
        text = f.read()
    for helper, name in HELPER.findall(text):
        full = name if helper == "plain" else "retentiond_" + name
        names.add(full)
        if helper == "histogram":
            names.update(full + s for s in ("_bucket", "_sum", "_count"))
    names.add("retentiond_build_info")  # written by hand: its label holds the version
    return names


def check_exprs(where, exprs, names, errors):
    for label, expr in exprs:
        used = METRIC.findall(expr)
        if not used:
            errors.append(f"{where}: {label}: no retentiond metric in {expr!r}")
        for m in used:
            if m not in names:
                errors.append(f"{where}: {label}: {m} is not exported by the daemon")


def dashboard_exprs(path, errors):
    with open(path, encoding="utf-8") as f:
        d = json.load(f)  # a syntax error fails here, with its position
    for key in ("uid", "title", "panels", "schemaVersion"):
        if key not in d:
            errors.append(f"{path}: no {key!r}")
    exprs, ids = [], set()
    for p in d.get("panels", []):
        title = p.get("title", "?")
        if p.get("id") in ids:
            errors.append(f"{path}: panel {title!r}: id {p.get('id')} twice")
        ids.add(p.get("id"))
        if not {"x", "y", "w", "h"} <= set(p.get("gridPos", {})):
            errors.append(f"{path}: panel {title!r}: incomplete gridPos")
        if not p.get("targets"):
            errors.append(f"{path}: panel {title!r}: no targets")
        for t in p.get("targets", []):
            exprs.append((f"panel {title!r} {t.get('refId')}", t.get("expr", "")))
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            exprs.append((f"variable {v.get('name')}", q.get("query", "")))
    return exprs


def rules_exprs(path, errors):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    exprs = []
    for g in doc.get("groups", []):
        for r in g.get("rules", []):
            exprs.append((r.get("alert") or r.get("record"), r.get("expr", "")))
    if not exprs:
        errors.append(f"{path}: no rules")
    return exprs


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    names = exported(argv[1])
    if len(names) < 40:
        print(f"only {len(names)} metric names found in {argv[1]}: the pattern is stale",
              file=sys.stderr)
        return 1
    errors = []
    check_exprs(argv[2], dashboard_exprs(argv[2], errors), names, errors)
    check_exprs(argv[3], rules_exprs(argv[3], errors), names, errors)
    for e in errors:
        print(e, file=sys.stderr)
    if not errors:
        print(f"ok: {len(names)} exported names; dashboard and rules use only those")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
