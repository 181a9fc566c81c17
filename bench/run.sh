#!/usr/bin/env bash
# Builds Strata's release binaries and a virtualenv with tpchgen-cli, duckdb
# and psycopg, then runs a benchmark:
#   bench/run.sh [tpch] [--sf 10 --runs 5 --queries 1,3,5 --engines duckdb,embedded]
#                                                             TPC-H: Strata embedded, on Delta and on a
#                                                             cluster against DuckDB, DataFusion, PostgreSQL
#   bench/run.sh wire [--runs 1000 --rows 10000000]           latency and result streaming vs PostgreSQL
#   bench/run.sh postgres [--rows 1000000]                    the PostgreSQL connector vs psql COPY
#   bench/run.sh lake [--sf 1 --runs 5]                        Delta writes embedded vs cluster, Delta vs Parquet reads
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${STRATA_CACHE_DIR:-$HOME/.cache/strata}"
venv="$cache/bench-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt

cargo build --release --bins
target_dir="$(cargo metadata --format-version 1 --no-deps \
    | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
suite="tpch"
if [ "${1:-}" = "tpch" ] || [ "${1:-}" = "postgres" ] || [ "${1:-}" = "lake" ] || [ "${1:-}" = "wire" ]; then
    suite="$1"
    shift
fi
if [ "$suite" = "postgres" ]; then
    exec "$venv/bin/python" bench/postgres.py --bin-dir "$target_dir/release" "$@"
fi
if [ "$suite" = "wire" ]; then
    exec "$venv/bin/python" bench/wire.py --bin-dir "$target_dir/release" "$@"
fi
if [ "$suite" = "lake" ]; then
    PATH="$venv/bin:$PATH" exec "$venv/bin/python" bench/lake.py \
        --bin-dir "$target_dir/release" --data-dir "$cache/tpch" "$@"
fi
PATH="$venv/bin:$PATH" exec "$venv/bin/python" bench/tpch.py \
    --bin-dir "$target_dir/release" --data-dir "$cache/tpch" "$@"
