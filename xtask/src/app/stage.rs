//! The stage model: the app's stage [`Policy`], and a [`Stage`] that exists
//! only if its name passed that policy, so an unchecked string can never
//! reach a deploy.

use std::fmt;
use std::path::{Path, PathBuf};

/// At most 16 characters: lowercase letters, digits and `-`, starting with a
/// letter, with no `--` and no `-` at the end. Short enough for every AWS
/// name it ends up in (bucket names, stack names, user pools), safe in any
/// shell or URL; and the dashes are where S3 needs them: it refuses a
/// bucket name ending in `-` (`shop-uploads-pr-1-`) and reserves `--`
/// forms (`xn--…`, `…--x-s3`, `…--ol-s3`), while stack names allow both.
pub const NAME_RULE: &str = "[a-z][a-z0-9-]{0,15}, without `--` or a `-` at the end";

/// A stage that is allowed by the app's policy, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    name: String,
    config: StageConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    #[error("`{given}` is not a valid stage name: use {rule} (lowercase letters, digits and `-`, starting with a letter; it must not end with `-` or hold `--`, which S3 refuses or reserves in the bucket names a stage goes into); allowed stages: {allowed}")]
    Malformed {
        given: String,
        rule: &'static str,
        allowed: String,
    },
    #[error("stage `{given}` is not allowed by {source_name}; allowed stages: {allowed}")]
    NotAllowed {
        given: String,
        source_name: String,
        allowed: String,
    },
    /// The app's files do not say the region offline (`App::stage`).
    #[error("{0}")]
    UnknownRegion(String),
}

/// Whether `name` is well-formed, whatever the policy says.
pub fn is_well_formed(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 16
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
}

impl Stage {
    /// Parses `name` against the policy.
    pub fn parse(name: &str, policy: &Policy) -> Result<Stage, StageError> {
        let allowed = policy.allowed();
        if !is_well_formed(name) {
            return Err(StageError::Malformed {
                given: name.escape_debug().to_string(),
                rule: NAME_RULE,
                allowed,
            });
        }
        match policy.stage(name) {
            Some(config) => Ok(Stage {
                name: name.to_string(),
                config: config.clone(),
            }),
            None => Err(StageError::NotAllowed {
                given: name.to_string(),
                source_name: policy.source_name(),
                allowed,
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn region(&self) -> &str {
        self.config.region.as_str()
    }

    pub fn account(&self) -> Option<&str> {
        self.config.account.as_deref()
    }

    pub fn is_protected(&self) -> bool {
        self.config.protected
    }

    /// The custom domains of the stage's APIs.
    pub fn domains(&self) -> &[Domain] {
        &self.config.domains
    }

    /// The monitoring deploy generates for the stage, if any.
    pub fn monitoring(&self) -> Option<&Monitoring> {
        self.config.monitoring.as_ref()
    }

    /// Whether a preview pattern (`pr-*`) allowed the stage.
    pub fn is_preview(&self) -> bool {
        self.config.preview
    }

    /// Whether the stage lives on the emulator (the `local` kind).
    pub fn on_emulator(&self) -> bool {
        self.config.emulator
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// What the policy says of one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageConfig {
    pub region: Region,
    pub account: Option<String>,
    pub protected: bool,
    pub emulator: bool,
    /// Allowed by a preview pattern rather than declared by name.
    pub preview: bool,
    /// Custom domains of the stage's APIs.
    pub domains: Vec<Domain>,
    /// The alarms and dashboard deploy generates for the stage.
    pub monitoring: Option<Monitoring>,
}

/// `[stages.<stage>.monitoring]`: deploy keeps a monitoring stack of the
/// stage in step with what is deployed — alarms on every function's
/// errors and throttles and every API's server errors and latency, wired
/// to one SNS topic, and a dashboard — and may watch them after a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitoring {
    /// Email addresses subscribed to the alarms' topic.
    pub notify: Vec<String>,
    /// The p95 latency of an API that raises its alarm, in milliseconds.
    pub latency_p95_ms: u32,
    /// How long a deploy watches the alarms after its smoke test unless
    /// `--bake` says otherwise (zero: not at all).
    pub bake: std::time::Duration,
}

impl Monitoring {
    /// API latency alarms fire at a p95 of this many milliseconds unless
    /// the manifest says otherwise.
    pub const LATENCY_P95_MS: u32 = 5_000;
}

/// A custom domain of one service's API on a stage, with the ACM
/// certificate that must cover it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub service: String,
    pub name: String,
    pub certificate: String,
}

impl Domain {
    /// Checks the shapes: a host name, and an ACM certificate ARN.
    pub fn check(name: &str, certificate: &str) -> Result<(), String> {
        let labels: Vec<&str> = name.split('.').collect();
        let host = name.len() <= 253
            && labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
        if !host {
            return Err(format!(
                "`{}` is not a lowercase host name such as api.example.com",
                name.escape_debug()
            ));
        }
        if Domain::certificate_region(certificate).is_none() {
            return Err(format!(
                "`{}` is not an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)",
                certificate.escape_debug()
            ));
        }
        Ok(())
    }

    /// The region an ACM certificate ARN names.
    pub fn certificate_region(arn: &str) -> Option<&str> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        (parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == "acm"
            && Region::parse(parts[3]).is_ok()
            && parts[4].len() == 12
            && parts[4].chars().all(|c| c.is_ascii_digit())
            && parts[5]
                .strip_prefix("certificate/")
                .is_some_and(|id| !id.is_empty()))
        .then_some(parts[3])
    }

    /// Whether a certificate name (`api.example.com`, `*.example.com`)
    /// covers this domain: exactly, or a wildcard one label deep.
    pub fn covered_by(&self, certificate_name: &str) -> bool {
        let cert = certificate_name.to_ascii_lowercase();
        match cert.strip_prefix("*.") {
            Some(parent) => self
                .name
                .split_once('.')
                .is_some_and(|(_, rest)| rest == parent),
            None => cert == self.name,
        }
    }
}

/// Which stages an app may be deployed to, in the order they were declared,
/// and the patterns of its preview stages (`pr-*`: one stage per pull
/// request or developer, made and removed at will, never protected).
#[derive(Debug, Clone)]
pub struct Policy {
    stages: Vec<(String, StageConfig)>,
    previews: Vec<(Preview, StageConfig)>,
    source: Option<PathBuf>,
}

/// A preview stage pattern: a prefix followed by `*` (`pr-*`, `dev-*`).
/// The prefix is never empty, so no pattern allows every name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    prefix: String,
}

impl Preview {
    /// Parses `pr-*`; the prefix must start a well-formed name and leave
    /// room for at least one more character.
    pub fn parse(pattern: &str) -> Result<Preview, String> {
        let bad = |why: &str| {
            format!(
                "`{}` is not a preview stage pattern: {why}; write a prefix and `*`, such as `pr-*`",
                pattern.escape_debug()
            )
        };
        let Some(prefix) = pattern.strip_suffix('*') else {
            return Err(bad("it does not end with `*`"));
        };
        if prefix.is_empty() {
            return Err(bad(
                "a pattern without a prefix would allow every stage name",
            ));
        }
        // With one more character the prefix must make a stage name, so a
        // pattern ending in `--` (which no stage matches) is refused too.
        if prefix.contains('*') || !is_well_formed(&format!("{prefix}a")) {
            return Err(bad(&format!(
                "its prefix must match {NAME_RULE} with room for one more character"
            )));
        }
        Ok(Preview {
            prefix: prefix.to_string(),
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        name.len() > self.prefix.len() && name.starts_with(&self.prefix)
    }

    /// One name the pattern allows, to check the app as such a stage.
    pub fn sample(&self) -> String {
        format!("{}1", self.prefix)
    }
}

impl fmt::Display for Preview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}*", self.prefix)
    }
}

impl Policy {
    /// The stages, in the order they were declared.
    pub fn new(stages: Vec<(String, StageConfig)>) -> Policy {
        Policy {
            stages,
            previews: Vec::new(),
            source: None,
        }
    }

    /// The preview stage patterns (`pr-*`), in the order declared.
    pub fn preview_patterns(&self) -> impl Iterator<Item = &Preview> {
        self.previews.iter().map(|(preview, _)| preview)
    }

    /// The same policy, also allowing the stages these patterns match.
    pub fn with_previews(mut self, previews: Vec<(Preview, StageConfig)>) -> Policy {
        self.previews = previews;
        self
    }

    /// The same policy, as declared in the manifest at `path`.
    pub fn declared_in(mut self, path: &Path) -> Policy {
        self.source = Some(path.to_path_buf());
        self
    }

    /// `local`, `dev`, `stage`, `prod`, with `prod` protected and `local` on
    /// the emulator, all in `region`.
    pub fn default_in(region: Region) -> Policy {
        let stage = |protected, emulator| StageConfig {
            region: region.clone(),
            account: None,
            protected,
            emulator,
            preview: false,
            domains: Vec::new(),
            monitoring: None,
        };
        Policy {
            stages: vec![
                ("local".into(), stage(false, true)),
                ("dev".into(), stage(false, false)),
                ("stage".into(), stage(false, false)),
                ("prod".into(), stage(true, false)),
            ],
            previews: Vec::new(),
            source: None,
        }
    }

    pub fn default_policy() -> Policy {
        Policy::default_in(Region::framework_default())
    }

    /// The settings of a declared stage, or of the first preview pattern
    /// that matches the name (declared stages come first).
    pub fn stage(&self, name: &str) -> Option<&StageConfig> {
        self.stages
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .or_else(|| {
                self.previews
                    .iter()
                    .find(|(p, _)| p.matches(name))
                    .map(|(_, c)| c)
            })
    }

    /// The declared stages, without the preview patterns.
    pub fn stage_names(&self) -> Vec<&str> {
        self.stages.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Every stage to check the app as: the declared ones, and a sample
    /// of each preview pattern, with the label to name it by (`pr-*`).
    pub fn checked_stages(&self) -> Vec<(String, String, &StageConfig)> {
        self.stages
            .iter()
            .map(|(n, c)| (n.clone(), n.clone(), c))
            .chain(
                self.previews
                    .iter()
                    .map(|(p, c)| (p.to_string(), p.sample(), c)),
            )
            .collect()
    }

    /// The stages and patterns as a message lists them.
    pub fn allowed(&self) -> String {
        self.stages
            .iter()
            .map(|(n, _)| n.clone())
            .chain(self.previews.iter().map(|(p, _)| p.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether the team declared its stages (in deploy.toml), rather than
    /// the tool assuming its default ones.
    pub fn is_declared(&self) -> bool {
        self.source.is_some()
    }

    pub fn source_name(&self) -> String {
        match &self.source {
            Some(path) => crate::sys::paths::display(path),
            None => "the default stage policy (no deploy.toml)".into(),
        }
    }
}

/// An AWS region name such as `us-east-1` or `us-gov-west-1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    /// The framework's default region, where neither the app nor the
    /// environment names one.
    pub fn framework_default() -> Region {
        Region("us-east-1".to_string())
    }

    pub fn parse(name: &str) -> Result<Region, String> {
        let parts: Vec<&str> = name.split('-').collect();
        let ok = parts.len() >= 3
            && parts[0].len() == 2
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
            && parts
                .last()
                .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
        if ok {
            Ok(Region(name.to_string()))
        } else {
            Err(format!(
                "`{}` is not an AWS region name such as us-east-1 or eu-west-2",
                name.escape_debug()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::plain("prod", true)]
    #[case::digits_and_dash("qa-2", true)]
    #[case::sixteen("abcdefghijklmnop", true)]
    #[case::seventeen("abcdefghijklmnopq", false)]
    #[case::upper("Prod", false)]
    #[case::leading_digit("1dev", false)]
    #[case::shell("dev;touch x", false)]
    #[case::space("dev x", false)]
    #[case::empty("", false)]
    #[case::underscore("my_stage", false)]
    fn stage_names_follow_the_rule(#[case] name: &str, #[case] ok: bool) {
        assert_eq!(is_well_formed(name), ok);
    }

    #[test]
    fn unknown_and_malformed_stages_list_the_allowed_ones() {
        let policy = Policy::default_policy();
        let err = Stage::parse("qa", &policy).unwrap_err().to_string();
        assert!(err.contains("local, dev, stage, prod"), "{err}");
        let err = Stage::parse("dev;touch x", &policy)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not a valid stage name") && err.contains("local, dev, stage, prod"),
            "{err}"
        );
        assert!(Stage::parse("prod", &policy).unwrap().is_protected());
        assert!(Stage::parse("local", &policy).unwrap().on_emulator());
    }

    /// A preview pattern matches `pr--` and `pr-1-`; AWS refuses the
    /// bucket names they make (`…-pr-1-` ends in `-`), so the policy
    /// refuses the stage, saying why.
    #[rstest]
    #[case::ends_in_a_dash("pr-1-")]
    #[case::only_dashes_after_the_prefix("pr--")]
    #[case::double_dash_inside("pr--1")]
    #[case::declared_name_ending_in_a_dash("dev-")]
    fn names_aws_refuses_in_buckets_are_not_stages(#[case] name: &str) {
        assert!(!is_well_formed(name));
        let preview = |prefix: &str| {
            let config = Policy::default_policy().stage("dev").unwrap().clone();
            (Preview::parse(prefix).unwrap(), config)
        };
        let policy = Policy::default_policy().with_previews(vec![preview("pr-*")]);
        let err = Stage::parse(name, &policy).unwrap_err().to_string();
        assert!(
            err.contains("must not end with `-` or hold `--`") && err.contains("bucket"),
            "{err}"
        );
        assert!(Stage::parse("pr-1", &policy).is_ok());
        assert!(Preview::parse("pr--*").is_err());
    }

    #[rstest]
    #[case("us-east-1", true)]
    #[case("eu-central-2", true)]
    #[case("us-gov-west-1", true)]
    #[case("useast1", false)]
    #[case("us-east-", false)]
    #[case("US-EAST-1", false)]
    fn regions_are_checked(#[case] name: &str, #[case] ok: bool) {
        assert_eq!(Region::parse(name).is_ok(), ok);
    }
}
