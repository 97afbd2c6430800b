//! `cargo xtask migrate --from <stage> --to <stage>`: a stage's data into
//! another stage — S3 objects, DynamoDB items and (when asked) Cognito users
//! — paired by service and logical id, resumable from a checkpoint, never
//! overwriting a different target item without `--overwrite`, and verified
//! at the end.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::app::App;
use crate::aws;
use crate::backup;
use crate::cli::{Global, MigrateArgs};
use crate::data::{self, Kind, Resource};
use crate::deploy::confirm_protected;
use crate::paths;
use crate::target::StageTarget;

/// How many segments a table scan is split into.
const SEGMENTS: i32 = 4;
/// How many writes run at once per segment.
const WRITERS: usize = 8;

/// Where a pair of resources got to.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Progress {
    done: bool,
    /// S3: the last key copied (keys are listed in order).
    after: Option<String>,
    /// DynamoDB: the next start key of each scan segment, and which are done.
    segment_keys: Vec<Option<BTreeMap<String, Value>>>,
    segments_done: Vec<bool>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    pairs: BTreeMap<String, Progress>,
}

/// What a copy did.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    written: usize,
    identical: usize,
    conflicts: usize,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.written += other.written;
        self.identical += other.identical;
        self.conflicts += other.conflicts;
    }
}

struct Pair {
    from: Resource,
    to: Resource,
}

impl Pair {
    fn id(&self) -> String {
        format!("{}/{}", self.from.service, self.from.logical_id)
    }
}

struct Sides {
    from: StageTarget,
    to: StageTarget,
}

pub async fn run(global: &Global, args: MigrateArgs) -> Result<i32> {
    let app = App::load(&App::resolve_dir(global.app.as_deref()))?;
    let from = app.stage(&args.from)?;
    let to = app.stage(&args.to)?;
    if from.name() == to.name() {
        bail!("--from and --to are both {from}; name two different stages");
    }
    let kinds: Vec<Kind> = if args.only.is_empty() {
        vec![Kind::Bucket, Kind::Table]
    } else {
        args.only
            .iter()
            .map(|k| match k.as_str() {
                "s3" => Ok(Kind::Bucket),
                "dynamodb" => Ok(Kind::Table),
                "cognito" => Ok(Kind::UserPool),
                other => bail!("--only {other}: use s3, dynamodb or cognito"),
            })
            .collect::<Result<_>>()?
    };
    let sides = Sides {
        from: StageTarget::open(&from, args.rehearse && !from.on_emulator(), global.emulator)
            .await?,
        to: StageTarget::open(&to, args.rehearse && !to.on_emulator(), global.emulator).await?,
    };
    sides.from.check_account(&from).await?;
    sides.to.check_account(&to).await?;
    let source = data::deployed(&app, &from, &sides.from.config).await?;
    let target = data::deployed(&app, &to, &sides.to.config).await?;
    let mut pairs = Vec::new();
    for resource in source.into_iter().filter(|r| kinds.contains(&r.kind)) {
        let Some(counterpart) = target
            .iter()
            .find(|t| t.service == resource.service && t.logical_id == resource.logical_id)
        else {
            bail!(
                "{}/{} of stage {from} has no counterpart in stage {to}; deploy {to} first",
                resource.service,
                resource.logical_id
            );
        };
        pairs.push(Pair {
            from: resource,
            to: counterpart.clone(),
        });
    }
    println!("migrating {from} → {to}:");
    for pair in &pairs {
        let count = if args.dry_run {
            format!(" ({})", describe_size(&sides, pair).await?)
        } else {
            String::new()
        };
        println!(
            "  {:9} {}: {} → {}{count}",
            pair.from.kind.name(),
            pair.id(),
            pair.from.physical_id,
            pair.to.physical_id
        );
    }
    if pairs.iter().any(|p| p.from.kind == Kind::UserPool) {
        println!("note: Cognito passwords cannot be migrated; users are created with a temporary password and must reset it");
    }
    if args.dry_run {
        println!("dry run: nothing was written");
        return Ok(0);
    }
    confirm_protected(&to, &app, args.yes, "migrate data into", "")?;
    if to.is_protected() {
        let taken = backup::take(&app, &to, &sides.to.config, "before-migrate").await?;
        for t in taken {
            println!("backed up {} first: {}", t.table, t.arn);
        }
    }

    let checkpoint_path = paths::state_dir()
        .join("migrate")
        .join(app.name())
        .join(format!("{from}-to-{to}.json"));
    let mut checkpoint: Checkpoint = std::fs::read(&checkpoint_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if !checkpoint.pairs.is_empty() {
        println!("resuming from {}", paths::display(&checkpoint_path));
    }
    let saver = Arc::new(Saver {
        path: checkpoint_path.clone(),
        lock: std::sync::Mutex::new(()),
    });
    let mut total = Counts::default();
    for pair in &pairs {
        let progress = checkpoint
            .pairs
            .get(&pair.id())
            .cloned()
            .unwrap_or_default();
        if progress.done {
            continue;
        }
        let counts = match pair.from.kind {
            Kind::Bucket => {
                copy_bucket(
                    &sides,
                    pair,
                    progress,
                    args.overwrite,
                    &saver,
                    &mut checkpoint,
                )
                .await?
            }
            Kind::Table => {
                copy_table(
                    &sides,
                    pair,
                    progress,
                    args.overwrite,
                    &saver,
                    &mut checkpoint,
                )
                .await?
            }
            Kind::UserPool => copy_users(&sides, pair).await?,
        };
        println!(
            "  {}: {} written, {} already identical, {} conflicting{}",
            pair.id(),
            counts.written,
            counts.identical,
            counts.conflicts,
            if counts.conflicts > 0 && !args.overwrite {
                " (kept; pass --overwrite to replace them)"
            } else {
                ""
            }
        );
        checkpoint.pairs.entry(pair.id()).or_default().done = true;
        saver.save(&checkpoint)?;
        total.add(counts);
    }
    println!(
        "written {} item(s) and object(s); {} already identical; {} conflicting",
        total.written, total.identical, total.conflicts
    );

    let mut mismatched = 0;
    for pair in pairs.iter().filter(|p| p.from.kind != Kind::UserPool) {
        let (source, target, missing) = verify(&sides, pair).await?;
        let verdict = if missing == 0 {
            "identical"
        } else {
            "MISMATCH"
        };
        println!(
            "  verify {}: {} source, fingerprint {} / target {} — {verdict}",
            pair.id(),
            source.0,
            source.1,
            target.1
        );
        if missing > 0 {
            println!(
                "    {missing} source item(s) are missing or different in {}",
                pair.to.physical_id
            );
            mismatched += 1;
        }
    }
    if mismatched == 0 {
        let _ = std::fs::remove_file(&checkpoint_path);
        println!("verified: the target holds every source item and object unchanged");
        Ok(0)
    } else {
        // The work is complete; only the verdict differs. A rerun starts over
        // and writes nothing new unless --overwrite is given.
        let _ = std::fs::remove_file(&checkpoint_path);
        println!("verification failed for {mismatched} resource(s)");
        Ok(1)
    }
}

struct Saver {
    path: PathBuf,
    lock: std::sync::Mutex<()>,
}

impl Saver {
    fn save(&self, checkpoint: &Checkpoint) -> Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(checkpoint)?)?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }
}

async fn describe_size(sides: &Sides, pair: &Pair) -> Result<String> {
    Ok(match pair.from.kind {
        Kind::Bucket => {
            let objects = list_objects(
                &aws::s3_client(&sides.from.config, &sides.from.target),
                &pair.from.physical_id,
                None,
            )
            .await?;
            format!(
                "{} objects, {} bytes",
                objects.len(),
                objects.iter().map(|o| o.size).sum::<i64>()
            )
        }
        Kind::Table => format!(
            "{} items",
            scan_all(
                &aws_sdk_dynamodb::Client::new(&sides.from.config),
                &pair.from.physical_id
            )
            .await?
            .len()
        ),
        Kind::UserPool => {
            let users = aws_sdk_cognitoidentityprovider::Client::new(&sides.from.config)
                .list_users()
                .user_pool_id(&pair.from.physical_id)
                .send()
                .await;
            match users {
                Ok(out) => format!("{} users (first page)", out.users().len()),
                Err(err) => format!("users unknown: {}", aws::error_message(&err)),
            }
        }
    })
}

// ---- S3 ---------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Object {
    key: String,
    etag: String,
    size: i64,
}

async fn list_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    after: Option<&str>,
) -> Result<Vec<Object>> {
    let mut objects = Vec::new();
    let mut token = None;
    loop {
        let mut request = s3.list_objects_v2().bucket(bucket);
        if let Some(after) = after {
            request = request.start_after(after);
        }
        if let Some(t) = token.take() {
            request = request.continuation_token(t);
        }
        let page = match request.send().await {
            Ok(page) => page,
            Err(err) => bail!("cannot list {bucket}: {}", aws::error_message(&err)),
        };
        for o in page.contents() {
            objects.push(Object {
                key: o.key().unwrap_or_default().to_string(),
                etag: o.e_tag().unwrap_or_default().to_string(),
                size: o.size().unwrap_or(0),
            });
        }
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
            _ => return Ok(objects),
        }
    }
}

/// Percent-encodes a key for `x-amz-copy-source` (slashes stay).
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn copy_bucket(
    sides: &Sides,
    pair: &Pair,
    mut progress: Progress,
    overwrite: bool,
    saver: &Saver,
    checkpoint: &mut Checkpoint,
) -> Result<Counts> {
    let src = aws::s3_client(&sides.from.config, &sides.from.target);
    let dst = aws::s3_client(&sides.to.config, &sides.to.target);
    // One endpoint and account: the copy stays inside S3.
    let server_side = sides.from.target == sides.to.target;
    let mut counts = Counts::default();
    for object in list_objects(&src, &pair.from.physical_id, progress.after.as_deref()).await? {
        let existing = dst
            .head_object()
            .bucket(&pair.to.physical_id)
            .key(&object.key)
            .send()
            .await
            .ok();
        match existing {
            Some(head)
                if head.e_tag() == Some(object.etag.as_str())
                    && head.content_length() == Some(object.size) =>
            {
                counts.identical += 1
            }
            Some(_) if !overwrite => counts.conflicts += 1,
            _ => {
                if server_side {
                    let copied = dst
                        .copy_object()
                        .bucket(&pair.to.physical_id)
                        .key(&object.key)
                        .copy_source(format!(
                            "{}/{}",
                            pair.from.physical_id,
                            encode_key(&object.key)
                        ))
                        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Copy)
                        .send()
                        .await;
                    if let Err(err) = copied {
                        bail!(
                            "cannot copy s3://{}/{}: {}",
                            pair.from.physical_id,
                            object.key,
                            aws::error_message(&err)
                        );
                    }
                } else {
                    let got = match src
                        .get_object()
                        .bucket(&pair.from.physical_id)
                        .key(&object.key)
                        .send()
                        .await
                    {
                        Ok(got) => got,
                        Err(err) => bail!(
                            "cannot read s3://{}/{}: {}",
                            pair.from.physical_id,
                            object.key,
                            aws::error_message(&err)
                        ),
                    };
                    let content_type = got.content_type().map(str::to_string);
                    let metadata = got.metadata().cloned();
                    let body = got
                        .body
                        .collect()
                        .await
                        .context("reading an object")?
                        .into_bytes();
                    let put = dst
                        .put_object()
                        .bucket(&pair.to.physical_id)
                        .key(&object.key)
                        .body(body.into())
                        .set_content_type(content_type)
                        .set_metadata(metadata)
                        .send()
                        .await;
                    if let Err(err) = put {
                        bail!(
                            "cannot write s3://{}/{}: {}",
                            pair.to.physical_id,
                            object.key,
                            aws::error_message(&err)
                        );
                    }
                }
                counts.written += 1;
            }
        }
        progress.after = Some(object.key.clone());
        checkpoint.pairs.insert(pair.id(), progress.clone());
        saver.save(checkpoint)?;
    }
    Ok(counts)
}

// ---- DynamoDB -----------------------------------------------------------------

type Item = HashMap<String, AttributeValue>;

/// An attribute value as JSON, canonical (sorted keys), for checkpoints,
/// comparison and fingerprints.
fn to_json(value: &AttributeValue) -> Value {
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

fn item_json(item: &Item) -> BTreeMap<String, Value> {
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

async fn key_names(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<String>> {
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

async fn scan_all(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<Item>> {
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

async fn copy_table(
    sides: &Sides,
    pair: &Pair,
    progress: Progress,
    overwrite: bool,
    saver: &Arc<Saver>,
    checkpoint: &mut Checkpoint,
) -> Result<Counts> {
    let src = aws_sdk_dynamodb::Client::new(&sides.from.config);
    let dst = aws_sdk_dynamodb::Client::new(&sides.to.config);
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

// ---- Cognito --------------------------------------------------------------------

async fn copy_users(sides: &Sides, pair: &Pair) -> Result<Counts> {
    use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};
    let src = aws_sdk_cognitoidentityprovider::Client::new(&sides.from.config);
    let dst = aws_sdk_cognitoidentityprovider::Client::new(&sides.to.config);
    let mut counts = Counts::default();
    let mut token = None;
    loop {
        let page = match src
            .list_users()
            .user_pool_id(&pair.from.physical_id)
            .set_pagination_token(token.take())
            .send()
            .await
        {
            Ok(page) => page,
            Err(err) => bail!(
                "cannot list the users of {}: {}",
                pair.from.physical_id,
                aws::error_message(&err)
            ),
        };
        for user in page.users() {
            let attributes: Vec<AttributeType> = user
                .attributes()
                .iter()
                .filter(|a| a.name() != "sub")
                .cloned()
                .collect();
            // Pools that sign in by e-mail take the e-mail as user name.
            let email = attributes
                .iter()
                .find(|a| a.name() == "email")
                .and_then(|a| a.value())
                .map(str::to_string);
            let username = email
                .clone()
                .unwrap_or_else(|| user.username().unwrap_or_default().to_string());
            if dst
                .admin_get_user()
                .user_pool_id(&pair.to.physical_id)
                .username(&username)
                .send()
                .await
                .is_ok()
            {
                counts.identical += 1;
                continue;
            }
            let created = dst
                .admin_create_user()
                .user_pool_id(&pair.to.physical_id)
                .username(&username)
                .set_user_attributes(Some(attributes))
                .message_action(MessageActionType::Suppress)
                .send()
                .await;
            if let Err(err) = created {
                bail!(
                    "cannot create user {username} in {}: {}",
                    pair.to.physical_id,
                    aws::error_message(&err)
                );
            }
            counts.written += 1;
            let groups = src
                .admin_list_groups_for_user()
                .user_pool_id(&pair.from.physical_id)
                .username(user.username().unwrap_or_default())
                .send()
                .await;
            for group in groups.map(|g| g.groups().to_vec()).unwrap_or_default() {
                let Some(name) = group.group_name() else {
                    continue;
                };
                let _ = dst
                    .create_group()
                    .user_pool_id(&pair.to.physical_id)
                    .group_name(name)
                    .set_description(group.description().map(str::to_string))
                    .send()
                    .await;
                if let Err(err) = dst
                    .admin_add_user_to_group()
                    .user_pool_id(&pair.to.physical_id)
                    .username(&username)
                    .group_name(name)
                    .send()
                    .await
                {
                    bail!(
                        "cannot add {username} to group {name}: {}",
                        aws::error_message(&err)
                    );
                }
            }
        }
        match page.pagination_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(counts),
        }
    }
}

// ---- verification ----------------------------------------------------------------

/// (count, fingerprint) of the source, of the target's matching part, and
/// how many source entries are missing or different in the target.
async fn verify(sides: &Sides, pair: &Pair) -> Result<((usize, String), (usize, String), usize)> {
    match pair.from.kind {
        Kind::Bucket => {
            let src = list_objects(
                &aws::s3_client(&sides.from.config, &sides.from.target),
                &pair.from.physical_id,
                None,
            )
            .await?;
            let dst = list_objects(
                &aws::s3_client(&sides.to.config, &sides.to.target),
                &pair.to.physical_id,
                None,
            )
            .await?;
            let dst_map: BTreeMap<&str, &Object> =
                dst.iter().map(|o| (o.key.as_str(), o)).collect();
            let line = |o: &Object| format!("{} {} {}", o.key, o.etag, o.size);
            let missing = src
                .iter()
                .filter(|o| {
                    dst_map
                        .get(o.key.as_str())
                        .is_none_or(|d| d.etag != o.etag || d.size != o.size)
                })
                .count();
            let matching: Vec<String> = src
                .iter()
                .filter_map(|o| dst_map.get(o.key.as_str()).map(|d| line(d)))
                .collect();
            Ok((
                (src.len(), data::fingerprint(src.iter().map(line))),
                (matching.len(), data::fingerprint(matching)),
                missing,
            ))
        }
        Kind::Table => {
            let src = scan_all(
                &aws_sdk_dynamodb::Client::new(&sides.from.config),
                &pair.from.physical_id,
            )
            .await?;
            let dst_client = aws_sdk_dynamodb::Client::new(&sides.to.config);
            let keys = key_names(&dst_client, &pair.to.physical_id).await?;
            let dst = scan_all(&dst_client, &pair.to.physical_id).await?;
            let key_of = |item: &Item| -> String {
                keys.iter()
                    .map(|k| {
                        item.get(k)
                            .map(|v| to_json(v).to_string())
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            };
            let dst_map: BTreeMap<String, String> = dst
                .iter()
                .map(|i| {
                    (
                        key_of(i),
                        serde_json::to_string(&item_json(i)).unwrap_or_default(),
                    )
                })
                .collect();
            let mut lines: Vec<(String, String)> = src
                .iter()
                .map(|i| {
                    (
                        key_of(i),
                        serde_json::to_string(&item_json(i)).unwrap_or_default(),
                    )
                })
                .collect();
            lines.sort();
            let missing = lines
                .iter()
                .filter(|(k, v)| dst_map.get(k) != Some(v))
                .count();
            let matching: Vec<String> = lines
                .iter()
                .filter_map(|(k, _)| dst_map.get(k).cloned())
                .collect();
            Ok((
                (
                    lines.len(),
                    data::fingerprint(lines.iter().map(|(_, v)| v.clone())),
                ),
                (matching.len(), data::fingerprint(matching)),
                missing,
            ))
        }
        Kind::UserPool => Ok(((0, String::new()), (0, String::new()), 0)),
    }
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

    #[test]
    fn copy_sources_are_encoded() {
        assert_eq!(encode_key("designs/a b+c.png"), "designs/a%20b%2Bc.png");
    }
}
