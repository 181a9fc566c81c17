#!/usr/bin/env python3
"""The lake: write throughput into Delta embedded vs a two-executor cluster,
and read throughput of a Delta table vs the same files read as plain Parquet.

TPC-H's lineitem (tpchgen-cli, Parquet, cached) is loaded with `CREATE TABLE
... AS SELECT` and `INSERT ... SELECT` into a lake table, on Strata's
embedded default and on a scheduler with two executors; then TPC-H q1 and
q6 and a count run over the Delta table and over an external Parquet table
on the same folder (the same files, without the Delta log). Results, as
ratios, go to bench/results/lake.md.

Run it with bench/run.sh lake, which builds the binaries and the virtualenv.
"""

import argparse
import datetime
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import psycopg

from tpch import ROOT, machine, start_cluster, start_embedded

QUERIES = ROOT / "bench" / "tpch" / "queries"


def timed(conn, sql):
    start = time.perf_counter()
    cur = conn.execute(sql)
    rows = cur.fetchall() if cur.description else None
    return time.perf_counter() - start, rows


def read_queries(table):
    q1 = (QUERIES / "q1.sql").read_text().replace("lineitem", table)
    q6 = (QUERIES / "q6.sql").read_text().replace("lineitem", table)
    return [
        ("count and sums", f"SELECT count(*), sum(l_quantity), sum(l_extendedprice) FROM {table}"),
        ("TPC-H q1", q1),
        ("TPC-H q6", q6),
    ]


def load(address, data):
    host, port = address.split(":")
    out = {}
    with psycopg.connect(host=host, port=port, user="strata", dbname="lake",
                         autocommit=True) as conn:
        conn.execute(f"CREATE EXTERNAL TABLE source STORED AS PARQUET "
                     f"LOCATION '{data / 'lineitem.parquet'}'")
        rows = conn.execute("SELECT count(*) FROM source").fetchone()[0]
        out["rows"] = rows
        spent, _ = timed(conn, "CREATE TABLE bronze.lineitem AS SELECT * FROM source")
        out["ctas"] = spent
        spent, _ = timed(conn, "INSERT INTO bronze.lineitem SELECT * FROM source")
        out["insert"] = spent
    return out


def reads(address, folder, runs):
    host, port = address.split(":")
    results = []
    with psycopg.connect(host=host, port=port, user="strata", dbname="lake",
                         autocommit=True) as conn:
        conn.execute(f"CREATE EXTERNAL TABLE same_files STORED AS PARQUET LOCATION '{folder}/'")
        delta = read_queries("bronze.lineitem")
        parquet = read_queries("same_files")
        for (name, delta_sql), (_, parquet_sql) in zip(delta, parquet):
            timed(conn, delta_sql)  # warm-up: file metadata, caches
            timed(conn, parquet_sql)
            delta_times, parquet_times = [], []
            delta_rows = parquet_rows = None
            # Interleaved, so both see the same machine load.
            for _ in range(runs):
                spent, delta_rows = timed(conn, delta_sql)
                delta_times.append(spent)
                spent, parquet_rows = timed(conn, parquet_sql)
                parquet_times.append(spent)
            results.append((name, statistics.median(delta_times),
                            statistics.median(parquet_times), delta_rows == parquet_rows))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=int, default=1, help="TPC-H scale factor of lineitem")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per read query")
    parser.add_argument("--bin-dir", default=str(ROOT / "target" / "release"))
    parser.add_argument("--data-dir", default=str(pathlib.Path.home() / ".cache" / "strata" / "tpch"))
    args = parser.parse_args()

    bin_dir = pathlib.Path(args.bin_dir)
    data = pathlib.Path(args.data_dir) / f"sf{args.sf}"
    if not (data / "lineitem.parquet").exists():
        print(f"generating TPC-H SF{args.sf} in {data}", file=sys.stderr)
        subprocess.run(["tpchgen-cli", "parquet", "-s", str(args.sf), f"--output-dir={data}"],
                       check=True)
    cpus = os.cpu_count() or 2
    writes = {}
    read_results = None
    with tempfile.TemporaryDirectory(prefix="strata-bench-lake-") as tmp:
        work = pathlib.Path(tmp)
        for mode, start, lake in (
            ("embedded", lambda: start_embedded(bin_dir, work, cpus), work / "embedded" / "lake"),
            ("cluster", lambda: start_cluster(bin_dir, work, 2, max(1, cpus // 2)),
             work / "cluster" / "lake"),
        ):
            procs, address = start()
            try:
                print(f"{mode}: loading lineitem at {address}", file=sys.stderr)
                writes[mode] = load(address, data)
                if mode == "embedded":
                    print("embedded: reading Delta vs Parquet", file=sys.stderr)
                    read_results = reads(address, lake / "bronze" / "lineitem", args.runs)
            finally:
                for proc in reversed(procs):
                    proc.stop()

    rows = writes["embedded"]["rows"]
    lines = [
        f"# The lake: Delta writes embedded vs cluster, Delta reads vs plain Parquet (TPC-H SF{args.sf} lineitem)",
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}.",
        "",
        f"lineitem: {rows:,} rows from tpchgen-cli's Parquet. Embedded: one `strata-server`",
        f"with an in-process executor of {cpus} slots. Cluster: two `strata-executor`",
        f"processes of {max(1, cpus // 2)} slots and a `strata-server --scheduler`, on this machine.",
        "",
        "## Writes (rows/s through the wire protocol)",
        "",
        "| statement | embedded | cluster | cluster / embedded |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in (("ctas", "CREATE TABLE bronze.lineitem AS SELECT"),
                       ("insert", "INSERT INTO bronze.lineitem SELECT")):
        e = rows / writes["embedded"][key]
        c = rows / writes["cluster"][key]
        lines.append(f"| {label} | {e:,.0f} | {c:,.0f} | {c / e:.2f} |")
    lines += [
        "",
        "## Reads: the Delta table vs its own files as an external Parquet table",
        "",
        f"Embedded; median of {args.runs} interleaved runs after one warm-up; the table",
        "holds both loads (two versions' files, all live).",
        "",
        "| query | Delta (ms) | Parquet (ms) | Delta / Parquet | same answer |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, delta, parquet, same in read_results:
        lines.append(f"| {name} | {delta * 1000:.0f} | {parquet * 1000:.0f} | "
                     f"{delta / parquet:.3f} | {'yes' if same else '**no**'} |")
    text = "\n".join(lines) + "\n"
    output = ROOT / "bench" / "results" / "lake.md"
    output.write_text(text)
    print(text)
    print(f"written to {output}", file=sys.stderr)
    return 0 if all(same for *_, same in read_results) else 1


if __name__ == "__main__":
    sys.exit(main())
