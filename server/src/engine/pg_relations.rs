//! `pg_database`, `pg_namespace`, `pg_class` and `pg_attribute`, listed by
//! Strata from its catalogs, with oids that stay the same across restarts.
//!
//! datafusion-pg-catalog hands out oids from 16384 in the order it first
//! meets objects and forgets them when the process ends, so after a restart
//! a table can answer to another table's old oid, and a client that kept
//! oids (pgjdbc, DBeaver) mis-resolves it. Here every user database, schema
//! and relation gets its oid from the persisted catalog
//! ([`CatalogStore::oids`]); pg_catalog's own tables keep PostgreSQL's oids.
//! The columns are datafusion-pg-catalog's (plus pg_class's `relacl` and
//! `reloptions`), filled as PostgreSQL fills them for a table: numeric
//! precision and scale in `atttypmod`, a text column's collation, the
//! access method, the row count left unknown (`reltuples` -1).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, new_null_array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use pgwire::api::Type;
use strata_connectors::lake::catalog::{LakeCatalog, TableFacts};
use strata_connectors::postgres::types::{PG_TYPE_KEY, UNCONSTRAINED_NUMERIC_TYPE};
use strata_connectors::session::DEFAULT_CATALOG;

use super::catalog::{CatalogStore, object_key};
use super::lake_pg_catalog::{LakeRelations, StrataCatalogInfo, scan_rows, text_array};
use crate::wire::types::{element_of, pg_type};

/// The catalog tables listed here.
pub const TABLES: [&str; 4] = ["pg_database", "pg_namespace", "pg_class", "pg_attribute"];

/// PostgreSQL's oid of the `pg_catalog` schema, which the static catalog
/// rows (`pg_type.typnamespace`, `pg_proc.pronamespace`) reference.
const PG_CATALOG_OID: i64 = 11;
/// The oid of `information_schema`, below the user range like PostgreSQL's.
const INFORMATION_SCHEMA_OID: i64 = 13_000;
/// Where the oids of pg_catalog tables PostgreSQL has no fixed oid for
/// start (by name order), below `information_schema`'s.
const OTHER_CATALOG_TABLES_OID: i64 = 12_000;

/// pg_catalog tables' own oids, as in PostgreSQL.
const CATALOG_TABLE_OIDS: [(&str, i64); 24] = [
    ("pg_aggregate", 2600),
    ("pg_am", 2601),
    ("pg_attrdef", 2604),
    ("pg_cast", 2605),
    ("pg_constraint", 2606),
    ("pg_conversion", 2607),
    ("pg_description", 2609),
    ("pg_index", 2610),
    ("pg_language", 2612),
    ("pg_namespace", 2615),
    ("pg_opclass", 2616),
    ("pg_operator", 2617),
    ("pg_rewrite", 2618),
    ("pg_trigger", 2620),
    ("pg_opfamily", 2753),
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", 1259),
    ("pg_database", 1262),
    ("pg_collation", 3456),
    ("pg_event_trigger", 3466),
    ("pg_foreign_server", 1417),
    ("pg_foreign_data_wrapper", 2328),
];

/// The PostgreSQL oid of pg_catalog table `name`, if it has a fixed one.
pub fn catalog_table_oid(name: &str) -> Option<i64> {
    CATALOG_TABLE_OIDS
        .iter()
        .find(|(table, _)| name.eq_ignore_ascii_case(table))
        .map(|(_, oid)| *oid)
}

/// What the four tables list, read from the catalogs at once.
#[derive(Debug, Default)]
struct Listing {
    databases: Vec<(i64, String)>,
    namespaces: Vec<(i64, String)>,
    relations: Vec<Relation>,
}

#[derive(Debug)]
struct Relation {
    /// A view's query.
    query: Option<String>,
    oid: i64,
    namespace: i64,
    name: String,
    kind: &'static str,
    columns: SchemaRef,
    facts: Option<TableFacts>,
}

/// The catalogs as these four tables see them.
#[derive(Debug)]
pub struct Relations {
    info: StrataCatalogInfo,
    store: Arc<CatalogStore>,
    lake: Arc<LakeCatalog>,
    /// The lake tables of the last listing, for the functions that describe
    /// them by oid.
    lake_relations: Arc<LakeRelations>,
}

impl Relations {
    pub fn new(
        info: StrataCatalogInfo,
        store: Arc<CatalogStore>,
        lake: Arc<LakeCatalog>,
        lake_relations: Arc<LakeRelations>,
    ) -> Self {
        Self {
            info,
            store,
            lake,
            lake_relations,
        }
    }

    /// `table` (one of [`TABLES`]) with the columns of datafusion-pg-catalog's
    /// `inner`.
    pub fn table(
        self: &Arc<Self>,
        table: &'static str,
        inner: &SchemaRef,
    ) -> Arc<dyn TableProvider> {
        let schema = match table {
            "pg_class" => class_schema(inner),
            // aclitem[], as text, like every other catalog's access lists.
            "pg_database" => Arc::new(Schema::new(
                inner
                    .fields()
                    .iter()
                    .map(|f| match f.name().as_str() {
                        "datacl" => Field::new("datacl", text_array(), true),
                        _ => f.as_ref().clone(),
                    })
                    .collect::<Vec<_>>(),
            )),
            _ => Arc::clone(inner),
        };
        Arc::new(RelationTable {
            table,
            schema,
            relations: Arc::clone(self),
        })
    }

    /// Lists every catalog's schemas and, `with_relations`, their relations,
    /// in name order. The system schemas (every catalog shows the lake's)
    /// are listed once. pg_database and pg_namespace need no relations, so
    /// their scans read no table's columns (a source's are a round trip).
    async fn list(&self, with_relations: bool) -> Result<Listing> {
        struct Pending {
            key: Option<String>,
            oid: i64,
        }
        let mut catalogs = self.info.catalog_names().await?;
        catalogs.sort();
        let mut databases = Vec::new();
        let mut namespaces: Vec<(Pending, String)> = Vec::new();
        // (namespace index, table oid, name, kind, columns, facts)
        let mut relations: Vec<(usize, Pending, Relation)> = Vec::new();
        let mut system_seen = HashSet::new();
        for catalog in &catalogs {
            databases.push((
                Pending {
                    key: Some(object_key("database", &[catalog])),
                    oid: 0,
                },
                catalog.clone(),
            ));
            let mut schemas = self.info.schema_names(catalog).await?.unwrap_or_default();
            schemas.sort();
            for schema in schemas {
                let system = match schema.as_str() {
                    "pg_catalog" => Some(PG_CATALOG_OID),
                    "information_schema" => Some(INFORMATION_SCHEMA_OID),
                    _ => None,
                };
                if system.is_some() && !system_seen.insert(schema.clone()) {
                    continue;
                }
                let namespace = namespaces.len();
                namespaces.push((
                    Pending {
                        key: system
                            .is_none()
                            .then(|| object_key("schema", &[catalog, &schema])),
                        oid: system.unwrap_or_default(),
                    },
                    schema.clone(),
                ));
                if !with_relations {
                    continue;
                }
                let mut tables = self
                    .info
                    .table_names(catalog, &schema)
                    .await?
                    .unwrap_or_default();
                tables.sort();
                let lake_schema = (catalog == DEFAULT_CATALOG)
                    .then(|| self.lake.lake_schema(&schema))
                    .flatten();
                for (position, table) in tables.into_iter().enumerate() {
                    let Some(columns) = self.info.table_schema(catalog, &schema, &table).await?
                    else {
                        continue;
                    };
                    let table_type = self.info.table_type(catalog, &schema, &table).await?;
                    let facts = lake_schema.as_ref().and_then(|s| s.facts(&table));
                    let partitioned = facts
                        .as_ref()
                        .is_some_and(|f| !f.partition_columns.is_empty());
                    let kind = match table_type {
                        Some(TableType::View) => "v",
                        _ if partitioned => "p",
                        _ => "r",
                    };
                    let query = if kind == "v" && system.is_none() {
                        self.info.view_query(catalog, &schema, &table).await
                    } else {
                        None
                    };
                    let pending = match system {
                        Some(PG_CATALOG_OID) => Pending {
                            key: None,
                            oid: catalog_table_oid(&table)
                                .unwrap_or(OTHER_CATALOG_TABLES_OID + position as i64),
                        },
                        Some(_) => Pending {
                            key: None,
                            oid: INFORMATION_SCHEMA_OID + 1 + position as i64,
                        },
                        None => Pending {
                            key: Some(object_key("rel", &[catalog, &schema, &table])),
                            oid: 0,
                        },
                    };
                    relations.push((
                        namespace,
                        pending,
                        Relation {
                            query,
                            oid: 0,
                            namespace: 0,
                            name: table,
                            kind,
                            columns,
                            facts,
                        },
                    ));
                }
            }
        }
        let keys: Vec<String> = databases
            .iter()
            .map(|(p, _)| p)
            .chain(namespaces.iter().map(|(p, _)| p))
            .chain(relations.iter().map(|(_, p, _)| p))
            .filter_map(|p| p.key.clone())
            .collect();
        let mut oids = self
            .store
            .oids(&keys)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?
            .into_iter();
        let mut resolve = |pending: &Pending| match pending.key {
            Some(_) => i64::from(oids.next().unwrap_or_default()),
            None => pending.oid,
        };
        let databases = databases
            .into_iter()
            .map(|(p, name)| (resolve(&p), name))
            .collect();
        let namespaces: Vec<(i64, String)> = namespaces
            .into_iter()
            .map(|(p, name)| (resolve(&p), name))
            .collect();
        let relations = relations
            .into_iter()
            .map(|(namespace, p, relation)| Relation {
                oid: resolve(&p),
                namespace: namespaces[namespace].0,
                ..relation
            })
            .collect();
        Ok(Listing {
            databases,
            namespaces,
            relations,
        })
    }

    /// The rows of `table`.
    async fn rows(&self, table: &str, schema: &SchemaRef) -> Result<RecordBatch> {
        let listing = self
            .list(matches!(table, "pg_class" | "pg_attribute"))
            .await?;
        match table {
            "pg_database" => database_rows(schema, &listing.databases),
            "pg_namespace" => namespace_rows(schema, &listing.namespaces),
            "pg_attribute" => attribute_rows(schema, &listing.relations),
            _ => {
                let lake: HashMap<i64, TableFacts> = listing
                    .relations
                    .iter()
                    .filter_map(|r| Some((r.oid, r.facts.clone()?)))
                    .collect();
                let views = listing
                    .relations
                    .iter()
                    .filter_map(|r| Some((r.oid, r.query.clone()?)))
                    .collect();
                self.lake_relations.replace(lake, views);
                class_rows(schema, &listing.relations)
            }
        }
    }
}

#[derive(Debug)]
struct RelationTable {
    table: &'static str,
    schema: SchemaRef,
    relations: Arc<Relations>,
}

#[async_trait]
impl TableProvider for RelationTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.relations.rows(self.table, &self.schema).await?;
        scan_rows(
            Arc::clone(&self.schema),
            vec![batch],
            state,
            projection,
            filters,
            limit,
        )
        .await
    }
}

/// Columns of PostgreSQL's pg_class that datafusion-pg-catalog lacks, all
/// NULL for Strata's relations (no access lists, no storage options), put
/// where PostgreSQL has them: before `relpartbound`.
const EXTRA_CLASS_COLUMNS: [&str; 2] = ["relacl", "reloptions"];

/// pg_class's schema with [`EXTRA_CLASS_COLUMNS`].
fn class_schema(inner: &SchemaRef) -> SchemaRef {
    let at = inner
        .index_of("relpartbound")
        .unwrap_or(inner.fields().len());
    let mut fields: Vec<Field> = inner.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (offset, name) in EXTRA_CLASS_COLUMNS.iter().enumerate() {
        fields.insert(at + offset, Field::new(*name, text_array(), true));
    }
    Arc::new(Schema::new(fields))
}

fn ints(values: impl IntoIterator<Item = i64>) -> Option<ArrayRef> {
    Some(Arc::new(Int64Array::from_iter_values(values)))
}

fn texts<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<ArrayRef> {
    Some(Arc::new(StringArray::from_iter_values(values)))
}

fn bools(values: impl IntoIterator<Item = bool>) -> Option<ArrayRef> {
    Some(Arc::new(BooleanArray::from_iter(
        values.into_iter().map(Some),
    )))
}

/// A batch of `schema` with `rows` rows: the columns `column` gives (cast to
/// the schema's types), the others NULL where the schema allows it and
/// zero, false or empty text where it does not.
fn batch(
    schema: &SchemaRef,
    rows: usize,
    column: impl Fn(&str) -> Option<ArrayRef>,
) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let data_type = field.data_type();
            match column(field.name()) {
                Some(array) => Ok(cast(&array, data_type)?),
                None if field.is_nullable() => Ok(new_null_array(data_type, rows)),
                None => {
                    let zero = match data_type {
                        DataType::Utf8 => ScalarValue::Utf8(Some(String::new())),
                        other => ScalarValue::new_zero(other)?,
                    };
                    zero.to_array_of_size(rows)
                }
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// PostgreSQL's bootstrap superuser, which owns everything Strata lists.
const OWNER: i64 = 10;

fn database_rows(schema: &SchemaRef, databases: &[(i64, String)]) -> Result<RecordBatch> {
    let n = databases.len();
    batch(schema, n, |column| match column {
        "oid" => ints(databases.iter().map(|(oid, _)| *oid)),
        "datname" => texts(databases.iter().map(|(_, name)| name.as_str())),
        "datdba" => ints(std::iter::repeat_n(OWNER, n)),
        // UTF8
        "encoding" => ints(std::iter::repeat_n(6, n)),
        // Strata orders text by its bytes, as the C locale does.
        "datlocprovider" => texts(std::iter::repeat_n("c", n)),
        "datcollate" | "datctype" => texts(std::iter::repeat_n("C", n)),
        "datallowconn" => bools(std::iter::repeat_n(true, n)),
        "datconnlimit" => ints(std::iter::repeat_n(-1, n)),
        "datlastsysoid" => ints(std::iter::repeat_n(16_383, n)),
        // pg_default
        "dattablespace" => ints(std::iter::repeat_n(1663, n)),
        _ => None,
    })
}

fn namespace_rows(schema: &SchemaRef, namespaces: &[(i64, String)]) -> Result<RecordBatch> {
    let n = namespaces.len();
    batch(schema, n, |column| match column {
        "oid" => ints(namespaces.iter().map(|(oid, _)| *oid)),
        "nspname" => texts(namespaces.iter().map(|(_, name)| name.as_str())),
        "nspowner" => ints(std::iter::repeat_n(OWNER, n)),
        _ => None,
    })
}

fn class_rows(schema: &SchemaRef, relations: &[Relation]) -> Result<RecordBatch> {
    let n = relations.len();
    let table = |r: &Relation| r.kind != "v";
    batch(schema, n, |column| match column {
        "oid" => ints(relations.iter().map(|r| r.oid)),
        "relname" => texts(relations.iter().map(|r| r.name.as_str())),
        "relnamespace" => ints(relations.iter().map(|r| r.namespace)),
        "relowner" => ints(std::iter::repeat_n(OWNER, n)),
        // heap for plain tables; partitioned tables and views have none.
        "relam" => ints(relations.iter().map(|r| if r.kind == "r" { 2 } else { 0 })),
        "relfilenode" => ints(relations.iter().map(|r| if table(r) { r.oid } else { 0 })),
        "relpages" => ints(relations.iter().map(|r| {
            r.facts.as_ref().map_or(0, |f| {
                i64::try_from(f.bytes.div_ceil(8192)).unwrap_or(i64::MAX)
            })
        })),
        // Unknown, as PostgreSQL says before a table is analysed.
        "reltuples" => Some(Arc::new(datafusion::arrow::array::Float64Array::from(
            vec![-1.0; n],
        ))),
        "relpersistence" => texts(std::iter::repeat_n("p", n)),
        "relkind" => texts(relations.iter().map(|r| r.kind)),
        "relnatts" => ints(relations.iter().map(|r| r.columns.fields().len() as i64)),
        "relispopulated" => bools(std::iter::repeat_n(true, n)),
        "relreplident" => texts(relations.iter().map(|r| if table(r) { "d" } else { "n" })),
        _ => None,
    })
}

/// How PostgreSQL stores a column's type: `(typlen, typbyval, typalign,
/// typstorage)`.
fn storage(ty: &Type) -> (i64, bool, &'static str, &'static str) {
    match *ty {
        Type::BOOL | Type::CHAR => (1, true, "c", "p"),
        Type::INT2 => (2, true, "s", "p"),
        Type::INT4 | Type::OID | Type::FLOAT4 | Type::DATE => (4, true, "i", "p"),
        Type::INT8 | Type::FLOAT8 | Type::TIME | Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            (8, true, "d", "p")
        }
        Type::UUID => (16, false, "c", "p"),
        Type::INTERVAL => (16, false, "d", "p"),
        Type::NUMERIC => (-1, false, "i", "m"),
        _ => (-1, false, "i", "x"),
    }
}

/// The type modifier of a column of `field`: numeric's precision and scale
/// (`(p << 16 | s) + 4`), -1 for other types and unconstrained numeric.
fn typmod(field: &Field) -> i64 {
    let unconstrained =
        field.metadata().get(PG_TYPE_KEY).map(String::as_str) == Some(UNCONSTRAINED_NUMERIC_TYPE);
    let decimal = |data_type: &DataType| match data_type {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s)
            if *s >= 0 =>
        {
            Some((i64::from(*p) << 16 | i64::from(*s)) + 4)
        }
        _ => None,
    };
    let element = match field.data_type() {
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            decimal(item.data_type())
        }
        other => decimal(other),
    };
    match element {
        Some(typmod) if !unconstrained => typmod,
        _ => -1,
    }
}

/// PostgreSQL's default collation, which text types have.
const DEFAULT_COLLATION: i64 = 100;

fn attribute_rows(schema: &SchemaRef, relations: &[Relation]) -> Result<RecordBatch> {
    struct Column<'a> {
        relation: i64,
        number: i64,
        field: &'a Field,
        ty: Type,
    }
    let columns: Vec<Column> = relations
        .iter()
        .flat_map(|r| {
            r.columns
                .fields()
                .iter()
                .enumerate()
                .map(|(i, field)| Column {
                    relation: r.oid,
                    number: i as i64 + 1,
                    field: field.as_ref(),
                    ty: pg_type(field),
                })
        })
        .collect();
    let text_like = |ty: &Type| {
        let base = element_of(ty).unwrap_or_else(|| ty.clone());
        matches!(base, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME)
    };
    batch(schema, columns.len(), |column| match column {
        "attrelid" => ints(columns.iter().map(|c| c.relation)),
        "attname" => texts(columns.iter().map(|c| c.field.name().as_str())),
        "atttypid" => ints(columns.iter().map(|c| i64::from(c.ty.oid()))),
        "attstattarget" | "attcacheoff" => ints(std::iter::repeat_n(-1, columns.len())),
        "attlen" => ints(columns.iter().map(|c| storage(&c.ty).0)),
        "attnum" => ints(columns.iter().map(|c| c.number)),
        "attndims" => ints(
            columns
                .iter()
                .map(|c| i64::from(element_of(&c.ty).is_some())),
        ),
        "atttypmod" => ints(columns.iter().map(|c| typmod(c.field))),
        "attbyval" => bools(columns.iter().map(|c| storage(&c.ty).1)),
        "attalign" => texts(columns.iter().map(|c| storage(&c.ty).2)),
        "attstorage" => texts(columns.iter().map(|c| storage(&c.ty).3)),
        "attnotnull" => bools(columns.iter().map(|c| !c.field.is_nullable())),
        "attislocal" => bools(std::iter::repeat_n(true, columns.len())),
        "attcollation" => ints(columns.iter().map(|c| {
            if text_like(&c.ty) {
                DEFAULT_COLLATION
            } else {
                0
            }
        })),
        _ => None,
    })
}

/// `to_regclass(text)`: the oid of the relation a name (`table`,
/// `schema.table` or `catalog.schema.table`, quoted as in SQL) names in the
/// lake or a source, or NULL if there is none. An unqualified name is a
/// pg_catalog table or one of the lake's `public` schema.
pub fn to_regclass(
    store: Arc<CatalogStore>,
    catalogs: Arc<dyn datafusion::catalog::CatalogProviderList>,
) -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::array::{AsArray, Int32Array};
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    let resolve = move |name: &str| -> Option<i32> {
        let parts = identifier_parts(name)?;
        let (catalog, schema, table) = match parts.as_slice() {
            [table] => {
                if let Some(oid) = catalog_table_oid(table) {
                    return i32::try_from(oid).ok();
                }
                (DEFAULT_CATALOG, "public", table.as_str())
            }
            [schema, table] if schema == "pg_catalog" => {
                return catalog_table_oid(table).and_then(|oid| i32::try_from(oid).ok());
            }
            [schema, table] => (DEFAULT_CATALOG, schema.as_str(), table.as_str()),
            [catalog, schema, table] => (catalog.as_str(), schema.as_str(), table.as_str()),
            _ => return None,
        };
        let exists = catalogs
            .catalog(catalog)
            .and_then(|c| c.schema(schema))
            .is_some_and(|s| s.table_exist(table));
        if !exists {
            return None;
        }
        let key = object_key("rel", &[catalog, schema, table]);
        let oid = store.oids(&[key]).ok()?.first().copied()?;
        i32::try_from(oid).ok()
    };
    create_udf(
        "to_regclass",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let names = ColumnarValue::values_to_arrays(args)?;
            let names = cast(&names[0], &DataType::Utf8)?;
            let oids: Int32Array = names
                .as_string::<i32>()
                .iter()
                .map(|name| name.and_then(&resolve))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(oids)))
        }),
    )
}

/// The parts of a qualified SQL name, unquoted parts folded to lower case.
fn identifier_parts(name: &str) -> Option<Vec<String>> {
    use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
    let object = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(name)
        .ok()?
        .parse_object_name(false)
        .ok()?;
    object
        .0
        .iter()
        .map(|part| {
            let ident = part.as_ident()?;
            Some(match ident.quote_style {
                Some(_) => ident.value.clone(),
                None => ident.value.to_lowercase(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_columns_carry_precision_and_scale() {
        let field = Field::new("amount", DataType::Decimal128(12, 2), true);
        assert_eq!(typmod(&field), (12 << 16 | 2) + 4);
        let unconstrained = field.clone().with_metadata(HashMap::from([(
            PG_TYPE_KEY.to_owned(),
            UNCONSTRAINED_NUMERIC_TYPE.to_owned(),
        )]));
        assert_eq!(typmod(&unconstrained), -1);
        assert_eq!(typmod(&Field::new("n", DataType::Int64, true)), -1);
    }

    #[test]
    fn names_split_like_sql() {
        assert_eq!(
            identifier_parts(r#"Silver."Big Orders""#),
            Some(vec!["silver".to_owned(), "Big Orders".to_owned()])
        );
        assert_eq!(identifier_parts("a.b.c").map(|p| p.len()), Some(3));
    }

    #[test]
    fn columns_not_given_are_null_or_zero() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, false),
            Field::new("b", DataType::Utf8, false),
            Field::new("c", DataType::Utf8, true),
            Field::new("d", DataType::Boolean, false),
        ]));
        let batch = batch(&schema, 2, |c| (c == "a").then(|| ints([7, 8]).unwrap())).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(2).null_count(), 2);
        assert_eq!(batch.column(1).null_count(), 0);
    }
}
