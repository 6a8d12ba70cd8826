//! Adam on the CPU: one fused pass that updates the moments and the parameters and clears the
//! gradient for the next step. Parallel over blocks of parameters.
//!
//! `params`, `grad`, `m`, `v`: one value per parameter (model layout); the `frozen` range is
//! left untouched. Formula: [`crate::reference::adam`].

use super::simd::{madd, simd_entry};
use crate::train::AdamConfig;
use rayon::prelude::*;
use std::ops::Range;

const BLOCK: usize = 1 << 14;

/// One Adam step (`t` is 1-based) over every parameter outside `frozen`; zeroes `grad`.
pub fn step(
    cfg: &AdamConfig,
    t: u64,
    params: &mut [f32],
    grad: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    frozen: Range<usize>,
) {
    let (c1, c2) = cfg.corrections(t);
    let k = Constants { b1: cfg.beta1, b2: cfg.beta2, step: (cfg.lr_at(t) * c1) as f32, c2: c2 as f32, eps: cfg.eps };
    params
        .par_chunks_mut(BLOCK)
        .zip(grad.par_chunks_mut(BLOCK))
        .zip(m.par_chunks_mut(BLOCK))
        .zip(v.par_chunks_mut(BLOCK))
        .enumerate()
        .for_each(|(b, (((p, g), m), v))| {
            let start = b * BLOCK;
            let block = start..start + p.len();
            if frozen.start <= block.start && block.end <= frozen.end && !frozen.is_empty() {
                g.fill(0.0);
                return;
            }
            if frozen.start < block.end && block.start < frozen.end {
                // A block that straddles the frozen range: element by element.
                for i in 0..p.len() {
                    if !frozen.contains(&(start + i)) {
                        update_one::<false>(&k, &mut p[i], g[i], &mut m[i], &mut v[i]);
                    }
                    g[i] = 0.0;
                }
                return;
            }
            update_block(&k, p, g, m, v);
        });
}

#[derive(Clone, Copy)]
struct Constants {
    b1: f32,
    b2: f32,
    /// lr · 1/(1 − β1^t)
    step: f32,
    /// 1/(1 − β2^t)
    c2: f32,
    eps: f32,
}

#[inline(always)]
fn update_one<const FMA: bool>(k: &Constants, p: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
    *m = madd::<FMA>(k.b1, *m, (1.0 - k.b1) * g);
    *v = madd::<FMA>(k.b2, *v, (1.0 - k.b2) * g * g);
    *p -= k.step * *m / ((*v * k.c2).sqrt() + k.eps);
}

simd_entry! {
    fn update_block(k: &Constants, p: &mut [f32], g: &mut [f32], m: &mut [f32], v: &mut [f32]) => update_block_impl
}

#[inline(always)]
fn update_block_impl<const FMA: bool>(k: &Constants, p: &mut [f32], g: &mut [f32], m: &mut [f32], v: &mut [f32]) {
    let n = p.len().min(g.len()).min(m.len()).min(v.len());
    let (p, g, m, v) = (&mut p[..n], &mut g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        update_one::<FMA>(k, &mut p[i], g[i], &mut m[i], &mut v[i]);
        g[i] = 0.0;
    }
}
