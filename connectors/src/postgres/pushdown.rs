//! Filters sent to PostgreSQL: the ones that mean exactly the same there as
//! in DataFusion, written as PostgreSQL SQL.
//!
//! Pushed: comparisons, `BETWEEN`, `IN` lists and `IS [NOT] NULL` on
//! integer, numeric, boolean, date and timestamp columns against literals,
//! combined with `AND`, `OR` and `NOT`; on `text` and `varchar` columns
//! equality and `IN` under any deterministic collation, and ranges only
//! under the C collation, whose byte order is DataFusion's. Kept in
//! DataFusion: other text comparisons (a collation orders differently,
//! `char(n)` ignores trailing blanks), floating point (PostgreSQL orders NaN
//! above every number), and anything with a function or a cast that could
//! change a value.

use arrow::datatypes::DataType;
use chrono::{DateTime, NaiveDate};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::{Between, BinaryExpr, Cast, InList};
use datafusion::logical_expr::{Expr, Operator};

use super::numeric::decimal_text;
use super::types::PgKind;
use super::{PgColumn, TextOrder, quote_ident, quote_literal};

/// How values of a column compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Number,
    Bool,
    Date,
    Timestamp,
    TimestampTz,
    /// Text in byte order: every comparison.
    Text,
    /// Text in another deterministic collation: equality only.
    TextEquality,
}

fn class_of(column: &PgColumn) -> Option<Class> {
    match &column.kind {
        PgKind::Text => match column.text_order {
            TextOrder::Bytes => Some(Class::Text),
            TextOrder::Equality => Some(Class::TextEquality),
            TextOrder::Other => None,
        },
        PgKind::Int2 | PgKind::Int4 | PgKind::Int8 | PgKind::Numeric { .. } => Some(Class::Number),
        PgKind::Bool => Some(Class::Bool),
        PgKind::Date => Some(Class::Date),
        PgKind::Timestamp => Some(Class::Timestamp),
        PgKind::TimestampTz => Some(Class::TimestampTz),
        _ => None,
    }
}

/// The PostgreSQL text of `filter` over `columns`, if it means the same there.
pub fn filter_sql(filter: &Expr, columns: &[PgColumn]) -> Option<String> {
    Writer { columns }.predicate(filter)
}

struct Writer<'a> {
    columns: &'a [PgColumn],
}

impl Writer<'_> {
    fn predicate(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
                Operator::And | Operator::Or => {
                    let word = if *op == Operator::And { "AND" } else { "OR" };
                    Some(format!(
                        "({} {word} {})",
                        self.predicate(left)?,
                        self.predicate(right)?
                    ))
                }
                Operator::Eq
                | Operator::NotEq
                | Operator::Lt
                | Operator::LtEq
                | Operator::Gt
                | Operator::GtEq => {
                    let (l, r, class) = self.comparable(left, right)?;
                    let equality = matches!(op, Operator::Eq | Operator::NotEq);
                    if class == Class::TextEquality && !equality {
                        return None;
                    }
                    Some(format!("({l} {} {r})", op_text(*op)?))
                }
                _ => None,
            },
            Expr::Not(inner) => Some(format!("(NOT {})", self.predicate(inner)?)),
            // NULL tests mean the same for every type.
            Expr::IsNull(inner) => Some(format!("({} IS NULL)", self.any_column(inner)?)),
            Expr::IsNotNull(inner) => Some(format!("({} IS NOT NULL)", self.any_column(inner)?)),
            Expr::Between(Between {
                expr,
                negated,
                low,
                high,
            }) => {
                let (column, class) = self.column(expr)?;
                if class == Class::TextEquality {
                    return None;
                }
                let low = literal(low, class)?;
                let high = literal(high, class)?;
                let not = if *negated { "NOT " } else { "" };
                Some(format!("({column} {not}BETWEEN {low} AND {high})"))
            }
            Expr::InList(InList {
                expr,
                list,
                negated,
            }) if !list.is_empty() => {
                let (column, class) = self.column(expr)?;
                let values = list
                    .iter()
                    .map(|item| literal(item, class))
                    .collect::<Option<Vec<_>>>()?;
                let not = if *negated { "NOT " } else { "" };
                Some(format!("({column} {not}IN ({}))", values.join(", ")))
            }
            _ => None,
        }
    }

    /// A column and a literal of the same class, in the order given, and
    /// their class.
    fn comparable(&self, left: &Expr, right: &Expr) -> Option<(String, String, Class)> {
        if let Some((column, class)) = self.column(left) {
            return Some((column, literal(right, class)?, class));
        }
        let (column, class) = self.column(right)?;
        Some((literal(left, class)?, column, class))
    }

    fn find(&self, expr: &Expr) -> Option<&PgColumn> {
        match expr {
            Expr::Column(column) => self.columns.iter().find(|c| c.name == column.name),
            _ => None,
        }
    }

    /// Any column, by itself.
    fn any_column(&self, expr: &Expr) -> Option<String> {
        self.find(expr).map(|c| quote_ident(&c.name))
    }

    /// A column of a pushable class, seen through casts that keep every
    /// value (the widening the planner adds to compare numbers).
    fn column(&self, expr: &Expr) -> Option<(String, Class)> {
        match expr {
            Expr::Cast(Cast { expr, field }) => {
                let pg = self.find(expr)?;
                widens(&pg.kind, field.data_type()).then(|| (quote_ident(&pg.name), Class::Number))
            }
            _ => {
                let pg = self.find(expr)?;
                Some((quote_ident(&pg.name), class_of(pg)?))
            }
        }
    }
}

/// True if every value of `kind` survives a cast to `to` unchanged.
fn widens(kind: &PgKind, to: &DataType) -> bool {
    // (digits before the point, digits after it) the column can hold
    let (integer, fraction) = match kind {
        PgKind::Int2 => (5, 0),
        PgKind::Int4 => (10, 0),
        PgKind::Int8 => (19, 0),
        PgKind::Numeric {
            precision, scale, ..
        } => (i32::from(*precision) - i32::from(*scale), i32::from(*scale)),
        _ => return false,
    };
    match to {
        DataType::Int16 => matches!(kind, PgKind::Int2),
        DataType::Int32 => matches!(kind, PgKind::Int2 | PgKind::Int4),
        DataType::Int64 => matches!(kind, PgKind::Int2 | PgKind::Int4 | PgKind::Int8),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            let (p, s) = (i32::from(*p), i32::from(*s));
            s >= fraction && p - s >= integer
        }
        _ => false,
    }
}

fn op_text(op: Operator) -> Option<&'static str> {
    Some(match op {
        Operator::Eq => "=",
        Operator::NotEq => "<>",
        Operator::Lt => "<",
        Operator::LtEq => "<=",
        Operator::Gt => ">",
        Operator::GtEq => ">=",
        _ => return None,
    })
}

/// A literal as PostgreSQL text, if it belongs to `class`.
fn literal(expr: &Expr, class: Class) -> Option<String> {
    let value = match expr {
        Expr::Literal(value, _) => value,
        // A literal cast by the planner to the column's type.
        Expr::Cast(Cast { expr, .. }) => return literal(expr, class),
        _ => return None,
    };
    if value.is_null() {
        return None;
    }
    match (class, value) {
        (Class::Number, ScalarValue::Int8(Some(v))) => Some(v.to_string()),
        (Class::Number, ScalarValue::Int16(Some(v))) => Some(v.to_string()),
        (Class::Number, ScalarValue::Int32(Some(v))) => Some(v.to_string()),
        (Class::Number, ScalarValue::Int64(Some(v))) => Some(v.to_string()),
        (Class::Number, ScalarValue::UInt8(Some(v))) => Some(v.to_string()),
        (Class::Number, ScalarValue::UInt16(Some(v))) => Some(v.to_string()),
        (Class::Number, ScalarValue::UInt32(Some(v))) => Some(v.to_string()),
        (Class::Number, ScalarValue::UInt64(Some(v))) => Some(v.to_string()),
        (Class::Number, ScalarValue::Decimal128(Some(v), _, scale)) => {
            Some(decimal_text(*v, *scale))
        }
        (Class::Bool, ScalarValue::Boolean(Some(v))) => Some(v.to_string()),
        (
            Class::Text | Class::TextEquality,
            ScalarValue::Utf8(Some(v))
            | ScalarValue::LargeUtf8(Some(v))
            | ScalarValue::Utf8View(Some(v)),
        ) => (!v.contains('\0')).then(|| quote_literal(v)), // PostgreSQL text holds no NUL
        (Class::Date, ScalarValue::Date32(Some(days))) => {
            let date = NaiveDate::from_ymd_opt(1970, 1, 1)?
                .checked_add_signed(chrono::Duration::days(i64::from(*days)))?;
            Some(format!("DATE '{}'", date.format("%Y-%m-%d")))
        }
        (Class::Timestamp | Class::TimestampTz, value) => {
            let (micros, zoned) = match value {
                ScalarValue::TimestampSecond(Some(v), tz) => (v.checked_mul(1_000_000)?, tz),
                ScalarValue::TimestampMillisecond(Some(v), tz) => (v.checked_mul(1_000)?, tz),
                ScalarValue::TimestampMicrosecond(Some(v), tz) => (*v, tz),
                // Nanoseconds below a microsecond have no PostgreSQL form.
                ScalarValue::TimestampNanosecond(Some(v), tz) if v % 1_000 == 0 => (v / 1_000, tz),
                _ => return None,
            };
            let instant = DateTime::from_timestamp_micros(micros)?;
            match (class, zoned.is_some()) {
                (Class::Timestamp, false) => Some(format!(
                    "TIMESTAMP '{}'",
                    instant.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f")
                )),
                (Class::TimestampTz, true) => Some(format!(
                    "TIMESTAMPTZ '{}+00'",
                    instant.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f")
                )),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn columns() -> Vec<PgColumn> {
        [
            ("id", PgKind::Int8),
            (
                "amount",
                PgKind::Numeric {
                    precision: 10,
                    scale: 2,
                    unconstrained: false,
                },
            ),
            ("note", PgKind::Text),
            ("ratio", PgKind::Float8),
            ("placed", PgKind::Date),
            ("code", PgKind::Text),
            ("label", PgKind::Text),
        ]
        .into_iter()
        .map(|(name, kind)| PgColumn {
            name: name.to_owned(),
            kind,
            text_order: match name {
                "code" => TextOrder::Bytes,
                "label" => TextOrder::Equality,
                _ => TextOrder::Other,
            },
            has_default: false,
            not_null: false,
            default: None,
        })
        .collect()
    }

    #[test]
    fn exact_filters_become_sql_and_the_rest_stays() {
        let c = columns();
        assert_eq!(
            filter_sql(
                &col("id").gt(lit(10i64)).and(col("id").lt_eq(lit(20i64))),
                &c
            )
            .as_deref(),
            Some("((\"id\" > 10) AND (\"id\" <= 20))")
        );
        assert_eq!(
            filter_sql(&lit(5i32).lt(col("id")), &c).as_deref(),
            Some("(5 < \"id\")")
        );
        assert_eq!(
            filter_sql(
                &col("amount").gt(lit(ScalarValue::Decimal128(Some(-905), 10, 2))),
                &c
            )
            .as_deref(),
            Some("(\"amount\" > -9.05)")
        );
        assert_eq!(
            filter_sql(&col("placed").eq(lit(ScalarValue::Date32(Some(19782)))), &c).as_deref(),
            Some("(\"placed\" = DATE '2024-02-29')")
        );
        assert_eq!(
            filter_sql(&col("id").in_list(vec![lit(1i64), lit(2i64)], true), &c).as_deref(),
            Some("(\"id\" NOT IN (1, 2))")
        );
        assert_eq!(
            filter_sql(&col("note").is_null(), &c).as_deref(),
            Some("(\"note\" IS NULL)")
        );
        assert_eq!(
            filter_sql(
                &Expr::Cast(Cast::new(Box::new(col("id")), DataType::Decimal128(21, 2)))
                    .gt(lit(ScalarValue::Decimal128(Some(150), 21, 2))),
                &c
            )
            .as_deref(),
            Some("(\"id\" > 1.50)")
        );
        assert_eq!(
            filter_sql(
                &Expr::Cast(Cast::new(Box::new(col("id")), DataType::Int32)).gt(lit(1i32)),
                &c
            ),
            None,
            "a narrowing cast stays"
        );
        assert_eq!(filter_sql(&col("note").eq(lit("x")), &c), None);
        assert_eq!(
            filter_sql(&col("code").between(lit("a"), lit("it's")), &c).as_deref(),
            Some("(\"code\" BETWEEN 'a' AND 'it''s')"),
            "text ranges under the C collation"
        );
        assert_eq!(
            filter_sql(&col("label").eq(lit("x")), &c).as_deref(),
            Some("(\"label\" = 'x')")
        );
        assert_eq!(
            filter_sql(&col("label").in_list(vec![lit("x"), lit("y")], false), &c).as_deref(),
            Some("(\"label\" IN ('x', 'y'))")
        );
        assert_eq!(
            filter_sql(&col("label").gt(lit("x")), &c),
            None,
            "no text ranges under another collation"
        );
        assert_eq!(filter_sql(&col("code").eq(lit("a\0b")), &c), None);
        assert_eq!(filter_sql(&col("ratio").gt(lit(0.5)), &c), None);
        assert_eq!(
            filter_sql(&col("id").gt(lit(1i64)).or(col("note").eq(lit("x"))), &c),
            None,
            "an OR with one side kept keeps both"
        );
    }
}
