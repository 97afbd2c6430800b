//! Which app a command means when it is not told: the one the current
//! folder is in, as the Serverless CLI and Compose take it, or the one
//! the repository names as its default in its Cargo manifest.

use std::path::{Path, PathBuf};

use crate::app::yaml::FileError;
use crate::app::{config, discover, App, LoadError};

/// How the app of a run was found, for the line that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// `--app` or `XTASK_APP`.
    Given,
    /// The current folder, or the nearest folder above it with a
    /// `deploy.toml` or a Compose file.
    Here,
    /// `[workspace.metadata.xtask] app` of this Cargo manifest.
    Cargo(PathBuf),
}

impl App {
    /// The app folder: `--app` (or `XTASK_APP`) when given, else the app
    /// the current folder is in ([`App::find_from`]).
    pub fn resolve_dir(arg: Option<&Path>) -> Result<PathBuf, LoadError> {
        App::resolve(arg).map(|(dir, _)| dir)
    }

    /// [`App::resolve_dir`], with how the app was found.
    pub fn resolve(arg: Option<&Path>) -> Result<(PathBuf, Found), LoadError> {
        if let Some(dir) = arg {
            return Ok((dir.to_path_buf(), Found::Given));
        }
        let cwd = std::env::current_dir().map_err(|e| {
            one_error(
                PathBuf::from("."),
                format!("cannot read the current folder ({e}); pass the app folder with --app DIR"),
            )
        })?;
        App::find_from(&cwd)?.ok_or_else(|| {
            one_error(
                cwd,
                "holds no app: no deploy.toml or serverless-compose file here or in a folder above, no serverless.yml here or below, and no `[workspace.metadata.xtask] app` in a Cargo.toml above; run the command in your app's folder or pass it with --app DIR".into(),
            )
        })
    }

    /// The app a user standing in `cwd` means, as the Serverless CLI and
    /// Compose take the current folder: the nearest folder, `cwd` or above
    /// (up to the repository's root), holding a `deploy.toml` or a
    /// Serverless Compose file; else `cwd` itself when it holds a service
    /// file; else the app the repository names in its Cargo manifest
    /// ([`named_by_cargo`]); else `cwd` when services sit in folders below
    /// it. `None` when none of these holds, so no command acts on an app
    /// the user did not mean.
    pub fn find_from(cwd: &Path) -> Result<Option<(PathBuf, Found)>, LoadError> {
        let holds = |dir: &Path, names: &[&str]| names.iter().any(|n| dir.join(n).is_file());
        for dir in cwd.ancestors() {
            if holds(dir, &["deploy.toml"]) || holds(dir, config::COMPOSE_FILES) {
                return Ok(Some((dir.to_path_buf(), Found::Here)));
            }
            if dir.join(".git").exists() {
                break;
            }
        }
        if holds(cwd, config::SERVICE_FILES) {
            return Ok(Some((cwd.to_path_buf(), Found::Here)));
        }
        if let Some((manifest, app)) = named_by_cargo(cwd)? {
            return Ok(Some((app, Found::Cargo(manifest))));
        }
        Ok((!discover(cwd).is_empty()).then(|| (cwd.to_path_buf(), Found::Here)))
    }
}

/// The app a repository names as its default, `[workspace.metadata.xtask]
/// app = "DIR"` (relative to the manifest) in the nearest Cargo workspace
/// manifest at `cwd` or above: the manifest and the app folder. An entry
/// that is not a string or names no folder is an error naming the file.
pub fn named_by_cargo(cwd: &Path) -> Result<Option<(PathBuf, PathBuf)>, LoadError> {
    let Some(manifest) = cwd
        .ancestors()
        .map(|dir| dir.join("Cargo.toml"))
        .find(|m| crate::sys::paths::is_cargo_workspace(m))
    else {
        return Ok(None);
    };
    let text = crate::app::yaml::read_text(&manifest).map_err(|e| LoadError(vec![e]))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| one_error(manifest.clone(), format!("is not valid TOML: {e}")))?;
    let entry = table
        .get("workspace")
        .and_then(|w| w.get("metadata"))
        .and_then(|m| m.get("xtask"))
        .and_then(|x| x.get("app"));
    let Some(entry) = entry else {
        return Ok(None);
    };
    let Some(relative) = entry.as_str() else {
        return Err(one_error(
            manifest,
            format!("`[workspace.metadata.xtask] app` is {entry}, not a folder; write `app = \"path/to/your-app\"`"),
        ));
    };
    let base = manifest.parent().unwrap_or(Path::new("."));
    let app = base.join(relative);
    if !app.is_dir() {
        return Err(one_error(
            manifest,
            format!("`[workspace.metadata.xtask] app = \"{relative}\"` names no folder; fix the path, or pass the app with --app DIR"),
        ));
    }
    Ok(Some((manifest, app)))
}

fn one_error(path: PathBuf, message: String) -> LoadError {
    LoadError(vec![FileError {
        path,
        pos: None,
        message,
    }])
}
