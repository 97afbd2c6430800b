//! `cargo xtask deploy <stage>`: the flags become [`run::deploy::Options`],
//! the engine ([`run::deploy::deploy`]) does the run, and this face prints
//! what it did and picks the exit code from the journal's outcome.

use std::sync::Arc;

use anyhow::Result;

use crate::app::diag::Format;
use crate::app::App;
use crate::aws::target::Mode;
use crate::cli::{DeployArgs, Global};
use crate::run::deploy::{self, Deployed, Options};
use crate::run::journal::Outcome;
use crate::run::timeline;
use crate::sys::{hint, output::Printer, paths};

/// The exit code of a deploy that changed the stage as asked but whose
/// smoke test failed: CI tells it from a failed, rolled-back deploy (1).
pub(crate) const DEPLOYED_BUT_SMOKE_FAILED: i32 = 3;

pub(crate) async fn run(global: &Global, args: DeployArgs) -> Result<i32> {
    let json = args.out.format == Format::Json;
    let out = Arc::new(Printer::new(json));
    let app = App::load(&global.app_dir()?)?;
    let stage = app.stage(args.at.stage())?;
    let mode = Mode::of(&stage, args.at.rehearse, global.emulator);
    if args.package_only {
        let dir = args.packages.clone().unwrap_or_default();
        let shard = args
            .shard
            .unwrap_or(deploy::packages::Shard { index: 1, count: 1 });
        let text = deploy::packages::package_only(
            &app,
            &stage,
            (mode, args.allow_findings),
            shard,
            &dir,
            out.clone(),
        )
        .await?;
        out.result(&text);
        out.plain(&format!(
            "deploy them with `{}`",
            hint::xtask(&format!(
                "deploy {stage} --from-packages {}",
                paths::display(&dir)
            ))
        ));
        return Ok(0);
    }
    let opts = Options {
        only: args.only,
        concurrency: args.concurrency,
        package_ahead: args.package_ahead,
        dry_run: args.dry_run,
        yes: args.yes,
        allow_findings: args.allow_findings,
        allow_mutating: args.allow_mutating,
        skip_backup: args.skip_backup,
        allow_replace: args.allow_replace,
        force: args.force,
        skip_smoke: args.skip_smoke,
        bake: args.bake,
        lock_timeout: args.lock.lock_timeout,
        verbose: args.verbose.verbose,
        from_packages: args.from_packages,
    };
    let (journal, endpoints) = match deploy::deploy(&app, &stage, mode, &opts, out.clone()).await? {
        Deployed::Preview(text) => {
            out.plain(&text);
            return Ok(0);
        }
        Deployed::Ran { journal, endpoints } => (journal, endpoints),
    };
    let timeline = timeline::save_beside(&journal);
    if json {
        out.result(&serde_json::to_string_pretty(&journal)?);
    } else {
        out.plain(&format!("\n{}", journal.summary()));
        if let Some(path) = timeline {
            out.plain(&format!(
                "timeline: {} (`{}` shows it)",
                paths::display(&path),
                hint::xtask(&format!("report {stage}"))
            ));
        }
    }
    timeline::publish_summary(&journal);
    if !json && !endpoints.is_empty() {
        let mut lines = vec!["endpoints:".to_string()];
        lines.extend(
            endpoints
                .iter()
                .map(|(service, url)| format!("{service:>16}: {url}")),
        );
        out.result(&lines.join("\n"));
    }
    Ok(match journal.outcome.unwrap_or(Outcome::Aborted) {
        Outcome::Succeeded => {
            if opts.skip_smoke {
                out.plain(&format!(
                    "smoke skipped (--skip-smoke): run `{}` next",
                    hint::xtask(&format!("smoke {stage}"))
                ));
            }
            0
        }
        Outcome::SmokeFailed => DEPLOYED_BUT_SMOKE_FAILED,
        Outcome::Interrupted => crate::INTERRUPTED,
        _ => 1,
    })
}
