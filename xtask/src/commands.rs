//! Runs one parsed command: the single place that maps subcommands to the
//! modules that implement them, and outcomes to exit codes.

use anyhow::Result;

use crate::app::App;
use crate::cli::{
    AuditArgs, BackupArgs, Cli, Command, Global, LocalAction, PlanArgs, SmokeArgs, StageArgs,
    ValidateArgs,
};
use crate::diag::Format;
use crate::output::Printer;
use crate::target::StageTarget;
use crate::{
    audit, backup, bench, bootstrap, codegen, deep, deploy, doctor, local, migrate, plan, remove,
    rollback, smoke, unlock, validate,
};

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
        Command::Plan(args) => run_plan(&cli.global, args),
        Command::Validate(args) => run_validate(&cli.global, args).await,
        Command::Bootstrap(args) => run_bootstrap(&cli.global, args).await,
        Command::Deploy(args) => deploy::run(&cli.global, args).await,
        Command::Smoke(args) => run_smoke(&cli.global, args).await,
        Command::Migrate(args) => migrate::run(&cli.global, args).await,
        Command::Backup(args) => run_backup(&cli.global, args).await,
        Command::Remove(args) => remove::run(&cli.global, args).await,
        Command::Rollback(args) => rollback::run(&cli.global, args).await,
        Command::Unlock(args) => unlock::run(&cli.global, args).await,
        Command::Codegen(args) => codegen::run(args.check),
        Command::Bench(args) => bench::run(args).await,
    }
}

async fn run_validate(global: &Global, args: ValidateArgs) -> Result<i32> {
    let app = match App::load(&App::resolve_dir(global.app.as_deref())) {
        Ok(app) => app,
        Err(err) => {
            let report = crate::diag::Report {
                findings: Vec::new(),
                errors: err.0,
            };
            print_report(&report, args.format, "validate");
            return Ok(2);
        }
    };
    let stage = match app.stage(&args.stage) {
        Ok(stage) => stage,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(2);
        }
    };
    let mut report = validate::validate(&app, &stage);
    if args.deep {
        let more = deep::lint(&app, &stage, args.rehearse, global).await?;
        report.findings.extend(more.findings);
        report.errors.extend(more.errors);
        report = report.finish();
    }
    print_report(&report, args.format, "validate");
    Ok(report.exit_code())
}

async fn run_backup(global: &Global, args: BackupArgs) -> Result<i32> {
    let (app, stage, target) = StageTarget::open_stage(global, &args.stage, args.rehearse).await?;
    if args.list {
        return backup::list(&app, &stage, &target.config).await;
    }
    if let Some(arn) = &args.restore {
        deploy::confirm_protected(&stage, &app, args.yes, "restore a backup into", "")?;
        return backup::restore(&app, &stage, &target.config, arn).await;
    }
    backup::backup(&app, &stage, &target.config, &target.target).await
}

async fn run_smoke(global: &Global, args: SmokeArgs) -> Result<i32> {
    let (app, stage, target) = StageTarget::open_stage(global, &args.stage, args.rehearse).await?;
    let opts = smoke::SmokeOptions {
        allow_mutating: args.allow_mutating,
        run_id: crate::journal::new_run_id(),
        junit: args.junit,
        concurrency: None,
    };
    let report = smoke::run(&app, &stage, &target, &opts).await?;
    match args.format {
        Format::Text => print!("{}", report.table()),
        Format::Json => println!("{}", report.json()),
    }
    Ok(if report.ok() { 0 } else { 1 })
}

fn run_plan(global: &Global, args: PlanArgs) -> Result<i32> {
    let app = App::load(&App::resolve_dir(global.app.as_deref()))?;
    let stage = app.stage(&args.stage)?;
    let (graph, waves) = plan::checked(&app, &stage)?;
    println!(
        "{}",
        plan::render(&graph, &waves, &stage, args.format).trim_end()
    );
    Ok(0)
}

async fn run_bootstrap(global: &Global, args: StageArgs) -> Result<i32> {
    let out = Printer::new(false);
    let app = App::load(&App::resolve_dir(global.app.as_deref()))?;
    let stage = app.stage(&args.stage)?;
    let target = StageTarget::open(
        &stage,
        args.rehearse && !stage.on_emulator(),
        global.emulator,
    )
    .await?;
    let account = target.check_account(&stage).await?;
    out.step(&format!(
        "bootstrapping stage {stage} ({}) on {}, account {account}",
        stage.region(),
        target.describe()
    ));
    bootstrap::run(&app, &stage, &target, &out).await?;
    Ok(0)
}

fn run_audit(global: &Global, args: AuditArgs) -> Result<i32> {
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
