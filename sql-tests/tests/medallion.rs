//! The medallion pipeline of `sql-tests/pipelines/medallion`: raw CSV files
//! -> bronze (COPY INTO) -> silver (dedupe with ROW_NUMBER, casts, filters,
//! MERGE) -> gold (aggregates, INSERT OVERWRITE) -> a PostgreSQL table. It
//! runs in three steps as files land, embedded and on a two-executor
//! cluster, and both give the same (hand-checked) answers.

use std::path::{Path, PathBuf};

use strata_sql_tests::cluster::Cluster;
use strata_sql_tests::postgres::{PgScratch, connect};
use strata_sql_tests::{Database, StrataUnderTest};
use tokio_postgres::{Client, SimpleQueryMessage};

type Rows = Vec<Vec<Option<String>>>;

fn pipeline_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines")
        .join("medallion")
}

async fn rows(client: &Client, sql: &str) -> Rows {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
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

/// What one run of the pipeline left: command tags, bronze, silver, gold and
/// the PostgreSQL copy of gold.
#[derive(Debug, PartialEq)]
struct Outcome {
    tags: Vec<u64>,
    bronze: Rows,
    silver: Rows,
    gold: Rows,
    serving: Rows,
}

/// Runs the pipeline's statements one by one.
async fn run_pipeline(
    strata: &Client,
    landing: &Path,
    serving: &str,
    postgres: &Client,
) -> Outcome {
    let script = std::fs::read_to_string(pipeline_dir().join("pipeline.sql")).expect("the script");
    let script = script
        .replace("$LANDING", &landing.display().to_string())
        .replace("$SERVING", serving);
    let mut tags = Vec::new();
    let statements: Vec<String> = script
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    for statement in &statements {
        let messages = strata
            .simple_query(statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
        for message in messages {
            if let SimpleQueryMessage::CommandComplete(n) = message {
                tags.push(n);
            }
        }
    }
    let serving_table = serving.split_once('.').map_or(serving, |(_, t)| t);
    Outcome {
        tags,
        bronze: rows(
            strata,
            "SELECT order_id, amount, regexp_replace(_source_file, '.*/', '') FROM bronze.orders_raw \
             ORDER BY 3, order_id, amount",
        )
        .await,
        silver: rows(
            strata,
            "SELECT order_id, region, amount, status, updated_at FROM silver.orders ORDER BY order_id",
        )
        .await,
        gold: rows(
            strata,
            "SELECT day, region, orders, revenue FROM gold.daily_revenue ORDER BY day, region",
        )
        .await,
        serving: rows(
            postgres,
            &format!(
                "SELECT day::text, region, orders::text, revenue::text FROM {serving_table} \
                 ORDER BY day, region"
            ),
        )
        .await,
    }
}

fn gold(rows: &[(&str, &str, i64, &str)]) -> Rows {
    rows.iter()
        .map(|(day, region, orders, revenue)| {
            vec![
                Some((*day).to_owned()),
                Some((*region).to_owned()),
                Some(orders.to_string()),
                Some((*revenue).to_owned()),
            ]
        })
        .collect()
}

/// The pipeline in three steps against the server at `conninfo`.
async fn three_steps(conninfo: &str, label: &str) -> Vec<Outcome> {
    let scratch = PgScratch::new(&format!("medallion_{label}")).await;
    scratch
        .run(&format!(
            "CREATE TABLE {}.daily_revenue (day date, region text, orders bigint, \
             revenue numeric(14, 2), PRIMARY KEY (day, region))",
            scratch.schema
        ))
        .await;
    let postgres = connect(&Database::postgres().conninfo).await;
    postgres
        .batch_execute(&format!("SET search_path = {}", scratch.schema))
        .await
        .unwrap();
    let strata = connect(conninfo).await;
    strata
        .batch_execute(&format!(
            "ATTACH '{}' AS serving (TYPE postgres)",
            Database::postgres().conninfo
        ))
        .await
        .expect("attach PostgreSQL");
    let serving = format!("serving.{}.daily_revenue", scratch.schema);
    let landing = tempfile::tempdir().expect("a landing folder");
    let arrive = |name: &str| {
        std::fs::copy(
            pipeline_dir().join("landing").join(name),
            landing.path().join(name),
        )
        .expect("a landing file");
    };
    let mut outcomes = Vec::new();
    arrive("orders-2026-11-01.csv");
    arrive("orders-2026-11-02.csv");
    outcomes.push(run_pipeline(&strata, landing.path(), &serving, &postgres).await);
    arrive("orders-2026-11-03.csv");
    outcomes.push(run_pipeline(&strata, landing.path(), &serving, &postgres).await);
    // Nothing new: nothing changes.
    outcomes.push(run_pipeline(&strata, landing.path(), &serving, &postgres).await);
    scratch.drop().await;
    outcomes
}

fn check(outcomes: &[Outcome], target: &str) {
    // Day 1 and 2: 16 raw rows; 11 distinct orders, 2 left out (amounts
    // "n/a" and empty); 1003 and 1013 in their later versions.
    assert_eq!(outcomes[0].tags[0], 16, "{target}: COPY INTO");
    assert_eq!(outcomes[0].silver.len(), 11, "{target}: silver");
    assert_eq!(
        outcomes[0].gold,
        gold(&[
            ("2026-11-01", "east", 1, "9.99"),
            ("2026-11-01", "north", 3, "181.75"),
            ("2026-11-01", "south", 2, "110.10"),
            ("2026-11-02", "east", 1, "88.80"),
            ("2026-11-02", "north", 1, "15.00"),
            ("2026-11-02", "west", 2, "90.00"),
        ]),
        "{target}: gold after day 2"
    );
    // Day 3 loads its file only; 1001 changes amount, 1006 is cancelled,
    // 1009 arrives again unchanged.
    assert_eq!(outcomes[1].tags[0], 5, "{target}: COPY INTO of day 3");
    assert_eq!(outcomes[1].bronze.len(), 21);
    assert_eq!(outcomes[1].silver.len(), 13);
    let expected = gold(&[
        ("2026-11-01", "east", 1, "9.99"),
        ("2026-11-01", "north", 3, "171.75"),
        ("2026-11-01", "south", 1, "35.00"),
        ("2026-11-02", "east", 1, "88.80"),
        ("2026-11-02", "north", 1, "15.00"),
        ("2026-11-02", "west", 2, "90.00"),
        ("2026-11-03", "east", 1, "12.00"),
        ("2026-11-03", "north", 1, "5.00"),
    ]);
    assert_eq!(outcomes[1].gold, expected, "{target}: gold after day 3");
    assert_eq!(
        outcomes[1].serving, expected,
        "{target}: gold served by PostgreSQL"
    );
    // A run with nothing new loads nothing and changes nothing.
    assert_eq!(
        outcomes[2].tags[0], 0,
        "{target}: COPY INTO with no new file"
    );
    assert_eq!(outcomes[2].silver, outcomes[1].silver);
    assert_eq!(outcomes[2].serving, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_medallion_pipeline_gives_the_same_answers_embedded_and_on_a_cluster() {
    let embedded = StrataUnderTest::start().await.expect("start Strata");
    let alone = three_steps(&embedded.conninfo(None), "embedded").await;
    check(&alone, "embedded");
    drop(embedded);
    let cluster = Cluster::start(2, 2, 15).await.expect("start the cluster");
    let distributed = three_steps(&cluster.database().conninfo, "cluster").await;
    check(&distributed, "cluster");
    assert_eq!(
        alone
            .iter()
            .map(|o| (&o.tags, &o.silver, &o.gold, &o.serving))
            .collect::<Vec<_>>(),
        distributed
            .iter()
            .map(|o| (&o.tags, &o.silver, &o.gold, &o.serving))
            .collect::<Vec<_>>(),
        "embedded and cluster differ"
    );
}
