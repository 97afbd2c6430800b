//! `cargo xtask init`: what a team's repository needs to run the tool on
//! its app, written from the app as found: a `deploy.toml` declaring its
//! services and stages, a first `smoke.toml`, and (in a repository with no
//! Cargo workspace yet) its own xtask crate with the cargo alias, the build
//! profile the engine wants and, from a checkout, the engine's lock file;
//! and the tool's GitHub workflows, pinned to the app (one the repository
//! has already is left as it is). It never overwrites: a file already
//! there stops it before anything is written.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::app::App;
use crate::aws::endpoints::{self, toml_key, toml_string};
use crate::cli::{Global, InitArgs};
use crate::sys::{hint, paths, refuse};

pub(crate) fn run(global: &Global, args: InitArgs) -> Result<i32> {
    let app = App::load(&global.app_dir()?)?;
    let root = paths::repository_of(&app.root);
    let workflows = root.join(".github/workflows");
    let kept: Vec<&str> = WORKFLOWS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| workflows.join(name).exists())
        .collect();
    let files = files(&app, &root, args.engine.as_deref())?;
    let taken: Vec<String> = files
        .iter()
        .filter(|(path, _)| path.exists())
        .map(|(path, _)| paths::display(path))
        .collect();
    if !taken.is_empty() {
        crate::errln!(
            "error: {} exist(s) already; init writes nothing over a file (move it away to have it written)",
            taken.join(", ")
        );
        return Ok(2);
    }
    for (path, text) in &files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", paths::display(dir)))?;
        }
        std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", paths::display(path)))?;
        crate::outln!("wrote {}", paths::display(path))?;
    }
    if root.join("Cargo.toml").exists() && !files.iter().any(|(p, _)| p.ends_with("Cargo.toml")) {
        crate::outln!(
            "{} is a Cargo project already: add a crate of yours with `xtask = {}` and `fn main() {{ xtask::entry::run() }}` to it, and `[profile.dev.package.sha2] opt-level = 3` to this manifest (README: \"Your own app\")",
            paths::display(&root.join("Cargo.toml")),
            engine_dependency(args.engine.as_deref())?
        )?;
    }
    if !kept.is_empty() {
        crate::outln!(
            "note: {} has {} already, left as it is",
            paths::display(&workflows),
            kept.join(", ")
        )?;
    }
    if files.iter().any(|(path, _)| path.starts_with(&workflows)) {
        crate::outln!(
            "note: the workflows deploy with GitHub's OIDC: give each environment they name (preview, stage, prod) the variables AWS_ROLE_ARN and AWS_REGION"
        )?;
    }
    let ignore = std::fs::read_to_string(root.join(".gitignore")).unwrap_or_default();
    let unlisted: Vec<&str> = ["target", ".xtask"]
        .into_iter()
        .filter(|dir| !ignore.lines().any(|l| l.trim().trim_matches('/') == *dir))
        .collect();
    if !unlisted.is_empty() {
        crate::outln!(
            "note: {} does not list {}: the tool keeps its tools and state there (add `/{}/`)",
            paths::display(&root.join(".gitignore")),
            unlisted.join(" and "),
            unlisted.join("/`, `/")
        )?;
    }
    crate::outln!(
        "next: `{}`, `{}`, then `{}`",
        hint::xtask("audit"),
        hint::xtask("plan dev"),
        hint::xtask("deploy local")
    )?;
    Ok(0)
}

/// Every file init writes, with its text.
fn files(app: &App, root: &Path, engine: Option<&str>) -> Result<Vec<(PathBuf, String)>> {
    let mut files = vec![(app.root.join("deploy.toml"), manifest(app)?)];
    let stage = app.stage("dev")?;
    let mut spec = String::from(endpoints::SPEC_HEADER);
    if endpoints::add_checks(app, &stage, &[], &mut spec) > 0 {
        files.push((app.root.join(crate::aws::verify::SPEC_FILE), spec));
    }
    if !root.join("Cargo.toml").exists() {
        let relative = app_path(app, root);
        let crate_name = format!("{}-xtask", crate_name(&app.name()));
        files.push((
            root.join("Cargo.toml"),
            format!(
                "[workspace]\nresolver = \"2\"\nmembers = [\"xtask\"]\n\n# The app `cargo xtask` works on outside any app's folder.\n[workspace.metadata.xtask]\napp = {}\n\n{PROFILE}",
                toml_string(&relative)
            ),
        ));
        files.push((
            root.join("xtask/Cargo.toml"),
            format!(
                "[package]\nname = {}\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\nxtask = {}\n",
                toml_string(&crate_name),
                engine_dependency(engine)?
            ),
        ));
        // The versions the engine is tested with, where it is a checkout
        // with its lock file: cargo keeps them, and resolves the rest.
        if let Some(lock) = engine_lock(engine) {
            files.push((root.join("Cargo.lock"), lock));
        }
        files.push((
            root.join("xtask/src/main.rs"),
            "//! `cargo xtask`: the deploy tool, run on this repository's app.\n\nfn main() {\n    xtask::entry::run()\n}\n".into(),
        ));
        files.push((
            root.join(".cargo/config.toml"),
            format!("[alias]\nxtask = \"run --quiet --package {crate_name} --\"\n"),
        ));
    }
    // The workflows this repository runs on its own app, on this one: a
    // team's own workflow of the same name is left as it is.
    for (name, text) in WORKFLOWS {
        let path = root.join(".github/workflows").join(name);
        if !path.exists() {
            files.push((path, workflow(text, &app_path(app, root))));
        }
    }
    // The tool's own folders in the repository: its pinned tools and
    // scratch space (`target/`), its local state (`.xtask/`).
    if !root.join(".gitignore").exists() {
        files.push((
            root.join(".gitignore"),
            "# The deploy tool's pinned tools and scratch space, and its local state.\n/target/\n/.xtask/\n".into(),
        ));
    }
    Ok(files)
}

/// `deploy.toml` for `app`: its name, the services as found (unless a
/// Compose file declares them), and the default stages in the region the
/// services name.
fn manifest(app: &App) -> Result<String> {
    let mut text = String::from(
        "# Written by the tool's `init`; its docs/manifest.md says what every key does.\n\n[app]\n",
    );
    writeln!(text, "name = {}", toml_string(&app.name()))?;
    let compose = app.services.iter().any(|s| s.compose);
    if !compose {
        for service in &app.services {
            let path = service
                .dir
                .strip_prefix(&app.root)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| service.dir.display().to_string());
            let path = if path.is_empty() { ".".into() } else { path };
            write!(
                text,
                "\n[services.{}]\npath = {}\n",
                toml_key(&service.key),
                toml_string(&path)
            )?;
        }
    }
    let region = app.stage("dev")?.region().to_string();
    let region = toml_string(&region);
    write!(
        text,
        "\n[stages.local]\nregion = {region}\nemulator = true\n\n[stages.dev]\nregion = {region}\n\n[stages.stage]\nregion = {region}\n\n[stages.prod]\nregion = {region}\nprotected = true\n# account = \"123456789012\"   # the credentials must be this account's\n\n[stages.\"pr-*\"]\nregion = {region}\n"
    )?;
    Ok(text)
}

/// The workflows `init` writes: this repository's own, which act on the
/// app `cargo xtask` finds, pinned to it with `XTASK_APP`.
const WORKFLOWS: &[(&str, &str)] = &[
    (
        "review.yml",
        include_str!("../../.github/workflows/review.yml"),
    ),
    (
        "preview.yml",
        include_str!("../../.github/workflows/preview.yml"),
    ),
    (
        "preview-close.yml",
        include_str!("../../.github/workflows/preview-close.yml"),
    ),
    (
        "preview-sweep.yml",
        include_str!("../../.github/workflows/preview-sweep.yml"),
    ),
    (
        "release.yml",
        include_str!("../../.github/workflows/release.yml"),
    ),
    (
        "rollback.yml",
        include_str!("../../.github/workflows/rollback.yml"),
    ),
];

/// A workflow of [`WORKFLOWS`] for the app at `app` (relative to the
/// repository): every `cargo xtask` in it works on that app.
fn workflow(text: &str, app: &str) -> String {
    let quoted = format!("'{}'", app.replace('\'', "''"));
    let env = format!(
        "env:\n  # The app every `cargo xtask` below works on.\n  XTASK_APP: {quoted}\n\njobs:\n"
    );
    format!(
        "# Written by the deploy tool's `init` (its own workflow); yours to edit.\n{}",
        text.replacen("\njobs:\n", &format!("\n{env}"), 1)
    )
}

/// The app's folder relative to the repository (`.` for its root).
fn app_path(app: &App, root: &Path) -> String {
    let relative = app
        .root
        .canonicalize()
        .unwrap_or_else(|_| app.root.clone())
        .strip_prefix(root)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| ".".into());
    if relative.is_empty() {
        ".".into()
    } else {
        relative
    }
}

/// The build profile the engine wants of the workspace that builds it
/// (profiles are the root manifest's alone): SHA-256 optimized, since
/// every deploy hashes all its service folders for the fingerprint, and
/// line tables without the full debug info, which would make the binary
/// about half a gigabyte.
const PROFILE: &str = "# The deploy tool hashes every byte a deploy is made of: SHA-256 unoptimized\n# would take seconds per deploy instead of a fraction of one.\n[profile.dev.package.sha2]\nopt-level = 3\n\n# Line tables for backtraces, not the full debug info (a binary of half a\n# gigabyte).\n[profile.dev]\ndebug = \"line-tables-only\"\n\n[profile.dev.package.\"*\"]\ndebug = false\n";

/// The lock file of the engine's checkout, when `--engine` (or the
/// default) is a folder that has one, at its root or in the crate's.
fn engine_lock(engine: Option<&str>) -> Option<String> {
    let folder = match engine {
        Some(e) if e.contains("://") || e.starts_with("git@") => return None,
        Some(e) => PathBuf::from(e),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    };
    [folder.join("Cargo.lock"), folder.join("../Cargo.lock")]
        .iter()
        .find_map(|lock| std::fs::read_to_string(lock).ok())
}

/// The engine as a dependency: `--engine` (a git URL or a folder), else
/// the checkout this binary was built from, while it is there.
fn engine_dependency(engine: Option<&str>) -> Result<String> {
    let engine = match engine {
        Some(engine) => engine.to_string(),
        None => {
            let built = Path::new(env!("CARGO_MANIFEST_DIR"));
            if !built.join("Cargo.toml").is_file() {
                refuse!(
                    "the checkout this binary was built from is gone; say where the engine is with --engine <git URL or folder>"
                );
            }
            built.display().to_string()
        }
    };
    let remote = engine.contains("://") || engine.starts_with("git@");
    Ok(match remote {
        true => format!("{{ git = {} }}", toml_string(&engine)),
        false => format!("{{ path = {} }}", toml_string(&engine)),
    })
}

/// A Cargo package name made of the app's name.
fn crate_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_lowercase(),
            false => '-',
        })
        .collect();
    let cleaned = cleaned.trim_matches('-');
    match cleaned.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => cleaned.to_string(),
        _ => format!("app-{cleaned}"),
    }
}
