//! `cargo xtask rollback <stage> [--run ID]`: returns every service a run
//! changed to what its journal recorded before the run — an earlier
//! deployment kept in the deployment bucket, or no stack at all — by the
//! same undo rule as a failed deploy. Services the run did not change are
//! left alone, and the plan is shown before anything is done.

use std::sync::Arc;

use anyhow::{Context, Result};

use crate::app::App;
use crate::aws::target::Mode;
use crate::cli::{Global, RollbackArgs};
use crate::run::history::History;
use crate::run::journal::{self, Outcome, StageKey, Status};
use crate::run::stage_run::{self, Trust, Undone};
use crate::run::undo::{Undo, Window};
use crate::run::{bake, guard, interrupt, preflight, StageRun};
use crate::sys::output::Printer;

/// How many of a stage's newest runs are read to find the one to undo.
const RUNS_READ: usize = 20;

pub(crate) async fn run(global: &Global, args: RollbackArgs) -> Result<i32> {
    let out = Arc::new(Printer::new(false));
    let app = App::load(&global.app_dir()?)?;
    let stage = app.stage(args.at.stage())?;
    let mode = Mode::of(&stage, args.at.rehearse, global.emulator);
    let rehearsal = mode.is_rehearsal();
    let (target, _) = preflight::connect(&app, &stage, mode, &out).await?;
    // The run's journal: on this machine, or beside the stage's lock where
    // every run publishes its own (a CI deploy rolled back from a laptop).
    // Either is checked against its key before it is read as a record.
    let locks = target.locks();
    let history = History::new(StageKey::all(&app, &stage, rehearsal)).with_locks(&locks);
    let runs = history
        .recent(RUNS_READ, |j| {
            matches!(j.command.as_str(), "deploy" | "rollback")
        })
        .await?;
    for why in &runs.skipped {
        out.plain(&format!("warning: skipped a record: {why}"));
    }
    let undone = match &args.run {
        Some(id) => history.find(id).await?.with_context(|| {
            format!("no run {id} of stage {stage} is recorded here or beside its lock")
        })?,
        None => runs
            .journals
            .iter()
            .find(|j| j.command == "deploy")
            .cloned()
            .with_context(|| {
                format!("no deploy run of stage {stage} is recorded; nothing to roll back")
            })?,
    };
    // Rolling back twice must neither reach further back than asked nor
    // undo what the first rollback did.
    if let Some(by) = runs.journals.iter().find(|j| {
        j.command == "rollback"
            && j.notes.get("undoes") == Some(&undone.run_id)
            && j.outcome.as_ref().is_some_and(Outcome::succeeded)
    }) {
        out.plain(&format!(
            "run {} of stage {stage} was rolled back by run {}; nothing to do",
            undone.run_id, by.run_id
        ));
        return Ok(0);
    }
    out.step(&format!(
        "rolling back run {} ({}, {})",
        undone.run_id,
        undone.command,
        undone
            .outcome
            .as_ref()
            .map_or("never finished".to_string(), Outcome::to_string)
    ));
    // A journal read back is a claim: each stack is changed only as far as
    // CloudFormation confirms that this run made it what it is.
    let trust = Trust::ReadBack(Window {
        start: undone.started_at,
        end: undone.ended_at.unwrap_or_else(journal::now),
    });

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
                let (verdict, _) =
                    stage_run::verdict(&stacks, service, &stage, record, trust).await?;
                describe(&verdict)
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
        let result = run.undo(&record, trust).await;
        failed |= result.is_err();
        run.record(|j| match result {
            Ok(done) => j.service_ended(&record.name, status_after(done), None),
            Err(err) => j.service_undo_failed(&record.name, format!("{err:#}")),
        });
    }
    // The monitoring stack follows what is deployed now.
    if let Trust::ReadBack(window) = trust {
        if let Err(err) = bake::after_undo(&run, window).await {
            run.out.plain(&format!(
                "warning: the monitoring stack was not brought back in step: {err:#}"
            ));
        }
    }
    let interrupted = interrupt::requested();
    let journal = run
        .finish(match (interrupted, failed) {
            (true, _) => Outcome::Interrupted,
            (false, true) => Outcome::Failed,
            (false, false) => Outcome::Succeeded,
        })
        .await;
    out.plain(&format!("\n{}", journal.summary()));
    Ok(match (interrupted, failed) {
        (true, _) => crate::INTERRUPTED,
        (false, true) => 1,
        (false, false) => 0,
    })
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
