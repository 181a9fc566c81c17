//! Runs every sqllogictest file against a Strata server started here, in the
//! simple and the extended protocol, once with every query on the fast path
//! (run in the server) and once with every query a Ballista job; the files
//! under `suites/pg_compat` also run against the PostgreSQL on this machine
//! and must pass there too.

use strata_connectors::options::FastPath;
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
        // Answers are the same whichever path a query takes: every suite
        // runs with every query in the server, then with every query as a
        // Ballista job.
        let mut results = Vec::new();
        // The servers live to the end: a server stopped while the process
        // goes on leaves its executor's tasks complaining.
        let mut servers = Vec::new();
        for fast_path in [FastPath::On, FastPath::Off] {
            let strata = match StrataUnderTest::start_with_fast_path(fast_path).await {
                Ok(strata) => strata,
                Err(e) => {
                    eprintln!("{e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            let mut database = strata.database();
            database.name = format!("strata, fast path {fast_path}");
            let postgres = (fast_path == FastPath::On).then_some(&postgres);
            results.extend(run_suites(&database, postgres).await);
            servers.push(strata);
        }
        if report(&results) == 0 {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        }
    })
}
