//! `cargo xtask backup <stage>`: on-demand backups of every table of the
//! stage, a check that every bucket keeps versions, and restores. The
//! operations live in `aws::backups`.

use anyhow::Result;

use crate::aws::backups;
use crate::cli::{BackupArgs, Global};
use crate::run::guard;

pub(crate) async fn run(global: &Global, args: BackupArgs) -> Result<i32> {
    let (app, stage, target) = global.open_stage(&args.at).await?;
    if args.list {
        return backups::list(&app, &stage, &target.config).await;
    }
    if let Some(arn) = &args.restore {
        guard::confirm_protected(&stage, &app, args.yes, "restore a backup into", "")?;
        return backups::restore(&app, &stage, &target.config, arn).await;
    }
    backups::backup(&app, &stage, &target.config, &target.target).await
}
