//! The distributed topology as separate OS processes: a scheduler, executors
//! and a server in remote mode on loopback ports chosen at run time. Runs the
//! whole sqllogictest suite on two executors, kills executors mid-query, and
//! checks that cancelling a statement stops its tasks on the executors.
//!
//! Each test starts its own cluster; they take turns, since two clusters on
//! a small machine would time each other out.

use std::time::{Duration, Instant};

use strata_sql_tests::cluster::Cluster;
use strata_sql_tests::postgres::{PgScratch, explain};
use strata_sql_tests::{Database, execute, report, run_suites};
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// Rows of the generated table; a self-join over it with the filter below
/// runs several seconds on two executors.
const ROWS: u64 = 3_000_000;
/// A join plus aggregation with a shuffle on each side and one after.
const HEAVY_QUERY: &str = "SELECT count(*), sum(a.k + b.g) FROM big a JOIN big b \
     ON a.g = b.g AND a.k % 7 = b.k % 7 WHERE a.k < 600000 AND b.k < 600000";

async fn connect(cluster: &Cluster) -> Client {
    let (client, connection) = tokio_postgres::connect(&cluster.database().conninfo, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the server: {e}\n{}", cluster.logs()));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Writes `big` (k, g) as Parquet files in the cluster's scratch folder.
async fn create_big_table(cluster: &Cluster) {
    let dir = cluster.scratch().join("big");
    let sql = format!(
        "COPY (SELECT value AS k, value % 1000 AS g FROM generate_series(1, {ROWS})) \
         TO '{dir}/' STORED AS PARQUET; \
         CREATE EXTERNAL TABLE big STORED AS PARQUET LOCATION '{dir}/'",
        dir = dir.display()
    );
    execute(&cluster.database().conninfo, &sql)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
}

async fn heavy_answer(client: &Client) -> Result<(i64, i64), tokio_postgres::Error> {
    let row = client.query_one(HEAVY_QUERY, &[]).await?;
    Ok((row.get(0), row.get(1)))
}

/// Waits until `check` holds, polling; false when `within` passed first.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn sqlstate(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map(|db| format!("{} {}", db.code().code(), db.message()))
        .unwrap_or_else(|| error.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_suites_pass_on_two_executor_processes() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = Cluster::start(2, 2, 15).await.expect("a cluster");

    let executors = cluster
        .scheduler_api("/api/executors")
        .await
        .expect("the scheduler's REST API answers");
    assert_eq!(
        executors.as_array().map(Vec::len),
        Some(2),
        "two executors registered: {executors}"
    );
    // strata.executors shows them as the scheduler does.
    let client = connect(&cluster).await;
    let rows = client
        .query(
            "SELECT host, flight_port, slots, last_seen > now() - INTERVAL '1 minute' \
             FROM strata.executors ORDER BY flight_port",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("strata.executors: {e}\n{}", cluster.logs()));
    let mut expected: Vec<(String, i32, i32, bool)> = cluster
        .executors
        .iter()
        .flatten()
        .map(|e| {
            (
                e.flight.ip().to_string(),
                i32::from(e.flight.port()),
                2,
                true,
            )
        })
        .collect();
    expected.sort_by_key(|e| e.1);
    let seen: Vec<(String, i32, i32, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(seen, expected);

    let results = run_suites(&cluster.database(), None).await;
    let failed = report(&results);
    assert_eq!(
        failed,
        0,
        "suites failed on the cluster\n{}",
        cluster.logs()
    );

    // The server's log names the job each statement became.
    let log = cluster.server.log_tail(usize::MAX);
    assert!(
        log.contains("job submitted") && log.contains("job_id="),
        "no job ids in the server's log:\n{log}"
    );

    for index in 0..2 {
        let counts = cluster.task_counts(index).await.expect("metrics");
        assert!(
            counts.started > 0,
            "executor {index} ran no task: {counts:?}\n{}",
            cluster.logs()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_scan_reads_each_row_once_on_two_executors() {
    // Ballista 55 cuts a leaf scan into per-task partitions only for the scan
    // types it knows; any other scan with several partitions is read whole by
    // every task. Each kind of table Strata scans is split into several
    // partitions here and must give the rows of one process exactly once.
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    // A PostgreSQL table, read by PgScanExec on an executor.
    let scratch = PgScratch::new("cluster").await;
    let (pg, pg_schema) = (&scratch.client, &scratch.schema);
    scratch
        .run(&format!(
            "CREATE TABLE {pg_schema}.t AS SELECT g AS k, g % 10 AS g FROM generate_series(1, 200000) g"
        ))
        .await;
    let config = format!(
        "[sources.pg]\nkind = \"postgres\"\nurl = {:?}\n",
        Database::postgres().conninfo
    );
    let cluster = Cluster::start_with_config(2, 2, 15, &config)
        .await
        .expect("a cluster");
    let client = connect(&cluster).await;
    let sql = format!(
        "SELECT count(*), CAST(sum(k) AS BIGINT), CAST(sum(g) AS BIGINT) FROM pg.{pg_schema}.t WHERE g >= 0"
    );
    let plan = explain(&client, &sql).await;
    assert!(
        plan.contains("ResolvedStage")
            && plan.contains("file_groups={2 groups")
            && plan.contains("file_type=postgres, source=pg"),
        "the PostgreSQL scan is not read in ctid slices in a stage:\n{plan}"
    );
    let row = client
        .query_one(&sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", sqlstate(&e), cluster.logs()));
    let expected = pg
        .query_one(
            &format!("SELECT count(*), sum(k)::int8, sum(g)::int8 FROM {pg_schema}.t"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2)
        ),
        (
            expected.get::<_, i64>(0),
            expected.get::<_, i64>(1),
            expected.get::<_, i64>(2)
        ),
        "the PostgreSQL table on two executors"
    );
    // And written back by an executor, in one transaction.
    pg.batch_execute(&format!("CREATE TABLE {pg_schema}.t2 (k bigint, g bigint)"))
        .await
        .unwrap();
    let written = client
        .execute(
            &format!("INSERT INTO pg.{pg_schema}.t2 SELECT k, g FROM pg.{pg_schema}.t WHERE g < 5"),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", sqlstate(&e), cluster.logs()));
    assert_eq!(written, 100_000);
    let copied = pg
        .query_one(
            &format!("SELECT count(*), sum(k)::int8 FROM {pg_schema}.t2"),
            &[],
        )
        .await
        .unwrap();
    let source = pg
        .query_one(
            &format!("SELECT count(*), sum(k)::int8 FROM {pg_schema}.t WHERE g < 5"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (copied.get::<_, i64>(0), copied.get::<_, i64>(1)),
        (source.get::<_, i64>(0), source.get::<_, i64>(1))
    );
    scratch.drop().await;

    // Split files of any size, so that small test files are split too.
    client
        .batch_execute("SET datafusion.optimizer.repartition_file_min_size = 1")
        .await
        .expect("set");
    let rows: u64 = 600_000;
    let scratch = cluster.scratch();
    for (table, format) in [("p", "PARQUET"), ("c", "CSV"), ("j", "JSON")] {
        let dir = scratch.join(table);
        let options = if format == "CSV" {
            " OPTIONS ('format.has_header' 'true')"
        } else {
            ""
        };
        // One large file per format: the scan splits it into byte ranges.
        client
            .batch_execute(&format!(
                "COPY (SELECT value AS k, value % 10 AS g FROM generate_series(1, {rows})) \
                 TO '{file}' STORED AS {format}{options}; \
                 CREATE EXTERNAL TABLE {table} STORED AS {format} LOCATION '{file}'{options}",
                file = dir.with_extension(format.to_lowercase()).display(),
            ))
            .await
            .unwrap_or_else(|e| panic!("{table}: {}\n{}", sqlstate(&e), cluster.logs()));
        let plan = explain(
            &client,
            &format!("SELECT count(*), sum(k), sum(g) FROM {table} WHERE g >= 0"),
        )
        .await;
        assert!(
            plan.contains("ResolvedStage[stage_id=1"),
            "EXPLAIN shows no stages:\n{plan}"
        );
        assert!(
            plan.contains("file_groups={2 groups"),
            "{table} is not read in several partitions:\n{plan}"
        );
        let row = client
            .query_one(
                &format!(
                    "SELECT count(*), CAST(sum(k) AS BIGINT), CAST(sum(g) AS BIGINT) \
                     FROM {table} WHERE g >= 0"
                ),
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("{table}: {}\n{}", sqlstate(&e), cluster.logs()));
        let n = rows as i64;
        assert_eq!(
            (
                row.get::<_, i64>(0),
                row.get::<_, i64>(1),
                row.get::<_, i64>(2)
            ),
            (n, n * (n + 1) / 2, 45 * n / 10),
            "{format} table {table} on two executors"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_survives_losing_an_executor() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(2, 1, 15).await.expect("a cluster");
    create_big_table(&cluster).await;
    let client = connect(&cluster).await;
    let expected = heavy_answer(&client)
        .await
        .expect("the query without a kill");

    let query = tokio::spawn(async move { heavy_answer(&client).await });
    let busy = eventually(Duration::from_secs(20), || async {
        matches!(cluster.task_counts(0).await, Ok(c) if c.running > 0)
    })
    .await;
    assert!(busy, "executor 0 never ran a task\n{}", cluster.logs());
    let killed_at = Instant::now();
    cluster.kill_executor(0).await;

    // The scheduler notices within 10 s (heartbeats every 2 s, lost after 8 s
    // of silence, checked every 2 s).
    let noticed = eventually(Duration::from_secs(15), || async {
        matches!(cluster.scheduler_api("/api/executors").await,
            Ok(list) if list.as_array().map(Vec::len) == Some(1))
    })
    .await;
    let noticed_after = killed_at.elapsed();
    assert!(
        noticed && noticed_after < Duration::from_millis(10_500),
        "the lost executor was noticed: {noticed}, after {noticed_after:?}\n{}",
        cluster.logs()
    );

    let answer = tokio::time::timeout(Duration::from_secs(120), query)
        .await
        .expect("the query ended")
        .expect("the query task");
    let answer = answer.unwrap_or_else(|e| panic!("{}\n{}", sqlstate(&e), cluster.logs()));
    assert_eq!(answer, expected, "the same answer with an executor killed");
    println!(
        "answer after the kill: {:?}, {:?} after it; the loss was noticed after {:?}",
        answer,
        killed_at.elapsed(),
        noticed_after
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_every_executor_fails_clearly_and_a_new_one_serves_the_next_query() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(2, 1, 15).await.expect("a cluster");
    create_big_table(&cluster).await;
    let client = connect(&cluster).await;

    // Every executor dies mid-query.
    let running = tokio::spawn({
        let conninfo = cluster.database().conninfo;
        async move {
            let (client, connection) = tokio_postgres::connect(&conninfo, NoTls).await?;
            tokio::spawn(connection);
            heavy_answer(&client).await
        }
    });
    let busy = eventually(Duration::from_secs(20), || async {
        matches!(cluster.running_tasks().await, Ok(n) if n > 0)
    })
    .await;
    assert!(busy, "no executor ran a task\n{}", cluster.logs());
    let killed_at = Instant::now();
    cluster.kill_executor(0).await;
    cluster.kill_executor(1).await;
    let error = tokio::time::timeout(Duration::from_secs(40), running)
        .await
        .expect("the query ended")
        .expect("the query task")
        .expect_err("the query fails");
    let waited = killed_at.elapsed();
    let db = error.as_db_error().expect("an error from the server");
    assert_eq!(db.code().code(), "53000", "{}", sqlstate(&error));
    assert!(
        waited < Duration::from_secs(30),
        "the error came after {waited:?}"
    );

    // A query sent while there is no executor fails the same way.
    let sent_at = Instant::now();
    let error = heavy_answer(&client)
        .await
        .expect_err("no executor to run it");
    assert_eq!(
        error.as_db_error().map(|db| db.code().code()),
        Some("53000"),
        "{}",
        sqlstate(&error)
    );
    assert!(sent_at.elapsed() < Duration::from_secs(30));

    // The server stayed up; an executor that joins serves the next query.
    assert_eq!(
        client
            .query_one("SELECT 41 + 1", &[])
            .await
            .expect("the server still answers")
            .get::<_, i64>(0),
        42
    );
    cluster.start_executor().await.expect("a new executor");
    let rows = client
        .query_one("SELECT count(*) FROM big WHERE g = 7", &[])
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", sqlstate(&e), cluster.logs()));
    assert_eq!(rows.get::<_, i64>(0), (ROWS / 1000) as i64);
}

/// The heavy query running on a connection of its own.
struct RunningQuery {
    cancel: tokio_postgres::CancelToken,
    answer: tokio::task::JoinHandle<Result<(i64, i64), tokio_postgres::Error>>,
    connection: tokio::task::JoinHandle<()>,
}

/// Starts the heavy query after `setup` and waits until the executors run
/// its tasks.
async fn start_heavy_query(cluster: &Cluster, setup: &str) -> RunningQuery {
    let (client, connection) = tokio_postgres::connect(&cluster.database().conninfo, NoTls)
        .await
        .expect("a connection");
    let connection = tokio::spawn(async move {
        let _ = connection.await;
    });
    client.batch_execute(setup).await.expect("setup");
    let cancel = client.cancel_token();
    let answer = tokio::spawn(async move { heavy_answer(&client).await });
    let busy = eventually(Duration::from_secs(20), || async {
        matches!(cluster.running_tasks().await, Ok(n) if n > 0)
    })
    .await;
    assert!(busy, "no executor ran a task\n{}", cluster.logs());
    RunningQuery {
        cancel,
        answer,
        connection,
    }
}

/// Asserts that within `within` of `from` the scheduler runs no job and the
/// executors' running tasks are zero, and that they stay zero (a gap
/// between two stages also reads zero, so the job state must agree) with no
/// task starting after.
async fn assert_tasks_stop(cluster: &Cluster, from: Instant, within: Duration) {
    let stopped = eventually(within.saturating_sub(from.elapsed()), || async {
        matches!(cluster.running_tasks().await, Ok(0)) && !job_running(cluster).await
    })
    .await;
    assert!(
        stopped,
        "tasks still running {:?} after the stop: {:?}, jobs {:?}\n{}",
        from.elapsed(),
        cluster.running_tasks().await,
        cluster.scheduler_api("/api/jobs").await,
        cluster.logs()
    );
    let stopped_after = from.elapsed();
    let started = started_tasks(cluster).await;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            cluster.running_tasks().await,
            Ok(0),
            "tasks ran again after the stop\n{}",
            cluster.logs()
        );
    }
    assert_eq!(
        started_tasks(cluster).await,
        started,
        "a task started after the stop"
    );
    println!("tasks stopped {stopped_after:?} after the stop");
}

/// True while the scheduler counts a job as queued or running.
async fn job_running(cluster: &Cluster) -> bool {
    match cluster.scheduler_api("/api/jobs").await {
        Ok(jobs) => jobs
            .as_array()
            .into_iter()
            .flatten()
            .any(|job| job["status"] == "Running" || job["status"] == "Queued"),
        Err(_) => true,
    }
}

async fn started_tasks(cluster: &Cluster) -> u64 {
    let mut total = 0;
    for index in 0..cluster.executors.len() {
        if cluster.executors[index].is_some() {
            total += cluster.task_counts(index).await.expect("metrics").started;
        }
    }
    total
}

async fn expect_cancelled(query: RunningQuery, cluster: &Cluster) {
    let error = tokio::time::timeout(Duration::from_secs(10), query.answer)
        .await
        .expect("the query ended")
        .expect("the query task")
        .expect_err("the query was stopped");
    assert_eq!(
        error.as_db_error().map(|db| db.code().code()),
        Some("57014"),
        "{}\n{}",
        sqlstate(&error),
        cluster.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_a_statement_stops_its_tasks() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = Cluster::start(2, 1, 15).await.expect("a cluster");
    create_big_table(&cluster).await;

    // A protocol cancel request.
    let query = start_heavy_query(&cluster, "SELECT 1").await;
    let stop = Instant::now();
    query
        .cancel
        .cancel_query(NoTls)
        .await
        .expect("the cancel request is sent");
    assert_tasks_stop(&cluster, stop, Duration::from_secs(2)).await;
    expect_cancelled(query, &cluster).await;

    // statement_timeout.
    let query = start_heavy_query(&cluster, "SET statement_timeout = '1500ms'").await;
    let error = tokio::time::timeout(Duration::from_secs(10), query.answer)
        .await
        .expect("the query ended")
        .expect("the query task")
        .expect_err("the statement timed out");
    assert_eq!(
        error.as_db_error().map(|db| db.code().code()),
        Some("57014"),
        "{}",
        sqlstate(&error)
    );
    assert_tasks_stop(&cluster, Instant::now(), Duration::from_secs(2)).await;

    // The client going away.
    let query = start_heavy_query(&cluster, "SELECT 1").await;
    let stop = Instant::now();
    query.connection.abort();
    let _ = query.connection.await;
    assert_tasks_stop(&cluster, stop, Duration::from_secs(3)).await;
    query.answer.abort();

    // The server is unharmed.
    let client = connect(&cluster).await;
    let rows = client
        .query_one("SELECT count(*) FROM big WHERE g = 7", &[])
        .await
        .expect("the next query");
    assert_eq!(rows.get::<_, i64>(0), (ROWS / 1000) as i64);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_password_appears_in_no_output() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let scratch = PgScratch::new("secret").await;
    let schema = &scratch.schema;
    scratch
        .run(&format!(
            "CREATE TABLE {schema}.t AS SELECT g AS k, md5(g::text) AS h FROM generate_series(1, 100000) g;
             CREATE TABLE {schema}.t2 (k bigint, h text);"
        ))
        .await;

    // PostgreSQL here trusts loopback connections, so any password works;
    // what matters is that this one is never shown.
    let secret = format!("pw-{}-never-shown-7f2c", std::process::id());
    let secret_dir = tempfile::tempdir().unwrap();
    let secret_file = secret_dir.path().join("pg-password");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let config = format!(
        "[sources.pg]\nkind = \"postgres\"\nurl = {:?}\npassword_file = {:?}\n",
        Database::postgres().conninfo,
        secret_file.display().to_string()
    );
    let cluster = Cluster::start_with_config(2, 1, 15, &config)
        .await
        .expect("a cluster");
    let client = connect(&cluster).await;

    let mut seen = String::new();
    for sql in [
        format!("SELECT count(*), max(h) FROM pg.{schema}.t WHERE k > 10"),
        format!("EXPLAIN SELECT count(*) FROM pg.{schema}.t"),
        format!("EXPLAIN VERBOSE SELECT * FROM pg.{schema}.t LIMIT 3"),
        format!("INSERT INTO pg.{schema}.t2 SELECT k, h FROM pg.{schema}.t WHERE k < 1000"),
        format!("SELECT * FROM pg.{schema}.missing"),
        format!("INSERT INTO pg.{schema}.t2 (k, h) VALUES ('not a number', 'x')"),
        "SELECT * FROM information_schema.tables WHERE table_catalog = 'pg'".to_owned(),
        "SELECT * FROM pg_catalog.pg_settings".to_owned(),
        "SHOW ALL".to_owned(),
    ] {
        match client.simple_query(&sql).await {
            Ok(messages) => {
                for message in messages {
                    if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                        for i in 0..row.len() {
                            seen.push_str(row.get(i).unwrap_or(""));
                            seen.push('\n');
                        }
                    }
                }
            }
            Err(e) => seen.push_str(&format!("{e:?}\n")),
        }
    }
    assert!(
        seen.contains("PgInsertExec") || seen.contains("file_type=postgres"),
        "{seen}"
    );

    // The scheduler's REST API shows every job's stage plans.
    let jobs = cluster.scheduler_api("/api/jobs").await.expect("jobs");
    seen.push_str(&jobs.to_string());
    for job in jobs.as_array().into_iter().flatten() {
        if let Some(id) = job["job_id"].as_str() {
            for path in [
                format!("/api/job/{id}/stages?plan_format=metrics"),
                format!("/api/job/{id}/config"),
            ] {
                if let Ok(doc) = cluster.scheduler_api(&path).await {
                    seen.push_str(&doc.to_string());
                }
            }
        }
    }
    // Every process's log.
    let logs = cluster.logs_in_full();
    assert!(
        logs.contains("job submitted"),
        "the logs were read: {}",
        &logs[..logs.len().min(500)]
    );
    seen.push_str(&logs);

    assert!(
        !seen.contains(&secret),
        "the password was shown:\n{}",
        seen.lines()
            .filter(|l| l.contains(&secret))
            .collect::<Vec<_>>()
            .join("\n")
    );
    scratch.drop().await;
}

/// Totals of a PostgreSQL table `m` (id, v): count, sum(v) and a checksum
/// that depends on which v goes with which id.
const TOTALS: &str = "count(*), CAST(sum(v) AS BIGINT), CAST(sum((id % 1000) * v) AS BIGINT)";

async fn totals(client: &Client, table: &str) -> Result<(i64, i64, i64), tokio_postgres::Error> {
    let row = client
        .query_one(&format!("SELECT {TOTALS} FROM {table}"), &[])
        .await?;
    Ok((row.get(0), row.get(1), row.get(2)))
}

/// The backends of Strata's reads of a table whose name ends in `table`.
fn copy_backends(table: &str) -> String {
    format!(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'strata' \
         AND query LIKE 'COPY (SELECT%' AND query LIKE '%.\"{table}\" WHERE%'"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_million_postgres_rows_read_in_one_snapshot_and_written_atomically() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let scratch = PgScratch::new("million").await;
    let (pg, s) = (&scratch.client, &scratch.schema);
    scratch
        .run(&format!(
            "CREATE TABLE {s}.m AS SELECT g::int8 AS id, (g::int8 * 7919) % 1000003 AS v \
             FROM generate_series(1, 1000000) g;
             CREATE TABLE {s}.target (id bigint PRIMARY KEY, g int NOT NULL);
             ANALYZE {s}.m;"
        ))
        .await;
    // Four ranges of id, read by two executors of one slot each: two waves.
    let config = format!(
        "[sources.pg]\nkind = \"postgres\"\nurl = {:?}\n\
         [sources.pg.tables.\"{s}.m\"]\npartition_column = \"id\"\nlower_bound = 1\n\
         upper_bound = 1000001\nnum_partitions = 4\n",
        Database::postgres().conninfo
    );
    let mut cluster = Cluster::start_with_config(2, 1, 15, &config)
        .await
        .expect("a cluster");
    let client = connect(&cluster).await;
    let table = format!("pg.{s}.m");
    let plan = explain(&client, &format!("SELECT {TOTALS} FROM {table}")).await;
    assert!(
        plan.contains("file_groups={4 groups") && plan.contains("slices=4"),
        "{plan}"
    );
    let before = totals(pg, &format!("{s}.m")).await.unwrap();
    let ours = totals(&client, &table)
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", sqlstate(&e), cluster.logs()));
    assert_eq!(ours, before, "a million rows in four partitions");

    // Updates committed while the first partitions are read are not seen by
    // the later ones: every partition reads the snapshot of the start.
    let reader = connect(&cluster).await;
    let read = tokio::spawn({
        let table = table.clone();
        async move { totals(&reader, &table).await }
    });
    let reading = eventually(Duration::from_secs(30), || async {
        !pg.query(&copy_backends("m"), &[]).await.unwrap().is_empty()
    })
    .await;
    assert!(reading, "no read of m was seen in PostgreSQL");
    pg.batch_execute(&format!("UPDATE {s}.m SET v = v + 1 WHERE id % 1000 = 0"))
        .await
        .unwrap();
    assert!(
        !read.is_finished(),
        "the read ended before the update; it proves nothing on this machine"
    );
    let during = read
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{}", sqlstate(&e)));
    assert_eq!(during, before, "the read saw part of a later commit");
    let after = totals(pg, &format!("{s}.m")).await.unwrap();
    assert_ne!(after, before);

    // A read whose PostgreSQL session is ended mid-COPY is retried.
    let reader = connect(&cluster).await;
    let read = tokio::spawn({
        let table = table.clone();
        async move { totals(&reader, &table).await }
    });
    let terminated = eventually(Duration::from_secs(30), || async {
        let pids = pg.query(&copy_backends("m"), &[]).await.unwrap();
        match pids.first() {
            Some(row) => pg
                .query_one("SELECT pg_terminate_backend($1)", &[&row.get::<_, i32>(0)])
                .await
                .unwrap()
                .get::<_, bool>(0),
            None => false,
        }
    })
    .await;
    assert!(terminated, "no read of m was ended");
    let retried = read
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{}\n{}", sqlstate(&e), cluster.logs()));
    assert_eq!(retried, after, "the retried read");

    // A million rows from the lake into PostgreSQL, in one transaction.
    let dir = cluster.scratch().join("src");
    client
        .batch_execute(&format!(
            "COPY (SELECT value AS id, CAST(value % 97 AS INT) AS g FROM generate_series(1, 1000000)) \
             TO '{dir}/' STORED AS PARQUET; \
             CREATE EXTERNAL TABLE src STORED AS PARQUET LOCATION '{dir}/'",
            dir = dir.display()
        ))
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", sqlstate(&e), cluster.logs()));
    let target = format!("pg.{s}.target");
    let written = client
        .execute(&format!("INSERT INTO {target} SELECT id, g FROM src"), &[])
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", sqlstate(&e), cluster.logs()));
    assert_eq!(written, 1_000_000);
    let count_sum = format!("SELECT count(*), sum(id)::int8, sum(g)::int8 FROM {s}.target");
    let loaded = pg.query_one(&count_sum, &[]).await.unwrap();
    let loaded: (i64, i64, i64) = (loaded.get(0), loaded.get(1), loaded.get(2));
    let lake = client
        .query_one(
            "SELECT count(*), CAST(sum(id) AS BIGINT), CAST(sum(g) AS BIGINT) FROM src",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(loaded, (lake.get(0), lake.get(1), lake.get(2)));
    // The same again with one bad row at the end: nothing is written.
    for (bad_row, code) in [("1, 1", "23505"), ("5000000, NULL", "23502")] {
        let error = client
            .execute(
                &format!(
                    "INSERT INTO {target} SELECT id + 2000000, g FROM src \
                     UNION ALL SELECT * FROM (VALUES ({bad_row})) AS bad(id, g)"
                ),
                &[],
            )
            .await
            .expect_err(bad_row);
        assert_eq!(
            error.code().map(|c| c.code()),
            Some(code),
            "{}",
            sqlstate(&error)
        );
        let now = pg.query_one(&count_sum, &[]).await.unwrap();
        assert_eq!((now.get(0), now.get(1), now.get(2)), loaded, "{bad_row}");
    }

    // The executor writing dies mid-COPY: its transaction rolls back, the
    // task runs again on the other executor, every row lands once.
    pg.batch_execute(&format!("TRUNCATE {s}.target"))
        .await
        .unwrap();
    let writer = connect(&cluster).await;
    let write = tokio::spawn({
        let target = target.clone();
        async move {
            writer
                .execute(&format!("INSERT INTO {target} SELECT id, g FROM src"), &[])
                .await
        }
    });
    let copying = eventually(Duration::from_secs(30), || async {
        !pg.query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'strata' \
             AND query LIKE 'COPY %target% FROM STDIN%'",
            &[],
        )
        .await
        .unwrap()
        .is_empty()
    })
    .await;
    assert!(copying, "the write was not seen in PostgreSQL");
    let mut busy = None;
    for index in 0..2 {
        if matches!(cluster.task_counts(index).await, Ok(c) if c.running > 0) {
            busy = Some(index);
        }
    }
    let busy = busy.expect("no executor runs the write");
    cluster.kill_executor(busy).await;
    assert!(
        !write.is_finished(),
        "the write ended before its executor was killed; this proves nothing"
    );
    let written = tokio::time::timeout(Duration::from_secs(120), write)
        .await
        .expect("the write ended")
        .expect("the write task")
        .unwrap_or_else(|e| panic!("{}\n{}", sqlstate(&e), cluster.logs()));
    assert_eq!(written, 1_000_000);
    let now = pg.query_one(&count_sum, &[]).await.unwrap();
    assert_eq!(
        (now.get(0), now.get(1), now.get(2)),
        loaded,
        "every row once after the writer died"
    );
    scratch.drop().await;
}
