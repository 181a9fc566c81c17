//! PostgreSQL sources through the wire protocol: a database of the
//! PostgreSQL on this machine declared as source `pg`, its tables read as
//! `pg.<schema>.<table>`, listed in information_schema, and joined with a lake
//! table.

use strata_connectors::postgres::source::{PasswordRef, PgSource};
use strata_sql_tests::postgres::{PgScratch, connect, explain};
use strata_sql_tests::{Database, StrataUnderTest};
use tokio_postgres::Client;

/// A scratch schema holding `orders` (5000 rows) and a view over it.
async fn fixture(name: &str) -> PgScratch {
    let scratch = PgScratch::new(name).await;
    let schema = &scratch.schema;
    scratch
        .run(&format!(
            "CREATE TABLE {schema}.orders (
                 id bigint PRIMARY KEY, customer int NOT NULL DEFAULT 0, amount numeric(10, 2),
                 note text, placed date
             );
             INSERT INTO {schema}.orders
                 SELECT g, g % 40, (g * 37 % 10000) / 100.0,
                        CASE WHEN g % 5 = 0 THEN NULL ELSE 'note ' || g END,
                        date '2024-01-01' + (g % 366)
                 FROM generate_series(1, 5000) g;
             CREATE VIEW {schema}.big_orders AS SELECT * FROM {schema}.orders WHERE amount > 90;"
        ))
        .await;
    scratch
}

/// Strata with the test PostgreSQL as source `pg`, and a connection to it.
async fn strata_with_source() -> (StrataUnderTest, Client) {
    let data = tempfile::tempdir().unwrap();
    let strata = StrataUnderTest::start_with(data, vec![source()])
        .await
        .expect("Strata");
    let client = connect(&strata.database().conninfo).await;
    (strata, client)
}

fn source() -> PgSource {
    PgSource::new("pg", &Database::postgres().conninfo, PasswordRef::None).expect("a source")
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_tables_read_list_and_join_like_in_postgres() {
    let fixture = fixture("source").await;
    let s = &fixture.schema;
    let (strata, client) = strata_with_source().await;

    // Aggregates over the table equal PostgreSQL's.
    let sql = format!(
        "SELECT count(*), CAST(sum(amount) AS text), count(note), min(placed) FROM pg.{s}.orders"
    );
    let ours = client.query_one(&sql, &[]).await.expect("read");
    let theirs = fixture
        .client
        .query_one(
            &format!(
                "SELECT count(*), sum(amount)::text, count(note), min(placed) FROM {s}.orders"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(ours.get::<_, i64>(0), theirs.get::<_, i64>(0));
    assert_eq!(ours.get::<_, String>(1), theirs.get::<_, String>(1));
    assert_eq!(ours.get::<_, i64>(2), theirs.get::<_, i64>(2));
    assert_eq!(
        ours.get::<_, chrono::NaiveDate>(3),
        theirs.get::<_, chrono::NaiveDate>(3)
    );

    // A view reads too.
    let view = client
        .query_one(&format!("SELECT count(*) FROM pg.{s}.big_orders"), &[])
        .await
        .expect("the view");
    let expected = fixture
        .client
        .query_one(&format!("SELECT count(*) FROM {s}.big_orders"), &[])
        .await
        .unwrap();
    assert_eq!(view.get::<_, i64>(0), expected.get::<_, i64>(0));

    // information_schema lists the source's tables and views, and a table
    // created in PostgreSQL shows up without a restart.
    fixture
        .client
        .batch_execute(&format!("CREATE TABLE {s}.later (x int)"))
        .await
        .unwrap();
    let listed: Vec<String> = client
        .query(
            &format!(
                "SELECT table_name FROM information_schema.tables \
                 WHERE table_catalog = 'pg' AND table_schema = '{s}' ORDER BY table_name"
            ),
            &[],
        )
        .await
        .expect("information_schema")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(listed, vec!["big_orders", "later", "orders"]);

    // psql connected to the source's database lists and describes its
    // tables with Strata's pg_catalog.
    let port = strata.server.addr.port();
    let psql = |command: String| strata_sql_tests::psql(port, "pg", &command);
    let tables = psql(format!("\\dt {s}.*"));
    assert!(
        tables.contains("orders") && tables.contains("later"),
        "{tables}"
    );
    let described = psql(format!("\\d {s}.orders"));
    assert!(
        described.contains("amount") && described.contains("numeric"),
        "{described}"
    );
    // \\d of the table, of its primary key's index and of a table with a
    // foreign key to it (NOT NULL columns, defaults, "Indexes:",
    // "Foreign-key constraints:" and "Referenced by:" included) reads
    // exactly as PostgreSQL's own.
    fixture
        .client
        .batch_execute(&format!(
            "CREATE TABLE {s}.returns (order_id bigint REFERENCES {s}.orders(id) \
             ON DELETE CASCADE, reason text NOT NULL DEFAULT 'unknown')"
        ))
        .await
        .unwrap();
    for object in ["orders", "orders_pkey", "returns"] {
        let command = format!("\\d {s}.{object}");
        let theirs = std::process::Command::new("psql")
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-c", &command])
            .arg(Database::postgres().conninfo)
            .output()
            .expect("psql");
        assert!(theirs.status.success(), "{theirs:?}");
        assert_eq!(psql(command), String::from_utf8_lossy(&theirs.stdout));
    }

    // EXPLAIN shows the SQL sent to PostgreSQL.
    let plan = explain(&client, &format!("SELECT id FROM pg.{s}.orders")).await;
    assert!(
        plan.contains(&format!(
            "PgScanExec: source=pg, sql=SELECT \"id\" FROM \"{s}\".\"orders\""
        )),
        "{plan}"
    );

    // Filters PostgreSQL evaluates the same way, and a LIMIT above them, are
    // sent with the query; the rest is filtered here. Answers match either way.
    let filtered = format!(
        "SELECT id, note FROM pg.{s}.orders \
         WHERE id > 4000 AND amount BETWEEN 20 AND 60.5 AND placed >= DATE '2024-03-01' \
         AND note IS NOT NULL ORDER BY id"
    );
    let plan = explain(&client, &filtered).await;
    assert!(
        plan.contains("WHERE (\"id\" > 4000) AND (\"amount\" >= 20.00) AND (\"amount\" <= 60.50)")
            && plan.contains("(\"placed\" >= DATE '2024-03-01')")
            && plan.contains("(\"note\" IS NOT NULL)"),
        "{plan}"
    );
    let ours: Vec<(i64, String)> = client
        .query(&filtered, &[])
        .await
        .expect("filtered")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let theirs: Vec<(i64, String)> = fixture
        .client
        .query(
            &filtered.replace(&format!("pg.{s}."), &format!("{s}.")),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(!theirs.is_empty());
    assert_eq!(ours, theirs);
    let limited = format!("SELECT id FROM pg.{s}.orders WHERE customer = 7 LIMIT 4");
    let plan = explain(&client, &limited).await;
    assert!(plan.contains("WHERE (\"customer\" = 7) LIMIT 4"), "{plan}");
    let rows = client.query(&limited, &[]).await.expect("limited");
    assert_eq!(rows.len(), 4);
    let texts = client
        .query_one(
            &format!("SELECT count(*) FROM pg.{s}.orders WHERE note = 'note 7'"),
            &[],
        )
        .await
        .expect("a text equality, sent to PostgreSQL");
    assert_eq!(texts.get::<_, i64>(0), 1);

    // A join with a lake table gives PostgreSQL's answer for the same data.
    let lake_dir = tempfile::tempdir().unwrap();
    let customers = lake_dir.path().join("customers.csv");
    let mut csv = String::from("customer,region\n");
    for c in 0..40 {
        csv += &format!("{c},{}\n", ["north", "south", "east", "west"][c % 4]);
    }
    std::fs::write(&customers, &csv).unwrap();
    client
        .batch_execute(&format!(
            "CREATE EXTERNAL TABLE customers STORED AS CSV LOCATION '{}' \
             OPTIONS ('format.has_header' 'true')",
            customers.display()
        ))
        .await
        .expect("the lake table");
    fixture
        .client
        .batch_execute(&format!(
            "CREATE TABLE {s}.customers (customer int, region text);
             INSERT INTO {s}.customers SELECT c, (ARRAY['north','south','east','west'])[c % 4 + 1]
             FROM generate_series(0, 39) c;"
        ))
        .await
        .unwrap();
    let join = |orders: &str, customers: &str| {
        format!(
            "SELECT c.region, count(*) AS n, CAST(sum(o.amount) AS text) AS total \
             FROM {orders} o JOIN {customers} c ON o.customer = c.customer \
             GROUP BY c.region ORDER BY c.region"
        )
    };
    let ours: Vec<(String, i64, String)> = client
        .query(&join(&format!("pg.{s}.orders"), "customers"), &[])
        .await
        .expect("the join")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let theirs: Vec<(String, i64, String)> = fixture
        .client
        .query(
            &join(&format!("{s}.orders"), &format!("{s}.customers")),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(ours, theirs);

    // A table that does not exist is 42P01.
    let error = client
        .query_one(&format!("SELECT * FROM pg.{s}.missing"), &[])
        .await
        .expect_err("no such table");
    assert_eq!(error.code().map(|c| c.code()), Some("42P01"), "{error}");

    drop(strata);
    fixture.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn inserts_into_postgres_are_atomic_and_keep_postgres_errors() {
    let fixture = fixture("writes").await;
    let s = &fixture.schema;
    fixture
        .client
        .batch_execute(&format!(
            "CREATE TABLE {s}.sales (
                 region text PRIMARY KEY, n bigint NOT NULL, total numeric(12, 2),
                 addr inet, tags text[], at timestamptz, day date
             )"
        ))
        .await
        .unwrap();
    let (strata, client) = strata_with_source().await;

    // INSERT ... SELECT from a PostgreSQL table, aggregated in Strata.
    let inserted = client
        .execute(
            &format!(
                "INSERT INTO pg.{s}.sales (region, n, total, addr, tags, at, day) \
                 SELECT 'c' || CAST(customer AS text), count(*), sum(amount), '10.0.0.1', \
                        make_array('x', 'y'), TIMESTAMP '2024-05-01 12:00:00', DATE '2024-05-01' \
                 FROM pg.{s}.orders GROUP BY customer"
            ),
            &[],
        )
        .await
        .expect("insert");
    assert_eq!(inserted, 40);
    let check = |sql: String| {
        let postgres = &fixture.client;
        async move { postgres.query_one(&sql, &[]).await.unwrap() }
    };
    let row = check(format!(
        "SELECT count(*), sum(n)::int8, sum(total)::text, min(addr)::text, min(tags[2]), \
         min(at AT TIME ZONE 'UTC')::text, min(day)::text FROM {s}.sales"
    ))
    .await;
    let expected = check(format!("SELECT sum(amount)::text FROM {s}.orders")).await;
    assert_eq!(row.get::<_, i64>(0), 40);

    assert_eq!(row.get::<_, String>(2), expected.get::<_, String>(0));
    assert_eq!(row.get::<_, String>(3), "10.0.0.1/32");
    assert_eq!(row.get::<_, String>(4), "y");
    assert_eq!(row.get::<_, String>(5), "2024-05-01 12:00:00");
    assert_eq!(row.get::<_, String>(6), "2024-05-01");

    // A duplicate key in the last row: nothing of the statement lands.
    let error = client
        .execute(
            &format!(
                "INSERT INTO pg.{s}.sales (region, n) VALUES ('new1', 1), ('new2', 2), ('c7', 3)"
            ),
            &[],
        )
        .await
        .expect_err("a duplicate key");
    assert_eq!(error.code().map(|c| c.code()), Some("23505"), "{error}");
    // A NULL where PostgreSQL forbids one.
    let error = client
        .execute(
            &format!("INSERT INTO pg.{s}.sales (region, n) VALUES ('new3', 1), ('new4', NULL)"),
            &[],
        )
        .await
        .expect_err("a NULL in a NOT NULL column");
    assert_eq!(error.code().map(|c| c.code()), Some("23502"), "{error}");
    let row = check(format!(
        "SELECT count(*) FROM {s}.sales WHERE region LIKE 'new%'"
    ))
    .await;
    assert_eq!(row.get::<_, i64>(0), 0, "the target is unchanged");
    let row = check(format!("SELECT count(*) FROM {s}.sales")).await;
    assert_eq!(row.get::<_, i64>(0), 40);

    // INSERT OVERWRITE empties and loads in one transaction; a failing one
    // leaves the old rows.
    let error = client
        .execute(
            &format!("INSERT OVERWRITE pg.{s}.sales (region, n) VALUES ('o1', 1), ('o1', 2)"),
            &[],
        )
        .await
        .expect_err("a duplicate key");
    assert_eq!(error.code().map(|c| c.code()), Some("23505"), "{error}");
    let row = check(format!("SELECT count(*) FROM {s}.sales")).await;
    assert_eq!(row.get::<_, i64>(0), 40, "the old rows stay");
    let written = client
        .execute(
            &format!("INSERT OVERWRITE pg.{s}.sales (region, n) VALUES ('o1', 1), ('o2', 2)"),
            &[],
        )
        .await
        .expect("overwrite");
    assert_eq!(written, 2);
    let row = check(format!(
        "SELECT string_agg(region, ',' ORDER BY region) FROM {s}.sales"
    ))
    .await;
    assert_eq!(row.get::<_, String>(0), "o1,o2");

    // Columns an INSERT leaves out get PostgreSQL's defaults: serial,
    // identity, DEFAULT expressions; a column without one gets NULL.
    fixture
        .client
        .batch_execute(&format!(
            "CREATE TABLE {s}.events (
                 id serial PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY,
                 kind text NOT NULL, note text, at timestamptz NOT NULL DEFAULT now(),
                 state text DEFAULT 'new', doubled int GENERATED ALWAYS AS (length(kind) * 2) STORED
             )"
        ))
        .await
        .unwrap();
    let written = client
        .execute(
            &format!(
                "INSERT INTO pg.{s}.events (kind) SELECT region FROM pg.{s}.sales ORDER BY region"
            ),
            &[],
        )
        .await
        .expect("an insert relying on defaults");
    assert_eq!(written, 2);
    client
        .execute(
            &format!("INSERT INTO pg.{s}.events (kind, state) VALUES ('x', NULL)"),
            &[],
        )
        .await
        .expect("an explicit NULL");
    let rows = fixture
        .client
        .query(
            &format!(
                "SELECT id, seq, kind, note, at > now() - interval '1 hour', state, doubled                  FROM {s}.events ORDER BY id"
            ),
            &[],
        )
        .await
        .unwrap();
    // id, seq, kind, note, at is recent, state, doubled
    type Event = (i32, i64, String, Option<String>, bool, Option<String>, i32);
    let seen: Vec<Event> = rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, 1, "o1".into(), None, true, Some("new".into()), 4),
            (2, 2, "o2".into(), None, true, Some("new".into()), 4),
            (3, 3, "x".into(), None, true, None, 2),
        ]
    );

    drop(strata);
    fixture.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_are_created_and_dropped_in_a_source() {
    let fixture = fixture("ddl").await;
    let s = &fixture.schema;
    let (strata, client) = strata_with_source().await;
    let check = |sql: String| {
        let postgres = &fixture.client;
        async move { postgres.query(&sql, &[]).await.unwrap() }
    };

    // CREATE TABLE AS: the table gets the mapped types and the rows.
    let created = client
        .simple_query(&format!(
            "CREATE TABLE pg.{s}.summary AS \
             SELECT customer, count(*) AS n, sum(amount) AS total, min(placed) AS first_day \
             FROM pg.{s}.orders GROUP BY customer"
        ))
        .await
        .expect("create table as");
    assert!(
        created
            .iter()
            .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::CommandComplete(40))),
        "{created:?}"
    );
    let types: Vec<(String, String)> = check(format!(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = '{s}' AND table_name = 'summary' ORDER BY ordinal_position"
    ))
    .await
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(
        types,
        vec![
            ("customer".to_owned(), "integer".to_owned()),
            ("n".to_owned(), "bigint".to_owned()),
            ("total".to_owned(), "numeric".to_owned()),
            ("first_day".to_owned(), "date".to_owned()),
        ]
    );
    let totals = check(format!(
        "SELECT (SELECT sum(total) FROM {s}.summary)::text, (SELECT sum(amount) FROM {s}.orders)::text"
    ))
    .await;
    assert_eq!(totals[0].get::<_, String>(0), totals[0].get::<_, String>(1));

    // CREATE TABLE with columns and a key.
    client
        .batch_execute(&format!(
            "CREATE TABLE pg.{s}.plain (id bigint NOT NULL, name text, PRIMARY KEY (id))"
        ))
        .await
        .expect("create table");
    client
        .batch_execute(&format!("INSERT INTO pg.{s}.plain VALUES (1, 'one')"))
        .await
        .expect("insert");
    let error = client
        .batch_execute(&format!("INSERT INTO pg.{s}.plain VALUES (1, 'again')"))
        .await
        .expect_err("the key holds");
    assert_eq!(error.code().map(|c| c.code()), Some("23505"), "{error}");
    // The same holds for rows copied straight into the table, and for an
    // overwrite: the failed statement leaves the old rows.
    let error = client
        .batch_execute(&format!(
            "INSERT OVERWRITE pg.{s}.plain VALUES (5, 'five'), (6, NULL), (5, 'again')"
        ))
        .await
        .expect_err("the key holds");
    assert_eq!(error.code().map(|c| c.code()), Some("23505"), "{error}");
    let kept = check(format!("SELECT string_agg(id::text, ',') FROM {s}.plain")).await;
    assert_eq!(kept[0].get::<_, String>(0), "1");

    // A CREATE TABLE AS whose query fails leaves no table behind.
    let error = client
        .batch_execute(&format!(
            "CREATE TABLE pg.{s}.broken AS SELECT id / (id - id) AS x FROM pg.{s}.orders"
        ))
        .await
        .expect_err("division by zero");
    assert_eq!(error.code().map(|c| c.code()), Some("22012"), "{error}");
    let left = check(format!("SELECT to_regclass('{s}.broken')::text")).await;
    assert_eq!(left[0].get::<_, Option<String>>(0), None);

    // DROP TABLE drops it in PostgreSQL.
    client
        .batch_execute(&format!(
            "DROP TABLE pg.{s}.summary; DROP TABLE IF EXISTS pg.{s}.never_was"
        ))
        .await
        .expect("drop");
    let gone = check(format!("SELECT to_regclass('{s}.summary')::text")).await;
    assert_eq!(gone[0].get::<_, Option<String>>(0), None);

    drop(strata);
    fixture.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sources_attach_and_detach_with_sql_and_survive_a_restart() {
    let fixture = fixture("attach").await;
    let s = &fixture.schema;
    let conninfo = Database::postgres().conninfo;
    let strata = StrataUnderTest::start().await.expect("Strata");
    let client = connect(&strata.database().conninfo).await;

    client
        .batch_execute(&format!(
            "ATTACH '{conninfo}' AS warehouse (TYPE postgres, PASSWORD_ENV 'STRATA_UNSET_VARIABLE')"
        ))
        .await
        .expect_err("the password variable is not set");
    client
        .batch_execute(&format!("ATTACH '{conninfo}' AS warehouse (TYPE postgres)"))
        .await
        .expect("attach");
    let count = |client: Client| {
        let sql = format!("SELECT count(*) FROM warehouse.{s}.orders");
        async move {
            client
                .query_one(&sql, &[])
                .await
                .map(|r| r.get::<_, i64>(0))
        }
    };
    assert_eq!(
        count(connect(&strata.database().conninfo).await)
            .await
            .unwrap(),
        5000
    );

    let error = client
        .batch_execute(&format!("ATTACH '{conninfo}' AS warehouse"))
        .await
        .expect_err("the name is taken");
    assert_eq!(error.code().map(|c| c.code()), Some("42P04"), "{error}");
    client
        .batch_execute(&format!("ATTACH IF NOT EXISTS '{conninfo}' AS warehouse"))
        .await
        .expect("IF NOT EXISTS");
    let error = client
        .batch_execute("ATTACH 'postgres://app:hunter2@127.0.0.1/shop' AS leaky")
        .await
        .expect_err("a password in the URL");
    assert_eq!(error.code().map(|c| c.code()), Some("22023"), "{error}");
    assert!(!error.to_string().contains("hunter2"), "{error}");

    // SESSION_INIT runs on every connection: here, a read-only source.
    client
        .batch_execute(&format!(
            "ATTACH '{conninfo}' AS readonly \
             (TYPE postgres, SESSION_INIT 'SET default_transaction_read_only = on')"
        ))
        .await
        .expect("attach with a session_init");
    let error = client
        .execute(
            &format!("INSERT INTO readonly.{s}.orders (id, customer) VALUES (999999, 1)"),
            &[],
        )
        .await
        .expect_err("a read-only source");
    assert_eq!(error.code().map(|c| c.code()), Some("25006"), "{error:?}");
    let error = client
        .batch_execute(&format!(
            "ATTACH '{conninfo}' AS broken (TYPE postgres, SESSION_INIT 'SET no_such_setting = 1')"
        ))
        .await
        .expect_err("a failing session_init");
    assert_eq!(error.code().map(|c| c.code()), Some("42704"), "{error:?}");
    assert!(
        error
            .as_db_error()
            .is_some_and(|db| db.message().contains("session_init")),
        "{error:?}"
    );

    // The attachment is kept across a restart.
    drop(client);
    let data = strata.stop();
    let strata = StrataUnderTest::start_in(data).await.expect("Strata again");
    let client = connect(&strata.database().conninfo).await;
    assert_eq!(
        count(connect(&strata.database().conninfo).await)
            .await
            .unwrap(),
        5000
    );

    // DETACH forgets it, also after a restart.
    client
        .batch_execute("DETACH warehouse")
        .await
        .expect("detach");
    let error = count(connect(&strata.database().conninfo).await)
        .await
        .expect_err("detached");
    assert_eq!(error.code().map(|c| c.code()), Some("42P01"), "{error}");
    client
        .batch_execute("DETACH IF EXISTS warehouse")
        .await
        .expect("IF EXISTS");
    drop(client);
    let data = strata.stop();
    let strata = StrataUnderTest::start_in(data).await.expect("Strata again");
    let error = count(connect(&strata.database().conninfo).await)
        .await
        .expect_err("still detached");
    assert_eq!(error.code().map(|c| c.code()), Some("42P01"), "{error}");

    drop(strata);
    fixture.drop().await;
}

/// The text of every row of `sql`, as the server sends it (the text format
/// psql shows); `None` for NULL.
async fn text_rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mapped_type_reads_as_psql_shows_it() {
    let scratch = PgScratch::new("types").await;
    let s = &scratch.schema;
    scratch
        .run(&format!(
            "CREATE TYPE {s}.mood AS ENUM ('sad', 'ok', 'happy');
             CREATE TABLE {s}.types (
                 id int PRIMARY KEY, i2 smallint, i4 integer, i8 bigint,
                 n numeric, n102 numeric(10, 2), n380 numeric(38, 0), n_neg numeric(5, -2),
                 r real, d double precision,
                 t text, vc varchar(20), c char(5), b boolean, by bytea,
                 dt date, tm time, ts timestamp, tstz timestamptz, iv interval,
                 u uuid, j json, jb jsonb, m {s}.mood, ai int[], at text[], cash money
             );
             INSERT INTO {s}.types VALUES
             (1, -32768, 2147483647, -9223372036854775808,
              12345.6789, -99999999.99, 12345678901234567890123456789012345678, 12300,
              3.25, -1.5e-7, 'héllo, wörld', 'vc', 'ab', true, '\\x00ff10',
              '2024-02-29', '23:59:59.999999', '1999-12-31 23:59:59.5', '2024-06-01 12:00:00+02',
              '1 year 2 mons 3 days 04:05:06.7',
              'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{{\"a\": [1, 2]}}', '{{\"b\": null, \"a\": 1}}',
              'happy', '{{1,NULL,3}}', '{{\"x y\",z}}', 12.5),
             (2, 0, 0, 0, 0, 0, 0, 0, 0, 0, '', '', '', false, '\\x', '0001-01-01', '00:00',
              '2000-01-01 00:00', '1970-01-01 00:00+00', '-1 days -00:00:01', '00000000-0000-0000-0000-000000000000',
              '[]', '[]', 'sad', '{{}}', '{{}}', 0),
             (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
              NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);"
        ))
        .await;
    let (strata, client) = strata_with_source().await;
    scratch.run("SET TimeZone = 'UTC'").await;
    client.batch_execute("SET TimeZone = 'UTC'").await.unwrap();

    let theirs = text_rows(
        &scratch.client,
        &format!("SELECT * FROM {s}.types ORDER BY id"),
    )
    .await;
    let ours = text_rows(&client, &format!("SELECT * FROM pg.{s}.types ORDER BY id")).await;
    let names: Vec<String> = scratch
        .client
        .query(
            &format!(
                "SELECT attname::text FROM pg_attribute WHERE attrelid = '{s}.types'::regclass \
                 AND attnum > 0 ORDER BY attnum"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ours.len(), theirs.len());
    let mut differences = Vec::new();
    for (row, (ours, theirs)) in ours.iter().zip(&theirs).enumerate() {
        for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
            if a != b {
                differences.push(format!("row {row} {}: Strata {a:?}, psql {b:?}", names[i]));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    drop(strata);
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn text_filters_top_n_and_partition_options_reach_postgres() {
    let scratch = PgScratch::new("readopts").await;
    let s = &scratch.schema;
    scratch
        .run(&format!(
            "CREATE TABLE {s}.items (
                 id bigint PRIMARY KEY, code text COLLATE \"C\", label text,
                 placed date, amount numeric(10, 2), ratio float8
             );
             INSERT INTO {s}.items
                 SELECT g, 'c' || lpad(g::text, 6, '0'), CASE WHEN g % 7 = 0 THEN NULL ELSE 'Label ' || (g % 50) END,
                        date '2024-01-01' + (g % 300), (g * 37 % 100000) / 100.0, g / 3.0
                 FROM generate_series(1, 30000) g;
             ANALYZE {s}.items;"
        ))
        .await;
    let data = tempfile::tempdir().unwrap();
    let strata = StrataUnderTest::start_with(data, vec![source()])
        .await
        .expect("Strata");
    let client = connect(&strata.database().conninfo).await;
    let here = |sql: &str| sql.replace(&format!("pg.{s}."), &format!("{s}."));
    let rows_of = |rows: Vec<tokio_postgres::Row>| -> Vec<(i64, Option<String>)> {
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    };

    // Text ranges go to PostgreSQL under the C collation; under another
    // collation only equality does.
    let ranged = format!(
        "SELECT id, code FROM pg.{s}.items WHERE code >= 'c001000' AND code < 'c001100' ORDER BY id"
    );
    let plan = explain(&client, &ranged).await;
    assert!(
        plan.contains("(\"code\" >= 'c001000') AND (\"code\" < 'c001100')"),
        "{plan}"
    );
    let ours = rows_of(client.query(&ranged, &[]).await.expect("text range"));
    let theirs = rows_of(scratch.client.query(&here(&ranged), &[]).await.unwrap());
    assert_eq!(ours.len(), 100);
    assert_eq!(ours, theirs);
    let plan = explain(
        &client,
        &format!("SELECT id FROM pg.{s}.items WHERE label > 'Label 4'"),
    )
    .await;
    assert!(!plan.contains("\"label\" >"), "{plan}");
    let equal = format!("SELECT count(*) FROM pg.{s}.items WHERE label IN ('Label 3', 'Label 4')");
    let plan = explain(&client, &equal).await;
    assert!(
        plan.contains("(\"label\" = 'Label 3') OR (\"label\" = 'Label 4')"),
        "{plan}"
    );
    let ours: i64 = client.query_one(&equal, &[]).await.unwrap().get(0);
    let theirs: i64 = scratch
        .client
        .query_one(&here(&equal), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ours, theirs);

    // ORDER BY ... LIMIT goes to PostgreSQL with the order DataFusion uses.
    for (top, pushed) in [
        (
            format!("SELECT id, code FROM pg.{s}.items ORDER BY code DESC LIMIT 5"),
            "ORDER BY \"code\" COLLATE \"C\" DESC NULLS FIRST LIMIT 5",
        ),
        (
            format!(
                "SELECT id, label FROM pg.{s}.items WHERE id > 100 ORDER BY label NULLS FIRST, id DESC LIMIT 7"
            ),
            "ORDER BY \"label\" COLLATE \"C\" ASC NULLS FIRST, \"id\" DESC NULLS FIRST LIMIT 7",
        ),
        (
            format!(
                "SELECT id, CAST(amount AS text) AS a FROM pg.{s}.items ORDER BY amount, id LIMIT 3"
            ),
            "ORDER BY \"amount\" ASC NULLS LAST, \"id\" ASC NULLS LAST LIMIT 3",
        ),
    ] {
        let plan = explain(&client, &top).await;
        assert!(plan.contains(pushed), "{top}\n{plan}");
        let ours = rows_of(client.query(&top, &[]).await.expect("top-N"));
        let theirs_sql = here(&top).replace("ORDER BY label", "ORDER BY label COLLATE \"C\"");
        let theirs = rows_of(scratch.client.query(&theirs_sql, &[]).await.unwrap());
        assert_eq!(ours, theirs, "{top}");
    }
    let plan = explain(
        &client,
        &format!("SELECT id FROM pg.{s}.items ORDER BY ratio LIMIT 3"),
    )
    .await;
    assert!(
        !plan.contains("ORDER BY \"ratio\""),
        "floats are ordered here: {plan}"
    );

    // Spark's partitioning options, set with ALTER TABLE: four ranges of id,
    // which together read every row once.
    let count =
        format!("SELECT count(*), CAST(sum(amount) AS text), count(DISTINCT id) FROM pg.{s}.items");
    let expected = scratch
        .client
        .query_one(
            &format!("SELECT count(*), sum(amount)::text, count(DISTINCT id) FROM {s}.items"),
            &[],
        )
        .await
        .unwrap();
    let same = |row: tokio_postgres::Row| {
        assert_eq!(row.get::<_, i64>(0), expected.get::<_, i64>(0));
        assert_eq!(row.get::<_, String>(1), expected.get::<_, String>(1));
        assert_eq!(row.get::<_, i64>(2), expected.get::<_, i64>(2));
    };
    client
        .batch_execute(&format!(
            "ALTER TABLE pg.{s}.items SET (partition_column = 'id', lower_bound = 1, \
             upper_bound = 30001, num_partitions = 4)"
        ))
        .await
        .expect("partition options");
    let plan = explain(&client, &count).await;
    assert!(
        plan.contains(
            "slices=4: [(\"id\" < 7501 OR \"id\" IS NULL); \"id\" >= 7501 AND \"id\" < 15001"
        ),
        "{plan}"
    );
    same(
        client
            .query_one(&count, &[])
            .await
            .expect("partitioned read"),
    );
    // Spark's own spelling; num_partitions alone sets ctid ranges.
    client
        .batch_execute(&format!(
            "ALTER TABLE pg.{s}.items SET TBLPROPERTIES ('partitionColumn' = NULL, \
             'lowerBound' = NULL, 'upperBound' = NULL, 'numPartitions' = '3')"
        ))
        .await
        .expect("TBLPROPERTIES");
    let plan = explain(&client, &count).await;
    assert!(plan.contains("slices=3: [ctid >= '(0,0)'::tid"), "{plan}");
    same(client.query_one(&count, &[]).await.expect("ctid ranges"));

    for (bad, words) in [
        (
            "partition_column = 'label', lower_bound = 1, upper_bound = 9, num_partitions = 2",
            "integer, date or timestamp",
        ),
        ("partition_column = 'id'", "go together"),
        ("num_partitions = 0", "num_partitions"),
        ("fetch_size = 10", "unrecognized table option"),
    ] {
        let error = client
            .batch_execute(&format!("ALTER TABLE pg.{s}.items SET ({bad})"))
            .await
            .expect_err(bad);
        let message = error.as_db_error().map(|d| d.message().to_owned());
        assert_eq!(error.code().map(|c| c.code()), Some("22023"), "{message:?}");
        assert!(
            message.unwrap_or_default().contains(words),
            "{bad}: {error:?}"
        );
    }
    let error = client
        .batch_execute(
            "CREATE TABLE lake_only (x int); ALTER TABLE lake_only SET (num_partitions = 2)",
        )
        .await
        .expect_err("not a source table");
    assert_eq!(error.code().map(|c| c.code()), Some("0A000"), "{error}");

    // The options outlive a restart.
    drop(client);
    let data = strata.stop();
    let strata = StrataUnderTest::start_with(data, vec![source()])
        .await
        .expect("Strata again");
    let client = connect(&strata.database().conninfo).await;
    let plan = explain(&client, &count).await;
    assert!(plan.contains("slices=3:"), "{plan}");
    client
        .batch_execute(&format!(
            "ALTER TABLE pg.{s}.items SET (num_partitions = DEFAULT)"
        ))
        .await
        .expect("clearing an option");
    let plan = explain(&client, &count).await;
    assert!(!plan.contains("slices=3:"), "{plan}");

    drop(strata);
    scratch.drop().await;
}
