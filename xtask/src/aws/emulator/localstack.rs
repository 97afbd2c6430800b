//! The LocalStack backend, through testcontainers, for machines with a
//! Docker engine (GitHub's hosted runners have one; these machines do not).
//!
//! With `LOCALSTACK_AUTH_TOKEN` set it runs the Pro image, which has HTTP
//! APIs and Cognito; the free image has neither, so apps like tb365 deploy
//! only partly there.

use anyhow::{bail, Context, Result};
use testcontainers_modules::localstack::{LocalStack, LocalStackPro};
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::ContainerAsync;

/// A running LocalStack container, removed on drop.
pub enum Container {
    Free(ContainerAsync<LocalStack>, u16),
    Pro(ContainerAsync<LocalStackPro>, u16),
}

impl Container {
    pub async fn start() -> Result<Container> {
        if !super::docker_engine_available() {
            bail!("the localstack emulator needs a Docker engine and none answers here; use `--emulator ministack`");
        }
        let has_token = std::env::var("LOCALSTACK_AUTH_TOKEN").is_ok_and(|t| !t.is_empty());
        if has_token {
            let container = LocalStackPro::from_env()
                .start()
                .await
                .context("cannot start the LocalStack Pro container")?;
            let port = container.get_host_port_ipv4(4566).await?;
            Ok(Container::Pro(container, port))
        } else {
            let container = LocalStack::default()
                .start()
                .await
                .context("cannot start the LocalStack container")?;
            let port = container.get_host_port_ipv4(4566).await?;
            Ok(Container::Free(container, port))
        }
    }

    pub fn endpoint(&self) -> String {
        let port = match self {
            Container::Free(_, port) | Container::Pro(_, port) => port,
        };
        format!("http://127.0.0.1:{port}")
    }
}
