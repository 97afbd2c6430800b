//! Runs one parsed command: the single place that maps subcommands to the
//! modules that implement them. Every arm is `module::run(global, args)`;
//! the result is the process exit code.

use anyhow::Result;

use crate::app::App;
use crate::cli::{Cli, Command};
use crate::sys::hint;
use crate::{
    audit, backup, bench, bootstrap, checklist, codegen, deploy, diff, doctor, iam_policy, info,
    load, local, migrate, plan, previews, remove, report, rollback, runbook, sls, smoke, unlock,
    validate,
};

/// Runs the command; the result is the process exit code.
pub async fn execute(mut cli: Cli) -> Result<i32> {
    // Hints name the app this run reads and its rehearsal. A command that
    // reads no app names none, and `codegen` writes the same files from
    // any folder.
    crate::aws::set_profile(cli.global.aws_profile.clone());
    hint::set_profile(cli.global.aws_profile.clone());
    let (reads_app, _) = cli.command.uses();
    if reads_app {
        // Found once: every later `app_dir()` reads it back.
        if let Ok((app, found)) = App::resolve(cli.global.app.as_deref()) {
            // The pinned tools and the local state are the app's
            // repository's, wherever this binary was built.
            crate::sys::paths::use_root_of(&app);
            say_which_app(&app, &found);
            hint::set_target(&app, cli.command.rehearses());
            cli.global.app = Some(app);
        }
    }
    let global = &cli.global;
    match cli.command {
        Command::Doctor(args) => doctor::run(global, args).await,
        Command::Local(args) => local::run(global, args).await,
        Command::Audit(args) => audit::run(global, args),
        Command::Plan(args) => plan::run(global, args),
        Command::Validate(args) => validate::run(global, args).await,
        Command::Bootstrap(args) => bootstrap::run(global, args).await,
        Command::Deploy(args) => deploy::run(global, args).await,
        Command::Smoke(args) => smoke::run(global, args).await,
        Command::Info(args) => info::run(global, args).await,
        Command::Diff(args) => diff::run(global, args).await,
        Command::Load(args) => load::run(global, args).await,
        Command::Checklist(args) => checklist::run(global, args).await,
        Command::Runbook(args) => runbook::run(global, args),
        Command::Init(args) => crate::init::run(global, args),
        Command::Report(args) => report::run(global, args).await,
        Command::Migrate(args) => migrate::run(global, args).await,
        Command::Backup(args) => backup::run(global, args).await,
        Command::Remove(args) => remove::run(global, args).await,
        Command::Rollback(args) => rollback::run(global, args).await,
        Command::Unlock(args) => unlock::run(global, args).await,
        Command::Previews(args) => previews::run(global, args).await,
        Command::IamPolicy(args) => iam_policy::run(global, args).await,
        Command::Sls(args) => sls::run(global, args).await,
        Command::Codegen(args) => codegen::run(global, args),
        Command::Bench(args) => bench::run(global, args).await,
    }
}

/// Says which app a run works on when it was not named (`--app`,
/// `XTASK_APP`), so no one deploys the app of a folder they did not mean.
fn say_which_app(app: &std::path::Path, found: &crate::app::Found) {
    use crate::sys::paths::display;
    let canon = |p: &std::path::Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let here = std::env::current_dir().is_ok_and(|cwd| canon(&cwd) == canon(app));
    match found {
        crate::app::Found::Given => {}
        crate::app::Found::Here if here => {
            crate::errln!("app: . (the current folder; --app DIR for another)")
        }
        crate::app::Found::Here => crate::errln!(
            "app: {} (found above the current folder; --app DIR for another)",
            display(app)
        ),
        crate::app::Found::Cargo(manifest) => crate::errln!(
            "app: {} (named by {}; --app DIR for another)",
            display(app),
            display(manifest)
        ),
    }
}
