//! `information_schema` as PostgreSQL clients read it.
//!
//! DataFusion's information_schema names column types in Arrow's terms
//! (`Int64`, `Utf8`) and shows every lake column nullable; Grafana's query
//! builder, DataGrip and hand-written catalog queries expect PostgreSQL's.
//! Strata's `columns` has PostgreSQL's 44 columns: `data_type` `bigint`,
//! `udt_name` `int8`, NOT NULL as the table defines it, 1-based `integer`
//! positions, numeric precision and scale. An equality filter on the
//! catalog, schema or table name narrows which tables are opened. The other
//! tables are DataFusion's, `tables` with PostgreSQL's further columns
//! (`is_insertable_into`, `is_typed`, ...).

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, AsArray, BooleanArray, Int32Builder, RecordBatch, StringArray, StringBuilder,
};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::information_schema::InformationSchemaProvider;
use datafusion::catalog::{CatalogProviderList, SchemaProvider, Session, TableProvider};
use datafusion::common::{Column, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use pgwire::api::Type;
use strata_connectors::postgres::types::{PG_TYPE_KEY, declared_default, declared_not_null};
use strata_connectors::session::DEFAULT_CATALOG;

use super::authorize::{sees_table, viewer};
use super::lake_pg_catalog::{StrataCatalogInfo, scan_rows};
use super::pg_relations;
use crate::auth::privileges::Principal;
use crate::wire::types::{element_of, pg_type};

/// The schema Strata's information_schema is registered under.
const INFORMATION_SCHEMA: &str = "information_schema";

/// Strata's information_schema: DataFusion's, with PostgreSQL's `columns`.
#[derive(Debug)]
pub struct StrataInformationSchema {
    inner: InformationSchemaProvider,
    catalogs: StrataCatalogInfo,
}

impl StrataInformationSchema {
    pub fn new(list: Arc<dyn CatalogProviderList>, catalogs: StrataCatalogInfo) -> Self {
        Self {
            inner: InformationSchemaProvider::new(list),
            catalogs,
        }
    }
}

#[async_trait]
impl SchemaProvider for StrataInformationSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.extend(CONSTRAINT_VIEWS.iter().map(|(name, _)| (*name).to_owned()));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some((view, columns)) = CONSTRAINT_VIEWS
            .iter()
            .find(|(view, _)| name.eq_ignore_ascii_case(view))
        {
            let fields: Vec<Field> = columns
                .iter()
                .map(|column| {
                    let data_type = if column.ends_with("position") {
                        DataType::Int32
                    } else {
                        DataType::Utf8
                    };
                    Field::new(*column, data_type, true)
                })
                .collect();
            return Ok(Some(Arc::new(ListedView {
                listing: Listing::Keys(view),
                schema: Arc::new(Schema::new(fields)),
                catalogs: self.catalogs.clone(),
            })));
        }
        if name.eq_ignore_ascii_case("columns") {
            return Ok(Some(Arc::new(ListedView {
                listing: Listing::Columns,
                schema: Arc::clone(&COLUMNS_SCHEMA),
                catalogs: self.catalogs.clone(),
            })));
        }
        let table = self.inner.table(name).await?;
        if name.eq_ignore_ascii_case("tables") {
            return Ok(table.map(|inner| Arc::new(TablesTable { inner }) as Arc<dyn TableProvider>));
        }
        Ok(table)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
            || CONSTRAINT_VIEWS
                .iter()
                .any(|(view, _)| name.eq_ignore_ascii_case(view))
    }
}

/// The views of keys and constraints, with PostgreSQL 15's columns
/// (`*position` columns are numbers, the rest text): the primary key,
/// unique and foreign key constraints of source tables (lake tables
/// declare none; NOT NULL is in `columns.is_nullable`).
const CONSTRAINT_VIEWS: [(&str, &[&str]); 4] = [
    (
        "table_constraints",
        &[
            "constraint_catalog",
            "constraint_schema",
            "constraint_name",
            "table_catalog",
            "table_schema",
            "table_name",
            "constraint_type",
            "is_deferrable",
            "initially_deferred",
            "enforced",
            "nulls_distinct",
        ],
    ),
    (
        "key_column_usage",
        &[
            "constraint_catalog",
            "constraint_schema",
            "constraint_name",
            "table_catalog",
            "table_schema",
            "table_name",
            "column_name",
            "ordinal_position",
            "position_in_unique_constraint",
        ],
    ),
    (
        "constraint_column_usage",
        &[
            "table_catalog",
            "table_schema",
            "table_name",
            "column_name",
            "constraint_catalog",
            "constraint_schema",
            "constraint_name",
        ],
    ),
    (
        "referential_constraints",
        &[
            "constraint_catalog",
            "constraint_schema",
            "constraint_name",
            "unique_constraint_catalog",
            "unique_constraint_schema",
            "unique_constraint_name",
            "match_option",
            "update_rule",
            "delete_rule",
        ],
    ),
];

/// A view listed from the tables its filters admit: `columns` or one of
/// [`CONSTRAINT_VIEWS`].
#[derive(Debug)]
struct ListedView {
    listing: Listing,
    schema: SchemaRef,
    catalogs: StrataCatalogInfo,
}

#[derive(Debug, Clone, Copy)]
enum Listing {
    Columns,
    /// The view's name.
    Keys(&'static str),
}

#[async_trait]
impl TableProvider for ListedView {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Used only to open fewer tables; the filters still run.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut wanted = Wanted::from_filters(filters);
        wanted.viewer = viewer(state);
        let batch = match self.listing {
            Listing::Columns => self.column_rows(&wanted).await?,
            Listing::Keys(view) => self.key_rows(view, &wanted).await?,
        };
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema(),
            projection.cloned(),
        )?)
    }
}

impl ListedView {
    /// One row per key (`table_constraints`), per foreign key
    /// (`referential_constraints`), or per key column (the other views).
    async fn key_rows(&self, view: &str, wanted: &Wanted) -> Result<RecordBatch> {
        let mut rows: Vec<Vec<(&'static str, ScalarValue)>> = Vec::new();
        let text = |value: &str| ScalarValue::Utf8(Some(value.to_owned()));
        let tables = wanted.tables(&self.catalogs).await?;
        for (catalog, schema, table) in tables {
            // Only sources' tables have keys.
            if catalog == DEFAULT_CATALOG || schema == "pg_catalog" {
                continue;
            }
            let Some((_, keys)) = self.catalogs.describe(&catalog, &schema, &table).await? else {
                continue;
            };
            for key in keys {
                let names = [
                    ("constraint_catalog", text(&catalog)),
                    ("constraint_schema", text(&schema)),
                    ("constraint_name", text(&key.name)),
                    ("table_catalog", text(&catalog)),
                    ("table_schema", text(&schema)),
                    ("table_name", text(&table)),
                ];
                let reference = key.references.as_ref();
                let number = |n: usize| ScalarValue::Int32(i32::try_from(n + 1).ok());
                match view {
                    "table_constraints" => {
                        let kind = match (reference, key.primary) {
                            (Some(_), _) => "FOREIGN KEY",
                            (None, true) => "PRIMARY KEY",
                            (None, false) => "UNIQUE",
                        };
                        let unique = reference.is_none() && !key.primary;
                        let mut row = names.to_vec();
                        row.extend([
                            ("constraint_type", text(kind)),
                            ("is_deferrable", text("NO")),
                            ("initially_deferred", text("NO")),
                            ("enforced", text("YES")),
                            (
                                "nulls_distinct",
                                ScalarValue::Utf8(unique.then(|| "YES".to_owned())),
                            ),
                        ]);
                        rows.push(row);
                    }
                    "referential_constraints" => {
                        let Some(reference) = reference else {
                            continue;
                        };
                        let rule = |code: &str| {
                            text(pg_relations::referential_action(code).unwrap_or("NO ACTION"))
                        };
                        let mut row = names[..3].to_vec();
                        row.extend([
                            ("unique_constraint_catalog", text(&catalog)),
                            ("unique_constraint_schema", text(&reference.schema)),
                            ("unique_constraint_name", text(&key.index)),
                            (
                                "match_option",
                                text(match reference.match_type.as_str() {
                                    "f" => "FULL",
                                    "p" => "PARTIAL",
                                    _ => "NONE",
                                }),
                            ),
                            ("update_rule", rule(&reference.on_update)),
                            ("delete_rule", rule(&reference.on_delete)),
                        ]);
                        rows.push(row);
                    }
                    // A foreign key uses the referenced table's columns.
                    "constraint_column_usage" => {
                        let (schema, table, columns) = match reference {
                            Some(r) => (&r.schema, &r.table, &r.columns),
                            None => (&schema, &table, &key.columns),
                        };
                        for column in columns {
                            let mut row = names[..3].to_vec();
                            row.extend([
                                ("table_catalog", text(&catalog)),
                                ("table_schema", text(schema)),
                                ("table_name", text(table)),
                                ("column_name", text(column)),
                            ]);
                            rows.push(row);
                        }
                    }
                    _ => {
                        for (position, column) in key.columns.iter().enumerate() {
                            let mut row = names.to_vec();
                            row.extend([
                                ("column_name", text(column)),
                                ("ordinal_position", number(position)),
                                (
                                    "position_in_unique_constraint",
                                    match reference {
                                        Some(_) => number(position),
                                        None => ScalarValue::Int32(None),
                                    },
                                ),
                            ]);
                            rows.push(row);
                        }
                    }
                }
            }
        }
        let columns = self
            .schema
            .fields()
            .iter()
            .map(|field| {
                let values = rows
                    .iter()
                    .map(
                        |row| match row.iter().find(|(name, _)| name == field.name()) {
                            Some((_, value)) => Ok(value.clone()),
                            None => ScalarValue::try_from(field.data_type()),
                        },
                    )
                    .collect::<Result<Vec<ScalarValue>>>()?;
                if values.is_empty() {
                    return Ok(datafusion::arrow::array::new_empty_array(field.data_type()));
                }
                ScalarValue::iter_to_array(values)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

/// `information_schema.tables`: DataFusion's four columns and PostgreSQL's
/// eight more.
#[derive(Debug)]
struct TablesTable {
    inner: Arc<dyn TableProvider>,
}

/// PostgreSQL's columns of `tables` after DataFusion's four.
const MORE_TABLE_COLUMNS: [&str; 8] = [
    "self_referencing_column_name",
    "reference_generation",
    "user_defined_type_catalog",
    "user_defined_type_schema",
    "user_defined_type_name",
    "is_insertable_into",
    "is_typed",
    "commit_action",
];

#[async_trait]
impl TableProvider for TablesTable {
    fn schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .inner
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(
            MORE_TABLE_COLUMNS
                .iter()
                .map(|name| Field::new(*name, DataType::Utf8, true)),
        );
        Arc::new(Schema::new(fields))
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
        let plan = self.inner.scan(state, None, &[], None).await?;
        let schema = self.schema();
        let viewer = viewer(state);
        let mut batches = Vec::new();
        for batch in collect(plan, state.task_ctx()).await? {
            let types = batch
                .column_by_name("table_type")
                .map(|c| c.as_string::<i32>().clone());
            let rows = batch.num_rows();
            let mut columns = batch.columns().to_vec();
            for name in MORE_TABLE_COLUMNS {
                let values: StringArray = (0..rows)
                    .map(|row| match name {
                        "is_insertable_into" => Some(
                            if types.as_ref().is_some_and(|t| t.value(row) == "BASE TABLE") {
                                "YES"
                            } else {
                                "NO"
                            },
                        ),
                        "is_typed" => Some("NO"),
                        _ => None,
                    })
                    .collect();
                columns.push(Arc::new(values));
            }
            let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
            batches.push(visible_rows(batch, viewer.as_ref())?);
        }
        scan_rows(schema, batches, state, projection, filters, limit).await
    }
}

/// The rows of `batch` (with `table_catalog`, `table_schema` and
/// `table_name`) naming tables `viewer` sees.
fn visible_rows(batch: RecordBatch, viewer: Option<&Principal>) -> Result<RecordBatch> {
    let Some(viewer) = viewer else {
        return Ok(batch);
    };
    let text = |name: &str| {
        batch
            .column_by_name(name)
            .map(|c| cast(c, &DataType::Utf8))
            .transpose()
    };
    let (Some(catalogs), Some(schemas), Some(tables)) = (
        text("table_catalog")?,
        text("table_schema")?,
        text("table_name")?,
    ) else {
        return Ok(batch);
    };
    let (catalogs, schemas, tables) = (
        catalogs.as_string::<i32>(),
        schemas.as_string::<i32>(),
        tables.as_string::<i32>(),
    );
    let keep: BooleanArray = (0..batch.num_rows())
        .map(|row| {
            Some(sees_table(
                Some(viewer),
                catalogs.value(row),
                schemas.value(row),
                tables.value(row),
            ))
        })
        .collect();
    Ok(filter_record_batch(&batch, &keep)?)
}

/// `information_schema.columns`, PostgreSQL's columns in PostgreSQL's order.
static COLUMNS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let number = |name: &str| Field::new(name, DataType::Int32, true);
    Arc::new(Schema::new(vec![
        text("table_catalog"),
        text("table_schema"),
        text("table_name"),
        text("column_name"),
        number("ordinal_position"),
        text("column_default"),
        text("is_nullable"),
        text("data_type"),
        number("character_maximum_length"),
        number("character_octet_length"),
        number("numeric_precision"),
        number("numeric_precision_radix"),
        number("numeric_scale"),
        number("datetime_precision"),
        text("interval_type"),
        number("interval_precision"),
        text("character_set_catalog"),
        text("character_set_schema"),
        text("character_set_name"),
        text("collation_catalog"),
        text("collation_schema"),
        text("collation_name"),
        text("domain_catalog"),
        text("domain_schema"),
        text("domain_name"),
        text("udt_catalog"),
        text("udt_schema"),
        text("udt_name"),
        text("scope_catalog"),
        text("scope_schema"),
        text("scope_name"),
        number("maximum_cardinality"),
        text("dtd_identifier"),
        text("is_self_referencing"),
        text("is_identity"),
        text("identity_generation"),
        text("identity_start"),
        text("identity_increment"),
        text("identity_maximum"),
        text("identity_minimum"),
        text("identity_cycle"),
        text("is_generated"),
        text("generation_expression"),
        text("is_updatable"),
    ]))
});

/// The names a query's filters pin down: only matching tables are opened.
#[derive(Debug, Default)]
struct Wanted {
    catalog: Option<String>,
    schema: Option<String>,
    table: Option<String>,
    /// Who looks: only the tables it may use are listed.
    viewer: Option<Principal>,
}

impl Wanted {
    fn from_filters(filters: &[Expr]) -> Self {
        let mut wanted = Self::default();
        for filter in filters {
            let Some((column, value)) = name_equals(filter) else {
                continue;
            };
            let slot = match column.name.as_str() {
                "table_catalog" => &mut wanted.catalog,
                "table_schema" => &mut wanted.schema,
                "table_name" => &mut wanted.table,
                _ => continue,
            };
            *slot = Some(value);
        }
        wanted
    }

    fn admits(wanted: &Option<String>, name: &str) -> bool {
        wanted.as_deref().is_none_or(|w| w == name)
    }

    /// The `(catalog, schema, table)` names these filters admit, outside
    /// information_schema.
    async fn tables(&self, catalogs: &StrataCatalogInfo) -> Result<Vec<(String, String, String)>> {
        let mut admitted = Vec::new();
        for catalog in catalogs.catalog_names().await? {
            if !Self::admits(&self.catalog, &catalog) {
                continue;
            }
            let schemas = catalogs.schema_names(&catalog).await?.unwrap_or_default();
            for schema in schemas {
                if schema == INFORMATION_SCHEMA || !Self::admits(&self.schema, &schema) {
                    continue;
                }
                let tables = catalogs
                    .table_names(&catalog, &schema)
                    .await?
                    .unwrap_or_default();
                for table in tables {
                    if Self::admits(&self.table, &table)
                        && sees_table(self.viewer.as_ref(), &catalog, &schema, &table)
                    {
                        admitted.push((catalog.clone(), schema.clone(), table));
                    }
                }
            }
        }
        Ok(admitted)
    }
}

/// `column = 'text'` (either way round).
fn name_equals(filter: &Expr) -> Option<(&Column, String)> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = filter
    else {
        return None;
    };
    let (column, literal) = match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), Expr::Literal(v, _)) | (Expr::Literal(v, _), Expr::Column(c)) => (c, v),
        _ => return None,
    };
    match literal {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some((column, s.clone())),
        _ => None,
    }
}

impl ListedView {
    async fn column_rows(&self, wanted: &Wanted) -> Result<RecordBatch> {
        let mut rows = ColumnRows::default();
        for (catalog, schema, table) in wanted.tables(&self.catalogs).await? {
            let Some(fields) = self
                .catalogs
                .table_schema(&catalog, &schema, &table)
                .await?
            else {
                continue;
            };
            let updatable =
                self.catalogs.table_type(&catalog, &schema, &table).await? == Some(TableType::Base);
            for (index, field) in fields.fields().iter().enumerate() {
                rows.add(column_row(
                    &catalog, &schema, &table, index, field, updatable,
                ));
            }
        }
        rows.finish()
    }
}

/// How PostgreSQL describes a column's type in information_schema.
#[derive(Debug, PartialEq, Eq)]
struct TypeFacts {
    data_type: String,
    udt_name: String,
    character_octet_length: Option<i32>,
    numeric_precision: Option<i32>,
    numeric_precision_radix: Option<i32>,
    numeric_scale: Option<i32>,
    datetime_precision: Option<i32>,
}

/// PostgreSQL's limit on a text value's bytes, which it reports as the
/// octet length of `text`.
const TEXT_OCTETS: i32 = 1 << 30;

fn type_facts(field: &Field) -> TypeFacts {
    let pg = pg_type(field);
    let data_type = match pg {
        Type::BOOL => "boolean",
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::VARCHAR => "character varying",
        Type::TIME => "time without time zone",
        Type::TIMESTAMP => "timestamp without time zone",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        _ if element_of(&pg).is_some() => "ARRAY",
        _ => pg.name(),
    }
    .to_owned();
    let (precision, radix, scale) = match (&pg, field.data_type()) {
        (&Type::INT2, _) => (Some(16), Some(2), Some(0)),
        (&Type::INT4, _) => (Some(32), Some(2), Some(0)),
        (&Type::INT8, _) => (Some(64), Some(2), Some(0)),
        (&Type::FLOAT4, _) => (Some(24), Some(2), None),
        (&Type::FLOAT8, _) => (Some(53), Some(2), None),
        (
            &Type::NUMERIC,
            DataType::Decimal32(p, s)
            | DataType::Decimal64(p, s)
            | DataType::Decimal128(p, s)
            | DataType::Decimal256(p, s),
        ) if field.metadata().get(PG_TYPE_KEY).map(String::as_str) != Some("numeric") => {
            (Some(i32::from(*p)), Some(10), Some(i32::from(*s)))
        }
        _ => (None, None, None),
    };
    let datetime_precision = match field.data_type() {
        DataType::Date32 | DataType::Date64 => Some(0),
        DataType::Time32(unit) | DataType::Time64(unit) | DataType::Timestamp(unit, _) => {
            Some(match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond | TimeUnit::Nanosecond => 6,
            })
        }
        DataType::Interval(_) | DataType::Duration(_) => Some(6),
        _ => None,
    };
    TypeFacts {
        data_type,
        udt_name: pg.name().to_owned(),
        character_octet_length: matches!(pg, Type::TEXT | Type::VARCHAR).then_some(TEXT_OCTETS),
        numeric_precision: precision,
        numeric_precision_radix: radix,
        numeric_scale: scale,
        datetime_precision,
    }
}

/// One value of a `columns` row.
enum Cell {
    Text(Option<String>),
    Number(Option<i32>),
}

fn text(value: &str) -> Cell {
    Cell::Text(Some(value.to_owned()))
}

const NULL_TEXT: Cell = Cell::Text(None);
const NULL_NUMBER: Cell = Cell::Number(None);

/// The `columns` row of a table's column, in [`COLUMNS_SCHEMA`]'s order.
fn column_row(
    catalog: &str,
    schema: &str,
    table: &str,
    index: usize,
    field: &Field,
    updatable: bool,
) -> [Cell; 44] {
    let facts = type_facts(field);
    let position = i32::try_from(index + 1).unwrap_or(i32::MAX);
    let yes_no = |b: bool| text(if b { "YES" } else { "NO" });
    [
        text(catalog),
        text(schema),
        text(table),
        text(field.name()),
        Cell::Number(Some(position)),
        Cell::Text(declared_default(field).map(str::to_owned)),
        yes_no(!declared_not_null(field)),
        Cell::Text(Some(facts.data_type)),
        NULL_NUMBER, // character_maximum_length
        Cell::Number(facts.character_octet_length),
        Cell::Number(facts.numeric_precision),
        Cell::Number(facts.numeric_precision_radix),
        Cell::Number(facts.numeric_scale),
        Cell::Number(facts.datetime_precision),
        NULL_TEXT,   // interval_type
        NULL_NUMBER, // interval_precision
        NULL_TEXT,   // character_set_catalog
        NULL_TEXT,   // character_set_schema
        NULL_TEXT,   // character_set_name
        NULL_TEXT,   // collation_catalog
        NULL_TEXT,   // collation_schema
        NULL_TEXT,   // collation_name
        NULL_TEXT,   // domain_catalog
        NULL_TEXT,   // domain_schema
        NULL_TEXT,   // domain_name
        text(catalog),
        text("pg_catalog"),
        Cell::Text(Some(facts.udt_name)),
        NULL_TEXT,                              // scope_catalog
        NULL_TEXT,                              // scope_schema
        NULL_TEXT,                              // scope_name
        NULL_NUMBER,                            // maximum_cardinality
        Cell::Text(Some(position.to_string())), // dtd_identifier
        text("NO"),                             // is_self_referencing
        text("NO"),                             // is_identity
        NULL_TEXT,                              // identity_generation
        NULL_TEXT,                              // identity_start
        NULL_TEXT,                              // identity_increment
        NULL_TEXT,                              // identity_maximum
        NULL_TEXT,                              // identity_minimum
        text("NO"),                             // identity_cycle
        text("NEVER"),
        NULL_TEXT, // generation_expression
        yes_no(updatable),
    ]
}

/// The rows of `columns`, built column by column.
struct ColumnRows {
    builders: Vec<Builder>,
}

enum Builder {
    Text(StringBuilder),
    Number(Int32Builder),
}

impl Default for ColumnRows {
    fn default() -> Self {
        let builders = COLUMNS_SCHEMA
            .fields()
            .iter()
            .map(|field| match field.data_type() {
                DataType::Int32 => Builder::Number(Int32Builder::new()),
                _ => Builder::Text(StringBuilder::new()),
            })
            .collect();
        Self { builders }
    }
}

impl ColumnRows {
    fn add(&mut self, row: [Cell; 44]) {
        for (builder, cell) in self.builders.iter_mut().zip(row) {
            match (builder, cell) {
                (Builder::Text(b), Cell::Text(v)) => b.append_option(v),
                (Builder::Number(b), Cell::Number(v)) => b.append_option(v),
                (Builder::Text(b), Cell::Number(_)) => b.append_null(),
                (Builder::Number(b), Cell::Text(_)) => b.append_null(),
            }
        }
    }

    fn finish(self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = self
            .builders
            .into_iter()
            .map(|builder| -> ArrayRef {
                match builder {
                    Builder::Text(mut b) => Arc::new(b.finish()),
                    Builder::Number(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        Ok(RecordBatch::try_new(Arc::clone(&COLUMNS_SCHEMA), columns)?)
    }
}
