//! `COPY table [(columns)] FROM STDIN`: the rows a client sends, inserted as
//! one `INSERT INTO table (columns) SELECT ...` would be — into a lake table
//! in one commit, into a PostgreSQL source table in one transaction, with
//! the columns left out getting their defaults.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemorySchemaProvider,
};
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;

use super::Session;
use super::catalog::quote_ident;
use super::control::QueryControl;
use super::statement::CopyOutOptions;
use crate::error::{Result, StrataError};

/// A `COPY ... FROM STDIN` waiting for its rows.
#[derive(Debug, Clone)]
pub struct CopyIn {
    /// The table, as the statement names it.
    pub table: String,
    /// The columns the rows hold, in order, with the table's types.
    pub schema: SchemaRef,
    pub options: CopyOutOptions,
}

/// The catalog the copied rows are read from while they are inserted.
const ROWS_CATALOG: &str = "strata_copy_in";

impl Session {
    /// Checks the table and columns of a `COPY ... FROM STDIN`.
    pub(super) async fn copy_in_target(
        &self,
        table: &str,
        columns: &[String],
        options: &CopyOutOptions,
    ) -> Result<CopyIn> {
        let reference = TableReference::from(table);
        let provider = self
            .ctx
            .table_provider(reference.clone())
            .await
            .map_err(|_| StrataError::UndefinedTable(table.to_owned()))?;
        let table_schema = provider.schema();
        let fields = if columns.is_empty() {
            table_schema.fields().iter().cloned().collect()
        } else {
            columns
                .iter()
                .map(|c| {
                    table_schema
                        .field_with_name(c)
                        .map(|f| Arc::new(f.clone()))
                        .map_err(|_| {
                            StrataError::DataFusion(
                                datafusion::error::DataFusionError::SchemaError(
                                    Box::new(datafusion::common::SchemaError::FieldNotFound {
                                        field: Box::new(
                                            datafusion::common::Column::new_unqualified(c),
                                        ),
                                        valid_fields: Vec::new(),
                                    }),
                                    Box::new(None),
                                ),
                            )
                        })
                })
                .collect::<Result<Vec<_>>>()?
        };
        Ok(CopyIn {
            table: table.to_owned(),
            schema: Arc::new(Schema::new(fields)),
            options: options.clone(),
        })
    }

    /// Inserts the rows of a finished `COPY ... FROM STDIN`; returns how many.
    pub async fn copy_in(
        &self,
        copy: &CopyIn,
        batches: Vec<RecordBatch>,
        control: &QueryControl,
    ) -> Result<u64> {
        let rows = MemTable::try_new(Arc::clone(&copy.schema), vec![batches])?;
        let schema = MemorySchemaProvider::new();
        datafusion::catalog::SchemaProvider::register_table(
            &schema,
            "rows".to_owned(),
            Arc::new(rows),
        )?;
        let catalog = MemoryCatalogProvider::new();
        catalog.register_schema("public", Arc::new(schema))?;
        let state = self.ctx.state();
        let overlay = Arc::new(Overlay {
            base: Arc::clone(state.catalog_list()),
            rows: Arc::new(catalog),
        });
        let state = SessionStateBuilder::new_from_existing(state)
            .with_catalog_list(overlay)
            .build();
        let columns: Vec<String> = copy
            .schema
            .fields()
            .iter()
            .map(|f| quote_ident(f.name()))
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) SELECT * FROM {ROWS_CATALOG}.public.rows",
            copy.table,
            columns.join(", ")
        );
        let plan = state.create_logical_plan(&sql).await?;
        self.run_insert(plan, control).await
    }
}

/// The session's catalogs plus the one holding the copied rows.
#[derive(Debug)]
struct Overlay {
    base: Arc<dyn CatalogProviderList>,
    rows: Arc<dyn CatalogProvider>,
}

impl CatalogProviderList for Overlay {
    fn register_catalog(
        &self,
        name: String,
        catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        self.base.register_catalog(name, catalog)
    }

    fn catalog_names(&self) -> Vec<String> {
        let mut names = self.base.catalog_names();
        names.push(ROWS_CATALOG.to_owned());
        names
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        if name == ROWS_CATALOG {
            Some(Arc::clone(&self.rows))
        } else {
            self.base.catalog(name)
        }
    }
}
