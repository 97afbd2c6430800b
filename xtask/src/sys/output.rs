//! What the user sees while commands run: lines prefixed with the service
//! they come from, written whole so parallel services never interleave
//! within a line, and the few colours the text output uses.
//!
//! Colour goes through `anstream`: written only to a terminal, never with
//! `NO_COLOR` set, always with `CLICOLOR_FORCE` (NO_COLOR wins). Strings
//! may carry styles; every stream they reach strips them where colour is
//! off, so a pipe, a file or a CI log gets plain text.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};

/// Failures and errors.
pub const BAD: Style = AnsiColor::Red.on_default().bold();
/// Success.
pub const GOOD: Style = AnsiColor::Green.on_default();
/// Something to look at that is not a failure: a rule name, a rollback.
pub const WARN: Style = AnsiColor::Yellow.on_default();
/// A place (`file:line:col`), a heading.
pub const STRONG: Style = Style::new().bold();
/// Who a line comes from, the time of a step.
pub const QUIET: Style = Style::new().dimmed();

/// `text` in `style`, reset after.
pub fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// The colour of a run or service status word.
pub fn status_style(status: &str) -> Style {
    match status {
        "deployed" | "unchanged" | "succeeded" | "passed" | "removed" => GOOD,
        "failed" | "rollback_failed" | "rolled_back_with_errors" => BAD,
        "rolled_back" | "skipped" | "pending" | "interrupted" => WARN,
        _ => Style::new(),
    }
}
use std::sync::Mutex;
use std::time::Instant;

pub struct Printer {
    started: Instant,
    lock: Mutex<()>,
    tty: bool,
    /// JSON output goes to stdout alone; progress then goes to stderr.
    to_stderr: bool,
    /// Tools' lines are left to their logs; only steps and results show.
    quiet_tools: bool,
}

impl Printer {
    pub fn new(to_stderr: bool) -> Printer {
        let tty = if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        Printer {
            started: Instant::now(),
            lock: Mutex::new(()),
            tty,
            to_stderr,
            quiet_tools: false,
        }
    }

    /// The same printer, leaving tools' lines to their logs (a command that
    /// runs the CLI only to read what it builds).
    pub fn quiet_tools(mut self) -> Printer {
        self.quiet_tools = true;
        self
    }

    fn write(&self, text: &str) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.to_stderr {
            let _ = writeln!(anstream::stderr().lock(), "{text}");
        } else {
            let _ = writeln!(anstream::stdout().lock(), "{text}");
        }
    }

    /// A line of a tool's output, under the service's name.
    pub fn line(&self, prefix: &str, text: &str) {
        if self.quiet_tools {
            return;
        }
        self.write(&format!(
            "{} {text}",
            paint(QUIET, &format!("{prefix:>16} │"))
        ));
    }

    /// A step of our own, with the time since the command started.
    pub fn step(&self, text: &str) {
        let secs = self.started.elapsed().as_secs_f32();
        let mark = if self.tty { "▶" } else { "-" };
        self.write(&format!(
            "{} {} {text}",
            paint(STRONG, mark),
            paint(QUIET, &format!("[{secs:6.1}s]"))
        ));
    }

    pub fn plain(&self, text: &str) {
        self.write(text);
    }

    /// The command's result on stdout (JSON, endpoints), whatever stream
    /// progress goes to. A closed stdout is ignored, never a panic.
    pub fn result(&self, text: &str) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(anstream::stdout().lock(), "{text}");
    }
}
