//! `cargo xtask codegen [--check]`: the generated files the repository
//! commits, written from their sources, or checked to be current.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::app::App;
use crate::paths;

/// Every generated file with its freshly generated content.
pub fn generated() -> Result<Vec<(PathBuf, String)>> {
    let root = paths::workspace_root();
    let app = App::load(&root.join(crate::app::DEFAULT_APP))?;
    let first = app
        .policy
        .stage_names()
        .first()
        .map(|s| s.to_string())
        .unwrap_or_else(|| "dev".into());
    let stage = app.stage(&first)?;
    Ok(vec![(
        root.join("docs/deploy-order.md"),
        crate::plan::deploy_order_doc(&app, &stage)?,
    )])
}

pub fn run(check: bool) -> Result<i32> {
    let mut stale = Vec::new();
    for (path, content) in generated()? {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == content {
            continue;
        }
        if check {
            stale.push(paths::display(&path));
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, content)?;
            println!("wrote {}", paths::display(&path));
        }
    }
    if !stale.is_empty() {
        bail!(
            "out of date: {}; run `cargo xtask codegen` and commit",
            stale.join(", ")
        );
    }
    Ok(0)
}
