//! The protected-stage guard: a protected stage changes only from a clean
//! git work tree (so the commit can be recorded) and after an explicit yes.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;

use crate::app::stage::Stage;
use crate::app::App;
use crate::sys::refuse;
use crate::sys::{git, paths};

/// Protected stages need a clean work tree and an explicit yes; `what` is
/// the verb shown ("deploy", "remove", ...) and `plan_text` what will change.
pub fn confirm_protected(
    stage: &Stage,
    app: &App,
    yes: bool,
    what: &str,
    plan_text: &str,
) -> Result<()> {
    if !stage.is_protected() {
        return Ok(());
    }
    // The tool's own folders in the repository (its pinned tools, scratch
    // space and state) are no change of the team's.
    let own = [paths::tools_dir(), paths::scratch_dir(), paths::state_dir()];
    match git::changes_except(&app.root, &own) {
        None => refuse!("stage {stage} is protected: {what} runs only from a git work tree, so the commit can be recorded"),
        Some(changes) if !changes.is_empty() => refuse!(
            "stage {stage} is protected and the work tree has uncommitted changes:\n  {}\ncommit or stash them first",
            changes.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ")
        ),
        Some(_) => {}
    }
    ask(stage, yes, what, plan_text)
}

/// On a protected stage, an explicit yes: `--yes`, or the stage's name
/// typed on a terminal after `plan_text`; refused (nothing done) otherwise.
pub fn ask(stage: &Stage, yes: bool, what: &str, plan_text: &str) -> Result<()> {
    if yes || !stage.is_protected() {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        refuse!(
            "stage {stage} is protected: pass --yes to {what} it without a terminal to confirm on"
        );
    }
    crate::sys::output::write_err(format_args!(
        "{plan_text}\nstage {stage} is protected. Type the stage name to {what} it: "
    ));
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != stage.name() {
        refuse!("not confirmed; nothing was changed");
    }
    Ok(())
}

/// The changes of a protected stage's deploy that would take data away
/// (a table, bucket, user pool… replaced or removed; retained or not, the
/// app loses it) and that `--allow-replace` does not name, as lines
/// naming each.
/// `allowed` takes `LOGICAL_ID` (in any service) or `SERVICE:LOGICAL_ID`.
pub fn unallowed_data_loss(
    diffs: &[crate::run::diff::ServiceDiff],
    allowed: &[String],
) -> Vec<String> {
    let mut refused = Vec::new();
    for d in diffs {
        for change in &d.diff.resources {
            // A replacement under an unchanged custom name cannot succeed:
            // CloudFormation refuses it half-way through the run.
            if let Some(name) = &change.blocked_by_name {
                refused.push(format!(
                    "{}:{} ({}) would have to be replaced ({} changed) under its unchanged {name}, which CloudFormation refuses; change the {name} too",
                    d.service,
                    change.id,
                    change.ty,
                    change.replaced_by.join(", ")
                ));
                continue;
            }
            if !change.takes_data() {
                continue;
            }
            let named = allowed
                .iter()
                .any(|a| a == &change.id || a == &format!("{}:{}", d.service, change.id));
            if named {
                continue;
            }
            let how = match change.action {
                crate::cfn::diff::Action::Remove => "removed".to_string(),
                _ => format!("replaced ({} changed)", change.replaced_by.join(", ")),
            };
            let fate = if change.retained {
                "its policy keeps the old one, outside the stack, and the app gets a new, empty one"
            } else {
                "and the data it holds lost"
            };
            refused.push(format!(
                "{}:{} ({}) would be {how}, {fate}",
                d.service, change.id, change.ty
            ));
        }
    }
    refused
}
