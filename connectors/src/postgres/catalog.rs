//! A PostgreSQL source as a catalog: its schemas and tables appear as
//! `<source>.<schema>.<table>`.
//!
//! Looking a table up asks PostgreSQL each time, so a table created there is
//! usable at once. Listing (information_schema, `\dt`) is synchronous in
//! DataFusion, so it reads a list that [`PgCatalog::refresh`] keeps current;
//! the server refreshes before each catalog query.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::Result;
use tokio_postgres::Client;

use super::ReadError;
use super::options::{ReadOptions, TableOptions};
use super::source::PgSource;
use super::table::{PgTable, to_datafusion};

/// Schemas and their tables, as last listed.
#[derive(Debug, Default)]
struct Listing {
    schemas: BTreeMap<String, BTreeSet<String>>,
    listed_at: Option<Instant>,
}

/// A PostgreSQL source as a DataFusion catalog.
#[derive(Debug, Clone)]
pub struct PgCatalog {
    source: PgSource,
    listing: Arc<RwLock<Listing>>,
    /// One connection for listings and table lookups (tokio-postgres
    /// pipelines concurrent queries on it), opened on first use and again
    /// once it breaks: catalog queries and planning do not pay a connection
    /// setup each.
    connection: Arc<tokio::sync::Mutex<Option<Arc<Client>>>>,
    /// Strata's own pg_catalog and information_schema, which a session
    /// connected to this source's database (`psql -d pg`) reads for `\dt`
    /// and friends.
    system: BTreeMap<String, Arc<dyn SchemaProvider>>,
    /// How tables are read, by `schema.table`.
    options: Arc<RwLock<TableOptions>>,
}

impl PgCatalog {
    pub fn new(source: PgSource) -> Self {
        Self {
            source,
            listing: Arc::default(),
            connection: Arc::default(),
            system: BTreeMap::new(),
            options: Arc::default(),
        }
    }

    /// The read options of every table that has some, by `schema.table`.
    pub fn table_options(&self) -> TableOptions {
        self.options
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets the read options of `schema.table`; empty options clear them.
    pub fn set_table_options(&self, schema: &str, table: &str, options: ReadOptions) {
        let mut all = self.options.write().unwrap_or_else(|p| p.into_inner());
        let key = format!("{schema}.{table}");
        if options.is_empty() {
            all.remove(&key);
        } else {
            all.insert(key, options);
        }
    }

    /// The read options of `schema.table`.
    fn options_of(&self, schema: &str, table: &str) -> ReadOptions {
        self.options
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&format!("{schema}.{table}"))
            .cloned()
            .unwrap_or_default()
    }

    /// The catalog's connection, opened again if it broke.
    async fn client(&self) -> Result<Arc<Client>, ReadError> {
        let mut slot = self.connection.lock().await;
        if let Some(client) = slot.as_ref()
            && !client.is_closed()
        {
            return Ok(Arc::clone(client));
        }
        let client = Arc::new(self.source.connect().await?);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// Answers the system schema `name` (`pg_catalog`,
    /// `information_schema`) with `schema` instead of the source's own.
    pub fn with_system_schema(mut self, name: &str, schema: Arc<dyn SchemaProvider>) -> Self {
        self.system.insert(name.to_owned(), schema);
        self
    }

    pub fn source(&self) -> &PgSource {
        &self.source
    }

    /// Lists the source's schemas and tables again, unless the last listing
    /// is younger than `max_age`.
    pub async fn refresh(&self, max_age: Duration) -> Result<(), ReadError> {
        let fresh = self
            .listing
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .listed_at
            .is_some_and(|at| at.elapsed() < max_age);
        if fresh {
            return Ok(());
        }
        const SQL: &str = "\
            SELECT n.nspname::text, c.relname::text \
            FROM pg_namespace n \
            LEFT JOIN pg_class c ON c.relnamespace = n.oid \
                AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
                AND has_table_privilege(c.oid, 'SELECT') \
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
              AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
              AND has_schema_privilege(n.oid, 'USAGE')";
        let rows = self.client().await?.query(SQL, &[]).await?;
        let mut schemas: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for row in rows {
            let tables = schemas.entry(row.get(0)).or_default();
            if let Some(table) = row.get::<_, Option<String>>(1) {
                tables.insert(table);
            }
        }
        let mut listing = self.listing.write().unwrap_or_else(|p| p.into_inner());
        listing.schemas = schemas;
        listing.listed_at = Some(Instant::now());
        Ok(())
    }
}

impl CatalogProvider for PgCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.listing
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .schemas
            .keys()
            .cloned()
            .collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(system) = self.system.get(name) {
            return Some(Arc::clone(system));
        }
        // Any name: a schema created since the last listing is found when a
        // table in it is looked up.
        Some(Arc::new(PgSchema {
            catalog: self.clone(),
            name: name.to_owned(),
        }))
    }
}

/// A schema of a PostgreSQL source.
#[derive(Debug)]
struct PgSchema {
    catalog: PgCatalog,
    name: String,
}

#[async_trait]
impl SchemaProvider for PgSchema {
    fn table_names(&self) -> Vec<String> {
        self.catalog
            .listing
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .schemas
            .get(&self.name)
            .map(|tables| tables.iter().cloned().collect())
            .unwrap_or_default()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let client = self.catalog.client().await.map_err(to_datafusion)?;
        match PgTable::load_on(&client, &self.catalog.source, &self.name, name).await {
            Ok(table) => {
                let options = self.catalog.options_of(&self.name, name);
                Ok(Some(Arc::new(table.with_options(options))))
            }
            Err(ReadError::UndefinedTable(_)) => Ok(None),
            Err(e) => Err(to_datafusion(e)),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.table_names().iter().any(|t| t == name)
    }
}
