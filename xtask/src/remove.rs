//! `cargo xtask remove <stage>`: every service of the stage in reverse
//! deploy order, under the stage lock. Protected stages need a separate
//! flag and a confirmation; buckets are emptied only when asked.

use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::app::App;
use crate::bootstrap;
use crate::cli::{Global, RemoveArgs};
use crate::deploy::{confirm_protected, connect};
use crate::interrupt;
use crate::journal::{self, Journal, ServiceRecord, Status};
use crate::lock::Locks;
use crate::output::Printer;
use crate::serverless::{Cli, Sink};
use crate::stacks::Stacks;
use crate::{aws, plan};

pub async fn run(global: &Global, args: RemoveArgs) -> Result<i32> {
    let out = Arc::new(Printer::new(false));
    let dir = App::resolve_dir(global.app.as_deref());
    let app = App::load(&dir)?;
    let stage = app.stage(&args.stage)?;
    if stage.is_protected() && !args.allow_protected {
        bail!("stage {stage} is protected: removing it needs --allow-protected as well as confirmation");
    }
    let (graph, waves) = plan::checked(&app, &stage)?;
    let mut order: Vec<String> = waves.into_iter().flatten().collect();
    order.reverse();
    let rehearse = args.rehearse && !stage.on_emulator();
    let (target, _) = connect(&app, &stage, rehearse, global, &out).await?;
    let plan_text = format!("remove order: {}", order.join(", "));
    confirm_protected(&stage, &app, args.yes, "remove", &plan_text)?;
    let _ = graph;

    let _graceful = interrupt::graceful();
    let run_id = journal::new_run_id();
    let locks = Locks::new(&target.config);
    let lock = locks
        .acquire(&app.name(), &stage, &run_id, "remove")
        .await?;
    let result = remove_locked(
        &app,
        &stage,
        &order,
        &target,
        &run_id,
        &out,
        args.empty_buckets,
    )
    .await;
    if let Err(err) = locks.release(lock).await {
        out.plain(&format!("warning: {err:#}"));
    }
    result
}

async fn remove_locked(
    app: &App,
    stage: &crate::stage::Stage,
    order: &[String],
    target: &crate::target::StageTarget,
    run_id: &str,
    out: &Arc<Printer>,
    empty_buckets: bool,
) -> Result<i32> {
    let cli = Cli::new(&target.target)?;
    let stacks = Stacks::new(&target.config, &target.target);
    let cfn = aws_sdk_cloudformation::Client::new(&target.config);
    let s3 = aws::s3_client(&target.config, &target.target);
    let mut journal = Journal::start("remove", run_id, app, stage, target);
    journal.save()?;
    let mut failed = false;
    for key in order {
        if interrupt::requested() {
            journal.event("interrupted: the remaining services were left in place");
            failed = true;
            break;
        }
        let service = app
            .service(key)
            .context("ordered services come from the app")?;
        let stack = service
            .stack_name(stage.name(), stage.region())
            .unwrap_or_default();
        let previous = stacks.describe(&stack).await?;
        let mut record = ServiceRecord {
            name: key.clone(),
            stack: stack.clone(),
            status: Status::Running,
            started_at: Some(journal::now()),
            ended_at: None,
            previous: Some(previous.clone()),
            new: None,
            error: None,
            log: None,
        };
        if !previous.exists {
            out.step(&format!("{key}: no stack {stack}, nothing to remove"));
            record.status = Status::Skipped;
            record.ended_at = Some(journal::now());
            journal.services.push(record);
            journal.save()?;
            continue;
        }
        if empty_buckets {
            for bucket in crate::stacks::list_resources(&cfn, &stack)
                .await?
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.resource_type == "AWS::S3::Bucket")
                .map(|r| r.physical_id)
            {
                let n = empty_bucket(&s3, &bucket).await?;
                out.step(&format!(
                    "{key}: emptied bucket {bucket} ({n} object versions)"
                ));
            }
        }
        let log = journal.path().with_extension("").join(format!("{key}.log"));
        let sink = Sink {
            prefix: key.clone(),
            log: log.clone(),
            out: out.clone(),
        };
        out.step(&format!("{key}: removing {stack}"));
        record.log = Some(crate::paths::display(&log));
        match cli.remove(service, stage, &sink).await {
            Ok(()) => record.status = Status::Removed,
            Err(err) => {
                record.status = Status::Failed;
                record.error = Some(format!("{err:#}"));
                failed = true;
            }
        }
        record.ended_at = Some(journal::now());
        journal.services.push(record);
        journal.save()?;
        if failed {
            break;
        }
    }
    if !failed {
        for bucket in bootstrap::deployment_buckets(app, stage) {
            if !stacks.bucket_exists(&bucket).await? {
                continue;
            }
            if empty_buckets {
                empty_bucket(&s3, &bucket).await?;
            }
            match s3.delete_bucket().bucket(&bucket).send().await {
                Ok(_) => out.step(&format!("deleted deployment bucket {bucket}")),
                Err(err) => out.plain(&format!(
                    "kept deployment bucket {bucket}: {} (pass --empty-buckets to empty and delete it)",
                    aws::error_message(&err)
                )),
            }
        }
    }
    journal.ended_at = Some(journal::now());
    journal.outcome = Some(if failed { "failed" } else { "succeeded" }.into());
    journal.save()?;
    out.plain(&format!("\n{}", journal.summary()));
    Ok(if failed { 1 } else { 0 })
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
