//! `nfield selftest`: the GPU engine's test suite, carried in the release binary.

use anyhow::Result;
use clap::Args;
use nfield_cuda::{Gpu, selftest};
use std::path::PathBuf;
use std::sync::Arc;

/// Run the CUDA engine's test suite on this machine's GPU: every kernel against the float64
/// oracle (DESIGN.md's tolerances, per precision), the fused training step against the
/// oracle's gradient, training against the CPU engine, resumption and error handling.
/// Without a CUDA device it prints `skipped: no CUDA device` and exits 0.
#[derive(Args, Debug)]
pub struct SelftestArgs {
    /// The engine whose suite runs (the CPU engine's tests run under `cargo test`).
    #[arg(long, default_value = "cuda", value_parser = ["cuda"])]
    pub engine: String,
    /// The seed's data folder (adds SIREN-64×8 on target.jpeg against the CPU engine)
    /// [$NFIELD_SEED_DATA].
    #[arg(long, value_name = "DIR")]
    pub seed_data: Option<PathBuf>,
}

/// Runs `nfield selftest`.
pub fn run(args: SelftestArgs) -> Result<u8> {
    let gpu = match Gpu::open(0) {
        Ok(g) => Arc::new(g),
        Err(e) => {
            println!("skipped: no CUDA device ({e})");
            return Ok(0);
        }
    };
    let device = format!("{} ({}, {} SMs, driver via cudarc)", gpu.name, gpu.arch, gpu.sm_count);
    let data = args.seed_data.or_else(|| std::env::var_os("NFIELD_SEED_DATA").map(PathBuf::from));
    let t = std::time::Instant::now();
    let checks = selftest::run(gpu, data.as_deref());
    let failed = checks.iter().filter(|c| !c.passed).count();
    for c in &checks {
        println!("{} {}\n       {}", if c.passed { "ok  " } else { "FAIL" }, c.name, c.detail);
    }
    println!(
        "selftest: {} passed, {failed} failed on {device}, {} ({:.1} s)",
        checks.len() - failed,
        crate::commands::bench::today(),
        t.elapsed().as_secs_f64()
    );
    Ok(if failed == 0 { 0 } else { 1 })
}
