//! pg_stat_activity shows every session truthfully, and pg_cancel_backend
//! stops another session's statement.

use std::time::{Duration, Instant};

use strata_sql_tests::StrataUnderTest;
use strata_sql_tests::postgres::connect;

#[tokio::test(flavor = "multi_thread")]
async fn sessions_show_in_pg_stat_activity_and_can_be_cancelled() {
    let strata = StrataUnderTest::start().await.expect("Strata");
    let conninfo = strata.database().conninfo;
    let reporter = connect(&format!("{conninfo} application_name=reporter")).await;
    let watcher = connect(&conninfo).await;
    let pid: i32 = reporter
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);

    let row = |sql: &'static str| {
        let watcher = &watcher;
        async move { watcher.query(sql, &[]).await.expect(sql) }
    };
    let mine = row(
        "SELECT usename, datname, application_name, state, query, client_addr \
         FROM pg_stat_activity WHERE pid = pg_backend_pid()",
    )
    .await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].get::<_, String>(3), "active");
    assert!(mine[0].get::<_, String>(4).contains("pg_stat_activity"));
    assert_eq!(mine[0].get::<_, String>(5), "127.0.0.1");

    // A long statement is seen running, then cancelled from another session.
    let long = tokio::spawn(async move {
        let result = reporter
            .query_one("SELECT count(*) FROM generate_series(1, 20000000000)", &[])
            .await;
        (reporter, result)
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let seen = loop {
        let rows = watcher
            .query(
                "SELECT state, query, usename FROM pg_stat_activity WHERE application_name = 'reporter'",
                &[],
            )
            .await
            .unwrap();
        if let Some(row) = rows.first()
            && row.get::<_, String>(0) == "active"
        {
            break row.get::<_, String>(1);
        }
        assert!(
            Instant::now() < deadline,
            "the long statement never showed as active"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(seen.contains("generate_series(1, 20000000000)"), "{seen}");
    let cancelled: bool = watcher
        .query_one("SELECT pg_cancel_backend($1::int)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(cancelled);
    let (reporter, result) = tokio::time::timeout(Duration::from_secs(20), long)
        .await
        .expect("the cancelled statement ends")
        .unwrap();
    let error = result.expect_err("cancelled");
    assert_eq!(error.code().map(|c| c.code()), Some("57014"), "{error:?}");
    let state: String = watcher
        .query_one("SELECT state FROM pg_stat_activity WHERE pid = $1", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "idle");
    let unknown: bool = watcher
        .query_one("SELECT pg_cancel_backend(1)", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!unknown, "no session has pid 1");

    // A closed session leaves.
    drop(reporter);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = watcher
            .query("SELECT pid FROM pg_stat_activity WHERE pid = $1", &[&pid])
            .await
            .unwrap()
            .is_empty();
        if left {
            break;
        }
        assert!(Instant::now() < deadline, "a closed session stays listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
