//! `cargo xtask validate <stage>`: CloudFormation errors before AWS sees
//! them. The offline checks live in `cfn::rules`; `--deep` packages each
//! service and lints it (`run::lint`).

use anyhow::Result;

use crate::app::diag::Report;
use crate::app::App;
use crate::aws::target::Mode;
use crate::cfn::rules::{self, resources, variables};
use crate::cli::{Global, ValidateArgs};
use crate::run::lint;

pub(crate) async fn run(global: &Global, args: ValidateArgs) -> Result<i32> {
    // Keys Compose does not know stop it, and are said (exit 2); the
    // services it names are judged all the same, as each is deployable
    // and refusable on its own.
    let (app, refused) = match App::load_judging(&global.app_dir()?) {
        Ok(read) => read,
        Err(err) => {
            Report::unreadable(err.0).print(args.out.format, "validate")?;
            return Ok(2);
        }
    };
    // The offline checks judge the files; the deep check packages for
    // the stage's region, which must be known.
    let stage = match if args.deep {
        app.stage(args.at.stage())
    } else {
        app.stage_to_audit(args.at.stage())
    } {
        Ok(stage) => stage,
        Err(err) => {
            crate::errln!("error: {err}");
            return Ok(2);
        }
    };
    if let (Some(why), false) = (app.region_unknown(stage.name()), args.deep) {
        crate::errln!(
            "note: {why}\n  (the files are judged as in {}; plan and deploy refuse until it is declared)",
            stage.region()
        );
    }
    let mut report = rules::validate(&app, &stage);
    report.errors.extend(refused);
    if args.deep {
        let mode = Mode::of(&stage, args.at.rehearse, global.emulator);
        let more = lint::lint(&app, &stage, mode).await?;
        // A retired runtime is one cause: the offline finding says it, at
        // the line the team writes; cfn-lint's copy of it is left out.
        // The CLI failing on a variable the offline check already found is
        // the same cause, at the same line.
        let unresolved: std::collections::BTreeSet<(std::path::PathBuf, usize)> = report
            .findings
            .iter()
            .filter(|f| f.rule == variables::UNRESOLVED_VARIABLE)
            .map(|f| (f.file.clone(), f.line))
            .collect();
        let retired: std::collections::BTreeSet<std::path::PathBuf> = report
            .findings
            .iter()
            .filter(|f| f.rule == resources::UNSUPPORTED_RUNTIME)
            .map(|f| f.file.clone())
            .collect();
        report
            .findings
            .extend(more.findings.into_iter().filter(|f| {
                // cfn-lint's runtime rules: deprecated, not updatable.
                let runtime_rule = ["E2531", "E2533", "W2531"]
                    .iter()
                    .any(|id| f.fix.contains(&format!("cfn-lint {id}")));
                let retired_runtime = retired.contains(&f.file) && runtime_rule;
                let said_offline = f.rule == "cli-unresolved-variable"
                    && unresolved.contains(&(f.file.clone(), f.line));
                !(retired_runtime || said_offline)
            }));
        report.errors.extend(more.errors);
        report = report.finish();
    }
    // A `frameworkVersion` the pinned CLI cannot honour stops it first.
    report.findings.extend(crate::run::pin::refusals(&app));
    report = report.finish();
    report.print(args.out.format, "validate")?;
    Ok(report.exit_code())
}
