//! The lakehouse: managed tables kept as Delta tables (Parquet files plus a
//! transaction log) at `<lake root>/<schema>/<table>`.
//!
//! Reads resolve a table's snapshot where the query is planned and become an
//! ordinary Parquet file scan, which Ballista spreads over executors like any
//! other. Writes are a writer stage ([`write::LakeWriteExec`]: each task
//! writes Parquet files and reports them) and one committer
//! ([`commit::LakeCommitExec`]) that adds them to the log in one commit, so a
//! reader sees the table before or after a write, never in between, and a
//! write that dies before its commit leaves only unreferenced files behind
//! (which `VACUUM` removes).

pub mod alter;
pub mod catalog;
pub mod commit;
pub mod ingest;
pub mod maintenance;
pub mod scan;
pub mod snapshot;
pub mod stats;
pub mod storage;
pub mod table;
pub mod types;
pub mod write;
pub mod write_node;

use datafusion::error::DataFusionError;

use crate::sqlstate::SqlState;

/// Errors of the lake.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    #[error("relation \"{0}\" already exists")]
    DuplicateTable(String),
    #[error("schema \"{0}\" does not exist")]
    UndefinedSchema(String),
    #[error("schema \"{0}\" already exists")]
    DuplicateSchema(String),
    #[error("schema \"{0}\" is not empty; use DROP SCHEMA ... CASCADE to drop its tables too")]
    SchemaNotEmpty(String),
    #[error("column \"{column}\" of relation \"{table}\" already exists")]
    DuplicateColumn { table: String, column: String },
    #[error("column \"{column}\" of relation \"{table}\" does not exist")]
    UndefinedColumn { table: String, column: String },
    #[error("{0} is not supported")]
    NotSupported(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    NotNull { table: String, column: String },
    #[error(
        "could not serialize access to \"{table}\" due to a concurrent update ({reason}); retry the statement"
    )]
    Conflict { table: String, reason: String },
    #[error("MERGE command cannot affect row a second time: {0}")]
    MergeCardinality(String),
    #[error("version {version} of \"{table}\" does not exist: {reason}")]
    UndefinedVersion {
        table: String,
        version: String,
        reason: String,
    },
    #[error(
        "VACUUM of \"{table}\" may not keep less than its retention period of {minimum} (asked for {asked}): a write in progress may still add younger files"
    )]
    RetentionTooShort {
        table: String,
        asked: String,
        minimum: String,
    },
    #[error("lake storage: {0}")]
    Storage(#[from] object_store::Error),
    #[error("Delta log of \"{table}\": {message}")]
    Delta { table: String, message: String },
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
}

impl LakeError {
    /// The SQLSTATE a client receives.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            LakeError::UndefinedTable(_) => SqlState::UNDEFINED_TABLE,
            LakeError::DuplicateTable(_) => SqlState::DUPLICATE_TABLE,
            LakeError::UndefinedSchema(_) => SqlState::UNDEFINED_SCHEMA,
            LakeError::DuplicateSchema(_) => SqlState::DUPLICATE_SCHEMA,
            LakeError::SchemaNotEmpty(_) => SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
            LakeError::DuplicateColumn { .. } => SqlState::DUPLICATE_COLUMN,
            LakeError::UndefinedColumn { .. } => SqlState::UNDEFINED_COLUMN,
            LakeError::NotSupported(_) => SqlState::FEATURE_NOT_SUPPORTED,
            LakeError::InvalidParameter(_) => SqlState::INVALID_PARAMETER_VALUE,
            LakeError::NotNull { .. } => SqlState::NOT_NULL_VIOLATION,
            LakeError::Conflict { .. } => SqlState::SERIALIZATION_FAILURE,
            LakeError::MergeCardinality(_) => SqlState::CARDINALITY_VIOLATION,
            LakeError::UndefinedVersion { .. } => SqlState::INVALID_PARAMETER_VALUE,
            LakeError::RetentionTooShort { .. } => SqlState::INVALID_PARAMETER_VALUE,
            LakeError::Storage(object_store::Error::NotFound { .. }) => SqlState::UNDEFINED_FILE,
            LakeError::Storage(_) => SqlState::IO_ERROR,
            LakeError::Delta { .. } => SqlState::IO_ERROR,
            LakeError::DataFusion(e) => crate::sqlstate::sqlstate(e),
        }
    }

    /// True for failures worth retrying: the storage did not answer.
    fn transient(&self) -> bool {
        match self {
            LakeError::Storage(e) => !matches!(
                e,
                object_store::Error::NotFound { .. }
                    | object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. }
                    | object_store::Error::NotImplemented { .. }
                    | object_store::Error::InvalidPath { .. }
            ),
            _ => false,
        }
    }
}

impl From<LakeError> for DataFusionError {
    fn from(error: LakeError) -> Self {
        match error {
            LakeError::DataFusion(e) => e,
            // Ballista retries a task that failed with an I/O error.
            e if e.transient() => DataFusionError::IoError(std::io::Error::other(e.to_string())),
            e => DataFusionError::External(Box::new(e)),
        }
    }
}

/// A Delta error, described for the table it concerns.
pub(crate) fn delta_error(table: &str, error: deltalake_core::DeltaTableError) -> LakeError {
    use deltalake_core::DeltaTableError as E;
    use deltalake_core::kernel::transaction::TransactionError;
    match error {
        E::ObjectStore { source } => LakeError::Storage(source),
        E::Transaction {
            source: TransactionError::CommitConflict(conflict),
        } => LakeError::Conflict {
            table: table.to_owned(),
            reason: conflict_reason(&conflict).to_owned(),
        },
        E::Transaction {
            source: TransactionError::MaxCommitAttempts(_),
        }
        | E::VersionAlreadyExists(_) => LakeError::Conflict {
            table: table.to_owned(),
            reason: "other commits kept coming first".to_owned(),
        },
        other => LakeError::Delta {
            table: table.to_owned(),
            message: other.to_string(),
        },
    }
}

fn conflict_reason(conflict: &deltalake_core::kernel::transaction::CommitConflictError) -> &str {
    use deltalake_core::kernel::transaction::CommitConflictError as C;
    match conflict {
        C::ConcurrentAppend => "rows were added concurrently",
        C::ConcurrentDeleteRead | C::ConcurrentDeleteDelete => {
            "files it read were rewritten concurrently"
        }
        C::MetadataChanged => "its definition changed concurrently",
        C::ConcurrentTransaction => "the same write was committed concurrently",
        C::ProtocolChanged(_) | C::UnsupportedWriterVersion(_) | C::UnsupportedReaderVersion(_) => {
            "its protocol changed concurrently"
        }
        _ => "another commit came first",
    }
}

/// True for names Strata will use as a schema or table directory: no path
/// separators, nothing hidden, no `@` (which selects a version).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['.', '_'])
        && !name.contains(['/', '\\', '@'])
        && name != ".."
}
