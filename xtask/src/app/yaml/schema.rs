//! What a YAML node means to the Serverless CLI: js-yaml's default schema
//! with osls's CloudFormation tags (`lib/utils/serverless-utils/cloudformation-schema.js`
//! in the pinned CLI). The reader keeps every scalar's text as written and
//! resolves it here once, the way the CLI does, so a value never means one
//! thing to the tool and another to the deploy.
//!
//! js-yaml follows YAML 1.2's core schema with its own edges, and so does
//! this file (each is named where it is decided): `yes`, `on` and `0017`
//! are not what YAML 1.1 made of them; `-.5` and `1_000` are strings; a
//! decimal too large for a double is a string; date-shaped plain scalars
//! stay strings (osls drops js-yaml's implicit timestamps, so an IAM
//! `Version: 2012-10-17` is text).

use serde_json::Value as Json;

/// What a scalar is to the CLI once its tag (or, plain and untagged, its
/// text) is resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A string: its text as read.
    Str,
    Null,
    Bool(bool),
    /// A plain `<<`: a merge where it is a key, the text `<<` elsewhere.
    Merge,
    /// A JavaScript number: integers and floats alike.
    Number(f64),
    /// `!!binary` and `!!timestamp`: what `JSON.stringify` makes of the
    /// `Uint8Array` and `Date` js-yaml builds.
    Other(Json),
}

/// The CloudFormation function tags osls's schema knows, each on scalars,
/// sequences and mappings; any other local tag is refused, as js-yaml
/// refuses it (`unknown tag`).
pub const FUNCTIONS: &[&str] = &[
    "And",
    "Base64",
    "Cidr",
    "Condition",
    "Equals",
    "FindInMap",
    "GetAtt",
    "GetAZs",
    "GetStackOutput",
    "If",
    "ImportValue",
    "Join",
    "Not",
    "Or",
    "Ref",
    "Select",
    "Split",
    "Sub",
    "Transform",
];

/// The key a function tag stands for: `!Ref` is `Ref`, `!GetAtt` is
/// `Fn::GetAtt`.
pub fn function_key(name: &str) -> String {
    match name {
        "Ref" | "Condition" => name.to_string(),
        _ => format!("Fn::{name}"),
    }
}

/// A plain, untagged scalar as js-yaml's implicit types resolve it, in
/// their order: null, bool, int, float; anything else is a string.
pub fn resolve_plain(text: &str) -> Kind {
    if let Some(kind) = null(text).or_else(|| bool(text)) {
        return kind;
    }
    match int(text).or_else(|| float(text)) {
        Some(n) => Kind::Number(n),
        None => Kind::Str,
    }
}

/// `~`, `null`, `Null`, `NULL`.
pub fn null(text: &str) -> Option<Kind> {
    matches!(text, "~" | "null" | "Null" | "NULL").then_some(Kind::Null)
}

/// YAML 1.2's booleans only: `yes`, `no`, `on` and `off` are strings to
/// js-yaml (they were booleans in YAML 1.1).
pub fn bool(text: &str) -> Option<Kind> {
    match text {
        "true" | "True" | "TRUE" => Some(Kind::Bool(true)),
        "false" | "False" | "FALSE" => Some(Kind::Bool(false)),
        _ => None,
    }
}

/// js-yaml's `int`: decimal digits (leading zeros read as decimal, so
/// `017` is 17, not YAML 1.1's octal 15), `0b`, `0x`, `0o`, an optional
/// sign; no `_` separators. Past a double's range it is no int.
pub fn int(text: &str) -> Option<f64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, body) = match digits.get(..2) {
        Some("0b") => (2, &digits[2..]),
        Some("0x") => (16, &digits[2..]),
        Some("0o") => (8, &digits[2..]),
        _ => (10, digits),
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // As `parseInt` reads them (correctly rounded in decimal).
    let value = if radix == 10 {
        body.parse::<f64>().ok()?
    } else {
        body.chars().fold(0.0, |acc, c| {
            acc * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))
        })
    };
    if !value.is_finite() {
        return None;
    }
    // `-0` is 0 to js-yaml.
    Some(if negative && value != 0.0 {
        -value
    } else {
        value
    })
}

/// js-yaml's `float`: `1.5`, `1.`, `1e3`, `.5` (but not `-.5`, which its
/// pattern leaves out), `.inf` and `.nan` in three spellings; a finite
/// spelling that overflows a double is a string.
pub fn float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return Some(if text.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return Some(f64::NAN);
    }
    if !float_pattern(text) {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    value.is_finite().then_some(value)
}

/// `[-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?` or `\.[0-9]+([eE][-+]?[0-9]+)?`.
fn float_pattern(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if bytes.first() == Some(&b'.') {
        i = 1;
        if !digits(&mut i) {
            return false;
        }
    } else {
        if matches!(bytes.first(), Some(b'-' | b'+')) {
            i = 1;
        }
        if !digits(&mut i) {
            return false;
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == bytes.len()
}

/// `!!binary`: base64, line breaks and padding allowed anywhere, whole
/// bytes only; `None` where js-yaml cannot resolve it.
pub fn binary(text: &str) -> Option<Json> {
    const MAP: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut values = Vec::new();
    // js-yaml counts `=` toward the length, and drops it with the breaks.
    let mut padding = 0;
    for c in text.bytes() {
        match MAP.iter().position(|m| *m == c) {
            Some(v) => values.push(v as u32),
            None if c == b'=' => padding += 1,
            None if matches!(c, b'\n' | b'\r') => {}
            None => return None,
        }
    }
    if (values.len() + padding) * 6 % 8 != 0 {
        return None;
    }
    let mut bytes = Vec::new();
    for chunk in values.chunks(4) {
        let bits = chunk.iter().fold(0u32, |acc, v| (acc << 6) | v);
        let bits = bits << (6 * (4 - chunk.len()));
        let take = chunk.len() * 6 / 8;
        bytes.extend((0..take).map(|i| (bits >> (16 - 8 * i)) & 0xff));
    }
    // `JSON.stringify` of a `Uint8Array`: an object keyed by index.
    Some(Json::Object(
        bytes
            .into_iter()
            .enumerate()
            .map(|(i, b)| (i.to_string(), Json::from(b)))
            .collect(),
    ))
}

/// `!!timestamp` (explicit only: osls dropped the implicit one), as the
/// ISO string `JSON.stringify` makes of js-yaml's `Date`.
pub fn timestamp(text: &str) -> Option<Json> {
    let (date, time) = match text.find(['T', 't', ' ', '\t']) {
        Some(i) => (&text[..i], Some(text[i..].trim_start_matches([' ', '\t']))),
        None => (text, None),
    };
    let time = time.map(|t| t.strip_prefix(['T', 't']).unwrap_or(t));
    let mut parts = date.split('-');
    let year = parts.next().filter(|y| y.len() == 4 && all_digits(y))?;
    let month = parts
        .next()
        .filter(|m| (1..=2).contains(&m.len()) && all_digits(m))?;
    let day = parts
        .next()
        .filter(|d| (1..=2).contains(&d.len()) && all_digits(d))?;
    if parts.next().is_some() {
        return None;
    }
    let num = |s: &str| s.parse::<i64>().unwrap_or(0);
    let Some(time) = time else {
        // A date alone has two-digit month and day.
        if month.len() != 2 || day.len() != 2 {
            return None;
        }
        return Some(iso(utc(num(year), num(month) - 1, num(day), 0, 0, 0, 0)));
    };
    // hh:mm:ss[.fraction][ *](Z|±h[h][:mm])?
    let (clock, zone) = match time.find(['Z', '+', '-', ' ', '\t']) {
        Some(i) => (&time[..i], Some(time[i..].trim_start_matches([' ', '\t']))),
        None => (time, None),
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) if all_digits(f) || f.is_empty() => (hms, f),
        Some(_) => return None,
        None => (clock, ""),
    };
    let mut hms = hms.split(':');
    let hour = hms
        .next()
        .filter(|h| (1..=2).contains(&h.len()) && all_digits(h))?;
    let minute = hms.next().filter(|m| m.len() == 2 && all_digits(m))?;
    let second = hms.next().filter(|s| s.len() == 2 && all_digits(s))?;
    if hms.next().is_some() {
        return None;
    }
    let millis = format!("{:0<3}", &fraction[..fraction.len().min(3)]);
    let mut delta = 0;
    match zone {
        None | Some("") | Some("Z") => {}
        Some(zone) => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let zone = zone.strip_prefix(['+', '-'])?;
            let (h, m) = zone.split_once(':').unwrap_or((zone, "0"));
            let m_ok = !zone.contains(':') || m.len() == 2;
            if !((1..=2).contains(&h.len()) && all_digits(h) && all_digits(m) && m_ok) {
                return None;
            }
            delta = sign * (num(h) * 60 + num(m)) * 60_000;
        }
    }
    let ms = utc(
        num(year),
        num(month) - 1,
        num(day),
        num(hour),
        num(minute),
        num(second),
        num(&millis),
    );
    Some(iso(ms - delta))
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `Date.UTC`: months and days past their range roll over, and a year
/// below 100 is in the 1900s.
fn utc(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64, ms: i64) -> i64 {
    let year = if (0..100).contains(&year) {
        1900 + year
    } else {
        year
    };
    let year = year + month.div_euclid(12);
    let month = month.rem_euclid(12);
    let days = days_from_civil(year, month + 1, 1) + day - 1;
    days * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000 + ms
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `Date.prototype.toISOString`.
fn iso(ms: i64) -> Json {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{}{:06}", if year < 0 { '-' } else { '+' }, year.abs())
    };
    Json::String(format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    ))
}

/// A JavaScript number as `JSON.stringify` writes it: non-finite numbers
/// are `null`, integral ones have no fraction.
pub fn number_json(n: f64) -> Json {
    if !n.is_finite() {
        return Json::Null;
    }
    // JSON's digits read back as serde_json reads them: an integer that
    // fits 64 bits is an integer.
    if n.fract() == 0.0 && (0.0..1.8e19).contains(&n) {
        return Json::from(n as u64);
    }
    if n.fract() == 0.0 && (-9.2e18..0.0).contains(&n) {
        return Json::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number)
}

/// A JavaScript number as `String(n)` writes it (a mapping key is
/// converted so): shortest round-trip digits, exponent past 1e21 and
/// below 1e-6.
pub fn number_string(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if n == 0.0 {
        return "0".into();
    }
    // `{:e}` gives the shortest digits that read back: `d.ddde±x`.
    let sci = format!("{:e}", n.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i32;
    let n_exp = exp + 1;
    let body = if k <= n_exp && n_exp <= 21 {
        format!("{digits}{}", "0".repeat((n_exp - k) as usize))
    } else if 0 < n_exp && n_exp <= 21 {
        format!(
            "{}.{}",
            &digits[..n_exp as usize],
            &digits[n_exp as usize..]
        )
    } else if -6 < n_exp && n_exp <= 0 {
        format!("0.{}{digits}", "0".repeat((-n_exp) as usize))
    } else {
        let sign = if n_exp - 1 < 0 { '-' } else { '+' };
        let e = (n_exp - 1).abs();
        if k == 1 {
            format!("{digits}e{sign}{e}")
        } else {
            format!("{}.{}e{sign}{e}", &digits[..1], &digits[1..])
        }
    };
    if n < 0.0 {
        format!("-{body}")
    } else {
        body
    }
}

/// A scalar's value as JSON.
pub fn scalar_json(text: &str, kind: &Kind) -> Json {
    match kind {
        Kind::Str | Kind::Merge => Json::String(text.to_string()),
        Kind::Null => Json::Null,
        Kind::Bool(b) => Json::Bool(*b),
        Kind::Number(n) => number_json(*n),
        Kind::Other(json) => json.clone(),
    }
}
