//! The `nfield` and `train_siren` command-line tools (library part shared by both binaries).
//!
//! Each subcommand lives in [`commands`]; [`engines`] picks the engine at run time (one small
//! enum, not trait objects); [`output`] holds progress display and the JSON log.

pub mod arch;
pub mod commands;
pub mod engines;
pub mod output;
pub mod view;

/// Exit code after an interrupted run that saved its state (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Makes a closed stdout end the process quietly, as it ends `cat` or `grep` (`nfield info
/// model.json | head -3`): Rust ignores SIGPIPE, so the next `println!` would panic instead.
/// Called first thing by both binaries.
pub fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal before any other thread exists;
    // no handler code runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
