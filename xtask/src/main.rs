//! `cargo xtask`: parse once, run, exit with the command's code.

use clap::Parser;

fn main() {
    let cli = xtask::cli::Cli::parse();
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
            result = xtask::run(cli) => match result {
                Ok(code) => code,
                Err(err) => {
                    eprintln!("error: {err:#}");
                    1
                }
            },
            // Dropping the command's future runs every destructor on the way
            // out: private emulators stop, locks are released.
            _ = tokio::signal::ctrl_c() => {
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
