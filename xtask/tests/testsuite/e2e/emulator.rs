//! The emulator layer against the real emulator: start, use through the AWS
//! SDK for Rust, stop, and fail clearly when the emulator dies mid-call.

use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, ScalarAttributeType,
};
use xtask::aws::emulator::{Backend, Emulator};
use xtask::aws::Target;
use xtask::sys::process;

use crate::cli::{text, Sandbox};
use crate::support;

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
    if support::e2e_skipped() {
        return Ok(());
    }
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
    if support::e2e_skipped() {
        return Ok(());
    }
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
    if support::e2e_skipped() {
        return Ok(());
    }
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

/// `cargo xtask local`: the long-lived emulator is started, found again,
/// shown and stopped with its whole process group.
#[test]
fn local_up_status_down_leaves_nothing_behind() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let sandbox = Sandbox::new("local");
    let up = sandbox.run(&["local", "up", "--port", &process::free_port()?.to_string()]);
    assert!(up.status.success(), "{}", text(&up));
    let out = text(&up);
    assert!(
        out.contains("export AWS_ENDPOINT_URL=http://127.0.0.1:"),
        "{out}"
    );

    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        sandbox.dir.join("state/local/emulator.json"),
    )?)?;
    let pid = record["pid"].as_u64().expect("a pid") as u32;
    assert!(process::is_alive(pid));

    let status = sandbox.run(&["local", "status"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    assert!(text(&status).contains("healthy"));

    // A second `up` reuses the running emulator.
    let again = sandbox.run(&["local", "up"]);
    assert!(text(&again).contains("already running"), "{}", text(&again));

    let logs = sandbox.run(&["local", "logs", "--lines", "5"]);
    assert!(logs.status.success(), "{}", text(&logs));

    let down = sandbox.run(&["local", "down"]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(
        !process::group_alive(pid),
        "the emulator's process group survived `local down`"
    );

    let status = sandbox.run(&["local", "status"]);
    assert_eq!(status.status.code(), Some(1), "{}", text(&status));
    Ok(())
}

/// Whether `path` is on a file system in memory (tmpfs).
fn in_memory(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a zeroed statfs is a valid out-parameter; the path is a C string.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::statfs(c_path.as_ptr(), &mut stat) } == 0;
    ok && stat.f_type == libc::TMPFS_MAGIC
}

/// The environment variable `name` of a running process.
fn environ(pid: u32, name: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|b| *b == 0).find_map(|entry| {
        let entry = String::from_utf8_lossy(entry);
        entry.strip_prefix(&format!("{name}=")).map(str::to_string)
    })
}

/// Every warm Lambda worker unpacks its whole package (tb365's: about
/// 4,000 files) into the emulator's TMPDIR, and the emulator deletes those
/// trees on every update and removal of a function: on a busy disk that
/// made one code update take 23 s. A private emulator keeps them in memory
/// where the machine has a tmpfs, and leaves nothing there when it stops,
/// nor after an owner that was killed (the next start sweeps it).
#[tokio::test]
async fn a_private_emulator_unpacks_lambda_code_in_memory_and_leaves_none_behind() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let shm = std::path::Path::new("/dev/shm");
    if !in_memory(shm) {
        println!("not checked: this machine has no tmpfs at /dev/shm");
        return Ok(());
    }
    // What a test killed with SIGKILL left: its owner is gone.
    let stale = shm.join("xtask-ministack-999999999-1-0");
    std::fs::create_dir_all(stale.join("ministack-lambda-x"))?;

    let emulator = Emulator::start(Backend::Ministack).await?;
    let pid = emulator.pid().context("a private ministack has a pid")?;
    let tmp = std::path::PathBuf::from(environ(pid, "TMPDIR").context("the emulator's TMPDIR")?);
    assert!(in_memory(&tmp), "{} is not in memory", tmp.display());
    assert!(tmp.is_dir());
    assert!(!stale.exists(), "a dead owner's folder was left in memory");
    emulator.stop();
    assert!(!tmp.exists(), "{} outlived its emulator", tmp.display());
    Ok(())
}
