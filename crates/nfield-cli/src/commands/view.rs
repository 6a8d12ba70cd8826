//! `nfield view`: the seed's real-time app (see [`crate::view`]).

use crate::arch::ModelArgs;
use crate::engines::EngineChoice;
use crate::view::{self, FieldStrategy, ViewOptions};
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;

/// Render models live, or train one live beside its ground truth.
///
/// `nfield view MODEL.json [MORE.json ...]` renders every frame at the window's resolution
/// through the wgpu engine (scroll to zoom, drag to pan; the field is continuous).
/// `nfield view IMAGE` trains a model on it live (CUDA, else a hardware wgpu GPU, else the CPU)
/// with the reconstruction beside the image. `--headless` renders off-screen (no display
/// needed) for tests, screenshots and benchmarks.
#[derive(Args, Debug)]
pub struct ViewArgs {
    /// Model files (seed JSON or safetensors) to pick from, or one image (PNG or JPEG) to train on.
    #[arg(value_name = "MODEL|IMAGE", required = true)]
    pub inputs: Vec<PathBuf>,
    /// How the field is evaluated on the GPU: a compute kernel (one thread per pixel, or a
    /// workgroup per tile) followed by a blit, or a fragment shader. Per-pixel is the default:
    /// the fastest on every model measured (BENCHMARKS.md).
    #[arg(long, value_enum, default_value_t = FieldStrategy::PerPixel)]
    pub strategy: FieldStrategy,
    /// Window (or off-screen frame) size in pixels, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    pub size: (u32, u32),
    /// Render off-screen, without a window (needs no display).
    #[arg(long, help_heading = "Scripting")]
    pub headless: bool,
    /// Quit after this many frames (with --screenshot: after saving it) [headless without
    /// --script: 3].
    #[arg(long, help_heading = "Scripting")]
    pub frames: Option<u64>,
    /// Save the whole UI as a PNG before quitting.
    #[arg(long, value_name = "OUT.png", help_heading = "Scripting")]
    pub screenshot: Option<PathBuf>,
    /// Save only the field's pixels (the reconstruction), cut from the screenshot, as a PNG.
    #[arg(long, value_name = "OUT.png", help_heading = "Scripting")]
    pub field_png: Option<PathBuf>,
    /// Drive the UI with scripted input: one command per line (`click NAME`, `key NAME`,
    /// `wait-frames N`, `wait-steps N`, `quit`; `#` starts a comment).
    #[arg(long, value_name = "FILE", help_heading = "Scripting")]
    pub script: Option<PathBuf>,
    /// Headless: time the field render of every frame and append a JSON record to FILE.
    #[arg(long, value_name = "FILE.jsonl", help_heading = "Scripting")]
    pub bench: Option<PathBuf>,
    /// Where "Save model" writes [IMAGE stem + .MODEL.json].
    #[arg(long, value_name = "MODEL.json", help_heading = "Output")]
    pub save_model: Option<PathBuf>,
    /// Where "Save PNG" writes [model or IMAGE stem + .view.png].
    #[arg(long, value_name = "OUT.png", help_heading = "Output")]
    pub save_png: Option<PathBuf>,
    /// Training: the model and its architecture (changeable in the UI; applied on Reset).
    #[command(flatten)]
    pub arch: ModelArgs,
    /// Training: Adam learning rate [siren 3e-3, fourier 1e-3, hash-grid 1e-2].
    #[arg(long, help_heading = "Training")]
    pub lr: Option<f32>,
    /// Training: pixels per step [as `nfield train`].
    #[arg(long, help_heading = "Training")]
    pub batch: Option<u32>,
    /// Training: scale the image down so that its longer side is at most this many pixels.
    #[arg(long, default_value_t = 512, help_heading = "Training")]
    pub max_dim: u32,
    /// Training: seed of the initialisation and the sampler.
    #[arg(long, default_value_t = 0, help_heading = "Training")]
    pub seed: u64,
    /// Training: start at once instead of waiting for the Start button.
    #[arg(long, help_heading = "Training")]
    pub start: bool,
    /// Training: the engine that trains (the field is always drawn by wgpu).
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto, help_heading = "Training")]
    pub engine: EngineChoice,
}

fn parse_size(s: &str) -> std::result::Result<(u32, u32), String> {
    let (w, h) = s.split_once(['x', 'X', '×']).ok_or_else(|| format!("expected WIDTHxHEIGHT, got {s:?}"))?;
    let w: u32 = w.trim().parse().map_err(|e| format!("width {w:?}: {e}"))?;
    let h: u32 = h.trim().parse().map_err(|e| format!("height {h:?}: {e}"))?;
    if w == 0 || h == 0 || w > 8192 || h > 8192 {
        return Err(format!("{w}x{h}: each side must be 1 to 8192 pixels"));
    }
    Ok((w, h))
}

/// Runs `nfield view`.
pub fn run(args: ViewArgs) -> Result<u8> {
    if args.bench.is_some() && !args.headless {
        bail!("--bench needs --headless (the window's frame rate follows the display)");
    }
    view::run(ViewOptions::from_args(args)?)
}
