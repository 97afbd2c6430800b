//! `cargo xtask bootstrap <stage>`: what must exist before the first deploy
//! of a stage. The work lives in `aws::provision`.

use anyhow::Result;

use crate::app::App;
use crate::aws::provision;
use crate::aws::target::{Mode, StageTarget};
use crate::cli::{Global, StageArgs};
use crate::sys::output::Printer;

pub(crate) async fn run(global: &Global, args: StageArgs) -> Result<i32> {
    let out = Printer::new(false);
    // One STS call: the account is checked and shown from the same answer.
    let app = App::load(&global.app_dir()?)?;
    let stage = app.stage(args.at.stage())?;
    let target =
        StageTarget::open(&stage, Mode::of(&stage, args.at.rehearse, global.emulator)).await?;
    let account = target.check_account(&stage).await?;
    out.step(&format!(
        "bootstrapping stage {stage} ({}) on {}, account {account}",
        stage.region(),
        target.describe()
    ));
    provision::run(&app, &stage, &target, &out).await?;
    Ok(0)
}
