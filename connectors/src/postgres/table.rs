//! A PostgreSQL table as a DataFusion table, and the plan node that reads it
//! with binary COPY.
//!
//! [`PgScanExec`] is one partition: Ballista 55 hands every task a custom
//! leaf scan whole, so a scan of several partitions would be read once per
//! task (DESIGN.md, the duplication trap). A table read in ranges (ctid or
//! a partition column) is a file scan instead ([`super::sliced`]).

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::defaults::{pg_column_default, without_defaulted};
use super::options::ReadOptions;
use super::pushdown::filter_sql;
use super::sliced::{SlicedSpec, ctid_slices, export_snapshot, sliced_scan};
use super::source::{PgSource, SourceError};
use super::write::{PgInsertExec, PgInsertSpec};
use super::{PgColumn, PgKey, ReadError, arrow_schema, quote_ident, read_query, select_list};
use crate::sqlstate::{SqlState, tag};

/// A table smaller than this many pages (of 8 KiB) is read by one task.
const MIN_PAGES_PER_SLICE: u64 = 128;

/// A table of a PostgreSQL source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgTable {
    pub source: PgSource,
    pub schema_name: String,
    pub table_name: String,
    pub columns: Vec<PgColumn>,
    /// Its primary key, unique and foreign key constraints, which the
    /// catalogs show.
    #[serde(default)]
    pub keys: Vec<PgKey>,
    /// How the table is read (Spark's partitioning options).
    #[serde(default)]
    pub options: ReadOptions,
}

impl PgTable {
    /// Looks the table up in its database, on a connection of its own.
    pub async fn load(source: &PgSource, schema: &str, table: &str) -> Result<Self, ReadError> {
        Self::load_on(&source.connect().await?, source, schema, table).await
    }

    /// Looks the table up on `client`, a connection to `source`.
    pub async fn load_on(
        client: &Client,
        source: &PgSource,
        schema: &str,
        table: &str,
    ) -> Result<Self, ReadError> {
        // One round trip: tokio-postgres pipelines the two queries.
        let (columns, keys) = futures::try_join!(
            super::describe(client, schema, table),
            super::keys(client, schema, table),
        )?;
        Ok(Self {
            source: source.clone(),
            schema_name: schema.to_owned(),
            table_name: table.to_owned(),
            columns,
            keys,
            options: ReadOptions::default(),
        })
    }

    /// The table read with `options`.
    pub fn with_options(mut self, options: ReadOptions) -> Self {
        self.options = options;
        self
    }

    /// The slices to read the table in, `None` for one reader: ranges of
    /// the partition column when one is set, else ctid ranges.
    async fn plan_slices(
        &self,
        client: &Client,
        target_partitions: usize,
    ) -> Result<Option<Vec<String>>> {
        if self.options.partition_column.is_some() {
            return self.options.range_slices(&self.columns).map_err(|message| {
                DataFusionError::Execution(tag(
                    SqlState::INVALID_PARAMETER_VALUE,
                    &format!("table {}: {message}", self.qualified_name()),
                ))
            });
        }
        match self.options.num_partitions {
            Some(count) => self.slices(client, count as usize, 1).await,
            None => {
                self.slices(client, target_partitions, MIN_PAGES_PER_SLICE)
                    .await
            }
        }
    }

    /// At most `count` ctid ranges of at least `min_pages` pages to read the
    /// table in, when it is a table (not a view) large enough to split, on
    /// PostgreSQL 14 or later (whose TID range scans read just the pages of
    /// a range); `None` means one reader.
    async fn slices(
        &self,
        client: &Client,
        count: usize,
        min_pages: u64,
    ) -> Result<Option<Vec<String>>> {
        let row = client
            .query_opt(
                "SELECT c.relkind::text, \
                        pg_relation_size(c.oid) / current_setting('block_size')::int8, \
                        current_setting('server_version_num')::int4 \
                 FROM pg_class c WHERE c.oid = to_regclass($1)",
                &[&self.qualified_name()],
            )
            .await
            .map_err(|e| to_datafusion(ReadError::Postgres(e)))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (kind, pages, version): (String, i64, i32) = (row.get(0), row.get(1), row.get(2));
        if kind != "r" || version < 140_000 {
            return Ok(None);
        }
        let count = (pages.max(0) as u64 / min_pages).min(count as u64);
        if count < 2 {
            return Ok(None);
        }
        Ok(Some(ctid_slices(pages as u64, count as usize)))
    }

    /// `"schema"."table"`.
    pub fn qualified_name(&self) -> String {
        format!(
            "{}.{}",
            quote_ident(&self.schema_name),
            quote_ident(&self.table_name)
        )
    }
}

#[async_trait]
impl TableProvider for PgTable {
    fn schema(&self) -> SchemaRef {
        arrow_schema(&self.columns)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|filter| match filter_sql(filter, &self.columns) {
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let columns: Vec<PgColumn> = match projection {
            Some(indices) => indices.iter().map(|&i| self.columns[i].clone()).collect(),
            None => self.columns.clone(),
        };
        let select = format!(
            "SELECT {} FROM {}",
            select_list(&columns),
            self.qualified_name()
        );
        // Only the filters declared exact arrive here, all of them pushable.
        let conditions: Vec<String> = filters
            .iter()
            .map(|filter| {
                filter_sql(filter, &self.columns).ok_or_else(|| {
                    DataFusionError::Internal(format!("filter {filter} cannot be pushed"))
                })
            })
            .collect::<Result<_>>()?;
        let target = state.config_options().execution.target_partitions;
        let wants_slices = target >= 2 || self.options.num_partitions.is_some_and(|n| n >= 2);
        if limit.is_none() && wants_slices {
            let client = self
                .source
                .connect()
                .await
                .map_err(|e| to_datafusion(e.into()))?;
            if let Some(slices) = self.plan_slices(&client, target).await? {
                // The same connection exports the snapshot and holds it.
                let (snapshot, guard) = export_snapshot(client).await?;
                let spec = SlicedSpec {
                    source: self.source.clone(),
                    select,
                    conditions,
                    slices,
                    columns,
                    snapshot: Some(snapshot),
                    top_n: None,
                };
                return Ok(sliced_scan(spec, Some(guard)));
            }
        }
        let mut sql = select;
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        let mut scan = PgScanExec::new(self.source.clone(), sql, columns);
        if let Some(limit) = limit {
            scan = scan.with_limit(None, limit);
        }
        Ok(Arc::new(scan))
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.columns
            .iter()
            .any(|c| c.name == column && c.has_default)
            .then(pg_column_default)
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let overwrite = match insert_op {
            InsertOp::Append => false,
            InsertOp::Overwrite => true,
            InsertOp::Replace => {
                return Err(DataFusionError::NotImplemented(
                    "REPLACE INTO a PostgreSQL table".to_owned(),
                ));
            }
        };
        // Columns the INSERT leaves out are PostgreSQL's to fill in.
        let (input, columns) = without_defaulted(input, &self.columns)?;
        let spec = PgInsertSpec {
            source: self.source.clone(),
            schema_name: self.schema_name.clone(),
            table_name: self.table_name.clone(),
            columns,
            overwrite,
        };
        Ok(Arc::new(PgInsertExec::new(spec, input)))
    }
}

/// Reads the rows of one query from a PostgreSQL source.
#[derive(Debug, Clone)]
pub struct PgScanExec {
    source: PgSource,
    sql: String,
    columns: Vec<PgColumn>,
    /// True once the query ends in LIMIT (and perhaps ORDER BY).
    limited: bool,
    properties: Arc<PlanProperties>,
}

/// What a [`PgScanExec`] is made of, as it travels in plans: the source's
/// definition (never its password), the query and the columns it reads.
#[derive(Debug, Serialize, Deserialize)]
pub struct PgScanSpec {
    pub source: PgSource,
    pub sql: String,
    pub columns: Vec<PgColumn>,
    #[serde(default)]
    pub limited: bool,
}

impl PgScanExec {
    pub fn new(source: PgSource, sql: String, columns: Vec<PgColumn>) -> Self {
        let schema = arrow_schema(&columns);
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            source,
            sql,
            columns,
            limited: false,
            properties,
        }
    }

    /// The scan with `ORDER BY order LIMIT limit` (or just the LIMIT) added
    /// to its query. The rows still need ordering here: they are not
    /// declared ordered.
    pub fn with_limit(mut self, order: Option<&str>, limit: usize) -> Self {
        if let Some(order) = order {
            self.sql.push_str(&format!(" ORDER BY {order}"));
        }
        self.sql.push_str(&format!(" LIMIT {limit}"));
        self.limited = true;
        self
    }

    /// True once the query ends in LIMIT.
    pub fn is_limited(&self) -> bool {
        self.limited
    }

    /// The columns the scan reads.
    pub fn columns(&self) -> &[PgColumn] {
        &self.columns
    }

    /// The query sent to PostgreSQL.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn spec(&self) -> PgScanSpec {
        PgScanSpec {
            source: self.source.clone(),
            sql: self.sql.clone(),
            columns: self.columns.clone(),
            limited: self.limited,
        }
    }

    pub fn from_spec(spec: PgScanSpec) -> Self {
        let mut scan = Self::new(spec.source, spec.sql, spec.columns);
        scan.limited = spec.limited;
        scan
    }
}

impl DisplayAs for PgScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PgScanExec: source={}, sql={}",
            self.source.name, self.sql
        )
    }
}

impl ExecutionPlan for PgScanExec {
    fn name(&self) -> &str {
        "PgScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "PgScanExec has no children".to_owned(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "PgScanExec has one partition, not {partition}"
            )));
        }
        let batch_size = context.session_config().batch_size();
        let source = self.source.clone();
        let sql = self.sql.clone();
        let columns = self.columns.clone();
        let schema = arrow_schema(&columns);
        let stream = futures::stream::once(async move {
            let client = Arc::new(source.connect().await?);
            Ok::<_, ReadError>(read_query(client, sql, columns, batch_size))
        })
        .try_flatten()
        .map(|result| result.map_err(to_datafusion));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// A read error as DataFusion sees it. A lost connection and an unreachable
/// source are I/O errors, which Ballista retries, tagged with 08006 / 08001
/// for the client should the retries fail too.
pub fn to_datafusion(error: ReadError) -> DataFusionError {
    let io = |kind: std::io::ErrorKind, state: SqlState| {
        DataFusionError::IoError(std::io::Error::new(kind, tag(state, &error.to_string())))
    };
    if let ReadError::Postgres(e) = &error
        && let Some(db) = e.as_db_error()
    {
        let code = db.code().code();
        // The server ended the session (an administrator's
        // pg_terminate_backend, a restart, a crash) or is out of
        // connections: worth another try, like a lost connection.
        if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300") {
            let state = SqlState::known(code).unwrap_or(SqlState::CONNECTION_FAILURE);
            return DataFusionError::IoError(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                tag(state, db.message()),
            ));
        }
        // PostgreSQL's own SQLSTATE (23505, 23502, 22003, ...) where Strata
        // knows it, with PostgreSQL's message.
        let state = SqlState::known(code).unwrap_or(SqlState::DATA_EXCEPTION);
        return DataFusionError::Execution(tag(state, db.message()));
    }
    match &error {
        ReadError::Postgres(e) if e.is_closed() => io(
            std::io::ErrorKind::ConnectionReset,
            SqlState::CONNECTION_FAILURE,
        ),
        ReadError::Source(SourceError::Unreachable { .. }) => io(
            std::io::ErrorKind::ConnectionRefused,
            SqlState::UNABLE_TO_CONNECT,
        ),
        ReadError::Source(SourceError::SessionInit { code, .. }) => {
            let state = code
                .as_deref()
                .and_then(SqlState::known)
                .unwrap_or(SqlState::INVALID_PARAMETER_VALUE);
            DataFusionError::Execution(tag(state, &error.to_string()))
        }
        ReadError::UndefinedTable(_) => {
            DataFusionError::Execution(tag(SqlState::UNDEFINED_TABLE, &error.to_string()))
        }
        _ => DataFusionError::Execution(error.to_string()),
    }
}
