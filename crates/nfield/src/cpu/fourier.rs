//! Fourier features on a chunk.
//!
//! `pos`: `(CHUNK, 2)` sample-major; `b`: `(2, m)` row-major; `out`: `(2m, CHUNK)` feature-major,
//! rows `0..m` = `sin(2π x·B)`, rows `m..2m` = `cos(2π x·B)`.

use super::mlp::CHUNK;
use super::sincos::sincos;
use std::f32::consts::TAU;

/// Forward: the `2m` features of every sample of the chunk.
#[inline(always)]
pub fn forward_chunk<const FMA: bool>(b: &[f32], m: usize, pos: &[f32], out: &mut [f32]) {
    let (xs, ys) = split_positions(pos);
    for j in 0..m {
        let (b0, b1) = (b[j], b[m + j]);
        let (sin_row, cos_row) = out.split_at_mut(m * CHUNK);
        let sin_row = &mut sin_row[j * CHUNK..(j + 1) * CHUNK];
        let cos_row = &mut cos_row[j * CHUNK..(j + 1) * CHUNK];
        for s in 0..CHUNK {
            let (sv, cv) = sincos::<FMA>(phase(xs[s], ys[s], b0, b1));
            sin_row[s] = sv;
            cos_row[s] = cv;
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
/// `d_features` (both `(2m, CHUNK)`).
#[inline(always)]
pub fn backward_chunk(m: usize, pos: &[f32], features: &[f32], d_features: &[f32], db: &mut [f32]) {
    let (xs, ys) = split_positions(pos);
    for j in 0..m {
        let (mut gx, mut gy) = (0.0f32, 0.0f32);
        for s in 0..CHUNK {
            // d sin p = cos p dp, d cos p = −sin p dp
            let dp = features[(m + j) * CHUNK + s] * d_features[j * CHUNK + s]
                - features[j * CHUNK + s] * d_features[(m + j) * CHUNK + s];
            gx += dp * xs[s];
            gy += dp * ys[s];
        }
        db[j] += TAU * gx;
        db[m + j] += TAU * gy;
    }
}

/// Splits `(CHUNK, 2)` positions into x and y columns.
#[inline(always)]
fn split_positions(pos: &[f32]) -> ([f32; CHUNK], [f32; CHUNK]) {
    let (mut xs, mut ys) = ([0.0f32; CHUNK], [0.0f32; CHUNK]);
    for s in 0..CHUNK {
        xs[s] = pos[2 * s];
        ys[s] = pos[2 * s + 1];
    }
    (xs, ys)
}
