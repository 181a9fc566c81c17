//! What pg_catalog says of lake tables beyond what datafusion-pg-catalog
//! reads from the table providers: their NOT NULL columns (the providers show
//! every column nullable, so that the lake's writer reports a NOT NULL
//! violation itself, as 23502), and their partitioning: a partitioned lake
//! table is a partitioned table (`relkind` `p`) whose `pg_get_partkeydef`
//! names its partition columns, so psql's `\d` shows `Partition key: LIST
//! (region)`; and the sizes and comments psql's `\dt+` and `\d+` show.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{
    CatalogProviderList, SchemaProvider, Session, TableFunctionImpl, TableProvider,
};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarUDF, Signature, TypeSignature, Volatility,
};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use strata_connectors::lake::catalog::{LakeCatalog, TableFacts};
use strata_connectors::lake::table::LakeTable;

use super::functions::{Answer, catalog_function};

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

/// The lake tables pg_class last listed, by their oid: what the catalog
/// functions (`pg_get_partkeydef`, `pg_table_size`, `obj_description`,
/// `col_description`) answer from.
#[derive(Debug, Default)]
pub struct LakeRelations {
    by_oid: RwLock<HashMap<i64, TableFacts>>,
}

impl LakeRelations {
    fn get(&self, oid: i64) -> Option<TableFacts> {
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
    relations: Arc<LakeRelations>,
}

impl PgCatalogWithLake {
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        lake: Arc<LakeCatalog>,
        relations: Arc<LakeRelations>,
    ) -> Self {
        Self {
            inner,
            lake,
            relations,
        }
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
            relations: Arc::clone(&self.relations),
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
    relations: Arc<LakeRelations>,
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
        let mut relations = HashMap::new();
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
                    let facts = namespace_oids[row]
                        .and_then(|n| names.get(&n))
                        .and_then(|schema| self.lake.lake_schema(schema))
                        .and_then(|schema| schema.facts(relnames.value(row)));
                    let (Some(facts), Some(oid)) = (facts, table_oids[row]) else {
                        return kind;
                    };
                    let partitioned = !facts.partition_columns.is_empty();
                    relations.insert(oid, facts);
                    if partitioned && kind.as_deref() == Some("r") {
                        changed = true;
                        Some("p".to_owned())
                    } else {
                        kind
                    }
                })
                .collect();
            if changed {
                let mut columns = batch.columns().to_vec();
                columns[relkind] = Arc::new(new_kinds);
                *batch = RecordBatch::try_new(schema, columns)?;
            }
        }
        *self
            .relations
            .by_oid
            .write()
            .unwrap_or_else(|p| p.into_inner()) = relations;
        MemTable::try_new(self.classes.schema(), vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// The catalog functions that describe lake tables by oid:
/// `pg_get_partkeydef(oid)` (`LIST (col, ...)` for a partitioned table),
/// `pg_table_size`, `pg_relation_size` and `pg_total_relation_size` (the
/// bytes of its live files), `obj_description(oid, 'pg_class')` and
/// `col_description(oid, attnum)` (its comments). Each answers NULL for an
/// oid that is not a lake table pg_class listed.
pub fn relation_functions(relations: Arc<LakeRelations>) -> Vec<ScalarUDF> {
    let by_oid = |arities: &[usize]| {
        Signature::one_of(
            arities.iter().map(|n| TypeSignature::Any(*n)).collect(),
            Volatility::Stable,
        )
    };
    let text = |relations: &Arc<LakeRelations>,
                describe: fn(&TableFacts, &[Option<String>]) -> Option<String>|
     -> Answer {
        let relations = Arc::clone(relations);
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let oids = oids(&arrays[0])?;
            let rest = arrays[1..]
                .iter()
                .map(|a| datafusion::arrow::compute::cast(a, &DataType::Utf8))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let answers: StringArray = oids
                .iter()
                .enumerate()
                .map(|(row, oid)| {
                    let facts = relations.get((*oid)?)?;
                    let rest: Vec<Option<String>> = rest
                        .iter()
                        .map(|a| {
                            let a = a.as_string::<i32>();
                            a.is_valid(row).then(|| a.value(row).to_owned())
                        })
                        .collect();
                    describe(&facts, &rest)
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(answers)))
        })
    };
    let mut functions = vec![
        catalog_function(
            "pg_get_partkeydef",
            by_oid(&[1]),
            DataType::Utf8,
            text(&relations, |facts, _| {
                (!facts.partition_columns.is_empty())
                    .then(|| format!("LIST ({})", facts.partition_columns.join(", ")))
            }),
        ),
        catalog_function(
            "obj_description",
            by_oid(&[1, 2]),
            DataType::Utf8,
            text(&relations, |facts, rest| match rest.first() {
                Some(Some(catalog)) if catalog != "pg_class" => None,
                _ => facts.comment.clone(),
            }),
        ),
        catalog_function(
            "col_description",
            by_oid(&[2]),
            DataType::Utf8,
            text(&relations, |facts, rest| {
                let position: usize = rest.first()?.as_deref()?.trim().parse().ok()?;
                facts.column_comments.get(position.checked_sub(1)?)?.clone()
            }),
        ),
    ];
    for name in [
        "pg_table_size",
        "pg_relation_size",
        "pg_total_relation_size",
    ] {
        let relations = Arc::clone(&relations);
        functions.push(catalog_function(
            name,
            by_oid(&[1, 2]),
            DataType::Int64,
            Arc::new(move |args: &[ColumnarValue]| {
                let arrays = ColumnarValue::values_to_arrays(args)?;
                let sizes: Int64Array = oids(&arrays[0])?
                    .into_iter()
                    .map(|oid| {
                        let facts = relations.get(oid?)?;
                        i64::try_from(facts.bytes).ok()
                    })
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(sizes)))
            }),
        ));
    }
    functions
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
    use datafusion::logical_expr::ScalarFunctionArgs;

    use super::*;

    #[test]
    fn lake_tables_are_described_by_oid() {
        let relations = Arc::new(LakeRelations::default());
        relations.by_oid.write().unwrap().insert(
            16390,
            TableFacts {
                partition_columns: vec!["region".to_owned(), "day".to_owned()],
                bytes: 2048,
                comment: Some("orders".to_owned()),
                column_comments: vec![None, Some("where".to_owned())],
            },
        );
        let functions = relation_functions(relations);
        let call = |name: &str, args: Vec<ScalarValue>| {
            let udf = functions.iter().find(|f| f.name() == name).unwrap();
            let fields: Vec<_> = args
                .iter()
                .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
                .collect();
            let answer = udf
                .invoke_with_args(ScalarFunctionArgs {
                    args: args.into_iter().map(ColumnarValue::Scalar).collect(),
                    arg_fields: fields,
                    number_rows: 1,
                    return_field: Arc::new(Field::new("r", udf.return_type(&[]).unwrap(), true)),
                    config_options: Arc::default(),
                })
                .unwrap();
            let array = answer.to_array(1).unwrap();
            ScalarValue::try_from_array(&array, 0).unwrap().to_string()
        };
        let oid = || ScalarValue::Int32(Some(16390));
        let other = || ScalarValue::Int32(Some(1));
        let text = |t: &str| ScalarValue::Utf8(Some(t.to_owned()));
        assert_eq!(call("pg_get_partkeydef", vec![oid()]), "LIST (region, day)");
        assert_eq!(call("pg_get_partkeydef", vec![other()]), "NULL");
        assert_eq!(call("pg_table_size", vec![oid()]), "2048");
        assert_eq!(
            call("obj_description", vec![oid(), text("pg_class")]),
            "orders"
        );
        assert_eq!(
            call("obj_description", vec![oid(), text("pg_namespace")]),
            "NULL"
        );
        assert_eq!(
            call("col_description", vec![oid(), ScalarValue::Int32(Some(2))]),
            "where"
        );
        assert_eq!(
            call("col_description", vec![oid(), ScalarValue::Int32(Some(1))]),
            "NULL"
        );
    }
}
