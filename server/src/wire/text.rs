//! PostgreSQL's text output format.

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, Timelike, Utc};
use datafusion::arrow::array::Array;
use pgwire::api::Type;

use super::value::{Cell, cell};
use crate::engine::settings::parse_offset;

/// What text output depends on besides the value.
#[derive(Debug, Clone)]
pub struct TextOptions {
    pub time_zone: SessionZone,
    pub extra_float_digits: i32,
}

impl Default for TextOptions {
    fn default() -> Self {
        Self {
            time_zone: SessionZone::Fixed(Utc.fix()),
            extra_float_digits: 1,
        }
    }
}

/// The session's `TimeZone`, resolved once per statement.
#[derive(Debug, Clone)]
pub enum SessionZone {
    Named(chrono_tz::Tz),
    Fixed(FixedOffset),
}

impl SessionZone {
    /// Resolves a `TimeZone` setting; unknown names fall back to UTC (the
    /// setting was checked when it was set).
    pub fn parse(name: &str) -> Self {
        if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
            return SessionZone::Named(tz);
        }
        let offset = parse_offset(name)
            .and_then(FixedOffset::east_opt)
            .unwrap_or_else(|| Utc.fix());
        SessionZone::Fixed(offset)
    }

    fn local(&self, utc: DateTime<Utc>) -> (chrono::NaiveDateTime, i32) {
        match self {
            SessionZone::Named(tz) => {
                let local = utc.with_timezone(tz);
                (local.naive_local(), local.offset().fix().local_minus_utc())
            }
            SessionZone::Fixed(offset) => {
                let local = utc.with_timezone(offset);
                (local.naive_local(), offset.local_minus_utc())
            }
        }
    }
}

const UNIX_EPOCH_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a date"),
};

/// Writes `value` of PostgreSQL type `pg` in text format. Returns false
/// for NULL (nothing written).
pub fn write_text(value: &Cell<'_>, pg: &Type, opts: &TextOptions, out: &mut BytesMut) -> bool {
    if matches!(value, Cell::Null) {
        return false;
    }
    write_cell(value, pg, opts, out);
    true
}

fn write_cell(value: &Cell<'_>, pg: &Type, opts: &TextOptions, out: &mut BytesMut) {
    match value {
        Cell::Null => out.put_slice(b"NULL"),
        Cell::Bool(b) => out.put_u8(if *b { b't' } else { b'f' }),
        Cell::Int2(v) => out.put_slice(itoa::Buffer::new().format(*v).as_bytes()),
        Cell::Int4(v) => out.put_slice(itoa::Buffer::new().format(*v).as_bytes()),
        Cell::Int8(v) => out.put_slice(itoa::Buffer::new().format(*v).as_bytes()),
        Cell::Float4(v) => write_float(f64::from(*v), 6, opts.extra_float_digits, true, out),
        Cell::Float8(v) => write_float(*v, 15, opts.extra_float_digits, false, out),
        Cell::Numeric(s) => out.put_slice(s.as_bytes()),
        Cell::Text(s) => out.put_slice(s.as_bytes()),
        Cell::Bytes(b) if *pg == Type::UUID && b.len() == 16 => write_uuid(b, out),
        Cell::Bytes(b) => {
            out.put_slice(b"\\x");
            for byte in *b {
                out.put_slice(&HEX[usize::from(*byte)]);
            }
        }
        Cell::Date(days) => write_date(*days, out),
        Cell::Time(micros) => write_time(*micros, out),
        Cell::Timestamp(micros) => match DateTime::<Utc>::from_timestamp_micros(*micros) {
            Some(ts) => {
                write_date_part(ts.date_naive(), out);
                out.put_u8(b' ');
                write_time(
                    i64::from(ts.num_seconds_from_midnight()) * 1_000_000
                        + i64::from(ts.nanosecond() / 1000),
                    out,
                );
                if ts.year() <= 0 {
                    out.put_slice(b" BC");
                }
            }
            None => put_display(out, micros),
        },
        Cell::TimestampTz(micros) => match DateTime::<Utc>::from_timestamp_micros(*micros) {
            Some(ts) => {
                let (local, offset) = opts.time_zone.local(ts);
                write_date_part(local.date(), out);
                out.put_u8(b' ');
                write_time(
                    i64::from(local.num_seconds_from_midnight()) * 1_000_000
                        + i64::from(local.nanosecond() / 1000),
                    out,
                );
                write_offset(offset, out);
                if local.year() <= 0 {
                    out.put_slice(b" BC");
                }
            }
            None => put_display(out, micros),
        },
        Cell::Interval {
            months,
            days,
            micros,
        } => write_interval(*months, *days, *micros, out),
        // int2vector and oidvector: `1 2`.
        Cell::List(values) if matches!(*pg, Type::INT2_VECTOR | Type::OID_VECTOR) => {
            let element = super::types::element_of(pg).unwrap_or(Type::TEXT);
            for i in 0..values.len() {
                if i > 0 {
                    out.put_u8(b' ');
                }
                write_cell(&cell(values.as_ref(), i), &element, opts, out);
            }
        }
        Cell::List(values) => {
            let element = super::types::element_of(pg).unwrap_or(Type::TEXT);
            out.put_u8(b'{');
            let mut scratch = BytesMut::new();
            for i in 0..values.len() {
                if i > 0 {
                    out.put_u8(b',');
                }
                let item = cell(values.as_ref(), i);
                if matches!(item, Cell::Null) {
                    out.put_slice(b"NULL");
                    continue;
                }
                scratch.clear();
                write_cell(&item, &element, opts, &mut scratch);
                write_array_element(&scratch, out);
            }
            out.put_u8(b'}');
        }
        Cell::Display(s) => out.put_slice(s.as_bytes()),
    }
}

fn put_display(out: &mut BytesMut, v: impl std::fmt::Display) {
    use std::fmt::Write;
    // Writing to a BytesMut cannot fail: it grows.
    let _ = write!(out, "{v}");
}

static HEX: [[u8; 2]; 256] = {
    let digits = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [digits[i >> 4], digits[i & 15]];
        i += 1;
    }
    table
};

fn write_uuid(b: &[u8], out: &mut BytesMut) {
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.put_u8(b'-');
        }
        out.put_slice(&HEX[usize::from(*byte)]);
    }
}

/// Quotes an array element when PostgreSQL would.
fn write_array_element(text: &[u8], out: &mut BytesMut) {
    let needs_quotes = text.is_empty()
        || text.eq_ignore_ascii_case(b"NULL")
        || text
            .iter()
            .any(|c| matches!(c, b'{' | b'}' | b',' | b'"' | b'\\') || c.is_ascii_whitespace());
    if !needs_quotes {
        out.put_slice(text);
        return;
    }
    out.put_u8(b'"');
    for c in text {
        if matches!(c, b'"' | b'\\') {
            out.put_u8(b'\\');
        }
        out.put_u8(*c);
    }
    out.put_u8(b'"');
}

fn write_date(days: i32, out: &mut BytesMut) {
    match UNIX_EPOCH_DATE.checked_add_signed(chrono::Duration::days(i64::from(days))) {
        Some(date) => {
            write_date_part(date, out);
            if date.year() <= 0 {
                out.put_slice(b" BC");
            }
        }
        None => put_display(out, days),
    }
}

/// `YYYY-MM-DD`, with years before 1 AD counted the BC way (the caller adds " BC").
fn write_date_part(date: NaiveDate, out: &mut BytesMut) {
    let year = if date.year() <= 0 {
        1 - date.year()
    } else {
        date.year()
    };
    put_display(
        out,
        format_args!("{:04}-{:02}-{:02}", year, date.month(), date.day()),
    );
}

/// `HH:MM:SS` with the microseconds that are not zero.
fn write_time(micros: i64, out: &mut BytesMut) {
    let total_seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let (h, m, s) = (
        total_seconds / 3600,
        (total_seconds / 60) % 60,
        total_seconds % 60,
    );
    put_display(out, format_args!("{h:02}:{m:02}:{s:02}"));
    write_fraction(fraction, out);
}

fn write_fraction(fraction_micros: i64, out: &mut BytesMut) {
    if fraction_micros == 0 {
        return;
    }
    let digits = format!("{fraction_micros:06}");
    out.put_u8(b'.');
    out.put_slice(digits.trim_end_matches('0').as_bytes());
}

/// `+HH`, `+HH:MM` or `+HH:MM:SS`, as PostgreSQL's ISO style writes offsets.
fn write_offset(seconds: i32, out: &mut BytesMut) {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.abs();
    put_display(out, format_args!("{sign}{:02}", s / 3600));
    if s % 3600 != 0 {
        put_display(out, format_args!(":{:02}", (s / 60) % 60));
        if s % 60 != 0 {
            put_display(out, format_args!(":{:02}", s % 60));
        }
    }
}

/// An interval in PostgreSQL's `postgres` style.
pub fn format_interval(months: i32, days: i32, micros: i64) -> String {
    let mut out = BytesMut::new();
    write_interval(months, days, micros, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// PostgreSQL's `postgres` interval style: `1 year 2 mons -3 days +04:05:06.5`.
fn write_interval(months: i32, days: i32, micros: i64, out: &mut BytesMut) {
    let years = months / 12;
    let mons = months % 12;
    let mut any_negative = false;
    let mut wrote = false;
    for (value, unit) in [(years, "year"), (mons, "mon"), (days, "day")] {
        if value == 0 {
            continue;
        }
        if wrote {
            out.put_u8(b' ');
        }
        let sign = if value > 0 && any_negative { "+" } else { "" };
        let plural = if value == 1 { "" } else { "s" };
        put_display(out, format_args!("{sign}{value} {unit}{plural}"));
        any_negative |= value < 0;
        wrote = true;
    }
    if micros != 0 || !wrote {
        if wrote {
            out.put_u8(b' ');
        }
        if micros < 0 {
            out.put_u8(b'-');
        } else if any_negative {
            out.put_u8(b'+');
        }
        let abs = micros.unsigned_abs();
        let total_seconds = abs / 1_000_000;
        put_display(
            out,
            format_args!(
                "{:02}:{:02}:{:02}",
                total_seconds / 3600,
                (total_seconds / 60) % 60,
                total_seconds % 60
            ),
        );
        write_fraction((abs % 1_000_000) as i64, out);
    }
}

/// Writes a float as PostgreSQL does: the shortest exact form when
/// `extra_float_digits > 0` (the default), otherwise `digits +
/// extra_float_digits` significant digits; exponent notation outside
/// `1e-4 <= |v| < 10^digits`.
pub fn write_float(v: f64, digits: i32, extra_float_digits: i32, single: bool, out: &mut BytesMut) {
    if extra_float_digits > 0 && v.is_finite() && v != 0.0 {
        let (plain, magnitude) = if single {
            (1e-4..1e6, f64::from((v as f32).abs()))
        } else {
            (1e-4..1e15, v.abs())
        };
        if plain.contains(&magnitude) {
            // Here PostgreSQL writes the shortest digits without an
            // exponent, and so does ryu, a whole number with `.0`.
            let mut buffer = ryu::Buffer::new();
            let text = shortest(&mut buffer, v, single);
            out.put_slice(text.strip_suffix(".0").unwrap_or(text).as_bytes());
            return;
        }
    }
    out.put_slice(float_text(v, digits, extra_float_digits, single).as_bytes());
}

/// [`write_float`]'s text as a string.
pub fn format_float(v: f64, digits: i32, extra_float_digits: i32, single: bool) -> String {
    let mut out = BytesMut::new();
    write_float(v, digits, extra_float_digits, single, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`write_float`]'s text for every value, laid out from the digits and
/// exponent (the plain fast path aside).
fn float_text(v: f64, digits: i32, extra_float_digits: i32, single: bool) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let (scientific, precision) = if extra_float_digits > 0 {
        (shortest_scientific(v, single), digits)
    } else {
        let precision = (digits + extra_float_digits).max(1);
        (format!("{:.*e}", (precision - 1) as usize, v), precision)
    };
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let mut digits_only: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits_only.len() > 1 && digits_only.ends_with('0') {
        digits_only.pop();
    }
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if exponent < -4 || exponent >= precision {
        out.push_str(&digits_only[..1]);
        if digits_only.len() > 1 {
            out.push('.');
            out.push_str(&digits_only[1..]);
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exponent.abs()));
    } else if exponent >= 0 {
        let int_len = exponent as usize + 1;
        if digits_only.len() <= int_len {
            out.push_str(&digits_only);
            out.extend(std::iter::repeat_n('0', int_len - digits_only.len()));
        } else {
            out.push_str(&digits_only[..int_len]);
            out.push('.');
            out.push_str(&digits_only[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
        out.push_str(&digits_only);
    }
    out
}

/// Ryu's shortest text of a finite `v` (as `f32` if `single`).
fn shortest(buffer: &mut ryu::Buffer, v: f64, single: bool) -> &str {
    if single {
        buffer.format_finite(v as f32)
    } else {
        buffer.format_finite(v)
    }
}

/// The shortest digits that read back as `v` (as `f32` if `single`), in
/// exponent notation (`-1.25e-7`). They come from Ryu, as PostgreSQL's do:
/// where two shortest forms are equally near, Rust's own formatting may
/// pick the other one.
fn shortest_scientific(v: f64, single: bool) -> String {
    let mut buffer = ryu::Buffer::new();
    let text = shortest(&mut buffer, v, single);
    let (sign, text) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (mantissa, exponent) = match text.split_once('e') {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int}{fraction}");
    let leading = all.bytes().take_while(|&b| b == b'0').count();
    let significant = all[leading..].trim_end_matches('0');
    let exponent = exponent + int.len() as i32 - 1 - leading as i32;
    match significant.split_at_checked(1) {
        Some((first, "")) => format!("{sign}{first}e{exponent}"),
        Some((first, rest)) => format!("{sign}{first}.{rest}e{exponent}"),
        None => format!("{sign}0e0"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_postgresql() {
        // PostgreSQL 15 prints these; Rust's shortest form ends in 3.
        assert_eq!(
            format_float(151_342_434_364.890_62, 15, 1, false),
            "151342434364.89062"
        );
        assert_eq!(format_float(0.1, 15, 1, false), "0.1");
        assert_eq!(format_float(1e15, 15, 1, false), "1e+15");
        assert_eq!(format_float(1e14, 15, 1, false), "100000000000000");
        assert_eq!(format_float(1e-5, 15, 1, false), "1e-05");
        assert_eq!(format_float(0.0001, 15, 1, false), "0.0001");
        assert_eq!(format_float(-2.5, 15, 1, false), "-2.5");
        assert_eq!(format_float(1234567.0, 6, 1, true), "1.234567e+06");
        assert_eq!(format_float(123.0, 15, 1, false), "123");
        assert_eq!(format_float(5e-1, 15, 1, false), "0.5");
        assert_eq!(
            format_float(999_999_999_999_999.9, 15, 1, false),
            "999999999999999.9"
        );
        assert_eq!(format_float(f64::from(0.1f32), 6, 1, true), "0.1");
        assert_eq!(format_float(123456.0, 6, 1, true), "123456");
        assert_eq!(format_float(-0.00012, 15, 1, false), "-0.00012");
        assert_eq!(format_float(123456.0, 6, 1, true), "123456");
        assert_eq!(format_float(f64::NAN, 15, 1, false), "NaN");
        assert_eq!(format_float(f64::NEG_INFINITY, 15, 1, false), "-Infinity");
        assert_eq!(format_float(1.0 / 3.0, 15, 0, false), "0.333333333333333");
    }

    /// The plain fast path writes what the general one works out, over
    /// values spread across the plain range and both of its edges.
    #[test]
    fn plain_floats_match_the_general_form() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let bits = next();
            let mantissa = (bits >> 11) as f64 / (1u64 << 53) as f64;
            let exponent = (bits % 24) as i32 - 6;
            let sign = if bits & 1 == 0 { 1.0 } else { -1.0 };
            let v = sign * (1.0 + mantissa) * 10f64.powi(exponent);
            let whole = v.trunc();
            for v in [v, whole, v / 8.0] {
                assert_eq!(
                    format_float(v, 15, 1, false),
                    float_text(v, 15, 1, false),
                    "{v:e}"
                );
                let single = f64::from(v as f32);
                assert_eq!(
                    format_float(single, 6, 1, true),
                    float_text(single, 6, 1, true),
                    "{v:e}"
                );
            }
        }
    }

    fn interval(months: i32, days: i32, micros: i64) -> String {
        format_interval(months, days, micros)
    }

    #[test]
    fn intervals_print_like_postgresql() {
        assert_eq!(interval(0, 0, 0), "00:00:00");
        assert_eq!(
            interval(14, 3, 14_706_500_000),
            "1 year 2 mons 3 days 04:05:06.5"
        );
        assert_eq!(interval(0, -1, 7_200_000_000), "-1 days +02:00:00");
        assert_eq!(interval(-12, 0, 0), "-1 years");
        assert_eq!(interval(0, 1, 0), "1 day");
        assert_eq!(interval(0, 0, -90_000_000), "-00:01:30");
    }

    #[test]
    fn offsets_and_array_quoting() {
        let mut out = BytesMut::new();
        write_offset(19800, &mut out);
        write_offset(-3600, &mut out);
        assert_eq!(&out[..], b"+05:30-01");
        let mut out = BytesMut::new();
        write_array_element(b"a b", &mut out);
        write_array_element(b"plain", &mut out);
        write_array_element(b"q\"", &mut out);
        write_array_element(b"", &mut out);
        assert_eq!(&out[..], b"\"a b\"plain\"q\\\"\"\"\"");
    }
}
