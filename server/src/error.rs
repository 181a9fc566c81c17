//! Strata's errors and the one place they become SQLSTATEs.
//!
//! Every error a client can see passes through [`StrataError::sqlstate`], an
//! exhaustive match: a new error kind does not compile until someone decides
//! which SQLSTATE it deserves. XX000 is reserved for our own bugs.

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use strata_connectors::postgres::ReadError;
use strata_connectors::postgres::source::SourceError;
use strata_connectors::postgres::table::to_datafusion;
pub use strata_connectors::sqlstate::SqlState;
use strata_connectors::sqlstate::{self, root};

/// Errors a statement can end with.
#[derive(Debug, thiserror::Error)]
pub enum StrataError {
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    #[error("syntax error: {0}")]
    Syntax(#[from] ParserError),
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    #[error("schema \"{0}\" does not exist")]
    UndefinedSchema(String),
    #[error("database \"{0}\" does not exist")]
    UndefinedDatabase(String),
    #[error("relation \"{0}\" already exists")]
    DuplicateTable(String),
    #[error("database \"{0}\" already exists")]
    DuplicateDatabase(String),
    #[error("function {0} does not exist")]
    UndefinedFunction(String),
    #[error("unrecognized configuration parameter \"{0}\"")]
    UnknownSetting(String),
    #[error("invalid value for parameter \"{name}\": \"{value}\"")]
    InvalidSettingValue { name: String, value: String },
    #[error("invalid input syntax for type {type_name}: \"{value}\"")]
    InvalidTextRepresentation { type_name: String, value: String },
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0} is not supported")]
    NotSupported(String),
    #[error("canceling statement due to user request")]
    Cancelled,
    #[error("canceling statement due to statement timeout")]
    StatementTimeout,
    #[error("terminating connection due to administrator command")]
    Terminated,
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    #[error("prepared statement \"{0}\" does not exist")]
    UndefinedPreparedStatement(String),
    #[error("cursor \"{0}\" does not exist")]
    UndefinedCursor(String),
    #[error("cursor \"{0}\" already exists")]
    DuplicateCursor(String),
    #[error("DECLARE CURSOR can only be used in transaction blocks")]
    CursorOutsideBlock,
    #[error("{0}")]
    Protocol(String),
    #[error("{message}")]
    Remote { state: SqlState, message: String },
    #[error("the query cluster is unavailable: {0}")]
    ClusterUnavailable(String),
    #[error(
        "no executor is available to run the query: none has been registered with the scheduler for {waited}s; start an executor (strata-executor --scheduler HOST:PORT)"
    )]
    NoExecutors { waited: u64 },
    #[error("could not access the data folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Lake(#[from] strata_connectors::lake::LakeError),
    #[error("{0}")]
    BadCopyData(String),
    #[error("COPY from stdin failed: {0}")]
    CopyFailed(String),
    #[error("{0}")]
    Role(#[from] crate::auth::roles::RoleError),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = StrataError> = std::result::Result<T, E>;

impl From<ReadError> for StrataError {
    fn from(error: ReadError) -> Self {
        StrataError::DataFusion(to_datafusion(error))
    }
}

impl From<SourceError> for StrataError {
    fn from(error: SourceError) -> Self {
        ReadError::from(error).into()
    }
}

impl From<tokio_postgres::Error> for StrataError {
    fn from(error: tokio_postgres::Error) -> Self {
        ReadError::from(error).into()
    }
}

impl StrataError {
    /// The SQLSTATE a client receives for this error.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            StrataError::DataFusion(e) => match strata_error(e) {
                Some(strata) => strata.sqlstate(),
                None => sqlstate::sqlstate(e),
            },
            StrataError::Syntax(_) => SqlState::SYNTAX_ERROR,
            StrataError::UndefinedTable(_) => SqlState::UNDEFINED_TABLE,
            StrataError::UndefinedSchema(_) => SqlState::UNDEFINED_SCHEMA,
            StrataError::UndefinedDatabase(_) => SqlState::UNDEFINED_DATABASE,
            StrataError::DuplicateTable(_) => SqlState::DUPLICATE_TABLE,
            StrataError::DuplicateDatabase(_) => SqlState::DUPLICATE_DATABASE,
            StrataError::UndefinedFunction(_) => SqlState::UNDEFINED_FUNCTION,
            StrataError::UnknownSetting(_) => SqlState::UNDEFINED_OBJECT,
            StrataError::InvalidSettingValue { .. } => SqlState::INVALID_PARAMETER_VALUE,
            StrataError::InvalidTextRepresentation { .. } => SqlState::INVALID_TEXT_REPRESENTATION,
            StrataError::InvalidParameterValue(_) => SqlState::INVALID_PARAMETER_VALUE,
            StrataError::NotSupported(_) => SqlState::FEATURE_NOT_SUPPORTED,
            StrataError::Cancelled | StrataError::StatementTimeout => SqlState::QUERY_CANCELED,
            StrataError::Terminated => SqlState::ADMIN_SHUTDOWN,
            StrataError::InFailedTransaction => SqlState::IN_FAILED_TRANSACTION,
            StrataError::UndefinedPreparedStatement(_) => SqlState::INVALID_PREPARED_STATEMENT,
            StrataError::UndefinedCursor(_) => SqlState::INVALID_CURSOR_NAME,
            StrataError::DuplicateCursor(_) => SqlState::DUPLICATE_CURSOR,
            StrataError::CursorOutsideBlock => SqlState::NO_ACTIVE_TRANSACTION,
            StrataError::Protocol(_) => SqlState::PROTOCOL_VIOLATION,
            StrataError::Remote { state, .. } => *state,
            StrataError::ClusterUnavailable(_) => SqlState::CONNECTION_FAILURE,
            StrataError::NoExecutors { .. } => SqlState::INSUFFICIENT_RESOURCES,
            StrataError::Io(e) => match e.kind() {
                std::io::ErrorKind::NotFound => SqlState::UNDEFINED_FILE,
                _ => SqlState::IO_ERROR,
            },
            StrataError::Lake(e) => e.sqlstate(),
            StrataError::BadCopyData(_) => SqlState::BAD_COPY_FILE_FORMAT,
            StrataError::CopyFailed(_) => SqlState::QUERY_CANCELED,
            StrataError::Role(e) => e.sqlstate(),
            StrataError::Internal(_) => SqlState::INTERNAL_ERROR,
        }
    }

    /// The message a client receives. Internal errors are not described to
    /// the client beyond their kind; the details go to the log.
    pub fn client_message(&self) -> String {
        match self {
            StrataError::DataFusion(e) => match strata_error(e) {
                Some(strata) => strata.client_message(),
                None => sqlstate::message(e),
            },
            StrataError::Internal(_) => "internal error; the server log has the details".to_owned(),
            other => other.to_string(),
        }
    }
}

/// The SQLSTATE and message a client gets for `e`, for when `e` is only
/// borrowed (an error passing through a stream).
pub fn describe(e: &DataFusionError) -> (SqlState, String) {
    match strata_error(e) {
        Some(strata) => (strata.sqlstate(), strata.client_message()),
        None => (sqlstate::sqlstate(e), sqlstate::message(e)),
    }
}

/// A Strata error carried through DataFusion.
fn strata_error(e: &DataFusionError) -> Option<&StrataError> {
    match root(e) {
        DataFusionError::External(inner) => inner.downcast_ref::<StrataError>(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::error::ArrowError;

    #[test]
    fn wrapped_errors_keep_their_sqlstate() {
        let division = DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None);
        let wrapped = DataFusionError::Context(
            "while running".into(),
            Box::new(DataFusionError::Shared(std::sync::Arc::new(division))),
        );
        let err = StrataError::from(wrapped);
        assert_eq!(err.sqlstate(), SqlState::DIVISION_BY_ZERO);
        assert_eq!(err.client_message(), "division by zero");
    }

    #[test]
    fn internal_details_stay_in_the_server() {
        let err = StrataError::from(DataFusionError::Internal("secret detail".into()));
        assert_eq!(err.sqlstate(), SqlState::INTERNAL_ERROR);
        assert!(!err.client_message().contains("secret detail"));
    }

    #[test]
    fn strata_errors_survive_a_trip_through_datafusion() {
        let err = DataFusionError::External(Box::new(StrataError::Cancelled));
        assert_eq!(StrataError::from(err).sqlstate(), SqlState::QUERY_CANCELED);
    }
}
