//! PostgreSQL's `format(formatstr, args...)`: `%s` (the value as text, NULL
//! as nothing), `%I` (an identifier, quoted when needed), `%L` (a literal,
//! NULL as `NULL`) and `%%`, each optionally with an argument position
//! (`%2$s`). Every node registers it, so queries that use it run anywhere.

use std::sync::Arc;

use arrow::array::{Array, AsArray, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::sqlstate::{SqlState, tag};

#[derive(Debug, PartialEq, Eq, Hash)]
struct Format {
    signature: Signature,
}

/// The `format` function.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Format {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

fn invalid(message: String) -> DataFusionError {
    DataFusionError::Execution(tag(SqlState::INVALID_PARAMETER_VALUE, &message))
}

/// `name` as an identifier: quoted unless it is lower case letters, digits
/// and underscores not starting with a digit.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `value` as a string literal, `E'...'` when it holds a backslash.
pub fn quote_literal(value: &str) -> String {
    let quoted = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// Formats one row: `args[i]` is the i-th argument after the format string.
fn format_row(template: &str, args: &[Option<String>]) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    let mut next = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        // An optional `n$` position.
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let position = if digits.is_empty() {
            None
        } else if chars.next_if_eq(&'$').is_some() {
            let n: usize = digits
                .parse()
                .map_err(|_| invalid("format() argument position is out of range".into()))?;
            if n == 0 {
                return Err(invalid(
                    "format specifies argument 0, but arguments are numbered from 1".into(),
                ));
            }
            Some(n - 1)
        } else {
            return Err(invalid(
                "format() width specifiers are not supported".into(),
            ));
        };
        let kind = chars
            .next()
            .ok_or_else(|| invalid("unterminated format() type specifier".into()))?;
        let index = position.unwrap_or(next);
        next = index + 1;
        let value = match kind {
            's' | 'I' | 'L' => args
                .get(index)
                .ok_or_else(|| invalid("too few arguments for format()".into()))?,
            other => {
                return Err(invalid(format!(
                    "unrecognized format() type specifier \"{other}\""
                )));
            }
        };
        match (kind, value) {
            ('s', Some(v)) => out.push_str(v),
            ('s', None) => {}
            ('I', Some(v)) => out.push_str(&quote_ident(v)),
            ('I', None) => {
                return Err(DataFusionError::Execution(tag(
                    SqlState::NULL_VALUE_NOT_ALLOWED,
                    "null values cannot be formatted as an SQL identifier",
                )));
            }
            ('L', Some(v)) => out.push_str(&quote_literal(v)),
            (_, None) => out.push_str("NULL"),
            (_, Some(v)) => out.push_str(v),
        }
    }
    Ok(out)
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = args
            .args
            .iter()
            .map(|a| {
                let array = a.to_array(rows)?;
                Ok(arrow::compute::cast(&array, &DataType::Utf8)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let Some((template, values)) = arrays.split_first() else {
            return Err(invalid("format() takes a format string".into()));
        };
        let template = template.as_string::<i32>();
        let values: Vec<_> = values.iter().map(|v| v.as_string::<i32>()).collect();
        let mut out = StringBuilder::new();
        for row in 0..rows {
            if template.is_null(row) {
                out.append_null();
                continue;
            }
            let row_args: Vec<Option<String>> = values
                .iter()
                .map(|v| v.is_valid(row).then(|| v.value(row).to_owned()))
                .collect();
            out.append_value(format_row(template.value(row), &row_args)?);
        }
        let array = Arc::new(out.finish());
        if scalar {
            Ok(ColumnarValue::Scalar(
                datafusion::scalar::ScalarValue::try_from_array(array.as_ref(), 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(array))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(template: &str, args: &[Option<&str>]) -> Result<String> {
        let args: Vec<Option<String>> = args.iter().map(|a| a.map(str::to_owned)).collect();
        format_row(template, &args)
    }

    #[test]
    fn formats_as_postgresql_does() {
        assert_eq!(
            row("%s FROM %s", &[Some("a, b"), Some("t")]).unwrap(),
            "a, b FROM t"
        );
        assert_eq!(
            row("%I.%I = %L", &[Some("My Schema"), Some("t"), Some("it's")]).unwrap(),
            "\"My Schema\".t = 'it''s'"
        );
        assert_eq!(row("[%s] %L", &[None, None]).unwrap(), "[] NULL");
        assert_eq!(
            row("%2$s %1$s %%", &[Some("a"), Some("b")]).unwrap(),
            "b a %"
        );
        assert_eq!(row("%L", &[Some("a\\b")]).unwrap(), "E'a\\\\b'");
        assert!(row("%s %s", &[Some("a")]).is_err());
        assert!(row("%x", &[Some("a")]).is_err());
        assert!(row("%I", &[None]).is_err());
    }
}
