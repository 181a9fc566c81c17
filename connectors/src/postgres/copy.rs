//! Decoding `COPY ... TO STDOUT (FORMAT binary)` into Arrow record batches,
//! column by column.
//!
//! The stream arrives in chunks that do not respect row boundaries;
//! [`CopyDecoder::push`] takes chunks and yields a batch whenever
//! `batch_size` rows are complete.

use std::sync::Arc;

use arrow::array::NullBufferBuilder;
use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    FixedSizeBinaryBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, IntervalMonthDayNanoBuilder, ListArray, RecordBatch, RecordBatchOptions,
    StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{FieldRef, IntervalMonthDayNano, SchemaRef};
use bytes::{Buf, BytesMut};

use super::numeric::numeric_to_i128;
use super::types::{PG_EPOCH_DAYS, PG_EPOCH_MICROS, PgKind};

/// The signature every binary COPY stream starts with.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// A value the COPY stream holds that Arrow cannot.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("column \"{column}\": {message}")]
    Value { column: String, message: String },
    #[error("malformed COPY data: {0}")]
    Malformed(String),
}

/// Decodes one binary COPY stream.
pub struct CopyDecoder {
    schema: SchemaRef,
    names: Vec<String>,
    columns: Vec<Box<dyn ColumnDecoder>>,
    buffer: BytesMut,
    header_read: bool,
    finished: bool,
    rows: usize,
    batch_size: usize,
}

impl CopyDecoder {
    /// A decoder for rows of `kinds`, producing batches of `schema` (whose
    /// fields are `kind.field(name)` in the same order).
    pub fn new(schema: SchemaRef, kinds: &[PgKind], batch_size: usize) -> Self {
        let names = schema.fields().iter().map(|f| f.name().clone()).collect();
        let columns = schema
            .fields()
            .iter()
            .zip(kinds)
            .map(|(field, kind)| decoder_for(kind, field))
            .collect();
        Self {
            schema,
            names,
            columns,
            buffer: BytesMut::new(),
            header_read: false,
            finished: false,
            rows: 0,
            batch_size: batch_size.max(1),
        }
    }

    /// Takes the next chunk; returns the batches completed by it.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<RecordBatch>, DecodeError> {
        self.buffer.extend_from_slice(chunk);
        let mut batches = Vec::new();
        while self.decode_row()? {
            if self.rows >= self.batch_size {
                batches.push(self.flush()?);
            }
        }
        Ok(batches)
    }

    /// Ends the stream; returns the last, partial batch, if any.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>, DecodeError> {
        if !self.finished {
            return Err(DecodeError::Malformed(
                "the stream ended before its trailer".to_owned(),
            ));
        }
        if !self.buffer.is_empty() {
            return Err(DecodeError::Malformed("data after the trailer".to_owned()));
        }
        if self.rows == 0 {
            return Ok(None);
        }
        self.flush().map(Some)
    }

    fn flush(&mut self) -> Result<RecordBatch, DecodeError> {
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(|c| c.finish()).collect();
        // The row count matters when no column is read (count(*)).
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        self.rows = 0;
        RecordBatch::try_new_with_options(Arc::clone(&self.schema), arrays, &options)
            .map_err(|e| DecodeError::Malformed(e.to_string()))
    }

    /// Decodes one row if the buffer holds all of it.
    fn decode_row(&mut self) -> Result<bool, DecodeError> {
        if self.finished {
            return Ok(false);
        }
        if !self.header_read {
            // signature, flags (int32), header extension length (int32) + extension
            if self.buffer.len() < SIGNATURE.len() + 8 {
                return Ok(false);
            }
            if &self.buffer[..SIGNATURE.len()] != SIGNATURE {
                return Err(DecodeError::Malformed(
                    "no binary COPY signature".to_owned(),
                ));
            }
            let at = SIGNATURE.len() + 4;
            let extension = read_i32(&self.buffer[at..]) as usize;
            if self.buffer.len() < at + 4 + extension {
                return Ok(false);
            }
            self.buffer.advance(at + 4 + extension);
            self.header_read = true;
        }
        if self.buffer.len() < 2 {
            return Ok(false);
        }
        let count = i16::from_be_bytes([self.buffer[0], self.buffer[1]]);
        if count == -1 {
            self.buffer.advance(2);
            self.finished = true;
            return Ok(false);
        }
        if count as usize != self.columns.len() {
            return Err(DecodeError::Malformed(format!(
                "a row of {count} fields, expected {}",
                self.columns.len()
            )));
        }
        // Find the row's extent before decoding any of it.
        let mut at = 2;
        let mut fields = Vec::with_capacity(self.columns.len());
        for _ in 0..count {
            if self.buffer.len() < at + 4 {
                return Ok(false);
            }
            let len = read_i32(&self.buffer[at..]);
            at += 4;
            if len < 0 {
                fields.push(None);
                continue;
            }
            let len = len as usize;
            if self.buffer.len() < at + len {
                return Ok(false);
            }
            fields.push(Some((at, len)));
            at += len;
        }
        let row = self.buffer.split_to(at);
        for ((column, field), name) in self.columns.iter_mut().zip(fields).zip(&self.names) {
            let value = field.map(|(start, len)| &row[start..start + len]);
            column.append(value).map_err(|message| DecodeError::Value {
                column: name.clone(),
                message,
            })?;
        }
        self.rows += 1;
        Ok(true)
    }
}

fn read_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn fixed<const N: usize>(value: &[u8], kind: &str) -> Result<[u8; N], String> {
    value
        .try_into()
        .map_err(|_| format!("a {kind} of {} bytes", value.len()))
}

/// Decodes one column's values.
trait ColumnDecoder: Send {
    fn append(&mut self, value: Option<&[u8]>) -> Result<(), String>;
    fn finish(&mut self) -> ArrayRef;
}

/// A builder with a function that turns one binary value into its input.
struct Scalar<B, F> {
    builder: B,
    convert: F,
}

macro_rules! scalar_decoder {
    ($builder:ty, $value:ty) => {
        impl<F> ColumnDecoder for Scalar<$builder, F>
        where
            F: Fn(&[u8]) -> Result<$value, String> + Send,
        {
            fn append(&mut self, value: Option<&[u8]>) -> Result<(), String> {
                match value {
                    Some(bytes) => self.builder.append_value((self.convert)(bytes)?),
                    None => self.builder.append_null(),
                }
                Ok(())
            }

            fn finish(&mut self) -> ArrayRef {
                Arc::new(self.builder.finish())
            }
        }
    };
}

scalar_decoder!(BooleanBuilder, bool);
scalar_decoder!(Int16Builder, i16);
scalar_decoder!(Int32Builder, i32);
scalar_decoder!(Int64Builder, i64);
scalar_decoder!(Float32Builder, f32);
scalar_decoder!(Float64Builder, f64);
scalar_decoder!(Date32Builder, i32);
scalar_decoder!(Time64MicrosecondBuilder, i64);
scalar_decoder!(TimestampMicrosecondBuilder, i64);
scalar_decoder!(IntervalMonthDayNanoBuilder, IntervalMonthDayNano);
scalar_decoder!(Decimal128Builder, i128);

/// UTF-8 text: text, varchar, enums, json, and jsonb after its version byte.
struct Text {
    builder: StringBuilder,
    jsonb: bool,
}

impl ColumnDecoder for Text {
    fn append(&mut self, value: Option<&[u8]>) -> Result<(), String> {
        match value {
            Some(mut bytes) => {
                if self.jsonb {
                    match bytes.split_first() {
                        Some((1, rest)) => bytes = rest,
                        _ => return Err("a jsonb value of an unknown version".to_owned()),
                    }
                }
                let text =
                    std::str::from_utf8(bytes).map_err(|_| "text that is not UTF-8".to_owned())?;
                self.builder.append_value(text);
            }
            None => self.builder.append_null(),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        Arc::new(self.builder.finish())
    }
}

struct Bytes(BinaryBuilder);

impl ColumnDecoder for Bytes {
    fn append(&mut self, value: Option<&[u8]>) -> Result<(), String> {
        match value {
            Some(bytes) => self.0.append_value(bytes),
            None => self.0.append_null(),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        Arc::new(self.0.finish())
    }
}

struct Uuid(FixedSizeBinaryBuilder);

impl ColumnDecoder for Uuid {
    fn append(&mut self, value: Option<&[u8]>) -> Result<(), String> {
        match value {
            Some(bytes) if bytes.len() == 16 => {
                self.0.append_value(bytes).map_err(|e| e.to_string())
            }
            Some(bytes) => Err(format!("a uuid of {} bytes", bytes.len())),
            None => {
                self.0.append_null();
                Ok(())
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        Arc::new(self.0.finish())
    }
}

/// One-dimensional arrays.
struct List {
    field: FieldRef,
    element: Box<dyn ColumnDecoder>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl ColumnDecoder for List {
    fn append(&mut self, value: Option<&[u8]>) -> Result<(), String> {
        let Some(bytes) = value else {
            self.nulls.append_null();
            self.offsets.push(*self.offsets.last().unwrap_or(&0));
            return Ok(());
        };
        let short = || "a truncated array".to_owned();
        let word = |at: usize| bytes.get(at..at + 4).map(read_i32).ok_or_else(short);
        let dimensions = word(0)?;
        // word(4): has nulls; word(8): element type oid
        let (count, mut at) = match dimensions {
            0 => (0, 12),
            1 => (word(12)?.max(0) as usize, 20),
            n => return Err(format!("an array of {n} dimensions; only one is supported")),
        };
        for _ in 0..count {
            let len = word(at)?;
            at += 4;
            if len < 0 {
                self.element.append(None)?;
            } else {
                let end = at + len as usize;
                self.element
                    .append(Some(bytes.get(at..end).ok_or_else(short)?))?;
                at = end;
            }
        }
        let last = *self.offsets.last().unwrap_or(&0);
        let count = i32::try_from(count).map_err(|_| "an array too long".to_owned())?;
        self.offsets.push(last + count);
        self.nulls.append_non_null();
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let values = self.element.finish();
        Arc::new(ListArray::new(
            Arc::clone(&self.field),
            OffsetBuffer::new(offsets.into()),
            values,
            self.nulls.finish(),
        ))
    }
}

fn scalar<B, F, V>(builder: B, convert: F) -> Box<dyn ColumnDecoder>
where
    Scalar<B, F>: ColumnDecoder + 'static,
    F: Fn(&[u8]) -> Result<V, String>,
{
    Box::new(Scalar { builder, convert })
}

fn decoder_for(kind: &PgKind, field: &arrow::datatypes::Field) -> Box<dyn ColumnDecoder> {
    match kind {
        PgKind::Bool => scalar(BooleanBuilder::new(), |b: &[u8]| {
            Ok(fixed::<1>(b, "boolean")?[0] != 0)
        }),
        PgKind::Int2 => scalar(Int16Builder::new(), |b: &[u8]| {
            Ok(i16::from_be_bytes(fixed(b, "smallint")?))
        }),
        PgKind::Int4 => scalar(Int32Builder::new(), |b: &[u8]| {
            Ok(i32::from_be_bytes(fixed(b, "integer")?))
        }),
        PgKind::Int8 => scalar(Int64Builder::new(), |b: &[u8]| {
            Ok(i64::from_be_bytes(fixed(b, "bigint")?))
        }),
        PgKind::Float4 => scalar(Float32Builder::new(), |b: &[u8]| {
            Ok(f32::from_be_bytes(fixed(b, "real")?))
        }),
        PgKind::Float8 => scalar(Float64Builder::new(), |b: &[u8]| {
            Ok(f64::from_be_bytes(fixed(b, "double precision")?))
        }),
        PgKind::Numeric {
            precision, scale, ..
        } => {
            let (precision, scale) = (*precision, *scale);
            Box::new(Scalar {
                builder: Decimal128Builder::new().with_data_type(field.data_type().clone()),
                convert: move |b: &[u8]| numeric_to_i128(b, precision, scale),
            })
        }
        PgKind::Text | PgKind::TextFallback | PgKind::Json => Box::new(Text {
            builder: StringBuilder::new(),
            jsonb: false,
        }),
        PgKind::Jsonb => Box::new(Text {
            builder: StringBuilder::new(),
            jsonb: true,
        }),
        PgKind::Bytea => Box::new(Bytes(BinaryBuilder::new())),
        PgKind::Uuid => Box::new(Uuid(FixedSizeBinaryBuilder::new(16))),
        PgKind::Date => scalar(Date32Builder::new(), |b: &[u8]| {
            let days = i32::from_be_bytes(fixed(b, "date")?);
            if days == i32::MAX || days == i32::MIN {
                return Err("an infinite date, which has no Arrow form".to_owned());
            }
            days.checked_add(PG_EPOCH_DAYS)
                .ok_or_else(|| "a date out of range".to_owned())
        }),
        PgKind::Time => scalar(Time64MicrosecondBuilder::new(), |b: &[u8]| {
            Ok(i64::from_be_bytes(fixed(b, "time")?))
        }),
        PgKind::Timestamp => scalar(TimestampMicrosecondBuilder::new(), timestamp),
        PgKind::TimestampTz => scalar(
            TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            timestamp,
        ),
        PgKind::Interval => scalar(IntervalMonthDayNanoBuilder::new(), |b: &[u8]| {
            let b: [u8; 16] = fixed(b, "interval")?;
            let micros = i64::from_be_bytes(b[0..8].try_into().unwrap_or_default());
            let days = i32::from_be_bytes(b[8..12].try_into().unwrap_or_default());
            let months = i32::from_be_bytes(b[12..16].try_into().unwrap_or_default());
            let nanos = micros
                .checked_mul(1000)
                .ok_or_else(|| "an interval out of range".to_owned())?;
            Ok(IntervalMonthDayNano::new(months, days, nanos))
        }),
        PgKind::Array(element) => {
            let arrow::datatypes::DataType::List(item) = field.data_type() else {
                unreachable!("an array kind always makes a list field")
            };
            Box::new(List {
                field: Arc::clone(item),
                element: decoder_for(element, item),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(0),
            })
        }
    }
}

fn timestamp(b: &[u8]) -> Result<i64, String> {
    let micros = i64::from_be_bytes(fixed(b, "timestamp")?);
    if micros == i64::MAX || micros == i64::MIN {
        return Err("an infinite timestamp, which has no Arrow form".to_owned());
    }
    micros
        .checked_add(PG_EPOCH_MICROS)
        .ok_or_else(|| "a timestamp out of range".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_across_chunks_decode_once() {
        let kinds = [PgKind::Int4, PgKind::Text];
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            kinds[0].field("id"),
            kinds[1].field("name"),
        ]));
        let mut stream = Vec::new();
        stream.extend_from_slice(SIGNATURE);
        stream.extend_from_slice(&0i32.to_be_bytes());
        stream.extend_from_slice(&0i32.to_be_bytes());
        for (id, name) in [(1i32, Some("a")), (2, None), (3, Some("ccc"))] {
            stream.extend_from_slice(&2i16.to_be_bytes());
            stream.extend_from_slice(&4i32.to_be_bytes());
            stream.extend_from_slice(&id.to_be_bytes());
            match name {
                Some(n) => {
                    stream.extend_from_slice(&(n.len() as i32).to_be_bytes());
                    stream.extend_from_slice(n.as_bytes());
                }
                None => stream.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        stream.extend_from_slice(&(-1i16).to_be_bytes());
        let mut decoder = CopyDecoder::new(schema, &kinds, 2);
        let mut batches = Vec::new();
        for chunk in stream.chunks(3) {
            batches.extend(decoder.push(chunk).unwrap());
        }
        batches.extend(decoder.finish().unwrap());
        assert_eq!(
            batches
                .iter()
                .map(RecordBatch::num_rows)
                .collect::<Vec<_>>(),
            vec![2, 1]
        );
        let ids = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int32Array>()
            .unwrap();
        assert_eq!(ids.values(), &[1, 2]);
        assert!(batches[0].column(1).is_null(1));
    }
}
