//! Runs sqllogictest files over the PostgreSQL wire protocol, against a
//! Strata server started in-process or against the real PostgreSQL.
//!
//! Every file runs twice: once through the simple query protocol (text
//! results) and once through the extended protocol (Parse/Bind/Execute,
//! binary results), and must give the same answers both ways.

mod client;
pub mod cluster;
mod decode;
pub mod postgres;
pub mod s3;

use std::path::{Path, PathBuf};

use futures::StreamExt;

pub use client::{Mode, PgClient};

/// Where a suite's files are.
pub fn suites_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("suites")
}

/// The generated test data.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Every `.slt` file under `dir`, sorted.
pub fn slt_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(slt_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "slt") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// True for files that must also pass against PostgreSQL itself.
pub fn is_pg_compatible(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "pg_compat")
}

/// How to reach a database.
#[derive(Debug, Clone)]
pub struct Target {
    /// A tokio-postgres connection string.
    pub conninfo: String,
    /// Name shown in reports (`strata`, `postgres`).
    pub name: String,
}

/// The outcome of one file in one mode.
#[derive(Debug)]
pub struct FileResult {
    pub file: PathBuf,
    pub target: String,
    pub mode: Mode,
    pub error: Option<String>,
}

/// Runs (or, with `complete`, rewrites the expected output of) one file.
pub async fn run_file(target: &Target, mode: Mode, file: &Path, complete: bool) -> FileResult {
    let conninfo = target.conninfo.clone();
    let mut runner = sqllogictest::Runner::new(move || {
        let conninfo = conninfo.clone();
        async move { PgClient::connect(&conninfo, mode).await }
    });
    runner.set_var("DATA".to_owned(), data_dir().to_string_lossy().into_owned());
    runner.with_column_validator(sqllogictest::default_column_validator);
    // `onlyif simple` / `skipif extended` select records by protocol mode.
    runner.add_label(&mode.to_string());
    let result = if complete {
        runner
            .update_test_file(
                file,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                sqllogictest::default_column_validator,
            )
            .await
            .map_err(|e| e.to_string())
    } else {
        runner
            .run_file_async(file)
            .await
            .map_err(|e| e.display(true).to_string())
    };
    FileResult {
        file: file.to_owned(),
        target: target.name.clone(),
        mode,
        error: result.err(),
    }
}

/// A Strata server started in this process for a test run, with its data
/// folder in a temporary directory removed when dropped.
pub struct StrataUnderTest {
    pub server: strata_server::RunningServer,
    _data: tempfile::TempDir,
}

impl StrataUnderTest {
    /// Starts a server with the embedded cluster on a free loopback port.
    pub async fn start() -> Result<Self, String> {
        let data = tempfile::tempdir().map_err(|e| e.to_string())?;
        Self::start_in(data).await
    }

    /// Starts a server whose data folder is `data/data`, so a test can stop
    /// it and start another over the same folder.
    pub async fn start_in(data: tempfile::TempDir) -> Result<Self, String> {
        Self::start_with(data, Vec::new()).await
    }

    /// Starts a server over `data/data` that knows `sources`.
    pub async fn start_with(
        data: tempfile::TempDir,
        sources: Vec<strata_connectors::postgres::source::PgSource>,
    ) -> Result<Self, String> {
        let config = strata_server::ServerConfig {
            listen: "127.0.0.1:0".to_owned(),
            data_dir: data.path().join("data"),
            sources,
            http: strata_server::http::HttpListen::At("127.0.0.1:0".to_owned()),
            ..Default::default()
        };
        Self::start_configured(data, config).await
    }

    /// Starts a server whose sessions run queries on the fast path as
    /// `fast_path` says (`on`: every query in the server; `off`: every
    /// query as a job).
    pub async fn start_with_fast_path(
        fast_path: strata_connectors::options::FastPath,
    ) -> Result<Self, String> {
        let data = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config = strata_server::ServerConfig {
            listen: "127.0.0.1:0".to_owned(),
            data_dir: data.path().join("data"),
            http: strata_server::http::HttpListen::At("127.0.0.1:0".to_owned()),
            fast_path,
            ..Default::default()
        };
        Self::start_configured(data, config).await
    }

    async fn start_configured(
        data: tempfile::TempDir,
        config: strata_server::ServerConfig,
    ) -> Result<Self, String> {
        let server = strata_server::start(&config)
            .await
            .map_err(|e| format!("cannot start Strata: {e}"))?;
        Ok(Self {
            server,
            _data: data,
        })
    }

    /// Stops the server and its embedded cluster, handing back the data folder.
    pub fn stop(self) -> tempfile::TempDir {
        self.server.stop();
        drop(self.server);
        self._data
    }

    /// The lake's folder (the server's default, under its data folder).
    pub fn lake_root(&self) -> PathBuf {
        self._data.path().join("data").join("lake")
    }

    /// The web console's and `/metrics`' address.
    pub fn console_addr(&self) -> std::net::SocketAddr {
        self.server
            .http_addr
            .expect("the test server serves its console")
    }

    /// The embedded scheduler's REST address.
    pub fn scheduler_http(&self) -> Option<std::net::SocketAddr> {
        self.server.cluster.as_ref().map(|c| c.scheduler.addr)
    }

    /// A connection string for `schema` as the search path.
    pub fn conninfo(&self, schema: Option<&str>) -> String {
        with_search_path(self.database().conninfo, schema)
    }

    /// This server as a target for suites.
    pub fn database(&self) -> Database {
        Database {
            name: "strata".to_owned(),
            conninfo: format!(
                "host=127.0.0.1 port={} user=strata dbname=lake",
                self.server.addr.port()
            ),
        }
    }
}

/// A database the suites run against.
#[derive(Debug, Clone)]
pub struct Database {
    /// Name shown in reports (`strata`, `postgres`).
    pub name: String,
    /// A tokio-postgres connection string.
    pub conninfo: String,
}

impl Database {
    /// The PostgreSQL server the compatible subset also runs against.
    pub fn postgres() -> Self {
        Database {
            name: "postgres".to_owned(),
            conninfo: std::env::var("STRATA_TEST_POSTGRES").unwrap_or_else(|_| {
                "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned()
            }),
        }
    }
}

/// Runs (or completes) one file in a schema of its own, created before and
/// dropped after, so runs never see each other's tables.
pub async fn run_isolated(
    database: &Database,
    file: &Path,
    mode: Mode,
    complete: bool,
) -> FileResult {
    let schema = schema_for(file, mode);
    let target = Target {
        conninfo: with_search_path(database.conninfo.clone(), Some(&schema)),
        name: database.name.clone(),
    };
    if let Err(e) = execute(&database.conninfo, &format!("CREATE SCHEMA {schema}")).await {
        return FileResult {
            file: file.to_owned(),
            target: target.name,
            mode,
            error: Some(e),
        };
    }
    let result = run_file(&target, mode, file, complete).await;
    if let Err(e) = execute(&database.conninfo, &format!("DROP SCHEMA {schema} CASCADE")).await {
        eprintln!("warning: could not drop schema {schema}: {e}");
    }
    result
}

fn with_search_path(conninfo: String, schema: Option<&str>) -> String {
    match schema {
        Some(schema) => format!("{conninfo} options='-c search_path={schema}'"),
        None => conninfo,
    }
}

/// The schema one run of one file works in.
fn schema_for(file: &Path, mode: Mode) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("slt_{clean}_{mode}_{}", std::process::id())
}

/// How many files run at once.
const PARALLEL_FILES: usize = 4;

/// Every suite file in both protocol modes against `strata`, and the
/// PostgreSQL-compatible ones against `postgres` too when given.
pub async fn run_suites(strata: &Database, postgres: Option<&Database>) -> Vec<FileResult> {
    let files = match slt_files(&suites_dir()) {
        Ok(files) if !files.is_empty() => files,
        Ok(_) => {
            return vec![FileResult {
                file: suites_dir(),
                target: strata.name.clone(),
                mode: Mode::Simple,
                error: Some("no .slt files here".to_owned()),
            }];
        }
        Err(e) => {
            return vec![FileResult {
                file: suites_dir(),
                target: strata.name.clone(),
                mode: Mode::Simple,
                error: Some(format!("cannot list the suites: {e}")),
            }];
        }
    };
    // A file's two protocol runs go one after the other: recorded tool
    // sessions create fixtures under the names the tool would see, which
    // the two runs of one file would otherwise both create at once.
    let mut runs = Vec::new();
    for file in &files {
        runs.push((strata.clone(), file.clone()));
        if let Some(postgres) = postgres
            && is_pg_compatible(file)
        {
            runs.push((postgres.clone(), file.clone()));
        }
    }
    let results: Vec<Vec<FileResult>> = futures::stream::iter(runs)
        .map(|(database, file)| async move {
            let mut results = Vec::with_capacity(2);
            for mode in [Mode::Simple, Mode::Extended] {
                results.push(run_isolated(&database, &file, mode, false).await);
            }
            results
        })
        .buffer_unordered(PARALLEL_FILES)
        .collect()
        .await;
    results.into_iter().flatten().collect()
}

/// Prints one line per run (and the error of each failed one) and a total;
/// returns the number of failed runs.
pub fn report(results: &[FileResult]) -> usize {
    let mut failed = 0;
    for result in results {
        let name = result
            .file
            .strip_prefix(suites_dir())
            .unwrap_or(&result.file)
            .display();
        match &result.error {
            None => println!("ok      {name} [{} {}]", result.target, result.mode),
            Some(error) => {
                failed += 1;
                println!(
                    "FAILED  {name} [{} {}]\n{error}\n",
                    result.target, result.mode
                );
            }
        }
    }
    println!("{} passed, {} failed", results.len() - failed, failed);
    failed
}

/// Runs `sql` on a fresh connection.
pub async fn execute(conninfo: &str, sql: &str) -> Result<(), String> {
    let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("cannot connect ({conninfo}): {e}"))?;
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    let result = client
        .batch_execute(sql)
        .await
        .map_err(|e| format!("{sql}: {}", client::SqlError::from(e)));
    task.abort();
    result
}

/// Runs psql's `command` as user `strata` against the Strata server on
/// `port` and database `database`, stopping at the first error; returns what
/// psql printed, or panics with its error.
pub fn psql(port: u16, database: &str, command: &str) -> String {
    let output = std::process::Command::new("psql")
        .args([
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "strata",
        ])
        .args(["-p", &port.to_string(), "-d", database, "-c", command])
        .output()
        .unwrap_or_else(|e| panic!("psql is needed (Debian package postgresql-client): {e}"));
    assert!(
        output.status.success(),
        "psql {command} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
