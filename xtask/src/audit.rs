//! `cargo xtask audit`: every stage hazard of the app's Serverless files,
//! compiler style. The rules live in `cfn::rules`.

use anyhow::Result;

use crate::app::diag::Report;
use crate::app::App;
use crate::cfn::rules;
use crate::cli::{AuditArgs, Global};

pub(crate) fn run(global: &Global, args: AuditArgs) -> Result<i32> {
    let dir = global.app_dir()?;
    // A Compose file that cannot be read stops every command that deploys;
    // the services' own files can still be audited: as Compose names them
    // when only its keys are refused, else found in their folders as
    // without it, with the Compose file's errors said first (exit 2).
    let (app, unread) = match App::load_judging(&dir) {
        Ok(read) => read,
        Err(err) => match App::load_with(&dir, false) {
            Ok(app) if !app.services.is_empty() && compose_file_of(&err) => (app, err.0),
            _ => {
                Report::unreadable(err.0).print(args.out.format, "audit")?;
                return Ok(2);
            }
        },
    };
    if let Some(stage) = args.stage() {
        if let Err(err) = app.stage_to_audit(stage) {
            crate::errln!("error: {err}");
            return Ok(2);
        }
    }
    let mut report = rules::audit_stages(&app, args.stage());
    report.errors.extend(unread);
    report.print(args.out.format, "audit")?;
    Ok(report.exit_code())
}

/// Whether every error of `err` is the app's Compose file's.
fn compose_file_of(err: &crate::app::LoadError) -> bool {
    err.0.iter().all(|e| {
        e.path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| crate::app::config::COMPOSE_FILES.contains(&n))
    })
}
