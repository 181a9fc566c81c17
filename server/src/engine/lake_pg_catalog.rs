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
    Array, ArrayRef, AsArray, Int32Array, Int64Array, RecordBatch, StringArray, new_null_array,
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
use strata_connectors::lake::catalog::TableFacts;
use strata_connectors::lake::table::LakeTable;
use strata_connectors::postgres::PgKey;
use strata_connectors::postgres::table::PgTable;
use strata_connectors::postgres::types::PG_TYPE_KEY;

use super::functions::{Answer, catalog_function};
use super::pg_relations::{self, Relations};
use super::settings::{SessionSettings, SettingRow, Settings};

/// The catalogs as datafusion-pg-catalog reads them, with lake tables'
/// columns as the tables define them (NOT NULL included).
#[derive(Debug, Clone)]
pub struct StrataCatalogInfo {
    pub catalogs: Arc<dyn CatalogProviderList>,
}

impl StrataCatalogInfo {
    /// The query of view `catalog.schema.table` as `pg_get_viewdef` shows
    /// it: the SELECT of its definition.
    pub async fn view_query(&self, catalog: &str, schema: &str, table: &str) -> Option<String> {
        use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
        let table = self.schema(catalog, schema)?.table(table).await.ok()??;
        let definition = table.get_table_definition()?;
        match Parser::parse_sql(&PostgreSqlDialect {}, definition)
            .ok()?
            .as_slice()
        {
            [datafusion::sql::sqlparser::ast::Statement::CreateView(view)] => {
                Some(view.query.to_string())
            }
            _ => Some(definition.to_owned()),
        }
    }

    /// The columns of table `catalog.schema.table` as it defines them and
    /// its keys (a PostgreSQL source's primary key and unique constraints;
    /// lake tables have none), from one lookup. A table that cannot be
    /// read now (dropped while the catalogs are listed, its source out of
    /// reach) is left out of the listing, as if it did not exist.
    pub async fn describe(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<(SchemaRef, Vec<PgKey>)>> {
        let Some(provider) = self.schema(catalog, schema) else {
            return Ok(None);
        };
        let found = match provider.table(table).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(catalog, schema, table, error = %e, "a table left out of the catalogs");
                return Ok(None);
            }
        };
        Ok(found.map(|table| {
            if let Some(lake) = table.downcast_ref::<LakeTable>() {
                return (Arc::clone(&lake.version.schema), Vec::new());
            }
            let keys = table
                .downcast_ref::<PgTable>()
                .map(|source| source.keys.clone())
                .unwrap_or_default();
            (table.schema(), keys)
        }))
    }

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
        Ok(self
            .describe(catalog_name, schema_name, table_name)
            .await?
            .map(|(columns, _)| columns))
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

/// The relations pg_class last listed in each database, by their oid: what
/// the catalog functions (`pg_get_partkeydef`, `pg_table_size`,
/// `obj_description`, `col_description`, `pg_get_viewdef`,
/// `pg_get_constraintdef`, `pg_get_indexdef`) answer from. Oids are unique
/// across databases, so a lookup searches them all.
#[derive(Debug, Default)]
pub struct LakeRelations {
    by_database: RwLock<HashMap<String, Arc<Known>>>,
}

/// What one database's last listing knew.
#[derive(Debug, Default)]
pub(super) struct Known {
    /// Lake tables' facts.
    pub tables: HashMap<i64, TableFacts>,
    /// The views' queries.
    pub views: HashMap<i64, String>,
    /// Source tables' keys, by the constraint's oid and by its index's.
    pub keys: HashMap<i64, pg_relations::Key>,
    /// Every relation's schema.
    pub schemas: HashMap<i64, String>,
}

impl LakeRelations {
    /// Replaces what is known of `database`.
    pub(super) fn replace(&self, database: &str, known: Known) {
        self.by_database
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(database.to_owned(), Arc::new(known));
    }

    /// The first answer `find` gives in any database.
    fn find<T>(&self, find: impl Fn(&Known) -> Option<T>) -> Option<T> {
        let databases: Vec<Arc<Known>> = self
            .by_database
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        databases.iter().find_map(|known| find(known))
    }

    fn key(&self, oid: i64) -> Option<pg_relations::Key> {
        self.find(|known| known.keys.get(&oid).cloned())
    }

    fn view(&self, oid: i64) -> Option<String> {
        self.find(|known| known.views.get(&oid).cloned())
    }

    fn get(&self, oid: i64) -> Option<TableFacts> {
        self.find(|known| known.tables.get(&oid).cloned())
    }

    fn schema_of(&self, oid: i64) -> Option<String> {
        self.find(|known| known.schemas.get(&oid).cloned())
    }
}

/// `pg_table_is_visible(oid)` for a session whose `search_path` `settings`
/// hold: whether the relation is in pg_catalog or a schema of the path
/// (psql's `\dt` without a pattern lists just those); NULL for an oid no
/// listing knows.
pub fn table_is_visible(
    relations: Arc<LakeRelations>,
    settings: Arc<RwLock<Settings>>,
) -> ScalarUDF {
    catalog_function(
        "pg_table_is_visible",
        Signature::one_of(vec![TypeSignature::Any(1)], Volatility::Stable),
        DataType::Boolean,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let path = settings
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .search_path();
            let visible: datafusion::arrow::array::BooleanArray = oids(&arrays[0])?
                .into_iter()
                .map(|oid| {
                    let schema = relations.schema_of(oid?)?;
                    Some(schema == "pg_catalog" || path.contains(&schema))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(visible)))
        }),
    )
}

/// pg_catalog with Strata's own relations ([`Relations`]), settings and
/// the catalog tables datafusion-pg-catalog lacks or keeps in other types.
#[derive(Debug)]
pub struct PgCatalogWithLake {
    inner: Arc<dyn SchemaProvider>,
    relations: Arc<Relations>,
}

impl PgCatalogWithLake {
    pub fn new(inner: Arc<dyn SchemaProvider>, relations: Arc<Relations>) -> Self {
        Self { inner, relations }
    }
}

/// Vector columns that datafusion-pg-catalog keeps as text (`[1, 2]`) and
/// PostgreSQL as arrays (`int2vector`, `oidvector`, `int2[]`, `oid[]`),
/// which clients unnest and subscript: SQLAlchemy's and pgjdbc's key and
/// index reflection (`unnest(indkey)`, `con.conkey[pos.n]`).
const ARRAY_COLUMNS: [(&str, &[(&str, DataType)]); 6] = [
    (
        "pg_index",
        &[
            ("indkey", DataType::Int16),
            ("indoption", DataType::Int16),
            ("indcollation", DataType::Int32),
            ("indclass", DataType::Int32),
        ],
    ),
    (
        "pg_constraint",
        &[
            ("conkey", DataType::Int16),
            ("confkey", DataType::Int16),
            ("confdelsetcols", DataType::Int16),
            ("conpfeqop", DataType::Int32),
            ("conppeqop", DataType::Int32),
            ("conffeqop", DataType::Int32),
            ("conexclop", DataType::Int32),
        ],
    ),
    ("pg_policy", &[("polroles", DataType::Int32)]),
    ("pg_tablespace", &[("spcacl", DataType::Utf8)]),
    ("pg_event_trigger", &[("evttags", DataType::Utf8)]),
    (
        "pg_statistic_ext",
        &[("stxkeys", DataType::Int16), ("stxkind", DataType::Utf8)],
    ),
];

/// `regproc` columns that datafusion-pg-catalog keeps as function names
/// and PostgreSQL as function oids, which clients join with pg_proc and cast
/// to regproc (psql's `\dAp`, `\dFp+`, `\dFt+`).
const REGPROC_COLUMNS: [(&str, &[&str]); 4] = [
    ("pg_amproc", &["amproc"]),
    // Npgsql tells arrays by their receive function.
    ("pg_type", &["typreceive", "typsend"]),
    (
        "pg_ts_parser",
        &[
            "prsstart",
            "prstoken",
            "prsend",
            "prsheadline",
            "prslextype",
        ],
    ),
    ("pg_ts_template", &["tmplinit", "tmpllexize"]),
];

/// A catalog table with its [`REGPROC_COLUMNS`] as the oids of the
/// functions they name (NULL for a name pg_proc lacks).
#[derive(Debug)]
struct RegprocColumns {
    inner: Arc<dyn TableProvider>,
    procs: Arc<dyn TableProvider>,
    schema: SchemaRef,
}

impl RegprocColumns {
    fn new(inner: Arc<dyn TableProvider>, procs: Arc<dyn TableProvider>, columns: &[&str]) -> Self {
        let fields: Vec<Field> = inner
            .schema()
            .fields()
            .iter()
            .map(|field| {
                if columns.contains(&field.name().as_str()) {
                    Field::new(field.name(), DataType::Int32, true)
                } else {
                    field.as_ref().clone()
                }
            })
            .collect();
        Self {
            inner,
            procs,
            schema: Arc::new(Schema::new(fields)),
        }
    }
}

#[async_trait]
impl TableProvider for RegprocColumns {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut oid_of: HashMap<String, i32> = HashMap::new();
        let mut procs: Vec<(i64, String)> = names_by_oid(&self.procs, "proname", state)
            .await?
            .into_iter()
            .collect();
        // The lowest oid of an overloaded name, whatever the map's order.
        procs.sort();
        for (oid, name) in procs {
            oid_of.entry(name).or_insert(oid as i32);
        }
        let mut batches = Vec::new();
        for batch in all_rows(&self.inner, state).await? {
            let mut columns = batch.columns().to_vec();
            for (index, field) in self.schema.fields().iter().enumerate() {
                if field.data_type() == columns[index].data_type() {
                    continue;
                }
                let names = datafusion::arrow::compute::cast(&columns[index], &DataType::Utf8)?;
                let resolved: Int32Array = names
                    .as_string::<i32>()
                    .iter()
                    .map(|name| name.and_then(|n| oid_of.get(n).copied()))
                    .collect();
                columns[index] = Arc::new(resolved);
            }
            batches.push(RecordBatch::try_new(Arc::clone(&self.schema), columns)?);
        }
        scan_rows(self.schema(), batches, state, projection, filters, limit).await
    }
}

/// A catalog table with its [`ARRAY_COLUMNS`] read as arrays, and columns
/// PostgreSQL has that it lacks, NULL.
#[derive(Debug)]
struct ArrayColumns {
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
}

/// pg_index's columns that PostgreSQL sends as `int2vector` and
/// `oidvector` (text `1 2`, which SQLAlchemy splits) rather than arrays.
const VECTOR_COLUMNS: [(&str, &str); 4] = [
    ("indkey", "int2vector"),
    ("indoption", "int2vector"),
    ("indcollation", "oidvector"),
    ("indclass", "oidvector"),
];

impl ArrayColumns {
    fn new(inner: Arc<dyn TableProvider>, columns: &[(&str, DataType)]) -> Self {
        let fields: Vec<Field> = inner
            .schema()
            .fields()
            .iter()
            .map(
                |field| match columns.iter().find(|(name, _)| name == field.name()) {
                    Some((name, element)) => {
                        let list = Field::new(
                            field.name(),
                            DataType::List(Arc::new(Field::new_list_field(element.clone(), true))),
                            true,
                        );
                        match VECTOR_COLUMNS.iter().find(|(column, _)| column == name) {
                            Some((_, vector)) => list.with_metadata(HashMap::from([(
                                PG_TYPE_KEY.to_owned(),
                                (*vector).to_owned(),
                            )])),
                            None => list,
                        }
                    }
                    None => field.as_ref().clone(),
                },
            )
            .collect();
        Self {
            inner,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    /// With a text column `name` of NULLs after the others.
    fn with_null_text(mut self, name: &str) -> Self {
        let mut fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(name, DataType::Utf8, true));
        self.schema = Arc::new(Schema::new(fields));
        self
    }

    /// `[1, 2]`, `{a,b}` or `1 2` as a list of items; empty text is NULL.
    fn parse(text: &str) -> Option<Vec<&str>> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return None;
        }
        Some(
            trimmed
                .trim_matches(['[', ']', '{', '}'])
                .split([',', ' '])
                .filter(|item| !item.is_empty())
                .map(|item| item.trim_matches('"'))
                .collect(),
        )
    }

    fn convert(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let mut columns = batch.columns().to_vec();
        for field in self.schema.fields().iter().skip(columns.len()) {
            columns.push(new_null_array(field.data_type(), batch.num_rows()));
        }
        for (index, field) in self.schema.fields().iter().enumerate() {
            if !matches!(field.data_type(), DataType::List(_))
                || matches!(columns[index].data_type(), DataType::List(_))
            {
                continue;
            }
            let texts = datafusion::arrow::compute::cast(&columns[index], &DataType::Utf8)?;
            let mut lists = datafusion::arrow::array::ListBuilder::new(
                datafusion::arrow::array::StringBuilder::new(),
            );
            for text in texts.as_string::<i32>().iter() {
                match text.and_then(Self::parse) {
                    Some(items) => {
                        for item in items {
                            lists.values().append_value(item);
                        }
                        lists.append(true);
                    }
                    None => lists.append(false),
                }
            }
            columns[index] = datafusion::arrow::compute::cast(&lists.finish(), field.data_type())?;
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

#[async_trait]
impl TableProvider for ArrayColumns {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batches = all_rows(&self.inner, state)
            .await?
            .into_iter()
            .map(|batch| self.convert(batch))
            .collect::<Result<Vec<_>>>()?;
        scan_rows(self.schema(), batches, state, projection, filters, limit).await
    }
}

#[async_trait]
impl SchemaProvider for PgCatalogWithLake {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.extend(EMPTY_TABLES.iter().map(|(name, _)| (*name).to_owned()));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let table = self.inner.table(name).await?;
        if name.eq_ignore_ascii_case("pg_settings") {
            return Ok(Some(Arc::new(PgSettings)));
        }
        if let Some((_, columns)) = EMPTY_TABLES
            .iter()
            .find(|(table, _)| name.eq_ignore_ascii_case(table))
        {
            return Ok(Some(empty_table(columns)?));
        }
        if let Some((_, columns)) = REGPROC_COLUMNS
            .iter()
            .find(|(table, _)| name.eq_ignore_ascii_case(table))
        {
            let procs = self.inner.table("pg_proc").await?;
            return Ok(table.zip(procs).map(|(inner, procs)| {
                Arc::new(RegprocColumns::new(inner, procs, columns)) as Arc<dyn TableProvider>
            }));
        }
        if name.eq_ignore_ascii_case("pg_collation") {
            // PostgreSQL 15's ICU locale, which psql's `\dO+` reads; Strata's
            // collations have none.
            return Ok(table.map(|t| {
                Arc::new(ArrayColumns::new(t, &[]).with_null_text("colliculocale"))
                    as Arc<dyn TableProvider>
            }));
        }
        let table = match ARRAY_COLUMNS
            .iter()
            .find(|(table, _)| name.eq_ignore_ascii_case(table))
        {
            Some((_, columns)) => {
                table.map(|t| Arc::new(ArrayColumns::new(t, columns)) as Arc<dyn TableProvider>)
            }
            None => table,
        };
        if let Some(relations) = pg_relations::TABLES
            .iter()
            .find(|table| name.eq_ignore_ascii_case(table))
        {
            return Ok(table.map(|inner| self.relations.table(relations, inner)));
        }
        Ok(table)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
            || EMPTY_TABLES
                .iter()
                .any(|(table, _)| name.eq_ignore_ascii_case(table))
    }
}

/// Catalog tables datafusion-pg-catalog lacks that describe what Strata
/// does not have: user mappings of foreign servers (psql's `\deu`),
/// parameter privileges (`\dconfig+`), text search configuration maps
/// (`\dF+`), row security policies (DBeaver), locks (DataGrip reads the
/// oldest transaction's), TLS state of the sessions (connections are not
/// encrypted yet), time zone abbreviations. Each column is an oid (`o`), an
/// integer (`i`), a bigint (`x`), a boolean (`b`), text (`t`), a text array
/// (`a`), a timestamp with time zone (`s`) or an interval (`v`).
const EMPTY_TABLES: [(&str, &[(&str, char)]); 8] = [
    (
        "pg_user_mappings",
        &[
            ("umid", 'o'),
            ("srvid", 'o'),
            ("srvname", 't'),
            ("umuser", 'o'),
            ("usename", 't'),
            ("umoptions", 'a'),
        ],
    ),
    (
        "pg_parameter_acl",
        &[("oid", 'o'), ("parname", 't'), ("paracl", 'a')],
    ),
    (
        "pg_ts_config_map",
        &[
            ("mapcfg", 'o'),
            ("maptokentype", 'i'),
            ("mapseqno", 'i'),
            ("mapdict", 'o'),
        ],
    ),
    (
        "pg_policies",
        &[
            ("schemaname", 't'),
            ("tablename", 't'),
            ("policyname", 't'),
            ("permissive", 't'),
            ("roles", 'a'),
            ("cmd", 't'),
            ("qual", 't'),
            ("with_check", 't'),
        ],
    ),
    (
        "pg_locks",
        &[
            ("locktype", 't'),
            ("database", 'o'),
            ("relation", 'o'),
            ("page", 'i'),
            ("tuple", 'i'),
            ("virtualxid", 't'),
            ("transactionid", 'x'),
            ("classid", 'o'),
            ("objid", 'o'),
            ("objsubid", 'i'),
            ("virtualtransaction", 't'),
            ("pid", 'i'),
            ("mode", 't'),
            ("granted", 'b'),
            ("fastpath", 'b'),
            ("waitstart", 's'),
        ],
    ),
    (
        "pg_stat_ssl",
        &[
            ("pid", 'i'),
            ("ssl", 'b'),
            ("version", 't'),
            ("cipher", 't'),
            ("bits", 'i'),
            ("client_dn", 't'),
            ("client_serial", 't'),
            ("issuer_dn", 't'),
        ],
    ),
    (
        "pg_timezone_abbrevs",
        &[("abbrev", 't'), ("utc_offset", 'v'), ("is_dst", 'b')],
    ),
    (
        "pg_timezone_names",
        &[
            ("name", 't'),
            ("abbrev", 't'),
            ("utc_offset", 'v'),
            ("is_dst", 'b'),
        ],
    ),
];

/// True for the pg_catalog tables Strata adds to datafusion-pg-catalog's,
/// which an unqualified name finds only once qualified.
pub fn strata_catalog_table(name: &str) -> bool {
    name.eq_ignore_ascii_case("pg_stat_activity")
        || name.eq_ignore_ascii_case("pg_user")
        || EMPTY_TABLES
            .iter()
            .any(|(table, _)| name.eq_ignore_ascii_case(table))
}

fn empty_table(columns: &[(&str, char)]) -> Result<Arc<dyn TableProvider>> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, kind)| {
            let data_type = match kind {
                'a' => text_array(),
                't' => DataType::Utf8,
                'x' => DataType::Int64,
                'b' => DataType::Boolean,
                's' => DataType::Timestamp(
                    datafusion::arrow::datatypes::TimeUnit::Microsecond,
                    Some("UTC".into()),
                ),
                'v' => DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
                _ => DataType::Int32,
            };
            Field::new(*name, data_type, true)
        })
        .collect();
    Ok(Arc::new(MemTable::try_new(
        Arc::new(Schema::new(fields)),
        vec![vec![]],
    )?))
}

pub(super) async fn all_rows(
    table: &Arc<dyn TableProvider>,
    state: &dyn Session,
) -> Result<Vec<RecordBatch>> {
    let plan: Arc<dyn ExecutionPlan> = table.scan(state, None, &[], None).await?;
    collect(plan, state.task_ctx()).await
}

/// Scans `batches` as a table of `schema`, with the scan's projection,
/// filters and limit.
pub(super) async fn scan_rows(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    state: &dyn Session,
    projection: Option<&Vec<usize>>,
    filters: &[Expr],
    limit: Option<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    MemTable::try_new(schema, vec![batches])?
        .scan(state, projection, filters, limit)
        .await
}

/// The `name_column` of a catalog table's rows by their oid.
async fn names_by_oid(
    table: &Arc<dyn TableProvider>,
    name_column: &str,
    state: &dyn Session,
) -> Result<HashMap<i64, String>> {
    let mut names = HashMap::new();
    for batch in all_rows(table, state).await? {
        let (Ok(oid), Ok(name)) = (
            batch.schema().index_of("oid"),
            batch.schema().index_of(name_column),
        ) else {
            continue;
        };
        let column = datafusion::arrow::compute::cast(batch.column(name), &DataType::Utf8)?;
        let column = column.as_string::<i32>();
        for (row, oid) in oids(batch.column(oid))?.into_iter().enumerate() {
            if let (Some(oid), true) = (oid, column.is_valid(row)) {
                names.insert(oid, column.value(row).to_owned());
            }
        }
    }
    Ok(names)
}

pub(super) fn text_array() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

/// An oid column's values, whatever integer type carries them.
fn oids(column: &ArrayRef) -> Result<Vec<Option<i64>>> {
    let cast = datafusion::arrow::compute::cast(column, &DataType::Int64)?;
    Ok(cast
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .iter()
        .collect())
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
    // pg_get_constraintdef(constraint [, pretty]) and pg_get_indexdef(index
    // [, column, pretty]): a source table's key; with a column number (1 up),
    // the index's column of that number.
    let keys = Arc::clone(&relations);
    functions.push(catalog_function(
        "pg_get_constraintdef",
        by_oid(&[1, 2]),
        DataType::Utf8,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let definitions: StringArray = oids(&arrays[0])?
                .into_iter()
                .map(|oid| Some(keys.key(oid?)?.constraint_definition()))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(definitions)))
        }),
    ));
    let keys = Arc::clone(&relations);
    functions.push(catalog_function(
        "pg_get_indexdef",
        by_oid(&[1, 3]),
        DataType::Utf8,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let columns = match arrays.get(1) {
                Some(column) => oids(column)?,
                None => vec![Some(0); arrays[0].len()],
            };
            let definitions: StringArray = oids(&arrays[0])?
                .into_iter()
                .zip(columns)
                .map(|(oid, column)| {
                    let key = keys.key(oid?)?;
                    match usize::try_from(column?).ok()? {
                        0 => Some(key.index_definition()),
                        n => Some(key.columns.get(n - 1)?.0.clone()),
                    }
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(definitions)))
        }),
    ));
    let views = Arc::clone(&relations);
    functions.push(catalog_function(
        "pg_get_viewdef",
        by_oid(&[1, 2]),
        DataType::Utf8,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let queries: StringArray = oids(&arrays[0])?
                .into_iter()
                .map(|oid| views.view(oid?))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(queries)))
        }),
    ));
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
        let facts = TableFacts {
            partition_columns: vec!["region".to_owned(), "day".to_owned()],
            bytes: 2048,
            comment: Some("orders".to_owned()),
            column_comments: vec![None, Some("where".to_owned())],
        };
        relations.replace(
            "lake",
            Known {
                tables: HashMap::from([(16390, facts)]),
                ..Known::default()
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

/// `pg_settings`: the session's variables, as `SHOW ALL` lists them, with
/// PostgreSQL's columns (`boot_val` and `reset_val` the defaults, `source`
/// `session` for a value the session set, `context` `internal` for what a
/// session cannot change).
#[derive(Debug)]
struct PgSettings;

static PG_SETTINGS_SCHEMA: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(|| {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        text("name"),
        text("setting"),
        text("unit"),
        text("category"),
        text("short_desc"),
        text("extra_desc"),
        text("context"),
        text("vartype"),
        text("source"),
        text("min_val"),
        text("max_val"),
        Field::new("enumvals", text_array(), true),
        text("boot_val"),
        text("reset_val"),
        text("sourcefile"),
        Field::new("sourceline", DataType::Int32, true),
        Field::new("pending_restart", DataType::Boolean, true),
    ]))
});

fn setting_type(value: &str) -> &'static str {
    if matches!(value, "on" | "off") {
        "bool"
    } else if value.parse::<i64>().is_ok() {
        "integer"
    } else {
        "string"
    }
}

#[async_trait]
impl TableProvider for PgSettings {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&PG_SETTINGS_SCHEMA)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rows = match state.config().get_extension::<SessionSettings>() {
            Some(session) => session.0.read().unwrap_or_else(|p| p.into_inner()).rows(),
            None => Settings::new("", &[]).rows(),
        };
        let texts = |value: fn(&SettingRow) -> Option<String>| -> ArrayRef {
            Arc::new(rows.iter().map(value).collect::<StringArray>())
        };
        let columns: Vec<ArrayRef> = vec![
            texts(|r| Some(r.name.clone())),
            texts(|r| Some(r.setting.clone())),
            texts(|_| None),
            texts(|_| Some("Strata".to_owned())),
            texts(|_| Some(String::new())),
            texts(|_| None),
            texts(|r| Some(if r.settable { "user" } else { "internal" }.to_owned())),
            texts(|r| Some(setting_type(&r.boot_val).to_owned())),
            texts(|r| Some(if r.from_session { "session" } else { "default" }.to_owned())),
            texts(|_| None),
            texts(|_| None),
            new_null_array(&text_array(), rows.len()),
            texts(|r| Some(r.boot_val.clone())),
            texts(|r| Some(r.boot_val.clone())),
            texts(|_| None),
            Arc::new(Int32Array::from(vec![None; rows.len()])),
            Arc::new(datafusion::arrow::array::BooleanArray::from(vec![
                Some(
                    false
                );
                rows.len()
            ])),
        ];
        let batch = RecordBatch::try_new(self.schema(), columns)?;
        scan_rows(
            self.schema(),
            vec![batch],
            state,
            projection,
            filters,
            limit,
        )
        .await
    }
}

/// `ts_token_type(parser oid)`: the token types of PostgreSQL's default
/// text search parser, the only parser (psql's `\dFp+`).
#[derive(Debug)]
pub struct TsTokenType;

/// The default parser's token types: id, alias, description.
const TOKEN_TYPES: [(i32, &str, &str); 23] = [
    (1, "asciiword", "Word, all ASCII"),
    (2, "word", "Word, all letters"),
    (3, "numword", "Word, letters and digits"),
    (4, "asciihword", "Hyphenated word, all ASCII"),
    (5, "hword", "Hyphenated word, all letters"),
    (6, "numhword", "Hyphenated word, letters and digits"),
    (7, "hword_asciipart", "Hyphenated word part, all ASCII"),
    (8, "hword_part", "Hyphenated word part, all letters"),
    (
        9,
        "hword_numpart",
        "Hyphenated word part, letters and digits",
    ),
    (10, "email", "Email address"),
    (11, "protocol", "Protocol head"),
    (12, "url", "URL"),
    (13, "host", "Host"),
    (14, "url_path", "URL path"),
    (15, "file", "File or path name"),
    (16, "sfloat", "Scientific notation"),
    (17, "float", "Decimal notation"),
    (18, "int", "Signed integer"),
    (19, "uint", "Unsigned integer"),
    (20, "version", "Version number"),
    (21, "tag", "XML tag"),
    (22, "entity", "XML entity"),
    (23, "blank", "Space symbols"),
];

impl TableFunctionImpl for TsTokenType {
    fn call(&self, _args: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("tokid", DataType::Int32, false),
            Field::new("alias", DataType::Utf8, false),
            Field::new("description", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int32Array::from_iter_values(
                    TOKEN_TYPES.iter().map(|t| t.0),
                )),
                Arc::new(StringArray::from_iter_values(
                    TOKEN_TYPES.iter().map(|t| t.1),
                )),
                Arc::new(StringArray::from_iter_values(
                    TOKEN_TYPES.iter().map(|t| t.2),
                )),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
