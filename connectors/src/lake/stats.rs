//! File statistics in Delta's form (`numRecords`, `minValues`, `maxValues`,
//! `nullCount`): gathered while a file is written, read back to skip files
//! a filter cannot match.
//!
//! Bounds are kept only where they are exact enough to prune with: numbers,
//! dates, timestamps and short strings. A bound read back is widened where
//! the text may have lost precision (decimals through JSON numbers,
//! timestamps written in milliseconds), so pruning never drops a file that
//! holds a matching row.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, ScalarValue};
use datafusion::error::Result;
use datafusion::functions_aggregate::min_max::{MaxAccumulator, MinAccumulator};
use datafusion::logical_expr::Accumulator;

/// Strings longer than this get no bounds.
const MAX_STRING_BOUND: usize = 64;

/// Gathers the statistics of one file as its batches are written.
pub struct StatsCollector {
    schema: SchemaRef,
    rows: u64,
    columns: Vec<ColumnStats>,
}

struct ColumnStats {
    bounds: Option<(MinAccumulator, MaxAccumulator)>,
    nulls: u64,
}

impl std::fmt::Debug for StatsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsCollector")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// True for the types whose bounds Strata records.
fn bounded(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(_, _)
            | DataType::Date32
            | DataType::Timestamp(TimeUnit::Microsecond, _)
            | DataType::Utf8
    )
}

impl StatsCollector {
    /// A collector for files of `schema` (the file's columns).
    pub fn new(schema: SchemaRef) -> Result<Self> {
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                let bounds = if bounded(field.data_type()) {
                    Some((
                        MinAccumulator::try_new(field.data_type())?,
                        MaxAccumulator::try_new(field.data_type())?,
                    ))
                } else {
                    None
                };
                Ok(ColumnStats { bounds, nulls: 0 })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            schema,
            rows: 0,
            columns,
        })
    }

    pub fn update(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        for (column, stats) in batch.columns().iter().zip(&mut self.columns) {
            stats.nulls += column.null_count() as u64;
            if let Some((min, max)) = &mut stats.bounds {
                min.update_batch(std::slice::from_ref(column))?;
                max.update_batch(std::slice::from_ref(column))?;
            }
        }
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The statistics as Delta's JSON text.
    pub fn to_json(&mut self) -> Result<String> {
        let mut mins = Vec::new();
        let mut maxes = Vec::new();
        let mut nulls = Vec::new();
        for (field, stats) in self.schema.fields().iter().zip(&mut self.columns) {
            let key = json_string(field.name());
            if !matches!(field.data_type(), DataType::Struct(_) | DataType::Map(_, _)) {
                nulls.push(format!("{key}:{}", stats.nulls));
            }
            if let Some((min, max)) = &mut stats.bounds {
                let (min, max) = (min.evaluate()?, max.evaluate()?);
                if let (Some(min), Some(max)) = (json_bound(&min), json_bound(&max)) {
                    mins.push(format!("{key}:{min}"));
                    maxes.push(format!("{key}:{max}"));
                }
            }
        }
        Ok(format!(
            "{{\"numRecords\":{},\"minValues\":{{{}}},\"maxValues\":{{{}}},\"nullCount\":{{{}}}}}",
            self.rows,
            mins.join(","),
            maxes.join(","),
            nulls.join(",")
        ))
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// A bound as a JSON value, or `None` where none should be recorded.
fn json_bound(value: &ScalarValue) -> Option<String> {
    if value.is_null() {
        return None;
    }
    match value {
        ScalarValue::Float32(Some(v)) if !v.is_finite() => None,
        ScalarValue::Float64(Some(v)) if !v.is_finite() => None,
        ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::Int64(_)
        | ScalarValue::Float32(_)
        | ScalarValue::Float64(_)
        | ScalarValue::Decimal128(_, _, _) => Some(value.to_string()),
        ScalarValue::Date32(_) => Some(json_string(&value.to_string())),
        ScalarValue::TimestampMicrosecond(Some(micros), zone) => {
            let time = chrono::DateTime::from_timestamp_micros(*micros)?;
            let mut text = time.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
            if zone.is_some() {
                text.push('Z');
            }
            Some(json_string(&text))
        }
        ScalarValue::Utf8(Some(text)) if text.len() <= MAX_STRING_BOUND => Some(json_string(text)),
        _ => None,
    }
}

/// The statistics of one file as read from the log.
#[derive(Debug, Clone, Default)]
pub struct FileStats {
    pub rows: Option<u64>,
    pub min: HashMap<String, ScalarValue>,
    pub max: HashMap<String, ScalarValue>,
    pub nulls: HashMap<String, u64>,
}

impl FileStats {
    /// Parses Delta's statistics JSON for a table of `schema`; unknown or
    /// unreadable entries are left out (they only prune less).
    pub fn parse(json: &str, schema: &Schema) -> Self {
        let Ok(serde_json::Value::Object(root)) = serde_json::from_str::<serde_json::Value>(json)
        else {
            return Self::default();
        };
        let mut stats = Self {
            rows: root.get("numRecords").and_then(|v| v.as_u64()),
            ..Default::default()
        };
        for field in schema.fields() {
            let name = field.name();
            let bound = |key: &str, upper: bool| {
                root.get(key)
                    .and_then(|m| m.get(name))
                    .and_then(|v| read_bound(v, field.data_type(), upper))
            };
            if let (Some(min), Some(max)) = (bound("minValues", false), bound("maxValues", true)) {
                stats.min.insert(name.clone(), min);
                stats.max.insert(name.clone(), max);
            }
            if let Some(nulls) = root
                .get("nullCount")
                .and_then(|m| m.get(name))
                .and_then(|v| v.as_u64())
            {
                stats.nulls.insert(name.clone(), nulls);
            }
        }
        stats
    }
}

/// A JSON bound as a value of `data_type`, widened outward (`upper` for a
/// maximum) where the text may be less precise than the values.
fn read_bound(value: &serde_json::Value, data_type: &DataType, upper: bool) -> Option<ScalarValue> {
    match data_type {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            ScalarValue::Int64(Some(value.as_i64()?))
                .cast_to(data_type)
                .ok()
        }
        DataType::Float32 | DataType::Float64 => ScalarValue::Float64(Some(value.as_f64()?))
            .cast_to(data_type)
            .ok(),
        DataType::Decimal128(precision, scale) => {
            // JSON numbers pass through f64 here: widen by more than its error.
            let v = value.as_f64()?;
            let widened = v + v.abs() * 1e-12 * if upper { 1.0 } else { -1.0 };
            let scaled = widened * 10f64.powi(i32::from(*scale));
            let unscaled = if upper { scaled.ceil() } else { scaled.floor() };
            if !unscaled.is_finite() || unscaled.abs() >= 1e38 {
                return None;
            }
            let decimal = ScalarValue::Decimal128(Some(unscaled as i128), *precision, *scale);
            Some(decimal)
        }
        DataType::Date32 => ScalarValue::Utf8(Some(value.as_str()?.to_owned()))
            .cast_to(data_type)
            .ok(),
        DataType::Timestamp(TimeUnit::Microsecond, zone) => {
            let text = value.as_str()?;
            let trimmed = text.trim_end_matches('Z');
            let time = chrono::NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%d %H:%M:%S%.f"))
                .ok()
                .or_else(|| {
                    chrono::DateTime::parse_from_rfc3339(text)
                        .ok()
                        .map(|t| t.naive_utc())
                })?;
            let mut micros = time.and_utc().timestamp_micros();
            // Spark writes bounds in milliseconds: a maximum may be up to
            // 999 microseconds below the largest value.
            let fraction = trimmed.rsplit_once('.').map_or(0, |(_, f)| f.len());
            if upper && fraction <= 3 {
                micros += 999;
            }
            Some(ScalarValue::TimestampMicrosecond(
                Some(micros),
                zone.clone(),
            ))
        }
        DataType::Utf8 => {
            let text = value.as_str()?;
            // Other writers truncate long strings to a prefix: that is
            // still a lower bound, but an upper bound only if it is short.
            (!upper || text.chars().count() < 32).then(|| ScalarValue::Utf8(Some(text.to_owned())))
        }
        _ => None,
    }
}

/// The statistics of the files of one scan, for DataFusion's pruning: one
/// "container" per file. Partition columns have their value as both bounds.
#[derive(Debug)]
pub struct FilesStatistics<'a> {
    pub schema: &'a Schema,
    /// Per file: its partition values (by column name) and its statistics.
    pub files: Vec<(HashMap<&'a str, ScalarValue>, &'a FileStats)>,
}

impl FilesStatistics<'_> {
    fn bounds(
        &self,
        column: &Column,
        pick: impl Fn(&FileStats) -> Option<&ScalarValue>,
    ) -> Option<ArrayRef> {
        let field = self.schema.field_with_name(&column.name).ok()?;
        let null = ScalarValue::try_from(field.data_type()).ok()?;
        let values = self.files.iter().map(|(partition, stats)| {
            partition
                .get(column.name.as_str())
                .or_else(|| pick(stats))
                .cloned()
                .unwrap_or_else(|| null.clone())
        });
        ScalarValue::iter_to_array(values).ok()
    }
}

impl PruningStatistics for FilesStatistics<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, |stats| stats.min.get(&column.name))
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, |stats| stats.max.get(&column.name))
    }

    fn num_containers(&self) -> usize {
        self.files.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let counts: UInt64Array = self
            .files
            .iter()
            .map(
                |(partition, stats)| match partition.get(column.name.as_str()) {
                    Some(value) if value.is_null() => stats.rows,
                    Some(_) => Some(0),
                    None => stats.nulls.get(&column.name).copied(),
                },
            )
            .collect();
        Some(Arc::new(counts))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        let counts: UInt64Array = self.files.iter().map(|(_, stats)| stats.rows).collect();
        Some(Arc::new(counts))
    }

    #[allow(clippy::mutable_key_type)]
    fn contained(&self, column: &Column, values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        // Partition columns: a file's rows all have its value.
        let found: Option<Vec<Option<bool>>> = self
            .files
            .iter()
            .map(|(partition, _)| {
                partition
                    .get(column.name.as_str())
                    .map(|value| Some(values.contains(value)))
            })
            .collect();
        found.map(BooleanArray::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::Field;

    #[test]
    fn collected_statistics_read_back_as_bounds_that_cover_the_values() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("amount", DataType::Decimal128(12, 2), true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![Some(5), None, Some(-3)])),
                Arc::new(StringArray::from(vec![Some("b"), Some("a"), None])),
                Arc::new(
                    Decimal128Array::from(vec![Some(1234), Some(-99), Some(10)])
                        .with_precision_and_scale(12, 2)
                        .unwrap(),
                ),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(1_000_001), Some(7), None])
                        .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap();
        let mut collector = StatsCollector::new(Arc::clone(&schema)).unwrap();
        collector.update(&batch).unwrap();
        let json = collector.to_json().unwrap();
        let stats = FileStats::parse(&json, &schema);
        assert_eq!(stats.rows, Some(3));
        assert_eq!(stats.min["id"], ScalarValue::Int64(Some(-3)));
        assert_eq!(stats.max["id"], ScalarValue::Int64(Some(5)));
        assert_eq!(stats.nulls["id"], 1);
        assert_eq!(stats.min["name"], ScalarValue::Utf8(Some("a".into())));
        let ScalarValue::Decimal128(Some(min), ..) = stats.min["amount"] else {
            panic!("{:?}", stats.min["amount"]);
        };
        let ScalarValue::Decimal128(Some(max), ..) = stats.max["amount"] else {
            panic!("{:?}", stats.max["amount"]);
        };
        assert!(min <= -99 && max >= 1234, "{min} {max}");
        assert_eq!(
            stats.max["at"],
            ScalarValue::TimestampMicrosecond(Some(1_000_001), Some("UTC".into()))
        );
    }
}
