//! `cargo xtask backup <stage>`: on-demand backups of every table of the
//! stage, a check that every bucket keeps versions, and restores. The
//! operations live in `aws::backups`.

use anyhow::Result;

use crate::aws::backups;
use crate::cli::{BackupArgs, Global};
use crate::run::guard;
use crate::sys::output::say;

pub(crate) async fn run(global: &Global, args: BackupArgs) -> Result<i32> {
    let (app, stage, target) = global.open_stage(&args.at).await?;
    if args.list {
        for kept in backups::list(&app, &stage, &target.config).await? {
            say(&format!(
                "{}  {}  {}  {}",
                kept.table, kept.name, kept.status, kept.arn
            ));
        }
        return Ok(0);
    }
    if let Some(arn) = &args.restore {
        guard::confirm_protected(&stage, &app, args.yes, "restore a backup into", "")?;
        let (table, restored) = backups::restore(&app, &stage, &target.config, arn).await?;
        say(&format!(
            "restored {table} from {arn} into a new table {restored}"
        ));
        say(&format!("compare it, then copy what you need back (or point the service at it); {table} itself was not changed"));
        return Ok(0);
    }
    let backed = backups::backup(&app, &stage, &target.config, &target.target).await?;
    for (t, pitr) in &backed.tables {
        say(&format!(
            "backed up table {} ({}); point-in-time recovery {pitr}",
            t.table, t.arn
        ));
    }
    for b in &backed.buckets {
        if b.keeps_versions() {
            say(&format!("bucket {}: versioning on", b.bucket));
        } else {
            say(&format!(
                "bucket {}: versioning {} — overwritten or deleted objects cannot be restored; enable VersioningConfiguration in {}",
                b.bucket, b.status, b.service
            ));
        }
    }
    // A bucket that does not keep versions holds data no backup restores.
    Ok(if backed.buckets.iter().all(|b| b.keeps_versions()) {
        0
    } else {
        1
    })
}
