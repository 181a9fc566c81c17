#!/usr/bin/env python3
"""TPC-H through Strata's wire protocol, embedded and on a two-executor cluster.

Generates the data with tpchgen-cli (Parquet, cached), starts Strata's release
binaries twice -- the embedded default (one process) and a scheduler, two
executors and a server as separate processes -- registers the eight tables in
each, runs the 22 queries through psycopg, checks that both give the same
answers, and writes a markdown table of medians and ratios to bench/results/.

Run it with bench/run.sh, which builds the binaries and the virtualenv.
"""

import argparse
import datetime
from decimal import Decimal
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

import psycopg

ROOT = pathlib.Path(__file__).resolve().parents[1]
QUERIES = ROOT / "bench" / "tpch" / "queries"
TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")
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


def start_embedded(bin_dir, work, slots):
    server = Process(bin_dir / "strata-server",
                     ["--listen", "127.0.0.1:0", "--data-dir", str(work / "embedded"),
                      "--executor-slots", str(slots)],
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
                      "--data-dir", str(work / "cluster")],
                     "Strata is listening on ", work / "server.log")
    procs.append(server)
    return procs, server.address()


def statements(path):
    """The statements of a query file, comments removed."""
    text = "\n".join(line for line in path.read_text().splitlines()
                     if not line.strip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def normalise(rows):
    """Rows with floats rounded, so that summation order does not matter."""
    def value(v):
        if isinstance(v, (float, Decimal)):
            return float(f"{float(v):.6g}")
        return v
    return [tuple(value(v) for v in row) for row in rows]


def run_query(conn, stmts):
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


def measure(address, data, runs, queries):
    host, port = address.split(":")
    results = {}
    with psycopg.connect(host=host, port=port, user="strata", dbname="lake",
                         autocommit=True) as conn:
        for table in TABLES:
            conn.execute(f"CREATE EXTERNAL TABLE {table} STORED AS PARQUET "
                         f"LOCATION '{data / (table + '.parquet')}'")
        for name, stmts in queries:
            try:
                run_query(conn, stmts)  # warm-up: file metadata, plans, caches
                times, rows = [], None
                for _ in range(runs):
                    spent, rows = run_query(conn, stmts)
                    times.append(spent)
                results[name] = (statistics.median(times), normalise(rows), None)
            except psycopg.Error as e:
                results[name] = (None, None, f"{getattr(e, 'sqlstate', '')} {e}".strip())
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=int, default=1, help="scale factor (1, 10, ...)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per query; the median counts")
    parser.add_argument("--queries", default="", help="comma-separated query numbers (default: all 22)")
    parser.add_argument("--bin-dir", default=str(ROOT / "target" / "release"))
    parser.add_argument("--data-dir", default=str(pathlib.Path.home() / ".cache" / "strata" / "tpch"))
    parser.add_argument("--output", default="")
    args = parser.parse_args()

    bin_dir = pathlib.Path(args.bin_dir)
    data = pathlib.Path(args.data_dir) / f"sf{args.sf}"
    if not (data / "lineitem.parquet").exists():
        print(f"generating TPC-H SF{args.sf} in {data}", file=sys.stderr)
        subprocess.run(["tpchgen-cli", "parquet", "-s", str(args.sf), f"--output-dir={data}"], check=True)

    wanted = {int(q) for q in args.queries.split(",") if q}
    queries = []
    for n in range(1, 23):
        if wanted and n not in wanted:
            continue
        queries.append((f"q{n}", statements(QUERIES / f"q{n}.sql")))

    cpus = os.cpu_count() or 2
    with tempfile.TemporaryDirectory(prefix="strata-bench-") as tmp:
        work = pathlib.Path(tmp)
        results = {}
        # The same task slots in both: the embedded executor gets every CPU,
        # each of the two executors half of them.
        for mode, start in (
            ("embedded", lambda: start_embedded(bin_dir, work, cpus)),
            ("cluster", lambda: start_cluster(bin_dir, work, 2, max(1, cpus // 2))),
        ):
            procs, address = start()
            try:
                print(f"{mode}: running {len(queries)} queries at {address}", file=sys.stderr)
                results[mode] = measure(address, data, args.runs, queries)
            finally:
                for proc in reversed(procs):
                    proc.stop()

    lines = [
        f"# TPC-H SF{args.sf}: Strata embedded vs a two-executor cluster",
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}.",
        "",
        "Both through the PostgreSQL protocol (psycopg 3) on the same",
        f"Parquet files; median of {args.runs} runs after one warm-up. Embedded: one",
        f"`strata-server` with an in-process scheduler and one executor of {cpus} slots.",
        f"Cluster: `strata-scheduler`, two `strata-executor` processes of {max(1, cpus // 2)} slots",
        "each and a `strata-server --scheduler`, all on this machine over loopback.",
        "",
        "| query | embedded (ms) | cluster (ms) | cluster / embedded | same answer |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    ratios = []
    for name, _ in queries:
        e_time, e_rows, e_err = results["embedded"][name]
        c_time, c_rows, c_err = results["cluster"][name]
        if e_err or c_err:
            lines.append(f"| {name} | {e_err or f'{e_time * 1000:.0f}'} | {c_err or f'{c_time * 1000:.0f}'} | — | — |")
            continue
        ratio = c_time / e_time
        ratios.append(ratio)
        same = "yes" if e_rows == c_rows else "**no**"
        lines.append(f"| {name} | {e_time * 1000:.0f} | {c_time * 1000:.0f} | {ratio:.2f} | {same} |")
    if ratios:
        geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        lines += ["", f"Geometric mean of cluster / embedded over {len(ratios)} queries: **{geomean:.2f}**."]
    text = "\n".join(lines) + "\n"
    output = pathlib.Path(args.output) if args.output else \
        ROOT / "bench" / "results" / f"tpch-sf{args.sf}-embedded-vs-cluster.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    print(f"written to {output}", file=sys.stderr)
    failed = [n for n, _ in queries if results["embedded"][n][2] or results["cluster"][n][2]
              or results["embedded"][n][1] != results["cluster"][n][1]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
