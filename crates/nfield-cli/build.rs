//! Bakes the commit the binary is built from into `NFIELD_BUILD_COMMIT` (benchmark records name
//! the code they measured, wherever the binary runs): `git rev-parse --short=12 HEAD`, with
//! `-dirty` when tracked files differ from it, or `unknown` outside a git checkout.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn main() {
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(c) if git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty()) => {
            format!("{c}-dirty")
        }
        Some(c) => c,
        None => "unknown".into(),
    };
    println!("cargo:rustc-env=NFIELD_BUILD_COMMIT={commit}");
    // Re-run when HEAD moves, the index changes (commits, adds) or any source file changes.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        for f in ["HEAD", "index", "refs"] {
            println!("cargo:rerun-if-changed={dir}/{f}");
        }
    }
    for d in ["../nfield", "../nfield-cuda", "../nfield-cli/src"] {
        println!("cargo:rerun-if-changed={d}");
    }
}
