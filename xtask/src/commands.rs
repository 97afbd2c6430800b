//! Runs one parsed command: the single place that maps subcommands to the
//! modules that implement them, and outcomes to exit codes.

use anyhow::Result;

use crate::app::App;
use crate::cli::{AuditArgs, Cli, Command, LocalAction};
use crate::diag::Format;
use crate::{audit, doctor, local};

/// Runs the command; the result is the process exit code.
pub async fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Doctor => doctor::run().await,
        Command::Local(args) => match args.action {
            LocalAction::Up { port } => local::up(port).await.map(|()| 0),
            LocalAction::Down => local::down().map(|()| 0),
            LocalAction::Status => local::status().await,
            LocalAction::Logs { lines } => local::logs(lines).map(|()| 0),
        },
        Command::Audit(args) => run_audit(&cli.global, args),
    }
}

fn run_audit(global: &crate::cli::Global, args: AuditArgs) -> Result<i32> {
    let dir = App::resolve_dir(global.app.as_deref());
    let app = match App::load(&dir) {
        Ok(app) => app,
        Err(err) => {
            let report = crate::diag::Report {
                findings: Vec::new(),
                errors: err.0,
            };
            print_report(&report, args.format, "audit");
            return Ok(2);
        }
    };
    if let Some(stage) = &args.stage {
        if let Err(err) = app.stage(stage) {
            eprintln!("error: {err}");
            return Ok(2);
        }
    }
    let report = audit::audit(&app);
    print_report(&report, args.format, "audit");
    Ok(report.exit_code())
}

fn print_report(report: &crate::diag::Report, format: Format, what: &str) {
    match format {
        Format::Text => print!("{}", report.render_text(what)),
        Format::Json => println!("{}", report.render_json()),
    }
}
