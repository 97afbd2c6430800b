//! `cargo xtask bench [--quick]`: how long users wait, measured against the
//! plain way in the same run on the same machine, as ratios of medians so a
//! busy machine's noise cancels out.
//!
//! 1. a full deploy of tb365 to a fresh emulator stage, against a plain
//!    `serverless deploy` of its three services one after the other (same
//!    CLI, same emulator, same polling interval); and of a generated deep
//!    app (four waves of two services, each with a build step of its own
//!    in packaging), against the plain serial way and against deploying
//!    wave by wave, each wave's services at once (how Serverless Compose
//!    runs them);
//! 2. a redeploy of the unchanged stage, against the same plain commands;
//! 3. the static pipeline (audit, plan, offline validate) on generated apps
//!    of 10, 100 and 1000 services: time per service and how it grows;
//! 4. smoke-testing every endpoint concurrently, against one at a time;
//! 5. emulator start to ready;
//! 6. what the load generator itself can drive: requests a second against
//!    a trivial endpoint on 127.0.0.1, so `load`'s numbers can be trusted
//!    (an app far below it is the app's limit, not the generator's).

mod apps;
mod baseline;
pub mod pace;
mod paced;
pub mod scale;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::app::diag::Format;
use crate::app::App;
use crate::aws::emulator::{Backend, Emulator};
use crate::aws::target::{Mode, StageTarget};
use crate::cli::{BenchArgs, Global};
use crate::{aws::verify, sys::paths, sys::tools};

pub use apps::{generate, generate_deep, generate_monorepo, static_pipeline};
use baseline::{plain_deploy, wave_deploy, xtask};

/// The stage the deploy benchmark rehearses (its real names, on the emulator).
const STAGE: &str = "dev";

/// The targets, as ratios to the baseline run beside ours.
const DEPLOY_TARGET: f64 = 0.45;
const DEEP_TARGET: f64 = 0.5;
const WAVES_TARGET: f64 = 0.8;
const SMOKE_TARGET: f64 = 0.5;

/// The deep app: waves of services, each reading the one before through
/// `Fn::ImportValue`, each with a build step in its packaging.
const DEEP_WAVES: usize = 4;
const DEEP_WIDTH: usize = 2;
/// What each service's build step spends waiting (as a dependency download
/// or a remote build does), on top of the work it and the CLI do.
const BUILD_WAIT_MS: u64 = 1500;

/// How the deep app is deployed.
#[derive(Debug, Clone, Copy)]
enum Way {
    Ours,
    /// `serverless deploy` of every service, one after the other.
    Serial,
    /// Wave by wave, each wave's services at once.
    Waves,
    /// Ours, its packaging fanned out: `--package-only` shards (each as
    /// one CI runner would run it), then `--from-packages`.
    Shards,
}

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

pub(crate) async fn run(global: &Global, args: BenchArgs) -> Result<i32> {
    let runs = if args.quick { 3 } else { 5 };
    let app_dir = global.app_dir()?;
    let app = App::load(&app_dir)?;
    for service in &app.services {
        tools::service_dependencies(&service.dir).await?;
    }
    let cli = tools::serverless(true)?;
    let work = paths::scratch_dir().join(format!("bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let say = |text: &str| crate::errln!("bench: {text}");
    if args.aws_pace > 0.0 {
        let result = at_aws_pace(&args, &app_dir, &app.name(), &cli, &work, runs).await;
        let _ = std::fs::remove_dir_all(&work);
        return result;
    }

    // 1, 2 and 5: deploys on fresh emulators.
    let (mut ours_full, mut plain_full, mut ours_noop, mut plain_noop, mut starts) =
        (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..runs {
        say(&format!("deploy sample {}/{runs}", i + 1));
        let (emulator, started) = timed_start().await?;
        starts.push(started);
        let state = work.join(format!("state-{i}"));
        xtask(
            emulator.endpoint(),
            &state,
            &["bootstrap", STAGE, "--rehearse"],
        )?;
        ours_full.push(secs(xtask(
            emulator.endpoint(),
            &state,
            &["deploy", STAGE, "--rehearse", "--skip-smoke"],
        )?));
        ours_noop.push(secs(xtask(
            emulator.endpoint(),
            &state,
            &["deploy", STAGE, "--rehearse", "--skip-smoke"],
        )?));
        drop(emulator);

        let (emulator, started) = timed_start().await?;
        starts.push(started);
        xtask(
            emulator.endpoint(),
            &state,
            &["bootstrap", STAGE, "--rehearse"],
        )?;
        plain_full.push(secs(plain_deploy(&cli, &app, emulator.endpoint())?));
        plain_noop.push(secs(plain_deploy(&cli, &app, emulator.endpoint())?));
        drop(emulator);
    }

    // 1b: the deep app, ours against the plain serial way and wave by wave.
    let deep_dir = generate_deep(&work.join("deep"), DEEP_WAVES, DEEP_WIDTH)?;
    let deep = App::load(&deep_dir)?;
    let deep_arg = deep_dir.to_string_lossy().to_string();
    let (mut ours_deep, mut plain_deep, mut waves_deep) = (vec![], vec![], vec![]);
    for i in 0..runs {
        say(&format!("deep app sample {}/{runs}", i + 1));
        for (samples, how) in [
            (&mut ours_deep, Way::Ours),
            (&mut plain_deep, Way::Serial),
            (&mut waves_deep, Way::Waves),
        ] {
            let (emulator, started) = timed_start().await?;
            starts.push(started);
            let state = work.join(format!("state-deep-{i}-{how:?}"));
            xtask(
                emulator.endpoint(),
                &state,
                &["--app", &deep_arg, "bootstrap", STAGE, "--rehearse"],
            )?;
            samples.push(secs(match how {
                Way::Ours => xtask(
                    emulator.endpoint(),
                    &state,
                    &[
                        "--app",
                        &deep_arg,
                        "deploy",
                        STAGE,
                        "--rehearse",
                        "--skip-smoke",
                    ],
                )?,
                Way::Serial => plain_deploy(&cli, &deep, emulator.endpoint())?,
                Way::Waves => wave_deploy(&cli, &deep, emulator.endpoint())?,
                Way::Shards => paced::fanned_out(emulator.endpoint(), &state, &deep_arg)?,
            }));
        }
    }

    // 4: smoke, on one deployed stage, after a warm-up run.
    say("smoke samples");
    let (emulator, started) = timed_start().await?;
    starts.push(started);
    let state = work.join("state-smoke");
    xtask(
        emulator.endpoint(),
        &state,
        &["bootstrap", STAGE, "--rehearse"],
    )?;
    xtask(
        emulator.endpoint(),
        &state,
        &["deploy", STAGE, "--rehearse", "--skip-smoke"],
    )?;
    let stage = app.stage(STAGE)?;
    let target = StageTarget::on(&stage, Mode::Rehearsal(Backend::Ministack), emulator).await;
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
    // The target holds the emulator: both go here.
    drop(target);

    // 6: the load generator's own ceiling.
    say("load generator");
    let mut generator = Vec::new();
    for _ in 0..runs {
        generator
            .push(load_generator_rps(Duration::from_secs(if args.quick { 2 } else { 5 })).await?);
    }
    let generator_rps = median(&mut generator);

    // 3: the static pipeline, and the scale limits.
    say("static pipeline");
    let per_service = static_samples(&work, runs)?;
    say("scale limits");
    let limits = scale::measure(&std::env::current_exe()?, &work, &[100, 1000]).await?;
    let _ = std::fs::remove_dir_all(&work);

    let (of, pf, on, pn) = (
        median(&mut ours_full),
        median(&mut plain_full),
        median(&mut ours_noop),
        median(&mut plain_noop),
    );
    let (od, pd, wd) = (
        median(&mut ours_deep),
        median(&mut plain_deep),
        median(&mut waves_deep),
    );
    let (sc, ss) = (median(&mut smoke_concurrent), median(&mut smoke_serial));
    let start_ms = median(&mut starts) * 1000.0;
    let static_ms = per_service.iter().map(|(_, ms)| *ms).fold(0.0, f64::max);
    let growth = per_service.last().map(|(_, ms)| *ms).unwrap_or(f64::NAN)
        / per_service.first().map(|(_, ms)| *ms).unwrap_or(f64::NAN);
    let result = json!({
        "deploy_ratio": of / pf,
        "deploy_ratio_deep": od / pd,
        "deploy_ratio_vs_waves": od / wd,
        "noop_ratio": on / pn,
        "static_ms_per_service": static_ms,
        "static_growth_1000_vs_10": growth,
        "smoke_ratio": sc / ss,
        "emulator_start_ms": start_ms,
        "load_generator_rps": generator_rps,
        "runs": runs,
        "medians_s": {
            "deploy": of, "deploy_plain": pf,
            "deploy_deep": od, "deploy_deep_plain": pd, "deploy_deep_waves": wd,
            "noop": on, "noop_plain": pn,
            "smoke_concurrent": sc, "smoke_one_at_a_time": ss,
        },
        "static_ms_per_service_by_size": per_service.iter().map(|(n, ms)| json!({"services": n, "ms_per_service": ms})).collect::<Vec<_>>(),
        "scale": limits.iter().map(|m| json!({"services": m.services, "command": m.command, "seconds": m.seconds, "peak_mb": if m.peak_mb.is_nan() { serde_json::Value::Null } else { json!(m.peak_mb) }})).collect::<Vec<_>>(),
        "deep_app": { "waves": DEEP_WAVES, "services_per_wave": DEEP_WIDTH, "build_wait_ms": BUILD_WAIT_MS },
        "targets": {
            "deploy_ratio": DEPLOY_TARGET, "deploy_ratio_deep": DEEP_TARGET,
            "deploy_ratio_vs_waves": WAVES_TARGET, "smoke_ratio": SMOKE_TARGET,
            "noop_ratio": 0.02, "static_ms_per_service": 10.0,
        },
        "machine": format!("{} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)),
    });
    match args.out.format {
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&result)?)?,
        Format::Text => {
            crate::out!("{}", text_report(&result, &per_service))?;
            for m in &limits {
                let memory = if m.peak_mb.is_nan() {
                    String::new()
                } else {
                    format!(", peak {:.0} MiB", m.peak_mb)
                };
                crate::outln!(
                    "  scale           {:11} at {:4} services: {:.2}s{memory}",
                    m.command,
                    m.services,
                    m.seconds
                )?;
            }
        }
    }
    Ok(0)
}

/// 7. the deploys at AWS's pace (`--aws-pace F`): the app, the deep app
///    and a generated monorepo, each ours, plain serial and wave by wave,
///    against the critical-path bound.
async fn at_aws_pace(
    args: &BenchArgs,
    app_dir: &Path,
    app_name: &str,
    cli: &Path,
    work: &Path,
    runs: usize,
) -> Result<i32> {
    let model = match &args.aws_pace_model {
        Some(path) => pace::Model::read(path)?,
        None => pace::Model::builtin(),
    };
    let runs = if args.quick { 1 } else { runs.min(3) };
    let deep = generate_deep(&work.join("deep"), DEEP_WAVES, DEEP_WIDTH)?;
    let mono = generate_monorepo(&work.join("monorepo"), usize::from(args.services))?;
    let mut results = Vec::new();
    for (name, dir) in [
        (app_name, app_dir.to_path_buf()),
        ("deep", deep),
        ("monorepo", mono),
    ] {
        results.push(paced::bench_app(name, &dir, cli, work, &model, args.aws_pace, runs).await?);
    }
    match args.out.format {
        Format::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&paced::json(&results, &model, args.aws_pace))?
        )?,
        Format::Text => crate::out!(
            "{}",
            paced::report(&results, &model, args.aws_pace, args.timelines)
        )?,
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
    let (od, pd, wd) = (
        num(&["medians_s", "deploy_deep"]),
        num(&["medians_s", "deploy_deep_plain"]),
        num(&["medians_s", "deploy_deep_waves"]),
    );
    let ratio = |what: &str, ours: f64, against: &str, base: f64, target: f64| {
        format!(
            "  {what:15} {ours:7.2}s vs {against} {base:7.2}s  ratio {:.2} (target ≤ {target}) {}\n",
            ours / base,
            mark(ours / base <= target)
        )
    };
    out.push_str(&ratio("full deploy", of, "plain", pf, DEPLOY_TARGET));
    out.push_str(&ratio("deep app", od, "plain", pd, DEEP_TARGET));
    out.push_str(&ratio("deep app", od, "waves", wd, WAVES_TARGET));
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
    out.push_str(&ratio(
        "smoke, 4 at once",
        sc,
        "one at a time",
        ss,
        SMOKE_TARGET,
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
