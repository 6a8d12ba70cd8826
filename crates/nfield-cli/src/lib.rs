//! The `nfield` and `train_siren` command-line tools (library part shared by both binaries).
//!
//! Each subcommand lives in [`commands`]; [`engines`] picks the engine at run time (one small
//! enum, not trait objects); [`output`] holds progress display and the JSON log.

pub mod arch;
pub mod commands;
pub mod engines;
pub mod output;

/// Exit code after an interrupted run that saved its state (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;
