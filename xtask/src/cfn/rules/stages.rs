//! The stage family of the audit: how a file says "the stage", and which
//! stages it names. A literal `provider.stage`, or a stage variable whose
//! default a forgotten `--stage` deploys to silently, is `stage-default`; a
//! spelling that can come to another value than `--stage` is
//! `stage-spelling`; a stage named in a setting, a `params` key or a
//! per-stage map that the policy does not allow is `unknown-stage`.
//!
//! Different spellings that always agree are fine, and a default that
//! fails loudly is too: the rules judge what a deploy would silently do.
//! The name rules (`names.rs`) ask `allowed` about the stages they find
//! written in names.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::app::diag::Finding;
use crate::app::stage::Policy;
use crate::app::vars::{self, StageForm, Var};
use crate::app::yaml::{Node, Pos};
use crate::app::{App, Service};

pub const STAGE_DEFAULT: &str = "stage-default";
pub const STAGE_SPELLING: &str = "stage-spelling";
pub const UNKNOWN_STAGE: &str = "unknown-stage";
pub const STAGE_MAP_FALLBACK: &str = "stage-map-fallback";

/// Stage names teams commonly use. One of these written in a name, or as a
/// key of a per-stage map, that the policy does not allow is a reference to
/// a stage that cannot be deployed.
pub const COMMON_STAGE_NAMES: &[&str] = &[
    "dev",
    "develop",
    "development",
    "stage",
    "staging",
    "prod",
    "production",
    "qa",
    "uat",
    "preprod",
];

/// One use of a stage spelling, for [`follow_the_stage`].
pub(super) struct Spelling {
    /// Index of the service in the app.
    pub(super) service: usize,
    pub(super) form: StageForm,
    /// The variable as written, fallback included.
    pub(super) raw: String,
    pub(super) file: PathBuf,
    pub(super) pos: Pos,
}

/// `unknown-stage`: `name`, written in `context`, is no stage the policy
/// allows. Without deploy.toml the team's stages are not known: the default
/// policy is the tool's guess, not a fact about the app.
pub(super) fn allowed(
    policy: &Policy,
    file: &Path,
    pos: Pos,
    name: &str,
    context: &str,
    out: &mut Vec<Finding>,
) {
    if policy.stage(name).is_none() && policy.is_declared() {
        let allowed = policy.allowed();
        out.push(Finding::new(
            file,
            pos,
            UNKNOWN_STAGE,
            format!(
                "{context} names stage `{name}`, which {} does not allow (allowed: {allowed})",
                policy.source_name()
            ),
            format!("use one of {allowed}, or add `{name}` to the stages of deploy.toml"),
        ));
    }
}

/// The stage settings of one document (`base` is where an included file
/// sits): `provider.stage` or `custom.stage` written as a literal, the
/// stages `params` is keyed by, and maps keyed by stage names.
pub(super) fn settings(
    policy: &Policy,
    file: &Path,
    doc: &Node,
    base: &[&str],
    out: &mut Vec<Finding>,
) {
    let full_path = |keys: &[&str]| -> Option<&Node> {
        let rest = keys.strip_prefix(base)?;
        doc.path(rest)
    };
    for keys in [&["provider", "stage"][..], &["custom", "stage"][..]] {
        if let Some(node) = full_path(keys) {
            if let Some(text) = node.as_str() {
                // `${opt.stage, …}` (a dot for the colon) is no variable to
                // the CLI either: it stays text, which `stage-spelling`
                // reports as the broken variable it is, not as a default.
                if vars::find(text).is_empty() && !text.contains("${") {
                    let key = keys.join(".");
                    out.push(Finding::new(
                        file,
                        node.pos,
                        STAGE_DEFAULT,
                        format!("`{key}` is the literal `{text}`: any deploy without an explicit stage goes to `{text}`"),
                        format!("write `{key}: ${{opt:stage}}` (no default) and pass the stage on every command"),
                    ));
                    allowed(policy, file, node.pos, text, &format!("`{key}`"), out);
                } else {
                    from_elsewhere_with_default(policy, file, node.pos, &keys.join("."), text, out);
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
                        allowed(policy, file, key.pos, name, "`params`", out);
                    }
                }
            }
        }
    }
    stage_keyed_maps(policy, file, doc, out);
}

/// `stage-default` for a stage setting read from another source with a
/// literal default (`provider.stage: ${env:STAGE, 'dev'}`): wherever that
/// source is unset, a deploy without an explicit stage goes to the default
/// as surely as to a literal. Stage variables (`${opt:stage, 'dev'}`) are
/// [`default_of`]'s.
fn from_elsewhere_with_default(
    policy: &Policy,
    file: &Path,
    pos: Pos,
    key: &str,
    text: &str,
    out: &mut Vec<Finding>,
) {
    for var in vars::find(text) {
        if var.stage_form().is_some() {
            continue;
        }
        let Some(literal) = var
            .fallback
            .as_deref()
            .and_then(vars::literal_fallback)
            .filter(|l| !l.is_empty())
        else {
            continue;
        };
        let raw = var.raw(text);
        out.push(Finding::new(
            file,
            pos,
            STAGE_DEFAULT,
            format!("`{key}` is `{raw}`: {UNSET_SOURCE}, any deploy without an explicit stage goes to `{literal}`"),
            format!("drop the default (write `{key}: ${{opt:stage}}`) and pass the stage on every command"),
        ));
        allowed(
            policy,
            file,
            pos,
            &literal,
            &format!("the default of `{raw}`"),
            out,
        );
    }
}

/// Maps whose keys are stage names (`custom.domains: {dev: ..., prod: ...}`):
/// keys naming a stage the policy does not allow.
fn stage_keyed_maps(policy: &Policy, file: &Path, doc: &Node, out: &mut Vec<Finding>) {
    let mut hits = Vec::new();
    doc.walk(&mut |_, node| {
        let Some(entries) = node.as_map() else { return };
        let keys: Vec<(&str, Pos)> = entries
            .iter()
            .filter_map(|(k, _)| k.as_str().map(|s| (s, k.pos)))
            .collect();
        let allowed = keys
            .iter()
            .filter(|(k, _)| policy.stage(k).is_some())
            .count();
        if allowed == 0 {
            return;
        }
        for (key, pos) in keys {
            if policy.stage(key).is_none() && COMMON_STAGE_NAMES.contains(&key) {
                hits.push((key.to_string(), pos));
            }
        }
    });
    for (key, pos) in hits {
        allowed(policy, file, pos, &key, "this per-stage map", out);
    }
}

/// `stage-default` for one stage variable (`var`, written in `text` at
/// `pos`) whose default a forgotten `--stage` deploys to silently; and
/// `unknown-stage` when that default is a stage the policy does not allow.
/// Whether `finding` is a default taken when `--stage` is missing (a
/// literal stage setting, `${opt:stage, 'dev'}`, `${sls:stage}` with no
/// `provider.stage`), as opposed to one taken when another source is unset.
pub(super) fn is_default_of_a_missing_flag(finding: &Finding) -> bool {
    finding.rule == STAGE_DEFAULT && !finding.message.contains(UNSET_SOURCE)
}

/// What the finding of a default from another source says.
const UNSET_SOURCE: &str = "where that is unset";

pub(super) fn default_of(
    policy: &Policy,
    service: &Service,
    file: &Path,
    pos: Pos,
    var: &Var,
    text: &str,
    out: &mut Vec<Finding>,
) {
    let Some(form) = var.stage_form() else { return };
    // A default that itself needs `--stage` fails loudly: fine.
    let silent = {
        let mut ctx = service.vars_at("dev", "us-east-1");
        ctx.stage_given = false;
        !matches!(
            vars::evaluate(var.raw(text), &ctx),
            vars::Resolved::Missing(_)
        )
    };
    // `${self:provider.stage, 'dev'}` where the file defines no
    // `provider.stage` never follows `--stage` at all: `follow_the_stage`
    // says so, at the cause.
    let undefined_self = matches!(form, StageForm::SelfProvider | StageForm::SelfCustom) && {
        let ctx = service.vars_at("dev", "us-east-1");
        matches!(
            vars::evaluate(form.spelling(), &ctx),
            vars::Resolved::Missing(_)
        )
    };
    // A default that is another spelling of the stage is that
    // spelling's definition's matter: one finding, at the cause. The
    // first alternative that resolves is the default, so what follows a
    // spelling that resolves (`${opt:stage, self:provider.stage, ""}` with
    // `provider.stage` set) is never reached.
    let only_stage_refs = var.fallback.as_deref().is_some_and(|fallback| {
        let alternatives = vars::alternatives(fallback);
        let stage_ref = |alt: &vars::Alternative| match alt {
            vars::Alternative::Reference(inner) => vars::find(&format!("${{{inner}}}"))
                .first()
                .is_some_and(|v| v.stage_form().is_some()),
            _ => false,
        };
        let resolves = |alt: &vars::Alternative| match alt {
            vars::Alternative::Reference(inner) => {
                let mut ctx = service.vars_at("dev", "us-east-1");
                ctx.stage_given = false;
                matches!(
                    vars::evaluate(&format!("${{{inner}}}"), &ctx),
                    vars::Resolved::Known(_)
                )
            }
            _ => false,
        };
        match alternatives.first() {
            Some(first) if stage_ref(first) => {
                alternatives.iter().all(stage_ref) || resolves(first)
            }
            _ => false,
        }
    });
    let Some(fallback) = var
        .fallback
        .as_ref()
        .filter(|_| silent && !only_stage_refs && !undefined_self)
    else {
        return;
    };
    let raw = var.raw(text).to_string();
    out.push(Finding::new(
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
    ));
    if let Some(literal) = vars::literal_fallback(fallback) {
        if !literal.is_empty() {
            allowed(
                policy,
                file,
                pos,
                &literal,
                &format!("the default of `{raw}`"),
                out,
            );
        }
    }
}

/// A per-stage map read by the stage that falls back to one stage's
/// entry (`${self:custom.env.${sls:stage}, self:custom.env.dev}`): a stage
/// the map does not name takes that stage's values silently (`--stage qa`
/// deploys with dev's table and API), where without the fallback the CLI
/// stops.
pub(super) fn map_fallback(
    policy: &Policy,
    file: &Path,
    pos: Pos,
    var: &Var,
    text: &str,
    out: &mut Vec<Finding>,
) {
    if var.source != vars::Source::SelfRef {
        return;
    }
    // The map, read at the stage: `custom.env.${sls:stage}`.
    let by_stage = vars::find(&var.address)
        .iter()
        .any(|inner| inner.stage_form().is_some());
    let Some(map) = var.address.split(".${").next().filter(|_| by_stage) else {
        return;
    };
    let Some(fallback) = var.fallback.as_deref() else {
        return;
    };
    let named_stage =
        |word: &str| policy.stage(word).is_some() || COMMON_STAGE_NAMES.contains(&word);
    for alternative in vars::alternatives(fallback) {
        let vars::Alternative::Reference(inner) = alternative else {
            continue;
        };
        let Some(address) = inner.strip_prefix("self:") else {
            continue;
        };
        let Some(stage) = address
            .strip_prefix(map)
            .and_then(|rest| rest.strip_prefix('.'))
            .map(|rest| rest.split('.').next().unwrap_or_default())
            .filter(|stage| named_stage(stage))
        else {
            continue;
        };
        out.push(Finding::new(
            file,
            pos,
            STAGE_MAP_FALLBACK,
            format!(
                "`{}` falls back to `{map}.{stage}`: a stage `{map}` has no entry for takes {stage}'s values silently",
                var.raw(text)
            ),
            format!("drop the fallback, so a stage without its entry in `{map}` stops the CLI, or give each stage its entry"),
        ));
        return;
    }
}

/// Whether the CLI stops when run without `--stage` anyway: it resolves
/// every variable of the file, and one of them finds no value then
/// (`custom.stage: ${opt:stage, self:provider.stage}` with no
/// `provider.stage`) though it does with a stage.
fn stops_without_stage(service: &Service) -> bool {
    let mut given = service.vars_at("dev", "us-east-1");
    given.stage_given = true;
    let mut bare = service.vars_at("dev", "us-east-1");
    bare.stage_given = false;
    let mut stops = false;
    service.doc.walk(&mut |_, node| {
        let Some(text) = node.as_str().filter(|t| t.contains("opt:stage")) else {
            return;
        };
        for var in vars::find_all(text) {
            let raw = var.raw(text);
            if !raw.contains("opt:stage") {
                continue;
            }
            stops |= matches!(vars::evaluate(raw, &bare), vars::Resolved::Missing(_))
                && matches!(vars::evaluate(raw, &given), vars::Resolved::Known(_));
        }
    });
    stops
}

/// A spelling of the stage is a hazard only when it can come to another
/// value than the stage the stack is deployed to: `${self:provider.stage}`
/// where `provider.stage` is a literal, a `custom.stage` built from
/// something else. Different spellings that always agree are fine. And
/// `${sls:stage}` silently means `dev` when the CLI runs without
/// `--stage` and the service sets no `provider.stage`. One finding per
/// service and cause, at its first use.
pub(super) fn follow_the_stage(app: &App, spellings: &[Spelling], out: &mut Vec<Finding>) {
    let policy = &app.policy;
    let mut seen: BTreeSet<(usize, StageForm)> = BTreeSet::new();
    let probes: Vec<String> = policy
        .stage_names()
        .into_iter()
        .chain(["xtask-probe"])
        .map(str::to_string)
        .collect();
    for first in spellings {
        if !seen.insert((first.service, first.form)) {
            continue;
        }
        let service = &app.services[first.service];
        let group: Vec<&Spelling> = spellings
            .iter()
            .filter(|s| s.service == first.service && s.form == first.form)
            .collect();
        let times = if group.len() > 1 {
            format!(" (and {} more uses in this service)", group.len() - 1)
        } else {
            String::new()
        };
        match first.form {
            StageForm::SelfProvider | StageForm::SelfCustom => {
                // Each use as written: `${self:provider.stage, 'dev'}` in a
                // service that sets no `provider.stage` is `dev` in every
                // stage, where the bare spelling would stop the CLI.
                let Some((use_, stage, value)) = group.iter().find_map(|use_| {
                    probes.iter().find_map(|stage| {
                        let region = policy
                            .stage(stage)
                            .map(|c| c.region.as_str())
                            .unwrap_or("us-east-1");
                        let ctx = service.vars_at(stage, region);
                        match vars::evaluate(&use_.raw, &ctx) {
                            // The stage itself, or a name built on it
                            // (`${opt:stage}-test`): it follows the stage.
                            vars::Resolved::Known(value) if value.contains(stage.as_str()) => None,
                            // The CLI stops on a value it cannot find: loud, not silent.
                            vars::Resolved::Missing(_) => None,
                            // Said where it is written (`rules::refusals`).
                            vars::Resolved::Refused(_) => None,
                            vars::Resolved::Known(value) => {
                                Some((stage.clone(), format!("`{value}`")))
                            }
                            vars::Resolved::Unknowable(why) | vars::Resolved::List(why) => {
                                Some((stage.clone(), format!("unknown before deploy ({why})")))
                            }
                        }
                        .map(|(stage, value)| (*use_, stage, value))
                    })
                }) else {
                    continue;
                };
                let key = if use_.form == StageForm::SelfProvider {
                    "provider.stage"
                } else {
                    "custom.stage"
                };
                out.push(Finding::new(
                    &use_.file,
                    use_.pos,
                    STAGE_SPELLING,
                        format!(
                        "`{}` does not follow `--stage`: deployed with `--stage {stage}` it is {value}, so what is named with it here lands in another stage's name{times}",
                        use_.raw
                    ),
                    format!("define `{key}: ${{opt:stage}}` (it then follows `--stage` and fails loudly without it)"),
                ));
            }
            StageForm::Sls => {
                let mut ctx = service.vars_at("dev", "us-east-1");
                ctx.stage_given = false;
                if vars::sets_provider_stage(&ctx) || stops_without_stage(service) {
                    continue;
                }
                out.push(Finding::new(
                    &first.file,
                    first.pos,
                    STAGE_DEFAULT,
                    format!("`${{sls:stage}}` is `dev` whenever the CLI runs without `--stage`: this service sets no `provider.stage`{times}"),
                    "add `provider.stage: ${opt:stage}` to the service, so a command without `--stage` fails instead of using dev".to_string(),
                ));
            }
            StageForm::Opt => {}
        }
    }
}
