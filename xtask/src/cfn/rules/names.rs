//! The name family: names of stacks, buckets, tables, pools, roles and
//! exports, `${cf:}` stack references and environment values. A name that
//! spells a stage literally is `literal-stage`; one that must differ per
//! stage and does not depend on it is `unscoped-name`; two declared stages
//! in one account and region that give a resource one name are
//! `shared-across-stages` (audit); two services that create a resource of
//! one type under one name are `same-resource-name` (validate).
//!
//! The rules are about Serverless and CloudFormation, not about any one app:
//! which keys hold names, and which of those must carry the stage.
//! Descriptions and other free text are never names, so they never produce
//! findings.

use std::collections::BTreeSet;
use std::path::Path;

use super::stages::{self, COMMON_STAGE_NAMES};
use crate::app::diag::Finding;
use crate::app::stage::Policy;
use crate::app::vars::{self, Source, Var};
use crate::app::yaml::{Node, Pos, Value};
use crate::app::Service;
use crate::cfn::intrinsic::{self, Function};

use super::name_sites::{name_sites, NameSite};

pub const LITERAL_STAGE: &str = "literal-stage";
pub const UNSCOPED_NAME: &str = "unscoped-name";

/// Resource property keys that name a resource and must differ per stage,
/// by CloudFormation type: names AWS keeps unique in an account and
/// region. A user pool's name is not one (two pools may share it).
pub const SCOPED_PROPERTIES: &[(&str, &str)] = &[
    ("AWS::S3::Bucket", "BucketName"),
    ("AWS::DynamoDB::Table", "TableName"),
    ("AWS::DynamoDB::GlobalTable", "TableName"),
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
    // Unique in the account and region (an event rule in its bus, a
    // web ACL in its scope): a second stage's stack fails to create it.
    ("AWS::Events::Rule", "Name"),
    ("AWS::StepFunctions::StateMachine", "StateMachineName"),
    ("AWS::Pipes::Pipe", "Name"),
    ("AWS::Scheduler::Schedule", "Name"),
    ("AWS::WAFv2::WebACL", "Name"),
    ("AWS::WAFv2::IPSet", "Name"),
    ("AWS::WAFv2::RuleGroup", "Name"),
    ("AWS::ECR::Repository", "RepositoryName"),
    ("AWS::KinesisFirehose::DeliveryStream", "DeliveryStreamName"),
    ("AWS::CloudWatch::Alarm", "AlarmName"),
    ("AWS::CloudWatch::Dashboard", "DashboardName"),
    ("AWS::Lambda::LayerVersion", "LayerName"),
    ("AWS::Cognito::UserPoolDomain", "Domain"),
    ("AWS::Elasticsearch::Domain", "DomainName"),
    ("AWS::OpenSearchService::Domain", "DomainName"),
    ("AWS::ECS::Cluster", "ClusterName"),
    ("AWS::Glue::Job", "Name"),
    ("AWS::Glue::Crawler", "Name"),
    ("AWS::Glue::Trigger", "Name"),
    // A key of a nested property, by its path.
    ("AWS::SES::Template", "Template.TemplateName"),
    ("AWS::SES::ConfigurationSet", "Name"),
];

/// The value of a property of `SCOPED_PROPERTIES` (`Template.TemplateName`
/// is a path) in `resource`.
pub(super) fn scoped_property<'n>(resource: &'n Node, key: &str) -> Option<&'n Node> {
    let path: Vec<&str> = std::iter::once("Properties")
        .chain(key.split('.'))
        .collect();
    resource.path(&path)
}

/// Every name of one document of `service` (`base` is where an included
/// file sits): the stages it spells literally, and whether it carries the
/// stage when it must.
pub(super) fn names(
    policy: &Policy,
    service: &Service,
    file: &Path,
    doc: &Node,
    base: &[&str],
    out: &mut Vec<Finding>,
) {
    // A framework resource whose name `resources` gives (`S3Bucket<Name>`
    // with its own `BucketName`) is named there, and judged there.
    let renamed = |site: &super::name_sites::NameSite| {
        site.logical_id.as_deref().is_some_and(|id| {
            service
                .entries("Resources")
                .iter()
                .any(|(_, key, resource)| {
                    key.as_str() == Some(id)
                        && resource.path(&["Properties", "BucketName"]).is_some()
                })
        })
    };
    for site in name_sites(doc, base) {
        if !renamed(&site) {
            name(policy, service, file, &site, out);
        }
    }
    // `resources: [{Resources: …}, ${file(…)}]`: each inline item is a
    // section of its own (the included ones are their files' documents).
    if base.is_empty() {
        for item in doc
            .get("resources")
            .and_then(Node::as_seq)
            .unwrap_or_default()
        {
            if item.as_map().is_some() {
                let placed = super::placed_under("resources", item);
                for site in name_sites(&placed, &[]) {
                    name(policy, service, file, &site, out);
                }
            }
        }
    }
}

/// The stack name of a `${cf:}` reference (`var`, written in `text` at
/// `pos`) spelling a stage literally.
pub(super) fn stack_reference(
    policy: &Policy,
    file: &Path,
    pos: Pos,
    var: &Var,
    text: &str,
    out: &mut Vec<Finding>,
) {
    if var.source != Source::Cf {
        return;
    }
    let stack = var.address.split('.').next().unwrap_or("");
    let stripped = strip_vars(stack);
    literal_stages(
        policy,
        file,
        pos,
        &stripped,
        &format!("the stack name in `{}`", var.raw(text)),
        false,
        out,
    );
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

fn name(policy: &Policy, service: &Service, file: &Path, site: &NameSite, out: &mut Vec<Finding>) {
    let mut literal_found = false;
    for (text, node) in name_strings(site.node) {
        let stripped = strip_vars(&vars::expand_files(&text, &service.dir));
        if literal_stages(policy, file, node.pos, &stripped, &site.what, site.env, out) {
            literal_found = true;
        }
    }
    shared_values(policy, service, site, out);
    if site.must_scope
        && !literal_found
        && scope_of(site.node, &service.doc, &service.dir) == Scope::Unscoped
    {
        out.push(Finding::new(
            file,
            site.node.pos,
            UNSCOPED_NAME,
            format!(
                "{} does not depend on the stage, so every stage would share (and fight over) it",
                site.what
            ),
            format!(
                "build the name from the stage variable, e.g. `...-{}`",
                vars::CANONICAL.spelling()
            ),
        ));
    }
}

/// A value of the service file a name reads through `${self:x}`
/// (`custom.usersTable: users-dev`) names a stage for every reader: said
/// once, where it is written.
fn shared_values(policy: &Policy, service: &Service, site: &NameSite, out: &mut Vec<Finding>) {
    for (text, _) in name_strings(site.node) {
        for var in vars::find_all(&text) {
            if var.source != Source::SelfRef || var.stage_form().is_some() {
                continue;
            }
            let keys: Vec<&str> = var.address.split('.').collect();
            let Some(target) = service.doc.path(&keys) else {
                continue;
            };
            let Some(value) = target.as_str() else {
                continue;
            };
            let said = out.iter().any(|f| {
                f.rule == LITERAL_STAGE && f.file == service.file && f.line == target.pos.line
            });
            if !said {
                let what = format!("`{}` (read by {})", var.address, site.what);
                let stripped = strip_vars(value);
                literal_stages(
                    policy,
                    &service.file,
                    target.pos,
                    &stripped,
                    &what,
                    site.env,
                    out,
                );
            }
        }
    }
}

/// Reports stage names written as a token of `text`; true when any.
fn literal_stages(
    policy: &Policy,
    file: &Path,
    pos: Pos,
    text: &str,
    what: &str,
    setting: bool,
    out: &mut Vec<Finding>,
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
        let undeclared_stage = common && !policy.is_declared() && !(setting && lone_word);
        if policy.stage(&lower).is_some() || undeclared_stage {
            found = true;
            out.push(Finding::new(
                file,
                pos,
                LITERAL_STAGE,
                format!("{what} spells the stage `{lower}` literally"),
                format!("replace `{lower}` with `{}`", vars::CANONICAL.spelling()),
            ));
        } else if common && !(setting && lone_word) {
            found = true;
            stages::allowed(policy, file, pos, &lower, what, out);
        }
    }
    found
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
    // By balance, so a variable inside another (`${${file(./${opt:stage,
    // 'dev'}.json):k}}`) goes with it, fallback and all.
    let mut out = String::new();
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek() == Some(&'{') {
            chars.next();
            if depth == 0 {
                out.push(' ');
            }
            depth += 1;
        } else if c == '}' && depth > 0 {
            depth -= 1;
        } else if depth == 0 {
            out.push(c);
        }
    }
    out
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
                    // Each stage is its own stack: its name and id differ.
                    "AWS::StackName" | "AWS::StackId" => Scope::Scoped,
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
        // `${AWS::StackName}` (or the stack's id) in an `Fn::Sub` string
        // carries the stage.
        if text.contains("${AWS::StackName}") || text.contains("${AWS::StackId}") {
            return Scope::Scoped;
        }
        let mut scope = Scope::Unscoped;
        for var in vars::find(text) {
            let part =
                if var.stage_form().is_some() {
                    Scope::Scoped
                } else {
                    match (&var.source, var.address.as_str()) {
                        (Source::SelfRef, "service")
                        | (Source::Aws, "region" | "accountId")
                        | (Source::Opt, "region")
                        | (Source::SelfRef, "provider.region") => Scope::Unscoped,
                        (Source::SelfRef, path) => self.once(format!("self:{path}"), |scoper| {
                            let keys: Vec<&str> = path.split('.').collect();
                            match scoper.root.path(&keys) {
                                Some(target) => scoper.node(target, depth + 1),
                                None => Scope::Unknown,
                            }
                        }),
                        // Where the variable is unset, the literal default
                        // is the name: the same in every stage unless it
                        // reads the stage itself.
                        (Source::Env, _) => {
                            match var.fallback.as_deref().map(vars::alternatives).as_deref() {
                                Some([vars::Alternative::Literal(text), ..]) => {
                                    self.text(text, depth + 1)
                                }
                                Some([vars::Alternative::Reference(inner), ..]) => {
                                    self.text(&format!("${{{inner}}}"), depth + 1)
                                }
                                _ => Scope::Unknown,
                            }
                        }
                        (Source::File, _) => self.once(var.primary(), |scoper| {
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
