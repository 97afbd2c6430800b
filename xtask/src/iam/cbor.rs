//! CBOR (RFC 8949), read into JSON: the bodies the RPC v2 protocol sends
//! (CloudWatch's, among others), for `calls` to read their parameters.

use serde_json::Value;

/// A CBOR document as JSON (RFC 8949: the data model the RPC v2 protocol
/// sends); byte strings and tags are dropped to what they hold.
pub fn json(bytes: &[u8]) -> Option<Value> {
    let mut at = 0;
    let value = cbor_item(bytes, &mut at, 0)?;
    (at == bytes.len()).then_some(value)
}

fn cbor_item(b: &[u8], at: &mut usize, depth: usize) -> Option<Value> {
    if depth > 64 {
        return None;
    }
    let first = *b.get(*at)?;
    *at += 1;
    let (major, info) = (first >> 5, first & 0x1f);
    let mut argument = |info: u8| -> Option<Option<u64>> {
        let n = match info {
            0..=23 => return Some(Some(u64::from(info))),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            31 => return Some(None),
            _ => return None,
        };
        let bytes = b.get(*at..*at + n)?;
        *at += n;
        Some(Some(
            bytes.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x)),
        ))
    };
    if major == 7 {
        return match info {
            20 => Some(Value::Bool(false)),
            21 => Some(Value::Bool(true)),
            22 | 23 => Some(Value::Null),
            25..=27 => argument(info).map(|_| Value::Null),
            _ => None,
        };
    }
    let length = argument(info)?;
    let is_break = |b: &[u8], at: &mut usize| {
        let yes = b.get(*at) == Some(&0xff);
        if yes {
            *at += 1;
        }
        yes
    };
    match major {
        0 => length.map(Value::from),
        1 => length.map(|n| Value::from(-1 - n as i64)),
        2 | 3 => {
            let mut text = Vec::new();
            match length {
                Some(n) => {
                    let n = usize::try_from(n).ok()?;
                    text.extend_from_slice(b.get(*at..at.checked_add(n)?)?);
                    *at += n;
                }
                None => {
                    while !is_break(b, at) {
                        match cbor_item(b, at, depth + 1)? {
                            Value::String(s) => text.extend_from_slice(s.as_bytes()),
                            _ => return None,
                        }
                    }
                }
            }
            Some(Value::String(String::from_utf8_lossy(&text).to_string()))
        }
        4 => {
            let mut items = Vec::new();
            match length {
                Some(n) => {
                    for _ in 0..n {
                        items.push(cbor_item(b, at, depth + 1)?);
                    }
                }
                None => {
                    while !is_break(b, at) {
                        items.push(cbor_item(b, at, depth + 1)?);
                    }
                }
            }
            Some(Value::Array(items))
        }
        5 => {
            let mut map = serde_json::Map::new();
            let mut entry = |at: &mut usize| -> Option<()> {
                let key = match cbor_item(b, at, depth + 1)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                map.insert(key, cbor_item(b, at, depth + 1)?);
                Some(())
            };
            match length {
                Some(n) => {
                    for _ in 0..n {
                        entry(at)?;
                    }
                }
                None => {
                    while !is_break(b, at) {
                        entry(at)?;
                    }
                }
            }
            Some(Value::Object(map))
        }
        6 => cbor_item(b, at, depth + 1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_arrays_and_strings_of_either_length_are_read() {
        // {"a": [1, -2, "x"], "b": true} with an indefinite array.
        let doc = [
            0xa2, 0x61, b'a', 0x9f, 0x01, 0x21, 0x61, b'x', 0xff, 0x61, b'b', 0xf5,
        ];
        assert_eq!(
            json(&doc),
            Some(serde_json::json!({"a": [1, -2, "x"], "b": true}))
        );
    }

    #[test]
    fn a_cut_or_too_deep_document_is_not_read() {
        assert_eq!(json(&[0xa1, 0x61]), None);
        assert_eq!(json(&[0x9f; 200]), None);
        assert_eq!(json(&[0x01, 0x01]), None, "trailing bytes");
    }
}
