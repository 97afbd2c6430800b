//! How a key and its value land in a mapping, as js-yaml stores them:
//! keys compared by the property name JavaScript makes of them, a key
//! given twice refused, `<<` merges copying what the mapping lacks within
//! js-yaml's bounds.

use std::collections::HashMap;

use super::schema::{self, Kind};
use super::{Node, ParseError, Pos, Value};

/// js-yaml's bound on merged keys in one document (`maxTotalMergeKeys`).
const MAX_MERGE_KEYS: usize = 10_000;
/// js-yaml's bound on the sources of one merge (`abnormal merge sequence size`).
const MAX_MERGE_SOURCES: usize = 100;

/// The property name JavaScript makes of a mapping key (`String(key)`):
/// `1` and `'1'` are one key, `~` is `null`, a sequence joins its items
/// with commas, a mapping (an intrinsic function too) is
/// `[object Object]`. `None` for a sequence inside a sequence, which
/// js-yaml refuses as a key.
pub(super) fn key_name(node: &Node) -> Option<String> {
    if node.tag.is_some() {
        return Some("[object Object]".into());
    }
    Some(match &node.value {
        Value::Scalar { text, kind, .. } => match kind {
            Kind::Str | Kind::Merge => text.clone(),
            Kind::Null => "null".into(),
            Kind::Bool(b) => b.to_string(),
            Kind::Number(n) => schema::number_string(*n),
            Kind::Other(serde_json::Value::String(s)) => s.clone(),
            Kind::Other(_) => "[object Object]".into(),
        },
        Value::Map(_) => "[object Object]".into(),
        Value::Seq(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                parts.push(match &item.value {
                    Value::Seq(_) if item.tag.is_none() => return None,
                    _ if item.is_null() => String::new(),
                    _ => key_name(item)?,
                });
            }
            parts.join(",")
        }
    })
}

/// Stores one key and value in a mapping as js-yaml's `storeMappingPair`
/// does: a merge (`<<`) copies the keys of its mappings the map does not
/// have yet; a key set by a merge may be set once more; any other key
/// given twice is refused.
pub(super) fn store_pair(
    entries: &mut Vec<(Node, Node)>,
    keys: &mut HashMap<String, (usize, bool)>,
    key: Node,
    value: Node,
    merged: &mut usize,
) -> Result<(), ParseError> {
    let is_merge = key.tag.is_none()
        && matches!(
            &key.value,
            Value::Scalar {
                kind: Kind::Merge,
                ..
            }
        );
    if is_merge {
        let sources: Vec<Node> = match value.value {
            Value::Seq(items) if value.tag.is_none() => {
                if items.len() > MAX_MERGE_SOURCES {
                    return Err(ParseError {
                        pos: value.pos,
                        message: format!(
                            "merges more than {MAX_MERGE_SOURCES} mappings at once, past what the Serverless CLI reads"
                        ),
                    });
                }
                items
            }
            _ => vec![value],
        };
        for source in sources {
            let pos = source.pos;
            let Some(merged_entries) = mergeable(source) else {
                return Err(ParseError {
                    pos,
                    message: "`<<` merges mappings only (`<<: *anchor` or `<<: [*a, *b]`), and the Serverless CLI refuses anything else here".into(),
                });
            };
            *merged += 1 + merged_entries.len();
            if *merged > MAX_MERGE_KEYS {
                return Err(ParseError {
                    pos,
                    message: format!(
                        "merges more than {MAX_MERGE_KEYS} keys, past what the Serverless CLI reads; simplify the anchors"
                    ),
                });
            }
            for (name, k, v) in merged_entries {
                if let std::collections::hash_map::Entry::Vacant(slot) = keys.entry(name) {
                    slot.insert((k.pos.line, true));
                    entries.push((k, v));
                }
            }
        }
        return Ok(());
    }
    let Some(name) = key_name(&key) else {
        return Err(ParseError {
            pos: key.pos,
            message: "a sequence inside a sequence cannot be a key to the Serverless CLI; use a plain key".into(),
        });
    };
    match keys.get(&name) {
        Some((first, false)) => Err(ParseError {
            pos: key.pos,
            message: format!(
                "duplicate key `{}` (first at line {first}); keep one",
                name.escape_debug(),
            ),
        }),
        Some((_, true)) => {
            // A key a merge brought in, overridden where it stands.
            if let Some(slot) = entries
                .iter_mut()
                .find(|(k, _)| key_name(k).as_deref() == Some(name.as_str()))
            {
                *slot = (key.clone(), value);
            }
            keys.insert(name, (key.pos.line, false));
            Ok(())
        }
        None => {
            keys.insert(name, (key.pos.line, false));
            entries.push((key, value));
            Ok(())
        }
    }
}

/// A scalar key node.
pub(super) fn plain_key(text: String, pos: Pos) -> Node {
    Node {
        value: Value::Scalar {
            text,
            quoted: false,
            kind: Kind::Str,
        },
        pos,
        tag: None,
    }
}

/// The entries a merge takes from `source`, each with its key's name: a
/// mapping's; since js-yaml merges any object, a sequence's items under
/// their indexes and an intrinsic function's one key; `None` for a
/// scalar or null.
fn mergeable(source: Node) -> Option<Vec<(String, Node, Node)>> {
    if let Some(function) = source.tag.clone() {
        let name = schema::function_key(&function);
        let key = plain_key(name.clone(), source.pos);
        let mut value = source;
        value.tag = None;
        return Some(vec![(name, key, value)]);
    }
    match source.value {
        Value::Map(entries) => Some(
            entries
                .into_iter()
                .map(|(k, v)| (key_name(&k).unwrap_or_default(), k, v))
                .collect(),
        ),
        Value::Seq(items) => Some(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), plain_key(i.to_string(), v.pos), v))
                .collect(),
        ),
        Value::Scalar { .. } => None,
    }
}
