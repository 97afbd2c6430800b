//! The stage hazards of an app's Serverless files, found before anything
//! is deployed: the rules behind `cargo xtask audit` and deploy's preflight.
//!
//! The rules are about Serverless and CloudFormation, not about any one app:
//! which keys hold names (stack, bucket, table, pool, role and export names,
//! `${cf:}` stack references, environment values), which of those must carry
//! the stage, and how a file can say "the stage". Descriptions and other
//! free text are never names, so they never produce findings.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::app::diag::{Finding, Report};
use crate::app::stage::Policy;
use crate::app::vars::{self, StageForm, Var};
use crate::app::yaml::{self, FileError, Node, Pos, Value};
use crate::app::{App, Service};
use crate::cfn::intrinsic::{self, Function};

pub const STAGE_DEFAULT: &str = "stage-default";
pub const LITERAL_STAGE: &str = "literal-stage";
pub const UNSCOPED_NAME: &str = "unscoped-name";
pub const STAGE_SPELLING: &str = "stage-spelling";
pub const UNKNOWN_STAGE: &str = "unknown-stage";
pub const SHARED_ACROSS_STAGES: &str = "shared-across-stages";

/// Stage names teams commonly use. One of these written in a name, or as a
/// key of a per-stage map, that the policy does not allow is a reference to
/// a stage that cannot be deployed.
pub const COMMON_STAGE_NAMES: &[&str] = &[
    "dev",
    "development",
    "stage",
    "staging",
    "prod",
    "production",
    "qa",
    "uat",
    "preprod",
];

/// Resource property keys that name a resource and must differ per stage,
/// by CloudFormation type.
pub const SCOPED_PROPERTIES: &[(&str, &str)] = &[
    ("AWS::S3::Bucket", "BucketName"),
    ("AWS::DynamoDB::Table", "TableName"),
    ("AWS::DynamoDB::GlobalTable", "TableName"),
    ("AWS::Cognito::UserPool", "UserPoolName"),
    ("AWS::IAM::Role", "RoleName"),
    ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"),
    ("AWS::SQS::Queue", "QueueName"),
    ("AWS::SNS::Topic", "TopicName"),
    ("AWS::Lambda::Function", "FunctionName"),
    ("AWS::Logs::LogGroup", "LogGroupName"),
    ("AWS::Kinesis::Stream", "Name"),
    ("AWS::SecretsManager::Secret", "Name"),
    ("AWS::SSM::Parameter", "Name"),
    ("AWS::Events::EventBus", "Name"),
];

/// Audits every service of the app. `stage` narrows nothing but is checked
/// against the policy by the caller, so a bad one never gets this far.
pub fn audit(app: &App) -> Report {
    let mut auditor = Auditor {
        policy: &app.policy,
        dir: PathBuf::new(),
        report: Report::default(),
        spellings: Vec::new(),
        current: 0,
        svc: None,
    };
    for (i, service) in app.services.iter().enumerate() {
        auditor.current = i;
        auditor.svc = Some(service);
        auditor.service(service);
    }
    auditor.spellings_follow_the_stage(app);
    auditor.report.finish()
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
        if let Ok(stage) = app.stage(&name) {
            report
                .findings
                .extend(crate::cfn::checks::stage_values(app, &stage));
            report
                .findings
                .extend(crate::cfn::security::review(app, &stage));
        }
    }
    for name in review_only {
        if let Ok(stage) = app.stage(&name) {
            report
                .findings
                .extend(crate::cfn::security::review(app, &stage));
            report
                .findings
                .extend(crate::cfn::checks::refusals(app, &stage));
        }
    }
    report.findings.extend(shared_across_stages(app));
    report.finish()
}

/// Two declared stages that deploy to one account and region (the same
/// `account`, or none given for either) and give a resource one name: a
/// per-stage map whose entries agree (`dev: ""`, `staging: ""`) makes them
/// share a table. A name that is the same in every stage is `unscoped-name`
/// already, and not said again. One finding per pair of stages, at the
/// first such name, counting the others (they share one cause).
fn shared_across_stages(app: &App) -> Vec<Finding> {
    let mut out = Vec::new();
    if !app.policy.is_declared() {
        return out;
    }
    // A preview pattern is checked through one stage it allows, and
    // named by the pattern.
    let stages: Vec<(String, String, &crate::app::stage::StageConfig)> = app
        .policy
        .checked_stages()
        .into_iter()
        .filter(|(.., c)| !c.emulator)
        .collect();
    for (i, (a, name_a, config_a)) in stages.iter().enumerate() {
        for (b, name_b, config_b) in &stages[i + 1..] {
            if config_a.region != config_b.region || config_a.account != config_b.account {
                continue;
            }
            let region = config_a.region.as_str();
            let mut shared: Vec<(PathBuf, Pos, String)> = Vec::new();
            for service in &app.services {
                let (ctx_a, ctx_b) = (
                    service.vars_at(name_a, region),
                    service.vars_at(name_b, region),
                );
                let probe = service.vars_at("xtask-probe", region);
                for (file, id, resource) in service.entries("Resources") {
                    let Some(ty) = resource.get("Type").and_then(Node::as_str) else {
                        continue;
                    };
                    for (_, key) in SCOPED_PROPERTIES.iter().filter(|(t, _)| *t == ty) {
                        let Some(node) = resource.path(&["Properties", key]) else {
                            continue;
                        };
                        let Some(text) = node.as_str() else { continue };
                        let name = |ctx| vars::evaluate(text, ctx).known();
                        let (Some(in_a), Some(in_b)) = (name(&ctx_a), name(&ctx_b)) else {
                            continue;
                        };
                        if in_a != in_b || name(&probe).as_ref() == Some(&in_a) {
                            continue;
                        }
                        shared.push((
                            file.to_path_buf(),
                            node.pos,
                            format!(
                                "{ty} `{}` of {} is named `{in_a}`",
                                id.as_str().unwrap_or(""),
                                service.key
                            ),
                        ));
                    }
                }
            }
            if let Some((file, pos, first)) = shared.first() {
                let more = match shared.len() {
                    1 => String::new(),
                    n => format!(" (and {} more resources the same way)", n - 1),
                };
                out.push(Finding::new(
                    file,
                    *pos,
                    SHARED_ACROSS_STAGES,
                    format!("{first} in both {a} and {b}, which deploy to one account and region: the two stages would share it{more}"),
                    format!("give {a} and {b} different names, e.g. with `${{sls:stage}}` in the name"),
                ));
            }
        }
    }
    out
}

/// One use of a stage spelling, for the consistency rule.
struct Spelling {
    /// Index of the service in the app.
    service: usize,
    form: StageForm,
    file: PathBuf,
    pos: Pos,
}

struct Auditor<'a> {
    policy: &'a Policy,
    /// The folder of the service being audited, for `${file(...)}`.
    dir: PathBuf,
    report: Report,
    spellings: Vec<Spelling>,
    /// The service being audited.
    current: usize,
    svc: Option<&'a Service>,
}

/// What a name is made of, as far as the stage goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// Only literal text and stage-independent values.
    Unscoped,
    /// Something whose value we cannot know before deploy.
    Unknown,
    /// Carries the stage.
    Scoped,
}

/// Why a node is a name, and whether the name must carry the stage.
struct NameSite<'n> {
    node: &'n Node,
    what: String,
    must_scope: bool,
    /// An environment value: a lone word there (`NODE_ENV: production`) is a
    /// setting, not a stage reference, unless it is an allowed stage.
    env: bool,
}

impl<'a> Auditor<'a> {
    fn finding(&mut self, file: &Path, pos: Pos, rule: &'static str, message: String, fix: String) {
        self.report
            .findings
            .push(Finding::new(file, pos, rule, message, fix));
    }

    fn service(&mut self, service: &Service) {
        self.dir = service.dir.clone();
        self.document(&service.file, &service.doc, &service.doc, &[]);
        self.includes(
            service,
            &service.file,
            &service.doc,
            0,
            &mut BTreeSet::new(),
        );
    }

    /// Runs every rule over one document. `root` is the service's own file
    /// (for `self:` references); `base` is where an included file sits.
    fn document(&mut self, file: &Path, doc: &Node, root: &Node, base: &[&str]) {
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
            self.variables(file, path, node);
        }
        // Literal stage settings.
        let full_path = |keys: &[&str]| -> Option<&Node> {
            let rest = keys.strip_prefix(base)?;
            doc.path(rest)
        };
        for keys in [&["provider", "stage"][..], &["custom", "stage"][..]] {
            if let Some(node) = full_path(keys) {
                if let Some(text) = node.as_str() {
                    if vars::find(text).is_empty() {
                        let key = keys.join(".");
                        self.finding(
                            file,
                            node.pos,
                            STAGE_DEFAULT,
                            format!("`{key}` is the literal `{text}`: any deploy without an explicit stage goes to `{text}`"),
                            format!("write `{key}: ${{opt:stage}}` (no default) and pass the stage on every command"),
                        );
                        self.check_stage_allowed(file, node.pos, text, &format!("`{key}`"));
                    }
                }
            }
        }
        // Per-stage maps (`params`, or custom maps keyed by stage names).
        if base.is_empty() {
            if let Some(params) = doc.get("params").and_then(Node::as_map) {
                for (key, _) in params {
                    if let Some(name) = key.as_str() {
                        if name != "default" {
                            self.check_stage_allowed(file, key.pos, name, "`params`");
                        }
                    }
                }
            }
        }
        self.stage_keyed_maps(file, doc);
        // Names.
        let root_for_names = if base.is_empty() { Some(doc) } else { None };
        for site in name_sites(doc, base, root_for_names) {
            self.name(file, root, &site);
        }
    }

    fn check_stage_allowed(&mut self, file: &Path, pos: Pos, name: &str, context: &str) {
        // Without deploy.toml the team's stages are not known: the default
        // policy is the tool's guess, not a fact about the app.
        if self.policy.stage(name).is_none() && self.policy.is_declared() {
            let allowed = self.policy.allowed();
            self.finding(
                file,
                pos,
                UNKNOWN_STAGE,
                format!(
                    "{context} names stage `{name}`, which {} does not allow (allowed: {allowed})",
                    self.policy.source_name()
                ),
                format!("use one of {allowed}, or add `{name}` to the stages of deploy.toml"),
            );
        }
    }

    fn variables(&mut self, file: &Path, path: &[String], node: &Node) {
        let Some(text) = node.as_str() else { return };
        let is_definition =
            matches!(path, [a, b] if (a == "provider" || a == "custom") && b == "stage");
        let mut columns = Columns::of(node);
        for var in vars::find_all(text) {
            let pos = columns.pos(var.start);
            if let Some(form) = var.stage_form() {
                // A default that itself needs `--stage` fails loudly: fine.
                let silent = self.svc.is_none_or(|service| {
                    let mut ctx = service.vars_at("dev", "us-east-1");
                    ctx.stage_given = false;
                    !matches!(
                        vars::evaluate(var.raw(text), &ctx),
                        vars::Resolved::Missing(_)
                    )
                });
                // A default that is another spelling of the stage is that
                // spelling's definition's matter: one finding, at the cause.
                let only_stage_refs = var.fallback.as_deref().is_some_and(|fallback| {
                    vars::alternatives(fallback).iter().all(|alt| match alt {
                        vars::Alternative::Reference(inner) => vars::find(&format!("${{{inner}}}"))
                            .first()
                            .is_some_and(|v| v.stage_form().is_some()),
                        _ => false,
                    })
                });
                if let Some(fallback) = var.fallback.as_ref().filter(|_| silent && !only_stage_refs)
                {
                    let raw = var.raw(text).to_string();
                    self.finding(
                        file,
                        pos,
                        STAGE_DEFAULT,
                        format!("`{raw}` falls back to {fallback} when no stage is given, so a forgotten `--stage` deploys there silently"),
                        // `${sls:stage}` without its default still falls back
                        // to `dev` when `provider.stage` is unset: `${opt:stage}`
                        // never does.
                        format!(
                            "drop the default: write `{}`",
                            if form == StageForm::Sls {
                                StageForm::Opt.spelling()
                            } else {
                                form.spelling()
                            }
                        ),
                    );
                    if let Some(literal) = vars::literal_fallback(fallback) {
                        if !literal.is_empty() {
                            self.check_stage_allowed(
                                file,
                                pos,
                                &literal,
                                &format!("the default of `{raw}`"),
                            );
                        }
                    }
                }
                if !is_definition {
                    self.spellings.push(Spelling {
                        service: self.current,
                        form,
                        file: file.to_path_buf(),
                        pos,
                    });
                }
            }
            if var.source == "cf" {
                let stack = var.address.split('.').next().unwrap_or("");
                let stripped = strip_vars(stack);
                self.literal_stages(
                    file,
                    pos,
                    &stripped,
                    &format!("the stack name in `{}`", var.raw(text)),
                    false,
                );
            }
        }
    }

    /// Maps whose keys are stage names (`custom.domains: {dev: ..., prod: ...}`):
    /// keys naming a stage the policy does not allow.
    fn stage_keyed_maps(&mut self, file: &Path, doc: &Node) {
        let mut hits = Vec::new();
        doc.walk(&mut |_, node| {
            let Some(entries) = node.as_map() else { return };
            let keys: Vec<(&str, Pos)> = entries
                .iter()
                .filter_map(|(k, _)| k.as_str().map(|s| (s, k.pos)))
                .collect();
            let allowed = keys
                .iter()
                .filter(|(k, _)| self.policy.stage(k).is_some())
                .count();
            if allowed == 0 {
                return;
            }
            for (key, pos) in keys {
                if self.policy.stage(key).is_none() && COMMON_STAGE_NAMES.contains(&key) {
                    hits.push((key.to_string(), pos));
                }
            }
        });
        for (key, pos) in hits {
            self.check_stage_allowed(file, pos, &key, "this per-stage map");
        }
    }

    fn name(&mut self, file: &Path, root: &Node, site: &NameSite) {
        let mut literal_found = false;
        for (text, node) in name_strings(site.node) {
            let stripped = strip_vars(&vars::expand_files(&text, &self.dir));
            if self.literal_stages(file, node.pos, &stripped, &site.what, site.env) {
                literal_found = true;
            }
        }
        if site.must_scope
            && !literal_found
            && scope_of(site.node, root, &self.dir) == Scope::Unscoped
        {
            self.finding(
                file,
                site.node.pos,
                UNSCOPED_NAME,
                format!("{} does not depend on the stage, so every stage would share (and fight over) it", site.what),
                format!("build the name from the stage variable, e.g. `...-{}`", vars::CANONICAL.spelling()),
            );
        }
    }

    /// Reports stage names written as a token of `text`; true when any.
    fn literal_stages(
        &mut self,
        file: &Path,
        pos: Pos,
        text: &str,
        what: &str,
        setting: bool,
    ) -> bool {
        let mut found = false;
        // An e-mail address (`dev@example.com`) names a mailbox, not a stage.
        let text: String = text
            .split_whitespace()
            .filter(|word| !is_email(word))
            .collect::<Vec<_>>()
            .join(" ");
        let tokens: BTreeSet<&str> = text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty())
            .collect();
        let lone_word = tokens.len() == 1;
        for token in tokens {
            let lower = token.to_ascii_lowercase();
            let common = COMMON_STAGE_NAMES.contains(&lower.as_str());
            let undeclared_stage = common && !self.policy.is_declared() && !(setting && lone_word);
            if self.policy.stage(&lower).is_some() || undeclared_stage {
                found = true;
                self.finding(
                    file,
                    pos,
                    LITERAL_STAGE,
                    format!("{what} spells the stage `{lower}` literally"),
                    format!("replace `{lower}` with `{}`", vars::CANONICAL.spelling()),
                );
            } else if common && !(setting && lone_word) {
                found = true;
                self.check_stage_allowed(file, pos, &lower, what);
            }
        }
        found
    }

    /// A spelling of the stage is a hazard only when it can come to another
    /// value than the stage the stack is deployed to: `${self:provider.stage}`
    /// where `provider.stage` is a literal, a `custom.stage` built from
    /// something else. Different spellings that always agree are fine. And
    /// `${sls:stage}` silently means `dev` when the CLI runs without
    /// `--stage` and the service sets no `provider.stage`. One finding per
    /// service and cause, at its first use.
    fn spellings_follow_the_stage(&mut self, app: &App) {
        let spellings = std::mem::take(&mut self.spellings);
        let mut seen: BTreeSet<(usize, StageForm)> = BTreeSet::new();
        let probes: Vec<String> = self
            .policy
            .stage_names()
            .into_iter()
            .chain(["xtask-probe"])
            .map(str::to_string)
            .collect();
        for use_ in &spellings {
            if !seen.insert((use_.service, use_.form)) {
                continue;
            }
            let service = &app.services[use_.service];
            let uses = spellings
                .iter()
                .filter(|s| s.service == use_.service && s.form == use_.form)
                .count();
            let times = if uses > 1 {
                format!(" (and {} more uses in this service)", uses - 1)
            } else {
                String::new()
            };
            match use_.form {
                StageForm::SelfProvider | StageForm::SelfCustom => {
                    let Some((stage, value)) = probes.iter().find_map(|stage| {
                        let region = self
                            .policy
                            .stage(stage)
                            .map(|c| c.region.as_str())
                            .unwrap_or("us-east-1");
                        let ctx = service.vars_at(stage, region);
                        match vars::evaluate(use_.form.spelling(), &ctx) {
                            vars::Resolved::Known(value) if value == *stage => None,
                            // The CLI stops on a value it cannot find: loud, not silent.
                            vars::Resolved::Missing(_) => None,
                            // Said where it is written (`checks::refusals`).
                            vars::Resolved::Refused(_) => None,
                            vars::Resolved::Known(value) => {
                                Some((stage.clone(), format!("`{value}`")))
                            }
                            vars::Resolved::Unknowable(why) => {
                                Some((stage.clone(), format!("unknown before deploy ({why})")))
                            }
                        }
                    }) else {
                        continue;
                    };
                    let key = if use_.form == StageForm::SelfProvider {
                        "provider.stage"
                    } else {
                        "custom.stage"
                    };
                    self.finding(
                        &use_.file,
                        use_.pos,
                        STAGE_SPELLING,
                        format!(
                            "`{}` does not follow `--stage`: deployed with `--stage {stage}` it is {value}, so what is named with it here lands in another stage's name{times}",
                            use_.form.spelling()
                        ),
                        format!("define `{key}: ${{opt:stage}}` (it then follows `--stage` and fails loudly without it)"),
                    );
                }
                StageForm::Sls => {
                    let mut ctx = service.vars_at("dev", "us-east-1");
                    ctx.stage_given = false;
                    if vars::sets_provider_stage(&ctx) {
                        continue;
                    }
                    self.finding(
                        &use_.file,
                        use_.pos,
                        STAGE_DEFAULT,
                        format!("`${{sls:stage}}` is `dev` whenever the CLI runs without `--stage`: this service sets no `provider.stage`{times}"),
                        "add `provider.stage: ${opt:stage}` to the service, so a command without `--stage` fails instead of using dev".to_string(),
                    );
                }
                StageForm::Opt => {}
            }
        }
    }

    /// Files pulled in with `${file(...)}`, audited with their own
    /// positions: each once per service (`seen`), however many files
    /// include it, so includes that fan out cost their files, not their
    /// paths.
    fn includes(
        &mut self,
        service: &Service,
        file: &Path,
        doc: &Node,
        depth: usize,
        seen: &mut BTreeSet<PathBuf>,
    ) {
        if depth > 5 {
            return;
        }
        // Each `${file()}` with where it is, its text, and whether it is the
        // whole value.
        let mut found: Vec<(Vec<String>, Pos, Var, String, bool)> = Vec::new();
        doc.walk(&mut |path, node| {
            if let Some(text) = node.as_str() {
                let mut columns = Columns::of(node);
                for var in vars::find_all(text) {
                    if var.source == "file" {
                        let whole =
                            var.start == 0 && var.end == text.len() && var.address.is_empty();
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
                let included = crate::sys::paths::normalize(
                    &file.parent().unwrap_or(Path::new(".")).join(&candidate),
                );
                if !seen.insert(included.clone()) {
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
                    if !arg.contains("${") {
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
                        let base: Vec<&str> = if whole {
                            path.iter().map(String::as_str).collect()
                        } else {
                            Vec::new()
                        };
                        self.document(&included, &included_doc, &service.doc, &base);
                        self.includes(service, &included, &included_doc, depth + 1, seen);
                    }
                    Err(err) => self.report.errors.push(err),
                }
            }
        }
    }
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

/// Whether a word (an ARN's last part included) holds an e-mail address.
fn is_email(word: &str) -> bool {
    let last = word.rsplit(['/', ':']).next().unwrap_or(word);
    match last.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !domain.contains('@'),
        None => false,
    }
}

/// `text` with every variable replaced by a space, so that only what is
/// written literally is left.
fn strip_vars(text: &str) -> String {
    let mut out = String::new();
    let mut last = 0;
    for var in vars::find(text) {
        out.push_str(&text[last..var.start]);
        out.push(' ');
        last = var.end;
    }
    out.push_str(&text[last..]);
    out
}

/// Every node of a Serverless file that holds a name.
fn name_sites<'n>(doc: &'n Node, base: &[&str], _root: Option<&'n Node>) -> Vec<NameSite<'n>> {
    let mut sites = Vec::new();
    let at = |keys: &[&str]| -> Option<&'n Node> { doc.path(keys.strip_prefix(base)?) };
    let mut add = |node: Option<&'n Node>, what: &str, must_scope: bool| {
        if let Some(node) = node {
            sites.push(NameSite {
                node,
                what: what.to_string(),
                must_scope,
                env: what.starts_with("the environment value"),
            });
        }
    };
    add(
        at(&["service"]).filter(|n| n.as_str().is_some()),
        "the service name",
        false,
    );
    add(
        at(&["provider", "stackName"]),
        "the stack name (`provider.stackName`)",
        true,
    );
    if let Some(bucket) = at(&["provider", "deploymentBucket"]) {
        let node = if bucket.as_str().is_some() {
            Some(bucket)
        } else {
            bucket.get("name")
        };
        add(node, "the deployment bucket name", true);
    }
    add(
        at(&["provider", "apiName"]),
        "the API name (`provider.apiName`)",
        false,
    );
    add(
        at(&["provider", "httpApi", "name"]),
        "the HTTP API name",
        false,
    );
    add(
        at(&["provider", "iam", "role", "name"]),
        "the IAM role name (`provider.iam.role.name`)",
        true,
    );
    if let Some(env) = at(&["provider", "environment"]).and_then(Node::as_map) {
        for (key, value) in env {
            add(
                Some(value),
                &format!("the environment value `{}`", key.as_str().unwrap_or("?")),
                false,
            );
        }
    }
    for statements in [
        at(&["provider", "iam", "role", "statements"]),
        at(&["provider", "iamRoleStatements"]),
    ]
    .into_iter()
    .flatten()
    {
        for statement in statements.as_seq().unwrap_or_default() {
            add(
                statement.get("Resource"),
                "an IAM statement's resource",
                false,
            );
        }
    }
    if let Some(functions) = at(&["functions"]).and_then(Node::as_map) {
        for (fn_key, function) in functions {
            let fn_name = fn_key.as_str().unwrap_or("?");
            add(
                function.get("name"),
                &format!("the name of function `{fn_name}`"),
                false,
            );
            if let Some(env) = function.get("environment").and_then(Node::as_map) {
                for (key, value) in env {
                    add(
                        Some(value),
                        &format!(
                            "the environment value `{}` of function `{fn_name}`",
                            key.as_str().unwrap_or("?")
                        ),
                        false,
                    );
                }
            }
        }
    }
    if let Some(resources) = at(&["resources", "Resources"]).and_then(Node::as_map) {
        for (logical, resource) in resources {
            let logical = logical.as_str().unwrap_or("?");
            let ty = resource.get("Type").and_then(Node::as_str).unwrap_or("");
            let Some(properties) = resource.get("Properties").and_then(Node::as_map) else {
                continue;
            };
            for (key, value) in properties {
                let Some(key) = key.as_str() else { continue };
                let scoped = SCOPED_PROPERTIES.iter().any(|(t, k)| *t == ty && *k == key);
                if scoped || key.ends_with("Name") && !key.ends_with("DisplayName") {
                    add(
                        Some(value),
                        &format!("`{key}` of `{logical}` ({ty})"),
                        scoped,
                    );
                }
            }
        }
    }
    if let Some(outputs) = at(&["resources", "Outputs"]).and_then(Node::as_map) {
        for (key, output) in outputs {
            add(
                output.path(&["Export", "Name"]),
                &format!(
                    "the export name of output `{}`",
                    key.as_str().unwrap_or("?")
                ),
                true,
            );
        }
    }
    // Fn::ImportValue arguments anywhere name another stack's export.
    doc.walk(&mut |_, node| {
        let Some(call) = intrinsic::decode(node) else {
            return;
        };
        if call.function == Function::ImportValue {
            sites.push(NameSite {
                // The tag spelling's argument is the tagged node itself.
                node: call.arg.own_node().unwrap_or(node),
                what: "the imported export name".into(),
                must_scope: false,
                env: false,
            });
        }
    });
    sites
}

/// The literal strings inside a name, with intrinsic functions looked
/// through. Logical ids (`Ref`, `GetAtt`) are not names and are skipped.
fn name_strings(node: &Node) -> Vec<(String, &Node)> {
    let mut out = Vec::new();
    collect_strings(node, &mut out);
    out
}

fn collect_strings<'n>(node: &'n Node, out: &mut Vec<(String, &'n Node)>) {
    let call = intrinsic::decode(node);
    if call.is_some_and(|c| is_logical_id(c.function)) {
        return;
    }
    match &node.value {
        Value::Scalar { text, .. } => out.push((text.clone(), node)),
        Value::Seq(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Map(entries) => {
            for (_, value) in entries {
                collect_strings(value, out);
            }
        }
    }
}

/// `Ref`, `GetAtt` and `Condition` name logical ids, not resources.
fn is_logical_id(function: Function) -> bool {
    matches!(
        function,
        Function::Ref | Function::GetAtt | Function::Condition
    )
}

/// Whether a name carries the stage.
fn scope_of(node: &Node, root: &Node, dir: &Path) -> Scope {
    Scoper {
        root,
        dir,
        known: Default::default(),
    }
    .node(node, 0)
}

/// How deep `scope_of` follows references: the resolver's own nesting bound.
const SCOPE_DEPTH: usize = 64;

/// The scope of one name: each `self:` address and file value it reads is
/// judged once (a loop counts as unknown), so references that multiply at
/// each level cost their addresses, not their paths.
struct Scoper<'r> {
    root: &'r Node,
    dir: &'r Path,
    known: std::collections::HashMap<String, Scope>,
}

impl Scoper<'_> {
    fn node(&mut self, node: &Node, depth: usize) -> Scope {
        if depth > SCOPE_DEPTH {
            return Scope::Unknown;
        }
        match intrinsic::decode(node).map(|c| (c.function, c.arg.as_str())) {
            Some((Function::Ref, Some(target))) => {
                return match target {
                    "AWS::StackName" => Scope::Scoped,
                    t if t.starts_with("AWS::") => Scope::Unscoped,
                    _ => Scope::Unknown,
                };
            }
            Some((Function::Ref | Function::GetAtt | Function::ImportValue, _)) => {
                return Scope::Unknown;
            }
            _ => {}
        }
        match &node.value {
            Value::Scalar { text, .. } => self.text(text, depth),
            Value::Seq(items) => items
                .iter()
                .map(|i| self.node(i, depth + 1))
                .max()
                .unwrap_or(Scope::Unscoped),
            Value::Map(entries) => entries
                .iter()
                .map(|(_, v)| self.node(v, depth + 1))
                .max()
                .unwrap_or(Scope::Unscoped),
        }
    }

    /// The scope `judge` gives what `key` reads, judged once.
    fn once(&mut self, key: String, judge: impl FnOnce(&mut Self) -> Scope) -> Scope {
        if let Some(scope) = self.known.get(&key) {
            return *scope;
        }
        // Met again while it is judged: a loop, which no stage can build.
        self.known.insert(key.clone(), Scope::Unknown);
        let scope = judge(self);
        self.known.insert(key, scope);
        scope
    }

    fn text(&mut self, text: &str, depth: usize) -> Scope {
        // `${AWS::StackName}` in an `Fn::Sub` string carries the stage.
        if text.contains("${AWS::StackName}") {
            return Scope::Scoped;
        }
        let mut scope = Scope::Unscoped;
        for var in vars::find(text) {
            let part = if var.stage_form().is_some() {
                Scope::Scoped
            } else {
                match (var.source.as_str(), var.address.as_str()) {
                    ("self", "service")
                    | ("aws", "region" | "accountId")
                    | ("opt", "region")
                    | ("self", "provider.region") => Scope::Unscoped,
                    ("self", path) => self.once(format!("self:{path}"), |scoper| {
                        let keys: Vec<&str> = path.split('.').collect();
                        match scoper.root.path(&keys) {
                            Some(target) => scoper.node(target, depth + 1),
                            None => Scope::Unknown,
                        }
                    }),
                    ("file", _) => self.once(var.primary(), |scoper| {
                        match vars::file_value(scoper.dir, &var) {
                            Some(value) => scoper.text(&value, depth + 1),
                            None => Scope::Unknown,
                        }
                    }),
                    _ => Scope::Unknown,
                }
            };
            scope = scope.max(part);
        }
        scope
    }
}
