//! `frameworkVersion` pins. Most apps written for Serverless Framework v3
//! pin `frameworkVersion: '3'`; the CLI this tool runs is osls 4, the
//! maintained open-source continuation of the v3 line (same configuration,
//! same plugin interface), which refuses such a pin only because of its own
//! major number. A pin that admits a 3.x version is honoured as "the v3
//! line": the service is run from a copy of its file without the pin,
//! beside it, and the journal records which CLI deployed it. A pin of an
//! older major (v1, v2) is refused before anything starts, since those
//! apps need changes to run on v3.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use semver::{Version, VersionReq};

use crate::app::yaml::Node;
use crate::app::Service;
use crate::sys::process;

/// The file name of the copy without the pin, beside the service's file.
pub const UNPINNED: &str = "serverless.xtask.yml";

/// The copy's name for a service whose config is JSON or a program: the
/// copy is the JSON of the config the CLI's reader gave.
pub const UNPINNED_JSON: &str = "serverless.xtask.json";

/// How the CLI runs a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// No pin, or one the CLI satisfies: the service's own file.
    Native,
    /// A v3 pin, run from a copy without it.
    V3Line(String),
}

/// What the service's `frameworkVersion` means for a CLI of `cli_version`.
pub fn check(service: &Service, cli_version: Option<&Version>) -> Result<Pin> {
    let Some(pin) = service.doc.get("frameworkVersion").and_then(pin_text) else {
        return Ok(Pin::Native);
    };
    // A pin from a variable (`${file(../common.yml):frameworkVersion}`)
    // is what it resolves to; one only the CLI can resolve, it judges.
    let pin = if pin.contains("${") {
        match crate::app::vars::resolve(&pin, &service.vars_at("", "")) {
            Some(resolved) if !resolved.trim().is_empty() => resolved.trim().to_string(),
            _ => return Ok(Pin::Native),
        }
    } else {
        pin
    };
    let Some(cli) = cli_version else {
        // Another CLI (`SERVERLESS_BIN`): it decides itself.
        return Ok(Pin::Native);
    };
    let Some(req) = parse(&pin) else {
        bail!(
            "{}: `frameworkVersion: {pin}` is not a version range; write one such as '3'",
            service.display_file()
        );
    };
    if req.matches(cli) {
        return Ok(Pin::Native);
    }
    if admits_major(&req, 3) {
        return Ok(Pin::V3Line(pin));
    }
    if [1, 2].iter().any(|major| admits_major(&req, *major)) {
        bail!(
            "{}: `frameworkVersion: {pin}` asks for a Serverless Framework older than v3; osls {cli} runs v3 apps: upgrade the service to v3 (the v2→v3 upgrade guide lists what changed) and pin '3'",
            service.display_file()
        )
    }
    bail!(
        "{}: `frameworkVersion: {pin}` asks for a release osls {cli}, the pinned CLI, is not (a later line, such as Serverless Inc.'s v4 releases after 4.3); pin a range osls satisfies, such as '>=3'",
        service.display_file()
    )
}

/// The services whose `frameworkVersion` the pinned CLI cannot honour,
/// each a finding at the pin: the CLI stops on them.
pub fn refusals(app: &crate::app::App) -> Vec<crate::app::diag::Finding> {
    let cli = crate::sys::tools::pinned_cli_version();
    let mut out = Vec::new();
    for service in &app.services {
        let Err(why) = check(service, cli.as_ref()) else {
            continue;
        };
        let Some(node) = service.doc.get("frameworkVersion") else {
            continue;
        };
        let prefix = format!("{}: ", service.display_file());
        let why = why.to_string();
        let why = why.strip_prefix(&prefix).unwrap_or(&why);
        out.push(crate::app::diag::Finding::new(
            &service.file,
            node.pos,
            FRAMEWORK_VERSION,
            format!("the Serverless CLI stops before it reads anything else: {why}"),
            "pin a range the CLI satisfies (`frameworkVersion: '3'`) once the service runs on v3",
        ));
    }
    out
}

/// The rule of [`refusals`].
pub const FRAMEWORK_VERSION: &str = "framework-version";

/// Whether some release of `major` satisfies the range (every v3 release
/// had a minor below 120).
fn admits_major(req: &VersionReq, major: u64) -> bool {
    (0..120).any(|minor| (0..30).any(|patch| req.matches(&Version::new(major, minor, patch))))
}

fn pin_text(node: &Node) -> Option<String> {
    let text = node.as_str()?.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// npm-style ranges: `3`, `^3.0.0`, `>=3.0.0 <4.0.0`, `3.x`.
fn parse(pin: &str) -> Option<VersionReq> {
    let normalized = pin
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(", ")
        .replace(", ,", ",");
    VersionReq::parse(&normalized).ok()
}

/// The version of the pinned CLI, from the package behind `program`.
pub fn cli_version(program: &Path) -> Option<Version> {
    let real = program.canonicalize().ok()?;
    let mut dir = real.parent();
    while let Some(d) = dir {
        if let Ok(text) = std::fs::read_to_string(d.join("package.json")) {
            let value: serde_json::Value = serde_json::from_str(&text).ok()?;
            return Version::parse(value.get("version")?.as_str()?).ok();
        }
        dir = d.parent();
    }
    None
}

/// Writes the copy of the service's file without its top-level
/// `frameworkVersion` (and, when `relaxed`, with `configValidationMode:
/// warn`), and returns its path.
pub fn write_unpinned(service: &Service, relaxed: bool) -> Result<PathBuf> {
    let is_yaml = matches!(
        service.file.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    );
    let (name, text) = if is_yaml {
        let text: String = service
            .text
            .split_inclusive('\n')
            .filter(|line| !line.starts_with("frameworkVersion:"))
            .filter(|line| !(relaxed && line.starts_with("configValidationMode:")))
            .collect();
        let text = if relaxed {
            format!("{}\nconfigValidationMode: warn\n", text.trim_end())
        } else {
            text
        };
        (UNPINNED, text)
    } else {
        let mut config: serde_json::Value = serde_json::from_str(&service.text)?;
        if let Some(map) = config.as_object_mut() {
            map.remove("frameworkVersion");
            if relaxed {
                map.insert("configValidationMode".into(), "warn".into());
            }
        }
        (UNPINNED_JSON, serde_json::to_string_pretty(&config)?)
    };
    let path = service.dir.join(name);
    if path.exists() && !ours(&path) {
        bail!(
            "{} is not a copy this tool wrote, and the tool writes the copy of a pinned config there; rename it (nothing was changed)",
            crate::sys::paths::display(&path)
        );
    }
    std::fs::write(&path, &text)?;
    let record = record_of(&path);
    if let Some(parent) = record.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(
        &record,
        format!("{} {}", digest(text.as_bytes()), process::owner_mark()),
    )?;
    Ok(path)
}

/// Removes a copy this tool wrote (and only such a copy).
pub fn remove_unpinned(path: &Path) {
    if ours(path) {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(record_of(path));
}

/// Removes the copies that runs of this tool killed before they could
/// (their owner no longer runs) from the services' folders.
pub fn sweep_unpinned(services: &[Service]) {
    for dir in services.iter().map(|s| &s.dir) {
        for name in [UNPINNED, UNPINNED_JSON] {
            let path = dir.join(name);
            let owner = std::fs::read_to_string(record_of(&path)).unwrap_or_default();
            let owner = owner.split_once(' ').map(|(_, o)| o).unwrap_or_default();
            if path.exists() && ours(&path) && !process::owner_alive(owner) {
                remove_unpinned(&path);
            }
        }
    }
}

/// Whether the file at `path` is the copy this tool last wrote there: its
/// record (kept in the state folder, not beside it) names its content.
fn ours(path: &Path) -> bool {
    let Ok(record) = std::fs::read_to_string(record_of(path)) else {
        return false;
    };
    let Ok(content) = std::fs::read(path) else {
        return false;
    };
    record.split(' ').next() == Some(digest(&content).as_str())
}

/// Where the record of a copy written at `path` is kept.
fn record_of(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    crate::sys::paths::state_dir()
        .join("written")
        .join(&digest(absolute.as_os_str().as_encoded_bytes())[..24])
}

fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::yaml;

    fn service(pin: &str) -> Service {
        let text = format!("service: a\nframeworkVersion: '{pin}'\nprovider:\n  name: aws\n");
        Service::new(
            "a".into(),
            "a".into(),
            "a/serverless.yml".into(),
            text.clone(),
            yaml::parse(&text).unwrap(),
            Vec::new(),
        )
    }

    fn service_in(dir: &Path) -> Service {
        let text = "service: a\nframeworkVersion: '3'\nprovider:\n  name: aws\n".to_string();
        Service::new(
            "a".into(),
            dir.to_path_buf(),
            dir.join("serverless.yml"),
            text.clone(),
            yaml::parse(&text).unwrap(),
            Vec::new(),
        )
    }

    #[test]
    fn a_file_of_the_copy_s_name_that_is_not_ours_is_never_written_over() {
        let dir = crate::sys::paths::scratch_dir().join(format!("pin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let service = service_in(&dir);
        let theirs = dir.join(UNPINNED);
        std::fs::write(&theirs, "mine: true\n").unwrap();
        let err = write_unpinned(&service, false).unwrap_err().to_string();
        assert!(err.contains("is not a copy this tool wrote"), "{err}");
        remove_unpinned(&theirs);
        sweep_unpinned(std::slice::from_ref(&service));
        assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "mine: true\n");

        // Ours: written, then removed; one a dead run left is swept.
        std::fs::remove_file(&theirs).unwrap();
        let copy = write_unpinned(&service, false).unwrap();
        assert!(!std::fs::read_to_string(&copy)
            .unwrap()
            .contains("frameworkVersion"));
        sweep_unpinned(std::slice::from_ref(&service));
        assert!(copy.exists(), "its owner (this process) still runs");
        remove_unpinned(&copy);
        assert!(!copy.exists());
        let copy = write_unpinned(&service, false).unwrap();
        let record = record_of(&copy);
        let text = std::fs::read_to_string(&record).unwrap();
        let digest = text.split(' ').next().unwrap().to_string();
        // A pid beyond any the kernel hands out: no such process.
        std::fs::write(&record, format!("{digest} 4194305:1")).unwrap();
        sweep_unpinned(std::slice::from_ref(&service));
        assert!(!copy.exists(), "a dead run's copy stays");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pins_are_honoured_by_their_line() {
        let osls = Version::new(4, 3, 1);
        for pin in ["4", "^4.0.0", ">=3", "*"] {
            assert_eq!(
                check(&service(pin), Some(&osls)).unwrap(),
                Pin::Native,
                "{pin}"
            );
        }
        for pin in ["3", "^3.0.0", ">=3.0.0 <4.0.0", "3.x", "~3.38.0"] {
            assert!(
                matches!(check(&service(pin), Some(&osls)).unwrap(), Pin::V3Line(_)),
                "{pin}"
            );
        }
        for pin in ["2", "1.x", ">=2.0.0 <3.0.0"] {
            let err = check(&service(pin), Some(&osls)).unwrap_err().to_string();
            assert!(err.contains("older than v3"), "{pin}: {err}");
        }
        for pin in ["4.4.x", "^4.5.0", "5"] {
            let err = check(&service(pin), Some(&osls)).unwrap_err().to_string();
            assert!(!err.contains("older"), "{pin}: {err}");
            assert!(err.contains("is not (a later line"), "{pin}: {err}");
        }
    }
}
