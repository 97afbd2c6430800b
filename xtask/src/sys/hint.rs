//! The commands a message tells the user to run, written for the target of
//! this run: the same app (`--app`, unless it is the folder the user
//! stands in) and the same `--rehearse` (for the commands that take it),
//! so a hint pasted on another machine or in another folder never acts on
//! something else: a rehearsal's `unlock --force` never clears the real
//! stage's lock.
//!
//! `main` says once what this run targets ([`set_target`]); every message
//! builds its commands with [`xtask`].

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What every hint of this run repeats.
#[derive(Debug, Default)]
struct Target {
    /// `--app` as the user should type it, when one is needed.
    app: Option<String>,
    rehearse: bool,
    /// `--aws-profile`, when the run was given one: a pasted hint acts
    /// with the same credentials.
    profile: Option<String>,
}

static TARGET: OnceLock<Target> = OnceLock::new();
static PROFILE: OnceLock<Option<String>> = OnceLock::new();

/// Says which `--aws-profile` this run was given; called once, before
/// [`set_target`] and any message.
pub fn set_profile(profile: Option<String>) {
    let _ = PROFILE.set(profile.filter(|p| !p.is_empty()));
}

/// The subcommands that take `--rehearse` (a tidy test keeps this list
/// equal to the command line's).
pub const REHEARSABLE: &[&str] = &[
    "backup",
    "bootstrap",
    "checklist",
    "deploy",
    "diff",
    "iam-policy",
    "info",
    "load",
    "migrate",
    "previews",
    "remove",
    "report",
    "rollback",
    "sls",
    "smoke",
    "unlock",
    "validate",
];

/// Says what this run targets: the app folder it reads and whether it
/// rehearses. Called once, before any message; later calls change nothing.
pub fn set_target(app: &Path, rehearse: bool) {
    let cwd = std::env::current_dir().ok();
    let app = app_arg(app, cwd.as_deref());
    let profile = PROFILE.get().cloned().flatten();
    let _ = TARGET.set(Target {
        app,
        rehearse,
        profile,
    });
}

/// `cargo xtask ARGS` with this run's target: ` --rehearse` when this run
/// rehearses and the subcommand (the first word of `args`) takes it, and
/// ` --app DIR` when the app is not the current folder.
pub fn xtask(args: &str) -> String {
    line(
        TARGET.get_or_init(|| Target {
            profile: PROFILE.get().cloned().flatten(),
            ..Target::default()
        }),
        args,
    )
}

fn line(target: &Target, args: &str) -> String {
    // What follows a ` -- ` goes to another program (`sls`): the flags of
    // this run go before it.
    let (ours, theirs) = match args.find(" -- ") {
        Some(at) => (&args[..at], &args[at..]),
        None => (args, ""),
    };
    let sub = ours.split_whitespace().next().unwrap_or_default();
    let mut line = format!("cargo xtask {ours}");
    if target.rehearse && REHEARSABLE.contains(&sub) && !ours.contains("--rehearse") {
        line.push_str(" --rehearse");
    }
    if let Some(app) = &target.app {
        if !ours.contains("--app") {
            line.push_str(" --app ");
            line.push_str(app);
        }
    }
    if let Some(profile) = &target.profile {
        if !ours.contains("--aws-profile") {
            line.push_str(" --aws-profile ");
            line.push_str(&shell_word(profile));
        }
    }
    line.push_str(theirs);
    line
}

/// The `--app` value that names `app` from `cwd`: none when they are the
/// same folder, a relative path below `cwd`, else the absolute path;
/// quoted for a POSIX shell when it holds anything but plain characters.
fn app_arg(app: &Path, cwd: Option<&Path>) -> Option<String> {
    let absolute = |p: &Path| -> PathBuf {
        p.canonicalize().unwrap_or_else(|_| match cwd {
            Some(cwd) if p.is_relative() => cwd.join(p),
            _ => p.to_path_buf(),
        })
    };
    let app = absolute(app);
    let shown = match cwd.map(absolute) {
        Some(cwd) if cwd == app => return None,
        Some(cwd) => app
            .strip_prefix(&cwd)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| app.clone()),
        None => app,
    };
    Some(shell_word(&shown.to_string_lossy()))
}

/// `text` as one word of a POSIX shell.
pub fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_is_named_unless_it_is_where_the_user_stands() {
        let dir = std::env::temp_dir().join(format!("hint-{}", std::process::id()));
        let app = dir.join("my app");
        std::fs::create_dir_all(&app).unwrap();
        assert_eq!(app_arg(&app, Some(&app)), None);
        assert_eq!(
            app_arg(&app, Some(&dir)).as_deref(),
            Some("'my app'"),
            "below the current folder, relative and quoted"
        );
        let elsewhere = app_arg(&dir, Some(&app)).unwrap();
        assert!(elsewhere.starts_with('/'), "{elsewhere}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flags_of_the_run_stay_before_what_goes_to_another_program() {
        let rehearsal = Target {
            app: Some("shop".into()),
            rehearse: true,
            profile: None,
        };
        assert_eq!(
            line(&rehearsal, "sls prod --service api -- invoke -f hello"),
            "cargo xtask sls prod --service api --rehearse --app shop -- invoke -f hello"
        );
    }

    #[test]
    fn a_hint_carries_the_target_of_the_run() {
        let rehearsal = Target {
            app: Some("apps/shop".into()),
            rehearse: true,
            profile: None,
        };
        assert_eq!(
            line(&rehearsal, "unlock prod --force"),
            "cargo xtask unlock prod --force --rehearse --app apps/shop"
        );
        assert_eq!(
            line(&rehearsal, "plan prod"),
            "cargo xtask plan prod --app apps/shop",
            "plan takes no --rehearse"
        );
        assert_eq!(
            line(&Target::default(), "bootstrap prod"),
            "cargo xtask bootstrap prod"
        );
        // The credentials too: a pasted hint acts on the same account.
        let profiled = Target {
            profile: Some("team admin".into()),
            ..Target::default()
        };
        assert_eq!(
            line(&profiled, "sls prod -- logs -f f"),
            "cargo xtask sls prod --aws-profile 'team admin' -- logs -f f"
        );
    }

    #[rstest::rstest]
    #[case("fixtures/tb365", "fixtures/tb365")]
    #[case("a b", "'a b'")]
    #[case("it's", r"'it'\''s'")]
    #[case("$(rm -rf ~)", "'$(rm -rf ~)'")]
    #[case("", "''")]
    fn words_are_quoted_for_the_shell(#[case] text: &str, #[case] word: &str) {
        assert_eq!(shell_word(text), word);
    }
}
