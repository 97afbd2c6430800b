//! The deploy tool behind `cargo xtask`, as a library so that its tests (and
//! the end-to-end suite) use the same code as the command line.

pub mod app;
pub mod audit;
pub mod aws;
pub mod cli;
pub mod diag;
pub mod doctor;
pub mod emulator;
pub mod local;
pub mod manifest;
pub mod paths;
pub mod process;
pub mod stage;
pub mod tools;
pub mod vars;
pub mod yaml;

mod commands;

pub use commands::run;
