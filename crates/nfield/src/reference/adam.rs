//! Adam in f64 (Kingma & Ba 2015), as PyTorch and the seed's Metal trainer apply it.
//!
//! For every trainable parameter, with `t` the 1-based step:
//! `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g²`,
//! `p ← p − lr_t · (m·c1) / (√(v·c2) + ε)`, where `c1 = 1/(1−β1^t)`, `c2 = 1/(1−β2^t)` with bias
//! correction and `c1 = c2 = 1` without (the seed's MLX trainer), and `lr_t` the learning rate
//! after its step decay ([`AdamConfig::lr_at`]).

use crate::model::ParamLayout;
use crate::train::AdamConfig;

/// One Adam step over all trainable parameters (the encoding is skipped when it is frozen).
pub fn step(
    cfg: &AdamConfig,
    t: u64,
    layout: &ParamLayout,
    params: &mut [f64],
    grad: &[f64],
    m: &mut [f64],
    v: &mut [f64],
) {
    let (c1, c2) = cfg.corrections(t);
    let (b1, b2, lr, eps) = (cfg.beta1 as f64, cfg.beta2 as f64, cfg.lr_at(t), cfg.eps as f64);
    for i in 0..params.len() {
        if !layout.encoding_trainable && layout.encoding.contains(&i) {
            continue;
        }
        let g = grad[i];
        m[i] = b1 * m[i] + (1.0 - b1) * g;
        v[i] = b2 * v[i] + (1.0 - b2) * g * g;
        params[i] -= lr * (m[i] * c1) / ((v[i] * c2).sqrt() + eps);
    }
}
