#!/usr/bin/env bash
# Builds Strata's release binaries and a virtualenv with tpchgen-cli and
# psycopg, then runs the TPC-H comparison of embedded and cluster mode.
# Arguments go to bench/tpch.py (--sf 10, --runs 5, --queries 1,3,5).
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
PATH="$venv/bin:$PATH" exec "$venv/bin/python" bench/tpch.py \
    --bin-dir "$target_dir/release" --data-dir "$cache/tpch" "$@"
