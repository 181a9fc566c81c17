//! The `lake` catalog: its schemas are the folders under the lake root, its
//! tables the Delta tables in them, found by listing the storage, so a
//! restarted server (or another one over the same root) sees them with no
//! other catalog service. Views and external tables (files that are not
//! Delta tables) live beside them, kept by the server's own catalog file.
//!
//! A table is looked up in the storage each time a statement names it, so a
//! query sees the latest committed version. Listings (`table_names`, which
//! DataFusion asks for synchronously) come from the last [`refresh`].
//!
//! [`refresh`]: LakeCatalog::refresh

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use futures::future::try_join_all;
use object_store::{ObjectStoreExt, PutPayload};
use url::Url;

use super::snapshot::{LatestCommit, TableVersion, VersionSpec, exists, latest_commit, load};
use super::storage::{LakeRoot, store_for, store_path};
use super::table::LakeTable;
use super::{LakeError, valid_name};

/// The schemas every lake has.
pub const DEFAULT_SCHEMAS: [&str; 4] = ["public", "bronze", "silver", "gold"];

/// Schemas that belong to the system, not to the lake's storage.
/// Schemas of every database that hold the server's own tables, not
/// lake tables: PostgreSQL's catalogs and Strata's (`strata.queries`).
pub const SYSTEM_SCHEMAS: [&str; 3] = ["pg_catalog", "information_schema", "strata"];

/// The object that marks a folder as a schema (object stores have no
/// empty folders).
const SCHEMA_MARKER: &str = ".strata_schema";

/// The `lake` catalog.
#[derive(Debug)]
pub struct LakeCatalog {
    root: LakeRoot,
    system: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
    schemas: RwLock<BTreeMap<String, Arc<LakeSchema>>>,
}

impl LakeCatalog {
    /// The catalog over `root`, with its default schemas created and its
    /// schemas and tables listed.
    pub async fn open(root: LakeRoot) -> Result<Self, LakeError> {
        let catalog = Self {
            root,
            system: RwLock::default(),
            schemas: RwLock::default(),
        };
        for schema in DEFAULT_SCHEMAS {
            catalog.create_schema(schema, true).await?;
        }
        catalog.refresh().await?;
        Ok(catalog)
    }

    pub fn root(&self) -> &LakeRoot {
        &self.root
    }

    /// The lake schema `name`, if it exists.
    pub fn lake_schema(&self, name: &str) -> Option<Arc<LakeSchema>> {
        self.schemas
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Creates schema `name` in the storage (and here).
    pub async fn create_schema(&self, name: &str, if_not_exists: bool) -> Result<(), LakeError> {
        if SYSTEM_SCHEMAS.contains(&name) || self.lake_schema(name).is_some() {
            return if if_not_exists {
                Ok(())
            } else {
                Err(LakeError::DuplicateSchema(name.to_owned()))
            };
        }
        let url = self.root.schema_url(name)?;
        let store = store_for(&url)?;
        let marker = store_path(&url)?.join(SCHEMA_MARKER);
        store.put(&marker, PutPayload::from_static(b"{}")).await?;
        self.add(name, url);
        Ok(())
    }

    /// Drops schema `name`: with `cascade`, every table in it first;
    /// otherwise it must be empty.
    pub async fn drop_schema(&self, name: &str, cascade: bool) -> Result<(), LakeError> {
        let schema = self
            .lake_schema(name)
            .ok_or_else(|| LakeError::UndefinedSchema(name.to_owned()))?;
        schema.refresh().await?;
        let tables = schema.table_names();
        if !tables.is_empty() && !cascade {
            return Err(LakeError::SchemaNotEmpty(name.to_owned()));
        }
        for table in schema.delta_tables() {
            schema.drop_table(&table).await?;
        }
        let store = store_for(&schema.url)?;
        store
            .delete(&store_path(&schema.url)?.join(SCHEMA_MARKER))
            .await
            .or_else(|e| match e {
                object_store::Error::NotFound { .. } => Ok(()),
                e => Err(e),
            })?;
        self.schemas
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        Ok(())
    }

    fn add(&self, name: &str, url: Url) -> Arc<LakeSchema> {
        let mut schemas = self.schemas.write().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            schemas
                .entry(name.to_owned())
                .or_insert_with(|| Arc::new(LakeSchema::new(name, url))),
        )
    }

    /// Lists the storage again: the schemas under the root and the tables in
    /// each.
    pub async fn refresh(&self) -> Result<(), LakeError> {
        let store = store_for(self.root.url())?;
        let listed = store
            .list_with_delimiter(Some(&store_path(self.root.url())?))
            .await?;
        let found: BTreeSet<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .filter(|name| valid_name(name))
            .collect();
        for name in &found {
            if self.lake_schema(name).is_none() {
                self.add(name, self.root.schema_url(name)?);
            }
        }
        {
            // A schema whose folder is gone (dropped elsewhere) goes too,
            // unless views or external tables still live in it.
            let mut schemas = self.schemas.write().unwrap_or_else(|p| p.into_inner());
            schemas.retain(|name, schema| {
                found.contains(name)
                    || DEFAULT_SCHEMAS.contains(&name.as_str())
                    || !schema.memory.table_names().is_empty()
            });
        }
        let schemas: Vec<Arc<LakeSchema>> = self
            .schemas
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        try_join_all(schemas.iter().map(|s| s.refresh())).await?;
        Ok(())
    }
}

impl CatalogProvider for LakeCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .system
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        names.extend(
            self.schemas
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .keys()
                .cloned(),
        );
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(system) = self
            .system
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Some(Arc::clone(system));
        }
        self.lake_schema(name)
            .map(|schema| schema as Arc<dyn SchemaProvider>)
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        if SYSTEM_SCHEMAS.contains(&name) {
            return Ok(self
                .system
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name.to_owned(), schema));
        }
        // DataFusion's CREATE SCHEMA: the server writes the folder's marker
        // (create_schema); here the schema only becomes known.
        let previous = self.lake_schema(name);
        let url = self.root.schema_url(name).map_err(DataFusionError::from)?;
        self.add(name, url);
        Ok(previous.map(|s| s as Arc<dyn SchemaProvider>))
    }

    fn deregister_schema(
        &self,
        name: &str,
        _cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        Ok(self
            .schemas
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
            .map(|s| s as Arc<dyn SchemaProvider>))
    }
}

/// A schema of the lake: a folder of Delta tables, plus views and external
/// tables.
#[derive(Debug)]
pub struct LakeSchema {
    name: String,
    url: Url,
    memory: MemorySchemaProvider,
    /// The Delta tables found by the last listing.
    listed: RwLock<BTreeSet<String>>,
    /// What the catalog tables say of each table, as of its latest version
    /// loaded.
    facts: RwLock<BTreeMap<String, TableFacts>>,
    /// Each table's latest version loaded, with the commit it was read at:
    /// loading a version reads the log and lists the files, milliseconds
    /// per table for every statement and catalog query that names it, where
    /// one listing of the log tells whether it is still the latest.
    latest: RwLock<BTreeMap<String, (LatestCommit, Arc<TableVersion>)>>,
}

/// What pg_catalog shows of a lake table beyond its columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableFacts {
    /// Fixed when the table is created.
    pub partition_columns: Vec<String>,
    /// The bytes of its live files.
    pub bytes: u64,
    /// `COMMENT ON TABLE`.
    pub comment: Option<String>,
    /// `COMMENT ON COLUMN`, by column position (0-based).
    pub column_comments: Vec<Option<String>>,
}

impl TableFacts {
    fn of(version: &TableVersion) -> Self {
        Self {
            partition_columns: version.partition_columns.clone(),
            bytes: version
                .files
                .iter()
                .map(|f| u64::try_from(f.size).unwrap_or_default())
                .sum(),
            comment: version.comment.clone(),
            column_comments: version
                .schema
                .fields()
                .iter()
                .map(|f| {
                    f.metadata()
                        .get("comment")
                        .filter(|c| !c.is_empty())
                        .cloned()
                })
                .collect(),
        }
    }
}

impl LakeSchema {
    fn new(name: &str, url: Url) -> Self {
        Self {
            name: name.to_owned(),
            url,
            memory: MemorySchemaProvider::new(),
            listed: RwLock::default(),
            facts: RwLock::default(),
            latest: RwLock::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The folder of table `table`.
    pub fn table_url(&self, table: &str) -> Result<Url, LakeError> {
        super::storage::join(&self.url, table)
    }

    /// `schema.table`.
    pub fn qualified(&self, table: &str) -> String {
        format!("{}.{table}", self.name)
    }

    /// The Delta tables found by the last listing.
    pub fn delta_tables(&self) -> Vec<String> {
        self.listed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// What the catalog shows of `table`, if it has been loaded (every
    /// catalog query that lists columns loads the tables it lists).
    pub fn facts(&self, table: &str) -> Option<TableFacts> {
        self.facts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
            .cloned()
    }

    /// True if `table` is a view or an external table (not a Delta table).
    pub fn is_registered(&self, table: &str) -> bool {
        self.memory.table_exist(table)
    }

    /// Lists the schema's folder again.
    pub async fn refresh(&self) -> Result<(), LakeError> {
        let store = store_for(&self.url)?;
        let listed = store
            .list_with_delimiter(Some(&store_path(&self.url)?))
            .await?;
        let candidates: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .filter(|name| valid_name(name))
            .collect();
        let checks = candidates.iter().map(|name| async move {
            let url = self.table_url(name)?;
            Ok::<_, LakeError>(exists(&url).await?.then(|| name.clone()))
        });
        let tables: BTreeSet<String> = try_join_all(checks).await?.into_iter().flatten().collect();
        *self.listed.write().unwrap_or_else(|p| p.into_inner()) = tables;
        Ok(())
    }

    /// Records that `table` exists (after a CREATE), before the next listing.
    pub fn note_created(&self, table: &str) {
        self.listed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(table.to_owned());
    }

    /// Deletes the Delta table `table`: its log first, so it stops being a
    /// table at once, then its data files.
    pub async fn drop_table(&self, table: &str) -> Result<(), LakeError> {
        let url = self.table_url(table)?;
        let store = store_for(&url)?;
        let root = store_path(&url)?;
        for prefix in [root.clone().join("_delta_log"), root] {
            let mut objects = store.list(Some(&prefix));
            let mut paths = Vec::new();
            use futures::StreamExt;
            while let Some(object) = objects.next().await {
                paths.push(object?.location);
            }
            // Newest log entries go first: a half-deleted log reads as an
            // older version, never as a broken one.
            paths.sort();
            paths.reverse();
            for path in paths {
                match store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.listed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(table);
        self.facts
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(table);
        Ok(())
    }

    /// The lake table `name` (`table`, `table@v3` or `table@<timestamp>`).
    pub async fn lake_table(&self, name: &str) -> Result<Option<LakeTable>, LakeError> {
        let (table, spec) = parse_version(name)?;
        let Ok(url) = self.table_url(table) else {
            return Ok(None);
        };
        let qualified = self.qualified(table);
        // A name the last listing did not find is checked first: loading a
        // table that is not there is an error (and a log line) in Delta.
        let listed = self
            .listed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(table);
        let commit = match spec {
            VersionSpec::Latest => latest_commit(&url).await?,
            _ => None,
        };
        if let Some(commit) = &commit {
            let cached = self
                .latest
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(table)
                .filter(|(at, _)| at == commit)
                .map(|(_, version)| Arc::clone(version));
            if let Some(version) = cached {
                self.note_created(table);
                return Ok(Some(LakeTable::of_version(qualified, version)));
            }
        }
        if !listed && commit.is_none() && !exists(&url).await? {
            return Ok(None);
        }
        match load(&qualified, &url, spec).await {
            Ok(version) => {
                self.note_created(table);
                let version = Arc::new(version);
                if spec == VersionSpec::Latest {
                    self.facts
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(table.to_owned(), TableFacts::of(&version));
                    let mut latest = self.latest.write().unwrap_or_else(|p| p.into_inner());
                    match commit.filter(|c| c.version == version.version) {
                        Some(commit) => {
                            latest.insert(table.to_owned(), (commit, Arc::clone(&version)));
                        }
                        // A commit landed between the listing and the load.
                        None => {
                            latest.remove(table);
                        }
                    }
                }
                Ok(Some(LakeTable::of_version(qualified, version)))
            }
            Err(e) => {
                if exists(&url).await? {
                    return Err(e);
                }
                self.listed
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(table);
                self.latest
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(table);
                Ok(None)
            }
        }
    }
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.memory.table_names();
        names.extend(self.delta_tables());
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.memory.table(name).await? {
            return Ok(Some(table));
        }
        Ok(self
            .lake_table(name)
            .await?
            .map(|t| Arc::new(t) as Arc<dyn TableProvider>))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        self.memory.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.memory.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.memory.table_exist(name)
            || self
                .listed
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(name)
    }
}

/// Splits `orders@v3` / `orders@20240102030405000` (Delta's time travel by
/// name) into the table and the version asked for.
pub fn parse_version(name: &str) -> Result<(&str, VersionSpec), LakeError> {
    let Some((table, at)) = name.rsplit_once('@') else {
        return Ok((name, VersionSpec::Latest));
    };
    let bad = || {
        LakeError::InvalidParameter(format!(
            "\"{name}\": a version is written @v<number> or @yyyyMMddHHmmssSSS"
        ))
    };
    if let Some(number) = at.strip_prefix('v').or_else(|| at.strip_prefix('V')) {
        let version = number.parse::<i64>().map_err(|_| bad())?;
        return Ok((table, VersionSpec::Version(version)));
    }
    if at.len() == 17 && at.bytes().all(|b| b.is_ascii_digit()) {
        let time = NaiveDateTime::parse_from_str(at, "%Y%m%d%H%M%S%3f").map_err(|_| bad())?;
        return Ok((
            table,
            VersionSpec::Timestamp(DateTime::<Utc>::from_naive_utc_and_offset(time, Utc)),
        ));
    }
    Err(bad())
}

/// The name that reads `table` at `time` (see [`parse_version`]).
pub fn name_at_time(table: &str, time: DateTime<Utc>) -> String {
    format!("{table}@{}", time.format("%Y%m%d%H%M%S%3f"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_names() {
        assert_eq!(
            parse_version("orders").unwrap(),
            ("orders", VersionSpec::Latest)
        );
        assert_eq!(
            parse_version("orders@v12").unwrap(),
            ("orders", VersionSpec::Version(12))
        );
        let (_, VersionSpec::Timestamp(time)) = parse_version("orders@20240102030405006").unwrap()
        else {
            panic!("not a timestamp");
        };
        assert_eq!(name_at_time("orders", time), "orders@20240102030405006");
        assert!(parse_version("orders@yesterday").is_err());
    }
}
