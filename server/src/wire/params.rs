//! Bind parameters: PostgreSQL text or binary values to DataFusion scalars.

use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike};
use datafusion::arrow::datatypes::IntervalMonthDayNano;
use datafusion::common::ScalarValue;
use datafusion::common::metadata::{FieldMetadata, ScalarAndMetadata};
use pgwire::api::Type;

use super::binary::{PG_EPOCH_DAYS, PG_EPOCH_MICROS};
use super::text::SessionZone;
use super::types::{arrow_field_for, element_of};
use crate::error::{Result, StrataError};

const UNIX_EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a date"),
};

/// Decodes one parameter of type `pg` sent in text (`binary == false`) or
/// binary format. `None` is SQL NULL.
pub fn decode_param(
    value: Option<&[u8]>,
    pg: &Type,
    binary: bool,
    zone: &SessionZone,
) -> Result<ScalarAndMetadata> {
    let field = arrow_field_for(pg)
        .ok_or_else(|| StrataError::NotSupported(format!("parameters of type {}", pg.name())))?;
    let metadata = (!field.metadata().is_empty()).then(|| FieldMetadata::from(field.metadata()));
    let scalar = match value {
        None => ScalarValue::try_from(field.data_type())?,
        Some(bytes) if binary => decode_binary(bytes, pg)?,
        Some(bytes) => {
            let text = std::str::from_utf8(bytes).map_err(|_| invalid(pg, "not UTF-8"))?;
            decode_text(text, pg, zone)?
        }
    };
    Ok(ScalarAndMetadata::new(scalar, metadata))
}

fn invalid(pg: &Type, value: &str) -> StrataError {
    StrataError::InvalidTextRepresentation {
        type_name: pg.name().to_owned(),
        value: value.chars().take(100).collect(),
    }
}

/// Parses PostgreSQL's text form of a value of type `pg`.
pub fn decode_text(text: &str, pg: &Type, zone: &SessionZone) -> Result<ScalarValue> {
    let bad = || invalid(pg, text);
    let t = text.trim();
    Ok(match *pg {
        Type::BOOL => ScalarValue::Boolean(Some(
            crate::engine::settings::parse_bool(t).ok_or_else(bad)?,
        )),
        Type::INT2 => ScalarValue::Int16(Some(t.parse().map_err(|_| bad())?)),
        Type::INT4 | Type::OID | Type::REGCLASS | Type::REGTYPE | Type::REGPROC => {
            ScalarValue::Int32(Some(t.parse().map_err(|_| bad())?))
        }
        Type::INT8 => ScalarValue::Int64(Some(t.parse().map_err(|_| bad())?)),
        Type::FLOAT4 => ScalarValue::Float32(Some(parse_float(t).ok_or_else(bad)? as f32)),
        Type::FLOAT8 => ScalarValue::Float64(Some(parse_float(t).ok_or_else(bad)?)),
        Type::NUMERIC => {
            let (value, scale) = parse_decimal(t).ok_or_else(bad)?;
            ScalarValue::Decimal128(Some(value), 38, scale)
        }
        Type::BYTEA => ScalarValue::Binary(Some(parse_bytea(text).ok_or_else(bad)?)),
        Type::DATE => ScalarValue::Date32(Some(parse_date(t).ok_or_else(bad)?)),
        Type::TIME => ScalarValue::Time64Microsecond(Some(parse_time(t).ok_or_else(bad)?)),
        Type::TIMESTAMP => {
            // A zone is allowed and ignored, as PostgreSQL does: pgjdbc
            // sends timestamps as `2024-06-01 12:34:56.123456+00`.
            let normalized = t.replacen('T', " ", 1);
            let (naive, _) = split_zone(&normalized);
            let ts = parse_naive_timestamp(naive).ok_or_else(bad)?;
            ScalarValue::TimestampMicrosecond(Some(ts.and_utc().timestamp_micros()), None)
        }
        Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
            Some(parse_timestamptz(t, zone).ok_or_else(bad)?),
            Some(Arc::from("UTC")),
        ),
        Type::INTERVAL => {
            ScalarValue::IntervalMonthDayNano(Some(parse_interval(t).ok_or_else(bad)?))
        }
        Type::UUID => ScalarValue::FixedSizeBinary(16, Some(parse_uuid(t).ok_or_else(bad)?)),
        Type::JSON | Type::JSONB => {
            serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|_| bad())?;
            ScalarValue::Utf8(Some(text.to_owned()))
        }
        ref array if element_of(array).is_some() => {
            let element = element_of(array).ok_or_else(bad)?;
            let items = split_array(t).ok_or_else(bad)?;
            let field = arrow_field_for(&element).ok_or_else(bad)?;
            let values = items
                .iter()
                .map(|item| match item {
                    None => ScalarValue::try_from(field.data_type()),
                    Some(s) => decode_text(s, &element, zone)
                        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e))),
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            ScalarValue::List(ScalarValue::new_list(&values, field.data_type(), true))
        }
        _ => ScalarValue::Utf8(Some(text.to_owned())),
    })
}

/// Decodes PostgreSQL's binary form of a value of type `pg`.
pub fn decode_binary(bytes: &[u8], pg: &Type) -> Result<ScalarValue> {
    let bad = || StrataError::Protocol(format!("invalid binary value for type {}", pg.name()));
    let fixed = |n: usize| -> Result<&[u8]> {
        if bytes.len() == n {
            Ok(bytes)
        } else {
            Err(bad())
        }
    };
    Ok(match *pg {
        Type::BOOL => ScalarValue::Boolean(Some(fixed(1)?[0] != 0)),
        Type::INT2 => ScalarValue::Int16(Some(i16::from_be_bytes(array(fixed(2)?)))),
        Type::INT4 | Type::OID | Type::REGCLASS | Type::REGTYPE | Type::REGPROC => {
            ScalarValue::Int32(Some(i32::from_be_bytes(array(fixed(4)?))))
        }
        Type::INT8 => ScalarValue::Int64(Some(i64::from_be_bytes(array(fixed(8)?)))),
        Type::FLOAT4 => ScalarValue::Float32(Some(f32::from_be_bytes(array(fixed(4)?)))),
        Type::FLOAT8 => ScalarValue::Float64(Some(f64::from_be_bytes(array(fixed(8)?)))),
        Type::NUMERIC => {
            let text = numeric_from_binary(bytes).ok_or_else(bad)?;
            let (value, scale) = parse_decimal(&text).ok_or_else(bad)?;
            ScalarValue::Decimal128(Some(value), 38, scale)
        }
        Type::BYTEA => ScalarValue::Binary(Some(bytes.to_vec())),
        Type::DATE => ScalarValue::Date32(Some(
            i32::from_be_bytes(array(fixed(4)?)).saturating_add(PG_EPOCH_DAYS),
        )),
        Type::TIME => ScalarValue::Time64Microsecond(Some(i64::from_be_bytes(array(fixed(8)?)))),
        Type::TIMESTAMP => ScalarValue::TimestampMicrosecond(
            Some(i64::from_be_bytes(array(fixed(8)?)).saturating_add(PG_EPOCH_MICROS)),
            None,
        ),
        Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
            Some(i64::from_be_bytes(array(fixed(8)?)).saturating_add(PG_EPOCH_MICROS)),
            Some(Arc::from("UTC")),
        ),
        Type::INTERVAL => {
            let b = fixed(16)?;
            let micros = i64::from_be_bytes(array(&b[0..8]));
            let days = i32::from_be_bytes(array(&b[8..12]));
            let months = i32::from_be_bytes(array(&b[12..16]));
            ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(
                months,
                days,
                micros.saturating_mul(1000),
            )))
        }
        Type::UUID => ScalarValue::FixedSizeBinary(16, Some(fixed(16)?.to_vec())),
        Type::JSON => {
            ScalarValue::Utf8(Some(String::from_utf8(bytes.to_vec()).map_err(|_| bad())?))
        }
        Type::JSONB => match bytes.split_first() {
            Some((1, rest)) => {
                ScalarValue::Utf8(Some(String::from_utf8(rest.to_vec()).map_err(|_| bad())?))
            }
            _ => return Err(bad()),
        },
        ref array_type if element_of(array_type).is_some() => {
            let element = element_of(array_type).ok_or_else(bad)?;
            decode_binary_array(bytes, &element).ok_or_else(bad)??
        }
        _ => ScalarValue::Utf8(Some(String::from_utf8(bytes.to_vec()).map_err(|_| bad())?)),
    })
}

fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[..N]);
    out
}

fn decode_binary_array(bytes: &[u8], element: &Type) -> Option<Result<ScalarValue>> {
    let field = arrow_field_for(element)?;
    let read_i32 =
        |at: usize| -> Option<i32> { bytes.get(at..at + 4).map(|b| i32::from_be_bytes(array(b))) };
    let ndim = read_i32(0)?;
    let mut values = Vec::new();
    if ndim == 0 {
        return Some(Ok(ScalarValue::List(ScalarValue::new_list(
            &values,
            field.data_type(),
            true,
        ))));
    }
    if ndim != 1 {
        return Some(Err(StrataError::NotSupported(
            "multi-dimensional array parameters".to_owned(),
        )));
    }
    let len = read_i32(12)?;
    let mut at = 20;
    for _ in 0..len {
        let item_len = read_i32(at)?;
        at += 4;
        if item_len < 0 {
            values.push(ScalarValue::try_from(field.data_type()).ok()?);
            continue;
        }
        let item = bytes.get(at..at + item_len as usize)?;
        at += item_len as usize;
        match decode_binary(item, element) {
            Ok(v) => values.push(v),
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(ScalarValue::List(ScalarValue::new_list(
        &values,
        field.data_type(),
        true,
    ))))
}

/// PostgreSQL's binary numeric back to plain decimal text.
fn numeric_from_binary(b: &[u8]) -> Option<String> {
    let read =
        |at: usize| -> Option<i16> { b.get(at..at + 2).map(|x| i16::from_be_bytes([x[0], x[1]])) };
    let ndigits = read(0)? as usize;
    let weight = i32::from(read(2)?);
    let sign = read(4)? as u16;
    let dscale = read(6)?.max(0) as usize;
    if sign == 0xC000 {
        return None; // NaN has no decimal form
    }
    let digits: Vec<i16> = (0..ndigits)
        .map(|i| read(8 + 2 * i))
        .collect::<Option<_>>()?;
    let mut int_part = String::new();
    for i in 0..=weight.max(-1) {
        let d = digits.get(i as usize).copied().unwrap_or(0);
        if int_part.is_empty() {
            if d != 0 {
                int_part.push_str(&d.to_string());
            }
        } else {
            int_part.push_str(&format!("{d:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    let mut frac = String::new();
    let mut i = weight + 1;
    while frac.len() < dscale {
        let d = if i < 0 {
            0
        } else {
            digits.get(i as usize).copied().unwrap_or(0)
        };
        frac.push_str(&format!("{d:04}"));
        i += 1;
    }
    frac.truncate(dscale);
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    out.push_str(&int_part);
    if dscale > 0 {
        out.push('.');
        out.push_str(&frac);
    }
    Some(out)
}

fn parse_float(t: &str) -> Option<f64> {
    match t.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "infinity" | "inf" | "+infinity" => Some(f64::INFINITY),
        "-infinity" | "-inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// Parses decimal text into an unscaled value and its scale.
pub fn parse_decimal(t: &str) -> Option<(i128, i8)> {
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (negative, unsigned) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part
            .chars()
            .chain(frac_part.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let mut digits = format!("{int_part}{frac_part}");
    let mut scale = frac_part.len() as i32 - exponent;
    if scale < 0 {
        digits.extend(std::iter::repeat_n('0', (-scale) as usize));
        scale = 0;
    }
    let digits = digits.trim_start_matches('0');
    if digits.len() > 38 || scale > 38 {
        return None;
    }
    let value: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    Some((if negative { -value } else { value }, scale as i8))
}

fn parse_bytea(text: &str) -> Option<Vec<u8>> {
    if let Some(hex) = text.strip_prefix("\\x") {
        let hex: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if !hex.len().is_multiple_of(2) {
            return None;
        }
        return hex
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
            .collect();
    }
    // The escape format: backslash-octal and doubled backslashes.
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
            } else {
                let octal = std::str::from_utf8(bytes.get(i + 1..i + 4)?).ok()?;
                out.push(u8::from_str_radix(octal, 8).ok()?);
                i += 4;
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

fn parse_date(t: &str) -> Option<i32> {
    let (t, bc) = match t.strip_suffix(" BC") {
        Some(rest) => (rest, true),
        None => (t, false),
    };
    // A time or zone after the date is allowed and ignored, as PostgreSQL
    // does: pgjdbc sends dates as `2024-02-29 +00`.
    let day = t.split([' ', 'T']).next().unwrap_or(t);
    let mut date = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    if bc {
        date = NaiveDate::from_ymd_opt(
            1 - chrono::Datelike::year(&date),
            chrono::Datelike::month(&date),
            chrono::Datelike::day(&date),
        )?;
    }
    Some((date - UNIX_EPOCH).num_days() as i32)
}

fn parse_time(t: &str) -> Option<i64> {
    let time = NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
        .ok()?;
    Some(
        i64::from(time.num_seconds_from_midnight()) * 1_000_000
            + i64::from(time.nanosecond() / 1000),
    )
}

fn parse_naive_timestamp(t: &str) -> Option<NaiveDateTime> {
    let t = t.replacen('T', " ", 1);
    NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(&t, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)
        })
}

/// Splits a timestamp's text (with a space before the time) into the
/// timestamp and its trailing offset (`+HH`, `+HH:MM`, `+HHMM`, `-HH`...);
/// a trailing `Z` or ` UTC` is dropped, leaving no offset.
fn split_zone(normalized: &str) -> (&str, Option<&str>) {
    let normalized = normalized.trim_end_matches(" UTC").trim_end_matches('Z');
    let split = normalized.rfind(['+', '-']).filter(|&i| {
        i > 10
            && normalized[i + 1..]
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':')
    });
    match split {
        Some(i) => (&normalized[..i], Some(&normalized[i..])),
        None => (normalized, None),
    }
}

/// A timestamp with an optional offset; without one it is local to the
/// session's time zone, as in PostgreSQL.
fn parse_timestamptz(t: &str, zone: &SessionZone) -> Option<i64> {
    let normalized = t.replacen('T', " ", 1);
    match split_zone(&normalized) {
        (naive, Some(offset)) => {
            let naive = parse_naive_timestamp(naive)?;
            let offset = crate::engine::settings::parse_offset(offset)?;
            Some(naive.and_utc().timestamp_micros() - i64::from(offset) * 1_000_000)
        }
        (normalized, None) => {
            let naive = parse_naive_timestamp(normalized)?;
            if t.ends_with('Z') || t.ends_with(" UTC") {
                return Some(naive.and_utc().timestamp_micros());
            }
            let local = match zone {
                SessionZone::Named(tz) => tz
                    .from_local_datetime(&naive)
                    .earliest()?
                    .timestamp_micros(),
                SessionZone::Fixed(offset) => offset
                    .from_local_datetime(&naive)
                    .earliest()?
                    .timestamp_micros(),
            };
            Some(local)
        }
    }
}

/// Parses PostgreSQL interval text: `1 year 2 mons 3 days 04:05:06.5`,
/// `-1 days +02:00:00`, `3 hours`, `P1DT2H` is not supported.
fn parse_interval(t: &str) -> Option<IntervalMonthDayNano> {
    let (mut months, mut days, mut nanos) = (0i64, 0i64, 0i64);
    let tokens: Vec<&str> = t.split_whitespace().collect();
    let mut i = 0;
    let mut seen = false;
    while i < tokens.len() {
        let token = tokens[i];
        if token.contains(':') {
            let (negative, body) = match token.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, token.trim_start_matches('+')),
            };
            let parts: Vec<&str> = body.split(':').collect();
            let hours: i64 = parts.first()?.parse().ok()?;
            let minutes: i64 = parts.get(1).map_or(Some(0), |m| m.parse().ok())?;
            let seconds: f64 = parts.get(2).map_or(Some(0.0), |s| s.parse().ok())?;
            let total = (hours * 3600 + minutes * 60) as f64 * 1e9 + seconds * 1e9;
            nanos += if negative {
                -(total as i64)
            } else {
                total as i64
            };
            seen = true;
            i += 1;
            continue;
        }
        let number: f64 = token.trim_start_matches('+').parse().ok()?;
        let unit = tokens
            .get(i + 1)
            .map(|u| u.to_ascii_lowercase())
            .unwrap_or_else(|| "second".into());
        let unit = unit.trim_end_matches(',');
        let base = if unit.len() > 2 {
            unit.trim_end_matches('s')
        } else {
            unit
        };
        match base {
            "year" | "yr" | "y" => months += (number * 12.0) as i64,
            "mon" | "month" => months += number as i64,
            "week" | "w" => days += (number * 7.0) as i64,
            "day" | "d" => days += number as i64,
            "hour" | "hr" | "h" => nanos += (number * 3.6e12) as i64,
            "minute" | "min" | "m" => nanos += (number * 6e10) as i64,
            "second" | "sec" | "s" | "" => nanos += (number * 1e9) as i64,
            "millisecond" | "msec" | "ms" => nanos += (number * 1e6) as i64,
            "microsecond" | "usec" | "us" => nanos += (number * 1e3) as i64,
            _ => return None,
        }
        seen = true;
        i += 2;
    }
    if !seen {
        return None;
    }
    Some(IntervalMonthDayNano::new(
        i32::try_from(months).ok()?,
        i32::try_from(days).ok()?,
        nanos,
    ))
}

fn parse_uuid(t: &str) -> Option<Vec<u8>> {
    let hex: String = t
        .trim_matches(|c| c == '{' || c == '}')
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if hex.len() != 32 {
        return None;
    }
    (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// Splits a one-dimensional array literal `{a,"b c",NULL}` into its elements.
fn split_array(t: &str) -> Option<Vec<Option<String>>> {
    let inner = t.strip_prefix('{')?.strip_suffix('}')?;
    let mut items = Vec::new();
    if inner.trim().is_empty() {
        return Some(items);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut item = String::new();
            loop {
                match chars.next()? {
                    '\\' => item.push(chars.next()?),
                    '"' => break,
                    c => item.push(c),
                }
            }
            items.push(Some(item));
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            let mut item = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' {
                    return None; // nested arrays are not taken
                }
                item.push(c);
                chars.next();
            }
            let item = item.trim();
            items.push(if item.eq_ignore_ascii_case("NULL") {
                None
            } else {
                Some(item.to_owned())
            });
        }
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(_) => return None,
        }
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> SessionZone {
        SessionZone::parse("UTC")
    }

    #[test]
    fn text_parameters() {
        assert_eq!(
            decode_text("42", &Type::INT4, &utc()).unwrap(),
            ScalarValue::Int32(Some(42))
        );
        assert_eq!(
            decode_text("-1.50", &Type::NUMERIC, &utc()).unwrap(),
            ScalarValue::Decimal128(Some(-150), 38, 2)
        );
        assert_eq!(
            decode_text("\\x0aff", &Type::BYTEA, &utc()).unwrap(),
            ScalarValue::Binary(Some(vec![10, 255]))
        );
        assert_eq!(
            decode_text("2000-01-02 00:00:00+01", &Type::TIMESTAMPTZ, &utc()).unwrap(),
            ScalarValue::TimestampMicrosecond(Some(946_767_600_000_000), Some("UTC".into()))
        );
        assert_eq!(
            decode_text("1 day 02:00:00", &Type::INTERVAL, &utc()).unwrap(),
            ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(
                0,
                1,
                7_200_000_000_000
            )))
        );
        // pgjdbc's dates carry a zone, which PostgreSQL ignores.
        for date in ["2000-01-02", "2000-01-02 +00", "2000-01-02 12:30:00-05"] {
            assert_eq!(
                decode_text(date, &Type::DATE, &utc()).unwrap(),
                ScalarValue::Date32(Some(10_958)),
                "{date}"
            );
        }
        assert!(decode_text("2000-13-02 +00", &Type::DATE, &utc()).is_err());
        // So do pgjdbc's timestamps without time zone.
        for timestamp in [
            "2000-01-02 03:04:05.5",
            "2000-01-02 03:04:05.5+00",
            "2000-01-02T03:04:05.5-07:30",
            "2000-01-02 03:04:05.5Z",
        ] {
            assert_eq!(
                decode_text(timestamp, &Type::TIMESTAMP, &utc()).unwrap(),
                ScalarValue::TimestampMicrosecond(Some(946_782_245_500_000), None),
                "{timestamp}"
            );
        }
        assert!(decode_text("abc", &Type::INT8, &utc()).is_err());
        assert!(decode_text("{not json", &Type::JSON, &utc()).is_err());
    }

    #[test]
    fn array_literals() {
        assert_eq!(
            split_array(r#"{1, "a b" ,NULL,"q\"x"}"#).unwrap(),
            vec![
                Some("1".into()),
                Some("a b".into()),
                None,
                Some("q\"x".into())
            ]
        );
        assert_eq!(split_array("{}").unwrap(), Vec::<Option<String>>::new());
    }

    #[test]
    fn binary_numeric_round_trips() {
        for text in ["12345.678", "-0.0001", "0.00", "100000000", "7"] {
            let mut buf = bytes::BytesMut::new();
            strata_connectors::postgres::numeric::write_numeric(text, &mut buf);
            assert_eq!(numeric_from_binary(&buf).unwrap(), text);
        }
    }

    #[test]
    fn decimals_parse_with_scale() {
        assert_eq!(parse_decimal("12.340"), Some((12340, 3)));
        assert_eq!(parse_decimal("1e3"), Some((1000, 0)));
        assert_eq!(parse_decimal("1.5e-2"), Some((15, 3)));
        assert_eq!(parse_decimal("x"), None);
    }
}
