//! The local AWS emulator: one interface, three backends.
//!
//! - `ministack` (default): a child process on a free loopback port, with
//!   per-run state and tmp folders, stopped with its Lambda workers on drop.
//! - `localstack`: the LocalStack container through testcontainers, where a
//!   Docker engine runs, in a build with the `localstack` feature (the
//!   default build carries no Docker client). The free image has no HTTP
//!   APIs (API Gateway v2) and no Cognito user pools, so tb365's APIs cannot
//!   run on it; set `LOCALSTACK_AUTH_TOKEN` to use the Pro image, which has
//!   both.
//! - `external`: an endpoint the user already runs, from `AWS_ENDPOINT_URL`.
//!
//! An [`Emulator`] owns what it started: dropping it stops the process or
//! container, so no emulator outlives the command or test that made it.

#[cfg(feature = "localstack")]
pub mod localstack;
pub mod ministack;
pub(crate) mod resident;
pub mod tap;

use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Which emulator backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Backend {
    #[default]
    Ministack,
    Localstack,
    External,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Ministack => "ministack",
            Backend::Localstack => "localstack",
            Backend::External => "external",
        }
    }
}

/// The credentials every emulator accepts. They are not secrets.
pub const ACCESS_KEY: &str = "test";
pub const SECRET_KEY: &str = "test";

/// A running emulator and the handle that stops it.
pub struct Emulator {
    endpoint: String,
    backend: Backend,
    handle: Handle,
}

enum Handle {
    Ministack(ministack::Ministack),
    /// Held for its destructor, which removes the container.
    #[cfg(feature = "localstack")]
    #[allow(dead_code)]
    Localstack(Box<localstack::Container>),
    /// Somebody else's process (an external endpoint, or the long-lived
    /// `cargo xtask local` emulator): we never stop it.
    Borrowed,
}

impl Emulator {
    /// Starts a fresh, private emulator of the given backend.
    pub async fn start(backend: Backend) -> Result<Emulator> {
        match backend {
            Backend::Ministack => {
                let ministack = ministack::Ministack::start_private().await?;
                Ok(Emulator {
                    endpoint: ministack.endpoint(),
                    backend,
                    handle: Handle::Ministack(ministack),
                })
            }
            #[cfg(feature = "localstack")]
            Backend::Localstack => {
                let container = localstack::Container::start().await?;
                Ok(Emulator {
                    endpoint: container.endpoint(),
                    backend,
                    handle: Handle::Localstack(Box::new(container)),
                })
            }
            #[cfg(not(feature = "localstack"))]
            Backend::Localstack => bail!(
                "this build has no LocalStack backend; build the tool with it (`cargo run -p xtask --features localstack -- …`), or use `--emulator ministack`"
            ),
            Backend::External => Emulator::external_from_env().await,
        }
    }

    /// The endpoint in `AWS_ENDPOINT_URL`, checked to answer.
    pub async fn external_from_env() -> Result<Emulator> {
        let Some(endpoint) = std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|e| !e.is_empty())
        else {
            bail!("--emulator external needs AWS_ENDPOINT_URL, for example `export AWS_ENDPOINT_URL=http://127.0.0.1:4566`");
        };
        Emulator::borrowed(endpoint, Backend::External).await
    }

    /// An emulator that runs already and that we must not stop.
    pub async fn borrowed(endpoint: String, backend: Backend) -> Result<Emulator> {
        let endpoint = normalize_endpoint(&endpoint)?;
        if !answers(&endpoint).await {
            bail!("no emulator answers at {endpoint}; start one with `cargo xtask local up`");
        }
        Ok(Emulator {
            endpoint,
            backend,
            handle: Handle::Borrowed,
        })
    }

    /// `http://127.0.0.1:PORT`: always an IP, because with `localhost` the
    /// S3 clients switch to virtual-host addressing and fail to resolve
    /// `<bucket>.localhost`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the process behind a private emulator still runs.
    pub fn is_running(&mut self) -> bool {
        match &mut self.handle {
            Handle::Ministack(m) => m.is_running(),
            #[cfg(feature = "localstack")]
            Handle::Localstack(_) => true,
            Handle::Borrowed => true,
        }
    }

    /// Turns an AWS call's error into one that says when the emulator itself
    /// is the cause: a process that died shows its exit and the tail of its log.
    pub fn explain(&mut self, err: anyhow::Error) -> anyhow::Error {
        match &mut self.handle {
            Handle::Ministack(m) => match m.exit_report() {
                Some(report) => err.context(format!(
                    "the emulator at {} is gone: {report}",
                    self.endpoint
                )),
                None => err,
            },
            _ => err,
        }
    }

    /// Stops a private emulator now (dropping it does the same).
    pub fn stop(self) {
        drop(self)
    }

    /// The process id of a private ministack (for tests that kill it).
    pub fn pid(&self) -> Option<u32> {
        match &self.handle {
            Handle::Ministack(m) => Some(m.pid()),
            _ => None,
        }
    }
}

/// Accepts `http://host:port` and turns `localhost` into `127.0.0.1`.
pub fn normalize_endpoint(endpoint: &str) -> Result<String> {
    let url = reqwest::Url::parse(endpoint).with_context(|| {
        format!("`{endpoint}` is not a URL; use the form http://127.0.0.1:4566")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("`{endpoint}` is not an http(s) URL; use the form http://127.0.0.1:4566");
    }
    let host = match url.host_str() {
        Some("localhost") | None => "127.0.0.1".to_string(),
        Some(host) => host.to_string(),
    };
    let port = url.port_or_known_default().unwrap_or(80);
    Ok(format!("{}://{host}:{port}", url.scheme()))
}

/// Whether anything answers HTTP at the endpoint (any status counts).
pub async fn answers(endpoint: &str) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build();
    match client {
        Ok(client) => client.get(endpoint).send().await.is_ok(),
        Err(_) => false,
    }
}

/// Whether a Docker engine answers (not just the client being installed).
pub fn docker_engine_available() -> bool {
    if let Some(host) = std::env::var_os("DOCKER_HOST") {
        let host = host.to_string_lossy().to_string();
        if let Some(path) = host.strip_prefix("unix://") {
            return std::os::unix::net::UnixStream::connect(path).is_ok();
        }
        return true;
    }
    std::os::unix::net::UnixStream::connect("/var/run/docker.sock").is_ok()
}
