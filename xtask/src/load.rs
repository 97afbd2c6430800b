//! `cargo xtask load <stage>`: the smoke spec's checks driven at a rate
//! or a concurrency for a while, with a warm-up; per endpoint the
//! throughput, the error rate and the latency percentiles, as a table or
//! JSON, and a report (JSON and an SVG chart) kept next to the stage's
//! journals. The spec's objectives (`p95_ms`, `error_rate`) make it exit
//! 1 when missed. The generator is `smoke_tests::load`.

use anyhow::Result;
use smoke_tests::load::{Pace, Plan};

use crate::app::diag::Format;
use crate::aws::verify;
use crate::cli::{Global, LoadArgs};
use crate::run::journal;
use crate::sys::paths;

pub(crate) async fn run(global: &Global, args: LoadArgs) -> Result<i32> {
    let plan = Plan {
        pace: match args.rate {
            Some(per_second) => Pace::Rate {
                per_second,
                in_flight: args.concurrency,
            },
            None => Pace::Concurrency(args.concurrency),
        },
        duration: args.duration,
        warmup: args.warmup,
    };
    if let Err(why) = plan.check() {
        crate::errln!("error: {why}");
        return Ok(2);
    }
    let (app, stage, target) = global.open_stage(&args.at).await?;
    if stage.is_protected() && !args.yes {
        crate::sys::refuse!("stage {stage} is protected: pass --yes to load it (only its checks whose every request reads run)");
    }
    let run_id = journal::new_run_id();
    crate::errln!(
        "loading stage {stage} for {}s after a {}s warm-up",
        plan.duration.as_secs(),
        plan.warmup.as_secs()
    );
    let report = verify::load(&app, &stage, &target, &run_id, &plan).await?;
    let dir = journal::load_reports_dir(&app.name(), stage.name(), target.is_rehearsal());
    std::fs::create_dir_all(&dir)?;
    let json = serde_json::to_string_pretty(&report)?;
    let base = dir.join(&run_id);
    std::fs::write(base.with_extension("json"), &json)?;
    std::fs::write(base.with_extension("svg"), report.svg())?;
    match args.out.format {
        Format::Text => {
            crate::out!("{}", report.table())?;
            crate::outln!(
                "report: {} (chart: {})",
                paths::display(&base.with_extension("json")),
                paths::display(&base.with_extension("svg"))
            )?;
        }
        Format::Json => crate::outln!("{json}")?,
    }
    Ok(if report.ok() { 0 } else { 1 })
}
