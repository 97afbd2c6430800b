//! The end-to-end tests: each starts an emulator and deploys to it.

mod ahead;
mod checklist;
mod deploy;
mod diff;
mod domains;
mod emulator;
mod load;
mod migrate;
mod monitoring;
mod run;
mod safety;
mod skips;
mod smoke;
