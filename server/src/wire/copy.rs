//! `COPY ... TO STDOUT`: rows as PostgreSQL's text, CSV or binary COPY
//! format, one CopyData message per row.

use bytes::{BufMut, Bytes, BytesMut};
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use pgwire::api::Type;

use super::encode::{unpack, write_field};
use super::text::TextOptions;
use super::types::{is_unconstrained_numeric, pg_type};
use super::value::Column;
use crate::engine::statement::{CopyFormat, CopyOutOptions};
use crate::error::Result;
use pgwire::api::results::FieldFormat;

/// Writes the rows of one `COPY ... TO STDOUT`.
pub struct CopyOutEncoder {
    options: CopyOutOptions,
    columns: Vec<(Type, bool)>,
    names: Vec<String>,
    text: TextOptions,
}

impl CopyOutEncoder {
    pub fn new(schema: &Schema, options: CopyOutOptions, text: TextOptions) -> Self {
        Self {
            columns: schema
                .fields()
                .iter()
                .map(|f| (pg_type(f), is_unconstrained_numeric(f)))
                .collect(),
            names: schema.fields().iter().map(|f| f.name().clone()).collect(),
            options,
            text,
        }
    }

    /// 1 for binary, 0 for text and CSV (CopyOutResponse's format).
    pub fn format_code(&self) -> i8 {
        i8::from(self.options.format == CopyFormat::Binary)
    }

    pub fn column_count(&self) -> usize {
        self.columns.len()
    }

    /// What goes before the rows: the binary signature, or a header line.
    pub fn header(&self) -> Option<Bytes> {
        match self.options.format {
            CopyFormat::Binary => {
                let mut out = BytesMut::new();
                out.put_slice(b"PGCOPY\n\xff\r\n\0");
                out.put_i32(0);
                out.put_i32(0);
                Some(out.freeze())
            }
            _ if self.options.header => {
                let mut out = BytesMut::new();
                for (i, name) in self.names.iter().enumerate() {
                    if i > 0 {
                        put_char(&mut out, self.options.delimiter);
                    }
                    self.put_field(&mut out, name.as_bytes());
                }
                out.put_u8(b'\n');
                Some(out.freeze())
            }
            _ => None,
        }
    }

    /// What goes after the rows: the binary trailer.
    pub fn trailer(&self) -> Option<Bytes> {
        (self.options.format == CopyFormat::Binary).then(|| Bytes::from_static(&[0xff, 0xff]))
    }

    /// One message body per row of `batch`.
    pub fn rows(&self, batch: &RecordBatch) -> Result<Vec<Bytes>> {
        let arrays: Vec<ArrayRef> = batch.columns().iter().map(unpack).collect::<Result<_>>()?;
        let values: Vec<Column<'_>> = arrays.iter().map(|a| Column::new(a.as_ref())).collect();
        let mut value = BytesMut::new();
        Ok((0..batch.num_rows())
            .map(|row| {
                let mut out = BytesMut::new();
                if self.options.format == CopyFormat::Binary {
                    out.put_i16(self.columns.len() as i16);
                }
                for (i, (pg, trim)) in self.columns.iter().enumerate() {
                    value.clear();
                    let format = match self.options.format {
                        CopyFormat::Binary => FieldFormat::Binary,
                        _ => FieldFormat::Text,
                    };
                    let present =
                        write_field(&values[i], row, format, *trim, pg, &self.text, &mut value);
                    if self.options.format == CopyFormat::Binary {
                        if present {
                            out.put_i32(value.len() as i32);
                            out.put_slice(&value);
                        } else {
                            out.put_i32(-1);
                        }
                        continue;
                    }
                    if i > 0 {
                        put_char(&mut out, self.options.delimiter);
                    }
                    if !present {
                        out.put_slice(self.options.null.as_bytes());
                    } else {
                        self.put_field(&mut out, &value);
                    }
                }
                if self.options.format != CopyFormat::Binary {
                    out.put_u8(b'\n');
                }
                out.freeze()
            })
            .collect())
    }

    /// A present value in text or CSV form.
    fn put_field(&self, out: &mut BytesMut, value: &[u8]) {
        let delimiter = self.options.delimiter;
        match self.options.format {
            CopyFormat::Text => {
                for &b in value {
                    match b {
                        b'\\' => out.put_slice(b"\\\\"),
                        b'\n' => out.put_slice(b"\\n"),
                        b'\r' => out.put_slice(b"\\r"),
                        b'\t' => out.put_slice(b"\\t"),
                        b if char::from(b) == delimiter => {
                            out.put_u8(b'\\');
                            out.put_u8(b);
                        }
                        b => out.put_u8(b),
                    }
                }
            }
            CopyFormat::Csv => {
                let (quote, escape) = (self.options.quote, self.options.escape);
                // Quoted when it holds the delimiter, a quote, a line break,
                // or reads as the NULL string.
                let needs_quotes = value == self.options.null.as_bytes()
                    || value == b"\\."
                    || value.iter().any(|&b| {
                        b == b'\n'
                            || b == b'\r'
                            || char::from(b) == delimiter
                            || char::from(b) == quote
                    });
                if !needs_quotes {
                    out.put_slice(value);
                    return;
                }
                put_char(out, quote);
                for &b in value {
                    if char::from(b) == quote || char::from(b) == escape {
                        put_char(out, escape);
                    }
                    out.put_u8(b);
                }
                put_char(out, quote);
            }
            CopyFormat::Binary => out.put_slice(value),
        }
    }
}

fn put_char(out: &mut BytesMut, c: char) {
    let mut buf = [0; 4];
    out.put_slice(c.encode_utf8(&mut buf).as_bytes());
}
