//! `train_siren`: the seed's SIREN training command (SPEC §5.3) with its flags, defaults and
//! log lines, on the best engine available, with the seed's bugs fixed:
//!
//! - `--train-batch` is honoured (the seed silently clamps it to 1024);
//! - the PNG and the JSON come from the same, final weights (the seed saves the "best"
//!   evaluation image but the final weights);
//! - `--limit N` trains on N random pixels and evaluates on those same pixels (the seed
//!   evaluates on the first N raster pixels and writes an N×1 strip); the PNG is the full image;
//! - the JSON has the full seed schema (metadata, model type, samples), not only `mlp`;
//! - EXIF orientation is applied; sampling is seeded (`--seed`), so runs are reproducible.

use anyhow::{Context, Result};
use clap::Parser;
use nfield::data::Image;
use nfield::format::{self, ModelFile};
use nfield::model::{Model, ModelSpec, SirenSpec};
use nfield::rng::{self, Stream};
use nfield::train::{AdamConfig, TrainOptions};
use nfield::{Engine, format::embed_samples};
use nfield_cli::commands::train::{install_interrupt_handler, interrupted};
use nfield_cli::engines::{self, AnyEngine, EngineChoice, PrecisionChoice, Request, StrategyChoice};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Train the seed's SIREN (2→64, 8×(64→64), 64→3, ω0 = 30) on an image.
#[derive(Parser, Debug)]
#[command(name = "train_siren", version, about, long_about = None)]
struct Args {
    /// Input image (PNG or JPEG).
    #[arg(short = 'i', long = "input", value_name = "path")]
    input: PathBuf,
    /// Where to write the trained weights (seed JSON schema).
    #[arg(short = 'w', long = "weights", value_name = "path", default_value = "trained_siren.json")]
    weights: PathBuf,
    /// Where to write the reconstruction PNG (rendered from the final weights).
    #[arg(short = 'o', long = "output-image", value_name = "path", default_value = "trained_output.png")]
    output_image: PathBuf,
    /// Training steps (at least 1).
    #[arg(short = 's', long = "steps", default_value_t = 500)]
    steps: u64,
    /// Steps between loss lines (at least 1).
    #[arg(short = 'l', long = "log-interval", default_value_t = 50)]
    log_interval: u64,
    /// Steps between full-dataset PSNR evaluations (at least 1).
    #[arg(short = 'e', long = "eval-interval", default_value_t = 50)]
    eval_interval: u64,
    /// Adam learning rate (at least 1e-6).
    #[arg(long = "lr", visible_alias = "learning-rate", default_value_t = 1e-3, allow_negative_numbers = true)]
    lr: f32,
    /// Train and evaluate on this many random pixels only.
    #[arg(long = "limit")]
    limit: Option<u32>,
    /// Samples per training step (honoured; the seed clamps it to 1024).
    #[arg(long = "train-batch", default_value_t = 2048)]
    train_batch: u32,
    /// Seed of the initialisation, the pixel sampler and the --limit subset.
    #[arg(long = "seed", default_value_t = 0)]
    seed: u64,
}

fn main() -> ExitCode {
    nfield_cli::quiet_on_closed_pipe();
    let args = Args::parse();
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", nfield_cli::output::error_chain(&e));
            ExitCode::from(1)
        }
    }
}

fn run(a: Args) -> Result<u8> {
    // The seed's clamps (SPEC §5.3), except the batch, which it clamped to [16, 1024].
    let steps = a.steps.max(1);
    let log_interval = a.log_interval.max(1);
    let eval_interval = a.eval_interval.max(1);
    let lr = a.lr.max(1e-6);
    let batch = a.train_batch.max(1);

    // Both outputs must be writable before any training is spent on them.
    format::check_writable(&a.weights)?;
    format::check_writable(&a.output_image)?;
    let image = Image::load(&a.input, None)?;
    let n_pixels = image.pixel_count() as u32;
    let subset = a.limit.map(|n| {
        let mut s = rng::choose_distinct(a.seed, Stream::Subset, n_pixels, n.max(1));
        s.sort_unstable();
        s
    });
    let model = Model::new(ModelSpec::Siren(SirenSpec::default()), a.seed)?;
    let opts = TrainOptions {
        batch,
        seed: a.seed,
        adam: AdamConfig { lr, ..Default::default() },
        subset,
        ..Default::default()
    };
    let mut engine = AnyEngine::select(Request {
        choice: EngineChoice::Auto,
        threads: None,
        precision: Some(nfield::Precision::Bf16),
        train: Some(&model.spec),
        quiet: false,
    })?;
    engine.load(&model, Some(&image), &opts).with_context(|| format!("loading {}", a.input.display()))?;
    println!(
        "Training SIREN on {} ({}×{}, {} pixels{}) with batch {batch}, lr {lr}, {steps} steps",
        a.input.display(),
        image.width,
        image.height,
        n_pixels,
        a.limit.map(|n| format!(", limited to {}", n.min(n_pixels))).unwrap_or_default()
    );

    install_interrupt_handler();
    let mut best_loss = f32::INFINITY;
    let mut last_eval = None;
    let mut step_time = 0.0f64;
    let mut s = 0u64;
    while s < steps && !interrupted() {
        // Steps run in blocks up to the next log or evaluation line; the loss is read back
        // only there.
        let next_log = if s.is_multiple_of(log_interval) { s } else { (s / log_interval + 1) * log_interval };
        let next_eval = ((s + 1).div_ceil(eval_interval) * eval_interval).max(1) - 1;
        let end = next_log.min(next_eval).min(steps - 1);
        let n = end - s + 1;
        let t = Instant::now();
        let stats = engine.train(n as u32)?;
        step_time += t.elapsed().as_secs_f64();
        s = end;
        best_loss = best_loss.min(stats.loss);
        let last = s == steps - 1;
        if s.is_multiple_of(log_interval) || last {
            println!("step {:4}  loss {:.6}", s + 1, stats.loss);
        }
        if (s + 1).is_multiple_of(eval_interval) || last {
            let ev = engine.evaluate()?;
            println!("          psnr {:.2} dB  mse {:.6}", ev.psnr_db, ev.mse);
            last_eval = Some(ev);
        }
        s += 1;
    }
    let done = s;
    let ev = match last_eval {
        Some(ev) if !interrupted() => ev,
        _ => engine.evaluate()?,
    };

    let trained = engine.model()?;
    let layout = trained.layout();
    let w0: Vec<String> = (0..8).map(|o| format!("{:.6}", trained.params[layout.layers[0].weights + o * 2])).collect();
    println!("Sample weights: [{}]", w0.join(", "));
    let opts = engines::infer_options(&engine, StrategyChoice::Auto, PrecisionChoice::Fp32);
    let png = engines::render(&mut engine, &trained, image.width, image.height, trained.coords, &opts)?;
    let px = png.to_rgb8();
    println!("Sample pixel RGBA: [{}, {}, {}, 255]", px[0], px[1], px[2]);

    let samples = embed_samples(trained.coords, &image, 256, 1337);
    format::write_model(&a.weights, &ModelFile { model: trained, samples: Some(samples) })?;
    png.save_png(&a.output_image)?;
    println!("Finished. Best loss {best_loss:.6}, PSNR {:.2} dB", ev.psnr_db);
    println!("Weights saved to {}", a.weights.display());
    println!("Reconstruction saved to {}", a.output_image.display());
    println!("Average training step {:.3} ms", 1e3 * step_time / done.max(1) as f64);
    Ok(if interrupted() { nfield_cli::EXIT_INTERRUPTED } else { 0 })
}
