//! Content fingerprints of services, so that a redeploy of an unchanged
//! service is skipped without starting node — and only then.
//!
//! A fingerprint is a SHA-256 over the bytes of everything a deploy is made
//! of: every file of the service folder (dot-files such as `.env` included,
//! symlinks followed; `node_modules` whole, nested packages included, since
//! a file edited in place there is deployed as surely as the service's own), every file it pulls in with
//! `${file()}`, files its `package.patterns` or its code reach outside the
//! folder (`../shared/**`, `import '../lib/db.js'`), paths the manifest
//! declares as `inputs`, the values of the `${cf:}` outputs, `${env:}`
//! variables and Compose params it reads, the stage and region, and the
//! Serverless CLI. What cannot be enumerated — `${ssm:}` and other values
//! only AWS knows, a bundler plugin that reads beyond the folder without
//! declared inputs — makes the service [`Fingerprint::Unknowable`]: it is
//! deployed, never skipped, and the journal says why.
//!
//! The fingerprint is stored with the deployment (in the deployment bucket)
//! together with the time the stack last changed; a stack changed by
//! anything else since (a rollback, a deploy from elsewhere) no longer
//! matches.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::stage::Stage;
use crate::app::vars::{self, Source};
use crate::app::yaml::Node;
use crate::app::Service;
use crate::aws::stacks::{StackState, Stacks};
use crate::run::pin;
use crate::sys::digests::Digests;
use crate::sys::paths;

/// A service's fingerprint, or why it cannot have one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fingerprint {
    Known(String),
    Unknowable(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub fingerprint: String,
    /// `StackState::changed_at` right after the deploy that stored it.
    pub stack_changed_at: String,
    /// The stack was rolled back to a deployment older than the newest
    /// the CLI keeps in the bucket. The CLI's own "no changes" check
    /// compares with that newest one, so it would skip a deploy of it
    /// again, leaving the old one running: the next deploy is forced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub behind_newest: bool,
    /// Then, the deployment (timestamp) the stack was returned to: what a
    /// rollback of the next deploy returns to, rather than the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<String>,
}

/// How many files and bytes a service may hash before its fingerprint is
/// given up (it is then deployed every time, and says so).
const MAX_FILES: usize = 100_000;
const MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Plugins that bundle code from wherever the sources import it.
const BUNDLERS: &[&str] = &[
    "esbuild",
    "webpack",
    "typescript",
    "bundle",
    "rollup",
    "parcel",
];

/// Folders that are outputs or caches, never inputs.
const SKIPPED_DIRS: &[&str] = &[".serverless", ".git", "node_modules"];

/// The object key of a service's fingerprint in its deployment bucket
/// (outside the framework's own `serverless/` prefix).
fn key(service: &Service, stage: &Stage) -> Option<String> {
    let name = vars::resolve(service.name()?, &service.vars(stage))?;
    Some(format!("xtask/fingerprints/{name}/{}.json", stage.name()))
}

/// What identifies the Serverless CLI: the pinned lock file, or `SERVERLESS_BIN`.
/// The CLI a fingerprint is made with, as a short hex digest (a
/// package's manifest names it).
pub fn cli_id() -> String {
    let digest = Sha256::digest(cli_identity());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

fn cli_identity() -> Vec<u8> {
    match std::env::var("SERVERLESS_BIN") {
        Ok(bin) if !bin.is_empty() => format!("SERVERLESS_BIN={bin}").into_bytes(),
        _ => crate::sys::tools::serverless_lock().to_vec(),
    }
}

/// The hash being built: every part labelled and length-prefixed, so no
/// two different inputs can run together into the same bytes.
struct Hasher(Sha256);

impl Hasher {
    fn part(&mut self, label: &str, bytes: &[u8]) {
        for piece in [label.as_bytes(), bytes] {
            self.0.update((piece.len() as u64).to_le_bytes());
            self.0.update(piece);
        }
    }

    fn finish(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The files under some roots, symlinks followed (each real folder once).
#[derive(Default)]
struct Files {
    /// In the order found; sorted and each kept once before hashing.
    found: Vec<PathBuf>,
    seen_dirs: std::collections::HashSet<std::ffi::OsString>,
    too_many: bool,
    /// Inside `node_modules`: nothing there is an output or a cache of
    /// the tool's, so nothing is skipped.
    within_modules: bool,
}

impl Files {
    /// Every file under `node_modules`, nested ones included: what npm
    /// installed is what the CLI packages, and a file edited in place
    /// there changes the deploy as much as one of the service's own.
    fn add_modules(&mut self, modules: &Path) {
        self.within_modules = true;
        self.add(modules);
        self.within_modules = false;
    }

    fn add(&mut self, path: &Path) {
        // `metadata` follows symlinks: a linked file or folder counts as
        // what it points at.
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
            self.walk(path, real);
        } else if meta.is_file() {
            self.file(path);
        }
    }

    fn file(&mut self, path: &Path) {
        if self.found.len() >= MAX_FILES {
            self.too_many = true;
        } else {
            self.found.push(path.to_path_buf());
        }
    }

    /// The folder at `path`, whose real path is `real`: each real folder
    /// is walked once, and only a link costs a look-up of where it leads.
    fn walk(&mut self, path: &Path, real: PathBuf) {
        if self.too_many || !self.seen_dirs.insert(real.clone().into_os_string()) {
            return;
        }
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !self.within_modules
                && (SKIPPED_DIRS.iter().any(|s| name == *s)
                    || name == pin::UNPINNED
                    || name == pin::UNPINNED_JSON)
            {
                continue;
            }
            let child = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => self.walk(&child, real.join(&name)),
                Ok(kind) if kind.is_file() => self.file(&child),
                Ok(kind) if kind.is_symlink() => self.add(&child),
                _ => {}
            }
        }
    }
}

/// The service's fingerprint for `stage`, with the Compose params it is
/// deployed with.
pub async fn compute(
    service: &Service,
    stage: &Stage,
    stacks: &Stacks,
    params: &[(String, String)],
) -> Result<Fingerprint> {
    let mut hash = Hasher(Sha256::new());
    hash.part(
        "stage",
        format!("{} {}", stage.name(), stage.region()).as_bytes(),
    );
    hash.part("cli", &cli_identity());
    for (name, value) in params {
        hash.part(&format!("param {name}"), value.as_bytes());
    }

    let mut files = Files::default();
    files.add(&service.dir);
    // What npm installed, every byte of it (plugins included).
    files.add_modules(&service.dir.join("node_modules"));
    for input in &service.inputs {
        files.add(input);
    }
    for outside in pattern_roots(service) {
        files.add(&outside);
    }
    for outside in imports_outside(&service.dir, &files.found) {
        files.add(&outside);
    }
    if let Some(plugin) = plugins(&service.doc)
        .into_iter()
        .find(|p| BUNDLERS.iter().any(|b| p.contains(b)))
    {
        if service.inputs.is_empty() {
            return Ok(Fingerprint::Unknowable(format!(
                "plugin {plugin} bundles code from paths it does not declare; list them as `inputs` of the service in deploy.toml to let an unchanged deploy be skipped"
            )));
        }
    }

    // Variables: the texts of the service and of every file it includes.
    let ctx = service.vars(stage);
    let reads = match vars::reads(&service.text, &service.dir, &ctx) {
        Ok(reads) => reads,
        Err(why) => return Ok(Fingerprint::Unknowable(why)),
    };
    for path in &reads.included {
        files.add(path);
    }
    for vars::Written { raw, var, .. } in &reads.variables {
        match &var.source {
            Source::Sls
            | Source::Opt
            | Source::SelfRef
            | Source::Aws
            | Source::StrToBool
            | Source::File => {}
            Source::Cf => {
                let Some((stack, output)) = vars::resolve(&var.address, &ctx).and_then(|a| {
                    a.split_once('.')
                        .map(|(s, o)| (s.to_string(), o.to_string()))
                }) else {
                    return Ok(Fingerprint::Unknowable(format!(
                        "`{raw}` names a stack only known at deploy time"
                    )));
                };
                let state = stacks.describe(&stack).await?;
                let value = state.outputs.get(&output).cloned().unwrap_or_default();
                hash.part(&format!("cf {stack}.{output}"), value.as_bytes());
            }
            Source::Env => {
                let value = std::env::var_os(&var.address).unwrap_or_default();
                hash.part(&format!("env {}", var.address), value.as_encoded_bytes());
            }
            Source::Param if params.iter().any(|(n, _)| *n == var.address) => {}
            _ => {
                return Ok(Fingerprint::Unknowable(format!(
                    "it reads `{raw}`, whose value only the deploy can know"
                )))
            }
        }
    }

    if files.too_many {
        return Ok(Fingerprint::Unknowable(format!(
            "it has more than {MAX_FILES} files to fingerprint"
        )));
    }
    // Each file by the digest of its content, remembered between runs
    // while the file system says it is unchanged; in one order whatever
    // the order the roots were walked in (bytes, which compare fast).
    files
        .found
        .sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    files.found.dedup();
    let mut digests = Digests::open(digest_store(&service.dir));
    let mut bytes = 0u64;
    for file in &files.found {
        let (digest, len) = digests.of(file).unwrap_or_default();
        bytes += len;
        if bytes > MAX_BYTES {
            return Ok(Fingerprint::Unknowable(
                "its files are larger than the fingerprint reads".into(),
            ));
        }
        let name = file.strip_prefix(&service.dir).unwrap_or(file);
        hash.part(&format!("file {}", name.display()), digest.as_bytes());
    }
    digests.save(&files.found);
    Ok(Fingerprint::Known(hash.finish()))
}

/// Where the digests of a service folder's files are remembered: one
/// store per folder, named by its path, in the state folder.
fn digest_store(dir: &Path) -> PathBuf {
    let real = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut name = Sha256::new();
    name.update(real.as_os_str().as_encoded_bytes());
    let name: String = name.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    paths::state_dir().join("digests").join(name)
}

/// The plugins the service loads (`plugins:` as a list, or `modules:`).
fn plugins(doc: &Node) -> Vec<String> {
    let Some(node) = doc.get("plugins") else {
        return Vec::new();
    };
    let list = node
        .as_seq()
        .or_else(|| node.get("modules").and_then(Node::as_seq))
        .unwrap_or_default();
    list.iter()
        .filter_map(Node::as_str)
        // A plugin path inside the service folder is hashed with it.
        .filter(|p| !p.starts_with('.'))
        .map(str::to_string)
        .collect()
}

/// The folders outside the service that its `package.patterns` (or the
/// older `include`) reach, service-wide and per function: the fixed part
/// of each `../` pattern.
fn pattern_roots(service: &Service) -> Vec<PathBuf> {
    let mut lists: Vec<&Node> = Vec::new();
    for key in ["patterns", "include"] {
        if let Some(list) = service.doc.path(&["package", key]) {
            lists.push(list);
        }
    }
    if let Some(functions) = service.doc.get("functions").and_then(Node::as_map) {
        for (_, function) in functions {
            for key in ["patterns", "include"] {
                if let Some(list) = function.path(&["package", key]) {
                    lists.push(list);
                }
            }
        }
    }
    let mut roots = Vec::new();
    for pattern in lists
        .into_iter()
        .flat_map(|l| l.as_seq().unwrap_or_default())
        .filter_map(Node::as_str)
    {
        let pattern = pattern.trim_start_matches('!');
        if !pattern.starts_with("..") && !pattern.starts_with('/') {
            continue;
        }
        let fixed: PathBuf = Path::new(pattern)
            .components()
            .take_while(|c| {
                !c.as_os_str()
                    .to_string_lossy()
                    .contains(['*', '?', '[', '{'])
            })
            .collect();
        roots.push(service.dir.join(fixed));
    }
    roots
}

/// Folders outside the service that its code imports by a relative path
/// (`import '../lib/db.js'`, `require("../../shared")`, `from ..lib`
/// aside): each is fingerprinted whole.
fn imports_outside(dir: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
    let base = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut out = BTreeSet::new();
    // The service's own code: what npm installed imports within its
    // packages, and is hashed whole anyway.
    let sources = files.iter().filter(|f| {
        !f.strip_prefix(dir)
            .unwrap_or(f)
            .components()
            .any(|c| c.as_os_str() == "node_modules")
            && f.extension().is_some_and(|e| {
                ["js", "mjs", "cjs", "ts", "mts", "cts", "jsx", "tsx"]
                    .contains(&e.to_string_lossy().as_ref())
            })
    });
    for file in sources {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let from = file.parent().unwrap_or(dir);
        for quoted in text.split(['"', '\'', '`']).skip(1).step_by(2) {
            if !quoted.starts_with("../") {
                continue;
            }
            let target = normalize(&from.join(quoted));
            if target.starts_with(&base) || target.starts_with(dir) {
                continue;
            }
            // The folder holding the imported module, whole: its own
            // imports stay beside it.
            let folder = if target.is_dir() {
                target
            } else {
                target.parent().map(Path::to_path_buf).unwrap_or(target)
            };
            out.insert(folder);
        }
    }
    out.into_iter().collect()
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The fingerprint stored with the deployment, if any.
pub async fn stored(
    service: &Service,
    stage: &Stage,
    stacks: &Stacks,
    state: &StackState,
) -> Option<Stored> {
    let bucket = Stacks::deployment_bucket(service, stage, state)?;
    let object = stacks
        .s3()
        .get_object()
        .bucket(bucket)
        .key(key(service, stage)?)
        .send()
        .await
        .ok()?;
    let bytes = object.body.collect().await.ok()?.into_bytes();
    serde_json::from_slice(&bytes).ok()
}

/// Records the fingerprint of what was just deployed.
pub async fn store(
    service: &Service,
    stage: &Stage,
    stacks: &Stacks,
    state: &StackState,
    fingerprint: &str,
) -> Result<()> {
    let (Some(bucket), Some(key), Some(changed)) = (
        Stacks::deployment_bucket(service, stage, state),
        key(service, stage),
        state.changed_at.clone(),
    ) else {
        return Ok(());
    };
    let body = serde_json::to_vec(&Stored {
        fingerprint: fingerprint.to_string(),
        stack_changed_at: changed,
        behind_newest: false,
        runs: None,
    })?;
    if let Err(err) = stacks
        .s3()
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(body.into())
        .send()
        .await
    {
        anyhow::bail!(
            "cannot record the fingerprint in {bucket}: {}",
            crate::aws::error_message(&err)
        );
    }
    Ok(())
}

/// After a rollback: the stored fingerprint no longer describes the
/// stack, and the CLI's newest kept deployment is not what runs; the
/// record says so, and the next deploy of the service is forced.
pub async fn mark_behind(
    service: &Service,
    stage: &Stage,
    stacks: &Stacks,
    state: &StackState,
    runs: &str,
) {
    let (Some(bucket), Some(key)) = (
        Stacks::deployment_bucket(service, stage, state),
        key(service, stage),
    ) else {
        return;
    };
    let marker = Stored {
        fingerprint: String::new(),
        stack_changed_at: String::new(),
        behind_newest: true,
        runs: Some(runs.to_string()),
    };
    if let Ok(body) = serde_json::to_vec(&marker) {
        let _ = stacks
            .s3()
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await;
    }
}

/// Drops the record (a forced deploy whose fingerprint cannot be known
/// leaves nothing to compare with).
pub async fn clear(service: &Service, stage: &Stage, stacks: &Stacks, state: &StackState) {
    if let (Some(bucket), Some(key)) = (
        Stacks::deployment_bucket(service, stage, state),
        key(service, stage),
    ) {
        let _ = stacks
            .s3()
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await;
    }
}

/// Whether the stack still holds exactly what the fingerprint describes.
pub fn matches(stored: &Stored, fingerprint: &str, state: &StackState) -> bool {
    let healthy = state
        .status
        .as_deref()
        .is_some_and(|s| s == "CREATE_COMPLETE" || s == "UPDATE_COMPLETE");
    healthy
        && !stored.behind_newest
        && stored.fingerprint == fingerprint
        && state.changed_at.as_deref() == Some(stored.stack_changed_at.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cannot_run_together() {
        let digest = |parts: &[(&str, &[u8])]| {
            let mut h = Hasher(Sha256::new());
            for (label, bytes) in parts {
                h.part(label, bytes);
            }
            h.finish()
        };
        // The FNV-over-lossy-UTF-8 hash this replaced gave these the same value.
        assert_ne!(
            digest(&[("file a", b"x\xff\xfe")]),
            digest(&[("file a", b"x\xfe\xff")])
        );
        assert_ne!(
            digest(&[("file a", b"bc"), ("file d", b"")]),
            digest(&[("file a", b"b"), ("file d", b"c")])
        );
        assert_eq!(digest(&[("x", b"1")]), digest(&[("x", b"1")]));
    }

    #[test]
    fn parent_paths_normalize_lexically() {
        assert_eq!(
            normalize(Path::new("/app/svc/src/../../lib/db.js")),
            Path::new("/app/lib/db.js")
        );
    }
}
