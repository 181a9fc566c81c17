//! What pg_catalog says of lake tables beyond what datafusion-pg-catalog
//! reads from the table providers: their NOT NULL columns (the providers show
//! every column nullable, so that the lake's writer reports a NOT NULL
//! violation itself, as 23502), and their partitioning: a partitioned lake
//! table is a partitioned table (`relkind` `p`) whose `pg_get_partkeydef`
//! names its partition columns, so psql's `\d` shows `Partition key: LIST
//! (region)`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{
    CatalogProviderList, SchemaProvider, Session, TableFunctionImpl, TableProvider,
};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use strata_connectors::lake::catalog::LakeCatalog;
use strata_connectors::lake::table::LakeTable;

/// The catalogs as datafusion-pg-catalog reads them, with lake tables'
/// columns as the tables define them (NOT NULL included).
#[derive(Debug, Clone)]
pub struct StrataCatalogInfo {
    pub catalogs: Arc<dyn CatalogProviderList>,
}

impl StrataCatalogInfo {
    fn schema(&self, catalog: &str, schema: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.catalogs
            .catalog(catalog)
            .and_then(|c| c.schema(schema))
    }
}

#[async_trait]
impl CatalogInfo for StrataCatalogInfo {
    async fn catalog_names(&self) -> Result<Vec<String>> {
        Ok(CatalogProviderList::catalog_names(self.catalogs.as_ref()))
    }

    async fn schema_names(&self, catalog_name: &str) -> Result<Option<Vec<String>>> {
        Ok(self
            .catalogs
            .catalog(catalog_name)
            .map(|c| c.schema_names()))
    }

    async fn table_names(
        &self,
        catalog_name: &str,
        schema_name: &str,
    ) -> Result<Option<Vec<String>>> {
        Ok(self
            .schema(catalog_name, schema_name)
            .map(|s| s.table_names()))
    }

    async fn table_schema(
        &self,
        catalog_name: &str,
        schema_name: &str,
        table_name: &str,
    ) -> Result<Option<SchemaRef>> {
        let Some(schema) = self.schema(catalog_name, schema_name) else {
            return Ok(None);
        };
        Ok(schema
            .table(table_name)
            .await?
            .map(|table| match table.downcast_ref::<LakeTable>() {
                Some(lake) => Arc::clone(&lake.version.schema),
                None => table.schema(),
            }))
    }

    async fn table_type(
        &self,
        catalog_name: &str,
        schema_name: &str,
        table_name: &str,
    ) -> Result<Option<TableType>> {
        match self.schema(catalog_name, schema_name) {
            Some(schema) => schema.table_type(table_name).await,
            None => Ok(None),
        }
    }
}

/// The partition columns of the partitioned lake tables pg_class last
/// listed, by their oid.
#[derive(Debug, Default)]
pub struct PartitionKeys {
    by_oid: RwLock<HashMap<i64, Vec<String>>>,
}

impl PartitionKeys {
    fn get(&self, oid: i64) -> Option<Vec<String>> {
        self.by_oid
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&oid)
            .cloned()
    }
}

/// pg_catalog with `pg_class` marking partitioned lake tables.
#[derive(Debug)]
pub struct PgCatalogWithLake {
    inner: Arc<dyn SchemaProvider>,
    lake: Arc<LakeCatalog>,
    keys: Arc<PartitionKeys>,
}

impl PgCatalogWithLake {
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        lake: Arc<LakeCatalog>,
        keys: Arc<PartitionKeys>,
    ) -> Self {
        Self { inner, lake, keys }
    }
}

const PG_CLASS: &str = "pg_class";

#[async_trait]
impl SchemaProvider for PgCatalogWithLake {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let table = self.inner.table(name).await?;
        if !name.eq_ignore_ascii_case(PG_CLASS) {
            return Ok(table);
        }
        let (Some(classes), Some(namespaces)) = (table, self.inner.table("pg_namespace").await?)
        else {
            return Ok(None);
        };
        Ok(Some(Arc::new(PgClass {
            classes,
            namespaces,
            lake: Arc::clone(&self.lake),
            keys: Arc::clone(&self.keys),
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// `pg_class`, with `relkind` `p` for partitioned lake tables.
#[derive(Debug)]
struct PgClass {
    classes: Arc<dyn TableProvider>,
    namespaces: Arc<dyn TableProvider>,
    lake: Arc<LakeCatalog>,
    keys: Arc<PartitionKeys>,
}

async fn all_rows(table: &Arc<dyn TableProvider>, state: &dyn Session) -> Result<Vec<RecordBatch>> {
    let plan: Arc<dyn ExecutionPlan> = table.scan(state, None, &[], None).await?;
    collect(plan, state.task_ctx()).await
}

/// An oid column's values, whatever integer type carries them.
fn oids(column: &ArrayRef) -> Result<Vec<Option<i64>>> {
    let cast = datafusion::arrow::compute::cast(column, &DataType::Int64)?;
    Ok(cast
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .iter()
        .collect())
}

#[async_trait]
impl TableProvider for PgClass {
    fn schema(&self) -> SchemaRef {
        self.classes.schema()
    }

    fn table_type(&self) -> TableType {
        self.classes.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut names: HashMap<i64, String> = HashMap::new();
        for batch in all_rows(&self.namespaces, state).await? {
            let (Ok(oid), Ok(name)) = (
                batch.schema().index_of("oid"),
                batch.schema().index_of("nspname"),
            ) else {
                continue;
            };
            let names_column = batch.column(name).as_string::<i32>().clone();
            for (row, oid) in oids(batch.column(oid))?.into_iter().enumerate() {
                if let Some(oid) = oid {
                    names.insert(oid, names_column.value(row).to_owned());
                }
            }
        }
        let mut keys = HashMap::new();
        let mut batches = all_rows(&self.classes, state).await?;
        for batch in &mut batches {
            let schema = batch.schema();
            let (Ok(oid), Ok(relname), Ok(namespace), Ok(relkind)) = (
                schema.index_of("oid"),
                schema.index_of("relname"),
                schema.index_of("relnamespace"),
                schema.index_of("relkind"),
            ) else {
                continue;
            };
            let table_oids = oids(batch.column(oid))?;
            let namespace_oids = oids(batch.column(namespace))?;
            let relnames = batch.column(relname).as_string::<i32>().clone();
            let kinds = batch.column(relkind).as_string::<i32>().clone();
            let mut changed = false;
            let new_kinds: StringArray = (0..batch.num_rows())
                .map(|row| {
                    let kind = kinds.is_valid(row).then(|| kinds.value(row).to_owned());
                    let partitioned = namespace_oids[row]
                        .and_then(|n| names.get(&n))
                        .and_then(|schema| self.lake.lake_schema(schema))
                        .and_then(|schema| schema.partition_columns(relnames.value(row)))
                        .filter(|columns| !columns.is_empty());
                    match (partitioned, table_oids[row]) {
                        (Some(columns), Some(oid)) if kind.as_deref() == Some("r") => {
                            keys.insert(oid, columns);
                            changed = true;
                            Some("p".to_owned())
                        }
                        _ => kind,
                    }
                })
                .collect();
            if changed {
                let mut columns = batch.columns().to_vec();
                columns[relkind] = Arc::new(new_kinds);
                *batch = RecordBatch::try_new(schema, columns)?;
            }
        }
        *self.keys.by_oid.write().unwrap_or_else(|p| p.into_inner()) = keys;
        MemTable::try_new(self.classes.schema(), vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// `pg_get_partkeydef(oid)`: `LIST (col, ...)` for a partitioned lake table
/// pg_class listed, empty otherwise.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgGetPartkeydef {
    signature: Signature,
    keys: KeysHandle,
}

/// The shared keys, compared by identity (UDFs must be comparable).
#[derive(Debug)]
struct KeysHandle(Arc<PartitionKeys>);

impl PartialEq for KeysHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for KeysHandle {}

impl std::hash::Hash for KeysHandle {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
}

/// The `pg_get_partkeydef` that reads lake tables' partitioning.
pub fn pg_get_partkeydef(keys: Arc<PartitionKeys>) -> ScalarUDF {
    ScalarUDF::new_from_impl(PgGetPartkeydef {
        signature: Signature::any(1, Volatility::Stable),
        keys: KeysHandle(keys),
    })
}

impl ScalarUDFImpl for PgGetPartkeydef {
    fn name(&self) -> &str {
        "pg_get_partkeydef"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)));
        };
        let array = arg.to_array(args.number_rows)?;
        let oids = match array.data_type() {
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
                let text = datafusion::arrow::compute::cast(&array, &DataType::Utf8)?;
                text.as_string::<i32>()
                    .iter()
                    .map(|v| v.and_then(|v| v.trim().parse::<i64>().ok()))
                    .collect::<Vec<_>>()
            }
            _ => oids(&array)?,
        };
        let defs: StringArray = oids
            .into_iter()
            .map(|oid| {
                let columns = oid.and_then(|oid| self.keys.0.get(oid));
                Some(columns.map_or_else(String::new, |c| format!("LIST ({})", c.join(", "))))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(defs)))
    }
}

/// `pg_partition_ancestors(regclass)`: the table and the partitioned tables
/// above it. No Strata table is a partition of another, so that is the table
/// itself (psql's `\d` joins it with pg_constraint for inherited foreign
/// keys).
#[derive(Debug)]
pub struct PgPartitionAncestors;

impl TableFunctionImpl for PgPartitionAncestors {
    fn call(&self, args: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        let relids: Vec<i32> = match args {
            [Expr::Literal(value, _)] if value.is_null() => Vec::new(),
            [Expr::Literal(ScalarValue::Utf8(Some(text)), _)]
            | [Expr::Literal(ScalarValue::Utf8View(Some(text)), _)]
            | [Expr::Literal(ScalarValue::LargeUtf8(Some(text)), _)] => match text.trim().parse() {
                Ok(oid) => vec![oid],
                Err(_) => return plan_err!("pg_partition_ancestors takes a table's oid"),
            },
            [Expr::Literal(value, _)] => match value.cast_to(&DataType::Int32) {
                Ok(ScalarValue::Int32(Some(oid))) => vec![oid],
                _ => return plan_err!("pg_partition_ancestors takes a table's oid"),
            },
            _ => return plan_err!("pg_partition_ancestors takes a table's oid"),
        };
        let schema = Arc::new(Schema::new(vec![Field::new(
            "relid",
            DataType::Int32,
            false,
        )]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int32Array::from(relids))],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_read_back_by_oid() {
        let keys = Arc::new(PartitionKeys::default());
        keys.by_oid
            .write()
            .unwrap()
            .insert(16390, vec!["region".to_owned(), "day".to_owned()]);
        assert_eq!(keys.get(16390).unwrap().join(","), "region,day");
        assert!(keys.get(1).is_none());
    }
}
