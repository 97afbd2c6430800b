//! Keeps the docs honest: every subcommand is documented, every module
//! says what it holds, workflows only call `cargo xtask` and `cargo test`,
//! and generated files are current.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use xtask::cli::Cli;
use xtask::sys::paths::workspace_root;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn readme_and_architecture_name_every_subcommand() {
    let root = workspace_root();
    for doc in ["README.md", "ARCHITECTURE.md"] {
        let text = read(&root.join(doc));
        let missing: Vec<String> = subcommands()
            .into_iter()
            .filter(|c| !text.contains(&format!("cargo xtask {c}")))
            .collect();
        assert!(
            missing.is_empty(),
            "{doc} does not mention `cargo xtask {}`",
            missing.join("`, `cargo xtask ")
        );
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_starts_with_a_doc_line() {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in ["xtask", "smoke-tests"] {
        for dir in ["src", "tests", "benches"] {
            let dir = root.join(krate).join(dir);
            if dir.exists() {
                rust_files(&dir, &mut files);
            }
        }
    }
    let undocumented: Vec<String> = files
        .iter()
        .filter(|f| !read(f).trim_start().starts_with("//!"))
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        undocumented.is_empty(),
        "modules without a leading `//!` line: {}",
        undocumented.join(", ")
    );
}

/// A file holds one thing: none under `xtask/src` passes 700 lines, but
/// what `cargo xtask codegen` writes.
#[test]
fn no_source_file_passes_700_lines() {
    const MOST: usize = 700;
    let root = workspace_root();
    let generated: Vec<PathBuf> = xtask::codegen::generated()
        .expect("generation works")
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    let mut files = Vec::new();
    rust_files(&root.join("xtask/src"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter(|f| {
            !generated
                .iter()
                .any(|g| g.ends_with(f.strip_prefix(&root).unwrap_or(f)))
        })
        .filter_map(|f| {
            let lines = read(f).lines().count();
            (lines > MOST).then(|| {
                format!(
                    "{} ({lines} lines)",
                    f.strip_prefix(&root).unwrap_or(f).display()
                )
            })
        })
        .collect();
    assert!(
        long.is_empty(),
        "files past {MOST} lines; split them by concept: {}",
        long.join(", ")
    );
}

#[test]
fn workflows_only_call_cargo() {
    let dir = workspace_root().join(".github/workflows");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let text = read(&entry.path());
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            for tool in [
                "serverless ",
                "sls ",
                "osls ",
                "npx ",
                "aws cloudformation",
                "ministack",
            ] {
                let in_run = lower.trim_start().starts_with("run:")
                    || lower.trim_start().starts_with("- run:")
                    || !lower.contains(':');
                assert!(
                    !(in_run && lower.contains(tool)),
                    "{}:{}: workflows call `cargo xtask` or `cargo test`, never `{}` directly",
                    entry.path().display(),
                    n + 1,
                    tool.trim()
                );
            }
        }
    }
}

#[test]
fn generated_files_are_current() {
    for (path, content) in xtask::codegen::generated().expect("generation works") {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == content,
            "{} is out of date: run `cargo xtask codegen` and commit",
            path.display()
        );
    }
}

#[test]
fn workflows_pass_actionlint_and_zizmor() {
    let files = xtask::sys::workflows::files().expect("the workflows folder");
    assert!(
        files.len() >= 2,
        "ci and release workflows exist: {files:?}"
    );
    let problems = xtask::sys::workflows::lint(&files).expect("the linters run");
    assert!(
        problems.is_empty(),
        "workflow findings:\n{}",
        problems.join("\n")
    );
}

/// Every action is pinned by commit hash to a release of its current
/// major: an older one runs on a retired Node.js or a retired service.
#[test]
fn workflows_pin_current_majors_of_every_action() {
    let mut problems = Vec::new();
    for file in xtask::sys::workflows::files().expect("the workflows folder") {
        problems.extend(xtask::sys::workflows::stale_pins(&file, &read(&file)));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_workflow_linters_catch_a_broken_workflow() {
    let dir =
        xtask::sys::paths::scratch_dir().join(format!("tidy-workflow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: echo ${{ github.event.head_commit.message }}\n",
    )
    .unwrap();
    let problems = xtask::sys::workflows::lint(&[bad]).expect("the linters run");
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("actionlint") && p.contains(":7:")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("zizmor")),
        "{problems:?}"
    );
}

/// Every subcommand, nested ones included, with its path (`local up`).
fn all_commands() -> Vec<(String, clap::Command)> {
    fn walk(prefix: &str, cmd: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            let name = format!("{prefix}{}", sub.get_name()).trim().to_string();
            out.push((name.clone(), sub.clone()));
            walk(&format!("{name} "), sub, out);
        }
    }
    let mut out = Vec::new();
    walk("", &Cli::command(), &mut out);
    out
}

#[test]
fn every_argument_of_every_subcommand_has_help() {
    let mut missing = Vec::new();
    for arg in Cli::command().get_arguments() {
        if arg.get_help().is_none() && !arg.is_hide_set() {
            missing.push(format!("global --{}", arg.get_id()));
        }
    }
    for (name, cmd) in all_commands() {
        if cmd.get_about().is_none() {
            missing.push(format!("`{name}` itself"));
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" || arg.is_hide_set() {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("`{name}` {id}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "arguments without help text (add a `///` doc comment): {}",
        missing.join(", ")
    );
}

/// Every command a message tells the user to run goes through
/// `sys::hint`, which repeats the run's `--app` and `--rehearse`; only the
/// commands that act on no app (`local`, `codegen`, `runbook`'s own
/// header, `doctor`) and what names a command that already ran are
/// written out.
#[test]
fn every_hint_goes_through_the_hint_builder() {
    let src = workspace_root().join("xtask/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut written = Vec::new();
    for file in &files {
        // `--help` documents the commands (`cli/help.rs`): no run's
        // context to repeat there.
        if file.ends_with("sys/hint.rs") || file.ends_with("cli/help.rs") {
            continue;
        }
        for (n, line) in read(file).lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for piece in line.split("`cargo xtask ").skip(1) {
                let word = piece.split([' ', '`']).next().unwrap_or_default();
                let allowed = ["local", "codegen", "runbook", "doctor", "{}"].contains(&word)
                    || piece.starts_with("smoke --init`.");
                if !allowed {
                    written.push(format!(
                        "{}:{}: `cargo xtask {word}`",
                        file.strip_prefix(&src).unwrap_or(file).display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        written.is_empty(),
        "commands written out instead of through sys::hint::xtask:\n{}",
        written.join("\n")
    );
}

/// The hints' list of subcommands that take `--rehearse` is the command
/// line's.
#[test]
fn hints_know_which_subcommands_rehearse() {
    let rehearsing: Vec<String> = all_commands()
        .into_iter()
        .filter(|(_, cmd)| {
            cmd.get_arguments()
                .any(|a| a.get_long() == Some("rehearse"))
        })
        .map(|(name, _)| name)
        .collect();
    let mut listed: Vec<String> = xtask::sys::hint::REHEARSABLE
        .iter()
        .map(|s| s.to_string())
        .collect();
    listed.sort();
    let mut rehearsing = rehearsing;
    rehearsing.sort();
    assert_eq!(listed, rehearsing);
}

/// The reference names every flag of every command: it is their
/// `--help`, generated (`generated_files_are_current` keeps it so), and a
/// command with flags says more than its one line there.
#[test]
fn the_command_reference_names_every_flag() {
    let reference = read(&workspace_root().join("docs/commands.md"));
    let mut missing = Vec::new();
    for (name, cmd) in all_commands() {
        if !reference.contains(&format!("## `cargo xtask {name}`")) {
            missing.push(format!("`cargo xtask {name}`"));
        }
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if !reference.contains(&format!("--{long}")) {
                missing.push(format!("`cargo xtask {name} --{long}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/commands.md does not show {}",
        missing.join(", ")
    );
}

#[test]
fn every_file_in_the_architecture_codemap_exists() {
    let root = workspace_root();
    let text = read(&root.join("ARCHITECTURE.md"));
    let codemap = text
        .split("## Codemap")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("ARCHITECTURE.md has a Codemap section");
    let src = root.join("xtask/src");
    let mut named = 0;
    let mut missing = Vec::new();
    for quoted in codemap.split('`').skip(1).step_by(2) {
        let looks_like_file = quoted.ends_with(".rs") || quoted.ends_with('/');
        if !looks_like_file || quoted.contains(' ') {
            continue;
        }
        named += 1;
        let bases = [
            root.clone(),
            src.clone(),
            root.join("xtask/tests"),
            root.join("fixtures"),
        ];
        let found = bases.iter().any(|base| base.join(quoted).exists());
        if !found {
            missing.push(quoted.to_string());
        }
    }
    assert!(
        named > 20,
        "the codemap names the source files ({named} found)"
    );
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's codemap names files that do not exist: {}",
        missing.join(", ")
    );
    // And the other way round: every source file is in the codemap.
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let unnamed: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(&src).unwrap_or(f).display().to_string())
        .filter(|f| !codemap.contains(&format!("`{f}`")))
        .collect();
    assert!(
        unnamed.is_empty(),
        "source files missing from ARCHITECTURE.md's codemap: {}",
        unnamed.join(", ")
    );
}

#[test]
fn no_test_is_ignored() {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in ["xtask", "smoke-tests"] {
        for dir in ["src", "tests"] {
            let dir = root.join(krate).join(dir);
            if dir.exists() {
                rust_files(&dir, &mut files);
            }
        }
    }
    let marker = ["#[", "ignore"].concat();
    let ignored: Vec<String> = files
        .iter()
        .filter(|f| read(f).contains(&marker))
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        ignored.is_empty(),
        "an ignored test checks nothing; gate it on what the machine has instead: {}",
        ignored.join(", ")
    );
}

/// The layers of ARCHITECTURE.md, bottom first: a module imports only its
/// own layer and the ones below, nothing below the face imports the
/// command line, and no subcommand imports another.
#[test]
fn imports_point_down_the_layers() {
    let layers = ["sys", "app", "cfn", "aws", "run"];
    let src = workspace_root().join("xtask/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let faces: Vec<String> = files
        .iter()
        .filter(|f| f.parent() == Some(src.as_path()))
        .filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().to_string()))
        .collect();
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap().display().to_string();
        let top = rel.split('/').next().unwrap_or("");
        // The face is every file at the top; its rank is above all layers.
        let rank = |module: &str| layers.iter().position(|l| *l == module);
        let own = if rel.contains('/') { rank(top) } else { None };
        let text = read(file);
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut used: Vec<String> = Vec::new();
        for piece in code.split("crate::").skip(1) {
            if let Some(group) = piece.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                used.extend(
                    inner
                        .split(',')
                        .map(|i| i.trim().split("::").next().unwrap_or("").to_string()),
                );
            } else {
                let name: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                used.push(name);
            }
        }
        for module in used.iter().filter(|m| !m.is_empty()) {
            match (own, rank(module)) {
                (Some(mine), Some(theirs)) if theirs > mine => {
                    wrong.push(format!("{rel} imports {module}, a layer above it"))
                }
                (Some(_), None) if faces.contains(module) => {
                    wrong.push(format!("{rel} imports the face's {module}"))
                }
                (None, None)
                    if faces.contains(module)
                        && !["cli", "commands"].contains(&module.as_str())
                        && !["lib.rs", "main.rs", "commands.rs"].contains(&rel.as_str())
                        && format!("{module}.rs") != rel =>
                {
                    wrong.push(format!("subcommand {rel} imports subcommand {module}"))
                }
                _ => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

/// No two modules import each other, directly or round about: a module of
/// a layer (`run::journal`, `cfn::checks`) is a node, every `crate::`
/// path (and `super::` sibling) in its code an edge, and no strongly
/// connected set of more than one node is allowed.
#[test]
fn no_import_circle_anywhere() {
    let layers = ["sys", "app", "cfn", "aws", "run"];
    let src = workspace_root().join("xtask/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap().display().to_string();
        let parts: Vec<&str> = rel.trim_end_matches(".rs").split('/').collect();
        let node = match parts.as_slice() {
            [layer, "mod"] | [layer] => layer.to_string(),
            [layer, module, ..] => format!("{layer}::{module}"),
            [] => continue,
        };
        let layer = parts[0];
        let text = read(file);
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut targets = Vec::new();
        for piece in code.split("crate::").skip(1) {
            let mut names = piece.split("::");
            let Some(first) = names.next() else { continue };
            let first: String = first
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !layers.contains(&first.as_str()) {
                continue;
            }
            let rest = &piece[first.len()..];
            let rest = rest.strip_prefix("::").unwrap_or("");
            if let Some(group) = rest.strip_prefix('{') {
                for item in group.split('}').next().unwrap_or("").split(',') {
                    let name = item.trim().split("::").next().unwrap_or("").trim();
                    if !name.is_empty()
                        && name != "self"
                        && name.chars().next().is_some_and(char::is_lowercase)
                    {
                        targets.push(format!("{first}::{name}"));
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name.chars().next().is_some_and(char::is_lowercase) {
                    targets.push(format!("{first}::{name}"));
                } else {
                    targets.push(first.clone());
                }
            }
        }
        // `super::sibling` from a module file right below a layer.
        if parts.len() == 2 && parts[1] != "mod" {
            for piece in code.split("super::").skip(1) {
                let name: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name.chars().next().is_some_and(char::is_lowercase) {
                    targets.push(format!("{layer}::{name}"));
                }
            }
        }
        let entry = edges.entry(node.clone()).or_default();
        for target in targets {
            // A path through a module of a layer names that module; the
            // layer's map (`run`) re-exports and is not a module of it.
            if target != node && target.contains("::") {
                entry.insert(target);
            }
        }
    }
    // Tarjan's strongly connected components.
    struct State<'a> {
        edges: &'a std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        index: std::collections::BTreeMap<String, usize>,
        low: std::collections::BTreeMap<String, usize>,
        stack: Vec<String>,
        on_stack: std::collections::BTreeSet<String>,
        next: usize,
        circles: Vec<Vec<String>>,
    }
    fn visit(s: &mut State<'_>, node: &str) {
        s.index.insert(node.to_string(), s.next);
        s.low.insert(node.to_string(), s.next);
        s.next += 1;
        s.stack.push(node.to_string());
        s.on_stack.insert(node.to_string());
        let targets: Vec<String> = s.edges.get(node).into_iter().flatten().cloned().collect();
        for target in targets {
            if !s.index.contains_key(&target) {
                visit(s, &target);
                let low = s.low[node].min(s.low[&target]);
                s.low.insert(node.to_string(), low);
            } else if s.on_stack.contains(&target) {
                let low = s.low[node].min(s.index[&target]);
                s.low.insert(node.to_string(), low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = Vec::new();
            while let Some(top) = s.stack.pop() {
                s.on_stack.remove(&top);
                let done = top == node;
                component.push(top);
                if done {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.circles.push(component);
            }
        }
    }
    let mut state = State {
        edges: &edges,
        index: Default::default(),
        low: Default::default(),
        stack: Vec::new(),
        on_stack: Default::default(),
        next: 0,
        circles: Vec::new(),
    };
    let nodes: Vec<String> = edges.keys().cloned().collect();
    for node in nodes {
        if !state.index.contains_key(&node) {
            visit(&mut state, &node);
        }
    }
    assert!(
        state.circles.is_empty(),
        "modules that import each other:\n{}",
        state
            .circles
            .iter()
            .map(|c| c.join(" ↔ "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The test functions of a file: each one's name and text, from its first
/// attribute to its closing brace (rustfmt puts that at the line start).
fn test_functions(text: &str) -> Vec<(String, String)> {
    let is_test = |l: &str| {
        let l = l.trim_start();
        l.starts_with("#[test]") || l.starts_with("#[tokio::test") || l.starts_with("#[rstest")
    };
    let mut tests = Vec::new();
    let mut current: Option<String> = None;
    let mut marked = false;
    for line in text.lines() {
        if let Some(body) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
            if line.starts_with('}') {
                let body = current.take().unwrap_or_default();
                let name = body
                    .split("fn ")
                    .nth(1)
                    .and_then(|rest| rest.split('(').next())
                    .unwrap_or_default()
                    .to_string();
                tests.push((name, body));
            }
            continue;
        }
        if is_test(line) {
            marked = true;
        }
        let fn_line = line.starts_with("fn ") || line.starts_with("async fn ");
        if marked && fn_line {
            marked = false;
            current = Some(format!("{line}\n"));
        }
    }
    tests
}

/// The two tiers stay two: every test under `e2e/` opens with the gate
/// (it runs under `CI` or `XTASK_E2E=1`, and says so when it is skipped),
/// and no test of the fast tier starts an emulator but the one sequence
/// `cargo test` promises.
#[test]
fn every_end_to_end_test_is_gated_and_no_other_test_starts_an_emulator() {
    let suite = workspace_root().join("xtask/tests/testsuite");
    let mut problems = Vec::new();
    let mut gated = 0;
    for entry in std::fs::read_dir(suite.join("e2e")).unwrap().flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "mod.rs") {
            continue;
        }
        for (name, body) in test_functions(&read(&path)) {
            let opens_with_gate = body
                .lines()
                .skip_while(|l| !l.contains("fn "))
                .skip_while(|l| !l.trim_end().ends_with('{'))
                .nth(1)
                .is_some_and(|first| first.trim() == "if support::e2e_skipped() {");
            if opens_with_gate {
                gated += 1;
            } else {
                problems.push(format!(
                    "{}: `{name}` does not open with `if support::e2e_skipped() {{`",
                    path.display()
                ));
            }
        }
    }
    assert!(
        gated > 40,
        "the end-to-end tier has its tests ({gated} found)"
    );
    // Spelled in pieces, so this file does not match itself.
    let starts = [
        ["Harness::", "start("].concat(),
        ["Emulator::", "start("].concat(),
        ["run(&[\"local\", ", "\"up\""].concat(),
    ];
    for entry in std::fs::read_dir(&suite).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            continue;
        }
        let text = read(&path);
        let sequence = path.file_name().is_some_and(|n| n == "acceptance.rs");
        if sequence {
            let tests = test_functions(&text);
            if tests.len() != 1 {
                problems.push(format!(
                    "{}: the fast tier runs one sequence against the emulator, not {}",
                    path.display(),
                    tests.len()
                ));
            }
            continue;
        }
        for start in &starts {
            if text.contains(start.as_str()) {
                problems.push(format!(
                    "{}: a test of the fast tier starts an emulator (`{start}`); move it under e2e/",
                    path.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// CI runs both tiers, and the end-to-end tier whole: ci.yml's fast job
/// runs `cargo test` without it, then its matrix names every module under
/// `e2e/` exactly once (under `CI`, which nothing in a workflow may set,
/// none of their tests can skip), and `.ci/run` runs one tier after the
/// other with `XTASK_E2E=1`.
#[test]
fn ci_runs_both_tiers_and_every_end_to_end_module() {
    use serde_json::Value as Yaml;
    let root = workspace_root();
    let modules: Vec<String> = read(&root.join("xtask/tests/testsuite/e2e/mod.rs"))
        .lines()
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
        .map(str::to_string)
        .collect();
    assert!(modules.len() > 10, "the e2e modules: {modules:?}");
    let fast_tier = "cargo test --workspace --locked -- --skip e2e::";
    let e2e_tier = "XTASK_E2E=1 cargo test --locked -p xtask --test testsuite -- e2e::";

    let ci_path = root.join(".github/workflows/ci.yml");
    let ci_text = read(&ci_path);
    let ci = xtask::app::yaml::parse(&ci_text)
        .expect("ci.yml is YAML")
        .to_json();
    let jobs = &ci["jobs"];
    let runs = |job: &Yaml| -> Vec<String> {
        job["steps"]
            .as_array()
            .map(|steps| {
                steps
                    .iter()
                    .filter_map(|s| s["run"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut problems = Vec::new();
    if !runs(&jobs["fast"]).iter().any(|r| r.trim() == fast_tier) {
        problems.push(format!("ci.yml: the `fast` job does not run `{fast_tier}`"));
    }
    let e2e = &jobs["e2e"];
    if e2e["needs"].as_str() != Some("fast") {
        problems
            .push("ci.yml: the `e2e` job does not follow the `fast` one (`needs: fast`)".into());
    }
    let e2e_runs = runs(e2e).join("\n");
    for piece in [
        "e2e::$module::",
        "cargo test --locked -p xtask --test testsuite -- \"${filters[@]}\"",
    ] {
        if !e2e_runs.contains(piece) {
            problems.push(format!(
                "ci.yml: the `e2e` job's step does not say `{piece}`"
            ));
        }
    }
    let named: Vec<String> = e2e["strategy"]["matrix"]["include"]
        .as_array()
        .map(|groups| {
            groups
                .iter()
                .flat_map(|g| {
                    g["modules"]
                        .as_str()
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .unwrap_or_default();
    for module in &modules {
        let times = named.iter().filter(|n| *n == module).count();
        if times != 1 {
            problems.push(format!(
                "ci.yml: the e2e matrix names module `{module}` {times} times, not once"
            ));
        }
    }
    for name in named.iter().filter(|n| !modules.contains(n)) {
        problems.push(format!(
            "ci.yml: the e2e matrix names `{name}`, which e2e/mod.rs does not have"
        ));
    }
    for workflow in xtask::sys::workflows::files().expect("the workflows folder") {
        for (n, line) in read(&workflow).lines().enumerate() {
            let key = line.trim_start().trim_start_matches("- ");
            if key.starts_with("CI:") || key.starts_with("XTASK_E2E:") {
                problems.push(format!(
                    "{}:{}: a workflow sets `{}`, which decides whether the end-to-end tier runs",
                    workflow.display(),
                    n + 1,
                    key.trim()
                ));
            }
        }
    }

    let ci_run = read(&root.join(".ci/run"));
    for tier in [fast_tier, e2e_tier] {
        if !ci_run.contains(tier) {
            problems.push(format!(".ci/run does not run `{tier}`"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every command a message tells the user to run parses as written, with
/// each placeholder filled in: a hint the command line would refuse is a
/// hint no one can paste. (`every_hint_goes_through_the_hint_builder` keeps
/// them all in `hint::xtask` calls, which add the run's target.)
#[test]
fn every_hint_parses_as_a_command() {
    use clap::Parser;
    let src = workspace_root().join("xtask/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut hints = Vec::new();
    for file in &files {
        let text = read(file);
        for piece in text.split("hint::xtask(").skip(1) {
            let piece = piece.trim_start_matches("&format!(").trim_start();
            let Some(rest) = piece.strip_prefix('"') else {
                continue;
            };
            let Some(end) = rest.find('"') else { continue };
            hints.push((file.clone(), rest[..end].to_string()));
        }
    }
    assert!(hints.len() > 30, "found only {} hints", hints.len());
    let mut refused = Vec::new();
    for (file, hint) in &hints {
        // Usage forms (`[--run RUN_ID]`) show a choice; each side must parse.
        let chosen = hint.replace(['[', ']'], "");
        let mut filled = String::new();
        let mut depth = 0;
        for c in chosen.chars() {
            match c {
                '{' => {
                    depth += 1;
                    // A subcommand chosen at run time (`{first} {stage}`)
                    // is one that takes a stage.
                    if depth == 1 {
                        filled.push_str(if filled.is_empty() { "deploy" } else { "dev" });
                    }
                }
                '}' => depth -= 1,
                _ if depth == 0 => filled.push(c),
                _ => {}
            }
        }
        let words: Vec<String> = filled
            .split_whitespace()
            .map(|w| match w {
                "RUN_ID" => "20261207T000000Z-1".to_string(),
                "SERVICE" => "api".to_string(),
                "FROM" => "stage".to_string(),
                other => other.to_string(),
            })
            .collect();
        let args = std::iter::once("cargo-xtask".to_string()).chain(words);
        if let Err(err) = xtask::cli::Cli::try_parse_from(args) {
            refused.push(format!(
                "{}: `cargo xtask {hint}`: {}",
                file.strip_prefix(&src).unwrap_or(file).display(),
                err.to_string().lines().next().unwrap_or_default()
            ));
        }
    }
    assert!(
        refused.is_empty(),
        "hints the command line refuses:\n{}",
        refused.join("\n")
    );
}
