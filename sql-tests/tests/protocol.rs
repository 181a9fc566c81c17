//! Protocol behaviour a client relies on, against a server started in-process:
//! session isolation, catalog persistence across restarts, portals with row
//! limits, and cancellation that stops the work on the cluster.

use std::time::{Duration, Instant};

use strata_sql_tests::{StrataUnderTest, data_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::{Client, NoTls};

async fn connect(strata: &StrataUnderTest) -> Client {
    let (client, connection) = tokio_postgres::connect(&strata.conninfo(None), NoTls)
        .await
        .expect("connect to Strata");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The four departments of the test data, as `depts`.
async fn create_depts(client: &Client) {
    client
        .batch_execute(&format!(
            "CREATE EXTERNAL TABLE depts (dept_id INT, name TEXT, city TEXT) STORED AS CSV \
             LOCATION '{}' OPTIONS ('format.has_header' 'true')",
            data_dir().join("depts.csv").display()
        ))
        .await
        .expect("create depts");
}

async fn show(client: &Client, name: &str) -> String {
    let rows = client
        .simple_query(&format!("SHOW {name}"))
        .await
        .expect("SHOW");
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .expect("a row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_belong_to_their_session() {
    let strata = StrataUnderTest::start().await.expect("start");
    let a = connect(&strata).await;
    let b = connect(&strata).await;
    a.batch_execute("SET datafusion.execution.batch_size = 100; SET application_name = 'a'")
        .await
        .expect("SET");
    assert_eq!(show(&a, "datafusion.execution.batch_size").await, "100");
    assert_eq!(show(&b, "datafusion.execution.batch_size").await, "8192");
    assert_eq!(show(&a, "application_name").await, "a");
    assert_eq!(show(&b, "application_name").await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_survive_a_restart() {
    let strata = StrataUnderTest::start().await.expect("start");
    let client = connect(&strata).await;
    let csv = data_dir().join("depts.csv");
    client
        .batch_execute(&format!(
            "CREATE SCHEMA kept; CREATE EXTERNAL TABLE kept.depts (dept_id INT, name TEXT, city TEXT) \
             STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true'); \
             CREATE VIEW kept.cities AS SELECT DISTINCT city FROM kept.depts",
            csv.display()
        ))
        .await
        .expect("create");
    drop(client);
    let data = strata.stop();

    let strata = StrataUnderTest::start_in(data).await.expect("restart");
    let client = connect(&strata).await;
    let row = client
        .query_one("SELECT count(*) FROM kept.depts", &[])
        .await
        .expect("table is back");
    assert_eq!(row.get::<_, i64>(0), 4);
    let row = client
        .query_one(
            "SELECT count(*) FROM lake.kept.depts WHERE city = 'Paris'",
            &[],
        )
        .await
        .expect("three-part names reach the catalog");
    assert_eq!(row.get::<_, i64>(0), 1);
    let row = client
        .query_one("SELECT count(*) FROM kept.cities", &[])
        .await
        .expect("view is back");
    assert_eq!(row.get::<_, i64>(0), 4);
    client
        .batch_execute("DROP VIEW kept.cities; DROP TABLE kept.depts")
        .await
        .expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portals_return_rows_in_chunks() {
    let strata = StrataUnderTest::start().await.expect("start");
    let mut client = connect(&strata).await;
    let tx = client.transaction().await.expect("BEGIN");
    let statement = tx
        .prepare("SELECT x FROM generate_series(1, 10) AS t(x) ORDER BY x")
        .await
        .expect("prepare");
    let portal = tx.bind(&statement, &[]).await.expect("bind");
    let mut seen = Vec::new();
    loop {
        let rows = tx
            .query_portal(&portal, 4)
            .await
            .expect("execute with a row limit");
        if rows.is_empty() {
            break;
        }
        assert!(
            rows.len() <= 4,
            "a portal returns at most the rows asked for"
        );
        seen.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
    }
    assert_eq!(seen, (1..=10).collect::<Vec<i64>>());
    tx.commit().await.expect("COMMIT");
}

/// A parquet table big enough that a self-join runs for minutes.
async fn big_table(client: &Client, dir: &std::path::Path) {
    let path = dir.join("big.parquet");
    client
        .batch_execute(&format!(
            "COPY (SELECT x, x % 10 AS k FROM generate_series(1, 400000) AS t(x)) TO '{0}' STORED AS PARQUET; \
             CREATE EXTERNAL TABLE big STORED AS PARQUET LOCATION '{0}'",
            path.display()
        ))
        .await
        .expect("create the big table");
}

const ENDLESS: &str = "SELECT count(*) FROM big a JOIN big b ON a.k = b.k";

/// The scheduler's view of every job: (id, status).
async fn jobs(strata: &StrataUnderTest) -> Vec<(String, String)> {
    let addr = strata.scheduler_http().expect("embedded scheduler");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("scheduler REST");
    stream
        .write_all(b"GET /api/jobs HTTP/1.0\r\nHost: scheduler\r\n\r\n")
        .await
        .expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    let body = response.split("\r\n\r\n").nth(1).expect("a body");
    let jobs: serde_json::Value = serde_json::from_str(body).expect("JSON");
    jobs.as_array()
        .expect("a list")
        .iter()
        .map(|j| {
            (
                j["job_id"].as_str().unwrap_or_default().to_owned(),
                j["job_status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_statement_and_the_job() {
    let strata = StrataUnderTest::start().await.expect("start");
    let dir = tempfile::tempdir().expect("tempdir");
    let client = connect(&strata).await;
    big_table(&client, dir.path()).await;
    // As a Ballista job, not on the fast path: the job is what must stop.
    client
        .batch_execute("SET strata.fast_path = off")
        .await
        .expect("SET");

    let cancel = client.cancel_token();
    let running = tokio::spawn(async move {
        let started = Instant::now();
        let result = client.simple_query(ENDLESS).await;
        (result, started.elapsed(), client)
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cancelled_at = Instant::now();
    cancel
        .cancel_query(NoTls)
        .await
        .expect("send the cancel request");
    let (result, _, client) = running.await.expect("query task");
    let error = result.expect_err("a cancelled query fails");
    let code = error.as_db_error().map(|e| e.code().code().to_owned());
    assert_eq!(code.as_deref(), Some("57014"), "{error}");
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(1),
        "the client got its answer {:?} after the cancel",
        cancelled_at.elapsed()
    );

    // The job is cancelled on the scheduler, not left running.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let jobs = jobs(&strata).await;
        if jobs.iter().any(|(_, status)| status.contains("Cancelled")) {
            break;
        }
        assert!(Instant::now() < deadline, "no cancelled job: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Its tasks released their slots: another job runs at once.
    let started = Instant::now();
    let row = tokio::time::timeout(
        Duration::from_secs(20),
        client.query_one("SELECT count(*) FROM big WHERE k = 3", &[]),
    )
    .await
    .expect("the executor's slots are free again")
    .expect("query");
    assert_eq!(row.get::<_, i64>(0), 40000);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_cancels_too() {
    let strata = StrataUnderTest::start().await.expect("start");
    let dir = tempfile::tempdir().expect("tempdir");
    let client = connect(&strata).await;
    big_table(&client, dir.path()).await;
    client
        .batch_execute("SET statement_timeout = '1s'")
        .await
        .expect("SET");
    let started = Instant::now();
    let error = client.simple_query(ENDLESS).await.expect_err("times out");
    assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("57014"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // The session is usable afterwards.
    let row = client
        .query_one("SELECT 1::INT8", &[])
        .await
        .expect("next query");
    assert_eq!(row.get::<_, i64>(0), 1);
}

/// psql's own catalog queries: `\dt`, `\d`, `\dn`, `\l` and the rest of the
/// `\d` family.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_meta_commands_describe_strata() {
    let strata = StrataUnderTest::start().await.expect("start");
    let client = connect(&strata).await;
    create_depts(&client).await;
    let port = strata.server.addr.port();
    let psql = move |command: &str| strata_sql_tests::psql(port, "lake", command);
    let first = psql;
    let command = tokio::task::spawn_blocking(move || {
        (
            first("\\dt"),
            first("\\d depts"),
            first("\\dn"),
            first("\\l"),
        )
    });
    let (tables, depts, schemas, databases) = command.await.expect("psql runs");
    assert!(tables.contains("depts"), "{tables}");
    assert!(
        depts.contains("dept_id") && depts.contains("integer") && depts.contains("text"),
        "{depts}"
    );
    assert!(schemas.contains("public"), "{schemas}");
    assert!(databases.contains("lake"), "{databases}");

    // The rest of the `\d` family answers (ON_ERROR_STOP fails on any
    // error): every command of psql 15's `\?`, with `+` where it has one.
    let commands = [
        "\\d+ depts",
        "\\dt+",
        "\\d",
        "\\da",
        "\\dA+",
        "\\dAc+",
        "\\dAf+",
        "\\dAo+",
        "\\dAp+",
        "\\db+",
        "\\dc+",
        "\\dconfig+",
        "\\dC+",
        "\\dd",
        "\\dD+",
        "\\ddp",
        "\\dE+",
        "\\des+",
        "\\det+",
        "\\deu+",
        "\\dew+",
        "\\df+",
        "\\dfS+ pg_*",
        "\\dF+",
        "\\dFd+",
        "\\dFp+",
        "\\dFt+",
        "\\dg+",
        "\\di+",
        "\\dl+",
        "\\dL+",
        "\\dm+",
        "\\dn+",
        "\\do+",
        "\\dO+",
        "\\dp",
        "\\z depts",
        "\\dP+",
        "\\drds",
        "\\dRp",
        "\\dRs+",
        "\\ds+",
        "\\dT+",
        "\\du+",
        "\\dv+",
        "\\dx+",
        "\\dX",
        "\\dy+",
        "\\dS",
        "\\l+",
    ];
    let outputs = tokio::task::spawn_blocking(move || commands.map(|c| (c, psql(c))))
        .await
        .expect("psql runs");
    let verbose = &outputs[0].1;
    assert!(
        verbose.contains("dept_id") && verbose.contains("Description"),
        "{verbose}"
    );
    let sized = &outputs[1].1;
    assert!(sized.contains("depts") && sized.contains("Size"), "{sized}");
}

/// Parameter types come from the plan when the client sends none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_types_are_inferred_from_the_plan() {
    let strata = StrataUnderTest::start().await.expect("start");
    let client = connect(&strata).await;
    create_depts(&client).await;
    let statement = client
        .prepare("SELECT name FROM depts WHERE dept_id = $1 AND city <> $2")
        .await
        .expect("prepare");
    assert_eq!(
        statement.params(),
        &[
            tokio_postgres::types::Type::INT4,
            tokio_postgres::types::Type::TEXT
        ]
    );
    let rows = client
        .query(&statement, &[&2i32, &"London"])
        .await
        .expect("execute");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "sales");
}

/// The text of every row's first column, from a simple (text-format) query.
async fn texts(client: &Client, sql: &str) -> Vec<String> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql:.80}: {e}"))
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                Some(row.get(0).unwrap_or("").to_owned())
            }
            _ => None,
        })
        .collect()
}

/// Floats in text read the same from Strata as from PostgreSQL: round
/// decimals (where a shortest form can lie exactly on a rounding bound,
/// which PostgreSQL's Ryu does not take), values near powers of two, and
/// random ones, as double precision and as real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floats_print_as_postgresql_prints_them() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut doubles = Vec::new();
    let mut reals = Vec::new();
    for _ in 0..3000 {
        let r = next();
        let exponent = (r % 90) as i32 - 45;
        doubles.push(format!("{}e{exponent}", (r >> 8) % 100_000_000));
        doubles.push(format!("{:e}", f64::from_bits(r >> 2)));
        let exponent = (r % 30) as i32 - 15;
        reals.push(format!("{}e{exponent}", (r >> 8) % 100_000_000));
        reals.push(format!("{}", (r >> 12) % 1_000_000_000));
        reals.push(format!(
            "{:e}",
            f32::from_bits((r >> 34) as u32 & 0x7f7f_ffff)
        ));
    }
    doubles.extend(["8.397323e19".to_owned(), "151342434364.89062".to_owned()]);
    reals.push("-47532610".to_owned());
    doubles.retain(|v| v.parse::<f64>().is_ok_and(|v| v.is_finite()));
    reals.retain(|v| v.parse::<f32>().is_ok_and(|v| v.is_finite()));

    let strata = StrataUnderTest::start().await.expect("start");
    let client = connect(&strata).await;
    let (postgres, connection) =
        tokio_postgres::connect(&strata_sql_tests::Database::postgres().conninfo, NoTls)
            .await
            .expect("connect to PostgreSQL on 127.0.0.1:5432 (user postgres, database test)");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    for (values, sql_type) in [(&doubles, "DOUBLE PRECISION"), (&reals, "REAL")] {
        let rows: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("('{v}', {i})"))
            .collect();
        let sql = format!(
            "SELECT CAST(column1 AS {sql_type}) FROM (VALUES {}) AS v ORDER BY column2",
            rows.join(", ")
        );
        let (ours, theirs) = (texts(&client, &sql).await, texts(&postgres, &sql).await);
        assert_eq!(ours.len(), values.len());
        let differ: Vec<_> = ours.iter().zip(&theirs).filter(|(a, b)| a != b).collect();
        assert!(
            differ.is_empty(),
            "{sql_type}: (Strata, PostgreSQL) {differ:?}"
        );
    }
}
