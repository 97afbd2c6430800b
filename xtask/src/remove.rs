//! `cargo xtask remove <stage>`: every service of the stage in reverse
//! deploy order, under the stage lock. Protected stages need a separate
//! flag and a confirmation; buckets are emptied only when asked.

use std::sync::Arc;

use anyhow::{bail, Result};

use crate::app::App;
use crate::aws::target::Mode;
use crate::aws::{self, monitoring, provision, stacks};
use crate::cfn::order;
use crate::cli::{Global, RemoveArgs};
use crate::run::journal::{self, Outcome, ServiceRecord, Status};
use crate::run::{guard, interrupt, preflight, StageRun};
use crate::sys::{output::Printer, paths};

pub(crate) async fn run(global: &Global, args: RemoveArgs) -> Result<i32> {
    let out = Arc::new(Printer::new(false));
    let app = App::load(&global.app_dir()?)?;
    let stage = app.stage(args.at.stage())?;
    if stage.is_protected() && !args.allow_protected {
        crate::sys::refuse!("stage {stage} is protected: removing it needs --allow-protected as well as confirmation");
    }
    let (_, waves) = order::checked(&app, &stage)?;
    let mut reverse: Vec<String> = waves.into_iter().flatten().collect();
    reverse.reverse();
    let mode = Mode::of(&stage, args.at.rehearse, global.emulator);
    let (target, _) = preflight::connect(&app, &stage, mode, &out).await?;
    let plan_text = format!("remove order: {}", reverse.join(", "));
    guard::confirm_protected(&stage, &app, args.yes, "remove", &plan_text)?;

    let mut run = StageRun::begin(
        "remove",
        &app,
        &stage,
        &target,
        args.lock.lock_timeout,
        out.clone(),
    )
    .await?;
    run.cli.set_verbose(args.verbose.verbose);
    let failed = remove_all(&run, &reverse, args.empty_buckets).await?;
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

/// Removes the services in `order`, stopping at the first failure; then,
/// when all are gone, the stage's deployment buckets. True when one failed
/// or the run was interrupted.
async fn remove_all(run: &StageRun<'_>, order: &[String], empty_buckets: bool) -> Result<bool> {
    let cfn = run.target.cfn();
    let s3 = run.target.s3();
    // The monitoring stack watches the services: it goes first.
    if monitoring::remove(run.app, run.stage, &run.stacks).await? {
        let message = format!(
            "removed the monitoring stack {}",
            crate::cfn::monitoring::stack_name(&run.app.name(), run.stage)
        );
        run.out.step(&message);
        run.record(|j| j.event(message));
    }
    for key in order {
        if interrupt::requested() {
            run.record(|j| j.event("interrupted: the remaining services were left in place"));
            return Ok(true);
        }
        let service = run.service(key)?;
        let stack = service.stack_name(run.stage).unwrap_or_default();
        let previous = run.stacks.describe(&stack).await?;
        let mut record = ServiceRecord::pending(key, stack.clone());
        record.status = Status::Running;
        record.started_at = Some(journal::now());
        record.previous = Some(previous.clone());
        if !previous.exists {
            run.out
                .step(&format!("{key}: no stack {stack}, nothing to remove"));
            record.status = Status::Skipped;
            record.ended_at = Some(journal::now());
            run.record(|j| j.services.push(record));
            continue;
        }
        record.log = Some(paths::display(&run.sink(key).log));
        run.record(|j| j.services.push(record));
        if empty_buckets {
            for bucket in stacks::list_resources(&cfn, &stack)
                .await?
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.resource_type == "AWS::S3::Bucket")
                .map(|r| r.physical_id)
            {
                let n = empty_bucket(&s3, &bucket).await?;
                run.out.step(&format!(
                    "{key}: emptied bucket {bucket} ({n} object versions)"
                ));
            }
        }
        run.out.step(&format!("{key}: removing {stack}"));
        let result = run.remove_stack(service).await;
        let failed = result.is_err();
        run.record(|j| match result {
            Ok(()) => j.service_ended(key, Status::Removed, None),
            Err(err) => j.service_ended(key, Status::Failed, Some(format!("{err:#}"))),
        });
        run.publish().await;
        if failed {
            return Ok(true);
        }
    }
    for bucket in provision::deployment_buckets(run.app, run.stage) {
        if !run.stacks.bucket_exists(&bucket).await? {
            continue;
        }
        if empty_buckets {
            empty_bucket(&s3, &bucket).await?;
        }
        match s3.delete_bucket().bucket(&bucket).send().await {
            Ok(_) => run.out.step(&format!("deleted deployment bucket {bucket}")),
            Err(err) => run.out.plain(&format!(
                "kept deployment bucket {bucket}: {} (pass --empty-buckets to empty and delete it)",
                aws::error_message(&err)
            )),
        }
    }
    Ok(false)
}
/// Deletes every object version and delete marker of a bucket.
pub async fn empty_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<usize> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let mut removed = 0;
    loop {
        let page = match s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(1000)
            .send()
            .await
        {
            Ok(page) => page,
            Err(err) => bail!(
                "cannot list the objects of {bucket}: {}",
                aws::error_message(&err)
            ),
        };
        let mut ids = Vec::new();
        for v in page.versions() {
            ids.push(
                ObjectIdentifier::builder()
                    .key(v.key().unwrap_or_default())
                    .set_version_id(v.version_id().map(str::to_string))
                    .build()?,
            );
        }
        for m in page.delete_markers() {
            ids.push(
                ObjectIdentifier::builder()
                    .key(m.key().unwrap_or_default())
                    .set_version_id(m.version_id().map(str::to_string))
                    .build()?,
            );
        }
        if ids.is_empty() {
            return Ok(removed);
        }
        removed += ids.len();
        let delete = Delete::builder()
            .set_objects(Some(ids))
            .quiet(true)
            .build()?;
        if let Err(err) = s3
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
        {
            bail!("cannot empty {bucket}: {}", aws::error_message(&err));
        }
    }
}
