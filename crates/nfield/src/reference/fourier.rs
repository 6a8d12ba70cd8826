//! Fourier features in f64.
//!
//! `x`: `(N, 2)`; `B`: `(2, m)` row-major; features `(N, 2m)`:
//! `f[s][j] = sin(2π (x_s · B)_j)`, `f[s][m + j] = cos(2π (x_s · B)_j)`.

use std::f64::consts::TAU;

/// `(x·B)_j · 2π` for one sample.
fn phase(b: &[f64], m: usize, x: [f64; 2], j: usize) -> f64 {
    TAU * (x[0] * b[j] + x[1] * b[m + j])
}

/// The features of `n` positions. `x`: `(n, 2)` f32; returns `(n, 2m)`.
pub fn forward(b: &[f64], m: usize, x: &[f32]) -> Vec<f64> {
    let n = x.len() / 2;
    let mut out = vec![0.0; n * 2 * m];
    for s in 0..n {
        let xs = [x[2 * s] as f64, x[2 * s + 1] as f64];
        for j in 0..m {
            let p = phase(b, m, xs, j);
            out[s * 2 * m + j] = p.sin();
            out[s * 2 * m + m + j] = p.cos();
        }
    }
    out
}

/// `∂L/∂B` `(2, m)` from `∂L/∂f` `(n, 2m)`.
pub fn backward(b: &[f64], m: usize, x: &[f32], d_features: &[f64]) -> Vec<f64> {
    let n = x.len() / 2;
    let mut db = vec![0.0; 2 * m];
    for s in 0..n {
        let xs = [x[2 * s] as f64, x[2 * s + 1] as f64];
        for j in 0..m {
            let p = phase(b, m, xs, j);
            // d sin(p) = cos(p) dp, d cos(p) = −sin(p) dp, dp/dB[r][j] = 2π x_r
            let dp = d_features[s * 2 * m + j] * p.cos() - d_features[s * 2 * m + m + j] * p.sin();
            db[j] += dp * TAU * xs[0];
            db[m + j] += dp * TAU * xs[1];
        }
    }
    db
}
