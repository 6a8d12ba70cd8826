//! `nfield train`: fit a model to an image.

use super::target::TargetSchedule;
use crate::arch::ModelArgs;
use crate::engines::{AnyEngine, EngineChoice, PrecisionChoice, Request};
use crate::output::{self, LogRecord, Mode, Progress};
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use nfield::Engine;
use nfield::data::Image;
use nfield::format::{self, ModelFile};
use nfield::model::{Coords, Model, ModelKind, PixelGrid};
use nfield::train::{AdamConfig, AdamState, LrDecay, TrainOptions, psnr_from_mse};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `--coords`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GridChoice {
    /// Pixel centres, (i + 0.5)/W (the seed's Metal code, PyTorch, nfield).
    PixelCenters,
    /// numpy.linspace endpoints, i/(W − 1) (the seed's train.py).
    Linspace,
}

impl GridChoice {
    /// The grid rule.
    pub fn grid(self) -> PixelGrid {
        match self {
            GridChoice::PixelCenters => PixelGrid::Centers,
            GridChoice::Linspace => PixelGrid::Endpoints,
        }
    }
}

/// Fit a model to an image.
///
/// Writes the model in the seed's JSON schema (with 256 embedded ground-truth samples), an
/// optimizer checkpoint beside it for `--resume`, and a PNG rendered from the final weights.
/// Ctrl-C stops after the current step and saves everything.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The image to fit (PNG or JPEG).
    #[arg(value_name = "IMAGE")]
    pub input: PathBuf,
    /// Model architecture.
    #[command(flatten)]
    pub arch: ModelArgs,
    /// Optimizer steps [siren 2000, fourier 2000, hash-grid 500; with --target-psnr the limit:
    /// siren, fourier 20000, hash-grid 2000].
    #[arg(long, help_heading = "Training")]
    pub steps: Option<u64>,
    /// Stop as soon as a full-image evaluation reaches this PSNR (dB). Evaluations are placed
    /// by extrapolating the PSNR curve to the target, so few are spent (--eval-interval is
    /// ignored); --steps is the limit.
    #[arg(long, value_name = "DB", help_heading = "Training")]
    pub target_psnr: Option<f64>,
    /// Pixels per step, drawn with replacement [siren, fourier 16384; hash-grid 262144 on a GPU,
    /// 65536 on the CPU].
    #[arg(long, help_heading = "Training")]
    pub batch: Option<u32>,
    /// Adam learning rate [siren 3e-3, fourier 1e-3, hash-grid 1e-2].
    #[arg(long, allow_negative_numbers = true, help_heading = "Training")]
    pub lr: Option<f32>,
    /// Adam β1 [0.9].
    #[arg(long, allow_negative_numbers = true, help_heading = "Training")]
    pub beta1: Option<f32>,
    /// Adam β2 [0.999; hash-grid 0.99].
    #[arg(long, allow_negative_numbers = true, help_heading = "Training")]
    pub beta2: Option<f32>,
    /// Adam ε [1e-8; hash-grid 1e-15].
    #[arg(long, allow_negative_numbers = true, help_heading = "Training")]
    pub eps: Option<f32>,
    /// Adam without bias correction (the seed's MLX trainer).
    #[arg(long, help_heading = "Training")]
    pub no_bias_correction: bool,
    /// Learning-rate step decay: multiply the rate by this factor, in (0, 1], every
    /// --lr-decay-every steps from step --lr-decay-start [hash-grid on a GPU: 0.7; else 1: none].
    #[arg(long, help_heading = "Training")]
    pub lr_decay_factor: Option<f32>,
    /// Steps per learning-rate decay interval [hash-grid on a GPU: 50; else 100].
    #[arg(long, help_heading = "Training")]
    pub lr_decay_every: Option<u64>,
    /// Steps at the full learning rate before the decay's first interval [hash-grid on a GPU:
    /// 200; else 0].
    #[arg(long, help_heading = "Training")]
    pub lr_decay_start: Option<u64>,
    /// Seed of the initialisation and of the pixel sampler.
    #[arg(long, default_value_t = 0, help_heading = "Training")]
    pub seed: u64,
    /// Scale the image down (Lanczos) so that its longer side is at most this many pixels.
    #[arg(long, help_heading = "Training")]
    pub max_dim: Option<u32>,
    /// Coordinate grid of a new model.
    #[arg(long, value_enum, default_value_t = GridChoice::PixelCenters, help_heading = "Training")]
    pub coords: GridChoice,
    /// Continue training a model file written by nfield (Adam's state comes from the
    /// `.adam.safetensors` checkpoint beside it); --steps counts additional steps.
    #[arg(long, value_name = "MODEL", help_heading = "Training")]
    pub resume: Option<PathBuf>,
    /// Model file to write, JSON or (`.safetensors`) safetensors [IMAGE stem + .MODEL.json in the
    /// current directory; the --resume file when resuming].
    #[arg(short, long, value_name = "MODEL", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// PNG rendered from the final model at the training resolution [model file with .png].
    #[arg(long = "image", value_name = "OUT.png", help_heading = "Output")]
    pub image_out: Option<PathBuf>,
    /// Do not write a PNG.
    #[arg(long, help_heading = "Output")]
    pub no_image: bool,
    /// Ground-truth samples embedded in the model file (the seed's files have 256).
    #[arg(long, default_value_t = 256, help_heading = "Output")]
    pub samples: u32,
    /// Seed of the embedded-sample selection.
    #[arg(long, default_value_t = 1337, help_heading = "Output")]
    pub sample_seed: u64,
    /// Steps between log lines.
    #[arg(long, default_value_t = 50, help_heading = "Output")]
    pub log_interval: u64,
    /// Steps between full-image PSNR evaluations (0: only at the end).
    #[arg(long, default_value_t = 250, help_heading = "Output")]
    pub eval_interval: u64,
    /// One JSON object per log interval on stdout instead of a progress display.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(short, long, help_heading = "Output")]
    pub quiet: bool,
    /// Engine to train on.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto, help_heading = "Engine")]
    pub engine: EngineChoice,
    /// Arithmetic of the matrix products on engines that have a choice [default: fp16 on CUDA,
    /// fp32 on wgpu]. CUDA: fp16 or bf16 on the tensor cores with fp32 accumulation and fp32
    /// master weights, or fp32 everywhere on the SIMT cores, ~4× slower; tf32 on the tensor
    /// cores through the weight-streaming step (widths up to 128 for 8 hidden layers). fp16 is
    /// CUDA's default: SIREN's and the Fourier MLP's activations are bounded, so fp16's 3 extra
    /// mantissa bits cost no range; its gradients are 3× or more closer to f64 than bf16's
    /// (BENCHMARKS.md), at the same speed. wgpu: fp32, or fp16: the weight gradients' products on
    /// cooperative matrices where the device has them (the tensor cores; +6 % for SIREN-64×8 on
    /// an H100, BENCHMARKS.md), else fp32 with a notice. The CPU engine computes in fp32.
    #[arg(long, value_enum, help_heading = "Engine")]
    pub precision: Option<PrecisionChoice>,
    /// CPU threads [all cores].
    #[arg(long, help_heading = "Engine")]
    pub threads: Option<usize>,
    /// Bit-identical results run to run on every engine: CUDA's hash grid then adds its table
    /// gradient as 64-bit fixed point instead of float atomics (slower; everything else, and
    /// the CPU engine, is deterministic already).
    #[arg(long, help_heading = "Engine")]
    pub deterministic: bool,
}

/// Set by Ctrl-C; the training loop stops at the next step boundary and saves.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler (once per process).
pub fn install_interrupt_handler() {
    // An error means a handler exists already; the run still works, it just cannot save.
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

/// Whether Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

struct Recipe {
    steps: u64,
    opts: TrainOptions,
}

/// The default recipe of a new `kind` model (batch, Adam, decay), for `nfield train` and
/// `nfield view`: `on_gpu` when the engine that trains it is CUDA.
pub(crate) fn default_options(kind: ModelKind, on_gpu: bool, seed: u64) -> TrainOptions {
    let hash = kind == ModelKind::HashGrid;
    TrainOptions {
        batch: match (hash, on_gpu) {
            (true, true) => 1 << 18,
            (true, false) => 1 << 16,
            (false, _) => 1 << 14,
        },
        seed,
        adam: AdamConfig {
            lr: match kind {
                ModelKind::Siren => 3e-3,
                ModelKind::Fourier => 1e-3,
                ModelKind::HashGrid => 1e-2,
            },
            beta2: if hash { 0.99 } else { 0.999 },
            eps: if hash { 1e-15 } else { 1e-8 },
            // lr 1e-2 makes the hash grid's PSNR swing by several dB from step to step; decayed
            // from step 200 it settles (H100, target.jpeg, seeds 0-2, 500 steps: 52.3-53.3 dB
            // against 40.8-42.8 at a constant rate; BENCHMARKS.md).
            decay: if hash && on_gpu { LrDecay { start: 200, every: 50, factor: 0.7 } } else { LrDecay::NONE },
            ..Default::default()
        },
        ..Default::default()
    }
}

fn recipe(args: &TrainArgs, kind: ModelKind, checkpoint: Option<&TrainOptions>, on_gpu: bool) -> Recipe {
    let hash = kind == ModelKind::HashGrid;
    let base = checkpoint.cloned().unwrap_or_else(|| default_options(kind, on_gpu, args.seed));
    let adam = AdamConfig {
        lr: args.lr.unwrap_or(base.adam.lr),
        beta1: args.beta1.unwrap_or(base.adam.beta1),
        beta2: args.beta2.unwrap_or(base.adam.beta2),
        eps: args.eps.unwrap_or(base.adam.eps),
        bias_correction: base.adam.bias_correction && !args.no_bias_correction,
        decay: LrDecay {
            start: args.lr_decay_start.unwrap_or(base.adam.decay.start),
            every: args.lr_decay_every.unwrap_or(if base.adam.decay == LrDecay::NONE {
                100
            } else {
                base.adam.decay.every
            }),
            factor: args.lr_decay_factor.unwrap_or(base.adam.decay.factor),
        },
    };
    let steps = args.steps.unwrap_or(match (hash, args.target_psnr.is_some()) {
        (true, false) => 500,
        (true, true) => 2000,
        (false, false) => 2000,
        (false, true) => 20000,
    });
    let batch = args.batch.unwrap_or(base.batch);
    Recipe { steps, opts: TrainOptions { batch, adam, deterministic: args.deterministic, ..base } }
}

/// Output paths: the model file and (unless disabled) the PNG. The model file's extension picks
/// its format (`.safetensors`, any case: safetensors; anything else: the seed's JSON schema);
/// the PNG defaults to the model path with `.png`.
fn output_paths(args: &TrainArgs) -> Result<(PathBuf, Option<PathBuf>)> {
    let model = match (&args.output, &args.resume) {
        (Some(o), _) => o.clone(),
        (None, Some(r)) => r.clone(),
        (None, None) => {
            let stem =
                args.input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
            PathBuf::from(format!("{stem}.{}.json", args.arch.model.name()))
        }
    };
    if model.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
        bail!("{}: the model file should end in .json or .safetensors (use --image for the PNG)", model.display());
    }
    let png = (!args.no_image).then(|| args.image_out.clone().unwrap_or_else(|| model.with_extension("png")));
    for out in std::iter::once(&model).chain(png.as_ref()) {
        if same_file(out, &args.input) {
            bail!("{}: refusing to overwrite the input image", out.display());
        }
    }
    Ok((model, png))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Runs `nfield train`.
pub fn run(args: TrainArgs) -> Result<u8> {
    let mode = Mode::pick(args.json, args.quiet);
    if let Some(db) = args.target_psnr
        && !(db.is_finite() && db > 0.0)
    {
        bail!("`target-psnr`: expected a PSNR in dB above 0, got {db}");
    }
    let (model_path, png_path) = output_paths(&args)?;
    // Every output must be writable before any training is spent on it.
    for out in [Some(&model_path), png_path.as_ref()].into_iter().flatten() {
        format::check_writable(out)?;
    }
    let image = Image::load(&args.input, args.max_dim)?;
    // The defaults that depend on the engine (the hash grid's) follow the one that will run.
    let on_gpu = crate::engines::prefers_cuda(args.engine);

    // The model: fresh, or resumed with its optimizer state.
    let (model, state, checkpoint) = match &args.resume {
        Some(path) => {
            let file = format::read_model(path)?;
            let ckpt_path = format::checkpoint_path(path);
            let (state, ckpt) = if ckpt_path.is_file() {
                let (s, o) = format::read_checkpoint(&ckpt_path)?;
                (Some(s), Some(o))
            } else {
                if mode != Mode::Quiet {
                    eprintln!("warning: {} not found; Adam starts from zero", ckpt_path.display());
                }
                (None, None)
            };
            (file.model, state, ckpt)
        }
        None => {
            let spec = args.arch.spec(on_gpu);
            let mut model = Model::new(spec, args.seed)?;
            model.coords = Coords { range: model.kind().coord_range(), grid: args.coords.grid() };
            (model, None, None)
        }
    };
    if args.resume.is_none() {
        let ignored = args.arch.ignored();
        if !ignored.is_empty() && mode != Mode::Quiet {
            eprintln!("warning: {} do(es) not apply to --model {}", ignored.join(", "), args.arch.model.name());
        }
    }
    let Recipe { steps, opts } = recipe(&args, model.kind(), checkpoint.as_ref(), on_gpu);
    opts.validate()?;

    let mut engine = AnyEngine::select(Request {
        choice: args.engine,
        threads: args.threads,
        precision: args.precision.map(PrecisionChoice::precision),
        train: Some(&model.spec),
        quiet: mode == Mode::Quiet || mode == Mode::Json,
    })?;
    engine.load(&model, Some(&image), &opts).with_context(|| format!("loading {}", args.input.display()))?;
    if let Some(s) = &state {
        if s.m.len() != model.params.len() {
            bail!(
                "{}: the checkpoint has {} moments for a model of {} parameters",
                format::checkpoint_path(args.resume.as_deref().unwrap_or(Path::new("model"))).display(),
                s.m.len(),
                model.params.len()
            );
        }
        engine.set_optimizer_state(s)?;
    }
    let start = state.as_ref().map_or(0, |s| s.step);
    let total = start + steps;
    if mode != Mode::Quiet && mode != Mode::Json {
        eprintln!(
            "{} on {}×{} px; {} parameters; batch {}, lr {}, {} steps{}",
            model.spec.describe(),
            image.width,
            image.height,
            model.params.len(),
            opts.batch,
            opts.adam.lr,
            steps,
            if start > 0 { format!(" (resuming at step {start})") } else { String::new() }
        );
    }

    install_interrupt_handler();
    let mut progress = Progress::new(mode, start, total);
    let mut target = args.target_psnr.map(|db| TargetSchedule::new(db, steps));
    let run = train_loop(&mut engine, &args, &opts, start, total, target.as_mut(), &mut progress);
    progress.finish();
    let (reached, train_time, target_met) = run?;

    // Save: model (+ samples), checkpoint, PNG — from the same final parameters.
    let final_eval = engine.evaluate()?;
    let model = engine.model()?;
    let samples = format::embed_samples(model.coords, &image, args.samples, args.sample_seed);
    let file = ModelFile { model, samples: (args.samples > 0).then_some(samples) };
    format::write_model(&model_path, &file)?;
    let state: AdamState = engine.optimizer_state()?;
    format::write_checkpoint(&format::checkpoint_path(&model_path), &state, &opts)?;
    if let Some(png) = &png_path {
        let opts = crate::engines::infer_options(&engine, crate::engines::StrategyChoice::Auto, PrecisionChoice::Fp32);
        let img =
            crate::engines::render(&mut engine, &file.model, image.width, image.height, file.model.coords, &opts)?;
        img.save_png(png)?;
    }

    let steps_done = reached - start;
    let rate = steps_done as f64 * opts.batch as f64 / train_time.as_secs_f64().max(1e-9);
    let interrupted = interrupted();
    if mode == Mode::Json {
        let done = serde_json::json!({
            "done": !interrupted, "interrupted": interrupted, "step": reached, "psnr_db": final_eval.psnr_db,
            "samples_per_s": rate, "train_seconds": train_time.as_secs_f64(),
            "target_psnr_db": args.target_psnr, "reached_target": args.target_psnr.map(|_| target_met),
            "model": model_path, "image": png_path, "engine": engine.name(),
        });
        println!("{done}");
    } else if mode != Mode::Quiet {
        let what = match (interrupted, args.target_psnr) {
            (true, _) => format!("interrupted at step {reached}"),
            (false, Some(db)) if target_met => format!("reached {db} dB at step {reached}"),
            (false, Some(db)) => format!("did not reach {db} dB in {steps_done} steps (raise --steps)"),
            (false, None) => format!("trained {steps_done} steps"),
        };
        eprintln!(
            "{what} in {} ({} samples/s): PSNR {:.2} dB; wrote {}{}",
            output::duration(train_time),
            output::si(rate),
            final_eval.psnr_db,
            model_path.display(),
            png_path.as_ref().map(|p| format!(", {}", p.display())).unwrap_or_default()
        );
    }
    Ok(if interrupted { crate::EXIT_INTERRUPTED } else { 0 })
}

/// Trains from `start` to `total` steps in blocks of about 0.2 s, logging and evaluating at
/// their intervals (or where `target` schedules its evaluations), stopping early on Ctrl-C or
/// when `target` is met. Returns the step reached, the training time (evaluations excluded)
/// and whether the target was met.
fn train_loop(
    engine: &mut AnyEngine,
    args: &TrainArgs,
    opts: &TrainOptions,
    start: u64,
    total: u64,
    mut target: Option<&mut TargetSchedule>,
    progress: &mut Progress,
) -> Result<(u64, Duration, bool)> {
    let log_every = args.log_interval.max(1);
    let t0 = Instant::now();
    let mut train_time = Duration::ZERO;
    let mut step = start;
    let mut block = 1u64;
    let (mut rate_steps, mut rate_time) = (0u64, Duration::ZERO);
    let mut met = false;
    while step < total && !interrupted() && !met {
        let next_log = (step / log_every + 1) * log_every;
        let next_eval = match &target {
            Some(t) => start + t.next_eval(),
            None => step.checked_div(args.eval_interval).map_or(u64::MAX, |k| (k + 1) * args.eval_interval),
        };
        let n = block.min(next_log - step).min(next_eval - step).min(total - step);
        let t = Instant::now();
        let stats = engine.train(n as u32).with_context(|| format!("training step {}", step + 1))?;
        let dt = t.elapsed();
        train_time += dt;
        rate_steps += n;
        rate_time += dt;
        step = stats.step;
        // Aim for blocks of ~0.2 s so Ctrl-C and the display stay responsive.
        let per_step = dt.as_secs_f64() / n as f64;
        block = ((0.2 / per_step.max(1e-9)) as u64).clamp(1, 10_000);

        let eval_now = match &target {
            Some(_) => step == next_eval,
            None => args.eval_interval > 0 && step.is_multiple_of(args.eval_interval),
        };
        let log_now = step.is_multiple_of(log_every) || step == total || eval_now;
        let eval_psnr_db = if eval_now { Some(engine.evaluate()?.psnr_db) } else { None };
        if let (Some(t), Some(db)) = (target.as_deref_mut(), eval_psnr_db) {
            met = t.record(step - start, db);
        }
        let record = LogRecord {
            step,
            total_steps: total,
            loss: stats.loss,
            train_psnr_db: psnr_from_mse(stats.loss as f64),
            eval_psnr_db,
            samples_per_s: rate_steps as f64 * opts.batch as f64 / rate_time.as_secs_f64().max(1e-9),
            elapsed_s: t0.elapsed().as_secs_f64(),
        };
        progress.record(&record, log_now);
        if log_now {
            (rate_steps, rate_time) = (0, Duration::ZERO);
        }
    }
    if interrupted() {
        progress.note(&format!("interrupted at step {step}: saving"));
    }
    Ok((step, train_time, met))
}
