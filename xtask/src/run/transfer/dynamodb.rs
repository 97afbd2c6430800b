//! DynamoDB: a parallel scan in segments, conditional writes, and a
//! checkpoint of every segment's next start key.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Checkpoint, Counts, Pair, Progress, Saver, Sides, SEGMENTS, WRITERS};
use crate::aws;

pub(super) type Item = HashMap<String, AttributeValue>;

/// An attribute value as JSON, canonical (sorted keys), for checkpoints,
/// comparison and fingerprints.
pub(super) fn to_json(value: &AttributeValue) -> Value {
    use base64_free::encode;
    match value {
        AttributeValue::S(s) => serde_json::json!({ "S": s }),
        AttributeValue::N(n) => serde_json::json!({ "N": n }),
        AttributeValue::B(b) => serde_json::json!({ "B": encode(b.as_ref()) }),
        AttributeValue::Bool(b) => serde_json::json!({ "BOOL": b }),
        AttributeValue::Null(_) => serde_json::json!({ "NULL": true }),
        AttributeValue::Ss(v) => {
            let mut v = v.clone();
            v.sort();
            serde_json::json!({ "SS": v })
        }
        AttributeValue::Ns(v) => {
            let mut v = v.clone();
            v.sort();
            serde_json::json!({ "NS": v })
        }
        AttributeValue::Bs(v) => {
            let mut v: Vec<String> = v.iter().map(|b| encode(b.as_ref())).collect();
            v.sort();
            serde_json::json!({ "BS": v })
        }
        AttributeValue::L(items) => {
            serde_json::json!({ "L": items.iter().map(to_json).collect::<Vec<_>>() })
        }
        AttributeValue::M(map) => serde_json::json!({ "M": item_json(map) }),
        _ => Value::Null,
    }
}

pub(super) fn item_json(item: &Item) -> BTreeMap<String, Value> {
    item.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()
}

fn from_json(value: &Value) -> Option<AttributeValue> {
    let (kind, inner) = value.as_object()?.iter().next()?;
    Some(match kind.as_str() {
        "S" => AttributeValue::S(inner.as_str()?.to_string()),
        "N" => AttributeValue::N(inner.as_str()?.to_string()),
        "B" => AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(
            base64_free::decode(inner.as_str()?)?,
        )),
        _ => return None,
    })
}

/// A tiny base64 for binary key values in checkpoints (no crate for one use).
mod base64_free {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let clean: Vec<u8> = text.bytes().filter(|b| *b != b'=').collect();
        for chunk in clean.chunks(4) {
            let mut n = 0u32;
            for (i, c) in chunk.iter().enumerate() {
                let v = ALPHABET.iter().position(|a| a == c)? as u32;
                n |= v << (18 - 6 * i);
            }
            for i in 0..chunk.len().saturating_sub(1) {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        Some(out)
    }
}

pub(super) async fn key_names(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<String>> {
    match dynamodb.describe_table().table_name(table).send().await {
        Ok(out) => Ok(out
            .table()
            .map(|t| {
                t.key_schema()
                    .iter()
                    .map(|k| k.attribute_name().to_string())
                    .collect()
            })
            .unwrap_or_default()),
        Err(err) => bail!(
            "cannot describe table {table}: {}",
            aws::error_message(&err)
        ),
    }
}

pub(super) async fn scan_all(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let page = match dynamodb
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
        {
            Ok(page) => page,
            Err(err) => bail!("cannot scan {table}: {}", aws::error_message(&err)),
        };
        items.extend(page.items().iter().cloned());
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => return Ok(items),
        }
    }
}

pub(super) async fn copy_table(
    sides: &Sides,
    pair: &Pair,
    progress: Progress,
    overwrite: bool,
    saver: &Arc<Saver>,
    checkpoint: &mut Checkpoint,
) -> Result<Counts> {
    let src = sides.from.dynamodb();
    let dst = sides.to.dynamodb();
    let keys = key_names(&dst, &pair.to.physical_id).await?;
    let mut progress = progress;
    progress.segment_keys.resize(SEGMENTS as usize, None);
    progress.segments_done.resize(SEGMENTS as usize, false);
    let shared = Arc::new(std::sync::Mutex::new((
        std::mem::take(checkpoint),
        progress,
    )));
    let mut segments = JoinSet::new();
    for segment in 0..SEGMENTS {
        let (src, dst, keys, shared, saver) = (
            src.clone(),
            dst.clone(),
            keys.clone(),
            shared.clone(),
            saver.clone(),
        );
        let (from_table, to_table, id) = (
            pair.from.physical_id.clone(),
            pair.to.physical_id.clone(),
            pair.id(),
        );
        segments.spawn(async move {
            let mut counts = Counts::default();
            let (done, start) = {
                let guard = shared.lock().unwrap_or_else(|p| p.into_inner());
                (
                    guard.1.segments_done[segment as usize],
                    guard.1.segment_keys[segment as usize].clone(),
                )
            };
            if done {
                return Ok(counts);
            }
            let mut start: Option<Item> = start.map(|k| {
                k.iter()
                    .filter_map(|(n, v)| Some((n.clone(), from_json(v)?)))
                    .collect()
            });
            loop {
                let page = src
                    .scan()
                    .table_name(&from_table)
                    .segment(segment)
                    .total_segments(SEGMENTS)
                    .limit(100)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("cannot scan {from_table}: {}", aws::error_message(&e))
                    })?;
                counts.add(write_items(&dst, &to_table, &keys, page.items(), overwrite).await?);
                let next = page.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
                let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
                let (checkpoint, progress) = &mut *guard;
                progress.segment_keys[segment as usize] = next
                    .as_ref()
                    .map(|k| k.iter().map(|(n, v)| (n.clone(), to_json(v))).collect());
                if next.is_none() {
                    progress.segments_done[segment as usize] = true;
                }
                checkpoint.pairs.insert(id.clone(), progress.clone());
                saver.save(checkpoint)?;
                drop(guard);
                match next {
                    Some(key) => start = Some(key),
                    None => return Ok::<Counts, anyhow::Error>(counts),
                }
            }
        });
    }
    let mut counts = Counts::default();
    while let Some(done) = segments.join_next().await {
        counts.add(done.context("a scan segment stopped")??);
    }
    let (restored, _) = Arc::try_unwrap(shared)
        .map_err(|_| anyhow::anyhow!("segments still running"))?
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    *checkpoint = restored;
    Ok(counts)
}

/// Writes a page of items: absent ones with a condition that they are still
/// absent, identical ones not at all, different ones only with `overwrite`.
async fn write_items(
    dst: &aws_sdk_dynamodb::Client,
    table: &str,
    keys: &[String],
    items: &[Item],
    overwrite: bool,
) -> Result<Counts> {
    let semaphore = Arc::new(Semaphore::new(WRITERS));
    let mut writes = JoinSet::new();
    for item in items {
        let item = item.clone();
        let (dst, table, keys, semaphore) = (
            dst.clone(),
            table.to_string(),
            keys.to_vec(),
            semaphore.clone(),
        );
        writes.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let key: Item = keys
                .iter()
                .filter_map(|k| Some((k.clone(), item.get(k)?.clone())))
                .collect();
            let existing = dst
                .get_item()
                .table_name(&table)
                .set_key(Some(key))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("cannot read {table}: {}", aws::error_message(&e)))?;
            let mut counts = Counts::default();
            match existing.item() {
                Some(current) if item_json(current) == item_json(&item) => counts.identical += 1,
                Some(_) if !overwrite => counts.conflicts += 1,
                found => {
                    let mut put = dst
                        .put_item()
                        .table_name(&table)
                        .set_item(Some(item.clone()));
                    if found.is_none() && !overwrite {
                        // Absent a moment ago: it must still be absent.
                        put = put
                            .condition_expression("attribute_not_exists(#k)")
                            .expression_attribute_names("#k", keys[0].clone());
                    }
                    match put.send().await {
                        Ok(_) => counts.written += 1,
                        Err(err)
                            if err
                                .as_service_error()
                                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                        {
                            counts.conflicts += 1
                        }
                        Err(err) => bail!("cannot write to {table}: {}", aws::error_message(&err)),
                    }
                }
            }
            Ok::<Counts, anyhow::Error>(counts)
        });
    }
    let mut counts = Counts::default();
    while let Some(done) = writes.join_next().await {
        counts.add(done.context("a write stopped")??);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for bytes in [&b""[..], b"a", b"ab", b"abc", b"abcd", &[0, 255, 128, 7, 9]] {
            assert_eq!(
                base64_free::decode(&base64_free::encode(bytes)).as_deref(),
                Some(bytes)
            );
        }
        assert_eq!(base64_free::encode(b"Man"), "TWFu");
    }
}
