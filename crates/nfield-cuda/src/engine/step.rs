//! The CUDA engine's training step: the step kernel's launch (mlp_train*.cu's shared contract),
//! its specialisation, buffers and persistent grid, the Adam launches that follow it, and the
//! gradient of one step for the GPU tests.

use super::{CudaEngine, DeviceTarget, Loaded, dptr};
use crate::kernels::{self, TrainShape};
use crate::runtime::Gpu;
use crate::{Error, Result};
use cudarc::driver::{CudaFunction, CudaGraph, CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg};
use nfield::model::{Model, ModelSpec};
use nfield::train::{TABLE_GRAD_ONE, TrainOptions};

/// Table values per entry of adam_dense's chunk list (adam.cu `ADAM_CHUNK`).
const ADAM_CHUNK: usize = 256;

/// The training target as the fused step reads it (mlp_train.cu `TrainTarget`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct TrainTargetRepr {
    xs: u64,
    ys: u64,
    colors: u64,
    subset: u64,
    width: u32,
    n_pixels: u32,
}
// SAFETY: plain old data with the C layout of the kernel's struct.
unsafe impl DeviceRepr for TrainTargetRepr {}

/// Adam's hyperparameters, the gradient's scale and the learning rate's decay as adam.cu's
/// `AdamArgs` reads them.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct AdamArgs {
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    bias_correction: u32,
    grad_scale: f32,
    decay_start: u32,
    decay_every: u32,
    decay_factor: f32,
}
// SAFETY: plain old data with the C layout of the kernel's struct.
unsafe impl DeviceRepr for AdamArgs {}

/// The compiled training step of a loaded model and its per-step buffers.
pub(super) struct TrainKernels {
    step: CudaFunction,
    adam: CudaFunction,
    adam_dense: CudaFunction,
    advance: CudaFunction,
    /// The hash table's gradient (its layout, unscaled; the step adds, adam_dense zeroes): f32,
    /// or with `grad_fixed` i64 in units of 2⁻³² (two f32 slots per value).
    enc_grad: Option<CudaSlice<f32>>,
    /// Whether the step adds the table gradient in fixed point (`DETERMINISTIC`).
    grad_fixed: bool,
    /// The chunks of [`ADAM_CHUNK`] table values that adam_dense visits: those positions in
    /// [0, 1]² reach (`HashGridSpec::reachable_chunks`; 42 % of tiny-cuda-nn's 2^19 table).
    table_chunks: Option<CudaSlice<u32>>,
    /// The hash table in fp16, which the fused fp16 step gathers from and adam_dense rewrites
    /// after each update (the fp32 parameters stay the master copy).
    table16: Option<CudaSlice<u16>>,
    shape: TrainShape,
    grid: u32,
    partials: CudaSlice<f32>,
    loss_partials: CudaSlice<f32>,
    pub(super) loss_out: CudaSlice<f32>,
    pub(super) graph: Option<CudaGraph>,
}

/// Enqueues the training-step kernel alone: every block's gradient partial and squared error
/// for `batch` samples of step `*step`, and the hash table's gradient (mlp_train*.cu's shared
/// contract).
#[allow(clippy::too_many_arguments)]
fn launch_train_step(
    gpu: &Gpu,
    t: &mut TrainKernels,
    params: &CudaSlice<f32>,
    scales: &CudaSlice<f32>,
    step: &CudaSlice<u64>,
    target: &DeviceTarget,
    seed: u64,
    batch: u32,
) -> Result<()> {
    let repr = TrainTargetRepr {
        xs: dptr(&target.xs, gpu),
        ys: dptr(&target.ys, gpu),
        colors: dptr(&target.colors, gpu),
        subset: target.subset.as_ref().map_or(0, |s| dptr(s, gpu)),
        width: target.width,
        n_pixels: target.subset.as_ref().map_or(target.width * target.height, |s| s.len() as u32),
    };
    let cfg = LaunchConfig {
        grid_dim: (t.grid, 1, 1),
        block_dim: (32 * t.shape.warps, 1, 1),
        shared_mem_bytes: t.shape.smem as u32,
    };
    let enc_grad = t.enc_grad.as_ref().map_or(0, |g| dptr(g, gpu));
    let table16 = t.table16.as_ref().map_or(0, |g| dptr(g, gpu));
    // SAFETY: params holds the model layout; partials grid × MLP params; loss_partials grid;
    // the target's buffers are as repr says; step one u64; scales the hash grid's levels (one
    // float otherwise), enc_grad and table16 its table's length, or null when there is no
    // table (mlp_train*.cu's contract: only the hash grid reads them, table16 only with TABLE16).
    unsafe {
        gpu.stream
            .launch_builder(&t.step)
            .arg(params)
            .arg(&repr)
            .arg(step)
            .arg(&seed)
            .arg(&batch)
            .arg(&mut t.partials)
            .arg(&mut t.loss_partials)
            .arg(scales)
            .arg(&enc_grad)
            .arg(&table16)
            .launch(cfg)?;
    }
    Ok(())
}

impl CudaEngine {
    pub(super) fn compile_train(&self, model: &Model, opts: &TrainOptions) -> Result<TrainKernels> {
        let gpu = &self.gpu;
        let (spec, shape) = kernels::train_step(&model.spec, self.precision, gpu.smem_optin)?;
        let gathers_table16 = kernels::gathers_table16(&spec);
        // Only the hash grid's table gradient uses float atomics; fixed point makes it
        // order-independent.
        let grad_fixed = opts.deterministic && matches!(model.spec, ModelSpec::HashGrid(_));
        let spec = if grad_fixed { kernels::deterministic_step(spec) } else { spec };
        let step = gpu.function(&spec, "mlp_train_step", shape.smem)?;
        let adam_spec = kernels::Specialization::plain(kernels::KernelFile::Adam);
        let adam = gpu.function(&adam_spec, "adam_step", 0)?;
        let adam_dense = gpu.function(&adam_spec, "adam_dense", 0)?;
        let advance = gpu.function(&adam_spec, "step_advance", 0)?;
        let tiles = (opts.batch as usize).div_ceil(shape.tile as usize) as u32;
        // A persistent grid: as many blocks as fit on the GPU at once (one per SM for most
        // steps; the hash grid's asks for two), never more than there are tiles.
        let per_sm = step.occupancy_max_active_blocks_per_multiprocessor(32 * shape.warps, shape.smem, None)?.max(1);
        let grid = tiles.min(gpu.sm_count * per_sm).max(1);
        let stride = kernels::partial_stride(&model.spec);
        let s = self.stream();
        let enc_grad = match &model.spec {
            ModelSpec::HashGrid(h) => Some(s.alloc_zeros::<f32>(h.table_len() * if grad_fixed { 2 } else { 1 })?),
            _ => None,
        };
        let table_chunks = match &model.spec {
            ModelSpec::HashGrid(h) => Some(s.clone_htod(&h.reachable_chunks(ADAM_CHUNK))?),
            _ => None,
        };
        let table16 = match &model.spec {
            ModelSpec::HashGrid(h) if gathers_table16 => {
                let table = &model.params[model.params.len() - h.table_len()..];
                let bits: Vec<u16> = table.iter().map(|&x| half::f16::from_f32(x).to_bits()).collect();
                Some(s.clone_htod(&bits)?)
            }
            _ => None,
        };
        Ok(TrainKernels {
            step,
            adam,
            adam_dense,
            advance,
            enc_grad,
            grad_fixed,
            table_chunks,
            table16,
            shape,
            grid,
            partials: s.alloc_zeros::<f32>(grid as usize * stride)?,
            loss_partials: s.alloc_zeros::<f32>(grid as usize)?,
            loss_out: s.alloc_zeros::<f32>(1)?,
            graph: None,
        })
    }

    /// Enqueues one training step on the stream: the step kernel, Adam over the MLP, Adam over a
    /// hash table (when there is one), the step counter.
    pub(super) fn enqueue_step(gpu: &Gpu, l: &mut Loaded) -> Result<()> {
        let Loaded { params, scales, m, v, step, opts, target, train, trainable, .. } = l;
        let t = train.as_mut().map_err(|e| Error::Unsupported(e.clone()))?;
        let target = target.as_ref().ok_or_else(|| Error::Unsupported("no target loaded".into()))?;
        let (seed, batch) = (opts.seed, opts.batch);
        launch_train_step(gpu, t, params, scales, step, target, seed, batch)?;
        let a = opts.adam;
        // The MLP's parameters from the block partials; a hash table's from its dense gradient.
        let table_len = t.enc_grad.as_ref().map_or(0, |g| g.len() / if t.grad_fixed { 2 } else { 1 });
        let n_params = (*trainable - table_len) as u32;
        let stride = (t.partials.len() / t.grid as usize) as u32;
        let loss_scale = 1.0 / (3.0 * batch as f32);
        let hyper = AdamArgs {
            lr: a.lr,
            beta1: a.beta1,
            beta2: a.beta2,
            eps: a.eps,
            bias_correction: u32::from(a.bias_correction),
            grad_scale: 2.0 / (3.0 * batch as f32),
            // (validated to fit: AdamConfig::validate)
            decay_start: a.decay.start.min(u32::MAX as u64) as u32,
            decay_every: a.decay.every.clamp(1, u32::MAX as u64) as u32,
            decay_factor: a.decay.factor,
        };
        // adam.cu's adam_step: 32 parameters per block of 8 warps.
        let cfg = LaunchConfig { grid_dim: (n_params.div_ceil(32), 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: params, m, v hold at least n_params values; partials grid × n_params.
        unsafe {
            gpu.stream
                .launch_builder(&t.adam)
                .arg(&mut *params)
                .arg(&mut *m)
                .arg(&mut *v)
                .arg(&t.partials)
                .arg(&t.grid)
                .arg(&n_params)
                .arg(&stride)
                .arg(&t.loss_partials)
                .arg(&mut t.loss_out)
                .arg(&*step)
                .arg(&hyper)
                .arg(&loss_scale)
                .launch(cfg)?;
        }
        if let (Some(grad), Some(chunks)) = (t.enc_grad.as_mut(), t.table_chunks.as_ref()) {
            let n = table_len as u32;
            let n_chunks = chunks.len() as u32;
            let grad_fixed = u32::from(t.grad_fixed);
            let table16 = t.table16.as_ref().map_or(0, |c| dptr(c, gpu));
            // One wave of 256-thread blocks (8 per SM), each thread 8 elements per turn
            // (adam.cu ADAM_DENSE_UNROLL).
            let visited = n_chunks * ADAM_CHUNK as u32;
            let blocks = visited.div_ceil(256 * 8).min(gpu.sm_count * 8);
            let cfg = LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
            // SAFETY: params, m, v hold n_params + n values (the table follows the MLP); grad n
            // f32 (2n with grad_fixed: n i64); chunks n_chunks indices below n / ADAM_CHUNK
            // rounded up; table16 n or null.
            unsafe {
                gpu.stream
                    .launch_builder(&t.adam_dense)
                    .arg(&mut *params)
                    .arg(&mut *m)
                    .arg(&mut *v)
                    .arg(grad)
                    .arg(&n_params)
                    .arg(&n)
                    .arg(chunks)
                    .arg(&n_chunks)
                    .arg(&*step)
                    .arg(&hyper)
                    .arg(&table16)
                    .arg(&grad_fixed)
                    .launch(cfg)?;
            }
        }
        let one = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (1, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: step is one u64.
        unsafe { gpu.stream.launch_builder(&t.advance).arg(&mut *step).launch(one)? };
        Ok(())
    }

    /// The summed, scaled gradient of one step (the step kernel alone, no Adam; a hash table's
    /// gradient after the MLP's): for tests of the training steps against the oracle.
    pub fn gradient(&mut self) -> Result<Vec<f32>> {
        let gpu = self.gpu.clone();
        let l = self.loaded.as_mut().ok_or_else(|| Error::Unsupported("no model loaded".into()))?;
        let batch = l.opts.batch;
        let trainable = l.trainable;
        let (seed, params, scales, step) = (l.opts.seed, &l.params, &l.scales, &l.step);
        let target = l.target.as_ref().ok_or_else(|| Error::Unsupported("no target loaded".into()))?;
        let t = l.train.as_mut().map_err(|e| Error::Unsupported(e.clone()))?;
        launch_train_step(&gpu, t, params, scales, step, target, seed, batch)?;
        let partials = gpu.stream.clone_dtoh(&t.partials)?;
        let stride = partials.len() / t.grid as usize;
        let table = match t.enc_grad.as_mut() {
            Some(grad) => {
                let raw = gpu.stream.clone_dtoh(grad)?;
                gpu.stream.memset_zeros(grad)?; // as adam_dense leaves it
                if t.grad_fixed {
                    // i64 in units of 2⁻³² (encoding.cuh table_grad_add), converted as adam_dense does
                    raw.chunks_exact(2)
                        .map(|p| {
                            let bits = u64::from(p[0].to_bits()) | (u64::from(p[1].to_bits()) << 32);
                            (bits as i64 as f64 / TABLE_GRAD_ONE) as f32
                        })
                        .collect()
                } else {
                    raw
                }
            }
            None => Vec::new(),
        };
        let mlp = trainable - table.len();
        let mut g = vec![0.0f32; trainable];
        for b in 0..t.grid as usize {
            for (i, gi) in g[..mlp].iter_mut().enumerate() {
                *gi += partials[b * stride + i];
            }
        }
        g[mlp..].copy_from_slice(&table);
        let scale = 2.0 / (3.0 * batch as f32);
        g.iter_mut().for_each(|x| *x *= scale);
        Ok(g)
    }
}
