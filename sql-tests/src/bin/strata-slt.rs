//! Runs or completes sqllogictest files.
//!
//! `cargo run -p strata-sql-tests --bin strata-slt -- --complete [FILE...]`
//! rewrites the expected output of the files (all of them by default) from a
//! Strata server started in-process; `--postgres` runs them against the
//! PostgreSQL on this machine instead. Expected output is never edited by hand.

use std::path::PathBuf;

use clap::Parser;
use strata_sql_tests::{Database, Mode, StrataUnderTest, run_isolated, slt_files, suites_dir};

#[derive(Parser)]
struct Args {
    /// Rewrite the expected output instead of checking it.
    #[arg(long)]
    complete: bool,
    /// Run against PostgreSQL rather than Strata.
    #[arg(long)]
    postgres: bool,
    /// Use the extended protocol (binary results) rather than the simple one.
    #[arg(long)]
    extended: bool,
    /// Files to run; every suite file when none are given.
    files: Vec<PathBuf>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let files = if args.files.is_empty() {
        match slt_files(&suites_dir()) {
            Ok(files) => files,
            Err(e) => {
                eprintln!("cannot list suites: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    } else {
        args.files
    };
    let mode = if args.extended {
        Mode::Extended
    } else {
        Mode::Simple
    };
    let strata = if args.postgres {
        None
    } else {
        match StrataUnderTest::start().await {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("{e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    };
    let database = match &strata {
        Some(strata) => strata.database(),
        None => Database::postgres(),
    };
    let mut failed = 0;
    for file in &files {
        let result = run_isolated(&database, file, mode, args.complete).await;
        match result.error {
            None => println!("ok      {}", file.display()),
            Some(e) => {
                failed += 1;
                println!("FAILED  {}\n{e}", file.display());
            }
        }
    }
    if failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
