//! What a deploy of a stage would change, service by service: each service
//! packaged by the pinned CLI against the stage (nothing is uploaded or
//! executed), its template compared with the one the stack was deployed
//! with (`GetTemplate`), the exports it would take away named with the
//! stacks that import them. The comparison itself is `cfn::diff`.
//!
//! Lambda code is compared by content: the packaged artifact's SHA-256
//! against the one the CLI recorded on the deployed artifact, so a new
//! upload folder alone is no change.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::app::stage::Stage;
use crate::app::{App, Service};
use crate::aws::stacks::{StackState, Stacks};
use crate::aws::target::StageTarget;
use crate::cfn::diff::{self, Action, Replacement, TemplateDiff};
use crate::run::package;
use crate::run::serverless::Serverless;
use crate::sys::output::{paint, Printer, BAD, GOOD, STRONG, WARN};
use crate::sys::paths;

/// How the comparison was made, said with every diff.
pub const METHOD: &str = "each service packaged by the pinned CLI; its template compared with the deployed one (GetTemplate) for what changes, property by property, and a CloudFormation change set (created, read and deleted, never executed) for what CloudFormation will do: where it says a resource is replaced or not, that is shown; where it says the replacement is conditional, the resource schemas' create-only properties and AWS's rules for resources that hold data decide";

/// What deploying one service would change.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceDiff {
    pub service: String,
    pub stack: String,
    /// Whether the stack exists (else the deploy creates it).
    pub deployed: bool,
    #[serde(flatten)]
    pub diff: TemplateDiff,
    /// Exports the deploy takes away that deployed stacks import.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imported: Vec<ImportedExport>,
    /// What could not be compared, and how it is shown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportedExport {
    pub export: String,
    pub output: String,
    pub importers: Vec<String>,
}

/// The diff of every service in `keys` (plan order), packaged one at a
/// time. An error names the service it comes from.
pub async fn stage(
    app: &App,
    stage: &Stage,
    target: &StageTarget,
    keys: &[String],
    out: Arc<Printer>,
) -> Result<Vec<ServiceDiff>> {
    let cli = Serverless::new(&target.target)?;
    let stacks = target.stacks();
    let cfn = target.cfn();
    let work = paths::scratch_dir().join(format!("diff-{}-{}", std::process::id(), stage.name()));
    let logs = paths::state_dir().join("diff").join(stage.name());
    let mut diffs = Vec::new();
    for key in keys {
        let service = app.service(key).context("a service of the plan")?;
        out.step(&format!("packaging {key} to compare it with its stack"));
        let dir = work.join(key);
        let result = one(
            app,
            service,
            stage,
            (&cli, &stacks, &cfn),
            &dir,
            &logs,
            &out,
        )
        .await;
        let _ = std::fs::remove_dir_all(&dir);
        diffs.push(
            result.with_context(|| format!("cannot tell what deploying {key} would change"))?,
        );
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(diffs)
}

async fn one(
    app: &App,
    service: &Service,
    stage: &Stage,
    (cli, stacks, cfn): (&Serverless, &Stacks, &aws_sdk_cloudformation::Client),
    dir: &Path,
    logs: &Path,
    out: &Arc<Printer>,
) -> Result<ServiceDiff> {
    let mut notes = Vec::new();
    let stack = service.stack_name(stage).with_context(|| {
        format!(
            "{}: cannot tell the stack name of {} for stage {stage}",
            service.display_file(),
            service.key
        )
    })?;
    let state = stacks.describe(&stack).await?;
    let packaged = match package::template(app, service, stage, (cli, stacks), dir, logs, out).await
    {
        Ok(packaged) => packaged,
        // A stack not deployed yet holds nothing to lose; it may read
        // what this very deploy creates first (`${cf:}` of a new stack).
        Err(err) if !state.exists => {
            notes.push(format!(
                "a new stack, which cannot be packaged before what it reads is deployed ({}); its resources are all new",
                format!("{err:#}").lines().last().unwrap_or_default().trim()
            ));
            return Ok(ServiceDiff {
                service: service.key.clone(),
                stack,
                deployed: false,
                diff: TemplateDiff::default(),
                imported: Vec::new(),
                notes,
            });
        }
        Err(err) => return Err(err),
    };
    notes.extend(packaged.notes);
    let mut new = packaged.template;
    let old: Option<Value> = if state.exists {
        let body = stacks
            .template(&stack)
            .await?
            .with_context(|| format!("stack {stack} has no template"))?;
        Some(serde_json::from_str(&body).with_context(|| {
            format!("the template stack {stack} was deployed with is not JSON (not deployed by the Serverless CLI?); it cannot be compared")
        })?)
    } else {
        None
    };
    if let Some(old) = &old {
        notes.extend(same_code_same_key(service, stage, stacks, &state, old, &mut new, dir).await?);
    }
    let mut diff = diff::diff(old.as_ref(), &new);
    // CloudFormation's own plan settles replacement where it can tell.
    if state.exists {
        let bucket = Stacks::deployment_bucket(service, stage, &state);
        let template = serde_json::to_string(&new)?;
        match stacks
            .planned_changes(&stack, &template, bucket.as_deref())
            .await
        {
            Ok(planned) => diff::reconcile(&mut diff, &planned, &new),
            Err(err) => notes.push(format!(
                "no change set ({err:#}): replacement is judged from the resource schemas alone"
            )),
        }
    }
    // What deploy.toml says holds data is guarded like a table.
    for change in &mut diff.resources {
        if service.declared.data.contains(&change.id) {
            change.stateful = true;
        }
    }
    let mut imported = Vec::new();
    for change in &diff.outputs {
        let Some(export) = change.export_taken() else {
            continue;
        };
        let importers: Vec<String> = crate::aws::exports::importers(cfn, export)
            .await?
            .into_iter()
            .filter(|s| *s != stack)
            .collect();
        if !importers.is_empty() {
            imported.push(ImportedExport {
                export: export.to_string(),
                output: change.name.clone(),
                importers,
            });
        }
    }
    Ok(ServiceDiff {
        service: service.key.clone(),
        stack,
        deployed: state.exists,
        diff,
        imported,
        notes,
    })
}

/// Where the packaged and the deployed template point a function (or
/// layer) at artifacts with the same content, the packaged one is given
/// the deployed key: only the upload folder differs. Returns notes for
/// artifacts that could not be compared (they show as changed).
async fn same_code_same_key(
    service: &Service,
    stage: &Stage,
    stacks: &Stacks,
    state: &StackState,
    old: &Value,
    new: &mut Value,
    dir: &Path,
) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let bucket = Stacks::deployment_bucket(service, stage, state);
    let Some(resources) = new.get_mut("Resources").and_then(Value::as_object_mut) else {
        return Ok(notes);
    };
    for (id, resource) in resources.iter_mut() {
        for code in ["Code", "Content"] {
            let pointer = format!(
                "/Resources/{}/Properties/{code}/S3Key",
                diff::pointer_escape(id)
            );
            let Some(old_key) = old.pointer(&pointer).and_then(Value::as_str) else {
                continue;
            };
            let Some(new_key) = resource.pointer_mut(&format!("/Properties/{code}/S3Key")) else {
                continue;
            };
            let Some(new_text) = new_key.as_str() else {
                continue;
            };
            if new_text == old_key {
                continue;
            }
            let local = dir.join(new_text.rsplit('/').next().unwrap_or_default());
            let deployed = match &bucket {
                Some(bucket) => stacks.artifact_sha256(bucket, old_key).await?,
                None => None,
            };
            match (sha256_base64(&local), deployed) {
                (Some(here), Some(there)) if here == there => {
                    *new_key = Value::String(old_key.to_string());
                }
                (Some(_), Some(_)) => {}
                _ => notes.push(format!(
                    "the code of {id} could not be compared with the deployed artifact; it is shown as changed"
                )),
            }
        }
    }
    Ok(notes)
}

/// The SHA-256 of a file, base64 as the CLI records it.
fn sha256_base64(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(aws_smithy_types::base64::encode(Sha256::digest(&bytes)))
}

/// The diff as text, one block per service.
pub fn text(diffs: &[ServiceDiff]) -> String {
    let mut out = String::new();
    for d in diffs {
        let count = d.diff.resources.len() + d.diff.outputs.len();
        let head = format!("{} ({})", d.service, d.stack);
        if !d.deployed && d.diff.is_empty() {
            let _ = writeln!(out, "{}: a new stack", paint(STRONG, &head));
        } else if d.diff.is_empty() {
            let _ = writeln!(
                out,
                "{}: {}",
                paint(STRONG, &head),
                paint(GOOD, "no changes")
            );
        } else {
            let what = if d.deployed {
                "change(s)"
            } else {
                "change(s), a new stack"
            };
            let _ = writeln!(out, "{}: {count} {what}", paint(STRONG, &head));
        }
        for r in &d.diff.resources {
            let (mark, verb, style) = match (r.action, r.replacement) {
                (Action::Add, _) => ("+", "add", GOOD),
                (Action::Remove, _) => ("-", "remove", BAD),
                (Action::Modify, Replacement::Always) => ("!", "replace", BAD),
                (Action::Modify, Replacement::Conditional) => ("?", "may replace", WARN),
                (Action::Modify, Replacement::Never) => ("~", "modify", WARN),
            };
            let mut line = format!("  {} {verb:<11} {} {}", paint(style, mark), r.id, r.ty);
            if !r.properties.is_empty() {
                let _ = write!(line, " ({})", r.properties.join(", "));
            }
            if !r.replaced_by.is_empty() {
                let _ = write!(
                    line,
                    "; replaced because {} changed",
                    r.replaced_by.join(", ")
                );
            }
            if let Some(name) = &r.blocked_by_name {
                line.push_str(&paint(
                    BAD,
                    &format!(" — its {name} stays the same, so CloudFormation will refuse to replace it: change the name too"),
                ));
            }
            if r.loses_data() {
                line.push_str(&paint(BAD, " — it holds data, which would be lost"));
            } else if r.takes_data() {
                line.push_str(" — it holds data; its policy keeps the old one outside the stack");
            }
            let _ = writeln!(out, "{line}");
            for v in &r.values {
                let _ = writeln!(
                    out,
                    "        {}: {} → {}",
                    v.property,
                    v.old.as_deref().unwrap_or("(none)"),
                    v.new.as_deref().unwrap_or("(none)")
                );
            }
        }
        if d.diff.versions_following_code > 0 {
            let _ = writeln!(
                out,
                "  ({} Lambda version(s) replaced with their function's code, not listed)",
                d.diff.versions_following_code
            );
        }
        for o in &d.diff.outputs {
            let (mark, verb, style) = match o.action {
                Action::Add => ("+", "add", GOOD),
                Action::Remove => ("-", "remove", BAD),
                Action::Modify => ("~", "modify", WARN),
            };
            let mut line = format!("  {} {verb:<11} output {}", paint(style, mark), o.name);
            if let Some(export) = o.export_taken() {
                let _ = write!(line, " (export {export} goes away");
                match d.imported.iter().find(|i| i.export == export) {
                    Some(i) => {
                        line.push_str(&paint(
                            BAD,
                            &format!(
                                ", imported by {}: CloudFormation will refuse the update",
                                i.importers.join(", ")
                            ),
                        ));
                    }
                    None => line.push_str(", imported by no stack"),
                }
                line.push(')');
            }
            let _ = writeln!(out, "{line}");
        }
        for note in &d.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    let _ = writeln!(out, "\nhow: {METHOD}");
    out
}

/// What a review gate fails on (`diff --fail-on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Any change at all (a new stack included).
    Changes,
    /// A resource replaced, or that may be, or removed.
    Replacements,
    /// A change that destroys data (a data store replaced or removed and
    /// not retained).
    DataLoss,
}

/// Why the diffs fail the gate `fail_on`: one line per change that does;
/// none when it passes. An export taken away that a deployed stack
/// imports fails every gate (CloudFormation would refuse the deploy).
pub fn failing(diffs: &[ServiceDiff], fail_on: FailOn) -> Vec<String> {
    let mut out = Vec::new();
    for d in diffs {
        for i in &d.imported {
            out.push(format!(
                "{}: export {} goes away, imported by {}",
                d.service,
                i.export,
                i.importers.join(", ")
            ));
        }
        if fail_on == FailOn::Changes && !d.deployed && d.diff.is_empty() {
            out.push(format!("{}: a new stack {}", d.service, d.stack));
        }
        for r in &d.diff.resources {
            let fails = match fail_on {
                FailOn::Changes => true,
                FailOn::Replacements => {
                    r.action == Action::Remove
                        || (r.action == Action::Modify && r.replacement != Replacement::Never)
                }
                FailOn::DataLoss => r.loses_data(),
            };
            if fails {
                out.push(format!("{}: {} {} ({})", d.service, verb(r), r.id, r.ty));
            }
        }
        if fail_on == FailOn::Changes {
            for o in &d.diff.outputs {
                out.push(format!("{}: output {} {:?}", d.service, o.name, o.action).to_lowercase());
            }
        }
    }
    out
}

fn verb(r: &diff::ResourceChange) -> &'static str {
    match (r.action, r.replacement) {
        (Action::Add, _) => "add",
        (Action::Remove, _) => "remove",
        (Action::Modify, Replacement::Always) => "replace",
        (Action::Modify, Replacement::Conditional) => "may replace",
        (Action::Modify, Replacement::Never) => "modify",
    }
}

/// The diffs as Markdown, for a pull-request comment: per service a table
/// of what changes, each modification with its values before and after
/// (secrets masked).
pub fn markdown(diffs: &[ServiceDiff]) -> String {
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let mut out = String::from("### What this deploy would change\n\n");
    for d in diffs {
        let head = if !d.deployed {
            "a new stack"
        } else if d.diff.is_empty() {
            "no changes"
        } else {
            "changes"
        };
        let _ = writeln!(out, "#### {} (`{}`): {head}\n", d.service, d.stack);
        if !d.diff.is_empty() {
            out.push_str("| | resource | type | what |\n| --- | --- | --- | --- |\n");
            for r in &d.diff.resources {
                let mark = match (r.action, r.replacement) {
                    (Action::Add, _) => "➕",
                    (Action::Remove, _) => "➖",
                    (Action::Modify, Replacement::Never) => "✏️",
                    (Action::Modify, _) => "♻️",
                };
                let mut what = verb(r).to_string();
                if !r.replaced_by.is_empty() {
                    let _ = write!(what, " (because {} changed)", r.replaced_by.join(", "));
                }
                if r.loses_data() {
                    what.push_str(" — **its data would be lost**");
                } else if r.takes_data() {
                    what.push_str(" — holds data; the old one is kept outside the stack");
                }
                for v in &r.values {
                    let _ = write!(
                        what,
                        "<br>`{}`: `{}` → `{}`",
                        v.property,
                        v.old.as_deref().unwrap_or("(none)"),
                        v.new.as_deref().unwrap_or("(none)")
                    );
                }
                let _ = writeln!(out, "| {mark} | `{}` | {} | {} |", r.id, r.ty, cell(&what));
            }
            for o in &d.diff.outputs {
                let _ = writeln!(
                    out,
                    "| | output `{}` | | {} |",
                    o.name,
                    cell(&format!("{:?}", o.action).to_lowercase())
                );
            }
            out.push('\n');
        }
        for i in &d.imported {
            let _ = writeln!(
                out,
                "- **export `{}` goes away, imported by {}: CloudFormation will refuse the update**",
                i.export,
                i.importers.join(", ")
            );
        }
        for note in &d.notes {
            let _ = writeln!(out, "- note: {}", cell(note));
        }
    }
    out
}
