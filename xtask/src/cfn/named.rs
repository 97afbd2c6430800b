//! Order from names: a service that names, by ARN or by name, a resource
//! another service of the app creates under that name, where CloudFormation
//! or the CLI needs it to exist: a queue or a stream an event reads, a
//! topic an event subscribes to, an `existing` bucket an event watches, a
//! layer a function runs with, the role it runs as, a function an
//! authorizer calls (the CLI grants API Gateway leave to invoke it), an
//! SSM parameter the CLI or CloudFormation reads. Written as `arn:aws:sqs:${aws:region}:
//! ${aws:accountId}:jobs-${sls:stage}`, such a use has no `${cf:}` and no
//! `Fn::ImportValue` to order it, yet the consumer fails if it deploys
//! first. IAM statements name ARNs too, but a policy needs nothing to
//! exist: they order nothing.

use std::path::PathBuf;

use crate::app::stage::Stage;
use crate::app::vars;
use crate::app::yaml::{Node, Pos};
use crate::app::Service;

/// What a name names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Queue,
    Topic,
    Table,
    Stream,
    Bucket,
    Layer,
    Bus,
    Role,
    Function,
    Parameter,
    StateMachine,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Queue => "queue",
            Kind::Topic => "topic",
            Kind::Table => "table",
            Kind::Stream => "stream",
            Kind::Bucket => "bucket",
            Kind::Layer => "layer",
            Kind::Bus => "event bus",
            Kind::Role => "role",
            Kind::Function => "function",
            Kind::Parameter => "SSM parameter",
            Kind::StateMachine => "state machine",
        }
    }
}

/// One use of a name in a service's file.
#[derive(Debug, Clone)]
pub struct Use {
    pub kind: Kind,
    pub name: String,
    pub written: String,
    pub file: PathBuf,
    pub pos: Pos,
    /// Read while the service packages (a layer, which a plugin may look
    /// up by name), not only when its stack deploys.
    pub read_at_package: bool,
}

/// The names `service` creates resources under in `stage`: its
/// resources' name properties and its framework layers (a layer is
/// named `name`, else its key).
pub fn produced(service: &Service, stage: &Stage) -> Vec<(Kind, String)> {
    let ctx = service.vars(stage);
    let resolve = |node: &Node| vars::evaluate(node.as_str()?, &ctx).known();
    let mut out = Vec::new();
    for (_, _, resource) in service.entries("Resources") {
        let kind = match resource.get("Type").and_then(Node::as_str) {
            Some("AWS::SQS::Queue") => (Kind::Queue, "QueueName"),
            Some("AWS::SNS::Topic") => (Kind::Topic, "TopicName"),
            Some("AWS::DynamoDB::Table" | "AWS::DynamoDB::GlobalTable") => {
                (Kind::Table, "TableName")
            }
            Some("AWS::Kinesis::Stream") => (Kind::Stream, "Name"),
            Some("AWS::S3::Bucket") => (Kind::Bucket, "BucketName"),
            Some("AWS::Lambda::LayerVersion") => (Kind::Layer, "LayerName"),
            Some("AWS::Events::EventBus") => (Kind::Bus, "Name"),
            Some("AWS::IAM::Role") => (Kind::Role, "RoleName"),
            Some("AWS::SSM::Parameter") => (Kind::Parameter, "Name"),
            Some("AWS::StepFunctions::StateMachine") => (Kind::StateMachine, "StateMachineName"),
            _ => continue,
        };
        if let Some(name) = resource
            .path(&["Properties", kind.1])
            .filter(|n| n.tag.is_none())
            .and_then(resolve)
        {
            out.push((kind.0, name));
        }
    }
    // The step-functions plugin's state machines, by their `name`.
    for (_, machine) in service
        .doc
        .path(&["stepFunctions", "stateMachines"])
        .and_then(Node::as_map)
        .unwrap_or_default()
    {
        if let Some(name) = machine.get("name").and_then(resolve) {
            out.push((Kind::StateMachine, name));
        }
    }
    // An `eventBridge` event names its bus: by name, the framework
    // creates it (except `default`); by ARN, it must exist.
    for function in functions(service) {
        for event in function
            .get("events")
            .and_then(Node::as_seq)
            .unwrap_or_default()
        {
            let Some(bus) = event.path(&["eventBridge", "eventBus"]) else {
                continue;
            };
            if let Some(name) = bus
                .as_str()
                .filter(|_| bus.tag.is_none())
                .and_then(|_| resolve(bus))
            {
                if !name.starts_with("arn") && name != "default" {
                    out.push((Kind::Bus, name));
                }
            }
        }
    }
    // Its functions, under their `name` or the framework's
    // `<service>-<stage>-<key>`.
    let service_name = service
        .name()
        .and_then(|name| vars::evaluate(name, &ctx).known());
    for (key, function) in service
        .doc
        .get("functions")
        .and_then(Node::as_map)
        .unwrap_or_default()
    {
        let name = match function.get("name") {
            Some(name) => resolve(name),
            None => match (&service_name, key.as_str()) {
                (Some(service), Some(key)) => Some(format!("{service}-{}-{key}", stage.name())),
                _ => None,
            },
        };
        out.extend(name.map(|n| (Kind::Function, n)));
    }
    for (key, layer) in service
        .doc
        .get("layers")
        .and_then(Node::as_map)
        .unwrap_or_default()
    {
        let name = match layer.get("name") {
            Some(name) => resolve(name),
            None => key.as_str().map(str::to_string),
        };
        out.extend(name.map(|n| (Kind::Layer, n)));
    }
    out
}

/// Every use in `service` of a name that must exist when it deploys.
pub fn uses(service: &Service, stage: &Stage) -> Vec<Use> {
    let ctx = service.vars(stage);
    let mut out = Vec::new();
    let own = service.file.clone();
    let mut add = |file: &std::path::Path, node: &Node, from_arn: bool, read_at_package: bool| {
        // A value kept elsewhere (`arn: ${self:custom.authorizerArn}`) is
        // read where it is written.
        let (file, node) = service.followed(file, node);
        let (file, node) = (file.as_path(), &node);
        let Some(text) = text_of(node) else { return };
        let text = text.as_ref();
        let found = if from_arn {
            named_by_arn(text, &ctx)
        } else {
            known(text, &ctx).map(|name| (Kind::Bucket, name))
        };
        if let Some((kind, name)) = found {
            out.push(Use {
                kind,
                name,
                written: text.to_string(),
                file: file.to_path_buf(),
                pos: node.pos,
                read_at_package,
            });
        }
    };
    let layer_lists = std::iter::once(service.doc.path(&["provider", "layers"]))
        .chain(functions(service).map(|function| function.get("layers")));
    for layers in layer_lists.flatten() {
        for layer in layers.as_seq().unwrap_or_default() {
            add(&own, layer, true, true);
        }
    }
    // The role the functions run as, by ARN: Lambda refuses a function
    // whose role does not exist yet.
    let roles = [
        service.doc.path(&["provider", "iam", "role"]),
        service.doc.path(&["provider", "role"]),
    ]
    .into_iter()
    .chain(functions(service).map(|function| function.get("role")));
    for role in roles.flatten() {
        add(&own, role, true, false);
    }
    // A Lambda authorizer by its function's ARN: the CLI grants API
    // Gateway leave to invoke that function, which must exist.
    // The settings may be kept in a shared file
    // (`httpApi: ${file(../common.yml):httpApi}`): read where written.
    if let Some(api) = service.doc.path(&["provider", "httpApi"]) {
        let (file, api) = service.followed(&own, api);
        if let Some(authorizers) = api.get("authorizers") {
            let (file, authorizers) = service.followed(&file, authorizers);
            for (_, authorizer) in authorizers.as_map().unwrap_or_default() {
                let (file, authorizer) = service.followed(&file, authorizer);
                if let Some(arn) = authorizer.get("functionArn") {
                    add(&file, arn, true, false);
                }
            }
        }
    }
    for function in functions(service) {
        for event in function
            .get("events")
            .and_then(Node::as_seq)
            .unwrap_or_default()
        {
            if let Some(authorizer) = event.path(&["http", "authorizer"]) {
                let arn = authorizer.get("arn").unwrap_or(authorizer);
                let (_, value) = service.followed(&own, arn);
                if text_of(&value).is_some_and(|t| t.starts_with("arn:")) {
                    add(&own, arn, true, false);
                }
            }
            for source in ["sqs", "stream", "sns"] {
                if let Some(value) = event.get(source) {
                    add(&own, value.get("arn").unwrap_or(value), true, false);
                }
            }
            if let Some(bus) = event.path(&["eventBridge", "eventBus"]) {
                add(&own, bus, true, false);
            }
            if let Some(s3) = event.get("s3") {
                let existing = s3
                    .get("existing")
                    .and_then(Node::as_str)
                    .is_some_and(|v| v == "true");
                if let (true, Some(bucket)) = (existing, s3.get("bucket")) {
                    add(&own, bucket, false, false);
                }
            }
        }
    }
    // A rule's targets by ARN (a state machine, a queue, a function):
    // CloudFormation makes the rule without them, but its events go
    // nowhere until they exist.
    for (file, _, resource) in service.entries("Resources") {
        if resource.get("Type").and_then(Node::as_str) != Some("AWS::Events::Rule") {
            continue;
        }
        let targets = resource.path(&["Properties", "Targets"]);
        for target in targets.and_then(Node::as_seq).unwrap_or_default() {
            if let Some(arn) = target.get("Arn") {
                add(file, arn, true, false);
            }
        }
    }
    // A rule on another service's bus, by name or ARN.
    for (_, _, resource) in service.entries("Resources") {
        if resource.get("Type").and_then(Node::as_str) != Some("AWS::Events::Rule") {
            continue;
        }
        let Some(bus) = resource.path(&["Properties", "EventBusName"]) else {
            continue;
        };
        let Some(text) = text_of(bus) else { continue };
        let text = text.as_ref();
        let found = match crate::cfn::split_arn(text) {
            Some(_) => named_by_arn(text, &ctx),
            None => known(text, &ctx)
                .filter(|name| name != "default")
                .map(|name| (Kind::Bus, name)),
        };
        if let Some((kind, name)) = found {
            out.push(Use {
                kind,
                name,
                written: text.to_string(),
                file: service.file.clone(),
                pos: bus.pos,
                read_at_package: false,
            });
        }
    }
    out.extend(parameters(service, &ctx));
    out
}

/// The SSM parameters the service reads by name: `${ssm:/app/dev/key}`
/// (a fallback's too), which the CLI resolves while it packages, and
/// `{{resolve:ssm:/app/dev/key}}`, which CloudFormation resolves when the
/// stack deploys; each must exist by then.
fn parameters(service: &Service, ctx: &vars::Context) -> Vec<Use> {
    let mut out = Vec::new();
    for (file, document) in &service.documents_and_sections() {
        document.walk(&mut |_, node| {
            let Some(text) = node.as_str() else { return };
            let mut add = |name: String, read_at_package: bool| {
                out.push(Use {
                    kind: Kind::Parameter,
                    name,
                    written: text.to_string(),
                    file: file.clone(),
                    pos: node.pos,
                    read_at_package,
                });
            };
            let all = vars::find_all(text);
            for var in all.iter().flat_map(vars::with_fallbacks) {
                if var.source != vars::Source::Ssm {
                    continue;
                }
                // `~true` (decrypt) and `~split` are the CLI's, not the name's.
                if let Some(name) = known(&var.address, ctx) {
                    add(name.split('~').next().unwrap_or_default().to_string(), true);
                }
            }
            let mut rest = text;
            while let Some(at) = rest.find("{{resolve:ssm") {
                let after = &rest[at + "{{resolve:ssm".len()..];
                let after = after.strip_prefix("-secure").unwrap_or(after);
                let Some(body) = after.strip_prefix(':') else {
                    break;
                };
                let end = body.find("}}").unwrap_or(body.len());
                // `name` or `name:version` (the name may hold variables).
                let name = match body[..end].rsplit_once(':') {
                    Some((name, version))
                        if !version.is_empty() && version.chars().all(|c| c.is_ascii_digit()) =>
                    {
                        name
                    }
                    _ => &body[..end],
                };
                if let Some(name) = known(name, ctx) {
                    add(name, false);
                }
                rest = &body[end..];
            }
        });
    }
    out.retain(|u| !u.name.is_empty());
    out
}

fn functions(service: &Service) -> impl Iterator<Item = &Node> {
    service
        .doc
        .get("functions")
        .and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .map(|(_, function)| function)
}

/// The text of a plain string, of an `Fn::Sub` (whose `${AWS::...}`
/// stand in the fields before the resource part), or of an `Fn::Join`
/// of strings and the pseudo-parameters `Ref: AWS::Region`,
/// `AWS::AccountId`, `AWS::Partition` (`arn:aws:sns:` + region + `:` +
/// account + `:topic`): other functions (`!GetAtt`, `!ImportValue`) are
/// ordered elsewhere.
pub(crate) fn text_of(node: &Node) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    if let Some(text) = match node.tag.as_deref() {
        None | Some("Sub") => node.as_str(),
        Some(_) => None,
    } {
        return Some(Cow::Borrowed(text));
    }
    if let Some(sub) = node.get("Fn::Sub") {
        return sub
            .as_str()
            .or_else(|| sub.as_seq()?.first()?.as_str())
            .map(Cow::Borrowed);
    }
    let call = crate::cfn::intrinsic::decode(node)?;
    if call.function != crate::cfn::intrinsic::Function::Join {
        return None;
    }
    let [delimiter, parts] = call.arg.as_seq()? else {
        return None;
    };
    let delimiter = delimiter.as_str()?;
    let mut pieces = Vec::new();
    for part in parts.as_seq()? {
        let piece = match part.as_str().filter(|_| part.tag.is_none()) {
            Some(text) => text.to_string(),
            None => {
                let call = crate::cfn::intrinsic::decode(part)?;
                let name = match call.function {
                    crate::cfn::intrinsic::Function::Ref => call.arg.as_str()?,
                    _ => return None,
                };
                match name {
                    "AWS::Region" | "AWS::AccountId" | "AWS::Partition" => format!("${{{name}}}"),
                    _ => return None,
                }
            }
        };
        pieces.push(piece);
    }
    Some(Cow::Owned(pieces.join(delimiter)))
}

/// `text` with its variables resolved, when nothing is left for the
/// deploy to fill.
fn known(text: &str, ctx: &vars::Context) -> Option<String> {
    vars::evaluate(text, ctx)
        .known()
        .filter(|name| !name.contains("${") && !name.is_empty())
}

/// What an ARN names: `arn:aws:sqs:R:A:jobs-dev` is the queue `jobs-dev`,
/// `...:table/orders/stream/...` the table `orders`, `...:layer:common:3`
/// the layer `common`.
fn named_by_arn(text: &str, ctx: &vars::Context) -> Option<(Kind, String)> {
    let (service, resource) = crate::cfn::split_arn(text)?;
    let resource = known(resource, ctx)?;
    let (kind, name) = match service {
        "sqs" => (Kind::Queue, resource.as_str()),
        "sns" => (Kind::Topic, resource.split(':').next()?),
        "dynamodb" => (
            Kind::Table,
            resource.strip_prefix("table/")?.split('/').next()?,
        ),
        "kinesis" => (
            Kind::Stream,
            resource.strip_prefix("stream/")?.split('/').next()?,
        ),
        "lambda" => match resource.strip_prefix("function:") {
            Some(function) => (Kind::Function, function.split(':').next()?),
            None => (
                Kind::Layer,
                resource.strip_prefix("layer:")?.split(':').next()?,
            ),
        },
        "events" => (Kind::Bus, resource.strip_prefix("event-bus/")?),
        "states" => (
            Kind::StateMachine,
            resource.strip_prefix("stateMachine:")?.split(':').next()?,
        ),
        // `role/name` or `role/path/name`.
        "iam" => (
            Kind::Role,
            resource.strip_prefix("role/")?.rsplit('/').next()?,
        ),
        _ => return None,
    };
    (!name.is_empty()).then(|| (kind, name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(text: &str) -> Service {
        Service::of_text(text)
    }

    #[test]
    fn arns_and_existing_buckets_name_what_must_exist() {
        let svc = service(
            r#"service: c
provider:
  name: aws
  layers:
    - arn:aws:lambda:${aws:region}:${aws:accountId}:layer:common-${sls:stage}:latest
functions:
  f:
    handler: h.f
    events:
      - sqs: arn:aws:sqs:${aws:region}:${aws:accountId}:jobs-${sls:stage}
      - stream:
          type: dynamodb
          arn: !Sub 'arn:aws:dynamodb:${AWS::Region}:${AWS::AccountId}:table/orders-${sls:stage}/stream/2024'
      - s3:
          bucket: uploads-${sls:stage}
          existing: true
      - s3: own-${sls:stage}
      - sqs:
          arn: !GetAtt Local.Arn
  g:
    handler: h.g
    role: arn:aws:iam::${aws:accountId}:role/app/runner-${sls:stage}
    iamRoleStatements:
      - Effect: Allow
        Action: sqs:SendMessage
        Resource: arn:aws:sqs:*:*:other-${sls:stage}
"#,
        );
        let policy = crate::app::stage::Policy::default_policy();
        let stage = Stage::parse("dev", &policy).unwrap();
        let found: Vec<(Kind, String)> = uses(&svc, &stage)
            .into_iter()
            .map(|u| (u.kind, u.name))
            .collect();
        assert_eq!(
            found,
            [
                (Kind::Layer, "common-dev".to_string()),
                (Kind::Role, "runner-dev".to_string()),
                (Kind::Queue, "jobs-dev".to_string()),
                (Kind::Table, "orders-dev".to_string()),
                (Kind::Bucket, "uploads-dev".to_string()),
            ]
        );
    }
}
