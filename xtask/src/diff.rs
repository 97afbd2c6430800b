//! `cargo xtask diff <stage>`: what a deploy would change, per service in
//! plan order, nothing uploaded or executed. The engine is `run::diff`;
//! the comparison `cfn::diff`.

use std::sync::Arc;

use anyhow::Result;

use clap::ValueEnum;

use crate::cfn::order;
use crate::cli::{DiffArgs, Global, ViewFormat};
use crate::run::diff::{self, METHOD};
use crate::sys::output::{paint, Printer, BAD};

pub(crate) async fn run(global: &Global, args: DiffArgs) -> Result<i32> {
    let (app, stage, target) = global.open_stage(&args.at).await?;
    // A diff is most needed where the plan breaks (an export removed that
    // another service imports): then the services come in declared order.
    let (keys, order_note) = match order::checked(&app, &stage) {
        Ok((_, waves)) => (waves.concat(), None),
        Err(err) => (
            app.services
                .iter()
                .map(|s| s.key.clone())
                .collect::<Vec<_>>(),
            Some(format!(
                "the deploy would be refused before any change: {err:#}"
            )),
        ),
    };
    let keys = app.select(&keys, &args.only)?;
    let out = Arc::new(Printer::new(true).quiet_tools());
    let diffs = diff::stage(&app, &stage, &target, &keys, out).await?;
    match args.format {
        ViewFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "app": app.name(),
                "stage": stage.name(),
                "method": METHOD,
                "plan": order_note,
                "services": diffs,
            }))?
        )?,
        ViewFormat::Markdown => {
            crate::out!("{}", diff::markdown(&diffs))?;
            if let Some(note) = &order_note {
                crate::outln!("\n**plan:** {note}")?;
            }
        }
        ViewFormat::Text => {
            crate::out!("{}", diff::text(&diffs))?;
            if let Some(note) = &order_note {
                crate::outln!("{} {note}", paint(BAD, "plan:"))?;
            }
        }
    }
    let Some(fail_on) = args.fail_on else {
        return Ok(0);
    };
    let failing = diff::failing(&diffs, fail_on);
    if failing.is_empty() && order_note.is_none() {
        return Ok(0);
    }
    crate::errln!(
        "{} --fail-on {}: {}",
        paint(BAD, "failed"),
        fail_on
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default(),
        failing
            .iter()
            .map(String::as_str)
            .chain(order_note.as_deref())
            .collect::<Vec<_>>()
            .join("; ")
    );
    Ok(1)
}
