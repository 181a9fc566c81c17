//! How a table is read, set per table: Spark's JDBC partitioning options.
//!
//! `partition_column`, `lower_bound`, `upper_bound` and `num_partitions`
//! cut the table into `num_partitions` ranges of the column, as Spark's
//! `partitionColumn`, `lowerBound`, `upperBound` and `numPartitions` do: the
//! bounds only set the stride, no row is filtered out; the first range also
//! holds NULLs and everything below, the last everything above.
//! `num_partitions` alone sets how many ctid ranges a table is read in.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::types::PgKind;
use super::{PgColumn, quote_ident};

/// The most partitions a table is read in.
pub const MAX_PARTITIONS: u32 = 1024;

/// The option names, as users write them.
pub const OPTION_NAMES: [&str; 4] = [
    "partition_column",
    "lower_bound",
    "upper_bound",
    "num_partitions",
];

/// How one table is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_bound: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_bound: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_partitions: Option<u32>,
}

/// The options of a source's tables, by `schema.table`.
pub type TableOptions = BTreeMap<String, ReadOptions>;

impl ReadOptions {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Sets option `name` to `value`, or clears it when `value` is `None`.
    pub fn set(&mut self, name: &str, value: Option<String>) -> Result<(), String> {
        match name {
            "partition_column" => self.partition_column = value,
            "lower_bound" => self.lower_bound = value,
            "upper_bound" => self.upper_bound = value,
            "num_partitions" => {
                self.num_partitions = value
                    .map(|text| match text.trim().parse::<u32>() {
                        Ok(n) if (1..=MAX_PARTITIONS).contains(&n) => Ok(n),
                        _ => Err(format!(
                            "num_partitions must be a whole number from 1 to {MAX_PARTITIONS}, not \"{text}\""
                        )),
                    })
                    .transpose()?
            }
            other => {
                return Err(format!(
                    "unrecognized table option \"{other}\" (the options are: {})",
                    OPTION_NAMES.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Options from a TOML table (`[sources.pg.tables."public.orders"]`),
    /// whose bounds may be numbers or strings.
    pub fn from_toml(table: &toml::Table) -> Result<Self, String> {
        let mut options = Self::default();
        for (name, value) in table {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Datetime(d) => d.to_string(),
                other => {
                    return Err(format!(
                        "{name}: expected a string or a number, not {other}"
                    ));
                }
            };
            options.set(name, Some(text))?;
        }
        Ok(options)
    }

    /// Checks the options against the table's columns: the four partitioning
    /// options come together, on an integer, date or timestamp column, with
    /// bounds of its type, the lower below the upper.
    pub fn validate(&self, columns: &[PgColumn]) -> Result<(), String> {
        self.column_ranges(columns).map(|_| ())
    }

    /// Predicates that cut the table into ranges of its partition column;
    /// `None` when no partition column is set or there would be one range.
    pub fn range_slices(&self, columns: &[PgColumn]) -> Result<Option<Vec<String>>, String> {
        let Some((column, kind, lower, upper, count)) = self.column_ranges(columns)? else {
            return Ok(None);
        };
        let width = upper - lower;
        let count = i128::from(count).min(width);
        if count < 2 {
            return Ok(None);
        }
        let stride = width / count;
        let name = quote_ident(column);
        let bound = |i: i128| literal(&kind, lower + i * stride);
        let slices = (0..count)
            .map(|i| {
                if i == 0 {
                    Ok(format!("({name} < {} OR {name} IS NULL)", bound(1)?))
                } else if i + 1 == count {
                    Ok(format!("{name} >= {}", bound(i)?))
                } else {
                    Ok(format!(
                        "{name} >= {} AND {name} < {}",
                        bound(i)?,
                        bound(i + 1)?
                    ))
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Some(slices))
    }

    /// The partition column, its kind, the bounds as numbers and the
    /// partition count, when a partition column is set.
    #[allow(clippy::type_complexity)]
    fn column_ranges<'a>(
        &'a self,
        columns: &'a [PgColumn],
    ) -> Result<Option<(&'a str, PgKind, i128, i128, u32)>, String> {
        let (Some(name), Some(lower), Some(upper), Some(count)) = (
            &self.partition_column,
            &self.lower_bound,
            &self.upper_bound,
            self.num_partitions,
        ) else {
            if self.partition_column.is_some()
                || self.lower_bound.is_some()
                || self.upper_bound.is_some()
            {
                return Err(
                    "partition_column, lower_bound, upper_bound and num_partitions go together"
                        .to_owned(),
                );
            }
            return Ok(None);
        };
        let column = columns
            .iter()
            .find(|c| c.name == *name)
            .ok_or_else(|| format!("partition_column \"{name}\" is not a column of the table"))?;
        let lower =
            number(&column.kind, lower).ok_or_else(|| bad_bound("lower_bound", lower, column))?;
        let upper =
            number(&column.kind, upper).ok_or_else(|| bad_bound("upper_bound", upper, column))?;
        if lower >= upper {
            return Err("lower_bound must be below upper_bound".to_owned());
        }
        Ok(Some((name, column.kind.clone(), lower, upper, count)))
    }
}

fn bad_bound(option: &str, value: &str, column: &PgColumn) -> String {
    match column.kind {
        PgKind::Int2
        | PgKind::Int4
        | PgKind::Int8
        | PgKind::Date
        | PgKind::Timestamp
        | PgKind::TimestampTz => format!(
            "{option} \"{value}\" is not a value of partition_column \"{}\"",
            column.name
        ),
        _ => format!(
            "partition_column \"{}\" must be an integer, date or timestamp column",
            column.name
        ),
    }
}

/// A bound as a number on the column's scale: the integer itself, days
/// since 1970 for dates, microseconds since 1970 for timestamps (UTC for
/// `timestamptz` bounds written without an offset).
fn number(kind: &PgKind, text: &str) -> Option<i128> {
    let text = text.trim();
    match kind {
        PgKind::Int2 | PgKind::Int4 | PgKind::Int8 => text.parse::<i64>().ok().map(i128::from),
        PgKind::Date => {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            Some(i128::from(
                date.signed_duration_since(epoch_date()).num_days(),
            ))
        }
        PgKind::Timestamp | PgKind::TimestampTz => {
            let zoned = DateTime::parse_from_rfc3339(text)
                .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z"))
                .map(|t| t.naive_utc())
                .ok();
            let naive = zoned.or_else(|| {
                ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                    .iter()
                    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
                    .or_else(|| {
                        NaiveDate::parse_from_str(text, "%Y-%m-%d")
                            .ok()
                            .and_then(|d| d.and_hms_opt(0, 0, 0))
                    })
            })?;
            if matches!(kind, PgKind::Timestamp) && zoned.is_some() {
                // An offset means nothing to a timestamp without time zone.
                return None;
            }
            Some(i128::from(naive.and_utc().timestamp_micros()))
        }
        _ => None,
    }
}

fn epoch_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01 is a date")
}

/// A number on the column's scale as a PostgreSQL literal.
fn literal(kind: &PgKind, value: i128) -> Result<String, String> {
    let out_of_range = || format!("partition bound {value} is out of range");
    match kind {
        PgKind::Date => {
            let days = i64::try_from(value).map_err(|_| out_of_range())?;
            let date = epoch_date()
                .checked_add_signed(chrono::Duration::days(days))
                .ok_or_else(out_of_range)?;
            Ok(format!("DATE '{}'", date.format("%Y-%m-%d")))
        }
        PgKind::Timestamp | PgKind::TimestampTz => {
            let micros = i64::try_from(value).map_err(|_| out_of_range())?;
            let instant = DateTime::from_timestamp_micros(micros).ok_or_else(out_of_range)?;
            let text = instant.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f");
            Ok(if matches!(kind, PgKind::Timestamp) {
                format!("TIMESTAMP '{text}'")
            } else {
                format!("TIMESTAMPTZ '{text}+00'")
            })
        }
        _ => Ok(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::TextOrder;

    fn columns() -> Vec<PgColumn> {
        [
            ("id", PgKind::Int8),
            ("placed", PgKind::Date),
            ("at", PgKind::TimestampTz),
            ("note", PgKind::Text),
        ]
        .into_iter()
        .map(|(name, kind)| PgColumn {
            name: name.to_owned(),
            kind,
            text_order: TextOrder::Other,
            has_default: false,
            not_null: false,
            default: None,
        })
        .collect()
    }

    fn options(column: &str, lower: &str, upper: &str, count: u32) -> ReadOptions {
        ReadOptions {
            partition_column: Some(column.to_owned()),
            lower_bound: Some(lower.to_owned()),
            upper_bound: Some(upper.to_owned()),
            num_partitions: Some(count),
        }
    }

    #[test]
    fn ranges_cover_every_value_as_spark_cuts_them() {
        let slices = options("id", "0", "100", 4)
            .range_slices(&columns())
            .unwrap()
            .unwrap();
        assert_eq!(
            slices,
            [
                "(\"id\" < 25 OR \"id\" IS NULL)",
                "\"id\" >= 25 AND \"id\" < 50",
                "\"id\" >= 50 AND \"id\" < 75",
                "\"id\" >= 75",
            ]
        );
        // Fewer values than partitions: one partition per value.
        let narrow = options("id", "1", "3", 8).range_slices(&columns()).unwrap();
        assert_eq!(narrow.unwrap().len(), 2);
        assert_eq!(
            options("id", "1", "2", 8).range_slices(&columns()).unwrap(),
            None
        );

        let dates = options("placed", "2024-01-01", "2024-01-05", 2)
            .range_slices(&columns())
            .unwrap()
            .unwrap();
        assert_eq!(dates[1], "\"placed\" >= DATE '2024-01-03'");
        let times = options("at", "2024-01-01 00:00:00+02", "2024-01-01T02:00:00Z", 2)
            .range_slices(&columns())
            .unwrap()
            .unwrap();
        assert_eq!(
            times[1],
            "\"at\" >= TIMESTAMPTZ '2024-01-01 00:00:00.000000+00'"
        );
    }

    #[test]
    fn bad_options_say_what_is_wrong() {
        let c = columns();
        let error = |o: ReadOptions| o.validate(&c).unwrap_err();
        assert!(error(options("nope", "1", "2", 2)).contains("not a column"));
        assert!(error(options("note", "a", "b", 2)).contains("integer, date or timestamp"));
        assert!(error(options("id", "x", "2", 2)).contains("lower_bound \"x\""));
        assert!(error(options("id", "5", "2", 2)).contains("below"));
        let alone = ReadOptions {
            partition_column: Some("id".into()),
            ..ReadOptions::default()
        };
        assert!(error(alone).contains("go together"));

        let mut o = ReadOptions::default();
        assert!(o.set("num_partitions", Some("0".into())).is_err());
        assert!(o.set("fetchsize", Some("10".into())).is_err());
        o.set("num_partitions", Some("4".into())).unwrap();
        assert_eq!(o.num_partitions, Some(4));
        assert!(
            o.validate(&c).is_ok(),
            "num_partitions alone sets ctid ranges"
        );
        o.set("num_partitions", None).unwrap();
        assert!(o.is_empty());

        let table: toml::Table =
            "partition_column = \"id\"\nlower_bound = 1\nupper_bound = 1000\nnum_partitions = 4\n"
                .parse()
                .unwrap();
        let from_toml = ReadOptions::from_toml(&table).unwrap();
        assert_eq!(from_toml, options("id", "1", "1000", 4));
    }
}
