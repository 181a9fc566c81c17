//! Operating a cluster: a multi-stage query on two executors is seen in
//! pg_stat_activity while it runs and in strata.queries after, `/metrics`
//! counters move, pg_cancel_backend and the console's Cancel button stop
//! another session's query, the console's query page, in headless
//! Chromium, shows the query's stages with their progress, EXPLAIN ANALYZE
//! shows every stage's operators with their metrics, and a session that
//! asks gets progress NOTICEs. Screenshots are kept under
//! `target/tmp/console/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_sql_tests::cluster::Cluster;
use strata_sql_tests::postgres::connect;
use tokio_postgres::Client;

/// Joins every row of a key with every other: runs until stopped.
const ENDLESS: &str =
    "SELECT a.k, count(*) FROM ops_big a JOIN ops_big b ON a.k = b.k GROUP BY a.k";
/// Groups, then sorts: three stages that finish.
const GROUPING: &str =
    "SELECT k, count(*) AS n, sum(x) AS total FROM ops_big GROUP BY k ORDER BY k";

/// The folder the console check script and its node_modules are in.
fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("console")
}

/// Where screenshots are kept.
fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the console check script (`inspect` or `cancel`) on `url` in
/// headless Chromium; returns what the page's DOM showed.
fn chromium(command: &str, url: &str, screenshot: &str) -> Value {
    let dir = console_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in {} (scripts/test-all.sh does)",
        dir.display()
    );
    assert!(
        Path::new("/usr/bin/chromium").is_file() || std::env::var_os("CHROMIUM").is_some(),
        "Chromium is missing: `apt-get install chromium` (scripts/test-all.sh does) or set CHROMIUM"
    );
    let path = artefacts().join(screenshot);
    let output = Command::new("node")
        .current_dir(&dir)
        .args(["console.mjs", command, url])
        .arg(&path)
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "the console check failed on {url}:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(path.is_file(), "no screenshot at {}", path.display());
    serde_json::from_slice(&output.stdout).expect("the check prints JSON")
}

/// One sample of the server's `/metrics` (unlabelled, or with its labels
/// written as Prometheus writes them); 0 when absent.
async fn metric(cluster: &Cluster, name: &str) -> f64 {
    let text = reqwest::get(format!("http://{}/metrics", cluster.console_addr))
        .await
        .expect("/metrics answers")
        .text()
        .await
        .unwrap();
    sample(&text, name).unwrap_or(0.0)
}

/// The value of sample `name` in Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// The id of the newest statement of `pid` whose text is `sql`, once it
/// shows `state` in strata.queries; its row.
async fn wait_for_query(watcher: &Client, pid: i32, sql: &str, state: &str) -> tokio_postgres::Row {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = watcher
            .query(
                "SELECT query_id, state, rows, sqlstate, job_id FROM strata.queries \
                 WHERE pid = $1 AND query = $2 ORDER BY query_id DESC LIMIT 1",
                &[&pid, &sql],
            )
            .await
            .unwrap();
        if let Some(row) = rows.into_iter().next() {
            let seen: String = row.get(1);
            if seen == state && (state != "running" || row.get::<_, Option<String>>(4).is_some()) {
                return row;
            }
        }
        assert!(
            Instant::now() < deadline,
            "`{sql}` never showed as {state} in strata.queries"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the console shows at least one stage of `url` done while
/// the statement still runs, and returns that view.
fn running_stages(url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let facts = chromium("inspect", url, "running-query.png");
        let stages = facts["stages"].as_array().cloned().unwrap_or_default();
        let some_done = stages
            .iter()
            .any(|s| s["status"] == "Successful" && s["done"] == s["total"]);
        if facts["state"] == "running" && stages.len() >= 2 && some_done {
            return facts;
        }
        assert!(
            Instant::now() < deadline,
            "the console never showed the running query's finished stages: {facts}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_query_is_seen_running_in_history_metrics_and_the_console() {
    // JSON logs, to check the spans statements log under.
    let cluster = Cluster::start_with_env(2, 2, 30, "", &[("STRATA_LOG_FORMAT", "json")])
        .await
        .expect("cluster");
    let conninfo = cluster.database().conninfo;
    let runner = connect(&format!("{conninfo} application_name=ops-runner")).await;
    let watcher = connect(&conninfo).await;
    runner
        .batch_execute(
            "CREATE TABLE ops_big AS \
             SELECT g AS x, g % 97 AS k FROM generate_series(1, 400000) AS s(g)",
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", cluster.logs()));
    let pid: i32 = runner
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let finished_before = metric(
        &cluster,
        "strata_queries_total{kind=\"select\",state=\"finished\"}",
    )
    .await;
    let cancelled_before = metric(&cluster, "strata_cancellations_total").await;
    let rows_before = metric(&cluster, "strata_rows_returned_total").await;
    let bytes_before = metric(&cluster, "strata_bytes_returned_total").await;

    // A multi-stage query runs: pg_stat_activity shows it, strata.queries
    // has it running with its job, the console draws its stages.
    let endless = tokio::spawn(async move {
        let result = runner.query(ENDLESS, &[]).await;
        (runner, result)
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = watcher
            .query(
                "SELECT state, query FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .unwrap();
        if rows
            .first()
            .is_some_and(|r| r.get::<_, String>(0) == "active" && r.get::<_, String>(1) == ENDLESS)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the query never showed as active"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let running = wait_for_query(&watcher, pid, ENDLESS, "running").await;
    let query_id: i64 = running.get(0);
    let job_id: String = running.get(4);
    let page = format!("http://{}/queries/{query_id}", cluster.console_addr);
    let facts = tokio::task::spawn_blocking({
        let page = page.clone();
        move || running_stages(&page)
    })
    .await
    .unwrap();
    assert_eq!(facts["job"], job_id.as_str(), "{facts}");
    assert_eq!(facts["sql"], ENDLESS, "{facts}");
    assert_eq!(facts["cancelButton"], true, "an admin may cancel: {facts}");
    let stages = facts["stages"].as_array().unwrap();
    assert!(
        facts["edges"].as_u64().unwrap() >= 1,
        "stages are linked: {facts}"
    );
    assert_eq!(
        facts["progressBars"].as_u64().unwrap() as usize,
        stages.len(),
        "a progress bar per stage: {facts}"
    );
    for stage in stages {
        if stage["status"] == "Successful" {
            assert!(
                stage["bar"].as_u64().unwrap() > 0,
                "a done stage's bar is full: {facts}"
            );
        }
    }
    assert!(
        stages.iter().any(|s| s["status"] != "Successful"),
        "the join still runs: {facts}"
    );

    // Another session stops it.
    let stopped: bool = watcher
        .query_one("SELECT pg_cancel_backend($1::int)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(stopped);
    let (runner, result) = tokio::time::timeout(Duration::from_secs(30), endless)
        .await
        .expect("the cancelled query ends")
        .unwrap();
    let error = result.expect_err("cancelled");
    assert_eq!(error.code().map(|c| c.code()), Some("57014"), "{error:?}");
    let ended = wait_for_query(&watcher, pid, ENDLESS, "cancelled").await;
    assert_eq!(ended.get::<_, Option<String>>(3).as_deref(), Some("57014"));

    // The console's Cancel button stops it too.
    let endless = tokio::spawn(async move {
        let result = runner.query(ENDLESS, &[]).await;
        (runner, result)
    });
    let running = wait_for_query(&watcher, pid, ENDLESS, "running").await;
    let query_id: i64 = running.get(0);
    let page = format!("http://{}/queries/{query_id}", cluster.console_addr);
    let facts =
        tokio::task::spawn_blocking(move || chromium("cancel", &page, "cancelled-query.png"))
            .await
            .unwrap();
    assert_eq!(facts["state"], "cancelled", "{facts}");
    let (runner, result) = tokio::time::timeout(Duration::from_secs(30), endless)
        .await
        .expect("the query cancelled from the console ends")
        .unwrap();
    let error = result.expect_err("cancelled from the console");
    assert_eq!(error.code().map(|c| c.code()), Some("57014"), "{error:?}");

    // A query that finishes: in strata.queries with its rows and job, its
    // page showing every stage done.
    let rows = runner.query(GROUPING, &[]).await.unwrap();
    assert_eq!(rows.len(), 97);
    let done = wait_for_query(&watcher, pid, GROUPING, "finished").await;
    assert_eq!(done.get::<_, Option<i64>>(2), Some(97));
    let job_id: Option<String> = done.get(4);
    assert!(job_id.is_some(), "it ran as a job");
    let query_id: i64 = done.get(0);
    // Its job was logged in the statement's span, inside the session's.
    let logged = cluster
        .server
        .log_text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|entry| {
            entry["fields"]["message"] == "job submitted" && entry["span"]["query_id"] == query_id
        })
        .unwrap_or_else(|| panic!("no JSON log of query {query_id}'s job"));
    assert_eq!(
        logged["span"]["job_id"],
        job_id.as_deref().unwrap(),
        "{logged}"
    );
    assert_eq!(logged["span"]["sql"], GROUPING, "{logged}");
    assert_eq!(logged["spans"][0]["name"], "connection", "{logged}");
    assert_eq!(logged["spans"][0]["pid"], pid, "{logged}");
    assert_eq!(logged["spans"][0]["user"], "strata", "{logged}");
    let page = format!("http://{}/queries/{query_id}", cluster.console_addr);
    let facts =
        tokio::task::spawn_blocking(move || chromium("inspect", &page, "finished-query.png"))
            .await
            .unwrap();
    assert_eq!(facts["state"], "finished", "{facts}");
    let stages = facts["stages"].as_array().unwrap();
    assert!(stages.len() >= 2, "a multi-stage plan: {facts}");
    for stage in stages {
        assert_eq!(stage["status"], "Successful", "{facts}");
        assert_eq!(stage["done"], stage["total"], "{facts}");
    }

    // The counters moved.
    assert!(
        metric(
            &cluster,
            "strata_queries_total{kind=\"select\",state=\"finished\"}"
        )
        .await
            > finished_before
    );
    assert!(metric(&cluster, "strata_cancellations_total").await >= cancelled_before + 2.0);
    assert!(metric(&cluster, "strata_errors_total{sqlstate=\"57014\"}").await >= 2.0);
    assert!(metric(&cluster, "strata_rows_returned_total").await >= rows_before + 97.0);
    assert!(metric(&cluster, "strata_bytes_returned_total").await > bytes_before);
    assert!(metric(&cluster, "strata_connections").await >= 2.0);
    assert!(
        metric(
            &cluster,
            "strata_query_duration_seconds_count{kind=\"select\"}"
        )
        .await
            >= 3.0
    );
    let mut tasks = 0;
    let mut shuffled = 0.0;
    for index in 0..2 {
        tasks += cluster.task_counts(index).await.unwrap().started;
        let executor = cluster.executors[index].as_ref().unwrap();
        let text = reqwest::get(format!("http://{}/metrics", executor.metrics))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let value = |name: &str| {
            sample(&text, name).unwrap_or_else(|| panic!("executor {index} has no {name}:\n{text}"))
        };
        shuffled += value("strata_executor_shuffle_written_bytes_total");
        value("strata_executor_spills_total");
        value("strata_executor_memory_reserved_bytes");
        assert!(value("strata_executor_slots") == 2.0);
        assert!(value("process_resident_memory_bytes") > 0.0);
    }
    assert!(tasks > 0, "the executors ran the jobs' tasks");
    assert!(shuffled > 0.0, "the jobs' stages wrote shuffle output");
    let scheduler = reqwest::get(format!("http://{}/api/metrics", cluster.scheduler_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        scheduler.lines().any(|l| l
            .strip_prefix("job_completed_total ")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .is_some_and(|n| n >= 1.0)),
        "the scheduler counts completed jobs:\n{scheduler}"
    );

    // EXPLAIN ANALYZE: the distributed plan, stage by stage, each operator
    // with its metrics.
    let explained: Vec<String> = runner
        .query(&format!("EXPLAIN ANALYZE {GROUPING}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(1))
        .collect();
    let explained = explained.join("\n");
    assert!(
        explained.matches("SuccessfulStage[stage_id=").count() >= 2,
        "{explained}"
    );
    assert!(explained.contains("ShuffleReaderExec"), "{explained}");
    for line in explained.lines().filter(|l| l.contains("Exec")) {
        assert!(
            line.contains("metrics=["),
            "an operator without metrics: {line}"
        );
    }

    // Progress NOTICEs, every 2 s, for a session that asks; psql shows them.
    let output = Command::new("psql")
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-p",
            &cluster.server_addr.port().to_string(),
            "-U",
            "strata",
            "lake",
            "-c",
            "SET strata.progress = on",
            "-c",
            "SET statement_timeout = '5s'",
            "-c",
            ENDLESS,
        ])
        .output()
        .expect("psql runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let notices: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("NOTICE:  progress: job "))
        .collect();
    assert!(
        (1..=3).contains(&notices.len()),
        "a NOTICE every 2 s for 5 s: {stderr}"
    );
    assert!(notices[0].contains("stages done") && notices[0].contains("s elapsed"));
    assert!(
        stderr.contains("canceling statement due to statement timeout"),
        "{stderr}"
    );

    // The cluster page lists both executors.
    let cluster_page = reqwest::get(format!("http://{}/cluster", cluster.console_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        cluster_page.matches("class=\"executor\"").count(),
        2,
        "{cluster_page}"
    );
}
