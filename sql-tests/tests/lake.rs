//! The lakehouse through the wire protocol: every version read back
//! exactly (also after a restart), idempotent `COPY INTO`, `COPY FROM
//! STDIN`, readers that never see half a write, writes that a killed
//! server or executor leaves whole or absent, and a lake in S3.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::SinkExt;
use strata_sql_tests::StrataUnderTest;
use strata_sql_tests::cluster::{Cluster, ServerProcess};
use strata_sql_tests::postgres::connect;
use strata_sql_tests::s3::S3Server;
use tokio_postgres::{Client, SimpleQueryMessage};

type Rows = Vec<Vec<Option<String>>>;

/// The rows of `sql` as text.
async fn rows(client: &Client, sql: &str) -> Rows {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", db_error(&e)));
    text_rows(&messages)
}

/// The rows of a simple query's answer as text.
fn text_rows(messages: &[SimpleQueryMessage]) -> Rows {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// The single value of `sql`.
async fn value(client: &Client, sql: &str) -> String {
    rows(client, sql).await[0][0].clone().unwrap_or_default()
}

async fn run(client: &Client, sql: &str) {
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", db_error(&e)));
}

fn db_error(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map_or(e.to_string(), |d| {
        format!("{} ({})", d.message(), d.code().code())
    })
}

/// The SQLSTATE `sql` fails with.
async fn fails(client: &Client, sql: &str) -> String {
    match client.batch_execute(sql).await {
        Ok(()) => panic!("{sql} succeeded"),
        Err(e) => e
            .as_db_error()
            .map(|d| d.code().code().to_owned())
            .unwrap_or_else(|| panic!("{sql}: {e}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_version_reads_back_exactly_and_survives_a_restart() {
    let strata = StrataUnderTest::start().await.expect("start Strata");
    let client = connect(&strata.conninfo(None)).await;
    run(&client, "CREATE SCHEMA sales").await;
    run(
        &client,
        "CREATE TABLE sales.orders (id BIGINT, region TEXT, amount DECIMAL(10, 2)) \
         PARTITIONED BY (region)",
    )
    .await;
    let writes = [
        "INSERT INTO sales.orders VALUES (1, 'n', 1.00), (2, 's', 2.00), (3, 'n', 3.00)",
        "INSERT INTO sales.orders VALUES (4, 'e', 4.00), (5, 's', 5.00)",
        "DELETE FROM sales.orders WHERE id = 2",
        "UPDATE sales.orders SET amount = amount * 10 WHERE region = 'n'",
        "MERGE INTO sales.orders t USING (SELECT 4 AS id, 'e' AS region, 44.00 AS amount \
         UNION ALL SELECT 6, 'w', 6.00) s ON t.id = s.id \
         WHEN MATCHED THEN UPDATE SET amount = s.amount \
         WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.region, s.amount)",
        "INSERT OVERWRITE sales.orders SELECT id + 100, region, amount FROM sales.orders WHERE id > 3",
        "ALTER TABLE sales.orders ADD COLUMN note TEXT",
        "INSERT INTO sales.orders VALUES (7, 'n', 7.00, 'late')",
        "INSERT INTO sales.orders VALUES (8, 'e', 8.00, NULL)",
        "OPTIMIZE sales.orders",
    ];
    let snapshot = "SELECT * FROM sales.orders ORDER BY id";
    // Version 0 is the empty table; each write is one more version.
    let mut versions: Vec<Rows> = vec![Vec::new()];
    for write in writes {
        run(&client, write).await;
        versions.push(rows(&client, snapshot).await);
    }
    let history = rows(&client, "DESCRIBE HISTORY sales.orders").await;
    assert_eq!(history.len(), versions.len(), "{history:?}");
    assert_eq!(history[0][0].as_deref(), Some("10"));
    assert_eq!(history[0][2].as_deref(), Some("OPTIMIZE"));
    assert_eq!(history[7][2].as_deref(), Some("DELETE"));
    assert_eq!(history[7][4].as_deref(), Some("2"), "DELETE read version 2");

    let check = async |client: &Client| {
        for (version, expected) in versions.iter().enumerate() {
            let mut got = rows(
                client,
                &format!("SELECT * FROM sales.orders VERSION AS OF {version} ORDER BY id"),
            )
            .await;
            // Versions before ADD COLUMN have no `note`; later reads of them
            // still have the columns of that version.
            if version < 7 {
                for row in &mut got {
                    row.truncate(3);
                }
            }
            assert_eq!(&got, expected, "version {version}");
        }
        // Each commit's time reads that commit's version.
        let history = rows(client, "DESCRIBE HISTORY sales.orders").await;
        for commit in &history {
            let version: usize = commit[0].as_deref().unwrap_or_default().parse().unwrap();
            let at = commit[1].clone().unwrap_or_default();
            let got = rows(
                client,
                &format!("SELECT count(*) FROM sales.orders TIMESTAMP AS OF '{at}'"),
            )
            .await;
            assert_eq!(
                got[0][0].as_deref(),
                Some(versions[version].len().to_string().as_str()),
                "timestamp {at} (version {version})"
            );
        }
    };
    check(&client).await;

    // A restart finds the schema, the table and every version.
    drop(client);
    let data = strata.stop();
    let strata = StrataUnderTest::start_in(data)
        .await
        .expect("restart Strata");
    let client = connect(&strata.conninfo(None)).await;
    let schemas = rows(
        &client,
        "SELECT schema_name FROM information_schema.schemata WHERE catalog_name = 'lake' ORDER BY 1",
    )
    .await;
    for schema in ["bronze", "gold", "public", "sales", "silver"] {
        assert!(
            schemas.iter().any(|r| r[0].as_deref() == Some(schema)),
            "{schema} missing from {schemas:?}"
        );
    }
    let tables = rows(
        &client,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sales'",
    )
    .await;
    assert_eq!(tables, vec![vec![Some("orders".to_owned())]]);
    assert_eq!(rows(&client, snapshot).await, versions[versions.len() - 1]);
    check(&client).await;
    assert_eq!(
        fails(&client, "SELECT * FROM sales.orders VERSION AS OF 11").await,
        "22023"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_into_loads_each_file_once() {
    let strata = StrataUnderTest::start().await.expect("start Strata");
    let client = connect(&strata.conninfo(None)).await;
    let dir = tempfile::tempdir().expect("a folder");
    let landing = dir.path().join("landing");
    std::fs::create_dir_all(landing.join("2024")).unwrap();
    std::fs::write(landing.join("a.csv"), "id;name\n1;ann\n2;bob\n").unwrap();
    std::fs::write(landing.join("2024").join("b.csv"), "id;name\n3;cy\n").unwrap();
    std::fs::write(landing.join("_skipped.csv"), "id;name\n99;hidden\n").unwrap();
    let landing = landing.display();
    let copy = format!(
        "COPY INTO bronze.people FROM '{landing}/' FILEFORMAT = CSV PATTERN = '**/*.csv' \
         FORMAT_OPTIONS ('header' = 'true', 'delimiter' = ';')"
    );
    assert_eq!(copy_count(&client, &copy).await, 3);
    // The table was made from the files, plus where and when each row came.
    let columns = rows(
        &client,
        "SELECT column_name, data_type FROM information_schema.columns \
         WHERE table_schema = 'bronze' AND table_name = 'people' ORDER BY ordinal_position",
    )
    .await;
    let names: Vec<&str> = columns
        .iter()
        .map(|r| r[0].as_deref().unwrap_or(""))
        .collect();
    assert_eq!(names, ["id", "name", "_source_file", "_ingested_at"]);
    let sources = rows(
        &client,
        "SELECT _source_file, count(*) FROM bronze.people GROUP BY _source_file ORDER BY 1",
    )
    .await;
    assert_eq!(sources.len(), 2);
    assert!(sources[1][0].as_deref().unwrap_or("").ends_with("/a.csv"));
    // Loaded files are not loaded again; a new one is.
    assert_eq!(copy_count(&client, &copy).await, 0);
    std::fs::write(
        dir.path().join("landing").join("2024").join("c.csv"),
        "id;name\n4;dee\n5;eve\n",
    )
    .unwrap();
    assert_eq!(copy_count(&client, &copy).await, 2);
    assert_eq!(
        value(&client, "SELECT count(*) FROM bronze.people").await,
        "5"
    );
    let forced = copy.replace(
        "FORMAT_OPTIONS",
        "COPY_OPTIONS ('force' = 'true') FORMAT_OPTIONS",
    );
    assert_eq!(copy_count(&client, &forced).await, 5);
    assert_eq!(
        value(&client, "SELECT count(*) FROM bronze.people").await,
        "10"
    );

    // JSON and Parquet; columns the table lacks need mergeSchema.
    let json = dir.path().join("events.json");
    std::fs::write(
        &json,
        "{\"id\": 7, \"tag\": \"x\"}\n{\"id\": 8, \"tag\": \"y\"}\n",
    )
    .unwrap();
    let json_copy = format!(
        "COPY INTO bronze.people FROM '{}' FILEFORMAT = JSON",
        json.display()
    );
    assert_eq!(fails(&client, &json_copy).await, "42703");
    assert_eq!(
        copy_count(
            &client,
            &format!("{json_copy} COPY_OPTIONS ('mergeSchema' = 'true')")
        )
        .await,
        2
    );
    assert_eq!(
        value(&client, "SELECT tag FROM bronze.people WHERE id = '8'").await,
        "y"
    );
    let parquet = dir.path().join("parquet");
    run(
        &client,
        &format!(
            "COPY (SELECT 10 + value AS id, 'p' || value AS name FROM generate_series(1, 3)) \
             TO '{}/part.parquet' STORED AS PARQUET",
            parquet.display()
        ),
    )
    .await;
    assert_eq!(
        copy_count(
            &client,
            &format!(
                "COPY INTO bronze.from_parquet FROM '{}/*.parquet' FILEFORMAT = PARQUET",
                parquet.display()
            )
        )
        .await,
        3
    );
    assert_eq!(
        value(&client, "SELECT sum(id) FROM bronze.from_parquet").await,
        "36"
    );
    assert_eq!(
        fails(
            &client,
            "COPY INTO bronze.x FROM '/nowhere' FILEFORMAT = XML"
        )
        .await,
        "22023"
    );
}

async fn copy_count(client: &Client, sql: &str) -> u64 {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", db_error(&e)));
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no command tag"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_stdin_lands_whole_or_not_at_all() {
    let strata = StrataUnderTest::start().await.expect("start Strata");
    let client = connect(&strata.conninfo(None)).await;
    run(
        &client,
        "CREATE TABLE silver.events (id BIGINT NOT NULL, kind TEXT, at TIMESTAMPTZ, score DOUBLE)",
    )
    .await;
    let copy_in = async |sql: &str, data: &[u8]| -> Result<u64, String> {
        let sink = client
            .copy_in::<_, bytes::Bytes>(sql)
            .await
            .map_err(|e| db_error(&e))?;
        futures::pin_mut!(sink);
        sink.send(bytes::Bytes::copy_from_slice(data))
            .await
            .map_err(|e| db_error(&e))?;
        sink.finish().await.map_err(|e| db_error(&e))
    };
    assert_eq!(
        copy_in(
            "COPY silver.events FROM STDIN",
            b"1\tclick\t2024-01-01 10:00:00+00\t1.5\n2\t\\N\t\\N\t\\N\n"
        )
        .await,
        Ok(2)
    );
    assert_eq!(
        copy_in(
            "COPY silver.events (id, kind) FROM STDIN (FORMAT csv, HEADER true)",
            b"id,kind\n3,\"view, long\"\n4,\n"
        )
        .await,
        Ok(2)
    );
    let got = rows(
        &client,
        "SELECT id, kind, score FROM silver.events ORDER BY id",
    )
    .await;
    assert_eq!(
        got,
        vec![
            vec![Some("1".into()), Some("click".into()), Some("1.5".into())],
            vec![Some("2".into()), None, None],
            vec![Some("3".into()), Some("view, long".into()), None],
            vec![Some("4".into()), None, None],
        ]
    );
    // A bad row anywhere: nothing of the COPY lands.
    let bad = copy_in(
        "COPY silver.events FROM STDIN",
        b"5\ta\t\\N\t1\nnot-a-number\tb\t\\N\t2\n",
    )
    .await;
    assert!(bad.as_ref().is_err_and(|e| e.contains("22P02")), "{bad:?}");
    let short = copy_in("COPY silver.events FROM STDIN", b"6\tonly-two\n").await;
    assert!(
        short.as_ref().is_err_and(|e| e.contains("22P04")),
        "{short:?}"
    );
    let null = copy_in("COPY silver.events (kind) FROM STDIN", b"x\n").await;
    assert!(
        null.as_ref().is_err_and(|e| e.contains("23502")),
        "{null:?}"
    );
    assert_eq!(
        value(&client, "SELECT count(*) FROM silver.events").await,
        "4"
    );
    // The session is usable after each failure.
    assert_eq!(value(&client, "SELECT 1").await, "1");

    // psql's \copy, as users run it.
    let dir = tempfile::tempdir().expect("a folder");
    let file = dir.path().join("more.csv");
    std::fs::write(&file, "10,psql,2024-02-02 00:00:00+00,9\n11,psql,,\n").unwrap();
    let copied = strata_sql_tests::psql(
        strata.server.addr.port(),
        "lake",
        &format!("\\copy silver.events FROM '{}' CSV", file.display()),
    );
    assert_eq!(copied.trim(), "COPY 2");
    assert_eq!(
        value(&client, "SELECT count(*) FROM silver.events").await,
        "6"
    );
}

/// Every batch of `BATCH` rows lands whole: a reader only ever sees whole
/// batches, while batches are inserted and deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_partial_write() {
    const BATCH: u64 = 5_000;
    let strata = StrataUnderTest::start().await.expect("start Strata");
    let writer = connect(&strata.conninfo(None)).await;
    let reader = connect(&strata.conninfo(None)).await;
    run(
        &writer,
        "CREATE TABLE silver.batches (batch BIGINT, n BIGINT)",
    )
    .await;
    let writes = tokio::spawn(async move {
        for batch in 0..12 {
            run(
                &writer,
                &format!(
                    "INSERT INTO silver.batches SELECT {batch}, value FROM generate_series(1, {BATCH})"
                ),
            )
            .await;
            if batch % 4 == 3 {
                run(
                    &writer,
                    &format!("DELETE FROM silver.batches WHERE batch = {}", batch - 1),
                )
                .await;
            }
        }
    });
    let mut reads = 0;
    while !writes.is_finished() {
        let groups = rows(
            &reader,
            "SELECT batch, count(*), sum(n) FROM silver.batches GROUP BY batch",
        )
        .await;
        for group in &groups {
            assert_eq!(
                group[1].as_deref(),
                Some(BATCH.to_string().as_str()),
                "{group:?}"
            );
            assert_eq!(
                group[2].as_deref(),
                Some((BATCH * (BATCH + 1) / 2).to_string().as_str())
            );
        }
        reads += 1;
    }
    writes.await.expect("the writer");
    assert!(reads > 3, "the reader ran {reads} times");
    assert_eq!(
        value(&reader, "SELECT count(*) FROM silver.batches").await,
        (9 * BATCH).to_string()
    );
}

/// What a table must hold after a write that may or may not have committed:
/// `(count, sum)` of its ids before, or after.
async fn whole(client: &Client, table: &str, before: (u64, u64), after: (u64, u64)) -> bool {
    let sql = format!("SELECT count(*), coalesce(sum(id), 0) FROM {table}");
    // An executor killed under a read may take its result with it (08006,
    // "run the statement again"): the read is run again.
    let mut tries = 0;
    let messages = loop {
        match client.simple_query(&sql).await {
            Ok(messages) => break messages,
            Err(e) if tries < 5 && e.code().map(|c| c.code()) == Some("08006") => tries += 1,
            Err(e) => panic!("{sql}: {}", db_error(&e)),
        }
    };
    let got = text_rows(&messages);
    let got = (
        got[0][0].as_deref().unwrap_or("0").parse::<u64>().unwrap(),
        got[0][1].as_deref().unwrap_or("0").parse::<u64>().unwrap(),
    );
    assert!(
        got == before || got == after,
        "{table} holds {got:?}: neither {before:?} nor {after:?}"
    );
    got == after
}

/// The data files under a table's folder.
fn files_on_disk(table: &Path) -> usize {
    fn walk(dir: &Path, count: &mut usize) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, count);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                *count += 1;
            }
        }
    }
    let mut count = 0;
    walk(table, &mut count);
    count
}

/// The embedded server is SIGKILLed in the middle of INSERT ... SELECT,
/// again and again: each time the table then holds the old rows or the old
/// rows plus all the new ones, and VACUUM removes what the dead writes left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_insert_leaves_the_table_whole() {
    const ROWS: u64 = 1_500_000;
    let dir = tempfile::tempdir().expect("a folder");
    let data = dir.path().join("data");
    let mut server = ServerProcess::start(&data, "server-0")
        .await
        .expect("start");
    let client = connect(&server.database().conninfo).await;
    run(
        &client,
        "CREATE TABLE silver.facts (id BIGINT, payload TEXT)",
    )
    .await;
    let insert = format!(
        "INSERT INTO silver.facts SELECT value, 'row ' || value FROM generate_series(1, {ROWS})"
    );
    // How long one write takes here, to kill the next ones part way.
    let started = Instant::now();
    run(&client, &insert).await;
    let took = started.elapsed();
    let mut expected = (ROWS, ROWS * (ROWS + 1) / 2);
    let mut interrupted = 0;
    for (round, fraction) in [0.2, 0.5, 0.8, 0.95].into_iter().enumerate() {
        let writer = connect(&server.database().conninfo).await;
        let sql = insert.clone();
        let write = tokio::spawn(async move { writer.batch_execute(&sql).await });
        tokio::time::sleep(took.mul_f64(fraction)).await;
        let finished_first = write.is_finished();
        server.node.kill().await;
        let _ = write.await;
        server = ServerProcess::start(&data, &format!("server-{}", round + 1))
            .await
            .expect("restart");
        let client = connect(&server.database().conninfo).await;
        let after = (expected.0 + ROWS, expected.1 + ROWS * (ROWS + 1) / 2);
        if whole(&client, "silver.facts", expected, after).await {
            expected = after;
        } else if !finished_first {
            interrupted += 1;
        }
    }
    assert!(
        interrupted > 0,
        "no kill landed in the middle of a write (a write took {took:?})"
    );
    // VACUUM deletes files no version refers to (as a write that died after
    // writing a file, before its commit, leaves), once they are older than
    // the retention period, and nothing a version reads.
    let client = connect(&server.database().conninfo).await;
    let table = data.join("lake").join("silver").join("facts");
    let live = files_on_disk(&table);
    let some_file = std::fs::read_dir(&table)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .expect("a data file");
    std::fs::copy(&some_file, table.join("part-orphan-c000.snappy.parquet")).unwrap();
    assert_eq!(value(&client, "VACUUM silver.facts").await, "0");
    assert_eq!(
        fails(&client, "VACUUM silver.facts RETAIN 0 HOURS").await,
        "22023"
    );
    run(&client, "SET strata.vacuum_retention_check = off").await;
    // What a dead write left (a file written, never committed) goes with
    // the orphan; a kill does not always land after a file was written.
    let deleted = rows(&client, "VACUUM silver.facts RETAIN 0 HOURS DRY RUN").await;
    assert!(
        deleted.contains(&vec![Some("part-orphan-c000.snappy.parquet".to_owned())]),
        "{deleted:?}"
    );
    assert_eq!(
        value(&client, "VACUUM silver.facts RETAIN 0 HOURS").await,
        deleted.len().to_string()
    );
    assert_eq!(files_on_disk(&table), live + 1 - deleted.len());
    whole(&client, "silver.facts", expected, expected).await;
}

/// On a cluster, an executor is SIGKILLed while it writes: its tasks run
/// again on the other, and the table gets all of the rows exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_killed_mid_insert_leaves_the_table_whole() {
    const ROWS: u64 = 1_000_000;
    let mut cluster = Cluster::start(2, 1, 15).await.expect("start the cluster");
    let client = connect(&cluster.database().conninfo).await;
    run(
        &client,
        "CREATE TABLE bronze.source (id BIGINT, payload TEXT)",
    )
    .await;
    run(
        &client,
        &format!(
            "INSERT INTO bronze.source SELECT value, 'row ' || value FROM generate_series(1, {ROWS})"
        ),
    )
    .await;
    run(
        &client,
        "CREATE TABLE silver.copied (id BIGINT, payload TEXT)",
    )
    .await;
    let insert = "INSERT INTO silver.copied SELECT id, upper(payload) FROM bronze.source";
    let started = Instant::now();
    run(&client, insert).await;
    let took = started.elapsed();
    let mut expected = (ROWS, ROWS * (ROWS + 1) / 2);
    for round in 0..2 {
        let writer = connect(&cluster.database().conninfo).await;
        let write = tokio::spawn(async move { writer.batch_execute(insert).await });
        // A reader meanwhile sees the table before the write or after it.
        let reader = connect(&cluster.database().conninfo).await;
        let after = (expected.0 + ROWS, expected.1 + ROWS * (ROWS + 1) / 2);
        let reads = tokio::spawn(async move {
            let mut reads = 0;
            let deadline = Instant::now() + took.mul_f64(3.0);
            while Instant::now() < deadline {
                if whole(&reader, "silver.copied", expected, after).await {
                    break;
                }
                reads += 1;
            }
            reads
        });
        tokio::time::sleep(took.mul_f64(0.4)).await;
        let victim = cluster
            .executors
            .iter()
            .position(Option::is_some)
            .expect("a live executor");
        cluster.kill_executor(victim).await;
        let Ok(outcome) = tokio::time::timeout(Duration::from_secs(120), write).await else {
            panic!("the write did not end\n{}", cluster.logs());
        };
        let outcome = outcome.expect("the writer task");
        let landed = whole(&client, "silver.copied", expected, after).await;
        let reads = reads.await.expect("the reader");
        assert!(reads > 0, "the reader never read during the write");
        // A write that reports success has landed; one that failed may
        // still have (its commit, then the loss of the result), but whole.
        assert!(
            landed || outcome.is_err(),
            "round {round}: the write reported {outcome:?}\n{}",
            cluster.logs()
        );
        println!(
            "round {round}: the write with an executor killed reported {outcome:?}; landed: {landed}"
        );
        if landed {
            expected = after;
        }
        cluster.start_executor().await.expect("a new executor");
    }
}

/// A lake in S3 (moto, on loopback): executors write and read the table's
/// files there, the server commits there, and a second server over the same
/// root finds every table and version with nothing else to go by.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_in_s3_works_on_a_cluster_and_is_found_by_another_server() {
    const BUCKET: &str = "strata-lake";
    let s3 = S3Server::start(BUCKET).await.expect("an S3 server");
    s3.put(BUCKET, "landing/a.csv", b"id,name\n1,ann\n2,bob\n")
        .await
        .expect("a landing file");
    let root = format!("s3://{BUCKET}/lake");
    let mut env: Vec<(&str, String)> = s3.env();
    env.push(("STRATA_LAKE_ROOT", root.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cluster = Cluster::start_with_env(2, 2, 15, "", &env)
        .await
        .expect("start the cluster");
    let client = connect(&cluster.database().conninfo).await;
    run(&client, "CREATE SCHEMA sales").await;
    run(
        &client,
        "CREATE TABLE sales.orders (id BIGINT, region TEXT, amount BIGINT) PARTITIONED BY (region)",
    )
    .await;
    run(
        &client,
        "INSERT INTO sales.orders SELECT value, CASE WHEN value % 2 = 0 THEN 'even' ELSE 'odd' END, \
         value * 10 FROM generate_series(1, 20000)",
    )
    .await;
    // Written by the executors, read by the executors.
    run(
        &client,
        "CREATE TABLE sales.copy AS SELECT * FROM sales.orders WHERE amount > 1000",
    )
    .await;
    assert_eq!(
        value(&client, "SELECT count(*) FROM sales.copy").await,
        "19900"
    );
    run(&client, "DELETE FROM sales.orders WHERE region = 'odd'").await;
    run(&client, "UPDATE sales.orders SET amount = 0 WHERE id <= 10").await;
    assert_eq!(
        value(&client, "SELECT count(*), sum(amount) FROM sales.orders").await,
        "10000"
    );
    assert_eq!(
        value(&client, "SELECT count(*) FROM sales.orders VERSION AS OF 1").await,
        "20000"
    );
    let copy = format!(
        "COPY INTO bronze.people FROM 's3://{BUCKET}/landing/' FILEFORMAT = CSV \
         FORMAT_OPTIONS ('header' = 'true')"
    );
    assert_eq!(copy_count(&client, &copy).await, 2);
    assert_eq!(copy_count(&client, &copy).await, 0);
    let summary = rows(&client, "SELECT count(*), sum(amount) FROM sales.orders").await;
    drop(client);
    drop(cluster);

    // Another server over the same root: the schema, the tables, every version.
    let dir = tempfile::tempdir().expect("a folder");
    let server = ServerProcess::start_with_env(&dir.path().join("data"), "second", &env)
        .await
        .expect("a second server");
    let client = connect(&server.database().conninfo).await;
    assert_eq!(
        rows(&client, "SELECT count(*), sum(amount) FROM sales.orders").await,
        summary
    );
    assert_eq!(
        value(&client, "SELECT count(*) FROM sales.orders VERSION AS OF 1").await,
        "20000"
    );
    let tables = rows(
        &client,
        "SELECT table_schema, table_name FROM information_schema.tables \
         WHERE table_schema IN ('sales', 'bronze') ORDER BY 1, 2",
    )
    .await;
    assert_eq!(tables.len(), 3, "{tables:?}");
    run(&client, "VACUUM sales.orders").await;
    run(&client, "DROP SCHEMA sales CASCADE").await;
    assert_eq!(fails(&client, "SELECT * FROM sales.orders").await, "42P01");
}

/// psql's `\d` of a lake table: its columns with their types and NOT NULL,
/// its partition columns; `\d+` and `\dt+` add comments and the size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_describes_a_lake_table() {
    let strata = StrataUnderTest::start().await.expect("start Strata");
    let client = connect(&strata.conninfo(None)).await;
    run(
        &client,
        "CREATE TABLE silver.described (id BIGINT NOT NULL, region TEXT, amount DECIMAL(12, 2), \
         placed DATE) PARTITIONED BY (region)",
    )
    .await;
    run(&client, "CREATE TABLE silver.flat (id INT)").await;
    let port = strata.server.addr.port();
    let psql = |command: &str| strata_sql_tests::psql(port, "lake", command);
    let described = psql("\\d silver.described");
    assert!(
        described.contains("Partitioned table \"silver.described\""),
        "{described}"
    );
    assert!(
        described.contains("Partition key: LIST (region)"),
        "{described}"
    );
    let id_line = described
        .lines()
        .find(|l| l.trim_start().starts_with("id "))
        .unwrap_or_default();
    assert!(
        id_line.contains("bigint") && id_line.contains("not null"),
        "{described}"
    );
    assert!(
        described
            .lines()
            .any(|l| l.trim_start().starts_with("region ") && l.contains("text")),
        "{described}"
    );
    // `\d+` adds each column's comment; `\dt+` the table's size and comment.
    run(
        &client,
        "INSERT INTO silver.described VALUES (1, 'n', 1.50, DATE '2026-01-01')",
    )
    .await;
    run(
        &client,
        "COMMENT ON TABLE silver.described IS 'cleaned orders'",
    )
    .await;
    run(
        &client,
        "COMMENT ON COLUMN silver.described.amount IS 'in euros'",
    )
    .await;
    let verbose = psql("\\d+ silver.described");
    assert!(
        verbose
            .lines()
            .any(|l| l.trim_start().starts_with("amount ") && l.contains("in euros")),
        "{verbose}"
    );
    assert!(
        verbose.contains("Partition key: LIST (region)"),
        "{verbose}"
    );
    let sized = psql("\\dt+ silver.described");
    let line = sized
        .lines()
        .find(|l| l.contains("described"))
        .unwrap_or_default();
    assert!(
        line.contains("partitioned table") && line.contains("cleaned orders"),
        "{sized}"
    );
    let size = line.split('|').nth(6).unwrap_or_default().trim().to_owned();
    assert!(
        size.ends_with("bytes") || size.ends_with("kB"),
        "the files' size, not {size:?}: {sized}"
    );
    assert_ne!(size, "0 bytes", "{sized}");
    let flat = psql("\\d silver.flat");
    assert!(flat.contains("Table \"silver.flat\""), "{flat}");
    assert!(!flat.contains("Partition key"), "{flat}");
    let listed = psql("\\dt silver.*");
    assert!(
        listed.contains("described") && listed.contains("flat"),
        "{listed}"
    );
}

/// Clients that keep oids (pgjdbc, DBeaver) find the same objects after a
/// restart, and a table created later, whose name sorts first, takes none
/// of their oids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_objects_keep_their_oids_across_a_restart() {
    const OIDS: &str = "SELECT c.relname, c.oid::text, n.oid::text, \
         (SELECT oid::text FROM pg_catalog.pg_database WHERE datname = current_database()) \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'oids_demo' ORDER BY 1";
    let strata = StrataUnderTest::start().await.expect("start Strata");
    let client = connect(&strata.conninfo(None)).await;
    run(&client, "CREATE SCHEMA oids_demo").await;
    run(
        &client,
        "CREATE TABLE oids_demo.b (id BIGINT NOT NULL, amount DECIMAL(12, 2))",
    )
    .await;
    run(&client, "CREATE TABLE oids_demo.c (note TEXT)").await;
    let before = rows(&client, OIDS).await;
    assert_eq!(before.len(), 2, "{before:?}");
    // The column types carry their modifiers, as psql's \d shows them.
    assert_eq!(
        value(
            &client,
            "SELECT format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute \
             WHERE attrelid = 'oids_demo.b'::regclass AND attname = 'amount'"
        )
        .await,
        "numeric(12,2)"
    );

    drop(client);
    let data = strata.stop();
    let strata = StrataUnderTest::start_in(data)
        .await
        .expect("restart Strata");
    let client = connect(&strata.conninfo(None)).await;
    run(&client, "CREATE TABLE oids_demo.a (x INT)").await;
    let after = rows(&client, OIDS).await;
    assert_eq!(after.len(), 3, "{after:?}");
    assert_eq!(&after[1..], &before[..], "oids moved across the restart");
    let new = after[0][1].clone();
    assert!(
        before
            .iter()
            .all(|row| row[1] != new && row[2] != new && row[3] != new),
        "the new table took an old oid: {after:?}"
    );
    assert_eq!(
        value(&client, "SELECT 'oids_demo.b'::regclass::oid::text").await,
        before[0][1].clone().unwrap_or_default()
    );
}
