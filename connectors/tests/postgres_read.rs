//! Reads a table holding every mapped type from the PostgreSQL on this
//! machine through binary COPY and checks each Arrow value.

use std::sync::Arc;

use arrow::array::{
    Array, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array, FixedSizeBinaryArray,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, IntervalMonthDayNanoArray,
    ListArray, RecordBatch, StringArray, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, IntervalMonthDayNano, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};
use futures::TryStreamExt;
use strata_connectors::postgres::types::PgKind;
use strata_connectors::postgres::{ReadError, describe, quote_ident, read_query, select_list};
use tokio_postgres::NoTls;

fn conninfo() -> String {
    std::env::var("STRATA_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned())
}

async fn connect() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&conninfo(), NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is needed on {} and is not reachable: {e}\n\
                 Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
                conninfo()
            )
        });
    tokio::spawn(connection);
    client
}

/// A schema of its own, dropped at the end.
struct Scratch {
    client: Arc<tokio_postgres::Client>,
    schema: String,
}

impl Scratch {
    async fn new(name: &str) -> Self {
        let client = Arc::new(connect().await);
        let schema = format!("strata_{name}_{}", std::process::id());
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .await
            .expect("create schema");
        Self { client, schema }
    }

    async fn drop(self) {
        let _ = self
            .client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .await;
    }

    async fn read(&self, table: &str) -> Result<RecordBatch, ReadError> {
        let columns = describe(&self.client, &self.schema, table).await?;
        let query = format!(
            "SELECT {} FROM {}.{}",
            select_list(&columns),
            quote_ident(&self.schema),
            quote_ident(table)
        );
        let batches: Vec<RecordBatch> = read_query(Arc::clone(&self.client), query, columns, 1000)
            .try_collect()
            .await?;
        assert_eq!(batches.len(), 1, "one batch");
        Ok(batches.into_iter().next().expect("a batch"))
    }
}

fn col<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| {
            panic!(
                "column {name} has type {}",
                batch.column_by_name(name).unwrap().data_type()
            )
        })
}

/// Row 0 of an Int64 column.
fn int64(batch: &RecordBatch, column: usize) -> i64 {
    batch
        .column(column)
        .as_primitive::<arrow::datatypes::Int64Type>()
        .value(0)
}

fn micros(text: &str) -> i64 {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .expect("a timestamp")
        .and_utc()
        .timestamp_micros()
}

#[tokio::test]
async fn every_mapped_type_reads_exactly() {
    let scratch = Scratch::new("types").await;
    let s = &scratch.schema;
    scratch
        .client
        .batch_execute(&format!(
            "CREATE TYPE {s}.mood AS ENUM ('sad', 'happy');
             CREATE DOMAIN {s}.positive AS integer CHECK (VALUE > 0);
             CREATE TABLE {s}.every (
                 b boolean, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
                 n12_2 numeric(12, 2), n numeric, t text, vc varchar(5), ch char(4), nm name,
                 by bytea, d date, tm time, ts timestamp, tstz timestamptz, iv interval,
                 u uuid, j json, jb jsonb, e {s}.mood, dom {s}.positive,
                 ia integer[], ta text[], ea {s}.mood[], money_ money, ip inet
             );
             SET TIME ZONE 'UTC';
             INSERT INTO {s}.every VALUES (
                 true, -7, 2147483647, -9223372036854775808, 1.5, -2.25e300,
                 12345.67, 3.14159265358979, 'héllo', 'abc', 'ab', 'pg_class',
                 '\\x00ff', '2024-02-29', '13:45:30.5', '2024-02-29 13:45:30.123456',
                 '2024-02-29 13:45:30+02', '1 year 2 mons 3 days 04:05:06.5',
                 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{{\"a\": 1}}', '{{\"b\": [1, 2]}}',
                 'happy', 5, '{{1,NULL,3}}', '{{a,b}}', '{{sad,happy}}', 12.34, '10.0.0.1/8'
             );
             INSERT INTO {s}.every DEFAULT VALUES;"
        ))
        .await
        .expect("the table");

    let batch = scratch.read("every").await.expect("read");
    assert_eq!(batch.num_rows(), 2);
    let schema = batch.schema();
    let kind = |name: &str| schema.field_with_name(name).unwrap().data_type().clone();
    assert_eq!(kind("n12_2"), DataType::Decimal128(12, 2));
    assert_eq!(kind("n"), DataType::Decimal128(38, 10));
    assert_eq!(
        kind("tstz"),
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(kind("dom"), DataType::Int32);

    assert!(col::<BooleanArray>(&batch, "b").value(0));
    assert_eq!(col::<Int16Array>(&batch, "i2").value(0), -7);
    assert_eq!(col::<Int32Array>(&batch, "i4").value(0), i32::MAX);
    assert_eq!(col::<Int64Array>(&batch, "i8").value(0), i64::MIN);
    assert_eq!(col::<Float32Array>(&batch, "f4").value(0), 1.5);
    assert_eq!(col::<Float64Array>(&batch, "f8").value(0), -2.25e300);
    assert_eq!(col::<Decimal128Array>(&batch, "n12_2").value(0), 1_234_567);
    // 3.14159265358979 at scale 10, rounded half away from zero
    assert_eq!(col::<Decimal128Array>(&batch, "n").value(0), 31_415_926_536);
    assert_eq!(col::<StringArray>(&batch, "t").value(0), "héllo");
    assert_eq!(col::<StringArray>(&batch, "vc").value(0), "abc");
    assert_eq!(col::<StringArray>(&batch, "ch").value(0), "ab  ");
    assert_eq!(col::<StringArray>(&batch, "nm").value(0), "pg_class");
    assert_eq!(col::<BinaryArray>(&batch, "by").value(0), &[0x00, 0xff]);
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let leap_day = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    assert_eq!(
        col::<Date32Array>(&batch, "d").value(0),
        (leap_day - epoch).num_days() as i32
    );
    assert_eq!(
        col::<Time64MicrosecondArray>(&batch, "tm").value(0),
        (13 * 3600 + 45 * 60 + 30) * 1_000_000 + 500_000
    );
    assert_eq!(
        col::<TimestampMicrosecondArray>(&batch, "ts").value(0),
        micros("2024-02-29 13:45:30.123456")
    );
    assert_eq!(
        col::<TimestampMicrosecondArray>(&batch, "tstz").value(0),
        micros("2024-02-29 11:45:30")
    );
    assert_eq!(
        col::<IntervalMonthDayNanoArray>(&batch, "iv").value(0),
        IntervalMonthDayNano::new(14, 3, (4 * 3600 + 5 * 60 + 6) * 1_000_000_000 + 500_000_000)
    );
    assert_eq!(
        col::<FixedSizeBinaryArray>(&batch, "u").value(0),
        uuid::Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
            .unwrap()
            .as_bytes()
    );
    assert_eq!(col::<StringArray>(&batch, "j").value(0), "{\"a\": 1}");
    assert_eq!(col::<StringArray>(&batch, "jb").value(0), "{\"b\": [1, 2]}");
    assert_eq!(col::<StringArray>(&batch, "e").value(0), "happy");
    assert_eq!(col::<Int32Array>(&batch, "dom").value(0), 5);
    let ints = col::<ListArray>(&batch, "ia").value(0);
    let ints = ints.as_primitive::<arrow::datatypes::Int32Type>();
    assert_eq!(ints.len(), 3);
    assert_eq!(
        (ints.value(0), ints.is_null(1), ints.value(2)),
        (1, true, 3)
    );
    let texts = col::<ListArray>(&batch, "ta").value(0);
    assert_eq!(texts.as_string::<i32>().value(1), "b");
    let moods = col::<ListArray>(&batch, "ea").value(0);
    assert_eq!(moods.as_string::<i32>().value(0), "sad");
    assert_eq!(col::<StringArray>(&batch, "money_").value(0), "$12.34");
    assert_eq!(col::<StringArray>(&batch, "ip").value(0), "10.0.0.1/8");

    // The second row is all NULL.
    for column in batch.columns() {
        assert!(column.is_null(1), "{}", column.data_type());
    }
    let kinds: Vec<PgKind> = describe(&scratch.client, &scratch.schema, "every")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.kind)
        .collect();
    assert!(kinds.contains(&PgKind::TextFallback));
    scratch.drop().await;
}

#[tokio::test]
async fn values_without_an_arrow_form_name_their_column() {
    let scratch = Scratch::new("limits").await;
    let s = &scratch.schema;
    scratch
        .client
        .batch_execute(&format!(
            "CREATE TABLE {s}.odd (id int, n numeric(5, 1), ts timestamp);
             INSERT INTO {s}.odd VALUES (1, 'NaN', 'infinity');"
        ))
        .await
        .expect("the table");
    let error = scratch
        .read("odd")
        .await
        .expect_err("NaN has no decimal form");
    assert!(error.to_string().contains("column \"n\""), "{error}");
    assert!(matches!(
        scratch.read("missing").await,
        Err(ReadError::UndefinedTable(_))
    ));
    scratch.drop().await;
}

#[tokio::test]
async fn a_large_table_streams_in_batches() {
    let scratch = Scratch::new("large").await;
    let s = &scratch.schema;
    scratch
        .client
        .batch_execute(&format!(
            "CREATE TABLE {s}.big AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 25000) g"
        ))
        .await
        .expect("the table");
    let columns = describe(&scratch.client, s, "big").await.unwrap();
    let query = format!("SELECT {} FROM {s}.big", select_list(&columns));
    let batches: Vec<RecordBatch> = read_query(Arc::clone(&scratch.client), query, columns, 4096)
        .try_collect()
        .await
        .expect("read");
    assert_eq!(batches.len(), 7);
    let total: i64 = batches
        .iter()
        .map(|b| {
            b.column(0)
                .as_primitive::<arrow::datatypes::Int32Type>()
                .values()
                .iter()
                .map(|v| i64::from(*v))
                .sum::<i64>()
        })
        .sum();
    assert_eq!(total, 25000 * 25001 / 2);
    scratch.drop().await;
}

#[tokio::test]
async fn a_table_reads_through_datafusion_and_its_plans_travel_without_the_password() {
    use datafusion_proto::bytes::{
        logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
    };
    use datafusion_proto::physical_plan::AsExecutionPlan;
    use datafusion_proto::protobuf::PhysicalPlanNode;
    use strata_connectors::codec::{logical_codec, physical_codec};
    use strata_connectors::postgres::source::{PasswordRef, PgSource};
    use strata_connectors::postgres::table::PgTable;

    let scratch = Scratch::new("provider").await;
    let s = &scratch.schema;
    scratch
        .client
        .batch_execute(&format!(
            "CREATE TABLE {s}.items AS SELECT g AS id, 'item ' || g AS label FROM generate_series(1, 1000) g"
        ))
        .await
        .expect("the table");

    // Trust authentication ignores the password; it must still never travel.
    let secret = "pw-7f3a-never-in-plans";
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("STRATA_TEST_SOURCE_PASSWORD", secret) };
    let source = PgSource::new(
        "pg",
        &conninfo(),
        PasswordRef::Env("STRATA_TEST_SOURCE_PASSWORD".into()),
    )
    .expect("a source");
    let table = PgTable::load(&source, s, "items").await.expect("the table");
    let ctx = strata_connectors::session::local_context().expect("a context");
    ctx.register_table("items", Arc::new(table))
        .expect("registered");

    let sql = "SELECT count(*), sum(id), max(label) FROM items WHERE id > 10";
    let expected = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let row = &expected[0];
    assert_eq!(int64(row, 0), 990);
    assert_eq!(int64(row, 1), (11..=1000).sum::<i64>());

    // EXPLAIN shows the SQL sent to PostgreSQL.
    let explain = ctx
        .sql(&format!("EXPLAIN {sql}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&explain)
        .unwrap()
        .to_string();
    assert!(
        text.contains("PgScanExec: source=pg, sql=SELECT \"id\", \"label\" FROM"),
        "{text}"
    );

    // The logical plan through the codec the server sends with.
    let logical = ctx.sql(sql).await.unwrap().into_optimized_plan().unwrap();
    let bytes = logical_plan_to_bytes_with_extension_codec(&logical, logical_codec().as_ref())
        .expect("encoded");
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    let decoded = logical_plan_from_bytes_with_extension_codec(
        &bytes,
        &ctx.task_ctx(),
        logical_codec().as_ref(),
    )
    .expect("decoded");
    let again = ctx
        .execute_logical_plan(decoded)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(again, expected);

    // The physical plan through the codec the scheduler sends with.
    let physical = ctx
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let codec = physical_codec();
    let proto =
        PhysicalPlanNode::try_from_physical_plan(physical, codec.as_ref()).expect("encoded");
    let text = format!("{proto:?}");
    assert!(!text.contains(secret));
    let decoded = proto
        .try_into_physical_plan(&ctx.task_ctx(), codec.as_ref())
        .expect("decoded");
    let again = datafusion::physical_plan::collect(decoded, ctx.task_ctx())
        .await
        .unwrap();
    assert_eq!(again, expected);
    scratch.drop().await;
}

#[tokio::test]
async fn an_unreachable_source_is_08001_and_names_the_source_not_the_password() {
    use strata_connectors::postgres::source::{PasswordRef, PgSource};
    use strata_connectors::sqlstate::{SqlState, message, sqlstate};

    let secret = "pw-unreachable-5e1d";
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("STRATA_TEST_UNREACHABLE_PASSWORD", secret) };
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let source = PgSource::new(
        "warehouse",
        &format!("postgres://app@127.0.0.1:{port}/shop"),
        PasswordRef::Env("STRATA_TEST_UNREACHABLE_PASSWORD".into()),
    )
    .unwrap();
    let error = source.connect().await.expect_err("nothing listens");
    let error = strata_connectors::postgres::table::to_datafusion(error.into());
    assert_eq!(sqlstate(&error), SqlState::UNABLE_TO_CONNECT);
    let text = message(&error);
    assert!(text.contains("\"warehouse\""), "{text}");
    assert!(!text.contains(secret), "{text}");
    assert!(
        matches!(error, datafusion::error::DataFusionError::IoError(_)),
        "retryable"
    );
}

#[tokio::test]
async fn a_large_table_reads_in_ctid_slices_that_each_task_can_take_alone() {
    use datafusion_proto::physical_plan::AsExecutionPlan;
    use datafusion_proto::protobuf::PhysicalPlanNode;
    use strata_connectors::codec::physical_codec;
    use strata_connectors::postgres::sliced::{as_sliced, from_sliced};
    use strata_connectors::postgres::source::{PasswordRef, PgSource};
    use strata_connectors::postgres::table::PgTable;

    let scratch = Scratch::new("sliced").await;
    let s = &scratch.schema;
    scratch
        .client
        .batch_execute(&format!(
            "CREATE TABLE {s}.wide AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 300000) g"
        ))
        .await
        .expect("the table");
    let source = PgSource::new("pg", &conninfo(), PasswordRef::None).unwrap();
    let table = PgTable::load(&source, s, "wide").await.unwrap();
    let config = strata_connectors::session::session_config().with_target_partitions(4);
    let ctx = datafusion::prelude::SessionContext::new_with_state(
        strata_connectors::session::session_state(config).unwrap(),
    );
    ctx.register_table("wide", Arc::new(table)).unwrap();
    let sql = "SELECT count(*), sum(id) FROM wide WHERE id > 0";
    let answer = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let row = &answer[0];
    assert_eq!(int64(row, 0), 300_000);
    assert_eq!(int64(row, 1), 300_000 * 300_001 / 2);

    // The scan is four slices; a plan holding only some of them (what
    // Ballista hands one task) reads only those rows, and survives the codec.
    let scan = ctx
        .sql("SELECT id FROM wide WHERE id > 0")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let mut leaf = scan.clone();
    while let Some(child) = leaf.children().first().map(|c| Arc::clone(c)) {
        leaf = child;
    }
    let (spec, groups) = as_sliced(&leaf).expect("a sliced scan");
    assert_eq!(groups, vec![vec![0], vec![1], vec![2], vec![3]]);
    assert!(
        spec.slice_sql(3)
            .unwrap()
            .contains("WHERE (\"id\" > 0) AND ctid >= '(")
    );
    let mut total = 0;
    for part in [vec![vec![0], vec![2]], vec![vec![1]], vec![vec![3]]] {
        let plan = from_sliced(spec.clone(), part);
        let proto = PhysicalPlanNode::try_from_physical_plan(plan, physical_codec().as_ref())
            .expect("encoded");
        let plan = proto
            .try_into_physical_plan(&ctx.task_ctx(), physical_codec().as_ref())
            .expect("decoded");
        let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx())
            .await
            .unwrap();
        total += batches.iter().map(RecordBatch::num_rows).sum::<usize>();
    }
    assert_eq!(total, 300_000, "every row once over the slices");
    assert!(spec.snapshot.is_some());

    // Rows committed after planning are not seen by any slice: all of them
    // read the snapshot exported when the scan was planned.
    let planned = ctx
        .sql("SELECT count(*), sum(id) FROM wide WHERE id > 0")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    scratch
        .client
        .batch_execute(&format!(
            "INSERT INTO {s}.wide SELECT g, 'late' FROM generate_series(300001, 310000) g;
             UPDATE {s}.wide SET id = id + 1000000 WHERE id <= 1000;
             DELETE FROM {s}.wide WHERE id BETWEEN 150000 AND 150999;"
        ))
        .await
        .unwrap();
    let batches = datafusion::physical_plan::collect(planned, ctx.task_ctx())
        .await
        .unwrap();
    let row = &batches[0];
    assert_eq!(int64(row, 0), 300_000);
    assert_eq!(
        int64(row, 1),
        300_000 * 300_001 / 2,
        "one snapshot, from before the changes"
    );
    scratch.drop().await;
}
