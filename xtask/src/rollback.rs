//! `cargo xtask rollback <stage> [--run ID]`: returns every service a run
//! changed to what its journal recorded before the run — an earlier
//! deployment kept in the deployment bucket, or no stack at all — by the
//! same undo rule as a failed deploy. Services the run did not change are
//! left alone, and the plan is shown before anything is done.

use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::app::App;
use crate::aws::lock::Locks;
use crate::aws::target::Mode;
use crate::cli::{Global, RollbackArgs};
use crate::run::journal::{Journal, Status};
use crate::run::stage_run::Undone;
use crate::run::undo::{self, Undo};
use crate::run::{guard, interrupt, preflight, StageRun};
use crate::sys::output::Printer;

pub(crate) async fn run(global: &Global, args: RollbackArgs) -> Result<i32> {
    let out = Arc::new(Printer::new(false));
    let app = App::load(&global.app_dir())?;
    let stage = app.stage(args.at.stage())?;
    let mode = Mode::of(&stage, args.at.rehearse, global.emulator);
    let rehearsal = mode.is_rehearsal();
    let (target, _) = preflight::connect(&app, &stage, mode, &out).await?;
    // The run's journal: on this machine, or beside the stage's lock where
    // every run publishes its own (a CI deploy rolled back from a laptop).
    let locks = target.locks();
    let name = app.name();
    let at = (name.as_str(), stage.name(), stage.region());
    let undone = match &args.run {
        Some(id) => {
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                bail!("`{}` is not a run id", id.escape_debug());
            }
            Journal::find(&locks, at, rehearsal, id)
                .await?
                .with_context(|| {
                    format!("no run {id} of stage {stage} is recorded here or beside its lock")
                })?
        }
        None => newest_deploy(&locks, at, rehearsal)
            .await?
            .with_context(|| {
                format!("no deploy run of stage {stage} is recorded; nothing to roll back")
            })?,
    };
    out.step(&format!(
        "rolling back run {} ({}, {})",
        undone.run_id,
        undone.command,
        undone.outcome.as_deref().unwrap_or("never finished")
    ));

    // The plan first: what the rule would do to each service, from what is
    // deployed now. Newest changes first: the reverse of the run's order.
    let mut records = undone.services.clone();
    records.sort_by_key(|s| std::cmp::Reverse(s.started_at));
    let stacks = target.stacks();
    let mut plan = format!("roll back run {} of stage {stage}:\n", undone.run_id);
    for record in &records {
        let what = match app.service(&record.name) {
            None => "no longer a service of the app; left as it is".to_string(),
            Some(_) if undo::untouched(record).is_some() => {
                describe(&undo::decide(record, &Default::default()))
            }
            Some(service) => {
                let now = stacks.state(service, &stage).await?;
                describe(&undo::decide(record, &now))
            }
        };
        plan.push_str(&format!("  {}: {what}\n", record.name));
    }
    out.plain(plan.trim_end());
    guard::confirm_protected(&stage, &app, args.yes, "roll back", &plan)?;

    let mut run = StageRun::begin(
        "rollback",
        &app,
        &stage,
        &target,
        args.lock.lock_timeout,
        out.clone(),
    )
    .await?;
    run.cli.set_verbose(args.verbose.verbose);
    run.record(|j| {
        j.notes.insert("undoes".into(), undone.run_id.clone());
        j.services = undone.services.clone();
    });
    let mut failed = false;
    for record in records {
        if app.service(&record.name).is_none() {
            continue;
        }
        if interrupt::requested() {
            run.record(|j| j.event("interrupted: the remaining services were left as they are"));
            failed = true;
            break;
        }
        let result = run.undo(&record).await;
        failed |= result.is_err();
        run.record(|j| {
            if let Some(entry) = j.service_mut(&record.name) {
                match result {
                    Ok(done) => entry.status = status_after(done),
                    Err(err) => {
                        entry.status = Status::RollbackFailed;
                        entry.error = Some(format!("{err:#}"));
                    }
                }
            }
        });
    }
    let journal = run
        .finish(if failed { "failed" } else { "succeeded" })
        .await;
    out.plain(&format!("\n{}", journal.summary()));
    Ok(if failed { 1 } else { 0 })
}

/// The newest deploy run of the stage, from the shared journals (every
/// machine's), else from this machine's.
async fn newest_deploy(
    locks: &Locks,
    at: (&str, &str, &str),
    rehearsal: bool,
) -> Result<Option<Journal>> {
    let mut ids = Journal::shared_runs(locks, at, rehearsal).await?;
    for path in Journal::list(at.0, at.1, rehearsal) {
        if let Some(id) = path.file_stem().map(|s| s.to_string_lossy().to_string()) {
            ids.push(id);
        }
    }
    // Run ids sort by time: newest first, each once.
    ids.sort();
    ids.dedup();
    ids.reverse();
    for id in ids.into_iter().take(50) {
        if let Some(journal) = Journal::find(locks, at, rehearsal, &id).await? {
            if journal.command == "deploy" {
                return Ok(Some(journal));
            }
        }
    }
    Ok(None)
}

/// The status a rollback run records for a service.
fn status_after(done: Undone) -> Status {
    match done {
        Undone::Kept => Status::Unchanged,
        Undone::Removed => Status::Removed,
        Undone::RolledBack => Status::RolledBack,
    }
}

/// One line of the rollback plan.
fn describe(undo: &Undo) -> String {
    match undo {
        Undo::Keep(why) => format!("left as it is ({why})"),
        Undo::Remove => "remove its stack (the run created it)".into(),
        Undo::RollbackTo(ts) => format!("roll back to deployment {ts}"),
        Undo::Refuse(why) => format!("cannot be rolled back: {why}"),
    }
}
