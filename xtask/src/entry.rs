//! The command line's entry point: parse once, run, exit with the
//! command's code. This binary's `main` calls [`run`], and so does a
//! team's own xtask crate that depends on this one (a one-line `main`).

pub fn run() -> ! {
    // This binary started again to run one config program and leave none
    // of its descendants behind (`sys::reaper`): nothing else runs.
    if let Some(code) = crate::sys::reaper::serve() {
        std::process::exit(code);
    }
    let cli = crate::cli::Cli::parse_checked();
    if cli.command.only_reads() {
        // A command that only reads and reports ends quietly when its
        // reader goes away (`cargo xtask audit | head -1`), as Unix tools
        // do. Commands that change a stage keep the signal ignored, so a
        // closed pipe can never stop them half-way.
        // SAFETY: the default disposition installs no handler of ours, and
        // no other thread runs yet to race on it.
        unsafe {
            use nix::sys::signal::{signal, SigHandler, Signal};
            let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
        }
    }
    // Before any other thread starts, so that every thread leaves SIGINT,
    // SIGTERM and SIGHUP to the one thread that acts on them.
    if let Err(err) = crate::install_signal_handling() {
        crate::errln!("error: cannot take the signals that stop a command: {err}");
        std::process::exit(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            crate::errln!("error: cannot start the async runtime: {err}");
            std::process::exit(2);
        }
    };
    let only_reads = cli.command.only_reads();
    let (code, interrupted) = runtime.block_on(async {
        tokio::select! {
            result = crate::execute(cli) => match result {
                Ok(code) => (code, false),
                Err(err) => {
                    let error = crate::sys::output::paint(crate::sys::output::BAD, "error:");
                    crate::errln!("{error} {err:#}");
                    (crate::exit_code_of(&err), false)
                }
            },
            // Deploy, remove and rollback take the first signal as a
            // request to stop gracefully; this arm fires on the second (or
            // the first, for every other command). Dropping the command's
            // future stops its child processes and private emulators; a
            // stage lock it held stays, and its journal says where the run
            // stopped. A command too busy to be dropped is ended by the
            // signal thread instead (`run::interrupt`).
            _ = crate::hard_stop() => {
                crate::errln!("interrupted");
                (130, true)
            }
        }
    });
    if interrupted {
        // Work handed to blocking threads (an install) is not waited for,
        // and what it started is stopped.
        runtime.shutdown_timeout(std::time::Duration::from_millis(200));
        crate::sys::process::stop_children(std::time::Duration::from_secs(1));
    } else {
        // Child processes were stopped by the destructors above; nothing
        // is left for the runtime to wait on.
        drop(runtime);
    }
    // Output a command dropped because it could not be written: a report
    // that did not reach its reader is a failure; a command that changed
    // a stage keeps its own verdict, and says what was lost.
    let code = match crate::sys::output::lost() {
        Some(why) if only_reads && code == 0 => {
            crate::errln!("error: cannot write the output: {why}");
            1
        }
        Some(why) => {
            crate::errln!("warning: some output could not be written: {why}");
            code
        }
        None => code,
    };
    crate::exit(code);
}
