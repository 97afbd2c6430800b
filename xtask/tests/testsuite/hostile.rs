//! Hostile inputs: every reader is bounded. Alias bombs, deep nesting,
//! duplicate keys, files of the wrong shape, FIFOs where files should be,
//! include cycles and runaway variable nesting each end in a named refusal
//! (or a normal report), within bounded time and memory — never a crash,
//! a hang or an exhausted machine.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support;
use crate::support::arg;

/// A command's exit code and output, run with at most 2 GiB of address
/// space and killed after a minute.
fn bounded(app: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args)
        .arg("--app")
        .arg(arg(app))
        .env_remove("XTASK_APP")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; this runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("xtask starts");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("`xtask {}` did not finish within a minute", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    (output.status.code(), text)
}

fn app(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    support::scratch_app(&format!("hostile-{name}"), files)
}

/// Ten aliases of ten aliases, seven levels: 10^7 nodes from 600 bytes.
fn alias_bomb() -> String {
    let mut text = String::from("service: bomb\nprovider:\n  name: aws\ncustom:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..7 {
        let prev = format!("*l{}", level - 1);
        let items = [prev.as_str(); 10].join(", ");
        text.push_str(&format!("  l{level}: &l{level} [{items}]\n"));
    }
    text
}

#[rstest::rstest]
#[case::alias_bomb("alias", alias_bomb(), "expands to more than 1000000 nodes")]
#[case::deep_nesting(
    "deep",
    format!("service: deep\nprovider:\n  name: aws\ncustom:\n  x: {}{}\n", "[".repeat(5000), "]".repeat(5000)),
    // yaml-rust2's scanner stops runaway flow nesting itself; either limit
    // is a named refusal at the line.
    "nests deeper than 200 levels|recursion limit exceeded"
)]
#[case::deep_block_nesting(
    "deep-block",
    format!("service: deep\nprovider:\n  name: aws\ncustom:\n{}", (0..300).map(|i| format!("{}k{i}:\n", " ".repeat(2 * i + 2))).collect::<String>()),
    "nests deeper than 200 levels"
)]
#[case::duplicate_keys(
    "dup",
    "service: one\nprovider:\n  name: aws\nservice: two\n".to_string(),
    "duplicate key `service` (first at line 1)"
)]
#[case::a_list("list", "- service: a\n- provider: b\n".to_string(), "the top level must be a map")]
#[case::a_scalar("scalar", "just text\n".to_string(), "the top level must be a map")]
#[case::empty("empty", String::new(), "is empty")]
#[case::nul_in_service(
    "nul",
    "service: \"web\\0app\"\nprovider:\n  name: aws\n".to_string(),
    "`service:` must be a name of plain text"
)]
fn a_hostile_serverless_yml_is_refused_by_name(
    #[case] name: &str,
    #[case] text: String,
    #[case] expected: &str,
) {
    let root = app(name, &[("svc/serverless.yml", &text)]);
    for command in [&["audit"][..], &["validate", "dev"], &["plan", "dev"]] {
        let (code, out) = bounded(&root, command);
        assert_ne!(code, Some(0), "{command:?}: {out}");
        assert!(
            expected.split('|').any(|e| out.contains(e)),
            "{command:?}: `{expected}` not in:\n{out}"
        );
        assert!(
            out.contains("svc/serverless.yml"),
            "{command:?} names the file:\n{out}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[rstest::rstest]
#[case::serverless_yml("svc/serverless.yml")]
#[case::deploy_toml("deploy.toml")]
fn a_fifo_where_a_file_should_be_never_blocks(#[case] fifo: &str) {
    let root = app(
        &format!("fifo-{}", fifo.len()),
        &[(
            "svc/serverless.yml",
            "service: svc\nprovider:\n  name: aws\n",
        )],
    );
    let path = root.join(fifo);
    let _ = std::fs::remove_file(&path);
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    let (code, out) = bounded(&root, &["audit"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("is not a regular file"), "{out}");
    assert!(out.contains(fifo), "{out}");
    let _ = std::fs::remove_dir_all(&root);
}

/// Includes that never end and variables nested fifty thousand deep are
/// read as far as makes sense, then reported or left unresolved: the
/// command finishes normally.
#[rstest::rstest]
#[case::include_cycle(&[
    ("svc/serverless.yml", "service: svc\nprovider:\n  name: aws\n  stackName: ${file(./loop.yml):name}\nresources:\n  - ${file(./loop.yml)}\n"),
    ("svc/loop.yml", "name: ${file(./loop.yml):name}-again\nResources: ${file(./loop.yml):Resources}\n"),
])]
#[case::nested_variables(&[("svc/serverless.yml", NESTED.as_str())])]
fn runaway_includes_and_variables_end(#[case] files: &[(&str, &str)]) {
    let root = app(&format!("runaway-{}", files.len()), files);
    for command in [&["audit"][..], &["validate", "dev"], &["plan", "dev"]] {
        let (code, out) = bounded(&root, command);
        assert!(
            matches!(code, Some(0..=2)),
            "{command:?} ended with {code:?}:\n{out}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

static NESTED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "service: svc\nprovider:\n  name: aws\ncustom:\n  v: \"{}x{}\"\n  name: ${{self:custom.v}}\n",
        "${self:".repeat(50_000),
        "}".repeat(50_000)
    )
});

/// A name with a terminal escape sequence in it reaches the report
/// escaped: a file cannot clear the screen or recolour the output.
/// A config that is a program is run bounded: one that never ends is
/// stopped, one that prints more than a file may hold is refused, and
/// both are named.
#[rstest::rstest]
#[case::never_ends("svc/serverless.js", "while (true) {}\n", "did not finish within 3 s")]
#[case::prints_too_much(
    "svc/serverless.js",
    "module.exports = { service: 'big', provider: { name: 'aws' }, custom: { pad: 'x'.repeat(9 << 20) } };\n",
    "whose config is over 8 MiB"
)]
fn a_config_program_is_bounded(#[case] path: &str, #[case] source: &str, #[case] refusal: &str) {
    let root = app(&format!("program-{}", refusal.len()), &[(path, source)]);
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    let output = cmd
        .args(["audit", "--app", &arg(&root)])
        .env_remove("XTASK_APP")
        .env("XTASK_CONFIG_TIMEOUT", "3")
        .output()
        .expect("xtask runs");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        text.contains(refusal) && text.contains("serverless.js"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn escape_sequences_from_a_file_never_reach_the_terminal() {
    let root = app(
        "escapes",
        &[(
            "svc/serverless.yml",
            "service: svc\nprovider:\n  name: aws\nresources:\n  Resources:\n    Logs:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: \"logs\\e[2J\\e[31m\"\n  Outputs:\n    Name:\n      Value: !GetAtt [\"Logs\\e[2J\", Arn]\n",
        )],
    );
    for command in [
        &["audit"][..],
        &["validate", "dev"],
        &["plan", "dev", "--format", "dot"],
    ] {
        let (_, out) = bounded(&root, command);
        assert!(
            !out.contains('\u{1b}'),
            "{command:?} printed a raw escape:\n{out:?}"
        );
    }
    let (_, validate) = bounded(&root, &["validate", "dev"]);
    assert!(
        validate.contains("\\u{1b}[2J"),
        "the escape is shown escaped:\n{validate}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// Credentials and tokens a developer's shell or a CI job holds, each with
/// a value no config could hold by chance.
const CANARIES: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "AKIACANARY0000000001"),
    ("AWS_SECRET_ACCESS_KEY", "canary-aws-secret-access-key"),
    ("AWS_SESSION_TOKEN", "canary-aws-session-token"),
    ("AWS_PROFILE", "canary-aws-profile"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/canary/aws/credentials"),
    ("GITHUB_TOKEN", "canary-github-token"),
    ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "canary-actions-oidc"),
    ("SMOKE_PASSWORD", "canary-smoke-password"),
    ("NPM_TOKEN", "canary-npm-token"),
    ("DB_PASSWD", "canary-db-passwd"),
    ("STRIPE_API_KEY", "canary-stripe-api-key"),
    ("GOOGLE_APPLICATION_CREDENTIALS", "/canary/gcp.json"),
    ("BASIC_AUTH", "canary-basic-auth"),
    ("SSH_AUTH_SOCK", "/canary/ssh-agent.sock"),
    ("signing_secret", "canary-lowercase-secret"),
];

/// A config program that writes every variable it can see (its own, and
/// a command's it runs) into `seen.txt` beside it.
const NOSY: &str = r#"
const fs = require('fs');
const path = require('path');
const { execSync } = require('child_process');
fs.writeFileSync(
  path.join(__dirname, 'seen.txt'),
  JSON.stringify(process.env) + '\n' + execSync('env').toString(),
);
module.exports = { service: 'nosy', provider: { name: 'aws', region: 'us-east-1' } };
"#;

/// A `serverless.js` read by `audit`, `plan` and `validate` sees no
/// credential, token, secret, password or key of the caller's, while the
/// rest of the environment (PATH, the region) stays; a variable deploy.toml
/// lists in `config_env` reaches it.
#[test]
fn a_config_program_sees_no_credentials_unless_listed() {
    let root = app("nosy", &[("svc/serverless.js", NOSY)]);
    let seen = root.join("svc/seen.txt");
    let run = |args: &[&str]| {
        let _ = std::fs::remove_file(&seen);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args)
            .arg("--app")
            .arg(arg(&root))
            .env_remove("XTASK_APP")
            .env("AWS_REGION", "eu-west-3")
            .env("CANARY_PLAIN", "canary-plain-value");
        for (name, value) in CANARIES {
            cmd.env(name, value);
        }
        let output = cmd.output().expect("xtask runs");
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{args:?}: {text}"
        );
        std::fs::read_to_string(&seen)
            .unwrap_or_else(|e| panic!("{args:?}: no seen.txt ({e}): {text}"))
    };
    for command in [&["audit"][..], &["plan", "dev"], &["validate", "dev"]] {
        let env = run(command);
        for (name, value) in CANARIES {
            assert!(
                !env.contains(value),
                "{command:?}: {name} reached the program:\n{env}"
            );
        }
        for kept in ["canary-plain-value", "eu-west-3", "PATH"] {
            assert!(env.contains(kept), "{command:?}: {kept} is missing:\n{env}");
        }
    }
    std::fs::write(
        root.join("deploy.toml"),
        "[app]\nconfig_env = [\"STRIPE_API_KEY\"]\n",
    )
    .expect("deploy.toml");
    let env = run(&["audit"]);
    assert!(env.contains("canary-stripe-api-key"), "{env}");
    for (name, value) in CANARIES.iter().filter(|(n, _)| *n != "STRIPE_API_KEY") {
        assert!(!env.contains(value), "{name} reached the program:\n{env}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// The processes whose ids a test's config program wrote into files: each
/// is killed when the guard goes, so a failing test leaves none behind.
struct Pids(Vec<std::path::PathBuf>);

impl Pids {
    /// Each pid, once its file holds one (a few seconds at most).
    fn read(&self) -> Vec<(String, i32)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        self.0
            .iter()
            .map(|file| loop {
                let text = std::fs::read_to_string(file).unwrap_or_default();
                if let Ok(pid) = text.trim().parse::<i32>() {
                    break (file.display().to_string(), pid);
                }
                assert!(Instant::now() < deadline, "{} holds no pid", file.display());
                std::thread::sleep(Duration::from_millis(20));
            })
            .collect()
    }
}

impl Drop for Pids {
    fn drop(&mut self) {
        for file in &self.0 {
            if let Ok(pid) = std::fs::read_to_string(file)
                .unwrap_or_default()
                .trim()
                .parse::<i32>()
            {
                // SAFETY: a process a test's own config program started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

fn alive(pid: i32) -> bool {
    // A zombie has left nothing running; `ps`-like state from /proc.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    matches!(state, Some(s) if s != "Z" && s != "X")
}

/// Waits (up to 10 s) until the files the program writes exist, so the
/// children are running before the config is returned.
const WAIT_FOR_FILES: &str = r#"
function waitFor(files) {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 1000 && !files.every((f) => fs.existsSync(path.join(__dirname, f))); i++) {
    Atomics.wait(cell, 0, 0, 10);
  }
}
"#;

/// A config program that starts detached children (a new session each,
/// one of them orphaned at once by a double fork) leaves none of them
/// running once the command has returned.
#[test]
fn no_child_of_a_config_program_outlives_the_command() {
    let source = format!(
        r#"
const fs = require('fs');
const path = require('path');
const {{ spawn }} = require('child_process');
{WAIT_FOR_FILES}
const child = spawn('sh', ['-c', '(sleep 300 & echo $! > orphan.pid); sleep 300 & echo $! > grandchild.pid; exec sleep 300'],
  {{ detached: true, stdio: 'ignore', cwd: __dirname }});
fs.writeFileSync(path.join(__dirname, 'child.pid'), String(child.pid));
child.unref();
waitFor(['orphan.pid', 'grandchild.pid']);
module.exports = {{ service: 'spawner', provider: {{ name: 'aws', region: 'us-east-1' }} }};
"#
    );
    let root = app("spawner", &[("svc/serverless.js", &source)]);
    let pids = Pids(
        ["child.pid", "grandchild.pid", "orphan.pid"]
            .iter()
            .map(|f| root.join("svc").join(f))
            .collect(),
    );
    for command in [&["audit"][..], &["validate", "dev"]] {
        let (code, out) = bounded(&root, command);
        assert!(matches!(code, Some(0 | 1)), "{command:?}: {out}");
        for (file, pid) in pids.read() {
            assert!(
                !alive(pid),
                "{command:?}: {file} ({pid}) outlived the command"
            );
        }
    }
    drop(pids);
    let _ = std::fs::remove_dir_all(&root);
}

/// A child that keeps the program's stdout open cannot stretch the bound:
/// the command returns whether the program ends (the child still holding
/// the pipe) or runs past XTASK_CONFIG_TIMEOUT.
#[rstest::rstest]
#[case::program_ends("")]
#[case::program_runs_on("while (true) {}")]
fn a_child_holding_stdout_open_cannot_stretch_the_bound(#[case] tail: &str) {
    let source = format!(
        r#"
const fs = require('fs');
const path = require('path');
const {{ spawn }} = require('child_process');
const child = spawn('sleep', ['300'], {{ detached: true, stdio: ['ignore', 'inherit', 'inherit'] }});
fs.writeFileSync(path.join(__dirname, 'holder.pid'), String(child.pid));
child.unref();
module.exports = {{ service: 'holder', provider: {{ name: 'aws', region: 'us-east-1' }} }};
{tail}
"#
    );
    let root = app(
        &format!("holder-{}", tail.len()),
        &[("svc/serverless.js", &source)],
    );
    let pids = Pids(vec![root.join("svc/holder.pid")]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    let mut child = cmd
        .args(["audit", "--app", &arg(&root)])
        .env_remove("XTASK_APP")
        .env("XTASK_CONFIG_TIMEOUT", "3")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xtask starts");
    // The bound (3 s) plus a wide margin: the test's own deadline.
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let finished = child.try_wait().expect("wait").is_some();
    if !finished {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("output");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        finished,
        "audit still running 30 s after it started: {text}"
    );
    for (file, pid) in pids.read() {
        assert!(!alive(pid), "{file} ({pid}) outlived the command");
    }
    if tail.is_empty() {
        assert!(matches!(output.status.code(), Some(0 | 1)), "{text}");
    } else {
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(text.contains("did not finish within 3 s"), "{text}");
    }
    drop(pids);
    let _ = std::fs::remove_dir_all(&root);
}

/// `validate` waiting on a config program that never ends stops on the
/// first SIGTERM, with exit 130, and leaves no process of the program
/// behind.
#[test]
fn a_signal_ends_a_command_waiting_on_a_config_program() {
    let source = r#"
const fs = require('fs');
const path = require('path');
fs.writeFileSync(path.join(__dirname, 'program.pid'), String(process.pid));
while (true) {}
"#;
    let root = app("signalled", &[("svc/serverless.js", source)]);
    let pids = Pids(vec![root.join("svc/program.pid")]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["validate", "dev", "--app", &arg(&root)])
        .env_remove("XTASK_APP")
        .env("XTASK_CONFIG_TIMEOUT", "600")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xtask starts");
    let program = pids.read();
    // SAFETY: signalling a child process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let signalled = Instant::now();
    while child.try_wait().expect("wait").is_none() && signalled.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let finished = child.try_wait().expect("wait").is_some();
    if !finished {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("output");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(finished, "still running 5 s after SIGTERM: {text}");
    assert_eq!(output.status.code(), Some(130), "{text}");
    for (file, pid) in program {
        assert!(!alive(pid), "{file} ({pid}) outlived the command");
    }
    drop(pids);
    let _ = std::fs::remove_dir_all(&root);
}
