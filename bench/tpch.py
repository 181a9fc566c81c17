#!/usr/bin/env python3
"""TPC-H on Strata and its peers, every answer checked against DuckDB's.

Generates the data with tpchgen-cli (Parquet, cached) and runs the 22 queries
on each engine asked for (--engines, all by default):

  duckdb      DuckDB in-process (python duckdb) on the Parquet files
  datafusion  DataFusion in-process on the same files (strata-datafusion,
              the same DataFusion version Strata is built on), its defaults
  tuned       the same with the settings Strata's fast path plans with
              (twice the partitions, 16K-row batches, shared hash tables up
              to 16MB / 1M rows): the floor of Strata's own overhead
  embedded    Strata's embedded default (one strata-server: every query in
              its own DataFusion) over the wire protocol, the files as
              external Parquet tables
  jobs        the same with --fast-path off: every query a Ballista job on
              the server's in-process scheduler and executor
  delta       the same server with the tables copied into lake Delta tables
  cluster     a strata-scheduler, two strata-executors and a strata-server
              as separate processes, the files as external Parquet tables
  postgres    PostgreSQL on this machine, the tables loaded once (with their
              primary keys, analyzed) into database strata_bench_tpch_sfN

Writes a markdown table of medians, whether each answer matched DuckDB's, and
geometric-mean ratios to bench/results/tpch-sfN.md, with the machine.

Run it with bench/run.sh, which builds the binaries and the virtualenv.
"""

import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import duckdb
import psycopg
from psycopg import sql as pgsql

ROOT = pathlib.Path(__file__).resolve().parents[1]
QUERIES = ROOT / "bench" / "tpch" / "queries"
TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")
KEYS = {
    "customer": "c_custkey", "lineitem": "l_orderkey, l_linenumber", "nation": "n_nationkey",
    "orders": "o_orderkey", "part": "p_partkey", "partsupp": "ps_partkey, ps_suppkey",
    "region": "r_regionkey", "supplier": "s_suppkey",
}
ENGINES = ("duckdb", "datafusion", "tuned", "embedded", "jobs", "delta", "cluster", "postgres")
TITLES = {
    "duckdb": "DuckDB", "datafusion": "DataFusion", "tuned": "DataFusion, fast-path settings",
    "embedded": "Strata embedded",
    "jobs": "Strata embedded, as jobs",
    "delta": "Strata embedded, Delta", "cluster": "Strata cluster", "postgres": "PostgreSQL",
}
START_TIMEOUT = 60


class Process:
    """A Strata binary started with its stderr in a log file; waits for the
    line on stdout that says it listens."""

    def __init__(self, binary, args, ready, log):
        self.log = log
        self.proc = subprocess.Popen(
            [str(binary), *args],
            stdout=subprocess.PIPE,
            stderr=open(log, "w"),
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "STRATA_LOG_LEVEL": "warn"},
        )
        lines = queue.Queue()

        def read():
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise RuntimeError(f"{binary.name} did not start:\n{pathlib.Path(log).read_text()[-2000:]}")
            if line.startswith(ready):
                self.line = line.strip()
                return

    def address(self, key=None):
        text = self.line.split(key, 1)[1] if key else self.line
        return re.search(r"(\d+\.\d+\.\d+\.\d+):(\d+)", text).group(0)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_embedded(bin_dir, work, slots, *extra):
    work.mkdir(parents=True, exist_ok=True)
    server = Process(bin_dir / "strata-server",
                     ["--listen", "127.0.0.1:0", "--data-dir", str(work / "embedded"),
                      "--executor-slots", str(slots), "--http", "off", *extra],
                     "Strata is listening on ", work / "embedded.log")
    return [server], server.address()


def start_cluster(bin_dir, work, executors, slots):
    scheduler = Process(bin_dir / "strata-scheduler", ["--listen", "127.0.0.1:0"],
                        "strata-scheduler listening on ", work / "scheduler.log")
    procs = [scheduler]
    for i in range(executors):
        procs.append(Process(
            bin_dir / "strata-executor",
            ["--scheduler", scheduler.address(), "--listen", "127.0.0.1:0",
             "--grpc-listen", "127.0.0.1:0", "--slots", str(slots),
             "--work-dir", str(work / f"executor-{i}")],
            "strata-executor ready: ", work / f"executor-{i}.log"))
    server = Process(bin_dir / "strata-server",
                     ["--listen", "127.0.0.1:0", "--scheduler", scheduler.address(),
                      "--data-dir", str(work / "cluster"), "--http", "off"],
                     "Strata is listening on ", work / "server.log")
    procs.append(server)
    return procs, server.address()


def statements(path):
    """The statements of a query file, comments removed."""
    text = "\n".join(line for line in path.read_text().splitlines()
                     if not line.strip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def normalise(rows):
    """Rows compared across engines: every value as text, numbers rounded to
    six significant digits (summation order and decimal scales differ), text
    without trailing blanks."""
    def value(v):
        if v is None:
            return None
        text = str(v)
        try:
            return float(f"{float(text):.6g}")
        except ValueError:
            return text.rstrip()
    return [tuple(value(v) for v in row) for row in rows]


def close(a, b):
    """Values equal, numbers to a relative 1e-5 or within 1e-6: an average
    of decimals is a double in DuckDB and a decimal cut at six places in
    DataFusion."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= max(1e-5 * max(abs(a), abs(b)), 1e-6)
    return a == b


def same_rows(rows, reference):
    return len(rows) == len(reference) and all(
        len(r) == len(f) and all(close(a, b) for a, b in zip(r, f)) for r, f in zip(rows, reference))


def same_answer(rows, reference):
    if reference is None:
        return "—"
    if same_rows(rows, reference):
        return "yes"
    if same_rows(sorted(rows, key=repr), sorted(reference, key=repr)):
        return "yes (ties ordered differently)"
    return "**no**"


def timed_runs(run, runs):
    """(median seconds, rows, error) of `runs` runs of `run` after a warm-up;
    `run` returns (seconds, rows)."""
    try:
        run()  # warm-up: file metadata, plans, caches
        times, rows = [], None
        for _ in range(runs):
            spent, rows = run()
            times.append(spent)
        return statistics.median(times), normalise(rows), None
    except (psycopg.Error, duckdb.Error) as e:
        return None, None, f"{getattr(e, 'sqlstate', None) or ''} {e}".strip().splitlines()[0]


def run_wire(conn, stmts):
    """Runs the statements; returns (seconds spent in the ones that return
    rows, their rows)."""
    spent, rows = 0.0, []
    for sql in stmts:
        start = time.perf_counter()
        cur = conn.execute(sql)
        result = cur.fetchall() if cur.description else None
        elapsed = time.perf_counter() - start
        if result is not None:
            spent += elapsed
            rows = result
    return spent, rows


def measure_strata(address, data, runs, queries, delta=False):
    host, port = address.split(":")
    results = {}
    with psycopg.connect(host=host, port=port, user="strata", dbname="lake",
                         autocommit=True) as conn:
        for table in TABLES:
            source = f"{table}_parquet" if delta else table
            conn.execute(f"CREATE EXTERNAL TABLE {source} STORED AS PARQUET "
                         f"LOCATION '{data / (table + '.parquet')}'")
            if delta:
                conn.execute(f"CREATE TABLE bronze.{table} AS SELECT * FROM {source}")
        if delta:
            conn.execute("SET search_path TO bronze")
        for name, stmts in queries:
            results[name] = timed_runs(lambda: run_wire(conn, stmts), runs)
    return results


def measure_duckdb(data, runs, queries):
    conn = duckdb.connect()
    conn.execute(f"SET threads = {os.cpu_count() or 2}")
    for table in TABLES:
        conn.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{data / (table + '.parquet')}')")

    def run(stmts):
        spent, rows = 0.0, []
        for sql in stmts:
            start = time.perf_counter()
            cur = conn.execute(sql)
            # DuckDB describes a result for DDL too: only queries count.
            query = sql.lstrip().lower().startswith(("select", "with"))
            result = cur.fetchall() if query else None
            elapsed = time.perf_counter() - start
            if result is not None:
                spent += elapsed
                rows = result
        return spent, rows

    return {name: timed_runs(lambda: run(stmts), runs) for name, stmts in queries}


def fast_path_settings(cpus):
    """The DataFusion settings Strata's fast path plans with (as in
    server/src/engine/planner.rs, `in_process`)."""
    return {
        "datafusion.execution.target_partitions": 2 * cpus,
        "datafusion.execution.batch_size": 16384,
        "datafusion.optimizer.hash_join_single_partition_threshold": 16 * 1024 * 1024,
        "datafusion.optimizer.hash_join_single_partition_threshold_rows": 1024 * 1024,
        "datafusion.optimizer.prefer_hash_join": "true",
        "datafusion.optimizer.enable_dynamic_filter_pushdown": "true",
    }


def measure_datafusion(bin_dir, data, runs, queries, settings=None):
    files = [str(QUERIES / f"{name}.sql") for name, _ in queries]
    sets = [arg for key, value in (settings or {}).items() for arg in ("--set", f"{key}={value}")]
    out = subprocess.run([str(bin_dir / "strata-datafusion"), "--data", str(data),
                          "--runs", str(runs), *sets, *files],
                         capture_output=True, text=True, check=True).stdout
    results = {}
    for line in out.splitlines():
        item = json.loads(line)
        if "error" in item:
            results[item["query"]] = (None, None, item["error"].splitlines()[0])
        else:
            results[item["query"]] = (statistics.median(item["times_ms"]) / 1000,
                                      normalise(item["rows"]), None)
    return results


def load_postgres(conninfo, data, sf):
    """The eight tables in database strata_bench_tpch_sfN, loaded once (kept
    for the next run when lineitem's row count matches the Parquet file's)."""
    database = f"strata_bench_tpch_sf{sf}"
    expected = duckdb.execute(f"SELECT count(*) FROM read_parquet('{data / 'lineitem.parquet'}')").fetchone()[0]
    with psycopg.connect(conninfo, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(database)))
    target = psycopg.conninfo.make_conninfo(conninfo, dbname=database)
    with psycopg.connect(target, autocommit=True) as conn:
        try:
            if conn.execute("SELECT count(*) FROM lineitem").fetchone()[0] == expected:
                return target
        except psycopg.Error:
            pass
        print(f"loading TPC-H SF{sf} into PostgreSQL database {database}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="strata-bench-pg-") as tmp:
            for table in TABLES:
                parquet = data / (table + ".parquet")
                columns = duckdb.execute(f"DESCRIBE SELECT * FROM read_parquet('{parquet}')").fetchall()
                ddl = ", ".join(f"{name} {pg_type(kind)}" for name, kind, *_ in columns)
                conn.execute(f"DROP TABLE IF EXISTS {table}")
                conn.execute(f"CREATE TABLE {table} ({ddl})")
                csv = pathlib.Path(tmp) / f"{table}.csv"
                duckdb.execute(f"COPY (SELECT * FROM read_parquet('{parquet}')) TO '{csv}' (HEADER false)")
                with conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy, open(csv, "rb") as f:
                    while chunk := f.read(1 << 20):
                        copy.write(chunk)
                csv.unlink()
                conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({KEYS[table]})")
                conn.execute(f"ANALYZE {table}")
    return target


def pg_type(duckdb_type):
    kind = duckdb_type.upper()
    if kind.startswith("DECIMAL"):
        return kind.replace("DECIMAL", "numeric")
    return {"BIGINT": "bigint", "INTEGER": "integer", "VARCHAR": "text", "DATE": "date",
            "DOUBLE": "double precision", "SMALLINT": "smallint", "TINYINT": "smallint"}.get(kind, kind)


def measure_postgres(conninfo, runs, queries, timeout_s):
    results = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = '{timeout_s}s'")
        for name, stmts in queries:
            results[name] = timed_runs(lambda: run_wire(conn, stmts), runs)
            if results[name][2] and "statement timeout" in results[name][2]:
                results[name] = (None, None, f"over {timeout_s} s")
    return results


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    return (f"{os.cpu_count()} cores ({cpu}), {mem}, {platform.system()} {platform.release()}; "
            f"Strata {commit}, release build")


def geomean(ratios):
    return math.exp(sum(math.log(r) for r in ratios) / len(ratios))


def report(args, engines, queries, results, cpus):
    tuned = ", ".join(f"{key.rsplit('.', 1)[1]}={value}" for key, value in fast_path_settings(cpus).items())
    lines = [
        f"# TPC-H SF{args.sf}: Strata and its peers",
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}.",
        "",
        f"Median of {args.runs} runs after one warm-up, in milliseconds; each answer compared",
        "with DuckDB's (numbers to six significant digits). DuckDB and DataFusion run",
        "in-process on the Parquet files (DataFusion with its defaults, and with the settings",
        f"Strata's fast path plans with: {tuned});",
        "Strata and PostgreSQL are timed through the",
        "PostgreSQL protocol (psycopg 3, rows fetched), as a client sees them.",
        "Embedded: one `strata-server` as the README starts it (every query in its own DataFusion).",
        f"As jobs: the same with `--fast-path off`, every query a Ballista job on its in-process executor of {cpus} slots.",
        f"Cluster: `strata-scheduler`, two `strata-executor` processes of {max(1, cpus // 2)} slot(s)",
        "and a `strata-server --scheduler` (`--fast-path auto`), on this machine over loopback.",
        "Delta: the embedded server reading the tables copied into lake Delta tables.",
        f"PostgreSQL: this machine's server, tables with primary keys, analyzed; statement timeout {args.pg_timeout} s.",
        "",
        "| query | " + " | ".join(TITLES[e] for e in engines) + " | answers |",
        "| --- | " + " | ".join("---:" for _ in engines) + " | --- |",
    ]
    for name, _ in queries:
        reference = results["duckdb"][name][1] if "duckdb" in results else None
        cells, verdicts = [], []
        for engine in engines:
            spent, rows, error = results[engine][name]
            cells.append(error.replace("|", "/")[:60] if error else f"{spent * 1000:.0f}")
            if engine != "duckdb" and rows is not None and reference is not None:
                verdict = same_answer(rows, reference)
                if verdict != "yes":
                    verdicts.append(f"{TITLES[engine]}: {verdict}")
        answers = "; ".join(verdicts) or ("all match" if reference is not None and len(engines) > 1 else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {answers} |")
    lines += ["", "Geometric means of per-query ratios (over the queries both answered):", ""]
    pairs = [("embedded", "duckdb"), ("embedded", "tuned"), ("embedded", "datafusion"),
             ("embedded", "postgres"),
             ("jobs", "embedded"),
             ("delta", "embedded"), ("cluster", "embedded"), ("cluster", "duckdb"),
             ("datafusion", "duckdb"), ("tuned", "datafusion")]
    for a, b in pairs:
        if a not in results or b not in results:
            continue
        ratios = [results[a][n][0] / results[b][n][0] for n, _ in queries
                  if results[a][n][0] and results[b][n][0]]
        if ratios:
            lines.append(f"- {TITLES[a]} / {TITLES[b]}: **{geomean(ratios):.2f}** ({len(ratios)} queries)")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=int, default=1, help="scale factor (1, 10, ...)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per query; the median counts")
    parser.add_argument("--queries", default="", help="comma-separated query numbers (default: all 22)")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"some of {', '.join(ENGINES)}")
    parser.add_argument("--pg-timeout", type=int, default=120, help="PostgreSQL's statement timeout, seconds")
    parser.add_argument("--postgres", default=os.environ.get(
        "STRATA_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test"))
    parser.add_argument("--bin-dir", default=str(ROOT / "target" / "release"))
    parser.add_argument("--data-dir", default=str(pathlib.Path.home() / ".cache" / "strata" / "tpch"))
    parser.add_argument("--output", default="")
    args = parser.parse_args()

    engines = [e for e in args.engines.split(",") if e]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        parser.error(f"unknown engines {unknown}; choose from {', '.join(ENGINES)}")
    bin_dir = pathlib.Path(args.bin_dir)
    data = pathlib.Path(args.data_dir) / f"sf{args.sf}"
    if not (data / "lineitem.parquet").exists():
        print(f"generating TPC-H SF{args.sf} in {data}", file=sys.stderr)
        subprocess.run(["tpchgen-cli", "parquet", "-s", str(args.sf), f"--output-dir={data}"], check=True)

    wanted = {int(q) for q in args.queries.split(",") if q}
    queries = [(f"q{n}", statements(QUERIES / f"q{n}.sql")) for n in range(1, 23)
               if not wanted or n in wanted]

    cpus = os.cpu_count() or 2
    results = {}
    with tempfile.TemporaryDirectory(prefix="strata-bench-") as tmp:
        work = pathlib.Path(tmp)
        for engine in engines:
            print(f"{engine}: running {len(queries)} queries", file=sys.stderr)
            if engine == "duckdb":
                results[engine] = measure_duckdb(data, args.runs, queries)
            elif engine == "datafusion":
                results[engine] = measure_datafusion(bin_dir, data, args.runs, queries)
            elif engine == "tuned":
                results[engine] = measure_datafusion(bin_dir, data, args.runs, queries,
                                                     fast_path_settings(cpus))
            elif engine == "postgres":
                conninfo = load_postgres(args.postgres, data, args.sf)
                results[engine] = measure_postgres(conninfo, args.runs, queries, args.pg_timeout)
            else:
                # The same task slots everywhere: the embedded executor gets
                # every CPU, each of the two executors half of them.
                if engine == "cluster":
                    procs, address = start_cluster(bin_dir, work, 2, max(1, cpus // 2))
                else:
                    extra = ("--fast-path", "off") if engine == "jobs" else ()
                    procs, address = start_embedded(bin_dir, work / engine, cpus, *extra)
                try:
                    results[engine] = measure_strata(address, data, args.runs, queries,
                                                     delta=engine == "delta")
                finally:
                    for proc in reversed(procs):
                        proc.stop()

    text = report(args, engines, queries, results, cpus)
    output = pathlib.Path(args.output) if args.output else ROOT / "bench" / "results" / f"tpch-sf{args.sf}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    print(f"written to {output}", file=sys.stderr)
    strata = [e for e in engines if e in ("embedded", "jobs", "delta", "cluster")]
    wrong = [(e, n) for e in strata for n, _ in queries
             if results[e][n][2] or ("duckdb" in results and results[e][n][1] is not None
                                     and same_answer(results[e][n][1], results["duckdb"][n][1]) == "**no**")]
    for engine, name in wrong:
        print(f"{engine} {name}: failed or answered differently from DuckDB", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
