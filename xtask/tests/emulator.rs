//! The emulator layer against the real emulator: start, use through the AWS
//! SDK for Rust, stop, and fail clearly when the emulator dies mid-call.

use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, ScalarAttributeType,
};
mod support;

use xtask::aws::emulator::{Backend, Emulator};
use xtask::aws::Target;
use xtask::sys::process;

async fn dynamodb(emulator: &Emulator) -> aws_sdk_dynamodb::Client {
    let target = Target::emulator(emulator.endpoint());
    aws_sdk_dynamodb::Client::new(&target.sdk_config("us-east-1").await)
}

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
    client
        .create_table()
        .table_name(name)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .send()
        .await?;
    Ok(())
}

#[tokio::test]
async fn ministack_serves_dynamodb_and_stops_with_its_handle() -> Result<()> {
    let emulator = Emulator::start(Backend::Ministack).await?;
    assert!(
        emulator.endpoint().starts_with("http://127.0.0.1:"),
        "{}",
        emulator.endpoint()
    );
    let pid = emulator.pid().context("a private ministack has a pid")?;
    let client = dynamodb(&emulator).await;
    create_table(&client, "things").await?;
    client
        .put_item()
        .table_name("things")
        .item("id", AttributeValue::S("a".into()))
        .item("size", AttributeValue::N("3".into()))
        .send()
        .await?;
    let item = client
        .get_item()
        .table_name("things")
        .key("id", AttributeValue::S("a".into()))
        .send()
        .await?;
    let size = item
        .item()
        .and_then(|i| i.get("size"))
        .and_then(|v| v.as_n().ok())
        .cloned();
    assert_eq!(size.as_deref(), Some("3"));

    emulator.stop();
    assert!(
        !process::group_alive(pid),
        "the emulator's process group outlived its handle"
    );
    Ok(())
}

#[tokio::test]
async fn a_killed_emulator_gives_a_clear_error_not_a_hang() -> Result<()> {
    let mut emulator = Emulator::start(Backend::Ministack).await?;
    let client = dynamodb(&emulator).await;
    create_table(&client, "things").await?;
    let pid = emulator.pid().context("a private ministack has a pid")?;

    // Calls keep going while the emulator is killed underneath them.
    let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = tokio::spawn({
        let (client, written) = (client.clone(), written.clone());
        async move {
            for n in 0.. {
                client
                    .put_item()
                    .table_name("things")
                    .item("id", AttributeValue::S(format!("item-{n}")))
                    .send()
                    .await?;
                written.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            Ok::<(), aws_sdk_dynamodb::Error>(())
        }
    });
    // Kill it once the writes are flowing.
    let flowing = tokio::time::timeout(Duration::from_secs(30), async {
        while written.load(std::sync::atomic::Ordering::SeqCst) < 5 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(flowing.is_ok(), "no writes reached the emulator");
    process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);

    // The guard only keeps a broken build from hanging CI; the assertion is
    // about the error the caller gets.
    let outcome = tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .context("the call hung after the emulator died")??;
    let err = outcome.expect_err("writes cannot succeed against a dead emulator");
    let explained = emulator.explain(anyhow::Error::new(err));
    let message = format!("{explained:#}");
    assert!(
        message.contains("is gone") && message.contains("exited"),
        "{message}"
    );
    assert!(!emulator.is_running());
    Ok(())
}

#[tokio::test]
async fn localstack_backend_runs_where_docker_does() -> Result<()> {
    if !support::docker_or_skip("localstack backend")? {
        return Ok(());
    }
    let emulator = Emulator::start(Backend::Localstack).await?;
    let client = dynamodb(&emulator).await;
    create_table(&client, "things").await?;
    let tables = client.list_tables().send().await?;
    assert!(tables.table_names().iter().any(|t| t == "things"));
    Ok(())
}
