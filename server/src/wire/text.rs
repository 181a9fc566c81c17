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
            if write_exact(v, single, out) {
                return;
            }
            // Here PostgreSQL writes the shortest digits without an
            // exponent, and so does ryu (whole numbers, which it would end
            // with `.0`, were written above).
            let mut buffer = ryu::Buffer::new();
            let text = ryu_shortest(&mut buffer, v, single);
            if !on_bound(v, single, text) {
                out.put_slice(text.as_bytes());
                return;
            }
        }
    }
    out.put_slice(float_text(v, digits, extra_float_digits, single).as_bytes());
}

/// Writes `v` (in the plain range) if it is a whole number of eighths of no
/// more than 15 digits in all (6 if `single`): its exact digits are then its
/// shortest form, as any other decimal of as many digits lies further from
/// it than half a unit in its last place, and so PostgreSQL's (which prints
/// whole numbers on a fast path of its own, too).
fn write_exact(v: f64, single: bool, out: &mut BytesMut) -> bool {
    // Exact: a power of two, and |v| < 1e15.
    let eighths = v.abs() * 8.0;
    if eighths.fract() != 0.0 {
        return false;
    }
    let eighths = eighths as u64;
    let fraction_digits = 3 - eighths.trailing_zeros().min(3);
    let units = eighths >> (3 - fraction_digits);
    let whole = units >> fraction_digits;
    let most = if single { 6 } else { 15 };
    if whole >= 10u64.pow(most - fraction_digits) {
        return false;
    }
    if v < 0.0 {
        out.put_u8(b'-');
    }
    out.put_slice(itoa::Buffer::new().format(whole).as_bytes());
    if fraction_digits > 0 {
        // Eighths in thousandths, quarters in hundredths, halves in tenths.
        let fraction = (units & ((1 << fraction_digits) - 1)) * 5u64.pow(fraction_digits);
        let mut digits = [b'0'; 3];
        let mut rest = fraction;
        for digit in digits[..fraction_digits as usize].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        out.put_u8(b'.');
        out.put_slice(&digits[..fraction_digits as usize]);
    }
    true
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
    let ((significand, exponent), precision) = if extra_float_digits > 0 {
        (shortest(v, single), digits)
    } else {
        let precision = (digits + extra_float_digits).max(1);
        let text = format!("{:.*e}", (precision - 1) as usize, v);
        (decimal(&text), precision)
    };
    let digits_only = significand.to_string();
    // The exponent of the first digit, as in `d.ddde+NN`.
    let exponent = exponent + digits_only.len() as i32 - 1;
    let mut out = String::new();
    if v < 0.0 {
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
fn ryu_shortest(buffer: &mut ryu::Buffer, v: f64, single: bool) -> &str {
    if single {
        buffer.format_finite(v as f32)
    } else {
        buffer.format_finite(v)
    }
}

/// The shortest decimal of a finite, non-zero `v` (as `f32` if `single`)
/// as PostgreSQL's `float8out` and `float4out` find it, as (significand
/// without trailing zeros, exponent): `-0.0125` is `(125, -4)`.
///
/// Both take Ryu's digits, but PostgreSQL builds Ryu so that a decimal
/// lying exactly on a bound of the interval that reads back as `v` does not
/// count, even where the reader would round it to `v` (PostgreSQL prints
/// `8.397323000000001e+19` for `'8.397323e+19'::float8`); Ryu as Rust has
/// it counts such a decimal when `v`'s significand is even. There the next
/// longer decimal nearest to `v` that lies inside is PostgreSQL's.
fn shortest(v: f64, single: bool) -> (u64, i32) {
    let mut buffer = ryu::Buffer::new();
    let text = ryu_shortest(&mut buffer, v, single);
    let shortest = decimal(text);
    if !on_bound(v, single, text) {
        return shortest;
    }
    let (length, longest) = (shortest.0.to_string().len(), if single { 9 } else { 17 });
    for precision in length + 1..=longest {
        let (text, reads_back) = if single {
            let text = format!("{:.*e}", precision - 1, (v as f32).abs());
            let reads_back = text.parse::<f32>() == Ok((v as f32).abs());
            (text, reads_back)
        } else {
            let text = format!("{:.*e}", precision - 1, v.abs());
            let reads_back = text.parse::<f64>() == Ok(v.abs());
            (text, reads_back)
        };
        if reads_back && !on_bound(v, single, &text) {
            return decimal(&text);
        }
    }
    shortest
}

/// The significand without trailing zeros and the exponent of a decimal
/// written by Ryu or Rust's `{:e}` (`-12.50` → `(125, -1)`), its sign
/// ignored.
fn decimal(text: &str) -> (u64, i32) {
    let (mut significand, mut exponent, mut fraction) = (0u64, 0i32, None);
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'0'..=b'9' => {
                significand = significand * 10 + u64::from(b - b'0');
                fraction = fraction.map(|digits| digits + 1);
            }
            b'.' => fraction = Some(0),
            b'e' | b'E' => {
                exponent = text[i + 1..].parse().unwrap_or(0);
                break;
            }
            _ => {}
        }
    }
    exponent -= fraction.unwrap_or(0);
    while significand != 0 && significand.is_multiple_of(10) {
        significand /= 10;
        exponent += 1;
    }
    (significand, exponent)
}

/// Whether the decimal `text` (Ryu's or `{:e}`'s) lies exactly on a bound
/// of the interval of reals that round to the finite, non-zero `v` (as
/// `f32` if `single`) — checked only where Ryu, as Rust has it, accepts such
/// a decimal: when `v`'s binary significand is even.
fn on_bound(v: f64, single: bool, text: &str) -> bool {
    let (bits, mantissa_bits, bias) = if single {
        (u64::from((v as f32).to_bits() & 0x7fff_ffff), 23, 127)
    } else {
        (v.to_bits() & !(1 << 63), 52, 1023)
    };
    let fraction = bits & ((1 << mantissa_bits) - 1);
    if fraction & 1 == 1 {
        return false;
    }
    let biased = (bits >> mantissa_bits) as i32;
    // v = m2 × 2^e2 with two more bits below, as in Ryu: the bounds are
    // (4·m2 + 2) × 2^e2 and (4·m2 − 1 − shift) × 2^e2, the lower one nearer
    // when v is a power of two (shift 0).
    let (m2, e2) = if biased == 0 {
        (fraction, 1 - bias - mantissa_bits - 2)
    } else {
        (
            fraction | 1 << mantissa_bits,
            biased - bias - mantissa_bits - 2,
        )
    };
    let shift = u64::from(fraction != 0 || biased <= 1);
    let (significand, exponent) = decimal(text);
    [4 * m2 + 2, 4 * m2 - 1 - shift]
        .into_iter()
        .any(|bound| decimal_equals_binary(significand, exponent, bound, e2))
}

/// Whether `d × 10^e10 == m × 2^e2` exactly, for `m < 2^56`.
fn decimal_equals_binary(d: u64, e10: i32, m: u64, e2: i32) -> bool {
    // With 10^e10 = 5^e10 × 2^e10: the powers of five must cancel, and 5^24
    // already exceeds m, 5^28 any u64.
    let (left, right) = if e10 >= 0 {
        if e10 > 23 {
            return false;
        }
        (u128::from(d) * 5u128.pow(e10 as u32), u128::from(m))
    } else {
        let fives = e10.unsigned_abs();
        if fives > 27 || !d.is_multiple_of(5u64.pow(fives)) {
            return false;
        }
        (u128::from(d), u128::from(m) * 5u128.pow(fives))
    };
    // left × 2^(e10 − e2) == right.
    let shift = i64::from(e10) - i64::from(e2);
    let (small, large, shift) = if shift >= 0 {
        (left, right, shift as u32)
    } else {
        (right, left, shift.unsigned_abs() as u32)
    };
    shift <= small.leading_zeros() && small << shift == large
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
        // A shortest form on a rounding bound, which PostgreSQL's Ryu does
        // not take.
        assert_eq!(
            format_float(8.397_323e19, 15, 1, false),
            "8.397323000000001e+19"
        );
        assert_eq!(
            format_float(f64::from(-47_532_610f32), 6, 1, true),
            "-4.7532608e+07"
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
            for v in [v, whole, v / 8.0, whole / 2.0, whole / 4.0, whole / 8.0] {
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
