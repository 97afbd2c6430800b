//! Where a stage's commands go: real AWS, or an emulator (the `local`
//! stage, `--rehearse`, or `--emulator external`), decided once per command.

use anyhow::{bail, Result};
use aws_config::SdkConfig;

use crate::aws::Target;
use crate::emulator::{self, Backend, Emulator};
use crate::local;
use crate::stage::Stage;

/// A stage's target with its SDK configuration. Holds the emulator it
/// started (if any) so that it lives exactly as long as the command.
pub struct StageTarget {
    pub target: Target,
    pub config: SdkConfig,
    pub rehearsal: bool,
    emulator: Option<Emulator>,
}

impl StageTarget {
    /// Resolves the target of `stage`. The emulator is used for stages that
    /// live there and for rehearsals; everything else goes to AWS.
    pub async fn open(stage: &Stage, rehearse: bool, backend: Backend) -> Result<StageTarget> {
        let on_emulator = stage.on_emulator() || rehearse;
        if !on_emulator {
            if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
                if !endpoint.is_empty() {
                    bail!(
                        "AWS_ENDPOINT_URL is set ({endpoint}) but stage `{stage}` deploys to AWS; unset it, or add --rehearse to run the stage on the emulator"
                    );
                }
            }
            let target = Target::Aws;
            let config = target.sdk_config(stage.region()).await;
            return Ok(StageTarget {
                target,
                config,
                rehearsal: false,
                emulator: None,
            });
        }
        let emulator = match backend {
            Backend::Ministack => local::ensure_running(None).await?.0,
            Backend::External => Emulator::external_from_env().await?,
            Backend::Localstack => Emulator::start(Backend::Localstack).await?,
        };
        // A stage with an account rehearses in that account: the emulator
        // keeps a tenant per 12-digit access key, as AWS keeps accounts apart.
        let access_key = match (backend, stage.account()) {
            (Backend::External, _) => std::env::var("AWS_ACCESS_KEY_ID")
                .ok()
                .filter(|k| !k.is_empty()),
            _ => None,
        }
        .or_else(|| stage.account().map(str::to_string))
        .unwrap_or_else(|| emulator::ACCESS_KEY.to_string());
        let target = Target::Emulator {
            endpoint: emulator.endpoint().to_string(),
            access_key,
        };
        let config = target.sdk_config(stage.region()).await;
        Ok(StageTarget {
            target,
            config,
            rehearsal: rehearse && !stage.on_emulator(),
            emulator: Some(emulator),
        })
    }

    /// The app of `--app`, a stage parsed against its policy, and that
    /// stage's target with the account checked: what every command that
    /// talks to a stage starts with.
    pub async fn open_stage(
        global: &crate::cli::Global,
        stage: &str,
        rehearse: bool,
    ) -> Result<(crate::app::App, Stage, StageTarget)> {
        let app = crate::app::App::load(&crate::app::App::resolve_dir(global.app.as_deref()))?;
        let stage = app.stage(stage)?;
        let target =
            StageTarget::open(&stage, rehearse && !stage.on_emulator(), global.emulator).await?;
        target.check_account(&stage).await?;
        Ok((app, stage, target))
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
                } else {
                    "configure credentials (`aws configure sso`, AWS_PROFILE, or OIDC in CI)"
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
                bail!(
                    "stage `{stage}` belongs to account {expected}, but the credentials are for account {account}; switch credentials (AWS_PROFILE) and try again"
                );
            }
        }
        Ok(account)
    }

    pub fn emulator(&self) -> Option<&Emulator> {
        self.emulator.as_ref()
    }
}
