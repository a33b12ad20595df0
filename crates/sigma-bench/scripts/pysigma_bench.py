#!/usr/bin/env python3
"""pySigma + pysigma-backend-sqlite peer baseline (the Zircolite approach).

Provenance: copied from the project's shared benchmark inputs (bench/pysigma_bench.py); only this note
was added. Run by the irene-sigma-bench binary on the same corpus and the same CloudTrail rules.

usage: pysigma_bench.py RULES_DIR EVENTS.ndjson [REPS] [PAIRS_OUT]

Load phase: NDJSON -> json.loads -> flatten with dotted keys (lists as JSON text, bools as
"true"/"false") -> one in-memory SQLite table, every column TEXT COLLATE NOCASE (columns added as
they appear, rows inserted with executemany in chunks, grouped by key set). A REGEXP function is
registered (Python re.search), as Zircolite does. Query phase: every rule converted by
sqliteBackend, each query run with SELECT _i (the corpus line number, an extra INTEGER column); timed REPS times. Prints one JSON object.
"""
import json, re, sqlite3, statistics, sys, time
from sigma.collection import SigmaCollection
from sigma.backends.sqlite import sqliteBackend
import sigma, importlib.metadata as md

def flat(obj, pre="", out=None):
    out = {} if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items(): flat(v, f"{pre}{k}.", out)
    elif isinstance(obj, list):
        out[pre[:-1]] = json.dumps(obj)
    else:
        out[pre[:-1]] = obj
    return out

def sqlval(v):
    return None if v is None else (str(v).lower() if isinstance(v, bool) else v if isinstance(v, int) else str(v))

def rss_kb():
    for l in open("/proc/self/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1])

def main():
    rules_dir, path = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    pairs_out = sys.argv[4] if len(sys.argv) > 4 else None
    db = sqlite3.connect(":memory:")
    # Python's sqlite3 has no REGEXP; register one as Zircolite does (else `|re` rules cannot run)
    rx = {}
    db.create_function("regexp", 2, lambda p, v: v is not None and (rx.get(p) or rx.setdefault(p, re.compile(p))).search(v) is not None,
                       deterministic=True)
    db.execute('CREATE TABLE logs ("_i" INTEGER, "eventID" TEXT COLLATE NOCASE)')  # _i: line number in the corpus
    cols, colset = ["_i", "eventID"], {"_i", "eventID"}
    t_parse = t_insert = 0.0
    n = 0
    t_load0 = time.perf_counter()
    with open(path) as f:
        while True:
            t = time.perf_counter()
            lines = [l for _, l in zip(range(20000), f)]
            if not lines: break
            rows = [flat(json.loads(l), out={"_i": n + j}) for j, l in enumerate(lines)]
            t_parse += time.perf_counter() - t
            t = time.perf_counter()
            for r in rows:
                for c in r:
                    if c not in colset:
                        colset.add(c); cols.append(c)
                        db.execute(f'ALTER TABLE logs ADD COLUMN "{c}" TEXT COLLATE NOCASE')
            groups = {}  # rows with the same key set share one INSERT statement
            for r in rows: groups.setdefault(tuple(r), []).append(r)
            for ks, rs in groups.items():
                sql = f'INSERT INTO logs ({", ".join(chr(34) + c + chr(34) for c in ks)}) VALUES ({", ".join("?" * len(ks))})'
                db.executemany(sql, ([sqlval(v) for v in r.values()] for r in rs))
            t_insert += time.perf_counter() - t
            n += len(rows)
    db.commit()
    t_load = time.perf_counter() - t_load0
    rss_loaded = rss_kb()

    t = time.perf_counter()
    backend = sqliteBackend()
    coll = SigmaCollection.load_ruleset([rules_dir])
    conv, skipped = [], []
    for rule in coll.rules:
        try: conv.append((rule, backend.convert_rule(rule)))
        except Exception as e: skipped.append(f"{rule.source.path.stem if rule.source else rule.title}: {type(e).__name__}: {e}")
    t_convert = time.perf_counter() - t

    times, counts, pairs, errors = [], None, [], {}
    for rep in range(reps):
        c = {}
        t = time.perf_counter()
        for rule, queries in conv:
            key = f"{rule.source.path.stem}|{rule.id}"
            hits = set()
            for q in queries:
                try: cur = db.execute(q.replace("SELECT *", "SELECT _i", 1))
                except sqlite3.OperationalError as e:  # a column no event has: nothing can match
                    errors[key] = str(e); continue
                hits.update(r[0] for r in cur)
            c[key] = len(hits)
            if rep == 0: pairs += [(h, str(rule.id)) for h in hits]
        times.append(time.perf_counter() - t)
        if counts is None: counts = c
        assert c == counts
    if pairs_out:
        with open(pairs_out, "w") as w:
            for i, rid in sorted(pairs): w.write(f"{i}\t{rid}\n")
    eps = sorted(n / x for x in times)
    print(json.dumps({
        "engine": "pysigma-sqlite", "pySigma": md.version("pySigma"), "backend": md.version("pySigma-backend-sqlite"),
        "sqlite": sqlite3.sqlite_version, "python": sys.version.split()[0],
        "rules": len(coll.rules), "rules_converted": len(conv), "rules_skipped": skipped, "query_errors": errors,
        "events": n, "columns": len(cols), "load_s": t_load, "load_parse_flatten_s": t_parse, "load_insert_s": t_insert,
        "load_events_per_s": n / t_load, "rss_after_load_kb": rss_loaded, "convert_s": t_convert,
        "query_s": times, "events_per_s_min_med_max": [eps[0], statistics.median(eps), eps[-1]],
        "total_matches": sum(counts.values()), "matched_events": len({p[0] for p in pairs}),
        "per_rule": counts}, indent=1))

if __name__ == "__main__":
    main()
