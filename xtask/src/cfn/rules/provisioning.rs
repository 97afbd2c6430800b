//! What AWS refuses while CloudFormation makes a resource, read offline
//! (validate): a property the resource type's schema requires or a value
//! it does not allow (`required-property`, `property-value`), a queue that
//! hides a message for less time than the function it feeds may run
//! (`sqs-visibility-timeout`), and what S3's defaults for a new bucket
//! refuse: an ACL (`bucket-acl-disabled`) and a public bucket policy
//! (`public-policy-blocked`). The emulator checks none of these, so a
//! rehearsal that deploys proves nothing about them.

use std::collections::{BTreeMap, BTreeSet};

use crate::app::diag::Finding;
use crate::app::stage::Stage;
use crate::app::vars;
use crate::app::yaml::Node;
use crate::app::Service;
use crate::cfn;

pub const REQUIRED_PROPERTY: &str = "required-property";
pub const PROPERTY_VALUE: &str = "property-value";
pub const SQS_VISIBILITY: &str = "sqs-visibility-timeout";
pub const BUCKET_ACL_DISABLED: &str = "bucket-acl-disabled";
pub const PUBLIC_POLICY_BLOCKED: &str = "public-policy-blocked";
pub const AURORA_SERVERLESS_V1: &str = "aurora-serverless-v1";

/// An Aurora cluster in `EngineMode: serverless` (Aurora Serverless v1),
/// which reached its end of life on 31 March 2025: RDS makes no new one,
/// so a stage that does not have it yet fails.
pub(super) fn retired_engines(service: &Service, stage: &Stage, out: &mut Vec<Finding>) {
    let ctx = service.vars(stage);
    for (file, id, cluster) in service.entries("Resources") {
        if cluster.get("Type").and_then(Node::as_str) != Some("AWS::RDS::DBCluster") {
            continue;
        }
        let Some(mode) = cluster
            .path(&["Properties", "EngineMode"])
            .filter(|n| n.tag.is_none())
        else {
            continue;
        };
        let value = mode
            .as_str()
            .and_then(|t| vars::evaluate_firm(t, &ctx).known());
        if value.as_deref() != Some("serverless") {
            continue;
        }
        out.push(Finding::new(
            file,
            mode.pos,
            AURORA_SERVERLESS_V1,
            format!(
                "cluster `{}` of {} is Aurora Serverless v1 (`EngineMode: serverless`), which reached its end of life on 31 March 2025: RDS creates no new one, so the deploy fails in a stage that does not have it yet ({EMULATOR_LENIENT})",
                id.as_str().unwrap_or_default(),
                service.key
            ),
            "move to Aurora Serverless v2: `EngineMode: provisioned` with `ServerlessV2ScalingConfiguration`, and a `db.serverless` instance",
        ).conditional());
    }
}

/// Why a bucket finding may not hold for a stage deployed long ago.
const OLD_BUCKETS: &str = "a bucket created before April 2023 kept the old defaults, so a stage deployed then still updates";

/// Why a rehearsal is no proof of a schema finding.
const EMULATOR_LENIENT: &str =
    "the emulator does not check resource schemas, so a rehearsal that deploys it proves nothing";

/// What CloudFormation refuses of a resource's own properties before it
/// makes anything: a property its type requires that the resource leaves
/// out, and a value known before deploy that the type's schema does not
/// allow (an enumerated property's value, a name's length or spelling).
/// A resource the framework generates and the service only extends is not
/// judged, nor properties written as a variable or an intrinsic function
/// (`Fn::If` may supply any of them).
pub(super) fn properties(service: &Service, stage: &Stage, out: &mut Vec<Finding>) {
    let generated = cfn::generated(service);
    let ctx = service.vars(stage);
    // A plugin the table does not know may rewrite `#{Name}` into a
    // `Fn::Sub` (serverless-cloudformation-sub-variables does): such a
    // value is not judged as written.
    let rewritten = super::plugin_schema::sources(&super::config::plugin_names(service)).is_none();
    // One logical id in several `resources:` fragments is one resource:
    // the framework merges them.
    let mut parts: BTreeMap<&str, Vec<(&std::path::Path, &Node)>> = BTreeMap::new();
    for (file, key, resource) in service.entries("Resources") {
        if let Some(id) = key.as_str() {
            parts.entry(id).or_default().push((file, resource));
        }
    }
    for (id, parts) in parts {
        if generated.type_of(id).is_some() {
            continue;
        }
        let Some((file, type_node)) = parts
            .iter()
            .find_map(|(file, resource)| resource.get("Type").map(|t| (*file, t)))
        else {
            continue;
        };
        let Some(ty) = type_node.as_str() else {
            continue;
        };
        let Some((required, rules)) = cfn::properties::of(ty) else {
            continue;
        };
        let mut written = BTreeSet::new();
        let mut whole = true;
        let mut values = Vec::new();
        for (file, resource) in &parts {
            let Some(properties) = resource.get("Properties") else {
                whole &= resource.as_map().is_some();
                continue;
            };
            match properties.as_map().filter(|_| properties.tag.is_none()) {
                Some(entries) => {
                    for (key, value) in entries {
                        let Some(key) = key.as_str() else { continue };
                        whole &= !key.starts_with("Fn::") && key != "<<";
                        written.insert(key);
                        values.push((*file, key, value));
                    }
                }
                None => whole = false,
            }
        }
        let missing: Vec<String> = required
            .iter()
            .filter(|p| !written.contains(p.as_str()))
            .map(|p| format!("`{p}`"))
            .collect();
        if whole && !missing.is_empty() {
            out.push(Finding::new(
                file,
                type_node.pos,
                REQUIRED_PROPERTY,
                format!(
                    "`{id}` ({ty}) of {} has no {}: CloudFormation requires it of every {ty} and refuses the deploy ({EMULATOR_LENIENT})",
                    service.key,
                    missing.join(" or ")
                ),
                format!("add {} under `Properties`", missing.join(" and ")),
            ));
        }
        for (file, key, node) in values {
            let Some(rule) = rules.iter().find(|r| r.property == key) else {
                continue;
            };
            if node.tag.is_some() || rewritten && node.as_str().is_some_and(|t| t.contains("#{")) {
                continue;
            }
            let Some(value) = node.typed_text().or_else(|| {
                node.as_str()
                    .and_then(|text| vars::evaluate_firm(text, &ctx).known())
            }) else {
                continue;
            };
            if let Some(why) = rule.broken_by(&value) {
                out.push(Finding::new(
                    file,
                    node.pos,
                    PROPERTY_VALUE,
                    format!(
                        "`{id}` ({ty}) of {}: {key} `{value}` in stage {stage} {why}; CloudFormation refuses the deploy ({EMULATOR_LENIENT})",
                        service.key
                    ),
                    format!("give {key} a value its schema allows"),
                ));
            }
        }
    }
}

/// A function fed by a queue of the service whose visibility timeout is
/// shorter than the function's timeout: Lambda refuses to create the
/// event source mapping ("Queue visibility timeout: 30 seconds is less
/// than Function timeout"), so CloudFormation fails the deploy. The
/// framework's timeout is 6 seconds unless set, the queue's 30. A queue of
/// another stack, or a value only the deploy knows, is not judged.
pub(super) fn sqs_visibility(service: &Service, stage: &Stage, out: &mut Vec<Finding>) {
    let ctx = service.vars(stage);
    let seconds = |node: Option<&Node>, default: u64| -> Option<u64> {
        let Some(node) = node else {
            return Some(default);
        };
        let text = node
            .typed_text()
            .or_else(|| vars::evaluate(node.as_str()?, &ctx).known())?;
        text.trim().parse().ok()
    };
    let Some(provider_timeout) = seconds(service.doc.path(&["provider", "timeout"]), 6) else {
        return;
    };
    let functions = service
        .doc
        .get("functions")
        .and_then(Node::as_map)
        .unwrap_or_default();
    for (name, function) in functions {
        let Some(timeout) = function
            .get("timeout")
            .map_or(Some(provider_timeout), |t| seconds(Some(t), 6))
        else {
            continue;
        };
        for event in function
            .get("events")
            .and_then(Node::as_seq)
            .unwrap_or_default()
        {
            let Some(sqs) = event.get("sqs") else {
                continue;
            };
            let arn = sqs.get("arn").unwrap_or(sqs);
            let Some((queue, _)) = crate::cfn::intrinsic::decode(arn)
                .as_ref()
                .and_then(crate::cfn::intrinsic::getatt_target)
            else {
                continue;
            };
            // Split over fragments, it is merged: not judged.
            let entries = service.entries("Resources").into_iter();
            let mut same = entries.filter(|(_, key, _)| key.as_str() == Some(queue.as_str()));
            let (Some((file, key, resource)), None) = (same.next(), same.next()) else {
                continue;
            };
            if resource.get("Type").and_then(Node::as_str) != Some("AWS::SQS::Queue") {
                continue;
            }
            let written = resource.path(&["Properties", "VisibilityTimeout"]);
            let Some(visibility) = seconds(written, 30) else {
                continue;
            };
            if visibility >= timeout {
                continue;
            }
            let name = name.as_str().unwrap_or_default();
            out.push(Finding::new(
                file,
                written.map_or(key.pos, |n| n.pos),
                SQS_VISIBILITY,
                format!(
                    "queue `{queue}` of {} hides a message for {visibility} s{}, less than the {timeout} s function `{name}` it feeds may run: Lambda refuses the event source mapping and CloudFormation fails the deploy",
                    service.key,
                    if written.is_none() { " (the default)" } else { "" }
                ),
                format!(
                    "set the queue's `VisibilityTimeout` to at least {timeout} (AWS advises six times the function's timeout)"
                ),
            ));
        }
    }
}

/// What S3 refuses of a bucket it creates now, under the defaults it has
/// given every new bucket since April 2023 (ACLs disabled, public policies
/// blocked) unless the bucket says otherwise: an ACL other than private
/// where `OwnershipControls` does not enable ACLs
/// (`InvalidBucketAclWithObjectOwnership`), and a bucket policy of the
/// service that grants everyone (`Principal: '*'` without a condition)
/// where the bucket's public-access block keeps `BlockPublicPolicy` (access
/// denied), and a CloudFront distribution whose standard logs go to a
/// bucket of the service with ACLs disabled (CloudFront writes them with
/// an ACL). Values only the deploy knows are not judged.
pub(super) fn s3_defaults(service: &Service, stage: &Stage, out: &mut Vec<Finding>) {
    let ctx = service.vars(stage);
    let value = |node: Option<&Node>| -> Option<String> {
        let node = node.filter(|n| n.tag.is_none())?;
        vars::evaluate_firm(node.as_str()?, &ctx).known()
    };
    let buckets: BTreeMap<&str, (&std::path::Path, &Node)> = service
        .entries("Resources")
        .into_iter()
        .filter(|(_, _, r)| r.get("Type").and_then(Node::as_str) == Some("AWS::S3::Bucket"))
        .filter_map(|(file, key, r)| Some((key.as_str()?, (file, r))))
        .collect();
    // Whether a bucket enables ACLs (`OwnershipControls` says
    // ObjectWriter or BucketOwnerPreferred); `None` when only the deploy
    // can tell.
    let acls_enabled = |bucket: &Node| -> Option<bool> {
        let ownership = bucket.path(&["Properties", "OwnershipControls"]);
        match ownership
            .and_then(|o| o.get("Rules"))
            .and_then(Node::as_seq)
        {
            None if ownership.is_none() => Some(false),
            None => None,
            Some(rules) => {
                let owners: Option<Vec<String>> = rules
                    .iter()
                    .map(|r| value(r.get("ObjectOwnership")))
                    .collect();
                Some(
                    owners?
                        .iter()
                        .any(|o| matches!(o.as_str(), "ObjectWriter" | "BucketOwnerPreferred")),
                )
            }
        }
    };
    // CloudFront's standard logs are written with an ACL: it refuses a
    // bucket whose ACLs are disabled.
    for (file, id, distribution) in service.entries("Resources") {
        if distribution.get("Type").and_then(Node::as_str) != Some("AWS::CloudFront::Distribution")
        {
            continue;
        }
        let Some(logging) =
            distribution.path(&["Properties", "DistributionConfig", "Logging", "Bucket"])
        else {
            continue;
        };
        let target = crate::cfn::intrinsic::decode(logging)
            .filter(|call| call.function == crate::cfn::intrinsic::Function::GetAtt)
            .and_then(|call| {
                let arg = call.arg.to_node();
                let text = arg.as_str().map(str::to_string).or_else(|| {
                    arg.as_seq()
                        .and_then(|items| items.first())
                        .and_then(Node::as_str)
                        .map(str::to_string)
                })?;
                Some(text.split('.').next().unwrap_or_default().to_string())
            });
        let Some((target, (_, bucket))) = target.and_then(|t| buckets.get_key_value(t.as_str()))
        else {
            continue;
        };
        if acls_enabled(bucket) == Some(false) {
            out.push(Finding::new(
                file,
                logging.pos,
                BUCKET_ACL_DISABLED,
                format!(
                    "distribution `{}` of {} logs to bucket `{target}`, whose ACLs are disabled (S3's default for a new bucket): CloudFront writes its standard logs with an ACL and refuses the bucket ({OLD_BUCKETS})",
                    id.as_str().unwrap_or_default(),
                    service.key
                ),
                format!("enable ACLs on `{target}` with `OwnershipControls: {{Rules: [{{ObjectOwnership: BucketOwnerPreferred}}]}}`"),
            ).conditional());
        }
    }
    for (id, (file, bucket)) in &buckets {
        let props = bucket.get("Properties");
        let Some(acl) = props.and_then(|p| p.get("AccessControl")) else {
            continue;
        };
        let Some(acl_value) = value(Some(acl)) else {
            continue;
        };
        if matches!(acl_value.as_str(), "Private" | "BucketOwnerFullControl") {
            continue;
        }
        let Some(enabled) = acls_enabled(bucket) else {
            continue;
        };
        if !enabled {
            out.push(Finding::new(
                file,
                acl.pos,
                BUCKET_ACL_DISABLED,
                format!(
                    "bucket `{id}` of {} sets ACL `{acl_value}`, and S3 creates buckets with ACLs disabled (ObjectOwnership BucketOwnerEnforced): CloudFormation fails with InvalidBucketAclWithObjectOwnership ({OLD_BUCKETS})",
                    service.key
                ),
                "drop `AccessControl` and grant access with a bucket policy, or enable ACLs with `OwnershipControls: {Rules: [{ObjectOwnership: ObjectWriter}]}`",
            ).conditional());
        }
    }
    for (file, id, policy) in service.entries("Resources") {
        if policy.get("Type").and_then(Node::as_str) != Some("AWS::S3::BucketPolicy") {
            continue;
        }
        // The bucket by `Ref`, or by the name one of this stack's buckets
        // is given.
        let named = policy.path(&["Properties", "Bucket"]);
        let by_ref = named
            .and_then(crate::cfn::intrinsic::decode)
            .filter(|call| call.function == crate::cfn::intrinsic::Function::Ref)
            .and_then(|call| call.arg.as_str().map(str::to_string));
        let by_name = || {
            let name = value(named)?;
            buckets.iter().find_map(|(id, (_, bucket))| {
                let given = value(bucket.path(&["Properties", "BucketName"]))?;
                (given == name).then(|| id.to_string())
            })
        };
        let Some(target) = by_ref.or_else(by_name) else {
            continue;
        };
        let Some((_, bucket)) = buckets.get(target.as_str()) else {
            continue;
        };
        let statements = policy
            .path(&["Properties", "PolicyDocument", "Statement"])
            .map(|s| {
                s.as_seq()
                    .map_or_else(|| vec![s], |items| items.iter().collect())
            })
            .unwrap_or_default();
        let public = statements.iter().find(|st| {
            let everyone = |p: Option<&Node>| p.and_then(Node::as_str) == Some("*");
            let principal = st.get("Principal");
            value(st.get("Effect")).as_deref() == Some("Allow")
                && st.get("Condition").is_none()
                && (everyone(principal) || everyone(principal.and_then(|p| p.get("AWS"))))
        });
        let Some(public) = public else { continue };
        // Without a block S3 blocks public policies; a block written out
        // turns off every setting it leaves out.
        let block = bucket.path(&["Properties", "PublicAccessBlockConfiguration"]);
        let blocked = match block {
            None => true,
            Some(block) => match block.get("BlockPublicPolicy") {
                None => false,
                Some(flag) => match value(Some(flag)) {
                    Some(v) => v.eq_ignore_ascii_case("true"),
                    None => continue,
                },
            },
        };
        if blocked {
            out.push(Finding::new(
                file,
                public.pos,
                PUBLIC_POLICY_BLOCKED,
                format!(
                    "bucket policy `{}` of {} grants everyone (`Principal: '*'`) on bucket `{target}`, whose public-access block keeps BlockPublicPolicy on (S3's default for a new bucket): S3 denies the policy and CloudFormation fails the deploy ({OLD_BUCKETS})",
                    id.as_str().unwrap_or_default(),
                    service.key
                ),
                format!("if `{target}` is meant to be public, give it a `PublicAccessBlockConfiguration` with `BlockPublicPolicy: false` and `RestrictPublicBuckets: false`; else scope the `Principal`"),
            ).conditional());
        }
    }
}
