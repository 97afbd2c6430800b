//! `cargo xtask runbook <stage> [--output FILE]`: the stage's runbook,
//! written from the app (`cfn::runbook`); tb365's prod runbook is
//! committed and kept current by `codegen --check`.

use anyhow::{Context, Result};

use crate::app::App;
use crate::cli::{Global, RunbookArgs};
use crate::sys::paths;

pub(crate) fn run(global: &Global, args: RunbookArgs) -> Result<i32> {
    let app = App::load(&global.app_dir()?)?;
    let stage = app.stage(args.stage.as_str())?;
    let text = crate::cfn::runbook::runbook(&app, &stage)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", paths::display(path)))?;
            crate::errln!("wrote {}", paths::display(path));
        }
        None => crate::out!("{text}")?,
    }
    Ok(0)
}
