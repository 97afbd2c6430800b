//! The deploy order of a stage: the graph checked for cycles and for
//! references outside the app, its waves, and its renderings (text, JSON,
//! Mermaid, DOT) for `plan`, deploy's confirmation and the generated docs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Result};
use serde_json::json;

use crate::app::diag::printable;
use crate::app::stage::Stage;
use crate::app::vars::{self, Source};
use crate::app::App;
use crate::cfn::catalogue::Catalogue;
use crate::cfn::graph::Graph;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PlanFormat {
    #[default]
    Text,
    Json,
    Mermaid,
    Dot,
}

/// The graph and its waves, or the reason there is no order: a cycle, or a
/// reference no service satisfies that the manifest does not declare
/// external.
pub fn checked(app: &App, stage: &Stage) -> Result<(Graph, Vec<Vec<String>>)> {
    checked_in(&Catalogue::build(app, stage))
}

/// [`checked`] over a catalogue the caller already built.
pub fn checked_in(catalogue: &Catalogue) -> Result<(Graph, Vec<Vec<String>>)> {
    let graph = Graph::from_catalogue(catalogue);
    let waves = graph.waves()?;
    let missing: Vec<String> = graph
        .dangling
        .iter()
        .filter(|d| !d.external)
        .map(|d| match &d.why {
            Some(why) => format!("  {}: `{}` in {} {why}", d.at, d.reference, d.service),
            None => format!(
                "  {}: `{}` in {} is produced by no service of the app",
                d.at, d.reference, d.service
            ),
        })
        .collect();
    // A reference whose name cannot be known offline may hang on another
    // service of the app: planning without it could deploy a consumer
    // beside its producer. Refuse, unless the team declared the order.
    let undeclared: Vec<&crate::cfn::graph::Dangling> = graph
        .unresolved
        .iter()
        .filter(|u| {
            !catalogue
                .app
                .service(&u.service)
                .is_some_and(|s| s.order_declared)
        })
        .collect();
    if let Some(first) = undeclared.first() {
        let listed: Vec<String> = undeclared
            .iter()
            .map(|u| {
                format!(
                    "  {}: `{}` in {} names what only the deploy can tell",
                    u.at,
                    printable(&u.reference),
                    u.service
                )
            })
            .collect();
        bail!(
            "{} reference(s) cannot be resolved before deploy, so the order may miss an edge:\n{}\n\
             declare the order in deploy.toml, e.g. `[services.{}]` with `depends_on = [\"...\"]` \
             (the services it needs; `depends_on = []` if none), or build the name from values known before deploy",
            listed.len(),
            listed.join("\n"),
            first.service
        );
    }
    if !missing.is_empty() {
        bail!(
            "{} reference(s) point outside the app:\n{}\ndeploy the producer as part of the app, or declare the name under [external] in deploy.toml",
            missing.len(),
            missing.join("\n")
        );
    }
    Ok((graph, waves))
}

/// Variable sources whose values the CLI finds without asking the
/// account: the config itself, the command line, the environment, files.
/// `cf` is the graph's to judge (it knows which stacks the run deploys).
const OFFLINE_SOURCES: &[Source] = &[
    Source::SelfRef,
    Source::Opt,
    Source::Sls,
    Source::Aws,
    Source::Env,
    Source::File,
    Source::StrToBool,
    Source::Param,
    Source::Cf,
];

/// Files that `${file()}` runs as code rather than reads.
const CODE_FILES: &[&str] = &["js", "cjs", "mjs", "ts"];

/// Which services of a run package ahead of their turn, while what they
/// need deploys, and why each of the others packages at its turn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packaging {
    pub ahead: BTreeSet<String>,
    pub at_turn: BTreeMap<String, String>,
}

/// The packaging of `run` (plan order). A service may package ahead when
/// nothing its packaging reads can change in the run: every service of
/// the run it depends on is reached only through `Fn::ImportValue`
/// (CloudFormation resolves it when the stack deploys), and its config
/// asks the account for no value while the CLI resolves it (`${ssm:}`,
/// `${s3:}`, a plugin's own source) and runs no code of its own to
/// resolve one (`${file(x.js)}`). Whatever the tool cannot see through
/// packages at its turn. A service with nothing to wait for in the run
/// starts at once and is in neither list.
pub fn packaging(app: &App, stage: &Stage, graph: &Graph, run: &[String]) -> Packaging {
    let in_run: BTreeSet<&str> = run.iter().map(String::as_str).collect();
    let mut ahead = BTreeSet::new();
    let mut at_turn = BTreeMap::new();
    for key in run {
        let waits_for: Vec<&str> = graph
            .dependencies(key)
            .into_iter()
            .filter(|d| in_run.contains(d))
            .collect();
        if waits_for.is_empty() {
            continue;
        }
        match why_at_turn(app, stage, graph, key, &in_run) {
            None => {
                ahead.insert(key.clone());
            }
            Some(why) => {
                at_turn.insert(key.clone(), why);
            }
        }
    }
    Packaging { ahead, at_turn }
}

fn why_at_turn(
    app: &App,
    stage: &Stage,
    graph: &Graph,
    key: &str,
    in_run: &BTreeSet<&str>,
) -> Option<String> {
    if let Some(edge) = graph
        .edges
        .iter()
        .find(|e| e.from == key && e.read_at_package && in_run.contains(e.to.as_str()))
    {
        return Some(format!(
            "its packaging reads {} as deployed ({}, {})",
            edge.to, edge.reason, edge.at
        ));
    }
    let service = app.service(key)?;
    if service.declared.package_ahead == Some(false) {
        return Some("deploy.toml says `package_ahead = false`".into());
    }
    let ctx = service.vars(stage);
    let reads = match vars::reads(&service.text, &service.dir, &ctx) {
        Ok(reads) => reads,
        Err(why) => return Some(why),
    };
    for written in &reads.variables {
        let var = &written.var;
        if !OFFLINE_SOURCES.contains(&var.source) {
            return Some(format!(
                "it reads `{}` while packaging, which a service deployed before it may change",
                written.raw
            ));
        }
        if var.source == Source::File {
            let runs_code = var
                .arg
                .as_deref()
                .and_then(|a| vars::resolve(a, &ctx))
                .and_then(|p| {
                    Path::new(&p)
                        .extension()
                        .map(|e| e.to_string_lossy().to_string())
                })
                .is_some_and(|ext| CODE_FILES.contains(&ext.as_str()));
            if runs_code {
                return Some(format!(
                    "`{}` runs code while the CLI resolves it, which may read what a service deployed before it changes",
                    written.raw
                ));
            }
        }
    }
    None
}

pub fn render(
    graph: &Graph,
    waves: &[Vec<String>],
    packaging: &Packaging,
    stage: &Stage,
    format: PlanFormat,
) -> String {
    match format {
        PlanFormat::Text => text(graph, waves, packaging, stage),
        PlanFormat::Json => {
            let value = json!({
                "stage": stage.name(),
                "region": stage.region(),
                "waves": waves,
                "edges": graph.edges,
                "package_ahead": packaging.ahead,
                "package_at_turn": packaging.at_turn,
                "external": graph.dangling.iter().filter(|d| d.external).collect::<Vec<_>>(),
                "unresolved": graph.unresolved,
            });
            serde_json::to_string_pretty(&value).unwrap_or_default()
        }
        PlanFormat::Mermaid => mermaid(graph, waves),
        PlanFormat::Dot => dot(graph, waves),
    }
}

fn text(graph: &Graph, waves: &[Vec<String>], packaging: &Packaging, stage: &Stage) -> String {
    let mut out = format!(
        "deploy order for stage {} ({}):\n",
        stage.name(),
        stage.region()
    );
    for (i, wave) in waves.iter().enumerate() {
        let note = if wave.len() > 1 {
            "  (in parallel)"
        } else {
            ""
        };
        out.push_str(&format!("  wave {}: {}{note}\n", i + 1, wave.join(", ")));
    }
    if !graph.edges.is_empty() {
        out.push_str("because:\n");
        for edge in &graph.edges {
            out.push_str(&format!(
                "  {} needs {}: {} ({})\n",
                edge.from, edge.to, edge.reason, edge.at
            ));
        }
    }
    if !packaging.ahead.is_empty() {
        out.push_str(&format!(
            "packaged ahead, while what they need deploys: {}\n",
            packaging
                .ahead
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (key, why) in &packaging.at_turn {
        out.push_str(&format!("packaged at its turn: {key}: {why}\n"));
    }
    for d in graph.dangling.iter().filter(|d| d.external) {
        out.push_str(&format!(
            "external: {} references `{}` ({}), declared external\n",
            d.service, d.reference, d.at
        ));
    }
    for u in &graph.unresolved {
        out.push_str(&format!("note: {} references `{}` ({}), which cannot be resolved before deploy; its order is the one deploy.toml declares\n", u.service, u.reference, u.at));
    }
    printable(&out)
}

/// Text from the user's files on one line: control characters escaped,
/// line breaks and tabs as `\n` and `\t`, so no name can end a line or a
/// statement of a diagram.
fn one_line(text: &str) -> String {
    printable(text).replace('\n', "\\n").replace('\t', "\\t")
}

/// Text inside a Mermaid quoted label: what would end the quote (`"`),
/// start an entity (`#`), markup (`<`, `>`, `&`), a Markdown string (a
/// backtick) or end an edge label (`|`) is written as Mermaid's numeric
/// entity (`#34;`), which it shows as the character.
fn mermaid_text(text: &str) -> String {
    let mut out = String::new();
    for c in one_line(text).chars() {
        match c {
            '"' | '#' | '<' | '>' | '&' | '`' | '|' => out.push_str(&format!("#{};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Text inside a DOT quoted string: backslashes and quotes escaped.
fn dot_text(text: &str) -> String {
    one_line(text).replace('\\', "\\\\").replace('"', "\\\"")
}

/// Words Mermaid's flowchart grammar keeps for itself: a node with such an
/// id breaks the chart.
const MERMAID_KEYWORDS: &[&str] = &[
    "end",
    "subgraph",
    "graph",
    "flowchart",
    "direction",
    "style",
    "linkstyle",
    "classdef",
    "class",
    "click",
    "call",
    "href",
    "callback",
    "interpolate",
    "default",
];

/// A Mermaid id for each service: its key as a plain word (`image-api`:
/// `image_api`), `svc_` before one that does not start with a letter, is a
/// keyword or a wave's id, and a number after one another service already
/// has.
fn mermaid_ids(waves: &[Vec<String>]) -> BTreeMap<&str, String> {
    let mut taken: BTreeSet<String> = (1..=waves.len()).map(|i| format!("wave{i}")).collect();
    let mut ids = BTreeMap::new();
    for key in waves.iter().flatten() {
        let word: String = key
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let lower = word.to_ascii_lowercase();
        let plain = word.starts_with(|c: char| c.is_ascii_alphabetic())
            && !MERMAID_KEYWORDS.contains(&lower.as_str());
        let word = if !plain || taken.contains(&word) {
            format!("svc_{word}")
        } else {
            word
        };
        let mut id = word.clone();
        let mut n = 1;
        while taken.contains(&id) {
            n += 1;
            id = format!("{word}_{n}");
        }
        taken.insert(id.clone());
        ids.insert(key.as_str(), id);
    }
    ids
}

fn mermaid(graph: &Graph, waves: &[Vec<String>]) -> String {
    let ids = mermaid_ids(waves);
    // Every edge joins two services of the waves; anything else is drawn
    // as a plain word rather than dropped.
    let id = |key: &str| {
        ids.get(key).cloned().unwrap_or_else(|| {
            let word: String = key
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            format!("svc_{word}")
        })
    };
    let mut out = String::from("flowchart BT\n");
    for (i, wave) in waves.iter().enumerate() {
        out.push_str(&format!("  subgraph wave{}[\"wave {}\"]\n", i + 1, i + 1));
        for service in wave {
            out.push_str(&format!(
                "    {}[\"{}\"]\n",
                id(service),
                mermaid_text(service)
            ));
        }
        out.push_str("  end\n");
    }
    for (from, to, reason) in collapsed(graph) {
        out.push_str(&format!(
            "  {} -->|\"{}\"| {}\n",
            id(&from),
            mermaid_text(&reason),
            id(&to)
        ));
    }
    out
}

fn dot(graph: &Graph, waves: &[Vec<String>]) -> String {
    let mut out = String::from("digraph deploy {\n  rankdir=BT;\n");
    for (i, wave) in waves.iter().enumerate() {
        out.push_str(&format!(
            "  subgraph cluster_wave{} {{\n    label=\"wave {}\";\n",
            i + 1,
            i + 1
        ));
        for service in wave {
            out.push_str(&format!("    \"{}\";\n", dot_text(service)));
        }
        out.push_str("  }\n");
    }
    for (from, to, reason) in collapsed(graph) {
        out.push_str(&format!(
            "  \"{}\" -> \"{}\" [label=\"{}\"];\n",
            dot_text(&from),
            dot_text(&to),
            dot_text(&reason)
        ));
    }
    out.push_str("}\n");
    out
}

/// One edge per pair of services for the diagrams: the first reference
/// and how many more there are.
fn collapsed(graph: &Graph) -> Vec<(String, String, String)> {
    let mut pairs: BTreeMap<(&str, &str), (&str, usize)> = BTreeMap::new();
    for edge in &graph.edges {
        pairs
            .entry((edge.from.as_str(), edge.to.as_str()))
            .and_modify(|(_, more)| *more += 1)
            .or_insert((edge.reason.as_str(), 0));
    }
    pairs
        .into_iter()
        .map(|((from, to), (reason, more))| {
            let label = if more > 0 {
                format!("{reason} (+{more} more)")
            } else {
                reason.to_string()
            };
            (from.to_string(), to.to_string(), label)
        })
        .collect()
}

/// The committed `docs/deploy-order.md` for an app: its mermaid plan.
pub fn deploy_order_doc(app: &App, stage: &Stage) -> Result<String> {
    let (graph, waves) = checked(app, stage)?;
    Ok(format!(
        "# Deploy order of {}\n\n<!-- Generated by `cargo xtask codegen`; do not edit. -->\n\n\
         Inferred from the services' own references (`${{cf:}}`, `Fn::ImportValue`, `depends_on`).\n\
         Arrows point from a service to what it needs; each wave deploys in parallel once the\n\
         waves below it are done.\n\n```mermaid\n{}```\n",
        app.name(),
        mermaid(&graph, &waves)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mermaid_labels_hold_no_syntax_of_their_own() {
        assert_eq!(
            mermaid_text("a\"b|c#d<e>&`f`\ng\u{1b}"),
            "a#34;b#124;c#35;d#60;e#62;#38;#96;f#96;\\ng\\u{1b}"
        );
        assert_eq!(
            mermaid_text("${cf:users-${sls:stage}.Arn} (+2 more)"),
            "${cf:users-${sls:stage}.Arn} (+2 more)"
        );
    }

    #[test]
    fn dot_strings_escape_quotes_backslashes_and_line_breaks() {
        assert_eq!(dot_text("a\"b\\c\nd"), "a\\\"b\\\\c\\\\nd");
    }

    #[test]
    fn mermaid_ids_are_plain_unique_words_and_no_keyword() {
        let waves = vec![
            vec!["image-api".to_string(), "image_api".into(), "end".into()],
            vec!["wave1".into(), "\"".into(), "Subgraph".into()],
        ];
        let ids = mermaid_ids(&waves);
        let got: Vec<&str> = waves
            .iter()
            .flatten()
            .map(|k| ids[k.as_str()].as_str())
            .collect();
        assert_eq!(
            got,
            [
                "image_api",
                "svc_image_api",
                "svc_end",
                "svc_wave1",
                "svc__",
                "svc_Subgraph"
            ]
        );
    }
}
