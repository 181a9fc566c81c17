//! Runs every sqllogictest file against a Strata server started here, in the
//! simple and the extended protocol; the files under `suites/pg_compat` also
//! run against the PostgreSQL on this machine and must pass there too.

use strata_sql_tests::{Database, StrataUnderTest, execute, report, run_suites};

fn main() -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
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
        let results = run_suites(&strata.database(), Some(&postgres)).await;
        if report(&results) == 0 {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        }
    })
}
