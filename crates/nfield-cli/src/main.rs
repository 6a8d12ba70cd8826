//! `nfield`: train, render, inspect, evaluate and benchmark neural fields.
//!
//! A thin `main` → `run()`: errors print as one `error: …` line (with their causes) and map to
//! fixed exit codes: 0 success, 1 error, 2 usage error (clap), 130 interrupted (after saving).

use clap::{Parser, Subcommand};
use nfield_cli::{commands, output};
use std::process::ExitCode;

/// Neural fields (SIREN, Fourier-feature MLPs, Instant-NGP hash grids) fitted to images.
#[derive(Parser)]
#[command(name = "nfield", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fit a model to an image; writes the model (seed JSON) and a PNG rendered from it.
    Train(Box<commands::train::TrainArgs>),
    /// Render a model file to a PNG at any resolution.
    Render(commands::render::RenderArgs),
    /// Show a model file's architecture, parameters, metadata and its PSNR on embedded samples.
    Info(commands::info::InfoArgs),
    /// PSNR and SSIM of a model against an image.
    Eval(commands::eval::EvalArgs),
    /// Measure training and inference throughput; writes JSON lines.
    Bench(commands::bench::BenchArgs),
    /// Run the GPU engine's test suite on this machine's GPU.
    Selftest(commands::selftest::SelftestArgs),
    /// Render models live in a window, or train one live beside its image (egui + wgpu).
    View(Box<commands::view::ViewArgs>),
    /// Matrix micro-benchmarks on CUDA: GEMM and GEMV, SIMT against tensor cores, checked against the CPU.
    Matbench(commands::matbench::MatbenchArgs),
}

fn main() -> ExitCode {
    nfield_cli::quiet_on_closed_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => commands::train::run(*a),
        Command::Render(a) => commands::render::run(a),
        Command::Info(a) => commands::info::run(a),
        Command::Eval(a) => commands::eval::run(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::Selftest(a) => commands::selftest::run(a),
        Command::Matbench(a) => commands::matbench::run(a),
        Command::View(a) => commands::view::run(*a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", output::error_chain(&e));
            ExitCode::from(1)
        }
    }
}
