//! The shape of a training step on the GPU: how the batch is cut into chunks, where every
//! layer's activations and deltas sit in the chunk buffers, how the weight gradients are split
//! over the batch, and the records (uniform structs) the kernels read.
//!
//! Chunk buffers (C = [`Plan::chunk`] samples, all sample-major):
//! - `acts`: `[E (C, in_0) | A_0 (C, out_0) | … | A_last (C, 3)]`, layer `l`'s output at
//!   [`Plan::act_offsets`]`[l]`;
//! - `derivs`: `act'(z)` of the hidden layers at the same offsets, each overwritten in place by
//!   the layer's delta `∂L/∂z_l` once the backward pass has used it (the output layer's delta
//!   is written there by the loss); `∂L/∂E` in E's slot at 0. A delta stays until the next
//!   chunk's forward pass, whatever order the weight gradients and the backward pass take;
//! - `batch`: positions `(C, 2)` then colours `(C, 3)`;
//! - `partials`: [`Plan::splits`] × [`Plan::grad_len`] weight-gradient sums (one per split of
//!   the chunk's samples, accumulated over the chunks of a step).

use crate::{Gpu, NAME};
use bytemuck::{Pod, Zeroable};
use nfield::model::{ModelSpec, ParamLayout};
use nfield::{Error, Result};

/// Samples per loss workgroup; chunks are multiples of it.
pub const LOSS_GROUP: u32 = 256;
/// The fewest samples a loss partial sum may cover: the samples of each partial sum of the
/// fused forward pass (train_fused.wgsl `LOSS_SPAN`; its smallest tile).
pub const MIN_LOSS_GROUP: u32 = 16;
/// At most this many bytes of chunk buffers (activations, derivatives and deltas, batch):
/// enough for a 2^18 batch of SIREN-64×8 (1.04 GiB) in one chunk. One chunk instead of two
/// halves the dispatches and doubles each one's workgroups: 9 % faster training on the H100
/// (65.9 → 71.7 M samples/s, 2026-11-27).
const CHUNK_BUDGET: u64 = 1280 << 20;
/// At most this many bytes of per-split weight-gradient partial sums.
const PARTIALS_BUDGET: u64 = 256 << 20;
/// At most this many samples per chunk (keeps every dispatch dimension far below 65 535).
const MAX_CHUNK: u32 = 1 << 20;
/// Aim for at least this many samples per split of the weight gradients (8 chunks of the
/// GEMM's k; at most [`MAX_SPLITS`] splits: 1024 samples each in the one 2^18-sample chunk of
/// a SIREN-64×8 batch, 256 workgroups of 128 invocations for a 64 × 64 layer).
const SAMPLES_PER_SPLIT: u32 = 128;
/// At most this many splits.
const MAX_SPLITS: u32 = 256;

/// The per-layer, per-pass record of train_layer.wgsl (`Layer`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct LayerRecord {
    /// Rows of the product.
    pub dims_m: u32,
    /// Columns of the product.
    pub dims_n: u32,
    /// Summed dimension.
    pub dims_k: u32,
    /// Samples per split (weight gradients).
    pub k_split: u32,
    /// Offset of operand a.
    pub a_off: u32,
    /// Offset of the result.
    pub out_off: u32,
    /// Offset of the auxiliary operand.
    pub aux_off: u32,
    /// Activation / derivative selector (see the shader).
    pub act: u32,
    /// Offset of W in the parameters.
    pub w_off: u32,
    /// Offset of b in the parameters.
    pub bias_off: u32,
    /// Layer inputs.
    pub inputs: u32,
    /// Layer outputs.
    pub outputs: u32,
}

/// The per-chunk record of train_batch.wgsl (`Chunk`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct ChunkRecord {
    /// First sample of the chunk within the step.
    pub base: u32,
    /// Real samples in the chunk.
    pub valid: u32,
    /// 0 for the first chunk of a step, 1 after.
    pub accumulate: u32,
    /// Padding to 16 bytes.
    pub pad: u32,
}

/// The per-step record of train_batch.wgsl (`StepInfo`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct StepRecord {
    /// Low half of the 0-based step index.
    pub step_lo: u32,
    /// High half.
    pub step_hi: u32,
    /// `lr_t / (1 − β1^t)` rounded to f32.
    pub step_size: f32,
    /// `1 / (1 − β2^t)` rounded to f32.
    pub c2: f32,
}

/// Sizes and offsets of a training step (see the module documentation).
#[derive(Clone, Debug)]
pub struct Plan {
    /// Samples per step.
    pub batch: u32,
    /// Samples per chunk (a multiple of [`LOSS_GROUP`]).
    pub chunk: u32,
    /// Chunks per step.
    pub n_chunks: u32,
    /// `(inputs, outputs)` of every layer.
    pub dims: Vec<(u32, u32)>,
    /// Offset of each layer's output in `acts` (the encoding E sits at 0).
    pub act_offsets: Vec<u32>,
    /// Floats of `acts` (and `derivs`).
    pub acts_len: u64,
    /// Parameters with per-split gradients: the MLP, plus B when it is trained.
    pub grad_len: u32,
    /// Splits of the chunk's samples for the weight gradients.
    pub splits: u32,
    /// Samples per split (a multiple of 16).
    pub k_split: u32,
}

fn too_big(what: &str, batch: u32, detail: String) -> Error {
    Error::engine(NAME, format!("training {what} with a batch of {batch}: {detail}; try a smaller --batch or model"))
}

impl Plan {
    /// The plan for `spec` at `batch` samples per step on `gpu` (binding limit, memory budget).
    pub fn new(gpu: &Gpu, spec: &ModelSpec, layout: &ParamLayout, batch: u32) -> Result<Plan> {
        Plan::for_binding(gpu.max_binding, spec, layout, batch)
    }

    /// [`Plan::new`] for a device whose storage bindings hold at most `max_binding` bytes.
    pub fn for_binding(max_binding: u64, spec: &ModelSpec, layout: &ParamLayout, batch: u32) -> Result<Plan> {
        let dims: Vec<(u32, u32)> = layout.layers.iter().map(|l| (l.inputs as u32, l.outputs as u32)).collect();
        let enc_dim = dims[0].0 as u64;
        let acts_per_sample = enc_dim + dims.iter().map(|d| d.1 as u64).sum::<u64>();
        let bytes_per_sample = 4 * (2 * acts_per_sample + 5);
        let per_binding = 4 * acts_per_sample;
        let limit = (max_binding / per_binding).min(CHUNK_BUDGET / bytes_per_sample).min(MAX_CHUNK as u64);
        let max_chunk = (limit as u32 / LOSS_GROUP) * LOSS_GROUP;
        if max_chunk == 0 {
            return Err(too_big(
                &spec.describe(),
                batch,
                format!(
                    "one chunk of {LOSS_GROUP} samples needs {:.1} MiB per buffer, the device binds at most {:.1} MiB",
                    (LOSS_GROUP as u64 * per_binding) as f64 / 1048576.0,
                    max_binding as f64 / 1048576.0
                ),
            ));
        }
        let padded = batch.div_ceil(LOSS_GROUP) * LOSS_GROUP;
        let n_chunks = padded.div_ceil(max_chunk);
        let chunk = batch.div_ceil(n_chunks).div_ceil(LOSS_GROUP) * LOSS_GROUP;
        let n_chunks = batch.div_ceil(chunk);
        let mut act_offsets = Vec::with_capacity(dims.len());
        let mut at = chunk as u64 * enc_dim;
        for d in &dims {
            act_offsets.push(at as u32);
            at += chunk as u64 * d.1 as u64;
        }
        let grad_len = if layout.encoding_trainable && matches!(spec, ModelSpec::Fourier(_)) {
            layout.total
        } else {
            layout.encoding.start
        };
        let grad_bytes = 4 * grad_len as u64;
        if grad_bytes > max_binding {
            return Err(too_big(
                &spec.describe(),
                batch,
                format!(
                    "its {grad_len} gradients need {:.1} MiB, the device binds at most {:.1} MiB",
                    grad_bytes as f64 / 1048576.0,
                    max_binding as f64 / 1048576.0
                ),
            ));
        }
        let by_memory = (max_binding.min(PARTIALS_BUDGET) / grad_bytes).max(1) as u32;
        let splits = (chunk / SAMPLES_PER_SPLIT).clamp(1, MAX_SPLITS).min(by_memory);
        let k_split = chunk.div_ceil(splits).div_ceil(16) * 16;
        let splits = chunk.div_ceil(k_split);
        Ok(Plan { batch, chunk, n_chunks, dims, act_offsets, acts_len: at, grad_len: grad_len as u32, splits, k_split })
    }

    /// Offset in `derivs` of `∂L/∂z` of layer `l` (its output's slot), or of `∂L/∂E` for `None`
    /// (E's slot, 0).
    pub fn delta_offset(&self, l: Option<usize>) -> u32 {
        l.map_or(0, |l| self.act_offsets[l])
    }

    /// Offset in `acts` of layer `l`'s input (E for layer 0).
    pub fn input_offset(&self, l: usize) -> u32 {
        if l == 0 { 0 } else { self.act_offsets[l - 1] }
    }

    /// The chunk records of one step, in order.
    pub fn chunk_records(&self) -> Vec<ChunkRecord> {
        (0..self.n_chunks)
            .map(|c| {
                let base = c * self.chunk;
                ChunkRecord { base, valid: self.chunk.min(self.batch - base), accumulate: (c > 0) as u32, pad: 0 }
            })
            .collect()
    }

    /// Loss partial sums per step: one per `group` samples of every chunk ([`LOSS_GROUP`], or
    /// [`MIN_LOSS_GROUP`] where the fused forward pass computes the loss).
    pub fn loss_partials(&self, group: u32) -> u32 {
        self.n_chunks * self.chunk / group
    }
}
