#!/usr/bin/env python3
"""pySigma's verdicts on a set of events, for Irene's differential Sigma test.

usage: pysigma_matches.py RULES_DIR EVENTS.ndjson

RULES_DIR: Sigma rule files (`*.yml`, searched recursively). EVENTS.ndjson: one event a line,
`{"source": "aws.cloudtrail" | "gcp.audit", "event": {...raw record...}}`; an event's index is
its line number, from 0.

Prints one JSON object:
  {"matches": [[event_index, rule_id], ...],            sorted
   "unconvertible": [{"rule": id, "error": "..."}],     rules pySigma could not convert or run
   "versions": {...}, "queries": {rule_id: [sql, ...]}}

How (the approach of Zircolite, for which pySigma's SQLite backend is written):
- Each event is flattened with dotted keys (`userIdentity.type`); a list is stored as its JSON
  text in one column, a boolean as 'true'/'false', null as NULL, a number as itself (which a
  TEXT column keeps as its text). Every column is `TEXT COLLATE NOCASE`, as the backend expects
  of its tables (and as its `ensure_fields` adds them). Events go to one table per source:
  `cloudtrail` or `gcp`.
- A rule runs over the tables whose source its logsource admits (each of product, service and
  category that the rule sets equals the source's, case-insensitively): `product: aws, service:
  cloudtrail` sees CloudTrail records, `product: gcp, service: gcp.audit` sees GCP audit entries.
- GCP audit rules are converted through the field mapping of pySigma's Panther backend ("GCP
  Audit Panther Pipeline"): `gcp.audit.method_name` -> `protoPayload.methodName`, prefix
  `data.protoPayload` -> `protoPayload`; Irene maps them the same way.
- SQLite has no REGEXP: one is registered (Python `re.search`, false for NULL), or every `|re`
  rule would fail or match nothing.
- Keyword (fieldless) searches need the backend's `fulltext_field` (backend 2.1+; 2.0 cannot
  convert them): the column `_fulltext` holds every key and every scalar value of the event, one
  a line.
- A column a query names that no event has is added as NULL first (the backend's advice:
  "Add missing columns as NULL first"), so that a missing field reads as a missing field rather
  than failing the whole query.
"""
import importlib.metadata as md
import json
import re
import sqlite3
import sys
from pathlib import Path

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    FieldMappingTransformation,
    FieldPrefixMappingTransformation,
)

FULLTEXT = "_fulltext"

# event source -> (table, logsource it stands for)
SOURCES = {
    "aws.cloudtrail": ("cloudtrail", {"product": "aws", "service": "cloudtrail"}),
    "gcp.audit": ("gcp", {"product": "gcp", "service": "gcp.audit"}),
}


def gcp_audit_pipeline():
    """The field mapping of pySigma-backend-panther's GCP audit pipeline, for gcp.audit rules."""
    def only_gcp():
        return [LogsourceCondition(product="gcp", service="gcp.audit")]

    return ProcessingPipeline(
        name="GCP audit field mapping (as pySigma-backend-panther's)",
        items=[
            ProcessingItem(
                identifier="gcp_audit_method_name",
                transformation=FieldMappingTransformation(
                    {"gcp.audit.method_name": "protoPayload.methodName"}
                ),
                rule_conditions=only_gcp(),
            ),
            ProcessingItem(
                identifier="gcp_audit_data_prefix",
                transformation=FieldPrefixMappingTransformation(
                    {"data.protoPayload": "protoPayload"}
                ),
                rule_conditions=only_gcp(),
            ),
        ],
    )


def flatten(obj, prefix="", out=None):
    out = {} if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}{k}.", out)
    elif isinstance(obj, list):
        out[prefix[:-1]] = json.dumps(obj, ensure_ascii=False)
    else:
        out[prefix[:-1]] = obj
    return out


def sql_value(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return v
    return str(v)


def texts(obj, out):
    """Every key and scalar value of the event, as text: the keyword-search column."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append(str(k))
            texts(v, out)
    elif isinstance(obj, list):
        for v in obj:
            texts(v, out)
    elif obj is not None:
        out.append(str(sql_value(obj)))
    return out


def quote(name):
    return '"' + name.replace('"', '""') + '"'


class Table:
    def __init__(self, db, name):
        self.db, self.name = db, name
        db.execute(f'CREATE TABLE {quote(name)} ("_i" INTEGER, {quote(FULLTEXT)} TEXT COLLATE NOCASE)')
        self.columns = {"_i", FULLTEXT.lower()}  # SQLite column names are case-insensitive

    def add_column(self, col):
        if col.lower() not in self.columns:
            self.db.execute(f"ALTER TABLE {quote(self.name)} ADD COLUMN {quote(col)} TEXT COLLATE NOCASE")
            self.columns.add(col.lower())

    def insert(self, index, event):
        row, seen = {}, set()
        for k, v in flatten(event).items():
            if k.lower() not in seen:  # keys differing only in case share a column: first wins
                seen.add(k.lower())
                row[k] = v
        row["_i"] = index
        row[FULLTEXT] = "\n".join(texts(event, []))
        for c in row:
            self.add_column(c)
        cols = ", ".join(quote(c) for c in row)
        marks = ", ".join("?" for _ in row)
        self.db.execute(
            f"INSERT INTO {quote(self.name)} ({cols}) VALUES ({marks})",
            [v if c in ("_i", FULLTEXT) else sql_value(v) for c, v in row.items()],
        )


def admits(logsource, source_ls):
    for key in ("product", "service", "category"):
        want = getattr(logsource, key, None)
        if want is not None and str(want).lower() != str(source_ls.get(key, "")).lower():
            return False
    return True


def regexp(pattern, value, cache={}):
    if value is None:
        return False
    rx = cache.get(pattern)
    if rx is None:
        rx = cache[pattern] = re.compile(pattern)
    return rx.search(str(value)) is not None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rules_dir, events_path = Path(sys.argv[1]), Path(sys.argv[2])

    db = sqlite3.connect(":memory:")
    db.create_function("regexp", 2, regexp, deterministic=True)
    tables = {src: Table(db, table) for src, (table, _) in SOURCES.items()}
    with open(events_path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if not line.strip():
                continue
            rec = json.loads(line)
            tables[rec["source"]].insert(i, rec["event"])
    db.commit()

    backends = {
        src: sqliteBackend(
            processing_pipeline=gcp_audit_pipeline() if src == "gcp.audit" else None,
            table=table,
            fulltext_field=FULLTEXT,
        )
        for src, (table, _) in SOURCES.items()
    }

    matches, unconvertible, queries = set(), [], {}
    for path in sorted(rules_dir.rglob("*.yml")):
        try:
            collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
        except Exception as e:  # noqa: BLE001 - report every failure, whatever its kind
            unconvertible.append({"rule": path.stem, "error": f"{type(e).__name__}: {e}"})
            continue
        for rule in collection.rules:
            rid = str(rule.id) if rule.id else path.stem
            sources = [s for s, (_, ls) in SOURCES.items() if admits(rule.logsource, ls)]
            if not sources:
                unconvertible.append({"rule": rid, "error": "its logsource admits no event source here"})
                continue
            for src in sources:
                table = tables[src]
                try:
                    sqls = backends[src].convert_rule(rule)
                except Exception as e:  # noqa: BLE001
                    unconvertible.append({"rule": rid, "error": f"{type(e).__name__}: {e}"})
                    continue
                for field in backends[src].required_fields(rule):
                    table.add_column(field)
                for sql in sqls:
                    queries.setdefault(rid, []).append(sql)
                    q = sql.replace("SELECT *", 'SELECT "_i"', 1)
                    for _ in range(100):
                        try:
                            hits = [r[0] for r in db.execute(q)]
                            break
                        except sqlite3.OperationalError as e:
                            m = re.match(r"no such column: (.+)$", str(e))
                            if not m:
                                unconvertible.append({"rule": rid, "error": f"OperationalError: {e}: {sql}"})
                                hits = []
                                break
                            table.add_column(m.group(1).strip("`\""))
                    matches.update((h, rid) for h in hits)

    print(json.dumps({
        "matches": sorted([i, r] for i, r in matches),
        "unconvertible": unconvertible,
        "versions": {
            "pySigma": md.version("pySigma"),
            "pySigma-backend-sqlite": md.version("pySigma-backend-sqlite"),
            "sqlite": sqlite3.sqlite_version,
            "python": sys.version.split()[0],
        },
        "queries": queries,
    }, indent=1))


if __name__ == "__main__":
    main()
