//! `cargo xtask smoke <stage>`: every endpoint of the deployed app checked
//! against its `smoke.toml`. The driver lives in `aws::verify`. `--init`
//! writes a first `smoke.toml` from the routes the Serverless files declare;
//! `--init --update` adds checks for the routes it does not check yet.

use anyhow::Result;

use crate::app::diag::Format;
use crate::app::App;
use crate::aws::endpoints;
use crate::aws::verify::{self, SmokeOptions, SPEC_FILE};
use crate::cli::{Global, SmokeArgs};
use crate::run::journal;
use crate::sys::hint;

pub(crate) async fn run(global: &Global, args: SmokeArgs) -> Result<i32> {
    if args.init {
        return init(global, &args);
    }
    let (app, stage, target) = global.open_stage(&args.at).await?;
    let opts = SmokeOptions {
        allow_mutating: args.allow_mutating,
        run_id: journal::new_run_id(),
        junit: args.junit,
        concurrency: args.concurrency,
    };
    let report = verify::run(&app, &stage, &target, &opts).await?;
    let spec = app.root.join(SPEC_FILE);
    if !spec.exists() {
        crate::errln!(
            "{} does not exist: `{}` writes a first one, a check per endpoint",
            crate::sys::paths::display(&spec),
            hint::xtask(&format!("smoke {} --init", stage.name()))
        );
    }
    match args.out.format {
        Format::Text => crate::out!("{}", report.table())?,
        Format::Json => crate::outln!("{}", report.json())?,
    }
    Ok(if report.ok() { 0 } else { 1 })
}

/// Writes `smoke.toml` with one check per declared route, to be edited:
/// GETs expect 200 (404 when the path takes a parameter the smoke run
/// fills with a fresh id), writes expect 200 and run on protected stages
/// only with `--allow-mutating`. Refuses to overwrite a spec.
fn init(global: &Global, args: &SmokeArgs) -> Result<i32> {
    let app = App::load(&global.app_dir()?)?;
    let stage = app.stage(args.at.stage())?;
    let path = app.root.join(SPEC_FILE);
    let shown = crate::sys::paths::display(&path);
    let (mut text, checked) = match (path.exists(), args.update) {
        (true, false) => {
            crate::errln!(
                "error: {shown} exists; `{}` adds checks for the endpoints it does not check, or remove it to start over",
                hint::xtask(&format!("smoke {} --init --update", stage.name()))
            );
            return Ok(2);
        }
        // Only what the spec does not check yet is added; its own text,
        // comments included, stays as it is.
        (true, true) => {
            let spec = smoke_tests::Spec::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
            let checked: Vec<(String, String)> = spec
                .checks
                .iter()
                .map(|c| (c.service.clone(), c.route()))
                .collect();
            let mut text = std::fs::read_to_string(&path)?;
            if !text.ends_with('\n') {
                text.push('\n');
            }
            (text, checked)
        }
        (false, _) => (String::from(endpoints::SPEC_HEADER), Vec::new()),
    };
    let count = endpoints::add_checks(&app, &stage, &checked, &mut text);
    if count == 0 && args.update {
        crate::outln!("{shown} checks every endpoint already; nothing added")?;
        return Ok(0);
    }
    std::fs::write(&path, text)?;
    crate::outln!(
        "{} {shown} with {count} check(s); edit the expected answers, then `{}`",
        if args.update { "added to" } else { "wrote" },
        hint::xtask(&format!("smoke {}", stage.name()))
    )?;
    Ok(0)
}
