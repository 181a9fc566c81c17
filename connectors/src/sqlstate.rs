//! SQLSTATE codes for DataFusion errors, shared by every node.
//!
//! The server maps errors to SQLSTATEs at its edge; executors use the same
//! mapping to tag a failed task's error, because Ballista hands a task failure
//! to the client only as text. A tag is a marker with the code and the
//! hex-encoded message, which survives Ballista's formatting unchanged; the
//! server reads it back with [`untag`]. Errors that Ballista retries (I/O) or
//! interprets (fetch failures) are never tagged.

use ballista_core::error::BallistaError;
use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;

use crate::lake::LakeError;

/// A PostgreSQL SQLSTATE code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlState(pub &'static str);

const KNOWN: &[SqlState] = &[
    SqlState::SYNTAX_ERROR,
    SqlState::SYNTAX_OR_ACCESS_RULE,
    SqlState::UNDEFINED_TABLE,
    SqlState::UNDEFINED_COLUMN,
    SqlState::UNDEFINED_FUNCTION,
    SqlState::UNDEFINED_OBJECT,
    SqlState::UNDEFINED_SCHEMA,
    SqlState::UNDEFINED_DATABASE,
    SqlState::DUPLICATE_TABLE,
    SqlState::DUPLICATE_SCHEMA,
    SqlState::DUPLICATE_COLUMN,
    SqlState::AMBIGUOUS_COLUMN,
    SqlState::DATATYPE_MISMATCH,
    SqlState::DATA_EXCEPTION,
    SqlState::DIVISION_BY_ZERO,
    SqlState::INVALID_TEXT_REPRESENTATION,
    SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
    SqlState::INVALID_PARAMETER_VALUE,
    SqlState::NULL_VALUE_NOT_ALLOWED,
    SqlState::BAD_COPY_FILE_FORMAT,
    SqlState::FEATURE_NOT_SUPPORTED,
    SqlState::QUERY_CANCELED,
    SqlState::INTEGRITY_CONSTRAINT_VIOLATION,
    SqlState::NOT_NULL_VIOLATION,
    SqlState::FOREIGN_KEY_VIOLATION,
    SqlState::UNIQUE_VIOLATION,
    SqlState::CHECK_VIOLATION,
    SqlState::STRING_DATA_RIGHT_TRUNCATION,
    SqlState::INSUFFICIENT_PRIVILEGE,
    SqlState::READ_ONLY_SQL_TRANSACTION,
    SqlState::CONNECTION_FAILURE,
    SqlState::UNABLE_TO_CONNECT,
    SqlState::OUT_OF_MEMORY,
    SqlState::INSUFFICIENT_RESOURCES,
    SqlState::IO_ERROR,
    SqlState::UNDEFINED_FILE,
    SqlState::SERIALIZATION_FAILURE,
    SqlState::CARDINALITY_VIOLATION,
    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
    SqlState::DUPLICATE_OBJECT,
    SqlState::OBJECT_IN_USE,
    SqlState::RESERVED_NAME,
    SqlState::INVALID_AUTHORIZATION,
    SqlState::INVALID_PASSWORD,
    SqlState::TOO_MANY_CONNECTIONS,
    SqlState::INVALID_GRANT_OPERATION,
    SqlState::INTERNAL_ERROR,
];

impl SqlState {
    /// The known code spelled `code`; XX000 for anything else.
    pub fn from_code(code: &str) -> SqlState {
        KNOWN
            .iter()
            .copied()
            .find(|s| s.0 == code)
            .unwrap_or(SqlState::INTERNAL_ERROR)
    }

    /// The known code spelled `code`, if there is one.
    pub fn known(code: &str) -> Option<SqlState> {
        KNOWN.iter().copied().find(|s| s.0 == code)
    }

    pub const INTEGRITY_CONSTRAINT_VIOLATION: SqlState = SqlState("23000");
    pub const NOT_NULL_VIOLATION: SqlState = SqlState("23502");
    pub const FOREIGN_KEY_VIOLATION: SqlState = SqlState("23503");
    pub const UNIQUE_VIOLATION: SqlState = SqlState("23505");
    pub const CHECK_VIOLATION: SqlState = SqlState("23514");
    pub const STRING_DATA_RIGHT_TRUNCATION: SqlState = SqlState("22001");
    pub const INSUFFICIENT_PRIVILEGE: SqlState = SqlState("42501");
    pub const READ_ONLY_SQL_TRANSACTION: SqlState = SqlState("25006");
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
    pub const DUPLICATE_DATABASE: SqlState = SqlState("42P04");
    pub const DUPLICATE_COLUMN: SqlState = SqlState("42701");
    pub const AMBIGUOUS_COLUMN: SqlState = SqlState("42702");
    pub const DATATYPE_MISMATCH: SqlState = SqlState("42804");
    pub const DATA_EXCEPTION: SqlState = SqlState("22000");
    pub const DIVISION_BY_ZERO: SqlState = SqlState("22012");
    pub const INVALID_TEXT_REPRESENTATION: SqlState = SqlState("22P02");
    pub const NUMERIC_VALUE_OUT_OF_RANGE: SqlState = SqlState("22003");
    pub const INVALID_PARAMETER_VALUE: SqlState = SqlState("22023");
    pub const NULL_VALUE_NOT_ALLOWED: SqlState = SqlState("22004");
    pub const BAD_COPY_FILE_FORMAT: SqlState = SqlState("22P04");
    pub const FEATURE_NOT_SUPPORTED: SqlState = SqlState("0A000");
    pub const ADMIN_SHUTDOWN: SqlState = SqlState("57P01");
    pub const QUERY_CANCELED: SqlState = SqlState("57014");
    pub const IN_FAILED_TRANSACTION: SqlState = SqlState("25P02");
    pub const ACTIVE_TRANSACTION: SqlState = SqlState("25001");
    pub const NO_ACTIVE_TRANSACTION: SqlState = SqlState("25P01");
    pub const PROTOCOL_VIOLATION: SqlState = SqlState("08P01");
    pub const CONNECTION_FAILURE: SqlState = SqlState("08006");
    pub const UNABLE_TO_CONNECT: SqlState = SqlState("08001");
    pub const INVALID_PREPARED_STATEMENT: SqlState = SqlState("26000");
    pub const INVALID_CURSOR_NAME: SqlState = SqlState("34000");
    pub const DUPLICATE_CURSOR: SqlState = SqlState("42P03");
    pub const OUT_OF_MEMORY: SqlState = SqlState("53200");
    /// No executor can run the query (Trino calls this NO_NODES_AVAILABLE,
    /// an insufficient-resources error).
    pub const INSUFFICIENT_RESOURCES: SqlState = SqlState("53000");
    pub const IO_ERROR: SqlState = SqlState("58030");
    pub const UNDEFINED_FILE: SqlState = SqlState("58P01");
    pub const SERIALIZATION_FAILURE: SqlState = SqlState("40001");
    pub const CARDINALITY_VIOLATION: SqlState = SqlState("21000");
    pub const DEPENDENT_OBJECTS_STILL_EXIST: SqlState = SqlState("2BP01");
    pub const DUPLICATE_OBJECT: SqlState = SqlState("42710");
    pub const OBJECT_IN_USE: SqlState = SqlState("55006");
    pub const RESERVED_NAME: SqlState = SqlState("42939");
    /// A login refused for a reason other than its password (28000).
    pub const INVALID_AUTHORIZATION: SqlState = SqlState("28000");
    pub const INVALID_PASSWORD: SqlState = SqlState("28P01");
    pub const TOO_MANY_CONNECTIONS: SqlState = SqlState("53300");
    pub const INVALID_GRANT_OPERATION: SqlState = SqlState("0LP01");
    pub const INTERNAL_ERROR: SqlState = SqlState("XX000");
}

/// The innermost error that carries meaning, past context and sharing wrappers.
pub fn root(e: &DataFusionError) -> &DataFusionError {
    match e {
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => root(inner),
        DataFusionError::Shared(inner) => root(inner),
        DataFusionError::Collection(errors) => errors.first().map_or(e, root),
        _ => e,
    }
}

/// The SQLSTATE of a DataFusion error.
pub fn sqlstate(e: &DataFusionError) -> SqlState {
    match root(e) {
        DataFusionError::ArrowError(arrow, _) => arrow_sqlstate(arrow),
        DataFusionError::ParquetError(_) => SqlState::DATA_EXCEPTION,
        DataFusionError::ObjectStore(store) => match store.as_ref() {
            object_store::Error::NotFound { .. } => SqlState::UNDEFINED_FILE,
            _ => SqlState::IO_ERROR,
        },
        DataFusionError::IoError(io) => match untag(&io.to_string()) {
            Some((state, _)) => state,
            None => io_sqlstate(io),
        },
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
        DataFusionError::Execution(m) => match untag(m) {
            Some((state, _)) => state,
            None if lost_all_executors(m) => SqlState::INSUFFICIENT_RESOURCES,
            None if m.starts_with(BALLISTA_FETCH_LOST) => SqlState::CONNECTION_FAILURE,
            None => SqlState::DATA_EXCEPTION,
        },
        DataFusionError::ResourcesExhausted(_) => SqlState::OUT_OF_MEMORY,
        DataFusionError::External(inner) => {
            if let Some(arrow) = inner.downcast_ref::<ArrowError>() {
                arrow_sqlstate(arrow)
            } else if let Some(df) = inner.downcast_ref::<DataFusionError>() {
                sqlstate(df)
            } else if let Some(io) = inner.downcast_ref::<std::io::Error>() {
                io_sqlstate(io)
            } else if let Some(lake) = inner.downcast_ref::<LakeError>() {
                lake.sqlstate()
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
/// The client-facing message of a DataFusion error.
pub fn message(e: &DataFusionError) -> String {
    match root(e) {
        DataFusionError::ArrowError(arrow, _) => arrow_message(arrow),
        DataFusionError::SQL(parser, _) => format!("syntax error: {}", parser_message(parser)),
        DataFusionError::Execution(m) => match untag(m) {
            Some((_, message)) => message,
            None if lost_all_executors(m) => NO_EXECUTORS_LEFT.to_owned(),
            None if m.starts_with(BALLISTA_FETCH_LOST) => RESULTS_LOST.to_owned(),
            None => m.clone(),
        },
        DataFusionError::IoError(io) => match untag(&io.to_string()) {
            Some((_, message)) => message,
            None => io.to_string(),
        },
        DataFusionError::NotImplemented(m)
        | DataFusionError::Plan(m)
        | DataFusionError::Configuration(m)
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
        DataFusionError::External(inner) => inner.to_string(),
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

/// What Ballista's scheduler says when it fails a job because every
/// executor was lost and none came back within its grace period.
const BALLISTA_NO_EXECUTORS: &str = "no executors remain to run the tasks";

/// The client's message for a job failed that way.
pub const NO_EXECUTORS_LEFT: &str = "the query failed because every executor was lost and none came back; start an executor and retry";

fn lost_all_executors(message: &str) -> bool {
    message.contains(BALLISTA_NO_EXECUTORS)
}

/// How Ballista's client reports that the executor holding a finished
/// job's results could not be reached (it only gives the error as text).
const BALLISTA_FETCH_LOST: &str = "GrpcConnectionError(";

/// The client's message for results lost that way.
pub const RESULTS_LOST: &str = "the executor holding the statement's results was lost before they were sent; run the statement again";

/// True if `e` says a finished job's results were lost with their executor:
/// the job can be run again.
pub fn lost_results(e: &DataFusionError) -> bool {
    matches!(root(e), DataFusionError::Execution(m) if m.starts_with(BALLISTA_FETCH_LOST))
}

const TAG_START: &str = "[[strata-sqlstate:";
const TAG_END: &str = "]]";

/// Wraps an error's SQLSTATE and message into text that crosses Ballista.
pub fn tag(state: SqlState, message: &str) -> String {
    let hex: String = message.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{TAG_START}{}:{hex}{TAG_END}", state.0)
}

/// Finds a tag made by [`tag`] anywhere in `text`.
pub fn untag(text: &str) -> Option<(SqlState, String)> {
    let start = text.find(TAG_START)? + TAG_START.len();
    let rest = &text[start..];
    let end = rest.find(TAG_END)?;
    let (code, hex) = rest[..end].split_once(':')?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((SqlState::from_code(code), String::from_utf8(bytes).ok()?))
}

/// The error a failed task reports: tagged with its SQLSTATE, unless
/// Ballista must see it as it is (I/O errors are retried, its own errors
/// carry fetch failures).
pub fn tag_task_error(error: DataFusionError) -> DataFusionError {
    match user_error(&error) {
        Some((state, message)) => DataFusionError::Execution(tag(state, &message)),
        None => error,
    }
}

/// The SQLSTATE and message a user should see for a failed task, looking
/// through Ballista's wrapping; `None` for errors Ballista must see unchanged.
fn user_error(error: &DataFusionError) -> Option<(SqlState, String)> {
    let root = error.find_root();
    match root {
        DataFusionError::IoError(_) => None,
        DataFusionError::External(inner) => {
            if let Some(ballista) = inner.downcast_ref::<BallistaError>() {
                match ballista {
                    BallistaError::DataFusionError(inner) => user_error(inner),
                    BallistaError::ArrowError(arrow) => {
                        Some((arrow_sqlstate(arrow), arrow_message(arrow)))
                    }
                    _ => None,
                }
            } else if let Some(arrow) = inner.downcast_ref::<ArrowError>() {
                Some((arrow_sqlstate(arrow), arrow_message(arrow)))
            } else if let Some(inner) = inner.downcast_ref::<DataFusionError>() {
                user_error(inner)
            } else {
                inner
                    .downcast_ref::<LakeError>()
                    .map(|lake| (lake.sqlstate(), lake.to_string()))
            }
        }
        _ => Some((sqlstate(root), message(root))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losing_every_executor_is_insufficient_resources() {
        let failed = DataFusionError::Execution(
            "Job abc failed: all executors were lost and no executor re-registered within 8s; \
             no executors remain to run the tasks for this job"
                .to_owned(),
        );
        assert_eq!(sqlstate(&failed), SqlState::INSUFFICIENT_RESOURCES);
        assert_eq!(message(&failed), NO_EXECUTORS_LEFT);
    }

    #[test]
    fn tags_survive_debug_formatting() {
        let tagged = tag(SqlState::DIVISION_BY_ZERO, "division by \"zero\"");
        let through_ballista = format!("Task failed: {:?}", DataFusionError::Execution(tagged));
        let (state, message) = untag(&through_ballista).unwrap();
        assert_eq!(state, SqlState::DIVISION_BY_ZERO);
        assert_eq!(message, "division by \"zero\"");
    }

    #[test]
    fn task_errors_keep_their_code_but_io_errors_stay_retryable() {
        let division = DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None);
        let tagged = tag_task_error(division);
        assert_eq!(sqlstate(&tagged), SqlState::DIVISION_BY_ZERO);
        assert_eq!(message(&tagged), "division by zero");
        let shared =
            DataFusionError::Shared(std::sync::Arc::new(DataFusionError::External(Box::new(
                BallistaError::ArrowError(Box::new(ArrowError::DivideByZero)),
            ))));
        assert_eq!(
            sqlstate(&tag_task_error(shared)),
            SqlState::DIVISION_BY_ZERO
        );
        let wrapped =
            DataFusionError::External(Box::new(BallistaError::DataFusionError(Box::new(
                DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None),
            ))));
        assert_eq!(
            sqlstate(&tag_task_error(wrapped)),
            SqlState::DIVISION_BY_ZERO
        );
        let io = DataFusionError::IoError(std::io::Error::other("reset"));
        assert!(matches!(tag_task_error(io), DataFusionError::IoError(_)));
    }
}
