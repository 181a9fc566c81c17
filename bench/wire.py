#!/usr/bin/env python3
"""Latency and result streaming through the wire protocol, Strata against PostgreSQL.

Starts Strata's embedded default (release build) and uses this machine's
PostgreSQL; the same client (strata-wire-bench, tokio-postgres) measures both.

Latency, p50 and p99 over --runs runs after one warm-up:
  SELECT 1                       the simple protocol, as psql sends it
  DBeaver's schema query         pg_namespace with comments, text results
  point lookup                   a prepared SELECT by key on a 1,000-row table
                                 (a lake Delta table in Strata, a table with a
                                 primary key in PostgreSQL), key bound each run

Streaming, median of 3 reads of a --rows-row table (bigint, double, text)
read whole, in text (simple protocol) and binary (extended protocol).

Writes bench/results/wire.md. Run it with bench/run.sh wire.
"""

import argparse
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

import psycopg

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from tpch import machine, start_embedded  # noqa: E402

SCHEMA = "strata_bench_wire"
DBEAVER = ("SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n "
           "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 "
           "AND d.classoid='pg_namespace'::regclass ORDER BY nspname")


def client(bin_dir, *args):
    out = subprocess.run([str(bin_dir / "strata-wire-bench"), *args],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"strata-wire-bench {' '.join(args[:2])}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def setup_strata(address, rows):
    host, port = address.split(":")
    with psycopg.connect(host=host, port=port, user="strata", dbname="lake", autocommit=True) as conn:
        conn.execute("CREATE TABLE bronze.points AS SELECT value AS id, concat('point ', value) AS name "
                     "FROM generate_series(1, 1000)")
        conn.execute("CREATE TABLE bronze.stream AS SELECT value AS id, value * 0.5 AS amount, "
                     f"concat('row ', value) AS name FROM generate_series(1, {rows})")
    return f"host={host} port={port} user=strata dbname=lake"


def setup_postgres(conninfo, rows):
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"CREATE TABLE {SCHEMA}.points (id bigint PRIMARY KEY, name text)")
        conn.execute(f"INSERT INTO {SCHEMA}.points SELECT g, 'point ' || g FROM generate_series(1, 1000) g")
        conn.execute(f"CREATE TABLE {SCHEMA}.stream (id bigint, amount double precision, name text)")
        conn.execute(f"INSERT INTO {SCHEMA}.stream SELECT g, g * 0.5, 'row ' || g "
                     f"FROM generate_series(1, {rows}) g")
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.points")
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.stream")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--postgres", default=os.environ.get(
        "STRATA_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test"))
    parser.add_argument("--bin-dir", default=str(ROOT / "target" / "release"))
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "wire.md"))
    args = parser.parse_args()
    bin_dir = pathlib.Path(args.bin_dir)
    pg = args.postgres
    cpus = os.cpu_count() or 2

    print("loading PostgreSQL", file=sys.stderr)
    setup_postgres(pg, args.rows)
    latency, stream = [], []
    with tempfile.TemporaryDirectory(prefix="strata-bench-wire-") as tmp:
        procs, address = start_embedded(bin_dir, pathlib.Path(tmp), cpus)
        try:
            print("loading Strata", file=sys.stderr)
            strata = setup_strata(address, args.rows)
            cases = [
                ("SELECT 1", "simple", "SELECT 1", "SELECT 1"),
                # Text results, as pgjdbc asks for them: PostgreSQL has no
                # binary form of nspacl's aclitem[], which tokio-postgres's
                # extended protocol would ask for.
                ("DBeaver's schema query", "simple", DBEAVER, DBEAVER),
                ("point lookup", "prepared", "SELECT id, name FROM bronze.points WHERE id = $1",
                 f"SELECT id, name FROM {SCHEMA}.points WHERE id = $1"),
            ]
            for label, protocol, strata_sql, pg_sql in cases:
                print(f"latency: {label}", file=sys.stderr)
                # Interleaved, so both see the same machine.
                s = client(bin_dir, "latency", "--url", strata, "--sql", strata_sql,
                           "--runs", str(args.runs), "--protocol", protocol)
                p = client(bin_dir, "latency", "--url", pg, "--sql", pg_sql,
                           "--runs", str(args.runs), "--protocol", protocol)
                if s["rows"] != p["rows"] and label != "DBeaver's schema query":
                    raise RuntimeError(f"{label}: Strata returned {s['rows']} rows, PostgreSQL {p['rows']}")
                latency.append((label, protocol, s, p))
            for fmt in ("text", "binary"):
                print(f"stream: {fmt}", file=sys.stderr)
                runs = {"strata": [], "postgres": []}
                for _ in range(3):
                    runs["strata"].append(client(bin_dir, "stream", "--url", strata, "--sql",
                                                 "SELECT * FROM bronze.stream", "--format", fmt))
                    runs["postgres"].append(client(bin_dir, "stream", "--url", pg, "--sql",
                                                   f"SELECT * FROM {SCHEMA}.stream", "--format", fmt))
                for who, results in runs.items():
                    if any(r["rows"] != args.rows for r in results):
                        raise RuntimeError(f"{who} streamed {[r['rows'] for r in results]} rows, not {args.rows}")
                stream.append((fmt, statistics.median(r["rows_per_s"] for r in runs["strata"]),
                               statistics.median(r["rows_per_s"] for r in runs["postgres"])))
        finally:
            for proc in reversed(procs):
                proc.stop()
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

    lines = [
        "# Latency and result streaming: Strata embedded against PostgreSQL",
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}; "
        "PostgreSQL on the same machine.",
        "",
        "One client for both (`strata-wire-bench`, tokio-postgres, over TCP on loopback).",
        "",
        f"## Latency, {args.runs} runs after one warm-up (ms)",
        "",
        "| statement | protocol | Strata p50 | Strata p99 | PostgreSQL p50 | PostgreSQL p99 | p50 ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, protocol, s, p in latency:
        lines.append(f"| {label} | {protocol} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} | "
                     f"{p['p50_ms']:.3f} | {p['p99_ms']:.3f} | {s['p50_ms'] / p['p50_ms']:.2f} |")
    lines += [
        "",
        f"## Streaming {args.rows:,} rows (bigint, double, text), median of 3 (rows/s)",
        "",
        "| format | Strata | PostgreSQL | Strata / PostgreSQL |",
        "| --- | ---: | ---: | ---: |",
    ]
    for fmt, s, p in stream:
        lines.append(f"| {fmt} | {s:,.0f} | {p:,.0f} | {s / p:.2f} |")
    text = "\n".join(lines) + "\n"
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    print(f"written to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
