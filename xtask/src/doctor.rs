//! `cargo xtask doctor`: one table of every prerequisite, with the fix for
//! each one that is missing, then what the app it finds (or `--app`) needs:
//! its files readable, every plugin its services list installed or
//! installed by the deploy, a host node for its Node.js runtimes. It
//! reports and installs nothing.

#![allow(clippy::disallowed_methods, reason = "asks each tool for its version")]

use std::process::Command;

use anyhow::Result;

use crate::app::yaml::Node;
use crate::app::{App, Service};
use crate::cli::{DoctorArgs, Global};
use crate::{aws::emulator, sys::tools};

/// One line of the table.
pub struct Check {
    pub what: String,
    pub ok: bool,
    pub required: bool,
    pub found: String,
    pub fix: String,
}

pub(crate) async fn run(global: &Global, _args: DoctorArgs) -> Result<i32> {
    let mut checks = collect().await;
    // Outside any app, the machine alone.
    if let Ok(dir) = global.app_dir() {
        // The machine's node, as its own line found it.
        let node = checks
            .iter()
            .find(|c| c.what.starts_with("node "))
            .map(|c| c.found.clone())
            .unwrap_or_default();
        checks.extend(app_checks(&dir, &node));
    }
    crate::out!("{}", render(&checks))?;
    let missing = checks.iter().filter(|c| c.required && !c.ok).count();
    if missing > 0 {
        crate::outln!("\n{missing} required prerequisite(s) missing")?;
        return Ok(1);
    }
    Ok(0)
}

pub async fn collect() -> Vec<Check> {
    let mut checks = Vec::new();
    checks.push(version_check(
        "node ≥ 20",
        "node",
        &["--version"],
        (20, 0),
        true,
        "install Node.js 20 or later (`apt-get install nodejs`)",
    ));
    checks.push(version_check(
        "npm",
        "npm",
        &["--version"],
        (0, 0),
        true,
        "install npm (`apt-get install npm`)",
    ));
    let python = tools::python3()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "python3".into());
    checks.push(version_check(
        "python ≥ 3.10",
        &python,
        &["--version"],
        (3, 10),
        true,
        "install Python 3.10 or later with venv (`apt-get install python3 python3-venv`), or point PYTHON at one",
    ));
    for (what, ok, program) in tools::installed() {
        checks.push(Check {
            what: what.to_string(),
            ok,
            required: false,
            found: if ok {
                program.display().to_string()
            } else {
                "not installed".into()
            },
            fix: if ok {
                String::new()
            } else {
                "installed on first use (`cargo xtask local up`, or any deploy)".into()
            },
        });
    }
    if let Some(bin) = std::env::var_os("SERVERLESS_BIN") {
        let bin = bin.to_string_lossy().to_string();
        checks.push(version_check(
            "SERVERLESS_BIN",
            &bin,
            &["--version"],
            (0, 0),
            true,
            "point SERVERLESS_BIN at a Serverless CLI, or unset it to use the pinned one",
        ));
    }
    let docker = emulator::docker_engine_available();
    checks.push(Check {
        what: "Docker engine".into(),
        ok: docker,
        required: false,
        found: if docker { "yes".into() } else { "no".into() },
        fix: if docker {
            String::new()
        } else {
            "only the localstack emulator needs one; ministack runs without".into()
        },
    });
    checks.push(credentials().await);
    checks
}

/// What the app in `dir` needs from this machine; `node` is the version
/// line of the machine's node (empty when there is none).
fn app_checks(dir: &std::path::Path, node: &str) -> Vec<Check> {
    let shown = crate::sys::paths::display(dir);
    let app = match App::load(dir) {
        Ok(app) => app,
        Err(err) => {
            return vec![Check {
                what: format!("app {shown}"),
                ok: false,
                required: true,
                found: err
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                fix: format!("fix what `{}` reports", crate::sys::hint::xtask("audit")),
            }]
        }
    };
    let mut checks = vec![Check {
        what: format!("app {shown}"),
        ok: true,
        required: true,
        found: format!("{} service(s)", app.services.len()),
        fix: String::new(),
    }];
    for service in &app.services {
        // A list only the deploy can read names no plugin to install.
        for plugin in crate::cfn::plugins(service)
            .into_iter()
            .filter(|p| !p.starts_with('<'))
        {
            let (ok, found) = match plugin_source(service, &plugin) {
                Some(found) => (true, found),
                None => (false, "not installed, and no package.json lists it".into()),
            };
            checks.push(Check {
                what: format!("plugin {plugin} of {}", service.key),
                ok,
                required: true,
                found,
                fix: if ok {
                    String::new()
                } else {
                    format!(
                        "`npm install --save-dev {plugin}` in {} (the deploy installs what its lockfile pins)",
                        crate::sys::paths::display(&service.dir)
                    )
                },
            });
        }
    }
    // On an emulator, handlers run under this machine's node.
    let wanted = app
        .services
        .iter()
        .filter_map(|s| s.doc.path(&["provider", "runtime"]).and_then(Node::as_str))
        .filter_map(|r| {
            r.strip_prefix("nodejs")?
                .strip_suffix(".x")?
                .parse::<u64>()
                .ok()
        })
        .max();
    if let Some(major) = wanted {
        let ok = parse_version(node).is_some_and(|v| v >= (major, 0));
        checks.push(Check {
            what: format!("node ≥ {major} for the app's nodejs{major}.x on an emulator"),
            ok,
            required: false,
            found: if node.is_empty() { "not found".into() } else { node.to_string() },
            fix: if ok {
                String::new()
            } else {
                format!("install Node.js {major} or later: the emulator runs the handlers under this machine's node")
            },
        });
    }
    checks
}

/// Where the Serverless CLI would find `plugin` of `service`, as it
/// resolves plugins: a local path, `.serverless_plugins/` or
/// `plugins.localPath`, else `node_modules` of the service's folder or
/// any above it; or the package.json with a lockfile that the deploy
/// installs it from. `None` when none has it.
fn plugin_source(service: &Service, plugin: &str) -> Option<String> {
    let local = |path: std::path::PathBuf| {
        ["", ".js", ".cjs", ".mjs"]
            .iter()
            .map(|ext| std::path::PathBuf::from(format!("{}{ext}", path.display())))
            .find(|p| p.exists())
    };
    if plugin.starts_with('.') || plugin.starts_with('/') {
        return local(service.dir.join(plugin)).map(|p| crate::sys::paths::display(&p));
    }
    let local_path = service
        .doc
        .path(&["plugins", "localPath"])
        .and_then(Node::as_str)
        .map(|p| service.dir.join(p));
    for dir in local_path
        .into_iter()
        .chain(std::iter::once(service.dir.join(".serverless_plugins")))
    {
        if let Some(found) = local(dir.join(plugin)) {
            return Some(crate::sys::paths::display(&found));
        }
    }
    for dir in service.dir.ancestors() {
        let package = dir.join("node_modules").join(plugin).join("package.json");
        if package.is_file() {
            return Some(crate::sys::paths::display(&package));
        }
    }
    // Not installed yet: the deploy runs the lockfile's install in the
    // service's folder.
    let manifest = service.dir.join("package.json");
    let listed = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|json| {
            ["dependencies", "devDependencies"]
                .iter()
                .any(|key| json[key].get(plugin).is_some())
        });
    let locked = crate::sys::tools::has_lockfile(&service.dir);
    (listed && locked).then(|| {
        format!(
            "listed in {}; the deploy installs it",
            crate::sys::paths::display(&manifest)
        )
    })
}

fn version_check(
    what: &str,
    program: &str,
    args: &[&str],
    min: (u64, u64),
    required: bool,
    fix: &str,
) -> Check {
    let output = Command::new(program).args(args).output();
    let (ok, found) = match output {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            let version = text.trim().lines().next().unwrap_or("").to_string();
            (parse_version(&version).is_some_and(|v| v >= min), version)
        }
        Ok(out) => (false, format!("`{program}` exited with {}", out.status)),
        Err(_) => (false, "not found".into()),
    };
    Check {
        what: what.into(),
        ok,
        required,
        found,
        fix: if ok { String::new() } else { fix.into() },
    }
}

/// The first `MAJOR.MINOR` in a version line (`v20.20.2`, `Python 3.11.7`).
pub fn parse_version(text: &str) -> Option<(u64, u64)> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let mut parts = text[start..].split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Looks for AWS credentials in the environment, the shared profiles and a
/// web identity token, and asks STS for the account when some are found.
/// Instance metadata is not probed: on a laptop it only costs a timeout.
async fn credentials() -> Check {
    let env = std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
        && std::env::var_os("AWS_SECRET_ACCESS_KEY").is_some();
    let web_identity = std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE").is_some();
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let files = [
        std::env::var_os("AWS_SHARED_CREDENTIALS_FILE").map(std::path::PathBuf::from),
        std::env::var_os("AWS_CONFIG_FILE").map(std::path::PathBuf::from),
        home.as_ref().map(|h| h.join(".aws/credentials")),
        home.as_ref().map(|h| h.join(".aws/config")),
    ];
    let profile = files.iter().flatten().any(|f| f.exists());
    let source = if env {
        Some("environment")
    } else if web_identity {
        Some("web identity (OIDC)")
    } else if profile {
        Some("shared profile")
    } else {
        None
    };
    let Some(source) = source else {
        return Check {
            what: "AWS credentials".into(),
            ok: false,
            required: false,
            found: "no".into(),
            fix: "only AWS stages need them: `aws configure sso`, or AWS_PROFILE, or OIDC in CI"
                .into(),
        };
    };
    let found = match account_id().await {
        Ok(account) => format!("yes ({source}), account {account}"),
        Err(err) => format!("yes ({source}), account unknown: {err}"),
    };
    Check {
        what: "AWS credentials".into(),
        ok: true,
        required: false,
        found,
        fix: String::new(),
    }
}

async fn account_id() -> Result<String> {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let config = crate::aws::Target::Aws.sdk_config(&region).await;
    let sts = aws_sdk_sts::Client::new(&config);
    let identity = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        sts.get_caller_identity().send(),
    )
    .await
    .map_err(|_| anyhow::anyhow!("STS did not answer within 10s"))?
    .map_err(|e| anyhow::anyhow!("{}", crate::aws::error_message(&e)))?;
    Ok(identity.account().unwrap_or("?").to_string())
}

pub fn render(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.what.chars().count())
        .max()
        .unwrap_or(0);
    let found_width = checks
        .iter()
        .map(|c| c.found.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    let mut out = String::new();
    for check in checks {
        let mark = if check.ok { "✔" } else { "✘" };
        let pad = width - check.what.chars().count();
        let found_pad = found_width.saturating_sub(check.found.chars().count());
        out.push_str(&format!(
            "{mark} {}{}  {}{}",
            check.what,
            " ".repeat(pad),
            check.found,
            " ".repeat(found_pad)
        ));
        if !check.fix.is_empty() {
            let need = if check.required {
                "required"
            } else {
                "optional"
            };
            out.push_str(&format!("  {need}; fix: {}", check.fix));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions_are_read_from_tool_output() {
        assert_eq!(parse_version("v20.20.2"), Some((20, 20)));
        assert_eq!(parse_version("Python 3.11.7"), Some((3, 11)));
        assert_eq!(parse_version("11.19.1"), Some((11, 19)));
        assert_eq!(parse_version("osls version: 4.3.1"), Some((4, 3)));
        assert_eq!(parse_version("none"), None);
    }
}
