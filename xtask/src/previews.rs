//! `cargo xtask previews`: the preview stages (those a `pr-*` pattern of
//! deploy.toml allows) that have stacks of the app deployed, found by the
//! stack name each service gives a stage, for the job that removes the
//! previews of closed pull requests.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::app::stage::is_well_formed;
use crate::app::App;
use crate::aws::target::{Mode, StageTarget};
use crate::cli::{Global, PreviewsArgs, ViewFormat};

#[derive(Debug, Serialize)]
struct Deployed {
    stage: String,
    /// The app's services with a stack in that stage, in the app's order.
    services: Vec<String>,
}

pub(crate) async fn run(global: &Global, args: PreviewsArgs) -> Result<i32> {
    let app = App::load(&global.app_dir()?)?;
    let patterns: Vec<_> = app.policy.preview_patterns().cloned().collect();
    if patterns.is_empty() {
        crate::errln!(
            "error: {} allows no preview stages; declare a pattern such as `[stages.\"pr-*\"]`",
            app.policy.source_name()
        );
        return Ok(2);
    }
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pattern in &patterns {
        // The pattern's account and region, as any of its stages has them.
        let sample = app.stage(&pattern.sample())?;
        let target =
            StageTarget::open(&sample, Mode::of(&sample, args.rehearse, global.emulator)).await?;
        target.check_account(&sample).await?;
        let names = stack_names(&target).await?;
        for service in &app.services {
            let Some(template) = service.stack_name(&sample) else {
                continue;
            };
            let Some(at) = template.find(sample.name()) else {
                continue;
            };
            let (before, after) = (&template[..at], &template[at + sample.name().len()..]);
            for name in &names {
                let Some(stage) = name
                    .strip_prefix(before)
                    .and_then(|rest| rest.strip_suffix(after))
                else {
                    continue;
                };
                // Only a stage the pattern allows, named as the service
                // names that stage's stack (not `api-pr-1-old` for `pr-1`).
                let ours = pattern.matches(stage)
                    && is_well_formed(stage)
                    && app
                        .stage(stage)
                        .ok()
                        .and_then(|s| service.stack_name(&s))
                        .is_some_and(|n| n == *name);
                if ours {
                    found
                        .entry(stage.to_string())
                        .or_default()
                        .push(service.key.clone());
                }
            }
        }
    }
    let deployed: Vec<Deployed> = found
        .into_iter()
        .map(|(stage, services)| Deployed { stage, services })
        .collect();
    crate::outln!("{}", render(&deployed, args.format)?)?;
    Ok(0)
}

/// The names of the stacks the target's CloudFormation has (not deleted).
async fn stack_names(target: &StageTarget) -> Result<Vec<String>> {
    let mut pages = target.cfn().describe_stacks().into_paginator().send();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.context("cannot list the stacks")?;
        names.extend(
            page.stacks()
                .iter()
                .filter_map(|s| s.stack_name().map(str::to_string)),
        );
    }
    Ok(names)
}

fn render(deployed: &[Deployed], format: ViewFormat) -> Result<String> {
    Ok(match format {
        ViewFormat::Json => serde_json::to_string_pretty(deployed)?,
        ViewFormat::Text if deployed.is_empty() => "no preview stage is deployed".into(),
        ViewFormat::Text => {
            let mut out = String::new();
            for d in deployed {
                writeln!(out, "{}: {}", d.stage, d.services.join(", "))?;
            }
            out.trim_end().to_string()
        }
        ViewFormat::Markdown => {
            let mut out = String::from("| preview stage | services |\n|---|---|\n");
            for d in deployed {
                writeln!(out, "| {} | {} |", d.stage, d.services.join(", "))?;
            }
            out.trim_end().to_string()
        }
    })
}
