//! `cargo xtask sls <stage> [--service S] -- ARGS`: the pinned Serverless
//! CLI for the day-to-day commands (logs, invoke, print…), run in one
//! service with the stage's name, region and credentials, so a pasted
//! `serverless logs` never reads another stage or account. What changes a
//! stack is refused here: it goes through `deploy`, `remove` and
//! `rollback`, which keep the order, the lock and the journal.

use anyhow::Result;

use crate::app::stage::Stage;
use crate::app::App;
use crate::aws::target::{Mode, StageTarget};
use crate::cli::{Global, SlsArgs};
use crate::run::guard;
use crate::run::serverless::Serverless;
use crate::sys::{hint, refuse};

/// The CLI's commands that are passed through: they read the stage, or
/// run a function's code, but change no stack.
const PASSED: &[&str] = &[
    "invoke",
    "invoke local",
    "logs",
    "info",
    "print",
    "metrics",
    "package",
    "deploy list",
    "deploy list functions",
];

/// What a checked command line runs.
#[derive(Debug, PartialEq, Eq)]
struct Checked {
    /// The arguments for the CLI, without a `--stage` or `--region` that
    /// only repeated the stage's.
    args: Vec<String>,
    /// Whether it runs the function's code in the stage (a remote invoke).
    runs_code: bool,
}

pub(crate) async fn run(global: &Global, args: SlsArgs) -> Result<i32> {
    let app = App::load(&global.app_dir()?)?;
    let stage = app.stage(args.at.stage())?;
    let service = pick_service(&app, &stage, args.service.as_deref())?;
    let checked = check(&args.args, &stage)?;
    if checked.runs_code {
        guard::ask(
            &stage,
            args.yes,
            "invoke a function of",
            &format!(
                "serverless {} runs the function's code in stage {stage}.",
                args.args.join(" ")
            ),
        )?;
    }
    // The app already read (a config program runs once), its target
    // opened as `open_stage` opens it: the account checked.
    let mode = Mode::of(&stage, args.at.rehearse, global.emulator);
    let target = StageTarget::open(&stage, mode).await?;
    target.check_account(&stage).await?;
    let cli = Serverless::new(&target.target)?;
    let service = app
        .service(&service)
        .ok_or_else(|| anyhow::anyhow!("no service `{service}`"))?;
    cli.pass_through(service, &stage, &checked.args).await
}

/// The service to run in: `--service`, or the app's only one.
fn pick_service(app: &App, stage: &Stage, named: Option<&str>) -> Result<String> {
    let known: Vec<&str> = app.services.iter().map(|s| s.key.as_str()).collect();
    match named {
        Some(key) if known.contains(&key) => Ok(key.to_string()),
        Some(key) => refuse!(
            "`{key}` is not a service of the app; its services are: {}",
            known.join(", ")
        ),
        None if known.len() == 1 => Ok(known[0].to_string()),
        None => refuse!(
            "the app has {} services; say which with --service, e.g. `{}`",
            known.len(),
            hint::xtask(&format!(
                "sls {stage} --service {} -- info",
                known.first().copied().unwrap_or("SERVICE")
            ))
        ),
    }
}

/// Checks the CLI's arguments against the stage: a command that is passed
/// through, and no stage, region or profile of its own.
fn check(args: &[String], stage: &Stage) -> Result<Checked> {
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .take_while(|a| !a.starts_with('-'))
        .collect();
    let command = longest_command(&words);
    let Some(command) = command else {
        let first = words.first().copied().unwrap_or_default();
        match first {
            "deploy" | "remove" | "rollback" => refuse!(
                "`serverless {}` changes the stage's stacks: run `{}`, which keeps the order, the lock and the journal",
                words.join(" "),
                hint::xtask(&format!("{first} {stage}"))
            ),
            "" => refuse!(
                "say which Serverless command to run after `--`: one of {}",
                PASSED.join(", ")
            ),
            _ => refuse!(
                "`serverless {first}` is not passed through; these are: {}",
                PASSED.join(", ")
            ),
        }
    };
    let mut out = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with('-') => (flag, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let (what, want) = match flag {
            "--stage" | "-s" => ("stage", stage.name()),
            "--region" | "-r" => ("region", stage.region()),
            "--aws-profile" => refuse!(
                "--aws-profile is not passed through: give it to the tool, before the `--`, so the tool and the CLI act with one profile on one account"
            ),
            _ => {
                out.push(arg.clone());
                continue;
            }
        };
        let value = match inline {
            Some(value) => value,
            None => match rest.next() {
                Some(value) => value.clone(),
                None => refuse!("{flag} needs a value"),
            },
        };
        if value != want {
            refuse!(
                "{flag} {value} disagrees with the {what} of this run ({want}); leave it out, the stage sets it"
            );
        }
    }
    Ok(Checked {
        args: out,
        runs_code: command == "invoke",
    })
}

/// The longest passed-through command that `words` starts with.
fn longest_command(words: &[&str]) -> Option<&'static str> {
    PASSED
        .iter()
        .copied()
        .filter(|command| {
            let parts: Vec<&str> = command.split(' ').collect();
            words.len() >= parts.len() && words[..parts.len()] == parts[..]
        })
        .max_by_key(|command| command.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::stage::Policy;

    fn stage(name: &str) -> Stage {
        Stage::parse(name, &Policy::default_policy()).unwrap()
    }

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    #[test]
    fn reading_commands_pass_and_a_repeated_stage_is_dropped() {
        let dev = stage("dev");
        let checked = check(&args("logs -f hello --stage dev --tail"), &dev).unwrap();
        assert_eq!(checked.args, args("logs -f hello --tail"));
        assert!(!checked.runs_code);
        let region = format!("--region={}", dev.region());
        let checked = check(&args(&format!("invoke local -f hello {region}")), &dev).unwrap();
        assert_eq!(checked.args, args("invoke local -f hello"));
        assert!(!checked.runs_code, "a local invoke runs on this machine");
        assert!(check(&args("invoke -f hello"), &dev).unwrap().runs_code);
        assert!(check(&args("deploy list functions"), &dev).is_ok());
    }

    #[test]
    fn another_stage_region_or_profile_is_refused() {
        let dev = stage("dev");
        for line in [
            "logs -f hello --stage prod",
            "logs -f hello -s=prod",
            "info --region eu-north-1",
            "info --aws-profile prod-admin",
            "info --stage",
        ] {
            let err = check(&args(line), &dev).unwrap_err();
            assert!(err.is::<crate::sys::Refused>(), "{line}: {err}");
        }
    }

    #[test]
    fn what_changes_a_stack_goes_through_the_tool() {
        let dev = stage("dev");
        for (line, instead) in [
            ("deploy", "cargo xtask deploy dev"),
            ("deploy function -f hello", "cargo xtask deploy dev"),
            ("remove", "cargo xtask remove dev"),
            ("rollback --timestamp 1", "cargo xtask rollback dev"),
        ] {
            let err = check(&args(line), &dev).unwrap_err().to_string();
            assert!(err.contains(instead), "{line}: {err}");
        }
        let err = check(&args("plugin install -n x"), &dev)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not passed through"), "{err}");
        let err = check(&args("--verbose"), &dev).unwrap_err().to_string();
        assert!(err.contains("say which Serverless command"), "{err}");
    }
}
