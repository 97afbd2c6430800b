//! Named fault points for drills: with `XTASK_FAULT=<point>` a run fails
//! at that point, so a test (or a team rehearsing a bad day) can show that
//! every way out of a run leaves the stage unlocked and its journal true.
//! Unset, nothing happens.

use anyhow::{bail, Result};

/// Right after a run took the stage lock and wrote its journal.
pub const AFTER_LOCK: &str = "after-lock";

/// Fails when `XTASK_FAULT` names `point`.
pub fn inject(point: &str) -> Result<()> {
    match std::env::var("XTASK_FAULT") {
        Ok(wanted) if wanted == point => {
            bail!("injected fault at `{point}` (XTASK_FAULT={point})")
        }
        _ => Ok(()),
    }
}
