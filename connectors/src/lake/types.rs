//! Types in the lake: which Arrow types a Delta table stores, and the text
//! form Delta keeps partition values in.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, TimeUnit};
use datafusion::common::ScalarValue;
use deltalake_core::kernel::StructType;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;

use super::LakeError;

/// The type a column of `data_type` is stored as: Delta keeps strings as
/// `string`, timestamps in microseconds (with a time zone: UTC), dates as
/// days. `None` for types Delta cannot hold.
pub fn stored_type(data_type: &DataType) -> Option<DataType> {
    Some(match data_type {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::Binary | DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::FixedSizeBinary(_) => DataType::Binary,
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64
        | DataType::Date32 => data_type.clone(),
        DataType::UInt8 => DataType::Int16,
        DataType::UInt16 => DataType::Int32,
        DataType::UInt32 => DataType::Int64,
        DataType::Float16 => DataType::Float32,
        DataType::Date64 => DataType::Date32,
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s)
            if *p <= 38 && *s >= 0 =>
        {
            DataType::Decimal128(*p, *s)
        }
        DataType::Timestamp(_, None) => DataType::Timestamp(TimeUnit::Microsecond, None),
        DataType::Timestamp(_, Some(_)) => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        DataType::List(item) | DataType::LargeList(item) | DataType::ListView(item) => {
            DataType::List(stored_field(item)?)
        }
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(stored_field)
                .collect::<Option<Vec<_>>>()?
                .into(),
        ),
        DataType::Map(entries, sorted) => DataType::Map(stored_field(entries)?, *sorted),
        DataType::Dictionary(_, value) => stored_type(value)?,
        _ => return None,
    })
}

fn stored_field(field: &FieldRef) -> Option<FieldRef> {
    Some(Arc::new(
        field
            .as_ref()
            .clone()
            .with_data_type(stored_type(field.data_type())?),
    ))
}

/// The schema a table with columns `schema` stores, or an error naming the
/// first column whose type Delta cannot hold.
pub fn stored_schema(schema: &Schema) -> Result<Schema, LakeError> {
    let fields = schema
        .fields()
        .iter()
        .map(|field| {
            let data_type = stored_type(field.data_type()).ok_or_else(|| {
                LakeError::NotSupported(format!(
                    "column \"{}\" of type {} in a lake table",
                    field.name(),
                    field.data_type()
                ))
            })?;
            Ok(Field::new(field.name(), data_type, field.is_nullable())
                .with_metadata(field.metadata().clone()))
        })
        .collect::<Result<Vec<_>, LakeError>>()?;
    Ok(Schema::new(Fields::from(fields)))
}

/// The Delta schema of a stored schema.
pub fn delta_schema(schema: &Schema) -> Result<StructType, LakeError> {
    let stored = stored_schema(schema)?;
    // Field metadata Delta gives meaning to (column mapping, generated
    // columns) is not Strata's to set; comments are.
    let plain = Schema::new(
        stored
            .fields()
            .iter()
            .map(|f| {
                let mut metadata = f.metadata().clone();
                metadata.retain(|k, _| k == "comment");
                Arc::new(f.as_ref().clone().with_metadata(metadata))
            })
            .collect::<Vec<_>>(),
    );
    (&plain)
        .try_into_kernel()
        .map_err(|e| LakeError::NotSupported(format!("this table definition in Delta: {e}")))
}

/// The value of a partition column kept as `text` in the log (`None` is NULL).
pub fn partition_value(text: Option<&str>, data_type: &DataType) -> Result<ScalarValue, LakeError> {
    let Some(text) = text else {
        return ScalarValue::try_from(data_type).map_err(LakeError::from);
    };
    let parsed = match data_type {
        // Delta writes timestamps as `2024-01-02 03:04:05.123456`, in UTC for
        // `timestamp` columns.
        DataType::Timestamp(unit, zone) => {
            let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
                .or_else(|_| chrono::DateTime::parse_from_rfc3339(text).map(|t| t.naive_utc()))
                .map_err(|e| {
                    LakeError::InvalidParameter(format!("partition value \"{text}\": {e}"))
                })?;
            let micros = naive.and_utc().timestamp_micros();
            let value = ScalarValue::TimestampMicrosecond(Some(micros), zone.clone());
            return value
                .cast_to(&DataType::Timestamp(*unit, zone.clone()))
                .map_err(LakeError::from);
        }
        _ => ScalarValue::Utf8(Some(text.to_owned())).cast_to(data_type),
    };
    parsed.map_err(|e| {
        LakeError::InvalidParameter(format!(
            "partition value \"{text}\" is not a {data_type}: {e}"
        ))
    })
}

/// The text a partition value is kept as in the log (`None` for NULL).
pub fn partition_text(value: &ScalarValue) -> Result<Option<String>, LakeError> {
    if value.is_null() {
        return Ok(None);
    }
    Ok(Some(match value {
        ScalarValue::TimestampMicrosecond(Some(micros), _) => {
            let time = chrono::DateTime::from_timestamp_micros(*micros).ok_or_else(|| {
                LakeError::InvalidParameter(format!("timestamp {micros} is out of range"))
            })?;
            time.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string()
        }
        ScalarValue::Binary(Some(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        other => other.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_types_are_what_delta_holds() {
        assert_eq!(stored_type(&DataType::Utf8View), Some(DataType::Utf8));
        assert_eq!(
            stored_type(&DataType::Timestamp(
                TimeUnit::Nanosecond,
                Some("+00:00".into())
            )),
            Some(DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("UTC".into())
            ))
        );
        assert_eq!(
            stored_type(&DataType::Interval(
                arrow::datatypes::IntervalUnit::MonthDayNano
            )),
            None
        );
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8View, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
            Field::new("amount", DataType::Decimal128(12, 2), true),
        ]);
        let delta = delta_schema(&schema).unwrap();
        assert_eq!(delta.fields().count(), 4);
    }

    #[test]
    fn partition_values_round_trip_through_text() {
        let cases = [
            ScalarValue::Int32(Some(-7)),
            ScalarValue::Utf8(Some("a b/c".to_owned())),
            ScalarValue::Date32(Some(19_000)),
            ScalarValue::Boolean(Some(true)),
            ScalarValue::TimestampMicrosecond(Some(1_700_000_000_123_456), Some("UTC".into())),
            ScalarValue::Decimal128(Some(12345), 10, 2),
        ];
        for value in cases {
            let text = partition_text(&value).unwrap();
            let back = partition_value(text.as_deref(), &value.data_type()).unwrap();
            assert_eq!(back, value, "{text:?}");
        }
        let null = partition_value(None, &DataType::Int64).unwrap();
        assert!(null.is_null());
    }
}
