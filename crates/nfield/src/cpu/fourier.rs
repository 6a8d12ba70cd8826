//! Fourier features on a chunk.
//!
//! `pos`: `(CHUNK, 2)`; `b`: `(2, m)` row-major; `out`: `(CHUNK, 2m)` sample-major, columns
//! `0..m` = `sin(2π x·B)`, columns `m..2m` = `cos(2π x·B)`.

use super::mlp::CHUNK;
use super::sincos::sincos;
use std::f32::consts::TAU;

/// Forward: the `2m` features of every sample of the chunk.
#[inline(always)]
pub fn forward_chunk<const FMA: bool>(b: &[f32], m: usize, pos: &[f32], out: &mut [f32]) {
    let (b0, b1) = b.split_at(m);
    for s in 0..CHUNK {
        let (x, y) = (pos[2 * s], pos[2 * s + 1]);
        let (sin_part, cos_part) = out[s * 2 * m..(s + 1) * 2 * m].split_at_mut(m);
        for j in 0..m {
            let (sv, cv) = sincos::<FMA>(phase(x, y, b0[j], b1[j]));
            sin_part[j] = sv;
            cos_part[j] = cv;
        }
    }
}

/// `2π (x·b0 + y·b1)` reduced to [−π, π]. The dot product is in turns and in f64 (the f32
/// products are exact there), so the reduction is exact and the phase carries one f32 rounding;
/// computed in f32 throughout, a phase of 25 rad would carry errors of 1e-6.
#[inline(always)]
fn phase(x: f32, y: f32, b0: f32, b1: f32) -> f32 {
    const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5·2^52
    let turns = x as f64 * b0 as f64 + y as f64 * b1 as f64;
    let whole = (turns + ROUND_MAGIC) - ROUND_MAGIC;
    (std::f64::consts::TAU * (turns - whole)) as f32
}

/// Backward: adds ∂L/∂B `(2, m)` into `db`, from the forward's `features` and ∂L/∂features
/// `d_features` (both `(CHUNK, 2m)`).
#[inline(always)]
pub fn backward_chunk(m: usize, pos: &[f32], features: &[f32], d_features: &[f32], db: &mut [f32]) {
    let (db0, db1) = db.split_at_mut(m);
    for s in 0..CHUNK {
        let (x, y) = (TAU * pos[2 * s], TAU * pos[2 * s + 1]);
        let f = &features[s * 2 * m..(s + 1) * 2 * m];
        let d = &d_features[s * 2 * m..(s + 1) * 2 * m];
        for j in 0..m {
            // d sin p = cos p dp, d cos p = −sin p dp, dp/dB[r][j] = 2π x_r
            let dp = f[m + j] * d[j] - f[j] * d[m + j];
            db0[j] += dp * x;
            db1[j] += dp * y;
        }
    }
}
