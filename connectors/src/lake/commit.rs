//! The committer of a lake write: one task that gathers the files every
//! writer task wrote and adds them to the table's log in a single commit
//! (removing, for an overwrite or a rewrite, the files they replace).
//!
//! Each write carries an id, recorded in its commit as a Delta application
//! transaction (`txn`). A committer task that Ballista runs again (its
//! executor died after the commit but before reporting) finds its id in the
//! log and does not commit twice; two committers of the same write racing
//! each other conflict on it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use arrow::array::{RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, PlanProperties,
    SendableRecordBatchStream,
};
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add, Remove, Transaction};
use deltalake_core::operations::create::CreateBuilder;
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableError, TableProperty};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use url::Url;

use super::snapshot::{LakeFile, VersionSpec, open, unloaded};
use super::types::delta_schema;
use super::write::read_written_files;
use super::{LakeError, delta_error};

/// What a statement does to the table's files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CommitMode {
    /// Add the files (INSERT).
    Append,
    /// Replace every file of the version read (INSERT OVERWRITE, TRUNCATE).
    Overwrite { removed: Vec<LakeFile> },
    /// Replace the files of the partitions written, keeping the others
    /// (INSERT OVERWRITE with dynamic partition overwrite).
    OverwritePartitions { existing: Vec<LakeFile> },
    /// Replace `removed` by the files written (DELETE, UPDATE, MERGE, OPTIMIZE).
    Rewrite {
        removed: Vec<LakeFile>,
        operation: Rewrite,
    },
    /// Create the table with the files as its first version (CREATE TABLE,
    /// CREATE TABLE AS).
    Create { comment: Option<String> },
}

/// The statement a rewrite commits, as the table's history names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rewrite {
    Delete { predicate: Option<String> },
    Update { predicate: Option<String> },
    Merge { predicate: String },
    Optimize,
}

/// What a [`LakeCommitExec`] commits, as it travels in plans.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommitSpec {
    /// The table's name, for messages and the log's history.
    pub table: String,
    pub location: Url,
    /// The version the statement read; -1 when it creates the table.
    pub read_version: i64,
    pub schema: SchemaRef,
    pub partition_columns: Vec<String>,
    pub mode: CommitMode,
    /// This write's id: its commit records it, so it commits only once.
    pub write_id: String,
}

impl CommitSpec {
    fn app_id(&self) -> String {
        format!("strata-write-{}", self.write_id)
    }
}

fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

/// Commits the files its input (the writers) describes; yields the count of
/// rows written.
#[derive(Debug)]
pub struct LakeCommitExec {
    spec: CommitSpec,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl LakeCommitExec {
    pub fn new(spec: CommitSpec, input: Arc<dyn ExecutionPlan>) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(count_schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            spec,
            input,
            properties,
        }
    }

    pub fn spec(&self) -> &CommitSpec {
        &self.spec
    }
}

impl DisplayAs for LakeCommitExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match &self.spec.mode {
            CommitMode::Append => "append".to_owned(),
            CommitMode::Overwrite { .. } => "overwrite".to_owned(),
            CommitMode::OverwritePartitions { .. } => "overwrite partitions".to_owned(),
            CommitMode::Rewrite { removed, operation } => {
                format!("{operation:?} rewriting {} files", removed.len())
            }
            CommitMode::Create { .. } => "create".to_owned(),
        };
        write!(
            f,
            "LakeCommitExec: table={}, read version={}, {mode}",
            self.spec.table, self.spec.read_version
        )
    }
}

impl ExecutionPlan for LakeCommitExec {
    fn name(&self) -> &str {
        "LakeCommitExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
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
        Ok(Arc::new(Self::new(
            self.spec.clone(),
            crate::codec::one_input(&children)?,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "LakeCommitExec has one partition, not {partition}"
            )));
        }
        let mut input = self.input.execute(0, context)?;
        let spec = self.spec.clone();
        let stream = futures::stream::once(async move {
            let mut files = Vec::new();
            while let Some(batch) = input.next().await {
                files.extend(read_written_files(&batch?)?);
            }
            let rows: u64 = files.iter().map(|(_, rows)| rows).sum();
            let files = files.into_iter().map(|(file, _)| file).collect();
            commit(&spec, files, rows)
                .await
                .map_err(DataFusionError::from)?;
            RecordBatch::try_new(
                count_schema(),
                vec![Arc::new(UInt64Array::from(vec![rows]))],
            )
            .map_err(DataFusionError::from)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            count_schema(),
            stream,
        )))
    }
}

/// Attempts for a commit that only adds files, which never conflicts with
/// another commit and only needs a free version number.
const APPEND_ATTEMPTS: usize = 20;

/// Adds `written` to the table as `spec` says, in one commit; returns the
/// version committed (or found already committed).
pub async fn commit(
    spec: &CommitSpec,
    written: Vec<LakeFile>,
    rows: u64,
) -> Result<i64, LakeError> {
    let now = chrono::Utc::now().timestamp_millis();
    let txn = Transaction::new_with_last_update(spec.app_id(), 1, Some(now));
    let adds: Vec<Action> = written
        .iter()
        .map(|file| {
            Action::Add(add_action(
                file,
                !matches!(
                    spec.mode,
                    CommitMode::Rewrite {
                        operation: Rewrite::Optimize,
                        ..
                    }
                ),
            ))
        })
        .collect();
    let bytes: i64 = written.iter().map(|f| f.size).sum();
    let removed = match &spec.mode {
        CommitMode::Overwrite { removed } | CommitMode::Rewrite { removed, .. } => removed.len(),
        _ => 0,
    };
    let metadata = commit_metadata(spec, written.len(), rows, bytes, removed);
    if let CommitMode::Create { comment } = &spec.mode {
        return create(spec, comment.as_deref(), adds, txn, metadata).await;
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let latest = open(&spec.table, &spec.location, VersionSpec::Latest).await?;
        if let Some(version) = committed_version(spec, &latest).await? {
            return Ok(version);
        }
        let (read, removes, operation) = match &spec.mode {
            CommitMode::Append => (latest, Vec::new(), write_operation(spec, SaveMode::Append)),
            CommitMode::Overwrite { removed } => (
                read_table(spec, latest).await?,
                removes(removed, now, true),
                write_operation(spec, SaveMode::Overwrite),
            ),
            CommitMode::OverwritePartitions { existing } => {
                let written_partitions: HashSet<&BTreeMap<String, Option<String>>> =
                    written.iter().map(|f| &f.partition_values).collect();
                let replaced: Vec<LakeFile> = existing
                    .iter()
                    .filter(|f| written_partitions.contains(&f.partition_values))
                    .cloned()
                    .collect();
                (
                    read_table(spec, latest).await?,
                    removes(&replaced, now, true),
                    write_operation(spec, SaveMode::Overwrite),
                )
            }
            CommitMode::Rewrite { removed, operation } => (
                read_table(spec, latest).await?,
                removes(removed, now, *operation != Rewrite::Optimize),
                rewrite_operation(operation),
            ),
            CommitMode::Create { .. } => {
                return Err(LakeError::DataFusion(DataFusionError::Internal(
                    "a create commits through CreateBuilder".to_owned(),
                )));
            }
        };
        let mut actions = removes;
        actions.extend(adds.iter().cloned());
        let properties = CommitProperties::default()
            .with_application_transaction(txn.clone())
            .with_metadata(metadata.clone())
            .with_max_retries(if spec.mode == CommitMode::Append {
                0
            } else {
                15
            });
        let snapshot = read.snapshot().map_err(|e| delta_error(&spec.table, e))?;
        let result = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(snapshot), read.log_store(), operation)
            .await;
        match result {
            Ok(done) => return Ok(done.version() as i64),
            Err(e) => {
                let e = delta_error(&spec.table, e);
                let retry = spec.mode == CommitMode::Append
                    && matches!(e, LakeError::Conflict { .. })
                    && attempt < APPEND_ATTEMPTS;
                if !retry {
                    // The commit may have landed before a later step (its
                    // checkpoint) failed: then the write is done.
                    let latest = open(&spec.table, &spec.location, VersionSpec::Latest).await?;
                    if let Some(version) = committed_version(spec, &latest).await? {
                        return Ok(version);
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// The version that committed this write, if one did.
async fn committed_version(
    spec: &CommitSpec,
    latest: &DeltaTable,
) -> Result<Option<i64>, LakeError> {
    let state = latest.snapshot().map_err(|e| delta_error(&spec.table, e))?;
    let found = state
        .transaction_version(latest.log_store().as_ref(), spec.app_id())
        .await
        .map_err(|e| delta_error(&spec.table, e))?;
    Ok(found.map(|_| state.version() as i64))
}

/// The table at the version the statement read, which conflicts are
/// checked against.
async fn read_table(spec: &CommitSpec, latest: DeltaTable) -> Result<DeltaTable, LakeError> {
    let version = latest.version().map_or(-1, |v| v as i64);
    if version == spec.read_version || spec.read_version < 0 {
        return Ok(latest);
    }
    open(
        &spec.table,
        &spec.location,
        VersionSpec::Version(spec.read_version),
    )
    .await
}

async fn create(
    spec: &CommitSpec,
    comment: Option<&str>,
    adds: Vec<Action>,
    txn: Transaction,
    metadata: HashMap<String, serde_json::Value>,
) -> Result<i64, LakeError> {
    let schema = delta_schema(&spec.schema)?;
    let table = unloaded(&spec.table, &spec.location)?;
    let mut builder = CreateBuilder::new()
        .with_log_store(table.log_store())
        .with_table_name(spec.table.clone())
        .with_columns(schema.fields().cloned())
        .with_partition_columns(spec.partition_columns.clone())
        .with_save_mode(SaveMode::ErrorIfExists)
        // Each write records its id (above); a week of them is plenty to
        // recognise a retried commit, and checkpoints drop older ones.
        .with_configuration_property(
            TableProperty::SetTransactionRetentionDuration,
            Some("interval 7 days"),
        )
        .with_actions(adds)
        .with_commit_properties(
            CommitProperties::default()
                .with_application_transaction(txn)
                .with_metadata(metadata),
        );
    if let Some(comment) = comment {
        builder = builder.with_comment(comment);
    }
    match builder.await {
        Ok(table) => Ok(table.version().map_or(0, |v| v as i64)),
        Err(e) => {
            if let Ok(latest) = open(&spec.table, &spec.location, VersionSpec::Latest).await
                && let Some(version) = committed_version(spec, &latest).await?
            {
                return Ok(version);
            }
            Err(match e {
                DeltaTableError::GenericError { .. } | DeltaTableError::Generic(_)
                    if e.to_string()
                        .to_ascii_lowercase()
                        .contains("already exists") =>
                {
                    LakeError::DuplicateTable(spec.table.clone())
                }
                DeltaTableError::VersionAlreadyExists(_) => {
                    LakeError::DuplicateTable(spec.table.clone())
                }
                other => delta_error(&spec.table, other),
            })
        }
    }
}

fn write_operation(spec: &CommitSpec, mode: SaveMode) -> DeltaOperation {
    DeltaOperation::Write {
        mode,
        partition_by: (!spec.partition_columns.is_empty()).then(|| spec.partition_columns.clone()),
        predicate: None,
    }
}

fn rewrite_operation(rewrite: &Rewrite) -> DeltaOperation {
    match rewrite {
        Rewrite::Delete { predicate } => DeltaOperation::Delete {
            predicate: predicate.clone(),
        },
        Rewrite::Update { predicate } => DeltaOperation::Update {
            predicate: predicate.clone(),
        },
        Rewrite::Merge { predicate } => DeltaOperation::Merge {
            predicate: None,
            merge_predicate: Some(predicate.clone()),
            matched_predicates: Vec::new(),
            not_matched_predicates: Vec::new(),
            not_matched_by_source_predicates: Vec::new(),
        },
        Rewrite::Optimize => DeltaOperation::Optimize {
            predicate: None,
            target_size: super::write::DEFAULT_TARGET_FILE_SIZE as i64,
        },
    }
}

/// What the commit records beside its actions, as Spark records it:
/// the version read, whether it only added files, and its counts.
fn commit_metadata(
    spec: &CommitSpec,
    files: usize,
    rows: u64,
    bytes: i64,
    removed: usize,
) -> HashMap<String, serde_json::Value> {
    use serde_json::{Value, json};
    let blind = matches!(spec.mode, CommitMode::Append | CommitMode::Create { .. });
    let mut metadata = HashMap::from([
        ("isBlindAppend".to_owned(), Value::Bool(blind)),
        (
            "isolationLevel".to_owned(),
            Value::String("WriteSerializable".to_owned()),
        ),
        (
            "operationMetrics".to_owned(),
            json!({
                "numFiles": files.to_string(),
                "numOutputRows": rows.to_string(),
                "numOutputBytes": bytes.to_string(),
                "numRemovedFiles": removed.to_string(),
            }),
        ),
    ]);
    if spec.read_version >= 0 {
        metadata.insert("readVersion".to_owned(), json!(spec.read_version));
    }
    metadata
}

fn add_action(file: &LakeFile, data_change: bool) -> Add {
    Add {
        path: file.path.clone(),
        partition_values: file.partition_values.clone().into_iter().collect(),
        size: file.size,
        modification_time: file.modification_time,
        data_change,
        stats: file.stats.clone(),
        ..Default::default()
    }
}

fn removes(files: &[LakeFile], now: i64, data_change: bool) -> Vec<Action> {
    files
        .iter()
        .map(|file| {
            Action::Remove(Remove {
                path: file.path.clone(),
                data_change,
                deletion_timestamp: Some(now),
                extended_file_metadata: Some(true),
                partition_values: Some(file.partition_values.clone().into_iter().collect()),
                size: Some(file.size),
                ..Default::default()
            })
        })
        .collect()
}
