//! `cargo xtask smoke <stage>`: every endpoint of the deployed app checked
//! against its `smoke.toml`. The driver lives in `aws::verify`.

use anyhow::Result;

use crate::app::diag::Format;
use crate::aws::verify::{self, SmokeOptions};
use crate::cli::{Global, SmokeArgs};
use crate::run::journal;

pub(crate) async fn run(global: &Global, args: SmokeArgs) -> Result<i32> {
    let (app, stage, target) = global.open_stage(&args.at).await?;
    let opts = SmokeOptions {
        allow_mutating: args.allow_mutating,
        run_id: journal::new_run_id(),
        junit: args.junit,
        concurrency: None,
    };
    let report = verify::run(&app, &stage, &target, &opts).await?;
    match args.out.format {
        Format::Text => print!("{}", report.table()),
        Format::Json => println!("{}", report.json()),
    }
    Ok(if report.ok() { 0 } else { 1 })
}
