//! `cargo xtask audit`: every stage hazard of the app's Serverless files,
//! compiler style. The rules live in `cfn::rules`.

use anyhow::Result;

use crate::app::diag::Report;
use crate::app::App;
use crate::cfn::rules;
use crate::cli::{AuditArgs, Global};

pub(crate) fn run(global: &Global, args: AuditArgs) -> Result<i32> {
    let app = match App::load(&global.app_dir()?) {
        Ok(app) => app,
        Err(err) => {
            Report::unreadable(err.0).print(args.out.format, "audit")?;
            return Ok(2);
        }
    };
    if let Some(stage) = args.stage() {
        if let Err(err) = app.stage_to_audit(stage) {
            crate::errln!("error: {err}");
            return Ok(2);
        }
    }
    let report = rules::audit_stages(&app, args.stage());
    report.print(args.out.format, "audit")?;
    Ok(report.exit_code())
}
