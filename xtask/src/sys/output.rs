//! What the user sees while commands run: lines prefixed with the service
//! they come from, written whole so parallel services never interleave
//! within a line, and the few colours the text output uses.
//!
//! Colour goes through `anstream`: written only to a terminal, never with
//! `NO_COLOR` set, always with `CLICOLOR_FORCE` (NO_COLOR wins). Strings
//! may carry styles; every stream they reach strips them where colour is
//! off, so a pipe, a file or a CI log gets plain text.
//!
//! Nothing here panics when a stream cannot be written (a full disk, a
//! closed pipe where SIGPIPE is ignored): a command's report goes through
//! [`out!`](crate::out)/[`outln!`](crate::outln), which return the error
//! for the command to end on (exit 1, one line saying why); progress and
//! notes ([`errln!`](crate::errln), [`Printer`], [`say`]) are dropped
//! when they cannot be written, since a command that changes a stage must
//! never stop half-way for want of a reader. The first such loss is kept
//! and said at the end ([`lost`]).

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

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
        let written = if self.to_stderr {
            writeln!(anstream::stderr().lock(), "{text}")
        } else {
            writeln!(anstream::stdout().lock(), "{text}")
        };
        if let Err(err) = written {
            remember(err);
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
    /// progress goes to. A closed stdout is remembered, never a panic.
    pub fn result(&self, text: &str) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(err) = writeln!(anstream::stdout().lock(), "{text}") {
            remember(err);
        }
    }
}

/// The command's output could not be written. The I/O error is said in
/// the message, not chained, so the line says it once.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the output: {0}")]
pub struct OutputError(pub std::io::Error);

impl From<std::io::Error> for OutputError {
    fn from(err: std::io::Error) -> OutputError {
        OutputError(err)
    }
}

/// Writes a command's report (or part of it) to stdout, styles stripped
/// where colour is off. Used through [`out!`](crate::out) and
/// [`outln!`](crate::outln).
pub fn write_out(args: std::fmt::Arguments<'_>) -> Result<(), OutputError> {
    let mut stdout = anstream::stdout().lock();
    stdout.write_fmt(args)?;
    stdout.flush()?;
    Ok(())
}

/// Writes a note to stderr; when stderr cannot be written there is no one
/// left to tell, so the note is dropped (and remembered, see [`lost`]).
pub fn write_err(args: std::fmt::Arguments<'_>) {
    let mut stderr = anstream::stderr().lock();
    if let Err(err) = stderr.write_fmt(args).and_then(|()| stderr.flush()) {
        remember(err);
    }
}

/// A line of progress on stdout that must not stop the command when it
/// cannot be written (a command changing a stage).
pub fn say(text: &str) {
    let mut stdout = anstream::stdout().lock();
    if let Err(err) = writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        remember(err);
    }
}

static LOST: OnceLock<String> = OnceLock::new();

fn remember(err: std::io::Error) {
    let _ = LOST.set(err.to_string());
}

/// Why output was dropped, when some was (the first error), for the
/// command's last word.
pub fn lost() -> Option<&'static str> {
    LOST.get().map(String::as_str)
}

/// `print!` for a command's report: returns [`OutputError`] instead of
/// panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::sys::output::write_out(format_args!($($arg)*))
    };
}

/// `println!` for a command's report: returns [`OutputError`] instead of
/// panicking.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::sys::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::sys::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics: a note that cannot be written is dropped.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::sys::output::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}
