//! Resource policies whose principal falls back to everyone: a bucket, key,
//! queue or topic policy that names its principal through a variable with
//! a `"*"` fallback (`${env:ROLE, ssm:/config/role, "*"}`) grants every AWS
//! principal wherever the variable is unset, silently.

use crate::app::diag::Finding;
use crate::app::yaml::Node;

use super::security::Review;

pub const PRINCIPAL_FALLS_BACK_TO_EVERYONE: &str = "principal-falls-back-to-everyone";

/// The policies of resources, by type, and where their statements are.
const POLICIES: &[(&str, &[&str])] = &[
    ("AWS::S3::BucketPolicy", &["Properties", "PolicyDocument"]),
    ("AWS::KMS::Key", &["Properties", "KeyPolicy"]),
    ("AWS::SQS::QueuePolicy", &["Properties", "PolicyDocument"]),
    ("AWS::SNS::TopicPolicy", &["Properties", "PolicyDocument"]),
    (
        "AWS::SecretsManager::ResourcePolicy",
        &["Properties", "ResourcePolicy"],
    ),
];

impl Review<'_> {
    /// `Allow` statements whose principal (`Principal`, `Principal.AWS`,
    /// or an item of its list) comes to `*` when a variable is unset.
    pub(super) fn principals(&self, out: &mut Vec<Finding>) {
        for (ty, path) in POLICIES {
            for (file, id, resource) in self.resources(ty) {
                let statements = resource
                    .path(path)
                    .and_then(|d| d.get("Statement"))
                    .map(|s| {
                        s.as_seq()
                            .map_or_else(|| vec![s], |items| items.iter().collect())
                    })
                    .unwrap_or_default();
                for statement in statements {
                    if statement.get("Effect").and_then(Node::as_str) != Some("Allow") {
                        continue;
                    }
                    let Some(principal) = statement.get("Principal") else {
                        continue;
                    };
                    let mut named: Vec<&Node> = vec![principal];
                    if let Some(aws) = principal.get("AWS") {
                        named.push(aws);
                        named.extend(aws.as_seq().unwrap_or_default());
                    }
                    for node in named {
                        let Some(written) = node.as_str().filter(|t| t.contains("${")) else {
                            continue;
                        };
                        let (_, followed) = self.service.followed(file, node);
                        let text = followed.as_str().unwrap_or(written);
                        let falls_back = crate::app::vars::find_all(text).iter().any(|var| {
                            var.fallback
                                .as_deref()
                                .and_then(crate::app::vars::literal_fallback)
                                .is_some_and(|l| l.trim() == "*")
                        });
                        if !falls_back {
                            continue;
                        }
                        let mut finding = self.finding(
                            node.pos,
                            PRINCIPAL_FALLS_BACK_TO_EVERYONE,
                            format!(
                                "the principal of `{}` ({ty}) of {} is `{written}`, which comes to `*` (every AWS principal) where its variable is unset: the policy then grants everyone",
                                id.as_str().unwrap_or_default(),
                                self.service.key
                            ),
                            "drop the `\"*\"` fallback so a missing value stops the deploy, or fall back to the account's own root (`arn:aws:iam::${aws:accountId}:root`)".to_string(),
                        );
                        finding.file = file.to_path_buf();
                        out.push(finding);
                    }
                }
            }
        }
    }
}
