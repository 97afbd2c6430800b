//! Where a stage's commands go: real AWS, or an emulator (the `local`
//! stage, `--rehearse`, or `--emulator external`), decided once per command.

use anyhow::{bail, Result};
use aws_config::SdkConfig;

use std::path::Path;

use crate::app::stage::Stage;
use crate::app::App;
use crate::aws::emulator::{self, resident, Backend, Emulator};
use crate::aws::lock::Locks;
use crate::aws::stacks::Stacks;
use crate::aws::Target;

/// A stage's target with its SDK configuration. Holds the emulator it
/// started (if any) so that it lives exactly as long as the command.
pub struct StageTarget {
    pub target: Target,
    pub config: SdkConfig,
    pub mode: Mode,
    /// Held for its destructor, which stops an emulator this command started.
    _emulator: Option<Emulator>,
}

/// Every `AWS_ENDPOINT_URL` and service-specific `AWS_ENDPOINT_URL_<SERVICE>`
/// variable that is set, as `NAME is set (value)`: each sends calls away
/// from AWS.
pub fn endpoint_overrides() -> Vec<String> {
    let mut found: Vec<String> = std::env::vars_os()
        .filter_map(|(key, value)| {
            let key = key.into_string().ok()?;
            let is_override = key == "AWS_ENDPOINT_URL" || key.starts_with("AWS_ENDPOINT_URL_");
            (is_override && !value.is_empty())
                .then(|| format!("{key} is set ({})", value.to_string_lossy()))
        })
        .collect();
    found.sort();
    found
}

/// The endpoints the active profile of the AWS config file sets
/// (`AWS_CONFIG_FILE`, else `~/.aws/config`; `AWS_PROFILE`, else
/// `default`): its own `endpoint_url`, and each service's in the
/// `[services NAME]` section it names — as `NAME is set (value)` lines.
/// Every SDK (ours and the CLI's) sends that service's calls there.
pub fn configured_endpoints() -> Vec<String> {
    let path = match std::env::var_os("AWS_CONFIG_FILE") {
        Some(path) => std::path::PathBuf::from(path),
        None => match std::env::var_os("HOME") {
            Some(home) => std::path::PathBuf::from(home).join(".aws").join("config"),
            None => return Vec::new(),
        },
    };
    // A config file is a few kilobytes; a bound keeps a special file or a
    // huge one from stalling the command.
    let Ok(file) = std::fs::File::open(&path) else {
        return Vec::new();
    };
    let mut text = String::new();
    if std::io::Read::read_to_string(&mut std::io::Read::take(file, 1 << 20), &mut text).is_err() {
        return Vec::new();
    }
    let profile = super::profile()
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_PROFILE").ok())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".into());
    endpoints_in_config(&text, &profile)
        .into_iter()
        .map(|line| format!("{line} in {}", crate::sys::paths::display(&path)))
        .collect()
}

/// The endpoints `profile` sets in the text of an AWS config file (see
/// [`configured_endpoints`]).
pub fn endpoints_in_config(text: &str, profile: &str) -> Vec<String> {
    type Entry = (String, String, Option<String>);
    // Sections as (kind, name) → lines of `key = value`, with the
    // indented sub-keys of a service kept under it.
    let mut sections: Vec<((String, String), Vec<Entry>)> = Vec::new();
    for raw in text.lines() {
        let line = raw.split(['#', ';']).next().unwrap_or("");
        if line.trim().is_empty() {
            continue;
        }
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let mut words = header.split_whitespace();
            let first = words.next().unwrap_or("").to_string();
            let section = match words.next() {
                Some(name) => (first, name.to_string()),
                None => ("profile".to_string(), first),
            };
            sections.push((section, Vec::new()));
            continue;
        }
        let Some((_, entries)) = sections.last_mut() else {
            continue;
        };
        let Some((key, value)) = trimmed.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim().to_string(), value.trim().to_string());
        if line.starts_with(char::is_whitespace) {
            // A sub-key of the last key (`dynamodb =` then `  endpoint_url = …`).
            if let Some((parent, _, _)) = entries.last().cloned() {
                entries.push((parent, key, Some(value)));
            }
        } else {
            entries.push((key, value, None));
        }
    }
    let section = |kind: &str, name: &str| -> Vec<Entry> {
        sections
            .iter()
            .filter(|((k, n), _)| k == kind && n == name)
            .flat_map(|(_, entries)| entries.iter().cloned())
            .collect()
    };
    let mut found = Vec::new();
    let mut services = Vec::new();
    for (key, value, sub) in section("profile", profile) {
        match (key.as_str(), sub) {
            ("endpoint_url", None) => {
                found.push(format!("profile `{profile}` sets endpoint_url ({value})"))
            }
            ("services", None) => services.push(value),
            _ => {}
        }
    }
    for name in services {
        for (service, key, sub) in section("services", &name) {
            if let Some(url) = sub.filter(|_| key == "endpoint_url") {
                found.push(format!(
                    "profile `{profile}` sets {service} endpoint_url ({url}) through [services {name}]"
                ));
            }
        }
    }
    found
}

/// Where a command's calls go for one stage, decided once from the stage
/// and the flags: nothing else re-derives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Real AWS, in the stage's region and account.
    Aws,
    /// A stage that lives on the emulator (the `local` kind).
    Emulator(Backend),
    /// An AWS stage rehearsed on the emulator, with its real names.
    Rehearsal(Backend),
}

impl Mode {
    /// The mode of `stage` when `--rehearse` was given or not.
    pub fn of(stage: &Stage, rehearse: bool, backend: Backend) -> Mode {
        if stage.on_emulator() {
            Mode::Emulator(backend)
        } else if rehearse {
            Mode::Rehearsal(backend)
        } else {
            Mode::Aws
        }
    }

    pub fn is_rehearsal(self) -> bool {
        matches!(self, Mode::Rehearsal(_))
    }
}

impl StageTarget {
    /// Resolves the target of `stage` in `mode`. The emulator is used for
    /// stages that live there and for rehearsals; everything else goes to AWS.
    pub async fn open(stage: &Stage, mode: Mode) -> Result<StageTarget> {
        let backend = match mode {
            Mode::Aws => {
                let mut overrides = endpoint_overrides();
                // The AWS config file can point a service elsewhere too
                // (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true makes every
                // SDK ignore it).
                if std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").as_deref() != Ok("true") {
                    overrides.extend(configured_endpoints());
                }
                if !overrides.is_empty() {
                    let them = if overrides.len() == 1 { "it" } else { "them" };
                    let fix = if overrides.iter().any(|o| o.starts_with("profile ")) {
                        format!("remove {them} (or set AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true, or use another AWS_PROFILE)")
                    } else {
                        format!("unset {them}")
                    };
                    crate::sys::refuse!(
                        "{} but stage `{stage}` deploys to AWS; {fix}, or add --rehearse to run the stage on the emulator",
                        overrides.join("; ")
                    );
                }
                let target = Target::Aws;
                let config = target.sdk_config(stage.region()).await;
                // A profile can point every service somewhere else too.
                if let Some(endpoint) = config.endpoint_url() {
                    crate::sys::refuse!(
                        "the AWS profile sets endpoint_url = {endpoint}, but stage `{stage}` deploys to AWS; use a profile without it, or add --rehearse to run the stage on the emulator"
                    );
                }
                return Ok(StageTarget {
                    target,
                    config,
                    mode,
                    _emulator: None,
                });
            }
            Mode::Emulator(backend) | Mode::Rehearsal(backend) => backend,
        };
        let emulator = match backend {
            Backend::Ministack => resident::ensure_running(None).await?.0,
            Backend::External => Emulator::external_from_env().await?,
            Backend::Localstack => Emulator::start(Backend::Localstack).await?,
        };
        // An external emulator may keep its tenants by the caller's key.
        let access_key = match backend {
            Backend::External => std::env::var("AWS_ACCESS_KEY_ID")
                .ok()
                .filter(|k| !k.is_empty()),
            _ => None,
        };
        Ok(StageTarget::on_keyed(stage, mode, emulator, access_key).await)
    }

    /// `stage` on an emulator already started (which the target then
    /// holds, and stops when dropped).
    pub async fn on(stage: &Stage, mode: Mode, emulator: Emulator) -> StageTarget {
        StageTarget::on_keyed(stage, mode, emulator, None).await
    }

    async fn on_keyed(
        stage: &Stage,
        mode: Mode,
        emulator: Emulator,
        access_key: Option<String>,
    ) -> StageTarget {
        // A stage with an account rehearses in that account: the emulator
        // keeps a tenant per 12-digit access key, as AWS keeps accounts apart.
        let access_key = access_key
            .or_else(|| stage.account().map(str::to_string))
            .unwrap_or_else(|| emulator::ACCESS_KEY.to_string());
        let target = Target::Emulator {
            endpoint: emulator.endpoint().to_string(),
            access_key,
        };
        let config = target.sdk_config(stage.region()).await;
        StageTarget {
            target,
            config,
            mode,
            _emulator: Some(emulator),
        }
    }

    /// The app in `app_dir`, a stage parsed against its policy, and that
    /// stage's target with the account checked: what every command that
    /// talks to a stage starts with.
    pub async fn open_stage(
        app_dir: &Path,
        stage: &str,
        rehearse: bool,
        backend: Backend,
    ) -> Result<(App, Stage, StageTarget)> {
        let app = App::load(app_dir)?;
        let stage = app.stage(stage)?;
        let target = StageTarget::open(&stage, Mode::of(&stage, rehearse, backend)).await?;
        target.check_account(&stage).await?;
        Ok((app, stage, target))
    }

    /// Whether this is a rehearsal of an AWS stage on the emulator.
    pub fn is_rehearsal(&self) -> bool {
        self.mode.is_rehearsal()
    }

    /// The stage's stacks and deployment buckets.
    pub fn stacks(&self) -> Stacks {
        Stacks::new(&self.config, &self.target)
    }

    /// A CloudFormation client for the stage.
    pub fn cfn(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.config)
    }

    /// An S3 client for the stage (path-style on an emulator).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        crate::aws::s3_client(&self.config, &self.target)
    }

    /// A DynamoDB client for the stage.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    /// A Cognito user pools client for the stage.
    pub fn cognito(&self) -> aws_sdk_cognitoidentityprovider::Client {
        aws_sdk_cognitoidentityprovider::Client::new(&self.config)
    }

    /// The stage locks of the stage's account and region.
    pub fn locks(&self) -> Locks {
        Locks::new(&self.config)
    }

    /// Where calls go, for messages.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Aws => "AWS".to_string(),
            Target::Emulator { endpoint, .. } => format!("the emulator at {endpoint}"),
        }
    }

    /// The account the credentials belong to (STS).
    pub async fn account(&self) -> Result<String> {
        let sts = aws_sdk_sts::Client::new(&self.config);
        match sts.get_caller_identity().send().await {
            Ok(identity) => Ok(identity.account().unwrap_or_default().to_string()),
            Err(err) => {
                let hint = if self.target.is_emulator() {
                    "is the emulator running? `cargo xtask local status`"
                } else if crate::aws::credentials_error(&err).is_some() {
                    // The message says what to do already.
                    bail!(
                        "cannot call {}: {}",
                        self.describe(),
                        crate::aws::error_message(&err)
                    )
                } else {
                    crate::aws::CREDENTIALS_FIX
                };
                bail!(
                    "cannot resolve AWS credentials for {}: {}; {hint}",
                    self.describe(),
                    crate::aws::error_message(&err)
                )
            }
        }
    }

    /// Checks the caller's account against the stage's expected one.
    pub async fn check_account(&self, stage: &Stage) -> Result<String> {
        let account = self.account().await?;
        if let Some(expected) = stage.account() {
            if expected != account {
                crate::sys::refuse!(
                    "stage `{stage}` belongs to account {expected}, but the credentials are for account {account}; switch credentials (AWS_PROFILE) and try again"
                );
            }
        }
        Ok(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_pointing_a_service_elsewhere_is_found() {
        let config = "\
[default]
region = us-east-1
services = local-ones

[profile ci]
region = eu-west-1

[profile odd]
endpoint_url = http://127.0.0.1:4566 # whole profile

[services local-ones]
dynamodb =
  endpoint_url = http://127.0.0.1:8000
s3 =
  addressing_style = path

[services unused]
sts =
  endpoint_url = http://127.0.0.1:9
";
        assert_eq!(
            endpoints_in_config(config, "default"),
            vec!["profile `default` sets dynamodb endpoint_url (http://127.0.0.1:8000) through [services local-ones]"]
        );
        assert_eq!(endpoints_in_config(config, "ci"), Vec::<String>::new());
        assert_eq!(
            endpoints_in_config(config, "odd"),
            vec!["profile `odd` sets endpoint_url (http://127.0.0.1:4566)"]
        );
        assert_eq!(endpoints_in_config("", "default"), Vec::<String>::new());
        assert_eq!(
            endpoints_in_config("garbage = [\n[[", "default"),
            Vec::<String>::new()
        );
    }
}
