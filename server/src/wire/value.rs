//! One cell of an Arrow column, in the shape PostgreSQL encodes it.
//!
//! Reading a value out of an Arrow array is the same for the text and the
//! binary format; [`cell`] does it once and `text`/`binary` only format.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, BooleanArray, FixedSizeBinaryArray,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, LargeBinaryArray,
    LargeStringArray, StringArray, StringViewArray,
};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal32Type, Decimal64Type, Decimal128Type, Decimal256Type,
    DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType, DurationSecondType,
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit, IntervalYearMonthType,
    Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use strata_connectors::postgres::numeric::{decimal_text, digits_decimal_text};

/// A cell, borrowed from its array where it can be.
#[derive(Debug)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    /// An exact decimal in plain notation (`-12.340`).
    Numeric(String),
    Text(&'a str),
    /// Bytes; a UUID when the column's PostgreSQL type says so.
    Bytes(&'a [u8]),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since 1970-01-01 00:00, no time zone.
    Timestamp(i64),
    /// Microseconds since 1970-01-01 00:00 UTC.
    TimestampTz(i64),
    Interval {
        months: i32,
        days: i32,
        micros: i64,
    },
    /// A one-dimensional array: the values of one list entry.
    List(ArrayRef),
    /// Anything else, in Arrow's own display form.
    Display(String),
}

/// Reads row `row` of `array`.
pub fn cell(array: &dyn Array, row: usize) -> Cell<'_> {
    if array.is_null(row) {
        return Cell::Null;
    }
    match array.data_type() {
        DataType::Null => Cell::Null,
        DataType::Boolean => Cell::Bool(downcast::<BooleanArray>(array).value(row)),
        DataType::Int8 => Cell::Int2(i16::from(array.as_primitive::<Int8Type>().value(row))),
        DataType::Int16 => Cell::Int2(array.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => Cell::Int4(array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Cell::Int8(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Cell::Int2(i16::from(array.as_primitive::<UInt8Type>().value(row))),
        DataType::UInt16 => Cell::Int4(i32::from(array.as_primitive::<UInt16Type>().value(row))),
        DataType::UInt32 => Cell::Int8(i64::from(array.as_primitive::<UInt32Type>().value(row))),
        DataType::UInt64 => {
            Cell::Numeric(array.as_primitive::<UInt64Type>().value(row).to_string())
        }
        DataType::Float16 => Cell::Float4(array.as_primitive::<Float16Type>().value(row).to_f32()),
        DataType::Float32 => Cell::Float4(array.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => Cell::Float8(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal32(_, scale) => Cell::Numeric(decimal_text(
            i128::from(array.as_primitive::<Decimal32Type>().value(row)),
            *scale,
        )),
        DataType::Decimal64(_, scale) => Cell::Numeric(decimal_text(
            i128::from(array.as_primitive::<Decimal64Type>().value(row)),
            *scale,
        )),
        DataType::Decimal128(_, scale) => Cell::Numeric(decimal_text(
            array.as_primitive::<Decimal128Type>().value(row),
            *scale,
        )),
        DataType::Decimal256(_, scale) => Cell::Numeric(digits_decimal_text(
            &array
                .as_primitive::<Decimal256Type>()
                .value(row)
                .to_string(),
            *scale,
        )),
        DataType::Utf8 => Cell::Text(downcast::<StringArray>(array).value(row)),
        DataType::LargeUtf8 => Cell::Text(downcast::<LargeStringArray>(array).value(row)),
        DataType::Utf8View => Cell::Text(downcast::<StringViewArray>(array).value(row)),
        DataType::Binary => Cell::Bytes(downcast::<BinaryArray>(array).value(row)),
        DataType::LargeBinary => Cell::Bytes(downcast::<LargeBinaryArray>(array).value(row)),
        DataType::BinaryView => Cell::Bytes(downcast::<BinaryViewArray>(array).value(row)),
        DataType::FixedSizeBinary(_) => {
            Cell::Bytes(downcast::<FixedSizeBinaryArray>(array).value(row))
        }
        DataType::Date32 => Cell::Date(array.as_primitive::<Date32Type>().value(row)),
        DataType::Date64 => Cell::Date(
            (array.as_primitive::<Date64Type>().value(row)).div_euclid(86_400_000) as i32,
        ),
        DataType::Time32(TimeUnit::Second) => {
            Cell::Time(i64::from(array.as_primitive::<Time32SecondType>().value(row)) * 1_000_000)
        }
        DataType::Time32(_) => {
            Cell::Time(i64::from(array.as_primitive::<Time32MillisecondType>().value(row)) * 1_000)
        }
        DataType::Time64(TimeUnit::Nanosecond) => {
            Cell::Time(array.as_primitive::<Time64NanosecondType>().value(row) / 1_000)
        }
        DataType::Time64(_) => Cell::Time(array.as_primitive::<Time64MicrosecondType>().value(row)),
        DataType::Timestamp(unit, tz) => {
            let micros = match unit {
                TimeUnit::Second => array
                    .as_primitive::<TimestampSecondType>()
                    .value(row)
                    .saturating_mul(1_000_000),
                TimeUnit::Millisecond => array
                    .as_primitive::<TimestampMillisecondType>()
                    .value(row)
                    .saturating_mul(1_000),
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array
                    .as_primitive::<TimestampNanosecondType>()
                    .value(row)
                    .div_euclid(1_000),
            };
            if tz.is_some() {
                Cell::TimestampTz(micros)
            } else {
                Cell::Timestamp(micros)
            }
        }
        DataType::Interval(IntervalUnit::YearMonth) => Cell::Interval {
            months: array.as_primitive::<IntervalYearMonthType>().value(row),
            days: 0,
            micros: 0,
        },
        DataType::Interval(IntervalUnit::DayTime) => {
            let v = array.as_primitive::<IntervalDayTimeType>().value(row);
            Cell::Interval {
                months: 0,
                days: v.days,
                micros: i64::from(v.milliseconds) * 1_000,
            }
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
            Cell::Interval {
                months: v.months,
                days: v.days,
                micros: v.nanoseconds / 1_000,
            }
        }
        DataType::Duration(unit) => {
            let micros = match unit {
                TimeUnit::Second => array
                    .as_primitive::<DurationSecondType>()
                    .value(row)
                    .saturating_mul(1_000_000),
                TimeUnit::Millisecond => array
                    .as_primitive::<DurationMillisecondType>()
                    .value(row)
                    .saturating_mul(1_000),
                TimeUnit::Microsecond => array.as_primitive::<DurationMicrosecondType>().value(row),
                TimeUnit::Nanosecond => {
                    array.as_primitive::<DurationNanosecondType>().value(row) / 1_000
                }
            };
            Cell::Interval {
                months: 0,
                days: 0,
                micros,
            }
        }
        DataType::List(_) => Cell::List(array.as_list::<i32>().value(row)),
        DataType::LargeList(_) => Cell::List(array.as_list::<i64>().value(row)),
        DataType::FixedSizeList(_, _) => Cell::List(array.as_fixed_size_list().value(row)),
        DataType::Dictionary(_, _) => {
            // Dictionary columns are unpacked before encoding (see encode.rs).
            Cell::Display(display(array, row))
        }
        DataType::ListView(_)
        | DataType::LargeListView(_)
        | DataType::Struct(_)
        | DataType::Union(_, _)
        | DataType::Map(_, _)
        | DataType::RunEndEncoded(_, _) => Cell::Display(display(array, row)),
    }
}

/// One column of a batch, read a cell at a time. The common types are
/// resolved once for the column; [`cell`] looks at the type of every cell.
#[derive(Debug, Clone, Copy)]
pub enum Column<'a> {
    Boolean(&'a BooleanArray),
    Int16(&'a Int16Array),
    Int32(&'a Int32Array),
    Int64(&'a Int64Array),
    Float32(&'a Float32Array),
    Float64(&'a Float64Array),
    Utf8(&'a StringArray),
    Utf8View(&'a StringViewArray),
    Other(&'a dyn Array),
}

impl<'a> Column<'a> {
    pub fn new(array: &'a dyn Array) -> Self {
        match array.data_type() {
            DataType::Boolean => Column::Boolean(downcast(array)),
            DataType::Int16 => Column::Int16(array.as_primitive()),
            DataType::Int32 => Column::Int32(array.as_primitive()),
            DataType::Int64 => Column::Int64(array.as_primitive()),
            DataType::Float32 => Column::Float32(array.as_primitive()),
            DataType::Float64 => Column::Float64(array.as_primitive()),
            DataType::Utf8 => Column::Utf8(downcast(array)),
            DataType::Utf8View => Column::Utf8View(downcast(array)),
            _ => Column::Other(array),
        }
    }

    /// The cell of row `row`, as [`cell`] reads it.
    pub fn cell(&self, row: usize) -> Cell<'a> {
        fn read<'a, A: Array, T>(
            array: &'a A,
            row: usize,
            value: impl FnOnce(&'a A) -> T,
        ) -> Option<T> {
            (!array.is_null(row)).then(|| value(array))
        }
        let value = match *self {
            Column::Boolean(a) => read(a, row, |a| Cell::Bool(a.value(row))),
            Column::Int16(a) => read(a, row, |a| Cell::Int2(a.value(row))),
            Column::Int32(a) => read(a, row, |a| Cell::Int4(a.value(row))),
            Column::Int64(a) => read(a, row, |a| Cell::Int8(a.value(row))),
            Column::Float32(a) => read(a, row, |a| Cell::Float4(a.value(row))),
            Column::Float64(a) => read(a, row, |a| Cell::Float8(a.value(row))),
            Column::Utf8(a) => read(a, row, |a| Cell::Text(a.value(row))),
            Column::Utf8View(a) => read(a, row, |a| Cell::Text(a.value(row))),
            Column::Other(a) => return cell(a, row),
        };
        value.unwrap_or(Cell::Null)
    }

    /// The column's array.
    pub fn array(&self) -> &'a dyn Array {
        match *self {
            Column::Boolean(a) => a,
            Column::Int16(a) => a,
            Column::Int32(a) => a,
            Column::Int64(a) => a,
            Column::Float32(a) => a,
            Column::Float64(a) => a,
            Column::Utf8(a) => a,
            Column::Utf8View(a) => a,
            Column::Other(a) => a,
        }
    }
}

fn downcast<T: 'static>(array: &dyn Array) -> &T {
    // The match on the data type above guarantees the concrete type.
    match array.as_any().downcast_ref::<T>() {
        Some(a) => a,
        None => unreachable!("array type checked against its data type"),
    }
}

fn display(array: &dyn Array, row: usize) -> String {
    match ArrayFormatter::try_new(array, &FormatOptions::default()) {
        Ok(formatter) => formatter.value(row).to_string(),
        Err(e) => format!("<{e}>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_scale() {
        assert_eq!(decimal_text(12345, 2), "123.45");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(0, 2), "0.00");
        assert_eq!(decimal_text(0, -2), "0");
        assert_eq!(decimal_text(123, -2), "12300");
        assert_eq!(decimal_text(7, 0), "7");
        assert_eq!(decimal_text(7, -2), "700");
    }
}
