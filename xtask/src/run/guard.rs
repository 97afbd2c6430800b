//! The protected-stage guard: a protected stage changes only from a clean
//! git work tree (so the commit can be recorded) and after an explicit yes.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};

use crate::app::stage::Stage;
use crate::app::App;
use crate::sys::git;

/// Protected stages need a clean work tree and an explicit yes; `what` is
/// the verb shown ("deploy", "remove", ...) and `plan_text` what will change.
pub fn confirm_protected(
    stage: &Stage,
    app: &App,
    yes: bool,
    what: &str,
    plan_text: &str,
) -> Result<()> {
    if !stage.is_protected() {
        return Ok(());
    }
    match git::changes(&app.root) {
        None => bail!("stage {stage} is protected: {what} runs only from a git work tree, so the commit can be recorded"),
        Some(changes) if !changes.is_empty() => bail!(
            "stage {stage} is protected and the work tree has uncommitted changes:\n  {}\ncommit or stash them first",
            changes.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ")
        ),
        Some(_) => {}
    }
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "stage {stage} is protected: pass --yes to {what} it without a terminal to confirm on"
        );
    }
    eprint!("{plan_text}\nstage {stage} is protected. Type the stage name to {what} it: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != stage.name() {
        bail!("not confirmed; nothing was changed");
    }
    Ok(())
}
