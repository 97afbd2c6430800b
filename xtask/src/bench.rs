//! `cargo xtask bench [--quick]`: how long users wait, measured against the
//! plain way in the same run on the same machine, as ratios of medians so a
//! busy machine's noise cancels out.
//!
//! 1. a full deploy of tb365 to a fresh emulator stage, against a plain
//!    `serverless deploy` of its three services one after the other (same
//!    CLI, same emulator, same polling interval);
//! 2. a redeploy of the unchanged stage, against the same plain commands;
//! 3. the static pipeline (audit, plan, offline validate) on generated apps
//!    of 10, 100 and 1000 services: time per service and how it grows;
//! 4. smoke-testing every endpoint concurrently, against one at a time;
//! 5. emulator start to ready;
//! 6. what the load generator itself can drive: requests a second against
//!    a trivial endpoint on 127.0.0.1, so `load`'s numbers can be trusted
//!    (an app far below it is the app's limit, not the generator's).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::app::diag::Format;
use crate::app::App;
use crate::aws::emulator::{self, Backend, Emulator};
use crate::aws::target::{Mode, StageTarget};
use crate::cli::{BenchArgs, Global};
use crate::{aws::verify, cfn::checks, cfn::graph, cfn::hazards, sys::paths, sys::tools};

/// The stage the deploy benchmark rehearses (its real names, on the emulator).
const STAGE: &str = "dev";

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    match samples.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => samples[n / 2],
        n => (samples[n / 2 - 1] + samples[n / 2]) / 2.0,
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

pub(crate) async fn run(_global: &Global, args: BenchArgs) -> Result<i32> {
    let runs = if args.quick { 3 } else { 5 };
    let app_dir = App::resolve_dir(None);
    let app = App::load(&app_dir)?;
    for service in &app.services {
        tools::service_dependencies(&service.dir).await?;
    }
    let cli = tools::serverless(true)?;
    let work = paths::scratch_dir().join(format!("bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let say = |text: &str| eprintln!("bench: {text}");

    // 1, 2 and 5: deploys on fresh emulators.
    let (mut ours_full, mut plain_full, mut ours_noop, mut plain_noop, mut starts) =
        (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..runs {
        say(&format!("deploy sample {}/{runs}", i + 1));
        let (emulator, started) = timed_start().await?;
        starts.push(started);
        let state = work.join(format!("state-{i}"));
        xtask(&emulator, &state, &["bootstrap", STAGE, "--rehearse"])?;
        ours_full.push(secs(xtask(
            &emulator,
            &state,
            &["deploy", STAGE, "--rehearse", "--skip-smoke"],
        )?));
        ours_noop.push(secs(xtask(
            &emulator,
            &state,
            &["deploy", STAGE, "--rehearse", "--skip-smoke"],
        )?));
        drop(emulator);

        let (emulator, started) = timed_start().await?;
        starts.push(started);
        xtask(&emulator, &state, &["bootstrap", STAGE, "--rehearse"])?;
        plain_full.push(secs(plain_deploy(&cli, &app, &emulator)?));
        plain_noop.push(secs(plain_deploy(&cli, &app, &emulator)?));
        drop(emulator);
    }

    // 4: smoke, on one deployed stage, after a warm-up run.
    say("smoke samples");
    let (emulator, started) = timed_start().await?;
    starts.push(started);
    let state = work.join("state-smoke");
    xtask(&emulator, &state, &["bootstrap", STAGE, "--rehearse"])?;
    xtask(
        &emulator,
        &state,
        &["deploy", STAGE, "--rehearse", "--skip-smoke"],
    )?;
    let stage = app.stage(STAGE)?;
    std::env::set_var("AWS_ENDPOINT_URL", emulator.endpoint());
    let target = StageTarget::open(&stage, Mode::Rehearsal(Backend::External)).await?;
    let smoke_once = |concurrency: usize| {
        let (app, stage, target) = (&app, &stage, &target);
        async move {
            let opts = verify::SmokeOptions {
                allow_mutating: false,
                run_id: crate::run::journal::new_run_id(),
                junit: None,
                concurrency: Some(concurrency),
            };
            let started = Instant::now();
            let report = verify::run(app, stage, target, &opts).await?;
            if !report.ok() {
                bail!(
                    "the smoke run failed during the benchmark:\n{}",
                    report.table()
                );
            }
            Ok::<f64, anyhow::Error>(secs(started.elapsed()))
        }
    };
    smoke_once(4).await?;
    let (mut smoke_concurrent, mut smoke_serial) = (vec![], vec![]);
    for _ in 0..runs {
        smoke_concurrent.push(smoke_once(4).await?);
        smoke_serial.push(smoke_once(1).await?);
    }
    drop(target);
    drop(emulator);

    // 6: the load generator's own ceiling.
    say("load generator");
    let mut generator = Vec::new();
    for _ in 0..runs {
        generator
            .push(load_generator_rps(Duration::from_secs(if args.quick { 2 } else { 5 })).await?);
    }
    let generator_rps = median(&mut generator);

    // 3: the static pipeline.
    say("static pipeline");
    let per_service = static_samples(&work, runs)?;
    let _ = std::fs::remove_dir_all(&work);

    let (of, pf, on, pn) = (
        median(&mut ours_full),
        median(&mut plain_full),
        median(&mut ours_noop),
        median(&mut plain_noop),
    );
    let (sc, ss) = (median(&mut smoke_concurrent), median(&mut smoke_serial));
    let start_ms = median(&mut starts) * 1000.0;
    let static_ms = per_service.iter().map(|(_, ms)| *ms).fold(0.0, f64::max);
    let growth = per_service.last().map(|(_, ms)| *ms).unwrap_or(f64::NAN)
        / per_service.first().map(|(_, ms)| *ms).unwrap_or(f64::NAN);
    let result = json!({
        "deploy_ratio": of / pf,
        "noop_ratio": on / pn,
        "static_ms_per_service": static_ms,
        "static_growth_1000_vs_10": growth,
        "smoke_ratio": sc / ss,
        "emulator_start_ms": start_ms,
        "load_generator_rps": generator_rps,
        "runs": runs,
        "medians_s": {
            "deploy": of, "deploy_plain": pf,
            "noop": on, "noop_plain": pn,
            "smoke_concurrent": sc, "smoke_one_at_a_time": ss,
        },
        "static_ms_per_service_by_size": per_service.iter().map(|(n, ms)| json!({"services": n, "ms_per_service": ms})).collect::<Vec<_>>(),
        "targets": { "deploy_ratio": 0.8, "noop_ratio": 0.02, "static_ms_per_service": 10.0 },
        "machine": format!("{} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)),
    });
    match args.out.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&result)?),
        Format::Text => print!("{}", text_report(&result, &per_service)),
    }
    Ok(0)
}

/// The static pipeline's cost per service on generated apps of 10, 100 and
/// 1000 services: `(size, median ms per service)`.
fn static_samples(work: &Path, runs: usize) -> Result<Vec<(usize, f64)>> {
    let mut per_service = Vec::new();
    for size in [10usize, 100, 1000] {
        let dir = work.join(format!("generated-{size}"));
        generate(&dir, size)?;
        let mut samples = Vec::new();
        for _ in 0..runs {
            samples.push(secs(static_pipeline(&dir)?) * 1000.0 / size as f64);
        }
        per_service.push((size, median(&mut samples)));
    }
    Ok(per_service)
}

/// The human-readable form of the JSON result.
fn text_report(result: &serde_json::Value, per_service: &[(usize, f64)]) -> String {
    let num = |path: &[&str]| {
        path.iter()
            .fold(result, |v, k| &v[*k])
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    let (of, pf) = (
        num(&["medians_s", "deploy"]),
        num(&["medians_s", "deploy_plain"]),
    );
    let (on, pn) = (
        num(&["medians_s", "noop"]),
        num(&["medians_s", "noop_plain"]),
    );
    let (sc, ss) = (
        num(&["medians_s", "smoke_concurrent"]),
        num(&["medians_s", "smoke_one_at_a_time"]),
    );
    let mark = |ok: bool| if ok { "✔" } else { "✘" };
    let mut out = format!(
        "median of {} runs, same machine, same emulator kind, same CLI:\n",
        result["runs"]
    );
    out.push_str(&format!(
        "  full deploy     {of:7.2}s vs plain {pf:7.2}s  ratio {:.2} (target ≤ 0.8) {}\n",
        of / pf,
        mark(of / pf <= 0.8)
    ));
    out.push_str(&format!(
        "  no-op redeploy  {on:7.2}s vs plain {pn:7.2}s  ratio {:.3} (target ≤ 0.02) {}\n",
        on / pn,
        mark(on / pn <= 0.02)
    ));
    for (n, ms) in per_service {
        out.push_str(&format!(
            "  static pipeline {n:5} services: {ms:.3} ms/service (target ≤ 10) {}\n",
            mark(*ms <= 10.0)
        ));
    }
    out.push_str(&format!(
        "  static growth   ms/service at 1000 vs 10: ×{:.2} (linear: ×1)\n",
        num(&["static_growth_1000_vs_10"])
    ));
    out.push_str(&format!(
        "  smoke           {sc:7.2}s concurrent vs {ss:7.2}s one at a time  ratio {:.2}\n",
        sc / ss
    ));
    out.push_str(&format!(
        "  emulator start  {:.0} ms to ready\n",
        num(&["emulator_start_ms"])
    ));
    out.push_str(&format!(
        "  load generator  {:.0} requests/s against a trivial local endpoint (its own ceiling)\n",
        num(&["load_generator_rps"])
    ));
    out
}

/// Requests a second the load generator drives, 16 in flight, against a
/// trivial HTTP endpoint on 127.0.0.1 (a fixed answer, kept alive).
async fn load_generator_rps(duration: Duration) -> Result<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = Vec::with_capacity(4096);
                let mut chunk = [0u8; 4096];
                while let Ok(n) = socket.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    // One answer per request head (GETs carry no body).
                    while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        buffer.drain(..end + 4);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
                        if socket.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    let spec = smoke_tests::Spec::parse(
        Path::new("bench.toml"),
        "[[check]]\nservice = \"bench\"\nmethod = \"GET\"\npath = \"/ping\"\nexpect = 200\n",
    )?;
    let endpoints = [smoke_tests::Endpoint {
        service: "bench".into(),
        method: "GET".into(),
        path: "/ping".into(),
        protected: false,
        base_url: Some(format!("http://{addr}")),
        at: "bench".into(),
    }];
    let plan = smoke_tests::load::Plan {
        pace: smoke_tests::load::Pace::Concurrency(16),
        duration,
        warmup: Duration::from_millis(500),
    };
    let report = smoke_tests::load::drive(
        &spec,
        &spec.checks,
        &endpoints,
        &smoke_tests::Options::default(),
        &plan,
        Vec::new(),
    )
    .await;
    server.abort();
    let check = report.checks.first().context("the bench check")?;
    if check.errors > 0 {
        bail!(
            "the load generator's bench endpoint failed: {:?}",
            check.failures
        );
    }
    Ok(check.per_second)
}

async fn timed_start() -> Result<(Emulator, f64)> {
    let started = Instant::now();
    let emulator = Emulator::start(Backend::Ministack).await?;
    Ok((emulator, secs(started.elapsed())))
}

/// Runs this very binary against the emulator; returns the wall time.
fn xtask(emulator: &Emulator, state: &Path, args: &[&str]) -> Result<Duration> {
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let output = Command::new(exe)
        .args(args)
        .env("XTASK_STATE_DIR", state)
        .env("XTASK_EMULATOR", "external")
        .env("AWS_ENDPOINT_URL", emulator.endpoint())
        .env("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", emulator::SECRET_KEY)
        .env_remove("XTASK_APP")
        .stdin(Stdio::null())
        .output()?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "`cargo xtask {}` failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(elapsed)
}

/// The plain way: `serverless deploy` of each service, one after the other.
fn plain_deploy(cli: &Path, app: &App, emulator: &Emulator) -> Result<Duration> {
    let stage = app.stage(STAGE)?;
    let started = Instant::now();
    for service in &app.services {
        let output = Command::new(cli)
            .args([
                "deploy",
                "--stage",
                stage.name(),
                "--region",
                stage.region(),
            ])
            .current_dir(&service.dir)
            .env("AWS_ENDPOINT_URL", emulator.endpoint())
            .env("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", emulator::SECRET_KEY)
            .env("AWS_REGION", stage.region())
            .env("SLS_AWS_MONITORING_FREQUENCY", "200")
            .env("SLS_TELEMETRY_DISABLED", "1")
            .stdin(Stdio::null())
            .output()?;
        if !output.status.success() {
            bail!(
                "plain `serverless deploy` of {} failed:\n{}",
                service.key,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(started.elapsed())
}

/// Audit, graph and offline validation of the app in `dir`, as `deploy`
/// runs them before anything else.
pub fn static_pipeline(dir: &Path) -> Result<Duration> {
    let started = Instant::now();
    let app = App::load(dir)?;
    let stage = app.stage("dev")?;
    let report = hazards::audit(&app);
    let graph = graph::Graph::build(&app, &stage);
    let waves = graph.waves()?;
    let validation = checks::validate(&app, &stage);
    let elapsed = started.elapsed();
    if !report.findings.is_empty() || !validation.findings.is_empty() || waves.is_empty() {
        bail!(
            "the generated app is not clean: {} audit and {} validate findings",
            report.findings.len(),
            validation.findings.len()
        );
    }
    Ok(elapsed)
}

/// An app of `size` services: each owns a table, a bucket and an HTTP API
/// with two functions, exports its table name, and reads the exports of up
/// to two earlier services (a wide, layered graph).
pub fn generate(dir: &Path, size: usize) -> Result<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}", paths::display(dir)))?;
    for i in 0..size {
        let mut imports = String::new();
        for dep in [i / 2, i / 3] {
            if dep < i && !imports.contains(&format!("svc{dep:04}-")) {
                imports.push_str(&format!(
                    "    DEP_{dep}: !ImportValue gen-${{sls:stage}}-svc{dep:04}-table\n"
                ));
            }
        }
        let text = format!(
            r#"service: gen-svc{i:04}
provider:
  name: aws
  runtime: nodejs24.x
  stage: ${{opt:stage}}
  region: eu-west-1
  environment:
    TABLE: !Ref Table
    BUCKET: !GetAtt Bucket.Arn
{imports}functions:
  read:
    handler: handler.read
    events:
      - httpApi: GET /items/{{id}}
  write:
    handler: handler.write
    events:
      - httpApi: POST /items
resources:
  Resources:
    Table:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: gen-svc{i:04}-${{sls:stage}}
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions:
          - AttributeName: id
            AttributeType: S
        KeySchema:
          - AttributeName: id
            KeyType: HASH
    Bucket:
      Type: AWS::S3::Bucket
      Properties:
        BucketName: gen-svc{i:04}-files-${{sls:stage}}
  Outputs:
    TableName:
      Value: !Ref Table
      Export:
        Name: gen-${{sls:stage}}-svc{i:04}-table
    ApiUrl:
      Value: !GetAtt HttpApi.ApiEndpoint
"#
        );
        let service_dir = dir.join(format!("svc{i:04}"));
        std::fs::create_dir_all(&service_dir)?;
        std::fs::write(service_dir.join("serverless.yml"), text)?;
    }
    Ok(dir.to_path_buf())
}
