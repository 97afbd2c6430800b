//! `cargo xtask unlock <stage> [--force]`: shows who holds a stage's lock,
//! and with `--force` clears it (for a run that died holding it).

use anyhow::Result;

use crate::cli::{Global, UnlockArgs};
use crate::run::stage_run;

pub(crate) async fn run(global: &Global, args: UnlockArgs) -> Result<i32> {
    let (app, stage, target) = global.open_stage(&args.at).await?;
    let locks = target.locks();
    if !args.force {
        match locks.holder(&app.name(), &stage).await? {
            Some(holder) => {
                crate::outln!(
                    "stage {stage} is locked by {}\n{}",
                    holder.describe(),
                    stage_run::after_dead_run(&target, (&app.name(), &stage), &holder).await
                )?;
                Ok(1)
            }
            None => {
                crate::outln!("stage {stage} is not locked")?;
                Ok(0)
            }
        }
    } else {
        match locks.force_clear(&app.name(), &stage).await? {
            Some(holder) => crate::outln!(
                "cleared the lock of stage {stage} held by {}",
                holder.describe()
            )?,
            None => crate::outln!("stage {stage} was not locked")?,
        }
        Ok(0)
    }
}
