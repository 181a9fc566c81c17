//! Runs every sqllogictest file against a Strata server started here, in the
//! simple and the extended protocol; the files under `suites/pg_compat` also
//! run against the PostgreSQL on this machine and must pass there too.

use futures::StreamExt;
use strata_sql_tests::{
    Database, FileResult, Mode, StrataUnderTest, execute, is_pg_compatible, run_isolated,
    slt_files, suites_dir,
};

const PARALLEL_FILES: usize = 4;

fn main() -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let files = match slt_files(&suites_dir()) {
            Ok(files) if !files.is_empty() => files,
            Ok(_) => {
                eprintln!("no .slt files under {}", suites_dir().display());
                return std::process::ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("cannot list {}: {e}", suites_dir().display());
                return std::process::ExitCode::FAILURE;
            }
        };
        let postgres = Database::postgres();
        if let Err(e) = execute(&postgres.conninfo, "SELECT 1").await {
            eprintln!(
                "PostgreSQL is needed for the pg_compat suites and is not reachable: {e}\n\
                 Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
            );
            return std::process::ExitCode::FAILURE;
        }
        let strata = match StrataUnderTest::start().await {
            Ok(strata) => strata,
            Err(e) => {
                eprintln!("{e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let strata_db = strata.database();

        let mut runs = Vec::new();
        for file in &files {
            for mode in [Mode::Simple, Mode::Extended] {
                runs.push((strata_db.clone(), file.clone(), mode));
                if is_pg_compatible(file) {
                    runs.push((postgres.clone(), file.clone(), mode));
                }
            }
        }
        let results: Vec<FileResult> = futures::stream::iter(runs)
            .map(|(database, file, mode)| async move {
                run_isolated(&database, &file, mode, false).await
            })
            .buffer_unordered(PARALLEL_FILES)
            .collect()
            .await;

        let mut failed = 0;
        for result in &results {
            let name = result
                .file
                .strip_prefix(suites_dir())
                .unwrap_or(&result.file)
                .display();
            match &result.error {
                None => println!("ok      {name} [{} {}]", result.target, result.mode),
                Some(error) => {
                    failed += 1;
                    println!("FAILED  {name} [{} {}]\n{error}\n", result.target, result.mode);
                }
            }
        }
        println!("{} passed, {} failed", results.len() - failed, failed);
        if failed == 0 {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        }
    })
}
