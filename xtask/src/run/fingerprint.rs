//! Content fingerprints of services, so that a redeploy of an unchanged
//! service is skipped without starting node.
//!
//! A fingerprint covers everything a deploy is made of: the service's files
//! (its lock file standing for `node_modules`), the files it includes with
//! `${file()}`, the values of the `${cf:}` outputs and `${env:}` variables it
//! reads, the stage and region, and the Serverless CLI. It is stored with the
//! deployment (in the deployment bucket) together with the time the stack
//! last changed; a stack changed by anything else since (a rollback, a
//! deploy from elsewhere) no longer matches.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::app::stage::Stage;
use crate::app::Service;
use crate::aws::stacks::{StackState, Stacks};
use crate::{app::vars, aws::data, sys::paths};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub fingerprint: String,
    /// `StackState::changed_at` right after the deploy that stored it.
    pub stack_changed_at: String,
}

/// The object key of a service's fingerprint in its deployment bucket
/// (outside the framework's own `serverless/` prefix).
fn key(service: &Service, stage: &Stage) -> Option<String> {
    let ctx = service.vars(stage);
    let name = vars::resolve(service.name()?, &ctx)?;
    Some(format!("xtask/fingerprints/{name}/{}.json", stage.name()))
}

/// What identifies the Serverless CLI: the pinned lock file, or `SERVERLESS_BIN`.
fn cli_identity() -> String {
    match std::env::var("SERVERLESS_BIN") {
        Ok(bin) if !bin.is_empty() => format!("SERVERLESS_BIN={bin}"),
        _ => std::fs::read_to_string(
            paths::workspace_root().join("tools/serverless/package-lock.json"),
        )
        .unwrap_or_default(),
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "node_modules" || name.starts_with('.') {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => files(&entry.path(), out),
            Ok(t) if t.is_file() => out.push(entry.path()),
            _ => {}
        }
    }
}

/// The service's fingerprint for `stage`; `None` when it reads a value that
/// cannot be known without deploying (`${ssm:}`, `${s3:}`, a parameter...).
pub async fn compute(service: &Service, stage: &Stage, stacks: &Stacks) -> Result<Option<String>> {
    let mut parts = vec![
        format!("stage {} {}", stage.name(), stage.region()),
        cli_identity(),
    ];
    let mut found = Vec::new();
    files(&service.dir, &mut found);
    found.sort();
    let ctx = service.vars(stage);
    for var in vars::find_all(&service.text) {
        match var.source.as_str() {
            "sls" | "opt" | "self" | "aws" => {}
            "file" => {
                let Some(arg) = var.arg.as_deref() else {
                    continue;
                };
                match vars::resolve(arg, &ctx) {
                    Some(path) => found.push(service.dir.join(path)),
                    None => return Ok(None),
                }
            }
            "cf" => {
                let Some((stack, output)) = vars::resolve(&var.address, &ctx).and_then(|a| {
                    a.split_once('.')
                        .map(|(s, o)| (s.to_string(), o.to_string()))
                }) else {
                    return Ok(None);
                };
                let state = stacks.describe(&stack).await?;
                parts.push(format!(
                    "cf {stack}.{output}={}",
                    state.outputs.get(&output).cloned().unwrap_or_default()
                ));
            }
            "env" => parts.push(format!(
                "env {}={}",
                var.address,
                std::env::var(&var.address).unwrap_or_default()
            )),
            _ => return Ok(None),
        }
    }
    for file in found {
        let content = std::fs::read(&file).unwrap_or_default();
        let rel = file
            .strip_prefix(&service.dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        parts.push(format!(
            "file {rel} {}",
            data::fingerprint([String::from_utf8_lossy(&content).into_owned()])
        ));
    }
    Ok(Some(data::fingerprint(parts)))
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

/// Forgets the fingerprint (after a rollback: the stack no longer holds
/// what it described).
pub async fn forget(service: &Service, stage: &Stage, stacks: &Stacks, state: &StackState) {
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
        && stored.fingerprint == fingerprint
        && state.changed_at.as_deref() == Some(stored.stack_changed_at.as_str())
}
