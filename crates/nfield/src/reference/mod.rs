//! The float64 oracle: every model's forward and backward pass, the loss and Adam, in plain
//! loops with no parallelism and no tricks, written to be read. Every engine's primitives are
//! tested against these functions.
//!
//! Conventions: parameters are the model's flat vector ([`crate::model::ParamLayout`]) in f64;
//! positions are `(N, 2)` f32, because the models define cell selection (hash grid) on f32
//! positions; outputs and gradients are f64.

pub mod adam;
pub mod fourier;
pub mod hash_grid;
pub mod loss;
pub mod mlp;

use crate::model::{EncodingSpec, Model, ModelSpec};

/// The model's parameters widened to f64.
pub fn params_f64(model: &Model) -> Vec<f64> {
    model.params.iter().map(|&p| p as f64).collect()
}

/// The encoding of `x` `(N, 2)`: `(N, mlp input)`.
pub fn encode(spec: &ModelSpec, params: &[f64], x: &[f32]) -> Vec<f64> {
    let layout = spec.layout();
    let enc = &params[layout.encoding.clone()];
    match spec.encoding() {
        EncodingSpec::Identity => x.iter().map(|&v| v as f64).collect(),
        EncodingSpec::Fourier { frequencies, .. } => fourier::forward(enc, frequencies, x),
        EncodingSpec::HashGrid(h) => hash_grid::forward(&h, enc, x),
    }
}

/// The model's RGB output at `x` `(N, 2)`: `(N, 3)`.
pub fn forward(spec: &ModelSpec, params: &[f64], x: &[f32]) -> Vec<f64> {
    let n = x.len() / 2;
    let features = encode(spec, params, x);
    mlp::forward(&spec.mlp(), &spec.layout(), params, &features, n).output
}

/// The MSE loss against `target` `(N, 3)` and its gradient with respect to every parameter
/// (zero for a frozen encoding).
pub fn loss_and_grad(spec: &ModelSpec, params: &[f64], x: &[f32], target: &[f64]) -> (f64, Vec<f64>) {
    loss_and_grad_rounded(spec, params, x, target, &|_, v| v)
}

/// [`loss_and_grad`] with the MLP's layer inputs passed through `round_input(layer, value)`
/// ([`mlp::forward_rounded`]): the oracle of a mixed-precision engine's arithmetic.
pub fn loss_and_grad_rounded(
    spec: &ModelSpec,
    params: &[f64],
    x: &[f32],
    target: &[f64],
    round_input: &dyn Fn(usize, f64) -> f64,
) -> (f64, Vec<f64>) {
    loss_and_grad_mixed(spec, params, x, target, round_input, &|_, v| v)
}

/// [`loss_and_grad_rounded`] with the deltas of the MLP's products rounded too
/// ([`mlp::backward_rounded`]): the whole rounding model of a tensor-core training step.
pub fn loss_and_grad_mixed(
    spec: &ModelSpec,
    params: &[f64],
    x: &[f32],
    target: &[f64],
    round_input: &dyn Fn(usize, f64) -> f64,
    round_delta: &dyn Fn(usize, f64) -> f64,
) -> (f64, Vec<f64>) {
    let n = x.len() / 2;
    let layout = spec.layout();
    let mlp_spec = spec.mlp();
    let features = encode(spec, params, x);
    let trace = mlp::forward_rounded(&mlp_spec, &layout, params, &features, n, round_input);
    let (loss, d_out) = loss::mse_with_grad(&trace.output, target);
    let mut grad = vec![0.0; params.len()];
    let d_features = mlp::backward_rounded(&mlp_spec, &layout, params, &trace, &d_out, &mut grad, round_delta);
    let enc_range = layout.encoding.clone();
    match spec.encoding() {
        EncodingSpec::Identity => {}
        EncodingSpec::Fourier { frequencies, trainable } => {
            if trainable {
                let db = fourier::backward(&params[enc_range.clone()], frequencies, x, &d_features);
                grad[enc_range].copy_from_slice(&db);
            }
        }
        EncodingSpec::HashGrid(h) => {
            let dt = hash_grid::backward(&h, x, &d_features);
            grad[enc_range].copy_from_slice(&dt);
        }
    }
    (loss, grad)
}

#[cfg(test)]
mod tests;
