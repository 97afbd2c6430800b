//! `cargo xtask checklist <stage>`: the seed's production checklist as
//! checks, each ✔ (done, with its evidence), ✘ (not done, with what to do)
//! or – (does not apply). The evidence is `run::checklist`'s; this prints
//! it. Exit 1 when an item fails.

use std::fmt::Write as _;

use anyhow::Result;

use crate::cli::{ChecklistArgs, Global, ViewFormat};
use crate::run::checklist::{self, Mark};

pub(crate) async fn run(global: &Global, args: ChecklistArgs) -> Result<i32> {
    let (app, stage, target) = global.open_stage(&args.at).await?;
    let rehearsal = target.is_rehearsal();
    let items = checklist::items(&app, &stage, &target).await;
    let failed = items.iter().filter(|i| i.mark == Mark::NotDone).count();
    let head = format!(
        "production checklist of {} · stage {stage}{}",
        app.name(),
        if rehearsal {
            " (rehearsal on the emulator)"
        } else {
            ""
        }
    );
    match args.format {
        ViewFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "app": app.name(), "stage": stage.name(), "rehearsal": rehearsal,
                "passed": failed == 0, "items": items,
            }))?
        )?,
        ViewFormat::Markdown => {
            let mut out = format!("### {head}\n\n| | item | evidence |\n| --- | --- | --- |\n");
            for i in &items {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    i.mark.symbol(),
                    i.title,
                    i.evidence.replace('|', "\\|").replace('\n', " ")
                );
            }
            crate::out!("{out}")?;
        }
        ViewFormat::Text => {
            let mut out = format!("{head}\n");
            for i in &items {
                let _ = writeln!(out, "  {} {:<38} {}", i.mark.symbol(), i.title, i.evidence);
            }
            let _ = writeln!(
                out,
                "{}",
                if failed == 0 {
                    "every item is done".to_string()
                } else {
                    format!("{failed} item(s) not done")
                }
            );
            crate::out!("{out}")?;
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}
