//! CloudFormation at AWS's pace, simulated and said so. The emulator
//! answers a stack operation in milliseconds; AWS takes tens of seconds to
//! minutes, and that wait is what a deploy's schedule overlaps. A [`Pacer`]
//! sits in front of the emulator (a tap that holds answers,
//! `aws/emulator/tap.rs`) and makes each stack operation's answer wait the
//! time a [`Model`] gives it, scaled by one factor (`--aws-pace 0.1`: ten
//! times faster than AWS, same proportions). Only the benchmark and the
//! tests use it: no command a team runs knows of it.
//!
//! A stack operation's modelled time is the model's overhead for a stack
//! (and for a change set, when one is made first), plus the longest chain
//! of the resources it creates or updates, through their `Ref`, `GetAtt`,
//! `Sub` and `DependsOn` edges (CloudFormation runs independent resources
//! at once), plus the longest of its deletions, which run after.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::aws::emulator::tap::{Hold, Request};
use crate::cfn::intrinsic;

/// The committed model (`bench/aws_pace.tsv`, its sources in its header).
const BUILTIN: &str = include_str!("aws_pace.tsv");

/// Seconds a resource takes: created, updated, deleted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Times {
    pub create: f64,
    pub update: f64,
    pub delete: f64,
}

/// How long AWS takes, per resource type (and `*` for types it does not
/// name, `Custom::*` for custom resources, `@stack` and `@change-set` for
/// the operations themselves).
#[derive(Debug, Clone)]
pub struct Model {
    types: BTreeMap<String, (Times, String)>,
    /// Where the model was read from, for the report.
    pub origin: String,
}

impl Model {
    pub fn builtin() -> Model {
        // The committed table is checked by a test; it cannot fail here.
        Model::parse(BUILTIN, "bench/aws_pace.tsv (built in)").unwrap_or_else(|_| Model {
            types: BTreeMap::new(),
            origin: "none".into(),
        })
    }

    pub fn read(path: &Path) -> Result<Model> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the pace model {}", path.display()))?;
        Model::parse(&text, &path.display().to_string())
    }

    /// Lines of `type<TAB>create<TAB>update<TAB>delete<TAB>source`; `#`
    /// starts a comment.
    pub fn parse(text: &str, origin: &str) -> Result<Model> {
        let mut types = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let seconds = |i: usize| -> Result<f64> {
                let field = fields.get(i).copied().unwrap_or_default();
                match field.parse::<f64>() {
                    Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => Ok(s),
                    _ => bail!(
                        "{origin}:{}: `{field}` is not a number of seconds (0 to 86400); \
                         a line is `type create update delete source`",
                        n + 1
                    ),
                }
            };
            let times = Times {
                create: seconds(1)?,
                update: seconds(2)?,
                delete: seconds(3)?,
            };
            let source = fields.get(4).copied().unwrap_or("-").to_string();
            types.insert(fields[0].to_string(), (times, source));
        }
        for needed in ["@stack", "@change-set", "*"] {
            if !types.contains_key(needed) {
                bail!("{origin}: the pace model has no `{needed}` line");
            }
        }
        Ok(Model {
            types,
            origin: origin.to_string(),
        })
    }

    /// The times of a resource type.
    pub fn times(&self, kind: &str) -> Times {
        let custom = kind.starts_with("Custom::") || kind == "AWS::CloudFormation::CustomResource";
        self.types
            .get(kind)
            .or_else(|| custom.then(|| self.types.get("Custom::*")).flatten())
            .or_else(|| self.types.get("*"))
            .map(|(t, _)| *t)
            .unwrap_or(Times {
                create: 0.0,
                update: 0.0,
                delete: 0.0,
            })
    }

    /// Every line as `type create update delete source`, for the report.
    pub fn table(&self) -> Vec<(String, Times, String)> {
        self.types
            .iter()
            .map(|(k, (t, s))| (k.clone(), *t, s.clone()))
            .collect()
    }
}

/// What one stack operation changed, and how long AWS would take for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub stack: String,
    /// `create`, `update` or `delete`.
    pub kind: &'static str,
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    /// At AWS's pace (not scaled).
    pub seconds: f64,
}

/// A template's resources: type, properties and what each depends on.
struct Resources(BTreeMap<String, (String, Value, BTreeSet<String>)>);

impl Resources {
    fn of(template: Option<&Value>) -> Resources {
        let mut all = BTreeMap::new();
        let Some(resources) = template
            .and_then(|t| t.get("Resources"))
            .and_then(Value::as_object)
        else {
            return Resources(all);
        };
        for (id, resource) in resources {
            let kind = resource
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let mut deps = BTreeSet::new();
            match resource.get("DependsOn") {
                Some(Value::String(d)) => {
                    deps.insert(d.clone());
                }
                Some(Value::Array(ds)) => {
                    deps.extend(ds.iter().filter_map(Value::as_str).map(str::to_string))
                }
                _ => {}
            }
            if let Some(properties) = resource.get("Properties") {
                references(properties, &mut deps, 0);
            }
            deps.retain(|d| resources.contains_key(d) && d != id);
            let properties = resource.get("Properties").cloned().unwrap_or(Value::Null);
            all.insert(id.clone(), (kind, properties, deps));
        }
        Resources(all)
    }
}

/// The logical ids a value refers to.
fn references(value: &Value, into: &mut BTreeSet<String>, depth: usize) {
    if depth > 64 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, arg) in map {
                match (key.as_str(), arg) {
                    ("Ref", Value::String(id)) => {
                        into.insert(id.clone());
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        if let Some(id) = parts.first().and_then(Value::as_str) {
                            into.insert(id.to_string());
                        }
                    }
                    ("Fn::GetAtt", Value::String(dotted)) => {
                        into.insert(dotted.split('.').next().unwrap_or_default().to_string());
                    }
                    ("Fn::Sub", sub) => {
                        let text = match sub {
                            Value::String(t) => Some(t.as_str()),
                            Value::Array(parts) => parts.first().and_then(Value::as_str),
                            _ => None,
                        };
                        for name in text.map(intrinsic::sub_names).unwrap_or_default() {
                            into.insert(name.split('.').next().unwrap_or_default().to_string());
                        }
                    }
                    _ => {}
                }
                references(arg, into, depth + 1);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, into, depth + 1)),
        _ => {}
    }
}

/// How long AWS would take to take a stack from `old` to `new` (`None`:
/// no stack), by `model`, with `change_set` when a change set is made
/// first; and what it changes.
pub fn modelled(
    model: &Model,
    stack: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    change_set: bool,
) -> Operation {
    let (before, after) = (Resources::of(old), Resources::of(new));
    let kind = match (old, new) {
        (None, _) => "create",
        (_, None) => "delete",
        _ => "update",
    };
    // Each resource of the new template: what its own change takes.
    let mut own: HashMap<&str, f64> = HashMap::new();
    let (mut created, mut updated) = (0, 0);
    for (id, (kind, properties, _)) in &after.0 {
        let times = model.times(kind);
        let seconds = match before.0.get(id) {
            None => {
                created += 1;
                times.create
            }
            // Another type under the same id is a replacement.
            Some((was, _, _)) if was != kind => {
                created += 1;
                times.create
            }
            Some((_, was, _)) if was != properties => {
                updated += 1;
                times.update
            }
            Some(_) => 0.0,
        };
        own.insert(id, seconds);
    }
    // The longest chain ending at each resource.
    fn chain<'t>(
        id: &'t str,
        resources: &'t Resources,
        own: &HashMap<&str, f64>,
        memo: &mut HashMap<&'t str, f64>,
        visiting: &mut BTreeSet<&'t str>,
    ) -> f64 {
        if let Some(done) = memo.get(id) {
            return *done;
        }
        if !visiting.insert(id) {
            return 0.0; // a cycle CloudFormation would refuse
        }
        let before = resources
            .0
            .get(id)
            .map(|(_, _, deps)| {
                deps.iter()
                    .map(|d| chain(d, resources, own, memo, visiting))
                    .fold(0.0, f64::max)
            })
            .unwrap_or(0.0);
        visiting.remove(id);
        let total = before + own.get(id).copied().unwrap_or(0.0);
        memo.insert(id, total);
        total
    }
    let mut memo = HashMap::new();
    let longest = after
        .0
        .keys()
        .map(|id| chain(id, &after, &own, &mut memo, &mut BTreeSet::new()))
        .fold(0.0, f64::max);
    // Deletions: after the rest, at once; a whole stack's, along its
    // chains in reverse.
    let gone: Vec<&String> = before
        .0
        .iter()
        .filter(|(id, (kind, _, _))| after.0.get(*id).is_none_or(|(k, _, _)| k != kind))
        .map(|(id, _)| id)
        .collect();
    let deleting = if new.is_none() {
        let own: HashMap<&str, f64> = before
            .0
            .iter()
            .map(|(id, (kind, _, _))| (id.as_str(), model.times(kind).delete))
            .collect();
        let mut memo = HashMap::new();
        before
            .0
            .keys()
            .map(|id| chain(id, &before, &own, &mut memo, &mut BTreeSet::new()))
            .fold(0.0, f64::max)
    } else {
        gone.iter()
            .map(|id| model.times(&before.0[*id].0).delete)
            .fold(0.0, f64::max)
    };
    let overhead = |name: &str| match kind {
        "create" => model.times(name).create,
        "update" => model.times(name).update,
        _ => model.times(name).delete,
    };
    let set = if change_set {
        overhead("@change-set")
    } else {
        0.0
    };
    Operation {
        stack: stack.to_string(),
        kind,
        created,
        updated,
        deleted: gone.len(),
        seconds: overhead("@stack") + set + longest + deleting,
    }
}

/// The paced endpoint's memory: each stack's template as last deployed,
/// change sets made and not yet run, and every operation paced.
#[derive(Default)]
struct State {
    stacks: HashMap<String, Value>,
    change_sets: HashMap<String, (String, Option<Value>)>,
    operations: Vec<Operation>,
}

/// Paces CloudFormation's stack operations through a tap in front of
/// `upstream` (the emulator).
pub struct Pacer {
    model: Model,
    factor: f64,
    upstream: String,
    client: reqwest::Client,
    state: Mutex<State>,
}

impl Pacer {
    pub fn new(model: Model, factor: f64, upstream: &str) -> Arc<Pacer> {
        Arc::new(Pacer {
            model,
            factor,
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            state: Mutex::new(State::default()),
        })
    }

    /// The hook a tap calls with each request.
    pub fn hold(self: &Arc<Self>) -> Hold {
        let pacer = self.clone();
        Arc::new(move |request| {
            let pacer = pacer.clone();
            Box::pin(async move { pacer.on(request).await })
        })
    }

    /// Every stack operation paced so far, in order.
    pub fn operations(&self) -> Vec<Operation> {
        self.state
            .lock()
            .map(|s| s.operations.clone())
            .unwrap_or_default()
    }

    async fn on(&self, request: Request) -> Duration {
        if request.service.as_deref() != Some("cloudformation") {
            return Duration::ZERO;
        }
        let Some(fields) = request.form() else {
            return Duration::ZERO;
        };
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let stack = field("StackName").map(|s| stack_name(&s));
        let template = match (field("TemplateBody"), field("TemplateURL")) {
            (Some(body), _) => serde_json::from_str(&body).ok(),
            (None, Some(url)) => self.fetch(&url).await,
            (None, None) => None,
        };
        let operation = {
            let Ok(mut state) = self.state.lock() else {
                return Duration::ZERO;
            };
            match field("Action").as_deref() {
                Some("CreateChangeSet") => {
                    let (Some(stack), Some(name)) = (stack, field("ChangeSetName")) else {
                        return Duration::ZERO;
                    };
                    // Making the change set is the model's `@change-set`,
                    // paid when it runs (a change set with no change is
                    // deleted and never runs).
                    state.change_sets.insert(name, (stack, template));
                    return Duration::ZERO;
                }
                Some("ExecuteChangeSet") => {
                    let name = field("ChangeSetName").map(|n| change_set_name(&n));
                    let Some((stack, template)) = name.and_then(|n| state.change_sets.remove(&n))
                    else {
                        return Duration::ZERO;
                    };
                    let old = state.stacks.get(&stack);
                    let op = modelled(&self.model, &stack, old, template.as_ref(), true);
                    if let Some(t) = template {
                        state.stacks.insert(stack, t);
                    }
                    op
                }
                Some("CreateStack" | "UpdateStack") => {
                    let Some(stack) = stack else {
                        return Duration::ZERO;
                    };
                    let old = state.stacks.get(&stack);
                    let op = modelled(&self.model, &stack, old, template.as_ref(), false);
                    if let Some(t) = template {
                        state.stacks.insert(stack, t);
                    }
                    op
                }
                Some("DeleteStack") => {
                    let Some(stack) = stack else {
                        return Duration::ZERO;
                    };
                    let old = state.stacks.remove(&stack);
                    let op = modelled(&self.model, &stack, old.as_ref(), None, false);
                    op
                }
                _ => return Duration::ZERO,
            }
        };
        let wait = Duration::from_secs_f64(operation.seconds * self.factor);
        if let Ok(mut state) = self.state.lock() {
            state.operations.push(operation);
        }
        wait
    }

    /// A template the caller uploaded, read back from the emulator's S3 by
    /// its URL's bucket and key (path or virtual-host style).
    async fn fetch(&self, url: &str) -> Option<Value> {
        let url = reqwest::Url::parse(url).ok()?;
        let host = url.host_str()?;
        let path = url.path().trim_start_matches('/');
        let object = match host.split_once(".s3") {
            Some((bucket, _)) if !host.starts_with("s3") => format!("{bucket}/{path}"),
            _ => path.to_string(),
        };
        let answer = self
            .client
            .get(format!("{}/{object}", self.upstream))
            .send()
            .await
            .ok()?;
        if !answer.status().is_success() {
            return None;
        }
        answer.json().await.ok()
    }
}

/// A stack's name from its name or ARN (`arn:…:stack/NAME/ID`).
fn stack_name(name_or_arn: &str) -> String {
    arn_part(name_or_arn, "stack/")
}

/// A change set's name from its name or ARN (`arn:…:changeSet/NAME/ID`).
fn change_set_name(name_or_arn: &str) -> String {
    arn_part(name_or_arn, "changeSet/")
}

fn arn_part(name_or_arn: &str, kind: &str) -> String {
    match name_or_arn.strip_prefix("arn:") {
        Some(rest) => rest
            .split(kind)
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or(name_or_arn)
            .to_string(),
        None => name_or_arn.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model() -> Model {
        Model::parse(
            "@stack 2 2 1 x\n@change-set 3 3 3 x\n* 1 1 1 x\nA 10 4 5 x\nB 20 8 7 x\n",
            "test",
        )
        .unwrap()
    }

    #[test]
    fn the_committed_model_reads_and_names_a_source_for_every_line() {
        let model = Model::parse(BUILTIN, "aws_pace.tsv").unwrap();
        for (kind, times, source) in model.table() {
            assert!(
                !source.is_empty() && source != "-",
                "{kind} has no source: {times:?}"
            );
        }
        assert!(model.times("AWS::CloudFront::Distribution").create > 60.0);
        assert_eq!(
            model.times("Custom::Anything"),
            model.times("AWS::CloudFormation::CustomResource")
        );
    }

    #[test]
    fn a_bad_line_is_refused_at_its_line() {
        let err = Model::parse("@stack 1 1 1\n@change-set 1 1 1\n* 1 x 1\n", "m.tsv")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("m.tsv:3:"), "{err}");
        let err = Model::parse("* 1 1 1\n", "m.tsv").unwrap_err().to_string();
        assert!(err.contains("@stack"), "{err}");
    }

    #[test]
    fn a_create_takes_its_longest_chain_not_the_sum() {
        // c depends on b (Ref) which depends on a (GetAtt); d stands alone.
        let template = json!({"Resources": {
            "a": {"Type": "A"},
            "b": {"Type": "B", "Properties": {"X": {"Fn::GetAtt": ["a", "Arn"]}}},
            "c": {"Type": "A", "Properties": {"Y": {"Fn::Sub": "${b}-x"}}},
            "d": {"Type": "B"},
        }});
        let op = modelled(&model(), "s", None, Some(&template), true);
        assert_eq!((op.kind, op.created), ("create", 4));
        // stack 2 + change set 3 + a 10 → b 20 → c 10.
        assert_eq!(op.seconds, 2.0 + 3.0 + 40.0);
    }

    #[test]
    fn an_update_counts_only_what_changed_and_deletes_after() {
        let old = json!({"Resources": {
            "a": {"Type": "A", "Properties": {"P": 1}},
            "b": {"Type": "B", "DependsOn": "a"},
            "gone": {"Type": "B"},
        }});
        let new = json!({"Resources": {
            "a": {"Type": "A", "Properties": {"P": 2}},
            "b": {"Type": "B", "DependsOn": "a"},
        }});
        let op = modelled(&model(), "s", Some(&old), Some(&new), false);
        assert_eq!((op.created, op.updated, op.deleted), (0, 1, 1));
        // stack 2 + a's update 4 (b unchanged) + gone's delete 7.
        assert_eq!(op.seconds, 2.0 + 4.0 + 7.0);
        let same = modelled(&model(), "s", Some(&new), Some(&new), false);
        assert_eq!(same.seconds, 2.0);
    }

    #[test]
    fn a_delete_takes_the_longest_chain_of_deletions() {
        let old = json!({"Resources": {
            "a": {"Type": "A"},
            "b": {"Type": "B", "Properties": {"R": {"Ref": "a"}}},
            "loop1": {"Type": "A", "DependsOn": "loop2"},
            "loop2": {"Type": "A", "DependsOn": "loop1"},
        }});
        let op = modelled(&model(), "s", Some(&old), None, false);
        assert_eq!((op.kind, op.deleted), ("delete", 4));
        assert_eq!(op.seconds, 1.0 + 5.0 + 7.0);
    }

    #[test]
    fn names_come_out_of_arns() {
        assert_eq!(
            stack_name("arn:aws:cloudformation:us-east-1:0:stack/app-dev/abc"),
            "app-dev"
        );
        assert_eq!(stack_name("app-dev"), "app-dev");
        assert_eq!(
            change_set_name("arn:aws:cloudformation:us-east-1:0:changeSet/cs-1/abc"),
            "cs-1"
        );
    }
}
