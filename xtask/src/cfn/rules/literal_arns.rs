//! A literal ARN of a kind of resource the app makes in every stage: the
//! user pool an authorizer checks, the role functions run as, the table a
//! function reads, written as one fixed ARN (`arn:aws:cognito-idp:eu-west-1:
//! 123456789012:userpool/eu-west-1_Ab12`). Every stage then uses that one
//! resource, while the app makes one of the kind per stage: dev's users
//! sign in to prod, or prod runs with dev's permissions.

use std::collections::BTreeMap;

use crate::app::diag::Finding;
use crate::app::vars;
use crate::app::yaml::{Node, Pos};
use crate::app::App;
use crate::cfn::named::{self, Kind};

pub const SHARED_LITERAL_ARN: &str = "shared-literal-arn";
pub const IAM_CROSSES_STAGES: &str = "iam-crosses-stages";

/// ARN service, the resource part's prefix, the type the app would make,
/// and what it is called.
const KINDS: &[(&str, &str, &str, &str)] = &[
    (
        "cognito-idp",
        "userpool/",
        "AWS::Cognito::UserPool",
        "user pool",
    ),
    ("dynamodb", "table/", "AWS::DynamoDB::Table", "table"),
    ("sqs", "", "AWS::SQS::Queue", "queue"),
    ("sns", "", "AWS::SNS::Topic", "topic"),
    ("lambda", "function:", "AWS::Lambda::Function", "function"),
    (
        "states",
        "stateMachine:",
        "AWS::StepFunctions::StateMachine",
        "state machine",
    ),
    ("iam", "role/", "AWS::IAM::Role", "role"),
    ("events", "event-bus/", "AWS::Events::EventBus", "event bus"),
    ("kinesis", "stream/", "AWS::Kinesis::Stream", "stream"),
];

/// One finding per service and ARN, at its first use.
pub(super) fn shared_literal_arns(app: &App) -> Vec<Finding> {
    // Which types the app makes, and which service first.
    let mut makers: BTreeMap<&str, &str> = BTreeMap::new();
    for service in &app.services {
        for (_, _, resource) in service.entries("Resources") {
            if let Some(ty) = resource.get("Type").and_then(Node::as_str) {
                if let Some((_, _, ty, _)) = KINDS.iter().find(|k| k.2 == ty) {
                    makers.entry(ty).or_insert(&service.key);
                }
            }
        }
        // The framework makes the functions, and a role for them unless
        // the service names one.
        let functions = service
            .doc
            .get("functions")
            .and_then(Node::as_map)
            .is_some_and(|f| !f.is_empty());
        if functions {
            makers
                .entry("AWS::Lambda::Function")
                .or_insert(&service.key);
            let own_role = service.doc.path(&["provider", "iam", "role"]).is_some()
                || service.doc.path(&["provider", "role"]).is_some();
            if !own_role {
                makers.entry("AWS::IAM::Role").or_insert(&service.key);
            }
        }
    }
    let mut out = Vec::new();
    for service in &app.services {
        let mut uses: BTreeMap<String, (std::path::PathBuf, Pos, usize, &str, &str)> =
            BTreeMap::new();
        for (file, document) in service.documents() {
            document.walk(&mut |_, node| {
                let Some(arn) = node.as_str().map(str::trim) else {
                    return;
                };
                let Some((ty, noun)) = fixed_arn(arn) else {
                    return;
                };
                let Some(maker) = makers.get(ty) else { return };
                uses.entry(arn.to_string())
                    .and_modify(|u| u.2 += 1)
                    .or_insert((file.to_path_buf(), node.pos, 1, noun, maker));
            });
        }
        for (arn, (file, pos, count, noun, maker)) in uses {
            let more = match count {
                1 => String::new(),
                n => format!(" (and {} more uses)", n - 1),
            };
            out.push(Finding::new(
                &file,
                pos,
                SHARED_LITERAL_ARN,
                format!(
                    "`{arn}` is one fixed {noun} in every stage of {}, while {maker} makes a {noun} in each stage: every stage uses this one{more}",
                    service.key
                ),
                format!("name the stage's own {noun} (`${{cf:…}}`, `!ImportValue`, a param per stage), or build the ARN with `${{aws:accountId}}` and a name with `${{sls:stage}}`"),
            ));
        }
    }
    out
}

/// IAM statements whose resource is a name pattern (`table/shop-*`) that
/// does not move with the stage, while it matches what the app names in
/// two stages (`shop-orders-dev`, `shop-orders-prod`): every stage's
/// functions reach every stage's data. Judged on the first two stages of
/// the policy that are not on an emulator.
pub(super) fn crossing_stages(app: &App) -> Vec<Finding> {
    let stages: Vec<String> = app
        .policy
        .checked_stages()
        .into_iter()
        .filter(|(.., c)| !c.emulator)
        .map(|(_, name, _)| name)
        .take(2)
        .collect();
    let [a, b] = stages.as_slice() else {
        return Vec::new();
    };
    let (Ok(stage_a), Ok(stage_b)) = (app.stage_to_audit(a), app.stage_to_audit(b)) else {
        return Vec::new();
    };
    let made = |stage| -> Vec<(Kind, String)> {
        app.services
            .iter()
            .flat_map(|s| named::produced(s, stage))
            .collect()
    };
    let (made_a, made_b) = (made(&stage_a), made(&stage_b));
    let mut out = Vec::new();
    // A statement in a file services share is said once.
    let mut seen = std::collections::BTreeSet::new();
    for service in &app.services {
        let (ctx_a, ctx_b) = (service.vars(&stage_a), service.vars(&stage_b));
        for (file, document) in service.documents() {
            document.walk(&mut |_, node| {
                if node.get("Effect").and_then(Node::as_str) != Some("Allow") {
                    return;
                }
                let Some(resource) = node.get("Resource") else { return };
                let items = resource.as_seq().map_or_else(|| vec![resource], |i| i.iter().collect());
                for item in items {
                    let Some(text) = named::text_of(item) else { continue };
                    // The region and account may stay unknown: the
                    // resource part is what names.
                    let Some((arn_service, rest)) = crate::cfn::split_arn(&text) else {
                        continue;
                    };
                    let (Some(in_a), Some(in_b)) = (
                        vars::evaluate(rest, &ctx_a).known(),
                        vars::evaluate(rest, &ctx_b).known(),
                    ) else {
                        continue;
                    };
                    if in_a != in_b {
                        continue; // it moves with the stage
                    }
                    let Some((kind, pattern)) = name_pattern(arn_service, &in_a) else {
                        continue;
                    };
                    let hit = |made: &[(Kind, String)]| {
                        made.iter()
                            .find(|(k, n)| *k == kind && super::iam::matches(pattern, n))
                            .map(|(_, n)| n.clone())
                    };
                    let (Some(name_a), Some(name_b)) = (hit(&made_a), hit(&made_b)) else {
                        continue;
                    };
                    if name_a == name_b || !seen.insert((file.to_path_buf(), item.pos.line, item.pos.col)) {
                        continue;
                    }
                    out.push(Finding::new(
                        file,
                        item.pos,
                        IAM_CROSSES_STAGES,
                        format!(
                            "an IAM statement of {} allows `{text}`, whose `{pattern}` is the {noun} `{name_a}` of stage {a} and `{name_b}` of stage {b}: every stage's functions reach every stage's",
                            service.key,
                            noun = kind.noun()
                        ),
                        "put the stage in the pattern (`…-${sls:stage}`, or `${sls:stage}` where it sits in the names), or name the resource with `!GetAtt`/`!ImportValue`".to_string(),
                    ));
                }
            });
        }
    }
    out
}

/// The kind and name pattern of an ARN's resource part (`rest`, of
/// `service`) whose name has a wildcard beside a name (`table/shop-*`, not
/// `table/*`).
fn name_pattern<'r>(service: &str, rest: &'r str) -> Option<(Kind, &'r str)> {
    let (kind, name) = match service {
        "dynamodb" => (Kind::Table, rest.strip_prefix("table/")?.split('/').next()?),
        "sqs" => (Kind::Queue, rest),
        "sns" => (Kind::Topic, rest),
        "s3" => (Kind::Bucket, rest.split('/').next()?),
        "lambda" => (
            Kind::Function,
            rest.strip_prefix("function:")?.split(':').next()?,
        ),
        "events" => (Kind::Bus, rest.strip_prefix("event-bus/")?),
        "states" => (
            Kind::StateMachine,
            rest.strip_prefix("stateMachine:")?.split(':').next()?,
        ),
        "kinesis" => (Kind::Stream, rest.strip_prefix("stream/")?),
        _ => return None,
    };
    let named = name.contains(['*', '?']) && name.chars().any(|c| c.is_alphanumeric());
    named.then_some((kind, name))
}

/// The type and noun of a literal ARN (no variable in it, a 12-digit
/// account) of one of [`KINDS`].
fn fixed_arn(text: &str) -> Option<(&'static str, &'static str)> {
    if text.contains("${") || text.contains("#{") || text.contains('*') {
        return None;
    }
    let mut fields = text.splitn(6, ':');
    let (arn, _partition, service, _region, account, resource) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    if arn != "arn" || account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    KINDS
        .iter()
        .find(|(s, prefix, ..)| {
            *s == service && resource.starts_with(prefix) && resource.len() > prefix.len()
        })
        .map(|(_, _, ty, noun)| (*ty, *noun))
}

#[cfg(test)]
mod tests {
    use super::fixed_arn;

    #[test]
    fn only_fixed_arns_of_a_known_kind_count() {
        assert_eq!(
            fixed_arn("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Ab12"),
            Some(("AWS::Cognito::UserPool", "user pool"))
        );
        assert_eq!(
            fixed_arn("arn:aws:iam::123456789012:role/service-role/x"),
            Some(("AWS::IAM::Role", "role"))
        );
        for other in [
            "arn:aws:iam::aws:policy/AdministratorAccess",
            "arn:aws:iam::${aws:accountId}:role/x",
            "arn:aws:dynamodb:us-east-1:123456789012:table/*",
            "arn:aws:s3:::bucket",
            "not an arn",
        ] {
            assert_eq!(fixed_arn(other), None, "{other}");
        }
    }
}
