//! `cargo xtask rollback <stage> [--run ID]`: returns every service a run
//! changed to what its journal recorded before the run — an earlier
//! deployment kept in the deployment bucket, or no stack at all — by the
//! same undo rule as a failed deploy. Services the run did not change are
//! left alone, and the plan is shown before anything is done.

use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::app::App;
use crate::aws::target::Mode;
use crate::cli::{Global, RollbackArgs};
use crate::run::journal::{self, Journal, Status};
use crate::run::stage_run::Undone;
use crate::run::undo::{self, Undo};
use crate::run::{guard, interrupt, preflight, StageRun};
use crate::sys::output::Printer;

pub(crate) async fn run(global: &Global, args: RollbackArgs) -> Result<i32> {
    let out = Arc::new(Printer::new(false));
    let app = App::load(&global.app_dir())?;
    let stage = app.stage(&args.at.stage)?;
    let mode = Mode::of(&stage, args.at.rehearse, global.emulator);
    let rehearsal = mode.is_rehearsal();
    let path = match &args.run {
        Some(id) => {
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                bail!("`{}` is not a run id", id.escape_debug());
            }
            journal::dir(&app.name(), stage.name(), rehearsal).join(format!("{id}.json"))
        }
        None => Journal::list(&app.name(), stage.name(), rehearsal)
            .into_iter()
            .find(|p| Journal::load(p).is_ok_and(|j| j.command == "deploy"))
            .with_context(|| {
                format!("no deploy run of stage {stage} is recorded; nothing to roll back")
            })?,
    };
    let undone = Journal::load(&path).with_context(|| {
        format!(
            "no run {} of stage {stage}",
            args.run.as_deref().unwrap_or("")
        )
    })?;
    let (target, _) = preflight::connect(&app, &stage, mode, &out).await?;

    // The plan first: what the rule would do to each service, from what is
    // deployed now. Newest changes first: the reverse of the run's order.
    let mut records = undone.services.clone();
    records.sort_by_key(|s| std::cmp::Reverse(s.started_at));
    let stacks = target.stacks();
    let mut plan = format!("roll back run {} of stage {stage}:\n", undone.run_id);
    for record in &records {
        let what = match app.service(&record.name) {
            None => "no longer a service of the app; left as it is".to_string(),
            Some(service) => {
                let now = stacks.state(service, &stage).await?;
                describe(&undo::decide(record, &now))
            }
        };
        plan.push_str(&format!("  {}: {what}\n", record.name));
    }
    out.plain(plan.trim_end());
    guard::confirm_protected(&stage, &app, args.yes, "roll back", &plan)?;

    let _graceful = interrupt::graceful();
    let run = StageRun::begin(
        "rollback",
        &app,
        &stage,
        &target,
        args.lock.lock_timeout,
        out.clone(),
    )
    .await?;
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
