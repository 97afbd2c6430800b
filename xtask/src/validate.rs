//! `cargo xtask validate <stage>`: CloudFormation errors before AWS sees
//! them. The offline checks live in `cfn::checks`; `--deep` packages each
//! service and lints it (`run::lint`).

use anyhow::Result;

use crate::app::diag::Report;
use crate::app::App;
use crate::aws::target::Mode;
use crate::cfn::checks;
use crate::cli::{Global, ValidateArgs};
use crate::run::lint;

pub(crate) async fn run(global: &Global, args: ValidateArgs) -> Result<i32> {
    let app = match App::load(&global.app_dir()) {
        Ok(app) => app,
        Err(err) => {
            Report::unreadable(err.0).print(args.out.format, "validate");
            return Ok(2);
        }
    };
    let stage = match app.stage(&args.at.stage) {
        Ok(stage) => stage,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(2);
        }
    };
    let mut report = checks::validate(&app, &stage);
    if args.deep {
        let mode = Mode::of(&stage, args.at.rehearse, global.emulator);
        let more = lint::lint(&app, &stage, mode).await?;
        report.findings.extend(more.findings);
        report.errors.extend(more.errors);
        report = report.finish();
    }
    report.print(args.out.format, "validate");
    Ok(report.exit_code())
}
