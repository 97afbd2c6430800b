//! `cargo xtask plan <stage>`: the deploy order, the waves that may run in
//! parallel, and every edge with the reference that made it. The order and
//! its renderings live in `cfn::order`.

use anyhow::Result;

use crate::app::App;
use crate::cfn::order;
use crate::cli::{Global, PlanArgs};

pub(crate) fn run(global: &Global, args: PlanArgs) -> Result<i32> {
    let app = App::load(&global.app_dir()?)?;
    let stage = app.stage(args.stage.as_str())?;
    let (graph, waves) = order::checked(&app, &stage)?;
    let all: Vec<String> = waves.iter().flatten().cloned().collect();
    let packaging = order::packaging(&app, &stage, &graph, &all);
    crate::outln!(
        "{}",
        order::render(&graph, &waves, &packaging, &stage, args.format).trim_end()
    )?;
    Ok(0)
}
