//! `cargo xtask`: the engine's entry point, [`xtask::entry::run`], which
//! a team's own xtask crate calls the same way.

fn main() {
    xtask::entry::run()
}
