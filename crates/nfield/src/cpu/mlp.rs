//! The MLP on a chunk of [`CHUNK`] samples: a register-blocked matrix kernel, the forward pass,
//! and the backward pass (deltas and weight gradients).
//!
//! Layout contract: inside a chunk every activation is *sample-major*, `(CHUNK, features)`
//! row-major, so the feature index is the contiguous, vectorised one and no pass needs a
//! transpose: forward `Z = A·Wᵀ`, backward `dA = dZ·W`, and `dW = dZᵀ·A` (the kernel reads its
//! broadcast operand with arbitrary strides). Weights are the model's `W (out × in)` row-major;
//! the forward also needs `Wᵀ (in × out)`, refreshed once per step by [`transpose_weights`].

use super::simd::madd;
use super::sincos::{sincos, sincos_split};
use crate::model::{Activation, MlpSpec, ParamLayout};

/// Samples per chunk: the unit of work of one thread, sized so that one layer's activations
/// (64 samples × 64 features × 4 B = 16 KB) and its weights stay in L1.
pub const CHUNK: usize = 64;

const ROWS: usize = 6;
const COLS: usize = 16;

/// The broadcast operand of [`gemm`]: element `(r, k)` is at `data[r·row_stride + k·k_stride]`.
#[derive(Clone, Copy)]
pub struct Strided<'a> {
    /// The values.
    pub data: &'a [f32],
    /// Distance between rows.
    pub row_stride: usize,
    /// Distance between consecutive k.
    pub k_stride: usize,
}

/// `out (rows × cols, leading dimension ldo) [+]= m (rows × kk) · x (kk × cols, ldx)`.
///
/// `m` is read one scalar at a time (broadcast) with any strides; `x` rows are contiguous and
/// vectorised. Register-blocked 4 × 16; column tails run in scalar loops.
#[inline(always)]
pub fn gemm<const FMA: bool>(
    rows: usize,
    cols: usize,
    kk: usize,
    m: Strided<'_>,
    x: &[f32],
    ldx: usize,
    out: &mut [f32],
    ldo: usize,
    accumulate: bool,
) {
    if rows == 0 || cols == 0 {
        return;
    }
    // Every index below is bounded by these extents; checking them once lets the loops run
    // without per-element bounds checks.
    let m_end = (rows - 1) * m.row_stride + kk.saturating_sub(1) * m.k_stride + 1;
    assert!(kk == 0 || m.data.len() >= m_end, "gemm: m too short");
    assert!(kk == 0 || x.len() >= (kk - 1) * ldx + cols, "gemm: x too short");
    assert!(out.len() >= (rows - 1) * ldo + cols, "gemm: out too short");
    // Column panels outermost: a 16-column panel of `x` (kk × 64 B) stays in L1 while every
    // row block streams past it.
    let mut c0 = 0;
    while c0 + COLS <= cols {
        let mut r0 = 0;
        while r0 + ROWS <= rows {
            gemm_block::<FMA, ROWS>(r0, c0, kk, m, x, ldx, out, ldo, accumulate);
            r0 += ROWS;
        }
        while r0 + 4 <= rows {
            gemm_block::<FMA, 4>(r0, c0, kk, m, x, ldx, out, ldo, accumulate);
            r0 += 4;
        }
        while r0 < rows {
            gemm_block::<FMA, 1>(r0, c0, kk, m, x, ldx, out, ldo, accumulate);
            r0 += 1;
        }
        c0 += COLS;
    }
    for r in 0..rows {
        for c in c0..cols {
            let mut acc = if accumulate { out[r * ldo + c] } else { 0.0 };
            for k in 0..kk {
                acc = madd::<FMA>(m.data[r * m.row_stride + k * m.k_stride], x[k * ldx + c], acc);
            }
            out[r * ldo + c] = acc;
        }
    }
}

/// One `R × 16` block of [`gemm`] at row `r0`, column `c0`, accumulated in registers.
#[inline(always)]
fn gemm_block<const FMA: bool, const R: usize>(
    r0: usize,
    c0: usize,
    kk: usize,
    m: Strided<'_>,
    x: &[f32],
    ldx: usize,
    out: &mut [f32],
    ldo: usize,
    accumulate: bool,
) {
    let (rs, ks) = (m.row_stride, m.k_stride);
    let mut acc = [[0.0f32; COLS]; R];
    if accumulate {
        for r in 0..R {
            acc[r].copy_from_slice(&out[(r0 + r) * ldo + c0..(r0 + r) * ldo + c0 + COLS]);
        }
    }
    for k in 0..kk {
        // SAFETY: k < kk and c0 + COLS ≤ cols, so the row lies within the extent asserted in
        // `gemm`.
        let xr = unsafe { x.get_unchecked(k * ldx + c0..k * ldx + c0 + COLS) };
        for r in 0..R {
            // SAFETY: r0 + r < rows and k < kk: within `m_end` asserted in `gemm`.
            let w = unsafe { *m.data.get_unchecked((r0 + r) * rs + k * ks) };
            for c in 0..COLS {
                acc[r][c] = madd::<FMA>(w, xr[c], acc[r][c]);
            }
        }
    }
    for r in 0..R {
        out[(r0 + r) * ldo + c0..(r0 + r) * ldo + c0 + COLS].copy_from_slice(&acc[r]);
    }
}

/// `out[r][c] = b[c] + Σ_k a[r][k] · w[c][k]` for few output columns (the 3 colours): dot
/// products vectorised along k. `a`: `(rows, kk)`, `w`: `(cols, kk)`, both row-major.
#[inline(always)]
fn gemm_dot<const FMA: bool>(rows: usize, cols: usize, kk: usize, a: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    const LANES: usize = 8;
    for r in 0..rows {
        let ar = &a[r * kk..(r + 1) * kk];
        for c in 0..cols {
            let wc = &w[c * kk..(c + 1) * kk];
            let mut acc = [0.0f32; LANES];
            let mut k = 0;
            while k + LANES <= kk {
                for l in 0..LANES {
                    acc[l] = madd::<FMA>(ar[k + l], wc[k + l], acc[l]);
                }
                k += LANES;
            }
            let mut sum = b[c] + acc.iter().sum::<f32>();
            while k < kk {
                sum = madd::<FMA>(ar[k], wc[k], sum);
                k += 1;
            }
            out[r * cols + c] = sum;
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
    /// Length of the transposed-weights buffer.
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
    /// Offset of this layer's output `(CHUNK, out)` in the activation scratch.
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
        MlpPlan { layers, max_width: mlp.max_width(), act_len: act, wt_len: wt }
    }

    /// Width of the network's input.
    pub fn input_dim(&self) -> usize {
        self.layers[0].inputs
    }

    /// Offset of the network output `(CHUNK, 3)` in the activation scratch.
    pub fn output_offset(&self) -> usize {
        self.layers[self.layers.len() - 1].act
    }
}

/// Scratch for one chunk: every layer's output and activation derivative, and two delta
/// buffers. Allocated once per slice at load time.
#[derive(Clone, Debug)]
pub struct ChunkScratch {
    /// Layer outputs, `(CHUNK, out_l)` at `plan.layers[l].act`.
    pub acts: Vec<f32>,
    /// `act'(z)` of the hidden layers at the same offsets (sine: `ω cos(ω z)`, ReLU: 0 or 1).
    pub derivs: Vec<f32>,
    /// ∂L/∂z of the current layer, `(CHUNK, out)`.
    pub delta: Vec<f32>,
    /// ∂L/∂z of the layer below.
    pub delta_prev: Vec<f32>,
    /// ∂L/∂Wᵀ of a layer with few inputs, `(in, out)` with `in < 16`.
    pub wgrad_t: Vec<f32>,
}

impl ChunkScratch {
    /// Scratch for a plan.
    pub fn new(plan: &MlpPlan) -> ChunkScratch {
        let w = plan.max_width.max(plan.input_dim());
        ChunkScratch {
            acts: vec![0.0; plan.act_len],
            derivs: vec![0.0; plan.act_len],
            delta: vec![0.0; w * CHUNK],
            delta_prev: vec![0.0; w * CHUNK],
            wgrad_t: vec![0.0; COLS * w],
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

/// Forward pass of one chunk. `input`: `(CHUNK, in_0)`. Writes every layer's output into
/// `acts`; with `TRAIN` also the activation derivatives into `derivs`.
#[inline(always)]
pub fn forward_chunk<const FMA: bool, const TRAIN: bool>(
    plan: &MlpPlan,
    params: &[f32],
    wt: &[f32],
    input: &[f32],
    acts: &mut [f32],
    derivs: &mut [f32],
) {
    for (l, layer) in plan.layers.iter().enumerate() {
        let (ni, no) = (layer.inputs, layer.outputs);
        let (before, rest) = acts.split_at_mut(layer.act);
        let z = &mut rest[..CHUNK * no];
        let a_in: &[f32] =
            if l == 0 { input } else { &before[plan.layers[l - 1].act..plan.layers[l - 1].act + CHUNK * ni] };
        let b = &params[layer.biases..layer.biases + no];
        if let (0, Activation::Sine { omega }, true) = (l, layer.activation, ni <= 4) {
            // SIREN's first layer: few inputs and a large ω0, whose argument needs more than f32.
            first_sine_layer::<FMA, TRAIN>(
                ni,
                no,
                omega,
                &wt[layer.wt..layer.wt + ni * no],
                b,
                a_in,
                z,
                &mut derivs[layer.act..layer.act + CHUNK * no],
            );
            continue;
        }
        if no < COLS {
            gemm_dot::<FMA>(CHUNK, no, ni, a_in, &params[layer.weights..layer.weights + no * ni], b, z);
        } else {
            for s in 0..CHUNK {
                z[s * no..(s + 1) * no].copy_from_slice(b);
            }
            let a = Strided { data: a_in, row_stride: ni, k_stride: 1 };
            gemm::<FMA>(CHUNK, no, ni, a, &wt[layer.wt..layer.wt + ni * no], no, z, no, true);
        }
        let d = &mut derivs[layer.act..layer.act + CHUNK * no];
        activate::<FMA, TRAIN>(layer.activation, z, d);
    }
}

/// `z[s][o] = sin(ω (W a_s + b)_o)` with the argument `ω·(W a + b)` carried as an unevaluated
/// sum of two f32 (products split exactly with FMA, sums with Knuth's two-sum), reduced by π/2
/// on the high part and corrected by the low part: the result carries f32 rounding only, where
/// a plain f32 `30·z` carries 1e-6 of error into every later layer. `d[s][o] = ω cos(·)` with
/// `TRAIN`. `a`: `(CHUNK, ni)`, `wt`: `Wᵀ (ni, no)`. All f32, so it vectorises 8-wide.
#[inline(always)]
fn first_sine_layer<const FMA: bool, const TRAIN: bool>(
    ni: usize,
    no: usize,
    omega: f32,
    wt: &[f32],
    b: &[f32],
    a: &[f32],
    z: &mut [f32],
    d: &mut [f32],
) {
    const BLOCK: usize = 16;
    let two_sum = |x: f32, y: f32| {
        let s = x + y;
        let yy = s - x;
        (s, (x - (s - yy)) + (y - yy))
    };
    // The exact error of a product needs an FMA; without one the low part is dropped.
    let product_error = |x: f32, y: f32, p: f32| if FMA { x.mul_add(y, -p) } else { 0.0 };
    for s in 0..CHUNK {
        let a_s = &a[s * ni..(s + 1) * ni];
        // Blocks of 16 outputs in fixed-size arrays: the loops over them vectorise.
        let mut o0 = 0;
        while o0 < no {
            let n = BLOCK.min(no - o0);
            let (mut hi, mut lo) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
            hi[..n].copy_from_slice(&b[o0..o0 + n]);
            for (i, &ai) in a_s.iter().enumerate() {
                let mut w = [0.0f32; BLOCK];
                w[..n].copy_from_slice(&wt[i * no + o0..i * no + o0 + n]);
                for k in 0..BLOCK {
                    let p = w[k] * ai;
                    let (sum, e) = two_sum(hi[k], p);
                    hi[k] = sum;
                    lo[k] += e + product_error(w[k], ai, p);
                }
            }
            let (mut sv, mut cv) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
            for k in 0..BLOCK {
                let arg = omega * hi[k];
                let arg_lo = product_error(omega, hi[k], arg) + omega * lo[k];
                (sv[k], cv[k]) = sincos_split::<FMA>(arg, arg_lo);
                cv[k] *= omega;
            }
            z[s * no + o0..s * no + o0 + n].copy_from_slice(&sv[..n]);
            if TRAIN {
                d[s * no + o0..s * no + o0 + n].copy_from_slice(&cv[..n]);
            }
            o0 += n;
        }
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

/// Backward pass of one chunk from ∂L/∂z of the last layer `(CHUNK, 3)` (already in
/// `scratch.delta`). Adds ∂L/∂W and ∂L/∂b into `grad` (model layout); when `d_input` is given,
/// writes ∂L/∂input `(CHUNK, in_0)` into it.
#[inline(always)]
pub fn backward_chunk<const FMA: bool>(
    plan: &MlpPlan,
    params: &[f32],
    input: &[f32],
    scratch: &mut ChunkScratch,
    grad: &mut [f32],
    d_input: Option<&mut [f32]>,
) {
    let ChunkScratch { acts, derivs, delta, delta_prev, wgrad_t } = scratch;
    let mut d_input = d_input;
    for l in (0..plan.layers.len()).rev() {
        let layer = &plan.layers[l];
        let (ni, no) = (layer.inputs, layer.outputs);
        let a_in: &[f32] =
            if l == 0 { input } else { &acts[plan.layers[l - 1].act..plan.layers[l - 1].act + CHUNK * ni] };
        let dz = &delta[..CHUNK * no];
        // ∂L/∂b = Σ_s δ[s]
        let db = &mut grad[layer.biases..layer.biases + no];
        for s in 0..CHUNK {
            for (g, &d) in db.iter_mut().zip(&dz[s * no..(s + 1) * no]) {
                *g += d;
            }
        }
        // ∂L/∂W (out × in) += δᵀ (out × S) · a (S × in); δᵀ is δ read with swapped strides.
        let dw = &mut grad[layer.weights..layer.weights + no * ni];
        if ni >= COLS || ni >= no {
            let dt = Strided { data: dz, row_stride: 1, k_stride: no };
            gemm::<FMA>(no, ni, CHUNK, dt, a_in, ni, dw, ni, true);
        } else {
            // Few inputs (SIREN's first layer): vectorise over the outputs, ∂L/∂Wᵀ = aᵀ·δ.
            let dwt = &mut wgrad_t[..ni * no];
            let at = Strided { data: a_in, row_stride: 1, k_stride: ni };
            gemm::<FMA>(ni, no, CHUNK, at, dz, no, dwt, no, false);
            for o in 0..no {
                for i in 0..ni {
                    dw[o * ni + i] += dwt[i * no + o];
                }
            }
        }
        let w = &params[layer.weights..layer.weights + no * ni];
        let dt = Strided { data: dz, row_stride: no, k_stride: 1 };
        if l == 0 {
            if let Some(d) = d_input.take() {
                // ∂L/∂input (S × in) = δ (S × out) · W (out × in)
                gemm::<FMA>(CHUNK, ni, no, dt, w, ni, d, ni, false);
            }
            break;
        }
        // δ_prev = (δ · W) ⊙ act'(z_prev)
        let dp = &mut delta_prev[..CHUNK * ni];
        gemm::<FMA>(CHUNK, ni, no, dt, w, ni, dp, ni, false);
        let prev = &plan.layers[l - 1];
        for (v, &dv) in dp.iter_mut().zip(&derivs[prev.act..prev.act + CHUNK * ni]) {
            *v *= dv;
        }
        std::mem::swap(delta, delta_prev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_naive_with_tails_and_strides() {
        for (rows, cols, kk) in [(4, 16, 3), (7, 37, 5), (1, 1, 1), (64, 64, 64), (3, 64, 64), (64, 2, 64)] {
            for transposed in [false, true] {
                let m: Vec<f32> = (0..rows * kk).map(|i| (i as f32 * 0.37).sin()).collect();
                let ms = if transposed {
                    Strided { data: &m, row_stride: 1, k_stride: rows }
                } else {
                    Strided { data: &m, row_stride: kk, k_stride: 1 }
                };
                let x: Vec<f32> = (0..kk * cols).map(|i| (i as f32 * 0.11).cos()).collect();
                let mut out = vec![0.5f32; rows * cols];
                gemm::<false>(rows, cols, kk, ms, &x, cols, &mut out, cols, true);
                for r in 0..rows {
                    for c in 0..cols {
                        let mv = |k: usize| ms.data[r * ms.row_stride + k * ms.k_stride] as f64;
                        let e: f64 = 0.5 + (0..kk).map(|k| mv(k) * x[k * cols + c] as f64).sum::<f64>();
                        assert!((out[r * cols + c] as f64 - e).abs() < 1e-4, "{rows}x{cols}x{kk} at ({r},{c})");
                    }
                }
            }
        }
    }

    #[test]
    fn gemm_dot_matches_naive() {
        let (rows, cols, kk) = (5, 3, 21);
        let a: Vec<f32> = (0..rows * kk).map(|i| (i as f32 * 0.3).sin()).collect();
        let w: Vec<f32> = (0..cols * kk).map(|i| (i as f32 * 0.7).cos()).collect();
        let b = [0.1, -0.2, 0.3];
        let mut out = vec![0.0; rows * cols];
        gemm_dot::<false>(rows, cols, kk, &a, &w, &b, &mut out);
        for r in 0..rows {
            for c in 0..cols {
                let e: f64 = b[c] as f64 + (0..kk).map(|k| a[r * kk + k] as f64 * w[c * kk + k] as f64).sum::<f64>();
                assert!((out[r * cols + c] as f64 - e).abs() < 1e-5);
            }
        }
    }
}
