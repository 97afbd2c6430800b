//! `cargo xtask`: parse once, run, exit with the command's code.

fn main() {
    let cli = xtask::cli::Cli::parse_checked();
    if cli.command.only_reads() {
        // A command that only reads and reports ends quietly when its
        // reader goes away (`cargo xtask audit | head -1`), as Unix tools
        // do. Commands that change a stage keep the signal ignored, so a
        // closed pipe can never stop them half-way.
        // SAFETY: setting a signal's disposition before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(async {
        tokio::select! {
            result = xtask::execute(cli) => match result {
                Ok(code) => code,
                Err(err) => {
                    let error = xtask::sys::output::paint(xtask::sys::output::BAD, "error:");
                    anstream::eprintln!("{error} {err:#}");
                    xtask::exit_code_of(&err)
                }
            },
            // Deploy and remove take the first Ctrl-C as a request to stop
            // gracefully; this arm fires on the second (or the first, for
            // every other command). Dropping the command's future stops its
            // child processes and private emulators; a stage lock it held
            // stays, and its journal says where the run stopped.
            _ = xtask::hard_stop() => {
                eprintln!("interrupted");
                130
            }
        }
    });
    // Child processes were stopped by the destructors above; nothing is left
    // for the runtime to wait on.
    drop(runtime);
    std::process::exit(code);
}
