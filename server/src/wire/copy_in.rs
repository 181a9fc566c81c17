//! `COPY ... FROM STDIN`: the rows a client sends (CopyData messages in
//! PostgreSQL's text or CSV COPY format, split anywhere) decoded into Arrow
//! batches of the target columns' types.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BinaryBuilder, RecordBatch, StringBuilder};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::util::display::FormatOptions;

use crate::engine::CopyIn;
use crate::engine::statement::CopyFormat;
use crate::error::{Result, StrataError};

/// Rows gathered before they become a batch.
const BATCH_ROWS: usize = 8192;

/// Decodes the data of one `COPY ... FROM STDIN`.
#[derive(Debug)]
pub struct CopyInDecoder {
    copy: CopyIn,
    /// Bytes of a record not yet complete.
    pending: Vec<u8>,
    columns: Vec<StringBuilder>,
    rows: usize,
    batches: Vec<RecordBatch>,
    /// Records seen, for error messages (the header counts).
    line: u64,
    /// The end marker (`\.`) was read: the rest is ignored.
    ended: bool,
}

fn bad(line: u64, message: impl std::fmt::Display) -> StrataError {
    StrataError::BadCopyData(format!("{message} (COPY line {line})"))
}

impl CopyInDecoder {
    pub fn new(copy: CopyIn) -> Self {
        let columns = copy
            .schema
            .fields()
            .iter()
            .map(|_| StringBuilder::new())
            .collect();
        Self {
            copy,
            pending: Vec::new(),
            columns,
            rows: 0,
            batches: Vec::new(),
            line: 0,
            ended: false,
        }
    }

    /// Takes the next CopyData message.
    pub fn push(&mut self, data: &[u8]) -> Result<()> {
        if self.ended {
            return Ok(());
        }
        self.pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(end) = self.record_end(start) {
            let record = self.pending[start..end].to_vec();
            start = end + 1;
            self.record(&record)?;
            if self.ended {
                break;
            }
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// The rows, once the client has sent them all.
    pub fn finish(mut self) -> Result<(CopyIn, Vec<RecordBatch>)> {
        if !self.ended && !self.pending.is_empty() {
            let record = std::mem::take(&mut self.pending);
            self.record(&record)?;
        }
        self.flush()?;
        Ok((self.copy, self.batches))
    }

    /// Where the record starting at `start` ends (its newline), if it is
    /// complete: newlines inside CSV quotes belong to the value.
    fn record_end(&self, start: usize) -> Option<usize> {
        let bytes = &self.pending[start..];
        if self.copy.options.format != CopyFormat::Csv {
            return bytes.iter().position(|b| *b == b'\n').map(|i| start + i);
        }
        let (quote, escape) = (
            self.copy.options.quote as u8,
            self.copy.options.escape as u8,
        );
        let mut quoted = false;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if quoted && b == escape && escape != quote && bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            if b == quote {
                quoted = !quoted;
            } else if b == b'\n' && !quoted {
                return Some(start + i);
            }
            i += 1;
        }
        None
    }

    fn record(&mut self, record: &[u8]) -> Result<()> {
        self.line += 1;
        let record = record.strip_suffix(b"\r").unwrap_or(record);
        if record == b"\\." {
            self.ended = true;
            return Ok(());
        }
        if self.line == 1 && self.copy.options.header {
            return Ok(());
        }
        let fields = match self.copy.options.format {
            CopyFormat::Csv => self.csv_fields(record)?,
            _ => self.text_fields(record)?,
        };
        let expected = self.columns.len();
        if fields.len() > expected {
            return Err(bad(self.line, "extra data after last expected column"));
        }
        if fields.len() < expected {
            let column = self.copy.schema.field(fields.len()).name().clone();
            return Err(bad(
                self.line,
                format!("missing data for column \"{column}\""),
            ));
        }
        for (builder, value) in self.columns.iter_mut().zip(fields) {
            builder.append_option(value);
        }
        self.rows += 1;
        if self.rows >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// A text-format record: fields split by the delimiter, `\N` (or the
    /// NULL string) for NULL, backslash escapes decoded.
    fn text_fields(&self, record: &[u8]) -> Result<Vec<Option<String>>> {
        let delimiter = self.copy.options.delimiter as u8;
        let null = self.copy.options.null.as_bytes();
        let mut fields = Vec::new();
        let mut raw_start = 0;
        let mut value = Vec::new();
        let mut i = 0;
        let finish =
            |raw: &[u8], value: &mut Vec<u8>, fields: &mut Vec<Option<String>>| -> Result<()> {
                if raw == null {
                    fields.push(None);
                } else {
                    let text = String::from_utf8(std::mem::take(value)).map_err(|_| {
                        bad(self.line, "invalid byte sequence for encoding \"UTF8\"")
                    })?;
                    fields.push(Some(text));
                }
                value.clear();
                Ok(())
            };
        while i < record.len() {
            let b = record[i];
            if b == delimiter {
                finish(&record[raw_start..i], &mut value, &mut fields)?;
                i += 1;
                raw_start = i;
                continue;
            }
            if b != b'\\' || i + 1 >= record.len() {
                value.push(b);
                i += 1;
                continue;
            }
            let next = record[i + 1];
            i += 2;
            match next {
                b'b' => value.push(8),
                b'f' => value.push(12),
                b'n' => value.push(b'\n'),
                b'r' => value.push(b'\r'),
                b't' => value.push(b'\t'),
                b'v' => value.push(11),
                b'0'..=b'7' => {
                    let mut code = u32::from(next - b'0');
                    for _ in 0..2 {
                        match record.get(i) {
                            Some(d @ b'0'..=b'7') => {
                                code = code * 8 + u32::from(d - b'0');
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    value.push(code as u8);
                }
                b'x' => {
                    let digits: Vec<u8> = record[i..]
                        .iter()
                        .take(2)
                        .take_while(|d| d.is_ascii_hexdigit())
                        .copied()
                        .collect();
                    if digits.is_empty() {
                        value.push(b'x');
                    } else {
                        i += digits.len();
                        let text = String::from_utf8_lossy(&digits).into_owned();
                        value.push(u8::from_str_radix(&text, 16).unwrap_or(b'?'));
                    }
                }
                other => value.push(other),
            }
        }
        finish(&record[raw_start..], &mut value, &mut fields)?;
        Ok(fields)
    }

    /// A CSV record: quoted values may hold delimiters, quotes (doubled, or
    /// after the escape character) and newlines; an unquoted value equal to
    /// the NULL string (empty by default) is NULL.
    fn csv_fields(&self, record: &[u8]) -> Result<Vec<Option<String>>> {
        let options = &self.copy.options;
        let (delimiter, quote, escape) = (
            options.delimiter as u8,
            options.quote as u8,
            options.escape as u8,
        );
        let null = options.null.as_bytes();
        let mut fields = Vec::new();
        let mut value = Vec::new();
        let (mut quoted_any, mut quoted) = (false, false);
        let mut i = 0;
        let line = self.line;
        let finish = |value: &mut Vec<u8>, quoted_any: bool| -> Result<Option<String>> {
            if !quoted_any && value.as_slice() == null {
                value.clear();
                return Ok(None);
            }
            String::from_utf8(std::mem::take(value))
                .map(Some)
                .map_err(|_| bad(line, "invalid byte sequence for encoding \"UTF8\""))
        };
        while i < record.len() {
            let b = record[i];
            if quoted {
                if b == escape && record.get(i + 1) == Some(&quote) {
                    value.push(quote);
                    i += 2;
                    continue;
                }
                if b == quote {
                    quoted = false;
                } else {
                    value.push(b);
                }
            } else if b == quote {
                quoted = true;
                quoted_any = true;
            } else if b == delimiter {
                fields.push(finish(&mut value, quoted_any)?);
                quoted_any = false;
            } else {
                value.push(b);
            }
            i += 1;
        }
        if quoted {
            return Err(bad(self.line, "unterminated CSV quoted field"));
        }
        fields.push(finish(&mut value, quoted_any)?);
        Ok(fields)
    }

    /// The gathered rows as a batch of the target's types.
    fn flush(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let schema: SchemaRef = Arc::clone(&self.copy.schema);
        let options = CastOptions {
            safe: false,
            format_options: FormatOptions::default(),
        };
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (builder, field) in self.columns.iter_mut().zip(schema.fields()) {
            let text = builder.finish();
            let array: ArrayRef = match field.data_type() {
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                    let mut bytes = BinaryBuilder::new();
                    for value in text.iter() {
                        match value {
                            None => bytes.append_null(),
                            Some(value) => bytes.append_value(bytea(value).ok_or_else(|| {
                                StrataError::InvalidTextRepresentation {
                                    type_name: "bytea".to_owned(),
                                    value: value.to_owned(),
                                }
                            })?),
                        }
                    }
                    cast_with_options(&bytes.finish(), field.data_type(), &options)
                        .map_err(datafusion::error::DataFusionError::from)?
                }
                other => cast_with_options(&text, other, &options).map_err(|e| {
                    StrataError::InvalidTextRepresentation {
                        type_name: other.to_string(),
                        value: format!("{e} (column \"{}\")", field.name()),
                    }
                })?,
            };
            arrays.push(array);
        }
        self.batches.push(
            RecordBatch::try_new(schema, arrays)
                .map_err(datafusion::error::DataFusionError::from)?,
        );
        self.rows = 0;
        Ok(())
    }
}

/// bytea's text forms: `\x` and hex digits, or the value as it is.
fn bytea(text: &str) -> Option<Vec<u8>> {
    let Some(hex) = text.strip_prefix("\\x") else {
        return Some(text.as_bytes().to_vec());
    };
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::statement::CopyOutOptions;
    use datafusion::arrow::array::{Array, AsArray, Int64Array};
    use datafusion::arrow::datatypes::{Field, Int64Type, Schema};

    fn decoder(format: CopyFormat, header: bool) -> CopyInDecoder {
        let csv = format == CopyFormat::Csv;
        CopyInDecoder::new(CopyIn {
            table: "t".to_owned(),
            schema: Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("note", DataType::Utf8, true),
            ])),
            options: CopyOutOptions {
                format,
                header,
                delimiter: if csv { ',' } else { '\t' },
                null: if csv { String::new() } else { "\\N".to_owned() },
                quote: '"',
                escape: '"',
            },
        })
    }

    #[test]
    fn text_rows_split_anywhere_decode_escapes_and_nulls() {
        let mut d = decoder(CopyFormat::Text, false);
        d.push(b"1\ta\\tb\n2\t\\N\n3").unwrap();
        d.push(b"\tline\\nbreak\n\\.\n").unwrap();
        let (_, batches) = d.finish().unwrap();
        let batch = &batches[0];
        assert_eq!(
            batch.column(0).as_primitive::<Int64Type>(),
            &Int64Array::from(vec![1, 2, 3])
        );
        let notes = batch.column(1).as_string::<i32>();
        assert_eq!(notes.value(0), "a\tb");
        assert!(notes.is_null(1));
        assert_eq!(notes.value(2), "line\nbreak");
    }

    #[test]
    fn csv_rows_keep_quoted_delimiters_newlines_and_empty_strings() {
        let mut d = decoder(CopyFormat::Csv, true);
        d.push(b"id,note\n1,\"a,\"\"b\"\"\nc\"\n2,\n3,\"\"\n")
            .unwrap();
        let (_, batches) = d.finish().unwrap();
        let notes = batches[0].column(1).as_string::<i32>();
        assert_eq!(notes.value(0), "a,\"b\"\nc");
        assert!(notes.is_null(1));
        assert_eq!(notes.value(2), "");
    }

    #[test]
    fn wrong_field_counts_and_values_are_refused() {
        let mut d = decoder(CopyFormat::Text, false);
        assert!(d.push(b"1\ta\tb\n").is_err());
        let mut d = decoder(CopyFormat::Text, false);
        d.push(b"x\ta\n").unwrap();
        assert!(d.finish().is_err());
    }
}
