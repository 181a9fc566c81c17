//! Strata's errors and the one place they become SQLSTATEs.
//!
//! Every error a client can see passes through [`StrataError::sqlstate`], an
//! exhaustive match: a new error kind does not compile until someone decides
//! which SQLSTATE it deserves. XX000 is reserved for our own bugs.

use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;

/// A PostgreSQL SQLSTATE code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlState(pub &'static str);

impl SqlState {
    pub const SYNTAX_ERROR: SqlState = SqlState("42601");
    pub const SYNTAX_OR_ACCESS_RULE: SqlState = SqlState("42000");
    pub const UNDEFINED_TABLE: SqlState = SqlState("42P01");
    pub const UNDEFINED_COLUMN: SqlState = SqlState("42703");
    pub const UNDEFINED_FUNCTION: SqlState = SqlState("42883");
    pub const UNDEFINED_OBJECT: SqlState = SqlState("42704");
    pub const UNDEFINED_SCHEMA: SqlState = SqlState("3F000");
    pub const UNDEFINED_DATABASE: SqlState = SqlState("3D000");
    pub const DUPLICATE_TABLE: SqlState = SqlState("42P07");
    pub const DUPLICATE_SCHEMA: SqlState = SqlState("42P06");
    pub const DUPLICATE_COLUMN: SqlState = SqlState("42701");
    pub const AMBIGUOUS_COLUMN: SqlState = SqlState("42702");
    pub const DATATYPE_MISMATCH: SqlState = SqlState("42804");
    pub const DATA_EXCEPTION: SqlState = SqlState("22000");
    pub const DIVISION_BY_ZERO: SqlState = SqlState("22012");
    pub const INVALID_TEXT_REPRESENTATION: SqlState = SqlState("22P02");
    pub const NUMERIC_VALUE_OUT_OF_RANGE: SqlState = SqlState("22003");
    pub const INVALID_PARAMETER_VALUE: SqlState = SqlState("22023");
    pub const BAD_COPY_FILE_FORMAT: SqlState = SqlState("22P04");
    pub const FEATURE_NOT_SUPPORTED: SqlState = SqlState("0A000");
    pub const QUERY_CANCELED: SqlState = SqlState("57014");
    pub const IN_FAILED_TRANSACTION: SqlState = SqlState("25P02");
    pub const ACTIVE_TRANSACTION: SqlState = SqlState("25001");
    pub const NO_ACTIVE_TRANSACTION: SqlState = SqlState("25P01");
    pub const PROTOCOL_VIOLATION: SqlState = SqlState("08P01");
    pub const CONNECTION_FAILURE: SqlState = SqlState("08006");
    pub const INVALID_PREPARED_STATEMENT: SqlState = SqlState("26000");
    pub const INVALID_CURSOR_NAME: SqlState = SqlState("34000");
    pub const OUT_OF_MEMORY: SqlState = SqlState("53200");
    pub const IO_ERROR: SqlState = SqlState("58030");
    pub const UNDEFINED_FILE: SqlState = SqlState("58P01");
    pub const INTERNAL_ERROR: SqlState = SqlState("XX000");
}

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
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    #[error("prepared statement \"{0}\" does not exist")]
    UndefinedPreparedStatement(String),
    #[error("{0}")]
    Protocol(String),
    #[error("{message}")]
    Remote { state: SqlState, message: String },
    #[error("the query cluster is unavailable: {0}")]
    ClusterUnavailable(String),
    #[error("could not access the data folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = StrataError> = std::result::Result<T, E>;

impl StrataError {
    /// The SQLSTATE a client receives for this error.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            StrataError::DataFusion(e) => datafusion_sqlstate(e),
            StrataError::Syntax(_) => SqlState::SYNTAX_ERROR,
            StrataError::UndefinedTable(_) => SqlState::UNDEFINED_TABLE,
            StrataError::UndefinedSchema(_) => SqlState::UNDEFINED_SCHEMA,
            StrataError::UndefinedDatabase(_) => SqlState::UNDEFINED_DATABASE,
            StrataError::DuplicateTable(_) => SqlState::DUPLICATE_TABLE,
            StrataError::UndefinedFunction(_) => SqlState::UNDEFINED_FUNCTION,
            StrataError::UnknownSetting(_) => SqlState::UNDEFINED_OBJECT,
            StrataError::InvalidSettingValue { .. } => SqlState::INVALID_PARAMETER_VALUE,
            StrataError::InvalidTextRepresentation { .. } => SqlState::INVALID_TEXT_REPRESENTATION,
            StrataError::InvalidParameterValue(_) => SqlState::INVALID_PARAMETER_VALUE,
            StrataError::NotSupported(_) => SqlState::FEATURE_NOT_SUPPORTED,
            StrataError::Cancelled | StrataError::StatementTimeout => SqlState::QUERY_CANCELED,
            StrataError::InFailedTransaction => SqlState::IN_FAILED_TRANSACTION,
            StrataError::UndefinedPreparedStatement(_) => SqlState::INVALID_PREPARED_STATEMENT,
            StrataError::Protocol(_) => SqlState::PROTOCOL_VIOLATION,
            StrataError::Remote { state, .. } => *state,
            StrataError::ClusterUnavailable(_) => SqlState::CONNECTION_FAILURE,
            StrataError::Io(e) => io_sqlstate(e),
            StrataError::Internal(_) => SqlState::INTERNAL_ERROR,
        }
    }

    /// The message a client receives. Internal errors are not described to
    /// the client beyond their kind; the details go to the log.
    pub fn client_message(&self) -> String {
        match self {
            StrataError::DataFusion(e) => datafusion_message(e),
            StrataError::Internal(_) => "internal error; the server log has the details".to_owned(),
            other => other.to_string(),
        }
    }

    /// True for errors that are the user's to fix rather than ours.
    pub fn is_user_error(&self) -> bool {
        self.sqlstate() != SqlState::INTERNAL_ERROR
    }
}

/// The innermost error that carries meaning, past context and sharing wrappers.
fn root(e: &DataFusionError) -> &DataFusionError {
    match e {
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => root(inner),
        DataFusionError::Shared(inner) => root(inner),
        DataFusionError::Collection(errors) => errors.first().map_or(e, root),
        _ => e,
    }
}

fn datafusion_sqlstate(e: &DataFusionError) -> SqlState {
    match root(e) {
        DataFusionError::ArrowError(arrow, _) => arrow_sqlstate(arrow),
        DataFusionError::ParquetError(_) => SqlState::DATA_EXCEPTION,
        DataFusionError::ObjectStore(store) => match store.as_ref() {
            object_store::Error::NotFound { .. } => SqlState::UNDEFINED_FILE,
            _ => SqlState::IO_ERROR,
        },
        DataFusionError::IoError(io) => io_sqlstate(io),
        DataFusionError::SQL(_, _) => SqlState::SYNTAX_ERROR,
        DataFusionError::NotImplemented(_) => SqlState::FEATURE_NOT_SUPPORTED,
        DataFusionError::Plan(_) => SqlState::SYNTAX_OR_ACCESS_RULE,
        DataFusionError::Configuration(_) => SqlState::INVALID_PARAMETER_VALUE,
        DataFusionError::SchemaError(schema, _) => match schema.as_ref() {
            SchemaError::AmbiguousReference { .. } => SqlState::AMBIGUOUS_COLUMN,
            SchemaError::DuplicateQualifiedField { .. }
            | SchemaError::DuplicateUnqualifiedField { .. } => SqlState::DUPLICATE_COLUMN,
            SchemaError::FieldNotFound { .. } => SqlState::UNDEFINED_COLUMN,
        },
        DataFusionError::Execution(_) => SqlState::DATA_EXCEPTION,
        DataFusionError::ResourcesExhausted(_) => SqlState::OUT_OF_MEMORY,
        DataFusionError::External(inner) => {
            if let Some(strata) = inner.downcast_ref::<StrataError>() {
                strata.sqlstate()
            } else if let Some(arrow) = inner.downcast_ref::<ArrowError>() {
                arrow_sqlstate(arrow)
            } else if let Some(df) = inner.downcast_ref::<DataFusionError>() {
                datafusion_sqlstate(df)
            } else if let Some(io) = inner.downcast_ref::<std::io::Error>() {
                io_sqlstate(io)
            } else {
                SqlState::INTERNAL_ERROR
            }
        }
        DataFusionError::Internal(_)
        | DataFusionError::ExecutionJoin(_)
        | DataFusionError::Substrait(_)
        | DataFusionError::Ffi(_) => SqlState::INTERNAL_ERROR,
        // `root` has already looked through these wrappers.
        DataFusionError::Context(_, _)
        | DataFusionError::Diagnostic(_, _)
        | DataFusionError::Collection(_)
        | DataFusionError::Shared(_) => SqlState::INTERNAL_ERROR,
    }
}

fn arrow_sqlstate(e: &ArrowError) -> SqlState {
    match e {
        ArrowError::DivideByZero => SqlState::DIVISION_BY_ZERO,
        ArrowError::CastError(_) | ArrowError::ParseError(_) => {
            SqlState::INVALID_TEXT_REPRESENTATION
        }
        ArrowError::ArithmeticOverflow(_)
        | ArrowError::DictionaryKeyOverflowError
        | ArrowError::RunEndIndexOverflowError
        | ArrowError::OffsetOverflowError(_) => SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        ArrowError::MemoryError(_) => SqlState::OUT_OF_MEMORY,
        ArrowError::IoError(_, io) => io_sqlstate(io),
        ArrowError::CsvError(_) | ArrowError::JsonError(_) | ArrowError::AvroError(_) => {
            SqlState::BAD_COPY_FILE_FORMAT
        }
        ArrowError::InvalidArgumentError(_) => SqlState::INVALID_PARAMETER_VALUE,
        ArrowError::ComputeError(_) | ArrowError::ParquetError(_) => SqlState::DATA_EXCEPTION,
        ArrowError::NotYetImplemented(_) => SqlState::FEATURE_NOT_SUPPORTED,
        ArrowError::SchemaError(_) => SqlState::DATATYPE_MISMATCH,
        ArrowError::ExternalError(_) | ArrowError::IpcError(_) | ArrowError::CDataInterface(_) => {
            SqlState::INTERNAL_ERROR
        }
    }
}

fn io_sqlstate(e: &std::io::Error) -> SqlState {
    match e.kind() {
        std::io::ErrorKind::NotFound => SqlState::UNDEFINED_FILE,
        _ => SqlState::IO_ERROR,
    }
}

/// DataFusion's messages name their own error kind ("Error during planning:
/// ..."); clients get the part that describes the problem.
fn datafusion_message(e: &DataFusionError) -> String {
    match root(e) {
        DataFusionError::ArrowError(arrow, _) => arrow_message(arrow),
        DataFusionError::SQL(parser, _) => format!("syntax error: {}", parser_message(parser)),
        DataFusionError::NotImplemented(m)
        | DataFusionError::Plan(m)
        | DataFusionError::Configuration(m)
        | DataFusionError::Execution(m)
        | DataFusionError::ResourcesExhausted(m) => m.clone(),
        DataFusionError::SchemaError(schema, _) => match schema.as_ref() {
            SchemaError::FieldNotFound { field, .. } => {
                format!("column \"{}\" does not exist", field.name)
            }
            SchemaError::AmbiguousReference { field } => {
                format!("column reference \"{}\" is ambiguous", field.name)
            }
            other => other.to_string(),
        },
        DataFusionError::External(inner) => {
            if let Some(strata) = inner.downcast_ref::<StrataError>() {
                strata.client_message()
            } else {
                inner.to_string()
            }
        }
        DataFusionError::Internal(_) | DataFusionError::ExecutionJoin(_) => {
            "internal error; the server log has the details".to_owned()
        }
        other => other.to_string(),
    }
}

fn arrow_message(e: &ArrowError) -> String {
    match e {
        ArrowError::DivideByZero => "division by zero".to_owned(),
        ArrowError::CastError(m)
        | ArrowError::ParseError(m)
        | ArrowError::ArithmeticOverflow(m)
        | ArrowError::ComputeError(m)
        | ArrowError::InvalidArgumentError(m)
        | ArrowError::SchemaError(m) => m.clone(),
        other => other.to_string(),
    }
}

fn parser_message(e: &ParserError) -> String {
    match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "statement is nested too deeply".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
