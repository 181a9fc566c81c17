//! How PostgreSQL column types become Arrow types.
//!
//! | PostgreSQL | Arrow |
//! | --- | --- |
//! | `boolean` | Boolean |
//! | `smallint`, `integer`, `bigint` | Int16, Int32, Int64 |
//! | `real`, `double precision` | Float32, Float64 |
//! | `numeric(p, s)` | Decimal128(p, s) (p <= 38) |
//! | `numeric` (no precision) | Decimal128(38, 10), rounded half away from zero |
//! | `text`, `varchar(n)`, `char(n)`, `name`, `"char"`, `citext`, enums | Utf8 |
//! | `bytea` | Binary |
//! | `date` | Date32 |
//! | `time` | Time64(µs) |
//! | `timestamp` | Timestamp(µs) |
//! | `timestamptz` | Timestamp(µs, UTC) |
//! | `interval` | Interval(MonthDayNano) |
//! | `uuid` | FixedSizeBinary(16), extension `arrow.uuid` |
//! | `json`, `jsonb` | Utf8, extension `arrow.json` |
//! | one-dimensional arrays of the above | List |
//! | domains | their base type |
//! | anything else (`money`, `inet`, geometric types, ranges, ...) | Utf8, read as the type's text form |
//!
//! NaN and infinite numerics, infinite dates and timestamps, and arrays of
//! more than one dimension have no Arrow form: reading one is an error that
//! names the column.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};

/// The Arrow field metadata key that names an extension type.
pub const EXTENSION_NAME: &str = "ARROW:extension:name";
/// Arrow's canonical JSON extension: a UTF-8 column holding JSON text.
pub const JSON_EXTENSION: &str = "arrow.json";
/// Arrow's canonical UUID extension: a 16-byte fixed-size binary column.
pub const UUID_EXTENSION: &str = "arrow.uuid";

/// Microseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
pub(crate) const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from 1970-01-01 to 2000-01-01.
pub(crate) const PG_EPOCH_DAYS: i32 = 10_957;

/// The Arrow field metadata key that names the PostgreSQL type a column
/// stands for, where its Arrow type alone does not say.
pub const PG_TYPE_KEY: &str = "strata.pg_type";

/// The Arrow field metadata key that marks a column PostgreSQL declares
/// NOT NULL. Arrow's own nullability stays true, so that a NULL written to
/// it fails in PostgreSQL with PostgreSQL's error.
pub const NOT_NULL_KEY: &str = "strata.not_null";

/// The Arrow field metadata key that holds a column's default expression as
/// PostgreSQL prints it (`nextval('orders_id_seq'::regclass)`), for the
/// catalogs.
pub const DEFAULT_KEY: &str = "strata.default";

/// The default expression of the column `field` describes, if it has one.
pub fn declared_default(field: &Field) -> Option<&str> {
    field.metadata().get(DEFAULT_KEY).map(String::as_str)
}

/// Whether the column `field` describes is declared NOT NULL.
pub fn declared_not_null(field: &Field) -> bool {
    !field.is_nullable() || field.metadata().contains_key(NOT_NULL_KEY)
}
/// [`PG_TYPE_KEY`]'s value for `numeric` without precision and scale.
pub const UNCONSTRAINED_NUMERIC_TYPE: &str = "numeric";

/// Precision and scale unconstrained `numeric` is read with.
pub const UNCONSTRAINED_NUMERIC: (u8, i8) = (38, 10);

/// A column's type as Strata reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PgKind {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric {
        precision: u8,
        scale: i8,
        /// Declared without precision (or with more than Arrow's 38
        /// digits): read as numeric(38, 10), shown without trailing zeros.
        #[serde(default)]
        unconstrained: bool,
    },
    Text,
    Bytea,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    Json,
    Jsonb,
    /// A type with no Arrow counterpart, read as its text form (`col::text`).
    TextFallback,
    Array(Box<PgKind>),
}

/// What the catalog says about a column's type.
#[derive(Debug, Clone)]
pub struct PgTypeInfo {
    /// The type's oid, or for a domain its base type's.
    pub oid: u32,
    /// `pg_type.typtype`: `b` base, `e` enum, `r` range, ...
    pub typtype: u8,
    /// The element type of an array type, with its own `typtype`.
    pub element: Option<(u32, u8)>,
    /// `pg_attribute.atttypmod`; -1 when absent.
    pub typmod: i32,
}

impl PgKind {
    /// The kind a column of type `info` is read as.
    pub fn of(info: &PgTypeInfo) -> PgKind {
        if let Some((element, typtype)) = info.element {
            let element = PgKind::of(&PgTypeInfo {
                oid: element,
                typtype,
                element: None,
                typmod: info.typmod,
            });
            return match element {
                PgKind::TextFallback => PgKind::TextFallback,
                element => PgKind::Array(Box::new(element)),
            };
        }
        if info.typtype == b'e' {
            return PgKind::Text;
        }
        match info.oid {
            16 => PgKind::Bool,
            21 => PgKind::Int2,
            23 => PgKind::Int4,
            20 => PgKind::Int8,
            700 => PgKind::Float4,
            701 => PgKind::Float8,
            1700 => numeric_kind(info.typmod),
            // text, varchar, bpchar, name, "char"
            25 | 1043 | 1042 | 19 | 18 => PgKind::Text,
            17 => PgKind::Bytea,
            1082 => PgKind::Date,
            1083 => PgKind::Time,
            1114 => PgKind::Timestamp,
            1184 => PgKind::TimestampTz,
            1186 => PgKind::Interval,
            2950 => PgKind::Uuid,
            114 => PgKind::Json,
            3802 => PgKind::Jsonb,
            _ => PgKind::TextFallback,
        }
    }

    /// The Arrow field a column of this kind becomes.
    pub fn field(&self, name: &str) -> Field {
        let extension = |name: &str| HashMap::from([(EXTENSION_NAME.to_owned(), name.to_owned())]);
        match self {
            PgKind::Uuid => Field::new(name, DataType::FixedSizeBinary(16), true)
                .with_metadata(extension(UUID_EXTENSION)),
            PgKind::Json | PgKind::Jsonb => {
                Field::new(name, DataType::Utf8, true).with_metadata(extension(JSON_EXTENSION))
            }
            PgKind::Numeric {
                unconstrained: true,
                ..
            } => Field::new(name, self.data_type(), true).with_metadata(HashMap::from([(
                PG_TYPE_KEY.to_owned(),
                UNCONSTRAINED_NUMERIC_TYPE.to_owned(),
            )])),
            PgKind::Array(element) => {
                let item = element.field("item");
                Field::new(name, DataType::List(Arc::new(item)), true)
            }
            other => Field::new(name, other.data_type(), true),
        }
    }

    fn data_type(&self) -> DataType {
        match self {
            PgKind::Bool => DataType::Boolean,
            PgKind::Int2 => DataType::Int16,
            PgKind::Int4 => DataType::Int32,
            PgKind::Int8 => DataType::Int64,
            PgKind::Float4 => DataType::Float32,
            PgKind::Float8 => DataType::Float64,
            PgKind::Numeric {
                precision, scale, ..
            } => DataType::Decimal128(*precision, *scale),
            PgKind::Text | PgKind::TextFallback | PgKind::Json | PgKind::Jsonb => DataType::Utf8,
            PgKind::Bytea => DataType::Binary,
            PgKind::Date => DataType::Date32,
            PgKind::Time => DataType::Time64(TimeUnit::Microsecond),
            PgKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            PgKind::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            PgKind::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
            PgKind::Uuid => DataType::FixedSizeBinary(16),
            PgKind::Array(element) => DataType::List(Arc::new(element.field("item"))),
        }
    }
}

/// `numeric(p, s)` keeps its precision and scale when Arrow can hold them.
fn numeric_kind(typmod: i32) -> PgKind {
    let (precision, scale) = UNCONSTRAINED_NUMERIC;
    if typmod < 4 {
        return PgKind::Numeric {
            precision,
            scale,
            unconstrained: true,
        };
    }
    let modifier = typmod - 4;
    let p = (modifier >> 16) & 0xffff;
    // The scale is an 11-bit signed field (PostgreSQL 15 allows negative ones).
    let s = ((modifier & 0x7ff) ^ 1024) - 1024;
    match (u8::try_from(p), i8::try_from(s)) {
        (Ok(p), Ok(s)) if (1..=38).contains(&p) && s <= p as i8 => PgKind::Numeric {
            precision: p,
            scale: s,
            unconstrained: false,
        },
        _ => PgKind::Numeric {
            precision,
            scale,
            unconstrained: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(oid: u32, typmod: i32) -> PgTypeInfo {
        PgTypeInfo {
            oid,
            typtype: b'b',
            element: None,
            typmod,
        }
    }

    #[test]
    fn numeric_keeps_precision_and_scale() {
        // numeric(12, 2): typmod = (12 << 16 | 2) + 4
        assert_eq!(
            PgKind::of(&base(1700, (12 << 16 | 2) + 4)),
            PgKind::Numeric {
                precision: 12,
                scale: 2,
                unconstrained: false,
            }
        );
        assert_eq!(
            PgKind::of(&base(1700, -1)),
            PgKind::Numeric {
                precision: 38,
                scale: 10,
                unconstrained: true,
            }
        );
        // numeric(60, 5) does not fit Decimal128.
        assert_eq!(
            PgKind::of(&base(1700, (60 << 16 | 5) + 4)),
            PgKind::Numeric {
                precision: 38,
                scale: 10,
                unconstrained: true,
            }
        );
    }

    #[test]
    fn arrays_enums_and_the_rest() {
        let int_array = PgTypeInfo {
            oid: 1007,
            typtype: b'b',
            element: Some((23, b'b')),
            typmod: -1,
        };
        assert_eq!(
            PgKind::of(&int_array),
            PgKind::Array(Box::new(PgKind::Int4))
        );
        let mood = PgTypeInfo {
            oid: 90000,
            typtype: b'e',
            element: None,
            typmod: -1,
        };
        assert_eq!(PgKind::of(&mood), PgKind::Text);
        assert_eq!(PgKind::of(&base(790, -1)), PgKind::TextFallback); // money
        let uuid = PgKind::Uuid.field("id");
        assert_eq!(
            uuid.metadata().get(EXTENSION_NAME).map(String::as_str),
            Some(UUID_EXTENSION)
        );
    }
}
