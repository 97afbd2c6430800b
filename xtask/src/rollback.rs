//! `cargo xtask rollback <stage> [--run ID]`: returns every service a run
//! touched to what its journal recorded before the run — an earlier
//! deployment kept in the deployment bucket, or no stack at all.

use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::app::App;
use crate::cli::{Global, RollbackArgs};
use crate::deploy::{confirm_protected, connect};
use crate::journal::{self, Journal, Status};
use crate::lock::Locks;
use crate::output::Printer;
use crate::serverless::{Cli, Sink};
use crate::stacks::Stacks;

pub async fn run(global: &Global, args: RollbackArgs) -> Result<i32> {
    let out = Arc::new(Printer::new(false));
    let dir = App::resolve_dir(global.app.as_deref());
    let app = App::load(&dir)?;
    let stage = app.stage(&args.stage)?;
    let rehearse = args.rehearse && !stage.on_emulator();
    let rehearsal = rehearse;
    let path = match &args.run {
        Some(id) => {
            if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                bail!("`{id}` is not a run id");
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
    let journal = Journal::load(&path).with_context(|| {
        format!(
            "no run {} of stage {stage}",
            args.run.as_deref().unwrap_or("")
        )
    })?;
    let (target, _) = connect(&app, &stage, rehearse, global, &out).await?;
    let plan_text = format!("roll back run {} of stage {stage}", journal.run_id);
    confirm_protected(&stage, &app, args.yes, "roll back", &plan_text)?;

    let run_id = journal::new_run_id();
    let locks = Locks::new(&target.config);
    let lock = locks
        .acquire(&app.name(), &stage, &run_id, "rollback")
        .await?;
    let cli = Cli::new(&target.target)?;
    let stacks = Stacks::new(&target.config, &target.target);
    let mut record = Journal::start("rollback", &run_id, &app, &stage, &target);
    record.notes.insert("undoes".into(), journal.run_id.clone());
    record.services = journal.services.clone();
    let mut failed = false;
    // Newest changes first: the reverse of the order the run deployed in.
    let mut services = journal.services.clone();
    services.sort_by_key(|s| std::cmp::Reverse(s.started_at));
    for service_record in services {
        let Some(service) = app.service(&service_record.name) else {
            out.plain(&format!(
                "{}: no longer a service of the app; left as it is",
                service_record.name
            ));
            continue;
        };
        let previous = service_record.previous.clone().unwrap_or_default();
        let now = stacks.state(service, &stage).await?;
        let sink = Sink {
            prefix: service_record.name.clone(),
            log: record
                .path()
                .with_extension("")
                .join(format!("{}.log", service_record.name)),
            out: out.clone(),
        };
        let result = match (previous.exists, &previous.deployment, now.exists) {
            (false, _, true) => {
                out.step(&format!(
                    "{}: removing the stack the run created",
                    service_record.name
                ));
                cli.remove(service, &stage, &sink)
                    .await
                    .map(|()| Status::Removed)
            }
            (true, Some(ts), true) if now.deployment.as_ref() != Some(ts) => {
                out.step(&format!(
                    "{}: rolling back to deployment {ts}",
                    service_record.name
                ));
                {
                    let done = cli
                        .rollback(service, &stage, ts, &sink)
                        .await
                        .map(|()| Status::RolledBack);
                    crate::fingerprint::forget(service, &stage, &stacks, &now).await;
                    done
                }
            }
            (true, _, false) => Err(anyhow::anyhow!(
                "the stack is gone; redeploy it from the commit of that run"
            )),
            _ => {
                out.step(&format!(
                    "{}: already as it was before the run",
                    service_record.name
                ));
                Ok(Status::Unchanged)
            }
        };
        if let Some(entry) = record.service_mut(&service_record.name) {
            match result {
                Ok(status) => entry.status = status,
                Err(err) => {
                    failed = true;
                    entry.status = Status::RollbackFailed;
                    entry.error = Some(format!("{err:#}"));
                }
            }
        }
        record.save()?;
    }
    record.outcome = Some(if failed { "failed" } else { "succeeded" }.into());
    record.ended_at = Some(journal::now());
    record.save()?;
    if let Err(err) = locks.release(lock).await {
        out.plain(&format!("warning: {err:#}"));
    }
    out.plain(&format!("\n{}", record.summary()));
    Ok(if failed { 1 } else { 0 })
}
