//! Record batches to DataRow messages.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::messages::data::DataRow;

use super::binary::write_binary;
use super::text::{TextOptions, write_text};
use super::types::{is_unconstrained_numeric, pg_type, type_modifier, type_size};
use super::value::{Cell, Column, cell};
use crate::error::{Result, StrataError};
use strata_connectors::postgres::numeric::write_numeric;

/// The RowDescription fields for `schema` in the formats the client asked for.
pub fn field_infos(schema: &Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let pg = pg_type(field);
            let size = type_size(&pg);
            let modifier = if is_unconstrained_numeric(field) {
                -1
            } else {
                type_modifier(field.data_type())
            };
            FieldInfo::new(field.name().clone(), None, None, pg, format.format_for(i))
                .with_type_size(size)
                .with_type_modifier(modifier)
        })
        .collect()
}

/// How one column is encoded.
#[derive(Debug, Clone)]
struct ColumnEncoding {
    pg: Type,
    format: FieldFormat,
    /// A numeric without a type modifier: written without trailing zeros.
    trim_zeros: bool,
}

/// Encodes batches of one result into rows.
#[derive(Debug, Clone)]
pub struct RowEncoder {
    columns: Arc<Vec<ColumnEncoding>>,
    text: TextOptions,
}

impl RowEncoder {
    pub fn new(fields: &[FieldInfo], text: TextOptions) -> Self {
        Self {
            columns: Arc::new(
                fields
                    .iter()
                    .map(|f| ColumnEncoding {
                        pg: f.datatype().clone(),
                        format: f.format(),
                        trim_zeros: *f.datatype() == Type::NUMERIC && f.type_modifier() == -1,
                    })
                    .collect(),
            ),
            text,
        }
    }

    /// One DataRow per row of `batch`.
    pub fn encode(&self, batch: &RecordBatch) -> Result<Vec<DataRow>> {
        if batch.num_columns() != self.columns.len() {
            return Err(StrataError::Internal(format!(
                "result has {} columns, its description {}",
                batch.num_columns(),
                self.columns.len()
            )));
        }
        let arrays: Vec<ArrayRef> = batch.columns().iter().map(unpack).collect::<Result<_>>()?;
        let values: Vec<Column<'_>> = arrays.iter().map(|a| Column::new(a.as_ref())).collect();
        let mut rows = Vec::with_capacity(batch.num_rows());
        // Rows are cut from one buffer a chunk at a time: a buffer sized for
        // a row or two would be allocated again every few rows (a split-off
        // row keeps the old allocation), and the allocator's churn was a
        // fifth of the time spent streaming a large result.
        let mut buf = BytesMut::with_capacity(ROW_CHUNK);
        for row in 0..batch.num_rows() {
            if buf.capacity() - buf.len() < ROW_CHUNK / 16 {
                buf.reserve(ROW_CHUNK);
            }
            for (values, column) in values.iter().zip(self.columns.iter()) {
                let at = buf.len();
                buf.put_i32(-1);
                if write_field(
                    values,
                    row,
                    column.format,
                    column.trim_zeros,
                    &column.pg,
                    &self.text,
                    &mut buf,
                ) {
                    let len = (buf.len() - at - 4) as i32;
                    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
                }
            }
            rows.push(DataRow::new(buf.split(), self.columns.len() as i16));
        }
        Ok(rows)
    }
}

/// Bytes of DataRows allocated at a time.
const ROW_CHUNK: usize = 64 * 1024;

/// Writes row `row` of `values`, of PostgreSQL type `pg`, in `format`; a
/// numeric without a type modifier (`trim_zeros`) without the trailing
/// zeros of its scale. Returns false for NULL (nothing written).
pub(crate) fn write_field(
    values: &Column<'_>,
    row: usize,
    format: FieldFormat,
    trim_zeros: bool,
    pg: &Type,
    text: &TextOptions,
    out: &mut BytesMut,
) -> bool {
    if trim_zeros && let Some(written) = write_trimmed_numeric(values.array(), row, format, out) {
        return written;
    }
    let value = values.cell(row);
    match format {
        FieldFormat::Text => write_text(&value, pg, text, out),
        FieldFormat::Binary => write_binary(&value, pg, out),
    }
}

/// Writes a decimal without the trailing fraction zeros its fixed scale
/// adds, as PostgreSQL shows an unconstrained numeric; `None` when the
/// value is no decimal, `Some(false)` for NULL.
fn write_trimmed_numeric(
    array: &dyn Array,
    row: usize,
    format: FieldFormat,
    out: &mut BytesMut,
) -> Option<bool> {
    let text = match cell(array, row) {
        Cell::Null => return Some(false),
        Cell::Numeric(text) => text,
        _ => return None,
    };
    let trimmed = match text.split_once('.') {
        Some((int, fraction)) => match fraction.trim_end_matches('0') {
            "" => int.to_owned(),
            fraction => format!("{int}.{fraction}"),
        },
        None => text,
    };
    match format {
        FieldFormat::Text => out.put_slice(trimmed.as_bytes()),
        FieldFormat::Binary => write_numeric(&trimmed, out),
    }
    Some(true)
}

/// Unpacks dictionary and run-end encoded columns to plain arrays.
pub(crate) fn unpack(array: &ArrayRef) -> Result<ArrayRef> {
    let target = match array.data_type() {
        DataType::Dictionary(_, value) => value.as_ref().clone(),
        DataType::RunEndEncoded(_, values) => values.data_type().clone(),
        _ => return Ok(Arc::clone(array)),
    };
    cast(array.as_ref(), &target).map_err(|e| StrataError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, ListArray, StringArray};
    use datafusion::arrow::datatypes::{Field, Int32Type};

    fn text_of(row: &DataRow) -> Vec<Option<String>> {
        let mut out = Vec::new();
        let mut data = &row.data[..];
        for _ in 0..row.field_count {
            let len = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            data = &data[4..];
            if len < 0 {
                out.push(None);
            } else {
                out.push(Some(
                    String::from_utf8(data[..len as usize].to_vec()).unwrap(),
                ));
                data = &data[len as usize..];
            }
        }
        out
    }

    #[test]
    fn rows_carry_nulls_and_arrays() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None, Some(3)]),
            None,
        ]);
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("l", list.data_type().clone(), true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![
                Arc::new(Int32Array::from(vec![Some(7), None])),
                Arc::new(StringArray::from(vec![Some("x y"), Some("")])),
                Arc::new(list),
            ],
        )
        .unwrap();
        let fields = field_infos(&schema, &Format::UnifiedText);
        assert_eq!(fields[2].datatype(), &Type::INT4_ARRAY);
        let rows = RowEncoder::new(&fields, TextOptions::default())
            .encode(&batch)
            .unwrap();
        assert_eq!(
            text_of(&rows[0]),
            vec![
                Some("7".into()),
                Some("x y".into()),
                Some("{1,NULL,3}".into())
            ]
        );
        assert_eq!(text_of(&rows[1]), vec![None, Some("".into()), None]);
    }
}
