//! `cargo xtask bootstrap <stage>`: what must exist before the first deploy
//! of a stage. The work lives in `aws::provision`.

use anyhow::Result;

use crate::aws::provision;
use crate::cli::{Global, StageArgs};
use crate::sys::output::Printer;

pub(crate) async fn run(global: &Global, args: StageArgs) -> Result<i32> {
    let out = Printer::new(false);
    let (app, stage, target) = global.open_stage(&args.at).await?;
    let account = target.account().await?;
    out.step(&format!(
        "bootstrapping stage {stage} ({}) on {}, account {account}",
        stage.region(),
        target.describe()
    ));
    provision::run(&app, &stage, &target, &out).await?;
    Ok(0)
}
