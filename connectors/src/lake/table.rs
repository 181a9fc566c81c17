//! A lake table as DataFusion sees it: one resolved version, scanned as
//! Parquet files and written through a writer stage and one committer.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Constraints, Statistics};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use serde::{Deserialize, Serialize};

use super::commit::{CommitMode, CommitSpec, LakeCommitExec, Rewrite};
use super::scan::{ScanOptions, plan_scan, scan_schema};
use super::snapshot::TableVersion;
use super::write::{DEFAULT_TARGET_FILE_SIZE, LakeWriteExec, WriteSpec};

/// One version of a lake table, and how a write into it commits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LakeTable {
    /// `schema.table`, for messages and the log's history.
    pub name: String,
    pub version: Arc<TableVersion>,
    /// How an INSERT into this provider commits; `Append` for a plain
    /// INSERT (an INSERT OVERWRITE replaces the version's files).
    pub mode: CommitMode,
    /// Scans add the hidden file column.
    pub file_column: bool,
    /// Scans read only these files.
    pub only: Option<HashSet<String>>,
    /// Identifies the write this provider plans, so it commits once.
    pub write_id: String,
}

impl LakeTable {
    pub fn new(name: String, version: TableVersion) -> Self {
        Self::of_version(name, Arc::new(version))
    }

    /// [`LakeTable::new`] over a version already shared.
    pub fn of_version(name: String, version: Arc<TableVersion>) -> Self {
        Self {
            name,
            version,
            mode: CommitMode::Append,
            file_column: false,
            only: None,
            write_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// This table, committing writes as `mode` says.
    pub fn with_mode(mut self, mode: CommitMode) -> Self {
        self.mode = mode;
        self
    }

    /// This table, scanned with the hidden file column and only `only`.
    pub fn with_files(mut self, file_column: bool, only: Option<HashSet<String>>) -> Self {
        self.file_column = file_column;
        self.only = only;
        self
    }
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        scan_schema(&self.version, self.file_column)
    }

    fn constraints(&self) -> Option<&Constraints> {
        None
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_table_definition(&self) -> Option<&str> {
        None
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let options = ScanOptions {
            file_column: self.file_column,
            only: self.only.as_ref(),
        };
        plan_scan(state, &self.version, options, projection, filters, limit)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Files are chosen by the filters; rows are still checked above the scan.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    fn statistics(&self) -> Option<Statistics> {
        None
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mode = self.mode_for(insert_op)?;
        Ok(Arc::new(LakeCommitExec::new(
            self.commit_spec(mode.clone()),
            Arc::new(LakeWriteExec::new(self.write_spec(&mode), input)),
        )))
    }
}

impl LakeTable {
    /// How an INSERT (`InsertOp::Append`) or INSERT OVERWRITE into this
    /// provider commits.
    pub fn mode_for(&self, insert_op: InsertOp) -> Result<CommitMode> {
        if self.file_column {
            return Err(DataFusionError::Internal(
                "a write into a scan with the file column".to_owned(),
            ));
        }
        Ok(match (insert_op, &self.mode) {
            (InsertOp::Append, mode) => mode.clone(),
            (InsertOp::Overwrite, CommitMode::Append) => CommitMode::Overwrite {
                removed: self.version.files.clone(),
            },
            (InsertOp::Overwrite, mode) => mode.clone(),
            (InsertOp::Replace, _) => {
                return Err(DataFusionError::NotImplemented(
                    "REPLACE INTO a lake table (use MERGE INTO)".to_owned(),
                ));
            }
        })
    }

    /// What the writers of a write committed as `mode` are given.
    pub fn write_spec(&self, mode: &CommitMode) -> WriteSpec {
        let version = &self.version;
        WriteSpec {
            table: self.name.clone(),
            location: version.location.clone(),
            schema: Arc::clone(&version.schema),
            partition_columns: version.partition_columns.clone(),
            target_file_size: DEFAULT_TARGET_FILE_SIZE,
            single_writer: matches!(
                mode,
                CommitMode::Rewrite {
                    operation: Rewrite::Optimize,
                    ..
                }
            ),
        }
    }

    /// What the commit of a write as `mode` is given.
    pub fn commit_spec(&self, mode: CommitMode) -> CommitSpec {
        let version = &self.version;
        CommitSpec {
            table: self.name.clone(),
            location: version.location.clone(),
            read_version: version.version,
            schema: Arc::clone(&version.schema),
            partition_columns: version.partition_columns.clone(),
            mode,
            write_id: self.write_id.clone(),
        }
    }
}
