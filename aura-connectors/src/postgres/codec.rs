//! JSON to PostgreSQL's binary wire format and back: how a parameter is bound from a JSON value
//! and how a column's value becomes JSON.
//!
//! The types come from the server (a statement is prepared first, so each parameter has the
//! type PostgreSQL inferred for it), and each value is encoded or decoded here, by hand, in the
//! binary format sqlx asks for. That keeps the mapping in one place, testable without a server,
//! and exact (a `numeric` is never rounded through a float).
//!
//! | PostgreSQL | JSON |
//! | --- | --- |
//! | `smallint`, `integer`, `bigint`, `oid` | number |
//! | `real`, `double precision` | number (`NaN` and infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`) |
//! | `numeric` | **string**, exact (`"12.50"`); bound from a number or a string |
//! | `boolean` | `true` / `false` |
//! | `text`, `varchar`, `char(n)`, `name`, `citext`, enums, `xml` | string |
//! | `json`, `jsonb` | the JSON value itself |
//! | `uuid` | string |
//! | `timestamptz` | RFC 3339 string in UTC (`2026-01-02T03:04:05.123456Z`) |
//! | `timestamp` | ISO 8601 string without offset (`2026-01-02T03:04:05.123456`) |
//! | `date`, `time` | `2026-01-02`, `03:04:05.123456` |
//! | `bytea` | base64 string (standard alphabet, padded) |
//! | arrays of the above | arrays (nested for several dimensions) |
//! | `NULL`, `void` | `null` |

use std::fmt::Write as _;

use base64::Engine as _;
use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Timelike as _, Utc};
use serde_json::{Number, Value};
use sqlx::TypeInfo as _;
use sqlx::postgres::{PgTypeInfo, PgTypeKind};

/// A scalar type the connector maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scalar {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Text,
    Json,
    Jsonb,
    Uuid,
    Timestamp,
    Timestamptz,
    Date,
    Time,
    Bytea,
    /// A function's `void` result: always `null`.
    Void,
}

/// How a column or parameter is mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PgKind {
    /// One value.
    Scalar(Scalar),
    /// An array of `elem`, whose type has `elem_oid`.
    Array { elem: Scalar, elem_oid: u32 },
    /// A type with no JSON mapping here (`interval`, `inet`, geometric types …), by name.
    Unsupported(String),
}

/// The scalar of a built-in type OID.
pub(crate) fn scalar_of_oid(oid: u32) -> Option<Scalar> {
    Some(match oid {
        16 => Scalar::Bool,
        17 => Scalar::Bytea,
        // "char", name, text, xml, unknown, bpchar, varchar
        18 | 19 | 25 | 142 | 705 | 1042 | 1043 => Scalar::Text,
        20 => Scalar::Int8,
        21 => Scalar::Int2,
        23 => Scalar::Int4,
        26 => Scalar::Oid,
        114 => Scalar::Json,
        700 => Scalar::Float4,
        701 => Scalar::Float8,
        1082 => Scalar::Date,
        1083 => Scalar::Time,
        1114 => Scalar::Timestamp,
        1184 => Scalar::Timestamptz,
        1700 => Scalar::Numeric,
        2950 => Scalar::Uuid,
        3802 => Scalar::Jsonb,
        2278 => Scalar::Void,
        _ => return None,
    })
}

/// The element OID of a built-in array type OID.
pub(crate) fn array_elem_oid(oid: u32) -> Option<u32> {
    Some(match oid {
        1000 => 16,
        1001 => 17,
        1002 => 18,
        1003 => 19,
        1005 => 21,
        1007 => 23,
        1009 => 25,
        1014 => 1042,
        1015 => 1043,
        1016 => 20,
        1021 => 700,
        1022 => 701,
        1028 => 26,
        143 => 142,
        199 => 114,
        1115 => 1114,
        1182 => 1082,
        1183 => 1083,
        1185 => 1184,
        1231 => 1700,
        2951 => 2950,
        3807 => 3802,
        _ => return None,
    })
}

/// How a type the server described is mapped.
pub(crate) fn kind_of(info: &PgTypeInfo) -> PgKind {
    let unsupported = || PgKind::Unsupported(info.name().to_owned());
    if let Some(oid) = info.oid().map(|o| o.0) {
        if let Some(scalar) = scalar_of_oid(oid) {
            return PgKind::Scalar(scalar);
        }
        if let Some(elem_oid) = array_elem_oid(oid) {
            return match scalar_of_oid(elem_oid) {
                Some(elem) => PgKind::Array { elem, elem_oid },
                None => unsupported(),
            };
        }
    }
    match info.kind() {
        PgTypeKind::Enum(_) => PgKind::Scalar(Scalar::Text),
        PgTypeKind::Simple if info.name().eq_ignore_ascii_case("citext") => PgKind::Scalar(Scalar::Text),
        PgTypeKind::Domain(base) => kind_of(base),
        PgTypeKind::Array(elem) => match kind_of(elem) {
            PgKind::Scalar(scalar) => match elem.oid() {
                Some(oid) => PgKind::Array {
                    elem: scalar,
                    elem_oid: oid.0,
                },
                None => unsupported(),
            },
            _ => unsupported(),
        },
        _ => unsupported(),
    }
}

/// Why a value could not be encoded or decoded (said without the value).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CodecError(pub(crate) String);

type CodecResult<T> = Result<T, CodecError>;

fn bad(message: impl Into<String>) -> CodecError {
    CodecError(message.into())
}

/// Microseconds between the Unix epoch and PostgreSQL's, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days between 1970-01-01 and 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

// ------------------------------------------------------------------------------------------
// Decoding: a column's binary value to JSON
// ------------------------------------------------------------------------------------------

/// The JSON of one non-null value of `kind`.
pub(crate) fn decode(kind: &PgKind, bytes: &[u8]) -> CodecResult<Value> {
    match kind {
        PgKind::Scalar(scalar) => decode_scalar(*scalar, bytes),
        PgKind::Array { elem, .. } => decode_array(*elem, bytes),
        PgKind::Unsupported(name) => Err(bad(format!("the type {name} has no JSON mapping"))),
    }
}

fn fixed<const N: usize>(bytes: &[u8]) -> CodecResult<[u8; N]> {
    bytes
        .try_into()
        .map_err(|_| bad(format!("expected {N} bytes, got {}", bytes.len())))
}

fn float_json(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".to_owned()),
        None if f > 0.0 => Value::String("Infinity".to_owned()),
        None => Value::String("-Infinity".to_owned()),
    }
}

pub(crate) fn decode_scalar(scalar: Scalar, bytes: &[u8]) -> CodecResult<Value> {
    Ok(match scalar {
        Scalar::Bool => Value::Bool(fixed::<1>(bytes)?[0] != 0),
        Scalar::Int2 => Value::from(i16::from_be_bytes(fixed(bytes)?)),
        Scalar::Int4 => Value::from(i32::from_be_bytes(fixed(bytes)?)),
        Scalar::Int8 => Value::from(i64::from_be_bytes(fixed(bytes)?)),
        Scalar::Oid => Value::from(u32::from_be_bytes(fixed(bytes)?)),
        Scalar::Float4 => float_json(f64::from(f32::from_be_bytes(fixed(bytes)?))),
        Scalar::Float8 => float_json(f64::from_be_bytes(fixed(bytes)?)),
        Scalar::Numeric => Value::String(decode_numeric(bytes)?),
        Scalar::Text => Value::String(text(bytes)?.to_owned()),
        Scalar::Json => serde_json::from_slice(bytes).map_err(|_| bad("the server sent invalid JSON"))?,
        Scalar::Jsonb => match bytes.split_first() {
            Some((1, rest)) => serde_json::from_slice(rest).map_err(|_| bad("the server sent invalid JSON"))?,
            _ => return Err(bad("unknown jsonb version")),
        },
        Scalar::Uuid => Value::String(sqlx::types::Uuid::from_bytes(fixed(bytes)?).to_string()),
        Scalar::Timestamp => match i64::from_be_bytes(fixed(bytes)?) {
            i64::MAX => Value::String("infinity".to_owned()),
            i64::MIN => Value::String("-infinity".to_owned()),
            micros => Value::String(
                timestamp_of(micros)?
                    .naive_utc()
                    .format("%Y-%m-%dT%H:%M:%S%.f")
                    .to_string(),
            ),
        },
        Scalar::Timestamptz => match i64::from_be_bytes(fixed(bytes)?) {
            i64::MAX => Value::String("infinity".to_owned()),
            i64::MIN => Value::String("-infinity".to_owned()),
            micros => Value::String(timestamp_of(micros)?.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        },
        Scalar::Date => match i32::from_be_bytes(fixed(bytes)?) {
            i32::MAX => Value::String("infinity".to_owned()),
            i32::MIN => Value::String("-infinity".to_owned()),
            days => {
                let date = DateTime::<Utc>::from_timestamp((i64::from(days) + PG_EPOCH_DAYS) * 86_400, 0)
                    .ok_or_else(|| bad("date out of range"))?;
                Value::String(date.date_naive().format("%Y-%m-%d").to_string())
            }
        },
        Scalar::Time => {
            let micros = i64::from_be_bytes(fixed(bytes)?);
            let secs = u32::try_from(micros.div_euclid(1_000_000)).map_err(|_| bad("time out of range"))?;
            let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1_000).map_err(|_| bad("time out of range"))?;
            // 24:00:00 is a valid PostgreSQL time; chrono has no such time.
            if secs == 86_400 && nanos == 0 {
                Value::String("24:00:00".to_owned())
            } else {
                let time = NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
                    .ok_or_else(|| bad("time out of range"))?;
                Value::String(time.format("%H:%M:%S%.f").to_string())
            }
        }
        Scalar::Bytea => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        Scalar::Void => Value::Null,
    })
}

fn text(bytes: &[u8]) -> CodecResult<&str> {
    std::str::from_utf8(bytes).map_err(|_| bad("the server sent text that is not UTF-8"))
}

fn timestamp_of(micros: i64) -> CodecResult<DateTime<Utc>> {
    let unix = micros
        .checked_add(PG_EPOCH_MICROS)
        .ok_or_else(|| bad("timestamp out of range"))?;
    DateTime::<Utc>::from_timestamp_micros(unix).ok_or_else(|| bad("timestamp out of range"))
}

/// A `numeric` in its binary form as exact decimal text.
pub(crate) fn decode_numeric(bytes: &[u8]) -> CodecResult<String> {
    let word = |i: usize| -> CodecResult<u16> {
        bytes
            .get(i * 2..i * 2 + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| bad("numeric value cut short"))
    };
    let ndigits = usize::from(word(0)?);
    // Reinterpreting the 16 bits as signed is the wire format's definition of the weight.
    #[allow(clippy::cast_possible_wrap)]
    let weight = i64::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    match sign {
        0xC000 => return Ok("NaN".to_owned()),
        0xD000 => return Ok("Infinity".to_owned()),
        0xF000 => return Ok("-Infinity".to_owned()),
        0x0000 | 0x4000 => {}
        _ => return Err(bad("unknown numeric sign")),
    }
    let digits = (0..ndigits).map(|i| word(4 + i)).collect::<CodecResult<Vec<u16>>>()?;
    let digit = |i: i64| -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 && digits.iter().any(|d| *d != 0) {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            // Writing to a String cannot fail.
            let _ = if i == 0 {
                write!(out, "{}", digit(i))
            } else {
                write!(out, "{:04}", digit(i))
            };
        }
    }
    if dscale > 0 {
        let mut frac = String::with_capacity(dscale + 4);
        let mut i = weight + 1;
        while frac.len() < dscale {
            let _ = write!(frac, "{:04}", digit(i));
            i += 1;
        }
        frac.truncate(dscale);
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}

fn read_i32(bytes: &[u8], at: &mut usize) -> CodecResult<i32> {
    let b = bytes.get(*at..*at + 4).ok_or_else(|| bad("array value cut short"))?;
    *at += 4;
    Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// An array in its binary form: `ndim`, a null flag, the element OID, `(length, lower bound)`
/// per dimension, then each element as its length (`-1` for NULL) and bytes.
pub(crate) fn decode_array(elem: Scalar, bytes: &[u8]) -> CodecResult<Value> {
    let mut at = 0;
    let ndim = usize::try_from(read_i32(bytes, &mut at)?).map_err(|_| bad("negative array dimensions"))?;
    let _has_null = read_i32(bytes, &mut at)?;
    let _elem_oid = read_i32(bytes, &mut at)?;
    if ndim == 0 {
        return Ok(Value::Array(Vec::new()));
    }
    let mut dims = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        let len = usize::try_from(read_i32(bytes, &mut at)?).map_err(|_| bad("negative array length"))?;
        let _lower = read_i32(bytes, &mut at)?;
        dims.push(len);
    }
    let total: usize = dims.iter().product();
    let mut flat = Vec::with_capacity(total.min(1 << 16));
    for _ in 0..total {
        let len = read_i32(bytes, &mut at)?;
        if len < 0 {
            flat.push(Value::Null);
            continue;
        }
        let len = usize::try_from(len).map_err(|_| bad("bad element length"))?;
        let value = bytes.get(at..at + len).ok_or_else(|| bad("array value cut short"))?;
        at += len;
        flat.push(decode_scalar(elem, value)?);
    }
    // Fold the flat elements into nested arrays, innermost dimension first.
    let mut level = flat;
    for &len in dims.iter().skip(1).rev() {
        let mut outer = Vec::with_capacity(level.len() / len.max(1));
        let mut items = level.into_iter();
        loop {
            let chunk: Vec<Value> = items.by_ref().take(len).collect();
            if chunk.is_empty() {
                break;
            }
            outer.push(Value::Array(chunk));
        }
        level = outer;
    }
    Ok(Value::Array(level))
}

// ------------------------------------------------------------------------------------------
// Encoding: a JSON parameter to its binary value
// ------------------------------------------------------------------------------------------

/// The binary value of `value` bound as `kind`; `None` is SQL `NULL` (JSON `null`).
pub(crate) fn encode(kind: &PgKind, value: &Value) -> CodecResult<Option<Vec<u8>>> {
    if value.is_null() {
        return Ok(None);
    }
    let mut out = Vec::new();
    match kind {
        PgKind::Scalar(scalar) => encode_scalar(*scalar, value, &mut out)?,
        PgKind::Array { elem, elem_oid } => encode_array(*elem, *elem_oid, value, &mut out)?,
        PgKind::Unsupported(name) => return Err(bad(format!("the type {name} cannot be bound from JSON"))),
    }
    Ok(Some(out))
}

fn expected(what: &str) -> CodecError {
    bad(format!("expected {what}"))
}

fn integer(value: &Value) -> CodecResult<i64> {
    match value {
        Value::Number(n) => n.as_i64().ok_or_else(|| expected("an integer")),
        Value::String(s) => s.trim().parse().map_err(|_| expected("an integer")),
        _ => Err(expected("an integer")),
    }
}

fn float(value: &Value) -> CodecResult<f64> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| expected("a number")),
        Value::String(s) => match s.trim() {
            "NaN" => Ok(f64::NAN),
            "Infinity" | "infinity" => Ok(f64::INFINITY),
            "-Infinity" | "-infinity" => Ok(f64::NEG_INFINITY),
            s => s.parse().map_err(|_| expected("a number")),
        },
        _ => Err(expected("a number")),
    }
}

fn string(value: &Value) -> CodecResult<&str> {
    value.as_str().ok_or_else(|| expected("a string"))
}

pub(crate) fn encode_scalar(scalar: Scalar, value: &Value, out: &mut Vec<u8>) -> CodecResult<()> {
    let out_of_range = |what: &str| bad(format!("the integer does not fit a {what}"));
    match scalar {
        Scalar::Bool => out.push(u8::from(value.as_bool().ok_or_else(|| expected("true or false"))?)),
        Scalar::Int2 => out.extend(
            i16::try_from(integer(value)?)
                .map_err(|_| out_of_range("smallint"))?
                .to_be_bytes(),
        ),
        Scalar::Int4 => out.extend(
            i32::try_from(integer(value)?)
                .map_err(|_| out_of_range("integer"))?
                .to_be_bytes(),
        ),
        Scalar::Int8 => out.extend(integer(value)?.to_be_bytes()),
        Scalar::Oid => out.extend(
            u32::try_from(integer(value)?)
                .map_err(|_| out_of_range("oid"))?
                .to_be_bytes(),
        ),
        // Narrowing to f32 is what binding a `real` means.
        #[allow(clippy::cast_possible_truncation)]
        Scalar::Float4 => out.extend((float(value)? as f32).to_be_bytes()),
        Scalar::Float8 => out.extend(float(value)?.to_be_bytes()),
        Scalar::Numeric => {
            let text = match value {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.trim().to_owned(),
                _ => return Err(expected("a number or a decimal string")),
            };
            encode_numeric(&text, out)?;
        }
        Scalar::Text => match value {
            Value::String(s) => out.extend(s.as_bytes()),
            Value::Number(n) => out.extend(n.to_string().as_bytes()),
            Value::Bool(b) => out.extend(if *b { b"true".as_slice() } else { b"false" }),
            other => out.extend(other.to_string().as_bytes()),
        },
        Scalar::Json => out.extend(value.to_string().as_bytes()),
        Scalar::Jsonb => {
            out.push(1);
            out.extend(value.to_string().as_bytes());
        }
        Scalar::Uuid => {
            let uuid = sqlx::types::Uuid::parse_str(string(value)?.trim()).map_err(|_| expected("a UUID"))?;
            out.extend(uuid.as_bytes());
        }
        Scalar::Timestamptz => {
            let micros = match string(value)?.trim() {
                "infinity" => i64::MAX,
                "-infinity" => i64::MIN,
                s => pg_micros(
                    DateTime::parse_from_rfc3339(s)
                        .map_err(|_| expected("an RFC 3339 time with an offset"))?
                        .with_timezone(&Utc),
                )?,
            };
            out.extend(micros.to_be_bytes());
        }
        Scalar::Timestamp => {
            let micros = match string(value)?.trim() {
                "infinity" => i64::MAX,
                "-infinity" => i64::MIN,
                s => pg_micros(naive_timestamp(s)?.and_utc())?,
            };
            out.extend(micros.to_be_bytes());
        }
        Scalar::Date => {
            let days = match string(value)?.trim() {
                "infinity" => i32::MAX,
                "-infinity" => i32::MIN,
                s => {
                    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| expected("a date (YYYY-MM-DD)"))?;
                    i32::try_from(i64::from(date.num_days_from_ce()) - 730_120).map_err(|_| bad("date out of range"))?
                }
            };
            out.extend(days.to_be_bytes());
        }
        Scalar::Time => {
            let s = string(value)?.trim();
            let micros = if s == "24:00:00" {
                86_400_000_000_i64
            } else {
                let t = NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
                    .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
                    .map_err(|_| expected("a time (HH:MM:SS)"))?;
                i64::from(t.num_seconds_from_midnight()) * 1_000_000 + i64::from(t.nanosecond() / 1_000)
            };
            out.extend(micros.to_be_bytes());
        }
        Scalar::Bytea => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(string(value)?)
                .map_err(|_| expected("base64 (standard alphabet)"))?;
            out.extend(bytes);
        }
        Scalar::Void => return Err(bad("a void parameter takes only null")),
    }
    Ok(())
}

fn naive_timestamp(s: &str) -> CodecResult<NaiveDateTime> {
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t);
        }
    }
    // A time with an offset is taken as that instant in UTC.
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.naive_utc())
        .map_err(|_| expected("a timestamp (YYYY-MM-DDTHH:MM:SS[.ffffff])"))
}

fn pg_micros(t: DateTime<Utc>) -> CodecResult<i64> {
    t.timestamp_micros()
        .checked_sub(PG_EPOCH_MICROS)
        .ok_or_else(|| bad("timestamp out of range"))
}

/// A decimal text (`-12.345`, `1e-3`, `NaN`, `Infinity`) in `numeric`'s binary form.
pub(crate) fn encode_numeric(text: &str, out: &mut Vec<u8>) -> CodecResult<()> {
    let header = |out: &mut Vec<u8>, ndigits: u16, weight: i16, sign: u16, dscale: u16| {
        out.extend(ndigits.to_be_bytes());
        out.extend(weight.to_be_bytes());
        out.extend(sign.to_be_bytes());
        out.extend(dscale.to_be_bytes());
    };
    match text {
        "NaN" => {
            header(out, 0, 0, 0xC000, 0);
            return Ok(());
        }
        "Infinity" | "infinity" | "+Infinity" => {
            header(out, 0, 0, 0xD000, 0);
            return Ok(());
        }
        "-Infinity" | "-infinity" => {
            header(out, 0, 0, 0xF000, 0);
            return Ok(());
        }
        _ => {}
    }
    let not_a_number = || expected("a decimal number");
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], rest[at + 1..].parse::<i64>().map_err(|_| not_a_number())?),
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
        || exponent.abs() > 100_000
    {
        return Err(not_a_number());
    }
    // value = digits × 10^(-scale)
    let mut digits: String = format!("{int_part}{frac_part}");
    let mut scale = i64::try_from(frac_part.len()).map_err(|_| not_a_number())? - exponent;
    if scale < 0 {
        digits.extend(std::iter::repeat_n(
            '0',
            usize::try_from(-scale).map_err(|_| not_a_number())?,
        ));
        scale = 0;
    }
    let scale = usize::try_from(scale).map_err(|_| not_a_number())?;
    if digits.len() < scale {
        digits = format!("{}{digits}", "0".repeat(scale - digits.len()));
    }
    let (int_digits, frac_digits) = digits.split_at(digits.len() - scale);
    let int_digits = int_digits.trim_start_matches('0');
    // Base-10000 groups: the integer part padded on the left, the fraction on the right.
    let int_pad = (4 - int_digits.len() % 4) % 4;
    let frac_pad = (4 - frac_digits.len() % 4) % 4;
    let padded = format!(
        "{}{int_digits}{frac_digits}{}",
        "0".repeat(int_pad),
        "0".repeat(frac_pad)
    );
    let mut groups: Vec<u16> = padded
        .as_bytes()
        .chunks(4)
        .map(|c| c.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0')))
        .collect();
    let mut weight = i64::try_from((int_pad + int_digits.len()) / 4).map_err(|_| not_a_number())? - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let too_big = || bad("the number is out of numeric's range");
    let ndigits = u16::try_from(groups.len()).map_err(|_| too_big())?;
    let weight = i16::try_from(weight).map_err(|_| too_big())?;
    let dscale = u16::try_from(scale).map_err(|_| too_big())?;
    let sign = if negative && !groups.is_empty() { 0x4000 } else { 0 };
    header(out, ndigits, weight, sign, dscale);
    for g in groups {
        out.extend(g.to_be_bytes());
    }
    Ok(())
}

/// A one-dimensional JSON array in the array binary form (nested JSON arrays are refused).
fn encode_array(elem: Scalar, elem_oid: u32, value: &Value, out: &mut Vec<u8>) -> CodecResult<()> {
    let items = value.as_array().ok_or_else(|| expected("an array"))?;
    let len = i32::try_from(items.len()).map_err(|_| bad("the array is too long"))?;
    let has_null = items.iter().any(Value::is_null);
    if items.is_empty() {
        out.extend(0i32.to_be_bytes());
        out.extend(0i32.to_be_bytes());
        out.extend(elem_oid.to_be_bytes());
        return Ok(());
    }
    out.extend(1i32.to_be_bytes());
    out.extend(i32::from(has_null).to_be_bytes());
    out.extend(elem_oid.to_be_bytes());
    out.extend(len.to_be_bytes());
    out.extend(1i32.to_be_bytes());
    for item in items {
        if item.is_null() {
            out.extend((-1i32).to_be_bytes());
            continue;
        }
        if item.is_array() && !matches!(elem, Scalar::Json | Scalar::Jsonb) {
            return Err(bad("only one-dimensional arrays can be bound"));
        }
        let start = out.len();
        out.extend(0i32.to_be_bytes());
        encode_scalar(elem, item, out)?;
        let written = i32::try_from(out.len() - start - 4).map_err(|_| bad("an array element is too big"))?;
        out[start..start + 4].copy_from_slice(&written.to_be_bytes());
    }
    Ok(())
}
