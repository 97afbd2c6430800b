//! The rules of `audit`, the security review and `validate`, one room per
//! family, and here their compositions: which rules each runs, in which
//! order, and the one walk over a service's files that the audit's rules
//! share.
//!
//! The rooms: `config` (what the CLI's configuration schema refuses),
//! `stages` (how a file says "the stage"), `names` (names that
//! must carry the stage, and names two stages or stacks would share),
//! `variables` (values the CLI will not find, fallbacks, loops, refusals),
//! `references` (`Ref`, `Fn::GetAtt` and `Fn::Sub` inside a service),
//! `exports` (exports, imports and outputs across services), `resources`
//! (types, runtimes, data kept), `provisioning` (what AWS refuses while it
//! makes a resource: schema properties, queue timeouts, S3's defaults), `security` (what the files grant, expose
//! or leak; `iam` tells it which actions take resources, `secrets` what is
//! written in clear) and `monitoring`
//! (functions no alarm watches). A room imports only the rooms it builds on — `names` and `variables` read `stages`,
//! `references` reads `resources` — and none imports this file.
//!
//! Every rule is about Serverless and CloudFormation, not about any one
//! app; each finding names the file and line, and what to do.

pub mod config;
pub mod exports;
pub mod iam;
mod literal_arns;
pub mod monitoring;
mod name_sites;
pub mod names;
mod plugin_schema;
mod principals;
pub mod provisioning;
pub mod references;
pub mod resources;
pub mod schema;
pub mod secrets;
pub mod security;
mod shared_api;
mod shared_names;
pub mod stages;
pub mod variables;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::app::diag::{Finding, Report};
use crate::app::stage::{Policy, Stage};
use crate::app::vars::{self, Source, StageForm, Var};
use crate::app::yaml::{self, FileError, Node, Pos, Value};
use crate::app::{App, Service};
use crate::cfn::catalogue::Catalogue;

use stages::Spelling;

/// The stage hazards of every service of the app: what deploy's preflight
/// audits, whatever the stage.
pub fn audit(app: &App) -> Report {
    let mut auditor = Auditor {
        policy: &app.policy,
        report: Report::default(),
        spellings: Vec::new(),
    };
    for (i, service) in app.services.iter().enumerate() {
        auditor.service(i, service);
    }
    stages::follow_the_stage(app, &auditor.spellings, &mut auditor.report.findings);
    secrets::compose_params(app, &mut auditor.report.findings);
    auditor.report.findings = hazards(auditor.report.findings);
    auditor.report.finish()
}

/// Drops the findings of rule `general` at a line where rule `specific`
/// says the same cause.
fn said_once(findings: &mut Vec<Finding>, general: &str, specific: &str) {
    let said: BTreeSet<(PathBuf, usize)> = findings
        .iter()
        .filter(|f| f.rule == specific)
        .map(|f| (f.file.clone(), f.line))
        .collect();
    findings.retain(|f| f.rule != general || !said.contains(&(f.file.clone(), f.line)));
}

/// `findings`, each said to be a hazard: what the audit and the review
/// find, CloudFormation deploys.
fn hazards(findings: Vec<Finding>) -> Vec<Finding> {
    findings.into_iter().map(Finding::hazard).collect()
}

/// What `cargo xtask audit` reports: every hazard, and every stage the team
/// declared (or `only`) with its variables evaluated: a value the CLI will
/// not find there is a finding now, not at that stage's first deploy. The
/// default policy's stages are the tool's guess, not the team's: they are
/// not judged. Deploy's preflight runs [`audit`] and validates its own
/// stage instead.
pub fn audit_stages(app: &App, only: Option<&str>) -> Report {
    let mut report = audit(app);
    let stages: Vec<String> = match only {
        Some(stage) => vec![stage.to_string()],
        None if app.policy.is_declared() => app
            .policy
            .checked_stages()
            .into_iter()
            .map(|(_, name, _)| name)
            .collect(),
        None => Vec::new(),
    };
    // Without declared stages, the rules that hold on every stage still
    // run, as the first stage of the policy that is neither on the
    // emulator nor protected.
    let review_only: Vec<String> = if stages.is_empty() {
        app.policy
            .checked_stages()
            .into_iter()
            .find(|(.., c)| !c.emulator && !c.protected)
            .map(|(_, name, _)| name)
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };
    for name in stages {
        if let Ok(stage) = app.stage_to_audit(&name) {
            report.findings.extend(stage_values(app, &stage));
            report.findings.extend(review(app, &stage));
        }
    }
    for name in review_only {
        if let Ok(stage) = app.stage_to_audit(&name) {
            report.findings.extend(review(app, &stage));
            report.findings.extend(refusals(app, &stage));
        }
    }
    report
        .findings
        .extend(hazards(shared_names::shared_across_stages(app)));
    report
        .findings
        .extend(hazards(literal_arns::shared_literal_arns(app)));
    report
        .findings
        .extend(hazards(literal_arns::crossing_stages(app)));
    // One cause, said once: a fixed ARN that spells a stage is
    // `literal-stage`; a map's fallback a declared stage takes is that
    // stage's.
    said_once(
        &mut report.findings,
        literal_arns::SHARED_LITERAL_ARN,
        names::LITERAL_STAGE,
    );
    said_once(
        &mut report.findings,
        stages::STAGE_MAP_FALLBACK,
        variables::OTHER_STAGE_FALLBACK,
    );
    report.finish()
}

/// Every finding of the security review for `stage`: the rules that hold
/// on every stage, then, on a protected one, what real data and users need.
pub fn review(app: &App, stage: &Stage) -> Vec<Finding> {
    let today = crate::sys::clock::today();
    let mut out = Vec::new();
    for service in &app.services {
        security::every_stage(service, stage, &mut out);
        resources::deprecated_runtimes(service, stage, &today, &mut out);
        if stage.is_protected() {
            // A hazard, not a refusal: CloudFormation deploys it, and only
            // a later removal or replacement loses the data.
            resources::retained(service, stage, &mut out);
            security::protected(service, stage, &mut out);
            out.extend(monitoring::unmonitored(service, stage));
        }
    }
    hazards(out)
}

/// Offline validation of every service and of the references between them.
pub fn validate(app: &App, stage: &Stage) -> Report {
    validate_in(&Catalogue::build(app, stage))
}

/// [`validate`] over a catalogue the caller already built.
pub fn validate_in(catalogue: &Catalogue) -> Report {
    let (app, stage) = (catalogue.app, catalogue.stage);
    let mut report = Report::default();
    let mut unset = Vec::new();
    let out = &mut report.findings;
    for service in &app.services {
        config::refusals(service, stage, out, &mut report.notes);
        config::external_rest_api(service, out);
        plugin_schema::unknown_sources(service, out, &mut report.notes);
        let ids = resources::LogicalIds::of(service);
        resources::types(&ids, out);
        references::check(service, &ids, out);
        variables::circular(service, out);
        variables::fallbacks(service, out);
        variables::unclosed(service, out);
        variables::ssm_suffixes(service, out);
        variables::cf_addresses(service, out);
        variables::early(service, out);
        if config::schema_stops(&service.doc) {
            resources::runtimes(service, stage, out);
        }
        provisioning::properties(service, stage, out);
        provisioning::sqs_visibility(service, stage, out);
        provisioning::s3_defaults(service, stage, out);
        provisioning::retired_engines(service, stage, out);
        exports::shapes(service, out);
        shared_api::root_resource(service, out);
        variables::values_noting_unset(service, app, stage, out, &mut unset);
    }
    exports::across(catalogue, out, &mut report.notes);
    exports::compose_outputs(app, out);
    shared_names::physical_names(app, stage, out);
    shared_api::path_parts(app, stage, out);
    references::unverified_by_plugins(catalogue, &mut report);
    // Set where the deploy runs, perhaps: said, not a finding (deploy's
    // preflight, which runs the CLI here, refuses them).
    report.notes.extend(variables::unset_environment(unset));
    report.finish()
}

/// The per-stage value findings of every service in `stage`, for `audit`
/// (which evaluates every stage the team declared).
pub fn stage_values(app: &App, stage: &Stage) -> Vec<Finding> {
    let mut out = Vec::new();
    for service in &app.services {
        variables::values(service, app, stage, &mut out);
    }
    out
}

/// The values of every service the tool refuses to evaluate in `stage`
/// (a loop through `${file()}`, a file that cannot be read whole, past the
/// work budget), where they are written: what `audit` reports on a stage
/// it does not judge otherwise.
pub fn refusals(app: &App, stage: &Stage) -> Vec<Finding> {
    let mut out = Vec::new();
    for service in &app.services {
        variables::values(service, app, stage, &mut out);
    }
    out.retain(|f| variables::REFUSALS.contains(&f.rule));
    out
}

/// The audit's walk: every document of every service (its own file and
/// each file it includes, once), each scalar's variables, its stage
/// settings and its names, handed to the rules of `stages` and `names`.
struct Auditor<'a> {
    policy: &'a Policy,
    report: Report,
    spellings: Vec<Spelling>,
}

impl Auditor<'_> {
    /// Audits the service at index `index` of the app.
    fn service(&mut self, index: usize, service: &Service) {
        let before = self.report.findings.len();
        self.document(index, service, &service.file, &service.doc, &[]);
        self.includes(
            index,
            service,
            &service.file,
            &service.doc,
            0,
            &mut BTreeSet::new(),
        );
        // A `${opt:stage}` with no fallback anywhere in the file stops the
        // CLI when `--stage` is forgotten: no default for a missing flag is
        // ever taken silently, so none is a hazard. (A default for an unset
        // environment variable still is: it applies whatever `--stage` says.)
        // Elsewhere a default stage is a hazard whatever the service names
        // with the stage: the stack is named after it, so a forgotten
        // `--stage` deploys this code over that stage's stack (`prod`).
        if needs_the_stage_flag(&service.doc) {
            let own: Vec<Finding> = self
                .report
                .findings
                .drain(before..)
                .filter(|f| !stages::is_default_of_a_missing_flag(f))
                .collect();
            self.report.findings.extend(own);
        }
    }

    /// Runs every rule over one document; `base` is where an included file
    /// sits.
    fn document(
        &mut self,
        index: usize,
        service: &Service,
        file: &Path,
        doc: &Node,
        base: &[&str],
    ) {
        // Variables anywhere: defaults, spellings, `${cf:}` stack names.
        let mut scalars: Vec<(Vec<String>, &Node)> = Vec::new();
        doc.walk(&mut |path, node| {
            if matches!(node.value, Value::Scalar { .. }) {
                let full: Vec<String> = base
                    .iter()
                    .map(|s| s.to_string())
                    .chain(path.iter().map(|s| s.to_string()))
                    .collect();
                scalars.push((full, node));
            }
        });
        for (path, node) in &scalars {
            self.variables(index, service, file, path, node);
        }
        let out = &mut self.report.findings;
        stages::settings(self.policy, file, doc, base, out);
        names::names(self.policy, service, file, doc, base, out);
    }

    fn variables(
        &mut self,
        index: usize,
        service: &Service,
        file: &Path,
        path: &[String],
        node: &Node,
    ) {
        let Some(text) = node.as_str() else { return };
        let is_definition =
            matches!(path, [a, b] if (a == "provider" || a == "custom") && b == "stage");
        // A `custom` value nothing reads (no `${self:custom.key}` in the
        // service, no plugin that may read it) names nothing: its spelling
        // of the stage lands nowhere. (`${sls:stage}`'s default is the
        // service's, said wherever it is written.)
        // Walked for a spelling only (a walk of the whole file each).
        let unread = || match path {
            [a, key, ..] if a == "custom" && key != "stage" && file == service.file => {
                crate::cfn::plugins(service).is_empty() && !custom_key_read(&service.doc, key)
            }
            _ => false,
        };
        let mut columns = Columns::of(node);
        let out = &mut self.report.findings;
        for var in &vars::find_all(text) {
            let pos = columns.pos(var.start);
            if let Some(form) = var.stage_form() {
                stages::default_of(self.policy, service, file, pos, var, text, out);
                let unread_spelling = form != StageForm::Sls && unread();
                if !is_definition && !unread_spelling {
                    self.spellings.push(Spelling {
                        service: index,
                        form,
                        raw: var.raw(text).to_string(),
                        file: file.to_path_buf(),
                        pos,
                    });
                }
            }
            names::stack_reference(self.policy, file, pos, var, text, out);
            stages::map_fallback(self.policy, file, pos, var, text, out);
        }
    }

    /// Files pulled in with `${file(...)}`, audited with their own
    /// positions: each once per service (`seen`), however many files
    /// include it, so includes that fan out cost their files, not their
    /// paths.
    fn includes(
        &mut self,
        index: usize,
        service: &Service,
        file: &Path,
        doc: &Node,
        depth: usize,
        seen: &mut BTreeSet<(PathBuf, String)>,
    ) {
        if depth > 5 {
            return;
        }
        // Each `${file()}` with where it is, its text, and whether it is the
        // whole value (a key of the file, or all of it).
        let mut found: Vec<(Vec<String>, Pos, Var, String, bool)> = Vec::new();
        doc.walk(&mut |path, node| {
            if let Some(text) = node.as_str() {
                let mut columns = Columns::of(node);
                for var in vars::find_all(text) {
                    if var.source == Source::File {
                        let whole = var.start == 0 && var.end == text.len();
                        found.push((
                            path.iter().map(|s| s.to_string()).collect(),
                            columns.pos(var.start),
                            var.clone(),
                            var.raw(text).to_string(),
                            whole,
                        ));
                    }
                }
            }
        });
        for (path, pos, var, raw, whole) in found {
            let Some(arg) = var.arg.clone() else { continue };
            // A path with variables (`./config.${sls:stage}.yml`) names one
            // file per stage: audit each that exists.
            let candidates: Vec<String> = if arg.contains("${") {
                self.policy
                    .stage_names()
                    .iter()
                    .filter_map(|stage| {
                        let region = self
                            .policy
                            .stage(stage)
                            .map(|c| c.region.as_str().to_string())
                            .unwrap_or_default();
                        vars::resolve(&arg, &service.vars_at(stage, &region))
                    })
                    .collect()
            } else {
                vec![arg.clone()]
            };
            for candidate in candidates {
                // Relative to the service's folder wherever it is written:
                // the CLI resolves `${file()}` in an included file so too.
                let included = crate::sys::paths::normalize(&service.dir.join(&candidate));
                // Each file once, and each key of it included apart once.
                let part = if whole {
                    var.address.clone()
                } else {
                    String::new()
                };
                if !seen.insert((included.clone(), part)) {
                    continue;
                }
                let is_yaml = matches!(
                    included.extension().and_then(|e| e.to_str()),
                    Some("yml" | "yaml" | "json")
                );
                if !is_yaml {
                    continue;
                }
                if !included.exists() {
                    // A fallback (`${file(./a.yml), file(./b.yml)}`) stands in;
                    // in a file itself included, the CLI reads only the
                    // parts a variable addresses, which may not be this one
                    // (validate says so of a value that is read).
                    if !arg.contains("${") && var.fallback.is_none() && depth == 0 {
                        self.report.errors.push(FileError {
                            path: file.to_path_buf(),
                            pos: Some(pos),
                            message: format!(
                                "`{}` includes {}, which does not exist",
                                raw,
                                crate::sys::paths::display(&included)
                            ),
                        });
                    }
                    continue;
                }
                match yaml::parse_file(&included) {
                    Ok((_, included_doc)) => {
                        let keys: Vec<&str> =
                            var.address.split('.').filter(|k| !k.is_empty()).collect();
                        // A file chosen per stage (`config.${sls:stage}.json`)
                        // is that stage's own: the stage it names is right
                        // there, so it is not placed where a name would be.
                        let at = included_doc
                            .path(&keys)
                            .filter(|_| whole && !keys.is_empty() && !arg.contains("${"));
                        match (at, path.split_last()) {
                            // `Q: ${file(./r.yml):Q}`: what the key holds,
                            // audited where it lands (`resources.Resources.Q`).
                            (Some(section), Some((last, parents))) => {
                                let placed = placed_under(last, section);
                                let base: Vec<&str> = parents.iter().map(String::as_str).collect();
                                self.document(index, service, &included, &placed, &base);
                            }
                            _ => {
                                let base: Vec<&str> = if whole && keys.is_empty() {
                                    path.iter().map(String::as_str).collect()
                                } else {
                                    Vec::new()
                                };
                                self.document(index, service, &included, &included_doc, &base);
                            }
                        }
                        self.includes(index, service, &included, &included_doc, depth + 1, seen);
                    }
                    Err(err) => self.report.errors.push(err),
                }
            }
        }
    }
}

/// `{key: node}`, at `node`'s position: a section read from another file,
/// placed under the key it is included at.
pub(super) fn placed_under(key: &str, node: &Node) -> Node {
    let name = Node {
        value: Value::Scalar {
            text: key.to_string(),
            quoted: false,
            kind: yaml::Kind::Str,
        },
        pos: node.pos,
        tag: None,
    };
    Node {
        value: Value::Map(vec![(name, node.clone())]),
        pos: node.pos,
        tag: None,
    }
}

/// Whether `doc` reads `${opt:stage}` with no fallback anywhere: the CLI
/// resolves every variable of the file, so without `--stage` it stops.
fn needs_the_stage_flag(doc: &Node) -> bool {
    let mut found = false;
    doc.walk(&mut |_, node| {
        if found {
            return;
        }
        if let Some(text) = node.as_str() {
            found = vars::find_all(text).iter().any(|var| {
                var.source == Source::Opt && var.address == "stage" && var.fallback.is_none()
            });
        }
    });
    found
}

/// The positions of byte offsets of one scalar: exact on one-line
/// scalars. Asked in increasing order (as variables are found), each
/// character is counted once: a value with many variables costs its length,
/// not its length for each variable.
struct Columns<'n> {
    node: &'n Node,
    text: Option<(&'n str, bool)>,
    /// The last offset asked for, and the characters before it.
    last: (usize, usize),
}

impl<'n> Columns<'n> {
    fn of(node: &'n Node) -> Columns<'n> {
        let text = match &node.value {
            Value::Scalar { text, quoted, .. } if !text.contains('\n') => {
                Some((text.as_str(), *quoted))
            }
            _ => None,
        };
        Columns {
            node,
            text,
            last: (0, 0),
        }
    }

    fn pos(&mut self, offset: usize) -> Pos {
        let Some((text, quoted)) = self.text else {
            return self.node.pos;
        };
        let offset = offset.min(text.len());
        if offset < self.last.0 {
            self.last = (0, 0);
        }
        let (from, chars) = self.last;
        let chars = chars + text.get(from..offset).map_or(0, |t| t.chars().count());
        self.last = (offset, chars);
        Pos {
            line: self.node.pos.line,
            col: self.node.pos.col + chars + usize::from(quoted),
        }
    }
}

/// Whether anything in `doc` reads `custom.<key>` (`${self:custom.key…}`,
/// or a bare `self:custom.key` source in a fallback), or the whole `custom`.
fn custom_key_read(doc: &Node, key: &str) -> bool {
    let mut read = false;
    doc.walk(&mut |_, node| {
        let Some(text) = node.as_str() else { return };
        for (at, _) in text.match_indices("self:custom") {
            let rest = &text[at + "self:custom".len()..];
            let Some(rest) = rest.strip_prefix('.') else {
                read = true; // the whole map
                continue;
            };
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            read |= &rest[..end] == key || rest[..end].contains("${");
        }
        read |= text.contains("self:custom.${");
    });
    read
}
