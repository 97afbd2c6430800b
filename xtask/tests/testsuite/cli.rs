//! The command line as users run it: the real binary, its output and exit
//! codes, with every project-local folder moved into a temporary one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use xtask::sys::process;

/// A sandbox for one test: its own state and tool folders.
pub(crate) struct Sandbox {
    pub(crate) dir: PathBuf,
}

impl Sandbox {
    pub(crate) fn new(name: &str) -> Sandbox {
        let dir =
            xtask::sys::paths::scratch_dir().join(format!("cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        Sandbox { dir }
    }

    fn xtask(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args)
            .env("XTASK_STATE_DIR", self.dir.join("state"))
            .env_remove("XTASK_APP")
            .env_remove("AWS_ENDPOINT_URL");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_ENDPOINT_URL_") {
                cmd.env_remove(key);
            }
        }
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.xtask(args).output().expect("the xtask binary runs")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Whatever a failed test left running in this sandbox is stopped.
        let record = self.dir.join("state/local/emulator.json");
        if let Ok(text) = std::fs::read_to_string(record) {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
                if let Some(pid) = value["pid"].as_u64() {
                    process::stop_group(pid as u32, std::time::Duration::from_secs(5));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn doctor_reports_without_installing() {
    let sandbox = Sandbox::new("doctor");
    let tools = sandbox.dir.join("tools");
    let output = sandbox
        .xtask(&["doctor"])
        .env("XTASK_TOOLS_DIR", &tools)
        .env("HOME", &sandbox.dir)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .output()
        .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    for row in [
        "node ≥ 20",
        "npm",
        "python ≥ 3.10",
        "osls 4.3.1",
        "ministack 1.5.33",
        "Docker engine",
        "AWS credentials",
    ] {
        assert!(out.contains(row), "doctor lacks a row for {row}:\n{out}");
    }
    assert!(
        out.contains("✘ osls 4.3.1") && out.contains("not installed"),
        "{out}"
    );
    assert!(out.contains("✘ AWS credentials"), "{out}");
    assert_eq!(
        count_files(&tools),
        0,
        "doctor installed something into {}",
        tools.display()
    );
}

/// `doctor` checks the app it is given: every plugin a service lists is
/// installed, a local plugin file, or in a package.json with a lockfile
/// (the deploy installs it); one that is none of these fails, with the fix.
#[test]
fn doctor_checks_the_plugins_the_app_needs() {
    let service = |name: &str, plugins: &str| {
        format!(
            "service: {name}\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\nplugins:\n{plugins}"
        )
    };
    let (listed, local, missing) = (
        service("listed", "  - serverless-offline\n"),
        service("local", "  - ./plugins/stamp\n"),
        service("missing", "  - serverless-prune-plugin\n"),
    );
    let app = crate::support::scratch_app(
        "doctor-plugins",
        &[
            ("listed/serverless.yml", listed.as_str()),
            (
                "listed/package.json",
                r#"{"devDependencies":{"serverless-offline":"14.0.0"}}"#,
            ),
            ("listed/package-lock.json", "{}"),
            ("local/serverless.yml", local.as_str()),
            ("local/plugins/stamp.js", "module.exports = class {};\n"),
            ("missing/serverless.yml", missing.as_str()),
        ],
    );
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["doctor", "--app"])
        .arg(&app)
        .env_remove("XTASK_APP")
        .output()
        .expect("xtask runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{text}"))
            .to_string()
    };
    assert!(
        line("plugin serverless-offline of listed").starts_with('✔'),
        "{text}"
    );
    assert!(
        line("plugin ./plugins/stamp of local").starts_with('✔'),
        "{text}"
    );
    let missing = line("plugin serverless-prune-plugin of missing");
    assert!(
        missing.starts_with('✘')
            && missing.contains("npm install --save-dev serverless-prune-plugin"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&app);
}

#[test]
fn doctor_fails_when_a_required_tool_is_missing() {
    let sandbox = Sandbox::new("doctor-missing");
    let output = sandbox
        .xtask(&["doctor"])
        .env("PYTHON", sandbox.dir.join("no-such-python"))
        .output()
        .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.contains("✘ python ≥ 3.10") && out.contains("fix:"),
        "{out}"
    );
}

/// Any endpoint override, service-specific ones included, keeps a command
/// for an AWS stage from starting: `bootstrap dev` would otherwise create
/// its bucket in whatever the variable points at.
#[rstest::rstest]
#[case::s3("AWS_ENDPOINT_URL_S3")]
#[case::sts("AWS_ENDPOINT_URL_STS")]
#[case::dynamodb("AWS_ENDPOINT_URL_DYNAMODB")]
#[case::cloudformation("AWS_ENDPOINT_URL_CLOUDFORMATION")]
fn an_aws_stage_is_refused_while_any_endpoint_override_is_set(#[case] variable: &str) {
    let sandbox = Sandbox::new(&format!("override-{}", variable.to_lowercase()));
    let output = sandbox
        .xtask(&["bootstrap", "dev"])
        .env(variable, "http://127.0.0.1:1")
        .output()
        .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "refused: {out}");
    assert!(
        out.contains(&format!("{variable} is set (http://127.0.0.1:1)"))
            && out.contains("deploys to AWS")
            && out.contains("--rehearse"),
        "{out}"
    );
}

/// A profile whose `[services]` section points one service at a local
/// endpoint sends those calls there from every SDK: an AWS stage is
/// refused before any call, as with the variables.
#[test]
fn an_aws_stage_is_refused_while_the_profile_points_a_service_elsewhere() {
    let sandbox = Sandbox::new("services-section");
    let config = sandbox.dir.join("aws-config");
    std::fs::write(
        &config,
        "[default]\nregion = us-east-1\nservices = here\n\n[services here]\ns3 =\n  endpoint_url = http://127.0.0.1:1\n",
    )
    .unwrap();
    let output = sandbox
        .xtask(&["bootstrap", "dev"])
        .env("AWS_CONFIG_FILE", &config)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .output()
        .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "refused: {out}");
    assert!(
        out.contains("sets s3 endpoint_url (http://127.0.0.1:1) through [services here]")
            && out.contains("deploys to AWS")
            && !out.contains("on AWS"),
        "{out}"
    );
}

/// `--aws-profile` is the run's profile wherever a profile is read: the
/// endpoint check reads that profile's settings, and credentials the
/// profile lacks are said with its name. Without the flag, the same
/// config's default profile is read.
#[test]
fn the_aws_profile_flag_is_the_profile_of_the_run() {
    let sandbox = Sandbox::new("aws-profile");
    let config = sandbox.dir.join("aws-config");
    std::fs::write(
        &config,
        "[profile team]\nendpoint_url = http://127.0.0.1:1\naws_access_key_id = AKIAXTASKTEST\naws_secret_access_key = xtask-test-secret\n",
    )
    .unwrap();
    let run = |profile: Option<&str>| {
        let mut args = Vec::new();
        if let Some(profile) = profile {
            args.extend(["--aws-profile", profile]);
        }
        args.extend(["info", "dev"]);
        let mut cmd = sandbox.xtask(&args);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(key);
            }
        }
        let output = cmd
            .env("AWS_CONFIG_FILE", &config)
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                sandbox.dir.join("no-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        (output.status.code(), text(&output))
    };
    let (code, out) = run(Some("team"));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("profile `team` sets endpoint_url"), "{out}");
    let (_, out) = run(None);
    assert!(out.contains("no AWS credentials were found;"), "{out}");
    let (_, out) = run(Some("xtask-nosuch"));
    assert!(out.contains("for profile `xtask-nosuch`"), "{out}");
}

#[test]
fn an_aws_stage_is_refused_while_an_emulator_endpoint_is_set() {
    let sandbox = Sandbox::new("endpoint");
    // Port 1 answers nothing: had the command gone on, it would fail differently.
    let output = sandbox
        .xtask(&["deploy", "dev"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .output()
        .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "refused: {out}");
    assert!(
        out.contains("AWS_ENDPOINT_URL is set") && out.contains("--rehearse"),
        "{out}"
    );
    assert!(
        !sandbox.dir.join("state/journal").exists(),
        "a run was started: {out}"
    );
}

/// `cargo xtask plan prod --format dot | head -1`: a report whose reader
/// goes away ends quietly, as Unix tools do, never with a panic. The pipe
/// is closed before the command writes anything, so every write hits it.
#[rstest::rstest]
#[case::plan(&["plan", "prod", "--format", "dot"])]
#[case::audit(&["audit", "--format", "json"])]
#[case::validate(&["validate", "prod", "--format", "json"])]
fn a_closed_pipe_ends_a_report_quietly(#[case] args: &[&str]) {
    use std::os::unix::process::ExitStatusExt;
    let sandbox = Sandbox::new(&format!("pipe-{}", args[0]));
    let mut child = sandbox
        .xtask(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(output.status.code(), Some(101), "{stderr}");
    assert!(
        output.status.success()
            || output.status.signal() == Some(nix::sys::signal::Signal::SIGPIPE as i32),
        "{:?} {stderr}",
        output.status
    );
}

/// The stage as people type it: positional, `--stage` or `-s`, never both;
/// `--version` and `help`; and one exit code per outcome on every command
/// (2 for a stage the policy does not allow, as for a usage error).
#[test]
fn flags_as_people_type_them_and_one_exit_code_table() {
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .env_remove("XTASK_APP")
            .output()
            .expect("xtask runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let positional = run(&["plan", "dev"]);
    assert_eq!(positional.0, Some(0), "{}", positional.2);
    for spelling in [&["plan", "--stage", "dev"][..], &["plan", "-s", "dev"]] {
        assert_eq!(run(spelling).1, positional.1, "{spelling:?}");
    }
    let both = run(&["plan", "dev", "--stage", "prod"]);
    assert_eq!(both.0, Some(2), "{}", both.2);
    assert_eq!(run(&["audit", "dev"]).0, Some(0));
    assert_eq!(run(&["audit", "-s", "dev"]).0, Some(0));
    let version = run(&["--version"]);
    assert_eq!(version.0, Some(0));
    assert!(
        version.1.contains(env!("CARGO_PKG_VERSION")),
        "{}",
        version.1
    );
    // A global flag a command has no use for is refused, not ignored;
    // from the environment it is left alone.
    for (args, flag) in [
        (
            &["--app", "fixtures/tb365", "codegen", "--check"][..],
            "--app",
        ),
        (&["local", "status", "--app", "x"], "--app"),
        (&["bench", "--quick", "--app", "x"], "--app"),
        (&["local", "up", "--emulator", "localstack"], "--emulator"),
        (&["plan", "dev", "--emulator", "ministack"], "--emulator"),
        (&["report", "dev", "--emulator", "ministack"], "--emulator"),
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("`{flag}` has no effect")),
            "{args:?}: {err}"
        );
    }
    let from_env = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["plan", "dev"])
        .env("XTASK_EMULATOR", "ministack")
        .env_remove("XTASK_APP")
        .output()
        .expect("xtask runs");
    assert_eq!(from_env.status.code(), Some(0));
    let help = run(&["help", "deploy"]);
    assert_eq!(help.0, Some(0), "{}", help.2);
    assert!(help.1.contains("--stage"), "{}", help.1);
    for command in [
        "plan",
        "validate",
        "audit",
        "deploy",
        "remove",
        "bootstrap",
        "rollback",
        "smoke",
        "info",
        "backup",
        "unlock",
    ] {
        let unknown = run(&[command, "qa"]);
        assert_eq!(unknown.0, Some(2), "`{command} qa`: {}", unknown.2);
        assert!(
            unknown.2.contains("not allowed"),
            "`{command} qa`: {}",
            unknown.2
        );
        for flag in ["--stage", "-s"] {
            assert_eq!(
                run(&[command, flag, "qa"]),
                unknown,
                "`{command} {flag} qa` reads as `{command} qa`"
            );
        }
    }
}

/// `sls` passes the CLI's reading commands through with the stage's own
/// stage and region; what would act on another stage or change a stack is
/// refused before anything runs (exit 2), with the command to use instead.
#[test]
fn sls_refuses_what_would_act_elsewhere_before_anything_runs() {
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .env_remove("XTASK_APP")
            .output()
            .expect("xtask runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    for (args, says) in [
        (
            &["sls", "dev", "--", "info"][..],
            "say which with --service",
        ),
        (
            &["sls", "dev", "--service", "nope", "--", "info"],
            "not a service of the app",
        ),
        (
            &["sls", "dev", "--service", "image-api", "--", "deploy"],
            "run `cargo xtask deploy dev",
        ),
        (
            &["sls", "dev", "--service", "image-api", "--", "remove"],
            "run `cargo xtask remove dev",
        ),
        (
            &[
                "sls",
                "dev",
                "--service",
                "image-api",
                "--",
                "logs",
                "-f",
                "health",
                "--stage",
                "prod",
            ],
            "disagrees with the stage",
        ),
        (
            &[
                "sls",
                "dev",
                "--service",
                "image-api",
                "--",
                "info",
                "--aws-profile",
                "admin",
            ],
            "give it to the tool, before the `--`",
        ),
        (
            &["sls", "qa", "--service", "image-api", "--", "info"],
            "not allowed",
        ),
        // The function's code on live data: asked first, and without a
        // terminal only with --yes.
        (
            &[
                "sls",
                "prod",
                "--service",
                "image-api",
                "--",
                "invoke",
                "-f",
                "health",
            ],
            "pass --yes",
        ),
    ] {
        let (code, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// Colour only where it is wanted: a pipe (these tests' stdout and stderr)
/// and `NO_COLOR` get plain text, even when `CLICOLOR_FORCE` asks for
/// colour; `CLICOLOR_FORCE` alone shows the colours exist.
#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let app = xtask::sys::paths::workspace_root().join("fixtures/broken/literal-stage-bucket");
    let run = |args: &[&str], vars: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(args)
            .env_remove("XTASK_APP")
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("CLICOLOR");
        for (key, value) in vars {
            command.env(key, value);
        }
        let output = command.output().expect("xtask runs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    let audit = ["audit", "--app", app.to_str().expect("a UTF-8 path")];
    let unknown = ["plan", "qa"];
    for args in [&audit[..], &unknown] {
        let forced = run(args, &[("CLICOLOR_FORCE", "1")]);
        assert!(forced.contains("\x1b["), "{args:?} in colour: {forced}");
        for vars in [
            &[][..],
            &[("NO_COLOR", "1")],
            &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
        ] {
            let plain = run(args, vars);
            assert!(!plain.contains('\x1b'), "{args:?} {vars:?}: {plain:?}");
            assert_eq!(plain, run(args, &[("NO_COLOR", "1")]));
        }
    }
}

/// `report` reads journals on this machine only: with none, or asked for
/// a run that is not there, it says where it looked and exits 1; a run
/// id that is no id is refused as such.
#[test]
fn report_says_where_it_looked_when_there_is_no_run() {
    let sandbox = Sandbox::new("report");
    let app = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/tb365");
    let none = sandbox.run(&["report", "dev", "--app", app]);
    assert_eq!(none.status.code(), Some(1), "{}", text(&none));
    assert!(
        text(&none).contains("no deploy of stage dev is recorded on this machine"),
        "{}",
        text(&none)
    );
    let missing = sandbox.run(&[
        "report",
        "dev",
        "--run",
        "20261127T000000000Z-0000",
        "--app",
        app,
    ]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(text(&missing).contains("no run 20261127T000000000Z-0000"));
    let bad = sandbox.run(&["report", "dev", "--run", "../x", "--app", app]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("is not a run id"), "{}", text(&bad));
}

/// A stage's history survives `[app] name` added to deploy.toml: runs kept
/// under the folder's name (the app's name until then) are still read.
#[test]
fn a_history_survives_naming_the_app() {
    let sandbox = Sandbox::new("renamed");
    let app = sandbox.dir.join("shop-app");
    std::fs::create_dir_all(app.join("api")).unwrap();
    std::fs::write(
        app.join("api/serverless.yml"),
        "service: api\nprovider:\n  name: aws\n  runtime: nodejs24.x\n  stage: ${opt:stage}\n",
    )
    .unwrap();
    std::fs::write(
        app.join("deploy.toml"),
        "[services.api]\npath = \"api\"\n\n[stages.dev]\nregion = \"us-east-1\"\n",
    )
    .unwrap();
    let run_id = "20261127T000000000Z-0001";
    let journal = serde_json::json!({
        "run_id": run_id, "command": "deploy", "app": "shop-app", "stage": "dev",
        "region": "us-east-1", "target": "AWS", "rehearsal": false,
        "started_at": 1_795_737_600u64, "ended_at": 1_795_737_660u64, "outcome": "succeeded",
        "services": [{
            "name": "api", "stack": "api-dev", "status": "deployed",
            "started_at": 1_795_737_601u64, "ended_at": 1_795_737_650u64,
            "timings": {"deploy": {"start": 1_795_737_601_000u64, "end": 1_795_737_650_000u64}},
        }],
        "events": [],
    });
    let dir = sandbox.dir.join("state/journal/shop-app/dev");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{run_id}.json")), journal.to_string()).unwrap();
    let app_arg = app.display().to_string();
    let before = sandbox.run(&["report", "dev", "--app", &app_arg]);
    assert_eq!(before.status.code(), Some(0), "{}", text(&before));
    std::fs::write(
        app.join("deploy.toml"),
        "[app]\nname = \"shop\"\n\n[services.api]\npath = \"api\"\n\n[stages.dev]\nregion = \"us-east-1\"\n",
    )
    .unwrap();
    let after = sandbox.run(&["report", "dev", "--app", &app_arg]);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
    assert!(text(&after).contains(run_id), "{}", text(&after));
}

/// `cargo xtask audit > /dev/full`: a report that cannot be written ends
/// with a message and exit 1, never a panic (exit 101 and a backtrace).
#[rstest::rstest]
#[case::audit(&["audit"])]
#[case::audit_json(&["audit", "--format", "json"])]
#[case::plan(&["plan", "prod", "--format", "dot"])]
#[case::validate(&["validate", "prod"])]
#[case::runbook(&["runbook", "prod"])]
fn a_full_disk_ends_a_report_with_a_message(#[case] args: &[&str]) {
    let sandbox = Sandbox::new(&format!("full-{}", args.join("-")));
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full opens");
    let output = sandbox
        .xtask(args)
        .stdout(full)
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        stderr.contains("cannot write the output: No space left on device"),
        "{args:?}: {stderr}"
    );
}

/// A command that needs AWS, run without any credentials, says so in one
/// line with the fix, without the SDK's debug dump of every provider it
/// tried.
#[rstest::rstest]
#[case::info(&["info", "dev"])]
#[case::unlock(&["unlock", "dev"])]
#[case::checklist(&["checklist", "dev"])]
#[case::bootstrap(&["bootstrap", "dev"])]
#[case::rollback(&["rollback", "dev"])]
fn missing_credentials_are_one_line_with_the_fix(#[case] args: &[&str]) {
    let sandbox = Sandbox::new(&format!("no-credentials-{}", args[0]));
    let home = sandbox.dir.join("home");
    std::fs::create_dir_all(&home).expect("scratch home");
    let mut cmd = sandbox.xtask(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    let output = cmd
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("credentials"))
        .collect();
    assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
    let line = lines[0];
    assert!(line.contains("aws configure sso"), "{args:?}: {line}");
    for noise in [
        "DispatchFailure",
        "ProviderChainError",
        "CredentialsNotLoaded",
        "{",
    ] {
        assert!(!line.contains(noise), "{args:?}: {line}");
    }
    assert!(line.len() < 300, "{args:?}: {} bytes: {line}", line.len());
}

/// An app big enough that `validate` works on it for many seconds in one
/// stretch of synchronous code: 150 services of 200 resources each.
fn busy_app(name: &str) -> PathBuf {
    let root = xtask::sys::paths::scratch_dir()
        .join(format!("cli-busy-app-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for service in 0..150 {
        let dir = root.join(format!("svc{service}"));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        let mut text = format!(
            "service: svc{service}\nprovider:\n  name: aws\n  region: us-east-1\nresources:\n  Resources:\n"
        );
        for i in 0..200 {
            text.push_str(&format!(
                "    T{i}:\n      Type: AWS::DynamoDB::Table\n      Properties:\n        TableName: t{service}x{i}-${{sls:stage}}\n        BillingMode: PAY_PER_REQUEST\n        AttributeDefinitions:\n          - AttributeName: id\n            AttributeType: S\n        KeySchema:\n          - AttributeName: id\n            KeyType: HASH\n    Q{i}:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: q{service}x{i}-${{sls:stage}}\n        Tags:\n          - Key: t\n            Value: !GetAtt [T{i}, Arn]\n"
            ));
        }
        std::fs::write(dir.join("serverless.yml"), text).expect("scratch file");
    }
    root
}

/// CPU time a process has used, from /proc/<pid>/stat (utime + stime).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // SAFETY: sysconf has no memory effects.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// A `validate` busy in its checks (no await for seconds) ends on the
/// first SIGTERM, SIGINT or SIGHUP, with exit 130, soon after it: a CI
/// runner's cancel or a closed terminal never leaves it spinning.
#[rstest::rstest]
#[case::sigterm(Signal::SIGTERM)]
#[case::sigint(Signal::SIGINT)]
#[case::sighup(Signal::SIGHUP)]
fn a_busy_validate_ends_on_the_first_signal(#[case] signal: Signal) {
    let root = busy_app(signal.as_ref());
    let sandbox = Sandbox::new(&format!("busy-{signal}"));
    let mut child = sandbox
        .xtask(&[
            "validate",
            "dev",
            "--app",
            root.to_str().expect("a UTF-8 path"),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("xtask starts");
    let pid = child.id();
    // Busy: a second of CPU spent, and still running.
    let deadline = Instant::now() + Duration::from_secs(120);
    while cpu_time(pid) < Duration::from_secs(1) && Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let running = child.try_wait().expect("wait").is_none();
    if running {
        // Signalling a child process this test started.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
    }
    let signalled = Instant::now();
    let mut status = None;
    while signalled.elapsed() < Duration::from_secs(5) {
        if let Some(done) = child.try_wait().expect("wait") {
            status = Some(done);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if status.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("output");
    let _ = std::fs::remove_dir_all(&root);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        running,
        "validate finished before it was signalled (make the app bigger): {stderr}"
    );
    assert!(
        status.is_some(),
        "still running 5 s after signal {signal}: {stderr}"
    );
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
}

/// `audit --help` (and `plan`'s, `validate`'s) says that reading a
/// TypeScript or JavaScript config runs it, and how to check a pull
/// request from outside.
#[test]
fn help_says_a_config_program_is_run() {
    for command in ["audit", "plan", "validate"] {
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args([command, "--help"])
            .output()
            .expect("xtask runs");
        let help = String::from_utf8_lossy(&output.stdout);
        for needle in [
            "serverless.ts or .js",
            "reading it\nruns it",
            "config_env",
            "pull request",
        ] {
            assert!(
                help.contains(needle),
                "{command} --help lacks `{needle}`:\n{help}"
            );
        }
    }
}

/// The LocalStack backend (testcontainers, a Docker client) is built only
/// with the `localstack` feature; a build without it says how to get it
/// instead of starting anything.
#[test]
fn the_localstack_backend_is_there_only_when_asked_for() {
    let sandbox = Sandbox::new("localstack-feature");
    let output = sandbox.run(&["info", "local", "--emulator", "localstack"]);
    let out = text(&output);
    assert_ne!(output.status.code(), Some(0), "{out}");
    if cfg!(feature = "localstack") {
        assert!(!out.contains("--features localstack"), "{out}");
    } else {
        assert!(
            out.contains("this build has no LocalStack backend")
                && out.contains("--features localstack"),
            "{out}"
        );
    }

    let manifest: toml::Table = read_toml("xtask/Cargo.toml");
    for dependency in ["testcontainers", "testcontainers-modules"] {
        assert_eq!(
            manifest["dependencies"][dependency]["optional"].as_bool(),
            Some(true),
            "{dependency} is built into every binary"
        );
    }
    let default = manifest["features"]
        .get("default")
        .and_then(|d| d.as_array())
        .cloned()
        .unwrap_or_default();
    assert!(
        !default.iter().any(|f| f.as_str() == Some("localstack")),
        "{default:?}"
    );
}

fn read_toml(path: &str) -> toml::Table {
    let path = xtask::sys::paths::workspace_root().join(path);
    let text = std::fs::read_to_string(&path).expect("the manifest");
    text.parse().expect("a TOML manifest")
}

/// A service of one function behind an HTTP API, written into `dir`.
fn solo_app(dir: &Path) {
    std::fs::create_dir_all(dir).expect("app folder");
    std::fs::write(
        dir.join("serverless.yml"),
        "service: solo\nprovider:\n  name: aws\n  runtime: nodejs20.x\nfunctions:\n  hello:\n    handler: handler.hello\n    events:\n      - httpApi: GET /hello\n",
    )
    .expect("serverless.yml");
}

/// Standing in an app's folder is naming it: `plan` reads the app there,
/// not the bundled example; outside any app, the command says so and
/// reads nothing.
#[test]
fn the_app_is_the_folder_the_user_stands_in() {
    let sandbox = Sandbox::new("cwd-app");
    let app = sandbox.dir.join("solo");
    solo_app(&app);
    let plan = sandbox
        .xtask(&["plan", "dev"])
        .current_dir(&app)
        .output()
        .expect("the xtask binary runs");
    let shown = text(&plan);
    assert!(plan.status.success(), "{shown}");
    assert!(
        shown.contains("solo") && !shown.contains("tb365"),
        "{shown}"
    );

    // A service folder below the app's deploy.toml: the app is the folder
    // with deploy.toml.
    std::fs::write(app.join("deploy.toml"), "").expect("deploy.toml");
    let below = app.join("nested");
    solo_app(&below);
    std::fs::write(
        below.join("serverless.yml"),
        "service: nested\nprovider:\n  name: aws\n  runtime: nodejs20.x\n",
    )
    .expect("serverless.yml");
    let plan = sandbox
        .xtask(&["plan", "dev"])
        .current_dir(&below)
        .output()
        .expect("the xtask binary runs");
    let shown = text(&plan);
    assert!(plan.status.success(), "{shown}");
    assert!(
        shown.contains("solo") && shown.contains("nested"),
        "{shown}"
    );

    // No app here or above, outside this workspace: refused, named.
    let nowhere = std::env::temp_dir().join(format!("xtask-no-app-{}", std::process::id()));
    std::fs::create_dir_all(&nowhere).expect("empty folder");
    let plan = sandbox
        .xtask(&["plan", "dev"])
        .current_dir(&nowhere)
        .output()
        .expect("the xtask binary runs");
    let _ = std::fs::remove_dir_all(&nowhere);
    let shown = text(&plan);
    assert!(!plan.status.success(), "{shown}");
    assert!(
        shown.contains("holds no app") && shown.contains("--app DIR"),
        "{shown}"
    );
}

/// This repository's root holds no app of its own: its Cargo.toml names
/// the one commands work on (`[workspace.metadata.xtask] app`), and the
/// command says so. An app outside any Rust workspace, found from a folder
/// below its deploy.toml, is that app, said the same way; a manifest that
/// names no folder is refused, naming the manifest.
#[test]
fn the_app_a_repository_names_and_the_one_found_above() {
    let sandbox = Sandbox::new("named-app");
    let root = xtask::sys::paths::workspace_root();
    let plan = sandbox
        .xtask(&["plan", "dev"])
        .current_dir(&root)
        .output()
        .expect("the xtask binary runs");
    let shown = text(&plan);
    assert!(plan.status.success(), "{shown}");
    assert!(
        shown.contains("app: fixtures/tb365 (named by Cargo.toml"),
        "{shown}"
    );
    assert!(shown.contains("tb365-dynamodb"), "{shown}");

    // Outside this repository: a repository of its own, entered below.
    let outside = std::env::temp_dir().join(format!("xtask-outside-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outside);
    std::fs::create_dir_all(outside.join(".git")).expect("a repository");
    std::fs::write(outside.join("deploy.toml"), "").expect("deploy.toml");
    solo_app(&outside.join("services/solo"));
    let audit = sandbox
        .xtask(&["audit"])
        .current_dir(outside.join("services/solo"))
        .output()
        .expect("the xtask binary runs");
    let shown = text(&audit);
    assert!(
        shown.contains(&format!(
            "app: {} (found above the current folder",
            outside.display()
        )),
        "{shown}"
    );
    assert!(!shown.contains("tb365"), "{shown}");
    assert_eq!(
        xtask::sys::paths::repository_of(&outside.join("services/solo")),
        outside.canonicalize().expect("the folder exists")
    );

    // A workspace naming a folder that is not there.
    let named = std::env::temp_dir().join(format!("xtask-named-{}", std::process::id()));
    std::fs::create_dir_all(&named).expect("a workspace");
    std::fs::write(
        named.join("Cargo.toml"),
        "[workspace]\nmembers = []\n\n[workspace.metadata.xtask]\napp = \"apps/gone\"\n",
    )
    .expect("Cargo.toml");
    let plan = sandbox
        .xtask(&["plan", "dev"])
        .current_dir(&named)
        .output()
        .expect("the xtask binary runs");
    let _ = std::fs::remove_dir_all(&outside);
    let _ = std::fs::remove_dir_all(&named);
    let shown = text(&plan);
    assert_eq!(plan.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("Cargo.toml")
            && shown.contains("`[workspace.metadata.xtask] app = \"apps/gone\"` names no folder"),
        "{shown}"
    );
}

/// `init` in a team's repository writes a deploy.toml declaring the
/// services found, a smoke.toml with a check per endpoint and, with no
/// Cargo workspace there yet, an xtask crate of the team's, its alias and
/// the workspace naming the app: the app then loads through what was
/// written, from the repository's root. Run again, it writes nothing over
/// what is there and says which files stop it.
#[test]
fn init_writes_what_a_repository_needs_and_nothing_over_a_file() {
    let sandbox = Sandbox::new("init");
    let repo = std::env::temp_dir().join(format!("xtask-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(repo.join(".git")).expect("a repository");
    let app = repo.join("apps/shop");
    solo_app(&app.join("api"));
    std::fs::create_dir_all(repo.join(".github/workflows")).expect("a folder");
    std::fs::write(repo.join(".github/workflows/rollback.yml"), "name: ours\n")
        .expect("a workflow");
    std::fs::create_dir_all(app.join("data")).expect("a folder");
    std::fs::write(
        app.join("data/serverless.yml"),
        "service: shop-data\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Jobs:\n      Type: AWS::SQS::Queue\n",
    )
    .expect("serverless.yml");
    let init = |dir: &Path| {
        sandbox
            .xtask(&["init", "--engine", "https://example.com/deploy-tool.git"])
            .current_dir(dir)
            .output()
            .expect("the xtask binary runs")
    };
    let first = init(&app);
    let shown = text(&first);
    assert_eq!(first.status.code(), Some(0), "{shown}");
    for file in ["deploy.toml", "smoke.toml"] {
        assert!(app.join(file).is_file(), "{file}: {shown}");
    }
    let loaded = xtask::app::App::load(&app).expect("the app loads through its deploy.toml");
    assert!(loaded.manifest.path.is_some());
    let keys: Vec<&str> = loaded.services.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["api", "data"]);
    assert!(loaded.policy.stage("prod").is_some_and(|c| c.protected));
    let spec = std::fs::read_to_string(app.join("smoke.toml")).expect("smoke.toml");
    assert!(spec.contains("path = \"/hello\""), "{spec}");
    let crate_manifest = std::fs::read_to_string(repo.join("xtask/Cargo.toml")).expect("crate");
    assert!(
        crate_manifest.contains("xtask = { git = \"https://example.com/deploy-tool.git\" }"),
        "{crate_manifest}"
    );
    assert!(std::fs::read_to_string(repo.join("xtask/src/main.rs"))
        .expect("main.rs")
        .contains("xtask::entry::run()"));
    let ignore = std::fs::read_to_string(repo.join(".gitignore")).expect(".gitignore");
    assert!(
        ignore.contains("/target/") && ignore.contains("/.xtask/"),
        "{ignore}"
    );
    assert!(std::fs::read_to_string(repo.join(".cargo/config.toml"))
        .expect("the alias")
        .contains("xtask = \"run --quiet --package shop-xtask --\""));
    let named = xtask::app::named_by_cargo(&repo)
        .expect("the workspace reads")
        .map(|(_, app)| app.canonicalize().expect("the app"));
    assert_eq!(named, Some(app.canonicalize().expect("the app")));
    // The engine's profile (profiles are the root manifest's alone); no
    // lock file of a checkout for an engine fetched by git.
    let workspace = std::fs::read_to_string(repo.join("Cargo.toml")).expect("workspace");
    assert!(
        workspace.contains("[profile.dev.package.sha2]\nopt-level = 3"),
        "{workspace}"
    );
    assert!(!repo.join("Cargo.lock").exists());
    // The tool's workflows, pinned to the app, and as clean to the pinned
    // actionlint and zizmor as this repository's own; the team's own
    // workflow of the same name is kept.
    let workflows = repo.join(".github/workflows");
    assert_eq!(
        std::fs::read_to_string(workflows.join("rollback.yml")).expect("kept"),
        "name: ours\n"
    );
    let written: Vec<std::path::PathBuf> = [
        "review.yml",
        "preview.yml",
        "preview-close.yml",
        "preview-sweep.yml",
        "release.yml",
    ]
    .iter()
    .map(|name| workflows.join(name))
    .collect();
    for file in &written {
        let text = std::fs::read_to_string(file).expect("a workflow");
        assert!(text.contains("\nenv:\n  # The app every `cargo xtask` below works on.\n  XTASK_APP: 'apps/shop'\n\njobs:\n"), "{text}");
    }
    assert!(
        shown.contains("rollback.yml already, left as it is"),
        "{shown}"
    );
    let problems = xtask::sys::workflows::lint(&written).expect("the linters run");
    assert!(problems.is_empty(), "{problems:#?}");

    let before = std::fs::read_to_string(app.join("deploy.toml")).expect("deploy.toml");
    std::fs::remove_file(app.join("smoke.toml")).expect("smoke.toml");
    let again = init(&app);
    let shown = text(&again);
    assert_eq!(again.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("deploy.toml") && shown.contains("writes nothing over a file"),
        "{shown}"
    );
    assert!(
        !app.join("smoke.toml").exists(),
        "written though refused: {shown}"
    );
    assert_eq!(
        std::fs::read_to_string(app.join("deploy.toml")).expect("deploy.toml"),
        before
    );
    let _ = std::fs::remove_dir_all(&repo);
}

/// `smoke --init --update` adds a check for each endpoint the spec does
/// not check yet, and leaves the team's own text as it is.
#[test]
fn smoke_init_update_adds_checks_for_new_routes_only() {
    let service = "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\nfunctions:\n  a:\n    handler: h.a\n    events:\n      - httpApi: GET /a\n  b:\n    handler: h.b\n    events:\n      - httpApi: POST /b\n  c:\n    handler: h.c\n    events:\n      - httpApi: GET /c/{id}\n";
    let own = "# Our checks.\n[[check]]\nservice = \"api\"\nmethod = \"GET\"\npath = \"/a\"\nexpect = 204 # it answers no content\n";
    let app = crate::support::scratch_app(
        "smoke-update",
        &[("api/serverless.yml", service), ("smoke.toml", own)],
    );
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .arg("--app")
            .arg(&app)
            .env_remove("XTASK_APP")
            .output()
            .expect("xtask runs");
        (output.status.code(), text(&output))
    };
    let (code, shown) = run(&["smoke", "dev", "--init"]);
    assert_eq!(code, Some(2), "{shown}");
    assert!(shown.contains("smoke dev --init --update"), "{shown}");
    let (code, shown) = run(&["smoke", "dev", "--init", "--update"]);
    assert_eq!(code, Some(0), "{shown}");
    let spec = std::fs::read_to_string(app.join("smoke.toml")).expect("the spec");
    assert!(spec.starts_with(own), "{spec}");
    let checks = smoke_tests::spec::Spec::parse(&app.join("smoke.toml"), &spec)
        .expect("the spec parses")
        .checks;
    let routes: Vec<String> = checks.iter().map(|c| c.route()).collect();
    assert_eq!(routes, ["GET /a", "POST /b", "GET /c/{id}"], "{spec}");
    let (code, shown) = run(&["smoke", "dev", "--init", "--update"]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("nothing added"), "{shown}");
    assert_eq!(
        std::fs::read_to_string(app.join("smoke.toml")).expect("the spec"),
        spec
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// A hint carries the target of the run it came from: the app when it is
/// not the current folder, and `--rehearse` on a rehearsal, so pasting it
/// never acts on the real stage or the wrong app.
#[test]
fn a_hint_names_the_app_and_the_rehearsal_it_came_from() {
    let sandbox = Sandbox::new("hint-target");
    solo_app(&sandbox.dir.join("solo"));
    let init = sandbox
        .xtask(&["smoke", "prod", "--init", "--rehearse", "--app", "solo"])
        .current_dir(&sandbox.dir)
        .output()
        .expect("the xtask binary runs");
    let shown = text(&init);
    assert!(init.status.success(), "{shown}");
    assert!(
        shown.contains("`cargo xtask smoke prod --rehearse --app solo`"),
        "{shown}"
    );
    // From inside the app, no --app is needed.
    std::fs::remove_file(sandbox.dir.join("solo/smoke.toml")).expect("smoke.toml written");
    let init = sandbox
        .xtask(&["smoke", "prod", "--init"])
        .current_dir(sandbox.dir.join("solo"))
        .output()
        .expect("the xtask binary runs");
    let shown = text(&init);
    assert!(shown.contains("`cargo xtask smoke prod`"), "{shown}");
}
