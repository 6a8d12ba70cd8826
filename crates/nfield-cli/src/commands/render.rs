//! `nfield render`: a model file to a PNG at any resolution.

use crate::engines::{self, AnyEngine, EngineChoice, PrecisionChoice, Request, StrategyChoice};
use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use nfield::model::{Coords, PixelGrid};
use nfield::train::TrainOptions;
use nfield::{Engine, format};
use std::path::PathBuf;

/// `--coords` of a render.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RenderCoords {
    /// The convention recorded in the file (train.py's linspace endpoints when none is).
    File,
    /// Pixel centres, (i + 0.5)/W: what the seed's Metal renderer does.
    PixelCenters,
    /// numpy.linspace endpoints, i/(W − 1): what the seed's train.py trained on.
    Linspace,
}

/// Render a model file to a PNG.
///
/// The default size is the training image's (from the file's metadata; 512×512 when it has
/// none). Give one of --width / --height to keep the aspect ratio, or both to letterbox the
/// field into that frame as the seed's renderer does. The field is continuous: sizes above
/// the training resolution show what the network learned between pixels.
#[derive(Args, Debug)]
pub struct RenderArgs {
    /// The model file: the seed's JSON schema, or safetensors (`.safetensors`).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// The PNG to write.
    #[arg(short, long, value_name = "OUT.png")]
    pub output: PathBuf,
    /// Width in pixels.
    #[arg(long)]
    pub width: Option<u32>,
    /// Height in pixels.
    #[arg(long)]
    pub height: Option<u32>,
    /// Where pixel centres sit in the model's input space.
    #[arg(long, value_enum, default_value_t = RenderCoords::File)]
    pub coords: RenderCoords,
    /// Engine to render on.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// Kernel strategy on engines that have a choice.
    #[arg(long, value_enum, default_value_t = StrategyChoice::Auto)]
    pub strategy: StrategyChoice,
    /// Arithmetic on engines that have a choice (CUDA per-pixel: fp32; cooperative: bf16 or
    /// fp16 on the tensor cores; wgpu: fp32, or fp16 in the cooperative strategy where the
    /// adapter has f16 cooperative matrices).
    #[arg(long, value_enum, default_value_t = PrecisionChoice::Fp32)]
    pub precision: PrecisionChoice,
    /// CPU threads [all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The largest render: 2^28 pixels (16384 × 16384).
const MAX_RENDER_PIXELS: u64 = 1 << 28;

/// Runs `nfield render`.
pub fn run(args: RenderArgs) -> Result<u8> {
    let file = format::read_model(&args.model)?;
    let model = file.model;
    let (tw, th) = model.image.map_or((512, 512), |i| (i.width, i.height));
    let (width, height) = match (args.width, args.height) {
        (Some(w), Some(h)) => (w, h),
        (Some(w), None) => (w, ((w as f64 * th as f64 / tw as f64).round() as u32).max(1)),
        (None, Some(h)) => (((h as f64 * tw as f64 / th as f64).round() as u32).max(1), h),
        (None, None) => (tw, th),
    };
    if width == 0 || height == 0 {
        bail!("invalid size {width}×{height}: --width and --height must be at least 1");
    }
    if width as u64 * height as u64 > MAX_RENDER_PIXELS {
        bail!("invalid size {width}×{height}: at most {MAX_RENDER_PIXELS} pixels can be rendered");
    }
    let coords = match args.coords {
        RenderCoords::File => model.coords,
        RenderCoords::PixelCenters => Coords { grid: PixelGrid::Centers, ..model.coords },
        RenderCoords::Linspace => Coords { grid: PixelGrid::Endpoints, ..model.coords },
    };
    nfield::format::check_writable(&args.output)?;
    let mut engine = AnyEngine::select(Request {
        choice: args.engine,
        threads: args.threads,
        precision: Some(args.precision.precision()),
        train: None,
        quiet: args.quiet,
    })?;
    engine.load(&model, None, &TrainOptions::default())?;
    let opts = engines::infer_options(&engine, args.strategy, args.precision);
    if opts.strategy == nfield::Strategy::Baked && !args.quiet {
        eprintln!(
            "compiling the model's weights into the shader (seconds: the baked strategy pays off over many renders)"
        );
    }
    let t = std::time::Instant::now();
    let image = engines::render(&mut engine, &model, width, height, coords, &opts)?;
    let dt = t.elapsed();
    image.save_png(&args.output)?;
    if !args.quiet {
        eprintln!(
            "rendered {} at {width}×{height} ({}) in {} on {}; wrote {}",
            args.model.display(),
            coords.describe(),
            crate::output::duration(dt),
            engine.name(),
            args.output.display()
        );
    }
    Ok(0)
}
