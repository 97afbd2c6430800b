//! The variable family of `validate`: every `${...}` evaluated for the
//! stage as the Serverless CLI will. A value the CLI finds nothing for
//! (`unresolved-variable`, where the CLI would stop with `Value not
//! found`), a fallback that lands on another stage's entry
//! (`fallback-to-another-stage`), a fallback the CLI's parser refuses
//! (`invalid-fallback`), `self:` addresses that read themselves back
//! (`circular-variable`), and every value the resolver refuses — a loop
//! through `${file()}`, a file that cannot be read whole, past the work
//! budget (`circular-variable`, `unreadable-include`, `expansion-budget`) —
//! each at the line where it is written.

use std::collections::BTreeSet;
use std::path::Path;

use crate::app::diag::Finding;
use crate::app::stage::Stage;
use crate::app::vars::{self, Source};
use crate::app::yaml::{Node, Pos};
use crate::app::{App, Service};

use super::stages::COMMON_STAGE_NAMES;

pub const CIRCULAR_VARIABLE: &str = "circular-variable";
pub const INVALID_FALLBACK: &str = "invalid-fallback";
pub const UNCLOSED_VARIABLE: &str = "unclosed-variable";
pub const SSM_SUFFIX: &str = "ssm-suffix";
pub const CF_ADDRESS: &str = "cf-address";
pub const EARLY_VARIABLE: &str = "not-accessible-early";
pub const UNRESOLVED_VARIABLE: &str = "unresolved-variable";
pub const OTHER_STAGE_FALLBACK: &str = "fallback-to-another-stage";
pub const UNSET_ENVIRONMENT: &str = "unset-environment";
pub const EXPANSION_BUDGET: &str = "expansion-budget";
pub const UNREADABLE_INCLUDE: &str = "unreadable-include";

/// The rules of values the tool refuses to evaluate: what `audit` reports
/// on a stage it does not judge otherwise (`rules::refusals`).
pub const REFUSALS: [&str; 3] = [EXPANSION_BUDGET, UNREADABLE_INCLUDE, CIRCULAR_VARIABLE];

/// A fallback the framework's parser refuses (`${opt:stage, dev}`: an
/// unquoted word; `${env:A, ${self:b}}`: a `${}` in a fallback): the CLI
/// stops on it when it resolves the file, so at deploy time.
pub(super) fn fallbacks(service: &Service, out: &mut Vec<Finding>) {
    for (file, document) in service.documents() {
        document.walk(&mut |_, node| {
            let Some(text) = node.as_str() else {
                return;
            };
            for var in vars::find_all(text) {
                let Some(fallback) = var.fallback.as_deref() else {
                    continue;
                };
                for alt in vars::alternatives(fallback) {
                    let vars::Alternative::Invalid(written) = alt else {
                        continue;
                    };
                    let fix = if written.contains("${") {
                        format!(
                            "write the reference bare: `{}`",
                            written.trim_start_matches("${").trim_end_matches('}')
                        )
                    } else {
                        format!("quote it: `'{written}'`")
                    };
                    out.push(Finding::new(
                        file,
                        node.pos,
                        INVALID_FALLBACK,
                        format!(
                            "`{}` falls back to `{written}`, which the Serverless CLI refuses (\"Invalid variable source\" or \"Invalid literal source\")",
                            var.raw(text)
                        ),
                        fix,
                    ));
                }
            }
        });
    }
}

/// A variable with no closing `}` (`${self:custom.origins.${sls:stage}`):
/// the CLI stops with "Missing variable closing bracket". A `${` not
/// followed by a letter (`${ x`, `${1`) is text to it, and so here.
pub(super) fn unclosed(service: &Service, out: &mut Vec<Finding>) {
    for (file, document) in service.documents() {
        document.walk(&mut |_, node| {
            let Some(text) = node.as_str() else {
                return;
            };
            if unclosed_in(text) {
                out.push(Finding::new(
                    file,
                    node.pos,
                    UNCLOSED_VARIABLE,
                    format!("the Serverless CLI stops with `Missing variable closing bracket in {text}`"),
                    "close every `${` with a `}`".to_string(),
                ));
            }
        });
    }
}

/// The decrypt and split suffixes of Framework v1 and v2 (`${ssm:/a~true}`,
/// `~false`, `~split`): the CLI reads them as part of the parameter's
/// name, which SSM does not have, and stops.
pub(super) fn ssm_suffixes(service: &Service, out: &mut Vec<Finding>) {
    for (file, document) in service.documents() {
        document.walk(&mut |_, node| {
            let Some(text) = node.as_str() else { return };
            let all = vars::find_all(text);
            for var in all.iter().flat_map(vars::with_fallbacks) {
                if var.source != vars::Source::Ssm {
                    continue;
                }
                let Some(suffix) = ["~true", "~false", "~split"]
                    .into_iter()
                    .find(|s| var.address.trim_end().ends_with(s))
                else {
                    continue;
                };
                out.push(Finding::new(
                    file,
                    node.pos,
                    SSM_SUFFIX,
                    format!(
                        "`{}` ends with `{suffix}`, which the pinned CLI sends as part of the parameter's name (the suffix was Framework v1 and v2's): SSM names allow no `~`, so the CLI gets no value",
                        var.raw(text)
                    ),
                    format!("drop `{suffix}`: the CLI decrypts a SecureString and splits a StringList itself"),
                ));
            }
        });
    }
}

/// A `${cf:}` whose address has no `.` between the stack and the output
/// (`${cf:api-${sls:stage}-AuthorizerId}`): the CLI stops before it asks
/// AWS anything.
pub(super) fn cf_addresses(service: &Service, out: &mut Vec<Finding>) {
    for (file, document) in service.documents() {
        document.walk(&mut |_, node| {
            let Some(text) = node.as_str() else { return };
            let all = vars::find_all(text);
            for var in all.iter().flat_map(vars::with_fallbacks) {
                if var.source != vars::Source::Cf {
                    continue;
                }
                // The dot may not sit in a nested variable's own text.
                let mut outside = var.address.clone();
                for inner in vars::find(&var.address).iter().rev() {
                    outside.replace_range(inner.start..inner.end, "x");
                }
                if outside.contains('.') || outside.trim().is_empty() {
                    continue;
                }
                out.push(Finding::new(
                    file,
                    node.pos,
                    CF_ADDRESS,
                    format!(
                        "`{}`: the Serverless CLI stops with `Unsupported \"{}\" address argument in variable \"cf\" source. Expected \"<stack-name>.<output-id>\" format`",
                        var.raw(text),
                        var.address
                    ),
                    "name the stack and the output apart: `${cf:<stack-name>.<OutputKey>}`",
                ));
            }
        });
    }
}

/// `service`, `provider.stage` and `provider.region` are resolved before
/// the CLI can reach AWS, its own `sls:` values or any option but its own
/// (`--stage`, `--region`…), and the first two before params (which are
/// per stage): written with such a source, directly or through `${self:}`
/// (`${param:stage, 'dev'}`, `${opt:env}`), the CLI stops with "property
/// is not accessible". The region may come from a param (`--param` or the
/// service's `params:`), as the pinned CLI shows.
pub(super) fn early(service: &Service, out: &mut Vec<Finding>) {
    const EARLY: [vars::Source; 5] = [
        vars::Source::Env,
        vars::Source::File,
        vars::Source::Opt,
        vars::Source::SelfRef,
        vars::Source::StrToBool,
    ];
    // The options the CLI knows before it resolves anything.
    const OPTIONS: [&str; 6] = ["stage", "region", "aws-profile", "config", "app", "org"];
    for keys in [
        &["service"][..],
        &["provider", "stage"],
        &["provider", "region"],
    ] {
        let Some(node) = service.doc.path(keys) else {
            continue;
        };
        let Some(text) = node.as_str() else { continue };
        let key = keys.join(".");
        let early = |source: &vars::Source| {
            EARLY.contains(source) || (key == "provider.region" && *source == vars::Source::Param)
        };
        // The sources `text` reads, `${self:}` followed a few times.
        let mut late = None;
        let mut pending = vec![text.to_string()];
        for _ in 0..16 {
            let Some(text) = pending.pop() else { break };
            for var in vars::find_all(&text) {
                let unknown_option =
                    var.source == vars::Source::Opt && !OPTIONS.contains(&var.address.as_str());
                if !early(&var.source) || unknown_option {
                    late.get_or_insert_with(|| var.raw(&text).to_string());
                } else if var.source == vars::Source::SelfRef && !var.address.contains("${") {
                    let keys: Vec<&str> = var.address.split('.').collect();
                    if let Some(next) = service.doc.path(&keys).and_then(Node::as_str) {
                        pending.push(next.to_string());
                    }
                }
            }
        }
        if let Some(late) = late {
            let what = keys.last().copied().unwrap_or_default();
            out.push(Finding::new(
                &service.file,
                node.pos,
                EARLY_VARIABLE,
                format!("the Serverless CLI stops with `\"{key}\" property is not accessible (configured behind variables which cannot be resolved at this stage)`: it cannot read `{late}` before it knows the {what}"),
                match what {
                    "service" => "name the service with text, `${env:…}` or `${file(…)}`".to_string(),
                    _ => format!("take the {what} from `${{opt:{what}}}`, `${{env:…}}` or `${{file(…)}}` (the tool passes `--{what}` on every command)"),
                },
            ));
        }
    }
}

/// Whether `text` opens a variable (`${` and a letter) it never closes.
fn unclosed_in(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut open = 0usize;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'$' if bytes.get(i + 1) == Some(&b'{')
                && bytes.get(i + 2).is_some_and(u8::is_ascii_alphabetic) =>
            {
                open += 1
            }
            b'}' if open > 0 => open -= 1,
            _ => {}
        }
    }
    open > 0
}

/// The finding for a value the tool refuses to evaluate; `None` for a loop
/// of `self:` addresses alone ([`circular`] reports each once) and for
/// a loop already reported.
fn refused(
    file: &Path,
    pos: Pos,
    raw: &str,
    refusal: vars::Refusal,
    loops: &mut BTreeSet<Vec<String>>,
) -> Option<Finding> {
    let (rule, fix) = match &refusal {
        vars::Refusal::TooMuch(_) => (
            EXPANSION_BUDGET,
            "simplify it: references that multiply at each level (or this many variables in one value) make no name or setting AWS accepts",
        ),
        vars::Refusal::Unreadable(_) => (UNREADABLE_INCLUDE, "fix the file it reads"),
        vars::Refusal::Cycle { through_files: false, .. } => return None,
        vars::Refusal::Cycle { chain, .. } => {
            let mut key = chain[..chain.len() - 1].to_vec();
            key.sort();
            if !loops.insert(key) {
                return None;
            }
            (
                CIRCULAR_VARIABLE,
                "break the loop: one of these values must not read the others",
            )
        }
    };
    Some(Finding::new(
        file,
        pos,
        rule,
        format!("`{raw}` cannot be evaluated: {refusal}"),
        fix,
    ))
}

/// Every variable evaluated for the stage as the CLI will: one it finds no
/// value for stops the deploy (`Value not found`), found here at its line;
/// a fallback that lands on another stage's entry (`${self:custom.sizes.
/// ${sls:stage}, self:custom.sizes.dev}`) silently gives this stage that
/// stage's value. An environment variable unset here may be set where the
/// deploy runs: not a finding. Every value the resolver refuses is a
/// finding where it is written. A file `${file()}` names that is not
/// there (a per-stage file kept out of git) is one cause: one finding at
/// its first use, with the count of uses and where the first ones are.
pub(super) fn values(service: &Service, app: &App, stage: &Stage, out: &mut Vec<Finding>) {
    values_noting_unset(service, app, stage, out, &mut Vec::new());
}

/// An environment variable read with no fallback and not set in this
/// process: its name and where it is read.
pub(super) type Unset = (String, std::path::PathBuf, Pos);

/// The environment variables [`values_noting_unset`] found unset, one
/// finding per variable at its first use with the count of uses: the CLI
/// stops with `Value not found` where it runs with this environment (a
/// deploy from here), and may not where it runs with another (a CI job),
/// so `validate` says it as a note and `deploy` refuses before any stack
/// changes.
pub(super) fn unset_environment(unset: Vec<Unset>) -> Vec<Finding> {
    let mut by_name: Vec<(String, Vec<(std::path::PathBuf, Pos)>)> = Vec::new();
    for (name, file, pos) in unset {
        match by_name.iter_mut().find(|(n, _)| *n == name) {
            Some((_, uses)) => uses.push((file, pos)),
            None => by_name.push((name, vec![(file, pos)])),
        }
    }
    by_name
        .into_iter()
        .map(|(name, uses)| {
            let (file, pos) = uses[0].clone();
            let more = match uses.len() {
                1 => String::new(),
                n => format!(" ({n} uses)"),
            };
            Finding::new(
                &file,
                pos,
                UNSET_ENVIRONMENT,
                format!("`${{env:{name}}}` has no fallback and {name} is not set here{more}: where the CLI runs with this environment it stops with `Value not found`"),
                format!("set {name} where the deploy runs (a CI job's `env:`), or give its uses a fallback"),
            )
        })
        .collect()
}

/// [`values`], and the environment variables without a value here into
/// `unset`.
pub(super) fn values_noting_unset(
    service: &Service,
    app: &App,
    stage: &Stage,
    out: &mut Vec<Finding>,
    unset: &mut Vec<Unset>,
) {
    let ctx = service.vars(stage);
    let dotenv = dotenv_names(service, stage);
    let mut loops = BTreeSet::new();
    let mut absent: Vec<AbsentFile> = Vec::new();
    let others: Vec<String> = app
        .policy
        .stage_names()
        .into_iter()
        .chain(COMMON_STAGE_NAMES.iter().copied())
        .filter(|s| *s != stage.name())
        .map(str::to_string)
        .collect();
    let sections = service.sections();
    let documents = service
        .documents()
        .into_iter()
        .chain(sections.iter().map(|(file, node)| (file.as_path(), node)));
    for (file, document) in documents {
        document.walk(&mut |_, node| {
            let Some(text) = node.as_str() else {
                return;
            };
            for var in vars::find(text) {
                let raw = var.raw(text);
                let primary = var.primary();
                let (resolved, absent_file) = vars::evaluate_traced(raw, &ctx);
                if let (vars::Resolved::Missing(why), Some(path)) = (&resolved, absent_file) {
                    let place = (file.to_path_buf(), node.pos);
                    match absent.iter_mut().find(|a| a.path == path) {
                        Some(known) => known.uses.push(place),
                        None => absent.push(AbsentFile {
                            path,
                            raw: raw.to_string(),
                            why: why.clone(),
                            uses: vec![place],
                        }),
                    }
                    continue;
                }
                match resolved {
                    vars::Resolved::Missing(why) if why.starts_with("environment variable") => {
                        for name in unset_names(raw, &ctx) {
                            if !dotenv.contains(&name) {
                                unset.push((name, file.to_path_buf(), node.pos));
                            }
                        }
                    }
                    vars::Resolved::Refused(refusal) => {
                        out.extend(refused(file, node.pos, raw, refusal, &mut loops));
                    }
                    vars::Resolved::Missing(why) if !why.starts_with("environment variable") => {
                        out.push(Finding::new(
                            file,
                            node.pos,
                            UNRESOLVED_VARIABLE,
                            format!(
                                "`{raw}` has no value in stage {}: {why}; the CLI stops with `Value not found`",
                                stage.name()
                            ),
                            "give it a value for this stage, or a fallback",
                        ));
                    }
                    vars::Resolved::Known(_) if var.fallback.is_some() => {
                        let vars::Resolved::Missing(_) = vars::evaluate(&primary, &ctx) else {
                            continue;
                        };
                        // The alternative the CLI takes: the first with a value.
                        let taken = vars::alternatives(var.fallback.as_deref().unwrap_or(""))
                            .into_iter()
                            .find(|alt| match alt {
                                vars::Alternative::Literal(_) => true,
                                vars::Alternative::Reference(inner) => matches!(
                                    vars::evaluate(&format!("${{{inner}}}"), &ctx),
                                    vars::Resolved::Known(_)
                                ),
                                vars::Alternative::Invalid(_) => false,
                            });
                        let Some(vars::Alternative::Reference(inner)) = taken else {
                            continue;
                        };
                        let tokens: Vec<&str> = inner
                            .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                            .collect();
                        if let Some(other) = others.iter().find(|o| tokens.contains(&o.as_str())) {
                            out.push(Finding::new(
                                file,
                                node.pos,
                                OTHER_STAGE_FALLBACK,
                                format!(
                                    "in stage {}, `{raw}` finds nothing for the stage and falls back to `{inner}`: {} gets {other}'s value",
                                    stage.name(),
                                    stage.name()
                                ),
                                format!("give stage {} its own entry, or make the fallback stage-neutral", stage.name()),
                            ));
                        }
                    }
                    _ => {}
                }
            }
        });
    }
    out.extend(absent.into_iter().map(|a| a.finding(stage)));
}

/// The environment variables of `raw` (`${env:X}`, nested too) that are
/// not set, the ones its value is missing for.
fn unset_names(raw: &str, ctx: &vars::Context) -> Vec<String> {
    let mut names: Vec<String> = vars::find_all(raw)
        .into_iter()
        .filter(|v| v.source == vars::Source::Env)
        .filter_map(|v| vars::resolve(&v.address, ctx))
        .filter(|name| std::env::var_os(name).is_none())
        .collect();
    names.dedup();
    names
}

/// The names a service's dotenv file sets for the CLI: with `useDotenv:
/// true` the CLI loads `.env.<stage>` from the service's folder, else
/// `.env`, before it resolves a variable.
fn dotenv_names(service: &Service, stage: &Stage) -> Vec<String> {
    let on = service
        .doc
        .get("useDotenv")
        .and_then(Node::as_str)
        .is_some_and(|v| v == "true");
    if !on {
        return Vec::new();
    }
    vars::dotenv(&service.dir, stage.name())
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// How many places listed in a finding for one cause.
const PLACES_SHOWN: usize = 5;

/// A file `${file()}` names that is not there, and every use left
/// without a value by it, in the order they are written.
struct AbsentFile {
    /// As resolved for the stage: `../var/dev.yml`.
    path: String,
    /// The first use, as written, and why it has no value.
    raw: String,
    why: String,
    uses: Vec<(std::path::PathBuf, Pos)>,
}

impl AbsentFile {
    fn finding(self, stage: &Stage) -> Finding {
        let (file, pos) = self.uses[0].clone();
        if self.uses.len() == 1 {
            return Finding::new(
                &file,
                pos,
                UNRESOLVED_VARIABLE,
                format!(
                    "`{}` has no value in stage {}: {}; the CLI stops with `Value not found`",
                    self.raw,
                    stage.name(),
                    self.why
                ),
                "give it a value for this stage, or a fallback",
            );
        }
        let mut places: Vec<String> = self
            .uses
            .iter()
            .take(PLACES_SHOWN)
            .map(|(file, pos)| format!("{}:{}", crate::sys::paths::display(file), pos.line))
            .collect();
        if self.uses.len() > PLACES_SHOWN {
            places.push(format!("and {} more", self.uses.len() - PLACES_SHOWN));
        }
        Finding::new(
            &file,
            pos,
            UNRESOLVED_VARIABLE,
            format!(
                "`{}` does not exist, so {} uses have no value in stage {} ({}); the CLI stops with `Value not found` at the first, `{}`",
                self.path,
                self.uses.len(),
                stage.name(),
                places.join(", "),
                self.raw
            ),
            format!(
                "create `{}` for stage {} (a file kept out of git must be there where the deploy runs), or give these uses a fallback",
                self.path,
                stage.name()
            ),
        )
    }
}

/// `${self:a}` whose value reads `${self:b}` whose value reads `${self:a}`:
/// the CLI stops on such a loop at deploy time; it is found here, once per
/// loop, where it starts.
pub(super) fn circular(service: &Service, out: &mut Vec<Finding>) {
    let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
    service.doc.walk(&mut |_, node| {
        let Some(text) = node.as_str() else {
            return;
        };
        for var in vars::find_all(text) {
            if var.source != Source::SelfRef || var.address.is_empty() || var.address.contains("${")
            {
                continue;
            }
            let Some(cycle) = self_cycle(&service.doc, &var.address) else {
                continue;
            };
            // One loop, whichever of its addresses it is found from.
            let mut key: Vec<String> = cycle[..cycle.len() - 1].to_vec();
            key.sort();
            if reported.insert(key) {
                out.push(Finding::new(
                    &service.file,
                    node.pos,
                    CIRCULAR_VARIABLE,
                    format!(
                        "`${{self:{}}}` reads itself back: {}",
                        var.address,
                        cycle.join(" → ")
                    ),
                    "break the loop: one of these values must not read the others",
                ));
            }
        }
    });
}

/// The loop of `self:` addresses that leads from `start` back to itself.
fn self_cycle(doc: &Node, start: &str) -> Option<Vec<String>> {
    fn reads(doc: &Node, address: &str) -> Vec<String> {
        let keys: Vec<&str> = address.split('.').collect();
        let Some(node) = doc.path(&keys) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        node.walk(&mut |_, n| {
            if let Some(text) = n.as_str() {
                for var in vars::find_all(text) {
                    if var.source == Source::SelfRef
                        && !var.address.is_empty()
                        && !var.address.contains("${")
                    {
                        found.push(var.address);
                    }
                }
            }
        });
        found
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    fn walk(
        doc: &Node,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
        reads: &dyn Fn(&Node, &str) -> Vec<String>,
    ) -> bool {
        if path.len() > 64 {
            return false;
        }
        let current = path.last().cloned().unwrap_or_default();
        if !seen.insert(current.clone()) {
            return false;
        }
        for next in reads(doc, &current) {
            let loops = next == path[0]
                || next.starts_with(&format!("{}.", path[0]))
                || path[0].starts_with(&format!("{next}."));
            if loops {
                path.push(next);
                return true;
            }
            path.push(next);
            if walk(doc, path, seen, reads) {
                return true;
            }
            path.pop();
        }
        false
    }
    walk(doc, &mut path, &mut seen, &reads).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As osls 4.3.1 reads them (each checked with `serverless print`).
    #[test]
    fn a_variable_left_open_is_one_the_cli_reads_as_a_variable() {
        for open in [
            "${self:custom.origins.${sls:stage}",
            "a ${self:x",
            "${sls:stage",
            "x-${opt:stage, dev",
        ] {
            assert!(unclosed_in(open), "{open}");
        }
        for text in [
            "${",
            "${ self:x",
            "${{x",
            "${1",
            "${sls:stage}",
            "a-${self:a.${sls:stage}}",
            "}${x}",
        ] {
            assert!(!unclosed_in(text), "{text}");
        }
    }
}
