//! Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11, "Random123").
//!
//! Every random number nfield draws is a pure function of `(seed, stream, step, index)`, so the
//! CPU, CUDA and wgpu engines draw the same training pixels in the same step without sharing any
//! state, results do not depend on thread counts, and a resumed run continues the same sequence.
//!
//! Counter layout (the contract every engine follows):
//! `counter = [index, step as u32, (step >> 32) as u32, stream]`, `key = [seed as u32, seed >> 32]`.

/// What a random number is for: each purpose has its own stream, so they never overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Stream {
    /// Training pixel indices: `index` = sample within the batch, `step` = optimizer step.
    TrainSamples = 0,
    /// Parameter initialisation: `index` = parameter offset, `step` = 0.
    Init = 1,
    /// Selection of the samples embedded in model files.
    EmbeddedSamples = 2,
    /// Selection of a pixel subset (`train_siren --limit`).
    Subset = 3,
}

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// Philox4x32 with 10 rounds: four independent 32-bit outputs for one counter and key.
#[inline]
pub fn philox4x32(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The four raw 32-bit words for `(seed, stream, step, index)`.
#[inline]
pub fn draw(seed: u64, stream: Stream, step: u64, index: u32) -> [u32; 4] {
    philox4x32([index, step as u32, (step >> 32) as u32, stream as u32], [seed as u32, (seed >> 32) as u32])
}

/// A uniform integer in `0..n` from one 32-bit word (multiply-shift; bias below `n / 2^32`).
#[inline(always)]
pub fn below(word: u32, n: u32) -> u32 {
    ((word as u64 * n as u64) >> 32) as u32
}

/// A uniform `f32` in `[0, 1)` with 24 random bits.
#[inline(always)]
pub fn unit_f32(word: u32) -> f32 {
    (word >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// A uniform `f64` in `(0, 1]` with 32 random bits (never zero, safe for `ln`).
#[inline(always)]
pub fn unit_open_f64(word: u32) -> f64 {
    (word as f64 + 1.0) * (1.0 / 4_294_967_296.0)
}

/// The training pixel of sample `index` in step `step`: a uniform index in `0..n_pixels`,
/// drawn with replacement (as the seed's trainers do).
#[inline]
pub fn train_pixel(seed: u64, step: u64, index: u32, n_pixels: u32) -> u32 {
    below(draw(seed, Stream::TrainSamples, step, index)[0], n_pixels)
}

/// `U(-bound, bound)` for parameter `index` of an initialisation stream.
pub fn init_uniform(seed: u64, index: u32, bound: f64) -> f32 {
    let u = unit_open_f64(draw(seed, Stream::Init, 0, index)[0]);
    ((2.0 * u - 1.0) * bound) as f32
}

/// `N(0, 1)·scale` for parameter `index` of an initialisation stream (Box–Muller).
pub fn init_normal(seed: u64, index: u32, scale: f64) -> f32 {
    let w = draw(seed, Stream::Init, 0, index);
    let (u1, u2) = (unit_open_f64(w[0]), unit_open_f64(w[1]));
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (z * scale) as f32
}

/// `k` distinct indices of `0..n` (a partial Fisher–Yates shuffle driven by `stream`), in
/// selection order. `k` is clamped to `n`.
pub fn choose_distinct(seed: u64, stream: Stream, n: u32, k: u32) -> Vec<u32> {
    let k = k.min(n);
    // Sparse Fisher–Yates: only the swapped positions are stored.
    let mut swapped = std::collections::HashMap::<u32, u32>::new();
    let mut out = Vec::with_capacity(k as usize);
    for i in 0..k {
        let j = i + below(draw(seed, stream, 0, i)[0], n - i);
        let at_j = *swapped.get(&j).unwrap_or(&j);
        let at_i = *swapped.get(&i).unwrap_or(&i);
        swapped.insert(j, at_i);
        out.push(at_j);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known-answer vectors of Random123 (kat_vectors, philox4x32_10).
    #[test]
    fn philox_known_answers() {
        assert_eq!(philox4x32([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
        assert_eq!(philox4x32([u32::MAX; 4], [u32::MAX; 2]), [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
        assert_eq!(
            philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn train_pixels_are_in_range_and_roughly_uniform() {
        let n = 1000u32;
        let mut hist = vec![0u32; 10];
        for i in 0..100_000 {
            let p = train_pixel(7, 3, i, n);
            assert!(p < n);
            hist[(p / 100) as usize] += 1;
        }
        for h in hist {
            assert!((9_500..10_500).contains(&h), "bucket count {h} is not near 10000");
        }
    }

    #[test]
    fn choose_distinct_gives_distinct_indices() {
        let picked = choose_distinct(1337, Stream::EmbeddedSamples, 50, 50);
        let mut sorted = picked.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_eq!(choose_distinct(1, Stream::EmbeddedSamples, 10, 99).len(), 10);
    }

    #[test]
    fn normal_init_has_unit_moments() {
        let n = 200_000u32;
        let xs: Vec<f64> = (0..n).map(|i| init_normal(42, i, 1.0) as f64).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }
}
