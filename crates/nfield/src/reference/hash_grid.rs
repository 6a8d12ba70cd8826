//! The 2-D multiresolution hash encoding in f64 (cell selection in f32, as defined).
//!
//! `x`: `(N, 2)` f32 in [0, 1]; `table`: `(L, T, F)` C-order; output `(N, L·F)`, level-major.
//! Per level: `p = x·scale_l + offset` in f32, `c = ⌊p⌋`, `t = p − c`; the four corners
//! `(c + (dx, dy))` are hashed with `(cx·1) XOR (cy·2654435761) mod T` (or, for a level stored
//! densely, indexed `cx + cy·dim`) and blended bilinearly.

use crate::model::HashGridEncoding;

/// The four corners of level `l` for one position: `(table index, weight)`.
pub fn corners(enc: &HashGridEncoding, l: usize, x: [f32; 2]) -> [(usize, f64); 4] {
    let scale = enc.scales[l];
    let px = x[0] * scale + enc.offset;
    let py = x[1] * scale + enc.offset;
    let (fx, fy) = (px.floor(), py.floor());
    let (tx, ty) = ((px - fx) as f64, (py - fy) as f64);
    let (cx, cy) = (fx as i32, fy as i32);
    let mut out = [(0usize, 0.0f64); 4];
    for (k, (dx, dy)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
        let index = enc.corner_index(l, cx.wrapping_add(dx), cy.wrapping_add(dy)) as usize;
        let wx = if dx == 1 { tx } else { 1.0 - tx };
        let wy = if dy == 1 { ty } else { 1.0 - ty };
        out[k] = ((l * enc.table_size as usize + index) * enc.features, wx * wy);
    }
    out
}

/// Encodes `n` positions; returns `(n, L·F)`.
pub fn forward(enc: &HashGridEncoding, table: &[f64], x: &[f32]) -> Vec<f64> {
    let n = x.len() / 2;
    let (levels, f) = (enc.levels, enc.features);
    let mut out = vec![0.0; n * levels * f];
    for s in 0..n {
        for l in 0..levels {
            for (base, w) in corners(enc, l, [x[2 * s], x[2 * s + 1]]) {
                for k in 0..f {
                    out[s * levels * f + l * f + k] += w * table[base + k];
                }
            }
        }
    }
    out
}

/// `∂L/∂table` `(L, T, F)` from `∂L/∂encoding` `(n, L·F)`.
pub fn backward(enc: &HashGridEncoding, x: &[f32], d_encoding: &[f64]) -> Vec<f64> {
    let n = x.len() / 2;
    let (levels, f) = (enc.levels, enc.features);
    let mut grad = vec![0.0; levels * enc.table_size as usize * f];
    for s in 0..n {
        for l in 0..levels {
            for (base, w) in corners(enc, l, [x[2 * s], x[2 * s + 1]]) {
                for k in 0..f {
                    grad[base + k] += w * d_encoding[s * levels * f + l * f + k];
                }
            }
        }
    }
    grad
}
