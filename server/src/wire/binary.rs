//! PostgreSQL's binary output format.

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::Array;
use pgwire::api::Type;
use strata_connectors::postgres::numeric::write_numeric;

use super::value::{Cell, cell};

/// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
pub const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days between 1970-01-01 and 2000-01-01.
pub const PG_EPOCH_DAYS: i32 = 10_957;

/// Writes `value` of PostgreSQL type `pg` in binary format. Returns false
/// for NULL (nothing written).
pub fn write_binary(value: &Cell<'_>, pg: &Type, out: &mut BytesMut) -> bool {
    if matches!(value, Cell::Null) {
        return false;
    }
    write_cell(value, pg, out);
    true
}

fn write_cell(value: &Cell<'_>, pg: &Type, out: &mut BytesMut) {
    match value {
        Cell::Null => {}
        Cell::Bool(b) => out.put_u8(u8::from(*b)),
        Cell::Int2(v) => out.put_i16(*v),
        Cell::Int4(v) => out.put_i32(*v),
        Cell::Int8(v) => out.put_i64(*v),
        Cell::Float4(v) => out.put_f32(*v),
        Cell::Float8(v) => out.put_f64(*v),
        Cell::Numeric(s) => write_numeric(s, out),
        Cell::Text(s) => {
            if *pg == Type::JSONB {
                out.put_u8(1);
            }
            out.put_slice(s.as_bytes());
        }
        Cell::Bytes(b) => out.put_slice(b),
        Cell::Date(days) => out.put_i32(days.saturating_sub(PG_EPOCH_DAYS)),
        Cell::Time(micros) => out.put_i64(*micros),
        Cell::Timestamp(micros) | Cell::TimestampTz(micros) => {
            out.put_i64(micros.saturating_sub(PG_EPOCH_MICROS))
        }
        Cell::Interval {
            months,
            days,
            micros,
        } => {
            out.put_i64(*micros);
            out.put_i32(*days);
            out.put_i32(*months);
        }
        Cell::List(values) => {
            let element = super::types::element_of(pg).unwrap_or(Type::TEXT);
            let has_null = values.null_count() > 0;
            if values.is_empty() {
                out.put_i32(0);
                out.put_i32(0);
                out.put_u32(element.oid());
                return;
            }
            out.put_i32(1);
            out.put_i32(i32::from(has_null));
            out.put_u32(element.oid());
            out.put_i32(values.len() as i32);
            // int2vector and oidvector count from 0.
            out.put_i32(i32::from(!matches!(
                *pg,
                Type::INT2_VECTOR | Type::OID_VECTOR
            )));
            for i in 0..values.len() {
                let item = cell(values.as_ref(), i);
                if matches!(item, Cell::Null) {
                    out.put_i32(-1);
                    continue;
                }
                let at = out.len();
                out.put_i32(0);
                write_cell(&item, &element, out);
                let len = (out.len() - at - 4) as i32;
                out[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
        Cell::Display(s) => out.put_slice(s.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(s: &str) -> Vec<i16> {
        let mut out = BytesMut::new();
        write_numeric(s, &mut out);
        out.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn numeric_binary_matches_postgresql() {
        // ndigits, weight, sign, dscale, digits...
        assert_eq!(numeric("12345.678"), vec![3, 1, 0, 3, 1, 2345, 6780]);
        assert_eq!(numeric("-0.0001"), vec![1, -1, 0x4000, 4, 1]);
        assert_eq!(numeric("0.00"), vec![0, 0, 0, 2]);
        assert_eq!(numeric("100000000"), vec![1, 2, 0, 0, 1]);
        assert_eq!(numeric("7"), vec![1, 0, 0, 0, 7]);
    }
}
