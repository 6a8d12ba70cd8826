//! Run-time engine choice: one small enum over the engines this build has (candle's `Storage`
//! pattern), so the library never needs trait objects.

use anyhow::{Result, bail};
use clap::ValueEnum;
use nfield::cpu::CpuEngine;
use nfield::data::Image;
use nfield::model::ModelSpec;
use nfield::train::{AdamState, Evaluation, StepStats, TrainOptions};
use nfield::{Engine, InferOptions, Model, Precision, Query, Strategy};
use nfield_cuda::{CudaEngine, Gpu};
use nfield_wgpu::WgpuEngine;
use std::sync::{Arc, OnceLock};

/// GPU 0, opened once per process (the CLI asks twice: for the defaults that depend on the
/// engine, then for the engine), or why it cannot be used.
fn gpu0() -> std::result::Result<Arc<Gpu>, String> {
    static GPU: OnceLock<std::result::Result<Arc<Gpu>, String>> = OnceLock::new();
    GPU.get_or_init(|| Gpu::open(0).map(Arc::new).map_err(|e| e.to_string())).clone()
}

/// The wgpu adapter, opened once per process, or why none can be used.
fn wgpu0() -> std::result::Result<Arc<nfield_wgpu::Gpu>, String> {
    static GPU: OnceLock<std::result::Result<Arc<nfield_wgpu::Gpu>, String>> = OnceLock::new();
    GPU.get_or_init(|| nfield_wgpu::Gpu::open().map_err(|e| e.to_string())).clone()
}

/// Whether `choice` will run on CUDA if the model allows it (a usable GPU, and not `--engine
/// cpu`): what `nfield train` picks its GPU defaults by.
pub fn prefers_cuda(choice: EngineChoice) -> bool {
    choice != EngineChoice::Cpu && gpu0().is_ok()
}

/// `--engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineChoice {
    /// The fastest engine available (CUDA, else wgpu on a hardware GPU, else the CPU); prints
    /// its choice.
    Auto,
    /// The CPU engine (always available).
    Cpu,
    /// The CUDA engine (an NVIDIA GPU, compute capability 8.0 or newer).
    Cuda,
    /// The wgpu engine (any GPU through Vulkan, Metal or DX12; fp32, and fp16 cooperatively on
    /// cooperative-matrix hardware; also CPU Vulkan drivers such as lavapipe when asked for by
    /// name).
    Wgpu,
}

/// `--precision`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PrecisionChoice {
    /// f32 everywhere (SIMT FFMA on CUDA; the CPU engine's only mode).
    Fp32,
    /// TensorFloat-32 matrix operands on the tensor cores (10-bit mantissa, fp32 range), f32
    /// accumulation and master weights (CUDA training only).
    Tf32,
    /// bf16 matrix operands on the tensor cores, f32 accumulation and master weights.
    Bf16,
    /// fp16 matrix operands on the tensor cores, f32 accumulation and master weights.
    Fp16,
}

impl PrecisionChoice {
    /// The library's precision.
    pub fn precision(self) -> Precision {
        match self {
            PrecisionChoice::Fp32 => Precision::Fp32,
            PrecisionChoice::Tf32 => Precision::Tf32,
            PrecisionChoice::Bf16 => Precision::Bf16,
            PrecisionChoice::Fp16 => Precision::Fp16,
        }
    }
}

/// `--strategy` of inference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StrategyChoice {
    /// The engine's choice (CUDA: cooperative in bf16/fp16, per-pixel in fp32).
    Auto,
    /// One thread per pixel, the whole MLP in registers (the seed's "Per Pixel").
    PerPixel,
    /// A warp (CUDA: on the tensor cores) or workgroup (wgpu) evaluates a tile of pixels
    /// together (the seed's "Cooperative").
    Cooperative,
    /// A render pass whose fragment shader evaluates the field per pixel (wgpu only).
    Fragment,
    /// Per-pixel with the MLP's weights compiled into the shader as constants (wgpu only): the
    /// fastest fp32 inference of a fixed model, after a compile of seconds (SIREN-64×8: 5–10 s).
    Baked,
}

impl StrategyChoice {
    /// The library's strategy.
    pub fn strategy(self) -> Strategy {
        match self {
            StrategyChoice::Auto => Strategy::Auto,
            StrategyChoice::PerPixel => Strategy::PerPixel,
            StrategyChoice::Cooperative => Strategy::Cooperative,
            StrategyChoice::Fragment => Strategy::Fragment,
            StrategyChoice::Baked => Strategy::Baked,
        }
    }
}

/// What the caller needs from an engine.
pub struct Request<'a> {
    /// `--engine`.
    pub choice: EngineChoice,
    /// CPU threads (all cores when `None`).
    pub threads: Option<usize>,
    /// Training precision on engines that have a choice; `None`: each engine's default (CUDA
    /// fp16, wgpu fp32).
    pub precision: Option<Precision>,
    /// The model to train, when training (the CUDA engine does not train every model yet).
    pub train: Option<&'a ModelSpec>,
    /// No notice about the choice.
    pub quiet: bool,
}

/// An engine picked at run time.
pub enum AnyEngine {
    /// The CPU engine.
    Cpu(Box<CpuEngine>),
    /// The CUDA engine (boxed: it holds the GPU's buffers and kernels).
    Cuda(Box<CudaEngine>),
    /// The wgpu engine.
    Wgpu(Box<WgpuEngine>),
}

impl AnyEngine {
    /// Picks an engine. With `Auto`, a one-line notice on stderr says what was chosen and why
    /// (unless `quiet`); `Cuda` without a usable GPU is an error that says why.
    pub fn select(req: Request<'_>) -> Result<AnyEngine> {
        let cpu = || -> Result<AnyEngine> {
            Ok(AnyEngine::Cpu(Box::new(match req.threads {
                Some(n) => CpuEngine::with_threads(n)?,
                None => CpuEngine::new(),
            })))
        };
        let cuda_precision = req.precision.unwrap_or(Precision::Fp16);
        let cuda = || -> std::result::Result<CudaEngine, String> {
            let gpu = gpu0()?;
            if let Some(spec) = req.train {
                if !nfield_cuda::trains_on_cuda(spec) {
                    return Err(format!("the CUDA engine does not train {} yet", spec.describe()));
                }
                nfield_cuda::kernels::train_step(spec, cuda_precision, gpu.smem_optin).map_err(|e| e.to_string())?;
            }
            Ok(CudaEngine::on(gpu, cuda_precision))
        };
        // wgpu trains in fp16 where asked and the device has cooperative matrices (the reason
        // it has not goes into the notice), in fp32 otherwise
        let wgpu = |hardware_only: bool| -> std::result::Result<(WgpuEngine, String), String> {
            let gpu = wgpu0()?;
            if hardware_only && gpu.is_software() {
                return Err(format!("{} is a CPU driver", gpu.describe()));
            }
            let mut engine = WgpuEngine::on(gpu.clone());
            if req.train.is_none() || req.precision != Some(Precision::Fp16) {
                return Ok((engine, "fp32".into()));
            }
            match nfield_wgpu::train::fp16_support(&gpu) {
                Ok(()) => {
                    engine.set_training_precision(Precision::Fp16).map_err(|e| e.to_string())?;
                    Ok((engine, "fp16 on cooperative matrices".into()))
                }
                Err(why) => Ok((engine, format!("fp32: fp16 training needs cooperative matrices, but {why}"))),
            }
        };
        let announce = |e: &AnyEngine, why: String| {
            if !req.quiet {
                eprintln!("engine: {} on {}{why}", e.name(), e.device());
            }
        };
        let engine = match req.choice {
            EngineChoice::Cpu => cpu()?,
            EngineChoice::Cuda => match cuda() {
                Ok(e) => AnyEngine::Cuda(Box::new(e)),
                Err(why) => bail!("--engine cuda: {why}"),
            },
            EngineChoice::Wgpu => match wgpu(false) {
                Ok((e, precision)) => {
                    let e = AnyEngine::Wgpu(Box::new(e));
                    if req.train.is_some() {
                        announce(&e, format!(" ({precision})"));
                    }
                    e
                }
                Err(why) => bail!("--engine wgpu: {why}"),
            },
            EngineChoice::Auto => match cuda() {
                Ok(e) => {
                    let e = AnyEngine::Cuda(Box::new(e));
                    announce(&e, format!(" ({cuda_precision:?})"));
                    e
                }
                Err(cuda_why) => match wgpu(true) {
                    Ok((e, precision)) => {
                        let e = AnyEngine::Wgpu(Box::new(e));
                        announce(&e, format!(" ({precision}; CUDA: {cuda_why})"));
                        e
                    }
                    Err(wgpu_why) => {
                        let e = cpu()?;
                        announce(&e, format!(" (CUDA: {cuda_why}; wgpu: {wgpu_why})"));
                        e
                    }
                },
            },
        };
        Ok(engine)
    }
}

macro_rules! delegate {
    ($self:ident, $e:ident => $body:expr) => {
        match $self {
            AnyEngine::Cpu($e) => $body,
            AnyEngine::Cuda($e) => $body,
            AnyEngine::Wgpu($e) => $body,
        }
    };
}

impl Engine for AnyEngine {
    fn name(&self) -> &str {
        delegate!(self, e => e.name())
    }
    fn device(&self) -> String {
        delegate!(self, e => e.device())
    }
    fn load(&mut self, model: &Model, target: Option<&Image>, opts: &TrainOptions) -> nfield::Result<()> {
        delegate!(self, e => e.load(model, target, opts))
    }
    fn train(&mut self, steps: u32) -> nfield::Result<StepStats> {
        delegate!(self, e => e.train(steps))
    }
    fn infer(&mut self, query: &Query<'_>, opts: &InferOptions) -> nfield::Result<usize> {
        delegate!(self, e => e.infer(query, opts))
    }
    fn read_output(&mut self, out: &mut [f32]) -> nfield::Result<()> {
        delegate!(self, e => e.read_output(out))
    }
    fn evaluate(&mut self) -> nfield::Result<Evaluation> {
        delegate!(self, e => e.evaluate())
    }
    fn model(&self) -> nfield::Result<Model> {
        delegate!(self, e => e.model())
    }
    fn optimizer_state(&self) -> nfield::Result<AdamState> {
        delegate!(self, e => e.optimizer_state())
    }
    fn set_optimizer_state(&mut self, state: &AdamState) -> nfield::Result<()> {
        delegate!(self, e => e.set_optimizer_state(state))
    }
}

/// Renders `model` (already loaded in `engine`) on a `width × height` grid of its own
/// convention, letterboxed to its training aspect when that differs, into an image.
pub fn render(
    engine: &mut AnyEngine,
    model: &Model,
    width: u32,
    height: u32,
    coords: nfield::model::Coords,
    opts: &InferOptions,
) -> Result<Image> {
    let view = match model.image {
        Some(i) => nfield::model::View::aspect_fit(i.width, i.height, width, height),
        None => nfield::model::View::FULL,
    };
    let n = engine.infer(&Query::Grid { width, height, coords, view }, opts)?;
    let mut rgb = vec![0.0f32; 3 * n];
    engine.read_output(&mut rgb)?;
    Ok(Image::new(width, height, rgb)?)
}

/// The inference options for the engine in hand: the CPU engine computes in fp32 whatever was
/// asked; CUDA and wgpu take the strategy and precision asked for (wgpu: fp32, or fp16 in the
/// cooperative strategy on cooperative matrices).
pub fn infer_options(engine: &AnyEngine, strategy: StrategyChoice, precision: PrecisionChoice) -> InferOptions {
    match engine {
        AnyEngine::Cpu(_) => InferOptions::default(),
        AnyEngine::Cuda(_) | AnyEngine::Wgpu(_) => {
            InferOptions { strategy: strategy.strategy(), precision: precision.precision() }
        }
    }
}
