//! The files `${file()}` variables read: each parsed once per process (and
//! again when it changes), the raw text a `${file(path):a.b}` stands for,
//! and a name with its file values written in, within [`MAX_BYTES`], for the
//! rules that judge what a name is built from.

use std::path::Path;

use crate::app::template;
use crate::app::yaml::Node;

use super::budget::{MAX_BYTES, MAX_NESTING};
use super::{parse_inner, Source, Var};

/// The raw text a `${file(path):a.b}` variable stands for: the scalar at
/// that address of that YAML file (relative to `dir`), unresolved.
pub fn file_value(dir: &Path, var: &Var) -> Option<String> {
    if var.source != Source::File {
        return None;
    }
    let path = var.arg.as_deref()?;
    if path.contains("${") {
        return None;
    }
    let doc = load(&dir.join(path)).ok()?;
    let node = if var.address.is_empty() {
        &*doc
    } else {
        let keys: Vec<&str> = var.address.split('.').collect();
        doc.path(&keys)?
    };
    node.as_str().map(str::to_string)
}

/// The variables the CLI loads from a service's dotenv file when it sets
/// `useDotenv: true` (`lib/cli/load-dotenv.js`): `.env.<stage>` in the
/// service's folder, else `.env`; none where neither is there (or one is
/// larger than any real one). A variable set in the environment wins, as
/// with `dotenv`.
pub fn dotenv(dir: &Path, stage: &str) -> Vec<(String, String)> {
    let read = |name: &str| -> Option<String> {
        let path = dir.join(name);
        let size = std::fs::metadata(&path).ok()?.len();
        (size <= MAX_BYTES as u64)
            .then(|| std::fs::read_to_string(&path).ok())
            .flatten()
    };
    let Some(text) = read(&format!(".env.{stage}")).or_else(|| read(".env")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("export ").unwrap_or(line);
            if line.starts_with('#') {
                return None;
            }
            let (name, value) = line.split_once('=')?;
            let name = name.trim();
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            ok.then(|| (name.to_string(), dotenv_value(value.trim())))
        })
        .collect()
}

/// An environment variable as the CLI sees it: set here, else in the
/// service's dotenv file when it loads one (read once into `dotenv`).
pub(super) fn env_var(
    ctx: &super::Context,
    dotenv: &std::cell::OnceCell<Vec<(String, String)>>,
    name: &str,
) -> Option<String> {
    if let Ok(value) = std::env::var(name) {
        return Some(value);
    }
    if !ctx.use_dotenv {
        return None;
    }
    let stage = if ctx.stage_given { ctx.stage } else { "dev" };
    dotenv
        .get_or_init(|| self::dotenv(ctx.dir, stage))
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.clone())
}

/// A dotenv value as `dotenv` reads it: quotes taken off, a ` #` comment
/// after an unquoted value dropped.
fn dotenv_value(raw: &str) -> String {
    for quote in ['"', '\'', '`'] {
        if let Some(rest) = raw.strip_prefix(quote) {
            if let Some(end) = rest.find(quote) {
                let inner = &rest[..end];
                return match quote {
                    '"' => inner.replace("\\n", "\n"),
                    _ => inner.to_string(),
                };
            }
        }
    }
    match raw.find(" #") {
        Some(at) => raw[..at].trim_end().to_string(),
        None => raw.to_string(),
    }
}

/// Whether `${file()}` of this file is a program the CLI runs for its
/// value (CommonJS, which node loads as the CLI does).
pub(crate) fn is_program(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("js" | "cjs")
    )
}

/// A data file read through `${file()}` (YAML or JSON), parsed once per
/// process and read again when it changes; a program is not data.
pub(crate) fn load(
    path: &Path,
) -> Result<std::sync::Arc<crate::app::yaml::Node>, crate::app::yaml::FileError> {
    if is_program(path) {
        return Err(crate::app::yaml::FileError {
            path: path.to_path_buf(),
            pos: None,
            message: "is a program the CLI runs, not data".into(),
        });
    }
    load_for(path, "", "")
}

/// What `${file()}` of `path` gives in a stage and region: [`load`]'s
/// data, or a program run for that stage and region
/// (`config::file_program`), once for each.
pub(crate) fn load_for(
    path: &Path,
    stage: &str,
    region: &str,
) -> Result<std::sync::Arc<crate::app::yaml::Node>, crate::app::yaml::FileError> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Loaded = Result<Arc<Node>, crate::app::yaml::FileError>;
    // A program that failed is not run again for the same stage: its
    // failure is kept like a value.
    type Key = (std::path::PathBuf, String, String);
    type Cache = HashMap<Key, (Option<std::time::SystemTime>, u64, Loaded)>;
    let program = is_program(path);
    // A program's value may differ by stage and region; data's does not.
    let key: Key = match program {
        true => (path.to_path_buf(), stage.to_string(), region.to_string()),
        false => (path.to_path_buf(), String::new(), String::new()),
    };
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let meta = std::fs::metadata(path).map_err(|err| crate::app::yaml::FileError {
        path: path.to_path_buf(),
        pos: None,
        message: format!("cannot read: {err}"),
    })?;
    let stamp = (meta.modified().ok(), meta.len());
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(cache) = cache.lock() {
        if let Some((modified, len, loaded)) = cache.get(&key) {
            if (*modified, *len) == stamp {
                return loaded.clone();
            }
        }
    }
    let doc: Loaded = match program {
        true => crate::app::config::file_program(path, stage, region).map(Arc::new),
        false => crate::app::yaml::parse_file(path).map(|(_, doc)| Arc::new(doc)),
    };
    if let Ok(mut cache) = cache.lock() {
        // Bounded: an app reads a handful of shared files.
        if cache.len() > 4096 {
            cache.clear();
        }
        cache.insert(key, (stamp.0, stamp.1, doc.clone()));
    }
    doc
}

/// `text` with every `${file(...):key}` replaced by the text it stands for,
/// so checks see the name as it is built. Each file value is expanded once
/// and the whole within [`MAX_BYTES`]: past it, or in a loop of files, the
/// rest stays as written (the evaluation reports it).
pub fn expand_files(text: &str, dir: &Path) -> String {
    let mut memo = std::collections::HashMap::new();
    let mut budget = MAX_BYTES;
    expand_files_in(text, dir, 0, &mut memo, &mut budget)
}

fn expand_files_in(
    text: &str,
    dir: &Path,
    depth: usize,
    memo: &mut std::collections::HashMap<String, Option<String>>,
    budget: &mut usize,
) -> String {
    if depth > MAX_NESTING {
        return text.to_string();
    }
    template::substitute(text, |p| {
        let expanded = match memo.get(p.raw) {
            Some(done) => done.clone(),
            None => {
                // In a loop the placeholder stays as written.
                memo.insert(p.raw.to_string(), None);
                let expanded = parse_inner(p.inner, p.start, p.end)
                    .and_then(|var| file_value(dir, &var))
                    .map(|value| expand_files_in(&value, dir, depth + 1, memo, budget));
                memo.insert(p.raw.to_string(), expanded.clone());
                expanded
            }
        };
        let value = expanded
            .filter(|value| value.len() <= *budget)
            .unwrap_or_else(|| p.raw.to_string());
        *budget = budget.saturating_sub(value.len());
        Some(value)
    })
    .unwrap_or_else(|| text.to_string())
}
