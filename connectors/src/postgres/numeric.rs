//! PostgreSQL's binary `numeric`: base-10000 digits with a weight, a sign
//! and a display scale.

use bytes::{BufMut, BytesMut};

/// A binary numeric as a Decimal128 of `scale`, rounded half away from zero.
pub fn numeric_to_i128(b: &[u8], precision: u8, scale: i8) -> Result<i128, String> {
    let word = |at: usize| -> Result<i16, String> {
        b.get(at..at + 2)
            .map(|x| i16::from_be_bytes([x[0], x[1]]))
            .ok_or_else(|| "a truncated numeric".to_owned())
    };
    let ndigits = word(0)?.max(0) as usize;
    let weight = i32::from(word(2)?);
    let sign = word(4)? as u16;
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err("NaN, which has no decimal form".to_owned()),
        _ => return Err("an infinite numeric, which has no decimal form".to_owned()),
    }
    let out_of_range = || format!("a value out of range for numeric({precision}, {scale})");
    let mut value: i128 = 0;
    let mut round_up = false;
    for i in 0..ndigits {
        let digit = i128::from(word(8 + 2 * i)?);
        // The power of ten this base-10000 digit stands for, at the target scale.
        let exponent = 4 * (weight - i as i32) + i32::from(scale);
        if exponent >= 0 {
            let factor = 10i128
                .checked_pow(exponent as u32)
                .ok_or_else(out_of_range)?;
            value = digit
                .checked_mul(factor)
                .and_then(|d| value.checked_add(d))
                .ok_or_else(out_of_range)?;
        } else {
            // The first digit that reaches below the scale decides rounding.
            let divisor = 10i128.pow((-exponent).min(4) as u32);
            if exponent > -4 {
                value = value
                    .checked_add(digit / divisor)
                    .ok_or_else(out_of_range)?;
            }
            round_up = (digit % divisor) * 2 >= divisor;
            break;
        }
    }
    if round_up {
        value = value.checked_add(1).ok_or_else(out_of_range)?;
    }
    if value >= 10i128.pow(u32::from(precision)) {
        return Err(out_of_range());
    }
    Ok(if sign == 0x4000 { -value } else { value })
}

/// `value` × 10^-`scale` as decimal text, keeping `scale` fractional digits
/// as PostgreSQL does for numeric.
pub fn decimal_text(value: i128, scale: i8) -> String {
    digits_decimal_text(&value.to_string(), scale)
}

/// [`decimal_text`] of an integer given as its decimal digits (optionally
/// signed), for integers wider than i128.
pub fn digits_decimal_text(digits: &str, scale: i8) -> String {
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", digits),
    };
    if scale <= 0 {
        // Zero has no trailing zeros to show, whatever the scale.
        let zeros = if digits.trim_start_matches('0').is_empty() {
            0
        } else {
            usize::from(scale.unsigned_abs())
        };
        return format!("{sign}{digits}{}", "0".repeat(zeros));
    }
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// Encodes a plain decimal string (`-12.340`) as PostgreSQL's binary numeric:
/// base-10000 digits with a weight, a sign and the display scale.
pub fn write_numeric(decimal: &str, out: &mut BytesMut) {
    let (negative, unsigned) = match decimal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, decimal),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let int_part = int_part.trim_start_matches('0');
    let dscale = frac_part.len() as i16;

    // Integer digits grouped by four from the right, fraction digits from the left.
    let mut groups: Vec<i16> = Vec::new();
    let lead = int_part.len() % 4;
    let mut start = 0;
    if lead > 0 {
        groups.push(int_part[..lead].parse().unwrap_or(0));
        start = lead;
    }
    while start < int_part.len() {
        groups.push(int_part[start..start + 4].parse().unwrap_or(0));
        start += 4;
    }
    let int_groups = groups.len() as i16;
    let mut frac = frac_part.to_owned();
    while frac.len() % 4 != 0 {
        frac.push('0');
    }
    for chunk in frac.as_bytes().chunks(4) {
        let text = std::str::from_utf8(chunk).unwrap_or("0");
        groups.push(text.parse().unwrap_or(0));
    }

    let mut weight = int_groups - 1;
    // Leading zero groups only shift the weight; trailing ones carry nothing.
    let leading_zeros = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading_zeros);
    weight -= leading_zeros as i16;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign: u16 = if negative && !groups.is_empty() {
        0x4000
    } else {
        0
    };

    out.put_i16(groups.len() as i16);
    out.put_i16(weight);
    out.put_u16(sign);
    out.put_i16(dscale);
    for g in groups {
        out.put_i16(g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL's binary numeric: ndigits, weight, sign, dscale, digits.
    fn numeric(weight: i16, negative: bool, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&(if negative { 0x4000u16 } else { 0 }).to_be_bytes());
        out.extend_from_slice(&0i16.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_scale_and_round_half_away_from_zero() {
        // 12345.678 = [1, 2345, 6780] with weight 1
        let n = numeric(1, false, &[1, 2345, 6780]);
        assert_eq!(numeric_to_i128(&n, 10, 2), Ok(1_234_568));
        assert_eq!(numeric_to_i128(&n, 12, 3), Ok(12_345_678));
        assert_eq!(numeric_to_i128(&n, 12, 0), Ok(12_346));
        let n = numeric(1, true, &[1, 2345, 6750]);
        assert_eq!(numeric_to_i128(&n, 10, 2), Ok(-1_234_568));
        // 0.00005 = [5000] with weight -2
        assert_eq!(numeric_to_i128(&numeric(-2, false, &[5000]), 5, 4), Ok(1));
        assert_eq!(numeric_to_i128(&numeric(-2, false, &[4999]), 5, 4), Ok(0));
        // 10^40 does not fit.
        assert!(numeric_to_i128(&numeric(10, false, &[1]), 38, 0).is_err());
        // 1000 does not fit numeric(3, 0).
        assert!(numeric_to_i128(&numeric(0, false, &[1000]), 3, 0).is_err());
        assert_eq!(numeric_to_i128(&numeric(0, false, &[]), 3, 0), Ok(0));
    }

    #[test]
    fn decimal_text_places_the_point() {
        assert_eq!(decimal_text(5, 3), "0.005");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(12345, 0), "12345");
        assert_eq!(decimal_text(12, -2), "1200");
        assert_eq!(decimal_text(0, -2), "0");
    }

    #[test]
    fn written_numerics_read_back() {
        for (text, p, s, value) in [
            ("12345.67", 10, 2, 1_234_567i128),
            ("-0.05", 5, 2, -5),
            ("0", 3, 0, 0),
        ] {
            let mut out = BytesMut::new();
            write_numeric(text, &mut out);
            assert_eq!(numeric_to_i128(&out, p, s), Ok(value), "{text}");
        }
    }
}
