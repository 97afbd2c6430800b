//! Finding the services of an app that declares none: every folder with
//! a Serverless service file, keyed by its name (or its path, where two
//! folders share one).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::app::{config, yaml};

/// Whether `file` is a Serverless Components file (`component:` and
/// `inputs:` at the top, no `service:`): another tool's format, which the
/// Framework does not deploy, so no service of the app.
fn is_components_file(file: &Path) -> bool {
    let is_yaml = file.extension().is_some_and(|e| e == "yml" || e == "yaml");
    let Some(text) = is_yaml.then(|| yaml::read_text(file).ok()).flatten() else {
        return false;
    };
    let top = |key: &str| {
        text.lines()
            .any(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))
    };
    top("component") && !top("service")
}

/// Every folder under `root` with a Serverless config file, outside
/// `node_modules`, `.serverless` and hidden folders, keyed by folder name.
/// Below a service's folder, a `serverless.ts` or `.js` is the service's
/// code (a handler named so), not a service: only a YAML or JSON file is.
pub fn discover(root: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    // Each folder, with whether it lies below a service's folder.
    let mut stack = vec![(root.to_path_buf(), false)];
    while let Some((dir, inside)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        let mut has_file = false;
        let mut subfolders = Vec::new();
        for entry in &entries {
            let name = entry.file_name().to_string_lossy().to_string();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && !kind.is_symlink() {
                if name != "node_modules" && name != "target" && !name.starts_with('.') {
                    subfolders.push(entry.path());
                }
            } else if config::SERVICE_FILES.contains(&name.as_str())
                && !is_components_file(&entry.path())
                && (!inside || config::is_data(&entry.path()))
            {
                has_file = true;
            }
        }
        let below_a_service = inside || (has_file && dir != root);
        stack.extend(subfolders.into_iter().map(|d| (d, below_a_service)));
        if has_file {
            let key = if dir == root {
                root.canonicalize()
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
                    .unwrap_or_else(|| "app".into())
            } else {
                dir.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default()
            };
            found.push((key, dir));
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    // Folders of one name in two places (`api/users`, `data/users`) are
    // keyed by their path from the app folder instead: `api-users`.
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for (key, _) in &found {
        *count.entry(key.clone()).or_default() += 1;
    }
    for (key, dir) in &mut found {
        if count.get(key.as_str()).is_some_and(|n| *n > 1) {
            if let Ok(rel) = dir.strip_prefix(root) {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().to_string())
                    .collect();
                if !parts.is_empty() {
                    *key = parts.join("-");
                }
            }
        }
    }
    found
}
