//! Runs every sqllogictest file against a Strata server started here, in the
//! simple and the extended protocol; the files under `suites/pg_compat` also
//! run against the PostgreSQL on this machine and must pass there too.

use std::path::PathBuf;

use futures::StreamExt;
use strata_sql_tests::{
    FileResult, Mode, StrataUnderTest, Target, execute, is_pg_compatible, postgres_conninfo,
    run_file, schema_for, slt_files, suites_dir,
};

const PARALLEL_FILES: usize = 4;

#[derive(Clone)]
enum Database {
    Strata(String),
    Postgres,
}

async fn run_one(database: Database, file: PathBuf, mode: Mode) -> FileResult {
    let schema = schema_for(&file, mode);
    let (admin, target) = match &database {
        Database::Strata(port) => {
            let base = format!("host=127.0.0.1 port={port} user=strata dbname=lake");
            (
                base.clone(),
                Target {
                    conninfo: format!("{base} options='-c search_path={schema}'"),
                    name: "strata".to_owned(),
                },
            )
        }
        Database::Postgres => (
            postgres_conninfo(None),
            Target {
                conninfo: postgres_conninfo(Some(&schema)),
                name: "postgres".to_owned(),
            },
        ),
    };
    if let Err(e) = execute(&admin, &format!("CREATE SCHEMA {schema}")).await {
        return FileResult {
            file,
            target: target.name,
            mode,
            error: Some(e),
        };
    }
    let result = run_file(&target, mode, &file, false).await;
    let drop = match database {
        Database::Strata(_) => format!("DROP SCHEMA {schema} CASCADE"),
        Database::Postgres => format!("DROP SCHEMA {schema} CASCADE"),
    };
    if let Err(e) = execute(&admin, &drop).await {
        eprintln!("warning: could not drop schema {schema}: {e}");
    }
    result
}

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
        if let Err(e) = execute(&postgres_conninfo(None), "SELECT 1").await {
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
        let port = strata.server.addr.port().to_string();

        let mut runs = Vec::new();
        for file in &files {
            for mode in [Mode::Simple, Mode::Extended] {
                runs.push((Database::Strata(port.clone()), file.clone(), mode));
                if is_pg_compatible(file) {
                    runs.push((Database::Postgres, file.clone(), mode));
                }
            }
        }
        let results: Vec<FileResult> = futures::stream::iter(runs)
            .map(|(database, file, mode)| run_one(database, file, mode))
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
