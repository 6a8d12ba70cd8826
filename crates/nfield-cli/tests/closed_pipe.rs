//! A reader that closes the pipe early (`nfield info model.json | head -1`) ends nfield quietly,
//! as it ends any Unix filter, instead of a panic on the next write.

mod common;

use common::*;
use std::process::Stdio;

#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_nfield_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    write_png(&d.join("img.png"), 16, 12);
    let model = tiny_model(d, &d.join("img.png"), "m.json", &[]);
    let mut child = command(d, env!("CARGO_BIN_EXE_nfield"), &["info", s(&model)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nfield");
    drop(child.stdout.take()); // the reader is gone before nfield prints
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success() || out.status.signal() == Some(libc_sigpipe()), "{:?}: {stderr}", out.status);
}

/// SIGPIPE's number on Linux and the BSDs.
#[cfg(unix)]
fn libc_sigpipe() -> i32 {
    13
}
