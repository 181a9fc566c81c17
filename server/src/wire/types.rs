//! How Arrow types appear to PostgreSQL clients, and back.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, IntervalUnit, TimeUnit};
use pgwire::api::Type;

/// The Arrow field metadata key that names an extension type.
pub const EXTENSION_NAME: &str = "ARROW:extension:name";
/// Arrow's canonical JSON extension: a UTF-8 column holding JSON text.
pub const JSON_EXTENSION: &str = "arrow.json";
/// Arrow's canonical UUID extension: a 16-byte fixed-size binary column.
pub const UUID_EXTENSION: &str = "arrow.uuid";
/// pg_catalog's marker for oid columns (see datafusion-pg-catalog's oid_field).
const OID_ALIAS_KEY: &str = datafusion_pg_catalog::pg_catalog::oid_field::OID_ALIAS_KEY;

/// Marks a JSON column that a client declared as `jsonb`, and a decimal
/// column read from an unconstrained PostgreSQL `numeric`.
pub use strata_connectors::postgres::types::PG_TYPE_KEY;

/// The PostgreSQL type a column of `field` is sent as.
pub fn pg_type(field: &Field) -> Type {
    pg_type_of(field.data_type(), field.metadata())
}

/// The PostgreSQL type for an Arrow type with its field metadata.
pub fn pg_type_of(data_type: &DataType, metadata: &HashMap<String, String>) -> Type {
    let extension = metadata.get(EXTENSION_NAME).map(String::as_str);
    match data_type {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 => match metadata.get(OID_ALIAS_KEY).map(String::as_str) {
            // pg_catalog's oid columns are Int32 marked with their oid kind.
            Some("regclass") => Type::REGCLASS,
            Some("regtype") => Type::REGTYPE,
            Some("regproc") => Type::REGPROC,
            Some("regnamespace") => Type::REGNAMESPACE,
            Some(_) => Type::OID,
            None => Type::INT4,
        },
        DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 => Type::INT8,
        DataType::UInt64 => Type::NUMERIC,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Decimal32(_, _)
        | DataType::Decimal64(_, _)
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => Type::NUMERIC,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => match extension {
            Some(JSON_EXTENSION)
                if metadata.get(PG_TYPE_KEY).map(String::as_str) == Some("jsonb") =>
            {
                Type::JSONB
            }
            Some(JSON_EXTENSION) => Type::JSON,
            _ => Type::TEXT,
        },
        DataType::FixedSizeBinary(16) if extension == Some(UUID_EXTENSION) => Type::UUID,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Type::BYTEA,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Interval(_) | DataType::Duration(_) => Type::INTERVAL,
        DataType::Dictionary(_, value) => pg_type_of(value, metadata),
        DataType::List(element)
        | DataType::LargeList(element)
        | DataType::ListView(element)
        | DataType::LargeListView(element)
        | DataType::FixedSizeList(element, _) => {
            match metadata.get(PG_TYPE_KEY).map(String::as_str) {
                Some("int2vector") => Type::INT2_VECTOR,
                Some("oidvector") => Type::OID_VECTOR,
                _ => array_of(&pg_type(element)).unwrap_or(Type::TEXT),
            }
        }
        DataType::Null
        | DataType::Struct(_)
        | DataType::Union(_, _)
        | DataType::Map(_, _)
        | DataType::RunEndEncoded(_, _) => Type::TEXT,
    }
}

/// The array type whose elements are `element`, for the scalar types Strata
/// encodes.
pub fn array_of(element: &Type) -> Option<Type> {
    Some(match *element {
        Type::BOOL => Type::BOOL_ARRAY,
        Type::INT2 => Type::INT2_ARRAY,
        Type::INT4 => Type::INT4_ARRAY,
        Type::INT8 => Type::INT8_ARRAY,
        Type::OID => Type::OID_ARRAY,
        Type::REGCLASS => Type::REGCLASS_ARRAY,
        Type::REGTYPE => Type::REGTYPE_ARRAY,
        Type::REGPROC => Type::REGPROC_ARRAY,
        Type::FLOAT4 => Type::FLOAT4_ARRAY,
        Type::FLOAT8 => Type::FLOAT8_ARRAY,
        Type::NUMERIC => Type::NUMERIC_ARRAY,
        Type::TEXT => Type::TEXT_ARRAY,
        Type::VARCHAR => Type::VARCHAR_ARRAY,
        Type::BYTEA => Type::BYTEA_ARRAY,
        Type::DATE => Type::DATE_ARRAY,
        Type::TIME => Type::TIME_ARRAY,
        Type::TIMESTAMP => Type::TIMESTAMP_ARRAY,
        Type::TIMESTAMPTZ => Type::TIMESTAMPTZ_ARRAY,
        Type::INTERVAL => Type::INTERVAL_ARRAY,
        Type::UUID => Type::UUID_ARRAY,
        Type::JSON => Type::JSON_ARRAY,
        Type::JSONB => Type::JSONB_ARRAY,
        _ => return None,
    })
}

/// The element type of an array type.
pub fn element_of(array: &Type) -> Option<Type> {
    Some(match *array {
        Type::BOOL_ARRAY => Type::BOOL,
        Type::INT2_ARRAY | Type::INT2_VECTOR => Type::INT2,
        Type::OID_VECTOR => Type::OID,
        Type::INT4_ARRAY => Type::INT4,
        Type::INT8_ARRAY => Type::INT8,
        Type::OID_ARRAY => Type::OID,
        Type::FLOAT4_ARRAY => Type::FLOAT4,
        Type::FLOAT8_ARRAY => Type::FLOAT8,
        Type::NUMERIC_ARRAY => Type::NUMERIC,
        Type::TEXT_ARRAY => Type::TEXT,
        Type::VARCHAR_ARRAY => Type::VARCHAR,
        Type::BPCHAR_ARRAY => Type::BPCHAR,
        Type::NAME_ARRAY => Type::NAME,
        Type::BYTEA_ARRAY => Type::BYTEA,
        Type::DATE_ARRAY => Type::DATE,
        Type::TIME_ARRAY => Type::TIME,
        Type::TIMESTAMP_ARRAY => Type::TIMESTAMP,
        Type::TIMESTAMPTZ_ARRAY => Type::TIMESTAMPTZ,
        Type::INTERVAL_ARRAY => Type::INTERVAL,
        Type::UUID_ARRAY => Type::UUID,
        Type::JSON_ARRAY => Type::JSON,
        Type::JSONB_ARRAY => Type::JSONB,
        _ => return None,
    })
}

/// The Arrow field a parameter of PostgreSQL type `t` is bound as, or `None`
/// for types Strata does not take as parameters.
pub fn arrow_field_for(t: &Type) -> Option<FieldRef> {
    let field = |dt: DataType| Field::new("", dt, true);
    let f = match *t {
        Type::BOOL => field(DataType::Boolean),
        Type::INT2 => field(DataType::Int16),
        Type::INT4 => field(DataType::Int32),
        Type::INT8 => field(DataType::Int64),
        Type::OID | Type::REGCLASS | Type::REGTYPE | Type::REGPROC => field(DataType::Int32),
        Type::FLOAT4 => field(DataType::Float32),
        Type::FLOAT8 => field(DataType::Float64),
        Type::NUMERIC => field(DataType::Decimal128(38, 10)),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::CHAR => {
            field(DataType::Utf8)
        }
        Type::BYTEA => field(DataType::Binary),
        Type::DATE => field(DataType::Date32),
        Type::TIME => field(DataType::Time64(TimeUnit::Microsecond)),
        Type::TIMESTAMP => field(DataType::Timestamp(TimeUnit::Microsecond, None)),
        Type::TIMESTAMPTZ => field(DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        )),
        Type::INTERVAL => field(DataType::Interval(IntervalUnit::MonthDayNano)),
        Type::UUID => field(DataType::FixedSizeBinary(16)).with_metadata(HashMap::from([(
            EXTENSION_NAME.to_owned(),
            UUID_EXTENSION.to_owned(),
        )])),
        Type::JSON => field(DataType::Utf8).with_metadata(HashMap::from([(
            EXTENSION_NAME.to_owned(),
            JSON_EXTENSION.to_owned(),
        )])),
        Type::JSONB => field(DataType::Utf8).with_metadata(HashMap::from([
            (EXTENSION_NAME.to_owned(), JSON_EXTENSION.to_owned()),
            (PG_TYPE_KEY.to_owned(), "jsonb".to_owned()),
        ])),
        ref array => {
            let element = element_of(array)?;
            let element_field = arrow_field_for(&element)?;
            let item = Field::new("item", element_field.data_type().clone(), true)
                .with_metadata(element_field.metadata().clone());
            field(DataType::List(Arc::new(item)))
        }
    };
    Some(Arc::new(f))
}

/// `pg_attribute.atttypmod` for a column: precision and scale for numerics,
/// -1 ("none") for everything else.
/// True for a decimal column read from an unconstrained PostgreSQL
/// `numeric`: described without a type modifier, shown without trailing
/// zeros.
pub fn is_unconstrained_numeric(field: &Field) -> bool {
    field.metadata().get(PG_TYPE_KEY).map(String::as_str)
        == Some(strata_connectors::postgres::types::UNCONSTRAINED_NUMERIC_TYPE)
}

pub fn type_modifier(data_type: &DataType) -> i32 {
    match data_type {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s)
            if *s >= 0 =>
        {
            ((i32::from(*p) << 16) | i32::from(*s as u8)) + 4
        }
        _ => -1,
    }
}

/// `pg_type.typlen` of a type.
pub fn type_size(t: &Type) -> i16 {
    match *t {
        Type::BOOL => 1,
        Type::INT2 => 2,
        Type::INT4
        | Type::FLOAT4
        | Type::DATE
        | Type::OID
        | Type::REGCLASS
        | Type::REGTYPE
        | Type::REGPROC
        | Type::REGNAMESPACE => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIME | Type::TIMESTAMP | Type::TIMESTAMPTZ => 8,
        Type::INTERVAL | Type::UUID => 16,
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_types_come_back_as_the_same_pg_type() {
        for t in [
            Type::BOOL,
            Type::INT2,
            Type::INT4,
            Type::INT8,
            Type::FLOAT4,
            Type::FLOAT8,
            Type::NUMERIC,
            Type::TEXT,
            Type::BYTEA,
            Type::DATE,
            Type::TIME,
            Type::TIMESTAMP,
            Type::TIMESTAMPTZ,
            Type::INTERVAL,
            Type::UUID,
            Type::JSON,
            Type::JSONB,
            Type::INT4_ARRAY,
            Type::TEXT_ARRAY,
            Type::UUID_ARRAY,
        ] {
            let field = arrow_field_for(&t).unwrap();
            assert_eq!(pg_type(&field), t, "round trip of {t}");
        }
    }

    #[test]
    fn numeric_type_modifier_packs_precision_and_scale() {
        assert_eq!(
            type_modifier(&DataType::Decimal128(18, 4)),
            ((18 << 16) | 4) + 4
        );
        assert_eq!(type_modifier(&DataType::Int32), -1);
    }
}
