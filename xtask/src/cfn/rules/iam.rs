//! What IAM allows where: the services whose actions take resource ARNs,
//! and the actions of each that AWS allows on `Resource: '*'` only (from
//! the generated `cfn/iam_actions.rs`). The security review reads both.

/// AWS services whose actions take resource ARNs: `Resource: '*'` with
/// them grants every table, bucket, queue… of the account. Each with the
/// type of its main resource (for the fix's `!GetAtt`), and what those
/// resources are called, many and one.
pub(super) const RESOURCE_SCOPED: &[Scoped] = &[
    Scoped::new("dynamodb", "AWS::DynamoDB::Table", "tables", "table"),
    Scoped::new("s3", "AWS::S3::Bucket", "buckets", "bucket"),
    Scoped::new("sqs", "AWS::SQS::Queue", "queues", "queue"),
    Scoped::new("sns", "AWS::SNS::Topic", "topics", "topic"),
    Scoped::new("lambda", "AWS::Lambda::Function", "functions", "function"),
    Scoped::new(
        "secretsmanager",
        "AWS::SecretsManager::Secret",
        "secrets",
        "secret",
    ),
    Scoped::new("ssm", "AWS::SSM::Parameter", "parameters", "parameter"),
    Scoped::new("kms", "AWS::KMS::Key", "keys", "key"),
    Scoped::new("kinesis", "AWS::Kinesis::Stream", "streams", "stream"),
    Scoped::new(
        "states",
        "AWS::StepFunctions::StateMachine",
        "state machines",
        "state machine",
    ),
    Scoped::new(
        "cognito-idp",
        "AWS::Cognito::UserPool",
        "user pools",
        "user pool",
    ),
    Scoped::new("logs", "AWS::Logs::LogGroup", "log groups", "log group"),
    Scoped::new(
        "events",
        "AWS::Events::Rule",
        "rules and event buses",
        "rule and event bus",
    ),
    Scoped::new("iam", "AWS::IAM::Role", "roles and users", "role and user"),
    Scoped::new(
        "es",
        "AWS::OpenSearchService::Domain",
        "search domains",
        "search domain",
    ),
    Scoped::new(
        "ses",
        "AWS::SES::EmailIdentity",
        "identities, templates and configuration sets",
        "SES identity, template and configuration set",
    ),
    Scoped::new("execute-api", "AWS::ApiGatewayV2::Api", "APIs", "API"),
    Scoped::new("ec2", "AWS::EC2::Instance", "EC2 resources", "EC2 resource"),
    Scoped::new(
        "mobiletargeting",
        "AWS::Pinpoint::App",
        "projects",
        "project",
    ),
    Scoped::new(
        "personalize",
        "AWS::Personalize::DatasetGroup",
        "dataset groups, datasets and campaigns",
        "dataset group, dataset and campaign",
    ),
    Scoped::new(
        "ecs",
        "AWS::ECS::TaskDefinition",
        "clusters, services and task definitions",
        "cluster, service and task definition",
    ),
    Scoped::new(
        "bedrock",
        "AWS::Bedrock::KnowledgeBase",
        "models, agents and knowledge bases",
        "model, agent and knowledge base",
    ),
    Scoped::new(
        "mq",
        "AWS::AmazonMQ::Broker",
        "brokers and configurations",
        "broker and configuration",
    ),
    Scoped::new(
        "rds-data",
        "AWS::RDS::DBCluster",
        "database clusters",
        "database cluster",
    ),
    Scoped::new(
        "bedrock-agentcore",
        "AWS::BedrockAgentCore::Runtime",
        "agent runtimes, gateways and memories",
        "agent runtime, gateway and memory",
    ),
];

/// One service of [`RESOURCE_SCOPED`].
pub(super) struct Scoped {
    pub(super) prefix: &'static str,
    pub(super) ty: &'static str,
    pub(super) plural: &'static str,
    pub(super) singular: &'static str,
}

impl Scoped {
    const fn new(
        prefix: &'static str,
        ty: &'static str,
        plural: &'static str,
        singular: &'static str,
    ) -> Scoped {
        Scoped {
            prefix,
            ty,
            plural,
            singular,
        }
    }
}

/// Whether `arn` names every resource of its service that a statement can
/// name: `arn:aws:sqs:*:*:*`, `arn:aws:dynamodb:us-east-1:*:table/*`,
/// `arn:aws:s3:::*`. Gives the service. Variables (`${aws:region}`,
/// `${AWS::AccountId}`) may stand for the region and account; a variable
/// or a name in the resource part makes it a scoped ARN.
pub(super) fn every_resource(arn: &str) -> Option<&str> {
    // `arn:aws:ses:*`: the fields left out match anything too.
    let fields: Vec<&str> = arn.split(':').collect();
    if let ["arn", _, service, rest @ ..] = fields.as_slice() {
        let short = !rest.is_empty() && rest.len() < 3;
        if short && rest.iter().all(|f| *f == "*") && !service.contains('$') {
            return Some(service);
        }
    }
    let (service, rest) = crate::cfn::split_arn(arn)?;
    let wildcard = match service {
        "s3" => matches!(rest, "*" | "*/*"),
        _ => {
            rest.split(['/', ':']).all(|part| part == "*")
                || rest.split_once(['/', ':']).is_some_and(|(kind, name)| {
                    name == "*"
                        && !kind.is_empty()
                        && kind.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
                })
        }
    };
    wildcard.then_some(service)
}

/// The service prefixes whose actions the review scopes (for `codegen`,
/// which lists the actions of each that AWS allows on `*` only).
pub fn scoped_prefixes() -> impl Iterator<Item = &'static str> {
    RESOURCE_SCOPED.iter().map(|s| s.prefix)
}

/// Whether AWS allows `action` (`dynamodb:ListTables`) on `Resource: '*'`
/// only: it names no resource type in the service authorization
/// reference. A wildcard is written for such actions when at least three
/// in four of those it covers are (`ec2:Describe*`: the listing calls of
/// a VPC function, with a handful of attribute reads beside them): `*` is
/// what AWS asks of them. One that covers mostly actions on resources
/// (`s3:Get*`) is not.
pub(crate) fn star_only(action: &str) -> bool {
    use crate::cfn::iam_actions::{SCOPED_ACTIONS, STAR_ONLY_ACTIONS};
    let Some((prefix, name)) = action.split_once(':') else {
        return false;
    };
    let (prefix, name) = (prefix.to_ascii_lowercase(), name.to_ascii_lowercase());
    let of = |table: &'static [(&str, &'static [&'static str])]| {
        table
            .iter()
            .find(|(p, _)| *p == prefix)
            .map(|(_, actions)| *actions)
    };
    let (Some(star), Some(scoped)) = (of(STAR_ONLY_ACTIONS), of(SCOPED_ACTIONS)) else {
        return false;
    };
    if !name.contains(['*', '?']) {
        return star.binary_search(&name.as_str()).is_ok();
    }
    let covers = |a: &&&str| matches(&name, a);
    let (on_star, on_arns) = (
        star.iter().filter(covers).count(),
        scoped.iter().filter(covers).count(),
    );
    on_star > 0 && on_star >= 3 * on_arns
}

/// IAM's wildcard match: `*` any run of characters, `?` any one.
pub fn matches(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    // The classic two-pointer match with backtracking to the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < v.len() {
        if i < p.len() && (p[i] == '?' || p[i] == v[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arn_of_wildcards_is_every_resource() {
        for (arn, service) in [
            ("arn:aws:sqs:*:*:*", "sqs"),
            ("arn:aws:dynamodb:us-east-1:*:*", "dynamodb"),
            (
                "arn:aws:dynamodb:${aws:region}:${aws:accountId}:table/*",
                "dynamodb",
            ),
            ("arn:${AWS::Partition}:lambda:*:*:function:*", "lambda"),
            ("arn:aws:kms:${AWS::Region}:${AWS::AccountId}:key/*", "kms"),
            ("arn:aws:s3:::*", "s3"),
            ("arn:aws:execute-api:${AWS::Region}:*:*/*", "execute-api"),
            ("arn:aws:s3:::*/*", "s3"),
        ] {
            assert_eq!(every_resource(arn), Some(service), "{arn}");
        }
        for arn in [
            "arn:aws:s3:::uploads-${sls:stage}/*",
            "arn:aws:s3:::uploads/*",
            "arn:aws:dynamodb:*:*:table/orders-${sls:stage}",
            "arn:aws:dynamodb:*:*:table/orders/index/*",
            "arn:aws:sqs:*:*:jobs-*",
            "arn:aws:sqs:*:*:${self:custom.queue}",
            "*",
            "arn:aws:sqs",
            "table/*",
        ] {
            assert_eq!(every_resource(arn), None, "{arn}");
        }
    }

    #[test]
    fn a_wildcard_is_star_only_when_it_covers_mostly_such_actions() {
        assert!(star_only("ec2:Describe*"));
        assert!(star_only("EC2:describe*"));
        assert!(!star_only("s3:Get*"));
        assert!(!star_only("dynamodb:*"));
        assert!(!star_only("sqs:*Message"));
        assert!(!star_only("nosuchservice:List*"));
    }

    #[test]
    fn only_actions_naming_no_resource_type_are_star_only() {
        for action in [
            "dynamodb:ListTables",
            "secretsmanager:ListSecrets",
            "sqs:listqueues",
        ] {
            assert!(star_only(action), "{action}");
        }
        for action in [
            "dynamodb:GetItem",
            "dynamodb:List*",
            "sqs:SendMessage",
            "ListTables",
            "xray:PutTraceSegments",
        ] {
            assert!(!star_only(action), "{action}");
        }
    }
}
