//! `COPY ... TO STDOUT` in text, CSV and binary: the bytes Strata sends equal
//! the bytes PostgreSQL sends for the same query; psql's `\copy ... TO` writes
//! the same file from both.

use futures::TryStreamExt;
use strata_sql_tests::postgres::connect;
use strata_sql_tests::{Database, StrataUnderTest};
use tokio_postgres::Client;

/// Values both systems type alike, with the characters COPY must escape.
const ROWS: &str = "SELECT * FROM (VALUES \
     (CAST(1 AS BIGINT), 'plain', CAST(1.5 AS DOUBLE PRECISION), true, DATE '2024-01-02', CAST(12.50 AS NUMERIC(10, 2))), \
     (CAST(2 AS BIGINT), 'tab\there, comma', CAST(-0.25 AS DOUBLE PRECISION), false, DATE '1999-12-31', CAST(-3.00 AS NUMERIC(10, 2))), \
     (CAST(3 AS BIGINT), 'quote \" and back\\slash', NULL, NULL, NULL, NULL), \
     (CAST(4 AS BIGINT), '', CAST(1e100 AS DOUBLE PRECISION), true, DATE '2024-02-29', CAST(0 AS NUMERIC(10, 2))), \
     (CAST(5 AS BIGINT), NULL, CAST(0 AS DOUBLE PRECISION), false, DATE '2000-01-01', CAST(1 AS NUMERIC(10, 2))), \
     (CAST(6 AS BIGINT), 'line' || chr(10) || 'break', CAST(3 AS DOUBLE PRECISION), true, DATE '2024-06-30', CAST(7.25 AS NUMERIC(10, 2))) \
   ) AS t(id, label, ratio, flag, day, amount) ORDER BY id";

async fn copy_out(client: &Client, sql: &str) -> Result<Vec<u8>, String> {
    let stream = client
        .copy_out(sql)
        .await
        .map_err(|e| format!("{sql}: {e:?}"))?;
    let chunks: Vec<bytes::Bytes> = stream
        .try_collect()
        .await
        .map_err(|e| format!("{sql}: {e:?}"))?;
    Ok(chunks.concat())
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_to_stdout_sends_what_postgres_sends() {
    let strata = StrataUnderTest::start().await.expect("Strata");
    let ours = connect(&strata.database().conninfo).await;
    let theirs = connect(&Database::postgres().conninfo).await;
    for options in [
        "",
        "WITH (FORMAT text)",
        "WITH (FORMAT csv)",
        "WITH (FORMAT csv, HEADER)",
        "(FORMAT csv, HEADER true, DELIMITER ';', NULL 'n/a', QUOTE '''')",
        "WITH (FORMAT text, DELIMITER '|', NULL '')",
        "CSV HEADER",
        "WITH CSV HEADER DELIMITER AS ';'",
        "(FORMAT binary)",
        "BINARY",
    ] {
        let sql = format!("COPY ({ROWS}) TO STDOUT {options}");
        let expected = copy_out(&theirs, &sql).await.expect("PostgreSQL");
        let got = copy_out(&ours, &sql).await.expect("Strata");
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected),
            "{options}"
        );
        assert_eq!(got, expected, "{options}");
    }

    // A table by name, with and without a column list.
    let data = tempfile::tempdir().unwrap();
    let csv = data.path().join("t.csv");
    std::fs::write(&csv, "a,b\n1,x\n2,\n").unwrap();
    ours.batch_execute(&format!(
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
        csv.display()
    ))
    .await
    .unwrap();
    let all = copy_out(&ours, "COPY t TO STDOUT").await.unwrap();
    assert_eq!(String::from_utf8(all).unwrap(), "1\tx\n2\t\\N\n");
    let some = copy_out(&ours, "COPY t (b) TO STDOUT (FORMAT csv)")
        .await
        .unwrap();
    assert_eq!(String::from_utf8(some).unwrap(), "x\n\n");

    // Errors: a bad option, and an option the format does not take.
    for (sql, code) in [
        ("COPY t TO STDOUT (FORMAT xml)", "22023"),
        ("COPY t TO STDOUT (FORMAT binary, HEADER)", "42601"),
        ("COPY t TO STDOUT (QUOTE '\"')", "42601"),
    ] {
        let error = ours.copy_out(sql).await.err().expect(sql);
        assert_eq!(
            error.code().map(|c| c.code()),
            Some(code),
            "{sql}: {error:?}"
        );
    }

    // psql's \copy writes the same file from both.
    let port = strata.server.addr.port().to_string();
    let psql = |port: &str, user: &str, db: &str, file: &std::path::Path| {
        let output = std::process::Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                port,
                "-U",
                user,
                "-d",
                db,
                "-X",
                "-c",
            ])
            .arg(format!(
                "\\copy ({ROWS}) TO '{}' CSV HEADER",
                file.display()
            ))
            .output()
            .unwrap_or_else(|e| panic!("psql is needed (Debian package postgresql-client): {e}"));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read(file).unwrap()
    };
    let from_strata = psql(&port, "strata", "lake", &data.path().join("strata.csv"));
    let from_postgres = psql(
        "5432",
        "postgres",
        "test",
        &data.path().join("postgres.csv"),
    );
    assert_eq!(
        String::from_utf8_lossy(&from_strata),
        String::from_utf8_lossy(&from_postgres)
    );
}
