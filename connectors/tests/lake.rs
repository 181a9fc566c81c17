//! The lake's table provider, writer and committer in one process: tables
//! created, appended to, overwritten and read back at every version, with
//! files pruned by partition value and statistics.

use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use datafusion::prelude::SessionContext;
use strata_connectors::lake::catalog::LakeCatalog;
use strata_connectors::lake::commit::CommitMode;
use strata_connectors::lake::snapshot::TableVersion;
use strata_connectors::lake::storage::LakeRoot;
use strata_connectors::lake::table::LakeTable;

async fn lake(dir: &std::path::Path) -> (SessionContext, Arc<LakeCatalog>) {
    let ctx = strata_connectors::session::local_context().unwrap();
    let root = LakeRoot::parse(dir.to_str().unwrap()).unwrap();
    let catalog = Arc::new(LakeCatalog::open(root).await.unwrap());
    ctx.register_catalog("lake", Arc::clone(&catalog) as Arc<dyn CatalogProvider>);
    let scratch = MemoryCatalogProvider::new();
    scratch
        .register_schema("s", Arc::new(MemorySchemaProvider::new()))
        .unwrap();
    ctx.register_catalog("scratch", Arc::new(scratch));
    (ctx, catalog)
}

async fn rows(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

async fn count(ctx: &SessionContext, sql: &str) -> i64 {
    let batches = rows(ctx, sql).await;
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

/// Creates `schema.table` from a query, as CREATE TABLE AS does.
async fn create(
    ctx: &SessionContext,
    catalog: &LakeCatalog,
    schema: &str,
    table: &str,
    columns: Schema,
    partition_columns: &[&str],
    query: &str,
) {
    let lake_schema = catalog.lake_schema(schema).unwrap();
    let url = lake_schema.table_url(table).unwrap();
    let version = TableVersion::new_table(
        url,
        columns,
        partition_columns.iter().map(|c| c.to_string()).collect(),
    );
    let provider = LakeTable::new(format!("{schema}.{table}"), version)
        .with_mode(CommitMode::Create { comment: None });
    let scratch = ctx.catalog("scratch").unwrap().schema("s").unwrap();
    scratch.deregister_table("new").unwrap();
    scratch
        .register_table("new".to_owned(), Arc::new(provider))
        .unwrap();
    rows(ctx, &format!("INSERT INTO scratch.s.new {query}")).await;
    lake_schema.note_created(table);
}

fn orders_schema() -> Schema {
    Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("region", DataType::Utf8, true),
        Field::new("amount", DataType::Decimal128(12, 2), true),
    ])
}

#[tokio::test]
async fn tables_are_written_committed_and_read_at_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, catalog) = lake(dir.path()).await;
    create(
        &ctx,
        &catalog,
        "silver",
        "orders",
        orders_schema(),
        &["region"],
        "SELECT CAST(column1 AS BIGINT), column2, CAST(column3 AS DECIMAL(12, 2)) FROM \
         (VALUES (1, 'north', 10.5), (2, 'south', 20), (3, 'north', 1.25), (4, NULL, 7))",
    )
    .await;
    assert_eq!(
        count(&ctx, "SELECT count(*) FROM lake.silver.orders").await,
        4
    );
    let sum = rows(
        &ctx,
        "SELECT CAST(sum(amount) AS VARCHAR) FROM lake.silver.orders",
    )
    .await;
    assert_eq!(sum[0].column(0).as_string::<i32>().value(0), "38.75");

    // An append is a new version; the first stays readable.
    rows(
        &ctx,
        "INSERT INTO lake.silver.orders VALUES (5, 'west', 100), (6, 'north', 1)",
    )
    .await;
    assert_eq!(
        count(&ctx, "SELECT count(*) FROM lake.silver.orders").await,
        6
    );
    assert_eq!(
        count(&ctx, "SELECT count(*) FROM lake.silver.\"orders@v0\"").await,
        4
    );
    assert_eq!(
        count(
            &ctx,
            "SELECT count(*) FROM lake.silver.orders WHERE region = 'north'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &ctx,
            "SELECT count(*) FROM lake.silver.orders WHERE region IS NULL"
        )
        .await,
        1
    );

    // Partition filters and statistics leave files out of the scan.
    let df = ctx
        .sql("SELECT id FROM lake.silver.orders WHERE region = 'west'")
        .await
        .unwrap();
    let plan = df.create_physical_plan().await.unwrap();
    assert_eq!(
        files_scanned(&plan),
        1,
        "{}",
        datafusion::physical_plan::displayable(plan.as_ref()).indent(true)
    );
    let df = ctx
        .sql("SELECT id FROM lake.silver.orders WHERE id > 4")
        .await
        .unwrap();
    let plan = df.create_physical_plan().await.unwrap();
    assert!(files_scanned(&plan) <= 2);

    // INSERT OVERWRITE replaces every row in one commit.
    rows(
        &ctx,
        "INSERT OVERWRITE lake.silver.orders SELECT id * 10, region, amount FROM lake.silver.orders WHERE id <= 2",
    )
    .await;
    let ids = rows(&ctx, "SELECT id FROM lake.silver.orders ORDER BY id").await;
    let ids: Vec<i64> = ids
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(ids, vec![10, 20]);
    assert_eq!(
        count(&ctx, "SELECT count(*) FROM lake.silver.\"orders@v1\"").await,
        6
    );

    // NOT NULL holds.
    let err = ctx
        .sql("INSERT INTO lake.silver.orders VALUES (NULL, 'x', 1)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not-null"), "{err}");

    // A restart (a new catalog over the same root) finds the table.
    let (ctx, _) = lake(dir.path()).await;
    assert_eq!(
        count(&ctx, "SELECT count(*) FROM lake.silver.orders").await,
        2
    );
    let names = rows(
        &ctx,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'silver'",
    )
    .await;
    assert_eq!(names[0].num_rows(), 1);
}

fn files_scanned(plan: &Arc<dyn ExecutionPlan>) -> usize {
    use datafusion::datasource::physical_plan::FileScanConfig;
    use datafusion::datasource::source::DataSourceExec;
    if let Some(exec) = plan.downcast_ref::<DataSourceExec>()
        && let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>()
    {
        return config.file_groups.iter().map(|g| g.len()).sum();
    }
    let _ = plan.output_partitioning();
    plan.children().iter().map(|c| files_scanned(c)).sum()
}
