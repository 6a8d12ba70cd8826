//! The CUDA engine: models, targets and Adam's state live on the GPU; a training step is three
//! or four kernels (the step, reduction + Adam, the hash table's Adam, the step counter; see
//! `step.rs`) captured once in a CUDA graph and replayed, so nothing crosses the bus between log
//! intervals.

use crate::kernels::{self, PER_PIXEL_THREADS};
use crate::runtime::Gpu;
use crate::{Error, Result};
use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
use cudarc::driver::{CudaSlice, DevicePtr, DeviceRepr, LaunchConfig, PushKernelArg};
use nfield::data::Image;
use nfield::model::{CoordRange, Coords, ImageSize, Model, ModelSpec, PixelGrid, View};
use nfield::train::{AdamState, Evaluation, StepStats, TrainOptions};
use nfield::{Engine, InferOptions, Precision, Query, Strategy};
use std::sync::Arc;

mod step;
use step::TrainKernels;

const NAME: &str = "nfield-cuda";

/// A grid query as the kernels read it (encoding.cuh `GridQuery`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct GridQuery {
    width: u32,
    height: u32,
    minus_one_one: u32,
    pad: u32,
    off_x: f64,
    den_x: f64,
    u0_x: f64,
    du_x: f64,
    off_y: f64,
    den_y: f64,
    u0_y: f64,
    du_y: f64,
}
// SAFETY: plain old data with the C layout of the kernel's struct.
unsafe impl DeviceRepr for GridQuery {}

impl GridQuery {
    fn new(width: u32, height: u32, coords: Coords, view: View) -> GridQuery {
        // unit(i) = (i + off) / den, as nfield::model::Coords::unit computes it.
        let axis = |n: u32| match coords.grid {
            PixelGrid::Centers => (0.5, n as f64),
            PixelGrid::Endpoints if n > 1 => (0.0, (n - 1) as f64),
            PixelGrid::Endpoints => (0.5, 1.0),
        };
        let (off_x, den_x) = axis(width);
        let (off_y, den_y) = axis(height);
        GridQuery {
            width,
            height,
            minus_one_one: u32::from(coords.range == CoordRange::MinusOneOne),
            pad: 0,
            off_x,
            den_x,
            u0_x: view.x0,
            du_x: view.x1 - view.x0,
            off_y,
            den_y,
            u0_y: view.y0,
            du_y: view.y1 - view.y0,
        }
    }
}

struct DeviceTarget {
    width: u32,
    height: u32,
    xs: CudaSlice<f32>,
    ys: CudaSlice<f32>,
    colors: CudaSlice<f32>,
    subset: Option<CudaSlice<u32>>,
    subset_points: Option<CudaSlice<f32>>,
    n_eval: u32,
}

struct Loaded {
    model: Model,
    params: CudaSlice<f32>,
    scales: CudaSlice<f32>,
    m: CudaSlice<f32>,
    v: CudaSlice<f32>,
    step: CudaSlice<u64>,
    steps_done: u64,
    trainable: usize,
    opts: TrainOptions,
    target: Option<DeviceTarget>,
    train: std::result::Result<TrainKernels, String>,
}

/// The CUDA engine. Training runs in `precision` (bf16 or fp16 on the tensor cores with fp32
/// accumulation and fp32 master weights, or fp32 everywhere on the SIMT cores); inference takes
/// its precision from each call.
pub struct CudaEngine {
    gpu: Arc<Gpu>,
    precision: Precision,
    loaded: Option<Loaded>,
    output: Option<CudaSlice<f32>>,
    output_len: usize,
    points: Option<CudaSlice<f32>>,
}

fn dptr<T>(s: &CudaSlice<T>, gpu: &Gpu) -> u64 {
    let (p, _sync) = s.device_ptr(&gpu.stream);
    p
}

impl CudaEngine {
    /// An engine on GPU 0 training in `precision`.
    pub fn new(precision: Precision) -> Result<CudaEngine> {
        Ok(CudaEngine::on(Arc::new(Gpu::open(0)?), precision))
    }

    /// An engine on an opened GPU.
    pub fn on(gpu: Arc<Gpu>, precision: Precision) -> CudaEngine {
        CudaEngine { gpu, precision, loaded: None, output: None, output_len: 0, points: None }
    }

    /// The GPU.
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// The training precision.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    fn loaded(&self) -> Result<&Loaded> {
        self.loaded.as_ref().ok_or_else(|| Error::Unsupported("no model loaded; call load() first".into()))
    }

    fn stream(&self) -> &Arc<cudarc::driver::CudaStream> {
        &self.gpu.stream
    }

    fn ensure_output(&mut self, n: usize) -> Result<()> {
        if self.output.as_ref().is_none_or(|o| o.len() < 3 * n.max(1)) {
            self.output = Some(self.stream().alloc_zeros::<f32>(3 * n.max(1))?);
        }
        self.output_len = 3 * n;
        Ok(())
    }

    /// Evaluates the loaded model at a grid or at device points into the output buffer.
    fn run_infer(&mut self, grid: GridQuery, points: Option<u64>, n: usize, opts: &InferOptions) -> Result<()> {
        self.ensure_output(n)?;
        let gpu = self.gpu.clone();
        let l = self.loaded.as_ref().ok_or_else(|| Error::Unsupported("no model loaded".into()))?;
        let spec = &l.model.spec;
        let coop = match (opts.strategy, kernels::is_half(opts.precision)) {
            (Strategy::Cooperative, _) => true,
            (Strategy::Auto, half) => half,
            (Strategy::PerPixel, false) => false,
            (Strategy::PerPixel, true) => {
                return Err(Error::Unsupported(
                    "the per-pixel CUDA kernel computes in fp32; use --precision fp32 or --strategy cooperative".into(),
                ));
            }
            (Strategy::Fragment | Strategy::Baked, _) => {
                return Err(Error::Unsupported(format!(
                    "the {} strategy belongs to the wgpu engine",
                    opts.strategy.name()
                )));
            }
        };
        if !coop && opts.precision != Precision::Fp32 {
            return Err(Error::Unsupported(format!(
                "CUDA inference runs in fp32 (per-pixel) or bf16/fp16 (cooperative), not {:?}",
                opts.precision
            )));
        }
        let (func, cfg) = if coop {
            let k = kernels::infer_coop(spec, opts.precision)?;
            let smem = kernels::infer_coop_smem(spec);
            let f = gpu.function(&k, "mlp_infer_coop", smem)?;
            let (warps, tiles_per_warp) = kernels::coop_layout(spec);
            let per_sm = f.occupancy_max_active_blocks_per_multiprocessor(32 * warps, smem, None)?.max(1);
            let tiles = n.div_ceil(16 * (warps * tiles_per_warp) as usize) as u32;
            let grid = tiles.min(gpu.sm_count * per_sm).max(1);
            (f, LaunchConfig { grid_dim: (grid, 1, 1), block_dim: (32 * warps, 1, 1), shared_mem_bytes: smem as u32 })
        } else {
            let smem = kernels::per_pixel_smem(spec);
            let smem_weights = smem <= gpu.smem_optin;
            let k = kernels::infer_per_pixel(spec, smem_weights);
            let smem = if smem_weights { smem } else { 0 };
            let f = gpu.function(&k, "mlp_infer_per_pixel", smem)?;
            let per_sm = f.occupancy_max_active_blocks_per_multiprocessor(PER_PIXEL_THREADS, smem, None)?.max(1);
            let grid = (n.div_ceil(PER_PIXEL_THREADS as usize) as u32).min(gpu.sm_count * per_sm).max(1);
            (
                f,
                LaunchConfig {
                    grid_dim: (grid, 1, 1),
                    block_dim: (PER_PIXEL_THREADS, 1, 1),
                    shared_mem_bytes: smem as u32,
                },
            )
        };
        let out = self.output.as_mut().ok_or_else(|| Error::Unsupported("no output buffer".into()))?;
        let n32 = n as u32;
        let points = points.unwrap_or(0);
        // SAFETY: params holds the model layout, scales LEVELS floats (or one), points (n, 2)
        // floats or null, out at least 3n floats (mlp_infer.cu's contract).
        unsafe {
            gpu.stream
                .launch_builder(&func)
                .arg(&l.params)
                .arg(&l.scales)
                .arg(&grid)
                .arg(&points)
                .arg(&n32)
                .arg(out)
                .launch(cfg)?;
        }
        Ok(())
    }
}

impl Engine for CudaEngine {
    fn name(&self) -> &str {
        NAME
    }

    fn device(&self) -> String {
        format!("{} ({}, {} SMs)", self.gpu.name, self.gpu.arch, self.gpu.sm_count)
    }

    fn load(&mut self, model: &Model, target: Option<&Image>, opts: &TrainOptions) -> nfield::Result<()> {
        model.spec.validate()?;
        model.check_params()?;
        opts.validate()?;
        let s = self.gpu.stream.clone();
        let layout = model.layout();
        let mut model = model.clone();
        let params = s.clone_htod(&model.params).map_err(Error::from)?;
        let scales: Vec<f32> = match &model.spec {
            ModelSpec::HashGrid(h) => h.level_scales(),
            _ => vec![0.0],
        };
        let scales = s.clone_htod(&scales).map_err(Error::from)?;
        let device_target = match target {
            None => None,
            Some(img) => {
                let n = img.pixel_count();
                let c = model.coords;
                let xs: Vec<f32> = (0..img.width).map(|i| c.axis(i, img.width)).collect();
                let ys: Vec<f32> = (0..img.height).map(|j| c.axis(j, img.height)).collect();
                let (subset, subset_points, n_eval) = match &opts.subset {
                    None => (None, None, n as u32),
                    Some(sub) => {
                        if let Some(&bad) = sub.iter().find(|&&k| k as usize >= n) {
                            return Err(nfield::Error::option(
                                "limit",
                                format!("pixel index {bad} is outside the {n}-pixel target"),
                            ));
                        }
                        let pts: Vec<f32> = sub
                            .iter()
                            .flat_map(|&k| [xs[(k % img.width) as usize], ys[(k / img.width) as usize]])
                            .collect();
                        (
                            Some(s.clone_htod(sub).map_err(Error::from)?),
                            Some(s.clone_htod(&pts).map_err(Error::from)?),
                            sub.len() as u32,
                        )
                    }
                };
                model.image = Some(ImageSize { width: img.width, height: img.height });
                Some(DeviceTarget {
                    width: img.width,
                    height: img.height,
                    xs: s.clone_htod(&xs).map_err(Error::from)?,
                    ys: s.clone_htod(&ys).map_err(Error::from)?,
                    colors: s.clone_htod(&img.rgb).map_err(Error::from)?,
                    subset,
                    subset_points,
                    n_eval,
                })
            }
        };
        let train = match &device_target {
            None => Err("no target image loaded; training needs one".to_string()),
            Some(_) => self.compile_train(&model, opts).map_err(|e| e.to_string()),
        };
        let trainable = if layout.encoding_trainable { layout.total } else { layout.encoding.start };
        self.loaded = Some(Loaded {
            params,
            scales,
            m: s.alloc_zeros::<f32>(layout.total).map_err(Error::from)?,
            v: s.alloc_zeros::<f32>(layout.total).map_err(Error::from)?,
            step: s.alloc_zeros::<u64>(1).map_err(Error::from)?,
            steps_done: 0,
            trainable,
            opts: opts.clone(),
            target: device_target,
            train,
            model,
        });
        Ok(())
    }

    fn train(&mut self, steps: u32) -> nfield::Result<StepStats> {
        let gpu = self.gpu.clone();
        let l =
            self.loaded.as_mut().ok_or_else(|| nfield::Error::engine(NAME, "no model loaded; call load() first"))?;
        if let Err(e) = &l.train {
            return Err(nfield::Error::engine(NAME, e.clone()));
        }
        // Capture one step into a graph on first use, then replay it.
        if l.train.as_ref().is_ok_and(|t| t.graph.is_none()) {
            gpu.stream.begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL).map_err(Error::from)?;
            let enq = CudaEngine::enqueue_step(&gpu, l);
            let graph = gpu.stream.end_capture(CUgraphInstantiate_flags(0)).map_err(Error::from)?;
            enq?;
            if let Ok(t) = l.train.as_mut() {
                t.graph = graph;
            }
        }
        let t = l.train.as_ref().map_err(|e| nfield::Error::engine(NAME, e.clone()))?;
        let graph =
            t.graph.as_ref().ok_or_else(|| nfield::Error::engine(NAME, "the training step could not be captured"))?;
        for _ in 0..steps {
            graph.launch().map_err(Error::from)?;
        }
        let loss = gpu.stream.clone_dtoh(&t.loss_out).map_err(Error::from)?[0];
        l.steps_done += steps as u64;
        if !loss.is_finite() {
            return Err(nfield::Error::Diverged {
                step: l.steps_done,
                message: format!("the loss became {loss}; try a lower learning rate (--lr)"),
            });
        }
        Ok(StepStats { step: l.steps_done, loss, samples: steps as u64 * l.opts.batch as u64 })
    }

    fn infer(&mut self, query: &Query<'_>, opts: &InferOptions) -> nfield::Result<usize> {
        let n = query.len();
        match *query {
            Query::Grid { width, height, coords, view } => {
                self.run_infer(GridQuery::new(width, height, coords, view), None, n, opts)?;
            }
            Query::Points(points) => {
                if points.len() % 2 != 0 {
                    return Err(nfield::Error::engine(
                        NAME,
                        format!("points must be (N, 2); got {} values", points.len()),
                    ));
                }
                let dev = self.stream().clone_htod(points).map_err(Error::from)?;
                let ptr = dptr(&dev, &self.gpu);
                self.points = Some(dev);
                self.run_infer(GridQuery::default(), Some(ptr), n, opts)?;
            }
        }
        Ok(n)
    }

    fn read_output(&mut self, out: &mut [f32]) -> nfield::Result<()> {
        if out.len() != self.output_len {
            return Err(nfield::Error::engine(
                NAME,
                format!("output buffer holds {} values, the last inference produced {}", out.len(), self.output_len),
            ));
        }
        if let Some(o) = &self.output {
            let all = self.gpu.stream.clone_dtoh(o).map_err(Error::from)?;
            out.copy_from_slice(&all[..self.output_len]);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> nfield::Result<Evaluation> {
        let gpu = self.gpu.clone();
        let precision = self.precision;
        let (spec, coords, width, height, n_eval, points) = {
            let l = self.loaded()?;
            let t = l
                .target
                .as_ref()
                .ok_or_else(|| nfield::Error::engine(NAME, "no target image loaded; evaluation needs one"))?;
            (
                l.model.spec.clone(),
                l.model.coords,
                t.width,
                t.height,
                t.n_eval,
                t.subset_points.as_ref().map(|p| dptr(p, &gpu)),
            )
        };
        // Evaluate in the training precision where the cooperative kernel serves the model.
        let opts = if kernels::coop_fits(&spec, precision, gpu.smem_optin) {
            InferOptions { strategy: Strategy::Cooperative, precision }
        } else {
            InferOptions { strategy: Strategy::PerPixel, precision: Precision::Fp32 }
        };
        self.run_infer(GridQuery::new(width, height, coords, View::FULL), points, n_eval as usize, &opts)?;
        let sse = kernels::Specialization::plain(kernels::KernelFile::Eval);
        let f = gpu.function(&sse, "sse_partials", 0)?;
        let blocks = (n_eval.div_ceil(256)).min(4 * gpu.sm_count).max(1);
        let mut partials = gpu.stream.alloc_zeros::<f64>(blocks as usize).map_err(Error::from)?;
        let l = self.loaded()?;
        let t = l.target.as_ref().ok_or_else(|| nfield::Error::engine(NAME, "no target image loaded"))?;
        let out = self.output.as_ref().ok_or_else(|| nfield::Error::engine(NAME, "no output"))?;
        let subset = t.subset.as_ref().map_or(0u64, |s| dptr(s, &gpu));
        let cfg = LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: out holds 3·n_eval floats, colors the target, subset n_eval indices or null.
        unsafe {
            gpu.stream
                .launch_builder(&f)
                .arg(out)
                .arg(&t.colors)
                .arg(&subset)
                .arg(&n_eval)
                .arg(&mut partials)
                .launch(cfg)
                .map_err(Error::from)?;
        }
        let sums = gpu.stream.clone_dtoh(&partials).map_err(Error::from)?;
        Ok(Evaluation::from_mse(sums.iter().sum::<f64>() / (3.0 * n_eval as f64)))
    }

    fn model(&self) -> nfield::Result<Model> {
        let l = self.loaded()?;
        let mut m = l.model.clone();
        m.params = self.gpu.stream.clone_dtoh(&l.params).map_err(Error::from)?;
        Ok(m)
    }

    fn optimizer_state(&self) -> nfield::Result<AdamState> {
        let l = self.loaded()?;
        let s = &self.gpu.stream;
        Ok(AdamState {
            step: s.clone_dtoh(&l.step).map_err(Error::from)?[0],
            m: s.clone_dtoh(&l.m).map_err(Error::from)?,
            v: s.clone_dtoh(&l.v).map_err(Error::from)?,
        })
    }

    fn set_optimizer_state(&mut self, state: &AdamState) -> nfield::Result<()> {
        let s = self.gpu.stream.clone();
        let l =
            self.loaded.as_mut().ok_or_else(|| nfield::Error::engine(NAME, "no model loaded; call load() first"))?;
        let n = l.model.params.len();
        if state.m.len() != n || state.v.len() != n {
            return Err(nfield::Error::engine(
                NAME,
                format!("optimizer state has {} moments, the model has {n} parameters", state.m.len()),
            ));
        }
        s.memcpy_htod(&state.m, &mut l.m).map_err(Error::from)?;
        s.memcpy_htod(&state.v, &mut l.v).map_err(Error::from)?;
        s.memcpy_htod(&[state.step], &mut l.step).map_err(Error::from)?;
        l.steps_done = state.step;
        Ok(())
    }
}

/// Whether a model's training runs on CUDA (for engine selection).
pub fn trains_on_cuda(spec: &ModelSpec) -> bool {
    !matches!(spec, ModelSpec::Fourier(f) if f.train_b)
}
