//! The config file of a service or of a Compose app, in any format the
//! Serverless CLI reads.
//!
//! YAML and JSON are parsed here, with positions. A JavaScript or
//! TypeScript config is a program: it is read through the pinned CLI's own
//! config reader (osls's `lib/configuration/read.js`, which runs TypeScript
//! with the `tsx` it bundles), so the tool sees exactly the object the CLI
//! would deploy, variables still unresolved. Positions in such a file are
//! found by looking its strings up in the source, as far as that goes.
//!
//! Reading such a file runs code from the app (in a pull request, code
//! nobody has reviewed yet), so the program runs with the least:
//!
//! - an environment without the caller's credentials, tokens and secrets
//!   ([`withheld`]: every `AWS_*` but the region, `GITHUB_*`, `ACTIONS_*`,
//!   and every name with TOKEN, SECRET, PASSWORD, KEY, CREDENTIAL, AUTH
//!   and the like in it), unless deploy.toml lists the name in
//!   `[app] config_env`. The region stays: it is no secret, and configs
//!   read it. `AWS_PROFILE` goes: reading a config needs no AWS account,
//!   and a profile name points the program at the credentials to use
//!   (HOME stays, for node and the CLI's reader, so the program can still
//!   read files such as `~/.aws`: a check of untrusted code runs where
//!   there are none, see docs/manifest.md).
//! - a time bound that holds whatever the program's children do: it runs
//!   under a reaper (`sys::reaper`) that kills every descendant, detached
//!   or not, when the program ends, when the bound is reached, or when the
//!   tool stops or dies; so no child outlives the read, and none can keep
//!   the output pipe open past it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::app::yaml::{self, FileError, Node, Pos, Value};

/// A service's config file names, in the CLI's order of preference.
pub const SERVICE_FILES: &[&str] = &[
    "serverless.yml",
    "serverless.yaml",
    "serverless.json",
    "serverless.ts",
    "serverless.mts",
    "serverless.js",
    "serverless.cjs",
    "serverless.mjs",
];

/// Serverless Compose's file names.
pub const COMPOSE_FILES: &[&str] = &[
    "serverless-compose.yml",
    "serverless-compose.yaml",
    "serverless-compose.json",
    "serverless-compose.ts",
    "serverless-compose.js",
];

/// How long a config program may run before it is stopped, unless
/// `XTASK_CONFIG_TIMEOUT` (seconds) says otherwise.
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(60);

fn program_timeout() -> Duration {
    std::env::var("XTASK_CONFIG_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(PROGRAM_TIMEOUT)
}

/// The most a config program may print: the size limit of a YAML file.
const MAX_OUTPUT: usize = 8 << 20;

/// The one config file of `dir` among `names`: `None` when there is none,
/// an error naming them when there are several (the CLI would pick one
/// silently, and the other would be a file nobody reads).
pub fn find(dir: &Path, names: &[&str]) -> Result<Option<PathBuf>, FileError> {
    let found: Vec<PathBuf> = names
        .iter()
        .map(|name| dir.join(name))
        .filter(|path| path.exists())
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        [first, others @ ..] => Err(FileError {
            path: first.clone(),
            pos: None,
            message: format!(
                "is one of {} config files in one folder ({}); keep one and remove the others",
                found.len(),
                others
                    .iter()
                    .map(|p| crate::sys::paths::display(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// Whether the file is data this tool parses itself (YAML or JSON).
pub fn is_data(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml" | "json")
    )
}

/// Reads a config file: its text and its tree. For a program (`.ts`,
/// `.js`), the text is the JSON of the object it exports; `config_env`
/// names the variables it may see though [`withheld`] would keep them.
pub fn read(path: &Path, config_env: &[String]) -> Result<(String, Node), FileError> {
    if is_data(path) {
        return yaml::parse_file(path);
    }
    let source = yaml::read_text(path)?;
    // Said, since it runs the app's code (as the CLI itself would).
    crate::errln!(
        "running {} to read its config (through the Serverless CLI's config reader, without credentials)",
        crate::sys::paths::display(path)
    );
    let json = through_cli(path, config_env)?;
    let mut doc = yaml::parse(&json).map_err(|err| FileError {
        path: path.to_path_buf(),
        pos: None,
        message: format!(
            "the CLI's reader gave JSON this tool cannot parse: {}",
            err.message
        ),
    })?;
    place(&mut doc, &source);
    Ok((json, doc))
}

/// Whether a variable of the caller's is kept from a config program: it
/// holds, or may hold, a credential. Names are compared in upper case.
pub fn withheld(name: &str) -> bool {
    /// Not secrets, and read by configs.
    const KEPT: &[&str] = &["AWS_REGION", "AWS_DEFAULT_REGION"];
    /// Whole families: AWS's credentials, profiles and credential files;
    /// a CI run's tokens and the URLs that mint them.
    const PREFIXES: &[&str] = &["AWS_", "GITHUB_", "ACTIONS_"];
    /// Anything named like a credential, wherever the word stands.
    const WORDS: &[&str] = &[
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "KEY",
        "CREDENTIAL",
        "AUTH",
        "PRIVATE",
        "SESSION",
        "COOKIE",
        "JWT",
        "DSN",
        "WEBHOOK",
    ];
    let upper = name.to_ascii_uppercase();
    if KEPT.contains(&upper.as_str()) {
        return false;
    }
    PREFIXES.iter().any(|p| upper.starts_with(p)) || WORDS.iter().any(|w| upper.contains(w))
}

/// The environment a config program runs with: the caller's, without
/// every variable [`withheld`] keeps from it unless `config_env` lists it.
pub fn program_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    config_env: &[String],
) -> Vec<(OsString, OsString)> {
    vars.into_iter()
        .filter(|(name, _)| {
            let name = name.to_string_lossy();
            config_env.iter().any(|listed| *listed == name) || !withheld(&name)
        })
        .collect()
}

/// How long the reaper gets, after it is told to stop, to kill what the
/// program started and exit.
const REAPER_GRACE: Duration = Duration::from_secs(3);

/// How long the output is waited for once the program has exited: with a
/// reaper the pipes close at once; without one a child that escaped the
/// group may hold them open, and what came is taken.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// Runs the pinned CLI's config reader on `path` and returns its JSON.
fn through_cli(path: &Path, config_env: &[String]) -> Result<String, FileError> {
    let fail = |message: String| FileError {
        path: path.to_path_buf(),
        pos: None,
        message,
    };
    let reader = reader_module().map_err(|e| {
        fail(format!(
            "is a program; reading it needs the pinned Serverless CLI: {e:#}"
        ))
    })?;
    // What the program logs while it loads goes to stderr, and the config
    // follows a marker: a `console.log` at load is no part of it.
    let script = "for (const k of ['log', 'info', 'debug', 'warn']) {\
          console[k] = (...a) => process.stderr.write(require('util').format(...a) + '\\n'); }\
        const read = require(process.argv[1]);\
        read(process.argv[2]).then(\
          (c) => process.stdout.write('\\u001eXTASK-CONFIG\\u001e' + JSON.stringify(c === undefined ? null : c)),\
          (e) => { process.stderr.write(String((e && e.message) || e)); process.exit(3); });";
    // The child runs in the file's folder: give it the whole path.
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let config = run_program(
        path,
        script,
        &[reader.into_os_string(), absolute.into_os_string()],
        config_env,
    )?;
    if !config.trim_start().starts_with('{') {
        return Err(fail("is a program that exports no config object".into()));
    }
    Ok(config)
}

/// A `${file(./x.js)}` the CLI runs for its value: the module's export,
/// or what its exported function returns (awaited), called as the CLI
/// calls it with the stage and region among the options; a property that
/// is a function is called the same way, as the CLI calls one an address
/// reaches (`${file(./x.js):definition}`), and left out if it fails. A function that
/// asks the CLI to resolve variables cannot be answered offline: it fails,
/// and its value stays unknown. Run as a config program is.
pub fn file_program(path: &Path, stage: &str, region: &str) -> Result<Node, FileError> {
    let script = "for (const k of ['log', 'info', 'debug', 'warn']) {\
          console[k] = (...a) => process.stderr.write(require('util').format(...a) + '\\n'); }\
        const offline = async () => { throw new Error('resolving variables is the CLI\\'s own, not offline'); };\
        (async () => {\
          let m = require(process.argv[1]);\
          if (m && m.__esModule && 'default' in m) m = m.default;\
          const options = { stage: process.argv[2], region: process.argv[3] };\
          const args = { options, resolveVariable: offline, resolveConfigurationProperty: offline };\
          const v = typeof m === 'function' ? await m(args) : await m;\
          const called = async (o, depth) => {\
            if (!o || typeof o !== 'object' || depth > 4) return o;\
            for (const k of Object.keys(o)) {\
              if (typeof o[k] === 'function') {\
                try { o[k] = await o[k](args); } catch (e) { delete o[k]; }\
              }\
              o[k] = await called(await o[k], depth + 1);\
            }\
            return o;\
          };\
          const w = await called(v, 0);\
          process.stdout.write('\\u001eXTASK-CONFIG\\u001e' + JSON.stringify(w === undefined ? null : w));\
        })().catch((e) => { process.stderr.write(String((e && e.message) || e)); process.exit(3); });";
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    crate::errln!(
        "running {} for the value a `${{file()}}` takes from it (as the CLI does, without credentials)",
        crate::sys::paths::display(path)
    );
    let json = run_program(
        path,
        script,
        &[absolute.into_os_string(), stage.into(), region.into()],
        &[],
    )?;
    if json.trim().is_empty() {
        return Err(FileError {
            path: path.to_path_buf(),
            pos: None,
            message: "is a program that gave no value".into(),
        });
    }
    let source = yaml::read_text(path)?;
    let mut doc = yaml::parse(&json).map_err(|err| FileError {
        path: path.to_path_buf(),
        pos: None,
        message: format!("gave JSON this tool cannot parse: {}", err.message),
    })?;
    place(&mut doc, &source);
    Ok(doc)
}

/// Runs `script` under node with `args`, in `path`'s folder, with the
/// least (see the module's head), and returns what it wrote after the
/// marker.
fn run_program(
    path: &Path,
    script: &str,
    args: &[OsString],
    config_env: &[String],
) -> Result<String, FileError> {
    use crate::sys::process::{self, Lifetime};
    use nix::sys::signal::Signal;
    let fail = |message: String| FileError {
        path: path.to_path_buf(),
        pos: None,
        message,
    };
    let mut cmd = crate::sys::reaper::command("node");
    cmd.arg("-e")
        .arg(script)
        .args(args)
        .current_dir(path.parent().unwrap_or(Path::new(".")))
        .env_clear()
        .envs(program_env(std::env::vars_os(), config_env))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, and the parent death signal: a tool that is
    // killed still stops it (the reaper then purges what it started).
    process::supervise(&mut cmd, Lifetime::Attached);
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("is a program and `node` cannot run it: {e}")))?;
    // Read both pipes while waiting, so a large output cannot block the child.
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let timeout = program_timeout();
    let started = Instant::now();
    let mut stopped_at: Option<Instant> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(_) => break None,
        }
        match stopped_at {
            None if started.elapsed() > timeout => {
                // The reaper (and the program, in its group) is told to
                // stop; it kills every descendant, then exits.
                process::signal_group(child.id(), Signal::SIGTERM);
                stopped_at = Some(Instant::now());
            }
            Some(at) if at.elapsed() > REAPER_GRACE => {
                process::signal_group(child.id(), Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Whatever is left in the group goes with it.
    process::signal_group(child.id(), Signal::SIGKILL);
    let until = Instant::now() + PIPE_GRACE;
    let out = collect(&out, until);
    let err = collect(&err, until);
    match status {
        _ if stopped_at.is_some() => Err(fail(format!(
            "is a program that did not finish within {} s (XTASK_CONFIG_TIMEOUT sets the limit)",
            timeout.as_secs()
        ))),
        None => Err(fail("is a program whose run could not be followed".into())),
        // Checked first: the reader stops at the limit, and the program
        // then fails on its closed pipe.
        Some(_) if out.len() > MAX_OUTPUT => Err(fail(format!(
            "is a program whose config is over {} MiB",
            MAX_OUTPUT >> 20
        ))),
        Some(status)
            if status.code() == Some(crate::sys::reaper::CANNOT_START)
                && err.starts_with(b"cannot start") =>
        {
            Err(fail(format!(
                "is a program and `node` cannot run it: {}",
                first_lines(&String::from_utf8_lossy(&err), 1)
            )))
        }
        Some(status) if !status.success() => Err(fail(format!(
            "is a program the Serverless CLI cannot load (are the app's dependencies installed? it is run as the CLI runs it): {}",
            first_lines(&String::from_utf8_lossy(&err), 3)
        ))),
        Some(_) => {
            let text = String::from_utf8_lossy(&out).to_string();
            let config = text
                .rsplit_once("\u{1e}XTASK-CONFIG\u{1e}")
                .map(|(_, config)| config)
                .unwrap_or_default();
            Ok(config.to_string())
        }
    }
}

/// Reads a pipe on a thread of its own, chunk by chunk, up to one byte
/// over [`MAX_OUTPUT`]; the channel closes at the end of the pipe.
fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(pipe) = pipe {
        std::thread::spawn(move || {
            use std::io::Read;
            let mut pipe = pipe.take(MAX_OUTPUT as u64 + 1);
            let mut buf = vec![0u8; 64 << 10];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// What a [`drain`] has read by the end of its pipe, or by `until`.
fn collect(chunks: &mpsc::Receiver<Vec<u8>>, until: Instant) -> Vec<u8> {
    let mut all = Vec::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match chunks.recv_timeout(left) {
            Ok(chunk) => all.extend(chunk),
            Err(_) => return all,
        }
    }
}

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .collect();
    lines.join(" / ")
}

/// The CLI's config reader module, from the pinned CLI's package.
fn reader_module() -> anyhow::Result<PathBuf> {
    let cli = crate::sys::tools::serverless(true)?;
    let real = cli.canonicalize().unwrap_or(cli);
    let mut dir = real.parent();
    while let Some(d) = dir {
        let reader = d.join("lib/configuration/read.js");
        if reader.exists() {
            return Ok(reader);
        }
        dir = d.parent();
    }
    anyhow::bail!(
        "{} has no lib/configuration/read.js",
        crate::sys::paths::display(&real)
    )
}

/// Gives each node of a tree read from JSON the position of its text in
/// the program's source, where the text appears there (line 1 otherwise).
fn place(node: &mut Node, source: &str) {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(source.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let locate = |text: &str| -> Pos {
        if text.is_empty() {
            return Pos { line: 1, col: 1 };
        }
        match source.find(text) {
            Some(offset) => {
                let line = starts.partition_point(|&s| s <= offset);
                let col = source[starts[line - 1]..offset].chars().count() + 1;
                Pos { line, col }
            }
            None => Pos { line: 1, col: 1 },
        }
    };
    fn walk(node: &mut Node, locate: &dyn Fn(&str) -> Pos) {
        let pos = match &mut node.value {
            Value::Scalar { text, .. } => locate(text),
            Value::Seq(items) => {
                for item in items.iter_mut() {
                    walk(item, locate);
                }
                items.first().map(|i| i.pos).unwrap_or_default()
            }
            Value::Map(entries) => {
                for (key, value) in entries.iter_mut() {
                    walk(key, locate);
                    walk(value, locate);
                    if value.pos.line <= 1 {
                        value.pos = key.pos;
                    }
                }
                entries.first().map(|(k, _)| k.pos).unwrap_or_default()
            }
        };
        node.pos = pos;
    }
    walk(node, &locate);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_withheld_and_the_rest_kept() {
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "GITHUB_TOKEN",
            "GITHUB_REPOSITORY",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "NPM_TOKEN",
            "NODE_AUTH_TOKEN",
            "npm_config__auth",
            "SMOKE_PASSWORD",
            "DB_PASSWD",
            "STRIPE_API_KEY",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "SSH_AUTH_SOCK",
            "GPG_PASSPHRASE",
            "signing_secret",
            "CI_JOB_JWT",
            "SENTRY_DSN",
            "SLACK_WEBHOOK_URL",
        ] {
            assert!(withheld(name), "{name} reaches a config program");
        }
        for name in [
            "PATH",
            "HOME",
            "LANG",
            "LC_ALL",
            "TMPDIR",
            "NODE_OPTIONS",
            "NODE_PATH",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "STAGE",
            "CI",
        ] {
            assert!(!withheld(name), "{name} is kept from a config program");
        }
    }

    #[test]
    fn a_listed_variable_reaches_the_program() {
        let vars = [
            ("PATH", "/bin"),
            ("GITHUB_TOKEN", "t"),
            ("SIGNING_KEY", "k"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let names = |env: Vec<(OsString, OsString)>| -> Vec<String> {
            env.into_iter()
                .map(|(k, _)| k.to_string_lossy().to_string())
                .collect()
        };
        assert_eq!(names(program_env(vars.clone(), &[])), vec!["PATH"]);
        assert_eq!(
            names(program_env(vars, &["SIGNING_KEY".to_string()])),
            vec!["PATH", "SIGNING_KEY"]
        );
    }
}
