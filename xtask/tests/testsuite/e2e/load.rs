//! `cargo xtask load` on the real emulator: per endpoint the throughput,
//! error rate and latency percentiles from the smoke spec's checks (those
//! that write included, off protected stages), a JSON report and an SVG
//! chart next to the journals, an objective set too tight failing the run,
//! and a protected stage refused without `--yes`.

use anyhow::{Context, Result};
use serde_json::Value;

use crate::support;
use crate::support::{arg, Harness};

const MANIFEST: &str = "[app]\nname = \"mini\"\n\n[services.mini]\npath = \"mini\"\n\n[stages.local]\nregion = \"us-east-1\"\nemulator = true\n\n[stages.prod]\nregion = \"us-east-1\"\nprotected = true\n";

const SERVICE: &str = "service: mini\nprovider:\n  name: aws\n  runtime: nodejs24.x\n  stage: ${opt:stage}\nfunctions:\n  hello:\n    handler: handler.hello\n    events:\n      - httpApi: GET /hello\n  echo:\n    handler: handler.echo\n    events:\n      - httpApi: POST /echo\n";

const HANDLERS: &str = r#"
export const hello = async () => ({ statusCode: 200, headers: { "content-type": "application/json" }, body: JSON.stringify({ hello: "world" }) });
export const echo = async (event) => ({ statusCode: 201, body: event.body ?? "" });
"#;

const SPEC: &str = "[[check]]\nservice = \"mini\"\nmethod = \"GET\"\npath = \"/hello\"\nexpect = 200\njson = { hello = \"world\" }\n\n[[check]]\nservice = \"mini\"\nmethod = \"POST\"\npath = \"/echo\"\nbody = { id = \"${id}\" }\nexpect = 201\n";

#[tokio::test]
async fn load_reports_percentiles_per_endpoint_and_fails_a_missed_objective() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("load").await?;
    let app = h.app(
        "mini",
        &[
            ("deploy.toml", MANIFEST),
            ("mini/serverless.yml", SERVICE),
            ("mini/handler.mjs", HANDLERS),
            ("smoke.toml", SPEC),
        ],
    );
    let app_arg = arg(&app);
    h.run(&["deploy", "local", "--app", &app_arg]).ok();

    let load = [
        "load",
        "local",
        "--duration",
        "3s",
        "--warmup",
        "1s",
        "--concurrency",
        "2",
    ];
    let run = h.run(&[&load[..], &["--format", "json", "--app", &app_arg]].concat());
    run.ok();
    let report: Value = serde_json::from_str(&run.stdout)?;
    let checks = report["checks"].as_array().context("checks")?;
    assert_eq!(checks.len(), 2, "{report}");
    for check in checks {
        let requests = check["requests"].as_u64().unwrap_or_default();
        assert!(requests > 0, "{check}");
        assert_eq!(check["errors"], 0, "{check}");
        let p = |k: &str| check[k].as_f64().unwrap_or(-1.0);
        assert!(
            0.0 < p("p50_ms")
                && p("p50_ms") <= p("p95_ms")
                && p("p95_ms") <= p("p99_ms")
                && p("p99_ms") <= p("max_ms"),
            "{check}"
        );
        let rate = check["per_second"].as_f64().unwrap_or_default();
        assert!(
            (rate - requests as f64 / 3.0).abs() < requests as f64 / 3.0 * 0.5,
            "{check}"
        );
    }
    assert_eq!(report["pace"], "concurrency 2");
    // The report and its chart sit next to the journals.
    let dir = h.dir.join("state/journal/mini/local/load");
    let files: Vec<String> = std::fs::read_dir(&dir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let svg = files
        .iter()
        .find(|n| n.ends_with(".svg"))
        .context("an SVG chart")?;
    let chart = std::fs::read_to_string(dir.join(svg))?;
    assert!(
        chart.starts_with("<svg") && chart.contains("mini GET /hello"),
        "{chart}"
    );
    assert!(files.iter().any(|n| n.ends_with(".json")), "{files:?}");

    // The text table, and an objective no endpoint can meet.
    std::fs::write(
        app.join("smoke.toml"),
        format!("[load]\np95_ms = 0.001\n\n{SPEC}"),
    )?;
    let tight = h.run(&[&load[..], &["--app", &app_arg]].concat());
    tight.fails_with("above the objective 0.001 ms");
    assert_eq!(tight.code, Some(1), "{}", tight.text);
    assert!(tight.stdout.contains("p95 ms"), "{}", tight.stdout);

    // A protected stage is loaded only when asked, and a plan out of
    // bounds is refused before anything is sent.
    h.run(&[
        "load",
        "prod",
        "--rehearse",
        "--duration",
        "1s",
        "--app",
        &app_arg,
    ])
    .fails_with("stage prod is protected: pass --yes");
    let bounds = h.run(&["load", "local", "--duration", "2h", "--app", &app_arg]);
    assert_eq!(bounds.code, Some(2), "{}", bounds.text);
    assert!(bounds.text.contains("at most 3600s"), "{}", bounds.text);
    Ok(())
}
