//! Runs every client against Strata with its own driver, first against a
//! server with the embedded cluster, then against a two-executor cluster of
//! separate processes: psql here, the Python drivers (psycopg 3, psycopg2,
//! asyncpg, SQLAlchemy, pandas) with pytest, Node (node-postgres) with
//! node's test runner, and Java (pgjdbc, Debian's package, with the
//! machine's JDK).
//!
//! Each test names the cell of the compatibility matrix (client x feature)
//! it proves, in the file STRATA_MATRIX names. The matrix is printed for
//! each run; every cell in [`CELLS`] must pass in both, and README.md keeps
//! the same matrix between its `client-matrix` markers.
//!
//! The interpreter comes from STRATA_TEST_PYTHON, the Node packages from
//! `npm ci` in sql-tests/clients/node and pgjdbc from
//! libpostgresql-jdbc-java, all set up by the README's test command
//! (scripts/test-all.sh).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use strata_sql_tests::StrataUnderTest;
use strata_sql_tests::cluster::Cluster;

/// Where Debian's libpostgresql-jdbc-java puts pgjdbc.
const PGJDBC: &str = "/usr/share/java/postgresql.jar";

/// The matrix's columns.
const CLIENTS: [&str; 8] = [
    "psql",
    "psycopg 3",
    "psycopg2",
    "asyncpg",
    "SQLAlchemy",
    "pandas",
    "node-postgres",
    "pgjdbc",
];

/// The clients that open connections of their own (pandas uses
/// SQLAlchemy's).
const CONNECTING_CLIENTS: &[&str] = &[
    "psql",
    "psycopg 3",
    "psycopg2",
    "asyncpg",
    "SQLAlchemy",
    "node-postgres",
    "pgjdbc",
];

/// The matrix's rows: a feature's key in the suites, its label, and the
/// clients that must prove it (a client without the API for a feature has
/// no cell).
const CELLS: [(&str, &str, &[&str]); 10] = [
    ("connect", "Connect and query", CONNECTING_CLIENTS),
    (
        "metadata",
        "Schemas, tables and columns through the client's metadata API",
        &["psql", "psycopg 3", "SQLAlchemy", "node-postgres", "pgjdbc"],
    ),
    (
        "keys",
        "Primary keys, foreign keys and indexes",
        &["SQLAlchemy", "pgjdbc"],
    ),
    (
        "params-text",
        "Parameters of every type, text",
        &[
            "psycopg 3",
            "psycopg2",
            "SQLAlchemy",
            "node-postgres",
            "pgjdbc",
        ],
    ),
    (
        "params-binary",
        "Parameters and results of every type, binary",
        &["psycopg 3", "asyncpg", "pgjdbc"],
    ),
    (
        "stream",
        "A 1M-row result streamed with a fetch size",
        &[
            "psql",
            "psycopg 3",
            "psycopg2",
            "asyncpg",
            "pandas",
            "node-postgres",
            "pgjdbc",
        ],
    ),
    (
        "copy",
        "COPY into a lake table and out of a query",
        &["psql", "psycopg 3", "psycopg2", "asyncpg", "pgjdbc"],
    ),
    (
        "dataframe",
        "read_sql, and DataFrame.to_sql into a lake table",
        &["pandas"],
    ),
    (
        "cancel",
        "Cancel a running query",
        &[
            "psql",
            "psycopg 3",
            "psycopg2",
            "asyncpg",
            "node-postgres",
            "pgjdbc",
        ],
    ),
    (
        "errors",
        "Errors carry PostgreSQL's SQLSTATE",
        CONNECTING_CLIENTS,
    ),
];

/// What the suites reported: (client, feature) -> passed every time.
type Outcomes = BTreeMap<(String, String), bool>;

fn main() -> ExitCode {
    let Ok(python) = std::env::var("STRATA_TEST_PYTHON") else {
        eprintln!(
            "STRATA_TEST_PYTHON is not set: run the test suite with scripts/test-all.sh, \
             which installs psycopg, asyncpg, SQLAlchemy, pandas and pytest into a \
             virtualenv, or point STRATA_TEST_PYTHON at a Python that has them"
        );
        return ExitCode::FAILURE;
    };
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients");
    let mut ready = true;
    if !suite.join("node/node_modules/pg-cursor").is_dir() {
        eprintln!(
            "node-postgres is not installed: run `npm ci` in {} (scripts/test-all.sh does)",
            suite.join("node").display()
        );
        ready = false;
    }
    if !Path::new(PGJDBC).is_file() {
        eprintln!(
            "pgjdbc is not installed at {PGJDBC}: apt-get install libpostgresql-jdbc-java \
             (scripts/test-all.sh does)"
        );
        ready = false;
    }
    if !ready {
        return ExitCode::FAILURE;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");

    let mut passed = true;
    let embedded = match runtime.block_on(StrataUnderTest::start()) {
        Ok(strata) => strata,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    passed &= run_clients(
        "embedded",
        embedded.server.addr.port(),
        &embedded.lake_root(),
        &python,
        &suite,
    );
    // The embedded server stays up until the process ends: stopped in
    // process, its scheduler would go on to expire its executor.

    let cluster = match runtime.block_on(Cluster::start(2, 2, 30)) {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("cannot start the two-executor cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cluster_passed = run_clients(
        "two-executor cluster",
        cluster.server_addr.port(),
        &cluster.lake_root(),
        &python,
        &suite,
    );
    if !cluster_passed {
        eprintln!("{}", cluster.logs());
    }
    passed &= cluster_passed;
    runtime.block_on(async move { drop(cluster) });

    passed &= readme_keeps_the_matrix();
    drop(embedded);
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs every client against the server on `port`; prints the matrix and
/// returns whether every cell passed.
fn run_clients(target: &str, port: u16, lake_root: &Path, python: &str, suite: &Path) -> bool {
    println!("\n=== clients against Strata, {target} (port {port})");
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let matrix = scratch.path().join("matrix.tsv");
    std::fs::write(&matrix, "").expect("the matrix file");
    let port_text = port.to_string();
    // The PostgreSQL whose tables the suites attach as a source.
    let postgres = strata_sql_tests::Database::postgres().conninfo;
    let mut suites_ok = true;

    suites_ok &= psql_cells(port, scratch.path(), &matrix);
    suites_ok &= run(
        "the Python driver suite",
        Command::new(python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(suite)
            .env("STRATA_PORT", &port_text)
            .env("STRATA_POSTGRES", &postgres)
            .env("STRATA_LAKE_ROOT", lake_root)
            .env("STRATA_MATRIX", &matrix),
    );
    suites_ok &= run(
        "the Node driver suite",
        Command::new("node")
            .arg("--test")
            .arg(suite.join("node").join("drivers.test.mjs"))
            .env("STRATA_PORT", &port_text)
            .env("STRATA_MATRIX", &matrix),
    );
    suites_ok &= run(
        "the Java driver suite",
        Command::new("java")
            .arg("-cp")
            .arg(PGJDBC)
            .arg(suite.join("java").join("Drivers.java"))
            .env("STRATA_PORT", &port_text)
            .env("STRATA_POSTGRES", &postgres)
            .env("STRATA_MATRIX", &matrix),
    );

    let outcomes = read_outcomes(&matrix);
    let (table, cells_ok) = run_matrix(&outcomes);
    println!("\ncompatibility matrix, {target}:\n{table}");
    if !cells_ok {
        eprintln!("some cells of the matrix failed or did not run against the {target}");
    }
    suites_ok && cells_ok
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

fn read_outcomes(matrix: &Path) -> Outcomes {
    let text = std::fs::read_to_string(matrix).unwrap_or_default();
    let mut outcomes = Outcomes::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        let mut fields = line.split('\t');
        let (Some(client), Some(feature), Some(outcome)) =
            (fields.next(), fields.next(), fields.next())
        else {
            eprintln!("a malformed matrix line: {line:?}");
            outcomes.insert((line.to_owned(), String::new()), false);
            continue;
        };
        let passed = outcome == "ok";
        outcomes
            .entry((client.to_owned(), feature.to_owned()))
            .and_modify(|all| *all &= passed)
            .or_insert(passed);
    }
    outcomes
}

/// The matrix of a run: ok, FAIL, or "not run" for a cell no test proved;
/// false when any cell did not pass or a test named a cell the matrix lacks.
fn run_matrix(outcomes: &Outcomes) -> (String, bool) {
    let mut ok = true;
    for (client, feature) in outcomes.keys() {
        let known = CELLS
            .iter()
            .any(|(key, _, clients)| key == feature && clients.contains(&client.as_str()));
        if !known {
            eprintln!("a test names the cell ({client}, {feature}), which the matrix lacks");
            ok = false;
        }
    }
    let table =
        render(
            |client, feature| match outcomes.get(&(client.to_owned(), feature.to_owned())) {
                Some(true) => "ok",
                Some(false) => {
                    ok = false;
                    "FAIL"
                }
                None => {
                    ok = false;
                    "not run"
                }
            },
        );
    (table, ok)
}

/// The matrix as a Markdown table, each required cell showing `cell`.
fn render(mut cell: impl FnMut(&str, &str) -> &'static str) -> String {
    let mut out = format!("| Feature | {} |\n", CLIENTS.join(" | "));
    out.push_str(&format!("|---|{}\n", "---|".repeat(CLIENTS.len())));
    for (feature, label, clients) in CELLS {
        let row: Vec<&str> = CLIENTS
            .iter()
            .map(|client| {
                if clients.contains(client) {
                    cell(client, feature)
                } else {
                    ""
                }
            })
            .collect();
        out.push_str(&format!("| {label} | {} |\n", row.join(" | ")));
    }
    out
}

/// README.md's matrix must be the one the suite proves.
fn readme_keeps_the_matrix() -> bool {
    const START: &str = "<!-- client-matrix:start -->\n";
    const END: &str = "<!-- client-matrix:end -->";
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).unwrap_or_default();
    let expected = render(|_, _| "✓");
    let kept = text
        .split_once(START)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(matrix, _)| matrix);
    if kept == Some(expected.as_str()) {
        return true;
    }
    eprintln!(
        "README.md does not keep the compatibility matrix the suite proves; put this \
         between {START:?} and {END:?}:\n{expected}"
    );
    false
}

/// One of psql's checks: the server's port and a scratch folder.
type PsqlCheck = fn(u16, &Path) -> Result<(), String>;

/// psql's cells, checked here: psql is a program, not a library.
fn psql_cells(port: u16, scratch: &Path, matrix: &Path) -> bool {
    let checks: [(&str, PsqlCheck); 6] = [
        ("connect", psql_connects),
        ("metadata", psql_describes),
        ("stream", psql_streams),
        ("copy", psql_copies),
        ("cancel", psql_cancels),
        ("errors", psql_errors),
    ];
    let mut all = true;
    let mut lines = String::new();
    for (feature, check) in checks {
        let outcome = check(port, scratch);
        match &outcome {
            Ok(()) => println!("ok   psql {feature}"),
            Err(e) => {
                println!("FAIL psql {feature}: {e}");
                all = false;
            }
        }
        let word = if outcome.is_ok() { "ok" } else { "fail" };
        lines.push_str(&format!("psql\t{feature}\t{word}\n"));
    }
    std::fs::write(matrix, lines).expect("the matrix file");
    all
}

fn psql_command(port: u16) -> Command {
    let mut command = Command::new("psql");
    command
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"])
        .args(["-h", "127.0.0.1", "-U", "strata", "-d", "lake"])
        .args(["-p", &port.to_string()]);
    command
}

/// Runs psql with `args`; its standard output, or why it failed.
fn psql(port: u16, args: &[&str]) -> Result<String, String> {
    let output = psql_command(port)
        .args(args)
        .output()
        .map_err(|e| format!("psql is needed (Debian package postgresql-client): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "psql {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn expect(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(what()) }
}

fn psql_connects(port: u16, _: &Path) -> Result<(), String> {
    let out = psql(
        port,
        &["-At", "-c", "SELECT current_database(), current_user"],
    )?;
    expect(out.trim() == "lake|strata", || format!("got {out:?}"))
}

fn psql_describes(port: u16, _: &Path) -> Result<(), String> {
    psql(
        port,
        &[
            "-c",
            "DROP TABLE IF EXISTS silver.psql_items",
            "-c",
            "CREATE TABLE silver.psql_items (id BIGINT NOT NULL, name TEXT)",
        ],
    )?;
    let schemas = psql(port, &["-c", "\\dn"])?;
    let tables = psql(port, &["-c", "\\dt silver.*"])?;
    let columns = psql(port, &["-c", "\\d silver.psql_items"])?;
    psql(port, &["-c", "DROP TABLE silver.psql_items"])?;
    expect(
        ["bronze", "silver", "gold"]
            .iter()
            .all(|s| schemas.contains(s)),
        || format!("\\dn: {schemas}"),
    )?;
    expect(tables.contains("psql_items"), || format!("\\dt: {tables}"))?;
    let id = columns
        .lines()
        .find(|line| line.trim_start().starts_with("id "));
    expect(
        id.is_some_and(|line| line.contains("bigint") && line.contains("not null")),
        || format!("\\d: {columns}"),
    )
}

fn psql_streams(port: u16, _: &Path) -> Result<(), String> {
    let out = psql(
        port,
        &[
            "-At",
            "-v",
            "FETCH_COUNT=10000",
            "-c",
            "SELECT value FROM generate_series(1, 1000000)",
        ],
    )?;
    let mut count = 0u64;
    let mut total = 0u64;
    for line in out.lines() {
        count += 1;
        total += line.parse::<u64>().map_err(|e| format!("{line:?}: {e}"))?;
    }
    expect((count, total) == (1_000_000, 500_000_500_000), || {
        format!("{count} rows summing to {total}")
    })
}

fn psql_copies(port: u16, scratch: &Path) -> Result<(), String> {
    let input = scratch.join("psql-in.csv");
    let output = scratch.join("psql-out.csv");
    std::fs::write(&input, "1,one\n2,\"two, too\"\n3,\n").map_err(|e| e.to_string())?;
    let copy_in = format!(
        "\\copy bronze.psql_copied FROM '{}' WITH (FORMAT csv)",
        input.display()
    );
    let copy_out = format!(
        "\\copy (SELECT id, name FROM bronze.psql_copied ORDER BY id) TO '{}' WITH (FORMAT csv)",
        output.display()
    );
    psql(
        port,
        &[
            "-c",
            "DROP TABLE IF EXISTS bronze.psql_copied",
            "-c",
            "CREATE TABLE bronze.psql_copied (id BIGINT, name TEXT)",
            "-c",
            &copy_in,
            "-c",
            &copy_out,
            "-c",
            "DROP TABLE bronze.psql_copied",
        ],
    )?;
    let out = std::fs::read_to_string(&output).map_err(|e| e.to_string())?;
    expect(out == "1,one\n2,\"two, too\"\n3,\n", || {
        format!("copied out {out:?}")
    })
}

/// Ctrl-C in psql sends a cancel request for the running statement.
fn psql_cancels(port: u16, _: &Path) -> Result<(), String> {
    let mut child = psql_command(port)
        .args([
            "-c",
            "SELECT count(*) FROM generate_series(1, 1000000000000) AS t(x) WHERE x % 7 = 3",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("psql is needed (Debian package postgresql-client): {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("psql's query was not cancelled within 30 s".to_owned());
        }
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        std::thread::sleep(Duration::from_secs(1));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).map_err(|e| e.to_string())?;
    }
    expect(
        !status.success() && stderr.contains("ERROR:  57014"),
        || format!("{status}: {stderr}"),
    )?;
    psql_connects(port, Path::new(""))
}

fn psql_errors(port: u16, _: &Path) -> Result<(), String> {
    let output = psql_command(port)
        .args(["-c", "SELECT * FROM no_such_table"])
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    expect(
        !output.status.success() && stderr.contains("ERROR:  42P01"),
        || format!("{}: {stderr}", output.status),
    )
}
