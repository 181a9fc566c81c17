//! The fast path: a query whose inputs are small by their statistics runs
//! in the server, a larger one as a Ballista job; EXPLAIN says which, and
//! `strata.fast_path` forces either. (The SQL suites run with it forced
//! both ways, so answers are the same on both paths.)

use strata_sql_tests::StrataUnderTest;
use strata_sql_tests::postgres::connect;
use tokio_postgres::Client;

/// EXPLAIN's rows for `sql`, joined.
async fn explain(client: &Client, sql: &str) -> String {
    client
        .query(&format!("EXPLAIN {sql}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|row| format!("{}: {}", row.get::<_, String>(0), row.get::<_, String>(1)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// EXPLAIN ANALYZE's plan with metrics for `sql`.
async fn explain_analyze(client: &Client, sql: &str) -> String {
    client
        .query(&format!("EXPLAIN ANALYZE {sql}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<_, String>(1))
        .collect()
}

/// Runs `sql` and returns the Ballista job that ran it, if one did.
async fn job_of(client: &Client, sql: &str) -> Option<String> {
    client.query(sql, &[]).await.unwrap();
    client
        .query_one(
            "SELECT job_id FROM strata.queries WHERE query = $1 ORDER BY query_id DESC LIMIT 1",
            &[&sql],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn small_inputs_run_in_the_server_and_large_ones_on_the_cluster() {
    let strata = StrataUnderTest::start().await.expect("Strata");
    let client = connect(&strata.database().conninfo).await;
    client
        .batch_execute(
            "CREATE TABLE fp_small AS VALUES (1, 'a'), (2, 'b'), (3, 'c'); \
             CREATE TABLE fp_large AS SELECT g AS x FROM generate_series(1, 5000) AS s(g); \
             SET strata.fast_path_max_rows = 1000",
        )
        .await
        .unwrap();
    let settings = client
        .query_one("SHOW strata.fast_path", &[])
        .await
        .unwrap()
        .get::<_, String>(0);
    assert_eq!(settings, "auto");

    let small = "SELECT count(*) FROM fp_small";
    let large = "SELECT count(*) FROM fp_large";
    let plan = explain(&client, small).await;
    assert!(
        plan.contains(
            "physical_plan: InProcessExec: fast path, runs in the server: inputs of about 3 rows"
        ),
        "{plan}"
    );
    assert!(!plan.contains("distributed_plan"), "{plan}");
    assert_eq!(
        job_of(&client, small).await,
        None,
        "no job for a small query"
    );
    let analyzed = explain_analyze(&client, small).await;
    assert!(analyzed.contains("InProcessExec: fast path"), "{analyzed}");
    assert!(analyzed.contains("output_rows=3"), "{analyzed}");

    let plan = explain(&client, large).await;
    assert!(!plan.contains("InProcessExec"), "{plan}");
    assert!(plan.contains("distributed_plan"), "{plan}");
    assert!(
        job_of(&client, large).await.is_some(),
        "a job for a larger one"
    );
    // A join of both reads more than the limit: the cluster.
    let joined = "SELECT count(*) FROM fp_large JOIN fp_small ON x = column1";
    assert!(job_of(&client, joined).await.is_some());
    // In the server a join is a hash join, as DataFusion plans it; a job's
    // is a sort-merge join, which spills.
    let self_joined = "SELECT count(*) FROM fp_small a JOIN fp_small b ON a.column1 = b.column1";
    let plan = explain(&client, self_joined).await;
    assert!(
        plan.contains("InProcessExec") && plan.contains("HashJoinExec"),
        "{plan}"
    );
    let plan = explain(&client, joined).await;
    assert!(plan.contains("SortMergeJoin"), "{plan}");

    // Forced either way, with the same answers.
    client
        .batch_execute("SET strata.fast_path = on")
        .await
        .unwrap();
    assert_eq!(job_of(&client, large).await, None);
    let on: i64 = client.query_one(joined, &[]).await.unwrap().get(0);
    assert!(
        explain(&client, large)
            .await
            .contains("strata.fast_path = on")
    );
    client
        .batch_execute("SET strata.fast_path = off")
        .await
        .unwrap();
    assert!(job_of(&client, small).await.is_some());
    let off: i64 = client.query_one(joined, &[]).await.unwrap().get(0);
    assert_eq!((on, off), (3, 3));

    let refused = client
        .batch_execute("SET strata.fast_path = sometimes")
        .await
        .expect_err("not a mode");
    assert_eq!(
        refused.code().map(|c| c.code()),
        Some("22023"),
        "{refused:?}"
    );
    client
        .batch_execute("RESET strata.fast_path")
        .await
        .unwrap();
    assert_eq!(job_of(&client, small).await, None);
}

/// On the fast path a hash join builds on the smaller lake table (their
/// statistics come from the Delta log) and fills the dynamic filter it
/// pushes into the scan of its probe side once its build side is in, so
/// the scan skips what cannot match (the session keeps these filters off
/// for jobs).
#[tokio::test(flavor = "multi_thread")]
async fn fast_path_joins_filter_their_probe_side() {
    let strata = StrataUnderTest::start().await.expect("Strata");
    let client = connect(&strata.database().conninfo).await;
    client
        .batch_execute(
            "CREATE TABLE df_keys AS VALUES (10), (20); \
             CREATE TABLE df_facts AS SELECT g AS k, g * 2 AS v FROM generate_series(1, 100000) AS s(g); \
             SET strata.fast_path = on",
        )
        .await
        .unwrap();
    let sql = "SELECT sum(v) FROM df_facts JOIN df_keys ON k = column1";
    let sum: i64 = client.query_one(sql, &[]).await.unwrap().get(0);
    assert_eq!(sum, 60);
    let analyzed = explain_analyze(&client, sql).await;
    assert!(analyzed.contains("InProcessExec: fast path"), "{analyzed}");
    assert!(
        analyzed.contains("HashJoinExec: mode=CollectLeft"),
        "{analyzed}"
    );
    assert!(analyzed.contains("DynamicFilter [ k@"), "{analyzed}");
    assert!(!analyzed.contains("DynamicFilter [ empty ]"), "{analyzed}");
}
