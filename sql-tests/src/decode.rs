//! Binary result values to PostgreSQL's text form, so that extended-protocol
//! runs (binary results) are compared with the same expected output as
//! simple-protocol runs (text results). The decoding is written here, apart
//! from the server's encoders, so a wrong binary encoding shows as a diff.

use std::error::Error;

use chrono::{Duration, NaiveDate};
use strata_server::wire::{format_float, format_interval};
use tokio_postgres::types::{FromSql, Kind, Type};

type Result<T> = std::result::Result<T, Box<dyn Error + Sync + Send>>;

/// A value of any type, as PostgreSQL would print it.
pub struct Text(pub String);

impl<'a> FromSql<'a> for Text {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self> {
        format(ty, raw).map(Text)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

const PG_EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(d) => d,
    None => panic!("2000-01-01 is a date"),
};

fn be<const N: usize>(raw: &[u8]) -> Result<[u8; N]> {
    raw.get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("value has {} bytes, expected {N}", raw.len()).into())
}

fn format(ty: &Type, raw: &[u8]) -> Result<String> {
    if let Kind::Array(element) = ty.kind() {
        return format_array(element, raw);
    }
    Ok(match *ty {
        Type::BOOL => if raw.first() == Some(&1) { "t" } else { "f" }.to_owned(),
        Type::INT2 => i16::from_be_bytes(be(raw)?).to_string(),
        Type::INT4 => i32::from_be_bytes(be(raw)?).to_string(),
        Type::OID => u32::from_be_bytes(be(raw)?).to_string(),
        Type::INT8 => i64::from_be_bytes(be(raw)?).to_string(),
        Type::FLOAT4 => format_float(f64::from(f32::from_be_bytes(be(raw)?)), 6, 1, true),
        Type::FLOAT8 => format_float(f64::from_be_bytes(be(raw)?), 15, 1, false),
        Type::NUMERIC => format_numeric(raw)?,
        Type::BYTEA => {
            let mut s = String::from("\\x");
            for b in raw {
                s.push_str(&format!("{b:02x}"));
            }
            s
        }
        Type::JSONB => String::from_utf8(raw.get(1..).unwrap_or_default().to_vec())?,
        Type::UUID => {
            let u = uuid::Uuid::from_slice(raw)?;
            u.hyphenated().to_string()
        }
        Type::DATE => format_date(i32::from_be_bytes(be(raw)?))?,
        Type::TIME => format_time(i64::from_be_bytes(be(raw)?)),
        Type::TIMESTAMP => format_timestamp(i64::from_be_bytes(be(raw)?))?,
        Type::TIMESTAMPTZ => format!("{}+00", format_timestamp(i64::from_be_bytes(be(raw)?))?),
        Type::INTERVAL => {
            let micros = i64::from_be_bytes(be(raw)?);
            let days = i32::from_be_bytes(be(&raw[8..])?);
            let months = i32::from_be_bytes(be(&raw[12..])?);
            format_interval(months, days, micros)
        }
        _ => String::from_utf8(raw.to_vec())?,
    })
}

fn format_date(days: i32) -> Result<String> {
    let date = PG_EPOCH
        .checked_add_signed(Duration::days(i64::from(days)))
        .ok_or("date out of range")?;
    Ok(date.format("%Y-%m-%d").to_string())
}

fn format_time(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let mut s = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60
    );
    if fraction != 0 {
        s.push('.');
        s.push_str(format!("{fraction:06}").trim_end_matches('0'));
    }
    s
}

fn format_timestamp(micros: i64) -> Result<String> {
    let days = micros.div_euclid(86_400_000_000);
    let rest = micros.rem_euclid(86_400_000_000);
    Ok(format!(
        "{} {}",
        format_date(i32::try_from(days)?)?,
        format_time(rest)
    ))
}

/// PostgreSQL's binary numeric: base-10000 digits, a weight, a sign and the
/// display scale.
fn format_numeric(raw: &[u8]) -> Result<String> {
    let word = |i: usize| -> Result<i16> { Ok(i16::from_be_bytes(be(&raw[2 * i..])?)) };
    let ndigits = word(0)? as usize;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    let dscale = word(3)?.max(0) as usize;
    match sign {
        0xC000 => return Ok("NaN".to_owned()),
        0xD000 => return Ok("Infinity".to_owned()),
        0xF000 => return Ok("-Infinity".to_owned()),
        _ => {}
    }
    let digit = |i: i32| -> Result<i16> {
        if i < 0 || i as usize >= ndigits {
            Ok(0)
        } else {
            word(4 + i as usize)
        }
    };
    let mut int = String::new();
    for i in 0..=weight {
        let d = digit(i)?;
        if int.is_empty() {
            if d != 0 {
                int = d.to_string();
            }
        } else {
            int.push_str(&format!("{d:04}"));
        }
    }
    if int.is_empty() {
        int.push('0');
    }
    let mut frac = String::new();
    let mut i = weight + 1;
    while frac.len() < dscale {
        frac.push_str(&format!("{:04}", digit(i)?));
        i += 1;
    }
    frac.truncate(dscale);
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    out.push_str(&int);
    if dscale > 0 {
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}

/// A one-dimensional array in PostgreSQL's `{a,"b c",NULL}` form.
fn format_array(element: &Type, raw: &[u8]) -> Result<String> {
    let ndim = i32::from_be_bytes(be(raw)?);
    if ndim == 0 {
        return Ok("{}".to_owned());
    }
    if ndim != 1 {
        return Err("multi-dimensional arrays are not decoded".into());
    }
    let len = i32::from_be_bytes(be(&raw[12..])?);
    let mut at = 20;
    let mut items = Vec::new();
    for _ in 0..len {
        let item_len = i32::from_be_bytes(be(&raw[at..])?);
        at += 4;
        if item_len < 0 {
            items.push("NULL".to_owned());
            continue;
        }
        let bytes = &raw[at..at + item_len as usize];
        at += item_len as usize;
        let text = format(element, bytes)?;
        let quote = text.is_empty()
            || text.eq_ignore_ascii_case("null")
            || text
                .chars()
                .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_ascii_whitespace());
        items.push(if quote {
            format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
        } else {
            text
        });
    }
    Ok(format!("{{{}}}", items.join(",")))
}
