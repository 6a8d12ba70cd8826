//! The hash-grid encoding on the CPU: encode a chunk, and scatter the table gradient one level
//! at a time (levels own disjoint parts of the table, so levels run in parallel without atomics,
//! and samples are added in batch order: the result is deterministic).
//!
//! `pos`: `(CHUNK, 2)` sample-major in [0, 1]; `table`: `(L, T, F)` C-order;
//! encoding: `(CHUNK, L·F)` sample-major (column `l·F + f`).

use super::mlp::CHUNK;
use crate::model::HashGridEncoding;

/// The four corners of level `l` at `x`: `(offset of the entry's first feature, weight)`.
/// Cell selection is in f32, exactly as the oracle defines it.
#[inline(always)]
pub fn corners(enc: &HashGridEncoding, l: usize, x: f32, y: f32) -> [(usize, f32); 4] {
    let scale = enc.scales[l];
    let (px, py) = (x * scale + enc.offset, y * scale + enc.offset);
    let (fx, fy) = (px.floor(), py.floor());
    let (tx, ty) = (px - fx, py - fy);
    let (cx, cy) = (fx as i32, fy as i32);
    let level_base = l * enc.table_size as usize;
    let at = |dx: i32, dy: i32| {
        (level_base + enc.corner_index(l, cx.wrapping_add(dx), cy.wrapping_add(dy)) as usize) * enc.features
    };
    [(at(0, 0), (1.0 - tx) * (1.0 - ty)), (at(0, 1), (1.0 - tx) * ty), (at(1, 0), tx * (1.0 - ty)), (at(1, 1), tx * ty)]
}

/// Encodes the chunk's samples into `out` `(CHUNK, L·F)`.
pub fn encode_chunk(enc: &HashGridEncoding, table: &[f32], pos: &[f32], out: &mut [f32]) {
    let f = enc.features;
    for s in 0..CHUNK {
        let (x, y) = (pos[2 * s], pos[2 * s + 1]);
        for l in 0..enc.levels {
            let cs = corners(enc, l, x, y);
            for k in 0..f {
                let v = cs.iter().map(|&(base, w)| w * table[base + k]).sum::<f32>();
                out[s * enc.levels * f + l * f + k] = v;
            }
        }
    }
}

/// Adds level `l`'s table gradient into `grad_level` (`T × F`, the level's own part of the
/// table gradient) from the first `valid` samples' positions `(B, 2)` and encoding gradients
/// `d_enc` `(B, L·F)`.
pub fn scatter_level(
    enc: &HashGridEncoding,
    l: usize,
    positions: &[f32],
    d_enc: &[f32],
    valid: usize,
    grad_level: &mut [f32],
) {
    let f = enc.features;
    let width = enc.levels * f;
    let level_base = l * enc.table_size as usize * f;
    for s in 0..valid {
        let (x, y) = (positions[2 * s], positions[2 * s + 1]);
        let g = &d_enc[s * width + l * f..s * width + (l + 1) * f];
        for (base, w) in corners(enc, l, x, y) {
            for k in 0..f {
                grad_level[base - level_base + k] += w * g[k];
            }
        }
    }
}
