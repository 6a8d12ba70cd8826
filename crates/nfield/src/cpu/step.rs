//! One training step of a slice of the batch, and inference of one chunk: sampling, encoding,
//! the MLP forward, the loss and its gradient, the MLP backward, and the encoding's backward,
//! fused per chunk of [`CHUNK`] samples so that nothing leaves the core's caches.
//!
//! Layouts: positions `(CHUNK, 2)`, encodings `(CHUNK, in_0)`, colours and outputs
//! `(CHUNK, 3)`, all sample-major.

use super::fourier;
use super::hash_grid;
use super::mlp::{self, CHUNK, ChunkScratch, MlpPlan};
use super::simd::simd_entry;
use crate::model::{Activation, EncodingSpec};
use crate::rng;

/// The training target: colours of every pixel and the coordinates of every column and row
/// (positions are separable, so sampling reads two small tables instead of a per-pixel one).
#[derive(Clone, Debug)]
pub struct Target {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// x coordinate of each column, in the model's coordinates.
    pub xs: Vec<f32>,
    /// y coordinate of each row.
    pub ys: Vec<f32>,
    /// `(N, 3)` colours.
    pub colors: Vec<f32>,
}

impl Target {
    /// Number of pixels.
    pub fn len(&self) -> usize {
        self.colors.len() / 3
    }

    /// Whether the target has no pixels.
    pub fn is_empty(&self) -> bool {
        self.colors.is_empty()
    }

    /// The position of pixel `k` (row-major).
    #[inline(always)]
    pub fn position(&self, k: usize) -> [f32; 2] {
        let w = self.width as usize;
        [self.xs[k % w], self.ys[k / w]]
    }
}

/// Everything a step reads (shared by all slices).
pub struct StepContext<'a> {
    /// The MLP plan.
    pub plan: &'a MlpPlan,
    /// The encoding.
    pub encoding: &'a EncodingSpec,
    /// Parameters (model layout).
    pub params: &'a [f32],
    /// `Wᵀ` of every layer, current for `params`.
    pub wt: &'a [f32],
    /// Offset of the encoding's parameters.
    pub encoding_offset: usize,
    /// Whether the encoding's parameters get gradients.
    pub encoding_trainable: bool,
    /// The target.
    pub target: &'a Target,
    /// Optional pixel subset.
    pub subset: Option<&'a [u32]>,
    /// Sampler seed.
    pub seed: u64,
    /// 0-based index of this step (the RNG's `step`).
    pub step: u64,
    /// Samples in the batch.
    pub batch: usize,
}

/// Per-slice buffers: chunk scratch, the slice's gradient and loss.
#[derive(Clone, Debug)]
pub struct Slice {
    /// Activations and deltas of the chunk in flight.
    pub scratch: ChunkScratch,
    /// The encoded chunk, `(CHUNK, in_0)`.
    pub encoded: Vec<f32>,
    /// ∂L/∂encoding of the chunk (Fourier with a trained B).
    pub d_encoded: Vec<f32>,
    /// The chunk's positions, `(CHUNK, 2)`.
    pub positions: Vec<f32>,
    /// The chunk's target colours, `(CHUNK, 3)`.
    pub colors: Vec<f32>,
    /// Gradient of the MLP (and Fourier B), model layout, summed over the slice's chunks.
    pub grad: Vec<f32>,
    /// Σ squared error over the slice's samples and channels.
    pub loss: f64,
}

impl Slice {
    /// Buffers for a plan; `grad_len` is the prefix of the parameters the slice accumulates.
    pub fn new(plan: &MlpPlan, grad_len: usize) -> Slice {
        let in0 = plan.input_dim();
        Slice {
            scratch: ChunkScratch::new(plan),
            encoded: vec![0.0; in0 * CHUNK],
            d_encoded: vec![0.0; in0 * CHUNK],
            positions: vec![0.0; 2 * CHUNK],
            colors: vec![0.0; 3 * CHUNK],
            grad: vec![0.0; grad_len],
            loss: 0.0,
        }
    }
}

/// Encodes a chunk of positions `(CHUNK, 2)` into `out` `(CHUNK, in_0)`.
#[inline(always)]
fn encode<const FMA: bool>(
    encoding: &EncodingSpec,
    params: &[f32],
    enc_offset: usize,
    positions: &[f32],
    out: &mut [f32],
) {
    match encoding {
        EncodingSpec::Identity => out[..2 * CHUNK].copy_from_slice(&positions[..2 * CHUNK]),
        EncodingSpec::Fourier { frequencies, .. } => fourier::forward_chunk::<FMA>(
            &params[enc_offset..enc_offset + 2 * frequencies],
            *frequencies,
            positions,
            out,
        ),
        EncodingSpec::HashGrid(h) => hash_grid::encode_chunk(h, &params[enc_offset..], positions, out),
    }
}

simd_entry! {
    /// Runs the chunks `first_chunk..first_chunk + chunks` of the batch through `slice`:
    /// gradients accumulate into `slice.grad`, squared errors into `slice.loss`. For a hash grid,
    /// the chunks' positions and ∂L/∂encoding are written to `batch_positions`
    /// `(chunks·CHUNK, 2)` and `batch_d_enc` `(chunks·CHUNK, in_0)` for the scatter.
    pub fn train_slice(ctx: &StepContext<'_>, slice: &mut Slice, first_chunk: usize, chunks: usize, batch_positions: &mut [f32], batch_d_enc: &mut [f32]) => train_slice_impl
}

#[inline(always)]
fn train_slice_impl<const FMA: bool>(
    ctx: &StepContext<'_>,
    slice: &mut Slice,
    first_chunk: usize,
    chunks: usize,
    batch_positions: &mut [f32],
    batch_d_enc: &mut [f32],
) {
    slice.grad.fill(0.0);
    slice.loss = 0.0;
    let plan = ctx.plan;
    let in0 = plan.input_dim();
    let n_pixels = ctx.subset.map_or(ctx.target.len(), <[u32]>::len) as u32;
    let scale = 2.0 / (3.0 * ctx.batch as f32);
    let out_layer = plan.layers[plan.layers.len() - 1];
    let hash = matches!(ctx.encoding, EncodingSpec::HashGrid(_));
    for c in 0..chunks {
        let start = (first_chunk + c) * CHUNK;
        let valid = CHUNK.min(ctx.batch.saturating_sub(start));
        // Sampling: uniform pixels with replacement from the counter-based RNG. The indices come
        // first so that the 64 gathers below are independent loads the core can overlap.
        let mut pixels = [0usize; CHUNK];
        for (s, p) in pixels.iter_mut().enumerate().take(valid) {
            let k = rng::train_pixel(ctx.seed, ctx.step, (start + s) as u32, n_pixels) as usize;
            *p = ctx.subset.map_or(k, |subset| subset[k] as usize);
        }
        for s in 0..CHUNK {
            if s < valid {
                let k = pixels[s];
                let [x, y] = ctx.target.position(k);
                slice.positions[2 * s] = x;
                slice.positions[2 * s + 1] = y;
                slice.colors[3 * s..3 * s + 3].copy_from_slice(&ctx.target.colors[3 * k..3 * k + 3]);
            } else {
                slice.positions[2 * s..2 * s + 2].fill(0.0);
                slice.colors[3 * s..3 * s + 3].fill(0.0);
            }
        }
        encode::<FMA>(ctx.encoding, ctx.params, ctx.encoding_offset, &slice.positions, &mut slice.encoded);
        mlp::forward_chunk::<FMA, true>(
            plan,
            ctx.params,
            ctx.wt,
            &slice.encoded,
            &mut slice.scratch.acts,
            &mut slice.scratch.derivs,
        );

        // Loss and ∂L/∂z of the output layer; padding samples contribute nothing.
        let y = &slice.scratch.acts[out_layer.act..out_layer.act + 3 * CHUNK];
        let delta = &mut slice.scratch.delta[..3 * CHUNK];
        let mut sq = 0.0f32;
        for i in 0..3 * CHUNK {
            let diff = if i < 3 * valid { y[i] - slice.colors[i] } else { 0.0 };
            sq += diff * diff;
            let dy = scale * diff;
            delta[i] = match out_layer.activation {
                Activation::Sigmoid => dy * y[i] * (1.0 - y[i]),
                _ => dy,
            };
        }
        slice.loss += sq as f64;

        let d_input: Option<&mut [f32]> = if hash {
            batch_positions[c * 2 * CHUNK..(c + 1) * 2 * CHUNK].copy_from_slice(&slice.positions);
            Some(&mut batch_d_enc[c * in0 * CHUNK..(c + 1) * in0 * CHUNK])
        } else if ctx.encoding_trainable {
            Some(&mut slice.d_encoded)
        } else {
            None
        };
        mlp::backward_chunk::<FMA>(plan, ctx.params, &slice.encoded, &mut slice.scratch, &mut slice.grad, d_input);
        if let (EncodingSpec::Fourier { frequencies, .. }, true) = (ctx.encoding, ctx.encoding_trainable) {
            let m = *frequencies;
            let db = &mut slice.grad[ctx.encoding_offset..ctx.encoding_offset + 2 * m];
            fourier::backward_chunk(m, &slice.positions, &slice.encoded, &slice.d_encoded, db);
        }
    }
}

/// Scratch for inference of one chunk.
pub struct InferScratch {
    positions: Vec<f32>,
    encoded: Vec<f32>,
    acts: Vec<f32>,
    derivs: Vec<f32>,
}

impl InferScratch {
    /// Scratch for a plan.
    pub fn new(plan: &MlpPlan) -> InferScratch {
        InferScratch {
            positions: vec![0.0; 2 * CHUNK],
            encoded: vec![0.0; plan.input_dim() * CHUNK],
            acts: vec![0.0; plan.act_len],
            derivs: vec![0.0; plan.act_len],
        }
    }

    /// The chunk's positions `(CHUNK, 2)`, to be filled before [`infer_chunk`].
    pub fn positions_mut(&mut self) -> &mut [f32] {
        &mut self.positions
    }
}

simd_entry! {
    /// Evaluates the chunk in `scratch.positions` and writes the first `valid` RGB outputs to
    /// `out` `(valid, 3)`. `wt` must hold the current `Wᵀ` ([`mlp::transpose_weights`]).
    pub fn infer_chunk(plan: &MlpPlan, encoding: &EncodingSpec, params: &[f32], wt: &[f32], enc_offset: usize, scratch: &mut InferScratch, valid: usize, out: &mut [f32]) => infer_chunk_impl
}

#[inline(always)]
fn infer_chunk_impl<const FMA: bool>(
    plan: &MlpPlan,
    encoding: &EncodingSpec,
    params: &[f32],
    wt: &[f32],
    enc_offset: usize,
    scratch: &mut InferScratch,
    valid: usize,
    out: &mut [f32],
) {
    encode::<FMA>(encoding, params, enc_offset, &scratch.positions, &mut scratch.encoded);
    mlp::forward_chunk::<FMA, false>(plan, params, wt, &scratch.encoded, &mut scratch.acts, &mut scratch.derivs);
    let y = plan.output_offset();
    out[..3 * valid].copy_from_slice(&scratch.acts[y..y + 3 * valid]);
}
