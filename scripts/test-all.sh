#!/usr/bin/env bash
# Runs every Strata test: unit tests, the SQL suites (in both protocol modes,
# the PostgreSQL-compatible ones also against PostgreSQL), the protocol tests,
# the Python driver tests and the cluster tests (scheduler, executors and
# server as separate processes). Installs what the tests need first.
#
# Needs: a Rust toolchain, python3, node and npm, a JDK (java), psql, apt
# (or libpostgresql-jdbc-java and chromium installed), and PostgreSQL on 127.0.0.1:5432
# (user postgres, database test; STRATA_TEST_POSTGRES overrides the
# connection string).
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${STRATA_CACHE_DIR:-$HOME/.cache/strata}"
venv="$cache/venv"
mkdir -p "$cache"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r sql-tests/clients/requirements.txt
export STRATA_TEST_PYTHON="$venv/bin/python"
# node-postgres for the Node driver suite, at the versions the lockfile pins.
(cd sql-tests/clients/node && npm ci --no-audit --no-fund --silent)
# playwright-core drives headless Chromium for the web console's tests.
(cd sql-tests/console && npm ci --no-audit --no-fund --silent)
# pgjdbc for the Java driver suite and Chromium for the console: Debian's
# packages.
missing=()
[ -f /usr/share/java/postgresql.jar ] || missing+=(libpostgresql-jdbc-java)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi

# The cluster tests start the workspace's binaries as processes.
cargo build --workspace --bins
cargo test --workspace
