//! The config file of a service or of a Compose app, in any format the
//! Serverless CLI reads.
//!
//! YAML and JSON are parsed here, with positions. A JavaScript or
//! TypeScript config is a program: it is read through the pinned CLI's own
//! config reader (osls's `lib/configuration/read.js`, which runs TypeScript
//! with the `tsx` it bundles), so the tool sees exactly the object the CLI
//! would deploy, variables still unresolved. Positions in such a file are
//! found by looking its strings up in the source, as far as that goes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
/// `.js`), the text is the JSON of the object it exports.
pub fn read(path: &Path) -> Result<(String, Node), FileError> {
    if is_data(path) {
        return yaml::parse_file(path);
    }
    let source = yaml::read_text(path)?;
    // Said, since it runs the app's code (as the CLI itself would).
    crate::errln!(
        "reading {} through the Serverless CLI's config reader",
        crate::sys::paths::display(path)
    );
    let json = through_cli(path)?;
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

/// Runs the pinned CLI's config reader on `path` and returns its JSON.
fn through_cli(path: &Path) -> Result<String, FileError> {
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
    let script = "const read = require(process.argv[1]);\
        read(process.argv[2]).then(\
          (c) => process.stdout.write(JSON.stringify(c === undefined ? null : c)),\
          (e) => { process.stderr.write(String((e && e.message) || e)); process.exit(3); });";
    // The child runs in the file's folder: give it the whole path.
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut child = Command::new("node")
        .arg("-e")
        .arg(script)
        .arg(&reader)
        .arg(&absolute)
        .current_dir(path.parent().unwrap_or(Path::new(".")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("is a program and `node` cannot run it: {e}")))?;
    // Read both pipes while waiting, so a large output cannot block the child.
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = std::thread::spawn(move || bounded_read(stdout));
    let err = std::thread::spawn(move || bounded_read(stderr));
    let timeout = program_timeout();
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    match status {
        None => Err(fail(format!(
            "is a program that did not finish within {} s (XTASK_CONFIG_TIMEOUT sets the limit)",
            timeout.as_secs()
        ))),
        // Checked first: the reader stops at the limit, and the program
        // then fails on its closed pipe.
        Some(_) if out.len() > MAX_OUTPUT => Err(fail(format!(
            "is a program whose config is over {} MiB",
            MAX_OUTPUT >> 20
        ))),
        Some(status) if !status.success() => Err(fail(format!(
            "is a program the Serverless CLI cannot load (are the app's dependencies installed? it is run as the CLI runs it): {}",
            first_lines(&String::from_utf8_lossy(&err), 3)
        ))),
        Some(_) => {
            let text = String::from_utf8_lossy(&out).to_string();
            if !text.trim_start().starts_with('{') {
                return Err(fail("is a program that exports no config object".into()));
            }
            Ok(text)
        }
    }
}

fn bounded_read(pipe: Option<impl std::io::Read>) -> Vec<u8> {
    use std::io::Read;
    let mut buf = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.take(MAX_OUTPUT as u64 + 1).read_to_end(&mut buf);
    }
    buf
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
