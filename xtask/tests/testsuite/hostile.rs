//! Hostile inputs: every reader is bounded. Alias bombs, deep nesting,
//! duplicate keys, characters YAML forbids, files of the wrong shape,
//! FIFOs where files should be, include cycles and runaway variable
//! nesting each end in a named refusal (or a normal report), within
//! bounded time and memory — never a crash, a hang or an exhausted machine.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support;
use crate::support::arg;

/// A command's exit code and output, run with at most 2 GiB of address
/// space and killed after a minute.
fn bounded(app: &Path, args: &[&str]) -> (Option<i32>, String) {
    bounded_for(app, args, Duration::from_secs(60))
}

/// [`bounded`], killed (and the test failed) after `limit`: the drill saw
/// these inputs run for minutes or never end.
fn bounded_for(app: &Path, args: &[&str], limit: Duration) -> (Option<i32>, String) {
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
    // Both pipes are read while the command runs: a report larger than a
    // pipe holds must not stop it.
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`xtask {}` did not finish within {} s",
                args.join(" "),
                limit.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout.join().expect("stdout")),
        String::from_utf8_lossy(&stderr.join().expect("stderr"))
    );
    assert!(!text.contains("panicked"), "{text}");
    (status.code(), text)
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
    // The CLI's parser refuses nesting past 100 levels (js-yaml's
    // `maxDepth`), and so does the reader, at the line.
    "nests deeper than 100 levels"
)]
#[case::deep_block_nesting(
    "deep-block",
    format!("service: deep\nprovider:\n  name: aws\ncustom:\n{}", (0..300).map(|i| format!("{}k{i}:\n", " ".repeat(2 * i + 2))).collect::<String>()),
    "nests deeper than 100 levels"
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

/// Where `needle` first occurs in `text`, as `line:col` (1-based, columns
/// in characters).
fn position(text: &str, needle: char) -> String {
    let offset = text.find(needle).expect("the needle is in the text");
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{col}")
}

/// A character YAML forbids (js-yaml, the CLI's parser, refuses the file)
/// is refused at its line and column, in every file read as app input; the
/// drill saw a NUL cut a serverless.yml there, silently.
#[rstest::rstest]
#[case::nul_cuts_the_file(
    "nul-cuts-the-file",
    "svc/serverless.yml",
    "service: web\u{0}app\nprovider:\n  name: aws\nfunctions:\n  f:\n    handler: h.f\n",
    '\u{0}',
    "U+0000"
)]
#[case::nul_in_a_comment(
    "nul-in-a-comment",
    "svc/serverless.yml",
    "service: web\nprovider:\n  name: aws # x\u{0}\n",
    '\u{0}',
    "U+0000"
)]
#[case::control(
    "control",
    "svc/serverless.yml",
    "service: web\nprovider:\n  name: aws\ncustom:\n  x: a\u{1}b\n",
    '\u{1}',
    "U+0001"
)]
#[case::delete(
    "delete",
    "svc/serverless.yml",
    "service: web\nprovider:\n  name: aws\ncustom:\n  x: a\u{7f}b\n",
    '\u{7f}',
    "U+007F"
)]
#[case::non_character(
    "non-character",
    "svc/serverless.yml",
    "service: web\nprovider:\n  name: aws\ncustom:\n  x: a\u{fffe}b\n",
    '\u{fffe}',
    "U+FFFE"
)]
#[case::json_config(
    "json-config",
    "svc/serverless.json",
    "{\"service\": \"web\u{0}\", \"provider\": {\"name\": \"aws\"}}\n",
    '\u{0}',
    "U+0000"
)]
#[case::compose(
    "compose",
    "serverless-compose.yml",
    "services:\n  svc:\n    path: svc\u{0}\n",
    '\u{0}',
    "U+0000"
)]
#[case::included_stack_name(
    "included-stack-name",
    "svc/common.yml",
    "name: web\u{0}app\n",
    '\u{0}',
    "U+0000"
)]
fn a_character_yaml_forbids_is_refused_at_its_position(
    #[case] name: &str,
    #[case] file: &str,
    #[case] text: &str,
    #[case] bad: char,
    #[case] named: &str,
) {
    let mut files = vec![(file, text)];
    if file != "svc/serverless.yml" && file != "svc/serverless.json" {
        files.push((
            "svc/serverless.yml",
            "service: web\nprovider:\n  name: aws\n  stackName: ${file(./common.yml):name}-${sls:stage}\n",
        ));
    }
    let root = app(&format!("forbidden-{name}"), &files);
    let at = format!("{file}:{}", position(text, bad));
    for command in [&["audit"][..], &["validate", "dev"], &["plan", "dev"]] {
        let (code, out) = bounded(&root, command);
        assert_eq!(code, Some(2), "{command:?}: {out}");
        assert!(
            out.contains(&at) && out.contains(named),
            "{command:?}: `{at}` and {named} not in:\n{out}"
        );
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
                // A process a test's own config program started.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
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
    // Signalling a child process this test started.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
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

/// `${self:}` with `per_level` references per level: each level that many
/// times the one below it.
fn self_references(levels: usize, per_level: usize) -> Vec<(String, String)> {
    let mut text = String::from("service: svc\nprovider:\n  name: aws\ncustom:\n  l0: x\n");
    for level in 1..=levels {
        let below = format!("${{self:custom.l{}}}", level - 1);
        text.push_str(&format!("  l{level}: {}\n", below.repeat(per_level)));
    }
    text.push_str(&format!(
        "resources:\n  Resources:\n    Logs:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: ${{self:custom.l{levels}}}-${{sls:stage}}\n"
    ));
    vec![("svc/serverless.yml".into(), text)]
}

/// `${file()}` doubling: each file reads the one below it twice.
fn file_doubling(levels: usize) -> Vec<(String, String)> {
    let mut files = vec![("svc/f0.yml".to_string(), "v: x\n".to_string())];
    for level in 1..=levels {
        let below = format!("${{file(./f{}.yml):v}}", level - 1);
        files.push((
            format!("svc/f{level}.yml"),
            format!("v: {}\n", below.repeat(2)),
        ));
    }
    files.push((
        "svc/serverless.yml".into(),
        format!("service: svc\nprovider:\n  name: aws\ncustom:\n  v: ${{file(./f{levels}.yml):v}}\nresources:\n  Resources:\n    Logs:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: ${{file(./f{levels}.yml):v}}-${{sls:stage}}\n"),
    ));
    files
}

/// One value made of `count` variables.
fn many_variables(count: usize) -> Vec<(String, String)> {
    vec![(
        "svc/serverless.yml".into(),
        format!(
            "service: svc\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\ncustom:\n  big: \"{}\"\n",
            "${sls:stage}".repeat(count)
        ),
    )]
}

/// Expansion has a work budget: every shape of the drill ends, with a
/// refusal at the file and line where the budget is spent. Before the
/// budget, each ran for minutes or never ended. `plan` reads none of these
/// values; it ends, with the load's refusal where there is one.
#[rstest::rstest]
#[case::self_references_ten_levels(
    "self-10",
    self_references(10, 4),
    Some(1),
    "expand past 1048576 bytes"
)]
#[case::self_references_thirty_levels(
    "self-30",
    self_references(30, 4),
    Some(1),
    "expand past 1048576 bytes"
)]
#[case::ten_self_references_per_level(
    "self-wide",
    self_references(10, 10),
    Some(1),
    "expand past 1048576 bytes"
)]
#[case::file_doubling_thirty_times(
    "file-30",
    file_doubling(30),
    Some(1),
    "expand past 1048576 bytes"
)]
#[case::two_hundred_thousand_variables(
    "many",
    many_variables(200_000),
    Some(2),
    "holds more than 10000 `${...}` variables in one value"
)]
fn runaway_expansion_ends_within_its_budget(
    #[case] name: &str,
    #[case] files: Vec<(String, String)>,
    #[case] code: Option<i32>,
    #[case] refusal: &str,
) {
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let root = app(&format!("budget-{name}"), &files);
    // Every command ends first (the drill saw each of these shapes hang
    // one of them), then each says what it found.
    let ran: Vec<(&[&str], Option<i32>, String)> =
        [&["audit"][..], &["validate", "dev"], &["plan", "dev"]]
            .into_iter()
            .map(|command| {
                let (ended, out) = bounded_for(&root, command, Duration::from_secs(20));
                (command, ended, out)
            })
            .collect();
    for (command, ended, out) in ran {
        if command[0] == "plan" && code == Some(1) {
            assert_eq!(ended, Some(0), "{command:?}:\n{out}");
            continue;
        }
        assert_eq!(ended, code, "{command:?}:\n{out}");
        assert!(
            out.contains("svc/serverless.yml:") && out.contains(refusal),
            "{command:?} names the refusal:\n{out}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// Five thousand findings are found and rendered in time linear in their
/// number (the drill's took over two minutes).
#[test]
fn five_thousand_findings_are_reported() {
    let mut text = String::from("service: svc\nprovider:\n  name: aws\nresources:\n  Resources:\n");
    for i in 0..5000 {
        text.push_str(&format!(
            "    Queue{i}:\n      Type: AWS::SQS::Queue\n      Properties:\n        RedrivePolicy:\n          deadLetterTargetArn: !GetAtt Dead{i}.Arn\n"
        ));
    }
    let root = app("findings", &[("svc/serverless.yml", &text)]);
    for format in ["text", "json"] {
        let (code, out) = bounded_for(
            &root,
            &["validate", "dev", "--format", format],
            Duration::from_secs(20),
        );
        assert_eq!(code, Some(1), "{out}");
        assert_eq!(out.matches("getatt-unknown-resource").count(), 5000);
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// A `${file()}` cycle is an error naming the chain of files and lines:
/// in `service:` the whole service is refused (the drill got a stack
/// named `(unknown)`), in a value it is a finding there.
#[test]
fn a_file_cycle_in_the_service_name_is_refused() {
    let root = app(
        "file-cycle-name",
        &[
            (
                "svc/serverless.yml",
                "service: ${file(./name.yml):name}\nprovider:\n  name: aws\n",
            ),
            ("svc/name.yml", "name: ${file(./other.yml):name}\n"),
            ("svc/other.yml", "name: ${file(./name.yml):name}\n"),
        ],
    );
    for command in [
        &["audit"][..],
        &["validate", "dev"],
        &["plan", "dev"],
        &["runbook", "dev"],
    ] {
        let (code, out) = bounded(&root, command);
        assert_eq!(code, Some(2), "{command:?}:\n{out}");
        assert!(
            out.contains("svc/serverless.yml:1")
                && out.contains("reads itself back")
                && out.contains("svc/name.yml:1")
                && out.contains("svc/other.yml:1"),
            "{command:?} names the chain:\n{out}"
        );
        assert!(!out.contains("(unknown)"), "{command:?}:\n{out}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_file_cycle_in_a_value_is_a_finding() {
    let root = app(
        "file-cycle-value",
        &[
            (
                "svc/serverless.yml",
                "service: svc\nprovider:\n  name: aws\ncustom:\n  name: ${file(./loop.yml):name}\n",
            ),
            ("svc/loop.yml", "name: ${file(./loop.yml):name}-again\n"),
        ],
    );
    for command in [&["audit"][..], &["validate", "dev"]] {
        let (code, out) = bounded(&root, command);
        assert_eq!(code, Some(1), "{command:?}:\n{out}");
        assert!(
            out.contains("svc/serverless.yml:5")
                && out.contains("reads itself back")
                && out.contains("svc/loop.yml:1"),
            "{command:?} names the chain:\n{out}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// The text of a DOT file's quoted strings, unescaped, or why it does not
/// parse: strings close, braces balance, nothing but a statement between.
fn dot_strings(dot: &str) -> Result<Vec<String>, String> {
    let mut strings = Vec::new();
    let mut depth = 0i32;
    let mut chars = dot.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err("a string never closes".into()),
                        Some('"') => break,
                        Some('\n') => return Err(format!("a raw line break in \"{text}")),
                        Some('\\') => match chars.next() {
                            Some('"') => text.push('"'),
                            Some('\\') => text.push('\\'),
                            // DOT's line break in a label.
                            Some('n') => text.push('\n'),
                            Some(other) => {
                                return Err(format!("an escape `\\{other}` in \"{text}"))
                            }
                            None => return Err("a string ends in `\\`".into()),
                        },
                        Some(other) => text.push(other),
                    }
                }
                strings.push(text);
            }
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth < 0 {
                    return Err("a `}` closes nothing".into());
                }
            }
            c if c.is_ascii_alphanumeric() || " \n;=->[]_".contains(c) => {}
            other => return Err(format!("`{other}` outside a string")),
        }
    }
    if depth != 0 {
        return Err("a `{` is never closed".into());
    }
    Ok(strings)
}

/// Why a Mermaid flowchart as `plan` writes it would not parse, if it
/// would not: every line one of its five shapes, ids plain words that are
/// no keyword, labels quoted with nothing in them that ends or changes the
/// quote (`"`, a line break, `#` outside an entity, markup, backticks).
fn mermaid_problem(chart: &str) -> Option<String> {
    fn id_ok(id: &str) -> bool {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && ![
                "end",
                "subgraph",
                "graph",
                "flowchart",
                "style",
                "class",
                "classDef",
                "click",
                "linkStyle",
                "direction",
            ]
            .contains(&id)
    }
    fn label_ok(label: &str) -> bool {
        let mut rest = label;
        while let Some(i) = rest.find('#') {
            let entity = &rest[i + 1..];
            let digits = entity.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 || !entity[digits..].starts_with(';') {
                return false;
            }
            rest = &entity[digits + 1..];
        }
        !label.contains(['"', '\n', '<', '>', '`', '|'])
    }
    fn quoted(text: &str, open: &str, close: &str) -> Option<(String, String)> {
        let (id, rest) = text.split_once(open)?;
        let label = rest.strip_suffix(close)?;
        Some((id.to_string(), label.to_string()))
    }
    let mut lines = chart.lines();
    if lines.next() != Some("flowchart BT") {
        return Some("it does not start with `flowchart BT`".into());
    }
    for line in lines {
        let ok = if let Some(rest) = line.strip_prefix("  subgraph ") {
            quoted(rest, "[\"", "\"]").is_some_and(|(id, label)| id_ok(&id) && label_ok(&label))
        } else if let Some(rest) = line.strip_prefix("    ") {
            quoted(rest, "[\"", "\"]").is_some_and(|(id, label)| id_ok(&id) && label_ok(&label))
        } else if line == "  end" {
            true
        } else if let Some(rest) = line.strip_prefix("  ") {
            rest.split_once(" -->|\"").is_some_and(|(from, rest)| {
                rest.rsplit_once("\"| ")
                    .is_some_and(|(label, to)| id_ok(from) && id_ok(to) && label_ok(label))
            })
        } else {
            false
        };
        if !ok {
            return Some(format!("line `{line}` is not one of the chart's shapes"));
        }
    }
    None
}

/// Service names and references from user files reach the DOT and
/// Mermaid plans escaped for each, so both always parse: hostile folder
/// names (a service's key when there is no deploy.toml) and an export
/// name full of each format's syntax.
#[test]
fn plan_diagrams_escape_what_the_files_say() {
    let export = "x\\\"|-->;{}[]#35;<b>`a`\\n${sls:stage}";
    let producer = format!("service: producer\nprovider:\n  name: aws\nresources:\n  Resources:\n    Topic:\n      Type: AWS::SNS::Topic\n  Outputs:\n    Out:\n      Value: !Ref Topic\n      Export:\n        Name: \"{export}\"\n");
    let consumer = format!("service: consumer\nprovider:\n  name: aws\nresources:\n  Resources:\n    Sub:\n      Type: AWS::SNS::Subscription\n      Properties:\n        Protocol: sqs\n        Endpoint: arn:aws:sqs:us-east-1:123456789012:q\n        TopicArn: !ImportValue \"{export}\"\n");
    let keys = ["end", "a\"b", "x];y", "p-->q", "n\\m"];
    let root = app(
        "diagrams",
        &[
            ("end/serverless.yml", &producer),
            ("a\"b/serverless.yml", &consumer),
            (
                "x];y/serverless.yml",
                "service: third\nprovider:\n  name: aws\n",
            ),
            (
                "p-->q/serverless.yml",
                "service: fourth\nprovider:\n  name: aws\n",
            ),
            (
                "n\\m/serverless.yml",
                "service: fifth\nprovider:\n  name: aws\n",
            ),
        ],
    );
    let (code, dot) = bounded(&root, &["plan", "dev", "--format", "dot"]);
    assert_eq!(code, Some(0), "{dot}");
    let strings = dot_strings(&dot).unwrap_or_else(|why| panic!("{why}:\n{dot}"));
    for key in keys {
        assert!(
            strings.iter().any(|s| s == key),
            "`{key}` is a node:\n{dot}"
        );
    }
    assert!(
        strings.iter().any(|s| s.contains("x\"|-->;{}[]#35;<b>`a`")),
        "the edge keeps its label:\n{dot}"
    );
    let (code, chart) = bounded(&root, &["plan", "dev", "--format", "mermaid"]);
    assert_eq!(code, Some(0), "{chart}");
    if let Some(problem) = mermaid_problem(&chart) {
        panic!("{problem}:\n{chart}");
    }
    let ids: std::collections::BTreeSet<&str> = chart
        .lines()
        .filter_map(|l| l.strip_prefix("    ")?.split_once("[\"").map(|(id, _)| id))
        .collect();
    assert_eq!(ids.len(), keys.len(), "one id per service:\n{chart}");
    assert!(chart.contains(" -->|\""), "the edge is drawn:\n{chart}");
    let _ = std::fs::remove_dir_all(&root);
}

/// Includes that fan out: every file of a level includes every file of the
/// next, ten wide and seven deep. Each file is read once per service, not
/// once per path to it (10^6 paths: audit never ended).
#[test]
fn includes_that_fan_out_are_read_once() {
    let width = 10;
    let include_all = |level: usize, indent: &str| -> String {
        (0..width)
            .map(|k| format!("{indent}- ${{file(./l{level}_{k}.yml)}}\n"))
            .collect()
    };
    let mut files = vec![(
        "svc/serverless.yml".to_string(),
        format!(
            "service: svc\nprovider:\n  name: aws\ncustom:\n  items:\n{}",
            include_all(1, "    ")
        ),
    )];
    for level in 1..=7 {
        for j in 0..width {
            let text = if level < 7 {
                format!("items:\n{}", include_all(level + 1, "  "))
            } else {
                "v: x\n".to_string()
            };
            files.push((format!("svc/l{level}_{j}.yml"), text));
        }
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let root = app("fan-out", &files);
    for command in [&["audit"][..], &["validate", "dev"], &["plan", "dev"]] {
        let (code, out) = bounded_for(&root, command, Duration::from_secs(20));
        assert!(
            matches!(code, Some(0..=2)),
            "{command:?} ended with {code:?}:\n{out}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}
