//! `nfield view`: the seed's real-time app, on egui + wgpu.
//!
//! - [`app`]: the UI ([`app::Viewer`]), shared by the window and the headless mode;
//! - [`field`]: the field drawn every frame into an egui texture, per strategy;
//! - [`training`]: the background trainer thread (`nfield view IMAGE`);
//! - [`window`]: the eframe window, screenshots through `ViewportCommand::Screenshot`;
//! - [`headless`]: the same UI rendered off-screen, screenshots and `--bench`;
//! - [`script`]: scripted input (`--script`), injected as egui events.
//!
//! The field is rendered by `nfield_wgpu::FieldRenderer` on the UI's own wgpu device; a
//! trainer runs on its own engine and hands parameter snapshots over at a bounded rate.

pub mod app;
pub mod field;
pub mod headless;
pub mod script;
pub mod training;
pub mod window;

use crate::arch::ModelArgs;
use crate::commands::view::ViewArgs;
use crate::engines::EngineChoice;
use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use nfield::{InferOptions, Precision, Strategy};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How the field is evaluated (the seed's two compute strategies, plus a fragment shader).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FieldStrategy {
    /// A render pass whose fragment shader evaluates the field per pixel.
    Fragment,
    /// A compute kernel, one thread per pixel (the seed's "Per Pixel"; two neighbouring pixels
    /// for narrow SIREN and Fourier MLPs), then a blit.
    PerPixel,
    /// A compute kernel, a workgroup per tile of pixels (the seed's "Cooperative"), then a blit.
    Cooperative,
    /// The cooperative kernel on the tensor cores (fp16 inputs, f32 accumulation; adapters with
    /// f16 cooperative matrices, such as NVIDIA's Vulkan driver), then a blit.
    CooperativeFp16,
}

impl FieldStrategy {
    /// Every strategy, in the order of the picker.
    pub const ALL: [FieldStrategy; 4] =
        [FieldStrategy::Fragment, FieldStrategy::PerPixel, FieldStrategy::Cooperative, FieldStrategy::CooperativeFp16];

    /// The command-line name (also the widget name scripts click).
    pub fn name(self) -> &'static str {
        match self {
            FieldStrategy::Fragment => "fragment",
            FieldStrategy::PerPixel => "per-pixel",
            FieldStrategy::Cooperative => "cooperative",
            FieldStrategy::CooperativeFp16 => "cooperative-fp16",
        }
    }

    /// The compute kernel's inference options (`None`: the fragment shader).
    pub fn infer_options(self) -> Option<InferOptions> {
        let (strategy, precision) = match self {
            FieldStrategy::Fragment => return None,
            FieldStrategy::PerPixel => (Strategy::PerPixel, Precision::Fp32),
            FieldStrategy::Cooperative => (Strategy::Cooperative, Precision::Fp32),
            FieldStrategy::CooperativeFp16 => (Strategy::Cooperative, Precision::Fp16),
        };
        Some(InferOptions { strategy, precision })
    }
}

/// What the viewer shows.
#[derive(Debug)]
pub enum Source {
    /// Model files to pick from.
    Models(Vec<PathBuf>),
    /// An image to train on.
    Image(PathBuf),
}

/// Everything `nfield view` was asked to do.
#[derive(Debug)]
pub struct ViewOptions {
    /// Models or an image.
    pub source: Source,
    /// The initial strategy.
    pub strategy: FieldStrategy,
    /// Window or off-screen size in physical pixels.
    pub size: (u32, u32),
    /// No window.
    pub headless: bool,
    /// Quit after this many frames.
    pub frames: Option<u64>,
    /// Whole-UI screenshot path.
    pub screenshot: Option<PathBuf>,
    /// Field-only screenshot path.
    pub field_png: Option<PathBuf>,
    /// Parsed `--script`.
    pub script: Option<script::Script>,
    /// `--bench` output.
    pub bench: Option<PathBuf>,
    /// Where "Save model" writes.
    pub save_model: PathBuf,
    /// Where "Save PNG" writes.
    pub save_png: PathBuf,
    /// Training: architecture flags (the UI edits a copy).
    pub arch: ModelArgs,
    /// Training: learning rate override.
    pub lr: Option<f32>,
    /// Training: batch override.
    pub batch: Option<u32>,
    /// Training: longest side of the image.
    pub max_dim: u32,
    /// Training: seed.
    pub seed: u64,
    /// Training: start at once.
    pub start: bool,
    /// Training: engine.
    pub engine: EngineChoice,
    /// The command line, for benchmark records.
    pub command: String,
}

fn is_model_file(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("json") || e.eq_ignore_ascii_case("safetensors"))
}

impl ViewOptions {
    /// Checks the arguments and reads the script.
    pub fn from_args(a: ViewArgs) -> Result<ViewOptions> {
        let models = a.inputs.iter().filter(|p| is_model_file(p)).count();
        let source = if models == a.inputs.len() {
            Source::Models(a.inputs.clone())
        } else if a.inputs.len() == 1 {
            Source::Image(a.inputs[0].clone())
        } else {
            bail!("give model files (.json, .safetensors) to view, or one image to train on, not both");
        };
        let first = &a.inputs[0];
        let stem = first.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "view".into());
        let save_model =
            a.save_model.clone().unwrap_or_else(|| PathBuf::from(format!("{stem}.{}.json", a.arch.model.name())));
        let save_png = a.save_png.clone().unwrap_or_else(|| PathBuf::from(format!("{stem}.view.png")));
        let script = match &a.script {
            Some(p) => Some(script::Script::load(p)?),
            None => None,
        };
        if a.headless && a.frames.is_none() && script.is_none() && a.bench.is_none() && a.screenshot.is_none() {
            eprintln!("note: --headless without --frames or --script renders 3 frames");
        }
        Ok(ViewOptions {
            source,
            strategy: a.strategy,
            size: a.size,
            headless: a.headless,
            frames: a.frames,
            screenshot: a.screenshot,
            field_png: a.field_png,
            script,
            bench: a.bench,
            save_model,
            save_png,
            arch: a.arch,
            lr: a.lr,
            batch: a.batch,
            max_dim: a.max_dim,
            seed: a.seed,
            start: a.start,
            engine: a.engine,
            command: std::env::args().collect::<Vec<_>>().join(" "),
        })
    }
}

/// Runs the viewer (window or headless); returns the exit code.
pub fn run(opts: ViewOptions) -> Result<u8> {
    if opts.headless { headless::run(opts) } else { window::run(opts) }
}

/// What the UI draws with: the device, its queue and egui's renderer.
pub struct Gfx<'a> {
    /// The device (egui's and the field's).
    pub device: &'a wgpu::Device,
    /// Its queue.
    pub queue: &'a wgpu::Queue,
    /// egui's renderer, where the field's texture is registered.
    pub renderer: &'a Arc<egui::mutex::RwLock<egui_wgpu::Renderer>>,
}

/// Saves 8-bit RGBA pixels (`width·height·4`, row-major) as an RGB PNG, atomically.
pub fn save_rgba_png(path: &Path, width: u32, height: u32, rgba: &[u8]) -> Result<()> {
    let rgb: Vec<f32> = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]].map(|v| v as f32 / 255.0)).collect();
    let image = nfield::data::Image::new(width, height, rgb).with_context(|| format!("{}", path.display()))?;
    image.save_png(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
