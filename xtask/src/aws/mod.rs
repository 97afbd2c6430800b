//! AWS SDK configuration for one target: real AWS in a region, or an
//! emulator endpoint.
//!
//! Every SDK client of the tool is built from [`Target::sdk_config`], so the
//! choice between AWS and the emulator is made once, with bounded timeouts:
//! a dead endpoint gives an error within seconds, never a hang.

pub(crate) mod backups;
pub(crate) mod data;
pub(crate) mod domains;
pub mod emulator;
pub(crate) mod endpoints;
pub(crate) mod exports;
pub(crate) mod lock;
pub(crate) mod monitoring;
pub(crate) mod provision;
pub(crate) mod stacks;
pub(crate) mod target;
pub(crate) mod verify;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// The AWS profile `--aws-profile` names for this run: one for the whole
/// run, the tool's SDK calls and the Serverless CLI it runs alike.
static PROFILE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Says which profile this run uses (`--aws-profile`); called once, before
/// any AWS call. `None` leaves the SDK's own choice (`AWS_PROFILE`).
pub fn set_profile(name: Option<String>) {
    let _ = PROFILE.set(name.filter(|n| !n.is_empty()));
}

/// The profile `--aws-profile` named, if any.
pub fn profile() -> Option<&'static str> {
    PROFILE.get().and_then(|p| p.as_deref())
}
/// Where AWS calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Real AWS, with the default credential chain.
    Aws,
    /// An emulator at this endpoint (`http://127.0.0.1:PORT`). Emulators
    /// keep one tenant per access key: a 12-digit key is that account, so a
    /// rehearsal of a stage runs in the stage's own account.
    Emulator {
        endpoint: String,
        access_key: String,
    },
}

impl Target {
    /// An emulator target with the default tenant.
    pub fn emulator(endpoint: &str) -> Target {
        Target::Emulator {
            endpoint: endpoint.to_string(),
            access_key: emulator::ACCESS_KEY.to_string(),
        }
    }

    pub fn is_emulator(&self) -> bool {
        matches!(self, Target::Emulator { .. })
    }

    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Target::Emulator { endpoint, .. } => Some(endpoint),
            Target::Aws => None,
        }
    }

    /// The SDK configuration for calls to this target in `region` (with
    /// the run's `--aws-profile` on AWS).
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(60))
            .operation_timeout(Duration::from_secs(180))
            .build();
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .region(Region::new(region.to_string()))
            .timeout_config(timeouts);
        match self {
            Target::Aws => {
                let loader = match profile() {
                    Some(name) => loader.profile_name(name),
                    None => loader,
                };
                loader
                    .retry_config(RetryConfig::standard().with_max_attempts(5))
                    .load()
                    .await
            }
            Target::Emulator {
                endpoint,
                access_key,
            } => {
                loader
                    .endpoint_url(endpoint)
                    .credentials_provider(Credentials::new(
                        access_key.clone(),
                        emulator::SECRET_KEY,
                        None,
                        None,
                        "emulator",
                    ))
                    // An emulator that stops answering will not come back;
                    // one retry covers a worker that was busy starting.
                    .retry_config(RetryConfig::standard().with_max_attempts(2))
                    .load()
                    .await
            }
        }
    }
}

/// The HTTPS client of every SDK call: rustls on ring (see the workspace
/// manifest for why not the SDK's default), trusting the platform's
/// certificates as the default client does.
fn http_client() -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// S3 clients for the emulator use path-style addressing: bucket names as
/// host names do not resolve on 127.0.0.1.
pub fn s3_client(config: &SdkConfig, target: &Target) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(target.is_emulator())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// For `map_err`: an SDK error as `cannot WHAT: CODE: message`.
pub fn cannot<E, R>(
    what: impl std::fmt::Display,
) -> impl FnOnce(aws_sdk_s3::error::SdkError<E, R>) -> anyhow::Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    move |err| anyhow::anyhow!("cannot {what}: {}", error_message(&err))
}

/// The message of an SDK error with its service error code, without the
/// debug noise of the full error chain. Missing credentials are one
/// sentence with the fix.
pub fn error_message<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_s3::error::SdkError;
    if let Some(credentials) = credentials_error(err) {
        return credentials_message(credentials);
    }
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            match (inner.code(), inner.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => inner.to_string(),
            }
        }
        SdkError::DispatchFailure(failure) => {
            if failure.is_timeout() {
                "the request timed out".to_string()
            } else if failure.is_io() {
                "the connection failed (is the endpoint running?)".to_string()
            } else {
                format!("the request could not be sent: {}", causes(err))
            }
        }
        SdkError::TimeoutError(_) => "the request timed out".to_string(),
        _ => causes(err),
    }
}

/// What to do when the SDK finds no credentials, or cannot load them.
pub const CREDENTIALS_FIX: &str =
    "configure credentials (`aws configure sso` and AWS_PROFILE, or OIDC in CI)";

/// The credentials error behind an SDK error, when that is why it failed.
pub fn credentials_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a aws_credential_types::provider::error::CredentialsError> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

fn credentials_message(err: &aws_credential_types::provider::error::CredentialsError) -> String {
    use aws_credential_types::provider::error::CredentialsError;
    match err {
        // Every provider of the chain said it has none: its list is
        // noise, the fix is all that matters.
        CredentialsError::CredentialsNotLoaded(_) => match profile() {
            Some(name) => format!(
                "no AWS credentials were found for profile `{name}` (--aws-profile); {CREDENTIALS_FIX}"
            ),
            None => format!("no AWS credentials were found; {CREDENTIALS_FIX}"),
        },
        other => format!(
            "the AWS credentials could not be loaded: {}; {CREDENTIALS_FIX}",
            causes(other)
        ),
    }
}

/// An error and its causes as one line (`a: b: c`), each said once, cut
/// short past a few hundred characters.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    let mut line = parts.join(": ");
    if line.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    line
}
