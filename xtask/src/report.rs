//! `cargo xtask report <stage> [--run ID]`: a run drawn as a timeline
//! (`run::timeline`) from its journal on this machine: where each
//! service's time went and the critical path, as text, JSON, a Mermaid
//! Gantt chart, or an SVG picture.

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::app::App;
use crate::cli::{Global, ReportArgs, ViewFormat};
use crate::run::history::History;
use crate::run::journal::StageKey;
use crate::run::timeline::Timeline;
use crate::sys::paths;

pub(crate) async fn run(global: &Global, args: ReportArgs) -> Result<i32> {
    let app = App::load(&global.app_dir()?)?;
    let stage = app.stage(args.at.stage())?;
    let history = History::new(StageKey::all(&app, &stage, args.at.rehearse));
    let dir = StageKey::new(&app, &stage, args.at.rehearse).dir();
    let journal = match &args.run {
        Some(id) => history.find(id).await?.with_context(|| {
            format!(
                "no run {id} of stage {stage} is recorded on this machine (in {})",
                paths::display(&dir)
            )
        })?,
        None => {
            let (newest, skipped) = history.newest(|j| j.command == "deploy").await?;
            for why in skipped {
                crate::errln!("warning: skipped a record: {why}");
            }
            newest.with_context(|| {
                format!(
                    "no deploy of stage {stage} is recorded on this machine (in {}){}",
                    paths::display(&dir),
                    if args.at.rehearse {
                        ""
                    } else {
                        "; a rehearsal's runs are read with --rehearse"
                    }
                )
            })?
        }
    };
    let Some(timeline) = Timeline::of(&journal) else {
        bail!(
            "run {} recorded no timings: it deployed nothing, or it ran before the tool recorded them",
            journal.run_id
        );
    };
    if let Some(path) = &args.svg {
        std::fs::write(path, timeline.svg())
            .with_context(|| format!("cannot write {}", paths::display(path)))?;
        crate::errln!("wrote {}", paths::display(path));
    }
    match args.format {
        ViewFormat::Text => crate::out!("{}", timeline.text())?,
        ViewFormat::Markdown => crate::out!("```mermaid\n{}```\n", timeline.mermaid())?,
        ViewFormat::Json => {
            let rows: Vec<_> = timeline
                .rows
                .iter()
                .map(|row| {
                    json!({
                        "name": row.name,
                        "bars": row.bars.iter().map(|b| json!({
                            "part": b.part.label(),
                            "start_ms": b.start,
                            "end_ms": b.end,
                            "critical": b.critical,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let value = json!({
                "run_id": journal.run_id,
                "title": timeline.title,
                "length_ms": timeline.length,
                "critical_path": timeline.critical,
                "rows": rows,
            });
            crate::outln!("{}", serde_json::to_string_pretty(&value)?)?;
        }
    }
    Ok(0)
}
