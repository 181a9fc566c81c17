//! Checks docker-compose.yml and the Dockerfile (sql-tests/deploy) with the
//! Python from STRATA_TEST_PYTHON: no Docker engine runs here, so the compose
//! file is validated against the Compose specification and the binaries'
//! own flags instead.

use std::process::{Command, ExitCode};

use strata_sql_tests::cluster::binaries_dir;

fn main() -> ExitCode {
    let Ok(python) = std::env::var("STRATA_TEST_PYTHON") else {
        eprintln!(
            "STRATA_TEST_PYTHON is not set: run the test suite with scripts/test-all.sh, \
             which installs check-jsonschema and pytest into a virtualenv"
        );
        return ExitCode::FAILURE;
    };
    let bin_dir = match binaries_dir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let suite = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let status = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&suite)
        .env("STRATA_BIN_DIR", &bin_dir)
        .status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("the deployment checks failed ({status})");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cannot run {python}: {e}");
            ExitCode::FAILURE
        }
    }
}
