//! What the user sees while commands run: lines prefixed with the service
//! they come from, written whole so parallel services never interleave
//! within a line.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

pub struct Printer {
    started: Instant,
    lock: Mutex<()>,
    tty: bool,
    /// JSON output goes to stdout alone; progress then goes to stderr.
    to_stderr: bool,
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
        }
    }

    fn write(&self, text: &str) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.to_stderr {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        } else {
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
    }

    /// A line of a tool's output, under the service's name.
    pub fn line(&self, prefix: &str, text: &str) {
        self.write(&format!("{prefix:>16} │ {text}"));
    }

    /// A step of our own, with the time since the command started.
    pub fn step(&self, text: &str) {
        let secs = self.started.elapsed().as_secs_f32();
        let mark = if self.tty { "▶" } else { "-" };
        self.write(&format!("{mark} [{secs:6.1}s] {text}"));
    }

    pub fn plain(&self, text: &str) {
        self.write(text);
    }

    /// The command's result on stdout (JSON, endpoints), whatever stream
    /// progress goes to. A closed stdout is ignored, never a panic.
    pub fn result(&self, text: &str) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }
}
