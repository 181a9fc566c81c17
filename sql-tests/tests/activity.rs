//! pg_stat_activity shows every session truthfully, pg_cancel_backend
//! stops another session's statement, and strata.queries keeps what each
//! statement was and how it ended.

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
    let ended: (String, Option<String>) = watcher
        .query_one(
            "SELECT state, sqlstate FROM strata.queries \
             WHERE query LIKE '%generate_series(1, 20000000000)%' AND pid = $1",
            &[&pid],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(ended, ("cancelled".to_owned(), Some("57014".to_owned())));
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

/// strata.queries keeps each statement: who ran it, its text, how it ended,
/// its rows or its error; another role's statements without their text.
#[tokio::test(flavor = "multi_thread")]
async fn statements_are_kept_in_strata_queries() {
    let strata = StrataUnderTest::start().await.expect("Strata");
    let conninfo = strata.database().conninfo;
    let admin = connect(&conninfo).await;
    admin
        .batch_execute("CREATE TABLE history_t (v int); CREATE ROLE watcher LOGIN")
        .await
        .unwrap();
    admin
        .batch_execute("INSERT INTO history_t VALUES (1), (2), (3)")
        .await
        .unwrap();
    let rows = admin.query("SELECT v FROM history_t", &[]).await.unwrap();
    assert_eq!(rows.len(), 3);
    let failed = admin.batch_execute("SELECT 1 / 0").await;
    assert!(failed.is_err());

    let seen = admin
        .query(
            "SELECT usename, query, state, rows, sqlstate, error, \
             query_end >= query_start AND duration_ms >= 0 \
             FROM strata.queries WHERE query LIKE '%history_t%' OR query LIKE '%1 / 0%' \
             ORDER BY query_id",
            &[],
        )
        .await
        .unwrap();
    // Query text, state, rows, SQLSTATE, and times that add up.
    type Kept = (String, String, Option<i64>, Option<String>, bool);
    let summary: Vec<Kept> = seen
        .iter()
        .filter(|r| !r.get::<_, String>(1).contains("strata.queries"))
        .map(|r| {
            (
                r.get::<_, String>(1),
                r.get::<_, String>(2),
                r.get::<_, Option<i64>>(3),
                r.get::<_, Option<String>>(4),
                r.get::<_, bool>(6),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "CREATE TABLE history_t (v INT)".to_owned(),
                "finished".to_owned(),
                None,
                None,
                true
            ),
            (
                "INSERT INTO history_t VALUES (1), (2), (3)".to_owned(),
                "finished".to_owned(),
                Some(3),
                None,
                true
            ),
            (
                "SELECT v FROM history_t".to_owned(),
                "finished".to_owned(),
                Some(3),
                None,
                true
            ),
            (
                "SELECT 1 / 0".to_owned(),
                "failed".to_owned(),
                None,
                Some("22012".to_owned()),
                true
            ),
        ]
    );

    // Another role sees that statements ran, not what they were.
    let watcher = connect(&format!("{conninfo} user=watcher")).await;
    let texts: Vec<(String, String)> = watcher
        .query(
            "SELECT usename, query FROM strata.queries WHERE usename = 'strata'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(!texts.is_empty());
    assert!(
        texts.iter().all(|(_, q)| q == "<insufficient privilege>"),
        "{texts:?}"
    );
}

async fn pid_of(client: &tokio_postgres::Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
}

/// pg_terminate_backend ends another session with FATAL 57P01, idle or in
/// the middle of a statement (whose job stops); a role other than a
/// superuser may end only its own sessions.
#[tokio::test(flavor = "multi_thread")]
async fn pg_terminate_backend_ends_sessions() {
    let strata = StrataUnderTest::start().await.expect("Strata");
    let conninfo = strata.database().conninfo;
    let admin = connect(&conninfo).await;
    admin
        .batch_execute(
            "CREATE ROLE worker LOGIN; \
             CREATE TABLE terminate_t AS SELECT g AS x FROM generate_series(1, 100000) AS s(g)",
        )
        .await
        .unwrap();

    // Idle: the FATAL arrives unasked; the next statement finds the
    // connection gone.
    let idle = connect(&conninfo).await;
    let idle_pid = pid_of(&idle).await;
    let ended: bool = admin
        .query_one("SELECT pg_terminate_backend($1::int)", &[&idle_pid])
        .await
        .unwrap()
        .get(0);
    assert!(ended);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !idle.is_closed() {
        assert!(
            Instant::now() < deadline,
            "the terminated connection stays open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(idle.simple_query("SELECT 1").await.is_err());

    // Busy: the statement fails with FATAL 57P01 and its job is cancelled.
    let busy = connect(&conninfo).await;
    let busy_pid = pid_of(&busy).await;
    let long = tokio::spawn(async move {
        busy.query_one(
            "SELECT count(*) FROM terminate_t a JOIN terminate_t b ON a.x % 10 = b.x % 10",
            &[],
        )
        .await
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let active = admin
            .query(
                "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                &[&busy_pid],
            )
            .await
            .unwrap();
        if !active.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the statement never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    admin
        .query_one("SELECT pg_terminate_backend($1::int)", &[&busy_pid])
        .await
        .unwrap();
    let error = tokio::time::timeout(Duration::from_secs(20), long)
        .await
        .expect("the terminated statement ends")
        .unwrap()
        .expect_err("terminated");
    let db = error.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "57P01", "{error:?}");
    assert_eq!(db.severity(), "FATAL");
    assert_eq!(
        db.message(),
        "terminating connection due to administrator command"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let gone = admin
            .query(
                "SELECT 1 FROM pg_stat_activity WHERE pid = $1",
                &[&busy_pid],
            )
            .await
            .unwrap()
            .is_empty();
        if gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the terminated session stays listed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (state, sqlstate): (String, Option<String>) = admin
        .query_one(
            "SELECT state, sqlstate FROM strata.queries WHERE pid = $1 AND query LIKE '%terminate_t a%'",
            &[&busy_pid],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(
        (state.as_str(), sqlstate.as_deref()),
        ("cancelled", Some("57P01"))
    );

    // Another role may not end the administrator's session.
    let worker = connect(&conninfo.replace("user=strata", "user=worker")).await;
    let admin_pid = pid_of(&admin).await;
    let refused = worker
        .query_one("SELECT pg_terminate_backend($1::int)", &[&admin_pid])
        .await
        .expect_err("not a superuser");
    assert_eq!(
        refused.code().map(|c| c.code()),
        Some("42501"),
        "{refused:?}"
    );
    assert!(!admin.is_closed());
}
