//! The one abstraction every engine implements.
//!
//! An engine holds a model on its device, trains it against a target image, evaluates it, and
//! hands it back. Everything the seed's app does (live training, rendering, evaluation) is a loop
//! over [`Engine::train`] and [`Engine::infer`]. The CPU engine ([`crate::cpu::CpuEngine`]) is
//! the reference every other engine is tested against.
//!
//! Required methods and why each exists:
//! - [`load`](Engine::load) uploads a model, its target and the recipe once; nothing crosses the
//!   bus per step afterwards;
//! - [`train`](Engine::train) runs `n` whole optimizer steps on the device and reports only the
//!   last loss, so callers decide how often to synchronise;
//! - [`infer`](Engine::infer) + [`read_output`](Engine::read_output) are split so a benchmark can
//!   time device work without the copy, and a renderer can keep the output on the device;
//! - [`evaluate`](Engine::evaluate) is full-target PSNR, which GPU engines reduce on the device;
//! - [`model`](Engine::model) and the optimizer-state pair make checkpoints and resumption exact.

use crate::Result;
use crate::data::Image;
use crate::model::{Coords, Model, View};
use crate::train::{AdamState, Evaluation, StepStats, TrainOptions};

/// Where to evaluate the model.
#[derive(Clone, Copy, Debug)]
pub enum Query<'a> {
    /// A `width × height` pixel grid in the given convention, showing `view` of the model's unit
    /// square. Outputs are row-major RGB; pixels outside the image (letterbox) are black.
    Grid {
        /// Columns.
        width: u32,
        /// Rows.
        height: u32,
        /// Grid rule and range.
        coords: Coords,
        /// The part of the unit square shown.
        view: View,
    },
    /// Explicit positions, `(N, 2)` row-major in the model's input range; outputs are `(N, 3)`.
    Points(&'a [f32]),
}

impl Query<'_> {
    /// The number of samples the query produces.
    pub fn len(&self) -> usize {
        match self {
            Query::Grid { width, height, .. } => *width as usize * *height as usize,
            Query::Points(p) => p.len() / 2,
        }
    }

    /// Whether the query produces no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How an inference kernel is organised (the seed's two strategies, plus a fragment shader).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// The engine's fastest choice.
    #[default]
    Auto,
    /// One thread per pixel, the whole MLP in private memory.
    PerPixel,
    /// A group of threads evaluates a tile of pixels together (shared weights, matrix units).
    Cooperative,
    /// A fragment shader writing a texture (wgpu only).
    Fragment,
    /// Per-pixel with the MLP's weights compiled into the kernel as constants (wgpu only): no
    /// weight loads, the fastest fp32 inference of a model rendered many times, at the price of
    /// a compile of seconds per weight set.
    Baked,
}

impl Strategy {
    /// The strategy's name as the CLI spells it (`--strategy per-pixel`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::PerPixel => "per-pixel",
            Strategy::Cooperative => "cooperative",
            Strategy::Fragment => "fragment",
            Strategy::Baked => "baked",
        }
    }
}

/// Arithmetic precision of an engine's kernels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// f32 everywhere (the CPU engine's only mode).
    #[default]
    Fp32,
    /// TensorFloat-32 matrix products, f32 elsewhere.
    Tf32,
    /// bf16 matrix inputs, f32 accumulation.
    Bf16,
    /// fp16 matrix inputs, f32 accumulation.
    Fp16,
}

/// Options of one inference call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InferOptions {
    /// Kernel strategy.
    pub strategy: Strategy,
    /// Precision.
    pub precision: Precision,
}

/// A device that trains and evaluates neural fields. See the module documentation for why each
/// method exists; all are required.
pub trait Engine {
    /// A short name for logs and benchmark records (`nfield-cpu`, `nfield-cuda`, ...).
    fn name(&self) -> &str;

    /// The device in words (CPU model and thread count, GPU name).
    fn device(&self) -> String;

    /// Uploads a model, the training target (optional: an inference-only engine needs none) and
    /// the recipe. Resets the optimizer state to zero.
    fn load(&mut self, model: &Model, target: Option<&Image>, opts: &TrainOptions) -> Result<()>;

    /// Runs `steps` optimizer steps (sampling, forward, loss, backward, Adam on the device).
    fn train(&mut self, steps: u32) -> Result<StepStats>;

    /// Evaluates the model at `query` into the engine's own output buffer; returns the number of
    /// RGB samples written.
    fn infer(&mut self, query: &Query<'_>, opts: &InferOptions) -> Result<usize>;

    /// Copies the last inference output (`3 × n` floats) to the host.
    fn read_output(&mut self, out: &mut [f32]) -> Result<()>;

    /// PSNR and MSE of the current model over the loaded target (or its training subset), with
    /// the outputs clamped to [0, 1] first (DESIGN.md's convention: RGB in [0, 1], as an image
    /// shows it; only linear-output models ever leave that range).
    fn evaluate(&mut self) -> Result<Evaluation>;

    /// The current parameters as a host model.
    fn model(&self) -> Result<Model>;

    /// Adam's current state (for checkpoints).
    fn optimizer_state(&self) -> Result<AdamState>;

    /// Replaces Adam's state (to resume); its length must match the loaded model.
    fn set_optimizer_state(&mut self, state: &AdamState) -> Result<()>;
}
