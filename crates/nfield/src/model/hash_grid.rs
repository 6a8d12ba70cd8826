//! Multiresolution hash grid + tiny MLP (Instant-NGP, Müller et al. 2022) in 2-D (SPEC §3.3).
//!
//! Encoding of x ∈ [0, 1]², for each level l:
//! `p = x·scale_l + offset` (f32), `c = ⌊p⌋`, `t = p − c`; for the four corners
//! `(dx, dy) ∈ {(0,0), (0,1), (1,0), (1,1)}`:
//! `index = ((cx+dx)·1 XOR (cy+dy)·2654435761) mod 2³² mod T` (u32 wrap-around),
//! weight `(dx ? t.x : 1−t.x)·(dy ? t.y : 1−t.y)`; the level's F features are the weighted sum of
//! `table[l][index][0..F]`. Levels are concatenated level-major, feature-minor.
//!
//! Level scales: the seed's rule `exp(lerp(⌊ln base⌋, ⌊ln max⌋, l/(L−1)))` with offset 0, or
//! tiny-cuda-nn's geometric rule `base·b^l − 1` with offset 0.5.
//!
//! Dense coarse levels (`dense_coarse`, instant-ngp's storage): a level whose grid of
//! `dim = ⌊scale + offset⌋ + 2` corners per side fits the table (`dim² ≤ T`) indexes corner
//! `(cx, cy)` as `(cx + cy·dim) mod T` instead of hashing it: no collisions where none are
//! needed.

use super::mlp::{Activation, MlpSpec};
use crate::{Error, Result};

/// The second hashing prime (the first is 1).
pub const HASH_PRIME_Y: u32 = 2_654_435_761;

/// How the per-level scales grow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Growth {
    /// The seed's rule (MLX and Metal): `scale_l = exp(lerp(⌊ln base⌋, ⌊ln max⌋, l/(L−1)))`,
    /// position `x·scale_l`.
    FloorLog,
    /// tiny-cuda-nn's rule: `scale_l = base·b^l − 1`, position `x·scale_l + 0.5`.
    Geometric {
        /// The per-level factor b (tiny-cuda-nn's `per_level_scale`, e.g. 1.5 or 2).
        per_level_scale: f32,
    },
}

/// Output activation of the hash grid's MLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputActivation {
    /// Sigmoid (the seed's).
    Sigmoid,
    /// Identity (instant-ngp's and tiny-cuda-nn's).
    Linear,
}

/// Architecture of a hash-grid model.
#[derive(Clone, Debug, PartialEq)]
pub struct HashGridSpec {
    /// Number of levels L (the seed: 16).
    pub levels: usize,
    /// Features per level F: 1, 2, 4 or 8 (the seed: 2).
    pub features_per_level: usize,
    /// log2 of the entries per level T (the seed: 12 on its `instant-ngp` branch).
    pub log2_table_size: u32,
    /// Coarsest resolution (the seed: 16).
    pub base_resolution: u32,
    /// Finest resolution (the seed: 2048); used by [`Growth::FloorLog`] and recorded in files.
    pub max_resolution: u32,
    /// How scales grow from level to level.
    pub growth: Growth,
    /// Hidden width of the MLP (the seed: 64).
    pub width: usize,
    /// Number of ReLU layers, the first mapping `L·F → width` (the seed: 1).
    pub hidden_layers: usize,
    /// Output activation (the seed: sigmoid).
    pub output: OutputActivation,
    /// Store the levels whose grid fits the table densely instead of hashing them (instant-ngp's
    /// choice; the seed: false, every level hashed).
    pub dense_coarse: bool,
}

impl Default for HashGridSpec {
    /// The seed's model: 16 levels × 2 features, table 2^12, resolutions 16…2048 with the
    /// floor-log rule, one hidden ReLU layer of width 64, sigmoid output.
    fn default() -> Self {
        HashGridSpec {
            levels: 16,
            features_per_level: 2,
            log2_table_size: 12,
            base_resolution: 16,
            max_resolution: 2048,
            growth: Growth::FloorLog,
            width: 64,
            hidden_layers: 1,
            output: OutputActivation::Sigmoid,
            dense_coarse: false,
        }
    }
}

impl HashGridSpec {
    /// tiny-cuda-nn's image-learning configuration (the hash-grid benchmark's): the seed's 16
    /// levels × 2 features from resolution 16, a 2^19 table, geometric growth ×1.5, two hidden
    /// ReLU layers of width 64, linear output.
    pub fn tiny_cuda_nn_image() -> Self {
        HashGridSpec {
            log2_table_size: 19,
            growth: Growth::Geometric { per_level_scale: 1.5 },
            hidden_layers: 2,
            output: OutputActivation::Linear,
            ..Default::default()
        }
    }

    /// Entries per level, T = 2^log2_table_size.
    pub fn table_size(&self) -> usize {
        1usize << self.log2_table_size
    }

    /// Values in the whole table: L·T·F.
    pub fn table_len(&self) -> usize {
        self.levels * self.table_size() * self.features_per_level
    }

    /// Width of the encoding: L·F.
    pub fn encoding_dim(&self) -> usize {
        self.levels * self.features_per_level
    }

    /// The per-level scales, in f32 exactly as the seed computes them (the lerp in f64, rounded
    /// to f32, then `exp`) or by tiny-cuda-nn's geometric rule.
    pub fn level_scales(&self) -> Vec<f32> {
        let levels = self.levels;
        match self.growth {
            Growth::FloorLog => {
                let lo = (self.base_resolution as f64).ln().floor();
                let hi = (self.max_resolution as f64).ln().floor();
                (0..levels)
                    .map(|l| {
                        let t = if levels > 1 { l as f64 / (levels - 1) as f64 } else { 0.0 };
                        let e = (lo + (hi - lo) * t) as f32;
                        (e as f64).exp() as f32
                    })
                    .collect()
            }
            Growth::Geometric { per_level_scale } => (0..levels)
                .map(|l| (self.base_resolution as f64 * (per_level_scale as f64).powi(l as i32) - 1.0) as f32)
                .collect(),
        }
    }

    /// Per level, the corners per side of its grid, `⌊scale + offset⌋ + 2` in f32: positions in
    /// [0, 1] keep their four corners inside (the CUDA kernels' `level_dim`).
    pub fn level_dims(&self) -> Vec<u32> {
        let offset = self.position_offset();
        // (saturating: geometric growth over many levels can reach f32's infinity)
        self.level_scales().into_iter().map(|scale| ((scale + offset).floor() as u32).saturating_add(2)).collect()
    }

    /// Per level, the corners per side of its dense grid when the level is stored densely
    /// (`dense_coarse` and `dim² ≤ T`, dim from [`Self::level_dims`]), else 0 (hashed).
    pub fn dense_dims(&self) -> Vec<u32> {
        let fits = |dim: u32| self.dense_coarse && (dim as u64).pow(2) <= self.table_size() as u64;
        self.level_dims().into_iter().map(|dim| if fits(dim) { dim } else { 0 }).collect()
    }

    /// The chunks of `chunk` consecutive table values (table layout, chunk index = value index
    /// / `chunk`) holding a value that a position in [0, 1]² reads, in increasing order.
    ///
    /// A value outside them never gets a gradient, so Adam leaves it, and its zero moments,
    /// exactly as they are: an optimizer may skip those chunks and give the same result. A
    /// densely stored level reaches its first `dim²` entries; a hashed level whose grid has
    /// fewer corners than the table has entries reaches the hash image of its corners (found by
    /// enumerating them); a finer hashed level counts as whole. `chunk` must be a multiple of
    /// `features_per_level` (any multiple of 8 is).
    pub fn reachable_chunks(&self, chunk: usize) -> Vec<u32> {
        let (t, f) = (self.table_size(), self.features_per_level);
        debug_assert!(chunk > 0 && chunk.is_multiple_of(f), "chunk {chunk} must be a multiple of F = {f}");
        let mut reached = vec![false; self.table_len().div_ceil(chunk)];
        let mut mark_values = |first: usize, count: usize| {
            reached[first / chunk..=(first + count - 1) / chunk].iter_mut().for_each(|r| *r = true);
        };
        for (l, (dim, dense)) in self.level_dims().into_iter().zip(self.dense_dims()).enumerate() {
            let level = l * t * f;
            let corners = (dim as u64).pow(2);
            if dense > 0 {
                mark_values(level, corners as usize * f);
            } else if corners >= t as u64 {
                mark_values(level, t * f);
            } else {
                for cy in 0..dim as i32 {
                    for cx in 0..dim as i32 {
                        mark_values(level + hash_index(cx, cy, t as u32) as usize * f, f);
                    }
                }
            }
        }
        (0..reached.len() as u32).filter(|&i| reached[i as usize]).collect()
    }

    /// The offset added to `x·scale` before flooring: 0 (seed) or 0.5 (tiny-cuda-nn).
    pub fn position_offset(&self) -> f32 {
        match self.growth {
            Growth::FloorLog => 0.0,
            Growth::Geometric { .. } => 0.5,
        }
    }

    /// The MLP: `L·F → width` ReLU, `(hidden_layers − 1) × (width → width)` ReLU, `width → 3`.
    pub fn mlp(&self) -> MlpSpec {
        let output = match self.output {
            OutputActivation::Sigmoid => Activation::Sigmoid,
            OutputActivation::Linear => Activation::Linear,
        };
        MlpSpec::uniform(
            self.encoding_dim(),
            self.width,
            Activation::Relu,
            self.hidden_layers - 1,
            Activation::Relu,
            3,
            output,
        )
    }

    /// Checks ranges; errors name the CLI option.
    pub fn validate(&self) -> Result<()> {
        super::check_width(self.width)?;
        super::check_depth("layers", self.hidden_layers, 1)?;
        if !(1..=64).contains(&self.levels) {
            return Err(Error::option("levels", format!("expected 1..=64, got {}", self.levels)));
        }
        if ![1, 2, 4, 8].contains(&self.features_per_level) {
            return Err(Error::option(
                "features",
                format!("expected 1, 2, 4 or 8 features per level, got {}", self.features_per_level),
            ));
        }
        if !(4..=24).contains(&self.log2_table_size) {
            return Err(Error::option(
                "log2-table",
                format!("expected a log2 table size in 4..=24, got {}", self.log2_table_size),
            ));
        }
        if self.table_len() > (1 << 31) {
            return Err(Error::option(
                "log2-table",
                format!("the table would hold {} values; at most 2^31 are supported", self.table_len()),
            ));
        }
        if !(1..=1 << 20).contains(&self.base_resolution) {
            return Err(Error::option("base-res", format!("expected 1..=2^20, got {}", self.base_resolution)));
        }
        if self.max_resolution < self.base_resolution || self.max_resolution > 1 << 24 {
            return Err(Error::option(
                "max-res",
                format!("expected a value in base-res ({})..=2^24, got {}", self.base_resolution, self.max_resolution),
            ));
        }
        if let Growth::Geometric { per_level_scale } = self.growth {
            if !(per_level_scale.is_finite() && (1.0..=16.0).contains(&per_level_scale)) {
                return Err(Error::option(
                    "per-level-scale",
                    format!("expected a finite value in [1, 16], got {per_level_scale}"),
                ));
            }
        }
        Ok(())
    }
}

/// The table index of grid corner `(cx, cy)` in a table of `table_size` (a power of two) entries.
#[inline(always)]
pub fn hash_index(cx: i32, cy: i32, table_size: u32) -> u32 {
    ((cx as u32) ^ (cy as u32).wrapping_mul(HASH_PRIME_Y)) & (table_size - 1)
}

/// The table index of corner `(cx, cy)` of a level stored densely with `dense_dim` corners per
/// side (`cx + cy·dim`, u32 wrap-around, mod T), or hashed when `dense_dim` is 0.
#[inline(always)]
pub fn corner_index(cx: i32, cy: i32, dense_dim: u32, table_size: u32) -> u32 {
    if dense_dim == 0 {
        hash_index(cx, cy, table_size)
    } else {
        (cx as u32).wrapping_add((cy as u32).wrapping_mul(dense_dim)) & (table_size - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_level_scales_match_the_spec() {
        // SPEC §3.3: e^(2 + l/3).
        let expect = [
            7.389, 10.312, 14.392, 20.086, 28.032, 39.121, 54.598, 76.198, 106.343, 148.413, 207.127, 289.069, 403.429,
            563.030, 785.772, 1096.633,
        ];
        let got = HashGridSpec::default().level_scales();
        for (g, e) in got.iter().zip(expect) {
            assert!((g - e).abs() < 1e-3, "{g} vs {e}");
        }
    }

    #[test]
    fn geometric_scales_follow_tiny_cuda_nn() {
        let spec = HashGridSpec { growth: Growth::Geometric { per_level_scale: 1.5 }, ..Default::default() };
        let s = spec.level_scales();
        assert_eq!(s[0], 15.0);
        assert!((s[2] - (16.0 * 2.25 - 1.0)).abs() < 1e-5);
        assert_eq!(spec.position_offset(), 0.5);
    }

    #[test]
    fn dense_levels_are_those_whose_grid_fits_the_table() {
        let tcnn = HashGridSpec { dense_coarse: true, ..HashGridSpec::tiny_cuda_nn_image() };
        // Scales 15, 23, 35, 53, 80, 120.5, … with offset 0.5: 17, 25, 37, 55, 82, 123, … corners
        // per side; 2^19 entries hold grids up to 724 × 724 (levels 0–9: 16·1.5^9 − 1 ≈ 614).
        let dims = tcnn.dense_dims();
        assert_eq!(&dims[..4], &[17, 25, 37, 55]);
        assert_eq!(dims.iter().filter(|&&d| d > 0).count(), 10, "{dims:?}");
        assert!(dims.iter().all(|&d| (d as u64).pow(2) <= 1 << 19));
        assert!(HashGridSpec::tiny_cuda_nn_image().dense_dims().iter().all(|&d| d == 0), "off by default");
        assert_eq!(corner_index(3, 2, 17, 1 << 19), 3 + 2 * 17);
        assert_eq!(corner_index(3, 2, 0, 1 << 19), hash_index(3, 2, 1 << 19));
    }

    #[test]
    fn reachable_chunks_hold_every_value_a_position_reads() {
        use crate::model::{EncodingSpec, ModelSpec};
        use crate::reference::hash_grid::corners;
        let tcnn = HashGridSpec::tiny_cuda_nn_image();
        let specs = [
            HashGridSpec::default(),
            HashGridSpec { log2_table_size: 12, ..tcnn.clone() },
            HashGridSpec { log2_table_size: 12, dense_coarse: true, ..tcnn.clone() },
            HashGridSpec { features_per_level: 1, log2_table_size: 10, ..HashGridSpec::default() },
            HashGridSpec { features_per_level: 8, levels: 4, log2_table_size: 8, ..tcnn.clone() },
        ];
        let edges = [0.0f32, 1e-7, 0.5, 0.999_999_9, 1.0];
        for spec in specs {
            let chunk = 64;
            let reached: std::collections::HashSet<u32> = spec.reachable_chunks(chunk).into_iter().collect();
            let EncodingSpec::HashGrid(enc) = ModelSpec::HashGrid(spec.clone()).encoding() else { unreachable!() };
            let random = (0..20_000u32).map(|i| {
                let w = crate::rng::draw(7, crate::rng::Stream::TrainSamples, 0, i);
                [crate::rng::unit_f32(w[0]), crate::rng::unit_f32(w[1])]
            });
            let grid = edges.iter().flat_map(|&x| edges.iter().map(move |&y| [x, y]));
            for x in random.chain(grid) {
                for l in 0..spec.levels {
                    for (value, _) in corners(&enc, l, x) {
                        assert!(reached.contains(&((value / chunk) as u32)), "{spec:?}: level {l} at {x:?}");
                    }
                }
            }
        }
        // tiny-cuda-nn's grid at 2^19: levels 0-8 reach a fraction of their table.
        let n = tcnn.reachable_chunks(256).len() as f64 * 256.0;
        let fraction = n / tcnn.table_len() as f64;
        assert!(fraction < 0.55, "{fraction}");
        let dense = HashGridSpec { dense_coarse: true, ..tcnn };
        assert!((dense.reachable_chunks(256).len() as f64 * 256.0) < 0.5 * dense.table_len() as f64);
    }

    #[test]
    fn hash_matches_u32_wraparound() {
        assert_eq!(hash_index(3, 0, 4096), 3);
        assert_eq!(hash_index(0, 1, 1u32 << 31), HASH_PRIME_Y & ((1u32 << 31) - 1));
        // negative cells wrap like numpy's int64 → uint64 cast followed by a 32-bit mask
        assert_eq!(hash_index(-1, 0, 4096), 4095);
    }
}
