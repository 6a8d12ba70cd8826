//! The MLP on a chunk of [`CHUNK`] samples: a register-blocked matrix kernel, forward with the
//! activation fused into the epilogue, and backward (deltas and weight gradients).
//!
//! Layout contract: inside a chunk every activation is *feature-major*, `(features, CHUNK)`
//! row-major, so the sample index is the contiguous, vectorised one. Weights are the model's
//! `W (out × in)` row-major; the backward pass also needs `Wᵀ (in × out)`, which the engine
//! refreshes once per step ([`transpose_weights`]).

use super::simd::madd;
use super::sincos::sincos;
use crate::model::{Activation, MlpSpec, ParamLayout};

/// Samples per chunk: the unit of work of one thread, sized so that one layer's activations
/// (64 features × 64 samples × 4 B = 16 KB) and its weights stay in L1.
pub const CHUNK: usize = 64;

const ROWS: usize = 4;
const COLS: usize = 16;

/// `out (rows × cols) [+]= m (rows × kk) · x (kk × cols)`, all row-major with leading
/// dimensions `ldm`, `ldx`, `ldo`. Register-blocked 4 × 16; tails run in scalar loops.
#[inline(always)]
pub fn gemm<const FMA: bool>(
    rows: usize,
    cols: usize,
    kk: usize,
    m: &[f32],
    ldm: usize,
    x: &[f32],
    ldx: usize,
    out: &mut [f32],
    ldo: usize,
    accumulate: bool,
) {
    let mut r0 = 0;
    while r0 + ROWS <= rows {
        gemm_rows::<FMA, ROWS>(r0, cols, kk, m, ldm, x, ldx, out, ldo, accumulate);
        r0 += ROWS;
    }
    while r0 < rows {
        gemm_rows::<FMA, 1>(r0, cols, kk, m, ldm, x, ldx, out, ldo, accumulate);
        r0 += 1;
    }
}

#[inline(always)]
fn gemm_rows<const FMA: bool, const R: usize>(
    r0: usize,
    cols: usize,
    kk: usize,
    m: &[f32],
    ldm: usize,
    x: &[f32],
    ldx: usize,
    out: &mut [f32],
    ldo: usize,
    accumulate: bool,
) {
    let mut c0 = 0;
    while c0 + COLS <= cols {
        let mut acc = [[0.0f32; COLS]; R];
        if accumulate {
            for r in 0..R {
                acc[r].copy_from_slice(&out[(r0 + r) * ldo + c0..(r0 + r) * ldo + c0 + COLS]);
            }
        }
        for k in 0..kk {
            let xr = &x[k * ldx + c0..k * ldx + c0 + COLS];
            for r in 0..R {
                let w = m[(r0 + r) * ldm + k];
                for c in 0..COLS {
                    acc[r][c] = madd::<FMA>(w, xr[c], acc[r][c]);
                }
            }
        }
        for r in 0..R {
            out[(r0 + r) * ldo + c0..(r0 + r) * ldo + c0 + COLS].copy_from_slice(&acc[r]);
        }
        c0 += COLS;
    }
    for r in r0..r0 + R {
        for c in c0..cols {
            let mut acc = if accumulate { out[r * ldo + c] } else { 0.0 };
            for k in 0..kk {
                acc = madd::<FMA>(m[r * ldm + k], x[k * ldx + c], acc);
            }
            out[r * ldo + c] = acc;
        }
    }
}

/// Per-layer constants of the MLP, in the order of the model's layers.
#[derive(Clone, Debug)]
pub struct MlpPlan {
    /// The layers: sizes, activation, parameter offsets and scratch offsets.
    pub layers: Vec<LayerPlan>,
    /// Width of the widest layer (scratch rows).
    pub max_width: usize,
    /// Floats of activation scratch per chunk (all layer outputs).
    pub act_len: usize,
    /// Offsets of `Wᵀ` in the transposed-weights buffer, and its length.
    pub wt_len: usize,
}

/// One layer of an [`MlpPlan`].
#[derive(Clone, Copy, Debug)]
pub struct LayerPlan {
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// The activation.
    pub activation: Activation,
    /// Offset of `W` in the parameters.
    pub weights: usize,
    /// Offset of `b` in the parameters.
    pub biases: usize,
    /// Offset of `Wᵀ` in the transposed-weights buffer.
    pub wt: usize,
    /// Offset of this layer's output in the activation scratch.
    pub act: usize,
}

impl MlpPlan {
    /// The plan of an MLP with the model's parameter layout.
    pub fn new(mlp: &MlpSpec, layout: &ParamLayout) -> MlpPlan {
        let (mut act, mut wt) = (0, 0);
        let layers = mlp
            .layers
            .iter()
            .zip(&layout.layers)
            .map(|(l, slot)| {
                let p = LayerPlan {
                    inputs: l.inputs,
                    outputs: l.outputs,
                    activation: l.activation,
                    weights: slot.weights,
                    biases: slot.biases,
                    wt,
                    act,
                };
                act += l.outputs * CHUNK;
                wt += l.inputs * l.outputs;
                p
            })
            .collect();
        MlpPlan {
            layers,
            max_width: mlp.max_width(),
            act_len: act,
            wt_len: wt,
        }
    }

    /// Width of the network's input.
    pub fn input_dim(&self) -> usize {
        self.layers[0].inputs
    }

    /// Offset of the network output in the activation scratch.
    pub fn output_offset(&self) -> usize {
        self.layers[self.layers.len() - 1].act
    }
}

/// Scratch for one chunk: every layer's output and activation derivative, two delta rows and a
/// transpose buffer. Allocated once per slice at load time.
#[derive(Clone, Debug)]
pub struct ChunkScratch {
    /// Layer outputs, `(out_l, CHUNK)` at `plan.layers[l].act`.
    pub acts: Vec<f32>,
    /// `act'(z)` of the hidden layers at the same offsets (sine: `ω cos(ω z)`, ReLU: 0 or 1).
    pub derivs: Vec<f32>,
    /// Delta of the current layer, `(max_width, CHUNK)`.
    pub delta: Vec<f32>,
    /// Delta of the layer below.
    pub delta_prev: Vec<f32>,
    /// A layer input transposed to `(CHUNK, in)`.
    pub transposed: Vec<f32>,
}

impl ChunkScratch {
    /// Scratch for a plan with encodings of width `input_dim`.
    pub fn new(plan: &MlpPlan) -> ChunkScratch {
        let w = plan.max_width.max(plan.input_dim());
        ChunkScratch {
            acts: vec![0.0; plan.act_len],
            derivs: vec![0.0; plan.act_len],
            delta: vec![0.0; w * CHUNK],
            delta_prev: vec![0.0; w * CHUNK],
            transposed: vec![0.0; w * CHUNK],
        }
    }
}

/// Refreshes `Wᵀ` of every layer from the parameters.
pub fn transpose_weights(plan: &MlpPlan, params: &[f32], wt: &mut [f32]) {
    for l in &plan.layers {
        let (ni, no) = (l.inputs, l.outputs);
        for o in 0..no {
            for i in 0..ni {
                wt[l.wt + i * no + o] = params[l.weights + o * ni + i];
            }
        }
    }
}

/// Forward pass of one chunk. `input`: `(in_0, CHUNK)`. Writes every layer's output into
/// `acts`; with `TRAIN` also the activation derivatives into `derivs`.
#[inline(always)]
pub fn forward_chunk<const FMA: bool, const TRAIN: bool>(
    plan: &MlpPlan,
    params: &[f32],
    input: &[f32],
    acts: &mut [f32],
    derivs: &mut [f32],
) {
    for (l, layer) in plan.layers.iter().enumerate() {
        let (ni, no) = (layer.inputs, layer.outputs);
        let (before, rest) = acts.split_at_mut(layer.act);
        let z = &mut rest[..no * CHUNK];
        let a_in: &[f32] = if l == 0 {
            input
        } else {
            &before[plan.layers[l - 1].act..plan.layers[l - 1].act + ni * CHUNK]
        };
        let b = &params[layer.biases..layer.biases + no];
        for o in 0..no {
            z[o * CHUNK..(o + 1) * CHUNK].fill(b[o]);
        }
        gemm::<FMA>(
            no,
            CHUNK,
            ni,
            &params[layer.weights..layer.weights + no * ni],
            ni,
            a_in,
            CHUNK,
            z,
            CHUNK,
            true,
        );
        let d = &mut derivs[layer.act..layer.act + no * CHUNK];
        activate::<FMA, TRAIN>(layer.activation, z, d);
    }
}

/// Applies an activation in place; with `TRAIN` stores `act'(z)` (for the sigmoid and linear
/// outputs the derivative is taken from the output in the loss instead).
#[inline(always)]
fn activate<const FMA: bool, const TRAIN: bool>(act: Activation, z: &mut [f32], d: &mut [f32]) {
    match act {
        Activation::Sine { omega } => {
            for (v, dv) in z.iter_mut().zip(d.iter_mut()) {
                let (s, c) = sincos::<FMA>(omega * *v);
                *v = s;
                if TRAIN {
                    *dv = omega * c;
                }
            }
        }
        Activation::Relu => {
            for (v, dv) in z.iter_mut().zip(d.iter_mut()) {
                if TRAIN {
                    *dv = if *v > 0.0 { 1.0 } else { 0.0 };
                }
                *v = v.max(0.0);
            }
        }
        Activation::Sigmoid => z.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
        Activation::Linear => {}
    }
}

/// Backward pass of one chunk from `delta` = ∂L/∂z of the last layer `(3, CHUNK)` (already in
/// `scratch.delta`). Adds ∂L/∂W and ∂L/∂b into `grad` (model layout); when `d_input` is given,
/// writes ∂L/∂input `(in_0, CHUNK)` into it.
#[inline(always)]
pub fn backward_chunk<const FMA: bool>(
    plan: &MlpPlan,
    wt: &[f32],
    input: &[f32],
    scratch: &mut ChunkScratch,
    grad: &mut [f32],
    d_input: Option<&mut [f32]>,
) {
    let ChunkScratch {
        acts,
        derivs,
        delta,
        delta_prev,
        transposed,
    } = scratch;
    let mut d_input = d_input;
    for l in (0..plan.layers.len()).rev() {
        let layer = &plan.layers[l];
        let (ni, no) = (layer.inputs, layer.outputs);
        let a_in: &[f32] = if l == 0 {
            input
        } else {
            &acts[plan.layers[l - 1].act..plan.layers[l - 1].act + ni * CHUNK]
        };
        let dz = &delta[..no * CHUNK];
        // ∂L/∂b = Σ_s δ
        for o in 0..no {
            grad[layer.biases + o] += dz[o * CHUNK..(o + 1) * CHUNK].iter().sum::<f32>();
        }
        // ∂L/∂W += δ (out × S) · aᵀ (S × in)
        for i in 0..ni {
            for s in 0..CHUNK {
                transposed[s * ni + i] = a_in[i * CHUNK + s];
            }
        }
        gemm::<FMA>(
            no,
            ni,
            CHUNK,
            dz,
            CHUNK,
            transposed,
            ni,
            &mut grad[layer.weights..layer.weights + no * ni],
            ni,
            true,
        );
        if l == 0 {
            if let Some(d) = d_input.take() {
                gemm::<FMA>(
                    ni,
                    CHUNK,
                    no,
                    &wt[layer.wt..layer.wt + ni * no],
                    no,
                    dz,
                    CHUNK,
                    d,
                    CHUNK,
                    false,
                );
            }
            break;
        }
        // δ_prev = (Wᵀ δ) ⊙ act'(z_prev)
        let dp = &mut delta_prev[..ni * CHUNK];
        gemm::<FMA>(
            ni,
            CHUNK,
            no,
            &wt[layer.wt..layer.wt + ni * no],
            no,
            dz,
            CHUNK,
            dp,
            CHUNK,
            false,
        );
        let prev = &plan.layers[l - 1];
        for (v, &dv) in dp.iter_mut().zip(&derivs[prev.act..prev.act + ni * CHUNK]) {
            *v *= dv;
        }
        std::mem::swap(delta, delta_prev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_naive_with_tails() {
        for (rows, cols, kk) in [
            (4, 16, 3),
            (7, 37, 5),
            (1, 1, 1),
            (64, 64, 64),
            (3, 64, 64),
            (64, 2, 64),
        ] {
            let m: Vec<f32> = (0..rows * kk).map(|i| (i as f32 * 0.37).sin()).collect();
            let x: Vec<f32> = (0..kk * cols).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut out = vec![0.5f32; rows * cols];
            gemm::<false>(rows, cols, kk, &m, kk, &x, cols, &mut out, cols, true);
            for r in 0..rows {
                for c in 0..cols {
                    let e: f64 = 0.5
                        + (0..kk)
                            .map(|k| m[r * kk + k] as f64 * x[k * cols + c] as f64)
                            .sum::<f64>();
                    assert!(
                        (out[r * cols + c] as f64 - e).abs() < 1e-4,
                        "{rows}x{cols}x{kk} at ({r},{c})"
                    );
                }
            }
        }
    }
}
