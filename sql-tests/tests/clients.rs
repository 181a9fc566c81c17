//! Runs the Python driver suite (psycopg 3, asyncpg) against a Strata server
//! started here. The interpreter comes from STRATA_TEST_PYTHON, which the
//! README's test command sets up (scripts/test-all.sh).

use std::process::{Command, ExitCode};

use strata_sql_tests::StrataUnderTest;

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
    let status = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&suite)
        .env("STRATA_PORT", strata.server.addr.port().to_string())
        .status();
    drop(strata);
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("the Python driver suite failed ({status})");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cannot run {python}: {e}");
            ExitCode::FAILURE
        }
    }
}
