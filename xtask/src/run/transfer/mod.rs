//! The data migration behind `cargo xtask migrate`: a stage's data into
//! another stage — S3 objects, DynamoDB items and (when asked) Cognito users
//! — paired by service and logical id, resumable from a checkpoint, never
//! overwriting a different target item without `--overwrite`, and verified
//! at the end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::stage::Stage;
use crate::app::App;
use crate::aws;
use crate::aws::backups;
use crate::aws::data::{self, Kind, Resource};
use crate::aws::lock::{self, Lock};
use crate::aws::target::Mode;
use crate::aws::target::StageTarget;
use crate::run::guard::confirm_protected;
use crate::run::journal;
use crate::run::stage_run::StageLock;
use crate::sys::output::Printer;
use crate::sys::paths;
use crate::sys::process;

mod cognito;
mod dynamodb;
mod s3;

use dynamodb::{item_json, key_names, scan_all, to_json, Item};
use s3::{list_objects, Object};

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
    /// The run that holds the target's lock while copying, so a migration
    /// killed outright can be resumed: its lock is cleared when that
    /// process is gone.
    #[serde(default)]
    holder: Option<Holding>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Holding {
    run_id: String,
    who: String,
    pid: u32,
}

impl Holding {
    /// Whether this is a run of this machine that no longer exists.
    fn is_dead_here(&self) -> bool {
        self.who == lock::whoami() && !process::is_alive(self.pid)
    }
}

fn load_checkpoint(path: &std::path::Path) -> Checkpoint {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
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

/// What `migrate` was asked to do, resolved from its flags.
pub struct Options {
    pub from: Stage,
    pub to: Stage,
    pub kinds: Vec<Kind>,
    pub dry_run: bool,
    pub overwrite: bool,
    pub yes: bool,
    pub from_mode: Mode,
    pub to_mode: Mode,
    /// How long to wait for the target stage's lock.
    pub lock_wait: std::time::Duration,
}

/// Parses `--only s3,dynamodb,cognito`; empty means buckets and tables.
pub fn kinds(only: &[String]) -> Result<Vec<Kind>> {
    if only.is_empty() {
        return Ok(vec![Kind::Bucket, Kind::Table]);
    }
    only.iter()
        .map(|k| match k.as_str() {
            "s3" => Ok(Kind::Bucket),
            "dynamodb" => Ok(Kind::Table),
            "cognito" => Ok(Kind::UserPool),
            other => bail!("--only {other}: use s3, dynamodb or cognito"),
        })
        .collect()
}

/// How a migration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrated {
    /// `--dry-run`: what would be copied was said; nothing was written.
    Planned,
    /// Copied, and the target holds every source item and object.
    Verified,
    /// Copied, but this many resources differ from their source.
    Mismatched(usize),
}

/// Copies the data of `opts.from` into `opts.to`, saying each step on
/// `out`.
pub async fn run(app: &App, opts: Options, out: &Printer) -> Result<Migrated> {
    let Options {
        from,
        to,
        kinds,
        dry_run,
        overwrite,
        yes,
        from_mode,
        to_mode,
        lock_wait,
    } = opts;
    if from.name() == to.name() {
        bail!("--from and --to are both {from}; name two different stages");
    }
    let sides = Sides {
        from: StageTarget::open(&from, from_mode).await?,
        to: StageTarget::open(&to, to_mode).await?,
    };
    sides.from.check_account(&from).await?;
    sides.to.check_account(&to).await?;
    let pairs = pair_resources(app, &from, &to, &sides, &kinds).await?;
    out.plain(&format!("migrating {from} → {to}:"));
    for pair in &pairs {
        let count = if dry_run {
            format!(" ({})", describe_size(&sides, pair).await?)
        } else {
            String::new()
        };
        out.plain(&format!(
            "  {:9} {}: {} → {}{count}",
            pair.from.kind.name(),
            pair.id(),
            pair.from.physical_id,
            pair.to.physical_id
        ));
    }
    if pairs.iter().any(|p| p.from.kind == Kind::UserPool) {
        out.plain("note: Cognito passwords cannot be migrated; users are created with a temporary password and must reset it");
    }
    if dry_run {
        out.plain("dry run: nothing was written");
        return Ok(Migrated::Planned);
    }
    confirm_protected(&to, app, yes, "migrate data into", "")?;
    // Writing into a stage is a change of that stage: it waits for no
    // deploy, and no deploy or removal may start under it.
    let checkpoint_path = paths::state_dir()
        .join("migrate")
        .join(app.name())
        .join(format!("{from}-to-{to}.json"));
    // A migration of this pair killed on this machine left its lock: the
    // checkpoint names that run, and only its own lock is cleared.
    if let Some(dead) = load_checkpoint(&checkpoint_path)
        .holder
        .filter(Holding::is_dead_here)
    {
        let stale = Lock {
            id: lock::lock_id(&app.name(), &to),
            run_id: dead.run_id.clone(),
        };
        if sides.to.locks().release(stale).await.is_ok() {
            out.plain(&format!(
                "cleared the lock of the killed migration {}",
                dead.run_id
            ));
        }
    }
    let run_id = journal::new_run_id();
    let _lock = StageLock::acquire(
        &sides.to,
        (&app.name(), &to),
        &run_id,
        "migrate",
        lock_wait,
        Arc::new(Printer::new(false)),
    )
    .await?;
    let holding = Holding {
        run_id,
        who: lock::whoami(),
        pid: std::process::id(),
    };
    if to.is_protected() {
        let taken = backups::take(app, &to, &sides.to.config, "before-migrate").await?;
        for t in taken {
            out.plain(&format!("backed up {} first: {}", t.table, t.arn));
        }
    }
    copy_all(&sides, &pairs, overwrite, &checkpoint_path, holding, out).await?;
    let mismatched = verify_all(&sides, &pairs, out).await?;
    // The work is complete either way; only the verdict differs. A rerun
    // starts over and writes nothing new unless --overwrite is given.
    let _ = std::fs::remove_file(&checkpoint_path);
    if mismatched == 0 {
        out.plain("verified: the target holds every source item and object unchanged");
        Ok(Migrated::Verified)
    } else {
        out.plain(&format!("verification failed for {mismatched} resource(s)"));
        Ok(Migrated::Mismatched(mismatched))
    }
}

/// Every selected resource of `from` with its counterpart in `to` (same
/// service and logical id); a resource without one is an error.
async fn pair_resources(
    app: &App,
    from: &Stage,
    to: &Stage,
    sides: &Sides,
    kinds: &[Kind],
) -> Result<Vec<Pair>> {
    let source = data::deployed(app, from, &sides.from.config).await?;
    let target = data::deployed(app, to, &sides.to.config).await?;
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
    Ok(pairs)
}

/// Copies every pair not done yet, resuming from the checkpoint and
/// saving it after every object or page.
async fn copy_all(
    sides: &Sides,
    pairs: &[Pair],
    overwrite: bool,
    checkpoint_path: &std::path::Path,
    holding: Holding,
    out: &Printer,
) -> Result<()> {
    let mut checkpoint = load_checkpoint(checkpoint_path);
    if !checkpoint.pairs.is_empty() {
        out.plain(&format!(
            "resuming from {}",
            paths::display(checkpoint_path)
        ));
    }
    checkpoint.holder = Some(holding);
    let saver = Arc::new(Saver {
        path: checkpoint_path.to_path_buf(),
        lock: std::sync::Mutex::new(()),
    });
    let mut total = Counts::default();
    for pair in pairs {
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
                s3::copy_bucket(sides, pair, progress, overwrite, &saver, &mut checkpoint).await?
            }
            Kind::Table => {
                dynamodb::copy_table(sides, pair, progress, overwrite, &saver, &mut checkpoint)
                    .await?
            }
            Kind::UserPool => cognito::copy_users(sides, pair).await?,
        };
        out.plain(&format!(
            "  {}: {} written, {} already identical, {} conflicting{}",
            pair.id(),
            counts.written,
            counts.identical,
            counts.conflicts,
            if counts.conflicts > 0 && !overwrite {
                " (kept; pass --overwrite to replace them)"
            } else {
                ""
            }
        ));
        checkpoint.pairs.entry(pair.id()).or_default().done = true;
        saver.save(&checkpoint)?;
        total.add(counts);
    }
    out.plain(&format!(
        "written {} item(s) and object(s); {} already identical; {} conflicting",
        total.written, total.identical, total.conflicts
    ));
    Ok(())
}

/// Compares every copied bucket and table with its source; the number of
/// resources that differ.
async fn verify_all(sides: &Sides, pairs: &[Pair], out: &Printer) -> Result<usize> {
    let mut mismatched = 0;
    for pair in pairs.iter().filter(|p| p.from.kind != Kind::UserPool) {
        let (source, target, missing) = verify(sides, pair).await?;
        let verdict = if missing == 0 {
            "identical"
        } else {
            "MISMATCH"
        };
        out.plain(&format!(
            "  verify {}: {} source, fingerprint {} / target {} — {verdict}",
            pair.id(),
            source.0,
            source.1,
            target.1
        ));
        if missing > 0 {
            out.plain(&format!(
                "    {missing} source item(s) are missing or different in {}",
                pair.to.physical_id
            ));
            mismatched += 1;
        }
    }
    Ok(mismatched)
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
            let objects = list_objects(&sides.from.s3(), &pair.from.physical_id, None).await?;
            format!(
                "{} objects, {} bytes",
                objects.len(),
                objects.iter().map(|o| o.size).sum::<i64>()
            )
        }
        Kind::Table => format!(
            "{} items",
            scan_all(&sides.from.dynamodb(), &pair.from.physical_id)
                .await?
                .len()
        ),
        Kind::UserPool => {
            let users = sides
                .from
                .cognito()
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

/// (count, fingerprint) of the source, of the target's matching part, and
/// how many source entries are missing or different in the target.
async fn verify(sides: &Sides, pair: &Pair) -> Result<((usize, String), (usize, String), usize)> {
    match pair.from.kind {
        Kind::Bucket => {
            let src = list_objects(&sides.from.s3(), &pair.from.physical_id, None).await?;
            let dst = list_objects(&sides.to.s3(), &pair.to.physical_id, None).await?;
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
            let src = scan_all(&sides.from.dynamodb(), &pair.from.physical_id).await?;
            let dst_client = sides.to.dynamodb();
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
