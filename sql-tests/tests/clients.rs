//! Runs the driver suites against a Strata server started here: Python
//! (psycopg 3, psycopg2, asyncpg, SQLAlchemy) with pytest, Node
//! (node-postgres) with node's test runner, and Java (pgjdbc, Debian's
//! package, with the machine's JDK). The interpreter comes from
//! STRATA_TEST_PYTHON, the Node packages from `npm ci` in
//! sql-tests/clients/node and pgjdbc from libpostgresql-jdbc-java, all set up
//! by the README's test command (scripts/test-all.sh).

use std::process::{Command, ExitCode};

use strata_sql_tests::StrataUnderTest;

/// Where Debian's libpostgresql-jdbc-java puts pgjdbc.
const PGJDBC: &str = "/usr/share/java/postgresql.jar";

fn main() -> ExitCode {
    let Ok(python) = std::env::var("STRATA_TEST_PYTHON") else {
        eprintln!(
            "STRATA_TEST_PYTHON is not set: run the test suite with scripts/test-all.sh, \
             which installs psycopg, asyncpg and pytest into a virtualenv, or point \
             STRATA_TEST_PYTHON at a Python that has them"
        );
        return ExitCode::FAILURE;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let strata = match runtime.block_on(StrataUnderTest::start()) {
        Ok(strata) => strata,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let suite = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clients");
    let port = strata.server.addr.port().to_string();
    let node = suite.join("node");
    let python_ok = run(
        "the Python driver suite",
        Command::new(&python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(&suite)
            .env("STRATA_PORT", &port)
            .env("STRATA_LAKE_ROOT", strata.lake_root()),
    );
    let node_ok = if node.join("node_modules").join("pg").is_dir() {
        run(
            "the Node driver suite",
            Command::new("node")
                .arg("--test")
                .arg(node.join("drivers.test.mjs"))
                .env("STRATA_PORT", &port),
        )
    } else {
        eprintln!(
            "node-postgres is not installed: run `npm ci` in {} (scripts/test-all.sh does)",
            node.display()
        );
        false
    };
    let pgjdbc = std::path::Path::new(PGJDBC);
    let java_ok = if pgjdbc.is_file() {
        run(
            "the Java driver suite",
            Command::new("java")
                .arg("-cp")
                .arg(pgjdbc)
                .arg(suite.join("java").join("Drivers.java"))
                .env("STRATA_PORT", &port),
        )
    } else {
        eprintln!(
            "pgjdbc is not installed at {PGJDBC}: apt-get install libpostgresql-jdbc-java \
             (scripts/test-all.sh does)"
        );
        false
    };
    drop(strata);
    if python_ok && node_ok && java_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs one suite; false (with the reason printed) when it fails.
fn run(suite: &str, command: &mut Command) -> bool {
    match command.status() {
        Ok(status) if status.success() => true,
        Ok(status) => {
            eprintln!("{suite} failed ({status})");
            false
        }
        Err(e) => {
            eprintln!("cannot run {suite}: {e}");
            false
        }
    }
}
