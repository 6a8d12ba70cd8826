//! The MLP in f64: forward with every intermediate kept, and backward.
//!
//! Shapes: `x` is `(N, in)` row-major; layer `l` maps `(N, in_l) → (N, out_l)` with
//! `z = W_l a + b_l` (`W_l` is `out_l × in_l` row-major in `params`) and `a' = act_l(z)`.

use crate::model::{MlpSpec, ParamLayout};

/// Everything the forward pass computed, kept for the backward pass.
#[derive(Clone, Debug)]
pub struct MlpTrace {
    /// Number of samples.
    pub n: usize,
    /// `inputs[l]`: the input of layer `l`, `(N, in_l)`.
    pub inputs: Vec<Vec<f64>>,
    /// `pre[l]`: the pre-activation `W_l a + b_l`, `(N, out_l)`.
    pub pre: Vec<Vec<f64>>,
    /// The network output, `(N, out_last)`.
    pub output: Vec<f64>,
}

/// Forward pass of `n` samples. `x`: `(n, mlp.input_dim())`.
pub fn forward(mlp: &MlpSpec, layout: &ParamLayout, params: &[f64], x: &[f64], n: usize) -> MlpTrace {
    forward_rounded(mlp, layout, params, x, n, &|_, v| v)
}

/// [`forward`] with every input of layer `l` replaced by `round_input(l, value)` before the
/// product (and kept so in the trace, so the backward's weight gradients see it too): the
/// oracle of an engine that feeds the tensor cores 16-bit activations. `round_input` must be
/// the identity for the exact oracle.
pub fn forward_rounded(
    mlp: &MlpSpec,
    layout: &ParamLayout,
    params: &[f64],
    x: &[f64],
    n: usize,
    round_input: &dyn Fn(usize, f64) -> f64,
) -> MlpTrace {
    assert_eq!(x.len(), n * mlp.input_dim(), "x must be (n, input_dim)");
    let mut inputs = Vec::with_capacity(mlp.layers.len());
    let mut pre = Vec::with_capacity(mlp.layers.len());
    let mut a = x.to_vec();
    for (l, (layer, slot)) in mlp.layers.iter().zip(&layout.layers).enumerate() {
        let (ni, no) = (layer.inputs, layer.outputs);
        a.iter_mut().for_each(|v| *v = round_input(l, *v));
        let w = &params[slot.weights..slot.weights + no * ni];
        let b = &params[slot.biases..slot.biases + no];
        let mut z = vec![0.0; n * no];
        for s in 0..n {
            for o in 0..no {
                let mut acc = b[o];
                for i in 0..ni {
                    acc += w[o * ni + i] * a[s * ni + i];
                }
                z[s * no + o] = acc;
            }
        }
        let next: Vec<f64> = z.iter().map(|&v| layer.activation.apply_f64(v)).collect();
        inputs.push(a);
        pre.push(z);
        a = next;
    }
    MlpTrace { n, inputs, pre, output: a }
}

/// Backward pass: given `d_out = ∂L/∂output` `(n, out)`, adds `∂L/∂W_l`, `∂L/∂b_l` into `grad`
/// (at the layout's offsets) and returns `∂L/∂x` `(n, in)`.
pub fn backward(
    mlp: &MlpSpec,
    layout: &ParamLayout,
    params: &[f64],
    trace: &MlpTrace,
    d_out: &[f64],
    grad: &mut [f64],
) -> Vec<f64> {
    backward_rounded(mlp, layout, params, trace, d_out, grad, &|_, v| v)
}

/// [`backward`] with layer `l`'s deltas `∂L/∂z_l` passed through `round_delta(l, value)` where
/// they enter the products `∂L/∂W_l = δᵀ·a_in` and `∂L/∂a_in = δ·W_l`, and used unrounded in the
/// bias gradient: the oracle of an engine whose tensor-core products take 16-bit deltas while
/// its sums stay in fp32.
pub fn backward_rounded(
    mlp: &MlpSpec,
    layout: &ParamLayout,
    params: &[f64],
    trace: &MlpTrace,
    d_out: &[f64],
    grad: &mut [f64],
    round_delta: &dyn Fn(usize, f64) -> f64,
) -> Vec<f64> {
    let n = trace.n;
    let mut delta_post = d_out.to_vec(); // ∂L/∂(layer output)
    for l in (0..mlp.layers.len()).rev() {
        let layer = &mlp.layers[l];
        let slot = &layout.layers[l];
        let (ni, no) = (layer.inputs, layer.outputs);
        let z = &trace.pre[l];
        let a_in = &trace.inputs[l];
        // ∂L/∂z = ∂L/∂a' · act'(z)
        let mut dz = vec![0.0; n * no];
        for k in 0..n * no {
            let y = layer.activation.apply_f64(z[k]);
            dz[k] = delta_post[k] * layer.activation.derivative_f64(z[k], y);
        }
        let w = &params[slot.weights..slot.weights + no * ni];
        let mut d_in = vec![0.0; n * ni];
        for s in 0..n {
            for o in 0..no {
                let g = dz[s * no + o];
                grad[slot.biases + o] += g;
                let g = round_delta(l, g);
                for i in 0..ni {
                    grad[slot.weights + o * ni + i] += g * a_in[s * ni + i];
                    d_in[s * ni + i] += g * w[o * ni + i];
                }
            }
        }
        delta_post = d_in;
    }
    delta_post
}
