//! Training on wgpu: sampling, encoding, the MLP's forward and backward passes, the loss and
//! Adam in compute shaders, matching the CPU engine ([`nfield::cpu`]) step for step (same
//! sampler, same loss, same Adam formula). fp32 throughout, or, with `Precision::Fp16`
//! ([`Trainer::with_precision`]) where the device has f16 cooperative matrices, the weight
//! gradients' products on them (`shaders/train_gemm_matrix.wgsl`).
//!
//! A step is layer-wise, so it works for every width (1..=1024), depth and model:
//!
//! 1. `train_sample`: per sample, the Philox pixel (`nfield::rng::train_pixel`), its position
//!    (column/row tables computed on the host in f64 as `Coords::axis` does) and colour;
//! 2. `train_encode_*`: the layer-0 input (positions, Fourier sin/cos, hash-grid features);
//! 3. `train_forward` per layer: a tiled product in workgroup memory (`shaders/train_gemm.wgsl`:
//!    128 samples × 64 units a workgroup, 4 × 8 per invocation, 16-byte loads, k chunks
//!    double-buffered), bias, activation and its derivative (SIREN's first layer: the
//!    compensated `train_siren_first`); a run of two or more hidden layers of one width up to
//!    64 is one `train_forward_fused` dispatch instead (`shaders/train_fused.wgsl`: a tile of
//!    128 samples, or 64 where the device's workgroup memory or invocations cannot hold 128,
//!    carried through every layer of the run in workgroup memory; for a SIREN
//!    whose run starts at layer 1, from the positions through the first layer too);
//! 4. `train_loss`: squared error partial sums (subgroupAdd, or a workgroup-memory tree on
//!    devices without subgroups) and the output delta `2/(3B)(y − t)·out_act'`, with the output
//!    layer itself, forward and backward (where the output layer sits right above a fused run,
//!    `train_forward_fused` does all this for its tile instead, one partial sum per 16 samples);
//! 5. `train_backward` per layer, last to first (the deltas of the layer below; the fused run in
//!    one `train_backward_fused` dispatch), then `train_weight_grad` (∂L/∂W and ∂L/∂b of every
//!    layer, split over the batch into per-split partial sums; in fp16 on cooperative
//!    matrices; layers with at most 4 units on a side, such as SIREN's first and every output
//!    layer, in `train_weight_grad_thin`, a pipeline per shape, into partials of their own
//!    so that no barrier orders them after the GEMM);
//! 6. the encoding's gradient: Fourier B by split, or the hash table added as 64-bit fixed
//!    point (integer atomics, whose sum does not depend on the order);
//! 7. `adam_step`: per parameter, the partials summed in split order, the CPU engine's Adam.
//!
//! Large batches are cut into chunks that fit the device's binding limit and a memory budget;
//! the chunks of a step run one after another and their gradients add up, so any batch up to
//! `nfield::train::MAX_BATCH` trains. Steps are recorded many to a submission, each reading
//! its own slot of a buffer of step records (bind groups per slot for the two passes that read
//! it), a step of one chunk in one compute pass; the chunks' records of a step of several are
//! copied into a small uniform buffer before each chunk. Only the last step's loss is read
//! back. Everything is deterministic (fixed summation orders; the hash
//! table's gradient is added as 64-bit fixed point, whose sum does not depend on the order),
//! so runs and resumed runs are bit-identical.

mod dispatch;
mod fused;
mod gemm;
mod kernels;
mod loss;
mod plan;
mod thin;

use crate::{Gpu, NAME};
use kernels::{Buffers, Kernels, TargetShape};
use nfield::data::Image;
use nfield::model::{Model, ParamLayout};
use nfield::train::{AdamState, TABLE_GRAD_ONE, TrainOptions};
use nfield::{Error, Precision, Result};
use plan::{Plan, StepRecord};
use std::sync::Arc;

/// Steps recorded into one submission (one step record slot each).
const STEPS_PER_SUBMISSION: u32 = dispatch::STEP_SLOTS;

/// A training session of one model on one target: every pipeline and buffer of the step,
/// Adam's moments on the GPU, and the step count. See the module documentation.
pub struct Trainer {
    gpu: Arc<Gpu>,
    layout: ParamLayout,
    opts: TrainOptions,
    plan: Plan,
    bufs: Buffers,
    kernels: Kernels,
    /// Per-chunk records of a step (copied into `bufs.chunk_info` where a step has several).
    chunk_records: wgpu::Buffer,
    step: u64,
    precision: Precision,
}

/// A query set that [`Trainer::record_step`] writes pass timestamps into, and the next pair.
struct Timestamps<'a> {
    queries: &'a wgpu::QuerySet,
    next: u32,
}

/// Records `dispatches` for the step at `slot` into `enc`: one compute pass named `label` for
/// all, or with `timestamps` a pass of its own for each, between the next pair of timestamps.
fn record_passes(
    enc: &mut wgpu::CommandEncoder,
    label: &str,
    dispatches: &[&dispatch::Dispatch],
    slot: u32,
    timestamps: &mut Option<Timestamps<'_>>,
) {
    match timestamps {
        None => {
            let mut pass =
                enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: None });
            for d in dispatches {
                d.record(&mut pass, slot);
            }
        }
        Some(t) => {
            for d in dispatches {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(d.label),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: t.queries,
                        beginning_of_pass_write_index: Some(2 * t.next),
                        end_of_pass_write_index: Some(2 * t.next + 1),
                    }),
                });
                d.record(&mut pass, slot);
                t.next += 1;
            }
        }
    }
}

/// `Σ_z partials[z·len + i]` for `i < len`, the `splits` splits added in order (as adam.wgsl
/// adds them).
fn sum_splits(partials: &[f32], splits: usize, len: usize) -> Vec<f32> {
    if len == 0 {
        return Vec::new();
    }
    let mut sum = partials[..len].to_vec();
    for split in partials.chunks_exact(len).take(splits).skip(1) {
        for (g, p) in sum.iter_mut().zip(split) {
            *g += p;
        }
    }
    sum
}

/// Whether `gpu` trains in fp16 ([`Trainer::with_precision`]): f16 cooperative matrices
/// ([`Gpu::cooperative_matrix_f16`]) in subgroups of exactly 32 invocations, and enough
/// workgroup memory for the cooperative-matrix product. `Err` says what is missing.
pub fn fp16_support(gpu: &Gpu) -> std::result::Result<(), String> {
    gemm::matrix_training(gpu)
}

/// Whether training in `precision` on `gpu` runs the products on cooperative matrices (fp16);
/// an error for what wgpu cannot train in, saying why.
pub(crate) fn uses_matrices(gpu: &Gpu, precision: Precision) -> Result<bool> {
    match precision {
        Precision::Fp32 => Ok(false),
        Precision::Fp16 => match fp16_support(gpu) {
            Ok(()) => Ok(true),
            Err(why) => {
                Err(Error::option("precision", format!("fp16 training on wgpu needs cooperative matrices: {why}")))
            }
        },
        other => Err(Error::option(
            "precision",
            format!("{other:?} training is not available on wgpu; it trains in fp32 or fp16"),
        )),
    }
}

fn err(msg: impl Into<String>) -> Error {
    Error::engine(NAME, msg)
}

impl Trainer {
    /// Compiles the pipelines for `model.spec`, uploads the target (positions per axis +
    /// colours), allocates every buffer (nothing is allocated per step). `params` is the
    /// engine's parameter buffer (f32, model layout, usage STORAGE | COPY_SRC | COPY_DST),
    /// updated in place by Adam. Errors name what does not fit the device (batch, limit).
    /// Trains in fp32; see [`Trainer::with_precision`].
    pub fn new(
        gpu: Arc<Gpu>,
        model: &Model,
        target: &Image,
        opts: &TrainOptions,
        params: wgpu::Buffer,
    ) -> Result<Trainer> {
        Trainer::with_precision(gpu, model, target, opts, params, Precision::Fp32)
    }

    /// [`Trainer::new`] in a given precision: `Fp32` everywhere, or `Fp16`: the weight
    /// gradients' products on cooperative matrices with f16 operands (the deltas scaled by the
    /// batch's power of two) and f32 accumulation, everything else (encodings, forward and
    /// delta products, activations, loss, Adam, the parameters, and the weight gradients of
    /// thin layers, which are bound by their reads) in f32; the pass-by-pass measurements
    /// behind that choice are in `MatrixPasses`'s documentation (src/train/gemm.rs). `Fp16`
    /// needs what [`fp16_support`] checks; bf16 and tf32 do not exist on wgpu. Errors say why a
    /// precision is refused.
    pub fn with_precision(
        gpu: Arc<Gpu>,
        model: &Model,
        target: &Image,
        opts: &TrainOptions,
        params: wgpu::Buffer,
        precision: Precision,
    ) -> Result<Trainer> {
        model.spec.validate()?;
        opts.validate()?;
        let matrix = uses_matrices(&gpu, precision)?;
        let layout = model.layout();
        let n = layout.total;
        if params.size() < 4 * n as u64 {
            return Err(err(format!("the parameter buffer holds {} bytes, the model needs {}", params.size(), 4 * n)));
        }
        let n_image = target.pixel_count();
        if target.rgb.len() != 3 * n_image || n_image == 0 || n_image > u32::MAX as usize {
            return Err(err(format!("the target holds {} values for {n_image} pixels", target.rgb.len())));
        }
        if let Some(sub) = &opts.subset {
            if let Some(&bad) = sub.iter().find(|&&k| k as usize >= n_image) {
                return Err(Error::option("limit", format!("pixel index {bad} is outside the {n_image}-pixel target")));
            }
        }
        let plan = Plan::new(&gpu, &model.spec, &layout, opts.batch)?;

        // [xs | ys | colours], positions exactly as nfield::model::Coords::axis computes them.
        let c = model.coords;
        let mut target_data: Vec<f32> = (0..target.width).map(|i| c.axis(i, target.width)).collect();
        target_data.extend((0..target.height).map(|j| c.axis(j, target.height)));
        target_data.extend_from_slice(&target.rgb);
        let shape = TargetShape {
            width: target.width,
            height: target.height,
            n_pixels: opts.subset.as_ref().map_or(n_image, Vec::len) as u32,
            has_subset: opts.subset.is_some(),
        };
        let subset = opts.subset.clone().unwrap_or_else(|| vec![0]);
        let hash_table = matches!(model.spec, nfield::model::ModelSpec::HashGrid(_));
        let floats = |label: &str, n: u64| gpu.storage(label, 4 * n);
        let chunks = plan.chunk_records();
        let step_stride = (gpu.device.limits().min_uniform_buffer_offset_alignment as u64)
            .max(std::mem::size_of::<StepRecord>() as u64);
        let batch_note = |e: Error| err(format!("{e} (batch {}, chunks of {} samples)", opts.batch, plan.chunk));
        let bufs = Buffers {
            params,
            target: gpu.storage_init("train target", &target_data)?,
            subset: gpu.storage_init("train subset", &subset)?,
            batch: floats("train batch", 5 * plan.chunk as u64).map_err(batch_note)?,
            acts: floats("train activations", plan.acts_len).map_err(batch_note)?,
            derivs: floats("train derivatives", plan.acts_len).map_err(batch_note)?,
            partials: floats("train gradient partials", plan.splits as u64 * plan.grad_len as u64)?,
            // 64-bit fixed point: two words per entry (shaders/common.wgsl)
            table_grad: floats("train table gradient", if hash_table { 2 * layout.encoding.len() as u64 } else { 4 })?,
            moments: floats("adam moments", 2 * n as u64)?,
            loss_partials: floats("train loss partials", plan.loss_partials(plan::MIN_LOSS_GROUP) as u64)?,
            step_records: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("train step records"),
                size: step_stride * STEPS_PER_SUBMISSION as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            step_stride,
            // a step of one chunk reads this record only: no copy before each chunk
            chunk_info: gpu.uniform("train chunk", &chunks[0]),
        };
        let passes = if matrix { gemm::MatrixPasses::FP16 } else { gemm::MatrixPasses::NONE };
        let kernels = Kernels::new(&gpu, &model.spec, &layout, &plan, opts, &shape, &bufs, passes)?;
        let chunk_records = gpu.storage_init("train chunk records", &chunks)?;
        Ok(Trainer { gpu, layout, opts: opts.clone(), plan, bufs, kernels, chunk_records, step: 0, precision })
    }

    /// The precision this trainer computes in.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The parameter buffer Adam updates (the one handed to [`Trainer::new`]).
    pub fn params(&self) -> &wgpu::Buffer {
        &self.bufs.params
    }

    /// Samples per chunk: the batch is processed in `⌈batch / chunk⌉` chunks per step.
    pub fn chunk_size(&self) -> u32 {
        self.plan.chunk
    }

    /// The record of 0-based step `step`: the sampler's counter and Adam's step size and
    /// second-moment correction of t = step + 1, rounded as nfield::cpu::adam rounds them.
    fn step_record(&self, step: u64) -> StepRecord {
        let cfg = &self.opts.adam;
        let t = step + 1;
        let (c1, c2) = cfg.corrections(t);
        StepRecord {
            step_lo: step as u32,
            step_hi: (step >> 32) as u32,
            step_size: (cfg.lr_at(t) * c1) as f32,
            c2: c2 as f32,
        }
    }

    /// Writes the records of steps `first ..` into the step slots `0 ..` (`count` of them).
    fn write_step_records(&self, first: u64, count: u32) {
        let stride = self.bufs.step_stride as usize;
        let mut bytes = vec![0u8; stride * count as usize];
        for (i, slot) in bytes.chunks_exact_mut(stride).enumerate() {
            let record = self.step_record(first + i as u64);
            slot[..std::mem::size_of::<StepRecord>()].copy_from_slice(bytemuck::bytes_of(&record));
        }
        self.gpu.queue.write_buffer(&self.bufs.step_records, 0, &bytes);
    }

    /// Records the step whose record is at `slot` of the step records into `enc`: its gradient
    /// (all chunks) and, with `adam`, the optimizer after it. Without `timestamps` a step of one
    /// chunk is one compute pass, Adam included; a step of several chunks copies each chunk's
    /// record in before its pass, and Adam gets a pass of its own. With `timestamps` every
    /// dispatch is a pass of its own between timestamps `2i` and `2i + 1` of the query set, `i`
    /// counting dispatches in recording order from `next` (which it advances).
    fn record_step(
        &self,
        enc: &mut wgpu::CommandEncoder,
        slot: u32,
        adam: bool,
        timestamps: &mut Option<Timestamps<'_>>,
    ) {
        let adam = adam.then_some(&self.kernels.adam);
        if self.plan.n_chunks == 1 {
            let all: Vec<&dispatch::Dispatch> = self.kernels.chunk.iter().chain(adam).collect();
            record_passes(enc, "train step", &all, slot, timestamps);
            return;
        }
        let chunk: Vec<&dispatch::Dispatch> = self.kernels.chunk.iter().collect();
        for c in 0..self.plan.n_chunks {
            enc.copy_buffer_to_buffer(&self.chunk_records, 16 * c as u64, &self.bufs.chunk_info, 0, 16);
            record_passes(enc, "train chunk", &chunk, slot, timestamps);
        }
        if let Some(adam) = adam {
            record_passes(enc, "adam", &[adam], slot, timestamps);
        }
    }

    /// Runs `steps` optimizer steps, 32 to a submission with no read-back
    /// in between, then reads back the last step's loss (batch MSE). A non-finite loss is
    /// [`Error::Diverged`] (checked after the last step: the steps before it ran). `steps == 0`
    /// runs nothing and reports a NaN loss, as the CPU engine does.
    pub fn train(&mut self, steps: u32) -> Result<f32> {
        if steps == 0 {
            // as the CPU engine: no step, no loss
            return Ok(f32::NAN);
        }
        let mut done = 0;
        while done < steps {
            let n = (steps - done).min(STEPS_PER_SUBMISSION);
            self.write_step_records(self.step, n);
            let mut enc =
                self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("train steps") });
            for i in 0..n {
                self.record_step(&mut enc, i, true, &mut None);
            }
            self.gpu.queue.submit([enc.finish()]);
            self.step += n as u64;
            done += n;
        }
        let loss = self.last_loss()?;
        if !loss.is_finite() {
            return Err(Error::Diverged {
                step: self.step,
                message: format!("the loss became {loss}; try a lower learning rate (--lr)"),
            });
        }
        Ok(loss)
    }

    /// The last step's loss: its partial sums added in index order in f64, over 3·batch.
    fn last_loss(&self) -> Result<f32> {
        let count = self.plan.loss_partials(self.kernels.loss_group);
        let partials = self.gpu.read_f32(&self.bufs.loss_partials, 0, count as usize)?;
        let sum: f64 = partials.iter().map(|&v| v as f64).sum();
        Ok((sum / (3.0 * self.opts.batch as f64)) as f32)
    }

    /// The layers whose forward and backward passes run fused, one dispatch per pass for the
    /// whole run (`shaders/train_fused.wgsl`): the longest run of two or more hidden layers of
    /// one width up to 64 (SIREN-64×8: layers 1..9; a SIREN's fused forward pass computes its
    /// first layer too, from the positions, and where the output layer sits right above the run
    /// it computes that layer and the loss as well: no `loss` pass then in
    /// [`Trainer::profile_step`]); `None` where the model has none, the
    /// device's workgroup memory is too small, fp16 runs the products on cooperative matrices
    /// or [`Gpu::fused_layers`] is off.
    pub fn fused_layers(&self) -> Option<std::ops::Range<usize>> {
        self.kernels.fused.clone()
    }

    /// Runs one optimizer step with every dispatch in a compute pass of its own between two GPU
    /// timestamps, and returns the microseconds spent in each kind of pass (`sample`, `encode`,
    /// `forward`, `loss`, `weight_grad`, `backward`, `encoding_grad`, `adam`; summed over layers
    /// and chunks), in order of first appearance: where a step's time goes. The step counts as
    /// a step. Needs `Features::TIMESTAMP_QUERY`; an error says so where the device lacks it.
    pub fn profile_step(&mut self) -> Result<Vec<(&'static str, f64)>> {
        if !self.gpu.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return Err(err(format!("{} has no timestamp queries to profile with", self.gpu.describe())));
        }
        let dispatches: Vec<&dispatch::Dispatch> = (0..self.plan.n_chunks)
            .flat_map(|_| self.kernels.chunk.iter())
            .chain(std::iter::once(&self.kernels.adam))
            .collect();
        let n = dispatches.len() as u32;
        let queries = self.gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("train profile"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * n,
        });
        let resolved = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("train profile"),
            size: 16 * n as u64,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        self.write_step_records(self.step, 1);
        let mut enc =
            self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("train profile") });
        self.record_step(&mut enc, 0, true, &mut Some(Timestamps { queries: &queries, next: 0 }));
        enc.resolve_query_set(&queries, 0..2 * n, &resolved, 0);
        self.gpu.queue.submit([enc.finish()]);
        self.step += 1;
        let bytes = self.gpu.read_bytes(&resolved, 0, 16 * n as u64)?;
        let ticks: Vec<u64> = bytes.chunks_exact(8).filter_map(|b| b.try_into().ok().map(u64::from_le_bytes)).collect();
        let ns_per_tick = self.gpu.queue.get_timestamp_period() as f64;
        let mut passes: Vec<(&'static str, f64)> = Vec::new();
        for (d, t) in dispatches.iter().zip(ticks.chunks_exact(2)) {
            let us = t[1].saturating_sub(t[0]) as f64 * ns_per_tick / 1e3;
            match passes.iter_mut().find(|(l, _)| *l == d.label) {
                Some((_, total)) => *total += us,
                None => passes.push((d.label, us)),
            }
        }
        Ok(passes)
    }

    /// Optimizer steps taken (`AdamState::step` semantics).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Adam's state: the step count and both moments (zero for frozen parameters).
    pub fn adam_state(&self) -> Result<AdamState> {
        let n = self.layout.total;
        let mv = self.gpu.read_f32(&self.bufs.moments, 0, 2 * n)?;
        Ok(AdamState { step: self.step, m: mv[..n].to_vec(), v: mv[n..].to_vec() })
    }

    /// Replaces Adam's state (resuming); errors, naming the lengths, when the moments do not
    /// have one value per parameter.
    pub fn set_adam_state(&mut self, state: &AdamState) -> Result<()> {
        let n = self.layout.total;
        if state.m.len() != n || state.v.len() != n {
            return Err(err(format!(
                "optimizer state has {} first and {} second moments, the model has {n} parameters",
                state.m.len(),
                state.v.len()
            )));
        }
        self.gpu.queue.write_buffer(&self.bufs.moments, 0, bytemuck::cast_slice(&state.m));
        self.gpu.queue.write_buffer(&self.bufs.moments, 4 * n as u64, bytemuck::cast_slice(&state.v));
        self.step = state.step;
        Ok(())
    }

    /// Test hook: the gradient (one value per parameter, model layout, 0 for frozen ones) that
    /// the next step would apply, without applying it or advancing the step. The per-split
    /// partials are summed in split order, as `adam_step` sums them.
    pub fn gradient(&mut self) -> Result<Vec<f32>> {
        self.write_step_records(self.step, 1);
        let mut enc =
            self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("gradient") });
        self.record_step(&mut enc, 0, false, &mut None);
        self.gpu.queue.submit([enc.finish()]);
        let (splits, len) = (self.plan.splits as usize, self.plan.grad_len as usize);
        let partials = self.gpu.read_f32(&self.bufs.partials, 0, splits * len)?;
        let mut grad = vec![0.0f32; self.layout.total];
        grad[..len].copy_from_slice(&sum_splits(&partials, splits, len));
        // the thin layers' own partials, in place of theirs above (never written)
        for r in &self.kernels.thin {
            let n = r.split_len() as usize;
            let own = sum_splits(&self.gpu.read_f32(&r.buffer, 0, splits * n)?, splits, n);
            let (w, b) = (r.layer.w_off as usize, r.layer.bias_off as usize);
            let wl = r.weights_len() as usize;
            grad[w..w + wl].copy_from_slice(&own[..wl]);
            grad[b..b + r.biases_len() as usize].copy_from_slice(&own[wl..]);
        }
        if self.layout.encoding_trainable && len < self.layout.total {
            let enc_range = self.layout.encoding.clone();
            let words = self.gpu.read_bytes(&self.bufs.table_grad, 0, 8 * enc_range.len() as u64)?;
            for (g, w) in grad[enc_range].iter_mut().zip(words.chunks_exact(8)) {
                let fixed = i64::from_le_bytes(w.try_into().map_err(|_| Error::engine(NAME, "table gradient"))?);
                *g = (fixed as f64 / TABLE_GRAD_ONE / kernels::table_grad_scale(self.plan.batch) as f64) as f32;
            }
            // Adam clears the table's gradient; nothing applied it, so clear it here.
            let mut enc =
                self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("clear") });
            enc.clear_buffer(&self.bufs.table_grad, 0, None);
            self.gpu.queue.submit([enc.finish()]);
        }
        Ok(grad)
    }
}
