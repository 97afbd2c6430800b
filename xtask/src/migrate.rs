//! `cargo xtask migrate --from <stage> --to <stage>`: a stage's data into
//! another stage. The copy lives in `run::transfer`.

use anyhow::Result;

use crate::app::App;
use crate::aws::target::Mode;
use crate::cli::{Global, MigrateArgs};
use crate::run::transfer::{self, Migrated, Options};
use crate::sys::output::Printer;

pub(crate) async fn run(global: &Global, args: MigrateArgs) -> Result<i32> {
    let app = App::load(&global.app_dir()?)?;
    let from = app.stage(&args.from)?;
    let to = app.stage(&args.to)?;
    let opts = Options {
        from_mode: Mode::of(&from, args.rehearse, global.emulator),
        to_mode: Mode::of(&to, args.rehearse, global.emulator),
        from,
        to,
        kinds: transfer::kinds(&args.only)?,
        dry_run: args.dry_run,
        overwrite: args.overwrite,
        yes: args.yes,
        lock_wait: args.lock.lock_timeout,
    };
    let out = Printer::new(false);
    Ok(match transfer::run(&app, opts, &out).await? {
        Migrated::Planned | Migrated::Verified => 0,
        Migrated::Mismatched(_) => 1,
    })
}
