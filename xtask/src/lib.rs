//! The deploy tool behind `cargo xtask`, as a library so that its tests (and
//! the end-to-end suite) use the same code as the command line.

pub mod app;
pub mod audit;
pub mod aws;
pub mod backup;
pub mod bench;
pub mod bootstrap;
pub mod cfn;
pub mod cli;
pub mod codegen;
pub mod compose;
pub mod data;
pub mod deep;
pub mod deploy;
pub mod diag;
pub mod doctor;
pub mod emulator;
pub mod endpoints;
pub mod fingerprint;
pub mod git;
pub mod graph;
pub mod interrupt;
pub mod journal;
pub mod local;
pub mod lock;
pub mod manifest;
pub mod migrate;
pub mod output;
pub mod paths;
pub mod plan;
pub mod process;
pub mod refs;
pub mod remove;
pub mod resource_types;
pub mod rollback;
pub mod serverless;
pub mod smoke;
pub mod stacks;
pub mod stage;
pub mod target;
pub mod tools;
pub mod unlock;
pub mod validate;
pub mod vars;
pub mod workflows;
pub mod yaml;

mod commands;

pub use commands::run;
