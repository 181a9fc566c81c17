//! `pg_database`, `pg_namespace`, `pg_class`, `pg_attribute`, `pg_attrdef`,
//! `pg_constraint`, `pg_index` and `pg_description`, listed by Strata from
//! its catalogs, with oids that stay the same across restarts.
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
use datafusion::common::config::CatalogOptions;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use pgwire::api::Type;
use strata_connectors::format::quote_ident;
use strata_connectors::lake::catalog::{LakeCatalog, TableFacts};
use strata_connectors::postgres::types::{
    PG_TYPE_KEY, UNCONSTRAINED_NUMERIC_TYPE, declared_default, declared_not_null,
};
use strata_connectors::postgres::{PgKey, PgReference};
use strata_connectors::session::DEFAULT_CATALOG;

use super::authorize::{sees_schema, sees_table, viewer};
use super::catalog::{CatalogStore, object_key};
use super::lake_pg_catalog::{
    Known, LakeRelations, StrataCatalogInfo, all_rows, scan_rows, text_array,
};
use crate::auth::privileges::Principal;
use crate::wire::types::{element_of, pg_type};

/// The catalog tables listed here.
pub const TABLES: [&str; 8] = [
    "pg_database",
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_attrdef",
    "pg_constraint",
    "pg_index",
    "pg_description",
];

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

/// How much of the catalogs a table's scan lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Databases and schemas: no table's columns are read (a source's are
    /// a round trip).
    Schemas,
    /// Every relation of every catalog, with its columns.
    Relations,
    /// The lake's relations only (comments live only there).
    LakeRelations,
}

/// What the tables list, read from the catalogs at once.
#[derive(Debug, Default)]
struct Listing {
    databases: Vec<(i64, String)>,
    namespaces: Vec<(i64, String)>,
    /// Tables and views, then the indexes of their keys.
    relations: Vec<Relation>,
    keys: Vec<Key>,
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
    /// A source table's primary key and unique constraints.
    keys: Vec<PgKey>,
    /// The oids of its columns' defaults (pg_attrdef), by column number.
    defaults: Vec<(i64, i64)>,
}

/// A primary key, unique or foreign key constraint of a source table, and
/// the index that enforces it (a foreign key's is the referenced key's).
#[derive(Debug, Clone)]
pub struct Key {
    pub oid: i64,
    pub index_oid: i64,
    pub relation: i64,
    pub namespace: i64,
    pub name: String,
    pub index: String,
    pub primary: bool,
    /// Its columns' names and numbers, in key order.
    pub columns: Vec<(String, i64)>,
    /// The btree operator class of each column (its type's default).
    pub operator_classes: Vec<i64>,
    /// The table, as the source names it (`public.orders`).
    pub table: String,
    /// What a foreign key references.
    pub references: Option<Reference>,
}

/// The table and columns a foreign key references.
#[derive(Debug, Clone)]
pub struct Reference {
    pub relation: i64,
    /// Its columns' names and numbers, in key order.
    pub columns: Vec<(String, i64)>,
    /// The table, as the source names it.
    pub table: String,
    pub actions: PgReference,
}

impl Key {
    /// `pg_get_constraintdef`: `PRIMARY KEY (id)`, `UNIQUE (a, b)`,
    /// `FOREIGN KEY (c) REFERENCES public.customers(id) ON DELETE CASCADE`.
    pub fn constraint_definition(&self) -> String {
        let Some(reference) = &self.references else {
            let kind = if self.primary {
                "PRIMARY KEY"
            } else {
                "UNIQUE"
            };
            return format!("{kind} ({})", column_list(&self.columns));
        };
        let mut definition = format!(
            "FOREIGN KEY ({}) REFERENCES {}({})",
            column_list(&self.columns),
            reference.table,
            column_list(&reference.columns)
        );
        if reference.actions.match_type == "f" {
            definition.push_str(" MATCH FULL");
        }
        for (event, code) in [
            ("UPDATE", &reference.actions.on_update),
            ("DELETE", &reference.actions.on_delete),
        ] {
            if let Some(action) = referential_action(code).filter(|a| *a != "NO ACTION") {
                definition.push_str(&format!(" ON {event} {action}"));
            }
        }
        definition
    }

    /// `pg_get_indexdef`: `CREATE UNIQUE INDEX orders_pkey ON public.orders
    /// USING btree (id)`.
    pub fn index_definition(&self) -> String {
        format!(
            "CREATE UNIQUE INDEX {} ON {} USING btree ({})",
            quote_ident(&self.index),
            self.table,
            column_list(&self.columns)
        )
    }
}

/// `a, "B"`: key columns as a definition lists them.
fn column_list(columns: &[(String, i64)]) -> String {
    let names: Vec<String> = columns.iter().map(|(n, _)| quote_ident(n)).collect();
    names.join(", ")
}

/// A foreign key action as SQL says it, from pg_constraint's code.
pub fn referential_action(code: &str) -> Option<&'static str> {
    Some(match code {
        "a" => "NO ACTION",
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => return None,
    })
}

/// The catalogs as the tables of [`TABLES`] see them.
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
    /// `inner`, whose rows pg_constraint, pg_index and pg_description keep
    /// (the built-in objects') before the ones listed here.
    pub fn table(
        self: &Arc<Self>,
        table: &'static str,
        inner: Arc<dyn TableProvider>,
    ) -> Arc<dyn TableProvider> {
        let inner_provider = Arc::clone(&inner);
        let inner_schema = inner.schema();
        let inner = &inner_schema;
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
            built_in: matches!(table, "pg_constraint" | "pg_index" | "pg_description")
                .then_some(inner_provider),
        })
    }

    /// Lists every catalog as a database, and the schemas of `current` (the
    /// session's database: as in PostgreSQL, the other databases' objects
    /// are not in its catalogs) with, as `scope` says, their relations, in
    /// name order. The system schemas are listed once.
    async fn list(
        &self,
        scope: Scope,
        current: &str,
        viewer: Option<&Principal>,
    ) -> Result<Listing> {
        struct Pending {
            key: Option<String>,
            oid: i64,
        }
        /// A relation whose oids are not given yet.
        struct Unresolved {
            /// Its schema's place in `namespaces`.
            namespace: usize,
            oid: Pending,
            /// Its keys' and their indexes' oids.
            keys: Vec<(Pending, Pending)>,
            /// Its column defaults' oids, in column order.
            defaults: Vec<Pending>,
            relation: Relation,
        }
        let mut catalogs = self.info.catalog_names().await?;
        catalogs.sort();
        let mut databases = Vec::new();
        let mut namespaces: Vec<(Pending, String)> = Vec::new();
        let mut relations: Vec<Unresolved> = Vec::new();
        let mut system_seen = HashSet::new();
        for catalog in &catalogs {
            databases.push((
                Pending {
                    key: Some(object_key("database", &[catalog])),
                    oid: 0,
                },
                catalog.clone(),
            ));
            if catalog != current {
                continue;
            }
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
                if !sees_schema(viewer, catalog, &schema) {
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
                let relations_wanted = match scope {
                    Scope::Schemas => false,
                    Scope::Relations => true,
                    Scope::LakeRelations => catalog == DEFAULT_CATALOG && system.is_none(),
                };
                if !relations_wanted {
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
                    if !sees_table(viewer, catalog, &schema, &table) {
                        continue;
                    }
                    let Some((columns, keys)) =
                        self.info.describe(catalog, &schema, &table).await?
                    else {
                        continue;
                    };
                    let table_type = self
                        .info
                        .table_type(catalog, &schema, &table)
                        .await
                        .ok()
                        .flatten();
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
                    let key_pendings = keys
                        .iter()
                        .map(|key| {
                            let pending = |kind: &str, name: &[&str]| Pending {
                                key: Some(object_key(kind, name)),
                                oid: 0,
                            };
                            (
                                pending("constraint", &[catalog, &schema, &table, &key.name]),
                                // A foreign key's index is the referenced
                                // table's.
                                pending(
                                    "index",
                                    &[
                                        catalog,
                                        key.references.as_ref().map_or(&schema, |r| &r.schema),
                                        &key.index,
                                    ],
                                ),
                            )
                        })
                        .collect::<Vec<_>>();
                    let default_pendings = columns
                        .fields()
                        .iter()
                        .filter(|field| declared_default(field).is_some())
                        .map(|field| Pending {
                            key: Some(object_key(
                                "default",
                                &[catalog, &schema, &table, field.name()],
                            )),
                            oid: 0,
                        })
                        .collect();
                    relations.push(Unresolved {
                        namespace,
                        oid: pending,
                        keys: key_pendings,
                        defaults: default_pendings,
                        relation: Relation {
                            query,
                            oid: 0,
                            namespace: 0,
                            name: table,
                            kind,
                            columns,
                            facts,
                            keys,
                            defaults: Vec::new(),
                        },
                    });
                }
            }
        }
        let keys: Vec<String> = databases
            .iter()
            .map(|(p, _)| p)
            .chain(namespaces.iter().map(|(p, _)| p))
            .chain(relations.iter().flat_map(|r| {
                std::iter::once(&r.oid)
                    .chain(r.keys.iter().flat_map(|(c, i)| [c, i]))
                    .chain(r.defaults.iter())
            }))
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
        let mut listed = Vec::with_capacity(relations.len());
        let mut keys = Vec::new();
        let mut indexes = Vec::new();
        let mut foreign: Vec<(usize, PgReference)> = Vec::new();
        for Unresolved {
            namespace,
            oid,
            keys: key_pendings,
            defaults: default_pendings,
            relation,
        } in relations
        {
            let mut relation = Relation {
                oid: resolve(&oid),
                namespace: namespaces[namespace].0,
                ..relation
            };
            let schema = &namespaces[namespace].1;
            for (key, (constraint, index)) in relation.keys.iter().zip(key_pendings) {
                let (oid, index_oid) = (resolve(&constraint), resolve(&index));
                let columns: Vec<(String, i64)> = key
                    .columns
                    .iter()
                    .filter_map(|name| {
                        let at = relation.columns.index_of(name).ok()?;
                        Some((name.clone(), at as i64 + 1))
                    })
                    .collect();
                let fields: Vec<Field> = columns
                    .iter()
                    .map(|(name, number)| {
                        relation
                            .columns
                            .field(*number as usize - 1)
                            .clone()
                            .with_name(name)
                    })
                    .collect();
                let operator_classes = fields
                    .iter()
                    .map(|field| default_operator_class(&pg_type(field)))
                    .collect();
                match &key.references {
                    Some(reference) => foreign.push((keys.len(), reference.clone())),
                    None => indexes.push(Relation {
                        query: None,
                        oid: index_oid,
                        namespace: relation.namespace,
                        name: key.index.clone(),
                        kind: "i",
                        columns: Arc::new(Schema::new(fields)),
                        facts: None,
                        keys: Vec::new(),
                        defaults: Vec::new(),
                    }),
                }
                keys.push(Key {
                    oid,
                    index_oid,
                    relation: relation.oid,
                    namespace: relation.namespace,
                    name: key.name.clone(),
                    index: key.index.clone(),
                    primary: key.primary,
                    columns,
                    operator_classes,
                    table: format!("{}.{}", quote_ident(schema), quote_ident(&relation.name)),
                    references: None,
                });
            }
            let numbers = relation
                .columns
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, field)| declared_default(field).is_some())
                .map(|(i, _)| i as i64 + 1);
            relation.defaults = numbers
                .zip(default_pendings.iter().map(&mut resolve))
                .collect();
            listed.push(relation);
        }
        // A foreign key references a table of the same database, listed
        // above; one whose table is not listed (no privilege) is left out.
        let mut unresolved = Vec::new();
        for (at, reference) in foreign {
            let referenced = namespaces
                .iter()
                .find(|(_, name)| *name == reference.schema)
                .and_then(|(namespace, _)| {
                    listed
                        .iter()
                        .find(|r| r.namespace == *namespace && r.name == reference.table)
                });
            let columns: Option<Vec<(String, i64)>> = referenced.and_then(|r| {
                reference
                    .columns
                    .iter()
                    .map(|name| Some((name.clone(), r.columns.index_of(name).ok()? as i64 + 1)))
                    .collect()
            });
            match (referenced, columns) {
                (Some(referenced), Some(columns)) => {
                    keys[at].references = Some(Reference {
                        relation: referenced.oid,
                        columns,
                        table: format!(
                            "{}.{}",
                            quote_ident(&reference.schema),
                            quote_ident(&reference.table)
                        ),
                        actions: reference.clone(),
                    });
                }
                _ => unresolved.push(at),
            }
        }
        for at in unresolved.into_iter().rev() {
            keys.remove(at);
        }
        listed.extend(indexes);
        Ok(Listing {
            databases,
            namespaces,
            relations: listed,
            keys,
        })
    }

    /// The rows of `table`.
    async fn rows(
        &self,
        table: &str,
        schema: &SchemaRef,
        current: &str,
        viewer: Option<&Principal>,
    ) -> Result<RecordBatch> {
        let scope = match table {
            "pg_class" | "pg_attribute" | "pg_attrdef" | "pg_constraint" | "pg_index" => {
                Scope::Relations
            }
            "pg_description" => Scope::LakeRelations,
            _ => Scope::Schemas,
        };
        let listing = self.list(scope, current, viewer).await?;
        if scope == Scope::Relations {
            let relations = &listing.relations;
            let namespaces: HashMap<i64, &String> = listing
                .namespaces
                .iter()
                .map(|(oid, name)| (*oid, name))
                .collect();
            let known = Known {
                tables: relations
                    .iter()
                    .filter_map(|r| Some((r.oid, r.facts.clone()?)))
                    .collect(),
                views: relations
                    .iter()
                    .filter_map(|r| Some((r.oid, r.query.clone()?)))
                    .collect(),
                // A foreign key's index is the referenced key's: only the
                // constraint answers by it.
                keys: listing
                    .keys
                    .iter()
                    .flat_map(|key| {
                        let index = key.references.is_none().then_some(key.index_oid);
                        std::iter::once(key.oid)
                            .chain(index)
                            .map(|oid| (oid, key.clone()))
                    })
                    .collect(),
                schemas: relations
                    .iter()
                    .filter_map(|r| Some((r.oid, namespaces.get(&r.namespace)?.to_string())))
                    .collect(),
            };
            self.lake_relations.replace(current, known);
        }
        match table {
            "pg_database" => database_rows(schema, &listing.databases),
            "pg_namespace" => namespace_rows(schema, &listing.namespaces),
            "pg_attribute" => attribute_rows(schema, &listing.relations),
            "pg_constraint" => constraint_rows(schema, &listing.keys),
            "pg_index" => index_rows(schema, &listing.keys),
            "pg_attrdef" => default_rows(schema, &listing.relations),
            "pg_description" => description_rows(schema, &listing.relations),
            _ => {
                // PostgreSQL enforces a foreign key with triggers on both
                // tables (psql's `\d` lists foreign keys of those).
                let with_triggers: HashSet<i64> = listing
                    .keys
                    .iter()
                    .filter_map(|k| Some([k.relation, k.references.as_ref()?.relation]))
                    .flatten()
                    .collect();
                class_rows(schema, &listing.relations, &with_triggers)
            }
        }
    }
}

#[derive(Debug)]
struct RelationTable {
    table: &'static str,
    schema: SchemaRef,
    relations: Arc<Relations>,
    /// datafusion-pg-catalog's table, whose rows come first.
    built_in: Option<Arc<dyn TableProvider>>,
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
        let mut batches = match &self.built_in {
            Some(built_in) => all_rows(built_in, state).await?,
            None => Vec::new(),
        };
        let current = &state.config_options().catalog.default_catalog;
        let viewer = viewer(state);
        batches.push(
            self.relations
                .rows(self.table, &self.schema, current, viewer.as_ref())
                .await?,
        );
        scan_rows(
            Arc::clone(&self.schema),
            batches,
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

/// A list column (`int2vector`, `oid[]`): the lists' values as int8, cast
/// to the column's element type by [`batch`].
fn int_lists(values: impl IntoIterator<Item = Vec<i64>>) -> Option<ArrayRef> {
    use datafusion::arrow::array::ListArray;
    use datafusion::arrow::datatypes::Int64Type;
    Some(Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(
        values
            .into_iter()
            .map(|list| Some(list.into_iter().map(Some).collect::<Vec<_>>())),
    )))
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

fn class_rows(
    schema: &SchemaRef,
    relations: &[Relation],
    with_triggers: &HashSet<i64>,
) -> Result<RecordBatch> {
    let n = relations.len();
    let table = |r: &Relation| r.kind != "v";
    batch(schema, n, |column| match column {
        "oid" => ints(relations.iter().map(|r| r.oid)),
        "relname" => texts(relations.iter().map(|r| r.name.as_str())),
        "relnamespace" => ints(relations.iter().map(|r| r.namespace)),
        "relowner" => ints(std::iter::repeat_n(OWNER, n)),
        // heap for plain tables, btree for indexes; partitioned tables and
        // views have none.
        "relam" => ints(relations.iter().map(|r| match r.kind {
            "r" => 2,
            "i" => BTREE,
            _ => 0,
        })),
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
        "relhastriggers" => bools(relations.iter().map(|r| with_triggers.contains(&r.oid))),
        "relhasindex" => bools(
            relations
                .iter()
                .map(|r| r.keys.iter().any(|k| k.references.is_none())),
        ),
        "relreplident" => texts(relations.iter().map(|r| match r.kind {
            "r" | "p" => "d",
            _ => "n",
        })),
        _ => None,
    })
}

/// Source columns' defaults: `adbin` holds the expression as PostgreSQL
/// prints it, which Strata's `pg_get_expr` hands back.
fn default_rows(schema: &SchemaRef, relations: &[Relation]) -> Result<RecordBatch> {
    let defaults: Vec<(i64, i64, i64, &str)> = relations
        .iter()
        .flat_map(|r| {
            r.defaults.iter().filter_map(|(number, oid)| {
                let field = r.columns.field(usize::try_from(*number - 1).ok()?);
                Some((*oid, r.oid, *number, declared_default(field)?))
            })
        })
        .collect();
    batch(schema, defaults.len(), |column| match column {
        "oid" => ints(defaults.iter().map(|d| d.0)),
        "adrelid" => ints(defaults.iter().map(|d| d.1)),
        "adnum" => ints(defaults.iter().map(|d| d.2)),
        "adbin" => texts(defaults.iter().map(|d| d.3)),
        _ => None,
    })
}

/// PostgreSQL's btree access method.
const BTREE: i64 = 403;

/// The default btree operator class of a type, as pg_opclass lists it
/// (`int4_ops`, `text_ops`, ...); 0 for a type without one here.
fn default_operator_class(ty: &Type) -> i64 {
    match *ty {
        Type::BOOL => 10_003,
        Type::BYTEA => 10_006,
        Type::CHAR => 10_007,
        Type::NAME => 10_028,
        Type::INT8 => 3124,
        Type::INT2 => 1979,
        Type::INT4 => 1978,
        Type::TEXT | Type::VARCHAR => 3126,
        Type::OID => 1981,
        Type::FLOAT4 => 10_012,
        Type::FLOAT8 => 3123,
        Type::BPCHAR => 10_004,
        Type::DATE => 3122,
        Type::TIME => 10_038,
        Type::TIMESTAMP => 3128,
        Type::TIMESTAMPTZ => 3127,
        Type::INTERVAL => 10_022,
        Type::NUMERIC => 3125,
        Type::UUID => 10_065,
        Type::JSONB => 10_088,
        ref other if element_of(other).is_some() => 10_000,
        _ => 0,
    }
}

/// Source tables' primary keys and unique constraints, as PostgreSQL keeps
/// them: immediate, validated, enforced by the index of the same key.
fn constraint_rows(schema: &SchemaRef, keys: &[Key]) -> Result<RecordBatch> {
    let n = keys.len();
    batch(schema, n, |column| match column {
        "oid" => ints(keys.iter().map(|k| k.oid)),
        "conname" => texts(keys.iter().map(|k| k.name.as_str())),
        "connamespace" => ints(keys.iter().map(|k| k.namespace)),
        "contype" => texts(keys.iter().map(|k| match (&k.references, k.primary) {
            (Some(_), _) => "f",
            (None, true) => "p",
            (None, false) => "u",
        })),
        "confrelid" => ints(
            keys.iter()
                .map(|k| k.references.as_ref().map_or(0, |r| r.relation)),
        ),
        "confkey" => Some(Arc::new(
            datafusion::arrow::array::ListArray::from_iter_primitive::<
                datafusion::arrow::datatypes::Int64Type,
                _,
                _,
            >(keys.iter().map(|k| {
                k.references
                    .as_ref()
                    .map(|r| r.columns.iter().map(|c| Some(c.1)).collect::<Vec<_>>())
            })),
        )),
        "confupdtype" | "confdeltype" | "confmatchtype" => texts(keys.iter().map(|k| {
            match (&k.references, column) {
                (Some(r), "confupdtype") => r.actions.on_update.as_str(),
                (Some(r), "confdeltype") => r.actions.on_delete.as_str(),
                (Some(r), _) => r.actions.match_type.as_str(),
                // Not a foreign key.
                (None, _) => " ",
            }
        })),
        "condeferrable" | "condeferred" => bools(std::iter::repeat_n(false, n)),
        "convalidated" | "conislocal" | "connoinherit" => bools(std::iter::repeat_n(true, n)),
        "conrelid" => ints(keys.iter().map(|k| k.relation)),
        "conindid" => ints(keys.iter().map(|k| k.index_oid)),
        "conkey" => int_lists(keys.iter().map(|k| k.columns.iter().map(|c| c.1).collect())),
        _ => None,
    })
}

/// The unique btree indexes that enforce source tables' keys.
fn index_rows(schema: &SchemaRef, keys: &[Key]) -> Result<RecordBatch> {
    let keys: Vec<&Key> = keys.iter().filter(|k| k.references.is_none()).collect();
    let n = keys.len();
    let per_column = |value: i64| {
        int_lists(
            keys.iter()
                .map(|k| std::iter::repeat_n(value, k.columns.len()).collect()),
        )
    };
    batch(schema, n, |column| match column {
        "indexrelid" => ints(keys.iter().map(|k| k.index_oid)),
        "indrelid" => ints(keys.iter().map(|k| k.relation)),
        "indnatts" | "indnkeyatts" => ints(keys.iter().map(|k| k.columns.len() as i64)),
        "indisunique" | "indimmediate" | "indisvalid" | "indisready" | "indislive" => {
            bools(std::iter::repeat_n(true, n))
        }
        "indisprimary" => bools(keys.iter().map(|k| k.primary)),
        "indkey" => int_lists(keys.iter().map(|k| k.columns.iter().map(|c| c.1).collect())),
        "indclass" => int_lists(keys.iter().map(|k| k.operator_classes.clone())),
        "indcollation" | "indoption" => per_column(0),
        _ => None,
    })
}

/// The lake's `COMMENT ON TABLE` and `COMMENT ON COLUMN` texts, as
/// PostgreSQL keeps them: by the table's oid, pg_class's oid as the class,
/// 0 or the column's number as the sub-id.
fn description_rows(schema: &SchemaRef, relations: &[Relation]) -> Result<RecordBatch> {
    let comments: Vec<(i64, i64, &str)> = relations
        .iter()
        .filter_map(|r| Some((r.oid, r.facts.as_ref()?)))
        .flat_map(|(oid, facts)| {
            let table = facts.comment.as_deref().map(|text| (oid, 0, text));
            let columns = facts
                .column_comments
                .iter()
                .enumerate()
                .filter_map(move |(i, text)| Some((oid, i as i64 + 1, text.as_deref()?)));
            table.into_iter().chain(columns)
        })
        .collect();
    let n = comments.len();
    batch(schema, n, |column| match column {
        "objoid" => ints(comments.iter().map(|c| c.0)),
        "classoid" => ints(std::iter::repeat_n(
            catalog_table_oid("pg_class").unwrap_or_default(),
            n,
        )),
        "objsubid" => ints(comments.iter().map(|c| c.1)),
        "description" => texts(comments.iter().map(|c| c.2)),
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
        // Arrays have a dimension; int2vector and oidvector do not.
        "attndims" => ints(columns.iter().map(|c| {
            let vector = matches!(c.ty, Type::INT2_VECTOR | Type::OID_VECTOR);
            i64::from(element_of(&c.ty).is_some() && !vector)
        })),
        "atttypmod" => ints(columns.iter().map(|c| typmod(c.field))),
        "attbyval" => bools(columns.iter().map(|c| storage(&c.ty).1)),
        "attalign" => texts(columns.iter().map(|c| storage(&c.ty).2)),
        "attstorage" => texts(columns.iter().map(|c| storage(&c.ty).3)),
        "attnotnull" => bools(columns.iter().map(|c| declared_not_null(c.field))),
        "atthasdef" => bools(columns.iter().map(|c| declared_default(c.field).is_some())),
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

/// A catalog function that answers in terms of the session's database and
/// schema (`datafusion.catalog.default_catalog` and `default_schema`).
struct SessionFunction {
    name: &'static str,
    signature: datafusion::logical_expr::Signature,
    returns: DataType,
    answer: SessionAnswer,
}

/// A [`SessionFunction`]'s answer for its argument's values.
type SessionAnswer = Box<dyn Fn(&ArrayRef, &CatalogOptions) -> Result<ArrayRef> + Send + Sync>;

impl std::fmt::Debug for SessionFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionFunction")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for SessionFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for SessionFunction {}

impl std::hash::Hash for SessionFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for SessionFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> Result<datafusion::logical_expr::ColumnarValue> {
        let values = datafusion::logical_expr::ColumnarValue::values_to_arrays(&args.args)?;
        let answer = (self.answer)(&values[0], &args.config_options.catalog)?;
        Ok(datafusion::logical_expr::ColumnarValue::Array(answer))
    }
}

/// `to_regclass(text)`: the oid of the relation a name (`table`,
/// `schema.table` or `catalog.schema.table`, quoted as in SQL) names, or
/// NULL if there is none; a number is an oid already. An unqualified name
/// is a pg_catalog table or one of the session's schema; a schema-qualified
/// one is in the session's database.
pub fn to_regclass(
    store: Arc<CatalogStore>,
    catalogs: Arc<dyn datafusion::catalog::CatalogProviderList>,
) -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::array::{AsArray, Int32Array};
    let resolve = move |name: &str, session: &CatalogOptions| -> Option<i32> {
        if let Ok(oid) = name.trim().parse::<u32>() {
            return i32::try_from(oid).ok();
        }
        let parts = identifier_parts(name)?;
        let (catalog, schema, table) = match parts.as_slice() {
            [table] => {
                if let Some(oid) = catalog_table_oid(table) {
                    return i32::try_from(oid).ok();
                }
                (
                    session.default_catalog.as_str(),
                    session.default_schema.as_str(),
                    table.as_str(),
                )
            }
            [schema, table] if schema == "pg_catalog" => {
                return catalog_table_oid(table).and_then(|oid| i32::try_from(oid).ok());
            }
            [schema, table] => (
                session.default_catalog.as_str(),
                schema.as_str(),
                table.as_str(),
            ),
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
    datafusion::logical_expr::ScalarUDF::new_from_impl(SessionFunction {
        name: "to_regclass",
        signature: datafusion::logical_expr::Signature::exact(
            vec![DataType::Utf8],
            datafusion::logical_expr::Volatility::Stable,
        ),
        returns: DataType::Int32,
        answer: Box::new(move |names, session| {
            let names = cast(names, &DataType::Utf8)?;
            let oids: Int32Array = names
                .as_string::<i32>()
                .iter()
                .map(|name| name.and_then(|name| resolve(name, session)))
                .collect();
            Ok(Arc::new(oids))
        }),
    })
}

/// `regclass_name(oid)`: how PostgreSQL prints a `regclass`, the relation's
/// name, qualified where the session's search path would not find it
/// (`silver.orders`, `pg.public.orders` from the lake; a table of the
/// session's schema or a pg_catalog table bare); the number for an oid
/// that names no relation.
pub fn regclass_name(store: Arc<CatalogStore>) -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::array::AsArray;
    let name = move |oid: i64, session: &CatalogOptions| -> String {
        if let Some((table, _)) = CATALOG_TABLE_OIDS.iter().find(|(_, o)| *o == oid) {
            return (*table).to_owned();
        }
        let key = u32::try_from(oid)
            .ok()
            .and_then(|oid| store.object_of(oid))
            .and_then(|key| {
                let name = key
                    .strip_prefix("rel ")
                    .or_else(|| key.strip_prefix("index "))?;
                Some(name.to_owned())
            });
        let Some(name) = key else {
            return oid.to_string();
        };
        let database = format!("{}.", quote_ident(&session.default_catalog));
        match name.strip_prefix(&database) {
            Some(local) => {
                let schema = format!("{}.", quote_ident(&session.default_schema));
                local.strip_prefix(&schema).unwrap_or(local).to_owned()
            }
            None => name,
        }
    };
    datafusion::logical_expr::ScalarUDF::new_from_impl(SessionFunction {
        name: "regclass_name",
        signature: datafusion::logical_expr::Signature::exact(
            vec![DataType::Int64],
            datafusion::logical_expr::Volatility::Stable,
        ),
        returns: DataType::Utf8,
        answer: Box::new(move |oids, session| {
            let oids = cast(oids, &DataType::Int64)?;
            let names: StringArray = oids
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .iter()
                .map(|oid| oid.map(|oid| name(oid, session)))
                .collect();
            Ok(Arc::new(names))
        }),
    })
}

/// The parts of a qualified SQL name, unquoted parts folded to lower case.
pub(super) fn identifier_parts(name: &str) -> Option<Vec<String>> {
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
