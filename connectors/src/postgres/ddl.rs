//! Tables created in a PostgreSQL source (`CREATE TABLE pg.s.t (...)` and
//! `CREATE TABLE pg.s.t AS SELECT ...`): Arrow types written as the
//! PostgreSQL types that read back as the same Arrow types.

use arrow::datatypes::{DataType, Field, IntervalUnit, Schema, TimeUnit};

use super::quote_ident;
use super::types::{EXTENSION_NAME, JSON_EXTENSION, UUID_EXTENSION};

/// The PostgreSQL type a column of `field`'s Arrow type is created with.
pub fn pg_type(field: &Field) -> Result<String, String> {
    let extension = field.metadata().get(EXTENSION_NAME).map(String::as_str);
    Ok(match (field.data_type(), extension) {
        (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View, Some(JSON_EXTENSION)) => {
            "jsonb".to_owned()
        }
        (DataType::FixedSizeBinary(16), Some(UUID_EXTENSION)) => "uuid".to_owned(),
        (DataType::Boolean, _) => "boolean".to_owned(),
        (DataType::Int8 | DataType::Int16 | DataType::UInt8, _) => "smallint".to_owned(),
        (DataType::Int32 | DataType::UInt16, _) => "integer".to_owned(),
        (DataType::Int64 | DataType::UInt32, _) => "bigint".to_owned(),
        (DataType::UInt64, _) => "numeric(20, 0)".to_owned(),
        (DataType::Float16 | DataType::Float32, _) => "real".to_owned(),
        (DataType::Float64, _) => "double precision".to_owned(),
        (DataType::Decimal128(p, s) | DataType::Decimal256(p, s), _) if *p <= 38 => {
            format!("numeric({p}, {s})")
        }
        (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View, _) => "text".to_owned(),
        (DataType::Binary | DataType::LargeBinary | DataType::BinaryView, _) => "bytea".to_owned(),
        (DataType::Date32 | DataType::Date64, _) => "date".to_owned(),
        (DataType::Time32(_) | DataType::Time64(_), _) => "time".to_owned(),
        (DataType::Timestamp(_, None), _) => "timestamp".to_owned(),
        (DataType::Timestamp(_, Some(_)), _) => "timestamptz".to_owned(),
        (DataType::Interval(IntervalUnit::MonthDayNano | IntervalUnit::DayTime), _)
        | (DataType::Interval(IntervalUnit::YearMonth), _)
        | (DataType::Duration(TimeUnit::Microsecond), _) => "interval".to_owned(),
        (DataType::List(item) | DataType::LargeList(item), _) => {
            if matches!(item.data_type(), DataType::List(_) | DataType::LargeList(_)) {
                return Err(format!(
                    "column \"{}\": nested lists have no PostgreSQL form",
                    field.name()
                ));
            }
            format!("{}[]", pg_type(item)?)
        }
        (other, _) => {
            return Err(format!(
                "column \"{}\": type {other} has no PostgreSQL form",
                field.name()
            ));
        }
    })
}

/// `CREATE TABLE` for `schema`, with NOT NULL where Arrow says so and the
/// given key columns (indices into `schema`).
pub fn create_table_sql(
    table: &str,
    schema: &Schema,
    if_not_exists: bool,
    primary_key: Option<&[usize]>,
    unique: &[Vec<usize>],
) -> Result<String, String> {
    let mut items: Vec<String> = schema
        .fields()
        .iter()
        .map(|field| {
            let null = if field.is_nullable() { "" } else { " NOT NULL" };
            Ok(format!(
                "{} {}{null}",
                quote_ident(field.name()),
                pg_type(field)?
            ))
        })
        .collect::<Result<_, String>>()?;
    let names = |indices: &[usize]| {
        indices
            .iter()
            .filter_map(|&i| schema.fields().get(i))
            .map(|f| quote_ident(f.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(key) = primary_key {
        items.push(format!("PRIMARY KEY ({})", names(key)));
    }
    for key in unique {
        items.push(format!("UNIQUE ({})", names(key)));
    }
    let exists = if if_not_exists { "IF NOT EXISTS " } else { "" };
    Ok(format!(
        "CREATE TABLE {exists}{table} ({})",
        items.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::types::PgKind;

    #[test]
    fn created_types_read_back_as_the_same_arrow_types() {
        for kind in [
            PgKind::Bool,
            PgKind::Int2,
            PgKind::Int4,
            PgKind::Int8,
            PgKind::Float8,
            PgKind::Numeric {
                precision: 12,
                scale: 2,
                unconstrained: false,
            },
            PgKind::Text,
            PgKind::Bytea,
            PgKind::Date,
            PgKind::Timestamp,
            PgKind::TimestampTz,
            PgKind::Interval,
            PgKind::Uuid,
            PgKind::Array(Box::new(PgKind::Int4)),
        ] {
            let field = kind.field("c");
            assert!(pg_type(&field).is_ok(), "{kind:?}");
        }
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]);
        assert_eq!(
            create_table_sql("\"s\".\"t\"", &schema, false, Some(&[0]), &[]).unwrap(),
            "CREATE TABLE \"s\".\"t\" (\"id\" bigint NOT NULL, \"name\" text, PRIMARY KEY (\"id\"))"
        );
        let nested = Field::new(
            "n",
            DataType::List(std::sync::Arc::new(Field::new(
                "item",
                DataType::List(std::sync::Arc::new(Field::new(
                    "item",
                    DataType::Int32,
                    true,
                ))),
                true,
            ))),
            true,
        );
        assert!(pg_type(&nested).is_err());
    }
}
