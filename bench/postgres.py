#!/usr/bin/env python3
"""The PostgreSQL connector against psql's COPY, on the PostgreSQL of this machine.

Reads: Strata reading every column of a table (single reader, then parallel
ctid ranges) against `COPY (SELECT ...) TO STDOUT (FORMAT binary)` into
/dev/null with psql -- the ceiling. Writes: Strata's INSERT INTO a
PostgreSQL table from a Parquet copy of the rows against psql `\\copy ...
FROM` of the same rows as CSV. Reports rows/s and ratios to
bench/results/postgres-connector.md.

Run it with bench/run.sh postgres (builds the release binaries first).
"""

import argparse
import datetime
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import psycopg

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from tpch import Process, machine  # noqa: E402

SCHEMA = "strata_bench"
COLUMNS = "id bigint, amount numeric(12, 2), name text, at timestamptz, flag boolean"


def psql(conninfo, *args, stdout=subprocess.DEVNULL):
    return subprocess.run(["psql", conninfo, "-v", "ON_ERROR_STOP=1", "-q", *args],
                          stdout=stdout, check=True)


def timed(action, runs):
    """Median seconds of `runs` runs after one warm-up."""
    action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get(
        "STRATA_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test"))
    parser.add_argument("--bin-dir", default=str(ROOT / "target" / "release"))
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "postgres-connector.md"))
    args = parser.parse_args()
    rows = args.rows
    pg = args.postgres

    psql(pg, "-c", f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", "-c", f"CREATE SCHEMA {SCHEMA}",
         "-c", f"CREATE TABLE {SCHEMA}.rows ({COLUMNS})",
         "-c", f"INSERT INTO {SCHEMA}.rows SELECT g, (g % 100000) / 100.0, 'name ' || g, "
               f"timestamptz '2024-01-01' + g * interval '1 second', g % 2 = 0 "
               f"FROM generate_series(1, {rows}) g",
         "-c", f"CREATE TABLE {SCHEMA}.target ({COLUMNS})",
         "-c", f"VACUUM ANALYZE {SCHEMA}.rows")

    with tempfile.TemporaryDirectory(prefix="strata-bench-pg-") as tmp:
        work = pathlib.Path(tmp)
        csv = work / "rows.csv"
        psql(pg, "-c", f"\\copy {SCHEMA}.rows TO '{csv}' CSV")

        # The ceilings, with psql.
        copy_out = timed(lambda: psql(
            pg, "-c", f"COPY (SELECT * FROM {SCHEMA}.rows) TO STDOUT (FORMAT binary)"), args.runs)
        copy_in = timed(lambda: psql(
            pg, "-c", f"TRUNCATE {SCHEMA}.target", "-c", f"\\copy {SCHEMA}.target FROM '{csv}' CSV"),
            args.runs)

        config = work / "strata.toml"
        config.write_text(f'[sources.pg]\nkind = "postgres"\nurl = "{pg}"\n')
        server = Process(pathlib.Path(args.bin_dir) / "strata-server",
                         ["--listen", "127.0.0.1:0", "--data-dir", str(work / "data"),
                          "--config", str(config)],
                         "Strata is listening on ", work / "server.log")
        try:
            host, port = server.address().split(":")
            with psycopg.connect(host=host, port=port, user="strata", dbname="lake",
                                 autocommit=True) as conn:
                read_all = (f"SELECT count(*), sum(id), sum(amount), sum(length(name)), "
                            f"max(at), count(flag) FROM pg.{SCHEMA}.rows")

                def read(partitions):
                    conn.execute(f"SET datafusion.execution.target_partitions = {partitions}")
                    result = conn.execute(read_all).fetchone()
                    assert result[0] == rows, result

                parallel = os.cpu_count() or 2
                single_read = timed(lambda: read(1), args.runs)
                parallel_read = timed(lambda: read(parallel), args.runs)
                conn.execute(f"SET datafusion.execution.target_partitions = {parallel}")

                parquet = work / "rows.parquet"
                conn.execute(f"COPY (SELECT * FROM pg.{SCHEMA}.rows) TO '{parquet}' STORED AS PARQUET")
                conn.execute(f"CREATE EXTERNAL TABLE rows_parquet STORED AS PARQUET LOCATION '{parquet}'")

                def write():
                    conn.execute(f"INSERT OVERWRITE pg.{SCHEMA}.target SELECT * FROM rows_parquet")

                strata_write = timed(write, args.runs)
        finally:
            server.stop()
    psql(pg, "-c", f"DROP SCHEMA {SCHEMA} CASCADE")

    def rate(seconds):
        return f"{rows / seconds:,.0f}"

    lines = [
        "# The PostgreSQL connector against psql's COPY",
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}; "
        f"PostgreSQL on the same machine.",
        "",
        f"{rows:,} rows of ({COLUMNS}); median of {args.runs} runs after one warm-up.",
        "Reads: Strata reads every column (an aggregate over all of them, so no rows cross the",
        "wire to the client); psql's `COPY (SELECT *) TO STDOUT (FORMAT binary)` into /dev/null is",
        "the ceiling. Writes: Strata's `INSERT OVERWRITE` from a Parquet copy of the rows (TRUNCATE",
        "and binary COPY straight into the table, in one transaction) against psql `\\copy ... FROM`",
        "CSV (after a TRUNCATE).",
        "",
        "| operation | seconds | rows/s | ratio to psql |",
        "| --- | ---: | ---: | ---: |",
        f"| psql COPY TO binary (ceiling) | {copy_out:.2f} | {rate(copy_out)} | 1.00 |",
        f"| Strata read, one reader | {single_read:.2f} | {rate(single_read)} | {copy_out / single_read:.2f} |",
        f"| Strata read, {parallel} ctid ranges | {parallel_read:.2f} | {rate(parallel_read)} | {copy_out / parallel_read:.2f} |",
        f"| psql \\copy FROM CSV | {copy_in:.2f} | {rate(copy_in)} | 1.00 |",
        f"| Strata INSERT from Parquet | {strata_write:.2f} | {rate(strata_write)} | {copy_in / strata_write:.2f} |",
        "",
        f"Parallel over single read: {single_read / parallel_read:.2f}x.",
    ]
    text = "\n".join(lines) + "\n"
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
